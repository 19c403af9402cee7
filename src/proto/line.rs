//! The native line protocol codec (pure): one client line in, one [`Input`] out; one
//! [`Event`] in, its bytes appended to a buffer. See `docs/PROTOCOL.md`.

use std::io::Write;

use crate::event::*;
use crate::hub::Command;

/// What one client line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Nothing to do (an empty line).
    Empty,
    Command(Command<'a>),
    /// `/data ID LEN`: LEN raw bytes follow the line.
    Data {
        id: u64,
        len: u64,
    },
    Quit(Option<&'a str>),
}

/// The usage text of every command, also the `/help` listing.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/nick NAME", "change your nick"),
    (
        "/msg NICK[,NICK...] TEXT",
        "a direct message to one user or a group",
    ),
    (
        "/join #ROOM",
        "join a room (created if needed) and make it current",
    ),
    (
        "/part [#ROOM] [REASON]",
        "leave a room (the current one by default)",
    ),
    (
        "/say #ROOM TEXT",
        "a message to a room you are in, without switching",
    ),
    ("/me ACTION", "an action in the current room"),
    ("/rooms", "list the rooms and their member counts"),
    ("/who [#ROOM]", "list a room's members"),
    ("/topic [#ROOM] [TEXT]", "show or set a room's topic"),
    (
        "/offer NICK SIZE NAME",
        "offer a file; /accept ID, /decline ID, /cancel ID answer or stop it",
    ),
    ("/quit [REASON]", "leave"),
    ("/help", "this list"),
];

fn usage(cmd: &str) -> Fail<'static> {
    let text = COMMANDS
        .iter()
        .find(|(u, _)| u.split(' ').next() == Some(cmd))
        .map(|(u, _)| *u);
    Fail::Usage(text.unwrap_or(match cmd {
        "/accept" => "/accept ID",
        "/decline" => "/decline ID",
        "/cancel" => "/cancel ID",
        _ => "/data ID LEN",
    }))
}

/// Splits off the first space-separated word; the rest starts at its first non-space.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(' ');
    match s.find(' ') {
        Some(i) => (&s[..i], s[i..].trim_start_matches(' ')),
        None => (s, ""),
    }
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim_end_matches(' ');
    (!s.is_empty()).then_some(s)
}

/// Whether `bytes` holds a control character (a TAB only if not `tab_ok`). Every message
/// passes through here twice, so it is written without an early exit, which lets the compiler
/// check many bytes per instruction.
fn has_control(bytes: &[u8], tab_ok: bool) -> bool {
    bytes.iter().fold(false, |found, &b| {
        found | ((b < 0x20 && !(tab_ok && b == b'\t')) | (b == 0x7f))
    })
}

/// Parses one line, given without its `\n` or `\r\n`.
pub fn parse(line: &[u8]) -> Result<Input<'_>, Fail<'_>> {
    let text = std::str::from_utf8(line).map_err(|_| Fail::BadUtf8)?;
    if has_control(text.as_bytes(), true) {
        return Err(Fail::ControlChar);
    }
    if text.trim_matches(|c| c == ' ' || c == '\t').is_empty() {
        return Ok(Input::Empty);
    }
    let say = |text| {
        Ok(Input::Command(Command::SayCurrent {
            kind: MsgKind::Normal,
            text,
        }))
    };
    if text.starts_with("//") {
        return say(&text[1..]);
    }
    if !text.starts_with('/') {
        return say(text);
    }
    let (name, rest) = word(text);
    // Folded on the stack: no allocation per command line.
    let lower = crate::names::Key::new(name);
    let cmd = &*lower;
    let (a, after_a) = word(rest);
    let one_arg = |a: &str, after: &str| (!a.is_empty() && after.is_empty()).then_some(());
    let id_arg = || {
        one_arg(a, after_a)
            .and_then(|_| a.parse::<u64>().ok())
            .ok_or_else(|| usage(cmd))
    };
    let command = match cmd {
        "/nick" => Command::Nick(one_arg(a, after_a).map(|_| a).ok_or_else(|| usage(cmd))?),
        "/msg" | "/say" => {
            let text = nonempty(after_a).ok_or_else(|| usage(cmd))?;
            if cmd == "/say" && !a.starts_with('#') {
                return Err(usage(cmd));
            }
            Command::Message {
                targets: a,
                kind: MsgKind::Normal,
                text,
            }
        }
        "/me" => Command::SayCurrent {
            kind: MsgKind::Action,
            text: nonempty(rest).ok_or_else(|| usage(cmd))?,
        },
        "/join" => {
            let (key, extra) = word(after_a);
            if a.is_empty() || !extra.is_empty() {
                return Err(usage(cmd));
            }
            Command::Join {
                rooms: a,
                keys: nonempty(key),
            }
        }
        "/part" => match a.starts_with('#') {
            true => Command::Part {
                rooms: Some(a),
                reason: nonempty(after_a),
            },
            false => Command::Part {
                rooms: None,
                reason: nonempty(rest),
            },
        },
        "/rooms" | "/list" if rest.is_empty() => Command::ListRooms,
        "/who" if after_a.is_empty() => Command::Who(nonempty(a)),
        "/topic" => match a.starts_with('#') {
            true => Command::Topic {
                room: Some(a),
                text: nonempty(after_a),
            },
            false => Command::Topic {
                room: None,
                text: nonempty(rest),
            },
        },
        "/offer" => {
            let (size, name) = word(after_a);
            let size = size.parse::<u64>().map_err(|_| usage(cmd))?;
            match (a.is_empty(), nonempty(name)) {
                (false, Some(name)) if name.len() <= 255 => Command::Offer { to: a, size, name },
                _ => return Err(usage(cmd)),
            }
        }
        "/accept" => Command::Accept(id_arg()?),
        "/decline" => Command::Decline(id_arg()?),
        "/cancel" => Command::Cancel(id_arg()?),
        "/data" => {
            let (len, extra) = word(after_a);
            match (a.parse::<u64>(), len.parse::<u64>(), extra.is_empty()) {
                (Ok(id), Ok(len), true) => return Ok(Input::Data { id, len }),
                _ => return Err(Fail::BadFrame("a data frame is /data ID LEN")),
            }
        }
        "/quit" => return Ok(Input::Quit(nonempty(rest))),
        "/help" => Command::Help,
        "/rooms" | "/list" | "/who" => return Err(usage(cmd)),
        _ => return Err(Fail::UnknownCommand(name_for_error(name))),
    };
    Ok(Input::Command(command))
}

/// The unknown command as typed, cut short so an error line stays short.
fn name_for_error(name: &str) -> &str {
    match name.char_indices().nth(32) {
        Some((i, _)) => &name[..i],
        None => name,
    }
}

/// Appends text, leaving out control characters (IRC formatting codes, say) so nothing a peer
/// sent can break a line or a frame.
fn push_text(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if !has_control(bytes, false) {
        return out.extend_from_slice(bytes);
    }
    out.extend(bytes.iter().filter(|&&b| b >= 0x20 && b != 0x7f));
}

fn push(out: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        push_text(out, p);
    }
}

/// Appends the bytes of `event` as told to the client `me`. Events that mean nothing in this
/// protocol append nothing.
pub fn encode(event: &Event<'_>, me: &str, out: &mut Vec<u8>) {
    let _ = me;
    match *event {
        Event::RoomMessage {
            from,
            room,
            kind,
            text,
            ..
        } => match kind {
            MsgKind::Action => push(out, &[room, " * ", from.nick, " ", text]),
            _ => push(out, &[room, " <", from.nick, "> ", text]),
        },
        Event::DirectMessage {
            from,
            to,
            kind,
            text,
            ..
        } => match kind {
            MsgKind::Action => push(out, &["@", to, " * ", from.nick, " ", text]),
            _ => push(out, &["@", to, " <", from.nick, "> ", text]),
        },
        Event::Greeting { nick } => {
            let version = env!("CARGO_PKG_VERSION");
            push(
                out,
                &["* Hello, world! This is snak ", version, ". You are ", nick],
            );
            push(out, &[" in #lobby. Type /help for commands."]);
        }
        Event::Joined { who, room } => push(out, &["* ", who.nick, " joined ", room]),
        Event::Parted { who, room, reason } => {
            push(out, &["* ", who.nick, " left ", room]);
            push_reason(out, reason);
        }
        Event::Quit { who, reason } => {
            push(out, &["* ", who.nick, " quit"]);
            push_reason(out, reason);
        }
        Event::NickChanged { who, new } => push(out, &["* ", who.nick, " is now known as ", new]),
        Event::TopicChanged { who, room, topic } => push(
            out,
            &["* ", who.nick, " set the topic of ", room, " to: ", topic],
        ),
        Event::Kicked {
            by,
            room,
            victim,
            reason,
        } => {
            push(
                out,
                &["* ", victim, " was kicked from ", room, " by ", by.nick],
            );
            push_reason(out, Some(reason));
        }
        Event::ModeChanged { by, room, changes } => {
            let mut modes = String::new();
            crate::proto::modes::write_room_changes(changes, &mut modes);
            push(out, &["* ", by.nick, " sets mode ", &modes, " on ", room])
        }
        Event::Invited { by, who: _, room } => {
            push(out, &["* ", by.nick, " invites you to ", room])
        }
        Event::UserModeChanged { who, changes } => {
            let mut modes = String::new();
            crate::proto::modes::write_user_changes(changes, &mut modes);
            push(out, &["* ", who.nick, " sets mode ", &modes])
        }
        Event::Killed { by, reason, .. } => {
            push(out, &["* you were disconnected by ", by.nick]);
            push_reason(out, Some(reason));
        }
        Event::Bye { .. } => push(out, &["* bye"]),
        Event::ShuttingDown => push(out, &["* server shutting down"]),
        Event::Reply(reply) => encode_reply(&reply, out),
        Event::Fail(fail) => encode_fail(&fail, out),
        Event::File(file) => encode_file(&file, out),
        Event::Extra(_) => return,
    }
    out.push(b'\n');
}

fn push_reason(out: &mut Vec<u8>, reason: Option<&str>) {
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        push(out, &[" (", r, ")"]);
    }
}

fn encode_reply(reply: &Reply<'_>, out: &mut Vec<u8>) {
    match *reply {
        Reply::CurrentRoom(room) => push(out, &["= current ", room.unwrap_or("none")]),
        Reply::RoomEntry { room, count, topic } => {
            let _ = write!(out, "= room {room} {count}");
            if let Some(t) = topic {
                push(out, &[" ", t]);
            }
        }
        Reply::RoomListEnd { count } => {
            let _ = write!(out, "= end rooms {count}");
        }
        Reply::Members { room, members, .. } => {
            // Lines of at most about 400 bytes, so a big room stays readable and parseable.
            let mut line_start = out.len();
            push(out, &["= who ", room]);
            for m in members {
                if out.len() - line_start > 400 {
                    out.push(b'\n');
                    line_start = out.len();
                    push(out, &["= who ", room]);
                }
                let prefix = match (m.op, m.voice) {
                    (true, _) => "@",
                    (false, true) => "+",
                    (false, false) => "",
                };
                push(out, &[" ", prefix, m.nick]);
            }
            out.push(b'\n');
            let _ = write!(out, "= end who {room} {}", members.len());
        }
        Reply::Topic { room, topic } => {
            push(out, &["= topic ", room]);
            if let Some(t) = topic {
                push(out, &[" ", t.text]);
            }
        }
        Reply::Help => {
            for (usage, what) in COMMANDS {
                let _ = writeln!(out, "= help {usage:<26} {what}");
            }
            push(out, &["= end help"]);
        }
        // The rest answer IRC commands; a native client sees them only as below.
        Reply::Away { nick, text } => push(out, &["* ", nick, " is away: ", text]),
        Reply::UnAway => push(out, &["= away off"]),
        Reply::NowAway => push(out, &["= away on"]),
        Reply::Whois(w) => {
            push(
                out,
                &[
                    "= whois ", w.nick, " ", w.user, "@", w.host, " ", w.realname,
                ],
            );
        }
        Reply::EndOfWhois(nick) => push(out, &["= end whois ", nick]),
        Reply::Whowas {
            nick, user, host, ..
        } => push(out, &["= whowas ", nick, " ", user, "@", host]),
        Reply::EndOfWhowas(nick) => push(out, &["= end whowas ", nick]),
        Reply::Userhost(users) => {
            push(out, &["= userhost"]);
            for (nick, _, _, user, host) in users {
                push(out, &[" ", nick, "=", user, "@", host]);
            }
        }
        Reply::Ison(nicks) => {
            push(out, &["= ison"]);
            for nick in nicks {
                push(out, &[" ", nick]);
            }
        }
        Reply::Lusers {
            users,
            opers,
            rooms,
            ..
        } => {
            let _ = write!(
                out,
                "= lusers {users} users {opers} operators {rooms} rooms"
            );
        }
        Reply::RoomModes {
            room,
            modes,
            show_key,
            ..
        } => {
            let mut text = String::new();
            crate::proto::modes::write_mode_set(&modes, show_key, &mut text);
            push(out, &["= modes ", room, " ", &text])
        }
        Reply::MaskList {
            room,
            list,
            entries,
        } => {
            let word = match list {
                ListMode::Ban => "bans",
                ListMode::Except => "excepts",
                ListMode::InviteExcept => "invex",
            };
            for (mask, by, _) in entries {
                push(out, &["= ", word, " ", room, " ", mask, " ", by]);
                out.push(b'\n');
            }
            push(out, &["= end ", word, " ", room]);
        }
        Reply::UserModes(bits) => {
            let mut text = String::new();
            crate::proto::modes::write_user_modes(bits, &mut text);
            push(out, &["= modes ", &text])
        }
        Reply::Inviting { who, room } => push(out, &["= inviting ", who, " ", room]),
        Reply::YoureOper => push(out, &["= oper you are now a server operator"]),
    }
}

fn encode_fail(fail: &Fail<'_>, out: &mut Vec<u8>) {
    let _ = match *fail {
        Fail::UnknownCommand(c) => write!(out, "! unknown-command {c}: type /help for the list"),
        Fail::Usage(u) => write!(out, "! usage {u}"),
        Fail::BadUtf8 => write!(
            out,
            "! bad-utf8 the line was not valid UTF-8; it was dropped"
        ),
        Fail::ControlChar => write!(
            out,
            "! control-char the line had a control character; it was dropped"
        ),
        Fail::LineTooLong(max) => write!(
            out,
            "! line-too-long lines are limited to {max} bytes; it was dropped"
        ),
        Fail::BadNick(n, e) => write!(out, "! bad-nick {n}: {}", e.nick_reason()),
        Fail::NickTaken(n) => write!(out, "! nick-taken {n} is already in use"),
        Fail::BadRoom(r, e) => write!(out, "! bad-room {r}: {}", e.room_reason()),
        Fail::NoSuchNick(n) => write!(out, "! no-such-nick {n}"),
        Fail::NoSuchRoom(r) => write!(out, "! no-such-room {r}"),
        Fail::NotInRoom(r) => write!(out, "! not-in-room {r}"),
        Fail::NoRoom => write!(out, "! no-room you are in no room; /join #ROOM first"),
        Fail::CannotSend(r, why) => write!(out, "! cannot-send {r} ({why})"),
        Fail::TooManyTargets(_, max) => write!(
            out,
            "! too-many-targets a message names at most {max} rooms and nicks; nothing was sent"
        ),
        Fail::TooManyRooms(r, 0) => write!(
            out,
            "! too-many-rooms {r}: the server holds as many rooms as it can"
        ),
        Fail::TooManyRooms(r, max) => write!(
            out,
            "! too-many-rooms {r}: you are in {max} rooms, the most allowed; /part one first"
        ),
        Fail::TooManyTransfers(max) => write!(
            out,
            "! too-many-transfers you have {max} offers and transfers open, the most allowed"
        ),
        Fail::Banned(r) => write!(out, "! banned {r}"),
        Fail::RoomFull(r) => write!(out, "! room-full {r}"),
        Fail::InviteOnly(r) => write!(out, "! invite-only {r}"),
        Fail::BadKey(r) => write!(out, "! bad-key {r}"),
        Fail::NotOperator(r) => write!(out, "! not-operator you are not an operator of {r}"),
        Fail::BadFrame(why) => write!(out, "! bad-frame {why}"),
        Fail::NoSuchTransfer(id) => write!(out, "! no-such-transfer {id}"),
        Fail::FileTooLarge { size, max } => write!(
            out,
            "! file-too-large {size} is over the limit of {max} bytes"
        ),
        Fail::CannotReceiveFiles(n) => write!(
            out,
            "! cannot-receive-files {n} uses a client that cannot take files"
        ),
        Fail::Flood => write!(
            out,
            "! flood you send too fast; your lines are being delayed"
        ),
        Fail::ServerFull => write!(out, "! server-full try again later"),
        Fail::TooManyFromAddress => write!(
            out,
            "! too-many-connections from your address; close one and try again"
        ),
        Fail::TlsRequired => write!(
            out,
            "! tls-required this port speaks TLS; connect with TLS, or to the plain port"
        ),
        Fail::ConnectingTooFast => {
            write!(
                out,
                "! too-fast you connect too often; try again in a minute"
            )
        }
        // IRC's failures; native commands do not cause them, but every event has a line.
        Fail::NeedMoreParams(c) => write!(out, "! usage {c} needs more parameters"),
        Fail::NoRecipient(c) => write!(out, "! usage {c} needs a recipient"),
        Fail::NoTextToSend => write!(out, "! usage no text to send"),
        Fail::NoNickGiven => write!(out, "! usage no nick given"),
        Fail::NotRegistered => write!(out, "! usage register first"),
        Fail::AlreadyRegistered => write!(out, "! usage you are already registered"),
        Fail::PasswordMismatch => write!(out, "! usage wrong password"),
        Fail::UserNotInRoom(n, r) => write!(out, "! not-in-room {n} is not in {r}"),
        Fail::UserInRoom(n, r) => write!(out, "! usage {n} is already in {r}"),
        Fail::NoPrivileges => write!(out, "! not-operator you are not a server operator"),
        Fail::UnknownMode(c) => write!(out, "! usage unknown mode {}", c.escape_default()),
        Fail::UnknownUserMode => write!(out, "! usage unknown user mode"),
        Fail::UsersDontMatch => write!(out, "! usage you can only change your own modes"),
        Fail::WasNoSuchNick(n) => write!(out, "! no-such-nick {n}"),
    };
}

fn encode_file(file: &FileEvent<'_>, out: &mut Vec<u8>) {
    let _ = match *file {
        FileEvent::Offered { id, to, size, name } => write!(out, "% offered {id} {to} {size} {name}"),
        FileEvent::Offer { id, from, size, name } => write!(
            out,
            "% offer {id} {from} {size} {name}\n* {from} offers you \"{name}\" ({size} bytes): /accept {id} or /decline {id}"
        ),
        FileEvent::Accepted(id) => write!(out, "% accepted {id}"),
        FileEvent::Declined(id) => write!(out, "% declined {id}"),
        FileEvent::Expired(id) => write!(out, "% expired {id}"),
        FileEvent::Done(id) => write!(out, "% done {id}"),
        FileEvent::Abort { id, reason } => match reason {
            AbortReason::CancelledBy(n) => write!(out, "% abort {id} cancelled by {n}"),
            AbortReason::Disconnected(n) => write!(out, "% abort {id} {n} disconnected"),
            AbortReason::TooMuchData => write!(out, "% abort {id} too much data"),
            AbortReason::Stalled => write!(out, "% abort {id} stalled: the recipient stopped reading"),
            AbortReason::Idle => write!(out, "% abort {id} idle: no data came in time"),
            AbortReason::ShuttingDown => write!(out, "% abort {id} server shutting down"),
        },
    };
}

/// The header of a forwarded data frame; the payload follows it.
pub fn encode_data_header(id: u64, len: usize, out: &mut Vec<u8>) {
    let _ = writeln!(out, "% data {id} {len}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: Meta = Meta {
        id: MsgId(1),
        time_ms: 0,
    };

    fn cmd(line: &str) -> Command<'_> {
        match parse(line.as_bytes()) {
            Ok(Input::Command(c)) => c,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn fail(line: &[u8]) -> Fail<'_> {
        parse(line).expect_err("should fail")
    }

    fn enc(ev: Event<'_>) -> String {
        let mut out = Vec::new();
        encode(&ev, "me", &mut out);
        String::from_utf8(out).unwrap()
    }

    const ALICE: Source<'static> = Source::plain("alice", "alice", "127.0.0.1");

    #[test]
    fn plain_lines_go_to_the_current_room() {
        assert_eq!(
            cmd("hello there"),
            Command::SayCurrent {
                kind: MsgKind::Normal,
                text: "hello there"
            }
        );
        assert_eq!(
            cmd("//shrug"),
            Command::SayCurrent {
                kind: MsgKind::Normal,
                text: "/shrug"
            }
        );
        assert_eq!(
            cmd("tab\tok"),
            Command::SayCurrent {
                kind: MsgKind::Normal,
                text: "tab\tok"
            }
        );
        assert_eq!(parse(b""), Ok(Input::Empty));
        assert_eq!(parse(b"   "), Ok(Input::Empty));
    }

    #[test]
    fn commands_parse_with_odd_spacing_and_case() {
        assert_eq!(cmd("/NICK  alice"), Command::Nick("alice"));
        assert_eq!(
            cmd("/msg bob,carol  hi  there "),
            Command::Message {
                targets: "bob,carol",
                kind: MsgKind::Normal,
                text: "hi  there"
            }
        );
        assert_eq!(
            cmd("/join #rust"),
            Command::Join {
                rooms: "#rust",
                keys: None
            }
        );
        assert_eq!(
            cmd("/join #rust sesame"),
            Command::Join {
                rooms: "#rust",
                keys: Some("sesame")
            }
        );
        assert_eq!(
            cmd("/part"),
            Command::Part {
                rooms: None,
                reason: None
            }
        );
        assert_eq!(
            cmd("/part bye now"),
            Command::Part {
                rooms: None,
                reason: Some("bye now")
            }
        );
        assert_eq!(
            cmd("/part #rust bye"),
            Command::Part {
                rooms: Some("#rust"),
                reason: Some("bye")
            }
        );
        assert_eq!(
            cmd("/say #rust yo"),
            Command::Message {
                targets: "#rust",
                kind: MsgKind::Normal,
                text: "yo"
            }
        );
        assert_eq!(
            cmd("/me waves"),
            Command::SayCurrent {
                kind: MsgKind::Action,
                text: "waves"
            }
        );
        assert_eq!(cmd("/rooms"), Command::ListRooms);
        assert_eq!(cmd("/who"), Command::Who(None));
        assert_eq!(cmd("/who #rust"), Command::Who(Some("#rust")));
        assert_eq!(
            cmd("/topic #rust new topic"),
            Command::Topic {
                room: Some("#rust"),
                text: Some("new topic")
            }
        );
        assert_eq!(
            cmd("/offer bob 10 my file.txt"),
            Command::Offer {
                to: "bob",
                size: 10,
                name: "my file.txt"
            }
        );
        assert_eq!(cmd("/accept 3"), Command::Accept(3));
        assert_eq!(parse(b"/data 3 100"), Ok(Input::Data { id: 3, len: 100 }));
        assert_eq!(parse(b"/quit"), Ok(Input::Quit(None)));
        assert_eq!(
            parse(b"/quit gone fishing"),
            Ok(Input::Quit(Some("gone fishing")))
        );
    }

    #[test]
    fn bad_input_gets_a_clear_error() {
        assert_eq!(fail(b"\xff\xfe"), Fail::BadUtf8);
        assert_eq!(fail(b"a\x00b"), Fail::ControlChar);
        assert_eq!(fail(b"a\rb"), Fail::ControlChar);
        assert_eq!(fail(b"\x1b[31mred"), Fail::ControlChar);
        assert_eq!(fail(b"/frobnicate x"), Fail::UnknownCommand("/frobnicate"));
        assert_eq!(fail(b"/nick"), Fail::Usage("/nick NAME"));
        assert_eq!(fail(b"/nick a b"), Fail::Usage("/nick NAME"));
        assert_eq!(fail(b"/msg bob"), Fail::Usage("/msg NICK[,NICK...] TEXT"));
        assert_eq!(fail(b"/say rust hi"), Fail::Usage("/say #ROOM TEXT"));
        assert_eq!(fail(b"/join"), Fail::Usage("/join #ROOM"));
        assert_eq!(fail(b"/accept x"), Fail::Usage("/accept ID"));
        assert_eq!(
            fail(b"/offer bob many f"),
            Fail::Usage("/offer NICK SIZE NAME")
        );
        assert_eq!(
            fail(b"/offer bob 99999999999999999999999 f"),
            Fail::Usage("/offer NICK SIZE NAME")
        );
        assert!(matches!(fail(b"/data 1 x"), Fail::BadFrame(_)));
        assert_eq!(fail(b"/rooms now"), Fail::Usage("/rooms"));
    }

    #[test]
    fn events_encode_exactly() {
        let room = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#lobby",
            kind: MsgKind::Normal,
            text: "hi",
            tags: "",
        };
        assert_eq!(enc(room), "#lobby <alice> hi\n");
        let action = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#lobby",
            kind: MsgKind::Action,
            text: "waves",
            tags: "",
        };
        assert_eq!(enc(action), "#lobby * alice waves\n");
        let dm = Event::DirectMessage {
            meta: META,
            from: ALICE,
            to: "bob,carol",
            kind: MsgKind::Normal,
            text: "lunch?",
            tags: "",
        };
        assert_eq!(enc(dm), "@bob,carol <alice> lunch?\n");
        assert_eq!(
            enc(Event::Joined {
                who: ALICE,
                room: "#rust"
            }),
            "* alice joined #rust\n"
        );
        assert_eq!(
            enc(Event::Parted {
                who: ALICE,
                room: "#rust",
                reason: None
            }),
            "* alice left #rust\n"
        );
        assert_eq!(
            enc(Event::Quit {
                who: ALICE,
                reason: Some("bye")
            }),
            "* alice quit (bye)\n"
        );
        assert_eq!(
            enc(Event::NickChanged {
                who: ALICE,
                new: "al"
            }),
            "* alice is now known as al\n"
        );
        assert_eq!(
            enc(Event::Fail(Fail::NoSuchNick("zed"))),
            "! no-such-nick zed\n"
        );
        assert_eq!(enc(Event::File(FileEvent::Accepted(4))), "% accepted 4\n");
        assert!(
            enc(Event::Greeting { nick: "guest-1" }).starts_with("* Hello, world! This is snak ")
        );
    }

    #[test]
    fn text_from_other_protocols_cannot_break_lines() {
        let evil = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#x",
            kind: MsgKind::Normal,
            text: "a\r\n% data 1 5\x02b",
            tags: "",
        };
        assert_eq!(enc(evil), "#x <alice> a% data 1 5b\n");
    }

    #[test]
    fn who_lists_are_split_into_short_lines() {
        let names: Vec<String> = (0..200).map(|i| format!("user{i:03}")).collect();
        let members: Vec<Member<'_>> = names.iter().map(|n| Member::plain(n)).collect();
        let text = enc(Event::Reply(Reply::Members {
            room: "#big",
            members: &members,
            names: false,
            more: 0,
        }));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 3);
        assert_eq!(*lines.last().unwrap(), "= end who #big 200");
        let listed: usize = lines[..lines.len() - 1]
            .iter()
            .map(|l| l.split(' ').count() - 3)
            .sum();
        assert_eq!(listed, 200);
        assert!(lines.iter().all(|l| l.len() < 420));
    }
}
