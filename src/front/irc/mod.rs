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
use crate::clock::{instant_of, nanos_of};
use crate::config::Config;
use crate::event::{Event, Fail, MsgKind};
use crate::hub::{ClientId, Command, Hub, MonitorOp, MONITOR_MAX, REALNAME_MAX};
use crate::names::{NICK_MAX, ROOM_MAX};
use crate::proto::irc::{self, caps};
use crate::proto::irc_msg::{self, numeric::*, write_message, write_numeric, Message, ParseError};
use crate::proto::modes;
use crate::text::{self, CtcpKind};

mod info;
mod sasl;
mod services;

/// What a job this session handed off is for.
#[derive(Debug)]
enum Wait {
    /// The server password, given as a hash.
    Pass,
    /// An operator password, given as a hash.
    Oper,
    /// A lookup for the SASL exchange with this serial.
    Sasl(u32),
    Account(crate::front::accounts::Op, services::Via),
}

/// A connection that has not registered within this time is closed.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest topic, kick reason and away message kept (longer ones are cut).
pub const TOPIC_MAX: usize = 390;
pub const AWAY_MAX: usize = 200;
/// Longest user name kept from `USER`.
pub const USER_MAX: usize = 10;
/// The network name in ISUPPORT.
pub const NETWORK: &str = "snak";
/// The capabilities offered, with their CAP 302 values, in the order CAP LS lists them.
pub const CAPS: &[(&str, u32, Option<&str>)] = &[
    ("account-notify", caps::ACCOUNT_NOTIFY, None),
    (
        "draft/account-registration",
        caps::ACCOUNT_REGISTRATION,
        Some("before-connect"),
    ),
    ("account-tag", caps::ACCOUNT_TAG, None),
    ("away-notify", caps::AWAY_NOTIFY, None),
    ("batch", caps::BATCH, None),
    ("draft/read-marker", caps::READ_MARKER, None),
    ("cap-notify", caps::CAP_NOTIFY, None),
    ("draft/chathistory", caps::CHATHISTORY, None),
    ("chghost", caps::CHGHOST, None),
    ("echo-message", caps::ECHO_MESSAGE, None),
    ("extended-join", caps::EXTENDED_JOIN, None),
    ("extended-monitor", caps::EXTENDED_MONITOR, None),
    ("invite-notify", caps::INVITE_NOTIFY, None),
    ("labeled-response", caps::LABELED_RESPONSE, None),
    ("message-tags", caps::MESSAGE_TAGS, None),
    ("multi-prefix", caps::MULTI_PREFIX, None),
    ("sasl", caps::SASL, Some("PLAIN,SCRAM-SHA-256")),
    ("server-time", caps::SERVER_TIME, None),
    ("setname", caps::SETNAME, None),
    ("snak.chat/files", caps::SNAK_FILES, None),
    ("standard-replies", caps::STANDARD_REPLIES, None),
    ("userhost-in-names", caps::USERHOST_IN_NAMES, None),
];
/// A capability's CAP 302 value under this configuration: SASL EXTERNAL only where client
/// certificates can reach IRC (a TLS listener), `before-connect` unless turned off.
fn cap_value(name: &str, value: Option<&'static str>, cfg: &Config) -> Option<&'static str> {
    match name {
        "sasl" => Some(crate::auth::sasl::mechanism_list(
            !cfg.irc_tls_listen.is_empty(),
        )),
        "draft/account-registration" => value.filter(|_| cfg.early_register),
        _ => value,
    }
}

/// Most capabilities one `CAP REQ` may name; more NAK the whole request.
pub const CAP_REQ_MAX: usize = 64;
/// Longest label kept from a labeled command (longer ones are refused).
pub const LABEL_MAX: usize = 64;

/// The commands STATS m counts, the common ones first: every line looks itself up here.
const COUNTED: &[&str] = &[
    "PRIVMSG",
    "NOTICE",
    "TAGMSG",
    "JOIN",
    "PART",
    "MODE",
    "WHO",
    "NICK",
    "AWAY",
    "TOPIC",
    "NAMES",
    "WHOIS",
    "MONITOR",
    "CHATHISTORY",
    "LIST",
    "KICK",
    "INVITE",
    "ISON",
    "USERHOST",
    "SETNAME",
    "WHOWAS",
    "KNOCK",
    "LUSERS",
    "MOTD",
    "VERSION",
    "TIME",
    "ADMIN",
    "INFO",
    "HELP",
    "LINKS",
    "STATS",
    "OPER",
    "REHASH",
    "WALLOPS",
];

/// A parameter usable as a middle one: never empty, no space, no leading `:`.
fn middle(p: &str) -> &str {
    if p.is_empty() || p.starts_with(':') || p.contains(' ') {
        "*"
    } else {
        p
    }
}

/// The capability names of a CAP LS reply in lines of at most `budget` bytes (at least one
/// line, empty if there are no names; a name longer than the budget has a line of its own).
fn cap_ls_lines(names: &[String], budget: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for name in names {
        if lines
            .last()
            .is_some_and(|l| !l.is_empty() && l.len() + name.len() + 1 > budget)
        {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(name);
        }
    }
    lines
}

/// The `sts` capability's value (CAP 302 only, never requested): on a plain connection where
/// to find TLS, on a TLS one how long to keep to it; none without an IRC TLS listener or with
/// `--sts-duration 0`.
fn sts_value(ctx: &Ctx<'_>) -> Option<String> {
    let port = ctx.irc_tls_port?;
    let duration = ctx.cfg.sts_duration.as_secs();
    match (duration, ctx.secure) {
        (0, _) => None,
        (_, true) => Some(format!("duration={duration}")),
        (_, false) => Some(format!("port={port},duration={duration}")),
    }
}

/// RPL_ISUPPORT lines, at most 12 tokens each.
fn write_isupport(out: &mut Vec<u8>, srv: &str, me: &str, tokens: &[String]) {
    for chunk in tokens.chunks(12) {
        let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
        params.push("are supported by this server");
        write_numeric(out, srv, RPL_ISUPPORT, me, &params);
    }
}

/// The ISUPPORT tokens snak sends after the welcome and on VERSION; `filehost` is where
/// uploads go, if this server stores them.
pub fn isupport_tokens(casemapping: &str, filehost: Option<&str>) -> Vec<String> {
    let rooms = crate::hub::HubConfig::default().max_rooms_per_user;
    let mut tokens = vec![
        format!("AWAYLEN={AWAY_MAX}"),
        "BOT=B".into(),
        format!("CASEMAPPING={casemapping}"),
        format!("CHANLIMIT=#:{rooms}"),
        "CHANMODES=beI,k,l,Cimnst".into(),
        format!("CHANNELLEN={ROOM_MAX}"),
        "CHANTYPES=#".into(),
        format!("CHATHISTORY={}", crate::proto::history::MAX_LINES),
        "ELIST=MNU".into(),
        "EXCEPTS=e".into(),
        "INVEX=I".into(),
        format!("KICKLEN={TOPIC_MAX}"),
        format!("MAXLIST=beI:{}", crate::hub::MASKS_MAX),
        "MODES=4".into(),
        format!("MONITOR={MONITOR_MAX}"),
        "MSGREFTYPES=msgid,timestamp".into(),
        format!("NAMELEN={REALNAME_MAX}"),
        format!("NETWORK={NETWORK}"),
        format!("NICKLEN={NICK_MAX}"),
        "PREFIX=(ov)@+".into(),
        "STATUSMSG=@+".into(),
        "TARGMAX=JOIN:,KICK:4,MONITOR:,NAMES:16,PART:,PRIVMSG:4,NOTICE:4,TAGMSG:4,WHOIS:5".into(),
        format!("TOPICLEN={TOPIC_MAX}"),
        format!("USERLEN={USER_MAX}"),
        "UTF8ONLY".into(),
        "WHOX".into(),
    ];
    if let Some(url) = filehost {
        // soju's name, which senpai and gamja read, and the IRCv3 draft's.
        let url = isupport_escape(url);
        tokens.push(format!("draft/FILEHOST={url}"));
        tokens.push(format!("soju.im/FILEHOST={url}"));
    }
    tokens
}

/// An ISUPPORT value with what may not stand in one escaped (`\xHH`).
fn isupport_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | ' ' | '=' => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

pub struct IrcSession {
    /// The capabilities negotiated, as [`caps`] bits.
    caps: u32,
    /// Batches this connection has been sent, for their names (a labeled response's batch
    /// is closed before the next begins, so a name coming round again is no clash).
    batches: u16,
    /// [`CAP_302`], [`PING_OUT`], [`TIMER_ARMED`].
    bits: u8,
    /// When the last line came, or, while a ping is out, when the ping was sent (as
    /// [`crate::clock::nanos_of`]: 8 bytes where an `Instant` is 16, and the session is then
    /// 40 bytes, a 48-byte chunk instead of 64).
    since: u64,
    /// CHATHISTORY's state (the request waiting for the store), made at the first one.
    history: Option<Box<super::history::IrcHistory>>,
    /// What a connection logging in or waiting for a password check holds; None otherwise.
    auth: Option<Box<Auth>>,
    /// What only registration needs, boxed apart and given back at the welcome: an idle
    /// registered connection holds a pointer's worth of it.
    reg: Option<Box<Registration>>,
}

/// The client asked `CAP LS 302` (values, multi-line replies, cap-notify).
const CAP_302: u8 = 1;
/// A ping is out, sent at `since`.
const PING_OUT: u8 = 2;
/// A timer is armed for this session (one at a time: each one that fires arms the next;
/// every deadline asked for while one is armed is later than it, so it waits for that one
/// to fire).
const TIMER_ARMED: u8 = 4;

/// The state of a connection that has not registered yet.
struct Registration {
    /// Closed if not registered by then.
    register_by: Instant,
    nick: Option<Box<str>>,
    /// User name and real name from `USER`.
    user: Option<(Box<str>, Box<str>)>,
    pass_ok: bool,
    /// `CAP LS`/`REQ` before registration: wait for `CAP END`.
    cap_pause: bool,
    /// What the transport told of the connection (a TLS client certificate); the hub keeps
    /// it once the connection is registered.
    arrival: Arrival,
}

/// The state of logging in and of password checks, boxed apart from the session: most
/// connections, most of the time, have none of it.
#[derive(Default)]
struct Auth {
    /// Jobs handed off the loop (password checks, accounts), by tag.
    jobs: crate::front::accounts::Jobs<Wait>,
    /// A SASL exchange in progress, and the serial of the last one begun.
    sasl: Option<Box<sasl::Sasl>>,
    sasl_serial: u32,
    /// SASL succeeded before registration (a second exchange then gets 907).
    sasl_done: bool,
    /// The account logged in to before registration (SASL, REGISTER), applied at it.
    account: Option<Box<str>>,
    /// A nick refused before registration (REGISTER names it: no land grabs).
    tried_nick: Option<Box<str>>,
    /// The server password is being checked off the loop: registration waits.
    pass_pending: bool,
}

fn upper<'b>(cmd: &'b str, buf: &'b mut [u8; 16]) -> &'b str {
    // Clients send commands in capitals: then no copy and no second UTF-8 check.
    if cmd.len() <= buf.len() && !cmd.bytes().any(|b| b.is_ascii_lowercase()) {
        return cmd;
    }
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
            caps: 0,
            batches: 0,
            bits: 0,
            since: nanos_of(now),
            history: None,
            auth: None,
            reg: Some(Box::new(Registration {
                register_by: now + within,
                nick: None,
                user: None,
                pass_ok: false,
                cap_pause: false,
                arrival,
            })),
        };
        session.want(ctx.id, now + within, out);
        session
    }

    /// The answer to a job this session handed off (a password check, accounts, history).
    pub fn answer(
        &mut self,
        ctx: &Ctx<'_>,
        tag: u32,
        answer: super::Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if super::history::owns(tag) {
            let Some(history) = self.history.as_mut() else {
                return;
            };
            return super::history::irc_answer(history, ctx, self.caps, answer, hub, out);
        }
        let Some(wait) = self.auth.as_mut().and_then(|a| a.jobs.take(tag)) else {
            return;
        };
        match wait {
            Wait::Pass => self.pass_answer(ctx, answer, hub, out),
            Wait::Oper => self.oper_answer(ctx, answer, hub, out),
            Wait::Sasl(serial) => self.sasl_answer(ctx, serial, answer, hub, out),
            Wait::Account(op, via) => self.account_answer(ctx, op, via, answer, hub, out),
        }
        self.tidy_auth();
    }

    /// Whether an answer is awaited (the next lines wait for it).
    pub fn waits(&self) -> bool {
        self.auth.as_ref().is_some_and(|a| !a.jobs.is_empty())
            || self.history.as_ref().is_some_and(|h| h.waiting())
    }

    /// Whether the welcome was sent (the registration state is given back then).
    fn registered(&self) -> bool {
        self.reg.is_none()
    }

    /// The nick given before registration.
    fn early_nick(&self) -> Option<&str> {
        self.reg.as_ref()?.nick.as_deref()
    }

    /// The user name given before registration.
    fn early_user(&self) -> Option<&str> {
        Some(&*self.reg.as_ref()?.user.as_ref()?.0)
    }

    /// Whether the server password was given (or is not needed); true once registered.
    fn pass_ok(&self) -> bool {
        self.reg.as_ref().is_none_or(|r| r.pass_ok)
    }

    fn set_pass_ok(&mut self, ok: bool) {
        if let Some(r) = self.reg.as_mut() {
            r.pass_ok = ok;
        }
    }

    /// The login state, made when first needed.
    fn auth(&mut self) -> &mut Auth {
        self.auth.get_or_insert_with(Default::default)
    }

    /// Gives the login state back once nothing in it matters any more.
    fn tidy_auth(&mut self) {
        let idle = self.auth.as_ref().is_some_and(|a| {
            a.jobs.is_empty()
                && a.sasl.is_none()
                && a.account.is_none()
                && a.tried_nick.is_none()
                && !a.pass_pending
                && (self.registered() || !a.sasl_done)
        });
        if idle {
            self.auth = None;
        }
    }

    /// The server's answer to what this session asked of it for its operator.
    pub fn told(
        &mut self,
        ctx: &Ctx<'_>,
        answer: super::ServerAnswer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let srv = ctx.cfg.server_name.as_str();
        let me = self.me(hub, ctx.id);
        out.raw(ctx.id, |b| info::told(srv, me, &answer, b));
    }

    /// Asks for a timer at `at` unless one is armed already (it fires first: the deadlines
    /// asked for only move on).
    fn want(&mut self, id: ClientId, at: Instant, out: &mut impl Output) {
        if !self.has(TIMER_ARMED) {
            self.set(TIMER_ARMED, true);
            out.wake_at(id, at);
        }
    }

    fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.bits |= bit;
        } else {
            self.bits &= !bit;
        }
    }

    fn me<'h>(&'h self, hub: &'h Hub, id: ClientId) -> &'h str {
        match (self.registered(), hub.nick(id), self.early_nick()) {
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
        let id = ctx.id;
        self.since = ctx.clock.mono_nanos;
        self.set(PING_OUT, false);
        let fail = |s: &Self, hub: &Hub, out: &mut dyn crate::hub::Sink, f: Fail<'_>| {
            out.one(id, s.me(hub, id), &Event::Fail(f));
        };
        let Some(line) = line else {
            fail(self, hub, out, Fail::LineTooLong(irc_msg::MAX_BODY_LEN + 2));
            return;
        };
        // Matched by reference: moving the parsed message out copies its 15 parameters.
        let parsed = irc_msg::parse(line);
        let msg = match &parsed {
            Ok(msg) => msg,
            Err(ParseError::Empty | ParseError::NoCommand) => return,
            Err(ParseError::TooLong | ParseError::TagsTooLong) => {
                fail(self, hub, out, Fail::LineTooLong(irc_msg::MAX_BODY_LEN + 2));
                return;
            }
            Err(ParseError::InvalidUtf8) => return self.not_utf8(ctx, line, hub, out),
            Err(ParseError::ForbiddenByte(_)) => {
                fail(self, hub, out, Fail::ControlChar);
                return;
            }
        };
        self.labeled(ctx, msg, hub, out);
    }

    /// A command, its replies tagged with its label if it has one and the client asked for
    /// labeled-response: what is queued for the client meanwhile is held and sent tagged.
    fn labeled(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>, hub: &mut Hub, out: &mut impl Output) {
        // The cap first: most clients never ask for it, and the tags are not read then.
        if self.caps & caps::LABELED_RESPONSE == 0 {
            return self.handle(ctx, msg, hub, out);
        }
        let Some(label) = msg.tag("label") else {
            return self.handle(ctx, msg, hub, out);
        };
        let (id, srv) = (ctx.id, ctx.cfg.server_name.as_str());
        if label.is_empty() || label.len() > LABEL_MAX {
            return out.raw(id, |b| {
                let text = "Labels are 1 to 64 bytes";
                write_message(b, Some(srv), "FAIL", &["*", "INVALID_LABEL", text]);
            });
        }
        let mut escaped = Vec::with_capacity(label.len());
        irc_msg::write_escaped_tag_value(&mut escaped, &label);
        let escaped = String::from_utf8_lossy(&escaped).into_owned();
        self.batches = self.batches.wrapping_add(1);
        let batch_id = format!("L{}", self.batches);
        let batch = self.caps & caps::BATCH != 0;
        out.capture(id);
        self.handle(ctx, msg, hub, out);
        if let Some(history) = self.history.as_mut().filter(|h| h.waiting()) {
            // The answer comes from the store: it carries the label when it comes (nothing
            // else of this client's is read meanwhile).
            history.set_label(escaped);
            return out.release(id, |held, b| b.extend_from_slice(held));
        }
        out.release(id, |held, b| {
            crate::proto::irc::label_response(held, &escaped, &batch_id, srv, batch, b)
        });
    }

    /// A line that is not UTF-8: a USER before registration is taken with its invalid bytes
    /// replaced (registration must not stall); anything else is refused with
    /// `FAIL <command> INVALID_UTF8`, as UTF8ONLY servers do.
    fn not_utf8(&mut self, ctx: &Ctx<'_>, line: &[u8], hub: &mut Hub, out: &mut impl Output) {
        let text = String::from_utf8_lossy(line);
        let mut buf = [0u8; 16];
        // Replacement characters may make the line too long to parse: then it has no name.
        let cmd = match irc_msg::parse(text.as_bytes()) {
            Ok(msg) => {
                let cmd = upper(msg.command(), &mut buf).to_string();
                if cmd == "USER" && !self.registered() {
                    return self.labeled(ctx, &msg, hub, out);
                }
                cmd
            }
            Err(_) => String::new(),
        };
        let (id, srv) = (ctx.id, ctx.cfg.server_name.as_str());
        let cmd = middle(&cmd).to_string();
        out.raw(id, |b| {
            let text = "Your line was not valid UTF-8; this server takes UTF-8 only";
            write_message(b, Some(srv), "FAIL", &[&cmd, "INVALID_UTF8", text]);
        });
    }

    /// One parsed command.
    fn handle(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>, hub: &mut Hub, out: &mut impl Output) {
        let (id, cfg) = (ctx.id, ctx.cfg);
        let fail = |s: &Self, hub: &Hub, out: &mut dyn crate::hub::Sink, f: Fail<'_>| {
            out.one(id, s.me(hub, id), &Event::Fail(f));
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
            "PASS" if !self.registered() => {
                match &cfg.password {
                    _ if !need(1) => fail(self, hub, out, Fail::NeedMoreParams("PASS")),
                    // A hash is slow to check on purpose: off the loop.
                    Some(crate::config::Secret::Hash(phc)) => self.check_pass(ctx, phc, p[0], out),
                    Some(pw) => self.set_pass_ok(pw.verify(p[0])),
                    None => self.set_pass_ok(true),
                }
                return;
            }
            "AUTHENTICATE" => return self.authenticate(ctx, p, hub, out),
            "REGISTER" => return self.register(ctx, p, hub, out),
            "VERIFY" => return self.verify(ctx, p, hub, out),
            "NICK" if !self.registered() => {
                let Some(nick) = arg(0).filter(|n| !n.is_empty()) else {
                    fail(self, hub, out, Fail::NoNickGiven);
                    return;
                };
                if let Some(refusal) = hub.nick_refusal(id, nick) {
                    self.auth().tried_nick = Some(nick.into());
                    fail(self, hub, out, refusal);
                    return;
                }
                if let Some(a) = self.auth.as_mut() {
                    a.tried_nick = None;
                }
                if let Some(r) = self.reg.as_mut() {
                    r.nick = Some(nick.into());
                }
                return self.try_register(ctx, hub, out);
            }
            "USER" if !self.registered() => {
                if !need(4) {
                    fail(self, hub, out, Fail::NeedMoreParams("USER"));
                    return;
                }
                let user: String = p[0]
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    .take(USER_MAX)
                    .collect();
                let user = if user.is_empty() { "user".into() } else { user };
                if let Some(r) = self.reg.as_mut() {
                    r.user = Some((user.into(), clip(p[3], REALNAME_MAX).into()));
                }
                return self.try_register(ctx, hub, out);
            }
            "PASS" | "USER" => {
                fail(self, hub, out, Fail::AlreadyRegistered);
                return;
            }
            _ if !self.registered() => {
                fail(self, hub, out, Fail::NotRegistered);
                return;
            }
            _ => {}
        }

        if let Some(name) = COUNTED.iter().find(|&&c| c == cmd) {
            hub.note_command(name);
        }
        let command = match cmd {
            "PRIVMSG" | "NOTICE" | "TAGMSG" => {
                let notice = cmd == "NOTICE";
                let tagmsg = cmd == "TAGMSG";
                let Some(targets) = arg(0).filter(|t| !t.is_empty()) else {
                    if !notice {
                        fail(self, hub, out, Fail::NoRecipient(msg.command()));
                    }
                    return;
                };
                if let Some(service) = crate::proto::services::service_named(targets) {
                    match arg(1).filter(|t| !t.is_empty()) {
                        Some(text) if cmd == "PRIVMSG" => {
                            self.service(ctx, service, text, hub, out)
                        }
                        None if cmd == "PRIVMSG" => fail(self, hub, out, Fail::NoTextToSend),
                        _ => {} // a NOTICE or TAGMSG to a service: nothing to answer
                    }
                    return;
                }
                let tags = match irc_msg::client_only_tags(msg.raw_tags()) {
                    Ok(tags) => tags,
                    Err(()) => {
                        let me = self.me(hub, id);
                        out.raw(id, |b| {
                            let text = "Input line was too long (client tags)";
                            write_numeric(b, srv, ERR_INPUTTOOLONG, me, &[text]);
                        });
                        return;
                    }
                };
                if tagmsg {
                    if tags.is_empty() {
                        return;
                    }
                    let cmd = Command::Tagged {
                        targets,
                        kind: None,
                        text: "",
                        tags: &tags,
                    };
                    return hub.apply(id, cmd, ctx.clock, out);
                }
                let Some(text) = arg(1).filter(|t| !t.is_empty()) else {
                    if !notice {
                        fail(self, hub, out, Fail::NoTextToSend);
                    }
                    return;
                };
                if let Some(ctcp) = text::parse_ctcp(text) {
                    if ctcp.kind() != CtcpKind::Action {
                        // CTCP to native users is answered here; they never see its bytes.
                        let natives: Vec<&str> = targets
                            .split(',')
                            .filter(|t| !t.starts_with(['#', '@', '+']) && hub.is_native(t))
                            .collect();
                        if !natives.is_empty() {
                            for native in &natives {
                                self.ctcp_for_native(ctx, native, &ctcp, notice, hub, out);
                            }
                            let rest: Vec<&str> = targets
                                .split(',')
                                .filter(|t| !natives.contains(t))
                                .collect();
                            if rest.is_empty() {
                                return;
                            }
                            let rest = rest.join(",");
                            let kind = if notice {
                                MsgKind::Notice
                            } else {
                                MsgKind::Normal
                            };
                            let cmd = Command::Tagged {
                                targets: &rest,
                                kind: Some(kind),
                                text,
                                tags: &tags,
                            };
                            return hub.apply(id, cmd, ctx.clock, out);
                        }
                    }
                }
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
                let cmd = Command::Tagged {
                    targets,
                    kind: Some(kind),
                    text,
                    tags: &tags,
                };
                return hub.apply(id, cmd, ctx.clock, out);
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
                Command::List(arg(0).filter(|r| !r.is_empty()))
            }
            "WHO" => Command::WhoMask {
                mask: arg(0).filter(|m| !m.is_empty()).unwrap_or("*"),
                fields: arg(1).filter(|f| f.starts_with('%')),
            },
            "SETNAME" if need(1) => Command::SetName(p[0]),
            "WALLOPS" if need(1) => Command::Wallops(clip(p[0], TOPIC_MAX)),
            "KNOCK" if need(1) => Command::Knock {
                room: p[0],
                text: arg(1).filter(|t| !t.is_empty()).map(|t| clip(t, TOPIC_MAX)),
            },
            "MONITOR" if need(1) => {
                let list = arg(1).unwrap_or("");
                let op = match p[0] {
                    "+" if !list.is_empty() => MonitorOp::Add(list),
                    "-" if !list.is_empty() => MonitorOp::Remove(list),
                    "C" | "c" => MonitorOp::Clear,
                    "L" | "l" => MonitorOp::List,
                    "S" | "s" => MonitorOp::Status,
                    "+" | "-" => {
                        fail(self, hub, out, Fail::NeedMoreParams("MONITOR"));
                        return;
                    }
                    _ => {
                        out.raw(id, |b| {
                            let text = "MONITOR takes +, -, C, L or S";
                            let params = ["MONITOR", "INVALID_PARAMS", text];
                            write_message(b, Some(srv), "FAIL", &params);
                        });
                        return;
                    }
                };
                Command::Monitor(op)
            }
            // The live figures and a reload are the server's to give, to operators only.
            "STATS" | "REHASH" if cmd == "REHASH" || arg(0).is_some_and(|q| q.starts_with('f')) => {
                if hub.is_oper(id) {
                    let ask = match cmd {
                        "REHASH" => super::ServerAsk::Reload,
                        _ => super::ServerAsk::Figures,
                    };
                    out.ask_server(id, ask);
                } else {
                    fail(self, hub, out, Fail::NoPrivileges);
                }
                return;
            }
            "VERSION" | "TIME" | "ADMIN" | "INFO" | "LINKS" | "STATS" | "HELP" | "HELPOP" => {
                let tokens = isupport_tokens(
                    hub.name_rules().casemapping(),
                    hub.filehost_url().as_deref(),
                );
                let about = info::About {
                    srv,
                    description: &cfg.server_info,
                    me: self.me(hub, id),
                    now_ms: ctx.clock.unix_ms,
                    started_ms: hub.started_ms(),
                    isupport: &tokens,
                };
                let counts = hub.command_counts().to_vec();
                out.raw(id, |b| match cmd {
                    "VERSION" => info::version(&about, b),
                    "TIME" => info::time(&about, b),
                    "ADMIN" => info::admin(&about, b),
                    "INFO" => info::info(&about, b),
                    "LINKS" => info::links(&about, b),
                    "STATS" => info::stats(&about, arg(0).unwrap_or(""), &counts, b),
                    _ => info::help(&about, arg(0).filter(|a| !a.is_empty()), b),
                });
                return;
            }
            "MARKREAD" => {
                let Some(target) = arg(0).filter(|t| !t.is_empty()) else {
                    out.raw(id, |b| {
                        let params = ["MARKREAD", "NEED_MORE_PARAMS", "MARKREAD needs a target"];
                        write_message(b, Some(srv), "FAIL", &params);
                    });
                    return;
                };
                let at_ms = match arg(1) {
                    None => None,
                    Some(v) => match v.strip_prefix("timestamp=").and_then(irc::parse_time) {
                        Some(ms) => Some(ms),
                        None => {
                            let target = middle(target);
                            out.raw(id, |b| {
                                let text =
                                    "The timestamp must be timestamp=YYYY-MM-DDThh:mm:ss.sssZ";
                                let params = ["MARKREAD", "INVALID_PARAMS", target, text];
                                write_message(b, Some(srv), "FAIL", &params);
                            });
                            return;
                        }
                    },
                };
                Command::MarkRead { target, at_ms }
            }
            "CHATHISTORY" => {
                let history = self.history.get_or_insert_with(Default::default);
                return super::history::irc_command(history, ctx, self.caps, p, hub, out);
            }
            "BATCH" => {
                out.raw(id, |b| {
                    let text = "This server takes no batches from clients";
                    write_message(b, Some(srv), "FAIL", &["BATCH", "UNSUPPORTED", text]);
                });
                return;
            }
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
            "INVITE" if p.is_empty() => Command::InviteList,
            "INVITE" if need(2) => Command::Invite {
                nick: p[0],
                room: p[1],
            },
            "FILE" => return file_command(ctx, p, hub, out),
            "NS" | "NICKSERV" | "CS" | "CHANSERV" => {
                let service = match cmd {
                    "NS" | "NICKSERV" => crate::event::services::Service::NickServ,
                    _ => crate::event::services::Service::ChanServ,
                };
                return self.service(ctx, service, &p.join(" "), hub, out);
            }
            "USERHOST" if need(1) => Command::Userhost(p),
            "ISON" if need(1) => Command::Ison(p),
            "LUSERS" => Command::Lusers,
            "MOTD" => {
                self.motd(id, cfg, hub, out);
                return;
            }
            "OPER" if need(2) => {
                let named = || {
                    cfg.opers
                        .iter()
                        .filter(|(n, _)| n == p[0])
                        .map(|(_, pw)| pw)
                };
                if named().any(|pw| !pw.is_hash() && pw.verify(p[1])) {
                    Command::Oper
                } else if let Some(crate::config::Secret::Hash(phc)) =
                    named().find(|pw| pw.is_hash())
                {
                    // A hash is slow to check on purpose: off the loop.
                    return self.check_oper(ctx, phc, p[1], out);
                } else {
                    fail(self, hub, out, Fail::PasswordMismatch);
                    return;
                }
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
            | "OPER" | "KILL" | "SETNAME" | "WALLOPS" | "KNOCK" | "MONITOR" => {
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

    /// A CTCP request from this IRC user to a native user, who cannot see CTCP: VERSION,
    /// PING, TIME and CLIENTINFO are answered on its behalf (a NOTICE from it); a DCC is
    /// refused at once, with how files reach that user; the rest is dropped. A CTCP NOTICE
    /// (an answer) is dropped.
    fn ctcp_for_native(
        &self,
        ctx: &Ctx<'_>,
        nick: &str,
        ctcp: &text::Ctcp<'_>,
        notice: bool,
        hub: &Hub,
        out: &mut impl Output,
    ) {
        let (id, srv) = (ctx.id, ctx.cfg.server_name.as_str());
        let me = self.me(hub, id).to_string();
        let Some(them) = hub.source_of(nick) else {
            return;
        };
        if notice {
            return;
        }
        if ctcp.kind() == CtcpKind::Dcc {
            let text = format!(
                "{} uses snak's own client and cannot take DCC; files reach {} through snak: \
                 /quote FILE SEND {} gives you a link to upload one",
                them.nick, them.nick, them.nick
            );
            return out.raw(id, |b| write_message(b, Some(srv), "NOTICE", &[&me, &text]));
        }
        let version = format!(
            "snak {} (native client; answered by the server)",
            env!("CARGO_PKG_VERSION")
        );
        let with = text::CtcpAnswers {
            version: &version,
            now_unix: (ctx.clock.unix_ms / 1000) as i64,
            utc_offset_secs: 0,
        };
        if let Some(answer) = text::ctcp_answer(ctcp, &with) {
            let source = format!("{}!{}@{}", them.nick, them.user, them.host);
            out.raw(id, |b| {
                write_message(b, Some(&source), "NOTICE", &[&me, &answer]);
            });
        }
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
                if let Some(r) = self.reg.as_mut() {
                    r.cap_pause = true;
                }
                let version: u32 = p.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                if version >= 302 {
                    self.set(CAP_302, true);
                    // cap-notify comes with 302, as the specification says.
                    self.caps |= caps::CAP_NOTIFY;
                }
                let mut names: Vec<String> = CAPS
                    .iter()
                    .map(|&(name, _, value)| match cap_value(name, value, ctx.cfg) {
                        Some(v) if self.has(CAP_302) => format!("{name}={v}"),
                        _ => name.to_string(),
                    })
                    .collect();
                if let Some(sts) = sts_value(ctx).filter(|_| self.has(CAP_302)) {
                    names.push(format!("sts={sts}"));
                }
                // Lines that fit in 512 bytes; all but the last marked `*` (302 only).
                let budget = if self.has(CAP_302) {
                    400 - me.len().min(100)
                } else {
                    usize::MAX
                };
                let lines = cap_ls_lines(&names, budget);
                let last = lines.len() - 1;
                for (i, line) in lines.iter().enumerate() {
                    if i < last {
                        reply(out, &["LS", "*", line]);
                    } else {
                        reply(out, &["LS", line]);
                    }
                }
            }
            "LIST" => {
                let on: Vec<&str> = CAPS
                    .iter()
                    .filter(|(_, bit, _)| self.caps & bit != 0)
                    .map(|(name, _, _)| *name)
                    .collect();
                reply(out, &["LIST", &on.join(" ")]);
            }
            "REQ" => {
                if let Some(r) = self.reg.as_mut() {
                    r.cap_pause = true;
                }
                let asked = p.get(1).copied().unwrap_or("").trim();
                let mut caps = self.caps;
                let mut known = !asked.is_empty();
                for (i, c) in asked.split(' ').filter(|c| !c.is_empty()).enumerate() {
                    let (off, name) = match c.strip_prefix('-') {
                        Some(name) => (true, name),
                        None => (false, c),
                    };
                    match CAPS.iter().find(|(n, _, _)| *n == name) {
                        _ if i >= CAP_REQ_MAX => known = false,
                        Some((_, bit, _)) if off => caps &= !bit,
                        Some((_, bit, _)) => caps |= bit,
                        None => known = false,
                    }
                }
                // The request is repeated as sent, cut to fit a line.
                let shown = clip(asked, 400);
                if known {
                    self.caps = caps;
                    reply(out, &["ACK", shown]);
                    out.set_caps(id, caps);
                } else {
                    reply(out, &["NAK", shown]);
                }
            }
            "END" => {
                if let Some(r) = self.reg.as_mut().filter(|r| r.cap_pause) {
                    r.cap_pause = false;
                    self.try_register(ctx, hub, out);
                }
            }
            _ => {
                let sub = middle(p.first().copied().unwrap_or(""));
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
        let pass_pending = self.auth.as_ref().is_some_and(|a| a.pass_pending);
        let Some(reg) = self.reg.as_mut() else {
            return;
        };
        if reg.cap_pause || pass_pending {
            return;
        }
        let (Some(nick), Some((user, realname))) = (reg.nick.clone(), reg.user.clone()) else {
            return;
        };
        if cfg.password.is_some() && !reg.pass_ok {
            out.one(id, &nick, &Event::Fail(Fail::PasswordMismatch));
            out.raw(id, |b| {
                b.extend_from_slice(b"ERROR :Closing link (Bad password)\r\n");
            });
            return out.close(id, CloseReason::Other("bad password"));
        }
        if let Some(refusal) = hub.nick_refusal(id, &nick) {
            out.one(id, "*", &Event::Fail(refusal));
            reg.nick = None;
            return;
        }
        self.abort_sasl(ctx, hub, out);
        let host = ctx.peer.to_string();
        hub.register(id, &nick, &user, &realname, &host, ctx.clock);
        let certfp = self.reg.as_ref().and_then(|r| r.arrival.certfp.as_deref());
        hub.set_connection(id, ctx.secure, certfp);
        if let Some(account) = self.auth.as_mut().and_then(|a| a.account.take()) {
            hub.set_account_at_registration(id, &account);
        }
        out.entered_hub(id);
        if hub.hold_registration(id, out) {
            // On a network the nick is claimed first; the welcome waits for the answer.
            return;
        }
        self.welcome(ctx, hub, out);
    }

    /// The network's answer to the claim of the nick this session registers with: the
    /// welcome, or the nick refused (the client picks another).
    pub fn nick_claimed(&mut self, ctx: &Ctx<'_>, ok: bool, hub: &mut Hub, out: &mut impl Output) {
        let Some(reg) = self.reg.as_mut() else {
            return;
        };
        if ok {
            return self.welcome(ctx, hub, out);
        }
        if let Some(nick) = reg.nick.take() {
            out.one(ctx.id, "*", &Event::Fail(Fail::NickTaken(&nick)));
        }
    }

    /// The welcome burst of a registered connection.
    fn welcome(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        let (id, cfg) = (ctx.id, ctx.cfg);
        let Some(reg) = self.reg.take_if(|r| r.nick.is_some() && r.user.is_some()) else {
            return;
        };
        // The hub holds the names from now on; an idle connection keeps no second copy.
        let (Some(nick), Some((user, _))) = (reg.nick, reg.user) else {
            return;
        };
        let srv = cfg.server_name.as_str();
        let host = ctx.peer.to_string();
        if let Some(a) = self.auth.as_mut() {
            a.tried_nick = None;
        }
        self.tidy_auth();
        let version = env!("CARGO_PKG_VERSION");
        let tokens = isupport_tokens(
            hub.name_rules().casemapping(),
            hub.filehost_url().as_deref(),
        );
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
            n(
                b,
                RPL_MYINFO,
                &[srv, &v, "Biow", "CIbeiklmnostv", "beIklov"],
            );
            write_isupport(b, srv, &nick, &tokens);
        });
        hub.announce(id, out);
        hub.apply(id, Command::Lusers, ctx.clock, out);
        self.motd(id, cfg, hub, out);
        hub.protect_nick(id, out);
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
        self.set(TIMER_ARMED, false);
        if let Some(reg) = self.reg.as_ref() {
            let deadline = reg.register_by;
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
        let since = instant_of(self.since);
        match self.has(PING_OUT).then_some(since) {
            Some(sent) if now >= sent + interval => {
                let secs = interval.as_secs();
                out.raw(id, |b| {
                    let text = format!("ERROR :Closing link (Ping timeout: {secs} seconds)\r\n");
                    b.extend_from_slice(text.as_bytes());
                });
                out.close(id, CloseReason::Other("ping timeout"));
            }
            Some(sent) => self.want(id, sent + interval, out),
            None if now >= since + interval => {
                let srv = cfg.server_name.as_str();
                out.raw(id, |b| write_message(b, None, "PING", &[srv]));
                self.since = nanos_of(now);
                self.set(PING_OUT, true);
                self.want(id, now + interval, out);
            }
            None => self.want(id, since + interval, out),
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

    /// Every registered IRC connection holds a boxed session: 40 bytes are a 48-byte chunk.
    #[test]
    fn a_session_fits_a_48_byte_chunk() {
        let size = std::mem::size_of::<IrcSession>();
        assert!(size <= 40, "IrcSession grew to {size} B");
    }

    #[test]
    fn filehost_tokens_only_with_a_url_and_escaped() {
        let none = isupport_tokens("ascii", None);
        assert!(!none.iter().any(|t| t.contains("FILEHOST")));
        let some = isupport_tokens("ascii", Some("https://h.example/upload?a=b c\\d"));
        let want = "https://h.example/upload?a\\x3Db\\x20c\\x5Cd";
        assert!(
            some.contains(&format!("soju.im/FILEHOST={want}")),
            "{some:?}"
        );
        assert!(some.contains(&format!("draft/FILEHOST={want}")), "{some:?}");
    }

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
        assert_eq!(
            got,
            ":snak.localhost CAP * LS :account-notify draft/account-registration=before-connect \
             account-tag away-notify batch draft/read-marker cap-notify draft/chathistory \
             chghost echo-message extended-join extended-monitor invite-notify \
             labeled-response message-tags multi-prefix sasl=PLAIN,SCRAM-SHA-256 server-time \
             setname snak.chat/files standard-replies userhost-in-names\r\n"
        );
        t.line(&mut c, "CAP REQ :multi-prefix bogus");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost CAP bob NAK :multi-prefix bogus\r\n"
        );
        t.line(&mut c, "CAP REQ multi-prefix");
        assert_eq!(t.take(c.id), ":snak.localhost CAP bob ACK multi-prefix\r\n");
        assert_eq!(t.wires[&c.id].caps, caps::MULTI_PREFIX | caps::CAP_NOTIFY);
        t.line(&mut c, "CAP LIST");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost CAP bob LIST :cap-notify multi-prefix\r\n"
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

    fn with_caps(t: &mut Recorder, nick: &str, caps: &str) -> Conn {
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, &format!("CAP REQ :{caps}"));
        t.line(&mut c, &format!("NICK {nick}"));
        t.line(&mut c, "USER u 0 * :Real Name");
        t.line(&mut c, "CAP END");
        let got = t.take(c.id);
        assert!(got.contains(" ACK "), "{got}");
        c
    }

    #[test]
    fn cap_req_bad_input_changes_nothing() {
        let mut t = Recorder::new();
        let mut c = registered(&mut t, "ann");
        // More than 64 names (all known ones): refused whole.
        let many = vec!["batch"; 80].join(" ");
        t.line(&mut c, &format!("CAP REQ :{many}"));
        let got = t.take(c.id);
        assert!(
            got.starts_with(":snak.localhost CAP ann NAK :batch batch"),
            "{got}"
        );
        assert!(got.len() <= 512, "{} bytes", got.len());
        t.line(&mut c, "CAP REQ :");
        assert_eq!(t.take(c.id), ":snak.localhost CAP ann NAK :\r\n");
        assert_eq!(t.wires[&c.id].caps, 0);
        // Pipelined requests are answered in order.
        t.line(&mut c, "CAP REQ server-time");
        t.line(&mut c, "CAP REQ nope");
        t.line(&mut c, "CAP REQ :-server-time message-tags");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost CAP ann ACK server-time\r\n\
             :snak.localhost CAP ann NAK nope\r\n\
             :snak.localhost CAP ann ACK :-server-time message-tags\r\n"
        );
        assert_eq!(t.wires[&c.id].caps, caps::MESSAGE_TAGS);
        t.line(&mut c, "BATCH +x draft/multiline #r");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost FAIL BATCH UNSUPPORTED :This server takes no batches from clients\r\n"
        );
    }

    #[test]
    fn tags_are_relayed_with_msgid_and_time_to_those_who_asked() {
        let mut t = Recorder::new();
        let mut a = with_caps(&mut t, "ann", "message-tags echo-message");
        let mut b = with_caps(&mut t, "bob", "message-tags server-time");
        let mut c = registered(&mut t, "cat");
        for conn in [&mut a, &mut b, &mut c] {
            t.line(conn, "JOIN #r");
        }
        for id in [a.id, b.id, c.id] {
            t.take(id);
        }
        t.line(
            &mut a,
            "@+typing=active;label=x;+draft/react=hi\\sthere TAGMSG #r",
        );
        let echo = t.take(a.id);
        let msg = irc_msg::parse(echo.trim_end().as_bytes()).unwrap();
        assert_eq!(msg.command(), "TAGMSG");
        assert_eq!(msg.tag("+typing").as_deref(), Some("active"));
        assert_eq!(msg.tag("+draft/react").as_deref(), Some("hi there"));
        assert_eq!(msg.tag("label"), None, "not a client-only tag: dropped");
        let id = msg.tag("msgid").unwrap().into_owned();
        let relayed = t.take(b.id);
        let m = irc_msg::parse(relayed.trim_end().as_bytes()).unwrap();
        assert_eq!(m.tag("msgid").as_deref(), Some(id.as_str()));
        assert!(m.tag("time").unwrap().ends_with('Z'));
        assert_eq!(m.params(), ["#r"]);
        assert_eq!(t.take(c.id), "", "no TAGMSG without message-tags");
        t.line(&mut a, "PRIVMSG #r :plain");
        assert_eq!(t.take(c.id), ":ann!u@127.0.0.1 PRIVMSG #r :plain\r\n");
        assert!(t.take(b.id).starts_with("@time="));
        assert!(t.take(a.id).contains(" PRIVMSG #r :plain"), "echo");
        // Tags over the 4096-byte limit: 417, nothing relayed.
        let big = format!("@+big={} PRIVMSG #r :x", "v".repeat(4090));
        t.line(&mut a, &big);
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 417 ann :Input line was too long (client tags)\r\n"
        );
        assert_eq!(t.take(b.id), "");
    }

    #[test]
    fn echoes_go_once_per_recipient_and_to_oneself_once() {
        let mut t = Recorder::new();
        let mut a = with_caps(&mut t, "ann", "echo-message");
        let _b = registered(&mut t, "bob");
        let _c = registered(&mut t, "cat");
        t.line(&mut a, "PRIVMSG bob,cat :hi");
        assert_eq!(
            t.take(a.id),
            ":ann!u@127.0.0.1 PRIVMSG bob :hi\r\n:ann!u@127.0.0.1 PRIVMSG cat :hi\r\n"
        );
        t.line(&mut a, "PRIVMSG nobody :hi");
        assert!(
            t.take(a.id).contains(" 401 "),
            "no echo of what was not sent"
        );
    }

    #[test]
    fn labeled_commands_get_ack_one_tagged_line_or_a_batch() {
        let mut t = Recorder::new();
        let mut a = with_caps(&mut t, "ann", "labeled-response batch echo-message");
        t.line(&mut a, "@label=p1 PONG x");
        assert_eq!(t.take(a.id), "@label=p1 :snak.localhost ACK\r\n");
        t.line(&mut a, "@label=p2 PING tok");
        assert_eq!(
            t.take(a.id),
            "@label=p2 :snak.localhost PONG snak.localhost tok\r\n"
        );
        t.line(&mut a, "@label=j JOIN #r");
        let got = t.take(a.id);
        let lines: Vec<&str> = got.split_inclusive("\r\n").collect();
        assert_eq!(
            lines[0],
            "@label=j :snak.localhost BATCH +L3 labeled-response\r\n"
        );
        assert_eq!(lines[1], "@batch=L3 :ann!u@127.0.0.1 JOIN #r\r\n");
        assert!(lines[2].starts_with("@batch=L3 :snak.localhost 353 "));
        assert_eq!(lines.last(), Some(&":snak.localhost BATCH -L3\r\n"));
        // To oneself: the message as received is no part of the answer, the echo is.
        t.line(&mut a, "@label=me PRIVMSG ann :hi");
        assert_eq!(
            t.take(a.id),
            ":ann!u@127.0.0.1 PRIVMSG ann :hi\r\n@label=me :ann!u@127.0.0.1 PRIVMSG ann :hi\r\n"
        );
        let long = "l".repeat(65);
        t.line(&mut a, &format!("@label={long} PING x"));
        assert_eq!(
            t.take(a.id),
            ":snak.localhost FAIL * INVALID_LABEL :Labels are 1 to 64 bytes\r\n"
        );
    }

    #[test]
    fn monitor_tells_arrivals_departures_and_limits() {
        let mut t = Recorder::new();
        let mut a = registered(&mut t, "ann");
        t.line(&mut a, "MONITOR + bob,Cat,*!x@y");
        let got = t.take(a.id);
        assert!(got.contains(" 432 ann *!x@y "), "{got}");
        assert!(
            got.ends_with(":snak.localhost 731 ann bob,Cat\r\n"),
            "{got}"
        );
        let mut b = registered(&mut t, "bob");
        assert_eq!(t.take(a.id), ":snak.localhost 730 ann bob!u@127.0.0.1\r\n");
        t.line(&mut b, "NICK BOB");
        assert_eq!(t.take(a.id), "", "a change of case is no departure");
        t.line(&mut b, "NICK cat");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 731 ann BOB\r\n:snak.localhost 730 ann cat!u@127.0.0.1\r\n"
        );
        t.line(&mut a, "MONITOR L");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 732 ann bob,Cat\r\n:snak.localhost 733 ann :End of MONITOR list\r\n"
        );
        let many: Vec<String> = (0..120).map(|i| format!("n{i}")).collect();
        t.line(&mut a, &format!("MONITOR + {}", many.join(",")));
        let got = t.take(a.id);
        assert!(got.contains(" 734 ann 100 n98,n99,"), "{got}");
        t.line(&mut a, "MONITOR X");
        assert!(t.take(a.id).contains("FAIL MONITOR INVALID_PARAMS"));
        t.line(&mut a, "MONITOR C");
        t.line(&mut a, "MONITOR L");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 733 ann :End of MONITOR list\r\n"
        );
    }

    #[test]
    fn whox_fields_come_in_the_fixed_order() {
        let mut t = Recorder::new();
        let mut a = registered(&mut t, "ann");
        let _b = registered(&mut t, "bob");
        t.line(&mut a, "WHO bob %rnat,42");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 354 ann 42 bob 0 :Real Name\r\n\
             :snak.localhost 315 ann bob :End of /WHO list\r\n"
        );
        t.line(&mut a, "WHO bob %tzq,abc");
        assert_eq!(
            t.take(a.id),
            ":snak.localhost 354 ann 0\r\n:snak.localhost 315 ann bob :End of /WHO list\r\n"
        );
        t.line(&mut a, "WHO b* %cuihsnfdlaor");
        let got = t.take(a.id);
        assert!(
            got.starts_with(
                ":snak.localhost 354 ann * u 127.0.0.1 127.0.0.1 snak.localhost bob H 0 0 0 n/a :Real Name\r\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn ctcp_to_a_native_user_is_answered_for_it_and_dcc_refused() {
        let mut t = Recorder::new();
        let mut a = registered(&mut t, "ann");
        let n = t.connect(Proto::Native);
        let nat = t.hub.nick(n.id).unwrap().to_string();
        t.take(n.id);
        t.line(&mut a, &format!("PRIVMSG {nat} :\x01VERSION\x01"));
        let got = t.take(a.id);
        assert!(
            got.starts_with(&format!(
                ":{nat}!native@127.0.0.1 NOTICE ann :\x01VERSION snak "
            )),
            "{got}"
        );
        t.line(&mut a, &format!("PRIVMSG {nat} :\x01PING 123\x01"));
        assert!(t.take(a.id).contains(":\x01PING 123\x01\r\n"));
        t.line(
            &mut a,
            &format!("PRIVMSG {nat} :\x01DCC SEND f.txt 2130706433 5000 16\x01"),
        );
        let got = t.take(a.id);
        assert!(got.starts_with(":snak.localhost NOTICE ann :"), "{got}");
        assert!(got.contains("cannot take DCC"), "{got}");
        assert_eq!(t.take(n.id), "", "the native user never sees CTCP");
    }

    #[test]
    fn recipients_differing_in_irrelevant_caps_share_an_encoding() {
        use crate::event::{Meta, MsgId, MsgKind, Source};
        use crate::front::Wire;
        let ev = Event::RoomMessage {
            meta: Meta {
                id: MsgId(7),
                time_ms: 0,
            },
            from: Source::plain("a", "u", "h"),
            room: "#r",
            kind: MsgKind::Normal,
            text: "hi",
            tags: "",
        };
        // 1000 members with 6 distinct capability sets, 3 of which matter for a message.
        let sets = [
            0,
            caps::MULTI_PREFIX | caps::ECHO_MESSAGE,
            caps::SERVER_TIME | caps::MESSAGE_TAGS,
            caps::SERVER_TIME | caps::MESSAGE_TAGS | caps::AWAY_NOTIFY | caps::BATCH,
            caps::SERVER_TIME,
            caps::SERVER_TIME | caps::LABELED_RESPONSE | caps::USERHOST_IN_NAMES,
        ];
        let mut variants: Vec<Wire> = (0..1000)
            .map(|i| Wire {
                caps: sets[i % sets.len()],
                ..Wire::IRC
            })
            .map(|w| w.for_event(&ev))
            .collect();
        variants.sort_by_key(|w| w.caps);
        variants.dedup();
        assert_eq!(variants.len(), 3, "{variants:?}");
    }

    #[test]
    fn accounts_show_in_notify_tags_join_and_whois() {
        let mut t = Recorder::new();
        let mut a = with_caps(&mut t, "ann", "account-notify account-tag extended-join");
        let mut b = registered(&mut t, "bob");
        t.line(&mut a, "JOIN #r");
        t.line(&mut b, "JOIN #r");
        assert_eq!(
            t.take(a.id),
            ":ann!u@127.0.0.1 JOIN #r * :Real Name\r\n\
            :snak.localhost 353 ann = #r @ann\r\n:snak.localhost 366 ann #r :End of /NAMES list\r\n\
            :bob!u@127.0.0.1 JOIN #r * :Real Name\r\n"
        );
        t.take(b.id);
        let clock = t.clock;
        t.hub.set_account(b.id, Some("bobby"), clock, &mut t.out);
        assert_eq!(
            t.take(a.id),
            "@account=bobby :bob!u@127.0.0.1 ACCOUNT bobby\r\n"
        );
        assert_eq!(t.take(b.id), "", "no ACCOUNT without account-notify");
        t.line(&mut b, "PRIVMSG #r :hi");
        assert_eq!(
            t.take(a.id),
            "@account=bobby :bob!u@127.0.0.1 PRIVMSG #r :hi\r\n"
        );
        t.line(&mut a, "WHOIS bob");
        assert!(t
            .take(a.id)
            .contains(":snak.localhost 330 ann bob bobby :is logged in as\r\n"));
        t.hub.set_account(b.id, None, clock, &mut t.out);
        assert_eq!(t.take(a.id), ":bob!u@127.0.0.1 ACCOUNT *\r\n");
    }

    #[test]
    fn away_and_setname_reach_those_who_asked() {
        let mut t = Recorder::new();
        let mut a = with_caps(&mut t, "ann", "away-notify setname");
        let mut b = registered(&mut t, "bob");
        t.line(&mut a, "JOIN #r");
        t.line(&mut b, "JOIN #r");
        t.take(a.id);
        t.take(b.id);
        t.line(&mut b, "AWAY :lunch");
        assert_eq!(t.take(a.id), ":bob!u@127.0.0.1 AWAY :lunch\r\n");
        t.line(&mut b, "AWAY :lunch");
        assert_eq!(t.take(a.id), "", "no change, no notice");
        t.line(&mut b, "AWAY");
        assert_eq!(t.take(a.id), ":bob!u@127.0.0.1 AWAY\r\n");
        t.line(&mut b, "SETNAME :Robert B");
        assert_eq!(t.take(a.id), ":bob!u@127.0.0.1 SETNAME :Robert B\r\n");
        t.take(b.id);
        t.line(&mut b, "SETNAME :");
        assert_eq!(
            t.take(b.id),
            ":snak.localhost 461 bob SETNAME :Not enough parameters\r\n"
        );
        let long = "x".repeat(400);
        t.line(&mut b, &format!("SETNAME :{long}"));
        assert_eq!(
            t.take(b.id),
            ":snak.localhost FAIL SETNAME INVALID_REALNAME :Real name is empty or too long\r\n"
        );
        assert_eq!(t.take(a.id), "");
    }

    #[test]
    fn cap_ls_is_cut_into_lines_that_fit() {
        let names: Vec<String> = ["aaa", "bbbb", "cc", "d"].map(String::from).to_vec();
        assert_eq!(cap_ls_lines(&names, 8), ["aaa bbbb", "cc d"]);
        assert_eq!(cap_ls_lines(&names, 3), ["aaa", "bbbb", "cc", "d"]);
        assert_eq!(cap_ls_lines(&names, usize::MAX), ["aaa bbbb cc d"]);
        assert_eq!(cap_ls_lines(&[], 10), [""]);
    }

    #[test]
    fn a_no_ctcp_room_takes_actions_only() {
        let mut t = Recorder::new();
        let mut a = registered(&mut t, "ann");
        let mut b = registered(&mut t, "bob");
        t.line(&mut a, "JOIN #c");
        t.line(&mut b, "JOIN #c");
        t.line(&mut a, "MODE #c +C");
        t.take(a.id);
        t.take(b.id);
        t.line(&mut b, "PRIVMSG #c :\x01PING 1\x01");
        assert_eq!(
            t.take(b.id),
            ":snak.localhost 404 bob #c :Cannot send to channel\r\n"
        );
        t.line(&mut b, "PRIVMSG #c :\x01ACTION waves\x01");
        assert_eq!(
            t.take(a.id),
            ":bob!u@127.0.0.1 PRIVMSG #c :\x01ACTION waves\x01\r\n"
        );
    }
}
