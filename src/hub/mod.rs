//! The chat state: users, nicks, rooms and file transfers, and what each command does to them.
//!
//! The hub knows nothing of sockets or protocols. A client is a [`ClientId`]; a command comes
//! in as a [`Command`], and everything that should be told to anyone goes out through a
//! [`Sink`] as an [`Event`], with the recipients named. The server behind the sink encodes each
//! event once per protocol and queues the bytes.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::clock::Clock;

use slab::Slab;

use crate::event::*;
use crate::names::{self, check_nick, check_room, fold, Key};

mod files;
mod rooms;

use rooms::RoomModes;

/// A connection's identity, stable while it is connected (the server's slab key).
pub type ClientId = usize;
type RoomId = usize;

/// The room everyone starts in on the native protocol.
pub const LOBBY: &str = "#lobby";

/// Where events go. The server implements it; tests record.
pub trait Sink {
    /// Tells one client; `me` is its nick, for replies that name the recipient.
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>);
    /// Tells every client in `to` but `except`; the event does not depend on the recipient.
    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>);
}

/// What a client asks for, whatever its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Nick(&'a str),
    /// A plain native line or `/me`: to the current room.
    SayCurrent {
        kind: MsgKind,
        text: &'a str,
    },
    /// To rooms and nicks, comma separated.
    Message {
        targets: &'a str,
        kind: MsgKind,
        text: &'a str,
    },
    Join {
        rooms: &'a str,
        keys: Option<&'a str>,
    },
    /// `rooms` None means the current room.
    Part {
        rooms: Option<&'a str>,
        reason: Option<&'a str>,
    },
    ListRooms,
    Who(Option<&'a str>),
    Topic {
        room: Option<&'a str>,
        text: Option<&'a str>,
    },
    Offer {
        to: &'a str,
        size: u64,
        name: &'a str,
    },
    Accept(u64),
    Decline(u64),
    Cancel(u64),
    Help,
    /// Leave every room (IRC `JOIN 0`).
    PartAll,
    /// IRC `LIST [#ROOM,...]`: all rooms or those named.
    List(Option<&'a str>),
    /// IRC `WHO MASK`: a room's members or one user; an unknown mask lists no one.
    WhoMask(&'a str),
    /// IRC `NAMES [#ROOM,...]`: the rooms named, or the caller's.
    Names(Option<&'a str>),
    Kick {
        rooms: &'a str,
        nicks: &'a str,
        reason: Option<&'a str>,
    },
    Invite {
        nick: &'a str,
        room: &'a str,
    },
    /// `MODE TARGET [CHANGES [ARGS...]]` on a room or on oneself.
    Mode {
        target: &'a str,
        changes: Option<&'a str>,
        args: &'a [&'a str],
    },
    /// Set (Some, not empty) or clear the away message.
    Away(Option<&'a str>),
    Whois(&'a str),
    Whowas {
        nick: &'a str,
        count: Option<usize>,
    },
    /// Nicks, each parameter possibly several separated by spaces.
    Userhost(&'a [&'a str]),
    Ison(&'a [&'a str]),
    Lusers,
    /// Become a server operator: the caller has checked the credentials.
    Oper,
}

/// Nicks remembered for WHOWAS.
const WHOWAS_MAX: usize = 100;
/// Pending invitations kept per user; the oldest is forgotten first.
const INVITES_MAX: usize = 16;
/// The longest room key.
const KEY_MAX: usize = 23;

#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    pub max_file_size: u64,
    /// Rooms larger than this do not announce joins, parts and quits to their members.
    pub quiet_room_size: usize,
    pub offer_timeout: std::time::Duration,
}

#[derive(Debug)]
struct User {
    nick: Box<str>,
    user: Box<str>,
    realname: Box<str>,
    host: Box<str>,
    /// In the order joined: the last is the most recent.
    rooms: Vec<RoomId>,
    current: Option<RoomId>,
    away: Option<Box<str>>,
    files: bool,
    /// Joins are followed by the room's topic and member list (IRC).
    room_details: bool,
    oper: bool,
    invisible: bool,
    /// Folded names of rooms this user was invited to and has not joined yet.
    invited_to: Vec<Box<str>>,
}

impl User {
    fn source(&self) -> Source<'_> {
        Source {
            nick: &self.nick,
            user: &self.user,
            host: &self.host,
        }
    }
}

#[derive(Debug)]
struct Room {
    name: Box<str>,
    members: Vec<ClientId>,
    ops: Vec<ClientId>,
    /// Members who may speak while the room is moderated (`+v`).
    voiced: Vec<ClientId>,
    topic: Option<Topic>,
    /// When the room was made (seconds since the Unix epoch), for IRC's 329.
    created: u64,
    modes: RoomModes,
}

/// A room's topic with who set it and when.
#[derive(Debug)]
struct Topic {
    text: Box<str>,
    by: Box<str>,
    at: u64,
}

impl Topic {
    fn info(&self) -> TopicInfo<'_> {
        TopicInfo {
            text: &self.text,
            by: &self.by,
            at: self.at,
        }
    }
}

/// Who had a nick, for WHOWAS.
#[derive(Debug)]
struct WasUser {
    nick: Box<str>,
    user: Box<str>,
    host: Box<str>,
    realname: Box<str>,
}

#[derive(Debug)]
struct Transfer {
    from: ClientId,
    to: ClientId,
    size: u64,
    sent: u64,
    accepted: bool,
}

/// Where a file data frame goes, or why it can't.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    To(ClientId),
    Refused(&'static str),
}

pub struct Hub {
    cfg: HubConfig,
    /// The time of the command being carried out, as its caller read it.
    now: Clock,
    users: Vec<Option<User>>,
    by_nick: HashMap<Box<str>, ClientId>,
    rooms: Slab<Room>,
    by_room: HashMap<Box<str>, RoomId>,
    transfers: HashMap<u64, Transfer>,
    /// Offers in the order made; all share one timeout, so the front expires first.
    offers: VecDeque<(Instant, u64)>,
    next_transfer: u64,
    next_guest: u64,
    /// Scratch for deduplicating recipients across rooms.
    seen: Vec<u32>,
    epoch: u32,
    peers: Vec<ClientId>,
    /// Scratch for the recipients of a direct message.
    targets: Vec<ClientId>,
    whowas: VecDeque<WasUser>,
    oper_count: usize,
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            cfg,
            now: Clock::now(),
            users: Vec::new(),
            by_nick: HashMap::new(),
            rooms: Slab::new(),
            by_room: HashMap::new(),
            transfers: HashMap::new(),
            offers: VecDeque::new(),
            next_transfer: 1,
            next_guest: 1,
            seen: Vec::new(),
            epoch: 0,
            peers: Vec::new(),
            targets: Vec::new(),
            whowas: VecDeque::new(),
            oper_count: 0,
        }
    }

    pub fn user_count(&self) -> usize {
        self.by_nick.len()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn nick(&self, id: ClientId) -> Option<&str> {
        self.user(id).map(|u| &*u.nick)
    }

    pub fn nick_in_use(&self, nick: &str) -> bool {
        self.by_nick.contains_key(&*Key::new(nick))
    }

    fn user(&self, id: ClientId) -> Option<&User> {
        self.users.get(id).and_then(Option::as_ref)
    }

    fn user_mut(&mut self, id: ClientId) -> Option<&mut User> {
        self.users.get_mut(id).and_then(Option::as_mut)
    }

    fn room_id(&self, name: &str) -> Option<RoomId> {
        self.by_room.get(&*Key::new(name)).copied()
    }

    /// A native client arrives: a guest nick, the greeting, and `#lobby`.
    pub fn connect_native(&mut self, id: ClientId, host: &str, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let nick = loop {
            let candidate = format!("guest-{}", self.next_guest);
            self.next_guest += 1;
            if !self.nick_in_use(&candidate) {
                break candidate;
            }
        };
        self.add_user(id, &nick, "native", "snak native client", host, true);
        sink.one(id, &nick, &Event::Greeting { nick: &nick });
        self.join_one(id, LOBBY, None, false, sink);
    }

    /// A client that registered itself (IRC) with a nick checked by [`Hub::nick_in_use`].
    pub fn register(
        &mut self,
        id: ClientId,
        nick: &str,
        user: &str,
        realname: &str,
        host: &str,
        now: Clock,
    ) {
        self.now = now;
        self.add_user(id, nick, user, realname, host, false);
    }

    fn add_user(
        &mut self,
        id: ClientId,
        nick: &str,
        user: &str,
        realname: &str,
        host: &str,
        files: bool,
    ) {
        if self.users.len() <= id {
            self.users.resize_with(id + 1, || None);
        }
        self.by_nick.insert(fold(nick), id);
        self.users[id] = Some(User {
            nick: nick.into(),
            user: user.into(),
            realname: realname.into(),
            host: host.into(),
            rooms: Vec::new(),
            current: None,
            away: None,
            files,
            room_details: !files,
            oper: false,
            invisible: false,
            invited_to: Vec::new(),
        });
    }

    /// The client is gone: its rooms hear that it quit, its transfers are aborted.
    pub fn disconnect(&mut self, id: ClientId, reason: Option<&str>, sink: &mut impl Sink) {
        self.remember(id);
        if self.is_oper(id) {
            self.oper_count -= 1;
        }
        let Some(user) = self.users.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.by_nick.remove(&*Key::new(&user.nick));
        self.abort_transfers_of(id, AbortReason::Disconnected(&user.nick), sink);
        self.collect_peers(&user.rooms, None, true);
        let quit = Event::Quit {
            who: user.source(),
            reason,
        };
        sink.many(&self.peers, Some(id), &quit);
        for &room in &user.rooms {
            self.remove_member(room, id);
        }
    }

    /// Everyone who shares a room with the client, once each (in `self.peers`); rooms over the
    /// quiet size are left out when `loud_only`.
    fn collect_peers(&mut self, rooms: &[RoomId], include: Option<ClientId>, loud_only: bool) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        self.peers.clear();
        let add = |id: ClientId, seen: &mut Vec<u32>, peers: &mut Vec<ClientId>, epoch| {
            if seen.len() <= id {
                seen.resize(id + 1, 0);
            }
            if seen[id] != epoch {
                seen[id] = epoch;
                peers.push(id);
            }
        };
        if let Some(me) = include {
            add(me, &mut self.seen, &mut self.peers, self.epoch);
        }
        for &room in rooms {
            let Some(r) = self.rooms.get(room) else {
                continue;
            };
            if loud_only && r.members.len() > self.cfg.quiet_room_size {
                continue;
            }
            for &m in &r.members {
                add(m, &mut self.seen, &mut self.peers, self.epoch);
            }
        }
    }

    fn remove_member(&mut self, room: RoomId, id: ClientId) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if let Some(pos) = r.members.iter().position(|&m| m == id) {
            r.members.swap_remove(pos);
        }
        r.ops.retain(|&m| m != id);
        r.voiced.retain(|&m| m != id);
        if r.members.is_empty() {
            let r = self.rooms.remove(room);
            self.by_room.remove(&*Key::new(&r.name));
        }
    }

    /// Carries out one command of a registered client.
    pub fn apply(&mut self, id: ClientId, cmd: Command<'_>, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        let Some(me) = self.user(id) else { return };
        match cmd {
            Command::Nick(new) => self.change_nick(id, new, sink),
            Command::SayCurrent { kind, text } => match me.current {
                Some(room) => self.say_in_room(id, room, kind, text, true, sink),
                None => sink.one(id, &me.nick, &Event::Fail(Fail::NoRoom)),
            },
            Command::Message {
                targets,
                kind,
                text,
            } => self.message(id, targets, kind, text, sink),
            Command::Join { rooms, keys } => {
                let mut keys = keys.unwrap_or("").split(',');
                for room in rooms.split(',').filter(|r| !r.is_empty()) {
                    let key = keys.next().filter(|k| !k.is_empty());
                    self.join_one(id, room, key, true, sink);
                }
            }
            Command::Part {
                rooms: Some(rooms),
                reason,
            } => {
                for room in rooms.split(',').filter(|r| !r.is_empty()) {
                    self.part_one(id, room, reason, sink);
                }
            }
            Command::Part {
                rooms: None,
                reason,
            } => match me.current {
                Some(room) => {
                    let name = self.rooms[room].name.clone();
                    self.part_one(id, &name, reason, sink);
                }
                None => sink.one(id, &me.nick, &Event::Fail(Fail::NoRoom)),
            },
            Command::PartAll => {
                let names: Vec<Box<str>> = me
                    .rooms
                    .iter()
                    .map(|&r| self.rooms[r].name.clone())
                    .collect();
                for name in names {
                    self.part_one(id, &name, None, sink);
                }
            }
            Command::ListRooms => self.list(id, None, sink),
            Command::List(filter) => self.list(id, filter, sink),
            Command::Who(room) => self.who(id, room, false, sink),
            Command::WhoMask(mask) => self.who_mask(id, mask, sink),
            Command::Names(rooms) => self.names(id, rooms, sink),
            Command::Topic { room, text } => self.topic(id, room, text, sink),
            Command::Kick {
                rooms,
                nicks,
                reason,
            } => self.kick(id, rooms, nicks, reason, sink),
            Command::Invite { nick, room } => self.invite(id, nick, room, sink),
            Command::Mode {
                target,
                changes,
                args,
            } => {
                if target.starts_with('#') {
                    self.room_mode(id, target, changes, args, sink)
                } else {
                    self.user_mode(id, target, changes, sink)
                }
            }
            Command::Away(text) => {
                let text = text.filter(|t| !t.is_empty());
                let reply = if text.is_some() {
                    Reply::NowAway
                } else {
                    Reply::UnAway
                };
                let nick = me.nick.clone();
                if let Some(me) = self.user_mut(id) {
                    me.away = text.map(Into::into);
                }
                sink.one(id, &nick, &Event::Reply(reply));
            }
            Command::Whois(nick) => self.whois(id, nick, sink),
            Command::Whowas { nick, count } => {
                let mut found = 0;
                let key = fold(nick);
                for w in self.whowas.iter().rev().filter(|w| fold(&w.nick) == key) {
                    if count.is_some_and(|c| c > 0 && found >= c) {
                        break;
                    }
                    found += 1;
                    let reply = Reply::Whowas {
                        nick: &w.nick,
                        user: &w.user,
                        host: &w.host,
                        realname: &w.realname,
                    };
                    sink.one(id, &me.nick, &Event::Reply(reply));
                }
                if found == 0 {
                    sink.one(id, &me.nick, &Event::Fail(Fail::WasNoSuchNick(nick)));
                }
                sink.one(id, &me.nick, &Event::Reply(Reply::EndOfWhowas(nick)));
            }
            Command::Userhost(nicks) => {
                let found: Vec<_> = nicks
                    .iter()
                    .flat_map(|n| n.split(' '))
                    .filter_map(|n| self.by_nick.get(&*Key::new(n)))
                    .filter_map(|&u| self.user(u))
                    .take(5)
                    .map(|u| (&*u.nick, u.oper, u.away.is_some(), &*u.user, &*u.host))
                    .collect();
                sink.one(id, &me.nick, &Event::Reply(Reply::Userhost(&found)));
            }
            Command::Ison(nicks) => {
                let found: Vec<&str> = nicks
                    .iter()
                    .flat_map(|n| n.split(' '))
                    .filter_map(|n| self.by_nick.get(&*Key::new(n)))
                    .filter_map(|&u| self.nick(u))
                    .collect();
                sink.one(id, &me.nick, &Event::Reply(Reply::Ison(&found)));
            }
            Command::Lusers => {
                let reply = Reply::Lusers {
                    users: self.by_nick.len(),
                    opers: self.oper_count,
                    rooms: self.rooms.len(),
                };
                sink.one(id, &me.nick, &Event::Reply(reply));
            }
            Command::Oper => {
                let was = me.oper;
                if let Some(me) = self.user_mut(id) {
                    me.oper = true;
                }
                if !was {
                    self.oper_count += 1;
                }
                let Some(me) = self.user(id) else { return };
                sink.one(id, &me.nick, &Event::Reply(Reply::YoureOper));
                if !was {
                    let ev = Event::UserModeChanged {
                        who: me.source(),
                        modes: "+o",
                    };
                    sink.one(id, &me.nick, &ev);
                }
            }
            Command::Offer { to, size, name } => self.offer(id, to, size, name, now.mono, sink),
            Command::Accept(t) => self.answer_offer(id, t, true, sink),
            Command::Decline(t) => self.answer_offer(id, t, false, sink),
            Command::Cancel(t) => self.cancel(id, t, sink),
            Command::Help => sink.one(id, &me.nick, &Event::Reply(Reply::Help)),
        }
    }

    /// A server operator disconnects `nick`: it is told why, and its id is returned so the
    /// caller can close the connection.
    pub fn kill(
        &mut self,
        id: ClientId,
        nick: &str,
        reason: &str,
        sink: &mut impl Sink,
    ) -> Option<ClientId> {
        let me = self.user(id)?;
        if !me.oper {
            sink.one(id, &me.nick, &Event::Fail(Fail::NoPrivileges));
            return None;
        }
        let Some(&victim) = self.by_nick.get(&*Key::new(nick)) else {
            sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(nick)));
            return None;
        };
        let v = self.user(victim)?;
        let ev = Event::Killed {
            by: me.source(),
            victim: &v.nick,
            reason,
        };
        sink.one(victim, &v.nick, &ev);
        Some(victim)
    }

    /// Whether `id` is a server operator.
    pub fn is_oper(&self, id: ClientId) -> bool {
        self.user(id).is_some_and(|u| u.oper)
    }

    fn change_nick(&mut self, id: ClientId, new: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        if let Err(e) = check_nick(new) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::BadNick(new, e)));
        }
        if *me.nick == *new {
            return;
        }
        let key = fold(new);
        if self.by_nick.get(&key).is_some_and(|&other| other != id) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NickTaken(new)));
        }
        let rooms = me.rooms.clone();
        self.collect_peers(&rooms, Some(id), false);
        let Some(me) = self.user(id) else { return };
        sink.many(
            &self.peers,
            None,
            &Event::NickChanged {
                who: me.source(),
                new,
            },
        );
        let old_key = fold(&me.nick);
        self.remember(id);
        self.by_nick.remove(&old_key);
        self.by_nick.insert(key, id);
        if let Some(me) = self.user_mut(id) {
            me.nick = new.into();
        }
    }

    /// Keeps the user's current identity for WHOWAS.
    fn remember(&mut self, id: ClientId) {
        let Some(u) = self.user(id) else { return };
        let entry = WasUser {
            nick: u.nick.clone(),
            user: u.user.clone(),
            host: u.host.clone(),
            realname: u.realname.clone(),
        };
        if self.whowas.len() >= WHOWAS_MAX {
            self.whowas.pop_front();
        }
        self.whowas.push_back(entry);
    }

    /// Messages to rooms and nicks. A notice never draws an automatic answer (no errors, no
    /// away replies), as IRC requires.
    fn message(
        &mut self,
        id: ClientId,
        targets: &str,
        kind: MsgKind,
        text: &str,
        sink: &mut impl Sink,
    ) {
        // The recipients, in a buffer kept between messages: no allocation per message.
        let mut nicks = std::mem::take(&mut self.targets);
        nicks.clear();
        self.message_to(id, targets, kind, text, &mut nicks, sink);
        self.targets = nicks;
    }

    /// A message to every other member of a room, if the room's modes let `id` speak; a
    /// refusal is answered only if `answer` (never for a NOTICE).
    fn say_in_room(
        &self,
        id: ClientId,
        room: RoomId,
        kind: MsgKind,
        text: &str,
        answer: bool,
        sink: &mut impl Sink,
    ) {
        let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        if let Err(why) = self.may_speak(room, id) {
            if answer {
                sink.one(id, &me.nick, &Event::Fail(Fail::CannotSend(&r.name, why)));
            }
            return;
        }
        let ev = Event::RoomMessage {
            from: me.source(),
            room: &r.name,
            kind,
            text,
        };
        sink.many(&r.members, Some(id), &ev);
    }

    fn message_to(
        &self,
        id: ClientId,
        targets: &str,
        kind: MsgKind,
        text: &str,
        nicks: &mut Vec<ClientId>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let answer = kind != MsgKind::Notice;
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            if target.starts_with('#') {
                let Some(room) = self.room_id(target) else {
                    if answer {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(target)));
                    }
                    continue;
                };
                self.say_in_room(id, room, kind, text, answer, sink);
            } else {
                match self.by_nick.get(&*Key::new(target)) {
                    Some(&to) if !nicks.contains(&to) => nicks.push(to),
                    Some(_) => {}
                    None if answer => {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(target)))
                    }
                    None => {}
                }
            }
        }
        let group;
        let to: &str = match nicks.as_slice() {
            [] => return,
            [one] => self.nick(*one).unwrap_or(""),
            many => {
                let names: Vec<&str> = many.iter().filter_map(|&n| self.nick(n)).collect();
                group = names.join(",");
                &group
            }
        };
        let ev = Event::DirectMessage {
            from: me.source(),
            to,
            kind,
            text,
        };
        for &n in nicks.iter() {
            if let Some(u) = self.user(n) {
                sink.one(n, &u.nick, &ev);
                if let (Some(away), true) = (&u.away, answer) {
                    let reply = Reply::Away {
                        nick: &u.nick,
                        text: away,
                    };
                    sink.one(id, &me.nick, &Event::Reply(reply));
                }
            }
        }
    }

    fn whois(&mut self, id: ClientId, nick: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let end = Event::Reply(Reply::EndOfWhois(nick));
        let Some(u) = self
            .by_nick
            .get(&*Key::new(nick))
            .and_then(|&u| self.user(u))
        else {
            sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(nick)));
            return sink.one(id, &me.nick, &end);
        };
        let who = self.by_nick.get(&*Key::new(nick)).copied().unwrap_or(id);
        let rooms: Vec<(&str, bool)> = u
            .rooms
            .iter()
            .filter_map(|&r| self.rooms.get(r))
            .map(|r| (&*r.name, r.ops.contains(&who)))
            .collect();
        let whois = Whois {
            nick: &u.nick,
            user: &u.user,
            host: &u.host,
            realname: &u.realname,
            rooms: &rooms,
            oper: u.oper,
            away: u.away.as_deref(),
        };
        sink.one(id, &me.nick, &Event::Reply(Reply::Whois(whois)));
        sink.one(id, &me.nick, &Event::Reply(Reply::EndOfWhois(&u.nick)));
    }

    /// Names for the nick rules, for callers that validate before registering.
    pub fn check_nick(nick: &str) -> Result<(), names::NameError> {
        check_nick(nick)
    }
}

#[cfg(test)]
mod tests;
