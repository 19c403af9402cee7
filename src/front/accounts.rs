//! Account requests, whatever the protocol that carried them (native `/login`, IRC `NickServ
//! IDENTIFY`, IRC `REGISTER`): the checks that need no store, the job handed to the store (off
//! the loop: hashing is slow on purpose), and what its answer does to the hub and is told to
//! the user. Each front end keeps the [`Op`] of a job it handed off under a tag of its own and
//! brings the answer back here; it renders a [`Done`] with [`tell`], or in its own words where
//! its protocol has them (SASL numerics, `REGISTER SUCCESS`).

use std::time::Duration;

use super::{CloseReason, Ctx, Job, Output};
use crate::event::services::{AccountFail, RoomFail, Service};
use crate::event::{Event, ServiceReply};
use crate::hub::{ClientId, Command, Hub};
use crate::proto::services::{fingerprint, AccountRequest, Request};
use crate::store::{AccountError, AccountInfo, CallResult, Write};

/// A service request answered alike for every front end: rooms go to the hub, help and
/// usage errors are told. An account request is handed back for the front end's own path
/// (its jobs and replies differ).
pub fn answer_service<'a>(
    ctx: &Ctx<'_>,
    request: Request<'a>,
    hub: &mut Hub,
    out: &mut impl Output,
) -> Option<AccountRequest<'a>> {
    let id = ctx.id;
    let reply = match request {
        Request::Account(req) => return Some(req),
        Request::Room(req) => {
            hub.apply(id, Command::RoomService(req), ctx.clock, out);
            return None;
        }
        Request::Help(service) => ServiceReply::Help(service),
        Request::Unknown(service, command) => ServiceReply::UnknownCommand(service, command),
        Request::Usage(Service::NickServ, form) => {
            ServiceReply::AccountFail(AccountFail::Usage(form))
        }
        Request::Usage(Service::ChanServ, form) => ServiceReply::RoomFail(RoomFail::Usage(form)),
    };
    out.one(id, hub.nick(id).unwrap_or("*"), &Event::Service(reply));
    None
}

/// What a job handed off was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Register {
        key: Box<str>,
        name: Box<str>,
    },
    Login {
        key: Box<str>,
    },
    Password {
        key: Box<str>,
    },
    /// The password check before a drop.
    DropCheck {
        key: Box<str>,
    },
    Drop {
        key: Box<str>,
    },
    Info {
        name: Box<str>,
        own: bool,
    },
    CertAdd {
        fp: Box<str>,
    },
    CertList,
}

/// Who asks: the user as the front end knows it.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// The user is in the hub (an IRC client that has not finished connecting is not: its
    /// account is kept by the front end until it is).
    pub in_hub: bool,
    pub nick: Option<String>,
    /// The account it is logged in to.
    pub account: Option<String>,
}

impl Who {
    /// A user in the hub.
    pub fn of(hub: &Hub, id: ClientId) -> Who {
        Who {
            in_hub: true,
            nick: hub.nick(id).map(Into::into),
            account: hub.account(id).map(Into::into),
        }
    }
}

/// Why a request failed, owned (the answer it came from is gone by the time it is told).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    BadCredentials,
    NoSuchAccount(String),
    Exists(String),
    BadPassword(String),
    BadEmail(String),
    BadName(String, &'static str),
    RateLimited(u64),
    Busy,
    Unavailable,
    NotLoggedIn,
    AlreadyLoggedIn(String),
    NoCertificate,
    BadFingerprint(String),
    CertTaken(String),
}

/// What came of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Registered and logged in (the front end keeps the account if the user is not in the
    /// hub yet).
    Registered(String),
    LoggedIn(String),
    LoggedOut,
    PasswordChanged,
    Dropped(String),
    Info(AccountInfo, bool),
    CertAdded(String),
    CertRemoved(String),
    Certs(String, Vec<String>),
    /// Everything was told already (GHOST: the hub said it).
    Told,
    /// Hand this job off next, and bring its answer back with the op.
    Next(Job, Op),
    Failed(Failure),
}

fn failed(f: Failure) -> Done {
    Done::Failed(f)
}

/// Whole seconds to wait, rounded up.
fn secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Something that looks like an e-mail address (it is never written to: snak sends no mail).
pub fn plausible_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The folded name of the account `who` is logged in to.
fn own_key(hub: &Hub, who: &Who) -> Result<Box<str>, Failure> {
    let account = who.account.as_deref().ok_or(Failure::NotLoggedIn)?;
    hub.account_key(account).map_err(|_| Failure::NotLoggedIn)
}

/// Checks the backoff for `key` from this connection's address.
fn allowed(ctx: &Ctx<'_>, hub: &Hub, key: &str) -> Result<(), Failure> {
    hub.login_allowed(key, ctx.peer, ctx.clock.mono)
        .map_err(|wait| Failure::RateLimited(secs(wait)))
}

/// Starts a request: done at once, or a job to hand off ([`Done::Next`]).
pub fn request(
    ctx: &Ctx<'_>,
    req: AccountRequest<'_>,
    who: &Who,
    hub: &mut Hub,
    out: &mut impl Output,
) -> Done {
    use AccountRequest as R;
    let outcome = (|| -> Result<Done, Failure> {
        Ok(match req {
            R::Register { password, email } => {
                if let Some(account) = &who.account {
                    return Err(Failure::AlreadyLoggedIn(account.clone()));
                }
                let Some(name) = who.nick.as_deref() else {
                    let why = "choose a nick first: the account is named after it";
                    return Err(Failure::BadName("*".into(), why));
                };
                let key = hub
                    .account_key(name)
                    .map_err(|why| Failure::BadName(name.into(), why))?;
                if hub.registered_name(name).is_some() {
                    return Err(Failure::Exists(name.into()));
                }
                if let Some(e) = email.filter(|e| !plausible_email(e)) {
                    return Err(Failure::BadEmail(e.into()));
                }
                let job = Job::Register {
                    key: key.to_string(),
                    name: name.into(),
                    password: password.into(),
                    email: email.map(Into::into),
                    now: ctx.clock.unix_ms as i64,
                };
                Done::Next(
                    job,
                    Op::Register {
                        key,
                        name: name.into(),
                    },
                )
            }
            R::Identify { account, password } => {
                let Some(name) = account.or(who.nick.as_deref()) else {
                    return Err(Failure::BadCredentials);
                };
                let Ok(key) = hub.account_key(name) else {
                    return Err(Failure::BadCredentials);
                };
                allowed(ctx, hub, &key)?;
                let job = Job::Login {
                    key: key.to_string(),
                    password: password.into(),
                };
                Done::Next(job, Op::Login { key })
            }
            R::Logout => {
                if who.account.is_none() {
                    return Err(Failure::NotLoggedIn);
                }
                if who.in_hub {
                    hub.set_account(ctx.id, None, ctx.clock, out);
                }
                Done::LoggedOut
            }
            R::Password { old, new } => {
                let key = own_key(hub, who)?;
                allowed(ctx, hub, &key)?;
                let job = Job::ChangePassword {
                    key: key.to_string(),
                    old: Some(old.into()),
                    new: new.into(),
                };
                Done::Next(job, Op::Password { key })
            }
            R::Drop { password } => {
                let key = own_key(hub, who)?;
                allowed(ctx, hub, &key)?;
                let job = Job::Login {
                    key: key.to_string(),
                    password: password.into(),
                };
                Done::Next(job, Op::DropCheck { key })
            }
            R::Info(name) => {
                let name = name
                    .or(who.account.as_deref())
                    .or(who.nick.as_deref())
                    .unwrap_or("*");
                let Ok(key) = hub.account_key(name) else {
                    return Err(Failure::NoSuchAccount(name.into()));
                };
                let own = own_key(hub, who).is_ok_and(|k| k == key);
                let job = Job::AccountInfo {
                    key: key.to_string(),
                };
                Done::Next(
                    job,
                    Op::Info {
                        name: name.into(),
                        own,
                    },
                )
            }
            R::Ghost(nick) => {
                if let Some(ghost) = hub.ghost(ctx.id, nick, ctx.clock, out) {
                    let by = hub.nick(ctx.id).unwrap_or("*");
                    let why = format!("GHOST command used by {by}");
                    out.close(ghost, CloseReason::Quit(Some(why.into())));
                }
                Done::Told
            }
            R::CertAdd(typed) => {
                let key = own_key(hub, who)?;
                let fp = match typed {
                    Some(t) => fingerprint(t).ok_or(Failure::BadFingerprint(t.into()))?,
                    None => hub
                        .certfp(ctx.id)
                        .and_then(fingerprint)
                        .ok_or(Failure::NoCertificate)?,
                };
                let job = Job::CertificateAdd {
                    key: key.to_string(),
                    fingerprint: fp.clone(),
                };
                Done::Next(job, Op::CertAdd { fp: fp.into() })
            }
            R::CertDel(typed) => {
                let key = own_key(hub, who)?;
                let fp = fingerprint(typed).ok_or(Failure::BadFingerprint(typed.into()))?;
                out.store_write(Write::AccountCertRemove {
                    key: key.to_string(),
                    fingerprint: fp.clone(),
                });
                Done::CertRemoved(fp)
            }
            R::CertList => {
                let key = own_key(hub, who)?;
                let job = Job::AccountInfo {
                    key: key.to_string(),
                };
                Done::Next(job, Op::CertList)
            }
        })
    })();
    outcome.unwrap_or_else(Done::Failed)
}

/// What a store failure means to the user.
fn store_failure(e: AccountError) -> Failure {
    match e {
        AccountError::Busy => Failure::Busy,
        _ => Failure::Unavailable,
    }
}

/// The answer to a job handed off for `op`: what it does to the hub, and what is told.
pub fn answer(
    ctx: &Ctx<'_>,
    op: Op,
    answer: CallResult,
    who: &Who,
    hub: &mut Hub,
    out: &mut impl Output,
) -> Done {
    let (id, clock) = (ctx.id, ctx.clock);
    let bad_login = |hub: &mut Hub, key: &str| {
        hub.login_failed(key, ctx.peer, clock.mono);
        failed(Failure::BadCredentials)
    };
    match (op, answer) {
        (Op::Register { key, .. }, CallResult::Register(Ok(account))) => {
            if who.in_hub {
                hub.set_account(id, Some(&account.name), clock, out);
            }
            hub.account_added(&key, &account.name, clock, out);
            Done::Registered(account.name)
        }
        (Op::Register { name, .. }, CallResult::Register(Err(e))) => failed(match e {
            AccountError::Taken => Failure::Exists(name.into()),
            AccountError::InvalidPassword(why) => Failure::BadPassword(why),
            e => store_failure(e),
        }),
        (Op::Login { key }, CallResult::Login(Ok(account))) => {
            hub.login_succeeded(&key);
            if who.in_hub {
                hub.set_account(id, Some(&account.name), clock, out);
            }
            Done::LoggedIn(account.name)
        }
        (
            Op::Login { key } | Op::DropCheck { key },
            CallResult::Login(Err(AccountError::BadPassword | AccountError::NoSuchAccount)),
        ) => bad_login(hub, &key),
        (Op::DropCheck { key }, CallResult::Login(Ok(_))) => {
            hub.login_succeeded(&key);
            let job = Job::DropAccount {
                key: key.to_string(),
            };
            Done::Next(job, Op::Drop { key })
        }
        (Op::Drop { key }, CallResult::DropAccount(Ok(()))) => {
            let name = hub.registered_name(&key).unwrap_or(&key).to_string();
            hub.account_removed(&key, clock, out);
            Done::Dropped(name)
        }
        (Op::Password { .. }, CallResult::ChangePassword(Ok(()))) => Done::PasswordChanged,
        (Op::Password { key }, CallResult::ChangePassword(Err(AccountError::BadPassword))) => {
            bad_login(hub, &key)
        }
        (
            Op::Password { .. },
            CallResult::ChangePassword(Err(AccountError::InvalidPassword(why))),
        ) => failed(Failure::BadPassword(why)),
        (Op::Info { own, .. }, CallResult::AccountInfo(Ok(info))) => Done::Info(info, own),
        (Op::Info { name, .. }, CallResult::AccountInfo(Err(AccountError::NoSuchAccount))) => {
            failed(Failure::NoSuchAccount(name.into()))
        }
        (Op::CertAdd { fp }, CallResult::CertificateAdd(Ok(()))) => Done::CertAdded(fp.into()),
        (Op::CertAdd { fp }, CallResult::CertificateAdd(Err(AccountError::Taken))) => {
            failed(Failure::CertTaken(fp.into()))
        }
        (Op::CertList, CallResult::AccountInfo(Ok(info))) => {
            Done::Certs(info.name.name, info.certificates)
        }
        (
            _,
            CallResult::Register(Err(e))
            | CallResult::Login(Err(e))
            | CallResult::ChangePassword(Err(e))
            | CallResult::DropAccount(Err(e))
            | CallResult::CertificateAdd(Err(e))
            | CallResult::AccountInfo(Err(e)),
        ) => failed(store_failure(e)),
        (op, other) => {
            log::warn!("account answer {other:?} does not fit {op:?}");
            failed(Failure::Unavailable)
        }
    }
}

/// The failure as the services say it.
pub fn account_fail(f: &Failure) -> AccountFail<'_> {
    match f {
        Failure::BadCredentials => AccountFail::BadCredentials,
        Failure::NoSuchAccount(a) => AccountFail::NoSuchAccount(a),
        Failure::Exists(a) => AccountFail::Exists(a),
        Failure::BadPassword(why) => AccountFail::BadPassword(why),
        Failure::BadEmail(e) => AccountFail::BadEmail(e),
        Failure::BadName(n, why) => AccountFail::BadName(n, why),
        Failure::RateLimited(s) => AccountFail::RateLimited(*s),
        Failure::Busy => AccountFail::Busy,
        Failure::Unavailable => AccountFail::Unavailable,
        Failure::NotLoggedIn => AccountFail::NotLoggedIn,
        Failure::AlreadyLoggedIn(a) => AccountFail::AlreadyLoggedIn(a),
        Failure::NoCertificate => AccountFail::NoCertificate,
        Failure::BadFingerprint(fp) => AccountFail::BadFingerprint(fp),
        Failure::CertTaken(fp) => AccountFail::CertTaken(fp),
    }
}

/// Tells `id` (as `me`) what came of its request, in the services' words.
pub fn tell(done: &Done, id: ClientId, me: &str, out: &mut impl Output) {
    let reply = |out: &mut _, r: ServiceReply<'_>| {
        crate::hub::Sink::one(out, id, me, &Event::Service(r));
    };
    match done {
        Done::Registered(account) => reply(out, ServiceReply::Registered { account }),
        Done::LoggedIn(account) => reply(out, ServiceReply::LoggedIn { account }),
        Done::LoggedOut => reply(out, ServiceReply::LoggedOut),
        Done::PasswordChanged => reply(out, ServiceReply::PasswordChanged),
        Done::Dropped(account) => reply(out, ServiceReply::AccountDropped { account }),
        Done::Info(info, own) => {
            let certs: Vec<&str> = info.certificates.iter().map(String::as_str).collect();
            reply(
                out,
                ServiceReply::AccountInfo {
                    account: &info.name.name,
                    registered_secs: u64::try_from(info.registered / 1000).unwrap_or(0),
                    email: info.email.as_deref().filter(|_| *own),
                    certs: own.then_some(&certs[..]),
                },
            )
        }
        Done::CertAdded(fp) => reply(out, ServiceReply::CertAdded(fp)),
        Done::CertRemoved(fp) => reply(out, ServiceReply::CertRemoved(fp)),
        Done::Certs(account, list) => {
            let list: Vec<&str> = list.iter().map(String::as_str).collect();
            reply(
                out,
                ServiceReply::Certs {
                    account,
                    list: &list,
                },
            )
        }
        Done::Told | Done::Next(..) => {}
        Done::Failed(f) => reply(out, ServiceReply::AccountFail(account_fail(f))),
    }
}

/// Jobs a session has handed off, by tag, with what each was for.
#[derive(Debug)]
pub struct Jobs<T> {
    out: Vec<(u32, T)>,
    next: u32,
}

impl<T> Default for Jobs<T> {
    fn default() -> Self {
        Jobs {
            out: Vec::new(),
            next: 0,
        }
    }
}

impl<T> Jobs<T> {
    /// Files `what` under a new tag and returns the tag.
    pub fn add(&mut self, what: T) -> u32 {
        self.next = self.next.wrapping_add(1);
        self.out.push((self.next, what));
        self.next
    }

    /// Takes back what the job with `tag` was for.
    pub fn take(&mut self, tag: u32) -> Option<T> {
        let i = self.out.iter().position(|(t, _)| *t == tag)?;
        Some(self.out.swap_remove(i).1)
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_waits() {
        assert!(plausible_email("a@b.c"));
        for bad in ["ab", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(!plausible_email(bad), "{bad}");
        }
        assert_eq!(secs(Duration::from_millis(1500)), 2);
        assert_eq!(secs(Duration::from_secs(3)), 3);
    }

    #[test]
    fn jobs_by_tag() {
        let mut j: Jobs<&str> = Jobs::default();
        let (a, b) = (j.add("a"), j.add("b"));
        assert_ne!(a, b);
        assert_eq!(j.take(a), Some("a"));
        assert_eq!(j.take(a), None);
        assert!(!j.is_empty());
        assert_eq!(j.take(b), Some("b"));
        assert!(j.is_empty());
    }
}
