//! The IRC session: registration, capability negotiation, pings, and the translation of IRC
//! commands into hub commands.
//!
//! One session per IRC connection, boxed in its `Conn`. Lines arrive parsed by
//! [`irc_msg::parse`]; what the hub does is told back through the [`Deliver`] sink, which
//! encodes events with [`crate::proto::irc`]. The few lines that exist only in IRC (CAP, the
//! welcome burst, MOTD, PONG) are written here directly.
//!
//! Registration: `PASS` (checked if the server has a password), `NICK` and `USER` in any
//! order; `CAP LS` or `CAP REQ` pause it until `CAP END`. Then the nick is taken in the hub and
//! the welcome burst (001-005, LUSERS, MOTD) is sent. Commands other than those (and `PING`,
//! `PONG`, `QUIT`) before that get `451`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::conn::CloseReason;
use crate::event::{Event, Fail, MsgKind};
use crate::hub::{ClientId, Command, Hub, Sink};
use crate::names::{check_nick, NICK_MAX, ROOM_MAX};
use crate::proto::irc_msg::{self, numeric::*, write_message, write_numeric, ParseError};
use crate::server::Deliver;

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
pub const CAPS: &[&str] = &["multi-prefix"];

/// What the loop must do after a line.
pub enum IrcAction {
    None,
    /// The client is now a hub user.
    Registered,
    Close(CloseReason),
}

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
    multi_prefix: bool,
    last_seen: Instant,
    ping_sent: Option<Instant>,
    /// When the earliest timer armed for this session fires.
    timer: Option<Instant>,
    /// A timer the loop should arm (see [`IrcSession::take_wake`]).
    wake: Option<Instant>,
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
    /// A new connection that must register within `register_within`.
    pub fn new(now: Instant, register_within: Duration) -> IrcSession {
        IrcSession {
            register_by: now + register_within,
            registered: false,
            nick: None,
            user: None,
            pass_ok: false,
            cap_pause: false,
            multi_prefix: false,
            last_seen: now,
            ping_sent: None,
            timer: Some(now + register_within),
            wake: None,
        }
    }

    /// A timer the loop must arm for this connection, if one is needed.
    /// Whether the client asked for every member prefix in listings (IRCv3 `multi-prefix`).
    pub fn multi_prefix(&self) -> bool {
        self.multi_prefix
    }

    pub fn take_wake(&mut self) -> Option<Instant> {
        self.wake.take()
    }

    /// Asks for a timer at `at` unless one fires before it anyway.
    fn want(&mut self, at: Instant) {
        if self.timer.map_or(true, |t| at < t) {
            self.timer = Some(at);
            self.wake = Some(at);
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
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        id: ClientId,
        line: Option<&[u8]>,
        peer: IpAddr,
        now: Instant,
        cfg: &Config,
        hub: &mut Hub,
        out: &mut Deliver<'_>,
    ) -> IrcAction {
        self.last_seen = now;
        self.ping_sent = None;
        let fail = |s: &Self, hub: &Hub, out: &mut Deliver<'_>, f: Fail<'_>| {
            out.one(id, s.me(hub, id), &Event::Fail(f));
        };
        let Some(line) = line else {
            fail(self, hub, out, Fail::LineTooLong(irc_msg::MAX_BODY_LEN + 2));
            return IrcAction::None;
        };
        let msg = match irc_msg::parse(line) {
            Ok(msg) => msg,
            Err(ParseError::Empty | ParseError::NoCommand) => return IrcAction::None,
            Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                fail(self, hub, out, Fail::LineTooLong(irc_msg::MAX_BODY_LEN + 2));
                return IrcAction::None;
            }
            Err(ParseError::InvalidUtf8) => {
                fail(self, hub, out, Fail::BadUtf8);
                return IrcAction::None;
            }
            Err(ParseError::ForbiddenByte(_)) => {
                fail(self, hub, out, Fail::ControlChar);
                return IrcAction::None;
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
            "CAP" => return self.cap(id, p, now, peer, cfg, hub, out),
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
                return IrcAction::None;
            }
            "PONG" => return IrcAction::None,
            "QUIT" => {
                let reason = arg(0).filter(|r| !r.is_empty()).map(|r| clip(r, TOPIC_MAX));
                out.one(
                    id,
                    self.me(hub, id),
                    &Event::Bye {
                        reason: reason.unwrap_or(""),
                    },
                );
                return IrcAction::Close(CloseReason::Quit(reason.map(Into::into)));
            }
            "PASS" if !self.registered => {
                if !need(1) {
                    fail(self, hub, out, Fail::NeedMoreParams("PASS"));
                } else {
                    self.pass_ok = cfg.password.as_ref().map_or(true, |pw| pw.verify(p[0]));
                }
                return IrcAction::None;
            }
            "NICK" if !self.registered => {
                let Some(nick) = arg(0).filter(|n| !n.is_empty()) else {
                    fail(self, hub, out, Fail::NoNickGiven);
                    return IrcAction::None;
                };
                if let Err(e) = check_nick(nick) {
                    fail(self, hub, out, Fail::BadNick(nick, e));
                    return IrcAction::None;
                }
                if hub.nick_in_use(nick) {
                    fail(self, hub, out, Fail::NickTaken(nick));
                    return IrcAction::None;
                }
                self.nick = Some(nick.into());
                return self.try_register(id, now, peer, cfg, hub, out);
            }
            "USER" if !self.registered => {
                if !need(3) || p.len() < 4 {
                    fail(self, hub, out, Fail::NeedMoreParams("USER"));
                    return IrcAction::None;
                }
                let user: String = p[0]
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    .take(USER_MAX)
                    .collect();
                let user = if user.is_empty() { "user".into() } else { user };
                self.user = Some((user.into(), clip(p[3], TOPIC_MAX).into()));
                return self.try_register(id, now, peer, cfg, hub, out);
            }
            "PASS" | "USER" => {
                fail(self, hub, out, Fail::AlreadyRegistered);
                return IrcAction::None;
            }
            _ if !self.registered => {
                fail(self, hub, out, Fail::NotRegistered);
                return IrcAction::None;
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
                    return IrcAction::None;
                };
                let Some(text) = arg(1).filter(|t| !t.is_empty()) else {
                    if !notice {
                        fail(self, hub, out, Fail::NoTextToSend);
                    }
                    return IrcAction::None;
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
                    return IrcAction::None;
                };
                let count = arg(1).and_then(|c| c.parse().ok());
                for nick in nicks.split(',').filter(|n| !n.is_empty()).take(5) {
                    let command = if cmd == "WHOIS" {
                        Command::Whois(nick)
                    } else {
                        Command::Whowas { nick, count }
                    };
                    hub.apply(id, command, now, out);
                }
                return IrcAction::None;
            }
            "NICK" => match arg(0).filter(|n| !n.is_empty()) {
                Some(nick) => Command::Nick(nick),
                None => {
                    fail(self, hub, out, Fail::NoNickGiven);
                    return IrcAction::None;
                }
            },
            "AWAY" => Command::Away(arg(0).map(|t| clip(t, AWAY_MAX))),
            "MODE" if need(1) => Command::Mode {
                target: p[0],
                changes: arg(1).filter(|c| !c.is_empty()),
                args: p.get(2..).unwrap_or(&[]),
            },
            "KICK" if need(2) => Command::Kick {
                rooms: p[0],
                nicks: p[1],
                reason: arg(2).map(|r| clip(r, TOPIC_MAX)),
            },
            "INVITE" if need(2) => Command::Invite {
                nick: p[0],
                room: p[1],
            },
            "USERHOST" if need(1) => Command::Userhost(p),
            "ISON" if need(1) => Command::Ison(p),
            "LUSERS" => Command::Lusers,
            "MOTD" => {
                self.motd(id, cfg, hub, out);
                return IrcAction::None;
            }
            "OPER" if need(2) => {
                let ok = cfg.opers.iter().any(|(n, pw)| n == p[0] && pw.verify(p[1]));
                if !ok {
                    fail(self, hub, out, Fail::PasswordMismatch);
                    return IrcAction::None;
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
                return IrcAction::None;
            }
            "JOIN" | "PART" | "TOPIC" | "MODE" | "KICK" | "INVITE" | "USERHOST" | "ISON"
            | "OPER" | "KILL" => {
                fail(self, hub, out, Fail::NeedMoreParams(msg.command()));
                return IrcAction::None;
            }
            _ => {
                fail(self, hub, out, Fail::UnknownCommand(msg.command()));
                return IrcAction::None;
            }
        };
        hub.apply(id, command, now, out);
        IrcAction::None
    }

    /// `CAP LS [302]`, `LIST`, `REQ`, `END`. Negotiation before registration holds it until
    /// `END`, so a client never waits for a welcome that cannot come.
    #[allow(clippy::too_many_arguments)]
    fn cap(
        &mut self,
        id: ClientId,
        p: &[&str],
        now: Instant,
        peer: IpAddr,
        cfg: &Config,
        hub: &mut Hub,
        out: &mut Deliver<'_>,
    ) -> IrcAction {
        let srv = cfg.server_name.as_str();
        let sub = p
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_default();
        let me = self.me(hub, id).to_string();
        let reply = |out: &mut Deliver<'_>, params: &[&str]| {
            out.raw(id, |b| {
                let mut all = vec![me.as_str()];
                all.extend_from_slice(params);
                write_message(b, Some(srv), "CAP", &all);
            })
        };
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_pause = true;
                }
                reply(out, &["LS", &CAPS.join(" ")]);
            }
            "LIST" => {
                let on = if self.multi_prefix {
                    "multi-prefix"
                } else {
                    ""
                };
                reply(out, &["LIST", on]);
            }
            "REQ" => {
                if !self.registered {
                    self.cap_pause = true;
                }
                let asked = p.get(1).copied().unwrap_or("");
                let known = asked.split(' ').filter(|c| !c.is_empty()).all(|c| {
                    let name = c.strip_prefix('-').unwrap_or(c);
                    CAPS.contains(&name)
                });
                if known {
                    for c in asked.split(' ').filter(|c| !c.is_empty()) {
                        self.multi_prefix = !c.starts_with('-');
                    }
                    reply(out, &["ACK", asked]);
                } else {
                    reply(out, &["NAK", asked]);
                }
            }
            "END" => {
                if !self.registered && self.cap_pause {
                    self.cap_pause = false;
                    return self.try_register(id, now, peer, cfg, hub, out);
                }
            }
            _ => {
                let sub = p.first().copied().filter(|s| !s.is_empty()).unwrap_or("*");
                out.raw(id, |b| {
                    let sub = if sub.starts_with(':') || sub.contains(' ') {
                        "*"
                    } else {
                        sub
                    };
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
        IrcAction::None
    }

    /// Registers once NICK and USER are in and CAP negotiation (if any) is over.
    #[allow(clippy::too_many_arguments)]
    fn try_register(
        &mut self,
        id: ClientId,
        now: Instant,
        peer: IpAddr,
        cfg: &Config,
        hub: &mut Hub,
        out: &mut Deliver<'_>,
    ) -> IrcAction {
        if self.registered || self.cap_pause {
            return IrcAction::None;
        }
        let (Some(nick), Some((user, realname))) = (self.nick.clone(), self.user.clone()) else {
            return IrcAction::None;
        };
        let srv = cfg.server_name.as_str();
        if cfg.password.is_some() && !self.pass_ok {
            out.one(id, &nick, &Event::Fail(Fail::PasswordMismatch));
            out.raw(id, |b| {
                b.extend_from_slice(b"ERROR :Closing link (Bad password)\r\n");
            });
            return IrcAction::Close(CloseReason::Other("bad password"));
        }
        if hub.nick_in_use(&nick) {
            out.one(id, "*", &Event::Fail(Fail::NickTaken(&nick)));
            self.nick = None;
            return IrcAction::None;
        }
        let host = peer.to_string();
        hub.register(id, &nick, &user, &realname, &host);
        self.registered = true;
        // The hub holds the names from now on; an idle connection keeps no second copy.
        self.nick = None;
        self.user = None;
        let version = env!("CARGO_PKG_VERSION");
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
                    "CASEMAPPING=ascii",
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
        hub.apply(id, Command::Lusers, now, out);
        self.motd(id, cfg, hub, out);
        self.want(now + cfg.irc_ping);
        IrcAction::Registered
    }

    fn motd(&self, id: ClientId, cfg: &Config, hub: &Hub, out: &mut Deliver<'_>) {
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
    pub fn on_timer(
        &mut self,
        id: ClientId,
        now: Instant,
        cfg: &Config,
        out: &mut Deliver<'_>,
    ) -> IrcAction {
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
        }
        if !self.registered {
            let deadline = self.register_by;
            if now >= deadline {
                out.raw(id, |b| {
                    b.extend_from_slice(b"ERROR :Closing link (Registration timed out)\r\n")
                });
                return IrcAction::Close(CloseReason::Other("registration timed out"));
            }
            self.want(deadline);
            return IrcAction::None;
        }
        let interval = cfg.irc_ping;
        match self.ping_sent {
            Some(sent) if now >= sent + interval => {
                let secs = interval.as_secs();
                out.raw(id, |b| {
                    let text = format!("ERROR :Closing link (Ping timeout: {secs} seconds)\r\n");
                    b.extend_from_slice(text.as_bytes());
                });
                return IrcAction::Close(CloseReason::Other("ping timeout"));
            }
            Some(sent) => self.want(sent + interval),
            None if now >= self.last_seen + interval => {
                let srv = cfg.server_name.as_str();
                out.raw(id, |b| write_message(b, None, "PING", &[srv]));
                self.ping_sent = Some(now);
                self.want(now + interval);
            }
            None => self.want(self.last_seen + interval),
        }
        IrcAction::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let mut buf = [0u8; 16];
        assert_eq!(upper("privMsg", &mut buf), "PRIVMSG");
        assert_eq!(upper("averyveryverylongcommand", &mut buf), "");
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("héllo", 3), "hé");
        assert_eq!(clip("abc", 10), "abc");
    }
}
