//! WebSockets under the front ends: the upgrade, frames in (one message is one protocol
//! line), control frames, the flood limit per message, and the keepalive.

use super::*;
use crate::front::{Framing, Wire};
use crate::proto::ws::{self, Opcode, Piece};
use link::WsLink;

/// A WebSocket silent this long is pinged; silent as long again after the ping, it is closed.
const WS_PING: Duration = Duration::from_secs(60);

impl Server {
    /// An HTTP connection became a WebSocket: its link takes the framing, and the front end
    /// of `proto` starts (a native user is greeted, an IRC client may register).
    pub(super) fn upgraded(&mut self, id: ClientId, proto: Proto, framing: Framing) {
        let max_message = self.cfg.max_line.max(crate::proto::irc_msg::MAX_LINE_LEN) as u64 + 2;
        let now = self.clock.mono;
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        link.ws = Some(Box::new(WsLink::new(max_message, now)));
        link.wire = Wire {
            proto,
            framing,
            caps: 0,
        };
        info!("client {id}: WebSocket for {}", proto.name());
        self.schedule(id, now + WS_PING, TimerKind::WsPing);
        self.start_session(id, proto);
    }

    /// Queues a control frame (or any bytes that must not be framed again) for `id`.
    fn queue_frame(&mut self, id: ClientId, opcode: Opcode, payload: &[u8]) {
        let mut out = deliver_to!(self, None);
        out.unframed(id, |b| ws::write_frame(b, opcode, payload));
    }

    /// One WebSocket step: a held message, or the next frame of `data`.
    pub(super) fn ws_step(&mut self, id: ClientId, data: &mut [u8]) -> Option<usize> {
        let flood = self.cfg.flood_limit;
        let link = self.links.get_mut(id)?;
        if link.held().is_some() {
            return None;
        }
        let ws = link.ws.as_mut()?;
        if let Some(held) = ws.held.take() {
            if flood && !self.flood_admits(id, held.len()) {
                self.links.get_mut(id)?.ws.as_mut()?.held = Some(held);
                return None;
            }
            self.hand_line(id, trim_line(&held));
            return Some(0);
        }
        if link.has(Flag::Throttled) {
            return None;
        }
        let ws = link.ws.as_mut()?;
        let (piece, used) = match ws.decoder.decode(data) {
            Ok(None) => return None,
            Ok(Some(decoded)) => decoded,
            Err(e) => {
                info!("client {id}: WebSocket: {e}");
                ws.close_sent = true;
                let mut out = deliver_to!(self, None);
                out.unframed(id, |b| e.write_close(b));
                self.close(id, CloseReason::Other("WebSocket protocol error"));
                return None;
            }
        };
        ws.last_input = self.clock.mono;
        ws.ping_out = false;
        match piece {
            Piece::Data { bytes, last, .. } => {
                let whole = last && ws.message.is_empty();
                if !whole {
                    ws.message.extend_from_slice(bytes);
                    if !last {
                        return Some(used);
                    }
                }
                // A message in one frame is handed on where it lies; fragments were gathered.
                let gathered = (!whole).then(|| std::mem::take(&mut ws.message));
                let line: &[u8] = gathered.as_deref().unwrap_or(bytes);
                if flood && !self.flood_admits(id, line.len()) {
                    let held = line.to_vec();
                    if let Some(ws) = self.links.get_mut(id).and_then(|l| l.ws.as_mut()) {
                        ws.held = Some(held);
                    }
                    return Some(used);
                }
                self.hand_line(id, trim_line(line));
            }
            Piece::Ping(payload) => {
                let payload = payload.to_vec();
                self.queue_frame(id, Opcode::Pong, &payload);
            }
            Piece::Pong(_) => {}
            Piece::Close { code, .. } => {
                ws.close_sent = true;
                let mut out = deliver_to!(self, None);
                let code = code.unwrap_or(ws::close::NORMAL);
                out.unframed(id, |b| ws::write_close(b, code, ""));
                self.close(id, CloseReason::PeerClosed);
                return None;
            }
        }
        Some(used)
    }

    /// The keepalive timer: ping a silent WebSocket, close one that did not answer.
    pub(super) fn ws_keepalive(&mut self, id: ClientId) {
        let now = self.clock.mono;
        let Some(ws) = self.links.get_mut(id).and_then(|l| l.ws.as_mut()) else {
            return;
        };
        let quiet_since = ws.last_input;
        if now < quiet_since + WS_PING {
            let at = quiet_since + WS_PING;
            self.schedule(id, at, TimerKind::WsPing);
        } else if ws.ping_out {
            info!("client {id}: WebSocket ping not answered");
            self.close(id, CloseReason::Other("WebSocket ping timeout"));
        } else {
            ws.ping_out = true;
            self.queue_frame(id, Opcode::Ping, b"snak");
            self.schedule(id, now + WS_PING, TimerKind::WsPing);
        }
    }
}

/// A message as a line: a trailing line ending (some clients send one) is not part of it.
fn trim_line(msg: &[u8]) -> &[u8] {
    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
    msg.strip_suffix(b"\r").unwrap_or(msg)
}
