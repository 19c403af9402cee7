//! What each scenario sets up, which figures it takes, and the table.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::daemon::{self, Daemon};
use crate::engine::{Engine, Group, Spec};
use crate::proto::{Irc, Native, Proto, Redis};
use crate::stats::{dur, si};
use crate::Opts;

/// Connections one generator process holds at most; the rest go to worker processes, since the
/// open-file limit here is 20 000 per process.
const PER_PROCESS: usize = 16_000;

/// Sizes given on the command line; they replace the scenario's defaults.
#[derive(Default)]
pub struct Overrides {
    pub n: Option<usize>,
    pub senders: Option<usize>,
    pub msgs: Option<u64>,
    pub window: Option<u64>,
    pub pad: Option<usize>,
    pub rate: Option<f64>,
    pub pairs: Option<usize>,
    pub rooms: Option<usize>,
    pub room_size: Option<usize>,
    pub slow_share: Option<f64>,
    pub max_sendq: Option<u64>,
    pub files: Option<usize>,
    pub file_size: Option<u64>,
}

/// The sizes of one scenario run.
struct Params {
    n: usize,
    senders: usize,
    msgs: u64,
    window: u64,
    pad: usize,
    /// Deliveries per second (paced, and the bystanders of `files`).
    rate: f64,
    pairs: usize,
    rooms: usize,
    room_size: usize,
    slow_share: f64,
    max_sendq: u64,
    files: usize,
    file_size: u64,
}

pub fn known(name: &str) -> bool {
    crate::ALL.contains(&name) || ["fanout", "pairs", "idle19k"].contains(&name)
}

fn params(name: &str, smoke: bool, o: &Overrides) -> Params {
    let mut p = Params {
        n: 100,
        senders: 5,
        msgs: 2000,
        window: 100,
        pad: 32,
        rate: 100_000.0,
        pairs: 500,
        rooms: 2000,
        room_size: 5,
        slow_share: 0.2,
        max_sendq: 262_144,
        files: 8,
        file_size: 128 << 20,
    };
    match (name, smoke) {
        ("idle", false) => p.n = 10_000,
        ("idle", true) => p.n = 50,
        // The registration figure: 19 000 clients connect and register.
        ("idle19k", false) => p.n = 19_000,
        ("idle19k", true) => p.n = 60,
        ("fanout" | "fanout100", true) => (p.n, p.senders, p.msgs, p.window) = (10, 2, 100, 10),
        ("fanout" | "fanout100", false) => p.msgs = 10_000,
        ("fanout1000", false) => (p.n, p.senders, p.msgs) = (1000, 1, 5000),
        ("fanout1000", true) => (p.n, p.senders, p.msgs, p.window) = (30, 1, 100, 10),
        ("pairs" | "pairs500", false) => (p.msgs, p.window) = (1000, 10),
        ("pairs" | "pairs500", true) => (p.pairs, p.msgs, p.window) = (10, 100, 5),
        ("rooms", false) => (p.senders, p.msgs, p.window) = (1, 200, 10),
        ("rooms", true) => (p.rooms, p.room_size, p.senders, p.msgs, p.window) = (20, 3, 1, 20, 5),
        ("files", false) => (p.n, p.senders, p.rate) = (20, 1, 2000.0),
        ("files", true) => {
            (p.n, p.senders, p.rate, p.files, p.file_size) = (5, 1, 500.0, 2, 512 << 10)
        }
        // On loopback the kernel alone takes about 3 MB for a client that never reads (the
        // server's send buffer grows to tcp_wmem's maximum), so a slow client only reaches the
        // server's own queue limit after more than that.
        ("slow", false) => (p.msgs, p.pad) = (3000, 512),
        ("slow", true) => {
            (p.n, p.senders, p.msgs, p.pad, p.slow_share, p.max_sendq) =
                (10, 2, 6000, 512, 0.3, 65_536)
        }
        ("paced", false) => (p.window, p.msgs) = (1000, 0),
        ("paced", true) => (p.n, p.senders, p.rate, p.window, p.msgs) = (10, 2, 5000.0, 1000, 0),
        _ => {}
    }
    macro_rules! over {
        ($($f:ident),*) => { $( if let Some(v) = o.$f { p.$f = v; } )* };
    }
    over!(
        n, senders, msgs, window, pad, rate, pairs, rooms, room_size, slow_share, max_sendq, files,
        file_size
    );
    p.senders = p.senders.clamp(1, p.n.max(2) - 1);
    if name == "paced" && o.msgs.is_none() {
        // About 5 s of traffic (1 s for smoke) at the asked rate.
        let per_sender = p.rate / (p.n - 1) as f64 / p.senders as f64;
        p.msgs = ((per_sender * if smoke { 1.0 } else { 5.0 }) as u64).max(1);
    }
    p
}

/// One line of the table.
pub struct Row {
    pub name: String,
    pub proto: String,
    pub ok: bool,
    pub result: String,
    conns: usize,
    /// What `count` counts: deliveries, messages, connections or MiB.
    count: f64,
    secs: f64,
    unit: &'static str,
    srv_cpu: f64,
    gen_cpu: f64,
    /// Busy CPU time of everything else on the machine meanwhile (other users' jobs).
    other_cpu: f64,
    lat: Option<(u64, u64, u64)>,
    rss_kib: (u64, u64),
    /// idle: server RSS growth per connection, bytes.
    per_conn: f64,
    /// The one-minute load average when the run began.
    load: f64,
    extra: String,
}

impl Row {
    /// What the scenario counts per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.count / self.secs
        } else {
            0.0
        }
    }

    /// What the scenario counts per second of server CPU.
    pub fn per_cpu(&self) -> f64 {
        if self.srv_cpu > 0.0 {
            self.count / self.srv_cpu
        } else {
            0.0
        }
    }

    /// The figure the median run is chosen by, larger is better: server CPU for idle (less is
    /// better), p99 latency for paced, work per server CPU-second for the rest.
    pub fn key(&self) -> f64 {
        match self.name.as_str() {
            "idle" | "idle19k" => -self.srv_cpu,
            "paced" => -(self.lat.map_or(0, |l| l.1) as f64),
            _ => self.per_cpu(),
        }
    }

    fn new(name: &str, proto: &str) -> Row {
        Row {
            name: name.into(),
            proto: proto.into(),
            ok: false,
            result: String::new(),
            conns: 0,
            count: 0.0,
            secs: 0.0,
            unit: "",
            srv_cpu: 0.0,
            gen_cpu: 0.0,
            other_cpu: 0.0,
            lat: None,
            rss_kib: (0, 0),
            per_conn: 0.0,
            load: 0.0,
            extra: String::new(),
        }
    }
}

/// The protocol the generator speaks to the chosen target.
fn proto_for(opts: &Opts) -> &'static dyn Proto {
    match (opts.target.as_str(), opts.proto.as_str()) {
        ("redis", _) => &Redis,
        ("ngircd", _) | (_, "irc") => &Irc,
        _ => &Native,
    }
}

pub fn run(opts: &Opts, name: &str, nofile: u64) -> Row {
    let proto = proto_for(opts);
    let mut row = Row::new(name, &crate::label(&opts.target, proto.name()));
    row.load = daemon::loadavg();
    let na = match name {
        "files" if !proto.files() => Some("n/a: these users cannot take files"),
        // The slow-consumer policy under test is snak's `--max-sendq`.
        "slow" if !opts.target.starts_with("snak") => Some("n/a: snak's sendq policy"),
        _ => None,
    };
    if let Some(na) = na {
        row.ok = true;
        row.result = na.into();
        return row;
    }
    match run_inner(opts, name, nofile, &mut row) {
        Ok(()) => {
            row.ok = true;
            row.result = "ok".into();
        }
        Err(e) => row.result = e,
    }
    row
}

fn run_inner(opts: &Opts, name: &str, nofile: u64, row: &mut Row) -> Result<(), String> {
    let mut p = params(name, opts.smoke, &opts.over);
    let proto = proto_for(opts);
    if proto.name() == "irc" && p.pad > 400 {
        // An IRC line is at most 512 bytes; send more, shorter messages for the same bytes.
        p.msgs = p.msgs * p.pad as u64 / 400;
        p.pad = 400;
    }
    let (mut spec, conns) = build(name, &p, opts.timeout, opts.stall);
    spec.connect_batch = connect_batch(opts, spec.connect_batch);
    row.conns = conns;
    let log = opts
        .out
        .join(format!("{}-{name}-{}.log", opts.target, proto.name()));
    let mut d = match opts.target.as_str() {
        "ngircd" => start_ngircd(opts, conns, &log)?,
        "redis" => start_redis(opts, conns, &log)?,
        _ => start_snak(opts, name, &p, conns, &log)?,
    };
    let addr = if proto.name() == "native" {
        d.native
    } else {
        d.irc
    }
    .ok_or_else(|| format!("no {} listener", proto.name()))?;
    let pid = d.pid();
    let mut held = Held {
        engine: None,
        workers: Vec::new(),
    };
    let r = if name.starts_with("idle") {
        idle(proto, addr, &p, opts, nofile, pid, row, &mut held)
    } else {
        traffic(proto, addr, spec, name, &p, pid, row, &mut held)
    };
    // The server goes first, so TIME_WAIT stays on its side and the next scenario has ports.
    let stop = d.stop();
    drop(held.engine);
    for w in held.workers {
        w.finish();
    }
    let r = r.map_err(|e| format!("{e}; {} on stop: {stop}", opts.target));
    if r.is_ok() && opts.target.starts_with("snak") && !stop.contains("exit status: 0") {
        return Err(format!("snak did not exit cleanly on SIGTERM: {stop}"));
    }
    r
}

fn start_snak(
    opts: &Opts,
    name: &str,
    p: &Params,
    conns: usize,
    log: &Path,
) -> Result<Daemon, String> {
    let snak = daemon::require(&opts.snak, "snak")?;
    let mut flags: Vec<String> = vec![
        "--no-flood-limit".into(),
        "--max-clients".into(),
        (conns + 64).to_string(),
    ];
    if name == "slow" {
        flags.extend(["--max-sendq".into(), p.max_sendq.to_string()]);
    }
    if name == "files" {
        flags.extend(["--max-file-size".into(), p.file_size.max(1).to_string()]);
    }
    // History on: kept on disk as in production, in a directory of this run's own (the last
    // --data-dir wins); off: nothing kept (a binary older than history has no switch).
    let help = daemon::help_text(&snak);
    if opts.target == "snak+history" {
        let dir = opts
            .out
            .join(format!("snak-data-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        flags.extend(["--data-dir".into(), dir.display().to_string()]);
    } else if help.contains("--no-history-store") {
        flags.push("--no-history-store".into());
    }
    Daemon::start_snak(&snak, &flags, log, opts.server_cpu)
}

/// Handshakes in flight at once for the target: ngircd accepts slowly and drops SYNs beyond a
/// short backlog.
fn connect_batch(opts: &Opts, default: usize) -> usize {
    if opts.target == "ngircd" {
        8
    } else {
        default
    }
}

/// A free loopback port (the peers can't be told to pick one and print it).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// ngircd on loopback with a generated config: no DNS or ident lookups, no per-address cap, and
/// no flood penalties (`MaxPenaltyTime = 0`), like snak's `--no-flood-limit`.
fn start_ngircd(opts: &Opts, conns: usize, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.ngircd, "ngircd")?;
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
    Daemon::start_cmd(
        cmd,
        SocketAddr::from(([127, 0, 0, 1], port)),
        log,
        opts.server_cpu,
    )
}

/// redis-server on loopback, no persistence.
fn start_redis(opts: &Opts, conns: usize, log: &Path) -> Result<Daemon, String> {
    let bin = daemon::require(&opts.redis, "redis-server")?;
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args([
        "--protected-mode",
        "no",
        "--maxclients",
        &(conns + 64).to_string(),
        "--daemonize",
        "no",
    ]);
    Daemon::start_cmd(
        cmd,
        SocketAddr::from(([127, 0, 0, 1], port)),
        log,
        opts.server_cpu,
    )
}

/// The groups of a scenario and how many connections they need.
fn build(name: &str, p: &Params, timeout: Duration, stall: Duration) -> (Spec, usize) {
    let room = |members: Vec<usize>, senders: usize, room: String| Group {
        senders: members[..senders].to_vec(),
        members,
        room: Some(room),
    };
    let mut spec = Spec::new(0, timeout);
    spec.stall = stall;
    spec.msgs = p.msgs;
    spec.window = p.window;
    spec.pad = p.pad;
    match name {
        "pairs" | "pairs500" => {
            for k in 0..p.pairs {
                let (a, b) = (2 * k, 2 * k + 1);
                spec.groups.push(Group {
                    room: None,
                    members: vec![a, b],
                    senders: vec![a, b],
                });
            }
            spec.n = 2 * p.pairs;
        }
        "rooms" => {
            for k in 0..p.rooms {
                let members: Vec<usize> = (k * p.room_size..(k + 1) * p.room_size).collect();
                spec.groups.push(room(
                    members,
                    p.senders.min(p.room_size - 1),
                    format!("#r{k}"),
                ));
            }
            spec.n = p.rooms * p.room_size;
        }
        "files" => {
            // Bystanders chat in one room while pairs of other clients move files.
            spec.groups
                .push(room((0..p.n).collect(), p.senders, "#bystanders".into()));
            spec.bystanders = Some(0);
            spec.rate = Some(p.rate / (p.n - 1) as f64 / p.senders as f64);
            spec.file_size = p.file_size;
            for k in 0..p.files {
                spec.files.push((p.n + 2 * k, p.n + 2 * k + 1));
            }
            spec.n = p.n + 2 * p.files;
        }
        "idle" | "idle19k" => spec.n = p.n.min(PER_PROCESS),
        _ => {
            // fanout, fanout100, fanout1000, slow, paced: one room.
            spec.groups
                .push(room((0..p.n).collect(), p.senders, "#fanout".into()));
            spec.n = p.n;
            if name == "slow" {
                // Slow readers come right after the senders; the last member stays a reader.
                let k = ((p.n - p.senders) as f64 * p.slow_share).round() as usize;
                let k = k.min(p.n - p.senders - 1);
                spec.slow = (p.senders..p.senders + k).collect();
            }
            if name == "paced" {
                spec.rate = Some(p.rate / (p.n - 1) as f64 / p.senders as f64);
            }
        }
    }
    let conns = if name.starts_with("idle") {
        p.n
    } else {
        spec.n
    };
    (spec, conns)
}

/// Clients kept open until the server has been stopped.
struct Held<'p> {
    engine: Option<Engine<'p>>,
    workers: Vec<Worker>,
}

#[allow(clippy::too_many_arguments)]
fn traffic<'p>(
    proto: &'p dyn Proto,
    addr: SocketAddr,
    spec: Spec,
    name: &str,
    p: &Params,
    pid: u32,
    row: &mut Row,
    held: &mut Held<'p>,
) -> Result<(), String> {
    let e = held
        .engine
        .insert(Engine::new(proto, addr, spec).map_err(|e| e.to_string())?);
    e.connect()?;
    e.join()?;
    let (s0, g0, m0) = (
        daemon::cpu_secs(pid),
        daemon::self_cpu_secs(),
        daemon::machine_busy_secs(),
    );
    // The loop's thread and the store's, apart (10 ms ticks): history costs the second.
    let threads = || {
        let of = |name| daemon::thread_cpu_secs(pid, name);
        of("snak").zip(of("snak-store"))
    };
    let threads0 = threads();
    let r = e.traffic();
    row.srv_cpu = daemon::cpu_secs(pid) - s0;
    if let (Some((l0, st0)), Some((l1, st1))) = (threads0, threads()) {
        if st1 > st0 {
            row.extra = format!("loop {:.2}s, store thread {:.2}s", l1 - l0, st1 - st0);
        }
    }
    row.gen_cpu = daemon::self_cpu_secs() - g0;
    row.other_cpu = (daemon::machine_busy_secs() - m0 - row.srv_cpu - row.gen_cpu).max(0.0);
    row.rss_kib = daemon::mem_kib(pid);
    let o = &e.out;
    row.secs = o.traffic.as_secs_f64();
    if name == "files" {
        row.count = o.file_bytes as f64 / (1 << 20) as f64;
        row.unit = "MiB";
    } else {
        row.count = o.delivered as f64;
        row.unit = if name.starts_with("pairs") {
            "msgs"
        } else {
            "deliv"
        };
    }
    let h = &e.hist;
    row.lat = Some((h.quantile(0.5), h.quantile(0.99), h.max));
    if name == "paced" && e.lag.n > 0 {
        row.extra = format!(
            "gen send lag p50/p99 {}/{}, {}/{} reads kernel-stamped",
            dur(e.lag.quantile(0.5)),
            dur(e.lag.quantile(0.99)),
            e.out.reads - e.out.unstamped,
            e.out.reads
        );
    }
    r?;
    e.drain_slow()?;
    let o = &e.out;
    if name == "slow" {
        row.extra = format!("{}/{} slow dropped", o.slow_dropped, e_slow(p, row.conns));
        if o.slow_dropped == 0 {
            e.verify()?;
            return Err("no slow client was dropped: raise --msgs or --pad".into());
        }
    }
    if name == "files" {
        row.extra = format!("{} bystander deliv", o.delivered);
    }
    e.verify()
}

fn e_slow(p: &Params, n: usize) -> usize {
    (((n - p.senders) as f64 * p.slow_share).round() as usize).min(n - p.senders - 1)
}

/// `idle`: N registered connections held; connect time and server memory per connection.
#[allow(clippy::too_many_arguments)]
fn idle<'p>(
    proto: &'p dyn Proto,
    addr: SocketAddr,
    p: &Params,
    opts: &Opts,
    nofile: u64,
    pid: u32,
    row: &mut Row,
    held: &mut Held<'p>,
) -> Result<(), String> {
    let (rss0, _) = daemon::mem_kib(pid);
    let slab0 = daemon::slab_kib();
    let (s0, g0, m0) = (
        daemon::cpu_secs(pid),
        daemon::self_cpu_secs(),
        daemon::machine_busy_secs(),
    );
    let t = Instant::now();
    let here =
        p.n.min(PER_PROCESS)
            .min(nofile.saturating_sub(100) as usize);
    // Workers take the rest, each its own share of nicks and source addresses. Together the
    // processes keep no more handshakes in flight than one process alone would.
    let processes = p.n.div_ceil(PER_PROCESS).max(1);
    let batch = (connect_batch(opts, Spec::new(0, opts.timeout).connect_batch) / processes).max(1);
    let mut first = here;
    while first < p.n {
        let k = (p.n - first).min(PER_PROCESS);
        held.workers.push(Worker::spawn(
            addr,
            proto.name(),
            first,
            k,
            batch,
            opts.timeout,
        )?);
        first += k;
    }
    let workers = &mut held.workers;
    let mut spec = Spec::new(here, opts.timeout);
    spec.connect_batch = batch;
    spec.stall = opts.stall.max(Duration::from_secs(30));
    let e = held
        .engine
        .insert(Engine::new(proto, addr, spec).map_err(|e| e.to_string())?);
    e.connect()?;
    for w in workers.iter_mut() {
        w.wait_ready(opts.timeout)?;
    }
    let elapsed = t.elapsed();
    // Let the server finish what it queued before its memory is read.
    std::thread::sleep(Duration::from_millis(200));
    let (rss1, hwm) = daemon::mem_kib(pid);
    let slab1 = daemon::slab_kib();
    row.srv_cpu = daemon::cpu_secs(pid) - s0;
    row.gen_cpu = daemon::self_cpu_secs() - g0
        + workers
            .iter()
            .map(|w| daemon::cpu_secs(w.child.id()))
            .sum::<f64>();
    // The 200 ms pause is in the machine's figure but not in the others: small either way.
    row.other_cpu = (daemon::machine_busy_secs() - m0 - row.srv_cpu - row.gen_cpu).max(0.0);
    row.rss_kib = (rss1, hwm);
    row.count = p.n as f64;
    row.unit = "conns";
    row.secs = elapsed.as_secs_f64();
    let per = (rss1.saturating_sub(rss0)) as f64 * 1024.0 / p.n as f64;
    row.per_conn = per;
    // Both ends of every connection are on this machine: half the growth is the server's.
    let kernel = slab1.saturating_sub(slab0) as f64 * 1024.0 / p.n as f64 / 2.0;
    row.extra = format!(
        "{per:.0} B/conn; kernel slab +{kernel:.0} B per socket; {} workers",
        workers.len()
    );
    e.verify()
}

/// A child process (this program with `--worker-idle`) holding part of the idle connections.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn spawn(
        addr: SocketAddr,
        proto: &str,
        first: usize,
        n: usize,
        batch: usize,
        timeout: Duration,
    ) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args([
                "--worker-idle",
                &addr.to_string(),
                proto,
                &first.to_string(),
                &n.to_string(),
                &batch.to_string(),
            ])
            .arg(timeout.as_secs().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Worker { child, lines: rx })
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) if l.starts_with("ok") => Ok(()),
            Ok(l) => Err(format!("worker: {l}")),
            Err(_) => Err("a worker did not report".into()),
        }
    }

    /// Closing its stdin tells the worker to exit.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker side: `--worker-idle ADDR PROTO FIRST N BATCH TIMEOUT_S`. Prints `ok` once its
/// connections are registered, then holds them until stdin closes.
pub fn worker_idle(args: &[String]) -> ExitCode {
    let run = || -> Result<Engine<'static>, String> {
        let [addr, proto, first, n, batch, timeout] = args else {
            return Err("bad worker arguments".into());
        };
        let addr: SocketAddr = addr.parse().map_err(|_| "bad address")?;
        let proto: &'static dyn Proto = match proto.as_str() {
            "irc" => &Irc,
            "redis" => &Redis,
            _ => &Native,
        };
        let num = |s: &str| s.parse::<usize>().map_err(|_| format!("bad number {s}"));
        let mut spec = Spec::new(num(n)?, Duration::from_secs(num(timeout)? as u64));
        spec.first = num(first)?;
        spec.connect_batch = num(batch)?.max(1);
        spec.stall = Duration::from_secs(30);
        crate::net::raise_nofile();
        let mut e = Engine::new(proto, addr, spec).map_err(|e| e.to_string())?;
        e.connect()?;
        Ok(e)
    };
    match run() {
        Ok(e) => {
            println!("ok");
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            drop(e);
            ExitCode::SUCCESS
        }
        Err(err) => {
            println!("fail {err}");
            ExitCode::FAILURE
        }
    }
}

/// The results as one fixed-width table.
pub fn table(rows: &[Row], opts: &Opts, pinning: &str) -> String {
    let mut s = format!(
        "\nstress: {pinning}{}, snak = {}\n",
        if opts.smoke {
            "; smoke sizes: timings mean nothing"
        } else {
            ""
        },
        opts.snak.display()
    );
    let head = [
        "scenario",
        "target",
        "conns",
        "count",
        "secs",
        "rate/s",
        "per srv-cpu-s",
        "p50",
        "p99",
        "max",
        "srv cpu",
        "gen cpu",
        "other cpu",
        "srv rss/peak MiB",
        "notes",
        "result",
    ];
    let mut cells: Vec<Vec<String>> = vec![head.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let na = r.count == 0.0 && !r.ok;
        let per = if r.srv_cpu > 0.0 {
            si(r.per_cpu())
        } else {
            "-".into()
        };
        let (p50, p99, max) = match r.lat {
            Some((a, b, c)) if c > 0 => (dur(a), dur(b), dur(c)),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let dash = |v: String| {
            if na || r.count == 0.0 {
                "-".to_string()
            } else {
                v
            }
        };
        cells.push(vec![
            r.name.clone(),
            r.proto.clone(),
            r.conns.to_string(),
            dash(format!("{} {}", si(r.count), r.unit)),
            dash(format!("{:.2}", r.secs)),
            dash(si(r.rate())),
            dash(per),
            p50,
            p99,
            max,
            dash(format!("{:.3}s", r.srv_cpu)),
            dash(format!("{:.3}s", r.gen_cpu)),
            dash(format!("{:.2}s", r.other_cpu)),
            dash(format!(
                "{:.1}/{:.1}",
                r.rss_kib.0 as f64 / 1024.0,
                r.rss_kib.1 as f64 / 1024.0
            )),
            r.extra.clone(),
            if r.ok {
                r.result.clone()
            } else {
                "FAIL".into()
            },
        ]);
    }
    push_columns(&mut s, &cells);
    s
}

/// The CSV columns, one line per run.
const CSV_HEAD: &str = "who,scenario,run,ok,conns,count,secs,srv_cpu_s,gen_cpu_s,other_cpu_s,\
                        p50_ns,p99_ns,rss_kib,bytes_per_conn,load1";

/// Appends one run as a line of `CSV_HEAD` (written first if the file is new).
pub fn append_csv(path: &Path, r: &Row, run: usize) -> std::io::Result<()> {
    use std::io::Write;
    let fresh = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if fresh {
        writeln!(f, "{CSV_HEAD}")?;
    }
    let (p50, p99, _) = r.lat.unwrap_or((0, 0, 0));
    writeln!(
        f,
        "{},{},{},{},{},{:.0},{:.6},{:.6},{:.6},{:.3},{},{},{},{:.0},{:.2}",
        r.proto,
        r.name,
        run + 1,
        r.ok,
        r.conns,
        r.count,
        r.secs,
        r.srv_cpu,
        r.gen_cpu,
        r.other_cpu,
        p50,
        p99,
        r.rss_kib.0,
        r.per_conn,
        r.load
    )
}

/// One figure of the comparison: its name, whether more is better, and how it is read from a
/// run.
struct Figure {
    name: &'static str,
    more_is_better: bool,
    get: fn(&Rec) -> f64,
    show: fn(f64) -> String,
}

struct Rec {
    who: String,
    scenario: String,
    ok: bool,
    count: f64,
    secs: f64,
    srv: f64,
    gen: f64,
    p50: f64,
    p99: f64,
    per_conn: f64,
}

fn figures(scenario: &str) -> Vec<Figure> {
    let per = |r: &Rec| if r.srv > 0.0 { r.count / r.srv } else { 0.0 };
    let rate = |r: &Rec| if r.secs > 0.0 { r.count / r.secs } else { 0.0 };
    let gen_per = |r: &Rec| if r.gen > 0.0 { r.count / r.gen } else { 0.0 };
    let secs = |v: f64| format!("{v:.3}s");
    let ns = |v: f64| dur(v as u64);
    match scenario {
        "idle" | "idle19k" => vec![
            Figure {
                name: "server RSS bytes per connection",
                more_is_better: false,
                get: |r| r.per_conn,
                show: |v| format!("{v:.0} B"),
            },
            Figure {
                name: "server CPU to register them all",
                more_is_better: false,
                get: |r| r.srv,
                show: secs,
            },
            Figure {
                name: "generator CPU",
                more_is_better: false,
                get: |r| r.gen,
                show: secs,
            },
        ],
        "paced" => vec![
            Figure {
                name: "p99 latency",
                more_is_better: false,
                get: |r| r.p99,
                show: ns,
            },
            Figure {
                name: "p50 latency",
                more_is_better: false,
                get: |r| r.p50,
                show: ns,
            },
            Figure {
                name: "per server CPU-second",
                more_is_better: true,
                get: per,
                show: si,
            },
        ],
        _ => vec![
            Figure {
                name: "per server CPU-second",
                more_is_better: true,
                get: per,
                show: si,
            },
            Figure {
                name: "per second (wall)",
                more_is_better: true,
                get: rate,
                show: si,
            },
            Figure {
                name: "per generator CPU-second",
                more_is_better: true,
                get: gen_per,
                show: si,
            },
            Figure {
                name: "p99 latency (loaded)",
                more_is_better: false,
                get: |r| r.p99,
                show: ns,
            },
        ],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Per scenario and figure: each target's median over its runs, then snak's advantage over
/// each peer (greater than 1: snak is better, whichever way the figure goes).
pub fn compare(csv: &str) -> String {
    let recs: Vec<Rec> = csv
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (f.len() == 15 && f[0] != "who").then(|| Rec {
                who: f[0].to_string(),
                scenario: f[1].to_string(),
                ok: f[3] == "true",
                count: num(5),
                secs: num(6),
                srv: num(7),
                gen: num(8),
                p50: num(10),
                p99: num(11),
                per_conn: num(13),
            })
        })
        .collect();
    let mut whos: Vec<String> = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    for r in &recs {
        if !whos.contains(&r.who) {
            whos.push(r.who.clone());
        }
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario.clone());
        }
    }
    let snaks: Vec<&String> = whos.iter().filter(|w| w.starts_with("snak")).collect();
    let peers: Vec<&String> = whos.iter().filter(|w| !w.starts_with("snak")).collect();
    let mut out = String::from(
        "\nmedians per target (runs in brackets); ratio = snak's advantage (>1: snak better)\n",
    );
    let mut head = vec!["scenario".to_string(), "figure".to_string()];
    head.extend(whos.iter().cloned());
    for s in &snaks {
        for p in &peers {
            // snak-native against redis is the like-for-like pair of the native protocol.
            head.push(format!("{} vs {p}", s.trim_start_matches("snak-")));
        }
    }
    let mut cells = vec![head];
    for sc in &scenarios {
        let runs = |w: &str| -> Vec<&Rec> {
            recs.iter()
                .filter(|r| r.who == w && &r.scenario == sc)
                .collect()
        };
        for fig in figures(sc) {
            let med = |w: &str| -> Option<f64> {
                let rs = runs(w);
                if rs.is_empty() || rs.iter().any(|r| !r.ok) {
                    return None;
                }
                let v = median(rs.iter().map(|r| (fig.get)(r)).collect());
                (v > 0.0).then_some(v)
            };
            let mut line = vec![sc.clone(), fig.name.to_string()];
            for w in &whos {
                let rs = runs(w);
                line.push(match med(w) {
                    Some(v) => format!("{} [{}]", (fig.show)(v), rs.len()),
                    None if rs.iter().any(|r| !r.ok) => "FAIL".into(),
                    None if rs.is_empty() => "-".into(),
                    None => "n/a".into(),
                });
            }
            for s in &snaks {
                for p in &peers {
                    line.push(match (med(s), med(p)) {
                        (Some(a), Some(b)) if fig.more_is_better => format!("{:.2}x", a / b),
                        (Some(a), Some(b)) => format!("{:.2}x", b / a),
                        _ => "-".into(),
                    });
                }
            }
            cells.push(line);
        }
    }
    push_columns(&mut out, &cells);
    out
}

/// Appends `cells` (the first row being the header) as left-aligned columns.
fn push_columns(out: &mut String, cells: &[Vec<String>]) {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| cells.iter().map(|c| c[i].len()).max().unwrap_or(0))
        .collect();
    for c in cells {
        let line: Vec<String> = c
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
}
