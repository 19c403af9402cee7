//! Where an idle TLS connection's server memory goes: N full handshakes through snak's own
//! server side (`snak::transport::tls::Tls`), a line each way, then the connections held.
//! A counting allocator gives the bytes really live per connection (and their sizes); RSS
//! growth, glibc's `mallinfo2` and a `malloc_trim(0)` afterwards show what the heap keeps
//! beyond them. The clients are a child process (this example run with `--client`), so the
//! server process's heap holds the server side only.
//!
//! ```text
//! cargo run --release --example tls_memory -- [N] [BATCH] [SUITE]
//! ```
//! N connections (default 10 000), BATCH handshakes in flight (default 100, like
//! `examples/stress`), SUITE one of `aes256` (what rustls clients pick first), `aes128`,
//! `chacha`, `tls12` (ECDHE-ECDSA-AES256-GCM over TLS 1.2), `any`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use snak::transport::tls::Tls;
use snak::transport::ReadOutcome;

/// Live bytes asked for, and live allocations by size (16-byte classes up to 8 KiB).
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static LIVE_CHUNKS: AtomicIsize = AtomicIsize::new(0);
const CLASSES: usize = 513;
static BY_SIZE: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];

/// What glibc hands out for a request: the size plus 8, rounded up to 16, at least 32.
fn chunk(size: usize) -> usize {
    ((size + 8).div_ceil(16) * 16).max(32)
}

fn count(size: usize, sign: isize) {
    LIVE.fetch_add(sign * size as isize, Relaxed);
    LIVE_CHUNKS.fetch_add(sign * chunk(size) as isize, Relaxed);
    BY_SIZE[(size.div_ceil(16)).min(CLASSES - 1)].fetch_add(sign, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        count(layout.size(), -1);
        count(new, 1);
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--client") {
        return client(&args[1..]);
    }
    let n: usize = args
        .first()
        .map_or(Ok(10_000), |a| a.parse())
        .map_err(|e| format!("{e}"))?;
    let batch: usize = args
        .get(1)
        .map_or(Ok(100), |a| a.parse())
        .map_err(|e| format!("{e}"))?;
    let suite = args.get(2).cloned().unwrap_or_else(|| "aes256".into());
    raise_nofile();
    let config = server_config()?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args([
            "--client",
            &addr.to_string(),
            &n.to_string(),
            &batch.to_string(),
            &suite,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;

    let mut links: Vec<Link> = Vec::with_capacity(n);
    let mut buf = vec![0u8; 64 * 1024];
    let (rss0, live0, chunks0, sizes0, info0) = (
        rss(),
        LIVE.load(Relaxed),
        LIVE_CHUNKS.load(Relaxed),
        sizes(),
        mallinfo(),
    );
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            return Err(format!("only {done} of {n} connections done in 120 s"));
        }
        loop {
            match listener.accept() {
                Ok((sock, _)) => {
                    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
                    let tls = Tls::new(sock, config.clone())?;
                    links.push(Link {
                        tls,
                        answered: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        for link in links.iter_mut().filter(|l| !l.answered) {
            let _ = link.tls.flush_pending();
            match link.tls.read(&mut buf) {
                ReadOutcome::Data(k) if buf[..k].ends_with(b"\n") => {
                    let reply = b"welcome, you are registered\n";
                    let _ = link.tls.write_vectored(&[IoSlice::new(reply)]);
                    let _ = link.tls.flush_pending();
                    link.answered = true;
                    done += 1;
                }
                ReadOutcome::Data(_) | ReadOutcome::WouldBlock => {}
                other => return Err(format!("a connection failed: {other:?}")),
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let secs = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let (rss1, live1, chunks1, sizes1, info1) = (
        rss(),
        LIVE.load(Relaxed),
        LIVE_CHUNKS.load(Relaxed),
        sizes(),
        mallinfo(),
    );
    let pending = links.iter().filter(|l| l.tls.has_pending()).count();
    // SAFETY: malloc_trim only walks glibc's own heap.
    unsafe { libc::malloc_trim(0) };
    let (rss2, info2) = (rss(), mallinfo());
    let per = |a: i64, b: i64| (b - a) as f64 / n as f64;
    println!("{n} TLS connections ({suite}, {batch} handshakes in flight), all done in {secs:.2} s; {pending} with ciphertext waiting");
    println!(
        "  size_of Tls<TcpStream> (the Box a Transport holds): {} B",
        std::mem::size_of::<Tls<TcpStream>>()
    );
    println!(
        "  live heap per connection, asked for:        {:7.0} B",
        per(live0 as i64, live1 as i64)
    );
    println!(
        "  live heap per connection, glibc chunks:     {:7.0} B",
        per(chunks0 as i64, chunks1 as i64)
    );
    println!(
        "  malloc in use (mallinfo2 uordblks):         {:7.0} B",
        per(info0.0, info1.0)
    );
    println!(
        "  malloc free inside the heap (fordblks):     {:7.0} B",
        per(info0.1, info1.1)
    );
    println!(
        "  RSS growth per connection:                  {:7.0} B",
        per(rss0, rss1)
    );
    println!(
        "  RSS growth after malloc_trim(0):            {:7.0} B (free inside the heap now {:.0} B)",
        per(rss0, rss2),
        per(info0.1, info2.1)
    );
    println!("  live allocations per connection, by size asked (16-byte classes):");
    for (class, (a, b)) in sizes0.iter().zip(&sizes1).enumerate() {
        let each = (b - a) as f64 / n as f64;
        if each.abs() >= 0.05 {
            println!("    {:>5} B  x {each:.2}", class * 16);
        }
    }
    drop(links);
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}

struct Link {
    tls: Tls<TcpStream>,
    answered: bool,
}

fn sizes() -> Vec<isize> {
    BY_SIZE.iter().map(|c| c.load(Relaxed)).collect()
}

/// (in use, free inside the heap) in bytes, from glibc.
fn mallinfo() -> (i64, i64) {
    // SAFETY: mallinfo2 returns a plain struct.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks as i64 + m.hblkhd as i64, m.fordblks as i64)
}

fn rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn server_config() -> Result<Arc<rustls::ServerConfig>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .map_err(|e| e.to_string())?
        .self_signed(&key)
        .map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("snak-tls-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&k, key.serialize_pem()).map_err(|e| e.to_string())?;
    let config =
        snak::transport::tls::load_config(&c.display().to_string(), &k.display().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    config
}

/// The client side: N connections, BATCH handshakes in flight, one line each, then held until
/// the parent kills this process.
fn client(args: &[String]) -> Result<(), String> {
    let [addr, n, batch, suite] = args else {
        return Err("--client ADDR N BATCH SUITE".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
    let n: usize = n.parse().map_err(|e| format!("{e}"))?;
    let batch: usize = batch.parse().map_err(|e| format!("{e}"))?;
    raise_nofile();
    let mut p = provider::default_provider();
    use provider::cipher_suite as s;
    p.cipher_suites = match suite.as_str() {
        "aes256" => vec![s::TLS13_AES_256_GCM_SHA384],
        "aes128" => vec![s::TLS13_AES_128_GCM_SHA256],
        "chacha" => vec![s::TLS13_CHACHA20_POLY1305_SHA256],
        "tls12" => vec![s::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
        _ => p.cipher_suites,
    };
    let versions: &[&rustls::SupportedProtocolVersion] = if suite == "tls12" {
        &[&rustls::version::TLS12]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let provider = Arc::new(p);
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    let cfg = Arc::new(cfg);
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut held = Vec::with_capacity(n);
    let mut flight: Vec<(rustls::ClientConnection, TcpStream, bool)> = Vec::new();
    let mut started = 0;
    let mut buf = [0u8; 4096];
    while held.len() < n {
        while flight.len() < batch && started < n {
            let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
            sock.set_nonblocking(true).map_err(|e| e.to_string())?;
            let conn = rustls::ClientConnection::new(cfg.clone(), name.clone())
                .map_err(|e| e.to_string())?;
            flight.push((conn, sock, false));
            started += 1;
        }
        let mut i = 0;
        while i < flight.len() {
            let (conn, sock, sent) = &mut flight[i];
            let mut finished = false;
            while conn.wants_write() {
                if conn.write_tls(sock).is_err() {
                    break;
                }
            }
            match conn.read_tls(sock) {
                Ok(0) => return Err("the server closed a connection".into()),
                Ok(_) => conn
                    .process_new_packets()
                    .map_err(|e| e.to_string())
                    .map(|_| ())?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
            if !conn.is_handshaking() && !*sent {
                conn.writer()
                    .write_all(b"hello\n")
                    .map_err(|e| e.to_string())?;
                *sent = true;
            }
            if *sent {
                if let Ok(k) = conn.reader().read(&mut buf) {
                    finished = k > 0;
                }
            }
            while conn.wants_write() {
                if conn.write_tls(sock).is_err() {
                    break;
                }
            }
            if finished {
                held.push(flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    // Held until killed.
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
