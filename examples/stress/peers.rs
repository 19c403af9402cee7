//! Starting each server under test on loopback: snak (any binary, with the listeners its
//! target's transport needs), the ceiling relay, ngircd, Redis and NATS; and saying why a
//! target cannot be measured here.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::daemon::{self, Daemon};
use crate::layer::{self, Transport};
use crate::{Opts, Target};

/// Why `t` cannot be measured on this machine, if it cannot.
pub fn missing(t: &Target, opts: &Opts) -> Option<String> {
    let there = t.bin.is_file();
    match t.server {
        "ceiling" if !there => Some(format!(
            "the ceiling relay is not built at {} (`make bench` builds it from ../shared/ceiling)",
            t.bin.display()
        )),
        "ngircd" if !there => Some(not_installed(&t.bin, "ngircd")),
        "inspircd" if !there => Some(not_installed(&t.bin, "inspircd")),
        "redis" if !there => Some(not_installed(&t.bin, "redis-server")),
        "nats" if !there => Some(not_installed(&t.bin, "nats-server")),
        "snak" if !there => Some(format!("no snak binary at {}", t.bin.display())),
        "snak" if t.transport != Transport::Plain && !opts.proxy => {
            let flag = listen_flag(t);
            let help = daemon::help_text(&t.bin);
            (!help.contains(flag)).then(|| {
                format!(
                    "this snak has no {flag} yet (see its --help; --proxy tests the client side)"
                )
            })
        }
        _ => None,
    }
}

fn not_installed(bin: &Path, package: &str) -> String {
    format!(
        "not installed at {} (apt-get install {package})",
        bin.display()
    )
}

/// The listener flag a snak target needs, and the kind its `listening` line names.
fn listen_flag(t: &Target) -> &'static str {
    match (t.proto, t.transport) {
        ("native", Transport::Tls) => "--tls-listen",
        (_, Transport::Tls) => "--irc-tls-listen",
        (_, Transport::Ws) => "--web-listen",
        (_, Transport::Wss) => "--web-tls-listen",
        ("native", _) => "--listen",
        _ => "--irc-listen",
    }
}

fn listen_kind(t: &Target) -> &'static str {
    match (t.proto, t.transport) {
        ("native", Transport::Tls) => "native-tls",
        (_, Transport::Tls) => "irc-tls",
        (_, Transport::Ws) => "web",
        (_, Transport::Wss) => "web-tls",
        ("native", _) => "native",
        _ => "irc",
    }
}

/// Starts the target's server; returns it and the address the generator connects to.
pub fn start(
    opts: &Opts,
    flags: Vec<String>,
    conns: usize,
    log: &Path,
) -> Result<(Daemon, SocketAddr), String> {
    let t = &opts.target;
    let d = match t.server {
        "snak" => return start_snak(opts, flags, log),
        "ceiling" => start_ceiling(opts, log)?,
        "ngircd" => start_ngircd(opts, conns, log)?,
        "inspircd" => start_inspircd(opts, conns, log)?,
        "redis" => start_redis(opts, conns, log)?,
        "nats" => start_nats(opts, conns, log)?,
        other => return Err(format!("unknown server {other}")),
    };
    let addr = d.listener("tcp").ok_or("no listener")?;
    Ok((d, addr))
}

/// snak with `flags`; a TLS or WebSocket target gets the certificate and listener it needs,
/// or (`--proxy`) the tool's own front before the plain listener.
fn start_snak(
    opts: &Opts,
    mut flags: Vec<String>,
    log: &Path,
) -> Result<(Daemon, SocketAddr), String> {
    let t = &opts.target;
    let snak = daemon::require(&t.bin, "snak")?;
    if let Some(q) = opts.quiet_room_size {
        flags.extend(["--quiet-room-size".into(), q.to_string()]);
    }
    let dir = std::fs::canonicalize(&opts.out).map_err(|e| e.to_string())?;
    if t.transport != Transport::Plain && !opts.proxy {
        if t.transport.is_tls() {
            let (cert, key) = layer::make_certificate(&dir)?;
            flags.extend(["--tls-cert".into(), cert.display().to_string()]);
            flags.extend(["--tls-key".into(), key.display().to_string()]);
        }
        flags.extend([listen_flag(t).to_string(), "127.0.0.1:0".into()]);
    }
    // History on: kept on disk as in production, in a directory of this run's own (the last
    // --data-dir wins); off: nothing kept (a binary older than history has no switch).
    if t.history {
        let run = log.file_stem().and_then(|s| s.to_str()).unwrap_or("run");
        let data = dir.join(format!("snak-data-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        flags.extend(["--data-dir".into(), data.display().to_string()]);
    } else if daemon::help_text(&snak).contains("--no-history-store") {
        flags.push("--no-history-store".into());
    }
    let d = Daemon::start_snak(&snak, &flags, log, opts.server_cpu)?;
    let plain = if t.proto == "native" { "native" } else { "irc" };
    let addr = match (t.transport, opts.proxy) {
        (Transport::Plain, _) => d.listener(plain),
        (_, false) => d.listener(listen_kind(t)),
        (tr, true) => {
            let back = d.listener(plain).ok_or("no plain listener")?;
            Some(layer::proxy(tr, back, &dir)?)
        }
    };
    let addr =
        addr.ok_or_else(|| format!("snak printed no `listening {}` line", listen_kind(t)))?;
    Ok((d, addr))
}

/// A free loopback port (the peers can't be told to pick one and print it).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The ceiling relay (../shared/ceiling, built by `make bench`): IRC, no options to set.
fn start_ceiling(opts: &Opts, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.target.bin, "the ceiling relay (limitd)")?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", &loopback(port).to_string()]);
    Daemon::start_cmd(cmd, loopback(port), log, opts.server_cpu)
}

/// ngircd on loopback with a generated config: no DNS or ident lookups, no per-address cap, and
/// no flood penalties (`MaxPenaltyTime = 0`), like snak's `--no-flood-limit`.
fn start_ngircd(opts: &Opts, conns: usize, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.target.bin, "ngircd")?;
    let port = free_port()?;
    let dir = std::fs::canonicalize(&opts.out).map_err(|e| e.to_string())?;
    let conf = dir.join("ngircd.conf");
    let motd = dir.join("ngircd.motd");
    std::fs::write(&motd, "stress\n").map_err(|e| e.to_string())?;
    let text = format!(
        "[Global]\nName = stress.localhost\nInfo = stress\nListen = 127.0.0.1\nPorts = {port}\n\
         MotdFile = {}\nPidFile = {}\n\
         [Limits]\nMaxConnections = {}\nMaxConnectionsIP = 0\nMaxJoins = 0\nMaxNickLength = 31\n\
         MaxPenaltyTime = 0\nPingTimeout = 600\nPongTimeout = 600\n\
         [Options]\nDNS = no\nIdent = no\nPAM = no\n",
        motd.display(),
        dir.join("ngircd.pid").display(),
        conns + 64
    );
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.args(["--nodaemon", "--config"]).arg(&conf);
    Daemon::start_cmd(cmd, loopback(port), log, opts.server_cpu)
}

/// InspIRCd 3 on loopback with a generated config: no DNS (`nouserdns`) or ident lookups, no per-address
/// cap, flood limits as high as it takes them (`commandrate`, `threshold`, `fakelag="off"`), send
/// queues like snak's defaults. It refuses to run as root without `--runasroot`.
fn start_inspircd(opts: &Opts, conns: usize, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.target.bin, "inspircd")?;
    let port = free_port()?;
    let dir = std::fs::canonicalize(&opts.out).map_err(|e| e.to_string())?;
    let conf = dir.join("inspircd.conf");
    let max = conns + 64;
    let text = format!(
        "<config format=\"xml\">\n\
         <server name=\"stress.localhost\" description=\"stress\" network=\"stress\">\n\
         <admin name=\"stress\" nick=\"stress\" email=\"stress@localhost\">\n\
         <bind address=\"127.0.0.1\" port=\"{port}\" type=\"clients\">\n\
         <connect name=\"main\" allow=\"*\" timeout=\"120\" pingfreq=\"600\" \
         hardsendq=\"1048576\" softsendq=\"262144\" recvq=\"65536\" threshold=\"100000000\" \
         commandrate=\"100000000\" fakelag=\"off\" localmax=\"{max}\" globalmax=\"{max}\" \
         limit=\"{max}\" resolvehostnames=\"no\" useident=\"no\">\n\
         <performance netbuffersize=\"65536\" somaxconn=\"4096\" softlimit=\"{max}\" \
         clonesonconnect=\"no\" quietbursts=\"yes\" nouserdns=\"yes\">\n\
         <pid file=\"{}\">\n\
         <log method=\"file\" type=\"* -USERINPUT -USEROUTPUT\" level=\"default\" target=\"{}\">\n\
         <dns server=\"127.0.0.1\" timeout=\"1\">\n\
         <options defaultmodes=\"nt\">\n",
        dir.join("inspircd.pid").display(),
        dir.join("inspircd.log").display(),
    );
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config={}", conf.display()))
        .args(["--nofork", "--nopid", "--runasroot"]);
    Daemon::start_cmd(cmd, loopback(port), log, opts.server_cpu)
}

/// redis-server on loopback, no persistence.
fn start_redis(opts: &Opts, conns: usize, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.target.bin, "redis-server")?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .args([
            "--maxclients",
            &(conns + 64).to_string(),
            "--daemonize",
            "no",
        ]);
    Daemon::start_cmd(cmd, loopback(port), log, opts.server_cpu)
}

/// nats-server on loopback: core pub/sub only (no JetStream), no monitoring port, connection
/// limit sized to the run.
fn start_nats(opts: &Opts, conns: usize, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.target.bin, "nats-server")?;
    let port = free_port()?;
    let dir = std::fs::canonicalize(&opts.out).map_err(|e| e.to_string())?;
    let conf = dir.join("nats.conf");
    let text = format!(
        "host: 127.0.0.1\nport: {port}\nmax_connections: {}\nmax_pending: 67108864\n",
        conns + 64
    );
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(&conf);
    Daemon::start_cmd(cmd, loopback(port), log, opts.server_cpu)
}
