//! The native front end: a user from the first byte (a guest nick in `#lobby`), one line per
//! command or message, and file data frames (`/data ID LEN` followed by LEN raw bytes).

use super::{Arrival, CloseReason, Ctx, DataFrame, Flow, Output};
use crate::config;
use crate::event::{Event, Fail};
use crate::hub::{Hub, Route};
use crate::proto::line::{self, Input};

/// A native connection's state: everything it needs lives in the hub and the link.
#[derive(Debug, Default)]
pub struct Native;

impl Native {
    /// A native client is a user as soon as it connects: it gets its greeting and `#lobby`.
    pub fn start(ctx: &Ctx<'_>, arrival: Arrival, hub: &mut Hub, out: &mut impl Output) -> Native {
        let host = ctx.peer.to_string();
        hub.connect_native(ctx.id, &host, ctx.clock, out);
        hub.set_connection(ctx.id, ctx.secure, arrival.certfp.as_deref());
        out.entered_hub(ctx.id);
        Native
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
        let me = hub.nick(id).unwrap_or("*");
        match parsed {
            Ok(Input::Empty) => Flow::Lines,
            Ok(Input::Command(cmd)) => {
                hub.apply(id, cmd, ctx.clock, out);
                Flow::Lines
            }
            Ok(Input::Data { id: transfer, len }) => {
                if len == 0 || len > config::MAX_FRAME as u64 {
                    let fail = Fail::BadFrame("LEN must be 1 to 65536");
                    out.one(id, me, &Event::Fail(fail));
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
            Ok(Input::Quit(reason)) => {
                let bye = Event::Bye {
                    reason: reason.unwrap_or(""),
                };
                out.one(id, me, &bye);
                out.close(id, CloseReason::Quit(reason.map(Into::into)));
                Flow::Lines
            }
            Err(fail) => {
                out.one(id, me, &Event::Fail(fail));
                Flow::Lines
            }
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
    use crate::front::recorder::Recorder;
    use crate::front::Session;

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
