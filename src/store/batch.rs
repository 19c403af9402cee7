//! Many history lines in one handoff to the store thread: their strings end to end in one
//! buffer, so keeping a line costs the loop a copy of its bytes and no allocation of its own;
//! the [`HistoryMessage`]s are made on the store thread ([`LineBatch::into_messages`]).

use super::types::*;

/// One line's parts, borrowed from wherever the loop has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineParts<'a> {
    pub msgid: &'a str,
    pub time: Millis,
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub account: Option<&'a str>,
    pub target: TargetParts<'a>,
    /// The target as the sender addressed it.
    pub target_name: &'a str,
    pub kind: MessageKind,
    pub text: &'a str,
    pub tags: &'a str,
}

/// [`Target`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetParts<'a> {
    Room(&'a str),
    Direct { from: &'a str, to: &'a str },
}

impl LineParts<'_> {
    /// The message these parts make, owned.
    pub fn to_message(self) -> HistoryMessage {
        HistoryMessage {
            msgid: self.msgid.to_owned(),
            time: self.time,
            sender: Sender {
                nick: self.nick.to_owned(),
                user: self.user.to_owned(),
                host: self.host.to_owned(),
                account: self.account.map(str::to_owned),
            },
            target: match self.target {
                TargetParts::Room(key) => Target::Room(key.to_owned()),
                TargetParts::Direct { from, to } => Target::Direct {
                    from: from.to_owned(),
                    to: to.to_owned(),
                },
            },
            target_name: self.target_name.to_owned(),
            kind: self.kind,
            text: self.text.to_owned(),
            tags: self.tags.to_owned(),
        }
    }
}

impl HistoryMessage {
    /// This message's parts, borrowed.
    pub fn parts(&self) -> LineParts<'_> {
        LineParts {
            msgid: &self.msgid,
            time: self.time,
            nick: &self.sender.nick,
            user: &self.sender.user,
            host: &self.sender.host,
            account: self.sender.account.as_deref(),
            target: match &self.target {
                Target::Room(key) => TargetParts::Room(key),
                Target::Direct { from, to } => TargetParts::Direct { from, to },
            },
            target_name: &self.target_name,
            kind: self.kind,
            text: &self.text,
            tags: &self.tags,
        }
    }
}

/// msgid, nick, user, host, account, room key or direct `from`, direct `to`, target name,
/// tags, text: the order the parts are laid end to end.
const PARTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Packed {
    /// Where each part ends in the batch's buffer (the first starts where the line before
    /// ended).
    ends: [u32; PARTS],
    time: Millis,
    kind: MessageKind,
    has_account: bool,
    direct: bool,
}

/// Lines packed for one handoff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBatch {
    text: String,
    lines: Vec<Packed>,
}

impl LineBatch {
    pub fn new() -> LineBatch {
        LineBatch::default()
    }

    pub fn push(&mut self, p: &LineParts<'_>) {
        let (key, to, direct) = match p.target {
            TargetParts::Room(key) => (key, "", false),
            TargetParts::Direct { from, to } => (from, to, true),
        };
        let parts = [
            p.msgid,
            p.nick,
            p.user,
            p.host,
            p.account.unwrap_or(""),
            key,
            to,
            p.target_name,
            p.tags,
            p.text,
        ];
        // One capacity check for the line, not one per part.
        self.text.reserve(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; PARTS];
        for (end, part) in ends.iter_mut().zip(parts) {
            self.text.push_str(part);
            *end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        }
        self.lines.push(Packed {
            ends,
            time: p.time,
            kind: p.kind,
            has_account: p.account.is_some(),
            direct,
        });
    }

    /// Lines in the batch.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes of text in the batch.
    pub fn bytes(&self) -> usize {
        self.text.len()
    }

    /// The lines' parts, borrowed, in the order pushed (the store thread packs them into
    /// blocks from here, with no message made).
    pub fn iter(&self) -> impl Iterator<Item = LineParts<'_>> + '_ {
        let text = self.text.as_str();
        let mut start = 0usize;
        self.lines.iter().map(move |l| {
            let mut part = |i: usize| {
                let end = (l.ends[i] as usize).min(text.len());
                let s = text.get(start.min(end)..end).unwrap_or("");
                start = end;
                s
            };
            let (msgid, nick, user, host, account) = (part(0), part(1), part(2), part(3), part(4));
            let (key, to, target_name, tags, text) = (part(5), part(6), part(7), part(8), part(9));
            LineParts {
                msgid,
                time: l.time,
                nick,
                user,
                host,
                account: l.has_account.then_some(account),
                target: if l.direct {
                    TargetParts::Direct { from: key, to }
                } else {
                    TargetParts::Room(key)
                },
                target_name,
                kind: l.kind,
                text,
                tags,
            }
        })
    }

    /// The lines as messages, in the order pushed.
    pub fn into_messages(self) -> impl Iterator<Item = HistoryMessage> {
        self.iter()
            .map(LineParts::to_message)
            .collect::<Vec<_>>()
            .into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: usize, direct: bool) -> HistoryMessage {
        HistoryMessage {
            msgid: format!("id{i}"),
            time: i as i64,
            sender: Sender {
                nick: "ñick".into(),
                user: "u".into(),
                host: "h".into(),
                account: i.is_multiple_of(2).then(|| "Acct".into()),
            },
            target: if direct {
                Target::Direct {
                    from: "a".into(),
                    to: format!("session {i}"),
                }
            } else {
                Target::Room("#r".into())
            },
            target_name: if direct { "bob".into() } else { "#R".into() },
            kind: if i.is_multiple_of(3) {
                MessageKind::Action
            } else {
                MessageKind::Privmsg
            },
            text: format!("text {i} ✓"),
            tags: if i % 2 == 1 {
                "+x=y".into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn lines_come_back_as_they_went_in() {
        let all: Vec<HistoryMessage> = (0..7).map(|i| message(i, i % 2 == 0)).collect();
        let mut batch = LineBatch::new();
        assert!(batch.is_empty());
        for m in &all {
            batch.push(&m.parts());
        }
        assert_eq!(batch.len(), 7);
        assert!(batch.bytes() > 0);
        let parts: Vec<LineParts<'_>> = all.iter().map(|m| m.parts()).collect();
        assert_eq!(batch.iter().collect::<Vec<_>>(), parts);
        assert_eq!(batch.into_messages().collect::<Vec<_>>(), all);
        // An empty account is an account still; none is none.
        let mut m = message(0, false);
        m.sender.account = Some(String::new());
        let mut batch = LineBatch::new();
        batch.push(&m.parts());
        assert_eq!(batch.into_messages().next(), Some(m));
    }
}
