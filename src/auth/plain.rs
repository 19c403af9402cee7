//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL password`.

use std::fmt;

/// The parts of a PLAIN response.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub authcid: String,
    pub password: String,
}

impl fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authcid", &self.authcid)
            .finish_non_exhaustive()
    }
}

/// Why a PLAIN response was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainError {
    Malformed,
    NotUtf8,
    /// An authorization identity other than the authentication identity (acting as another
    /// user is not offered).
    AuthzidMismatch,
}

impl fmt::Display for PlainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlainError::Malformed => "malformed PLAIN response",
            PlainError::NotUtf8 => "PLAIN response is not UTF-8",
            PlainError::AuthzidMismatch => {
                "authorization identity differs from the authentication identity"
            }
        })
    }
}

/// Parses a decoded PLAIN response. An authzid, if given, must name the authcid (compared
/// without ASCII case).
pub fn parse(response: &[u8]) -> Result<PlainCredentials, PlainError> {
    let mut parts = response.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError::Malformed);
    };
    let text = |b: &[u8]| std::str::from_utf8(b).map(str::to_owned);
    let (authzid, authcid, password) = match (text(authzid), text(authcid), text(password)) {
        (Ok(z), Ok(c), Ok(p)) => (z, c, p),
        _ => return Err(PlainError::NotUtf8),
    };
    if authcid.is_empty() || password.is_empty() {
        return Err(PlainError::Malformed);
    }
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&authcid) {
        return Err(PlainError::AuthzidMismatch);
    }
    Ok(PlainCredentials { authcid, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, p: &str) -> Result<PlainCredentials, PlainError> {
        Ok(PlainCredentials {
            authcid: c.into(),
            password: p.into(),
        })
    }

    #[test]
    fn with_and_without_authzid() {
        assert_eq!(parse(b"jilles\0jilles\0sesame"), ok("jilles", "sesame"));
        assert_eq!(parse(b"\0jilles\0sesame"), ok("jilles", "sesame"));
        assert_eq!(parse(b"Jilles\0jilles\0sesame"), ok("jilles", "sesame"));
        assert_eq!(
            parse("\0f\u{f8}\0s\u{e9}same".as_bytes()),
            ok("f\u{f8}", "s\u{e9}same")
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse(b"other\0jilles\0sesame"),
            Err(PlainError::AuthzidMismatch)
        );
        for bad in [
            &b""[..],
            b"jilles",
            b"\0jilles",
            b"\0\0pw",
            b"\0u\0",
            b"a\0b\0c\0d",
        ] {
            assert_eq!(parse(bad), Err(PlainError::Malformed), "{bad:?}");
        }
        assert_eq!(parse(b"\0u\0\xff"), Err(PlainError::NotUtf8));
    }

    #[test]
    fn the_password_never_shows_in_debug() {
        let c = parse(b"\0u\0hunter2").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
