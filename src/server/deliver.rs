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

/// Encodes `event` in one protocol's words. `multi_prefix`: the recipient asked IRC member
/// listings to show every prefix.
fn encode(
    outbox: &mut Outbox,
    server_name: &str,
    proto: Proto,
    me: &str,
    multi_prefix: bool,
    event: &Event<'_>,
) -> Span {
    match proto {
        Proto::Native => outbox.encode(|out| line::encode(event, me, out)),
        Proto::Irc => {
            outbox.encode(|out| irc_codec::encode_for(event, me, server_name, multi_prefix, out))
        }
    }
}

impl Deliver<'_> {
    /// Queues `span` for `conn`, unless it is being dropped for falling behind; drops it when
    /// it falls too far behind.
    fn queue(&mut self, id: ClientId, span: Span) {
        if let Some(conn) = self.conns.get_mut(id) {
            queue_for(self.outbox, conn, id, span, self.closing, self.max_sendq);
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

fn queue_for(
    outbox: &mut Outbox,
    conn: &mut Conn,
    id: ClientId,
    span: Span,
    closing: &mut Vec<ClientId>,
    max_sendq: usize,
) {
    if conn.closing == Some(CloseReason::SendqExceeded) {
        return;
    }
    outbox.push(&mut conn.out, id, span);
    if conn.out.backlog() > max_sendq {
        mark_close(conn, id, closing, CloseReason::SendqExceeded);
    }
}

impl Sink for Deliver<'_> {
    fn one(&mut self, to: ClientId, me: &str, event: &Event<'_>) {
        let Some(conn) = self.conns.get_mut(to) else {
            return;
        };
        let span = encode(
            self.outbox,
            self.server_name,
            conn.proto,
            me,
            conn.multi_prefix,
            event,
        );
        queue_for(self.outbox, conn, to, span, self.closing, self.max_sendq);
    }

    fn many(&mut self, to: &[ClientId], except: Option<ClientId>, event: &Event<'_>) {
        // At most one encoding per protocol, made when the first recipient needs it.
        let (mut native, mut irc) = (None, None);
        for &id in to {
            if Some(id) == except {
                continue;
            }
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            let cached = match conn.proto {
                Proto::Native => &mut native,
                Proto::Irc => &mut irc,
            };
            let span = *cached.get_or_insert_with(|| {
                encode(self.outbox, self.server_name, conn.proto, "", false, event)
            });
            queue_for(self.outbox, conn, id, span, self.closing, self.max_sendq);
        }
    }
}
