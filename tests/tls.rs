//! TLS on the native and IRC listeners, against real TLS clients: rustls, Python's `ssl`
//! module and `openssl s_client`. Certificates are made at test time (a CA and a leaf for
//! 127.0.0.1 and localhost, as a real chain), never committed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{signal, Daemon, WAIT};
use rustls::pki_types::{CertificateDer, ServerName};

/// A CA and a server certificate it signed, as PEM files in a fresh directory.
struct Certs {
    dir: PathBuf,
    ca_der: Vec<u8>,
}

impl Certs {
    fn new(tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("snak-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca = Self::issue(&dir, "ca", "leaf");
        Certs { dir, ca_der: ca }
    }

    /// Makes a CA and a leaf signed by it; writes `NAME.crt` (leaf then CA: a full chain) and
    /// `NAME.key`; returns the CA's DER.
    fn issue(dir: &Path, ca_name: &str, name: &str) -> Vec<u8> {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("snak test CA {ca_name}"));
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("leaf params");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf = params.signed_by(&key, &issuer).expect("leaf cert");
        let chain = format!("{}{}", leaf.pem(), ca.pem());
        std::fs::write(dir.join(format!("{name}.crt")), chain).expect("write cert");
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write key");
        std::fs::write(dir.join(format!("{ca_name}.pem")), ca.pem()).expect("write CA");
        ca.der().to_vec()
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn args(&self) -> Vec<String> {
        [
            "--tls-cert",
            &self.path("leaf.crt"),
            "--tls-key",
            &self.path("leaf.key"),
            "--tls-listen",
            "127.0.0.1:0",
            "--irc-tls-listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn start(&self, extra: &[&str]) -> Daemon {
        let mut args: Vec<String> = self.args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Daemon::start(&args)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking TLS client trusting one CA, reading lines with a timeout.
struct TlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

fn client_config(ca_der: &[u8], client_cert: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .expect("trust the test CA");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .expect("client cert")
                .collect::<Result<_, _>>()
                .expect("client cert pem");
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    };
    Arc::new(config)
}

impl TlsClient {
    fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsClient {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(WAIT)).ok();
        let name = ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(config, name).expect("client connection");
        TlsClient {
            tls: rustls::StreamOwned::new(conn, sock),
            buf: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        self.tls
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("send over TLS");
        self.tls.flush().expect("flush");
    }

    fn line(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                return text.trim_end_matches('\r').to_string();
            }
            assert!(Instant::now() < deadline, "no line over TLS in time");
            let mut chunk = [0u8; 16384];
            match self.tls.read(&mut chunk) {
                Ok(0) => panic!("TLS connection closed; had {:?}", self.buf),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("TLS read: {e}"),
            }
        }
    }

    fn line_starting(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line();
            if l.starts_with(prefix) {
                return l;
            }
        }
    }

    /// Connects and completes the handshake; the error says why it failed.
    fn try_connect(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<TlsClient, String> {
        let mut c = TlsClient::connect(addr, config);
        while c.tls.conn.is_handshaking() {
            c.tls
                .conn
                .complete_io(&mut c.tls.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(c)
    }

    /// The server certificate it was shown, as DER.
    fn server_cert(&self) -> Vec<u8> {
        self.tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .expect("a server certificate")
    }
}

/// A client that offers only the given suites (in that order), trusting the test CA.
fn client_config_offering(
    ca_der: &[u8],
    suites: Vec<rustls::SupportedCipherSuite>,
) -> Arc<rustls::ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = suites;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .expect("trust the test CA");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn irc_register(c: &mut TlsClient, nick: &str) {
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick} over TLS"));
    c.line_starting(&format!(":snak.localhost 001 {nick} "));
}

#[test]
fn native_and_irc_users_over_tls_chat_with_plain_users() {
    let certs = Certs::new("chat");
    let d = certs.start(&[]);
    let config = client_config(&certs.ca_der, None);
    let mut secure_native = TlsClient::connect(d.addr("native-tls"), config.clone());
    let hello = secure_native.line();
    assert!(
        hello.starts_with("* Hello, world! This is snak "),
        "{hello}"
    );
    secure_native.send("/nick tina");
    let renamed = secure_native.line_starting("* guest-");
    assert!(renamed.ends_with(" is now known as tina"), "{renamed}");
    let mut plain = d.named("paul");
    let mut secure_irc = TlsClient::connect(d.addr("irc-tls"), config);
    irc_register(&mut secure_irc, "ivy");
    secure_irc.send("JOIN #lobby");
    secure_irc.line_starting(":snak.localhost 366 ivy #lobby");
    plain.send("hello from plain text");
    assert_eq!(
        secure_native.line_starting("#lobby <paul>"),
        "#lobby <paul> hello from plain text"
    );
    assert_eq!(
        secure_irc.line_starting(":paul!"),
        ":paul!native@127.0.0.1 PRIVMSG #lobby :hello from plain text"
    );
    secure_irc.send("PRIVMSG #lobby :and back, encrypted");
    plain.expect_eventually("#lobby <ivy> and back, encrypted");
    secure_irc.send("WHOIS ivy");
    let whois = secure_irc.line_starting(":snak.localhost 671 ivy ivy ");
    assert_eq!(
        whois,
        ":snak.localhost 671 ivy ivy :is using a secure connection"
    );
}

#[test]
fn every_suite_carries_full_lines_both_ways_among_clients_of_different_suites() {
    // The server seals TLS 1.3 records itself (src/transport/record_keys.rs): each suite's
    // records must open in a real client, and the expanded key the loop keeps between records
    // must follow whichever connection it is writing to.
    use rustls::crypto::ring::cipher_suite as suite;
    let certs = Certs::new("suites");
    let d = certs.start(&[]);
    let offers = [
        (suite::TLS13_AES_256_GCM_SHA384, "aes256"),
        (suite::TLS13_AES_128_GCM_SHA256, "aes128"),
        (suite::TLS13_CHACHA20_POLY1305_SHA256, "chacha"),
        (suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "tls12"),
    ];
    let mut clients = Vec::new();
    for (offer, nick) in offers {
        let config = client_config_offering(&certs.ca_der, vec![offer]);
        let mut c = TlsClient::connect(d.addr("irc-tls"), config);
        irc_register(&mut c, nick);
        assert_eq!(
            c.tls.conn.negotiated_cipher_suite().map(|s| s.suite()),
            Some(offer.suite())
        );
        c.send("JOIN #suites");
        c.line_starting(&format!(":snak.localhost 366 {nick} #suites"));
        clients.push((c, nick));
    }
    // A client that offers them all gets its own first choice (rustls: AES-256-GCM).
    let mut any = TlsClient::connect(d.addr("irc-tls"), client_config(&certs.ca_der, None));
    irc_register(&mut any, "any");
    assert_eq!(
        any.tls.conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    let text = "x".repeat(400);
    for i in 0..clients.len() {
        let from = clients[i].1;
        clients[i]
            .0
            .send(&format!("PRIVMSG #suites :{from} {text}"));
        for (j, (c, _)) in clients.iter_mut().enumerate() {
            if j != i {
                let got = c.line_starting(&format!(":{from}!{from}@127.0.0.1 PRIVMSG "));
                assert_eq!(
                    got,
                    format!(":{from}!{from}@127.0.0.1 PRIVMSG #suites :{from} {text}")
                );
            }
        }
    }
}

#[test]
fn a_client_certificate_fingerprint_shows_in_whois() {
    let certs = Certs::new("clientcert");
    Certs::issue(&certs.dir, "clientca", "client");
    let d = certs.start(&[]);
    let (cert, key) = (certs.path("client.crt"), certs.path("client.key"));
    let config = client_config(&certs.ca_der, Some((&cert, &key)));
    let mut c = TlsClient::connect(d.addr("irc-tls"), config);
    irc_register(&mut c, "carla");
    c.send("WHOIS carla");
    let line = c.line_starting(":snak.localhost 276 carla carla ");
    use sha2::Digest;
    let pem = std::fs::read(&cert).expect("client cert");
    let der = rustls::pki_types::pem::PemObject::pem_slice_iter(&pem)
        .next()
        .map(|c: Result<CertificateDer<'static>, _>| c.expect("pem").to_vec())
        .expect("a certificate");
    let want: String = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        line,
        format!(":snak.localhost 276 carla carla :has client certificate fingerprint {want}")
    );
}

#[test]
fn python_ssl_and_openssl_s_client_connect_to_both_listeners() {
    let certs = Certs::new("clients");
    let d = certs.start(&[]);
    let ca = certs.path("ca.pem");
    let native = d.addr("native-tls");
    let irc = d.addr("irc-tls");
    // Python's ssl module, verifying the chain and the name.
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
host, native, irc = "127.0.0.1", int(sys.argv[2]), int(sys.argv[3])
with ctx.wrap_socket(socket.create_connection((host, native)), server_hostname="localhost") as s:
    s.settimeout(10)
    greeting = s.recv(4096).decode()
    assert greeting.startswith("* Hello, world! This is snak "), greeting
    print("native", s.version())
with ctx.wrap_socket(socket.create_connection((host, irc)), server_hostname="localhost") as s:
    s.settimeout(10)
    s.sendall(b"NICK py\r\nUSER py 0 * :Python\r\n")
    got = b""
    while b" 001 py " not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    print("irc", s.version(), s.cipher()[0])
"#;
    let out = Command::new("python3")
        .args(["-c", script, &ca])
        .arg(native.port().to_string())
        .arg(irc.port().to_string())
        .output()
        .expect("python3 must be installed for this test");
    assert!(
        out.status.success(),
        "python ssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("native TLSv1.3") && text.contains("irc TLSv1.3"),
        "{text}"
    );
    // The server's own TLS 1.3 records (src/transport/record_keys.rs) with OpenSSL's.
    assert!(
        text.contains("irc TLSv1.3 TLS_AES_256_GCM_SHA384"),
        "{text}"
    );

    // openssl s_client, as an operator checking a server by hand would.
    for (addr, send, want) in [
        (native, "/nick ossl\n", "* Hello, world! This is snak "),
        (
            irc,
            "NICK ossl2\r\nUSER o 0 * :o\r\n",
            ":snak.localhost 001 ossl2 ",
        ),
    ] {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-CAfile", &ca])
            .args(["-servername", "localhost", "-connect"])
            .arg(addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl must be installed for this test");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(send.as_bytes()).expect("write to s_client");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with(want) => break,
                Ok(line) => seen.push(line),
                Err(_) => panic!("s_client to {addr} never saw {want:?}; saw {seen:?}"),
            }
        }
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_connections_up() {
    let certs = Certs::new("reload");
    let d = certs.start(&[]);
    let config = client_config(&certs.ca_der, None);
    let mut before = TlsClient::connect(d.addr("irc-tls"), config);
    irc_register(&mut before, "early");
    let first_cert = before.server_cert();
    // A renewed certificate from another CA, under the same file names.
    let renewed_ca = Certs::issue(&certs.dir, "ca2", "leaf");
    signal(d.pid(), "-HUP");
    let config2 = client_config(&renewed_ca, None);
    let deadline = Instant::now() + WAIT;
    let second_cert = loop {
        // The reload happens in the loop's next pass; a new handshake shows which is in force.
        if let Ok(c) = TlsClient::try_connect(d.addr("irc-tls"), config2.clone()) {
            break c.server_cert();
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate never took effect"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(first_cert, second_cert);
    // The connection made before the reload is still up and talks.
    before.send("PING :still-here");
    assert_eq!(
        before.line_starting(":snak.localhost PONG"),
        ":snak.localhost PONG snak.localhost still-here"
    );
}

#[test]
fn a_bad_certificate_on_reload_keeps_the_old_one() {
    let certs = Certs::new("badreload");
    let d = certs.start(&["--irc-ping", "3600"]);
    let config = client_config(&certs.ca_der, None);
    std::fs::write(certs.dir.join("leaf.key"), "not a key").expect("break the key");
    signal(d.pid(), "-HUP");
    // Still serving the old certificate after the failed reload: a fresh handshake works.
    let mut c = TlsClient::connect(d.addr("irc-tls"), config);
    irc_register(&mut c, "steady");
}

#[test]
fn the_handshake_has_a_deadline_and_plain_text_on_a_tls_port_is_told() {
    let certs = Certs::new("deadline");
    let d = certs.start(&["--tls-handshake-secs", "1"]);
    // Connects and says nothing: closed once the deadline passes.
    let mut silent = TcpStream::connect(d.addr("irc-tls")).expect("connect");
    silent.set_read_timeout(Some(WAIT)).ok();
    let mut rest = Vec::new();
    // Closed (an end of stream, or a reset) rather than still open when the wait ran out.
    let end = silent.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        !end.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "not closed by the handshake deadline: {end:?}"
    );
    // Plain IRC on the TLS port gets one readable line, then the close.
    let mut plain = common::Client::connect(d.addr("irc-tls"));
    plain.send("NICK oops");
    assert_eq!(
        plain.expect_closed(),
        ["ERROR :Closing link: this port speaks TLS; connect with TLS, or to the plain port\r"]
    );
    let mut plain = common::Client::connect(d.addr("native-tls"));
    plain.send("hello?");
    assert_eq!(
        plain.expect_closed(),
        ["! tls-required this port speaks TLS; connect with TLS, or to the plain port"]
    );
    // Nobody else noticed.
    let mut c = d.named("bystander");
    c.send("/who");
    c.line_starting("= who #lobby");
}

#[test]
fn a_tls_client_on_a_plain_port_gets_an_alert_and_garbage_costs_nobody_anything() {
    let certs = Certs::new("wrongport");
    let d = certs.start(&[]);
    let mut bystander = d.named("bob");
    // A real TLS client on the plain native port: its handshake fails at once.
    let config = client_config(&certs.ca_der, None);
    let sock = TcpStream::connect(d.native).expect("connect");
    sock.set_read_timeout(Some(WAIT)).ok();
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
        .expect("client");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let err = tls
        .write_all(b"hi\n")
        .and_then(|_| tls.flush())
        .and_then(|_| {
            let mut b = [0u8; 16];
            tls.read(&mut b).map(|_| ())
        });
    let err = err.expect_err("a TLS handshake with a plain port must fail");
    assert!(
        err.to_string().contains("HandshakeFailure")
            || err.kind() == std::io::ErrorKind::InvalidData,
        "{err}"
    );
    // Garbage that starts like a TLS record, a handshake cut off halfway, and a close with no
    // close_notify after the handshake: each closes that connection only.
    let mut junk = TcpStream::connect(d.addr("native-tls")).expect("connect");
    junk.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff])
        .expect("write");
    junk.set_read_timeout(Some(WAIT)).ok();
    let mut rest = Vec::new();
    let _ = junk.read_to_end(&mut rest);
    let mut half = TcpStream::connect(d.addr("irc-tls")).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("write");
    drop(half);
    let config = client_config(&certs.ca_der, None);
    let mut abrupt = TlsClient::connect(d.addr("irc-tls"), config);
    irc_register(&mut abrupt, "abrupt");
    drop(abrupt);
    bystander.send("/who");
    bystander.line_starting("= who #lobby");
}

#[test]
fn a_tls_listener_without_a_certificate_or_with_a_wrong_key_does_not_start() {
    let certs = Certs::new("startup");
    Certs::issue(&certs.dir, "other", "other");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_snak"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--irc-listen",
                "127.0.0.1:0",
                "--no-web",
                "--data-dir",
                "none",
            ])
            .args(args)
            .output()
            .expect("run snak")
    };
    let out = run(&["--irc-tls-listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("a TLS listener needs --tls-cert FILE and --tls-key FILE"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (leaf, other_key) = (certs.path("leaf.crt"), certs.path("other.key"));
    let out = run(&[
        "--irc-tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        &leaf,
        "--tls-key",
        &other_key,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not fit"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// The value of `sts` in a CAP LS 302 reply, if it is offered.
fn sts_offered(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .flat_map(|l| l.rsplit(':').next().unwrap_or("").split(' '))
        .find_map(|cap| cap.strip_prefix("sts=").map(String::from))
}

fn cap_ls_plain(addr: SocketAddr) -> Vec<String> {
    let mut c = common::Client::connect(addr);
    c.send("CAP LS 302");
    let mut lines = Vec::new();
    loop {
        let l = c.line();
        let more = l.contains(" LS * ");
        lines.push(l);
        if !more {
            return lines;
        }
    }
}

#[test]
fn irc_clients_are_told_to_keep_to_tls_on_both_ports_unless_it_is_off() {
    let certs = Certs::new("sts");
    let d = certs.start(&[]);
    let tls_port = d.addr("irc-tls").port();
    let plain = sts_offered(&cap_ls_plain(d.addr("irc")));
    assert_eq!(
        plain.as_deref(),
        Some(format!("port={tls_port},duration=2592000").as_str())
    );
    let mut secure = TlsClient::connect(d.addr("irc-tls"), client_config(&certs.ca_der, None));
    secure.send("CAP LS 302");
    let mut lines = Vec::new();
    loop {
        let l = secure.line();
        let more = l.contains(" LS * ");
        lines.push(l);
        if !more {
            break;
        }
    }
    assert_eq!(sts_offered(&lines).as_deref(), Some("duration=2592000"));
    // It is never requested.
    secure.send("CAP REQ sts");
    assert_eq!(secure.line(), ":snak.localhost CAP * NAK sts");

    let off = certs.start(&["--sts-duration", "0"]);
    assert_eq!(sts_offered(&cap_ls_plain(off.addr("irc"))), None);
    // Without an IRC TLS listener there is nothing to point to.
    let none = common::Daemon::start(&[]);
    assert_eq!(sts_offered(&cap_ls_plain(none.addr("irc"))), None);
}
