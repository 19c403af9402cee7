//! What systemd offers a service, both optional: readiness notification (`Type=notify`: a
//! datagram to `$NOTIFY_SOCKET`) and socket activation (`LISTEN_FDS`: listening sockets
//! handed over, so a restart never refuses a connection: they wait in the kernel's backlog).

use std::net::SocketAddr;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixDatagram;

/// Tells systemd `state` (`READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=...`), if it
/// asked to be told. Errors are ignored: the service runs the same without a listener.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let sent = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
    if let Err(e) = sent {
        log::debug!("sd_notify to {path}: {e}");
    }
}

/// A listening socket systemd handed over, with the name the socket unit gave it
/// (`FileDescriptorName=`: a listener kind such as `irc` or `web-tls`), if any.
pub struct Inherited {
    pub listener: std::net::TcpListener,
    pub name: Option<String>,
    pub addr: SocketAddr,
}

/// The sockets handed to this process (`LISTEN_PID` is ours), taken once: the variables are
/// removed so nothing started later inherits them.
pub fn listen_fds() -> Vec<Inherited> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_string).collect())
        .unwrap_or_default();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    if !ours || count <= 0 {
        return Vec::new();
    }
    const FIRST: i32 = 3;
    let mut found = Vec::new();
    for (i, fd) in (FIRST..FIRST + count.min(1024)).enumerate() {
        // SAFETY: systemd passes these descriptors to us alone; each is owned from here on.
        let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        let Ok(addr) = listener.local_addr() else {
            log::warn!("socket activation: descriptor {fd} is not a TCP listener; ignored");
            continue;
        };
        let name = names
            .get(i)
            .filter(|n| !n.is_empty() && *n != "unknown")
            .cloned();
        found.push(Inherited {
            listener,
            name,
            addr,
        });
    }
    found
}
