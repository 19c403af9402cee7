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
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
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
        _ => Err(format!(
            "{flag} needs a whole number of at least {min}, not {value:?}"
        )),
    }
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
                "--offer-timeout" => {
                    cfg.offer_timeout = Duration::from_secs(parse_num(&flag, &value()?, 1)?)
                }
                _ => return Err(format!("unknown option {arg:?} (see --help)")),
            }
        }
        if !listen.is_empty() {
            cfg.listen = listen;
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
        assert_eq!(Action::from_args(["--help".to_string()]), Ok(Action::Help));
        assert_eq!(Action::from_args(["-V".to_string()]), Ok(Action::Version));
    }
}
