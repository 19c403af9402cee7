//! Writing: the end-of-pass flush and the writable readiness of slow readers.

use super::*;

impl Server {
    pub(super) fn on_writable(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.out.backlog() == 0 {
            return;
        }
        match Outbox::write_backlog(&mut conn.out, &mut conn.socket) {
            Ok(Flushed::All) => self.set_write_interest(id, false),
            Ok(Flushed::Blocked) => {}
            Err(e) => self.close(id, CloseReason::Error(e.to_string())),
        }
    }

    pub(super) fn set_write_interest(&mut self, id: ClientId, on: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.write_armed == on {
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
            .reregister(&mut conn.socket, Token(id), interest)
            .is_ok()
        {
            conn.write_armed = on;
        }
    }

    pub(super) fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        self.outbox.take_dirty(&mut dirty);
        for &id in &dirty {
            let Some(conn) = self.conns.get_mut(id) else {
                continue;
            };
            match self.outbox.write(&mut conn.out, &mut conn.socket) {
                Ok(Flushed::All) => {}
                Ok(Flushed::Blocked) => {
                    if conn.out.backlog() > self.cfg.max_sendq {
                        mark_close(conn, id, &mut self.closing, CloseReason::SendqExceeded);
                    } else {
                        self.set_write_interest(id, true);
                    }
                }
                Err(e) => mark_close(
                    conn,
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
