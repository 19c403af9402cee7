//! NATS subjects: tokens separated by `.`, never empty, never containing whitespace. `*`
//! (one token) and `>` (the rest, last token only) are wildcards, allowed in subscriptions
//! only and only as whole tokens: `a.*.c` and `a.>` subscribe, `a*b` and `a.>.c` are refused.
//! A publish subject has no wildcard at all, not even inside a token, so that what a client
//! publishes means the same to every server whatever its pedantic setting.

use std::fmt;

/// The longest subject the codec writes or accepts (the server's control line, 4 KiB by
/// default, must also hold the sid, the reply subject and the sizes).
pub const MAX_SUBJECT: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectError {
    Empty,
    TooLong {
        len: usize,
    },
    /// `a..b`, `.a`, `a.`.
    EmptyToken,
    /// Whitespace or a control byte (the protocol splits fields on whitespace).
    BadByte(u8),
    /// A wildcard in a subject that is published to.
    Wildcard,
    /// A wildcard inside a token (`a*`, `>b`), or `>` before the last token.
    BadWildcard,
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectError::Empty => f.write_str("empty subject"),
            SubjectError::TooLong { len } => {
                write!(f, "subject of {len} bytes (at most {MAX_SUBJECT})")
            }
            SubjectError::EmptyToken => f.write_str("empty token in subject"),
            SubjectError::BadByte(b) => write!(f, "byte 0x{b:02x} in subject"),
            SubjectError::Wildcard => f.write_str("wildcard in a subject to publish to"),
            SubjectError::BadWildcard => {
                f.write_str("wildcards must be whole tokens, and '>' the last one")
            }
        }
    }
}

impl std::error::Error for SubjectError {}

fn tokens(subject: &str) -> Result<std::str::Split<'_, char>, SubjectError> {
    if subject.is_empty() {
        return Err(SubjectError::Empty);
    }
    if subject.len() > MAX_SUBJECT {
        return Err(SubjectError::TooLong { len: subject.len() });
    }
    if let Some(&b) = subject.as_bytes().iter().find(|&&b| b <= b' ' || b == 0x7f) {
        return Err(SubjectError::BadByte(b));
    }
    let parts = subject.split('.');
    if parts.clone().any(str::is_empty) {
        return Err(SubjectError::EmptyToken);
    }
    Ok(parts)
}

/// A subject to publish to (or a reply subject): no wildcards.
pub fn check_publish(subject: &str) -> Result<(), SubjectError> {
    tokens(subject)?;
    if subject.bytes().any(|b| b == b'*' || b == b'>') {
        return Err(SubjectError::Wildcard);
    }
    Ok(())
}

/// A subject to subscribe to: wildcards as whole tokens, `>` last.
pub fn check_subscribe(subject: &str) -> Result<(), SubjectError> {
    let mut parts = tokens(subject)?.peekable();
    while let Some(token) = parts.next() {
        let last = parts.peek().is_none();
        match token {
            "*" => {}
            ">" if last => {}
            ">" => return Err(SubjectError::BadWildcard),
            t if t.contains(['*', '>']) => return Err(SubjectError::BadWildcard),
            _ => {}
        }
    }
    Ok(())
}

/// A subject the server delivered a message on: it only has to be one field of a protocol
/// line (the server has already applied its own rules).
pub fn check_received(subject: &str) -> Result<(), SubjectError> {
    tokens(subject).map(|_| ())
}

/// Whether `subject` (no wildcards) matches `pattern` (wildcards allowed).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
