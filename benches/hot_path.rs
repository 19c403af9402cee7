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
use snak::outbox::{OutQueue, Outbox, Span};
use snak::proto::{irc, line};

/// A stand-in for the server's delivery: the same encode-once, queue-per-recipient steps.
struct Bench {
    outbox: Outbox,
    queues: Vec<OutQueue>,
    irc: Vec<bool>,
}

impl Bench {
    fn encode(&mut self, irc_proto: bool, me: &str, event: &Event<'_>) -> Span {
        if irc_proto {
            self.outbox
                .encode(|out| irc::encode(event, me, "snak.bench", out))
        } else {
            self.outbox.encode(|out| line::encode(event, me, out))
        }
    }

    /// Writes every queue with one vectored write, as the loop's flush does.
    fn flush(&mut self) {
        let mut dirty = Vec::new();
        self.outbox.take_dirty(&mut dirty);
        let mut sink = io::sink();
        for id in dirty {
            let _ = self.outbox.write(&mut self.queues[id], &mut sink);
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
        let (mut native, mut irc) = (None, None);
        for &id in to {
            if Some(id) == except {
                continue;
            }
            let span = if self.irc[id] {
                *irc.get_or_insert_with(|| self.encode(true, "", event))
            } else {
                *native.get_or_insert_with(|| self.encode(false, "", event))
            };
            self.outbox.push(&mut self.queues[id], id, span);
        }
    }
}

/// A room `#bench` with `n` members, a quarter of them IRC users.
fn setup(n: usize) -> (Hub, Bench) {
    let mut hub = Hub::new(HubConfig {
        max_file_size: 1 << 20,
        quiet_room_size: 500,
        offer_timeout: std::time::Duration::from_secs(60),
        ..HubConfig::default()
    });
    let mut bench = Bench {
        outbox: Outbox::new(),
        queues: (0..n).map(|_| OutQueue::default()).collect(),
        irc: (0..n).map(|i| i % 4 == 3).collect(),
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

criterion_group!(benches, fanout, parse);
criterion_main!(benches);
