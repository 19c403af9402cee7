//! Nodes of one network sharing one PostgreSQL database (`--store-url`), for real: a
//! nats-server and a PostgreSQL server of each test's own (ephemeral loopback ports, data in
//! temporary directories, stopped by their PIDs) and two snak nodes. An account made on one
//! node logs in on the other and protects its nick there; a room registered on one gives ops
//! on the other; history said on one is read on the other, stored once; a restart of every
//! node keeps it all; the database stopped mid-run costs logins, not chat, and writes resume.
//! Without nats-server or PostgreSQL each test records a skip.

mod common;

use std::time::{Duration, Instant};

use common::nats::{have_nats, Nats};
use common::pg::{pg_bin, Pg};
use common::{Client, Daemon};

/// How long a node may take to notice what the network or the database does.
const SLOW: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// One test at a time: each runs a nats-server, a PostgreSQL server and two nodes.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TESTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a test needs, or None (a skip recorded) without it.
fn servers(tag: &str) -> Option<(Nats, Pg, String)> {
    if !have_nats() {
        common::skip(common::nats::MISSING);
        return None;
    }
    if pg_bin().is_none() {
        common::skip(common::pg::MISSING);
        return None;
    }
    let nats = Nats::start(tag);
    let pg = Pg::start(tag);
    pg.create_db("snak");
    let url = pg.url("snak");
    Some((nats, pg, url))
}

fn node(nats: &Nats, store: &str, name: &str) -> Daemon {
    let bus = nats.url();
    Daemon::start(&[
        "--bus",
        bus.as_str(),
        "--store-url",
        store,
        "--server-name",
        name,
        "--no-flood-limit",
        "--history-on-join",
        "10",
    ])
}

/// The next line that `pred` accepts within `wait`; fails the test with what came before.
fn wait_line(c: &mut Client, wait: Duration, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.try_line(left) {
            Some(l) if pred(&l) => return l,
            Some(l) => seen.push(l),
            None => panic!("{}: no such line within {wait:?}; got {seen:#?}", c.nick),
        }
    }
}

fn wait_for(c: &mut Client, want: &str) -> String {
    wait_line(c, SLOW, |l| l == want)
}

/// A native client renamed to `nick` once its node is on the network, out of #lobby.
fn named_when_up(d: &Daemon, nick: &str) -> Client {
    let mut c = d.client();
    let deadline = Instant::now() + SLOW;
    loop {
        c.send(&format!("/nick {nick}"));
        let renamed = format!("* {} is now known as {nick}", c.nick);
        let line = wait_line(&mut c, SLOW, |l| {
            l == renamed || l.starts_with(&format!("! network-split {nick} "))
        });
        if line == renamed {
            c.nick = nick.into();
            break;
        }
        assert!(Instant::now() < deadline, "{nick}: the node never came up");
        std::thread::sleep(POLL);
    }
    c.send("/part #lobby");
    wait_for(&mut c, &format!("* {nick} left #lobby"));
    c
}

/// Both nodes are on the network: a user of each sees the other's nick taken.
fn both_up(a: &Daemon, b: &Daemon) {
    let _pa = named_when_up(a, "probea");
    let mut pb = named_when_up(b, "probeb");
    let deadline = Instant::now() + SLOW;
    loop {
        pb.send("/whois probea");
        let got = wait_line(&mut pb, SLOW, |l| {
            l.starts_with("= end whois probea") || l.starts_with("! no-such-nick probea")
        });
        if got.starts_with("= end whois") {
            return;
        }
        wait_for(&mut pb, "= end whois probea");
        assert!(Instant::now() < deadline, "the nodes never met");
        std::thread::sleep(POLL);
    }
}

/// An IRC client of node `srv` that logs in with SASL PLAIN (`\0account\0password`) and
/// registers as `nick`; returns the 900 line.
fn irc_sasl(d: &Daemon, srv: &str, nick: &str, plain_b64: &str, caps: &str) -> (Client, String) {
    let mut c = Client::connect(d.irc.expect("an IRC listener"));
    c.nick = nick.into();
    c.send_raw(format!("CAP REQ :sasl {caps}\r\n").as_bytes());
    c.line_starting(&format!(":{srv} CAP * ACK"));
    c.send_raw(b"AUTHENTICATE PLAIN\r\n");
    c.expect("AUTHENTICATE +");
    c.send_raw(format!("AUTHENTICATE {plain_b64}\r\n").as_bytes());
    let logged = c.line_starting(&format!(":{srv} 90"));
    c.send_raw(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END\r\n").as_bytes());
    wait_line(&mut c, SLOW, |l| {
        l.starts_with(&format!(":{srv} 001 {nick} "))
    });
    (c, logged)
}

/// `\0alice\0sesame`
const ALICE_SESAME: &str = "AGFsaWNlAHNlc2FtZQ==";

#[test]
fn an_account_made_on_one_node_logs_in_and_holds_its_nick_on_the_other() {
    let _one = one_at_a_time();
    let Some((nats, _pg, url)) = servers("accounts") else {
        return;
    };
    let a = node(&nats, &url, "a.test");
    let b = node(&nats, &url, "b.test");
    both_up(&a, &b);
    // Registered on A after B started: B hears of it from the network.
    let mut alice = named_when_up(&a, "alice");
    alice.send("/register sesame");
    wait_for(&mut alice, "= registered alice");
    alice.send("/quit");
    // On B, whoever takes the nick is told it is registered.
    let mut m = named_when_up(&b, "mallory");
    let deadline = Instant::now() + SLOW;
    loop {
        m.send("/nick alice");
        let got = wait_line(&mut m, SLOW, |l| {
            l.starts_with("* alice is registered to the account alice")
                || l.starts_with("! nick-taken alice")
                || l == "* mallory is now known as alice"
        });
        if got.starts_with("* alice is registered") {
            break;
        }
        // alice's nick was still held (its quit travelling), or the rename came first:
        // the notice follows it then.
        if got == "* mallory is now known as alice" {
            m.nick = "alice".into();
            wait_line(&mut m, SLOW, |l| {
                l.starts_with("* alice is registered to the account alice")
            });
            break;
        }
        if Instant::now() >= deadline {
            m.send("/whois alice");
            let w = m.expect_eventually("= end whois alice");
            panic!("alice's nick never came free: {got} {w:?}");
        }
        std::thread::sleep(POLL);
    }
    // And logs in to it there, natively ...
    m.send("/login alice sesame");
    wait_for(&mut m, "= login alice");
    // ... and over IRC SASL PLAIN.
    let (_i, logged) = irc_sasl(&b, "b.test", "ally", ALICE_SESAME, "");
    assert!(logged.starts_with(":b.test 900 "), "{logged}");
    // A wrong password is wrong on B too.
    let mut e = named_when_up(&b, "eve");
    e.send("/login alice millet");
    wait_for(&mut e, "! login-failed wrong account or password");
    // Dropped on A: B logs out those logged in to it there, and the password is gone.
    let mut dropper = named_when_up(&a, "dropper");
    dropper.send("/login alice sesame");
    wait_for(&mut dropper, "= login alice");
    dropper.send("/drop sesame");
    wait_for(&mut dropper, "= dropped alice");
    let deadline = Instant::now() + SLOW;
    loop {
        m.send("/whois alice");
        let whois = m.expect_eventually("= end whois alice");
        if !whois.iter().any(|l| l.contains(" account ")) {
            break;
        }
        assert!(Instant::now() < deadline, "still logged in on B: {whois:?}");
        std::thread::sleep(POLL);
    }
    e.send("/login alice sesame");
    wait_for(&mut e, "! login-failed wrong account or password");
    // An account made on B: A protects its nick and refuses the name again.
    let mut bobby = named_when_up(&b, "bobby");
    bobby.send("/register hunter22");
    wait_for(&mut bobby, "= registered bobby");
    bobby.send("/quit");
    let mut again = named_when_up(&a, "again");
    let deadline = Instant::now() + SLOW;
    loop {
        again.send("/nick bobby");
        let got = wait_line(&mut again, SLOW, |l| {
            l.starts_with("! nick-taken bobby") || l == "* again is now known as bobby"
        });
        if got.starts_with("* again") {
            break;
        }
        if Instant::now() >= deadline {
            again.send("/whois bobby");
            let w = again.expect_eventually("= end whois bobby");
            panic!("bobby's nick never came free: {got} {w:?}");
        }
        std::thread::sleep(POLL);
    }
    again.nick = "bobby".into();
    wait_line(&mut again, SLOW, |l| {
        l.starts_with("* bobby is registered to the account bobby")
    });
    again.send("/register other");
    wait_for(&mut again, "! account-exists bobby is registered already");
}

#[test]
fn a_room_registered_on_one_node_gives_ops_on_the_other() {
    let _one = one_at_a_time();
    let Some((nats, _pg, url)) = servers("rooms") else {
        return;
    };
    let a = node(&nats, &url, "a.test");
    let b = node(&nats, &url, "b.test");
    both_up(&a, &b);
    let mut alice = named_when_up(&a, "alice");
    alice.send("/register sesame");
    wait_for(&mut alice, "= registered alice");
    alice.send("/join #kept");
    wait_for(&mut alice, "* alice joined #kept");
    alice.send("/register #kept");
    wait_for(&mut alice, "= registered #kept founder alice");
    alice.send("/quit");
    // On B: alice's account logs in under another nick and joins: ChanServ gives ops.
    let mut other = named_when_up(&b, "founder");
    other.send("/login alice sesame");
    wait_for(&mut other, "= login alice");
    other.send("/join #kept");
    wait_for(&mut other, "* founder joined #kept");
    wait_for(&mut other, "* ChanServ sets mode +o founder on #kept");
    // Someone on no list gets nothing.
    let mut carol = named_when_up(&b, "carol");
    carol.send("/join #kept");
    wait_for(&mut carol, "* carol joined #kept");
    carol.send("/names");
    let names = wait_line(&mut carol, SLOW, |l| {
        l.starts_with("= who #kept ") || l.starts_with("= names #kept ")
    });
    assert!(
        names.contains("@founder") && !names.contains("@carol"),
        "{names}"
    );
    // A change to the record made on B (bob on the ops list) holds on A.
    let mut bob = named_when_up(&a, "bob");
    bob.send("/register hunter22");
    wait_for(&mut bob, "= registered bob");
    // B knows of bob's account once A's announcement has arrived.
    let deadline = Instant::now() + SLOW;
    loop {
        other.send("/access #kept +o bob");
        let got = wait_line(&mut other, SLOW, |l| {
            l == "= access #kept +o bob" || l == "! no-such-account bob"
        });
        if got.starts_with("= access") {
            break;
        }
        assert!(Instant::now() < deadline, "B never heard of bob's account");
        std::thread::sleep(POLL);
    }
    // The access change reaches A after the reply here: bob joins until he is given ops
    // on joining (a join before it lands gets none; bounded).
    let deadline = Instant::now() + SLOW;
    loop {
        bob.send("/join #kept");
        wait_for(&mut bob, "* bob joined #kept");
        bob.send("/who #kept");
        let who = wait_line(&mut bob, SLOW, |l| l.starts_with("= who #kept "));
        if who.split(' ').any(|m| m == "@bob") {
            break;
        }
        assert!(Instant::now() < deadline, "bob never got ops on A");
        bob.send("/part #kept");
        wait_for(&mut bob, "* bob left #kept");
        std::thread::sleep(POLL);
    }
}

/// The texts of a native `/history` block (`= history ... N` then N lines).
fn native_history(c: &mut Client, command: &str) -> Vec<String> {
    c.send(command);
    let head = wait_line(c, SLOW, |l| l.starts_with("= history "));
    let count: usize = head
        .split(' ')
        .nth(3)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    let lines = (0..count).map(|_| c.line()).collect();
    c.line_starting("= end history ");
    lines
}

/// CHATHISTORY LATEST of `target` by an IRC client `c` of `srv`: the PRIVMSG texts.
fn chathistory(c: &mut Client, srv: &str, target: &str) -> Vec<String> {
    c.send_raw(format!("CHATHISTORY LATEST {target} * 50\r\n").as_bytes());
    let start = wait_line(c, SLOW, |l| l.starts_with(&format!(":{srv} BATCH +")));
    let id = start[format!(":{srv} BATCH +").len()..]
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    let end = format!(":{srv} BATCH -{id}");
    let mut texts = Vec::new();
    loop {
        let l = c.line();
        if l == end {
            return texts;
        }
        if let Some((_, text)) = l.split_once(&format!(" PRIVMSG {target} :")) {
            texts.push(text.to_string());
        } else if let Some((_, text)) = l.split_once(" PRIVMSG ") {
            texts.push(
                text.split_once(" :")
                    .map(|(_, t)| t)
                    .unwrap_or(text)
                    .to_string(),
            );
        }
    }
}

#[test]
fn history_said_on_one_node_is_read_on_the_other_stored_once_and_kept_across_restarts() {
    let _one = one_at_a_time();
    let Some((nats, pg, url)) = servers("history") else {
        return;
    };
    let mut a = node(&nats, &url, "a.test");
    let mut b = node(&nats, &url, "b.test");
    both_up(&a, &b);
    let mut alice = named_when_up(&a, "alice");
    alice.send("/register sesame");
    wait_for(&mut alice, "= registered alice");
    let mut bob = named_when_up(&b, "bob");
    bob.send("/register hunter22");
    wait_for(&mut bob, "= registered bob");
    bob.send("/join #h");
    wait_for(&mut bob, "* bob joined #h");
    alice.send("/join #h");
    wait_line(&mut alice, SLOW, |l| l == "* alice joined #h");
    wait_for(&mut bob, "* alice joined #h");
    for m in ["one", "two", "three"] {
        alice.send(m);
        wait_for(&mut bob, &format!("#h <alice> {m}"));
    }
    bob.send("four");
    wait_for(&mut alice, "#h <bob> four");
    // A direct message from A to B, between two accounts.
    alice.send("/msg bob for bob only");
    wait_for(&mut bob, "@bob <alice> for bob only");
    // A joiner on B is replayed A's lines with B's own (the window heard them on the bus).
    let mut carol = named_when_up(&b, "carol");
    carol.send("/join #h");
    wait_for(&mut carol, "* carol joined #h");
    let head = wait_line(&mut carol, SLOW, |l| l.starts_with("= history #h "));
    assert!(head.starts_with("= history #h 4 "), "{head}");
    for m in ["<alice> one", "<alice> two", "<alice> three", "<bob> four"] {
        let l = carol.line();
        assert!(l.starts_with("#h [") && l.ends_with(m), "{l} / {m}");
    }
    carol.line_starting("= end history #h");
    // Every line is committed within the store's group window (50 ms) of its node.
    let deadline = Instant::now() + SLOW;
    while pg.sql("snak", "SELECT count(*) FROM history") != "5" {
        assert!(
            Instant::now() < deadline,
            "not committed: {}",
            pg.sql(
                "snak",
                "SELECT time_ms, seq, body FROM history ORDER BY seq"
            )
        );
        std::thread::sleep(POLL);
    }
    // An IRC client on B asks the store.
    let (mut irc, _) = irc_sasl(
        &b,
        "b.test",
        "bob2",
        "AGJvYgBodW50ZXIyMg==",
        "batch server-time draft/chathistory",
    );
    irc.send_raw(b"JOIN #h\r\n");
    wait_line(&mut irc, SLOW, |l| l.starts_with(":b.test 366 bob2 #h "));
    // In the store's order: by time, lines of one millisecond (two nodes' lines may share
    // one) in the order they were stored; each node's own lines in the order said.
    let stored = pg.sql(
        "snak",
        "SELECT string_agg(body, '|' ORDER BY time_ms, seq) FROM history WHERE conv = '#h'",
    );
    let stored: Vec<String> = stored.split('|').map(str::to_string).collect();
    let mut sorted = stored.clone();
    sorted.sort();
    assert_eq!(sorted, ["four", "one", "three", "two"]);
    let at = |t: &str| stored.iter().position(|s| s == t);
    assert!(
        at("one") < at("two") && at("two") < at("three"),
        "{stored:?}"
    );
    assert_eq!(chathistory(&mut irc, "b.test", "#h"), stored);
    // Each line is stored once: by the node it was said on.
    assert_eq!(
        pg.sql("snak", "SELECT count(*) FROM history WHERE conv = '#h'"),
        "4"
    );
    assert_eq!(
        pg.sql("snak", "SELECT count(*) FROM history WHERE conv <> '#h'"),
        "1",
        "the direct message"
    );
    // The direct message is its two parties' only.
    assert_eq!(native_history(&mut bob, "/history alice").len(), 1);
    let lines = native_history(&mut carol, "/history alice");
    assert!(lines.is_empty(), "{lines:?}");
    let lines = native_history(&mut carol, "/history bob");
    assert!(lines.is_empty(), "{lines:?}");

    // Every node restarted: accounts, history and the DM are all still there.
    drop((alice, bob, carol, irc));
    assert!(a.terminate().success());
    assert!(b.terminate().success());
    let a = node(&nats, &url, "a.test");
    let b = node(&nats, &url, "b.test");
    both_up(&a, &b);
    let (mut irc, logged) = irc_sasl(
        &a,
        "a.test",
        "al",
        ALICE_SESAME,
        "batch server-time draft/chathistory",
    );
    assert!(logged.starts_with(":a.test 900 "), "{logged}");
    irc.send_raw(b"JOIN #h\r\n");
    wait_line(&mut irc, SLOW, |l| l.starts_with(":a.test 366 al #h "));
    assert_eq!(chathistory(&mut irc, "a.test", "#h"), stored);
    let mut bob = named_when_up(&b, "bobby");
    bob.send("/login bob hunter22");
    wait_for(&mut bob, "= login bob");
    assert_eq!(native_history(&mut bob, "/history alice").len(), 1);
    let mut dave = named_when_up(&b, "dave");
    dave.send("/join #h");
    let head = wait_line(&mut dave, SLOW, |l| l.starts_with("= history #h "));
    assert!(head.starts_with("= history #h 4 "), "{head}");
}

#[test]
fn with_the_database_away_chat_goes_on_logins_are_unavailable_and_writes_resume() {
    let _one = one_at_a_time();
    let Some((nats, mut pg, url)) = servers("away") else {
        return;
    };
    let a = node(&nats, &url, "a.test");
    let b = node(&nats, &url, "b.test");
    both_up(&a, &b);
    let mut alice = named_when_up(&a, "alice");
    alice.send("/register sesame");
    wait_for(&mut alice, "= registered alice");
    let mut bob = named_when_up(&b, "bob");
    bob.send("/join #r");
    wait_for(&mut bob, "* bob joined #r");
    alice.send("/join #r");
    wait_for(&mut bob, "* alice joined #r");
    alice.send("before");
    wait_for(&mut bob, "#r <alice> before");

    pg.stop();
    // Chat goes on, on both nodes.
    alice.send("while away");
    wait_for(&mut bob, "#r <alice> while away");
    bob.send("still here");
    wait_for(&mut alice, "#r <bob> still here");
    // A login cannot be checked: said so, not "wrong password".
    let mut m = named_when_up(&b, "mallory");
    m.send("/login alice sesame");
    let got = wait_line(&mut m, SLOW, |l| l.starts_with("! "));
    assert!(got.starts_with("! unavailable "), "{got}");
    // Over IRC SASL PLAIN: a failure (904), and the client still connects.
    let (_i, sasl) = irc_sasl(&b, "b.test", "ircy", ALICE_SESAME, "");
    assert!(sasl.starts_with(":b.test 904 "), "{sasl}");

    pg.restart();
    // Logins work again within the store's retry; what was said meanwhile was kept.
    let deadline = Instant::now() + SLOW;
    loop {
        m.send("/login alice sesame");
        let got = wait_line(&mut m, SLOW, |l| {
            l.starts_with("! ") || l.starts_with("= login")
        });
        if got == "= login alice" {
            break;
        }
        assert!(got.starts_with("! unavailable "), "{got}");
        assert!(Instant::now() < deadline, "logins never came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = Instant::now() + SLOW;
    loop {
        let n = pg.sql("snak", "SELECT count(*) FROM history WHERE conv = '#r'");
        if n == "3" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kept writes never landed: {n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let texts = pg.sql(
        "snak",
        "SELECT string_agg(body, '|' ORDER BY time_ms, seq) FROM history",
    );
    assert_eq!(texts, "before|while away|still here");
}

#[test]
fn a_database_that_cannot_be_reached_is_one_line_and_exit_1() {
    // Nothing listens on port 1 of loopback; no server is needed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_snak"))
        .args(["--listen", "127.0.0.1:0", "--irc-listen", "127.0.0.1:0"])
        .args(["--web-listen", "127.0.0.1:0", "--data-dir", "none"])
        .args(["--store-url", "postgres://snak:secret@127.0.0.1:1/snak"])
        .output()
        .expect("snak runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("snak: database postgres://snak@127.0.0.1:1/snak: cannot connect: "),
        "{err}"
    );
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn after_a_split_a_node_reads_the_accounts_made_meanwhile() {
    let _one = one_at_a_time();
    let Some((mut nats, _pg, url)) = servers("split") else {
        return;
    };
    let a = node(&nats, &url, "a.test");
    let b = node(&nats, &url, "b.test");
    both_up(&a, &b);
    let mut zed = named_when_up(&a, "zed");
    let mut watcher = named_when_up(&b, "watcher");
    nats.kill();
    for c in [&mut zed, &mut watcher] {
        wait_line(c, SLOW, |l| {
            l == "* the network is split: users on other servers cannot be reached"
        });
    }
    // Made on A while B cannot hear of it.
    zed.send("/register sesame");
    wait_for(&mut zed, "= registered zed");
    nats.restart();
    for c in [&mut zed, &mut watcher] {
        wait_line(c, SLOW, |l| l == "* the network is whole again");
    }
    zed.send("/quit");
    // B read the accounts again once whole: whoever takes the nick there is told.
    let deadline = Instant::now() + SLOW;
    loop {
        watcher.send("/nick zed");
        let got = wait_line(&mut watcher, SLOW, |l| {
            l.starts_with("! nick-taken zed") || l == "* watcher is now known as zed"
        });
        if got.starts_with("* watcher") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "zed's nick never came free: {got}"
        );
        std::thread::sleep(POLL);
    }
    wait_line(&mut watcher, SLOW, |l| {
        l.starts_with("* zed is registered to the account zed")
    });
}
