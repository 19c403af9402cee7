//! The IRC front end's accounts besides SASL: messages to `NickServ` and `ChanServ` (also
//! the `NS`/`NICKSERV`/`CS`/`CHANSERV` commands), `draft/account-registration`'s `REGISTER`
//! and `VERIFY`, and the server and operator passwords given as argon2 hashes, which are
//! checked off the loop.

use super::{IrcSession, Wait};
use crate::event::services::Service;
use crate::event::{Event, Fail};
use crate::front::accounts::{self, Done, Failure, Op, Who};
use crate::front::{Answer, CloseReason, Ctx, Job, Output};
use crate::hub::{Command, Hub};
use crate::proto::irc_msg::write_message;
use crate::proto::services::{self, AccountRequest};

/// Where an account request came from, which decides how its answer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Via {
    /// A message to NickServ: NOTICEs, with 900/901.
    NickServ,
    /// `REGISTER`: `REGISTER SUCCESS` or `FAIL REGISTER`, for the account named.
    Register(Box<str>),
}

impl IrcSession {
    /// Who the user is as far as accounts go, registered or not.
    fn who(&self, ctx: &Ctx<'_>, hub: &Hub) -> Who {
        if self.registered() {
            return Who::of(hub, ctx.id);
        }
        Who {
            in_hub: false,
            nick: self
                .early_nick()
                .or(self.auth.as_ref().and_then(|a| a.tried_nick.as_deref()))
                .map(Into::into),
            account: self
                .auth
                .as_ref()
                .and_then(|a| a.account.as_deref())
                .map(Into::into),
        }
    }

    /// A message to a service (PRIVMSG NickServ, NS ...).
    pub(super) fn service(
        &mut self,
        ctx: &Ctx<'_>,
        service: Service,
        text: &str,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let request = services::parse(service, text);
        let Some(req) = accounts::answer_service(ctx, request, hub, out) else {
            return;
        };
        let who = self.who(ctx, hub);
        let done = accounts::request(ctx, req, &who, hub, out);
        self.account_done(ctx, done, Via::NickServ, hub, out);
    }

    /// `FAIL REGISTER CODE ACCOUNT :text`.
    fn register_fail(
        &self,
        ctx: &Ctx<'_>,
        code: &str,
        account: &str,
        text: &str,
        out: &mut impl Output,
    ) {
        let srv = ctx.cfg.server_name.as_str();
        let account = super::middle(account);
        out.raw(ctx.id, |b| {
            write_message(b, Some(srv), "FAIL", &["REGISTER", code, account, text])
        });
    }

    /// `REGISTER <account> {<email> | *} <password>` (draft/account-registration): the
    /// account is the current nick (`*` or the nick itself).
    pub(super) fn register(
        &mut self,
        ctx: &Ctx<'_>,
        p: &[&str],
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let cfg = ctx.cfg;
        if p.len() < 3 || p[..3].iter().any(|s| s.is_empty()) {
            let me = self.me(hub, ctx.id);
            return out.one(ctx.id, me, &Event::Fail(Fail::NeedMoreParams("REGISTER")));
        }
        let (asked, email, password) = (p[0], p[1], p[2]);
        if !self.registered() && !cfg.early_register {
            let text = "Finish connecting first, then REGISTER";
            return self.register_fail(ctx, "COMPLETE_CONNECTION_REQUIRED", asked, text, out);
        }
        if cfg.password.is_some() && !self.pass_ok() {
            let text = "Send the server password (PASS) first";
            return self.register_fail(ctx, "TEMPORARILY_UNAVAILABLE", asked, text, out);
        }
        let who = self.who(ctx, hub);
        let Some(nick) = who.nick.clone() else {
            let text = "Choose a nick first: the account is named after it";
            return self.register_fail(ctx, "NEED_NICK", "*", text, out);
        };
        let rules = hub.name_rules();
        if asked != "*" && rules.fold(asked) != rules.fold(&nick) {
            let text = "The account must be named after your nick; change nick first";
            return self.register_fail(ctx, "ACCOUNT_NAME_MUST_BE_NICK", asked, text, out);
        }
        if let Some(account) = &who.account {
            let text = format!("You are already logged in as {account}");
            return self.register_fail(ctx, "ALREADY_AUTHENTICATED", &nick, &text, out);
        }
        // No land grabs: a nick someone else is using is not free for an account.
        if !self.registered() && hub.nick_in_use(&nick) {
            let text = "Someone is using that nick";
            return self.register_fail(ctx, "ACCOUNT_EXISTS", &nick, text, out);
        }
        let email = (email != "*").then_some(email);
        let req = AccountRequest::Register { password, email };
        let done = accounts::request(ctx, req, &who, hub, out);
        self.account_done(ctx, done, Via::Register(nick.into()), hub, out);
    }

    /// `VERIFY <account> <code>`: accounts need no verification here.
    pub(super) fn verify(&mut self, ctx: &Ctx<'_>, p: &[&str], hub: &Hub, out: &mut impl Output) {
        if p.len() < 2 {
            let me = self.me(hub, ctx.id);
            return out.one(ctx.id, me, &Event::Fail(Fail::NeedMoreParams("VERIFY")));
        }
        let srv = ctx.cfg.server_name.as_str();
        let account = super::middle(p[0]);
        let text = "Nothing to verify: REGISTER makes accounts at once (no e-mail is sent)";
        out.raw(ctx.id, |b| {
            write_message(
                b,
                Some(srv),
                "FAIL",
                &["VERIFY", "INVALID_CODE", account, text],
            )
        });
    }

    /// Hands the next job off, or tells what came of an account request as `via` asks.
    fn account_done(
        &mut self,
        ctx: &Ctx<'_>,
        done: Done,
        via: Via,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if let Done::Next(job, op) = done {
            let tag = self.auth().jobs.add(Wait::Account(op, via));
            return out.submit(ctx.id, tag, job);
        }
        if let Done::Registered(account) = &done {
            if !self.registered() {
                // Kept until the user enters the hub, as a SASL login is.
                self.auth().account = Some(account.as_str().into());
            }
        }
        match via {
            Via::NickServ => {
                accounts::tell(&done, ctx.id, self.me(hub, ctx.id), out);
                match &done {
                    Done::Registered(a) | Done::LoggedIn(a) => self.logged_in(ctx, a, hub, out),
                    Done::LoggedOut => self.logged_out(ctx, hub, out),
                    _ => {}
                }
            }
            Via::Register(name) => match &done {
                Done::Registered(account) => {
                    let srv = ctx.cfg.server_name.as_str();
                    let text = "Account created; you are logged in to it";
                    out.raw(ctx.id, |b| {
                        write_message(b, Some(srv), "REGISTER", &["SUCCESS", account, text])
                    });
                    self.logged_in(ctx, account, hub, out);
                }
                Done::Failed(f) => {
                    let (code, text) = match f {
                        Failure::Exists(_) => {
                            ("ACCOUNT_EXISTS", "That account exists already".into())
                        }
                        Failure::BadName(_, why) => ("BAD_ACCOUNT_NAME", why.to_string()),
                        Failure::BadEmail(_) => {
                            ("INVALID_EMAIL", "That is not an e-mail address".into())
                        }
                        Failure::BadPassword(why) => ("UNACCEPTABLE_PASSWORD", why.clone()),
                        Failure::AlreadyLoggedIn(a) => (
                            "ALREADY_AUTHENTICATED",
                            format!("You are already logged in as {a}"),
                        ),
                        _ => (
                            "TEMPORARILY_UNAVAILABLE",
                            "Accounts cannot be made right now; try again later".into(),
                        ),
                    };
                    self.register_fail(ctx, code, &name, &text, out);
                }
                _ => {}
            },
        }
    }

    /// The answer to an account job.
    pub(super) fn account_answer(
        &mut self,
        ctx: &Ctx<'_>,
        op: Op,
        via: Via,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let who = self.who(ctx, hub);
        let done = accounts::answer(ctx, op, answer, &who, hub, out);
        self.account_done(ctx, done, via, hub, out);
    }

    /// `PASS` for a server password given as a hash: checked off the loop; registration
    /// waits for the answer.
    pub(super) fn check_pass(
        &mut self,
        ctx: &Ctx<'_>,
        phc: &str,
        given: &str,
        out: &mut impl Output,
    ) {
        let auth = self.auth();
        auth.pass_pending = true;
        let tag = auth.jobs.add(Wait::Pass);
        let job = Job::Secret {
            phc: phc.into(),
            password: given.into(),
        };
        out.submit(ctx.id, tag, job);
    }

    pub(super) fn pass_answer(
        &mut self,
        ctx: &Ctx<'_>,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if let Some(a) = self.auth.as_mut() {
            a.pass_pending = false;
        }
        match answer {
            Answer::Secret(Ok(ok)) => {
                self.set_pass_ok(ok);
                self.try_register(ctx, hub, out);
            }
            _ => {
                out.raw(ctx.id, |b| {
                    b.extend_from_slice(b"ERROR :Closing link (Server busy, try again)\r\n")
                });
                out.close(ctx.id, CloseReason::Other("password check unavailable"));
            }
        }
    }

    /// `OPER name password` against a hashed operator password: checked off the loop.
    pub(super) fn check_oper(
        &mut self,
        ctx: &Ctx<'_>,
        phc: &str,
        given: &str,
        out: &mut impl Output,
    ) {
        let tag = self.auth().jobs.add(Wait::Oper);
        let job = Job::Secret {
            phc: phc.into(),
            password: given.into(),
        };
        out.submit(ctx.id, tag, job);
    }

    pub(super) fn oper_answer(
        &mut self,
        ctx: &Ctx<'_>,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if answer == Answer::Secret(Ok(true)) {
            hub.apply(ctx.id, Command::Oper, ctx.clock, out);
        } else {
            let me = self.me(hub, ctx.id);
            out.one(ctx.id, me, &Event::Fail(Fail::PasswordMismatch));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Secret};
    use crate::front::recorder::{Conn, Recorder};
    use crate::front::{Answer, Job, Proto};
    use crate::store::{AccountError, AccountName};

    fn account(n: &str) -> AccountName {
        AccountName {
            key: n.to_lowercase(),
            name: n.into(),
        }
    }

    fn registered(t: &mut Recorder, nick: &str) -> Conn {
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, &format!("NICK {nick}"));
        t.line(&mut c, "USER u 0 * :Real Name");
        t.take(c.id);
        c
    }

    #[test]
    fn nickserv_register_identify_and_logout() {
        let mut t = Recorder::new();
        let mut c = registered(&mut t, "jilles");
        t.line(&mut c, "PRIVMSG NickServ :REGISTER sesame");
        t.answer_job(&mut c, |job| {
            assert!(matches!(job, Job::Register { key, .. } if key == "jilles"));
            Answer::Register(Ok(account("jilles")))
        });
        assert_eq!(
            t.take(c.id),
            ":NickServ!NickServ@services NOTICE jilles :Account jilles registered; you are now \
             logged in to it.\r\n:snak.localhost 900 jilles jilles!u@127.0.0.1 jilles :You are \
             now logged in as jilles\r\n"
        );
        t.line(&mut c, "NS LOGOUT");
        let got = t.take(c.id);
        assert!(
            got.contains("NOTICE jilles :You are now logged out.\r\n"),
            "{got}"
        );
        assert!(got.contains(" 901 jilles jilles!u@127.0.0.1 :You are now logged out\r\n"));
        assert!(
            got.contains("jilles is registered to the account jilles."),
            "{got}"
        );
        t.line(&mut c, "PRIVMSG nickserv :identify millet");
        t.answer_job(&mut c, |_| Answer::Login(Err(AccountError::BadPassword)));
        assert_eq!(
            t.take(c.id),
            ":NickServ!NickServ@services NOTICE jilles :Invalid account or password.\r\n"
        );
        t.line(&mut c, "NICKSERV IDENTIFY jilles sesame");
        t.answer_job(&mut c, |_| Answer::Login(Ok(account("jilles"))));
        assert!(t.take(c.id).contains(" 900 jilles "));
        t.line(&mut c, "PRIVMSG NickServ :bogus");
        assert!(t.take(c.id).contains(":Unknown command bogus."));
        t.line(&mut c, "NOTICE NickServ :ignored");
        assert_eq!(t.take(c.id), "");
        t.line(&mut c, "CS REGISTER #nope");
        assert_eq!(
            t.take(c.id),
            ":ChanServ!ChanServ@services NOTICE jilles :#nope does not exist (join it first).\r\n"
        );
    }

    #[test]
    fn draft_register_before_and_after_connecting() {
        let mut t = Recorder::new();
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "REGISTER * * pw");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost FAIL REGISTER NEED_NICK * :Choose a nick first: the account is \
             named after it\r\n"
        );
        t.line(&mut c, "NICK bar");
        t.line(&mut c, "REGISTER foo * pw");
        assert!(t
            .take(c.id)
            .starts_with(":snak.localhost FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK foo :"));
        t.line(&mut c, "REGISTER BAR * pw");
        t.answer_job(&mut c, |_| Answer::Register(Ok(account("bar"))));
        let got = t.take(c.id);
        assert!(
            got.starts_with(
                ":snak.localhost REGISTER SUCCESS bar :Account created; you are logged in to it\r\n"
            ),
            "{got}"
        );
        t.line(&mut c, "USER u 0 * :R");
        assert!(t.take(c.id).contains(" 001 bar "));
        assert_eq!(t.hub.account(c.id), Some("bar"));
        t.line(&mut c, "REGISTER * * pw");
        assert!(t
            .take(c.id)
            .starts_with(":snak.localhost FAIL REGISTER ALREADY_AUTHENTICATED bar :"));
        t.line(&mut c, "VERIFY bar 1234");
        assert!(t
            .take(c.id)
            .starts_with(":snak.localhost FAIL VERIFY INVALID_CODE bar :"));
        // Someone else's nick is not free for an account, even if refused to us.
        let mut d = t.connect(Proto::Irc);
        t.line(&mut d, "NICK bar");
        t.take(d.id);
        t.line(&mut d, "REGISTER * * pw");
        assert!(t
            .take(d.id)
            .starts_with(":snak.localhost FAIL REGISTER ACCOUNT_EXISTS bar :"));
        // The store's refusal of a name taken meanwhile.
        let mut e = registered(&mut t, "zed");
        t.line(&mut e, "REGISTER * * pw");
        t.answer_job(&mut e, |_| Answer::Register(Err(AccountError::Taken)));
        assert!(t
            .take(e.id)
            .starts_with(":snak.localhost FAIL REGISTER ACCOUNT_EXISTS zed :"));
    }

    #[test]
    fn register_before_connecting_can_be_turned_off() {
        let mut t = Recorder::with(Config {
            early_register: false,
            ..Config::default()
        });
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "CAP LS 302");
        assert!(!t.take(c.id).contains("before-connect"));
        t.line(&mut c, "NICK bar");
        t.line(&mut c, "REGISTER * * pw");
        assert!(t
            .take(c.id)
            .starts_with(":snak.localhost FAIL REGISTER COMPLETE_CONNECTION_REQUIRED * :"));
    }

    #[test]
    fn hashed_server_and_operator_passwords_are_checked_off_the_loop() {
        let phc = crate::config::hash_password("sesame").unwrap();
        let mut t = Recorder::with(Config {
            password: Some(Secret::Hash(phc.clone())),
            opers: vec![("op".into(), Secret::Hash(phc.clone()))],
            ..Config::default()
        });
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "PASS sesame");
        t.line(&mut c, "NICK n");
        t.line(&mut c, "USER u 0 * :R");
        assert_eq!(t.take(c.id), "", "registration waits for the check");
        t.answer_job(&mut c, |job| {
            assert!(matches!(job, Job::Secret { phc: p, .. } if *p == phc));
            Answer::Secret(Ok(true))
        });
        assert!(t.take(c.id).contains(" 001 n "));
        t.line(&mut c, "OPER op wrong");
        t.answer_job(&mut c, |_| Answer::Secret(Ok(false)));
        assert!(t.take(c.id).contains(" 464 "));
        t.line(&mut c, "OPER op sesame");
        t.answer_job(&mut c, |_| Answer::Secret(Ok(true)));
        assert!(t.take(c.id).contains(" 381 "));
        let mut d = t.connect(Proto::Irc);
        t.line(&mut d, "PASS wrong");
        t.line(&mut d, "NICK m");
        t.line(&mut d, "USER u 0 * :R");
        t.answer_job(&mut d, |_| Answer::Secret(Ok(false)));
        assert!(t
            .take(d.id)
            .ends_with("ERROR :Closing link (Bad password)\r\n"));
    }
}
