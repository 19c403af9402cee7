//! The hub as one node of a network (`--bus`): the users of other nodes, present here as users
//! without a connection; the changes this node's users make that the other nodes must apply;
//! theirs, applied here; and the commands that wait for the network (a nick being claimed, a
//! room's state being fetched before its first local member joins).
//!
//! The hub knows no bus: it tells the server what the network must hear through
//! [`Sink::network`] as a typed [`Change`], and the server calls the `remote_*` functions below
//! with what other nodes said. Remote effects are applied without checking permissions (the
//! node where they happened checked them) and told to this node's users only; the sink skips
//! remote ids, which have no connection.
//!
//! Every user of the network is known here (its nick, names, away, modes: see
//! `docs/NETWORK.md`, "Presence"), so nick lookups, WHO, WHOIS, MONITOR, ISON and direct
//! messages need no round trip. Rooms are known only where a node has a member: a room's
//! members, modes and topic are kept by each node with a local member, which hears every
//! effect on the room's subject.

use std::collections::HashSet;

use super::table::{is_remote, REMOTE_BASE};
use super::*;

/// A user's identity on the network: the node it is connected to and that node's number for
/// it (never reused: node ids are new at each start, and numbers only grow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uid {
    pub node: u64,
    pub n: u64,
}

/// What the other nodes know of a user: everything listings and events show of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub uid: Uid,
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub realname: &'a str,
    pub account: Option<&'a str>,
    pub away: Option<&'a str>,
    /// [`UserMode::bit`]s.
    pub modes: u8,
    /// A native user (takes files in band; its long texts are split for IRC).
    pub native: bool,
    pub secure: bool,
}

/// A [`Record`] that owns its strings (kept while a room's state is gathered).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub uid: Uid,
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub account: Option<String>,
    pub away: Option<String>,
    pub modes: u8,
    pub native: bool,
    pub secure: bool,
}

impl UserInfo {
    pub fn of(r: &Record<'_>) -> UserInfo {
        UserInfo {
            uid: r.uid,
            nick: r.nick.into(),
            user: r.user.into(),
            host: r.host.into(),
            realname: r.realname.into(),
            account: r.account.map(Into::into),
            away: r.away.map(Into::into),
            modes: r.modes,
            native: r.native,
            secure: r.secure,
        }
    }

    pub fn record(&self) -> Record<'_> {
        Record {
            uid: self.uid,
            nick: &self.nick,
            user: &self.user,
            host: &self.host,
            realname: &self.realname,
            account: self.account.as_deref(),
            away: self.away.as_deref(),
            modes: self.modes,
            native: self.native,
            secure: self.secure,
        }
    }
}

/// Something that happened in a room, as the node where it happened carried it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomEffect<'a> {
    /// The actor joined with these role bits (op: it made the room); its record, since a
    /// node may hear of the join before it hears of the user.
    Join {
        who: Record<'a>,
        roles: u8,
    },
    Part {
        reason: Option<&'a str>,
    },
    Kick {
        victim: Uid,
        reason: &'a str,
    },
    /// A new topic ("" clears it), set at `at_ms` (ms since the Unix epoch): of two topics
    /// set at once on two nodes the later one wins everywhere, the larger node id on a tie.
    Topic {
        text: &'a str,
        at_ms: u64,
    },
    /// Mode changes as applied (members by nick, masks as stored), at `at` (Unix seconds).
    Modes {
        changes: &'a [ModeChange<'a>],
        at: u64,
    },
    /// A message; `status` as [`Hub::message_tagged`]'s (only ops, or ops and voiced); `kind`
    /// None is tags alone.
    Say {
        meta: Meta,
        kind: Option<MsgKind>,
        status: u8,
        text: &'a str,
        tags: &'a str,
    },
    /// KNOCK: told to the room's operators.
    Knock {
        text: &'a str,
    },
}

/// What one user of this node sends to one user of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectEffect<'a> {
    /// `to` as addressed (one nick, or a comma list for a group).
    Message {
        meta: Meta,
        kind: Option<MsgKind>,
        to: &'a str,
        text: &'a str,
        tags: &'a str,
    },
    Invite {
        room: &'a str,
    },
    /// A server operator's KILL.
    Kill {
        reason: &'a str,
    },
}

/// What the other nodes must hear of, as [`Sink::network`] is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Take `key` (the folded nick) and `skeleton` for `who` network-wide; the answer comes
    /// back through [`Hub::nick_claimed`]. The user waits meanwhile ([`Hub::net_waiting`]).
    Claim {
        who: Record<'a>,
        key: &'a str,
        skeleton: &'a str,
    },
    /// A claim is no longer wanted (its user left while it was out): whatever it took is to
    /// be given back.
    Abandon {
        uid: Uid,
    },
    /// A user of this node is on line (after its claim, or provisionally while the network
    /// is split).
    Online {
        who: Record<'a>,
        key: &'a str,
        skeleton: &'a str,
    },
    /// Its record changed (away, real name, account, modes, the case of its nick).
    Update {
        who: Record<'a>,
        key: &'a str,
    },
    /// It took a new nick (claimed); the old keys are to be given back.
    Renamed {
        who: Record<'a>,
        key: &'a str,
        skeleton: &'a str,
        old_key: &'a str,
        old_skeleton: &'a str,
    },
    Quit {
        uid: Uid,
        reason: Option<&'a str>,
    },
    /// On the room's subject.
    Room {
        folded: &'a str,
        name: &'a str,
        actor: Uid,
        effect: RoomEffect<'a>,
    },
    /// To the node of `to`.
    Direct {
        from: Uid,
        to: Uid,
        effect: DirectEffect<'a>,
    },
    Wallops {
        from: Uid,
        text: &'a str,
    },
    /// A room this node has no member in is wanted: subscribe to it and gather its state
    /// from the nodes that have members; answer with [`Hub::room_synced`].
    NeedRoom {
        folded: &'a str,
        name: &'a str,
    },
    /// This node has no member in the room any more.
    LeftRoom {
        folded: &'a str,
    },
    /// An account was created here (`name`) or dropped (None): nodes sharing the store learn
    /// of it without reading the store.
    Account {
        key: &'a str,
        name: Option<&'a str>,
    },
}

/// Why a claim did not give the nick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    Taken,
    /// The network could not answer (split, timeout).
    Unavailable,
}

/// What a node says of a room for LIST.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomSummary {
    pub name: String,
    /// The node's own members.
    pub count: usize,
    pub topic: Option<String>,
    pub secret: bool,
}

/// A topic as a room's state carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicState {
    pub text: String,
    pub by: String,
    /// Unix seconds (as shown).
    pub at: u64,
    /// Which of two concurrent topics wins: (ms since the epoch, node).
    pub stamp: (u64, u64),
}

/// One entry of a mask list as a room's state carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskState {
    pub list: ListMode,
    pub mask: String,
    pub by: String,
    pub at: u64,
}

/// A room as one node knows it: what a node joining it first is given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomState {
    /// The node that answered.
    pub node: u64,
    pub name: String,
    pub created: u64,
    pub flags: u8,
    pub key: Option<String>,
    pub limit: Option<usize>,
    pub topic: Option<TopicState>,
    pub masks: Vec<MaskState>,
    /// Every member the node knows, with its role bits.
    pub members: Vec<(UserInfo, u8)>,
}

/// What a user waits for (its connection's input is held meanwhile).
#[derive(Debug, Clone)]
enum Wait {
    /// IRC registration with this nick.
    Register,
    /// A native arrival's guest nick (attempt number).
    Native(u8),
    Rename(Box<str>),
    /// A room's state, to join it.
    Join,
}

#[derive(Debug, Clone)]
struct Joiner {
    id: ClientId,
    uid: Uid,
    name: Box<str>,
    key: Option<Box<str>>,
    tell_self: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct RoomNet {
    local: u32,
    remote: u32,
    /// The winning topic's stamp (ms, node).
    topic: (u64, u64),
    /// Messages go to the network until then (Unix ms) even with no member known elsewhere:
    /// a room just made here may have been made on another node at the same moment, whose
    /// members this node has not heard of yet.
    young_until_ms: u64,
}

/// How long a room's messages are published after its first local member came, whoever is
/// known to be elsewhere (the rooms watch reports another node's entry within it).
const YOUNG_MS: u64 = 5_000;

/// How a finished claim went, for the server: an IRC registration's front end is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub id: ClientId,
    /// It was an IRC registration (its front end goes on, or asks for another nick).
    pub registration: bool,
    pub ok: bool,
}

/// Native guests try this many nicks before going on provisionally.
const GUEST_TRIES: u8 = 5;
/// How long a quit user's id is remembered (a late copy of its record is ignored).
const GONE_FOR: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub(super) struct Net {
    node: u64,
    /// Other nodes' server names, from their node keys (WHOIS shows them).
    node_names: HashMap<u64, Box<str>>,
    /// Connected to the bus: nicks are claimed; otherwise they are provisional.
    online: bool,
    next_n: u64,
    /// By local id: its uid's number (0: none).
    local_n: Vec<u64>,
    /// By number: the local id.
    local_by_n: HashMap<u64, ClientId>,
    /// By remote index: its uid.
    remote_uid: Vec<Uid>,
    by_uid: HashMap<Uid, ClientId>,
    free_hint: usize,
    /// Quit users' ids, with when they quit, and the same in the order they quit: the
    /// oldest are forgotten from the front (a scan of the map per record made 100 000 arrivals
    /// quadratic).
    gone: HashMap<Uid, Instant>,
    gone_order: VecDeque<(Instant, Uid)>,
    rooms: HashMap<RoomId, RoomNet>,
    waiting: HashMap<ClientId, Wait>,
    /// A rename the network confirmed, being carried out.
    confirmed: Option<(ClientId, Box<str>)>,
    /// Rooms whose state is being gathered, with who waits to join them.
    syncing: HashMap<Box<str>, Vec<Joiner>>,
    /// The room being made from gathered state (its joins go ahead).
    creating: Option<Box<str>>,
    /// The roles the first joiner of `creating` gets: operator if this node founded the room
    /// network-wide (it won the room's founding key), none if another node did.
    grant: Option<u8>,
    /// Rooms that may have lost their last local member (folded names).
    unsettled: Vec<Box<str>>,
    /// Rooms whose summary (count, topic) changed (folded names).
    dirty: HashSet<Box<str>>,
    /// LIST's rooms on other nodes: folded name -> (node, summary).
    listings: HashMap<Box<str>, Vec<(u64, RoomSummary)>>,
    /// Local users registered while the network was away: claimed when it is back.
    provisional: HashSet<ClientId>,
    /// Local users killed by an operator of another node, for the server to close.
    killed: Vec<ClientId>,
    /// Connections whose wait is over: the server reads them again.
    released: Vec<ClientId>,
}

impl Net {
    /// Forgets users that quit more than [`GONE_FOR`] ago.
    fn forget_gone(&mut self, now: Instant) {
        while let Some(&(at, uid)) = self.gone_order.front() {
            if now.saturating_duration_since(at) < GONE_FOR {
                break;
            }
            self.gone_order.pop_front();
            // Only if it did not quit again since (a later entry is further back).
            if self.gone.get(&uid) == Some(&at) {
                self.gone.remove(&uid);
            }
        }
    }

    fn uid_of(&self, id: ClientId) -> Option<Uid> {
        if is_remote(id) {
            self.remote_uid.get(id - REMOTE_BASE).copied()
        } else {
            let n = *self.local_n.get(id)?;
            (n != 0).then_some(Uid { node: self.node, n })
        }
    }
}

impl Hub {
    // ---- joining a network ----

    /// Makes this hub node `node` of a network; guest nicks start at `guest_start` (a random
    /// start makes two nodes' guests race for the same nick seldom).
    pub fn join_network(&mut self, node: u64, guest_start: u64) {
        self.next_guest = guest_start.max(1);
        self.msgid_tag = crate::event::MsgId::node_tag(node);
        self.net = Some(Box::new(Net {
            node_names: HashMap::default(),
            node,
            online: false,
            next_n: 1,
            local_n: Vec::new(),
            local_by_n: HashMap::default(),
            remote_uid: Vec::new(),
            by_uid: HashMap::default(),
            free_hint: 0,
            gone: HashMap::default(),
            gone_order: VecDeque::new(),
            rooms: HashMap::default(),
            waiting: HashMap::default(),
            confirmed: None,
            syncing: HashMap::default(),
            creating: None,
            grant: None,
            unsettled: Vec::new(),
            dirty: HashSet::new(),
            listings: HashMap::default(),
            provisional: HashSet::new(),
            killed: Vec::new(),
            released: Vec::new(),
        }));
    }

    /// The msgid tag this node claimed network-wide (until then, and alone, the top byte of
    /// its msgids comes from a hash of its node id).
    pub fn set_msgid_tag(&mut self, tag: u8) {
        if tag != 0 {
            self.msgid_tag = u64::from(tag) << crate::event::MsgId::NODE_SHIFT;
        }
    }

    pub fn networked(&self) -> bool {
        self.net.is_some()
    }

    /// Whether the network answers (claims go to it): false before the bus first connects
    /// and while it is away.
    pub fn net_online(&self) -> bool {
        self.net.as_ref().is_some_and(|n| n.online)
    }

    pub fn set_net_online(&mut self, online: bool) {
        if let Some(net) = &mut self.net {
            net.online = online;
        }
    }

    /// Whether `id`'s command waits for the network (its input is held meanwhile).
    pub fn net_waiting(&self, id: ClientId) -> bool {
        self.net
            .as_ref()
            .is_some_and(|n| n.waiting.contains_key(&id))
    }

    /// Connections whose wait ended since the last call.
    pub fn take_released(&mut self) -> Vec<ClientId> {
        match &mut self.net {
            Some(net) if !net.released.is_empty() => std::mem::take(&mut net.released),
            _ => Vec::new(),
        }
    }

    pub fn uid(&self, id: ClientId) -> Option<Uid> {
        self.net.as_ref()?.uid_of(id)
    }

    /// The id of a local user by its uid.
    pub fn local_id(&self, uid: Uid) -> Option<ClientId> {
        let net = self.net.as_ref()?;
        (uid.node == net.node)
            .then(|| net.local_by_n.get(&uid.n).copied())
            .flatten()
    }

    /// A user's folded nick and skeleton.
    pub fn nick_keys(&self, id: ClientId) -> Option<(&str, &str)> {
        let u = self.user(id)?;
        Some((u.key(), u.names.skeleton()))
    }

    /// Tells a room's local members something about the network.
    pub fn tell_room(&self, name: &str, notice: NetNotice<'_>, sink: &mut impl Sink) {
        if let Some(r) = self.room_id(name).and_then(|room| self.rooms.get(room)) {
            sink.many(&r.members, None, &Event::Network(notice));
        }
    }

    /// The id here of a user of another node.
    pub fn remote_id(&self, uid: Uid) -> Option<ClientId> {
        self.net.as_ref()?.by_uid.get(&uid).copied()
    }

    /// How many users of other nodes are known.
    pub fn remote_count(&self) -> usize {
        self.net.as_ref().map_or(0, |n| n.by_uid.len())
    }

    /// What the network knows of `id`.
    pub fn record(&self, id: ClientId) -> Option<Record<'_>> {
        let u = self.user(id)?;
        Some(Record {
            uid: self.uid(id)?,
            nick: u.nick(),
            user: u.username(),
            host: &u.host,
            realname: u.realname(),
            account: u.account(),
            away: u.away(),
            modes: u.modes,
            native: u.files == FileWay::InBand,
            secure: u.secure,
        })
    }

    /// Every local user who is on line (claimed or provisional), with its keys: what a
    /// reconnected node claims again.
    pub fn local_records(&self) -> Vec<(Record<'_>, &str, &str)> {
        let Some(net) = &self.net else {
            return Vec::new();
        };
        self.by_nick
            .ids()
            .filter(|&id| !is_remote(id) && !net.waiting.contains_key(&id))
            .filter_map(|id| {
                let u = self.user(id)?;
                Some((self.record(id)?, u.key(), u.names.skeleton()))
            })
            .collect()
    }

    /// The folded names of the rooms with a local member.
    pub fn local_rooms(&self) -> Vec<Box<str>> {
        let Some(net) = &self.net else {
            return Vec::new();
        };
        net.rooms
            .iter()
            .filter(|(_, c)| c.local > 0)
            .filter_map(|(&room, _)| self.rooms.get(room).map(|r| Box::<str>::from(r.keys.key())))
            .collect()
    }

    // ---- hooks the commands call ----

    /// A local user entered the hub: it gets its number on the network.
    pub(super) fn net_user_added(&mut self, id: ClientId) {
        let Some(net) = &mut self.net else { return };
        if is_remote(id) {
            return;
        }
        if net.local_n.len() <= id {
            net.local_n.resize(id + 1, 0);
        }
        net.local_n[id] = net.next_n;
        net.local_by_n.insert(net.next_n, id);
        net.next_n += 1;
    }

    /// Starts claiming a new user's nick when the network answers: true if the user now
    /// waits. While it does not, the nick is provisional (claimed when the network is back).
    fn claim_arrival(&mut self, id: ClientId, wait: Wait, sink: &mut impl Sink) -> bool {
        let online = self.net_online();
        let Some(net) = &mut self.net else {
            return false;
        };
        if !online {
            net.provisional.insert(id);
            return false;
        }
        net.waiting.insert(id, wait);
        self.send_claim(id, sink);
        true
    }

    fn send_claim(&self, id: ClientId, sink: &mut impl Sink) {
        let (Some(u), Some(who)) = (self.user(id), self.record(id)) else {
            return;
        };
        sink.network(&Change::Claim {
            who,
            key: u.key(),
            skeleton: u.names.skeleton(),
        });
    }

    /// A native arrival on a network: true if its greeting waits for its guest nick's claim.
    pub(super) fn net_hold_native(&mut self, id: ClientId, sink: &mut impl Sink) -> bool {
        self.net.is_some() && self.claim_arrival(id, Wait::Native(1), sink)
    }

    /// An IRC registration the hub took (with [`Hub::register`]): true if the welcome waits
    /// for the nick's claim; the front end hears the outcome through the server.
    pub fn hold_registration(&mut self, id: ClientId, sink: &mut impl Sink) -> bool {
        if self.net.is_none() {
            return false;
        }
        // Not held: the nick is provisional, claimed (and announced) when the network is back.
        self.claim_arrival(id, Wait::Register, sink)
    }

    /// The network hears a local user is on line.
    fn announce_online(&self, id: ClientId, sink: &mut impl Sink) {
        if self.net.is_none() {
            return;
        }
        let (Some(u), Some(who)) = (self.user(id), self.record(id)) else {
            return;
        };
        sink.network(&Change::Online {
            who,
            key: u.key(),
            skeleton: u.names.skeleton(),
        });
    }

    /// A rename on a network: true if it was held (claim sent) or refused; false if it goes
    /// ahead now (a change of case, or the claim is in).
    pub(super) fn net_hold_rename(
        &mut self,
        id: ClientId,
        new: &str,
        keys: &NameKeys,
        sink: &mut impl Sink,
    ) -> bool {
        let online = self.net_online();
        let Some(net) = &mut self.net else {
            return false;
        };
        if net
            .confirmed
            .as_ref()
            .is_some_and(|(c, n)| *c == id && **n == *new)
        {
            return false;
        }
        let Some(me) = self.user(id) else { return true };
        if me.key() == keys.key() {
            return false;
        }
        if !online {
            let fail = Fail::NetworkSplit(new);
            sink.one(id, me.nick(), &Event::Fail(fail));
            return true;
        }
        let Some(who) = self.record(id) else {
            return true;
        };
        let who = Record { nick: new, ..who };
        sink.network(&Change::Claim {
            who,
            key: keys.key(),
            skeleton: keys.skeleton(),
        });
        if let Some(net) = &mut self.net {
            net.waiting.insert(id, Wait::Rename(new.into()));
        }
        true
    }

    /// After a rename: the network hears the new nick (and gives the old keys back).
    pub(super) fn net_renamed(&mut self, id: ClientId, old: &NameKeys, sink: &mut impl Sink) {
        let Some(net) = &mut self.net else { return };
        net.confirmed = None;
        let (Some(u), Some(who)) = (self.user(id), self.record(id)) else {
            return;
        };
        if u.key() == old.key() {
            sink.network(&Change::Update { who, key: u.key() });
        } else {
            sink.network(&Change::Renamed {
                who,
                key: u.key(),
                skeleton: u.names.skeleton(),
                old_key: old.key(),
                old_skeleton: old.skeleton(),
            });
        }
    }

    /// A user's away, real name, account or modes changed: the network hears its record.
    pub(super) fn net_presence(&self, id: ClientId, sink: &mut impl Sink) {
        if self.net.is_none() || is_remote(id) {
            return;
        }
        let (Some(u), Some(who)) = (self.user(id), self.record(id)) else {
            return;
        };
        sink.network(&Change::Update { who, key: u.key() });
    }

    /// A local user is leaving: the network hears it (or its claim is given up).
    pub(super) fn net_leaving(&mut self, id: ClientId, reason: Option<&str>, sink: &mut impl Sink) {
        if is_remote(id) {
            return;
        }
        let Some(uid) = self.uid(id) else { return };
        let Some(net) = &mut self.net else { return };
        net.provisional.remove(&id);
        let wait = net.waiting.remove(&id);
        for joiners in net.syncing.values_mut() {
            joiners.retain(|j| j.id != id);
        }
        if let Some(n) = net.local_n.get_mut(id) {
            net.local_by_n.remove(n);
            *n = 0;
        }
        match wait {
            Some(Wait::Register | Wait::Native(_)) => sink.network(&Change::Abandon { uid }),
            Some(Wait::Rename(_)) => {
                sink.network(&Change::Abandon { uid });
                sink.network(&Change::Quit { uid, reason });
            }
            _ => sink.network(&Change::Quit { uid, reason }),
        }
    }

    /// A join of a room this node does not have: true if it waits for the room's state.
    pub(super) fn net_sync_room(
        &mut self,
        id: ClientId,
        name: &str,
        key: Option<&str>,
        tell_self: bool,
        sink: &mut impl Sink,
    ) -> bool {
        let online = self.net_online();
        let Some(uid) = self.uid(id) else {
            return false;
        };
        let rules = self.cfg.names;
        let Some(net) = &mut self.net else {
            return false;
        };
        let folded = rules.fold(name);
        if !online || net.creating.as_deref() == Some(&*folded) {
            return false;
        }
        let joiner = Joiner {
            id,
            uid,
            name: name.into(),
            key: key.map(Into::into),
            tell_self,
        };
        net.waiting.insert(id, Wait::Join);
        match net.syncing.get_mut(&folded) {
            Some(joiners) => joiners.push(joiner),
            None => {
                net.syncing.insert(folded.clone(), vec![joiner]);
                sink.network(&Change::NeedRoom {
                    folded: &folded,
                    name,
                });
            }
        }
        true
    }

    /// The roles a joiner gets for being first (founding) or for joining a room made from the
    /// network's state: set only while [`Hub::room_synced`] lets its first joiner in.
    pub(super) fn net_grant(&self) -> Option<u8> {
        self.net.as_ref().and_then(|n| n.grant)
    }

    /// Tells the network what happened in `room` (a message only if it has members
    /// elsewhere: no one else listens otherwise).
    pub(super) fn share_room(
        &self,
        room: RoomId,
        actor: ClientId,
        effect: RoomEffect<'_>,
        sink: &mut impl Sink,
    ) {
        let Some(net) = &self.net else { return };
        if is_remote(actor) {
            return;
        }
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let message = matches!(effect, RoomEffect::Say { .. } | RoomEffect::Knock { .. });
        // Sent while another node has members, or lists the room (its members may not be
        // merged in yet: two nodes that founded the room at once).
        let now_ms = self.now.unix_ms;
        let alone = net
            .rooms
            .get(&room)
            .is_none_or(|c| c.remote == 0 && now_ms >= c.young_until_ms)
            && !net.listings.contains_key(r.keys.key());
        if message && alone {
            log::trace!(
                "network: {}: no members elsewhere ({} members, counts {:?}); not sent",
                r.name,
                r.members.len(),
                net.rooms.get(&room).map(|c| (c.local, c.remote))
            );
            return;
        }
        let Some(actor) = net.uid_of(actor) else {
            return;
        };
        sink.network(&Change::Room {
            folded: r.keys.key(),
            name: &r.name,
            actor,
            effect,
        });
    }

    /// After a local join: the network hears it with the joiner's record and roles.
    pub(super) fn share_join(&mut self, id: ClientId, room: RoomId, sink: &mut impl Sink) {
        if self.net.is_none() {
            return;
        }
        let Some(roles) = self.roles(room, id) else {
            return;
        };
        let Some(who) = self.record(id) else { return };
        self.share_room(room, id, RoomEffect::Join { who, roles }, sink);
        self.mark_dirty(room);
    }

    /// A local topic change wins over any older one.
    pub(super) fn net_topic_set(&mut self, room: RoomId) {
        let stamp = (self.now.unix_ms, self.net.as_ref().map_or(0, |n| n.node));
        if let Some(net) = &mut self.net {
            net.rooms.entry(room).or_default().topic = stamp;
        }
        self.mark_dirty(room);
    }

    /// A message, invitation or kill for a user of another node goes to its node.
    pub(super) fn share_direct(
        &self,
        from: ClientId,
        to: ClientId,
        effect: DirectEffect<'_>,
        sink: &mut impl Sink,
    ) {
        let Some(net) = &self.net else { return };
        let (Some(from), Some(to)) = (net.uid_of(from), net.uid_of(to)) else {
            return;
        };
        sink.network(&Change::Direct { from, to, effect });
    }

    pub(super) fn share_wallops(&self, from: ClientId, text: &str, sink: &mut impl Sink) {
        let Some(net) = &self.net else { return };
        if let Some(from) = net.uid_of(from) {
            sink.network(&Change::Wallops { from, text });
        }
    }

    /// Membership counts, kept per room: whether it has members elsewhere (messages are
    /// published) and here (the node keeps the room).
    pub(super) fn net_member_added(&mut self, room: RoomId, id: ClientId) {
        let Some(net) = &mut self.net else { return };
        let c = net.rooms.entry(room).or_default();
        if is_remote(id) {
            c.remote += 1;
        } else {
            if c.local == 0 {
                c.young_until_ms = self.now.unix_ms + YOUNG_MS;
            }
            c.local += 1;
        }
    }

    pub(super) fn net_member_removed(&mut self, room: RoomId, id: ClientId, folded: &str) {
        let Some(net) = &mut self.net else { return };
        let Some(c) = net.rooms.get_mut(&room) else {
            return;
        };
        if is_remote(id) {
            c.remote = c.remote.saturating_sub(1);
        } else {
            c.local = c.local.saturating_sub(1);
            if c.local == 0 {
                net.unsettled.push(folded.into());
            }
            net.dirty.insert(folded.into());
        }
    }

    /// The room is gone from this hub.
    pub(super) fn net_room_removed(&mut self, room: RoomId) {
        if let Some(net) = &mut self.net {
            net.rooms.remove(&room);
        }
    }

    fn mark_dirty(&mut self, room: RoomId) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        if let Some(net) = &mut self.net {
            if !net.dirty.contains(r.keys.key()) {
                net.dirty.insert(r.keys.key().into());
            }
        }
    }

    /// Rooms with no local member left are dropped here (their other members are forgotten,
    /// silently) and the network hears this node left them. Called once a pass.
    pub fn settle(&mut self, sink: &mut impl Sink) {
        let Some(net) = &mut self.net else { return };
        if net.unsettled.is_empty() {
            return;
        }
        let mut rooms = std::mem::take(&mut net.unsettled);
        rooms.sort_unstable();
        rooms.dedup();
        for folded in rooms {
            if self
                .net
                .as_ref()
                .is_some_and(|n| n.syncing.contains_key(&folded))
            {
                continue;
            }
            if let Some(&room) = self.by_room.get(&folded) {
                let local = self
                    .net
                    .as_ref()
                    .and_then(|n| n.rooms.get(&room))
                    .map_or(0, |c| c.local);
                if local > 0 {
                    continue;
                }
                let members = self.rooms[room].members.clone();
                for m in members {
                    self.remove_member(room, m);
                }
                if self.rooms.contains(room) && *self.rooms[room].keys.key() == *folded {
                    // Nobody left at all: it may still be filed (an empty room is removed by
                    // remove_member; this is for one that never had a member here).
                    let r = self.rooms.remove(room);
                    self.by_room.remove(r.keys.key());
                    self.net_room_removed(room);
                }
            }
            if let Some(net) = &mut self.net {
                net.dirty.remove(&folded);
            }
            sink.network(&Change::LeftRoom { folded: &folded });
        }
    }

    /// What changed in this node's rooms since the last call, for LIST elsewhere: each
    /// room's local count and topic (None: the node has no member any more).
    pub fn take_summaries(&mut self) -> Vec<(Box<str>, Option<RoomSummary>)> {
        let Some(net) = &mut self.net else {
            return Vec::new();
        };
        let dirty = std::mem::take(&mut net.dirty);
        dirty
            .into_iter()
            .map(|folded| {
                let summary = self.by_room.get(&folded).and_then(|&room| {
                    let r = self.rooms.get(room)?;
                    let local = self.net.as_ref()?.rooms.get(&room)?.local as usize;
                    (local > 0).then(|| RoomSummary {
                        name: r.name.to_string(),
                        count: local,
                        topic: r.topic.as_ref().map(|t| t.text.to_string()),
                        secret: r.has(RoomFlag::Secret),
                    })
                });
                (folded, summary)
            })
            .collect()
    }

    /// What node `node` says of a room, for LIST (None: it has no member any more).
    pub fn set_listing(&mut self, folded: &str, node: u64, summary: Option<RoomSummary>) {
        let Some(net) = &mut self.net else { return };
        if node == net.node {
            return;
        }
        let entry = net.listings.entry(folded.into()).or_default();
        entry.retain(|(n, _)| *n != node);
        if let Some(s) = summary {
            entry.push((node, s));
        }
        if entry.is_empty() {
            net.listings.remove(folded);
        }
    }

    /// Node `node` is called `name` (its `--server-name`); None: it is gone.
    pub fn set_node_name(&mut self, node: u64, name: Option<&str>) {
        let Some(net) = &mut self.net else { return };
        match name {
            Some(n) => net.node_names.insert(node, n.into()),
            None => net.node_names.remove(&node),
        };
    }

    /// The server a user of another node is connected to, if its name is known.
    pub(super) fn server_of(&self, id: ClientId) -> Option<&str> {
        let uid = self.uid(id)?;
        let net = self.net.as_ref()?;
        if uid.node == net.node {
            return None;
        }
        net.node_names.get(&uid.node).map(|n| &**n)
    }

    /// The nodes that say they have members in a room.
    pub fn listed_nodes(&self, folded: &str) -> Vec<u64> {
        self.net
            .as_ref()
            .and_then(|n| n.listings.get(folded))
            .map(|l| l.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default()
    }

    /// Forgets what a node said for LIST (it is gone).
    pub fn forget_listings_of(&mut self, node: u64) {
        let Some(net) = &mut self.net else { return };
        net.listings.retain(|_, l| {
            l.retain(|(n, _)| *n != node);
            !l.is_empty()
        });
    }

    /// LIST's rooms that are only elsewhere: those `fits` takes, visible (not secret).
    pub(super) fn list_remote(
        &self,
        id: ClientId,
        fits: impl Fn(&str, usize) -> bool,
        sink: &mut impl Sink,
    ) -> usize {
        let (Some(net), Some(me)) = (&self.net, self.user(id)) else {
            return 0;
        };
        let mut count = 0;
        for (folded, entries) in &net.listings {
            if self.by_room.contains_key(folded) || entries.iter().any(|(_, s)| s.secret) {
                continue;
            }
            let Some((_, first)) = entries.first() else {
                continue;
            };
            let members = entries.iter().map(|(_, s)| s.count).sum();
            if !fits(&first.name, members) {
                continue;
            }
            let topic = entries.iter().find_map(|(_, s)| s.topic.as_deref());
            let entry = Event::Reply(Reply::RoomEntry {
                room: &first.name,
                count: members,
                topic,
            });
            sink.one(id, me.nick(), &entry);
            count += 1;
        }
        count
    }

    // ---- claims answered ----

    /// The network's answer to a [`Change::Claim`] for `uid`: the waiting command goes on
    /// (or is refused). None if nobody waits for it any more.
    pub fn nick_claimed(
        &mut self,
        uid: Uid,
        outcome: Result<(), ClaimOutcome>,
        now: Clock,
        sink: &mut impl Sink,
    ) -> Option<Claimed> {
        self.now = now;
        let net = self.net.as_mut()?;
        if uid.node != net.node {
            return None;
        }
        let id = *net.local_by_n.get(&uid.n)?;
        let wait = net.waiting.remove(&id)?;
        net.released.push(id);
        match (wait, outcome) {
            (Wait::Register, Ok(())) => {
                self.announce_online(id, sink);
                Some(Claimed {
                    id,
                    registration: true,
                    ok: true,
                })
            }
            (Wait::Register, Err(ClaimOutcome::Unavailable)) => {
                // The network did not answer: the nick is provisional, claimed on return.
                if let Some(net) = &mut self.net {
                    net.provisional.insert(id);
                }
                Some(Claimed {
                    id,
                    registration: true,
                    ok: true,
                })
            }
            (Wait::Register, Err(ClaimOutcome::Taken)) => {
                self.unregister(id);
                Some(Claimed {
                    id,
                    registration: true,
                    ok: false,
                })
            }
            (Wait::Native(_), Ok(())) => {
                self.announce_online(id, sink);
                self.native_welcome(id, sink);
                None
            }
            (Wait::Native(tries), Err(ClaimOutcome::Taken)) if tries < GUEST_TRIES => {
                let nick = self.guest_nick(id);
                self.refile(id, &nick);
                if let Some(net) = &mut self.net {
                    net.waiting.insert(id, Wait::Native(tries + 1));
                    net.released.retain(|&r| r != id);
                }
                self.send_claim(id, sink);
                None
            }
            (Wait::Native(_), Err(_)) => {
                if let Some(net) = &mut self.net {
                    net.provisional.insert(id);
                }
                self.native_welcome(id, sink);
                None
            }
            (Wait::Rename(new), Ok(())) => {
                if let Some(net) = &mut self.net {
                    net.confirmed = Some((id, new.clone()));
                }
                self.change_nick(id, &new, sink);
                if let Some(net) = &mut self.net {
                    net.confirmed = None;
                }
                None
            }
            (Wait::Rename(new), Err(why)) => {
                let me = self.nick(id).unwrap_or("*");
                let fail = match why {
                    ClaimOutcome::Taken => Fail::NickTaken(&new),
                    ClaimOutcome::Unavailable => Fail::NetworkSplit(&new),
                };
                sink.one(id, me, &Event::Fail(fail));
                None
            }
            (Wait::Join, _) => None,
        }
    }

    /// Files a user that nobody has heard of yet under another nick.
    fn refile(&mut self, id: ClientId, nick: &str) {
        let Some(keys) = self.cfg.names.nick(nick).ok() else {
            return;
        };
        let Some(old) = self.user(id).map(|u| u.names.keys()) else {
            return;
        };
        self.unfile_nick(id, &old);
        self.file_nick(id, &keys);
        if let Some(u) = self.user_mut(id) {
            u.set_nick(nick, &keys);
        }
    }

    /// Takes back a registration nobody was told of (its nick was taken elsewhere).
    fn unregister(&mut self, id: ClientId) {
        let Some(user) = self.users.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.unfile_nick(id, &user.names.keys());
        self.hosts.release(user.host);
        if let Some(net) = self.net.as_mut() {
            if let Some(n) = net.local_n.get_mut(id) {
                net.local_by_n.remove(n);
                *n = 0;
            }
        }
    }

    /// After a split, `uid`'s nick turned out to be another user's: it gets a guest nick
    /// (claimed like any other) and is told why.
    pub fn collided(&mut self, uid: Uid, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let Some(net) = &self.net else { return };
        if uid.node != net.node {
            return;
        }
        let Some(&id) = net.local_by_n.get(&uid.n) else {
            return;
        };
        let Some(old) = self.nick(id).map(Box::<str>::from) else {
            return;
        };
        // Out of the maps first, so that the guest nick's check does not see it.
        if let Some(keys) = self.user(id).map(|u| u.names.keys()) {
            self.unfile_nick(id, &keys);
        }
        let guest = self.guest_nick(id);
        if let Some(net) = &mut self.net {
            net.provisional.remove(&id);
            net.confirmed = Some((id, guest.as_str().into()));
        }
        // Put back under the old nick, then renamed as any rename is (peers hear it).
        if let Some(keys) = self.user(id).map(|u| u.names.keys()) {
            let users = &self.users;
            self.by_nick
                .insert_if_free(keys.key(), id, |o| key_of(users, o));
        }
        let notice = Event::Network(NetNotice::Collision {
            old: &old,
            new: &guest,
        });
        sink.one(id, &old, &notice);
        self.change_nick(id, &guest, sink);
    }

    /// The network is back and every local user was claimed again: provisional nicks are
    /// confirmed.
    pub fn confirm_provisional(&mut self) {
        if let Some(net) = &mut self.net {
            net.provisional.clear();
        }
    }

    // ---- other nodes' users ----

    /// A user of another node, as its record says now: added, or brought up to date (a
    /// rename, away, real name, account and modes are told as they are when local). None if
    /// the record is this node's, or of a user known to have quit.
    pub fn remote_user(
        &mut self,
        rec: Record<'_>,
        now: Clock,
        sink: &mut impl Sink,
    ) -> Option<ClientId> {
        self.now = now;
        let net = self.net.as_mut()?;
        if rec.uid.node == net.node {
            return None;
        }
        net.forget_gone(now.mono);
        if net.gone.contains_key(&rec.uid) {
            return None;
        }
        let known = net.by_uid.get(&rec.uid).copied();
        let rules = self.cfg.names;
        let keys = match rules.nick(rec.nick) {
            Ok(k) => k,
            Err(_) => NameKeys::new(&rules.fold(rec.nick), &rules.skeleton(rec.nick)),
        };
        // Whoever else holds the nick here is out of date: the network gave it to this one.
        if let Some(other) = self.nick_holder(keys.key()) {
            if Some(other) != known {
                if is_remote(other) {
                    let uid = self.uid(other)?;
                    self.remote_quit(uid, Some("nick taken over"), now, sink);
                } else {
                    // A local user has it: a split's collision, settled by the claims the
                    // reconnect makes. Until then this user is left out.
                    log::info!(
                        "network: {} is held here and on node {:016x}",
                        rec.nick,
                        rec.uid.node
                    );
                    return None;
                }
            }
        }
        let id = match known {
            Some(id) => {
                self.update_remote(id, &rec, keys, sink);
                id
            }
            None => {
                let net = self.net.as_mut()?;
                let id = self.users.free_remote(&mut net.free_hint);
                let i = id - REMOTE_BASE;
                if net.remote_uid.len() <= i {
                    net.remote_uid.resize(i + 1, Uid::default());
                }
                net.remote_uid[i] = rec.uid;
                net.by_uid.insert(rec.uid, id);
                let files = if rec.native {
                    FileWay::InBand
                } else {
                    FileWay::Link
                };
                self.add_user(id, rec.nick, rec.user, rec.realname, rec.host, files);
                if let Some(u) = self.user_mut(id) {
                    u.with_extra(|e| e.account = rec.account.map(Into::into));
                    u.with_extra(|e| e.away = rec.away.map(Into::into));
                    u.modes = rec.modes;
                    u.secure = rec.secure;
                    u.room_details = false;
                }
                self.oper_count += usize::from(rec.modes & UserMode::Oper.bit() != 0);
                self.invisible_count += usize::from(rec.modes & UserMode::Invisible.bit() != 0);
                self.tell_online(id, sink);
                id
            }
        };
        Some(id)
    }

    /// Brings a known remote user up to date, telling what changed.
    fn update_remote(
        &mut self,
        id: ClientId,
        rec: &Record<'_>,
        keys: NameKeys,
        sink: &mut impl Sink,
    ) {
        let Some(u) = self.user(id) else { return };
        if *u.nick() != *rec.nick {
            let renamed = u.key() != keys.key();
            let rooms: Vec<RoomId> = self
                .rooms_of(id)
                .into_iter()
                .filter(|&r| !self.is_quiet(r) || self.is_op(r, id))
                .collect();
            self.collect_peers(&rooms, None, false);
            let Some(u) = self.user(id) else { return };
            let ev = Event::NickChanged {
                who: u.source(),
                new: rec.nick,
            };
            sink.many(&self.peers, None, &ev);
            let old = u.names.keys();
            let old_nick: Box<str> = u.nick().into();
            self.remember(id);
            self.unfile_nick(id, &old);
            let users = &self.users;
            self.by_nick.insert(keys.key(), id, |o| key_of(users, o));
            self.nick_skeletons
                .insert_if_free(keys.skeleton(), id, |o| skeleton_of(users, o));
            if let Some(u) = self.user_mut(id) {
                u.set_nick(rec.nick, &keys);
            }
            if renamed {
                self.tell_offline(&old_nick, sink);
                self.tell_online(id, sink);
            }
        }
        let Some(u) = self.user(id) else { return };
        let away_changed = u.away() != rec.away;
        let realname_changed = u.realname() != rec.realname;
        let account_changed = u.account() != rec.account;
        if away_changed || realname_changed || account_changed {
            let rooms = self.rooms_of(id);
            self.collect_peers(&rooms, None, true);
        }
        if away_changed {
            if let Some(u) = self.user_mut(id) {
                u.with_extra(|e| e.away = rec.away.map(Into::into));
            }
            let Some(u) = self.user(id) else { return };
            let ev = Event::Extra(Extra::Away {
                who: u.source(),
                text: rec.away,
                monitor: false,
            });
            sink.many(&self.peers, Some(id), &ev);
            self.tell_watchers(id, &ev, sink);
        }
        if realname_changed {
            let Some(u) = self.user(id) else { return };
            let ev = Event::Extra(Extra::Realname {
                who: u.source(),
                realname: rec.realname,
                monitor: false,
            });
            sink.many(&self.peers, Some(id), &ev);
            self.tell_watchers(id, &ev, sink);
            if let Some(u) = self.user_mut(id) {
                u.set_realname(rec.realname);
            }
        }
        if account_changed {
            let Some(u) = self.user(id) else { return };
            let ev = Event::Extra(Extra::Account {
                who: Source {
                    account: rec.account,
                    ..u.source()
                },
                account: rec.account,
                monitor: false,
            });
            sink.many(&self.peers, Some(id), &ev);
            self.tell_watchers(id, &ev, sink);
            if let Some(u) = self.user_mut(id) {
                u.with_extra(|e| e.account = rec.account.map(Into::into));
            }
        }
        let Some(u) = self.user_mut(id) else { return };
        let was = u.modes;
        u.modes = rec.modes;
        u.secure = rec.secure;
        let bit = |m: UserMode, bits: u8| usize::from(bits & m.bit() != 0);
        self.oper_count =
            self.oper_count + bit(UserMode::Oper, rec.modes) - bit(UserMode::Oper, was);
        self.invisible_count = self.invisible_count + bit(UserMode::Invisible, rec.modes)
            - bit(UserMode::Invisible, was);
    }

    /// A user of another node quit: its rooms here hear it (as a quit with `reason`).
    pub fn remote_quit(
        &mut self,
        uid: Uid,
        reason: Option<&str>,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        self.now = now;
        let Some(net) = &mut self.net else { return };
        net.gone.insert(uid, now.mono);
        net.gone_order.push_back((now.mono, uid));
        let Some(id) = net.by_uid.remove(&uid) else {
            return;
        };
        if id - REMOTE_BASE < net.free_hint {
            net.free_hint = id - REMOTE_BASE;
        }
        self.disconnect(id, reason, sink);
    }

    /// A user of another node whose key went away (no quit was heard): it quits as
    /// `reason` says, unless the key's user is someone else by now.
    pub fn remote_key_gone(
        &mut self,
        uid: Uid,
        key: &str,
        reason: &str,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        let Some(id) = self.remote_id(uid) else {
            return;
        };
        if self.user(id).is_some_and(|u| *u.key() == *key) {
            self.remote_quit(uid, Some(reason), now, sink);
        }
    }

    /// Every user of `node` quits (the node is gone).
    pub fn remote_node_gone(&mut self, node: u64, reason: &str, now: Clock, sink: &mut impl Sink) {
        let Some(net) = &self.net else { return };
        let uids: Vec<Uid> = net
            .by_uid
            .keys()
            .filter(|u| u.node == node)
            .copied()
            .collect();
        for uid in uids {
            self.remote_quit(uid, Some(reason), now, sink);
        }
        if let Some(net) = &mut self.net {
            // A node that comes back (a split healed) is heard again.
            net.gone.retain(|u, _| u.node != node);
        }
        self.forget_listings_of(node);
    }

    /// Every user of another node quits (the network is split, past its grace): they come
    /// back as the network tells again.
    pub fn drop_remote_users(&mut self, reason: &str, now: Clock, sink: &mut impl Sink) {
        let Some(net) = &self.net else { return };
        let uids: Vec<Uid> = net.by_uid.keys().copied().collect();
        for uid in uids {
            self.remote_quit(uid, Some(reason), now, sink);
        }
        if let Some(net) = &mut self.net {
            net.gone.clear();
            net.gone_order.clear();
            net.listings.clear();
        }
    }

    /// Tells every local user something about the network.
    pub fn tell_network(&self, notice: NetNotice<'_>, sink: &mut impl Sink) {
        let ids: Vec<ClientId> = self.by_nick.ids().filter(|&id| !is_remote(id)).collect();
        sink.many(&ids, None, &Event::Network(notice));
    }

    // ---- other nodes' rooms ----

    /// Something that happened in a room on another node, applied here and told to this
    /// node's members.
    pub fn remote_room(
        &mut self,
        name: &str,
        actor: Uid,
        effect: RoomEffect<'_>,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        self.now = now;
        let Some(room) = self.room_id(name) else {
            return;
        };
        if let RoomEffect::Join { who, .. } = effect {
            if who.uid == actor {
                self.remote_user(who, now, sink);
            }
        }
        let Some(id) = self.remote_id(actor) else {
            return;
        };
        match effect {
            RoomEffect::Join { roles, .. } => {
                if self.is_member(room, id) {
                    return;
                }
                self.add_member(room, id, roles);
                let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
                    return;
                };
                if r.members.len() <= self.cfg.quiet_room_size {
                    let ev = Event::Joined {
                        who: u.source(),
                        room: &r.name,
                    };
                    sink.many(&r.members, Some(id), &ev);
                    if let Some(away) = u.away() {
                        let away = Event::Extra(Extra::Away {
                            who: u.source(),
                            text: Some(away),
                            monitor: false,
                        });
                        sink.many(&r.members, Some(id), &away);
                    }
                }
            }
            RoomEffect::Part { reason } => {
                if !self.is_member(room, id) {
                    return;
                }
                let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
                    return;
                };
                if r.members.len() <= self.cfg.quiet_room_size {
                    let ev = Event::Parted {
                        who: u.source(),
                        room: &r.name,
                        reason,
                    };
                    sink.many(&r.members, Some(id), &ev);
                }
                self.remove_member(room, id);
            }
            RoomEffect::Kick { victim, reason } => {
                let victim = match self.remote_id(victim) {
                    Some(v) => v,
                    None => match self.local_id(victim) {
                        Some(v) => v,
                        None => return,
                    },
                };
                if !self.is_member(room, victim) {
                    return;
                }
                let (Some(u), Some(r), Some(v)) =
                    (self.user(id), self.rooms.get(room), self.nick(victim))
                else {
                    return;
                };
                let ev = Event::Kicked {
                    by: u.source(),
                    room: &r.name,
                    victim: v,
                    reason,
                };
                sink.many(&r.members, Some(id), &ev);
                self.leave(victim, room, sink);
            }
            RoomEffect::Topic { text, at_ms } => {
                let stamp = (at_ms, actor.node);
                let current = self
                    .net
                    .as_ref()
                    .and_then(|n| n.rooms.get(&room))
                    .map(|c| c.topic);
                if current.is_some_and(|c| c > stamp) {
                    return;
                }
                if let Some(net) = &mut self.net {
                    net.rooms.entry(room).or_default().topic = stamp;
                }
                let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
                    return;
                };
                let ev = Event::TopicChanged {
                    who: u.source(),
                    room: &r.name,
                    topic: text,
                };
                sink.many(&r.members, Some(id), &ev);
                let by = format!("{}!{}@{}", u.nick(), u.username(), u.host).into_boxed_str();
                let r = &mut self.rooms[room];
                r.topic = (!text.is_empty()).then(|| Topic {
                    text: text.into(),
                    by,
                    at: at_ms / 1000,
                });
                self.mark_dirty(room);
            }
            RoomEffect::Modes { changes, at } => self.remote_modes(room, id, changes, at, sink),
            RoomEffect::Say {
                meta,
                kind,
                status,
                text,
                tags,
            } => {
                let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
                    return;
                };
                let target = &*messages::status_target(&r.name, status);
                let ev = match kind {
                    None => Event::Extra(Extra::TagMessage {
                        meta,
                        from: u.source(),
                        to: target,
                        tags,
                    }),
                    Some(kind) => Event::RoomMessage {
                        meta,
                        from: u.source(),
                        room: target,
                        kind,
                        text,
                        tags,
                    },
                };
                let ctcp = kind.is_some_and(|k| k != MsgKind::Action) && text.starts_with('\x01');
                // What every member saw goes into this node's recent window; the node it was
                // said on stores it.
                if let (0, false, Some(kind)) = (status, ctcp, kind) {
                    sink.heard_message(&Kept {
                        meta,
                        from: u.party(),
                        to: KeptTo::Room(RoomRef {
                            name: &r.name,
                            key: r.keys.key(),
                        }),
                        kind: KeptKind::Say(kind),
                        text,
                        tags,
                    });
                }
                if ctcp || status != 0 {
                    let to: Vec<ClientId> = r
                        .members
                        .iter()
                        .zip(&r.roles)
                        .filter(|&(_, &roles)| status == 0 || roles & status != 0)
                        .map(|(&m, _)| m)
                        .filter(|&m| {
                            !ctcp || self.user(m).is_some_and(|u| u.files != FileWay::InBand)
                        })
                        .collect();
                    sink.many(&to, Some(id), &ev);
                } else {
                    sink.many(&r.members, Some(id), &ev);
                }
            }
            RoomEffect::Knock { text } => {
                let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
                    return;
                };
                let ev = Event::Extra(Extra::Knock {
                    who: u.source(),
                    room: &r.name,
                    text,
                });
                sink.many(&r.ops, None, &ev);
            }
        }
    }

    /// Mode changes made on another node, applied as they were applied there.
    fn remote_modes(
        &mut self,
        room: RoomId,
        id: ClientId,
        changes: &[ModeChange<'_>],
        at: u64,
        sink: &mut impl Sink,
    ) {
        let by = match self.user(id) {
            Some(u) => format!("{}!{}@{}", u.nick(), u.username(), u.host),
            None => return,
        };
        let mut applied: Vec<ModeChange<'_>> = Vec::with_capacity(changes.len());
        for &change in changes {
            let Some(r) = self.rooms.get_mut(room) else {
                return;
            };
            match change {
                ModeChange::Flag(on, flag) => {
                    if r.has(flag) != on {
                        r.flags ^= flag.bit();
                        applied.push(change);
                    }
                }
                ModeChange::Key(key) => {
                    if r.key.as_deref() != key {
                        r.key = key.map(Into::into);
                        applied.push(change);
                    }
                }
                ModeChange::Limit(limit) => {
                    if r.limit != limit {
                        r.limit = limit;
                        applied.push(change);
                    }
                }
                ModeChange::Member(on, role, nick) => {
                    let Some(who) = self.user_id(nick) else {
                        continue;
                    };
                    let Some(roles) = self.roles(room, who) else {
                        continue;
                    };
                    let bit = if role == Role::Op { OP } else { VOICE };
                    if (roles & bit != 0) != on {
                        self.set_role(room, who, bit, on);
                        applied.push(change);
                    }
                }
                ModeChange::List(on, list, mask) => {
                    let folded = masks::fold_nick(mask, self.cfg.names);
                    let pos = r
                        .masks
                        .iter()
                        .position(|e| e.list == list && e.folded.eq_ignore_ascii_case(&folded));
                    match (on, pos) {
                        (true, None) if r.masks.len() < MASKS_MAX * 3 => r.masks.push(MaskEntry {
                            list,
                            mask: mask.into(),
                            folded: folded.into(),
                            by: by.as_str().into(),
                            at,
                        }),
                        (false, Some(pos)) => {
                            r.masks.remove(pos);
                        }
                        _ => continue,
                    }
                    applied.push(change);
                }
            }
        }
        if applied.is_empty() {
            return;
        }
        let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        let ev = Event::ModeChanged {
            by: u.source(),
            room: &r.name,
            changes: &applied,
        };
        sink.many(&r.members, Some(id), &ev);
        self.mark_dirty(room);
    }

    /// What this node knows of a room (for a node that joins it first); with `own_only`, of
    /// this node's members only (what a node announces after a split).
    pub fn room_state(&self, folded: &str, own_only: bool) -> Option<RoomState> {
        self.room_state_part(folded, own_only, 0, usize::MAX)
    }

    /// [`Hub::room_state`] with `take` members from the `skip`th on: one chunk of a big room's
    /// answer costs the chunk, not the room.
    pub fn room_state_part(
        &self,
        folded: &str,
        own_only: bool,
        skip: usize,
        take: usize,
    ) -> Option<RoomState> {
        let net = self.net.as_ref()?;
        let &room = self.by_room.get(folded)?;
        let r = self.rooms.get(room)?;
        let stamp = net.rooms.get(&room).map_or((0, 0), |c| c.topic);
        Some(RoomState {
            node: net.node,
            name: r.name.to_string(),
            created: r.created,
            flags: r.flags,
            key: r.key.as_deref().map(Into::into),
            limit: r.limit,
            topic: r.topic.as_ref().map(|t| TopicState {
                text: t.text.to_string(),
                by: t.by.to_string(),
                at: t.at,
                stamp,
            }),
            masks: r
                .masks
                .iter()
                .map(|m| MaskState {
                    list: m.list,
                    mask: m.mask.to_string(),
                    by: m.by.to_string(),
                    at: m.at,
                })
                .collect(),
            members: r
                .members
                .iter()
                .zip(&r.roles)
                .filter(|&(&m, _)| !own_only || !is_remote(m))
                .skip(skip)
                .take(take)
                .filter_map(|(&m, &roles)| Some((UserInfo::of(&self.record(m)?), roles)))
                .collect(),
        })
    }

    /// The state of a room gathered from the nodes that have it (none: nobody does): the room
    /// is made here from it, and those waiting to join go ahead. With `founder`, this node
    /// founded the room network-wide and its first joiner is the room's operator; without,
    /// nobody here is made one for being first (another node's founder is).
    pub fn room_synced(
        &mut self,
        folded: &str,
        states: Vec<RoomState>,
        founder: bool,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        self.now = now;
        let joiners = self
            .net
            .as_mut()
            .and_then(|n| n.syncing.remove(folded))
            .unwrap_or_default();
        if !states.is_empty() && !self.by_room.contains_key(folded) {
            self.make_room_from(&states, now, sink);
        } else if !states.is_empty() {
            self.merge_room(&states, now, sink);
        }
        let mut first = true;
        for j in joiners {
            let live = self.uid(j.id) == Some(j.uid);
            if let Some(net) = &mut self.net {
                net.waiting.remove(&j.id);
                net.released.push(j.id);
            }
            if !live {
                continue;
            }
            if let Some(net) = &mut self.net {
                net.creating = Some(folded.into());
                net.grant = first.then_some(if founder { OP } else { 0 });
            }
            first = false;
            self.join_one(j.id, &j.name, j.key.as_deref(), j.tell_self, sink);
            if let Some(net) = &mut self.net {
                net.creating = None;
                net.grant = None;
            }
        }
        if let Some(net) = &mut self.net {
            net.unsettled.push(folded.into());
        }
    }

    /// A room made from other nodes' states: the modes of the node with the smallest id, the
    /// latest topic, every member any of them knows.
    fn make_room_from(&mut self, states: &[RoomState], now: Clock, sink: &mut impl Sink) {
        let Some(base) = states.iter().min_by_key(|s| s.node) else {
            return;
        };
        let rules = self.cfg.names;
        let Ok(keys) = rules.room(&base.name) else {
            return;
        };
        let (key, skeleton): (Box<str>, Box<str>) = (keys.key().into(), keys.skeleton().into());
        let room = self.rooms.insert(Room {
            name: base.name.as_str().into(),
            keys,
            members: Vec::new(),
            roles: Vec::new(),
            ops: Vec::new(),
            topic: None,
            created: base.created,
            flags: 0,
            key: None,
            limit: None,
            masks: Vec::new(),
        });
        self.by_room.insert(key, room);
        self.room_skeletons.entry(skeleton).or_insert(room);
        if let Some(net) = &mut self.net {
            net.rooms.insert(room, RoomNet::default());
        }
        self.adopt_state(room, base);
        self.merge_members(room, states, now, sink, false);
        self.merge_topic(room, states);
    }

    /// After a split: what other nodes say of a room this node kept is merged in (members
    /// it lost come back; modes are those of the smallest node id; the latest topic wins).
    pub fn merge_room(&mut self, states: &[RoomState], now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let Some(first) = states.first() else { return };
        let Some(room) = self.room_id(&first.name) else {
            return;
        };
        let me = self.net.as_ref().map_or(0, |n| n.node);
        if let Some(base) = states.iter().filter(|s| s.node < me).min_by_key(|s| s.node) {
            self.adopt_state(room, base);
        }
        self.merge_members(room, states, now, sink, true);
        self.merge_topic(room, states);
    }

    fn adopt_state(&mut self, room: RoomId, s: &RoomState) {
        let rules = self.cfg.names;
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        r.flags = s.flags;
        r.key = s.key.as_deref().map(Into::into);
        r.limit = s.limit;
        r.created = r.created.min(s.created).max(1);
        r.masks = s
            .masks
            .iter()
            .map(|m| MaskEntry {
                list: m.list,
                mask: m.mask.as_str().into(),
                folded: masks::fold_nick(&m.mask, rules).into(),
                by: m.by.as_str().into(),
                at: m.at,
            })
            .collect();
    }

    fn merge_topic(&mut self, room: RoomId, states: &[RoomState]) {
        let current = self
            .net
            .as_ref()
            .and_then(|n| n.rooms.get(&room))
            .map_or((0, 0), |c| c.topic);
        let Some(best) = states
            .iter()
            .filter_map(|s| s.topic.as_ref())
            .max_by_key(|t| t.stamp)
            .filter(|t| t.stamp > current)
        else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(room) {
            r.topic = (!best.text.is_empty()).then(|| Topic {
                text: best.text.as_str().into(),
                by: best.by.as_str().into(),
                at: best.at,
            });
        }
        if let Some(net) = &mut self.net {
            net.rooms.entry(room).or_default().topic = best.stamp;
        }
    }

    /// Members the states name that the room lacks here are added (told as joins when
    /// `tell`, as after a split); this node's own are left as they are.
    fn merge_members(
        &mut self,
        room: RoomId,
        states: &[RoomState],
        now: Clock,
        sink: &mut impl Sink,
        tell: bool,
    ) {
        let me = self.net.as_ref().map_or(0, |n| n.node);
        for s in states {
            for (info, roles) in &s.members {
                if info.uid.node == me {
                    continue;
                }
                let Some(id) = self.remote_user(info.record(), now, sink) else {
                    continue;
                };
                if self.is_member(room, id) {
                    continue;
                }
                self.add_member(room, id, *roles);
                if tell && !self.is_quiet(room) {
                    let (Some(u), Some(r)) = (self.user(id), self.rooms.get(room)) else {
                        continue;
                    };
                    let ev = Event::Joined {
                        who: u.source(),
                        room: &r.name,
                    };
                    sink.many(&r.members, Some(id), &ev);
                }
            }
        }
    }

    /// Members of a room that a node says it has (after a split, it announces them): those
    /// missing here are added and told as joins.
    pub fn remote_members(&mut self, state: &RoomState, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let Some(room) = self.room_id(&state.name) else {
            return;
        };
        self.merge_members(room, std::slice::from_ref(state), now, sink, true);
    }

    // ---- other nodes' messages to users here ----

    /// A message, invitation or kill from a user of another node to a user of this one.
    pub fn remote_direct(
        &mut self,
        from: Uid,
        to: Uid,
        effect: DirectEffect<'_>,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        self.now = now;
        let Some(net) = &self.net else { return };
        if to.node != net.node {
            return;
        }
        let Some(&to) = net.local_by_n.get(&to.n) else {
            return;
        };
        let Some(from) = self.remote_id(from) else {
            return;
        };
        let (Some(f), Some(t)) = (self.user(from), self.user(to)) else {
            return;
        };
        match effect {
            DirectEffect::Message {
                meta,
                kind,
                to: shown,
                text,
                tags,
            } => {
                let ev = match kind {
                    None => Event::Extra(Extra::TagMessage {
                        meta,
                        from: f.source(),
                        to: shown,
                        tags,
                    }),
                    Some(kind) => Event::DirectMessage {
                        meta,
                        from: f.source(),
                        to: shown,
                        kind,
                        text,
                        tags,
                    },
                };
                sink.relay(to, t.nick(), &ev);
            }
            DirectEffect::Invite { room } => {
                let ev = Event::Invited {
                    by: f.source(),
                    who: t.nick(),
                    room,
                };
                sink.one(to, t.nick(), &ev);
                let folded = self.cfg.names.fold(room);
                if let Some(g) = self.user_mut(to) {
                    g.with_extra(|e| {
                        if !e.invited_to.contains(&folded) {
                            if e.invited_to.len() >= INVITES_MAX {
                                e.invited_to.remove(0);
                            }
                            e.invited_to.push(folded);
                        }
                    });
                }
            }
            DirectEffect::Kill { reason } => {
                let ev = Event::Killed {
                    by: f.source(),
                    victim: t.nick(),
                    reason,
                };
                sink.one(to, t.nick(), &ev);
                if let Some(net) = &mut self.net {
                    net.killed.push(to);
                }
            }
        }
    }

    /// Local users killed by operators of other nodes, for the server to close.
    pub fn take_killed(&mut self) -> Vec<ClientId> {
        match &mut self.net {
            Some(net) if !net.killed.is_empty() => std::mem::take(&mut net.killed),
            _ => Vec::new(),
        }
    }

    /// WALLOPS from an operator of another node: to this node's users with +w.
    pub fn remote_wallops(&mut self, from: Uid, text: &str, sink: &mut impl Sink) {
        let Some(from) = self.remote_id(from) else {
            return;
        };
        let Some(f) = self.user(from) else { return };
        let to: Vec<ClientId> = self
            .by_nick
            .ids()
            .filter(|&u| !is_remote(u) && self.user(u).is_some_and(|u| u.has(UserMode::Wallops)))
            .collect();
        let ev = Event::Extra(Extra::Wallops {
            from: f.source(),
            text,
        });
        sink.many(&to, None, &ev);
    }
}
