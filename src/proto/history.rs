//! History on the wire (pure): the native `/history` command and IRC's `CHATHISTORY` parsed
//! into typed requests, and lines of history written as each protocol shows them. No I/O, no
//! clock, no store: a line of history arrives as a [`Line`] of borrowed fields.
//!
//! Native, a block (also the replay on join):
//!
//! ```text
//! = history #snak 2 0189c3a5e2b40001
//! #snak [2025-01-02 12:00:01] <alice> hello
//! #snak [2025-01-02 12:00:05] * alice waves
//! = end history #snak 2
//! ```
//!
//! The header names the conversation as asked, how many lines follow and the id of the
//! oldest (to page back with `/history #snak 50 before ID`); times are UTC. A direct message
//! shows as a live one does, `@TO [time] <FROM> text`.
//!
//! IRC, each line as it was relayed (`PRIVMSG`/`NOTICE`, with `time`, `msgid`, `account`
//! and client-only tags as the client's capabilities allow), inside a `chathistory` batch
//! for clients with `batch`. A client without `server-time` gets the time at the start of the
//! text instead, `[2025-01-02 12:00:01] hello`, so old lines never pass for new ones.

use std::io::Write;

use crate::event::{Event, Meta, MsgId, MsgKind, Source};
use crate::proto::irc::{self, caps};

/// Most lines one request returns (ISUPPORT `CHATHISTORY`); larger limits are cut to it.
pub const MAX_LINES: usize = 100;
/// Lines `/history` gives when no count is named.
pub const NATIVE_DEFAULT_LINES: usize = 20;

/// A point in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref<'a> {
    MsgId(&'a str),
    /// Milliseconds since the Unix epoch.
    Time(u64),
}

/// A `CHATHISTORY` request, its limit already within [`MAX_LINES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// The newest `limit`, after `after` if given (`*` otherwise).
    Latest {
        target: &'a str,
        after: Option<Ref<'a>>,
        limit: usize,
    },
    Before {
        target: &'a str,
        at: Ref<'a>,
        limit: usize,
    },
    After {
        target: &'a str,
        at: Ref<'a>,
        limit: usize,
    },
    Around {
        target: &'a str,
        at: Ref<'a>,
        limit: usize,
    },
    Between {
        target: &'a str,
        from: Ref<'a>,
        to: Ref<'a>,
        limit: usize,
    },
    /// Conversations whose latest message lies between the two times.
    Targets { from: u64, to: u64, limit: usize },
}

impl<'a> Request<'a> {
    /// The subcommand, as FAIL replies name it.
    pub fn subcommand(&self) -> &'static str {
        match self {
            Request::Latest { .. } => "LATEST",
            Request::Before { .. } => "BEFORE",
            Request::After { .. } => "AFTER",
            Request::Around { .. } => "AROUND",
            Request::Between { .. } => "BETWEEN",
            Request::Targets { .. } => "TARGETS",
        }
    }

    /// The conversation asked about (None for TARGETS).
    pub fn target(&self) -> Option<&'a str> {
        match *self {
            Request::Latest { target, .. }
            | Request::Before { target, .. }
            | Request::After { target, .. }
            | Request::Around { target, .. }
            | Request::Between { target, .. } => Some(target),
            Request::Targets { .. } => None,
        }
    }
}

/// Why a `CHATHISTORY` line was refused: `FAIL CHATHISTORY INVALID_PARAMS <subcommand>
/// [<param>] :<text>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid<'a> {
    /// The subcommand as given (`*` when there was none).
    pub subcommand: &'a str,
    /// The parameter at fault, if one is.
    pub param: Option<&'a str>,
    pub text: &'static str,
}

/// Reads `CHATHISTORY`'s parameters (after the command).
pub fn parse_chathistory<'a>(p: &[&'a str]) -> Result<Request<'a>, Invalid<'a>> {
    let sub = p.first().copied().filter(|s| !s.is_empty()).unwrap_or("*");
    let invalid = |param, text| Invalid {
        subcommand: sub,
        param,
        text,
    };
    let mut upper = [0u8; 8];
    let name = match sub.len() {
        1..=8 => {
            upper[..sub.len()].copy_from_slice(sub.as_bytes());
            upper[..sub.len()].make_ascii_uppercase();
            std::str::from_utf8(&upper[..sub.len()]).unwrap_or("")
        }
        _ => "",
    };
    let want = match name {
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        _ if sub == "*" => return Err(invalid(None, "Insufficient parameters")),
        _ => return Err(invalid(None, "Unknown subcommand")),
    };
    if p.len() < want || p[..want].iter().any(|s| s.is_empty()) {
        return Err(invalid(None, "Insufficient parameters"));
    }
    if p.len() > want {
        return Err(invalid(None, "Too many parameters"));
    }
    let limit = p[want - 1];
    let limit = match limit.parse::<usize>() {
        Ok(0) => MAX_LINES,
        Ok(n) => n.min(MAX_LINES),
        Err(_) => return Err(invalid(Some(limit), "Invalid limit")),
    };
    let reference = |s: &'a str| -> Result<Ref<'a>, Invalid<'a>> {
        if let Some(id) = s.strip_prefix("msgid=").filter(|id| !id.is_empty()) {
            return Ok(Ref::MsgId(id));
        }
        match s.strip_prefix("timestamp=").and_then(irc::parse_time) {
            Some(t) => Ok(Ref::Time(t)),
            None if s.starts_with("timestamp=") => Err(invalid(Some(s), "Invalid timestamp")),
            None => Err(invalid(Some(s), "Invalid message reference")),
        }
    };
    let time = |s: &'a str| match reference(s)? {
        Ref::Time(t) => Ok(t),
        Ref::MsgId(_) => Err(invalid(Some(s), "TARGETS takes timestamps")),
    };
    let target = p[1];
    Ok(match name {
        "LATEST" => Request::Latest {
            target,
            after: match p[2] {
                "*" => None,
                s => Some(reference(s)?),
            },
            limit,
        },
        "BEFORE" => Request::Before {
            target,
            at: reference(p[2])?,
            limit,
        },
        "AFTER" => Request::After {
            target,
            at: reference(p[2])?,
            limit,
        },
        "AROUND" => Request::Around {
            target,
            at: reference(p[2])?,
            limit,
        },
        "BETWEEN" => Request::Between {
            target,
            from: reference(p[2])?,
            to: reference(p[3])?,
            limit,
        },
        _ => Request::Targets {
            from: time(p[1])?,
            to: time(p[2])?,
            limit,
        },
    })
}

/// What `/history [#ROOM|NICK] [N] [before ID|TIME]` asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeAsk<'a> {
    /// None: the current room.
    pub target: Option<&'a str>,
    pub count: usize,
    pub before: Option<Ref<'a>>,
}

pub const NATIVE_USAGE: &str = "/history [#ROOM|NICK] [N] [before ID|TIME]";

/// Reads the words after `/history`; None if they do not fit the usage.
pub fn parse_native(args: &str) -> Option<NativeAsk<'_>> {
    let mut words = args.split(' ').filter(|w| !w.is_empty()).peekable();
    let mut ask = NativeAsk {
        target: None,
        count: NATIVE_DEFAULT_LINES,
        before: None,
    };
    let is_count = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    if let Some(&w) = words.peek() {
        if !is_count(w) && !w.eq_ignore_ascii_case("before") {
            ask.target = Some(w);
            words.next();
        }
    }
    if let Some(&w) = words.peek() {
        if is_count(w) {
            ask.count = w.parse::<usize>().ok()?.clamp(1, MAX_LINES);
            words.next();
        }
    }
    if let Some(w) = words.next() {
        if !w.eq_ignore_ascii_case("before") {
            return None;
        }
        let point = words.next()?;
        ask.before = Some(match MsgId::parse(point) {
            Some(_) => Ref::MsgId(point),
            None => Ref::Time(parse_when(point)?),
        });
    }
    words.next().is_none().then_some(ask)
}

/// A time as a person types it, in UTC: `2025-01-02`, `2025-01-02T12:00`,
/// `2025-01-02T12:00:01`, `2025-01-02T12:00:01.250`, each with or without a final `Z`.
pub fn parse_when(text: &str) -> Option<u64> {
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        16 => format!("{text}:00Z"),
        19 | 21..=23 => format!("{text}Z"),
        _ => return None,
    };
    irc::parse_time(&full.replacen(['t', ' '], "T", 1))
}

/// How a line of history came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Say(MsgKind),
    /// A file offer; the text says what was offered.
    FileOffer,
}

/// One line of history, borrowed from wherever it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub msgid: &'a str,
    /// Milliseconds since the Unix epoch.
    pub time: u64,
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub account: Option<&'a str>,
    /// Where it went, as the sender named it (`#snak`, `bob`).
    pub target: &'a str,
    pub kind: LineKind,
    pub text: &'a str,
    /// Client-only tags as they travel, or "".
    pub tags: &'a str,
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn write_short_time(ms: u64, out: &mut Vec<u8>) {
    let start = out.len();
    irc::write_time(ms, out);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`: the seconds are enough for a person.
    out.truncate(start + 19);
    out[start + 10] = b' ';
}

/// The header of a native block: `= history TARGET COUNT [OLDEST-ID]`.
pub fn write_native_header(target: &str, lines: &[Line<'_>], out: &mut Vec<u8>) {
    out.extend_from_slice(b"= history ");
    out.extend_from_slice(crate::text::strip_formatting(target).as_bytes());
    let _ = write!(out, " {}", lines.len());
    if let Some(first) = lines.first() {
        let _ = write!(out, " {}", first.msgid);
    }
    out.push(b'\n');
}

/// One native line of history: `#room [time] <nick> text`, `@to [time] * nick text`.
pub fn write_native_line(line: &Line<'_>, out: &mut Vec<u8>) {
    let push = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(crate::text::strip_formatting(s).as_bytes())
    };
    if !line.target.starts_with('#') {
        out.push(b'@');
    }
    push(out, line.target);
    out.extend_from_slice(b" [");
    write_short_time(line.time, out);
    out.extend_from_slice(b"] ");
    match line.kind {
        LineKind::Say(MsgKind::Normal) => {
            push(out, &["<", line.nick, "> "].concat());
        }
        LineKind::Say(MsgKind::Notice) => {
            push(out, &["-", line.nick, "- "].concat());
        }
        LineKind::Say(MsgKind::Action) => {
            push(out, &["* ", line.nick, " "].concat());
        }
        LineKind::FileOffer => {
            push(out, &["* ", line.nick, " offered a file: "].concat());
        }
    }
    push(out, line.text);
    out.push(b'\n');
}

/// The end of a native block: `= end history TARGET COUNT`.
pub fn write_native_end(target: &str, count: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"= end history ");
    out.extend_from_slice(crate::text::strip_formatting(target).as_bytes());
    let _ = writeln!(out, " {count}");
}

/// A whole native block.
pub fn write_native_block(target: &str, lines: &[Line<'_>], out: &mut Vec<u8>) {
    write_native_header(target, lines, out);
    for line in lines {
        write_native_line(line, out);
    }
    write_native_end(target, lines.len(), out);
}

/// `:SERVER BATCH +ID TYPE PARAMS...`.
pub fn write_batch_start(server: &str, id: &str, kind: &str, params: &[&str], out: &mut Vec<u8>) {
    let _ = write!(out, ":{server} BATCH +{id} {kind}");
    for p in params {
        out.push(b' ');
        out.extend_from_slice(p.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

pub fn write_batch_end(server: &str, id: &str, out: &mut Vec<u8>) {
    let _ = write!(out, ":{server} BATCH -{id}\r\n");
}

/// One line of history as an IRC client with `caps` sees it (`me`: its nick), inside the
/// batch `batch` if given. A text too long for one line is split as when it was relayed. A
/// line whose msgid is not one of snak's is left out (it cannot be referred to).
pub fn write_irc_line(
    line: &Line<'_>,
    caps: u32,
    server: &str,
    me: &str,
    batch: Option<&str>,
    out: &mut Vec<u8>,
) {
    let tag = batch.map(|b| format!("batch={b}"));
    write_irc_line_in(line, caps, server, me, tag.as_deref(), &mut Vec::new(), out);
}

/// [`write_irc_line`] with the batch tag made (`batch=ID`) and a scratch buffer, once for
/// all the lines of a batch.
fn write_irc_line_in(
    line: &Line<'_>,
    caps: u32,
    server: &str,
    me: &str,
    tag: Option<&str>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let Some(id) = MsgId::parse(line.msgid) else {
        return;
    };
    let meta = Meta {
        id,
        time_ms: line.time,
    };
    let from = Source {
        nick: line.nick,
        user: line.user,
        host: line.host,
        account: line.account,
        realname: "",
        bot: false,
        long_text: true,
    };
    let (kind, text) = match line.kind {
        LineKind::Say(kind) => (kind, std::borrow::Cow::Borrowed(line.text)),
        LineKind::FileOffer => (
            MsgKind::Notice,
            format!("offered a file: {}", line.text).into(),
        ),
    };
    let text = if caps & caps::SERVER_TIME == 0 {
        let mut stamped = b"[".to_vec();
        write_short_time(line.time, &mut stamped);
        stamped.extend_from_slice(b"] ");
        stamped.extend_from_slice(text.as_bytes());
        String::from_utf8(stamped).unwrap_or_default().into()
    } else {
        text
    };
    // Written as a room message would be, whatever the target: the line names the target as
    // the sender did, which is how a direct message's history reads.
    let event = Event::RoomMessage {
        meta,
        from,
        room: line.target,
        kind,
        text: &text,
        tags: line.tags,
    };
    let Some(tag) = tag else {
        return irc::encode_with(&event, me, server, caps, line.time, out);
    };
    scratch.clear();
    irc::encode_with(&event, me, server, caps, line.time, scratch);
    for l in scratch.split_inclusive(|&b| b == b'\n') {
        irc::insert_tag(l, tag.as_bytes(), out);
    }
}

/// Lines of history for an IRC client: in a `chathistory` batch named `batch` with `target`
/// when the client has `batch`, else one after another.
pub fn write_irc_history(
    lines: &[Line<'_>],
    target: &str,
    caps: u32,
    server: &str,
    me: &str,
    batch: &str,
    out: &mut Vec<u8>,
) {
    let mut scratch = Vec::new();
    if caps & caps::BATCH == 0 {
        for line in lines {
            write_irc_line_in(line, caps, server, me, None, &mut scratch, out);
        }
        return;
    }
    let tag = format!("batch={batch}");
    write_batch_start(server, batch, "chathistory", &[target], out);
    for line in lines {
        write_irc_line_in(line, caps, server, me, Some(&tag), &mut scratch, out);
    }
    write_batch_end(server, batch, out);
}

/// `CHATHISTORY TARGETS` answers: `(name, latest time)`, in a `draft/chathistory-targets`
/// batch when the client has `batch`.
pub fn write_irc_targets(
    targets: &[(&str, u64)],
    caps: u32,
    server: &str,
    batch: &str,
    out: &mut Vec<u8>,
) {
    let batched = caps & caps::BATCH != 0;
    if batched {
        write_batch_start(server, batch, "draft/chathistory-targets", &[], out);
    }
    for (name, latest) in targets {
        if batched {
            let _ = write!(out, "@batch={batch} ");
        }
        let _ = write!(out, ":{server} CHATHISTORY TARGETS {name} ");
        irc::write_time(*latest, out);
        out.extend_from_slice(b"\r\n");
    }
    if batched {
        write_batch_end(server, batch, out);
    }
}

/// Whether the one line `line` (as written, tags first) carries a `batch` tag.
pub fn has_batch_tag(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"@") else {
        return false;
    };
    let tags = rest.split(|&b| b == b' ').next().unwrap_or(&[]);
    tags.split(|&b| b == b';')
        .any(|t| t == b"batch" || t.starts_with(b"batch="))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(msgid: &'a str, time: u64, target: &'a str, kind: LineKind) -> Line<'a> {
        Line {
            msgid,
            time,
            nick: "alice",
            user: "u",
            host: "h",
            account: Some("Alice"),
            target,
            kind,
            text: "hello",
            tags: "",
        }
    }

    #[test]
    fn chathistory_requests_parse_into_their_selectors() {
        let p = |s: &'static str| parse_chathistory(&s.split(' ').collect::<Vec<_>>());
        assert_eq!(
            p("LATEST #r * 10"),
            Ok(Request::Latest {
                target: "#r",
                after: None,
                limit: 10
            })
        );
        assert_eq!(
            p("latest #r msgid=abc 1000"),
            Ok(Request::Latest {
                target: "#r",
                after: Some(Ref::MsgId("abc")),
                limit: MAX_LINES
            })
        );
        assert_eq!(
            p("BEFORE bob timestamp=2019-01-04T14:33:26.123Z 0"),
            Ok(Request::Before {
                target: "bob",
                at: Ref::Time(1_546_612_406_123),
                limit: MAX_LINES
            })
        );
        assert!(matches!(
            p("BETWEEN #r msgid=a timestamp=2019-01-04T14:33:26Z 5"),
            Ok(Request::Between {
                from: Ref::MsgId("a"),
                to: Ref::Time(1_546_612_406_000),
                limit: 5,
                ..
            })
        ));
        assert_eq!(
            p("TARGETS timestamp=2020-01-01T00:00:00.000Z timestamp=2262-01-01T00:00:00.000Z 3")
                .map(|r| r.subcommand()),
            Ok("TARGETS")
        );
        assert!(matches!(
            p("AROUND #r msgid=x 3"),
            Ok(Request::Around { limit: 3, .. })
        ));
        assert!(matches!(
            p("AFTER #r msgid=x 3"),
            Ok(Request::After { limit: 3, .. })
        ));
    }

    #[test]
    fn bad_chathistory_requests_say_what_is_wrong() {
        let p = |s: &'static str| {
            parse_chathistory(&s.split(' ').collect::<Vec<_>>())
                .map(|_| ())
                .map_err(|e| (e.subcommand, e.param, e.text))
        };
        assert_eq!(p(""), Err(("*", None, "Insufficient parameters")));
        assert_eq!(p("FOO #r * 1"), Err(("FOO", None, "Unknown subcommand")));
        assert_eq!(
            p("LATEST #r *"),
            Err(("LATEST", None, "Insufficient parameters"))
        );
        assert_eq!(
            p("LATEST #r * 1 2"),
            Err(("LATEST", None, "Too many parameters"))
        );
        assert_eq!(
            p("LATEST #r * ten"),
            Err(("LATEST", Some("ten"), "Invalid limit"))
        );
        assert_eq!(
            p("BEFORE #r * 1"),
            Err(("BEFORE", Some("*"), "Invalid message reference"))
        );
        assert_eq!(
            p("AFTER #r timestamp=yesterday 1"),
            Err(("AFTER", Some("timestamp=yesterday"), "Invalid timestamp"))
        );
        assert_eq!(
            p("AFTER #r msgid= 1"),
            Err(("AFTER", Some("msgid="), "Invalid message reference"))
        );
        assert_eq!(
            p("TARGETS msgid=a timestamp=2020-01-01T00:00:00Z 1"),
            Err(("TARGETS", Some("msgid=a"), "TARGETS takes timestamps"))
        );
        assert_eq!(
            p("VERYLONGSUBCOMMAND #r * 1"),
            Err(("VERYLONGSUBCOMMAND", None, "Unknown subcommand"))
        );
    }

    #[test]
    fn native_history_asks() {
        let ask = |target, count, before| {
            Some(NativeAsk {
                target,
                count,
                before,
            })
        };
        assert_eq!(parse_native(""), ask(None, NATIVE_DEFAULT_LINES, None));
        assert_eq!(parse_native("#r"), ask(Some("#r"), 20, None));
        assert_eq!(parse_native("  bob   5 "), ask(Some("bob"), 5, None));
        assert_eq!(parse_native("500"), ask(None, MAX_LINES, None));
        assert_eq!(parse_native("0"), ask(None, 1, None));
        assert_eq!(
            parse_native("#r 5 before 0189c3a5e2b40001"),
            ask(Some("#r"), 5, Some(Ref::MsgId("0189c3a5e2b40001")))
        );
        assert_eq!(
            parse_native("before 2019-01-04"),
            ask(None, 20, Some(Ref::Time(1_546_560_000_000)))
        );
        assert_eq!(
            parse_native("#r BEFORE 2019-01-04T14:33"),
            ask(Some("#r"), 20, Some(Ref::Time(1_546_612_380_000)))
        );
        for bad in [
            "#r 5 6",
            "#r before",
            "#r before soon",
            "#r after 2019-01-04",
            "#r 5 before 2019-01-04 more",
            "#r bob",
        ] {
            assert_eq!(parse_native(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_as_people_type_them() {
        assert_eq!(parse_when("1970-01-01"), Some(0));
        assert_eq!(parse_when("2019-01-04T14:33:26"), Some(1_546_612_406_000));
        assert_eq!(
            parse_when("2019-01-04t14:33:26.5z"),
            Some(1_546_612_406_500)
        );
        assert_eq!(parse_when("2019-01-04T14:33Z"), Some(1_546_612_380_000));
        for bad in [
            "2019-01-04T14",
            "2019-13-04",
            "yesterday",
            "",
            "2019-01-04T14:33:26.1234",
        ] {
            assert_eq!(parse_when(bad), None, "{bad}");
        }
        let mut out = Vec::new();
        write_short_time(1_546_612_406_123, &mut out);
        assert_eq!(out, b"2019-01-04 14:33:26");
    }

    #[test]
    fn a_native_block_has_exact_bytes() {
        let lines = [
            line("0000000000000001", 0, "#r", LineKind::Say(MsgKind::Normal)),
            line(
                "0000000000000002",
                1000,
                "#r",
                LineKind::Say(MsgKind::Action),
            ),
            line(
                "0000000000000003",
                2000,
                "#r",
                LineKind::Say(MsgKind::Notice),
            ),
        ];
        let mut out = Vec::new();
        write_native_block("#R", &lines, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "= history #R 3 0000000000000001\n\
             #r [1970-01-01 00:00:00] <alice> hello\n\
             #r [1970-01-01 00:00:01] * alice hello\n\
             #r [1970-01-01 00:00:02] -alice- hello\n\
             = end history #R 3\n"
        );
        let mut out = Vec::new();
        let dm = [
            line("0000000000000004", 0, "bob", LineKind::Say(MsgKind::Normal)),
            line("0000000000000005", 0, "bob", LineKind::FileOffer),
        ];
        write_native_block("bob", &dm, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "= history bob 2 0000000000000004\n\
             @bob [1970-01-01 00:00:00] <alice> hello\n\
             @bob [1970-01-01 00:00:00] * alice offered a file: hello\n\
             = end history bob 2\n"
        );
        let mut out = Vec::new();
        write_native_block("#empty", &[], &mut out);
        assert_eq!(out, b"= history #empty 0\n= end history #empty 0\n");
    }

    #[test]
    fn irc_history_comes_in_a_batch_with_time_and_msgid() {
        let lines = [
            line("0000000000000001", 0, "#r", LineKind::Say(MsgKind::Normal)),
            Line {
                tags: "+draft/react=x",
                ..line("0000000000000002", 1, "#r", LineKind::Say(MsgKind::Action))
            },
        ];
        let all = caps::BATCH | caps::SERVER_TIME | caps::MESSAGE_TAGS;
        let mut out = Vec::new();
        write_irc_history(&lines, "#R", all, "srv", "me", "H1", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ":srv BATCH +H1 chathistory #R\r\n\
             @batch=H1;time=1970-01-01T00:00:00.000Z;msgid=0000000000000001 \
             :alice!u@h PRIVMSG #r :hello\r\n\
             @batch=H1;time=1970-01-01T00:00:00.001Z;msgid=0000000000000002;+draft/react=x \
             :alice!u@h PRIVMSG #r :\x01ACTION hello\x01\r\n\
             :srv BATCH -H1\r\n"
        );
        // Without batch and server-time: plain lines, the time in the text.
        let mut out = Vec::new();
        write_irc_history(&lines[..1], "#R", 0, "srv", "me", "H2", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ":alice!u@h PRIVMSG #r :[1970-01-01 00:00:00] hello\r\n"
        );
        // A file offer is a notice; a line with a foreign msgid is left out.
        let mut out = Vec::new();
        let odd = [
            line("0000000000000003", 0, "bob", LineKind::FileOffer),
            line("not-ours", 0, "bob", LineKind::Say(MsgKind::Normal)),
        ];
        write_irc_history(&odd, "bob", caps::SERVER_TIME, "srv", "me", "H3", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "@time=1970-01-01T00:00:00.000Z :alice!u@h NOTICE bob :offered a file: hello\r\n"
        );
    }

    #[test]
    fn irc_targets_and_batch_tags() {
        let mut out = Vec::new();
        write_irc_targets(&[("#r", 0), ("bob", 1)], caps::BATCH, "srv", "T1", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ":srv BATCH +T1 draft/chathistory-targets\r\n\
             @batch=T1 :srv CHATHISTORY TARGETS #r 1970-01-01T00:00:00.000Z\r\n\
             @batch=T1 :srv CHATHISTORY TARGETS bob 1970-01-01T00:00:00.001Z\r\n\
             :srv BATCH -T1\r\n"
        );
        assert!(has_batch_tag(b"@batch=x :a PRIVMSG b :c\r\n"));
        assert!(has_batch_tag(b"@time=1;batch=x :a PRIVMSG b :c\r\n"));
        assert!(!has_batch_tag(b"@time=1;batchy=x :a PRIVMSG b :batch=\r\n"));
        assert!(!has_batch_tag(b":a PRIVMSG b :@batch=x\r\n"));
    }
}
