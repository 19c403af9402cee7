//! The store through its handle, with its threads and real files: restart, group commit,
//! queue full, close, a disk that fills up and frees again, open errors, accounts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use super::worker::Request;
use super::*;
use crate::auth::password::HashParams;
use crate::auth::sasl::{Exchange, Step};

const WAIT: Duration = Duration::from_secs(30);

/// A path under the temp dir, removed (with anything the test made there) on drop.
pub(crate) struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "snak-store-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .args(["-i", &self.0.to_string_lossy()])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o700));
        let _ = fs::remove_dir_all(&self.0);
        let _ = fs::remove_file(&self.0);
    }
}

/// A test that cannot run says so, and never passes silently (see the test-results brief).
pub(crate) fn skip(test: &str, reason: &str) {
    match std::env::var_os("SNAK_RESULTS_DIR") {
        Some(dir) => {
            use std::io::Write as _;
            let _ = fs::create_dir_all(&dir);
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(Path::new(&dir).join("rust-skips.txt"))
                .expect("the results directory is writable");
            let _ = writeln!(f, "{test}: {reason}");
        }
        None => panic!("{test} cannot run: {reason}"),
    }
}

struct Loop {
    poll: Poll,
    waker: Arc<Waker>,
    events: Events,
}

fn new_loop() -> Loop {
    let poll = Poll::new().unwrap();
    let waker = Arc::new(Waker::new(poll.registry(), Token(0)).unwrap());
    Loop {
        poll,
        waker,
        events: Events::with_capacity(4),
    }
}

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(Location::Dir(dir.to_owned()));
    c.hash = HashParams::cheap();
    c
}

fn open_at(c: &StoreConfig, lp: &Loop) -> (StoreHandle, Snapshot) {
    match open(c, Arc::clone(&lp.waker)) {
        Ok(x) => x,
        Err(e) => panic!("open failed: {e}"),
    }
}

/// Waits, as the loop would (on the waker), for the reply to `id`.
fn reply(h: &StoreHandle, lp: &mut Loop, id: u64) -> CallResult {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(r) = h.next_result() {
            assert_eq!(r.id, id, "a reply for another call");
            return r.result;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no reply to call {id}");
        lp.poll.poll(&mut lp.events, Some(left)).unwrap();
    }
}

fn call(h: &mut StoreHandle, lp: &mut Loop, id: u64, c: Call) -> CallResult {
    h.call(id, c).unwrap();
    reply(h, lp, id)
}

fn msg(room: &str, i: usize, text: &str) -> HistoryMessage {
    HistoryMessage {
        msgid: format!("m{i}"),
        time: 1_000 + i as i64,
        sender: Sender {
            nick: "alice".into(),
            user: "a".into(),
            host: "127.0.0.1".into(),
            account: None,
        },
        target: Target::Room(room.into()),
        target_name: room.into(),
        kind: MessageKind::Privmsg,
        text: text.into(),
        tags: String::new(),
    }
}

/// History lines on disk (in their blocks).
fn count_rows(db: &Path) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT COALESCE(SUM(lines), 0) FROM history_blocks",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn latest(h: &mut StoreHandle, lp: &mut Loop, id: u64, room: &str) -> Vec<HistoryMessage> {
    match call(
        h,
        lp,
        id,
        Call::History(HistoryQuery {
            conversation: Conversation::Room(room.into()),
            selector: Selector::Latest(None),
            limit: 1000,
        }),
    ) {
        CallResult::History(Ok(v)) => v,
        other => panic!("{other:?}"),
    }
}

fn register(h: &mut StoreHandle, lp: &mut Loop, id: u64, name: &str, pw: &str) -> CallResult {
    call(
        h,
        lp,
        id,
        Call::Register {
            key: name.to_lowercase(),
            name: name.into(),
            password: pw.into(),
            email: None,
            now: 7,
        },
    )
}

fn login(h: &mut StoreHandle, lp: &mut Loop, id: u64, key: &str, pw: &str) -> CallResult {
    call(
        h,
        lp,
        id,
        Call::Login {
            key: key.into(),
            password: pw.into(),
        },
    )
}

fn room_record() -> RoomRecord {
    RoomRecord {
        key: "#snak".into(),
        name: "#Snak".into(),
        founder: "alice".into(),
        registered: 1,
        topic: Some(Topic {
            text: "velkommen".into(),
            set_by: "alice!a@h".into(),
            set_at: 2,
        }),
        modes: RoomModes {
            flags: "nt".into(),
            key: None,
            limit: None,
        },
        ops: vec!["alice".into()],
        voices: vec![],
        bans: vec![],
    }
}

#[test]
fn a_restart_keeps_accounts_rooms_and_history() {
    let dir = TempPath::new("restart");
    let mut lp = new_loop();
    let c = config(&dir.0);
    {
        let (mut h, snap) = open_at(&c, &lp);
        assert_eq!(snap, Snapshot::default());
        assert!(matches!(
            register(&mut h, &mut lp, 1, "Alice", "sesame"),
            CallResult::Register(Ok(_))
        ));
        h.write(Write::RoomRegister(room_record())).unwrap();
        for i in 0..60 {
            h.write(Write::Message(msg("#snak", i, "hej"))).unwrap();
        }
        let report = h.close();
        assert_eq!(
            (report.submitted, report.committed, report.dropped),
            (61, 61, 0)
        );
    }
    let (mut h, snap) = open_at(&c, &lp);
    assert_eq!(snap.rooms, vec![room_record()]);
    assert_eq!(
        snap.accounts,
        vec![AccountName {
            key: "alice".into(),
            name: "Alice".into()
        }]
    );
    let want: Vec<_> = (10..60).map(|i| msg("#snak", i, "hej")).collect();
    assert_eq!(
        snap.recent, want,
        "the last 50 lines of the room, oldest first"
    );
    assert!(matches!(
        login(&mut h, &mut lp, 2, "alice", "sesame"),
        CallResult::Login(Ok(_))
    ));
    assert_eq!(latest(&mut h, &mut lp, 3, "#snak").len(), 60);
}

#[test]
fn modes_of_a_new_data_directory() {
    let dir = TempPath::new("modes");
    let lp = new_loop();
    let (h, _) = open_at(&config(&dir.0.join("nested")), &lp);
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.0.join("nested")), 0o700);
    assert_eq!(mode(&dir.0.join("nested/snak.db")), 0o600);
    drop(h);
}

#[test]
fn a_group_commits_at_its_row_bound() {
    let dir = TempPath::new("rows");
    let lp = new_loop();
    let mut c = config(&dir.0);
    c.group_window = Duration::from_secs(3600);
    c.group_rows = 100;
    let (mut h, _) = open_at(&c, &lp);
    for i in 0..1000 {
        h.write(Write::Message(msg("#r", i, "x"))).unwrap();
    }
    assert!(wait_committed(&h, 1000, WAIT));
    let s = h.stats();
    assert_eq!(
        (s.commits, s.rows_written, s.last_group_rows),
        (10, 1000, 100)
    );
    // A partial group waits for its window (an hour here) or close().
    h.write(Write::Message(msg("#r", 1000, "x"))).unwrap();
    assert_eq!(h.close().committed, 1001);
}

#[test]
fn a_group_commits_at_its_time_bound() {
    let dir = TempPath::new("window");
    let lp = new_loop();
    let mut c = config(&dir.0);
    c.group_window = Duration::from_millis(50);
    let (mut h, _) = open_at(&c, &lp);
    let started = Instant::now();
    h.write(Write::Message(msg("#r", 0, "x"))).unwrap();
    assert!(
        wait_committed(&h, 1, WAIT),
        "the window commits a lone write"
    );
    for i in 1..2000 {
        h.write(Write::Message(msg("#r", i, "x"))).unwrap();
    }
    assert!(wait_committed(&h, 2000, WAIT));
    // Groups, not a commit per write: at most one per window elapsed, plus the edges.
    let windows = started.elapsed().as_millis() as u64 / 50;
    assert!(
        h.stats().commits <= windows + 2,
        "{:?} in {windows} windows",
        h.stats()
    );
}

#[test]
fn a_full_queue_refuses_and_everything_accepted_is_kept() {
    let dir = TempPath::new("full");
    let lp = new_loop();
    let mut c = config(&dir.0);
    c.queue_capacity = 8;
    let (mut h, _) = open_at(&c, &lp);
    let (arrived_tx, arrived) = sync_channel(1);
    let (release, release_rx) = sync_channel(1);
    h.send_test(Request::Pause {
        arrived: arrived_tx,
        release: release_rx,
    })
    .unwrap();
    arrived.recv_timeout(WAIT).unwrap();
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..20 {
        match h.write(Write::Message(msg("#r", i, "x"))) {
            Ok(_) => accepted += 1,
            Err(Refused::QueueFull) => refused += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((accepted, refused), (8, 12));
    let s = h.stats();
    assert_eq!((s.queue_depth, s.refused), (8, 12));
    release.send(()).unwrap();
    assert!(wait_committed(&h, 8, WAIT));
    assert_eq!(h.stats().queue_depth, 0);
    let report = h.close();
    assert_eq!((report.committed, report.refused), (8, 12));
    assert_eq!(count_rows(&dir.0.join("snak.db")), 8);
}

#[test]
fn a_batch_is_many_writes_in_one_handoff() {
    let dir = TempPath::new("batch");
    let mut lp = new_loop();
    let mut c = config(&dir.0);
    c.queue_capacity = 2;
    let (mut h, _) = open_at(&c, &lp);
    let batch = |from: usize| {
        let mut b = LineBatch::new();
        for i in from..from + 100 {
            b.push(&msg("#r", i, "x").parts());
        }
        b
    };
    assert_eq!(h.write_lines(LineBatch::new()), Ok(0));
    assert_eq!(h.write_lines(batch(0)), Ok(100));
    assert_eq!(h.write(Write::Message(msg("#r", 100, "one more"))), Ok(101));
    assert!(wait_committed(&h, 101, WAIT));
    let got = latest(&mut h, &mut lp, 1, "#r");
    assert_eq!(got.len(), 101);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, m)| m.msgid == format!("m{i}")));
    // Refused whole when the queue is full, each write counted.
    let (arrived_tx, arrived) = sync_channel(1);
    let (release, release_rx) = sync_channel(1);
    h.send_test(Request::Pause {
        arrived: arrived_tx,
        release: release_rx,
    })
    .unwrap();
    arrived.recv_timeout(WAIT).unwrap();
    h.write_lines(batch(200)).unwrap();
    h.write_lines(batch(300)).unwrap();
    assert_eq!(h.write_lines(batch(400)), Err(Refused::QueueFull));
    assert_eq!(h.stats().refused, 100);
    release.send(()).unwrap();
    let report = h.close();
    assert_eq!(
        (report.submitted, report.committed, report.refused),
        (301, 301, 100)
    );
    assert_eq!(count_rows(&dir.0.join("snak.db")), 301);
}

#[test]
fn batches_wait_for_no_more_writes_than_the_queue_holds() {
    let lp = new_loop();
    let mut c = StoreConfig::new(Location::Memory);
    (c.queue_capacity, c.group_rows) = (4, 100);
    let (mut h, _) = open_at(&c, &lp);
    let (arrived_tx, arrived) = sync_channel(1);
    let (release, release_rx) = sync_channel(1);
    h.send_test(Request::Pause {
        arrived: arrived_tx,
        release: release_rx,
    })
    .unwrap();
    arrived.recv_timeout(WAIT).unwrap();
    let batch = |n: usize| {
        let mut b = LineBatch::new();
        for i in 0..n {
            b.push(&msg("#r", i, "x").parts());
        }
        b
    };
    // One request in a queue of four, but 104 writes are all that may wait.
    assert_eq!(h.write_lines(batch(100)), Ok(100));
    assert_eq!(h.write_lines(batch(10)), Err(Refused::QueueFull));
    assert_eq!(h.write_lines(batch(4)), Ok(104));
    assert_eq!(h.stats().refused, 10);
    release.send(()).unwrap();
    assert!(wait_committed(&h, 104, WAIT));
    assert_eq!(h.write_lines(batch(10)), Ok(114));
}

#[test]
fn close_drains_and_commits_everything() {
    let dir = TempPath::new("close");
    let lp = new_loop();
    let mut c = config(&dir.0);
    c.group_window = Duration::from_secs(3600);
    c.group_rows = 1_000_000;
    let (mut h, _) = open_at(&c, &lp);
    for i in 0..5000 {
        h.write(Write::Message(msg("#r", i, "x"))).unwrap();
    }
    assert_eq!(h.stats().commits, 0);
    let report = h.close();
    assert_eq!(
        (report.submitted, report.committed, report.dropped),
        (5000, 5000, 0)
    );
    assert_eq!(count_rows(&dir.0.join("snak.db")), 5000);
}

#[test]
fn reads_see_writes_not_yet_committed() {
    let lp = new_loop();
    let mut lp = lp;
    let mut c = StoreConfig::new(Location::Memory);
    c.group_window = Duration::from_secs(3600);
    let (mut h, _) = open_at(&c, &lp);
    h.write(Write::Message(msg("#r", 0, "fresh"))).unwrap();
    assert_eq!(
        latest(&mut h, &mut lp, 1, "#r"),
        vec![msg("#r", 0, "fresh")]
    );
    assert_eq!(h.committed(), 0);
}

#[test]
fn a_full_disk_keeps_chat_going_and_writes_resume() {
    let dir = TempPath::new("diskfull");
    let mut lp = new_loop();
    let mut c = config(&dir.0);
    c.group_window = Duration::from_millis(20);
    c.retain_on_failure = 300;
    let (mut h, _) = open_at(&c, &lp);
    for i in 0..10 {
        h.write(Write::Message(msg("#r", i, "before"))).unwrap();
    }
    assert!(wait_committed(&h, 10, WAIT));
    // The database may not grow: as a full disk looks to SQLite.
    h.send_test(Request::Sql("PRAGMA max_page_count = 1".into()))
        .unwrap();
    let big = "x".repeat(4000);
    let mut i = 10;
    let deadline = Instant::now() + WAIT;
    while !h.stats().failing {
        assert!(
            Instant::now() < deadline,
            "the disk never filled: {:?}",
            h.stats()
        );
        h.write(Write::Message(msg("#r", i, &big))).unwrap();
        i += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    // Chat goes on: writes are still accepted, reads answer, changes are refused politely.
    for _ in 0..500 {
        h.write(Write::Message(msg("#r", i, "during"))).unwrap();
        i += 1;
    }
    assert_eq!(
        register(&mut h, &mut lp, 1, "bob", "pw"),
        CallResult::Register(Err(AccountError::Unavailable))
    );
    let before = latest(&mut h, &mut lp, 2, "#r");
    assert!(before.len() >= 10);
    let s = h.stats();
    assert!(s.failing && s.failures >= 1 && s.retained <= 300, "{s:?}");
    // Room again: the kept writes go in, the rest were dropped and counted.
    h.send_test(Request::Sql("PRAGMA max_page_count = 1073741823".into()))
        .unwrap();
    let submitted = h.submitted();
    assert!(wait_committed(&h, submitted, WAIT), "{:?}", h.stats());
    let s = h.stats();
    assert!(!s.failing && s.dropped > 0 && s.retained == 0, "{s:?}");
    let report = h.close();
    let rows = count_rows(&dir.0.join("snak.db"));
    assert_eq!(rows as u64, report.submitted - report.dropped, "{report:?}");
}

#[test]
fn a_locked_directory_names_the_other_snak() {
    let dir = TempPath::new("locked");
    let lp = new_loop();
    let c = config(&dir.0);
    let (h, _) = open_at(&c, &lp);
    let err = open(&c, Arc::clone(&lp.waker)).err().unwrap();
    assert_eq!(
        err,
        OpenError::Locked {
            path: dir.0.clone(),
            holder: Some(std::process::id())
        }
    );
    assert!(
        err.to_string().contains("in use by another snak (pid"),
        "{err}"
    );
    drop(h);
    // Released at close. Another test of this process that forks a child at that moment
    // shares the lock's open file until the child's exec closes it: wait for that, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open(&c, Arc::clone(&lp.waker)) {
            Ok((h, _)) => break drop(h),
            Err(OpenError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => panic!("open after close failed: {e}"),
        }
    }
}

fn open_err(c: &StoreConfig) -> OpenError {
    let lp = new_loop();
    match open(c, Arc::clone(&lp.waker)) {
        Ok(_) => panic!("opened"),
        Err(e) => e,
    }
}

#[test]
fn a_data_dir_that_is_a_file_or_under_one() {
    let file = TempPath::new("isfile");
    fs::write(&file.0, b"x").unwrap();
    let e = open_err(&config(&file.0));
    assert!(matches!(e, OpenError::DataDir { .. }), "{e}");
    assert!(e.to_string().ends_with("it is not a directory"), "{e}");
    let e = open_err(&config(&file.0.join("sub")));
    assert!(
        e.to_string().ends_with("a parent of it is not a directory"),
        "{e}"
    );
}

/// Read-only as root too: permission bits do not stop root, the immutable attribute does.
#[test]
fn a_read_only_data_dir() {
    let dir = TempPath::new("readonly");
    fs::create_dir(&dir.0).unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let ok = std::process::Command::new("chattr")
            .args(["+i", &dir.0.to_string_lossy()])
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return skip(
                "store::tests::a_read_only_data_dir",
                "running as root and `chattr +i` is unavailable on this file system",
            );
        }
    } else {
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o500)).unwrap();
    }
    let e = open_err(&config(&dir.0));
    assert!(matches!(e, OpenError::DataDir { .. }), "{e}");
    assert!(e.to_string().contains("is not writable"), "{e}");
}

#[test]
fn a_file_that_is_not_a_database() {
    let dir = TempPath::new("garbage");
    fs::create_dir(&dir.0).unwrap();
    fs::write(dir.0.join("snak.db"), vec![0x5a; 10_000]).unwrap();
    let e = open_err(&config(&dir.0));
    assert!(matches!(e, OpenError::Corrupt { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("is corrupt (the file is not a database)"),
        "{e}"
    );
}

#[test]
fn a_damaged_database() {
    let dir = TempPath::new("damaged");
    let lp = new_loop();
    let c = config(&dir.0);
    let (mut h, _) = open_at(&c, &lp);
    for i in 0..3000 {
        h.write(Write::Message(msg("#r", i, "some text to fill pages")))
            .unwrap();
    }
    h.close();
    let db = dir.0.join("snak.db");
    let mut bytes = fs::read(&db).unwrap();
    // The header's page size (big-endian at offset 16; 1 means 65 536).
    let page = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65536,
        n => usize::from(n),
    };
    assert!(
        bytes.len() >= 4 * page,
        "{} bytes of {page}-byte pages",
        bytes.len()
    );
    // Scribble over whole pages past the first (page 1, the header and schema, stays intact).
    for b in &mut bytes[page..3 * page] {
        *b = 0xa5;
    }
    fs::write(&db, bytes).unwrap();
    let e = open_err(&c);
    assert!(matches!(e, OpenError::Corrupt { .. }), "{e}");
}

#[test]
fn another_programs_database_and_a_newer_snaks() {
    let dir = TempPath::new("foreign");
    fs::create_dir(&dir.0).unwrap();
    let db = dir.0.join("snak.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE moz_places (id INTEGER)")
        .unwrap();
    let e = open_err(&config(&dir.0));
    assert!(matches!(e, OpenError::NotSnak { .. }), "{e}");

    let dir = TempPath::new("newer");
    let lp = new_loop();
    drop(open_at(&config(&dir.0), &lp));
    rusqlite::Connection::open(dir.0.join("snak.db"))
        .unwrap()
        .execute_batch("INSERT INTO schema_version VALUES (99, 0)")
        .unwrap();
    let e = open_err(&config(&dir.0));
    assert!(matches!(e, OpenError::TooNew { found: 99, .. }), "{e}");
}

#[test]
fn accounts_through_the_threads() {
    let mut lp = new_loop();
    let mut c = StoreConfig::new(Location::Memory);
    c.hash = HashParams::cheap();
    let (mut h, _) = open_at(&c, &lp);
    let alice = AccountName {
        key: "alice".into(),
        name: "Alice".into(),
    };
    assert_eq!(
        register(&mut h, &mut lp, 1, "Alice", "sesame"),
        CallResult::Register(Ok(alice.clone()))
    );
    assert_eq!(
        register(&mut h, &mut lp, 2, "ALICE", "other"),
        CallResult::Register(Err(AccountError::Taken))
    );
    assert!(matches!(
        register(&mut h, &mut lp, 3, "bad", "a\u{7}b"),
        CallResult::Register(Err(AccountError::InvalidPassword(_)))
    ));
    assert_eq!(
        login(&mut h, &mut lp, 4, "alice", "sesame"),
        CallResult::Login(Ok(alice.clone()))
    );
    assert_eq!(
        login(&mut h, &mut lp, 5, "alice", "millet"),
        CallResult::Login(Err(AccountError::BadPassword))
    );
    assert_eq!(
        login(&mut h, &mut lp, 6, "nobody", "x"),
        CallResult::Login(Err(AccountError::NoSuchAccount))
    );

    // SCRAM with what the store keeps, without the password.
    let CallResult::Scram(Ok((name, creds))) = call(
        &mut h,
        &mut lp,
        7,
        Call::Scram {
            key: "alice".into(),
        },
    ) else {
        panic!("no SCRAM credentials")
    };
    assert_eq!(name, alice);
    let (mut ex, _) = Exchange::start("SCRAM-SHA-256").unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let bare = "n=Alice,r=abc";
    assert!(matches!(
        ex.receive(&b64.encode(format!("n,,{bare}"))),
        Step::LookupScram { .. }
    ));
    let Step::Send(first) = ex.scram_credentials(Some(&creds), "def") else {
        panic!()
    };
    let first = String::from_utf8(b64.decode(&first[0]).unwrap()).unwrap();
    let (fin, _) = crate::auth::scram::tests::client_final_for("sesame", "n,,", bare, &first);
    assert!(matches!(ex.receive(&b64.encode(fin)), Step::Send(_)));
    assert_eq!(ex.receive("+"), Step::Success);

    let change = |old: Option<&str>, new: &str| Call::ChangePassword {
        key: "alice".into(),
        old: old.map(str::to_owned),
        new: new.into(),
    };
    assert_eq!(
        call(&mut h, &mut lp, 8, change(Some("wrong"), "millet")),
        CallResult::ChangePassword(Err(AccountError::BadPassword))
    );
    assert_eq!(
        call(&mut h, &mut lp, 9, change(Some("sesame"), "millet")),
        CallResult::ChangePassword(Ok(()))
    );
    assert_eq!(
        login(&mut h, &mut lp, 10, "alice", "millet"),
        CallResult::Login(Ok(alice.clone()))
    );
    assert_eq!(
        login(&mut h, &mut lp, 11, "alice", "sesame"),
        CallResult::Login(Err(AccountError::BadPassword))
    );

    let fp = "sha256:0123abcd";
    assert_eq!(
        call(
            &mut h,
            &mut lp,
            12,
            Call::CertificateAdd {
                key: "alice".into(),
                fingerprint: fp.into()
            }
        ),
        CallResult::CertificateAdd(Ok(()))
    );
    assert_eq!(
        call(
            &mut h,
            &mut lp,
            13,
            Call::Certificate {
                fingerprint: fp.into()
            }
        ),
        CallResult::Certificate(Ok(alice.clone()))
    );
    let CallResult::AccountInfo(Ok(info)) = call(
        &mut h,
        &mut lp,
        14,
        Call::AccountInfo {
            key: "alice".into(),
        },
    ) else {
        panic!()
    };
    assert_eq!(
        (info.registered, info.certificates),
        (7, vec![fp.to_owned()])
    );
    assert_eq!(
        call(
            &mut h,
            &mut lp,
            15,
            Call::DropAccount {
                key: "alice".into()
            }
        ),
        CallResult::DropAccount(Ok(()))
    );
    assert_eq!(
        login(&mut h, &mut lp, 16, "alice", "millet"),
        CallResult::Login(Err(AccountError::NoSuchAccount))
    );
    assert_eq!(
        call(
            &mut h,
            &mut lp,
            17,
            Call::Certificate {
                fingerprint: fp.into()
            }
        ),
        CallResult::Certificate(Err(AccountError::NoSuchAccount))
    );
}

#[test]
fn retention_runs_in_the_background() {
    let mut lp = new_loop();
    let mut c = StoreConfig::new(Location::Memory);
    c.retention = Retention {
        max_age_ms: None,
        max_per_target: Some(5),
    };
    c.retention_every = Duration::from_millis(10);
    c.group_window = Duration::from_millis(10);
    let (mut h, _) = open_at(&c, &lp);
    for i in 0..20 {
        h.write(Write::Message(msg("#r", i, "x"))).unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while h.stats().retention_deleted < 15 {
        assert!(Instant::now() < deadline, "{:?}", h.stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    let left = latest(&mut h, &mut lp, 1, "#r");
    assert_eq!(
        left,
        (15..20).map(|i| msg("#r", i, "x")).collect::<Vec<_>>()
    );
}

#[test]
fn in_memory_store_keeps_nothing_on_disk() {
    let lp = new_loop();
    let (mut h, snap) = open_at(&StoreConfig::new(Location::Memory), &lp);
    assert_eq!(snap, Snapshot::default());
    h.write(Write::Message(msg("#r", 0, "x"))).unwrap();
    assert_eq!(h.close().committed, 1);
    assert_eq!(
        StoreConfig::location_from_arg("none"),
        Location::Memory,
        "--data-dir none"
    );
}

#[test]
fn a_busy_hashing_thread_answers_busy_at_once() {
    let mut lp = new_loop();
    let mut c = StoreConfig::new(Location::Memory);
    c.hash = HashParams::cheap();
    c.hash_queue = 2;
    let (mut h, _) = open_at(&c, &lp);
    assert!(matches!(
        register(&mut h, &mut lp, 1, "alice", "pw"),
        CallResult::Register(Ok(_))
    ));
    let (arrived_tx, arrived) = sync_channel(1);
    let (release, release_rx) = sync_channel(1);
    h.send_test(Request::PauseHasher {
        arrived: arrived_tx,
        release: release_rx,
    })
    .unwrap();
    arrived.recv_timeout(WAIT).unwrap();
    let login = || Call::Login {
        key: "alice".into(),
        password: "pw".into(),
    };
    for id in [2, 3, 4] {
        h.call(id, login()).unwrap();
    }
    // Two wait in the queue; the third is turned away without waiting.
    assert_eq!(
        reply(&h, &mut lp, 4),
        CallResult::Login(Err(AccountError::Busy))
    );
    assert_eq!(h.stats().hash_queue_depth, 2);
    release.send(()).unwrap();
    let alice = AccountName {
        key: "alice".into(),
        name: "alice".into(),
    };
    assert_eq!(reply(&h, &mut lp, 2), CallResult::Login(Ok(alice.clone())));
    assert_eq!(reply(&h, &mut lp, 3), CallResult::Login(Ok(alice)));
}
