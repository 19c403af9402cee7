//! What a name lookup costs: folding a nick or a room name into a map key happens on every
//! message, so it must stay cheap and, for ASCII names, free of allocations.
//!
//! `cargo bench --bench names`. Before the timings it counts the allocations per call of each
//! case and stops with an error if an ASCII lookup allocates. "before" is the ASCII-only key
//! snak had until the Unicode rules came (kept below as the baseline).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use snak::clock::Clock;
use snak::event::{Event, MsgKind};
use snak::hub::{ClientId, Command, Hub, HubConfig, Sink};
use snak::names::{Key, NameRules};

/// Counts the allocations made on this thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The lookup key as it was: ASCII lower case into a buffer on the stack.
mod before {
    pub struct Key {
        buf: [u8; 64],
        len: usize,
    }

    impl Key {
        pub fn new(name: &str) -> Key {
            let mut key = Key {
                buf: [0; 64],
                len: 0,
            };
            if name.len() <= 64 {
                key.buf[..name.len()].copy_from_slice(name.as_bytes());
                key.buf[..name.len()].make_ascii_lowercase();
                key.len = name.len();
            }
            key
        }

        pub fn as_str(&self) -> &str {
            std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
        }
    }
}

/// The cases: (label, name, whether it must not allocate).
const CASES: &[(&str, &str, bool)] = &[
    ("ascii nick", "AliceInChains", true),
    ("ascii room", "#Rust-Lang", true),
    ("folded non-ascii room", "#rødgrød", true),
    ("non-ascii room to fold", "#RødGrød", false),
    ("fullwidth nick", "ＡＬＩＣＥ", false),
];

fn allocations_per_call(mut f: impl FnMut()) -> f64 {
    const CALLS: u64 = 1000;
    // Once first, so buffers kept between calls (the hub's scratch vectors) have grown.
    f();
    let start = ALLOCATIONS.with(Cell::get);
    for _ in 0..CALLS {
        f();
    }
    (ALLOCATIONS.with(Cell::get) - start) as f64 / CALLS as f64
}

fn check_allocations() {
    let unicode = NameRules::Unicode;
    for &(label, name, must_not) in CASES {
        let after = allocations_per_call(|| {
            black_box(unicode.key(black_box(name)));
        });
        let before = allocations_per_call(|| {
            black_box(before::Key::new(black_box(name)).as_str().len());
        });
        println!("allocations per lookup, {label} {name:?}: before {before}, after {after}");
        assert!(!must_not || after == 0.0, "{label}: a lookup allocates");
    }
    let legacy = allocations_per_call(|| {
        black_box(Key::new(black_box("AliceInChains")));
    });
    assert_eq!(legacy, 0.0, "Key::new allocates");
    check_hub_allocations();
}

/// A sink that tells nobody: what is counted is the hub's own work.
struct Nobody;

impl Sink for Nobody {
    fn one(&mut self, _: ClientId, _: &str, event: &Event<'_>) {
        black_box(event);
    }
    fn many(&mut self, _: &[ClientId], _: Option<ClientId>, event: &Event<'_>) {
        black_box(event);
    }
}

/// The lookups as the hub makes them, under each rule set: a message to a nick and to a room,
/// by the spelling given.
fn check_hub_allocations() {
    for rules in [NameRules::Unicode, NameRules::Ascii] {
        let mut hub = Hub::new(HubConfig {
            names: rules,
            ..HubConfig::default()
        });
        let now = Clock::now();
        let nicks = match rules {
            NameRules::Unicode => ["AliceInChains", "søren"],
            NameRules::Ascii => ["AliceInChains", "soren"],
        };
        let room = match rules {
            NameRules::Unicode => "#rødgrød",
            NameRules::Ascii => "#rodgrod",
        };
        for (id, nick) in nicks.iter().enumerate() {
            hub.connect_native(id, "127.0.0.1", now, &mut Nobody);
            hub.apply(id, Command::Nick(nick), now, &mut Nobody);
            let join = Command::Join {
                rooms: room,
                keys: None,
            };
            hub.apply(id, join, now, &mut Nobody);
        }
        let mut cases = vec![
            ("to an ascii nick", "aliceinchains", true),
            ("to an ascii nick in another case", "ALICEINCHAINS", true),
            ("to an ascii room", "#lobby", true),
        ];
        if rules == NameRules::Unicode {
            cases.extend([
                ("to a folded non-ascii nick", "søren", true),
                ("to a folded non-ascii room", "#rødgrød", true),
                ("to a non-ascii room to fold", "#RødGrød", false),
            ]);
        }
        for (label, target, must_not) in cases {
            let message = Command::Message {
                targets: target,
                kind: MsgKind::Normal,
                text: "hello",
            };
            let n = allocations_per_call(|| hub.apply(1, message, now, &mut Nobody));
            println!("allocations per hub message, {rules:?} rules, {label} {target:?}: {n}");
            assert!(!must_not || n == 0.0, "{label}: a hub message allocates");
        }
    }
}

fn lookups(c: &mut Criterion) {
    check_allocations();
    let unicode = NameRules::Unicode;
    let ascii = NameRules::Ascii;
    let mut group = c.benchmark_group("name key");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    for &(label, name, _) in CASES {
        group.bench_function(format!("before, {label}"), |b| {
            b.iter(|| before::Key::new(black_box(name)).as_str().len())
        });
        group.bench_function(format!("unicode rules, {label}"), |b| {
            b.iter(|| unicode.key(black_box(name)).len())
        });
        group.bench_function(format!("ascii rules, {label}"), |b| {
            b.iter(|| ascii.key(black_box(name)).len())
        });
    }
    group.finish();

    // Not per message: once per NICK, JOIN of a new room, registration.
    let mut group = c.benchmark_group("name check");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    for name in ["AliceInChains", "søren", "p\u{430}ypal"] {
        group.bench_function(format!("unicode nick keys {name:?}"), |b| {
            b.iter(|| unicode.nick(black_box(name)))
        });
    }
    group.bench_function("ascii nick keys \"AliceInChains\"", |b| {
        b.iter(|| ascii.nick(black_box("AliceInChains")))
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
