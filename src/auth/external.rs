//! SASL EXTERNAL (RFC 4422 appendix A): the TLS client certificate is the credential; the
//! client's response is an authorization identity, usually empty.

/// Why EXTERNAL failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalError {
    /// The connection has no client certificate.
    NoCertificate,
    /// No account has this certificate's fingerprint.
    UnknownCertificate,
    /// The authzid names an account other than the certificate's.
    AuthzidMismatch,
    NotUtf8,
}

impl std::fmt::Display for ExternalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExternalError::NoCertificate => "no client certificate was presented",
            ExternalError::UnknownCertificate => "the client certificate is not registered",
            ExternalError::AuthzidMismatch => {
                "authorization identity differs from the certificate's account"
            }
            ExternalError::NotUtf8 => "EXTERNAL response is not UTF-8",
        })
    }
}

/// Parses the client's response: the requested authzid, or `None` for "whoever the
/// certificate says".
pub fn parse(response: &[u8]) -> Result<Option<String>, ExternalError> {
    let text = std::str::from_utf8(response).map_err(|_| ExternalError::NotUtf8)?;
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// Decides, once the certificate's account is known (`account`: what the store found for the
/// fingerprint). Returns the account to log in as.
pub fn authorize<'a>(
    authzid: Option<&str>,
    account: Option<&'a str>,
) -> Result<&'a str, ExternalError> {
    let account = account.ok_or(ExternalError::UnknownCertificate)?;
    match authzid {
        Some(z) if !z.eq_ignore_ascii_case(account) => Err(ExternalError::AuthzidMismatch),
        _ => Ok(account),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_named_authzid() {
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"alice"), Ok(Some("alice".into())));
        assert_eq!(parse(b"\xff"), Err(ExternalError::NotUtf8));
        assert_eq!(authorize(None, Some("alice")), Ok("alice"));
        assert_eq!(authorize(Some("ALICE"), Some("alice")), Ok("alice"));
        assert_eq!(
            authorize(Some("bob"), Some("alice")),
            Err(ExternalError::AuthzidMismatch)
        );
        assert_eq!(
            authorize(None, None),
            Err(ExternalError::UnknownCertificate)
        );
    }
}
