//! The hot path without sockets: one room message through the hub, encoded once per protocol,
//! queued for N recipients and written out with one vectored write each (to a sink that takes
//! everything, so only snak's own work is measured).
//!
//! `cargo bench --bench hot_path`; the figure to watch is the time per pass of eight messages
//! for each N (criterion also prints deliveries per second).

use std::io;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use snak::clock::Clock;
use snak::event::{Event, MsgKind};
use snak::hub::{ClientId, Command, Hub, HubConfig, Sink};
use snak::outbox::{Gather, OutQueue, Outbox, Span};
use snak::proto::{irc, line};

/// A stand-in for the server's delivery: the same encode-once, queue-per-recipient steps.
struct Bench {
    outbox: Outbox,
    queues: Vec<OutQueue>,
    irc: Vec<bool>,
    /// IRC capability bits per recipient (see `proto::irc::caps`).
    caps: Vec<u32>,
}

impl Bench {
    fn encode(&mut self, irc_proto: bool, me: &str, event: &Event<'_>) -> Span {
        self.encode_with(irc_proto, 0, me, event)
    }

    fn encode_with(&mut self, irc_proto: bool, caps: u32, me: &str, event: &Event<'_>) -> Span {
        if irc_proto {
            // A fixed time: the server passes its pass's clock.
            let now_ms = 1_767_225_600_000;
            self.outbox
                .encode(|out| irc::encode_with(event, me, "snak.bench", caps, now_ms, out))
        } else {
            self.outbox.encode(|out| line::encode(event, me, out))
        }
    }

    /// Writes every queue with one vectored write, as the loop's flush does.
    fn flush(&mut self) {
        let mut dirty = Vec::new();
        self.outbox.take_dirty(&mut dirty);
        let mut sink = io::sink();
        // One slice list for the pass, as `flush_links` keeps it.
        let mut gather = Gather::default();
        for id in dirty {
            let _ = self
                .outbox
                .write_gathered(&mut self.queues[id], &mut sink, &mut gather);
        }
        self.outbox.end_pass();
    }
}

impl Sink for Bench {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let span = self.encode(self.irc[to], me, event);
        self.outbox.push(&mut self.queues[to], to, span);
    }

    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        // One encoding per wire variant: native, or IRC with the caps that matter here.
        let relevant = irc::caps::relevant(event);
        let mut native = None;
        let mut made: Vec<(u32, Span)> = Vec::new();
        for &id in to {
            if Some(id) == except {
                continue;
            }
            let span = if self.irc[id] {
                let caps = self.caps[id] & relevant;
                match made.iter().find(|(c, _)| *c == caps) {
                    Some(&(_, span)) => span,
                    None => {
                        let span = self.encode_with(true, caps, "", event);
                        made.push((caps, span));
                        span
                    }
                }
            } else {
                *native.get_or_insert_with(|| self.encode(false, "", event))
            };
            self.outbox.push(&mut self.queues[id], id, span);
        }
    }
}

/// A room `#bench` with `n` members, a quarter of them IRC users.
fn setup(n: usize) -> (Hub, Bench) {
    setup_with(n, |i| i % 4 == 3, 0)
}

/// A room `#bench` with `n` members; `irc(i)`: member i is an IRC user, with `caps`.
fn setup_with(n: usize, irc: impl Fn(usize) -> bool, caps: u32) -> (Hub, Bench) {
    let mut hub = Hub::new(HubConfig {
        max_file_size: 1 << 20,
        quiet_room_size: 500,
        offer_timeout: std::time::Duration::from_secs(60),
        ..HubConfig::default()
    });
    let mut bench = Bench {
        outbox: Outbox::new(),
        queues: (0..n).map(|_| OutQueue::default()).collect(),
        irc: (0..n).map(&irc).collect(),
        caps: vec![caps; n],
    };
    let now = Clock::now();
    for id in 0..n {
        if bench.irc[id] {
            hub.register(id, &format!("irc{id}"), "u", "real", "127.0.0.1", now);
        } else {
            hub.connect_native(id, "127.0.0.1", now, &mut bench);
        }
        let join = Command::Join {
            rooms: "#bench",
            keys: None,
        };
        hub.apply(id, join, now, &mut bench);
        bench.flush();
    }
    (hub, bench)
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("room message");
    for n in [10usize, 100, 1000] {
        let (mut hub, mut bench) = setup(n);
        let now = Clock::now();
        group.throughput(Throughput::Elements(8 * (n as u64 - 1)));
        group.bench_with_input(BenchmarkId::new("fanout", n), &n, |b, _| {
            b.iter(|| {
                // Eight messages per pass, as a busy loop pass carries them.
                for _ in 0..8 {
                    let text = "the quick brown fox jumps over the lazy dog 0123456789";
                    let cmd = Command::SayCurrent {
                        kind: MsgKind::Normal,
                        text,
                    };
                    hub.apply(0, cmd, now, &mut bench);
                }
                bench.flush();
            })
        });
    }
    group.finish();
}

/// A room of 100 IRC users (the sender native, so its messages are split if long), without
/// tags and with server-time and message-tags: the tags are written once per variant, so
/// the two should cost about the same per delivery.
fn fanout_irc_tags(c: &mut Criterion) {
    use irc::caps::{MESSAGE_TAGS, SERVER_TIME};
    let mut group = c.benchmark_group("irc room message");
    for (name, caps) in [
        ("plain", 0),
        ("server-time+message-tags", SERVER_TIME | MESSAGE_TAGS),
    ] {
        let (mut hub, mut bench) = setup_with(101, |i| i > 0, caps);
        let now = Clock::now();
        group.throughput(Throughput::Elements(8 * 100));
        group.bench_function(BenchmarkId::new("fanout100", name), |b| {
            b.iter(|| {
                for _ in 0..8 {
                    let text = "the quick brown fox jumps over the lazy dog 0123456789";
                    let cmd = Command::SayCurrent {
                        kind: MsgKind::Normal,
                        text,
                    };
                    hub.apply(0, cmd, now, &mut bench);
                }
                bench.flush();
            })
        });
    }
    group.finish();
}

fn parse(c: &mut Criterion) {
    let native = b"/msg bob,carol the quick brown fox jumps over the lazy dog";
    c.bench_function("parse native line", |b| {
        b.iter(|| line::parse(std::hint::black_box(native)).is_ok())
    });
    let irc_line = b"@time=2026-01-01T00:00:00Z :nick!user@host PRIVMSG #room :the quick brown fox";
    c.bench_function("parse IRC line", |b| {
        b.iter(|| {
            snak::proto::irc_msg::parse(std::hint::black_box(irc_line)).map(|m| m.params().len())
        })
    });
}

criterion_group!(benches, fanout, fanout_irc_tags, parse);
criterion_main!(benches);
