//! What nodes say to each other, as bytes: a pure codec (no I/O, no clock).
//!
//! Every message is one NATS payload: a version byte, a kind byte, then fields. Numbers are
//! LEB128 varints, strings a varint length and UTF-8 bytes, an optional value a 0/1 byte and
//! the value. Binary rather than text: chat texts may hold any byte the front ends let through
//! (IRC formatting, CTCP's `\x01`), and a room message on the hot path costs one pass of
//! copies with no escaping. Decoding borrows from the payload and never panics: anything
//! malformed is a [`WireError`] and the message is dropped (and counted).

use crate::event::{ListMode, Meta, ModeChange, MsgId, MsgKind, Role, RoomFlag};
use crate::hub::{
    DirectEffect, MaskState, Record, RoomEffect, RoomRegistration, RoomState, RoomSummary,
    SavedBan, SavedTopic, TopicState, Uid, UserInfo,
};

/// Bumped when a message changes shape; a node drops what it cannot read.
pub const VERSION: u8 = 1;

/// Most mode changes one message carries (a MODE line holds far fewer).
const MAX_CHANGES: usize = 64;
/// Most members one state message carries; larger rooms come in several.
pub const STATE_CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Short,
    Version(u8),
    Kind(u8),
    Utf8,
    TooMany,
    Bad(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Short => f.write_str("message cut short"),
            WireError::Version(v) => write!(f, "version {v} (this node speaks {VERSION})"),
            WireError::Kind(k) => write!(f, "unknown kind {k}"),
            WireError::Utf8 => f.write_str("a text is not UTF-8"),
            WireError::TooMany => f.write_str("a list is too long"),
            WireError::Bad(what) => write!(f, "bad {what}"),
        }
    }
}

/// A message from another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg<'a> {
    /// On a room's subject: something happened in it.
    Room {
        name: &'a str,
        actor: Uid,
        effect: RoomEffect<'a>,
        /// For `Modes`: the changes (the effect's slice is empty; the receiver lends it).
        changes: Vec<ModeChange<'a>>,
    },
    /// On `all`: a user is on line, or its record changed (a rename included).
    User { who: Record<'a> },
    /// On `all`: a user left.
    Quit { uid: Uid, reason: Option<&'a str> },
    /// On `all`: a node stops (its users are gone at once, not after its key's TTL).
    Bye { node: u64 },
    /// On `all`: WALLOPS.
    Wallops { from: Uid, text: &'a str },
    /// To a node: from one user to one of its users.
    Direct {
        from: Uid,
        to: Uid,
        effect: DirectEffect<'a>,
    },
    /// To a node: what do you know of this room (members from `offset` on)?
    StateAsk { folded: &'a str, offset: u32 },
    /// The answer (`more`: ask again from `offset + members`), or a node's own members
    /// announced on the room's subject after a split.
    State { state: RoomState, more: bool },
    /// On `all`, with a shared store: an account was created (`name`) or dropped (None) on
    /// the sending node; the store has it already.
    Account { key: &'a str, name: Option<&'a str> },
    /// On `all`, with a shared store: a registered room as it now is (None: unregistered).
    Registration {
        key: &'a str,
        room: Option<RoomRegistration>,
    },
}

/// Most entries of a registration's list (ops, voices, bans) one message carries.
const MAX_LIST: usize = 10_000;

// ---- writing ----

pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut Vec<u8>, kind: u8) -> Writer<'o> {
        out.push(VERSION);
        out.push(kind);
        Writer { out }
    }

    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    fn num(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn str(&mut self, s: &str) {
        self.num(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    fn uid(&mut self, u: Uid) {
        self.num(u.node);
        self.num(u.n);
    }

    fn record(&mut self, r: &Record<'_>) {
        self.uid(r.uid);
        self.str(r.nick);
        self.str(r.user);
        self.str(r.host);
        self.str(r.realname);
        self.opt(r.account);
        self.opt(r.away);
        self.u8(r.modes);
        self.u8(u8::from(r.native) | u8::from(r.secure) << 1);
    }

    fn meta(&mut self, m: Meta) {
        self.num(m.id.0);
        self.num(m.time_ms);
    }

    fn kind(&mut self, k: Option<MsgKind>) {
        self.u8(match k {
            None => 0,
            Some(MsgKind::Normal) => 1,
            Some(MsgKind::Notice) => 2,
            Some(MsgKind::Action) => 3,
        });
    }

    fn change(&mut self, c: &ModeChange<'_>) {
        match *c {
            ModeChange::Flag(on, flag) => {
                self.u8(1);
                self.u8(u8::from(on));
                self.u8(flag.bit());
            }
            ModeChange::Key(k) => {
                self.u8(2);
                self.opt(k);
            }
            ModeChange::Limit(l) => {
                self.u8(3);
                match l {
                    None => self.u8(0),
                    Some(l) => {
                        self.u8(1);
                        self.num(l as u64);
                    }
                }
            }
            ModeChange::Member(on, role, nick) => {
                self.u8(4);
                self.u8(u8::from(on));
                self.u8(u8::from(role == Role::Voice));
                self.str(nick);
            }
            ModeChange::List(on, list, mask) => {
                self.u8(5);
                self.u8(u8::from(on));
                self.u8(list_code(list));
                self.str(mask);
            }
        }
    }
}

fn list_code(list: ListMode) -> u8 {
    match list {
        ListMode::Ban => 0,
        ListMode::Except => 1,
        ListMode::InviteExcept => 2,
    }
}

mod kind {
    pub const ROOM: u8 = 1;
    pub const USER: u8 = 2;
    pub const QUIT: u8 = 3;
    pub const BYE: u8 = 4;
    pub const WALLOPS: u8 = 5;
    pub const DIRECT: u8 = 6;
    pub const STATE_ASK: u8 = 7;
    pub const STATE: u8 = 8;
    pub const ACCOUNT: u8 = 9;
    pub const REGISTRATION: u8 = 10;
}

mod effect {
    pub const JOIN: u8 = 1;
    pub const PART: u8 = 2;
    pub const KICK: u8 = 3;
    pub const TOPIC: u8 = 4;
    pub const MODES: u8 = 5;
    pub const SAY: u8 = 6;
    pub const KNOCK: u8 = 7;
    pub const MESSAGE: u8 = 1;
    pub const INVITE: u8 = 2;
    pub const KILL: u8 = 3;
}

pub fn room(out: &mut Vec<u8>, name: &str, actor: Uid, e: &RoomEffect<'_>) {
    let mut w = Writer::new(out, kind::ROOM);
    w.str(name);
    w.uid(actor);
    match *e {
        RoomEffect::Join { who, roles } => {
            w.u8(effect::JOIN);
            w.record(&who);
            w.u8(roles);
        }
        RoomEffect::Part { reason } => {
            w.u8(effect::PART);
            w.opt(reason);
        }
        RoomEffect::Kick { victim, reason } => {
            w.u8(effect::KICK);
            w.uid(victim);
            w.str(reason);
        }
        RoomEffect::Topic { text, at_ms } => {
            w.u8(effect::TOPIC);
            w.str(text);
            w.num(at_ms);
        }
        RoomEffect::Modes { changes, at } => {
            w.u8(effect::MODES);
            w.num(at);
            let changes = &changes[..changes.len().min(MAX_CHANGES)];
            w.num(changes.len() as u64);
            for c in changes {
                w.change(c);
            }
        }
        RoomEffect::Say {
            meta,
            kind,
            status,
            text,
            tags,
        } => {
            w.u8(effect::SAY);
            w.meta(meta);
            w.kind(kind);
            w.u8(status);
            w.str(text);
            w.str(tags);
        }
        RoomEffect::Knock { text } => {
            w.u8(effect::KNOCK);
            w.str(text);
        }
    }
}

pub fn user(out: &mut Vec<u8>, who: &Record<'_>) {
    Writer::new(out, kind::USER).record(who);
}

/// A nick key's value in the nicks bucket: the holder's record.
pub fn user_value(out: &mut Vec<u8>, who: &Record<'_>) {
    user(out, who);
}

pub fn quit(out: &mut Vec<u8>, uid: Uid, reason: Option<&str>) {
    let mut w = Writer::new(out, kind::QUIT);
    w.uid(uid);
    w.opt(reason);
}

pub fn account(out: &mut Vec<u8>, key: &str, name: Option<&str>) {
    let mut w = Writer::new(out, kind::ACCOUNT);
    w.str(key);
    w.opt(name);
}

pub fn registration(out: &mut Vec<u8>, key: &str, room: Option<&RoomRegistration>) {
    let mut w = Writer::new(out, kind::REGISTRATION);
    w.str(key);
    let Some(r) = room else {
        w.u8(0);
        return;
    };
    w.u8(1);
    w.str(&r.name);
    w.str(&r.founder);
    w.num(r.registered_ms);
    match &r.topic {
        None => w.u8(0),
        Some(t) => {
            w.u8(1);
            w.str(&t.text);
            w.str(&t.by);
            w.num(t.at);
        }
    }
    w.u8(r.flags);
    w.opt(r.key.as_deref());
    match r.limit {
        None => w.u8(0),
        Some(l) => {
            w.u8(1);
            w.num(l as u64);
        }
    }
    for list in [&r.ops, &r.voices] {
        let n = list.len().min(MAX_LIST);
        w.num(n as u64);
        for a in &list[..n] {
            w.str(a);
        }
    }
    let n = r.bans.len().min(MAX_LIST);
    w.num(n as u64);
    for b in &r.bans[..n] {
        w.str(&b.mask);
        w.str(&b.by);
        w.num(b.at);
    }
}

fn decode_registration(r: &mut Reader<'_>) -> Result<Option<RoomRegistration>, WireError> {
    if r.u8()? == 0 {
        return Ok(None);
    }
    let name = r.str()?.into();
    let founder = r.str()?.into();
    let registered_ms = r.num()?;
    let topic = match r.u8()? {
        0 => None,
        _ => Some(SavedTopic {
            text: r.str()?.into(),
            by: r.str()?.into(),
            at: r.num()?,
        }),
    };
    let flags = r.u8()?;
    let key = r.opt()?.map(Into::into);
    let limit = match r.u8()? {
        0 => None,
        _ => Some(usize::try_from(r.num()?).map_err(|_| WireError::Bad("limit"))?),
    };
    let mut lists: [Vec<Box<str>>; 2] = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = r.count(MAX_LIST)?;
        for _ in 0..n {
            list.push(r.str()?.into());
        }
    }
    let n = r.count(MAX_LIST)?;
    let mut bans = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        bans.push(SavedBan {
            mask: r.str()?.into(),
            by: r.str()?.into(),
            at: r.num()?,
        });
    }
    let [ops, voices] = lists;
    Ok(Some(RoomRegistration {
        name,
        founder,
        registered_ms,
        topic,
        flags,
        key,
        limit,
        ops,
        voices,
        bans,
    }))
}

pub fn bye(out: &mut Vec<u8>, node: u64) {
    Writer::new(out, kind::BYE).num(node);
}

pub fn wallops(out: &mut Vec<u8>, from: Uid, text: &str) {
    let mut w = Writer::new(out, kind::WALLOPS);
    w.uid(from);
    w.str(text);
}

pub fn direct(out: &mut Vec<u8>, from: Uid, to: Uid, e: &DirectEffect<'_>) {
    let mut w = Writer::new(out, kind::DIRECT);
    w.uid(from);
    w.uid(to);
    match *e {
        DirectEffect::Message {
            meta,
            kind,
            to,
            text,
            tags,
        } => {
            w.u8(effect::MESSAGE);
            w.meta(meta);
            w.kind(kind);
            w.str(to);
            w.str(text);
            w.str(tags);
        }
        DirectEffect::Invite { room } => {
            w.u8(effect::INVITE);
            w.str(room);
        }
        DirectEffect::Kill { reason } => {
            w.u8(effect::KILL);
            w.str(reason);
        }
    }
}

pub fn state_ask(out: &mut Vec<u8>, folded: &str, offset: u32) {
    let mut w = Writer::new(out, kind::STATE_ASK);
    w.str(folded);
    w.num(u64::from(offset));
}

/// A room's state with members `offset..offset + STATE_CHUNK`.
pub fn state(out: &mut Vec<u8>, s: &RoomState, offset: usize) {
    let mut w = Writer::new(out, kind::STATE);
    w.num(s.node);
    w.str(&s.name);
    w.num(s.created);
    w.u8(s.flags);
    w.opt(s.key.as_deref());
    w.num(s.limit.map_or(0, |l| l as u64 + 1));
    match &s.topic {
        None => w.u8(0),
        Some(t) => {
            w.u8(1);
            w.str(&t.text);
            w.str(&t.by);
            w.num(t.at);
            w.num(t.stamp.0);
            w.num(t.stamp.1);
        }
    }
    w.num(s.masks.len() as u64);
    for m in &s.masks {
        w.u8(list_code(m.list));
        w.str(&m.mask);
        w.str(&m.by);
        w.num(m.at);
    }
    let members = s.members.get(offset..).unwrap_or(&[]);
    let chunk = &members[..members.len().min(STATE_CHUNK)];
    w.u8(u8::from(members.len() > chunk.len()));
    w.num(chunk.len() as u64);
    for (info, roles) in chunk {
        w.record(&info.record());
        w.u8(*roles);
    }
}

/// A room's entry in the rooms bucket (for LIST on nodes without members).
pub fn summary(out: &mut Vec<u8>, s: &RoomSummary) {
    let mut w = Writer::new(out, 0);
    w.str(&s.name);
    w.num(s.count as u64);
    w.opt(s.topic.as_deref());
    w.u8(u8::from(s.secret));
}

/// A skeleton key's value: who holds it.
pub fn holder(out: &mut Vec<u8>, uid: Uid) {
    Writer::new(out, 0).uid(uid);
}

// ---- reading ----

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn start(b: &'a [u8]) -> Result<(Reader<'a>, u8), WireError> {
        match b {
            [VERSION, kind, ..] => Ok((Reader { b, at: 2 }, *kind)),
            [v, _, ..] => Err(WireError::Version(*v)),
            _ => Err(WireError::Short),
        }
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        let v = *self.b.get(self.at).ok_or(WireError::Short)?;
        self.at += 1;
        Ok(v)
    }

    fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Bad("flag")),
        }
    }

    fn num(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(WireError::Bad("number"))
    }

    fn len(&mut self) -> Result<usize, WireError> {
        let n = self.num()?;
        let left = self.b.len() - self.at;
        if n > left as u64 {
            return Err(WireError::Short);
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<&'a str, WireError> {
        let n = self.len()?;
        let bytes = &self.b[self.at..self.at + n];
        self.at += n;
        std::str::from_utf8(bytes).map_err(|_| WireError::Utf8)
    }

    fn opt(&mut self) -> Result<Option<&'a str>, WireError> {
        Ok(if self.bool()? {
            Some(self.str()?)
        } else {
            None
        })
    }

    fn uid(&mut self) -> Result<Uid, WireError> {
        Ok(Uid {
            node: self.num()?,
            n: self.num()?,
        })
    }

    fn record(&mut self) -> Result<Record<'a>, WireError> {
        let uid = self.uid()?;
        let (nick, user, host, realname) = (self.str()?, self.str()?, self.str()?, self.str()?);
        let (account, away) = (self.opt()?, self.opt()?);
        let modes = self.u8()?;
        let flags = self.u8()?;
        if nick.is_empty() {
            return Err(WireError::Bad("nick"));
        }
        Ok(Record {
            uid,
            nick,
            user,
            host,
            realname,
            account,
            away,
            modes,
            native: flags & 1 != 0,
            secure: flags & 2 != 0,
        })
    }

    fn meta(&mut self) -> Result<Meta, WireError> {
        Ok(Meta {
            id: MsgId(self.num()?),
            time_ms: self.num()?,
        })
    }

    fn kind(&mut self) -> Result<Option<MsgKind>, WireError> {
        Ok(match self.u8()? {
            0 => None,
            1 => Some(MsgKind::Normal),
            2 => Some(MsgKind::Notice),
            3 => Some(MsgKind::Action),
            _ => return Err(WireError::Bad("message kind")),
        })
    }

    fn list(&mut self) -> Result<ListMode, WireError> {
        Ok(match self.u8()? {
            0 => ListMode::Ban,
            1 => ListMode::Except,
            2 => ListMode::InviteExcept,
            _ => return Err(WireError::Bad("list")),
        })
    }

    fn change(&mut self) -> Result<ModeChange<'a>, WireError> {
        Ok(match self.u8()? {
            1 => {
                let on = self.bool()?;
                let bit = self.u8()?;
                let flag = RoomFlag::ALL
                    .into_iter()
                    .find(|f| f.bit() == bit)
                    .ok_or(WireError::Bad("room flag"))?;
                ModeChange::Flag(on, flag)
            }
            2 => ModeChange::Key(self.opt()?),
            3 => ModeChange::Limit(if self.bool()? {
                Some(usize::try_from(self.num()?).map_err(|_| WireError::Bad("limit"))?)
            } else {
                None
            }),
            4 => {
                let on = self.bool()?;
                let role = if self.bool()? { Role::Voice } else { Role::Op };
                ModeChange::Member(on, role, self.str()?)
            }
            5 => {
                let on = self.bool()?;
                let list = self.list()?;
                ModeChange::List(on, list, self.str()?)
            }
            _ => return Err(WireError::Bad("mode change")),
        })
    }

    fn count(&mut self, max: usize) -> Result<usize, WireError> {
        let n = self.num()?;
        if n > max as u64 {
            return Err(WireError::TooMany);
        }
        Ok(n as usize)
    }
}

/// Reads a message another node published.
pub fn decode(b: &[u8]) -> Result<Msg<'_>, WireError> {
    let (mut r, k) = Reader::start(b)?;
    Ok(match k {
        kind::ROOM => {
            let name = r.str()?;
            let actor = r.uid()?;
            let mut changes = Vec::new();
            let effect = match r.u8()? {
                effect::JOIN => RoomEffect::Join {
                    who: r.record()?,
                    roles: r.u8()?,
                },
                effect::PART => RoomEffect::Part { reason: r.opt()? },
                effect::KICK => RoomEffect::Kick {
                    victim: r.uid()?,
                    reason: r.str()?,
                },
                effect::TOPIC => RoomEffect::Topic {
                    text: r.str()?,
                    at_ms: r.num()?,
                },
                effect::MODES => {
                    let at = r.num()?;
                    let n = r.count(MAX_CHANGES)?;
                    for _ in 0..n {
                        changes.push(r.change()?);
                    }
                    RoomEffect::Modes { changes: &[], at }
                }
                effect::SAY => RoomEffect::Say {
                    meta: r.meta()?,
                    kind: r.kind()?,
                    status: r.u8()?,
                    text: r.str()?,
                    tags: r.str()?,
                },
                effect::KNOCK => RoomEffect::Knock { text: r.str()? },
                k => return Err(WireError::Kind(k)),
            };
            Msg::Room {
                name,
                actor,
                effect,
                changes,
            }
        }
        kind::USER => Msg::User { who: r.record()? },
        kind::QUIT => Msg::Quit {
            uid: r.uid()?,
            reason: r.opt()?,
        },
        kind::BYE => Msg::Bye { node: r.num()? },
        kind::WALLOPS => Msg::Wallops {
            from: r.uid()?,
            text: r.str()?,
        },
        kind::DIRECT => {
            let (from, to) = (r.uid()?, r.uid()?);
            let effect = match r.u8()? {
                effect::MESSAGE => DirectEffect::Message {
                    meta: r.meta()?,
                    kind: r.kind()?,
                    to: r.str()?,
                    text: r.str()?,
                    tags: r.str()?,
                },
                effect::INVITE => DirectEffect::Invite { room: r.str()? },
                effect::KILL => DirectEffect::Kill { reason: r.str()? },
                k => return Err(WireError::Kind(k)),
            };
            Msg::Direct { from, to, effect }
        }
        kind::STATE_ASK => Msg::StateAsk {
            folded: r.str()?,
            offset: u32::try_from(r.num()?).map_err(|_| WireError::Bad("offset"))?,
        },
        kind::STATE => {
            let (state, more) = decode_state(&mut r)?;
            Msg::State { state, more }
        }
        kind::ACCOUNT => Msg::Account {
            key: r.str()?,
            name: r.opt()?,
        },
        kind::REGISTRATION => Msg::Registration {
            key: r.str()?,
            room: decode_registration(&mut r)?,
        },
        k => return Err(WireError::Kind(k)),
    })
}

fn decode_state(r: &mut Reader<'_>) -> Result<(RoomState, bool), WireError> {
    let node = r.num()?;
    let name = r.str()?.to_string();
    let created = r.num()?;
    let flags = r.u8()?;
    let key = r.opt()?.map(str::to_string);
    let limit = match r.num()? {
        0 => None,
        l => Some(usize::try_from(l - 1).map_err(|_| WireError::Bad("limit"))?),
    };
    let topic = if r.bool()? {
        Some(TopicState {
            text: r.str()?.into(),
            by: r.str()?.into(),
            at: r.num()?,
            stamp: (r.num()?, r.num()?),
        })
    } else {
        None
    };
    let n = r.count(1000)?;
    let mut masks = Vec::with_capacity(n);
    for _ in 0..n {
        masks.push(MaskState {
            list: r.list()?,
            mask: r.str()?.into(),
            by: r.str()?.into(),
            at: r.num()?,
        });
    }
    let more = r.bool()?;
    let n = r.count(STATE_CHUNK)?;
    let mut members = Vec::with_capacity(n);
    for _ in 0..n {
        let who = r.record()?;
        members.push((UserInfo::of(&who), r.u8()?));
    }
    Ok((
        RoomState {
            node,
            name,
            created,
            flags,
            key,
            limit,
            topic,
            masks,
            members,
        },
        more,
    ))
}

/// Reads a nick key's value.
pub fn decode_user_value(b: &[u8]) -> Result<Record<'_>, WireError> {
    match decode(b)? {
        Msg::User { who } => Ok(who),
        _ => Err(WireError::Bad("user value")),
    }
}

/// Reads a skeleton key's value.
pub fn decode_holder(b: &[u8]) -> Result<Uid, WireError> {
    let (mut r, _) = Reader::start(b)?;
    r.uid()
}

/// Reads a rooms bucket entry.
pub fn decode_summary(b: &[u8]) -> Result<RoomSummary, WireError> {
    let (mut r, _) = Reader::start(b)?;
    Ok(RoomSummary {
        name: r.str()?.into(),
        count: usize::try_from(r.num()?).map_err(|_| WireError::Bad("count"))?,
        topic: r.opt()?.map(Into::into),
        secret: r.bool()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(nick: &str) -> Record<'_> {
        Record {
            uid: Uid {
                node: 0xfeed,
                n: 300,
            },
            nick,
            user: "u",
            host: "127.0.0.1",
            realname: "Real Name",
            account: Some("acct"),
            away: None,
            modes: 0b1001,
            native: true,
            secure: false,
        }
    }

    fn round(bytes: Vec<u8>) -> Msg<'static> {
        let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        decode(leaked).expect("decodes")
    }

    #[test]
    fn room_effects_round_trip() {
        let actor = Uid {
            node: u64::MAX,
            n: 1,
        };
        let meta = Meta {
            id: MsgId(0x1234_5678_9abc),
            time_ms: 1_700_000_000_000,
        };
        let changes = [
            ModeChange::Flag(true, RoomFlag::Moderated),
            ModeChange::Key(Some("sekrit")),
            ModeChange::Limit(Some(10)),
            ModeChange::Limit(None),
            ModeChange::Member(false, Role::Voice, "bob"),
            ModeChange::List(true, ListMode::Ban, "*!*@evil"),
        ];
        let effects = [
            RoomEffect::Join {
                who: rec("søren"),
                roles: 1,
            },
            RoomEffect::Part {
                reason: Some("bye"),
            },
            RoomEffect::Part { reason: None },
            RoomEffect::Kick {
                victim: Uid { node: 2, n: 3 },
                reason: "spam",
            },
            RoomEffect::Topic {
                text: "hello\x02bold",
                at_ms: 99,
            },
            RoomEffect::Say {
                meta,
                kind: Some(MsgKind::Action),
                status: 1,
                text: "\x01waves\x01 ünïcode",
                tags: "+typing=active",
            },
            RoomEffect::Say {
                meta,
                kind: None,
                status: 0,
                text: "",
                tags: "+react=x",
            },
            RoomEffect::Knock { text: "let me in" },
        ];
        for e in effects {
            let mut out = Vec::new();
            room(&mut out, "#café", actor, &e);
            match round(out) {
                Msg::Room {
                    name,
                    actor: a,
                    effect,
                    ..
                } => {
                    assert_eq!((name, a), ("#café", actor));
                    assert_eq!(effect, e);
                }
                other => panic!("{other:?}"),
            }
        }
        let mut out = Vec::new();
        room(
            &mut out,
            "#r",
            actor,
            &RoomEffect::Modes {
                changes: &changes,
                at: 7,
            },
        );
        let Msg::Room {
            effect: RoomEffect::Modes { at: 7, .. },
            changes: got,
            ..
        } = round(out)
        else {
            panic!("modes")
        };
        assert_eq!(got, changes);
    }

    #[test]
    fn users_directs_and_states_round_trip() {
        let mut out = Vec::new();
        user(&mut out, &rec("bob"));
        assert_eq!(round(out), Msg::User { who: rec("bob") });
        let mut out = Vec::new();
        quit(&mut out, Uid { node: 5, n: 6 }, Some("gone"));
        assert_eq!(
            round(out),
            Msg::Quit {
                uid: Uid { node: 5, n: 6 },
                reason: Some("gone")
            }
        );
        let (from, to) = (Uid { node: 1, n: 2 }, Uid { node: 3, n: 4 });
        for e in [
            DirectEffect::Message {
                meta: Meta {
                    id: MsgId(1),
                    time_ms: 2,
                },
                kind: Some(MsgKind::Notice),
                to: "bob,carol",
                text: "hi",
                tags: "",
            },
            DirectEffect::Invite { room: "#x" },
            DirectEffect::Kill { reason: "bad" },
        ] {
            let mut out = Vec::new();
            direct(&mut out, from, to, &e);
            assert_eq!(
                round(out),
                Msg::Direct {
                    from,
                    to,
                    effect: e
                }
            );
        }
        let members: Vec<(UserInfo, u8)> = (0..1200)
            .map(|i| {
                let nick = format!("u{i}");
                let mut info = UserInfo::of(&rec("x"));
                info.nick = nick;
                (info, (i % 3) as u8)
            })
            .collect();
        let state = RoomState {
            node: 9,
            name: "#big".into(),
            created: 5,
            flags: 3,
            key: Some("k".into()),
            limit: Some(0),
            topic: Some(TopicState {
                text: "t".into(),
                by: "a!b@c".into(),
                at: 1,
                stamp: (1000, 9),
            }),
            masks: vec![MaskState {
                list: ListMode::Except,
                mask: "a!*@*".into(),
                by: "op".into(),
                at: 3,
            }],
            members: members.clone(),
        };
        let mut got = Vec::new();
        let mut offset = 0;
        loop {
            let mut out = Vec::new();
            state_ask(&mut out, "#big", offset as u32);
            assert_eq!(
                round(out),
                Msg::StateAsk {
                    folded: "#big",
                    offset: offset as u32
                }
            );
            let mut out = Vec::new();
            super::state(&mut out, &state, offset);
            let Msg::State { state: s, more } = round(out) else {
                panic!("state")
            };
            assert_eq!((s.topic.clone(), s.limit), (state.topic.clone(), Some(0)));
            offset += s.members.len();
            got.extend(s.members);
            if !more {
                break;
            }
        }
        assert_eq!(got, members);
        let mut out = Vec::new();
        let s = RoomSummary {
            name: "#x".into(),
            count: 4,
            topic: None,
            secret: true,
        };
        summary(&mut out, &s);
        assert_eq!(decode_summary(&out), Ok(s));
        let mut out = Vec::new();
        holder(&mut out, from);
        assert_eq!(decode_holder(&out), Ok(from));
    }

    #[test]
    fn anything_malformed_is_an_error_never_a_panic() {
        let mut out = Vec::new();
        room(
            &mut out,
            "#r",
            Uid { node: 1, n: 1 },
            &RoomEffect::Join {
                who: rec("bob"),
                roles: 0,
            },
        );
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode(&[9, 1]), Err(WireError::Version(9)));
        assert_eq!(decode(&[VERSION, 99]), Err(WireError::Kind(99)));
        // A length past the end, a number too long, bad UTF-8.
        assert!(decode(&[VERSION, kind::BYE, 0xff, 0xff]).is_err());
        assert!(decode(&[
            VERSION,
            kind::BYE,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x01
        ])
        .is_err());
        assert_eq!(
            decode(&[VERSION, kind::WALLOPS, 1, 1, 2, 0xc3, 0x28]),
            Err(WireError::Utf8)
        );
        // Random bytes.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let mut b = vec![VERSION, (seed >> 8) as u8 % 10];
            b.extend((0..len).map(|i| (seed >> (i % 56)) as u8));
            let _ = decode(&b);
        }
    }

    fn decoded(bytes: &[u8]) -> Msg<'_> {
        decode(bytes).expect("decodes")
    }

    #[test]
    fn accounts_and_registrations_round_trip_and_cut_messages_fail() {
        let mut out = Vec::new();
        account(&mut out, "ålice", Some("Ålice"));
        assert_eq!(
            decoded(&out),
            Msg::Account {
                key: "ålice",
                name: Some("Ålice")
            }
        );
        let mut gone = Vec::new();
        account(&mut gone, "bob", None);
        assert_eq!(
            decoded(&gone),
            Msg::Account {
                key: "bob",
                name: None
            }
        );
        let reg = RoomRegistration {
            name: "#Rust".into(),
            founder: "alice".into(),
            registered_ms: 1_700_000_000_123,
            topic: Some(SavedTopic {
                text: "crabs\x02".into(),
                by: "alice!a@h".into(),
                at: 1_700_000_001,
            }),
            flags: 0b101,
            key: Some("door".into()),
            limit: Some(42),
            ops: vec!["alice".into(), "bob".into()],
            voices: vec!["carol".into()],
            bans: vec![SavedBan {
                mask: "eve!*@*".into(),
                by: "alice".into(),
                at: 7,
            }],
        };
        let mut full = Vec::new();
        registration(&mut full, "#rust", Some(&reg));
        assert_eq!(
            decoded(&full),
            Msg::Registration {
                key: "#rust",
                room: Some(reg.clone())
            }
        );
        let bare = RoomRegistration {
            topic: None,
            key: None,
            limit: None,
            ops: vec![],
            voices: vec![],
            bans: vec![],
            ..reg
        };
        let mut out = Vec::new();
        registration(&mut out, "#rust", Some(&bare));
        assert_eq!(
            decoded(&out),
            Msg::Registration {
                key: "#rust",
                room: Some(bare)
            }
        );
        let mut dropped = Vec::new();
        registration(&mut dropped, "#rust", None);
        assert_eq!(
            decoded(&dropped),
            Msg::Registration {
                key: "#rust",
                room: None
            }
        );
        // Every cut of a message is an error, never a panic or a wrong value.
        for msg in [&full, &gone] {
            for n in 0..msg.len() {
                assert!(decode(&msg[..n]).is_err(), "{n} of {}", msg.len());
            }
        }
    }
}
