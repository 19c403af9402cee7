//! Messages to rooms and nicks: at most `max_targets` targets a line, each told once.

use super::*;

/// A room as a message's target names it: `@#room` or `+#room` for a message to its ops or
/// voiced members only (STATUSMSG), else the room.
pub(super) fn status_target(room: &str, status: u8) -> std::borrow::Cow<'_, str> {
    match status {
        0 => room.into(),
        OP => format!("@{room}").into(),
        _ => format!("+{room}").into(),
    }
}

/// The non-empty items of a comma-separated target list. Targets are short and most lines
/// name one: a byte loop ends sooner than a general string search.
fn targets_in(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(list);
    std::iter::from_fn(move || loop {
        let s = rest?;
        let (item, after) = match s.bytes().position(|b| b == b',') {
            Some(at) => (&s[..at], Some(&s[at + 1..])),
            None => (s, None),
        };
        rest = after;
        if !item.is_empty() {
            return Some(item);
        }
    })
}

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
        self.message_tagged(id, targets, Some(kind), text, "", sink);
    }

    /// [`Hub::message`] with client-only tags; `kind` None is a message of tags alone. A
    /// room target may carry a status prefix (`@#room`, `+#room`): then only the room's
    /// operators (and, for `+`, voiced members) get it.
    pub(super) fn message_tagged(
        &mut self,
        id: ClientId,
        targets: &str,
        kind: Option<MsgKind>,
        text: &str,
        tags: &str,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let answer = kind != Some(MsgKind::Notice);
        let max = self.cfg.max_targets;
        if let Some(extra) = targets_in(targets).nth(max) {
            if answer {
                let fail = Fail::TooManyTargets(extra, max);
                sink.one(id, me.nick(), &Event::Fail(fail));
            }
            return;
        }
        // The recipients, in a buffer kept between messages: no allocation per message.
        let mut nicks = std::mem::take(&mut self.targets);
        nicks.clear();
        let mut rooms = std::mem::take(&mut self.room_targets);
        rooms.clear();
        let meta = self.next_meta();
        let msg = Msg {
            kind,
            text,
            tags,
            meta,
            answer,
        };
        for target in targets_in(targets) {
            let Some(me) = self.user(id) else { break };
            let (status, name) = match target.as_bytes() {
                [b'@', b'#', ..] => (OP, &target[1..]),
                [b'+', b'#', ..] => (OP | VOICE, &target[1..]),
                _ => (0, target),
            };
            if name.starts_with('#') {
                let Some(room) = self.room_id(name) else {
                    if answer {
                        sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchRoom(target)));
                    }
                    continue;
                };
                // At most `max_targets` rooms: searched linearly.
                if rooms.contains(&room) {
                    continue;
                }
                rooms.push(room);
                self.say_in_room_as(id, room, status, &msg, sink);
            } else {
                match self.user_id(target) {
                    Some(to) if !nicks.contains(&to) => nicks.push(to),
                    Some(_) => {}
                    None if answer => {
                        sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(target)))
                    }
                    None => {}
                }
            }
        }
        self.tell_direct(id, &nicks, &msg, sink);
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
        let msg = Msg {
            kind: Some(kind),
            text,
            tags: "",
            meta,
            answer,
        };
        self.say_in_room_as(id, room, 0, &msg, sink);
    }

    /// A message to every other member of a room (with `status`: to its members with one of
    /// those role bits), if the room's modes let `id` speak; a refusal is answered only if
    /// `msg.answer` (never for a NOTICE).
    fn say_in_room_as(
        &self,
        id: ClientId,
        room: RoomId,
        status: u8,
        msg: &Msg<'_>,
        sink: &mut impl Sink,
    ) {
        let (Some(me), Some(r)) = (self.user(id), self.rooms.get(room)) else {
            return;
        };
        if let Err(why) = self.may_speak(room, id) {
            if msg.answer {
                sink.one(id, me.nick(), &Event::Fail(Fail::CannotSend(&r.name, why)));
            }
            return;
        }
        let target = &*status_target(&r.name, status);
        let ctcp = msg.kind != Some(MsgKind::Action) && msg.text.starts_with('\x01');
        if ctcp && r.has(RoomFlag::NoCtcp) {
            if msg.answer {
                let fail = Fail::CannotSend(&r.name, "the room takes no CTCP");
                sink.one(id, me.nick(), &Event::Fail(fail));
            }
            return;
        }
        let ev = msg.event(me.source(), target);
        // CTCP other than ACTION means nothing to users of a client that cannot answer it
        // (native users): they never see its bytes.
        if ctcp {
            let to: Vec<ClientId> = r
                .members
                .iter()
                .zip(&r.roles)
                .filter(|&(_, &roles)| status == 0 || roles & status != 0)
                .map(|(&m, _)| m)
                .filter(|&m| self.user(m).is_some_and(|u| u.files != FileWay::InBand))
                .collect();
            sink.many(&to, Some(id), &ev);
        } else if status == 0 {
            sink.many(&r.members, Some(id), &ev);
        } else {
            let to: Vec<ClientId> = r
                .members
                .iter()
                .zip(&r.roles)
                .filter(|&(_, &roles)| roles & status != 0)
                .map(|(&m, _)| m)
                .collect();
            sink.many(&to, Some(id), &ev);
        }
        if sink.wants_echo(id) {
            sink.echo(id, me.nick(), &ev);
        }
        // Kept: what every member saw. Not a message to the operators alone, a CTCP request
        // or tags alone.
        if let (0, false, Some(kind), true) = (status, ctcp, msg.kind, sink.keeps_messages()) {
            let room = RoomRef {
                name: &r.name,
                key: r.keys.key(),
            };
            sink.keep_message(&msg.kept(me.party(), KeptTo::Room(room), kind));
        }
        if self.net.is_some() {
            let said = RoomEffect::Say {
                meta: msg.meta,
                kind: msg.kind,
                status,
                text: msg.text,
                tags: msg.tags,
            };
            self.share_room(room, id, said, sink);
        }
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
    fn tell_direct(&self, id: ClientId, nicks: &[ClientId], msg: &Msg<'_>, sink: &mut impl Sink) {
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
        let ev = msg.event(me.source(), to);
        let away_reply = msg.answer && msg.kind.is_some();
        let ctcp = msg.kind != Some(MsgKind::Action) && msg.text.starts_with('\x01');
        for &n in nicks {
            if let Some(u) = self.user(n) {
                if is_remote(n) {
                    let sent = DirectEffect::Message {
                        meta: msg.meta,
                        kind: msg.kind,
                        to,
                        text: msg.text,
                        tags: msg.tags,
                    };
                    self.share_direct(id, n, sent, sink);
                } else {
                    sink.relay(n, u.nick(), &ev);
                }
                if let (Some(away), true) = (u.away(), away_reply) {
                    let reply = Reply::Away {
                        nick: u.nick(),
                        text: away,
                    };
                    sink.one(id, me.nick(), &Event::Reply(reply));
                }
                // The sender's copy names this recipient alone.
                if sink.wants_echo(id) {
                    let echo = msg.event(me.source(), u.nick());
                    sink.echo(id, me.nick(), &echo);
                }
                if let (false, Some(kind), true) = (ctcp, msg.kind, sink.keeps_messages()) {
                    sink.keep_message(&msg.kept(me.party(), KeptTo::Direct(u.party()), kind));
                }
            }
        }
    }
}

/// A message on its way: what it is and whether refusals are answered.
struct Msg<'a> {
    /// None: tags alone.
    kind: Option<MsgKind>,
    text: &'a str,
    tags: &'a str,
    meta: Meta,
    answer: bool,
}

impl<'a> Msg<'a> {
    fn kept<'e>(&'e self, from: Party<'e>, to: KeptTo<'e>, kind: MsgKind) -> Kept<'e> {
        Kept {
            meta: self.meta,
            from,
            to,
            kind: KeptKind::Say(kind),
            text: self.text,
            tags: self.tags,
        }
    }

    fn event<'e>(&'e self, from: Source<'e>, to: &'e str) -> Event<'e> {
        let (meta, text, tags) = (self.meta, self.text, self.tags);
        match self.kind {
            None => Event::Extra(Extra::TagMessage {
                meta,
                from,
                to,
                tags,
            }),
            Some(kind) if to.starts_with('#') || to.as_bytes().get(1) == Some(&b'#') => {
                Event::RoomMessage {
                    meta,
                    from,
                    room: to,
                    kind,
                    text,
                    tags,
                }
            }
            Some(kind) => Event::DirectMessage {
                meta,
                from,
                to,
                kind,
                text,
                tags,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::targets_in;

    #[test]
    fn targets_are_the_non_empty_items_of_the_list() {
        let all = |list| targets_in(list).collect::<Vec<_>>();
        assert_eq!(all("bob"), ["bob"]);
        assert_eq!(all("bob,#room,,carol,"), ["bob", "#room", "carol"]);
        assert_eq!(all(",,"), Vec::<&str>::new());
        assert_eq!(all(""), Vec::<&str>::new());
        assert_eq!(all("é,ü"), ["é", "ü"]);
    }
}
