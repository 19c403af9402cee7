//! A test harness for front ends: a hub and an [`Output`] that records, per connection, the
//! bytes its protocol would have sent, with no sockets and a clock the test moves.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::{
    encode, encode_file_data, CloseReason, Ctx, DataFrame, Flow, Output, Proto, Session, Wire,
};
use crate::clock::Clock;
use crate::config::Config;
use crate::event::Event;
use crate::hub::{ClientId, Hub, Sink};

/// One connection under test.
pub struct Conn {
    pub id: ClientId,
    pub session: Session,
}

pub struct Recorder {
    pub cfg: Config,
    pub hub: Hub,
    pub clock: Clock,
    pub out: Recording,
    next_id: ClientId,
}

/// What the front ends asked for, per connection.
#[derive(Default)]
pub struct Recording {
    pub server_name: String,
    pub wires: HashMap<ClientId, Wire>,
    pub bytes: HashMap<ClientId, Vec<u8>>,
    pub wakes: Vec<(ClientId, Instant)>,
    pub entered: Vec<ClientId>,
    pub closed: Vec<(ClientId, CloseReason)>,
    /// Jobs handed off the loop, waiting for the test to answer them.
    pub jobs: Vec<(ClientId, u32, super::Job)>,
    /// Writes for the store, and changes to registered rooms (as their Debug form).
    pub writes: Vec<crate::store::Write>,
    pub room_changes: Vec<String>,
    /// What front ends asked of the server.
    pub asks: Vec<(ClientId, super::ServerAsk)>,
    /// The client whose output is held back, and where its held bytes start.
    pub capture: Option<(ClientId, usize)>,
    /// The Unix time events are dated with.
    pub unix_ms: u64,
}

fn ctx(cfg: &Config, clock: Clock, id: ClientId) -> Ctx<'_> {
    Ctx {
        id,
        clock,
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        secure: false,
        cfg,
        irc_tls_port: None,
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::with(Config::default())
    }

    pub fn with(cfg: Config) -> Recorder {
        let hub = Hub::new(crate::front::hub_config(&cfg));
        let out = Recording {
            server_name: cfg.server_name.clone(),
            ..Recording::default()
        };
        Recorder {
            cfg,
            hub,
            clock: Clock::now(),
            out,
            next_id: 1,
        }
    }

    pub fn connect(&mut self, proto: Proto) -> Conn {
        let id = self.next_id;
        self.next_id += 1;
        self.out.wires.insert(id, Wire::of(proto));
        let ctx = ctx(&self.cfg, self.clock, id);
        let session = Session::start(
            proto,
            &ctx,
            super::Arrival::default(),
            &mut self.hub,
            &mut self.out,
        );
        Conn { id, session }
    }

    pub fn line(&mut self, conn: &mut Conn, line: &str) -> Flow {
        self.out.unix_ms = self.clock.unix_ms;
        let ctx = ctx(&self.cfg, self.clock, conn.id);
        conn.session
            .line(&ctx, line.as_bytes(), &mut self.hub, &mut self.out)
    }

    pub fn raw(&mut self, conn: &mut Conn, frame: DataFrame, bytes: &[u8]) -> Flow {
        let ctx = ctx(&self.cfg, self.clock, conn.id);
        conn.session
            .raw(&ctx, frame, bytes, &mut self.hub, &mut self.out)
    }

    /// Moves the clock on and fires the connection's timer if it asked for one by then.
    pub fn advance(&mut self, conn: &mut Conn, by: Duration) {
        self.clock = self.clock.after(by);
        let due = self
            .out
            .wakes
            .iter()
            .any(|&(id, at)| id == conn.id && at <= self.clock.mono);
        if due {
            self.out.wakes.retain(|&(id, _)| id != conn.id);
            let ctx = ctx(&self.cfg, self.clock, conn.id);
            conn.session.timer(&ctx, &mut self.hub, &mut self.out);
        }
    }

    /// Everything sent to `id` since the last take, as text.
    pub fn take(&mut self, id: ClientId) -> String {
        let bytes = self.out.bytes.remove(&id).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::ops::Deref for Recorder {
    type Target = Recording;
    fn deref(&self) -> &Recording {
        &self.out
    }
}

impl Recording {
    fn wire(&self, id: ClientId) -> Wire {
        self.wires.get(&id).copied().unwrap_or(Wire::NATIVE)
    }
}

impl Sink for Recording {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let wire = self.wire(to);
        let buf = self.bytes.entry(to).or_default();
        encode(wire, event, me, &self.server_name, self.unix_ms, buf);
    }

    fn relay(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        match self.capture {
            // Set aside, as the server does: written before what is held.
            Some((held_for, at)) if held_for == to => {
                let mut copy = Vec::new();
                encode(
                    self.wire(to),
                    event,
                    me,
                    &self.server_name,
                    self.unix_ms,
                    &mut copy,
                );
                let buf = self.bytes.entry(to).or_default();
                let at = at.min(buf.len());
                buf.splice(at..at, copy.iter().copied());
                self.capture = Some((held_for, at + copy.len()));
            }
            _ => self.one(to, me, event),
        }
    }

    fn echo(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        if self.wire(to).caps & crate::proto::irc::caps::ECHO_MESSAGE != 0 {
            self.one(to, me, event);
        }
    }

    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        for &id in to {
            if Some(id) != except {
                let wire = self.wire(id).for_event(event);
                let buf = self.bytes.entry(id).or_default();
                encode(wire, event, "", &self.server_name, self.unix_ms, buf);
            }
        }
    }

    fn keep_room(&mut self, change: crate::hub::RoomRecordChange<'_>) {
        self.room_changes.push(format!("{change:?}"));
    }
}

impl Output for Recording {
    fn raw(&mut self, to: ClientId, f: impl FnOnce(&mut Vec<u8>)) {
        f(self.bytes.entry(to).or_default());
    }

    fn file_data(&mut self, to: ClientId, transfer: u64, bytes: &[u8]) {
        let wire = self.wire(to);
        encode_file_data(wire, transfer, bytes, self.bytes.entry(to).or_default());
    }

    fn queued(&self, id: ClientId) -> usize {
        self.bytes.get(&id).map_or(0, Vec::len)
    }

    fn close(&mut self, id: ClientId, reason: CloseReason) {
        self.closed.push((id, reason));
    }

    fn set_caps(&mut self, id: ClientId, caps: u32) {
        let wire = self.wire(id);
        self.wires.insert(id, Wire { caps, ..wire });
    }

    fn wake_at(&mut self, id: ClientId, at: Instant) {
        self.wakes.push((id, at));
    }

    fn entered_hub(&mut self, id: ClientId) {
        self.entered.push(id);
    }

    fn capture(&mut self, id: ClientId) {
        let at = self.bytes.get(&id).map_or(0, Vec::len);
        self.capture = Some((id, at));
    }

    fn release(&mut self, id: ClientId, wrap: impl FnOnce(&[u8], &mut Vec<u8>)) {
        let Some((held_for, at)) = self.capture.take() else {
            return;
        };
        if held_for != id {
            self.capture = Some((held_for, at));
            return;
        }
        let buf = self.bytes.entry(id).or_default();
        let held = buf.split_off(at.min(buf.len()));
        wrap(&held, buf);
    }

    fn submit(&mut self, id: ClientId, tag: u32, job: super::Job) {
        self.jobs.push((id, tag, job));
    }

    fn store_write(&mut self, write: crate::store::Write) {
        self.writes.push(write);
    }

    fn ask_server(&mut self, id: ClientId, ask: super::ServerAsk) {
        self.asks.push((id, ask));
    }
}

impl Recorder {
    /// Answers the oldest job `conn` handed off, with what `answer` makes of it.
    #[allow(dead_code)] // used by the account tests
    pub fn answer_job(
        &mut self,
        conn: &mut Conn,
        answer: impl FnOnce(&super::Job) -> super::Answer,
    ) -> super::Job {
        let at = self
            .out
            .jobs
            .iter()
            .position(|(id, _, _)| *id == conn.id)
            .expect("a job to answer");
        let (_, tag, job) = self.out.jobs.remove(at);
        let reply = answer(&job);
        let ctx = ctx(&self.cfg, self.clock, conn.id);
        conn.session
            .answer(&ctx, tag, reply, &mut self.hub, &mut self.out);
        job
    }
}
