//! Admission: accepting connections, the limits on who may connect, and refusing politely.

use super::*;

impl Server {
    pub(super) fn accept(&mut self, index: usize) {
        if self.accept_retry.is_some() {
            return;
        }
        loop {
            let Some((listener, proto)) = self.listeners.get(index) else {
                return;
            };
            let proto = *proto;
            match listener.accept() {
                Ok((socket, addr)) => self.admit(socket, addr, proto),
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
                    self.accept_retry = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
                Err(e) => debug!("accept: {e}"),
            }
        }
    }

    /// Out of descriptors: frees the spare one for long enough to accept one connection and
    /// tell it the server is full. Returns false if that did not work.
    pub(super) fn refuse_with_spare_fd(&mut self, index: usize, proto: Proto) -> bool {
        if self.spare_fd.take().is_none() {
            return false;
        }
        let accepted = self.listeners.get(index).and_then(|(l, _)| l.accept().ok());
        let took_one = accepted.is_some();
        if let Some((mut socket, addr)) = accepted {
            let _ = socket.write(refusal(proto, Refused::Full));
            warn!("refused {addr}: out of file descriptors");
        }
        self.spare_fd = std::fs::File::open("/dev/null").ok();
        took_one && self.spare_fd.is_some()
    }

    pub(super) fn admit(&mut self, mut socket: TcpStream, addr: SocketAddr, proto: Proto) {
        if self.conns.len() >= self.max_clients {
            let _ = socket.write(refusal(proto, Refused::Full));
            info!("refused {addr}: server full ({} clients)", self.conns.len());
            return;
        }
        if let Err(why) = self.addresses.admit(addr.ip(), Instant::now()) {
            let _ = socket.write(refusal(proto, Refused::Address(why)));
            info!("refused {addr}: {why:?}");
            return;
        }
        if !cfg!(target_os = "linux") {
            use std::os::fd::AsRawFd;
            set_connection_options(socket.as_raw_fd());
        }
        let entry = self.conns.vacant_entry();
        let id = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, Token(id), Interest::READABLE)
        {
            warn!("register {addr}: {e}");
            self.addresses.release(addr.ip());
            return;
        }
        self.next_serial += 1;
        let now = Instant::now();
        entry.insert(Conn::new(socket, proto, addr.ip(), self.next_serial, now));
        info!("connect {addr} ({proto:?}) as client {id}");
        match proto {
            Proto::Native => {
                let host = addr.ip().to_string();
                let (hub, mut out) = self.deliver();
                hub.connect_native(id, &host, &mut out);
                self.conns[id].in_hub = true;
            }
            Proto::Irc => {
                let now = Instant::now();
                // A short --irc-ping shortens the registration deadline too.
                let within = crate::irc::REGISTRATION_TIMEOUT.min(self.cfg.irc_ping);
                let session = IrcSession::new(now, within);
                self.conns[id].irc = Some(Box::new(session));
                self.schedule(id, now + within, TimerKind::Irc);
            }
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

enum Refused {
    Full,
    Address(Refusal),
}

/// The one line a refused connection gets before it is closed.
fn refusal(proto: Proto, why: Refused) -> &'static [u8] {
    match (proto, why) {
        (Proto::Native, Refused::Full) => b"! server-full try again later\n",
        (Proto::Native, Refused::Address(Refusal::TooManyFromAddress)) => {
            b"! too-many-connections from your address; close one and try again\n"
        }
        (Proto::Native, Refused::Address(Refusal::TooFast)) => {
            b"! too-fast you connect too often; try again in a minute\n"
        }
        (Proto::Irc, Refused::Full) => {
            b"ERROR :Closing link: the server is full, try again later\r\n"
        }
        (Proto::Irc, Refused::Address(Refusal::TooManyFromAddress)) => {
            b"ERROR :Closing link: too many connections from your address\r\n"
        }
        (Proto::Irc, Refused::Address(Refusal::TooFast)) => {
            b"ERROR :Closing link: you connect too often, try again in a minute\r\n"
        }
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
