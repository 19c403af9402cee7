//! What the loop sends the store and what comes back.

use super::types::*;
use crate::auth::scram::ScramCredentials;

/// A write the loop does not wait for. Writes are applied in the order sent and committed in
/// groups; [`super::StoreHandle::committed`] says how far they are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A room message or DM for history.
    Message(HistoryMessage),
    /// Registers a room, or replaces everything stored about it.
    RoomRegister(RoomRecord),
    /// Unregisters a room (its history stays, subject to retention).
    RoomDrop {
        key: String,
    },
    RoomTopic {
        key: String,
        topic: Option<Topic>,
    },
    RoomModes {
        key: String,
        modes: RoomModes,
    },
    RoomFounder {
        key: String,
        founder: String,
    },
    /// Adds (`add`) or removes an account on a room's ops or voice list.
    RoomAccess {
        key: String,
        list: Access,
        account: String,
        add: bool,
    },
    RoomBanAdd {
        key: String,
        ban: Ban,
    },
    RoomBanRemove {
        key: String,
        mask: String,
    },
    AccountEmail {
        key: String,
        email: Option<String>,
    },
    /// Forgets a TLS client certificate fingerprint (adding one is a [`Call`]: it can clash).
    AccountCertRemove {
        key: String,
        fingerprint: String,
    },
}

/// A request with an answer: the answer comes back as a [`Reply`] with the caller's `id`
/// through [`super::StoreHandle::next_result`], after a wake of the loop's `mio::Waker`. Calls
/// that change something answer only once the change is committed.
#[derive(Clone, PartialEq, Eq)]
pub enum Call {
    /// Hashes the password (off the loop), creates the account. `key` is the folded name.
    Register {
        key: String,
        name: String,
        password: String,
        email: Option<String>,
        now: Millis,
    },
    /// Checks a password (PLAIN, IDENTIFY, `/login`).
    Login {
        key: String,
        password: String,
    },
    /// Sets a new password; with `old`, only if it is right.
    ChangePassword {
        key: String,
        old: Option<String>,
        new: String,
    },
    /// Deletes the account and its certificates. Rooms it founded stay as they are: the loop
    /// decides what becomes of them.
    DropAccount {
        key: String,
    },
    /// The SCRAM credentials of an account (cheap: no hashing).
    Scram {
        key: String,
    },
    /// Adds a TLS client certificate fingerprint to an account.
    CertificateAdd {
        key: String,
        fingerprint: String,
    },
    /// Which account, if any, has this certificate fingerprint (SASL EXTERNAL).
    Certificate {
        fingerprint: String,
    },
    AccountInfo {
        key: String,
    },
    History(HistoryQuery),
    Targets(TargetsQuery),
    /// Every account's name and every registered room as stored now: a node sharing the store
    /// with others catches up on what it may have missed (a split).
    Records,
    /// Checks a password against an argon2 hash the caller holds (the server password, an
    /// operator's): slow on purpose, so on the hashing thread like every other.
    Secret {
        phc: String,
        password: String,
    },
}

impl std::fmt::Debug for Call {
    // Passwords never reach a log through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Register { key, .. } => write!(f, "Register({key})"),
            Call::Login { key, .. } => write!(f, "Login({key})"),
            Call::ChangePassword { key, .. } => write!(f, "ChangePassword({key})"),
            Call::DropAccount { key } => write!(f, "DropAccount({key})"),
            Call::Scram { key } => write!(f, "Scram({key})"),
            Call::CertificateAdd { key, .. } => write!(f, "CertificateAdd({key})"),
            Call::Certificate { .. } => write!(f, "Certificate"),
            Call::AccountInfo { key } => write!(f, "AccountInfo({key})"),
            Call::History(q) => write!(f, "History({q:?})"),
            Call::Targets(q) => write!(f, "Targets({q:?})"),
            Call::Secret { .. } => write!(f, "Secret"),
            Call::Records => write!(f, "Records"),
        }
    }
}

/// The answer to a [`Call`], tagged with the caller's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub id: u64,
    pub result: CallResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    Register(Result<AccountName, AccountError>),
    Login(Result<AccountName, AccountError>),
    ChangePassword(Result<(), AccountError>),
    DropAccount(Result<(), AccountError>),
    Scram(Result<(AccountName, ScramCredentials), AccountError>),
    CertificateAdd(Result<(), AccountError>),
    Certificate(Result<AccountName, AccountError>),
    AccountInfo(Result<AccountInfo, AccountError>),
    History(Result<Vec<HistoryMessage>, HistoryError>),
    Targets(Result<Vec<TargetLatest>, HistoryError>),
    /// Whether the password matched; `Err` if it could not be checked now (busy).
    Secret(Result<bool, AccountError>),
    Records(Result<(Vec<AccountName>, Vec<RoomRecord>), AccountError>),
}

impl CallResult {
    /// The answer "the store cannot do this now", in the shape of the call.
    pub(crate) fn unavailable(call: &Call) -> CallResult {
        let history = || HistoryError::Store("the store is unavailable".into());
        match call {
            Call::Register { .. } => CallResult::Register(Err(AccountError::Unavailable)),
            Call::Login { .. } => CallResult::Login(Err(AccountError::Unavailable)),
            Call::ChangePassword { .. } => {
                CallResult::ChangePassword(Err(AccountError::Unavailable))
            }
            Call::DropAccount { .. } => CallResult::DropAccount(Err(AccountError::Unavailable)),
            Call::Scram { .. } => CallResult::Scram(Err(AccountError::Unavailable)),
            Call::CertificateAdd { .. } => {
                CallResult::CertificateAdd(Err(AccountError::Unavailable))
            }
            Call::Certificate { .. } => CallResult::Certificate(Err(AccountError::Unavailable)),
            Call::AccountInfo { .. } => CallResult::AccountInfo(Err(AccountError::Unavailable)),
            Call::History(_) => CallResult::History(Err(history())),
            Call::Targets(_) => CallResult::Targets(Err(history())),
            Call::Secret { .. } => CallResult::Secret(Err(AccountError::Unavailable)),
            Call::Records => CallResult::Records(Err(AccountError::Unavailable)),
        }
    }
}

/// Why the handle refused a request at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue to the store thread is full: the store is behind (or failing). The request
    /// is dropped; chat goes on.
    QueueFull,
    /// The store thread is gone (closed, or it crashed).
    Closed,
}
