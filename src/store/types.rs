//! The store's vocabulary: plain data (strings and numbers), nothing from the hub.
//!
//! Names arrive already casefolded where they are keys (`key` fields); the display form is
//! kept beside them. The store never folds or validates names itself: that is the loop's
//! business, and keeping it there means every backend compares names the same way.

/// Unix time in milliseconds (the loop's clock, as in `server-time`).
pub type Millis = i64;

/// What kind of line a history row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Privmsg,
    Notice,
    /// CTCP ACTION (`/me`), kept apart so each protocol can render it its own way.
    Action,
    /// An IRCv3 TAGMSG: tags only, empty text.
    Tagmsg,
    /// A file offer, as one line of text (never the file's bytes).
    FileOffer,
}

impl MessageKind {
    pub(crate) fn code(self) -> i64 {
        match self {
            MessageKind::Privmsg => 0,
            MessageKind::Notice => 1,
            MessageKind::Action => 2,
            MessageKind::Tagmsg => 3,
            MessageKind::FileOffer => 4,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<MessageKind> {
        Some(match code {
            0 => MessageKind::Privmsg,
            1 => MessageKind::Notice,
            2 => MessageKind::Action,
            3 => MessageKind::Tagmsg,
            4 => MessageKind::FileOffer,
            _ => return None,
        })
    }
}

/// Who sent a message, as it was when sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sender {
    pub nick: String,
    pub user: String,
    pub host: String,
    /// The account name (display form) if the sender was logged in.
    pub account: Option<String>,
}

/// Where a message went. For a direct message both parties are named by a *participant key*
/// the loop chooses (for example the folded account name when logged in, else a marked folded
/// nick, so that a conversation with an unregistered `bob` is never shown to whoever
/// registers `bob` later). Keys must not contain a newline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The room's key (folded name).
    Room(String),
    Direct {
        from: String,
        to: String,
    },
}

/// A conversation to query: a room, or the pair of participants of a direct conversation
/// (in either order). A direct conversation can only be named by someone who knows both keys;
/// the loop puts the asking user's own key in, so nobody reads another pair's messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conversation {
    Room(String),
    Direct(String, String),
}

impl Conversation {
    /// The one string a backend indexes by. Rooms are their key; a direct conversation is
    /// `"\n" + lower + "\n" + higher`, which no room key can be (keys hold no newline).
    pub fn key(&self) -> String {
        match self {
            Conversation::Room(key) => key.clone(),
            Conversation::Direct(a, b) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                format!("\n{lo}\n{hi}")
            }
        }
    }

    /// True if a key may be stored (no newline in any part).
    pub fn is_valid(&self) -> bool {
        match self {
            Conversation::Room(k) => !k.contains('\n'),
            Conversation::Direct(a, b) => !a.contains('\n') && !b.contains('\n'),
        }
    }
}

impl Target {
    pub fn conversation(&self) -> Conversation {
        match self {
            Target::Room(key) => Conversation::Room(key.clone()),
            Target::Direct { from, to } => Conversation::Direct(from.clone(), to.clone()),
        }
    }
}

/// One stored line of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMessage {
    pub msgid: String,
    pub time: Millis,
    pub sender: Sender,
    pub target: Target,
    /// The target as the sender addressed it (display form: `#Snak`, `Bob`).
    pub target_name: String,
    pub kind: MessageKind,
    pub text: String,
    /// Client-only tags as they travel (`+draft/react=x;+typing=active`), or empty.
    pub tags: String,
}

/// A point in a conversation, as `draft/chathistory` names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// A message by its id (`msgid=...`); unknown in this conversation is an error.
    MsgId(String),
    /// A time (`timestamp=...`).
    Time(Millis),
}

/// The `draft/chathistory` subcommands that return messages. Every bound is exclusive but
/// AROUND's (which is inclusive of the anchor); results are always oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The newest `limit`; with an anchor, only those after it.
    Latest(Option<Anchor>),
    /// The `limit` closest before the anchor.
    Before(Anchor),
    /// The `limit` closest after the anchor.
    After(Anchor),
    /// Up to `limit` around the anchor: `limit / 2` before it, the rest from it on.
    Around(Anchor),
    /// Between the two, counted from the first (which may be the later one: then the
    /// `limit` closest to it, going back in time).
    Between(Anchor, Anchor),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub conversation: Conversation,
    pub selector: Selector,
    pub limit: usize,
}

/// `CHATHISTORY TARGETS`: the conversations `user` has, whose latest message lies strictly
/// between `from` and `to` (either order; counted from `from`), oldest latest-message first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsQuery {
    /// The asking user's participant key (for direct conversations).
    pub user: String,
    /// Rooms the user may see history of (the loop knows membership).
    pub rooms: Vec<String>,
    pub from: Millis,
    pub to: Millis,
    pub limit: usize,
}

/// A conversation with its latest message time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLatest {
    pub target: TargetId,
    /// Display name: the room's, or the other party's nick in the latest message.
    pub name: String,
    pub latest: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetId {
    Room(String),
    /// The other party's participant key (the user's own for notes to self).
    Peer(String),
}

/// Why a history query returned nothing useful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// A `msgid=` anchor that is not in this conversation.
    UnknownMsgId(String),
    /// The store could not answer (the text is for the log).
    Store(String),
}

/// An account's name: the key (folded) and the display form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountName {
    pub key: String,
    pub name: String,
}

/// What NickServ INFO shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub name: AccountName,
    pub email: Option<String>,
    pub registered: Millis,
    pub certificates: Vec<String>,
}

/// Why an account call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountError {
    NoSuchAccount,
    /// Register: the name is taken. Certificate add: another account has it.
    Taken,
    BadPassword,
    /// The new password cannot be used (empty, too long, prohibited characters).
    InvalidPassword(String),
    /// Too many password checks already queued: try again shortly.
    Busy,
    /// The database is failing; nothing was changed.
    Unavailable,
}

/// A room's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: String,
    /// `nick!user@host` or a nick.
    pub set_by: String,
    pub set_at: Millis,
}

/// A room's modes as plain fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomModes {
    /// The flag letters without arguments, e.g. `"nst"`.
    pub flags: String,
    pub key: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub mask: String,
    pub set_by: String,
    pub set_at: Millis,
}

/// Which access list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Op,
    Voice,
}

impl Access {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Access::Op => "o",
            Access::Voice => "v",
        }
    }
}

/// A registered room, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub key: String,
    pub name: String,
    /// The founder's account key.
    pub founder: String,
    pub registered: Millis,
    pub topic: Option<Topic>,
    pub modes: RoomModes,
    /// Account keys given ops on join.
    pub ops: Vec<String>,
    /// Account keys given voice on join.
    pub voices: Vec<String>,
    pub bans: Vec<Ban>,
}
