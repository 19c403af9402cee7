//! Reading: bounded reads, framing, the flood limit, and handing pieces to the front end.

use super::*;
use crate::event::Fail;
use crate::front::{DataFrame, Flow};
use crate::proto::frame::{self, Framing, Piece};
use crate::transport::ReadOutcome;

impl Server {
    /// Reads until the socket is drained (`to_end`) or a short read says it is, within the
    /// connection's budget for this pass.
    pub(super) fn on_readable(&mut self, id: ClientId, to_end: bool) {
        let mut budget = config::READ_BUDGET;
        let mut scratch = std::mem::take(&mut self.scratch);
        // A connection whose command waits for the network is read again once it is answered.
        while !self.held(id) {
            if self.net_backlogged() {
                // The network's connection is behind: read again once it has caught up.
                self.net_paused.push(id);
                break;
            }
            let Some(link) = self.links.get_mut(id) else {
                break;
            };
            if link.is_closing() || link.has(Flag::Paused) || link.held().is_some() {
                break;
            }
            let wanted = budget;
            match link.transport.read(&mut scratch[..wanted]) {
                ReadOutcome::Data(n) => {
                    self.metrics.bytes_in += n as u64;
                    self.start_when_ready(id);
                    self.input(id, &mut scratch[..n]);
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
                ReadOutcome::WouldBlock => {
                    self.start_when_ready(id);
                    break;
                }
                ReadOutcome::NotTls => {
                    self.wrong_protocol(id, false);
                    break;
                }
                ReadOutcome::TlsOnPlain => {
                    self.wrong_protocol(id, true);
                    break;
                }
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
        self.push_tls(id);
    }

    /// A TLS connection whose handshake is done gets its front end.
    fn start_when_ready(&mut self, id: ClientId) {
        let Some(link) = self.links.get(id) else {
            return;
        };
        let waiting = self.sessions.get(id).is_some_and(Option::is_none);
        if waiting && !link.transport.is_handshaking() && !link.is_closing() {
            let proto = link.wire.proto;
            info!(
                "client {id}: TLS handshake done{}",
                if link.transport.certfp().is_some() {
                    ", with a client certificate"
                } else {
                    ""
                }
            );
            self.start_session(id, proto);
        }
    }

    /// Sends what a TLS read left to send (handshake records), and output that waited for
    /// the handshake; keeps write interest while some is left.
    fn push_tls(&mut self, id: ClientId) {
        let Some(link) = self.links.get_mut(id).filter(|l| l.transport.is_tls()) else {
            return;
        };
        let mut left = !matches!(link.transport.flush_pending(), Ok(true));
        if !left && link.out.backlog() > 0 && !link.transport.is_handshaking() {
            left = !matches!(
                Outbox::write_backlog(&mut link.out, &mut link.transport, &mut self.outbox.written),
                Ok(crate::outbox::Flushed::All)
            );
        }
        left |= link.transport.has_pending() || link.out.backlog() > 0;
        if left {
            super::output::set_write_interest(self.poll.registry(), link, id, true);
        }
    }

    /// The first bytes show the client speaks the other protocol: plain text on a TLS port
    /// gets one readable line (in its listener's protocol), a TLS handshake on a plain port a
    /// TLS alert; then the connection is closed.
    fn wrong_protocol(&mut self, id: ClientId, tls_on_plain: bool) {
        let srv = self.cfg.server_name.clone();
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        let reply = if tls_on_plain {
            crate::transport::TLS_REFUSAL_ALERT.to_vec()
        } else {
            let mut line = Vec::new();
            let wire = crate::front::Wire::of(link.wire.proto);
            crate::front::encode(
                wire,
                &Event::Fail(Fail::TlsRequired),
                "*",
                &srv,
                0,
                &mut line,
            );
            line
        };
        use std::io::Write as _;
        let _ = link.transport.socket().write(&reply);
        link.out.forget();
        let why = if tls_on_plain {
            "a TLS handshake on a plain port"
        } else {
            "plain text on a TLS port"
        };
        info!("client {id} ({}): {why}; closed", link.peer);
        self.close(id, CloseReason::Other(why));
    }

    /// Handles newly read bytes, after any left over from before.
    pub(super) fn input(&mut self, id: ClientId, data: &mut [u8]) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if link.input_len() == 0 {
            let used = self.process(id, data);
            if let Some(link) = self.links.get_mut(id) {
                link.extend_input(&data[used..]);
            }
        } else {
            let mut buf = link.take_input();
            buf.extend_from_slice(data);
            let used = self.process(id, &mut buf);
            buf.drain(..used);
            if let Some(link) = self.links.get_mut(id) {
                link.put_input(buf);
            }
        }
        self.arm_partial_timer(id);
        let recvq_limit = 4 * self.cfg.max_line.max(crate::proto::irc_msg::MAX_LINE_LEN);
        if let Some(link) = self.links.get_mut(id) {
            if link.has(Flag::Throttled) && link.input_len() > recvq_limit {
                mark_close(
                    link,
                    id,
                    &mut self.closing,
                    CloseReason::Other("excess flood"),
                );
            }
        }
    }

    /// A partial line with no more input coming: the tutorial's client ends lines this way.
    fn arm_partial_timer(&mut self, id: ClientId) {
        let takes_partial = self
            .sessions
            .get(id)
            .and_then(Option::as_ref)
            .is_some_and(Session::takes_partial_lines);
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if !takes_partial || link.framing() != Framing::Lines || link.input_len() == 0 {
            link.set_partial_deadline(None);
            return;
        }
        if link.partial_deadline().is_none() {
            let at = self.clock.mono + config::PARTIAL_LINE_GRACE;
            link.set_partial_deadline(Some(at));
            self.schedule(id, at, TimerKind::PartialLine);
        }
    }

    /// The partial-line timer fired: an unfinished line that sat this long is taken as whole.
    pub(super) fn partial_line_due(&mut self, id: ClientId, at: Instant) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if link.partial_deadline() != Some(at) {
            return;
        }
        link.set_partial_deadline(None);
        let ready = link.framing() == Framing::Lines
            && !link.has(Flag::Paused)
            && !link.has(Flag::Throttled)
            && link.held().is_none();
        let ready = ready && !(self.network.is_some() && self.hub.net_waiting(id));
        if !ready || link.input_len() == 0 {
            return;
        }
        if self.cfg.flood_limit {
            if let Err(retry) = link.flood.admit(self.clock.mono, link.input_len()) {
                link.set(Flag::Throttled, true);
                self.schedule(id, retry, TimerKind::Flood);
                return;
            }
        }
        let buf = link.take_input();
        // The framer leaves one byte of slack for a CR; without one, a partial line of
        // max-line + 1 bytes is over the limit.
        let text = buf.strip_suffix(b"\r").unwrap_or(&buf);
        if text.len() > self.cfg.max_line {
            self.with_session(id, |s, ctx, hub, out| s.too_long(ctx, hub, out));
        } else {
            self.hand_line(id, text);
        }
    }

    /// A flood-limited connection may send again: what waited is handled, then the socket is
    /// read (what waits there raised no new edge).
    pub(super) fn flood_over(&mut self, id: ClientId) {
        if let Some(link) = self.links.get_mut(id) {
            link.set(Flag::Throttled, false);
        }
        self.input(id, &mut []);
        if let Some(link) = self.links.get_mut(id) {
            if !link.has(Flag::Throttled) {
                link.set(Flag::WarnedFlood, false);
            }
        }
        self.carry.push(id);
    }

    /// Applies what the front end said about the stream after a piece.
    fn follow(&mut self, id: ClientId, flow: Option<Flow>) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        match flow {
            Some(Flow::Raw { len, frame }) => {
                link.set_framing(Framing::Raw { left: len });
                link.set_data(frame);
            }
            Some(Flow::Upgrade { proto, framing }) => {
                self.metrics.websocket_upgrades += 1;
                self.upgraded(id, proto, framing)
            }
            Some(Flow::Metrics {
                keep_alive,
                head_only,
            }) => self.serve_metrics(id, keep_alive, head_only),
            Some(Flow::Lines | Flow::Paused) | None => {}
        }
    }

    /// Consumes as much of `data` as can be handled now; returns how much. A connection's
    /// bytes are lines and data frames, WebSocket frames (after an upgrade), or a stream its
    /// front end reads itself (HTTP); a data frame inside any of them is raw bytes.
    fn process(&mut self, id: ClientId, data: &mut [u8]) -> usize {
        let mut pos = 0;
        loop {
            if self.held(id) {
                return pos;
            }
            let Some(link) = self.links.get(id).filter(|l| !l.is_closing()) else {
                return data.len();
            };
            let Some(session) = self.sessions.get(id).and_then(Option::as_ref) else {
                return data.len();
            };
            let in_frame = link.framing() != Framing::Lines;
            let step = if !in_frame && link.ws.is_some() {
                self.ws_step(id, &mut data[pos..])
            } else if !in_frame && session.reads_stream() {
                self.stream_step(id, &data[pos..])
            } else {
                self.line_step(id, &data[pos..])
            };
            match step {
                Some(used) => pos += used,
                None => return pos,
            }
        }
    }

    /// A front end that reads the stream itself (HTTP) takes what it can.
    fn stream_step(&mut self, id: ClientId, data: &[u8]) -> Option<usize> {
        let (used, flow) = self
            .with_session(id, |s, ctx, hub, out| s.stream(ctx, data, hub, out))
            .unwrap_or((data.len(), Flow::Lines));
        let progressed = used > 0 || flow != Flow::Lines;
        self.follow(id, Some(flow));
        self.hold_if_waiting(id);
        progressed.then_some(used)
    }

    /// Charges a line to the flood limit; false if it must wait (the client is told once per
    /// episode, and a timer takes it up again).
    pub(super) fn flood_admits(&mut self, id: ClientId, len: usize) -> bool {
        let Some(link) = self.links.get_mut(id) else {
            return false;
        };
        if link.has(Flag::Throttled) {
            return false;
        }
        let Err(at) = link.flood.admit(self.clock.mono, len) else {
            return true;
        };
        // Over the rate: the line waits ("fake lag"); reading goes on so a client that keeps
        // going is seen and dropped.
        link.set(Flag::Throttled, true);
        let first_time = !link.has(Flag::WarnedFlood);
        link.set(Flag::WarnedFlood, true);
        self.schedule(id, at, TimerKind::Flood);
        if first_time {
            let (hub, mut out) = self.deliver();
            let me = hub.nick(id).unwrap_or("*");
            out.one(id, me, &Event::Fail(Fail::Flood));
        }
        false
    }

    /// Hands one line to the front end and charges the flood limit for what it caused.
    pub(super) fn hand_line(&mut self, id: ClientId, line: &[u8]) {
        self.work = 0;
        self.metrics.lines_in += 1;
        let flow = self.with_session(id, |s, ctx, hub, out| s.line(ctx, line, hub, out));
        let (work, now) = (self.work, self.clock.mono);
        if self.cfg.flood_limit {
            if let Some(link) = self.links.get_mut(id) {
                link.flood.charge_work(now, work);
            }
        }
        // A line that leaves the stream as it was (the rule) needs no follow-up.
        if !matches!(flow, Some(Flow::Lines) | None) {
            self.follow(id, flow);
        }
        self.hold_if_waiting(id);
    }

    /// While the front end waits for an answer from off the loop, the connection's next
    /// lines wait too (and it is not read: the socket's buffer holds what comes). A timer
    /// makes sure a lost answer cannot hold it for ever.
    fn hold_if_waiting(&mut self, id: ClientId) {
        let waits = self
            .sessions
            .get(id)
            .and_then(Option::as_ref)
            .is_some_and(Session::waits);
        // Most lines leave nothing waiting: then the link is not looked up.
        if !waits {
            return;
        }
        let now = self.clock.mono;
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if link.held().is_none() {
            link.set_held(Some(now));
            self.schedule(id, now + config::HOLD_MAX, TimerKind::Held);
        }
    }

    /// The front end has its answers (or waited too long): what waited is handled, then the
    /// socket is read again.
    pub(super) fn release(&mut self, id: ClientId) {
        let waits = self
            .sessions
            .get(id)
            .and_then(Option::as_ref)
            .is_some_and(Session::waits);
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if link.held().is_none() || waits {
            return;
        }
        link.set_held(None);
        self.input(id, &mut []);
        self.carry.push(id);
    }

    /// The hold timer fired: a hold that began at `since` ends now whatever the front end
    /// waits for (its answer, if it comes, is still handled).
    pub(super) fn hold_over(&mut self, id: ClientId, at: Instant) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        if link
            .held()
            .is_some_and(|since| since + config::HOLD_MAX <= at)
        {
            warn!("client {id}: no answer from the store in time; its input goes on");
            link.set_held(None);
            self.input(id, &mut []);
            self.carry.push(id);
        }
    }

    /// One line, an over-long line or a piece of a data frame.
    fn line_step(&mut self, id: ClientId, data: &[u8]) -> Option<usize> {
        let link = self.links.get_mut(id)?;
        let session = self.sessions.get(id).and_then(Option::as_ref)?;
        // A held HTTP request's body waits too (its upload's account is being checked, or
        // the file thread is behind); a native data frame goes on (it is no command).
        if link.held().is_some() && (link.framing() == Framing::Lines || session.reads_stream()) {
            return None;
        }
        let limit = session.max_line(&self.cfg);
        let before = link.framing();
        let mut framing = before;
        let (piece, used) = frame::next_piece(&mut framing, data, limit);
        link.set_framing(framing);
        match piece {
            Some(Piece::Line(line)) => {
                let charged = self.cfg.flood_limit && !session.flood_exempt(line);
                if charged && !self.flood_admits(id, line.len()) {
                    if let Some(link) = self.links.get_mut(id) {
                        link.set_framing(before);
                    }
                    return None;
                }
                self.hand_line(id, line);
            }
            Some(Piece::TooLong) => {
                self.with_session(id, |s, ctx, hub, out| s.too_long(ctx, hub, out));
            }
            Some(Piece::Raw(bytes)) => {
                let frame: DataFrame = link.data();
                let flow =
                    self.with_session(id, |s, ctx, hub, out| s.raw(ctx, frame, bytes, hub, out));
                if flow == Some(Flow::Paused) {
                    // Taken back up where it stopped once the recipient catches up.
                    if let Some(link) = self.links.get_mut(id) {
                        link.set_framing(before);
                        link.set(Flag::Paused, true);
                        if link.paused_since().is_none() {
                            link.set_paused_since(Some(self.clock.mono));
                        }
                        self.paused.push(id);
                    }
                    return None;
                }
                if let Some(link) = self.links.get_mut(id) {
                    link.set_paused_since(None);
                }
                // An upload whose writes are behind holds its input (HTTP FILEHOST).
                self.hold_if_waiting(id);
            }
            None if used == 0 => return None,
            None => {}
        }
        Some(used)
    }
}
