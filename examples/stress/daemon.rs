//! The server under test: start it on loopback with ephemeral ports, read its addresses, sample
//! its CPU time and memory from /proc, stop it by PID.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    /// Every `listening KIND ADDR` snak printed (a peer: one, of kind "tcp").
    pub listeners: Vec<(String, SocketAddr)>,
}

impl Daemon {
    /// Starts snak with `extra` flags on CPU `cpu` (if given); its log (stderr) goes to `log`.
    pub fn start_snak(
        bin: &Path,
        extra: &[String],
        log: &Path,
        cpu: Option<usize>,
    ) -> Result<Daemon, String> {
        let logf = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        // Nothing kept, and no web listener unless the target is one; an older binary that
        // knows neither option gets neither.
        let help = help_text(bin);
        let mut base = vec!["--listen", "127.0.0.1:0", "--irc-listen", "127.0.0.1:0"];
        let web = extra.iter().any(|a| a.starts_with("--web"));
        if help.contains("--no-web") && !web {
            base.push("--no-web");
        }
        if help.contains("--data-dir") {
            base.extend(["--data-dir", "none"]);
        }
        let mut child = Command::new(bin)
            .args(base)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        pin_child(&mut child, cpu)?;
        let out = child.stdout.take().expect("piped stdout");
        // A thread reads stdout so the wait for `ready` has a deadline even if snak hangs.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child,
            listeners: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let w: Vec<&str> = line.split_whitespace().collect();
                    match w.as_slice() {
                        ["listening", kind, a] => {
                            if let Ok(a) = a.parse() {
                                d.listeners.push((kind.to_string(), a));
                            }
                        }
                        ["ready"] => break,
                        _ => {}
                    }
                }
                Err(_) => {
                    d.stop();
                    return Err(format!(
                        "snak did not print `ready` (log: {})",
                        log.display()
                    ));
                }
            }
        }
        Ok(d)
    }

    /// Starts any server command on CPU `cpu` (if given) and waits until `addr` accepts
    /// connections.
    pub fn start_cmd(
        mut cmd: Command,
        addr: SocketAddr,
        log: &Path,
        cpu: Option<usize>,
    ) -> Result<Daemon, String> {
        let logf = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let errf = logf.try_clone().map_err(|e| e.to_string())?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(logf)
            .stderr(errf)
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        pin_child(&mut child, cpu)?;
        let mut d = Daemon {
            child,
            listeners: vec![("tcp".into(), addr)],
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(d);
            }
            if let Ok(Some(st)) = d.child.try_wait() {
                return Err(format!(
                    "{:?} exited: {st} (log: {})",
                    cmd.get_program(),
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        d.stop();
        Err(format!("{:?} never listened on {addr}", cmd.get_program()))
    }

    /// The address of the listener of `kind` (a peer's one listener whatever the kind).
    pub fn listener(&self, kind: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|(k, _)| k == kind || k == "tcp")
            .map(|l| l.1)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// None while running; the exit status once it has exited (a crash shows here).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(st.to_string()),
            _ => None,
        }
    }

    /// SIGTERM by PID, then SIGKILL if it is still there after 5 s. Returns how it ended.
    pub fn stop(&mut self) -> String {
        if let Some(st) = self.exited() {
            return format!("had already exited: {st}");
        }
        // SAFETY: signals our own child, whose PID stays ours until we wait for it.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.to_string();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        "did not stop on SIGTERM within 5 s; killed".into()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.stop();
        }
    }
}

/// A binary's `--help`, to see which options it has.
pub fn help_text(bin: &Path) -> String {
    Command::new(bin)
        .arg("--help")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default()
}

/// How many CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Pins process `pid` (0: this one) to CPU `cpu`, as `taskset -c CPU` would. Threads it starts
/// later (Redis's background threads) inherit the mask, so the whole server shares one core.
pub fn pin(pid: u32, cpu: usize) -> Result<(), String> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks `cpu` against the set's size;
    // sched_setaffinity only reads the set we pass.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid as libc::pid_t, std::mem::size_of_val(&set), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot pin pid {pid} to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// The server is pinned right after it starts (before it has accepted anything); a failure
/// stops it, since unpinned figures would not compare.
fn pin_child(child: &mut Child, cpu: Option<usize>) -> Result<(), String> {
    let Some(cpu) = cpu else { return Ok(()) };
    pin(child.id(), cpu).inspect_err(|_| {
        let _ = child.kill();
        let _ = child.wait();
    })
}

/// CPU seconds (user + system, all threads) of a process, to the nanosecond: the kernel's
/// per-process CPU clock (clock_getcpuclockid). /proc/PID/stat, in 10 ms ticks, is the
/// fallback.
pub fn cpu_secs(pid: u32) -> f64 {
    // SAFETY: both calls only write the values we pass.
    unsafe {
        let mut clock: libc::clockid_t = 0;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) == 0
            && libc::clock_gettime(clock, &mut ts) == 0
        {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
        }
    }
    cpu_ticks_secs(pid)
}

/// CPU seconds of the threads of `pid` named `name` (from /proc, 10 ms ticks); None if it has
/// none.
pub fn thread_cpu_secs(pid: u32, name: &str) -> Option<f64> {
    let mut found = None;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let stat = task.path().join("stat");
            *found.get_or_insert(0.0) += stat_cpu_secs(&stat.display().to_string());
        }
    }
    found
}

/// CPU seconds of a process from /proc/PID/stat (10 ms ticks).
fn cpu_ticks_secs(pid: u32) -> f64 {
    stat_cpu_secs(&format!("/proc/{pid}/stat"))
}

/// utime + stime of a /proc stat file, in seconds.
fn stat_cpu_secs(path: &str) -> f64 {
    let Ok(s) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

/// Busy CPU seconds of the whole machine (every CPU, everything but idle and iowait), from
/// /proc/stat in 10 ms ticks: what else ran during a measurement shows as busy time beyond the
/// server's and the generator's.
pub fn machine_busy_secs() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = s.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    let busy: u64 = f.iter().take(8).sum::<u64>() - f.get(3).unwrap_or(&0) - f.get(4).unwrap_or(&0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy as f64 / hz
}

/// The kernel's slab memory in KiB (/proc/meminfo `Slab:`): sockets, files and epoll entries
/// live there, outside any process's RSS.
pub fn slab_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Slab:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The load average over the last minute.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// This process's own CPU seconds (user + system).
pub fn self_cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Memory of a process in KiB: (VmRSS, VmHWM = peak RSS).
pub fn mem_kib(pid: u32) -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Where a binary is expected: `path` as given.
pub fn require(path: &Path, what: &str) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{what} not found at {} (build it or pass its path)",
            path.display()
        ))
    }
}
