//! Hostile and faulty clients over real sockets, against the real binary: whatever one client
//! does, the others keep chatting, memory stays bounded and nobody speaks as someone else.
//!
//! Each test names the defence it proves. What `tests/native.rs` and `tests/irc.rs` already
//! cover (bad UTF-8, BEL, lone CR and over-long lines, a full server, the PING timeout, a sendq
//! drop without memory figures) is not repeated here.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, Daemon, WAIT};

const QUIET: Duration = Duration::from_millis(300);
const S: &str = ":snak.localhost";

/// Two named native clients, each having seen the other arrive.
fn pair(d: &Daemon) -> (Client, Client) {
    let mut a = d.named("alice");
    let b = d.named("bob");
    a.expect_eventually("* guest-2 is now known as bob");
    (a, b)
}

/// Registers an IRC client as `nick` and skips the welcome burst.
fn irc_named(d: &Daemon, nick: &str) -> Client {
    irc_on(Client::connect(d.irc.expect("an IRC listener")), nick)
}

/// Registers the IRC client `c` as `nick` and skips the welcome burst.
fn irc_on(mut c: Client, nick: &str) -> Client {
    c.nick = nick.to_string();
    c.send_raw(format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n").as_bytes());
    c.line_starting(&format!("{S} 001 {nick} "));
    c.line_starting(&format!("{S} 422 {nick} "));
    c
}

fn irc_send(c: &mut Client, line: &str) {
    c.send_raw(format!("{line}\r\n").as_bytes());
}

// ---- per-address limits ----

#[test]
fn per_address_cap_refuses_with_one_line_and_spares_the_others() {
    let d = Daemon::start(&[
        "--limit-loopback",
        "--max-per-ip",
        "2",
        "--max-conn-rate",
        "100",
    ]);
    let (mut a, mut b) = pair(&d);
    let mut third = Client::connect(d.native);
    assert_eq!(
        third.expect_closed(),
        ["! too-many-connections from your address; close one and try again"]
    );
    // The IRC listener counts against the same address.
    let mut irc = Client::connect(d.irc.unwrap());
    assert_eq!(
        irc.expect_closed(),
        ["ERROR :Closing link: too many connections from your address\r"]
    );
    // The clients already in heard nothing of it and still chat.
    a.send("still here");
    b.expect("#lobby <alice> still here");
    b.expect_silence(QUIET);
    a.expect_silence(QUIET);
    // A place freed is a place taken.
    drop(b);
    a.expect("* bob quit (connection closed)");
    let c = d.client();
    assert!(c.nick.starts_with("guest-"), "{}", c.nick);
}

#[test]
fn per_address_connection_rate_refuses_with_one_line_and_spares_the_others() {
    let d = Daemon::start(&[
        "--limit-loopback",
        "--max-per-ip",
        "100",
        "--max-conn-rate",
        "3",
    ]);
    let mut a = d.named("alice");
    for _ in 0..2 {
        drop(d.client());
    }
    let mut fourth = Client::connect(d.native);
    assert_eq!(
        fourth.expect_closed(),
        ["! too-fast you connect too often; try again in a minute"]
    );
    let mut irc = Client::connect(d.irc.unwrap());
    assert_eq!(
        irc.expect_closed(),
        ["ERROR :Closing link: you connect too often, try again in a minute\r"]
    );
    // Closing connections does not give the rate back within the minute.
    let mut fifth = Client::connect(d.native);
    assert_eq!(
        fifth.expect_closed(),
        ["! too-fast you connect too often; try again in a minute"]
    );
    a.send("/rooms");
    a.line_starting("= room #lobby ");
    a.expect("= end rooms 1");
}

#[test]
fn loopback_is_exempt_from_the_per_address_limits_by_default() {
    let d = Daemon::start(&["--max-per-ip", "1", "--max-conn-rate", "1"]);
    let (mut a, mut b) = pair(&d);
    let mut c = d.named("carol");
    let mut irc = irc_named(&d, "dave");
    irc_send(&mut irc, "JOIN #lobby");
    irc.line_starting(&format!("{S} 366 dave #lobby "));
    c.send("all four of us");
    a.expect_eventually("#lobby <carol> all four of us");
    b.expect_eventually("#lobby <carol> all four of us");
    irc.expect(":carol!native@127.0.0.1 PRIVMSG #lobby :all four of us");
}

// ---- flood control ----

/// Lines `#lobby <NICK> PREFIXn` must arrive with n = 0, 1, 2, ... in order.
fn flood_index(line: &str, from: &str, prefix: &str) -> Option<usize> {
    line.strip_prefix(&format!("#lobby <{from}> {prefix}"))
        .and_then(|n| n.parse().ok())
}

#[test]
fn a_flooder_is_slowed_then_dropped_while_a_normal_client_gets_through() {
    // The flood limit is on by default.
    let d = Daemon::start(&[]);
    let mut obs = d.named("obs");
    let mut norm = d.named("norm");
    let mut fl = d.named("flooder");
    obs.expect_eventually("* guest-3 is now known as flooder");
    norm.expect_eventually("* guest-3 is now known as flooder");

    // A burst far past the allowance: it is taken slowly, not refused, and the flooder is told.
    let burst: String = (0..60).map(|i| format!("f{i}\n")).collect();
    fl.send_raw(burst.as_bytes());
    fl.expect("! flood you send too fast; your lines are being delayed");
    // Throttling is in force now; the normal client speaks once.
    norm.send("hello from norm");
    let mut next_f = 0;
    loop {
        let line = obs.line();
        if line == "#lobby <norm> hello from norm" {
            break;
        }
        assert_eq!(
            flood_index(&line, "flooder", "f"),
            Some(next_f),
            "flood lines arrive in order, none lost: {line}"
        );
        next_f += 1;
    }
    // Ordering, not speed: the normal message overtook the flooder's backlog.
    assert!(
        next_f < 60,
        "the normal message waited behind the whole flood"
    );

    // The flooder keeps going: once four lines' worth of unhandled input piles up, it is gone.
    let line = format!("{}\n", "x".repeat(200));
    let more = line.repeat(300); // 60 KB, past 4 x the longest line
    let _ = fl.stream.write_all(more.as_bytes());
    let mut saw_quit = false;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let line = obs.line();
        if line == "* flooder quit (excess flood)" {
            saw_quit = true;
            break;
        }
        if let Some(i) = flood_index(&line, "flooder", "f") {
            assert_eq!(i, next_f, "flood lines arrive in order");
            next_f += 1;
        } else {
            assert!(
                line.starts_with("#lobby <flooder> xxx"),
                "unexpected line {line}"
            );
            assert_eq!(next_f, 60, "x lines came before the f backlog was done");
        }
    }
    assert!(saw_quit, "the flooder was never dropped");
    norm.expect_eventually("* flooder quit (excess flood)");
    // The flooder's connection is closed.
    fl.expect_closed();
    // And the others carry on at once.
    norm.send("after the flood");
    obs.expect("#lobby <norm> after the flood");
}

#[test]
fn an_irc_flooder_is_told_and_dropped_and_native_users_see_why() {
    let d = Daemon::start(&[]);
    let mut obs = d.named("obs");
    let mut fl = irc_named(&d, "ircfl");
    irc_send(&mut fl, "JOIN #lobby");
    fl.line_starting(&format!("{S} 366 ircfl #lobby "));
    obs.expect("* ircfl joined #lobby");
    let burst: String = (0..60)
        .map(|i| format!("PRIVMSG #lobby :f{i}\r\n"))
        .collect();
    fl.send_raw(burst.as_bytes());
    fl.expect(&format!(
        "{S} NOTICE ircfl :You send too fast; your lines are being delayed"
    ));
    let more = format!("PRIVMSG #lobby :{}\r\n", "y".repeat(400)).repeat(150);
    let _ = fl.stream.write_all(more.as_bytes());
    let mut next = 0;
    loop {
        let line = obs.line();
        if line == "* ircfl quit (excess flood)" {
            break;
        }
        if let Some(i) = flood_index(&line, "ircfl", "f") {
            assert_eq!(i, next, "in order");
            next += 1;
        }
    }
    fl.expect_closed();
}

// ---- slowloris and idle ----

#[test]
fn a_partial_line_is_never_buffered_past_the_limit() {
    let d = Daemon::start(&["--max-line", "100"]);
    let (mut a, mut b) = pair(&d);
    // max-line + 1 bytes and no line end: refused, not relayed when the partial line is taken.
    a.send_raw(&[b'x'; 101]);
    a.expect("! line-too-long lines are limited to 100 bytes; it was dropped");
    b.expect_silence(QUIET);
    // A partial line that ends in CR may be one byte longer: CR LF is the line end.
    a.send_raw(format!("{}\r", "y".repeat(100)).as_bytes());
    b.expect(&format!("#lobby <alice> {}", "y".repeat(100)));
    // Megabytes without a line end: one error, nothing kept. The server has read all of it
    // once the next line is relayed; had it kept what it read, it would have grown by that.
    let before = common::rss_kib(d.pid());
    let chunk = vec![b'z'; 64 * 1024];
    let rounds = 64;
    for _ in 0..rounds {
        a.send_raw(&chunk);
    }
    a.expect("! line-too-long lines are limited to 100 bytes; it was dropped");
    a.send_raw(b"\nback to normal\n");
    b.expect("#lobby <alice> back to normal");
    let after = common::rss_kib(d.pid());
    let sent_kib = (rounds * chunk.len() / 1024) as u64;
    assert!(
        after < before + sent_kib / 2,
        "{sent_kib} KiB without a line end grew the server from {before} to {after} KiB"
    );
    a.expect_silence(QUIET);
    b.expect_silence(QUIET);
}

#[test]
fn an_irc_line_without_an_end_is_cut_at_the_limit() {
    let d = Daemon::start(&[]);
    let mut a = irc_named(&d, "alice");
    let mut n = d.named("nat");
    irc_send(&mut a, "JOIN #lobby");
    a.line_starting(&format!("{S} 366 alice #lobby "));
    n.expect("* alice joined #lobby");
    // Past the longest line (8191 of tags + 510): answered at once, no line end needed.
    a.send_raw(format!("PRIVMSG #lobby :{}", "x".repeat(9000)).as_bytes());
    a.expect(&format!("{S} 417 alice :Input line was too long"));
    a.send_raw(b"\r\nPRIVMSG #lobby :fine\r\n");
    n.expect("#lobby <alice> fine");
    n.expect_silence(QUIET);
}

#[test]
fn an_irc_client_that_never_registers_is_closed() {
    // The registration deadline is 60 s, or --irc-ping if that is shorter.
    let d = Daemon::start(&["--irc-ping", "1"]);
    let mut quiet = Client::connect(d.irc.unwrap());
    // A slowloris: a registration line dribbled a byte at a time, never finished.
    let mut dribbler = Client::connect(d.irc.unwrap());
    let started = Instant::now();
    let mut closed_early = false;
    for &byte in b"NICK slowloris-is-never-done".iter() {
        if dribbler.stream.write_all(&[byte]).is_err() {
            closed_early = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        quiet.expect_closed(),
        ["ERROR :Closing link (Registration timed out)\r"]
    );
    let lines = dribbler.expect_closed();
    assert_eq!(lines, ["ERROR :Closing link (Registration timed out)\r"]);
    assert!(
        closed_early || started.elapsed() >= Duration::from_secs(1),
        "closed before its deadline"
    );
    // A client that registers in time stays.
    let mut ok = irc_named(&d, "prompt");
    irc_send(&mut ok, "PING :alive");
    ok.expect(&format!("{S} PONG snak.localhost alive"));
}

// ---- slow consumers ----

#[test]
fn memory_stays_bounded_while_readers_never_read_and_they_are_dropped() {
    let max_sendq = 262_144;
    // History off: with --data-dir none the store keeps its lines in this process's memory,
    // which is not what this test measures (tests/history.rs and BENCHMARKS.md do).
    let d = Daemon::start(&[
        "--max-sendq",
        &max_sendq.to_string(),
        "--no-flood-limit",
        "--no-history-store",
    ]);
    let (mut a, mut b) = pair(&d);
    // Five sleepers that never read: three native, two IRC in the room, each with a small
    // receive buffer on its own end.
    let rcvbuf = 4096;
    let mut sleepers = Vec::new();
    for n in 1..=3 {
        sleepers.push(d.named_small(&format!("sleep{n}"), rcvbuf));
    }
    for n in 4..=5 {
        let nick = format!("sleep{n}");
        let mut s = irc_on(
            Client::connect_with(d.irc.unwrap(), Some(rcvbuf), None),
            &nick,
        );
        irc_send(&mut s, "JOIN #lobby");
        s.line_starting(&format!("{S} 366 {nick} #lobby "));
        b.expect_eventually(&format!("* {nick} joined #lobby"));
        sleepers.push(s);
    }
    let baseline = common::rss_kib(d.pid());

    // Each sleeper's connection holds at most a full send buffer on the server's end and a
    // small receive buffer on its own; past that and its send queue it must be dropped. Twice
    // that, and it was not.
    let kernel = common::net::tcp_buffer_max(true) + 64 * 1024;
    let limit = 2 * (kernel + max_sendq);
    let text = "m".repeat(440);
    let batch = 100;
    let mut samples = Vec::new();
    let mut dropped = Vec::new();
    let (mut sent, mut i) = (0, 0);
    while dropped.len() < sleepers.len() {
        assert!(
            sent < limit,
            "after {sent} bytes only {dropped:?} were dropped (the kernel holds at most \
             {kernel} bytes of each)"
        );
        let lines: String = (i..i + batch).map(|n| format!("{n} {text}\n")).collect();
        a.send_raw(lines.as_bytes());
        sent += lines.len();
        let mut n = i;
        while n < i + batch {
            let line = b.line();
            if let Some(who) = line
                .strip_prefix("* ")
                .and_then(|r| r.strip_suffix(" quit (sendq exceeded)"))
            {
                dropped.push(who.to_string());
                continue;
            }
            assert_eq!(line, format!("#lobby <alice> {n} {text}"));
            n += 1;
        }
        i += batch;
        if i % 1000 == 0 {
            samples.push(common::rss_kib(d.pid()));
        }
    }
    dropped.sort();
    assert_eq!(dropped, ["sleep1", "sleep2", "sleep3", "sleep4", "sleep5"]);
    samples.push(common::rss_kib(d.pid()));
    let peak = *samples.iter().max().unwrap();
    eprintln!("sent {sent} bytes; VmRSS baseline {baseline} KiB, while sending {samples:?} KiB");
    // What the server may hold is bounded by its configuration, not by the amount sent: each
    // sleeper's send queue, encoded once per protocol, and as much again for the allocator;
    // an unbounded server would hold what the kernel did not take, several MB per sleeper.
    let may_hold_kib = (2 * 2 * sleepers.len() * max_sendq + (4 << 20)) / 1024;
    assert!(
        peak < baseline + may_hold_kib as u64,
        "peak {peak} KiB over a baseline of {baseline} KiB; the send queues allow {may_hold_kib} KiB"
    );
    // The sleepers' connections are closed.
    for s in sleepers.iter_mut() {
        s.stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut sink = vec![0u8; 1 << 16];
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "{} was not closed", s.nick);
            match s.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

// ---- running out of file descriptors ----

/// snak under a low open-file limit (its hard limit too, so it cannot raise it).
struct LowFdDaemon {
    child: Child,
    native: SocketAddr,
}

impl LowFdDaemon {
    fn start(limit: u32) -> LowFdDaemon {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_snak"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--no-irc",
                "--no-web",
                "--data-dir",
                "none",
                "--max-clients",
                "1000",
            ])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start snak under sh");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut native = None;
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("snak exited before it was ready: {:?}", child.wait());
            }
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["listening", "native", addr] => native = Some(addr.parse().unwrap()),
                ["ready"] => break,
                _ => {}
            }
        }
        LowFdDaemon {
            child,
            native: native.unwrap(),
        }
    }

    /// User plus system CPU time in seconds, from /proc/PID/stat.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces) start at state, field 3.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
        ticks as f64 / hz as f64
    }
}

impl Drop for LowFdDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects and reads the first line: Ok(client) on a greeting, Err(line) otherwise.
fn try_connect(addr: SocketAddr) -> Result<Client, Vec<String>> {
    let mut c = Client::connect(addr);
    match c.try_line(WAIT) {
        Some(l) if l.starts_with("* Hello, world!") => {
            let nick = l.split("You are ").nth(1).and_then(|r| r.split(' ').next());
            c.nick = nick.unwrap_or_default().to_string();
            Ok(c)
        }
        Some(l) => {
            let mut lines = vec![l];
            lines.extend(c.expect_closed());
            Err(lines)
        }
        None => Err(vec!["<no line: closed or timed out>".into()]),
    }
}

#[test]
fn out_of_descriptors_refuses_politely_does_not_spin_and_recovers() {
    let d = LowFdDaemon::start(40);
    let mut clients = Vec::new();
    let mut refusal = None;
    for _ in 0..100 {
        match try_connect(d.native) {
            Ok(c) => clients.push(c),
            Err(lines) => {
                refusal = Some(lines);
                break;
            }
        }
    }
    assert_eq!(
        refusal.expect("40 descriptors never ran out"),
        ["! server-full try again later"]
    );
    assert!(clients.len() >= 5, "only {} clients fit", clients.len());
    // Out of descriptors and still being knocked on: every knock is answered, and the loop
    // rests instead of spinning on a listener it cannot accept from.
    let cpu_before = d.cpu_seconds();
    let idle_from = Instant::now();
    for _ in 0..5 {
        assert_eq!(
            try_connect(d.native).err(),
            Some(vec!["! server-full try again later".to_string()])
        );
    }
    let knocking: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(d.native).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(1).saturating_sub(idle_from.elapsed()));
    let spent = d.cpu_seconds() - cpu_before;
    let wall = idle_from.elapsed().as_secs_f64();
    assert!(
        spent < 0.5 * wall,
        "the daemon used {spent:.2} s of CPU in {wall:.2} s out of descriptors"
    );
    drop(knocking);
    // The clients already in still chat.
    let n = clients.len();
    let first = clients[0].nick.clone();
    clients[0].send("/nick first");
    clients[n - 1].expect_eventually(&format!("* {first} is now known as first"));
    // Descriptors free up: new connections are accepted again.
    clients.truncate(n - 5);
    let deadline = Instant::now() + WAIT;
    let mut back = None;
    while back.is_none() && Instant::now() < deadline {
        match try_connect(d.native) {
            Ok(c) => back = Some(c),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let mut back = back.expect("no connection accepted after descriptors were freed");
    back.send("/nick back");
    back.expect(&format!("* {} is now known as back", back.nick));
}

// ---- bad bytes ----

#[test]
fn nul_bytes_and_huge_numbers_get_clear_errors() {
    let d = Daemon::start(&["--max-file-size", "1000000"]);
    let (mut a, mut b) = pair(&d);
    a.send_raw(b"nul\0byte\n");
    a.expect("! control-char the line had a control character; it was dropped");
    a.send_raw(b"\0\n");
    a.expect("! control-char the line had a control character; it was dropped");
    a.send("/data 1 99999999999999999999999999");
    a.expect("! bad-frame a data frame is /data ID LEN");
    a.send("/data 99999999999999999999999999 5");
    a.expect("! bad-frame a data frame is /data ID LEN");
    a.send("/data 1 -5");
    a.expect("! bad-frame a data frame is /data ID LEN");
    a.send("/offer bob 99999999999999999999999999 big.bin");
    a.expect("! usage /offer NICK SIZE NAME");
    a.send("/offer bob 18446744073709551615 big.bin");
    a.expect("! file-too-large 18446744073709551615 is over the limit of 1000000 bytes");
    a.send("/accept 99999999999999999999999999");
    a.expect("! usage /accept ID");
    a.send("/cancel 18446744073709551615");
    a.expect("! no-such-transfer 18446744073709551615");
    // None of it reached anyone, and the connection is in step.
    a.send("in step");
    b.expect("#lobby <alice> in step");
    b.expect_silence(QUIET);
}

/// Offers `size` bytes from a (alice) to b (bob) and accepts; returns the transfer id.
fn offer_accepted(a: &mut Client, b: &mut Client, size: usize, name: &str) -> u64 {
    a.send(&format!("/offer bob {size} {name}"));
    let id = common::offered_id(&a.line());
    b.line_starting(&format!("% offer {id} "));
    b.line_starting("* alice offers you");
    b.send(&format!("/accept {id}"));
    a.expect(&format!("% accepted {id}"));
    b.expect(&format!("% accepted {id}"));
    id
}

#[test]
fn a_frame_that_lies_about_its_length_swallows_only_its_own_bytes() {
    let d = Daemon::start(&[]);
    let (mut a, mut b) = pair(&d);
    let mut c = d.named("carol");
    a.expect_eventually("* guest-3 is now known as carol");
    b.expect_eventually("* guest-3 is now known as carol");
    // What follows the header looks like chat and protocol lines, but it is data.
    let payload = b"hi\n/nick mallory\n% done 1\n#x <bob> y\n* bob quit\n";
    let size = payload.len();
    let id = offer_accepted(&mut a, &mut b, size, "f.txt");
    a.send_raw(format!("/data {id} {size}\n").as_bytes());
    a.send_raw(payload);
    let mut got = Vec::new();
    while got.len() < size {
        let header = b.line();
        let len: usize = header
            .strip_prefix(&format!("% data {id} "))
            .unwrap_or_else(|| panic!("expected a data frame, got {header}"))
            .parse()
            .unwrap();
        got.extend(b.read_exact(len));
    }
    assert_eq!(got, payload);
    b.expect(&format!("% done {id}"));
    a.expect(&format!("% done {id}"));
    // Nothing of it reached carol, nor was any of it a command.
    c.expect_silence(QUIET);
    a.send("/who");
    a.expect("= who #lobby @alice bob carol");
}

#[test]
fn a_frame_cut_short_by_a_disconnect_leaves_every_stream_in_step() {
    let d = Daemon::start(&[]);
    let (mut a, mut b) = pair(&d);
    let id = offer_accepted(&mut a, &mut b, 100, "g.bin");
    // A header without its line end, then the sender is gone.
    a.send_raw(format!("/data {id} 5").as_bytes());
    a.stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(a);
    b.expect(&format!("% abort {id} alice disconnected"));
    b.expect("* alice quit (connection closed)");
    b.expect_silence(QUIET);
    // And a body cut short: only what arrived is forwarded, as a frame of its own size.
    let mut c = d.named("alice");
    b.expect_eventually("* guest-3 is now known as alice");
    let id = offer_accepted(&mut c, &mut b, 100, "h.bin");
    c.send_raw(format!("/data {id} 50\n0123456789").as_bytes());
    b.expect(&format!("% data {id} 10"));
    assert_eq!(b.read_exact(10), b"0123456789");
    drop(c);
    b.expect(&format!("% abort {id} alice disconnected"));
    b.expect("* alice quit (connection closed)");
    let mut e = d.named("erin");
    e.send("/who");
    let who = e.line_starting("= who #lobby ");
    assert!(who.contains(" bob") && !who.contains("alice"), "{who}");
}

#[test]
fn confusable_and_invisible_names_are_refused() {
    let d = Daemon::start(&[]);
    let (mut a, mut b) = pair(&d);
    a.send("/join #rust");
    a.expect("* alice joined #rust");
    let invisible = "nicks cannot contain invisible characters (zero-width spaces or joiners, soft hyphens and the like)";
    let bidi = "nicks cannot contain bidirectional controls (such as right-to-left overrides)";
    // bob tries to pass for alice, or to hide characters in a name.
    for (nick, why) in [
        // Cyrillic a: looks like alice, who is here.
        (
            "\u{430}lice",
            "! nick-taken \u{430}lice looks like alice, a nick in use".to_string(),
        ),
        // Fullwidth letters fold to alice itself.
        (
            "\u{ff41}lice",
            "! nick-taken \u{ff41}lice is already in use".to_string(),
        ),
        (
            "bo\u{200b}b",
            format!("! bad-nick bo\u{200b}b: {invisible}"),
        ),
        ("\u{202e}ecila", format!("! bad-nick \u{202e}ecila: {bidi}")),
        (
            "al\u{ad}ice",
            format!("! bad-nick al\u{ad}ice: {invisible}"),
        ),
        (
            "alice\u{feff}",
            format!("! bad-nick alice\u{feff}: {invisible}"),
        ),
    ] {
        b.send(&format!("/nick {nick}"));
        b.expect(&why);
    }
    let room_invisible = "room names cannot contain invisible characters (zero-width spaces or joiners, soft hyphens and the like)";
    for (room, why) in [
        // Cyrillic dze: looks like #rust, which exists.
        ("#ru\u{455}t", "! bad-room #ru\u{455}t: looks like #rust, a room that exists; join that or choose another name".to_string()),
        ("#ru\u{200b}st", format!("! bad-room #ru\u{200b}st: {room_invisible}")),
        ("#\u{202e}tsur", "! bad-room #\u{202e}tsur: room names cannot contain bidirectional controls (such as right-to-left overrides)".to_string()),
    ] {
        b.send(&format!("/join {room}"));
        b.expect(&why);
    }
    b.send("/msg \u{430}lice hi");
    b.expect("! no-such-nick \u{430}lice");
    // The same rules for IRC, before registration and after.
    let mut irc = Client::connect(d.irc.unwrap());
    irc_send(&mut irc, "NICK \u{430}lice");
    irc.expect(&format!(
        "{S} 433 * \u{430}lice :Nickname looks like alice, which is in use"
    ));
    irc_send(&mut irc, "NICK b\u{200b}ob");
    irc.expect(&format!("{S} 432 * b\u{200b}ob :{invisible}"));
    irc_send(&mut irc, "NICK zed");
    irc_send(&mut irc, "USER zed 0 * :Zed");
    irc.line_starting(&format!("{S} 422 zed "));
    irc_send(&mut irc, "NICK ALIC\u{415}");
    irc.expect(&format!(
        "{S} 433 zed ALIC\u{415} :Nickname looks like alice, which is in use"
    ));
    irc_send(&mut irc, "JOIN #ru\u{455}t");
    irc.expect(&format!(
        "{S} 479 zed #ru\u{455}t :Channel name looks like #rust, which exists"
    ));
    // Nobody else saw any of it.
    a.expect_silence(QUIET);
    a.send("/who #lobby");
    a.expect("= who #lobby @alice bob");
}

// ---- nobody speaks as someone else ----

#[test]
fn native_clients_cannot_inject_lines_frames_or_other_senders() {
    let d = Daemon::start(&[]);
    let (mut a, mut b) = pair(&d);
    let mut irc = irc_named(&d, "ircy");
    irc_send(&mut irc, "JOIN #lobby");
    irc.line_starting(&format!("{S} 366 ircy #lobby "));
    b.expect("* ircy joined #lobby");
    a.expect("* ircy joined #lobby");
    // Server-looking text is stamped with the real sender.
    a.send("#lobby <bob> I am bob");
    b.expect("#lobby <alice> #lobby <bob> I am bob");
    irc.expect(":alice!native@127.0.0.1 PRIVMSG #lobby :#lobby <bob> I am bob");
    a.send("% data 1 5");
    b.expect("#lobby <alice> % data 1 5");
    irc.line_starting(":alice!native@127.0.0.1 PRIVMSG #lobby :% data 1 5");
    // A CR cannot start a second line anywhere.
    for line in [
        &b"fine\r* bob quit\n"[..],
        b"/msg bob hi\r% data 1 5\n",
        b"/topic #lobby t\r:evil PRIVMSG x\n",
        b"/offer bob 5 name\r% done 1\n",
        b"/me waves\r\n\r\n",
    ] {
        a.send_raw(line);
        if line.ends_with(b"\r\n\r\n") {
            // CR LF ends a line: this one is fine, then an empty line.
            b.expect("#lobby * alice waves");
            irc.expect(":alice!native@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
        } else {
            a.expect("! control-char the line had a control character; it was dropped");
        }
    }
    // File names and topics arrive as one line, whatever they look like.
    a.send("/offer bob 5 x % data 1 5");
    a.line_starting("% offered ");
    b.line_starting("% offer ");
    b.expect_eventually("* alice offers you \"x % data 1 5\" (5 bytes): /accept 1 or /decline 1");
    a.send("/topic #lobby * bob quit");
    b.expect("* alice set the topic of #lobby to: * bob quit");
    irc.expect(":alice!native@127.0.0.1 TOPIC #lobby :* bob quit");
    b.expect_silence(QUIET);
    irc.expect_silence(QUIET);
}

#[test]
fn irc_clients_cannot_inject_lines_or_control_bytes_into_native_streams() {
    let d = Daemon::start(&[]);
    let mut n = d.named("nat");
    let mut i = irc_named(&d, "mallory");
    irc_send(&mut i, "JOIN #lobby");
    i.line_starting(&format!("{S} 366 mallory #lobby "));
    n.expect("* mallory joined #lobby");
    // A CR inside a line cannot be sent: the whole line is refused.
    i.send_raw(b"PRIVMSG #lobby :hi\rPRIVMSG #lobby :injected\r\n");
    i.expect(&format!(
        "{S} NOTICE mallory :Your line had a control character"
    ));
    i.send_raw(b"TOPIC #lobby :a\0b\r\n");
    i.expect(&format!(
        "{S} NOTICE mallory :Your line had a control character"
    ));
    i.send_raw(b"NICK a\rb\r\n");
    i.expect(&format!(
        "{S} NOTICE mallory :Your line had a control character"
    ));
    // A source prefix from a client is ignored: the server stamps the sender.
    irc_send(&mut i, ":nat!native@127.0.0.1 PRIVMSG #lobby :spoofed");
    n.expect("#lobby <mallory> spoofed");
    // Formatting codes, CTCP quotes and terminal escapes reach native clients without any
    // control byte.
    i.send_raw(
        b"PRIVMSG #lobby :\x02bold\x02 \x0304red\x03 \x1b[2Jclear \x01VERSION\x01 \x7fdel\r\n",
    );
    let line = n.line();
    assert!(
        !line.chars().any(|c| c < ' ' || c == '\u{7f}'),
        "control bytes reached a native client: {line:?}"
    );
    assert!(line.starts_with("#lobby <mallory> bold"), "{line:?}");
    // Topics too (in a room of mallory's, where mallory may set one).
    irc_send(&mut i, "JOIN #m");
    i.line_starting(&format!("{S} 366 mallory #m "));
    n.send("/join #m");
    n.expect("* nat joined #m");
    i.send_raw(b"TOPIC #m :\x02loud\x02 \x1b[1mtopic\r\n");
    n.expect("* mallory set the topic of #m to: loud [1mtopic");
    irc_send(&mut i, "NICK :% data");
    i.line_starting(&format!("{S} 432 mallory "));
    irc_send(&mut i, "PRIVMSG nat :\x01ACTION \x1b]0;title\x07 waves\x01");
    let dm = n.line();
    assert!(!dm.chars().any(|c| c < ' '), "{dm:?}");
    assert!(dm.starts_with("@nat * mallory "), "{dm:?}");
    n.expect_silence(QUIET);
}
