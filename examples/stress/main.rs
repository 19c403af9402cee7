//! snak's load generator: starts a release `snak` on loopback, drives it with thousands of
//! clients from one mio event loop, checks every message arrived exactly once and in order,
//! and prints one table of rates, latencies, CPU and memory.
//!
//! ```text
//! cargo run --release --example stress -- --scenario all
//! cargo run --release --example stress -- --scenario fanout --n 500 --senders 2 --proto irc
//! target/debug/examples/stress --smoke --snak target/debug/snak
//! ```
//!
//! Modules: `net` (sockets, limits), `layer` (TLS and WebSocket under a client's protocol),
//! `proto` (native, IRC, Redis and NATS behind one trait), `engine` (the client event loop and
//! the checks), `scenarios` (what each scenario sets up and measures), `attack` (the
//! amplification attack, a few blocking clients), `peers` (starting the servers compared with
//! snak), `daemon` (the server process and /proc), `report` (the table, the CSV and
//! `--compare`), `stats` (latency histogram).

mod attack;
mod daemon;
mod engine;
mod layer;
mod net;
mod peers;
mod proto;
mod report;
mod scenarios;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use layer::Transport;
use report::Row;
use scenarios::Overrides;

const USAGE: &str = "usage: stress [--scenario all|idle|idle19k|register19k|fanout|fanout100|fanout1000|pairs|pairs500|
                         rooms|files|slow|paced|amplify|storm|storm5k|storm10k|storm19k|storms|
                         joinpart1k|joinpart10k|joinpart[,...]]
              [--proto native|irc] [--snak PATH] [--smoke] [--snak-alt NAME=PATH]
              [--target TARGET[,...]] [--ceiling PATH] [--ngircd PATH] [--inspircd PATH]
              [--redis-server PATH]
              [--nats-server PATH] [--proxy] [--quiet-room-size N]
              [--timeout SECS] [--stall SECS] [--out DIR]
              [--n N] [--senders S] [--msgs M] [--window W] [--pad BYTES] [--rate DELIVERIES_PER_S]
              [--pairs P] [--rooms R] [--room-size K] [--slow-share F] [--max-sendq BYTES]
              [--files K] [--file-size BYTES] [--repeat N] [--csv FILE]
              [--server-cpu CPU] [--gen-cpu CPU] [--no-pin]
       stress --compare FILE   (medians per target and snak's ratios, from a --csv file)

TARGET: snak (speaking --proto), snak-native, snak-irc, and either with -tls (snak's TLS
listener), snak-irc-ws / snak-irc-wss (WebSocket, subprotocol text.ircv3.net, on --web-listen
or --web-tls-listen); NAME-native, NAME-irc (... -tls, -ws) for a second snak binary given by
--snak-alt NAME=PATH; ceiling (../shared/ceiling's relay, IRC), ngircd, inspircd (IRC), redis,
nats (pub/sub). An IRC snak target with +tags (snak-irc+tags) has its clients ask for
server-time and message-tags, so every delivery carries @time and msgid.
--proxy puts the tool's own TLS / WebSocket front in front of snak's plain listeners (a test of
the client side while snak has no such listener; its figures are not snak's).

Several targets run interleaved: each repeat of a scenario runs once on every target in turn,
so a change in the machine's background load falls on all of them alike. snak keeps no history
(--no-history-store) unless the target ends in +history: then it keeps it in a fresh data
directory on disk, the store's thread beside the loop (its share of the CPU is shown).";

/// What `--scenario all` (and `make stress`) runs: every scenario at its everyday size.
pub const ALL: [&str; 10] = [
    "idle",
    "fanout100",
    "fanout1000",
    "pairs500",
    "rooms",
    "files",
    "slow",
    "paced",
    "amplify",
    "storm",
];

/// Scenario names that stand for several.
pub const GROUPS: [(&str, &[&str]); 2] = [
    ("storms", &["storm5k", "storm10k", "storm19k"]),
    ("joinpart", &["joinpart1k", "joinpart10k"]),
];

/// One server under test, as the generator reaches it.
#[derive(Clone, Debug)]
pub struct Target {
    /// How it is named in tables and the CSV: snak-irc, old-native, ceiling, redis ...
    pub label: String,
    /// Which server: snak (also a second snak binary), ceiling, ngircd, redis, nats.
    pub server: &'static str,
    /// What the generator speaks: native, irc, redis, nats.
    pub proto: &'static str,
    /// What carries it: plain TCP, TLS, WebSocket.
    pub transport: Transport,
    /// The server's binary.
    pub bin: PathBuf,
    /// snak keeps history on disk (a `+history` target); otherwise it runs with none.
    pub history: bool,
    /// IRC clients ask for server-time and message-tags (a `+tags` target).
    pub tags: bool,
}

impl Target {
    pub fn is_snak(&self) -> bool {
        self.server == "snak"
    }

    /// What the tables group it as: snak, ceiling or peer.
    pub fn kind(&self) -> &'static str {
        match self.server {
            "snak" => "snak",
            "ceiling" => "ceiling",
            _ => "peer",
        }
    }
}

pub struct Opts {
    pub snak: PathBuf,
    /// Second snak binaries: (name, path).
    pub alts: Vec<(String, PathBuf)>,
    /// The one being run.
    pub target: Target,
    /// Every target asked for, in order (names until resolved).
    pub target_names: Vec<String>,
    pub ceiling: PathBuf,
    pub ngircd: PathBuf,
    pub inspircd: PathBuf,
    pub redis: PathBuf,
    pub nats: PathBuf,
    /// The tool's own TLS / WebSocket front for targets snak has no listener for.
    pub proxy: bool,
    /// snak's --quiet-room-size, if given.
    pub quiet_room_size: Option<usize>,
    pub proto: String,
    pub scenarios: Vec<String>,
    pub smoke: bool,
    /// Runs of each scenario; the row shown is the median by rate.
    pub repeat: usize,
    /// A file the rows are appended to, for `--compare`.
    pub csv: Option<PathBuf>,
    pub timeout: Duration,
    /// How long the server may send nothing before a phase is given up.
    pub stall: Duration,
    pub out: PathBuf,
    pub over: Overrides,
    /// The CPU the server is pinned to, and the generator's own (None: not pinned).
    pub server_cpu: Option<usize>,
    pub gen_cpu: Option<usize>,
}

fn parse_args(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts {
        snak: PathBuf::from("target/release/snak"),
        alts: Vec::new(),
        target: Target {
            label: "snak-native".into(),
            server: "snak",
            proto: "native",
            transport: Transport::Plain,
            bin: PathBuf::new(),
            history: false,
            tags: false,
        },
        target_names: Vec::new(),
        ceiling: PathBuf::from("target/ceiling/release/limitd"),
        ngircd: PathBuf::from("/usr/sbin/ngircd"),
        inspircd: PathBuf::from("/usr/sbin/inspircd"),
        redis: PathBuf::from("/usr/bin/redis-server"),
        nats: PathBuf::from("/usr/sbin/nats-server"),
        proxy: false,
        quiet_room_size: None,
        proto: "native".into(),
        scenarios: Vec::new(),
        smoke: false,
        repeat: 1,
        csv: None,
        timeout: Duration::ZERO,
        stall: Duration::from_secs(10),
        out: PathBuf::from("stress-out"),
        over: Overrides::default(),
        server_cpu: Some(1),
        gen_cpu: Some(0),
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--smoke" {
            o.smoke = true;
            continue;
        }
        if a == "--proxy" {
            o.proxy = true;
            continue;
        }
        if a == "--no-pin" {
            (o.server_cpu, o.gen_cpu) = (None, None);
            continue;
        }
        if a == "-h" || a == "--help" {
            return Err(USAGE.into());
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        let ov = &mut o.over;
        match a.as_str() {
            "--snak" => o.snak = v.into(),
            "--target" => o
                .target_names
                .extend(v.split(',').filter(|t| !t.is_empty()).map(String::from)),
            "--snak-alt" => {
                let (name, path) = v
                    .split_once('=')
                    .filter(|(n, _)| !n.is_empty() && !n.contains('-'))
                    .ok_or_else(|| format!("--snak-alt NAME=PATH (NAME without '-'): {v}"))?;
                o.alts.push((name.into(), path.into()));
            }
            "--ceiling" => o.ceiling = v.into(),
            "--ngircd" => o.ngircd = v.into(),
            "--inspircd" => o.inspircd = v.into(),
            "--redis-server" => o.redis = v.into(),
            "--nats-server" => o.nats = v.into(),
            "--quiet-room-size" => o.quiet_room_size = Some(num(&v)? as usize),
            "--proto" if v == "native" || v == "irc" => o.proto = v,
            "--scenario" => o.scenarios.extend(v.split(',').map(String::from)),
            "--timeout" => o.timeout = Duration::from_secs_f64(num(&v)?),
            "--out" => o.out = v.into(),
            "--stall" => o.stall = Duration::from_secs_f64(num(&v)?),
            "--repeat" => o.repeat = (num(&v)? as usize).clamp(1, 9),
            "--csv" => o.csv = Some(v.into()),
            "--server-cpu" => o.server_cpu = Some(num(&v)? as usize),
            "--gen-cpu" => o.gen_cpu = Some(num(&v)? as usize),
            "--n" => ov.n = Some(num(&v)? as usize),
            "--senders" => ov.senders = Some(num(&v)? as usize),
            "--msgs" => ov.msgs = Some(num(&v)? as u64),
            "--window" => ov.window = Some(num(&v)?.max(1.0) as u64),
            "--pad" => ov.pad = Some(num(&v)? as usize),
            "--rate" => ov.rate = Some(num(&v)?),
            "--pairs" => ov.pairs = Some(num(&v)? as usize),
            "--rooms" => ov.rooms = Some(num(&v)? as usize),
            "--room-size" => ov.room_size = Some(num(&v)?.max(2.0) as usize),
            "--slow-share" => ov.slow_share = Some(num(&v)?),
            "--max-sendq" => ov.max_sendq = Some(num(&v)? as u64),
            "--files" => ov.files = Some(num(&v)? as usize),
            "--file-size" => ov.file_size = Some(num(&v)? as u64),
            _ => return Err(format!("unknown or bad argument {a} {v}\n{USAGE}")),
        }
    }
    if o.scenarios.is_empty() || o.scenarios.iter().any(|s| s == "all") {
        o.scenarios = ALL.iter().map(|s| s.to_string()).collect();
    }
    o.scenarios = o
        .scenarios
        .iter()
        .flat_map(|s| match GROUPS.iter().find(|(g, _)| g == s) {
            Some((_, members)) => members.iter().map(|m| m.to_string()).collect(),
            None => vec![s.clone()],
        })
        .collect();
    for s in &o.scenarios {
        if !scenarios::known(s) {
            return Err(format!("unknown scenario {s}\n{USAGE}"));
        }
    }
    if o.target_names.is_empty() {
        o.target_names.push("snak".into());
    }
    if o.timeout.is_zero() {
        o.timeout = Duration::from_secs(if o.smoke { 20 } else { 120 });
    }
    Ok(o)
}

/// A target's name as `--target` takes it, resolved against the binaries given.
fn resolve(name: &str, o: &Opts) -> Result<Target, String> {
    let peer = |server: &'static str, proto: &'static str, bin: &PathBuf| Target {
        label: name.to_string(),
        server,
        proto,
        transport: Transport::Plain,
        bin: bin.clone(),
        history: false,
        tags: false,
    };
    match name {
        "ceiling" => return Ok(peer("ceiling", "irc", &o.ceiling)),
        "ngircd" => return Ok(peer("ngircd", "irc", &o.ngircd)),
        "inspircd" => return Ok(peer("inspircd", "irc", &o.inspircd)),
        "redis" => return Ok(peer("redis", "redis", &o.redis)),
        "nats" => return Ok(peer("nats", "nats", &o.nats)),
        _ => {}
    }
    let (base, tags) = match name.strip_suffix("+tags") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let (base, history) = match base.strip_suffix("+history") {
        Some(base) => (base, true),
        None => (base, false),
    };
    let base = if base == "snak" {
        format!("snak-{}", o.proto)
    } else {
        base.to_string()
    };
    let name = format!(
        "{base}{}{}",
        if history { "+history" } else { "" },
        if tags { "+tags" } else { "" }
    );
    let mut parts = base.splitn(3, '-');
    let (who, proto, transport) = (parts.next(), parts.next(), parts.next());
    let bin = match who {
        Some("snak") => o.snak.clone(),
        Some(w) => match o.alts.iter().find(|(n, _)| n == w) {
            Some((_, p)) => p.clone(),
            None => return Err(format!("unknown target {name}\n{USAGE}")),
        },
        None => return Err(format!("unknown target {name}\n{USAGE}")),
    };
    let proto = match proto {
        Some("native") => "native",
        Some("irc") => "irc",
        _ => return Err(format!("unknown target {name}: -native or -irc\n{USAGE}")),
    };
    if tags && proto != "irc" {
        return Err(format!(
            "unknown target {name}: +tags is for IRC targets\n{USAGE}"
        ));
    }
    let transport = match transport {
        None => Transport::Plain,
        Some(t) => Transport::from_name(t)
            .filter(|t| proto == "irc" || !t.is_web())
            .ok_or_else(|| format!("unknown target {name}\n{USAGE}"))?,
    };
    Ok(Target {
        label: name.clone(),
        server: "snak",
        proto,
        transport,
        bin,
        history,
        tags,
    })
}

/// Puts the generator on its CPU, or turns pinning off where there are not two CPUs to share
/// (children inherit the mask, so idle workers land on the generator's CPU too). Says which.
fn pin_self(opts: &mut Opts) -> String {
    let (Some(srv), Some(gen)) = (opts.server_cpu, opts.gen_cpu) else {
        (opts.server_cpu, opts.gen_cpu) = (None, None);
        return "not pinned (--no-pin)".into();
    };
    let n = daemon::cpus();
    if n < 2 || srv == gen {
        (opts.server_cpu, opts.gen_cpu) = (None, None);
        return format!("not pinned ({n} CPU, server and generator would share it)");
    }
    match daemon::pin(0, gen) {
        Ok(()) => format!("server on CPU {srv}, generator on CPU {gen}"),
        Err(e) => {
            (opts.server_cpu, opts.gen_cpu) = (None, None);
            format!("not pinned: {e}")
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker-idle") {
        return scenarios::worker_idle(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("--compare") {
        return match args.get(1).map(std::fs::read_to_string) {
            Some(Ok(text)) => {
                print!("{}", report::compare(&text));
                ExitCode::SUCCESS
            }
            _ => {
                eprintln!("usage: stress --compare FILE");
                ExitCode::from(2)
            }
        };
    }
    let mut opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let pinning = pin_self(&mut opts);
    let nofile = net::raise_nofile();
    if let Err(e) = std::fs::create_dir_all(&opts.out) {
        eprintln!("{}: {e}", opts.out.display());
        return ExitCode::from(2);
    }
    let mut targets = Vec::new();
    for name in &opts.target_names {
        match resolve(name, &opts) {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    // A peer that is not installed, or a snak without the listener a target needs, is said so
    // and left out; the rest is still measured.
    targets.retain(|t| match peers::missing(t, &opts) {
        Some(why) => {
            println!("stress: {}: {why}: not measured", t.label);
            false
        }
        None => true,
    });
    let names: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
    eprintln!(
        "stress: targets {}; open-file limit {nofile}; {pinning}; load average {:.2}",
        names.join(", "),
        daemon::loadavg()
    );
    let mut rows: Vec<Row> = Vec::new();
    let mut failed_any = false;
    for name in &opts.scenarios {
        let mut runs: Vec<Vec<Row>> = targets.iter().map(|_| Vec::new()).collect();
        for rep in 0..opts.repeat {
            for (k, t) in targets.iter().enumerate() {
                // A failure is the answer: no need to wait for it again.
                if runs[k].last().is_some_and(|r| !r.ok) {
                    continue;
                }
                opts.target = t.clone();
                eprintln!("stress: {name} on {} (run {}) ...", names[k], rep + 1);
                let row = scenarios::run(&opts, name, nofile);
                eprintln!("stress: {name} on {}: {}", names[k], row.result);
                if let Some(csv) = &opts.csv {
                    if let Err(e) = report::append_csv(csv, &row, rep) {
                        eprintln!("{}: {e}", csv.display());
                    }
                }
                runs[k].push(row);
            }
        }
        for mut r in runs {
            // A failed run wins over the median: it must show.
            r.sort_by(|a, b| a.ok.cmp(&b.ok).then(a.key().total_cmp(&b.key())));
            let row = if r[0].ok {
                r.swap_remove(r.len() / 2)
            } else {
                r.swap_remove(0)
            };
            failed_any |= !row.ok;
            rows.push(row);
        }
    }
    print!("{}", report::table(&rows, &opts, &pinning));
    if !failed_any {
        println!("all {} scenario runs passed", rows.len());
        ExitCode::SUCCESS
    } else {
        for r in rows.iter().filter(|r| !r.ok) {
            println!("FAILED {} on {}: {}", r.name, r.proto, r.result);
        }
        ExitCode::FAILURE
    }
}
