//! The pieces of a FILEHOST upload (soju's `soju.im/FILEHOST`, the IRCv3 `draft/FILEHOST`
//! draft) that come from the client: its credentials (`Authorization`), the file's name
//! (`Content-Disposition`) and its type (`Content-Type`). Pure: bytes in, values or a reason
//! out. Nothing here is ever used as a path: the name is only sent back in a header.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::http::percent_decode;

/// The longest file name kept; longer names are cut (on a character boundary).
pub const MAX_NAME: usize = 255;
/// The longest `Content-Type` kept; a longer one is replaced by the default.
pub const MAX_TYPE: usize = 200;
/// The type of a file whose uploader gave none (or one that is not a media type).
pub const DEFAULT_TYPE: &str = "application/octet-stream";

/// What `Authorization` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: the account name and its password (what a client that logged in with
    /// SASL PLAIN sends).
    Basic { user: String, password: String },
    /// HTTP Bearer (what a client that logged in with SASL OAUTHBEARER sends).
    Bearer(String),
}

/// Reads an `Authorization` value; `Err` says why it is not usable.
pub fn parse_authorization(value: &[u8]) -> Result<Credentials, &'static str> {
    let text = std::str::from_utf8(value).map_err(|_| "Authorization is not UTF-8")?;
    let (scheme, rest) = text
        .trim()
        .split_once(' ')
        .ok_or("Authorization needs a scheme and credentials")?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = B64
            .decode(rest)
            .map_err(|_| "Basic credentials are not base64")?;
        let pair = String::from_utf8(raw).map_err(|_| "Basic credentials are not UTF-8")?;
        let (user, password) = pair
            .split_once(':')
            .ok_or("Basic credentials need user:password")?;
        if user.is_empty() || password.is_empty() || pair.chars().any(char::is_control) {
            return Err("Basic credentials need a user and a password");
        }
        Ok(Credentials::Basic {
            user: user.into(),
            password: password.into(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err("Bearer needs a token");
        }
        Ok(Credentials::Bearer(rest.into()))
    } else {
        Err("only Basic credentials are accepted")
    }
}

/// What `Content-Disposition` says of an upload: shown in place (`inline`) or saved
/// (`attachment`, also for any other type), and the file's name if it gave one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disposition {
    pub inline: bool,
    pub name: Option<String>,
}

/// Reads a `Content-Disposition` value (RFC 6266): the type, then `filename*` (RFC 8187,
/// UTF-8 only) in preference to `filename` (a token or a quoted string). What cannot be
/// read gives no name rather than an error: the file keeps a default name.
pub fn parse_disposition(value: &[u8]) -> Disposition {
    let Ok(text) = std::str::from_utf8(value) else {
        return Disposition::default();
    };
    let mut params = Params { rest: text };
    let kind = params.rest.split(';').next().unwrap_or("").trim();
    params.rest = &params.rest[params.rest.find(';').unwrap_or(params.rest.len())..];
    let mut plain = None;
    let mut extended = None;
    while let Some((key, value)) = params.next() {
        if key.eq_ignore_ascii_case("filename*") {
            extended = extended.or_else(|| ext_value(&value));
        } else if key.eq_ignore_ascii_case("filename") {
            plain = plain.or(Some(value));
        }
    }
    Disposition {
        inline: kind.eq_ignore_ascii_case("inline"),
        name: extended.or(plain).and_then(|n| clean_name(&n)),
    }
}

/// `;`-separated `key=value` parameters, values as tokens or quoted strings.
struct Params<'a> {
    rest: &'a str,
}

impl Params<'_> {
    fn next(&mut self) -> Option<(String, String)> {
        loop {
            let rest = self.rest.trim_start();
            let rest = rest.strip_prefix(';')?.trim_start();
            if rest.is_empty() || rest.starts_with(';') {
                // An empty parameter (`;;`).
                self.rest = rest;
                continue;
            }
            let eq = rest.find('=')?;
            let key = rest[..eq].trim().to_string();
            let after = rest[eq + 1..].trim_start();
            if let Some(quoted) = after.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                value.push(e);
                            }
                        }
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => value.push(c),
                    }
                }
                let end = end?;
                self.rest = &quoted[end..];
                return Some((key, value));
            }
            let end = after.find(';').unwrap_or(after.len());
            let value = after[..end].trim().to_string();
            self.rest = &after[end..];
            if !key.is_empty() {
                return Some((key, value));
            }
        }
    }
}

/// An RFC 8187 value: `UTF-8'lang'percent-encoded`.
fn ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _lang = parts.next()?;
    let encoded = parts.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_decode(encoded).ok().map(|s| s.into_owned())
}

/// A name fit to send back in a header: its last path component (a client may send a whole
/// path), no control characters, at most [`MAX_NAME`] bytes; None if nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return None;
    }
    let mut end = trimmed.len().min(MAX_NAME);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    Some(trimmed[..end].to_string())
}

/// The uploader's `Content-Type` if it is a media type (`type/subtype`, optional
/// parameters, printable ASCII, at most [`MAX_TYPE`] bytes); else [`DEFAULT_TYPE`].
pub fn content_type(value: Option<&[u8]>) -> String {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let ok = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .filter(|v| v.len() <= MAX_TYPE && v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .filter(|v| {
            let essence = v.split(';').next().unwrap_or("").trim();
            essence
                .split_once('/')
                .is_some_and(|(t, s)| token(t) && token(s))
        });
    ok.map_or_else(|| DEFAULT_TYPE.to_string(), str::to_string)
}

/// Appends `name` percent-encoded for a URL path segment or RFC 8187's `filename*`.
pub fn pct_encode(name: &str, out: &mut String) {
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The `Content-Disposition` a download is sent with: the uploader's type, the name both as
/// a plain quoted string (quotes, backslashes and non-ASCII replaced) and as `filename*`.
pub fn disposition_header(inline: bool, name: &str) -> String {
    let plain: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if !c.is_ascii() || c.is_ascii_control() => '_',
            c => c,
        })
        .collect();
    let mut header = format!(
        "{}; filename=\"{plain}\"; filename*=UTF-8''",
        if inline { "inline" } else { "attachment" }
    );
    pct_encode(name, &mut header);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_basic_bearer_and_bad() {
        let basic = format!("Basic {}", B64.encode("alice:open sesame:x"));
        assert_eq!(
            parse_authorization(basic.as_bytes()),
            Ok(Credentials::Basic {
                user: "alice".into(),
                password: "open sesame:x".into()
            })
        );
        assert_eq!(
            parse_authorization(b"bearer abc.def"),
            Ok(Credentials::Bearer("abc.def".into()))
        );
        assert!(parse_authorization(b"Basic !!!").is_err());
        assert!(parse_authorization(format!("Basic {}", B64.encode("alice")).as_bytes()).is_err());
        assert!(parse_authorization(format!("Basic {}", B64.encode(":pw")).as_bytes()).is_err());
        assert!(parse_authorization(b"Digest x=1").is_err());
        assert!(parse_authorization(b"Basic").is_err());
        assert!(parse_authorization(b"\xff\xfe").is_err());
    }

    #[test]
    fn disposition_names() {
        let d = parse_disposition(b"attachment; filename=\"a \\\"b\\\".txt\"");
        assert_eq!(
            d,
            Disposition {
                inline: false,
                name: Some("a \"b\".txt".into())
            }
        );
        let d = parse_disposition(b"inline; filename=plain.png");
        assert_eq!(
            d,
            Disposition {
                inline: true,
                name: Some("plain.png".into())
            }
        );
        // filename* wins, wherever it stands.
        let d = parse_disposition(
            b"attachment; filename*=UTF-8''r%C3%B8d%20gr%C3%B8d.txt; filename=\"rod.txt\"",
        );
        assert_eq!(d.name.as_deref(), Some("rød grød.txt"));
        // A path is cut to its last part; nothing usable is no name.
        let d = parse_disposition(b"attachment; filename=\"../../etc/passwd\"");
        assert_eq!(d.name.as_deref(), Some("passwd"));
        assert_eq!(parse_disposition(b"attachment; filename=\"..\"").name, None);
        assert_eq!(parse_disposition(b"attachment").name, None);
        assert_eq!(parse_disposition(b"attachment; filename=\"open").name, None);
        assert_eq!(
            parse_disposition(b"attachment; filename*=ISO-8859-1''x").name,
            None
        );
        assert_eq!(parse_disposition(b"\xff").name, None);
        assert_eq!(
            parse_disposition(b"attachment; ;; filename=x")
                .name
                .as_deref(),
            Some("x")
        );
    }

    #[test]
    fn names_are_cut_and_cleaned() {
        assert_eq!(clean_name("a\u{7}b\r\n.txt").as_deref(), Some("ab.txt"));
        assert_eq!(clean_name("C:\\Users\\me\\x.doc").as_deref(), Some("x.doc"));
        assert_eq!(clean_name("   "), None);
        let long = "é".repeat(200);
        let cut = clean_name(&long).unwrap();
        assert!(cut.len() <= MAX_NAME && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Some(b"image/png")), "image/png");
        assert_eq!(
            content_type(Some(b"text/plain; charset=utf-8")),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(None), DEFAULT_TYPE);
        assert_eq!(content_type(Some(b"nonsense")), DEFAULT_TYPE);
        assert_eq!(content_type(Some(b"text/html\r\nX: y")), DEFAULT_TYPE);
        assert_eq!(content_type(Some(b"a b/c")), DEFAULT_TYPE);
    }

    #[test]
    fn disposition_sent_back() {
        assert_eq!(
            disposition_header(false, "rød \"x\".txt"),
            "attachment; filename=\"r_d _x_.txt\"; filename*=UTF-8''r%C3%B8d%20%22x%22.txt"
        );
        assert!(disposition_header(true, "a.png").starts_with("inline; "));
    }
}
