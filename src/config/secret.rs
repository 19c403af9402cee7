//! Passwords in the configuration: plain text or an argon2id hash, compared in constant time.
//!
//! Verifying a hash is slow on purpose (tens of milliseconds with the default parameters), so
//! [`Secret::verify`] belongs on a worker thread, not on the event loop.

use std::fmt;
use std::io::{self, BufRead, Write};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, Params, PasswordHasher};
use subtle::ConstantTimeEq;

/// A password the server checks clients against: the server password or an operator's.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Plain text (logs a warning at start): compared in constant time.
    Plain(String),
    /// An argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), checked by argon2.
    Hash(String),
}

impl Secret {
    /// A value from the command line or the config file: a PHC string starting `$argon2` is a
    /// hash (and must be a valid argon2id one), anything else a plain password.
    pub fn parse(s: &str) -> Result<Secret, String> {
        if s.starts_with("$argon2") {
            return check_phc(s).map(|()| Secret::Hash(s.to_string()));
        }
        if valid_word(s) {
            Ok(Secret::Plain(s.to_string()))
        } else {
            Err(
                "needs a password without spaces, or an argon2id hash from snak --hash-password"
                    .into(),
            )
        }
    }

    /// Whether `candidate` is the password. For a hash this costs what the hash's parameters
    /// say (about 20-50 ms at the defaults): call it off the event loop. A plain secret is
    /// compared in constant time (only its length can be learnt from timing).
    pub fn verify(&self, candidate: &str) -> bool {
        match self {
            Secret::Plain(p) => p.as_bytes().ct_eq(candidate.as_bytes()).into(),
            // Through auth's mapped memory, which goes back to the kernel afterwards.
            Secret::Hash(phc) => crate::auth::password::verify_bytes_in(
                phc,
                candidate.as_bytes(),
                &mut crate::auth::hash_memory::HashMemory::new(),
            ),
        }
    }

    pub fn is_hash(&self) -> bool {
        matches!(self, Secret::Hash(_))
    }

    /// How `--check-config` and the reload log show it: never the secret itself.
    pub fn shown(&self) -> &'static str {
        match self {
            Secret::Plain(_) => "<set>",
            Secret::Hash(_) => "<hash>",
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

/// No spaces or control characters, not empty: what `PASS` and `OPER` can carry as one word.
pub(crate) fn valid_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// Accepts only what `verify` can check: argon2id, version 19, parameters argon2 accepts.
fn check_phc(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!("not a usable argon2id hash ({why}); make one with snak --hash-password")
    };
    let hash = PasswordHash::new(s).map_err(|e| bad(&e.to_string()))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(bad(&format!("algorithm {}", hash.algorithm.as_str())));
    }
    if hash.version != Some(0x13) {
        return Err(bad("needs v=19"));
    }
    Params::try_from(&hash).map_err(|e| bad(&e.to_string()))?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(bad("no salt or no hash"));
    }
    Ok(())
}

/// The argon2id PHC string of `password`, with a random salt and argon2's default parameters:
/// m=19456 KiB, t=2, p=1, the first of OWASP's recommended argon2id settings.
pub fn hash_password(password: &str) -> Result<String, String> {
    if !valid_word(password) {
        return Err("the password must not be empty or contain spaces".into());
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash: {e}"))
}

/// Reads the password for `snak --hash-password` from stdin: from a terminal with a prompt on
/// stderr, no echo and a second entry to confirm; otherwise the first line.
pub fn read_password() -> Result<String, String> {
    let stdin = io::stdin();
    let Some(tty) = NoEcho::start() else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    };
    let ask = |prompt: &str| -> Result<String, String> {
        eprint!("{prompt}");
        let _ = io::stderr().flush();
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if n == 0 {
            return Err("no password given".into());
        }
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    let first = ask("password: ")?;
    let again = ask("again: ")?;
    drop(tty);
    if first != again {
        return Err("the two entries differ".into());
    }
    Ok(first)
}

/// Terminal echo off while it lives (also restored if Ctrl-C ends the process meanwhile).
struct NoEcho {
    saved: libc::termios,
    on_interrupt: Option<signal_hook::SigId>,
}

impl NoEcho {
    /// None when stdin is not a terminal.
    fn start() -> Option<NoEcho> {
        // SAFETY: plain libc calls on fd 0 with a zeroed termios that tcgetattr fills in.
        unsafe {
            if libc::isatty(0) != 1 {
                return None;
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return None;
            }
            let mut quiet = saved;
            // No echo, but the Enter still moves to the next line.
            quiet.c_lflag &= !libc::ECHO;
            quiet.c_lflag |= libc::ECHONL;
            // tcsetattr, write and _exit are async-signal-safe, so the handler may call them.
            let on_interrupt = signal_hook::low_level::register(libc::SIGINT, move || {
                libc::tcsetattr(0, libc::TCSANOW, &saved);
                libc::write(2, b"\n".as_ptr().cast(), 1);
                libc::_exit(130);
            })
            .ok();
            libc::tcsetattr(0, libc::TCSAFLUSH, &quiet);
            Some(NoEcho {
                saved,
                on_interrupt,
            })
        }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // SAFETY: restores the attributes tcgetattr returned for the same descriptor.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
        if let Some(id) = self.on_interrupt.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_secrets_compare_exactly() {
        let s = Secret::parse("hunter2").unwrap();
        assert_eq!(s, Secret::Plain("hunter2".into()));
        assert!(s.verify("hunter2"));
        assert!(!s.verify("hunter"));
        assert!(!s.verify("hunter22"));
        assert!(!s.verify(""));
        assert_eq!(format!("{s:?}"), "<set>");
        assert!(Secret::parse("two words").is_err());
        assert!(Secret::parse("").is_err());
    }

    #[test]
    fn hashes_verify_and_bad_ones_are_refused() {
        let phc = hash_password("sesame").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let s = Secret::parse(&phc).unwrap();
        assert!(s.is_hash());
        assert!(s.verify("sesame"));
        assert!(!s.verify("sesame "));
        assert!(!s.verify(""));
        assert_eq!(format!("{s:?}"), "<hash>");
        // Two hashes of one password differ (random salt) and both verify.
        assert_ne!(hash_password("sesame").unwrap(), phc);

        let argon2i = phc.replacen("$argon2id$", "$argon2i$", 1);
        assert!(Secret::parse(&argon2i)
            .unwrap_err()
            .contains("algorithm argon2i"));
        assert!(Secret::parse("$argon2id$v=19$nonsense").is_err());
        let no_hash = phc.rsplit_once('$').unwrap().0;
        assert!(Secret::parse(no_hash).is_err());
        assert!(hash_password("has space").is_err());
        assert!(hash_password("").is_err());
    }
}
