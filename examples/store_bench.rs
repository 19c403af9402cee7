//! Store measurements (a benchmark, not a test): the sustained insert rate of history rows
//! through the handle with group commit, the loop-side cost of one write, the cost of
//! replaying 50 lines from the recent window, and the window's memory at 10 000 rooms x 50
//! lines.
//!
//! `cargo run --release --example store_bench -- [--rows N] [--rooms N] [--dir PATH]
//! [--sequential-ids]`
//! (defaults: 500 000 rows, 10 000 rooms, a fresh directory under the temp dir, removed
//! afterwards). Every phase is bounded in count and in time (60 s).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Poll, Token, Waker};
use snak::store::*;

/// Counts live heap bytes, to measure the window as the allocator sees it.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// A small deterministic generator, so every run measures the same lines.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn word(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| (b'a' + (self.next() % 26) as u8) as char)
            .collect()
    }
}

/// `--sequential-ids`: msgids that sort by time, as snak's do (a time-prefixed id). Since
/// history is kept in blocks there is no msgid index, so this changes only the bytes
/// stored; it mattered to schema 3's per-line msgid index.
fn sequential_ids() -> bool {
    std::env::args().any(|a| a == "--sequential-ids")
}

/// A line as chat has them: 16-character msgid, nicks of 4-12, hosts of 9-40, text of
/// 10-200 characters (mean about 100), an account on half, client tags on one in ten.
fn line(rng: &mut Rng, n: u64, rooms: usize) -> HistoryMessage {
    let room = format!("#room{}", n as usize % rooms);
    let nick_len = rng.range(4, 12);
    let nick = rng.word(nick_len);
    let text_len = rng.range(10, 200);
    let mut text = String::with_capacity(text_len);
    while text.len() < text_len {
        let w = rng.range(2, 9);
        text.push_str(&rng.word(w));
        text.push(' ');
    }
    let host_len = rng.range(4, 28);
    HistoryMessage {
        // 16 hex digits, as snak writes its msgids (which grow with the time they were made).
        msgid: if sequential_ids() {
            format!("{:016x}", (1_780_000_000_000u64 << 12) + n)
        } else {
            format!("{:016x}", rng.next().wrapping_mul(7).wrapping_add(n))
        },
        time: 1_780_000_000_000 + n as i64,
        sender: Sender {
            user: format!("~{}", &nick[..nick.len().min(8)]),
            host: format!("{}.example.net", rng.word(host_len)),
            account: n.is_multiple_of(2).then(|| nick.clone()),
            nick,
        },
        target: Target::Room(room.clone()),
        target_name: room,
        kind: MessageKind::Privmsg,
        text,
        tags: if n.is_multiple_of(10) {
            "+draft/reply=abc123".into()
        } else {
            String::new()
        },
    }
}

/// CPU time (user + system) of this process's thread named `name`, from /proc: a figure
/// that holds on a busy machine where wall time does not.
fn thread_cpu(name: &str) -> Duration {
    let tick = 1.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is the 3rd field; utime, stime 14, 15.
        let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        total += Duration::from_secs_f64(ticks * tick);
    }
    total
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn insert_rate(location: Location, rows: u64, rooms: usize, label: &str) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let config = StoreConfig::new(location);
    let (mut store, _) = open(&config, waker).unwrap();
    // Lines made beforehand: the rate is the store's, not the generator's.
    let mut rng = Rng(0x5eed);
    let lines: Vec<HistoryMessage> = (0..rows).map(|n| line(&mut rng, n, rooms)).collect();
    let started = Instant::now();
    let mut full = 0u64;
    let mut in_write = Duration::ZERO;
    for l in lines {
        let w = Write::Message(l);
        loop {
            // A refused write is gone (as it would be for the loop): retry with a copy made
            // outside the timed call.
            let attempt = w.clone();
            let t = Instant::now();
            let r = store.write(attempt);
            in_write += t.elapsed();
            match r {
                Ok(_) => break,
                Err(Refused::QueueFull) => {
                    // Back off as a loop would (it drops the write and goes on polling);
                    // spinning here would take the store thread's core on a small box.
                    full += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("{e:?}"),
            }
            assert!(started.elapsed() < PHASE_LIMIT, "insert phase over time");
        }
    }
    let queued = started.elapsed();
    assert!(
        wait_committed(&store, rows, PHASE_LIMIT),
        "{:?}",
        store.stats()
    );
    let elapsed = started.elapsed();
    let s = store.stats();
    let cpu = thread_cpu("snak-store");
    store.close();
    println!(
        "insert {label}: {rows} rows in {:.2} s = {:.0} rows/s sustained (queued in {:.2} s; \
         {} commits, last group {} rows committed in {:.1} ms; queue full {} times; \
         {:.0} ns in write() per row, retries included); store thread CPU {:.2} s = \
         {:.1} us per row, {:.0} rows per CPU-second",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        queued.as_secs_f64(),
        s.commits,
        s.last_group_rows,
        s.last_commit.as_secs_f64() * 1e3,
        full,
        in_write.as_nanos() as f64 / rows as f64,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / rows as f64,
        rows as f64 / cpu.as_secs_f64(),
    );
}

/// What the loop does: lines packed into batches of up to 1024 (one a pass) and handed over
/// with `write_lines`; a refused batch is retried, as the loop does not (it would drop it).
fn batch_rate(location: Location, rows: u64, rooms: usize, label: &str) {
    batch_rate_to(StoreConfig::new(location), rows, rooms, label)
}

fn batch_rate_to(config: StoreConfig, rows: u64, rooms: usize, label: &str) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let (mut store, _) = open(&config, waker).unwrap();
    let mut rng = Rng(0x5eed);
    let lines: Vec<HistoryMessage> = (0..rows).map(|n| line(&mut rng, n, rooms)).collect();
    let started = Instant::now();
    let (mut packing, mut handoff, mut full) = (Duration::ZERO, Duration::ZERO, 0u64);
    for chunk in lines.chunks(1024) {
        let t = Instant::now();
        let mut batch = LineBatch::new();
        for l in chunk {
            batch.push(&l.parts());
        }
        packing += t.elapsed();
        loop {
            let attempt = batch.clone();
            let t = Instant::now();
            let r = store.write_lines(attempt);
            let took = t.elapsed();
            match r {
                Ok(_) => {
                    handoff += took;
                    break;
                }
                Err(Refused::QueueFull) => {
                    full += 1;
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err(e) => panic!("{e:?}"),
            }
            assert!(started.elapsed() < PHASE_LIMIT, "batch phase over time");
        }
    }
    assert!(
        wait_committed(&store, rows, PHASE_LIMIT),
        "{:?}",
        store.stats()
    );
    let elapsed = started.elapsed();
    let cpu = thread_cpu("snak-store");
    store.close();
    println!(
        "insert {label}, batches of 1024 lines (the loop's way): {rows} rows in {:.2} s = {:.0} \
         rows/s sustained; on the loop's side {:.0} ns per row to pack, {:.0} ns to hand over \
         (refused {full} times); store thread CPU {:.2} s = {:.1} us per row, {:.0} rows per \
         CPU-second",
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64(),
        packing.as_nanos() as f64 / rows as f64,
        handoff.as_nanos() as f64 / rows as f64,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / rows as f64,
        rows as f64 / cpu.as_secs_f64(),
    );
}

/// The backend alone, on this thread: what SQLite costs per row, without the queue.
fn backend_rate(location: Location, rows: u64, label: &str) {
    use snak::store::backend::Backend;
    use snak::store::sqlite::{LoadOptions, SqliteBackend};
    let load = LoadOptions {
        recent_per_room: 0,
        recent_max_rows: 0,
        integrity: IntegrityCheck::None,
    };
    let (mut b, _) = SqliteBackend::open(&location, &load, 0).unwrap();
    let mut rng = Rng(0x5eed);
    let lines: Vec<Write> = (0..rows)
        .map(|n| Write::Message(line(&mut rng, n, 1000)))
        .collect();
    let started = Instant::now();
    for group in lines.chunks(10_000) {
        b.begin().unwrap();
        for w in group {
            b.apply(w).unwrap();
        }
        b.commit().unwrap();
    }
    let e = started.elapsed();
    println!(
        "backend alone ({label}, groups of 10 000, no queue): {rows} rows in {:.2} s = \
         {:.0} rows/s",
        e.as_secs_f64(),
        rows as f64 / e.as_secs_f64()
    );
}

fn window(rooms: usize, per_room: usize) {
    let mut rng = Rng(0xfeed);
    let lines: Vec<HistoryMessage> = (0..(rooms * per_room) as u64)
        .map(|n| line(&mut rng, n, rooms))
        .collect();
    let text_bytes: usize = lines
        .iter()
        .map(|m| {
            m.msgid.len()
                + m.sender.nick.len()
                + m.sender.user.len()
                + m.sender.host.len()
                + m.sender.account.as_ref().map_or(0, |a| a.len())
                + m.target_name.len()
                + m.text.len()
                + m.tags.len()
        })
        .sum();
    let before = LIVE.load(Ordering::Relaxed);
    let mut w = RecentWindow::new(per_room, usize::MAX);
    let started = Instant::now();
    for m in &lines {
        let Target::Room(key) = &m.target else {
            unreachable!()
        };
        w.push(key, m);
    }
    let fill = started.elapsed();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "window: {rooms} rooms x {per_room} lines = {} lines, {:.1} MB of field text; \
         heap {:.1} MB ({:.0} bytes per line), the window's own count {:.1} MB; \
         filled in {:.0} ms",
        w.lines(),
        text_bytes as f64 / 1e6,
        heap as f64 / 1e6,
        heap as f64 / w.lines() as f64,
        w.bytes() as f64 / 1e6,
        fill.as_secs_f64() * 1e3,
    );

    // Replay 50 lines on join with the server's own code: the window's lines as the codecs
    // take them, written as a chathistory batch with server-time and msgid (IRC) or as the
    // native block. (examples/history_bench.rs measures joins against the binary.)
    use snak::front::history::line_of_window;
    use snak::proto::history::{write_irc_history, write_native_block};
    use snak::proto::irc::caps;
    let replays = 100_000usize.min(rooms * 20);
    let irc = caps::BATCH | caps::SERVER_TIME | caps::MESSAGE_TAGS;
    let mut out = Vec::with_capacity(64 * 1024);
    for native in [false, true] {
        let started = Instant::now();
        let mut bytes = 0;
        for i in 0..replays {
            out.clear();
            let room = format!("#room{}", (i * 7919) % rooms);
            let lines: Vec<_> = w.recent(&room, 50).filter_map(line_of_window).collect();
            if native {
                write_native_block(&room, &lines, &mut out);
            } else {
                write_irc_history(&lines, &room, irc, "srv", "me", "R1", &mut out);
            }
            bytes += out.len();
            assert!(started.elapsed() < PHASE_LIMIT);
        }
        let per = started.elapsed() / replays as u32;
        println!(
            "replay ({}): 50 lines from the window in {:.1} us each, encoding included \
             ({replays} replays, {:.0} bytes each)",
            if native {
                "native block"
            } else {
                "IRC batch, server-time, msgid"
            },
            per.as_secs_f64() * 1e6,
            bytes as f64 / replays as f64
        );
    }
}

/// A start on the database just written: integrity check, migrations (none), rooms,
/// accounts and the latest 50 lines of each room.
fn reopen(dir: &std::path::Path) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let size = std::fs::metadata(dir.join("snak.db")).map_or(0, |m| m.len());
    let started = Instant::now();
    let (store, snapshot) = open(&StoreConfig::new(Location::Dir(dir.to_owned())), waker).unwrap();
    let took = started.elapsed();
    store.close();
    println!(
        "start: opened a {:.0} MB database (quick_check included) and loaded {} recent lines \
         in {:.0} ms",
        size as f64 / 1e6,
        snapshot.recent.len(),
        took.as_secs_f64() * 1e3
    );
}

/// What one password costs the hashing thread with the default parameters.
fn hashing() {
    use snak::auth::password::{self, HashParams};
    let n = 20;
    let started = Instant::now();
    let mut last = None;
    for i in 0..n {
        last = Some(password::hash(&HashParams::default(), &format!("password {i}")).unwrap());
    }
    let hash = started.elapsed() / n;
    let phc = last.unwrap().phc;
    let started = Instant::now();
    for _ in 0..n {
        assert!(!password::verify(&phc, "wrong"));
    }
    let verify = started.elapsed() / n;
    println!(
        "hashing (argon2id 19 MiB, 2 passes + PBKDF2 4096): register {:.1} ms, check {:.1} ms \
         = {:.0} PLAIN logins/s per hashing thread",
        hash.as_secs_f64() * 1e3,
        verify.as_secs_f64() * 1e3,
        1.0 / verify.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = arg(&args, "--rows").map_or(500_000, |v| v.parse().unwrap());
    let rooms: usize = arg(&args, "--rooms").map_or(10_000, |v| v.parse().unwrap());
    let (dir, temporary) = match arg(&args, "--dir") {
        Some(d) => (std::path::PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("snak-store-bench-{}", std::process::id())),
            true,
        ),
    };
    println!(
        "size_of::<Write>() = {} bytes",
        std::mem::size_of::<Write>()
    );
    let disk = "to disk (WAL, synchronous=FULL)";
    // `--store-url URL`: the loop's way into that PostgreSQL database (an empty one: the
    // lines stay), beside SQLite's, and nothing else.
    if let Some(url) = arg(&args, "--store-url") {
        let mut config = StoreConfig::new(Location::Memory);
        config.shared = Some(url.clone());
        batch_rate_to(
            config,
            rows,
            1000,
            &format!("into {}", snak::store::pg::shown_url(&url)),
        );
        batch_rate(Location::Dir(dir.join("batches")), rows, 1000, disk);
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return;
    }
    backend_rate(Location::Dir(dir.join("alone")), rows, disk);
    backend_rate(Location::Memory, rows, "in memory");
    insert_rate(Location::Dir(dir.join("handle")), rows, 1000, disk);
    batch_rate(Location::Dir(dir.join("batches")), rows, 1000, disk);
    reopen(&dir.join("handle"));
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    insert_rate(Location::Memory, rows, 1000, "in memory (--data-dir none)");
    window(rooms, 50);
    hashing();
}
