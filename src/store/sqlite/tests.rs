//! The SQLite backend under the interface, in memory: every chathistory selector and its
//! edges, TARGETS, retention, rooms and accounts.

use super::*;
use crate::auth::password::{self, HashParams};

fn backend() -> SqliteBackend {
    let load = LoadOptions {
        recent_per_room: 3,
        recent_max_rows: 1000,
        integrity: IntegrityCheck::Quick,
    };
    SqliteBackend::open(&Location::Memory, &load, 0).unwrap().0
}

fn room_msg(room: &str, i: usize, time: Millis) -> HistoryMessage {
    HistoryMessage {
        msgid: format!("{room}-{i}"),
        time,
        sender: Sender {
            nick: "alice".into(),
            user: "a".into(),
            host: "h".into(),
            account: Some("alice".into()),
        },
        target: Target::Room(room.into()),
        target_name: room.to_uppercase(),
        kind: MessageKind::Privmsg,
        text: format!("message {i}"),
        tags: String::new(),
    }
}

fn dm(from: &str, to: &str, i: usize, time: Millis) -> HistoryMessage {
    HistoryMessage {
        msgid: format!("dm-{from}-{to}-{i}"),
        time,
        sender: Sender {
            nick: from.to_uppercase(),
            user: "u".into(),
            host: "h".into(),
            account: None,
        },
        target: Target::Direct {
            from: from.into(),
            to: to.into(),
        },
        target_name: to.to_uppercase(),
        kind: MessageKind::Privmsg,
        text: format!("dm {i}"),
        tags: "+typing=active".into(),
    }
}

fn put(b: &mut SqliteBackend, msgs: &[HistoryMessage]) {
    b.begin().unwrap();
    for m in msgs {
        b.apply(&Write::Message(m.clone())).unwrap();
    }
    b.commit().unwrap();
}

/// Ten messages in #r at times 100, 200, ... 1000, like irctest's.
fn ten() -> (SqliteBackend, Vec<HistoryMessage>) {
    let mut b = backend();
    let msgs: Vec<_> = (0..10)
        .map(|i| room_msg("#r", i, 100 * (i as i64 + 1)))
        .collect();
    put(&mut b, &msgs);
    (b, msgs)
}

fn q(b: &mut SqliteBackend, selector: Selector, limit: usize) -> Vec<HistoryMessage> {
    b.history(&HistoryQuery {
        conversation: Conversation::Room("#r".into()),
        selector,
        limit,
    })
    .unwrap()
    .unwrap()
}

fn id(m: &HistoryMessage) -> Anchor {
    Anchor::MsgId(m.msgid.clone())
}

fn ts(m: &HistoryMessage) -> Anchor {
    Anchor::Time(m.time)
}

#[test]
fn latest() {
    let (mut b, m) = ten();
    assert_eq!(q(&mut b, Selector::Latest(None), 20), m);
    assert_eq!(q(&mut b, Selector::Latest(None), 5), m[5..]);
    assert_eq!(q(&mut b, Selector::Latest(None), 1), m[9..]);
    assert_eq!(q(&mut b, Selector::Latest(Some(id(&m[4]))), 20), m[5..]);
    assert_eq!(q(&mut b, Selector::Latest(Some(ts(&m[4]))), 20), m[5..]);
    // The newest of those after the anchor, not the oldest.
    assert_eq!(q(&mut b, Selector::Latest(Some(id(&m[4]))), 2), m[8..]);
}

#[test]
fn before_and_after() {
    let (mut b, m) = ten();
    assert_eq!(q(&mut b, Selector::Before(id(&m[6])), 20), m[..6]);
    assert_eq!(q(&mut b, Selector::Before(ts(&m[6])), 20), m[..6]);
    assert_eq!(q(&mut b, Selector::Before(ts(&m[6])), 2), m[4..6]);
    assert_eq!(q(&mut b, Selector::After(id(&m[3])), 20), m[4..]);
    assert_eq!(q(&mut b, Selector::After(ts(&m[3])), 20), m[4..]);
    assert_eq!(q(&mut b, Selector::After(ts(&m[3])), 3), m[4..7]);
    // A timestamp between messages.
    assert_eq!(q(&mut b, Selector::Before(Anchor::Time(650)), 20), m[..6]);
    assert_eq!(q(&mut b, Selector::After(Anchor::Time(650)), 20), m[6..]);
}

#[test]
fn between_both_ways() {
    let (mut b, m) = ten();
    for anchor in [id, ts] {
        let (first, last) = (anchor(&m[0]), anchor(&m[9]));
        assert_eq!(
            q(&mut b, Selector::Between(first.clone(), last.clone()), 20),
            m[1..9]
        );
        assert_eq!(
            q(&mut b, Selector::Between(last.clone(), first.clone()), 20),
            m[1..9]
        );
        assert_eq!(
            q(&mut b, Selector::Between(first.clone(), last.clone()), 3),
            m[1..4]
        );
        assert_eq!(q(&mut b, Selector::Between(last, first), 3), m[6..9]);
    }
    // Mixed kinds, and an empty range.
    assert_eq!(
        q(&mut b, Selector::Between(ts(&m[2]), id(&m[5])), 20),
        m[3..5]
    );
    assert_eq!(
        q(&mut b, Selector::Between(id(&m[4]), id(&m[4])), 20),
        vec![]
    );
    assert_eq!(
        q(&mut b, Selector::Between(id(&m[4]), id(&m[5])), 20),
        vec![]
    );
}

#[test]
fn around_includes_the_anchor() {
    let (mut b, m) = ten();
    assert_eq!(q(&mut b, Selector::Around(id(&m[7])), 1), m[7..8]);
    assert_eq!(q(&mut b, Selector::Around(id(&m[7])), 3), m[6..9]);
    assert_eq!(q(&mut b, Selector::Around(id(&m[7])), 4), m[5..9]);
    assert!(q(&mut b, Selector::Around(ts(&m[7])), 3).contains(&m[7]));
    // Near an end, the other side makes up the limit.
    assert_eq!(q(&mut b, Selector::Around(id(&m[9])), 6), m[4..]);
    assert_eq!(q(&mut b, Selector::Around(id(&m[0])), 6), m[..6]);
    assert_eq!(q(&mut b, Selector::Around(id(&m[5])), 100), m);
}

#[test]
fn limit_zero_and_unknown_msgid() {
    let (mut b, m) = ten();
    for s in [
        Selector::Latest(None),
        Selector::Before(id(&m[5])),
        Selector::After(id(&m[5])),
        Selector::Around(id(&m[5])),
        Selector::Between(id(&m[0]), id(&m[9])),
    ] {
        assert_eq!(q(&mut b, s, 0), vec![]);
    }
    let unknown = b
        .history(&HistoryQuery {
            conversation: Conversation::Room("#r".into()),
            selector: Selector::Before(Anchor::MsgId("nope".into())),
            limit: 5,
        })
        .unwrap();
    assert_eq!(unknown, Err(HistoryError::UnknownMsgId("nope".into())));
    // A msgid of another conversation is unknown here: no probing across conversations.
    put(&mut b, &[room_msg("#other", 0, 50)]);
    let other = b
        .history(&HistoryQuery {
            conversation: Conversation::Room("#r".into()),
            selector: Selector::After(Anchor::MsgId("#other-0".into())),
            limit: 5,
        })
        .unwrap();
    assert_eq!(other, Err(HistoryError::UnknownMsgId("#other-0".into())));
    // An empty conversation.
    let none = b
        .history(&HistoryQuery {
            conversation: Conversation::Room("#empty".into()),
            selector: Selector::Latest(None),
            limit: 5,
        })
        .unwrap();
    assert_eq!(none, Ok(vec![]));
}

#[test]
fn equal_timestamps_have_one_order() {
    let mut b = backend();
    let m: Vec<_> = (0..5).map(|i| room_msg("#r", i, 500)).collect();
    put(&mut b, &m);
    assert_eq!(q(&mut b, Selector::Latest(None), 10), m);
    assert_eq!(q(&mut b, Selector::Before(id(&m[2])), 10), m[..2]);
    assert_eq!(q(&mut b, Selector::After(id(&m[2])), 10), m[3..]);
    assert_eq!(
        q(&mut b, Selector::Between(id(&m[0]), id(&m[4])), 10),
        m[1..4]
    );
    assert_eq!(
        q(&mut b, Selector::Between(id(&m[4]), id(&m[0])), 2),
        m[2..4]
    );
    // A timestamp excludes everything at it, both ways.
    assert_eq!(q(&mut b, Selector::Before(Anchor::Time(500)), 10), vec![]);
    assert_eq!(q(&mut b, Selector::After(Anchor::Time(500)), 10), vec![]);
    assert_eq!(q(&mut b, Selector::Latest(Some(Anchor::Time(499))), 10), m);
    assert_eq!(q(&mut b, Selector::Around(Anchor::Time(500)), 3), m[..3]);
}

#[test]
fn limits_are_capped() {
    let mut b = backend();
    let m: Vec<_> = (0..history::MAX_QUERY_ROWS + 5)
        .map(|i| room_msg("#r", i, i as i64))
        .collect();
    put(&mut b, &m);
    assert_eq!(
        q(&mut b, Selector::Latest(None), usize::MAX).len(),
        history::MAX_QUERY_ROWS
    );
    assert_eq!(
        q(&mut b, Selector::Around(id(&m[500])), usize::MAX).len(),
        history::MAX_QUERY_ROWS
    );
}

#[test]
fn direct_messages_belong_to_their_pair() {
    let mut b = backend();
    let ab = [dm("alice", "bob", 0, 10), dm("bob", "alice", 1, 20)];
    let others = [dm("alice", "carol", 2, 15), dm("carol", "bob", 3, 16)];
    let notes = [dm("alice", "alice", 4, 30)];
    put(
        &mut b,
        &[
            ab[0].clone(),
            others[0].clone(),
            others[1].clone(),
            ab[1].clone(),
        ],
    );
    put(&mut b, &notes);
    for pair in [("alice", "bob"), ("bob", "alice")] {
        let got = b
            .history(&HistoryQuery {
                conversation: Conversation::Direct(pair.0.into(), pair.1.into()),
                selector: Selector::Latest(None),
                limit: 10,
            })
            .unwrap()
            .unwrap();
        assert_eq!(got, ab);
    }
    let got = b
        .history(&HistoryQuery {
            conversation: Conversation::Direct("alice".into(), "alice".into()),
            selector: Selector::Latest(None),
            limit: 10,
        })
        .unwrap()
        .unwrap();
    assert_eq!(got, notes);
    // A key with a newline could forge another pair's conversation key: refused.
    b.begin().unwrap();
    let forged = dm("alice\nbob", "x", 9, 1);
    assert_eq!(
        b.apply(&Write::Message(forged)).unwrap_err().kind,
        ErrorKind::Row
    );
    b.rollback();
}

#[test]
fn targets_in_order_within_exclusive_bounds() {
    let mut b = backend();
    put(
        &mut b,
        &[
            room_msg("#one", 0, 100),
            dm("me", "bob", 0, 200),
            room_msg("#two", 0, 300),
            dm("carol", "me", 0, 400),
            room_msg("#hidden", 0, 450),
            dm("bob", "carol", 0, 460),
            dm("me", "me", 0, 470),
        ],
    );
    let t = |b: &mut SqliteBackend, from, to, limit| -> Vec<(TargetId, String, Millis)> {
        b.targets(&TargetsQuery {
            user: "me".into(),
            rooms: vec!["#one".into(), "#two".into(), "#empty".into()],
            from,
            to,
            limit,
        })
        .unwrap()
        .into_iter()
        .map(|t| (t.target, t.name, t.latest))
        .collect()
    };
    let room = |k: &str| TargetId::Room(k.into());
    let peer = |k: &str| TargetId::Peer(k.into());
    assert_eq!(
        t(&mut b, 0, 1000, 100),
        vec![
            (room("#one"), "#ONE".into(), 100),
            (peer("bob"), "BOB".into(), 200),
            (room("#two"), "#TWO".into(), 300),
            (peer("carol"), "CAROL".into(), 400),
            (peer("me"), "ME".into(), 470),
        ]
    );
    let names = |v: Vec<(TargetId, String, Millis)>| -> Vec<Millis> {
        v.into_iter().map(|x| x.2).collect()
    };
    assert_eq!(names(t(&mut b, 0, 1000, 2)), [100, 200]);
    assert_eq!(names(t(&mut b, 100, 1000, 100)), [200, 300, 400, 470]);
    assert_eq!(names(t(&mut b, 100, 400, 100)), [200, 300]);
    // Backwards: counted from the first bound.
    assert_eq!(names(t(&mut b, 1000, 0, 2)), [400, 470]);
    // A conversation whose latest message is outside the window is not listed.
    put(&mut b, &[room_msg("#one", 1, 2000)]);
    assert_eq!(names(t(&mut b, 0, 1000, 100)), [200, 300, 400, 470]);
}

#[test]
fn retention_by_age_in_bounded_rounds() {
    let mut b = backend();
    let n = retention::ROWS_PER_ROUND as usize + 500;
    let old: Vec<_> = (0..n).map(|i| room_msg("#r", i, 1000 + i as i64)).collect();
    let new: Vec<_> = (0..10).map(|i| room_msg("#r", n + i, 1_000_000)).collect();
    put(&mut b, &old);
    put(&mut b, &new);
    let policy = Retention {
        max_age_ms: Some(10_000),
        max_per_target: None,
    };
    let now = 1_000_000 + 5000;
    b.begin().unwrap();
    let r1 = b.retention_round(&policy, now).unwrap();
    assert_eq!((r1.deleted, r1.more), (retention::ROWS_PER_ROUND, true));
    let r2 = b.retention_round(&policy, now).unwrap();
    assert_eq!((r2.deleted, r2.more), (500, false));
    let r3 = b.retention_round(&policy, now).unwrap();
    assert_eq!(r3.deleted, 0);
    b.commit().unwrap();
    assert_eq!(q(&mut b, Selector::Latest(None), 100), new);
}

#[test]
fn retention_by_count_per_target() {
    let mut b = backend();
    let r: Vec<_> = (0..30).map(|i| room_msg("#r", i, i as i64)).collect();
    let s: Vec<_> = (0..5).map(|i| room_msg("#s", i, i as i64)).collect();
    let d: Vec<_> = (0..12).map(|i| dm("a", "b", i, i as i64)).collect();
    put(&mut b, &r);
    put(&mut b, &s);
    put(&mut b, &d);
    let policy = Retention {
        max_age_ms: None,
        max_per_target: Some(10),
    };
    b.begin().unwrap();
    let mut deleted = 0;
    for _ in 0..4 {
        deleted += b.retention_round(&policy, 0).unwrap().deleted;
    }
    b.commit().unwrap();
    assert_eq!(deleted, 20 + 2);
    assert_eq!(q(&mut b, Selector::Latest(None), 100), r[20..]);
    let dms = b
        .history(&HistoryQuery {
            conversation: Conversation::Direct("a".into(), "b".into()),
            selector: Selector::Latest(None),
            limit: 100,
        })
        .unwrap()
        .unwrap();
    assert_eq!(dms, d[2..]);
}

#[test]
fn recent_lines_per_room_for_the_window() {
    let mut b = backend();
    put(
        &mut b,
        &(0..5)
            .map(|i| room_msg("#a", i, 10 + i as i64))
            .collect::<Vec<_>>(),
    );
    put(
        &mut b,
        &(0..2)
            .map(|i| room_msg("#b", i, 100 + i as i64))
            .collect::<Vec<_>>(),
    );
    put(&mut b, &[dm("x", "y", 0, 50)]);
    let got = history::recent_per_room(&b.conn, 3, 1000).unwrap();
    let ids: Vec<&str> = got.iter().map(|m| m.msgid.as_str()).collect();
    // Least recently active room first; oldest first within a room; no DMs.
    assert_eq!(ids, ["#a-2", "#a-3", "#a-4", "#b-0", "#b-1"]);
    let capped = history::recent_per_room(&b.conn, 3, 2).unwrap();
    let ids: Vec<&str> = capped.iter().map(|m| m.msgid.as_str()).collect();
    assert_eq!(
        ids,
        ["#b-0", "#b-1"],
        "the most recently active room wins the cap"
    );
}

fn room() -> RoomRecord {
    RoomRecord {
        key: "#snak".into(),
        name: "#Snak".into(),
        founder: "alice".into(),
        registered: 5,
        topic: Some(Topic {
            text: "hej".into(),
            set_by: "alice!a@h".into(),
            set_at: 6,
        }),
        modes: RoomModes {
            flags: "nt".into(),
            key: Some("sesame".into()),
            limit: Some(20),
        },
        ops: vec!["alice".into(), "bob".into()],
        voices: vec!["carol".into()],
        bans: vec![Ban {
            mask: "*!*@bad".into(),
            set_by: "alice".into(),
            set_at: 7,
        }],
    }
}

#[test]
fn rooms_round_trip_and_change() {
    let mut b = backend();
    b.begin().unwrap();
    b.apply(&Write::RoomRegister(room())).unwrap();
    b.commit().unwrap();
    assert_eq!(rooms::load_all(&b.conn).unwrap(), vec![room()]);

    let mut want = room();
    b.begin().unwrap();
    for w in [
        Write::RoomTopic {
            key: "#snak".into(),
            topic: None,
        },
        Write::RoomModes {
            key: "#snak".into(),
            modes: RoomModes {
                flags: "imnst".into(),
                key: None,
                limit: None,
            },
        },
        Write::RoomFounder {
            key: "#snak".into(),
            founder: "bob".into(),
        },
        Write::RoomAccess {
            key: "#snak".into(),
            list: Access::Op,
            account: "bob".into(),
            add: false,
        },
        Write::RoomAccess {
            key: "#snak".into(),
            list: Access::Voice,
            account: "dave".into(),
            add: true,
        },
        Write::RoomBanRemove {
            key: "#snak".into(),
            mask: "*!*@bad".into(),
        },
        Write::RoomBanAdd {
            key: "#snak".into(),
            ban: Ban {
                mask: "*!*@worse".into(),
                set_by: "bob".into(),
                set_at: 9,
            },
        },
        // Changes to a room that is not registered change nothing.
        Write::RoomAccess {
            key: "#nope".into(),
            list: Access::Op,
            account: "x".into(),
            add: true,
        },
        Write::RoomBanAdd {
            key: "#nope".into(),
            ban: Ban {
                mask: "m".into(),
                set_by: "x".into(),
                set_at: 1,
            },
        },
        Write::RoomTopic {
            key: "#nope".into(),
            topic: None,
        },
    ] {
        b.apply(&w).unwrap();
    }
    b.commit().unwrap();
    want.topic = None;
    want.modes = RoomModes {
        flags: "imnst".into(),
        key: None,
        limit: None,
    };
    want.founder = "bob".into();
    want.ops = vec!["alice".into()];
    want.voices = vec!["carol".into(), "dave".into()];
    want.bans = vec![Ban {
        mask: "*!*@worse".into(),
        set_by: "bob".into(),
        set_at: 9,
    }];
    assert_eq!(rooms::load_all(&b.conn).unwrap(), vec![want]);

    // Registering again replaces everything; dropping removes the lists with the room.
    b.begin().unwrap();
    b.apply(&Write::RoomRegister(room())).unwrap();
    b.commit().unwrap();
    assert_eq!(rooms::load_all(&b.conn).unwrap(), vec![room()]);
    b.begin().unwrap();
    b.apply(&Write::RoomDrop {
        key: "#snak".into(),
    })
    .unwrap();
    b.commit().unwrap();
    assert_eq!(rooms::load_all(&b.conn).unwrap(), vec![]);
    let left: i64 = b
        .conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM room_access) + (SELECT COUNT(*) FROM room_bans)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn accounts_and_certificates() {
    let mut b = backend();
    let hashes = password::hash(&HashParams::cheap(), "sesame").unwrap();
    let alice = AccountName {
        key: "alice".into(),
        name: "Alice".into(),
    };
    let create = Effect::CreateAccount {
        name: alice.clone(),
        hashes: hashes.clone(),
        email: Some("a@example.org".into()),
        registered: 42,
    };
    b.begin().unwrap();
    assert_eq!(b.effect(&create).unwrap(), Applied::Done);
    assert_eq!(b.effect(&create).unwrap(), Applied::Conflict);
    let add = |k: &str, fp: &str| Effect::AddCertificate {
        key: k.into(),
        fingerprint: fp.into(),
    };
    assert_eq!(b.effect(&add("alice", "fp1")).unwrap(), Applied::Done);
    assert_eq!(b.effect(&add("alice", "fp1")).unwrap(), Applied::Done);
    assert_eq!(b.effect(&add("ghost", "fp2")).unwrap(), Applied::Missing);
    b.commit().unwrap();

    let stored = b.account("alice").unwrap().unwrap();
    assert_eq!(stored.name, alice);
    assert!(password::verify(&stored.phc, "sesame"));
    assert_eq!(stored.scram, Some(hashes.scram.clone()));
    assert_eq!(b.account("bob").unwrap(), None);
    assert_eq!(
        b.account_by_certificate("fp1").unwrap(),
        Some(alice.clone())
    );
    assert_eq!(b.account_by_certificate("fp2").unwrap(), None);
    let info = b.account_info("alice").unwrap().unwrap();
    assert_eq!(
        (info.email.as_deref(), info.registered, info.certificates),
        (Some("a@example.org"), 42, vec!["fp1".to_owned()])
    );

    let bob = Effect::CreateAccount {
        name: AccountName {
            key: "bob".into(),
            name: "bob".into(),
        },
        hashes: hashes.clone(),
        email: None,
        registered: 43,
    };
    let new = password::hash(&HashParams::cheap(), "millet").unwrap();
    b.begin().unwrap();
    b.effect(&bob).unwrap();
    assert_eq!(b.effect(&add("bob", "fp1")).unwrap(), Applied::Conflict);
    assert_eq!(
        b.effect(&Effect::SetPassword {
            key: "alice".into(),
            hashes: new.clone()
        })
        .unwrap(),
        Applied::Done
    );
    assert_eq!(
        b.effect(&Effect::SetPassword {
            key: "ghost".into(),
            hashes: new
        })
        .unwrap(),
        Applied::Missing
    );
    b.apply(&Write::AccountEmail {
        key: "alice".into(),
        email: None,
    })
    .unwrap();
    b.commit().unwrap();
    let stored = b.account("alice").unwrap().unwrap();
    assert!(password::verify(&stored.phc, "millet") && !password::verify(&stored.phc, "sesame"));
    assert_eq!(b.account_info("alice").unwrap().unwrap().email, None);

    b.begin().unwrap();
    assert_eq!(
        b.effect(&Effect::DropAccount {
            key: "alice".into()
        })
        .unwrap(),
        Applied::Done
    );
    assert_eq!(
        b.effect(&Effect::DropAccount {
            key: "alice".into()
        })
        .unwrap(),
        Applied::Missing
    );
    b.commit().unwrap();
    assert_eq!(b.account("alice").unwrap(), None);
    assert_eq!(
        b.account_by_certificate("fp1").unwrap(),
        None,
        "certificates go with it"
    );
    assert_eq!(accounts::names(&b.conn).unwrap().len(), 1);
}

#[test]
fn queries_use_the_block_indexes() {
    let b = backend();
    let plan = |sql: &str| -> String {
        let mut stmt = b
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
    };
    for order in ["DESC", "ASC"] {
        let page = plan(&format!(
            "SELECT id, last_ms, data FROM history_blocks WHERE conv = 1 AND last_ms >= 1
             AND last_ms <= 9 AND first_ms <= 5 ORDER BY last_ms {order}"
        ));
        assert!(
            page.contains("history_blocks_by_conv (conv=? AND last_ms>? AND last_ms<?)"),
            "{page}"
        );
        assert!(!page.contains("TEMP B-TREE"), "{page}");
    }
    let total = plan("SELECT SUM(lines) FROM history_blocks WHERE conv = 1");
    assert!(
        total.contains("COVERING INDEX history_blocks_by_conv"),
        "{total}"
    );
    let dms = plan("SELECT conv FROM direct_parties WHERE party = 'a'");
    assert!(dms.contains("PRIMARY KEY (party=?)"), "{dms}");
}

/// A line with a msgid as the hub makes them (its time in it).
fn snak_msg(room: &str, time: Millis) -> HistoryMessage {
    HistoryMessage {
        msgid: format!(
            "{:016x}",
            ((time as u64) << crate::event::MsgId::SEQ_BITS) + 1
        ),
        ..room_msg(room, time as usize, time)
    }
}

#[test]
fn snak_msgids_are_found_through_their_time() {
    let mut b = backend();
    // 400 groups of one line each: 400 blocks, more than a scan of the newest would reach.
    let m: Vec<_> = (0..400)
        .map(|i| snak_msg("#r", 1_000_000 + 1000 * i))
        .collect();
    for x in &m {
        put(&mut b, std::slice::from_ref(x));
    }
    let blocks: i64 = b
        .conn
        .query_row("SELECT COUNT(*) FROM history_blocks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blocks, 400);
    assert_eq!(q(&mut b, Selector::After(id(&m[5])), 2), m[6..8]);
    assert_eq!(q(&mut b, Selector::Before(id(&m[5])), 2), m[3..5]);
    assert_eq!(q(&mut b, Selector::Around(id(&m[3])), 3), m[2..5]);
    assert_eq!(
        q(&mut b, Selector::Between(id(&m[10]), id(&m[399])), 1000),
        m[11..399]
    );
    // An id of snak's form whose time holds no such line is unknown.
    let ghost = format!("{:016x}", (1_000_500u64 << 12) + 7);
    let got = b
        .history(&HistoryQuery {
            conversation: Conversation::Room("#r".into()),
            selector: Selector::After(Anchor::MsgId(ghost.clone())),
            limit: 5,
        })
        .unwrap();
    assert_eq!(got, Err(HistoryError::UnknownMsgId(ghost)));
}

#[test]
fn late_lines_take_their_place_by_time() {
    // Blocks of one conversation may overlap in time (a remote server's lines arriving
    // late, a clock step back): pages still come out in (time, arrival) order.
    let mut b = backend();
    let first: Vec<_> = (0..10)
        .map(|i| room_msg("#r", i, 100 + 10 * i as i64))
        .collect();
    let late = vec![room_msg("#r", 10, 95), room_msg("#r", 11, 150)];
    let newer: Vec<_> = (12..15)
        .map(|i| room_msg("#r", i, 300 + i as i64))
        .collect();
    put(&mut b, &first);
    put(&mut b, &late);
    put(&mut b, &newer);
    let mut all: Vec<HistoryMessage> = first.iter().chain(&late).chain(&newer).cloned().collect();
    // Stable: equal times keep arrival order (#r-5 at 150 came before #r-11).
    all.sort_by_key(|m| m.time);
    assert_eq!(q(&mut b, Selector::Latest(None), 100), all);
    for limit in 1..all.len() {
        assert_eq!(
            q(&mut b, Selector::Latest(None), limit),
            all[all.len() - limit..],
            "latest {limit}"
        );
        assert_eq!(
            q(&mut b, Selector::After(Anchor::Time(0)), limit),
            all[..limit],
            "after {limit}"
        );
    }
    assert_eq!(q(&mut b, Selector::Before(Anchor::Time(160)), 3), all[5..8]);
    assert_eq!(q(&mut b, Selector::After(id(&late[1])), 2), all[8..10]);
}

#[test]
fn a_damaged_block_is_an_error_for_its_query() {
    let (mut b, m) = ten();
    b.debug_sql("UPDATE history_blocks SET data = X'0105FF'");
    let got = b.history(&HistoryQuery {
        conversation: Conversation::Room("#r".into()),
        selector: Selector::Latest(None),
        limit: 5,
    });
    let e = got.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Row);
    assert!(e.message.contains("damaged"), "{e}");
    // The store goes on: other conversations, and new lines, are fine.
    put(&mut b, &[room_msg("#s", 0, 5)]);
    let s = b
        .history(&HistoryQuery {
            conversation: Conversation::Room("#s".into()),
            selector: Selector::Latest(None),
            limit: 5,
        })
        .unwrap()
        .unwrap();
    assert_eq!(s.len(), 1);
    let _ = m;
}

#[test]
fn a_schema_3_database_opens_with_its_history_readable() {
    let dir = std::env::temp_dir().join(format!("snak-schema3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    {
        // The file an older snak left: schema 3, one row per line.
        let mut c = Connection::open(dir.join(crate::store::datadir::DB_FILE)).unwrap();
        schema::migrate(&mut c, 0, 3, 1).unwrap();
        let mut stmt = c
            .prepare(
                "INSERT INTO history (conv, time_ms, msgid, msgid_hash, kind, dm_from, dm_to,
                 target_name, nick, user, host, account, text, tags)
                 VALUES (?1, ?2, ?3, 0, 0, ?4, ?5, ?6, 'alice', 'a', 'h', 'alice', ?7, '')",
            )
            .unwrap();
        for i in 0..20i64 {
            let id = format!("{:016x}", ((100 + i) << 12) as u64);
            stmt.execute(rusqlite::params![
                "#r",
                100 + i,
                id,
                None::<String>,
                None::<String>,
                "#R",
                format!("message {i}")
            ])
            .unwrap();
        }
        stmt.execute(rusqlite::params![
            "\na\nb", 50, "dm1", "a", "b", "B", "hi b"
        ])
        .unwrap();
    }
    let load = LoadOptions {
        recent_per_room: 3,
        recent_max_rows: 1000,
        integrity: IntegrityCheck::Quick,
    };
    let (mut b, snapshot) = SqliteBackend::open(&Location::Dir(dir.clone()), &load, 0).unwrap();
    // An existing file keeps its page size; the checkpoint bound is in bytes all the same.
    assert_eq!(pragma(&b, "page_size"), 4096);
    assert_eq!(pragma(&b, "wal_autocheckpoint"), (32 << 20) / 4096);
    let texts: Vec<&str> = snapshot.recent.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["message 17", "message 18", "message 19"]);
    let anchor = Anchor::MsgId(format!("{:016x}", 105u64 << 12));
    let after: Vec<String> = q(&mut b, Selector::After(anchor), 2)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(after, ["message 6", "message 7"]);
    let dm = b
        .history(&HistoryQuery {
            conversation: Conversation::Direct("b".into(), "a".into()),
            selector: Selector::Latest(None),
            limit: 10,
        })
        .unwrap()
        .unwrap();
    assert_eq!(dm.len(), 1);
    assert_eq!(
        dm[0].target,
        Target::Direct {
            from: "a".into(),
            to: "b".into()
        }
    );
    // New lines go into blocks beside the migrated ones.
    put(&mut b, &[room_msg("#r", 99, 500)]);
    assert_eq!(q(&mut b, Selector::Latest(None), 1)[0].text, "message 99");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

fn pragma(b: &SqliteBackend, name: &str) -> i64 {
    b.conn
        .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_database_has_large_pages_and_a_checkpoint_bound_in_bytes() {
    let dir = std::env::temp_dir().join(format!("snak-pages-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let load = LoadOptions {
        recent_per_room: 3,
        recent_max_rows: 1000,
        integrity: IntegrityCheck::Quick,
    };
    let (mut b, _) = SqliteBackend::open(&Location::Dir(dir.clone()), &load, 0).unwrap();
    assert_eq!(pragma(&b, "page_size"), PAGE_SIZE);
    assert_eq!(pragma(&b, "wal_autocheckpoint"), (32 << 20) / PAGE_SIZE);
    put(&mut b, &[room_msg("#r", 1, 100), dm("a", "b", 2, 101)]);
    drop(b);
    // The file itself (not reopened through the backend: its lock may still be shared with
    // a child another test forks): the same pages, both lines in it.
    let c = Connection::open(dir.join(crate::store::datadir::DB_FILE)).unwrap();
    let page: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page, PAGE_SIZE);
    let lines: i64 = c
        .query_row("SELECT SUM(lines) FROM history_blocks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(lines, 2);
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}
