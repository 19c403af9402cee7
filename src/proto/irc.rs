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
    encode_with(event, me, server_name, 0, out);
}

/// The IRCv3 capabilities that change how events are written, as bits of one `u32`.
pub mod caps {
    use crate::event::{Event, Reply};

    /// Member listings show every prefix (`@+nick`), not only the highest.
    pub const MULTI_PREFIX: u32 = 1 << 0;
    /// `snak.chat/files`: file transfers as `FILE` lines (the web page) rather than notices.
    pub const SNAK_FILES: u32 = 1 << 1;

    /// The capability bits that change how `event` is written: recipients that differ only in
    /// others share one encoding.
    pub fn relevant(event: &Event<'_>) -> u32 {
        match event {
            Event::Reply(Reply::Members { .. }) => MULTI_PREFIX,
            Event::File(_) => SNAK_FILES,
            _ => 0,
        }
    }
}

/// [`encode`] for a client with the capabilities `caps` ([`caps`] bits).
pub fn encode_with(event: &Event<'_>, me: &str, server_name: &str, caps: u32, out: &mut Vec<u8>) {
    let me = if me.is_empty() { "*" } else { me };
    let multi_prefix = caps & caps::MULTI_PREFIX != 0;
    match *event {
        Event::RoomMessage {
            from,
            room,
            kind,
            text,
            ..
        } => text_line(out, from, kind, room, text),
        Event::DirectMessage {
            from, kind, text, ..
        } => text_line(out, from, kind, me, text),
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
        Event::Invited { by, who, room } => relay(out, by, "INVITE", &[who, room]),
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
        Event::Greeting { .. } => {}
        Event::File(file) => encode_file(&file, me, server_name, caps, out),
        Event::Reply(reply) => encode_reply(&reply, me, server_name, multi_prefix, out),
        Event::Fail(fail) => encode_fail(&fail, me, server_name, out),
    }
}

/// `text` with what a line cannot hold (CR, LF, NUL) left to the writers; cut to fit.
fn text_line(out: &mut Vec<u8>, from: Source<'_>, kind: MsgKind, target: &str, text: &str) {
    let start = out.len();
    push_source(out, from);
    let command = if kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" :");
    let action = kind == MsgKind::Action;
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
    out.extend(text.bytes().map(|b| {
        if matches!(b, 0 | b'\r' | b'\n') {
            b' '
        } else {
            b
        }
    }));
}

/// Replaces CR, LF and NUL written since `from` with spaces.
fn clean_tail(out: &mut [u8], from: usize) {
    for b in &mut out[from..] {
        if matches!(*b, 0 | b'\r' | b'\n') {
            *b = b' ';
        }
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
            names_lines(out, srv, me, room, members, multi_prefix);
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
                let flags = format!(
                    "{}{}",
                    if m.away { 'G' } else { 'H' },
                    prefixes(m, multi_prefix)
                );
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
            for (room, op) in w.rooms {
                if rooms.len() > 300 {
                    numeric(out, srv, RPL_WHOISCHANNELS, me, &[w.nick, &rooms]);
                    rooms.clear();
                }
                if !rooms.is_empty() {
                    rooms.push(' ');
                }
                if *op {
                    rooms.push('@');
                }
                rooms.push_str(room);
            }
            if !rooms.is_empty() {
                numeric(out, srv, RPL_WHOISCHANNELS, me, &[w.nick, &rooms]);
            }
            numeric(out, srv, RPL_WHOISSERVER, me, &[w.nick, srv, "snak"]);
            if w.oper {
                numeric(
                    out,
                    srv,
                    RPL_WHOISOPERATOR,
                    me,
                    &[w.nick, "is an IRC operator"],
                );
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
            let n = users.to_string();
            let text = format!("Current local users {users}, max {users}");
            numeric(out, srv, RPL_LOCALUSERS, me, &[&n, &n, &text]);
            let text = format!("Current global users {users}, max {users}");
            numeric(out, srv, RPL_GLOBALUSERS, me, &[&n, &n, &text]);
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
            } => line(
                from,
                &[
                    "OFFER",
                    &id_of(id),
                    &size.to_string(),
                    token_of(download),
                    name,
                ],
            ),
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
            "File {id}: {from} offers you \"{name}\" ({size} bytes). Download: {link} (opening the link accepts). Decline: {link}/decline"
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
    room: &str,
    members: &[Member<'_>],
    multi_prefix: bool,
) {
    // `:srv 353 me = #room :` + names + CRLF
    let overhead = srv.len() + me.len() + room.len() + 12;
    let budget = (MAX_BODY_LEN + 2).saturating_sub(overhead + 2).max(64);
    let mut names = String::new();
    for m in members {
        if !names.is_empty() && names.len() + m.nick.len() + 2 > budget {
            numeric(out, srv, RPL_NAMREPLY, me, &["=", room, &names]);
            names.clear();
        }
        if !names.is_empty() {
            names.push(' ');
        }
        names.push_str(prefixes(m, multi_prefix));
        names.push_str(m.nick);
    }
    if !names.is_empty() {
        numeric(out, srv, RPL_NAMREPLY, me, &["=", room, &names]);
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

    const ALICE: Source<'static> = Source {
        nick: "alice",
        user: "al",
        host: "127.0.0.1",
    };

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
        };
        assert_eq!(enc(ev), ":alice!al@127.0.0.1 PRIVMSG #rust :hi there\r\n");
        let ev = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#rust",
            kind: MsgKind::Action,
            text: "waves",
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
        };
        assert_eq!(enc(ev), ":alice!al@127.0.0.1 NOTICE bob :psst\r\n");
        let ev = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#x",
            kind: MsgKind::Normal,
            text: ":colon first",
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
            },
            Member {
                nick: "bob",
                user: "bob",
                host: "h",
                realname: "",
                op: false,
                voice: true,
                away: true,
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
        encode_with(&reply, "bob", "snak.test", caps::MULTI_PREFIX, &mut multi);
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
        encode_with(&ev, "bob", "snak.test", caps::SNAK_FILES, &mut files);
        assert_eq!(
            files, b":snak.test FILE ACCEPTED 1\r\n",
            "the web page gets FILE lines"
        );
        assert_eq!(enc(Event::Reply(Reply::CurrentRoom(None))), "");
        assert_eq!(enc(Event::ShuttingDown), "ERROR :Server shutting down\r\n");
    }

    #[test]
    fn whois_lines() {
        let rooms = [("#a", true), ("#b", false)];
        let s = enc(Event::Reply(Reply::Whois(Whois {
            nick: "alice",
            user: "al",
            host: "h",
            realname: "Alice",
            rooms: &rooms,
            oper: true,
            away: Some("lunch"),
            account: None,
            secure: false,
            certfp: None,
        })));
        assert_eq!(
            lines(&s),
            [
                ":snak.test 311 bob alice al h * Alice\r\n",
                ":snak.test 319 bob alice :@#a #b\r\n",
                ":snak.test 312 bob alice snak.test snak\r\n",
                ":snak.test 313 bob alice :is an IRC operator\r\n",
                ":snak.test 301 bob alice lunch\r\n",
            ]
        );
    }
}
