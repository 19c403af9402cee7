//! MONITOR: users watch nicks and hear when they come on line and leave. Each watched nick
//! keeps its watchers, so a user's arrival costs one lookup whoever watches.

use super::*;

impl Hub {
    pub(super) fn monitor(&mut self, id: ClientId, op: MonitorOp<'_>, sink: &mut impl Sink) {
        if self.user(id).is_none() {
            return;
        }
        match op {
            MonitorOp::Add(list) => self.watch(id, list, sink),
            MonitorOp::Remove(list) => {
                for nick in list.split(',').filter(|n| !n.is_empty()) {
                    self.unwatch(id, nick);
                }
            }
            MonitorOp::Clear => self.unwatch_all(id),
            MonitorOp::List => {
                let Some(me) = self.user(id) else { return };
                let nicks: Vec<&str> = me.extra().monitoring.iter().map(|n| &**n).collect();
                sink.one(id, me.nick(), &Event::Extra(Extra::MonList(&nicks)));
            }
            MonitorOp::Status => {
                let Some(me) = self.user(id) else { return };
                let list: Vec<Box<str>> = me.extra().monitoring.clone();
                self.tell_status(id, list.iter().map(|n| &**n), sink);
            }
        }
    }

    fn watch(&mut self, id: ClientId, list: &str, sink: &mut impl Sink) {
        let rules = self.cfg.names;
        let mut added: Vec<&str> = Vec::new();
        let mut refused: Vec<&str> = Vec::new();
        for nick in list.split(',').filter(|n| !n.is_empty()) {
            let Some(me) = self.user(id) else { return };
            if let Err(e) = self.cfg.names.check_nick(nick) {
                sink.one(id, me.nick(), &Event::Fail(Fail::BadNick(nick, e)));
                continue;
            }
            let key = rules.fold(nick);
            if me.extra().monitoring.iter().any(|n| *rules.fold(n) == *key) {
                continue;
            }
            if me.extra().monitoring.len() >= MONITOR_MAX {
                refused.push(nick);
                continue;
            }
            if let Some(me) = self.user_mut(id) {
                me.with_extra(|e| e.monitoring.push(nick.into()));
            }
            let watchers = self.watchers.entry(key).or_default();
            if !watchers.contains(&id) {
                watchers.push(id);
            }
            added.push(nick);
        }
        if !refused.is_empty() {
            let Some(me) = self.user(id) else { return };
            let nicks = refused.join(",");
            let fail = Extra::MonListFull {
                limit: MONITOR_MAX,
                nicks: &nicks,
            };
            sink.one(id, me.nick(), &Event::Extra(fail));
        }
        self.tell_status(id, added.into_iter(), sink);
    }

    /// Which of `nicks` are on line (told as sources) and which are not.
    fn tell_status<'n>(
        &self,
        id: ClientId,
        nicks: impl Iterator<Item = &'n str>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let mut online: Vec<Source<'_>> = Vec::new();
        let mut offline: Vec<&str> = Vec::new();
        for nick in nicks {
            match self.user_id(nick).and_then(|u| self.user(u)) {
                Some(u) => online.push(u.source()),
                None => offline.push(nick),
            }
        }
        if !online.is_empty() {
            sink.one(id, me.nick(), &Event::Extra(Extra::MonOnline(&online)));
        }
        if !offline.is_empty() {
            sink.one(id, me.nick(), &Event::Extra(Extra::MonOffline(&offline)));
        }
    }

    fn unwatch(&mut self, id: ClientId, nick: &str) {
        let rules = self.cfg.names;
        let key = rules.fold(nick);
        if let Some(me) = self.user_mut(id) {
            if !me.extra().monitoring.is_empty() {
                me.with_extra(|e| e.monitoring.retain(|n| *rules.fold(n) != *key));
            }
        }
        if let Some(watchers) = self.watchers.get_mut(&key) {
            watchers.retain(|&w| w != id);
            if watchers.is_empty() {
                self.watchers.remove(&key);
            }
        }
    }

    /// `id` watches no one any more (MONITOR C, or it left).
    pub(super) fn unwatch_all(&mut self, id: ClientId) {
        let list = match self.user_mut(id) {
            Some(me) if !me.extra().monitoring.is_empty() => {
                me.with_extra(|e| std::mem::take(&mut e.monitoring))
            }
            Some(_) => Vec::new(),
            None => return,
        };
        for nick in list.iter() {
            self.unwatch(id, nick);
        }
    }

    /// `id` is on line under its nick: its watchers hear it.
    pub(super) fn tell_online(&self, id: ClientId, sink: &mut impl Sink) {
        let rules = self.cfg.names;
        let Some(u) = self.user(id) else { return };
        let Some(watchers) = self.watchers.get(&rules.fold(u.nick())) else {
            return;
        };
        let source = [u.source()];
        for &w in watchers {
            if let Some(nick) = self.nick(w) {
                sink.one(w, nick, &Event::Extra(Extra::MonOnline(&source)));
            }
        }
    }

    /// Nobody is on line as `nick` any more.
    pub(super) fn tell_offline(&self, nick: &str, sink: &mut impl Sink) {
        let rules = self.cfg.names;
        let Some(watchers) = self.watchers.get(&rules.fold(nick)) else {
            return;
        };
        let nicks = [nick];
        for &w in watchers {
            if let Some(me) = self.nick(w) {
                sink.one(w, me, &Event::Extra(Extra::MonOffline(&nicks)));
            }
        }
    }

    /// A change to `id` told to its room peers (in `self.peers`, marked in `self.seen`) is
    /// also told to its watchers who are not among them, marked as coming from MONITOR.
    pub(super) fn tell_watchers(&self, id: ClientId, ev: &Event<'_>, sink: &mut impl Sink) {
        let rules = self.cfg.names;
        let Some(u) = self.user(id) else { return };
        let Some(watchers) = self.watchers.get(&rules.fold(u.nick())) else {
            return;
        };
        let ev = match *ev {
            Event::Extra(Extra::Away { who, text, .. }) => Extra::Away {
                who,
                text,
                monitor: true,
            },
            Event::Extra(Extra::Account { who, account, .. }) => Extra::Account {
                who,
                account,
                monitor: true,
            },
            Event::Extra(Extra::Realname { who, realname, .. }) => Extra::Realname {
                who,
                realname,
                monitor: true,
            },
            _ => return,
        };
        let told = |w: ClientId| {
            self.seen
                .get(table::dense(w))
                .is_some_and(|&s| s == self.epoch)
        };
        let to: Vec<ClientId> = watchers
            .iter()
            .copied()
            .filter(|&w| w != id && !told(w))
            .collect();
        sink.many(&to, None, &Event::Extra(ev));
    }

    /// A user's arrival is told to those who watch its nick.
    pub fn announce(&self, id: ClientId, sink: &mut impl Sink) {
        self.tell_online(id, sink);
    }
}
