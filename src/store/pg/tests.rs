//! The PostgreSQL backend under the interface, against a real server of the test's own, and
//! against the SQLite backend: the same lines and records put into both, the same queries
//! asked of both, the same answers expected. Then what only a shared database has: two
//! connections racing for one name, a server that goes away and comes back.

#[path = "../../../tests/common/pg.rs"]
#[allow(dead_code)]
mod server;

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::auth::password::{self, HashParams};
use crate::store::sqlite::{IntegrityCheck, Location, SqliteBackend};

const LOAD: LoadOptions = LoadOptions {
    recent_per_room: 3,
    recent_max_rows: 1000,
    integrity: IntegrityCheck::Quick,
};

/// A server and a fresh database on it; None (the test recorded as skipped) without the
/// binaries.
fn server(test: &str) -> Option<(server::Pg, String)> {
    if server::pg_bin().is_none() {
        crate::store::tests::skip(&format!("store::pg::tests::{test}"), server::MISSING);
        return None;
    }
    static N: AtomicUsize = AtomicUsize::new(0);
    let pg = server::Pg::start(test);
    let db = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
    pg.create_db(&db);
    let url = pg.url(&db);
    Some((pg, url))
}

fn both(url: &str) -> (PgBackend, SqliteBackend) {
    let pg = PgBackend::open(url, &LOAD, 0).unwrap().0;
    let lite = SqliteBackend::open(&Location::Memory, &LOAD, 0).unwrap().0;
    (pg, lite)
}

fn line(conv: &Target, i: usize, time: Millis) -> HistoryMessage {
    let (target_name, account) = match conv {
        Target::Room(r) => (
            r.to_uppercase(),
            i.is_multiple_of(3).then(|| "alice".to_string()),
        ),
        Target::Direct { to, .. } => (to.to_uppercase(), None),
    };
    HistoryMessage {
        msgid: format!("m{i:05}"),
        time,
        sender: Sender {
            nick: format!("nick{}", i % 4),
            user: "u".into(),
            host: "h".into(),
            account,
        },
        target: conv.clone(),
        target_name,
        kind: [
            MessageKind::Privmsg,
            MessageKind::Notice,
            MessageKind::Action,
        ][i % 3],
        text: format!("line {i} ✓"),
        tags: if i.is_multiple_of(5) {
            "+draft/react=x".into()
        } else {
            String::new()
        },
    }
}

fn put(b: &mut impl Backend, lines: &[HistoryMessage]) {
    b.begin().unwrap();
    let mut batch = LineBatch::new();
    for m in lines {
        batch.push(&m.parts());
    }
    assert_eq!(b.apply_lines(&batch).unwrap(), 0);
    b.commit().unwrap();
}

/// Lines in two rooms and three direct conversations, with equal times, a clock step back
/// and lines out of order: what every selector is asked over.
fn corpus() -> Vec<Vec<HistoryMessage>> {
    let convs = [
        Target::Room("#a".into()),
        Target::Room("#b".into()),
        Target::Direct {
            from: "alice".into(),
            to: "bob".into(),
        },
        Target::Direct {
            from: "bob".into(),
            to: "alice".into(),
        },
        Target::Direct {
            from: "carol".into(),
            to: "alice".into(),
        },
    ];
    let mut groups = Vec::new();
    let mut i = 0;
    for g in 0..6 {
        let mut group = Vec::new();
        for n in 0..40 {
            let conv = &convs[(n + g) % convs.len()];
            // Times repeat (n / 3), and group 3 steps back.
            let base = if g == 3 { 500 } else { 1000 * g as i64 };
            group.push(line(conv, i, base + (n / 3) as i64 * 10));
            i += 1;
        }
        groups.push(group);
    }
    groups
}

#[test]
fn every_selector_answers_as_sqlite_does() {
    let Some((_pg, url)) = server("every_selector_answers_as_sqlite_does") else {
        return;
    };
    let (mut pg, mut lite) = both(&url);
    let groups = corpus();
    for g in &groups {
        put(&mut pg, g);
        put(&mut lite, g);
    }
    let all: Vec<&HistoryMessage> = groups.iter().flatten().collect();
    let conversations = [
        Conversation::Room("#a".into()),
        Conversation::Room("#b".into()),
        Conversation::Direct("bob".into(), "alice".into()),
        Conversation::Direct("alice".into(), "carol".into()),
        Conversation::Room("#none".into()),
    ];
    let mut anchors = vec![
        Anchor::Time(0),
        Anchor::Time(505),
        Anchor::Time(1010),
        Anchor::Time(2000),
        Anchor::Time(99_999),
        Anchor::MsgId("nope".into()),
    ];
    for m in all.iter().step_by(7) {
        anchors.push(Anchor::MsgId(m.msgid.clone()));
        anchors.push(Anchor::Time(m.time));
    }
    let mut asked = 0;
    let mut answered = 0;
    for conv in &conversations {
        for limit in [0, 1, 3, 10, 1000] {
            let mut selectors = vec![Selector::Latest(None)];
            for a in &anchors {
                selectors.push(Selector::Latest(Some(a.clone())));
                selectors.push(Selector::Before(a.clone()));
                selectors.push(Selector::After(a.clone()));
                selectors.push(Selector::Around(a.clone()));
            }
            for pair in anchors.windows(2).step_by(3) {
                selectors.push(Selector::Between(pair[0].clone(), pair[1].clone()));
                selectors.push(Selector::Between(pair[1].clone(), pair[0].clone()));
            }
            for selector in selectors {
                let q = HistoryQuery {
                    conversation: conv.clone(),
                    selector,
                    limit,
                };
                let want = lite.history(&q).unwrap();
                let got = pg.history(&q).unwrap();
                assert_eq!(got, want, "{q:?}");
                asked += 1;
                if want.as_ref().is_ok_and(|v| !v.is_empty()) {
                    answered += 1;
                }
            }
        }
    }
    // The comparison compared something.
    assert!(asked > 1000 && answered > asked / 3, "{asked} {answered}");
    for user in ["alice", "bob", "carol", "dave"] {
        for (from, to, limit) in [(0, 99_999, 10), (99_999, 0, 2), (600, 5000, 1), (0, 1, 5)] {
            let q = TargetsQuery {
                user: user.into(),
                rooms: vec!["#a".into(), "#b".into(), "#none".into()],
                from,
                to,
                limit,
            };
            assert_eq!(pg.targets(&q).unwrap(), lite.targets(&q).unwrap(), "{q:?}");
        }
    }
    // At start: the same recent lines per room.
    let (_, pg_snap) = PgBackend::open(&url, &LOAD, 0).unwrap();
    assert_eq!(pg_snap.recent.len(), 6);
    let mut lines = LineBatch::new();
    for m in &pg_snap.recent {
        lines.push(&m.parts());
    }
    let want: Vec<_> = {
        let mut w = Vec::new();
        for room in ["#a", "#b"] {
            let q = HistoryQuery {
                conversation: Conversation::Room(room.into()),
                selector: Selector::Latest(None),
                limit: 3,
            };
            w.extend(lite.history(&q).unwrap().unwrap());
        }
        w
    };
    let mut got = pg_snap.recent.clone();
    got.sort_by(|a, b| a.msgid.cmp(&b.msgid));
    let mut want = want;
    want.sort_by(|a, b| a.msgid.cmp(&b.msgid));
    assert_eq!(got, want);
}

#[test]
fn rows_refused_cost_only_themselves() {
    let Some((_pg, url)) = server("rows_refused_cost_only_themselves") else {
        return;
    };
    let (mut pg, _) = both(&url);
    let room = Target::Room("#a".into());
    let mut bad = line(&room, 1, 10);
    bad.text = "nul \0 byte".into();
    let mut batch = LineBatch::new();
    batch.push(&line(&room, 0, 5).parts());
    batch.push(&bad.parts());
    batch.push(&line(&room, 2, 20).parts());
    pg.begin().unwrap();
    assert_eq!(pg.apply_lines(&batch).unwrap(), 1);
    // A room write the database refuses (a founder's account holding a NUL) leaves the
    // group usable, and so does one that breaks a constraint below the interface.
    let e = pg
        .apply(&Write::RoomFounder {
            key: "#a".into(),
            founder: "x\0".into(),
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Row);
    assert!(pg.in_group());
    pg.debug_sql("CREATE TABLE IF NOT EXISTS probe (x BIGINT CHECK (x > 0))");
    let e = pg
        .write(|db| db.exec("INSERT INTO probe VALUES (-1)", &[]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Row, "{e}");
    assert!(pg.in_group());
    // The same lines again (a retried group) are not stored twice.
    assert_eq!(pg.apply_lines(&batch).unwrap(), 1);
    pg.commit().unwrap();
    let q = HistoryQuery {
        conversation: Conversation::Room("#a".into()),
        selector: Selector::Latest(None),
        limit: 10,
    };
    let got = pg.history(&q).unwrap().unwrap();
    assert_eq!(
        got.iter().map(|m| m.msgid.as_str()).collect::<Vec<_>>(),
        ["m00000", "m00002"]
    );
}

fn room_record() -> RoomRecord {
    RoomRecord {
        key: "#rust".into(),
        name: "#Rust".into(),
        founder: "alice".into(),
        registered: 1_700_000_000_000,
        topic: Some(Topic {
            text: "crabs".into(),
            set_by: "alice!a@h".into(),
            set_at: 1_700_000_001_000,
        }),
        modes: RoomModes {
            flags: "nt".into(),
            key: Some("k".into()),
            limit: Some(10),
        },
        ops: vec!["alice".into(), "bob".into()],
        voices: vec!["carol".into()],
        bans: vec![Ban {
            mask: "eve!*@*".into(),
            set_by: "alice".into(),
            set_at: 5,
        }],
    }
}

#[test]
fn accounts_and_rooms_keep_as_in_sqlite() {
    let Some((_pg, url)) = server("accounts_and_rooms_keep_as_in_sqlite") else {
        return;
    };
    let (mut pg, mut lite) = both(&url);
    let hashes = password::hash(&HashParams::cheap(), "sesame").unwrap();
    let new = password::hash(&HashParams::cheap(), "millet").unwrap();
    let alice = AccountName {
        key: "alice".into(),
        name: "Alice".into(),
    };
    let effects = [
        Effect::CreateAccount {
            name: alice.clone(),
            hashes: hashes.clone(),
            email: Some("a@example.org".into()),
            registered: 7,
        },
        Effect::CreateAccount {
            name: alice.clone(),
            hashes: hashes.clone(),
            email: None,
            registered: 8,
        },
        Effect::CreateAccount {
            name: AccountName {
                key: "bob".into(),
                name: "bob".into(),
            },
            hashes: hashes.clone(),
            email: None,
            registered: 9,
        },
        Effect::SetPassword {
            key: "alice".into(),
            hashes: new.clone(),
        },
        Effect::SetPassword {
            key: "nobody".into(),
            hashes: new.clone(),
        },
        Effect::AddCertificate {
            key: "alice".into(),
            fingerprint: "fp1".into(),
        },
        Effect::AddCertificate {
            key: "alice".into(),
            fingerprint: "fp1".into(),
        },
        Effect::AddCertificate {
            key: "bob".into(),
            fingerprint: "fp1".into(),
        },
        Effect::AddCertificate {
            key: "nobody".into(),
            fingerprint: "fp2".into(),
        },
        Effect::AddCertificate {
            key: "bob".into(),
            fingerprint: "fp3".into(),
        },
        Effect::DropAccount { key: "bob".into() },
        Effect::DropAccount { key: "bob".into() },
    ];
    let writes = [
        Write::AccountEmail {
            key: "alice".into(),
            email: Some("new@example.org".into()),
        },
        Write::AccountCertRemove {
            key: "alice".into(),
            fingerprint: "fp9".into(),
        },
        Write::RoomRegister(room_record()),
        Write::RoomTopic {
            key: "#rust".into(),
            topic: None,
        },
        Write::RoomModes {
            key: "#rust".into(),
            modes: RoomModes {
                flags: "s".into(),
                key: None,
                limit: None,
            },
        },
        Write::RoomAccess {
            key: "#rust".into(),
            list: Access::Voice,
            account: "dave".into(),
            add: true,
        },
        Write::RoomAccess {
            key: "#rust".into(),
            list: Access::Op,
            account: "bob".into(),
            add: false,
        },
        Write::RoomAccess {
            key: "#gone".into(),
            list: Access::Op,
            account: "bob".into(),
            add: true,
        },
        Write::RoomBanAdd {
            key: "#rust".into(),
            ban: Ban {
                mask: "eve!*@*".into(),
                set_by: "bob".into(),
                set_at: 6,
            },
        },
        Write::RoomBanAdd {
            key: "#rust".into(),
            ban: Ban {
                mask: "mallory!*@*".into(),
                set_by: "bob".into(),
                set_at: 7,
            },
        },
        Write::RoomBanRemove {
            key: "#rust".into(),
            mask: "mallory!*@*".into(),
        },
        Write::RoomFounder {
            key: "#rust".into(),
            founder: "carol".into(),
        },
        Write::RoomRegister(RoomRecord {
            key: "#other".into(),
            name: "#Other".into(),
            ..room_record()
        }),
        Write::RoomDrop {
            key: "#other".into(),
        },
    ];
    for b in [&mut pg as &mut dyn Backend, &mut lite as &mut dyn Backend] {
        b.begin().unwrap();
    }
    for e in &effects {
        assert_eq!(pg.effect(e).unwrap(), lite.effect(e).unwrap(), "{e:?}");
    }
    for w in &writes {
        pg.apply(w).unwrap();
        lite.apply(w).unwrap();
    }
    pg.commit().unwrap();
    lite.commit().unwrap();
    for key in ["alice", "bob", "nobody"] {
        assert_eq!(pg.account(key).unwrap(), lite.account(key).unwrap());
        assert_eq!(
            pg.account_info(key).unwrap(),
            lite.account_info(key).unwrap()
        );
    }
    for fp in ["fp1", "fp2", "fp3"] {
        assert_eq!(
            pg.account_by_certificate(fp).unwrap(),
            lite.account_by_certificate(fp).unwrap()
        );
    }
    let stored = pg.account("alice").unwrap().unwrap();
    assert!(password::verify(&stored.phc, "millet"));
    assert_eq!(stored.scram, Some(new.scram.clone()));
    // At start: what SQLite has at start.
    let (_, pg_snap) = PgBackend::open(&url, &LOAD, 0).unwrap();
    let dir = crate::store::tests::TempPath::new("pg-compare");
    let (mut on_disk, _) = SqliteBackend::open(&Location::Dir(dir.0.clone()), &LOAD, 0).unwrap();
    on_disk.begin().unwrap();
    for e in &effects {
        on_disk.effect(e).unwrap();
    }
    for w in &writes {
        on_disk.apply(w).unwrap();
    }
    on_disk.commit().unwrap();
    drop(on_disk);
    let (_, lite_snap) = SqliteBackend::open(&Location::Dir(dir.0.clone()), &LOAD, 0).unwrap();
    assert_eq!(pg_snap, lite_snap);
    assert_eq!(
        pg.records().unwrap(),
        (pg_snap.accounts.clone(), pg_snap.rooms.clone())
    );
    assert_eq!(pg_snap.rooms.len(), 1);
    assert_eq!(pg_snap.accounts, vec![alice]);
}

#[test]
fn a_name_raced_for_on_two_connections_goes_to_one() {
    let Some((_pg, url)) = server("a_name_raced_for_on_two_connections_goes_to_one") else {
        return;
    };
    let hashes = password::hash(&HashParams::cheap(), "sesame").unwrap();
    let create = |registered| Effect::CreateAccount {
        name: AccountName {
            key: "zed".into(),
            name: "Zed".into(),
        },
        hashes: hashes.clone(),
        email: None,
        registered,
    };
    let mut a = PgBackend::open(&url, &LOAD, 0).unwrap().0;
    let mut b = PgBackend::open(&url, &LOAD, 0).unwrap().0;
    a.begin().unwrap();
    assert_eq!(a.effect(&create(1)).unwrap(), Applied::Done);
    // B's group asks while A's is open: it waits for A's commit inside its own transaction,
    // then finds the name taken.
    let second = create(2);
    let racer = std::thread::spawn(move || {
        b.begin().unwrap();
        let applied = b.effect(&second).unwrap();
        b.commit().unwrap();
        applied
    });
    // B is waiting on A's row lock (seen from a third connection), not done.
    let mut watch = PgBackend::open(&url, &LOAD, 0).unwrap().0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = watch
            .read(|db| {
                db.query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                     AND datname = current_database()",
                    &[],
                )
                .map_err(pg_error)
            })
            .unwrap()
            .is_some();
        if waiting {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second insert never waited"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    a.commit().unwrap();
    assert_eq!(racer.join().unwrap(), Applied::Conflict);
    let info = a.account_info("zed").unwrap().unwrap();
    assert_eq!(info.registered, 1);
}

#[test]
fn a_server_away_is_a_medium_error_and_its_return_is_seen() {
    let Some((mut server, url)) = server("a_server_away_is_a_medium_error_and_its_return_is_seen")
    else {
        return;
    };
    let (mut pg, _) = both(&url);
    put(&mut pg, &[line(&Target::Room("#a".into()), 0, 1)]);
    server.stop();
    // BEGIN may still seem to work (the client learns of the close when it next reads); the
    // write after it cannot.
    let mut batch = LineBatch::new();
    batch.push(&line(&Target::Room("#a".into()), 1, 2).parts());
    let e = match pg.begin() {
        Ok(()) => pg.apply_lines(&batch).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.kind, ErrorKind::Medium, "{e}");
    assert!(!pg.in_group());
    pg.rollback();
    let e = pg.account("alice").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Medium, "{e}");
    server.restart();
    // Reconnection is tried at most every RECONNECT_EVERY: bounded wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pg.begin().is_err() {
        assert!(std::time::Instant::now() < deadline, "never reconnected");
        std::thread::sleep(RECONNECT_EVERY / 2);
    }
    assert_eq!(pg.apply_lines(&batch).unwrap(), 0);
    pg.commit().unwrap();
    let q = HistoryQuery {
        conversation: Conversation::Room("#a".into()),
        selector: Selector::Latest(None),
        limit: 10,
    };
    assert_eq!(pg.history(&q).unwrap().unwrap().len(), 2);
}

#[test]
fn retention_by_age_and_by_count() {
    let Some((_pg, url)) = server("retention_by_age_and_by_count") else {
        return;
    };
    let (mut pg, _) = both(&url);
    let a = Target::Room("#a".into());
    let b = Target::Room("#b".into());
    let lines: Vec<_> = (0..30)
        .map(|i| line(if i % 2 == 0 { &a } else { &b }, i, i as i64 * 100))
        .collect();
    put(&mut pg, &lines);
    let count = |pg: &mut PgBackend, room: &str| {
        pg.history(&HistoryQuery {
            conversation: Conversation::Room(room.into()),
            selector: Selector::Latest(None),
            limit: 1000,
        })
        .unwrap()
        .unwrap()
    };
    pg.begin().unwrap();
    let policy = Retention {
        max_age_ms: Some(1000),
        max_per_target: None,
    };
    let r = pg.retention_round(&policy, 2000).unwrap();
    pg.commit().unwrap();
    // Lines before 1000 go: times 0..=900, ten of them.
    assert_eq!(r.deleted, 10);
    assert!(count(&mut pg, "#a").iter().all(|m| m.time >= 1000));
    pg.begin().unwrap();
    let policy = Retention {
        max_age_ms: None,
        max_per_target: Some(4),
    };
    let r = pg.retention_round(&policy, 2000).unwrap();
    pg.commit().unwrap();
    assert_eq!(r.deleted, 12);
    let left = count(&mut pg, "#b");
    assert_eq!(
        left.iter().map(|m| m.time).collect::<Vec<_>>(),
        [2300, 2500, 2700, 2900]
    );
    assert_eq!(count(&mut pg, "#a").len(), 4);
}

#[test]
fn what_cannot_be_opened_says_why() {
    let Some((server, url)) = server("what_cannot_be_opened_says_why") else {
        return;
    };
    let down = "postgres://snak@127.0.0.1:1/x";
    let e = PgBackend::open(down, &LOAD, 0).err().unwrap();
    assert!(matches!(e, OpenError::Postgres { .. }), "{e}");
    assert!(e.to_string().contains("cannot connect"), "{e}");
    let e = PgBackend::open(&server.url("missing"), &LOAD, 0)
        .err()
        .unwrap();
    assert!(e.to_string().contains("missing"), "{e}");
    server.create_db("alien");
    server.sql("alien", "CREATE TABLE theirs (x int)");
    let e = PgBackend::open(&server.url("alien"), &LOAD, 0)
        .err()
        .unwrap();
    assert!(matches!(e, OpenError::NotSnak { .. }), "{e}");
    drop(PgBackend::open(&url, &LOAD, 0).unwrap());
    server.sql(
        url.rsplit('/').next().unwrap(),
        "INSERT INTO snak_schema VALUES (99, 0)",
    );
    let e = PgBackend::open(&url, &LOAD, 0).err().unwrap();
    assert!(matches!(e, OpenError::TooNew { found: 99, .. }), "{e}");
    // The password never shows.
    assert_eq!(
        shown_url("postgres://u:secret@h:5/db"),
        "postgres://u@h:5/db"
    );
}
