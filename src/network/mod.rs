//! This server as one node of a snak network (`--bus`): the glue between the hub and the bus.
//!
//! The hub says what the network must hear as typed changes (collected in [`NetOut`] by the
//! server's sink); [`Network::send`] turns each into publishes and key-value requests. What
//! the bus reports ([`Network::handle`]) is turned into the hub's `remote_*` calls. Everything
//! runs on the loop's thread at defined points of the pass; nothing here blocks.
//!
//! What crosses NATS, under which names, and what every node does when things fail is
//! `docs/NETWORK.md`; in short:
//!
//! - `snak.<net>.room.<room>`: what happens in a room, from the node where it happened, to
//!   every node with a member (each subscribes while it has one).
//! - `snak.<net>.node.<id>`: what is for one node: direct messages, invitations and kills for
//!   its users, and requests for a room's state.
//! - `snak.<net>.all`: users' records (on line, renamed, away...), quits, WALLOPS, goodbyes.
//! - bucket `snak_<net>_nicks`: one key per nick in use and one per skeleton, created with
//!   `kv_create` (so of two nodes taking one nick at once exactly one gets it); the value is
//!   the holder's record, so a node that starts or comes back reads every user from it.
//! - bucket `snak_<net>_nodes`: each node's key, renewed every third of the TTL: a node that
//!   dies is gone from every member list within the TTL, and the live node with the smallest
//!   id gives its nicks back. Beside it the node's msgid tag `tag.N` ([`tag`]), renewed alike,
//!   so no two live nodes make the same msgid.
//! - bucket `snak_<net>_rooms`: `<room>.<node>` while a node has members (their count and
//!   the topic): whom to ask for a room's state, and LIST's rooms that are elsewhere.

pub mod out;
pub mod tag;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::bus::names::{self, Scheme};
use crate::bus::{
    BucketConfig, Bus, BusConfig, BusError, BusEvent, BusStats, KvOp, RequestError, RequestId,
    Response, SubId, WatchId,
};
use crate::clock::Clock;
use crate::event::NetNotice;
use crate::hub::{ClaimOutcome, Claimed, Hub, RoomEffect, RoomState, RoomSummary, Sink, Uid};
use crate::proto::nats::Headers;

pub use out::{Keys, NetOut, Outgoing, Target};

/// What the network needs to know.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// `--bus nats://HOST:PORT`, one per NATS server.
    pub servers: Vec<String>,
    /// `--network NAME`: several networks may share one NATS cluster.
    pub network: String,
    /// A dead node is gone from every member list within this (`--bus-ttl`).
    pub ttl: Duration,
    /// How long a split may last before other servers' users are shown leaving
    /// (`--bus-grace`).
    pub grace: Duration,
    /// How long a first join waits for the other nodes' room states.
    pub sync_timeout: Duration,
    /// This node's name in its node key (its `--server-name`).
    pub name: String,
    /// The nodes share one store (`--store-url`): accounts and registered rooms changed on
    /// one node are announced, and taken from the others' announcements. With a store of
    /// its own, a node ignores them (its store would not know what its memory says).
    pub shared_store: bool,
}

/// The counters `/metrics` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    pub received: u64,
    pub malformed: u64,
    pub refused: u64,
    pub claims: u64,
    pub claims_refused: u64,
    pub collisions: u64,
    pub syncs: u64,
    pub nodes_gone: u64,
    pub lost: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not connected yet: every nick is provisional.
    Alone,
    Up,
    /// The bus is away since `since`; other nodes' users were dropped once `grace` passed.
    Split {
        since: Instant,
        dropped: bool,
    },
}

/// The keys a local user holds, with their revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    nick: String,
    nick_rev: u64,
    skel: String,
    skel_rev: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Not asked yet: the nick key is created once the skeleton is this user's.
    Later,
    Waiting,
    Done(u64),
    /// Held already (a rename to a look-alike of one's own nick): not to be given back.
    Kept(u64),
    Taken,
    Failed,
}

impl Part {
    fn is_final(self) -> bool {
        !matches!(self, Part::Waiting | Part::Later)
    }
    fn rev(self) -> Option<u64> {
        match self {
            Part::Done(r) | Part::Kept(r) => Some(r),
            _ => None,
        }
    }
}

/// A claim of a nick key and a skeleton key for one user.
#[derive(Debug)]
struct Claim {
    nick_key: String,
    skel_key: String,
    value: Vec<u8>,
    holder: Vec<u8>,
    /// After a (re)connection: a key that is there already is checked, not refused.
    reclaim: bool,
    abandoned: bool,
    nick: Part,
    skel: Part,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Nick,
    Skel,
}

#[derive(Debug)]
enum Req {
    Create(Uid, Which),
    Get(Uid, Which),
    Renew(Uid, Which),
    Update(Uid),
    State { folded: Box<str>, node: u64 },
    Found { folded: Box<str>, step: FoundStep },
    Tag { n: u8, step: TagStep },
    Other(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagStep {
    Create,
    /// Refused: is it this node's own key (it survived a short split)?
    Get,
    Renew,
}

/// The steps of founding a room: create its founding key; if that fails, read who holds it
/// and whether that node still lists the room (a key left behind is taken over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FoundStep {
    Create { attempt: u8 },
    Get { attempt: u8 },
    Check { revision: u64, attempt: u8 },
    Take { attempt: u8 },
}

/// A founding starts over (the key changed under it) this many times at most.
const FOUND_ATTEMPTS: u8 = 3;

/// How long a claim waits for a key that a renamed user's node has yet to give back.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// A claim's part that found its key still held by a user renamed since: the rename is seen
/// (from the new key) before the old keys are deleted, so the part is asked again when the
/// watch sees the key go, and counts as taken if it has not gone by `until`.
#[derive(Debug, Clone, Copy)]
struct Releasing {
    uid: Uid,
    which: Which,
    until: Instant,
}

/// Whether this node founds a room nobody else has (see [`Network::found`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Founding {
    NotAsked,
    Asking,
    Decided(bool),
}

/// A room's state being gathered for a first join.
#[derive(Debug)]
struct Sync {
    asking: HashSet<u64>,
    states: HashMap<u64, RoomState>,
    /// Messages heard meanwhile from nodes already answered or never asked: applied after.
    held: Vec<(Option<u64>, Vec<u8>)>,
    deadline: Instant,
    /// After a split: merged into the room this node kept, not made anew.
    merge: bool,
    founding: Founding,
}

/// A record update per user: one at a time, the next over the revision the last one made.
#[derive(Debug, Default)]
struct Updates {
    in_flight: bool,
    next: Option<Vec<u8>>,
    /// The user quit while an update was in flight: its keys, given back once the update
    /// answers with the revision the nick key now has (a delete at the old one would fail
    /// and leave the nick taken).
    quit: Option<Held>,
}

pub struct Network {
    bus: Bus,
    scheme: Scheme,
    node: u64,
    node_key: String,
    cfg: NetConfig,
    nicks: String,
    nodes: String,
    rooms: String,
    phase: Phase,
    /// Told the users the network is split (so they are told when it is whole).
    told_split: bool,
    live: HashSet<u64>,
    /// Nodes heard to be gone: their users' late records are not taken.
    dead: HashSet<u64>,
    sub_all: Option<SubId>,
    sub_node: Option<SubId>,
    room_subs: HashMap<Box<str>, (SubId, String)>,
    room_of_sub: HashMap<SubId, Box<str>>,
    watch_nicks: Option<WatchId>,
    watch_nodes: Option<WatchId>,
    watch_rooms: Option<WatchId>,
    /// The nicks bucket as watched: key -> (holder, revision).
    nick_keys: HashMap<String, (Uid, u64)>,
    /// The rooms bucket as watched: key -> revision.
    room_keys: HashMap<String, u64>,
    /// The rooms' founding keys as watched (and as won here): folded room -> (founder node,
    /// revision).
    found_keys: HashMap<Box<str>, (u64, u64)>,
    held: HashMap<Uid, Held>,
    /// Keys claimed for a rename the hub has not carried out yet.
    renaming: HashMap<Uid, Held>,
    claims: HashMap<Uid, Claim>,
    /// Claims' parts waiting for a key to be given back, by key.
    releasing: HashMap<String, Releasing>,
    requests: HashMap<RequestId, Req>,
    updates: HashMap<Uid, Updates>,
    syncs: HashMap<Box<str>, Sync>,
    /// Rooms to resynchronise once the rooms watch has caught up after a reconnection.
    resync_rooms: bool,
    summaries_due: Instant,
    /// The msgid tag this node claims.
    tags: tag::Tags,
    /// When to claim a tag again (every one was held, or NATS did not answer).
    tag_retry: Option<Instant>,
    claimed: Vec<Claimed>,
    /// Reconnected after a split with a shared store: accounts and registered rooms are to be
    /// read again (announcements made meanwhile were not heard).
    rejoined: bool,
    stats: NetStats,
}

/// How often rooms' counts and topics are written for LIST elsewhere.
const SUMMARY_EVERY: Duration = Duration::from_secs(1);

impl Network {
    /// Starts the bus (resolving the servers: before the loop runs) and asks for what a node
    /// needs: the buckets, its node key, its subscriptions and watches. They go out once the
    /// bus connects.
    pub fn start(
        cfg: NetConfig,
        node: u64,
        registry: &mio::Registry,
        token: mio::Token,
        now: Instant,
    ) -> Result<Network, String> {
        let scheme = Scheme::new(&cfg.network)?;
        let mut bus_cfg = BusConfig::new(cfg.servers.clone());
        bus_cfg.node = node_hex(node);
        // A burst of arrivals (or a reconnection) claims two keys per user at once.
        bus_cfg.max_requests = 1 << 17;
        let bus = Bus::new(bus_cfg, registry, token, now).map_err(|e| e.to_string())?;
        let mut net = Network {
            bus,
            node,
            node_key: node_hex(node),
            nicks: scheme.nicks_bucket(),
            nodes: scheme.nodes_bucket(),
            rooms: scheme.members_bucket(),
            scheme,
            cfg,
            phase: Phase::Alone,
            told_split: false,
            live: HashSet::new(),
            dead: HashSet::new(),
            sub_all: None,
            sub_node: None,
            room_subs: HashMap::new(),
            room_of_sub: HashMap::new(),
            watch_nicks: None,
            watch_nodes: None,
            watch_rooms: None,
            nick_keys: HashMap::new(),
            room_keys: HashMap::new(),
            found_keys: HashMap::new(),
            held: HashMap::new(),
            renaming: HashMap::new(),
            claims: HashMap::new(),
            releasing: HashMap::new(),
            requests: HashMap::new(),
            updates: HashMap::new(),
            syncs: HashMap::new(),
            resync_rooms: false,
            summaries_due: now + SUMMARY_EVERY,
            tags: tag::Tags::default(),
            tag_retry: None,
            claimed: Vec::new(),
            rejoined: false,
            stats: NetStats::default(),
        };
        net.setup(now).map_err(|e| e.to_string())?;
        Ok(net)
    }

    fn setup(&mut self, now: Instant) -> Result<(), BusError> {
        let plain = BucketConfig::default();
        let ttl = BucketConfig {
            ttl: Some(self.cfg.ttl),
            ..BucketConfig::default()
        };
        for (bucket, cfg) in [
            (self.nicks.clone(), plain),
            (self.nodes.clone(), ttl),
            (self.rooms.clone(), plain),
        ] {
            let rid = self.bus.kv_bucket(&bucket, &cfg, now)?;
            self.requests.insert(rid, Req::Other("bucket"));
        }
        let every = (self.cfg.ttl / 3).max(Duration::from_millis(100));
        let value = self.cfg.name.clone().into_bytes();
        self.bus
            .kv_keepalive(&self.nodes, &self.node_key, &value, every)?;
        self.sub_all = Some(self.bus.subscribe(&self.scheme.all())?);
        self.sub_node = Some(self.bus.subscribe(&self.scheme.node(&self.node_key))?);
        self.watch_nodes = Some(self.bus.kv_watch(&self.nodes, now)?);
        self.watch_rooms = Some(self.bus.kv_watch(&self.rooms, now)?);
        self.watch_nicks = Some(self.bus.kv_watch(&self.nicks, now)?);
        Ok(())
    }

    pub fn node(&self) -> u64 {
        self.node
    }

    pub fn bus(&mut self) -> &mut Bus {
        &mut self.bus
    }

    pub fn stats(&self) -> (NetStats, BusStats) {
        (self.stats, self.bus.stats())
    }

    /// Whether the bus is connected.
    pub fn is_connected(&self) -> bool {
        self.bus.is_connected()
    }

    /// The msgid tag this node holds network-wide (0: none yet).
    pub fn msgid_tag(&self) -> u8 {
        self.tags.held().unwrap_or(0)
    }

    fn renew_every(&self) -> Duration {
        (self.cfg.ttl / 3).max(Duration::from_millis(100))
    }

    /// Asks for the next free msgid tag (see [`tag`]).
    fn claim_tag(&mut self, now: Instant) {
        let Some(n) = self.tags.next_to_ask() else {
            warn!(
                "network: all {} msgid tags are held by live nodes; this node's msgids may \
                 collide with another's until one is free",
                tag::MAX_TAG
            );
            self.tag_retry = Some(now + self.renew_every());
            return;
        };
        let (bucket, key, me) = (
            self.nodes.clone(),
            tag::key(n),
            self.node_key.clone().into_bytes(),
        );
        match self.bus.kv_create(&bucket, &key, &me, now) {
            Ok(rid) => {
                self.requests.insert(
                    rid,
                    Req::Tag {
                        n,
                        step: TagStep::Create,
                    },
                );
            }
            Err(e) => {
                debug!("network: {key}: {e}");
                self.tags.restart();
                self.tag_retry = Some(now + self.renew_every());
            }
        }
    }

    fn tag_reply(
        &mut self,
        n: u8,
        step: TagStep,
        result: Result<Response, RequestError>,
        hub: &mut Hub,
        now: Instant,
    ) {
        if self.tags.asking() != Some(n) {
            return; // a claim given up meanwhile (the connection was lost)
        }
        let (bucket, key) = (self.nodes.clone(), tag::key(n));
        let me = self.node_key.clone().into_bytes();
        let next = match (step, result) {
            (TagStep::Create | TagStep::Renew, Ok(Response::Revision(_))) => {
                self.tags.won(n);
                hub.set_msgid_tag(n);
                let every = self.renew_every();
                if let Err(e) = self.bus.kv_keepalive(&bucket, &key, &me, every) {
                    warn!("network: {key}: {e}");
                }
                info!("network: msgid tag {n} is this node's");
                return;
            }
            (TagStep::Create, Err(RequestError::AlreadyExists)) => self
                .bus
                .kv_get(&bucket, &key, now)
                .map(|rid| (rid, TagStep::Get)),
            (TagStep::Get, Ok(Response::Entry(Some(e)))) if e.value == me => self
                .bus
                .kv_update(&bucket, &key, &me, e.revision, now)
                .map(|rid| (rid, TagStep::Renew)),
            (TagStep::Get, Ok(Response::Entry(None))) => {
                // Let go meanwhile: asked for again.
                self.tags.restart();
                return self.claim_tag(now);
            }
            (TagStep::Get, Ok(_)) | (TagStep::Renew, Err(RequestError::WrongRevision)) => {
                debug!("network: msgid tag {n} is another node's");
                self.tags.refuse(n);
                return self.claim_tag(now);
            }
            (_, Err(e)) => {
                debug!("network: {key}: {e}; asked again later");
                self.tags.restart();
                self.tag_retry = Some(now + self.renew_every());
                return;
            }
            (_, Ok(other)) => {
                debug!("network: {key}: unexpected answer {other:?}");
                self.tags.restart();
                self.tag_retry = Some(now + self.renew_every());
                return;
            }
        };
        match next {
            Ok((rid, step)) => {
                self.requests.insert(rid, Req::Tag { n, step });
            }
            Err(e) => {
                debug!("network: {key}: {e}");
                self.tags.restart();
                self.tag_retry = Some(now + self.renew_every());
            }
        }
    }

    /// Finished IRC registrations, for their front ends.
    pub fn take_claimed(&mut self) -> Vec<Claimed> {
        std::mem::take(&mut self.claimed)
    }

    /// Whether the node is back on the network after a split and shares its store: then
    /// what the store holds of accounts and rooms is to be read again (once).
    pub fn take_rejoined(&mut self) -> bool {
        std::mem::take(&mut self.rejoined)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let grace = match self.phase {
            Phase::Split {
                since,
                dropped: false,
            } => Some(since + self.cfg.grace),
            _ => None,
        };
        [
            self.bus.next_deadline(),
            grace,
            self.syncs.values().map(|s| s.deadline).min(),
            self.releasing.values().map(|r| r.until).min(),
            Some(self.summaries_due),
            self.tag_retry,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The bus's timers, the split's grace, first joins that waited long enough, and the
    /// rooms' summaries.
    pub fn poll_timers(&mut self, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        let now = clock.mono;
        self.bus.poll_timers(now);
        if let Phase::Split {
            since,
            dropped: false,
        } = self.phase
        {
            if now >= since + self.cfg.grace {
                info!(
                    "network: split for {:?}; other servers' users leave",
                    self.cfg.grace
                );
                hub.drop_remote_users("network split", clock, sink);
                self.live.clear();
                self.phase = Phase::Split {
                    since,
                    dropped: true,
                };
            }
        }
        let due: Vec<Box<str>> = self
            .syncs
            .iter()
            .filter(|(_, s)| s.deadline <= now && s.founding != Founding::Asking)
            .map(|(f, _)| f.clone())
            .collect();
        for folded in due {
            debug!("network: {folded}: not every node answered in time");
            self.finish_sync(&folded, hub, clock, sink);
        }
        let given_up: Vec<String> = self
            .releasing
            .iter()
            .filter(|(_, r)| r.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in given_up {
            if let Some(r) = self
                .releasing
                .remove(&key)
                .filter(|r| self.still_waits(&key, r))
            {
                debug!("network: {key} was not given back in time");
                self.set_part(r.uid, r.which, Part::Taken);
                self.claim_nick_after_skeleton(r.uid, now);
                self.claim_progress(r.uid, hub, clock, sink);
            }
        }
        if self.tag_retry.is_some_and(|t| now >= t) {
            self.tag_retry = None;
            if self.bus.is_connected() && self.tags.asking().is_none() {
                self.tags.restart();
                self.claim_tag(now);
            }
        }
        if now >= self.summaries_due {
            self.summaries_due = now + SUMMARY_EVERY;
            if self.bus.is_connected() {
                self.write_summaries(hub, now);
            }
        }
    }

    // ---- what the hub told ----

    /// Carries out what the hub told the network.
    pub fn send(&mut self, item: Outgoing, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        let now = clock.mono;
        match item {
            Outgoing::Publish { to, payload } => {
                let subject = match &to {
                    Target::All => self.scheme.all(),
                    Target::Node(n) => self.scheme.node(&node_hex(*n)),
                    Target::Room(folded) => match self.room_subs.get(folded) {
                        Some((_, subject)) => subject.clone(),
                        None => self.scheme.room(folded),
                    },
                };
                log::trace!("network: publish {} bytes to {subject}", payload.len());
                self.publish(&subject, &payload);
            }
            Outgoing::Claim { uid, keys, value } => {
                self.stats.claims += 1;
                self.start_claim(uid, &keys, value, false, hub, clock, sink);
            }
            Outgoing::Abandon { uid } => {
                if let Some(c) = self.claims.get_mut(&uid) {
                    c.abandoned = true;
                }
                if let Some(h) = self.renaming.remove(&uid) {
                    self.release(&h, None, now);
                }
            }
            Outgoing::Online { uid, keys, value } => {
                self.publish(&self.scheme.all(), &value);
                if !self.held.contains_key(&uid) && self.bus.is_connected() {
                    self.start_claim(uid, &keys, value, true, hub, clock, sink);
                }
            }
            Outgoing::Update { uid, value } => {
                self.publish(&self.scheme.all(), &value);
                self.update_record(uid, value, now);
            }
            Outgoing::Renamed {
                uid,
                keys,
                old: _,
                value,
            } => {
                self.publish(&self.scheme.all(), &value);
                match self.renaming.remove(&uid) {
                    Some(new) => {
                        if let Some(old) = self.held.insert(uid, new.clone()) {
                            self.release(&old, Some(&new), now);
                        }
                    }
                    None => {
                        // Renamed without a claim (a collision after a split, or a rename
                        // while the network was away): the new nick is claimed now.
                        if let Some(old) = self.held.remove(&uid) {
                            self.release(&old, None, now);
                        }
                        if self.bus.is_connected() {
                            self.start_claim(uid, &keys, value, true, hub, clock, sink);
                        }
                    }
                }
            }
            Outgoing::Quit { uid } => {
                if let Some(c) = self.claims.get_mut(&uid) {
                    c.abandoned = true;
                }
                let updating = self.updates.get(&uid).is_some_and(|u| u.in_flight);
                let held = self.held.remove(&uid);
                match (updating, held) {
                    (true, Some(h)) => {
                        if let Some(u) = self.updates.get_mut(&uid) {
                            u.next = None;
                            u.quit = Some(h);
                        }
                    }
                    (_, held) => {
                        self.updates.remove(&uid);
                        if let Some(h) = held {
                            self.release(&h, None, now);
                        }
                    }
                }
                if let Some(h) = self.renaming.remove(&uid) {
                    self.release(&h, None, now);
                }
            }
            Outgoing::Registration { key } => {
                if self.cfg.shared_store {
                    let mut payload = Vec::new();
                    wire::registration(&mut payload, &key, hub.registration(&key));
                    self.publish(&self.scheme.all(), &payload);
                }
            }
            Outgoing::Account { payload } => {
                if self.cfg.shared_store {
                    self.publish(&self.scheme.all(), &payload);
                }
            }
            Outgoing::NeedRoom { folded } => self.need_room(&folded, false, hub, clock, sink),
            Outgoing::LeftRoom { folded } => self.left_room(&folded, hub, now),
        }
    }

    fn publish(&mut self, subject: &str, payload: &[u8]) {
        if let Err(e) = self.bus.publish(subject, &Headers::new(), payload) {
            self.stats.refused += 1;
            debug!("network: not published to {subject}: {e}");
        }
    }

    /// Gives keys back (each only if it is still the revision this node made).
    fn release(&mut self, h: &Held, keep: Option<&Held>, now: Instant) {
        let nicks = self.nicks.clone();
        if keep.is_none_or_differs(&h.nick, |k| &k.nick) {
            self.kv_delete(&nicks, &h.nick, h.nick_rev, now);
        }
        if keep.is_none_or_differs(&h.skel, |k| &k.skel) {
            self.kv_delete(&nicks, &h.skel, h.skel_rev, now);
        }
    }

    fn kv_delete(&mut self, bucket: &str, key: &str, rev: u64, now: Instant) {
        match self.bus.kv_delete(bucket, key, Some(rev), now) {
            Ok(rid) => {
                self.requests.insert(rid, Req::Other("delete"));
            }
            Err(e) => debug!("network: delete {key}: {e}"),
        }
    }

    fn update_record(&mut self, uid: Uid, value: Vec<u8>, now: Instant) {
        let Some(h) = self.held.get(&uid) else { return };
        let u = self.updates.entry(uid).or_default();
        if u.in_flight {
            u.next = Some(value);
            return;
        }
        let (key, rev) = (h.nick.clone(), h.nick_rev);
        match self.bus.kv_update(&self.nicks, &key, &value, rev, now) {
            Ok(rid) => {
                self.requests.insert(rid, Req::Update(uid));
                if let Some(u) = self.updates.get_mut(&uid) {
                    u.in_flight = true;
                }
            }
            Err(e) => debug!("network: update {key}: {e}"),
        }
    }

    // ---- claims ----

    #[allow(clippy::too_many_arguments)]
    fn start_claim(
        &mut self,
        uid: Uid,
        keys: &Keys,
        value: Vec<u8>,
        reclaim: bool,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let nick_key = names::token(&keys.key);
        let skel_key = format!("skel.{}", names::token(&keys.skeleton));
        let mut holder = Vec::new();
        wire::holder(&mut holder, uid);
        let kept = self
            .held
            .get(&uid)
            .filter(|h| h.skel == skel_key)
            .map(|h| h.skel_rev);
        let mut claim = Claim {
            nick_key,
            skel_key,
            value,
            holder,
            reclaim,
            abandoned: false,
            nick: Part::Waiting,
            skel: kept.map_or(Part::Waiting, Part::Kept),
        };
        let now = clock.mono;
        // The skeleton first, the nick key after: of two claims of one nick at once the one
        // that gets the skeleton wins both (asked at once, each could win one and both lose).
        if claim.skel == Part::Waiting {
            claim.skel = self.create(uid, Which::Skel, &claim, now);
            claim.nick = match claim.skel {
                Part::Waiting => Part::Later,
                _ => Part::Failed,
            };
        } else {
            claim.nick = self.create(uid, Which::Nick, &claim, now);
        }
        if let Some(old) = self.claims.insert(uid, claim) {
            // A newer claim replaces it; whatever the old one takes is given back.
            warn!("network: a second claim for {uid:?} while one was out");
            let _ = old;
        }
        self.claim_progress(uid, hub, clock, sink);
    }

    /// Sends one part's create; Waiting if sent, Failed if the bus refused at once.
    fn create(&mut self, uid: Uid, which: Which, c: &Claim, now: Instant) -> Part {
        let (key, value) = match which {
            Which::Nick => (&c.nick_key, &c.value),
            Which::Skel => (&c.skel_key, &c.holder),
        };
        match self.bus.kv_create(&self.nicks, key, value, now) {
            Ok(rid) => {
                self.requests.insert(rid, Req::Create(uid, which));
                Part::Waiting
            }
            Err(e) => {
                debug!("network: claim {key}: {e}");
                Part::Failed
            }
        }
    }

    fn claim_reply(
        &mut self,
        req: Req,
        result: Result<Response, RequestError>,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let now = clock.mono;
        let (uid, which) = match req {
            Req::Create(u, w) | Req::Get(u, w) | Req::Renew(u, w) => (u, w),
            _ => return,
        };
        let Some(c) = self.claims.get(&uid) else {
            // Nobody waits: what it made is given back.
            if let (Req::Create(_, w), Ok(Response::Revision(rev))) = (&req, &result) {
                let _ = w;
                debug!("network: a claim answered after it was dropped (revision {rev})");
            }
            return;
        };
        let key = match which {
            Which::Nick => c.nick_key.clone(),
            Which::Skel => c.skel_key.clone(),
        };
        let reclaim = c.reclaim;
        let part = match (req, result) {
            (Req::Create(..) | Req::Renew(..), Ok(Response::Revision(rev))) => Part::Done(rev),
            (Req::Create(..), Err(RequestError::AlreadyExists)) if reclaim => {
                match self.bus.kv_get(&self.nicks, &key, now) {
                    Ok(rid) => {
                        self.requests.insert(rid, Req::Get(uid, which));
                        Part::Waiting
                    }
                    Err(_) => Part::Failed,
                }
            }
            (Req::Create(..), Err(RequestError::AlreadyExists))
                if !self.releasing.contains_key(&key) && self.left_behind(&key, hub) =>
            {
                debug!("network: {key} is still held by a user renamed since; waiting for it");
                let until = now + RELEASE_WAIT;
                self.releasing
                    .insert(key.clone(), Releasing { uid, which, until });
                Part::Waiting
            }
            (Req::Create(..), Err(RequestError::AlreadyExists)) => Part::Taken,
            (Req::Get(..), Ok(Response::Entry(Some(e)))) => {
                let holder = match which {
                    Which::Nick => wire::decode_user_value(&e.value).ok().map(|r| r.uid),
                    Which::Skel => wire::decode_holder(&e.value).ok(),
                };
                if holder == Some(uid) {
                    // This node's key survived the split: renewed over the revision read,
                    // which makes any survivor's pending delete of it fail.
                    let c = &self.claims[&uid];
                    let value = match which {
                        Which::Nick => c.value.clone(),
                        Which::Skel => c.holder.clone(),
                    };
                    match self
                        .bus
                        .kv_update(&self.nicks, &key, &value, e.revision, now)
                    {
                        Ok(rid) => {
                            self.requests.insert(rid, Req::Renew(uid, which));
                            Part::Waiting
                        }
                        Err(_) => Part::Failed,
                    }
                } else {
                    Part::Taken
                }
            }
            (Req::Get(..), Ok(Response::Entry(None))) => {
                // Gone meanwhile: created again.
                let c = &self.claims[&uid];
                let part = match which {
                    Which::Nick => (&c.nick_key, &c.value),
                    Which::Skel => (&c.skel_key, &c.holder),
                };
                match self.bus.kv_create(&self.nicks, part.0, part.1, now) {
                    Ok(rid) => {
                        self.requests.insert(rid, Req::Create(uid, which));
                        Part::Waiting
                    }
                    Err(_) => Part::Failed,
                }
            }
            (_, Err(e)) => {
                debug!("network: claim of {key}: {e}");
                Part::Failed
            }
            (_, Ok(other)) => {
                debug!("network: claim of {key}: unexpected answer {other:?}");
                Part::Failed
            }
        };
        self.set_part(uid, which, part);
        self.claim_nick_after_skeleton(uid, now);
        self.claim_progress(uid, hub, clock, sink);
    }

    fn set_part(&mut self, uid: Uid, which: Which, part: Part) {
        if let Some(c) = self.claims.get_mut(&uid) {
            match which {
                Which::Nick => c.nick = part,
                Which::Skel => c.skel = part,
            }
        }
    }

    /// Whether `key` is held, as the watch last showed, by another node's user who has
    /// another nick by now: a rename whose node has not given the old keys back yet. Only a
    /// key older than the holder's present nick key is left behind; a newer one is the
    /// holder's claim still under way (a race it won: the skeleton key is made before the
    /// nick key, so the rename is not shown yet), and taken.
    fn left_behind(&self, key: &str, hub: &Hub) -> bool {
        let Some(&(holder, revision)) = self.nick_keys.get(key) else {
            return false;
        };
        if holder.node == self.node {
            return false;
        }
        let Some((nick, skeleton)) = hub.remote_id(holder).and_then(|id| hub.nick_keys(id)) else {
            return false;
        };
        let nick_key = names::token(nick);
        let newer_nick_key = self
            .nick_keys
            .get(nick_key.as_str())
            .is_some_and(|&(h, r)| h == holder && r > revision);
        nick_key != key && format!("skel.{}", names::token(skeleton)) != key && newer_nick_key
    }

    /// Whether the claim `r` stands for still waits for `key` (not replaced by a newer one).
    fn still_waits(&self, key: &str, r: &Releasing) -> bool {
        self.claims.get(&r.uid).is_some_and(|c| {
            let (k, part) = match r.which {
                Which::Nick => (&c.nick_key, c.nick),
                Which::Skel => (&c.skel_key, c.skel),
            };
            k == key && part == Part::Waiting
        })
    }

    /// A key a claim waited for was given back: that part is asked for again.
    fn given_back(
        &mut self,
        key: &str,
        r: Releasing,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let now = clock.mono;
        if !self.still_waits(key, &r) {
            return;
        }
        let Some(c) = self.claims.remove(&r.uid) else {
            return;
        };
        debug!("network: {key} was given back; claiming it");
        let part = self.create(r.uid, r.which, &c, now);
        self.claims.insert(r.uid, c);
        self.set_part(r.uid, r.which, part);
        self.claim_nick_after_skeleton(r.uid, now);
        self.claim_progress(r.uid, hub, clock, sink);
    }

    /// The skeleton answered: its nick key is asked for if the skeleton is this user's, and
    /// not at all if it is not.
    fn claim_nick_after_skeleton(&mut self, uid: Uid, now: Instant) {
        let due = self
            .claims
            .get(&uid)
            .is_some_and(|c| c.nick == Part::Later && c.skel.is_final());
        let Some(mut c) = due.then(|| self.claims.remove(&uid)).flatten() else {
            return;
        };
        c.nick = if c.skel.rev().is_some() {
            self.create(uid, Which::Nick, &c, now)
        } else {
            Part::Failed
        };
        self.claims.insert(uid, c);
    }

    /// Once both parts are answered: the hub hears the outcome; what was taken in vain is
    /// given back.
    fn claim_progress(&mut self, uid: Uid, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        let now = clock.mono;
        let done = self
            .claims
            .get(&uid)
            .is_some_and(|c| c.nick.is_final() && c.skel.is_final());
        if !done {
            return;
        }
        let Some(c) = self.claims.remove(&uid) else {
            return;
        };
        let ok = c.nick.rev().is_some() && c.skel.rev().is_some();
        if !ok || c.abandoned {
            let nicks = self.nicks.clone();
            if let Part::Done(rev) = c.nick {
                self.kv_delete(&nicks, &c.nick_key, rev, now);
            }
            if let Part::Done(rev) = c.skel {
                self.kv_delete(&nicks, &c.skel_key, rev, now);
            }
        }
        if c.abandoned {
            return;
        }
        let held = Held {
            nick: c.nick_key.clone(),
            nick_rev: c.nick.rev().unwrap_or(0),
            skel: c.skel_key.clone(),
            skel_rev: c.skel.rev().unwrap_or(0),
        };
        let taken = c.nick == Part::Taken || c.skel == Part::Taken;
        if c.reclaim {
            if ok {
                self.held.insert(uid, held);
                self.publish(&self.scheme.all(), &c.value);
            } else if taken {
                self.stats.collisions += 1;
                info!(
                    "network: {} was taken elsewhere during the split",
                    c.nick_key
                );
                // What is still this node's (the skeleton, say) goes with the nick.
                if let Some(h) = self.held.remove(&uid) {
                    let nicks = self.nicks.clone();
                    if let Part::Kept(rev) | Part::Done(rev) = c.skel {
                        self.kv_delete(&nicks, &h.skel, rev, now);
                    }
                }
                hub.collided(uid, clock, sink);
            }
            return;
        }
        let outcome = if ok {
            // A user that holds keys already is renaming: the old ones go once the hub has
            // carried the rename out.
            match self.held.entry(uid) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    self.renaming.insert(uid, held);
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(held);
                }
            }
            Ok(())
        } else if taken {
            self.stats.claims_refused += 1;
            Err(ClaimOutcome::Taken)
        } else {
            Err(ClaimOutcome::Unavailable)
        };
        if let Some(claimed) = hub.nick_claimed(uid, outcome, clock, sink) {
            if claimed.registration {
                self.claimed.push(claimed);
            }
        }
    }

    /// Every local user's keys, claimed again (after a (re)connection).
    fn reclaim_all(&mut self, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        let users: Vec<(Uid, Keys, Vec<u8>)> = hub
            .local_records()
            .into_iter()
            .map(|(rec, key, skeleton)| {
                let mut value = Vec::new();
                wire::user_value(&mut value, &rec);
                (
                    rec.uid,
                    Keys {
                        key: key.into(),
                        skeleton: skeleton.into(),
                    },
                    value,
                )
            })
            .collect();
        info!("network: claiming {} nicks again", users.len());
        for (uid, keys, value) in users {
            if !self.claims.contains_key(&uid) {
                self.start_claim(uid, &keys, value, true, hub, clock, sink);
            }
        }
        hub.confirm_provisional();
    }

    // ---- rooms ----

    fn subscribe_room(&mut self, folded: &str) {
        if self.room_subs.contains_key(folded) {
            return;
        }
        let subject = self.scheme.room(folded);
        match self.bus.subscribe(&subject) {
            Ok(sid) => {
                self.room_of_sub.insert(sid, folded.into());
                self.room_subs.insert(folded.into(), (sid, subject));
            }
            Err(e) => warn!("network: cannot subscribe to {folded}: {e}"),
        }
    }

    fn room_key(&self, folded: &str) -> String {
        format!("{}.{}", names::token(folded), self.node_key)
    }

    /// A room is wanted here (a first join, or a room kept through a split): its subject is
    /// subscribed and its state asked of every node that lists it.
    fn need_room(
        &mut self,
        folded: &str,
        merge: bool,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let now = clock.mono;
        self.subscribe_room(folded);
        let key = self.room_key(folded);
        let mut v = Vec::new();
        wire::summary(
            &mut v,
            &RoomSummary {
                name: folded.into(),
                ..RoomSummary::default()
            },
        );
        if let Ok(rid) = self.bus.kv_put(&self.rooms, &key, &v, now) {
            self.requests.insert(rid, Req::Other("room entry"));
        }
        let asking: HashSet<u64> = hub
            .listed_nodes(folded)
            .into_iter()
            .filter(|n| *n != self.node)
            .collect();
        self.stats.syncs += 1;
        let mut sync = Sync {
            asking: HashSet::new(),
            states: HashMap::new(),
            held: Vec::new(),
            deadline: now + self.cfg.sync_timeout,
            merge,
            founding: Founding::NotAsked,
        };
        for node in asking {
            if self.ask_state(folded, node, 0, now) {
                sync.asking.insert(node);
            }
        }
        self.syncs.insert(folded.into(), sync);
        self.maybe_finish_sync(folded, hub, clock, sink);
    }

    /// Another node lists a room this node has too: two first joins at once (each node
    /// founded the room before it heard of the other), or a node back from a split. Its
    /// members are asked for and merged in, so both nodes end with every member.
    fn merge_from(&mut self, folded: &str, node: u64, now: Instant) {
        if node == self.node || !self.room_subs.contains_key(folded) {
            return;
        }
        let asked = self
            .syncs
            .get(folded)
            .is_some_and(|s| s.asking.contains(&node) || s.states.contains_key(&node));
        if asked || !self.ask_state(folded, node, 0, now) {
            return;
        }
        debug!(
            "network: {folded}: node {} has it too; merging",
            node_hex(node)
        );
        self.stats.syncs += 1;
        let sync = self.syncs.entry(folded.into()).or_insert_with(|| Sync {
            asking: HashSet::new(),
            states: HashMap::new(),
            held: Vec::new(),
            deadline: now + self.cfg.sync_timeout,
            merge: true,
            founding: Founding::NotAsked,
        });
        sync.asking.insert(node);
    }

    fn ask_state(&mut self, folded: &str, node: u64, offset: u32, now: Instant) -> bool {
        let mut ask = Vec::new();
        wire::state_ask(&mut ask, folded, offset);
        let subject = self.scheme.node(&node_hex(node));
        match self.bus.request(&subject, &Headers::new(), &ask, now) {
            Ok(rid) => {
                self.requests.insert(
                    rid,
                    Req::State {
                        folded: folded.into(),
                        node,
                    },
                );
                true
            }
            Err(e) => {
                debug!("network: cannot ask {subject}: {e}");
                false
            }
        }
    }

    fn state_reply(
        &mut self,
        folded: Box<str>,
        node: u64,
        result: Result<Response, RequestError>,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let Some(sync) = self.syncs.get_mut(&folded) else {
            return;
        };
        let mut more_from = None;
        match result {
            Ok(Response::Message { payload, .. }) => match wire::decode(&payload) {
                Ok(wire::Msg::State { state, more }) if !state.name.is_empty() => {
                    let got = state.members.len() as u32;
                    let entry = sync.states.entry(node).or_insert_with(|| RoomState {
                        members: Vec::new(),
                        ..state.clone()
                    });
                    entry.members.extend(state.members);
                    let offset = entry.members.len() as u32;
                    if more && got > 0 {
                        more_from = Some(offset);
                    } else {
                        sync.asking.remove(&node);
                    }
                }
                Ok(_) => {
                    sync.asking.remove(&node);
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    debug!("network: state of {folded} from {node:016x}: {e}");
                    sync.asking.remove(&node);
                }
            },
            Ok(_) | Err(_) => {
                sync.asking.remove(&node);
            }
        }
        if let Some(offset) = more_from {
            if !self.ask_state(&folded, node, offset, clock.mono) {
                if let Some(s) = self.syncs.get_mut(&folded) {
                    s.asking.remove(&node);
                }
            }
        }
        self.maybe_finish_sync(&folded, hub, clock, sink);
    }

    fn maybe_finish_sync(
        &mut self,
        folded: &str,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        if self.syncs.get(folded).is_some_and(|s| s.asking.is_empty()) {
            self.finish_sync(folded, hub, clock, sink);
        }
    }

    fn finish_sync(&mut self, folded: &str, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        let Some(sync) = self.syncs.get_mut(folded) else {
            return;
        };
        let nobody = sync.states.values().all(|s| s.members.is_empty());
        if !sync.merge && nobody && sync.founding == Founding::NotAsked {
            sync.founding = if self.bus.is_connected() {
                Founding::Asking
            } else {
                // Cut off meanwhile: founded here, as during a split.
                Founding::Decided(true)
            };
            if sync.founding == Founding::Asking {
                self.found(folded, FoundStep::Create { attempt: 1 }, None, clock.mono);
            }
        }
        if self.syncs.get(folded).map(|s| s.founding) == Some(Founding::Asking) {
            return; // finished once the founding key has answered
        }
        let Some(sync) = self.syncs.remove(folded) else {
            return;
        };
        let founder = sync.founding == Founding::Decided(true);
        let states: Vec<RoomState> = sync.states.into_values().collect();
        if sync.merge {
            hub.merge_room(&states, clock, sink);
        } else {
            hub.room_synced(folded, states, founder, clock, sink);
        }
        for (origin, payload) in sync.held {
            self.on_room_message(folded, origin, &payload, 0, hub, clock, sink);
        }
    }

    /// One step of founding `folded` (nobody else had members when this node asked): the
    /// room's founding key is created; of two nodes founding at once exactly one succeeds and
    /// its first joiner is the operator, the other's joins as a plain member. A key whose
    /// founder no longer lists the room (it left or died and the key stayed) is taken over
    /// with an update over the revision read, so of two taking it over one wins.
    fn found(&mut self, folded: &str, step: FoundStep, value: Option<u64>, now: Instant) {
        let bucket = self.rooms.clone();
        let key = found_key(folded);
        let me = self.node_key.clone().into_bytes();
        let sent = match step {
            FoundStep::Create { .. } => self.bus.kv_create(&bucket, &key, &me, now),
            FoundStep::Get { .. } => self.bus.kv_get(&bucket, &key, now),
            FoundStep::Check { .. } => {
                let entry = format!("{}.{}", names::token(folded), node_hex(value.unwrap_or(0)));
                self.bus.kv_get(&bucket, &entry, now)
            }
            FoundStep::Take { .. } => {
                self.bus
                    .kv_update(&bucket, &key, &me, value.unwrap_or(0), now)
            }
        };
        match sent {
            Ok(rid) => {
                let folded = folded.into();
                self.requests.insert(rid, Req::Found { folded, step });
            }
            Err(e) => {
                debug!("network: {key}: {e}; founded here");
                self.founded(folded, Some(true));
            }
        }
    }

    fn found_reply(
        &mut self,
        folded: Box<str>,
        step: FoundStep,
        result: Result<Response, RequestError>,
        now: Instant,
    ) -> Option<bool> {
        let key = found_key(&folded);
        match (step, result) {
            (FoundStep::Create { .. } | FoundStep::Take { .. }, Ok(Response::Revision(rev))) => {
                self.found_keys.insert(folded, (self.node, rev));
                Some(true)
            }
            (FoundStep::Create { attempt }, Err(RequestError::AlreadyExists)) => {
                self.found(&folded, FoundStep::Get { attempt }, None, now);
                None
            }
            (FoundStep::Get { attempt }, Ok(Response::Entry(Some(e)))) => {
                let holder = std::str::from_utf8(&e.value)
                    .ok()
                    .and_then(|v| u64::from_str_radix(v, 16).ok());
                match holder {
                    Some(n) if n != self.node => {
                        let check = FoundStep::Check {
                            revision: e.revision,
                            attempt,
                        };
                        self.found(&folded, check, Some(n), now);
                    }
                    // This node's own key, left behind, or a value nobody can hold: taken.
                    _ => self.found(&folded, FoundStep::Take { attempt }, Some(e.revision), now),
                }
                None
            }
            // The key changed under this founding (let go, or taken over by another node):
            // started over, a few times at most.
            (FoundStep::Get { attempt }, Ok(Response::Entry(None)))
            | (FoundStep::Take { attempt }, Err(RequestError::WrongRevision))
                if attempt < FOUND_ATTEMPTS =>
            {
                let attempt = attempt + 1;
                self.found(&folded, FoundStep::Create { attempt }, None, now);
                None
            }
            (FoundStep::Get { .. }, Ok(Response::Entry(None)))
            | (FoundStep::Take { .. }, Err(RequestError::WrongRevision)) => Some(false),
            (FoundStep::Check { revision, attempt }, Ok(Response::Entry(None))) => {
                debug!("network: {key}: its founder has left the room; taken over");
                self.found(&folded, FoundStep::Take { attempt }, Some(revision), now);
                None
            }
            // The founder lists the room: it founded it first.
            (FoundStep::Check { .. }, Ok(Response::Entry(Some(_)))) => Some(false),
            (_, Err(e)) => {
                // Unanswered (NATS is going away): founded here, as during a split.
                debug!("network: {key}: {e}; founded here");
                Some(true)
            }
            (_, Ok(other)) => {
                debug!("network: {key}: unexpected answer {other:?}");
                Some(false)
            }
        }
    }

    /// The founding of `folded` is decided (None: not yet).
    fn founded(&mut self, folded: &str, founder: Option<bool>) {
        if let (Some(f), Some(sync)) = (founder, self.syncs.get_mut(folded)) {
            sync.founding = Founding::Decided(f);
        }
    }

    fn left_room(&mut self, folded: &str, hub: &Hub, now: Instant) {
        if let Some((sid, _)) = self.room_subs.remove(folded) {
            self.room_of_sub.remove(&sid);
            self.bus.unsubscribe(sid);
        }
        // The last node with members lets the room's founding key go (over the revision it
        // saw, so a founding made meanwhile stands); a key that outlives its room anyway (two
        // nodes leaving at once) is taken over by the next founder.
        if let Some(&(_, rev)) = self.found_keys.get(folded) {
            if hub.listed_nodes(folded).is_empty() {
                let (bucket, key) = (self.rooms.clone(), found_key(folded));
                self.kv_delete(&bucket, &key, rev, now);
            }
        }
        let key = self.room_key(folded);
        match self.bus.kv_delete(&self.rooms, &key, None, now) {
            Ok(rid) => {
                self.requests.insert(rid, Req::Other("room entry"));
            }
            Err(e) => debug!("network: {key}: {e}"),
        }
    }

    fn write_summaries(&mut self, hub: &mut Hub, now: Instant) {
        for (folded, summary) in hub.take_summaries() {
            let Some(s) = summary else { continue };
            let key = self.room_key(&folded);
            let mut v = Vec::new();
            wire::summary(&mut v, &s);
            if let Ok(rid) = self.bus.kv_put(&self.rooms, &key, &v, now) {
                self.requests.insert(rid, Req::Other("room entry"));
            }
        }
    }

    /// After a (re)connection: every room kept here is announced (this node's members, on
    /// the room's subject) and merged with what the other nodes say of it.
    fn resync_rooms(&mut self, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        for folded in hub.local_rooms() {
            self.subscribe_room(&folded);
            if let Some(state) = hub.room_state(&folded, true) {
                let mut payload = Vec::new();
                wire::state(&mut payload, &state, 0);
                let subject = self.scheme.room(&folded);
                self.publish(&subject, &payload);
            }
            self.need_room(&folded, true, hub, clock, sink);
        }
    }

    // ---- what the bus reports ----

    /// One event of the bus.
    pub fn handle(&mut self, event: BusEvent, hub: &mut Hub, clock: Clock, sink: &mut impl Sink) {
        match event {
            BusEvent::Connected { server, reconnect } => {
                info!("network: connected to NATS at {server}");
                let was = self.phase;
                self.phase = Phase::Up;
                hub.set_net_online(true);
                if let Phase::Split { dropped: true, .. } = was {
                    // Everything other nodes said is read again from the start.
                    for w in [self.watch_nicks.take(), self.watch_rooms.take()]
                        .into_iter()
                        .flatten()
                    {
                        self.bus.kv_unwatch(w);
                    }
                    self.nick_keys.clear();
                    self.room_keys.clear();
                    self.found_keys.clear();
                    self.watch_rooms = self.bus.kv_watch(&self.rooms, clock.mono).ok();
                    self.watch_nicks = self.bus.kv_watch(&self.nicks, clock.mono).ok();
                }
                self.live.insert(self.node);
                self.tags.restart();
                self.tag_retry = None;
                self.claim_tag(clock.mono);
                self.reclaim_all(hub, clock, sink);
                self.resync_rooms = reconnect || was == Phase::Alone;
                self.rejoined |= self.cfg.shared_store && (reconnect || was != Phase::Alone);
                if self.told_split {
                    self.told_split = false;
                    hub.tell_network(NetNotice::Whole, sink);
                }
            }
            BusEvent::Disconnected { reason } => {
                warn!("network: NATS lost ({reason}); serving local users alone");
                // The tag is not renewed blindly after the reconnection: it may have expired
                // and gone to another node meanwhile; it is claimed again first.
                if let Some(n) = self.tags.held().or(self.tags.asking()) {
                    let nodes = self.nodes.clone();
                    self.bus
                        .kv_keepalive_stop(&nodes, &tag::key(n), false, clock.mono);
                }
                self.tags.restart();
                self.phase = Phase::Split {
                    since: clock.mono,
                    dropped: false,
                };
                hub.set_net_online(false);
                if !self.told_split {
                    self.told_split = true;
                    hub.tell_network(NetNotice::Split, sink);
                }
            }
            BusEvent::Message {
                sub,
                subject,
                reply,
                headers,
                payload,
                origin,
                missed,
            } => {
                self.stats.received += 1;
                let origin = origin.and_then(|o| u64::from_str_radix(&o.node, 16).ok());
                let _ = headers;
                if missed > 0 {
                    self.stats.lost += missed;
                }
                if let Some(folded) = self.room_of_sub.get(&sub).cloned() {
                    log::trace!(
                        "network: {folded}: {} bytes from {origin:?} (syncing: {})",
                        payload.len(),
                        self.syncs.contains_key(&folded)
                    );
                    if let Some(sync) = self.syncs.get_mut(&folded) {
                        if origin.is_some_and(|o| sync.asking.contains(&o)) && !is_say(&payload) {
                            return; // the node's answer holds its effect
                        }
                        // Messages are no part of a state: they are delivered once it is in.
                        sync.held.push((origin, payload));
                        return;
                    }
                    self.on_room_message(&folded, origin, &payload, missed, hub, clock, sink);
                } else if Some(sub) == self.sub_node && reply.is_some() {
                    self.answer(reply.as_deref().unwrap_or(""), &payload, hub);
                } else {
                    self.on_message(&subject, &payload, hub, clock, sink);
                }
            }
            BusEvent::Reply { request, result } => {
                let Some(req) = self.requests.remove(&request) else {
                    return;
                };
                match req {
                    Req::State { folded, node } => {
                        self.state_reply(folded, node, result, hub, clock, sink)
                    }
                    Req::Tag { n, step } => self.tag_reply(n, step, result, hub, clock.mono),
                    Req::Found { folded, step } => {
                        let waiting = self
                            .syncs
                            .get(&folded)
                            .is_some_and(|s| s.founding == Founding::Asking);
                        if !waiting {
                            return; // nobody waits (a key won in vain is taken over later)
                        }
                        let decided = self.found_reply(folded.clone(), step, result, clock.mono);
                        self.founded(&folded, decided);
                        // Decided; states asked for meanwhile (a node heard of since) are
                        // still waited for.
                        let due = self
                            .syncs
                            .get(&folded)
                            .is_some_and(|s| s.founding != Founding::Asking);
                        if due {
                            self.maybe_finish_sync(&folded, hub, clock, sink);
                        }
                    }
                    Req::Update(uid) => {
                        let next = self.updates.get_mut(&uid).and_then(|u| {
                            u.in_flight = false;
                            u.next.take()
                        });
                        let quit = self.updates.get_mut(&uid).and_then(|u| u.quit.take());
                        match result {
                            Ok(Response::Revision(rev)) => {
                                if let Some(h) = self.held.get_mut(&uid) {
                                    h.nick_rev = rev;
                                }
                                if let Some(mut h) = quit {
                                    h.nick_rev = rev;
                                    self.updates.remove(&uid);
                                    self.release(&h, None, clock.mono);
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => debug!("network: record update: {e}"),
                        }
                        if let Some(h) = quit {
                            self.updates.remove(&uid);
                            self.release(&h, None, clock.mono);
                            return;
                        }
                        if let Some(v) = next {
                            self.update_record(uid, v, clock.mono);
                        }
                    }
                    Req::Other(what) => {
                        if let Err(e) = result {
                            match e {
                                RequestError::WrongRevision => {}
                                e => debug!("network: {what}: {e}"),
                            }
                        }
                    }
                    req => self.claim_reply(req, result, hub, clock, sink),
                }
            }
            BusEvent::KvChange {
                watch,
                key,
                value,
                revision,
                op,
                ..
            } => {
                if Some(watch) == self.watch_nodes {
                    self.node_change(&key, value.as_deref(), op, hub, clock, sink);
                } else if Some(watch) == self.watch_nicks {
                    self.nick_change(&key, value.as_deref(), revision, op, hub, clock, sink);
                } else if Some(watch) == self.watch_rooms {
                    self.rooms_change(&key, value.as_deref(), revision, op, hub, clock.mono);
                }
            }
            BusEvent::WatchReady { watch } => {
                if Some(watch) == self.watch_rooms && self.resync_rooms {
                    self.resync_rooms = false;
                    self.resync_rooms(hub, clock, sink);
                }
            }
        }
    }

    /// A room's message from another node.
    #[allow(clippy::too_many_arguments)]
    fn on_room_message(
        &mut self,
        folded: &str,
        origin: Option<u64>,
        payload: &[u8],
        missed: u64,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let msg = match wire::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                debug!("network: {folded}: {e}");
                return;
            }
        };
        match msg {
            wire::Msg::Room {
                name,
                actor,
                effect,
                changes,
            } => {
                if missed > 0 {
                    hub.tell_room(
                        name,
                        NetNotice::Lost {
                            room: Some(name),
                            count: missed,
                        },
                        sink,
                    );
                }
                let effect = match effect {
                    RoomEffect::Modes { at, .. } => RoomEffect::Modes {
                        changes: &changes,
                        at,
                    },
                    e => e,
                };
                hub.remote_room(name, actor, effect, clock, sink);
            }
            wire::Msg::State { state, .. } => {
                if origin.is_some_and(|o| o == state.node) {
                    hub.remote_members(&state, clock, sink);
                }
            }
            _ => {
                self.stats.malformed += 1;
            }
        }
    }

    /// A message on `all` or this node's subject.
    fn on_message(
        &mut self,
        subject: &str,
        payload: &[u8],
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let msg = match wire::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                debug!("network: {subject}: {e}");
                return;
            }
        };
        match msg {
            wire::Msg::User { who } => {
                hub.remote_user(who, clock, sink);
            }
            wire::Msg::Quit { uid, reason } => hub.remote_quit(uid, reason, clock, sink),
            wire::Msg::Bye { node } => self.node_gone(node, "server shut down", hub, clock, sink),
            wire::Msg::Wallops { from, text } => hub.remote_wallops(from, text, sink),
            wire::Msg::Direct { from, to, effect } => {
                hub.remote_direct(from, to, effect, clock, sink)
            }
            wire::Msg::Account { key, name } if self.cfg.shared_store => {
                debug!(
                    "network: account {key} {}",
                    if name.is_some() { "created" } else { "dropped" }
                );
                hub.remote_account(key, name, clock, sink);
            }
            wire::Msg::Registration { key, room } if self.cfg.shared_store => {
                debug!("network: room record {key} changed");
                hub.remote_registration(key, room);
            }
            wire::Msg::Account { .. } | wire::Msg::Registration { .. } => {}
            other => {
                self.stats.malformed += 1;
                debug!("network: {subject}: unexpected {other:?}");
            }
        }
    }

    /// A request to this node: a room's state.
    fn answer(&mut self, reply: &str, payload: &[u8], hub: &Hub) {
        let mut out = Vec::new();
        match wire::decode(payload) {
            // Each node answers for its own members: the asker asks every node that lists the
            // room, and one that lists it late is merged in when it shows up. A chunk is built
            // alone (one more member says whether more follow).
            Ok(wire::Msg::StateAsk { folded, offset }) => {
                match hub.room_state_part(folded, true, offset as usize, wire::STATE_CHUNK + 1) {
                    Some(state) => wire::state(&mut out, &state, 0),
                    None => wire::state(
                        &mut out,
                        &RoomState {
                            node: self.node,
                            ..RoomState::default()
                        },
                        0,
                    ),
                }
            }
            _ => {
                self.stats.malformed += 1;
                return;
            }
        }
        if let Err(e) = self.bus.respond(reply, &Headers::new(), &out) {
            debug!("network: answer not sent: {e}");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn node_change(
        &mut self,
        key: &str,
        value: Option<&[u8]>,
        op: KvOp,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        if let Some(n) = tag::parse_key(key) {
            return self.tag_change(n, value, op, clock.mono);
        }
        let Ok(node) = u64::from_str_radix(key, 16) else {
            return;
        };
        match op {
            KvOp::Put => {
                self.dead.remove(&node);
                if let Some(name) = value.and_then(|v| std::str::from_utf8(v).ok()) {
                    hub.set_node_name(node, Some(name));
                }
                if self.live.insert(node) && node != self.node {
                    info!("network: node {key} is up");
                }
            }
            KvOp::Delete | KvOp::Purge | KvOp::Expired | KvOp::Gone => {
                if node == self.node {
                    // This node's own key ran out (it was cut off): renewed as it reconnects.
                    return;
                }
                self.node_gone(node, "server went away", hub, clock, sink);
            }
        }
    }

    /// A `tag.N` key changed: another node holds it, or let it go.
    fn tag_change(&mut self, n: u8, value: Option<&[u8]>, op: KvOp, now: Instant) {
        let holder = match op {
            KvOp::Put => value
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| u64::from_str_radix(v, 16).ok()),
            _ => None,
        };
        let mine = self.tags.held() == Some(n);
        if self.tags.seen(n, holder, self.node) {
            warn!("network: msgid tag {n} is held by another node too; claiming another");
            let nodes = self.nodes.clone();
            self.bus.kv_keepalive_stop(&nodes, &tag::key(n), false, now);
            self.tags.restart();
            self.claim_tag(now);
        } else if mine && holder.is_none() && self.bus.is_connected() {
            // This node's tag expired or was deleted while it was connected: claimed again.
            info!("network: msgid tag {n} was let go; claiming it again");
            self.tags.restart();
            self.claim_tag(now);
        }
    }

    /// A node is gone (it said goodbye, or its key ran out): its users leave every room here,
    /// and the live node with the smallest id gives its keys back.
    fn node_gone(
        &mut self,
        node: u64,
        reason: &str,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let was_live = self.live.remove(&node);
        self.dead.insert(node);
        self.stats.nodes_gone += 1;
        info!("network: node {} is gone ({reason})", node_hex(node));
        hub.remote_node_gone(node, reason, clock, sink);
        self.bus.forget_node(&node_hex(node));
        self.tags.forget_node(node);
        let waiting: Vec<Box<str>> = self
            .syncs
            .iter_mut()
            .filter_map(|(f, s)| s.asking.remove(&node).then(|| f.clone()))
            .collect();
        for folded in waiting {
            self.maybe_finish_sync(&folded, hub, clock, sink);
        }
        let smallest = self.live.iter().copied().chain([self.node]).min();
        if smallest != Some(self.node) || (!was_live && reason != "server shut down") {
            return;
        }
        let now = clock.mono;
        let nicks: Vec<(String, u64)> = self
            .nick_keys
            .iter()
            .filter(|(_, (uid, _))| uid.node == node)
            .map(|(k, (_, rev))| (k.clone(), *rev))
            .collect();
        let suffix = format!(".{}", node_hex(node));
        let rooms: Vec<(String, u64)> = self
            .room_keys
            .iter()
            .filter(|(k, _)| k.ends_with(&suffix))
            .map(|(k, rev)| (k.clone(), *rev))
            .collect();
        // Founding keys of rooms nobody else has now: their rooms are gone with the node.
        let mut rooms = rooms;
        for (folded, &(founder, rev)) in &self.found_keys {
            let elsewhere = !hub.listed_nodes(folded).is_empty();
            if founder == node && !elsewhere && !self.room_subs.contains_key(folded) {
                rooms.push((found_key(folded), rev));
            }
        }
        if !nicks.is_empty() || !rooms.is_empty() {
            info!(
                "network: giving back {} keys and {} room entries of node {}",
                nicks.len(),
                rooms.len(),
                node_hex(node)
            );
        }
        let (nb, rb) = (self.nicks.clone(), self.rooms.clone());
        for (k, rev) in nicks {
            self.kv_delete(&nb, &k, rev, now);
        }
        for (k, rev) in rooms {
            self.kv_delete(&rb, &k, rev, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn nick_change(
        &mut self,
        key: &str,
        value: Option<&[u8]>,
        revision: u64,
        op: KvOp,
        hub: &mut Hub,
        clock: Clock,
        sink: &mut impl Sink,
    ) {
        let skel = key.starts_with("skel.");
        match (op, value) {
            (KvOp::Put, Some(v)) => {
                let who = if skel {
                    wire::decode_holder(v).map(|u| (u, None))
                } else {
                    wire::decode_user_value(v).map(|r| (r.uid, Some(r)))
                };
                match who {
                    Ok((uid, rec)) => {
                        self.nick_keys.insert(key.to_string(), (uid, revision));
                        if let Some(rec) = rec {
                            if uid.node != self.node && !self.dead.contains(&uid.node) {
                                hub.remote_user(rec, clock, sink);
                            }
                        }
                    }
                    Err(e) => {
                        self.stats.malformed += 1;
                        debug!("network: nick key {key}: {e}");
                    }
                }
            }
            _ => {
                let removed = self.nick_keys.remove(key);
                if let Some(r) = self.releasing.remove(key) {
                    self.given_back(key, r, hub, clock, sink);
                }
                let Some((uid, _)) = removed else {
                    return;
                };
                if uid.node == self.node {
                    // A key of this node deleted by another (it took this node for dead during
                    // a split): claimed again if the user still has it.
                    let ours = self
                        .held
                        .get(&uid)
                        .is_some_and(|h| h.nick == key || h.skel == key);
                    if ours && self.bus.is_connected() {
                        info!("network: {key} of a local user was deleted elsewhere");
                        self.held.remove(&uid);
                        if let Some((value, keys)) = local_claim(hub, uid) {
                            self.start_claim(uid, &keys, value, true, hub, clock, sink);
                        }
                    }
                    return;
                }
                if !skel {
                    if let Some(folded) = names::untoken(key) {
                        hub.remote_key_gone(uid, &folded, "quit", clock, sink);
                    }
                }
            }
        }
    }

    fn rooms_change(
        &mut self,
        key: &str,
        value: Option<&[u8]>,
        revision: u64,
        op: KvOp,
        hub: &mut Hub,
        now: Instant,
    ) {
        if let Some(folded) = key.strip_prefix(FOUND_PREFIX).and_then(names::untoken) {
            let founder = value
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| u64::from_str_radix(v, 16).ok());
            match (op, founder) {
                (KvOp::Put, Some(node)) => {
                    self.found_keys.insert(folded.into(), (node, revision));
                }
                _ => {
                    self.found_keys.remove(&*folded);
                }
            }
            return;
        }
        let Some((room, node)) = key.rsplit_once('.') else {
            return;
        };
        let (Some(folded), Ok(node)) = (names::untoken(room), u64::from_str_radix(node, 16)) else {
            return;
        };
        match (op, value) {
            (KvOp::Put, Some(v)) => match wire::decode_summary(v) {
                Ok(s) => {
                    let new = self.room_keys.insert(key.to_string(), revision).is_none();
                    hub.set_listing(&folded, node, Some(s));
                    if new {
                        self.merge_from(&folded, node, now);
                    }
                }
                Err(_) => self.stats.malformed += 1,
            },
            _ => {
                self.room_keys.remove(key);
                hub.set_listing(&folded, node, None);
            }
        }
    }

    /// A clean stop: every node hears it at once, and this node's keys are given back.
    pub fn shutdown(mut self, now: Instant) {
        let mut bye = Vec::new();
        wire::bye(&mut bye, self.node);
        self.publish(&self.scheme.all(), &bye);
        let held: Vec<Held> = self.held.drain().map(|(_, h)| h).collect();
        for h in held {
            self.release(&h, None, now);
        }
        let rooms: Vec<Box<str>> = self.room_subs.keys().cloned().collect();
        for folded in rooms {
            let key = self.room_key(&folded);
            let _ = self.bus.kv_delete(&self.rooms, &key, None, now);
        }
        let (nodes, key) = (self.nodes.clone(), self.node_key.clone());
        if let Some(n) = self.tags.held() {
            self.bus.kv_keepalive_stop(&nodes, &tag::key(n), true, now);
        }
        self.bus.kv_keepalive_stop(&nodes, &key, true, now);
        self.bus.close(now);
    }
}

/// A local user's record and keys, to claim its nick again.
fn local_claim(hub: &Hub, uid: Uid) -> Option<(Vec<u8>, Keys)> {
    let id = hub.local_id(uid)?;
    let (key, skeleton) = hub.nick_keys(id)?;
    let keys = Keys {
        key: key.into(),
        skeleton: skeleton.into(),
    };
    let mut value = Vec::new();
    wire::user_value(&mut value, &hub.record(id)?);
    Some((value, keys))
}

/// Whether a room's payload is a message (or a knock): what no room state carries.
fn is_say(payload: &[u8]) -> bool {
    matches!(
        wire::decode(payload),
        Ok(wire::Msg::Room {
            effect: RoomEffect::Say { .. } | RoomEffect::Knock { .. },
            ..
        })
    )
}

/// Founding keys in the rooms bucket: `found.<room token>`, the founder's node id as value.
const FOUND_PREFIX: &str = "found.";

fn found_key(folded: &str) -> String {
    format!("{FOUND_PREFIX}{}", names::token(folded))
}

/// A node's id as its subjects and keys spell it.
pub fn node_hex(node: u64) -> String {
    format!("{node:016x}")
}

trait KeepCheck {
    fn is_none_or_differs(&self, key: &str, of: impl Fn(&Held) -> &String) -> bool;
}

impl KeepCheck for Option<&Held> {
    fn is_none_or_differs(&self, key: &str, of: impl Fn(&Held) -> &String) -> bool {
        self.is_none_or(|k| of(k) != key)
    }
}
