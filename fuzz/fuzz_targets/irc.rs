//! The IRC input path and the relay path as the server runs them: the stream framer at the IRC
//! line limit, `irc_msg::parse`, the client-only tags kept for relaying, and the event encoder
//! the server calls (`proto::irc::encode_with`) under several capability sets, then the
//! labeled-response wrapper. Demands: never panic; chunking does not change the result; every
//! written line ends in one CRLF with no CR, LF or NUL inside, parses back, is at most 512
//! bytes besides its tags, and carries the client's tags as they were kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snak::event::{Event, Meta, MsgId, MsgKind, Source};
use snak::proto::frame::{replay, Piece};
use snak::proto::irc::{self, caps};
use snak::proto::irc_msg::{self, MAX_BODY_LEN, MAX_LINE_LEN};

const CAP_SETS: [u32; 4] = [
    0,
    caps::TAGS,
    caps::SERVER_TIME | caps::MULTI_PREFIX,
    caps::MESSAGE_TAGS | caps::ECHO_MESSAGE,
];

fn check_lines(out: &[u8], client_tags: &str, tagged: bool) {
    assert!(out.is_empty() || out.ends_with(b"\r\n"), "unterminated output");
    for line in out.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\r\n").expect("every line ends in CRLF");
        assert!(!body.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')));
        let msg = irc_msg::parse(body).expect("a written line parses back");
        let tags_len = msg.raw_tags().map_or(0, |t| t.len() + 2);
        assert!(body.len() - tags_len <= MAX_BODY_LEN, "over 512 bytes");
        if tagged && !client_tags.is_empty() {
            let kept = irc_msg::client_only_tags(msg.raw_tags()).expect("within the limit");
            assert_eq!(kept, client_tags, "client tags as kept");
        }
    }
}

fn relay(msg: &irc_msg::Message<'_>, long_text: bool) {
    let Ok(tags) = irc_msg::client_only_tags(msg.raw_tags()) else {
        return;
    };
    let text = msg.params().last().copied().unwrap_or("");
    let from = Source {
        long_text,
        ..Source::plain(msg.command(), "u", "h")
    };
    let events = [
        Event::RoomMessage {
            meta: Meta {
                id: MsgId(1),
                time_ms: 0,
            },
            from,
            room: "#r",
            kind: MsgKind::Normal,
            text,
            tags: &tags,
        },
        Event::DirectMessage {
            meta: Meta {
                id: MsgId(2),
                time_ms: u64::MAX / 2,
            },
            from,
            to: "bob",
            kind: MsgKind::Action,
            text,
            tags: &tags,
        },
        Event::TopicChanged {
            who: from,
            room: "#r",
            topic: text,
        },
    ];
    for ev in &events {
        for caps in CAP_SETS {
            let mut out = Vec::new();
            irc::encode_with(ev, "bob", "srv", caps, 1_000, &mut out);
            let tagged = caps & caps::MESSAGE_TAGS != 0 && !matches!(ev, Event::TopicChanged { .. });
            check_lines(&out, &tags, tagged);
            let mut labeled = Vec::new();
            irc::label_response(&out, "lbl", "B1", "srv", true, &mut labeled);
            check_lines(&labeled, "", false);
        }
    }
}

fn drive(chunks: &[&[u8]]) -> Vec<String> {
    let mut out = Vec::new();
    replay(chunks, MAX_LINE_LEN, |piece, _| match piece {
        Piece::Line(line) => {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let parsed = irc_msg::parse(line);
            if let Ok(msg) = &parsed {
                let _ = msg.tags().count();
                relay(msg, false);
                relay(msg, true);
            }
            out.push(format!("{parsed:?}"));
        }
        Piece::TooLong => out.push("too long".into()),
        Piece::Raw(_) => unreachable!(),
    });
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = drive(&[data]);
    let at = data.first().map_or(0, |&b| b as usize * 31) % (data.len() + 1);
    let (a, b) = data.split_at(at);
    assert_eq!(drive(&[a, b]), whole, "chunking changed the result");
});
