//! The event loop: one thread, one `mio::Poll`, listeners and connections in a slab.
//!
//! Every pass runs in the same order: poll (timeout = the nearest deadline), accept, read a
//! bounded amount from each ready connection and apply what it asked for, fire due timers,
//! flush every connection's queued bytes with one vectored write each, close what was marked
//! (its peers hear about it, and that is flushed too), then wake paused file senders.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::config::{self, Config};
use crate::conn::{read_some, CloseReason, Conn, DataFrame, Proto, ReadOutcome};
use crate::event::{Event, Fail};
use crate::hub::{ClientId, Hub, HubConfig, Route, Sink};
use crate::irc::{IrcAction, IrcSession};
use crate::limits::{AddressLimits, Refusal};
use crate::outbox::{Flushed, Outbox, Span};
use crate::proto::frame::{self, Framing, Piece};
use crate::proto::irc as irc_codec;
use crate::proto::line::{self, Input};

const SIGNAL: Token = Token(usize::MAX);
const LISTENER_BASE: usize = usize::MAX / 2;
/// How long accept rests after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Delivers hub events: encodes each once per protocol into the outbox and queues the span
/// for every recipient. A recipient that falls too far behind is marked for closing.
pub struct Deliver<'a> {
    conns: &'a mut Slab<Conn>,
    outbox: &'a mut Outbox,
    closing: &'a mut Vec<ClientId>,
    server_name: &'a str,
    max_sendq: usize,
}

impl Deliver<'_> {
    fn queue(&mut self, id: ClientId, span: Span) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.closing == Some(CloseReason::SendqExceeded) {
            return;
        }
        self.outbox.push(&mut conn.out, id, span);
        if conn.out.backlog() > self.max_sendq {
            mark_close(conn, id, self.closing, CloseReason::SendqExceeded);
        }
    }

    fn encode(&mut self, proto: Proto, me: &str, event: &Event<'_>) -> Span {
        let server_name = self.server_name;
        match proto {
            Proto::Native => self.outbox.encode(|out| line::encode(event, me, out)),
            Proto::Irc => self
                .outbox
                .encode(|out| irc_codec::encode(event, me, server_name, out)),
        }
    }

    /// Queues raw bytes for one connection (protocol-specific lines, file data).
    pub fn raw(&mut self, id: ClientId, f: impl FnOnce(&mut Vec<u8>)) {
        let span = self.outbox.encode(f);
        self.queue(id, span);
    }

    pub fn queued(&self, id: ClientId) -> usize {
        self.conns.get(id).map_or(0, |c| c.out.queued())
    }

    /// Marks another connection for closing at the end of the pass (an IRC operator's KILL).
    pub fn close(&mut self, id: ClientId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(id) {
            mark_close(conn, id, self.closing, reason);
        }
    }
}

impl Sink for Deliver<'_> {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let Some(proto) = self.conns.get(to).map(|c| c.proto) else {
            return;
        };
        let span = self.encode(proto, me, event);
        self.queue(to, span);
    }

    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        let (mut native, mut irc) = (None, None);
        for &id in to {
            if Some(id) == except {
                continue;
            }
            let Some(proto) = self.conns.get(id).map(|c| c.proto) else {
                continue;
            };
            let span = match proto {
                Proto::Native => {
                    *native.get_or_insert_with(|| self.encode(Proto::Native, "", event))
                }
                Proto::Irc => *irc.get_or_insert_with(|| self.encode(Proto::Irc, "", event)),
            };
            self.queue(id, span);
        }
    }
}

fn mark_close(conn: &mut Conn, id: ClientId, closing: &mut Vec<ClientId>, reason: CloseReason) {
    if conn.closing.is_none() {
        conn.closing = Some(reason);
        closing.push(id);
    }
}

/// What a connection's timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// Take an unfinished line as whole.
    PartialLine,
    /// A flood-limited connection may send again.
    Flood,
    /// The IRC session's registration and ping deadlines.
    Irc,
}

/// A timer: at `.0`, for the connection with key `.1` and serial `.2`.
type Timer = Reverse<(Instant, ClientId, u64, TimerKind)>;

pub struct Server {
    cfg: Config,
    poll: Poll,
    listeners: Vec<(TcpListener, Proto)>,
    signals: Signals,
    conns: Slab<Conn>,
    hub: Hub,
    outbox: Outbox,
    /// One read buffer for all connections: input is parsed where it lands.
    scratch: Vec<u8>,
    dirty: Vec<ClientId>,
    closing: Vec<ClientId>,
    /// Connections that used their read budget and have more to read next pass.
    carry: Vec<ClientId>,
    /// File senders waiting for their recipient to catch up.
    paused: Vec<ClientId>,
    timers: BinaryHeap<Timer>,
    next_serial: u64,
    max_clients: usize,
    accept_retry: Option<Instant>,
    addresses: AddressLimits,
    /// A descriptor held back so that, out of descriptors, accept can still take a
    /// connection and tell it the server is full instead of leaving it hanging.
    spare_fd: Option<std::fs::File>,
}

impl Server {
    /// Binds every listener; a port in use is an error here, before anything runs.
    pub fn bind(cfg: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        let wanted = cfg
            .listen
            .iter()
            .map(|a| (a, Proto::Native))
            .chain(cfg.irc_listen.iter().map(|a| (a, Proto::Irc)));
        for (i, (addr, proto)) in wanted.enumerate() {
            let mut l = TcpListener::bind(*addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)?;
            listeners.push((l, proto));
        }
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNAL, Interest::READABLE)?;
        let fd_limit = raise_fd_limit();
        let fd_ceiling = fd_limit.saturating_sub(config::FD_RESERVE).max(1) as usize;
        let max_clients = match cfg.max_clients {
            Some(n) if n > fd_ceiling => {
                warn!("--max-clients {n} is above what {fd_limit} open files allow; clients past that are refused");
                n
            }
            Some(n) => n,
            None => fd_ceiling,
        };
        info!("open-file limit {fd_limit}: at most {max_clients} clients");
        let hub = Hub::new(HubConfig {
            max_file_size: cfg.max_file_size,
            quiet_room_size: cfg.quiet_room_size,
            offer_timeout: cfg.offer_timeout,
        });
        let cfg_limits = (cfg.max_per_ip, cfg.max_conn_rate, cfg.limit_loopback);
        Ok(Server {
            cfg,
            poll,
            listeners,
            signals,
            conns: Slab::new(),
            hub,
            outbox: Outbox::new(),
            scratch: vec![0; config::READ_BUDGET],
            dirty: Vec::new(),
            closing: Vec::new(),
            carry: Vec::new(),
            paused: Vec::new(),
            timers: BinaryHeap::new(),
            next_serial: 0,
            max_clients,
            accept_retry: None,
            addresses: AddressLimits::new(cfg_limits.0, cfg_limits.1, cfg_limits.2),
            spare_fd: std::fs::File::open("/dev/null").ok(),
        })
    }

    /// The bound addresses with their protocols (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(l, p)| {
                Some((
                    if *p == Proto::Native { "native" } else { "irc" },
                    l.local_addr().ok()?,
                ))
            })
            .collect()
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in events.iter() {
                match ev.token() {
                    SIGNAL => {
                        if self.signals.pending().next().is_some() {
                            return self.shutdown();
                        }
                    }
                    Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
                    Token(id) => {
                        if ev.is_writable() {
                            self.on_writable(id);
                        }
                        if ev.is_read_closed() || ev.is_error() {
                            // Data and FIN may share one edge: read to the end.
                            self.on_readable(id, true);
                        } else if ev.is_readable() {
                            self.on_readable(id, false);
                        }
                    }
                }
            }
            self.end_pass();
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.carry.is_empty() {
            return Some(Duration::ZERO);
        }
        let next = [
            self.timers.peek().map(|Reverse(t)| t.0),
            self.hub.next_deadline(),
            self.accept_retry,
        ];
        let now = Instant::now();
        next.into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    fn deliver(&mut self) -> (&mut Hub, Deliver<'_>) {
        (
            &mut self.hub,
            Deliver {
                conns: &mut self.conns,
                outbox: &mut self.outbox,
                closing: &mut self.closing,
                server_name: &self.cfg.server_name,
                max_sendq: self.cfg.max_sendq,
            },
        )
    }

    fn close(&mut self, id: ClientId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(id) {
            mark_close(conn, id, &mut self.closing, reason);
        }
    }

    // ---- accept ----

    fn accept(&mut self, index: usize) {
        if self.accept_retry.is_some() {
            return;
        }
        loop {
            let Some((listener, proto)) = self.listeners.get(index) else {
                return;
            };
            let proto = *proto;
            match listener.accept() {
                Ok((socket, addr)) => self.admit(socket, addr, proto),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
                {
                    if self.refuse_with_spare_fd(index, proto) {
                        continue;
                    }
                    // Out of descriptors or memory: rest instead of spinning; pending
                    // connections wait in the backlog until something frees up.
                    warn!("accept: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                    self.accept_retry = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                Err(e) => debug!("accept: {e}"),
            }
        }
    }

    /// Out of descriptors: frees the spare one for long enough to accept one connection and
    /// tell it the server is full. Returns false if that did not work.
    fn refuse_with_spare_fd(&mut self, index: usize, proto: Proto) -> bool {
        if self.spare_fd.take().is_none() {
            return false;
        }
        let accepted = self.listeners.get(index).and_then(|(l, _)| l.accept().ok());
        let took_one = accepted.is_some();
        if let Some((mut socket, addr)) = accepted {
            let _ = socket.write(refusal(proto, Refused::Full));
            warn!("refused {addr}: out of file descriptors");
        }
        self.spare_fd = std::fs::File::open("/dev/null").ok();
        took_one && self.spare_fd.is_some()
    }

    fn admit(&mut self, mut socket: TcpStream, addr: SocketAddr, proto: Proto) {
        if self.conns.len() >= self.max_clients {
            let _ = socket.write(refusal(proto, Refused::Full));
            info!("refused {addr}: server full ({} clients)", self.conns.len());
            return;
        }
        if let Err(why) = self.addresses.admit(addr.ip(), Instant::now()) {
            let _ = socket.write(refusal(proto, Refused::Address(why)));
            info!("refused {addr}: {why:?}");
            return;
        }
        let _ = socket.set_nodelay(true);
        set_keepalive(&socket);
        let entry = self.conns.vacant_entry();
        let id = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, Token(id), Interest::READABLE)
        {
            warn!("register {addr}: {e}");
            self.addresses.release(addr.ip());
            return;
        }
        self.next_serial += 1;
        let now = Instant::now();
        entry.insert(Conn::new(socket, proto, addr.ip(), self.next_serial, now));
        info!("connect {addr} ({proto:?}) as client {id}");
        match proto {
            Proto::Native => {
                let host = addr.ip().to_string();
                let (hub, mut out) = self.deliver();
                hub.connect_native(id, &host, &mut out);
                self.conns[id].in_hub = true;
            }
            Proto::Irc => {
                let now = Instant::now();
                let session = IrcSession::new(now);
                self.conns[id].irc = Some(Box::new(session));
                self.schedule(id, now + crate::irc::REGISTRATION_TIMEOUT, TimerKind::Irc);
            }
        }
    }

    fn schedule(&mut self, id: ClientId, at: Instant, kind: TimerKind) {
        if let Some(conn) = self.conns.get(id) {
            self.timers.push(Reverse((at, id, conn.serial, kind)));
        }
    }

    // ---- reading ----

    /// Reads until the socket is drained (`to_end`) or a short read says it is, within the
    /// connection's budget for this pass.
    fn on_readable(&mut self, id: ClientId, to_end: bool) {
        let mut budget = config::READ_BUDGET;
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(conn) = self.conns.get_mut(id) {
            if conn.closing.is_some() || conn.paused {
                break;
            }
            let wanted = budget;
            match read_some(&mut conn.socket, &mut scratch[..wanted]) {
                ReadOutcome::Data(n) => {
                    self.input(id, &scratch[..n]);
                    budget -= n;
                    if budget == 0 {
                        // Fair share used: the rest waits for the next pass.
                        self.carry.push(id);
                        break;
                    }
                    if !to_end && n < wanted {
                        // A short read drained the socket; new data raises a new edge.
                        break;
                    }
                }
                ReadOutcome::WouldBlock => break,
                ReadOutcome::Closed => {
                    // An unfinished line or frame dies with the connection: no trace in
                    // anyone's stream.
                    self.close(id, CloseReason::PeerClosed);
                    break;
                }
                ReadOutcome::Failed(e) => {
                    self.close(id, CloseReason::Error(e.to_string()));
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Handles newly read bytes, after any left over from before.
    fn input(&mut self, id: ClientId, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.inbuf.is_empty() {
            let used = self.process(id, data);
            if let Some(conn) = self.conns.get_mut(id) {
                conn.inbuf.extend_from_slice(&data[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut conn.inbuf);
            buf.extend_from_slice(data);
            let used = self.process(id, &buf);
            buf.drain(..used);
            if let Some(conn) = self.conns.get_mut(id) {
                conn.inbuf = if buf.is_empty() { Vec::new() } else { buf };
            }
        }
        self.arm_partial_timer(id);
        let recvq_limit = 4 * self.cfg.max_line.max(crate::proto::irc_msg::MAX_LINE_LEN);
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.throttled && conn.inbuf.len() > recvq_limit {
                mark_close(
                    conn,
                    id,
                    &mut self.closing,
                    CloseReason::Other("excess flood"),
                );
            }
        }
    }

    /// A partial line with no more input coming: the tutorial's client ends lines this way.
    fn arm_partial_timer(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.proto != Proto::Native || conn.framing != Framing::Lines || conn.inbuf.is_empty() {
            conn.partial_deadline = None;
            return;
        }
        if conn.partial_deadline.is_none() {
            let at = Instant::now() + config::PARTIAL_LINE_GRACE;
            conn.partial_deadline = Some(at);
            self.schedule(id, at, TimerKind::PartialLine);
        }
    }

    /// Consumes as much of `data` as can be handled now; returns how much.
    fn process(&mut self, id: ClientId, data: &[u8]) -> usize {
        let mut pos = 0;
        loop {
            let Some(conn) = self.conns.get_mut(id).filter(|c| c.closing.is_none()) else {
                return data.len();
            };
            let limit = match conn.proto {
                Proto::Native => self.cfg.max_line,
                Proto::Irc => crate::proto::irc_msg::MAX_LINE_LEN,
            };
            let before = conn.framing;
            let (piece, used) = frame::next_piece(&mut conn.framing, &data[pos..], limit);
            match piece {
                Some(Piece::Line(line))
                    if self.cfg.flood_limit && !is_data_header(conn.proto, line) =>
                {
                    if conn.throttled {
                        conn.framing = before;
                        return pos;
                    }
                    if let Err(at) = conn.flood.admit(Instant::now(), line.len()) {
                        // Over the rate: the line waits ("fake lag"); reading goes on so a
                        // client that keeps going is seen and dropped.
                        conn.framing = before;
                        conn.throttled = true;
                        let first_time = !conn.warned_flood;
                        conn.warned_flood = true;
                        self.schedule(id, at, TimerKind::Flood);
                        if first_time {
                            let (hub, mut out) = self.deliver();
                            let me = hub.nick(id).unwrap_or("*");
                            out.one(id, me, &Event::Fail(Fail::Flood));
                        }
                        return pos;
                    }
                    self.line(id, line);
                }
                Some(Piece::Line(line)) => self.line(id, line),
                Some(Piece::TooLong) => self.too_long(id),
                Some(Piece::Raw(bytes)) => {
                    let DataFrame { transfer, to } = conn.data;
                    if let Some(to) = to {
                        if self.forward(id, transfer, to, bytes).is_none() {
                            // Paused: take the frame back up where it stopped.
                            if let Some(conn) = self.conns.get_mut(id) {
                                conn.framing = before;
                            }
                            return pos;
                        }
                    }
                }
                None if used == 0 => return pos,
                None => {}
            }
            pos += used;
        }
    }

    fn too_long(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        match conn.proto {
            Proto::Native => {
                let max = self.cfg.max_line;
                let (hub, mut out) = self.deliver();
                let me = hub.nick(id).unwrap_or("*");
                out.one(id, me, &Event::Fail(Fail::LineTooLong(max)));
            }
            Proto::Irc => self.irc_line(id, None),
        }
    }

    /// Forwards file bytes to the recipient, or pauses the sender (None) while the recipient
    /// is behind.
    fn forward(&mut self, id: ClientId, transfer: u64, to: ClientId, bytes: &[u8]) -> Option<()> {
        let (hub, mut out) = self.deliver();
        if !hub.transfer_active(transfer) {
            return Some(()); // cancelled meanwhile: the bytes are skipped
        }
        if out.queued(to) > config::FILE_PAUSE_QUEUE {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.paused = true;
                self.paused.push(id);
            }
            return None;
        }
        out.raw(to, |buf| {
            line::encode_data_header(transfer, bytes.len(), buf);
            buf.extend_from_slice(bytes);
        });
        hub.data_forwarded(transfer, bytes.len() as u64, &mut out);
        Some(())
    }

    /// One complete line, without its `\n`.
    fn line(&mut self, id: ClientId, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.conns.get(id).map(|c| c.proto) {
            Some(Proto::Native) => self.native_line(id, line),
            Some(Proto::Irc) => self.irc_line(id, Some(line)),
            None => {}
        }
    }

    fn native_line(&mut self, id: ClientId, text: &[u8]) {
        let now = Instant::now();
        let parsed = line::parse(text);
        let (hub, mut out) = self.deliver();
        let me = hub.nick(id).unwrap_or("*");
        match parsed {
            Ok(Input::Empty) => {}
            Ok(Input::Command(cmd)) => hub.apply(id, cmd, now, &mut out),
            Ok(Input::Data { id: transfer, len }) => {
                let route = if len == 0 || len > config::MAX_FRAME as u64 {
                    out.one(
                        id,
                        me,
                        &Event::Fail(Fail::BadFrame("LEN must be 1 to 65536")),
                    );
                    None
                } else {
                    match hub.route_data(id, transfer, len, &mut out) {
                        Route::To(to) => Some(to),
                        Route::Refused(why) => {
                            let me = hub.nick(id).unwrap_or("*");
                            out.one(id, me, &Event::Fail(Fail::BadFrame(why)));
                            None
                        }
                    }
                };
                if len > 0 {
                    if let Some(conn) = self.conns.get_mut(id) {
                        conn.framing = Framing::Raw { left: len };
                        conn.data = DataFrame {
                            transfer,
                            to: route,
                        };
                    }
                }
            }
            Ok(Input::Quit(reason)) => {
                out.one(
                    id,
                    me,
                    &Event::Bye {
                        reason: reason.unwrap_or(""),
                    },
                );
                self.close(id, CloseReason::Quit(reason.map(Into::into)));
            }
            Err(fail) => out.one(id, me, &Event::Fail(fail)),
        }
    }

    /// One IRC line (None: it was too long).
    fn irc_line(&mut self, id: ClientId, line: Option<&[u8]>) {
        let Some(mut session) = self.conns.get_mut(id).and_then(|c| c.irc.take()) else {
            return;
        };
        let now = Instant::now();
        let peer = self.conns[id].peer;
        // Borrowed field by field: the session reads the whole configuration.
        let mut out = Deliver {
            conns: &mut self.conns,
            outbox: &mut self.outbox,
            closing: &mut self.closing,
            server_name: &self.cfg.server_name,
            max_sendq: self.cfg.max_sendq,
        };
        let action = session.handle(id, line, peer, now, &self.cfg, &mut self.hub, &mut out);
        self.irc_done(id, session, action);
    }

    /// An IRC connection's timer fired (registration deadline or ping check).
    fn irc_timer(&mut self, id: ClientId, now: Instant) {
        let Some(mut session) = self.conns.get_mut(id).and_then(|c| c.irc.take()) else {
            return;
        };
        let mut out = Deliver {
            conns: &mut self.conns,
            outbox: &mut self.outbox,
            closing: &mut self.closing,
            server_name: &self.cfg.server_name,
            max_sendq: self.cfg.max_sendq,
        };
        let action = session.on_timer(id, now, &self.cfg, &mut out);
        self.irc_done(id, session, action);
    }

    fn irc_done(&mut self, id: ClientId, mut session: Box<IrcSession>, action: IrcAction) {
        let wake = session.take_wake();
        if let Some(conn) = self.conns.get_mut(id) {
            conn.irc = Some(session);
            match action {
                IrcAction::None => {}
                IrcAction::Registered => conn.in_hub = true,
                IrcAction::Close(reason) => mark_close(conn, id, &mut self.closing, reason),
            }
        }
        if let Some(at) = wake {
            self.schedule(id, at, TimerKind::Irc);
        }
    }

    // ---- writing ----

    fn on_writable(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.out.backlog() == 0 {
            return;
        }
        match Outbox::write_backlog(&mut conn.out, &mut conn.socket) {
            Ok(Flushed::All) => self.set_write_interest(id, false),
            Ok(Flushed::Blocked) => {}
            Err(e) => self.close(id, CloseReason::Error(e.to_string())),
        }
    }

    fn set_write_interest(&mut self, id: ClientId, on: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.write_armed == on {
            return;
        }
        let interest = if on {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if self
            .poll
            .registry()
            .reregister(&mut conn.socket, Token(id), interest)
            .is_ok()
        {
            conn.write_armed = on;
        }
    }

    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        self.outbox.take_dirty(&mut dirty);
        for &id in &dirty {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            match self.outbox.write(&mut conn.out, &mut conn.socket) {
                Ok(Flushed::All) => {}
                Ok(Flushed::Blocked) => {
                    if conn.out.backlog() > self.cfg.max_sendq {
                        mark_close(conn, id, &mut self.closing, CloseReason::SendqExceeded);
                    } else {
                        self.set_write_interest(id, true);
                    }
                }
                Err(e) => mark_close(
                    conn,
                    id,
                    &mut self.closing,
                    CloseReason::Error(e.to_string()),
                ),
            }
        }
        self.outbox.end_pass();
        self.dirty = dirty;
    }

    // ---- end of pass ----

    fn end_pass(&mut self) {
        for id in std::mem::take(&mut self.carry) {
            self.on_readable(id, true);
        }
        self.fire_timers();
        loop {
            self.flush();
            if self.closing.is_empty() {
                break;
            }
            self.close_marked();
        }
        self.wake_paused();
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.accept_retry.is_some_and(|at| at <= now) {
            self.accept_retry = None;
            for i in 0..self.listeners.len() {
                self.accept(i);
            }
        }
        {
            let (hub, mut out) = self.deliver();
            hub.expire(now, &mut out);
        }
        while let Some(&Reverse((at, id, serial, kind))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self
                .conns
                .get_mut(id)
                .filter(|c| c.serial == serial && c.closing.is_none())
            else {
                continue;
            };
            match kind {
                TimerKind::PartialLine if conn.partial_deadline == Some(at) => {
                    conn.partial_deadline = None;
                    let ready = conn.framing == Framing::Lines && !conn.paused && !conn.throttled;
                    if !ready || conn.inbuf.is_empty() {
                        continue;
                    }
                    if self.cfg.flood_limit {
                        if let Err(retry) = conn.flood.admit(now, conn.inbuf.len()) {
                            conn.throttled = true;
                            self.schedule(id, retry, TimerKind::Flood);
                            continue;
                        }
                    }
                    let buf = std::mem::take(&mut conn.inbuf);
                    self.line(id, &buf);
                }
                TimerKind::PartialLine => {}
                TimerKind::Flood => {
                    conn.throttled = false;
                    self.input(id, &[]);
                    if let Some(conn) = self.conns.get_mut(id) {
                        if !conn.throttled {
                            conn.warned_flood = false;
                        }
                    }
                    // Whatever waits in the socket was not signalled again: read it.
                    self.carry.push(id);
                }
                TimerKind::Irc => self.irc_timer(id, now),
            }
        }
    }

    fn close_marked(&mut self) {
        for id in std::mem::take(&mut self.closing) {
            let Some(conn) = self.conns.get(id) else {
                continue;
            };
            let reason = conn.closing.clone().unwrap_or(CloseReason::PeerClosed);
            self.addresses.release(conn.peer);
            if conn.in_hub {
                let (hub, mut out) = self.deliver();
                hub.disconnect(id, reason.public_text(), &mut out);
            }
            let mut conn = self.conns.remove(id);
            let _ = self.poll.registry().deregister(&mut conn.socket);
            match &reason {
                CloseReason::Error(e) => {
                    info!("disconnect client {id} ({}): error: {e}", conn.peer)
                }
                CloseReason::SendqExceeded => {
                    info!("disconnect client {id} ({}): sendq exceeded", conn.peer)
                }
                r => info!(
                    "disconnect client {id} ({}): {}",
                    conn.peer,
                    r.public_text().unwrap_or("quit")
                ),
            }
            discard_unread(&mut conn.socket);
        }
    }

    fn wake_paused(&mut self) {
        let mut i = 0;
        while i < self.paused.len() {
            let id = self.paused[i];
            let target = self.conns.get(id).and_then(|c| c.data.to);
            let behind = target.is_some_and(|to| {
                self.conns
                    .get(to)
                    .is_some_and(|c| c.out.queued() > config::FILE_PAUSE_QUEUE / 2)
            });
            if behind {
                i += 1;
                continue;
            }
            self.paused.swap_remove(i);
            if let Some(conn) = self.conns.get_mut(id) {
                conn.paused = false;
                // Handle what was held back, then read what waits in the socket.
                self.input(id, &[]);
                self.carry.push(id);
            }
        }
    }

    // ---- shutdown ----

    fn shutdown(mut self) -> io::Result<()> {
        info!("shutting down: {} clients", self.conns.len());
        for (mut l, _) in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let ids: Vec<ClientId> = self.conns.iter().map(|(id, _)| id).collect();
        {
            let (hub, mut out) = self.deliver();
            hub.abort_all_transfers(&mut out);
            for &id in &ids {
                let me = hub.nick(id).unwrap_or("*");
                out.one(id, me, &Event::ShuttingDown);
            }
        }
        self.flush();
        // Give slow readers a short, bounded time to take their goodbyes.
        let deadline = Instant::now() + config::SHUTDOWN_FLUSH;
        let mut events = Events::with_capacity(256);
        while self.conns.iter().any(|(_, c)| c.out.backlog() > 0) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let _ = self.poll.poll(&mut events, Some(deadline - now));
            for ev in events.iter() {
                if ev.token().0 < LISTENER_BASE && ev.is_writable() {
                    self.on_writable(ev.token().0);
                }
            }
        }
        for (_, conn) in self.conns.iter_mut() {
            let _ = conn.socket.shutdown(std::net::Shutdown::Write);
            discard_unread(&mut conn.socket);
        }
        info!("bye");
        Ok(())
    }
}

/// Reads and drops what the peer sent but nobody will handle, so closing sends FIN, not a
/// reset that could destroy the last lines we wrote.
fn discard_unread(socket: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match read_some(socket, &mut sink) {
            ReadOutcome::Data(_) => {}
            _ => return,
        }
    }
}

/// Raises the soft open-file limit to the hard one; returns the limit in force.
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

/// Data frame headers are not charged to the flood limit: files are paced by backpressure.
fn is_data_header(proto: Proto, line: &[u8]) -> bool {
    proto == Proto::Native && line.starts_with(b"/data ")
}

enum Refused {
    Full,
    Address(Refusal),
}

/// The one line a refused connection gets before it is closed.
fn refusal(proto: Proto, why: Refused) -> &'static [u8] {
    match (proto, why) {
        (Proto::Native, Refused::Full) => b"! server-full try again later\n",
        (Proto::Native, Refused::Address(Refusal::TooManyFromAddress)) => {
            b"! too-many-connections from your address; close one and try again\n"
        }
        (Proto::Native, Refused::Address(Refusal::TooFast)) => {
            b"! too-fast you connect too often; try again in a minute\n"
        }
        (Proto::Irc, Refused::Full) => {
            b"ERROR :Closing link: the server is full, try again later\r\n"
        }
        (Proto::Irc, Refused::Address(Refusal::TooManyFromAddress)) => {
            b"ERROR :Closing link: too many connections from your address\r\n"
        }
        (Proto::Irc, Refused::Address(Refusal::TooFast)) => {
            b"ERROR :Closing link: you connect too often, try again in a minute\r\n"
        }
    }
}

/// TCP keepalive finds peers that vanished without a word (power loss, a dropped NAT
/// mapping) even when nobody talks to them: probes after 2 minutes idle, 4 tries 30 s apart.
fn set_keepalive(socket: &TcpStream) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let options = [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 120),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 30),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4),
    ];
    for (level, name, value) in options {
        let value: libc::c_int = value;
        // SAFETY: a valid socket descriptor and a pointer to a c_int of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
