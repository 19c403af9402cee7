//! A nats-server of a test's own (Debian package `nats-server`): an ephemeral port,
//! JetStream in a temporary directory, stopped by its PID. [`Nats::restart`] brings the same
//! server back on the same port with the same directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use super::WAIT;

pub const MISSING: &str = "nats-server is not installed (apt-get install nats-server)";

pub fn have_nats() -> bool {
    Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("snak-nats-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A nats-server of our own, stopped by its PID when dropped.
pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl Nats {
    pub fn start(tag: &str) -> Nats {
        Nats::start_with(tag, &[])
    }

    /// With more nats-server options (`extra`; a restart goes without them).
    pub fn start_with(tag: &str, extra: &[&str]) -> Nats {
        let dir = TempDir::new(tag);
        let (child, port) = spawn("-1", &dir.0, extra);
        Nats {
            child: Some(child),
            port,
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Stops the server (SIGKILL to its PID) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The same server again: same port, same JetStream directory.
    pub fn restart(&mut self) {
        self.kill();
        let (child, port) = spawn(&self.port.to_string(), &self.dir.0, &[]);
        assert_eq!(port, self.port);
        self.child = Some(child);
    }

    /// SIGSTOP / SIGCONT: the server is there but answers nothing.
    pub fn signal(&self, sig: i32) {
        let Some(pid) = self.pid() else { return };
        // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
        unsafe {
            libc::kill(pid as i32, sig);
        }
    }
}

impl Nats {
    /// SIGSTOP, then waits until every thread of the server is stopped: kill(2) returns before
    /// the signal has taken effect, and a request sent meanwhile could still be answered.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
        let Some(pid) = self.pid() else { return };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|d| d.flatten().map(|t| t.path()).collect::<Vec<_>>())
                .unwrap_or_default();
            let stopped = !tasks.is_empty()
                && tasks.iter().all(|t| {
                    std::fs::read_to_string(t.join("stat"))
                        .ok()
                        .and_then(|s| {
                            s.rsplit_once(')')
                                .map(|(_, rest)| rest.trim_start().to_string())
                        })
                        .is_some_and(|rest| rest.starts_with('T'))
                });
            if stopped {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server {pid} did not stop on SIGSTOP"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill();
    }
}

/// Starts nats-server with `-p port`, waits until it is ready and returns it with its port.
fn spawn(port: &str, dir: &Path, extra: &[&str]) -> (Child, u16) {
    let mut child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", port, "-js", "-sd"])
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nats-server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end so the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut port = None;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nats-server did not get ready: {seen:#?}");
        };
        if let Some(addr) = line.split("Listening for client connections on ").nth(1) {
            port = addr.trim().rsplit(':').next().and_then(|p| p.parse().ok());
        }
        if line.contains("Server is ready") {
            break;
        }
        seen.push(line);
    }
    (child, port.expect("nats-server said its port"))
}
