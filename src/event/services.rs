//! What the account and room services say: answers to account commands (native `/login`,
//! IRC `NickServ IDENTIFY`), to room registration (native `/register #room`, IRC `ChanServ
//! REGISTER`), and the notices about protected nicks. Each codec has its own words for them:
//! native lines, or IRC NOTICEs from `NickServ` and `ChanServ`.

use super::Role;

/// Which pseudo-user speaks for a reply (IRC writes it as the NOTICE's source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    NickServ,
    ChanServ,
}

impl Service {
    pub fn nick(self) -> &'static str {
        match self {
            Service::NickServ => "NickServ",
            Service::ChanServ => "ChanServ",
        }
    }
}

/// Why a user lost a nick that belongs to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim<'a> {
    /// The grace period ran out before the user logged in.
    GraceOver,
    /// The owner used GHOST (named).
    Ghosted(&'a str),
    /// The owner logged in.
    OwnerLoggedIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceReply<'a> {
    // ---- accounts (NickServ)
    /// An account was made and the user is logged in to it.
    Registered {
        account: &'a str,
    },
    LoggedIn {
        account: &'a str,
    },
    LoggedOut,
    PasswordChanged,
    AccountDropped {
        account: &'a str,
    },
    /// What INFO shows; the e-mail address and the certificates only to the owner.
    AccountInfo {
        account: &'a str,
        registered_secs: u64,
        email: Option<&'a str>,
        certs: Option<&'a [&'a str]>,
    },
    CertAdded(&'a str),
    CertRemoved(&'a str),
    /// The certificate fingerprints of the caller's account.
    Certs {
        account: &'a str,
        list: &'a [&'a str],
    },
    /// The holder of the caller's nick was renamed or disconnected.
    Ghosted {
        nick: &'a str,
    },
    /// The recipient's nick belongs to an account it is not logged in to.
    NickProtected {
        nick: &'a str,
        account: &'a str,
        grace_secs: u64,
    },
    /// The recipient is about to lose `nick` (the nick change follows).
    NickReclaimed {
        nick: &'a str,
        why: Reclaim<'a>,
    },
    AccountFail(AccountFail<'a>),
    // ---- rooms (ChanServ)
    RoomRegistered {
        room: &'a str,
        founder: &'a str,
    },
    RoomDropped {
        room: &'a str,
    },
    RoomInfo {
        room: &'a str,
        founder: &'a str,
        registered_secs: u64,
        ops: &'a [&'a str],
        voices: &'a [&'a str],
    },
    /// An account was put on (`add`) or taken off a registered room's ops or voice list.
    AccessChanged {
        room: &'a str,
        role: Role,
        account: &'a str,
        add: bool,
    },
    RoomFail(RoomFail<'a>),
    // ---- both
    Help(Service),
    /// A command the service does not know.
    UnknownCommand(Service, &'a str),
}

impl ServiceReply<'_> {
    /// The pseudo-user that says it.
    pub fn service(&self) -> Service {
        match self {
            ServiceReply::RoomRegistered { .. }
            | ServiceReply::RoomDropped { .. }
            | ServiceReply::RoomInfo { .. }
            | ServiceReply::AccessChanged { .. }
            | ServiceReply::RoomFail(_) => Service::ChanServ,
            ServiceReply::Help(s) | ServiceReply::UnknownCommand(s, _) => *s,
            _ => Service::NickServ,
        }
    }
}

/// Why an account command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountFail<'a> {
    /// Wrong account name or password: which of the two is not said.
    BadCredentials,
    NoSuchAccount(&'a str),
    /// The name is registered already (or held by someone else right now).
    Exists(&'a str),
    /// The new password cannot be used; the reason.
    BadPassword(&'a str),
    BadEmail(&'a str),
    /// The name cannot be an account's; the reason.
    BadName(&'a str, &'static str),
    /// Too many failed logins: wait this many seconds.
    RateLimited(u64),
    /// Too many password checks are queued: try again in a moment.
    Busy,
    /// The store is failing: nothing was changed.
    Unavailable,
    NotLoggedIn,
    AlreadyLoggedIn(&'a str),
    /// The nick does not belong to the caller's account.
    NotOwner(&'a str),
    /// GHOST of one's own nick.
    OwnNick(&'a str),
    NoSuchNick(&'a str),
    /// CERT ADD without a fingerprint, from a connection that showed no client certificate.
    NoCertificate,
    BadFingerprint(&'a str),
    /// The certificate is another account's.
    CertTaken(&'a str),
    /// The form of a service command.
    Usage(&'static str),
}

/// Why a room service command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomFail<'a> {
    /// Only users logged in to an account can register rooms or change their lists.
    NeedLogin,
    NotRegistered(&'a str),
    AlreadyRegistered(&'a str),
    /// Registering needs operator status in the room.
    NotOperator(&'a str),
    NotFounder(&'a str),
    /// Changing the lists needs the founder or an account on the ops list.
    NoAccess(&'a str),
    NoSuchAccount(&'a str),
    NoSuchRoom(&'a str),
    Usage(&'static str),
}
