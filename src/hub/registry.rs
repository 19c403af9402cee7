//! Registered rooms: a room a logged-in operator registered keeps its founder, topic, modes,
//! key, limit, bans and two access lists (accounts given ops or voice when they join) across
//! restarts and while it is empty.
//!
//! The hub keeps each registration in memory ([`RoomRegistration`], restored at start by the
//! server from the store) and tells every change to the sink as a [`RoomRecordChange`], which
//! the server turns into a store write: the hub itself knows no store. A live room that is
//! registered starts from its registration when its first member joins; nobody gets ops for
//! being first, only the accounts on the lists (the founder is always on the ops list). An
//! unregistered room behaves as it always did.

use super::accounts::CHANSERV;
use super::*;
use crate::event::services::RoomFail;
use crate::event::ServiceReply;

/// A topic as kept for a registered room (seconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedTopic {
    pub text: Box<str>,
    pub by: Box<str>,
    pub at: u64,
}

/// A ban as kept for a registered room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedBan {
    pub mask: Box<str>,
    pub by: Box<str>,
    pub at: u64,
}

/// A registered room as the hub keeps it, and as the server restores it at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRegistration {
    /// The room's name as registered.
    pub name: Box<str>,
    /// The founder's account (folded name).
    pub founder: Box<str>,
    /// Milliseconds since the Unix epoch.
    pub registered_ms: u64,
    pub topic: Option<SavedTopic>,
    /// [`RoomFlag::bit`]s.
    pub flags: u8,
    pub key: Option<Box<str>>,
    pub limit: Option<usize>,
    /// Accounts (folded names) given ops on join, besides the founder.
    pub ops: Vec<Box<str>>,
    /// Accounts given voice on join.
    pub voices: Vec<Box<str>>,
    pub bans: Vec<SavedBan>,
}

/// A change to what is kept of a registered room, for the sink to persist. `key` is the
/// room's folded name; times are seconds since the Unix epoch but `registered_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRecordChange<'a> {
    /// A room was registered: everything about it.
    Register {
        key: &'a str,
        room: &'a RoomRegistration,
    },
    Drop {
        key: &'a str,
    },
    Topic {
        key: &'a str,
        topic: Option<TopicInfo<'a>>,
    },
    Modes {
        key: &'a str,
        modes: ModeSet<'a>,
    },
    Founder {
        key: &'a str,
        founder: &'a str,
    },
    Access {
        key: &'a str,
        role: Role,
        account: &'a str,
        add: bool,
    },
    BanAdd {
        key: &'a str,
        mask: &'a str,
        by: &'a str,
        at: u64,
    },
    BanRemove {
        key: &'a str,
        mask: &'a str,
    },
}

impl RoomRecordChange<'_> {
    /// The folded name of the room changed.
    pub fn key(&self) -> &str {
        match *self {
            RoomRecordChange::Register { key, .. }
            | RoomRecordChange::Drop { key }
            | RoomRecordChange::Topic { key, .. }
            | RoomRecordChange::Modes { key, .. }
            | RoomRecordChange::Founder { key, .. }
            | RoomRecordChange::Access { key, .. }
            | RoomRecordChange::BanAdd { key, .. }
            | RoomRecordChange::BanRemove { key, .. } => key,
        }
    }
}

/// A ChanServ request (native `/register #room`, `/drop #room`, `/info #room`, `/access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRequest<'a> {
    Register(&'a str),
    Drop(&'a str),
    Info(&'a str),
    /// Puts an account on (`add`) or takes it off a list; the members logged in to it get
    /// or lose the role at once.
    Access {
        room: &'a str,
        role: Role,
        account: &'a str,
        add: bool,
    },
}

/// The registered rooms, by folded name.
#[derive(Debug, Default)]
pub(super) struct Registry {
    rooms: HashMap<Box<str>, RoomRegistration>,
}

impl RoomRegistration {
    fn roles_of(&self, account: Option<&str>) -> u8 {
        let Some(account) = account else { return 0 };
        let on = |list: &[Box<str>]| list.iter().any(|a| **a == *account);
        let mut roles = 0;
        if *self.founder == *account || on(&self.ops) {
            roles |= OP;
        }
        if on(&self.voices) {
            roles |= VOICE;
        }
        roles
    }

    fn list_mut(&mut self, role: Role) -> &mut Vec<Box<str>> {
        match role {
            Role::Op => &mut self.ops,
            Role::Voice => &mut self.voices,
        }
    }
}

impl Hub {
    /// A registered room from the store, at start (`key`: its folded name).
    pub fn restore_room(&mut self, key: &str, room: RoomRegistration) {
        self.registry.rooms.insert(key.into(), room);
    }

    /// The registration of the room with the folded name `key`, if it is registered.
    pub fn registration(&self, key: &str) -> Option<&RoomRegistration> {
        self.registry.rooms.get(key)
    }

    /// Another node sharing the store registered the room `key`, changed its record, or
    /// unregistered it (None): from now on joins here follow the new record. Nothing is
    /// written (the store has it already) and nothing is told.
    pub fn remote_registration(&mut self, key: &str, room: Option<RoomRegistration>) {
        match room {
            Some(room) => {
                self.registry.rooms.insert(key.into(), room);
            }
            None => {
                self.registry.rooms.remove(key);
            }
        }
    }

    /// The registered rooms as the shared store has them now, in place of what this node had.
    pub fn replace_registrations(
        &mut self,
        rooms: impl IntoIterator<Item = (String, RoomRegistration)>,
    ) {
        self.registry.rooms = rooms
            .into_iter()
            .map(|(key, room)| (key.into_boxed_str(), room))
            .collect();
    }

    /// How many rooms are registered.
    pub fn registered_room_count(&self) -> usize {
        self.registry.rooms.len()
    }

    /// The roles `id` is given on joining the room with the folded name `key`, if the room is
    /// registered (None if it is not).
    pub(super) fn registered_roles(&self, key: &str, id: ClientId) -> Option<u8> {
        let reg = self.registry.rooms.get(key)?;
        Some(reg.roles_of(self.account_key_of(id).as_deref()))
    }

    /// Sets up a room made just now from its registration, if it has one.
    pub(super) fn restore_live(&mut self, room: RoomId) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(reg) = self.registry.rooms.get(r.keys.key()) else {
            return;
        };
        r.name = reg.name.clone();
        r.created = reg.registered_ms / 1000;
        r.topic = reg.topic.as_ref().map(|t| Topic {
            text: t.text.clone(),
            by: t.by.clone(),
            at: t.at,
        });
        r.flags = reg.flags;
        r.key = reg.key.clone();
        r.limit = reg.limit;
        let rules = self.cfg.names;
        r.masks = reg
            .bans
            .iter()
            .map(|b| MaskEntry {
                list: ListMode::Ban,
                mask: b.mask.clone(),
                folded: masks::fold_nick(&b.mask, rules).into(),
                by: b.by.clone(),
                at: b.at,
            })
            .collect();
    }

    /// Tells the members of `room` that ChanServ gave `id` the `roles` it has there.
    pub(super) fn announce_roles(
        &self,
        room: RoomId,
        id: ClientId,
        roles: u8,
        sink: &mut impl Sink,
    ) {
        let (Some(r), Some(nick)) = (self.rooms.get(room), self.nick(id)) else {
            return;
        };
        let mut changes = Vec::with_capacity(2);
        if roles & OP != 0 {
            changes.push(ModeChange::Member(true, Role::Op, nick));
        }
        if roles & VOICE != 0 {
            changes.push(ModeChange::Member(true, Role::Voice, nick));
        }
        if changes.is_empty() {
            return;
        }
        let ev = Event::ModeChanged {
            by: CHANSERV,
            room: &r.name,
            changes: &changes,
        };
        sink.many(&r.members, None, &ev);
    }

    /// After a login: the roles the account has in the registered rooms `id` is in, given now.
    pub(super) fn grant_access(&mut self, id: ClientId, sink: &mut impl Sink) {
        for room in self.rooms_of(id) {
            let Some(key) = self.rooms.get(room).map(|r| Box::<str>::from(r.keys.key())) else {
                continue;
            };
            let have = self.roles(room, id).unwrap_or(0);
            let Some(due) = self.registered_roles(&key, id) else {
                continue;
            };
            let new = due & !have;
            if new != 0 {
                self.set_role(room, id, new, true);
                self.announce_roles(room, id, new, sink);
            }
        }
    }

    /// Whether `id` may join the registered room `key` past its key, limit, +i and bans: its
    /// founder and the accounts on its ops list may.
    pub(super) fn passes_registered(&self, key: &str, id: ClientId) -> bool {
        self.registered_roles(key, id)
            .is_some_and(|roles| roles & OP != 0)
    }

    /// The topic of a registered room changed.
    pub(super) fn keep_topic(&mut self, room: RoomId, sink: &mut impl Sink) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let Some(reg) = self.registry.rooms.get_mut(r.keys.key()) else {
            return;
        };
        reg.topic = r.topic.as_ref().map(|t| SavedTopic {
            text: t.text.clone(),
            by: t.by.clone(),
            at: t.at,
        });
        sink.keep_room(RoomRecordChange::Topic {
            key: r.keys.key(),
            topic: r.topic.as_ref().map(Topic::info),
        });
    }

    /// The flags, key or limit of a registered room changed.
    pub(super) fn keep_modes(&mut self, room: RoomId, sink: &mut impl Sink) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let Some(reg) = self.registry.rooms.get_mut(r.keys.key()) else {
            return;
        };
        reg.flags = r.flags;
        reg.key = r.key.clone();
        reg.limit = r.limit;
        sink.keep_room(RoomRecordChange::Modes {
            key: r.keys.key(),
            modes: r.mode_set(),
        });
    }

    /// A ban was set (`on`) or lifted in a registered room (`mask` as stored).
    pub(super) fn keep_ban(
        &mut self,
        room: RoomId,
        on: bool,
        mask: &str,
        by: &str,
        at: u64,
        sink: &mut impl Sink,
    ) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let Some(reg) = self.registry.rooms.get_mut(r.keys.key()) else {
            return;
        };
        let key = &r.keys.key();
        if on {
            reg.bans.push(SavedBan {
                mask: mask.into(),
                by: by.into(),
                at,
            });
            sink.keep_room(RoomRecordChange::BanAdd { key, mask, by, at });
        } else {
            reg.bans.retain(|b| *b.mask != *mask);
            sink.keep_room(RoomRecordChange::BanRemove { key, mask });
        }
    }

    /// An account is gone: off every list; its rooms pass to the first account on their ops
    /// list, or are unregistered if there is none.
    pub(super) fn forget_account_in_rooms(&mut self, account: &str, sink: &mut impl Sink) {
        let keys: Vec<Box<str>> = self.registry.rooms.keys().cloned().collect();
        for key in keys {
            let Some(reg) = self.registry.rooms.get_mut(&key) else {
                continue;
            };
            for role in [Role::Op, Role::Voice] {
                let list = reg.list_mut(role);
                if let Some(i) = list.iter().position(|a| **a == *account) {
                    list.remove(i);
                    sink.keep_room(RoomRecordChange::Access {
                        key: &key,
                        role,
                        account,
                        add: false,
                    });
                }
            }
            if *reg.founder != *account {
                continue;
            }
            if reg.ops.is_empty() {
                self.registry.rooms.remove(&key);
                sink.keep_room(RoomRecordChange::Drop { key: &key });
                continue;
            }
            let heir = reg.ops.remove(0);
            reg.founder = heir;
            sink.keep_room(RoomRecordChange::Access {
                key: &key,
                role: Role::Op,
                account: &reg.founder,
                add: false,
            });
            sink.keep_room(RoomRecordChange::Founder {
                key: &key,
                founder: &reg.founder,
            });
        }
    }

    /// A ChanServ request.
    pub(super) fn room_service(
        &mut self,
        id: ClientId,
        req: RoomRequest<'_>,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.user(id) else { return };
        let nick: Box<str> = me.nick().into();
        let fail = |sink: &mut _, f: RoomFail<'_>| {
            Sink::one(sink, id, &nick, &Event::Service(ServiceReply::RoomFail(f)))
        };
        let name = match req {
            RoomRequest::Register(r) | RoomRequest::Drop(r) | RoomRequest::Info(r) => r,
            RoomRequest::Access { room, .. } => room,
        };
        let key = self.cfg.names.fold(name);
        let oper = me.has(UserMode::Oper);
        let account = self.account_key_of(id);
        match req {
            RoomRequest::Register(_) => {
                let Some(account) = account else {
                    return fail(sink, RoomFail::NeedLogin);
                };
                if self.registry.rooms.contains_key(&key) {
                    return fail(sink, RoomFail::AlreadyRegistered(name));
                }
                let Some(room) = self.room_id(name).filter(|&r| self.visible(r, id)) else {
                    return fail(sink, RoomFail::NoSuchRoom(name));
                };
                if !self.is_op(room, id) && !oper {
                    return fail(sink, RoomFail::NotOperator(name));
                }
                let r = &self.rooms[room];
                let reg = RoomRegistration {
                    name: r.name.clone(),
                    founder: account.clone(),
                    registered_ms: self.now.unix_ms,
                    topic: r.topic.as_ref().map(|t| SavedTopic {
                        text: t.text.clone(),
                        by: t.by.clone(),
                        at: t.at,
                    }),
                    flags: r.flags,
                    key: r.key.clone(),
                    limit: r.limit,
                    ops: Vec::new(),
                    voices: Vec::new(),
                    bans: r
                        .masks
                        .iter()
                        .filter(|m| m.list == ListMode::Ban)
                        .map(|m| SavedBan {
                            mask: m.mask.clone(),
                            by: m.by.clone(),
                            at: m.at,
                        })
                        .collect(),
                };
                let room_key = Box::<str>::from(r.keys.key());
                sink.keep_room(RoomRecordChange::Register {
                    key: &room_key,
                    room: &reg,
                });
                let shown = reg.name.clone();
                self.registry.rooms.insert(room_key, reg);
                let founder = self.account_name(&account).to_string();
                let ev = ServiceReply::RoomRegistered {
                    room: &shown,
                    founder: &founder,
                };
                sink.one(id, &nick, &Event::Service(ev));
            }
            RoomRequest::Drop(_) => {
                let Some(reg) = self.registry.rooms.get(&key) else {
                    return fail(sink, RoomFail::NotRegistered(name));
                };
                if account.as_deref() != Some(&*reg.founder) && !oper {
                    return fail(sink, RoomFail::NotFounder(name));
                }
                let Some(reg) = self.registry.rooms.remove(&key) else {
                    return;
                };
                sink.keep_room(RoomRecordChange::Drop { key: &key });
                let ev = ServiceReply::RoomDropped { room: &reg.name };
                sink.one(id, &nick, &Event::Service(ev));
            }
            RoomRequest::Info(_) => {
                let Some(reg) = self.registry.rooms.get(&key) else {
                    return fail(sink, RoomFail::NotRegistered(name));
                };
                // A secret room is shown only to those who may see it, or are on its lists.
                let secret = reg.flags & RoomFlag::Secret.bit() != 0;
                let member = self.room_id(name).is_some_and(|r| self.is_member(r, id));
                let listed = reg.roles_of(account.as_deref()) != 0;
                if secret && !member && !listed && !oper {
                    return fail(sink, RoomFail::NotRegistered(name));
                }
                let ops: Vec<&str> = reg.ops.iter().map(|a| self.account_name(a)).collect();
                let voices: Vec<&str> = reg.voices.iter().map(|a| self.account_name(a)).collect();
                let ev = ServiceReply::RoomInfo {
                    room: &reg.name,
                    founder: self.account_name(&reg.founder),
                    registered_secs: reg.registered_ms / 1000,
                    ops: &ops,
                    voices: &voices,
                };
                sink.one(id, &nick, &Event::Service(ev));
            }
            RoomRequest::Access {
                role,
                account: target,
                add,
                ..
            } => {
                let Some(reg) = self.registry.rooms.get(&key) else {
                    return fail(sink, RoomFail::NotRegistered(name));
                };
                if reg.roles_of(account.as_deref()) & OP == 0 && !oper {
                    return fail(
                        sink,
                        match account {
                            None => RoomFail::NeedLogin,
                            Some(_) => RoomFail::NoAccess(name),
                        },
                    );
                }
                let target_key = self.cfg.names.fold(target);
                if !self.accounts_has(&target_key) {
                    return fail(sink, RoomFail::NoSuchAccount(target));
                }
                let Some(reg) = self.registry.rooms.get_mut(&key) else {
                    return;
                };
                let founder = *reg.founder == *target_key;
                let list = reg.list_mut(role);
                let pos = list.iter().position(|a| *a == target_key);
                let changed = match (add, pos) {
                    // The founder is always an operator: never on the list, never off it.
                    _ if founder && role == Role::Op => false,
                    (true, None) => {
                        list.push(target_key.clone());
                        true
                    }
                    (false, Some(i)) => {
                        list.remove(i);
                        true
                    }
                    _ => false,
                };
                let shown = reg.name.clone();
                let founder_op = founder && role == Role::Op;
                if changed {
                    sink.keep_room(RoomRecordChange::Access {
                        key: &key,
                        role,
                        account: &target_key,
                        add,
                    });
                }
                if !founder_op {
                    self.apply_access_now(&key, role, &target_key, add, sink);
                }
                let account_shown = self.account_name(&target_key).to_string();
                let ev = ServiceReply::AccessChanged {
                    room: &shown,
                    role,
                    account: &account_shown,
                    add,
                };
                let nick = self.nick(id).unwrap_or("*");
                sink.one(id, nick, &Event::Service(ev));
            }
        }
    }

    fn accounts_has(&self, key: &str) -> bool {
        self.registered_name(key).is_some()
    }

    /// An account's name as registered (its folded name if it is gone).
    fn account_name<'a>(&'a self, key: &'a str) -> &'a str {
        self.registered_name(key).unwrap_or(key)
    }

    /// Gives (or takes) `role` in the live room `key` to every member logged in to `account`.
    fn apply_access_now(
        &mut self,
        key: &str,
        role: Role,
        account: &str,
        add: bool,
        sink: &mut impl Sink,
    ) {
        let Some(&room) = self.by_room.get(key) else {
            return;
        };
        let bit = if role == Role::Op { OP } else { VOICE };
        let members: Vec<ClientId> = self.rooms[room]
            .members
            .iter()
            .copied()
            .filter(|&m| self.logged_in_as(m, account))
            .collect();
        for m in members {
            let has = self.roles(room, m).is_some_and(|r| r & bit != 0);
            if has == add {
                continue;
            }
            self.set_role(room, m, bit, add);
            let (Some(r), Some(nick)) = (self.rooms.get(room), self.nick(m)) else {
                continue;
            };
            let changes = [ModeChange::Member(add, role, nick)];
            let ev = Event::ModeChanged {
                by: CHANSERV,
                room: &r.name,
                changes: &changes,
            };
            sink.many(&r.members, None, &ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Native lines per client, and what the hub asked to keep.
    #[derive(Default)]
    struct Seen {
        lines: Vec<(ClientId, String)>,
        kept: Vec<String>,
    }

    impl Sink for Seen {
        fn one(&mut self, to: ClientId, _me: &str, event: &Event<'_>) {
            let mut out = Vec::new();
            crate::proto::line::encode(event, "", &mut out);
            for line in String::from_utf8(out).unwrap().lines() {
                self.lines.push((to, line.to_string()));
            }
        }
        fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
            for &id in to {
                if Some(id) != except {
                    self.one(id, "", event);
                }
            }
        }
        fn keep_room(&mut self, change: RoomRecordChange<'_>) {
            self.kept.push(format!("{change:?}"));
        }
    }

    impl Seen {
        fn of(&mut self, id: ClientId) -> Vec<String> {
            let (mine, rest) = std::mem::take(&mut self.lines)
                .into_iter()
                .partition(|(to, _)| *to == id);
            self.lines = rest;
            mine.into_iter().map(|(_, l)| l).collect()
        }
    }

    fn setup() -> (Hub, Seen, Clock) {
        let (mut h, mut s, now) = (
            Hub::new(HubConfig::default()),
            Seen::default(),
            Clock::now(),
        );
        h.load_accounts([("alice", "alice"), ("bob", "bob"), ("carol", "carol")]);
        for (id, nick) in [(1, "alice"), (2, "bob"), (3, "carol")] {
            h.connect_native(id, "127.0.0.1", now, &mut s);
            h.apply(id, Command::Nick(nick), now, &mut s);
            h.set_account(id, Some(nick), now, &mut s);
        }
        s.lines.clear();
        (h, s, now)
    }

    fn cs(h: &mut Hub, s: &mut Seen, id: ClientId, req: RoomRequest<'_>, now: Clock) {
        h.apply(id, Command::RoomService(req), now, s);
    }

    fn join(h: &mut Hub, s: &mut Seen, id: ClientId, room: &str, now: Clock) {
        let cmd = Command::Join {
            rooms: room,
            keys: None,
        };
        h.apply(id, cmd, now, s);
    }

    #[test]
    fn only_a_logged_in_operator_registers_and_only_the_founder_drops() {
        let (mut h, mut s, now) = setup();
        join(&mut h, &mut s, 1, "#r", now);
        join(&mut h, &mut s, 2, "#r", now);
        s.lines.clear();
        cs(&mut h, &mut s, 2, RoomRequest::Register("#r"), now);
        assert_eq!(s.of(2), ["! not-operator you are not an operator of #r"]);
        cs(&mut h, &mut s, 1, RoomRequest::Register("#nowhere"), now);
        assert_eq!(s.of(1), ["! no-such-room #nowhere"]);
        h.set_account(1, None, now, &mut s);
        s.lines.clear();
        cs(&mut h, &mut s, 1, RoomRequest::Register("#r"), now);
        assert_eq!(
            s.of(1),
            ["! not-logged-in you are not logged in; /login ACCOUNT PASSWORD first"]
        );
        h.set_account(1, Some("alice"), now, &mut s);
        s.lines.clear();
        cs(&mut h, &mut s, 1, RoomRequest::Register("#R"), now);
        assert_eq!(s.of(1), ["= registered #r founder alice"]);
        assert!(
            s.kept[0].starts_with("Register { key: \"#r\""),
            "{:?}",
            s.kept
        );
        cs(&mut h, &mut s, 1, RoomRequest::Register("#r"), now);
        assert_eq!(s.of(1), ["! room-exists #r is registered already"]);
        cs(&mut h, &mut s, 2, RoomRequest::Drop("#r"), now);
        assert_eq!(
            s.of(2),
            ["! not-founder only the founder of #r may do that"]
        );
        cs(&mut h, &mut s, 1, RoomRequest::Drop("#r"), now);
        assert_eq!(s.of(1), ["= dropped #r"]);
        assert_eq!(s.kept.last().unwrap(), "Drop { key: \"#r\" }");
        assert_eq!(h.registered_room_count(), 0);
    }

    #[test]
    fn a_registered_room_keeps_its_state_and_gives_roles_only_to_its_lists() {
        let (mut h, mut s, now) = setup();
        join(&mut h, &mut s, 1, "#r", now);
        cs(&mut h, &mut s, 1, RoomRequest::Register("#r"), now);
        let topic = Command::Topic {
            room: Some("#r"),
            text: Some("kept"),
        };
        h.apply(1, topic, now, &mut s);
        let changes = [
            ModeChange::Flag(true, RoomFlag::Moderated),
            ModeChange::List(true, ListMode::Ban, "eve"),
        ];
        h.apply(
            1,
            Command::RoomMode {
                room: "#r",
                changes: &changes,
            },
            now,
            &mut s,
        );
        let access = |account, role, add| RoomRequest::Access {
            room: "#r",
            role,
            account,
            add,
        };
        cs(&mut h, &mut s, 1, access("carol", Role::Voice, true), now);
        cs(&mut h, &mut s, 2, access("carol", Role::Op, true), now);
        assert!(s.of(2).contains(
            &"! no-access only the founder of #r and accounts on its ops list may do that".into()
        ));
        cs(&mut h, &mut s, 1, access("nobody", Role::Op, true), now);
        assert!(s.of(1).contains(&"! no-such-account nobody".into()));
        let kept = s.kept.join("\n");
        for want in ["Topic {", "Modes {", "BanAdd {", "Access {"] {
            assert!(kept.contains(want), "{want} in {kept}");
        }
        // Everyone leaves; the room is gone but its registration is not.
        h.apply(
            1,
            Command::Part {
                rooms: Some("#r"),
                reason: None,
            },
            now,
            &mut s,
        );
        assert_eq!(h.room_count(), 1, "only #lobby");
        s.lines.clear();
        // The first to come back is not made an operator for being first.
        join(&mut h, &mut s, 2, "#r", now);
        let bob = s.of(2);
        assert_eq!(bob[0], "* bob joined #r");
        h.apply(2, Command::ShowModes("#r"), now, &mut s);
        assert_eq!(s.of(2), ["= modes #r +mnt"]);
        h.apply(
            2,
            Command::Topic {
                room: Some("#r"),
                text: None,
            },
            now,
            &mut s,
        );
        assert_eq!(s.of(2), ["= topic #r kept"]);
        h.apply(
            2,
            Command::MaskList {
                room: "#r",
                list: ListMode::Ban,
            },
            now,
            &mut s,
        );
        assert!(s.of(2)[0].starts_with("= bans #r eve!*@* alice!native@127.0.0.1 "));
        // Voice for carol, ops for the founder, told as ChanServ's mode changes.
        join(&mut h, &mut s, 3, "#r", now);
        assert!(s
            .of(2)
            .contains(&"* ChanServ sets mode +v carol on #r".into()));
        join(&mut h, &mut s, 1, "#r", now);
        assert!(s
            .of(3)
            .contains(&"* ChanServ sets mode +o alice on #r".into()));
        // DEVOICE takes it away at once, and the list shows it.
        cs(&mut h, &mut s, 1, access("carol", Role::Voice, false), now);
        assert!(s
            .of(3)
            .contains(&"* ChanServ sets mode -v carol on #r".into()));
        s.lines.clear();
        cs(&mut h, &mut s, 1, RoomRequest::Info("#r"), now);
        assert_eq!(
            s.of(1)[1..],
            [
                format!("= info #r registered {}", now.unix_secs()),
                "= info #r ops".into(),
                "= info #r voices".into(),
                "= end info #r".into()
            ]
        );
    }

    #[test]
    fn a_founders_dropped_account_hands_the_room_on_or_unregisters_it() {
        let (mut h, mut s, now) = setup();
        for room in ["#a", "#b"] {
            join(&mut h, &mut s, 1, room, now);
            cs(&mut h, &mut s, 1, RoomRequest::Register(room), now);
        }
        let op_bob = RoomRequest::Access {
            room: "#a",
            role: Role::Op,
            account: "bob",
            add: true,
        };
        cs(&mut h, &mut s, 1, op_bob, now);
        s.kept.clear();
        h.account_removed("alice", now, &mut s);
        assert_eq!(h.registered_room_count(), 1);
        let kept = s.kept.join("\n");
        assert!(
            kept.contains("Founder { key: \"#a\", founder: \"bob\" }"),
            "{kept}"
        );
        assert!(kept.contains("Drop { key: \"#b\" }"), "{kept}");
    }
}
