//! The native front end's accounts: `/register`, `/login` and the rest (and `/msg NickServ`,
//! `/msg ChanServ`) carried out through [`crate::front::accounts`], answered in native lines.

use super::Native;
use crate::event::services::{AccountFail, RoomFail, Service};
use crate::event::{Event, ServiceReply};
use crate::front::accounts::{self, Done, Who};
use crate::front::{Answer, Ctx, Output};
use crate::hub::{Command, Hub};
use crate::proto::services::Request;

impl Native {
    /// An account or room request.
    pub(super) fn service(
        &mut self,
        ctx: &Ctx<'_>,
        req: Request<'_>,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let id = ctx.id;
        let tell = |hub: &Hub, out: &mut dyn crate::hub::Sink, reply: ServiceReply<'_>| {
            out.one(id, hub.nick(id).unwrap_or("*"), &Event::Service(reply));
        };
        match req {
            Request::Account(req) => {
                let who = Who::of(hub, id);
                let done = accounts::request(ctx, req, &who, hub, out);
                self.done(ctx, done, hub, out);
            }
            Request::Room(req) => hub.apply(id, Command::RoomService(req), ctx.clock, out),
            Request::Help(service) => tell(hub, out, ServiceReply::Help(service)),
            Request::Unknown(service, command) => {
                tell(hub, out, ServiceReply::UnknownCommand(service, command))
            }
            Request::Usage(Service::NickServ, form) => tell(
                hub,
                out,
                ServiceReply::AccountFail(AccountFail::Usage(form)),
            ),
            Request::Usage(Service::ChanServ, form) => {
                tell(hub, out, ServiceReply::RoomFail(RoomFail::Usage(form)))
            }
        }
    }

    /// Hands the next job off, or tells what came of the request.
    fn done(&mut self, ctx: &Ctx<'_>, done: Done, hub: &mut Hub, out: &mut impl Output) {
        match done {
            Done::Next(job, op) => {
                let tag = self.jobs.add(op);
                out.submit(ctx.id, tag, job);
            }
            done => accounts::tell(&done, ctx.id, hub.nick(ctx.id).unwrap_or("*"), out),
        }
    }

    /// The answer to a job this session handed off.
    pub fn answer(
        &mut self,
        ctx: &Ctx<'_>,
        tag: u32,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let Some(op) = self.jobs.take(tag) else {
            return;
        };
        let who = Who::of(hub, ctx.id);
        let done = accounts::answer(ctx, op, answer, &who, hub, out);
        self.done(ctx, done, hub, out);
    }
}
