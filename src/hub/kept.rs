//! What the hub hands its sink to keep (history): each room message, direct message and file
//! offer once, as plain values borrowed from the chat state. The hub decides *what* is kept
//! (no status messages to `@#room`, no CTCP requests, no tags-only messages); what keeping
//! means (a database, a window in memory, nothing) is the sink's business.

use super::{ClientId, Hub, User};
use crate::event::{Meta, MsgKind, Source};

/// One end of a conversation as history needs it: the user as shown, and what names it
/// durably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Party<'a> {
    pub source: Source<'a>,
    /// The nick folded by the name rules.
    pub nick_key: &'a str,
    /// Unique to this connection, also across restarts (made like a message id, which grows
    /// with the time): what names a user without an account.
    pub session: u64,
}

/// A room by its display name and its folded key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomRef<'a> {
    pub name: &'a str,
    pub key: &'a str,
}

/// Where a kept message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptTo<'a> {
    Room(RoomRef<'a>),
    /// To one user (a message to several is kept once per recipient: each is a conversation
    /// of its own).
    Direct(Party<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptKind {
    Say(MsgKind),
    /// A file offer: the text is the file's name (never its bytes).
    FileOffer {
        size: u64,
    },
}

/// One message to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept<'a> {
    pub meta: Meta,
    pub from: Party<'a>,
    pub to: KeptTo<'a>,
    pub kind: KeptKind,
    pub text: &'a str,
    /// Client-only tags as sent (escaped), or "".
    pub tags: &'a str,
}

/// What history asks of the chat state: who is who, and who is in which room.
impl Hub {
    /// `id` as a party to a conversation.
    pub fn party(&self, id: ClientId) -> Option<Party<'_>> {
        self.user(id).map(User::party)
    }

    /// The user on line with `nick` (compared by the name rules), as a party.
    pub fn party_by_nick(&self, nick: &str) -> Option<Party<'_>> {
        self.user_id(nick).and_then(|u| self.party(u))
    }

    /// The room `name` if `id` is one of its members: a room's history is its members'.
    pub fn member_room(&self, id: ClientId, name: &str) -> Option<RoomRef<'_>> {
        let room = self.room_id(name).filter(|&r| self.is_member(r, id))?;
        let r = self.rooms.get(room)?;
        Some(RoomRef {
            name: &r.name,
            key: &r.keys.key,
        })
    }

    /// The rooms `id` is in, in the order joined.
    pub fn member_rooms(&self, id: ClientId) -> Vec<RoomRef<'_>> {
        self.rooms_of(id)
            .into_iter()
            .filter_map(|room| self.rooms.get(room))
            .map(|r| RoomRef {
                name: &r.name,
                key: &r.keys.key,
            })
            .collect()
    }
}
