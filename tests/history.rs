//! History for real: the snak binary with a data directory, native and IRC clients over
//! sockets. A restart (SIGTERM) keeps what was said and a joiner gets it; a kill -9 under load
//! loses only what was not committed yet (counted and printed); direct and secret rooms'
//! history stays with those it belongs to; CHATHISTORY answers in order with the rest.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Client, Daemon, WAIT};

const S: &str = ":snak.localhost";
const CAPS: &str = "batch server-time message-tags";

/// A data directory of this test's own, removed when dropped.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let dir =
            std::env::temp_dir().join(format!("snak-history-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IRC client over a raw socket.
struct Irc {
    c: Client,
}

impl Irc {
    /// Registers as `nick` with the capabilities `caps` (space separated, may be empty).
    fn new(d: &Daemon, nick: &str, caps: &str) -> Irc {
        let mut c = Client::connect(d.irc.expect("an IRC listener"));
        c.nick = nick.into();
        let mut irc = Irc { c };
        if !caps.is_empty() {
            irc.send(&format!("CAP REQ :{caps}"));
        }
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :{nick}"));
        if !caps.is_empty() {
            let ack = irc.c.line_starting(&format!("{S} CAP "));
            assert!(ack.contains(" ACK :"), "{ack}");
            irc.send("CAP END");
        }
        irc.c.line_starting(&format!("{S} 422 {nick} "));
        irc
    }

    fn send(&mut self, line: &str) {
        self.c.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// Joins and reads up to the end of the member list.
    fn join(&mut self, room: &str) {
        self.send(&format!("JOIN {room}"));
        self.c
            .line_starting(&format!("{S} 366 {} {room} ", self.c.nick));
    }

    /// Everything up to our own PONG: what the server sent before it.
    fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync");
        self.c
            .expect_eventually(&format!("{S} PONG snak.localhost sync"))
    }

    /// A whole `chathistory` batch (or targets batch): the lines inside, without the batch
    /// tag; fails on anything else first.
    fn batch(&mut self, kind: &str) -> Vec<String> {
        let start = self.c.line();
        let id = start
            .strip_prefix(&format!("{S} BATCH +"))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("{}: not a batch start: {start}", self.c.nick))
            .to_string();
        assert!(start.contains(&format!(" {kind}")), "{start}");
        let tag = format!("@batch={id}");
        let mut lines = Vec::new();
        loop {
            let line = self.c.line();
            if line == format!("{S} BATCH -{id}") {
                return lines;
            }
            let rest = line
                .strip_prefix(&tag)
                .unwrap_or_else(|| panic!("not in batch {id}: {line}"));
            let rest = match rest.strip_prefix(';') {
                Some(more) => format!("@{more}"),
                None => rest.trim_start().to_string(),
            };
            lines.push(rest);
        }
    }
}

/// The value of tag `key` on an IRC line.
fn tag<'a>(line: &'a str, key: &str) -> &'a str {
    line.strip_prefix('@')
        .and_then(|l| l.split(' ').next())
        .and_then(|tags| {
            tags.split(';')
                .find_map(|t| t.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        })
        .unwrap_or_else(|| panic!("no {key} tag on {line}"))
}

/// A server-time stamp as native history writes it: `YYYY-MM-DD HH:MM:SS`.
fn short(time: &str) -> String {
    time[..19].replacen('T', " ", 1)
}

/// `GET /metrics`: the value of the sample `name`.
fn metric(addr: SocketAddr, name: &str) -> f64 {
    let mut s = TcpStream::connect(addr).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    s.set_read_timeout(Some(WAIT)).ok();
    let mut all = String::new();
    s.read_to_string(&mut all).expect("read metrics");
    all.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
}

/// A native `/history` block: its lines and the oldest line's id.
fn native_history(c: &mut Client, command: &str) -> (Vec<String>, Option<String>) {
    c.send(command);
    let head = c.line_starting("= history ");
    let words: Vec<&str> = head.split(' ').collect();
    let count: usize = words[3].parse().expect("a count");
    let oldest = words.get(4).map(|s| s.to_string());
    let lines = (0..count).map(|_| c.line()).collect();
    c.line_starting("= end history ");
    (lines, oldest)
}

/// The text of every line of `room`'s history, oldest first, paged back from the newest by an
/// IRC client that asks for history itself (so it gets no replay on join).
fn every_line(d: &Daemon, room: &str) -> Vec<String> {
    let mut c = Irc::new(d, "pager", &format!("{CAPS} draft/chathistory"));
    c.join(room);
    let mut kept: Vec<String> = Vec::new();
    let mut command = format!("CHATHISTORY LATEST {room} * 100");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "paging took too long");
        c.send(&command);
        let mut page = c.batch(&format!("chathistory {room}"));
        let Some(oldest) = page.first().map(|l| tag(l, "msgid").to_string()) else {
            break;
        };
        page.append(&mut kept);
        kept = page;
        command = format!("CHATHISTORY BEFORE {room} msgid={oldest} 100");
    }
    let said = format!(" PRIVMSG {room} :");
    kept.iter()
        .map(|l| {
            l.split_once(&said)
                .map(|(_, t)| t.to_string())
                .unwrap_or_else(|| panic!("{l}"))
        })
        .collect()
}

#[test]
fn a_restart_keeps_history_and_joiners_get_it() {
    let dir = DataDir::new("restart");
    let mut d = Daemon::start(&["--data-dir", dir.arg()]);
    let mut alice = d.named("alice");
    alice.send("/join #r");
    alice.expect_eventually("* alice joined #r");
    let mut bob = Irc::new(&d, "bob", CAPS);
    bob.join("#r");
    alice.expect("* bob joined #r");
    alice.send("one");
    alice.send("/me two");
    alice.send("/notice #r three");
    // What bob was relayed: the history must give the same ids and times.
    let relayed: Vec<String> = (0..3).map(|_| bob.c.line_starting("@time=")).collect();
    assert!(relayed[2].ends_with("NOTICE #r :three"), "{relayed:?}");
    bob.send("PRIVMSG alice :just for you");
    alice.expect("@alice <bob> just for you");
    assert!(d.terminate().success());

    let d = Daemon::start(&["--data-dir", dir.arg()]);
    // A native joiner: the block, after the join line.
    let mut carol = d.named("carol");
    carol.send("/join #r");
    carol.expect("* carol joined #r");
    let t: Vec<String> = relayed.iter().map(|l| short(tag(l, "time"))).collect();
    carol.expect(&format!("= history #r 3 {}", tag(&relayed[0], "msgid")));
    carol.expect(&format!("#r [{}] <alice> one", t[0]));
    carol.expect(&format!("#r [{}] * alice two", t[1]));
    carol.expect(&format!("#r [{}] -alice- three", t[2]));
    carol.expect("= end history #r 3");
    // An IRC joiner with batch and server-time: the lines as they were relayed, in a batch.
    let mut dave = Irc::new(&d, "dave", CAPS);
    dave.join("#r");
    assert_eq!(dave.batch("chathistory #r"), relayed);
    // One without: plain lines, dated in their text.
    let mut erin = Irc::new(&d, "erin", "");
    erin.join("#r");
    erin.c.expect(&format!(
        ":alice!native@127.0.0.1 PRIVMSG #r :[{}] one",
        t[0]
    ));
    erin.c.line_starting(":alice!native@127.0.0.1 NOTICE #r :[");
    // One that asks for history itself gets no replay, and its answers come in order: the
    // batch before the PONG of the PING sent right after.
    let mut fred = Irc::new(&d, "fred", &format!("{CAPS} draft/chathistory"));
    fred.join("#r");
    assert!(fred.sync().is_empty(), "no replay for draft/chathistory");
    // More than the window holds: the store answers, and the answer still comes first.
    fred.send("CHATHISTORY LATEST #r * 10");
    fred.send("PING :after");
    assert_eq!(fred.batch("chathistory #r"), relayed);
    fred.c.expect(&format!("{S} PONG snak.localhost after"));
    // What the window holds it answers itself.
    fred.send("CHATHISTORY LATEST #r * 2");
    assert_eq!(fred.batch("chathistory #r"), relayed[1..]);
    // The direct message was alice's and bob's: carol has no conversation with alice.
    let (lines, _) = native_history(&mut carol, "/history alice");
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn kill_9_under_load_loses_only_what_was_not_committed() {
    let dir = DataDir::new("kill");
    let d = Daemon::start(&[
        "--data-dir",
        dir.arg(),
        "--no-flood-limit",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let mut a = d.named("a");
    let mut b = d.named("b");
    a.send("/join #load");
    a.expect_eventually("* a joined #load");
    b.send("/join #load");
    b.expect_eventually("* b joined #load");
    // A bounded load in two bursts. The first is delivered and then committed (waited for
    // through the metrics: a group is committed 50 ms after its first line at the latest);
    // the kill comes halfway through the second, while it is still being handled.
    const N: usize = 5000;
    let metrics = d.addr("metrics");
    let burst =
        |from: usize, to: usize| -> String { (from..to).map(|i| format!("msg {i}\n")).collect() };
    let mut delivered = 0;
    let mut deliver_to = |b: &mut Client, upto: usize| {
        while delivered < upto {
            assert_eq!(b.line(), format!("#load <a> msg {delivered}"));
            delivered += 1;
        }
        delivered
    };
    a.send_raw(burst(0, N / 2).as_bytes());
    deliver_to(&mut b, N / 2);
    let deadline = Instant::now() + WAIT;
    while (metric(metrics, "snak_store_rows_total") as usize) < N / 2 {
        assert!(
            Instant::now() < deadline,
            "the first burst was never committed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    a.send_raw(burst(N / 2, N).as_bytes());
    let delivered = deliver_to(&mut b, N / 2 + N / 4);
    // Everything committed by now must survive the kill.
    let committed = metric(metrics, "snak_store_rows_total") as usize;
    common::signal(d.pid(), "-KILL");
    let mut d = d;
    let status = common::wait_exit(&mut d.child);
    assert!(!status.success(), "killed");

    let d = Daemon::start(&["--data-dir", dir.arg(), "--no-flood-limit"]);
    let texts = every_line(&d, "#load");
    // A prefix of what was sent, in order, nothing twice, nothing missing in between.
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(t, &format!("msg {i}"));
    }
    let survived = texts.len();
    assert!(
        survived >= committed,
        "{survived} lines kept, {committed} were committed before the kill"
    );
    let lost = delivered.saturating_sub(survived);
    println!(
        "kill -9 with {N} messages sent: {delivered} delivered before it, {committed} \
         committed when last counted, {survived} kept: {lost} of those delivered were lost \
         (accepted after the last commit)"
    );
}

#[test]
fn sigterm_under_load_loses_nothing() {
    let dir = DataDir::new("term");
    let mut d = Daemon::start(&["--data-dir", dir.arg(), "--no-flood-limit"]);
    let mut a = d.named("a");
    let mut b = d.named("b");
    for c in [&mut a, &mut b] {
        c.send("/join #term");
        c.line_starting(&format!("* {} joined #term", c.nick));
    }
    // Delivered means accepted: the stop comes while the store may still be behind.
    const N: usize = 3000;
    let burst: String = (0..N).map(|i| format!("msg {i}\n")).collect();
    a.send_raw(burst.as_bytes());
    for i in 0..N {
        assert_eq!(b.line(), format!("#term <a> msg {i}"));
    }
    assert!(d.terminate().success());
    let d = Daemon::start(&["--data-dir", dir.arg(), "--no-flood-limit"]);
    let texts = every_line(&d, "#term");
    assert_eq!(texts.len(), N, "every accepted line is kept over a SIGTERM");
    assert!(texts
        .iter()
        .enumerate()
        .all(|(i, t)| *t == format!("msg {i}")));
}

#[test]
fn direct_and_secret_history_stays_with_those_it_belongs_to() {
    let d = Daemon::start(&[]);
    let all = format!("{CAPS} draft/chathistory");
    let mut alice = Irc::new(&d, "alice", &all);
    let mut bob = Irc::new(&d, "bob", &all);
    let mut carol = Irc::new(&d, "carol", &all);
    alice.send("PRIVMSG bob :for bob only");
    let dm = bob.c.line_starting("@time=");
    let msgid = tag(&dm, "msgid").to_string();
    alice.join("#secret");
    alice.send("MODE #secret +sk hush");
    alice.send("PRIVMSG #secret :secret words");
    alice.sync();

    // The parties see it.
    bob.send("CHATHISTORY LATEST alice * 10");
    let seen = bob.batch("chathistory alice");
    assert_eq!(seen.len(), 1);
    assert!(seen[0].ends_with(":alice!alice@127.0.0.1 PRIVMSG bob :for bob only"));
    alice.send("CHATHISTORY LATEST #secret * 10");
    assert_eq!(alice.batch("chathistory #secret").len(), 1);
    // Nobody else: an outsider's conversations with either are empty, a msgid of theirs is
    // unknown in the outsider's, and the secret room is refused as if it did not exist.
    for peer in ["bob", "alice"] {
        carol.send(&format!("CHATHISTORY LATEST {peer} * 10"));
        assert!(carol.batch("chathistory").is_empty(), "{peer}");
    }
    carol.send(&format!("CHATHISTORY AROUND bob msgid={msgid} 5"));
    carol.c.expect(&format!(
        "{S} FAIL CHATHISTORY MESSAGE_ERROR AROUND bob msgid={msgid} \
         :Messages could not be retrieved: no such message"
    ));
    for room in ["#secret", "#nothing-here"] {
        carol.send(&format!("CHATHISTORY LATEST {room} * 10"));
        carol.c.expect(&format!(
            "{S} FAIL CHATHISTORY INVALID_TARGET LATEST {room} :Messages could not be retrieved"
        ));
    }
    carol.send(
        "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z \
         timestamp=2262-01-01T00:00:00.000Z 10",
    );
    assert!(carol.batch("draft/chathistory-targets").is_empty());
    bob.send(
        "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z \
         timestamp=2262-01-01T00:00:00.000Z 10",
    );
    let targets = bob.batch("draft/chathistory-targets");
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert!(targets[0].starts_with(&format!("{S} CHATHISTORY TARGETS alice ")));
    // Natively too.
    let mut dave = d.named("dave");
    dave.send("/history #secret");
    dave.expect("! not-in-room #secret");
    let (lines, _) = native_history(&mut dave, "/history bob");
    assert!(lines.is_empty());
    // Whoever takes the nick next does not get the conversation: bob had no account.
    bob.send("QUIT");
    bob.c.expect_closed();
    let mut bob2 = Irc::new(&d, "bob", &all);
    bob2.send("CHATHISTORY LATEST alice * 10");
    assert!(bob2.batch("chathistory alice").is_empty());
}

#[test]
fn with_no_history_store_nothing_new_is_kept() {
    let d = Daemon::start(&["--no-history-store"]);
    let mut a = d.named("a");
    a.send("/join #quiet");
    a.expect("* a joined #quiet");
    a.send("not kept");
    let mut b = d.named("b");
    b.send("/join #quiet");
    b.expect("* b joined #quiet");
    a.expect_eventually("* b joined #quiet");
    let (lines, _) = native_history(&mut b, "/history #quiet");
    assert!(lines.is_empty(), "{lines:?}");
}
