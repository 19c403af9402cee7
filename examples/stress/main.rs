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

const USAGE: &str = "usage: stress [--scenario all|idle|fanout|fanout100|fanout1000|pairs|pairs500|rooms|files|slow|paced[,...]]
              [--proto native|irc] [--snak PATH] [--smoke]
              [--target snak|ngircd|redis] [--ngircd PATH] [--redis-server PATH]
              [--timeout SECS] [--stall SECS] [--out DIR]
              [--n N] [--senders S] [--msgs M] [--window W] [--pad BYTES] [--rate DELIVERIES_PER_S]
              [--pairs P] [--rooms R] [--room-size K] [--slow-share F] [--max-sendq BYTES]
              [--files K] [--file-size BYTES] [--repeat N] [--csv FILE]
       stress --compare FILE   (ratios between the targets' rows in a --csv file)";

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
    /// snak, or a peer for comparison: ngircd (IRC) or redis (pub/sub).
    pub target: String,
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
}

fn parse_args(args: Vec<String>) -> Result<Opts, String> {
    let mut o = Opts {
        snak: PathBuf::from("target/release/snak"),
        target: "snak".into(),
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
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--smoke" {
            o.smoke = true;
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
            "--target" if ["snak", "ngircd", "redis"].contains(&v.as_str()) => o.target = v,
            "--ngircd" => o.ngircd = v.into(),
            "--redis-server" => o.redis = v.into(),
            "--proto" if v == "native" || v == "irc" => o.proto = v,
            "--scenario" => o.scenarios.extend(v.split(',').map(String::from)),
            "--timeout" => o.timeout = Duration::from_secs_f64(num(&v)?),
            "--out" => o.out = v.into(),
            "--stall" => o.stall = Duration::from_secs_f64(num(&v)?),
            "--repeat" => o.repeat = (num(&v)? as usize).clamp(1, 9),
            "--csv" => o.csv = Some(v.into()),
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
    if o.timeout.is_zero() {
        o.timeout = Duration::from_secs(if o.smoke { 20 } else { 120 });
    }
    Ok(o)
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
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let nofile = net::raise_nofile();
    if let Err(e) = std::fs::create_dir_all(&opts.out) {
        eprintln!("{}: {e}", opts.out.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "stress: target {} proto {} open-file limit {nofile}",
        opts.target, opts.proto
    );
    let mut rows: Vec<Row> = Vec::new();
    for name in &opts.scenarios {
        eprintln!("stress: {name} ...");
        let mut runs: Vec<Row> = Vec::new();
        for _ in 0..opts.repeat {
            runs.push(scenarios::run(&opts, name, nofile));
            // A failure is the answer: no need to wait for it again.
            if runs.last().is_some_and(|r| !r.ok) {
                break;
            }
        }
        // A failed run wins over the median: it must show.
        runs.sort_by(|a, b| a.ok.cmp(&b.ok).then(a.rate().total_cmp(&b.rate())));
        let row = if runs[0].ok {
            runs.swap_remove(runs.len() / 2)
        } else {
            runs.swap_remove(0)
        };
        eprintln!("stress: {name}: {}", row.result);
        if let Some(csv) = &opts.csv {
            if let Err(e) = scenarios::append_csv(csv, &row, &opts) {
                eprintln!("{}: {e}", csv.display());
            }
        }
        rows.push(row);
    }
    print!("{}", scenarios::table(&rows, &opts));
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        println!("all {} scenarios passed", rows.len());
        ExitCode::SUCCESS
    } else {
        for r in &failed {
            println!("FAILED {}: {}", r.name, r.result);
        }
        ExitCode::FAILURE
    }
}
