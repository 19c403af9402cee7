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
            key: r.keys.key(),
        })
    }

    /// The rooms `id` is in, in the order joined.
    pub fn member_rooms(&self, id: ClientId) -> Vec<RoomRef<'_>> {
        self.rooms_of(id)
            .into_iter()
            .filter_map(|room| self.rooms.get(room))
            .map(|r| RoomRef {
                name: &r.name,
                key: r.keys.key(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::event::Event;
    use crate::hub::{Command, HubConfig, Sink};

    /// What was kept, as `from>to kind text`, and who was told they joined where.
    #[derive(Default)]
    struct Keeper {
        kept: Vec<String>,
        joined: Vec<(ClientId, String)>,
        sessions: Vec<u64>,
    }

    impl Sink for Keeper {
        fn one(&mut self, _: ClientId, _: &str, _: &Event<'_>) {}
        fn many(&mut self, _: &[ClientId], _: Option<ClientId>, _: &Event<'_>) {}
        fn keep_message(&mut self, k: &Kept<'_>) {
            let to = match k.to {
                KeptTo::Room(r) => format!("{}({})", r.name, r.key),
                KeptTo::Direct(p) => format!("@{}({})", p.source.nick, p.nick_key),
            };
            self.sessions.push(k.from.session);
            self.kept.push(format!(
                "{}>{to} {:?} {}{}",
                k.from.source.nick,
                k.kind,
                k.text,
                if k.tags.is_empty() { "" } else { " +tags" }
            ));
        }
        fn joined_room(&mut self, id: ClientId, _me: &str, room: RoomRef<'_>) {
            self.joined.push((id, room.key.to_owned()));
        }
    }

    fn apply(h: &mut Hub, k: &mut Keeper, id: ClientId, cmd: Command<'_>) {
        h.apply(id, cmd, Clock::now(), k);
    }

    fn message<'a>(targets: &'a str, kind: Option<MsgKind>, text: &'a str) -> Command<'a> {
        Command::Tagged {
            targets,
            kind,
            text,
            tags: "",
        }
    }

    #[test]
    fn each_message_is_kept_once_and_only_what_everyone_saw() {
        let mut h = Hub::new(HubConfig::default());
        let mut k = Keeper::default();
        for (id, nick) in [(0, "Alice"), (1, "bob"), (2, "carol")] {
            h.connect_native(id, "h", Clock::now(), &mut k);
            apply(&mut h, &mut k, id, Command::Nick(nick));
        }
        // The lobby: every native user is told they joined it.
        assert_eq!(
            k.joined,
            [
                (0, "#lobby".to_owned()),
                (1, "#lobby".into()),
                (2, "#lobby".into())
            ]
        );
        apply(
            &mut h,
            &mut k,
            0,
            Command::Join {
                rooms: "#Room",
                keys: None,
            },
        );
        assert_eq!(k.joined.last(), Some(&(0, "#room".to_owned())));
        apply(
            &mut h,
            &mut k,
            1,
            Command::Join {
                rooms: "#room",
                keys: None,
            },
        );
        let normal = Some(MsgKind::Normal);
        // Once per message, not per member; a room named twice is one target.
        apply(&mut h, &mut k, 0, message("#room,#ROOM", normal, "hello"));
        apply(
            &mut h,
            &mut k,
            1,
            message("#room", Some(MsgKind::Action), "waves"),
        );
        apply(
            &mut h,
            &mut k,
            1,
            message("#room", Some(MsgKind::Notice), "note"),
        );
        apply(
            &mut h,
            &mut k,
            0,
            Command::Tagged {
                targets: "#room",
                kind: normal,
                text: "t",
                tags: "+x=y",
            },
        );
        // Not kept: to the operators only, a CTCP request, tags alone, a refused message.
        apply(&mut h, &mut k, 0, message("@#room", normal, "ops only"));
        apply(
            &mut h,
            &mut k,
            0,
            message("#room", normal, "\u{1}VERSION\u{1}"),
        );
        apply(&mut h, &mut k, 0, message("#room", None, ""));
        apply(&mut h, &mut k, 2, message("#room", normal, "outside"));
        // A direct message to two is two conversations; to oneself, one.
        apply(&mut h, &mut k, 0, message("bob,carol", normal, "psst"));
        apply(&mut h, &mut k, 0, message("alice", normal, "note to self"));
        apply(
            &mut h,
            &mut k,
            0,
            message("bob", normal, "\u{1}PING 1\u{1}"),
        );
        assert_eq!(
            k.kept,
            [
                "Alice>#Room(#room) Say(Normal) hello",
                "bob>#Room(#room) Say(Action) waves",
                "bob>#Room(#room) Say(Notice) note",
                "Alice>#Room(#room) Say(Normal) t +tags",
                "Alice>@bob(bob) Say(Normal) psst",
                "Alice>@carol(carol) Say(Normal) psst",
                "Alice>@Alice(alice) Say(Normal) note to self",
            ]
        );
        // Each connection has a session of its own, and keeps it.
        let alice = h.party(0).unwrap().session;
        assert_ne!(alice, h.party(1).unwrap().session);
        assert!(k.sessions.iter().filter(|&&s| s != alice).count() == 2);
        assert_eq!(h.party_by_nick("ALICE").map(|p| p.nick_key), Some("alice"));
    }

    #[test]
    fn file_offers_are_kept_as_their_name_and_rooms_answer_for_members_only() {
        let mut h = Hub::new(HubConfig::default());
        let mut k = Keeper::default();
        for (id, nick) in [(0, "alice"), (1, "bob")] {
            h.connect_native(id, "h", Clock::now(), &mut k);
            apply(&mut h, &mut k, id, Command::Nick(nick));
        }
        let offer = Command::Offer {
            to: "bob",
            size: 12,
            name: "a.txt",
        };
        apply(&mut h, &mut k, 0, offer);
        assert_eq!(k.kept, ["alice>@bob(bob) FileOffer { size: 12 } a.txt"]);
        apply(
            &mut h,
            &mut k,
            0,
            Command::Join {
                rooms: "#Secret",
                keys: None,
            },
        );
        assert_eq!(
            h.member_room(0, "#SECRET"),
            Some(RoomRef {
                name: "#Secret",
                key: "#secret"
            })
        );
        assert_eq!(h.member_room(1, "#secret"), None);
        assert_eq!(h.member_room(0, "#nowhere"), None);
        let rooms: Vec<&str> = h.member_rooms(0).iter().map(|r| r.key).collect();
        assert_eq!(rooms, ["#lobby", "#secret"]);
    }
}
