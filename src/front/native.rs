//! The native front end: a user from the first byte (a guest nick in `#lobby`), one line per
//! command or message, and file data frames (`/data ID LEN` followed by LEN raw bytes).

use super::irc::{AWAY_MAX, TOPIC_MAX};
use super::{Arrival, CloseReason, Ctx, DataFrame, Flow, Output};
use crate::config;
use crate::event::{Event, Fail, ListMode, ModeChange};
use crate::hub::{ClientId, Command, Hub, Route};
use crate::proto::line::{self, Input, RoomAction};
use crate::proto::modes;
use crate::text::clip;

mod accounts;

/// A native connection's state: everything else it needs lives in the hub and the link.
#[derive(Debug, Default)]
pub struct Native {
    /// What a connection waiting for the store holds; None (a pointer's worth, so that a
    /// session is 16 bytes) while nothing is out, as for most connections.
    waiting: Option<Box<Waiting>>,
}

/// Requests out to the store.
#[derive(Debug, Default)]
struct Waiting {
    /// `/history`: the request waiting for the store.
    history: super::history::NativeHistory,
    /// Jobs handed off to the store (accounts, password checks), waiting for their answers.
    jobs: super::accounts::Jobs<accounts::Wait>,
}

impl Native {
    /// A native client is a user as soon as it connects: it gets its greeting and `#lobby`.
    pub fn start(ctx: &Ctx<'_>, arrival: Arrival, hub: &mut Hub, out: &mut impl Output) -> Native {
        let host = ctx.peer.to_string();
        hub.connect_native(ctx.id, &host, ctx.clock, out);
        hub.set_connection(ctx.id, ctx.secure, arrival.certfp.as_deref());
        out.entered_hub(ctx.id);
        Native::default()
    }

    pub fn line(
        &mut self,
        ctx: &Ctx<'_>,
        text: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        let id = ctx.id;
        let parsed = line::parse(text);
        // `me` is looked up only where an answer needs it: not for a message.
        match parsed {
            Ok(Input::Empty) => Flow::Lines,
            Ok(Input::Service(req)) => {
                self.service(ctx, req, hub, out);
                Flow::Lines
            }
            // `/msg NickServ IDENTIFY ...` works natively too.
            Ok(Input::Command(Command::Message {
                targets,
                kind: crate::event::MsgKind::Normal,
                text,
            })) if crate::proto::services::service_named(targets).is_some() => {
                if let Some(service) = crate::proto::services::service_named(targets) {
                    let req = crate::proto::services::parse(service, text);
                    self.service(ctx, req, hub, out);
                }
                Flow::Lines
            }
            Ok(Input::Command(cmd)) => {
                hub.apply(id, within_limits(cmd), ctx.clock, out);
                Flow::Lines
            }
            Ok(Input::InRoom { room, action }) => {
                // The current room's name is copied: the hub is about to change.
                let current: Box<str>;
                let room = match room {
                    Some(room) => room,
                    None => match hub.current_room(id) {
                        Some(name) => {
                            current = name.into();
                            &current
                        }
                        None => {
                            out.one(id, nick_or_star(hub, id), &Event::Fail(Fail::NoRoom));
                            return Flow::Lines;
                        }
                    },
                };
                moderate(ctx, room, action, hub, out);
                Flow::Lines
            }
            Ok(Input::Data { id: transfer, len }) => {
                if len == 0 || len > config::MAX_FRAME as u64 {
                    let fail = Fail::BadFrame("LEN must be 1 to 65536");
                    out.one(id, nick_or_star(hub, id), &Event::Fail(fail));
                    // A zero-length frame has nothing to skip; a huge one is skipped whole.
                    return match len {
                        0 => Flow::Lines,
                        _ => Flow::Raw {
                            len,
                            frame: DataFrame { transfer, to: None },
                        },
                    };
                }
                let to = match hub.route_data(id, transfer, len, out) {
                    Route::To(to) => Some(to),
                    Route::Refused(why) => {
                        let me = hub.nick(id).unwrap_or("*");
                        out.one(id, me, &Event::Fail(Fail::BadFrame(why)));
                        None
                    }
                };
                Flow::Raw {
                    len,
                    frame: DataFrame { transfer, to },
                }
            }
            Ok(Input::History(args)) => {
                let waiting = self.waiting.get_or_insert_with(Default::default);
                super::history::native_command(&mut waiting.history, ctx, args, hub, out);
                self.tidy();
                Flow::Lines
            }
            Ok(Input::Quit(reason)) => {
                let bye = Event::Bye {
                    reason: reason.unwrap_or(""),
                };
                out.one(id, nick_or_star(hub, id), &bye);
                out.close(id, CloseReason::Quit(reason.map(Into::into)));
                Flow::Lines
            }
            Ok(Input::Oper { name, password }) => {
                if let Some(phc) = super::operator::oper(ctx, name, password, hub, out) {
                    self.check_oper(ctx, phc, password, out);
                }
                Flow::Lines
            }
            Ok(Input::Rehash) => {
                super::operator::ask(ctx, super::ServerAsk::Reload, hub, out);
                Flow::Lines
            }
            Ok(Input::Stats) => {
                super::operator::ask(ctx, super::ServerAsk::Figures, hub, out);
                Flow::Lines
            }
            Err(fail) => {
                out.one(id, nick_or_star(hub, id), &Event::Fail(fail));
                Flow::Lines
            }
        }
    }
}

/// The nick an answer to `id` is addressed to.
fn nick_or_star(hub: &Hub, id: ClientId) -> &str {
    hub.nick(id).unwrap_or("*")
}

/// Texts kept to the lengths IRC advertises, as IRC users' are.
fn within_limits(cmd: Command<'_>) -> Command<'_> {
    match cmd {
        Command::Topic { room, text } => Command::Topic {
            room,
            text: text.map(|t| clip(t, TOPIC_MAX)),
        },
        Command::Part { rooms, reason } => Command::Part {
            rooms,
            reason: reason.map(|r| clip(r, TOPIC_MAX)),
        },
        Command::Away(text) => Command::Away(text.map(|t| clip(t, AWAY_MAX))),
        other => other,
    }
}

/// A moderation command for `room`, as the hub's typed commands: the same rules as IRC's
/// MODE, KICK and INVITE.
fn moderate(
    ctx: &Ctx<'_>,
    room: &str,
    action: RoomAction<'_>,
    hub: &mut Hub,
    out: &mut impl Output,
) {
    let (id, clock) = (ctx.id, ctx.clock);
    let change = |hub: &mut Hub, out: &mut _, change: ModeChange<'_>| {
        let changes = [change];
        let cmd = Command::RoomMode {
            room,
            changes: &changes,
        };
        hub.apply(id, cmd, clock, out);
    };
    match action {
        RoomAction::Mode { changes: None, .. } => {
            hub.apply(id, Command::ShowModes(room), clock, out)
        }
        RoomAction::Mode {
            changes: Some(changes),
            params,
        } => {
            let params: Vec<&str> = params.split(' ').filter(|p| !p.is_empty()).collect();
            let req = modes::parse_room(changes, &params);
            let me = hub.nick(id).unwrap_or("*");
            for &c in &req.unknown {
                out.one(id, me, &Event::Fail(Fail::UnknownMode(c)));
            }
            if req.missing_param {
                let usage = "/mode [#ROOM] [CHANGES [PARAMS...]]";
                out.one(id, me, &Event::Fail(Fail::Usage(usage)));
            }
            for &list in &req.queries {
                hub.apply(id, Command::MaskList { room, list }, clock, out);
            }
            if !req.changes.is_empty() {
                let cmd = Command::RoomMode {
                    room,
                    changes: &req.changes,
                };
                hub.apply(id, cmd, clock, out);
            }
        }
        RoomAction::Role { on, role, nick } => change(hub, out, ModeChange::Member(on, role, nick)),
        RoomAction::Ban { on, mask } => change(hub, out, ModeChange::List(on, ListMode::Ban, mask)),
        RoomAction::Bans => {
            let cmd = Command::MaskList {
                room,
                list: ListMode::Ban,
            };
            hub.apply(id, cmd, clock, out);
        }
        RoomAction::Kick { nick, reason } => {
            let cmd = Command::Kick {
                rooms: room,
                nicks: nick,
                reason: reason.map(|r| clip(r, TOPIC_MAX)),
            };
            hub.apply(id, cmd, clock, out);
        }
        RoomAction::Invite { nick } => hub.apply(id, Command::Invite { nick, room }, clock, out),
    }
}

impl Native {
    /// The answer to a job this session handed off (accounts, history).
    pub fn answer(
        &mut self,
        ctx: &Ctx<'_>,
        tag: u32,
        answer: super::Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if super::history::owns(tag) {
            if let Some(waiting) = self.waiting.as_mut() {
                super::history::native_answer(&mut waiting.history, ctx, answer, out);
            }
            return self.tidy();
        }
        self.account_answer(ctx, tag, answer, hub, out);
    }

    /// Whether an answer is awaited (the next lines wait for it).
    pub fn waits(&self) -> bool {
        self.waiting
            .as_ref()
            .is_some_and(|w| !w.jobs.is_empty() || w.history.waiting())
    }

    /// Gives the waiting state back once nothing is out.
    fn tidy(&mut self) {
        if !self.waits() {
            self.waiting = None;
        }
    }
}

pub fn too_long(ctx: &Ctx<'_>, hub: &Hub, out: &mut impl Output) {
    let me = hub.nick(ctx.id).unwrap_or("*");
    out.one(
        ctx.id,
        me,
        &Event::Fail(Fail::LineTooLong(ctx.cfg.max_line)),
    );
}

/// Forwards file bytes to the recipient, or pauses the sender while the recipient is behind.
pub fn forward(
    ctx: &Ctx<'_>,
    frame: DataFrame,
    bytes: &[u8],
    hub: &mut Hub,
    out: &mut impl Output,
) -> Flow {
    let Some(to) = frame.to else {
        return Flow::Lines; // refused: the bytes are skipped
    };
    if !hub.transfer_active(frame.transfer) {
        return Flow::Lines; // cancelled meanwhile: skipped too
    }
    if out.queued(to) > config::FILE_PAUSE_QUEUE {
        return Flow::Paused;
    }
    let _ = ctx;
    out.file_data(to, frame.transfer, bytes);
    hub.data_forwarded(frame.transfer, bytes.len() as u64, out);
    Flow::Lines
}

/// Data frame headers are not charged to the flood limit: files are paced by backpressure.
pub fn is_data_header(line: &[u8]) -> bool {
    line.starts_with(b"/data ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::recorder::{Conn, Recorder};
    use crate::front::{Proto, Session};

    #[test]
    fn a_native_client_is_greeted_in_the_lobby_and_can_talk() {
        let mut t = Recorder::new();
        let mut a = t.connect(crate::front::Proto::Native);
        let mut b = t.connect(crate::front::Proto::Native);
        assert!(t.take(a.id).starts_with("* Hello, world! This is snak "));
        t.take(b.id);
        t.line(&mut b, "/nick bob");
        t.line(&mut a, "hello");
        assert_eq!(
            t.take(b.id),
            "* guest-2 is now known as bob\n#lobby <guest-1> hello\n"
        );
        assert!(t.entered.contains(&a.id));
        let _: &Session = &a.session;
    }

    #[test]
    fn a_data_frame_is_routed_only_once_accepted() {
        let mut t = Recorder::new();
        let mut a = t.connect(crate::front::Proto::Native);
        let mut b = t.connect(crate::front::Proto::Native);
        t.line(&mut b, "/nick bob");
        t.line(&mut a, "/offer bob 3 f.txt");
        let flow = t.line(&mut a, "/data 1 3");
        assert!(matches!(
            flow,
            Flow::Raw {
                len: 3,
                frame: DataFrame { to: None, .. }
            }
        ));
        assert!(t
            .take(a.id)
            .contains("! bad-frame the transfer is not accepted yet"));
        t.line(&mut b, "/accept 1");
        let flow = t.line(&mut a, "/data 1 3");
        let Flow::Raw { frame, .. } = flow else {
            panic!("{flow:?}")
        };
        assert_eq!(frame.to, Some(b.id));
        let flow = t.raw(&mut a, frame, b"abc");
        assert_eq!(flow, Flow::Lines);
        let got = t.take(b.id);
        assert!(got.ends_with("% data 1 3\nabc% done 1\n"), "{got:?}");
    }

    /// A native op (alice, who made #r and is in it) and an IRC user (ircy) in #r.
    fn op_and_irc_user(t: &mut Recorder) -> (Conn, Conn) {
        let mut a = t.connect(Proto::Native);
        t.line(&mut a, "/nick alice");
        t.line(&mut a, "/join #r");
        let mut i = t.connect(Proto::Irc);
        t.line(&mut i, "NICK ircy");
        t.line(&mut i, "USER u 0 * :Irc Y");
        t.line(&mut i, "JOIN #r");
        t.take(a.id);
        t.take(i.id);
        (a, i)
    }

    #[test]
    fn a_native_op_moderates_a_room_with_an_irc_user_in_it() {
        let mut t = Recorder::new();
        let (mut a, mut i) = op_and_irc_user(&mut t);
        t.line(&mut a, "/mode +m");
        assert_eq!(t.take(a.id), "* alice sets mode +m on #r\n");
        assert_eq!(t.take(i.id), ":alice!native@127.0.0.1 MODE #r +m\r\n");
        t.line(&mut i, "PRIVMSG #r :may I?");
        assert!(t.take(i.id).contains(" 404 ircy #r "));
        t.line(&mut a, "/voice ircy");
        assert_eq!(t.take(a.id), "* alice sets mode +v ircy on #r\n");
        assert_eq!(t.take(i.id), ":alice!native@127.0.0.1 MODE #r +v ircy\r\n");
        t.line(&mut i, "PRIVMSG #r :thanks");
        assert_eq!(t.take(a.id), "#r <ircy> thanks\n");
        t.line(&mut a, "/mode #r -v+tl ircy 5");
        assert_eq!(t.take(a.id), "* alice sets mode -v+l ircy 5 on #r\n");
        t.take(i.id);
        t.line(&mut a, "/mode");
        assert_eq!(t.take(a.id), "= modes #r +mntl 5\n");
        t.line(&mut a, "/mode #r +k");
        assert_eq!(
            t.take(a.id),
            "! usage /mode [#ROOM] [CHANGES [PARAMS...]]\n"
        );
        t.line(&mut a, "/mode +x");
        assert!(t
            .take(a.id)
            .starts_with("! unknown-mode x: the room modes are "));
        // The IRC user is not an operator: the same rules as IRC's.
        t.line(&mut i, "MODE #r -m");
        assert!(t.take(i.id).contains(" 482 ircy #r "));
        t.line(&mut a, "/op ircy");
        t.take(a.id);
        assert_eq!(t.take(i.id), ":alice!native@127.0.0.1 MODE #r +o ircy\r\n");
        t.line(&mut a, "/deop ircy #r");
        assert_eq!(t.take(a.id), "* alice sets mode -o ircy on #r\n");
        t.take(i.id);
        // Bans: set, listed, lifted.
        t.line(&mut a, "/ban eve");
        assert_eq!(t.take(a.id), "* alice sets mode +b eve!*@* on #r\n");
        assert_eq!(
            t.take(i.id),
            ":alice!native@127.0.0.1 MODE #r +b eve!*@*\r\n"
        );
        t.line(&mut a, "/bans");
        let bans = t.take(a.id);
        let time = t.clock.unix_secs();
        assert_eq!(
            bans,
            format!("= bans #r eve!*@* alice!native@127.0.0.1 {time}\n= end bans #r\n")
        );
        t.line(&mut i, "MODE #r b");
        assert!(t
            .take(i.id)
            .contains(" 367 ircy #r eve!*@* alice!native@127.0.0.1 "));
        t.line(&mut a, "/unban eve #r");
        assert_eq!(t.take(a.id), "* alice sets mode -b eve!*@* on #r\n");
        t.take(i.id);
        // A kick, then an invitation back.
        t.line(&mut a, "/kick ircy #r behave");
        assert_eq!(
            t.take(a.id),
            "* ircy was kicked from #r by alice (behave)\n"
        );
        assert_eq!(
            t.take(i.id),
            ":alice!native@127.0.0.1 KICK #r ircy :behave\r\n"
        );
        t.line(&mut a, "/kick ircy");
        assert_eq!(t.take(a.id), "! user-not-in-room ircy is not in #r\n");
        t.line(&mut a, "/mode +i");
        t.take(a.id);
        t.line(&mut i, "JOIN #r");
        assert!(t.take(i.id).contains(" 473 ircy #r "));
        t.line(&mut a, "/invite ircy");
        assert_eq!(t.take(a.id), "= inviting ircy #r\n");
        assert_eq!(t.take(i.id), ":alice!native@127.0.0.1 INVITE ircy #r\r\n");
        t.line(&mut i, "JOIN #r");
        assert_eq!(t.take(a.id), "* ircy joined #r\n");
        t.line(&mut a, "/invite ircy");
        assert_eq!(t.take(a.id), "! already-in-room ircy is already in #r\n");
    }

    #[test]
    fn who_is_who_away_and_notices() {
        let mut t = Recorder::new();
        let (mut a, mut i) = op_and_irc_user(&mut t);
        t.line(&mut i, "AWAY :at lunch");
        t.take(i.id);
        t.line(&mut a, "/whois IRCY");
        assert_eq!(
            t.take(a.id),
            "= whois ircy host u@127.0.0.1\n\
             = whois ircy name Irc Y\n\
             = whois ircy rooms #r\n\
             = whois ircy away at lunch\n\
             = end whois ircy\n"
        );
        t.line(&mut a, "/whois nobody");
        assert_eq!(t.take(a.id), "! no-such-nick nobody\n= end whois nobody\n");
        t.line(&mut a, "/away back in five");
        assert_eq!(t.take(a.id), "= away on\n");
        t.line(&mut i, "WHOIS alice");
        let whois = t.take(i.id);
        assert!(
            whois.contains(" 319 ircy alice :@#lobby @#r\r\n"),
            "{whois}"
        );
        assert!(
            whois.contains(" 301 ircy alice :back in five\r\n"),
            "{whois}"
        );
        t.line(&mut i, "PRIVMSG alice :hi");
        assert!(t.take(i.id).contains(" 301 ircy alice :back in five"));
        t.take(a.id);
        t.line(&mut a, "/back");
        assert_eq!(t.take(a.id), "= away off\n");
        // A notice goes out as IRC's NOTICE, and an IRC notice shows as one.
        t.line(&mut a, "/notice #r heads up");
        assert_eq!(
            t.take(i.id),
            ":alice!native@127.0.0.1 NOTICE #r :heads up\r\n"
        );
        t.line(&mut i, "NOTICE alice :noted");
        assert_eq!(t.take(a.id), "@alice -ircy- noted\n");
        // The aliases.
        t.line(&mut a, "/query ircy psst");
        assert_eq!(
            t.take(i.id),
            ":alice!native@127.0.0.1 PRIVMSG ircy :psst\r\n"
        );
        assert_eq!(t.take(a.id), "* ircy is away: at lunch\n");
        t.line(&mut a, "/j #s");
        assert_eq!(t.take(a.id), "* alice joined #s\n");
        t.line(&mut a, "/names");
        assert_eq!(t.take(a.id), "= who #s @alice\n= end who #s 1\n");
        t.line(&mut a, "/leave");
        assert_eq!(t.take(a.id), "* alice left #s\n= current #r\n");
    }

    #[test]
    fn moderation_without_a_current_room_or_rights() {
        let mut t = Recorder::new();
        let (mut a, mut i) = op_and_irc_user(&mut t);
        let mut b = t.connect(Proto::Native);
        t.line(&mut b, "/nick bob");
        t.line(&mut b, "/join #r");
        t.take(b.id);
        t.take(a.id);
        t.take(i.id);
        for line in ["/op bob", "/kick alice", "/mode -n", "/ban x"] {
            t.line(&mut b, line);
            assert_eq!(
                t.take(b.id),
                "! not-operator you are not an operator of #r\n",
                "{line}"
            );
        }
        // Anyone in the room may invite, unless it is invite-only.
        t.line(&mut i, "PART #r");
        t.take(b.id);
        t.line(&mut b, "/invite ircy");
        assert_eq!(t.take(b.id), "= inviting ircy #r\n");
        t.line(&mut a, "/mode +i");
        t.take(b.id);
        t.line(&mut b, "/invite ircy");
        assert_eq!(
            t.take(b.id),
            "! not-operator you are not an operator of #r\n"
        );
        // Anyone may look.
        t.line(&mut b, "/bans #r");
        assert_eq!(t.take(b.id), "= end bans #r\n");
        t.line(&mut b, "/mode");
        assert_eq!(t.take(b.id), "= modes #r +int\n");
        t.line(&mut b, "/op bob #nowhere");
        assert_eq!(t.take(b.id), "! no-such-room #nowhere\n");
        t.line(&mut b, "/part #r");
        t.line(&mut b, "/part #lobby");
        t.take(b.id);
        t.line(&mut b, "/op bob");
        assert_eq!(
            t.take(b.id),
            "! no-room you are in no room; /join #ROOM first\n"
        );
        assert!(t.take(a.id).contains("* bob left #r"));
        // Long texts are kept to IRC's limits.
        t.line(&mut a, &format!("/topic {}", "t".repeat(500)));
        let topic = t.take(a.id);
        let want = format!("* alice set the topic of #r to: {}\n", "t".repeat(390));
        assert_eq!(topic, want);
    }

    #[test]
    fn quit_says_bye_and_closes() {
        let mut t = Recorder::new();
        let mut a = t.connect(crate::front::Proto::Native);
        t.take(a.id);
        t.line(&mut a, "/quit gone fishing");
        assert_eq!(t.take(a.id), "* bye\n");
        assert_eq!(
            t.closed,
            vec![(a.id, CloseReason::Quit(Some("gone fishing".into())))]
        );
    }
}
