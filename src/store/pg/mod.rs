//! The PostgreSQL backend (`--store-url postgres://...`): one database that every node of a
//! network shares, so an account made on one node logs in on all, a registered room's lists
//! hold everywhere, and history said anywhere is read anywhere (docs/NETWORK.md).
//!
//! It runs on the store thread like the SQLite one, with the same promises: one connection,
//! a group is one transaction, reads in between see the group's writes. PostgreSQL gives up a
//! whole transaction at the first failed statement, where SQLite drops only the row: each
//! write runs under a savepoint, so a row the database refuses costs only itself. A lost
//! connection is a medium error (the group is kept and retried); the next attempt connects
//! again, at most every [`RECONNECT_EVERY`].

mod accounts;
mod history;
mod retention;
mod rooms;
pub mod schema;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use super::backend::*;
use super::batch::LineBatch;
use super::request::Write;
use super::sqlite::LoadOptions;
use super::types::*;
use super::OpenError;

/// A connection that failed is tried again no sooner than this (the store thread's own retry
/// backs off further; a login meanwhile answers "unavailable" at once).
pub const RECONNECT_EVERY: Duration = Duration::from_millis(250);
/// How long a connection attempt may take (the store thread waits; the loop never does).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgBackend {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    client: Option<Client>,
    /// Prepared statements of this connection, by their SQL.
    statements: HashMap<&'static str, Statement>,
    /// A transaction (the group) is open.
    in_tx: bool,
    /// A statement failed inside the transaction outside a savepoint: PostgreSQL refuses
    /// everything after it, so the group is lost.
    aborted: bool,
    last_connect: Option<Instant>,
    retention: retention::RetentionState,
}

/// What the modules below return: PostgreSQL's own error, mapped once at the interface.
type Pg<T> = Result<T, postgres::Error>;

/// The connection and its prepared statements, as the modules below use them.
pub(crate) struct Db<'a> {
    client: &'a mut Client,
    statements: &'a mut HashMap<&'static str, Statement>,
}

impl Db<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub fn exec(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }

    pub fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    pub fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }
}

/// Whether an error is the medium's (the server or the connection: retry later) or this
/// row's (a value the database refuses).
fn is_medium(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let Some(code) = e.code() else {
        // No SQLSTATE: I/O, a protocol error, a timeout.
        return true;
    };
    let class = &code.code()[..2.min(code.code().len())];
    matches!(class, "08" | "53" | "57" | "58" | "XX")
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::LOCK_NOT_AVAILABLE
        // The transaction was lost to an earlier failure: only a retry of the group helps.
        || *code == SqlState::IN_FAILED_SQL_TRANSACTION
}

/// What the database said, as one line.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

pub(crate) fn pg_error(e: postgres::Error) -> StoreError {
    if is_medium(&e) {
        StoreError::medium(describe(&e))
    } else {
        StoreError::row(describe(&e))
    }
}

/// A string PostgreSQL cannot hold as text (it has no NUL character).
pub(crate) fn storable(s: &str) -> bool {
    !s.contains('\0')
}

/// The URL as shown to the operator: the password left out.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

fn open_failed(shown: &str, reason: String) -> OpenError {
    OpenError::Postgres {
        url: shown.to_string(),
        reason,
    }
}

impl PgBackend {
    /// Connects (once: an unreachable server is an [`OpenError`]), migrates the schema and
    /// loads the snapshot. Synchronous: run it before the loop starts.
    pub fn open(
        url: &str,
        load: &LoadOptions,
        now: Millis,
    ) -> Result<(PgBackend, Snapshot), OpenError> {
        let shown = shown_url(url);
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| open_failed(&shown, format!("not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("snak");
        let mut client = config
            .connect(NoTls)
            .map_err(|e| open_failed(&shown, format!("cannot connect: {}", describe(&e))))?;
        schema::prepare(&mut client, now).map_err(|e| match e {
            schema::Prepared::Open(reason) => open_failed(&shown, reason),
            schema::Prepared::TooNew(found) => OpenError::TooNew {
                path: PathBuf::from(&shown),
                found,
                known: schema::LATEST,
            },
            schema::Prepared::Foreign => OpenError::NotSnak {
                path: PathBuf::from(&shown),
            },
        })?;
        let mut backend = PgBackend {
            config,
            shown,
            client: Some(client),
            statements: HashMap::new(),
            in_tx: false,
            aborted: false,
            last_connect: None,
            retention: retention::RetentionState::default(),
        };
        let snapshot = backend
            .snapshot(load)
            .map_err(|e| open_failed(&backend.shown, e.message))?;
        Ok((backend, snapshot))
    }

    fn snapshot(&mut self, load: &LoadOptions) -> Result<Snapshot, StoreError> {
        let mut db = self.db()?;
        let rooms = rooms::load_all(&mut db)?;
        let accounts = accounts::names(&mut db)?;
        let recent = history::recent_per_room(&mut db, load.recent_per_room, load.recent_max_rows)?;
        Ok(Snapshot {
            rooms,
            accounts,
            recent,
        })
    }

    /// The connection, made again if it was lost (the open group with it).
    fn db(&mut self) -> Result<Db<'_>, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            self.in_tx = false;
            self.aborted = false;
            self.statements.clear();
            let now = Instant::now();
            if self
                .last_connect
                .is_some_and(|t| now.saturating_duration_since(t) < RECONNECT_EVERY)
            {
                return Err(StoreError::medium(format!(
                    "not connected to PostgreSQL at {}",
                    self.shown
                )));
            }
            self.last_connect = Some(now);
            match self.config.connect(NoTls) {
                Ok(c) => {
                    log::warn!("store: connected to PostgreSQL at {} again", self.shown);
                    self.client = Some(c);
                }
                Err(e) => {
                    return Err(StoreError::medium(format!(
                        "cannot connect to {}: {}",
                        self.shown,
                        describe(&e)
                    )))
                }
            }
        }
        match self.client.as_mut() {
            Some(client) => Ok(Db {
                client,
                statements: &mut self.statements,
            }),
            None => Err(StoreError::medium("not connected to PostgreSQL")),
        }
    }

    /// After an error: a closed connection takes the group with it.
    fn after_error(&mut self, e: &postgres::Error) {
        if e.is_closed() || self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
            self.in_tx = false;
        }
    }

    /// A write: under a savepoint inside the group, so a refused row leaves the rest.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&mut Db<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let in_tx = self.in_tx && !self.aborted;
        let mut db = self.db()?;
        if in_tx {
            if let Err(e) = db.client.batch_execute("SAVEPOINT w") {
                self.after_error(&e);
                self.aborted = true;
                return Err(StoreError::medium(describe(&e)));
            }
        }
        let result = f(&mut db);
        let result = match result {
            Ok(v) => {
                if in_tx {
                    db.client.batch_execute("RELEASE SAVEPOINT w").map(|_| v)
                } else {
                    Ok(v)
                }
            }
            Err(e) => {
                if in_tx && !is_medium(&e) {
                    if let Err(e2) = db.client.batch_execute("ROLLBACK TO SAVEPOINT w") {
                        self.after_error(&e2);
                        self.aborted = true;
                        return Err(StoreError::medium(describe(&e2)));
                    }
                }
                Err(e)
            }
        };
        result.map_err(|e| {
            self.after_error(&e);
            if in_tx && is_medium(&e) {
                self.aborted = true;
            }
            pg_error(e)
        })
    }

    /// A read; a failure inside the group loses the group (PostgreSQL aborted it).
    fn read<T>(
        &mut self,
        f: impl FnOnce(&mut Db<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut db = self.db()?;
        let result = f(&mut db);
        if result.is_err() {
            if self.client.as_ref().is_some_and(Client::is_closed) {
                self.client = None;
                self.in_tx = false;
            }
            // PostgreSQL has aborted the transaction, whatever the error was.
            if self.in_tx {
                self.aborted = true;
            }
        }
        result
    }
}

impl Backend for PgBackend {
    fn begin(&mut self) -> Result<(), StoreError> {
        let db = self.db()?;
        match db.client.batch_execute("BEGIN") {
            Ok(()) => {
                self.in_tx = true;
                self.aborted = false;
                Ok(())
            }
            Err(e) => {
                self.after_error(&e);
                Err(StoreError::medium(describe(&e)))
            }
        }
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if !self.in_tx || self.aborted {
            self.rollback();
            return Err(StoreError::medium(
                "the transaction was lost (connection or statement failure)",
            ));
        }
        let db = self.db()?;
        let result = db.client.batch_execute("COMMIT");
        self.in_tx = false;
        result.map_err(|e| {
            self.after_error(&e);
            StoreError::medium(describe(&e))
        })
    }

    fn rollback(&mut self) {
        if self.in_tx {
            if let Some(c) = self.client.as_mut().filter(|c| !c.is_closed()) {
                let _ = c.batch_execute("ROLLBACK");
            }
        }
        self.in_tx = false;
        self.aborted = false;
    }

    fn in_group(&self) -> bool {
        self.in_tx && !self.aborted && self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    fn apply(&mut self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::Message(m) => {
                let mut one = LineBatch::new();
                one.push(&m.parts());
                match self.apply_lines(&one)? {
                    0 => Ok(()),
                    _ => Err(StoreError::row("a history line cannot be stored")),
                }
            }
            Write::AccountEmail { .. } | Write::AccountCertRemove { .. } => {
                if !accounts::storable_write(write) {
                    return Err(StoreError::row("a value holds a NUL character"));
                }
                self.write(|db| accounts::apply(db, write))
            }
            _ => {
                if !rooms::storable_write(write) {
                    return Err(StoreError::row("a value holds a NUL character"));
                }
                self.write(|db| rooms::apply(db, write))
            }
        }
    }

    fn apply_lines(&mut self, lines: &LineBatch) -> Result<u64, StoreError> {
        let rows = history::Rows::of(lines);
        let refused = rows.refused;
        if rows.is_empty() {
            return Ok(refused);
        }
        for conv in rows.conversations() {
            self.retention.touched(conv);
        }
        match self.write(|db| rows.insert(db)) {
            Ok(()) => Ok(refused),
            // Refused whole (no value of it should be): every line counts as dropped.
            Err(e) if e.kind == ErrorKind::Row => {
                log::error!("store: a batch of history lines was refused: {e}");
                Ok(refused + rows.len() as u64)
            }
            Err(e) => Err(e),
        }
    }

    fn effect(&mut self, effect: &Effect) -> Result<Applied, StoreError> {
        if !accounts::storable_effect(effect) {
            return Err(StoreError::row("a value holds a NUL character"));
        }
        self.write(|db| accounts::effect(db, effect))
    }

    fn account(&mut self, key: &str) -> Result<Option<StoredAccount>, StoreError> {
        if !storable(key) {
            return Ok(None);
        }
        self.read(|db| accounts::get(db, key))
    }

    fn account_by_certificate(&mut self, fp: &str) -> Result<Option<AccountName>, StoreError> {
        if !storable(fp) {
            return Ok(None);
        }
        self.read(|db| accounts::by_certificate(db, fp))
    }

    fn account_info(&mut self, key: &str) -> Result<Option<AccountInfo>, StoreError> {
        if !storable(key) {
            return Ok(None);
        }
        self.read(|db| accounts::info(db, key))
    }

    fn history(
        &mut self,
        query: &HistoryQuery,
    ) -> Result<Result<Vec<HistoryMessage>, HistoryError>, StoreError> {
        self.read(|db| history::query(db, query))
    }

    fn targets(&mut self, query: &TargetsQuery) -> Result<Vec<TargetLatest>, StoreError> {
        self.read(|db| history::targets(db, query))
    }

    fn records(&mut self) -> Result<(Vec<AccountName>, Vec<RoomRecord>), StoreError> {
        self.read(|db| Ok((accounts::names(db)?, rooms::load_all(db)?)))
    }

    fn retention_round(
        &mut self,
        policy: &Retention,
        now: Millis,
    ) -> Result<RetentionReport, StoreError> {
        let mut state = std::mem::take(&mut self.retention);
        let report = self.write(|db| retention::round(db, &mut state, policy, now));
        self.retention = state;
        report
    }

    #[cfg(test)]
    fn debug_sql(&mut self, sql: &str) {
        let db = self.db().expect("connected");
        if let Err(e) = db.client.batch_execute(sql) {
            panic!("test SQL {sql:?} failed: {e}");
        }
    }
}
