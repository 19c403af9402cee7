//! The vocabulary between the chat state and the codecs: what happened, to be told to someone.
//!
//! Events borrow from the chat state and from the input line that caused them, so telling one
//! costs no allocation; each codec turns an event into its protocol's bytes.

use crate::names::NameError;

/// Who did something, as IRC's `nick!user@host` needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
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
    RoomMessage {
        from: Source<'a>,
        room: &'a str,
        kind: MsgKind,
        text: &'a str,
    },
    /// `to` lists every recipient as addressed (one nick, or a comma list for a group).
    DirectMessage {
        from: Source<'a>,
        to: &'a str,
        kind: MsgKind,
        text: &'a str,
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
        modes: &'a str,
    },
    Invited {
        by: Source<'a>,
        who: &'a str,
        room: &'a str,
    },
    /// A user's own modes changed (told to that user only); `modes` as `+i` or `-o`.
    UserModeChanged {
        who: Source<'a>,
        modes: &'a str,
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
    Reply(Reply<'a>),
    Fail(Fail<'a>),
    File(FileEvent<'a>),
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
    /// A room's members, in order; `names` is IRC's NAMES form rather than WHO's.
    Members {
        room: &'a str,
        members: &'a [Member<'a>],
        names: bool,
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
        users: usize,
        opers: usize,
        rooms: usize,
    },
    /// A room's modes as `+ntk` with their parameters after it.
    RoomModes {
        room: &'a str,
        modes: &'a str,
        /// When the room was made, in seconds since the Unix epoch.
        created: u64,
    },
    /// The end of a room's (always empty) ban list.
    EndOfBanList(&'a str),
    UserModes(&'a str),
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
    /// The rooms the user is in, with whether an operator there.
    pub rooms: &'a [(&'a str, bool)],
    pub oper: bool,
    pub away: Option<&'a str>,
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
    BadRoom(&'a str, NameError),
    NoSuchNick(&'a str),
    NoSuchRoom(&'a str),
    NotInRoom(&'a str),
    NoRoom,
    CannotSend(&'a str, &'static str),
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
    Flood,
    /// Refusals of a new connection, its only line before it is closed.
    ServerFull,
    TooManyFromAddress,
    ConnectingTooFast,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEvent<'a> {
    /// To the sender: the offer is made.
    Offered {
        id: u64,
        to: &'a str,
        size: u64,
        name: &'a str,
    },
    /// To the recipient.
    Offer {
        id: u64,
        from: &'a str,
        size: u64,
        name: &'a str,
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
    ShuttingDown,
}
