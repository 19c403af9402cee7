//! Password hashing: argon2id for PLAIN and IDENTIFY, SCRAM-SHA-256 keys for SCRAM, both made
//! from the one password at registration so SCRAM works without the server keeping it.
//!
//! Passwords are prepared with SASLprep (RFC 4013) before either hash, as SCRAM requires, so a
//! password typed as NFC on one client and NFD on another is the same password both ways.

use std::borrow::Cow;
use std::fmt;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};

use super::hash_memory::HashMemory;
use super::scram::ScramCredentials;

/// The longest password accepted, in bytes (after SASLprep). Long enough for passphrases and
/// password managers; short enough that a hash request costs a bounded amount of input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Salt length for SCRAM.
const SCRAM_SALT_BYTES: usize = 16;

/// Salt and output lengths of the argon2id hashes made here (argon2's own defaults).
const ARGON2_SALT_BYTES: usize = 16;
const ARGON2_OUTPUT_BYTES: usize = Params::DEFAULT_OUTPUT_LEN;

/// How expensive the hashes are. The defaults are argon2id's recommended parameters
/// (19 MiB, 2 passes, 1 lane) and RFC 7677's minimum of 4096 PBKDF2 iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub argon2_memory_kib: u32,
    pub argon2_passes: u32,
    pub argon2_lanes: u32,
    pub scram_iterations: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            argon2_memory_kib: Params::DEFAULT_M_COST,
            argon2_passes: Params::DEFAULT_T_COST,
            argon2_lanes: Params::DEFAULT_P_COST,
            scram_iterations: 4096,
        }
    }
}

impl HashParams {
    /// Cheap parameters for tests: the smallest argon2 memory; SCRAM keeps 4096 (fast enough).
    pub fn cheap() -> Self {
        HashParams {
            argon2_memory_kib: 8,
            argon2_passes: 1,
            argon2_lanes: 1,
            scram_iterations: 4096,
        }
    }
}

/// Why a password cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    Empty,
    TooLong,
    /// SASLprep refused it (control characters, unassigned code points, bidi mix).
    Prohibited,
    /// The hashing library failed (bad parameters, no randomness).
    Internal(String),
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::Empty => write!(f, "the password is empty"),
            PasswordError::TooLong => {
                write!(f, "the password is longer than {MAX_PASSWORD_BYTES} bytes")
            }
            PasswordError::Prohibited => {
                write!(f, "the password contains characters that are not allowed")
            }
            PasswordError::Internal(e) => write!(f, "password hashing failed: {e}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// SASLprep, then the length rules.
pub fn prepare(password: &str) -> Result<Cow<'_, str>, PasswordError> {
    let prepared = stringprep::saslprep(password).map_err(|_| PasswordError::Prohibited)?;
    if prepared.is_empty() {
        return Err(PasswordError::Empty);
    }
    if prepared.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(prepared)
}

/// What an account keeps of its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashes {
    /// argon2id PHC string (`$argon2id$v=19$m=...`).
    pub phc: String,
    pub scram: ScramCredentials,
}

impl fmt::Debug for PasswordHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHashes(..)")
    }
}

/// Hashes a password both ways. Slow on purpose (argon2id): never call it on the loop thread.
/// Its working memory is mapped for this call and unmapped after it; see [`hash_in`].
pub fn hash(params: &HashParams, password: &str) -> Result<PasswordHashes, PasswordError> {
    hash_in(params, password, &mut HashMemory::new())
}

/// [`hash`] with argon2's blocks in `memory`, which keeps them for the next call.
pub fn hash_in(
    params: &HashParams,
    password: &str,
    memory: &mut HashMemory,
) -> Result<PasswordHashes, PasswordError> {
    let internal = |e: &dyn fmt::Display| PasswordError::Internal(e.to_string());
    let prepared = prepare(password)?;
    let p = Params::new(
        params.argon2_memory_kib,
        params.argon2_passes,
        params.argon2_lanes,
        Some(ARGON2_OUTPUT_BYTES),
    )
    .map_err(|e| internal(&e))?;
    let mut salt = [0u8; ARGON2_SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| internal(&e))?;
    let mut out = [0u8; ARGON2_OUTPUT_BYTES];
    argon2id_into(&p, prepared.as_bytes(), &salt, &mut out, memory).map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&p).map_err(|e| internal(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    }
    .to_string();
    let mut salt = [0u8; SCRAM_SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| internal(&e))?;
    let scram = ScramCredentials::derive(&prepared, &salt, params.scram_iterations);
    Ok(PasswordHashes { phc, scram })
}

/// Checks a password against a PHC string. Slow on purpose; false for any malformed input.
pub fn verify(phc: &str, password: &str) -> bool {
    verify_in(phc, password, &mut HashMemory::new())
}

/// [`verify`] with argon2's blocks in `memory`.
pub fn verify_in(phc: &str, password: &str, memory: &mut HashMemory) -> bool {
    let Ok(prepared) = prepare(password) else {
        return false;
    };
    verify_bytes_in(phc, prepared.as_bytes(), memory)
}

/// `password` exactly as given (no SASLprep: the configuration's secrets are checked as
/// `snak --hash-password` made them) against an argon2id PHC string, with the parameters the
/// string names. False for anything malformed or other than argon2id.
pub fn verify_bytes_in(phc: &str, password: &[u8], memory: &mut HashMemory) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    if hash.algorithm.as_str() != "argon2id" || hash.version != Some(Version::V0x13.into()) {
        return false;
    }
    let Ok(p) = Params::try_from(&hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2id_into(&p, password, salt, &mut out, memory).is_err() {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == *expected)
}

fn argon2id_into(
    p: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut HashMemory,
) -> Result<(), argon2::Error> {
    let blocks = memory
        .blocks(p.block_count())
        .ok_or(argon2::Error::OutOfMemory)?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p.clone())
        .hash_password_into_with_memory(password, salt, out, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash(&HashParams::cheap(), "correct horse").unwrap();
        assert!(h.phc.starts_with("$argon2id$v=19$"), "{}", h.phc);
        assert!(verify(&h.phc, "correct horse"));
        assert!(!verify(&h.phc, "correct horsE"));
        assert!(!verify("not a phc string", "correct horse"));
        assert_eq!(h.scram.iterations, 4096);
        assert_eq!(h.scram.salt.len(), SCRAM_SALT_BYTES);
    }

    #[test]
    fn hashes_in_reused_memory_match_argon2s_own() {
        use argon2::password_hash::PasswordVerifier;
        // Default parameters (19 MiB): what production maps, reused from hash to hash.
        let params = HashParams::default();
        let mut memory = HashMemory::new();
        let a = hash_in(&params, "first", &mut memory).unwrap();
        assert_eq!(memory.held_bytes(), 19456 * 1024);
        let b = hash_in(&params, "second", &mut memory).unwrap();
        assert!(
            a.phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            a.phc
        );
        // argon2's own verifier (its own freshly zeroed memory) agrees with hashes made in a
        // dirty mapping, and ours agrees with it.
        for (phc, pw) in [(&a.phc, "first"), (&b.phc, "second")] {
            assert!(Argon2::default()
                .verify_password(pw.as_bytes(), phc.as_str())
                .is_ok());
            assert!(verify_in(phc, pw, &mut memory));
            assert!(!verify_in(phc, "third", &mut memory));
        }
        memory.release();
        assert_eq!(memory.held_bytes(), 0);
        // Other parameters in a PHC string are honoured, other algorithms refused.
        let cheap = hash(&HashParams::cheap(), "pw").unwrap();
        assert!(verify_bytes_in(&cheap.phc, b"pw", &mut memory));
        let argon2i = cheap.phc.replacen("$argon2id$", "$argon2i$", 1);
        assert!(!verify_bytes_in(&argon2i, b"pw", &mut memory));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let a = hash(&HashParams::cheap(), "pw").unwrap();
        let b = hash(&HashParams::cheap(), "pw").unwrap();
        assert_ne!(a.phc, b.phc);
        assert_ne!(a.scram.salt, b.scram.salt);
    }

    #[test]
    fn saslprep_makes_equivalent_spellings_one_password() {
        // U+00AA FEMININE ORDINAL maps to "a" under NFKC; a non-ASCII space maps to a space.
        let h = hash(&HashParams::cheap(), "\u{00AA}bc\u{00A0}d").unwrap();
        assert!(verify(&h.phc, "abc d"));
    }

    #[test]
    fn refused_passwords() {
        assert_eq!(prepare(""), Err(PasswordError::Empty));
        assert_eq!(prepare("a\u{0007}b"), Err(PasswordError::Prohibited));
        assert_eq!(
            prepare(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
        assert!(prepare(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(!verify(
            "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
            ""
        ));
    }
}
