//! The chat state: users, nicks, rooms and file transfers, and what each command does to them.
//!
//! The hub knows nothing of sockets or protocols. A client is a [`ClientId`]; a command comes
//! in as a [`Command`], and everything that should be told to anyone goes out through a
//! [`Sink`] as an [`Event`], with the recipients named. The server behind the sink encodes each
//! event once per protocol and queues the bytes.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use slab::Slab;

use crate::event::*;
use crate::names::{self, check_nick, check_room, fold};

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
}

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
    topic: Option<Box<str>>,
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
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            cfg,
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
        self.by_nick.contains_key(&fold(nick))
    }

    fn user(&self, id: ClientId) -> Option<&User> {
        self.users.get(id).and_then(Option::as_ref)
    }

    fn user_mut(&mut self, id: ClientId) -> Option<&mut User> {
        self.users.get_mut(id).and_then(Option::as_mut)
    }

    fn room_id(&self, name: &str) -> Option<RoomId> {
        self.by_room.get(&fold(name)).copied()
    }

    /// A native client arrives: a guest nick, the greeting, and `#lobby`.
    pub fn connect_native(&mut self, id: ClientId, host: &str, sink: &mut impl Sink) {
        let nick = loop {
            let candidate = format!("guest-{}", self.next_guest);
            self.next_guest += 1;
            if !self.nick_in_use(&candidate) {
                break candidate;
            }
        };
        self.add_user(id, &nick, &nick, "", host, true);
        sink.one(id, &nick, &Event::Greeting { nick: &nick });
        self.join_one(id, LOBBY, None, false, sink);
    }

    /// A client that registered itself (IRC) with a nick checked by [`Hub::nick_in_use`].
    pub fn register(&mut self, id: ClientId, nick: &str, user: &str, realname: &str, host: &str) {
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
        });
    }

    /// The client is gone: its rooms hear that it quit, its transfers are aborted.
    pub fn disconnect(&mut self, id: ClientId, reason: Option<&str>, sink: &mut impl Sink) {
        let Some(user) = self.users.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.by_nick.remove(&fold(&user.nick));
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
        if r.members.is_empty() {
            let r = self.rooms.remove(room);
            self.by_room.remove(&fold(&r.name));
        }
    }

    /// Carries out one command of a registered client.
    pub fn apply(&mut self, id: ClientId, cmd: Command<'_>, now: Instant, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        match cmd {
            Command::Nick(new) => self.change_nick(id, new, sink),
            Command::SayCurrent { kind, text } => match me.current {
                Some(room) => {
                    let r = &self.rooms[room];
                    let ev = Event::RoomMessage {
                        from: me.source(),
                        room: &r.name,
                        kind,
                        text,
                    };
                    sink.many(&r.members, Some(id), &ev);
                }
                None => sink.one(id, &me.nick, &Event::Fail(Fail::NoRoom)),
            },
            Command::Message {
                targets,
                kind,
                text,
            } => self.message(id, targets, kind, text, sink),
            Command::Join { rooms, keys: _ } => {
                for room in rooms.split(',').filter(|r| !r.is_empty()) {
                    self.join_one(id, room, None, true, sink);
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
            Command::ListRooms => {
                for (_, r) in &self.rooms {
                    let entry = Reply::RoomEntry {
                        room: &r.name,
                        count: r.members.len(),
                        topic: r.topic.as_deref(),
                    };
                    sink.one(id, &me.nick, &Event::Reply(entry));
                }
                sink.one(
                    id,
                    &me.nick,
                    &Event::Reply(Reply::RoomListEnd {
                        count: self.rooms.len(),
                    }),
                );
            }
            Command::Who(room) => self.who(id, room, false, sink),
            Command::Topic { room, text } => self.topic(id, room, text, sink),
            Command::Offer { to, size, name } => self.offer(id, to, size, name, now, sink),
            Command::Accept(t) => self.answer_offer(id, t, true, sink),
            Command::Decline(t) => self.answer_offer(id, t, false, sink),
            Command::Cancel(t) => self.cancel(id, t, sink),
            Command::Help => sink.one(id, &me.nick, &Event::Reply(Reply::Help)),
        }
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
        self.by_nick.remove(&old_key);
        self.by_nick.insert(key, id);
        if let Some(me) = self.user_mut(id) {
            me.nick = new.into();
        }
    }

    fn message(
        &mut self,
        id: ClientId,
        targets: &str,
        kind: MsgKind,
        text: &str,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let mut nicks: Vec<ClientId> = Vec::new();
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            if target.starts_with('#') {
                let Some(room) = self.room_id(target) else {
                    sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(target)));
                    continue;
                };
                let r = &self.rooms[room];
                if !r.members.contains(&id) {
                    let why = "you are not in it";
                    sink.one(id, &me.nick, &Event::Fail(Fail::CannotSend(&r.name, why)));
                    continue;
                }
                let ev = Event::RoomMessage {
                    from: me.source(),
                    room: &r.name,
                    kind,
                    text,
                };
                sink.many(&r.members, Some(id), &ev);
            } else {
                match self.by_nick.get(&fold(target)) {
                    Some(&to) if !nicks.contains(&to) => nicks.push(to),
                    Some(_) => {}
                    None => sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(target))),
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
        for &n in &nicks {
            if let Some(u) = self.user(n) {
                sink.one(n, &u.nick, &ev);
            }
        }
    }

    fn join_one(
        &mut self,
        id: ClientId,
        name: &str,
        _key: Option<&str>,
        tell_self: bool,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        if let Err(e) = check_room(name) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::BadRoom(name, e)));
        }
        let room = match self.room_id(name) {
            Some(room) if self.rooms[room].members.contains(&id) => {
                let r = &self.rooms[room];
                sink.one(
                    id,
                    &me.nick,
                    &Event::Reply(Reply::CurrentRoom(Some(&r.name))),
                );
                if let Some(me) = self.user_mut(id) {
                    me.current = Some(room);
                }
                return;
            }
            Some(room) => {
                self.rooms[room].members.push(id);
                room
            }
            None => {
                let room = self.rooms.insert(Room {
                    name: name.into(),
                    members: vec![id],
                    ops: vec![id],
                    topic: None,
                });
                self.by_room.insert(fold(name), room);
                room
            }
        };
        let Some(me) = self.users.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        me.rooms.push(room);
        me.current = Some(room);
        let me = &*me;
        let r = &self.rooms[room];
        let ev = Event::Joined {
            who: me.source(),
            room: &r.name,
        };
        if r.members.len() <= self.cfg.quiet_room_size {
            sink.many(&r.members, (!tell_self).then_some(id), &ev);
        } else if tell_self {
            sink.one(id, &me.nick, &ev);
        }
    }

    fn part_one(&mut self, id: ClientId, name: &str, reason: Option<&str>, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let room = match self.room_id(name) {
            Some(room) if self.rooms[room].members.contains(&id) => room,
            _ => return sink.one(id, &me.nick, &Event::Fail(Fail::NotInRoom(name))),
        };
        let r = &self.rooms[room];
        let ev = Event::Parted {
            who: me.source(),
            room: &r.name,
            reason,
        };
        if r.members.len() <= self.cfg.quiet_room_size {
            sink.many(&r.members, None, &ev);
        } else {
            sink.one(id, &me.nick, &ev);
        }
        let was_current = me.current == Some(room);
        self.remove_member(room, id);
        let Some(me) = self.user_mut(id) else { return };
        me.rooms.retain(|&r| r != room);
        if was_current {
            me.current = me.rooms.last().copied();
            let current = me.current.map(|r| &*self.rooms[r].name);
            let me = self.user(id).map(|u| &*u.nick).unwrap_or("");
            sink.one(id, me, &Event::Reply(Reply::CurrentRoom(current)));
        }
    }

    fn who(&mut self, id: ClientId, room: Option<&str>, names: bool, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let room = match room {
            Some(name) => match self.room_id(name) {
                Some(room) => room,
                None => return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(name))),
            },
            None => match me.current {
                Some(room) => room,
                None => return sink.one(id, &me.nick, &Event::Fail(Fail::NoRoom)),
            },
        };
        let r = &self.rooms[room];
        let members: Vec<Member<'_>> = r
            .members
            .iter()
            .filter_map(|&m| {
                let u = self.user(m)?;
                Some(Member {
                    nick: &u.nick,
                    user: &u.user,
                    host: &u.host,
                    realname: &u.realname,
                    op: r.ops.contains(&m),
                    away: u.away.is_some(),
                })
            })
            .collect();
        sink.one(
            id,
            &me.nick,
            &Event::Reply(Reply::Members {
                room: &r.name,
                members: &members,
                names,
            }),
        );
    }

    fn topic(
        &mut self,
        id: ClientId,
        room: Option<&str>,
        text: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let room = match room.map(|n| (n, self.room_id(n))) {
            Some((_, Some(room))) => room,
            Some((name, None)) => {
                return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(name)))
            }
            None => match me.current {
                Some(room) => room,
                None => return sink.one(id, &me.nick, &Event::Fail(Fail::NoRoom)),
            },
        };
        let r = &self.rooms[room];
        let Some(text) = text else {
            let reply = Reply::Topic {
                room: &r.name,
                topic: r.topic.as_deref(),
            };
            return sink.one(id, &me.nick, &Event::Reply(reply));
        };
        if !r.members.contains(&id) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NotInRoom(&r.name)));
        }
        if !r.ops.contains(&id) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NotOperator(&r.name)));
        }
        sink.many(
            &r.members,
            None,
            &Event::TopicChanged {
                who: me.source(),
                room: &r.name,
                topic: text,
            },
        );
        let r = &mut self.rooms[room];
        r.topic = (!text.is_empty()).then(|| text.into());
    }

    // ---- files ----

    fn offer(
        &mut self,
        id: ClientId,
        to: &str,
        size: u64,
        name: &str,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let tid = self.next_transfer;
        self.next_transfer += 1;
        let Some(me) = self.users.get(id).and_then(Option::as_ref) else {
            return;
        };
        if size > self.cfg.max_file_size {
            let f = Fail::FileTooLarge {
                size,
                max: self.cfg.max_file_size,
            };
            return sink.one(id, &me.nick, &Event::Fail(f));
        }
        let Some(&to_id) = self.by_nick.get(&fold(to)) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(to)));
        };
        let Some(recipient) = self.users.get(to_id).and_then(Option::as_ref) else {
            return;
        };
        if !recipient.files {
            return sink.one(
                id,
                &me.nick,
                &Event::Fail(Fail::CannotReceiveFiles(&recipient.nick)),
            );
        }
        self.transfers.insert(
            tid,
            Transfer {
                from: id,
                to: to_id,
                size,
                sent: 0,
                accepted: false,
            },
        );
        self.offers.push_back((now + self.cfg.offer_timeout, tid));
        let offered = FileEvent::Offered {
            id: tid,
            to: &recipient.nick,
            size,
            name,
        };
        sink.one(id, &me.nick, &Event::File(offered));
        let offer = FileEvent::Offer {
            id: tid,
            from: &me.nick,
            size,
            name,
        };
        sink.one(to_id, &recipient.nick, &Event::File(offer));
    }

    /// Tells both ends of a transfer.
    fn tell_both(&self, t: &Transfer, ev: FileEvent<'_>, sink: &mut impl Sink) {
        for end in [t.from, t.to] {
            if let Some(u) = self.user(end) {
                sink.one(end, &u.nick, &Event::File(ev));
            }
        }
    }

    fn answer_offer(&mut self, id: ClientId, tid: u64, accept: bool, sink: &mut impl Sink) {
        let nick = self.nick(id).unwrap_or("");
        let Some(t) = self
            .transfers
            .get(&tid)
            .filter(|t| t.to == id && !t.accepted)
        else {
            return sink.one(id, nick, &Event::Fail(Fail::NoSuchTransfer(tid)));
        };
        if !accept {
            self.tell_both(t, FileEvent::Declined(tid), sink);
            self.transfers.remove(&tid);
            return;
        }
        self.tell_both(t, FileEvent::Accepted(tid), sink);
        if t.size == 0 {
            self.tell_both(t, FileEvent::Done(tid), sink);
            self.transfers.remove(&tid);
        } else if let Some(t) = self.transfers.get_mut(&tid) {
            t.accepted = true;
        }
    }

    fn cancel(&mut self, id: ClientId, tid: u64, sink: &mut impl Sink) {
        let nick = self.nick(id).unwrap_or("");
        match self
            .transfers
            .get(&tid)
            .filter(|t| t.from == id || t.to == id)
        {
            Some(t) => {
                self.tell_both(
                    t,
                    FileEvent::Abort {
                        id: tid,
                        reason: AbortReason::CancelledBy(nick),
                    },
                    sink,
                );
                self.transfers.remove(&tid);
            }
            None => sink.one(id, nick, &Event::Fail(Fail::NoSuchTransfer(tid))),
        }
    }

    fn abort_transfers_of(&mut self, id: ClientId, reason: AbortReason<'_>, sink: &mut impl Sink) {
        let mine: Vec<u64> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.from == id || t.to == id)
            .map(|(&k, _)| k)
            .collect();
        for tid in mine {
            if let Some(t) = self.transfers.remove(&tid) {
                self.tell_both(&t, FileEvent::Abort { id: tid, reason }, sink);
            }
        }
    }

    /// Aborts every transfer (server shutdown).
    pub fn abort_all_transfers(&mut self, sink: &mut impl Sink) {
        let all: Vec<u64> = self.transfers.keys().copied().collect();
        for tid in all {
            if let Some(t) = self.transfers.remove(&tid) {
                self.tell_both(
                    &t,
                    FileEvent::Abort {
                        id: tid,
                        reason: AbortReason::ShuttingDown,
                    },
                    sink,
                );
            }
        }
    }

    /// Where a data frame of `len` bytes from `id` for transfer `tid` goes. A frame that would
    /// pass the offered size aborts the transfer.
    pub fn route_data(&mut self, id: ClientId, tid: u64, len: u64, sink: &mut impl Sink) -> Route {
        match self.transfers.get(&tid) {
            Some(t) if t.from == id && t.accepted => {
                if t.sent + len > t.size {
                    self.tell_both(
                        t,
                        FileEvent::Abort {
                            id: tid,
                            reason: AbortReason::TooMuchData,
                        },
                        sink,
                    );
                    self.transfers.remove(&tid);
                    return Route::Refused("more bytes than offered; the transfer is aborted");
                }
                Route::To(t.to)
            }
            Some(t) if t.from == id => Route::Refused("the transfer is not accepted yet"),
            _ => Route::Refused("no such transfer of yours"),
        }
    }

    /// Whether a transfer is still going (it may have been cancelled mid-frame).
    pub fn transfer_active(&self, tid: u64) -> bool {
        self.transfers.contains_key(&tid)
    }

    /// Counts `len` bytes forwarded; tells both ends when the file is complete.
    pub fn data_forwarded(&mut self, tid: u64, len: u64, sink: &mut impl Sink) {
        let Some(t) = self.transfers.get_mut(&tid) else {
            return;
        };
        t.sent += len;
        if t.sent == t.size {
            if let Some(t) = self.transfers.remove(&tid) {
                self.tell_both(&t, FileEvent::Done(tid), sink);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.offers.front().map(|&(at, _)| at)
    }

    /// Expires unanswered offers whose time has come.
    pub fn expire(&mut self, now: Instant, sink: &mut impl Sink) {
        while let Some(&(at, tid)) = self.offers.front() {
            if at > now {
                break;
            }
            self.offers.pop_front();
            if let Some(t) = self.transfers.get(&tid).filter(|t| !t.accepted) {
                self.tell_both(t, FileEvent::Expired(tid), sink);
                self.transfers.remove(&tid);
            }
        }
    }

    /// Names for the nick rules, for callers that validate before registering.
    pub fn check_nick(nick: &str) -> Result<(), names::NameError> {
        check_nick(nick)
    }
}
