//! Property tests of the IRC input path as the loop drives it: the stream framer cutting lines
//! (`frame::next_piece` with `Framing::Lines` and the IRC line limit), then `irc_msg::parse`.
//! However the stream is chunked, the same commands come out as from the whole stream.

use proptest::prelude::*;

use super::frame::{replay, Piece};
use super::irc_msg::{self, MAX_LINE_LEN};

/// What an IRC connection makes of a stream: one entry per line (its parse result) or per
/// over-long line.
fn drive(chunks: &[&[u8]], max_line: usize) -> Vec<String> {
    let mut out = Vec::new();
    replay(chunks, max_line, |piece, _| match piece {
        Piece::Line(line) => {
            // The loop drops one more CR, as it does for both protocols.
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            out.push(format!("{:?}", irc_msg::parse(line)));
        }
        Piece::TooLong => out.push("too long".into()),
        Piece::Raw(_) => unreachable!("IRC connections never enter raw framing"),
    });
    out
}

/// Cuts `data` at the given points (taken modulo its length).
fn cut<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in points {
        chunks.push(&data[last..p]);
        last = p;
    }
    chunks.push(&data[last..]);
    chunks
}

/// IRC-looking lines: tags, sources, commands, middle and trailing parameters, both line
/// endings, stray CRs, NULs and invalid UTF-8, over-long lines, and unterminated junk.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let end = prop_oneof![Just("\r\n"), Just("\n"), Just("\r\r\n")];
    let line = (
        proptest::option::of("@[a-z+/=;\\\\]{1,12} "),
        proptest::option::of(":[a-z]{1,8}(![a-z]{1,5}@[a-z.]{1,8})? "),
        "(PRIVMSG|NOTICE|JOIN|NICK|PING|[A-Z]{1,8}|[0-9]{3})",
        proptest::collection::vec(" +[#a-zA-Z0-9,*]{1,10}", 0..5),
        proptest::option::of(" :[ -~\u{e9}\u{1F980}]{0,30}"),
        end,
    )
        .prop_map(|(tags, src, cmd, mids, trail, end)| {
            let mut s = String::new();
            s.extend(tags);
            s.extend(src);
            s.push_str(&cmd);
            s.extend(mids);
            s.extend(trail);
            s.push_str(end);
            s.into_bytes()
        });
    let part = prop_oneof![
        6 => line,
        1 => "[ -~]{0,90}\r?\n".prop_map(|s| s.into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => Just(b"PRIVMSG #a :\xff\xfe\r\n".to_vec()),
        1 => Just(b"PRIVMSG #a :x\0y\r\nNICK a\rb\r\n".to_vec()),
    ];
    proptest::collection::vec(part, 0..14).prop_map(|parts| parts.concat())
}

#[test]
fn lines_tags_and_limits_as_the_loop_sees_them() {
    let stream = b"@a=b :src PRIVMSG #r :hi there\r\nPING x\n\r\n   \nNICK a\rb\r\n";
    let got = drive(&[stream], MAX_LINE_LEN);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got[0].starts_with("Ok(Message"), "{}", got[0]);
    assert_eq!(got[2], "Err(Empty)");
    assert_eq!(got[4], "Err(ForbiddenByte(13))");
    let long = [&b"PRIVMSG #r :"[..], &[b'x'; 100], b"\r\nPING y\r\n"].concat();
    let got = drive(&cut(&long, &[5, 50, 70]), 64);
    assert_eq!(got[0], "too long");
    assert_eq!(got.len(), 2, "{got:?}");
}

proptest! {
    #[test]
    fn chunking_never_changes_what_is_parsed(data in stream(), cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
        let chunks = cut(&data, &cuts);
        // A small limit exercises over-long lines, the real one exercises tags and bodies.
        for max in [48, MAX_LINE_LEN] {
            prop_assert_eq!(drive(&chunks, max), drive(&[&data], max));
        }
    }

    #[test]
    fn byte_at_a_time_is_the_same_as_whole(data in stream()) {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        prop_assert_eq!(drive(&bytes, 48), drive(&[&data], 48));
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in 1usize..600,
    ) {
        let _ = drive(&cut(&data, &cuts), max);
    }
}
