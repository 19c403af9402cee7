//! The chat state without sockets: a recording sink shows who is told what, in the native
//! protocol's words.

use super::*;
use crate::names::NameRules;
use crate::proto::line;
use std::time::Duration;

/// Everything told, as (recipients, native line) pairs.
#[derive(Default)]
struct Record {
    told: Vec<(Vec<ClientId>, String)>,
}

fn render(event: &Event<'_>) -> String {
    let mut out = Vec::new();
    match event {
        // What the native protocol does not show, as IRC writes it.
        Event::Extra(_) => crate::proto::irc::encode(event, "me", "srv", &mut out),
        _ => line::encode(event, "", &mut out),
    }
    String::from_utf8(out)
        .expect("utf-8")
        .trim_end()
        .to_string()
}

impl Sink for Record {
    fn one(&mut self, to: ClientId, _me: &str, event: &Event<'_>) {
        self.told.push((vec![to], render(event)));
    }
    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        let mut ids: Vec<ClientId> = to
            .iter()
            .copied()
            .filter(|&id| Some(id) != except)
            .collect();
        ids.sort_unstable();
        if !ids.is_empty() {
            self.told.push((ids, render(event)));
        }
    }
}

impl Record {
    fn take(&mut self) -> Vec<(Vec<ClientId>, String)> {
        std::mem::take(&mut self.told)
    }
    /// The lines a client was told, in order.
    fn lines_for(&self, id: ClientId) -> Vec<&str> {
        self.told
            .iter()
            .filter(|(to, _)| to.contains(&id))
            .map(|(_, l)| l.as_str())
            .collect()
    }
}

fn hub() -> Hub {
    Hub::new(HubConfig {
        max_file_size: 100,
        quiet_room_size: 3,
        offer_timeout: Duration::from_secs(60),
        ..HubConfig::default()
    })
}

/// A hub with native users 0..n named u0, u1, ... all in the lobby; the record is cleared.
fn with_users(n: usize) -> (Hub, Record, Clock) {
    let (mut h, mut r, now) = (hub(), Record::default(), Clock::now());
    for id in 0..n {
        h.connect_native(id, "127.0.0.1", now, &mut r);
        h.apply(id, Command::Nick(&format!("u{id}")), now, &mut r);
    }
    r.take();
    (h, r, now)
}

fn join(h: &mut Hub, r: &mut Record, id: ClientId, room: &str, now: Clock) {
    let cmd = Command::Join {
        rooms: room,
        keys: None,
    };
    h.apply(id, cmd, now, r);
}

fn say(h: &mut Hub, r: &mut Record, id: ClientId, now: Clock, text: &str) {
    h.apply(
        id,
        Command::SayCurrent {
            kind: MsgKind::Normal,
            text,
        },
        now,
        r,
    );
}

#[test]
fn arrival_greets_and_joins_the_lobby_quietly_for_oneself() {
    let (mut h, mut r) = (hub(), Record::default());
    h.connect_native(0, "127.0.0.1", Clock::now(), &mut r);
    h.connect_native(1, "127.0.0.1", Clock::now(), &mut r);
    assert_eq!(
        r.lines_for(0),
        vec![
        "* Hello, world! This is snak 0.1.0. You are guest-1 in #lobby. Type /help for commands.",
        "* guest-2 joined #lobby",
    ]
    );
    assert_eq!(
        r.lines_for(1).len(),
        1,
        "no join line of one's own: {:?}",
        r.lines_for(1)
    );
    assert_eq!(h.user_count(), 2);
}

#[test]
fn a_room_message_reaches_the_others_once_each() {
    let (mut h, mut r, now) = with_users(3);
    say(&mut h, &mut r, 1, now, "hi");
    assert_eq!(r.take(), vec![(vec![0, 2], "#lobby <u1> hi".to_string())]);
}

#[test]
fn nick_changes_are_unique_without_case_and_told_once_per_peer() {
    let (mut h, mut r, now) = with_users(2);
    join(&mut h, &mut r, 0, "#a", now);
    join(&mut h, &mut r, 1, "#a", now);
    r.take();
    h.apply(1, Command::Nick("U0"), now, &mut r);
    assert_eq!(
        r.take(),
        vec![(vec![1], "! nick-taken U0 is already in use".to_string())]
    );
    h.apply(1, Command::Nick("bee"), now, &mut r);
    // u0 shares two rooms with u1 and hears of it once.
    assert_eq!(
        r.take(),
        vec![(vec![0, 1], "* u1 is now known as bee".to_string())]
    );
    assert!(!h.nick_in_use("u1"));
    assert!(h.nick_in_use("BEE"));
    h.apply(1, Command::Nick("9x"), now, &mut r);
    assert_eq!(
        r.take()[0].1,
        "! bad-nick 9x: a nick cannot start with a digit or -"
    );
}

#[test]
fn direct_messages_name_every_recipient_once() {
    let (mut h, mut r, now) = with_users(3);
    let msg = Command::Message {
        targets: "U1,u2,nobody,u1",
        kind: MsgKind::Normal,
        text: "yo",
    };
    h.apply(0, msg, now, &mut r);
    assert_eq!(
        r.take(),
        vec![
            (vec![0], "! no-such-nick nobody".to_string()),
            (vec![1], "@u1,u2 <u0> yo".to_string()),
            (vec![2], "@u1,u2 <u0> yo".to_string()),
        ]
    );
}

#[test]
fn quiet_rooms_do_not_announce_arrivals() {
    // quiet_room_size is 3 in these tests.
    let (mut h, mut r, now) = with_users(5);
    for id in 0..5 {
        join(&mut h, &mut r, id, "#big", now);
    }
    let told = r.take();
    let joins_told_to_first = told
        .iter()
        .filter(|(to, l)| to.contains(&0) && l.ends_with("joined #big"))
        .count();
    assert_eq!(joins_told_to_first, 3, "{told:?}");
    // The fourth and fifth joiners still see their own join.
    assert!(told.contains(&(vec![4], "* u4 joined #big".to_string())));
}

#[test]
fn parting_moves_the_current_room_and_empty_rooms_vanish() {
    let (mut h, mut r, now) = with_users(1);
    join(&mut h, &mut r, 0, "#x", now);
    assert_eq!(h.room_count(), 2);
    r.take();
    h.apply(
        0,
        Command::Part {
            rooms: None,
            reason: Some("bye"),
        },
        now,
        &mut r,
    );
    assert_eq!(
        r.take(),
        vec![
            (vec![0], "* u0 left #x (bye)".to_string()),
            (vec![0], "= current #lobby".to_string()),
        ]
    );
    assert_eq!(h.room_count(), 1);
    h.apply(
        0,
        Command::Part {
            rooms: Some("#lobby"),
            reason: None,
        },
        now,
        &mut r,
    );
    r.take();
    say(&mut h, &mut r, 0, now, "anyone?");
    assert_eq!(
        r.take(),
        vec![(
            vec![0],
            "! no-room you are in no room; /join #ROOM first".to_string()
        )]
    );
    assert_eq!(h.room_count(), 0);
}

#[test]
fn the_creator_is_operator_and_the_topic_needs_one() {
    let (mut h, mut r, now) = with_users(2);
    join(&mut h, &mut r, 0, "#t", now);
    join(&mut h, &mut r, 1, "#t", now);
    r.take();
    h.apply(
        1,
        Command::Topic {
            room: Some("#t"),
            text: Some("mine"),
        },
        now,
        &mut r,
    );
    assert_eq!(
        r.take(),
        vec![(
            vec![1],
            "! not-operator you are not an operator of #t".to_string()
        )]
    );
    h.apply(
        0,
        Command::Topic {
            room: Some("#t"),
            text: Some("ours"),
        },
        now,
        &mut r,
    );
    assert_eq!(
        r.take(),
        vec![(vec![0, 1], "* u0 set the topic of #t to: ours".to_string())]
    );
}

#[test]
fn leaving_tells_each_peer_once_and_aborts_transfers() {
    let (mut h, mut r, now) = with_users(3);
    join(&mut h, &mut r, 0, "#a", now);
    join(&mut h, &mut r, 1, "#a", now);
    h.apply(
        0,
        Command::Offer {
            to: "u1",
            size: 10,
            name: "f",
        },
        now,
        &mut r,
    );
    r.take();
    h.disconnect(0, Some("gone"), &mut r);
    let told = r.take();
    // Only the end still there is told.
    assert!(
        told.contains(&(vec![1], "% abort 1 u0 disconnected".to_string())),
        "{told:?}"
    );
    assert!(!told.iter().any(|(to, _)| to.contains(&0)));
    assert!(told.contains(&(vec![1, 2], "* u0 quit (gone)".to_string())));
    assert_eq!(told.iter().filter(|(_, l)| l.contains("quit")).count(), 1);
    assert!(!h.nick_in_use("u0"));
    assert!(!h.transfer_active(1));
}

#[test]
fn a_transfer_is_routed_counted_and_finished() {
    let (mut h, mut r, now) = with_users(2);
    h.apply(
        0,
        Command::Offer {
            to: "u1",
            size: 101,
            name: "big",
        },
        now,
        &mut r,
    );
    assert_eq!(
        r.take(),
        vec![(
            vec![0],
            "! file-too-large 101 is over the limit of 100 bytes".to_string()
        )]
    );
    h.apply(
        0,
        Command::Offer {
            to: "u1",
            size: 10,
            name: "a b.txt",
        },
        now,
        &mut r,
    );
    assert_eq!(r.take(), vec![
        (vec![0], "% offered 1 u1 10 a b.txt".to_string()),
        (vec![1], "% offer 1 u0 10 a b.txt\n* u0 offers you \"a b.txt\" (10 bytes): /accept 1 or /decline 1".to_string()),
    ]);
    assert_eq!(
        h.route_data(0, 1, 4, &mut r),
        Route::Refused("the transfer is not accepted yet")
    );
    h.apply(0, Command::Accept(1), now, &mut r);
    assert_eq!(
        r.take(),
        vec![(vec![0], "! no-such-transfer 1".to_string())],
        "only the recipient accepts"
    );
    h.apply(1, Command::Accept(1), now, &mut r);
    r.take();
    assert_eq!(
        h.route_data(1, 1, 4, &mut r),
        Route::Refused("no such transfer of yours")
    );
    assert_eq!(h.route_data(0, 1, 4, &mut r), Route::To(1));
    h.data_forwarded(1, 4, &mut r);
    assert_eq!(h.route_data(0, 1, 6, &mut r), Route::To(1));
    h.data_forwarded(1, 6, &mut r);
    assert_eq!(
        r.take(),
        vec![
            (vec![0], "% done 1".to_string()),
            (vec![1], "% done 1".to_string())
        ]
    );
    assert!(!h.transfer_active(1));
}

#[test]
fn frames_past_the_size_abort_and_offers_expire() {
    let (mut h, mut r, now) = with_users(2);
    h.apply(
        0,
        Command::Offer {
            to: "u1",
            size: 5,
            name: "x",
        },
        now,
        &mut r,
    );
    h.apply(1, Command::Accept(1), now, &mut r);
    r.take();
    assert!(matches!(h.route_data(0, 1, 6, &mut r), Route::Refused(_)));
    assert_eq!(
        r.take(),
        vec![
            (vec![0], "% abort 1 too much data".to_string()),
            (vec![1], "% abort 1 too much data".to_string()),
        ]
    );
    h.apply(
        0,
        Command::Offer {
            to: "u1",
            size: 5,
            name: "y",
        },
        now,
        &mut r,
    );
    r.take();
    assert_eq!(h.next_deadline(), Some(now.mono + Duration::from_secs(60)));
    h.expire(now.mono + Duration::from_secs(59), &mut r);
    assert!(r.take().is_empty());
    h.expire(now.mono + Duration::from_secs(60), &mut r);
    assert_eq!(
        r.take(),
        vec![
            (vec![0], "% expired 2".to_string()),
            (vec![1], "% expired 2".to_string())
        ]
    );
    // The first transfer's idle deadline is still queued; it passes without a word.
    h.expire(now.mono + Duration::from_secs(600), &mut r);
    assert!(r.take().is_empty());
    assert_eq!(h.next_deadline(), None);
}

#[test]
fn clients_that_cannot_take_files_are_not_offered_any() {
    let (mut h, mut r, now) = with_users(1);
    h.register(1, "ircer", "u", "Real Name", "127.0.0.1", Clock::now());
    h.apply(
        0,
        Command::Offer {
            to: "IRCER",
            size: 1,
            name: "x",
        },
        now,
        &mut r,
    );
    // The recipient is told of the offer it cannot take (IRC writes it as a NOTICE).
    let told = ":srv NOTICE me :u0 wanted to send you the file \"x\" (1 bytes); this server has \
                no file links for IRC clients, so the offer was refused. Ask u0 for another way.";
    let mut all = r.take();
    assert_eq!(all.remove(0), (vec![1], told.to_string()));
    assert_eq!(
        all,
        vec![(
            vec![0],
            "! cannot-receive-files ircer uses a client that cannot take files".to_string()
        )]
    );
}

impl Hub {
    /// Every membership points at its member's slot, and roles match members one to one.
    fn assert_consistent(&self) {
        for (room, r) in &self.rooms {
            assert_eq!(r.members.len(), r.roles.len());
            let mut ops: Vec<ClientId> = r
                .members
                .iter()
                .zip(&r.roles)
                .filter(|&(_, &roles)| roles & OP != 0)
                .map(|(&m, _)| m)
                .collect();
            let mut listed = r.ops.clone();
            ops.sort_unstable();
            listed.sort_unstable();
            assert_eq!(ops, listed, "the ops of {}", r.name);
            for (slot, &m) in r.members.iter().enumerate() {
                let u = self.user(m).expect("a member is a user");
                assert_eq!(u.slot_in(room), Some(slot), "{} in {}", u.nick(), r.name);
            }
        }
        for (id, u) in self.users.iter() {
            for m in u.rooms.iter() {
                assert_eq!(self.rooms[m.room as usize].members[m.slot as usize], id);
            }
        }
    }
}

fn msg<'a>(targets: &'a str, text: &'a str) -> Command<'a> {
    Command::Message {
        targets,
        kind: MsgKind::Normal,
        text,
    }
}

#[test]
fn a_message_names_at_most_max_targets_and_each_once() {
    let (mut h, mut r, now) = with_users(3);
    join(&mut h, &mut r, 1, "#big", now);
    join(&mut h, &mut r, 2, "#big", now);
    join(&mut h, &mut r, 0, "#big", now);
    r.take();
    h.apply(0, msg("#big,#BIG,#big,u1", "hi"), now, &mut r);
    let told = r.take();
    assert_eq!(
        told,
        vec![
            (vec![1, 2], "#big <u0> hi".to_string()),
            (vec![1], "@u1 <u0> hi".to_string()),
        ],
        "one copy per room and per nick"
    );
    let many = "#big,".repeat(800);
    h.apply(0, msg(&many, "x"), now, &mut r);
    assert_eq!(
        r.take(),
        vec![(
            vec![0],
            "! too-many-targets a message names at most 4 rooms and nicks; nothing was sent"
                .to_string()
        )]
    );
    // A notice over the limit is dropped without an answer, as IRC wants.
    let notice = Command::Message {
        targets: &many,
        kind: MsgKind::Notice,
        text: "x",
    };
    h.apply(0, notice, now, &mut r);
    assert!(r.take().is_empty());
}

#[test]
fn a_user_is_in_at_most_max_rooms_and_the_server_holds_at_most_max_rooms() {
    let mut h = Hub::new(HubConfig {
        max_rooms_per_user: 3,
        max_rooms: 4,
        ..HubConfig::default()
    });
    let (mut r, now) = (Record::default(), Clock::now());
    h.connect_native(0, "h", now, &mut r);
    h.connect_native(1, "h", now, &mut r);
    for room in ["#a", "#b"] {
        join(&mut h, &mut r, 0, room, now);
    }
    r.take();
    join(&mut h, &mut r, 0, "#c", now);
    assert_eq!(
        r.take(),
        vec![(
            vec![0],
            "! too-many-rooms #c: you are in 3 rooms, the most allowed; /part one first"
                .to_string()
        )],
        "#lobby, #a and #b are three"
    );
    join(&mut h, &mut r, 1, "#d", now);
    r.take();
    join(&mut h, &mut r, 1, "#e", now);
    assert_eq!(
        r.take(),
        vec![(
            vec![1],
            "! too-many-rooms #e: the server holds as many rooms as it can".to_string()
        )]
    );
    assert_eq!(h.room_count(), 4);
}

#[test]
fn membership_stays_consistent_through_joins_parts_kicks_and_quits() {
    // A small deterministic shuffle: users join and leave rooms in a mixed order.
    let (mut h, mut r, now) = with_users(40);
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for _ in 0..3000 {
        let id = next() % 40;
        let room = format!("#r{}", next() % 5);
        match next() % 4 {
            0 | 1 => join(&mut h, &mut r, id, &room, now),
            2 => h.apply(
                id,
                Command::Part {
                    rooms: Some(&room),
                    reason: None,
                },
                now,
                &mut r,
            ),
            _ => {
                let victim = format!("u{}", next() % 40);
                h.apply(0, Command::Oper, now, &mut r);
                let kick = Command::Kick {
                    rooms: &room,
                    nicks: &victim,
                    reason: None,
                };
                h.apply(0, kick, now, &mut r);
            }
        }
        h.assert_consistent();
    }
    for id in (0..40).step_by(3) {
        h.disconnect(id, None, &mut r);
        h.assert_consistent();
    }
}

#[test]
fn a_joiner_of_a_quiet_room_gets_its_ops_itself_and_a_count() {
    // quiet_room_size is 3 in these tests.
    let mut h = hub();
    let (mut r, now) = (Record::default(), Clock::now());
    for id in 0..6 {
        h.register(id, &format!("i{id}"), "u", "r", "h", now);
        join(&mut h, &mut r, id, "#q", now);
    }
    let told: Vec<&str> = r
        .lines_for(5)
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(told[0], "* i5 joined #q");
    let names = ":srv 353 me = #q :@i0 i5\r\n:srv NOTICE me :#q has 4 more members, not listed \
                 on joining; /NAMES #q lists them all\r\n:srv 366 me #q :End of /NAMES list";
    assert_eq!(told[1], names, "{told:?}");
}

#[test]
fn a_rename_is_told_in_quiet_rooms_only_for_their_operators() {
    // quiet_room_size is 3 in these tests; u0 made #q and is its operator.
    let (mut h, mut r, now) = with_users(5);
    for id in 0..5 {
        join(&mut h, &mut r, id, "#q", now);
        h.apply(
            id,
            Command::Part {
                rooms: Some("#lobby"),
                reason: None,
            },
            now,
            &mut r,
        );
    }
    r.take();
    h.apply(4, Command::Nick("plain"), now, &mut r);
    assert_eq!(
        r.take(),
        vec![(vec![4], "* u4 is now known as plain".to_string())]
    );
    h.apply(0, Command::Nick("boss"), now, &mut r);
    assert_eq!(
        r.take(),
        vec![(vec![0, 1, 2, 3, 4], "* u0 is now known as boss".to_string())]
    );
    // Operators come and go in the list a quiet room's joiner is given.
    let changes = [ModeChange::Member(true, Role::Op, "u1")];
    h.apply(
        0,
        Command::RoomMode {
            room: "#q",
            changes: &changes,
        },
        now,
        &mut r,
    );
    h.disconnect(1, None, &mut r);
    h.assert_consistent();
    let changes = [ModeChange::Member(false, Role::Op, "boss")];
    h.apply(
        0,
        Command::RoomMode {
            room: "#q",
            changes: &changes,
        },
        now,
        &mut r,
    );
    h.assert_consistent();
}

#[test]
fn bans_keep_out_and_silence_unless_excepted() {
    let (mut h, mut r, now) = with_users(3);
    join(&mut h, &mut r, 0, "#b", now);
    join(&mut h, &mut r, 1, "#b", now);
    let ban = [ModeChange::List(true, ListMode::Ban, "u*")];
    let cmd = Command::RoomMode {
        room: "#b",
        changes: &ban,
    };
    h.apply(0, cmd, now, &mut r);
    assert!(r
        .take()
        .contains(&(vec![0, 1], "* u0 sets mode +b u*!*@* on #b".to_string())));
    say_in(&mut h, &mut r, 1, "#b", "can I?", now);
    assert_eq!(
        r.take(),
        vec![(vec![1], "! cannot-send #b (you are banned)".to_string())]
    );
    say_in(&mut h, &mut r, 0, "#b", "ops may", now);
    assert_eq!(r.take().len(), 1, "the op speaks though the mask matches");
    join(&mut h, &mut r, 2, "#b", now);
    assert_eq!(r.take(), vec![(vec![2], "! banned #b".to_string())]);
    let except = [ModeChange::List(true, ListMode::Except, "u2!*@*")];
    let cmd = Command::RoomMode {
        room: "#b",
        changes: &except,
    };
    h.apply(0, cmd, now, &mut r);
    r.take();
    join(&mut h, &mut r, 2, "#b", now);
    assert!(r.take().iter().any(|(_, l)| l == "* u2 joined #b"));
}

fn say_in(h: &mut Hub, r: &mut Record, id: ClientId, room: &str, text: &str, now: Clock) {
    h.apply(id, msg(room, text), now, r);
}

#[test]
fn mode_changes_are_applied_once_and_told_once_typed() {
    let (mut h, mut r, now) = with_users(2);
    join(&mut h, &mut r, 0, "#m", now);
    join(&mut h, &mut r, 1, "#m", now);
    r.take();
    let changes = [
        ModeChange::Flag(true, RoomFlag::Moderated),
        ModeChange::Flag(true, RoomFlag::Moderated),
        ModeChange::Member(true, Role::Voice, "U1"),
        ModeChange::Key(Some("k")),
        ModeChange::Flag(false, RoomFlag::Secret),
    ];
    let cmd = Command::RoomMode {
        room: "#m",
        changes: &changes,
    };
    h.apply(0, cmd, now, &mut r);
    assert_eq!(
        r.take(),
        vec![(vec![0, 1], "* u0 sets mode +mvk u1 k on #m".to_string())]
    );
    say_in(&mut h, &mut r, 1, "#m", "voiced", now);
    assert_eq!(r.take(), vec![(vec![0], "#m <u1> voiced".to_string())]);
    h.apply(1, cmd, now, &mut r);
    assert_eq!(
        r.take(),
        vec![(
            vec![1],
            "! not-operator you are not an operator of #m".to_string()
        )]
    );
}

#[test]
fn offers_per_user_are_capped_and_idle_transfers_are_aborted() {
    let mut h = Hub::new(HubConfig {
        max_transfers_per_user: 2,
        transfer_idle: Duration::from_secs(10),
        ..HubConfig::default()
    });
    let (mut r, now) = (Record::default(), Clock::now());
    h.connect_native(0, "h", now, &mut r);
    h.connect_native(1, "h", now, &mut r);
    let offer = Command::Offer {
        to: "guest-2",
        size: 10,
        name: "f",
    };
    for _ in 0..3 {
        h.apply(0, offer, now, &mut r);
    }
    let told = r.take();
    assert_eq!(
        told.last().map(|(_, l)| l.as_str()),
        Some("! too-many-transfers you have 2 offers and transfers open, the most allowed")
    );
    h.apply(1, Command::Accept(1), now, &mut r);
    r.take();
    h.expire(now.mono + Duration::from_secs(5), &mut r);
    assert!(r.take().is_empty());
    assert_eq!(h.route_data(0, 1, 4, &mut r), Route::To(1));
    let later = now.after(Duration::from_secs(8));
    h.apply(0, Command::Help, later, &mut r);
    h.data_forwarded(1, 4, &mut r);
    h.expire(now.mono + Duration::from_secs(12), &mut r);
    assert!(
        r.take().iter().all(|(_, l)| !l.contains("abort 1")),
        "data came at 8 s"
    );
    h.expire(now.mono + Duration::from_secs(19), &mut r);
    assert!(r
        .take()
        .contains(&(vec![0], "% abort 1 idle: no data came in time".to_string())));
    h.disconnect(1, None, &mut r);
    assert!(r
        .take()
        .contains(&(vec![0], "% abort 2 guest-2 disconnected".to_string())));
}

fn nick(h: &mut Hub, r: &mut Record, id: ClientId, new: &str, now: Clock) -> Vec<String> {
    h.apply(id, Command::Nick(new), now, r);
    r.take().into_iter().map(|(_, l)| l).collect()
}

fn joined(h: &mut Hub, r: &mut Record, id: ClientId, room: &str, now: Clock) -> Vec<String> {
    join(h, r, id, room, now);
    r.take().into_iter().map(|(_, l)| l).collect()
}

#[test]
fn utf8_names_compare_per_rfc_8265() {
    let (mut h, mut r, now) = with_users(3);
    assert_eq!(
        nick(&mut h, &mut r, 0, "Søren", now),
        ["* u0 is now known as Søren"]
    );
    // One nick however it is spelled: any case, composed or decomposed.
    assert_eq!(
        nick(&mut h, &mut r, 1, "SØREN", now),
        ["! nick-taken SØREN is already in use"]
    );
    assert_eq!(nick(&mut h, &mut r, 1, "Åse", now).len(), 1);
    assert_eq!(
        nick(&mut h, &mut r, 2, "a\u{30a}se", now),
        ["! nick-taken a\u{30a}se is already in use"]
    );
    // ø is not o: soren is someone else.
    assert_eq!(
        nick(&mut h, &mut r, 2, "soren", now),
        ["* u2 is now known as soren"]
    );
    assert!(h.nick_in_use("søREN") && h.nick_in_use("åSE"));
    assert_eq!(h.user_id("A\u{30a}SE"), Some(1));
    // Rooms too, and a message finds the room by any spelling.
    assert_eq!(
        joined(&mut h, &mut r, 0, "#RødGrød", now),
        ["* Søren joined #RødGrød"]
    );
    assert_eq!(
        joined(&mut h, &mut r, 1, "#rødgrød", now),
        ["* Åse joined #RødGrød"]
    );
    say_in(&mut h, &mut r, 1, "#RØDGRØD", "med fløde", now);
    assert_eq!(r.take(), vec![(vec![0], "#RødGrød <Åse> med fløde".into())]);
    // The keys leave with their owners: the names are free again.
    h.disconnect(0, None, &mut r);
    h.apply(
        1,
        Command::Part {
            rooms: Some("#rødgrød"),
            reason: None,
        },
        now,
        &mut r,
    );
    r.take();
    assert!(!h.nick_in_use("søren"));
    assert_eq!(h.room_count(), 1);
    assert_eq!(
        nick(&mut h, &mut r, 2, "søren", now),
        ["* soren is now known as søren"]
    );
}

#[test]
fn look_alikes_of_names_in_use_are_refused_but_not_ones_own() {
    let (mut h, mut r, now) = with_users(3);
    nick(&mut h, &mut r, 0, "alice", now);
    assert_eq!(
        nick(&mut h, &mut r, 1, "\u{430}lice", now),
        ["! nick-taken \u{430}lice looks like alice, a nick in use"]
    );
    assert_eq!(
        nick(&mut h, &mut r, 1, "rn", now),
        ["* u1 is now known as rn"]
    );
    assert_eq!(
        nick(&mut h, &mut r, 2, "m", now),
        ["! nick-taken m looks like rn, a nick in use"]
    );
    // Its own look-alike is fine, and the look-alike then stands for the same user.
    assert_eq!(
        nick(&mut h, &mut r, 0, "\u{430}lice", now),
        ["* alice is now known as \u{430}lice"]
    );
    assert_eq!(
        nick(&mut h, &mut r, 2, "alice", now),
        ["! nick-taken alice looks like \u{430}lice, a nick in use"]
    );
    assert_eq!(
        h.nick_refusal(9, "ALICE"),
        Some(Fail::NickLooksLike("ALICE", "\u{430}lice"))
    );
    assert_eq!(h.nick_refusal(0, "alice"), None);
    // Rooms: a new room may not look like one that exists; the same room by another
    // spelling is simply joined.
    joined(&mut h, &mut r, 0, "#rust", now);
    assert_eq!(
        joined(&mut h, &mut r, 1, "#ru\u{455}t", now),
        ["! bad-room #ru\u{455}t: looks like #rust, a room that exists; join that or choose another name"]
    );
    assert_eq!(
        joined(&mut h, &mut r, 1, "#RUST", now),
        ["* rn joined #rust"]
    );
    // A secret room is not named to those who may not see it.
    let secret = [ModeChange::Flag(true, RoomFlag::Secret)];
    joined(&mut h, &mut r, 0, "#hidden", now);
    h.apply(
        0,
        Command::RoomMode {
            room: "#hidden",
            changes: &secret,
        },
        now,
        &mut r,
    );
    r.take();
    assert_eq!(
        joined(&mut h, &mut r, 2, "#h\u{456}dden", now),
        ["! bad-room #h\u{456}dden: looks like a room that exists; choose another name"]
    );
    // Once the room is gone its look-alikes are free.
    h.apply(
        0,
        Command::Part {
            rooms: Some("#rust"),
            reason: None,
        },
        now,
        &mut r,
    );
    h.apply(
        1,
        Command::Part {
            rooms: Some("#rust"),
            reason: None,
        },
        now,
        &mut r,
    );
    r.take();
    assert_eq!(
        joined(&mut h, &mut r, 2, "#ru\u{455}t", now),
        ["* u2 joined #ru\u{455}t"]
    );
}

#[test]
fn a_guest_nick_never_looks_like_a_nick_in_use() {
    let (mut h, mut r, now) = (hub(), Record::default(), Clock::now());
    h.connect_native(0, "h", now, &mut r);
    nick(&mut h, &mut r, 0, "guest-l0", now);
    for id in 1..=9 {
        h.connect_native(id, "h", now, &mut r);
    }
    let guests: Vec<&str> = (1..=9).filter_map(|id| h.nick(id)).collect();
    // guest-10 would look like guest-l0 (1 and l share a skeleton): it is skipped.
    assert_eq!(
        guests,
        [
            "guest-2", "guest-3", "guest-4", "guest-5", "guest-6", "guest-7", "guest-8", "guest-9",
            "guest-11"
        ]
    );
}

#[test]
fn the_ascii_rules_refuse_utf8_names_and_compare_ascii_case_only() {
    let mut h = Hub::new(HubConfig {
        names: NameRules::Ascii,
        ..HubConfig::default()
    });
    let (mut r, now) = (Record::default(), Clock::now());
    h.connect_native(0, "h", now, &mut r);
    h.connect_native(1, "h", now, &mut r);
    r.take();
    assert_eq!(
        nick(&mut h, &mut r, 0, "søren", now),
        ["! bad-nick søren: nicks use ASCII letters, digits and - _ [ ] \\ ^ { } | `"]
    );
    assert_eq!(
        joined(&mut h, &mut r, 0, "#rødgrød", now),
        ["! bad-room #rødgrød: room names use ASCII letters, digits and - _ . + !"]
    );
    nick(&mut h, &mut r, 0, "rn", now);
    // No skeletons beyond ASCII case under these rules.
    assert_eq!(
        nick(&mut h, &mut r, 1, "m", now),
        ["* guest-2 is now known as m"]
    );
    assert_eq!(
        nick(&mut h, &mut r, 1, "RN", now),
        ["! nick-taken RN is already in use"]
    );
}

#[test]
fn bans_match_nicks_as_the_rules_fold_them() {
    let (mut h, mut r, now) = with_users(3);
    nick(&mut h, &mut r, 1, "søren", now);
    join(&mut h, &mut r, 0, "#b", now);
    let ban = [ModeChange::List(true, ListMode::Ban, "SØREN")];
    h.apply(
        0,
        Command::RoomMode {
            room: "#b",
            changes: &ban,
        },
        now,
        &mut r,
    );
    assert!(r
        .take()
        .contains(&(vec![0], "* u0 sets mode +b SØREN!*@* on #b".to_string())));
    assert_eq!(joined(&mut h, &mut r, 1, "#b", now), ["! banned #b"]);
    // The same mask in another case is the same entry: it is removed, not added.
    let unban = [ModeChange::List(false, ListMode::Ban, "søren!*@*")];
    h.apply(
        0,
        Command::RoomMode {
            room: "#b",
            changes: &unban,
        },
        now,
        &mut r,
    );
    assert!(r
        .take()
        .contains(&(vec![0], "* u0 sets mode -b søren!*@* on #b".to_string())));
    assert_eq!(joined(&mut h, &mut r, 1, "#b", now), ["* søren joined #b"]);
}

#[test]
fn a_reload_keeps_the_name_rules_the_names_are_filed_under() {
    let (mut h, mut r, now) = with_users(1);
    nick(&mut h, &mut r, 0, "Søren", now);
    h.set_config(HubConfig {
        names: NameRules::Ascii,
        max_targets: 2,
        ..HubConfig::default()
    });
    assert_eq!(h.name_rules(), NameRules::Unicode);
    assert!(h.nick_in_use("SØREN"));
}

/// Every user pays for a `User` in the users' table, idle or not.
#[test]
fn a_user_is_64_bytes() {
    let size = std::mem::size_of::<Option<User>>();
    assert!(size <= 64, "User grew to {size} B");
}

/// A user's nick, user name and real name share one allocation with its keys; each reads
/// back as given, after a rename and a new real name too (the parts themselves:
/// `user_names::tests`).
#[test]
fn a_users_names_read_back_from_their_one_allocation() {
    let mut h = hub();
    h.register(1, "Alice", "al", "Alice Liddell", "127.0.0.1", Clock::now());
    let u = h.user(1).expect("registered");
    assert_eq!(
        (u.nick(), u.username(), u.realname(), u.key()),
        ("Alice", "al", "Alice Liddell", "alice")
    );
    let u = h.user_mut(1).expect("registered");
    u.set_nick("Alicia", &NameKeys::new("alicia", "alicia"));
    u.set_realname("");
    assert_eq!(
        (u.nick(), u.username(), u.realname(), u.key()),
        ("Alicia", "al", "", "alicia")
    );
}

/// Users from one address share one copy of its host; it is forgotten with the last of them.
#[test]
fn users_from_one_address_share_its_host() {
    let (mut h, mut r, now) = (hub(), Record::default(), Clock::now());
    h.connect_native(0, "10.0.0.1", now, &mut r);
    h.connect_native(1, "10.0.0.1", now, &mut r);
    h.connect_native(2, "10.0.0.2", now, &mut r);
    let host = |h: &Hub, id| h.user(id).expect("connected").host.clone();
    assert!(std::ptr::eq(&*host(&h, 0), &*host(&h, 1)));
    assert_eq!(&*host(&h, 2), "10.0.0.2");
    h.disconnect(0, None, &mut r);
    assert_eq!(&*host(&h, 1), "10.0.0.1");
    h.disconnect(1, None, &mut r);
    h.disconnect(2, None, &mut r);
    assert_eq!(h.hosts.len(), 0, "no host is kept for users who are gone");
}
