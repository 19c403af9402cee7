//! The native input path: the stream framer (lines, over-long lines, data frames) and the line
//! parser. Demands: never panic, and a stream cut in two parses as the whole does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snak::proto::frame::{replay, Framing, Piece};
use snak::proto::line::{self, Input};

/// What a native connection makes of a stream, as the loop drives the framer.
fn drive(chunks: &[&[u8]], max_line: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut raw = Vec::new();
    replay(chunks, max_line, |piece, state| match piece {
        Piece::Line(l) => match line::parse(l.strip_suffix(b"\r").unwrap_or(l)) {
            Ok(Input::Data { len, .. }) if (1..=65536).contains(&len) => {
                out.push(format!("data {len}"));
                *state = Framing::Raw { left: len };
            }
            other => out.push(format!("{other:?}")),
        },
        Piece::TooLong => out.push("too long".into()),
        Piece::Raw(bytes) => {
            raw.extend_from_slice(bytes);
            if *state == Framing::Lines {
                out.push(format!("raw {:?}", std::mem::take(&mut raw)));
            }
        }
    });
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let max_line = 1 + head as usize;
    let whole = drive(&[rest], max_line);
    let at = (head as usize * 7) % (rest.len() + 1);
    let (a, b) = rest.split_at(at);
    assert_eq!(drive(&[a, b], max_line), whole, "chunking changed the result");
});
