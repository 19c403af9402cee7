//! The event loop: one thread, one `mio::Poll`, listeners and connections in a slab.
//!
//! Every pass runs in the same order: poll (timeout = the nearest deadline), read the clock
//! once, accept, read a bounded amount from each ready connection and hand what it framed to
//! its front end, fire due timers, flush every connection's queued bytes with one vectored
//! write each, close what was marked (its peers hear about it, and that is flushed too), then
//! wake paused file senders.
//!
//! A connection is a [`Link`] (transport, buffers, flood state) in `links` and a
//! [`Session`] (its front end's state) in `sessions` under the same key; the two are apart so
//! the output side can queue bytes for any link while a front end handles a line.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use crate::clock::Clock;
use crate::config::{self, Config};
use crate::event::Event;
use crate::front::{CloseReason, Ctx, Proto, Session};
use crate::hub::{ClientId, Hub, Sink};
use crate::limits::AddressLimits;
use crate::outbox::Outbox;

mod accept;
mod deliver;
mod history;
mod input;
mod link;
mod metrics;
mod network;
mod output;
mod persist;
mod reload;
mod reuseport;
mod systemd;
mod timers;
mod websocket;

pub use deliver::Deliver;
use link::{Flag, Link, SendqLimits, Serial};
use timers::{Due, TimerKind, Timers};

/// The output for front ends and the hub, borrowing only the fields it needs from the server
/// `$s` (so a session can be borrowed beside it); `$actor` is whose command is carried out.
macro_rules! deliver_to {
    ($s:ident, $actor:expr) => {
        Deliver {
            links: &mut $s.links,
            outbox: &mut $s.outbox,
            dirty: &mut $s.dirty,
            registry: $s.poll.registry(),
            closing: &mut $s.closing,
            timers: &mut $s.timers,
            server_name: &$s.cfg.server_name,
            sendq: $s.sendq,
            now: $s.clock.mono,
            unix_ms: $s.clock.unix_ms,
            capture: None,
            actor: $actor,
            work: &mut $s.work,
            scratch: &mut $s.frame_scratch,
            metrics: &mut $s.metrics,
            jobs: &mut $s.jobs,
            history: &mut $s.history,
            store: &mut $s.store,
            asks: &mut $s.asks,
            net: $s.net_out.as_mut(),
            run: &mut $s.run,
            disk: $s.disk.as_ref(),
            feeding: &mut $s.feeding,
        }
    };
}
use deliver_to;

const SIGNAL: Token = Token(usize::MAX);
/// Work done off the loop (the store) is ready.
const WAKE: Token = Token(usize::MAX - 1);
/// The bus's connection to NATS (on a network).
const BUS: Token = Token(usize::MAX - 2);
const LISTENER_BASE: usize = usize::MAX / 2;
/// How long accept rests after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often paused file senders are looked at while nothing else happens.
const STALL_CHECK: Duration = Duration::from_secs(1);
/// How soon a quiet loop gives back the output buffers a burst made grow.
const BURST_GIVEN_BACK: Duration = Duration::from_millis(100);

fn mark_close(link: &mut Link, id: ClientId, closing: &mut Vec<ClientId>, reason: CloseReason) {
    if link.set_closing(reason) {
        closing.push(id);
    }
}

struct Listener {
    socket: TcpListener,
    proto: Proto,
    tls: bool,
}

impl Listener {
    /// What `listening KIND ADDR` calls it.
    fn kind(&self) -> &'static str {
        Listener::kind_of(self.proto, self.tls)
    }

    /// The front end and TLS of a listener kind, as a socket unit names it.
    fn named(name: &str) -> Option<(Proto, bool)> {
        let all = [Proto::Native, Proto::Irc, Proto::Web, Proto::Metrics];
        all.into_iter()
            .flat_map(|p| [(p, false), (p, true)])
            .find(|&(p, t)| Listener::kind_of(p, t) == name)
    }

    fn kind_of(proto: Proto, tls: bool) -> &'static str {
        match (proto, tls) {
            (Proto::Native, false) => "native",
            (Proto::Irc, false) => "irc",
            (Proto::Web, false) => "web",
            (Proto::Native, true) => "native-tls",
            (Proto::Irc, true) => "irc-tls",
            (Proto::Web, true) => "web-tls",
            (Proto::Metrics, _) => "metrics",
        }
    }
}

pub struct Server {
    cfg: Config,
    poll: Poll,
    /// Listeners by token (less [`LISTENER_BASE`]); a listener removed by a reload leaves None.
    listeners: Vec<Option<Listener>>,
    /// The port of the first IRC TLS listener as bound, for the `sts` capability.
    irc_tls_port: Option<u16>,
    signals: Signals,
    /// The command line, to read the configuration again on SIGHUP.
    args: Option<crate::config::Args>,
    links: Slab<Link>,
    /// Each link's front-end state, under the link's key.
    sessions: Vec<Option<Session>>,
    hub: Hub,
    outbox: Outbox,
    /// This pass's reading of the clock.
    clock: Clock,
    sendq: SendqLimits,
    /// Deliveries to others caused by the command being carried out (for the flood limit).
    work: u64,
    /// Lines for WebSocket wires before they are framed.
    frame_scratch: Vec<u8>,
    /// Room events waiting to be queued together (see `deliver::Run`).
    run: deliver::Run,
    /// One read buffer for all connections: input is parsed where it lands.
    scratch: Vec<u8>,
    dirty: Vec<ClientId>,
    closing: Vec<ClientId>,
    /// Connections that used their read budget and have more to read next pass.
    carry: Vec<ClientId>,
    /// File senders waiting for their recipient to catch up.
    paused: Vec<ClientId>,
    timers: Timers,
    next_serial: Serial,
    max_clients: usize,
    accept_retry: Option<Instant>,
    /// Listeners that used their accept batch this pass and may have more waiting.
    accept_pending: Vec<usize>,
    addresses: AddressLimits,
    /// A descriptor held back so that, out of descriptors, accept can still take a
    /// connection and tell it the server is full instead of leaving it hanging.
    spare_fd: Option<std::fs::File>,
    /// The TLS configuration new handshakes use (replaced on reload; connections keep the one
    /// they started with).
    tls: Option<Arc<rustls::ServerConfig>>,
    metrics: metrics::Metrics,
    fd_limit: u64,
    /// The store; it wakes the loop through the one waker of the poll when results are in.
    store: Option<crate::store::StoreHandle>,
    /// Jobs front ends handed off this pass, sent at its end.
    jobs: Vec<(ClientId, Serial, u32, crate::front::Job)>,
    /// What front ends asked of the server this pass, answered at its end.
    asks: Vec<(ClientId, Serial, crate::front::ServerAsk)>,
    /// Jobs out, by call id: whose (connection and serial) and the front end's tag.
    pending: std::collections::HashMap<u64, (ClientId, Serial, u32)>,
    next_call: u64,
    /// On a network (`--bus`): the other nodes, and what the hub tells them this pass.
    network: Option<crate::network::Network>,
    net_out: Option<crate::network::NetOut>,
    /// Connections not read while the bus was behind (see [`Server::net_backlogged`]).
    net_paused: Vec<ClientId>,
    /// What is kept of messages, and the recent window joiners are replayed from.
    history: history::History,
    /// The file thread for FILEHOST uploads (None: uploads are off).
    disk: Option<crate::filehost::Disk>,
    /// Connections serving a stored file, told when their output has drained.
    feeding: Vec<ClientId>,
    /// Deletions of expired files the file thread's queue had no room for.
    disk_backlog: Vec<crate::filehost::Job>,
}

/// Jobs one connection may have out at once; more are answered "busy" at once.
const JOBS_PER_CLIENT: usize = 4;

/// Loads the certificate and key if the configuration names them (or needs them).
fn load_tls(cfg: &Config) -> io::Result<Option<Arc<rustls::ServerConfig>>> {
    let wants_tls = !cfg.tls_listen.is_empty()
        || !cfg.irc_tls_listen.is_empty()
        || !cfg.web_tls_listen.is_empty();
    match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => {
            let (cert, key) = (cert.display().to_string(), key.display().to_string());
            crate::transport::tls::load_config(&cert, &key)
                .map(Some)
                .map_err(io::Error::other)
        }
        (None, None) if !wants_tls => Ok(None),
        (None, None) => Err(io::Error::other(
            "a TLS listener needs --tls-cert FILE and --tls-key FILE",
        )),
        (Some(_), None) => Err(io::Error::other("--tls-cert needs --tls-key too")),
        (None, Some(_)) => Err(io::Error::other("--tls-key needs --tls-cert too")),
    }
}

impl Server {
    /// Binds every listener; a port in use is an error here, before anything runs. With the
    /// command line `args`, SIGHUP reads the configuration again.
    pub fn bind(cfg: Config, args: Option<crate::config::Args>) -> io::Result<Server> {
        let poll = Poll::new()?;
        let tls = load_tls(&cfg)?;
        let mut listeners = Vec::new();
        let mut inherited = systemd::listen_fds();
        for (addr, proto, tls) in wanted_listeners(&cfg) {
            let kind = Listener::kind_of(proto, tls);
            let token = LISTENER_BASE + listeners.len();
            // A socket systemd handed over takes the place of the listener it names (or of
            // the one with its address); the rest are bound here.
            let handed = inherited
                .iter()
                .position(|s| s.name.as_deref() == Some(kind) || s.addr == addr);
            let socket = match handed {
                Some(i) => adopt_listener(&poll, inherited.remove(i), token)?,
                None => bind_listener(&poll, addr, token, reuse_port(&cfg))?,
            };
            listeners.push(Some(Listener { socket, proto, tls }));
        }
        for s in inherited {
            let Some((proto, tls)) = s.name.as_deref().and_then(Listener::named) else {
                warn!(
                    "socket activation: {} has no known name ({:?}); not used",
                    s.addr, s.name
                );
                continue;
            };
            let token = LISTENER_BASE + listeners.len();
            let socket = adopt_listener(&poll, s, token)?;
            listeners.push(Some(Listener { socket, proto, tls }));
        }
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
        let (store, mut snapshot) = open_store(&cfg, &waker)?;
        let history = history::History::new(&cfg, std::mem::take(&mut snapshot.recent));
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
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
        let mut hub = Hub::new(crate::front::hub_config(&cfg));
        hub.set_token_source(Box::new(random_token));
        persist::restore(&mut hub, snapshot);
        let addresses = AddressLimits::new(
            cfg.max_per_ip,
            cfg.max_conn_rate,
            cfg.limit_loopback,
            cfg.ipv6_prefix,
        );
        let sendq = SendqLimits {
            hard: cfg.max_sendq,
            soft: cfg.sendq_soft.min(cfg.max_sendq),
            soft_for: cfg.sendq_soft_for,
        };
        hub.set_files_url(files_url(&cfg, &listeners).as_deref());
        let disk = open_disk(&cfg, &waker, &mut hub)?;
        let (network, net_out) = network::start(&cfg, &poll, BUS, &mut hub)?;
        let irc_tls_port = irc_tls_port(&listeners);
        let clock = Clock::now();
        Ok(Server {
            irc_tls_port,
            cfg,
            poll,
            listeners,
            signals,
            args,
            links: Slab::new(),
            sessions: Vec::new(),
            hub,
            outbox: Outbox::new(),
            clock,
            sendq,
            work: 0,
            frame_scratch: Vec::new(),
            run: deliver::Run::default(),
            scratch: vec![0; config::READ_BUDGET],
            dirty: Vec::new(),
            closing: Vec::new(),
            carry: Vec::new(),
            paused: Vec::new(),
            timers: Timers::new(clock.mono),
            next_serial: 0,
            max_clients,
            accept_retry: None,
            accept_pending: Vec::new(),
            addresses,
            spare_fd: std::fs::File::open("/dev/null").ok(),
            tls,
            metrics: metrics::Metrics::new(Instant::now()),
            fd_limit,
            store,
            jobs: Vec::new(),
            asks: Vec::new(),
            pending: std::collections::HashMap::new(),
            next_call: 1,
            network,
            net_out,
            net_paused: Vec::new(),
            history,
            disk,
            feeding: Vec::new(),
            disk_backlog: Vec::new(),
        })
    }

    /// The bound addresses with their kinds (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners
            .iter()
            .flatten()
            .filter_map(|l| Some((l.kind(), l.socket.local_addr().ok()?)))
            .collect()
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully. `ready` is called once the
    /// server can serve: at once, or on a network when the bus first reaches NATS (or after
    /// [`config::BUS_READY_WAIT`], as a split node).
    pub fn run(mut self, ready: impl FnOnce()) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut ready = Some(ready);
        let ready_by = self
            .network
            .is_some()
            .then(|| Instant::now() + config::BUS_READY_WAIT);
        loop {
            if ready.is_some() {
                self.announce_when_ready(&mut ready, ready_by);
            }
            let mut timeout = self.poll_timeout();
            if let (Some(_), Some(by)) = (&ready, ready_by) {
                let left = by.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.clock = Clock::now();
            if events.is_empty() && self.outbox.holds_burst() {
                self.outbox.give_back();
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKE => self.drain_off_loop(),
                    SIGNAL => {
                        let signals: Vec<i32> = self.signals.pending().collect();
                        if signals.iter().any(|&s| s == SIGINT || s == SIGTERM) {
                            return self.shutdown();
                        }
                        if signals.contains(&SIGHUP) {
                            self.reload(None);
                        }
                    }
                    BUS => self.net_ready(ev),
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

    /// Calls `ready` (and tells systemd) once the server can serve: see [`Server::run`].
    fn announce_when_ready(&self, ready: &mut Option<impl FnOnce()>, by: Option<Instant>) {
        let connected = self.network.as_ref().is_none_or(|n| n.is_connected());
        let waited = by.is_none_or(|at| Instant::now() >= at);
        if !connected && !waited {
            return;
        }
        if !connected {
            warn!(
                "network: NATS not reached within {} s; serving local users as a split node until it is",
                config::BUS_READY_WAIT.as_secs()
            );
        }
        if let Some(ready) = ready.take() {
            ready();
            systemd::notify(&format!("READY=1\nMAINPID={}", std::process::id()));
        }
    }

    /// Results of work done off the loop: applied here, at one point of the pass, to the
    /// connection that asked (if it is still the same connection).
    fn drain_off_loop(&mut self) {
        while let Some(((id, serial), done)) = self.disk.as_ref().and_then(|d| d.next()) {
            let live = self
                .links
                .get(id)
                .is_some_and(|l| l.serial == serial && !l.is_closing());
            if live {
                self.with_session(id, |s, ctx, hub, out| s.disk(ctx, done, hub, out));
                self.release(id);
            }
        }
        loop {
            let Some(reply) = self.store.as_ref().and_then(|s| s.next_result()) else {
                return;
            };
            if reply.id == network::RECORDS_CALL {
                self.records_reloaded(reply.result);
                continue;
            }
            let Some((id, serial, tag)) = self.pending.remove(&reply.id) else {
                debug!("store reply {} with no one waiting", reply.id);
                continue;
            };
            self.answer(id, serial, tag, reply.result);
        }
    }

    /// The store's accounts and rooms, read again after a split.
    fn records_reloaded(&mut self, result: crate::store::CallResult) {
        match result {
            crate::store::CallResult::Records(Ok((accounts, rooms))) => {
                info!(
                    "store: {} accounts and {} registered rooms read again after a split",
                    accounts.len(),
                    rooms.len()
                );
                let clock = self.clock;
                let mut out = deliver_to!(self, None);
                persist::reload(&mut self.hub, &accounts, rooms, clock, &mut out);
            }
            other => warn!("store: accounts and rooms not read again after a split: {other:?}"),
        }
    }

    fn answer(&mut self, id: ClientId, serial: Serial, tag: u32, answer: crate::front::Answer) {
        let live = self
            .links
            .get(id)
            .is_some_and(|l| l.serial == serial && !l.is_closing());
        if live {
            self.with_session(id, |s, ctx, hub, out| s.answer(ctx, tag, answer, hub, out));
            self.release(id);
        }
    }

    /// Answers what front ends asked of the server this pass (their answers may ask again:
    /// those wait for the next pass).
    fn answer_asks(&mut self) {
        use crate::front::{ServerAnswer, ServerAsk};
        for (id, serial, ask) in std::mem::take(&mut self.asks) {
            let live = self
                .links
                .get(id)
                .is_some_and(|l| l.serial == serial && !l.is_closing());
            if !live {
                continue;
            }
            let answer = match ask {
                ServerAsk::Reload => {
                    let source = self
                        .args
                        .as_ref()
                        .and_then(|a| a.config_file())
                        .map_or_else(
                            || "the command line".to_string(),
                            |f| f.display().to_string(),
                        );
                    let outcome = match self.reload(Some(id)) {
                        reload::Outcome::Applied(changes) => {
                            Ok(changes.iter().map(|c| c.to_string()).collect())
                        }
                        reload::Outcome::Failed(errors) => Err(errors),
                    };
                    ServerAnswer::Reloaded { source, outcome }
                }
                ServerAsk::Figures => ServerAnswer::Figures(self.figures()),
            };
            self.with_session(id, |s, ctx, hub, out| s.told(ctx, answer, hub, out));
        }
    }

    /// Hands the pass's history lines to the store.
    fn flush_history(&mut self) {
        self.history.flush(self.store.as_mut());
    }

    /// Sends the jobs front ends handed off; one that cannot be sent is answered at once.
    /// Queries go after the lines kept before them, so they see those lines.
    fn dispatch_jobs(&mut self) {
        self.flush_history();
        for (id, serial, tag, job) in std::mem::take(&mut self.jobs) {
            let out = self
                .pending
                .values()
                .filter(|&&(c, s, _)| (c, s) == (id, serial))
                .count();
            let unavailable = crate::store::CallResult::unavailable(&job);
            let call_id = self.next_call;
            self.next_call += 1;
            let sent = out < JOBS_PER_CLIENT
                && self
                    .store
                    .as_mut()
                    .is_some_and(|store| store.call(call_id, job).is_ok());
            if sent {
                self.pending.insert(call_id, (id, serial, tag));
            } else {
                self.answer(id, serial, tag, unavailable);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        // Jobs handed off late in a pass (by input read again) are sent at the next one.
        if !self.carry.is_empty() || !self.accept_pending.is_empty() || !self.jobs.is_empty() {
            return Some(Duration::ZERO);
        }
        // A paused sender's stall deadline is checked each pass; come back for it.
        let stall_check = (!self.paused.is_empty()).then(|| self.clock.mono + STALL_CHECK);
        // A burst's output buffers are given back once the loop is quiet: come back for it.
        let burst_kept = self
            .outbox
            .holds_burst()
            .then(|| self.clock.mono + BURST_GIVEN_BACK);
        let next = [
            self.timers.next_at(),
            self.next_file_expiry(),
            self.hub.next_deadline(),
            self.accept_retry,
            stall_check,
            burst_kept,
            self.net_deadline(),
        ];
        let now = Instant::now();
        next.into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// The hub and the output, for work no client asked for.
    fn deliver(&mut self) -> (&mut Hub, Deliver<'_>) {
        let out = deliver_to!(self, None);
        (&mut self.hub, out)
    }

    /// Runs `f` on connection `id`'s front end with its context, the hub and the output.
    fn with_session<R>(
        &mut self,
        id: ClientId,
        f: impl FnOnce(&mut Session, &Ctx<'_>, &mut Hub, &mut Deliver<'_>) -> R,
    ) -> Option<R> {
        let link = self.links.get(id)?;
        let (peer, secure) = (link.peer, link.transport.is_tls());
        let session = self.sessions.get_mut(id)?.as_mut()?;
        let ctx = Ctx {
            id,
            clock: self.clock,
            peer,
            secure,
            cfg: &self.cfg,
            irc_tls_port: self.irc_tls_port,
        };
        let mut out = deliver_to!(self, Some(id));
        Some(f(session, &ctx, &mut self.hub, &mut out))
    }

    fn close(&mut self, id: ClientId, reason: CloseReason) {
        if let Some(link) = self.links.get_mut(id) {
            mark_close(link, id, &mut self.closing, reason);
        }
    }

    fn schedule(&mut self, id: ClientId, at: Instant, kind: TimerKind) {
        if let Some(link) = self.links.get(id) {
            self.timers.push(at, id, link.serial, kind);
        }
    }

    // ---- end of pass ----

    fn end_pass(&mut self) {
        self.finish_pass();
        let took = Instant::now().saturating_duration_since(self.clock.mono);
        self.metrics.pass(took);
    }

    fn finish_pass(&mut self) {
        self.answer_asks();
        self.dispatch_jobs();
        for index in std::mem::take(&mut self.accept_pending) {
            self.accept(index);
        }
        for id in std::mem::take(&mut self.carry) {
            self.on_readable(id, true);
        }
        self.fire_timers();
        loop {
            self.net_pump();
            self.flush();
            if self.closing.is_empty() {
                break;
            }
            self.close_marked();
        }
        self.wake_paused();
        self.feed_drained();
        self.net_flush();
        self.flush_history();
    }

    /// Connections serving a stored file whose output is mostly written get the next
    /// chunk asked for (it comes back through the waker).
    fn feed_drained(&mut self) {
        let mut i = 0;
        while i < self.feeding.len() {
            let id = self.feeding[i];
            let Some(link) = self.links.get(id).filter(|l| !l.is_closing()) else {
                self.feeding.swap_remove(i);
                continue;
            };
            if link.queued() > config::FILE_PAUSE_QUEUE / 2 {
                i += 1;
                continue;
            }
            self.feeding.swap_remove(i);
            self.with_session(id, |s, ctx, _, out| s.drained(ctx, out));
        }
    }

    /// When the next stored file expires, on the loop's clock.
    fn next_file_expiry(&self) -> Option<Instant> {
        let at = self.hub.hosted().next_expiry()?;
        let wait = at.saturating_sub(self.clock.unix_secs());
        Some(self.clock.mono + Duration::from_secs(wait))
    }

    /// Forgets stored files that expired and has the file thread delete them.
    fn expire_files(&mut self) {
        let Some(disk) = &self.disk else {
            return;
        };
        let now = self.clock.unix_secs();
        let mut jobs = std::mem::take(&mut self.disk_backlog);
        let expired = self.hub.hosted_mut().take_expired(now);
        if !expired.is_empty() {
            info!("files: {} expired", expired.len());
        }
        jobs.extend(
            expired
                .into_iter()
                .map(|token| crate::filehost::Job::Delete { token }),
        );
        for job in jobs {
            if let Err(job) = disk.send(None, job) {
                self.disk_backlog.push(job);
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.clock.mono;
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
        self.expire_files();
        while let Some(Due {
            at,
            id,
            serial,
            kind,
        }) = self.timers.pop_due(now)
        {
            let live = self
                .links
                .get(id)
                .is_some_and(|l| l.serial == serial && !l.is_closing());
            if !live {
                continue;
            }
            match kind {
                TimerKind::PartialLine => self.partial_line_due(id, at),
                TimerKind::Flood => self.flood_over(id),
                TimerKind::Session => {
                    self.with_session(id, |s, ctx, hub, out| s.timer(ctx, hub, out));
                }
                TimerKind::WsPing => self.ws_keepalive(id),
                TimerKind::Held => self.hold_over(id, at),
                TimerKind::Handshake => {
                    if self
                        .links
                        .get(id)
                        .is_some_and(|l| l.transport.is_handshaking())
                    {
                        info!("client {id}: TLS handshake not done in time");
                        self.close(id, CloseReason::Other("TLS handshake timed out"));
                    }
                }
            }
        }
    }

    fn close_marked(&mut self) {
        for id in std::mem::take(&mut self.closing) {
            let Some(link) = self.links.get(id) else {
                continue;
            };
            let reason = link.closing().cloned().unwrap_or(CloseReason::PeerClosed);
            if let Some(drop) = metrics::Drop::of(&reason) {
                self.metrics.dropped(drop);
            }
            let (in_hub, peer, secure) =
                (link.has(Flag::InHub), link.peer, link.transport.is_tls());
            self.addresses.release(link.peer, link.counted);
            if in_hub {
                let (hub, mut out) = self.deliver();
                hub.disconnect(id, reason.public_text(), &mut out);
            }
            if let Some(mut session) = self.sessions.get_mut(id).and_then(Option::take) {
                let ctx = Ctx {
                    id,
                    clock: self.clock,
                    peer,
                    secure,
                    cfg: &self.cfg,
                    irc_tls_port: self.irc_tls_port,
                };
                let mut out = deliver_to!(self, None);
                session.closed(&ctx, &mut self.hub, &mut out);
            }
            // A run still holding events for this slot must not reach its next owner.
            deliver_to!(self, None).end_run();
            let mut link = self.links.remove(id);
            if link.ws.as_ref().is_some_and(|ws| !ws.close_sent) {
                // A WebSocket says goodbye with a close frame (the front end's own goodbye,
                // if any, went before it).
                let mut frame = Vec::new();
                crate::proto::ws::write_close(&mut frame, crate::proto::ws::close::NORMAL, "");
                use std::io::Write as _;
                let _ = link.transport.write(&frame);
            }
            let _ = self.poll.registry().deregister(link.transport.socket());
            match &reason {
                CloseReason::Error(e) => {
                    info!("disconnect client {id} ({}): error: {e}", link.peer)
                }
                CloseReason::SendqExceeded { soft } => {
                    let limit = if *soft {
                        "soft limit held too long"
                    } else {
                        "hard limit"
                    };
                    info!(
                        "disconnect client {id} ({}): sendq exceeded ({limit})",
                        link.peer
                    )
                }
                r => info!(
                    "disconnect client {id} ({}): {}",
                    link.peer,
                    r.public_text().unwrap_or("quit")
                ),
            }
            link.transport.discard_unread();
        }
    }

    /// Reads paused file senders again once their recipient has caught up. A sender held
    /// back longer than the stall deadline has its transfer aborted instead: both ends are
    /// told, the rest of its frame is skipped, and it is read again.
    fn wake_paused(&mut self) {
        let mut i = 0;
        while i < self.paused.len() {
            let id = self.paused[i];
            let Some(link) = self.links.get(id) else {
                self.paused.swap_remove(i);
                continue;
            };
            let frame = link.data();
            let behind = frame.to.is_some_and(|to| {
                self.links
                    .get(to)
                    .is_some_and(|l| l.queued() > config::FILE_PAUSE_QUEUE / 2)
            });
            let stalled = link
                .paused_since()
                .is_some_and(|at| self.clock.mono.duration_since(at) >= self.cfg.file_stall);
            if behind && !stalled {
                i += 1;
                continue;
            }
            self.paused.swap_remove(i);
            if stalled && behind {
                let (hub, mut out) = self.deliver();
                hub.abort(frame.transfer, crate::event::AbortReason::Stalled, &mut out);
                info!(
                    "client {id}: file transfer {} stalled, aborted",
                    frame.transfer
                );
            }
            if let Some(link) = self.links.get_mut(id) {
                link.set(Flag::Paused, false);
                link.set_paused_since(None);
                if stalled && behind {
                    link.set_data(crate::front::DataFrame { to: None, ..frame });
                }
                // Handle what was held back, then read what waits in the socket.
                self.input(id, &mut []);
                self.carry.push(id);
            }
        }
    }

    // ---- shutdown ----

    fn shutdown(mut self) -> io::Result<()> {
        systemd::notify("STOPPING=1");
        let clients = self.links.len();
        info!(
            "shutting down: {clients} client{}",
            if clients == 1 { "" } else { "s" }
        );
        for mut l in self.listeners.drain(..).flatten() {
            let _ = self.poll.registry().deregister(&mut l.socket);
        }
        let ids: Vec<ClientId> = self.links.iter().map(|(id, _)| id).collect();
        {
            let (hub, mut out) = self.deliver();
            hub.abort_all_transfers(&mut out);
            for &id in &ids {
                let me = hub.nick(id).unwrap_or("*");
                out.one(id, me, &Event::ShuttingDown);
            }
        }
        self.flush();
        self.net_shutdown();
        // Give slow readers a short, bounded time to take their goodbyes.
        let deadline = Instant::now() + config::SHUTDOWN_FLUSH;
        let mut events = Events::with_capacity(256);
        while self
            .links
            .iter()
            .any(|(_, l)| l.out.backlog() > 0 || l.transport.has_pending())
        {
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
        for (_, link) in self.links.iter_mut() {
            link.transport.shutdown_write();
            link.transport.discard_unread();
        }
        self.flush_history();
        if let Some(store) = self.store.take() {
            let report = store.close();
            info!(
                "store closed: {} writes committed of {} submitted{}",
                report.committed,
                report.submitted,
                if report.dropped + report.refused > 0 {
                    format!(", {} lost", report.dropped + report.refused)
                } else {
                    String::new()
                }
            );
        }
        info!("bye");
        Ok(())
    }
}

/// Opens the store: the PostgreSQL database of `--store-url`, else SQLite in `--data-dir` (or
/// in memory for `none`). An unusable database or data directory is an error here, before
/// anything runs.
fn open_store(
    cfg: &Config,
    waker: &Arc<mio::Waker>,
) -> io::Result<(Option<crate::store::StoreHandle>, crate::store::Snapshot)> {
    use crate::store::{self, StoreConfig};
    let mut store_cfg = StoreConfig::new(StoreConfig::location_from_arg(&cfg.data_dir));
    store_cfg.shared = (!cfg.store_url.is_empty()).then(|| cfg.store_url.clone());
    store_cfg.recent_per_room = cfg.history_on_join;
    store_cfg.retention = retention(cfg);
    let shown = crate::store::pg::shown_url(&cfg.store_url);
    match store::open(&store_cfg, Arc::clone(waker)) {
        Ok((handle, snapshot)) => {
            info!(
                "store: {} ({} accounts, {} registered rooms, {} recent lines)",
                if !cfg.store_url.is_empty() {
                    &shown
                } else if cfg.data_dir == "none" {
                    "in memory, nothing kept"
                } else {
                    &cfg.data_dir
                },
                snapshot.accounts.len(),
                snapshot.rooms.len(),
                snapshot.recent.len()
            );
            Ok((Some(handle), snapshot))
        }
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// Starts the file thread for FILEHOST uploads under `DATA_DIR/uploads` and tells the hub
/// what is stored there. Off without a data directory (`none` keeps nothing: files that
/// vanish at a restart would break links people were given), without a web listener (no
/// link to give) or with `--filehost-max-size 0`.
fn open_disk(
    cfg: &Config,
    waker: &Arc<mio::Waker>,
    hub: &mut Hub,
) -> io::Result<Option<crate::filehost::Disk>> {
    if cfg.data_dir == "none" || cfg.filehost_max_size == 0 || hub.files_url().is_none() {
        info!("files: uploads (FILEHOST) off");
        return Ok(None);
    }
    let dir = std::path::Path::new(&cfg.data_dir).join("uploads");
    let now = Clock::now().unix_secs();
    let (disk, kept) = crate::filehost::Disk::open(dir.clone(), now, Arc::clone(waker))
        .map_err(|e| io::Error::other(format!("{}: {e}", dir.display())))?;
    hub.hosted_mut().load(kept);
    hub.set_filehost(true);
    Ok(Some(disk))
}

/// How long history is kept, from the configuration.
fn retention(cfg: &Config) -> crate::store::Retention {
    crate::store::Retention {
        max_age_ms: (cfg.history_days > 0).then(|| cfg.history_days as i64 * 86_400_000),
        max_per_target: (cfg.history_max_per_room > 0).then_some(cfg.history_max_per_room),
    }
}

/// An unguessable token for a file link, from the operating system's generator.
fn random_token() -> u128 {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness at all is a broken machine; a token that cannot be opened is safe.
        return 0;
    }
    u128::from_le_bytes(bytes)
}

/// The port of the first IRC listener over TLS.
fn irc_tls_port(listeners: &[Option<Listener>]) -> Option<u16> {
    let l = listeners
        .iter()
        .flatten()
        .find(|l| l.proto == Proto::Irc && l.tls)?;
    Some(l.socket.local_addr().ok()?.port())
}

/// Where file links point: `--web-url`, else the first web listener as bound (an unspecified
/// address replaced by the server name).
fn files_url(cfg: &Config, listeners: &[Option<Listener>]) -> Option<String> {
    if let Some(url) = &cfg.web_url {
        return Some(url.clone());
    }
    let web = listeners.iter().flatten().find(|l| l.proto == Proto::Web)?;
    let addr = web.socket.local_addr().ok()?;
    let scheme = if web.tls { "https" } else { "http" };
    let host = if addr.ip().is_unspecified() {
        format!("{}:{}", cfg.server_name, addr.port())
    } else {
        addr.to_string()
    };
    Some(format!("{scheme}://{host}"))
}

/// Every listener the configuration asks for: address, front end, TLS.
fn wanted_listeners(cfg: &Config) -> Vec<(SocketAddr, Proto, bool)> {
    let of = |addrs: &[SocketAddr], proto, tls| -> Vec<(SocketAddr, Proto, bool)> {
        addrs.iter().map(|&a| (a, proto, tls)).collect()
    };
    [
        of(&cfg.listen, Proto::Native, false),
        of(&cfg.irc_listen, Proto::Irc, false),
        of(&cfg.web_listen, Proto::Web, false),
        of(&cfg.tls_listen, Proto::Native, true),
        of(&cfg.irc_tls_listen, Proto::Irc, true),
        of(&cfg.web_tls_listen, Proto::Web, true),
        of(&cfg.metrics_listen, Proto::Metrics, false),
    ]
    .concat()
}

/// A listening socket systemd handed over, made ours.
fn adopt_listener(poll: &Poll, s: systemd::Inherited, token: usize) -> io::Result<TcpListener> {
    s.listener.set_nonblocking(true)?;
    let mut socket = TcpListener::from_std(s.listener);
    tune_listener(&socket);
    poll.registry()
        .register(&mut socket, Token(token), Interest::READABLE)?;
    info!("socket activation: listening on {}", s.addr);
    Ok(socket)
}

/// Whether listeners share their ports (`--reuse-port`, always on a network).
fn reuse_port(cfg: &Config) -> bool {
    cfg.reuse_port || !cfg.bus.is_empty()
}

fn bind_listener(
    poll: &Poll,
    addr: SocketAddr,
    token: usize,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    let bound = if reuse_port {
        reuseport::bind(addr).map(TcpListener::from_std)
    } else {
        TcpListener::bind(addr)
    };
    let mut socket =
        bound.map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    tune_listener(&socket);
    poll.registry()
        .register(&mut socket, Token(token), Interest::READABLE)?;
    Ok(socket)
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

/// Writes a refusal line and drops the socket.
fn refuse(mut socket: mio::net::TcpStream, line: &[u8]) {
    let _ = socket.write(line);
    debug!("refusal sent");
}
