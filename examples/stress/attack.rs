//! `amplify`: the attack of issue 10. Three members and one attacker in `#big`; the attacker
//! sends four lines naming `#big` 800 times with a 4000-byte text (native `/msg`, IRC
//! `PRIVMSG`; over IRC also four that fit in 512 bytes, 80 targets and 80 bytes of text),
//! with the server's default flood limit on. Counted: the copies each member got, whether an
//! ordinary member was dropped, how the attacker was answered (refusals, flood warnings, a
//! drop), and whether the members still hear each other afterwards.
//!
//! A handful of blocking sockets with short read timeouts: no event loop needed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::daemon;
use crate::report::Row;
use crate::Opts;

const ROOM: &str = "#big";
const REPEATS: usize = 800;
const TEXT: usize = 4000;
const LINES: usize = 4;

struct Client {
    nick: String,
    sock: TcpStream,
    buf: Vec<u8>,
    closed: bool,
    /// Room messages from the attacker (members), refusals and flood warnings (attacker).
    copies: u64,
    refused: u64,
    slowed: u64,
    /// The liveness check's text arrived.
    heard: bool,
}

impl Client {
    fn connect(addr: SocketAddr, nick: &str) -> Result<Client, String> {
        let sock = TcpStream::connect(addr).map_err(|e| format!("{nick}: {e}"))?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(2)))
            .map_err(|e| e.to_string())?;
        sock.set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        Ok(Client {
            nick: nick.into(),
            sock,
            buf: Vec::new(),
            closed: false,
            copies: 0,
            refused: 0,
            slowed: 0,
            heard: false,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.sock
            .write_all(bytes)
            .map_err(|e| format!("{}: {e}", self.nick))
    }

    /// Reads what is there; returns the complete lines (without line ends).
    fn lines(&mut self) -> Vec<String> {
        let mut chunk = [0u8; 65536];
        if !self.closed {
            match self.sock.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.closed = true,
            }
        }
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line[..nl]);
            out.push(text.trim_end_matches('\r').to_string());
        }
        out
    }

    /// Reads until a line satisfies `want`, or the deadline.
    fn wait_for(&mut self, deadline: Instant, want: impl Fn(&str) -> bool) -> Result<(), String> {
        while Instant::now() < deadline {
            if self.lines().iter().any(|l| want(l)) {
                return Ok(());
            }
            if self.closed {
                return Err(format!("{}: closed by the server", self.nick));
            }
        }
        Err(format!("{}: timed out", self.nick))
    }
}

pub fn amplify(opts: &Opts, row: &mut Row) -> Result<(), String> {
    let irc = opts.target.proto == "irc";
    // The server's own defaults: flood limit on, default send queue.
    let log = opts.out.join(format!("{}-amplify.log", opts.target.label));
    let flags = vec!["--max-clients".to_string(), "64".to_string()];
    let (mut d, addr) = crate::peers::start(opts, flags, 8, &log)?;
    let pid = d.pid();
    row.conns = 4;
    let r = attack(addr, irc, pid, row);
    let stop = d.stop();
    r.map_err(|e| format!("{e}; {} on stop: {stop}", opts.target.label))
}

fn attack(addr: SocketAddr, irc: bool, pid: u32, row: &mut Row) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clients = Vec::new();
    for nick in ["member1", "member2", "member3", "attacker"] {
        let mut c = Client::connect(addr, nick)?;
        if irc {
            c.send(format!("NICK {nick}\r\nUSER {nick} 0 * :amplify\r\n").as_bytes())?;
            c.wait_for(deadline, |l| l.split(' ').nth(1) == Some("001"))?;
            c.send(format!("JOIN {ROOM}\r\n").as_bytes())?;
            let joined = format!(":{nick}!");
            c.wait_for(deadline, |l| l.starts_with(&joined) && l.contains(" JOIN "))?;
        } else {
            c.wait_for(deadline, |l| l.starts_with("* Hello"))?;
            c.send(format!("/nick {nick}\n/join {ROOM}\n").as_bytes())?;
            let joined = format!("* {nick} joined {ROOM}");
            c.wait_for(deadline, |l| l == joined)?;
        }
        clients.push(c);
    }
    // What arrived while the others joined is not part of the attack.
    std::thread::sleep(Duration::from_millis(100));
    for c in clients.iter_mut() {
        c.lines();
    }
    let targets = vec![ROOM; REPEATS].join(",");
    let text = "a".repeat(TEXT);
    let mut attack = Vec::new();
    for _ in 0..LINES {
        if irc {
            attack.extend_from_slice(format!("PRIVMSG {targets} :{text}\r\n").as_bytes());
        } else {
            attack.extend_from_slice(format!("/msg {targets} {text}\n").as_bytes());
        }
    }
    let mut lines = LINES;
    if irc {
        // The same within an IRC line's 512 bytes: 80 targets, 80 bytes of text.
        let (t, x) = (vec![ROOM; 80].join(","), "b".repeat(80));
        for _ in 0..LINES {
            attack.extend_from_slice(format!("PRIVMSG {t} :{x}\r\n").as_bytes());
        }
        lines += LINES;
    }
    let (s0, m0) = (daemon::cpu_secs(pid), daemon::machine_busy_secs());
    let t = Instant::now();
    clients[3].send(&attack)?;
    // Read until nothing has come for a second (at most 20 s).
    let end = t + Duration::from_secs(20);
    let mut last = Instant::now();
    while Instant::now() < end && last.elapsed() < Duration::from_secs(1) {
        for (k, c) in clients.iter_mut().enumerate() {
            let got = c.lines();
            if !got.is_empty() {
                last = Instant::now();
            }
            for l in got {
                classify(c, &l, k == 3, irc);
            }
        }
    }
    row.secs = t.elapsed().as_secs_f64();
    row.srv_cpu = daemon::cpu_secs(pid) - s0;
    row.other_cpu = (daemon::machine_busy_secs() - m0 - row.srv_cpu).max(0.0);
    row.rss_kib = daemon::mem_kib(pid);
    // Do the members still hear each other?
    let check = "alive after the attack";
    let say = if irc {
        format!("PRIVMSG {ROOM} :{check}\r\n")
    } else {
        format!("/say {ROOM} {check}\n")
    };
    if !clients[0].closed {
        clients[0].send(say.as_bytes())?;
    }
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !clients[1..3].iter().all(|c| c.heard || c.closed) {
        for (k, c) in clients.iter_mut().enumerate() {
            for l in c.lines() {
                if l.ends_with(check) {
                    c.heard = true;
                }
                classify(c, &l, k == 3, irc);
            }
        }
    }
    let members = &clients[..3];
    let copies_max = members.iter().map(|c| c.copies).max().unwrap_or(0);
    let dropped = members.iter().filter(|c| c.closed).count();
    let a = &clients[3];
    let alive = !clients[0].closed && clients[1..3].iter().all(|c| c.heard);
    row.count = members.iter().map(|c| c.copies).sum::<u64>() as f64;
    row.unit = "copies";
    row.figs = vec![
        ("lines", lines as f64),
        ("copies_max", copies_max as f64),
        ("dropped", dropped as f64),
        ("refused", a.refused as f64),
        ("slowed", a.slowed as f64),
        ("attacker_dropped", f64::from(u8::from(a.closed))),
        ("alive", f64::from(u8::from(alive))),
    ];
    row.extra =
        format!(
        "{lines} lines: copies per member {:?}, {dropped} members dropped; attacker: {} refused, \
         {} flood warnings, {}; members {} each other after",
        members.iter().map(|c| c.copies).collect::<Vec<_>>(),
        a.refused,
        a.slowed,
        if a.closed { "dropped" } else { "still connected" },
        if alive { "hear" } else { "do NOT hear" },
    );
    let mut problems = Vec::new();
    if copies_max > lines as u64 {
        problems.push(format!("a member got {copies_max} copies of {lines} lines"));
    }
    if dropped > 0 {
        problems.push(format!("{dropped} ordinary members were dropped"));
    }
    if !alive {
        problems.push("the members no longer hear each other".to_string());
    }
    if a.refused + a.slowed == 0 && !a.closed && copies_max > 0 {
        problems.push("the attacker was neither refused, slowed nor dropped".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Counts one line: a member's copy of the attack, or the attacker's refusals and warnings.
fn classify(c: &mut Client, line: &str, attacker: bool, irc: bool) {
    if attacker {
        let refusal = if irc {
            let cmd = line.split(' ').nth(1).unwrap_or("");
            cmd.len() == 3 && cmd.starts_with('4')
        } else {
            line.starts_with("! ") && !line.starts_with("! flood")
        };
        let warning = if irc {
            line.contains("send too fast")
        } else {
            line.starts_with("! flood")
        };
        c.refused += u64::from(refusal);
        c.slowed += u64::from(warning);
        return;
    }
    let copy = if irc {
        line.starts_with(":attacker!") && line.contains(" PRIVMSG ")
    } else {
        line.starts_with(&format!("{ROOM} <attacker> "))
    };
    c.copies += u64::from(copy);
}
