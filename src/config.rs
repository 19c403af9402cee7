//! The daemon's configuration and its command line (pure: no sockets, no environment).
//!
//! Every limit and its default lives here, so the policy of the whole server reads in one place.

use std::net::SocketAddr;
use std::time::Duration;

/// The tutorial's address: its Python clients connect here unchanged.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:12345";
pub const DEFAULT_IRC_LISTEN: &str = "127.0.0.1:6667";

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
/// Descriptors kept free for listeners, logging and accept back-off.
pub const FD_RESERVE: u64 = 32;

pub const HELP: &str = "\
snak: a small, fast chat server (native line protocol and IRC on one event loop)

usage: snak [OPTIONS]

  --listen ADDR          native protocol listener (repeatable; default 127.0.0.1:12345)
  --irc-listen ADDR      IRC listener (repeatable; default 127.0.0.1:6667)
  --no-irc               no IRC listener
  --server-name NAME     the name the server gives itself (default snak.localhost)
  --max-clients N        most connections at once (default: as many as the open-file limit allows)
  --max-per-ip N         most connections from one address (default 10; loopback exempt)
  --max-conn-rate N      most new connections from one address per minute (default 30)
  --limit-loopback       apply the per-address limits to loopback too
  --max-line BYTES       longest native protocol line (default 8192)
  --max-file-size BYTES  largest file offer (default 1073741824)
  --max-sendq BYTES      most bytes queued for one slow reader before it is dropped (default 1048576)
  --quiet-room-size N    rooms with more members do not announce joins, parts and quits (default 500)
  --offer-timeout SECS   how long a file offer waits for an answer (default 60)
  --no-flood-limit       do not slow down fast senders (trusted load tests only)
  --password PASS        IRC clients must send PASS with this password to register
  --oper NAME:PASSWORD   an IRC server operator's credentials for OPER (repeatable)
  --config FILE          read settings from FILE: lines `oper NAME PASSWORD`, `password PASS`,
                         `motd FILE`; blank lines and lines starting with # are skipped
  --motd FILE            the IRC message of the day (default: none, numeric 422)
  --irc-ping SECS        ping IRC clients silent this long; drop them if silent as long
                         again (default 120); also the registration deadline if under 60
  -h, --help             this text
  -V, --version          the version

Log level by RUST_LOG (error, warn, info, debug, trace; default info).
On start snak prints `listening native ADDR` / `listening irc ADDR` per listener, then `ready`.
";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub irc_listen: Vec<SocketAddr>,
    pub server_name: String,
    /// None: as many as the open-file limit allows.
    pub max_clients: Option<usize>,
    pub max_per_ip: u32,
    pub max_conn_rate: u32,
    pub limit_loopback: bool,
    pub max_line: usize,
    pub max_file_size: u64,
    pub max_sendq: usize,
    pub quiet_room_size: usize,
    pub flood_limit: bool,
    /// How long a file offer waits for an answer.
    pub offer_timeout: Duration,
    /// The password IRC clients must give with PASS, if any.
    pub password: Option<String>,
    /// IRC server operators' credentials: (name, password).
    pub opers: Vec<(String, String)>,
    /// The message of the day, as lines.
    pub motd: Option<Vec<String>>,
    /// An IRC client silent this long is pinged; silent as long again, it is dropped.
    pub irc_ping: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: vec![parse_addr(DEFAULT_LISTEN).expect("valid default")],
            irc_listen: vec![parse_addr(DEFAULT_IRC_LISTEN).expect("valid default")],
            server_name: "snak.localhost".into(),
            max_clients: None,
            max_per_ip: 10,
            max_conn_rate: 30,
            limit_loopback: false,
            max_line: 8192,
            max_file_size: 1 << 30,
            max_sendq: 1 << 20,
            quiet_room_size: 500,
            flood_limit: true,
            offer_timeout: Duration::from_secs(60),
            password: None,
            opers: Vec::new(),
            motd: None,
            irc_ping: Duration::from_secs(120),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // made once, at start
pub enum Action {
    Run(Config),
    Help,
    Version,
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
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

fn parse_num<T>(flag: &str, value: &str, min: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    match value.parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        // All digits and still no number: more digits than the number can hold.
        Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{flag} {value} is too large"))
        }
        _ => Err(format!(
            "{flag} needs a whole number of at least {min}, not {value:?}"
        )),
    }
}

/// One `NAME:PASSWORD` of `--oper`.
fn parse_oper(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((name, pass)) if valid_word(name) && valid_word(pass) => {
            Ok((name.to_string(), pass.to_string()))
        }
        _ => Err(format!(
            "--oper needs NAME:PASSWORD (no spaces, neither empty), not {value:?}"
        )),
    }
}

fn valid_word(s: &str) -> bool {
    !s.is_empty()
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

fn read_motd(path: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read motd {path:?}: {e}"))?;
    Ok(text.lines().map(|l| l.replace(['\r', '\0'], "")).collect())
}

/// Applies the text of a `--config` file (`what` names it in errors).
pub fn apply_config_file(cfg: &mut Config, text: &str, what: &str) -> Result<(), String> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("{what}:{}: cannot understand {line:?}", i + 1);
        match words.as_slice() {
            ["oper", name, pass] => cfg.opers.push((name.to_string(), pass.to_string())),
            ["password", pass] => cfg.password = Some(pass.to_string()),
            ["motd", path] => cfg.motd = Some(read_motd(path)?),
            _ => return Err(bad()),
        }
    }
    Ok(())
}

impl Action {
    /// Parses the arguments after the program name.
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Action, String> {
        let mut cfg = Config::default();
        let (mut listen, mut irc_listen, mut no_irc) = (Vec::new(), Vec::new(), false);
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
            match flag.as_str() {
                "-h" | "--help" => return Ok(Action::Help),
                "-V" | "--version" => return Ok(Action::Version),
                "--listen" => listen.push(parse_addr(&value()?)?),
                "--irc-listen" => irc_listen.push(parse_addr(&value()?)?),
                "--no-irc" => no_irc = true,
                "--server-name" => {
                    let name = value()?;
                    let ok = !name.is_empty()
                        && name.len() <= 63
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
                    if !ok {
                        return Err(format!(
                            "bad server name {name:?}: use letters, digits, . and -"
                        ));
                    }
                    cfg.server_name = name;
                }
                "--max-clients" => cfg.max_clients = Some(parse_num(&flag, &value()?, 1)?),
                "--max-per-ip" => cfg.max_per_ip = parse_num(&flag, &value()?, 1)?,
                "--max-conn-rate" => cfg.max_conn_rate = parse_num(&flag, &value()?, 1)?,
                "--limit-loopback" => cfg.limit_loopback = true,
                "--max-line" => cfg.max_line = parse_num(&flag, &value()?, 64)?,
                "--max-file-size" => cfg.max_file_size = parse_num(&flag, &value()?, 0)?,
                "--max-sendq" => cfg.max_sendq = parse_num(&flag, &value()?, 4096)?,
                "--quiet-room-size" => cfg.quiet_room_size = parse_num(&flag, &value()?, 1)?,
                "--no-flood-limit" => cfg.flood_limit = false,
                "--password" => {
                    let pass = value()?;
                    if !valid_word(&pass) {
                        return Err("--password needs a password without spaces".into());
                    }
                    cfg.password = Some(pass);
                }
                "--oper" => cfg.opers.push(parse_oper(&value()?)?),
                "--motd" => cfg.motd = Some(read_motd(&value()?)?),
                "--config" => {
                    let path = value()?;
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read config {path:?}: {e}"))?;
                    apply_config_file(&mut cfg, &text, &path)?;
                }
                "--irc-ping" => cfg.irc_ping = Duration::from_secs(parse_num(&flag, &value()?, 1)?),
                "--offer-timeout" => {
                    cfg.offer_timeout = Duration::from_secs(parse_num(&flag, &value()?, 1)?)
                }
                _ => return Err(format!("unknown option {arg:?} (see --help)")),
            }
        }
        if !listen.is_empty() {
            cfg.listen = listen;
        }
        if no_irc && !irc_listen.is_empty() {
            return Err("--no-irc and --irc-listen contradict each other: give one".into());
        }
        if no_irc {
            cfg.irc_listen.clear();
        } else if !irc_listen.is_empty() {
            cfg.irc_listen = irc_listen;
        }
        Ok(Action::Run(cfg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        match Action::from_args(args.iter().map(|s| s.to_string()))? {
            Action::Run(c) => Ok(c),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn irc_operators_password_and_config_file() {
        let c = run(&[
            "--oper",
            "root:hunter2",
            "--oper=mod:pw",
            "--password",
            "s3",
        ])
        .unwrap();
        assert_eq!(
            c.opers,
            vec![
                ("root".into(), "hunter2".into()),
                ("mod".into(), "pw".into())
            ]
        );
        assert_eq!(c.password.as_deref(), Some("s3"));
        assert_eq!(c.irc_ping, Duration::from_secs(120));
        assert!(run(&["--oper", "nopass"])
            .unwrap_err()
            .contains("NAME:PASSWORD"));
        assert!(run(&["--oper", ":x"]).is_err());
        assert!(run(&["--irc-ping", "0"]).is_err());
        assert_eq!(
            run(&["--irc-ping", "5"]).unwrap().irc_ping,
            Duration::from_secs(5)
        );

        let mut cfg = Config::default();
        let text = "# operators\n\noper alice secret\n  oper bob pw  \npassword letmein\n";
        apply_config_file(&mut cfg, text, "f").unwrap();
        assert_eq!(cfg.opers.len(), 2);
        assert_eq!(cfg.opers[1], ("bob".into(), "pw".into()));
        assert_eq!(cfg.password.as_deref(), Some("letmein"));
        let err = apply_config_file(&mut cfg, "oper onlyname\n", "f").unwrap_err();
        assert!(err.contains("f:1"), "{err}");
        assert!(apply_config_file(&mut cfg, "motd /nonexistent/motd\n", "f").is_err());
        assert!(run(&["--config", "/nonexistent/snak.conf"]).is_err());
    }

    #[test]
    fn defaults_are_the_tutorials_address() {
        let c = run(&[]).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:12345".parse().unwrap()]);
        assert_eq!(c.irc_listen, vec!["127.0.0.1:6667".parse().unwrap()]);
        assert_eq!(c.max_line, 8192);
    }

    #[test]
    fn repeatable_listeners_and_both_families() {
        let c = run(&["--listen", "127.0.0.1:0", "--listen=[::1]:0", "--no-irc"]).unwrap();
        assert_eq!(c.listen.len(), 2);
        assert!(c.listen[1].is_ipv6());
        assert!(c.irc_listen.is_empty());
    }

    #[test]
    fn numbers_and_errors() {
        let c = run(&[
            "--max-clients",
            "5",
            "--max-sendq",
            "65536",
            "--no-flood-limit",
        ])
        .unwrap();
        assert_eq!(
            (c.max_clients, c.max_sendq, c.flood_limit),
            (Some(5), 65536, false)
        );
        assert!(run(&["--max-clients", "0"])
            .unwrap_err()
            .contains("--max-clients"));
        assert!(run(&["--max-line", "x"]).is_err());
        assert!(run(&["--listen"]).unwrap_err().contains("needs a value"));
        assert!(run(&["--listen", "nowhere"])
            .unwrap_err()
            .contains("bad address"));
        assert!(run(&["--bogus"]).unwrap_err().contains("unknown option"));
        assert_eq!(
            run(&["--max-file-size", "99999999999999999999999"]).unwrap_err(),
            "--max-file-size 99999999999999999999999 is too large"
        );
        assert!(run(&["--max-file-size", "-5"])
            .unwrap_err()
            .contains("needs a whole number of at least 0"));
        assert!(run(&["--no-irc", "--irc-listen", "127.0.0.1:6668"])
            .unwrap_err()
            .contains("--no-irc and --irc-listen"));
        assert_eq!(Action::from_args(["--help".to_string()]), Ok(Action::Help));
        assert_eq!(Action::from_args(["-V".to_string()]), Ok(Action::Version));
    }
}
