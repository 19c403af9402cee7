//! The native front end's accounts: `/register`, `/login` and the rest (and `/msg NickServ`,
//! `/msg ChanServ`) carried out through [`crate::front::accounts`], answered in native lines.

use super::Native;
use crate::front::accounts::{self, Done, Op, Who};
use crate::front::{Answer, Ctx, Job, Output};
use crate::hub::Hub;
use crate::proto::services::Request;

/// What a job this session handed off is for.
#[derive(Debug)]
pub(super) enum Wait {
    Account(Op),
    /// `/oper` with a password given as a hash.
    Oper,
}

impl Native {
    fn jobs(&mut self) -> &mut accounts::Jobs<Wait> {
        &mut self.waiting.get_or_insert_with(Default::default).jobs
    }

    /// `/oper` against a hashed password: checked off the loop.
    pub(super) fn check_oper(
        &mut self,
        ctx: &Ctx<'_>,
        phc: String,
        password: &str,
        out: &mut impl Output,
    ) {
        let tag = self.jobs().add(Wait::Oper);
        let job = Job::Secret {
            phc,
            password: password.into(),
        };
        out.submit(ctx.id, tag, job);
    }

    /// An account or room request.
    pub(super) fn service(
        &mut self,
        ctx: &Ctx<'_>,
        req: Request<'_>,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let Some(req) = accounts::answer_service(ctx, req, hub, out) else {
            return;
        };
        let who = Who::of(hub, ctx.id);
        let done = accounts::request(ctx, req, &who, hub, out);
        self.done(ctx, done, hub, out);
    }

    /// Hands the next job off, or tells what came of the request.
    fn done(&mut self, ctx: &Ctx<'_>, done: Done, hub: &mut Hub, out: &mut impl Output) {
        match done {
            Done::Next(job, op) => {
                let tag = self.jobs().add(Wait::Account(op));
                out.submit(ctx.id, tag, job);
            }
            done => accounts::tell(&done, ctx.id, hub.nick(ctx.id).unwrap_or("*"), out),
        }
    }

    /// The answer to a job of the accounts' this session handed off.
    pub(super) fn account_answer(
        &mut self,
        ctx: &Ctx<'_>,
        tag: u32,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let taken = self.waiting.as_mut().and_then(|w| w.jobs.take(tag));
        self.tidy();
        let op = match taken {
            Some(Wait::Account(op)) => op,
            Some(Wait::Oper) => {
                let ok = answer == Answer::Secret(Ok(true));
                return crate::front::operator::oper_checked(ctx, ok, hub, out);
            }
            None => return,
        };
        let who = Who::of(hub, ctx.id);
        let done = accounts::answer(ctx, op, answer, &who, hub, out);
        self.done(ctx, done, hub, out);
    }
}

#[cfg(test)]
mod tests {
    use crate::front::recorder::{Conn, Recorder};
    use crate::front::{Answer, Job, Proto};
    use crate::store::{AccountError, AccountInfo, AccountName, Write};

    fn named(t: &mut Recorder, nick: &str) -> Conn {
        let mut c = t.connect(Proto::Native);
        t.line(&mut c, &format!("/nick {nick}"));
        t.take(c.id);
        c
    }

    fn account(n: &str) -> AccountName {
        AccountName {
            key: n.into(),
            name: n.into(),
        }
    }

    #[test]
    fn register_login_logout_password_and_drop() {
        let mut t = Recorder::new();
        let mut a = named(&mut t, "alice");
        t.line(&mut a, "/register sesame alice@example.org");
        let job = t.answer_job(&mut a, |job| {
            let Job::Register {
                key, name, email, ..
            } = job
            else {
                panic!("{job:?}")
            };
            assert_eq!((key.as_str(), name.as_str()), ("alice", "alice"));
            assert_eq!(email.as_deref(), Some("alice@example.org"));
            Answer::Register(Ok(account("alice")))
        });
        assert!(
            !format!("{job:?}").contains("sesame"),
            "no password in Debug"
        );
        assert_eq!(t.take(a.id), "= registered alice\n");
        assert_eq!(t.hub.account(a.id), Some("alice"));
        assert_eq!(t.hub.registered_name("ALICE"), Some("alice"));
        t.line(&mut a, "/register again");
        assert_eq!(
            t.take(a.id),
            "! already-logged-in you are logged in to alice; /logout first\n"
        );
        t.line(&mut a, "/logout");
        let got = t.take(a.id);
        assert!(got.ends_with("= logout\n"), "{got}");
        assert!(
            got.contains("* alice is registered to the account alice"),
            "{got}"
        );
        t.line(&mut a, "/login wrong");
        t.answer_job(&mut a, |job| {
            assert!(matches!(job, Job::Login { key, .. } if key == "alice"));
            Answer::Login(Err(AccountError::BadPassword))
        });
        assert_eq!(t.take(a.id), "! login-failed wrong account or password\n");
        t.line(&mut a, "/login alice sesame");
        t.answer_job(&mut a, |_| Answer::Login(Ok(account("alice"))));
        assert_eq!(t.take(a.id), "= login alice\n");
        t.line(&mut a, "/password sesame open");
        t.answer_job(&mut a, |job| {
            assert!(matches!(job, Job::ChangePassword { key, old: Some(_), .. } if key == "alice"));
            Answer::ChangePassword(Ok(()))
        });
        assert_eq!(t.take(a.id), "= password changed\n");
        t.line(&mut a, "/info");
        t.answer_job(&mut a, |_| {
            Answer::AccountInfo(Ok(AccountInfo {
                name: account("alice"),
                email: Some("alice@example.org".into()),
                registered: 5_000,
                certificates: vec![],
            }))
        });
        assert_eq!(
            t.take(a.id),
            "= info alice registered 5\n= info alice email alice@example.org\n= end info alice\n"
        );
        // Drop: the password first, then the account.
        t.line(&mut a, "/drop open");
        t.answer_job(&mut a, |job| {
            assert!(matches!(job, Job::Login { .. }));
            Answer::Login(Ok(account("alice")))
        });
        t.answer_job(&mut a, |job| {
            assert_eq!(
                job,
                &Job::DropAccount {
                    key: "alice".into()
                }
            );
            Answer::DropAccount(Ok(()))
        });
        assert_eq!(t.take(a.id), "= dropped alice\n");
        assert_eq!(t.hub.account(a.id), None);
        assert_eq!(t.hub.registered_name("alice"), None);
    }

    #[test]
    fn refusals_before_the_store_is_asked() {
        let mut t = Recorder::new();
        let mut g = t.connect(Proto::Native);
        t.take(g.id);
        t.line(&mut g, "/register sesame");
        assert!(t
            .take(g.id)
            .starts_with("! bad-account-name guest-1: guest nicks cannot be registered"));
        let mut a = named(&mut t, "alice");
        t.line(&mut a, "/register sesame not-an-address");
        assert_eq!(
            t.take(a.id),
            "! bad-email not-an-address is not an e-mail address\n"
        );
        for line in ["/logout", "/password a b", "/drop x", "/cert list"] {
            t.line(&mut a, line);
            assert_eq!(
                t.take(a.id),
                "! not-logged-in you are not logged in; /login ACCOUNT PASSWORD first\n",
                "{line}"
            );
        }
        t.line(&mut a, "/login");
        assert_eq!(t.take(a.id), "! usage /login [ACCOUNT] PASSWORD\n");
        assert!(t.jobs.is_empty());
        // Services by /msg work natively too.
        t.line(&mut a, "/msg NickServ frob");
        assert_eq!(
            t.take(a.id),
            "! unknown-command NickServ has no frob; /msg NickServ HELP\n"
        );
        t.line(&mut a, "/msg chanserv register");
        assert_eq!(t.take(a.id), "! usage /msg ChanServ REGISTER <#room>\n");
    }

    #[test]
    fn failed_logins_are_held_back() {
        let mut t = Recorder::new();
        let mut a = named(&mut t, "mallory");
        for _ in 0..crate::hub::accounts::FREE_FAILURES_PER_ACCOUNT {
            t.line(&mut a, "/login alice guess");
            t.answer_job(&mut a, |_| Answer::Login(Err(AccountError::BadPassword)));
        }
        t.line(&mut a, "/login alice guess");
        t.answer_job(&mut a, |_| Answer::Login(Err(AccountError::BadPassword)));
        t.take(a.id);
        t.line(&mut a, "/login alice guess");
        assert_eq!(
            t.take(a.id),
            "! too-many-failures too many failed logins; try again in 1 s\n"
        );
        assert!(t.jobs.is_empty(), "no password check while held back");
        t.line(&mut a, "/login bob guess");
        assert_eq!(t.jobs.len(), 1, "another account is not held back");
    }

    #[test]
    fn certificates_and_ghost() {
        let mut t = Recorder::new();
        let mut a = named(&mut t, "alice");
        let clock = t.clock;
        t.hub.set_account(a.id, Some("alice"), clock, &mut t.out);
        t.line(&mut a, "/cert add");
        assert_eq!(
            t.take(a.id),
            "! no-certificate you connected without a TLS client certificate; name its fingerprint\n"
        );
        let fp = "ab".repeat(32);
        t.line(&mut a, &format!("/cert add {}", fp.to_uppercase()));
        t.answer_job(&mut a, |job| {
            assert_eq!(
                job,
                &Job::CertificateAdd {
                    key: "alice".into(),
                    fingerprint: fp.clone()
                }
            );
            Answer::CertificateAdd(Err(AccountError::Taken))
        });
        assert_eq!(
            t.take(a.id),
            format!("! cert-taken {fp} belongs to another account\n")
        );
        t.line(&mut a, &format!("/cert del {fp}"));
        assert_eq!(t.take(a.id), format!("= cert removed {fp}\n"));
        assert_eq!(
            t.writes,
            [Write::AccountCertRemove {
                key: "alice".into(),
                fingerprint: fp
            }]
        );
        t.line(&mut a, "/ghost bob");
        assert_eq!(t.take(a.id), "! not-owner bob is not your account's nick\n");
    }
}
