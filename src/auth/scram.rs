//! SCRAM-SHA-256, the server side (RFC 5802, RFC 7677), as a pure state machine.
//!
//! The exchange: client-first (`n,,n=user,r=cnonce`) -> [`ScramServer::new`]; the caller looks
//! the user's [`ScramCredentials`] up (asynchronously, in the store) and calls
//! [`ScramServer::server_first`] with a fresh server nonce ([`server_nonce`]); client-final
//! (`c=...,r=...,p=proof`) -> [`ScramServer::client_final`] checks the proof and returns the
//! server-final (`v=signature`). Channel binding is not offered: `n` and `y` are accepted,
//! `p=` is refused.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// What the server keeps to run SCRAM without the password (RFC 5802 section 3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are password equivalents for this server: never in logs.
        f.debug_struct("ScramCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredentials {
    /// Derives the keys from an already SASLprep-ed password (PBKDF2-HMAC-SHA-256).
    pub fn derive(prepared_password: &str, salt: &[u8], iterations: u32) -> Self {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(prepared_password.as_bytes(), salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let server_key = hmac(&salted, b"Server Key");
        ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key,
            server_key,
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A fresh server nonce: 18 bytes from the operating system's CSPRNG, base64 (24 characters).
pub fn server_nonce() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes)?;
    Ok(B64.encode(bytes))
}

/// Why an exchange failed. Every one ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// The message does not follow the grammar; the text says where.
    Malformed(&'static str),
    /// The client asked for channel binding (`p=`), which this server does not offer.
    ChannelBindingNotSupported,
    /// A mandatory extension (`m=`) the server does not know.
    ExtensionNotSupported,
    /// The authorization identity names someone other than the user.
    AuthzidMismatch,
    /// The channel-binding data in client-final differs from the gs2 header of client-first.
    ChannelBindingMismatch,
    /// The nonce in client-final is not the one the server sent.
    NonceMismatch,
    /// Wrong password (or an unknown user).
    BadProof,
    /// A message arrived when another was expected.
    OutOfOrder,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Malformed(what) => write!(f, "malformed SCRAM message: {what}"),
            ScramError::ChannelBindingNotSupported => {
                write!(f, "channel binding is not supported by this server")
            }
            ScramError::ExtensionNotSupported => write!(f, "unsupported SCRAM extension"),
            ScramError::AuthzidMismatch => {
                write!(f, "authorization identity differs from the user name")
            }
            ScramError::ChannelBindingMismatch => write!(f, "channel binding data mismatch"),
            ScramError::NonceMismatch => write!(f, "nonce mismatch"),
            ScramError::BadProof => write!(f, "invalid credentials"),
            ScramError::OutOfOrder => write!(f, "unexpected SCRAM message"),
        }
    }
}

impl std::error::Error for ScramError {}

enum State {
    /// Client-first parsed; waiting for the caller's credential lookup.
    NeedCredentials,
    /// Server-first sent.
    SentFirst {
        credentials: ScramCredentials,
        /// No such user: carry on with made-up credentials and fail at the proof, so the
        /// exchange looks the same up to the end.
        unknown: bool,
        server_first: String,
        nonce: String,
    },
    Done,
}

/// One SCRAM-SHA-256 exchange, server side.
pub struct ScramServer {
    username: String,
    gs2_header: String,
    client_first_bare: String,
    client_nonce: String,
    state: State,
}

impl ScramServer {
    /// Parses client-first. The user name (with `=2C`/`=3D` decoded) is in [`Self::username`].
    pub fn new(client_first: &[u8]) -> Result<Self, ScramError> {
        let text =
            std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (cbind, rest) = text
            .split_once(',')
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        match cbind {
            "n" | "y" => {}
            _ if cbind.starts_with("p=") => return Err(ScramError::ChannelBindingNotSupported),
            _ => return Err(ScramError::Malformed("bad channel binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("no gs2 header"))?;
        let authzid = match authzid {
            "" => None,
            a => Some(decode_saslname(
                a.strip_prefix("a=")
                    .ok_or(ScramError::Malformed("bad authzid"))?,
            )?),
        };
        let gs2_header = format!("{cbind},{},", &rest[..rest.len() - bare.len() - 1]);

        let mut attrs = bare.split(',');
        let first = attrs.next().unwrap_or("");
        if first.starts_with("m=") {
            return Err(ScramError::ExtensionNotSupported);
        }
        let username = decode_saslname(
            first
                .strip_prefix("n=")
                .ok_or(ScramError::Malformed("no user name"))?,
        )?;
        if username.is_empty() {
            return Err(ScramError::Malformed("empty user name"));
        }
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(is_nonce_byte) {
            return Err(ScramError::Malformed("bad nonce"));
        }
        // Further attributes are optional extensions: ignored, as RFC 5802 allows.
        if let Some(a) = authzid {
            if !a.eq_ignore_ascii_case(&username) {
                return Err(ScramError::AuthzidMismatch);
            }
        }
        Ok(ScramServer {
            username,
            gs2_header,
            client_first_bare: bare.to_owned(),
            client_nonce: client_nonce.to_owned(),
            state: State::NeedCredentials,
        })
    }

    /// The user name the client gave (the account to look up).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Server-first, once the credentials are known (`None`: no such user, or an account
    /// without SCRAM keys; the exchange then fails at the proof). `server_nonce` must be
    /// printable ASCII without commas; use [`server_nonce`].
    pub fn server_first(
        &mut self,
        credentials: Option<&ScramCredentials>,
        server_nonce: &str,
    ) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::NeedCredentials) {
            return Err(ScramError::OutOfOrder);
        }
        if server_nonce.is_empty() || !server_nonce.bytes().all(is_nonce_byte) {
            return Err(ScramError::Malformed("bad server nonce"));
        }
        let (credentials, unknown) = match credentials {
            Some(c) => (c.clone(), false),
            None => (made_up_credentials(server_nonce), true),
        };
        let nonce = format!("{}{}", self.client_nonce, server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credentials.salt),
            credentials.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = State::SentFirst {
            credentials,
            unknown,
            server_first,
            nonce,
        };
        Ok(out)
    }

    /// Checks client-final; on success returns server-final (`v=...`) for the client to check.
    pub fn client_final(&mut self, client_final: &[u8]) -> Result<Vec<u8>, ScramError> {
        let State::SentFirst {
            credentials,
            unknown,
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attrs = without_proof.split(',');
        let cbind = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding"))?;
        let cbind = B64
            .decode(cbind)
            .map_err(|_| ScramError::Malformed("bad channel binding base64"))?;
        if cbind != self.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        let got_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        if got_nonce != nonce {
            return Err(ScramError::NonceMismatch);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("bad proof base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed("bad proof length"));
        }

        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac(&credentials.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        let matches: bool = stored.ct_eq(&credentials.stored_key).into();
        if unknown || !matches {
            return Err(ScramError::BadProof);
        }
        let server_signature = hmac(&credentials.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

/// Credentials for a user that does not exist: a salt that looks like any other, keys nobody
/// can match.
fn made_up_credentials(server_nonce: &str) -> ScramCredentials {
    let digest = Sha256::digest(format!("snak unknown user {server_nonce}"));
    ScramCredentials {
        salt: digest[..16].to_vec(),
        iterations: 4096,
        stored_key: [0; 32],
        server_key: [0; 32],
    }
}

/// printable = %x21-2B / %x2D-7E (RFC 5802): any visible ASCII but the comma.
fn is_nonce_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

/// `saslname`: `=2C` is a comma, `=3D` an equals sign; any other `=` is an error.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3);
        match code {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in name")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The client side, for tests: computes client-final from server-first.
    pub(crate) fn client_final_for(
        password: &str,
        gs2_header: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, [u8; 32]) {
        let mut salt = None;
        let mut iterations = None;
        let mut nonce = None;
        for attr in server_first.split(',') {
            if let Some(v) = attr.strip_prefix("s=") {
                salt = Some(B64.decode(v).unwrap());
            } else if let Some(v) = attr.strip_prefix("i=") {
                iterations = Some(v.parse().unwrap());
            } else if let Some(v) = attr.strip_prefix("r=") {
                nonce = Some(v.to_owned());
            }
        }
        let creds = ScramCredentials::derive(password, &salt.unwrap(), iterations.unwrap());
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            password.as_bytes(),
            &creds.salt,
            creds.iterations,
            &mut salted,
        );
        let client_key = hmac(&salted, b"Client Key");
        let without_proof = format!("c={},r={}", B64.encode(gs2_header), nonce.unwrap());
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac(&creds.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(sig).map(|(k, s)| k ^ s).collect();
        let server_sig = hmac(&creds.server_key, auth.as_bytes());
        (
            format!("{without_proof},p={}", B64.encode(proof)),
            server_sig,
        )
    }

    /// RFC 7677 section 3, byte for byte.
    #[test]
    fn rfc7677_test_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let creds = ScramCredentials::derive("pencil", &salt, 4096);
        let mut s = ScramServer::new(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(s.username(), "user");
        let first = s
            .server_first(Some(&creds), "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let fin = s
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&fin).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    fn run(password_stored: &str, password_typed: &str, gs2: &str) -> Result<(), ScramError> {
        let creds = ScramCredentials::derive(password_stored, b"0123456789abcdef", 4096);
        let bare = "n=alice,r=abcdefghij";
        let mut s = ScramServer::new(format!("{gs2}{bare}").as_bytes())?;
        let first = s.server_first(Some(&creds), "SERVERNONCE")?;
        let first = String::from_utf8(first).unwrap();
        let (fin, sig) = client_final_for(password_typed, gs2, bare, &first);
        let v = s.client_final(fin.as_bytes())?;
        assert_eq!(v, format!("v={}", B64.encode(sig)).into_bytes());
        Ok(())
    }

    #[test]
    fn right_and_wrong_passwords() {
        assert_eq!(run("sesame", "sesame", "n,,"), Ok(()));
        assert_eq!(run("sesame", "sesame", "y,,"), Ok(()));
        assert_eq!(run("sesame", "sesame", "n,a=alice,"), Ok(()));
        assert_eq!(run("sesame", "millet", "n,,"), Err(ScramError::BadProof));
        assert_eq!(
            run("sesame", "sesame", "n,a=bob,"),
            Err(ScramError::AuthzidMismatch)
        );
    }

    #[test]
    fn unknown_user_fails_at_the_proof() {
        let mut s = ScramServer::new(b"n,,n=ghost,r=abc").unwrap();
        let first = String::from_utf8(s.server_first(None, "XYZ").unwrap()).unwrap();
        assert!(first.starts_with("r=abcXYZ,s="), "{first}");
        let (fin, _) = client_final_for("anything", "n,,", "n=ghost,r=abc", &first);
        assert_eq!(s.client_final(fin.as_bytes()), Err(ScramError::BadProof));
    }

    #[test]
    fn channel_binding_and_extensions() {
        assert_eq!(
            ScramServer::new(b"p=tls-unique,,n=a,r=b").err(),
            Some(ScramError::ChannelBindingNotSupported)
        );
        assert_eq!(
            ScramServer::new(b"n,,m=ext,n=a,r=b").err(),
            Some(ScramError::ExtensionNotSupported)
        );
        // An optional extension after the nonce is ignored.
        assert!(ScramServer::new(b"n,,n=a,r=b,x=whatever").is_ok());
    }

    #[test]
    fn client_final_must_match_client_first() {
        let creds = ScramCredentials::derive("pw", b"salt", 4096);
        // "y,," in client-first but the client-final says "biws" ("n,,").
        let mut s = ScramServer::new(b"y,,n=a,r=nonce").unwrap();
        s.server_first(Some(&creds), "S").unwrap();
        assert_eq!(
            s.client_final(b"c=biws,r=nonceS,p=AAAA"),
            Err(ScramError::ChannelBindingMismatch)
        );
        let mut s = ScramServer::new(b"n,,n=a,r=nonce").unwrap();
        s.server_first(Some(&creds), "S").unwrap();
        assert_eq!(
            s.client_final(b"c=biws,r=nonceX,p=AAAA"),
            Err(ScramError::NonceMismatch)
        );
        // The exchange is over after one client-final, whatever it was.
        assert_eq!(
            s.client_final(b"c=biws,r=nonceS,p=AAAA"),
            Err(ScramError::OutOfOrder)
        );
    }

    #[test]
    fn malformed_messages() {
        for bad in [
            &b""[..],
            b"n",
            b"n,",
            b"x,,n=a,r=b",
            b"n,b=x,n=a,r=b",
            b"n,,r=b",
            b"n,,n=,r=b",
            b"n,,n=a",
            b"n,,n=a,r=",
            b"n,,n=a,r=b c",
            b"n,,n=a=4,r=b",
            b"\xff,,n=a,r=b",
        ] {
            assert!(
                matches!(ScramServer::new(bad), Err(ScramError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let creds = ScramCredentials::derive("pw", b"salt", 4096);
        for bad in [
            &b"c=biws,r=nS"[..],
            b"r=nS,p=AAAA",
            b"c=!!,r=nS,p=AAAA",
            b"c=biws,r=nS,p=AAAA",
        ] {
            let mut s = ScramServer::new(b"n,,n=a,r=n").unwrap();
            s.server_first(Some(&creds), "S").unwrap();
            assert!(
                matches!(s.client_final(bad), Err(ScramError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn escaped_names() {
        let s = ScramServer::new(b"n,,n=a=2Cb=3Dc,r=x").unwrap();
        assert_eq!(s.username(), "a,b=c");
    }

    #[test]
    fn nonces_are_fresh_and_valid() {
        let a = server_nonce().unwrap();
        let b = server_nonce().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(is_nonce_byte));
    }
}
