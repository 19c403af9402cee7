//! The IRC codec for events (pure): each event as the lines an IRC client expects.
//!
//! What others did comes as `:nick!user@host COMMAND ...`; replies and failures come as
//! numerics from the server addressed to the recipient (`me`). Every line ends in CRLF and is
//! at most 512 bytes with it: text relayed from a native user (whose lines may be longer) is cut
//! at a character boundary. Events that fan out to many recipients never depend on `me`, so
//! one encoding serves every IRC recipient.

use std::io::Write;

use crate::event::*;
use crate::proto::irc_msg::{numeric::*, write_message, write_numeric, MAX_BODY_LEN};
use crate::proto::modes;

/// Appends the IRC form of `event` as told to the client `me`. Events that mean nothing to an
/// IRC client (the native greeting, file transfers) append nothing.
pub fn encode(event: &Event<'_>, me: &str, server_name: &str, out: &mut Vec<u8>) {
    encode_with(event, me, server_name, 0, 0, out);
}

/// The IRCv3 capabilities, as bits of one `u32`. The low bits change how events are written
/// (see [`relevant`]); the high ones are read by the session or the delivery only.
pub mod services;

pub mod caps {
    use crate::event::{Event, Extra, Reply};

    /// Member listings show every prefix (`@+nick`), not only the highest.
    pub const MULTI_PREFIX: u32 = 1 << 0;
    /// NAMES lists `nick!user@host`.
    pub const USERHOST_IN_NAMES: u32 = 1 << 1;
    /// `time=` on every relayed line.
    pub const SERVER_TIME: u32 = 1 << 2;
    /// `msgid=`, `bot` and client-only tags; TAGMSG.
    pub const MESSAGE_TAGS: u32 = 1 << 3;
    /// `account=` on what a logged-in user does.
    pub const ACCOUNT_TAG: u32 = 1 << 4;
    /// JOIN carries the account and the real name.
    pub const EXTENDED_JOIN: u32 = 1 << 5;
    /// AWAY of those one shares a room with.
    pub const AWAY_NOTIFY: u32 = 1 << 6;
    /// ACCOUNT of those one shares a room with.
    pub const ACCOUNT_NOTIFY: u32 = 1 << 7;
    /// SETNAME of those one shares a room with.
    pub const SETNAME: u32 = 1 << 8;
    /// INVITE told to a room's members, not only to the guest.
    pub const INVITE_NOTIFY: u32 = 1 << 9;
    /// The notifications above also for the users one monitors.
    pub const EXTENDED_MONITOR: u32 = 1 << 10;
    /// Several lines that belong together come as a batch (labeled-response's).
    pub const BATCH: u32 = 1 << 12;
    /// The sender gets its own messages back (the delivery reads this bit).
    pub const ECHO_MESSAGE: u32 = 1 << 16;
    /// Replies to a labeled command carry its label (the session reads the bits below).
    pub const LABELED_RESPONSE: u32 = 1 << 17;
    pub const CAP_NOTIFY: u32 = 1 << 18;
    pub const STANDARD_REPLIES: u32 = 1 << 19;
    pub const CHGHOST: u32 = 1 << 20;
    /// MARKREAD (draft/read-marker): where one has read to, told after JOIN and on asking.
    pub const READ_MARKER: u32 = 1 << 21;
    /// `draft/chathistory`: the client asks for history itself, so a join replays none.
    pub const CHATHISTORY: u32 = 1 << 26;
    /// `sasl`: AUTHENTICATE (the session reads it; no event depends on it).
    pub const SASL: u32 = 1 << 30;
    /// `draft/account-registration`: REGISTER (offered; REGISTER works without it too).
    pub const ACCOUNT_REGISTRATION: u32 = 1 << 31;

    /// The bits of the tags a relayed line may carry.
    pub const TAGS: u32 = SERVER_TIME | MESSAGE_TAGS | ACCOUNT_TAG;
    /// `snak.chat/files`: file transfers as `FILE` lines (the web page) rather than notices.
    pub const SNAK_FILES: u32 = 1 << 13;

    /// The capability bits that change how `event` is written: recipients that differ only in
    /// others share one encoding.
    pub fn relevant(event: &Event<'_>) -> u32 {
        let monitor = |m: bool| if m { EXTENDED_MONITOR } else { 0 };
        match event {
            Event::RoomMessage { .. } | Event::DirectMessage { .. } => TAGS,
            Event::Joined { .. } => TAGS | EXTENDED_JOIN,
            Event::Invited { .. } => TAGS | INVITE_NOTIFY,
            Event::Parted { .. }
            | Event::Quit { .. }
            | Event::NickChanged { .. }
            | Event::TopicChanged { .. }
            | Event::Kicked { .. }
            | Event::ModeChanged { .. }
            | Event::UserModeChanged { .. } => TAGS,
            Event::Reply(Reply::Members { .. }) => MULTI_PREFIX,
            Event::Extra(extra) => match *extra {
                Extra::TagMessage { .. } | Extra::Wallops { .. } | Extra::Knock { .. } => TAGS,
                Extra::Away { monitor: m, .. } => TAGS | AWAY_NOTIFY | monitor(m),
                Extra::Account { monitor: m, .. } => TAGS | ACCOUNT_NOTIFY | monitor(m),
                Extra::Realname { monitor: m, .. } => TAGS | SETNAME | monitor(m),
                Extra::Names { .. } => MULTI_PREFIX | USERHOST_IN_NAMES,
                Extra::Who { .. } => MULTI_PREFIX,
                _ => 0,
            },
            Event::File(_) => SNAK_FILES,
            _ => 0,
        }
    }
}

/// [`encode`] for a client with the capabilities `caps` ([`caps`] bits); `now_ms` (ms since
/// the Unix epoch) is the time a `server-time` tag gives an event that has none of its own.
pub fn encode_with(
    event: &Event<'_>,
    me: &str,
    server_name: &str,
    caps: u32,
    now_ms: u64,
    out: &mut Vec<u8>,
) {
    let me = if me.is_empty() { "*" } else { me };
    let start = out.len();
    write_tags(event, caps, now_ms, out);
    let body = out.len();
    encode_body(event, me, server_name, caps, start, out);
    if out.len() == body {
        // Nothing for this client: no tags either.
        out.truncate(start);
    }
}

/// The source of a relayed event, and its message identity if it has one.
fn relayed<'e>(event: &'e Event<'e>) -> Option<(Source<'e>, Option<Meta>, &'e str)> {
    Some(match *event {
        Event::RoomMessage {
            meta, from, tags, ..
        }
        | Event::DirectMessage {
            meta, from, tags, ..
        }
        | Event::Extra(Extra::TagMessage {
            meta, from, tags, ..
        }) => (from, Some(meta), tags),
        Event::Joined { who, .. }
        | Event::Parted { who, .. }
        | Event::Quit { who, .. }
        | Event::NickChanged { who, .. }
        | Event::TopicChanged { who, .. }
        | Event::UserModeChanged { who, .. }
        | Event::Extra(Extra::Away { who, .. })
        | Event::Extra(Extra::Account { who, .. })
        | Event::Extra(Extra::Realname { who, .. })
        | Event::Extra(Extra::Knock { who, .. }) => (who, None, ""),
        Event::Kicked { by, .. } | Event::ModeChanged { by, .. } | Event::Invited { by, .. } => {
            (by, None, "")
        }
        Event::Extra(Extra::Wallops { from, .. }) => (from, None, ""),
        _ => return None,
    })
}

/// The tag section (`@a=b;c `) a relayed event gets under `caps`, or nothing.
fn write_tags(event: &Event<'_>, caps: u32, now_ms: u64, out: &mut Vec<u8>) {
    if caps & caps::TAGS == 0 {
        return;
    }
    let Some((from, meta, client)) = relayed(event) else {
        return;
    };
    let start = out.len();
    let sep = |out: &mut Vec<u8>| {
        out.push(if out.len() == start { b'@' } else { b';' });
    };
    if caps & caps::SERVER_TIME != 0 {
        sep(out);
        out.extend_from_slice(b"time=");
        write_time(meta.map_or(now_ms, |m| m.time_ms), out);
    }
    let tags = caps & caps::MESSAGE_TAGS != 0;
    if let (true, Some(meta)) = (tags, meta) {
        sep(out);
        out.extend_from_slice(b"msgid=");
        meta.id.write_to(out);
    }
    if let (true, Some(account)) = (caps & caps::ACCOUNT_TAG != 0, from.account) {
        sep(out);
        out.extend_from_slice(b"account=");
        crate::proto::irc_msg::write_escaped_tag_value(out, account);
    }
    if tags && from.bot {
        sep(out);
        out.extend_from_slice(b"bot");
    }
    if tags && !client.is_empty() {
        sep(out);
        out.extend_from_slice(client.as_bytes());
    }
    if out.len() > start {
        out.push(b' ');
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch (UTC, proleptic
/// Gregorian calendar), as IRCv3 server-time writes it.
pub fn write_time(unix_ms: u64, out: &mut Vec<u8>) {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    // Digit by digit into a fixed buffer: every tagged line carries one, so it stays off
    // the formatting machinery.
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999) as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    put(20, 3, unix_ms % 1000);
    out.extend_from_slice(&buf);
}

/// Reads a server-time timestamp (`YYYY-MM-DDThh:mm:ss[.sss]Z`, UTC) back into milliseconds
/// since the Unix epoch; None for anything else (or a time before 1970).
pub fn parse_time(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b.last() != Some(&b'Z') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let ms = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=3).contains(&digits.len()) => {
            let n = num(20..20 + digits.len())?;
            n * 10u64.pow(3 - digits.len() as u32)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(secs * 1000 + ms)
}

/// The day number (from 1970-01-01) of a date, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Inserts `tag` (`key=escaped-value`) into the tag section of the one line `line` (which
/// ends in CRLF), as labeled-response and batches need; appends the result to `out`.
pub fn insert_tag(line: &[u8], tag: &[u8], out: &mut Vec<u8>) {
    out.push(b'@');
    out.extend_from_slice(tag);
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.push(b';');
            out.extend_from_slice(rest);
        }
        None => {
            out.push(b' ');
            out.extend_from_slice(line);
        }
    }
}

/// The answer to a labeled command: `captured` (the lines queued for the client while it
/// was handled) tagged with `label` (escaped as sent): nothing gives an `ACK`, one line gets
/// the tag, more come as one `labeled-response` batch named `batch_id` (a batch among them,
/// history's, is nested in it). Without `batch`, more lines than one go out untagged, as the
/// specification allows.
pub fn label_response(
    captured: &[u8],
    label: &str,
    batch_id: &str,
    server_name: &str,
    batch: bool,
    out: &mut Vec<u8>,
) {
    let mut tag = b"label=".to_vec();
    tag.extend_from_slice(label.as_bytes());
    let lines = captured.split_inclusive(|&b| b == b'\n');
    match lines.clone().count() {
        0 => {
            insert_tag(b"", &tag, out);
            out.truncate(out.len() - 1);
            let _ = write!(out, " :{server_name} ACK\r\n");
        }
        1 => insert_tag(captured, &tag, out),
        _ if !batch => out.extend_from_slice(captured),
        _ => {
            insert_tag(b"", &tag, out);
            out.truncate(out.len() - 1);
            let _ = write!(
                out,
                " :{server_name} BATCH +{batch_id} labeled-response\r\n"
            );
            let mut in_batch = b"batch=".to_vec();
            in_batch.extend_from_slice(batch_id.as_bytes());
            for line in lines {
                // A line of a batch nested in this one (history) belongs to that batch; its
                // BATCH lines, which carry no batch tag, join this one.
                if crate::proto::history::has_batch_tag(line) {
                    out.extend_from_slice(line);
                } else {
                    insert_tag(line, &in_batch, out);
                }
            }
            let _ = write!(out, ":{server_name} BATCH -{batch_id}\r\n");
        }
    }
}

fn encode_body(
    event: &Event<'_>,
    me: &str,
    server_name: &str,
    caps: u32,
    tags_start: usize,
    out: &mut Vec<u8>,
) {
    let multi_prefix = caps & caps::MULTI_PREFIX != 0;
    let needs = |bits: u32| caps & bits == bits;
    match *event {
        Event::RoomMessage {
            from,
            room,
            kind,
            text,
            ..
        } => text_lines(out, tags_start, from, kind, room, text),
        Event::DirectMessage {
            from,
            to,
            kind,
            text,
            ..
        } => {
            // The sender's own copy (echo-message) names the recipients.
            let target = if from.nick == me { to } else { me };
            text_lines(out, tags_start, from, kind, target, text)
        }
        Event::Joined { who, room } if needs(caps::EXTENDED_JOIN) => {
            let account = who.account.unwrap_or("*");
            relay_text(out, who, "JOIN", &[room, account], who.realname)
        }
        Event::Joined { who, room } => relay(out, who, "JOIN", &[room]),
        Event::Parted { who, room, reason } => match reason.filter(|r| !r.is_empty()) {
            Some(reason) => relay_text(out, who, "PART", &[room], reason),
            None => relay(out, who, "PART", &[room]),
        },
        Event::Quit { who, reason } => {
            let reason = reason.filter(|r| !r.is_empty()).unwrap_or("Client Quit");
            relay_text(out, who, "QUIT", &[], reason);
        }
        Event::NickChanged { who, new } => relay(out, who, "NICK", &[new]),
        Event::TopicChanged { who, room, topic } => relay_text(out, who, "TOPIC", &[room], topic),
        Event::Kicked {
            by,
            room,
            victim,
            reason,
        } => relay_text(out, by, "KICK", &[room, victim], reason),
        Event::ModeChanged { by, room, changes } => {
            let mut modes = String::new();
            modes::write_room_changes(changes, &mut modes);
            let mut params = vec![room];
            params.extend(modes.split(' ').filter(|m| !m.is_empty()));
            relay(out, by, "MODE", &params);
        }
        Event::UserModeChanged { who, changes } => {
            let mut modes = String::new();
            modes::write_user_changes(changes, &mut modes);
            relay(out, who, "MODE", &[who.nick, &modes]);
        }
        // The guest always hears of it; the room's members only with invite-notify.
        Event::Invited { by, who, room } if who == me || needs(caps::INVITE_NOTIFY) => {
            relay(out, by, "INVITE", &[who, room])
        }
        Event::Invited { .. } => {}
        Event::Killed { by, victim, reason } => {
            relay_text(out, by, "KILL", &[victim], reason);
            let line = out.len();
            let _ = write!(out, "ERROR :Closing link: Killed by {} ({reason})", by.nick);
            clean_tail(out, line);
            out.extend_from_slice(b"\r\n");
        }
        Event::Bye { reason } => {
            let line = out.len();
            match reason {
                "" => out.extend_from_slice(b"ERROR :Closing link (Client Quit)"),
                r => {
                    let _ = write!(out, "ERROR :Closing link (Quit: {r})");
                }
            }
            clean_tail(out, line);
            out.extend_from_slice(b"\r\n");
        }
        Event::ShuttingDown => out.extend_from_slice(b"ERROR :Server shutting down\r\n"),
        Event::Network(notice) => encode_network(&notice, me, server_name, out),
        Event::Greeting { .. } => {}
        Event::File(file) => encode_file(&file, me, server_name, caps, out),
        Event::Reply(reply) => encode_reply(&reply, me, server_name, multi_prefix, out),
        Event::Fail(fail) => encode_fail(&fail, me, server_name, out),
        Event::Extra(extra) => encode_extra(&extra, me, server_name, caps, out),
        Event::Service(reply) => services::encode(&reply, me, out),
    }
}

/// A PRIVMSG or NOTICE (CR, LF and NUL in the text written as spaces). A text too long for
/// one line is split at character boundaries (after a space where there is one) into as many
/// lines as it needs, each with the tags written before it at `tags_start`: nothing is lost.
fn text_lines(
    out: &mut Vec<u8>,
    tags_start: usize,
    from: Source<'_>,
    kind: MsgKind,
    target: &str,
    text: &str,
) {
    let command = if kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    let action = kind == MsgKind::Action;
    let h = host(from.host);
    // `:nick!user@host COMMAND target :` and an action's `\x01ACTION ` ... `\x01`.
    let fixed = from.nick.len() + from.user.len() + h.len() + command.len() + target.len() + 7;
    let fixed = fixed + if action { 9 } else { 0 };
    let budget = MAX_BODY_LEN.saturating_sub(fixed);
    if text.len() <= budget || budget < 16 || !from.long_text {
        return text_line(out, from, command, action, target, text);
    }
    let tags = out[tags_start..].to_vec();
    for (i, piece) in crate::text::split_for_irc(text, budget).enumerate() {
        if i > 0 {
            out.extend_from_slice(&tags);
        }
        text_line(out, from, command, action, target, piece);
    }
}

/// One PRIVMSG or NOTICE line, cut to fit if it must.
fn text_line(
    out: &mut Vec<u8>,
    from: Source<'_>,
    command: &str,
    action: bool,
    target: &str,
    text: &str,
) {
    let start = out.len();
    push_source(out, from);
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" :");
    if action {
        out.extend_from_slice(b"\x01ACTION ");
    }
    push_clean(out, text);
    // The closing \x01 of an action must survive the cut.
    let room = MAX_BODY_LEN - usize::from(action);
    cut(out, start, room);
    if action {
        out.push(1);
    }
    out.extend_from_slice(b"\r\n");
}

/// `:nick!user@host COMMAND params...`, cut to 512 bytes at a character boundary.
fn relay(out: &mut Vec<u8>, who: Source<'_>, command: &str, params: &[&str]) {
    let start = out.len();
    push_source(out, who);
    write_message(out, None, command, params);
    fit(out, start);
}

/// `:nick!user@host COMMAND middle... :text`, the text always after a `:` as clients
/// expect for free text, cut to 512 bytes at a character boundary.
fn relay_text(out: &mut Vec<u8>, who: Source<'_>, command: &str, middle: &[&str], text: &str) {
    let start = out.len();
    push_source(out, who);
    out.extend_from_slice(command.as_bytes());
    for p in middle {
        out.push(b' ');
        out.extend_from_slice(word(p).as_bytes());
    }
    out.extend_from_slice(b" :");
    push_clean(out, text);
    cut(out, start, MAX_BODY_LEN);
    out.extend_from_slice(b"\r\n");
}

fn push_source(out: &mut Vec<u8>, who: Source<'_>) {
    out.push(b':');
    out.extend_from_slice(who.nick.as_bytes());
    out.push(b'!');
    push_clean(out, who.user);
    out.push(b'@');
    out.extend_from_slice(host(who.host).as_bytes());
    out.push(b' ');
}

/// A host as a middle parameter: an IPv6 address such as `::1` would read as a trailing
/// parameter, so it gets a leading `0`, as servers do.
fn host(h: &str) -> std::borrow::Cow<'_, str> {
    if h.starts_with(':') {
        format!("0{h}").into()
    } else if h.is_empty() {
        "unknown".into()
    } else {
        h.into()
    }
}

/// Copies text, writing CR, LF and NUL as spaces.
fn push_clean(out: &mut Vec<u8>, text: &str) {
    // Copied whole, then mended in place: both loops vectorise, a byte-by-byte push does not.
    let from = out.len();
    out.extend_from_slice(text.as_bytes());
    clean_tail(out, from);
}

/// Replaces CR, LF and NUL written since `from` with spaces.
fn clean_tail(out: &mut [u8], from: usize) {
    let bad = |b: u8| matches!(b, 0 | b'\r' | b'\n');
    // Looked for first, without an early exit (that vectorises): text that came through a
    // parser has none, and the mending pass is skipped.
    if !out[from..].iter().fold(false, |found, &b| found | bad(b)) {
        return;
    }
    for b in &mut out[from..] {
        let bad = bad(*b);
        *b = if bad { b' ' } else { *b };
    }
}

/// Cuts the line started at `start` (no CRLF yet) to `max` bytes, at a character boundary.
fn cut(out: &mut Vec<u8>, start: usize, max: usize) {
    if out.len() - start <= max {
        return;
    }
    let mut end = start + max;
    while end > start && (out[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    out.truncate(end);
}

/// Makes the complete line started at `start` (ending in CRLF) fit in 512 bytes.
fn fit(out: &mut Vec<u8>, start: usize) {
    if out.len() - start <= MAX_BODY_LEN + 2 {
        return;
    }
    out.truncate(out.len() - 2);
    cut(out, start, MAX_BODY_LEN);
    out.extend_from_slice(b"\r\n");
}

/// A parameter that must be a middle one: never empty, never with a space or a leading `:`.
fn word(p: &str) -> &str {
    if p.is_empty() || p.starts_with(':') || p.contains(' ') {
        "*"
    } else {
        p
    }
}

fn numeric(out: &mut Vec<u8>, server: &str, code: u16, me: &str, params: &[&str]) {
    let start = out.len();
    write_numeric(out, server, code, me, params);
    fit(out, start);
}

/// What a node tells its users about the network, as server notices.
fn encode_network(told: &NetNotice<'_>, me: &str, srv: &str, out: &mut Vec<u8>) {
    let text = match *told {
        NetNotice::Split => {
            "The network is split: users on other servers cannot be reached".to_string()
        }
        NetNotice::Whole => "The network is whole again".to_string(),
        NetNotice::Lost {
            room: Some(room),
            count,
        } => format!("{count} messages from users on other servers were lost in {room}"),
        NetNotice::Lost { room: None, count } => {
            format!("{count} messages from users on other servers were lost")
        }
        NetNotice::Collision { old, new } => format!(
            "Another server's user took {old} while the network was split; you are now {new}"
        ),
    };
    notice(out, srv, me, &text);
}

fn notice(out: &mut Vec<u8>, server: &str, me: &str, text: &str) {
    let start = out.len();
    write_message(out, Some(server), "NOTICE", &[me, text]);
    fit(out, start);
}

/// A member's prefixes, highest first: all of them, or only the highest.
fn prefixes(m: &Member<'_>, multi_prefix: bool) -> &'static str {
    match (m.op, m.voice, multi_prefix) {
        (true, true, true) => "@+",
        (true, _, _) => "@",
        (false, true, _) => "+",
        (false, false, _) => "",
    }
}

fn encode_reply(reply: &Reply<'_>, me: &str, srv: &str, multi_prefix: bool, out: &mut Vec<u8>) {
    match *reply {
        Reply::CurrentRoom(_) | Reply::Help => {}
        Reply::RoomEntry { room, count, topic } => {
            let count = count.to_string();
            numeric(out, srv, RPL_LIST, me, &[room, &count, topic.unwrap_or("")]);
        }
        Reply::RoomListEnd { .. } => numeric(out, srv, RPL_LISTEND, me, &["End of /LIST"]),
        Reply::Members {
            room,
            members,
            names: true,
            more,
        } => {
            let caps = if multi_prefix { caps::MULTI_PREFIX } else { 0 };
            names_lines(out, srv, me, (room, "="), members, caps);
            if more > 0 {
                let text = format!(
                    "{room} has {more} more members, not listed on joining; /NAMES {room} lists them all"
                );
                notice(out, srv, me, &text);
            }
            numeric(out, srv, RPL_ENDOFNAMES, me, &[room, "End of /NAMES list"]);
        }
        Reply::Members {
            room,
            members,
            names: false,
            ..
        } => {
            let chan = if room.starts_with('#') { room } else { "*" };
            for m in members {
                let flags = who_flags(m, multi_prefix);
                let real = format!("0 {}", m.realname);
                let h = host(m.host);
                let params = [chan, word(m.user), &h, srv, m.nick, &flags, &real];
                numeric(out, srv, RPL_WHOREPLY, me, &params);
            }
            numeric(
                out,
                srv,
                RPL_ENDOFWHO,
                me,
                &[word(room), "End of /WHO list"],
            );
        }
        Reply::Topic {
            room,
            topic: Some(t),
        } => {
            numeric(out, srv, RPL_TOPIC, me, &[room, t.text]);
            let at = t.at.to_string();
            numeric(out, srv, RPL_TOPICWHOTIME, me, &[room, t.by, &at]);
        }
        Reply::Topic { room, topic: None } => {
            numeric(out, srv, RPL_NOTOPIC, me, &[room, "No topic is set"])
        }
        Reply::Away { nick, text } => numeric(out, srv, RPL_AWAY, me, &[nick, text]),
        Reply::UnAway => numeric(
            out,
            srv,
            RPL_UNAWAY,
            me,
            &["You are no longer marked as being away"],
        ),
        Reply::NowAway => numeric(
            out,
            srv,
            RPL_NOWAWAY,
            me,
            &["You have been marked as being away"],
        ),
        Reply::Whois(w) => {
            let h = host(w.host);
            let params = [w.nick, word(w.user), &h, "*", w.realname];
            numeric(out, srv, RPL_WHOISUSER, me, &params);
            let mut rooms = String::new();
            for &(room, prefix) in w.rooms {
                if rooms.len() > 300 {
                    numeric(out, srv, RPL_WHOISCHANNELS, me, &[w.nick, &rooms]);
                    rooms.clear();
                }
                if !rooms.is_empty() {
                    rooms.push(' ');
                }
                rooms.push_str(prefix);
                rooms.push_str(room);
            }
            if !rooms.is_empty() {
                numeric(out, srv, RPL_WHOISCHANNELS, me, &[w.nick, &rooms]);
            }
            numeric(
                out,
                srv,
                RPL_WHOISSERVER,
                me,
                &[w.nick, w.server.unwrap_or(srv), "snak"],
            );
            if w.oper {
                numeric(
                    out,
                    srv,
                    RPL_WHOISOPERATOR,
                    me,
                    &[w.nick, "is an IRC operator"],
                );
            }
            if let Some(account) = w.account {
                numeric(
                    out,
                    srv,
                    RPL_WHOISACCOUNT,
                    me,
                    &[w.nick, word(account), "is logged in as"],
                );
            }
            if w.bot {
                numeric(out, srv, RPL_WHOISBOT, me, &[w.nick, "is a bot"]);
            }
            if w.secure {
                numeric(out, srv, 671, me, &[w.nick, "is using a secure connection"]);
            }
            if let Some(fp) = w.certfp {
                let text = format!("has client certificate fingerprint {fp}");
                numeric(out, srv, 276, me, &[w.nick, &text]);
            }
            if let Some(away) = w.away {
                numeric(out, srv, RPL_AWAY, me, &[w.nick, away]);
            }
        }
        Reply::EndOfWhois(nick) => numeric(
            out,
            srv,
            RPL_ENDOFWHOIS,
            me,
            &[word(nick), "End of /WHOIS list"],
        ),
        Reply::Whowas {
            nick,
            user,
            host: h,
            realname,
        } => {
            let h = host(h);
            let params = [nick, word(user), &h, "*", realname];
            numeric(out, srv, RPL_WHOWASUSER, me, &params);
        }
        Reply::EndOfWhowas(nick) => numeric(
            out,
            srv,
            RPL_ENDOFWHOWAS,
            me,
            &[word(nick), "End of WHOWAS"],
        ),
        Reply::Userhost(users) => {
            let mut text = String::new();
            for (nick, oper, away, user, h) in users {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(nick);
                if *oper {
                    text.push('*');
                }
                text.push('=');
                text.push(if *away { '-' } else { '+' });
                text.push_str(user);
                text.push('@');
                text.push_str(&host(h));
            }
            numeric(out, srv, RPL_USERHOST, me, &[&text]);
        }
        Reply::Ison(nicks) => numeric(out, srv, RPL_ISON, me, &[&nicks.join(" ")]),
        Reply::Lusers {
            max,
            users,
            invisible,
            opers,
            rooms,
        } => {
            let visible = users - invisible.min(users);
            let text = format!("There are {visible} users and {invisible} invisible on 1 servers");
            numeric(out, srv, RPL_LUSERCLIENT, me, &[&text]);
            if opers > 0 {
                numeric(
                    out,
                    srv,
                    RPL_LUSEROP,
                    me,
                    &[&opers.to_string(), "operator(s) online"],
                );
            }
            numeric(
                out,
                srv,
                RPL_LUSERCHANNELS,
                me,
                &[&rooms.to_string(), "channels formed"],
            );
            let text = format!("I have {users} clients and 0 servers");
            numeric(out, srv, RPL_LUSERME, me, &[&text]);
            let (n, m) = (users.to_string(), max.max(users).to_string());
            let text = format!("Current local users {n}, max {m}");
            numeric(out, srv, RPL_LOCALUSERS, me, &[&n, &m, &text]);
            let text = format!("Current global users {n}, max {m}");
            numeric(out, srv, RPL_GLOBALUSERS, me, &[&n, &m, &text]);
        }
        Reply::RoomModes {
            room,
            modes,
            show_key,
            created,
        } => {
            let mut text = String::new();
            modes::write_mode_set(&modes, show_key, &mut text);
            let mut params = vec![room];
            params.extend(text.split(' ').filter(|m| !m.is_empty()));
            numeric(out, srv, RPL_CHANNELMODEIS, me, &params);
            let created = created.to_string();
            numeric(out, srv, RPL_CREATIONTIME, me, &[room, &created]);
        }
        Reply::MaskList {
            room,
            list,
            entries,
        } => {
            let (item, end, what) = match list {
                ListMode::Ban => (367, 368, "End of channel ban list"),
                ListMode::Except => (348, 349, "End of channel exception list"),
                ListMode::InviteExcept => (346, 347, "End of channel invite list"),
            };
            for &(mask, by, at) in entries {
                numeric(out, srv, item, me, &[room, mask, by, &at.to_string()]);
            }
            numeric(out, srv, end, me, &[room, what]);
        }
        Reply::UserModes(bits) => {
            let mut text = String::new();
            modes::write_user_modes(bits, &mut text);
            numeric(out, srv, RPL_UMODEIS, me, &[&text]);
        }
        Reply::Inviting { who, room } => numeric(out, srv, RPL_INVITING, me, &[who, room]),
        Reply::YoureOper => numeric(
            out,
            srv,
            RPL_YOUREOPER,
            me,
            &["You are now an IRC operator"],
        ),
    }
}

/// The token at the end of a file link (`.../f/TOKEN`), or `*`.
fn token_of(link: Option<&str>) -> &str {
    link.and_then(|l| l.rsplit('/').next())
        .filter(|t| !t.is_empty())
        .unwrap_or("*")
}

/// Why a transfer was aborted, in words.
fn abort_text(reason: AbortReason<'_>) -> String {
    match reason {
        AbortReason::CancelledBy(n) => format!("cancelled by {n}"),
        AbortReason::Disconnected(n) => format!("{n} disconnected"),
        AbortReason::TooMuchData => "more bytes than offered".into(),
        AbortReason::Stalled => "stalled: the recipient stopped reading".into(),
        AbortReason::Idle => "idle: no data came in time".into(),
        AbortReason::DownloadClosed => "the recipient closed its download".into(),
        AbortReason::UploadClosed => "the sender's upload was cut off".into(),
        AbortReason::ShuttingDown => "server shutting down".into(),
    }
}

/// File transfers: `FILE` lines for clients with `snak.chat/files` (the web page), notices
/// with links for every other IRC client.
fn encode_file(file: &FileEvent<'_>, me: &str, srv: &str, caps: u32, out: &mut Vec<u8>) {
    if caps & caps::SNAK_FILES != 0 {
        let id_of = |id: u64| id.to_string();
        let mut line = |source: &str, params: &[&str]| {
            let start = out.len();
            write_message(out, Some(source), "FILE", params);
            fit(out, start);
        };
        match *file {
            FileEvent::Offered {
                id,
                to,
                size,
                name,
                upload,
            } => line(
                srv,
                &[
                    "OFFERED",
                    &id_of(id),
                    word(to),
                    &size.to_string(),
                    token_of(upload),
                    name,
                ],
            ),
            FileEvent::Offer {
                id,
                from,
                size,
                name,
                download,
            } => {
                let start = out.len();
                push_source(out, from);
                let size = size.to_string();
                let params = ["OFFER", &id_of(id), &size, token_of(download), name];
                write_message(out, None, "FILE", &params);
                fit(out, start);
            }
            FileEvent::Accepted(id) => line(srv, &["ACCEPTED", &id_of(id)]),
            FileEvent::Declined(id) => line(srv, &["DECLINED", &id_of(id)]),
            FileEvent::Expired(id) => line(srv, &["EXPIRED", &id_of(id)]),
            FileEvent::Done(id) => line(srv, &["DONE", &id_of(id)]),
            FileEvent::Abort { id, reason } => {
                line(srv, &["ABORT", &id_of(id), &abort_text(reason)])
            }
        }
        return;
    }
    let text = match *file {
        FileEvent::Offered {
            id, to, size, name, ..
        } => format!("File {id}: offered \"{name}\" ({size} bytes) to {to}; waiting for them to accept"),
        FileEvent::Offer {
            id,
            from,
            size,
            name,
            download: Some(link),
        } => format!(
            "File {id}: {} offers you \"{name}\" ({size} bytes). Download: {link} (opening the link accepts). Decline: {link}/decline",
            from.nick
        ),
        FileEvent::Offer { .. } => return,
        FileEvent::Accepted(id) => format!("File {id}: accepted"),
        FileEvent::Declined(id) => format!("File {id}: declined"),
        FileEvent::Expired(id) => format!("File {id}: expired unanswered"),
        FileEvent::Done(id) => format!("File {id}: done"),
        FileEvent::Abort { id, reason } => format!("File {id}: aborted, {}", abort_text(reason)),
    };
    notice(out, srv, me, &text);
}

/// `353` lines (`= #room :@op nick ...`), as many as needed to keep each within 512 bytes.
fn names_lines(
    out: &mut Vec<u8>,
    srv: &str,
    me: &str,
    (room, symbol): (&str, &str),
    members: &[Member<'_>],
    caps: u32,
) {
    let multi_prefix = caps & caps::MULTI_PREFIX != 0;
    let full = caps & caps::USERHOST_IN_NAMES != 0;
    // `:srv 353 me = #room :` + names + CRLF
    let overhead = srv.len() + me.len() + room.len() + 12;
    let budget = (MAX_BODY_LEN + 2).saturating_sub(overhead + 2).max(64);
    let mut names = String::new();
    let mut one = String::new();
    for m in members {
        one.clear();
        one.push_str(prefixes(m, multi_prefix));
        one.push_str(m.nick);
        if full {
            one.push('!');
            one.push_str(word(m.user));
            one.push('@');
            one.push_str(&host(m.host));
        }
        if !names.is_empty() && names.len() + one.len() + 2 > budget {
            numeric(out, srv, RPL_NAMREPLY, me, &[symbol, room, &names]);
            names.clear();
        }
        if !names.is_empty() {
            names.push(' ');
        }
        names.push_str(&one);
    }
    if !names.is_empty() {
        numeric(out, srv, RPL_NAMREPLY, me, &[symbol, room, &names]);
    }
}

/// WHO's flags for a member: here or gone, `*` for a server operator, `B` for a bot, then
/// its prefixes in the room.
fn who_flags(m: &Member<'_>, multi_prefix: bool) -> String {
    let mut flags = String::with_capacity(4);
    flags.push(if m.away { 'G' } else { 'H' });
    if m.oper {
        flags.push('*');
    }
    if m.bot {
        flags.push('B');
    }
    flags.push_str(prefixes(m, multi_prefix));
    flags
}

/// WHO's answer: one 352 per member (or a WHOX 354 with the fields asked for), then 315.
fn who_lines(
    out: &mut Vec<u8>,
    srv: &str,
    me: &str,
    (mask, room): (&str, Option<&str>),
    members: &[Member<'_>],
    fields: Option<&str>,
    multi_prefix: bool,
) {
    let chan = room.unwrap_or("*");
    let whox = fields.and_then(|f| f.strip_prefix('%')).map(|f| {
        let (letters, token) = f.split_once(',').unwrap_or((f, ""));
        // A query type is one to three digits; anything else is read as 0.
        let token_ok = (1..=3).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_digit());
        (letters, if token_ok { token } else { "0" })
    });
    for m in members {
        let flags = who_flags(m, multi_prefix);
        let h = host(m.host);
        match whox {
            None => {
                let real = format!("0 {}", m.realname);
                let params = [chan, word(m.user), &h, srv, m.nick, &flags, &real];
                numeric(out, srv, RPL_WHOREPLY, me, &params);
            }
            Some((letters, token)) => {
                let ip = if m.host.parse::<std::net::IpAddr>().is_ok() {
                    &*h
                } else {
                    "255.255.255.255"
                };
                let mut params: Vec<&str> = Vec::with_capacity(14);
                // The fields come in this fixed order, whatever order they were asked in.
                for letter in "tcuihsnfdlaor".chars().filter(|&c| letters.contains(c)) {
                    params.push(match letter {
                        't' => token,
                        'c' => chan,
                        'u' => word(m.user),
                        'i' => ip,
                        'h' => &h,
                        's' => srv,
                        'n' => m.nick,
                        'f' => &flags,
                        'd' => "0",
                        'l' => "0",
                        'a' => m.account.unwrap_or("0"),
                        'o' => "n/a",
                        _ => m.realname,
                    });
                }
                // The real name, the only field that may hold spaces, is always last; every
                // other one must be a middle parameter.
                let last = params.len().saturating_sub(1);
                for (i, p) in params.iter_mut().enumerate() {
                    if i != last || !letters.contains('r') {
                        *p = word(p);
                    }
                }
                numeric(out, srv, RPL_WHOSPCRPL, me, &params);
            }
        }
    }
    numeric(
        out,
        srv,
        RPL_ENDOFWHO,
        me,
        &[word(mask), "End of /WHO list"],
    );
}

/// Lists of nicks or sources for MONITOR numerics, split into lines that fit.
fn comma_lines<'i>(
    out: &mut Vec<u8>,
    srv: &str,
    me: &str,
    code: u16,
    items: impl Iterator<Item = std::borrow::Cow<'i, str>>,
) {
    let budget = MAX_BODY_LEN
        .saturating_sub(srv.len() + me.len() + 10)
        .max(64);
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + item.len() + 1 > budget {
            numeric(out, srv, code, me, &[&line]);
            line.clear();
        }
        if !line.is_empty() {
            line.push(',');
        }
        line.push_str(&item);
    }
    if !line.is_empty() {
        numeric(out, srv, code, me, &[&line]);
    }
}

fn encode_extra(extra: &Extra<'_>, me: &str, srv: &str, caps: u32, out: &mut Vec<u8>) {
    let needs = |bits: u32| caps & bits == bits;
    let via = |monitor: bool| if monitor { caps::EXTENDED_MONITOR } else { 0 };
    match *extra {
        Extra::TagMessage { from, to, .. } if needs(caps::MESSAGE_TAGS) => {
            let room = to.starts_with('#') || to.as_bytes().get(1) == Some(&b'#');
            let target = if room || from.nick == me { to } else { me };
            relay(out, from, "TAGMSG", &[target]);
        }
        Extra::TagMessage { .. } => {}
        Extra::Away { who, text, monitor } if needs(caps::AWAY_NOTIFY | via(monitor)) => match text
        {
            Some(text) => relay_text(out, who, "AWAY", &[], text),
            None => relay(out, who, "AWAY", &[]),
        },
        Extra::Account {
            who,
            account,
            monitor,
        } if needs(caps::ACCOUNT_NOTIFY | via(monitor)) => {
            relay(out, who, "ACCOUNT", &[account.unwrap_or("*")])
        }
        Extra::Realname {
            who,
            realname,
            monitor,
        } if needs(caps::SETNAME | via(monitor)) => relay_text(out, who, "SETNAME", &[], realname),
        Extra::Away { .. } | Extra::Account { .. } | Extra::Realname { .. } => {}
        Extra::Wallops { from, text } => relay_text(out, from, "WALLOPS", &[], text),
        Extra::Names {
            room,
            members,
            secret,
            more,
            end,
        } => {
            let symbol = if secret { "@" } else { "=" };
            names_lines(out, srv, me, (room, symbol), members, caps);
            if more > 0 {
                let text = format!(
                    "{room} has {more} more members, not listed on joining; /NAMES {room} lists them all"
                );
                notice(out, srv, me, &text);
            }
            if end {
                numeric(out, srv, RPL_ENDOFNAMES, me, &[room, "End of /NAMES list"]);
            }
        }
        Extra::EndOfNames(rooms) => numeric(
            out,
            srv,
            RPL_ENDOFNAMES,
            me,
            &[word(rooms), "End of /NAMES list"],
        ),
        Extra::Who {
            mask,
            room,
            members,
            fields,
        } => {
            let multi_prefix = caps & caps::MULTI_PREFIX != 0;
            who_lines(out, srv, me, (mask, room), members, fields, multi_prefix);
        }
        Extra::MonOnline(sources) => {
            let items = sources.iter().map(|s| {
                std::borrow::Cow::Owned(format!("{}!{}@{}", s.nick, s.user, host(s.host)))
            });
            comma_lines(out, srv, me, RPL_MONONLINE, items);
        }
        Extra::MonOffline(nicks) => {
            let items = nicks.iter().map(|n| std::borrow::Cow::Borrowed(*n));
            comma_lines(out, srv, me, RPL_MONOFFLINE, items);
        }
        Extra::MonList(nicks) => {
            let items = nicks.iter().map(|n| std::borrow::Cow::Borrowed(*n));
            comma_lines(out, srv, me, RPL_MONLIST, items);
            numeric(out, srv, RPL_ENDOFMONLIST, me, &["End of MONITOR list"]);
        }
        Extra::MonListFull { limit, nicks } => {
            let limit = limit.to_string();
            let params = [limit.as_str(), word(nicks), "Monitor list is full"];
            numeric(out, srv, ERR_MONLISTFULL, me, &params);
        }
        Extra::Knock { who, room, text } => {
            let mask = format!("{}!{}@{}", who.nick, who.user, host(who.host));
            numeric(out, srv, RPL_KNOCK, me, &[room, &mask, text]);
        }
        Extra::Knocked(room) => numeric(
            out,
            srv,
            RPL_KNOCKDLVR,
            me,
            &[room, "Your KNOCK has been delivered"],
        ),
        Extra::ReadMarker { target, at_ms } if needs(caps::READ_MARKER) => {
            let value = match at_ms {
                Some(ms) => {
                    let mut v = b"timestamp=".to_vec();
                    write_time(ms, &mut v);
                    String::from_utf8_lossy(&v).into_owned()
                }
                None => "*".into(),
            };
            let start = out.len();
            write_message(out, Some(srv), "MARKREAD", &[word(target), &value]);
            fit(out, start);
        }
        Extra::ReadMarker { .. } => {}
        Extra::FileOffered { from, name, size } => {
            let text = format!(
                "{} wanted to send you the file \"{name}\" ({size} bytes); this server has no \
                 file links for IRC clients, so the offer was refused. Ask {} for another way.",
                from.nick, from.nick
            );
            notice(out, srv, me, &text);
        }
        Extra::InviteList(rooms) => {
            for room in rooms {
                numeric(out, srv, RPL_INVITELIST, me, &[room]);
            }
            numeric(out, srv, RPL_ENDOFINVITELIST, me, &["End of /INVITE list"]);
        }
        Extra::BadRealname => {
            let start = out.len();
            write_message(
                out,
                Some(srv),
                "FAIL",
                &[
                    "SETNAME",
                    "INVALID_REALNAME",
                    "Real name is empty or too long",
                ],
            );
            fit(out, start);
        }
    }
}

fn encode_fail(fail: &Fail<'_>, me: &str, srv: &str, out: &mut Vec<u8>) {
    let n = |out: &mut Vec<u8>, code: u16, params: &[&str]| numeric(out, srv, code, me, params);
    match *fail {
        Fail::UnknownCommand(c) => n(out, ERR_UNKNOWNCOMMAND, &[word(c), "Unknown command"]),
        Fail::Usage(_) => n(out, ERR_NEEDMOREPARAMS, &["*", "Not enough parameters"]),
        Fail::BadUtf8 => notice(
            out,
            srv,
            me,
            "Your line was not valid UTF-8; it was dropped",
        ),
        Fail::ControlChar => notice(out, srv, me, "Your line had a control character"),
        Fail::LineTooLong(_) => n(out, ERR_INPUTTOOLONG, &["Input line was too long"]),
        Fail::BadNick(nick, e) => n(out, ERR_ERRONEUSNICKNAME, &[word(nick), e.nick_reason()]),
        Fail::NickTaken(nick) => n(
            out,
            ERR_NICKNAMEINUSE,
            &[word(nick), "Nickname is already in use"],
        ),
        Fail::NetworkSplit(nick) => n(
            out,
            ERR_UNAVAILRESOURCE,
            &[
                word(nick),
                "Nick is temporarily unavailable: the network is split",
            ],
        ),
        Fail::RemoteFiles(nick) => notice(
            out,
            srv,
            me,
            &format!(
                "{nick} is on another server of this network: direct transfers go between users \
                 of one server only; send {nick} a file link from the web page instead"
            ),
        ),
        Fail::NickLooksLike(nick, like) => {
            let text = format!("Nickname looks like {like}, which is in use");
            n(out, ERR_NICKNAMEINUSE, &[word(nick), &text])
        }
        // Not a room name at all: 403. A refused one: 479 with the reason, which clients show
        // (irssi words any 403 as "No such channel", whatever the text says).
        Fail::BadRoom(room, e @ crate::names::NameError::BadStart) => {
            n(out, ERR_NOSUCHCHANNEL, &[word(room), e.room_reason()])
        }
        Fail::BadRoom(room, e) => n(out, ERR_BADCHANNAME, &[word(room), e.room_reason()]),
        Fail::RoomLooksLike(room, like) => {
            let text = match like {
                Some(like) => format!("Channel name looks like {like}, which exists"),
                None => "Channel name looks like one that exists".to_string(),
            };
            n(out, ERR_BADCHANNAME, &[word(room), &text])
        }
        Fail::NoSuchNick(nick) => n(out, ERR_NOSUCHNICK, &[word(nick), "No such nick/channel"]),
        Fail::NoSuchRoom(room) => n(out, ERR_NOSUCHCHANNEL, &[word(room), "No such channel"]),
        Fail::NotInRoom(room) => n(
            out,
            ERR_NOTONCHANNEL,
            &[word(room), "You're not on that channel"],
        ),
        Fail::NoRoom => notice(out, srv, me, "You are in no channel"),
        Fail::CannotSend(room, _) => {
            n(out, ERR_CANNOTSENDTOCHAN, &[room, "Cannot send to channel"])
        }
        Fail::TooManyTargets(target, max) => {
            let text = format!("Too many targets: at most {max} per message; nothing was sent");
            n(out, ERR_TOOMANYTARGETS, &[word(target), &text])
        }
        Fail::TooManyRooms(room, 0) => n(
            out,
            ERR_TOOMANYCHANNELS,
            &[word(room), "The server holds as many channels as it can"],
        ),
        Fail::TooManyRooms(room, _) => n(
            out,
            ERR_TOOMANYCHANNELS,
            &[word(room), "You have joined too many channels"],
        ),
        Fail::TooManyTransfers(max) => notice(
            out,
            srv,
            me,
            &format!("You have {max} file offers and transfers open, the most allowed"),
        ),
        Fail::Banned(room) => n(out, ERR_BANNEDFROMCHAN, &[room, "Cannot join channel (+b)"]),
        Fail::RoomFull(room) => n(out, ERR_CHANNELISFULL, &[room, "Cannot join channel (+l)"]),
        Fail::InviteOnly(room) => n(out, ERR_INVITEONLYCHAN, &[room, "Cannot join channel (+i)"]),
        Fail::BadKey(room) => n(out, ERR_BADCHANNELKEY, &[room, "Cannot join channel (+k)"]),
        Fail::NotOperator(room) => n(
            out,
            ERR_CHANOPRIVSNEEDED,
            &[room, "You're not channel operator"],
        ),
        Fail::BadFrame(why) => notice(out, srv, me, why),
        Fail::NoSuchTransfer(id) => notice(out, srv, me, &format!("File {id}: no such transfer")),
        Fail::OpenTheLink(id) => notice(
            out,
            srv,
            me,
            &format!("File {id}: accept it by opening its download link"),
        ),
        Fail::FileTooLarge { size, max } => notice(
            out,
            srv,
            me,
            &format!("A file of {size} bytes is over the limit of {max} bytes"),
        ),
        Fail::CannotReceiveFiles(n) => notice(
            out,
            srv,
            me,
            &format!("{n} cannot be sent files now (this server serves no file links)"),
        ),
        Fail::Flood => notice(
            out,
            srv,
            me,
            "You send too fast; your lines are being delayed",
        ),
        Fail::ServerFull => {
            out.extend_from_slice(b"ERROR :Closing link: the server is full, try again later\r\n")
        }
        Fail::TooManyFromAddress => out
            .extend_from_slice(b"ERROR :Closing link: too many connections from your address\r\n"),
        Fail::TlsRequired => out.extend_from_slice(
            b"ERROR :Closing link: this port speaks TLS; connect with TLS, or to the plain port\r\n",
        ),
        Fail::ConnectingTooFast => out.extend_from_slice(
            b"ERROR :Closing link: you connect too often, try again in a minute\r\n",
        ),
        Fail::NeedMoreParams(c) => n(out, ERR_NEEDMOREPARAMS, &[word(c), "Not enough parameters"]),
        Fail::NoRecipient(c) => n(
            out,
            ERR_NORECIPIENT,
            &[&format!("No recipient given ({c})")],
        ),
        Fail::NoTextToSend => n(out, ERR_NOTEXTTOSEND, &["No text to send"]),
        Fail::NoNickGiven => n(out, ERR_NONICKNAMEGIVEN, &["No nickname given"]),
        Fail::NotRegistered => n(out, ERR_NOTREGISTERED, &["You have not registered"]),
        Fail::AlreadyRegistered => n(out, ERR_ALREADYREGISTERED, &["You may not reregister"]),
        Fail::PasswordMismatch => n(out, ERR_PASSWDMISMATCH, &["Password incorrect"]),
        Fail::UserNotInRoom(nick, room) => n(
            out,
            ERR_USERNOTINCHANNEL,
            &[word(nick), room, "They aren't on that channel"],
        ),
        Fail::UserInRoom(nick, room) => n(
            out,
            ERR_USERONCHANNEL,
            &[word(nick), room, "is already on channel"],
        ),
        Fail::NoPrivileges => n(
            out,
            ERR_NOPRIVILEGES,
            &["Permission Denied- You're not an IRC operator"],
        ),
        Fail::UnknownMode(c) => {
            let mut buf = [0u8; 4];
            let c = word(c.encode_utf8(&mut buf));
            n(out, ERR_UNKNOWNMODE, &[c, "is unknown mode char to me"])
        }
        Fail::UnknownUserMode => n(out, ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]),
        Fail::UsersDontMatch => n(
            out,
            ERR_USERSDONTMATCH,
            &["Cant change mode for other users"],
        ),
        Fail::WasNoSuchNick(nick) => n(
            out,
            ERR_WASNOSUCHNICK,
            &[word(nick), "There was no such nickname"],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: Meta = Meta {
        id: MsgId(1),
        time_ms: 0,
    };
    use crate::names::NameError;
    use crate::proto::irc_msg::parse;

    const ALICE: Source<'static> = Source::plain("alice", "al", "127.0.0.1");

    fn enc(ev: Event<'_>) -> String {
        let mut out = Vec::new();
        encode(&ev, "bob", "snak.test", &mut out);
        String::from_utf8(out).unwrap()
    }

    fn lines(s: &str) -> Vec<&str> {
        s.split_inclusive("\r\n").collect()
    }

    #[test]
    fn messages_carry_the_full_source() {
        let ev = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#rust",
            kind: MsgKind::Normal,
            text: "hi there",
            tags: "",
        };
        assert_eq!(enc(ev), ":alice!al@127.0.0.1 PRIVMSG #rust :hi there\r\n");
        let ev = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#rust",
            kind: MsgKind::Action,
            text: "waves",
            tags: "",
        };
        assert_eq!(
            enc(ev),
            ":alice!al@127.0.0.1 PRIVMSG #rust :\x01ACTION waves\x01\r\n"
        );
        let ev = Event::DirectMessage {
            meta: META,
            from: ALICE,
            to: "bob,carol",
            kind: MsgKind::Notice,
            text: "psst",
            tags: "",
        };
        assert_eq!(enc(ev), ":alice!al@127.0.0.1 NOTICE bob :psst\r\n");
        let ev = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#x",
            kind: MsgKind::Normal,
            text: ":colon first",
            tags: "",
        };
        assert_eq!(enc(ev), ":alice!al@127.0.0.1 PRIVMSG #x ::colon first\r\n");
    }

    #[test]
    fn membership_lines() {
        assert_eq!(
            enc(Event::Joined {
                who: ALICE,
                room: "#rust"
            }),
            ":alice!al@127.0.0.1 JOIN #rust\r\n"
        );
        assert_eq!(
            enc(Event::Parted {
                who: ALICE,
                room: "#rust",
                reason: Some("see you")
            }),
            ":alice!al@127.0.0.1 PART #rust :see you\r\n"
        );
        assert_eq!(
            enc(Event::Parted {
                who: ALICE,
                room: "#rust",
                reason: None
            }),
            ":alice!al@127.0.0.1 PART #rust\r\n"
        );
        assert_eq!(
            enc(Event::Quit {
                who: ALICE,
                reason: None
            }),
            ":alice!al@127.0.0.1 QUIT :Client Quit\r\n"
        );
        assert_eq!(
            enc(Event::NickChanged {
                who: ALICE,
                new: "al2"
            }),
            ":alice!al@127.0.0.1 NICK al2\r\n"
        );
        assert_eq!(
            enc(Event::Kicked {
                by: ALICE,
                room: "#r",
                victim: "bob",
                reason: "bye now"
            }),
            ":alice!al@127.0.0.1 KICK #r bob :bye now\r\n"
        );
        assert_eq!(
            enc(Event::ModeChanged {
                by: ALICE,
                room: "#r",
                changes: &[
                    ModeChange::Key(Some("sesame")),
                    ModeChange::Member(true, Role::Op, "bob")
                ]
            }),
            ":alice!al@127.0.0.1 MODE #r +ko sesame bob\r\n"
        );
        assert_eq!(
            enc(Event::TopicChanged {
                who: ALICE,
                room: "#r",
                topic: ""
            }),
            ":alice!al@127.0.0.1 TOPIC #r :\r\n"
        );
    }

    #[test]
    fn numerics_are_addressed_to_me() {
        assert_eq!(
            enc(Event::Fail(Fail::NoSuchNick("zed"))),
            ":snak.test 401 bob zed :No such nick/channel\r\n"
        );
        assert_eq!(
            enc(Event::Fail(Fail::NotOperator("#r"))),
            ":snak.test 482 bob #r :You're not channel operator\r\n"
        );
        assert_eq!(
            enc(Event::Fail(Fail::BadNick("", NameError::Empty))),
            ":snak.test 432 bob * :a nick cannot be empty\r\n"
        );
        assert_eq!(
            enc(Event::Reply(Reply::Topic {
                room: "#r",
                topic: None
            })),
            ":snak.test 331 bob #r :No topic is set\r\n"
        );
        let mut out = Vec::new();
        encode(&Event::Fail(Fail::NotRegistered), "", "s", &mut out);
        assert_eq!(out, b":s 451 * :You have not registered\r\n");
    }

    #[test]
    fn who_and_names() {
        let members = [
            Member {
                nick: "alice",
                user: "al",
                host: "::1",
                realname: "Alice A",
                op: true,
                voice: true,
                away: false,
                oper: false,
                bot: false,
                account: None,
            },
            Member {
                nick: "bob",
                user: "bob",
                host: "h",
                realname: "",
                op: false,
                voice: true,
                away: true,
                oper: false,
                bot: false,
                account: None,
            },
        ];
        let who = enc(Event::Reply(Reply::Members {
            room: "#r",
            members: &members,
            names: false,
            more: 0,
        }));
        assert_eq!(
            lines(&who),
            [
                ":snak.test 352 bob #r al 0::1 snak.test alice H@ :0 Alice A\r\n",
                ":snak.test 352 bob #r bob h snak.test bob G+ :0 \r\n",
                ":snak.test 315 bob #r :End of /WHO list\r\n",
            ]
        );
        let names = enc(Event::Reply(Reply::Members {
            room: "#r",
            members: &members,
            names: true,
            more: 0,
        }));
        assert_eq!(
            lines(&names),
            [
                ":snak.test 353 bob = #r :@alice +bob\r\n",
                ":snak.test 366 bob #r :End of /NAMES list\r\n",
            ]
        );
        let empty = enc(Event::Reply(Reply::Members {
            room: "#none",
            members: &[],
            names: true,
            more: 0,
        }));
        assert_eq!(empty, ":snak.test 366 bob #none :End of /NAMES list\r\n");
        let mut multi = Vec::new();
        let reply = Event::Reply(Reply::Members {
            room: "#r",
            members: &members,
            names: true,
            more: 0,
        });
        encode_with(
            &reply,
            "bob",
            "snak.test",
            caps::MULTI_PREFIX,
            0,
            &mut multi,
        );
        assert!(String::from_utf8_lossy(&multi).contains(":@+alice +bob\r\n"));
    }

    #[test]
    fn big_names_lists_are_split_within_512_bytes() {
        let nicks: Vec<String> = (0..300).map(|i| format!("user{i:04}-abcdefgh")).collect();
        let members: Vec<Member<'_>> = nicks.iter().map(|n| Member::plain(n)).collect();
        let text = enc(Event::Reply(Reply::Members {
            room: "#big",
            members: &members,
            names: true,
            more: 0,
        }));
        let mut listed = 0;
        for line in lines(&text) {
            assert!(line.len() <= 512, "{} bytes", line.len());
            let msg = parse(line.trim_end().as_bytes()).unwrap();
            if msg.command() == "353" {
                listed += msg.param(3).unwrap().split(' ').count();
            }
        }
        assert_eq!(listed, 300);
    }

    #[test]
    fn long_relayed_text_is_cut_at_a_char_boundary() {
        let text = "é".repeat(400);
        for kind in [MsgKind::Normal, MsgKind::Action, MsgKind::Notice] {
            let s = enc(Event::RoomMessage {
                meta: META,
                from: ALICE,
                room: "#r",
                kind,
                text: &text,
                tags: "",
            });
            assert!(s.len() <= 512, "{} bytes", s.len());
            assert!(s.ends_with("\r\n"));
            let msg = parse(s.trim_end_matches("\r\n").as_bytes()).unwrap();
            let body = msg.param(1).unwrap();
            assert!(body.len() > 400);
            if kind == MsgKind::Action {
                assert!(body.starts_with("\x01ACTION ") && body.ends_with('\x01'));
            }
        }
        let s = enc(Event::Quit {
            who: ALICE,
            reason: Some(&text),
        });
        assert!(s.len() <= 512 && s.ends_with("\r\n"));
    }

    #[test]
    fn text_cannot_inject_lines() {
        let s = enc(Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#r",
            kind: MsgKind::Normal,
            text: "a\r\nQUIT :x\0",
            tags: "",
        });
        assert_eq!(s, ":alice!al@127.0.0.1 PRIVMSG #r :a  QUIT :x \r\n");
        let s = enc(Event::Bye { reason: "x\r\ny" });
        assert_eq!(s, "ERROR :Closing link (Quit: x  y)\r\n");
    }

    #[test]
    fn nothing_for_native_only_events() {
        assert_eq!(enc(Event::Greeting { nick: "x" }), "");
        assert_eq!(
            enc(Event::File(FileEvent::Accepted(1))),
            ":snak.test NOTICE bob :File 1: accepted\r\n",
            "IRC users hear of files as notices"
        );
        let mut files = Vec::new();
        let ev = Event::File(FileEvent::Accepted(1));
        encode_with(&ev, "bob", "snak.test", caps::SNAK_FILES, 0, &mut files);
        assert_eq!(
            files, b":snak.test FILE ACCEPTED 1\r\n",
            "the web page gets FILE lines"
        );
        assert_eq!(enc(Event::Reply(Reply::CurrentRoom(None))), "");
        assert_eq!(enc(Event::ShuttingDown), "ERROR :Server shutting down\r\n");
    }

    #[test]
    fn whois_lines() {
        let rooms = [("#a", "@"), ("#b", "+")];
        let s = enc(Event::Reply(Reply::Whois(Whois {
            nick: "alice",
            user: "al",
            host: "h",
            realname: "Alice",
            rooms: &rooms,
            oper: true,
            away: Some("lunch"),
            account: None,
            bot: false,
            secure: false,
            certfp: None,
            server: None,
        })));
        assert_eq!(
            lines(&s),
            [
                ":snak.test 311 bob alice al h * Alice\r\n",
                ":snak.test 319 bob alice :@#a +#b\r\n",
                ":snak.test 312 bob alice snak.test snak\r\n",
                ":snak.test 313 bob alice :is an IRC operator\r\n",
                ":snak.test 301 bob alice lunch\r\n",
            ]
        );
    }

    #[test]
    fn times_and_msgids_are_written_as_the_formatter_would() {
        for ms in [
            0,
            999,
            951_782_400_000,
            1_764_622_735_123,
            253_402_300_799_999,
        ] {
            let mut out = Vec::new();
            write_time(ms, &mut out);
            let back = parse_time(std::str::from_utf8(&out).unwrap());
            assert_eq!(back, Some(ms), "{}", String::from_utf8_lossy(&out));
        }
        for id in [0, 0xab, 0x0123_4567_89ab_cdef, u64::MAX] {
            let mut out = Vec::new();
            MsgId(id).write_to(&mut out);
            assert_eq!(out, format!("{id:016x}").as_bytes());
        }
    }

    #[test]
    fn times_are_written_and_read_back() {
        let mut out = Vec::new();
        write_time(1_764_622_735_123, &mut out);
        assert_eq!(out, b"2025-12-01T20:58:55.123Z");
        assert_eq!(
            parse_time("2025-12-01T20:58:55.123Z"),
            Some(1_764_622_735_123)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2019-01-04T14:33:26.1Z"),
            Some(1_546_612_406_100)
        );
        for bad in [
            "",
            "*",
            "not-a-timestamp",
            "2019-13-01T00:00:00Z",
            "2019-01-01 00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        let mut out = Vec::new();
        write_time(951_782_400_000, &mut out);
        assert_eq!(out, b"2000-02-29T00:00:00.000Z", "a leap day");
    }

    #[test]
    fn tags_are_written_once_for_the_caps_that_ask() {
        let from = Source {
            bot: true,
            account: Some("acc"),
            ..ALICE
        };
        let ev = Event::RoomMessage {
            meta: Meta {
                id: MsgId(0xab),
                time_ms: 0,
            },
            from,
            room: "#r",
            kind: MsgKind::Normal,
            text: "hi",
            tags: "+typing=active",
        };
        let mut out = Vec::new();
        encode_with(&ev, "", "s", caps::TAGS, 5, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "@time=1970-01-01T00:00:00.000Z;msgid=00000000000000ab;account=acc;bot;+typing=active \
             :alice!al@127.0.0.1 PRIVMSG #r :hi\r\n"
        );
        let mut out = Vec::new();
        encode_with(
            &ev,
            "",
            "s",
            caps::SERVER_TIME | caps::MULTI_PREFIX,
            5,
            &mut out,
        );
        assert!(out.starts_with(b"@time=1970-01-01T00:00:00.000Z :alice"));
        // Events without a time of their own get the pass's.
        let mut out = Vec::new();
        let join = Event::Joined {
            who: ALICE,
            room: "#r",
        };
        encode_with(&join, "", "s", caps::SERVER_TIME, 1_500, &mut out);
        assert_eq!(
            out,
            b"@time=1970-01-01T00:00:01.500Z :alice!al@127.0.0.1 JOIN #r\r\n"
        );
        // Nothing for a recipient that did not ask: no tags either.
        let away = Event::Extra(Extra::Away {
            who: ALICE,
            text: None,
            monitor: false,
        });
        let mut out = Vec::new();
        encode_with(&away, "", "s", caps::SERVER_TIME, 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(caps::relevant(&away) & caps::AWAY_NOTIFY, caps::AWAY_NOTIFY);
        assert_eq!(caps::relevant(&ev) & caps::ECHO_MESSAGE, 0);
    }

    #[test]
    fn labeled_answers() {
        let mut out = Vec::new();
        label_response(b"", "a", "B1", "s", true, &mut out);
        assert_eq!(out, b"@label=a :s ACK\r\n");
        let mut out = Vec::new();
        label_response(b"@time=x :n PING\r\n", "a", "B1", "s", true, &mut out);
        assert_eq!(out, b"@label=a;time=x :n PING\r\n");
        let mut out = Vec::new();
        label_response(b":s 1\r\n@t=1 :s 2\r\n", "a", "B1", "s", true, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "@label=a :s BATCH +B1 labeled-response\r\n@batch=B1 :s 1\r\n@batch=B1;t=1 :s 2\r\n:s BATCH -B1\r\n"
        );
        let mut out = Vec::new();
        label_response(b":s 1\r\n:s 2\r\n", "a", "B1", "s", false, &mut out);
        assert_eq!(out, b":s 1\r\n:s 2\r\n");
    }

    #[test]
    fn long_native_text_is_split_not_cut() {
        let from = Source {
            long_text: true,
            ..ALICE
        };
        let text = "rødgrød med fløde ".repeat(60);
        let ev = Event::RoomMessage {
            meta: META,
            from,
            room: "#r",
            kind: MsgKind::Normal,
            text: &text,
            tags: "",
        };
        let mut out = Vec::new();
        encode_with(&ev, "", "s", caps::SERVER_TIME, 0, &mut out);
        let s = String::from_utf8(out).unwrap();
        let mut joined = String::new();
        for line in lines(&s) {
            assert!(line.len() <= 512 + 31, "{} bytes", line.len());
            let msg = parse(line.trim_end_matches("\r\n").as_bytes()).unwrap();
            assert!(msg.tag("time").is_some(), "every piece has the tags");
            joined.push_str(msg.param(1).unwrap());
        }
        assert!(lines(&s).len() > 1);
        assert_eq!(joined, text);
    }
}
