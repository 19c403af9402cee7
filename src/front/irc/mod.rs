//! The IRC front end: registration, capability negotiation, pings, and the translation of IRC
//! commands into hub commands.
//!
//! One session per IRC connection. Lines arrive parsed by [`irc_msg::parse`]; what the hub
//! does is told back through the [`Output`], which encodes events with [`crate::proto::irc`].
//! The few lines that exist only in IRC (CAP, the welcome burst, MOTD, PONG) are written here
//! directly.
//!
//! Registration: `PASS` (checked if the server has a password), `NICK` and `USER` in any
//! order; `CAP LS` or `CAP REQ` pause it until `CAP END`. Then the nick is taken in the hub and
//! the welcome burst (001-005, LUSERS, MOTD) is sent. Commands other than those (and `PING`,
//! `PONG`, `QUIT`) before that get `451`.

use std::time::{Duration, Instant};

use super::{Arrival, CloseReason, Ctx, Output};
use crate::config::Config;
use crate::event::{Event, Fail, MsgKind};
use crate::hub::{ClientId, Command, Hub};
use crate::names::{NICK_MAX, ROOM_MAX};
use crate::proto::irc::caps;
use crate::proto::irc_msg::{self, numeric::*, write_message, write_numeric, ParseError};
use crate::proto::modes;

/// A connection that has not registered within this time is closed.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest topic, kick reason and away message kept (longer ones are cut).
pub const TOPIC_MAX: usize = 390;
pub const AWAY_MAX: usize = 200;
/// Longest user name kept from `USER`.
pub const USER_MAX: usize = 10;
/// The network name in ISUPPORT.
pub const NETWORK: &str = "snak";
/// The capabilities offered.
pub const CAPS: &[(&str, u32)] = &[
    ("multi-prefix", caps::MULTI_PREFIX),
    ("snak.chat/files", caps::SNAK_FILES),
];

pub struct IrcSession {
    /// Closed if not registered by then.
    register_by: Instant,
    registered: bool,
    nick: Option<Box<str>>,
    /// User name and real name from `USER`.
    user: Option<(Box<str>, Box<str>)>,
    pass_ok: bool,
    /// `CAP LS`/`REQ` before registration: wait for `CAP END`.
    cap_pause: bool,
    /// The capabilities negotiated, as [`caps`] bits.
    caps: u32,
    /// What the transport told of the connection (a TLS client certificate).
    arrival: Arrival,
    last_seen: Instant,
    ping_sent: Option<Instant>,
    /// When the earliest timer armed for this session fires.
    timer: Option<Instant>,
}

fn upper<'b>(cmd: &str, buf: &'b mut [u8; 16]) -> &'b str {
    let n = cmd.len().min(buf.len());
    buf[..n].copy_from_slice(&cmd.as_bytes()[..n]);
    buf[..n].make_ascii_uppercase();
    if cmd.len() > buf.len() {
        return "";
    }
    std::str::from_utf8(&buf[..n]).unwrap_or("")
}

/// `text` cut to at most `max` bytes at a character boundary.
fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl IrcSession {
    /// A new connection: it must register within the registration deadline (the shorter of
    /// [`REGISTRATION_TIMEOUT`] and `--irc-ping`).
    pub fn start(ctx: &Ctx<'_>, arrival: Arrival, out: &mut impl Output) -> IrcSession {
        let now = ctx.clock.mono;
        let within = REGISTRATION_TIMEOUT.min(ctx.cfg.irc_ping);
        let mut session = IrcSession {
            register_by: now + within,
            registered: false,
            nick: None,
            user: None,
            pass_ok: false,
            cap_pause: false,
            caps: 0,
            arrival,
            last_seen: now,
            ping_sent: None,
            timer: None,
        };
        session.want(ctx.id, now + within, out);
        session
    }

    /// Asks for a timer at `at` unless one fires before it anyway.
    fn want(&mut self, id: ClientId, at: Instant, out: &mut impl Output) {
        if self.timer.map_or(true, |t| at < t) {
            self.timer = Some(at);
            out.wake_at(id, at);
        }
    }

    fn me<'h>(&'h self, hub: &'h Hub, id: ClientId) -> &'h str {
        match (self.registered, hub.nick(id), &self.nick) {
            (true, Some(nick), _) => nick,
            (false, _, Some(nick)) => nick,
            _ => "*",
        }
    }

    /// Handles one line (None: the line was too long).
    pub fn line(
        &mut self,
        ctx: &Ctx<'_>,
        line: Option<&[u8]>,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let (id, now, cfg) = (ctx.id, ctx.clock.mono, ctx.cfg);
        self.last_seen = now;
        self.ping_sent = None;
        let fail = |s: &Self, hub: &Hub, out: &mut dyn crate::hub::Sink, f: Fail<'_>| {
            out.one(id, s.me(hub, id), &Event::Fail(f));
        };
        let Some(line) = line else {
            fail(self, hub, out, Fail::LineTooLong(irc_msg::MAX_BODY_LEN + 2));
            return;
        };
        let msg = match irc_msg::parse(line) {
            Ok(msg) => msg,
            Err(ParseError::Empty | ParseError::NoCommand) => return,
            Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                fail(self, hub, out, Fail::LineTooLong(irc_msg::MAX_BODY_LEN + 2));
                return;
            }
            Err(ParseError::InvalidUtf8) => {
                fail(self, hub, out, Fail::BadUtf8);
                return;
            }
            Err(ParseError::ForbiddenByte(_)) => {
                fail(self, hub, out, Fail::ControlChar);
                return;
            }
        };
        let mut buf = [0u8; 16];
        let cmd = upper(msg.command(), &mut buf);
        let p = msg.params();
        let arg = |i: usize| p.get(i).copied();
        let need = |n: usize| p.len() >= n && p[..n].iter().all(|s| !s.is_empty());
        let srv = cfg.server_name.as_str();

        // What works before registration.
        match cmd {
            "CAP" => return self.cap(ctx, p, hub, out),
            "PING" => {
                match arg(0) {
                    Some(token) => out.raw(id, |b| {
                        write_message(b, Some(srv), "PONG", &[srv, token]);
                    }),
                    None => {
                        let me = self.me(hub, id);
                        out.raw(id, |b| {
                            write_numeric(b, srv, 409, me, &["No origin specified"]);
                        })
                    }
                }
                return;
            }
            "PONG" => return,
            "QUIT" => {
                let reason = arg(0).filter(|r| !r.is_empty()).map(|r| clip(r, TOPIC_MAX));
                out.one(
                    id,
                    self.me(hub, id),
                    &Event::Bye {
                        reason: reason.unwrap_or(""),
                    },
                );
                return out.close(id, CloseReason::Quit(reason.map(Into::into)));
            }
            "PASS" if !self.registered => {
                if !need(1) {
                    fail(self, hub, out, Fail::NeedMoreParams("PASS"));
                } else {
                    self.pass_ok = cfg.password.as_ref().map_or(true, |pw| pw.verify(p[0]));
                }
                return;
            }
            "NICK" if !self.registered => {
                let Some(nick) = arg(0).filter(|n| !n.is_empty()) else {
                    fail(self, hub, out, Fail::NoNickGiven);
                    return;
                };
                if let Some(refusal) = hub.nick_refusal(id, nick) {
                    fail(self, hub, out, refusal);
                    return;
                }
                self.nick = Some(nick.into());
                return self.try_register(ctx, hub, out);
            }
            "USER" if !self.registered => {
                if !need(3) || p.len() < 4 {
                    fail(self, hub, out, Fail::NeedMoreParams("USER"));
                    return;
                }
                let user: String = p[0]
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    .take(USER_MAX)
                    .collect();
                let user = if user.is_empty() { "user".into() } else { user };
                self.user = Some((user.into(), clip(p[3], TOPIC_MAX).into()));
                return self.try_register(ctx, hub, out);
            }
            "PASS" | "USER" => {
                fail(self, hub, out, Fail::AlreadyRegistered);
                return;
            }
            _ if !self.registered => {
                fail(self, hub, out, Fail::NotRegistered);
                return;
            }
            _ => {}
        }

        let command = match cmd {
            "PRIVMSG" | "NOTICE" => {
                let notice = cmd == "NOTICE";
                let Some(targets) = arg(0).filter(|t| !t.is_empty()) else {
                    if !notice {
                        fail(self, hub, out, Fail::NoRecipient(msg.command()));
                    }
                    return;
                };
                let Some(text) = arg(1).filter(|t| !t.is_empty()) else {
                    if !notice {
                        fail(self, hub, out, Fail::NoTextToSend);
                    }
                    return;
                };
                let action = text
                    .strip_prefix("\x01ACTION")
                    .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\x01']));
                let (kind, text) = match action {
                    Some(rest) if !notice => {
                        let rest = rest.strip_prefix(' ').unwrap_or(rest);
                        (MsgKind::Action, rest.strip_suffix('\x01').unwrap_or(rest))
                    }
                    _ if notice => (MsgKind::Notice, text),
                    _ => (MsgKind::Normal, text),
                };
                Command::Message {
                    targets,
                    kind,
                    text,
                }
            }
            "JOIN" if need(1) => match p[0] {
                "0" => Command::PartAll,
                rooms => Command::Join {
                    rooms,
                    keys: arg(1),
                },
            },
            "PART" if need(1) => Command::Part {
                rooms: Some(p[0]),
                reason: arg(1).map(|r| clip(r, TOPIC_MAX)),
            },
            "TOPIC" if need(1) => Command::Topic {
                room: Some(p[0]),
                text: arg(1).map(|t| clip(t, TOPIC_MAX)),
            },
            "NAMES" => Command::Names(arg(0).filter(|r| !r.is_empty())),
            "LIST" => {
                let me = self.me(hub, id);
                out.raw(id, |b| {
                    write_numeric(b, srv, RPL_LISTSTART, me, &["Channel", "Users  Name"])
                });
                Command::List(arg(0).filter(|r| r.starts_with('#')))
            }
            "WHO" => Command::WhoMask(arg(0).filter(|m| !m.is_empty()).unwrap_or("*")),
            "WHOIS" | "WHOWAS" => {
                // WHOIS may name a server first: the nick is the last parameter.
                let target = if cmd == "WHOIS" { p.last() } else { p.first() };
                let Some(&nicks) = target.filter(|t| !t.is_empty()) else {
                    fail(self, hub, out, Fail::NoNickGiven);
                    return;
                };
                let count = arg(1).and_then(|c| c.parse().ok());
                for nick in nicks.split(',').filter(|n| !n.is_empty()).take(5) {
                    let command = if cmd == "WHOIS" {
                        Command::Whois(nick)
                    } else {
                        Command::Whowas { nick, count }
                    };
                    hub.apply(id, command, ctx.clock, out);
                }
                return;
            }
            "NICK" => match arg(0).filter(|n| !n.is_empty()) {
                Some(nick) => Command::Nick(nick),
                None => {
                    fail(self, hub, out, Fail::NoNickGiven);
                    return;
                }
            },
            "AWAY" => Command::Away(arg(0).map(|t| clip(t, AWAY_MAX))),
            "MODE" if need(1) => {
                let (target, changes) = (p[0], arg(1).filter(|c| !c.is_empty()));
                let params = p.get(2..).unwrap_or(&[]);
                return mode(ctx, target, changes, params, hub, out);
            }
            "KICK" if need(2) => Command::Kick {
                rooms: p[0],
                nicks: p[1],
                reason: arg(2).map(|r| clip(r, TOPIC_MAX)),
            },
            "INVITE" if need(2) => Command::Invite {
                nick: p[0],
                room: p[1],
            },
            "FILE" => return file_command(ctx, p, hub, out),
            "USERHOST" if need(1) => Command::Userhost(p),
            "ISON" if need(1) => Command::Ison(p),
            "LUSERS" => Command::Lusers,
            "MOTD" => {
                self.motd(id, cfg, hub, out);
                return;
            }
            "OPER" if need(2) => {
                let ok = cfg.opers.iter().any(|(n, pw)| n == p[0] && pw.verify(p[1]));
                if !ok {
                    fail(self, hub, out, Fail::PasswordMismatch);
                    return;
                }
                Command::Oper
            }
            "KILL" if need(1) => {
                let reason = arg(1).filter(|r| !r.is_empty()).unwrap_or("no reason");
                let reason = clip(reason, TOPIC_MAX);
                if let Some(victim) = hub.kill(id, p[0], reason, out) {
                    let by = self.me(hub, id);
                    let why = format!("Killed by {by} ({reason})");
                    out.close(victim, CloseReason::Quit(Some(why.into())));
                }
                return;
            }
            "JOIN" | "PART" | "TOPIC" | "MODE" | "KICK" | "INVITE" | "USERHOST" | "ISON"
            | "OPER" | "KILL" => {
                fail(self, hub, out, Fail::NeedMoreParams(msg.command()));
                return;
            }
            _ => {
                fail(self, hub, out, Fail::UnknownCommand(msg.command()));
                return;
            }
        };
        hub.apply(id, command, ctx.clock, out);
    }

    /// `CAP LS [302]`, `LIST`, `REQ`, `END`. Negotiation before registration holds it until
    /// `END`, so a client never waits for a welcome that cannot come. A `REQ` is all or
    /// nothing: one unknown capability NAKs the whole list, as the specification says.
    fn cap<O: Output>(&mut self, ctx: &Ctx<'_>, p: &[&str], hub: &mut Hub, out: &mut O) {
        let (id, srv) = (ctx.id, ctx.cfg.server_name.as_str());
        let mut buf = [0u8; 16];
        let sub = upper(p.first().copied().unwrap_or(""), &mut buf);
        let me = self.me(hub, id).to_string();
        let reply = |out: &mut O, params: &[&str]| {
            out.raw(id, |b| {
                let mut all = vec![me.as_str()];
                all.extend_from_slice(params);
                write_message(b, Some(srv), "CAP", &all);
            })
        };
        match sub {
            "LS" => {
                if !self.registered {
                    self.cap_pause = true;
                }
                let names: Vec<&str> = CAPS.iter().map(|(name, _)| *name).collect();
                reply(out, &["LS", &names.join(" ")]);
            }
            "LIST" => {
                let on: Vec<&str> = CAPS
                    .iter()
                    .filter(|(_, bit)| self.caps & bit != 0)
                    .map(|(name, _)| *name)
                    .collect();
                reply(out, &["LIST", &on.join(" ")]);
            }
            "REQ" => {
                if !self.registered {
                    self.cap_pause = true;
                }
                let asked = p.get(1).copied().unwrap_or("");
                let mut caps = self.caps;
                let mut known = true;
                for c in asked.split(' ').filter(|c| !c.is_empty()) {
                    let (off, name) = match c.strip_prefix('-') {
                        Some(name) => (true, name),
                        None => (false, c),
                    };
                    match CAPS.iter().find(|(n, _)| *n == name) {
                        Some((_, bit)) if off => caps &= !bit,
                        Some((_, bit)) => caps |= bit,
                        None => known = false,
                    }
                }
                if known {
                    self.caps = caps;
                    reply(out, &["ACK", asked]);
                    out.set_caps(id, caps);
                } else {
                    reply(out, &["NAK", asked]);
                }
            }
            "END" => {
                if !self.registered && self.cap_pause {
                    self.cap_pause = false;
                    self.try_register(ctx, hub, out);
                }
            }
            _ => {
                let sub = p.first().copied().filter(|s| !s.is_empty()).unwrap_or("*");
                let sub = if sub.starts_with(':') || sub.contains(' ') {
                    "*"
                } else {
                    sub
                };
                out.raw(id, |b| {
                    write_numeric(
                        b,
                        srv,
                        ERR_INVALIDCAPCMD,
                        &me,
                        &[sub, "Invalid CAP command"],
                    )
                });
            }
        }
    }

    /// Registers once NICK and USER are in and CAP negotiation (if any) is over.
    fn try_register(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        let (id, cfg) = (ctx.id, ctx.cfg);
        if self.registered || self.cap_pause {
            return;
        }
        let (Some(nick), Some((user, realname))) = (self.nick.clone(), self.user.clone()) else {
            return;
        };
        let srv = cfg.server_name.as_str();
        if cfg.password.is_some() && !self.pass_ok {
            out.one(id, &nick, &Event::Fail(Fail::PasswordMismatch));
            out.raw(id, |b| {
                b.extend_from_slice(b"ERROR :Closing link (Bad password)\r\n");
            });
            return out.close(id, CloseReason::Other("bad password"));
        }
        if let Some(refusal) = hub.nick_refusal(id, &nick) {
            out.one(id, "*", &Event::Fail(refusal));
            self.nick = None;
            return;
        }
        let host = ctx.peer.to_string();
        hub.register(id, &nick, &user, &realname, &host, ctx.clock);
        hub.set_connection(id, ctx.secure, self.arrival.certfp.as_deref());
        self.registered = true;
        // The hub holds the names from now on; an idle connection keeps no second copy.
        self.nick = None;
        self.user = None;
        let version = env!("CARGO_PKG_VERSION");
        let casemapping = format!("CASEMAPPING={}", hub.name_rules().casemapping());
        out.raw(id, |b| {
            let n =
                |b: &mut Vec<u8>, code, params: &[&str]| write_numeric(b, srv, code, &nick, params);
            let welcome = format!("Welcome to the {NETWORK} IRC network, {nick}!{user}@{host}");
            n(b, RPL_WELCOME, &[&welcome]);
            let yourhost = format!("Your host is {srv}, running version snak-{version}");
            n(b, RPL_YOURHOST, &[&yourhost]);
            let created = format!("This server runs snak {version}");
            n(b, RPL_CREATED, &[&created]);
            let v = format!("snak-{version}");
            n(b, RPL_MYINFO, &[srv, &v, "io", "iklmnotv", "klov"]);
            let nicklen = format!("NICKLEN={NICK_MAX}");
            let chanlen = format!("CHANNELLEN={ROOM_MAX}");
            let topiclen = format!("TOPICLEN={TOPIC_MAX}");
            let kicklen = format!("KICKLEN={TOPIC_MAX}");
            let awaylen = format!("AWAYLEN={AWAY_MAX}");
            let userlen = format!("USERLEN={USER_MAX}");
            let network = format!("NETWORK={NETWORK}");
            let supported = "are supported by this server";
            n(
                b,
                RPL_ISUPPORT,
                &[
                    &awaylen,
                    &casemapping,
                    "CHANLIMIT=#:",
                    "CHANMODES=,k,l,imnt",
                    &chanlen,
                    "CHANTYPES=#",
                    "ELIST=",
                    &kicklen,
                    "MODES=4",
                    supported,
                ],
            );
            n(
                b,
                RPL_ISUPPORT,
                &[
                    &network,
                    &nicklen,
                    "PREFIX=(ov)@+",
                    "TARGMAX=JOIN:,KICK:,NAMES:,PART:,PRIVMSG:4,NOTICE:4,WHOIS:5",
                    &topiclen,
                    &userlen,
                    "UTF8ONLY",
                    supported,
                ],
            );
        });
        out.entered_hub(id);
        hub.apply(id, Command::Lusers, ctx.clock, out);
        self.motd(id, cfg, hub, out);
        self.want(id, ctx.clock.mono + cfg.irc_ping, out);
    }

    fn motd(&self, id: ClientId, cfg: &Config, hub: &Hub, out: &mut impl Output) {
        let srv = cfg.server_name.as_str();
        let me = self.me(hub, id);
        out.raw(id, |b| match &cfg.motd {
            None => write_numeric(b, srv, ERR_NOMOTD, me, &["MOTD File is missing"]),
            Some(lines) => {
                let start = format!("- {srv} Message of the day - ");
                write_numeric(b, srv, RPL_MOTDSTART, me, &[&start]);
                for line in lines {
                    let line = format!("- {}", clip(line, 400));
                    write_numeric(b, srv, RPL_MOTD, me, &[&line]);
                }
                write_numeric(b, srv, RPL_ENDOFMOTD, me, &["End of /MOTD command."]);
            }
        });
    }

    /// A timer of this connection fired: the registration deadline, or the ping check.
    pub fn timer(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        let (id, now, cfg) = (ctx.id, ctx.clock.mono, ctx.cfg);
        let _ = hub;
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
        }
        if !self.registered {
            let deadline = self.register_by;
            if now >= deadline {
                out.raw(id, |b| {
                    b.extend_from_slice(b"ERROR :Closing link (Registration timed out)\r\n")
                });
                return out.close(id, CloseReason::Other("registration timed out"));
            }
            self.want(id, deadline, out);
            return;
        }
        let interval = cfg.irc_ping;
        match self.ping_sent {
            Some(sent) if now >= sent + interval => {
                let secs = interval.as_secs();
                out.raw(id, |b| {
                    let text = format!("ERROR :Closing link (Ping timeout: {secs} seconds)\r\n");
                    b.extend_from_slice(text.as_bytes());
                });
                out.close(id, CloseReason::Other("ping timeout"));
            }
            Some(sent) => self.want(id, sent + interval, out),
            None if now >= self.last_seen + interval => {
                let srv = cfg.server_name.as_str();
                out.raw(id, |b| write_message(b, None, "PING", &[srv]));
                self.ping_sent = Some(now);
                self.want(id, now + interval, out);
            }
            None => self.want(id, self.last_seen + interval, out),
        }
    }
}

/// `FILE OFFER NICK SIZE :NAME`, `FILE ACCEPT|DECLINE|CANCEL ID` (the web page, with
/// `snak.chat/files`), and `FILE SEND NICK` for any IRC client: a link to a page that sends
/// NICK a file.
fn file_command(ctx: &Ctx<'_>, p: &[&str], hub: &mut Hub, out: &mut impl Output) {
    let (id, clock, srv) = (ctx.id, ctx.clock, ctx.cfg.server_name.as_str());
    let mut buf = [0u8; 16];
    let sub = upper(p.first().copied().unwrap_or(""), &mut buf);
    let number = |i: usize| p.get(i).and_then(|s| s.parse::<u64>().ok());
    let command = match (sub, p.len()) {
        ("OFFER", 4) => match number(2) {
            Some(size) if !p[3].is_empty() && p[3].len() <= 255 => Command::Offer {
                to: p[1],
                size,
                name: p[3],
            },
            _ => return fail_usage(ctx, hub, out),
        },
        ("ACCEPT", 2) | ("DECLINE", 2) | ("CANCEL", 2) => {
            let Some(tid) = number(1) else {
                return fail_usage(ctx, hub, out);
            };
            match sub {
                "ACCEPT" => Command::Accept(tid),
                "DECLINE" => Command::Decline(tid),
                _ => Command::Cancel(tid),
            }
        }
        ("SEND", 2) => {
            let me = hub.nick(id).unwrap_or("*").to_string();
            let text = match hub.send_page(id, p[1], clock) {
                Ok(link) => format!("To send {} a file, open {link}", p[1]),
                Err(Fail::NoSuchNick(n)) => format!("{n}: no such nick"),
                Err(_) => "This server serves no file links".to_string(),
            };
            return out.raw(id, |b| write_message(b, Some(srv), "NOTICE", &[&me, &text]));
        }
        _ => return fail_usage(ctx, hub, out),
    };
    hub.apply(id, command, clock, out);
}

fn fail_usage(ctx: &Ctx<'_>, hub: &Hub, out: &mut impl Output) {
    let me = hub.nick(ctx.id).unwrap_or("*");
    out.one(ctx.id, me, &Event::Fail(Fail::NeedMoreParams("FILE")));
}

/// `MODE TARGET [CHANGES [PARAMS...]]`: a room's or one's own modes, shown or changed; every
/// unknown letter is answered on its own, the known ones are applied.
fn mode(
    ctx: &Ctx<'_>,
    target: &str,
    changes: Option<&str>,
    params: &[&str],
    hub: &mut Hub,
    out: &mut impl Output,
) {
    let (id, clock) = (ctx.id, ctx.clock);
    let fail = |hub: &Hub, out: &mut dyn crate::hub::Sink, f: Fail<'_>| {
        out.one(id, hub.nick(id).unwrap_or("*"), &Event::Fail(f));
    };
    if !target.starts_with('#') {
        let Some(changes) = changes else {
            let cmd = Command::UserMode {
                target,
                changes: None,
            };
            return hub.apply(id, cmd, clock, out);
        };
        let (known, unknown) = modes::parse_user(changes);
        if !unknown.is_empty() {
            fail(hub, out, Fail::UnknownUserMode);
        }
        let cmd = Command::UserMode {
            target,
            changes: Some(&known),
        };
        return hub.apply(id, cmd, clock, out);
    }
    let Some(changes) = changes else {
        return hub.apply(id, Command::ShowModes(target), clock, out);
    };
    let req = modes::parse_room(changes, params);
    for &c in &req.unknown {
        fail(hub, out, Fail::UnknownMode(c));
    }
    if req.missing_param {
        fail(hub, out, Fail::NeedMoreParams("MODE"));
    }
    for &list in &req.queries {
        hub.apply(id, Command::MaskList { room: target, list }, clock, out);
    }
    if !req.changes.is_empty() {
        let cmd = Command::RoomMode {
            room: target,
            changes: &req.changes,
        };
        hub.apply(id, cmd, clock, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::recorder::{Conn, Recorder};
    use crate::front::Proto;

    #[test]
    fn helpers() {
        let mut buf = [0u8; 16];
        assert_eq!(upper("privMsg", &mut buf), "PRIVMSG");
        assert_eq!(upper("averyveryverylongcommand", &mut buf), "");
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }

    fn registered(t: &mut Recorder, nick: &str) -> Conn {
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, &format!("NICK {nick}"));
        t.line(&mut c, "USER u 0 * :Real Name");
        let welcome = t.take(c.id);
        assert!(
            welcome.starts_with(&format!(":snak.localhost 001 {nick} :Welcome")),
            "{welcome}"
        );
        c
    }

    #[test]
    fn registration_needs_nick_and_user_and_sends_the_welcome_burst() {
        let mut t = Recorder::new();
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "JOIN #a");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost 451 * :You have not registered\r\n"
        );
        t.line(&mut c, "NICK alice");
        assert!(t.entered.is_empty());
        t.line(&mut c, "USER al 0 * :Alice A");
        let burst = t.take(c.id);
        for code in [
            " 001 ", " 002 ", " 003 ", " 004 ", " 005 ", " 251 ", " 422 ",
        ] {
            assert!(burst.contains(code), "{code} missing in {burst}");
        }
        assert_eq!(t.entered, vec![c.id]);
        assert_eq!(t.hub.nick(c.id), Some("alice"));
        t.line(&mut c, "USER al 0 * :again");
        assert!(t.take(c.id).contains(" 462 alice "));
    }

    #[test]
    fn cap_negotiation_holds_registration_until_end() {
        let mut t = Recorder::new();
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "CAP LS 302");
        t.line(&mut c, "NICK bob");
        t.line(&mut c, "USER b 0 * :Bob");
        let got = t.take(c.id);
        assert!(
            got.starts_with(":snak.localhost CAP * LS :multi-prefix snak.chat/files\r\n"),
            "{got}"
        );
        assert!(!got.contains(" 001 "), "registered during CAP: {got}");
        t.line(&mut c, "CAP REQ :multi-prefix bogus");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost CAP bob NAK :multi-prefix bogus\r\n"
        );
        t.line(&mut c, "CAP REQ multi-prefix");
        assert_eq!(t.take(c.id), ":snak.localhost CAP bob ACK multi-prefix\r\n");
        assert_eq!(t.wires[&c.id].caps, caps::MULTI_PREFIX);
        t.line(&mut c, "CAP LIST");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost CAP bob LIST multi-prefix\r\n"
        );
        t.line(&mut c, "CAP END");
        assert!(t.take(c.id).contains(" 001 bob "));
        t.line(&mut c, "CAP FOO");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost 410 bob FOO :Invalid CAP command\r\n"
        );
    }

    #[test]
    fn a_wrong_server_password_closes_the_link() {
        let mut t = Recorder::with(Config {
            password: Some(crate::config::Secret::Plain("sesame".into())),
            ..Config::default()
        });
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "PASS wrong");
        t.line(&mut c, "NICK eve");
        t.line(&mut c, "USER e 0 * :Eve");
        let got = t.take(c.id);
        assert!(got.contains(" 464 "), "{got}");
        assert!(
            got.ends_with("ERROR :Closing link (Bad password)\r\n"),
            "{got}"
        );
        assert_eq!(t.closed, vec![(c.id, CloseReason::Other("bad password"))]);
    }

    #[test]
    fn silent_clients_are_pinged_then_dropped_and_unregistered_ones_time_out() {
        let mut t = Recorder::with(Config {
            irc_ping: Duration::from_secs(30),
            ..Config::default()
        });
        let mut idle = t.connect(Proto::Irc);
        t.advance(&mut idle, Duration::from_secs(31));
        assert_eq!(
            t.take(idle.id),
            "ERROR :Closing link (Registration timed out)\r\n"
        );
        let mut c = registered(&mut t, "carol");
        t.advance(&mut c, Duration::from_secs(31));
        assert_eq!(t.take(c.id), "PING snak.localhost\r\n");
        t.line(&mut c, "PONG snak.localhost");
        t.advance(&mut c, Duration::from_secs(31));
        assert_eq!(
            t.take(c.id),
            "PING snak.localhost\r\n",
            "pinged again, not dropped"
        );
        t.advance(&mut c, Duration::from_secs(31));
        assert_eq!(
            t.take(c.id),
            "ERROR :Closing link (Ping timeout: 30 seconds)\r\n"
        );
        assert!(t
            .closed
            .contains(&(c.id, CloseReason::Other("ping timeout"))));
    }

    #[test]
    fn replies_and_relays_between_two_users() {
        let mut t = Recorder::new();
        let mut a = registered(&mut t, "alice");
        let mut b = registered(&mut t, "bob");
        t.line(&mut a, "JOIN #r");
        let joined = t.take(a.id);
        assert!(
            joined.starts_with(":alice!u@127.0.0.1 JOIN #r\r\n"),
            "{joined}"
        );
        assert!(joined.contains(" 353 alice = #r @alice\r\n"), "{joined}");
        t.line(&mut b, "JOIN #r");
        assert_eq!(t.take(a.id), ":bob!u@127.0.0.1 JOIN #r\r\n");
        t.take(b.id);
        t.line(&mut b, "PRIVMSG #r :hello there");
        assert_eq!(t.take(a.id), ":bob!u@127.0.0.1 PRIVMSG #r :hello there\r\n");
        assert_eq!(t.take(b.id), "", "no echo without echo-message");
        t.line(&mut a, "PRIVMSG nobody :x");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 401 alice nobody :No such nick/channel\r\n"
        );
        t.line(&mut a, "PING :tok en");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost PONG snak.localhost :tok en\r\n"
        );
        t.line(&mut a, "FROB");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 421 alice FROB :Unknown command\r\n"
        );
        t.line(&mut b, "QUIT :bye all");
        assert!(t
            .take(b.id)
            .starts_with("ERROR :Closing link (Quit: bye all)"));
        assert!(t
            .closed
            .contains(&(b.id, CloseReason::Quit(Some("bye all".into())))));
    }
}
