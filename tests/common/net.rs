//! What a test needs to hold on any Linux whatever the kernel buffers: client sockets with
//! buffers of a size the test chose, the kernel's own buffer limits, and how many bytes sit
//! in the kernel's queues of one connection right now.
//!
//! A test that must fill a connection sets small buffers on its own end and derives its
//! volume from [`tcp_buffer_max`]; a test that must know what the server holds in its own
//! memory subtracts what [`queues`] says the kernel holds.

use std::io;
use std::mem::size_of;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, RawFd};

/// A connected socket with `SO_RCVBUF` and `SO_SNDBUF` set before connecting (so the window
/// offered to the peer is small from the first segment, and the kernel does not autotune
/// what was set).
pub fn connect_with_buffers(
    addr: SocketAddr,
    rcvbuf: Option<usize>,
    sndbuf: Option<usize>,
) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) has no memory arguments; the descriptor is owned by the TcpStream at
    // once, so it is closed on every path below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a socket this function just created and nobody else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if let Some(n) = rcvbuf {
        set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, n)?;
    }
    if let Some(n) = sndbuf {
        set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, n)?;
    }
    let rc = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: an all-zero sockaddr_in is valid; every field used is set below.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            // SAFETY: a pointer to a fully initialised sockaddr_in and its size.
            unsafe {
                libc::connect(
                    fd,
                    (&sa as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            // SAFETY: an all-zero sockaddr_in6 is valid; every field used is set below.
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            // SAFETY: a pointer to a fully initialised sockaddr_in6 and its size.
            unsafe {
                libc::connect(
                    fd,
                    (&sa as *const libc::sockaddr_in6).cast(),
                    size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stream)
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
    // SAFETY: a pointer to a c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The most a TCP socket's send or receive buffer can hold on this machine, whether the
/// kernel grows it by itself (`tcp_wmem`/`tcp_rmem`, third field) or a program sets it
/// (`wmem_max`/`rmem_max`, which the kernel doubles). Falls back to 64 MiB, more than any
/// usual setting, where /proc cannot be read.
pub fn tcp_buffer_max(send: bool) -> usize {
    let (auto, set) = if send {
        ("/proc/sys/net/ipv4/tcp_wmem", "/proc/sys/net/core/wmem_max")
    } else {
        ("/proc/sys/net/ipv4/tcp_rmem", "/proc/sys/net/core/rmem_max")
    };
    let read = |path: &str, field: usize| -> Option<usize> {
        std::fs::read_to_string(path)
            .ok()?
            .split_whitespace()
            .nth(field)?
            .parse()
            .ok()
    };
    match (read(auto, 2), read(set, 0)) {
        (Some(a), Some(s)) => a.max(2 * s),
        _ => 64 << 20,
    }
}

/// Bytes in the kernel's queues of one TCP connection, seen from its `local` end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queues {
    /// Written by the program and not yet acknowledged by the peer.
    pub unacked: u64,
    /// Received and not yet read by the program.
    pub unread: u64,
}

/// A snapshot of every TCP connection's queues on this machine (from /proc/net/tcp and
/// tcp6), so several ends are read at nearly the same moment.
pub struct Snapshot(Vec<(u16, u16, Queues)>);

impl Snapshot {
    /// None where /proc/net/tcp cannot be read (not Linux, or /proc not mounted).
    pub fn take() -> Option<Snapshot> {
        let mut rows = Vec::new();
        let mut any = false;
        for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            any = true;
            // sl local_address rem_address st tx_queue:rx_queue ...; ports in hex.
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (Some(local), Some(remote), Some(&"01"), Some(q)) =
                    (f.get(1), f.get(2), f.get(3), f.get(4))
                else {
                    continue; // not ESTABLISHED, or not a row
                };
                let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
                let (Some(lp), Some(rp)) = (port(local), port(remote)) else {
                    continue;
                };
                let Some((tx, rx)) = q.split_once(':') else {
                    continue;
                };
                let (Ok(tx), Ok(rx)) = (u64::from_str_radix(tx, 16), u64::from_str_radix(rx, 16))
                else {
                    continue;
                };
                rows.push((
                    lp,
                    rp,
                    Queues {
                        unacked: tx,
                        unread: rx,
                    },
                ));
            }
        }
        any.then_some(Snapshot(rows))
    }

    /// The queues of the connection from `local` to `remote` (matched by port: on loopback
    /// a pair of ports names one connection).
    pub fn of(&self, local: SocketAddr, remote: SocketAddr) -> Queues {
        self.0
            .iter()
            .find(|(lp, rp, _)| *lp == local.port() && *rp == remote.port())
            .map(|(_, _, q)| *q)
            .unwrap_or_default()
    }

    /// Both ends of the connection of `client`: everything the kernel holds for it, in
    /// either direction, on this machine.
    pub fn both_ends(&self, client: &TcpStream) -> (Queues, Queues) {
        let (Ok(mine), Ok(theirs)) = (client.local_addr(), client.peer_addr()) else {
            return Default::default();
        };
        (self.of(mine, theirs), self.of(theirs, mine))
    }
}
