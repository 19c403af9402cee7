//! The socket: a non-blocking connect, the handshake (`INFO`, then `CONNECT` and a `PING`
//! whose `PONG` says the server took the `CONNECT`), bounded reads parsed in place, one
//! output buffer written until the kernel takes no more, pings, and what happens when the
//! connection is lost.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use log::{debug, info, warn};
use mio::net::TcpStream;
use mio::{Interest, Registry};

use super::{Bus, BusEvent};
use crate::proto::nats::{self, Info, ServerOp};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No socket; the next attempt at `until`.
    Waiting { until: Instant },
    /// TCP connect under way.
    Connecting { deadline: Instant },
    /// Connected, waiting for `INFO` (then for the `PONG` after `CONNECT`).
    Handshake {
        deadline: Instant,
        connect_sent: bool,
    },
    Connected {
        since: Instant,
        pings_out: u32,
        next_ping: Instant,
    },
}

pub(super) struct Conn {
    sock: Option<TcpStream>,
    addr: Option<SocketAddr>,
    phase: Phase,
    inbuf: Vec<u8>,
    /// What each read lands in first (kept, so reads allocate nothing).
    scratch: Vec<u8>,
    pub(super) out: Vec<u8>,
    out_pos: usize,
    /// Input may be waiting unread (the read budget or the event queue stopped the reads).
    pub(super) carry: bool,
    pub(super) since_carry: Instant,
    limits: nats::Limits,
    pub(super) info: Option<Info>,
}

impl Conn {
    pub(super) fn new(now: Instant) -> Conn {
        Conn {
            sock: None,
            addr: None,
            phase: Phase::Waiting { until: now },
            inbuf: Vec::new(),
            scratch: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            carry: false,
            since_carry: now,
            limits: nats::Limits::default(),
            info: None,
        }
    }

    pub(super) fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected { .. })
    }

    pub(super) fn connected_at(&self) -> Instant {
        match self.phase {
            Phase::Connected { since, .. } => since,
            Phase::Waiting { until } => until,
            Phase::Connecting { deadline } | Phase::Handshake { deadline, .. } => deadline,
        }
    }

    /// Bytes in the output buffer not yet written.
    pub(super) fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// The server's `max_payload` (the default until its `INFO`).
    pub(super) fn max_payload(&self) -> usize {
        self.limits.max_payload
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        Some(match self.phase {
            Phase::Waiting { until } => until,
            Phase::Connecting { deadline } | Phase::Handshake { deadline, .. } => deadline,
            Phase::Connected { next_ping, .. } => next_ping,
        })
    }

    /// Writes until done or the kernel takes no more (the rest goes when the socket is
    /// writable again). An error is the connection's end.
    pub(super) fn write_out(&mut self) -> Result<(), String> {
        let Some(sock) = self.sock.as_mut() else {
            return Ok(());
        };
        if matches!(self.phase, Phase::Connecting { .. }) {
            return Ok(());
        }
        while self.out_pos < self.out.len() {
            match sock.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err("the server takes no more bytes".into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        } else if self.out_pos > 1 << 20 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Drops the socket; returns how many queued bytes went with it.
    fn drop_socket(&mut self, registry: &Registry) -> usize {
        if let Some(mut sock) = self.sock.take() {
            let _ = registry.deregister(&mut sock);
        }
        let lost = self.queued();
        self.out.clear();
        self.out_pos = 0;
        self.inbuf.clear();
        self.carry = false;
        lost
    }

    pub(super) fn close(&mut self, registry: &Registry) {
        if let Some(sock) = &self.sock {
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
        self.drop_socket(registry);
    }
}

impl Bus {
    /// Starts a connection attempt to the next server.
    pub(super) fn try_connect(&mut self, now: Instant) {
        let Some(addr) = self.pool.pick() else {
            return;
        };
        debug!("bus: connecting to {addr}");
        let mut sock = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return self.attempt_failed(now, format!("connect to {addr}: {e}")),
        };
        let _ = sock.set_nodelay(true);
        if let Err(e) = self.registry.register(
            &mut sock,
            self.token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.attempt_failed(now, format!("register {addr}: {e}"));
        }
        self.conn.sock = Some(sock);
        self.conn.addr = Some(addr);
        self.conn.limits = nats::Limits::default();
        self.conn.phase = Phase::Connecting {
            deadline: now + self.cfg.connect_timeout,
        };
    }

    /// An attempt that never got connected failed: wait, then the next server.
    fn attempt_failed(&mut self, now: Instant, reason: String) {
        self.conn.drop_socket(&self.registry);
        self.stats.failures += 1;
        let wait = self.pool.failed();
        if self.pool.failures() <= 3 || self.pool.failures().is_multiple_of(20) {
            info!(
                "bus: {reason}; retrying in {} ms (attempt {})",
                wait.as_millis(),
                self.pool.failures()
            );
        }
        self.conn.phase = Phase::Waiting { until: now + wait };
        self.conn.info = None;
    }

    /// The connection is gone (or must go): tell the loop, fail what was in flight, and
    /// come back after a short wait.
    pub(super) fn lost(&mut self, now: Instant, reason: String) {
        if !self.conn.is_connected() {
            return self.attempt_failed(now, reason);
        }
        let lost = self.conn.drop_socket(&self.registry);
        self.stats.lost_bytes += lost as u64;
        self.stats.failures += 1;
        warn!(
            "bus: lost the connection to {}: {reason}",
            self.conn
                .addr
                .map_or_else(|| "NATS".to_string(), |a| a.to_string())
        );
        // Not connected from here on, so nothing below writes to the dead connection.
        let wait = self.pool.failed();
        self.conn.phase = Phase::Waiting { until: now + wait };
        self.conn.info = None;
        self.requests_lost(now);
        self.watches_lost();
        self.push_event(BusEvent::Disconnected { reason });
    }

    pub(super) fn on_ready(&mut self, readable: bool, now: Instant) {
        if self.conn.sock.is_none() {
            return;
        }
        if let Phase::Connecting { .. } = self.conn.phase {
            let Some(sock) = self.conn.sock.as_ref() else {
                return;
            };
            match sock.take_error() {
                Ok(Some(e)) | Err(e) => {
                    let addr = self.conn.addr;
                    return self.attempt_failed(now, format!("connect to {addr:?}: {e}"));
                }
                Ok(None) => {}
            }
            match sock.peer_addr() {
                Ok(_) => {
                    self.conn.phase = Phase::Handshake {
                        deadline: now + self.cfg.connect_timeout,
                        connect_sent: false,
                    };
                }
                // Not yet: a spurious event.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    let addr = self.conn.addr;
                    return self.attempt_failed(now, format!("connect to {addr:?}: {e}"));
                }
            }
        }
        if readable || self.conn.carry {
            self.read(now);
        }
        self.flush(now);
    }

    fn read(&mut self, now: Instant) {
        self.conn.carry = false;
        let mut budget = self.cfg.read_budget;
        let mut chunk = std::mem::take(&mut self.conn.scratch);
        chunk.resize(READ_CHUNK, 0);
        self.read_with(&mut chunk, &mut budget, now);
        self.conn.scratch = chunk;
    }

    fn read_with(&mut self, chunk: &mut [u8], budget: &mut usize, now: Instant) {
        loop {
            if self.events.len() >= self.cfg.max_events || *budget == 0 {
                self.conn.carry = true;
                self.conn.since_carry = now;
                return;
            }
            let Some(sock) = self.conn.sock.as_mut() else {
                return;
            };
            let want = chunk.len().min(*budget);
            match sock.read(&mut chunk[..want]) {
                Ok(0) => return self.lost(now, "the server closed the connection".into()),
                Ok(n) => {
                    *budget = budget.saturating_sub(n);
                    self.conn.inbuf.extend_from_slice(&chunk[..n]);
                    if !self.parse_input(now) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.lost(now, format!("read: {e}")),
            }
        }
    }

    /// Handles every whole operation in the input buffer. False if the connection ended.
    fn parse_input(&mut self, now: Instant) -> bool {
        let input = std::mem::take(&mut self.conn.inbuf);
        let mut pos = 0;
        let alive = loop {
            match nats::parse(&input[pos..], &self.conn.limits) {
                Ok(None) => break true,
                Ok(Some((op, used))) => {
                    pos += used;
                    if !self.on_op(op, now) {
                        break false;
                    }
                }
                Err(e) => {
                    self.lost(now, format!("protocol error from the server: {e}"));
                    break false;
                }
            }
        };
        if alive && self.conn.sock.is_some() {
            let mut input = input;
            input.drain(..pos);
            self.conn.inbuf = input;
        }
        alive
    }

    /// False if the connection ended.
    fn on_op(&mut self, op: ServerOp<'_>, now: Instant) -> bool {
        match op {
            ServerOp::Info(info) => self.on_info(info, now),
            ServerOp::Ping => {
                nats::write_pong(&mut self.conn.out);
                true
            }
            ServerOp::Pong => {
                match self.conn.phase {
                    Phase::Handshake {
                        connect_sent: true, ..
                    } => self.on_connected(now),
                    Phase::Connected {
                        since, next_ping, ..
                    } => {
                        self.conn.phase = Phase::Connected {
                            since,
                            pings_out: 0,
                            next_ping,
                        }
                    }
                    _ => {}
                }
                true
            }
            ServerOp::Ok => true,
            ServerOp::Err(text) => {
                self.stats.server_errors += 1;
                warn!("bus: the NATS server says: {text}");
                // The server closes the connection after most errors; it is lost when it
                // does. A refused CONNECT ends the attempt now.
                if !self.conn.is_connected() {
                    self.lost(now, format!("refused: {text}"));
                    return false;
                }
                true
            }
            ServerOp::Msg(m) => {
                if self.conn.is_connected() {
                    self.on_message(m, now);
                }
                true
            }
        }
    }

    fn on_info(&mut self, info: Info, now: Instant) -> bool {
        self.conn.limits.max_payload = info.max_payload;
        self.pool.learn(&info.connect_urls);
        if info.lame_duck {
            info!(
                "bus: {} is shutting down (lame duck mode)",
                info.server_name
            );
        }
        if let Phase::Handshake {
            connect_sent: false,
            deadline,
        } = self.conn.phase
        {
            if !info.headers {
                self.lost(
                    now,
                    "the NATS server does not support headers (2.2 or later needed)".into(),
                );
                return false;
            }
            let connect = nats::Connect {
                verbose: false,
                pedantic: false,
                headers: true,
                no_responders: true,
                echo: false,
                name: &self.cfg.node,
                user: self.cfg.user.as_deref(),
                pass: self.cfg.pass.as_deref(),
                auth_token: self.cfg.token.as_deref(),
            };
            nats::write_connect(&mut self.conn.out, &connect);
            nats::write_ping(&mut self.conn.out);
            self.conn.phase = Phase::Handshake {
                deadline,
                connect_sent: true,
            };
        }
        self.conn.info = Some(info);
        true
    }

    fn on_connected(&mut self, now: Instant) {
        self.conn.phase = Phase::Connected {
            since: now,
            pings_out: 0,
            next_ping: now + self.cfg.ping_interval,
        };
        self.pool.connected();
        self.stats.connects += 1;
        let server = self
            .conn
            .addr
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        info!(
            "bus: connected to {server} ({})",
            self.conn
                .info
                .as_ref()
                .map_or("", |i| i.server_name.as_str())
        );
        self.resubscribe();
        let waiting = std::mem::take(&mut self.offline);
        self.conn.out.extend_from_slice(&waiting);
        self.send_waiting_requests(now);
        self.watches_connected(now);
        let reconnect = self.ever_connected;
        self.ever_connected = true;
        self.push_event(BusEvent::Connected { server, reconnect });
    }

    pub(super) fn conn_timers(&mut self, now: Instant) {
        match self.conn.phase {
            Phase::Waiting { until } if until <= now => self.try_connect(now),
            Phase::Connecting { deadline } | Phase::Handshake { deadline, .. }
                if deadline <= now =>
            {
                let addr = self.conn.addr;
                self.attempt_failed(now, format!("{addr:?}: no answer in time"));
            }
            Phase::Connected {
                since,
                pings_out,
                next_ping,
            } if next_ping <= now => {
                if pings_out >= self.cfg.max_pings_out {
                    self.lost(now, format!("{pings_out} pings unanswered"));
                    return;
                }
                nats::write_ping(&mut self.conn.out);
                self.conn.phase = Phase::Connected {
                    since,
                    pings_out: pings_out + 1,
                    next_ping: now + self.cfg.ping_interval,
                };
            }
            _ => {}
        }
    }
}
