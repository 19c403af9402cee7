//! The IRC input path: the stream framer at the IRC line limit and `irc_msg::parse`, plus the
//! writers fed with what was parsed. Demands: never panic, chunking does not change the
//! result, and nothing written from parsed text has a line break inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snak::proto::frame::{replay, Piece};
use snak::proto::irc_msg::{self, MAX_LINE_LEN};

fn drive(chunks: &[&[u8]]) -> Vec<String> {
    let mut out = Vec::new();
    replay(chunks, MAX_LINE_LEN, |piece, _| match piece {
        Piece::Line(line) => {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let parsed = irc_msg::parse(line);
            if let Ok(msg) = &parsed {
                // Relaying what a client sent must give exactly one line.
                let mut written = Vec::new();
                let text = msg.params().last().copied().unwrap_or("");
                irc_msg::write_privmsg(&mut written, "n!u@h", msg.command(), text);
                let breaks = written.iter().filter(|&&b| b == b'\n' || b == b'\r');
                assert_eq!(breaks.count(), 2, "one CRLF per written line");
                let _ = msg.tags().count();
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
