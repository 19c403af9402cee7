//! Cutting an input stream into pieces (pure): lines, and the raw bytes of data frames.
//!
//! The framer never buffers: it looks at what has arrived and says what the next piece is and
//! how many bytes it used, or that it needs more input. The caller keeps unused bytes and the
//! [`Framing`] state between reads, so a stream chunked any way yields the same pieces.

/// Where a connection is in its input stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Lines,
    /// The rest of an over-long line is being dropped.
    DiscardLine,
    /// Inside a data frame with `left` raw bytes to go.
    Raw {
        left: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A complete line without its `\n` or `\r\n`.
    Line(&'a [u8]),
    /// A line longer than the limit; reported once, its bytes dropped.
    TooLong,
    /// Bytes of the current data frame (possibly not all of them yet).
    Raw(&'a [u8]),
}

/// The next piece of `buf` and the bytes it used, or None when more input is needed. Bytes
/// that are only dropped (the tail of an over-long line) are used without a piece: `(None, n)`.
pub fn next_piece<'a>(
    state: &mut Framing,
    buf: &'a [u8],
    max_line: usize,
) -> (Option<Piece<'a>>, usize) {
    if buf.is_empty() {
        return (None, 0);
    }
    match *state {
        Framing::Lines => match memchr::memchr(b'\n', buf) {
            Some(i) => {
                let line = &buf[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let piece = if line.len() > max_line {
                    Piece::TooLong
                } else {
                    Piece::Line(line)
                };
                (Some(piece), i + 1)
            }
            // One byte of slack: a `\r` may still come before the `\n`.
            None if buf.len() > max_line + 1 => {
                *state = Framing::DiscardLine;
                (Some(Piece::TooLong), buf.len())
            }
            None => (None, 0),
        },
        Framing::DiscardLine => match memchr::memchr(b'\n', buf) {
            Some(i) => {
                *state = Framing::Lines;
                (None, i + 1)
            }
            None => (None, buf.len()),
        },
        Framing::Raw { left } => {
            let take = (left.min(buf.len() as u64)) as usize;
            let left = left - take as u64;
            *state = if left == 0 {
                Framing::Lines
            } else {
                Framing::Raw { left }
            };
            (Some(Piece::Raw(&buf[..take])), take)
        }
    }
}

/// Feeds a stream that arrives in `chunks` through the framer the way the event loop does,
/// keeping unused bytes from one chunk to the next, and hands each piece to `each`, which may
/// change the framing (to `Raw` after a data frame header). The loop itself cannot use this:
/// it stops mid-stream when a connection is paused. Tests and fuzz targets use it to check that
/// however a stream is chunked, the same pieces come out.
pub fn replay(chunks: &[&[u8]], max_line: usize, mut each: impl FnMut(Piece<'_>, &mut Framing)) {
    let mut state = Framing::Lines;
    let mut pending: Vec<u8> = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            let (piece, used) = next_piece(&mut state, &pending[pos..], max_line);
            if used == 0 && piece.is_none() {
                break;
            }
            pos += used;
            if let Some(piece) = piece {
                each(piece, &mut state);
            }
        }
        pending.drain(..pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::line::{self, Input};
    use proptest::prelude::*;

    /// What a native connection makes of a stream, as the server drives the framer: lines
    /// parsed, `/data` switching to raw mode, raw bytes gathered per frame.
    fn drive(chunks: &[&[u8]], max_line: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut raw = Vec::new();
        replay(chunks, max_line, |piece, state| match piece {
            Piece::Line(l) => match line::parse(l) {
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

    #[test]
    fn lines_frames_and_over_long_lines() {
        let stream = b"hi\r\n/data 1 3\nab\ncdef\nxxxxxxxxxxxxxxxxxxxx\nok\n";
        let got = drive(&[stream], 10);
        assert_eq!(got.len(), 6, "{got:?}");
        assert_eq!(got[1], "data 3");
        assert_eq!(got[2], format!("raw {:?}", b"ab\n".to_vec()));
        assert_eq!(got[4], "too long");
    }

    #[test]
    fn a_long_line_in_pieces_is_reported_once() {
        let got = drive(&[&[b'x'; 30], &[b'x'; 30], b"x\nok\n"], 10);
        assert_eq!(got[0], "too long");
        assert_eq!(got.len(), 2, "{got:?}");
    }

    /// Valid-looking input: lines, commands, data frames with their payloads.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let part = prop_oneof![
            "[a-z /#]{0,20}\n".prop_map(|s| s.into_bytes()),
            "[a-z]{0,20}\r\n".prop_map(|s| s.into_bytes()),
            prop::collection::vec(any::<u8>(), 1..40).prop_map(|payload| {
                let mut v = format!("/data 1 {}\n", payload.len()).into_bytes();
                v.extend(payload);
                v
            }),
            prop::collection::vec(any::<u8>(), 0..80),
        ];
        prop::collection::vec(part, 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn chunking_never_changes_what_is_parsed(data in stream(), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&data[last..p]);
                last = p;
            }
            chunks.push(&data[last..]);
            prop_assert_eq!(drive(&chunks, 32), drive(&[&data], 32));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), max in 1usize..64) {
            let _ = drive(&[&data], max);
            for line in data.split(|&b| b == b'\n') {
                let _ = line::parse(line);
            }
        }
    }
}
