//! The schema and its numbered migrations, as for SQLite: `snak_schema` holds one row per
//! migration applied, each migration runs in its own transaction with its row, and a
//! migration is never edited once released. Nodes starting together on a new database take
//! an advisory lock first, so one of them migrates and the others find it done.

use postgres::Client;

use crate::store::types::Millis;

/// Migration `i + 1` is `MIGRATIONS[i]`.
pub const MIGRATIONS: &[&str] = &[
    // 1: accounts, registered rooms, history. History is one row per line (PostgreSQL's
    // B-tree over (conv, time_ms, seq) serves every CHATHISTORY page from either end); `seq`
    // breaks ties between equal times, and (conv, msgid) is unique, so a group retried after
    // a commit whose answer was lost stores nothing twice. Keys compare bytewise (COLLATE "C"),
    // as the loop folded them.
    r#"CREATE TABLE accounts (
        key TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        password TEXT NOT NULL,
        scram_salt BYTEA,
        scram_iterations BIGINT,
        scram_stored_key BYTEA,
        scram_server_key BYTEA,
        email TEXT,
        registered_ms BIGINT NOT NULL
    );
    CREATE TABLE account_certificates (
        fingerprint TEXT COLLATE "C" PRIMARY KEY,
        account TEXT COLLATE "C" NOT NULL REFERENCES accounts(key) ON DELETE CASCADE
    );
    CREATE INDEX account_certificates_by_account ON account_certificates(account);
    CREATE TABLE rooms (
        key TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        founder TEXT NOT NULL,
        registered_ms BIGINT NOT NULL,
        topic TEXT,
        topic_by TEXT,
        topic_ms BIGINT,
        mode_flags TEXT NOT NULL DEFAULT '',
        mode_key TEXT,
        mode_limit BIGINT
    );
    CREATE TABLE room_access (
        room TEXT COLLATE "C" NOT NULL REFERENCES rooms(key) ON DELETE CASCADE,
        list TEXT NOT NULL,
        account TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (room, list, account)
    );
    CREATE TABLE room_bans (
        room TEXT COLLATE "C" NOT NULL REFERENCES rooms(key) ON DELETE CASCADE,
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_ms BIGINT NOT NULL,
        PRIMARY KEY (room, mask)
    );
    CREATE TABLE history (
        seq BIGSERIAL PRIMARY KEY,
        conv TEXT COLLATE "C" NOT NULL,
        time_ms BIGINT NOT NULL,
        msgid TEXT COLLATE "C" NOT NULL,
        kind BIGINT NOT NULL,
        dm_from TEXT COLLATE "C",
        dm_to TEXT COLLATE "C",
        target_name TEXT NOT NULL,
        nick TEXT NOT NULL,
        username TEXT NOT NULL,
        host TEXT NOT NULL,
        account TEXT,
        body TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX history_by_conv_time ON history (conv, time_ms, seq);
    CREATE UNIQUE INDEX history_by_msgid ON history (conv, msgid);
    CREATE INDEX history_by_time ON history (time_ms);
    CREATE INDEX history_by_dm_from ON history (dm_from) WHERE dm_from IS NOT NULL;
    CREATE INDEX history_by_dm_to ON history (dm_to) WHERE dm_to IS NOT NULL;"#,
];

/// The version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// The advisory lock snak's nodes take while they migrate (any number of snak's own).
const MIGRATION_LOCK: i64 = 0x736e_616b_0001;

/// Why the database cannot be used.
#[derive(Debug)]
pub enum Prepared {
    Open(String),
    TooNew(u32),
    /// Tables that are not snak's, and no `snak_schema`.
    Foreign,
}

fn failed(e: postgres::Error) -> Prepared {
    Prepared::Open(super::describe(&e))
}

/// The version the database is at (0: new), after checking it is snak's.
fn version(client: &mut Client) -> Result<u32, Prepared> {
    let ours: bool = client
        .query_one("SELECT to_regclass('snak_schema') IS NOT NULL", &[])
        .map_err(failed)?
        .get(0);
    if !ours {
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .map_err(failed)?
            .get(0);
        return if tables == 0 {
            Ok(0)
        } else {
            Err(Prepared::Foreign)
        };
    }
    let v: Option<i64> = client
        .query_one("SELECT max(version) FROM snak_schema", &[])
        .map_err(failed)?
        .get(0);
    Ok(u32::try_from(v.unwrap_or(0)).unwrap_or(u32::MAX))
}

/// Brings the schema to [`LATEST`].
pub fn prepare(client: &mut Client, now: Millis) -> Result<(), Prepared> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed)?;
    let result = migrate(client, now);
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

fn migrate(client: &mut Client, now: Millis) -> Result<(), Prepared> {
    let from = version(client)?;
    if from > LATEST {
        return Err(Prepared::TooNew(from));
    }
    for v in from + 1..=LATEST {
        let mut tx = client.transaction().map_err(failed)?;
        if v == 1 {
            tx.batch_execute(
                "CREATE TABLE snak_schema (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
            )
            .map_err(failed)?;
        }
        tx.batch_execute(MIGRATIONS[v as usize - 1])
            .map_err(failed)?;
        tx.execute(
            "INSERT INTO snak_schema (version, applied_ms) VALUES ($1, $2)",
            &[&i64::from(v), &now],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        log::info!("store: PostgreSQL schema at version {v}");
    }
    Ok(())
}
