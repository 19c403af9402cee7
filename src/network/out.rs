//! What the hub told the network this pass, in order: filled by the server's sink as the hub
//! calls [`Sink::network`](crate::hub::Sink::network), sent by [`super::Network::send`] at the
//! end of the pass (messages encoded once, here, into owned bytes).

use crate::hub::{Change, Uid};

use super::wire;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A room's subject (the folded name).
    Room(Box<str>),
    /// A node's subject.
    Node(u64),
    /// Every node.
    All,
}

/// A user's keys in the nicks bucket: the folded nick and its skeleton (not yet escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub key: Box<str>,
    pub skeleton: Box<str>,
}

/// One thing for the network to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Publish {
        to: Target,
        payload: Vec<u8>,
    },
    /// Take these keys for `uid` (its record is `value`); answer the hub.
    Claim {
        uid: Uid,
        keys: Keys,
        value: Vec<u8>,
    },
    Abandon {
        uid: Uid,
    },
    /// On line: the record goes to every node (the keys are held already, or claimed now for
    /// a provisional user).
    Online {
        uid: Uid,
        keys: Keys,
        value: Vec<u8>,
    },
    Update {
        uid: Uid,
        value: Vec<u8>,
    },
    Renamed {
        uid: Uid,
        keys: Keys,
        old: Keys,
        value: Vec<u8>,
    },
    /// The quit message is published already; the keys go.
    Quit {
        uid: Uid,
    },
    NeedRoom {
        folded: Box<str>,
    },
    LeftRoom {
        folded: Box<str>,
    },
    /// A registered room's record changed here: its record as the hub has it when this is
    /// sent goes to every node (with a shared store).
    Registration {
        key: Box<str>,
    },
    /// An account created or dropped here (with a shared store).
    Account {
        payload: Vec<u8>,
    },
}

#[derive(Debug, Default)]
pub struct NetOut {
    pub items: Vec<Outgoing>,
}

impl NetOut {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn take(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.items)
    }

    /// A registered room's record changed (told once per pass however many changes).
    pub fn registration(&mut self, key: &str) {
        let known = self
            .items
            .iter()
            .any(|i| matches!(i, Outgoing::Registration { key: k } if **k == *key));
        if !known {
            self.items.push(Outgoing::Registration { key: key.into() });
        }
    }

    /// What the hub told, as something to do.
    pub fn push(&mut self, change: &Change<'_>) {
        let keys = |key: &str, skeleton: &str| Keys {
            key: key.into(),
            skeleton: skeleton.into(),
        };
        let record = |who| {
            let mut v = Vec::with_capacity(96);
            wire::user_value(&mut v, who);
            v
        };
        let item = match *change {
            Change::Claim { who, key, skeleton } => Outgoing::Claim {
                uid: who.uid,
                keys: keys(key, skeleton),
                value: record(&who),
            },
            Change::Abandon { uid } => Outgoing::Abandon { uid },
            Change::Online { who, key, skeleton } => Outgoing::Online {
                uid: who.uid,
                keys: keys(key, skeleton),
                value: record(&who),
            },
            Change::Update { who, .. } => Outgoing::Update {
                uid: who.uid,
                value: record(&who),
            },
            Change::Renamed {
                who,
                key,
                skeleton,
                old_key,
                old_skeleton,
            } => Outgoing::Renamed {
                uid: who.uid,
                keys: keys(key, skeleton),
                old: keys(old_key, old_skeleton),
                value: record(&who),
            },
            Change::Quit { uid, reason } => {
                let mut payload = Vec::new();
                wire::quit(&mut payload, uid, reason);
                self.items.push(Outgoing::Publish {
                    to: Target::All,
                    payload,
                });
                Outgoing::Quit { uid }
            }
            Change::Room {
                folded,
                name,
                actor,
                effect,
            } => {
                let mut payload = Vec::with_capacity(64 + name.len());
                wire::room(&mut payload, name, actor, &effect);
                Outgoing::Publish {
                    to: Target::Room(folded.into()),
                    payload,
                }
            }
            Change::Direct { from, to, effect } => {
                let mut payload = Vec::with_capacity(64);
                wire::direct(&mut payload, from, to, &effect);
                Outgoing::Publish {
                    to: Target::Node(to.node),
                    payload,
                }
            }
            Change::Wallops { from, text } => {
                let mut payload = Vec::new();
                wire::wallops(&mut payload, from, text);
                Outgoing::Publish {
                    to: Target::All,
                    payload,
                }
            }
            Change::NeedRoom { folded, .. } => Outgoing::NeedRoom {
                folded: folded.into(),
            },
            Change::LeftRoom { folded } => Outgoing::LeftRoom {
                folded: folded.into(),
            },
            Change::Account { key, name } => {
                let mut payload = Vec::new();
                wire::account(&mut payload, key, name);
                Outgoing::Account { payload }
            }
        };
        self.items.push(item);
    }
}
