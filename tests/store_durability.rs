//! What a kill -9 and a SIGTERM cost the store, for real: a child process (this same test
//! binary, in a child role) writes history through the store's handle and reports what is
//! acknowledged (`committed`); the parent kills it mid-stream, reopens the data directory and
//! counts what survived against what was acknowledged.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Poll, Token, Waker};
use snak::auth::password::HashParams;
use snak::store::*;

const ROLE: &str = "SNAK_STORE_CHILD_ROLE";
const DIR: &str = "SNAK_STORE_CHILD_DIR";
/// The child stops by itself after this long or this many writes, killed or not.
const CHILD_LIMIT: Duration = Duration::from_secs(60);
const CHILD_MAX_WRITES: u64 = 20_000_000;
const WAIT: Duration = Duration::from_secs(60);

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(Location::Dir(dir.to_owned()));
    c.hash = HashParams::cheap();
    c
}

fn message(n: u64) -> HistoryMessage {
    HistoryMessage {
        msgid: format!("msg{n}"),
        time: n as i64,
        sender: Sender {
            nick: "writer".into(),
            user: "w".into(),
            host: "127.0.0.1".into(),
            account: None,
        },
        target: Target::Room(format!("#room{}", n % 100)),
        target_name: format!("#Room{}", n % 100),
        kind: MessageKind::Privmsg,
        text: format!("message number {n}, with some words after it as chat has"),
        tags: String::new(),
    }
}

/// The paced child's rate: what a busy server's history looks like, well within what the
/// store commits (so the queue stays short and a kill costs about one window).
const PACED_PER_SECOND: u64 = 20_000;

/// The child: writes 0, 1, 2, ... in order (waiting when the queue is full, so what is stored
/// must be a prefix), printing `acked A submitted S` whenever `committed` moves. `paced`
/// children write at [`PACED_PER_SECOND`]; the others as fast as the queue takes them.
fn child(role: &str, dir: &Path) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let (mut store, _) = open(&config(dir), waker).unwrap();
    let term = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&term)).unwrap();
    let started = Instant::now();
    let mut n = 0;
    let mut acked = 0;
    let paced = role.contains("paced");
    while n < CHILD_MAX_WRITES && started.elapsed() < CHILD_LIMIT {
        if role == "term" && term.load(Ordering::Relaxed) {
            let r = store.close();
            println!(
                "closed submitted {} committed {} dropped {}",
                r.submitted, r.committed, r.dropped
            );
            return;
        }
        if paced && n >= started.elapsed().as_micros() as u64 * PACED_PER_SECOND / 1_000_000 {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        }
        match store.write(Write::Message(message(n))) {
            Ok(_) => n += 1,
            Err(Refused::QueueFull) => std::thread::sleep(Duration::from_micros(200)),
            Err(e) => panic!("{e:?}"),
        }
        let now = store.committed();
        if now != acked {
            acked = now;
            println!("acked {acked} submitted {}", store.submitted());
        }
    }
    println!("child gave up waiting to be stopped");
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp(tag: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("snak-durability-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    TempDir(p)
}

/// Reopens through the store (recovering the WAL as snak would at start), then counts the
/// lines in their blocks and the newest line's time.
fn survivors(dir: &Path) -> (u64, i64) {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    let (store, _) = open(&config(dir), waker).unwrap();
    store.close();
    let c = rusqlite::Connection::open(dir.join("snak.db")).unwrap();
    c.query_row(
        "SELECT COALESCE(SUM(lines), 0), COALESCE(MAX(last_ms), -1) FROM history_blocks",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
    )
    .unwrap()
}

struct Parent {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Parent {
    fn spawn(test: &str, role: &str, dir: &Path) -> Parent {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(DIR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Parent { child, lines }
    }

    /// Reads `acked A submitted S` lines until A reaches `at_least`; returns the last pair.
    fn acked(&mut self, at_least: u64) -> (u64, u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(
                Instant::now() < deadline,
                "the child never acknowledged {at_least}"
            );
            let line = self
                .lines
                .next()
                .expect("the child's output ended")
                .unwrap();
            let words: Vec<&str> = line.split(' ').collect();
            if let ["acked", a, "submitted", s] = words[..] {
                let (a, s) = (a.parse().unwrap(), s.parse().unwrap());
                if a >= at_least {
                    return (a, s);
                }
            }
        }
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills a writer with SIGKILL once `at_least` writes are acknowledged; checks that every
/// acknowledged write survived and that what survived is a prefix; returns (acknowledged at
/// the last report, submitted at the last report, survived).
fn kill9(test: &str, role: &str, tag: &str, at_least: u64) -> (u64, u64, u64) {
    let dir = temp(tag);
    let mut p = Parent::spawn(test, role, &dir.0);
    let (acked, submitted) = p.acked(at_least);
    p.child.kill().unwrap(); // SIGKILL
    assert!(!p.child.wait().unwrap().success());
    let (rows, max) = survivors(&dir.0);
    eprintln!(
        "kill -9 ({role}): acknowledged {acked}, submitted {submitted} at the last report, \
         survived {rows}: lost at least {} of what was submitted",
        submitted.saturating_sub(rows)
    );
    assert!(
        rows >= acked,
        "acknowledged writes were lost: {rows} < {acked}"
    );
    assert_eq!(
        max + 1,
        rows as i64,
        "what survived is not a prefix of what was written"
    );
    (acked, submitted, rows)
}

#[test]
fn kill9_at_a_steady_rate_loses_only_the_unacknowledged() {
    if let (Ok(role), Some(dir)) = (std::env::var(ROLE), std::env::var_os(DIR)) {
        return child(&role, Path::new(&dir));
    }
    kill9(
        "kill9_at_a_steady_rate_loses_only_the_unacknowledged",
        "kill9-paced",
        "paced",
        20_000,
    );
}

#[test]
fn kill9_under_a_flood_loses_only_the_unacknowledged() {
    if let (Ok(role), Some(dir)) = (std::env::var(ROLE), std::env::var_os(DIR)) {
        return child(&role, Path::new(&dir));
    }
    kill9(
        "kill9_under_a_flood_loses_only_the_unacknowledged",
        "kill9-flood",
        "flood",
        50_000,
    );
}

#[test]
fn sigterm_loses_nothing() {
    if let (Ok(role), Some(dir)) = (std::env::var(ROLE), std::env::var_os(DIR)) {
        return child(&role, Path::new(&dir));
    }
    let dir = temp("term");
    let mut p = Parent::spawn("sigterm_loses_nothing", "term", &dir.0);
    p.acked(20_000);
    // SAFETY: a signal to the child we started, by its pid.
    assert_eq!(unsafe { libc::kill(p.child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + WAIT;
    let closed = loop {
        assert!(Instant::now() < deadline, "the child did not close");
        let line = p.lines.next().expect("the child's output ended").unwrap();
        if line.starts_with("closed ") {
            break line;
        }
    };
    assert!(p.child.wait().unwrap().success());
    let words: Vec<&str> = closed.split(' ').collect();
    let ["closed", "submitted", s, "committed", c, "dropped", "0"] = words[..] else {
        panic!("{closed}");
    };
    let (submitted, committed): (u64, u64) = (s.parse().unwrap(), c.parse().unwrap());
    assert_eq!(submitted, committed);
    let (rows, max) = survivors(&dir.0);
    eprintln!("SIGTERM: submitted {submitted}, survived {rows}");
    assert_eq!(rows, submitted);
    assert_eq!(max + 1, rows as i64);
}
