//! Users: nick changes, away, WHOIS, WHOWAS, USERHOST, ISON, LUSERS, OPER and KILL.

use super::*;

impl Hub {
    pub(super) fn change_nick(&mut self, id: ClientId, new: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let keys = match self.claim_nick(id, new) {
            Ok(keys) => keys,
            Err(fail) => return sink.one(id, me.nick(), &Event::Fail(fail)),
        };
        if *me.nick() == *new {
            return;
        }
        if self.net_hold_rename(id, new, &keys, sink) {
            return; // carried out once the network has given the nick
        }
        // A quiet room's members were never told of an ordinary member (only of its
        // operators): its rename is not theirs to hear either, which keeps a rename's cost to
        // the loud rooms.
        let rooms: Vec<RoomId> = self
            .rooms_of(id)
            .into_iter()
            .filter(|&r| !self.is_quiet(r) || self.is_op(r, id))
            .collect();
        self.collect_peers(&rooms, Some(id), false);
        let Some(me) = self.user(id) else { return };
        let ev = Event::NickChanged {
            who: me.source(),
            new,
        };
        sink.many(&self.peers, None, &ev);
        let old = me.names.keys();
        let old_nick: Box<str> = me.nick().into();
        let renamed = old.key() != keys.key();
        self.remember(id);
        self.unfile_nick(id, &old);
        self.file_nick(id, &keys);
        if let Some(me) = self.user_mut(id) {
            me.set_nick(new, &keys);
        }
        // A change of case is no departure for those who monitor the nick.
        if renamed {
            self.tell_offline(&old_nick, sink);
            self.tell_online(id, sink);
            self.protect_nick(id, sink);
        }
        self.net_renamed(id, &old, sink);
    }

    /// Keeps the user's current identity for WHOWAS.
    pub(super) fn remember(&mut self, id: ClientId) {
        let Some(u) = self.user(id) else { return };
        let entry = WasUser {
            nick: u.nick().into(),
            user: u.username().into(),
            host: (*u.host).into(),
            realname: u.realname().into(),
        };
        if self.whowas.len() >= WHOWAS_MAX {
            self.whowas.pop_front();
        }
        self.whowas.push_back(entry);
    }

    pub(super) fn away(&mut self, id: ClientId, text: Option<&str>, sink: &mut impl Sink) {
        let text = text.filter(|t| !t.is_empty());
        let reply = if text.is_some() {
            Reply::NowAway
        } else {
            Reply::UnAway
        };
        let Some(me) = self.user_mut(id) else { return };
        let changed = me.away() != text;
        me.with_extra(|e| e.away = text.map(Into::into));
        sink.one(id, me.nick(), &Event::Reply(reply));
        if changed {
            let rooms = self.rooms_of(id);
            self.collect_peers(&rooms, None, true);
            let Some(me) = self.user(id) else { return };
            let ev = Event::Extra(Extra::Away {
                who: me.source(),
                text,
                monitor: false,
            });
            sink.many(&self.peers, Some(id), &ev);
            self.tell_watchers(id, &ev, sink);
            self.net_presence(id, sink);
        }
    }

    /// SETNAME: a new real name, told to those who share a room with the user and to the
    /// user itself.
    pub(super) fn set_name(&mut self, id: ClientId, name: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        if name.is_empty() || name.len() > REALNAME_MAX {
            return sink.one(id, me.nick(), &Event::Extra(Extra::BadRealname));
        }
        let rooms = self.rooms_of(id);
        self.collect_peers(&rooms, Some(id), true);
        let Some(me) = self.user(id) else { return };
        let ev = Event::Extra(Extra::Realname {
            who: me.source(),
            realname: name,
            monitor: false,
        });
        sink.many(&self.peers, None, &ev);
        self.tell_watchers(id, &ev, sink);
        if let Some(me) = self.user_mut(id) {
            me.set_realname(name);
        }
        self.net_presence(id, sink);
    }

    /// MARKREAD: moves the user's read marker of `target` on (never back) and tells where it
    /// is.
    pub(super) fn mark_read(
        &mut self,
        id: ClientId,
        target: &str,
        at_ms: Option<u64>,
        sink: &mut impl Sink,
    ) {
        let key = self.cfg.names.fold(target);
        let Some(me) = self.user_mut(id) else { return };
        if let Some(at) = at_ms {
            me.with_extra(|e| match e.read_marks.iter().position(|(t, _)| *t == key) {
                Some(i) => e.read_marks[i].1 = e.read_marks[i].1.max(at),
                None => {
                    if e.read_marks.len() >= READ_MARKS_MAX {
                        e.read_marks.remove(0);
                    }
                    e.read_marks.push((key.clone(), at));
                }
            });
        }
        self.tell_read_mark(id, target, sink);
    }

    /// Where the user's read marker of `target` is.
    pub(super) fn tell_read_mark(&self, id: ClientId, target: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let key = self.cfg.names.fold(target);
        let at_ms = me
            .extra()
            .read_marks
            .iter()
            .find(|(t, _)| *t == key)
            .map(|m| m.1);
        let ev = Event::Extra(Extra::ReadMarker { target, at_ms });
        sink.one(id, me.nick(), &ev);
    }

    /// WALLOPS: a server operator's message to every user with +w (the sender included).
    pub(super) fn wallops(&mut self, id: ClientId, text: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        if !me.has(UserMode::Oper) {
            return sink.one(id, me.nick(), &Event::Fail(Fail::NoPrivileges));
        }
        let to: Vec<ClientId> = self
            .by_nick
            .ids()
            .filter(|&u| self.user(u).is_some_and(|u| u.has(UserMode::Wallops)))
            .collect();
        let ev = Event::Extra(Extra::Wallops {
            from: me.source(),
            text,
        });
        sink.many(&to, None, &ev);
        self.share_wallops(id, text, sink);
    }

    pub(super) fn whois(&mut self, id: ClientId, nick: &str, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let Some((who, u)) = self.user_id(nick).and_then(|w| Some((w, self.user(w)?))) else {
            sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(nick)));
            return sink.one(id, me.nick(), &Event::Reply(Reply::EndOfWhois(nick)));
        };
        let rooms: Vec<(&str, &'static str)> = u
            .rooms
            .iter()
            .map(|m| m.room as usize)
            .filter(|&r| self.visible(r, id))
            .filter_map(|r| {
                let prefix = match self.roles(r, who)? {
                    roles if roles & OP != 0 => "@",
                    roles if roles & VOICE != 0 => "+",
                    _ => "",
                };
                Some((&*self.rooms.get(r)?.name, prefix))
            })
            .collect();
        let whois = Whois {
            nick: u.nick(),
            user: u.username(),
            host: &u.host,
            realname: u.realname(),
            rooms: &rooms,
            oper: u.has(UserMode::Oper),
            away: u.away(),
            account: u.account(),
            bot: u.has(UserMode::Bot),
            secure: u.secure,
            certfp: u
                .extra()
                .certfp
                .as_deref()
                .filter(|_| who == id || me.has(UserMode::Oper)),
            server: self.server_of(who),
        };
        sink.one(id, me.nick(), &Event::Reply(Reply::Whois(whois)));
        sink.one(id, me.nick(), &Event::Reply(Reply::EndOfWhois(u.nick())));
    }

    pub(super) fn whowas(
        &mut self,
        id: ClientId,
        nick: &str,
        count: Option<usize>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let mut found = 0;
        let rules = self.cfg.names;
        let key = rules.key(nick);
        for w in self
            .whowas
            .iter()
            .rev()
            .filter(|w| *rules.key(&w.nick) == *key)
        {
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
            sink.one(id, me.nick(), &Event::Reply(reply));
        }
        if found == 0 {
            sink.one(id, me.nick(), &Event::Fail(Fail::WasNoSuchNick(nick)));
        }
        sink.one(id, me.nick(), &Event::Reply(Reply::EndOfWhowas(nick)));
    }

    pub(super) fn userhost(&mut self, id: ClientId, nicks: &[&str], sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let found: Vec<_> = nicks
            .iter()
            .flat_map(|n| n.split(' '))
            .filter_map(|n| self.user_id(n))
            .filter_map(|u| self.user(u))
            .take(5)
            .map(|u| {
                let oper = u.has(UserMode::Oper);
                (u.nick(), oper, u.away().is_some(), u.username(), &*u.host)
            })
            .collect();
        sink.one(id, me.nick(), &Event::Reply(Reply::Userhost(&found)));
    }

    pub(super) fn ison(&mut self, id: ClientId, nicks: &[&str], sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let found: Vec<&str> = nicks
            .iter()
            .flat_map(|n| n.split(' '))
            .filter_map(|n| self.user_id(n))
            .filter_map(|u| self.nick(u))
            .collect();
        sink.one(id, me.nick(), &Event::Reply(Reply::Ison(&found)));
    }

    pub(super) fn lusers(&mut self, id: ClientId, sink: &mut impl Sink) {
        let Some(me) = self.user(id) else { return };
        let reply = Reply::Lusers {
            max: self.max_users,
            users: self.by_nick.len(),
            invisible: self.invisible_count,
            opers: self.oper_count,
            rooms: self.rooms.len(),
        };
        sink.one(id, me.nick(), &Event::Reply(reply));
    }

    pub(super) fn oper(&mut self, id: ClientId, sink: &mut impl Sink) {
        let Some(me) = self.user_mut(id) else { return };
        let was = me.has(UserMode::Oper);
        me.modes |= UserMode::Oper.bit();
        self.oper_count += usize::from(!was);
        let Some(me) = self.user(id) else { return };
        sink.one(id, me.nick(), &Event::Reply(Reply::YoureOper));
        if !was {
            let ev = Event::UserModeChanged {
                who: me.source(),
                changes: &[(true, UserMode::Oper)],
            };
            sink.one(id, me.nick(), &ev);
            self.net_presence(id, sink);
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
        if !me.has(UserMode::Oper) {
            sink.one(id, me.nick(), &Event::Fail(Fail::NoPrivileges));
            return None;
        }
        let Some(victim) = self.user_id(nick) else {
            sink.one(id, me.nick(), &Event::Fail(Fail::NoSuchNick(nick)));
            return None;
        };
        let v = self.user(victim)?;
        let ev = Event::Killed {
            by: me.source(),
            victim: v.nick(),
            reason,
        };
        sink.one(victim, v.nick(), &ev);
        if is_remote(victim) {
            self.share_direct(id, victim, DirectEffect::Kill { reason }, sink);
        }
        Some(victim)
    }
}
