//! The bus: this process as one node of a snak network, over NATS. A NATS client that the
//! single-threaded loop owns and drives, which never blocks it.
//!
//! # One more connection on the loop's poll, not a thread
//!
//! The NATS connection is a non-blocking socket registered on the loop's own `mio::Poll`
//! under a token of the loop's choosing. The loop hands the bus its readiness events
//! ([`Bus::ready`]), calls [`Bus::poll_timers`] when [`Bus::next_deadline`] is due, calls
//! [`Bus::flush`] once per pass after the hub has published, and takes [`BusEvent`]s with
//! [`Bus::next_event`]. Why this and not a thread with a blocking socket and the shared
//! `mio::Waker`:
//!
//! - The client protocol is a small text protocol; its codec is pure ([`crate::proto::nats`])
//!   and the loop already does bounded non-blocking reads and writes for thousands of
//!   sockets. One more costs nothing a thread would save.
//! - No copies and no locks on the hot path: a room message the hub publishes is written into
//!   the bus's output buffer and leaves with one `write` per pass, like every other
//!   connection's output; a message that arrives is parsed where it landed and reaches the hub
//!   in the same pass. A thread would add two channel hops, a wake-up and a context switch per
//!   batch, both ways.
//! - One clock, one order: connection state, request timeouts, reconnect backoff and
//!   heartbeats are timers of the loop, and everything the bus reports happens at a defined
//!   point of the pass, so the hub never sees the network change under it mid-command.
//! - Backpressure stays visible: the output buffer is bounded and [`Bus::publish`] refuses
//!   past it at once, instead of a channel filling somewhere out of sight.
//! - `async-nats`, the maintained Rust client, needs the tokio runtime: a second scheduler and
//!   threads beside a loop that is deliberately one thread, for what is here a few hundred
//!   lines. The synchronous `nats` crate is deprecated and blocks.
//!
//! What this costs: name resolution of `--bus` hosts is blocking, so it happens once in
//! [`Bus::new`], before the loop runs (servers the cluster advertises arrive as addresses);
//! TLS to NATS is not there yet (it would be rustls driven the way `transport` drives it).
//!
//! # What the bus promises
//!
//! - **Connection.** It connects to one of the configured servers (or those the cluster
//!   advertises), sends `CONNECT` with verbose off, headers on, no-responders on and echo off
//!   (a node never receives its own publishes), and counts as connected once the server has
//!   answered the first `PING`. It pings every `ping_interval` and drops a connection that
//!   leaves `max_pings_out` pings unanswered. A lost or failed connection is retried at once
//!   with the next server after a short jittered wait, then after waits that double up to
//!   `reconnect_max`, each with jitter (half to all of the wait).
//! - **State changes.** [`BusEvent::Connected`] and [`BusEvent::Disconnected`] come exactly
//!   in turn, so the loop can tell its users the network is split and when it is whole.
//!   Until the first `Connected` the node is alone ([`Bus::is_connected`] is false); an
//!   attempt that never got connected (refused, no answer, bad credentials) reports nothing
//!   but is counted in [`BusStats::failures`] and logged.
//! - **Subscriptions** survive reconnects: every live one is sent again before anything else.
//! - **Bounded queues, stated policies.** Connected, the output buffer holds at most
//!   `max_outgoing` bytes; disconnected, publishes wait in a buffer of at most
//!   `max_offline` bytes and are sent after the subscriptions when the connection is back.
//!   Past either bound a publish is *refused* ([`BusError::Full`]) and counted; nothing
//!   accepted is dropped to make room. Refusing the newest (rather than dropping the oldest)
//!   keeps each sender's numbered stream without holes in what was accepted, and tells the
//!   caller at once which message did not go. Bytes written to a connection that then dies
//!   may be lost: receivers see the gap in the sender's numbers (`missed`).
//!   Events wait in a queue of at most `max_events`; when it is full the bus stops reading
//!   its socket until the loop has taken them (then NATS buffers, and past its own limit
//!   drops this slow consumer, which reconnects).
//!   Requests in flight or waiting for a connection: at most `max_requests`.
//! - **Requests** (the key-value operations, and [`Bus::request`]) answer exactly once each,
//!   through
//!   [`BusEvent::Reply`]: with the result, with [`RequestError::Timeout`] after
//!   `request_timeout` (also when it could not even be sent because NATS was away), or with
//!   [`RequestError::ConnectionLost`] when the connection died after it was sent (its outcome is
//!   then unknown). A request is never sent after its deadline.
//! - **In order, once, per sender**: see [`order`].
//! - **Never panics on what the server sends**: a protocol error drops the connection (and
//!   reconnects); a malformed JetStream answer fails that request.
//!
//! # Key-value, on JetStream
//!
//! Buckets, keys and their meaning on the wire are in [`js`]. Watching a bucket is an ordered
//! consumer, not a plain subscription to `$KV.<bucket>.>`: a plain subscription sees every
//! *attempted* write, including a `create` the stream refused (so every node would believe the
//! loser of a nick race), sees nothing of what was there before it subscribed, and misses
//! what happened while it was disconnected. The ordered consumer delivers the stored state
//! first (the last value of every key), then each change the stream accepted, in stream
//! order; the bus checks the consumer's sequence on every message and its idle heartbeats,
//! and on a gap, a silent consumer or a reconnect it makes a new consumer from the next
//! stream sequence, so no change is missed or seen twice. A bucket with a TTL loses entries
//! without any message (JetStream's `max_age` on this server version leaves no marker), so
//! the watch reports [`KvOp::Expired`] itself when a key has gone unrenewed for the TTL
//! (measured from the stored time); it does so only while connected and caught up, never
//! because this node alone lost NATS. After a reconnect to a stream that was emptied or
//! recreated, the watch takes the whole state again and reports keys that are no longer
//! there as [`KvOp::Gone`]. [`BusEvent::WatchReady`] says a watch has caught up.
//!
//! Node liveness: [`Bus::kv_keepalive`] puts a key again every `every` while connected (and
//! right after connecting); with the bucket's TTL above `every` a node's key stays while it
//! lives, and vanishes (and every watcher hears [`KvOp::Expired`]) at most TTL after its last
//! renewal when it dies.
//!
//! Modules: [`servers`] (URLs, the pool, backoff and jitter), `conn` (the socket: connect,
//! handshake, read, write, ping), [`js`] (JetStream subjects and answers, pure), `kv` (the
//! requests and their replies), `watch` (ordered consumers), [`order`] (sequence numbers,
//! duplicates, gaps), [`names`] (the network's subjects and buckets).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

use crate::proto::nats::{self, HeaderError, Headers, SubjectError};

mod conn;
pub mod js;
mod kv;
pub mod names;
pub mod order;
pub mod servers;
mod watch;

#[cfg(test)]
mod tests;

pub use js::BucketConfig;

/// Everything the bus needs to know. [`BusConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// `--bus nats://HOST:PORT`, one per server of the NATS cluster.
    pub servers: Vec<String>,
    /// This node's id: in every publish's `Snak-Node` header and the connection's name. New
    /// at every start ([`BusConfig::new`] makes one).
    pub node: String,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
    pub ping_interval: Duration,
    pub max_pings_out: u32,
    /// A connection not established and answering within this is given up.
    pub connect_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub request_timeout: Duration,
    pub max_outgoing: usize,
    pub max_offline: usize,
    pub max_events: usize,
    pub max_requests: usize,
    /// Bytes read from the socket per call before other work gets a turn.
    pub read_budget: usize,
    /// A watch's consumer sends an idle heartbeat this often; three missed ones restart it.
    pub watch_heartbeat: Duration,
}

impl BusConfig {
    pub fn new(servers: Vec<String>) -> BusConfig {
        let mut id = [0u8; 8];
        let _ = getrandom::fill(&mut id);
        BusConfig {
            servers,
            node: id.iter().map(|b| format!("{b:02x}")).collect(),
            user: None,
            pass: None,
            token: None,
            ping_interval: Duration::from_secs(5),
            max_pings_out: 2,
            connect_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_outgoing: 8 << 20,
            max_offline: 1 << 20,
            max_events: 65_536,
            max_requests: 4096,
            read_budget: 1 << 20,
            watch_heartbeat: Duration::from_secs(5),
        }
    }
}

/// A subscription made with [`Bus::subscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubId(pub u64);

/// A request made with one of the `kv_*` calls; its [`BusEvent::Reply`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A watch made with [`Bus::kv_watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchId(pub u64);

/// Where a message came from: the publishing node and its number for this subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub node: String,
    pub seq: u64,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    Put,
    Delete,
    Purge,
    /// Its TTL ran out without a renewal (reported by the watch itself).
    Expired,
    /// Not there any more after the watch took the state again.
    Gone,
}

/// A value and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub value: Vec<u8>,
    pub revision: u64,
}

/// What a request answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// [`Bus::request`]: the responder's message.
    Message { headers: Headers, payload: Vec<u8> },
    /// The bucket exists with this configuration.
    Bucket,
    /// The write is stored with this revision.
    Revision(u64),
    /// `kv_get`: the value, or None if the key has none (never set, deleted, expired).
    Entry(Option<KvEntry>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// `kv_create`: the key has a value already (another node took it first).
    AlreadyExists,
    /// `kv_update` or a conditional delete: the key's revision is not the one given.
    WrongRevision,
    /// No answer within `request_timeout` (or NATS was away the whole time).
    Timeout,
    /// The connection died after the request was sent: it may or may not have been done.
    ConnectionLost,
    /// Nobody listens on that subject; NATS says so at once. For a key-value write: the
    /// bucket does not exist, or JetStream is off. (A get from a bucket that does not exist
    /// is a `Timeout`: JetStream's API answers nothing for a stream it does not have.)
    NoResponders,
    /// JetStream refused.
    Api(js::ApiError),
    /// An answer that makes no sense.
    BadReply(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::AlreadyExists => f.write_str("the key exists already"),
            RequestError::WrongRevision => f.write_str("the key changed since it was read"),
            RequestError::Timeout => f.write_str("no answer in time"),
            RequestError::ConnectionLost => f.write_str("the connection was lost; outcome unknown"),
            RequestError::NoResponders => {
                f.write_str("no responders (JetStream off, or no bucket)")
            }
            RequestError::Api(e) => write!(f, "JetStream: {e}"),
            RequestError::BadReply(e) => write!(f, "bad answer: {e}"),
        }
    }
}

/// What the bus tells the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// Connected to `server` (and every subscription sent again); `reconnect` is false the
    /// first time.
    Connected { server: SocketAddr, reconnect: bool },
    /// The connection is gone; the bus is reconnecting. Local users should be told the
    /// network is split.
    Disconnected { reason: String },
    Message {
        sub: SubId,
        subject: String,
        reply: Option<String>,
        headers: Headers,
        payload: Vec<u8>,
        /// Set for messages another node published through [`Bus::publish`].
        origin: Option<Origin>,
        /// Messages from the same origin on this subject that never arrived before this one.
        missed: u64,
    },
    Reply {
        request: RequestId,
        result: Result<Response, RequestError>,
    },
    KvChange {
        watch: WatchId,
        bucket: String,
        key: String,
        /// None for a deletion, purge, expiry or a key gone.
        value: Option<Vec<u8>>,
        revision: u64,
        op: KvOp,
    },
    /// A watch has delivered the bucket's whole state (after it started, and again after
    /// each reconnect); changes follow as they happen.
    WatchReady { watch: WatchId },
}

/// Why a call was refused at once (nothing was queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusError {
    BadSubject(SubjectError),
    BadHeader(HeaderError),
    BadBucket(String),
    BadKey(String),
    /// Header and payload over the server's `max_payload`.
    TooLarge {
        size: usize,
        limit: usize,
    },
    /// The output buffer (connected) or the offline buffer (disconnected) is full.
    Full,
    /// `max_requests` requests are already waiting for answers.
    Busy,
    /// No usable server in the configuration.
    NoServers(String),
    Io(String),
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusError::BadSubject(e) => write!(f, "subject: {e}"),
            BusError::BadHeader(e) => write!(f, "header: {e}"),
            BusError::BadBucket(b) => write!(f, "bad bucket name {b:?}"),
            BusError::BadKey(k) => write!(f, "bad key {k:?}"),
            BusError::TooLarge { size, limit } => {
                write!(f, "message of {size} bytes (the server takes {limit})")
            }
            BusError::Full => f.write_str("the bus's buffer is full"),
            BusError::Busy => f.write_str("too many requests waiting"),
            BusError::NoServers(e) => write!(f, "no NATS server: {e}"),
            BusError::Io(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for BusError {}

/// The counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BusStats {
    pub connected: bool,
    /// Connections made (the first one included).
    pub connects: u64,
    /// Connection attempts that failed, and connections lost.
    pub failures: u64,
    pub published: u64,
    /// Publishes refused because a buffer was full.
    pub refused: u64,
    /// Bytes thrown away when a connection died with them unsent.
    pub lost_bytes: u64,
    pub received: u64,
    /// Stamped messages seen twice and dropped.
    pub duplicates: u64,
    /// Stamped messages known lost (gaps in a sender's numbers).
    pub missed: u64,
    pub requests: u64,
    pub timeouts: u64,
    /// `-ERR` lines from the server.
    pub server_errors: u64,
    /// Flow-control requests of watch consumers answered.
    pub flow_control: u64,
    /// Bytes waiting: in the output buffer and in the offline buffer.
    pub outgoing: usize,
    pub offline: usize,
}

/// What a subscription is for.
#[derive(Debug, Clone)]
enum SubKind {
    User,
    /// The inbox for every request's answer.
    Inbox,
    /// The deliver subject of a watch's current consumer.
    Watch(WatchId),
}

#[derive(Debug, Clone)]
struct Sub {
    subject: String,
    kind: SubKind,
}

/// A key renewed while connected.
#[derive(Debug, Clone)]
struct Keepalive {
    bucket: String,
    key: String,
    value: Vec<u8>,
    every: Duration,
    next: Option<Instant>,
}

/// The NATS client. See the module docs for how the loop drives it.
pub struct Bus {
    cfg: BusConfig,
    registry: Registry,
    token: Token,
    pool: servers::Pool,
    conn: conn::Conn,
    /// Connected at least once (so the next Connected is a reconnect).
    ever_connected: bool,
    subs: HashMap<u64, Sub>,
    next_sid: u64,
    inbox_sid: u64,
    /// `_INBOX.<random>`: this bus's requests' answers come to `<inbox>.r.<n>`, watches'
    /// deliveries to `<inbox>.w.<watch>.<generation>`.
    inbox: String,
    requests: kv::Requests,
    watches: HashMap<u64, watch::Watch>,
    next_watch: u64,
    /// Keys that expire (TTL buckets): `(when, watch, key, revision)`, checked lazily.
    expiries: BinaryHeap<Reverse<(Instant, u64, String, u64)>>,
    /// Expiries that came due while their watch could not tell (disconnected, or not caught
    /// up): looked at again once it is.
    deferred_expiries: Vec<Reverse<(Instant, u64, String, u64)>>,
    keepalives: Vec<Keepalive>,
    events: VecDeque<BusEvent>,
    outgoing_seq: order::Outgoing,
    incoming_seq: order::Incoming,
    /// Publishes waiting for a connection.
    offline: Vec<u8>,
    stats: BusStats,
}

impl Bus {
    /// Resolves the servers (blocking: call before the loop runs) and starts connecting.
    /// The socket is registered on `registry` under `token`; hand every event with that token
    /// to [`Bus::ready`].
    pub fn new(
        cfg: BusConfig,
        registry: &Registry,
        token: Token,
        now: Instant,
    ) -> Result<Bus, BusError> {
        let mut addrs = Vec::new();
        let mut errors = Vec::new();
        for url in &cfg.servers {
            match servers::resolve(url) {
                Ok(a) => addrs.extend(a),
                Err(e) => errors.push(e),
            }
        }
        if addrs.is_empty() {
            return Err(BusError::NoServers(if errors.is_empty() {
                "none configured (--bus nats://HOST:PORT)".into()
            } else {
                errors.join("; ")
            }));
        }
        for e in errors {
            log::warn!("bus: {e}");
        }
        let registry = registry
            .try_clone()
            .map_err(|e| BusError::Io(format!("cannot share the poll registry: {e}")))?;
        let mut jitter = servers::Jitter::new();
        let inbox = format!(
            "_INBOX.{:016x}{:08x}",
            jitter.next_u64(),
            jitter.next_u64() as u32
        );
        let pool = servers::Pool::new(addrs, cfg.reconnect_min, cfg.reconnect_max, jitter);
        let mut bus = Bus {
            cfg,
            registry,
            token,
            pool,
            conn: conn::Conn::new(now),
            ever_connected: false,
            subs: HashMap::new(),
            next_sid: 1,
            inbox_sid: 0,
            inbox,
            requests: kv::Requests::default(),
            watches: HashMap::new(),
            next_watch: 1,
            expiries: BinaryHeap::new(),
            deferred_expiries: Vec::new(),
            keepalives: Vec::new(),
            events: VecDeque::new(),
            outgoing_seq: order::Outgoing::default(),
            incoming_seq: order::Incoming::default(),
            offline: Vec::new(),
            stats: BusStats::default(),
        };
        bus.inbox_sid = bus.add_sub(format!("{}.>", bus.inbox), SubKind::Inbox);
        bus.try_connect(now);
        Ok(bus)
    }

    pub fn node(&self) -> &str {
        &self.cfg.node
    }

    pub fn token(&self) -> Token {
        self.token
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    pub fn stats(&self) -> BusStats {
        BusStats {
            connected: self.is_connected(),
            duplicates: self.incoming_seq.duplicates,
            missed: self.incoming_seq.missed,
            outgoing: self.conn.queued(),
            offline: self.offline.len(),
            ..self.stats
        }
    }

    /// The next event, if any. Drain after every call into the bus:
    /// `while let Some(e) = bus.next_event() { ... }` (the loop may call the bus while
    /// handling each).
    pub fn next_event(&mut self) -> Option<BusEvent> {
        self.events.pop_front()
    }

    /// When [`Bus::poll_timers`] wants to run next (now, if input was left unread).
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next = [
            self.conn.deadline(),
            self.requests.next_deadline(),
            self.expiries.peek().map(|Reverse(e)| e.0),
            self.watch_deadline(),
            self.keepalive_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        if self.conn.carry && self.events.len() < self.cfg.max_events {
            next = Some(self.conn.since_carry);
        }
        next
    }

    /// Subscribes (again after every reconnect until [`Bus::unsubscribe`]). Wildcards are
    /// allowed as whole tokens.
    pub fn subscribe(&mut self, subject: &str) -> Result<SubId, BusError> {
        nats::subject::check_subscribe(subject).map_err(BusError::BadSubject)?;
        Ok(SubId(self.add_sub(subject.to_string(), SubKind::User)))
    }

    pub fn unsubscribe(&mut self, sub: SubId) {
        if let Some(s) = self.subs.get(&sub.0) {
            if matches!(s.kind, SubKind::User) {
                let subject = s.subject.clone();
                self.drop_sub(sub.0);
                self.incoming_seq.forget_subject(&subject);
            }
        }
    }

    /// Whether publishes pile up faster than the connection takes them: more than half of
    /// `max_outgoing` is waiting to be written. The loop stops reading its clients until it
    /// is not, so that the network pushes back on senders instead of refusing publishes.
    pub fn is_backlogged(&self) -> bool {
        self.conn.is_connected() && self.conn.queued() > self.cfg.max_outgoing / 2
    }

    /// Publishes to `subject` with `headers` (the bus adds `Snak-Node` and `Snak-Seq`).
    /// Queued: it leaves with the next [`Bus::flush`] (or, while disconnected, after the
    /// reconnect). Refused at once if a buffer is full or the message too large.
    pub fn publish(
        &mut self,
        subject: &str,
        headers: &Headers,
        payload: &[u8],
    ) -> Result<(), BusError> {
        nats::subject::check_publish(subject).map_err(BusError::BadSubject)?;
        let mut h = headers.clone();
        // The stamp is written last so that a caller's header of the same name cannot
        // confuse a receiver.
        h.insert(order::NODE, &self.cfg.node)
            .map_err(BusError::BadHeader)?;
        let size = h.encoded_len() + payload.len();
        let limit = self.conn.max_payload();
        if size > limit {
            return Err(BusError::TooLarge { size, limit });
        }
        let need = nats::pub_len(subject, None, Some(&h), payload.len()) + 24;
        let room = if self.conn.is_connected() {
            self.cfg.max_outgoing.saturating_sub(self.conn.queued())
        } else {
            self.cfg.max_offline.saturating_sub(self.offline.len())
        };
        if need > room {
            self.stats.refused += 1;
            return Err(BusError::Full);
        }
        let seq = self.outgoing_seq.next(subject);
        h.insert(order::SEQ, &seq.to_string())
            .map_err(BusError::BadHeader)?;
        let out = if self.conn.is_connected() {
            &mut self.conn.out
        } else {
            &mut self.offline
        };
        nats::write_hpub(out, subject, None, &h, payload).map_err(|e| match e {
            nats::WriteError::Subject(e) | nats::WriteError::Reply(e) => BusError::BadSubject(e),
            nats::WriteError::Queue => BusError::BadSubject(SubjectError::BadWildcard),
        })?;
        self.stats.published += 1;
        Ok(())
    }

    /// Answers a message that came with a reply subject (a [`Bus::request`] of another
    /// node). Not numbered: a reply subject is used once.
    pub fn respond(
        &mut self,
        reply: &str,
        headers: &Headers,
        payload: &[u8],
    ) -> Result<(), BusError> {
        nats::subject::check_publish(reply).map_err(BusError::BadSubject)?;
        let size = headers.encoded_len() + payload.len();
        let limit = self.conn.max_payload();
        if size > limit {
            return Err(BusError::TooLarge { size, limit });
        }
        let need = nats::pub_len(reply, None, Some(headers), payload.len());
        let (out, room) = if self.conn.is_connected() {
            let room = self.cfg.max_outgoing.saturating_sub(self.conn.queued());
            (&mut self.conn.out, room)
        } else {
            let room = self.cfg.max_offline.saturating_sub(self.offline.len());
            (&mut self.offline, room)
        };
        if need > room {
            self.stats.refused += 1;
            return Err(BusError::Full);
        }
        let written = if headers.is_empty() {
            nats::write_pub(out, reply, None, payload)
        } else {
            nats::write_hpub(out, reply, None, headers, payload)
        };
        written.map_err(|_| BusError::BadSubject(SubjectError::Wildcard))?;
        self.stats.published += 1;
        Ok(())
    }

    /// Forgets what the sequence check knows of `node` (call when it is gone).
    pub fn forget_node(&mut self, node: &str) {
        self.incoming_seq.forget_node(node);
    }

    /// Writes what is queued. Call once per pass, after the hub's work.
    pub fn flush(&mut self, now: Instant) {
        if let Err(reason) = self.conn.write_out() {
            self.lost(now, reason);
        }
    }

    /// The socket is ready (an event with this bus's token).
    pub fn ready(&mut self, event: &mio::event::Event, now: Instant) {
        self.on_ready(
            event.is_readable() || event.is_read_closed() || event.is_error(),
            now,
        );
    }

    /// Timers: connection attempts, pings, request timeouts, watches, keepalives, expiries;
    /// and input left unread by the last call.
    pub fn poll_timers(&mut self, now: Instant) {
        if self.conn.carry {
            self.on_ready(true, now);
        }
        self.conn_timers(now);
        self.request_timers(now);
        self.watch_timers(now);
        self.keepalive_timers(now);
        self.flush(now);
    }

    /// Says goodbye: writes what is queued (without waiting) and closes.
    pub fn close(mut self, now: Instant) {
        self.flush(now);
        self.conn.close(&self.registry);
    }

    // ---- subscriptions ----

    fn add_sub(&mut self, subject: String, kind: SubKind) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        if self.conn.is_connected() {
            // Checked by the caller.
            let _ = nats::write_sub(&mut self.conn.out, &subject, None, sid);
        }
        self.subs.insert(sid, Sub { subject, kind });
        sid
    }

    fn drop_sub(&mut self, sid: u64) {
        if self.subs.remove(&sid).is_some() && self.conn.is_connected() {
            nats::write_unsub(&mut self.conn.out, sid, None);
        }
    }

    /// After the handshake: subscriptions first (inbox first of all), then what waited.
    fn resubscribe(&mut self) {
        let mut sids: Vec<u64> = self.subs.keys().copied().collect();
        sids.sort_unstable();
        for sid in sids {
            if let Some(s) = self.subs.get(&sid) {
                let _ = nats::write_sub(&mut self.conn.out, &s.subject, None, sid);
            }
        }
    }

    fn push_event(&mut self, e: BusEvent) {
        self.events.push_back(e);
    }

    fn on_message(&mut self, m: nats::Msg<'_>, now: Instant) {
        self.stats.received += 1;
        let Some(kind) = self.subs.get(&m.sid).map(|s| s.kind.clone()) else {
            // A subscription just dropped: its last messages may still come.
            return;
        };
        match kind {
            SubKind::Inbox => self.on_reply(m, now),
            SubKind::Watch(w) => self.on_watch_message(w, m, now),
            SubKind::User => {
                let headers = m.headers.unwrap_or_default();
                let stamp = headers
                    .get(order::NODE)
                    .zip(headers.get(order::SEQ).and_then(|s| s.parse::<u64>().ok()));
                let (origin, missed) = match stamp {
                    Some((node, seq)) => match self.incoming_seq.check(node, m.subject, seq) {
                        order::Verdict::Duplicate => return,
                        order::Verdict::Deliver { missed } => (
                            Some(Origin {
                                node: node.to_string(),
                                seq,
                            }),
                            missed,
                        ),
                    },
                    None => (None, 0),
                };
                self.push_event(BusEvent::Message {
                    sub: SubId(m.sid),
                    subject: m.subject.to_string(),
                    reply: m.reply.map(str::to_string),
                    headers,
                    payload: m.payload.to_vec(),
                    origin,
                    missed,
                });
            }
        }
    }

    // ---- keepalives ----

    /// Puts `value` under `key` in `bucket` now (once connected) and again every `every`
    /// while connected; replaces an earlier keepalive of the same key. With a bucket TTL
    /// above `every`, the key lives exactly as long as this node keeps renewing it.
    pub fn kv_keepalive(
        &mut self,
        bucket: &str,
        key: &str,
        value: &[u8],
        every: Duration,
    ) -> Result<(), BusError> {
        kv::check(bucket, key)?;
        self.keepalives
            .retain(|k| !(k.bucket == bucket && k.key == key));
        self.keepalives.push(Keepalive {
            bucket: bucket.into(),
            key: key.into(),
            value: value.to_vec(),
            every: every.max(Duration::from_millis(10)),
            next: None,
        });
        Ok(())
    }

    /// Stops renewing `key`; with `delete`, deletes it too (a node leaving on purpose).
    pub fn kv_keepalive_stop(&mut self, bucket: &str, key: &str, delete: bool, now: Instant) {
        self.keepalives
            .retain(|k| !(k.bucket == bucket && k.key == key));
        if delete && kv::check(bucket, key).is_ok() {
            self.internal_delete(bucket, key, now);
        }
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        if !self.conn.is_connected() {
            return None;
        }
        self.keepalives
            .iter()
            .map(|k| k.next.unwrap_or(self.conn.connected_at()))
            .min()
    }

    fn keepalive_timers(&mut self, now: Instant) {
        if !self.conn.is_connected() {
            for k in &mut self.keepalives {
                // Renewed right after the next connection.
                k.next = None;
            }
            return;
        }
        let due: Vec<usize> = (0..self.keepalives.len())
            .filter(|&i| self.keepalives[i].next.is_none_or(|t| t <= now))
            .collect();
        for i in due {
            let k = &mut self.keepalives[i];
            k.next = Some(now + k.every);
            let (bucket, key, value) = (k.bucket.clone(), k.key.clone(), k.value.clone());
            self.internal_put(&bucket, &key, &value, now);
        }
    }
}
