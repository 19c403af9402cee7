//! Sockets and process limits: non-blocking connects from a chosen loopback source address,
//! one small enum for I/O outcomes, and the open-file limit.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::FromRawFd;

/// Raises the open-file soft limit to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur
    }
}

/// The most the kernel lets one TCP socket's send buffer hold on this machine: what it grows
/// to by itself (`tcp_wmem`, third field) or what a program may set (twice `wmem_max`).
/// 64 MiB where /proc cannot be read.
pub fn tcp_send_buffer_max() -> u64 {
    let read = |path: &str, field: usize| -> Option<u64> {
        std::fs::read_to_string(path)
            .ok()?
            .split_whitespace()
            .nth(field)?
            .parse()
            .ok()
    };
    match (
        read("/proc/sys/net/ipv4/tcp_wmem", 2),
        read("/proc/sys/net/core/wmem_max", 0),
    ) {
        (Some(auto), Some(set)) => auto.max(2 * set),
        _ => 64 << 20,
    }
}

/// The loopback source address for client number `i`. One (source, destination) pair has
/// about 28k ephemeral ports, so big runs spread over 127.0.0.1, .2, ...
pub fn source_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + ((i / 16_000) % 250) as u8)
}

/// Starts a non-blocking connect from `src` (any port) to `dst`. `rcvbuf` shrinks the kernel
/// receive buffer, so a client that never reads makes the server's queue for it grow quickly.
///
/// mio 1.x has no `TcpSocket`, so bind-before-connect goes through libc.
pub fn connect_from(
    src: Ipv4Addr,
    dst: SocketAddr,
    rcvbuf: Option<usize>,
) -> io::Result<mio::net::TcpStream> {
    let SocketAddr::V4(dst) = dst else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "IPv4 loopback only",
        ));
    };
    if !dst.ip().is_loopback() || !src.is_loopback() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "loopback only"));
    }
    // SAFETY: plain socket syscalls on a descriptor we own; on error it is closed before return.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fail = |fd: i32| {
            let e = io::Error::last_os_error();
            libc::close(fd);
            Err(e)
        };
        let one: libc::c_int = 1;
        let optlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // Choose the port at connect time, by the whole 4-tuple, not at bind time.
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const _ as *const _,
            optlen,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const _,
            optlen,
        );
        // Received data carries its arrival time (see `read_stamped`).
        let stamp: libc::c_int = SOF_RX;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            &stamp as *const _ as *const _,
            optlen,
        );
        if let Some(size) = rcvbuf {
            let size = size as libc::c_int;
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &size as *const _ as *const _,
                optlen,
            );
        }
        let sa = sockaddr(SocketAddrV4::new(src, 0));
        let salen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &sa as *const _ as *const libc::sockaddr, salen) != 0 {
            return fail(fd);
        }
        let da = sockaddr(dst);
        if libc::connect(fd, &da as *const _ as *const libc::sockaddr, salen) != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                libc::close(fd);
                return Err(e);
            }
        }
        Ok(mio::net::TcpStream::from_std(
            std::net::TcpStream::from_raw_fd(fd),
        ))
    }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// What one read or write attempt came to; callers never look at `io::ErrorKind`.
pub enum Io {
    /// Moved this many bytes (never 0).
    Done(usize),
    /// Nothing more to do until the next readiness event.
    Blocked,
    /// The peer closed the connection (or reset it).
    Closed,
}

/// Software receive timestamps, reported with each read (SOF_TIMESTAMPING_RX_SOFTWARE |
/// SOF_TIMESTAMPING_SOFTWARE).
const SOF_RX: libc::c_int = (1 << 3) | (1 << 4);

/// CLOCK_REALTIME in nanoseconds: the clock of the kernel's receive timestamps.
pub fn realtime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: fills the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Like [`read`], and also the time (CLOCK_REALTIME ns) the kernel queued the newest bytes
/// this read returned. On loopback that is the moment the server's write ran, so a latency
/// taken from it leaves out however long the generator took to get round to this socket.
/// None if the kernel gave no timestamp.
pub fn read_stamped(sock: &mut mio::net::TcpStream, buf: &mut [u8]) -> (Io, Option<u64>) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    // Room for one cmsghdr and three timespecs, 8-byte aligned.
    let mut control = [0u64; 16];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; every pointer in it refers to a live local buffer of
        // the length given; the CMSG_* walk stays within `control` as the kernel filled it.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control);
            let n = libc::recvmsg(fd, &mut msg, 0);
            if n == 0 {
                return (Io::Closed, None);
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => (Io::Blocked, None),
                    _ => (Io::Closed, None),
                };
            }
            let mut stamp = None;
            let mut cm = libc::CMSG_FIRSTHDR(&msg);
            while !cm.is_null() {
                if (*cm).cmsg_level == libc::SOL_SOCKET && (*cm).cmsg_type == libc::SO_TIMESTAMPING
                {
                    // struct scm_timestamping: ts[0] is the software timestamp.
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cm) as *const libc::timespec);
                    if ts.tv_sec > 0 {
                        stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                    }
                }
                cm = libc::CMSG_NXTHDR(&msg, cm);
            }
            return (Io::Done(n as usize), stamp);
        }
    }
}

pub fn write(sock: &mut mio::net::TcpStream, buf: &[u8]) -> Io {
    loop {
        match sock.write(buf) {
            Ok(0) => return Io::Closed,
            Ok(n) => return Io::Done(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A connect still in progress reports NotConnected on some paths: wait for it.
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::NotConnected =>
            {
                return Io::Blocked
            }
            Err(_) => return Io::Closed,
        }
    }
}
