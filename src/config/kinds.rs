//! The kinds of value an option can hold: how each is read from the command line and from the
//! config file, and how it is shown. An option's entry in the table names its kind.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::de::DeValue;

use super::file::{Item, Problem};
use super::secret::{valid_word, Secret};

/// One kind of option value. The command line gives every occurrence of the flag, in order
/// (single-valued kinds take the last, as the command line always has); the file gives one
/// TOML value.
pub trait Kind {
    type Value;
    /// Whether the flag is followed by a value (`--max-sendq BYTES`) or stands alone (a switch).
    const TAKES_VALUE: bool = true;
    /// Whether the flag may be given more than once, each adding to a list.
    const REPEATABLE: bool = false;
    /// Whether it holds passwords: shown as `<set>`/`<hash>`, reported only as `changed`.
    const SECRET: bool = false;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String>;
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem>;
    /// As the config file would say it; None when unset. Secrets show as `<set>` or `<hash>`.
    fn show(&self, v: &Self::Value) -> Option<String>;
    /// As the command line would say it (the default in `--help`); None when there is none.
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        self.show(v)
    }
}

// For the table: what a kind says of itself, with the field's type fixing the kind's own
// (`Num::at_least(1)` is a `Num<u32>` for a u32 field).
pub(crate) const fn takes_value<K: Kind<Value = V>, V>(_: &K) -> bool {
    K::TAKES_VALUE
}

pub(crate) const fn repeatable<K: Kind<Value = V>, V>(_: &K) -> bool {
    K::REPEATABLE
}

pub(crate) const fn secret<K: Kind<Value = V>, V>(_: &K) -> bool {
    K::SECRET
}

fn last(given: &[String]) -> &str {
    given.last().map_or("", String::as_str)
}

/// The unsigned integer types options use.
pub trait Int: Copy + Ord + std::fmt::Display + TryFrom<u128> {
    const MAX: Self;
    fn wide(self) -> u128;
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            const MAX: $t = <$t>::MAX;
            fn wide(self) -> u128 {
                self as u128 // lossless: none of these is wider than 64 bits
            }
        }
    )*};
}
int!(u8, u32, u64, usize);

/// A whole number in `min..=max`.
pub struct Num<T> {
    pub min: T,
    pub max: T,
}

impl<T: Int> Num<T> {
    pub const fn at_least(min: T) -> Num<T> {
        Num { min, max: T::MAX }
    }

    fn needs(&self) -> String {
        if self.max == T::MAX {
            format!("needs a whole number of at least {}", self.min)
        } else {
            format!("needs a whole number from {} to {}", self.min, self.max)
        }
    }

    /// `n` is the value if it is a non-negative integer (None: too large even for u128).
    fn check(&self, n: Option<u128>, shown: &str) -> Result<T, String> {
        let too_large = || format!("{shown} is too large: at most {}", self.max);
        let n = n.ok_or_else(too_large)?;
        if n > self.max.wide() {
            return Err(too_large());
        }
        match T::try_from(n) {
            Ok(v) if v >= self.min => Ok(v),
            _ => Err(format!("{}, not {shown}", self.needs())),
        }
    }

    fn parse(&self, s: &str) -> Result<T, String> {
        let shown = format!("{s:?}");
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{}, not {shown}", self.needs()));
        }
        self.check(s.parse::<u128>().ok(), &shown)
    }
}

impl<T: Int> Kind for Num<T> {
    type Value = T;
    fn read_args(&self, given: &[String]) -> Result<T, String> {
        self.parse(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<T, Problem> {
        let DeValue::Integer(i) = item.value else {
            return Err(item.fail(format!("{}, not {}", self.needs(), item.raw())));
        };
        let digits = i.as_str();
        if digits.starts_with('-') {
            return Err(item.fail(format!("{}, not {}", self.needs(), item.raw())));
        }
        let n = u128::from_str_radix(digits.trim_start_matches('+'), i.radix()).ok();
        self.check(n, &item.raw()).map_err(|e| item.fail(e))
    }
    fn show(&self, v: &T) -> Option<String> {
        Some(v.to_string())
    }
}

/// A duration in whole seconds, `min..=max`.
pub struct Secs {
    pub min: u64,
    pub max: u64,
}

impl Kind for Secs {
    type Value = Duration;
    fn read_args(&self, given: &[String]) -> Result<Duration, String> {
        Num::from(self).read_args(given).map(Duration::from_secs)
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Duration, Problem> {
        Num::from(self).read_toml(item).map(Duration::from_secs)
    }
    fn show(&self, v: &Duration) -> Option<String> {
        Some(v.as_secs().to_string())
    }
}

impl From<&Secs> for Num<u64> {
    fn from(s: &Secs) -> Num<u64> {
        Num {
            min: s.min,
            max: s.max,
        }
    }
}

/// An optional value: unset by default, set by giving it.
pub struct Maybe<K>(pub K);

impl<K: Kind> Kind for Maybe<K> {
    type Value = Option<K::Value>;
    const TAKES_VALUE: bool = K::TAKES_VALUE;
    const REPEATABLE: bool = K::REPEATABLE;
    const SECRET: bool = K::SECRET;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        self.0.read_args(given).map(Some)
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        self.0.read_toml(item).map(Some)
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        v.as_ref().and_then(|v| self.0.show(v))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        v.as_ref().and_then(|v| self.0.show_arg(v))
    }
}

/// A flag without a value that sets a boolean to `given` (`--no-flood-limit` sets
/// `flood_limit` to false); in the file, `true` or `false`.
pub struct Switch {
    pub given: bool,
}

impl Kind for Switch {
    type Value = bool;
    const TAKES_VALUE: bool = false;
    fn read_args(&self, _: &[String]) -> Result<bool, String> {
        Ok(self.given)
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<bool, Problem> {
        match item.value {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(item.fail(format!("needs true or false, not {}", item.raw()))),
        }
    }
    fn show(&self, v: &bool) -> Option<String> {
        Some(v.to_string())
    }
    fn show_arg(&self, _: &bool) -> Option<String> {
        None
    }
}

fn quoted(s: &str) -> String {
    // TOML basic strings escape as Rust's Debug does for the characters names may hold.
    format!("{s:?}")
}

fn string<'a>(item: &'a Item<'_>, what: &str) -> Result<&'a str, Problem> {
    match item.value {
        DeValue::String(s) => Ok(s),
        _ => Err(item.fail(format!("needs {what} in quotes, not {}", item.raw()))),
    }
}

/// Listener addresses, `HOST:PORT`: repeatable on the command line; in the file a string or an
/// array of strings (an empty array: no listener of this kind).
pub struct Addrs;

pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    // Host names such as localhost:12345; resolution only consults /etc/hosts for those.
    s.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| {
            format!("bad address {s:?}: expected HOST:PORT, e.g. 127.0.0.1:12345 or [::1]:12345")
        })
}

impl Kind for Addrs {
    type Value = Vec<SocketAddr>;
    const REPEATABLE: bool = true;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        given.iter().map(|s| parse_addr(s)).collect()
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        let one = |it: &Item<'_>| parse_addr(string(it, "HOST:PORT")?).map_err(|e| it.fail(e));
        match item.value {
            DeValue::Array(a) => a.iter().map(|v| one(&item.child(v))).collect(),
            _ => Ok(vec![one(item)?]),
        }
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        let each: Vec<String> = v.iter().map(|a| quoted(&a.to_string())).collect();
        Some(format!("[{}]", each.join(", ")))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        let each: Vec<String> = v.iter().map(|a| a.to_string()).collect();
        (!each.is_empty()).then(|| each.join(", "))
    }
}

/// A string that passes a check: the server's name, the network's name, a line of text.
pub struct Checked {
    /// What the TOML value must be, for the error when it is not a string.
    what: &'static str,
    check: fn(&str) -> Result<(), String>,
}

/// The server's own name: letters, digits, `.` and `-`, at most 63 bytes.
pub const SERVER_NAME: Checked = Checked {
    what: "a name",
    check: |name| {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        ok.then_some(()).ok_or_else(|| {
            format!("bad server name {name:?}: use letters, digits, . and - (at most 63)")
        })
    },
};

/// A network's name on NATS: 1 to 32 letters, digits, `-` or `_` (it is part of subjects
/// and bucket names).
pub const NETWORK_NAME: Checked = Checked {
    what: "a name",
    check: |name| crate::bus::names::Scheme::new(name).map(|_| ()),
};

/// One line of free text (a description): at most 100 bytes, no control characters.
pub const TEXT: Checked = Checked {
    what: "a text",
    check: |text| {
        let ok = text.len() <= 100 && !text.chars().any(char::is_control);
        ok.then_some(()).ok_or_else(|| {
            format!("bad text {text:?}: one line of at most 100 bytes, no control characters")
        })
    },
};

impl Checked {
    fn parse(&self, value: &str) -> Result<String, String> {
        (self.check)(value).map(|()| value.to_string())
    }
}

impl Kind for Checked {
    type Value = String;
    fn read_args(&self, given: &[String]) -> Result<String, String> {
        self.parse(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<String, Problem> {
        self.parse(string(item, self.what)?)
            .map_err(|e| item.fail(e))
    }
    fn show(&self, v: &String) -> Option<String> {
        Some(quoted(v))
    }
    fn show_arg(&self, v: &String) -> Option<String> {
        Some(v.clone())
    }
}

/// NATS servers: `nats://HOST:PORT` (or `HOST:PORT`, or `HOST` for port 4222), a list.
pub struct NatsUrls;

impl NatsUrls {
    fn parse(&self, url: &str) -> Result<String, String> {
        crate::bus::servers::parse_url(url).map(|_| url.to_string())
    }
}

impl Kind for NatsUrls {
    type Value = Vec<String>;
    const REPEATABLE: bool = true;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        given.iter().map(|s| self.parse(s)).collect()
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        let one = |it: &Item<'_>| {
            self.parse(string(it, "nats://HOST:PORT")?)
                .map_err(|e| it.fail(e))
        };
        match item.value {
            DeValue::Array(a) => a.iter().map(|v| one(&item.child(v))).collect(),
            _ => Ok(vec![one(item)?]),
        }
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        let each: Vec<String> = v.iter().map(|u| quoted(u)).collect();
        Some(format!("[{}]", each.join(", ")))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// A password: plain, or an argon2id PHC string.
pub struct Password;

impl Kind for Password {
    type Value = Secret;
    const SECRET: bool = true;
    fn read_args(&self, given: &[String]) -> Result<Secret, String> {
        Secret::parse(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Secret, Problem> {
        Secret::parse(string(item, "a password")?).map_err(|e| item.fail(e))
    }
    fn show(&self, v: &Secret) -> Option<String> {
        Some(v.shown().into())
    }
}

/// IRC operators: `--oper NAME:PASSWORD` (repeatable); in the file `[[oper]]` tables with
/// `name` and `password`.
pub struct Opers;

fn oper_name(name: &str) -> Result<String, String> {
    if valid_word(name) {
        Ok(name.to_string())
    } else {
        Err(format!("needs a name without spaces, not {name:?}"))
    }
}

impl Kind for Opers {
    type Value = Vec<(String, Secret)>;
    const REPEATABLE: bool = true;
    const SECRET: bool = true;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        let one = |v: &String| match v.split_once(':') {
            Some((name, pass)) if valid_word(name) => {
                let pass = Secret::parse(pass).map_err(|e| format!("{v:?}: {e}"))?;
                Ok((name.to_string(), pass))
            }
            _ => Err(format!(
                "needs NAME:PASSWORD (no spaces, neither empty), not {v:?}"
            )),
        };
        given.iter().map(one).collect()
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        let DeValue::Array(list) = item.value else {
            return Err(item.fail("needs [[oper]] tables, each with name and password"));
        };
        let mut opers = Vec::new();
        for entry in list.iter() {
            let entry = item.child(entry);
            let DeValue::Table(t) = entry.value else {
                return Err(entry.fail("needs a table with name and password"));
            };
            let (mut name, mut pass) = (None, None);
            for (k, v) in t.iter() {
                let field = entry.child(v);
                let key = format!("oper.{}", k.get_ref());
                match k.get_ref().as_ref() {
                    "name" => {
                        let n = string(&field, "a name").map_err(|p| p.key(&key))?;
                        name = Some(oper_name(n).map_err(|e| field.fail(e).key(&key))?);
                    }
                    "password" => {
                        let s = string(&field, "a password").map_err(|p| p.key(&key))?;
                        pass = Some(Secret::parse(s).map_err(|e| field.fail(e).key(&key))?);
                    }
                    _ => return Err(entry.unknown_key(k, &key)),
                }
            }
            match (name, pass) {
                (Some(n), Some(p)) => opers.push((n, p)),
                _ => return Err(entry.fail("an [[oper]] needs both name and password")),
            }
        }
        Ok(opers)
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        let each: Vec<String> = v
            .iter()
            .map(|(n, p)| format!("{{ name = {}, password = {} }}", quoted(n), p.shown()))
            .collect();
        Some(format!("[{}]", each.join(", ")))
    }
    fn show_arg(&self, _: &Self::Value) -> Option<String> {
        None
    }
}

/// The message of the day, as lines: on the command line a file; in the file a path (relative
/// to the config file's directory) or an array of lines given inline.
pub struct Motd;

fn read_motd(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {:?}: {e}", path.display().to_string()))?;
    Ok(text.lines().map(clean_line).collect())
}

/// CR and NUL would end or break an IRC line.
fn clean_line(l: &str) -> String {
    l.replace(['\r', '\0', '\n'], "")
}

impl Kind for Motd {
    type Value = Vec<String>;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        read_motd(Path::new(last(given)))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        match item.value {
            DeValue::String(path) => {
                read_motd(&item.dir.join(path.as_ref())).map_err(|e| item.fail(e))
            }
            DeValue::Array(lines) => lines
                .iter()
                .map(|l| {
                    let l = item.child(l);
                    string(&l, "a line").map(clean_line)
                })
                .collect(),
            _ => Err(item.fail(format!(
                "needs a file name or an array of lines, not {}",
                item.raw()
            ))),
        }
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        Some(format!("<{} lines>", v.len()))
    }
    fn show_arg(&self, _: &Self::Value) -> Option<String> {
        None
    }
}

/// A file the server reads (a TLS certificate or key); a relative name in the config file is
/// relative to the file's directory. Whether it can be read and used is checked when the
/// server starts or reloads, with the file's own error.
pub struct FilePath;

fn existing(path: std::path::PathBuf) -> Result<std::path::PathBuf, String> {
    if path.as_os_str().is_empty() {
        return Err("needs a file name".into());
    }
    Ok(path)
}

impl Kind for FilePath {
    type Value = std::path::PathBuf;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        existing(Path::new(last(given)).to_path_buf())
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        match item.value {
            DeValue::String(path) => {
                existing(item.dir.join(path.as_ref())).map_err(|e| item.fail(e))
            }
            _ => Err(item.fail(format!("needs a file name, not {}", item.raw()))),
        }
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        Some(format!("{:?}", v.display().to_string()))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        Some(v.display().to_string())
    }
}

/// Web origins (`https://chat.example.org`, `http://localhost:8080`): scheme, host and port.
pub struct Origins;

fn origin(s: &str) -> Result<String, String> {
    if crate::proto::http::valid_origin(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "needs an origin like https://chat.example.org or http://localhost:8080, not {s:?}"
        ))
    }
}

impl Kind for Origins {
    type Value = Vec<String>;
    const REPEATABLE: bool = true;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        given.iter().map(|s| origin(s)).collect()
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        match item.value {
            DeValue::String(s) => origin(s).map(|o| vec![o]).map_err(|e| item.fail(e)),
            DeValue::Array(list) => list
                .iter()
                .map(|v| {
                    let v = item.child(v);
                    string(&v, "an origin").and_then(|s| origin(s).map_err(|e| v.fail(e)))
                })
                .collect(),
            _ => Err(item.fail(format!(
                "needs an origin or a list of them, not {}",
                item.raw()
            ))),
        }
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        (!v.is_empty()).then(|| format!("{v:?}"))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        (!v.is_empty()).then(|| v.join(" "))
    }
}

/// An http or https URL (scheme and authority, maybe a path), where links point.
pub struct Url;

fn url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace) => {
            Ok(s.trim_end_matches('/').to_string())
        }
        _ => Err(format!("needs an http:// or https:// address, not {s:?}")),
    }
}

impl Kind for Url {
    type Value = String;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        url(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        string(item, "an address").and_then(|s| url(s).map_err(|e| item.fail(e)))
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        Some(format!("{v:?}"))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        Some(v.clone())
    }
}

/// Where the store keeps its files: a directory (a relative one is relative to snak's working
/// directory, as on the command line), or `none` for nothing kept.
pub struct DataDir;

fn data_dir(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains('\0') {
        Err("needs a directory, or none".into())
    } else {
        Ok(s.to_string())
    }
}

impl Kind for DataDir {
    type Value = String;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        data_dir(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        let s = string(item, "a directory, or \"none\"")?;
        data_dir(s).map_err(|e| item.fail(e))
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        Some(format!("{v:?}"))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        Some(v.clone())
    }
}

/// A PostgreSQL URL (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or `postgresql://`), or
/// empty for none. Shown without its password.
pub struct StoreUrl;

fn store_url(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    let scheme_ok = s.starts_with("postgres://") || s.starts_with("postgresql://");
    if !scheme_ok || s.contains('\0') {
        return Err(format!(
            "needs postgres://USER@HOST:PORT/DATABASE, not {:?}",
            crate::store::pg::shown_url(s)
        ));
    }
    s.parse::<postgres::Config>()
        .map(|_| s.to_string())
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))
}

impl Kind for StoreUrl {
    type Value = String;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        store_url(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        let s = string(item, "a postgres:// URL")?;
        store_url(s).map_err(|e| item.fail(e))
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        Some(format!("{:?}", crate::store::pg::shown_url(v)))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        (!v.is_empty()).then(|| crate::store::pg::shown_url(v))
    }
}

/// A log level: error, warn, info, debug or trace.
pub struct LogLevel;

fn log_level(s: &str) -> Result<String, String> {
    match s.to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace") => Ok(l.to_string()),
        _ => Err(format!(
            "needs error, warn, info, debug or trace, not {s:?}"
        )),
    }
}

impl Kind for LogLevel {
    type Value = String;
    fn read_args(&self, given: &[String]) -> Result<Self::Value, String> {
        log_level(last(given))
    }
    fn read_toml(&self, item: &Item<'_>) -> Result<Self::Value, Problem> {
        let s = string(item, "a level")?;
        log_level(s).map_err(|e| item.fail(e))
    }
    fn show(&self, v: &Self::Value) -> Option<String> {
        Some(format!("{v:?}"))
    }
    fn show_arg(&self, v: &Self::Value) -> Option<String> {
        Some(v.clone())
    }
}
