//! One SASL exchange over `AUTHENTICATE`, from the mechanism name to success or a numeric.
//!
//! The front end keeps an [`Exchange`] per connection in the middle of SASL and does what
//! each [`Step`] says: send `AUTHENTICATE` lines, wait for more chunks, or look credentials
//! up in the store (asynchronously) and come back with the answer. Nothing here blocks or
//! touches a socket; the slow part (argon2 for PLAIN) happens in the store's hashing thread.
//!
//! ```text
//! C: AUTHENTICATE SCRAM-SHA-256      Exchange::start        -> Send(["+"])
//! C: AUTHENTICATE <client-first>     receive                -> LookupScram { account }
//!    (store answers)                 scram_credentials      -> Send([<server-first>])
//! C: AUTHENTICATE <client-final>     receive                -> Send([<server-final>])
//! C: AUTHENTICATE +                  receive                -> Success   (send 900, 903)
//! ```

use super::chunks::{self, ChunkError, Reassembly};
use super::external;
use super::plain;
use super::scram::{ScramCredentials, ScramServer};

/// The mechanisms on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    External,
}

impl Mechanism {
    /// Case-insensitive, as clients vary.
    pub fn parse(name: &str) -> Option<Mechanism> {
        [
            Mechanism::Plain,
            Mechanism::ScramSha256,
            Mechanism::External,
        ]
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::External => "EXTERNAL",
        }
    }
}

/// The list for the `sasl` capability value and 908 RPL_SASLMECHS. EXTERNAL only where
/// client certificates can reach the server (a TLS listener).
pub fn mechanism_list(with_external: bool) -> &'static str {
    if with_external {
        "PLAIN,SCRAM-SHA-256,EXTERNAL"
    } else {
        "PLAIN,SCRAM-SHA-256"
    }
}

/// How an exchange ended badly; [`Failure::numeric`] says which numeric to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The client sent `AUTHENTICATE *` (906).
    Aborted,
    /// One parameter over 400 bytes (905).
    ChunkTooLong,
    /// A mechanism this server does not offer (904, after 908 with the list).
    UnknownMechanism,
    /// Wrong password, unknown account or certificate (904).
    BadCredentials,
    /// A response that breaks the mechanism's rules (904); the text is for logs and NOTEs.
    Invalid(String),
}

impl Failure {
    pub fn numeric(&self) -> u16 {
        match self {
            Failure::Aborted => 906,
            Failure::ChunkTooLong => 905,
            _ => 904,
        }
    }
}

/// What the front end does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these as `AUTHENTICATE <param>` lines, in order.
    Send(Vec<String>),
    /// A chunk was taken; the response goes on.
    More,
    /// PLAIN: check this password (the store's `Login` call), then send 900/903 or 904.
    CheckPassword { account: String, password: String },
    /// SCRAM: fetch this account's SCRAM credentials (the store's `Scram` call), then call
    /// [`Exchange::scram_credentials`].
    LookupScram { account: String },
    /// EXTERNAL: look the connection's certificate fingerprint up (the store's `Certificate`
    /// call), then decide with [`external::authorize`] and this authzid.
    LookupCertificate { authzid: Option<String> },
    /// SCRAM finished: the account named in [`Step::LookupScram`] is authenticated.
    Success,
    /// Send `failure.numeric()`; the exchange is over.
    Fail(Failure),
}

enum State {
    /// Waiting for the client's (first) response.
    Initial,
    /// The front end is looking credentials up; the client must wait.
    Lookup,
    ScramNeedCredentials(Box<ScramServer>),
    ScramSentFirst(Box<ScramServer>),
    /// Server-final sent; the client answers with an empty response.
    ScramSentFinal,
    Over,
}

/// One exchange in progress.
pub struct Exchange {
    mechanism: Mechanism,
    reassembly: Reassembly,
    state: State,
}

impl Exchange {
    /// `AUTHENTICATE <mechanism>`. All three mechanisms are client-first: the first step is
    /// an empty challenge (`AUTHENTICATE +`).
    pub fn start(mechanism: &str) -> Result<(Exchange, Step), Failure> {
        let mechanism = Mechanism::parse(mechanism).ok_or(Failure::UnknownMechanism)?;
        let exchange = Exchange {
            mechanism,
            reassembly: Reassembly::default(),
            state: State::Initial,
        };
        Ok((exchange, Step::Send(chunks::encode(b""))))
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// True once the exchange has ended in success or failure (or [`Exchange::finish`]).
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Over)
    }

    /// One `AUTHENTICATE <param>` from the client, after the mechanism.
    pub fn receive(&mut self, param: &str) -> Step {
        if param == "*" {
            return self.fail(Failure::Aborted);
        }
        if matches!(self.state, State::Over) {
            return Step::Fail(Failure::Invalid("the exchange is over".into()));
        }
        if matches!(self.state, State::Lookup | State::ScramNeedCredentials(_)) {
            return self.fail(Failure::Invalid(
                "a response arrived before the server answered".into(),
            ));
        }
        let response = match self.reassembly.push(param) {
            Ok(Some(r)) => r,
            Ok(None) => return Step::More,
            Err(ChunkError::ChunkTooLong) => return self.fail(Failure::ChunkTooLong),
            Err(ChunkError::ResponseTooLong) => {
                return self.fail(Failure::Invalid("response too long".into()))
            }
            Err(ChunkError::BadBase64) => {
                return self.fail(Failure::Invalid("response is not base64".into()))
            }
        };
        match (
            std::mem::replace(&mut self.state, State::Over),
            self.mechanism,
        ) {
            (State::Initial, Mechanism::Plain) => match plain::parse(&response) {
                Ok(c) => {
                    self.state = State::Lookup;
                    Step::CheckPassword {
                        account: c.authcid,
                        password: c.password,
                    }
                }
                Err(e) => self.fail(Failure::Invalid(e.to_string())),
            },
            (State::Initial, Mechanism::External) => match external::parse(&response) {
                Ok(authzid) => {
                    self.state = State::Lookup;
                    Step::LookupCertificate { authzid }
                }
                Err(e) => self.fail(Failure::Invalid(e.to_string())),
            },
            (State::Initial, Mechanism::ScramSha256) => match ScramServer::new(&response) {
                Ok(server) => {
                    let account = server.username().to_owned();
                    self.state = State::ScramNeedCredentials(Box::new(server));
                    Step::LookupScram { account }
                }
                Err(e) => self.fail(Failure::Invalid(e.to_string())),
            },
            (State::ScramSentFirst(mut server), _) => match server.client_final(&response) {
                Ok(server_final) => {
                    self.state = State::ScramSentFinal;
                    Step::Send(chunks::encode(&server_final))
                }
                Err(crate::auth::scram::ScramError::BadProof) => self.fail(Failure::BadCredentials),
                Err(e) => self.fail(Failure::Invalid(e.to_string())),
            },
            (State::ScramSentFinal, _) if response.is_empty() => Step::Success,
            (State::ScramSentFinal, _) => {
                self.fail(Failure::Invalid("expected an empty response".into()))
            }
            // Lookup states were handled above; Over cannot reach here.
            _ => self.fail(Failure::Invalid("unexpected response".into())),
        }
    }

    /// The store's answer to [`Step::LookupScram`]: the credentials, or `None` for no such
    /// account (the exchange then fails at the proof, as a wrong password would).
    /// `server_nonce` comes from [`crate::auth::scram::server_nonce`].
    pub fn scram_credentials(
        &mut self,
        credentials: Option<&ScramCredentials>,
        server_nonce: &str,
    ) -> Step {
        let State::ScramNeedCredentials(mut server) =
            std::mem::replace(&mut self.state, State::Over)
        else {
            return Step::Fail(Failure::Invalid("no SCRAM lookup was pending".into()));
        };
        match server.server_first(credentials, server_nonce) {
            Ok(first) => {
                self.state = State::ScramSentFirst(server);
                Step::Send(chunks::encode(&first))
            }
            Err(e) => self.fail(Failure::Invalid(e.to_string())),
        }
    }

    /// Marks a PLAIN or EXTERNAL exchange finished once the front end has the lookup's answer.
    pub fn finish(&mut self) {
        self.state = State::Over;
    }

    fn fail(&mut self, failure: Failure) -> Step {
        self.state = State::Over;
        Step::Fail(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scram::tests::client_final_for;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    #[test]
    fn mechanisms_by_name() {
        assert_eq!(Mechanism::parse("plain"), Some(Mechanism::Plain));
        assert_eq!(
            Mechanism::parse("SCRAM-SHA-256"),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(Mechanism::parse("EXTERNAL"), Some(Mechanism::External));
        assert_eq!(Mechanism::parse("SCRAM-SHA-1"), None);
        assert_eq!(
            Exchange::start("FOO").err(),
            Some(Failure::UnknownMechanism)
        );
    }

    #[test]
    fn plain_in_one_chunk() {
        let (mut ex, first) = Exchange::start("PLAIN").unwrap();
        assert_eq!(first, Step::Send(vec!["+".into()]));
        assert_eq!(
            ex.receive("amlsbGVzAGppbGxlcwBzZXNhbWU="),
            Step::CheckPassword {
                account: "jilles".into(),
                password: "sesame".into()
            }
        );
        // The client may not send more while the server checks.
        assert!(matches!(ex.receive("AAAA"), Step::Fail(_)));
    }

    #[test]
    fn plain_in_chunks_like_irctest() {
        let password = "x".repeat(592);
        let text = B64.encode(format!("foo\0foo\0{password}"));
        assert_eq!(text.len(), 800);
        let (mut ex, _) = Exchange::start("PLAIN").unwrap();
        assert_eq!(ex.receive(&text[..400]), Step::More);
        assert_eq!(ex.receive(&text[400..]), Step::More);
        assert_eq!(
            ex.receive("+"),
            Step::CheckPassword {
                account: "foo".into(),
                password
            }
        );
    }

    #[test]
    fn abort_too_long_and_endless() {
        let (mut ex, _) = Exchange::start("PLAIN").unwrap();
        assert_eq!(ex.receive("*"), Step::Fail(Failure::Aborted));
        assert_eq!(Failure::Aborted.numeric(), 906);
        let (mut ex, _) = Exchange::start("PLAIN").unwrap();
        let step = ex.receive(&"A".repeat(500));
        assert_eq!(step, Step::Fail(Failure::ChunkTooLong));
        assert_eq!(Failure::ChunkTooLong.numeric(), 905);
        let (mut ex, _) = Exchange::start("PLAIN").unwrap();
        let chunk = "A".repeat(400);
        let steps: Vec<Step> = (0..1000).map(|_| ex.receive(&chunk)).collect();
        let fail = steps
            .iter()
            .position(|s| matches!(s, Step::Fail(_)))
            .unwrap();
        assert!(fail < 20);
        assert_eq!(
            steps[fail].clone(),
            Step::Fail(Failure::Invalid("response too long".into()))
        );
        assert!(ex.is_over());
    }

    #[test]
    fn scram_through_the_exchange() {
        let creds = ScramCredentials::derive("sesame", b"salt-salt-salt!!", 4096);
        let (mut ex, _) = Exchange::start("SCRAM-SHA-256").unwrap();
        let bare = "n=Scramtest,r=clientnonce";
        let step = ex.receive(&B64.encode(format!("n,,{bare}")));
        assert_eq!(
            step,
            Step::LookupScram {
                account: "Scramtest".into()
            }
        );
        let Step::Send(first) = ex.scram_credentials(Some(&creds), "servernonce") else {
            panic!("no server-first");
        };
        let first = String::from_utf8(B64.decode(&first[0]).unwrap()).unwrap();
        let (fin, sig) = client_final_for("sesame", "n,,", bare, &first);
        let Step::Send(last) = ex.receive(&B64.encode(fin)) else {
            panic!("no server-final");
        };
        assert_eq!(
            B64.decode(&last[0]).unwrap(),
            format!("v={}", B64.encode(sig)).into_bytes()
        );
        assert_eq!(ex.receive("+"), Step::Success);
    }

    #[test]
    fn scram_wrong_password_is_bad_credentials() {
        let creds = ScramCredentials::derive("sesame", b"salt", 4096);
        let (mut ex, _) = Exchange::start("SCRAM-SHA-256").unwrap();
        let bare = "n=u,r=cn";
        ex.receive(&B64.encode(format!("n,,{bare}")));
        let Step::Send(first) = ex.scram_credentials(Some(&creds), "sn") else {
            panic!()
        };
        let first = String::from_utf8(B64.decode(&first[0]).unwrap()).unwrap();
        let (fin, _) = client_final_for("millet", "n,,", bare, &first);
        assert_eq!(
            ex.receive(&B64.encode(fin)),
            Step::Fail(Failure::BadCredentials)
        );
    }

    #[test]
    fn scram_refuses_channel_binding_clearly() {
        let (mut ex, _) = Exchange::start("SCRAM-SHA-256").unwrap();
        let step = ex.receive(&B64.encode("p=tls-exporter,,n=u,r=x"));
        assert_eq!(
            step,
            Step::Fail(Failure::Invalid(
                "channel binding is not supported by this server".into()
            ))
        );
    }

    #[test]
    fn external_asks_for_the_certificate() {
        let (mut ex, _) = Exchange::start("EXTERNAL").unwrap();
        assert_eq!(ex.receive("+"), Step::LookupCertificate { authzid: None });
        let (mut ex, _) = Exchange::start("EXTERNAL").unwrap();
        assert_eq!(
            ex.receive(&B64.encode("alice")),
            Step::LookupCertificate {
                authzid: Some("alice".into())
            }
        );
    }
}
