//! SASL over `AUTHENTICATE` (IRCv3 SASL 3.1, and 3.2's reauthentication): PLAIN, SCRAM-SHA-256
//! and EXTERNAL, driven by [`crate::auth::sasl::Exchange`], with the credentials looked up in
//! the store off the loop.
//!
//! Before registration a success is kept by the session and applied when the user enters the
//! hub; after it the account changes at once (those who share a room hear `ACCOUNT`). A
//! second `AUTHENTICATE` after a success before registration gets `907`; after registration
//! it starts a new exchange. Registering in the middle of an exchange aborts it (`906`).

use super::{IrcSession, Wait};
use crate::auth::external;
use crate::auth::sasl::{self, Exchange, Failure, Step};
use crate::auth::scram;
use crate::front::{Answer, Ctx, Job, Output};
use crate::hub::Hub;
use crate::proto::irc::caps;
use crate::proto::irc_msg::{write_message, write_numeric};
use crate::store::AccountError;

pub const RPL_LOGGEDIN: u16 = 900;
pub const RPL_LOGGEDOUT: u16 = 901;
pub const RPL_SASLSUCCESS: u16 = 903;
/// 905 (too long) and 906 (aborted) come from [`Failure::numeric`].
pub const ERR_SASLFAIL: u16 = 904;
pub const ERR_SASLALREADY: u16 = 907;
pub const RPL_SASLMECHS: u16 = 908;

/// One exchange in progress.
pub(super) struct Sasl {
    exchange: Exchange,
    /// Which exchange of this connection: answers for an earlier one are ignored.
    serial: u32,
    /// The account being authenticated (folded), once the client has named it.
    key: Option<Box<str>>,
    /// SCRAM: the account's name as registered, from the lookup.
    name: Option<Box<str>>,
    /// EXTERNAL: the authorization identity asked for.
    authzid: Option<Box<str>>,
}

impl IrcSession {
    fn sasl_ref(&self) -> Option<&Sasl> {
        self.auth.as_ref()?.sasl.as_deref()
    }

    fn sasl_mut(&mut self) -> Option<&mut Sasl> {
        self.auth.as_mut()?.sasl.as_deref_mut()
    }

    /// Ends the exchange, if one is going on.
    fn end_sasl(&mut self) -> Option<Box<Sasl>> {
        self.auth.as_mut()?.sasl.take()
    }

    /// `nick!user@host` as 900 and 901 show it.
    pub(super) fn mask(&self, ctx: &Ctx<'_>, hub: &Hub) -> String {
        let me = self.me(hub, ctx.id);
        if let Some(s) = hub.source_of(me).filter(|_| self.registered()) {
            return format!("{}!{}@{}", s.nick, s.user, s.host);
        }
        let user = self.early_user().unwrap_or("*");
        format!("{me}!{user}@{}", ctx.peer)
    }

    /// `900 me mask account :You are now logged in as account`.
    pub(super) fn logged_in(&self, ctx: &Ctx<'_>, account: &str, hub: &Hub, out: &mut impl Output) {
        let (me, mask) = (self.me(hub, ctx.id).to_string(), self.mask(ctx, hub));
        let srv = ctx.cfg.server_name.as_str();
        let text = format!("You are now logged in as {account}");
        out.raw(ctx.id, |b| {
            write_numeric(b, srv, RPL_LOGGEDIN, &me, &[&mask, account, &text])
        });
    }

    /// `901 me mask :You are now logged out`.
    pub(super) fn logged_out(&self, ctx: &Ctx<'_>, hub: &Hub, out: &mut impl Output) {
        let (me, mask) = (self.me(hub, ctx.id).to_string(), self.mask(ctx, hub));
        let srv = ctx.cfg.server_name.as_str();
        out.raw(ctx.id, |b| {
            write_numeric(
                b,
                srv,
                RPL_LOGGEDOUT,
                &me,
                &[&mask, "You are now logged out"],
            )
        });
    }

    fn sasl_numeric(
        &self,
        ctx: &Ctx<'_>,
        code: u16,
        params: &[&str],
        hub: &Hub,
        out: &mut impl Output,
    ) {
        let me = self.me(hub, ctx.id).to_string();
        let srv = ctx.cfg.server_name.as_str();
        out.raw(ctx.id, |b| write_numeric(b, srv, code, &me, params));
    }

    /// Ends the exchange with a failure numeric (904, 905 or 906).
    fn sasl_fail(&mut self, ctx: &Ctx<'_>, failure: &Failure, hub: &Hub, out: &mut impl Output) {
        self.end_sasl();
        let text = match failure {
            Failure::Aborted => "SASL authentication aborted",
            Failure::ChunkTooLong => "SASL message too long",
            _ => "SASL authentication failed",
        };
        self.sasl_numeric(ctx, failure.numeric(), &[text], hub, out);
    }

    /// 904 with a reason of its own (rate limited, store busy).
    fn sasl_refuse(&mut self, ctx: &Ctx<'_>, why: &str, hub: &Hub, out: &mut impl Output) {
        self.end_sasl();
        let text = format!("SASL authentication failed: {why}");
        self.sasl_numeric(ctx, ERR_SASLFAIL, &[&text], hub, out);
    }

    /// `AUTHENTICATE <mechanism>`, then `AUTHENTICATE <response>` chunks.
    pub(super) fn authenticate(
        &mut self,
        ctx: &Ctx<'_>,
        p: &[&str],
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let Some(&param) = p.first().filter(|s| !s.is_empty()) else {
            let me = self.me(hub, ctx.id).to_string();
            let srv = ctx.cfg.server_name.as_str();
            return out.raw(ctx.id, |b| {
                write_numeric(b, srv, 461, &me, &["AUTHENTICATE", "Not enough parameters"])
            });
        };
        if self.caps & caps::SASL == 0 {
            let text = "SASL authentication failed: request the sasl capability first";
            return self.sasl_numeric(ctx, ERR_SASLFAIL, &[text], hub, out);
        }
        if let Some(s) = self.sasl_mut() {
            let step = s.exchange.receive(param);
            return self.sasl_step(ctx, step, hub, out);
        }
        if param == "*" {
            return self.sasl_fail(ctx, &Failure::Aborted, hub, out);
        }
        if self.auth.as_ref().is_some_and(|a| a.sasl_done) && !self.registered() {
            let text = "You have already authenticated using SASL";
            return self.sasl_numeric(ctx, ERR_SASLALREADY, &[text], hub, out);
        }
        match Exchange::start(param) {
            Ok((exchange, step)) => {
                let auth = self.auth();
                auth.sasl_serial = auth.sasl_serial.wrapping_add(1);
                auth.sasl = Some(Box::new(Sasl {
                    exchange,
                    serial: auth.sasl_serial,
                    key: None,
                    name: None,
                    authzid: None,
                }));
                self.sasl_step(ctx, step, hub, out);
            }
            Err(Failure::UnknownMechanism) => {
                let mechs = sasl::mechanism_list(!ctx.cfg.irc_tls_listen.is_empty());
                let text = "are available SASL mechanisms";
                self.sasl_numeric(ctx, RPL_SASLMECHS, &[mechs, text], hub, out);
                self.sasl_fail(ctx, &Failure::UnknownMechanism, hub, out);
            }
            Err(failure) => self.sasl_fail(ctx, &failure, hub, out),
        }
    }

    /// Hands a lookup to the store, unless the account is held back by failed logins.
    fn sasl_lookup(
        &mut self,
        ctx: &Ctx<'_>,
        account: &str,
        job: impl FnOnce(&str) -> Job,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let Ok(key) = hub.account_key(account) else {
            hub.login_failed(&hub.name_rules().fold(account), ctx.peer, ctx.clock.mono);
            return self.sasl_fail(ctx, &Failure::BadCredentials, hub, out);
        };
        if let Err(wait) = hub.login_allowed(&key, ctx.peer, ctx.clock.mono) {
            let why = format!(
                "too many failed logins; try again in {} s",
                wait.as_secs() + 1
            );
            return self.sasl_refuse(ctx, &why, hub, out);
        }
        let Some(auth) = self.auth.as_mut() else {
            return;
        };
        let Some(s) = &mut auth.sasl else { return };
        let serial = s.serial;
        s.key = Some(key.clone());
        let tag = auth.jobs.add(Wait::Sasl(serial));
        out.submit(ctx.id, tag, job(&key));
    }

    fn sasl_step(&mut self, ctx: &Ctx<'_>, step: Step, hub: &mut Hub, out: &mut impl Output) {
        match step {
            Step::Send(params) => {
                for p in &params {
                    out.raw(ctx.id, |b| write_message(b, None, "AUTHENTICATE", &[p]));
                }
            }
            Step::More => {}
            Step::CheckPassword { account, password } => {
                let job = |key: &str| Job::Login {
                    key: key.into(),
                    password,
                };
                self.sasl_lookup(ctx, &account, job, hub, out);
            }
            Step::LookupScram { account } => {
                let job = |key: &str| Job::Scram { key: key.into() };
                self.sasl_lookup(ctx, &account, job, hub, out);
            }
            Step::LookupCertificate { authzid } => {
                let certfp = match self.reg.as_ref() {
                    Some(reg) => reg.arrival.certfp.as_deref(),
                    None => hub.certfp(ctx.id),
                };
                let Some(fp) = certfp.and_then(crate::proto::services::fingerprint) else {
                    let why = "no TLS client certificate was presented";
                    return self.sasl_refuse(ctx, why, hub, out);
                };
                let Some(auth) = self.auth.as_mut() else {
                    return;
                };
                let Some(s) = &mut auth.sasl else { return };
                s.authzid = authzid.map(Into::into);
                let tag = auth.jobs.add(Wait::Sasl(s.serial));
                out.submit(ctx.id, tag, Job::Certificate { fingerprint: fp });
            }
            Step::Success => {
                let name = self.sasl_ref().and_then(|s| s.name.clone());
                match name {
                    Some(name) => self.sasl_success(ctx, &name, hub, out),
                    None => self.sasl_fail(ctx, &Failure::BadCredentials, hub, out),
                }
            }
            Step::Fail(failure) => {
                if failure == Failure::BadCredentials {
                    // A wrong SCRAM proof: a failed login like any other.
                    if let Some(key) = self.sasl_ref().and_then(|s| s.key.clone()) {
                        hub.login_failed(&key, ctx.peer, ctx.clock.mono);
                    }
                }
                self.sasl_fail(ctx, &failure, hub, out);
            }
        }
    }

    fn sasl_success(&mut self, ctx: &Ctx<'_>, account: &str, hub: &mut Hub, out: &mut impl Output) {
        if let Some(key) = self.end_sasl().and_then(|s| s.key) {
            hub.login_succeeded(&key);
        }
        if self.registered() {
            hub.set_account(ctx.id, Some(account), ctx.clock, out);
        } else {
            let auth = self.auth();
            auth.account = Some(account.into());
            auth.sasl_done = true;
        }
        self.logged_in(ctx, account, hub, out);
        let text = "SASL authentication successful";
        self.sasl_numeric(ctx, RPL_SASLSUCCESS, &[text], hub, out);
    }

    /// The store's answer to a lookup of the exchange `serial`.
    pub(super) fn sasl_answer(
        &mut self,
        ctx: &Ctx<'_>,
        serial: u32,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if self.sasl_ref().map(|s| s.serial) != Some(serial) {
            return; // that exchange was aborted meanwhile
        }
        let key = self.sasl_ref().and_then(|s| s.key.clone());
        let unavailable = |e: &AccountError| match e {
            AccountError::Busy => "the server is busy; try again in a moment",
            _ => "accounts are unavailable right now; try again later",
        };
        match answer {
            Answer::Login(Ok(account)) => {
                if let Some(s) = self.sasl_mut() {
                    s.exchange.finish();
                }
                self.sasl_success(ctx, &account.name, hub, out);
            }
            Answer::Login(Err(AccountError::BadPassword | AccountError::NoSuchAccount)) => {
                if let Some(key) = key {
                    hub.login_failed(&key, ctx.peer, ctx.clock.mono);
                }
                self.sasl_fail(ctx, &Failure::BadCredentials, hub, out);
            }
            Answer::Scram(result) => {
                let credentials = match &result {
                    Ok((_, creds)) => Some(creds),
                    Err(AccountError::NoSuchAccount) => None,
                    Err(e) => return self.sasl_refuse(ctx, unavailable(e), hub, out),
                };
                let Ok(nonce) = scram::server_nonce() else {
                    return self.sasl_refuse(ctx, "no randomness for a nonce", hub, out);
                };
                let Some(s) = self.sasl_mut() else { return };
                if let Ok((name, _)) = &result {
                    s.name = Some(name.name.as_str().into());
                }
                // An unknown account fails at the proof, as a wrong password does.
                let step = s.exchange.scram_credentials(credentials, &nonce);
                self.sasl_step(ctx, step, hub, out);
            }
            Answer::Certificate(Ok(account)) => {
                let authzid = self.sasl_ref().and_then(|s| s.authzid.clone());
                if let Some(s) = self.sasl_mut() {
                    s.exchange.finish();
                }
                match external::authorize(authzid.as_deref(), Some(&account.name)) {
                    Ok(name) => {
                        let name = name.to_string();
                        self.sasl_success(ctx, &name, hub, out)
                    }
                    Err(_) => self.sasl_fail(ctx, &Failure::BadCredentials, hub, out),
                }
            }
            Answer::Certificate(Err(AccountError::NoSuchAccount)) => {
                self.sasl_refuse(ctx, "the client certificate is not registered", hub, out)
            }
            Answer::Login(Err(e)) | Answer::Certificate(Err(e)) => {
                self.sasl_refuse(ctx, unavailable(&e), hub, out)
            }
            _ => self.sasl_fail(ctx, &Failure::BadCredentials, hub, out),
        }
    }

    /// Registration completed during an exchange: it is aborted (906).
    pub(super) fn abort_sasl(&mut self, ctx: &Ctx<'_>, hub: &Hub, out: &mut impl Output) {
        if self.sasl_ref().is_some() {
            self.sasl_fail(ctx, &Failure::Aborted, hub, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::password::{self, HashParams};
    use crate::front::recorder::{Conn, Recorder};
    use crate::front::{Answer, Job, Proto};
    use crate::store::{AccountError, AccountName};

    fn name(n: &str) -> AccountName {
        AccountName {
            key: n.to_lowercase(),
            name: n.into(),
        }
    }

    fn sasl_client(t: &mut Recorder) -> Conn {
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, "CAP LS 302");
        t.line(&mut c, "CAP REQ sasl");
        t.take(c.id);
        c
    }

    #[test]
    fn plain_before_registration_then_the_welcome_knows_the_account() {
        let mut t = Recorder::new();
        let mut c = sasl_client(&mut t);
        t.line(&mut c, "AUTHENTICATE PLAIN");
        assert_eq!(t.take(c.id), "AUTHENTICATE +\r\n");
        t.line(&mut c, "AUTHENTICATE amlsbGVzAGppbGxlcwBzZXNhbWU=");
        assert_eq!(t.take(c.id), "", "the store is asked first");
        let job = t.answer_job(&mut c, |job| {
            assert!(matches!(job, Job::Login { key, .. } if key == "jilles"));
            Answer::Login(Ok(name("jilles")))
        });
        assert!(!format!("{job:?}").contains("sesame"));
        assert_eq!(
            t.take(c.id),
            ":snak.localhost 900 * *!*@127.0.0.1 jilles :You are now logged in as jilles\r\n\
             :snak.localhost 903 * :SASL authentication successful\r\n"
        );
        t.line(&mut c, "AUTHENTICATE PLAIN");
        assert!(t
            .take(c.id)
            .contains(" 907 * :You have already authenticated using SASL"));
        t.line(&mut c, "NICK jilles");
        t.line(&mut c, "USER j 0 * :J");
        t.line(&mut c, "CAP END");
        assert!(t.take(c.id).contains(" 001 jilles "));
        assert_eq!(t.hub.account(c.id), Some("jilles"));
    }

    #[test]
    fn wrong_passwords_unknown_mechanisms_aborts_and_limits() {
        let mut t = Recorder::new();
        let mut c = sasl_client(&mut t);
        t.line(&mut c, "AUTHENTICATE FOO");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost 908 * PLAIN,SCRAM-SHA-256 :are available SASL mechanisms\r\n\
             :snak.localhost 904 * :SASL authentication failed\r\n"
        );
        for _ in 0..crate::hub::accounts::FREE_FAILURES_PER_ACCOUNT {
            t.line(&mut c, "AUTHENTICATE PLAIN");
            t.line(&mut c, "AUTHENTICATE amlsbGVzAGppbGxlcwBtaWxsZXQ=");
            t.answer_job(&mut c, |_| Answer::Login(Err(AccountError::BadPassword)));
            assert!(t
                .take(c.id)
                .ends_with(" 904 * :SASL authentication failed\r\n"));
        }
        // One more failure, then the account must wait.
        t.line(&mut c, "AUTHENTICATE PLAIN");
        t.line(&mut c, "AUTHENTICATE amlsbGVzAGppbGxlcwBtaWxsZXQ=");
        t.answer_job(&mut c, |_| Answer::Login(Err(AccountError::NoSuchAccount)));
        t.take(c.id);
        t.line(&mut c, "AUTHENTICATE PLAIN");
        t.line(&mut c, "AUTHENTICATE amlsbGVzAGppbGxlcwBzZXNhbWU=");
        let got = t.take(c.id);
        assert!(
            got.contains("904 * :SASL authentication failed: too many failed logins"),
            "{got}"
        );
        assert!(t.jobs.is_empty(), "no password check while held back");
        t.line(&mut c, "AUTHENTICATE PLAIN");
        t.line(&mut c, "AUTHENTICATE *");
        assert!(t
            .take(c.id)
            .ends_with(" 906 * :SASL authentication aborted\r\n"));
        t.line(&mut c, "AUTHENTICATE PLAIN");
        t.line(&mut c, &format!("AUTHENTICATE {}", "A".repeat(401)));
        assert!(t.take(c.id).ends_with(" 905 * :SASL message too long\r\n"));
        // Registration in the middle of an exchange aborts it.
        t.line(&mut c, "AUTHENTICATE PLAIN");
        t.line(&mut c, "NICK x");
        t.line(&mut c, "USER x 0 * :x");
        t.line(&mut c, "CAP END");
        let got = t.take(c.id);
        assert!(
            got.contains(" 906 x :SASL authentication aborted\r\n"),
            "{got}"
        );
        assert!(got.contains(" 001 x "), "{got}");
    }

    #[test]
    fn scram_after_registration_changes_the_account_at_once() {
        let mut t = Recorder::new();
        let mut c = sasl_client(&mut t);
        t.line(&mut c, "NICK sc");
        t.line(&mut c, "USER s 0 * :S");
        t.line(&mut c, "CAP END");
        t.take(c.id);
        let hashes = password::hash(&HashParams::cheap(), "sesame").unwrap();
        t.line(&mut c, "AUTHENTICATE SCRAM-SHA-256");
        assert_eq!(t.take(c.id), "AUTHENTICATE +\r\n");
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine;
        let bare = "n=Scramtest,r=clientnonce";
        t.line(
            &mut c,
            &format!("AUTHENTICATE {}", B64.encode(format!("n,,{bare}"))),
        );
        t.answer_job(&mut c, |job| {
            assert_eq!(
                job,
                &Job::Scram {
                    key: "scramtest".into()
                }
            );
            Answer::Scram(Ok((name("Scramtest"), hashes.scram.clone())))
        });
        let first = t.take(c.id);
        let first = first.trim_end().strip_prefix("AUTHENTICATE ").unwrap();
        let first = String::from_utf8(B64.decode(first).unwrap()).unwrap();
        let (fin, _) = crate::auth::scram::tests::client_final_for("sesame", "n,,", bare, &first);
        t.line(&mut c, &format!("AUTHENTICATE {}", B64.encode(fin)));
        assert!(t.take(c.id).starts_with("AUTHENTICATE "));
        t.line(&mut c, "AUTHENTICATE +");
        assert_eq!(
            t.take(c.id),
            ":snak.localhost 900 sc sc!s@127.0.0.1 Scramtest :You are now logged in as Scramtest\r\n\
             :snak.localhost 903 sc :SASL authentication successful\r\n"
        );
        assert_eq!(t.hub.account(c.id), Some("Scramtest"));
    }
}
