//! History on the loop's side. What the hub keeps ([`crate::hub::Sink::keep_message`]) becomes
//! a store write (queued, never waited for) and, for a room, a line of the recent window; a
//! joiner gets the window's last lines ([`History::replay`]), with no store round trip and
//! bounded in bytes, so a join never fills a send queue.

use crate::config::Config;
use crate::event::MsgKind;
use crate::front::history::{line_of_window, write_hex, PartyKey};
use crate::front::{Proto, Wire};
use crate::hub::{Kept, KeptKind, KeptTo, RoomRef};
use crate::names::NameRules;
use crate::proto::history as wire;
use crate::proto::irc::caps;
use crate::store::{
    HistoryMessage, LineBatch, LineParts, MessageKind, RecentWindow, StoreHandle, Target,
    TargetParts, WindowLine,
};

/// The recent window's cap: about 230 000 lines as chat has them (see docs/OPERATIONS.md).
/// Past it the oldest line of all rooms goes first; the store still has it.
pub const WINDOW_BYTES: usize = 64 << 20;
/// A replay on join writes at most this much (and at most half the room left under the
/// joiner's soft send-queue limit): the newest lines that fit.
pub const REPLAY_BYTES: usize = 64 << 10;

pub struct History {
    window: RecentWindow,
    /// `--history-on-join`: lines a joiner gets (0: none).
    on_join: usize,
    /// Whether messages are kept at all (`--no-history-store` turns it off).
    keep: bool,
    rules: NameRules,
    /// Replay batches so far, for their names (`R1`, `R2` ...: apart from a session's own).
    batches: u64,
    /// Messages handed to the store (its stats count those its full queue refused).
    pub kept: u64,
    /// Joins that were given lines.
    pub replays: u64,
    /// Lines kept this pass, handed to the store together at its end ([`History::flush`]).
    pending: LineBatch,
}

/// Lines kept in one pass past this many (or this many bytes) go to the store at once (a
/// pass holds its deliveries in memory anyway; this only bounds the batch).
const BATCH_LINES: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;

impl History {
    /// The history side of the configuration, with the latest lines the store loaded.
    pub fn new(cfg: &Config, recent: Vec<HistoryMessage>) -> History {
        let mut history = History {
            window: RecentWindow::new(cfg.history_on_join, WINDOW_BYTES),
            on_join: cfg.history_on_join,
            keep: cfg.history_store,
            rules: crate::names::NameRules::ascii_only(cfg.ascii_names),
            batches: 0,
            kept: 0,
            replays: 0,
            pending: LineBatch::new(),
        };
        for m in &recent {
            if let Target::Room(key) = &m.target {
                history.window.push(key, m);
            }
        }
        history
    }

    /// A reload: how many lines a joiner gets, whether messages are kept. The window keeps
    /// what it holds; it takes at most the new count per room from now on.
    pub fn configure(&mut self, cfg: &Config) {
        self.on_join = cfg.history_on_join;
        self.keep = cfg.history_store;
        self.window.set_per_room(cfg.history_on_join);
    }

    pub fn window(&self) -> &RecentWindow {
        &self.window
    }

    /// Calls `f` with the message as the store keeps it, borrowed (no allocation for it).
    fn with_parts<R>(rules: NameRules, k: &Kept<'_>, f: impl FnOnce(&LineParts<'_>) -> R) -> R {
        let mut msgid = [0u8; 16];
        write_hex(k.meta.id.0, &mut msgid);
        let (from_key, to_key);
        let (target, target_name) = match k.to {
            KeptTo::Room(room) => (TargetParts::Room(room.key), room.name),
            KeptTo::Direct(to) => {
                from_key = PartyKey::of(rules, &k.from);
                to_key = PartyKey::of(rules, &to);
                let target = TargetParts::Direct {
                    from: from_key.as_str(),
                    to: to_key.as_str(),
                };
                (target, to.source.nick)
            }
        };
        let offer;
        let (kind, text) = match k.kind {
            KeptKind::Say(MsgKind::Normal) => (MessageKind::Privmsg, k.text),
            KeptKind::Say(MsgKind::Notice) => (MessageKind::Notice, k.text),
            KeptKind::Say(MsgKind::Action) => (MessageKind::Action, k.text),
            KeptKind::FileOffer { size } => {
                offer = format!("{} ({size} bytes)", k.text);
                (MessageKind::FileOffer, offer.as_str())
            }
        };
        let from = k.from.source;
        f(&LineParts {
            msgid: std::str::from_utf8(&msgid).unwrap_or(""),
            time: i64::try_from(k.meta.time_ms).unwrap_or(i64::MAX),
            nick: from.nick,
            user: from.user,
            host: from.host,
            account: from.account,
            target,
            target_name,
            kind,
            text,
            tags: k.tags,
        })
    }

    /// The message as the store keeps it (tests).
    #[cfg(test)]
    fn message(&self, k: &Kept<'_>) -> HistoryMessage {
        let mut one = LineBatch::new();
        History::with_parts(self.rules, k, |p| one.push(p));
        one.into_messages()
            .next()
            .unwrap_or_else(|| unreachable!("one line was pushed"))
    }

    /// Keeps one message: into the window (rooms) now, and to the store with the pass's
    /// other lines at its end (one handoff to the store thread a pass, not one a message;
    /// its bytes copied once, into the batch).
    /// Whether [`History::keep`] keeps anything.
    pub fn keeps(&self) -> bool {
        self.keep
    }

    pub fn keep(&mut self, k: &Kept<'_>, store: Option<&mut StoreHandle>) {
        if !self.keep {
            return;
        }
        let (window, pending) = (&mut self.window, &mut self.pending);
        History::with_parts(self.rules, k, |p| {
            if let KeptTo::Room(room) = k.to {
                window.push_parts(room.key, p);
            }
            pending.push(p);
        });
        if self.pending.len() >= BATCH_LINES || self.pending.bytes() >= BATCH_BYTES {
            self.flush(store);
        }
    }

    /// A room message said on another node: into the window only (its node stores it).
    pub fn heard(&mut self, k: &Kept<'_>) {
        if !self.keep {
            return;
        }
        let window = &mut self.window;
        History::with_parts(self.rules, k, |p| {
            if let KeptTo::Room(room) = k.to {
                window.push_parts(room.key, p);
            }
        });
    }

    /// Hands the lines kept so far to the store. A store whose queue is full refuses them at
    /// once: counted (and logged by the store); chat goes on. Called at the end of every pass
    /// and before queries go out, so a query sees every line said before it.
    pub fn flush(&mut self, store: Option<&mut StoreHandle>) {
        if self.pending.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.pending);
        let n = lines.len() as u64;
        if let Some(store) = store {
            if store.write_lines(lines).is_ok() {
                self.kept += n;
            }
        }
    }

    /// The newest `n` lines of a room, if the window holds that many.
    pub fn window_lines(&self, room_key: &str, n: usize) -> Option<Vec<HistoryMessage>> {
        let lines: Vec<&WindowLine> = self.window.recent(room_key, n).collect();
        (n > 0 && lines.len() == n).then(|| lines.iter().map(|l| l.to_message(room_key)).collect())
    }

    /// What a joiner of `room` on `wire` gets (`me`: its nick), appended to `out`: the last
    /// `--history-on-join` lines that fit in `budget` bytes, as a native block or IRC lines
    /// (in a `chathistory` batch for clients with `batch`). Nothing for an IRC client that
    /// negotiated `draft/chathistory`: it asks for what it wants.
    pub fn replay(
        &mut self,
        wire: Wire,
        room: RoomRef<'_>,
        me: &str,
        server: &str,
        budget: usize,
        out: &mut Vec<u8>,
    ) {
        let irc = wire.proto == Proto::Irc;
        if self.on_join == 0 || (irc && wire.caps & caps::CHATHISTORY != 0) {
            return;
        }
        if !irc && wire.proto != Proto::Native {
            return;
        }
        let recent: Vec<&WindowLine> = self.window.recent(room.key, self.on_join).collect();
        // The newest lines whose estimated size fits the budget.
        let mut start = recent.len();
        let mut cost = 0;
        while start > 0 {
            let l = recent[start - 1];
            let size = l.text().len()
                + l.nick().len()
                + l.user().len()
                + l.host().len()
                + l.target_name().len()
                + l.tags().len()
                + l.msgid().len()
                + 96;
            if cost + size > budget {
                break;
            }
            cost += size;
            start -= 1;
        }
        let lines: Vec<wire::Line<'_>> = recent[start..]
            .iter()
            .filter_map(|l| line_of_window(l))
            .collect();
        if lines.is_empty() {
            return;
        }
        self.replays += 1;
        if irc {
            self.batches += 1;
            let batch = format!("R{}", self.batches);
            wire::write_irc_history(&lines, room.name, wire.caps, server, me, &batch, out);
        } else {
            wire::write_native_block(room.name, &lines, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Meta, MsgId, Source};
    use crate::hub::Party;

    fn party<'a>(nick: &'a str, account: Option<&'a str>, session: u64) -> Party<'a> {
        Party {
            source: Source {
                account,
                ..Source::plain(nick, "u", "h")
            },
            nick_key: nick,
            session,
        }
    }

    fn history(on_join: usize) -> History {
        let cfg = Config {
            history_on_join: on_join,
            ..Config::default()
        };
        History::new(&cfg, Vec::new())
    }

    fn say<'a>(i: u64, text: &'a str, from: Party<'a>, to: KeptTo<'a>) -> Kept<'a> {
        Kept {
            meta: Meta {
                id: MsgId(0x100 + i),
                time_ms: 1000 * i,
            },
            from,
            to,
            kind: KeptKind::Say(MsgKind::Normal),
            text,
            tags: "",
        }
    }

    const ROOM: RoomRef<'static> = RoomRef {
        name: "#Snak",
        key: "#snak",
    };

    #[test]
    fn what_is_kept_and_how_conversations_are_named() {
        let h = history(50);
        let alice = party("alice", Some("Alice"), 7);
        let bob = party("bob", None, 0xabc);
        let m = h.message(&say(1, "hi", alice, KeptTo::Direct(bob)));
        assert_eq!(
            m.target,
            Target::Direct {
                from: "alice".into(),
                to: "session 0000000000000abc".into()
            }
        );
        assert_eq!(
            (m.msgid.as_str(), m.time, m.target_name.as_str()),
            ("0000000000000101", 1000, "bob")
        );
        assert_eq!(m.sender.account.as_deref(), Some("Alice"));
        let offer = Kept {
            kind: KeptKind::FileOffer { size: 12 },
            ..say(2, "a.txt", alice, KeptTo::Direct(bob))
        };
        let m = h.message(&offer);
        assert_eq!(
            (m.kind, m.text.as_str()),
            (MessageKind::FileOffer, "a.txt (12 bytes)")
        );
        let m = h.message(&say(3, "x", bob, KeptTo::Room(ROOM)));
        assert_eq!(
            (m.target, m.target_name.as_str()),
            (Target::Room("#snak".into()), "#Snak")
        );
    }

    #[test]
    fn a_replay_is_the_newest_lines_that_fit() {
        let mut h = history(3);
        let alice = party("alice", None, 1);
        for i in 0..5 {
            h.keep(&say(i, "hello", alice, KeptTo::Room(ROOM)), None);
        }
        assert_eq!(h.pending.len(), 5);
        assert_eq!(
            h.pending
                .clone()
                .into_messages()
                .map(|m| m.msgid)
                .collect::<Vec<_>>(),
            (0..5)
                .map(|i| format!("{:016x}", 0x100 + i))
                .collect::<Vec<_>>()
        );
        h.flush(None);
        assert!(h.pending.is_empty());
        let mut out = Vec::new();
        h.replay(Wire::NATIVE, ROOM, "me", "srv", REPLAY_BYTES, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "= history #Snak 3 0000000000000102\n\
             #Snak [1970-01-01 00:00:02] <alice> hello\n\
             #Snak [1970-01-01 00:00:03] <alice> hello\n\
             #Snak [1970-01-01 00:00:04] <alice> hello\n\
             = end history #Snak 3\n"
        );
        // A small budget keeps the newest; none at all gives nothing.
        let mut out = Vec::new();
        h.replay(Wire::NATIVE, ROOM, "me", "srv", 260, &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("= history #Snak 2 "));
        let mut out = Vec::new();
        h.replay(Wire::NATIVE, ROOM, "me", "srv", 10, &mut out);
        assert!(out.is_empty());
        // IRC: in a batch; none for a client that asks for history itself.
        let batch = Wire {
            caps: caps::BATCH | caps::SERVER_TIME,
            ..Wire::IRC
        };
        let mut out = Vec::new();
        h.replay(batch, ROOM, "me", "srv", REPLAY_BYTES, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(":srv BATCH +R1 chathistory #Snak\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("PRIVMSG #Snak :hello").count(), 3);
        let asks = Wire {
            caps: caps::BATCH | caps::CHATHISTORY,
            ..Wire::IRC
        };
        let mut out = Vec::new();
        h.replay(asks, ROOM, "me", "srv", REPLAY_BYTES, &mut out);
        assert!(out.is_empty());
        assert_eq!(h.replays, 3);
    }

    #[test]
    fn the_window_answers_only_what_it_holds_whole() {
        let mut h = history(3);
        let alice = party("alice", None, 1);
        for i in 0..2 {
            h.keep(&say(i, "x", alice, KeptTo::Room(ROOM)), None);
        }
        assert_eq!(h.window_lines("#snak", 3), None);
        let two = h.window_lines("#snak", 2).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].msgid, "0000000000000100");
        assert_eq!(h.window_lines("#snak", 0), None);
        // Direct messages are not in the window; nothing is kept when history is off.
        h.keep(&say(5, "dm", alice, KeptTo::Direct(alice)), None);
        assert_eq!(h.window().lines(), 2);
        h.configure(&Config {
            history_on_join: 3,
            history_store: false,
            ..Config::default()
        });
        h.keep(&say(6, "x", alice, KeptTo::Room(ROOM)), None);
        assert_eq!(h.window().lines(), 2);
    }
}
