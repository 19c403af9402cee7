//! The vocabulary between the chat state and the codecs: what happened, to be told to someone.
//!
//! Events borrow from the chat state and from the input line that caused them, so telling one
//! costs no allocation; each codec turns an event into its protocol's bytes.

use crate::names::NameError;

pub mod services;
pub use services::ServiceReply;

/// Who did something, as IRC's `nick!user@host` needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    /// The account the user is logged in to, if any.
    pub account: Option<&'a str>,
    pub realname: &'a str,
    /// The user is marked as a bot (+B).
    pub bot: bool,
    /// The user's texts may be longer than an IRC line holds (native users): IRC relays
    /// split them over several lines rather than cut them, as IRC does with IRC senders.
    pub long_text: bool,
}

impl<'a> Source<'a> {
    /// A user with no account, no real name and no bot mark (for tests and plain relays).
    pub const fn plain(nick: &'a str, user: &'a str, host: &'a str) -> Source<'a> {
        Source {
            nick,
            user,
            host,
            account: None,
            realname: "",
            bot: false,
            long_text: false,
        }
    }
}

/// A message's identity: unique on this server across restarts (it grows with the time it was
/// made), written as 16 hex digits (`msgid` tags, history selectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u64);

impl std::fmt::Display for MsgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl MsgId {
    /// Appends the written form (16 lower-case hex digits) without the formatting machinery.
    pub fn write_to(self, out: &mut Vec<u8>) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 16];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = HEX[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        out.extend_from_slice(&buf);
    }

    /// Reads the written form back (16 hex digits).
    pub fn parse(text: &str) -> Option<MsgId> {
        (text.len() == 16)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
            .map(MsgId)
    }

    /// The hub's ids are the time they were made (Unix ms) times 2^SEQ_BITS plus a count,
    /// never below that time's first id: see `Hub::next_meta`.
    pub const SEQ_BITS: u32 = 12;
    /// On a network the top byte names the node that made the id: a tag 1..=255 the node
    /// claims in the nodes bucket, unique among live nodes (`network::tag`); until its claim
    /// is answered, a hash of its node id ([`MsgId::node_tag`]). Two nodes minting in the
    /// same millisecond then differ. The time and count below stay good until the year 2527.
    pub const NODE_SHIFT: u32 = 56;

    /// The bits a node puts over its ids before it has claimed a tag (0 for a single server).
    pub fn node_tag(node: u64) -> u64 {
        let mixed = node ^ (node >> 29) ^ (node >> 47);
        (mixed & 0xff).max(1) << MsgId::NODE_SHIFT
    }

    /// The latest time the message with this id can have been sent at: the store finds a
    /// msgid's line from here without a per-line index of ids.
    pub fn latest_time_ms(self) -> u64 {
        (self.0 & ((1 << MsgId::NODE_SHIFT) - 1)) >> MsgId::SEQ_BITS
    }
}

/// When and under which id a message entered the server: every message has both from the
/// moment it is accepted, whoever receives it and however late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub id: MsgId,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// A room's binary modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomFlag {
    /// +i: joining needs an invitation.
    InviteOnly,
    /// +m: only operators and voiced members speak.
    Moderated,
    /// +n: no messages from outside the room.
    NoOutside,
    /// +s: the room is left out of LIST, WHOIS and NAMES for those outside it.
    Secret,
    /// +t: only room operators set the topic.
    TopicOps,
    /// +C: no CTCP but ACTION to the room.
    NoCtcp,
}

impl RoomFlag {
    pub const ALL: [RoomFlag; 6] = [
        RoomFlag::NoCtcp,
        RoomFlag::InviteOnly,
        RoomFlag::Moderated,
        RoomFlag::NoOutside,
        RoomFlag::Secret,
        RoomFlag::TopicOps,
    ];

    /// The flag's bit in a [`ModeSet`].
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The letter both protocols use for it.
    pub fn letter(self) -> char {
        match self {
            RoomFlag::InviteOnly => 'i',
            RoomFlag::Moderated => 'm',
            RoomFlag::NoOutside => 'n',
            RoomFlag::Secret => 's',
            RoomFlag::TopicOps => 't',
            RoomFlag::NoCtcp => 'C',
        }
    }
}

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// +o: may change modes, the topic (+t), kick and invite (+i).
    Op,
    /// +v: may speak in a moderated room.
    Voice,
}

/// The lists of masks a room keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMode {
    /// +b: who may not join or speak.
    Ban,
    /// +e: exceptions to the bans.
    Except,
    /// +I: who may join an invite-only room without an invitation.
    InviteExcept,
}

impl ListMode {
    pub fn letter(self) -> char {
        match self {
            ListMode::Ban => 'b',
            ListMode::Except => 'e',
            ListMode::InviteExcept => 'I',
        }
    }
}

/// One change to a room's modes, as asked for and as applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChange<'a> {
    Flag(bool, RoomFlag),
    /// +k KEY, or -k.
    Key(Option<&'a str>),
    /// +l LIMIT, or -l.
    Limit(Option<usize>),
    Member(bool, Role, &'a str),
    List(bool, ListMode, &'a str),
}

/// A room's modes as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModeSet<'a> {
    /// [`RoomFlag::bit`]s.
    pub flags: u8,
    pub key: Option<&'a str>,
    pub limit: Option<usize>,
}

impl ModeSet<'_> {
    pub fn has(&self, flag: RoomFlag) -> bool {
        self.flags & flag.bit() != 0
    }
}

/// A user's own modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserMode {
    /// +i: left out of WHO and NAMES for those who share no room with the user.
    Invisible,
    /// +o: a server operator (only OPER sets it; anyone may drop it).
    Oper,
    /// +w: receives WALLOPS.
    Wallops,
    /// +B: marked as a bot.
    Bot,
}

impl UserMode {
    pub const ALL: [UserMode; 4] = [
        UserMode::Invisible,
        UserMode::Oper,
        UserMode::Wallops,
        UserMode::Bot,
    ];

    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn letter(self) -> char {
        match self {
            UserMode::Invisible => 'i',
            UserMode::Oper => 'o',
            UserMode::Wallops => 'w',
            UserMode::Bot => 'B',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    Normal,
    Notice,
    /// `/me` natively; CTCP ACTION in IRC.
    Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The native protocol's first line.
    Greeting {
        nick: &'a str,
    },
    /// `room` may carry a status prefix (`@#room`: to the room's operators only).
    RoomMessage {
        meta: Meta,
        from: Source<'a>,
        room: &'a str,
        kind: MsgKind,
        text: &'a str,
        /// Client-only tags (`+typing=active;+draft/react=x`) as sent, escaped; "" for none.
        tags: &'a str,
    },
    /// `to` lists every recipient as addressed (one nick, or a comma list for a group).
    DirectMessage {
        meta: Meta,
        from: Source<'a>,
        to: &'a str,
        kind: MsgKind,
        text: &'a str,
        /// As for `RoomMessage`.
        tags: &'a str,
    },
    Joined {
        who: Source<'a>,
        room: &'a str,
    },
    Parted {
        who: Source<'a>,
        room: &'a str,
        reason: Option<&'a str>,
    },
    Quit {
        who: Source<'a>,
        reason: Option<&'a str>,
    },
    NickChanged {
        who: Source<'a>,
        new: &'a str,
    },
    TopicChanged {
        who: Source<'a>,
        room: &'a str,
        topic: &'a str,
    },
    Kicked {
        by: Source<'a>,
        room: &'a str,
        victim: &'a str,
        reason: &'a str,
    },
    ModeChanged {
        by: Source<'a>,
        room: &'a str,
        changes: &'a [ModeChange<'a>],
    },
    Invited {
        by: Source<'a>,
        who: &'a str,
        room: &'a str,
    },
    /// A user's own modes changed (told to that user only).
    UserModeChanged {
        who: Source<'a>,
        changes: &'a [(bool, UserMode)],
    },
    /// To the victim of a server operator's kill, just before its connection closes.
    Killed {
        by: Source<'a>,
        victim: &'a str,
        reason: &'a str,
    },
    /// The answer to a quit request, just before the connection closes.
    Bye {
        reason: &'a str,
    },
    ShuttingDown,
    /// About the network of servers this one is a node of (`--bus`).
    Network(NetNotice<'a>),
    Reply(Reply<'a>),
    Fail(Fail<'a>),
    File(FileEvent<'a>),
    /// What only some front ends show (IRC today); the others write nothing for these.
    Extra(Extra<'a>),
    /// The account and room services' answers and notices.
    Service(ServiceReply<'a>),
}

/// What a node tells its users about the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetNotice<'a> {
    /// The other servers cannot be reached: neither can their users.
    Split,
    /// They can again.
    Whole,
    /// `count` messages from users on other servers were lost (in `room`, or to the user).
    Lost { room: Option<&'a str>, count: u64 },
    /// While the network was split another server's user took `old`; the user is now `new`.
    Collision { old: &'a str, new: &'a str },
}

/// Events that a front end may ignore: IRCv3 notifications, IRC's own listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra<'a> {
    /// A message of tags alone (IRC `TAGMSG`) to a room (`to` starts with `#`, possibly after
    /// a status prefix) or to users (`to` as in `DirectMessage`).
    TagMessage {
        meta: Meta,
        from: Source<'a>,
        to: &'a str,
        tags: &'a str,
    },
    /// A user went away (`Some(text)`) or came back; `monitor`: told to a watcher that shares
    /// no room with the user.
    Away {
        who: Source<'a>,
        text: Option<&'a str>,
        monitor: bool,
    },
    /// A user logged in to an account or out (None).
    Account {
        who: Source<'a>,
        account: Option<&'a str>,
        monitor: bool,
    },
    /// A user changed its real name (`who.realname` is the old one).
    Realname {
        who: Source<'a>,
        realname: &'a str,
        monitor: bool,
    },
    /// A message from a server operator to every user with +w.
    Wallops {
        from: Source<'a>,
        text: &'a str,
    },
    /// A room's member list in IRC's NAMES form; `end`: followed by the end of the list
    /// (several rooms asked for at once share one end, [`Extra::EndOfNames`]).
    Names {
        room: &'a str,
        members: &'a [Member<'a>],
        secret: bool,
        more: usize,
        end: bool,
    },
    EndOfNames(&'a str),
    /// WHO's answer: the users that `mask` matched; `room` when it named a room; `fields` is
    /// WHOX's `%...` parameter as sent, if any.
    Who {
        mask: &'a str,
        room: Option<&'a str>,
        members: &'a [Member<'a>],
        fields: Option<&'a str>,
    },
    /// MONITOR: these users are on line (as sources) / these nicks are not.
    MonOnline(&'a [Source<'a>]),
    MonOffline(&'a [&'a str]),
    /// The caller's monitor list, then its end.
    MonList(&'a [&'a str]),
    /// The monitor list is full: its limit, and the nicks not added.
    MonListFull {
        limit: usize,
        nicks: &'a str,
    },
    /// KNOCK: told to the room's operators / the knocker.
    Knock {
        who: Source<'a>,
        room: &'a str,
        text: &'a str,
    },
    Knocked(&'a str),
    /// How far the recipient has read in `target` (ms since the Unix epoch), if it said.
    ReadMarker {
        target: &'a str,
        at_ms: Option<u64>,
    },
    /// Someone offered the recipient a file that its protocol cannot take (an IRC user); the
    /// sender was told it was refused.
    FileOffered {
        from: Source<'a>,
        name: &'a str,
        size: u64,
    },
    /// The rooms the recipient is invited to, then the end of the list.
    InviteList(&'a [&'a str]),
    /// A real name change was refused (empty or too long).
    BadRealname,
}

/// One member as listings show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub realname: &'a str,
    pub op: bool,
    /// May speak in a moderated room (IRC `+v`).
    pub voice: bool,
    pub away: bool,
    /// A server operator.
    pub oper: bool,
    pub bot: bool,
    pub account: Option<&'a str>,
}

#[cfg(test)]
impl<'a> Member<'a> {
    /// A member with no modes, named `nick` throughout (for tests).
    pub fn plain(nick: &'a str) -> Member<'a> {
        Member {
            nick,
            user: nick,
            host: "h",
            realname: "",
            op: false,
            voice: false,
            away: false,
            oper: false,
            bot: false,
            account: None,
        }
    }
}

/// A room's topic, who set it and when (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo<'a> {
    pub text: &'a str,
    pub by: &'a str,
    pub at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Which room plain lines now go to (native).
    CurrentRoom(Option<&'a str>),
    RoomEntry {
        room: &'a str,
        count: usize,
        topic: Option<&'a str>,
    },
    RoomListEnd {
        count: usize,
    },
    /// A room's members; `names` is IRC's NAMES form rather than WHO's; `more` members are
    /// not listed (a quiet room's list for a joiner).
    Members {
        room: &'a str,
        members: &'a [Member<'a>],
        names: bool,
        more: usize,
    },
    Topic {
        room: &'a str,
        topic: Option<TopicInfo<'a>>,
    },
    Help,
    /// The target of a direct message is away.
    Away {
        nick: &'a str,
        text: &'a str,
    },
    /// You are no longer / now marked away.
    UnAway,
    NowAway,
    Whois(Whois<'a>),
    EndOfWhois(&'a str),
    /// A user who had `nick` recently, newest first; then `EndOfWhowas`.
    Whowas {
        nick: &'a str,
        user: &'a str,
        host: &'a str,
        realname: &'a str,
    },
    EndOfWhowas(&'a str),
    /// Per user: nick, server operator, away, user, host.
    Userhost(&'a [(&'a str, bool, bool, &'a str, &'a str)]),
    /// The nicks asked about that are on line, as registered.
    Ison(&'a [&'a str]),
    Lusers {
        /// The most users on line at once since the server started.
        max: usize,
        users: usize,
        invisible: usize,
        opers: usize,
        rooms: usize,
    },
    /// A room's modes; the key is shown only if `show_key` (to members).
    RoomModes {
        room: &'a str,
        modes: ModeSet<'a>,
        show_key: bool,
        /// When the room was made, in seconds since the Unix epoch.
        created: u64,
    },
    /// One of a room's mask lists, then its end.
    MaskList {
        room: &'a str,
        list: ListMode,
        /// (mask, who set it, when: seconds since the Unix epoch)
        entries: &'a [(&'a str, &'a str, u64)],
    },
    /// A user's own modes, as [`UserMode::bit`]s.
    UserModes(u8),
    /// An invitation was passed on.
    Inviting {
        who: &'a str,
        room: &'a str,
    },
    YoureOper,
}

/// What WHOIS tells about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whois<'a> {
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub realname: &'a str,
    /// The rooms the user is in, each with its highest prefix there: `@` (operator), `+`
    /// (voice) or none.
    pub rooms: &'a [(&'a str, &'static str)],
    pub oper: bool,
    pub away: Option<&'a str>,
    /// The account the user is logged in to, if any (always None until accounts exist).
    pub account: Option<&'a str>,
    pub bot: bool,
    /// Connected over TLS.
    pub secure: bool,
    /// The TLS client certificate's fingerprint: shown to the user itself and to operators.
    pub certfp: Option<&'a str>,
    /// On a network: the server the user is connected to, when it is another node.
    pub server: Option<&'a str>,
}

/// A request that could not be carried out; each protocol has its own words for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail<'a> {
    UnknownCommand(&'a str),
    /// The usage text of the command.
    Usage(&'static str),
    BadUtf8,
    ControlChar,
    LineTooLong(usize),
    BadNick(&'a str, NameError),
    NickTaken(&'a str),
    /// The nick looks like another user's (the second), as its skeleton tells.
    NickLooksLike(&'a str, &'a str),
    BadRoom(&'a str, NameError),
    /// A new room's name looks like an existing room's: named if the asker may see it.
    RoomLooksLike(&'a str, Option<&'a str>),
    NoSuchNick(&'a str),
    NoSuchRoom(&'a str),
    NotInRoom(&'a str),
    NoRoom,
    CannotSend(&'a str, &'static str),
    /// More targets than one command may name; the limit is given.
    TooManyTargets(&'a str, usize),
    /// The user is in as many rooms as allowed (given), or the server has as many rooms as it
    /// holds (0).
    TooManyRooms(&'a str, usize),
    /// The user has as many file offers and transfers open as allowed.
    TooManyTransfers(usize),
    /// Banned from the room (+b).
    Banned(&'a str),
    RoomFull(&'a str),
    InviteOnly(&'a str),
    BadKey(&'a str),
    NotOperator(&'a str),
    BadFrame(&'static str),
    NoSuchTransfer(u64),
    FileTooLarge {
        size: u64,
        max: u64,
    },
    CannotReceiveFiles(&'a str),
    /// A recipient that takes files through a link accepts by opening it.
    OpenTheLink(u64),
    Flood,
    /// Refusals of a new connection, its only line before it is closed.
    ServerFull,
    TooManyFromAddress,
    ConnectingTooFast,
    /// Plain text came to a TLS port.
    TlsRequired,
    /// A command needs more parameters (IRC); the command is named.
    NeedMoreParams(&'a str),
    /// A message with no target, or no text.
    NoRecipient(&'a str),
    NoTextToSend,
    NoNickGiven,
    NotRegistered,
    AlreadyRegistered,
    PasswordMismatch,
    /// `nick` is not in `room` (KICK, MODE +o).
    UserNotInRoom(&'a str, &'a str),
    /// `nick` is in `room` already (INVITE).
    UserInRoom(&'a str, &'a str),
    /// Only server operators may do that.
    NoPrivileges,
    UnknownMode(char),
    UnknownUserMode,
    /// Users may only see or change their own modes.
    UsersDontMatch,
    WasNoSuchNick(&'a str),
    /// The nick cannot be taken now: the network is split (nicks are unique network-wide).
    NetworkSplit(&'a str),
    /// `nick` is on another server: files go between users of one server only.
    RemoteFiles(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEvent<'a> {
    /// To the sender: the offer is made; a sender that puts its bytes through a link (IRC,
    /// the web page) gets the link to put them to once the offer is accepted.
    Offered {
        id: u64,
        to: &'a str,
        size: u64,
        name: &'a str,
        upload: Option<&'a str>,
    },
    /// To the recipient; one that takes files through a link gets it (opening it accepts).
    Offer {
        id: u64,
        from: Source<'a>,
        size: u64,
        name: &'a str,
        download: Option<&'a str>,
    },
    Accepted(u64),
    Declined(u64),
    Expired(u64),
    Done(u64),
    Abort {
        id: u64,
        reason: AbortReason<'a>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason<'a> {
    CancelledBy(&'a str),
    Disconnected(&'a str),
    TooMuchData,
    /// The recipient read nothing for the stall deadline while the sender waited.
    Stalled,
    /// No data came for an accepted transfer within the idle deadline.
    Idle,
    /// The recipient's download link was closed before the end.
    DownloadClosed,
    /// The sender's upload was cut off before the end.
    UploadClosed,
    ShuttingDown,
}

#[cfg(test)]
mod msgid_tests {
    use super::MsgId;

    #[test]
    fn a_node_tag_keeps_the_time_and_sets_nodes_apart() {
        let ms = 1_764_622_735_123u64;
        let plain = MsgId((ms << MsgId::SEQ_BITS) + 7);
        assert_eq!(plain.latest_time_ms(), ms);
        let (a, b) = (MsgId::node_tag(0x1234_5678_9abc_def0), MsgId::node_tag(42));
        assert_ne!(a, 0);
        assert_ne!(a, b, "two nodes, the same id made in the same millisecond");
        assert_eq!(MsgId(plain.0 | a).latest_time_ms(), ms);
        assert_ne!(MsgId(plain.0 | a), MsgId(plain.0 | b));
        // Still good in the year 2527 (2^44 ms).
        let late = MsgId(((1u64 << 44) - 1) << MsgId::SEQ_BITS | a);
        assert_eq!(late.latest_time_ms(), (1 << 44) - 1);
    }
}
