//! The native line protocol codec (pure): one client line in, one [`Input`] out; one
//! [`Event`] in, its bytes appended to a buffer. See `docs/PROTOCOL.md`.

use std::io::Write;

use crate::event::*;
use crate::hub::Command;

mod accounts;

/// What one client line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Nothing to do (an empty line).
    Empty,
    Command(Command<'a>),
    /// A command about one room, the current room unless `room` names one: the front end
    /// knows which room is current and makes the hub command.
    InRoom {
        room: Option<&'a str>,
        action: RoomAction<'a>,
    },
    /// `/data ID LEN`: LEN raw bytes follow the line.
    Data {
        id: u64,
        len: u64,
    },
    Quit(Option<&'a str>),
    /// `/history ...`: the words after the command (read by [`crate::proto::history`]).
    History(&'a str),
    /// An account or room registration command, as the services take it.
    Service(crate::proto::services::Request<'a>),
    /// `/oper NAME PASSWORD`: the front end checks the credentials.
    Oper {
        name: &'a str,
        password: &'a str,
    },
    /// `/rehash`: a server operator has the configuration read again.
    Rehash,
    /// `/stats`: a server operator's view of the live figures.
    Stats,
}

/// The moderation commands, which all name a room or mean the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAction<'a> {
    /// `/mode`: show the modes (no changes), or change them: `changes` as IRC writes them
    /// (`+ov-k`), `params` the rest of the line (one parameter per word).
    Mode {
        changes: Option<&'a str>,
        params: &'a str,
    },
    /// `/op`, `/deop`, `/voice`, `/devoice`.
    Role {
        on: bool,
        role: Role,
        nick: &'a str,
    },
    Kick {
        nick: &'a str,
        reason: Option<&'a str>,
    },
    Invite {
        nick: &'a str,
    },
    /// `/ban`, `/unban`.
    Ban {
        on: bool,
        mask: &'a str,
    },
    /// `/bans`: the ban list.
    Bans,
}

/// The usage text of every command, also the `/help` listing.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/nick NAME", "change your nick"),
    (
        "/msg NICK[,NICK...] TEXT",
        "a direct message to one user or a group (also /query)",
    ),
    (
        "/notice NICK|#ROOM TEXT",
        "a notice: a message that is never answered automatically",
    ),
    (
        "/join #ROOM [KEY]",
        "join a room (created if needed) and make it current (also /j)",
    ),
    (
        "/part [#ROOM] [REASON]",
        "leave a room (the current one by default; also /leave)",
    ),
    (
        "/say #ROOM TEXT",
        "a message to a room you are in, without switching",
    ),
    ("/me ACTION", "an action in the current room"),
    ("/rooms", "list the rooms and their member counts"),
    ("/who [#ROOM]", "list a room's members (also /names)"),
    ("/topic [#ROOM] [TEXT]", "show or set a room's topic"),
    (
        "/mode [#ROOM] [CHANGES [PARAMS...]]",
        "show or change a room's modes: +i +m +n +s +t, +k KEY, +l N, +o/+v NICK, +b/+e/+I MASK",
    ),
    (
        "/op NICK [#ROOM]",
        "make NICK an operator of the room; /deop NICK [#ROOM] takes it back",
    ),
    (
        "/voice NICK [#ROOM]",
        "let NICK speak in a moderated room; /devoice NICK [#ROOM] takes it back",
    ),
    ("/kick NICK [#ROOM] [REASON]", "put NICK out of the room"),
    (
        "/invite NICK [#ROOM]",
        "invite NICK to the room (and past +i)",
    ),
    (
        "/ban MASK [#ROOM]",
        "ban NICK!USER@HOST (* and ? match anything); /unban MASK [#ROOM] lifts it",
    ),
    ("/bans [#ROOM]", "list the room's bans"),
    (
        "/whois NICK",
        "who NICK is: address, name, rooms, away, operator",
    ),
    (
        "/away [TEXT]",
        "say you are away; /away alone or /back: back again",
    ),
    (
        "/offer NICK SIZE NAME",
        "offer a file; /accept ID, /decline ID, /cancel ID answer or stop it",
    ),
    (
        "/history [#ROOM|NICK] [N] [before ID|TIME]",
        "what was said: the last N lines (20; at most 100) of a room or a conversation, \
         or those before a message ID or a time (2025-01-02T12:00, UTC)",
    ),
    (
        "/register PASSWORD [EMAIL]",
        "make your nick an account and log in to it; /register #ROOM keeps a room you operate",
    ),
    (
        "/login [ACCOUNT] PASSWORD",
        "log in (to the account of your nick if none is named); /logout logs out",
    ),
    ("/password OLD NEW", "change your account's password"),
    (
        "/ghost NICK",
        "take your account's nick back from whoever holds it",
    ),
    (
        "/info [ACCOUNT|#ROOM]",
        "an account's or a registered room's details (your own account by default)",
    ),
    (
        "/access #ROOM [+o|-o|+v|-v ACCOUNT]",
        "a registered room's ops and voice lists: show them, or change one",
    ),
    (
        "/drop PASSWORD",
        "delete your account; /drop #ROOM unregisters a room you founded",
    ),
    (
        "/cert [add [FP]|del FP|list]",
        "TLS client certificates that log you in (SASL EXTERNAL)",
    ),
    ("/oper NAME PASSWORD", "become a server operator"),
    ("/stats", "the server's live figures (server operators)"),
    ("/rehash", "read the configuration again (server operators)"),
    ("/quit [REASON]", "leave"),
    ("/help", "this list"),
];

/// Other names for commands, as IRC clients have them.
fn canonical(cmd: &str) -> &str {
    match cmd {
        "/j" => "/join",
        "/leave" => "/part",
        "/query" => "/msg",
        "/names" => "/who",
        "/list" => "/rooms",
        _ => cmd,
    }
}

fn usage(cmd: &str) -> Fail<'static> {
    let text = COMMANDS
        .iter()
        .find(|(u, _)| u.split(' ').next() == Some(cmd))
        .map(|(u, _)| *u);
    Fail::Usage(text.unwrap_or(match cmd {
        "/deop" => "/deop NICK [#ROOM]",
        "/devoice" => "/devoice NICK [#ROOM]",
        "/unban" => "/unban MASK [#ROOM]",
        "/back" => "/back",
        "/accept" => "/accept ID",
        "/decline" => "/decline ID",
        "/cancel" => "/cancel ID",
        "/logout" => "/logout",
        _ => "/data ID LEN",
    }))
}

/// Splits off the first space-separated word; the rest starts at its first non-space.
fn word(s: &str) -> (&str, &str) {
    // Words are short (a command, a nick): a byte loop ends sooner than a string search.
    fn skip(s: &str) -> &str {
        &s[s.bytes().take_while(|&b| b == b' ').count()..]
    }
    let s = skip(s);
    match s.bytes().position(|b| b == b' ') {
        Some(i) => (&s[..i], skip(&s[i..])),
        None => (s, ""),
    }
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim_end_matches(' ');
    (!s.is_empty()).then_some(s)
}

/// Whether `bytes` holds a control character other than TAB. Every line passes through here,
/// so it is written without an early exit, which lets the compiler check many bytes per
/// instruction.
fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |found, &b| {
        found | ((b < 0x20 && b != b'\t') | (b == 0x7f))
    })
}

/// Parses one line, given without its `\n` or `\r\n`.
pub fn parse(line: &[u8]) -> Result<Input<'_>, Fail<'_>> {
    let text = std::str::from_utf8(line).map_err(|_| Fail::BadUtf8)?;
    if has_control(text.as_bytes()) {
        return Err(Fail::ControlChar);
    }
    // Blank unless some byte is neither a space nor a TAB: usually the first says.
    if text.bytes().all(|b| b == b' ' || b == b'\t') {
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
    // Folded on the stack (no allocation per command line), and only when it must be: a
    // command typed in lower case, the rule, is used as it is.
    let folded;
    let lower =
        if name.len() <= crate::names::KEY_MAX && !name.bytes().any(|b| b.is_ascii_uppercase()) {
            name
        } else {
            folded = crate::names::Key::new(name);
            &*folded
        };
    let cmd = canonical(lower);
    let (a, after_a) = word(rest);
    let one_arg = |a: &str, after: &str| (!a.is_empty() && after.is_empty()).then_some(());
    let id_arg = || {
        one_arg(a, after_a)
            .and_then(|_| a.parse::<u64>().ok())
            .ok_or_else(|| usage(cmd))
    };
    // `NICK [#ROOM]` and `MASK [#ROOM]`: the first word (not a room), then at most a room.
    let and_room = || match word(after_a) {
        (_, extra) if a.is_empty() || a.starts_with('#') || !extra.is_empty() => Err(usage(cmd)),
        ("", _) => Ok(None),
        (room, _) if room.starts_with('#') => Ok(Some(room)),
        _ => Err(usage(cmd)),
    };
    let in_room = |room, action| Ok(Input::InRoom { room, action });
    let command = match cmd {
        "/nick" => Command::Nick(one_arg(a, after_a).map(|_| a).ok_or_else(|| usage(cmd))?),
        "/msg" | "/say" | "/notice" => {
            let text = nonempty(after_a).ok_or_else(|| usage(cmd))?;
            if cmd == "/say" && !a.starts_with('#') {
                return Err(usage(cmd));
            }
            let kind = match cmd {
                "/notice" => MsgKind::Notice,
                _ => MsgKind::Normal,
            };
            Command::Message {
                targets: a,
                kind,
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
        "/rooms" if rest.is_empty() => Command::ListRooms,
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
        "/mode" => {
            // With a room named, the changes are as IRC takes them (`b` lists the bans);
            // without, they must start with + or -, so a stray word is not read as modes.
            let (room, changes) = match a.starts_with('#') {
                true => (Some(a), after_a),
                false => (None, rest),
            };
            let (changes, params) = word(changes);
            if room.is_none() && !changes.is_empty() && !changes.starts_with(['+', '-']) {
                return Err(usage(cmd));
            }
            let changes = nonempty(changes);
            return in_room(room, RoomAction::Mode { changes, params });
        }
        "/op" | "/deop" | "/voice" | "/devoice" => {
            let (on, role) = match cmd {
                "/op" => (true, Role::Op),
                "/deop" => (false, Role::Op),
                "/voice" => (true, Role::Voice),
                _ => (false, Role::Voice),
            };
            return in_room(and_room()?, RoomAction::Role { on, role, nick: a });
        }
        "/kick" => {
            if a.is_empty() || a.starts_with('#') {
                return Err(usage(cmd));
            }
            let (room, after_room) = word(after_a);
            let (room, reason) = match room.starts_with('#') {
                true => (Some(room), nonempty(after_room)),
                false => (None, nonempty(after_a)),
            };
            return in_room(room, RoomAction::Kick { nick: a, reason });
        }
        "/invite" => return in_room(and_room()?, RoomAction::Invite { nick: a }),
        "/ban" | "/unban" => {
            let on = cmd == "/ban";
            return in_room(and_room()?, RoomAction::Ban { on, mask: a });
        }
        "/bans" => match (a, after_a) {
            ("", _) => return in_room(None, RoomAction::Bans),
            (room, "") if room.starts_with('#') => return in_room(Some(room), RoomAction::Bans),
            _ => return Err(usage(cmd)),
        },
        "/whois" => Command::Whois(one_arg(a, after_a).map(|_| a).ok_or_else(|| usage(cmd))?),
        "/away" => Command::Away(nonempty(rest)),
        "/back" if rest.is_empty() => Command::Away(None),
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
        "/history" => return Ok(Input::History(rest)),
        "/oper" => {
            let (password, extra) = word(after_a);
            return match (a.is_empty() || password.is_empty(), extra.is_empty()) {
                (false, true) => Ok(Input::Oper { name: a, password }),
                _ => Err(usage(cmd)),
            };
        }
        "/rehash" if rest.is_empty() => return Ok(Input::Rehash),
        "/stats" if rest.is_empty() => return Ok(Input::Stats),
        "/help" => Command::Help,
        "/rooms" | "/who" | "/back" | "/rehash" | "/stats" => return Err(usage(cmd)),
        _ => match accounts::parse(cmd, rest) {
            Some(service) => return service.map(Input::Service),
            None => return Err(Fail::UnknownCommand(name_for_error(name))),
        },
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

/// Appends text as a native reader sees it: IRC formatting removed whole (a colour code with
/// its digits), a TAB as a space, every other control character left out, so nothing a peer
/// sent can break a line or a frame. The encoding of an event is shared by all its native
/// recipients, so this runs once per event, not once per recipient.
fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(crate::text::strip_formatting(text).as_bytes());
}

/// `{lead}{target} <{nick}> {text}` (`-nick-` for a notice, `* nick` for an action), the
/// line of every message: the fixed pieces are copied as they are (they have nothing to
/// strip), only what users chose goes through [`push_text`].
fn push_said(out: &mut Vec<u8>, lead: &str, target: &str, kind: MsgKind, nick: &str, text: &str) {
    let (open, close) = match kind {
        MsgKind::Action => (" * ", " "),
        MsgKind::Notice => (" -", "- "),
        MsgKind::Normal => (" <", "> "),
    };
    out.extend_from_slice(lead.as_bytes());
    push_text(out, target);
    out.extend_from_slice(open.as_bytes());
    push_text(out, nick);
    out.extend_from_slice(close.as_bytes());
    push_text(out, text);
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
        } => push_said(out, "", room, kind, from.nick, text),
        Event::DirectMessage {
            from,
            to,
            kind,
            text,
            ..
        } => push_said(out, "@", to, kind, from.nick, text),
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
            // A kick without a reason carries the kicker's nick, as IRC's do: not repeated.
            push_reason(out, Some(reason).filter(|r| *r != by.nick));
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
        Event::Network(notice) => encode_network(&notice, out),
        Event::Reply(reply) => encode_reply(&reply, out),
        Event::Fail(fail) => encode_fail(&fail, out),
        Event::File(file) => encode_file(&file, out),
        Event::Extra(_) => return,
        Event::Service(reply) => accounts::encode(&reply, out),
    }
    out.push(b'\n');
}

fn push_reason(out: &mut Vec<u8>, reason: Option<&str>) {
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        push(out, &[" (", r, ")"]);
    }
}

fn encode_network(notice: &NetNotice<'_>, out: &mut Vec<u8>) {
    match *notice {
        NetNotice::Split => push(
            out,
            &["* the network is split: users on other servers cannot be reached"],
        ),
        NetNotice::Whole => push(out, &["* the network is whole again"]),
        NetNotice::Lost { room, count } => {
            let n = count.to_string();
            push(
                out,
                &["* ", &n, " messages from users on other servers were lost"],
            );
            if let Some(room) = room {
                push(out, &[" in ", room]);
            }
        }
        NetNotice::Collision { old, new } => push(
            out,
            &[
                "* another server's user took ",
                old,
                " while the network was split; you are now ",
                new,
            ],
        ),
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
        Reply::Whois(w) => encode_whois(&w, out),
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
            for (mask, by, at) in entries {
                push(out, &["= ", word, " ", room, " ", mask, " ", by]);
                let _ = writeln!(out, " {at}");
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

/// WHOIS as lines of one field each, `= whois NICK FIELD VALUE`, then `= end whois NICK`
/// (written by the hub's `EndOfWhois`): `host USER@HOST`, `name REALNAME`, `rooms` (the rooms
/// the asker may see, `@` before those NICK operates, lines of about 400 bytes), then
/// `secure` (over TLS), `certfp FINGERPRINT`, `operator`, `away TEXT` and `account NAME` when
/// they apply.
fn encode_whois(w: &Whois<'_>, out: &mut Vec<u8>) {
    let field = |out: &mut Vec<u8>, name: &str| push(out, &["= whois ", w.nick, " ", name]);
    field(out, "host ");
    push(out, &[w.user, "@", w.host]);
    out.push(b'\n');
    field(out, "name ");
    push(out, &[w.realname]);
    out.push(b'\n');
    let mut line_start = out.len();
    field(out, "rooms");
    for &(room, prefix) in w.rooms {
        if out.len() - line_start > 400 {
            out.push(b'\n');
            line_start = out.len();
            field(out, "rooms");
        }
        push(out, &[" ", prefix, room]);
    }
    if w.secure {
        out.push(b'\n');
        field(out, "secure");
    }
    if let Some(fp) = w.certfp {
        out.push(b'\n');
        field(out, "certfp ");
        push(out, &[fp]);
    }
    if w.oper {
        out.push(b'\n');
        field(out, "operator");
    }
    if let Some(away) = w.away {
        out.push(b'\n');
        field(out, "away ");
        push(out, &[away]);
    }
    if let Some(account) = w.account {
        out.push(b'\n');
        field(out, "account ");
        push(out, &[account]);
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
        Fail::NetworkSplit(n) => write!(
            out,
            "! network-split {n} cannot be taken while the network is split; try again when it is whole"
        ),
        Fail::RemoteFiles(n) => write!(
            out,
            "! cannot-receive-files {n} is on another server of this network: direct transfers go between users of one server only; send {n} a file link from the web page instead"
        ),
        Fail::NickLooksLike(n, like) => {
            write!(out, "! nick-taken {n} looks like {like}, a nick in use")
        }
        Fail::BadRoom(r, e) => write!(out, "! bad-room {r}: {}", e.room_reason()),
        Fail::RoomLooksLike(r, Some(like)) => write!(
            out,
            "! bad-room {r}: looks like {like}, a room that exists; join that or choose another name"
        ),
        Fail::RoomLooksLike(r, None) => write!(
            out,
            "! bad-room {r}: looks like a room that exists; choose another name"
        ),
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
        Fail::OpenTheLink(id) => write!(
            out,
            "! no-such-transfer {id}: accept it by opening its download link"
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
        // Moderation: /mode, /op, /kick, /invite and the rest.
        Fail::UserNotInRoom(n, r) => write!(out, "! user-not-in-room {n} is not in {r}"),
        Fail::UserInRoom(n, r) => write!(out, "! already-in-room {n} is already in {r}"),
        Fail::NoPrivileges => write!(out, "! not-operator you are not a server operator"),
        Fail::UnknownMode(c) => write!(
            out,
            "! unknown-mode {}: the room modes are +i +m +n +s +t, +k KEY, +l N, +o/+v NICK, +b/+e/+I MASK",
            c.escape_debug()
        ),
        // IRC's failures; native commands do not cause them, but every event has a line.
        Fail::NeedMoreParams(c) => write!(out, "! usage {c} needs more parameters"),
        Fail::NoRecipient(c) => write!(out, "! usage {c} needs a recipient"),
        Fail::NoTextToSend => write!(out, "! usage no text to send"),
        Fail::NoNickGiven => write!(out, "! usage no nick given"),
        Fail::NotRegistered => write!(out, "! usage register first"),
        Fail::AlreadyRegistered => write!(out, "! usage you are already registered"),
        Fail::PasswordMismatch => write!(out, "! usage wrong password"),
        Fail::UnknownUserMode => write!(out, "! usage unknown user mode"),
        Fail::UsersDontMatch => write!(out, "! usage you can only change your own modes"),
        Fail::WasNoSuchNick(n) => write!(out, "! no-such-nick {n}"),
    };
}

fn encode_file(file: &FileEvent<'_>, out: &mut Vec<u8>) {
    let _ = match *file {
        FileEvent::Offered { id, to, size, name, .. } => write!(out, "% offered {id} {to} {size} {name}"),
        FileEvent::Offer { id, from, size, name, .. } => write!(
            out,
            "% offer {id} {from} {size} {name}\n* {from} offers you \"{name}\" ({size} bytes): /accept {id} or /decline {id}",
            from = from.nick
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
            AbortReason::DownloadClosed => write!(out, "% abort {id} the recipient closed its download"),
            AbortReason::UploadClosed => write!(out, "% abort {id} the sender's upload was cut off"),
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

    fn in_room(line: &str) -> (Option<&str>, RoomAction<'_>) {
        match parse(line.as_bytes()) {
            Ok(Input::InRoom { room, action }) => (room, action),
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn moderation_commands_name_a_room_or_mean_the_current_one() {
        use RoomAction::*;
        let mode = |changes, params| Mode { changes, params };
        assert_eq!(in_room("/mode"), (None, mode(None, "")));
        assert_eq!(in_room("/mode #r"), (Some("#r"), mode(None, "")));
        assert_eq!(
            in_room("/MODE #r +kl-v  sesame 10 bob"),
            (Some("#r"), mode(Some("+kl-v"), "sesame 10 bob"))
        );
        assert_eq!(in_room("/mode +m"), (None, mode(Some("+m"), "")));
        // With the room named, IRC's syntax: `b` alone lists the bans.
        assert_eq!(in_room("/mode #r b"), (Some("#r"), mode(Some("b"), "")));
        let role = |on, role, nick| Role { on, role, nick };
        assert_eq!(
            in_room("/op bob"),
            (None, role(true, super::Role::Op, "bob"))
        );
        assert_eq!(
            in_room("/deop bob #r"),
            (Some("#r"), role(false, super::Role::Op, "bob"))
        );
        assert_eq!(
            in_room("/voice bob"),
            (None, role(true, super::Role::Voice, "bob"))
        );
        assert_eq!(
            in_room("/devoice bob #r "),
            (Some("#r"), role(false, super::Role::Voice, "bob"))
        );
        assert_eq!(
            in_room("/kick bob"),
            (
                None,
                Kick {
                    nick: "bob",
                    reason: None
                }
            )
        );
        assert_eq!(
            in_room("/kick bob go away"),
            (
                None,
                Kick {
                    nick: "bob",
                    reason: Some("go away")
                }
            )
        );
        assert_eq!(
            in_room("/kick bob #r  go away "),
            (
                Some("#r"),
                Kick {
                    nick: "bob",
                    reason: Some("go away")
                }
            )
        );
        assert_eq!(in_room("/invite bob"), (None, Invite { nick: "bob" }));
        assert_eq!(
            in_room("/invite bob #r"),
            (Some("#r"), Invite { nick: "bob" })
        );
        assert_eq!(
            in_room("/ban *!*@bad.host"),
            (
                None,
                Ban {
                    on: true,
                    mask: "*!*@bad.host"
                }
            )
        );
        assert_eq!(
            in_room("/unban eve #r"),
            (
                Some("#r"),
                Ban {
                    on: false,
                    mask: "eve"
                }
            )
        );
        assert_eq!(in_room("/bans"), (None, Bans));
        assert_eq!(in_room("/bans #r"), (Some("#r"), Bans));
    }

    #[test]
    fn irc_commands_and_aliases() {
        assert_eq!(cmd("/whois bob"), Command::Whois("bob"));
        assert_eq!(
            cmd("/away gone fishing "),
            Command::Away(Some("gone fishing"))
        );
        assert_eq!(cmd("/away"), Command::Away(None));
        assert_eq!(cmd("/back"), Command::Away(None));
        assert_eq!(
            cmd("/notice #r heads up"),
            Command::Message {
                targets: "#r",
                kind: MsgKind::Notice,
                text: "heads up"
            }
        );
        assert_eq!(cmd("/j #r"), cmd("/join #r"));
        assert_eq!(cmd("/J #r key"), cmd("/join #r key"));
        assert_eq!(cmd("/leave #r bye"), cmd("/part #r bye"));
        assert_eq!(cmd("/leave"), cmd("/part"));
        assert_eq!(cmd("/query bob hi"), cmd("/msg bob hi"));
        assert_eq!(cmd("/names"), Command::Who(None));
        assert_eq!(cmd("/names #r"), Command::Who(Some("#r")));
        assert_eq!(cmd("/list"), Command::ListRooms);
    }

    #[test]
    fn moderation_usage_errors() {
        fn u(line: &str) -> Fail<'_> {
            fail(line.as_bytes())
        }
        let mode = Fail::Usage("/mode [#ROOM] [CHANGES [PARAMS...]]");
        assert_eq!(u("/mode alice"), mode);
        assert_eq!(u("/op"), Fail::Usage("/op NICK [#ROOM]"));
        assert_eq!(u("/op #r bob"), Fail::Usage("/op NICK [#ROOM]"));
        assert_eq!(u("/op bob r"), Fail::Usage("/op NICK [#ROOM]"));
        assert_eq!(u("/op bob #r extra"), Fail::Usage("/op NICK [#ROOM]"));
        assert_eq!(u("/deop"), Fail::Usage("/deop NICK [#ROOM]"));
        assert_eq!(u("/devoice"), Fail::Usage("/devoice NICK [#ROOM]"));
        assert_eq!(u("/voice"), Fail::Usage("/voice NICK [#ROOM]"));
        assert_eq!(u("/kick"), Fail::Usage("/kick NICK [#ROOM] [REASON]"));
        assert_eq!(
            u("/kick #r bob"),
            Fail::Usage("/kick NICK [#ROOM] [REASON]")
        );
        assert_eq!(u("/invite"), Fail::Usage("/invite NICK [#ROOM]"));
        assert_eq!(u("/ban"), Fail::Usage("/ban MASK [#ROOM]"));
        assert_eq!(u("/unban x y"), Fail::Usage("/unban MASK [#ROOM]"));
        assert_eq!(u("/bans r"), Fail::Usage("/bans [#ROOM]"));
        assert_eq!(u("/whois"), Fail::Usage("/whois NICK"));
        assert_eq!(u("/whois a b"), Fail::Usage("/whois NICK"));
        assert_eq!(u("/back now"), Fail::Usage("/back"));
        assert_eq!(u("/notice bob"), Fail::Usage("/notice NICK|#ROOM TEXT"));
        assert_eq!(u("/query bob"), Fail::Usage("/msg NICK[,NICK...] TEXT"));
        assert_eq!(u("/j"), Fail::Usage("/join #ROOM [KEY]"));
        assert_eq!(u("/names a b"), Fail::Usage("/who [#ROOM]"));
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
        assert_eq!(fail(b"/join"), Fail::Usage("/join #ROOM [KEY]"));
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
    fn moderation_replies_and_errors_encode_exactly() {
        let rooms = [("#rust", "@"), ("#lobby", "")];
        let whois = Whois {
            nick: "alice",
            user: "native",
            host: "127.0.0.1",
            realname: "Alice \x02L\x02iddell",
            rooms: &rooms,
            oper: true,
            away: Some("gone fishing"),
            account: Some("alice"),
            secure: true,
            certfp: Some("ab12"),
            server: None,
            bot: false,
        };
        assert_eq!(
            enc(Event::Reply(Reply::Whois(whois))),
            "= whois alice host native@127.0.0.1\n\
             = whois alice name Alice Liddell\n\
             = whois alice rooms @#rust #lobby\n\
             = whois alice secure\n\
             = whois alice certfp ab12\n\
             = whois alice operator\n\
             = whois alice away gone fishing\n\
             = whois alice account alice\n"
        );
        let plain = Whois {
            rooms: &[],
            oper: false,
            away: None,
            account: None,
            secure: false,
            certfp: None,
            server: None,
            bot: false,
            ..whois
        };
        assert_eq!(
            enc(Event::Reply(Reply::Whois(plain))),
            "= whois alice host native@127.0.0.1\n= whois alice name Alice Liddell\n= whois alice rooms\n"
        );
        assert_eq!(
            enc(Event::Reply(Reply::EndOfWhois("alice"))),
            "= end whois alice\n"
        );
        let bans = [("eve!*@*", "alice!native@127.0.0.1", 1_750_000_000)];
        assert_eq!(
            enc(Event::Reply(Reply::MaskList {
                room: "#r",
                list: ListMode::Ban,
                entries: &bans
            })),
            "= bans #r eve!*@* alice!native@127.0.0.1 1750000000\n= end bans #r\n"
        );
        let modes = ModeSet {
            flags: RoomFlag::NoOutside.bit() | RoomFlag::TopicOps.bit(),
            key: Some("sesame"),
            limit: Some(10),
        };
        let show = |show_key| {
            enc(Event::Reply(Reply::RoomModes {
                room: "#r",
                modes,
                show_key,
                created: 0,
            }))
        };
        assert_eq!(show(true), "= modes #r +ntkl sesame 10\n");
        assert_eq!(show(false), "= modes #r +ntkl * 10\n");
        let changes = [
            ModeChange::Member(true, Role::Op, "bob"),
            ModeChange::List(true, ListMode::Ban, "eve!*@*"),
        ];
        assert_eq!(
            enc(Event::ModeChanged {
                by: ALICE,
                room: "#r",
                changes: &changes
            }),
            "* alice sets mode +ob bob eve!*@* on #r\n"
        );
        let kick = |reason| {
            enc(Event::Kicked {
                by: ALICE,
                room: "#r",
                victim: "bob",
                reason,
            })
        };
        assert_eq!(kick("alice"), "* bob was kicked from #r by alice\n");
        assert_eq!(kick("spam"), "* bob was kicked from #r by alice (spam)\n");
        assert_eq!(
            enc(Event::Reply(Reply::Inviting {
                who: "bob",
                room: "#r"
            })),
            "= inviting bob #r\n"
        );
        assert_eq!(enc(Event::Reply(Reply::NowAway)), "= away on\n");
        assert_eq!(enc(Event::Reply(Reply::UnAway)), "= away off\n");
        let notice = Event::RoomMessage {
            meta: META,
            from: ALICE,
            room: "#r",
            kind: MsgKind::Notice,
            text: "heads up",
            tags: "",
        };
        assert_eq!(enc(notice), "#r -alice- heads up\n");
        let dm = Event::DirectMessage {
            meta: META,
            from: ALICE,
            to: "bob",
            kind: MsgKind::Notice,
            text: "psst",
            tags: "",
        };
        assert_eq!(enc(dm), "@bob -alice- psst\n");
        for (fail, line) in [
            (
                Fail::UnknownMode('x'),
                "! unknown-mode x: the room modes are +i +m +n +s +t, +k KEY, +l N, +o/+v NICK, +b/+e/+I MASK",
            ),
            (Fail::UserNotInRoom("bob", "#r"), "! user-not-in-room bob is not in #r"),
            (Fail::UserInRoom("bob", "#r"), "! already-in-room bob is already in #r"),
            (
                Fail::NickLooksLike("\u{430}lice", "alice"),
                "! nick-taken \u{430}lice looks like alice, a nick in use",
            ),
            (
                Fail::RoomLooksLike("#ru\u{455}t", Some("#rust")),
                "! bad-room #ru\u{455}t: looks like #rust, a room that exists; join that or choose another name",
            ),
            (
                Fail::RoomLooksLike("#ru\u{455}t", None),
                "! bad-room #ru\u{455}t: looks like a room that exists; choose another name",
            ),
        ] {
            assert_eq!(enc(Event::Fail(fail)), format!("{line}\n"));
        }
    }

    #[test]
    fn whois_rooms_are_split_into_short_lines() {
        let names: Vec<String> = (0..100).map(|i| format!("#room-number-{i:03}")).collect();
        let rooms: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
        let text = enc(Event::Reply(Reply::Whois(Whois {
            nick: "bob",
            user: "native",
            host: "h",
            realname: "Bob",
            rooms: &rooms,
            oper: false,
            away: None,
            account: None,
            secure: false,
            certfp: None,
            server: None,
            bot: false,
        })));
        let lines: Vec<&str> = text.lines().collect();
        let room_lines: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("= whois bob rooms "))
            .collect();
        assert!(room_lines.len() > 3, "{lines:?}");
        assert_eq!(room_lines.len() + 2, lines.len());
        assert!(lines.iter().all(|l| l.len() < 420));
        let listed: Vec<&str> = room_lines
            .iter()
            .flat_map(|l| l.split(' ').skip(4))
            .collect();
        assert_eq!(listed, names);
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
    fn irc_formatting_is_stripped_whole_and_a_tab_becomes_a_space() {
        let says = |text| {
            enc(Event::RoomMessage {
                meta: META,
                from: ALICE,
                room: "#x",
                kind: MsgKind::Normal,
                text,
                tags: "",
            })
        };
        assert_eq!(says("\x0304red"), "#x <alice> red\n");
        assert_eq!(says("\x034,2red"), "#x <alice> red\n");
        assert_eq!(
            says("\x02bold\x02 \x1ditalic\x0f"),
            "#x <alice> bold italic\n"
        );
        assert_eq!(says("a\tb"), "#x <alice> a b\n");
        assert_eq!(
            says("\x03,5 a comma after a bare colour is text"),
            "#x <alice> ,5 a comma after a bare colour is text\n"
        );
        // Every text field, not only messages.
        let topic = enc(Event::TopicChanged {
            who: ALICE,
            room: "#x",
            topic: "\x0312blue\tand\x03 plain",
        });
        assert_eq!(topic, "* alice set the topic of #x to: blue and plain\n");
        let quit = enc(Event::Quit {
            who: ALICE,
            reason: Some("\x02gone\x02\tfishing"),
        });
        assert_eq!(quit, "* alice quit (gone fishing)\n");
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
