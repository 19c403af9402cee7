//! The client side: one mio event loop driving every simulated user, so the generator costs a
//! few microseconds per message and the figures describe the server.
//!
//! A run goes through phases (connect, join, traffic, drain), each a bounded loop that ends when
//! its goal is met, at its deadline, or when the server sends nothing for the stall time.
//! Every message carries (sender, sequence, timestamp); each receiver checks that each sender's
//! sequence arrives exactly once and in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::layer::{Layer, Transport};
use crate::net::{self, Io};
use crate::proto::{parse_payload, payload, Event, FileEvent, Lobby, Proto};
use crate::stats::Hist;

/// A file sender keeps at most this much queued in its own buffer.
const FILE_QUEUE: usize = 256 * 1024;
const FRAME: usize = 65536;
/// The kernel receive buffer of a client that never reads: small, so the server's queue for it
/// fills fast.
pub const SLOW_RCVBUF: usize = 4096;
/// Bytes of the file pattern: a prime period, so frames never line up with it.
const PATTERN: usize = 251;
/// The pacing timer's token (connections are 0..n).
const TIMER: Token = Token(usize::MAX);
/// A storm's reconnects come from source addresses this many clients further on, so they
/// never wait for a port of the connection they replace.
const ROUND_STRIDE: usize = 100_000;

/// A chat group: a room, or (room `None`) a pair exchanging direct messages.
pub struct Group {
    pub room: Option<String>,
    pub members: Vec<usize>,
    pub senders: Vec<usize>,
}

/// What to run. Connection indices are 0..n; nicks and source addresses use `first + i`.
pub struct Spec {
    pub n: usize,
    pub first: usize,
    pub groups: Vec<Group>,
    /// Messages per sender.
    pub msgs: u64,
    /// Messages a sender may have in flight (sent, not yet seen by its designated receiver).
    pub window: u64,
    /// Padding bytes per message.
    pub pad: usize,
    /// Messages per second per sender, for paced senders.
    pub rate: Option<f64>,
    /// Clients that stop reading once they have joined.
    pub slow: Vec<usize>,
    /// File transfers (from, to), each of `file_size` bytes.
    pub files: Vec<(usize, usize)>,
    pub file_size: u64,
    /// A group whose senders chat (at `rate`) for as long as the file transfers last.
    pub bystanders: Option<usize>,
    pub timeout: Duration,
    pub stall: Duration,
    /// Clients whose connect and registration are in flight at once: stays under the server's
    /// accept backlog (128 for a listener bound by Rust's std or mio). Past it a dropped SYN is
    /// retried only after a second or more, and with SYN cookies a handshake can complete on
    /// the client's side only: a native client, which waits for the server to speak first,
    /// then waits forever.
    pub connect_batch: usize,
    /// Where registration leaves a client.
    pub lobby: Lobby,
    /// What carries the protocol, and the TLS configuration if it is TLS.
    pub transport: Transport,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Spec {
    pub fn new(n: usize, timeout: Duration) -> Spec {
        Spec {
            n,
            first: 0,
            groups: Vec::new(),
            msgs: 0,
            window: 1,
            pad: 0,
            rate: None,
            slow: Vec::new(),
            files: Vec::new(),
            file_size: 0,
            bystanders: None,
            timeout,
            stall: Duration::from_secs(10),
            connect_batch: 100,
            lobby: Lobby::Out,
            transport: Transport::Plain,
            tls: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Stage {
    Idle,
    Connecting,
    Welcomed,
    Named,
    Joined,
}

struct Conn {
    sock: Option<TcpStream>,
    nick: String,
    stage: Stage,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
    /// False while a slow client ignores its socket.
    reading: bool,
    slow: bool,
    group: Option<usize>,
    /// (sender, next expected sequence) for each sender this client hears.
    expect: Vec<(u32, u64)>,
    /// Raw file bytes still to come after a `% data` line.
    binary_left: usize,
    file: Option<usize>,
    queued: bool,
    /// TLS or WebSocket under the protocol (None: plain TCP, written straight from `wbuf`).
    layer: Option<Box<Layer>>,
    /// Wire bytes from the layer not yet written.
    wire: Vec<u8>,
    wire_pos: usize,
    /// Sent its quit in a storm: what it hears now is ignored, its close is expected.
    quitting: bool,
    /// Join/part churn: pairs sent and parts seen.
    churn_sent: u64,
    churn_done: u64,
}

struct Sender {
    conn: usize,
    target: String,
    room: bool,
    /// Messages to send; for bystanders it is fixed when the transfers end.
    m: u64,
    sent: u64,
    /// Sequences below this were seen by the designated receiver.
    acked: u64,
    designated: usize,
    /// Receivers that must get every message (not counting slow ones).
    receivers: u64,
    rate: Option<f64>,
}

struct FileJob {
    from: usize,
    to: usize,
    id: Option<u64>,
    sent: u64,
    received: u64,
    streaming: bool,
    done_from: bool,
    done_to: bool,
}

/// What a run measured and found.
#[derive(Default)]
pub struct Outcome {
    pub delivered: u64,
    pub expected: u64,
    pub dup: u64,
    pub gaps: u64,
    pub foreign: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    pub slow_dropped: u64,
    pub slow_delivered: u64,
    pub sendq_quits: u64,
    pub file_bytes: u64,
    /// Storm: clients that quit and came back; churn: join/part pairs done.
    pub storm_back: u64,
    pub churned: u64,
    pub traffic: Duration,
    pub connect: Duration,
    /// Reads, and those the kernel gave no arrival timestamp for.
    pub reads: u64,
    pub unstamped: u64,
}

pub struct Engine<'p> {
    proto: &'p dyn Proto,
    addr: SocketAddr,
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    senders: Vec<Sender>,
    jobs: Vec<FileJob>,
    spec: Spec,
    start: Instant,
    deadline: Instant,
    last_progress: Instant,
    /// Send to receipt of each message, per receiver.
    pub hist: Hist,
    /// Paced senders only: how late the generator itself sent each message (actual send time
    /// minus the time it was due). Large values mean the generator, not the server, was busy.
    pub lag: Hist,
    pub out: Outcome,
    scratch: Vec<u8>,
    tmp: Vec<u8>,
    pattern: Vec<u8>,
    /// Connections with output waiting to be written.
    dirty: Vec<usize>,
    /// Senders whose window opened.
    pump: Vec<usize>,
    next_connect: usize,
    inflight: usize,
    welcomed: usize,
    named: usize,
    joined: usize,
    traffic_start: Option<Instant>,
    last_delivery: Instant,
    fatal: Option<String>,
    /// CLOCK_REALTIME at `start`.
    rt_start: u64,
    /// The receipt time of what the last read brought (as `now_ns`): the kernel's timestamp
    /// of its arrival, or when the read returned if there was none.
    read_ns: u64,
    /// A timerfd that wakes the loop when the next paced message is due. epoll's timeout has
    /// millisecond granularity (mio rounds up), which alone made paced sends up to 1 ms late.
    timer: Timer,
    /// Storm: quits go out while on, clients that have closed wait here to reconnect.
    storming: bool,
    quit_next: usize,
    reconnect: Vec<usize>,
    round: usize,
    /// Join/part churn: the room, the clients, the pairs each sends.
    churn: Option<(String, Vec<usize>, u64)>,
}

/// A one-shot CLOCK_MONOTONIC timerfd with nanosecond resolution, closed on drop.
struct Timer(i32);

impl Timer {
    fn new() -> std::io::Result<Timer> {
        // SAFETY: creates a descriptor we own from here on.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Timer(fd))
    }

    /// Fires once, `after` from now (at least 1 ns: zero would disarm it).
    fn arm(&self, after: Duration) {
        let ns = after.as_nanos().clamp(1, 1_000_000_000_000) as i64;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: ns / 1_000_000_000,
                tv_nsec: ns % 1_000_000_000,
            },
        };
        // SAFETY: our descriptor, a valid itimerspec, no old value wanted.
        unsafe { libc::timerfd_settime(self.0, 0, &spec, std::ptr::null_mut()) };
    }

    /// Consumes the expiry count, so the next expiry raises a new edge.
    fn clear(&self) {
        let mut n = 0u64;
        // SAFETY: reads 8 bytes into a u64 of ours; a non-blocking fd, EAGAIN is fine.
        unsafe { libc::read(self.0, (&mut n as *mut u64).cast(), 8) };
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: our descriptor, closed once.
        unsafe { libc::close(self.0) };
    }
}

impl<'p> Engine<'p> {
    pub fn new(proto: &'p dyn Proto, addr: SocketAddr, spec: Spec) -> std::io::Result<Engine<'p>> {
        let now = Instant::now();
        let poll = Poll::new()?;
        let timer = Timer::new()?;
        poll.registry()
            .register(&mut SourceFd(&timer.0), TIMER, Interest::READABLE)?;
        let conns = (0..spec.n)
            .map(|i| Conn {
                sock: None,
                nick: format!("c{}", spec.first + i),
                stage: Stage::Idle,
                rbuf: Vec::new(),
                wbuf: Vec::new(),
                wpos: 0,
                reading: true,
                slow: false,
                group: None,
                expect: Vec::new(),
                binary_left: 0,
                file: None,
                queued: false,
                layer: None,
                wire: Vec::new(),
                wire_pos: 0,
                quitting: false,
                churn_sent: 0,
                churn_done: 0,
            })
            .collect();
        let mut e = Engine {
            proto,
            addr,
            poll,
            events: Events::with_capacity(1024),
            conns,
            senders: Vec::new(),
            jobs: Vec::new(),
            deadline: now + spec.timeout,
            spec,
            start: now,
            last_progress: now,
            hist: Hist::new(),
            lag: Hist::new(),
            out: Outcome::default(),
            scratch: vec![0; 256 * 1024],
            tmp: Vec::new(),
            pattern: (0..PATTERN * (FRAME / PATTERN + 2))
                .map(|i| (i % PATTERN) as u8)
                .collect(),
            dirty: Vec::new(),
            pump: Vec::new(),
            next_connect: 0,
            inflight: 0,
            welcomed: 0,
            named: 0,
            joined: 0,
            traffic_start: None,
            last_delivery: now,
            fatal: None,
            read_ns: 0,
            rt_start: net::realtime_ns(),
            timer,
            storming: false,
            quit_next: 0,
            reconnect: Vec::new(),
            round: 0,
            churn: None,
        };
        e.plan();
        Ok(e)
    }

    /// Turns the spec into per-client roles, senders and expectations.
    fn plan(&mut self) {
        for &s in &self.spec.slow {
            self.conns[s].slow = true;
        }
        let rate_for = |g: usize, spec: &Spec| match spec.bystanders {
            Some(b) if b == g => spec.rate,
            Some(_) => None,
            None => spec.rate,
        };
        for (g, group) in self.spec.groups.iter().enumerate() {
            for &m in &group.members {
                self.conns[m].group = Some(g);
            }
            for &s in &group.senders {
                let sid = self.senders.len() as u32;
                // The designated receiver: a reading member other than the sender, from the end.
                let designated = *group
                    .members
                    .iter()
                    .rev()
                    .find(|&&m| m != s && !self.conns[m].slow)
                    .expect("a group needs a reading receiver");
                let mut receivers = 0;
                for &m in group.members.iter().filter(|&&m| m != s) {
                    self.conns[m].expect.push((sid, 0));
                    receivers += u64::from(!self.conns[m].slow);
                }
                let (target, room) = match &group.room {
                    Some(r) => (r.clone(), true),
                    None => (self.conns[designated].nick.clone(), false),
                };
                let bystander = self.spec.bystanders == Some(g);
                self.senders.push(Sender {
                    conn: s,
                    target,
                    room,
                    m: if bystander { u64::MAX } else { self.spec.msgs },
                    sent: 0,
                    acked: 0,
                    designated,
                    receivers,
                    rate: rate_for(g, &self.spec),
                });
            }
        }
        for (j, &(from, to)) in self.spec.files.iter().enumerate() {
            self.conns[from].file = Some(j);
            self.conns[to].file = Some(j);
            self.jobs.push(FileJob {
                from,
                to,
                id: None,
                sent: 0,
                received: 0,
                streaming: false,
                done_from: false,
                done_to: false,
            });
        }
    }

    /// Message timestamps: CLOCK_REALTIME ns since the run began, the clock the kernel stamps
    /// received data with.
    fn now_ns(&self) -> u64 {
        net::realtime_ns().saturating_sub(self.rt_start)
    }

    /// Connects every client and waits until each is registered and named.
    pub fn connect(&mut self) -> Result<(), String> {
        let t = Instant::now();
        self.run_until("connect", |e| e.welcomed == e.spec.n)?;
        self.out.connect = t.elapsed();
        self.run_until("register", |e| e.named == e.spec.n)
    }

    /// Every member joins its group's room; waits for each one's own join line.
    pub fn join(&mut self) -> Result<(), String> {
        let mut want = 0;
        for g in 0..self.spec.groups.len() {
            let Some(room) = self.spec.groups[g].room.clone() else {
                continue;
            };
            for i in 0..self.spec.groups[g].members.len() {
                let m = self.spec.groups[g].members[i];
                self.proto.join(&room, &mut self.conns[m].wbuf);
                self.mark(m);
                want += 1;
            }
        }
        self.run_until("join", |e| e.joined == want)?;
        for c in 0..self.conns.len() {
            if self.conns[c].slow {
                self.conns[c].reading = false;
            }
        }
        Ok(())
    }

    /// A reconnect storm: every client quits and, once the server has closed it, connects and
    /// registers again (at most `connect_batch` of them between quit and registration at
    /// once). Ends when all are back.
    pub fn storm(&mut self) -> Result<(), String> {
        self.storming = true;
        self.round += 1;
        (self.quit_next, self.welcomed, self.named) = (0, 0, 0);
        let r = self.run_until("storm", |e| {
            e.quit_next == e.spec.n && e.named == e.spec.n && e.reconnect.is_empty()
        });
        self.storming = false;
        self.out.storm_back = self.named as u64;
        r
    }

    /// Join/part churn: each of `clients` joins and parts `room` `pairs` times, with at most
    /// `window` pairs unconfirmed (its own part line confirms one). Ends when all are done.
    pub fn churn(&mut self, room: &str, clients: Vec<usize>, pairs: u64) -> Result<(), String> {
        for &c in &clients {
            // Past `Named`: its own join lines are not registration any more.
            self.conns[c].stage = Stage::Joined;
        }
        let want = clients.len() as u64 * pairs;
        self.churn = Some((room.to_string(), clients, pairs));
        let r = self.run_until("join/part", |e| e.out.churned == want);
        self.churn = None;
        r
    }

    /// Sends every message (and file) and waits until every reading receiver has them all.
    pub fn traffic(&mut self) -> Result<(), String> {
        let t = Instant::now();
        self.traffic_start = Some(t);
        self.pump = (0..self.senders.len()).collect();
        for j in 0..self.jobs.len() {
            let (from, to) = (self.jobs[j].from, self.jobs[j].to);
            let nick = self.conns[to].nick.clone();
            self.proto.offer(
                &nick,
                self.spec.file_size,
                &format!("stress file {j}.bin"),
                &mut self.conns[from].wbuf,
            );
            self.mark(from);
        }
        let r = self.run_until("traffic", |e| e.traffic_done());
        self.out.traffic = self
            .last_delivery
            .saturating_duration_since(t)
            .max(Duration::from_micros(1));
        if !self.jobs.is_empty() {
            self.out.traffic = t.elapsed();
        }
        r
    }

    fn traffic_done(&self) -> bool {
        self.jobs.iter().all(|j| j.done_from && j.done_to)
            && self.senders.iter().all(|s| s.sent == s.m)
            && self.out.delivered == self.expected()
    }

    fn expected(&self) -> u64 {
        self.senders
            .iter()
            .map(|s| s.m.saturating_mul(s.receivers))
            .fold(0, u64::saturating_add)
    }

    /// The clients that never read now read what is left: each must have been dropped by the
    /// server or have got everything, and what it got must be in order.
    pub fn drain_slow(&mut self) -> Result<(), String> {
        if self.spec.slow.is_empty() {
            return Ok(());
        }
        self.deadline = self.deadline.max(Instant::now() + Duration::from_secs(10));
        for s in self.spec.slow.clone() {
            self.conns[s].reading = true;
            // Edge-triggered: no new event will come for data already waiting, so read now.
            self.read_conn(s);
        }
        self.run_until("drain slow clients", |e| {
            e.spec.slow.iter().all(|&s| {
                let c = &e.conns[s];
                c.sock.is_none()
                    || c.expect
                        .iter()
                        .all(|&(sid, next)| next == e.senders[sid as usize].m)
            })
        })
    }

    /// The end-of-run check: exactly once, in order, nothing missing, no error replies.
    pub fn verify(&mut self) -> Result<(), String> {
        self.out.expected = self.expected();
        let mut problems = Vec::new();
        for (i, c) in self.conns.iter().enumerate() {
            for &(sid, next) in &c.expect {
                let m = self.senders[sid as usize].m;
                if next != m && !(c.slow && c.sock.is_none()) {
                    problems.push(format!(
                        "{} (client {i}) got {next} of {m} messages from sender {sid}",
                        c.nick
                    ));
                }
            }
        }
        for (j, job) in self.jobs.iter().enumerate() {
            if job.received != self.spec.file_size || !job.done_to || !job.done_from {
                problems.push(format!(
                    "file {j}: {} of {} bytes, done {}/{}",
                    job.received, self.spec.file_size, job.done_from, job.done_to
                ));
            }
        }
        let o = &self.out;
        if o.dup + o.gaps + o.foreign + o.errors > 0 {
            problems.push(format!(
                "{} duplicated or reordered, {} skipped, {} unexpected, {} error replies {:?}",
                o.dup, o.gaps, o.foreign, o.errors, o.first_errors
            ));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let n = problems.len();
        problems.truncate(5);
        Err(format!("{n} problems: {}", problems.join("; ")))
    }

    /// The event loop, until `done` holds. Bounded by the run's deadline and by the stall time.
    fn run_until(&mut self, what: &str, done: impl Fn(&Engine) -> bool) -> Result<(), String> {
        self.last_progress = Instant::now();
        loop {
            self.start_connects();
            self.pump_senders();
            self.pump_churn();
            self.flush_dirty();
            if let Some(f) = self.fatal.take() {
                return Err(format!("{what}: {f}"));
            }
            if done(self) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(format!("{what}: timed out ({})", self.progress()));
            }
            if now.duration_since(self.last_progress) >= self.spec.stall {
                return Err(format!(
                    "{what}: the server sent nothing for {:?} ({})",
                    self.spec.stall,
                    self.progress()
                ));
            }
            let mut timeout = Duration::from_millis(50);
            match self.next_due() {
                Some(d) if d.is_zero() => timeout = d,
                Some(d) if d < timeout => self.timer.arm(d),
                _ => {}
            }
            if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(format!("poll: {e}"));
                }
            }
            let ready: Vec<(usize, bool, bool)> = self
                .events
                .iter()
                .map(|ev| {
                    (
                        ev.token().0,
                        ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                        ev.is_writable(),
                    )
                })
                .collect();
            for (c, r, w) in ready {
                if c == TIMER.0 {
                    self.timer.clear();
                    continue;
                }
                if c >= self.conns.len() || self.conns[c].sock.is_none() {
                    continue;
                }
                if w {
                    self.flush(c);
                    self.pump_file(c);
                }
                if r && self.conns[c].reading {
                    self.read_conn(c);
                }
            }
        }
    }

    fn progress(&self) -> String {
        format!(
            "{}/{} connected, {} named, {} joined, {}/{} deliveries, {} file bytes, files {}/{} done, errors {:?}",
            self.welcomed,
            self.spec.n,
            self.named,
            self.joined,
            self.out.delivered,
            match self.expected() {
                u64::MAX => "?".to_string(),
                x => x.to_string(),
            },
            self.out.file_bytes,
            self.jobs.iter().filter(|j| j.done_to).count(),
            self.jobs.len(),
            self.out.first_errors
        )
    }

    /// Paced senders are spread evenly over one period, not all due at the same instant:
    /// sender `sid`'s message k is due at (k + phase) / rate.
    fn phase(&self, sid: usize, nsenders: f64) -> f64 {
        if self.senders[sid].rate.is_some() {
            sid as f64 / nsenders
        } else {
            0.0
        }
    }

    /// Time until the next paced message is due.
    fn next_due(&self) -> Option<Duration> {
        let t0 = self.traffic_start?;
        let mut best: Option<Duration> = None;
        let nsenders = self.senders.len() as f64;
        for (sid, s) in self.senders.iter().enumerate() {
            let Some(rate) = s.rate else { continue };
            if s.sent >= s.m {
                continue;
            }
            let phase = self.phase(sid, nsenders);
            let due = t0 + Duration::from_secs_f64((s.sent as f64 + phase) / rate);
            let wait = due.saturating_duration_since(Instant::now());
            best = Some(best.map_or(wait, |b| b.min(wait)));
        }
        best
    }

    /// Starts connects (and, in a storm, quits and reconnects) up to the batch in flight.
    fn start_connects(&mut self) {
        while self.inflight < self.spec.connect_batch {
            let i = if let Some(i) = self.reconnect.pop() {
                i
            } else if self.storming && self.quit_next < self.spec.n {
                let i = self.quit_next;
                self.quit_next += 1;
                let c = &mut self.conns[i];
                if c.sock.is_none() {
                    continue;
                }
                c.quitting = true;
                self.proto.quit(&mut c.wbuf);
                self.inflight += 1;
                self.mark(i);
                continue;
            } else if self.next_connect < self.spec.n {
                self.next_connect += 1;
                self.next_connect - 1
            } else {
                break;
            };
            self.open(i);
            if self.fatal.is_some() {
                return;
            }
        }
    }

    /// Connects client `i` (again, in a storm) and queues its hello.
    fn open(&mut self, i: usize) {
        let rcvbuf = self.conns[i].slow.then_some(SLOW_RCVBUF);
        let src = net::source_addr(self.spec.first + i + self.round * ROUND_STRIDE);
        let mut sock = match net::connect_from(src, self.addr, rcvbuf) {
            Ok(s) => s,
            Err(e) => {
                self.fatal = Some(format!("connect #{i}: {e}"));
                return;
            }
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut sock, Token(i), interest) {
            self.fatal = Some(format!("register #{i}: {e}"));
            return;
        }
        let layer = match self.spec.transport {
            Transport::Plain => None,
            t => match Layer::new(t, "localhost", self.spec.tls.as_ref(), i as u64 + 1) {
                Ok(l) => Some(Box::new(l)),
                Err(e) => {
                    self.fatal = Some(format!("client #{i}: {e}"));
                    return;
                }
            },
        };
        let c = &mut self.conns[i];
        c.sock = Some(sock);
        c.stage = Stage::Connecting;
        c.rbuf.clear();
        c.wbuf.clear();
        c.wpos = 0;
        c.wire.clear();
        c.wire_pos = 0;
        c.layer = layer;
        self.proto.hello(&c.nick, &mut c.wbuf);
        self.inflight += 1;
        self.mark(i);
    }

    /// Churning clients send join/part pairs while their window has room.
    fn pump_churn(&mut self) {
        let Some((room, clients, pairs)) = self.churn.take() else {
            return;
        };
        for &c in &clients {
            let conn = &mut self.conns[c];
            let mut sent = false;
            while conn.churn_sent < pairs && conn.churn_sent - conn.churn_done < self.spec.window {
                self.proto.join(&room, &mut conn.wbuf);
                self.proto.part(&room, &mut conn.wbuf);
                conn.churn_sent += 1;
                sent = true;
            }
            if sent {
                self.mark(c);
            }
        }
        self.churn = Some((room, clients, pairs));
    }

    fn mark(&mut self, c: usize) {
        if !self.conns[c].queued {
            self.conns[c].queued = true;
            self.dirty.push(c);
        }
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &c in &dirty {
            self.conns[c].queued = false;
            self.flush(c);
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn flush(&mut self, c: usize) {
        if self.conns[c].layer.is_some() {
            return self.flush_layered(c);
        }
        let conn = &mut self.conns[c];
        let Some(sock) = conn.sock.as_mut() else {
            return;
        };
        let mut lost = false;
        while conn.wpos < conn.wbuf.len() {
            match net::write(sock, &conn.wbuf[conn.wpos..]) {
                Io::Done(n) => conn.wpos += n,
                Io::Blocked => break,
                Io::Closed => {
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            return self.closed(c);
        }
        if conn.wpos == conn.wbuf.len() {
            conn.wbuf.clear();
            conn.wpos = 0;
        } else if conn.wpos > 1 << 20 {
            conn.wbuf.drain(..conn.wpos);
            conn.wpos = 0;
        }
    }

    /// `flush` for a client under TLS or WebSocket: plaintext through the layer, then the
    /// wire bytes to the socket.
    fn flush_layered(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        let Some(layer) = conn.layer.as_mut() else {
            return;
        };
        if conn.wpos < conn.wbuf.len() || layer.wants_write() {
            if let Err(e) = layer.send(&conn.wbuf[conn.wpos..], &mut conn.wire) {
                self.error(c, &e);
                return self.closed(c);
            }
            conn.wbuf.clear();
            conn.wpos = 0;
        }
        let mut lost = false;
        while conn.wire_pos < conn.wire.len() {
            let Some(sock) = conn.sock.as_mut() else {
                return;
            };
            match net::write(sock, &conn.wire[conn.wire_pos..]) {
                Io::Done(n) => conn.wire_pos += n,
                Io::Blocked => break,
                Io::Closed => {
                    lost = true;
                    break;
                }
            }
        }
        if lost {
            return self.closed(c);
        }
        if conn.wire_pos == conn.wire.len() {
            conn.wire.clear();
            conn.wire_pos = 0;
        }
    }

    fn read_conn(&mut self, c: usize) {
        let mut buf = std::mem::take(&mut self.scratch);
        while let Some(sock) = self.conns[c].sock.as_mut() {
            let (io, stamp) = net::read_stamped(sock, &mut buf);
            match io {
                Io::Done(n) => {
                    self.last_progress = Instant::now();
                    self.out.reads += 1;
                    self.read_ns = match stamp {
                        Some(rt) => rt.saturating_sub(self.rt_start),
                        None => {
                            self.out.unstamped += 1;
                            self.now_ns()
                        }
                    };
                    let conn = &mut self.conns[c];
                    match conn.layer.as_mut() {
                        None => conn.rbuf.extend_from_slice(&buf[..n]),
                        Some(layer) => {
                            let r = layer.recv(&buf[..n], &mut conn.rbuf);
                            let more = layer.wants_write();
                            if let Err(e) = r {
                                self.error(c, &e);
                                self.closed(c);
                                break;
                            }
                            if more {
                                self.mark(c);
                            }
                        }
                    }
                    self.process(c);
                }
                Io::Blocked => break,
                Io::Closed => {
                    self.process(c);
                    self.closed(c);
                    break;
                }
            }
        }
        self.scratch = buf;
    }

    /// Handles every complete line (and file data) in the client's input buffer.
    fn process(&mut self, c: usize) {
        let buf = std::mem::take(&mut self.conns[c].rbuf);
        let mut pos = 0;
        while pos < buf.len() {
            if self.conns[c].binary_left > 0 {
                let k = self.conns[c].binary_left.min(buf.len() - pos);
                self.file_bytes(c, &buf[pos..pos + k]);
                self.conns[c].binary_left -= k;
                pos += k;
                continue;
            }
            let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let mut line = &buf[pos..pos + nl];
            pos += nl + 1;
            if let Some(l) = line.strip_suffix(b"\r") {
                line = l;
            }
            match std::str::from_utf8(line) {
                Ok(l) => self.line(c, l),
                Err(_) => self.error(c, "a line that is not UTF-8"),
            }
        }
        let mut buf = buf;
        buf.drain(..pos);
        // Keep what is left (a partial line), unless a line arrived meanwhile (it can't: we are
        // single-threaded), so simply put it back.
        self.conns[c].rbuf = buf;
    }

    fn line(&mut self, c: usize, line: &str) {
        if self.conns[c].quitting {
            return; // the goodbye, and what was on its way
        }
        match self.proto.parse(line) {
            Event::Welcome { named } => {
                if self.conns[c].stage == Stage::Connecting {
                    self.welcomed += 1;
                    self.inflight -= 1;
                    let lobby = self.spec.lobby;
                    let conn = &mut self.conns[c];
                    let waits = (!named || lobby != Lobby::Out)
                        && self.proto.settle(&conn.nick, lobby, &mut conn.wbuf);
                    if waits {
                        conn.stage = Stage::Welcomed;
                        self.mark(c);
                    } else {
                        conn.stage = Stage::Named;
                        self.named += 1;
                    }
                }
            }
            Event::Pong => {
                let conn = &mut self.conns[c];
                if conn.stage == Stage::Welcomed {
                    conn.stage = Stage::Named;
                    self.named += 1;
                } else if conn.stage == Stage::Named {
                    conn.stage = Stage::Joined;
                    self.joined += 1;
                }
            }
            Event::Parted { nick, room } => {
                let conn = &mut self.conns[c];
                let churning = self.churn.as_ref().is_some_and(|(r, _, _)| r == room);
                if churning && nick.eq_ignore_ascii_case(&conn.nick) && conn.churn_sent > 0 {
                    conn.churn_done += 1;
                    self.out.churned += 1;
                    self.last_progress = Instant::now();
                }
            }
            Event::Renamed { new } => {
                let conn = &mut self.conns[c];
                if conn.stage == Stage::Welcomed && new.eq_ignore_ascii_case(&conn.nick) {
                    conn.stage = Stage::Named;
                    self.named += 1;
                }
            }
            Event::Joined { nick, .. } => {
                let conn = &mut self.conns[c];
                let mine = nick.is_none_or(|n| n.eq_ignore_ascii_case(&conn.nick));
                if mine && conn.stage == Stage::Welcomed && self.spec.lobby != Lobby::Out {
                    conn.stage = Stage::Named; // an IRC client's registration into #lobby
                    self.named += 1;
                } else if mine && conn.stage == Stage::Named {
                    conn.stage = Stage::Joined;
                    self.joined += 1;
                }
            }
            Event::Room { text, .. } | Event::Direct { text, .. } => match parse_payload(text) {
                Some((sid, seq, ts)) => self.deliver(c, sid, seq, ts),
                None => self.error(c, &format!("unexpected message: {line}")),
            },
            Event::Quit { reason, .. } => {
                if reason.contains("sendq") {
                    self.out.sendq_quits += 1;
                }
            }
            Event::Ping(token) => {
                let token = token.to_string();
                self.proto.pong(&token, &mut self.conns[c].wbuf);
                self.mark(c);
            }
            Event::Error(e) => {
                let e = e.to_string();
                self.error(c, &e)
            }
            Event::File(f) => self.file_event(c, f),
            Event::Other => {}
        }
    }

    fn error(&mut self, c: usize, what: &str) {
        self.out.errors += 1;
        if self.out.first_errors.len() < 3 {
            self.out
                .first_errors
                .push(format!("{}: {what}", self.conns[c].nick));
        }
    }

    fn deliver(&mut self, c: usize, sid: u32, seq: u64, ts: u64) {
        let now = self.read_ns;
        self.last_delivery = Instant::now();
        let own = self.senders.get(sid as usize).is_some_and(|s| s.conn == c);
        let conn = &mut self.conns[c];
        let slow = conn.slow;
        match conn.expect.iter_mut().find(|e| e.0 == sid) {
            None if own && self.proto.echoes_own() => return,
            None => self.out.foreign += 1,
            Some(e) if seq == e.1 => {
                e.1 += 1;
                if slow {
                    self.out.slow_delivered += 1;
                } else {
                    self.out.delivered += 1;
                    self.hist.record(now.saturating_sub(ts));
                }
            }
            Some(e) if seq < e.1 => self.out.dup += 1,
            Some(e) => {
                self.out.gaps += seq - e.1;
                e.1 = seq + 1;
            }
        }
        if let Some(s) = self.senders.get_mut(sid as usize) {
            if s.designated == c && seq + 1 > s.acked {
                s.acked = seq + 1;
                self.pump.push(sid as usize);
            }
        }
    }

    /// Lets senders with room in their window (or a paced message due) send.
    fn pump_senders(&mut self) {
        let Some(t0) = self.traffic_start else { return };
        let paced = self.senders.iter().any(|s| s.rate.is_some());
        let list: Vec<usize> = if paced {
            (0..self.senders.len()).collect()
        } else {
            std::mem::take(&mut self.pump)
        };
        self.pump.clear();
        let elapsed = t0.elapsed().as_secs_f64();
        let t0_ns = t0.duration_since(self.start).as_nanos() as u64;
        let mono_ns = self.start.elapsed().as_nanos() as u64;
        let now_ns = self.now_ns();
        let nsenders = self.senders.len() as f64;
        for sid in list {
            let s = &self.senders[sid];
            let phase = self.phase(sid, nsenders);
            let limit = match s.rate {
                Some(rate) => s.m.min(((elapsed * rate - phase).max(-1.0) + 1.0) as u64),
                None => s.m,
            };
            let c = s.conn;
            if self.conns[c].sock.is_none() {
                continue;
            }
            let mut sent = s.sent;
            while sent < limit && sent - self.senders[sid].acked < self.spec.window {
                // Stamped as it is written (the write follows in this pass): latency is the
                // server's. How late the generator itself was goes to `lag`.
                if let Some(rate) = self.senders[sid].rate {
                    let due = t0_ns + ((sent as f64 + phase) / rate * 1e9) as u64;
                    self.lag.record(mono_ns.saturating_sub(due));
                }
                self.tmp.clear();
                payload(&mut self.tmp, sid as u32, sent, now_ns, self.spec.pad);
                let s = &self.senders[sid];
                if s.room {
                    self.proto
                        .say(&s.target, &self.tmp, &mut self.conns[c].wbuf);
                } else {
                    self.proto
                        .direct(&s.target, &self.tmp, &mut self.conns[c].wbuf);
                }
                sent += 1;
            }
            if sent != self.senders[sid].sent {
                self.senders[sid].sent = sent;
                self.mark(c);
            }
        }
    }

    fn file_event(&mut self, c: usize, ev: FileEvent) {
        let Some(j) = self.conns[c].file else {
            return self.error(c, &format!("file event without a transfer: {ev:?}"));
        };
        let from = self.jobs[j].from == c;
        match ev {
            FileEvent::Offered { id } if from => self.jobs[j].id = Some(id),
            FileEvent::Offer { id, size } if !from => {
                if size != self.spec.file_size {
                    self.error(
                        c,
                        &format!("offer of {size} bytes, not {}", self.spec.file_size),
                    );
                }
                self.jobs[j].id = Some(id);
                self.proto.accept(id, &mut self.conns[c].wbuf);
                self.mark(c);
            }
            FileEvent::Accepted { .. } => {
                if from {
                    self.jobs[j].streaming = true;
                    self.pump_file(c);
                }
            }
            FileEvent::Data { id, len } if !from && Some(id) == self.jobs[j].id => {
                self.conns[c].binary_left = len
            }
            FileEvent::Done { .. } => {
                self.last_delivery = Instant::now();
                if from {
                    self.jobs[j].done_from = true;
                } else {
                    self.jobs[j].done_to = true;
                }
                self.end_bystanders();
            }
            other => self.error(c, &format!("file transfer {j}: {other:?}")),
        }
    }

    /// When every transfer is done the bystanders stop chatting; what they sent is what counts.
    fn end_bystanders(&mut self) {
        if self.jobs.iter().all(|j| j.done_from && j.done_to) {
            for s in &mut self.senders {
                if s.m == u64::MAX {
                    s.m = s.sent;
                }
            }
        }
    }

    /// Queues data frames for a file sender while its own buffer is short.
    fn pump_file(&mut self, c: usize) {
        let Some(j) = self.conns[c].file else { return };
        let job = &self.jobs[j];
        if job.from != c || !job.streaming {
            return;
        }
        let id = job.id.unwrap_or(0);
        let size = self.spec.file_size;
        let mut sent = job.sent;
        // Edge-triggered: keep going until the socket refuses bytes, or no event would come.
        while sent < size && self.conns[c].sock.is_some() {
            let conn = &mut self.conns[c];
            while sent < size && conn.wbuf.len() - conn.wpos < FILE_QUEUE {
                let len = (size - sent).min(FRAME as u64) as usize;
                self.proto.data_header(id, len, &mut conn.wbuf);
                let off = (sent % PATTERN as u64) as usize;
                conn.wbuf.extend_from_slice(&self.pattern[off..off + len]);
                sent += len as u64;
            }
            self.flush(c);
            if !self.conns[c].wbuf.is_empty() {
                break;
            }
        }
        self.jobs[j].sent = sent;
        self.flush(c);
    }

    fn file_bytes(&mut self, c: usize, bytes: &[u8]) {
        let Some(j) = self.conns[c].file else { return };
        let off = (self.jobs[j].received % PATTERN as u64) as usize;
        if bytes != &self.pattern[off..off + bytes.len()] {
            self.error(
                c,
                &format!(
                    "file {j}: corrupt bytes near offset {}",
                    self.jobs[j].received
                ),
            );
        }
        self.jobs[j].received += bytes.len() as u64;
        self.out.file_bytes += bytes.len() as u64;
    }

    fn closed(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        let Some(mut s) = conn.sock.take() else {
            return; // seen closed already
        };
        let _ = self.poll.registry().deregister(&mut s);
        conn.layer = None;
        if conn.quitting {
            // A storm's quit, as expected: back in the queue to reconnect.
            conn.quitting = false;
            conn.stage = Stage::Idle;
            self.inflight -= 1;
            self.reconnect.push(c);
            return;
        }
        if conn.slow {
            self.out.slow_dropped += 1;
        } else if self.fatal.is_none() {
            let why = match self.out.first_errors.last() {
                Some(e) if e.starts_with(&format!("{}: ", conn.nick)) => format!(" after {e}"),
                _ => String::new(),
            };
            self.fatal = Some(format!("the server closed {} (client {c}){why}", conn.nick));
        }
        if conn.stage == Stage::Connecting {
            self.inflight -= 1;
        }
    }
}
