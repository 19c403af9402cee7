//! The bus against a real nats-server (Debian package `nats-server`), started by each test on
//! an ephemeral port with JetStream in a temporary directory and stopped by its PID. Each
//! client is a `Bus` on a `mio::Poll` of its own, driven the way the loop drives it. Every
//! wait is for an event, with a timeout; nothing sleeps to let time pass.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use snak::bus::{BucketConfig, Bus, BusConfig, BusEvent, KvOp, RequestError, RequestId, Response};
use snak::proto::nats::Headers;

const WAIT: Duration = Duration::from_secs(10);
const BUS: Token = Token(7);

use common::nats::{have_nats, Nats, MISSING};

/// One bus on a poll of its own, driven as the loop drives it.
struct Node {
    poll: Poll,
    events: Events,
    bus: Bus,
    got: VecDeque<BusEvent>,
}

impl Node {
    fn new(urls: &[String], tweak: impl FnOnce(&mut BusConfig)) -> Node {
        let poll = Poll::new().unwrap();
        let mut cfg = BusConfig::new(urls.to_vec());
        cfg.reconnect_min = Duration::from_millis(50);
        cfg.reconnect_max = Duration::from_millis(500);
        cfg.request_timeout = Duration::from_secs(5);
        tweak(&mut cfg);
        let bus = Bus::new(cfg, poll.registry(), BUS, Instant::now()).unwrap();
        Node {
            poll,
            events: Events::with_capacity(64),
            bus,
            got: VecDeque::new(),
        }
    }

    fn connected(urls: &[String], tweak: impl FnOnce(&mut BusConfig)) -> Node {
        let mut n = Node::new(urls, tweak);
        n.wait("connected", |e| {
            matches!(e, BusEvent::Connected { .. }).then_some(())
        });
        n
    }

    /// One pass: poll until the bus's next deadline (at most `max`), then what the loop does.
    fn pump(&mut self, max: Duration) {
        let now = Instant::now();
        let timeout = self
            .bus
            .next_deadline()
            .map_or(max, |at| at.saturating_duration_since(now).min(max));
        self.poll.poll(&mut self.events, Some(timeout)).unwrap();
        let now = Instant::now();
        for ev in self.events.iter() {
            if ev.token() == BUS {
                self.bus.ready(ev, now);
            }
        }
        if self.bus.next_deadline().is_some_and(|at| at <= now) {
            self.bus.poll_timers(now);
        }
        self.bus.flush(now);
        while let Some(e) = self.bus.next_event() {
            self.got.push_back(e);
        }
    }

    /// Waits for the first event (old or new) `f` picks; the others stay queued.
    fn wait<T>(&mut self, what: &str, mut f: impl FnMut(&BusEvent) -> Option<T>) -> T {
        self.wait_for(what, WAIT, &mut f)
            .unwrap_or_else(|| panic!("no {what} within {WAIT:?}; got {:#?}", self.got))
    }

    fn wait_for<T>(
        &mut self,
        _what: &str,
        limit: Duration,
        f: &mut impl FnMut(&BusEvent) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(i) = self.got.iter().position(|e| f(e).is_some()) {
                let e = self.got.remove(i).unwrap();
                return f(&e);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            self.pump((deadline - now).min(Duration::from_millis(100)));
        }
    }

    fn reply(&mut self, id: RequestId) -> Result<Response, RequestError> {
        self.wait(&format!("reply {id:?}"), |e| match e {
            BusEvent::Reply { request, result } if *request == id => Some(result.clone()),
            _ => None,
        })
    }

    /// A round trip: once it is answered, everything this bus sent before it is in effect.
    /// (A request nobody listens to is answered by the server itself, at once.)
    fn sync(&mut self) {
        let id = self
            .bus
            .request("t.nobody.listens", &Headers::new(), b"", Instant::now())
            .unwrap();
        self.bus.flush(Instant::now());
        assert_eq!(self.reply(id), Err(RequestError::NoResponders));
    }

    fn message(&mut self) -> (String, Headers, Vec<u8>, Option<snak::bus::Origin>, u64) {
        self.wait("a message", |e| match e {
            BusEvent::Message {
                subject,
                headers,
                payload,
                origin,
                missed,
                ..
            } => Some((
                subject.clone(),
                headers.clone(),
                payload.clone(),
                origin.clone(),
                *missed,
            )),
            _ => None,
        })
    }

    fn bucket(&mut self, name: &str, cfg: BucketConfig) {
        let id = self.bus.kv_bucket(name, &cfg, Instant::now()).unwrap();
        self.bus.flush(Instant::now());
        assert_eq!(self.reply(id), Ok(Response::Bucket));
    }
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    let mut h = Headers::new();
    for (n, v) in pairs {
        h.append(n, v).unwrap();
    }
    h
}

#[test]
fn pub_sub_across_two_clients_with_headers_in_order_once() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("pubsub");
    let urls = [nats.url()];
    let mut a = Node::connected(&urls, |_| {});
    let mut b = Node::connected(&urls, |_| {});
    let room = a.bus.subscribe("t.room.r1").unwrap();
    // A second subscription matching the same subject: the server delivers twice, the
    // bus drops the copy.
    let _wild = a.bus.subscribe("t.room.*").unwrap();
    let marker = a.bus.subscribe("t.marker").unwrap();
    a.bus.flush(Instant::now());
    a.sync();
    for i in 1..=3 {
        let h = headers(&[("Kind", "say"), ("Multi", "one"), ("Multi", "two")]);
        b.bus
            .publish("t.room.r1", &h, format!("line {i}").as_bytes())
            .unwrap();
    }
    b.bus.flush(Instant::now());
    for i in 1..=3u64 {
        let (subject, h, payload, origin, missed) = a.message();
        assert_eq!(subject, "t.room.r1");
        assert_eq!(payload, format!("line {i}").as_bytes());
        assert_eq!(h.get("Kind"), Some("say"));
        assert_eq!(h.get_all("Multi").collect::<Vec<_>>(), ["one", "two"]);
        let origin = origin.expect("stamped");
        assert_eq!((origin.node.as_str(), origin.seq), (b.bus.node(), i));
        assert_eq!(missed, 0);
    }
    // Unsubscribed: what b publishes there next never arrives, and the marker published
    // after it (same publisher, so in order) shows it would have by now.
    a.bus.unsubscribe(room);
    a.bus.unsubscribe(_wild);
    a.bus.flush(Instant::now());
    a.sync();
    b.bus
        .publish("t.room.r1", &Headers::new(), b"gone")
        .unwrap();
    b.bus.publish("t.marker", &Headers::new(), b"end").unwrap();
    b.bus.flush(Instant::now());
    let (subject, _, payload, _, _) = a.message();
    assert_eq!(
        (subject.as_str(), payload.as_slice()),
        ("t.marker", &b"end"[..])
    );
    assert_eq!(a.bus.stats().duplicates, 3, "each of the three came twice");
    assert!(a.got.iter().all(|e| !matches!(e, BusEvent::Message { .. })));
    let _ = marker;
    // Nothing comes back to its own publisher (echo is off).
    b.bus.subscribe("t.self").unwrap();
    b.bus.flush(Instant::now());
    b.sync();
    b.bus.publish("t.self", &Headers::new(), b"me").unwrap();
    b.bus.publish("t.marker", &Headers::new(), b"x").unwrap();
    b.bus.flush(Instant::now());
    b.sync();
    assert!(b.got.iter().all(|e| !matches!(e, BusEvent::Message { .. })));
}

#[test]
fn oversized_and_bad_publishes_are_refused_at_once() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("refuse");
    let mut a = Node::connected(&[nats.url()], |c| c.max_outgoing = 64 * 1024);
    let big = vec![b'x'; 2 << 20];
    assert!(matches!(
        a.bus.publish("t.big", &Headers::new(), &big),
        Err(snak::bus::BusError::TooLarge {
            limit: 1_048_576,
            ..
        })
    ));
    assert!(a.bus.publish("t.*", &Headers::new(), b"x").is_err());
    assert!(a.bus.subscribe("t..x").is_err());
    assert!(a
        .bus
        .kv_put("bad.bucket", "k", b"v", Instant::now())
        .is_err());
    assert!(a.bus.kv_put("b", "bad key", b"v", Instant::now()).is_err());
    // The output buffer is bounded: without a flush, publishes are refused past it.
    let chunk = vec![b'y'; 8 * 1024];
    let mut accepted = 0;
    while a.bus.publish("t.fill", &Headers::new(), &chunk).is_ok() {
        accepted += 1;
        assert!(accepted < 100, "the buffer never filled");
    }
    assert!(accepted >= 6, "{accepted}");
    assert_eq!(a.bus.stats().refused, 1);
}

#[test]
fn reconnect_after_the_server_restarts() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let mut nats = Nats::start("reconnect");
    let urls = [nats.url()];
    let mut a = Node::connected(&urls, |c| c.ping_interval = Duration::from_millis(500));
    let mut b = Node::connected(&urls, |_| {});
    a.bucket("snakt", BucketConfig::default());
    a.bus.subscribe("t.room.r").unwrap();
    let watch = a.bus.kv_watch("snakt", Instant::now()).unwrap();
    a.wait("watch ready", |e| {
        matches!(e, BusEvent::WatchReady { watch: w } if *w == watch).then_some(())
    });
    let id = b
        .bus
        .kv_put("snakt", "before", b"1", Instant::now())
        .unwrap();
    b.bus.flush(Instant::now());
    assert!(matches!(b.reply(id), Ok(Response::Revision(_))));
    a.wait("the first change", |e| match e {
        BusEvent::KvChange {
            key, op: KvOp::Put, ..
        } if key == "before" => Some(()),
        _ => None,
    });

    nats.kill();
    a.wait("disconnected", |e| {
        matches!(e, BusEvent::Disconnected { .. }).then_some(())
    });
    b.wait("disconnected", |e| {
        matches!(e, BusEvent::Disconnected { .. }).then_some(())
    });
    assert!(!a.bus.is_connected());
    // While NATS is away: a subscription made now, a publish that waits.
    a.bus.subscribe("t.room.later").unwrap();
    b.bus
        .publish("t.room.r", &Headers::new(), b"sent while away")
        .unwrap();
    assert!(b.bus.stats().offline > 0);

    let restarted = Instant::now();
    nats.restart();
    a.wait("reconnected", |e| {
        matches!(
            e,
            BusEvent::Connected {
                reconnect: true,
                ..
            }
        )
        .then_some(())
    });
    let reconnect_time = restarted.elapsed();
    // a's subscriptions are in effect once a round trip after them is answered.
    a.sync();
    b.wait("reconnected", |e| {
        matches!(
            e,
            BusEvent::Connected {
                reconnect: true,
                ..
            }
        )
        .then_some(())
    });
    let (subject, _, payload, origin, missed) = a.message();
    assert_eq!(subject, "t.room.r");
    assert_eq!(payload, b"sent while away");
    assert_eq!((origin.map(|o| o.seq), missed), (Some(1), 0));
    b.bus
        .publish("t.room.later", &Headers::new(), b"new sub")
        .unwrap();
    b.bus
        .publish("t.room.r", &Headers::new(), b"after")
        .unwrap();
    b.bus.flush(Instant::now());
    let got: Vec<_> = (0..2).map(|_| a.message()).map(|m| (m.0, m.2)).collect();
    assert_eq!(
        got,
        [
            ("t.room.later".to_string(), b"new sub".to_vec()),
            ("t.room.r".to_string(), b"after".to_vec())
        ]
    );
    // The watch resumed after the restart: a new change arrives, the old one not again.
    let id = b
        .bus
        .kv_put("snakt", "after", b"2", Instant::now())
        .unwrap();
    b.bus.flush(Instant::now());
    assert!(matches!(b.reply(id), Ok(Response::Revision(_))));
    a.wait("the change after the restart", |e| match e {
        BusEvent::KvChange {
            key, op: KvOp::Put, ..
        } if key == "after" => Some(()),
        _ => None,
    });
    assert!(
        !a.got
            .iter()
            .any(|e| matches!(e, BusEvent::KvChange { key, .. } if key == "before")),
        "{:#?}",
        a.got
    );
    let stats = a.bus.stats();
    assert_eq!((stats.connects, stats.connected), (2, true));
    eprintln!(
        "bus: reconnected {} ms after nats-server was started again",
        reconnect_time.as_millis()
    );
}

#[test]
fn kv_create_races_have_exactly_one_winner() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("race");
    let urls = [nats.url()];
    let mut a = Node::connected(&urls, |_| {});
    let mut b = Node::connected(&urls, |_| {});
    a.bucket("nicks", BucketConfig::default());
    // A plain subscription to the bucket's subjects: it sees every attempted write, the
    // refused ones too, which is why watches are consumers of the stream instead.
    let mut spy = Node::connected(&urls, |_| {});
    spy.bus.subscribe("$KV.nicks.nick0").unwrap();
    spy.bus.flush(Instant::now());
    spy.sync();
    let mut wins = [0u32; 2];
    for i in 0..100 {
        let key = format!("nick{i}");
        let now = Instant::now();
        // Alternate who writes first, and let both go out before either is answered.
        let (ra, rb) = if i % 2 == 0 {
            let ra = a.bus.kv_create("nicks", &key, b"a", now).unwrap();
            let rb = b.bus.kv_create("nicks", &key, b"b", now).unwrap();
            (ra, rb)
        } else {
            let rb = b.bus.kv_create("nicks", &key, b"b", now).unwrap();
            let ra = a.bus.kv_create("nicks", &key, b"a", now).unwrap();
            (ra, rb)
        };
        a.bus.flush(now);
        b.bus.flush(now);
        let results = [a.reply(ra), b.reply(rb)];
        let won: Vec<usize> = (0..2)
            .filter(|&n| matches!(results[n], Ok(Response::Revision(_))))
            .collect();
        assert_eq!(won.len(), 1, "round {i}: {results:?}");
        let lost = 1 - won[0];
        assert_eq!(results[lost], Err(RequestError::AlreadyExists), "round {i}");
        wins[won[0]] += 1;
        if i == 0 {
            let values: Vec<Vec<u8>> = (0..2).map(|_| spy.message().2).collect();
            assert!(values.contains(&b"a".to_vec()) && values.contains(&b"b".to_vec()));
        }
        // The value is the winner's.
        let g = a.bus.kv_get("nicks", &key, Instant::now()).unwrap();
        a.bus.flush(Instant::now());
        let want: &[u8] = if won[0] == 0 { b"a" } else { b"b" };
        match a.reply(g) {
            Ok(Response::Entry(Some(e))) => assert_eq!(e.value, want),
            other => panic!("round {i}: {other:?}"),
        }
    }
    // A freed nick (its delete marker still in the stream) is raced for again.
    for i in 0..10 {
        let key = format!("nick{i}");
        let d = a
            .bus
            .kv_delete("nicks", &key, None, Instant::now())
            .unwrap();
        a.bus.flush(Instant::now());
        assert!(matches!(a.reply(d), Ok(Response::Revision(_))));
        let now = Instant::now();
        let rb = b.bus.kv_create("nicks", &key, b"b2", now).unwrap();
        let ra = a.bus.kv_create("nicks", &key, b"a2", now).unwrap();
        a.bus.flush(now);
        b.bus.flush(now);
        let results = [a.reply(ra), b.reply(rb)];
        let won = results
            .iter()
            .filter(|r| matches!(r, Ok(Response::Revision(_))))
            .count();
        assert_eq!(won, 1, "again {i}: {results:?}");
        assert!(results.contains(&Err(RequestError::AlreadyExists)));
    }
    // Update and delete against a stale revision fail clearly.
    let p = a.bus.kv_put("nicks", "cas", b"1", Instant::now()).unwrap();
    a.bus.flush(Instant::now());
    let Ok(Response::Revision(rev)) = a.reply(p) else {
        panic!()
    };
    let u = a
        .bus
        .kv_update("nicks", "cas", b"2", rev, Instant::now())
        .unwrap();
    a.bus.flush(Instant::now());
    assert!(matches!(a.reply(u), Ok(Response::Revision(r)) if r > rev));
    let u = b
        .bus
        .kv_update("nicks", "cas", b"3", rev, Instant::now())
        .unwrap();
    b.bus.flush(Instant::now());
    assert_eq!(b.reply(u), Err(RequestError::WrongRevision));
    let d = b
        .bus
        .kv_delete("nicks", "cas", Some(rev), Instant::now())
        .unwrap();
    b.bus.flush(Instant::now());
    assert_eq!(b.reply(d), Err(RequestError::WrongRevision));
    let p = b.bus.kv_purge("nicks", "cas", Instant::now()).unwrap();
    b.bus.flush(Instant::now());
    assert!(matches!(b.reply(p), Ok(Response::Revision(_))));
    let g = b.bus.kv_get("nicks", "cas", Instant::now()).unwrap();
    b.bus.flush(Instant::now());
    assert_eq!(b.reply(g), Ok(Response::Entry(None)));
    eprintln!("bus: create races won: a {}, b {}", wins[0], wins[1]);
}

#[test]
fn a_node_key_expires_when_its_owner_stops_renewing() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("ttl");
    let urls = [nats.url()];
    let ttl = Duration::from_secs(2);
    let every = Duration::from_millis(400);
    let mut owner = Node::connected(&urls, |_| {});
    let mut other = Node::connected(&urls, |_| {});
    let mut watcher = Node::connected(&urls, |c| c.watch_heartbeat = Duration::from_secs(1));
    let nodes = BucketConfig {
        ttl: Some(ttl),
        ..BucketConfig::default()
    };
    owner.bucket("nodes", nodes);
    owner
        .bus
        .kv_keepalive("nodes", "n-owner", b"owner", every)
        .unwrap();
    other
        .bus
        .kv_keepalive("nodes", "n-other", b"other", every)
        .unwrap();
    let watch = watcher.bus.kv_watch("nodes", Instant::now()).unwrap();
    // Drive the two owners while the watcher learns of both keys.
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "keys never seen: {:#?}",
            watcher.got
        );
        owner.pump(Duration::from_millis(20));
        other.pump(Duration::from_millis(20));
        watcher.pump(Duration::from_millis(20));
        while let Some(i) = watcher
            .got
            .iter()
            .position(|e| matches!(e, BusEvent::KvChange { op: KvOp::Put, .. }))
        {
            if let Some(BusEvent::KvChange { key, watch: w, .. }) = watcher.got.remove(i) {
                assert_eq!(w, watch);
                seen.insert(key);
            }
        }
    }
    // The owner dies without a word (dropped: no delete, no more renewals).
    drop(owner);
    let died = Instant::now();
    // `other` keeps renewing; the watcher must see n-owner expire and n-other stay.
    let deadline = Instant::now() + ttl * 4;
    let expired_after = loop {
        assert!(Instant::now() < deadline, "no expiry: {:#?}", watcher.got);
        other.pump(Duration::from_millis(20));
        watcher.pump(Duration::from_millis(20));
        let gone: Vec<String> = watcher
            .got
            .iter()
            .filter_map(|e| match e {
                BusEvent::KvChange {
                    key,
                    op: KvOp::Expired,
                    ..
                } => Some(key.clone()),
                _ => None,
            })
            .collect();
        assert!(
            !gone.iter().any(|k| k == "n-other"),
            "a renewed key expired"
        );
        if gone.iter().any(|k| k == "n-owner") {
            break died.elapsed();
        }
    };
    // The last renewal was at most `every` before the death; the report comes after the
    // TTL and within the TTL plus the grace and a margin.
    assert!(expired_after + every >= ttl, "{expired_after:?}");
    assert!(
        expired_after <= ttl + Duration::from_secs(2),
        "{expired_after:?}"
    );
    // The server agrees: the key is gone.
    let g = watcher
        .bus
        .kv_get("nodes", "n-owner", Instant::now())
        .unwrap();
    watcher.bus.flush(Instant::now());
    assert_eq!(watcher.reply(g), Ok(Response::Entry(None)));
    assert_eq!(
        watcher
            .bus
            .kv_watched(watch)
            .map(|k| k.contains_key("n-other")),
        Some(true)
    );
    eprintln!(
        "bus: a dead node's key was reported expired {} ms after it died (TTL {} ms)",
        expired_after.as_millis(),
        ttl.as_millis()
    );
}

#[test]
fn requests_time_out_when_the_server_is_gone() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let mut nats = Nats::start("timeout");
    let timeout = Duration::from_millis(600);
    let mut a = Node::connected(&[nats.url()], |c| {
        c.request_timeout = timeout;
        c.ping_interval = Duration::from_secs(60);
    });
    a.bucket("snakt", BucketConfig::default());
    // The server is there but frozen: a request sent gets no answer.
    nats.freeze();
    let sent = Instant::now();
    let id = a.bus.kv_get("snakt", "k", sent).unwrap();
    a.bus.flush(sent);
    assert_eq!(a.reply(id), Err(RequestError::Timeout));
    let took = sent.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "{took:?}"
    );
    nats.signal(libc::SIGCONT);
    let id = a.bus.kv_get("snakt", "k", Instant::now()).unwrap();
    a.bus.flush(Instant::now());
    assert_eq!(a.reply(id), Ok(Response::Entry(None)));
    // The server is gone: a request waits for a connection and times out.
    nats.kill();
    a.wait("disconnected", |e| {
        matches!(e, BusEvent::Disconnected { .. }).then_some(())
    });
    let sent = Instant::now();
    let id = a.bus.kv_create("snakt", "k", b"v", sent).unwrap();
    assert_eq!(a.reply(id), Err(RequestError::Timeout));
    assert!(sent.elapsed() >= timeout);
    assert_eq!(a.bus.stats().timeouts, 2);
}

#[test]
fn throughput_through_one_bus() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("rate");
    let urls = [nats.url()];
    let mut rx = Node::connected(&urls, |_| {});
    let mut tx = Node::connected(&urls, |_| {});
    rx.bus.subscribe("t.rate").unwrap();
    rx.bus.flush(Instant::now());
    rx.sync();
    const N: u64 = 20_000;
    let payload = vec![b'm'; 100];
    let start = Instant::now();
    let mut sent = 0;
    let mut received = 0u64;
    let deadline = start + Duration::from_secs(60);
    while received < N {
        assert!(Instant::now() < deadline, "only {received} of {N} in time");
        while sent < N && tx.bus.publish("t.rate", &Headers::new(), &payload).is_ok() {
            sent += 1;
        }
        tx.pump(Duration::ZERO);
        rx.pump(Duration::from_millis(1));
        received += rx
            .got
            .drain(..)
            .filter(|e| matches!(e, BusEvent::Message { .. }))
            .count() as u64;
    }
    let took = start.elapsed();
    let stats = rx.bus.stats();
    assert_eq!((stats.missed, stats.duplicates), (0, 0));
    eprintln!(
        "bus: {N} messages of 100 bytes in {} ms: {:.0} messages/s through one publishing and one subscribing bus",
        took.as_millis(),
        N as f64 / took.as_secs_f64()
    );
    // Key-value creates, 500 in flight at a time (one JetStream server, file storage).
    tx.bucket("rate", BucketConfig::default());
    const K: u64 = 5_000;
    let start = Instant::now();
    let mut issued = 0;
    let mut done = 0u64;
    let mut waiting = std::collections::HashSet::new();
    while done < K {
        assert!(
            Instant::now() < deadline,
            "only {done} of {K} creates in time"
        );
        while issued < K && waiting.len() < 500 {
            let id = tx
                .bus
                .kv_create("rate", &format!("k{issued}"), &[b'v'; 200], Instant::now())
                .unwrap();
            waiting.insert(id);
            issued += 1;
        }
        tx.pump(Duration::from_millis(1));
        for e in tx.got.drain(..) {
            if let BusEvent::Reply { request, result } = e {
                assert!(matches!(result, Ok(Response::Revision(_))), "{result:?}");
                assert!(waiting.remove(&request));
                done += 1;
            }
        }
    }
    let took = start.elapsed();
    eprintln!(
        "bus: {K} key-value creates in {} ms: {:.0} creates/s",
        took.as_millis(),
        K as f64 / took.as_secs_f64()
    );
    // A watch takes the whole bucket (flow control answered on the way), through an event
    // queue far smaller than the bucket: reads pause while it is full and resume.
    let mut watcher = Node::connected(&urls, |c| c.max_events = 64);
    let start = Instant::now();
    let watch = watcher.bus.kv_watch("rate", Instant::now()).unwrap();
    let mut keys = std::collections::HashSet::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "only {} keys in time",
            keys.len()
        );
        watcher.pump(Duration::from_millis(5));
        let mut ready = false;
        for e in watcher.got.drain(..) {
            match e {
                BusEvent::KvChange {
                    key, op: KvOp::Put, ..
                } => assert!(keys.insert(key)),
                BusEvent::WatchReady { watch: w } if w == watch => ready = true,
                _ => {}
            }
        }
        if ready {
            break;
        }
    }
    assert_eq!(keys.len() as u64, K);
    eprintln!(
        "bus: a watch took a bucket of {K} keys of 200 bytes in {} ms ({} flow-control requests answered)",
        start.elapsed().as_millis(),
        watcher.bus.stats().flow_control
    );
}

#[test]
fn watches_see_puts_and_deletes_and_a_filter_keeps_to_its_keys() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("watch");
    let urls = [nats.url()];
    let mut w = Node::connected(&urls, |_| {});
    let mut b = Node::connected(&urls, |_| {});
    b.bucket("held", BucketConfig::default());
    // Before the watch starts: reported in its first snapshot.
    for key in ["n1.alice", "n2.bob"] {
        let p = b
            .bus
            .kv_put("held", key, key.as_bytes(), Instant::now())
            .unwrap();
        b.bus.flush(Instant::now());
        assert!(matches!(b.reply(p), Ok(Response::Revision(_))));
    }
    let all = w.bus.kv_watch("held", Instant::now()).unwrap();
    let n1 = w.bus.kv_watch_keys("held", "n1.>", Instant::now()).unwrap();
    assert!(w.bus.kv_watch_keys("held", "a b", Instant::now()).is_err());
    for watch in [all, n1] {
        w.wait("ready", |e| {
            matches!(e, BusEvent::WatchReady { watch: x } if *x == watch).then_some(())
        });
    }
    for key in ["n1.carol", "n2.dave"] {
        let p = b.bus.kv_put("held", key, b"v", Instant::now()).unwrap();
        b.bus.flush(Instant::now());
        assert!(matches!(b.reply(p), Ok(Response::Revision(_))));
    }
    let d = b
        .bus
        .kv_delete("held", "n1.alice", None, Instant::now())
        .unwrap();
    b.bus.flush(Instant::now());
    assert!(matches!(b.reply(d), Ok(Response::Revision(_))));
    w.wait("the delete", |e| match e {
        BusEvent::KvChange {
            watch,
            key,
            op: KvOp::Delete,
            value: None,
            ..
        } if *watch == n1 && key == "n1.alice" => Some(()),
        _ => None,
    });
    w.wait("the delete, on the other watch", |e| match e {
        BusEvent::KvChange {
            watch,
            key,
            op: KvOp::Delete,
            ..
        } if *watch == all && key == "n1.alice" => Some(()),
        _ => None,
    });
    let seen = |watch| -> Vec<String> {
        let mut keys: Vec<String> = w.bus.kv_watched(watch).unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(seen(n1), ["n1.carol"]);
    assert_eq!(seen(all), ["n1.carol", "n2.bob", "n2.dave"]);
    let filtered: Vec<&String> = w
        .got
        .iter()
        .filter_map(|e| match e {
            BusEvent::KvChange { watch, key, .. } if *watch == n1 => Some(key),
            _ => None,
        })
        .collect();
    assert!(
        filtered.iter().all(|k| k.starts_with("n1.")),
        "{filtered:?}"
    );
}

#[test]
fn requests_are_answered_by_a_responder_or_by_nobody_at_once() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("request");
    let urls = [nats.url()];
    let mut asker = Node::connected(&urls, |c| c.request_timeout = Duration::from_millis(800));
    let mut holder = Node::connected(&urls, |_| {});
    let scheme = snak::bus::names::Scheme::new("t").unwrap();
    let bob = scheme.user("bob");
    holder.bus.subscribe(&bob).unwrap();
    holder.bus.flush(Instant::now());
    holder.sync();
    let id = asker
        .bus
        .request(
            &bob,
            &headers(&[("Snak-Op", "dm")]),
            b"hi bob",
            Instant::now(),
        )
        .unwrap();
    asker.bus.flush(Instant::now());
    let (reply, h, payload) = holder.wait("the DM", |e| match e {
        BusEvent::Message {
            reply: Some(r),
            headers,
            payload,
            ..
        } => Some((r.clone(), headers.clone(), payload.clone())),
        _ => None,
    });
    assert_eq!(
        (h.get("Snak-Op"), payload.as_slice()),
        (Some("dm"), &b"hi bob"[..])
    );
    holder
        .bus
        .respond(&reply, &headers(&[("Snak-Ok", "1")]), b"delivered")
        .unwrap();
    holder.bus.flush(Instant::now());
    match asker.reply(id) {
        Ok(Response::Message { headers, payload }) => {
            assert_eq!(
                (headers.get("Snak-Ok"), payload.as_slice()),
                (Some("1"), &b"delivered"[..])
            )
        }
        other => panic!("{other:?}"),
    }
    // Nobody holds carol: NATS says so at once, long before the timeout.
    let asked = Instant::now();
    let id = asker
        .bus
        .request(&scheme.user("carol"), &Headers::new(), b"hi", asked)
        .unwrap();
    asker.bus.flush(asked);
    assert_eq!(asker.reply(id), Err(RequestError::NoResponders));
    assert!(asked.elapsed() < Duration::from_secs(2));
    // A key-value call on a bucket that does not exist.
    let id = asker
        .bus
        .kv_put("missing", "k", b"v", Instant::now())
        .unwrap();
    asker.bus.flush(Instant::now());
    assert_eq!(asker.reply(id), Err(RequestError::NoResponders));
    let id = asker.bus.kv_get("missing", "k", Instant::now()).unwrap();
    asker.bus.flush(Instant::now());
    // A direct get is served by JetStream's API, which answers nothing for a missing stream.
    assert_eq!(asker.reply(id), Err(RequestError::Timeout));
}

#[test]
fn a_watch_whose_bucket_is_recreated_takes_it_whole_and_reports_what_is_gone() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start("recreate");
    let urls = [nats.url()];
    let mut w = Node::connected(&urls, |c| c.watch_heartbeat = Duration::from_millis(300));
    let mut b = Node::connected(&urls, |_| {});
    b.bucket("rooms", BucketConfig::default());
    for key in ["old1", "old2", "kept"] {
        let p = b.bus.kv_put("rooms", key, b"1", Instant::now()).unwrap();
        b.bus.flush(Instant::now());
        assert!(matches!(b.reply(p), Ok(Response::Revision(_))));
    }
    let watch = w.bus.kv_watch("rooms", Instant::now()).unwrap();
    w.wait("ready", |e| {
        matches!(e, BusEvent::WatchReady { .. }).then_some(())
    });
    w.got.clear();
    // The bucket is deleted (its consumers with it) and made again with one of the keys.
    let id = b
        .bus
        .request(
            "$JS.API.STREAM.DELETE.KV_rooms",
            &Headers::new(),
            b"",
            Instant::now(),
        )
        .unwrap();
    b.bus.flush(Instant::now());
    assert!(matches!(b.reply(id), Ok(Response::Message { .. })));
    b.bucket("rooms", BucketConfig::default());
    let p = b.bus.kv_put("rooms", "kept", b"2", Instant::now()).unwrap();
    b.bus.flush(Instant::now());
    assert!(matches!(b.reply(p), Ok(Response::Revision(1))));
    // The watch's consumer went silent; the watch makes a new one, sees the stream went back
    // and reads it whole.
    w.wait("ready again", |e| {
        matches!(e, BusEvent::WatchReady { watch: x } if *x == watch).then_some(())
    });
    let mut gone: Vec<String> = w
        .got
        .iter()
        .filter_map(|e| match e {
            BusEvent::KvChange {
                key,
                op: KvOp::Gone,
                ..
            } => Some(key.clone()),
            _ => None,
        })
        .collect();
    gone.sort();
    assert_eq!(gone, ["old1", "old2"]);
    assert!(w.got.iter().any(|e| matches!(
        e,
        BusEvent::KvChange { key, op: KvOp::Put, value: Some(v), .. } if key == "kept" && v == b"2"
    )));
    let mut held: Vec<&String> = w.bus.kv_watched(watch).unwrap().keys().collect();
    held.sort();
    assert_eq!(held, ["kept"]);
}

#[test]
fn credentials_are_sent_and_a_refusal_is_retried() {
    if !have_nats() {
        return common::skip(MISSING);
    }
    let nats = Nats::start_with("auth", &["--user", "snak", "--pass", "s3cret"]);
    let urls = [nats.url()];
    let mut good = Node::connected(&urls, |c| {
        c.user = Some("snak".into());
        c.pass = Some("s3cret".into());
    });
    good.sync();
    let mut bad = Node::new(&urls, |c| {
        c.user = Some("snak".into());
        c.pass = Some("wrong".into());
    });
    // Refused and retried, never connected.
    let deadline = Instant::now() + WAIT;
    while bad.bus.stats().failures < 3 {
        assert!(Instant::now() < deadline, "{:?}", bad.bus.stats());
        bad.pump(Duration::from_millis(50));
    }
    assert!(!bad.bus.is_connected());
    assert!(bad.bus.stats().server_errors >= 1);
    assert!(bad
        .got
        .iter()
        .all(|e| !matches!(e, BusEvent::Connected { .. })));
}
