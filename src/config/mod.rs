//! The daemon's configuration: one table of options ([`options`]) from which follow the
//! [`Config`] the server reads, the command line ([`cli`]), the TOML config file ([`file`]),
//! `--help` and `--check-config` ([`show`]), and what a reload changes ([`diff`]).
//!
//! Precedence: command line over config file over default. [`Config::load`] is pure apart from
//! reading the config file and the MOTD file, and may be called again on SIGHUP; a failed load
//! changes nothing. Passwords are [`Secret`]s.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod cli;
mod file;
mod kinds;
mod secret;
mod show;

pub use cli::{Action, Args};

/// The log filter of a `--log-level` value (checked when read).
pub fn level_filter(level: &str) -> log::LevelFilter {
    match level {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    }
}
pub use secret::{hash_password, read_password, Secret};
pub use show::{help, report};

/// A partial line that sits unfinished this long is taken as a whole line (the tutorial's client
/// sends messages with no line ending).
pub const PARTIAL_LINE_GRACE: Duration = Duration::from_millis(250);
/// How many bytes one connection may have read per loop pass, so nobody starves the others.
pub const READ_BUDGET: usize = 64 * 1024;
/// The largest file data frame.
pub const MAX_FRAME: usize = 64 * 1024;
/// While a file recipient has more than this queued, the sender is not read (backpressure).
pub const FILE_PAUSE_QUEUE: usize = 256 * 1024;
/// How long shutdown may spend flushing goodbyes.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_millis(500);
/// On a network, how long a starting node waits for its first connection to NATS before it
/// says `ready` anyway (and serves its local users as a split node until NATS answers).
pub const BUS_READY_WAIT: Duration = Duration::from_secs(5);
/// The longest a connection's input waits for an answer from the store (a password check,
/// usually some tens of milliseconds); past it the input goes on without the answer.
pub const HOLD_MAX: Duration = Duration::from_secs(15);
/// Descriptors kept free for listeners, logging and accept back-off.
pub const FD_RESERVE: u64 = 32;

/// Whether a reload applies a changed option to the running server or it waits for a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Live,
    Restart,
}

/// One entry of the option table; see `options.rs`. The functions reach the option's field.
pub struct Opt {
    /// The field of [`Config`].
    pub field: &'static str,
    /// As `--help` shows it: `--max-sendq BYTES`, or `--no-flood-limit` for a switch.
    pub flag: &'static str,
    /// A second flag that empties the value, with its help (`--no-irc`).
    pub off: Option<(&'static str, &'static str)>,
    /// The config file key, `section.name` or `name`.
    pub key: &'static str,
    pub help: &'static str,
    pub reload: Reload,
    pub takes_value: bool,
    pub repeatable: bool,
    /// Whether the value is a password (a reload's log says only `changed`).
    pub secret: bool,
    read_args: fn(&mut Config, &[String]) -> Result<(), String>,
    read_toml: fn(&mut Config, &file::Item<'_>) -> Result<(), file::Problem>,
    clear: fn(&mut Config),
    show: fn(&Config) -> Option<String>,
    show_arg: fn(&Config) -> Option<String>,
    same: fn(&Config, &Config) -> bool,
}

impl Opt {
    /// `--max-sendq`.
    pub fn flag_name(&self) -> &'static str {
        self.flag.split(' ').next().unwrap_or(self.flag)
    }

    /// `limits` for `limits.max_sendq`.
    pub fn section(&self) -> Option<&'static str> {
        self.key.split_once('.').map(|(s, _)| s)
    }

    /// `max_sendq` for `limits.max_sendq`.
    pub fn name(&self) -> &'static str {
        self.key.split_once('.').map_or(self.key, |(_, n)| n)
    }

    /// The value in `cfg` as the config file would write it; None when unset.
    pub fn value(&self, cfg: &Config) -> Option<String> {
        (self.show)(cfg)
    }
}

/// Builds [`Config`], its `Default` and [`OPTIONS`] from the entries in `options.rs`.
macro_rules! options {
    (@off) => { None };
    (@off $flag:literal, $help:literal) => { Some(($flag, $help)) };
    ($(
        $(#[doc = $doc:literal])*
        $field:ident : $ty:ty {
            flag: $flag:literal,
            $(off: ($off:literal, $off_help:literal),)?
            key: $key:literal,
            kind: $kind:expr,
            reload: $reload:ident,
            default: $default:expr,
            help: $help:literal $(,)?
        }
    ),* $(,)?) => {
        /// Every setting, as the server reads it. Made by [`Config::load`] (or `default()`).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Config {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for Config {
            fn default() -> Config {
                Config { $( $field: $default, )* }
            }
        }

        /// The option table, in `--help` order.
        pub static OPTIONS: &[$crate::config::Opt] = &[$(
            $crate::config::Opt {
                field: stringify!($field),
                flag: $flag,
                off: options!(@off $($off, $off_help)?),
                key: $key,
                help: $help,
                reload: $crate::config::Reload::$reload,
                takes_value: $crate::config::kinds::takes_value::<_, $ty>(&$kind),
                repeatable: $crate::config::kinds::repeatable::<_, $ty>(&$kind),
                secret: $crate::config::kinds::secret::<_, $ty>(&$kind),
                read_args: |c, given| {
                    c.$field = $crate::config::kinds::Kind::read_args(&$kind, given)?;
                    Ok(())
                },
                read_toml: |c, item| {
                    c.$field = $crate::config::kinds::Kind::read_toml(&$kind, item)?;
                    Ok(())
                },
                clear: |c| c.$field = Default::default(),
                show: |c| $crate::config::kinds::Kind::show(&$kind, &c.$field),
                show_arg: |c| $crate::config::kinds::Kind::show_arg(&$kind, &c.$field),
                same: |a, b| a.$field == b.$field,
            },
        )*];
    };
}

mod options;
pub use options::{Config, OPTIONS};

pub(crate) fn is_section(name: &str) -> bool {
    OPTIONS.iter().any(|o| o.section() == Some(name))
}

/// Where an option's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// The config file, at this line.
    File {
        line: usize,
    },
    CommandLine,
}

/// Where an error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// This flag on the command line.
    CommandLine(&'static str),
    /// The config file; the line where one is known.
    File { path: PathBuf, line: Option<usize> },
}

/// One thing wrong with the configuration. Shown as `snak.toml:12: key "limits.max_sendq":
/// needs a whole number of at least 4096, not "lots"` or `--max-sendq: needs ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub place: Place,
    /// The config file key it concerns, when there is one.
    pub key: Option<String>,
    pub msg: String,
}

impl ConfigError {
    /// Errors on the command line are usage errors (exit 2); errors in the file exit 1.
    pub fn on_command_line(&self) -> bool {
        matches!(self.place, Place::CommandLine(_))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::CommandLine(flag) => write!(f, "{flag}: ")?,
            Place::File { path, line: None } => write!(f, "{}: ", path.display())?,
            Place::File {
                path,
                line: Some(n),
            } => write!(f, "{}:{n}: ", path.display())?,
        }
        if let Some(key) = &self.key {
            write!(f, "key {key:?}: ")?;
        }
        f.write_str(&self.msg)
    }
}

/// Something the operator should know about a configuration that is nonetheless used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A loaded configuration with where each value came from (for `--check-config`).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// By option, in the order of [`OPTIONS`].
    pub origins: Vec<Origin>,
    pub warnings: Vec<Warning>,
}

impl Config {
    /// The settings from the defaults, then `file` (if any), then the command line. Every error
    /// is reported, not just the first. Call it again to reload.
    pub fn load(
        args: &Args,
        file: Option<&Path>,
    ) -> Result<(Config, Vec<Warning>), Vec<ConfigError>> {
        load(args, file).map(|l| (l.config, l.warnings))
    }
}

/// [`Config::load`], also telling where each value came from.
pub fn load(args: &Args, file: Option<&Path>) -> Result<Loaded, Vec<ConfigError>> {
    let mut config = Config::default();
    let mut origins = vec![Origin::Default; OPTIONS.len()];
    let mut errors = Vec::new();
    if let Some(path) = file {
        errors.extend(file::apply(&mut config, &mut origins, path));
    }
    errors.extend(cli::apply(&mut config, &mut origins, args));
    if !errors.is_empty() {
        return Err(errors);
    }
    let warnings = warnings(&config);
    Ok(Loaded {
        config,
        origins,
        warnings,
    })
}

/// One warning naming every secret kept in plain text.
fn warnings(cfg: &Config) -> Vec<Warning> {
    let plain = |s: &Secret| !s.is_hash();
    let mut which: Vec<String> = Vec::new();
    if cfg.password.as_ref().is_some_and(plain) {
        which.push("the server password".into());
    }
    for (name, pass) in &cfg.opers {
        if plain(pass) {
            which.push(format!("oper {name}"));
        }
    }
    if which.is_empty() {
        return Vec::new();
    }
    vec![Warning(format!(
        "plain-text passwords ({}): store argon2id hashes instead (snak --hash-password)",
        which.join(", ")
    ))]
}

/// One option that differs between two configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The config file key, e.g. `limits.max_sendq`.
    pub key: &'static str,
    pub flag: &'static str,
    /// `1048576 -> 65536`, or just `changed` for passwords.
    pub detail: String,
    pub reload: Reload,
}

impl Change {
    pub fn live(&self) -> bool {
        self.reload == Reload::Live
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.detail)?;
        if !self.live() {
            f.write_str(" (needs a restart)")?;
        }
        Ok(())
    }
}

/// What changed from `old` to `new`, in table order, each saying whether it applies live.
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    OPTIONS
        .iter()
        .filter(|o| !(o.same)(old, new))
        .map(|o| {
            let (was, now) = ((o.show)(old), (o.show)(new));
            let detail = if o.secret || was == now {
                "changed".to_string()
            } else {
                let unset = || "unset".to_string();
                format!(
                    "{} -> {}",
                    was.unwrap_or_else(unset),
                    now.unwrap_or_else(unset)
                )
            };
            Change {
                key: o.key,
                flag: o.flag_name(),
                detail,
                reload: o.reload,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
