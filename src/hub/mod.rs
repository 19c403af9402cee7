//! The chat state: users, nicks, rooms and file transfers, and what each command does to them.
//!
//! The hub knows nothing of sockets or protocols. A client is a [`ClientId`]; a command comes
//! in as a [`Command`], and everything that should be told to anyone goes out through a
//! [`Sink`] as an [`Event`], with the recipients named. The server behind the sink encodes each
//! event once per wire variant and queues the bytes.
//!
//! Every command's cost is bounded: membership tests, joins, parts, quits and role changes are
//! O(1) in the size of the room (a member knows its slot in each room's member vector), a
//! message names at most [`HubConfig::max_targets`] targets, each once, and a user is in at
//! most [`HubConfig::max_rooms_per_user`] rooms.
//!
//! Names follow the operator's [`NameRules`] (UTF-8 per RFC 8265, or ASCII): every check,
//! fold and lookup goes through them. Beside the maps from folded nick to user and folded room
//! name to room, the hub keeps maps from each name's look-alike skeleton (Unicode TS #39), so a
//! new nick or room that would look like one in use is refused; a user may take a look-alike
//! of its own nick. Lookups by ASCII names fold on the stack: no allocation per message.
//!
//! Modules: `rooms` (joining, leaving, listings, topics, kicks, invitations), `modes` (room and
//! user modes, mask lists), `messages` (routing to rooms and nicks), `users` (nicks, WHOIS and
//! friends), `files` (transfers).

use std::collections::VecDeque;

use crate::fast_map::FastMap as HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use slab::Slab;
use thin_vec::ThinVec;

use crate::clock::Clock;
use crate::event::*;
use crate::names::{NameKeys, NameRules};

pub mod accounts;
mod files;
pub mod hosted;
mod kept;
pub mod masks;
pub mod registry;

pub use files::{LinkRefusal, Opened};
pub use hosted::{HostLimits, HostRefusal, Hosted, HostedFile};
pub use kept::{Kept, KeptKind, KeptTo, Party, RoomRef};
pub use registry::{RoomRecordChange, RoomRegistration, RoomRequest, SavedBan, SavedTopic};
mod messages;
mod modes;
mod monitor;
mod name_index;
mod remote;
mod rooms;
mod shared;
mod table;
mod user_names;
mod users;

use shared::Shared;
use user_names::UserNames;

pub use remote::{
    Change, ClaimOutcome, Claimed, DirectEffect, MaskState, Record, RoomEffect, RoomState,
    RoomSummary, TopicState, Uid, UserInfo,
};
pub use table::{is_remote, REMOTE_BASE};

/// A connection's identity, stable while it is connected (the server's slab key).
pub type ClientId = usize;
type RoomId = usize;

/// The room everyone starts in on the native protocol.
pub const LOBBY: &str = "#lobby";

/// Where events go. The server implements it; tests record.
pub trait Sink {
    /// Tells one client; `me` is its nick, for replies that name the recipient.
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>);
    /// Tells every client in `to` but `except`; the event does not depend on the recipient.
    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>);
    /// A message (or invitation) told to its recipient: never part of the answer to the
    /// recipient's own command, even when it sent it to itself.
    fn relay(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        self.one(to, me, event);
    }
    /// The sender's own copy of a message it sent, for a client that asked for one (IRC's
    /// echo-message): the sink decides who gets it; by default nobody does.
    fn echo(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let _ = (to, me, event);
    }
    /// Whether [`Sink::echo`] to `to` would tell it anything: the hub skips making a copy
    /// nobody gets. By default it is made.
    fn wants_echo(&self, to: ClientId) -> bool {
        let _ = to;
        true
    }
    /// A change the other nodes of a network must hear of (only on a network: see
    /// [`Hub::join_network`]); by default nothing hears.
    fn network(&mut self, change: &Change<'_>) {
        let _ = change;
    }
    /// A room message, direct message or file offer that was delivered, told once however
    /// many received it, for what is kept of it (history); by default nothing is.
    fn keep_message(&mut self, message: &Kept<'_>) {
        let _ = message;
    }
    /// A room message said on another node and delivered here, for this node's recent
    /// window only (the node it was said on keeps it); by default nothing.
    fn heard_message(&mut self, message: &Kept<'_>) {
        let _ = message;
    }
    /// Whether [`Sink::keep_message`] keeps anything: the hub skips describing a message
    /// nothing keeps. By default it is described.
    fn keeps_messages(&self) -> bool {
        true
    }
    /// `id` has joined `room` and been told so (with the topic and members, if it gets
    /// them): the place for what was said there before; by default nothing.
    fn joined_room(&mut self, id: ClientId, me: &str, room: RoomRef<'_>) {
        let _ = (id, me, room);
    }
    /// A change to what is kept of a registered room, for the server to persist; by default
    /// nothing is kept.
    fn keep_room(&mut self, change: RoomRecordChange<'_>) {
        let _ = change;
    }
}

/// What a client asks for, whatever its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Nick(&'a str),
    /// A plain native line or `/me`: to the current room.
    SayCurrent {
        kind: MsgKind,
        text: &'a str,
    },
    /// To rooms and nicks, comma separated.
    Message {
        targets: &'a str,
        kind: MsgKind,
        text: &'a str,
    },
    Join {
        rooms: &'a str,
        keys: Option<&'a str>,
    },
    /// `rooms` None means the current room.
    Part {
        rooms: Option<&'a str>,
        reason: Option<&'a str>,
    },
    ListRooms,
    Who(Option<&'a str>),
    Topic {
        room: Option<&'a str>,
        text: Option<&'a str>,
    },
    Offer {
        to: &'a str,
        size: u64,
        name: &'a str,
    },
    Accept(u64),
    Decline(u64),
    Cancel(u64),
    Help,
    /// Leave every room (IRC `JOIN 0`).
    PartAll,
    /// IRC `LIST [#ROOM,...]`: all rooms or those named.
    List(Option<&'a str>),
    /// IRC `WHO MASK [%FIELDS[,TOKEN]]`: a room's members, one user by nick, or the users
    /// whose nick matches a glob (`*` everyone visible); `fields` is WHOX's, passed through.
    WhoMask {
        mask: &'a str,
        fields: Option<&'a str>,
    },
    /// IRC messages with client-only tags (as sent, escaped; "" for none); `kind` None is
    /// a `TAGMSG` (tags alone).
    Tagged {
        targets: &'a str,
        kind: Option<MsgKind>,
        text: &'a str,
        tags: &'a str,
    },
    /// How far one has read in a room or a conversation: shown (None) or moved on (it never
    /// moves back).
    MarkRead {
        target: &'a str,
        at_ms: Option<u64>,
    },
    /// The rooms one is invited to (IRC `INVITE` without parameters).
    InviteList,
    /// A new real name (IRC `SETNAME`).
    SetName(&'a str),
    /// A message to every user with +w (server operators only).
    Wallops(&'a str),
    /// Ask a room's operators for an invitation.
    Knock {
        room: &'a str,
        text: Option<&'a str>,
    },
    /// IRC `MONITOR`: watch nicks come and go.
    Monitor(MonitorOp<'a>),
    /// IRC `NAMES [#ROOM,...]`: the rooms named, or the caller's.
    Names(Option<&'a str>),
    Kick {
        rooms: &'a str,
        nicks: &'a str,
        reason: Option<&'a str>,
    },
    Invite {
        nick: &'a str,
        room: &'a str,
    },
    /// A room's modes, shown.
    ShowModes(&'a str),
    /// Changes to a room's modes (parsed by the front end's codec).
    RoomMode {
        room: &'a str,
        changes: &'a [ModeChange<'a>],
    },
    /// One of a room's mask lists, shown.
    MaskList {
        room: &'a str,
        list: ListMode,
    },
    /// A user's modes: shown (None) or changed.
    UserMode {
        target: &'a str,
        changes: Option<&'a [(bool, UserMode)]>,
    },
    /// Set (Some, not empty) or clear the away message.
    Away(Option<&'a str>),
    Whois(&'a str),
    Whowas {
        nick: &'a str,
        count: Option<usize>,
    },
    /// Nicks, each parameter possibly several separated by spaces.
    Userhost(&'a [&'a str]),
    Ison(&'a [&'a str]),
    Lusers,
    /// Become a server operator: the caller has checked the credentials.
    Oper,
    /// ChanServ: register a room, drop it, show it, change its access lists.
    RoomService(RoomRequest<'a>),
}

/// What a MONITOR command asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorOp<'a> {
    /// `+ nick,nick`: watch these (and tell which are on line now).
    Add(&'a str),
    /// `- nick,nick`.
    Remove(&'a str),
    /// `C`: watch no one.
    Clear,
    /// `L`: the list.
    List,
    /// `S`: who on the list is on line and who is not.
    Status,
}

/// Most nicks one user may monitor (ISUPPORT `MONITOR`).
pub const MONITOR_MAX: usize = 100;
/// Read markers kept per user; the oldest set is forgotten first.
pub const READ_MARKS_MAX: usize = 100;
/// Longest real name kept (SETNAME, and IRC's USER).
pub const REALNAME_MAX: usize = 390;

/// Nicks remembered for WHOWAS.
const WHOWAS_MAX: usize = 100;
/// Pending invitations kept per user; the oldest is forgotten first.
const INVITES_MAX: usize = 16;
/// Entries per mask list of a room (ISUPPORT `MAXLIST`).
pub const MASKS_MAX: usize = 100;

#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub max_file_size: u64,
    /// Rooms larger than this do not announce joins, parts and quits to their members, and a
    /// joiner gets a short member list.
    pub quiet_room_size: usize,
    pub offer_timeout: Duration,
    /// Most rooms and nicks one message may name.
    pub max_targets: usize,
    /// Most rooms one user may be in.
    pub max_rooms_per_user: usize,
    /// Most rooms the server holds.
    pub max_rooms: usize,
    /// Most offers and transfers one user may have open at once.
    pub max_transfers_per_user: usize,
    /// An accepted transfer with no data for this long is aborted.
    pub transfer_idle: Duration,
    /// Which nicks and room names are allowed and how they compare (`--ascii-names`).
    pub names: NameRules,
    /// How long a user may hold a nick that belongs to an account it is not logged in to
    /// before it is renamed (`--nick-grace`); zero: nicks are not protected.
    pub nick_grace: Duration,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            max_file_size: 1 << 30,
            quiet_room_size: 500,
            offer_timeout: Duration::from_secs(60),
            max_targets: 4,
            max_rooms_per_user: 100,
            max_rooms: 100_000,
            max_transfers_per_user: 8,
            transfer_idle: Duration::from_secs(120),
            names: NameRules::default(),
            nick_grace: Duration::from_secs(30),
        }
    }
}

/// A user's place in one room: the room, and the user's index in its member vector.
#[derive(Debug, Clone, Copy)]
struct Membership {
    room: u32,
    slot: u32,
}

/// Member role bits, per member of a room.
const OP: u8 = 1;
const VOICE: u8 = 2;

/// How a user receives files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileWay {
    /// In its own connection, as data frames (native).
    InBand,
    /// Through a download link it opens (IRC and the web page), when the server has one.
    Link,
}

/// The folded nick `id` is filed under in the nick map.
fn key_of(users: &table::UserTable, id: ClientId) -> Option<&str> {
    Some(users.get(id)?.as_ref()?.names.key())
}

/// The skeleton `id` is filed under in the skeleton map.
fn skeleton_of(users: &table::UserTable, id: ClientId) -> Option<&str> {
    Some(users.get(id)?.as_ref()?.names.skeleton())
}

#[derive(Debug)]
struct User {
    /// The nick, user name and real name, and the nick's folded form and skeleton as filed in
    /// the hub's maps, in one allocation.
    names: UserNames,
    /// Shared with the other users from the same address ([`Hub::hosts`]).
    host: Shared,
    /// In the order joined: the last is the most recent. One pointer; room for one at first
    /// (a native user in #lobby), and no allocation in no room.
    rooms: ThinVec<Membership>,
    /// Names this connection in history when it has no account ([`Party::session`]).
    session: u64,
    /// What few users have (see [`UserExtra`]); None for most.
    extra: Option<Box<UserExtra>>,
    /// The room a native user's plain lines go to, if any, plus one.
    current: Option<NonZeroU32>,
    files: FileWay,
    /// Joins are followed by the room's topic and member list (IRC).
    room_details: bool,
    /// [`UserMode::bit`]s.
    modes: u8,
    /// Connected over TLS.
    secure: bool,
}

/// What a user has only once it has used a feature (away, invitations, an account, MONITOR,
/// read markers, a client certificate): boxed apart, so the idle user holds a pointer.
#[derive(Debug, PartialEq, Eq)]
struct UserExtra {
    away: Option<Box<str>>,
    /// Folded names of rooms this user was invited to and has not joined yet.
    invited_to: Vec<Box<str>>,
    /// The account logged in to (set by the account store, later).
    account: Option<Box<str>>,
    /// Folded nicks this user monitors.
    monitoring: Vec<Box<str>>,
    /// How far the user has read, per folded target (at most [`READ_MARKS_MAX`]).
    read_marks: Vec<(Box<str>, u64)>,
    /// The TLS client certificate's fingerprint.
    certfp: Option<Box<str>>,
    /// When the user loses its nick, which belongs to an account it is not logged in to.
    grace_until: Option<Instant>,
}

impl UserExtra {
    const NONE: UserExtra = UserExtra {
        away: None,
        invited_to: Vec::new(),
        account: None,
        monitoring: Vec::new(),
        read_marks: Vec::new(),
        certfp: None,
        grace_until: None,
    };
}

/// What a user without [`UserExtra`] reads.
static NO_EXTRA: UserExtra = UserExtra::NONE;

impl User {
    fn extra(&self) -> &UserExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// Changes what few users have; the box is given back once all of it is empty again.
    fn with_extra<R>(&mut self, f: impl FnOnce(&mut UserExtra) -> R) -> R {
        let extra = self.extra.get_or_insert_with(|| Box::new(UserExtra::NONE));
        let r = f(extra);
        if **extra == UserExtra::NONE {
            self.extra = None;
        }
        r
    }

    fn nick(&self) -> &str {
        self.names.nick()
    }

    fn username(&self) -> &str {
        self.names.username()
    }

    fn realname(&self) -> &str {
        self.names.realname()
    }

    /// The folded nick, as filed in the nick map.
    fn key(&self) -> &str {
        self.names.key()
    }

    /// A new nick with the keys it is filed under (the caller files the user under them).
    fn set_nick(&mut self, nick: &str, keys: &NameKeys) {
        self.names = self.names.with_nick(nick, keys);
    }

    fn set_realname(&mut self, realname: &str) {
        self.names = self.names.with_realname(realname);
    }

    /// The room a native user's plain lines go to (None: none).
    fn set_current(&mut self, room: Option<u32>) {
        self.current = room.and_then(|r| NonZeroU32::new(r.wrapping_add(1)));
    }

    fn away(&self) -> Option<&str> {
        self.extra().away.as_deref()
    }

    fn account(&self) -> Option<&str> {
        self.extra().account.as_deref()
    }

    fn current(&self) -> Option<RoomId> {
        self.current.map(|r| r.get() as RoomId - 1)
    }

    fn party(&self) -> Party<'_> {
        Party {
            source: self.source(),
            nick_key: self.key(),
            session: self.session,
        }
    }

    fn source(&self) -> Source<'_> {
        Source {
            nick: self.nick(),
            user: self.username(),
            host: &self.host,
            account: self.account(),
            realname: self.realname(),
            bot: self.has(UserMode::Bot),
            long_text: self.files == FileWay::InBand,
        }
    }

    fn has(&self, mode: UserMode) -> bool {
        self.modes & mode.bit() != 0
    }

    fn slot_in(&self, room: RoomId) -> Option<usize> {
        self.rooms
            .iter()
            .find(|m| m.room as usize == room)
            .map(|m| m.slot as usize)
    }
}

/// One entry of a room's mask list.
#[derive(Debug)]
struct MaskEntry {
    list: ListMode,
    /// As set (completed to `nick!user@host`), as the list shows it.
    mask: Box<str>,
    /// The mask with its nick part folded by the name rules: what users' masks are matched
    /// against ([`Hub::mask_of`]), and what tells two entries apart.
    folded: Box<str>,
    by: Box<str>,
    at: u64,
}

#[derive(Debug)]
struct Room {
    name: Box<str>,
    /// The name's folded form and skeleton, as filed in the hub's maps.
    keys: NameKeys,
    /// The fan-out slice: every member once, in no particular order.
    members: Vec<ClientId>,
    /// Each member's role bits, parallel to `members`.
    roles: Vec<u8>,
    /// The members who are operators, in no particular order: a quiet room's joiner and a
    /// KNOCK need them without a pass over every member.
    ops: Vec<ClientId>,
    topic: Option<Topic>,
    /// When the room was made (seconds since the Unix epoch), for IRC's 329.
    created: u64,
    flags: u8,
    key: Option<Box<str>>,
    limit: Option<usize>,
    masks: Vec<MaskEntry>,
}

impl Room {
    fn has(&self, flag: RoomFlag) -> bool {
        self.flags & flag.bit() != 0
    }

    fn mode_set(&self) -> ModeSet<'_> {
        ModeSet {
            flags: self.flags,
            key: self.key.as_deref(),
            limit: self.limit,
        }
    }
}

/// A room's topic with who set it and when.
#[derive(Debug)]
struct Topic {
    text: Box<str>,
    by: Box<str>,
    at: u64,
}

impl Topic {
    fn info(&self) -> TopicInfo<'_> {
        TopicInfo {
            text: &self.text,
            by: &self.by,
            at: self.at,
        }
    }
}

/// Who had a nick, for WHOWAS.
#[derive(Debug)]
struct WasUser {
    nick: Box<str>,
    user: Box<str>,
    host: Box<str>,
    realname: Box<str>,
}

#[derive(Debug)]
struct Transfer {
    from: ClientId,
    to: ClientId,
    size: u64,
    sent: u64,
    accepted: bool,
    /// When data last came (or the offer was accepted): idle transfers are aborted.
    last_data: Instant,
    name: Box<str>,
    /// The connections carrying the bytes when they are not the users' own: an HTTP upload
    /// (the sender's) and an HTTP download (the recipient's).
    from_pipe: Option<ClientId>,
    to_pipe: Option<ClientId>,
    /// The secrets in the transfer's upload and download links.
    up_token: u128,
    down_token: u128,
}

/// What a link's token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFor {
    /// The sender's upload of transfer N.
    Upload(u64),
    /// The recipient's download of transfer N (opening it accepts the offer).
    Download(u64),
    /// An upload page: files from one user to another (for IRC users).
    SendPage(u128),
}

/// A page on which a user who cannot send files in its own protocol (IRC) picks files for
/// one recipient.
#[derive(Debug)]
struct SendPage {
    from: ClientId,
    to: ClientId,
    until: Instant,
}

/// Where a file data frame goes, or why it can't.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    To(ClientId),
    Refused(&'static str),
}

pub struct Hub {
    cfg: HubConfig,
    /// The time of the command being carried out, as its caller read it.
    now: Clock,
    users: table::UserTable,
    by_nick: name_index::NameIndex,
    rooms: Slab<Room>,
    by_room: HashMap<Box<str>, RoomId>,
    /// Look-alike skeletons of the nicks and room names in use ([`NameRules::skeleton`]).
    nick_skeletons: name_index::NameIndex,
    /// The users' hosts, one copy per address.
    hosts: shared::SharedStrings,
    room_skeletons: HashMap<Box<str>, RoomId>,
    transfers: HashMap<u64, Transfer>,
    /// Offers in the order made; all share one timeout, so the front expires first.
    offers: VecDeque<(Instant, u64)>,
    /// When accepted transfers may be idle no longer, earliest first (entries of finished
    /// transfers are skipped when they come up; active ones are put back later).
    idle: std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    /// The open offers and transfers of each user who has any.
    transfers_of: HashMap<ClientId, Vec<u64>>,
    /// Link tokens of open transfers.
    tokens: HashMap<u128, u64>,
    /// Upload pages by token, with their expiry.
    send_pages: HashMap<u128, SendPage>,
    /// Where file links point (`http://HOST:PORT`), if the server serves them.
    files_url: Option<Box<str>>,
    /// Unguessable tokens for links; the server gives one from the OS, tests a counter.
    token_source: Box<dyn FnMut() -> u128>,
    next_transfer: u64,
    next_guest: u64,
    /// The last message id given out.
    last_msgid: u64,
    /// What this node puts over its msgids on a network ([`MsgId::node_tag`]); 0 alone.
    msgid_tag: u64,
    /// Scratch for deduplicating recipients across rooms.
    seen: Vec<u32>,
    epoch: u32,
    peers: Vec<ClientId>,
    /// Scratch for the recipients of a direct message, and the rooms a message names.
    targets: Vec<ClientId>,
    room_targets: Vec<RoomId>,
    whowas: VecDeque<WasUser>,
    oper_count: usize,
    invisible_count: usize,
    /// The most users on line at once.
    max_users: usize,
    /// Who monitors each folded nick.
    watchers: HashMap<Box<str>, Vec<ClientId>>,
    /// When the hub started, in milliseconds since the Unix epoch.
    started_ms: u64,
    /// How often each command was used (STATS m), by the front ends' names for them.
    command_counts: Vec<(&'static str, u64)>,
    /// On a network: the users of other nodes and what is in flight (None: a single server,
    /// and every hook below is one untaken branch).
    net: Option<Box<remote::Net>>,
    /// Registered account names, nick protection, failed-login backoff.
    accounts: accounts::Accounts,
    /// Registered rooms.
    registry: registry::Registry,
    /// Files stored for FILEHOST uploads (the bytes are on disk).
    hosted: Hosted,
    /// Whether this server stores uploads (a data directory, and not turned off).
    filehost: bool,
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            cfg,
            now: Clock::now(),
            users: table::UserTable::default(),
            by_nick: Default::default(),
            rooms: Slab::new(),
            by_room: HashMap::default(),
            nick_skeletons: Default::default(),
            hosts: Default::default(),
            room_skeletons: HashMap::default(),
            transfers: HashMap::default(),
            offers: VecDeque::new(),
            idle: std::collections::BinaryHeap::new(),
            transfers_of: HashMap::default(),
            tokens: HashMap::default(),
            send_pages: HashMap::default(),
            files_url: None,
            token_source: Box::new({
                let mut n = 0u128;
                move || {
                    n += 1;
                    n
                }
            }),
            next_transfer: 1,
            next_guest: 1,
            last_msgid: 0,
            msgid_tag: 0,
            seen: Vec::new(),
            epoch: 0,
            peers: Vec::new(),
            targets: Vec::new(),
            room_targets: Vec::new(),
            whowas: VecDeque::new(),
            oper_count: 0,
            invisible_count: 0,
            max_users: 0,
            watchers: HashMap::default(),
            started_ms: Clock::now().unix_ms,
            command_counts: Vec::new(),
            net: None,
            accounts: accounts::Accounts::default(),
            registry: registry::Registry::default(),
            hosted: Hosted::default(),
            filehost: false,
        }
    }

    /// Counts one use of `command` (a front end's name for it), for STATS m.
    pub fn note_command(&mut self, command: &'static str) {
        // Callers pass names from one table: the same pointer, as a rule, before the bytes.
        let same = |c: &str| std::ptr::eq(c, command) || c == command;
        match self.command_counts.iter_mut().find(|(c, _)| same(c)) {
            Some((_, n)) => *n += 1,
            None => self.command_counts.push((command, 1)),
        }
    }

    /// How often each command was used.
    pub fn command_counts(&self) -> &[(&'static str, u64)] {
        &self.command_counts
    }

    /// Whether `nick` is a user of a front end that takes no IRC protocol extras (CTCP, DCC):
    /// a native user (one that receives files).
    pub fn is_native(&self, nick: &str) -> bool {
        self.user_id(nick)
            .and_then(|u| self.user(u))
            .is_some_and(|u| u.files == FileWay::InBand)
    }

    /// `nick`'s source, if on line.
    pub fn source_of(&self, nick: &str) -> Option<Source<'_>> {
        self.user_id(nick)
            .and_then(|u| self.user(u))
            .map(User::source)
    }

    /// When the hub started, in milliseconds since the Unix epoch.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// The account `id` is logged in to.
    pub fn account(&self, id: ClientId) -> Option<&str> {
        self.user(id).and_then(|u| u.account())
    }

    /// New limits (a reload); what exists stays, the limits apply from the next command. The
    /// name rules stay as they were: every name in the maps is filed under them.
    pub fn set_config(&mut self, cfg: HubConfig) {
        self.cfg = HubConfig {
            names: self.cfg.names,
            ..cfg
        };
    }

    /// File links point here (`http://HOST:PORT`); with none, only native users get files.
    pub fn set_files_url(&mut self, url: Option<&str>) {
        self.files_url = url.map(|u| u.trim_end_matches('/').into());
    }

    /// Whether uploads are stored here (FILEHOST): the server says so once its file thread
    /// runs.
    pub fn set_filehost(&mut self, on: bool) {
        self.filehost = on;
    }

    /// Where FILEHOST clients upload (`http://HOST:PORT/upload`), if uploads are stored.
    pub fn filehost_url(&self) -> Option<String> {
        let base = self.files_url.as_deref().filter(|_| self.filehost)?;
        Some(format!("{base}/upload"))
    }

    /// Where file links point (`http://HOST:PORT`), if anywhere.
    pub fn files_url(&self) -> Option<&str> {
        self.files_url.as_deref()
    }

    pub fn hosted(&self) -> &Hosted {
        &self.hosted
    }

    pub fn hosted_mut(&mut self) -> &mut Hosted {
        &mut self.hosted
    }

    /// A fresh token for a stored file.
    pub fn new_hosted_token(&mut self) -> u128 {
        self.new_token()
    }

    /// Where unguessable link tokens come from.
    pub fn set_token_source(&mut self, source: Box<dyn FnMut() -> u128>) {
        self.token_source = source;
    }

    pub fn user_count(&self) -> usize {
        self.by_nick.len()
    }

    /// File offers and transfers open.
    pub fn transfer_count(&self) -> usize {
        self.transfers.len()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn nick(&self, id: ClientId) -> Option<&str> {
        self.user(id).map(|u| u.nick())
    }

    /// The name rules this hub keeps to.
    pub fn name_rules(&self) -> NameRules {
        self.cfg.names
    }

    /// Whether a user has `nick`, compared by the name rules.
    pub fn nick_in_use(&self, nick: &str) -> bool {
        self.user_id(nick).is_some()
    }

    /// Why `id` may not take `nick`: it breaks the rules, another user has it, or it looks like
    /// another user's nick (its own look-alikes are fine); None if it may. For front ends
    /// that check a nick before the user exists (IRC registration).
    pub fn nick_refusal<'a>(&'a self, id: ClientId, nick: &'a str) -> Option<Fail<'a>> {
        self.claim_nick(id, nick).err()
    }

    /// Checks that `id` may take `nick` and gives the keys to file it under: the nick keeps
    /// to the rules, no other user has it, and it looks like no other user's nick (its own
    /// look-alikes are fine).
    fn claim_nick<'a>(&'a self, id: ClientId, nick: &'a str) -> Result<NameKeys, Fail<'a>> {
        let keys = self
            .cfg
            .names
            .nick(nick)
            .map_err(|e| Fail::BadNick(nick, e))?;
        if self
            .nick_holder(keys.key())
            .is_some_and(|other| other != id)
        {
            return Err(Fail::NickTaken(nick));
        }
        match self.skeleton_holder(keys.skeleton()) {
            Some(other) if other != id => {
                let like = self.nick(other).unwrap_or("*");
                Err(Fail::NickLooksLike(nick, like))
            }
            _ => match self.account_refusal(id, nick, &keys) {
                Some(fail) => Err(fail),
                None => Ok(keys),
            },
        }
    }

    /// The name of the room `id`'s plain lines go to (native), if any.
    pub fn current_room(&self, id: ClientId) -> Option<&str> {
        let room = self.user(id)?.current()?;
        self.rooms.get(room).map(|r| &*r.name)
    }

    /// Whether `id` is a server operator.
    pub fn is_oper(&self, id: ClientId) -> bool {
        self.user(id).is_some_and(|u| u.has(UserMode::Oper))
    }

    fn user(&self, id: ClientId) -> Option<&User> {
        self.users.get(id).and_then(Option::as_ref)
    }

    fn user_mut(&mut self, id: ClientId) -> Option<&mut User> {
        self.users.get_mut(id).and_then(Option::as_mut)
    }

    fn user_id(&self, nick: &str) -> Option<ClientId> {
        if self.cfg.names.is_own_key(nick) {
            return self.nick_holder(nick);
        }
        self.nick_holder(&self.cfg.names.key(nick))
    }

    /// Who holds the nick with the folded form `key`.
    fn nick_holder(&self, key: &str) -> Option<ClientId> {
        self.by_nick.get(key, |id| key_of(&self.users, id))
    }

    /// Who holds the nick with the look-alike skeleton `skeleton`.
    fn skeleton_holder(&self, skeleton: &str) -> Option<ClientId> {
        self.nick_skeletons
            .get(skeleton, |id| skeleton_of(&self.users, id))
    }

    /// Files `id` under `keys` in the nick maps, in the place of whoever was there (the
    /// user's own keys are set to `keys` by the caller, before anything looks it up).
    fn file_nick(&mut self, id: ClientId, keys: &NameKeys) {
        let users = &self.users;
        self.by_nick.insert(keys.key(), id, |o| key_of(users, o));
        self.nick_skeletons
            .insert(keys.skeleton(), id, |o| skeleton_of(users, o));
    }

    fn room_id(&self, name: &str) -> Option<RoomId> {
        if self.cfg.names.is_own_key(name) {
            return self.by_room.get(name).copied();
        }
        self.by_room.get(&*self.cfg.names.key(name)).copied()
    }

    /// The id and time for a message that enters now: ids grow with time (4096 per
    /// millisecond), so they stay unique across restarts while the clock moves forward, and
    /// an id is never earlier than its time ([`MsgId::latest_time_ms`]: the store relies on
    /// it to find a msgid's line).
    fn next_meta(&mut self) -> Meta {
        let time_ms = self.now.unix_ms;
        self.last_msgid = (self.last_msgid + 1).max(time_ms << MsgId::SEQ_BITS);
        Meta {
            id: MsgId(self.last_msgid | self.msgid_tag),
            time_ms,
        }
    }

    /// A native client arrives: a guest nick, the greeting, and `#lobby`.
    pub fn connect_native(&mut self, id: ClientId, host: &str, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let nick = self.guest_nick(id);
        self.add_user(
            id,
            &nick,
            "native",
            "snak native client",
            host,
            FileWay::InBand,
        );
        if self.net_hold_native(id, sink) {
            return; // greeted once the network has confirmed the guest nick
        }
        self.native_welcome(id, sink);
    }

    /// A native user's greeting, its arrival told to its watchers, and `#lobby`.
    fn native_welcome(&mut self, id: ClientId, sink: &mut impl Sink) {
        let Some(nick) = self.nick(id).map(Box::<str>::from) else {
            return;
        };
        sink.one(id, &nick, &Event::Greeting { nick: &nick });
        self.tell_online(id, sink);
        self.join_one(id, LOBBY, None, false, sink);
    }

    /// A client that registered itself (IRC) with a nick checked by [`Hub::nick_refusal`].
    pub fn register(
        &mut self,
        id: ClientId,
        nick: &str,
        user: &str,
        realname: &str,
        host: &str,
        now: Clock,
    ) {
        self.now = now;
        self.add_user(id, nick, user, realname, host, FileWay::Link);
    }

    fn add_user(
        &mut self,
        id: ClientId,
        nick: &str,
        user: &str,
        realname: &str,
        host: &str,
        files: FileWay,
    ) {
        let rules = self.cfg.names;
        // Checked by the caller; a nick that fails the rules anyway is filed as it folds.
        let keys = rules
            .nick(nick)
            .unwrap_or_else(|_| NameKeys::new(&rules.fold(nick), &rules.skeleton(nick)));
        self.file_nick(id, &keys);
        let session = self.next_meta().id.0;
        self.users.put(
            id,
            User {
                names: UserNames::new(nick, user, realname, &keys),
                host: self.hosts.get(host),
                rooms: ThinVec::new(),
                current: None,
                files,
                room_details: files != FileWay::InBand,
                modes: 0,
                secure: false,
                session,
                extra: None,
            },
        );
        self.max_users = self.max_users.max(self.by_nick.len());
        self.net_user_added(id);
    }

    /// How the user is connected: over TLS, with a client certificate's fingerprint.
    pub fn set_connection(&mut self, id: ClientId, secure: bool, certfp: Option<&str>) {
        if let Some(u) = self.user_mut(id) {
            u.secure = secure;
            u.with_extra(|e| e.certfp = certfp.map(Into::into));
        }
    }

    /// The client is gone: its rooms hear that it quit, its transfers are aborted.
    pub fn disconnect(&mut self, id: ClientId, reason: Option<&str>, sink: &mut impl Sink) {
        self.net_leaving(id, reason, sink);
        self.remember(id);
        if let Some((oper, invisible)) = self
            .user(id)
            .map(|u| (u.has(UserMode::Oper), u.has(UserMode::Invisible)))
        {
            self.oper_count -= usize::from(oper);
            self.invisible_count -= usize::from(invisible);
        }
        let Some(nick) = self.nick(id).map(Box::<str>::from) else {
            return;
        };
        self.abort_transfers_of(id, AbortReason::Disconnected(&nick), sink);
        let rooms: Vec<RoomId> = self.rooms_of(id);
        self.collect_peers(&rooms, None, true);
        let Some(user) = self.user(id) else { return };
        let quit = Event::Quit {
            who: user.source(),
            reason,
        };
        sink.many(&self.peers, Some(id), &quit);
        for room in rooms {
            self.remove_member(room, id);
        }
        self.unwatch_all(id);
        let Some(user) = self.users.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.unfile_nick(id, &user.names.keys());
        self.tell_offline(user.nick(), sink);
        self.hosts.release(user.host);
    }

    /// Takes `id`'s entries for `keys` out of the nick maps (only its own).
    fn unfile_nick(&mut self, id: ClientId, keys: &NameKeys) {
        self.by_nick.remove(keys.key(), id);
        self.nick_skeletons.remove(keys.skeleton(), id);
    }

    /// The rooms `id` is in, in the order joined.
    /// Over `--quiet-room-size` members: joins, parts and renames of ordinary members are
    /// not announced.
    fn is_quiet(&self, room: RoomId) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.members.len() > self.cfg.quiet_room_size)
    }

    fn rooms_of(&self, id: ClientId) -> Vec<RoomId> {
        self.user(id)
            .map(|u| u.rooms.iter().map(|m| m.room as usize).collect())
            .unwrap_or_default()
    }

    /// Everyone who shares a room with the client, once each (in `self.peers`); rooms over the
    /// quiet size are left out when `loud_only`.
    fn collect_peers(&mut self, rooms: &[RoomId], include: Option<ClientId>, loud_only: bool) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        self.peers.clear();
        let add = |id: ClientId, seen: &mut Vec<u32>, peers: &mut Vec<ClientId>, epoch| {
            let i = table::dense(id);
            if seen.len() <= i {
                seen.resize(i + 1, 0);
            }
            if seen[i] != epoch {
                seen[i] = epoch;
                peers.push(id);
            }
        };
        if let Some(me) = include {
            add(me, &mut self.seen, &mut self.peers, self.epoch);
        }
        for &room in rooms {
            let Some(r) = self.rooms.get(room) else {
                continue;
            };
            if loud_only && r.members.len() > self.cfg.quiet_room_size {
                continue;
            }
            for &m in &r.members {
                add(m, &mut self.seen, &mut self.peers, self.epoch);
            }
        }
    }

    // ---- membership: O(1) in the room's size ----

    /// `id`'s role bits in `room`, if a member.
    fn roles(&self, room: RoomId, id: ClientId) -> Option<u8> {
        let slot = self.user(id)?.slot_in(room)?;
        self.rooms.get(room)?.roles.get(slot).copied()
    }

    fn is_member(&self, room: RoomId, id: ClientId) -> bool {
        self.user(id).is_some_and(|u| u.slot_in(room).is_some())
    }

    fn is_op(&self, room: RoomId, id: ClientId) -> bool {
        self.roles(room, id).is_some_and(|r| r & OP != 0)
    }

    fn set_role(&mut self, room: RoomId, id: ClientId, role: u8, on: bool) {
        let Some(slot) = self.user(id).and_then(|u| u.slot_in(room)) else {
            return;
        };
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(bits) = r.roles.get_mut(slot) else {
            return;
        };
        let was_op = *bits & OP != 0;
        if on {
            *bits |= role;
        } else {
            *bits &= !role;
        }
        match (was_op, *bits & OP != 0) {
            (false, true) => r.ops.push(id),
            (true, false) => r.ops.retain(|&o| o != id),
            _ => {}
        }
    }

    fn add_member(&mut self, room: RoomId, id: ClientId, roles: u8) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let slot = r.members.len() as u32;
        r.members.push(id);
        r.roles.push(roles);
        if roles & OP != 0 {
            r.ops.push(id);
        }
        if let Some(u) = self.users.get_mut(id).and_then(Option::as_mut) {
            if u.rooms.capacity() == 0 {
                u.rooms.reserve_exact(1);
            }
            u.rooms.push(Membership {
                room: room as u32,
                slot,
            });
        }
        self.net_member_added(room, id);
    }

    /// Takes `id` out of `room`; the member moved into its slot learns its new slot. An empty
    /// room is gone.
    fn remove_member(&mut self, room: RoomId, id: ClientId) {
        let Some(u) = self.users.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        let Some(pos) = u.rooms.iter().position(|m| m.room as usize == room) else {
            return;
        };
        let slot = u.rooms.remove(pos).slot as usize;
        if u.rooms.is_empty() {
            // In no room: the list is given back (the user may well stay so, as one that
            // leaves #lobby on arrival).
            u.rooms = ThinVec::new();
        }
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        r.members.swap_remove(slot);
        if r.roles.swap_remove(slot) & OP != 0 {
            r.ops.retain(|&o| o != id);
        }
        if let Some(&moved) = r.members.get(slot) {
            let m = self
                .users
                .get_mut(moved)
                .and_then(Option::as_mut)
                .and_then(|u| u.rooms.iter_mut().find(|m| m.room as usize == room));
            if let Some(m) = m {
                m.slot = slot as u32;
            }
        }
        if self.net.is_some() {
            let folded = Box::<str>::from(r.keys.key());
            self.net_member_removed(room, id, &folded);
        }
        self.forget_empty_room(room);
    }

    /// Carries out one command of a registered client.
    pub fn apply(&mut self, id: ClientId, cmd: Command<'_>, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let Some(me) = self.user(id) else { return };
        match cmd {
            Command::Nick(new) => self.change_nick(id, new, sink),
            Command::SayCurrent { kind, text } => match me.current() {
                Some(room) => self.say_in_room(id, room, kind, text, true, sink),
                None => sink.one(id, me.nick(), &Event::Fail(Fail::NoRoom)),
            },
            Command::Message {
                targets,
                kind,
                text,
            } => self.message(id, targets, kind, text, sink),
            Command::Join { rooms, keys } => {
                let mut keys = keys.unwrap_or("").split(',');
                for room in rooms.split(',').filter(|r| !r.is_empty()) {
                    let key = keys.next().filter(|k| !k.is_empty());
                    self.join_one(id, room, key, true, sink);
                }
            }
            Command::Part {
                rooms: Some(rooms),
                reason,
            } => {
                for room in rooms.split(',').filter(|r| !r.is_empty()) {
                    self.part_one(id, room, reason, sink);
                }
            }
            Command::Part {
                rooms: None,
                reason,
            } => match me.current().and_then(|r| self.rooms.get(r)) {
                Some(r) => {
                    let name = r.name.clone();
                    self.part_one(id, &name, reason, sink);
                }
                None => sink.one(id, me.nick(), &Event::Fail(Fail::NoRoom)),
            },
            Command::PartAll => {
                let names: Vec<Box<str>> = self
                    .rooms_of(id)
                    .into_iter()
                    .filter_map(|r| self.rooms.get(r).map(|r| r.name.clone()))
                    .collect();
                for name in names {
                    self.part_one(id, &name, None, sink);
                }
            }
            Command::ListRooms => self.list(id, None, sink),
            Command::List(filter) => self.list(id, filter, sink),
            Command::Who(room) => self.who(id, room, false, sink),
            Command::WhoMask { mask, fields } => self.who_mask(id, mask, fields, sink),
            Command::Tagged {
                targets,
                kind,
                text,
                tags,
            } => self.message_tagged(id, targets, kind, text, tags, sink),
            Command::SetName(name) => self.set_name(id, name, sink),
            Command::InviteList => self.invite_list(id, sink),
            Command::MarkRead { target, at_ms } => self.mark_read(id, target, at_ms, sink),
            Command::Wallops(text) => self.wallops(id, text, sink),
            Command::Knock { room, text } => self.knock(id, room, text, sink),
            Command::Monitor(op) => self.monitor(id, op, sink),
            Command::Names(rooms) => self.names(id, rooms, sink),
            Command::Topic { room, text } => self.topic(id, room, text, sink),
            Command::Kick {
                rooms,
                nicks,
                reason,
            } => self.kick(id, rooms, nicks, reason, sink),
            Command::Invite { nick, room } => self.invite(id, nick, room, sink),
            Command::ShowModes(room) => self.show_modes(id, room, sink),
            Command::RoomMode { room, changes } => self.room_mode(id, room, changes, sink),
            Command::MaskList { room, list } => self.mask_list(id, room, list, sink),
            Command::UserMode { target, changes } => self.user_mode(id, target, changes, sink),
            Command::Away(text) => self.away(id, text, sink),
            Command::Whois(nick) => self.whois(id, nick, sink),
            Command::Whowas { nick, count } => self.whowas(id, nick, count, sink),
            Command::Userhost(nicks) => self.userhost(id, nicks, sink),
            Command::Ison(nicks) => self.ison(id, nicks, sink),
            Command::Lusers => self.lusers(id, sink),
            Command::Oper => self.oper(id, sink),
            Command::RoomService(req) => self.room_service(id, req, sink),
            Command::Offer { to, size, name } => self.offer(id, to, size, name, now.mono, sink),
            Command::Accept(t) => self.answer_offer(id, t, true, sink),
            Command::Decline(t) => self.answer_offer(id, t, false, sink),
            Command::Cancel(t) => self.cancel(id, t, sink),
            Command::Help => sink.one(id, me.nick(), &Event::Reply(Reply::Help)),
        }
    }
}

#[cfg(test)]
mod tests;
