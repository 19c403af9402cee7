//! The interface a storage backend implements. The store thread ([`super::worker`]) drives it:
//! it opens a group, applies writes in order, answers reads in between (reads see the open
//! group's writes), and commits the group every `group_window` or `group_rows`. A backend
//! knows nothing of queues, wakers or the loop; the SQLite one is [`super::sqlite`]. A shared
//! backend (a database server for several processes, NATS JetStream) implements the same
//! trait and runs under the same thread, with the same promises.

use std::fmt;

use super::batch::LineBatch;
use super::request::Write;
use super::types::*;
use crate::auth::password::PasswordHashes;
use crate::auth::scram::ScramCredentials;

/// Whether an error is about the medium (retry the whole group later) or about one row
/// (drop that row, go on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Disk full, read-only, I/O error, locked, corrupt: nothing is wrong with the data, the
    /// place it goes is failing. The group is kept and retried.
    Medium,
    /// This row cannot be stored (a constraint, a value too big): it is dropped and counted.
    Row,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StoreError {
    pub fn medium(message: impl Into<String>) -> Self {
        StoreError {
            kind: ErrorKind::Medium,
            message: message.into(),
        }
    }

    pub fn row(message: impl Into<String>) -> Self {
        StoreError {
            kind: ErrorKind::Row,
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A change a [`super::request::Call`] makes, applied inside a group like a write; its reply
/// waits for the commit.
#[derive(Clone, PartialEq, Eq)]
pub enum Effect {
    CreateAccount {
        name: AccountName,
        hashes: PasswordHashes,
        email: Option<String>,
        registered: Millis,
    },
    SetPassword {
        key: String,
        hashes: PasswordHashes,
    },
    DropAccount {
        key: String,
    },
    AddCertificate {
        key: String,
        fingerprint: String,
    },
}

impl fmt::Debug for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::CreateAccount { name, .. } => write!(f, "CreateAccount({})", name.key),
            Effect::SetPassword { key, .. } => write!(f, "SetPassword({key})"),
            Effect::DropAccount { key } => write!(f, "DropAccount({key})"),
            Effect::AddCertificate { key, .. } => write!(f, "AddCertificate({key})"),
        }
    }
}

/// What an effect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// A unique name or fingerprint is already taken.
    Conflict,
    /// The account it names does not exist.
    Missing,
}

/// An account as stored, for the password check.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredAccount {
    pub name: AccountName,
    pub phc: String,
    pub scram: Option<ScramCredentials>,
}

impl fmt::Debug for StoredAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAccount")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Everything loaded once at start, before the loop runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub rooms: Vec<RoomRecord>,
    /// Every account's name (the loop keeps them to know which nicks are registered).
    pub accounts: Vec<AccountName>,
    /// The latest lines of each room, oldest first within a room, for the recent window.
    pub recent: Vec<HistoryMessage>,
}

/// How long history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// `--history-days`: older lines are deleted.
    pub max_age_ms: Option<Millis>,
    /// `--history-max-per-room`: only the newest N lines of each conversation are kept.
    pub max_per_target: Option<u64>,
}

/// What one retention round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub deleted: u64,
    /// The round stopped at its bound: run another soon.
    pub more: bool,
}

/// A storage backend. Every method runs on the store thread.
pub trait Backend: Send + 'static {
    /// Opens a group (a transaction).
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Makes the group durable.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Abandons the group.
    fn rollback(&mut self);
    /// False if the backend dropped the open group on its own after an error (SQLite does
    /// for some I/O errors); the store thread then treats the group as failed.
    fn in_group(&self) -> bool;

    fn apply(&mut self, write: &Write) -> Result<(), StoreError>;
    /// Many history lines at once (a pass's, from the loop); returns how many were refused
    /// as rows (each counted as dropped). A medium error fails them all, as for `apply`.
    fn apply_lines(&mut self, lines: &LineBatch) -> Result<u64, StoreError> {
        let mut refused = 0;
        for m in lines.clone().into_messages() {
            match self.apply(&Write::Message(m)) {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Row => refused += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(refused)
    }
    fn effect(&mut self, effect: &Effect) -> Result<Applied, StoreError>;

    fn account(&mut self, key: &str) -> Result<Option<StoredAccount>, StoreError>;
    fn account_by_certificate(
        &mut self,
        fingerprint: &str,
    ) -> Result<Option<AccountName>, StoreError>;
    fn account_info(&mut self, key: &str) -> Result<Option<AccountInfo>, StoreError>;
    fn history(
        &mut self,
        query: &HistoryQuery,
    ) -> Result<Result<Vec<HistoryMessage>, HistoryError>, StoreError>;
    fn targets(&mut self, query: &TargetsQuery) -> Result<Vec<TargetLatest>, StoreError>;
    /// Every account's name and every registered room, as the snapshot at start has them.
    fn records(&mut self) -> Result<(Vec<AccountName>, Vec<RoomRecord>), StoreError>;

    /// One bounded step of retention (inside the open group).
    fn retention_round(
        &mut self,
        policy: &Retention,
        now: Millis,
    ) -> Result<RetentionReport, StoreError>;

    /// Tests: runs SQL below the interface, where the backend has SQL.
    #[cfg(test)]
    fn debug_sql(&mut self, _sql: &str) {}
}
