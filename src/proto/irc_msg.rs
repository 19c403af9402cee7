//! IRC message syntax: parse one client line into a borrowed [`Message`], and
//! write server lines into an output buffer.
//!
//! This module knows the *syntax* of IRC as current servers and clients practise
//! it (RFC 1459/2812 as the Modern IRC Client Protocol document describes it, plus
//! IRCv3 message tags) and nothing about what commands mean. It is pure: no
//! sockets, and no allocation on the parse path or in the writers beyond growing
//! the caller's buffer.
//!
//! Left to the caller:
//! - framing: splitting the byte stream on `\n`, dropping a `\r` before it, and
//!   capping what it buffers while no line end has come ([`MAX_LINE_LEN`] is the
//!   longest line [`parse`] accepts);
//! - meaning: which commands exist, how many parameters each needs, what a valid
//!   nick or channel name is;
//! - answering a [`ParseError`] (each variant says what servers usually do);
//! - keeping relayed lines within 512 bytes: the writers never truncate, and a
//!   client's 510-byte `PRIVMSG` grows when the server adds the sender's source.

use std::borrow::Cow;
use std::fmt;

/// Longest message body (source, command and parameters) in bytes. The classic
/// IRC limit is 512 bytes *including* the CRLF, and lines reach [`parse`] without it.
pub const MAX_BODY_LEN: usize = 510;

/// Longest tag section in bytes, counting the leading `@` and the space that ends
/// it: the IRCv3 message-tags limit for a whole message.
pub const MAX_TAGS_LEN: usize = 8191;

/// Longest line [`parse`] accepts, without its line ending. A framer that has
/// buffered more than this (plus 2 for CRLF) without a line end can stop reading.
pub const MAX_LINE_LEN: usize = MAX_TAGS_LEN + MAX_BODY_LEN;

/// Most parameters a [`Message`] holds, as in RFC 1459/2812. Words past the 14th
/// parameter are not dropped: they stay in the 15th (see [`parse`]).
pub const MAX_PARAMS: usize = 15;

/// Why a line is not an IRC message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but spaces. Servers ignore such lines silently.
    Empty,
    /// Tags or a source but no command. Usually ignored too: there is no command
    /// to name in an error reply.
    NoCommand,
    /// The tag section is longer than [`MAX_TAGS_LEN`]. Answer `ERR_INPUTTOOLONG`.
    TagsTooLong,
    /// The body is longer than [`MAX_BODY_LEN`]. Answer `ERR_INPUTTOOLONG`.
    TooLong,
    /// A NUL byte, or a CR or LF inside the line. These can never be relayed
    /// safely (a CR would end the line early for some recipients), so the line
    /// is refused whole rather than cleaned.
    ForbiddenByte(u8),
    /// The line is not UTF-8. Many servers pass such bytes through; snak keeps
    /// text as `str`, so it refuses the line and can tell the client why (e.g.
    /// `FAIL * INVALID_UTF8`, as servers with UTF8ONLY do).
    InvalidUtf8,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty line"),
            ParseError::NoCommand => f.write_str("no command"),
            ParseError::TagsTooLong => write!(f, "tags longer than {MAX_TAGS_LEN} bytes"),
            ParseError::TooLong => write!(f, "line longer than {} bytes", MAX_BODY_LEN + 2),
            ParseError::ForbiddenByte(byte) => write!(f, "forbidden byte 0x{byte:02x}"),
            ParseError::InvalidUtf8 => f.write_str("invalid UTF-8"),
        }
    }
}

impl std::error::Error for ParseError {}

/// One parsed line, borrowing from the input. It is `Copy` and lives on the
/// stack: parameters are kept in a fixed array of [`MAX_PARAMS`] slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    tags: Option<&'a str>,
    source: Option<&'a str>,
    command: &'a str,
    params: [&'a str; MAX_PARAMS],
    param_count: usize,
}

impl<'a> Message<'a> {
    /// The tag section as sent, without the `@` and the space after it; `None` if
    /// the line had no tags. Values are still escaped: see [`Message::tags`].
    pub fn raw_tags(&self) -> Option<&'a str> {
        self.tags
    }

    /// The tags in the order sent, values unescaped. A key may appear more than
    /// once; [`Message::tag`] applies the IRCv3 rule that the last one wins.
    pub fn tags(&self) -> Tags<'a> {
        Tags {
            rest: self.tags.unwrap_or(""),
        }
    }

    /// The value of tag `key` (last occurrence wins), unescaped; `Some("")` for a
    /// tag sent without a value, since IRCv3 treats `a` and `a=` alike.
    pub fn tag(&self, key: &str) -> Option<Cow<'a, str>> {
        let mut tags = self.tags();
        let mut last = None;
        while let Some((k, raw_value)) = tags.next_raw() {
            if k == key {
                last = Some(raw_value);
            }
        }
        last.map(unescape_tag_value)
    }

    /// The source (prefix) as sent, without the `:`. Clients rarely send one and
    /// servers ignore it; [`Source::parse`] splits it if needed.
    pub fn source(&self) -> Option<&'a str> {
        self.source
    }

    /// The command as sent, in the client's case. Commands are case-insensitive:
    /// compare with [`Message::is_command`]. An uppercased copy would cost an
    /// allocation or a fixed buffer for every line, while a dispatcher only ever
    /// compares with a short table of known names, and an unknown command is
    /// echoed back in `ERR_UNKNOWNCOMMAND` as the client spelled it.
    pub fn command(&self) -> &'a str {
        self.command
    }

    /// Whether the command is `name`, ignoring ASCII case.
    pub fn is_command(&self, name: &str) -> bool {
        self.command.eq_ignore_ascii_case(name)
    }

    /// The numeric code if the command is three ASCII digits.
    pub fn numeric(&self) -> Option<u16> {
        match self.command.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_digit) => {
                Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
            }
            _ => None,
        }
    }

    /// The parameters, the trailing one (after ` :`) included and unmarked. Only
    /// the last one can be empty, and only if it was sent as a trailing `:`.
    pub fn params(&self) -> &[&'a str] {
        &self.params[..self.param_count]
    }

    /// Parameter `index`, if present.
    pub fn param(&self, index: usize) -> Option<&'a str> {
        self.params().get(index).copied()
    }
}

/// Parses one line, given without its line ending.
///
/// Lenient where real clients are sloppy: spaces before the command and runs of
/// spaces between parameters are skipped, trailing spaces after the last middle
/// parameter are dropped, and a trailing parameter keeps every byte after its
/// `:` (spaces included; it may be empty). Beyond 14 parameters the rest of the
/// line becomes the 15th, an optional leading `:` removed, as RFC 2812's grammar
/// says: nothing is rejected or lost, and no allocation is needed.
///
/// Never panics, whatever the bytes.
pub fn parse(line: &[u8]) -> Result<Message<'_>, ParseError> {
    if line.iter().all(|&b| b == b' ') {
        return Err(ParseError::Empty);
    }

    // Limits first, on bytes, so an oversized line is refused before the UTF-8
    // scan. The tag section runs from the `@` through the first space.
    let body_start = if line.first() == Some(&b'@') {
        match line.iter().take(MAX_TAGS_LEN).position(|&b| b == b' ') {
            Some(space) => space + 1,
            None if line.len() > MAX_TAGS_LEN => return Err(ParseError::TagsTooLong),
            None => return Err(ParseError::NoCommand),
        }
    } else {
        0
    };
    if line.len() - body_start > MAX_BODY_LEN {
        return Err(ParseError::TooLong);
    }
    // Checked without an early exit first, which vectorises; the culprit is looked for only
    // when there is one.
    if line
        .iter()
        .fold(false, |found, &b| found | is_line_breaking(b))
    {
        let byte = line
            .iter()
            .copied()
            .find(|&b| is_line_breaking(b))
            .unwrap_or(0);
        return Err(ParseError::ForbiddenByte(byte));
    }
    let text = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;

    // Every split below is at an ASCII byte, so always on a char boundary. The words are
    // short (a command, a nick, a channel): a byte loop finds their ends sooner than a
    // general string search.
    let tags = (body_start > 0).then(|| &text[1..body_start - 1]);
    let mut rest = skip_spaces(&text[body_start..]);

    let source = match rest.strip_prefix(':') {
        Some(after_colon) => {
            let (source, after) = split_word(after_colon).ok_or(ParseError::NoCommand)?;
            rest = skip_spaces(after);
            Some(source)
        }
        None => None,
    };

    let (command, mut rest) = split_word(rest).unwrap_or((rest, ""));
    if command.is_empty() {
        return Err(ParseError::NoCommand);
    }

    let mut params = [""; MAX_PARAMS];
    let mut param_count = 0;
    loop {
        rest = skip_spaces(rest);
        if rest.is_empty() {
            break;
        }
        if rest.starts_with(':') || param_count == MAX_PARAMS - 1 {
            params[param_count] = rest.strip_prefix(':').unwrap_or(rest);
            param_count += 1;
            break;
        }
        let (word, after) = split_word(rest).unwrap_or((rest, ""));
        params[param_count] = word;
        param_count += 1;
        rest = after;
    }

    Ok(Message {
        tags,
        source,
        command,
        params,
        param_count,
    })
}

/// `s` without its leading spaces.
fn skip_spaces(s: &str) -> &str {
    let n = s.bytes().take_while(|&b| b == b' ').count();
    &s[n..]
}

/// The text before the first space and the text after it, or None without a space.
fn split_word(s: &str) -> Option<(&str, &str)> {
    let at = s.bytes().position(|b| b == b' ')?;
    Some((&s[..at], &s[at + 1..]))
}

/// Iterator over `(key, unescaped value)` pairs of a tag section. Empty items
/// (`a;;b`, a trailing `;`) and items with an empty key are skipped.
#[derive(Clone, Debug)]
pub struct Tags<'a> {
    rest: &'a str,
}

impl<'a> Tags<'a> {
    /// The next `(key, escaped value)` pair.
    fn next_raw(&mut self) -> Option<(&'a str, &'a str)> {
        while !self.rest.is_empty() {
            let (item, rest) = self.rest.split_once(';').unwrap_or((self.rest, ""));
            self.rest = rest;
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            if !key.is_empty() {
                return Some((key, value));
            }
        }
        None
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw()
            .map(|(key, value)| (key, unescape_tag_value(value)))
    }
}

/// Undoes IRCv3 tag value escaping: `\:` `\s` `\\` `\r` `\n` stand for `;`, space,
/// `\`, CR and LF; a backslash before any other character is dropped, and so is
/// a lone backslash at the end, as the spec asks. Borrows when nothing is escaped.
fn unescape_tag_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut value = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            value.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => value.push(';'),
            Some('s') => value.push(' '),
            Some('r') => value.push('\r'),
            Some('n') => value.push('\n'),
            Some(other) => value.push(other),
            None => {}
        }
    }
    Cow::Owned(value)
}

/// Most bytes of tags a client's message may carry, without the `@` and the space after
/// them (the IRCv3 limit: 4096 with them).
pub const CLIENT_TAGS_MAX: usize = 4094;

/// The client-only tags of a tag section (`+name[=value]`, each kept as sent, still escaped),
/// joined with `;`, for relaying; the others are the server's to set and are dropped, and so
/// are items whose name is not `+`, an optional vendor `/`, and letters, digits, `-` and `.`.
/// Err(()) if the section as sent passes [`CLIENT_TAGS_MAX`].
#[allow(clippy::result_unit_err)]
pub fn client_only_tags(raw: Option<&str>) -> Result<String, ()> {
    let Some(raw) = raw else {
        return Ok(String::new());
    };
    if raw.len() > CLIENT_TAGS_MAX {
        return Err(());
    }
    let mut kept = String::new();
    for item in raw.split(';') {
        let key = item.split_once('=').map_or(item, |(k, _)| k);
        let name = key.strip_prefix('+').unwrap_or("");
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'.'));
        if !valid {
            continue;
        }
        if !kept.is_empty() {
            kept.push(';');
        }
        // `a=` and `a` mean the same; the shorter is relayed.
        kept.push_str(item.strip_suffix('=').unwrap_or(item));
    }
    Ok(kept)
}

/// Appends `value` escaped for use as an IRCv3 tag value (the inverse of the
/// unescaping [`Message::tags`] does). NUL has no escape and is dropped.
pub fn write_escaped_tag_value(out: &mut Vec<u8>, value: &str) {
    for &byte in value.as_bytes() {
        match byte {
            b';' => out.extend_from_slice(b"\\:"),
            b' ' => out.extend_from_slice(b"\\s"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0 => {}
            _ => out.push(byte),
        }
    }
}

/// A source (prefix) split into its parts: `server`, `nick`, `nick!user@host`,
/// and the rarer `nick@host` and `nick!user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source<'a> {
    /// The nick, or the server name.
    pub name: &'a str,
    pub user: Option<&'a str>,
    pub host: Option<&'a str>,
}

impl<'a> Source<'a> {
    pub fn parse(raw: &'a str) -> Self {
        let (before_host, host) = match raw.split_once('@') {
            Some((before, host)) => (before, Some(host)),
            None => (raw, None),
        };
        let (name, user) = match before_host.split_once('!') {
            Some((name, user)) => (name, Some(user)),
            None => (before_host, None),
        };
        Source { name, user, host }
    }
}

/// Returns `text` with every CR, LF and NUL replaced by a space, borrowing when
/// there is none. The writers below already do this as they copy; this is for
/// text the caller keeps, such as a topic or a realname, so it is clean once.
pub fn sanitize_param(text: &str) -> Cow<'_, str> {
    if text.bytes().any(is_line_breaking) {
        Cow::Owned(text.replace(['\r', '\n', '\0'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

/// Appends `[:source ]command params...\r\n`. The last parameter gets a `:` when
/// it needs one (empty, contains a space, or starts with `:`). The other
/// parameters must be non-empty words not starting with `:`; that is the
/// caller's contract, checked in debug builds.
///
/// CR, LF and NUL in any argument are written as spaces, so no argument can end
/// the line early or inject a second one.
pub fn write_message(out: &mut Vec<u8>, source: Option<&str>, command: &str, params: &[&str]) {
    if let Some(source) = source {
        out.push(b':');
        push_sanitized(out, source);
        out.push(b' ');
    }
    push_sanitized(out, command);
    push_params(out, params);
    out.extend_from_slice(b"\r\n");
}

/// Appends `:source PRIVMSG target :text\r\n`, the line a channel message fans
/// out as. Same output as [`write_message`] with a `:` always before the text,
/// but with one reservation up front and no scan for where a `:` is needed.
pub fn write_privmsg(out: &mut Vec<u8>, source: &str, target: &str, text: &str) {
    write_text_line(out, source, "PRIVMSG", target, text);
}

/// Appends `:source NOTICE target :text\r\n`; see [`write_privmsg`].
pub fn write_notice(out: &mut Vec<u8>, source: &str, target: &str, text: &str) {
    write_text_line(out, source, "NOTICE", target, text);
}

fn write_text_line(out: &mut Vec<u8>, source: &str, command: &str, target: &str, text: &str) {
    // `:` + source + ` ` + command + ` ` + target + ` :` + text + CRLF
    out.reserve(source.len() + command.len() + target.len() + text.len() + 7);
    out.push(b':');
    push_sanitized(out, source);
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    push_sanitized(out, target);
    out.extend_from_slice(b" :");
    push_sanitized(out, text);
    out.extend_from_slice(b"\r\n");
}

/// Appends `:server_name CODE target params...\r\n`, the code as three digits
/// (`001`). `target` is the client's nick, or `*` before it has one. Parameters
/// follow the rules of [`write_message`].
pub fn write_numeric(
    out: &mut Vec<u8>,
    server_name: &str,
    code: u16,
    target: &str,
    params: &[&str],
) {
    debug_assert!(code < 1000, "numeric {code} has more than three digits");
    out.push(b':');
    push_sanitized(out, server_name);
    out.push(b' ');
    for digit in [code / 100 % 10, code / 10 % 10, code % 10] {
        out.push(b'0' + digit as u8);
    }
    out.push(b' ');
    push_sanitized(out, target);
    push_params(out, params);
    out.extend_from_slice(b"\r\n");
}

fn push_params(out: &mut Vec<u8>, params: &[&str]) {
    let Some((last, middle)) = params.split_last() else {
        return;
    };
    for param in middle {
        debug_assert!(
            !param.is_empty() && !param.starts_with(':') && !param.bytes().any(|b| b == b' '),
            "only the last parameter may be empty, start with ':' or contain a space: {param:?}"
        );
        out.push(b' ');
        push_sanitized(out, param);
    }
    out.push(b' ');
    // Bytes that sanitizing turns into spaces count as spaces here.
    if last.is_empty()
        || last.starts_with(':')
        || last.bytes().any(|b| b == b' ' || is_line_breaking(b))
    {
        out.push(b':');
    }
    push_sanitized(out, last);
}

/// Copies `text`, writing CR, LF and NUL as spaces. Clean text (the usual case)
/// is one scan and one copy.
fn push_sanitized(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if bytes.iter().copied().any(is_line_breaking) {
        out.extend(
            bytes
                .iter()
                .map(|&b| if is_line_breaking(b) { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(bytes);
    }
}

/// Bytes that can never appear inside a line: NUL, and the line endings.
fn is_line_breaking(byte: u8) -> bool {
    matches!(byte, 0 | b'\r' | b'\n')
}

/// Numeric replies the server sends, named as in RFC 1459/2812 and the Modern
/// IRC Client Protocol document. Pass them to [`write_numeric`].
pub mod numeric {
    pub const RPL_WELCOME: u16 = 1;
    pub const RPL_YOURHOST: u16 = 2;
    pub const RPL_CREATED: u16 = 3;
    pub const RPL_MYINFO: u16 = 4;
    pub const RPL_ISUPPORT: u16 = 5;
    pub const RPL_UMODEIS: u16 = 221;
    pub const RPL_LUSERCLIENT: u16 = 251;
    pub const RPL_LUSEROP: u16 = 252;
    pub const RPL_LUSERUNKNOWN: u16 = 253;
    pub const RPL_LUSERCHANNELS: u16 = 254;
    pub const RPL_LUSERME: u16 = 255;
    pub const RPL_LOCALUSERS: u16 = 265;
    pub const RPL_GLOBALUSERS: u16 = 266;
    pub const RPL_AWAY: u16 = 301;
    pub const RPL_USERHOST: u16 = 302;
    pub const RPL_ISON: u16 = 303;
    pub const RPL_UNAWAY: u16 = 305;
    pub const RPL_NOWAWAY: u16 = 306;
    pub const RPL_WHOISUSER: u16 = 311;
    pub const RPL_WHOISSERVER: u16 = 312;
    pub const RPL_WHOISOPERATOR: u16 = 313;
    pub const RPL_WHOWASUSER: u16 = 314;
    pub const RPL_ENDOFWHO: u16 = 315;
    pub const RPL_WHOISIDLE: u16 = 317;
    pub const RPL_ENDOFWHOIS: u16 = 318;
    pub const RPL_WHOISCHANNELS: u16 = 319;
    pub const RPL_LISTSTART: u16 = 321;
    pub const RPL_LIST: u16 = 322;
    pub const RPL_LISTEND: u16 = 323;
    pub const RPL_CHANNELMODEIS: u16 = 324;
    pub const RPL_CREATIONTIME: u16 = 329;
    pub const RPL_NOTOPIC: u16 = 331;
    pub const RPL_TOPIC: u16 = 332;
    pub const RPL_TOPICWHOTIME: u16 = 333;
    pub const RPL_INVITING: u16 = 341;
    pub const RPL_WHOREPLY: u16 = 352;
    pub const RPL_NAMREPLY: u16 = 353;
    pub const RPL_ENDOFNAMES: u16 = 366;
    pub const RPL_ENDOFWHOWAS: u16 = 369;
    pub const RPL_MOTD: u16 = 372;
    pub const RPL_MOTDSTART: u16 = 375;
    pub const RPL_ENDOFMOTD: u16 = 376;
    pub const RPL_YOUREOPER: u16 = 381;
    pub const ERR_NOSUCHNICK: u16 = 401;
    pub const ERR_NOSUCHSERVER: u16 = 402;
    pub const ERR_NOSUCHCHANNEL: u16 = 403;
    pub const ERR_CANNOTSENDTOCHAN: u16 = 404;
    pub const ERR_TOOMANYCHANNELS: u16 = 405;
    pub const ERR_WASNOSUCHNICK: u16 = 406;
    pub const ERR_TOOMANYTARGETS: u16 = 407;
    pub const ERR_INVALIDCAPCMD: u16 = 410;
    pub const ERR_NORECIPIENT: u16 = 411;
    pub const ERR_NOTEXTTOSEND: u16 = 412;
    pub const ERR_INPUTTOOLONG: u16 = 417;
    pub const ERR_UNKNOWNCOMMAND: u16 = 421;
    pub const ERR_NOMOTD: u16 = 422;
    pub const ERR_NONICKNAMEGIVEN: u16 = 431;
    pub const ERR_ERRONEUSNICKNAME: u16 = 432;
    pub const ERR_NICKNAMEINUSE: u16 = 433;
    pub const ERR_UNAVAILRESOURCE: u16 = 437;
    pub const ERR_USERNOTINCHANNEL: u16 = 441;
    pub const ERR_NOTONCHANNEL: u16 = 442;
    pub const ERR_USERONCHANNEL: u16 = 443;
    pub const ERR_NOTREGISTERED: u16 = 451;
    pub const ERR_NEEDMOREPARAMS: u16 = 461;
    pub const ERR_ALREADYREGISTERED: u16 = 462;
    pub const ERR_PASSWDMISMATCH: u16 = 464;
    pub const ERR_CHANNELISFULL: u16 = 471;
    pub const ERR_UNKNOWNMODE: u16 = 472;
    pub const ERR_INVITEONLYCHAN: u16 = 473;
    pub const ERR_BANNEDFROMCHAN: u16 = 474;
    pub const ERR_BADCHANNELKEY: u16 = 475;
    /// A room name the server refuses, with the reason (hybrid, InspIRCd; irssi shows the text).
    pub const ERR_BADCHANNAME: u16 = 479;
    pub const ERR_NOPRIVILEGES: u16 = 481;
    pub const ERR_CHANOPRIVSNEEDED: u16 = 482;
    pub const ERR_NOOPERHOST: u16 = 491;
    pub const ERR_UMODEUNKNOWNFLAG: u16 = 501;
    pub const ERR_USERSDONTMATCH: u16 = 502;
    pub const ERR_INVALIDKEY: u16 = 525;
    pub const RPL_WHOISACCOUNT: u16 = 330;
    pub const RPL_INVITELIST: u16 = 336;
    pub const RPL_ENDOFINVITELIST: u16 = 337;
    pub const RPL_WHOISBOT: u16 = 335;
    pub const RPL_WHOSPCRPL: u16 = 354;
    pub const RPL_INFO: u16 = 371;
    pub const RPL_ENDOFINFO: u16 = 374;
    pub const RPL_TIME: u16 = 391;
    pub const RPL_VERSION: u16 = 351;
    pub const RPL_LINKS: u16 = 364;
    pub const RPL_ENDOFLINKS: u16 = 365;
    pub const RPL_ADMINME: u16 = 256;
    pub const RPL_ADMINLOC1: u16 = 257;
    pub const RPL_ADMINLOC2: u16 = 258;
    pub const RPL_ADMINEMAIL: u16 = 259;
    pub const RPL_STATSCOMMANDS: u16 = 212;
    pub const RPL_ENDOFSTATS: u16 = 219;
    pub const RPL_STATSDEBUG: u16 = 249;
    pub const RPL_REHASHING: u16 = 382;
    pub const RPL_STATSUPTIME: u16 = 242;
    pub const RPL_HELPSTART: u16 = 704;
    pub const RPL_HELPTXT: u16 = 705;
    pub const RPL_ENDOFHELP: u16 = 706;
    pub const ERR_HELPNOTFOUND: u16 = 524;
    pub const RPL_KNOCK: u16 = 710;
    pub const RPL_KNOCKDLVR: u16 = 711;
    pub const RPL_MONONLINE: u16 = 730;
    pub const RPL_MONOFFLINE: u16 = 731;
    pub const RPL_MONLIST: u16 = 732;
    pub const RPL_ENDOFMONLIST: u16 = 733;
    pub const ERR_MONLISTFULL: u16 = 734;
    pub const ERR_UNKNOWNERROR: u16 = 400;
    pub const ERR_INVALIDUSERNAME: u16 = 468;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Message<'_> {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn written(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_command_with_params() {
        let msg = ok("PRIVMSG #rust :hello there");
        assert_eq!(msg.raw_tags(), None);
        assert_eq!(msg.source(), None);
        assert_eq!(msg.command(), "PRIVMSG");
        assert_eq!(msg.params(), ["#rust", "hello there"]);
        assert_eq!(msg.param(1), Some("hello there"));
        assert_eq!(msg.param(2), None);
        assert_eq!(ok("QUIT").params(), [] as [&str; 0]);
    }

    #[test]
    fn odd_spacing_is_tolerated() {
        let msg = ok("   PRIVMSG    #a   b    ");
        assert_eq!(msg.command(), "PRIVMSG");
        assert_eq!(msg.params(), ["#a", "b"]);
        assert_eq!(ok("NICK alice ").params(), ["alice"]);
        assert_eq!(ok(":src   JOIN   #a").source(), Some("src"));
        assert_eq!(ok(":src   JOIN   #a").params(), ["#a"]);
        assert_eq!(ok("PRIVMSG #a    :  hi  ").params(), ["#a", "  hi  "]);
        assert_eq!(ok("@a=b    PING x").params(), ["x"]);
    }

    #[test]
    fn trailing_params() {
        assert_eq!(ok("TOPIC #a :").params(), ["#a", ""]);
        assert_eq!(ok("TOPIC #a").params(), ["#a"]);
        assert_eq!(ok("AWAY :").params(), [""]);
        assert_eq!(ok("PRIVMSG #a :a :b c ").params(), ["#a", "a :b c "]);
        assert_eq!(ok("PRIVMSG #a ::)").params(), ["#a", ":)"]);
        // A colon inside a middle parameter is just a character.
        assert_eq!(ok("MODE #a +k a:b").params(), ["#a", "+k", "a:b"]);
    }

    #[test]
    fn past_fourteen_params_the_rest_is_the_last() {
        let words: Vec<String> = (1..=17).map(|i| i.to_string()).collect();
        let line = format!("CMD {}", words.join(" "));
        let msg = ok(&line);
        assert_eq!(msg.params().len(), MAX_PARAMS);
        assert_eq!(msg.params()[..14], words[..14]);
        assert_eq!(msg.params()[14], "15 16 17");

        let line = format!("CMD {} :last one", words[..14].join(" "));
        assert_eq!(ok(&line).params()[14], "last one");
        let line = format!("CMD {} x :y", words[..14].join(" "));
        assert_eq!(ok(&line).params()[14], "x :y");
    }

    #[test]
    fn sources() {
        assert_eq!(
            ok(":irc.example.net 001 me :hi").source(),
            Some("irc.example.net")
        );
        assert_eq!(ok(":nick QUIT").source(), Some("nick"));
        assert_eq!(ok(":nick!user@host QUIT").source(), Some("nick!user@host"));

        let full = Source::parse("nick!~user@host.example");
        assert_eq!(
            (full.name, full.user, full.host),
            ("nick", Some("~user"), Some("host.example"))
        );
        let server = Source::parse("irc.example.net");
        assert_eq!(
            (server.name, server.user, server.host),
            ("irc.example.net", None, None)
        );
        let no_user = Source::parse("nick@host");
        assert_eq!(
            (no_user.name, no_user.user, no_user.host),
            ("nick", None, Some("host"))
        );
        let no_host = Source::parse("nick!user");
        assert_eq!(
            (no_host.name, no_host.user, no_host.host),
            ("nick", Some("user"), None)
        );
    }

    #[test]
    fn commands_are_case_insensitive_and_numerics_are_read() {
        let msg = ok("privmsg #a :x");
        assert_eq!(msg.command(), "privmsg");
        assert!(msg.is_command("PRIVMSG"));
        assert!(ok("PrivMsg #a :x").is_command("privmsg"));
        assert!(!msg.is_command("PRIVMSGX"));
        assert_eq!(msg.numeric(), None);

        assert_eq!(ok(":srv 001 me :Welcome").numeric(), Some(1));
        assert_eq!(ok(":srv 433 * alice :in use").numeric(), Some(433));
        assert_eq!(ok("1234").numeric(), None);
        assert_eq!(ok("42").numeric(), None);
        assert_eq!(ok("4a2").numeric(), None);
    }

    #[test]
    fn tags() {
        let msg =
            ok(r"@id=1;+draft/x=a\sb\:c\\d\r\n;flag;empty=;=nokey;;id=2 :n!u@h PRIVMSG #a :hi");
        assert_eq!(
            msg.raw_tags(),
            Some(r"id=1;+draft/x=a\sb\:c\\d\r\n;flag;empty=;=nokey;;id=2")
        );
        assert_eq!(msg.source(), Some("n!u@h"));
        let all: Vec<(&str, String)> = msg.tags().map(|(k, v)| (k, v.into_owned())).collect();
        let expected = [
            ("id", "1"),
            ("+draft/x", "a b;c\\d\r\n"),
            ("flag", ""),
            ("empty", ""),
            ("id", "2"),
        ];
        assert_eq!(all, expected.map(|(k, v)| (k, v.to_string())));
        // Duplicates: the last one wins.
        assert_eq!(msg.tag("id").as_deref(), Some("2"));
        assert_eq!(msg.tag("flag").as_deref(), Some(""));
        assert_eq!(msg.tag("missing"), None);
        assert_eq!(msg.tag(""), None);
        assert!(matches!(msg.tag("id"), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn odd_tag_escapes() {
        // Unknown escapes drop the backslash, a lone trailing backslash is dropped.
        let msg = ok(r"@a=\q\;b=x\ PING");
        assert_eq!(msg.tag("a").as_deref(), Some("q"));
        assert_eq!(msg.tag("b").as_deref(), Some("x"));
        let msg = ok("@ PING");
        assert_eq!(msg.raw_tags(), Some(""));
        assert_eq!(msg.tags().count(), 0);
        assert_eq!(ok("PING").tags().count(), 0);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"    "), Err(ParseError::Empty));
        assert_eq!(parse(b"@a=b"), Err(ParseError::NoCommand));
        assert_eq!(parse(b"@a=b   "), Err(ParseError::NoCommand));
        assert_eq!(parse(b":nick"), Err(ParseError::NoCommand));
        assert_eq!(parse(b":nick  "), Err(ParseError::NoCommand));
        assert_eq!(parse(b"@a=b :nick "), Err(ParseError::NoCommand));
        assert_eq!(
            parse(b"PRIVMSG #a :x\0y"),
            Err(ParseError::ForbiddenByte(0))
        );
        assert_eq!(
            parse(b"PRIVMSG #a :x\ry"),
            Err(ParseError::ForbiddenByte(b'\r'))
        );
        assert_eq!(
            parse(b"PRIVMSG #a :x\n"),
            Err(ParseError::ForbiddenByte(b'\n'))
        );
        assert_eq!(parse(b"@a=\0 PING"), Err(ParseError::ForbiddenByte(0)));
        assert_eq!(parse(b"PRIVMSG #a :caf\xe9"), Err(ParseError::InvalidUtf8));
        assert_eq!(
            ok("PRIVMSG #a :caf\u{e9} \x02bold\x02 \x01ACTION x\x01").params()[1],
            "caf\u{e9} \x02bold\x02 \x01ACTION x\x01"
        );
    }

    #[test]
    fn limits() {
        let body_of = |len: usize| format!("PRIVMSG #a :{}", "x".repeat(len - 12));
        assert!(parse(body_of(MAX_BODY_LEN).as_bytes()).is_ok());
        assert_eq!(
            parse(body_of(MAX_BODY_LEN + 1).as_bytes()),
            Err(ParseError::TooLong)
        );

        // The tag section counts its `@` and its closing space.
        let tags_of = |len: usize| format!("@k={} ", "v".repeat(len - 4));
        let longest = format!("{}{}", tags_of(MAX_TAGS_LEN), body_of(MAX_BODY_LEN));
        assert_eq!(longest.len(), MAX_LINE_LEN);
        assert_eq!(
            ok(&longest).tag("k").map(|v| v.len()),
            Some(MAX_TAGS_LEN - 4)
        );
        let tags_over = format!("{}PING", tags_of(MAX_TAGS_LEN + 1));
        assert_eq!(parse(tags_over.as_bytes()), Err(ParseError::TagsTooLong));
        let tags_unended = format!("@k={}", "v".repeat(MAX_TAGS_LEN));
        assert_eq!(parse(tags_unended.as_bytes()), Err(ParseError::TagsTooLong));
        let body_over = format!("{}{}", tags_of(10), body_of(MAX_BODY_LEN + 1));
        assert_eq!(parse(body_over.as_bytes()), Err(ParseError::TooLong));
    }

    #[test]
    fn write_message_puts_a_colon_only_where_needed() {
        let line = |source, command, params: &[&str]| {
            written(|out| write_message(out, source, command, params))
        };
        assert_eq!(line(None, "PING", &[]), "PING\r\n");
        assert_eq!(line(None, "PONG", &["srv"]), "PONG srv\r\n");
        assert_eq!(line(Some("a!b@c"), "JOIN", &["#r"]), ":a!b@c JOIN #r\r\n");
        assert_eq!(line(Some("a"), "TOPIC", &["#r", ""]), ":a TOPIC #r :\r\n");
        assert_eq!(
            line(Some("a"), "PRIVMSG", &["#r", "hi there"]),
            ":a PRIVMSG #r :hi there\r\n"
        );
        assert_eq!(
            line(Some("a"), "PRIVMSG", &["#r", ":)"]),
            ":a PRIVMSG #r ::)\r\n"
        );
        assert_eq!(
            line(Some("a"), "MODE", &["#r", "+o", "b"]),
            ":a MODE #r +o b\r\n"
        );
    }

    #[test]
    fn writers_cannot_inject_lines() {
        let out =
            written(|out| write_message(out, Some("a\r\nb"), "PRIVMSG", &["#r", "x\r\nQUIT"]));
        assert_eq!(out, ":a  b PRIVMSG #r :x  QUIT\r\n");
        // A line break alone in the last parameter still gets its colon.
        let out = written(|out| write_message(out, None, "AWAY", &["x\ny"]));
        assert_eq!(out, "AWAY :x y\r\n");
        let out = written(|out| write_privmsg(out, "a", "#r", "one\rtwo\0"));
        assert_eq!(out, ":a PRIVMSG #r :one two \r\n");
        assert_eq!(sanitize_param("a\r\nb\0"), "a  b ");
        assert!(matches!(sanitize_param("clean"), Cow::Borrowed("clean")));
    }

    #[test]
    fn fast_path_matches_the_general_writer() {
        let fast = written(|out| write_privmsg(out, "n!u@h", "#room", "text"));
        assert_eq!(fast, ":n!u@h PRIVMSG #room :text\r\n");
        let general =
            written(|out| write_message(out, Some("n!u@h"), "PRIVMSG", &["#room", "two words"]));
        assert_eq!(
            general,
            written(|out| write_privmsg(out, "n!u@h", "#room", "two words"))
        );
        let notice = written(|out| write_notice(out, "srv", "*", "Looking up your hostname"));
        assert_eq!(notice, ":srv NOTICE * :Looking up your hostname\r\n");
    }

    #[test]
    fn numerics_are_three_digits() {
        use numeric::*;
        let out = written(|out| {
            write_numeric(
                out,
                "snak",
                RPL_WELCOME,
                "alice",
                &["Welcome to snak, alice"],
            )
        });
        assert_eq!(out, ":snak 001 alice :Welcome to snak, alice\r\n");
        let out = written(|out| {
            write_numeric(
                out,
                "snak",
                ERR_NICKNAMEINUSE,
                "*",
                &["bob", "Nickname is already in use"],
            )
        });
        assert_eq!(out, ":snak 433 * bob :Nickname is already in use\r\n");
        let out = written(|out| write_numeric(out, "snak", RPL_ENDOFWHO, "alice", &["#r"]));
        assert_eq!(out, ":snak 315 alice #r\r\n");
        let msg = ok(out.trim_end_matches("\r\n"));
        assert_eq!(
            (msg.numeric(), msg.params()),
            (Some(RPL_ENDOFWHO), &["alice", "#r"][..])
        );
    }

    #[test]
    fn client_only_tags_are_kept_as_sent() {
        let tags = client_only_tags(Some(r"+a=1;time=x;+draft/react=\s;label=l;+b=;+;+bad name"));
        assert_eq!(tags.as_deref(), Ok(r"+a=1;+draft/react=\s;+b"));
        assert_eq!(client_only_tags(None).as_deref(), Ok(""));
        let max = format!("+k={}", "v".repeat(CLIENT_TAGS_MAX - 3));
        assert!(client_only_tags(Some(&max)).is_ok());
        assert!(client_only_tags(Some(&format!("{max}v"))).is_err());
    }

    #[test]
    fn escaped_tag_values_round_trip() {
        let value = "a; b\\c\r\nd";
        let mut line = b"@k=".to_vec();
        write_escaped_tag_value(&mut line, value);
        assert_eq!(line, br"@k=a\:\sb\\c\r\nd");
        line.extend_from_slice(b" PING");
        assert_eq!(parse(&line).unwrap().tag("k").as_deref(), Some(value));
    }

    fn middle_param() -> impl Strategy<Value = String> {
        "[^ :\r\n\0][^ \r\n\0]{0,7}"
    }

    fn last_param() -> impl Strategy<Value = String> {
        prop_oneof![middle_param(), "[^\r\n\0]{0,40}"]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = parse(&line);
        }

        #[test]
        fn irc_like_bytes_never_panic(line in "[@:;= a-zA-Z0-9\\\\!\u{e9}\r\0]{0,600}") {
            if let Ok(msg) = parse(line.as_bytes()) {
                let _ = (msg.tags().count(), msg.numeric());
                prop_assert!(msg.params().len() <= MAX_PARAMS);
            }
        }

        #[test]
        fn serialize_then_parse_gives_back_the_message(
            source in proptest::option::of("[!-9;-~][!-~]{0,20}"),
            command in "[A-Za-z]{1,10}|[0-9]{3}",
            mut params in proptest::collection::vec(middle_param(), 0..MAX_PARAMS),
            last in proptest::option::of(last_param()),
        ) {
            if let (Some(last), true) = (last, params.len() < MAX_PARAMS) {
                params.push(last);
            }
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            let mut out = Vec::new();
            write_message(&mut out, source.as_deref(), &command, &params);
            let line = out.strip_suffix(b"\r\n").unwrap();
            prop_assume!(line.len() <= MAX_BODY_LEN);
            let msg = parse(line).unwrap();
            prop_assert_eq!(msg.source(), source.as_deref());
            prop_assert_eq!(msg.command(), command.as_str());
            prop_assert_eq!(msg.params(), params.as_slice());
        }

        #[test]
        fn written_lines_have_exactly_one_line_end(source in ".{0,20}", target in ".{0,20}", text in ".{0,80}") {
            let mut out = Vec::new();
            write_privmsg(&mut out, &source, &target, &text);
            write_message(&mut out, Some(&source), "NOTICE", &[&text]);
            let line_ends = out.iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(line_ends, 2);
            prop_assert!(out.ends_with(b"\r\n"));
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\r' || b == 0).count(), 2);
        }

        #[test]
        fn escaped_tag_values_unescape_to_themselves(value in "[^\0]{0,60}") {
            let mut line = b"@k=".to_vec();
            write_escaped_tag_value(&mut line, &value);
            line.extend_from_slice(b" PING");
            let msg = parse(&line).unwrap();
            prop_assert_eq!(msg.tag("k"), Some(Cow::Borrowed(value.as_str())));
        }
    }
}
