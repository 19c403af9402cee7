//! Between the hub and the store: registered rooms restored from the store's snapshot at
//! start, and the hub's room changes turned into store writes. The hub speaks its own types
//! (seconds, mode bits); the store its own (milliseconds, mode letters); only this file knows
//! both.

use crate::event::{ModeSet, Role, RoomFlag};
use crate::hub::{Hub, RoomRecordChange, RoomRegistration, SavedBan, SavedTopic};
use crate::store::{self, Access, Ban, Millis, RoomModes, Snapshot, Topic, Write};

fn ms(secs: u64) -> Millis {
    (secs as Millis).saturating_mul(1000)
}

fn secs(ms: Millis) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

/// The mode letters of `flags`, in the order the store keeps them.
fn letters(flags: u8) -> String {
    RoomFlag::ALL
        .iter()
        .filter(|f| flags & f.bit() != 0)
        .map(|f| f.letter())
        .collect()
}

/// The mode bits of the letters (unknown ones are ignored).
fn flags(letters: &str) -> u8 {
    letters
        .chars()
        .filter_map(|c| RoomFlag::ALL.iter().find(|f| f.letter() == c))
        .fold(0, |bits, f| bits | f.bit())
}

fn modes(m: &ModeSet<'_>) -> RoomModes {
    RoomModes {
        flags: letters(m.flags),
        key: m.key.map(Into::into),
        limit: m.limit.and_then(|l| u32::try_from(l).ok()),
    }
}

fn access(role: Role) -> Access {
    match role {
        Role::Op => Access::Op,
        Role::Voice => Access::Voice,
    }
}

/// The store's record of a registration.
fn record(key: &str, r: &RoomRegistration) -> store::RoomRecord {
    store::RoomRecord {
        key: key.into(),
        name: r.name.to_string(),
        founder: r.founder.to_string(),
        registered: r.registered_ms as Millis,
        topic: r.topic.as_ref().map(|t| Topic {
            text: t.text.to_string(),
            set_by: t.by.to_string(),
            set_at: ms(t.at),
        }),
        modes: modes(&ModeSet {
            flags: r.flags,
            key: r.key.as_deref(),
            limit: r.limit,
        }),
        ops: r.ops.iter().map(|a| a.to_string()).collect(),
        voices: r.voices.iter().map(|a| a.to_string()).collect(),
        bans: r
            .bans
            .iter()
            .map(|b| Ban {
                mask: b.mask.to_string(),
                set_by: b.by.to_string(),
                set_at: ms(b.at),
            })
            .collect(),
    }
}

/// The store write for a change the hub made.
pub(super) fn room_write(change: &RoomRecordChange<'_>) -> Write {
    match *change {
        RoomRecordChange::Register { key, room } => Write::RoomRegister(record(key, room)),
        RoomRecordChange::Drop { key } => Write::RoomDrop { key: key.into() },
        RoomRecordChange::Topic { key, topic } => Write::RoomTopic {
            key: key.into(),
            topic: topic.map(|t| Topic {
                text: t.text.into(),
                set_by: t.by.into(),
                set_at: ms(t.at),
            }),
        },
        RoomRecordChange::Modes { key, modes: m } => Write::RoomModes {
            key: key.into(),
            modes: modes(&m),
        },
        RoomRecordChange::Founder { key, founder } => Write::RoomFounder {
            key: key.into(),
            founder: founder.into(),
        },
        RoomRecordChange::Access {
            key,
            role,
            account,
            add,
        } => Write::RoomAccess {
            key: key.into(),
            list: access(role),
            account: account.into(),
            add,
        },
        RoomRecordChange::BanAdd { key, mask, by, at } => Write::RoomBanAdd {
            key: key.into(),
            ban: Ban {
                mask: mask.into(),
                set_by: by.into(),
                set_at: ms(at),
            },
        },
        RoomRecordChange::BanRemove { key, mask } => Write::RoomBanRemove {
            key: key.into(),
            mask: mask.into(),
        },
    }
}

/// The hub's registration of a stored room.
fn registration(r: store::RoomRecord) -> RoomRegistration {
    RoomRegistration {
        name: r.name.into(),
        founder: r.founder.into(),
        registered_ms: u64::try_from(r.registered).unwrap_or(0),
        topic: r.topic.map(|t| SavedTopic {
            text: t.text.into(),
            by: t.set_by.into(),
            at: secs(t.set_at),
        }),
        flags: flags(&r.modes.flags),
        key: r.modes.key.map(Into::into),
        limit: r.modes.limit.map(|l| l as usize),
        ops: r.ops.into_iter().map(Into::into).collect(),
        voices: r.voices.into_iter().map(Into::into).collect(),
        bans: r
            .bans
            .into_iter()
            .map(|b| SavedBan {
                mask: b.mask.into(),
                by: b.set_by.into(),
                at: secs(b.set_at),
            })
            .collect(),
    }
}

/// After a split, with a shared store: the hub's accounts and registered rooms become what
/// the store has now (what other nodes announced meanwhile was not heard).
pub(super) fn reload(
    hub: &mut Hub,
    accounts: &[store::AccountName],
    rooms: Vec<store::RoomRecord>,
    now: crate::clock::Clock,
    sink: &mut impl crate::hub::Sink,
) {
    hub.reload_accounts(
        accounts.iter().map(|a| (a.key.as_str(), a.name.as_str())),
        now,
        sink,
    );
    hub.replace_registrations(rooms.into_iter().map(|r| (r.key.clone(), registration(r))));
}

/// Gives the hub what the store kept: account names and registered rooms.
pub(super) fn restore(hub: &mut Hub, snapshot: Snapshot) {
    hub.load_accounts(
        snapshot
            .accounts
            .iter()
            .map(|a| (a.key.as_str(), a.name.as_str())),
    );
    for room in snapshot.rooms {
        let key = room.key.clone();
        hub.restore_room(&key, registration(room));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_times_cross_both_ways() {
        let bits = RoomFlag::TopicOps.bit() | RoomFlag::NoOutside.bit() | RoomFlag::Secret.bit();
        assert_eq!(flags(&letters(bits)), bits);
        assert_eq!(flags("ntsx"), bits);
        let reg = RoomRegistration {
            name: "#Rust".into(),
            founder: "alice".into(),
            registered_ms: 1_700_000_000_123,
            topic: Some(SavedTopic {
                text: "hi".into(),
                by: "alice!a@h".into(),
                at: 1_700_000_001,
            }),
            flags: bits,
            key: Some("k".into()),
            limit: Some(5),
            ops: vec!["bob".into()],
            voices: vec!["carol".into()],
            bans: vec![SavedBan {
                mask: "eve!*@*".into(),
                by: "alice".into(),
                at: 1_700_000_002,
            }],
        };
        let stored = record("#rust", &reg);
        assert_eq!(stored.modes.flags.len(), 3);
        assert_eq!(stored.topic.as_ref().unwrap().set_at, 1_700_000_001_000);
        assert_eq!(registration(stored), reg);
    }
}
