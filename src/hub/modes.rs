//! Modes: a room's flags, key, limit, roles and mask lists; a user's own modes.

use super::*;

/// Whether `mask_of_user` is on `room`'s list `list`.
pub(super) fn listed(room: &Room, list: ListMode, mask_of_user: &str) -> bool {
    room.masks
        .iter()
        .any(|e| e.list == list && masks::matches(&e.folded, mask_of_user))
}

impl Hub {
    pub(super) fn show_modes(&mut self, id: ClientId, name: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name)));
        };
        let r = &self.rooms[room];
        let reply = Reply::RoomModes {
            room: &r.name,
            modes: r.mode_set(),
            show_key: self.is_member(room, id) || me.has(UserMode::Oper),
            created: r.created,
        };
        sink.one(id, me.nick(), &Event::Reply(reply));
    }

    pub(super) fn mask_list(
        &mut self,
        id: ClientId,
        name: &str,
        list: ListMode,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name)));
        };
        let r = &self.rooms[room];
        let entries: Vec<(&str, &str, u64)> = r
            .masks
            .iter()
            .filter(|e| e.list == list)
            .map(|e| (&*e.mask, &*e.by, e.at))
            .collect();
        let reply = Reply::MaskList {
            room: &r.name,
            list,
            entries: &entries,
        };
        sink.one(id, me.nick(), &Event::Reply(reply));
    }

    /// Room operators (and server operators) change modes; what was applied is told to the
    /// room once, as typed changes the codecs write.
    pub(super) fn room_mode(
        &mut self,
        id: ClientId,
        name: &str,
        changes: &[ModeChange<'_>],
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) else {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(name)));
        };
        if changes.is_empty() {
            return;
        }
        if !self.is_op(room, id) && !me.has(UserMode::Oper) {
            let r = &self.rooms[room];
            return sink.one(id, me.nick(), &Event::Fail(Fail::NotOperator(&r.name)));
        }
        let by = format!("{}!{}@{}", me.nick(), me.username(), me.host);
        // What was applied, in the order asked: a change as given, a member change by user,
        // or a mask change by its index in `stored` (masks are told as stored).
        enum Done {
            Change(usize),
            Member(bool, Role, ClientId),
            Mask(bool, ListMode, usize),
        }
        let mut done: Vec<Done> = Vec::with_capacity(changes.len());
        let mut stored: Vec<String> = Vec::new();
        // Bans set and lifted, as stored, for a registered room to keep.
        let mut bans: Vec<(bool, Box<str>)> = Vec::new();
        for (i, &change) in changes.iter().enumerate() {
            match change {
                ModeChange::Flag(on, flag) => {
                    let r = &mut self.rooms[room];
                    if r.has(flag) != on {
                        r.flags ^= flag.bit();
                        done.push(Done::Change(i));
                    }
                }
                ModeChange::Key(key) => {
                    let r = &mut self.rooms[room];
                    if r.key.as_deref() != key {
                        r.key = key.map(Into::into);
                        done.push(Done::Change(i));
                    }
                }
                ModeChange::Limit(limit) => {
                    let r = &mut self.rooms[room];
                    if r.limit != limit {
                        r.limit = limit;
                        done.push(Done::Change(i));
                    }
                }
                ModeChange::Member(on, role, nick) => {
                    let me = self.nick(id).unwrap_or("*");
                    let Some(who) = self.user_id(nick) else {
                        sink.one(id, me, &Event::Fail(Fail::NoSuchNick(nick)));
                        continue;
                    };
                    let Some(roles) = self.roles(room, who) else {
                        let f = Fail::UserNotInRoom(nick, &self.rooms[room].name);
                        sink.one(id, me, &Event::Fail(f));
                        continue;
                    };
                    let bit = if role == Role::Op { OP } else { VOICE };
                    if (roles & bit != 0) != on {
                        self.set_role(room, who, bit, on);
                        done.push(Done::Member(on, role, who));
                    }
                }
                ModeChange::List(on, list, mask) => {
                    let mask = masks::normalize(mask);
                    let folded = masks::fold_nick(&mask, self.cfg.names);
                    let at = self.now.unix_secs();
                    let r = &mut self.rooms[room];
                    let pos = r
                        .masks
                        .iter()
                        .position(|e| e.list == list && e.folded.eq_ignore_ascii_case(&folded));
                    let full = r.masks.iter().filter(|e| e.list == list).count() >= MASKS_MAX;
                    match (on, pos) {
                        (true, None) if !full => r.masks.push(MaskEntry {
                            list,
                            mask: mask.as_str().into(),
                            folded: folded.into(),
                            by: by.as_str().into(),
                            at,
                        }),
                        (false, Some(pos)) => {
                            let gone = r.masks.remove(pos);
                            if list == ListMode::Ban {
                                bans.push((false, gone.mask));
                            }
                        }
                        _ => continue,
                    }
                    if on && list == ListMode::Ban {
                        bans.push((true, mask.as_str().into()));
                    }
                    done.push(Done::Mask(on, list, stored.len()));
                    stored.push(mask);
                }
            }
        }
        if done.is_empty() {
            return;
        }
        if done.iter().any(|d| matches!(d, Done::Change(_))) {
            self.keep_modes(room, sink);
        }
        let at = self.now.unix_secs();
        for (on, mask) in &bans {
            self.keep_ban(room, *on, mask, &by, at, sink);
        }
        let applied: Vec<ModeChange<'_>> = done
            .iter()
            .filter_map(|d| match *d {
                Done::Change(i) => Some(changes[i]),
                Done::Member(on, role, who) => Some(ModeChange::Member(on, role, self.nick(who)?)),
                Done::Mask(on, list, i) => Some(ModeChange::List(on, list, &stored[i])),
            })
            .collect();
        let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        let ev = Event::ModeChanged {
            by: me.source(),
            room: &r.name,
            changes: &applied,
        };
        sink.many(&r.members, None, &ev);
        let at = self.now.unix_secs();
        self.share_room(
            room,
            id,
            RoomEffect::Modes {
                changes: &applied,
                at,
            },
            sink,
        );
    }

    pub(super) fn user_mode(
        &mut self,
        id: ClientId,
        target: &str,
        changes: Option<&[(bool, UserMode)]>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        match self.user_id(target) {
            None => return sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(target))),
            Some(other) if other != id => {
                return sink.one(id, me.nick(), &Event::Fail(Fail::UsersDontMatch))
            }
            Some(_) => {}
        }
        let Some(changes) = changes else {
            return sink.one(id, me.nick(), &Event::Reply(Reply::UserModes(me.modes)));
        };
        let mut modes = me.modes;
        let mut applied = Vec::new();
        for &(on, mode) in changes {
            // Only OPER makes an operator; anyone may stop being one.
            if mode == UserMode::Oper && on {
                continue;
            }
            if (modes & mode.bit() != 0) != on {
                modes ^= mode.bit();
                applied.push((on, mode));
            }
        }
        if applied.is_empty() {
            return;
        }
        let was = me.modes;
        let ev = Event::UserModeChanged {
            who: me.source(),
            changes: &applied,
        };
        sink.one(id, me.nick(), &ev);
        let bit = |m: UserMode, bits: u8| usize::from(bits & m.bit() != 0);
        self.oper_count = self.oper_count + bit(UserMode::Oper, modes) - bit(UserMode::Oper, was);
        self.invisible_count =
            self.invisible_count + bit(UserMode::Invisible, modes) - bit(UserMode::Invisible, was);
        if let Some(me) = self.user_mut(id) {
            me.modes = modes;
        }
        self.net_presence(id, sink);
    }
}
