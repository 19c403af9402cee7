//! Rooms: joining and leaving, listings, topics, kicks and invitations.

use super::*;

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
        let rules = self.cfg.names;
        if let Err(e) = rules.check_room(name) {
            return sink.one(id, me.nick(), &Event::Fail(Fail::BadRoom(name, e)));
        }
        let existing = self.room_id(name);
        if let Some(room) = existing.filter(|&r| self.is_member(r, id)) {
            let r = &self.rooms[room];
            let reply = Reply::CurrentRoom(Some(&r.name));
            sink.one(id, me.nick(), &Event::Reply(reply));
            if let Some(me) = self.user_mut(id) {
                me.set_current(Some(room as u32));
            }
            return;
        }
        if me.rooms.len() >= self.cfg.max_rooms_per_user {
            let fail = Fail::TooManyRooms(name, self.cfg.max_rooms_per_user);
            return sink.one(id, me.nick(), &Event::Fail(fail));
        }
        // A room other nodes may have: its state is gathered first (the join waits).
        if existing.is_none() && self.net_sync_room(id, name, key, tell_self, sink) {
            return;
        }
        let Some(me) = self.user(id) else { return };
        // In a registered room, roles come from its access lists (nobody gets ops for being
        // first), and those with ops there pass its key, limit, +i and bans.
        let registered = self.registered_roles(&rules.fold(name), id);
        // On a network the founder is decided network-wide (its founding key).
        let grant = registered.or(self.net_grant());
        let room = match existing {
            Some(room) => {
                let key_of = &self.rooms[room].keys.key();
                if !self.passes_registered(key_of, id) {
                    if let Some(fail) = self.may_join(room, id, key) {
                        return sink.one(id, me.nick(), &Event::Fail(fail));
                    }
                }
                self.add_member(room, id, grant.unwrap_or(0));
                room
            }
            None if self.rooms.len() >= self.cfg.max_rooms => {
                return sink.one(id, me.nick(), &Event::Fail(Fail::TooManyRooms(name, 0)));
            }
            None => {
                // A new room: filed under its key and its skeleton, unless it looks like one
                // that exists (named only to those who may see that room).
                let keys = match rules.room(name) {
                    Ok(keys) => keys,
                    Err(e) => return sink.one(id, me.nick(), &Event::Fail(Fail::BadRoom(name, e))),
                };
                if let Some(&other) = self.room_skeletons.get(keys.skeleton()) {
                    let like = Some(&*self.rooms[other].name).filter(|_| self.visible(other, id));
                    let fail = Fail::RoomLooksLike(name, like);
                    return sink.one(id, me.nick(), &Event::Fail(fail));
                }
                let (room_key, skeleton): (Box<str>, Box<str>) =
                    (keys.key().into(), keys.skeleton().into());
                let room = self.rooms.insert(Room {
                    name: name.into(),
                    keys,
                    members: Vec::new(),
                    roles: Vec::new(),
                    ops: Vec::new(),
                    topic: None,
                    created: self.now.unix_secs(),
                    flags: RoomFlag::TopicOps.bit() | RoomFlag::NoOutside.bit(),
                    key: None,
                    limit: None,
                    masks: Vec::new(),
                });
                self.by_room.insert(room_key.clone(), room);
                self.room_skeletons.insert(skeleton, room);
                self.restore_live(room);
                // A registered room keeps its key, limit, +i and bans while it is empty.
                let check = registered.is_some() && !self.passes_registered(&room_key, id);
                if let Some(fail) = check.then(|| self.may_join(room, id, key)).flatten() {
                    sink.one(id, self.nick(id).unwrap_or("*"), &Event::Fail(fail));
                    return self.forget_empty_room(room);
                }
                self.add_member(room, id, grant.unwrap_or(OP));
                room
            }
        };
        self.share_join(id, room, sink);
        let key = Box::<str>::from(self.rooms[room].keys.key());
        let Some(me) = self.user_mut(id) else { return };
        me.set_current(Some(room as u32));
        if me.extra().invited_to.contains(&key) {
            me.with_extra(|e| e.invited_to.retain(|r| *r != key));
        }
        let Some(me) = self.user(id) else { return };
        let r = &self.rooms[room];
        let ev = Event::Joined {
            who: me.source(),
            room: &r.name,
        };
        let quiet = r.members.len() > self.cfg.quiet_room_size;
        let granted = registered.unwrap_or(0);
        if !quiet {
            sink.many(&r.members, (!tell_self).then_some(id), &ev);
            self.announce_roles(room, id, granted, sink);
            if let Some(away) = me.away() {
                let away = Event::Extra(Extra::Away {
                    who: me.source(),
                    text: Some(away),
                    monitor: false,
                });
                sink.many(&r.members, Some(id), &away);
            }
        } else if tell_self {
            sink.one(id, me.nick(), &ev);
        }
        if me.room_details {
            if let Some(topic) = &r.topic {
                let reply = Reply::Topic {
                    room: &r.name,
                    topic: Some(topic.info()),
                };
                sink.one(id, me.nick(), &Event::Reply(reply));
            }
            self.tell_read_mark(id, &r.name, sink);
            if quiet {
                self.short_members_reply(id, room, sink);
            } else {
                self.names_reply(id, room, true, sink);
            }
        }
        // After the join and the member list, so the room is open where the lines land.
        if let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) {
            let room = RoomRef {
                name: &r.name,
                key: r.keys.key(),
            };
            sink.joined_room(id, me.nick(), room);
        }
    }

    /// Takes a room with no members out of the slab and the maps.
    pub(super) fn forget_empty_room(&mut self, room: RoomId) {
        if !self.rooms.get(room).is_some_and(|r| r.members.is_empty()) {
            return;
        }
        let r = self.rooms.remove(room);
        if self.by_room.get(r.keys.key()) == Some(&room) {
            self.by_room.remove(r.keys.key());
        }
        if self.room_skeletons.get(r.keys.skeleton()) == Some(&room) {
            self.room_skeletons.remove(r.keys.skeleton());
        }
        self.net_room_removed(room);
    }

    /// Why `id` may not join `room` with `key`, if it may not.
    fn may_join(&self, room: RoomId, id: ClientId, key: Option<&str>) -> Option<Fail<'_>> {
        let (r, me) = (&self.rooms[room], self.user(id)?);
        let invited = me.extra().invited_to.iter().any(|i| **i == *r.keys.key());
        let mask = self.mask_of(id);
        let listed = |list| super::modes::listed(r, list, &mask);
        if r.key.as_deref().is_some_and(|k| key != Some(k)) {
            Some(Fail::BadKey(&r.name))
        } else if r.limit.is_some_and(|l| r.members.len() >= l) && !invited {
            Some(Fail::RoomFull(&r.name))
        } else if r.has(RoomFlag::InviteOnly) && !invited && !listed(ListMode::InviteExcept) {
            Some(Fail::InviteOnly(&r.name))
        } else if listed(ListMode::Ban) && !listed(ListMode::Except) && !invited {
            Some(Fail::Banned(&r.name))
        } else {
            None
        }
    }

    /// `nick!user@host` of a user as masks match it, the nick folded by the name rules (as
    /// each mask's nick part is: see `MaskEntry::folded`).
    pub(super) fn mask_of(&self, id: ClientId) -> String {
        self.user(id)
            .map(|u| format!("{}!{}@{}", u.key(), u.username(), u.host))
            .unwrap_or_default()
    }

    pub(super) fn part_one(
        &mut self,
        id: ClientId,
        name: &str,
        reason: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(name).filter(|&r| self.is_member(r, id)) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NotInRoom(name)));
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
            sink.one(id, me.nick(), &ev);
        }
        self.share_room(room, id, RoomEffect::Part { reason }, sink);
        self.leave(id, room, sink);
    }

    /// Takes `id` out of `room`; a native user hears which room is now current.
    pub(super) fn leave(&mut self, id: ClientId, room: RoomId, sink: &mut impl Sink) {
        let was_current = self.user(id).is_some_and(|u| u.current() == Some(room));
        self.remove_member(room, id);
        let Some(me) = self.user_mut(id) else { return };
        if was_current {
            me.set_current(me.rooms.last().map(|m| m.room));
            let Some(me) = self.user(id) else { return };
            let current = me
                .current()
                .and_then(|r| self.rooms.get(r))
                .map(|r| &*r.name);
            sink.one(id, me.nick(), &Event::Reply(Reply::CurrentRoom(current)));
        }
    }

    /// Whether `id` may see that `room` exists and who is in it (a secret room only to its
    /// members and server operators).
    pub(super) fn visible(&self, room: RoomId, id: ClientId) -> bool {
        let Some(r) = self.rooms.get(room) else {
            return false;
        };
        !r.has(RoomFlag::Secret) || self.is_member(room, id) || self.is_oper(id)
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
                for (room, r) in &self.rooms {
                    if self.visible(room, id) {
                        sink.one(id, me.nick(), &entry(r));
                        count += 1;
                    }
                }
            }
            // ELIST U: rooms with more (`>N`) or fewer (`<N`) members than N.
            Some(filter) if filter.starts_with(['<', '>']) => {
                let n: usize = filter[1..].trim().parse().unwrap_or(0);
                let more = filter.starts_with('>');
                for (room, r) in &self.rooms {
                    let members = r.members.len();
                    let fits = if more { members > n } else { members < n };
                    if fits && self.visible(room, id) {
                        sink.one(id, me.nick(), &entry(r));
                        count += 1;
                    }
                }
            }
            // ELIST M and N: rooms whose name matches (or, after `!`, does not match) a glob.
            Some(filter) if filter.contains(['*', '?']) || filter.starts_with('!') => {
                let (negated, mask) = match filter.strip_prefix('!') {
                    Some(mask) => (true, mask),
                    None => (false, filter),
                };
                for (room, r) in &self.rooms {
                    if masks::matches(mask, &r.name) != negated && self.visible(room, id) {
                        sink.one(id, me.nick(), &entry(r));
                        count += 1;
                    }
                }
            }
            Some(names) => {
                for name in names.split(',') {
                    if let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) {
                        sink.one(id, me.nick(), &entry(&self.rooms[room]));
                        count += 1;
                    }
                }
            }
        }
        if self.net.is_some() {
            count += self.list_remote(id, |name, members| remote_fits(filter, name, members), sink);
        }
        let end = Event::Reply(Reply::RoomListEnd { count });
        sink.one(id, me.nick(), &end);
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
            Some(name) => match self.room_id(name).filter(|&r| self.visible(r, id)) {
                Some(room) => room,
                None => return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name))),
            },
            None => match me.current() {
                Some(room) => room,
                None => return sink.one(id, me.nick(), &Event::Fail(Fail::NoRoom)),
            },
        };
        self.members_reply(id, room, names, sink);
    }

    /// One member as listings show it.
    pub(super) fn member(&self, id: ClientId, roles: u8) -> Option<Member<'_>> {
        let u = self.user(id)?;
        Some(Member {
            nick: u.nick(),
            user: u.username(),
            host: &u.host,
            realname: u.realname(),
            op: roles & OP != 0,
            voice: roles & VOICE != 0,
            away: u.away().is_some(),
            oper: u.has(UserMode::Oper),
            bot: u.has(UserMode::Bot),
            account: u.account(),
        })
    }

    /// Every member of `room` in NAMES form; `end`: with the end of the list.
    pub(super) fn names_reply(&self, id: ClientId, room: RoomId, end: bool, sink: &mut impl Sink) {
        let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        let members: Vec<Member<'_>> = r
            .members
            .iter()
            .zip(&r.roles)
            .filter_map(|(&m, &roles)| self.member(m, roles))
            .collect();
        let reply = Extra::Names {
            room: &r.name,
            members: &members,
            secret: r.has(RoomFlag::Secret),
            more: 0,
            end,
        };
        sink.one(id, me.nick(), &Event::Extra(reply));
    }

    /// Every member of `room`: O(members), once.
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
            .zip(&r.roles)
            .filter_map(|(&m, &roles)| self.member(m, roles))
            .collect();
        let reply = Reply::Members {
            room: &r.name,
            members: &members,
            names,
            more: 0,
        };
        sink.one(id, me.nick(), &Event::Reply(reply));
    }

    /// A quiet room's member list for a joiner: its operators and the joiner, and how many
    /// more there are (the full list is for whoever asks for it).
    fn short_members_reply(&self, id: ClientId, room: RoomId, sink: &mut impl Sink) {
        let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        let joiner = (!self.is_op(room, id)).then_some(id);
        let members: Vec<Member<'_>> = r
            .ops
            .iter()
            .chain(joiner.as_ref())
            .filter_map(|&m| self.member(m, self.roles(room, m)?))
            .collect();
        let reply = Extra::Names {
            room: &r.name,
            members: &members,
            secret: r.has(RoomFlag::Secret),
            more: r.members.len() - members.len(),
            end: true,
        };
        sink.one(id, me.nick(), &Event::Extra(reply));
    }

    /// IRC's WHO: a room's members (if visible), one user by nick (always), or every user
    /// whose nick matches the glob `mask`, save invisible ones who share no room with the
    /// caller.
    pub(super) fn who_mask(
        &mut self,
        id: ClientId,
        mask: &str,
        fields: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let mut room_name = None;
        let mut found: Vec<Member<'_>> = Vec::new();
        if let Some(room) = self.room_id(mask) {
            if self.visible(room, id) {
                let r = &self.rooms[room];
                room_name = Some(&*r.name);
                found = r
                    .members
                    .iter()
                    .zip(&r.roles)
                    .filter_map(|(&m, &roles)| self.member(m, roles))
                    .collect();
            }
        } else if let Some(one) = self.user_id(mask).and_then(|u| self.member(u, 0)) {
            found.push(one);
        } else if mask.contains(['*', '?']) && !mask.starts_with('#') {
            let mine: Vec<RoomId> = self.rooms_of(id);
            let me_oper = me.has(UserMode::Oper);
            for u in self.by_nick.ids() {
                let Some(user) = self.user(u) else { continue };
                if !masks::matches(mask, user.nick()) {
                    continue;
                }
                let shares = || mine.iter().any(|&r| self.is_member(r, u));
                if u != id && user.has(UserMode::Invisible) && !me_oper && !shares() {
                    continue;
                }
                if let Some(m) = self.member(u, 0) {
                    found.push(m);
                }
                if found.len() >= WHO_MAX {
                    break;
                }
            }
        }
        let reply = Extra::Who {
            mask,
            room: room_name,
            members: &found,
            fields,
        };
        sink.one(id, me.nick(), &Event::Extra(reply));
    }

    /// IRC's NAMES: each room named (an unknown or secret one lists no one), with one end
    /// for them all, or the caller's rooms.
    pub(super) fn names(&mut self, id: ClientId, rooms: Option<&str>, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        match rooms {
            None => {
                for room in self.rooms_of(id) {
                    self.names_reply(id, room, true, sink);
                }
            }
            Some(names) => {
                for name in names.split(',').filter(|n| !n.is_empty()).take(NAMES_MAX) {
                    if let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) {
                        self.names_reply(id, room, false, sink);
                    }
                }
                let end = Event::Extra(Extra::EndOfNames(names));
                sink.one(id, me.nick(), &end);
            }
        }
    }

    /// KNOCK: a user outside a room that it may not join asks its operators to be invited.
    pub(super) fn knock(
        &mut self,
        id: ClientId,
        name: &str,
        text: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name)));
        };
        let r = &self.rooms[room];
        if self.is_member(room, id) {
            let fail = Fail::UserInRoom(me.nick(), &r.name);
            return sink.one(id, me.nick(), &Event::Fail(fail));
        }
        if self.may_join(room, id, None).is_none() {
            // Open to the caller already: nothing to ask for.
            return sink.one(id, me.nick(), &Event::Extra(Extra::Knocked(&r.name)));
        }
        let ops = r.ops.clone();
        let text = text.unwrap_or("has asked for an invite");
        let ev = Event::Extra(Extra::Knock {
            who: me.source(),
            room: &r.name,
            text,
        });
        sink.many(&ops, None, &ev);
        self.share_room(room, id, RoomEffect::Knock { text }, sink);
        sink.one(id, me.nick(), &Event::Extra(Extra::Knocked(&r.name)));
    }

    pub(super) fn topic(
        &mut self,
        id: ClientId,
        room: Option<&str>,
        text: Option<&str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let room = match room.map(|n| (n, self.room_id(n).filter(|&r| self.visible(r, id)))) {
            Some((_, Some(room))) => room,
            Some((name, None)) => {
                return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name)))
            }
            None => match me.current() {
                Some(room) => room,
                None => return sink.one(id, me.nick(), &Event::Fail(Fail::NoRoom)),
            },
        };
        let r = &self.rooms[room];
        let Some(text) = text else {
            let reply = Reply::Topic {
                room: &r.name,
                topic: r.topic.as_ref().map(Topic::info),
            };
            return sink.one(id, me.nick(), &Event::Reply(reply));
        };
        let oper = me.has(UserMode::Oper);
        if !self.is_member(room, id) && !oper {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NotInRoom(&r.name)));
        }
        if r.has(RoomFlag::TopicOps) && !self.is_op(room, id) && !oper {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NotOperator(&r.name)));
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
        let at_ms = self.now.unix_ms;
        self.share_room(room, id, RoomEffect::Topic { text, at_ms }, sink);
        let by = format!("{}!{}@{}", me.nick(), me.username(), me.host).into_boxed_str();
        let at = self.now.unix_secs();
        let r = &mut self.rooms[room];
        r.topic = (!text.is_empty()).then(|| Topic {
            text: text.into(),
            by,
            at,
        });
        self.net_topic_set(room);
        self.keep_topic(room, sink);
    }

    /// KICK: one room and several nicks, or as many rooms as nicks, paired in order; at most
    /// [`KICK_MAX`] pairs.
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
        if pairs.len() > KICK_MAX {
            let me = self.nick(id).unwrap_or("*");
            let fail = Fail::TooManyTargets(nicks.get(KICK_MAX).copied().unwrap_or("*"), KICK_MAX);
            return sink.one(id, me, &Event::Fail(fail));
        }
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
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name)));
        };
        let r = &self.rooms[room];
        if !me.has(UserMode::Oper) {
            if !self.is_member(room, id) {
                return sink.one(id, me.nick(), &Event::Fail(Fail::NotInRoom(&r.name)));
            }
            if !self.is_op(room, id) {
                return sink.one(id, me.nick(), &Event::Fail(Fail::NotOperator(&r.name)));
            }
        }
        let Some(victim) = self.user_id(nick) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(nick)));
        };
        if !self.is_member(room, victim) {
            let fail = Fail::UserNotInRoom(nick, &r.name);
            return sink.one(id, me.nick(), &Event::Fail(fail));
        }
        let reason = reason.filter(|r| !r.is_empty()).unwrap_or(me.nick());
        let ev = Event::Kicked {
            by: me.source(),
            room: &r.name,
            victim: self.nick(victim).unwrap_or(nick),
            reason,
        };
        sink.many(&r.members, None, &ev);
        if let Some(victim) = self.uid(victim) {
            self.share_room(room, id, RoomEffect::Kick { victim, reason }, sink);
        }
        self.leave(victim, room, sink);
    }

    /// The rooms `id` is invited to and has not joined yet (INVITE without parameters).
    pub(super) fn invite_list(&mut self, id: ClientId, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let rooms: Vec<&str> = me
            .extra()
            .invited_to
            .iter()
            .filter_map(|folded| self.by_room.get(folded))
            .filter_map(|&room| self.rooms.get(room))
            .map(|r| &*r.name)
            .collect();
        sink.one(id, me.nick(), &Event::Extra(Extra::InviteList(&rooms)));
    }

    pub(super) fn invite(&mut self, id: ClientId, nick: &str, name: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let Some(guest) = self.user_id(nick) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(nick)));
        };
        let mut shown = name;
        if let Some(room) = self.room_id(name) {
            let r = &self.rooms[room];
            shown = &r.name;
            if !self.is_member(room, id) {
                return sink.one(id, me.nick(), &Event::Fail(Fail::NotInRoom(&r.name)));
            }
            if r.has(RoomFlag::InviteOnly) && !self.is_op(room, id) {
                return sink.one(id, me.nick(), &Event::Fail(Fail::NotOperator(&r.name)));
            }
            if self.is_member(room, guest) {
                return sink.one(id, me.nick(), &Event::Fail(Fail::UserInRoom(nick, &r.name)));
            }
        } else if let Err(e) = self.cfg.names.check_room(name) {
            return sink.one(id, me.nick(), &Event::Fail(Fail::BadRoom(name, e)));
        }
        let Some(g) = self.user(guest) else { return };
        let reply = Reply::Inviting {
            who: g.nick(),
            room: shown,
        };
        sink.one(id, me.nick(), &Event::Reply(reply));
        let ev = Event::Invited {
            by: me.source(),
            who: g.nick(),
            room: shown,
        };
        sink.one(guest, g.nick(), &ev);
        if is_remote(guest) {
            self.share_direct(id, guest, DirectEffect::Invite { room: shown }, sink);
        }
        // The room's members hear of it too where their protocol shows it (invite-notify).
        if let Some(r) = self.room_id(name).and_then(|room| self.rooms.get(room)) {
            sink.many(&r.members, Some(id), &ev);
        }
        if let Some(away) = g.away() {
            let reply = Reply::Away {
                nick: g.nick(),
                text: away,
            };
            sink.one(id, me.nick(), &Event::Reply(reply));
        }
        let folded = self.cfg.names.fold(name);
        if let Some(g) = self.user_mut(guest) {
            g.with_extra(|e| {
                if !e.invited_to.contains(&folded) {
                    if e.invited_to.len() >= INVITES_MAX {
                        e.invited_to.remove(0);
                    }
                    e.invited_to.push(folded);
                }
            });
        }
    }
}

/// Whether a room only other nodes have fits LIST's filter (as the local rooms do).
fn remote_fits(filter: Option<&str>, name: &str, members: usize) -> bool {
    match filter {
        None => true,
        Some(f) if f.starts_with(['<', '>']) => {
            let n: usize = f[1..].trim().parse().unwrap_or(0);
            if f.starts_with('>') {
                members > n
            } else {
                members < n
            }
        }
        Some(f) if f.contains(['*', '?']) || f.starts_with('!') => match f.strip_prefix('!') {
            Some(mask) => !masks::matches(mask, name),
            None => masks::matches(f, name),
        },
        Some(names) => names.split(',').any(|n| n.eq_ignore_ascii_case(name)),
    }
}

/// Most users one WHO mask lists.
pub const WHO_MAX: usize = 200;
/// Most rooms one NAMES names.
pub const NAMES_MAX: usize = 16;

/// Most (room, nick) pairs one KICK may name.
pub const KICK_MAX: usize = 4;
