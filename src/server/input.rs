//! Reading: bounded reads, framing, flood limits, and handing lines to their protocol.

use super::*;

impl Server {
    /// Reads until the socket is drained (`to_end`) or a short read says it is, within the
    /// connection's budget for this pass.
    pub(super) fn on_readable(&mut self, id: ClientId, to_end: bool) {
        let mut budget = config::READ_BUDGET;
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(conn) = self.conns.get_mut(id) {
            if conn.closing.is_some() || conn.paused {
                break;
            }
            let wanted = budget;
            match read_some(&mut conn.socket, &mut scratch[..wanted]) {
                ReadOutcome::Data(n) => {
                    self.input(id, &scratch[..n]);
                    budget -= n;
                    if budget == 0 {
                        // Fair share used: the rest waits for the next pass.
                        self.carry.push(id);
                        break;
                    }
                    if !to_end && n < wanted {
                        // A short read drained the socket; new data raises a new edge.
                        break;
                    }
                }
                ReadOutcome::WouldBlock => break,
                ReadOutcome::Closed => {
                    // An unfinished line or frame dies with the connection: no trace in
                    // anyone's stream.
                    self.close(id, CloseReason::PeerClosed);
                    break;
                }
                ReadOutcome::Failed(e) => {
                    self.close(id, CloseReason::Error(e.to_string()));
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Handles newly read bytes, after any left over from before.
    pub(super) fn input(&mut self, id: ClientId, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.inbuf.is_empty() {
            let used = self.process(id, data);
            if let Some(conn) = self.conns.get_mut(id) {
                conn.inbuf.extend_from_slice(&data[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut conn.inbuf);
            buf.extend_from_slice(data);
            let used = self.process(id, &buf);
            buf.drain(..used);
            if let Some(conn) = self.conns.get_mut(id) {
                conn.inbuf = if buf.is_empty() { Vec::new() } else { buf };
            }
        }
        self.arm_partial_timer(id);
        let recvq_limit = 4 * self.cfg.max_line.max(crate::proto::irc_msg::MAX_LINE_LEN);
        if let Some(conn) = self.conns.get_mut(id) {
            if conn.throttled && conn.inbuf.len() > recvq_limit {
                mark_close(
                    conn,
                    id,
                    &mut self.closing,
                    CloseReason::Other("excess flood"),
                );
            }
        }
    }

    /// A partial line with no more input coming: the tutorial's client ends lines this way.
    pub(super) fn arm_partial_timer(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.proto != Proto::Native || conn.framing != Framing::Lines || conn.inbuf.is_empty() {
            conn.partial_deadline = None;
            return;
        }
        if conn.partial_deadline.is_none() {
            let at = Instant::now() + config::PARTIAL_LINE_GRACE;
            conn.partial_deadline = Some(at);
            self.schedule(id, at, TimerKind::PartialLine);
        }
    }

    /// Consumes as much of `data` as can be handled now; returns how much.
    pub(super) fn process(&mut self, id: ClientId, data: &[u8]) -> usize {
        let mut pos = 0;
        loop {
            let Some(conn) = self.conns.get_mut(id).filter(|c| c.closing.is_none()) else {
                return data.len();
            };
            let limit = match conn.proto {
                Proto::Native => self.cfg.max_line,
                Proto::Irc => crate::proto::irc_msg::MAX_LINE_LEN,
            };
            let before = conn.framing;
            let (piece, used) = frame::next_piece(&mut conn.framing, &data[pos..], limit);
            match piece {
                Some(Piece::Line(line))
                    if self.cfg.flood_limit && !is_data_header(conn.proto, line) =>
                {
                    if conn.throttled {
                        conn.framing = before;
                        return pos;
                    }
                    if let Err(at) = conn.flood.admit(Instant::now(), line.len()) {
                        // Over the rate: the line waits ("fake lag"); reading goes on so a
                        // client that keeps going is seen and dropped.
                        conn.framing = before;
                        conn.throttled = true;
                        let first_time = !conn.warned_flood;
                        conn.warned_flood = true;
                        self.schedule(id, at, TimerKind::Flood);
                        if first_time {
                            let (hub, mut out) = self.deliver();
                            let me = hub.nick(id).unwrap_or("*");
                            out.one(id, me, &Event::Fail(Fail::Flood));
                        }
                        return pos;
                    }
                    self.line(id, line);
                }
                Some(Piece::Line(line)) => self.line(id, line),
                Some(Piece::TooLong) => self.too_long(id),
                Some(Piece::Raw(bytes)) => {
                    let DataFrame { transfer, to } = conn.data;
                    if let Some(to) = to {
                        if self.forward(id, transfer, to, bytes).is_none() {
                            // Paused: take the frame back up where it stopped.
                            if let Some(conn) = self.conns.get_mut(id) {
                                conn.framing = before;
                            }
                            return pos;
                        }
                    }
                }
                None if used == 0 => return pos,
                None => {}
            }
            pos += used;
        }
    }

    pub(super) fn too_long(&mut self, id: ClientId) {
        let Some(conn) = self.conns.get(id) else {
            return;
        };
        match conn.proto {
            Proto::Native => {
                let max = self.cfg.max_line;
                let (hub, mut out) = self.deliver();
                let me = hub.nick(id).unwrap_or("*");
                out.one(id, me, &Event::Fail(Fail::LineTooLong(max)));
            }
            Proto::Irc => self.irc_line(id, None),
        }
    }

    /// Forwards file bytes to the recipient, or pauses the sender (None) while the recipient
    /// is behind.
    pub(super) fn forward(
        &mut self,
        id: ClientId,
        transfer: u64,
        to: ClientId,
        bytes: &[u8],
    ) -> Option<()> {
        let (hub, mut out) = self.deliver();
        if !hub.transfer_active(transfer) {
            return Some(()); // cancelled meanwhile: the bytes are skipped
        }
        if out.queued(to) > config::FILE_PAUSE_QUEUE {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.paused = true;
                self.paused.push(id);
            }
            return None;
        }
        out.raw(to, |buf| {
            line::encode_data_header(transfer, bytes.len(), buf);
            buf.extend_from_slice(bytes);
        });
        hub.data_forwarded(transfer, bytes.len() as u64, &mut out);
        Some(())
    }

    /// One complete line, without its `\n`.
    pub(super) fn line(&mut self, id: ClientId, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.conns.get(id).map(|c| c.proto) {
            Some(Proto::Native) => self.native_line(id, line),
            Some(Proto::Irc) => self.irc_line(id, Some(line)),
            None => {}
        }
    }

    pub(super) fn native_line(&mut self, id: ClientId, text: &[u8]) {
        let now = Instant::now();
        let parsed = line::parse(text);
        let (hub, mut out) = self.deliver();
        let me = hub.nick(id).unwrap_or("*");
        match parsed {
            Ok(Input::Empty) => {}
            Ok(Input::Command(cmd)) => hub.apply(id, cmd, now, &mut out),
            Ok(Input::Data { id: transfer, len }) => {
                let route = if len == 0 || len > config::MAX_FRAME as u64 {
                    out.one(
                        id,
                        me,
                        &Event::Fail(Fail::BadFrame("LEN must be 1 to 65536")),
                    );
                    None
                } else {
                    match hub.route_data(id, transfer, len, &mut out) {
                        Route::To(to) => Some(to),
                        Route::Refused(why) => {
                            let me = hub.nick(id).unwrap_or("*");
                            out.one(id, me, &Event::Fail(Fail::BadFrame(why)));
                            None
                        }
                    }
                };
                if len > 0 {
                    if let Some(conn) = self.conns.get_mut(id) {
                        conn.framing = Framing::Raw { left: len };
                        conn.data = DataFrame {
                            transfer,
                            to: route,
                        };
                    }
                }
            }
            Ok(Input::Quit(reason)) => {
                out.one(
                    id,
                    me,
                    &Event::Bye {
                        reason: reason.unwrap_or(""),
                    },
                );
                self.close(id, CloseReason::Quit(reason.map(Into::into)));
            }
            Err(fail) => out.one(id, me, &Event::Fail(fail)),
        }
    }

    /// One IRC line (None: it was too long).
    pub(super) fn irc_line(&mut self, id: ClientId, line: Option<&[u8]>) {
        let Some(mut session) = self.conns.get_mut(id).and_then(|c| c.irc.take()) else {
            return;
        };
        let now = Instant::now();
        let peer = self.conns[id].peer;
        let (cfg, hub, mut out) = self.parts();
        let action = session.handle(id, line, peer, now, cfg, hub, &mut out);
        self.irc_done(id, session, action);
    }

    /// An IRC connection's timer fired (registration deadline or ping check).
    pub(super) fn irc_timer(&mut self, id: ClientId, now: Instant) {
        let Some(mut session) = self.conns.get_mut(id).and_then(|c| c.irc.take()) else {
            return;
        };
        let (cfg, _, mut out) = self.parts();
        let action = session.on_timer(id, now, cfg, &mut out);
        self.irc_done(id, session, action);
    }

    pub(super) fn irc_done(
        &mut self,
        id: ClientId,
        mut session: Box<IrcSession>,
        action: IrcAction,
    ) {
        let wake = session.take_wake();
        if let Some(conn) = self.conns.get_mut(id) {
            conn.multi_prefix = session.multi_prefix();
            conn.irc = Some(session);
            match action {
                IrcAction::None => {}
                IrcAction::Registered => conn.in_hub = true,
                IrcAction::Close(reason) => mark_close(conn, id, &mut self.closing, reason),
            }
        }
        if let Some(at) = wake {
            self.schedule(id, at, TimerKind::Irc);
        }
    }
}

/// Data frame headers are not charged to the flood limit: files are paced by backpressure.
pub(super) fn is_data_header(proto: Proto, line: &[u8]) -> bool {
    proto == Proto::Native && line.starts_with(b"/data ")
}
