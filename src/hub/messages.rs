//! Messages to rooms and nicks: at most `max_targets` targets a line, each told once.

use super::*;

impl Hub {
    /// Messages to rooms and nicks. A notice never draws an automatic answer (no errors, no
    /// away replies), as IRC requires. A line naming more targets than allowed is refused
    /// whole, before anything is delivered; a target named twice gets one copy.
    pub(super) fn message(
        &mut self,
        id: ClientId,
        targets: &str,
        kind: MsgKind,
        text: &str,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let answer = kind != MsgKind::Notice;
        let max = self.cfg.max_targets;
        if let Some(extra) = targets.split(',').filter(|t| !t.is_empty()).nth(max) {
            if answer {
                let fail = Fail::TooManyTargets(extra, max);
                sink.one(id, &me.nick, &Event::Fail(fail));
            }
            return;
        }
        // The recipients, in a buffer kept between messages: no allocation per message.
        let mut nicks = std::mem::take(&mut self.targets);
        nicks.clear();
        let mut rooms = std::mem::take(&mut self.room_targets);
        rooms.clear();
        let meta = self.next_meta();
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            let Some(me) = self.user(id) else { break };
            if target.starts_with('#') {
                let Some(room) = self.room_id(target) else {
                    if answer {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchRoom(target)));
                    }
                    continue;
                };
                // At most `max_targets` rooms: searched linearly.
                if rooms.contains(&room) {
                    continue;
                }
                rooms.push(room);
                self.say_in_room_as(id, room, kind, text, meta, answer, sink);
            } else {
                match self.user_id(target) {
                    Some(to) if !nicks.contains(&to) => nicks.push(to),
                    Some(_) => {}
                    None if answer => {
                        sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(target)))
                    }
                    None => {}
                }
            }
        }
        self.tell_direct(id, &nicks, kind, text, meta, answer, sink);
        self.targets = nicks;
        self.room_targets = rooms;
    }

    /// A plain line or `/me` to a room (native: the current one).
    pub(super) fn say_in_room(
        &mut self,
        id: ClientId,
        room: RoomId,
        kind: MsgKind,
        text: &str,
        answer: bool,
        sink: &mut impl Sink,
    ) {
        let meta = self.next_meta();
        self.say_in_room_as(id, room, kind, text, meta, answer, sink);
    }

    /// A message to every other member of a room, if the room's modes let `id` speak; a
    /// refusal is answered only if `answer` (never for a NOTICE).
    #[allow(clippy::too_many_arguments)]
    fn say_in_room_as(
        &self,
        id: ClientId,
        room: RoomId,
        kind: MsgKind,
        text: &str,
        meta: Meta,
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
            meta,
            from: me.source(),
            room: &r.name,
            kind,
            text,
        };
        sink.many(&r.members, Some(id), &ev);
    }

    /// Whether `id` may send to `room` (`+n`, `+m`, bans), and if not why.
    pub(super) fn may_speak(&self, room: RoomId, id: ClientId) -> Result<(), &'static str> {
        let Some(r) = self.rooms.get(room) else {
            return Err("no such room");
        };
        let roles = self.roles(room, id);
        if r.has(RoomFlag::NoOutside) && roles.is_none() {
            return Err("you are not in it");
        }
        let privileged = roles.is_some_and(|b| b & (OP | VOICE) != 0) || self.is_oper(id);
        if r.has(RoomFlag::Moderated) && !privileged {
            return Err("the room is moderated");
        }
        if !privileged && !r.masks.is_empty() {
            let mask = self.mask_of(id);
            let banned = super::modes::listed(r, ListMode::Ban, &mask)
                && !super::modes::listed(r, ListMode::Except, &mask);
            if banned {
                return Err("you are banned");
            }
        }
        Ok(())
    }

    /// One message to one user or a group, each told once; away users answered for.
    #[allow(clippy::too_many_arguments)]
    fn tell_direct(
        &self,
        id: ClientId,
        nicks: &[ClientId],
        kind: MsgKind,
        text: &str,
        meta: Meta,
        answer: bool,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let group;
        let to: &str = match nicks {
            [] => return,
            [one] => self.nick(*one).unwrap_or(""),
            many => {
                let names: Vec<&str> = many.iter().filter_map(|&n| self.nick(n)).collect();
                group = names.join(",");
                &group
            }
        };
        let ev = Event::DirectMessage {
            meta,
            from: me.source(),
            to,
            kind,
            text,
        };
        for &n in nicks {
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
}
