//! The chat protocols the generator speaks, behind one trait so every scenario runs on each.
//! A protocol only formats requests and classifies server lines; it never touches a socket.

use std::io::Write;

/// What one server line means to the generator. Anything it doesn't need is `Other`.
#[derive(Debug, PartialEq)]
pub enum Event<'a> {
    /// The server accepted the connection (native greeting, IRC 001). `named` is true when the
    /// client already has the nick it asked for (IRC sends it during registration).
    Welcome {
        named: bool,
    },
    /// Someone's nick changed to `new` (native: the answer to our `/nick`).
    Renamed {
        new: &'a str,
    },
    /// `nick` joined `room` (we watch for our own join); `None` is us (Redis names nobody).
    Joined {
        nick: Option<&'a str>,
        room: &'a str,
    },
    /// A message in a room.
    Room {
        from: &'a str,
        room: &'a str,
        text: &'a str,
    },
    /// A direct message.
    Direct {
        from: &'a str,
        text: &'a str,
    },
    /// `nick` left `room`.
    Parted {
        nick: &'a str,
        room: &'a str,
    },
    /// The answer to our PING (NATS: how a client knows its subscriptions are in place).
    Pong,
    /// `nick` left the server; `reason` is what the server said.
    Quit {
        nick: &'a str,
        reason: &'a str,
    },
    /// A keep-alive the client must answer.
    Ping(&'a str),
    /// An error reply.
    Error(&'a str),
    /// File transfer control (native only).
    File(FileEvent<'a>),
    Other,
}

#[derive(Debug, PartialEq)]
pub enum FileEvent<'a> {
    /// To the sender: the server took the offer under `id`.
    Offered {
        id: u64,
    },
    /// To the recipient.
    Offer {
        id: u64,
        size: u64,
    },
    Accepted {
        id: u64,
    },
    /// `len` raw bytes follow the line.
    Data {
        id: u64,
        len: usize,
    },
    Done {
        id: u64,
    },
    /// Declined, expired or aborted.
    Failed {
        id: u64,
        why: &'a str,
    },
}

/// Where registration leaves a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lobby {
    /// In no room (native: takes its nick and parts `#lobby`).
    Out,
    /// In `#lobby` under the server's guest nick (native); IRC clients join `#lobby`.
    Guest,
    /// In `#lobby` under its own nick (native: `/nick`, which the lobby hears); IRC clients
    /// join `#lobby`.
    Named,
}

impl Lobby {
    pub fn name(self) -> &'static str {
        match self {
            Lobby::Out => "out",
            Lobby::Guest => "guest",
            Lobby::Named => "named",
        }
    }

    pub fn from_name(name: &str) -> Lobby {
        match name {
            "guest" => Lobby::Guest,
            "named" => Lobby::Named,
            _ => Lobby::Out,
        }
    }
}

/// A client protocol. Requests are appended to `out` whole, so the caller writes them as they are.
pub trait Proto {
    fn name(&self) -> &'static str;
    /// Bytes to send as soon as the TCP connection is up.
    fn hello(&self, _nick: &str, _out: &mut Vec<u8>) {}
    /// Bytes to send on `Welcome`: take our nick and leave any room the server put us in, so
    /// thousands of clients don't all hear each other arrive; or end up in `#lobby` (see
    /// [`Lobby`]). Returns whether an answer will confirm it (`Renamed`, our own `Joined` or
    /// `Pong`); if not, the client is settled now.
    fn settle(&self, _nick: &str, _lobby: Lobby, _out: &mut Vec<u8>) -> bool {
        false
    }
    fn join(&self, room: &str, out: &mut Vec<u8>);
    fn part(&self, _room: &str, _out: &mut Vec<u8>) {}
    /// Leave the server (it closes the connection).
    fn quit(&self, _out: &mut Vec<u8>) {}
    fn say(&self, room: &str, text: &[u8], out: &mut Vec<u8>);
    fn direct(&self, nick: &str, text: &[u8], out: &mut Vec<u8>);
    fn pong(&self, _token: &str, _out: &mut Vec<u8>) {}
    /// Whether file transfers exist on this protocol.
    fn files(&self) -> bool {
        false
    }
    /// Whether a sender hears its own room messages (Redis pub/sub does; the echoes are skipped).
    fn echoes_own(&self) -> bool {
        false
    }
    fn offer(&self, _nick: &str, _size: u64, _name: &str, _out: &mut Vec<u8>) {}
    fn accept(&self, _id: u64, _out: &mut Vec<u8>) {}
    /// The header of a data frame; the caller appends `len` raw bytes.
    fn data_header(&self, _id: u64, _len: usize, _out: &mut Vec<u8>) {}
    /// Classifies one line, its line ending already removed.
    fn parse<'a>(&self, line: &'a str) -> Event<'a>;
}

/// The native line protocol of docs/PROTOCOL.md.
pub struct Native;

impl Proto for Native {
    fn name(&self) -> &'static str {
        "native"
    }
    fn settle(&self, nick: &str, lobby: Lobby, out: &mut Vec<u8>) -> bool {
        if lobby == Lobby::Guest {
            return false;
        }
        let _ = writeln!(out, "/nick {nick}");
        if lobby == Lobby::Out {
            let _ = writeln!(out, "/part #lobby");
        }
        true
    }
    fn join(&self, room: &str, out: &mut Vec<u8>) {
        let _ = writeln!(out, "/join {room}");
    }
    fn part(&self, room: &str, out: &mut Vec<u8>) {
        let _ = writeln!(out, "/part {room}");
    }
    fn quit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"/quit\n");
    }
    fn say(&self, room: &str, text: &[u8], out: &mut Vec<u8>) {
        let _ = write!(out, "/say {room} ");
        out.extend_from_slice(text);
        out.push(b'\n');
    }
    fn direct(&self, nick: &str, text: &[u8], out: &mut Vec<u8>) {
        let _ = write!(out, "/msg {nick} ");
        out.extend_from_slice(text);
        out.push(b'\n');
    }
    fn files(&self) -> bool {
        true
    }
    fn offer(&self, nick: &str, size: u64, name: &str, out: &mut Vec<u8>) {
        let _ = writeln!(out, "/offer {nick} {size} {name}");
    }
    fn accept(&self, id: u64, out: &mut Vec<u8>) {
        let _ = writeln!(out, "/accept {id}");
    }
    fn data_header(&self, id: u64, len: usize, out: &mut Vec<u8>) {
        let _ = writeln!(out, "/data {id} {len}");
    }

    fn parse<'a>(&self, line: &'a str) -> Event<'a> {
        match line.as_bytes().first() {
            Some(b'#') => {
                // #ROOM <NICK> TEXT
                let mut it = line.splitn(3, ' ');
                let (Some(room), Some(nick), text) = (it.next(), it.next(), it.next()) else {
                    return Event::Other;
                };
                match nick.strip_prefix('<').and_then(|n| n.strip_suffix('>')) {
                    Some(from) => Event::Room {
                        from,
                        room,
                        text: text.unwrap_or(""),
                    },
                    None => Event::Other, // an action: `#ROOM * NICK ACTION`
                }
            }
            Some(b'@') => {
                // @OTHERS <NICK> TEXT
                let mut it = line.splitn(3, ' ');
                let (Some(_), Some(nick), text) = (it.next(), it.next(), it.next()) else {
                    return Event::Other;
                };
                match nick.strip_prefix('<').and_then(|n| n.strip_suffix('>')) {
                    Some(from) => Event::Direct {
                        from,
                        text: text.unwrap_or(""),
                    },
                    None => Event::Other,
                }
            }
            Some(b'!') => Event::Error(line),
            Some(b'*') => {
                if line.starts_with("* Hello, world! This is snak ") {
                    return Event::Welcome { named: false };
                }
                let w: Vec<&str> = line.splitn(7, ' ').collect();
                match w.as_slice() {
                    ["*", nick, "joined", room] => Event::Joined {
                        nick: Some(nick),
                        room,
                    },
                    ["*", _, "is", "now", "known", "as", new] => Event::Renamed { new },
                    ["*", nick, "left", room, ..] => Event::Parted { nick, room },
                    ["*", nick, "quit", ..] => {
                        let reason = line.split_once(" quit").map_or("", |(_, r)| r.trim());
                        Event::Quit { nick, reason }
                    }
                    _ => Event::Other,
                }
            }
            Some(b'%') => parse_native_file(line),
            _ => Event::Other,
        }
    }
}

fn parse_native_file(line: &str) -> Event<'_> {
    let w: Vec<&str> = line.splitn(4, ' ').collect();
    let id = |s: &str| s.parse::<u64>().ok();
    let ev = match w.as_slice() {
        ["%", "offered", i, ..] => id(i).map(|id| FileEvent::Offered { id }),
        ["%", "offer", i, rest] => {
            let size = rest.split(' ').nth(1).and_then(|s| s.parse().ok());
            id(i)
                .zip(size)
                .map(|(id, size)| FileEvent::Offer { id, size })
        }
        ["%", "accepted", i] => id(i).map(|id| FileEvent::Accepted { id }),
        ["%", "data", i, len] => id(i)
            .zip(len.parse().ok())
            .map(|(id, len)| FileEvent::Data { id, len }),
        ["%", "done", i] => id(i).map(|id| FileEvent::Done { id }),
        ["%", why @ ("declined" | "expired" | "abort"), i, ..] => {
            id(i).map(|id| FileEvent::Failed { id, why })
        }
        _ => None,
    };
    ev.map_or(Event::Other, Event::File)
}

/// The IRC client protocol (RFC 1459/2812 subset): what irssi would send for the same actions.
pub struct Irc;

impl Proto for Irc {
    fn name(&self) -> &'static str {
        "irc"
    }
    fn hello(&self, nick: &str, out: &mut Vec<u8>) {
        let _ = write!(out, "NICK {nick}\r\nUSER {nick} 0 * :stress client\r\n");
    }
    fn settle(&self, _nick: &str, lobby: Lobby, out: &mut Vec<u8>) -> bool {
        if lobby != Lobby::Out {
            self.join("#lobby", out);
        }
        lobby != Lobby::Out
    }
    fn join(&self, room: &str, out: &mut Vec<u8>) {
        let _ = write!(out, "JOIN {room}\r\n");
    }
    fn part(&self, room: &str, out: &mut Vec<u8>) {
        let _ = write!(out, "PART {room}\r\n");
    }
    fn quit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"QUIT :storm\r\n");
    }
    fn say(&self, room: &str, text: &[u8], out: &mut Vec<u8>) {
        self.direct(room, text, out)
    }
    fn direct(&self, nick: &str, text: &[u8], out: &mut Vec<u8>) {
        let _ = write!(out, "PRIVMSG {nick} :");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
    fn pong(&self, token: &str, out: &mut Vec<u8>) {
        let _ = write!(out, "PONG :{token}\r\n");
    }

    fn parse<'a>(&self, line: &'a str) -> Event<'a> {
        let (prefix, rest) = match line.strip_prefix(':') {
            Some(r) => r.split_once(' ').unwrap_or((r, "")),
            None => ("", line),
        };
        let nick = prefix.split(['!', '@']).next().unwrap_or("");
        let (cmd, params) = rest.split_once(' ').unwrap_or((rest, ""));
        // Middle parameters, then the trailing one after " :" (or a leading ':').
        let (middle, trailing) = match params.strip_prefix(':') {
            Some(t) => ("", Some(t)),
            None => match params.split_once(" :") {
                Some((m, t)) => (m, Some(t)),
                None => (params, None),
            },
        };
        let mut args = middle.split(' ').filter(|s| !s.is_empty());
        match cmd {
            "001" => Event::Welcome { named: true },
            "PING" => Event::Ping(trailing.or(args.next()).unwrap_or("")),
            "JOIN" => Event::Joined {
                nick: Some(nick),
                room: trailing.or(args.next()).unwrap_or(""),
            },
            "QUIT" => Event::Quit {
                nick,
                reason: trailing.unwrap_or(""),
            },
            "PART" => Event::Parted {
                nick,
                room: args.next().or(trailing).unwrap_or(""),
            },
            "PONG" => Event::Pong,
            "PRIVMSG" => {
                let target = args.next().unwrap_or("");
                let text = trailing.or(args.next()).unwrap_or("");
                if target.starts_with('#') {
                    Event::Room {
                        from: nick,
                        room: target,
                        text,
                    }
                } else {
                    Event::Direct { from: nick, text }
                }
            }
            "ERROR" => Event::Error(line),
            // ERR_NOMOTD is a notice in all but name: a server without a MOTD is fine.
            "422" => Event::Other,
            c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) => Event::Error(line),
            _ => Event::Other,
        }
    }
}

/// IRC with `server-time` and `message-tags` asked for at registration: every message comes
/// with its `@time=...;msgid=...` tags, which are skipped when reading it.
pub struct IrcTags;

impl Proto for IrcTags {
    fn name(&self) -> &'static str {
        "irc"
    }
    fn hello(&self, nick: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"CAP REQ :server-time message-tags\r\n");
        Irc.hello(nick, out);
        out.extend_from_slice(b"CAP END\r\n");
    }
    fn settle(&self, nick: &str, lobby: Lobby, out: &mut Vec<u8>) -> bool {
        Irc.settle(nick, lobby, out)
    }
    fn join(&self, room: &str, out: &mut Vec<u8>) {
        Irc.join(room, out)
    }
    fn part(&self, room: &str, out: &mut Vec<u8>) {
        Irc.part(room, out)
    }
    fn quit(&self, out: &mut Vec<u8>) {
        Irc.quit(out)
    }
    fn say(&self, room: &str, text: &[u8], out: &mut Vec<u8>) {
        Irc.say(room, text, out)
    }
    fn direct(&self, nick: &str, text: &[u8], out: &mut Vec<u8>) {
        Irc.direct(nick, text, out)
    }
    fn pong(&self, token: &str, out: &mut Vec<u8>) {
        Irc.pong(token, out)
    }
    fn parse<'a>(&self, line: &'a str) -> Event<'a> {
        let untagged = match line.strip_prefix('@') {
            Some(tagged) => tagged.split_once(' ').map_or("", |(_, rest)| rest),
            None => line,
        };
        Irc.parse(untagged)
    }
}

/// Redis pub/sub over RESP3, for comparison: a room is a channel (SUBSCRIBE, PUBLISH) and a
/// direct message goes to the channel named after the recipient. RESP3 lets a subscribed client
/// publish on the same connection, so each user is one connection as with snak.
///
/// RESP puts each element of a push on its own line and our payloads hold no line breaks, so a
/// line-by-line reading is enough: `x ...` lines are messages, a line naming our channel
/// confirms a subscription.
pub struct Redis;

fn resp(out: &mut Vec<u8>, parts: &[&[u8]]) {
    let _ = write!(out, "*{}\r\n", parts.len());
    for p in parts {
        let _ = write!(out, "${}\r\n", p.len());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

impl Proto for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn hello(&self, _nick: &str, out: &mut Vec<u8>) {
        resp(out, &[b"HELLO", b"3"]);
    }
    fn settle(&self, nick: &str, _lobby: Lobby, out: &mut Vec<u8>) -> bool {
        resp(out, &[b"SUBSCRIBE", nick.as_bytes()]);
        true
    }
    fn join(&self, room: &str, out: &mut Vec<u8>) {
        resp(out, &[b"SUBSCRIBE", room.as_bytes()]);
    }
    fn say(&self, room: &str, text: &[u8], out: &mut Vec<u8>) {
        resp(out, &[b"PUBLISH", room.as_bytes(), text]);
    }
    fn direct(&self, nick: &str, text: &[u8], out: &mut Vec<u8>) {
        self.say(nick, text, out)
    }
    fn echoes_own(&self) -> bool {
        true
    }
    fn parse<'a>(&self, line: &'a str) -> Event<'a> {
        match line.as_bytes().first() {
            Some(b'%') => Event::Welcome { named: false },
            Some(b'-' | b'!') => Event::Error(line),
            Some(b'#') if line.len() > 2 => Event::Joined {
                nick: None,
                room: line,
            },
            Some(b'x') if line.starts_with("x ") => Event::Room {
                from: "",
                room: "",
                text: line,
            },
            Some(c) if c.is_ascii_alphabetic() => Event::Renamed { new: line },
            _ => Event::Other,
        }
    }
}

/// NATS core pub/sub, for comparison: a room is a subject (SUB, PUB), a direct message goes
/// to the subject named after the recipient. `echo: false` keeps a publisher's own messages
/// from coming back to it. A PING after the SUBs confirms them (the server answers in order).
///
/// A delivery is a `MSG SUBJECT SID LEN` line and then the payload on a line of its own: the
/// payload lines are the messages, read line by line as for Redis.
pub struct Nats;

impl Proto for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }
    fn settle(&self, nick: &str, _lobby: Lobby, out: &mut Vec<u8>) -> bool {
        let _ = write!(
            out,
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"echo\":false,\"name\":\"{nick}\"}}\r\n\
             SUB {nick} 1\r\nPING\r\n"
        );
        true
    }
    fn join(&self, room: &str, out: &mut Vec<u8>) {
        let _ = write!(out, "SUB {room} 2\r\nPING\r\n");
    }
    fn say(&self, room: &str, text: &[u8], out: &mut Vec<u8>) {
        let _ = write!(out, "PUB {room} {}\r\n", text.len());
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
    fn direct(&self, nick: &str, text: &[u8], out: &mut Vec<u8>) {
        self.say(nick, text, out)
    }
    fn pong(&self, _token: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"PONG\r\n");
    }
    fn parse<'a>(&self, line: &'a str) -> Event<'a> {
        match line.as_bytes().first() {
            Some(b'I') if line.starts_with("INFO ") => Event::Welcome { named: false },
            Some(b'P') if line == "PING" => Event::Ping(""),
            Some(b'P') if line == "PONG" => Event::Pong,
            Some(b'-') => Event::Error(line),
            Some(b'x') if line.starts_with("x ") => Event::Room {
                from: "",
                room: "",
                text: line,
            },
            _ => Event::Other,
        }
    }
}

/// The test message: `x SENDER SEQ TIME_NS` and padding. TIME_NS counts from the run's shared
/// start instant, so the receiver's latency is one subtraction.
pub fn payload(out: &mut Vec<u8>, sender: u32, seq: u64, t_ns: u64, pad: usize) {
    let _ = write!(out, "x {sender} {seq} {t_ns} ");
    out.resize(out.len() + pad, b'p');
}

/// Reads a test message back: (sender, seq, time_ns); `None` for any other text.
pub fn parse_payload(text: &str) -> Option<(u32, u64, u64)> {
    let mut it = text.strip_prefix("x ")?.split(' ');
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ))
}
