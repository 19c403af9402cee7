//! Writing: the end-of-pass flush (and the mid-pass one when a pass has encoded a lot), and
//! the writable readiness of slow readers.

use slab::Slab;

use super::*;
use crate::outbox::{Flushed, Gather};

/// Sets or clears a link's write interest (only when it changes).
pub(super) fn set_write_interest(
    registry: &mio::Registry,
    link: &mut Link,
    id: ClientId,
    on: bool,
) {
    if link.has(Flag::WriteArmed) == on {
        return;
    }
    let interest = if on {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    if registry
        .reregister(link.transport.socket(), Token(id), interest)
        .is_ok()
    {
        link.set(Flag::WriteArmed, on);
    }
}

/// Writes every link with spans this pass with one vectored write each, keeps what the
/// sockets do not take, and forgets the pass's arena.
#[allow(clippy::too_many_arguments)]
pub(super) fn flush_links(
    outbox: &mut Outbox,
    links: &mut Slab<Link>,
    dirty: &mut Vec<ClientId>,
    registry: &mio::Registry,
    closing: &mut Vec<ClientId>,
    sendq: SendqLimits,
    now: Instant,
) {
    outbox.take_dirty(dirty);
    // One slice list for the pass's writes (allocated at the first, freed after the last).
    let mut gather = Gather::default();
    for &id in dirty.iter() {
        let Some(link) = links.get_mut(id) else {
            continue;
        };
        match outbox.write_gathered(&mut link.out, &mut link.transport, &mut gather) {
            Ok(Flushed::All) if !link.transport.has_pending() => link.caught_up(),
            Ok(_) => match link.sendq_verdict(sendq, now) {
                Some(reason) => mark_close(link, id, closing, reason),
                None => set_write_interest(registry, link, id, true),
            },
            Err(e) => mark_close(link, id, closing, CloseReason::Error(e.to_string())),
        }
    }
    dirty.clear();
    outbox.end_pass();
}

impl Server {
    pub(super) fn on_writable(&mut self, id: ClientId) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        let result = match link.transport.flush_pending() {
            Ok(true) if link.out.backlog() > 0 => {
                Outbox::write_backlog(&mut link.out, &mut link.transport, &mut self.outbox.written)
            }
            Ok(true) => Ok(Flushed::All),
            Ok(false) => Ok(Flushed::Blocked),
            Err(e) => Err(e),
        };
        match result {
            Ok(Flushed::All) if !link.transport.has_pending() => {
                link.caught_up();
                set_write_interest(self.poll.registry(), link, id, false)
            }
            Ok(_) => {
                if let Some(reason) = link.sendq_verdict(self.sendq, self.clock.mono) {
                    mark_close(link, id, &mut self.closing, reason);
                }
            }
            Err(e) => self.close(id, CloseReason::Error(e.to_string())),
        }
    }

    pub(super) fn flush(&mut self) {
        deliver_to!(self, None).end_run();
        flush_links(
            &mut self.outbox,
            &mut self.links,
            &mut self.dirty,
            self.poll.registry(),
            &mut self.closing,
            self.sendq,
            self.clock.mono,
        );
    }
}
