//! The chat state without sockets: a recording sink shows who is told what, in the native
//! protocol's words.

use super::*;
use crate::proto::line;
use std::time::Duration;

/// Everything told, as (recipients, native line) pairs.
#[derive(Default)]
struct Record {
    told: Vec<(Vec<ClientId>, String)>,
}

fn render(event: &Event<'_>) -> String {
    let mut out = Vec::new();
    line::encode(event, "", &mut out);
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
    assert_eq!(
        r.take(),
        vec![(
            vec![0],
            "! cannot-receive-files ircer uses a client that cannot take files".to_string()
        )]
    );
}
