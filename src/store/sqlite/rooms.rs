//! Registered rooms: the whole set at start, then one small write per change.

use rusqlite::{params, Connection};

use super::sql_error;
use crate::store::backend::StoreError;
use crate::store::request::Write;
use crate::store::types::*;

pub fn load_all(conn: &Connection) -> Result<Vec<RoomRecord>, StoreError> {
    let mut rooms = Vec::new();
    let mut stmt = conn
        .prepare(
            "SELECT key, name, founder, registered_ms, topic, topic_by, topic_ms, mode_flags,
             mode_key, mode_limit FROM rooms ORDER BY key",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map([], |r| {
            let topic: Option<String> = r.get(4)?;
            let topic = match topic {
                Some(text) => Some(Topic {
                    text,
                    set_by: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    set_at: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
                }),
                None => None,
            };
            let limit: Option<i64> = r.get(9)?;
            Ok(RoomRecord {
                key: r.get(0)?,
                name: r.get(1)?,
                founder: r.get(2)?,
                registered: r.get(3)?,
                topic,
                modes: RoomModes {
                    flags: r.get(7)?,
                    key: r.get(8)?,
                    limit: limit.and_then(|l| u32::try_from(l).ok()),
                },
                ops: Vec::new(),
                voices: Vec::new(),
                bans: Vec::new(),
            })
        })
        .map_err(sql_error)?;
    for row in rows {
        rooms.push(row.map_err(sql_error)?);
    }
    let index =
        |rooms: &[RoomRecord], key: &str| rooms.binary_search_by(|r| r.key.as_str().cmp(key));
    let mut access = conn
        .prepare("SELECT room, list, account FROM room_access ORDER BY room, list, account")
        .map_err(sql_error)?;
    let rows = access
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(sql_error)?;
    for row in rows {
        let (room, list, account) = row.map_err(sql_error)?;
        if let Ok(i) = index(&rooms, &room) {
            match list.as_str() {
                "o" => rooms[i].ops.push(account),
                "v" => rooms[i].voices.push(account),
                _ => {}
            }
        }
    }
    let mut bans = conn
        .prepare("SELECT room, mask, set_by, set_ms FROM room_bans ORDER BY room, set_ms, mask")
        .map_err(sql_error)?;
    let rows = bans
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Ban {
                    mask: r.get(1)?,
                    set_by: r.get(2)?,
                    set_at: r.get(3)?,
                },
            ))
        })
        .map_err(sql_error)?;
    for row in rows {
        let (room, ban) = row.map_err(sql_error)?;
        if let Ok(i) = index(&rooms, &room) {
            rooms[i].bans.push(ban);
        }
    }
    Ok(rooms)
}

fn exec(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(p))
        .map(drop)
        .map_err(sql_error)
}

/// Applies a room write. Writes for a room that is not registered change nothing.
pub fn apply(conn: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::RoomRegister(r) => {
            exec(conn, "DELETE FROM rooms WHERE key = ?1", params![r.key])?;
            exec(
                conn,
                "INSERT INTO rooms (key, name, founder, registered_ms, topic, topic_by, topic_ms,
                 mode_flags, mode_key, mode_limit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    r.key,
                    r.name,
                    r.founder,
                    r.registered,
                    r.topic.as_ref().map(|t| &t.text),
                    r.topic.as_ref().map(|t| &t.set_by),
                    r.topic.as_ref().map(|t| t.set_at),
                    r.modes.flags,
                    r.modes.key,
                    r.modes.limit,
                ],
            )?;
            for (list, accounts) in [(Access::Op, &r.ops), (Access::Voice, &r.voices)] {
                for account in accounts {
                    access(conn, &r.key, list, account, true)?;
                }
            }
            for ban in &r.bans {
                ban_add(conn, &r.key, ban)?;
            }
            Ok(())
        }
        Write::RoomDrop { key } => exec(conn, "DELETE FROM rooms WHERE key = ?1", params![key]),
        Write::RoomTopic { key, topic } => exec(
            conn,
            "UPDATE rooms SET topic = ?2, topic_by = ?3, topic_ms = ?4 WHERE key = ?1",
            params![
                key,
                topic.as_ref().map(|t| &t.text),
                topic.as_ref().map(|t| &t.set_by),
                topic.as_ref().map(|t| t.set_at),
            ],
        ),
        Write::RoomModes { key, modes } => exec(
            conn,
            "UPDATE rooms SET mode_flags = ?2, mode_key = ?3, mode_limit = ?4 WHERE key = ?1",
            params![key, modes.flags, modes.key, modes.limit],
        ),
        Write::RoomFounder { key, founder } => exec(
            conn,
            "UPDATE rooms SET founder = ?2 WHERE key = ?1",
            params![key, founder],
        ),
        Write::RoomAccess {
            key,
            list,
            account,
            add,
        } => access(conn, key, *list, account, *add),
        Write::RoomBanAdd { key, ban } => ban_add(conn, key, ban),
        Write::RoomBanRemove { key, mask } => exec(
            conn,
            "DELETE FROM room_bans WHERE room = ?1 AND mask = ?2",
            params![key, mask],
        ),
        _ => Err(StoreError::row("not a room write")),
    }
}

fn access(
    conn: &Connection,
    room: &str,
    list: Access,
    account: &str,
    add: bool,
) -> Result<(), StoreError> {
    if add {
        // Only for registered rooms: the SELECT yields nothing otherwise.
        exec(
            conn,
            "INSERT OR IGNORE INTO room_access (room, list, account)
             SELECT key, ?2, ?3 FROM rooms WHERE key = ?1",
            params![room, list.code(), account],
        )
    } else {
        exec(
            conn,
            "DELETE FROM room_access WHERE room = ?1 AND list = ?2 AND account = ?3",
            params![room, list.code(), account],
        )
    }
}

fn ban_add(conn: &Connection, room: &str, ban: &Ban) -> Result<(), StoreError> {
    exec(
        conn,
        "INSERT OR REPLACE INTO room_bans (room, mask, set_by, set_ms)
         SELECT key, ?2, ?3, ?4 FROM rooms WHERE key = ?1",
        params![room, ban.mask, ban.set_by, ban.set_at],
    )
}
