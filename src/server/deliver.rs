//! The hub's sink: each event encoded once per protocol and queued for every recipient.

use super::*;

/// Delivers hub events: encodes each once per protocol into the outbox and queues the span
/// for every recipient. A recipient that falls too far behind is marked for closing.
pub struct Deliver<'a> {
    pub(super) conns: &'a mut Slab<Conn>,
    pub(super) outbox: &'a mut Outbox,
    pub(super) closing: &'a mut Vec<ClientId>,
    pub(super) server_name: &'a str,
    pub(super) max_sendq: usize,
}

impl Deliver<'_> {
    pub(super) fn queue(&mut self, id: ClientId, span: Span) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.closing == Some(CloseReason::SendqExceeded) {
            return;
        }
        self.outbox.push(&mut conn.out, id, span);
        if conn.out.backlog() > self.max_sendq {
            mark_close(conn, id, self.closing, CloseReason::SendqExceeded);
        }
    }

    pub(super) fn encode(&mut self, proto: Proto, me: &str, event: &Event<'_>) -> Span {
        let server_name = self.server_name;
        match proto {
            Proto::Native => self.outbox.encode(|out| line::encode(event, me, out)),
            Proto::Irc => self
                .outbox
                .encode(|out| irc_codec::encode(event, me, server_name, out)),
        }
    }

    /// Queues raw bytes for one connection (protocol-specific lines, file data).
    pub fn raw(&mut self, id: ClientId, f: impl FnOnce(&mut Vec<u8>)) {
        let span = self.outbox.encode(f);
        self.queue(id, span);
    }

    pub fn queued(&self, id: ClientId) -> usize {
        self.conns.get(id).map_or(0, |c| c.out.queued())
    }

    /// Marks another connection for closing at the end of the pass (an IRC operator's KILL).
    pub fn close(&mut self, id: ClientId, reason: CloseReason) {
        if let Some(conn) = self.conns.get_mut(id) {
            mark_close(conn, id, self.closing, reason);
        }
    }
}

impl Sink for Deliver<'_> {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let Some(proto) = self.conns.get(to).map(|c| c.proto) else {
            return;
        };
        let span = self.encode(proto, me, event);
        self.queue(to, span);
    }

    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        let (mut native, mut irc) = (None, None);
        for &id in to {
            if Some(id) == except {
                continue;
            }
            let Some(proto) = self.conns.get(id).map(|c| c.proto) else {
                continue;
            };
            let span = match proto {
                Proto::Native => {
                    *native.get_or_insert_with(|| self.encode(Proto::Native, "", event))
                }
                Proto::Irc => *irc.get_or_insert_with(|| self.encode(Proto::Irc, "", event)),
            };
            self.queue(id, span);
        }
    }
}
