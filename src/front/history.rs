//! History for the front ends: native `/history` and IRC `CHATHISTORY`, from the request to
//! the answer. Who may see what is decided here, against the hub:
//!
//! - a room's history is its members' (whatever its modes; a non-member, and anyone naming a
//!   room that does not exist, gets the same refusal, so nothing tells the two apart);
//! - a direct conversation is named by its two parties ([`participant`]), the asker always
//!   one of them, so nobody reads another pair's messages.
//!
//! Queries go to the store through [`Output::submit`] with a tag of this module's
//! ([`owns`]), and come back through [`irc_answer`] / [`native_answer`]; the latest lines of
//! a room that the recent window holds enough of are answered at once
//! ([`Output::history_window`]). While a job is out the server reads nothing more from the
//! connection, so the answer comes before the reply to the next command (PING included).

use super::{Answer, Ctx, Output};
use crate::event::{Event, Fail};
use crate::hub::{Hub, Party};
use crate::names::NameRules;
use crate::proto::history::{self as wire, Line, LineKind, Ref, Request};
use crate::proto::irc::caps;
use crate::proto::irc_msg::write_message;
use crate::store::{
    Anchor, Call, CallResult, Conversation, HistoryError, HistoryMessage, HistoryQuery,
    MessageKind, Selector, TargetsQuery, WindowLine,
};

/// The tags of history's jobs: `0x4853` ("HS") in the high half, what the job is in the low.
/// Other jobs (accounts) use tags outside this range.
pub const TAG: u32 = 0x4853_0000;
const TAG_LINES: u32 = TAG | 1;
const TAG_TARGETS: u32 = TAG | 2;

/// Whether `tag` is one of history's.
pub fn owns(tag: u32) -> bool {
    tag & 0xFFFF_0000 == TAG
}

/// The key that names `party` in direct conversations: its account (folded) when logged in,
/// else its connection. A conversation with a user who has no account is therefore that
/// connection's alone: nobody who takes the nick later (or registers it) reads it. The
/// connection's key holds a space, which no account name can.
pub fn participant(rules: NameRules, party: &Party<'_>) -> String {
    PartyKey::of(rules, party).as_str().to_owned()
}

/// The key of an account (who may not be on line).
pub fn registered(rules: NameRules, account: &str) -> String {
    rules.key(account).to_string()
}

/// [`participant`] on the stack, for keeping a message without an allocation.
pub enum PartyKey {
    /// `session ` and 16 hex digits.
    Session([u8; 24]),
    Account(crate::names::Key),
}

impl PartyKey {
    pub fn of(rules: NameRules, party: &Party<'_>) -> PartyKey {
        match party.source.account {
            Some(account) => PartyKey::Account(rules.key(account)),
            None => {
                let mut buf = *b"session 0000000000000000";
                write_hex(party.session, &mut buf[8..]);
                PartyKey::Session(buf)
            }
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            PartyKey::Session(buf) => std::str::from_utf8(buf).unwrap_or(""),
            PartyKey::Account(key) => key,
        }
    }
}

/// `n` as 16 lowercase hex digits into `out` (at least 16 bytes), as a msgid is written.
/// Eight digits at a time in a `u64` (each nibble spread to its own byte, then turned into
/// its digit), not a loop of sixteen: history writes three of these per direct message.
pub fn write_hex(n: u64, out: &mut [u8]) {
    for (half, chunk) in [(n >> 32) as u32, n as u32]
        .into_iter()
        .zip(out.chunks_mut(8))
    {
        let digits = hex_digits(half).to_be_bytes();
        chunk.copy_from_slice(&digits[..chunk.len()]);
    }
}

/// The eight hex digits of `x`, most significant first in big-endian byte order.
fn hex_digits(x: u32) -> u64 {
    let mut x = u64::from(x);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more: those become letters.
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    x + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
}

/// How a stored kind shows (None: tags alone, which no front end shows in history).
fn line_kind(kind: MessageKind) -> Option<LineKind> {
    use crate::event::MsgKind;
    Some(match kind {
        MessageKind::Privmsg => LineKind::Say(MsgKind::Normal),
        MessageKind::Notice => LineKind::Say(MsgKind::Notice),
        MessageKind::Action => LineKind::Say(MsgKind::Action),
        MessageKind::FileOffer => LineKind::FileOffer,
        MessageKind::Tagmsg => return None,
    })
}

/// A stored line as the codecs take it (None for a kind no front end shows: tags alone).
pub fn line_of(m: &HistoryMessage) -> Option<Line<'_>> {
    Some(Line {
        msgid: &m.msgid,
        time: u64::try_from(m.time).unwrap_or(0),
        nick: &m.sender.nick,
        user: &m.sender.user,
        host: &m.sender.host,
        account: m.sender.account.as_deref(),
        target: &m.target_name,
        kind: line_kind(m.kind)?,
        text: &m.text,
        tags: &m.tags,
    })
}

/// A line of the recent window as the codecs take it.
pub fn line_of_window(l: &WindowLine) -> Option<Line<'_>> {
    Some(Line {
        msgid: l.msgid(),
        time: u64::try_from(l.time()).unwrap_or(0),
        nick: l.nick(),
        user: l.user(),
        host: l.host(),
        account: l.account(),
        target: l.target_name(),
        kind: line_kind(l.kind())?,
        text: l.text(),
        tags: l.tags(),
    })
}

fn lines_of(messages: &[HistoryMessage]) -> Vec<Line<'_>> {
    messages.iter().filter_map(line_of).collect()
}

/// The conversation `target` names for `id`, if `id` may read it.
fn conversation(hub: &Hub, id: crate::hub::ClientId, target: &str) -> Option<Conversation> {
    let rules = hub.name_rules();
    if target.starts_with('#') {
        let room = hub.member_room(id, target)?;
        return Some(Conversation::Room(room.key.to_owned()));
    }
    rules.check_nick(target).ok()?;
    let me = participant(rules, &hub.party(id)?);
    // On line: whoever has the nick now; else the account of that name, if there is one.
    let peer = match hub.party_by_nick(target) {
        Some(peer) => participant(rules, &peer),
        None => registered(rules, target),
    };
    Some(Conversation::Direct(me, peer))
}

fn anchor(r: Ref<'_>) -> Anchor {
    match r {
        Ref::MsgId(id) => Anchor::MsgId(id.to_owned()),
        Ref::Time(t) => Anchor::Time(i64::try_from(t).unwrap_or(i64::MAX)),
    }
}

/// The newest `limit` lines of a room from the recent window, if it holds that many.
fn from_window(
    out: &impl Output,
    conversation: &Conversation,
    selector: &Selector,
    limit: usize,
) -> Option<Vec<HistoryMessage>> {
    match (conversation, selector) {
        (Conversation::Room(key), Selector::Latest(None)) => out.history_window(key, limit),
        _ => None,
    }
}

/// An IRC session's history state: the request waiting for the store, and its label.
#[derive(Debug, Default)]
pub struct IrcHistory {
    waiting: Option<Waiting>,
    /// The label (escaped) of the labeled command whose answer is out.
    label: Option<String>,
    batches: u64,
}

#[derive(Debug)]
struct Waiting {
    subcommand: &'static str,
    /// The target as the client named it (the batch's parameter).
    target: String,
}

impl IrcHistory {
    /// Whether an answer is out (the command that asked is not finished).
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// The label the answer will carry (labeled-response).
    pub fn set_label(&mut self, label: String) {
        self.label = Some(label);
    }

    fn batch(&mut self, prefix: char) -> String {
        self.batches += 1;
        format!("{prefix}{}", self.batches)
    }
}

fn fail(
    out: &mut impl Output,
    id: crate::hub::ClientId,
    srv: &str,
    code: &str,
    params: &[&str],
    text: &str,
) {
    out.raw(id, |b| {
        let mut all = vec!["CHATHISTORY", code];
        all.extend(params.iter().map(|p| if p.is_empty() { "*" } else { p }));
        all.push(text);
        write_message(b, Some(srv), "FAIL", &all);
    });
}

/// `CHATHISTORY ...` from an IRC client with capabilities `caps`.
pub fn irc_command(
    state: &mut IrcHistory,
    ctx: &Ctx<'_>,
    caps: u32,
    params: &[&str],
    hub: &mut Hub,
    out: &mut impl Output,
) {
    let (id, srv) = (ctx.id, ctx.cfg.server_name.as_str());
    let request = match wire::parse_chathistory(params) {
        Ok(r) => r,
        Err(bad) => {
            let mut p = vec![bad.subcommand];
            p.extend(bad.param);
            return fail(out, id, srv, "INVALID_PARAMS", &p, bad.text);
        }
    };
    let sub = request.subcommand();
    let (call, tag, target) = match request {
        Request::Targets { from, to, limit } => {
            let Some(me) = hub.party(id) else { return };
            let query = TargetsQuery {
                user: participant(hub.name_rules(), &me),
                rooms: hub
                    .member_rooms(id)
                    .iter()
                    .map(|r| r.key.to_owned())
                    .collect(),
                from: i64::try_from(from).unwrap_or(i64::MAX),
                to: i64::try_from(to).unwrap_or(i64::MAX),
                limit,
            };
            (Call::Targets(query), TAG_TARGETS, String::new())
        }
        _ => {
            let target = request.target().unwrap_or("*");
            let Some(conversation) = conversation(hub, id, target) else {
                let text = "Messages could not be retrieved";
                return fail(out, id, srv, "INVALID_TARGET", &[sub, target], text);
            };
            let (selector, limit) = match request {
                Request::Latest { after, limit, .. } => {
                    (Selector::Latest(after.map(anchor)), limit)
                }
                Request::Before { at, limit, .. } => (Selector::Before(anchor(at)), limit),
                Request::After { at, limit, .. } => (Selector::After(anchor(at)), limit),
                Request::Around { at, limit, .. } => (Selector::Around(anchor(at)), limit),
                Request::Between {
                    from, to, limit, ..
                } => (Selector::Between(anchor(from), anchor(to)), limit),
                Request::Targets { .. } => return,
            };
            if let Some(lines) = from_window(out, &conversation, &selector, limit) {
                let me = hub.nick(id).unwrap_or("*");
                let batch = state.batch('H');
                let lines = lines_of(&lines);
                return out.raw(id, |b| {
                    wire::write_irc_history(&lines, target, caps, srv, me, &batch, b)
                });
            }
            let query = HistoryQuery {
                conversation,
                selector,
                limit,
            };
            (Call::History(query), TAG_LINES, target.to_owned())
        }
    };
    state.waiting = Some(Waiting {
        subcommand: sub,
        target,
    });
    out.submit(id, tag, call);
}

/// The store's answer to a `CHATHISTORY` request.
pub fn irc_answer(
    state: &mut IrcHistory,
    ctx: &Ctx<'_>,
    caps: u32,
    answer: Answer,
    hub: &mut Hub,
    out: &mut impl Output,
) {
    let Some(waiting) = state.waiting.take() else {
        return;
    };
    let (id, srv) = (ctx.id, ctx.cfg.server_name.as_str());
    let label = state.label.take();
    if label.is_some() {
        out.capture(id);
    }
    let (sub, target) = (waiting.subcommand, waiting.target.as_str());
    let me = hub.nick(id).unwrap_or("*");
    match answer {
        CallResult::History(Ok(messages)) => {
            let lines = lines_of(&messages);
            let batch = state.batch('H');
            out.raw(id, |b| {
                wire::write_irc_history(&lines, target, caps, srv, me, &batch, b)
            });
        }
        CallResult::History(Err(HistoryError::UnknownMsgId(msgid))) => {
            let context = format!("msgid={msgid}");
            let text = "Messages could not be retrieved: no such message";
            fail(
                out,
                id,
                srv,
                "MESSAGE_ERROR",
                &[sub, target, &context],
                text,
            );
        }
        CallResult::Targets(Ok(found)) => {
            let targets: Vec<(&str, u64)> = found
                .iter()
                .map(|t| (t.name.as_str(), u64::try_from(t.latest).unwrap_or(0)))
                .collect();
            let batch = state.batch('T');
            out.raw(id, |b| {
                wire::write_irc_targets(&targets, caps, srv, &batch, b)
            });
        }
        CallResult::History(Err(HistoryError::Store(e)))
        | CallResult::Targets(Err(HistoryError::Store(e))) => {
            log::warn!("history: a query failed: {e}");
            let text = "Messages could not be retrieved";
            fail(out, id, srv, "MESSAGE_ERROR", &[sub, target], text);
        }
        CallResult::Targets(Err(HistoryError::UnknownMsgId(_))) => {
            fail(
                out,
                id,
                srv,
                "MESSAGE_ERROR",
                &[sub, target],
                "Messages could not be retrieved",
            );
        }
        _ => {}
    }
    if let Some(label) = label {
        let batch = state.batch('L');
        let batched = caps & caps::BATCH != 0;
        out.release(id, |held, b| {
            crate::proto::irc::label_response(held, &label, &batch, srv, batched, b)
        });
    }
}

/// A native session's history state: the target of the request waiting for the store.
#[derive(Debug, Default)]
pub struct NativeHistory {
    waiting: Option<Box<str>>,
}

impl NativeHistory {
    /// Whether an answer is out.
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }
}

/// `/history ARGS` from a native user.
pub fn native_command(
    state: &mut NativeHistory,
    ctx: &Ctx<'_>,
    args: &str,
    hub: &mut Hub,
    out: &mut impl Output,
) {
    let id = ctx.id;
    let me = hub.nick(id).unwrap_or("*");
    let Some(ask) = wire::parse_native(args) else {
        return out.one(id, me, &Event::Fail(Fail::Usage(wire::NATIVE_USAGE)));
    };
    let current: String;
    let target = match ask.target {
        Some(t) => t,
        None => match hub.current_room(id) {
            Some(room) => {
                current = room.to_owned();
                &current
            }
            None => return out.one(id, me, &Event::Fail(Fail::NoRoom)),
        },
    };
    let Some(conversation) = conversation(hub, id, target) else {
        let fail = if target.starts_with('#') {
            Fail::NotInRoom(target)
        } else {
            Fail::NoSuchNick(target)
        };
        return out.one(id, me, &Event::Fail(fail));
    };
    let selector = match ask.before {
        None => Selector::Latest(None),
        Some(at) => Selector::Before(anchor(at)),
    };
    if let Some(lines) = from_window(out, &conversation, &selector, ask.count) {
        let lines = lines_of(&lines);
        return out.raw(id, |b| wire::write_native_block(target, &lines, b));
    }
    let query = HistoryQuery {
        conversation,
        selector,
        limit: ask.count,
    };
    state.waiting = Some(target.into());
    out.submit(id, TAG_LINES, Call::History(query));
}

/// The store's answer to `/history`.
pub fn native_answer(
    state: &mut NativeHistory,
    ctx: &Ctx<'_>,
    answer: Answer,
    out: &mut impl Output,
) {
    let Some(target) = state.waiting.take() else {
        return;
    };
    let id = ctx.id;
    match answer {
        CallResult::History(Ok(messages)) => {
            let lines = lines_of(&messages);
            out.raw(id, |b| wire::write_native_block(&target, &lines, b));
        }
        CallResult::History(Err(HistoryError::UnknownMsgId(msgid))) => out.raw(id, |b| {
            let line = format!("! no-such-message {msgid} is not in the history of {target}");
            b.extend_from_slice(crate::text::strip_formatting(&line).as_bytes());
            b.push(b'\n');
        }),
        CallResult::History(Err(HistoryError::Store(e))) => {
            log::warn!("history: a query failed: {e}");
            out.raw(id, |b| {
                b.extend_from_slice(
                    b"! history-unavailable the history cannot be read now; try again later\n",
                )
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::recorder::{Conn, Recorder};
    use crate::front::{Job, Proto};
    use crate::store::{Sender, Target, TargetId, TargetLatest};

    fn irc(t: &mut Recorder, nick: &str, caps: &str) -> Conn {
        let mut c = t.connect(Proto::Irc);
        t.line(&mut c, &format!("CAP REQ :{caps}"));
        t.line(&mut c, &format!("NICK {nick}"));
        t.line(&mut c, "USER u 0 * :Real Name");
        t.line(&mut c, "CAP END");
        t.take(c.id);
        c
    }

    #[test]
    fn hex_is_sixteen_lowercase_digits_most_significant_first() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xabcdef,
            u64::MAX,
            1 << 63,
            0x0123_4567_89ab_cdef,
        ]
        .into_iter()
        .chain((0..1000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })) {
            let mut out = [b'?'; 18];
            write_hex(n, &mut out);
            assert_eq!(&out[..16], format!("{n:016x}").as_bytes());
            assert_eq!(&out[16..], b"??", "nothing past the sixteenth byte");
        }
    }

    fn stored(i: u64, target: &str) -> HistoryMessage {
        HistoryMessage {
            msgid: format!("{:016x}", 0x100 + i),
            time: 1000 * i as i64,
            sender: Sender {
                nick: "alice".into(),
                user: "u".into(),
                host: "h".into(),
                account: None,
            },
            target: Target::Room(target.to_lowercase()),
            target_name: target.into(),
            kind: MessageKind::Privmsg,
            text: format!("line {i}"),
            tags: String::new(),
        }
    }

    fn history_query(job: &Job) -> &HistoryQuery {
        match job {
            Call::History(q) => q,
            other => panic!("not a history query: {other:?}"),
        }
    }

    #[test]
    fn chathistory_asks_the_store_for_members_and_answers_in_a_batch() {
        let mut t = Recorder::new();
        let all = "batch server-time message-tags draft/chathistory";
        let mut a = irc(&mut t, "alice", all);
        t.line(&mut a, "JOIN #Room");
        t.take(a.id);
        t.line(&mut a, "CHATHISTORY BEFORE #ROOM msgid=0000000000000105 3");
        assert_eq!(t.take(a.id), "", "nothing until the store answers");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert_eq!(q.conversation, Conversation::Room("#room".into()));
            assert_eq!(
                q.selector,
                Selector::Before(Anchor::MsgId("0000000000000105".into()))
            );
            assert_eq!(q.limit, 3);
            CallResult::History(Ok(vec![stored(2, "#Room"), stored(3, "#Room")]))
        });
        assert_eq!(
            t.take(a.id),
            ":snak.localhost BATCH +H1 chathistory #ROOM\r\n\
             @batch=H1;time=1970-01-01T00:00:02.000Z;msgid=0000000000000102 \
             :alice!u@h PRIVMSG #Room :line 2\r\n\
             @batch=H1;time=1970-01-01T00:00:03.000Z;msgid=0000000000000103 \
             :alice!u@h PRIVMSG #Room :line 3\r\n\
             :snak.localhost BATCH -H1\r\n"
        );
        // An answer nobody waits for is dropped.
        let stray = Call::History(HistoryQuery {
            conversation: Conversation::Room("#room".into()),
            selector: Selector::Latest(None),
            limit: 1,
        });
        t.out.jobs.push((a.id, TAG_LINES, stray));
        t.answer_job(&mut a, |_| {
            CallResult::History(Ok(vec![stored(1, "#Room")]))
        });
        assert_eq!(t.take(a.id), "");
    }

    #[test]
    fn chathistory_refusals_name_the_problem() {
        let mut t = Recorder::new();
        let mut a = irc(&mut t, "alice", "batch");
        let mut b = irc(&mut t, "bob", "batch");
        t.line(&mut b, "JOIN #bobs");
        t.take(b.id);
        let fail = |t: &mut Recorder, c: &mut Conn, line: &str| {
            t.line(c, line);
            assert!(t.out.jobs.is_empty(), "{line}: no store query");
            t.take(c.id)
        };
        let invalid_target = ":snak.localhost FAIL CHATHISTORY INVALID_TARGET LATEST";
        // Not a member, and no such room, look alike.
        assert_eq!(
            fail(&mut t, &mut a, "CHATHISTORY LATEST #bobs * 10"),
            format!("{invalid_target} #bobs :Messages could not be retrieved\r\n")
        );
        assert_eq!(
            fail(&mut t, &mut a, "CHATHISTORY LATEST #nowhere * 10"),
            format!("{invalid_target} #nowhere :Messages could not be retrieved\r\n")
        );
        assert_eq!(
            fail(&mut t, &mut a, "CHATHISTORY LATEST bad,nick * 10"),
            format!("{invalid_target} bad,nick :Messages could not be retrieved\r\n")
        );
        assert_eq!(
            fail(&mut t, &mut a, "CHATHISTORY LATEST #bobs * many"),
            ":snak.localhost FAIL CHATHISTORY INVALID_PARAMS LATEST many :Invalid limit\r\n"
        );
        assert_eq!(
            fail(&mut t, &mut a, "CHATHISTORY SOMETIME #bobs * 1"),
            ":snak.localhost FAIL CHATHISTORY INVALID_PARAMS SOMETIME :Unknown subcommand\r\n"
        );
        assert_eq!(
            fail(&mut t, &mut a, "CHATHISTORY"),
            ":snak.localhost FAIL CHATHISTORY INVALID_PARAMS * :Insufficient parameters\r\n"
        );
        // The store's failures.
        t.line(&mut b, "CHATHISTORY AROUND #bobs msgid=0000000000000001 5");
        t.answer_job(&mut b, |_| {
            CallResult::History(Err(HistoryError::UnknownMsgId("0000000000000001".into())))
        });
        assert_eq!(
            t.take(b.id),
            ":snak.localhost FAIL CHATHISTORY MESSAGE_ERROR AROUND #bobs msgid=0000000000000001 \
             :Messages could not be retrieved: no such message\r\n"
        );
        t.line(&mut b, "CHATHISTORY LATEST #bobs * 5");
        t.answer_job(&mut b, |_| {
            CallResult::History(Err(HistoryError::Store("disk on fire".into())))
        });
        assert_eq!(
            t.take(b.id),
            ":snak.localhost FAIL CHATHISTORY MESSAGE_ERROR LATEST #bobs \
             :Messages could not be retrieved\r\n"
        );
    }

    #[test]
    fn direct_conversations_are_named_by_both_parties() {
        let mut t = Recorder::new();
        let mut a = irc(&mut t, "alice", "batch");
        let b = irc(&mut t, "bob", "batch");
        let (sa, sb) = (
            t.hub.party(a.id).unwrap().session,
            t.hub.party(b.id).unwrap().session,
        );
        t.line(&mut a, "CHATHISTORY LATEST BOB * 10");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert_eq!(
                q.conversation,
                Conversation::Direct(format!("session {sa:016x}"), format!("session {sb:016x}"))
            );
            CallResult::History(Ok(Vec::new()))
        });
        assert_eq!(
            t.take(a.id),
            ":snak.localhost BATCH +H1 chathistory BOB\r\n:snak.localhost BATCH -H1\r\n"
        );
        // Someone not on line is taken for an account of that name; an account is folded.
        t.line(&mut a, "CHATHISTORY LATEST Carol * 10");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert_eq!(
                q.conversation,
                Conversation::Direct(format!("session {sa:016x}"), "carol".into())
            );
            CallResult::History(Ok(Vec::new()))
        });
        t.hub.set_account(a.id, Some("Alice"), t.clock, &mut t.out);
        t.line(&mut a, "CHATHISTORY LATEST alice * 10");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert_eq!(
                q.conversation,
                Conversation::Direct("alice".into(), "alice".into())
            );
            CallResult::History(Ok(Vec::new()))
        });
    }

    #[test]
    fn a_labeled_request_gets_its_label_with_the_answer() {
        let mut t = Recorder::new();
        let caps = "batch labeled-response server-time";
        let mut a = irc(&mut t, "alice", caps);
        t.line(&mut a, "JOIN #r");
        t.take(a.id);
        t.line(&mut a, "@label=q1 CHATHISTORY LATEST #r * 5");
        assert_eq!(t.take(a.id), "", "no ACK: the answer carries the label");
        t.answer_job(&mut a, |_| CallResult::History(Ok(vec![stored(1, "#r")])));
        assert_eq!(
            t.take(a.id),
            "@label=q1 :snak.localhost BATCH +L2 labeled-response\r\n\
             @batch=L2 :snak.localhost BATCH +H1 chathistory #r\r\n\
             @batch=H1;time=1970-01-01T00:00:01.000Z :alice!u@h PRIVMSG #r :line 1\r\n\
             @batch=L2 :snak.localhost BATCH -H1\r\n\
             :snak.localhost BATCH -L2\r\n"
        );
        // Refused at once: the refusal itself is labeled.
        t.line(&mut a, "@label=q2 CHATHISTORY LATEST #elsewhere * 5");
        assert_eq!(
            t.take(a.id),
            "@label=q2 :snak.localhost FAIL CHATHISTORY INVALID_TARGET LATEST #elsewhere \
             :Messages could not be retrieved\r\n"
        );
    }

    #[test]
    fn targets_lists_rooms_and_peers_by_latest_message() {
        let mut t = Recorder::new();
        let mut a = irc(&mut t, "alice", "batch");
        t.line(&mut a, "JOIN #one,#two");
        t.take(a.id);
        t.line(
            &mut a,
            "CHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z timestamp=2030-01-01T00:00:00Z 50",
        );
        t.answer_job(&mut a, |job| {
            let Call::Targets(q) = job else {
                panic!("{job:?}")
            };
            assert_eq!(q.rooms, ["#one", "#two"]);
            assert_eq!(
                (q.from, q.to, q.limit),
                (1_577_836_800_000, 1_893_456_000_000, 50)
            );
            assert!(q.user.starts_with("session "));
            CallResult::Targets(Ok(vec![
                TargetLatest {
                    target: TargetId::Room("#one".into()),
                    name: "#One".into(),
                    latest: 5,
                },
                TargetLatest {
                    target: TargetId::Peer("bob".into()),
                    name: "bob".into(),
                    latest: 7,
                },
            ]))
        });
        assert_eq!(
            t.take(a.id),
            ":snak.localhost BATCH +T1 draft/chathistory-targets\r\n\
             @batch=T1 :snak.localhost CHATHISTORY TARGETS #One 1970-01-01T00:00:00.005Z\r\n\
             @batch=T1 :snak.localhost CHATHISTORY TARGETS bob 1970-01-01T00:00:00.007Z\r\n\
             :snak.localhost BATCH -T1\r\n"
        );
    }

    #[test]
    fn native_history_of_the_current_room_a_room_or_a_nick() {
        let mut t = Recorder::new();
        let mut a = t.connect(Proto::Native);
        t.line(&mut a, "/nick alice");
        t.line(&mut a, "/join #r");
        t.take(a.id);
        t.line(&mut a, "/history");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert_eq!(
                (&q.conversation, &q.selector, q.limit),
                (
                    &Conversation::Room("#r".into()),
                    &Selector::Latest(None),
                    20
                )
            );
            CallResult::History(Ok(vec![stored(1, "#r")]))
        });
        assert_eq!(
            t.take(a.id),
            "= history #r 1 0000000000000101\n\
             #r [1970-01-01 00:00:01] <alice> line 1\n\
             = end history #r 1\n"
        );
        t.line(&mut a, "/history #lobby 5 before 2019-01-04");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert_eq!(
                q.selector,
                Selector::Before(Anchor::Time(1_546_560_000_000))
            );
            assert_eq!(q.limit, 5);
            CallResult::History(Err(HistoryError::UnknownMsgId("x".into())))
        });
        assert_eq!(
            t.take(a.id),
            "! no-such-message x is not in the history of #lobby\n"
        );
        t.line(&mut a, "/history alice 1 before 0000000000000101");
        t.answer_job(&mut a, |job| {
            let q = history_query(job);
            assert!(matches!(q.conversation, Conversation::Direct(ref x, ref y) if x == y));
            CallResult::History(Err(HistoryError::Store("gone".into())))
        });
        assert_eq!(
            t.take(a.id),
            "! history-unavailable the history cannot be read now; try again later\n"
        );
        for (line, want) in [
            (
                "/history #r soon",
                "! usage /history [#ROOM|NICK] [N] [before ID|TIME]\n",
            ),
            ("/history #elsewhere", "! not-in-room #elsewhere\n"),
            ("/history no,body", "! no-such-nick no,body\n"),
        ] {
            t.line(&mut a, line);
            assert_eq!(t.take(a.id), want, "{line}");
        }
        t.line(&mut a, "/part #r");
        t.line(&mut a, "/part #lobby");
        t.take(a.id);
        t.line(&mut a, "/history");
        assert_eq!(
            t.take(a.id),
            "! no-room you are in no room; /join #ROOM first\n"
        );
        assert!(t.out.jobs.is_empty());
    }

    #[test]
    fn tags_of_others_are_left_alone() {
        assert!(owns(TAG_LINES) && owns(TAG_TARGETS));
        assert!(!owns(0) && !owns(1) && !owns(0x4854_0001));
    }
}
