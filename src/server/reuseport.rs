//! A listening socket that shares its port (`SO_REUSEPORT`): several nodes on one machine
//! serve one address, and the kernel spreads new connections over them. The standard library
//! binds before any option can be set, so the socket is made here, option first.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd};

/// A non-blocking listener on `addr` with `SO_REUSEADDR` and `SO_REUSEPORT` set.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket() takes no pointers; the descriptor it returns is owned by the listener
    // at once, so every early return below closes it.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: the option value is a c_int that lives through the call.
        let r = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let r = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sin is a valid sockaddr_in for the length given.
            unsafe {
                libc::bind(
                    listener.as_raw_fd(),
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            }
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sin6 is a valid sockaddr_in6 for the length given.
            unsafe {
                libc::bind(
                    listener.as_raw_fd(),
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            }
        }
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen() on our own bound socket.
    if unsafe { libc::listen(listener.as_raw_fd(), 1024) } < 0 {
        return Err(io::Error::last_os_error());
    }
    listener.set_nonblocking(true)?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_listeners_share_one_port() {
        let a = bind("127.0.0.1:0".parse().unwrap()).expect("first");
        let addr = a.local_addr().expect("bound");
        let b = bind(addr).expect("the same port again");
        assert_eq!(b.local_addr().expect("bound"), addr);
        // A plain bind of the same port is refused: the option is what lets them share.
        assert!(TcpListener::bind(addr).is_err());
        let c = bind("[::1]:0".parse().unwrap());
        if let Ok(c) = c {
            assert!(c.local_addr().expect("bound").is_ipv6());
        }
    }
}
