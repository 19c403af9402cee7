//! Several snak nodes as one network over a real nats-server (started by each test on an
//! ephemeral port, JetStream in a temporary directory, stopped by its PID): native and IRC
//! clients spread over the nodes see one set of rooms, users and nicks. Every wait is for a
//! line, with a timeout; nothing sleeps to let time pass. Without nats-server each test
//! records a skip.

mod common;

use std::time::{Duration, Instant};

use common::nats::{have_nats, Nats, MISSING};
use common::{Client, Daemon};

/// How long a node may take to notice what the network does (a split, a node gone).
const SLOW: Duration = Duration::from_secs(30);

/// One snak node of the network `nats` serves, named `name` (its `--server-name`).
/// One network test at a time: each runs a nats-server and several nodes, and six of them at
/// once on a small loaded machine starve each other's JetStream writes.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static NETWORK_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    NETWORK_TESTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn node(nats: &Nats, name: &str, extra: &[&str]) -> Daemon {
    let url = nats.url();
    // The flood limit would delay the bursts these tests send.
    let mut args = vec![
        "--bus",
        url.as_str(),
        "--server-name",
        name,
        "--no-flood-limit",
    ];
    args.extend_from_slice(extra);
    Daemon::start(&args)
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

/// How often a poll of what the network knows is repeated.
const POLL: Duration = Duration::from_millis(50);

/// A native client renamed to `nick` once its node is on the network: until the node's
/// first connection to NATS, a nick cannot be claimed and the rename is refused as split.
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
            return c;
        }
        assert!(Instant::now() < deadline, "{nick}: the node never came up");
        std::thread::sleep(POLL);
    }
}

/// Returns once the node of `c` lists `room` (has heard that another node has members):
/// a first join there now gathers the room's state instead of founding it anew.
fn wait_listed(c: &mut Client, room: &str) {
    let deadline = Instant::now() + SLOW;
    let want = format!("= room {room} ");
    loop {
        c.send("/rooms");
        let mut found = false;
        loop {
            let l = c.line();
            found |= l.starts_with(&want);
            if l.starts_with("= end rooms") {
                break;
            }
        }
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "{room} never listed");
        std::thread::sleep(POLL);
    }
}

/// Returns once the node of `c` lists `room` with `count` members network-wide: it has heard
/// of every node's members (each node's entry carries its count), so a first join there asks
/// every one of them for the room's state.
fn wait_counted(c: &mut Client, room: &str, count: usize) {
    let deadline = Instant::now() + SLOW;
    let want = format!("= room {room} {count}");
    loop {
        c.send("/rooms");
        let mut found = false;
        loop {
            let l = c.line();
            found |= l == want || l.starts_with(&format!("{want} "));
            if l.starts_with("= end rooms") {
                break;
            }
        }
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{room} never listed with {count}"
        );
        std::thread::sleep(POLL);
    }
}

/// One native client per node, named `probe1`, `probe2`...: returns once every one has
/// seen every other arrive in #lobby, so every node is on the network.
fn mesh(nodes: &[&Daemon]) -> Vec<Client> {
    let mut probes: Vec<Client> = nodes
        .iter()
        .enumerate()
        .map(|(i, d)| named_when_up(d, &format!("probe{}", i + 1)))
        .collect();
    // Each sees those that came after it arrive (those before it were there already).
    for i in 0..probes.len() {
        for j in i + 1..probes.len() {
            let other = format!("probe{}", j + 1);
            let (joined, renamed) = (
                format!("* {other} joined #lobby"),
                format!(" is now known as {other}"),
            );
            wait_line(&mut probes[i], SLOW, |l| {
                l == joined || l.ends_with(&renamed)
            });
        }
    }
    let all: Vec<String> = (1..=probes.len()).map(|i| format!("probe{i}")).collect();
    // Nodes that founded #lobby at once list each other's members once they have merged.
    for p in &mut probes {
        wait_members(p, "#lobby", &all);
    }
    probes
}

/// An IRC client: lines go out with CRLF.
struct Irc {
    c: Client,
    srv: String,
}

impl Irc {
    fn connect(d: &Daemon, srv: &str) -> Irc {
        let mut c = Client::connect(d.irc.expect("an IRC listener"));
        c.nick = "*".into();
        Irc { c, srv: srv.into() }
    }

    /// Registers as `nick`; returns once the welcome burst is over (the end of MOTD).
    fn named(d: &Daemon, srv: &str, nick: &str) -> Irc {
        let mut irc = Irc::connect(d, srv);
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :The {nick}"));
        // The welcome waits for the nick's claim on the network (a JetStream write).
        let welcome = format!(":{srv} 001 ");
        wait_line(&mut irc.c, SLOW, |l| l.starts_with(&welcome));
        irc.numeric("422");
        irc.c.nick = nick.into();
        irc
    }

    fn send(&mut self, line: &str) {
        self.c.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn expect(&mut self, want: &str) {
        self.c.expect(want);
    }

    /// Skips lines until one has the numeric `code`; returns it.
    fn numeric(&mut self, code: &str) -> String {
        let prefix = format!(":{} {code} ", self.srv);
        self.c.line_starting(&prefix)
    }

    /// Waits for our own PONG: everything the server sent before has arrived.
    fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync");
        let want = format!(":{} PONG {} sync", self.srv, self.srv);
        self.c.expect_eventually(&want)
    }
}

/// Sorted members of a native `= who #ROOM ...` reply.
fn who(c: &mut Client, room: &str) -> Vec<String> {
    c.send(&format!("/who {room}"));
    let prefix = format!("= who {room} ");
    let line = c.line_starting(&prefix);
    c.line_starting(&format!("= end who {room}"));
    let mut members: Vec<String> = line[prefix.len()..]
        .split(' ')
        .map(|s| s.to_string())
        .collect();
    members.sort();
    members
}

#[test]
fn three_nodes_are_one_network_for_native_and_irc_users() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("three");
    let (a, b, c) = (
        node(&nats, "a.test", &[]),
        node(&nats, "b.test", &[]),
        node(&nats, "c.test", &[]),
    );
    let mut probes = mesh(&[&a, &b, &c]);
    let mut alice = a.named("alice");
    let mut bob = b.named("bob");
    let mut carol = Irc::named(&c, "c.test", "carol");

    // Joins seen on every node, and the joiner gets the room's members from everywhere.
    alice.send("/join #r");
    alice.expect_eventually("* alice joined #r");
    // (Two first joins on two nodes at once both found the room, and both joiners are
    // operators: docs/NETWORK.md. Here bob's node has heard of alice's room first.)
    wait_listed(&mut bob, "#r");
    bob.send("/join #r");
    bob.expect_eventually("* bob joined #r");
    alice.expect_eventually("* bob joined #r");
    // Node c asks the nodes it knows to have members: both, or its NAMES would lack one.
    wait_counted(&mut probes[2], "#r", 2);
    carol.send("JOIN #r");
    carol.expect(":carol!carol@127.0.0.1 JOIN #r");
    let names = carol.numeric("353");
    let mut listed: Vec<&str> = names.rsplit(':').next().unwrap().split(' ').collect();
    listed.sort();
    assert_eq!(listed, ["@alice", "bob", "carol"], "{names}");
    carol.numeric("366");
    alice.expect_eventually("* carol joined #r");
    bob.expect_eventually("* carol joined #r");
    assert_eq!(who(&mut bob, "#r"), ["@alice", "bob", "carol"]);

    // Room messages: every member on every node, exactly once, in the sender's order.
    for i in 0..50 {
        alice.send(&format!("m{i}"));
    }
    bob.send("/say #r done");
    let sent: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let (mut from_alice, mut from_bob) = (Vec::new(), Vec::new());
    while from_alice.len() < 50 || from_bob.is_empty() {
        let line = carol.c.line();
        if let Some(text) = line.strip_prefix(":alice!native@127.0.0.1 PRIVMSG #r :") {
            from_alice.push(text.to_string());
        } else if let Some(text) = line.strip_prefix(":bob!native@127.0.0.1 PRIVMSG #r :") {
            from_bob.push(text.to_string());
        } else {
            panic!("carol: unexpected {line:?}");
        }
    }
    assert_eq!(from_alice, sent);
    assert_eq!(from_bob, ["done"]);
    // Nothing more came, twice or late: the PONG is the next line.
    carol.send("PING :sync");
    carol.expect(":c.test PONG c.test sync");
    for m in &sent {
        bob.expect(&format!("#r <alice> {m}"));
    }
    alice.expect_eventually("#r <bob> done");
    carol.send("PRIVMSG #r :from irc");
    alice.expect("#r <carol> from irc");
    bob.expect("#r <carol> from irc");

    // Direct messages between nodes, both ways, both protocols.
    bob.send("/msg alice hi alice");
    alice.expect_eventually("@alice <bob> hi alice");
    carol.send("PRIVMSG alice :hi from irc");
    alice.expect("@alice <carol> hi from irc");
    alice.send("/msg carol hi carol");
    carol.expect(":alice!native@127.0.0.1 PRIVMSG carol :hi carol");

    // A nick held on one node is refused on every other.
    bob.send("/nick alice");
    bob.expect("! nick-taken alice is already in use");
    carol.send("NICK bob");
    carol.expect(":c.test 433 carol bob :Nickname is already in use");
    let mut late = Irc::connect(&c, "c.test");
    late.send("NICK alice");
    late.send("USER x 0 * :X");
    late.expect(":c.test 433 * alice :Nickname is already in use");

    // Topics and modes set on one node hold on the others.
    alice.send("/topic #r the topic");
    bob.expect("* alice set the topic of #r to: the topic");
    carol.expect(":alice!native@127.0.0.1 TOPIC #r :the topic");
    alice.send("/mode #r +m");
    bob.expect("* alice sets mode +m on #r");
    carol.expect(":alice!native@127.0.0.1 MODE #r +m");
    carol.send("PRIVMSG #r :muted?");
    carol.numeric("404");
    alice.send("/voice carol #r");
    carol.expect(":alice!native@127.0.0.1 MODE #r +v carol");
    carol.send("PRIVMSG #r :voiced");
    alice.expect_eventually("#r <carol> voiced");
    bob.expect_eventually("#r <carol> voiced");

    // LIST, WHOIS and away across nodes.
    carol.send("LIST");
    let listed = carol.numeric("322");
    let listed = if listed.contains(" #r ") {
        listed
    } else {
        carol.numeric("322")
    };
    assert_eq!(listed, ":c.test 322 carol #r 3 :the topic");
    carol.numeric("323");
    carol.send("CAP REQ :away-notify");
    carol.expect(":c.test CAP carol ACK away-notify");
    alice.send("/away at lunch");
    alice.expect_eventually("= away on");
    // Away travels as alice's record: here once carol hears it.
    carol.expect(":alice!native@127.0.0.1 AWAY :at lunch");
    carol.send("WHOIS alice");
    let user = carol.numeric("311");
    assert!(user.contains(" alice native 127.0.0.1 "), "{user}");
    let rest = carol
        .c
        .expect_eventually(":c.test 318 carol alice :End of /WHOIS list");
    let has = |want: &dyn Fn(&str) -> bool| rest.iter().any(|l| want(l));
    assert!(
        has(&|l| l.starts_with(":c.test 319 carol alice ") && l.contains("@#r")),
        "{rest:#?}"
    );
    // The server alice is on, not this one.
    assert!(
        has(&|l| l == ":c.test 312 carol alice a.test snak"),
        "{rest:#?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.starts_with(":c.test 301 carol alice ") && l.ends_with(":at lunch")),
        "{rest:#?}"
    );
    carol.send("PRIVMSG alice :are you there");
    let away = carol.numeric("301");
    assert!(away.ends_with(":at lunch"), "{away}");
    alice.expect("@alice <carol> are you there");
    alice.send("/back");

    // MONITOR hears a user of another node arrive and leave.
    carol.send("MONITOR + dave");
    carol.numeric("731");
    let mut dave = b.named("dave");
    let online = carol.numeric("730");
    assert!(online.ends_with(" dave!native@127.0.0.1"), "{online}");

    // Files go between users of one server only: the offer is refused, and says why.
    alice.send("/offer carol 10 notes.txt");
    alice.expect_eventually(
        "! cannot-receive-files carol is on another server of this network: direct transfers go \
         between users of one server only; send carol a file link from the web page instead",
    );

    // Nick changes, parts and quits are seen everywhere; a freed nick is free everywhere.
    bob.send("/nick bobby");
    bob.expect_eventually("* bob is now known as bobby");
    alice.expect_eventually("* bob is now known as bobby");
    carol.c.line_starting(":bob!native@127.0.0.1 NICK bobby");
    let mut bob2 = Irc::named(&c, "c.test", "bob");
    bob2.sync();
    bob.send("/part #r");
    alice.expect_eventually("* bobby left #r");
    carol.c.line_starting(":bobby!native@127.0.0.1 PART #r");
    bob.send("/quit");
    alice.expect_eventually("* bobby quit");
    dave.send("/quit");
    let offline = carol.numeric("731");
    assert!(offline.ends_with(" dave"), "{offline}");
    assert_eq!(who(&mut alice, "#r"), ["+carol", "@alice"]);
    carol.sync();
}

#[test]
fn a_killed_node_leaves_every_member_list_within_the_ttl() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("kill");
    let a = node(&nats, "a.test", &["--bus-ttl", "3"]);
    let mut b = node(&nats, "b.test", &["--bus-ttl", "3"]);
    let mut probes = mesh(&[&a, &b]);
    let mut bob = b.named("bob");
    bob.send("/join #k");
    bob.expect_eventually("* bob joined #k");
    let mut alice = a.named("alice");
    alice.send("/join #k");
    alice.expect_eventually("* alice joined #k");
    bob.expect_eventually("* alice joined #k");
    // Node a may have made #k before its watch showed b's entry: it lists bob once it has
    // merged b's members in (bob stays the one operator: he founded the room).
    let deadline = Instant::now() + SLOW;
    loop {
        let members = who(&mut alice, "#k");
        if members == ["@bob", "alice"] {
            break;
        }
        assert!(Instant::now() < deadline, "alice lists #k as {members:?}");
        std::thread::sleep(POLL);
    }

    common::signal(b.pid(), "-KILL");
    let killed = Instant::now();
    common::wait_exit(&mut b.child);
    wait_line(&mut alice, SLOW, |l| l.starts_with("* bob quit"));
    let gone = killed.elapsed();
    // The TTL, plus the renewal the node last made before it (a third of it), plus slack
    // for a loaded machine.
    assert!(gone < Duration::from_secs(12), "gone after {gone:?}");
    assert_eq!(who(&mut alice, "#k"), ["alice"]);
    // Its nicks are free again.
    probes[0].send("/nick bob");
    probes[0].expect_eventually("* probe1 is now known as bob");
    eprintln!("a killed node was gone after {gone:?} (--bus-ttl 3)");
}

#[test]
fn nats_restarted_local_users_keep_chatting_then_the_network_is_whole() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let mut nats = Nats::start("restart");
    let a = node(&nats, "a.test", &["--bus-grace", "600"]);
    let b = node(&nats, "b.test", &["--bus-grace", "600"]);
    let mut probes = mesh(&[&a, &b]);
    let mut alice = a.named("alice");
    let mut amy = a.named("amy");
    let mut bob = b.named("bob");
    for c in [&mut alice, &mut amy, &mut bob] {
        if c.nick == "bob" {
            wait_listed(&mut probes[1], "#s");
        }
        c.send("/join #s");
        let me = format!("* {} joined #s", c.nick);
        c.expect_eventually(&me);
    }
    wait_line(&mut alice, SLOW, |l| l == "* bob joined #s");

    nats.kill();
    for c in [&mut alice, &mut amy, &mut bob] {
        wait_line(c, SLOW, |l| {
            l == "* the network is split: users on other servers cannot be reached"
        });
    }
    // Users of one node still chat while the network is split.
    alice.send("still here");
    amy.expect_eventually("#s <alice> still here");
    // A nick cannot be taken while nobody can say whether it is free.
    amy.send("/nick amelia");
    wait_line(&mut amy, SLOW, |l| l.starts_with("! network-split amelia"));

    nats.restart();
    for c in [&mut alice, &mut amy, &mut bob] {
        wait_line(c, SLOW, |l| l == "* the network is whole again");
    }
    // Resynchronised: messages cross again, members are listed once, nicks stay unique.
    bob.send("/say #s back");
    alice.expect_eventually("#s <bob> back");
    amy.expect_eventually("#s <bob> back");
    alice.send("hello bob");
    bob.expect_eventually("#s <alice> hello bob");
    assert_eq!(who(&mut bob, "#s"), ["@alice", "amy", "bob"]);
    bob.send("/nick alice");
    bob.expect_eventually("! nick-taken alice is already in use");
}

/// Returns once `c` lists exactly `want` (sorted, without prefixes) in `room`.
fn wait_members(c: &mut Client, room: &str, want: &[String]) {
    let deadline = Instant::now() + SLOW;
    loop {
        let got = bare(who(c, room));
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} lists {room} as {got:?}",
            c.nick
        );
        std::thread::sleep(POLL);
    }
}

/// Without the prefixes `@` and `+`, sorted.
fn bare(members: Vec<String>) -> Vec<String> {
    let mut bare: Vec<String> = members
        .into_iter()
        .map(|m| m.trim_start_matches(['@', '+']).to_string())
        .collect();
    bare.sort();
    bare
}

#[test]
fn two_first_joins_at_once_on_two_nodes_end_in_one_room() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("founders");
    let a = node(&nats, "a.test", &[]);
    let b = node(&nats, "b.test", &[]);
    let _probes = mesh(&[&a, &b]);
    for round in 0..10 {
        let room = format!("#c{round}");
        // (Renamed past the lobby's noise: last round's users quitting.)
        let mut alice = named_when_up(&a, &format!("alice{round}"));
        let mut bob = named_when_up(&b, &format!("bob{round}"));
        alice.send(&format!("/join {room}"));
        bob.send(&format!("/join {room}"));
        // Both end up listing both: at once (a node that heard of the other's room first
        // asked for its state), or once each node lists the other's room and merges in its
        // members.
        let both = vec![alice.nick.clone(), bob.nick.clone()];
        for c in [&mut alice, &mut bob] {
            wait_members(c, &room, &both);
        }
        bob.send(&format!("/say {room} hi"));
        alice.expect_eventually(&format!("{room} <{}> hi", bob.nick));
        alice.send(&format!("/say {room} hi"));
        bob.expect_eventually(&format!("{room} <{}> hi", alice.nick));
    }
}

#[test]
fn of_two_users_racing_for_one_nick_on_two_nodes_exactly_one_wins_100_times() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("race");
    let a = node(&nats, "a.test", &[]);
    let b = node(&nats, "b.test", &[]);
    let _probes = mesh(&[&a, &b]);
    let mut x = a.named("racer-a");
    let mut y = b.named("racer-b");
    for c in [&mut x, &mut y] {
        c.send("/part #lobby");
        let me = format!("* {} left #lobby", c.nick);
        c.expect_eventually(&me);
        c.expect("= current none");
    }
    let (mut wins_a, mut wins_b) = (0, 0);
    for round in 0..100 {
        let nick = format!("race{round}");
        let ask = format!("/nick {nick}");
        x.send(&ask);
        y.send(&ask);
        let refused = format!("! nick-taken {nick} is already in use");
        let mut won = [false; 2];
        for (i, c) in [&mut x, &mut y].into_iter().enumerate() {
            let line = c.line();
            let renamed = format!("* {} is now known as {nick}", c.nick);
            if line == renamed {
                won[i] = true;
                c.nick = nick.clone();
            } else {
                assert_eq!(line, refused, "round {round}");
            }
        }
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}");
        if won[0] {
            wins_a += 1;
        } else {
            wins_b += 1;
        }
    }
    eprintln!("nick race: node a won {wins_a}, node b {wins_b}");
}

#[test]
fn of_two_first_joins_at_once_on_two_nodes_exactly_one_is_the_founder_100_times() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("founding");
    let a = node(&nats, "a.test", &[]);
    let b = node(&nats, "b.test", &[]);
    let _probes = mesh(&[&a, &b]);
    let mut x = a.named("fa");
    let mut y = b.named("fb");
    let both = vec![x.nick.clone(), y.nick.clone()];
    let (mut ops_a, mut ops_b) = (0, 0);
    for round in 0..100 {
        let room = format!("#f{round}");
        x.send(&format!("/join {room}"));
        y.send(&format!("/join {room}"));
        for c in [&mut x, &mut y] {
            let me = format!("* {} joined {room}", c.nick);
            c.expect_eventually(&me);
        }
        for c in [&mut x, &mut y] {
            wait_members(c, &room, &both);
        }
        // Both nodes agree on who the one operator is.
        let (seen_a, seen_b) = (who(&mut x, &room), who(&mut y, &room));
        assert_eq!(seen_a, seen_b, "round {round}");
        let ops: Vec<&String> = seen_a.iter().filter(|m| m.starts_with('@')).collect();
        assert_eq!(ops.len(), 1, "round {round}: {seen_a:?}");
        if *ops[0] == format!("@{}", x.nick) {
            ops_a += 1;
        } else {
            ops_b += 1;
        }
        for c in [&mut x, &mut y] {
            c.send(&format!("/part {room}"));
            let me = format!("* {} left {room}", c.nick);
            c.expect_eventually(&me);
        }
    }
    eprintln!("founding race: node a founded {ops_a}, node b {ops_b}");
    // A room founded once more after everyone left has a founder again (its key was let go,
    // or is taken over).
    x.send("/join #f0");
    x.expect_eventually(&format!("* {} joined #f0", x.nick));
    assert_eq!(who(&mut x, "#f0"), [format!("@{}", x.nick)]);
}

/// Every line of a native `/who ROOM` (big rooms take several lines) up to its end; returns
/// the members it lists and the lines that came before the reply.
fn who_all(c: &mut Client, room: &str) -> (Vec<String>, Vec<String>) {
    c.send(&format!("/who {room}"));
    let (prefix, end) = (format!("= who {room} "), format!("= end who {room} "));
    let (mut members, mut before) = (Vec::new(), Vec::new());
    loop {
        let l = c.line();
        if let Some(names) = l.strip_prefix(&prefix) {
            members.extend(names.split(' ').map(str::to_string));
        } else if l.starts_with(&end) {
            let count: usize = l[end.len()..].parse().expect("a count");
            assert_eq!(count, members.len(), "{l}");
            return (members, before);
        } else {
            before.push(l);
        }
    }
}

#[test]
fn a_first_join_gathers_a_room_bigger_than_one_state_chunk_from_another_node() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("chunks");
    let a = node(&nats, "a.test", &[]);
    // More arrivals than one state answer carries (500 members a chunk): all in #lobby.
    const CROWD: usize = 520;
    let crowd: Vec<Client> = (0..CROWD).map(|_| a.client()).collect();
    let mut on_a = a.named("counter");
    let deadline = Instant::now() + SLOW;
    while who_all(&mut on_a, "#lobby").0.len() < CROWD + 1 {
        assert!(Instant::now() < deadline, "the crowd never all arrived");
        std::thread::sleep(POLL);
    }
    // A node started now: its first arrival's join asks node a for the lobby's state, in
    // two chunks, and lists every member.
    let b = node(&nats, "b.test", &[]);
    let mut late = b.client();
    let want = CROWD + 2;
    let deadline = Instant::now() + SLOW;
    loop {
        let (members, _) = who_all(&mut late, "#lobby");
        let mut unique = members.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), members.len(), "listed twice: {members:?}");
        if members.len() == want {
            assert!(members
                .iter()
                .any(|m| m.trim_start_matches('@') == "counter"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {want} members listed",
            members.len()
        );
        std::thread::sleep(POLL);
    }
    drop(crowd);
}

#[test]
fn a_quiet_room_announces_no_joins_from_another_node_but_lists_and_counts_every_member() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("quiet");
    let quiet = ["--quiet-room-size", "3"];
    let a = node(&nats, "a.test", &quiet);
    let b = node(&nats, "b.test", &quiet);
    let _probes = mesh(&[&a, &b]);
    let mut watcher = b.named("watcher");
    watcher.send("/join #q");
    watcher.expect_eventually("* watcher joined #q");
    let mut joiners = Vec::new();
    for i in 1..=4 {
        let mut c = a.named(&format!("q{i}"));
        c.send("/join #q");
        c.expect_eventually(&format!("* q{i} joined #q"));
        // The room is at most 3 (announced) with q1 and q2; q3 and q4 make it quiet.
        if i <= 2 {
            watcher.expect_eventually(&format!("* q{i} joined #q"));
        }
        joiners.push(c);
    }
    let want: Vec<String> = ["q1", "q2", "q3", "q4", "watcher"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let deadline = Instant::now() + SLOW;
    loop {
        let (members, before) = who_all(&mut watcher, "#q");
        for l in &before {
            assert!(!l.contains(" joined #q"), "announced in a quiet room: {l}");
        }
        if bare(members.clone()) == want {
            break;
        }
        assert!(Instant::now() < deadline, "watcher lists {members:?}");
        std::thread::sleep(POLL);
    }
    // The room's count is the network's on both nodes (LIST).
    for c in [&mut watcher, &mut joiners[0]] {
        let deadline = Instant::now() + SLOW;
        loop {
            c.send("/rooms");
            let mut count = None;
            loop {
                let l = c.line();
                if let Some(rest) = l.strip_prefix("= room #q ") {
                    count = rest.split(' ').next().map(str::to_string);
                }
                if l.starts_with("= end rooms") {
                    break;
                }
            }
            if count.as_deref() == Some("5") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} counts #q as {count:?}",
                c.nick
            );
            std::thread::sleep(POLL);
        }
    }
    // A part in the quiet room is not announced either, and leaves the list right.
    joiners[3].send("/part #q");
    joiners[3].expect_eventually("* q4 left #q");
    let want: Vec<String> = want.into_iter().filter(|m| m != "q4").collect();
    let deadline = Instant::now() + SLOW;
    loop {
        let (members, before) = who_all(&mut watcher, "#q");
        for l in &before {
            assert!(!l.contains(" left #q"), "announced in a quiet room: {l}");
        }
        if bare(members.clone()) == want {
            break;
        }
        assert!(Instant::now() < deadline, "watcher lists {members:?}");
        std::thread::sleep(POLL);
    }
}

/// The msgid tag a node's /metrics shows (0: none claimed yet).
fn msgid_tag(d: &Daemon) -> u8 {
    use std::io::Write;
    let addr = d.addr("metrics");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("ask for metrics");
    let text = common::http::read_response(&mut s, false).text();
    let line = text
        .lines()
        .find(|l| l.starts_with("snak_network_msgid_tag "))
        .unwrap_or_else(|| panic!("no msgid tag in {text}"));
    line["snak_network_msgid_tag ".len()..]
        .parse()
        .expect("a tag")
}

#[test]
fn three_nodes_claim_three_distinct_msgid_tags_and_their_msgids_carry_them() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("tags");
    let metrics = ["--metrics-listen", "127.0.0.1:0"];
    // Every node asks for the lowest free tag first, so the second and third find it (and
    // maybe the next) taken: the claims collide by construction, not by chance.
    let nodes = [
        node(&nats, "a.test", &metrics),
        node(&nats, "b.test", &metrics),
        node(&nats, "c.test", &metrics),
    ];
    let mut probes = mesh(&[&nodes[0], &nodes[1], &nodes[2]]);
    let deadline = Instant::now() + SLOW;
    let tags: Vec<u8> = loop {
        let tags: Vec<u8> = nodes.iter().map(msgid_tag).collect();
        if tags.iter().all(|&t| t != 0) {
            break tags;
        }
        assert!(
            Instant::now() < deadline,
            "tags never all claimed: {tags:?}"
        );
        std::thread::sleep(POLL);
    };
    let mut sorted = tags.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3], "the three lowest, one each: {tags:?}");
    // A message made on each node reaches an IRC user on the first with a msgid whose top
    // byte is its node's tag.
    let mut irc = Irc::named(&nodes[0], "a.test", "tagwatch");
    irc.send("CAP REQ :message-tags");
    irc.c.line_starting(":a.test CAP tagwatch ACK");
    irc.send("JOIN #lobby");
    irc.numeric("366");
    irc.sync();
    for (i, p) in probes.iter_mut().enumerate() {
        let text = format!("from node {i}");
        p.send(&format!("/say #lobby {text}"));
        let want = format!(" PRIVMSG #lobby :{text}");
        let line = wait_line(&mut irc.c, SLOW, |l| l.ends_with(&want));
        let id = line
            .split([';', ' ', '@'])
            .find_map(|t| t.strip_prefix("msgid="))
            .unwrap_or_else(|| panic!("no msgid in {line}"));
        let top = u8::from_str_radix(&id[..2], 16).expect("hex msgid");
        assert_eq!(top, tags[i], "node {i}'s msgid {id}");
    }
}

/// The tags of `nodes` once every one shows one (polled: a claim takes a round trip).
fn claimed_tags(nodes: &[&Daemon]) -> Vec<u8> {
    let deadline = Instant::now() + SLOW;
    loop {
        let tags: Vec<u8> = nodes.iter().map(|d| msgid_tag(d)).collect();
        if tags.iter().all(|&t| t != 0) {
            return tags;
        }
        assert!(
            Instant::now() < deadline,
            "tags never all claimed: {tags:?}"
        );
        std::thread::sleep(POLL);
    }
}

#[test]
fn after_a_nats_outage_longer_than_the_ttl_the_nodes_claim_distinct_tags_again() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let mut nats = Nats::start("retag");
    let args = ["--metrics-listen", "127.0.0.1:0", "--bus-ttl", "2"];
    let a = node(&nats, "a.test", &args);
    let b = node(&nats, "b.test", &args);
    let mut probes = mesh(&[&a, &b]);
    let before = claimed_tags(&[&a, &b]);
    assert_ne!(before[0], before[1]);
    nats.kill();
    for p in &mut probes {
        wait_line(p, SLOW, |l| {
            l == "* the network is split: users on other servers cannot be reached"
        });
    }
    // A third node starts while NATS is away (it says ready after its bounded wait, longer
    // than the TTL: the tags' keys have expired by the restart), so it asks for the lowest
    // free tag at the same moment the others claim theirs again.
    let c = node(&nats, "c.test", &args);
    nats.restart();
    for p in &mut probes {
        wait_line(p, SLOW, |l| l == "* the network is whole again");
    }
    let after = claimed_tags(&[&a, &b, &c]);
    let mut sorted = after.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        3,
        "tags after the outage: {after:?} (before {before:?})"
    );
    eprintln!("msgid tags of a, b: {before:?} before the outage; of a, b, c after: {after:?}");
}

#[test]
fn nodes_on_one_machine_share_their_ports() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("ports");
    let a = node(&nats, "a.test", &[]);
    let irc = a.irc.expect("an IRC listener").to_string();
    let native = a.native.to_string();
    let url = nats.url();
    let b = Daemon::start_with(
        &["--listen", &native, "--irc-listen", &irc],
        &["--bus", &url, "--server-name", "b.test"],
    );
    assert_eq!(b.native, a.native);
    assert_eq!(b.irc, a.irc);
    // The kernel spreads connections over both; each says which server it reached.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..200 {
        let mut c = Client::connect(a.irc.unwrap());
        c.send_raw(format!("NICK port{i}\r\nUSER p 0 * :P\r\n").as_bytes());
        let host = c.line_starting(":");
        let srv = host[1..].split(' ').next().unwrap().to_string();
        seen.insert(srv);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["a.test", "b.test"],
        "200 connections all went to one node"
    );
}

/// `ready` means the node has reached NATS: a nick can be claimed at once, with no retry.
#[test]
fn a_node_is_ready_once_it_has_reached_nats() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let _serial = one_at_a_time();
    let nats = Nats::start("ready");
    let d = node(&nats, "r.test", &[]);
    let mut c = d.client();
    c.send("/nick rita");
    c.expect(&format!("* {} is now known as rita", c.nick));
}

/// A node whose NATS does not answer still starts (after a bounded wait), serves its local
/// users and says the network is split.
#[test]
fn a_node_without_nats_starts_split_after_a_bounded_wait() {
    let _serial = one_at_a_time();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let asked = Instant::now();
    let d = Daemon::start(&["--bus", &url, "--server-name", "s.test"]);
    // Not `ready` before the wait is over: a node says ready once it can serve the network.
    assert!(asked.elapsed() >= snak::config::BUS_READY_WAIT);
    let mut a = d.client();
    let mut b = d.client();
    a.expect_eventually(&format!("* {} joined #lobby", b.nick));
    b.send("hello");
    a.expect(&format!("#lobby <{}> hello", b.nick));
    a.send("/nick sam");
    wait_line(&mut a, SLOW, |l| l.starts_with("! network-split sam "));
}

/// A user whose record is being rewritten in the nicks bucket (it just registered, so its
/// account changed) when it quits: its nick is given back once the rewrite answers, at the
/// revision that made, not left taken at the old one.
#[test]
fn a_user_quitting_right_after_registering_frees_its_nick() {
    let _one = one_at_a_time();
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("quit-update");
    let (a, b) = (node(&nats, "a.test", &[]), node(&nats, "b.test", &[]));
    let _probes = mesh(&[&a, &b]);
    for round in 0..5 {
        let nick = format!("user{round}");
        let mut u = named_when_up(&a, &nick);
        u.send("/register sesame");
        wait_line(&mut u, SLOW, |l| l == format!("= registered {nick}"));
        u.send("/quit");
        let mut m = named_when_up(&b, &format!("m{round}"));
        let deadline = Instant::now() + SLOW;
        loop {
            m.send(&format!("/nick {nick}"));
            let taken = format!("! nick-taken {nick}");
            let renamed = format!(" is now known as {nick}");
            let got = wait_line(&mut m, SLOW, |l| {
                l.starts_with(&taken) || l.ends_with(&renamed)
            });
            if got.ends_with(&renamed) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: {got}");
            std::thread::sleep(POLL);
        }
    }
}
