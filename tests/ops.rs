//! Running snak for real: metrics scraped over HTTP and checked against the traffic made,
//! readiness told to a fake systemd, sockets handed over by socket activation, and reloads
//! that change a limit for connections already in (or, with a broken file, change nothing).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{signal, Daemon, WAIT};

/// `GET /metrics` on `addr`: the body.
fn scrape(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to metrics");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    s.set_read_timeout(Some(WAIT)).ok();
    let mut all = String::new();
    s.read_to_string(&mut all).expect("read metrics");
    let (head, body) = all.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    body.to_string()
}

/// Every sample as (name with labels, value); every line is a comment or a sample.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(
                rest.starts_with("HELP snak_") || rest.starts_with("TYPE snak_"),
                "{line}"
            );
            continue;
        }
        let (name, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("a number in {line:?}"));
        assert!(name.starts_with("snak_"), "{line}");
        out.push((name.to_string(), value));
    }
    out
}

fn value(samples: &[(String, f64)], name: &str) -> f64 {
    samples
        .iter()
        .find(|(n, _)| n == name)
        .map(|&(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in {samples:?}"))
}

#[test]
fn metrics_count_the_traffic_and_parse_as_prometheus_text() {
    let d = Daemon::start(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = d.addr("metrics");
    let before = samples(&scrape(metrics));
    assert_eq!(value(&before, "snak_users"), 0.0);
    let mut a = d.named("alice");
    let mut b = d.named("bob");
    for i in 0..5 {
        a.send(&format!("line {i}"));
        b.expect(&format!("#lobby <alice> line {i}"));
    }
    let text = scrape(metrics);
    let after = samples(&text);
    assert_eq!(value(&after, "snak_users"), 2.0);
    assert_eq!(value(&after, "snak_rooms"), 1.0);
    assert_eq!(
        value(
            &after,
            "snak_connections_accepted_total{listener=\"native\"}"
        ),
        2.0
    );
    assert_eq!(value(&after, "snak_registrations_total"), 2.0);
    let lines = value(&after, "snak_lines_in_total");
    assert!(lines >= 7.0, "two /nick and five messages: {lines}");
    let deliveries = value(&after, "snak_deliveries_total");
    assert!(deliveries >= 5.0, "{deliveries}");
    assert!(value(&after, "snak_bytes_in_total") > 40.0);
    assert!(value(&after, "snak_loop_pass_seconds_count") > 0.0);
    assert!(value(&after, "snak_open_fds") > 0.0);
    assert!(value(&after, "snak_uptime_seconds") >= 0.0);
    assert!(text.contains("snak_build_info{version=\""), "{text}");
    // A real parser, where the machine has one (prometheus_client's, from the test venv).
    if let Some(python) = common::test_python("prometheus_client") {
        let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\nfams = list(p(sys.stdin.read()))\nprint(len(fams))";
        let mut child = Command::new(python)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("parse");
        assert!(out.status.success(), "prometheus_client refused the text");
        let families: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        assert!(families >= 15, "{families} metric families");
    } else {
        // The checks above ran; the one by a real parser could not.
        common::skip(
            "no Python with prometheus_client to parse the metrics; `make test` makes \
             .venv-test with it, or run tests/venv.sh .venv-test tests/ops/requirements.txt",
        );
    }
    // The metrics are on their own listener only.
    let mut web = TcpStream::connect(d.addr("web")).expect("web");
    web.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    web.read_to_string(&mut answer).ok();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

/// A datagram socket standing in for systemd's, and the next message on it.
struct FakeSystemd {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl FakeSystemd {
    fn new() -> FakeSystemd {
        let path = std::env::temp_dir().join(format!("snak-notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket.set_read_timeout(Some(WAIT)).ok();
        FakeSystemd { socket, path }
    }

    fn next(&self) -> String {
        let mut buf = [0u8; 1024];
        let n = self.socket.recv(&mut buf).expect("a notification in time");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn readiness_reload_and_stop_are_told_to_systemd() {
    let systemd = FakeSystemd::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_snak"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-irc",
            "--no-web",
            "--data-dir",
            "none",
        ])
        .env("NOTIFY_SOCKET", &systemd.path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start snak");
    let ready = systemd.next();
    assert!(ready.starts_with("READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("MAINPID={}", child.id())),
        "{ready}"
    );
    signal(child.id(), "-HUP");
    assert!(systemd.next().starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert_eq!(systemd.next(), "READY=1");
    signal(child.id(), "-TERM");
    assert_eq!(systemd.next(), "STOPPING=1");
    assert!(common::wait_exit(&mut child).success());
}

#[test]
fn a_socket_handed_over_is_served_and_a_connection_made_before_start_is_not_refused() {
    // The socket exists before snak does, as systemd holds it across a restart.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut early = TcpStream::connect(addr).expect("connect before snak runs");
    // A small launcher puts the socket at descriptor 3 and becomes snak with LISTEN_PID set
    // to its own PID, as systemd does.
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    // SAFETY: fcntl on a descriptor this test owns; it only clears close-on-exec so the
    // launcher below inherits the socket, as systemd's children do.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, 0);
    }
    let launcher = format!(
        "import os, sys\nos.dup2({fd}, 3)\nos.environ['LISTEN_PID'] = str(os.getpid())\n\
         os.environ['LISTEN_FDS'] = '1'\nos.environ['LISTEN_FDNAMES'] = 'native'\n\
         os.execv(sys.argv[1], sys.argv[1:])"
    );
    let mut child = Command::new("python3")
        .args(["-c", &launcher, env!("CARGO_BIN_EXE_snak")])
        .args([
            "--listen",
            "127.0.0.1:1",
            "--no-irc",
            "--no-web",
            "--data-dir",
            "none",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for this test");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut said = String::new();
    let deadline = Instant::now() + WAIT;
    while !said.contains("ready") {
        let mut chunk = [0u8; 256];
        let n = stdout.read(&mut chunk).expect("snak's stdout");
        assert!(
            n > 0 && Instant::now() < deadline,
            "snak did not start: {said}"
        );
        said.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(said.contains(&format!("listening native {addr}")), "{said}");
    early.set_read_timeout(Some(WAIT)).ok();
    let mut hello = [0u8; 64];
    let n = early
        .read(&mut hello)
        .expect("the early connection is served");
    assert!(String::from_utf8_lossy(&hello[..n]).starts_with("* Hello, world!"));
    signal(child.id(), "-TERM");
    assert!(common::wait_exit(&mut child).success());
}

#[test]
fn a_reload_applies_a_new_limit_to_connections_already_in_and_a_broken_file_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("snak-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let conf = dir.join("snak.toml");
    std::fs::write(&conf, "[limits]\nmax_targets = 4\n").expect("write");
    let d = Daemon::start(&["--config", conf.to_str().expect("path")]);
    let mut a = d.named("alice");
    let mut b = d.named("bob");
    a.expect_eventually("* guest-2 is now known as bob");
    a.send("/msg bob,bob,bob hi");
    b.expect("@bob <alice> hi");
    // Two targets at most now: alice, connected before, is held to it.
    std::fs::write(&conf, "[limits]\nmax_targets = 2\n").expect("write");
    signal(d.pid(), "-HUP");
    let deadline = Instant::now() + WAIT;
    loop {
        a.send("/msg bob,bob,bob hi");
        let got = a.try_line(Duration::from_millis(200));
        match got.as_deref() {
            Some(l) if l.starts_with("! too-many-targets") => break,
            _ => assert!(Instant::now() < deadline, "the new limit never applied"),
        }
        b.expect("@bob <alice> hi");
    }
    // A broken file: the old settings stay and nobody is dropped.
    std::fs::write(&conf, "[limits]\nmax_targets = \"many\"\n").expect("write");
    signal(d.pid(), "-HUP");
    a.send("/msg bob,bob,bob again");
    a.expect("! too-many-targets a message names at most 2 rooms and nicks; nothing was sent");
    a.send("/msg bob still here");
    b.expect("@bob <alice> still here");
    let _ = std::fs::remove_dir_all(&dir);
}
