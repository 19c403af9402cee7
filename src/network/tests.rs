//! Several hubs as one network without NATS: what each hub tells the network goes through the
//! codec to the others as the bus would carry it (rooms to the hubs with the room, nodes to
//! their node, `all` to everyone), claims against one map standing for the nicks bucket. What
//! users see is the native protocol's lines, per hub and client.

use std::collections::{HashMap, VecDeque};

use super::out::{NetOut, Outgoing, Target};
use super::wire::{self, Msg};
use crate::clock::Clock;
use crate::event::{Event, ModeChange};
use crate::hub::{
    ClaimOutcome, ClientId, Command, Hub, HubConfig, RoomEffect, RoomState, Sink, Uid,
};

#[derive(Default)]
struct Told {
    lines: HashMap<ClientId, Vec<String>>,
    out: NetOut,
}

impl Sink for Told {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let mut b = Vec::new();
        crate::proto::line::encode(event, me, &mut b);
        let text = String::from_utf8(b).unwrap_or_default();
        for line in text.lines() {
            self.lines.entry(to).or_default().push(line.to_string());
        }
    }
    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        for &id in to {
            if Some(id) != except && !crate::hub::is_remote(id) {
                self.one(id, "", event);
            }
        }
    }
    fn network(&mut self, change: &crate::hub::Change<'_>) {
        self.out.push(change);
    }
}

struct Node {
    hub: Hub,
    told: Told,
    id: u64,
}

/// The network: hubs by node id, the nick keys, messages in flight.
struct Fabric {
    nodes: Vec<Node>,
    keys: HashMap<String, Uid>,
    clock: Clock,
    /// (to node index, payload) in flight; delivered in order.
    wire: VecDeque<(usize, Vec<u8>)>,
}

impl Fabric {
    fn new(n: usize) -> Fabric {
        let nodes = (0..n)
            .map(|i| {
                let mut hub = Hub::new(HubConfig {
                    quiet_room_size: 50,
                    ..HubConfig::default()
                });
                let id = 100 + i as u64;
                hub.join_network(id, 1 + 1000 * i as u64);
                hub.set_net_online(true);
                Node {
                    hub,
                    told: Told::default(),
                    id,
                }
            })
            .collect();
        Fabric {
            nodes,
            keys: HashMap::new(),
            clock: Clock::now(),
            wire: VecDeque::new(),
        }
    }

    fn index(&self, node: u64) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == node)
    }

    /// Moves everything until nothing is left in flight.
    fn run(&mut self) {
        for _ in 0..1000 {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                let items = self.nodes[i].told.out.take();
                busy |= !items.is_empty();
                for item in items {
                    self.send(i, item);
                }
                let Node { hub, told, .. } = &mut self.nodes[i];
                hub.settle(told);
                busy |= !told.out.is_empty();
            }
            while let Some((to, payload)) = self.wire.pop_front() {
                busy = true;
                self.deliver(to, &payload);
            }
            if !busy {
                return;
            }
        }
        panic!("the fabric never settled");
    }

    fn send(&mut self, from: usize, item: Outgoing) {
        let clock = self.clock;
        match item {
            Outgoing::Publish { to, payload } => {
                let targets: Vec<usize> = match &to {
                    Target::All => (0..self.nodes.len()).filter(|&i| i != from).collect(),
                    Target::Node(n) => self.index(*n).into_iter().collect(),
                    Target::Room(folded) => (0..self.nodes.len())
                        .filter(|&i| i != from)
                        .filter(|&i| self.nodes[i].hub.local_rooms().contains(folded))
                        .collect(),
                };
                for t in targets {
                    self.wire.push_back((t, payload.clone()));
                }
            }
            Outgoing::Claim { uid, keys, .. } => {
                let skel = format!("skel.{}", keys.skeleton);
                let key = keys.key.to_string();
                let mine =
                    |k: &String, keys: &HashMap<String, Uid>| keys.get(k).is_none_or(|&u| u == uid);
                let outcome = if mine(&key, &self.keys) && mine(&skel, &self.keys) {
                    self.keys.insert(key, uid);
                    self.keys.insert(skel, uid);
                    Ok(())
                } else {
                    Err(ClaimOutcome::Taken)
                };
                let Node { hub, told, .. } = &mut self.nodes[from];
                hub.nick_claimed(uid, outcome, clock, told);
            }
            Outgoing::Online { value, .. } | Outgoing::Update { value, .. } => {
                for t in (0..self.nodes.len()).filter(|&i| i != from) {
                    self.wire.push_back((t, value.clone()));
                }
            }
            Outgoing::Renamed {
                uid,
                keys,
                old,
                value,
            } => {
                self.keys.remove(&*old.key);
                if old.skeleton != keys.skeleton {
                    self.keys.remove(&format!("skel.{}", old.skeleton));
                }
                let _ = uid;
                for t in (0..self.nodes.len()).filter(|&i| i != from) {
                    self.wire.push_back((t, value.clone()));
                }
            }
            Outgoing::Quit { uid } | Outgoing::Abandon { uid } => {
                self.keys.retain(|_, u| *u != uid);
            }
            Outgoing::NeedRoom { folded } => {
                let states: Vec<RoomState> = (0..self.nodes.len())
                    .filter(|&i| i != from)
                    .filter_map(|i| self.nodes[i].hub.room_state(&folded, false))
                    .collect();
                let Node { hub, told, .. } = &mut self.nodes[from];
                let founder = states.is_empty();
                hub.room_synced(&folded, states, founder, clock, told);
            }
            // A store of each node's own: nothing to share.
            Outgoing::LeftRoom { .. }
            | Outgoing::Registration { .. }
            | Outgoing::Account { .. } => {}
        }
    }

    fn deliver(&mut self, to: usize, payload: &[u8]) {
        let clock = self.clock;
        let Node { hub, told, .. } = &mut self.nodes[to];
        match wire::decode(payload).expect("decodes") {
            Msg::Room {
                name,
                actor,
                effect,
                changes,
            } => {
                let effect = match effect {
                    RoomEffect::Modes { at, .. } => RoomEffect::Modes {
                        changes: &changes,
                        at,
                    },
                    e => e,
                };
                hub.remote_room(name, actor, effect, clock, told);
            }
            Msg::User { who } => {
                hub.remote_user(who, clock, told);
            }
            Msg::Quit { uid, reason } => hub.remote_quit(uid, reason, clock, told),
            Msg::Direct { from, to, effect } => hub.remote_direct(from, to, effect, clock, told),
            Msg::Wallops { from, text } => hub.remote_wallops(from, text, told),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn connect(&mut self, node: usize, id: ClientId) {
        let clock = self.clock;
        let Node { hub, told, .. } = &mut self.nodes[node];
        hub.connect_native(id, "127.0.0.1", clock, told);
        self.run();
    }

    fn cmd(&mut self, node: usize, id: ClientId, cmd: Command<'_>) {
        let clock = self.clock;
        let Node { hub, told, .. } = &mut self.nodes[node];
        hub.apply(id, cmd, clock, told);
        self.run();
    }

    fn say(&mut self, node: usize, id: ClientId, text: &str) {
        self.cmd(
            node,
            id,
            Command::SayCurrent {
                kind: crate::event::MsgKind::Normal,
                text,
            },
        );
    }

    /// What a client was told since the last call.
    fn take(&mut self, node: usize, id: ClientId) -> Vec<String> {
        self.nodes[node].told.lines.remove(&id).unwrap_or_default()
    }
}

fn names(f: &mut Fabric, node: usize, id: ClientId, room: &str) -> String {
    f.take(node, id);
    f.cmd(node, id, Command::Who(Some(room)));
    f.take(node, id).join("\n")
}

#[test]
fn guests_on_two_nodes_share_the_lobby_and_hear_each_other_once() {
    let mut f = Fabric::new(2);
    f.connect(0, 1);
    f.connect(1, 1);
    let a = f.take(0, 1);
    assert!(a[0].starts_with("* Hello"), "{a:?}");
    // A's user sees B's guest arrive in the lobby (B gathered the lobby's state from A).
    assert_eq!(a[1], "* guest-1001 joined #lobby", "{a:?}");
    f.cmd(1, 1, Command::Nick("bob"));
    f.cmd(0, 1, Command::Nick("alice"));
    f.take(0, 1);
    f.take(1, 1);
    f.say(0, 1, "hello from a");
    assert_eq!(f.take(1, 1), vec!["#lobby <alice> hello from a"]);
    assert!(f.take(0, 1).is_empty());
    f.say(1, 1, "and from b");
    assert_eq!(f.take(0, 1), vec!["#lobby <bob> and from b"]);
    let who = names(&mut f, 0, 1, "#lobby");
    assert!(who.contains("alice") && who.contains("bob"), "{who}");
    let who = names(&mut f, 1, 1, "#lobby");
    assert!(who.contains("alice") && who.contains("bob"), "{who}");
}

#[test]
fn a_nick_held_on_another_node_is_refused_and_renames_are_seen_everywhere() {
    let mut f = Fabric::new(3);
    for n in 0..3 {
        f.connect(n, 7);
    }
    f.cmd(0, 7, Command::Nick("carol"));
    f.take(1, 7);
    f.cmd(1, 7, Command::Nick("Carol"));
    let b = f.take(1, 7);
    assert!(b.iter().any(|l| l.starts_with("! nick-taken")), "{b:?}");
    f.cmd(1, 7, Command::Nick("dave"));
    let c = f.take(2, 7);
    assert!(
        c.iter().any(|l| l.contains("is now known as dave")),
        "{c:?}"
    );
    f.cmd(0, 7, Command::Nick("carol2"));
    let c = f.take(2, 7);
    assert!(
        c.iter().any(|l| l.contains("carol is now known as carol2")),
        "{c:?}"
    );
    // The freed nick can be taken on another node.
    f.cmd(2, 7, Command::Nick("carol"));
    let a = f.take(0, 7);
    assert!(
        a.iter().any(|l| l.contains("is now known as carol")),
        "{a:?}"
    );
}

#[test]
fn room_state_reaches_a_node_joining_late_and_effects_apply_everywhere() {
    let mut f = Fabric::new(2);
    f.connect(0, 1);
    f.cmd(0, 1, Command::Nick("op"));
    f.cmd(
        0,
        1,
        Command::Join {
            rooms: "#ops",
            keys: None,
        },
    );
    f.cmd(
        0,
        1,
        Command::Topic {
            room: Some("#ops"),
            text: Some("the topic"),
        },
    );
    let changes = [ModeChange::Key(Some("k"))];
    f.cmd(
        0,
        1,
        Command::RoomMode {
            room: "#ops",
            changes: &changes,
        },
    );
    f.connect(1, 1);
    f.cmd(1, 1, Command::Nick("late"));
    f.take(1, 1);
    // Without the key: refused by B's copy of A's room.
    f.cmd(
        1,
        1,
        Command::Join {
            rooms: "#ops",
            keys: None,
        },
    );
    let b = f.take(1, 1);
    assert!(b.iter().any(|l| l.starts_with("! bad-key #ops")), "{b:?}");
    assert!(!f.nodes[1].hub.local_rooms().contains(&"#ops".into()));
    f.cmd(
        1,
        1,
        Command::Join {
            rooms: "#ops",
            keys: Some("k"),
        },
    );
    let b = f.take(1, 1).join("\n");
    assert!(b.contains("late joined #ops"), "{b}");
    f.cmd(
        1,
        1,
        Command::Topic {
            room: Some("#ops"),
            text: None,
        },
    );
    let b = f.take(1, 1).join("\n");
    assert!(b.contains("the topic"), "{b}");
    let a = f.take(0, 1).join("\n");
    assert!(a.contains("late joined #ops"), "{a}");
    // The op on A kicks the user on B: B's user is out, and B keeps no copy of the room.
    f.cmd(
        0,
        1,
        Command::Kick {
            rooms: "#ops",
            nicks: "late",
            reason: Some("bye"),
        },
    );
    let b = f.take(1, 1).join("\n");
    assert!(b.contains("kicked"), "{b}");
    assert!(!f.nodes[1].hub.local_rooms().contains(&"#ops".into()));
    let who = names(&mut f, 0, 1, "#ops");
    assert!(!who.contains("late"), "{who}");
}

#[test]
fn quits_dms_and_files_across_nodes() {
    let mut f = Fabric::new(2);
    f.connect(0, 1);
    f.connect(1, 2);
    f.cmd(0, 1, Command::Nick("ann"));
    f.cmd(1, 2, Command::Nick("ben"));
    f.cmd(
        0,
        1,
        Command::Message {
            targets: "ben",
            kind: crate::event::MsgKind::Normal,
            text: "psst",
        },
    );
    let b = f.take(1, 2);
    assert!(
        b.contains(&"<ann> psst".to_string()) || b.iter().any(|l| l.contains("psst")),
        "{b:?}"
    );
    f.cmd(
        0,
        1,
        Command::Offer {
            to: "ben",
            size: 3,
            name: "x",
        },
    );
    let a = f.take(0, 1).join("\n");
    assert!(a.contains("is on another server"), "{a}");
    let clock = f.clock;
    let Node { hub, told, .. } = &mut f.nodes[1];
    hub.disconnect(2, Some("gone home"), told);
    let _ = clock;
    f.run();
    let a = f.take(0, 1).join("\n");
    assert!(
        a.contains("ben quit (gone home)") || a.contains("ben left"),
        "{a}"
    );
    f.cmd(
        0,
        1,
        Command::Message {
            targets: "ben",
            kind: crate::event::MsgKind::Normal,
            text: "hello?",
        },
    );
    let a = f.take(0, 1).join("\n");
    assert!(a.contains("no-such-nick"), "{a}");
}
