//! The schema and its numbered migrations. `schema_version` holds one row per migration
//! applied; a database is at the highest version listed. Each migration runs in its own
//! transaction with its row, so a crash mid-upgrade leaves the previous version intact.
//! A migration is never edited once released: changes are new migrations at the end.

use rusqlite::{Connection, OptionalExtension};

/// Migration `i + 1` is `MIGRATIONS[i]`.
pub const MIGRATIONS: &[&str] = &[
    // 1: accounts.
    "CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        password TEXT NOT NULL,
        scram_salt BLOB,
        scram_iterations INTEGER,
        scram_stored_key BLOB,
        scram_server_key BLOB,
        email TEXT,
        registered_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE account_certificates (
        fingerprint TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(key) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX account_certificates_by_account ON account_certificates(account);",
    // 2: registered rooms.
    "CREATE TABLE rooms (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        founder TEXT NOT NULL,
        registered_ms INTEGER NOT NULL,
        topic TEXT,
        topic_by TEXT,
        topic_ms INTEGER,
        mode_flags TEXT NOT NULL DEFAULT '',
        mode_key TEXT,
        mode_limit INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE room_access (
        room TEXT NOT NULL REFERENCES rooms(key) ON DELETE CASCADE,
        list TEXT NOT NULL,
        account TEXT NOT NULL,
        PRIMARY KEY (room, list, account)
    ) WITHOUT ROWID;
    CREATE TABLE room_bans (
        room TEXT NOT NULL REFERENCES rooms(key) ON DELETE CASCADE,
        mask TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_ms INTEGER NOT NULL,
        PRIMARY KEY (room, mask)
    ) WITHOUT ROWID;",
    // 3: history. `seq` (the rowid) breaks ties between equal times, so every two messages
    // have one order; `conv` is the room key or the direct pair's key. msgids are found
    // through a 64-bit hash of them: an index of integers is a third the size of one of
    // the ids and compares faster (a collision only costs a second row read).
    "CREATE TABLE history (
        seq INTEGER PRIMARY KEY,
        conv TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        msgid TEXT NOT NULL,
        msgid_hash INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        dm_from TEXT,
        dm_to TEXT,
        target_name TEXT NOT NULL,
        nick TEXT NOT NULL,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        account TEXT,
        text TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX history_by_conv_time ON history(conv, time_ms);
    CREATE INDEX history_by_msgid ON history(msgid_hash);
    CREATE INDEX history_by_dm_from ON history(dm_from) WHERE dm_from IS NOT NULL;
    CREATE INDEX history_by_dm_to ON history(dm_to) WHERE dm_to IS NOT NULL;",
    // 4: history in blocks: one row per conversation and commit group, its lines in one blob
    // (`block.rs` has the format), so a line costs no row and no index entry of its own.
    // Conversations are numbered, so the one index over blocks has small entries (fewer
    // pages for a commit to touch); it serves pages from either end (a block's span is
    // bounded) and holds `lines`, for the count limit. `direct_parties` names a direct
    // conversation's two participants (TARGETS). The rows of migration 3 are packed into
    // blocks by `history::blocks_from_rows` in the same transaction ([`after`]), then dropped.
    "CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE
    );
    CREATE TABLE direct_parties (
        party TEXT NOT NULL,
        conv INTEGER NOT NULL,
        PRIMARY KEY (party, conv)
    ) WITHOUT ROWID;
    CREATE TABLE history_blocks (
        id INTEGER PRIMARY KEY,
        conv INTEGER NOT NULL,
        first_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        data BLOB NOT NULL
    );
    CREATE INDEX history_blocks_by_conv ON history_blocks(conv, last_ms, first_ms, lines);",
];

/// What a migration does beyond its SQL, in its transaction.
fn after(tx: &Connection, version: u32) -> rusqlite::Result<()> {
    if version == 4 {
        super::history::blocks_from_rows(tx)?;
        tx.execute_batch("DROP TABLE history")?;
    }
    Ok(())
}

/// The version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// What a file holds, before migrating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Empty: a new database.
    Fresh,
    Version(u32),
    /// Tables, but no `schema_version`: some other program's database.
    Foreign,
}

pub fn inspect(conn: &Connection) -> rusqlite::Result<Found> {
    let has_version: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if has_version {
        let v: Option<u32> =
            conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
        return Ok(Found::Version(v.unwrap_or(0)));
    }
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    Ok(if tables == 0 {
        Found::Fresh
    } else {
        Found::Foreign
    })
}

/// Brings the database from `from` up to `to` (at most [`LATEST`]), one migration per
/// transaction.
pub fn migrate(conn: &mut Connection, from: u32, to: u32, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            applied_ms INTEGER NOT NULL
        )",
    )?;
    for version in from + 1..=to.min(LATEST) {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[version as usize - 1])?;
        after(&tx, version)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_ms) VALUES (?1, ?2)",
            (version, now_ms),
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(version: u32) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", true).unwrap();
        migrate(&mut c, 0, version, 1).unwrap();
        c
    }

    fn up(c: &mut Connection, to: u32) {
        let Found::Version(v) = inspect(c).unwrap() else {
            panic!("not versioned")
        };
        assert_eq!(v, to - 1);
        migrate(c, v, to, 2).unwrap();
        assert_eq!(inspect(c).unwrap(), Found::Version(to));
    }

    fn count(c: &Connection, table: &str) -> i64 {
        c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn fresh_and_foreign_files() {
        let c = Connection::open_in_memory().unwrap();
        assert_eq!(inspect(&c).unwrap(), Found::Fresh);
        c.execute_batch("CREATE TABLE other (x)").unwrap();
        assert_eq!(inspect(&c).unwrap(), Found::Foreign);
    }

    #[test]
    fn migration_1_from_empty() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, 0, 0, 1).unwrap();
        assert_eq!(inspect(&c).unwrap(), Found::Version(0));
        up(&mut c, 1);
        c.execute(
            "INSERT INTO accounts (key, name, password, registered_ms) VALUES ('a', 'A', 'x', 1)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO account_certificates (fingerprint, account) VALUES ('fp', 'a')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn migration_2_keeps_accounts() {
        let mut c = at(1);
        c.execute(
            "INSERT INTO accounts (key, name, password, registered_ms) VALUES ('a', 'A', 'x', 1)",
            [],
        )
        .unwrap();
        up(&mut c, 2);
        assert_eq!(count(&c, "accounts"), 1);
        c.execute(
            "INSERT INTO rooms (key, name, founder, registered_ms) VALUES ('#r', '#R', 'a', 1)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO room_access (room, list, account) VALUES ('#r', 'o', 'a')",
            [],
        )
        .unwrap();
        // Access rows go with their room.
        c.execute("DELETE FROM rooms", []).unwrap();
        assert_eq!(count(&c, "room_access"), 0);
    }

    #[test]
    fn migration_3_keeps_accounts_and_rooms() {
        let mut c = at(2);
        c.execute_batch(
            "INSERT INTO accounts (key, name, password, registered_ms) VALUES ('a', 'A', 'x', 1);
             INSERT INTO rooms (key, name, founder, registered_ms) VALUES ('#r', '#R', 'a', 1);
             INSERT INTO room_bans (room, mask, set_by, set_ms) VALUES ('#r', '*!*@x', 'a', 1);",
        )
        .unwrap();
        up(&mut c, 3);
        assert_eq!(count(&c, "accounts"), 1);
        assert_eq!(count(&c, "rooms"), 1);
        assert_eq!(count(&c, "room_bans"), 1);
        c.execute(
            "INSERT INTO history (conv, time_ms, msgid, msgid_hash, kind, target_name, nick,
             user, host, text, tags) VALUES ('#r', 1, 'm1', 7, 0, '#R', 'n', 'u', 'h', 'hi', '')",
            [],
        )
        .unwrap();
        assert_eq!(count(&c, "history"), 1);
    }

    #[test]
    fn migration_4_packs_history_rows_into_blocks() {
        let mut c = at(3);
        // 5 000 lines in #r (more than one block holds), two direct lines, one room line at
        // an equal time: every one readable after, in its order.
        let mut sql = String::from("BEGIN;");
        for i in 0..5000 {
            sql.push_str(&format!(
                "INSERT INTO history (conv, time_ms, msgid, msgid_hash, kind, target_name, \
                 nick, user, host, account, text, tags) VALUES ('#r', {t}, 'm{i}', 0, {k}, '#R', \
                 'n', 'u', 'h', {a}, 'hi {i}', '');",
                t = 1000 + i / 2,
                k = i % 5,
                a = if i % 2 == 0 { "'Acct'" } else { "NULL" },
            ));
        }
        sql.push_str(
            "INSERT INTO history (conv, time_ms, msgid, msgid_hash, kind, dm_from, dm_to,
             target_name, nick, user, host, text, tags) VALUES
             (char(10) || 'a' || char(10) || 'b', 5, 'd1', 0, 0, 'b', 'a', 'A', 'bob', 'u', 'h', 'to a', '+t=1'),
             (char(10) || 'a' || char(10) || 'b', 6, 'd2', 0, 1, 'a', 'b', 'B', 'al', 'u', 'h', 'to b', '');
             INSERT INTO accounts (key, name, password, registered_ms) VALUES ('a', 'A', 'x', 1);
             COMMIT;",
        );
        c.execute_batch(&sql).unwrap();
        up(&mut c, 4);
        assert_eq!(count(&c, "accounts"), 1);
        let tables: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'history'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "the per-line table is gone");
        let lines: i64 = c
            .query_row("SELECT SUM(lines) FROM history_blocks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(lines, 5002);
        assert!(count(&c, "history_blocks") >= 3);
        assert_eq!(count(&c, "conversations"), 2);
        assert_eq!(count(&c, "direct_parties"), 2);
        let mut got = Vec::new();
        let mut stmt = c
            .prepare(
                "SELECT c.key, b.data FROM history_blocks b JOIN conversations c
                 ON c.id = b.conv ORDER BY b.id",
            )
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let conv: String = r.get(0).unwrap();
            let data: Vec<u8> = r.get(1).unwrap();
            for l in super::super::block::decode(&data).unwrap() {
                got.push(l.to_message(&conv));
            }
        }
        assert_eq!(got.len(), 5002);
        assert_eq!(got[0].msgid, "d1");
        assert_eq!(
            got[0].target,
            crate::store::Target::Direct {
                from: "b".into(),
                to: "a".into()
            }
        );
        assert_eq!((got[1].msgid.as_str(), got[1].tags.as_str()), ("d2", ""));
        assert_eq!(got[0].tags, "+t=1");
        for (i, m) in got[2..].iter().enumerate() {
            assert_eq!(m.msgid, format!("m{i}"));
            assert_eq!(m.time, 1000 + i as i64 / 2);
            assert_eq!(m.text, format!("hi {i}"));
            assert_eq!(m.sender.account.is_some(), i % 2 == 0);
            assert_eq!(m.kind.code(), i as i64 % 5);
            assert_eq!(m.target, crate::store::Target::Room("#r".into()));
        }
    }

    #[test]
    fn every_migration_has_a_test_above() {
        // Adding migration 5 means adding migration_5_keeps_...: this reminds whoever does.
        assert_eq!(LATEST, 4);
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut c = at(LATEST);
        migrate(&mut c, LATEST, LATEST, 3).unwrap();
        assert_eq!(count(&c, "schema_version"), LATEST as i64);
    }
}
