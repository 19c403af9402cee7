//! Helpers for integration tests: start the real `snak` binary on ephemeral ports and talk to
//! it over real sockets, waiting with timeouts instead of sleeping.
#![allow(dead_code)]

pub mod http;
pub mod nats;
pub mod net;
pub mod pg;
pub mod tutorial;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any single expectation waits before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running daemon, stopped (by its PID) when dropped.
pub struct Daemon {
    pub child: Child,
    pub native: SocketAddr,
    pub irc: Option<SocketAddr>,
    /// Every `listening KIND ADDR` line, in order.
    pub listeners: Vec<(String, SocketAddr)>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Daemon {
    /// Starts snak on 127.0.0.1:0 for the native protocol (and IRC) plus `extra` flags.
    pub fn start(extra: &[&str]) -> Daemon {
        Daemon::start_with(
            &["--listen", "127.0.0.1:0", "--irc-listen", "127.0.0.1:0"],
            extra,
        )
    }

    /// Starts snak with exactly `base` + `extra` as arguments.
    pub fn start_with(base: &[&str], extra: &[&str]) -> Daemon {
        // The web listener's default port would collide between tests run at once.
        let web_named = base
            .iter()
            .chain(extra)
            .any(|a| a.starts_with("--web-listen") || *a == "--no-web");
        let web: &[&str] = if web_named {
            &[]
        } else {
            &["--web-listen", "127.0.0.1:0"]
        };
        // Nothing kept unless a test names a data directory: tests run at once.
        let data_named = base
            .iter()
            .chain(extra)
            .any(|a| a.starts_with("--data-dir"));
        let data: &[&str] = if data_named {
            &[]
        } else {
            &["--data-dir", "none"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_snak"))
            .args(base)
            .args(web)
            .args(data)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start snak");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (mut native, mut irc) = (None, None);
        let mut listeners = Vec::new();
        // snak prints one `listening PROTOCOL ADDR` line per listener, then `ready`.
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).expect("read snak stdout") == 0 {
                panic!("snak exited before it was ready: {:?}", child.wait());
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["listening", kind, addr] = words.as_slice() {
                listeners.push((kind.to_string(), addr.parse().unwrap()));
            }
            match words.as_slice() {
                ["listening", "native", addr] => native = native.or(Some(addr.parse().unwrap())),
                ["listening", "irc", addr] => irc = irc.or(Some(addr.parse().unwrap())),
                ["ready"] => break,
                _ => {}
            }
        }
        Daemon {
            child,
            native: native.expect("a native listener"),
            irc,
            listeners,
            stdout: Some(stdout),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address of the first listener of `kind` (`native-tls`, `irc-tls`, ...).
    pub fn addr(&self, kind: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(k, _)| k == kind)
            .map(|&(_, a)| a)
            .unwrap_or_else(|| panic!("no {kind} listener in {:?}", self.listeners))
    }

    /// Connects a native client and reads its greeting; returns it with its guest nick.
    pub fn client(&self) -> Client {
        self.greeted(Client::connect(self.native))
    }

    /// A native client with a receive buffer of about `rcvbuf` bytes (set before connecting),
    /// greeted and renamed to `nick`: a reader whose socket fills up after little.
    pub fn named_small(&self, nick: &str, rcvbuf: usize) -> Client {
        let c = self.greeted(Client::connect_with(self.native, Some(rcvbuf), None));
        self.rename(c, nick)
    }

    /// Reads the greeting of a native client just connected; takes its guest nick.
    fn greeted(&self, mut c: Client) -> Client {
        let hello = c.line();
        assert!(
            hello.starts_with("* Hello, world! This is snak "),
            "greeting: {hello}"
        );
        let nick = hello
            .split("You are ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap();
        c.nick = nick.to_string();
        c
    }

    /// Connects a native client and renames it to `nick`, consuming the rename line (and
    /// the lobby's latest lines, which come before it if anything was said there).
    pub fn named(&self, nick: &str) -> Client {
        let c = self.client();
        self.rename(c, nick)
    }

    fn rename(&self, mut c: Client, nick: &str) -> Client {
        c.send(&format!("/nick {nick}"));
        let skipped = c.expect_eventually(&format!("* {} is now known as {nick}", c.nick));
        let replay = skipped
            .first()
            .is_some_and(|l| l.starts_with("= history #lobby "))
            && skipped
                .last()
                .is_some_and(|l| l.starts_with("= end history #lobby "));
        assert!(
            skipped.is_empty() || replay,
            "before the rename: {skipped:?}"
        );
        c.nick = nick.to_string();
        c
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        signal(self.pid(), libc_sigterm());
        wait_exit(&mut self.child)
    }

    /// Remaining stdout (after `ready`) until the daemon exits.
    pub fn rest_of_stdout(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn libc_sigterm() -> &'static str {
    "-TERM"
}

/// Marks the running test as one that cannot run here, for `reason` (say what is missing and
/// where to get it); the test must return right after. Under `make test`
/// (`SNAK_RESULTS_DIR` set) it records `BINARY::TEST: reason` in
/// `$SNAK_RESULTS_DIR/rust-skips.txt`, and the summary counts the test as skipped, not
/// passed. Without that directory (a plain `cargo test`) it panics with the reason, so a test
/// whose input is missing never passes silently.
pub fn skip(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, _hash)) => name.to_string(),
            None => stem,
        })
        .unwrap_or_else(|| "unknown".into());
    let reason = reason.replace(['\n', '\r'], " ");
    let Some(dir) = std::env::var_os("SNAK_RESULTS_DIR") else {
        panic!(
            "cannot run: {reason} (under `make test` this test is reported as skipped; \
             a plain `cargo test` fails it so it never passes silently)"
        );
    };
    let path = std::path::Path::new(&dir).join("rust-skips.txt");
    let line = format!("{binary}::{test}: {reason}\n");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
    });
    if let Err(e) = written {
        panic!("cannot run: {reason}; and cannot record the skip in {path:?}: {e}");
    }
    eprintln!("SKIPPED {binary}::{test}: {reason}");
}

/// `target/<profile>/examples/NAME`, found from the running test's own path
/// (`target/<profile>/deps/TEST-HASH`); `make test` builds the examples first.
pub fn example_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --examples`",
        bin.display()
    );
    bin
}

/// The transfer id of an `% offered ID NICK SIZE NAME` line; fails the test on any other line.
pub fn offered_id(line: &str) -> u64 {
    line.strip_prefix("% offered ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not an offered line: {line:?}"))
}

/// The resident memory of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS value")
}

/// Sends a signal to one PID with kill(1): tests stop only what they started.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(sig).arg(pid.to_string()).status();
}

pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "process did not exit in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A blocking test client that reads lines with a timeout.
pub struct Client {
    pub stream: TcpStream,
    pub nick: String,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    /// Connects with `SO_RCVBUF`/`SO_SNDBUF` set first (see [`net::connect_with_buffers`]).
    pub fn connect_with(addr: SocketAddr, rcvbuf: Option<usize>, sndbuf: Option<usize>) -> Client {
        let stream = net::connect_with_buffers(addr, rcvbuf, sndbuf).expect("connect");
        Client::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_nodelay(true).ok();
        Client {
            stream,
            nick: String::new(),
            buf: Vec::new(),
        }
    }

    /// Sends `line` plus `\n`.
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads up to `n` raw bytes (blocking until they all arrived or the wait ran out).
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        while self.buf.len() < n {
            assert!(
                self.fill(deadline),
                "connection closed or timed out with {} of {n} bytes",
                self.buf.len()
            );
        }
        self.buf.drain(..n).collect()
    }

    /// The next line without its `\n`; fails the test after WAIT.
    pub fn line(&mut self) -> String {
        self.try_line(WAIT)
            .unwrap_or_else(|| panic!("{}: no line within {WAIT:?}", self.nick))
    }

    /// The next line, or None if none arrives within `wait` or the connection closed.
    pub fn try_line(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                return Some(text.trim_end_matches('\r').to_string());
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Asserts the next line equals `want`.
    pub fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{} expected a line", self.nick);
    }

    /// Skips lines until one equals `want`; returns the skipped ones.
    pub fn expect_eventually(&mut self, want: &str) -> Vec<String> {
        let mut skipped = Vec::new();
        loop {
            let got = self.line();
            if got == want {
                return skipped;
            }
            skipped.push(got);
        }
    }

    /// Skips lines until one starts with `prefix`; returns it.
    pub fn line_starting(&mut self, prefix: &str) -> String {
        loop {
            let got = self.line();
            if got.starts_with(prefix) {
                return got;
            }
        }
    }

    /// Asserts nothing arrives within `wait`.
    pub fn expect_silence(&mut self, wait: Duration) {
        if let Some(l) = self.try_line(wait) {
            panic!("{}: expected silence, got {l:?}", self.nick);
        }
    }

    /// Waits until the server closes the connection; returns the lines received before.
    pub fn expect_closed(&mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut lines = Vec::new();
        loop {
            while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            if !self.fill(deadline) {
                assert!(
                    Instant::now() < deadline,
                    "connection not closed in time; got {lines:?}"
                );
                return lines;
            }
        }
    }

    /// Reads more bytes into the buffer; false on close, error or deadline.
    fn fill(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        self.stream.set_read_timeout(Some(deadline - now)).ok();
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }
}

/// A Python that can import `module`: `$SNAK_TEST_PYTHON`, the project's test venv, or the
/// system's; None if none can.
pub fn test_python(module: &str) -> Option<String> {
    let candidates = [
        std::env::var("SNAK_TEST_PYTHON").ok(),
        Some(".venv-test/bin/python".to_string()),
        Some("python3".to_string()),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}
