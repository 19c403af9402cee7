//! Text rules between the protocols (pure): IRC formatting removed for native users, long
//! texts cut into pieces that fit IRC lines, CTCP parsed and answered. No I/O, no clock (the
//! time is passed in).

use std::borrow::Cow;

use unicode_normalization::char::is_combining_mark;

// ---------------------------------------------------------------------------------------------
// mIRC formatting

const COLOUR: u8 = 0x03;
const HEX_COLOUR: u8 = 0x04;
const TAB: u8 = b'\t';

/// Removes IRC formatting entirely, for readers that show text as it is (native users):
/// bold `\x02`, italics `\x1d`, underline `\x1f`, strikethrough `\x1e`, monospace `\x11`,
/// reverse `\x16`, reset `\x0f`; colour `\x03` with its numbers (`\x03N`, `\x03NN`, each
/// optionally followed by `,M` or `,MM`; a comma not followed by a digit is text, and so is a
/// comma after a bare `\x03`); hex colour `\x04` with `RRGGBB` and optionally `,RRGGBB`.
/// A TAB becomes a space; every other control character (C0, DEL, C1) is removed.
/// Text with nothing to remove, the common case, is borrowed after one quick scan.
pub fn strip_formatting(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    // Every native delivery passes here: first a scan without an early exit or lookahead
    // for any byte that may start something to remove (0xc2 may lead a C1 control).
    let maybe = b.iter().fold(false, |found, &c| {
        found | (c < 0x20) | (c == 0x7f) | (c == 0xc2)
    });
    if !maybe {
        return Cow::Borrowed(text);
    }
    let Some(first) = (0..b.len()).find(|&i| special_at(b, i).is_some()) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = first;
    while i < b.len() {
        let Some(len) = special_at(b, i) else {
            i += 1;
            continue;
        };
        // Every special starts at an ASCII byte or a UTF-8 lead byte and ends before one,
        // so these slices fall on character boundaries.
        out.push_str(&text[copied..i]);
        let end = match b[i] {
            COLOUR => colour_end(b, i + 1),
            HEX_COLOUR => hex_colour_end(b, i + 1),
            TAB => {
                out.push(' ');
                i + 1
            }
            _ => i + len,
        };
        i = end;
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The length of the control character at `i`, if there is one: a C0 control or DEL (one
/// byte) or a C1 control (U+0080 to U+009F, two bytes in UTF-8).
fn special_at(b: &[u8], i: usize) -> Option<usize> {
    match b[i] {
        0x00..=0x1f | 0x7f => Some(1),
        0xc2 if matches!(b.get(i + 1), Some(0x80..=0x9f)) => Some(2),
        _ => None,
    }
}

/// Where a colour code's numbers end, given the index just after `\x03`.
fn colour_end(b: &[u8], mut i: usize) -> usize {
    let foreground = digits_at(b, i);
    if foreground == 0 {
        return i;
    }
    i += foreground;
    if b.get(i) == Some(&b',') {
        let background = digits_at(b, i + 1);
        if background > 0 {
            i += 1 + background;
        }
    }
    i
}

/// One or two ASCII digits at `i`: how many.
fn digits_at(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .unwrap_or_default()
        .iter()
        .take(2)
        .take_while(|d| d.is_ascii_digit())
        .count()
}

/// Where a hex colour code ends, given the index just after `\x04`.
fn hex_colour_end(b: &[u8], mut i: usize) -> usize {
    if !hex6_at(b, i) {
        return i;
    }
    i += 6;
    if b.get(i) == Some(&b',') && hex6_at(b, i + 1) {
        i += 7;
    }
    i
}

fn hex6_at(b: &[u8], i: usize) -> bool {
    b.get(i..i + 6)
        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
}

// ---------------------------------------------------------------------------------------------
// Long texts

/// `text` cut to at most `max` bytes at a character boundary: topics, kick reasons and away
/// messages are kept to the lengths IRC advertises (TOPICLEN, KICKLEN, AWAYLEN), whoever
/// sends them.
pub fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Cuts `text` into pieces of at most `budget` bytes for IRC lines (the caller computes the
/// budget from the line's fixed parts: 512 less the source, command, target and CRLF).
///
/// Exactly: the pieces are consecutive slices of `text` that together are `text`, nothing
/// lost, added or repeated (a `draft/multiline` batch with `draft/multiline-concat` on every
/// piece but the first gives the text back). Each is cut just after the last space that fits
/// in it, so the space at a cut ends the earlier piece; a piece with no space past its first
/// byte is cut at the last character boundary that fits, moved back before a combining mark
/// so a letter keeps its accent. Every piece holds at least one character, so a budget
/// smaller than one character (under 4 bytes) gives pieces of one character. An empty text
/// gives no piece.
pub fn split_for_irc(text: &str, budget: usize) -> Pieces<'_> {
    Pieces { rest: text, budget }
}

/// The pieces of [`split_for_irc`].
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    rest: &'a str,
    budget: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let (piece, rest) = self.rest.split_at(cut_point(self.rest, self.budget));
        self.rest = rest;
        Some(piece)
    }
}

/// Where the next piece of `s` ends (never 0 for a non-empty `s`).
fn cut_point(s: &str, budget: usize) -> usize {
    if s.len() <= budget {
        return s.len();
    }
    let mut end = budget;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(space) = s[..end].rfind(' ').filter(|&at| at > 0) {
        return space + 1;
    }
    let fits = end;
    while end > 0 && s[end..].chars().next().is_some_and(is_combining_mark) {
        end = s[..end].char_indices().next_back().map_or(0, |(at, _)| at);
    }
    if end == 0 {
        end = fits;
    }
    if end == 0 {
        // Not even one character fits: send it alone.
        end = s.chars().next().map_or(s.len(), char::len_utf8);
    }
    end
}

// ---------------------------------------------------------------------------------------------
// CTCP

const CTCP_DELIMITER: char = '\x01';

/// The CTCP commands answered on a native user's behalf, and ACTION, which is relayed.
pub const CLIENTINFO: &str = "ACTION CLIENTINFO PING TIME VERSION";

/// The longest PING parameter echoed: a PING carries a timestamp or a token, and an answer
/// should not echo a whole line back.
pub const PING_ECHO_MAX: usize = 100;

/// A CTCP message: `\x01COMMAND params\x01` in a PRIVMSG or NOTICE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctcp<'a> {
    pub command: &'a str,
    /// Everything after the first space (empty without one).
    pub params: &'a str,
}

/// The CTCP commands snak acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtcpKind {
    Action,
    Version,
    Ping,
    Time,
    ClientInfo,
    Dcc,
    Other,
}

/// Parses a CTCP message: the text starts with `\x01`, the command runs to the first space,
/// the parameters to the closing `\x01`, which may be missing (as the CTCP spec allows);
/// anything after it is ignored. `None` for a text that is no CTCP, or one with no command.
pub fn parse_ctcp(text: &str) -> Option<Ctcp<'_>> {
    let body = text.strip_prefix(CTCP_DELIMITER)?;
    let body = body.split(CTCP_DELIMITER).next().unwrap_or_default();
    let (command, params) = body.split_once(' ').unwrap_or((body, ""));
    (!command.is_empty()).then_some(Ctcp { command, params })
}

impl<'a> Ctcp<'a> {
    /// Which command this is; CTCP commands are sent in capitals, matched here in any case.
    pub fn kind(&self) -> CtcpKind {
        let known = [
            ("ACTION", CtcpKind::Action),
            ("VERSION", CtcpKind::Version),
            ("PING", CtcpKind::Ping),
            ("TIME", CtcpKind::Time),
            ("CLIENTINFO", CtcpKind::ClientInfo),
            ("DCC", CtcpKind::Dcc),
        ];
        known
            .iter()
            .find(|(name, _)| self.command.eq_ignore_ascii_case(name))
            .map_or(CtcpKind::Other, |&(_, kind)| kind)
    }

    /// The DCC offer or request this is, if it is one.
    pub fn dcc(&self) -> Option<Dcc<'a>> {
        (self.kind() == CtcpKind::Dcc).then(|| parse_dcc(self.params))
    }
}

/// A DCC request (`DCC SEND file ip port size`, `DCC CHAT chat ip port`, ...). snak cannot
/// connect IRC users to native ones, so the front end refuses these at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dcc<'a> {
    pub kind: DccKind,
    /// The first argument: the file name for SEND, RESUME and ACCEPT (without its quotes),
    /// the protocol (`chat`) for CHAT; empty if there is none.
    pub argument: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DccKind {
    Send,
    Chat,
    Resume,
    Accept,
    Other,
}

fn parse_dcc(params: &str) -> Dcc<'_> {
    let (sub, rest) = params.split_once(' ').unwrap_or((params, ""));
    let kind = [
        ("SEND", DccKind::Send),
        ("CHAT", DccKind::Chat),
        ("RESUME", DccKind::Resume),
        ("ACCEPT", DccKind::Accept),
    ]
    .iter()
    .find(|(name, _)| sub.eq_ignore_ascii_case(name))
    .map_or(DccKind::Other, |&(_, kind)| kind);
    let argument = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default(),
        None => rest.split(' ').next().unwrap_or_default(),
    };
    Dcc { kind, argument }
}

/// What the server answers CTCP queries with for a native user.
#[derive(Debug, Clone, Copy)]
pub struct CtcpAnswers<'a> {
    /// The VERSION answer, e.g. `snak 0.1.0 (native client; answered by the server)`.
    pub version: &'a str,
    /// Now, in seconds since 1970 (UTC), for TIME.
    pub now_unix: i64,
    /// The server's offset from UTC in seconds, for TIME (0 to answer in UTC).
    pub utc_offset_secs: i32,
}

/// The CTCP answer (to be sent as a NOTICE) to a VERSION, PING, TIME or CLIENTINFO query;
/// `None` for every other command, which gets no answer (ACTION and DCC are the front end's).
pub fn ctcp_answer(query: &Ctcp<'_>, with: &CtcpAnswers<'_>) -> Option<String> {
    match query.kind() {
        CtcpKind::Version => Some(ctcp("VERSION", with.version)),
        CtcpKind::Ping if query.params.len() <= PING_ECHO_MAX => Some(ctcp("PING", query.params)),
        CtcpKind::Time => Some(ctcp("TIME", &rfc2822(with.now_unix, with.utc_offset_secs))),
        CtcpKind::ClientInfo => Some(ctcp("CLIENTINFO", CLIENTINFO)),
        _ => None,
    }
}

/// A CTCP message as text: `\x01COMMAND params\x01`, without characters that would end the
/// CTCP or the line (`\x01`, CR, LF, NUL).
pub fn ctcp(command: &str, params: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '\x01' | '\r' | '\n' | '\0'))
            .collect()
    };
    let mut out = String::with_capacity(command.len() + params.len() + 3);
    out.push(CTCP_DELIMITER);
    out.push_str(&clean(command));
    if !params.is_empty() {
        out.push(' ');
        out.push_str(&clean(params));
    }
    out.push(CTCP_DELIMITER);
    out
}

/// A time as RFC 2822 writes it, `Tue, 01 Jul 2025 02:00:00 +0200`, for `unix` seconds since
/// 1970 (UTC) shown at `utc_offset_secs` from UTC.
pub fn rfc2822(unix: i64, utc_offset_secs: i32) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = unix.saturating_add(i64::from(utc_offset_secs));
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[(days + 4).rem_euclid(7) as usize];
    let (year, month, day) = civil_from_days(days);
    let offset = i64::from(utc_offset_secs);
    let sign = if offset < 0 { '-' } else { '+' };
    let offset = offset.abs();
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        offset / 3600,
        offset / 60 % 60,
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01: year, month 1 to 12, day
/// 1 to 31. The calendar repeats every 400 years (146 097 days); within such an era, counted
/// from a 1 March, the leap day falls at the end of the year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // 1970-01-01 is day 719 468 counted from 0000-03-01.
    let from_march = days + 719_468;
    let era = from_march.div_euclid(146_097);
    let day_of_era = from_march.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March, of 31 30 31 30 31 31 30 31 30 31 31 and 28/29 days.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clip_cuts_at_a_character_boundary() {
        assert_eq!(clip("rødgrød", 2), "r");
        assert_eq!(clip("rødgrød", 3), "rø");
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("", 0), "");
    }

    #[test]
    fn plain_text_is_borrowed() {
        for text in [
            "",
            "hello",
            "rødgrød med fløde",
            "£5 at 20°C, §3",
            "日本語 😀",
        ] {
            assert!(matches!(strip_formatting(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn simple_codes_are_removed() {
        let cases = [
            ("\x02bold\x02", "bold"),
            ("\x1ditalic\x1d", "italic"),
            ("\x1funder\x1fline", "underline"),
            ("\x1estrike", "strike"),
            ("\x11mono", "mono"),
            ("\x16reverse\x16", "reverse"),
            ("a\x0fb", "ab"),
            ("\x02\x1d\x1f\x1e\x11\x16\x0f", ""),
        ];
        for (input, output) in cases {
            assert_eq!(strip_formatting(input), output, "{input:?}");
        }
    }

    #[test]
    fn colours_go_with_their_numbers() {
        let cases = [
            ("\x0304red", "red"),
            ("\x034red", "red"),
            ("\x034,2red", "red"),
            ("\x0304,02red", "red"),
            ("\x0312,345", "5"),
            ("\x03123", "3"),
            ("\x0399", ""),
            ("\x0399,99x", "x"),
            ("\x031,", ","),
            ("\x031,x", ",x"),
            ("\x03,5text", ",5text"),
            ("\x03", ""),
            ("\x03x", "x"),
            ("a\x03\x03b", "ab"),
            ("\x034\x03 plain", " plain"),
            ("\x0304red\x03 and \x0303green\x03", "red and green"),
            ("\x034,", ","),
            ("\x03٣", "٣"),
        ];
        for (input, output) in cases {
            assert_eq!(strip_formatting(input), output, "{input:?}");
        }
    }

    #[test]
    fn hex_colours_go_with_their_numbers() {
        let cases = [
            ("\x04FF0000red", "red"),
            ("\x04ff0000,00FF00x", "x"),
            ("\x04FF00", "FF00"),
            ("\x04ff0000,12x", ",12x"),
            ("\x04ff0000,", ","),
            ("\x04", ""),
            ("\x04GG0000", "GG0000"),
        ];
        for (input, output) in cases {
            assert_eq!(strip_formatting(input), output, "{input:?}");
        }
    }

    #[test]
    fn tabs_become_spaces_and_other_controls_go() {
        assert_eq!(strip_formatting("a\tb"), "a b");
        assert_eq!(strip_formatting("\t\t"), "  ");
        assert_eq!(strip_formatting("ring\x07"), "ring");
        assert_eq!(strip_formatting("\x1b[31mred"), "[31mred");
        assert_eq!(strip_formatting("del\x7f"), "del");
        assert_eq!(strip_formatting("\u{9b}31mc1"), "31mc1");
        assert_eq!(strip_formatting("\x01ACTION waves\x01"), "ACTION waves");
        assert_eq!(strip_formatting("nul\0"), "nul");
        assert_eq!(strip_formatting("\x02rød\x02grød £"), "rødgrød £");
    }

    #[test]
    fn short_texts_are_one_piece() {
        assert_eq!(split_for_irc("hello", 400).collect::<Vec<_>>(), ["hello"]);
        assert_eq!(split_for_irc("hello", 5).collect::<Vec<_>>(), ["hello"]);
        assert_eq!(split_for_irc("", 400).count(), 0);
    }

    #[test]
    fn long_texts_are_cut_after_the_last_space_that_fits() {
        let pieces: Vec<_> = split_for_irc("aaa bbb ccc", 7).collect();
        assert_eq!(pieces, ["aaa ", "bbb ccc"]);
        let pieces: Vec<_> = split_for_irc("aaa bbb ccc ddd", 8).collect();
        assert_eq!(pieces, ["aaa bbb ", "ccc ddd"]);
        let pieces: Vec<_> = split_for_irc("one  two", 5).collect();
        assert_eq!(pieces, ["one  ", "two"]);
        // A space only at the start is no place to cut.
        let pieces: Vec<_> = split_for_irc(" abcdef", 4).collect();
        assert_eq!(pieces, [" abc", "def"]);
    }

    #[test]
    fn words_longer_than_a_piece_are_cut_at_characters() {
        let pieces: Vec<_> = split_for_irc("abcdefgh", 3).collect();
        assert_eq!(pieces, ["abc", "def", "gh"]);
        // ø is two bytes: a budget of 5 holds two and a half.
        let pieces: Vec<_> = split_for_irc("øøøøø", 5).collect();
        assert_eq!(pieces, ["øø", "øø", "ø"]);
        // e and its accent stay together.
        let pieces: Vec<_> = split_for_irc("abe\u{301}", 4).collect();
        assert_eq!(pieces, ["ab", "e\u{301}"]);
        // Budgets under one character: a character each.
        let pieces: Vec<_> = split_for_irc("ø😀a", 1).collect();
        assert_eq!(pieces, ["ø", "😀", "a"]);
        assert_eq!(split_for_irc("ab", 0).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_long_danish_line_arrives_whole() {
        // The line from the issue: 400 characters, cut at 222 before.
        let line: String = "rødgrød med fløde på ærø, "
            .chars()
            .cycle()
            .take(400)
            .collect();
        assert_eq!(line.chars().count(), 400);
        let budget = 512 - ":alice!native@127.0.0.1 PRIVMSG #rødgrød :\r\n".len();
        let pieces: Vec<_> = split_for_irc(&line, budget).collect();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces.concat(), line);
        assert!(pieces.iter().all(|p| p.len() <= budget));
        assert!(pieces[0].ends_with(' '));
    }

    #[test]
    fn ctcp_is_parsed() {
        let ctcp = |command, params| Some(Ctcp { command, params });
        assert_eq!(parse_ctcp("\x01VERSION\x01"), ctcp("VERSION", ""));
        assert_eq!(parse_ctcp("\x01VERSION"), ctcp("VERSION", ""));
        assert_eq!(
            parse_ctcp("\x01PING 1712345678 42\x01"),
            ctcp("PING", "1712345678 42")
        );
        assert_eq!(parse_ctcp("\x01ACTION waves\x01"), ctcp("ACTION", "waves"));
        assert_eq!(parse_ctcp("\x01ACTION\x01"), ctcp("ACTION", ""));
        assert_eq!(parse_ctcp("\x01ACTION waves"), ctcp("ACTION", "waves"));
        assert_eq!(parse_ctcp("\x01TIME\x01 after"), ctcp("TIME", ""));
        assert_eq!(
            parse_ctcp("\x01DCC SEND dccfile.txt 2130706433 52791 16\x01"),
            ctcp("DCC", "SEND dccfile.txt 2130706433 52791 16")
        );
        for not in [
            "VERSION",
            "",
            "\x01",
            "\x01\x01",
            "\x01 VERSION\x01",
            " \x01VERSION\x01",
        ] {
            assert_eq!(parse_ctcp(not), None, "{not:?}");
        }
    }

    #[test]
    fn ctcp_kinds_ignore_case() {
        let kind = |text| parse_ctcp(text).map(|c| c.kind());
        assert_eq!(kind("\x01ACTION x\x01"), Some(CtcpKind::Action));
        assert_eq!(kind("\x01version\x01"), Some(CtcpKind::Version));
        assert_eq!(kind("\x01Ping 1\x01"), Some(CtcpKind::Ping));
        assert_eq!(kind("\x01TIME\x01"), Some(CtcpKind::Time));
        assert_eq!(kind("\x01CLIENTINFO\x01"), Some(CtcpKind::ClientInfo));
        assert_eq!(kind("\x01DCC CHAT chat 1 2\x01"), Some(CtcpKind::Dcc));
        assert_eq!(kind("\x01FINGER\x01"), Some(CtcpKind::Other));
        assert_eq!(kind("\x01ACTIONS\x01"), Some(CtcpKind::Other));
    }

    #[test]
    fn dcc_requests_are_recognised() {
        let dcc = |text| parse_ctcp(text).and_then(|c| c.dcc());
        assert_eq!(
            dcc("\x01DCC SEND dccfile.txt 2130706433 52791 16\x01"),
            Some(Dcc {
                kind: DccKind::Send,
                argument: "dccfile.txt"
            })
        );
        assert_eq!(
            dcc("\x01DCC SEND \"my file.txt\" 2130706433 52791 16\x01"),
            Some(Dcc {
                kind: DccKind::Send,
                argument: "my file.txt"
            })
        );
        assert_eq!(
            dcc("\x01DCC SEND \"unclosed name"),
            Some(Dcc {
                kind: DccKind::Send,
                argument: "unclosed name"
            })
        );
        assert_eq!(
            dcc("\x01dcc chat chat 2130706433 52792\x01").map(|d| (d.kind, d.argument)),
            Some((DccKind::Chat, "chat"))
        );
        assert_eq!(
            dcc("\x01DCC RESUME file.txt 0 1024\x01").map(|d| d.kind),
            Some(DccKind::Resume)
        );
        assert_eq!(
            dcc("\x01DCC ACCEPT file.txt 0 1024\x01").map(|d| d.kind),
            Some(DccKind::Accept)
        );
        assert_eq!(
            dcc("\x01DCC\x01"),
            Some(Dcc {
                kind: DccKind::Other,
                argument: ""
            })
        );
        assert_eq!(dcc("\x01VERSION\x01"), None);
    }

    const ANSWERS: CtcpAnswers = CtcpAnswers {
        version: "snak 0.1.0",
        now_unix: 1_751_328_000,
        utc_offset_secs: 7200,
    };

    fn answer(text: &str) -> Option<String> {
        ctcp_answer(&parse_ctcp(text)?, &ANSWERS)
    }

    #[test]
    fn queries_are_answered_on_a_native_users_behalf() {
        assert_eq!(
            answer("\x01VERSION\x01").as_deref(),
            Some("\x01VERSION snak 0.1.0\x01")
        );
        assert_eq!(
            answer("\x01PING 1712345678\x01").as_deref(),
            Some("\x01PING 1712345678\x01")
        );
        assert_eq!(answer("\x01PING\x01").as_deref(), Some("\x01PING\x01"));
        assert_eq!(
            answer("\x01TIME\x01").as_deref(),
            Some("\x01TIME Tue, 01 Jul 2025 02:00:00 +0200\x01")
        );
        assert_eq!(
            answer("\x01CLIENTINFO\x01").as_deref(),
            Some("\x01CLIENTINFO ACTION CLIENTINFO PING TIME VERSION\x01")
        );
        for unanswered in [
            "\x01ACTION waves\x01",
            "\x01DCC SEND f 1 2 3\x01",
            "\x01FINGER\x01",
            "\x01USERINFO\x01",
        ] {
            assert_eq!(answer(unanswered), None, "{unanswered:?}");
        }
        let long_ping = format!("\x01PING {}\x01", "9".repeat(PING_ECHO_MAX + 1));
        assert_eq!(answer(&long_ping), None, "not echoed");
        let max_ping = format!("\x01PING {}\x01", "9".repeat(PING_ECHO_MAX));
        assert!(answer(&max_ping).is_some());
    }

    #[test]
    fn ctcp_text_carries_nothing_that_ends_it() {
        assert_eq!(ctcp("PING", "a\x01b\r\nc\0"), "\x01PING abc\x01");
        assert_eq!(ctcp("VERSION", ""), "\x01VERSION\x01");
    }

    #[test]
    fn times_are_written_as_rfc_2822() {
        let cases = [
            (0, 0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (951_782_400, 0, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_751_328_000, 0, "Tue, 01 Jul 2025 00:00:00 +0000"),
            (1_751_328_000, 7200, "Tue, 01 Jul 2025 02:00:00 +0200"),
            (1_700_000_000, -12_600, "Tue, 14 Nov 2023 18:43:20 -0330"),
            (-1, 0, "Wed, 31 Dec 1969 23:59:59 +0000"),
            (-86_400, 0, "Wed, 31 Dec 1969 00:00:00 +0000"),
            (253_402_300_799, 0, "Fri, 31 Dec 9999 23:59:59 +0000"),
            (-62_162_035_200, 0, "Wed, 01 Mar 0000 00:00:00 +0000"),
        ];
        for (unix, offset, text) in cases {
            assert_eq!(rfc2822(unix, offset), text, "{unix} {offset}");
        }
        // Nothing overflows at the ends.
        let _ = rfc2822(i64::MAX, i32::MAX);
        let _ = rfc2822(i64::MIN, i32::MIN);
    }

    /// Text full of formatting, controls and multi-byte characters.
    fn formatted() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just("\x03".to_string()),
            Just("\x04".to_string()),
            Just(",".to_string()),
            "[0-9]{1,3}",
            "[0-9a-fA-F]{1,7}",
            "[\\x00-\\x1f\\x7f]",
            "[\\u{80}-\\u{9f}]",
            "[ a-zøæå£°]{0,4}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(pieces, 0..30).prop_map(|v| v.concat())
    }

    fn check_stripped(text: &str) -> Result<(), TestCaseError> {
        let once = strip_formatting(text);
        prop_assert!(
            !once.chars().any(char::is_control),
            "{:?} -> {:?}",
            text,
            once
        );
        prop_assert!(matches!(strip_formatting(&once), Cow::Borrowed(t) if t == once));
        prop_assert!(once.len() <= text.len());
        Ok(())
    }

    fn check_split(text: &str, budget: usize) -> Result<(), TestCaseError> {
        let pieces: Vec<&str> = split_for_irc(text, budget).collect();
        prop_assert_eq!(pieces.concat(), text);
        for piece in &pieces {
            prop_assert!(!piece.is_empty());
            let one_char = piece.chars().count() == 1;
            prop_assert!(
                piece.len() <= budget || one_char,
                "{:?} over {}",
                piece,
                budget
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn stripping_leaves_no_control_and_is_idempotent(text in formatted()) {
            check_stripped(&text)?;
        }

        #[test]
        fn stripping_arbitrary_text_never_panics(text in any::<String>()) {
            check_stripped(&text)?;
        }

        #[test]
        fn splitting_loses_nothing(text in "[ aøé\u{301}😀]{0,200}", budget in 0usize..40) {
            check_split(&text, budget)?;
        }

        #[test]
        fn splitting_arbitrary_text_loses_nothing(text in any::<String>(), budget in 0usize..600) {
            check_split(&text, budget)?;
        }

        #[test]
        fn ctcp_parsing_never_panics(text in any::<String>(), now in any::<i64>(), offset in any::<i32>()) {
            let with = CtcpAnswers { version: "v", now_unix: now, utc_offset_secs: offset };
            for text in [text.clone(), format!("\x01{text}"), format!("\x01DCC {text}")] {
                if let Some(query) = parse_ctcp(&text) {
                    let _ = query.dcc();
                    if let Some(reply) = ctcp_answer(&query, &with) {
                        prop_assert!(reply.starts_with('\x01') && reply.ends_with('\x01'));
                        prop_assert!(!reply[1..reply.len() - 1].contains(['\x01', '\r', '\n', '\0']));
                    }
                }
            }
        }
    }
}
