//! History measured against the snak binary (a benchmark, not a test): what a join that
//! replays the room's last 50 lines costs the server, in its own CPU time, beside a join that
//! replays none; for a native joiner and an IRC one (batch, server-time, message-tags).
//!
//! `cargo run --release --example history_bench -- [--snak target/release/snak] [--joins N]`
//! (default 2000 joins each). Each run starts its own snak on loopback with a fresh data
//! directory, fills a room with 50 lines of about 100 bytes, then one client joins and parts
//! it N times; the server's CPU time over those cycles, divided by N, is the cost
//! of one join and part. Bounded: N at most 100 000, each run at most 60 s.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

struct Snak {
    child: Child,
    native: String,
    irc: String,
    dir: std::path::PathBuf,
}

impl Snak {
    fn start(bin: &str, on_join: usize) -> Snak {
        let dir = std::env::temp_dir().join(format!(
            "snak-history-bench-{}-{on_join}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(bin)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--irc-listen",
                "127.0.0.1:0",
                "--no-web",
            ])
            .args([
                "--no-flood-limit",
                "--history-on-join",
                &on_join.to_string(),
            ])
            .arg("--data-dir")
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start snak");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut native, mut irc) = (String::new(), String::new());
        for line in out.lines() {
            let line = line.expect("snak's stdout");
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["listening", "native", a] => native = a.to_string(),
                ["listening", "irc", a] => irc = a.to_string(),
                ["ready"] => break,
                _ => {}
            }
        }
        Snak {
            child,
            native,
            irc,
            dir,
        }
    }

    /// The server's CPU time (all threads), to the nanosecond.
    fn cpu(&self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut clock: libc::clockid_t = 0;
        // SAFETY: both calls only write the values passed.
        unsafe {
            if libc::clock_getcpuclockid(self.child.id() as libc::pid_t, &mut clock) != 0
                || libc::clock_gettime(clock, &mut ts) != 0
            {
                return Duration::ZERO;
            }
        }
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

impl Drop for Snak {
    fn drop(&mut self) {
        // By its PID: SIGTERM, then wait.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
    started: Instant,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(LIMIT)).ok();
        s.set_nodelay(true).ok();
        Conn {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
            started: Instant::now(),
        }
    }

    fn send(&mut self, text: &str) {
        self.w.write_all(text.as_bytes()).expect("send");
    }

    /// Reads lines until one contains `what`; returns how many were read.
    fn until(&mut self, what: &str) -> usize {
        let mut n = 0;
        let mut line = String::new();
        loop {
            assert!(
                self.started.elapsed() < LIMIT,
                "over time waiting for {what}"
            );
            line.clear();
            if self.r.read_line(&mut line).expect("read") == 0 {
                panic!("closed while waiting for {what}");
            }
            n += 1;
            if line.contains(what) {
                return n;
            }
        }
    }
}

fn fill(snak: &Snak) {
    let mut c = Conn::open(&snak.native);
    c.until("Hello");
    c.send("/nick filler\n/join #bench\n");
    c.until("* filler joined #bench");
    let text = "a line of chat as people write them, some words long, with a link or two \
                https://example.org";
    for i in 0..50 {
        c.send(&format!("{i} {text}\n"));
    }
    c.send("/who #bench\n");
    c.until("= end who #bench");
}

/// N joins and parts by one client: (server CPU per cycle, lines read per cycle).
fn cycles(snak: &Snak, irc: bool, n: usize) -> (Duration, f64) {
    let mut c;
    let (cycle, left) = if irc {
        c = Conn::open(&snak.irc);
        c.send("CAP REQ :batch server-time message-tags\r\nNICK joiner\r\nUSER j 0 * :j\r\n");
        c.send("CAP END\r\n");
        c.until(" 422 joiner ");
        ("JOIN #bench\r\nPART #bench\r\n", "PART #bench")
    } else {
        c = Conn::open(&snak.native);
        c.until("Hello");
        c.send("/nick joiner\n");
        c.until("is now known as joiner");
        ("/join #bench\n/part #bench\n", "* joiner left #bench")
    };
    let before = snak.cpu();
    let mut lines = 0;
    // One at a time: a joiner with much queued already gets fewer lines (the replay keeps
    // to half of what its send queue has left), which is not what is measured here.
    for _ in 0..n {
        c.send(cycle);
        lines += c.until(left);
    }
    let cpu = snak.cpu().saturating_sub(before);
    (cpu / n as u32, lines as f64 / n as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let bin = arg("--snak").unwrap_or_else(|| "target/release/snak".into());
    let joins: usize = arg("--joins").map_or(2000, |v| v.parse().expect("--joins N"));
    let joins = joins.clamp(1, 100_000);
    for irc in [false, true] {
        let mut per = Vec::new();
        for on_join in [0, 50] {
            let snak = Snak::start(&bin, on_join);
            fill(&snak);
            let (cpu, lines) = cycles(&snak, irc, joins);
            per.push(cpu);
            println!(
                "{} joiner, --history-on-join {on_join}: {:.1} us of server CPU per join and \
                 part ({lines:.0} lines read per cycle, {joins} cycles)",
                if irc { "IRC" } else { "native" },
                cpu.as_secs_f64() * 1e6
            );
        }
        println!(
            "  the replay of 50 lines: {:.1} us of server CPU per join",
            per[1].saturating_sub(per[0]).as_secs_f64() * 1e6
        );
    }
}
