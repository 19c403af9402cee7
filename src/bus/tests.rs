//! The bus's pure parts, and the bus against a scripted fake server on loopback for what a
//! real nats-server never does (garbage, sizes past the limit, silence, no headers). The
//! real server is in tests/bus.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Poll, Token};
use proptest::prelude::*;

use super::js::{self, Answer, Got, Start};
use super::names::{self, Scheme};
use super::order::{Incoming, Outgoing, Verdict};
use super::servers::{parse_url, Jitter, Pool};
use super::*;

#[test]
fn urls() {
    assert_eq!(
        parse_url("nats://127.0.0.1:4333"),
        Ok(("127.0.0.1".into(), 4333))
    );
    assert_eq!(parse_url("nats.example:5"), Ok(("nats.example".into(), 5)));
    assert_eq!(parse_url("nats://host"), Ok(("host".into(), 4222)));
    assert_eq!(parse_url("[::1]:7"), Ok(("::1".into(), 7)));
    assert_eq!(parse_url("nats://[::1]"), Ok(("::1".into(), 4222)));
    for bad in [
        "tls://h:1",
        "nats://u:p@h:1",
        "h:0",
        "h:x",
        ":4222",
        "[::1",
        "[::1]x",
    ] {
        assert!(parse_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn backoff_doubles_with_jitter_and_resets() {
    let a: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let b: std::net::SocketAddr = "127.0.0.1:2".parse().unwrap();
    let min = Duration::from_millis(100);
    let max = Duration::from_secs(2);
    let mut pool = Pool::new(vec![a, b], min, max, Jitter::seeded(7));
    assert_eq!(
        (pool.pick(), pool.pick(), pool.pick()),
        (Some(a), Some(b), Some(a))
    );
    let mut ceiling = min;
    for _ in 0..10 {
        let wait = pool.failed();
        assert!(
            wait >= ceiling / 2 && wait <= ceiling,
            "{wait:?} for {ceiling:?}"
        );
        ceiling = (ceiling * 2).min(max);
    }
    pool.connected();
    assert!(pool.failed() <= min);
    // The cluster's advertised servers join the pool, once each and bounded.
    let urls: Vec<String> = (0..100).map(|i| format!("10.0.0.{i}:4222")).collect();
    pool.learn(&urls);
    pool.learn(&["127.0.0.1:1".into(), "name.only:4222".into()]);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        seen.insert(pool.pick().unwrap());
    }
    assert_eq!(seen.len(), 2 + servers::MAX_DISCOVERED);
}

#[test]
fn jitter_spreads_between_half_and_all() {
    let mut j = Jitter::seeded(1);
    let d = Duration::from_millis(1000);
    let spread: Vec<Duration> = (0..1000).map(|_| j.spread(d)).collect();
    assert!(spread.iter().all(|&s| s >= d / 2 && s <= d));
    assert!(spread.iter().any(|&s| s < d * 6 / 10) && spread.iter().any(|&s| s > d * 9 / 10));
    assert_eq!(j.spread(Duration::ZERO), Duration::ZERO);
}

#[test]
fn the_scheme_names() {
    let s = Scheme::new("prod").unwrap();
    assert_eq!(s.room("#lobby"), "snak.prod.room.=23lobby");
    assert_eq!(s.room("#café"), "snak.prod.room.=23caf=C3=A9");
    assert_eq!(s.node("a1"), "snak.prod.node.a1");
    assert_eq!(s.user("bob|away"), "snak.prod.user.bob=7Caway");
    assert_eq!(s.all(), "snak.prod.all");
    assert_eq!(s.nicks_bucket(), "snak_prod_nicks");
    assert_eq!(s.held_bucket(), "snak_prod_held");
    assert!(names::valid_bucket(&s.nodes_bucket()));
    assert!(names::valid_bucket(
        &Scheme::new("a-b_C9").unwrap().members_bucket()
    ));
    for bad in ["", "a.b", "a b", "=", &"x".repeat(33)] {
        assert!(Scheme::new(bad).is_err(), "{bad}");
    }
    assert_eq!(names::token(""), "=");
    assert_eq!(names::untoken("="), Some(String::new()));
    assert_eq!(names::untoken("=2"), None);
    assert_eq!(names::untoken("=zz"), None);
    assert_eq!(
        names::untoken("=2e"),
        None,
        "only upper-case hex is written"
    );
    assert_eq!(names::untoken("a.b"), None);
    assert!(!names::valid_key("a..b"));
    assert!(!names::valid_key("_kv.x"));
    assert!(!names::valid_key("a b"));
    assert!(names::valid_key("=23lobby.n1"));
}

proptest! {
    #[test]
    fn any_name_is_one_token_and_a_key(name in "\\PC{0,20}") {
        let t = names::token(&name);
        prop_assert_eq!(names::untoken(&t), Some(name.clone()));
        prop_assert!(names::valid_key(&t));
        prop_assert!(!t.contains(['.', '*', '>', ' ']));
        let subject = Scheme::new("n").unwrap().room(&name);
        prop_assert!(crate::proto::nats::subject::check_publish(&subject).is_ok());
    }
}

#[test]
fn deliveries_old_and_new_form() {
    let v1 = js::delivery("$JS.ACK.KV_nodes.abc.1.42.7.1700000000000000000.3").unwrap();
    assert_eq!(
        (v1.stream_seq, v1.consumer_seq, v1.timestamp_ns, v1.pending),
        (42, 7, 1_700_000_000_000_000_000, 3)
    );
    let v2 = js::delivery("$JS.ACK.dom.ACCHASH.KV_n.c.1.5.2.99.0.tok").unwrap();
    assert_eq!((v2.stream_seq, v2.consumer_seq, v2.pending), (5, 2, 0));
    for bad in [
        "$JS.ACK.a.b.c",
        "$JS.NAK.a.b.1.2.3.4.5",
        "x",
        "$JS.ACK.a.b.x.2.3.4.5",
    ] {
        assert_eq!(js::delivery(bad), None, "{bad}");
    }
}

#[test]
fn jetstream_answers() {
    assert_eq!(js::pub_ack(br#"{"stream":"KV_t", "seq":1}"#), Answer::Ok(1));
    let refused = br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"},"stream":"KV_t","seq":0}"#;
    match js::pub_ack(refused) {
        Answer::Api(e) => assert_eq!((e.code, e.err_code), (400, js::WRONG_LAST_SEQUENCE)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(js::pub_ack(b"not json"), Answer::Garbled(_)));
    assert!(matches!(js::pub_ack(br#"{"seq":0}"#), Answer::Garbled(_)));
    let info = br#"{"config":{"name":"KV_t","max_age":2000000000},"state":{"last_seq":9}}"#;
    assert_eq!(
        js::stream_state(info),
        Answer::Ok(js::StreamState {
            max_age: Some(Duration::from_secs(2)),
            last_seq: 9
        })
    );
    assert_eq!(
        js::consumer_created(br#"{"name":"c","num_pending":4}"#),
        Answer::Ok(4)
    );
    let mut h = crate::proto::nats::Headers::new();
    h.insert("Nats-Sequence", "12").unwrap();
    h.insert("KV-Operation", "DEL").unwrap();
    assert_eq!(
        js::direct_got(Some(&h)),
        Got::Entry {
            revision: 12,
            op: js::Op::Delete
        }
    );
    let nf = crate::proto::nats::Headers::parse(b"NATS/1.0 404 Message Not Found\r\n\r\n").unwrap();
    assert_eq!(js::direct_got(Some(&nf)), Got::NotFound);
    assert!(matches!(js::direct_got(None), Got::Api(_)));
}

#[test]
fn jetstream_requests() {
    let cfg = js::BucketConfig {
        ttl: Some(Duration::from_secs(15)),
        ..js::BucketConfig::default()
    };
    let (subject, body) = js::create_bucket("nodes", &cfg);
    assert_eq!(subject, "$JS.API.STREAM.CREATE.KV_nodes");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["subjects"][0], "$KV.nodes.>");
    assert_eq!(v["max_age"], 15_000_000_000i64);
    assert_eq!(v["max_msgs_per_subject"], 1);
    assert_eq!(v["allow_direct"], true);
    assert_eq!(v["duplicate_window"], 15_000_000_000i64);
    let (subject, body) = js::create_watch(
        "nodes",
        "$KV.nodes.n7.>",
        "_INBOX.x.w.1.1",
        Start::Sequence(8),
        Duration::from_secs(5),
    );
    assert_eq!(subject, "$JS.API.CONSUMER.CREATE.KV_nodes");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["config"]["deliver_policy"], "by_start_sequence");
    assert_eq!(v["config"]["opt_start_seq"], 8);
    assert_eq!(v["config"]["flow_control"], true);
    assert_eq!(v["config"]["filter_subject"], "$KV.nodes.n7.>");
    assert_eq!(
        js::direct_get("b", "k.x"),
        "$JS.API.DIRECT.GET.KV_b.$KV.b.k.x"
    );
    let h = js::delete_headers(true, Some(3));
    assert_eq!(h.get("KV-Operation"), Some("PURGE"));
    assert_eq!(h.get("Nats-Rollup"), Some("sub"));
    assert_eq!(h.get(js::EXPECTED_LAST_SUBJECT_SEQ), Some("3"));
}

#[test]
fn sequence_numbers_drop_duplicates_and_count_gaps() {
    let mut out = Outgoing::default();
    assert_eq!((out.next("a"), out.next("a"), out.next("b")), (1, 2, 1));
    let mut inc = Incoming::default();
    assert_eq!(
        inc.check("n1", "a", 5),
        Verdict::Deliver { missed: 0 },
        "late joiner"
    );
    assert_eq!(inc.check("n1", "a", 6), Verdict::Deliver { missed: 0 });
    assert_eq!(inc.check("n1", "a", 6), Verdict::Duplicate);
    assert_eq!(inc.check("n1", "a", 4), Verdict::Duplicate);
    assert_eq!(inc.check("n1", "a", 9), Verdict::Deliver { missed: 2 });
    assert_eq!(inc.check("n2", "a", 1), Verdict::Deliver { missed: 0 });
    assert_eq!((inc.duplicates, inc.missed), (2, 2));
    inc.forget_subject("a");
    assert_eq!(inc.check("n1", "a", 1), Verdict::Deliver { missed: 0 });
}

// ---- against a fake server ----

const T: Token = Token(1);
const WAIT: Duration = Duration::from_secs(10);

struct Client {
    poll: Poll,
    events: Events,
    bus: Bus,
}

impl Client {
    fn new(port: u16, tweak: impl FnOnce(&mut BusConfig)) -> Client {
        let poll = Poll::new().unwrap();
        let mut cfg = BusConfig::new(vec![format!("nats://127.0.0.1:{port}")]);
        cfg.reconnect_min = Duration::from_millis(10);
        cfg.reconnect_max = Duration::from_millis(50);
        tweak(&mut cfg);
        let bus = Bus::new(cfg, poll.registry(), T, Instant::now()).unwrap();
        Client {
            poll,
            events: Events::with_capacity(16),
            bus,
        }
    }

    fn until<R>(&mut self, what: &str, mut f: impl FnMut(&BusEvent) -> Option<R>) -> R {
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(e) = self.bus.next_event() {
                if let Some(r) = f(&e) {
                    return r;
                }
            }
            let now = Instant::now();
            assert!(now < deadline, "no {what} in time");
            let timeout = self
                .bus
                .next_deadline()
                .map_or(Duration::from_millis(50), |at| {
                    at.saturating_duration_since(now)
                        .min(Duration::from_millis(50))
                });
            self.poll.poll(&mut self.events, Some(timeout)).unwrap();
            let now = Instant::now();
            for ev in self.events.iter() {
                self.bus.ready(ev, now);
            }
            self.bus.poll_timers(now);
        }
    }
}

/// A connection the fake server accepted: it has sent INFO and read the client's CONNECT.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    connect: serde_json::Value,
}

impl Peer {
    fn accept(listener: &TcpListener, info: &str) -> Peer {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        sock.write_all(format!("INFO {info}\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let json = line.strip_prefix("CONNECT ").expect("CONNECT first").trim();
        let connect = serde_json::from_str(json).unwrap();
        Peer {
            reader,
            writer: sock,
            connect,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }
}

const INFO: &str = r#"{"server_id":"fake","max_payload":4096,"headers":true,"proto":1}"#;

/// The fake server's side of a test runs on a thread; the bus on this one.
fn with_server(
    script: impl FnOnce(TcpListener) + Send + 'static,
) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, std::thread::spawn(move || script(listener)))
}

#[test]
fn handshake_then_garbage_then_reconnect() {
    let (port, server) = with_server(|listener| {
        let mut p = Peer::accept(&listener, INFO);
        assert_eq!(p.connect["verbose"], false);
        assert_eq!(p.connect["headers"], true);
        assert_eq!(p.connect["no_responders"], true);
        assert_eq!(p.connect["echo"], false);
        assert_eq!(p.line(), "PING\r\n");
        p.send(b"PONG\r\n");
        // The inbox subscription comes first, then the user's.
        assert!(p.line().starts_with("SUB _INBOX."));
        assert_eq!(p.line(), "SUB t.a 2\r\n");
        p.send(b"MSG t.a 2 5\r\nhello\r\nPING\r\n");
        assert_eq!(p.line(), "PONG\r\n");
        // Garbage: the client must drop the connection and come back.
        p.send(b"WHAT IS THIS\r\n");
        let mut rest = Vec::new();
        let _ = p.reader.read_to_end(&mut rest);
        let mut p = Peer::accept(&listener, INFO);
        assert_eq!(p.line(), "PING\r\n");
        p.send(b"PONG\r\n");
        assert!(p.line().starts_with("SUB _INBOX."));
        assert_eq!(p.line(), "SUB t.a 2\r\n", "subscriptions are restored");
        // A size over max_payload is refused before its bytes arrive.
        p.send(b"MSG t.a 2 999999999\r\n");
        let _ = p.reader.read_to_end(&mut rest);
        let mut p = Peer::accept(&listener, INFO);
        assert_eq!(p.line(), "PING\r\n");
        p.send(b"PONG\r\n");
        let _ = p.reader.read_to_end(&mut rest);
    });
    let mut c = Client::new(port, |_| {});
    c.bus.subscribe("t.a").unwrap();
    c.until("connected", |e| {
        matches!(
            e,
            BusEvent::Connected {
                reconnect: false,
                ..
            }
        )
        .then_some(())
    });
    let payload = c.until("a message", |e| match e {
        BusEvent::Message {
            payload, origin, ..
        } => {
            assert!(origin.is_none());
            Some(payload.clone())
        }
        _ => None,
    });
    assert_eq!(payload, b"hello");
    let reason = c.until("disconnected", |e| match e {
        BusEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("unknown operation"), "{reason}");
    c.until("reconnected", |e| {
        matches!(
            e,
            BusEvent::Connected {
                reconnect: true,
                ..
            }
        )
        .then_some(())
    });
    let reason = c.until("disconnected again", |e| match e {
        BusEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("max_payload 4096"), "{reason}");
    c.until("reconnected", |e| {
        matches!(
            e,
            BusEvent::Connected {
                reconnect: true,
                ..
            }
        )
        .then_some(())
    });
    assert_eq!(c.bus.stats().connects, 3);
    drop(c);
    server.join().unwrap();
}

#[test]
fn unanswered_pings_drop_the_connection() {
    let (port, server) = with_server(|listener| {
        let mut p = Peer::accept(&listener, INFO);
        assert_eq!(p.line(), "PING\r\n");
        p.send(b"PONG\r\n");
        // Then silence: read the pings, answer none.
        let mut rest = Vec::new();
        let _ = p.reader.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(text.matches("PING\r\n").count() >= 2, "{text}");
    });
    let mut c = Client::new(port, |cfg| {
        cfg.ping_interval = Duration::from_millis(50);
        cfg.max_pings_out = 2;
        cfg.reconnect_min = Duration::from_secs(30);
        cfg.reconnect_max = Duration::from_secs(30);
    });
    c.until("connected", |e| {
        matches!(e, BusEvent::Connected { .. }).then_some(())
    });
    let reason = c.until("disconnected", |e| match e {
        BusEvent::Disconnected { reason } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(reason, "2 pings unanswered");
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_server_without_headers_is_refused_and_publishes_wait_bounded() {
    let (port, server) = with_server(|listener| {
        let (mut sock, _) = listener.accept().unwrap();
        sock.write_all(b"INFO {\"server_id\":\"old\",\"headers\":false}\r\n")
            .unwrap();
        let mut rest = Vec::new();
        let _ = sock.read_to_end(&mut rest);
        assert!(rest.is_empty(), "no CONNECT to a server without headers");
    });
    let mut c = Client::new(port, |cfg| {
        cfg.max_offline = 1024;
        cfg.reconnect_min = Duration::from_secs(30);
        cfg.reconnect_max = Duration::from_secs(30);
    });
    // Not connected: publishes wait in the offline buffer, refused past its bound.
    let h = crate::proto::nats::Headers::new();
    let mut accepted = 0;
    while c.bus.publish("t.x", &h, &[b'z'; 100]).is_ok() {
        accepted += 1;
    }
    assert!((4..=9).contains(&accepted), "{accepted}");
    assert_eq!(c.bus.publish("t.x", &h, &[b'z'; 100]), Err(BusError::Full));
    let stats = c.bus.stats();
    assert_eq!(stats.refused, 2);
    assert!(stats.offline <= 1024 && stats.offline > 600, "{stats:?}");
    let deadline = Instant::now() + WAIT;
    while c.bus.stats().failures == 0 {
        assert!(Instant::now() < deadline);
        c.poll
            .poll(&mut c.events, Some(Duration::from_millis(20)))
            .unwrap();
        let now = Instant::now();
        for ev in c.events.iter() {
            c.bus.ready(ev, now);
        }
        c.bus.poll_timers(now);
    }
    assert!(!c.bus.is_connected());
    assert!(
        c.bus.next_event().is_none(),
        "never connected, so never disconnected"
    );
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_watch_past_the_streams_last_sequence_is_caught_up_whatever_its_pending_says() {
    // What nats-server 2.9 reported to a node whose watch never caught up: two pending at
    // first, then one for ever (sequence 2, replaced while the consumer was made, counted
    // but never delivered). Sequence 3 was the stream's last when the watch began.
    assert!(!watch::delivered_all(2, 1, 3));
    assert!(watch::delivered_all(1, 3, 3));
    assert!(watch::delivered_all(1, 4, 3));
    assert!(watch::delivered_all(0, 1, 3));
    // An empty stream owes nothing.
    assert!(watch::delivered_all(5, 1, 0));
}

/// The reply subject of a `PUB SUBJECT REPLY LEN` line, and the payload line after it.
fn request(p: &mut Peer, subject: &str) -> String {
    let line = p.line();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(
        words.len() == 4 && words[0] == "PUB" && words[1] == subject,
        "{line:?}"
    );
    p.line();
    words[2].to_string()
}

fn reply(p: &mut Peer, to: &str, sid: &str, body: &str) {
    p.send(format!("MSG {to} {sid} {}\r\n{body}\r\n", body.len()).as_bytes());
}

#[test]
fn expiries_are_reported_though_the_consumer_counts_a_message_it_never_delivers() {
    over_counted_watch(3, false);
}

#[test]
fn an_idle_heartbeat_with_nothing_missed_catches_a_watch_up() {
    // The stream's last message (9) is not delivered (gone, say): only the heartbeat tells.
    over_counted_watch(9, true);
}

/// A watch whose consumer says one more is pending than it ever delivers; the stream's last
/// sequence is `last_seq` when the watch asks; `heartbeat`: the consumer idles after.
fn over_counted_watch(last_seq: u64, heartbeat: bool) {
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (port, server) = with_server(move |listener| {
        let mut p = Peer::accept(&listener, INFO);
        assert_eq!(p.line(), "PING\r\n");
        p.send(b"PONG\r\n");
        let inbox = p.line();
        let inbox_sid = inbox.split_whitespace().nth(2).unwrap().to_string();
        let to = request(&mut p, "$JS.API.STREAM.INFO.KV_nodes");
        let ttl_ns = 300_000_000u64;
        let state =
            format!(r#"{{"config":{{"max_age":{ttl_ns}}},"state":{{"last_seq":{last_seq}}}}}"#);
        reply(&mut p, &to, &inbox_sid, &state);
        let sub = p.line();
        let words: Vec<&str> = sub.split_whitespace().collect();
        assert_eq!(words[0], "SUB", "{sub:?}");
        let (deliver, sid) = (words[1].to_string(), words[2].to_string());
        let line = p.line();
        assert!(
            line.starts_with("PUB $JS.API.CONSUMER.CREATE.KV_nodes"),
            "{line:?}"
        );
        let to = line.split_whitespace().nth(2).unwrap().to_string();
        let body = p.line();
        assert!(body.contains(&deliver), "{body}");
        reply(&mut p, &to, &inbox_sid, r#"{"name":"w1","num_pending":2}"#);
        // Sequences 1 and 3; 2 is gone but still counted.
        for (key, seq, cseq, pending) in [("a", 1, 1, 2), ("b", 3, 2, 1)] {
            let ack = format!("$JS.ACK.KV_nodes.w1.1.{seq}.{cseq}.{stamp}.{pending}");
            p.send(format!("MSG $KV.nodes.{key} {sid} {ack} 2\r\nup\r\n").as_bytes());
        }
        if heartbeat {
            let h = "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 2\r\nNats-Last-Stream: 3\r\n\r\n";
            p.send(format!("HMSG {deliver} {sid} {} {}\r\n{h}\r\n", h.len(), h.len()).as_bytes());
        }
        let mut rest = Vec::new();
        let _ = p.reader.read_to_end(&mut rest);
    });
    let mut c = Client::new(port, |_| {});
    c.until("connected", |e| {
        matches!(e, BusEvent::Connected { .. }).then_some(())
    });
    let w = c.bus.kv_watch("nodes", Instant::now()).unwrap();
    let mut put = Vec::new();
    c.until("the watch caught up", |e| match e {
        BusEvent::KvChange {
            key, op: KvOp::Put, ..
        } => {
            put.push(key.clone());
            None
        }
        BusEvent::WatchReady { watch } => (*watch == w).then_some(()),
        _ => None,
    });
    assert_eq!(put, ["a", "b"]);
    // Nobody renews them: both are reported expired once the TTL has passed.
    let mut expired = Vec::new();
    while expired.len() < 2 {
        let key = c.until("an expiry", |e| match e {
            BusEvent::KvChange {
                key,
                op: KvOp::Expired,
                ..
            } => Some(key.clone()),
            _ => None,
        });
        expired.push(key);
    }
    expired.sort();
    assert_eq!(expired, ["a", "b"]);
    assert!(c.bus.kv_watched(w).is_some_and(|k| k.is_empty()));
    drop(c);
    server.join().unwrap();
}
