//! One large file from one web client to another through snak (a benchmark, not a test):
//! the throughput, the server's CPU time per GiB, and its resident memory sampled every
//! 100 ms through the transfer, to show that it stays flat (the bytes stream with
//! backpressure; nothing is buffered whole, nothing goes to disk).
//!
//! `cargo run --release --example file_bench -- [--snak target/release/snak] [--size BYTES]
//! [--smoke] [--timeout SECS]` (default 1 GiB, `--smoke` 16 MiB, timeout 300 s).
//!
//! Both clients take the path snak's own page takes (src/front/web/client.html): a WebSocket
//! at `/ws` with the subprotocol `text.ircv3.net`, `CAP LS 302`, `CAP REQ :snak.chat/files`,
//! then `FILE OFFER NICK SIZE :NAME`. The recipient accepts by downloading
//! `GET /f/TOKEN` (the link the page's Accept button is), and the sender, on
//! `FILE ACCEPTED`, uploads `PUT /f/TOKEN` with the file as the body, as the page's
//! XMLHttpRequest does. The body is a generated pattern (no file is read or written); the
//! receiver's checksum must equal the sender's. Exits non-zero on any failure, and stops its
//! snak by PID whatever happens.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
const MIB: f64 = (1u64 << 20) as f64;
/// The bytes the upload writes, and the download reads, at a time.
const CHUNK: usize = 256 * 1024;
/// How often the server's memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

struct Opts {
    snak: String,
    size: u64,
    timeout: Duration,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        snak: "target/release/snak".into(),
        size: GIB,
        timeout: Duration::from_secs(300),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--snak" => o.snak = value()?,
            "--size" => o.size = value()?.parse().map_err(|e| format!("--size BYTES: {e}"))?,
            "--smoke" => o.size = 16 << 20,
            "--timeout" => {
                let secs: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--timeout SECS: {e}"))?;
                o.timeout = Duration::from_secs(secs.clamp(1, 3600));
            }
            "-h" | "--help" => {
                println!(
                    "file_bench [--snak PATH] [--size BYTES | --smoke] [--timeout SECS]\n\
                     One file of BYTES (default 1 GiB; --smoke: 16 MiB) from one web client \
                     to another through snak; throughput, server CPU and RSS."
                );
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?} (try --help)")),
        }
    }
    if o.size == 0 {
        return Err("--size must be at least 1".into());
    }
    Ok(o)
}

// ------------------------------------------------------------------------------ the server

/// snak on loopback with ephemeral ports, nothing kept on disk; stopped by PID on drop.
struct Snak {
    child: Child,
    web: SocketAddr,
    log: std::path::PathBuf,
}

impl Snak {
    fn start(bin: &str, max_file: u64) -> Result<Snak, String> {
        let log = std::env::temp_dir().join(format!("snak-file-bench-{}.log", std::process::id()));
        let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--irc-listen", "127.0.0.1:0"])
            .args(["--web-listen", "127.0.0.1:0", "--data-dir", "none"])
            .args(["--max-file-size", &max_file.to_string()])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout from snak")?;
        // A thread reads stdout so the wait for `ready` has a deadline even if snak hangs.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut web = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let w: Vec<&str> = line.split_whitespace().collect();
                    match w.as_slice() {
                        ["listening", "web", a] => web = a.parse().ok(),
                        ["ready"] => break,
                        _ => {}
                    }
                }
                Err(_) => {
                    stop(&mut child);
                    return Err(format!(
                        "snak did not print `ready` within 10 s (log: {})",
                        log.display()
                    ));
                }
            }
        }
        let Some(web) = web else {
            stop(&mut child);
            return Err("snak printed no `listening web ADDR` line".into());
        };
        Ok(Snak { child, web, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Snak {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// SIGTERM by PID, then SIGKILL if it has not ended within 5 s.
fn stop(child: &mut Child) {
    signal(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill only sends a signal to the one PID given.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// CPU seconds (user + system, every thread) from /proc/PID/stat, in clock ticks (10 ms).
fn cpu_secs(stat: &str) -> Result<f64, String> {
    let s = std::fs::read_to_string(stat).map_err(|e| format!("{stat}: {e}"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = s
        .rfind(')')
        .and_then(|i| s.get(i + 2..))
        .ok_or(format!("{stat}: unexpected format"))?;
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    let field = |i: usize| -> Result<u64, String> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or(format!("{stat}: no field {}", i + 3))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((field(11)? + field(12)?) as f64 / hz)
}

/// A field of /proc/PID/status in KiB (`VmRSS:`, `VmHWM:`).
fn status_kib(pid: u32, name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The server's RSS every 100 ms until stopped: (samples in KiB).
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<Vec<u64>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = status_kib(pid, "VmRSS:") {
                    samples.push(kib);
                }
                next += SAMPLE_EVERY;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

// ------------------------------------------------------------------------------ the bytes

/// The file's content: 64-bit word K is splitmix64(K), little-endian; never periodic, so a
/// chunk lost, repeated or moved changes the checksum.
struct Pattern {
    word: u64,
}

impl Pattern {
    /// Fills `buf` (a multiple of 8 bytes long) with the next words.
    fn fill(&mut self, buf: &mut [u8]) {
        for w in buf.chunks_exact_mut(8) {
            w.copy_from_slice(&splitmix64(self.word).to_le_bytes());
            self.word += 1;
        }
    }
}

fn splitmix64(k: u64) -> u64 {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An order-sensitive checksum over 64-bit words, fed in pieces of any length.
#[derive(Default)]
struct Checksum {
    h: u64,
    pending: [u8; 8],
    npending: usize,
    len: u64,
}

impl Checksum {
    fn word(&mut self, w: u64) {
        self.h = (self.h.rotate_left(23) ^ w).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.npending > 0 {
            let take = (8 - self.npending).min(bytes.len());
            self.pending[self.npending..self.npending + take].copy_from_slice(&bytes[..take]);
            self.npending += take;
            bytes = &bytes[take..];
            if self.npending < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.pending));
            self.npending = 0;
        }
        let words = bytes.chunks_exact(8);
        let tail = words.remainder();
        for w in words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.word(u64::from_le_bytes(b));
        }
        self.pending[..tail.len()].copy_from_slice(tail);
        self.npending = tail.len();
    }

    fn finish(mut self) -> (u64, u64) {
        if self.npending > 0 {
            let mut b = [0u8; 8];
            b[..self.npending].copy_from_slice(&self.pending[..self.npending]);
            self.word(u64::from_le_bytes(b));
        }
        let len = self.len;
        self.word(len);
        (self.h, len)
    }
}

// ------------------------------------------------------------------------------ HTTP

/// Reads an HTTP response head from `s`: (status, head, body bytes already read past it).
fn read_head(s: &mut TcpStream) -> Result<(u16, String, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 16 * 1024 {
            return Err("a response head over 16 KiB".into());
        }
        let n = s
            .read(&mut chunk)
            .map_err(|e| format!("reading a response: {e}"))?;
        if n == 0 {
            return Err(format!(
                "closed before a response head: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("not an HTTP response: {head:?}"))?;
    Ok((status, head, buf[end + 4..].to_vec()))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    Ok(s)
}

/// The recipient's download: `GET /f/TOKEN`, the body read to its end and summed.
fn download(
    web: SocketAddr,
    token: &str,
    size: u64,
    timeout: Duration,
) -> Result<(u64, u64), String> {
    let mut s = connect(web, timeout)?;
    write!(
        s,
        "GET /f/{token} HTTP/1.1\r\nHost: {web}\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
    )
    .map_err(|e| format!("download request: {e}"))?;
    let (status, head, first) = read_head(&mut s)?;
    if status != 200 {
        return Err(format!("download: {status}: {head}"));
    }
    let length: Option<u64> = header(&head, "Content-Length").and_then(|v| v.parse().ok());
    if length != Some(size) {
        return Err(format!("download: Content-Length {length:?}, not {size}"));
    }
    let mut sum = Checksum::default();
    let mut got = first.len() as u64;
    sum.update(&first);
    let mut buf = vec![0u8; CHUNK];
    while got < size {
        let want = (size - got).min(CHUNK as u64) as usize;
        let n = s
            .read(&mut buf[..want])
            .map_err(|e| format!("download: after {got} of {size} bytes: {e}"))?;
        if n == 0 {
            return Err(format!("download: closed after {got} of {size} bytes"));
        }
        sum.update(&buf[..n]);
        got += n as u64;
    }
    if got > size {
        return Err(format!("download: {got} bytes, more than {size}"));
    }
    Ok(sum.finish())
}

/// The sender's upload: `PUT /f/TOKEN` with the generated body; `200` expected.
fn upload(
    web: SocketAddr,
    token: &str,
    size: u64,
    timeout: Duration,
) -> Result<(u64, u64), String> {
    let mut s = connect(web, timeout)?;
    write!(
        s,
        "PUT /f/{token} HTTP/1.1\r\nHost: {web}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {size}\r\n\r\n"
    )
    .map_err(|e| format!("upload request: {e}"))?;
    let mut pattern = Pattern { word: 0 };
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < size {
        let n = (size - sent).min(CHUNK as u64) as usize;
        pattern.fill(&mut buf);
        sum.update(&buf[..n]);
        if let Err(e) = s.write_all(&buf[..n]) {
            // The server may have answered (and closed) before taking everything.
            let answer = read_head(&mut s)
                .map(|(st, head, _)| format!(" (answered {st}: {head:?})"))
                .unwrap_or_default();
            return Err(format!("upload: after {sent} of {size} bytes: {e}{answer}"));
        }
        sent += n as u64;
    }
    let (status, head, _) = read_head(&mut s)?;
    if status != 200 {
        return Err(format!("upload: {status}: {head}"));
    }
    Ok(sum.finish())
}

// ------------------------------------------------------------------------------ WebSocket

/// A web client as the page is: IRC over a WebSocket (`text.ircv3.net`). A thread reads its
/// frames, answers pings (WebSocket and IRC) and passes the IRC lines on, so the connection
/// stays alive however long the transfer takes.
struct Ws {
    w: Arc<Mutex<TcpStream>>,
    lines: Receiver<String>,
    nick: String,
}

fn send_frame(w: &Mutex<TcpStream>, opcode: u8, payload: &[u8]) -> Result<(), String> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    // Client frames must be masked; the key need not be secret here.
    let key = [0x5a, 0x17, 0xc3, 0x8e];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let mut s = w.lock().map_err(|_| "a writer panicked".to_string())?;
    s.write_all(&f).map_err(|e| format!("WebSocket write: {e}"))
}

/// Reads frames until the connection ends, passing each text line to `tx`.
fn ws_reader(mut r: TcpStream, mut buf: Vec<u8>, w: Arc<Mutex<TcpStream>>, tx: Sender<String>) {
    let mut message = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        // One whole frame in `buf`?
        let frame = (|| {
            let b1 = *buf.get(1)?;
            let (len, mut at) = match b1 & 0x7f {
                126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(buf.get(2..10)?);
                    (u64::from_be_bytes(b) as usize, 10)
                }
                n => (n as usize, 2),
            };
            let mask = if b1 & 0x80 != 0 {
                let m = [
                    *buf.get(at)?,
                    *buf.get(at + 1)?,
                    *buf.get(at + 2)?,
                    *buf.get(at + 3)?,
                ];
                at += 4;
                Some(m)
            } else {
                None
            };
            let mut payload = buf.get(at..at.checked_add(len)?)?.to_vec();
            if let Some(m) = mask {
                payload
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b ^= m[i % 4]);
            }
            Some((buf[0], at + len, payload))
        })();
        let Some((b0, used, payload)) = frame else {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        buf.drain(..used);
        match b0 & 0x0f {
            0..=2 => {
                message.extend_from_slice(&payload);
                if b0 & 0x80 == 0 {
                    continue;
                }
                let text = String::from_utf8_lossy(&message).into_owned();
                message.clear();
                for line in text.split(['\r', '\n']).filter(|l| !l.is_empty()) {
                    if let Some(token) = line.strip_prefix("PING ") {
                        let _ = send_frame(&w, 1, format!("PONG {token}").as_bytes());
                    }
                    if tx.send(line.to_string()).is_err() {
                        return;
                    }
                }
            }
            8 => {
                let _ = tx.send(format!(
                    "(WebSocket closed by the server: {})",
                    String::from_utf8_lossy(payload.get(2..).unwrap_or_default())
                ));
                return;
            }
            9 => {
                let _ = send_frame(&w, 10, &payload);
            }
            _ => {}
        }
    }
}

/// The IRC command of a line (tags and prefix skipped) and its parameters.
fn irc_words(line: &str) -> Vec<&str> {
    let mut rest = line;
    if rest.starts_with('@') {
        rest = rest.split_once(' ').map_or("", |(_, r)| r);
    }
    if rest.starts_with(':') {
        rest = rest.split_once(' ').map_or("", |(_, r)| r);
    }
    let (words, trailing) = match rest.split_once(" :") {
        Some((w, t)) => (w, Some(t)),
        None => (rest, None),
    };
    let mut v: Vec<&str> = words.split(' ').filter(|w| !w.is_empty()).collect();
    v.extend(trailing);
    v
}

impl Ws {
    /// Opens the WebSocket as the page does and registers `nick` with `snak.chat/files`.
    fn register(web: SocketAddr, nick: &str, deadline: Instant) -> Result<Ws, String> {
        let mut s = connect(web, Duration::from_secs(30))?;
        s.set_nodelay(true).ok();
        // The page's own origin, as a browser on it sends it.
        write!(
            s,
            "GET /ws HTTP/1.1\r\nHost: {web}\r\nOrigin: http://{web}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: c25hayBmaWxlIGJlbmNoIQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: text.ircv3.net\r\n\r\n"
        )
        .map_err(|e| format!("WebSocket handshake: {e}"))?;
        let (status, head, rest) = read_head(&mut s)?;
        if status != 101 || header(&head, "Sec-WebSocket-Protocol") != Some("text.ircv3.net") {
            return Err(format!("WebSocket handshake refused: {head}"));
        }
        s.set_read_timeout(None).ok();
        let w = Arc::new(Mutex::new(
            s.try_clone().map_err(|e| format!("clone a socket: {e}"))?,
        ));
        let (tx, lines) = mpsc::channel();
        let writer = w.clone();
        thread::spawn(move || ws_reader(s, rest, writer, tx));
        let ws = Ws {
            w,
            lines,
            nick: nick.to_string(),
        };
        ws.send("CAP LS 302")?;
        ws.send(&format!("NICK {nick}"))?;
        ws.send(&format!("USER {nick} 0 * :snak web client"))?;
        // CAP LS 302 may come in several lines; the last has no `*` before its list.
        let mut files = false;
        loop {
            let line = ws.expect(deadline, |w| {
                w.first() == Some(&"CAP") && w.get(2) == Some(&"LS")
            })?;
            let w = irc_words(&line);
            files |= w.last().is_some_and(|caps| {
                caps.split(' ')
                    .any(|c| c.split('=').next() == Some("snak.chat/files"))
            });
            if w.get(3) != Some(&"*") {
                break;
            }
        }
        if !files {
            return Err("snak does not offer the capability snak.chat/files".into());
        }
        ws.send("CAP REQ :snak.chat/files")?;
        let ack = ws.expect(deadline, |w| {
            w.first() == Some(&"CAP") && matches!(w.get(2), Some(&"ACK") | Some(&"NAK"))
        })?;
        if irc_words(&ack).get(2) != Some(&"ACK") {
            return Err(format!("{nick}: snak.chat/files refused: {ack}"));
        }
        ws.send("CAP END")?;
        ws.expect(deadline, |w| w.first() == Some(&"001"))?;
        Ok(ws)
    }

    fn send(&self, line: &str) -> Result<(), String> {
        send_frame(&self.w, 1, line.as_bytes())
    }

    /// The next line whose words satisfy `want`; a FILE ABORT, an IRC error or the end of the
    /// connection fail.
    fn expect(&self, deadline: Instant, want: impl Fn(&[&str]) -> bool) -> Result<String, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => format!("{}: over time", self.nick),
                mpsc::RecvTimeoutError::Disconnected => {
                    format!("{}: the WebSocket ended", self.nick)
                }
            })?;
            let w = irc_words(&line);
            if want(&w) {
                return Ok(line);
            }
            let failed = matches!(w.first(), Some(&"ERROR") | Some(&"FAIL"))
                || (w.first() == Some(&"FILE") && w.get(1) == Some(&"ABORT"))
                || line.starts_with("(WebSocket closed")
                // An error numeric, but 422 (no MOTD) which only says the server has none.
                || w.first().is_some_and(|c| {
                    c.len() == 3 && c.starts_with(['4', '5']) && *c != "422"
                });
            if failed {
                return Err(format!("{}: {line}", self.nick));
            }
        }
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        let _ = self.send("QUIT :done");
        if let Ok(s) = self.w.lock() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

// ------------------------------------------------------------------------------ the run

struct Measure {
    wall: Duration,
    server_cpu: f64,
    bench_cpu: f64,
    rss: Vec<u64>,
    hwm: Option<u64>,
    sum: (u64, u64),
}

fn transfer(snak: &Snak, size: u64, timeout: Duration) -> Result<Measure, String> {
    let deadline = Instant::now() + timeout;
    let web = snak.web;
    let sender = Ws::register(web, "sender", deadline)?;
    let recipient = Ws::register(web, "recipient", deadline)?;
    sender.send(&format!("FILE OFFER recipient {size} :bench.bin"))?;
    // :SERVER FILE OFFERED ID NICK SIZE TOKEN :NAME
    let offered = sender.expect(deadline, |w| w.starts_with(&["FILE", "OFFERED"]))?;
    let w = irc_words(&offered);
    let (id, up_token) = match (w.get(2), w.get(5)) {
        (Some(id), Some(t)) => (id.to_string(), t.to_string()),
        _ => return Err(format!("a short FILE OFFERED: {offered}")),
    };
    // :NICK!USER@HOST FILE OFFER ID SIZE TOKEN :NAME
    let offer = recipient.expect(deadline, |w| {
        w.starts_with(&["FILE", "OFFER"]) && w.get(2) == Some(&id.as_str())
    })?;
    let down_token = irc_words(&offer)
        .get(4)
        .map(|t| t.to_string())
        .ok_or(format!("a short FILE OFFER: {offer}"))?;

    let pid = snak.pid();
    let stat = format!("/proc/{pid}/stat");
    let sampler = Sampler::start(pid);
    let cpu0 = cpu_secs(&stat)?;
    let self0 = cpu_secs("/proc/self/stat")?;
    let t0 = Instant::now();
    let io_timeout = deadline
        .saturating_duration_since(t0)
        .max(Duration::from_secs(1));
    // The recipient accepts by downloading; the sender uploads once told it was accepted.
    let (done_tx, done) = mpsc::channel();
    let tx = done_tx.clone();
    thread::spawn(move || {
        let _ = tx.send(("download", download(web, &down_token, size, io_timeout)));
    });
    let accepted =
        |w: &[&str]| w.starts_with(&["FILE", "ACCEPTED"]) && w.get(2) == Some(&id.as_str());
    sender.expect(deadline, accepted)?;
    thread::spawn(move || {
        let _ = done_tx.send(("upload", upload(web, &up_token, size, io_timeout)));
    });
    let mut sums = Vec::new();
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (what, result) = done
            .recv_timeout(left)
            .map_err(|_| "the transfer went over time".to_string())?;
        sums.push((what, result?));
    }
    let wall = t0.elapsed();
    let is_done = |w: &[&str]| w.starts_with(&["FILE", "DONE"]) && w.get(2) == Some(&id.as_str());
    sender.expect(deadline, is_done)?;
    recipient.expect(deadline, is_done)?;
    let server_cpu = cpu_secs(&stat)? - cpu0;
    let bench_cpu = cpu_secs("/proc/self/stat")? - self0;
    let rss = sampler.finish();
    let hwm = status_kib(pid, "VmHWM:");
    let get = |name| sums.iter().find(|(w, _)| *w == name).map(|(_, s)| *s);
    let (sent, got) = (get("upload"), get("download"));
    let (Some(sent), Some(got)) = (sent, got) else {
        return Err("a side reported nothing".into());
    };
    if sent != got || got.1 != size {
        return Err(format!(
            "the bytes differ: sent {} bytes, checksum {:016x}; received {} bytes, checksum {:016x}",
            sent.1, sent.0, got.1, got.0
        ));
    }
    Ok(Measure {
        wall,
        server_cpu,
        bench_cpu,
        rss,
        hwm,
        sum: got,
    })
}

fn run() -> Result<(), String> {
    let o = opts()?;
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let load0 = loadavg();
    let snak = Snak::start(&o.snak, o.size)?;
    // Whatever hangs, the run ends: snak stopped by its PID, a non-zero exit.
    let pid = snak.pid();
    let timeout = o.timeout;
    thread::spawn(move || {
        thread::sleep(timeout + Duration::from_secs(5));
        eprintln!(
            "file_bench: over the {} s timeout; stopping",
            timeout.as_secs()
        );
        signal(pid, libc::SIGKILL);
        std::process::exit(2);
    });
    let m = transfer(&snak, o.size, o.timeout).map_err(|e| {
        let log = std::fs::read_to_string(&snak.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{e}\nsnak's log, last lines:\n{}", tail.join("\n"))
    })?;
    drop(snak);
    let secs = m.wall.as_secs_f64().max(1e-9);
    let gib = o.size as f64 / GIB as f64;
    let (start, max, end) = (
        m.rss.first().copied().unwrap_or(0),
        m.rss.iter().copied().max().unwrap_or(0),
        m.rss.last().copied().unwrap_or(0),
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "file_bench: {} bytes ({:.3} GiB) from one web client to another through snak \
         (WebSocket text.ircv3.net with snak.chat/files; GET and PUT /f/TOKEN; loopback)",
        o.size, gib
    );
    println!(
        "  wall time    {secs:.2} s (the download's GET to its last byte and the upload's 200)"
    );
    println!(
        "  throughput   {:.1} MB/s ({:.1} MiB/s)",
        o.size as f64 / secs / 1e6,
        o.size as f64 / secs / MIB
    );
    println!(
        "  server CPU   {:.2} s, {:.2} s per GiB ({:.0}% of one core over the wall time)",
        m.server_cpu,
        m.server_cpu / gib,
        100.0 * m.server_cpu / secs
    );
    println!(
        "  server RSS   start {:.1} MiB, max {:.1} MiB, end {:.1} MiB ({} samples every {} ms; \
         VmHWM {} MiB, the peak since snak started)",
        mib(start),
        mib(max),
        mib(end),
        m.rss.len(),
        SAMPLE_EVERY.as_millis(),
        m.hwm.map_or("?".into(), |k| format!("{:.1}", mib(k)))
    );
    println!(
        "  bench CPU    {:.2} s (both clients: the pattern, the checksums, the sockets)",
        m.bench_cpu
    );
    println!(
        "  machine      {cores} CPUs, load average {load0} before, {} after",
        loadavg()
    );
    println!(
        "  bytes        {} received, checksum {:016x} = sent: ok",
        m.sum.1, m.sum.0
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("file_bench: {e}");
        std::process::exit(1);
    }
}
