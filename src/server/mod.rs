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

mod accept;
mod deliver;
mod input;
mod output;

pub use deliver::Deliver;

const SIGNAL: Token = Token(usize::MAX);
const LISTENER_BASE: usize = usize::MAX / 2;
/// How long accept rests after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

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
            tune_listener(&l);
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)?;
            listeners.push((l, proto));
        }
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNAL, Interest::READABLE)?;
        let fd_limit = accept::raise_fd_limit();
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

    /// The configuration, the hub and the delivery sink, borrowed apart.
    fn parts(&mut self) -> (&Config, &mut Hub, Deliver<'_>) {
        let out = Deliver {
            conns: &mut self.conns,
            outbox: &mut self.outbox,
            closing: &mut self.closing,
            server_name: &self.cfg.server_name,
            max_sendq: self.cfg.max_sendq,
        };
        (&self.cfg, &mut self.hub, out)
    }

    fn deliver(&mut self) -> (&mut Hub, Deliver<'_>) {
        let (_, hub, out) = self.parts();
        (hub, out)
    }

    fn close(&mut self, id: ClientId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(id) {
            mark_close(conn, id, &mut self.closing, reason);
        }
    }

    fn schedule(&mut self, id: ClientId, at: Instant, kind: TimerKind) {
        if let Some(conn) = self.conns.get(id) {
            self.timers.push(Reverse((at, id, conn.serial, kind)));
        }
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
                    // The framer leaves one byte of slack for a CR; without one, a partial
                    // line of max-line + 1 bytes is over the limit.
                    let text = buf.strip_suffix(b"\r").unwrap_or(&buf);
                    if text.len() > self.cfg.max_line {
                        self.too_long(id);
                    } else {
                        self.line(id, &buf);
                    }
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

/// A deeper accept queue than the usual 128, so a burst of connections is not dropped before
/// the loop gets to it, and the connection options set once for every accepted socket.
fn tune_listener(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    // SAFETY: listen() on a socket that is already listening only changes its backlog (the
    // kernel caps it at net.core.somaxconn).
    unsafe {
        libc::listen(fd, 1024);
    }
    accept::set_connection_options(fd);
}
