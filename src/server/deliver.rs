//! The hub's sink and the front ends' output: each event encoded once per wire variant and
//! queued for every recipient.

use std::time::Instant;

use slab::Slab;

use super::link::{Flag, Link, SendqLimits, Serial};
use super::{mark_close, TimerKind, Timers};
use crate::event::Event;
use crate::front::{self, CloseReason, Framing, Output, Wire};
use crate::hub::{ClientId, Kept, RoomRef, Sink};
use crate::outbox::{Outbox, Span};

/// Delivers hub events and front-end output: encodes each event once per distinct [`Wire`]
/// among its recipients into the outbox and queues the span for each. A recipient that falls
/// too far behind is marked for closing.
pub struct Deliver<'a> {
    pub(super) links: &'a mut Slab<Link>,
    pub(super) outbox: &'a mut Outbox,
    pub(super) dirty: &'a mut Vec<ClientId>,
    pub(super) registry: &'a mio::Registry,
    pub(super) closing: &'a mut Vec<ClientId>,
    pub(super) timers: &'a mut Timers,
    pub(super) server_name: &'a str,
    pub(super) sendq: SendqLimits,
    pub(super) now: Instant,
    /// The pass's clock as Unix milliseconds: the time of events that carry none.
    pub(super) unix_ms: u64,
    /// The client whose output is held back (a labeled command), and what was held.
    pub(super) capture: Option<(ClientId, Vec<u8>)>,
    /// Whose command is being carried out: what it queues for others is counted in `work`.
    pub(super) actor: Option<ClientId>,
    pub(super) work: &'a mut u64,
    /// Where lines for a WebSocket wire are written before they are framed.
    pub(super) scratch: &'a mut Vec<u8>,
    pub(super) metrics: &'a mut super::metrics::Metrics,
    /// Jobs front ends handed off the loop this pass: (connection, serial, tag, job).
    pub(super) jobs: &'a mut Vec<(ClientId, Serial, u32, front::Job)>,
    /// What is kept of messages (to the store, into the recent window), and replays.
    pub(super) history: &'a mut super::history::History,
    /// The store, for what the hub and the front ends want kept.
    pub(super) store: &'a mut Option<crate::store::StoreHandle>,
    /// What front ends asked of the server this pass: (connection, serial, ask).
    pub(super) asks: &'a mut Vec<(ClientId, Serial, front::ServerAsk)>,
    /// On a network: what the hub told the other nodes this pass, sent at its end.
    pub(super) net: Option<&'a mut crate::network::NetOut>,
    /// Room events waiting to be queued together (see [`Run`]).
    pub(super) run: &'a mut Run,
    /// The file thread (FILEHOST), if uploads are stored.
    pub(super) disk: Option<&'a crate::filehost::Disk>,
    /// Connections to tell when their output has drained.
    pub(super) feeding: &'a mut Vec<ClientId>,
}

/// Consecutive events to the same recipients (a sender's burst of lines to one room), each
/// encoded for the one wire all of them share and lying back to back in the arena. The first
/// event was queued to every recipient at once; the later ones wait here as one span and are
/// queued when the run ends, one push per recipient for the whole run (the span merges with
/// the first event's), instead of one per recipient per event.
///
/// A run ends before anything else is queued, before a flush, before a capture, a change
/// of caps or a link's removal, so every recipient still gets everything in order.
#[derive(Default)]
pub struct Run {
    to: Vec<ClientId>,
    except: Option<ClientId>,
    actor: Option<ClientId>,
    /// The caps that decide the events' encoding (see `caps::relevant`).
    relevant: u32,
    wire: Option<Wire>,
    /// Everything encoded for the run so far (the first event's bytes included).
    encoded: Span,
    /// The later events' bytes, not queued yet.
    waiting: Span,
    /// Recipients the first event was queued to, the actor left out: what each later event
    /// adds to the work and the deliveries counted.
    counted: u64,
}

impl Run {
    /// The wire the next event shares with the run, if it goes to the same recipients and
    /// is encoded the same way for them.
    fn continues(
        &self,
        to: &[ClientId],
        except: Option<ClientId>,
        actor: Option<ClientId>,
        relevant: u32,
    ) -> Option<Wire> {
        let wire = self.wire?;
        (self.except == except && self.actor == actor && self.relevant == relevant && self.to == to)
            .then_some(wire)
    }
}

/// Encodings made for one event, by wire; an event seldom has more than a few variants.
struct Encodings {
    made: [(Wire, Span); 16],
    len: usize,
}

impl Encodings {
    fn new() -> Encodings {
        Encodings {
            made: [(Wire::NATIVE, Span::EMPTY); 16],
            len: 0,
        }
    }

    fn get(&self, wire: Wire) -> Option<Span> {
        self.made[..self.len]
            .iter()
            .find(|(w, _)| *w == wire)
            .map(|&(_, s)| s)
    }

    /// Remembers an encoding; past the table's size the oldest is forgotten (and would be
    /// made again: correct, only slower).
    fn put(&mut self, wire: Wire, span: Span) {
        if self.len == self.made.len() {
            self.made.rotate_left(1);
            self.len -= 1;
        }
        self.made[self.len] = (wire, span);
        self.len += 1;
    }
}

/// A pass that has encoded this much flushes before encoding more, so one pass's arena stays
/// bounded however much a pass's commands cause.
const ARENA_FLUSH: usize = 64 << 20;

impl Deliver<'_> {
    /// Encodes with `f` for `wire` into the arena: as written for a stream, framed one
    /// WebSocket message per line otherwise.
    fn encode_for(&mut self, wire: Wire, f: impl FnOnce(&mut Vec<u8>)) -> Span {
        if wire.framing == Framing::Stream {
            return self.outbox.encode(f);
        }
        self.scratch.clear();
        f(self.scratch);
        let lines = &*self.scratch;
        self.outbox
            .encode(|out| front::frame_lines(wire.framing, lines, out))
    }

    /// Queues bytes for `id` exactly as `f` writes them, not framed again (WebSocket control
    /// frames).
    pub(super) fn unframed(&mut self, id: ClientId, f: impl FnOnce(&mut Vec<u8>)) {
        self.make_room();
        let span = self.outbox.encode(f);
        self.queue(id, span);
    }

    /// Queues the waiting events of the open run, if any, to its recipients, and closes it.
    pub(super) fn end_run(&mut self) {
        let Some(wire) = self.run.wire.take() else {
            return;
        };
        let span = std::mem::replace(&mut self.run.waiting, Span::EMPTY);
        if span.is_empty() {
            return;
        }
        let to = std::mem::take(&mut self.run.to);
        for &id in &to {
            if Some(id) == self.run.except {
                continue;
            }
            if self
                .links
                .get(id)
                .is_some_and(|l| l.wire.for_event_caps(self.run.relevant) == wire)
            {
                self.push_to(id, span);
            }
        }
        self.run.to = to;
    }

    /// Flushes between events when the arena has grown past [`ARENA_FLUSH`] (never inside
    /// one event: its spans are shared by its recipients).
    fn make_room(&mut self) {
        if self.outbox.arena_len() > ARENA_FLUSH {
            self.end_run();
            super::output::flush_links(
                self.outbox,
                self.links,
                self.dirty,
                self.registry,
                self.closing,
                self.sendq,
                self.now,
            );
        }
    }

    /// Queues `span` for `link`, unless it is being dropped for falling behind; drops it when
    /// it falls too far behind.
    /// True if it was queued to a link and counted as a delivery.
    fn queue(&mut self, id: ClientId, span: Span) -> bool {
        if span.is_empty() {
            return false;
        }
        self.end_run();
        if let Some((held_for, held)) = &mut self.capture {
            if *held_for == id {
                // Held as lines: framed again, with the label, when released.
                let bytes = self.outbox.bytes(span);
                match self.links.get(id).map(|l| l.wire.framing) {
                    Some(Framing::WsText | Framing::WsBinary) => {
                        crate::proto::ws::unframe_lines(bytes, held)
                    }
                    _ => held.extend_from_slice(bytes),
                }
                return false;
            }
        }
        let counted = self.push_to(id, span) && self.actor != Some(id);
        if counted {
            *self.work += 1;
            self.metrics.deliveries += 1;
        }
        counted
    }

    /// Queues `span` for `id` unless it is gone or being dropped for falling behind; drops it
    /// when it falls too far behind. False if nothing was queued.
    fn push_to(&mut self, id: ClientId, span: Span) -> bool {
        let Some(link) = self.links.get_mut(id) else {
            return false;
        };
        if matches!(link.closing(), Some(CloseReason::SendqExceeded { .. })) {
            return false;
        }
        self.outbox.push(&mut link.out, id, span);
        if link.out.backlog() > 0 {
            if let Some(reason) = link.sendq_verdict(self.sendq, self.now) {
                mark_close(link, id, self.closing, reason);
            }
        }
        true
    }
}

impl Sink for Deliver<'_> {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        self.make_room();
        let Some(wire) = self.links.get(to).map(|l| l.wire) else {
            return;
        };
        let (srv, now) = (self.server_name, self.unix_ms);
        let span = self.encode_for(wire, |out| front::encode(wire, event, me, srv, now, out));
        self.queue(to, span);
    }

    fn relay(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        // Not part of a labeled answer: the capture is set aside for it.
        let held = self.capture.take_if(|(held_for, _)| *held_for == to);
        self.one(to, me, event);
        if held.is_some() {
            self.capture = held;
        }
    }

    fn echo(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        if self.wants_echo(to) {
            self.one(to, me, event);
        }
    }

    fn wants_echo(&self, to: ClientId) -> bool {
        self.links
            .get(to)
            .is_some_and(|l| l.wire.caps & crate::proto::irc::caps::ECHO_MESSAGE != 0)
    }

    fn network(&mut self, change: &crate::hub::Change<'_>) {
        if let Some(net) = self.net.as_deref_mut() {
            net.push(change);
        }
    }

    fn keep_room(&mut self, change: crate::hub::RoomRecordChange<'_>) {
        if let Some(net) = self.net.as_deref_mut() {
            net.registration(change.key());
        }
        let write = super::persist::room_write(&change);
        if let Some(store) = self.store.as_mut() {
            // A refusal (the queue is full) is counted and logged by the store's handle.
            let _ = store.write(write);
        }
    }

    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        self.make_room();
        let relevant = crate::proto::irc::caps::relevant(event);
        let (srv, now) = (self.server_name, self.unix_ms);
        let next = match self.capture {
            None => self.run.continues(to, except, self.actor, relevant),
            Some(_) => None,
        };
        let mut first = None;
        if let Some(wire) = next {
            let span = self.encode_for(wire, |out| front::encode(wire, event, "", srv, now, out));
            if self.run.encoded.is_followed_by(span) {
                // The run goes on: counted now (the flood limit charges the sender's line for
                // what it caused), queued when the run ends.
                self.run.encoded = self.run.encoded.joined(span);
                self.run.waiting = self.run.waiting.joined(span);
                *self.work += self.run.counted;
                self.metrics.deliveries += self.run.counted;
                return;
            }
            first = Some((wire, span));
        }
        self.end_run();
        let mut made = Encodings::new();
        if let Some((wire, span)) = first {
            made.put(wire, span);
        }
        // One wire among all recipients (and no capture) lets a run start with this event.
        let mut shared: Option<(Wire, Span)> = None;
        let mut one_wire = self.capture.is_none();
        let mut counted = 0;
        for &id in to {
            if Some(id) == except {
                continue;
            }
            let Some(wire) = self.links.get(id).map(|l| l.wire.for_event(event)) else {
                continue;
            };
            let span = match made.get(wire) {
                Some(span) => span,
                None => {
                    let span =
                        self.encode_for(wire, |out| front::encode(wire, event, "", srv, now, out));
                    made.put(wire, span);
                    span
                }
            };
            match shared {
                None => shared = Some((wire, span)),
                Some((w, _)) if w != wire => one_wire = false,
                Some(_) => {}
            }
            if self.queue(id, span) {
                counted += 1;
            }
        }
        if let (true, Some((wire, span))) = (one_wire, shared) {
            self.run.to.clear();
            self.run.to.extend_from_slice(to);
            self.run.except = except;
            self.run.actor = self.actor;
            self.run.relevant = relevant;
            self.run.wire = Some(wire);
            self.run.encoded = span;
            self.run.waiting = Span::EMPTY;
            self.run.counted = counted;
        }
    }

    fn heard_message(&mut self, message: &Kept<'_>) {
        self.history.heard(message);
    }

    fn keep_message(&mut self, message: &Kept<'_>) {
        self.history.keep(message, self.store.as_mut());
    }

    fn keeps_messages(&self) -> bool {
        self.history.keeps()
    }

    fn joined_room(&mut self, id: ClientId, me: &str, room: RoomRef<'_>) {
        let Some(link) = self.links.get(id) else {
            return;
        };
        let wire = link.wire;
        // Half of what the joiner may still have queued before it counts as slow, at most.
        let room_left = self.sendq.soft.saturating_sub(link.queued()) / 2;
        let budget = super::history::REPLAY_BYTES.min(room_left);
        let mut lines = Vec::new();
        self.history
            .replay(wire, room, me, self.server_name, budget, &mut lines);
        if !lines.is_empty() {
            self.make_room();
            let span = self.encode_for(wire, |out| out.extend_from_slice(&lines));
            self.queue(id, span);
        }
    }
}

impl Output for Deliver<'_> {
    fn raw(&mut self, to: ClientId, f: impl FnOnce(&mut Vec<u8>)) {
        self.make_room();
        let Some(wire) = self.links.get(to).map(|l| l.wire) else {
            return;
        };
        let span = self.encode_for(wire, f);
        self.queue(to, span);
    }

    fn file_data(&mut self, to: ClientId, transfer: u64, bytes: &[u8]) {
        self.make_room();
        self.metrics.file_bytes += bytes.len() as u64;
        let Some(wire) = self.links.get(to).map(|l| l.wire) else {
            return;
        };
        let span = self
            .outbox
            .encode(|out| front::encode_file_data(wire, transfer, bytes, out));
        self.queue(to, span);
    }

    fn queued(&self, id: ClientId) -> usize {
        self.links.get(id).map_or(0, Link::queued)
    }

    fn close(&mut self, id: ClientId, reason: CloseReason) {
        if let Some(link) = self.links.get_mut(id) {
            mark_close(link, id, self.closing, reason);
        }
    }

    fn set_caps(&mut self, id: ClientId, caps: u32) {
        self.end_run();
        if let Some(link) = self.links.get_mut(id) {
            link.wire.caps = caps;
        }
    }

    fn wake_at(&mut self, id: ClientId, at: Instant) {
        if let Some(link) = self.links.get(id) {
            self.timers.push(at, id, link.serial, TimerKind::Session);
        }
    }

    fn entered_hub(&mut self, id: ClientId) {
        if let Some(link) = self.links.get_mut(id) {
            link.set(Flag::InHub, true);
            self.metrics.registrations += 1;
        }
    }

    fn capture(&mut self, id: ClientId) {
        self.end_run();
        self.capture = Some((id, Vec::new()));
    }

    fn release(&mut self, id: ClientId, wrap: impl FnOnce(&[u8], &mut Vec<u8>)) {
        let held = match self.capture.take() {
            Some((held_for, held)) if held_for == id => held,
            other => {
                self.capture = other;
                return;
            }
        };
        self.make_room();
        let Some(wire) = self.links.get(id).map(|l| l.wire) else {
            return;
        };
        let span = self.encode_for(wire, |out| wrap(&held, out));
        self.queue(id, span);
    }

    fn ask_server(&mut self, id: ClientId, ask: front::ServerAsk) {
        if let Some(link) = self.links.get(id) {
            self.asks.push((id, link.serial, ask));
        }
    }

    fn submit(&mut self, id: ClientId, tag: u32, job: front::Job) {
        if let Some(link) = self.links.get(id) {
            self.jobs.push((id, link.serial, tag, job));
        }
    }

    fn history_window(
        &self,
        room_key: &str,
        n: usize,
    ) -> Option<Vec<crate::store::HistoryMessage>> {
        self.history.window_lines(room_key, n)
    }

    fn disk(&mut self, id: ClientId, job: crate::filehost::Job) -> bool {
        let (Some(disk), Some(link)) = (self.disk, self.links.get(id)) else {
            return false;
        };
        disk.send(Some((id, link.serial)), job).is_ok()
    }

    fn when_drained(&mut self, id: ClientId) {
        if !self.feeding.contains(&id) {
            self.feeding.push(id);
        }
    }

    fn store_write(&mut self, write: crate::store::Write) {
        if let Some(store) = self.store.as_mut() {
            let _ = store.write(write);
        }
    }
}
