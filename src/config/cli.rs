//! The command line: which action, and the options given (kept as text, so that a reload reads
//! them again with the file, and the MOTD file is read again).

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Origin, Place, OPTIONS};

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run(Args),
    /// `--check-config FILE`: load FILE with the other options, print every setting, exit.
    CheckConfig(Args),
    /// `--hash-password`: read a password, print its argon2id PHC string.
    HashPassword,
    Help,
    Version,
}

/// The options given on the command line, by option, unparsed; and the config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    given: Vec<Option<Given>>,
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Given {
    /// Every value of the flag, in order (none for a switch).
    values: Vec<String>,
    /// The option's `off` flag was given (`--no-irc`).
    off: bool,
}

impl Args {
    /// The config file to read (`--config FILE`, or the FILE of `--check-config`).
    pub fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }
}

impl Action {
    /// Parses the arguments after the program name. An error here is a usage error (exit 2);
    /// values are checked by [`Config::load`].
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Action, String> {
        let mut given: Vec<Option<Given>> = vec![None; OPTIONS.len()];
        let (mut config, mut check, mut hash) = (None, None, false);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value (see --help)"))
            };
            let no_value = |inline: &Option<String>| match inline {
                Some(_) => Err(format!("{flag} takes no value (see --help)")),
                None => Ok(()),
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(Action::Help),
                "-V" | "--version" => return Ok(Action::Version),
                "--hash-password" => {
                    no_value(&inline)?;
                    hash = true;
                }
                "--config" => config = Some(PathBuf::from(value()?)),
                "--check-config" => check = Some(PathBuf::from(value()?)),
                _ => {
                    let Some(i) = OPTIONS.iter().position(|o| {
                        o.flag_name() == flag || o.off.is_some_and(|(f, _)| f == flag)
                    }) else {
                        return Err(format!("unknown option {arg:?} (see --help)"));
                    };
                    let o = &OPTIONS[i];
                    let g = given[i].get_or_insert(Given {
                        values: Vec::new(),
                        off: false,
                    });
                    if o.flag_name() != flag {
                        no_value(&inline)?;
                        g.off = true;
                    } else if o.takes_value {
                        g.values.push(value()?);
                    } else {
                        no_value(&inline)?;
                    }
                    if let (true, false, Some((off, _))) = (g.off, g.values.is_empty(), o.off) {
                        return Err(format!(
                            "{off} and {} contradict each other: give one",
                            o.flag_name()
                        ));
                    }
                }
            }
        }
        let only_hash = config.is_none() && check.is_none() && given.iter().all(Option::is_none);
        let args = Args { given, config };
        match (hash, check) {
            (true, _) if !only_hash => Err("--hash-password takes no other options".into()),
            (true, _) => Ok(Action::HashPassword),
            (false, Some(_)) if args.config.is_some() => {
                Err("--check-config FILE already names the file: leave out --config".into())
            }
            (false, Some(file)) => Ok(Action::CheckConfig(Args {
                config: Some(file),
                ..args
            })),
            (false, None) => Ok(Action::Run(args)),
        }
    }
}

/// Applies the command line over what `cfg` holds (defaults and file).
pub(crate) fn apply(cfg: &mut Config, origins: &mut [Origin], args: &Args) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for ((o, g), origin) in OPTIONS.iter().zip(&args.given).zip(origins) {
        let Some(g) = g else { continue };
        let done = if g.off {
            (o.clear)(cfg);
            Ok(())
        } else {
            (o.read_args)(cfg, &g.values)
        };
        match done {
            Ok(()) => *origin = Origin::CommandLine,
            Err(msg) => errors.push(ConfigError {
                place: Place::CommandLine(o.flag_name()),
                key: None,
                msg,
            }),
        }
    }
    errors
}
