//! Rooms: joining and leaving, listings, topics, kicks, invitations and modes.

use super::*;

/// A room's modes (IRC `+t +n +i +m +k +l`); new rooms are `+nt`.
#[derive(Debug, Clone, Default)]
pub(super) struct RoomModes {
    /// +t: only room operators set the topic.
    pub(super) topic_ops: bool,
    /// +n: no messages from outside the room.
    pub(super) no_outside: bool,
    /// +i: joining needs an invitation.
    pub(super) invite_only: bool,
    /// +m: only operators and voiced members speak.
    pub(super) moderated: bool,
    /// +k
    pub(super) key: Option<Box<str>>,
    /// +l
    pub(super) limit: Option<usize>,
}

impl RoomModes {
    /// As `+imntkl KEY LIMIT`; the key is shown as `*` to those outside the room.
    pub(super) fn describe(&self, show_key: bool) -> String {
        let mut flags = String::from("+");
        let mut params = String::new();
        for (on, c) in [
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_outside, 'n'),
            (self.topic_ops, 't'),
        ] {
            if on {
                flags.push(c);
            }
        }
        if let Some(key) = &self.key {
            flags.push('k');
            params.push(' ');
            params.push_str(if show_key { key } else { "*" });
        }
        if let Some(limit) = self.limit {
            flags.push('l');
            params.push(' ');
            params.push_str(&limit.to_string());
        }
        flags + &params
    }
}

impl Hub {
    pub(super) fn join_one(
        &mut self,
        id: ClientId,
        name: &str,
        key: Option<&str>,
        tell_self: bool,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        if let Err(e) = check_room(name) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::BadRoom(name, e)));
        }
        let folded = fold(name);
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
                let r = &self.rooms[room];
                let invited = me.invited_to.contains(&folded);
                let fail = if r.modes.key.as_deref().is_some_and(|k| key != Some(k)) {
                    Some(Fail::BadKey(&r.name))
                } else if r.modes.limit.is_some_and(|l| r.members.len() >= l) {
                    Some(Fail::RoomFull(&r.name))
                } else if r.modes.invite_only && !invited {
                    Some(Fail::InviteOnly(&r.name))
                } else {
                    None
                };
                if let Some(fail) = fail {
                    return sink.one(id, &me.nick, &Event::Fail(fail));
                }
                self.rooms[room].members.push(id);
                room
            }
            None => {
                let room = self.rooms.insert(Room {
                    name: name.into(),
                    members: vec![id],
                    ops: vec![id],
                    voiced: Vec::new(),
                    topic: None,
                    created: self.now.unix_secs(),
                    modes: RoomModes {
                        topic_ops: true,
                        no_outside: true,
                        ..RoomModes::default()
                    },
                });
                self.by_room.insert(folded.clone(), room);
                room
            }
        };
        let Some(me) = self.users.get_mut(id).and_then(Option::as_mut) else {
            return;
        };
        me.rooms.push(room);
        me.current = Some(room);
        me.invited_to.retain(|r| *r != folded);
        let Some(me) = self.user(id) else { return };
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
        if me.room_details {
            let reply = Reply::Topic {
                room: &r.name,
                topic: r.topic.as_ref().map(Topic::info),
            };
            sink.one(id, &me.nick, &Event::Reply(reply));
            self.members_reply(id, room, true, sink);
        }
    }

    pub(super) fn part_one(
        &mut self,
        id: ClientId,
        name: &str,
        reason: Option<&str>,
        sink: &mut impl Sink,
    ) {
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
        self.leave(id, room, sink);
    }

    /// Takes `id` out of `room`; a native user hears which room is now current.
    pub(super) fn leave(&mut self, id: ClientId, room: RoomId, sink: &mut impl Sink) {
        let was_current = self.user(id).is_some_and(|u| u.current == Some(room));
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

    pub(super) fn list(&mut self, id: ClientId, filter: Option<&str>, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        fn entry(r: &Room) -> Event<'_> {
            Event::Reply(Reply::RoomEntry {
                room: &r.name,
                count: r.members.len(),
                topic: r.topic.as_ref().map(|t| &*t.text),
            })
        }
        let mut count = 0;
        match filter {
            None => {
                for (_, r) in &self.rooms {
                    sink.one(id, &me.nick, &entry(r));
                }
                count = self.rooms.len();
            }
            Some(names) => {
                for name in names.split(',') {
                    if let Some(room) = self.room_id(name) {
                        sink.one(id, &me.nick, &entry(&self.rooms[room]));
                        count += 1;
                    }
                }
            }
        }
        let end = Event::Reply(Reply::RoomListEnd { count });
        sink.one(id, &me.nick, &end);
    }

    pub(super) fn who(
        &mut self,
        id: ClientId,
        room: Option<&str>,
        names: bool,
        sink: &mut impl Sink,
    ) {
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
        self.members_reply(id, room, names, sink);
    }

    /// Whether `id` may send to `room` (`+n` and `+m`), and if not why.
    pub(super) fn may_speak(&self, room: RoomId, id: ClientId) -> Result<(), &'static str> {
        let Some(r) = self.rooms.get(room) else {
            return Err("no such room");
        };
        if r.modes.no_outside && !r.members.contains(&id) {
            return Err("you are not in it");
        }
        let privileged = r.ops.contains(&id) || r.voiced.contains(&id) || self.is_oper(id);
        if r.modes.moderated && !privileged {
            return Err("the room is moderated");
        }
        Ok(())
    }

    pub(super) fn member(&self, id: ClientId, room: Option<&Room>) -> Option<Member<'_>> {
        let u = self.user(id)?;
        let (op, voice) = room.map_or((false, false), |r| {
            (r.ops.contains(&id), r.voiced.contains(&id))
        });
        Some(Member {
            nick: &u.nick,
            user: &u.user,
            host: &u.host,
            realname: &u.realname,
            op,
            voice,
            away: u.away.is_some(),
        })
    }

    pub(super) fn members_reply(
        &self,
        id: ClientId,
        room: RoomId,
        names: bool,
        sink: &mut impl Sink,
    ) {
        let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        let members: Vec<Member<'_>> = r
            .members
            .iter()
            .filter_map(|&m| self.member(m, Some(r)))
            .collect();
        let reply = Reply::Members {
            room: &r.name,
            members: &members,
            names,
        };
        sink.one(id, &me.nick, &Event::Reply(reply));
    }

    /// IRC's WHO: a room's members, or one user by nick; an unknown mask lists no one.
    pub(super) fn who_mask(&mut self, id: ClientId, mask: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        if let Some(room) = self.room_id(mask) {
            return self.members_reply(id, room, false, sink);
        }
        let one = self
            .by_nick
            .get(&fold(mask))
            .and_then(|&u| self.member(u, None));
        let members = one.as_slice();
        let reply = Reply::Members {
            room: mask,
            members,
            names: false,
        };
        sink.one(id, &me.nick, &Event::Reply(reply));
    }

    /// IRC's NAMES: each room named (an unknown one lists no one), or the caller's rooms.
    pub(super) fn names(&mut self, id: ClientId, rooms: Option<&str>, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        match rooms {
            None => {
                for &room in &me.rooms {
                    self.members_reply(id, room, true, sink);
                }
            }
            Some(names) => {
                for name in names.split(',').filter(|n| !n.is_empty()) {
                    match self.room_id(name) {
                        Some(room) => self.members_reply(id, room, true, sink),
                        None => {
                            let reply = Reply::Members {
                                room: name,
                                members: &[],
                                names: true,
                            };
                            sink.one(id, &me.nick, &Event::Reply(reply));
                        }
                    }
                }
            }
        }
    }

    pub(super) fn topic(
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
                topic: r.topic.as_ref().map(Topic::info),
            };
            return sink.one(id, &me.nick, &Event::Reply(reply));
        };
        if !r.members.contains(&id) && !me.oper {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NotInRoom(&r.name)));
        }
        if r.modes.topic_ops && !r.ops.contains(&id) && !me.oper {
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
        let by: Box<str> = me.nick.clone();
        let r = &mut self.rooms[room];
        r.topic = (!text.is_empty()).then(|| Topic {
            text: text.into(),
            by,
            at: self.now.unix_secs(),
        });
    }

    /// KICK: one room and several nicks, or as many rooms as nicks, paired in order.
    pub(super) fn kick(
        &mut self,
        id: ClientId,
        rooms: &str,
        nicks: &str,
        reason: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let rooms: Vec<&str> = rooms.split(',').filter(|r| !r.is_empty()).collect();
        let nicks: Vec<&str> = nicks.split(',').filter(|n| !n.is_empty()).collect();
        let pairs: Vec<(&str, &str)> = match (rooms.as_slice(), nicks.len()) {
            ([room], _) => nicks.iter().map(|n| (*room, *n)).collect(),
            (rs, n) if rs.len() == n => rs.iter().copied().zip(nicks.iter().copied()).collect(),
            _ => {
                let me = self.nick(id).unwrap_or("*");
                return sink.one(id, me, &Event::Fail(Fail::NeedMoreParams("KICK")));
            }
        };
        for (room, nick) in pairs {
            self.kick_one(id, room, nick, reason, sink);
        }
    }

    pub(super) fn kick_one(
        &mut self,
        id: ClientId,
        name: &str,
        nick: &str,
        reason: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(name) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(name)));
        };
        let r = &self.rooms[room];
        if !me.oper {
            if !r.members.contains(&id) {
                return sink.one(id, &me.nick, &Event::Fail(Fail::NotInRoom(&r.name)));
            }
            if !r.ops.contains(&id) {
                return sink.one(id, &me.nick, &Event::Fail(Fail::NotOperator(&r.name)));
            }
        }
        let Some(&victim) = self.by_nick.get(&*Key::new(nick)) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(nick)));
        };
        if !r.members.contains(&victim) {
            return sink.one(
                id,
                &me.nick,
                &Event::Fail(Fail::UserNotInRoom(nick, &r.name)),
            );
        }
        let ev = Event::Kicked {
            by: me.source(),
            room: &r.name,
            victim: self.nick(victim).unwrap_or(nick),
            reason: reason.filter(|r| !r.is_empty()).unwrap_or(&me.nick),
        };
        sink.many(&r.members, None, &ev);
        self.leave(victim, room, sink);
    }

    pub(super) fn invite(&mut self, id: ClientId, nick: &str, name: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let Some(&guest) = self.by_nick.get(&*Key::new(nick)) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(nick)));
        };
        let mut shown = name;
        if let Some(room) = self.room_id(name) {
            let r = &self.rooms[room];
            shown = &r.name;
            if !r.members.contains(&id) {
                return sink.one(id, &me.nick, &Event::Fail(Fail::NotInRoom(&r.name)));
            }
            if r.modes.invite_only && !r.ops.contains(&id) {
                return sink.one(id, &me.nick, &Event::Fail(Fail::NotOperator(&r.name)));
            }
            if r.members.contains(&guest) {
                return sink.one(id, &me.nick, &Event::Fail(Fail::UserInRoom(nick, &r.name)));
            }
        } else if let Err(e) = check_room(name) {
            return sink.one(id, &me.nick, &Event::Fail(Fail::BadRoom(name, e)));
        }
        let Some(g) = self.user(guest) else { return };
        let reply = Reply::Inviting {
            who: &g.nick,
            room: shown,
        };
        sink.one(id, &me.nick, &Event::Reply(reply));
        let ev = Event::Invited {
            by: me.source(),
            who: &g.nick,
            room: shown,
        };
        sink.one(guest, &g.nick, &ev);
        if let Some(away) = &g.away {
            let reply = Reply::Away {
                nick: &g.nick,
                text: away,
            };
            sink.one(id, &me.nick, &Event::Reply(reply));
        }
        let folded = fold(name);
        if let Some(g) = self.user_mut(guest) {
            if !g.invited_to.contains(&folded) {
                if g.invited_to.len() >= INVITES_MAX {
                    g.invited_to.remove(0);
                }
                g.invited_to.push(folded);
            }
        }
    }

    pub(super) fn user_mode(
        &mut self,
        id: ClientId,
        target: &str,
        changes: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        match self.by_nick.get(&*Key::new(target)) {
            None => return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(target))),
            Some(&other) if other != id => {
                return sink.one(id, &me.nick, &Event::Fail(Fail::UsersDontMatch))
            }
            Some(_) => {}
        }
        let Some(changes) = changes else {
            let modes = match (me.invisible, me.oper) {
                (false, false) => "+",
                (true, false) => "+i",
                (false, true) => "+o",
                (true, true) => "+io",
            };
            return sink.one(id, &me.nick, &Event::Reply(Reply::UserModes(modes)));
        };
        let (mut invisible, mut oper) = (me.invisible, me.oper);
        let mut unknown = false;
        let mut plus = true;
        for c in changes.chars() {
            match c {
                '+' => plus = true,
                '-' => plus = false,
                'i' => invisible = plus,
                // Only OPER makes an operator; anyone may stop being one.
                'o' if !plus => oper = false,
                'o' | 'w' => {}
                _ => unknown = true,
            }
        }
        let mut applied = String::new();
        let mut push = |on: bool, c: char| {
            applied.push(if on { '+' } else { '-' });
            applied.push(c);
        };
        if invisible != me.invisible {
            push(invisible, 'i');
        }
        if oper != me.oper {
            push(oper, 'o');
        }
        if unknown {
            sink.one(id, &me.nick, &Event::Fail(Fail::UnknownUserMode));
        }
        if !applied.is_empty() {
            let ev = Event::UserModeChanged {
                who: me.source(),
                modes: &applied,
            };
            sink.one(id, &me.nick, &ev);
        }
        if me.oper && !oper {
            self.oper_count -= 1;
        }
        if let Some(me) = self.user_mut(id) {
            me.invisible = invisible;
            me.oper = oper;
        }
    }

    /// MODE on a room: without changes, the modes; `b` alone, the (empty) ban list; else
    /// room operators (and server operators) change `t n i k l o`.
    pub(super) fn room_mode(
        &mut self,
        id: ClientId,
        target: &str,
        changes: Option<&str>,
        args: &[&str],
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(target) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(target)));
        };
        let r = &self.rooms[room];
        let Some(changes) = changes else {
            let modes = r.modes.describe(r.members.contains(&id) || me.oper);
            let reply = Reply::RoomModes {
                room: &r.name,
                modes: &modes,
                created: r.created,
            };
            return sink.one(id, &me.nick, &Event::Reply(reply));
        };
        if matches!(changes, "b" | "+b") && args.is_empty() {
            return sink.one(id, &me.nick, &Event::Reply(Reply::EndOfBanList(&r.name)));
        }
        if !r.ops.contains(&id) && !me.oper {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NotOperator(&r.name)));
        }
        let mut modes = r.modes.clone();
        let mut ops = r.ops.clone();
        let mut voiced = r.voiced.clone();
        let (mut flags, mut params) = (String::new(), String::new());
        let mut last_sign = None;
        let mut record = |plus: bool, c: char, param: Option<&str>| {
            if last_sign != Some(plus) {
                flags.push(if plus { '+' } else { '-' });
                last_sign = Some(plus);
            }
            flags.push(c);
            if let Some(p) = param {
                params.push(' ');
                params.push_str(p);
            }
        };
        let mut args = args.iter().copied();
        let mut plus = true;
        for c in changes.chars() {
            match c {
                '+' => plus = true,
                '-' => plus = false,
                't' | 'n' | 'i' | 'm' => {
                    let flag = match c {
                        't' => &mut modes.topic_ops,
                        'n' => &mut modes.no_outside,
                        'm' => &mut modes.moderated,
                        _ => &mut modes.invite_only,
                    };
                    if *flag != plus {
                        *flag = plus;
                        record(plus, c, None);
                    }
                }
                'k' if plus => {
                    let Some(key) = args.next() else {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NeedMoreParams("MODE")));
                        continue;
                    };
                    if key.is_empty() || key.len() > KEY_MAX || key.contains([',', ':', ' ']) {
                        continue;
                    }
                    modes.key = Some(key.into());
                    record(true, 'k', Some(key));
                }
                'k' => {
                    args.next();
                    if modes.key.take().is_some() {
                        record(false, 'k', Some("*"));
                    }
                }
                'l' if plus => {
                    let Some(arg) = args.next() else {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NeedMoreParams("MODE")));
                        continue;
                    };
                    let Some(limit) = arg.parse::<usize>().ok().filter(|&l| l > 0) else {
                        continue;
                    };
                    modes.limit = Some(limit);
                    record(true, 'l', Some(arg));
                }
                'l' => {
                    if modes.limit.take().is_some() {
                        record(false, 'l', None);
                    }
                }
                'o' | 'v' => {
                    let Some(nick) = args.next() else {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NeedMoreParams("MODE")));
                        continue;
                    };
                    let Some(&who) = self.by_nick.get(&*Key::new(nick)) else {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(nick)));
                        continue;
                    };
                    if !r.members.contains(&who) {
                        let f = Fail::UserNotInRoom(nick, &r.name);
                        sink.one(id, &me.nick, &Event::Fail(f));
                        continue;
                    }
                    let list = if c == 'o' { &mut ops } else { &mut voiced };
                    let has = list.contains(&who);
                    if plus && !has {
                        list.push(who);
                    } else if !plus && has {
                        list.retain(|&o| o != who);
                    } else {
                        continue;
                    }
                    record(plus, c, self.nick(who));
                }
                _ => sink.one(id, &me.nick, &Event::Fail(Fail::UnknownMode(c))),
            }
        }
        if flags.is_empty() {
            return;
        }
        flags.push_str(&params);
        let ev = Event::ModeChanged {
            by: me.source(),
            room: &r.name,
            modes: &flags,
        };
        sink.many(&r.members, None, &ev);
        let r = &mut self.rooms[room];
        r.modes = modes;
        r.ops = ops;
        r.voiced = voiced;
    }
}
