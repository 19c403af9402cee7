//! Writing: the end-of-pass flush and the writable readiness of slow readers.

use super::*;
use crate::outbox::Flushed;

impl Server {
    pub(super) fn on_writable(&mut self, id: ClientId) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        let result = match link.transport.flush_pending() {
            Ok(true) if link.out.backlog() > 0 => {
                Outbox::write_backlog(&mut link.out, &mut link.transport)
            }
            Ok(true) => Ok(Flushed::All),
            Ok(false) => Ok(Flushed::Blocked),
            Err(e) => Err(e),
        };
        match result {
            Ok(Flushed::All) if !link.transport.has_pending() => self.set_write_interest(id, false),
            Ok(_) => {}
            Err(e) => self.close(id, CloseReason::Error(e.to_string())),
        }
    }

    pub(super) fn set_write_interest(&mut self, id: ClientId, on: bool) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if link.write_armed == on {
            return;
        }
        let interest = if on {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if self
            .poll
            .registry()
            .reregister(link.transport.socket(), Token(id), interest)
            .is_ok()
        {
            link.write_armed = on;
        }
    }

    pub(super) fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        self.outbox.take_dirty(&mut dirty);
        for &id in &dirty {
            let Some(link) = self.links.get_mut(id) else {
                continue;
            };
            match self.outbox.write(&mut link.out, &mut link.transport) {
                Ok(Flushed::All) if !link.transport.has_pending() => {}
                Ok(_) => {
                    if link.out.backlog() > self.cfg.max_sendq {
                        mark_close(link, id, &mut self.closing, CloseReason::SendqExceeded);
                    } else {
                        self.set_write_interest(id, true);
                    }
                }
                Err(e) => mark_close(
                    link,
                    id,
                    &mut self.closing,
                    CloseReason::Error(e.to_string()),
                ),
            }
        }
        self.outbox.end_pass();
        self.dirty = dirty;
    }
}
