//! Accounts as the chat state sees them: which names are registered (so that their nicks are
//! protected), who is logged in to what, failed-login backoff, and the grace period of a user
//! holding a nick that belongs to an account it is not logged in to.
//!
//! The hub never checks a password: the front ends ask the store (off the loop) and tell the
//! hub what came of it ([`Hub::set_account`], [`Hub::account_added`], [`Hub::account_removed`]).
//! A registered nick taken by someone else is told so, and renamed to a guest nick once
//! `nick_grace` has passed (the hub's own deadline, see [`Hub::next_deadline`]); the owner may
//! take it back sooner (GHOST, or by logging in).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::auth::limiter::{Backoff, LoginLimiter};
use crate::event::services::{AccountFail, Reclaim};
use crate::event::ServiceReply;

/// The nicks of the services, which no user may take.
pub const SERVICE_NICKS: [&str; 2] = ["nickserv", "chanserv"];

/// Failed logins allowed per account before each further try must wait (1 s, doubling up to
/// 5 minutes; forgotten after an hour without failures or at the first success).
pub const FREE_FAILURES_PER_ACCOUNT: u32 = 3;
/// The same per address (IPv6 by /64): more, as many users may share one.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 10;

/// The hub's share of accounts.
pub(super) struct Accounts {
    /// Registered accounts: folded name to the name as registered.
    names: HashMap<Box<str>, Box<str>>,
    /// The skeletons of registered names, to their folded names.
    skeletons: HashMap<Box<str>, Box<str>>,
    /// When users holding someone else's nick are due to lose it, earliest first (entries
    /// that no longer match the user's own deadline are skipped).
    grace: BinaryHeap<Reverse<(Instant, ClientId)>>,
    by_account: LoginLimiter<Box<str>>,
    by_address: LoginLimiter<IpAddr>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            names: HashMap::new(),
            skeletons: HashMap::new(),
            grace: BinaryHeap::new(),
            by_account: LoginLimiter::new(Backoff {
                free_failures: FREE_FAILURES_PER_ACCOUNT,
                ..Backoff::default()
            }),
            by_address: LoginLimiter::new(Backoff {
                free_failures: FREE_FAILURES_PER_ADDRESS,
                ..Backoff::default()
            }),
        }
    }
}

/// An address as the login limiter counts it: IPv6 by its /64, as one machine has one.
fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// Whether `nick` is of the form the server hands out itself (`guest-N`): such names are
/// never accounts.
pub fn is_guest_nick(nick: &str) -> bool {
    nick.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("guest-"))
        && nick.len() > 6
        && nick[6..].bytes().all(|b| b.is_ascii_digit())
}

/// The source the services speak with in room events (ChanServ giving ops on join).
pub(super) const CHANSERV: Source<'static> = Source::plain("ChanServ", "ChanServ", "services");

impl Hub {
    /// The accounts that exist (from the store, at start): (folded name, name).
    pub fn load_accounts<'a>(&mut self, names: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (key, name) in names {
            self.file_account(key, name);
        }
    }

    fn file_account(&mut self, key: &str, name: &str) {
        let skeleton = self.cfg.names.skeleton(name);
        self.accounts.names.insert(key.into(), name.into());
        self.accounts.skeletons.insert(skeleton, key.into());
    }

    /// How many accounts exist.
    pub fn account_count(&self) -> usize {
        self.accounts.names.len()
    }

    /// The folded form of an account name, if the name could be an account's (a valid nick,
    /// not a guest nick or a service's).
    pub fn account_key(&self, name: &str) -> Result<Box<str>, &'static str> {
        let keys = self.cfg.names.nick(name).map_err(|e| e.nick_reason())?;
        if is_guest_nick(name) {
            return Err("guest nicks cannot be registered; take a nick with /nick NAME first");
        }
        if SERVICE_NICKS.contains(&keys.key()) {
            return Err("that name belongs to the services");
        }
        Ok(keys.key().into())
    }

    /// The name of the account `name` (a nick or an account name, any spelling) belongs to.
    pub fn registered_name(&self, name: &str) -> Option<&str> {
        let key = self.cfg.names.key(name);
        self.accounts.names.get(&*key).map(|n| &**n)
    }

    /// A new account exists (the store committed it). Whoever holds its nick without being
    /// logged in to it is told, and given the grace period.
    pub fn account_added(&mut self, key: &str, name: &str, now: Clock, sink: &mut impl Sink) {
        if self.net.is_some() {
            sink.network(&Change::Account {
                key,
                name: Some(name),
            });
        }
        self.account_filed(key, name, now, sink);
    }

    /// Another node sharing the store created (`Some(name)`) or dropped an account.
    pub fn remote_account(
        &mut self,
        key: &str,
        name: Option<&str>,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        match name {
            Some(name) => self.account_filed(key, name, now, sink),
            None => self.account_gone(key, now, sink),
        }
    }

    /// The accounts as the shared store has them now (after a split, when announcements may
    /// have been missed): those new here are filed, those gone are dropped here too.
    pub fn reload_accounts<'a>(
        &mut self,
        names: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        let names: HashMap<&str, &str> = names.into_iter().collect();
        let gone: Vec<Box<str>> = self
            .accounts
            .names
            .keys()
            .filter(|k| !names.contains_key(&***k))
            .cloned()
            .collect();
        for key in gone {
            self.account_gone(&key, now, sink);
        }
        for (key, name) in names {
            if !self.accounts.names.contains_key(key) {
                self.account_filed(key, name, now, sink);
            }
        }
    }

    fn account_filed(&mut self, key: &str, name: &str, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        self.file_account(key, name);
        // A holder on another node is its own node's to tell (that node hears of the account
        // too, or made it).
        if let Some(holder) = self.nick_holder(key).filter(|&h| !is_remote(h)) {
            self.protect_nick(holder, sink);
        }
    }

    /// An account is gone (dropped): those logged in to it are logged out, its rooms pass
    /// to the first account on their ops list (or are unregistered), and its name is free.
    pub fn account_removed(&mut self, key: &str, now: Clock, sink: &mut impl Sink) {
        if self.net.is_some() {
            sink.network(&Change::Account { key, name: None });
        }
        self.account_gone(key, now, sink);
    }

    fn account_gone(&mut self, key: &str, now: Clock, sink: &mut impl Sink) {
        self.now = now;
        if let Some(name) = self.accounts.names.remove(key) {
            let skeleton = self.cfg.names.skeleton(&name);
            if self.accounts.skeletons.get(&skeleton).map(|k| &**k) == Some(key) {
                self.accounts.skeletons.remove(&skeleton);
            }
        }
        let logged_in: Vec<ClientId> = self
            .by_nick
            .ids()
            .filter(|&u| self.logged_in_as(u, key))
            .collect();
        for id in logged_in {
            self.set_account(id, None, now, sink);
        }
        self.forget_account_in_rooms(key, sink);
        if let Some(holder) = self.nick_holder(key) {
            if let Some(u) = self.user_mut(holder) {
                u.with_extra(|e| e.grace_until = None);
            }
        }
    }

    /// Whether `id` is logged in to the account with the folded name `key`.
    pub(super) fn logged_in_as(&self, id: ClientId, key: &str) -> bool {
        self.account_key_of(id).is_some_and(|k| *k == *key)
    }

    /// The folded name of the account `id` is logged in to.
    pub(super) fn account_key_of(&self, id: ClientId) -> Option<Box<str>> {
        let account = self.user(id)?.account()?;
        Some(self.cfg.names.fold(account))
    }

    /// May someone try a password for `key` from `peer` now? `Err(wait)`: not yet.
    pub fn login_allowed(&self, key: &str, peer: IpAddr, now: Instant) -> Result<(), Duration> {
        let account = self.accounts.by_account.check(&Box::from(key), now);
        let address = self.accounts.by_address.check(&address_key(peer), now);
        match (account, address) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(w), _) | (_, Err(w)) => Err(w),
        }
    }

    /// A password (or a SCRAM proof) for `key` from `peer` was wrong, or the account unknown.
    pub fn login_failed(&mut self, key: &str, peer: IpAddr, now: Instant) {
        self.accounts.by_account.failure(&Box::from(key), now);
        self.accounts.by_address.failure(&address_key(peer), now);
    }

    /// A login to `key` succeeded: its failures are forgotten (the address's are not, so one
    /// account of one's own cannot reset an address's count).
    pub fn login_succeeded(&mut self, key: &str) {
        self.accounts.by_account.success(&Box::from(key));
    }

    /// The TLS client certificate fingerprint `id` connected with.
    pub fn certfp(&self, id: ClientId) -> Option<&str> {
        self.user(id)?.extra().certfp.as_deref()
    }

    /// `id` logged in to `account` (or out, None): the front ends call this once the store
    /// has said so. Those who share a room with the user (and its watchers) hear of it; the
    /// user's own nick is checked against the accounts; a login takes the account's nick back
    /// from whoever holds it, and gives the ops and voice the account has in registered rooms
    /// the user is in.
    pub fn set_account(
        &mut self,
        id: ClientId,
        account: Option<&str>,
        now: Clock,
        sink: &mut impl Sink,
    ) {
        self.now = now;
        let Some(u) = self.user(id) else { return };
        if u.account() == account {
            return;
        }
        let rooms = self.rooms_of(id);
        self.collect_peers(&rooms, None, true);
        let Some(u) = self.user(id) else { return };
        // Told as the user is from now on: the account tag is the new account, or none.
        let ev = Event::Extra(Extra::Account {
            who: Source {
                account,
                ..u.source()
            },
            account,
            monitor: false,
        });
        sink.many(&self.peers, Some(id), &ev);
        self.tell_watchers(id, &ev, sink);
        if let Some(u) = self.user_mut(id) {
            u.with_extra(|e| e.account = account.map(Into::into));
        }
        self.net_presence(id, sink);
        self.protect_nick(id, sink);
        if let Some(account) = account {
            let key = self.cfg.names.fold(account);
            if let Some(holder) = self.nick_holder(&key) {
                if holder != id && !self.logged_in_as(holder, &key) {
                    self.rename_to_guest(holder, Reclaim::OwnerLoggedIn, sink);
                }
            }
            self.grant_access(id, sink);
        }
    }

    /// Sets the account of a user who authenticated before registering (IRC SASL), before
    /// anyone is told it is here: nothing is announced.
    pub fn set_account_at_registration(&mut self, id: ClientId, account: &str) {
        if let Some(u) = self.user_mut(id) {
            u.with_extra(|e| e.account = Some(account.into()));
        }
    }

    /// Checks `id`'s nick against the accounts: one that belongs to an account the user is
    /// not logged in to starts the grace period (and the user is told how long it has); any
    /// other ends it. With a grace of 0 nicks are not protected.
    pub fn protect_nick(&mut self, id: ClientId, sink: &mut impl Sink) {
        let grace = self.cfg.nick_grace;
        let Some(u) = self.user(id) else { return };
        let key = Box::<str>::from(u.key());
        let squatting = !grace.is_zero()
            && self.accounts.names.contains_key(&key)
            && !self.logged_in_as(id, &key);
        if !squatting {
            if let Some(u) = self.user_mut(id) {
                u.with_extra(|e| e.grace_until = None);
            }
            return;
        }
        if u.extra().grace_until.is_some() {
            return; // already counting down
        }
        let at = self.now.mono + grace;
        self.accounts.grace.push(Reverse((at, id)));
        let Some(u) = self.user_mut(id) else { return };
        u.with_extra(|e| e.grace_until = Some(at));
        let Some(u) = self.user(id) else { return };
        let account = self.accounts.names.get(&key).map_or("", |n| &**n);
        let ev = Event::Service(ServiceReply::NickProtected {
            nick: u.nick(),
            account,
            grace_secs: grace.as_secs().max(1),
        });
        sink.one(id, u.nick(), &ev);
    }

    /// Why `id` may not take a nick with `keys` because of the services and the accounts: a
    /// service's nick, or one that looks like a registered account's name (other than one's
    /// own account).
    pub(super) fn account_refusal<'a>(
        &'a self,
        id: ClientId,
        nick: &'a str,
        keys: &NameKeys,
    ) -> Option<Fail<'a>> {
        if SERVICE_NICKS.contains(&keys.key()) {
            return Some(Fail::NickTaken(nick));
        }
        let owner = self.accounts.skeletons.get(keys.skeleton())?;
        if **owner == *keys.key() || self.logged_in_as(id, owner) {
            return None;
        }
        let name = self.accounts.names.get(owner).map_or("", |n| &**n);
        Some(Fail::NickLooksLike(nick, name))
    }

    /// A free guest nick (`guest-N`): not in use, not like one in use, not an account's.
    pub(super) fn guest_nick(&mut self, id: ClientId) -> String {
        loop {
            let candidate = format!("guest-{}", self.next_guest);
            self.next_guest += 1;
            let free = self.claim_nick(id, &candidate).is_ok()
                && !self
                    .accounts
                    .names
                    .contains_key(&*self.cfg.names.key(&candidate));
            if free {
                return candidate;
            }
        }
    }

    /// Takes `id`'s nick away: it is told why, then renamed to a guest nick like any nick
    /// change.
    fn rename_to_guest(&mut self, id: ClientId, why: Reclaim<'_>, sink: &mut impl Sink) {
        let guest = self.guest_nick(id);
        let Some(u) = self.user_mut(id) else { return };
        u.with_extra(|e| e.grace_until = None);
        let Some(u) = self.user(id) else { return };
        let ev = Event::Service(ServiceReply::NickReclaimed {
            nick: u.nick(),
            why,
        });
        sink.one(id, u.nick(), &ev);
        self.change_nick(id, &guest, sink);
    }

    /// The next time a protected nick is due to be taken back.
    pub(super) fn next_grace(&self) -> Option<Instant> {
        self.accounts.grace.peek().map(|Reverse((at, _))| *at)
    }

    /// Renames the users whose grace ran out (and who did not log in meanwhile).
    pub(super) fn expire_grace(&mut self, now: Instant, sink: &mut impl Sink) {
        while let Some(&Reverse((at, id))) = self.accounts.grace.peek() {
            if at > now {
                break;
            }
            self.accounts.grace.pop();
            let due = self
                .user(id)
                .is_some_and(|u| u.extra().grace_until == Some(at));
            if due {
                self.rename_to_guest(id, Reclaim::GraceOver, sink);
            }
        }
    }

    /// GHOST: the owner of `nick` (logged in to the account of that name) takes it back from
    /// whoever holds it: someone else is renamed to a guest nick; a connection logged in to
    /// the same account (a ghost of the owner's) is returned for the caller to close.
    pub fn ghost(
        &mut self,
        id: ClientId,
        nick: &str,
        now: Clock,
        sink: &mut impl Sink,
    ) -> Option<ClientId> {
        self.now = now;
        let me = self.user(id)?;
        let fail = |f| Event::Service(ServiceReply::AccountFail(f));
        let Some(mine) = self.account_key_of(id) else {
            sink.one(id, me.nick(), &fail(AccountFail::NotLoggedIn));
            return None;
        };
        if *self.cfg.names.key(nick) != *mine {
            sink.one(id, me.nick(), &fail(AccountFail::NotOwner(nick)));
            return None;
        }
        let Some(holder) = self.user_id(nick) else {
            sink.one(id, me.nick(), &fail(AccountFail::NoSuchNick(nick)));
            return None;
        };
        if holder == id {
            sink.one(id, me.nick(), &fail(AccountFail::OwnNick(nick)));
            return None;
        }
        let by: Box<str> = me.nick().into();
        let held: Box<str> = self.nick(holder).unwrap_or(nick).into();
        let reply = Event::Service(ServiceReply::Ghosted { nick: &held });
        if self.logged_in_as(holder, &mine) {
            let why = Reclaim::Ghosted(&by);
            let ev = Event::Service(ServiceReply::NickReclaimed { nick: &held, why });
            sink.one(holder, &held, &ev);
            sink.one(id, &by, &reply);
            return Some(holder);
        }
        self.rename_to_guest(holder, Reclaim::Ghosted(&by), sink);
        let me = self.nick(id).unwrap_or("*");
        sink.one(id, me, &reply);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Lines(Vec<(ClientId, String)>);

    impl Sink for Lines {
        fn one(&mut self, to: ClientId, _me: &str, event: &Event<'_>) {
            let mut out = Vec::new();
            crate::proto::line::encode(event, "", &mut out);
            let text = String::from_utf8(out).unwrap();
            for line in text.lines() {
                self.0.push((to, line.to_string()));
            }
        }
        fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
            for &id in to {
                if Some(id) != except {
                    self.one(id, "", event);
                }
            }
        }
    }

    impl Lines {
        fn of(&mut self, id: ClientId) -> Vec<String> {
            let (mine, rest) = std::mem::take(&mut self.0)
                .into_iter()
                .partition(|(to, _)| *to == id);
            self.0 = rest;
            mine.into_iter().map(|(_, l)| l).collect()
        }
    }

    fn hub(grace: u64) -> Hub {
        Hub::new(HubConfig {
            nick_grace: Duration::from_secs(grace),
            ..HubConfig::default()
        })
    }

    fn user(h: &mut Hub, s: &mut Lines, id: ClientId, nick: &str, now: Clock) {
        h.connect_native(id, "127.0.0.1", now, s);
        h.apply(id, Command::Nick(nick), now, s);
        s.0.clear();
    }

    #[test]
    fn guest_nicks_and_service_names_are_not_accounts() {
        assert!(is_guest_nick("guest-12") && is_guest_nick("Guest-1"));
        assert!(!is_guest_nick("guest-") && !is_guest_nick("guest-1a"));
        let h = hub(30);
        assert!(h.account_key("guest-3").is_err());
        assert!(h.account_key("NickServ").is_err());
        assert_eq!(h.account_key("Alice").as_deref(), Ok("alice"));
        assert!(h.account_key("a b").is_err());
    }

    #[test]
    fn a_squatter_is_told_then_renamed_when_the_grace_runs_out() {
        let (mut h, mut s, now) = (hub(30), Lines::default(), Clock::now());
        h.load_accounts([("alice", "Alice")]);
        user(&mut h, &mut s, 1, "bob", now);
        h.apply(1, Command::Nick("ALICE"), now, &mut s);
        assert_eq!(
            s.of(1),
            [
                "* bob is now known as ALICE",
                "* ALICE is registered to the account Alice: /login Alice PASSWORD within \
                 30 s, or you will be renamed"
            ]
        );
        assert_eq!(h.next_deadline(), Some(now.mono + Duration::from_secs(30)));
        h.expire(now.mono + Duration::from_secs(29), &mut s);
        assert!(s.of(1).is_empty());
        h.expire(now.mono + Duration::from_secs(30), &mut s);
        let lines = s.of(1);
        assert_eq!(
            lines[0],
            "* ALICE belongs to an account: you were not logged in to it in time"
        );
        assert!(
            lines[1].starts_with("* ALICE is now known as guest-"),
            "{lines:?}"
        );
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn logging_in_in_time_or_moving_on_ends_the_grace() {
        let (mut h, mut s, now) = (hub(30), Lines::default(), Clock::now());
        h.load_accounts([("alice", "alice"), ("carol", "carol")]);
        user(&mut h, &mut s, 1, "alice", now);
        assert!(h.next_deadline().is_some(), "counting down");
        h.set_account(1, Some("alice"), now, &mut s);
        h.expire(now.mono + Duration::from_secs(60), &mut s);
        assert_eq!(h.nick(1), Some("alice"));
        // Moving to a free nick ends it too; coming back starts it again.
        user(&mut h, &mut s, 2, "carol", now);
        h.apply(2, Command::Nick("dave"), now, &mut s);
        h.expire(now.mono + Duration::from_secs(60), &mut s);
        assert_eq!(h.nick(2), Some("dave"));
        // Logging out of the account whose nick one holds starts the count.
        h.set_account(1, None, now, &mut s);
        assert!(s
            .of(1)
            .iter()
            .any(|l| l.contains("is registered to the account alice")));
        h.expire(now.mono + Duration::from_secs(30), &mut s);
        assert!(h.nick(1).unwrap().starts_with("guest-"));
    }

    #[test]
    fn the_owner_takes_the_nick_back_by_logging_in_or_with_ghost() {
        let (mut h, mut s, now) = (hub(30), Lines::default(), Clock::now());
        h.load_accounts([("alice", "alice")]);
        user(&mut h, &mut s, 1, "alice", now);
        user(&mut h, &mut s, 2, "al", now);
        h.set_account(2, Some("alice"), now, &mut s);
        assert!(h.nick(1).unwrap().starts_with("guest-"));
        let told = s.of(1);
        assert!(told[0].ends_with("the owner logged in"), "{told:?}");
        // GHOST: someone else is renamed; one's own other connection is handed back.
        h.apply(1, Command::Nick("alice"), now, &mut s);
        assert_eq!(h.ghost(2, "alice", now, &mut s), None);
        assert!(h.nick(1).unwrap().starts_with("guest-"));
        assert_eq!(s.of(2).last().unwrap(), "= ghost alice");
        h.apply(2, Command::Nick("alice"), now, &mut s);
        user(&mut h, &mut s, 3, "x", now);
        h.set_account(3, Some("alice"), now, &mut s);
        assert_eq!(h.ghost(3, "alice", now, &mut s), Some(2));
        assert_eq!(h.ghost(1, "alice", now, &mut s), None);
        assert_eq!(
            s.of(1).last().unwrap(),
            "! not-logged-in you are not logged in; /login ACCOUNT PASSWORD first"
        );
    }

    #[test]
    fn look_alikes_of_accounts_and_service_nicks_are_refused() {
        let (mut h, mut s, now) = (hub(30), Lines::default(), Clock::now());
        h.load_accounts([("evan", "evan")]);
        user(&mut h, &mut s, 1, "x", now);
        h.apply(1, Command::Nick("\u{435}van"), now, &mut s);
        assert_eq!(
            s.of(1),
            ["! nick-taken \u{435}van looks like evan, a nick in use"]
        );
        h.apply(1, Command::Nick("nickserv"), now, &mut s);
        assert_eq!(s.of(1), ["! nick-taken nickserv is already in use"]);
        h.set_account(1, Some("evan"), now, &mut s);
        h.apply(1, Command::Nick("\u{435}van"), now, &mut s);
        assert_eq!(h.nick(1), Some("\u{435}van"));
    }

    #[test]
    fn failed_logins_back_off_per_account_and_per_address() {
        let mut h = hub(30);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for _ in 0..FREE_FAILURES_PER_ACCOUNT {
            assert_eq!(h.login_allowed("alice", a, t), Ok(()));
            h.login_failed("alice", a, t);
        }
        h.login_failed("alice", b, t);
        assert_eq!(h.login_allowed("alice", b, t), Err(Duration::from_secs(1)));
        assert_eq!(h.login_allowed("bob", b, t), Ok(()));
        h.login_succeeded("alice");
        assert_eq!(h.login_allowed("alice", b, t), Ok(()));
        // One address trying many accounts.
        for i in 0..=FREE_FAILURES_PER_ADDRESS {
            h.login_failed(&format!("u{i}"), a, t);
        }
        assert!(h.login_allowed("someone", a, t).is_err());
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            address_key(v6("2001:db8::1")),
            address_key(v6("2001:db8::ffff"))
        );
    }

    #[test]
    fn a_dropped_account_logs_its_users_out_and_frees_its_name() {
        let (mut h, mut s, now) = (hub(30), Lines::default(), Clock::now());
        h.load_accounts([("alice", "alice")]);
        user(&mut h, &mut s, 1, "alice", now);
        h.set_account(1, Some("alice"), now, &mut s);
        h.account_removed("alice", now, &mut s);
        assert_eq!(h.account(1), None);
        assert_eq!(h.registered_name("alice"), None);
        h.expire(now.mono + Duration::from_secs(60), &mut s);
        assert_eq!(h.nick(1), Some("alice"));
        // A new account for a nick someone holds: the holder is told.
        user(&mut h, &mut s, 2, "bob", now);
        h.account_added("bob", "bob", now, &mut s);
        assert!(s.of(2)[0].contains("is registered to the account bob"));
    }
}
