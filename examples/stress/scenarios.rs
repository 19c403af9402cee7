//! What each scenario sets up and which figures it takes.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::daemon;
use crate::engine::{Engine, Group, Spec};
use crate::layer::{self, Transport};
use crate::proto::{Irc, IrcTags, Lobby, Native, Nats, Proto, Redis};
use crate::report::Row;
use crate::stats::dur;
use crate::Opts;

/// Connections one generator process holds at most; the rest go to worker processes, since the
/// open-file limit here is 20 000 per process. `STRESS_PER_PROCESS` lowers it (to test the
/// workers at small sizes).
fn per_process() -> usize {
    std::env::var("STRESS_PER_PROCESS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16_000usize)
        .clamp(1, 16_000)
}

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
    /// Senders; for joinpart, the clients that join and part.
    senders: usize,
    /// Messages per sender; for joinpart, join+part pairs per client.
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

/// Scenarios besides `ALL` and the group names.
const OTHERS: [&str; 10] = [
    "fanout",
    "pairs",
    "idle19k",
    "register19k",
    "storm5k",
    "storm10k",
    "storm19k",
    "joinpart1k",
    "joinpart10k",
    "amplify",
];

pub fn known(name: &str) -> bool {
    crate::ALL.contains(&name) || OTHERS.contains(&name)
}

/// Scenarios of many registered clients and no traffic (spread over processes past 16 000).
fn population(name: &str) -> bool {
    name.starts_with("idle") || name.starts_with("register") || name.starts_with("storm")
}

/// Where registration leaves the clients: register19k measures registration itself (native
/// users keep the server's guest nick in #lobby; IRC users join it); storm users take their
/// own nick again, as reconnecting clients do.
fn lobby(name: &str) -> Lobby {
    if name.starts_with("register") {
        Lobby::Guest
    } else if name.starts_with("storm") {
        Lobby::Named
    } else {
        Lobby::Out
    }
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
        // Registration into #lobby, 19 000 of them: native users keep their guest nick (a
        // `/nick` is announced to the whole lobby, quiet or not: see BENCHMARKS.md); IRC users
        // register and JOIN #lobby.
        ("register19k", false) => p.n = 19_000,
        ("register19k", true) => p.n = 60,
        // Reconnect storms: N users in #lobby quit and come back.
        ("storm", false) => p.n = 1000,
        ("storm", true) => p.n = 40,
        ("storm5k", false) => p.n = 5000,
        ("storm10k", false) => p.n = 10_000,
        ("storm19k", false) => p.n = 19_000,
        ("storm5k", true) => p.n = 40,
        ("storm10k", true) => p.n = 50,
        ("storm19k", true) => p.n = 60,
        // Join/part churn in a room of N: `senders` churners, `msgs` join+part pairs each.
        ("joinpart1k", false) => (p.n, p.senders, p.msgs, p.window) = (1000, 20, 500, 5),
        ("joinpart10k", false) => (p.n, p.senders, p.msgs, p.window) = (10_000, 20, 500, 5),
        ("joinpart1k", true) => (p.n, p.senders, p.msgs, p.window) = (30, 3, 10, 3),
        ("joinpart10k", true) => (p.n, p.senders, p.msgs, p.window) = (60, 3, 10, 3),
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
        // The kernel alone takes megabytes for a client that never reads (the server's send
        // buffer grows to tcp_wmem's maximum), so a slow client only reaches the server's own
        // queue limit after more than that: `msgs` is raised below to what this machine needs.
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
    if name == "slow" && o.msgs.is_none() {
        // Each slow client is sent more than the kernel can hold for it (a full send buffer
        // on the server's end, the small receive buffer on its own) plus its send queue, and
        // 1 MiB to spare, whatever this machine's buffer limits.
        let need = crate::net::tcp_send_buffer_max()
            + 2 * crate::engine::SLOW_RCVBUF as u64
            + p.max_sendq
            + (1 << 20);
        let line = p.pad as u64 + 64; // the padding, the payload's header and the framing
        p.msgs = p.msgs.max(need.div_ceil(line * p.senders as u64));
    }
    if name == "paced" && o.msgs.is_none() {
        // About 5 s of traffic (1 s for smoke) at the asked rate.
        let per_sender = p.rate / (p.n - 1) as f64 / p.senders as f64;
        p.msgs = ((per_sender * if smoke { 1.0 } else { 5.0 }) as u64).max(1);
    }
    p
}

/// The protocol the generator speaks to the chosen target.
fn proto_for(opts: &Opts) -> &'static dyn Proto {
    match opts.target.proto {
        "redis" => &Redis,
        "nats" => &Nats,
        "irc" if opts.target.tags => &IrcTags,
        "irc" => &Irc,
        _ => &Native,
    }
}

/// Why a scenario does not apply to the target, if it does not.
fn not_applicable(name: &str, opts: &Opts, proto: &dyn Proto) -> Option<&'static str> {
    let t = &opts.target;
    let chat = t.proto == "irc" || t.proto == "native";
    match name {
        "files" if !proto.files() || t.transport != Transport::Plain => {
            Some("n/a: these users cannot take files")
        }
        // The slow-consumer policy under test is snak's `--max-sendq`.
        "slow" if !t.is_snak() => Some("n/a: snak's sendq policy"),
        "amplify" if !chat || t.server == "ceiling" => Some("n/a: no room targets to repeat"),
        // A lobby of 19 000 that announces every arrival, or no part/quit at all.
        n if lobby(n) != Lobby::Out && !t.is_snak() => Some("n/a: snak's #lobby"),
        // Peers announce every join to every member: not the cost measured here.
        n if n.starts_with("joinpart") && !t.is_snak() => Some("n/a: snak's quiet rooms"),
        // TLS and WebSocket: the figures their issues ask for.
        "idle" | "fanout100" => None,
        _ if t.transport != Transport::Plain => Some("n/a: measured over plain TCP"),
        _ => None,
    }
}

pub fn run(opts: &Opts, name: &str, nofile: u64) -> Row {
    let proto = proto_for(opts);
    let mut row = Row::new(name, &opts.target.label, opts.target.kind());
    row.load = daemon::loadavg();
    if let Some(na) = not_applicable(name, opts, proto) {
        row.ok = true;
        row.result = na.into();
        return row;
    }
    let r = if name == "amplify" {
        crate::attack::amplify(opts, &mut row)
    } else {
        run_inner(opts, name, nofile, &mut row)
    };
    match r {
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
    layered(&mut spec, opts)?;
    row.conns = conns;
    let log = opts.out.join(format!("{}-{name}.log", opts.target.label));
    let (mut d, addr) = crate::peers::start(opts, snak_flags(name, &p, conns), conns, &log)?;
    let pid = d.pid();
    let mut held = Held {
        engine: None,
        workers: Vec::new(),
    };
    let r = if population(name) {
        idle(proto, addr, &p, opts, name, nofile, pid, row, &mut held)
    } else if name.starts_with("joinpart") {
        joinpart(proto, addr, spec, &p, pid, row, &mut held)
    } else {
        traffic(proto, addr, spec, name, &p, pid, row, &mut held)
    };
    // The server goes first, so TIME_WAIT stays on its side and the next scenario has ports.
    let stop = d.stop();
    drop(held.engine);
    for w in held.workers {
        w.finish();
    }
    let r = r.map_err(|e| format!("{e}; {} on stop: {stop}", opts.target.label));
    if r.is_ok() && opts.target.is_snak() && !stop.contains("exit status: 0") {
        return Err(format!("snak did not exit cleanly on SIGTERM: {stop}"));
    }
    r
}

/// TLS and WebSocket clients: the transport, and one TLS configuration for all of them.
fn layered(spec: &mut Spec, opts: &Opts) -> Result<(), String> {
    spec.transport = opts.target.transport;
    if spec.transport.is_tls() {
        spec.tls = Some(layer::client_config()?);
    }
    Ok(())
}

/// snak's flags for a scenario (the flood limit off: trusted load, as with the peers).
fn snak_flags(name: &str, p: &Params, conns: usize) -> Vec<String> {
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
    flags
}

/// Handshakes in flight at once for the target: ngircd accepts slowly and drops SYNs beyond a
/// short backlog; InspIRCd completes registrations about once a second, with a listen backlog
/// of 4096 (its `somaxconn`), so it gets more at once.
fn connect_batch(opts: &Opts, default: usize) -> usize {
    match opts.target.server {
        "ngircd" => 8,
        "inspircd" => 1000,
        _ => default,
    }
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
        n if population(n) => spec.n = p.n.min(per_process()),
        "joinpart1k" | "joinpart10k" => {
            // The room's members; the churners come after them, in no group.
            spec.groups.push(Group {
                room: Some("#big".into()),
                members: (0..p.n).collect(),
                senders: Vec::new(),
            });
            spec.n = p.n + p.senders;
        }
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
    let conns = if population(name) { p.n } else { spec.n };
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

/// `joinpart`: N members in `#big`, then the churners join and part it; server CPU for the
/// churn alone.
fn joinpart<'p>(
    proto: &'p dyn Proto,
    addr: SocketAddr,
    spec: Spec,
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
    let t = Instant::now();
    let churners: Vec<usize> = (p.n..p.n + p.senders).collect();
    let r = e.churn("#big", churners, p.msgs);
    row.secs = t.elapsed().as_secs_f64();
    row.srv_cpu = daemon::cpu_secs(pid) - s0;
    row.gen_cpu = daemon::self_cpu_secs() - g0;
    row.other_cpu = (daemon::machine_busy_secs() - m0 - row.srv_cpu - row.gen_cpu).max(0.0);
    row.rss_kib = daemon::mem_kib(pid);
    row.count = e.out.churned as f64;
    row.unit = "join+part";
    row.extra = format!(
        "room of {}; {:.2} us per join+part",
        p.n,
        row.srv_cpu / row.count.max(1.0) * 1e6
    );
    r?;
    e.verify()
}

/// `idle`, `register19k`, `storm*`: N clients connect and register (spread over processes
/// past 16 000). idle and register measure the registration and the memory it leaves; a
/// storm then has every client quit and come back, and measures that.
#[allow(clippy::too_many_arguments)]
fn idle<'p>(
    proto: &'p dyn Proto,
    addr: SocketAddr,
    p: &Params,
    opts: &Opts,
    name: &str,
    nofile: u64,
    pid: u32,
    row: &mut Row,
    held: &mut Held<'p>,
) -> Result<(), String> {
    let storm = name.starts_with("storm");
    let (rss0, _) = daemon::mem_kib(pid);
    let slab0 = daemon::slab_kib();
    let (s0, g0, m0) = (
        daemon::cpu_secs(pid),
        daemon::self_cpu_secs(),
        daemon::machine_busy_secs(),
    );
    let t = Instant::now();
    let here =
        p.n.min(per_process())
            .min(nofile.saturating_sub(100) as usize);
    // Workers take the rest, each its own share of nicks and source addresses. Together the
    // processes keep no more handshakes in flight than one process alone would.
    let processes = p.n.div_ceil(per_process()).max(1);
    let batch = (connect_batch(opts, Spec::new(0, opts.timeout).connect_batch) / processes).max(1);
    let mut first = here;
    while first < p.n {
        let k = (p.n - first).min(per_process());
        held.workers.push(Worker::spawn(
            addr,
            proto.name(),
            opts.target.transport,
            lobby(name),
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
    spec.lobby = lobby(name);
    layered(&mut spec, opts)?;
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
    let gen_cpu = |workers: &[Worker]| {
        daemon::self_cpu_secs()
            + workers
                .iter()
                .map(|w| daemon::cpu_secs(w.child.id()))
                .sum::<f64>()
    };
    row.srv_cpu = daemon::cpu_secs(pid) - s0;
    row.gen_cpu = gen_cpu(workers) - g0;
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
    if !storm {
        return e.verify();
    }
    // The storm: every client quits and reconnects, in every process at once.
    let (s0, g0, m0) = (
        daemon::cpu_secs(pid),
        gen_cpu(workers),
        daemon::machine_busy_secs(),
    );
    let t = Instant::now();
    for w in workers.iter_mut() {
        w.command("storm")?;
    }
    let r = e.storm();
    for w in workers.iter_mut() {
        w.wait_ready(opts.timeout)?;
    }
    r?;
    row.secs = t.elapsed().as_secs_f64();
    row.srv_cpu = daemon::cpu_secs(pid) - s0;
    row.gen_cpu = gen_cpu(workers) - g0;
    row.other_cpu = (daemon::machine_busy_secs() - m0 - row.srv_cpu - row.gen_cpu).max(0.0);
    row.rss_kib = daemon::mem_kib(pid);
    row.unit = "users";
    row.per_conn = 0.0;
    row.extra = format!(
        "{} users quit and came back; {:.2} us server CPU per user; {} workers",
        p.n,
        row.srv_cpu / p.n as f64 * 1e6,
        workers.len()
    );
    e.verify()
}

/// A child process (this program with `--worker-idle`) holding part of the clients.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        addr: SocketAddr,
        proto: &str,
        transport: Transport,
        lobby: Lobby,
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
                &format!("{transport:?}"),
                lobby.name(),
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
        let out = child.stdout.take().ok_or("no worker stdout")?;
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Worker {
            child,
            stdin,
            lines: rx,
        })
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) if l.starts_with("ok") => Ok(()),
            Ok(l) => Err(format!("worker: {l}")),
            Err(_) => Err("a worker did not report".into()),
        }
    }

    /// Tells the worker to do something (`storm`); it answers `ok` or `fail ...`.
    fn command(&mut self, what: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("worker stdin closed")?;
        writeln!(stdin, "{what}")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("worker: {e}"))
    }

    /// Closing its stdin tells the worker to exit.
    fn finish(mut self) {
        drop(self.stdin.take());
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

/// The worker side: `--worker-idle ADDR PROTO TRANSPORT MODE FIRST N BATCH TIMEOUT_S`. Prints
/// `ok` once its connections are registered, then holds them; a `storm` line on stdin runs a
/// storm (answered `ok` or `fail ...`); the end of stdin ends it.
pub fn worker_idle(args: &[String]) -> ExitCode {
    let run = || -> Result<Engine<'static>, String> {
        let [addr, proto, transport, mode, first, n, batch, timeout] = args else {
            return Err("bad worker arguments".into());
        };
        let addr: SocketAddr = addr.parse().map_err(|_| "bad address")?;
        let proto: &'static dyn Proto = match proto.as_str() {
            "irc" => &Irc,
            "redis" => &Redis,
            "nats" => &Nats,
            _ => &Native,
        };
        let num = |s: &str| s.parse::<usize>().map_err(|_| format!("bad number {s}"));
        let mut spec = Spec::new(num(n)?, Duration::from_secs(num(timeout)? as u64));
        spec.first = num(first)?;
        spec.connect_batch = num(batch)?.max(1);
        spec.stall = Duration::from_secs(30);
        spec.lobby = Lobby::from_name(mode);
        spec.transport = match transport.as_str() {
            "Tls" => Transport::Tls,
            "Ws" => Transport::Ws,
            "Wss" => Transport::Wss,
            _ => Transport::Plain,
        };
        if spec.transport.is_tls() {
            spec.tls = Some(layer::client_config()?);
        }
        crate::net::raise_nofile();
        let mut e = Engine::new(proto, addr, spec).map_err(|e| e.to_string())?;
        e.connect()?;
        Ok(e)
    };
    let mut e = match run() {
        Ok(e) => e,
        Err(err) => {
            println!("fail {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("ok");
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if line == "storm" {
            match e.storm() {
                Ok(()) => println!("ok"),
                Err(err) => println!("fail {err}"),
            }
        }
    }
    drop(e);
    ExitCode::SUCCESS
}
