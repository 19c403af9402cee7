//! Registered rooms: the whole set at start, then one small write per change (the SQLite
//! backend's statements, in PostgreSQL's words).

use super::{pg_error, storable, Db, Pg};
use crate::store::backend::StoreError;
use crate::store::request::Write;
use crate::store::types::*;

pub fn load_all(db: &mut Db<'_>) -> Result<Vec<RoomRecord>, StoreError> {
    load(db).map_err(pg_error)
}

fn load(db: &mut Db<'_>) -> Pg<Vec<RoomRecord>> {
    let mut rooms = Vec::new();
    for r in db.query(
        "SELECT key, name, founder, registered_ms, topic, topic_by, topic_ms, mode_flags,
         mode_key, mode_limit FROM rooms ORDER BY key",
        &[],
    )? {
        let topic: Option<String> = r.try_get(4)?;
        let topic = match topic {
            Some(text) => Some(Topic {
                text,
                set_by: r.try_get::<_, Option<String>>(5)?.unwrap_or_default(),
                set_at: r.try_get::<_, Option<i64>>(6)?.unwrap_or(0),
            }),
            None => None,
        };
        let limit: Option<i64> = r.try_get(9)?;
        rooms.push(RoomRecord {
            key: r.try_get(0)?,
            name: r.try_get(1)?,
            founder: r.try_get(2)?,
            registered: r.try_get(3)?,
            topic,
            modes: RoomModes {
                flags: r.try_get(7)?,
                key: r.try_get(8)?,
                limit: limit.and_then(|l| u32::try_from(l).ok()),
            },
            ops: Vec::new(),
            voices: Vec::new(),
            bans: Vec::new(),
        });
    }
    let index =
        |rooms: &[RoomRecord], key: &str| rooms.binary_search_by(|r| r.key.as_str().cmp(key));
    for r in db.query(
        "SELECT room, list, account FROM room_access ORDER BY room, list, account",
        &[],
    )? {
        let (room, list, account): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        if let Ok(i) = index(&rooms, &room) {
            match list.as_str() {
                "o" => rooms[i].ops.push(account),
                "v" => rooms[i].voices.push(account),
                _ => {}
            }
        }
    }
    for r in db.query(
        "SELECT room, mask, set_by, set_ms FROM room_bans ORDER BY room, set_ms, mask",
        &[],
    )? {
        let room: String = r.try_get(0)?;
        if let Ok(i) = index(&rooms, &room) {
            rooms[i].bans.push(Ban {
                mask: r.try_get(1)?,
                set_by: r.try_get(2)?,
                set_at: r.try_get(3)?,
            });
        }
    }
    Ok(rooms)
}

/// Whether every text of a room write can be stored (no NUL).
pub fn storable_write(w: &Write) -> bool {
    let topic = |t: &Option<Topic>| {
        t.as_ref()
            .is_none_or(|t| storable(&t.text) && storable(&t.set_by))
    };
    let modes = |m: &RoomModes| storable(&m.flags) && m.key.as_deref().is_none_or(storable);
    let ban = |b: &Ban| storable(&b.mask) && storable(&b.set_by);
    match w {
        Write::RoomRegister(r) => {
            storable(&r.key)
                && storable(&r.name)
                && storable(&r.founder)
                && topic(&r.topic)
                && modes(&r.modes)
                && r.ops.iter().chain(&r.voices).all(|a| storable(a))
                && r.bans.iter().all(ban)
        }
        Write::RoomDrop { key } => storable(key),
        Write::RoomTopic { key, topic: t } => storable(key) && topic(t),
        Write::RoomModes { key, modes: m } => storable(key) && modes(m),
        Write::RoomFounder { key, founder } => storable(key) && storable(founder),
        Write::RoomAccess { key, account, .. } => storable(key) && storable(account),
        Write::RoomBanAdd { key, ban: b } => storable(key) && ban(b),
        Write::RoomBanRemove { key, mask } => storable(key) && storable(mask),
        _ => true,
    }
}

/// Applies a room write. Writes for a room that is not registered change nothing.
pub fn apply(db: &mut Db<'_>, write: &Write) -> Pg<()> {
    match write {
        Write::RoomRegister(r) => {
            db.exec("DELETE FROM rooms WHERE key = $1", &[&r.key])?;
            let limit = r.modes.limit.map(i64::from);
            db.exec(
                "INSERT INTO rooms (key, name, founder, registered_ms, topic, topic_by, topic_ms,
                 mode_flags, mode_key, mode_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &r.key,
                    &r.name,
                    &r.founder,
                    &r.registered,
                    &r.topic.as_ref().map(|t| &t.text),
                    &r.topic.as_ref().map(|t| &t.set_by),
                    &r.topic.as_ref().map(|t| t.set_at),
                    &r.modes.flags,
                    &r.modes.key,
                    &limit,
                ],
            )?;
            for (list, accounts) in [(Access::Op, &r.ops), (Access::Voice, &r.voices)] {
                for account in accounts {
                    access(db, &r.key, list, account, true)?;
                }
            }
            for ban in &r.bans {
                ban_add(db, &r.key, ban)?;
            }
            Ok(())
        }
        Write::RoomDrop { key } => db
            .exec("DELETE FROM rooms WHERE key = $1", &[key])
            .map(drop),
        Write::RoomTopic { key, topic } => db
            .exec(
                "UPDATE rooms SET topic = $2, topic_by = $3, topic_ms = $4 WHERE key = $1",
                &[
                    key,
                    &topic.as_ref().map(|t| &t.text),
                    &topic.as_ref().map(|t| &t.set_by),
                    &topic.as_ref().map(|t| t.set_at),
                ],
            )
            .map(drop),
        Write::RoomModes { key, modes } => db
            .exec(
                "UPDATE rooms SET mode_flags = $2, mode_key = $3, mode_limit = $4 WHERE key = $1",
                &[key, &modes.flags, &modes.key, &modes.limit.map(i64::from)],
            )
            .map(drop),
        Write::RoomFounder { key, founder } => db
            .exec(
                "UPDATE rooms SET founder = $2 WHERE key = $1",
                &[key, founder],
            )
            .map(drop),
        Write::RoomAccess {
            key,
            list,
            account,
            add,
        } => access(db, key, *list, account, *add),
        Write::RoomBanAdd { key, ban } => ban_add(db, key, ban),
        Write::RoomBanRemove { key, mask } => db
            .exec(
                "DELETE FROM room_bans WHERE room = $1 AND mask = $2",
                &[key, mask],
            )
            .map(drop),
        _ => Ok(()),
    }
}

fn access(db: &mut Db<'_>, room: &str, list: Access, account: &str, add: bool) -> Pg<()> {
    let changed = if add {
        // Only for registered rooms: the SELECT yields nothing otherwise.
        db.exec(
            "INSERT INTO room_access (room, list, account)
             SELECT key, $2, $3 FROM rooms WHERE key = $1 ON CONFLICT DO NOTHING",
            &[&room, &list.code(), &account],
        )
    } else {
        db.exec(
            "DELETE FROM room_access WHERE room = $1 AND list = $2 AND account = $3",
            &[&room, &list.code(), &account],
        )
    };
    changed.map(drop)
}

fn ban_add(db: &mut Db<'_>, room: &str, ban: &Ban) -> Pg<()> {
    db.exec(
        "INSERT INTO room_bans (room, mask, set_by, set_ms)
         SELECT key, $2, $3, $4 FROM rooms WHERE key = $1
         ON CONFLICT (room, mask) DO UPDATE SET set_by = EXCLUDED.set_by, set_ms = EXCLUDED.set_ms",
        &[&room, &ban.mask, &ban.set_by, &ban.set_at],
    )
    .map(drop)
}
