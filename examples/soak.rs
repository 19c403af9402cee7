//! Soak: normal chat, floods, slow readers, half-open and reset connections, file transfers
//! and the amplification attack (one line naming the room 800 times) against one snak at once, then checks that every normal client got every message exactly
//! once and in order, and that the server's memory came back down once the hostile clients
//! were gone. Exits non-zero on any failure.
//!
//! ```text
//! soak [--snak PATH] [--seconds N] [--smoke]
//! ```
//!
//! It starts the daemon itself on ephemeral loopback ports (flood limit on, a small sendq so
//! slow readers are dropped within the run) and stops it by its PID. `--seconds` (default 120,
//! at most 180) bounds the load phase; `--smoke` is a run of about 5 seconds with fewer
//! clients. std only: one thread per simulated client, blocking sockets with short timeouts.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const ROOM: &str = "#soak";
/// Between two messages of a normal client: 2.5 lines a second, under the flood limit.
const PACE: Duration = Duration::from_millis(400);
/// How often the load phase prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Padding in normal messages, so slow readers fill up.
const PAD: usize = 300;
/// How long the final check waits for the last messages to arrive.
const DRAIN: Duration = Duration::from_secs(20);
const SENDQ: &str = "65536";
const FILE_SIZE: usize = 1 << 20;

struct Opts {
    snak: String,
    seconds: u64,
    smoke: bool,
}

fn parse_args() -> Result<Opts, String> {
    let default_snak = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("snak")))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "target/release/snak".into());
    let mut opts = Opts {
        snak: default_snak,
        seconds: 120,
        smoke: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--snak" => opts.snak = args.next().ok_or("--snak needs a path")?,
            "--seconds" => {
                let v = args.next().ok_or("--seconds needs a number")?;
                opts.seconds = v
                    .parse()
                    .ok()
                    .filter(|&s| (1..=180).contains(&s))
                    .ok_or("--seconds needs 1 to 180")?;
            }
            "--smoke" => {
                opts.smoke = true;
                opts.seconds = 5;
            }
            "-h" | "--help" => {
                println!(
                    "usage: soak [--snak PATH] [--seconds N (default 120, max 180)] [--smoke]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

// ---- the daemon ----

struct Daemon {
    child: Child,
    native: SocketAddr,
    irc: SocketAddr,
}

impl Daemon {
    fn start(path: &str) -> Result<Daemon, String> {
        let mut child = Command::new(path)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--irc-listen",
                "127.0.0.1:0",
                "--no-web",
                "--data-dir",
                "none",
            ])
            .args(["--max-sendq", SENDQ, "--irc-ping", "20"])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {path}: {e}"))?;
        let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let (mut native, mut irc) = (None, None);
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                return Err(format!("snak exited before ready: {:?}", child.wait()));
            }
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["listening", "native", a] => native = a.parse().ok(),
                ["listening", "irc", a] => irc = a.parse().ok(),
                ["ready"] => break,
                _ => {}
            }
        }
        // Keep draining stdout so the daemon never blocks on it.
        thread::spawn(move || {
            let mut sink = String::new();
            let _ = out.read_to_string(&mut sink);
        });
        Ok(Daemon {
            child,
            native: native.ok_or("no native listener")?,
            irc: irc.ok_or("no IRC listener")?,
        })
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM by PID, then wait (bounded); SIGKILL if it does not go.
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on the PID of our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

// ---- a line reader over a blocking socket with short timeouts ----

struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    fn connect(addr: SocketAddr) -> std::io::Result<Wire> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(20)))?;
        s.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(Wire { s, buf: Vec::new() })
    }

    fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.s.write_all(text.as_bytes())
    }

    /// Reads what is there (waiting at most the socket's short timeout). Err on close.
    fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) => Err("closed by the server".into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The next complete line (without CR LF), if one is buffered.
    fn take_line(&mut self) -> Option<String> {
        let pos = self.buf.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buf.drain(..=pos).collect();
        let text = String::from_utf8_lossy(&line[..pos]);
        Some(text.trim_end_matches('\r').to_string())
    }

    /// Waits for a line until `deadline`.
    fn line_by(&mut self, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(l) = self.take_line() {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                return Err("timed out waiting for a line".into());
            }
            self.fill()?;
        }
    }

    /// Waits for a line that satisfies `want`; returns it.
    fn wait_for(
        &mut self,
        deadline: Instant,
        want: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        loop {
            let l = self.line_by(deadline)?;
            if want(&l) {
                return Ok(l);
            }
        }
    }

    /// Exactly `n` raw bytes (a data frame's body).
    fn exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            if Instant::now() >= deadline {
                return Err("timed out in a data frame".into());
            }
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }
}

/// A socket closed with SO_LINGER 0: the server sees a reset, not a FIN.
fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a pointer to a linger struct of the size given.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// A connection with a tiny receive buffer, set before connecting so the window stays small:
/// a reader that never reads then fills the server's queue for it quickly.
fn connect_small_rcvbuf(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let SocketAddr::V4(v4) = addr else {
        return TcpStream::connect(addr);
    };
    // SAFETY: plain socket calls on a descriptor we own; the sockaddr_in is fully initialised
    // and passed with its size.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = v4.port().to_be();
        sa.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
        let rc = libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

// ---- shared state ----

#[derive(Default)]
struct Shared {
    errors: Mutex<Vec<String>>,
    /// Per normal sender: (room messages sent, direct messages sent to its partner).
    sent: Mutex<HashMap<String, (u64, u64)>>,
    /// Normal clients done sending (their counts are in `sent`).
    published: AtomicUsize,
    stop_hostile: AtomicBool,
    stop_normal: AtomicBool,
    // Figures for the report.
    flood_drops: AtomicU64,
    sendq_drops: AtomicU64,
    floods_warned: AtomicU64,
    half_open: AtomicU64,
    resets: AtomicU64,
    files_done: AtomicU64,
    file_bytes: AtomicU64,
    /// Amplification lines sent, and how the attacker was answered (refusals, warnings).
    amp_lines: AtomicU64,
    amp_answers: AtomicU64,
    /// Copies of amplification lines the observer saw.
    amp_copies: AtomicU64,
    normal_received: AtomicU64,
}

impl Shared {
    fn fail(&self, who: &str, what: impl std::fmt::Display) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 50 {
            errors.push(format!("{who}: {what}"));
        }
    }
}

// ---- normal clients ----

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Native,
    Irc,
}

/// What a line means to a normal client: (stamped sender, direct?, text), if it is a message.
fn message(proto: Proto, me: &str, line: &str) -> Option<(String, bool, String)> {
    match proto {
        Proto::Native => {
            if let Some(rest) = line.strip_prefix(&format!("{ROOM} <")) {
                let (from, text) = rest.split_once("> ")?;
                return Some((from.into(), false, text.into()));
            }
            let rest = line.strip_prefix(&format!("@{me} <"))?;
            let (from, text) = rest.split_once("> ")?;
            Some((from.into(), true, text.into()))
        }
        Proto::Irc => {
            let rest = line.strip_prefix(':')?;
            let (source, rest) = rest.split_once(' ')?;
            let (target, text) = rest.strip_prefix("PRIVMSG ")?.split_once(" :")?;
            let from = source.split('!').next()?;
            let direct = target.eq_ignore_ascii_case(me);
            if !direct && target != ROOM {
                return None;
            }
            Some((from.into(), direct, text.into()))
        }
    }
}

fn connect_normal(
    addr: SocketAddr,
    proto: Proto,
    nick: &str,
    deadline: Instant,
) -> Result<Wire, String> {
    let mut w = Wire::connect(addr).map_err(|e| e.to_string())?;
    match proto {
        Proto::Native => {
            w.line_by(deadline)?;
            w.send(&format!("/nick {nick}\n/join {ROOM}\n"))
                .map_err(|e| e.to_string())?;
            let joined = format!("* {nick} joined {ROOM}");
            w.wait_for(deadline, |l| l == joined)?;
        }
        Proto::Irc => {
            w.send(&format!(
                "NICK {nick}\r\nUSER {nick} 0 * :soak\r\nJOIN {ROOM}\r\n"
            ))
            .map_err(|e| e.to_string())?;
            let end = format!(":snak.localhost 366 {nick} {ROOM} ");
            w.wait_for(deadline, |l| l.starts_with(&end))?;
        }
    }
    Ok(w)
}

/// Sends sequenced room and direct messages at a typist's pace until told to stop, checking
/// everything it receives; then waits until it has everything every other normal client sent.
fn normal_client(
    mut w: Wire,
    proto: Proto,
    me: String,
    partner: String,
    everyone: Vec<String>,
    n_normal: usize,
    shared: Arc<Shared>,
) {
    let pad = "p".repeat(PAD);
    let (mut room_sent, mut dm_sent) = (0u64, 0u64);
    let mut next_room: HashMap<String, u64> = HashMap::new();
    let mut next_dm: HashMap<String, u64> = HashMap::new();
    let mut next_send = Instant::now();
    let mut published = false;
    let mut drain_deadline = None;
    loop {
        if !published && shared.stop_normal.load(Ordering::Relaxed) {
            shared
                .sent
                .lock()
                .unwrap()
                .insert(me.clone(), (room_sent, dm_sent));
            shared.published.fetch_add(1, Ordering::SeqCst);
            published = true;
            drain_deadline = Some(Instant::now() + DRAIN);
        }
        if !published && Instant::now() >= next_send {
            next_send = (next_send + PACE).max(Instant::now());
            let direct = (room_sent + dm_sent) % 3 == 2;
            let line = match (proto, direct) {
                (Proto::Native, false) => format!("/say {ROOM} seq {me} {room_sent} {pad}\n"),
                (Proto::Native, true) => format!("/msg {partner} dm {me} {dm_sent} {pad}\n"),
                (Proto::Irc, false) => format!("PRIVMSG {ROOM} :seq {me} {room_sent} {pad}\r\n"),
                (Proto::Irc, true) => format!("PRIVMSG {partner} :dm {me} {dm_sent} {pad}\r\n"),
            };
            if let Err(e) = w.send(&line) {
                return shared.fail(&me, format!("send failed: {e}"));
            }
            if direct {
                dm_sent += 1;
            } else {
                room_sent += 1;
            }
        }
        if let Err(e) = w.fill() {
            return shared.fail(&me, e);
        }
        while let Some(line) = w.take_line() {
            if proto == Proto::Irc {
                if let Some(token) = line.strip_prefix("PING ") {
                    let _ = w.send(&format!("PONG {token}\r\n"));
                    continue;
                }
            }
            let Some((from, direct, text)) = message(proto, &me, &line) else {
                continue;
            };
            let mut words = text.split(' ');
            let (kind, author, n) = (words.next(), words.next(), words.next());
            let (Some(kind @ ("seq" | "dm")), Some(author), Some(n)) = (kind, author, n) else {
                continue; // floods and other chatter
            };
            if author != from {
                shared.fail(&me, format!("{from} spoke as {author}: {line}"));
                continue;
            }
            if (kind == "dm") != direct {
                shared.fail(&me, format!("message of the wrong kind: {line}"));
                continue;
            }
            let Ok(n) = n.parse::<u64>() else {
                shared.fail(&me, format!("bad sequence number: {line}"));
                continue;
            };
            let next = if direct {
                next_dm.entry(from.clone()).or_default()
            } else {
                next_room.entry(from.clone()).or_default()
            };
            if n != *next {
                shared.fail(
                    &me,
                    format!("from {from} expected {kind} {} but got {n}", *next),
                );
            }
            *next = n + 1;
            shared.normal_received.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(deadline) = drain_deadline {
            if shared.published.load(Ordering::SeqCst) == n_normal {
                let sent = shared.sent.lock().unwrap();
                let complete = everyone.iter().filter(|n| **n != me).all(|other| {
                    let (room, dm) = sent.get(other).copied().unwrap_or((0, 0));
                    let dm_to_me = if partner_of(&everyone, other) == me {
                        dm
                    } else {
                        0
                    };
                    next_room.get(other).copied().unwrap_or(0) == room
                        && next_dm.get(other).copied().unwrap_or(0) == dm_to_me
                });
                if complete {
                    return;
                }
            }
            if Instant::now() >= deadline {
                let sent = shared.sent.lock().unwrap();
                let missing: Vec<String> = everyone
                    .iter()
                    .filter(|n| **n != me)
                    .map(|o| {
                        let (room, dm) = sent.get(o).copied().unwrap_or((0, 0));
                        format!(
                            "{o}: room {}/{room} dm {}/{}",
                            next_room.get(o).copied().unwrap_or(0),
                            next_dm.get(o).copied().unwrap_or(0),
                            if partner_of(&everyone, o) == me {
                                dm
                            } else {
                                0
                            }
                        )
                    })
                    .collect();
                return shared.fail(&me, format!("missing messages: {missing:?}"));
            }
        }
    }
}

fn partner_of(everyone: &[String], nick: &str) -> String {
    let i = everyone.iter().position(|n| n == nick).unwrap_or(0);
    everyone[(i + 1) % everyone.len()].clone()
}

// ---- hostile clients ----

/// Floods the room as fast as the socket takes it; reconnects when dropped.
fn flooder(addr: SocketAddr, proto: Proto, k: usize, shared: Arc<Shared>) {
    let mut round = 0;
    while !shared.stop_hostile.load(Ordering::Relaxed) {
        round += 1;
        let Ok(mut w) = Wire::connect(addr) else {
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        let _ = w.s.set_write_timeout(Some(Duration::from_millis(500)));
        let nick = format!("flood{k}x{round}");
        let hello = match proto {
            Proto::Native => format!("/nick {nick}\n/join {ROOM}\n"),
            Proto::Irc => format!("NICK {nick}\r\nUSER f 0 * :f\r\nJOIN {ROOM}\r\n"),
        };
        if w.send(&hello).is_err() {
            continue;
        }
        // Long native lines: a flooder that reconnects gets a burst of them relayed each
        // time, which is what fills the slow readers' queues.
        let line = match proto {
            Proto::Native => format!("flood from {nick} {}\n", "f".repeat(4000)),
            Proto::Irc => format!("PRIVMSG {ROOM} :flood from {nick} {}\r\n", "f".repeat(100)),
        };
        let batch = line.repeat(20);
        let mut warned = false;
        while !shared.stop_hostile.load(Ordering::Relaxed) {
            match w.send(&batch) {
                Err(e)
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                _ => {}
            }
            // Read what comes back (the flood warning) without blocking the flood for long.
            if w.fill().is_err() {
                break;
            }
            while let Some(l) = w.take_line() {
                if !warned && (l.starts_with("! flood ") || l.contains("You send too fast")) {
                    warned = true;
                    shared.floods_warned.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Keeps readers that never read in the room; opens a new one every few seconds.
fn slow_readers(native: SocketAddr, irc: SocketAddr, every: Duration, shared: Arc<Shared>) {
    let mut held = Vec::new();
    let mut k = 0;
    while !shared.stop_hostile.load(Ordering::Relaxed) && held.len() < 100 {
        k += 1;
        if let Ok(mut s) = connect_small_rcvbuf(native) {
            let _ = s.write_all(format!("/nick sleepn{k}\n/join {ROOM}\n").as_bytes());
            held.push(s);
        }
        if let Ok(mut s) = connect_small_rcvbuf(irc) {
            let _ = s.write_all(
                format!("NICK sleepi{k}\r\nUSER s 0 * :s\r\nJOIN {ROOM}\r\n").as_bytes(),
            );
            held.push(s);
        }
        sleep_unless(&shared.stop_hostile, every);
    }
    drop(held);
}

/// Half-open (a partial line, then silence) and half-closed (a partial line, then FIN)
/// connections, plus connections reset with SO_LINGER 0 at odd moments.
fn half_open_and_resets(native: SocketAddr, irc: SocketAddr, shared: Arc<Shared>) {
    let mut held = Vec::new();
    let mut k = 0u64;
    while !shared.stop_hostile.load(Ordering::Relaxed) && k < 2000 {
        k += 1;
        // Half-open: never finishes its line, never reads.
        if held.len() < 200 {
            if let Ok(mut s) = TcpStream::connect(native) {
                let _ = s.write_all(b"/join #soak-half\nhalf a li");
                held.push(s);
            }
            if let Ok(mut s) = TcpStream::connect(irc) {
                let _ = s.write_all(b"NICK half");
                held.push(s);
            }
            shared.half_open.fetch_add(2, Ordering::Relaxed);
        }
        // Half-closed mid-line.
        if let Ok(mut s) = TcpStream::connect(native) {
            let _ = s.write_all(b"cut off in the mid");
            let _ = s.shutdown(Shutdown::Write);
        }
        // Reset: after joining the room and in the middle of a line or a frame.
        if let Ok(mut s) = TcpStream::connect(native) {
            let what: &[u8] = match k % 3 {
                0 => b"/join #soak\nreset in the mid",
                1 => b"/offer nobody 10 x\n/data 1 500\nabc",
                _ => b"",
            };
            let _ = s.write_all(what);
            reset(s);
        }
        if let Ok(mut s) = TcpStream::connect(irc) {
            let _ = s.write_all(b"NICK rst\r\nUSER r 0 * :r\r\nJOIN #soak\r\nPRIVMSG #soak :par");
            reset(s);
        }
        shared.resets.fetch_add(2, Ordering::Relaxed);
        sleep_unless(&shared.stop_hostile, Duration::from_millis(250));
    }
    for s in held {
        reset(s);
    }
}

/// Every few seconds an attacker joins the room and sends four lines naming it 800 times with
/// 4000 bytes of text (native `/msg`; IRC `PRIVMSG` with 80 targets, all an IRC line holds);
/// the observer counts the copies: at most one per line may arrive.
fn amplifier(native: SocketAddr, irc: SocketAddr, every: Duration, shared: Arc<Shared>) {
    let mut round = 0;
    while !shared.stop_hostile.load(Ordering::Relaxed) {
        round += 1;
        let (addr, irc_round) = if round % 2 == 1 {
            (native, false)
        } else {
            (irc, true)
        };
        let nick = format!("amp{round}");
        let (hello, line) = if irc_round {
            let targets = vec![ROOM; 80].join(",");
            (
                format!("NICK {nick}\r\nUSER a 0 * :a\r\nJOIN {ROOM}\r\n"),
                format!("PRIVMSG {targets} :{}\r\n", "a".repeat(60)),
            )
        } else {
            let targets = vec![ROOM; 800].join(",");
            (
                format!("/nick {nick}\n/join {ROOM}\n"),
                format!("/msg {targets} {}\n", "a".repeat(4000)),
            )
        };
        if let Ok(mut w) = Wire::connect(addr) {
            let joined = w.send(&hello).is_ok() && {
                let deadline = Instant::now() + Duration::from_secs(10);
                let me = nick.clone();
                w.wait_for(deadline, |l| {
                    l == format!("* {me} joined {ROOM}")
                        || (l.starts_with(&format!(":{me}!")) && l.contains(" JOIN "))
                })
                .is_ok()
            };
            if joined && w.send(&line.repeat(4)).is_ok() {
                shared.amp_lines.fetch_add(4, Ordering::Relaxed);
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    if w.fill().is_err() {
                        break;
                    }
                    while let Some(l) = w.take_line() {
                        let numeric = l.split(' ').nth(1).unwrap_or("");
                        let refused = if irc_round {
                            numeric.len() == 3 && numeric.starts_with('4')
                        } else {
                            l.starts_with("! ")
                        };
                        if refused {
                            shared.amp_answers.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        sleep_unless(&shared.stop_hostile, every);
    }
}

fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(20));
    }
}

// ---- file transfers ----

fn pattern(file: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(file * 7) as u8)
        .collect()
}

/// Sends files back to back to `filerecv` until the hostile phase ends.
fn file_sender(mut w: Wire, shared: Arc<Shared>) {
    let mut n = 0u64;
    while !shared.stop_hostile.load(Ordering::Relaxed) {
        n += 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        let step = (|| -> Result<(), String> {
            w.send(&format!("/offer filerecv {FILE_SIZE} soak-{n}.bin\n"))
                .map_err(|e| e.to_string())?;
            let offered = w.wait_for(deadline, |l| l.starts_with("% offered "))?;
            let id: u64 = offered
                .split(' ')
                .nth(2)
                .and_then(|s| s.parse().ok())
                .ok_or("bad offered line")?;
            w.wait_for(deadline, |l| l == format!("% accepted {id}"))?;
            let data = pattern(n, FILE_SIZE);
            for chunk in data.chunks(65536) {
                w.send(&format!("/data {id} {}\n", chunk.len()))
                    .map_err(|e| e.to_string())?;
                w.s.write_all(chunk).map_err(|e| e.to_string())?;
            }
            w.wait_for(deadline, |l| l == format!("% done {id}"))?;
            Ok(())
        })();
        if let Err(e) = step {
            return shared.fail("filesend", format!("file {n}: {e}"));
        }
    }
    // Lines still held back by the flood limit die with the connection: stay until the
    // server has answered a command sent after the last line.
    let _ = w.send("/msg filerecv end\n/rooms\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    if let Err(e) = w.wait_for(deadline, |l| l.starts_with("= end rooms")) {
        shared.fail("filesend", format!("after the last file: {e}"));
    }
}

/// Accepts every offer and checks every byte.
fn file_receiver(mut w: Wire, shared: Arc<Shared>) {
    let mut current: Option<(u64, u64, Vec<u8>)> = None;
    loop {
        let deadline = Instant::now() + Duration::from_secs(60);
        let line = match w.line_by(deadline) {
            Ok(l) => l,
            Err(e) => return shared.fail("filerecv", e),
        };
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["%", "offer", id, "filesend", _size, name] => {
                let file: u64 = name
                    .strip_prefix("soak-")
                    .and_then(|n| n.strip_suffix(".bin"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let id: u64 = id.parse().unwrap_or(0);
                current = Some((id, file, Vec::with_capacity(FILE_SIZE)));
                let _ = w.send(&format!("/accept {id}\n"));
            }
            ["%", "data", id, len] => {
                let len: usize = len.parse().unwrap_or(0);
                let body = match w.exact(len, deadline) {
                    Ok(b) => b,
                    Err(e) => return shared.fail("filerecv", e),
                };
                match current.as_mut() {
                    Some((cur, _, got)) if id.parse::<u64>().ok() == Some(*cur) => {
                        got.extend_from_slice(&body)
                    }
                    _ => shared.fail("filerecv", format!("a frame for no transfer: {line}")),
                }
            }
            ["%", "done", id] => {
                let Some((cur, file, got)) = current.take() else {
                    continue;
                };
                if id.parse::<u64>().ok() != Some(cur) {
                    shared.fail("filerecv", format!("done for another transfer: {line}"));
                } else if got != pattern(file, FILE_SIZE) {
                    shared.fail("filerecv", format!("file {file}: bytes differ"));
                } else {
                    shared.files_done.fetch_add(1, Ordering::Relaxed);
                    shared
                        .file_bytes
                        .fetch_add(got.len() as u64, Ordering::Relaxed);
                }
            }
            ["@filerecv", "<filesend>", "end"] => return,
            ["%", "abort", ..] => {
                shared.fail("filerecv", format!("transfer aborted: {line}"));
                current = None;
            }
            _ => {}
        }
    }
}

// ---- the run ----

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    match run(&opts) {
        Ok(()) => println!("soak: PASS"),
        Err(errors) => {
            for e in &errors {
                eprintln!("soak: FAIL {e}");
            }
            std::process::exit(1);
        }
    }
}

fn run(opts: &Opts) -> Result<(), Vec<String>> {
    let mut daemon = Daemon::start(&opts.snak).map_err(|e| vec![e])?;
    let (native, irc) = (daemon.native, daemon.irc);
    println!(
        "soak: snak pid {} native {native} irc {irc}, {} s{}",
        daemon.child.id(),
        opts.seconds,
        if opts.smoke { " (smoke)" } else { "" }
    );
    let shared = Arc::new(Shared::default());
    let (n_native, n_irc, n_flood) = if opts.smoke { (3, 2, 1) } else { (6, 4, 2) };

    // Normal clients, all in the room before anyone speaks.
    let mut everyone = Vec::new();
    let mut wires = Vec::new();
    let setup = Instant::now() + Duration::from_secs(10);
    for i in 0..n_native + n_irc {
        let (proto, addr, nick) = if i < n_native {
            (Proto::Native, native, format!("nat{i}"))
        } else {
            (Proto::Irc, irc, format!("irc{i}"))
        };
        let w =
            connect_normal(addr, proto, &nick, setup).map_err(|e| vec![format!("{nick}: {e}")])?;
        everyone.push(nick);
        wires.push((w, proto));
    }
    let mut fs = connect_normal(native, Proto::Native, "filesend", setup).map_err(|e| vec![e])?;
    let mut fr = connect_normal(native, Proto::Native, "filerecv", setup).map_err(|e| vec![e])?;
    for w in [&mut fs, &mut fr] {
        let _ = w.send(&format!("/part {ROOM}\n"));
    }
    thread::sleep(Duration::from_millis(300));
    let baseline = daemon.rss_kib();
    println!(
        "soak: VmRSS baseline {baseline} KiB with {} normal clients",
        everyone.len()
    );

    let mut normal: Vec<JoinHandle<()>> = Vec::new();
    for (i, (w, proto)) in wires.into_iter().enumerate() {
        let me = everyone[i].clone();
        let partner = partner_of(&everyone, &me);
        let (all, sh, n) = (everyone.clone(), shared.clone(), everyone.len());
        normal.push(thread::spawn(move || {
            normal_client(w, proto, me, partner, all, n, sh)
        }));
    }
    let mut hostile: Vec<JoinHandle<()>> = Vec::new();
    for k in 0..n_flood {
        let sh = shared.clone();
        hostile.push(thread::spawn(move || flooder(native, Proto::Native, k, sh)));
    }
    {
        let sh = shared.clone();
        hostile.push(thread::spawn(move || flooder(irc, Proto::Irc, 99, sh)));
    }
    let every = if opts.smoke {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    {
        let sh = shared.clone();
        hostile.push(thread::spawn(move || slow_readers(native, irc, every, sh)));
    }
    {
        let sh = shared.clone();
        hostile.push(thread::spawn(move || half_open_and_resets(native, irc, sh)));
    }
    {
        let sh = shared.clone();
        hostile.push(thread::spawn(move || amplifier(native, irc, every, sh)));
    }
    let files = {
        let (a, b) = (shared.clone(), shared.clone());
        [
            thread::spawn(move || file_sender(fs, a)),
            thread::spawn(move || file_receiver(fr, b)),
        ]
    };

    // The load phase, sampling memory once a second.
    let start = Instant::now();
    let mut peak = baseline;
    let mut observer = Wire::connect(native).map_err(|e| vec![e.to_string()])?;
    let _ = observer.send(&format!("/nick observer\n/join {ROOM}\n"));
    let watch = |observer: &mut Wire, until: Instant| -> Result<(), String> {
        while Instant::now() < until {
            observer.fill().map_err(|e| format!("the observer: {e}"))?;
            while let Some(l) = observer.take_line() {
                if l.starts_with(&format!("{ROOM} <amp")) {
                    shared.amp_copies.fetch_add(1, Ordering::Relaxed);
                }
                if l.ends_with(" quit (excess flood)") {
                    shared.flood_drops.fetch_add(1, Ordering::Relaxed);
                } else if l.ends_with(" quit (sendq exceeded)") {
                    shared.sendq_drops.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    };
    // A progress line about every 10 s, so a long run is visibly alive.
    let mut next_report = start + PROGRESS_EVERY;
    while start.elapsed() < Duration::from_secs(opts.seconds) {
        watch(&mut observer, Instant::now() + Duration::from_millis(250)).map_err(|e| vec![e])?;
        let rss = daemon.rss_kib();
        peak = peak.max(rss);
        if !daemon.alive() {
            return Err(vec!["snak died during the run".into()]);
        }
        if Instant::now() >= next_report {
            next_report += PROGRESS_EVERY;
            let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
            println!(
                "soak: {:>3}/{} s: {} deliveries to normal clients, {} files; dropped {} \
                 flooders and {} slow readers; VmRSS {rss} KiB (peak {peak})",
                start.elapsed().as_secs(),
                opts.seconds,
                load(&shared.normal_received),
                load(&shared.files_done),
                load(&shared.flood_drops),
                load(&shared.sendq_drops),
            );
        }
    }

    // Hostile clients go; the file pair finishes its file.
    shared.stop_hostile.store(true, Ordering::SeqCst);
    for h in hostile.into_iter().chain(files) {
        let _ = h.join();
    }
    // Let the server see every close; the observer keeps reading meanwhile.
    watch(&mut observer, Instant::now() + Duration::from_secs(2)).map_err(|e| vec![e])?;
    let after = daemon.rss_kib();

    // Normal clients stop and check they got everything.
    shared.stop_normal.store(true, Ordering::SeqCst);
    for h in normal {
        if h.join().is_err() {
            shared.fail("soak", "a normal client thread panicked");
        }
    }
    let alive = daemon.alive();
    let status = daemon.stop();

    let sent = shared.sent.lock().unwrap();
    let total_sent: u64 = sent.values().map(|(r, d)| r + d).sum();
    println!(
        "soak: normal clients sent {total_sent} messages, received {} deliveries",
        shared.normal_received.load(Ordering::Relaxed)
    );
    println!(
        "soak: flooders warned {} times, dropped {} times (excess flood); slow readers dropped {} times (sendq exceeded)",
        shared.floods_warned.load(Ordering::Relaxed),
        shared.flood_drops.load(Ordering::Relaxed),
        shared.sendq_drops.load(Ordering::Relaxed)
    );
    println!(
        "soak: {} half-open and {} reset connections; {} files ({} bytes) transferred and checked",
        shared.half_open.load(Ordering::Relaxed),
        shared.resets.load(Ordering::Relaxed),
        shared.files_done.load(Ordering::Relaxed),
        shared.file_bytes.load(Ordering::Relaxed)
    );
    let (amp_lines, amp_copies, amp_answers) = (
        shared.amp_lines.load(Ordering::Relaxed),
        shared.amp_copies.load(Ordering::Relaxed),
        shared.amp_answers.load(Ordering::Relaxed),
    );
    println!(
        "soak: amplification: {amp_lines} lines naming the room 80 to 800 times, {amp_copies} copies seen by the observer, {amp_answers} refusals to the attacker"
    );
    // Memory back down: within 50% (and at least 4 MiB) of the baseline once the hostile
    // clients were gone. A measure of the full run only: the smoke run (a test) reports it
    // and never fails on it, as tests assert no memory figures.
    let margin = (baseline / 2).max(4096);
    println!("soak: VmRSS baseline {baseline} KiB, peak {peak} KiB, after the hostile clients left {after} KiB (allowed {} KiB)", baseline + margin);

    let mut errors = shared.errors.lock().unwrap().clone();
    if after > baseline + margin && !opts.smoke {
        errors.push(format!(
            "memory did not come back down: {after} KiB against a baseline of {baseline} KiB"
        ));
    }
    if !alive {
        errors.push("snak was not running at the end".into());
    }
    if !status.is_some_and(|s| s.success()) {
        errors.push(format!("snak did not exit cleanly on SIGTERM: {status:?}"));
    }
    if total_sent == 0 {
        errors.push("no normal messages were sent".into());
    }
    if shared.floods_warned.load(Ordering::Relaxed) == 0 {
        errors.push("no flooder was ever told to slow down".into());
    }
    if shared.files_done.load(Ordering::Relaxed) == 0 {
        errors.push("no file transfer completed".into());
    }
    if amp_lines == 0 {
        errors.push("no amplification line was sent".into());
    }
    if amp_copies > amp_lines {
        errors.push(format!(
            "the amplification got through: {amp_copies} copies of {amp_lines} lines"
        ));
    }
    if amp_lines > 0 && amp_answers == 0 {
        errors.push("no amplification line was refused".into());
    }
    if !opts.smoke {
        if shared.flood_drops.load(Ordering::Relaxed) == 0 {
            errors.push("no flooder was dropped for excess flood".into());
        }
        if shared.sendq_drops.load(Ordering::Relaxed) == 0 {
            errors.push("no slow reader was dropped for its sendq".into());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
