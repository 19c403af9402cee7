//! The SQLite backend: one connection, owned by the store thread, in WAL mode with
//! `synchronous=FULL` (a commit is on disk before it is acknowledged; group commit is what
//! makes that affordable).

mod accounts;
pub(crate) mod block;
pub(crate) mod history;
mod retention;
mod rooms;
pub mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::backend::*;
use super::batch::LineBatch;
use super::datadir::DataDir;
use super::request::Write;
use super::types::*;
use super::OpenError;
use retention::RetentionState;

/// The page size of a new database: SQLite's largest. History is written as blocks of a few
/// KB to hundreds of KB, and SQLite writes and checkpoints its WAL a page at a time (two
/// `pwrite`s a frame): with 64 KB pages the store thread spends about a third less CPU per
/// line than with the default 4 KB (BENCHMARKS.md, "The store and history"). A file made
/// with another page size keeps it (changing it means a `VACUUM` of the whole file).
pub const PAGE_SIZE: i64 = 65536;

/// The WAL is checkpointed into the database when it holds this much.
const WAL_CHECKPOINT_BYTES: i64 = 32 << 20;

/// How thoroughly to check the file at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrityCheck {
    /// `PRAGMA quick_check`: every page read once (seconds for a big file).
    #[default]
    Quick,
    /// `PRAGMA integrity_check`: also indexes against tables (slower).
    Full,
    /// Only what opening and reading the schema notices.
    None,
}

pub struct SqliteBackend {
    conn: Connection,
    retention: RetentionState,
    /// The open group's history lines, in blocks not yet written.
    pending: history::Pending,
    /// Held for the backend's life: another snak on the same directory is refused.
    _dir: Option<DataDir>,
}

/// Maps an SQLite error: the medium failing (retry later) or this one row.
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    let medium = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::ReadOnly
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::PermissionDenied
                | ErrorCode::FileLockingProtocolFailed
        )
    );
    let message = e.to_string();
    if medium {
        StoreError::medium(message)
    } else {
        StoreError::row(message)
    }
}

fn open_error(path: &Path, e: rusqlite::Error) -> OpenError {
    let reason = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => OpenError::Corrupt {
            path: path.to_owned(),
            reason: "the file is not a database".into(),
        },
        Some(ErrorCode::DatabaseCorrupt) => OpenError::Corrupt {
            path: path.to_owned(),
            reason,
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => OpenError::Busy {
            path: path.to_owned(),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            OpenError::DataDir {
                path: path.parent().unwrap_or(path).to_owned(),
                reason: format!("the database cannot be written: {reason}"),
            }
        }
        Some(ErrorCode::DiskFull) => OpenError::DataDir {
            path: path.parent().unwrap_or(path).to_owned(),
            reason: "no space left on device".into(),
        },
        _ => OpenError::Sqlite {
            path: path.to_owned(),
            reason,
        },
    }
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    /// `--data-dir none`: SQLite in memory, gone at exit.
    Memory,
}

/// What to load at start.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub recent_per_room: usize,
    pub recent_max_rows: usize,
    pub integrity: IntegrityCheck,
}

impl SqliteBackend {
    /// Opens (creating and migrating as needed) and loads the snapshot. Synchronous: run it
    /// before the loop starts.
    pub fn open(
        location: &Location,
        load: &LoadOptions,
        now: Millis,
    ) -> Result<(SqliteBackend, Snapshot), OpenError> {
        let (conn, dir, path) = match location {
            Location::Memory => {
                let conn = Connection::open_in_memory().map_err(|e| OpenError::Sqlite {
                    path: PathBuf::from(":memory:"),
                    reason: e.to_string(),
                })?;
                (conn, None, PathBuf::from(":memory:"))
            }
            Location::Dir(p) => {
                let dir = DataDir::open(p)?;
                dir.precreate_db()?;
                let path = dir.db_path();
                let conn = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_CREATE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| open_error(&path, e))?;
                (conn, Some(dir), path)
            }
        };
        let mut backend = SqliteBackend {
            conn,
            retention: RetentionState::default(),
            pending: history::Pending::default(),
            _dir: dir,
        };
        let snapshot = backend.prepare(&path, load, now).map_err(|e| match e {
            Prepared::Open(e) => e,
            Prepared::Sql(e) => open_error(&path, e),
        })?;
        Ok((backend, snapshot))
    }

    fn prepare(
        &mut self,
        path: &Path,
        load: &LoadOptions,
        now: Millis,
    ) -> Result<Snapshot, Prepared> {
        let conn = &mut self.conn;
        // The first statement reads the header: a file that is not a database fails here.
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        let found = schema::inspect(conn)?;
        // Before the first write (a no-op on a file that has pages already): see PAGE_SIZE.
        conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))?;
        if path != Path::new(":memory:") {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Prepared::Open(OpenError::Sqlite {
                    path: path.to_owned(),
                    reason: format!("cannot switch to WAL mode (journal mode stays {mode})"),
                }));
            }
        }
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -16384;
             PRAGMA journal_size_limit = 67108864;",
        )?;
        // A checkpoint per WAL_CHECKPOINT_BYTES, whatever the file's page size.
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = WAL_CHECKPOINT_BYTES / page.max(512);
        conn.execute_batch(&format!("PRAGMA wal_autocheckpoint = {pages}"))?;
        let check = match load.integrity {
            IntegrityCheck::Quick => Some("PRAGMA quick_check"),
            IntegrityCheck::Full => Some("PRAGMA integrity_check"),
            IntegrityCheck::None => None,
        };
        if let Some(sql) = check {
            let verdict: String = conn.query_row(sql, [], |r| r.get(0))?;
            if verdict != "ok" {
                return Err(Prepared::Open(OpenError::Corrupt {
                    path: path.to_owned(),
                    reason: format!("integrity check failed: {verdict}"),
                }));
            }
        }
        let from = match found {
            schema::Found::Fresh => 0,
            schema::Found::Version(v) if v > schema::LATEST => {
                return Err(Prepared::Open(OpenError::TooNew {
                    path: path.to_owned(),
                    found: v,
                    known: schema::LATEST,
                }))
            }
            schema::Found::Version(v) => v,
            schema::Found::Foreign => {
                return Err(Prepared::Open(OpenError::NotSnak {
                    path: path.to_owned(),
                }))
            }
        };
        schema::migrate(conn, from, schema::LATEST, now)?;
        let rooms = rooms::load_all(conn).map_err(Prepared::store(path))?;
        let accounts = accounts::names(conn).map_err(Prepared::store(path))?;
        let recent = history::recent_per_room(conn, load.recent_per_room, load.recent_max_rows)
            .map_err(Prepared::store(path))?;
        Ok(Snapshot {
            rooms,
            accounts,
            recent,
        })
    }
}

impl SqliteBackend {
    /// Writes the open group's blocks (before its commit, and before a read, which sees the
    /// group's writes).
    fn flush_lines(&mut self) -> Result<(), StoreError> {
        let retention = &mut self.retention;
        self.pending
            .flush(&self.conn, |conv| retention.touched(conv))
    }
}

enum Prepared {
    Open(OpenError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Prepared {
    fn from(e: rusqlite::Error) -> Self {
        Prepared::Sql(e)
    }
}

impl Prepared {
    fn store(path: &Path) -> impl Fn(StoreError) -> Prepared + '_ {
        move |e| {
            Prepared::Open(OpenError::Sqlite {
                path: path.to_owned(),
                reason: e.message,
            })
        }
    }
}

impl Backend for SqliteBackend {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN").map_err(sql_error)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.flush_lines()?;
        self.conn.execute_batch("COMMIT").map_err(sql_error)
    }

    fn rollback(&mut self) {
        self.pending.clear();
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn in_group(&self) -> bool {
        !self.conn.is_autocommit()
    }

    fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::Message(m) => self.pending.push(&self.conn, &m.parts()),
            Write::AccountEmail { .. } | Write::AccountCertRemove { .. } => {
                accounts::apply(&self.conn, write)
            }
            _ => rooms::apply(&self.conn, write),
        }
    }

    fn apply_lines(&mut self, lines: &LineBatch) -> Result<u64, StoreError> {
        let mut refused = 0;
        for p in lines.iter() {
            match self.pending.push(&self.conn, &p) {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Row => refused += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(refused)
    }

    fn effect(&mut self, effect: &Effect) -> Result<Applied, StoreError> {
        accounts::effect(&self.conn, effect)
    }

    fn account(&mut self, key: &str) -> Result<Option<StoredAccount>, StoreError> {
        accounts::get(&self.conn, key)
    }

    fn account_by_certificate(&mut self, fp: &str) -> Result<Option<AccountName>, StoreError> {
        accounts::by_certificate(&self.conn, fp)
    }

    fn account_info(&mut self, key: &str) -> Result<Option<AccountInfo>, StoreError> {
        accounts::info(&self.conn, key)
    }

    fn history(
        &mut self,
        query: &HistoryQuery,
    ) -> Result<Result<Vec<HistoryMessage>, HistoryError>, StoreError> {
        self.flush_lines()?;
        history::query(&self.conn, query)
    }

    fn targets(&mut self, query: &TargetsQuery) -> Result<Vec<TargetLatest>, StoreError> {
        self.flush_lines()?;
        history::targets(&self.conn, query)
    }

    fn records(&mut self) -> Result<(Vec<AccountName>, Vec<RoomRecord>), StoreError> {
        Ok((accounts::names(&self.conn)?, rooms::load_all(&self.conn)?))
    }

    fn retention_round(
        &mut self,
        policy: &Retention,
        now: Millis,
    ) -> Result<RetentionReport, StoreError> {
        self.flush_lines()?;
        retention::round(&self.conn, &mut self.retention, policy, now)
    }

    #[cfg(test)]
    fn debug_sql(&mut self, sql: &str) {
        if let Err(e) = self.conn.execute_batch(sql) {
            panic!("test SQL {sql:?} failed: {e}");
        }
    }
}
