//! Admission: accepting connections, the limits on who may connect, and refusing politely.

use super::*;
use crate::event::Fail;
use crate::front::{self, Wire};
use crate::limits::Refusal;
use crate::transport::Transport;

/// Connections taken from one listener per pass; the rest wait for the next pass, so a flood
/// of connections cannot starve the connections already in.
pub(super) const ACCEPT_BATCH: usize = 256;

impl Server {
    pub(super) fn accept(&mut self, index: usize) {
        if self.accept_retry.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            let Some(listener) = self.listeners.get(index).and_then(Option::as_ref) else {
                return;
            };
            let (proto, tls) = (listener.proto, listener.tls);
            match listener.socket.accept() {
                Ok((socket, addr)) => self.admit(socket, addr, proto, tls),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
                {
                    if self.refuse_with_spare_fd(index, proto) {
                        continue;
                    }
                    // Out of descriptors or memory: rest instead of spinning; pending
                    // connections wait in the backlog until something frees up.
                    warn!("accept: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                    self.accept_retry = Some(self.clock.mono + ACCEPT_BACKOFF);
                    return;
                }
                Err(e) => debug!("accept: {e}"),
            }
        }
        // The batch is used up and more may wait: come back next pass (the edge is spent).
        if !self.accept_pending.contains(&index) {
            self.accept_pending.push(index);
        }
    }

    /// The one line a refused connection gets, in its listener's protocol.
    fn refusal(&self, proto: Proto, why: Fail<'_>) -> Vec<u8> {
        let mut line = Vec::new();
        front::encode(
            Wire::of(proto),
            &Event::Fail(why),
            "*",
            &self.cfg.server_name,
            0,
            &mut line,
        );
        line
    }

    /// Out of descriptors: frees the spare one for long enough to accept one connection and
    /// tell it the server is full. Returns false if that did not work.
    fn refuse_with_spare_fd(&mut self, index: usize, proto: Proto) -> bool {
        if self.spare_fd.take().is_none() {
            return false;
        }
        let accepted = self
            .listeners
            .get(index)
            .and_then(Option::as_ref)
            .and_then(|l| l.socket.accept().ok());
        let took_one = accepted.is_some();
        if let Some((socket, addr)) = accepted {
            refuse(socket, &self.refusal(proto, Fail::ServerFull));
            warn!("refused {addr}: out of file descriptors");
        }
        self.spare_fd = std::fs::File::open("/dev/null").ok();
        took_one && self.spare_fd.is_some()
    }

    fn admit(
        &mut self,
        mut socket: mio::net::TcpStream,
        addr: SocketAddr,
        proto: Proto,
        tls: bool,
    ) {
        if self.links.len() >= self.max_clients {
            self.metrics.dropped(super::metrics::Drop::Full);
            refuse(socket, &self.refusal(proto, Fail::ServerFull));
            info!("refused {addr}: server full ({} clients)", self.links.len());
            return;
        }
        let counted = match self.addresses.admit(addr.ip(), self.clock.mono) {
            Ok(key) => key,
            Err(why) => {
                let (fail, drop) = match why {
                    Refusal::TooManyFromAddress => (
                        Fail::TooManyFromAddress,
                        super::metrics::Drop::TooManyFromAddress,
                    ),
                    Refusal::TooFast => (
                        Fail::ConnectingTooFast,
                        super::metrics::Drop::ConnectingTooFast,
                    ),
                };
                self.metrics.dropped(drop);
                refuse(socket, &self.refusal(proto, fail));
                info!("refused {addr}: {why:?}");
                return;
            }
        };
        if !cfg!(target_os = "linux") {
            use std::os::fd::AsRawFd;
            set_connection_options(socket.as_raw_fd());
        }
        let entry = self.links.vacant_entry();
        let id = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, Token(id), Interest::READABLE)
        {
            warn!("register {addr}: {e}");
            self.addresses.release(addr.ip(), counted);
            return;
        }
        self.next_serial = self.next_serial.wrapping_add(1);
        let transport = match (tls, &self.tls) {
            (false, _) => Transport::plain(socket),
            (true, Some(config)) => match Transport::tls(socket, config.clone()) {
                Ok(t) => t,
                Err(e) => {
                    warn!("TLS for {addr}: {e}");
                    self.addresses.release(addr.ip(), counted);
                    return;
                }
            },
            (true, None) => {
                self.addresses.release(addr.ip(), counted);
                return;
            }
        };
        let mut link = Link::new(
            transport,
            Wire::of(proto),
            addr.ip(),
            self.next_serial,
            self.clock.mono,
        );
        link.counted = counted;
        entry.insert(link);
        self.metrics.accepted(Listener::kind_of(proto, tls));
        info!(
            "connect {addr} ({}{}) as client {id}",
            proto.name(),
            if tls { " over TLS" } else { "" }
        );
        if self.sessions.len() <= id {
            self.sessions.resize_with(id + 1, || None);
        }
        if tls {
            // The front end starts once the handshake is done.
            let at = self.clock.mono + self.cfg.tls_handshake;
            self.schedule(id, at, TimerKind::Handshake);
        } else {
            self.start_session(id, proto);
        }
    }

    /// Starts a connection's front end: at accept, or once its TLS handshake is done.
    pub(super) fn start_session(&mut self, id: ClientId, proto: Proto) {
        let Some(link) = self.links.get(id) else {
            return;
        };
        let arrival = crate::front::Arrival {
            certfp: link.transport.certfp().map(Into::into),
        };
        let ctx = Ctx {
            id,
            clock: self.clock,
            peer: link.peer,
            secure: link.transport.is_tls(),
            cfg: &self.cfg,
            irc_tls_port: self.irc_tls_port,
        };
        let mut out = deliver_to!(self, Some(id));
        let session = Session::start(proto, &ctx, arrival, &mut self.hub, &mut out);
        if let Some(slot) = self.sessions.get_mut(id) {
            *slot = Some(session);
        }
    }
}

/// Raises the soft open-file limit to the hard one; returns the limit in force.
pub(super) fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    }
}

/// The options every connection gets. No Nagle: latency matters as much as throughput, and
/// writes are coalesced already. TCP keepalive finds peers that vanished without a word (power
/// loss, a dropped NAT mapping) even when nobody talks to them: probes after 2 minutes idle,
/// 4 tries 30 s apart. Set on a listener, Linux copies them to every accepted socket, which
/// saves five system calls per connection.
pub(super) fn set_connection_options(fd: std::os::fd::RawFd) {
    let options = [
        (libc::IPPROTO_TCP, libc::TCP_NODELAY, 1),
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 120),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 30),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4),
    ];
    for (level, name, value) in options {
        let value: libc::c_int = value;
        // SAFETY: a valid socket descriptor and a pointer to a c_int of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}
