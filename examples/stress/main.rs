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
//! Modules: `net` (sockets, limits), `proto` (native and IRC behind one trait), `engine` (the
//! client event loop and the checks), `scenarios` (what each scenario sets up and measures),
//! `daemon` (the server process and /proc), `stats` (latency histogram).

mod daemon;
mod engine;
mod net;
mod proto;
mod scenarios;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use scenarios::{Overrides, Row};

const USAGE: &str = "usage: stress [--scenario all|idle|idle19k|fanout|fanout100|fanout1000|pairs|pairs500|rooms|files|slow|paced[,...]]
              [--proto native|irc] [--snak PATH] [--smoke]
              [--target snak|snak-native|snak-irc|snak-native+history|snak-irc+history|ngircd|redis[,...]]
              [--ngircd PATH] [--redis-server PATH]
              [--timeout SECS] [--stall SECS] [--out DIR]
              [--n N] [--senders S] [--msgs M] [--window W] [--pad BYTES] [--rate DELIVERIES_PER_S]
              [--pairs P] [--rooms R] [--room-size K] [--slow-share F] [--max-sendq BYTES]
              [--files K] [--file-size BYTES] [--repeat N] [--csv FILE]
              [--server-cpu CPU] [--gen-cpu CPU] [--no-pin]
       stress --compare FILE   (medians per target and snak's ratios, from a --csv file)

Several targets run interleaved: each repeat of a scenario runs once on every target in turn,
so a change in the machine's background load falls on all of them alike. snak keeps no history
(--no-history-store) unless the target ends in +history: then it keeps it in a fresh data
directory on disk, the store's thread beside the loop (its share of the CPU is shown).";

pub const ALL: [&str; 8] = [
    "idle",
    "fanout100",
    "fanout1000",
    "pairs500",
    "rooms",
    "files",
    "slow",
    "paced",
];

pub struct Opts {
    pub snak: PathBuf,
    /// snak, or a peer for comparison: ngircd (IRC) or redis (pub/sub). The one being run.
    pub target: String,
    /// Every (target, protocol) asked for, in order.
    pub targets: Vec<(String, String)>,
    pub ngircd: PathBuf,
    pub redis: PathBuf,
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
        target: "snak".into(),
        targets: Vec::new(),
        ngircd: PathBuf::from("/usr/sbin/ngircd"),
        redis: PathBuf::from("/usr/bin/redis-server"),
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
            "--target" => {
                for t in v.split(',') {
                    let (t, p) = match t {
                        "snak" => ("snak", ""),
                        "snak-native" => ("snak", "native"),
                        "snak-irc" => ("snak", "irc"),
                        "snak-native+history" => ("snak+history", "native"),
                        "snak-irc+history" => ("snak+history", "irc"),
                        "ngircd" => ("ngircd", "irc"),
                        "redis" => ("redis", "redis"),
                        _ => return Err(format!("unknown target {t}\n{USAGE}")),
                    };
                    o.targets.push((t.into(), p.into()));
                }
            }
            "--ngircd" => o.ngircd = v.into(),
            "--redis-server" => o.redis = v.into(),
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
    for s in &o.scenarios {
        if !scenarios::known(s) {
            return Err(format!("unknown scenario {s}\n{USAGE}"));
        }
    }
    if o.targets.is_empty() {
        o.targets.push(("snak".into(), String::new()));
    }
    for (_, p) in o.targets.iter_mut() {
        if p.is_empty() {
            p.clone_from(&o.proto);
        }
    }
    if o.timeout.is_zero() {
        o.timeout = Duration::from_secs(if o.smoke { 20 } else { 120 });
    }
    Ok(o)
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
                print!("{}", scenarios::compare(&text));
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
    // A peer that is not installed is said so and left out; snak is still measured.
    let mut targets = std::mem::take(&mut opts.targets);
    targets.retain(|(t, _)| {
        let (path, package) = match t.as_str() {
            "ngircd" => (&opts.ngircd, "ngircd"),
            "redis" => (&opts.redis, "redis-server"),
            _ => return true,
        };
        let there = path.is_file();
        if !there {
            println!(
                "stress: {t} is not installed at {} (apt-get install {package}): not measured",
                path.display()
            );
        }
        there
    });
    let names: Vec<String> = targets.iter().map(|(t, p)| label(t, p)).collect();
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
            for (k, (t, p)) in targets.iter().enumerate() {
                // A failure is the answer: no need to wait for it again.
                if runs[k].last().is_some_and(|r| !r.ok) {
                    continue;
                }
                (opts.target, opts.proto) = (t.clone(), p.clone());
                eprintln!("stress: {name} on {} (run {}) ...", names[k], rep + 1);
                let row = scenarios::run(&opts, name, nofile);
                eprintln!("stress: {name} on {}: {}", names[k], row.result);
                if let Some(csv) = &opts.csv {
                    if let Err(e) = scenarios::append_csv(csv, &row, rep) {
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
    print!("{}", scenarios::table(&rows, &opts, &pinning));
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

/// How a target is named in tables: snak-native, snak-irc(+history), ngircd, redis.
pub fn label(target: &str, proto: &str) -> String {
    match target {
        "snak" => format!("snak-{proto}"),
        "snak+history" => format!("snak-{proto}+history"),
        _ => target.to_string(),
    }
}
