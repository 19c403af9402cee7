//! Accounts and registered rooms against the real binary: native and IRC commands, NickServ
//! and ChanServ, SASL EXTERNAL over TLS with a client certificate, failed-login backoff, a
//! nick squatter renamed after its grace, what survives a restart (SIGTERM, then a start on
//! the same data directory), passwords kept out of the log, and the data directories snak
//! refuses to start on. SASL PLAIN and SCRAM-SHA-256 with a client library are in
//! tests/sasl_scramp.rs.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Daemon, WAIT};

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("snak-accounts-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IRC client on a plain connection: NICK and USER, up to the end of the welcome.
fn irc(d: &Daemon, nick: &str) -> Client {
    let mut c = Client::connect(d.irc.expect("irc listener"));
    c.nick = nick.to_string();
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :{nick}"));
    c.line_starting(&format!(":snak.localhost 001 {nick} "));
    c.line_starting(&format!(":snak.localhost 422 {nick} "));
    c
}

/// A native client named `nick`, out of `#lobby` so that others' comings and goings there
/// do not mix with what a test waits for.
fn native(d: &Daemon, nick: &str) -> Client {
    let mut c = d.named(nick);
    c.send("/part #lobby");
    c.expect(&format!("* {nick} left #lobby"));
    c.expect("= current none");
    c
}

/// A native client that registers its nick as an account.
fn registered(d: &Daemon, nick: &str, password: &str) -> Client {
    let mut c = native(d, nick);
    c.send(&format!("/register {password}"));
    c.expect(&format!("= registered {nick}"));
    c
}

#[test]
fn native_register_login_logout_password_and_drop() {
    let d = Daemon::start(&[]);
    let mut a = registered(&d, "alice", "sesame");
    a.send("/whois alice");
    let whois = a.expect_eventually("= end whois alice");
    assert!(
        whois.contains(&"= whois alice account alice".to_string()),
        "{whois:?}"
    );
    a.send("/logout");
    a.expect(
        "* alice is registered to the account alice: /login alice PASSWORD within 30 s, or you \
         will be renamed",
    );
    a.expect("= logout");
    a.send("/login alice millet");
    a.expect("! login-failed wrong account or password");
    a.send("/login sesame");
    a.expect("= login alice");
    a.send("/password sesame open-sesame");
    a.expect("= password changed");
    a.send("/logout");
    a.line_starting("= logout");
    a.send("/login alice sesame");
    a.expect("! login-failed wrong account or password");
    a.send("/login alice open-sesame");
    a.expect("= login alice");
    // Another native user sees the account in /whois too.
    let mut b = native(&d, "bob");
    b.send("/whois alice");
    let whois = b.expect_eventually("= end whois alice");
    assert!(
        whois.contains(&"= whois alice account alice".to_string()),
        "{whois:?}"
    );
    b.send("/login alice open-sesame");
    b.expect("= login alice");
    a.send("/drop sesame");
    a.expect("! login-failed wrong account or password");
    a.send("/drop open-sesame");
    a.expect("= dropped alice");
    // Everyone logged in to it is logged out; the name can be registered again.
    b.send("/whois bob");
    let whois = b.expect_eventually("= end whois bob");
    assert!(!whois.iter().any(|l| l.contains(" account ")), "{whois:?}");
    a.send("/login alice open-sesame");
    a.expect("! login-failed wrong account or password");
    a.send("/register again");
    a.expect("= registered alice");
}

#[test]
fn irc_nickserv_register_identify_and_whois_330() {
    let d = Daemon::start(&[]);
    let mut j = irc(&d, "jilles");
    j.send("PRIVMSG NickServ :REGISTER sesame");
    j.expect(
        ":NickServ!NickServ@services NOTICE jilles :Account jilles registered; you are now \
         logged in to it.",
    );
    j.expect(":snak.localhost 900 jilles jilles!jilles@127.0.0.1 jilles :You are now logged in as jilles");
    // A second connection logs in with NICKSERV IDENTIFY and is seen with account-notify.
    let mut w = irc(&d, "watcher");
    w.send("CAP REQ :account-notify extended-join");
    w.line_starting(":snak.localhost CAP watcher ACK");
    w.send("JOIN #r");
    w.line_starting(":snak.localhost 366 watcher #r ");
    let mut k = irc(&d, "jilles2");
    k.send("JOIN #r");
    k.line_starting(":snak.localhost 366 jilles2 #r ");
    w.line_starting(":jilles2!jilles2@127.0.0.1 JOIN #r * ");
    k.send("NS IDENTIFY jilles millet");
    k.expect(":NickServ!NickServ@services NOTICE jilles2 :Invalid account or password.");
    k.send("NICKSERV IDENTIFY jilles sesame");
    k.expect(":NickServ!NickServ@services NOTICE jilles2 :You are now logged in as jilles.");
    k.line_starting(":snak.localhost 900 jilles2 ");
    w.expect(":jilles2!jilles2@127.0.0.1 ACCOUNT jilles");
    w.send("WHOIS jilles2");
    let whois = w.expect_eventually(":snak.localhost 318 watcher jilles2 :End of /WHOIS list");
    assert!(
        whois.contains(&":snak.localhost 330 watcher jilles2 jilles :is logged in as".to_string()),
        "{whois:?}"
    );
    k.send("PRIVMSG NickServ :INFO");
    let info = k.line_starting(
        ":NickServ!NickServ@services NOTICE jilles2 :Account jilles, registered at ",
    );
    assert!(info.ends_with("Z."), "{info}");
    // draft/account-registration, before the connection is registered.
    let mut r = Client::connect(d.irc.unwrap());
    r.send("CAP LS 302");
    let ls = r.line_starting(":snak.localhost CAP * LS ");
    assert!(
        ls.contains(" draft/account-registration=before-connect "),
        "{ls}"
    );
    assert!(ls.contains(" sasl=PLAIN,SCRAM-SHA-256 "), "{ls}");
    r.send("NICK early");
    r.send("REGISTER * * pw-early");
    r.expect(":snak.localhost REGISTER SUCCESS early :Account created; you are logged in to it");
    r.expect(":snak.localhost 900 early early!*@127.0.0.1 early :You are now logged in as early");
    r.send("USER e 0 * :E");
    r.send("CAP END");
    r.line_starting(":snak.localhost 001 early ");
    r.send("WHOIS early");
    let whois = r.expect_eventually(":snak.localhost 318 early early :End of /WHOIS list");
    assert!(
        whois.iter().any(|l| l.contains(" 330 early early early ")),
        "{whois:?}"
    );
}

#[test]
fn failed_logins_are_held_back_per_account_and_per_address() {
    let d = Daemon::start(&[]);
    registered(&d, "alice", "sesame");
    let mut m = native(&d, "mallory");
    // Three free tries, then each must wait: the fifth attempt is refused without a check.
    for _ in 0..4 {
        m.send("/login alice guess");
        m.expect("! login-failed wrong account or password");
    }
    m.send("/login alice sesame");
    m.expect("! too-many-failures too many failed logins; try again in 1 s");
    // The same account over IRC SASL is held back too.
    let mut i = Client::connect(d.irc.unwrap());
    i.send("CAP REQ sasl");
    i.line_starting(":snak.localhost CAP * ACK");
    i.send("AUTHENTICATE PLAIN");
    i.expect("AUTHENTICATE +");
    i.send("AUTHENTICATE AGFsaWNlAHNlc2FtZQ=="); // \0alice\0sesame
    let refused = i.line_starting(":snak.localhost 904 ");
    assert!(refused.contains("too many failed logins"), "{refused}");
    // Once the wait is over, the right password works and the count starts afresh.
    let until = Instant::now() + WAIT;
    loop {
        m.send("/login alice sesame");
        let got = m.line();
        if got == "= login alice" {
            break;
        }
        assert!(got.starts_with("! too-many-failures"), "{got}");
        assert!(Instant::now() < until, "still held back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// argon2id's working memory at snak's default parameters (m=19456 KiB), which docs/OPERATIONS.md
/// states as what password checks cost: one hashing thread x one such block, held only while
/// checks are waiting, given back before the last answer goes out.
const ARGON2_BLOCK_KIB: u64 = 19456;

/// A fresh native client (a guest) that logs in to `account` and waits for the answer.
fn login(d: &Daemon, account: &str, password: &str) -> Client {
    let mut c = d.client();
    c.send(&format!("/login {account} {password}"));
    c.expect_eventually(&format!("= login {account}"));
    c
}

#[test]
fn password_checks_give_their_memory_back() {
    let d = Daemon::start(&[]);
    let _alice = registered(&d, "alice", "sesame");
    // The registration hashed once already: what an idle snak holds with no block mapped.
    let idle = common::rss_kib(d.pid());
    // Without the memory given back, glibc kept about one block per check for the first six.
    for n in 1..=6 {
        let _c = login(&d, "alice", "sesame");
        let rss = common::rss_kib(d.pid());
        assert!(
            rss < idle + ARGON2_BLOCK_KIB / 2,
            "after {n} logins: VmRSS {rss} KiB, idle was {idle} KiB"
        );
    }
    // A burst: every check queued at once maps the one thread's block once, and the last
    // answer comes after it was given back.
    let mut burst: Vec<Client> = (0..10).map(|_| d.client()).collect();
    for c in &mut burst {
        c.send("/login alice sesame");
    }
    for c in &mut burst {
        c.expect_eventually("= login alice");
    }
    let rss = common::rss_kib(d.pid());
    assert!(
        rss < idle + ARGON2_BLOCK_KIB / 2,
        "after a burst of 10: VmRSS {rss} KiB, idle was {idle} KiB"
    );
    // The peak: one hashing thread, one block (plus half a block for everything else).
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).expect("status");
    let hwm: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    assert!(
        hwm < idle + ARGON2_BLOCK_KIB * 3 / 2,
        "peak VmHWM {hwm} KiB, idle was {idle} KiB"
    );
}
#[test]
fn a_nick_squatter_is_renamed_after_the_grace() {
    let d = Daemon::start(&["--nick-grace", "1"]);
    let mut a = registered(&d, "alice", "sesame");
    a.send("/nick al");
    a.expect("* alice is now known as al");
    let mut s = native(&d, "squat");
    s.send("/nick alice");
    s.expect("* squat is now known as alice");
    s.expect(
        "* alice is registered to the account alice: /login alice PASSWORD within 1 s, or you \
         will be renamed",
    );
    // Renamed by the server once the second has passed.
    s.expect("* alice belongs to an account: you were not logged in to it in time");
    let renamed = s.line();
    assert!(
        renamed.starts_with("* alice is now known as guest-"),
        "{renamed}"
    );
    a.send("/nick alice");
    a.expect("* al is now known as alice");
}

#[test]
fn the_owner_takes_its_nick_back_with_ghost_or_by_logging_in() {
    let d = Daemon::start(&[]);
    let mut a = registered(&d, "alice", "sesame");
    a.send("/nick al");
    a.expect("* alice is now known as al");
    // An IRC squatter: GHOST renames it.
    let mut i = irc(&d, "alice");
    i.expect(":NickServ!NickServ@services NOTICE alice :alice is registered to the account alice.");
    i.line_starting(":NickServ!NickServ@services NOTICE alice :Log in with ");
    a.send("/ghost alice");
    a.expect("= ghost alice");
    i.expect(":NickServ!NickServ@services NOTICE alice :alice was taken back by al (GHOST).");
    let nick = i.line();
    assert!(
        nick.starts_with(":alice!alice@127.0.0.1 NICK guest-"),
        "{nick}"
    );
    // A native squatter: the owner logging in on another connection takes it back.
    a.send("/logout");
    a.expect("= logout");
    let mut s = native(&d, "squat");
    s.send("/nick alice");
    s.expect("* squat is now known as alice");
    s.line_starting("* alice is registered to the account alice");
    let mut o = native(&d, "owner");
    o.send("/login alice sesame");
    o.expect("= login alice");
    s.expect("* alice belongs to an account: the owner logged in");
    assert!(s.line().starts_with("* alice is now known as guest-"));
    o.send("/nick alice");
    o.expect("* owner is now known as alice");
}

#[test]
fn restart_keeps_accounts_and_registered_rooms() {
    let data = TempDir::new("restart");
    let dir = data.arg("data");
    let args = ["--data-dir", dir.as_str()];
    {
        let mut d = Daemon::start(&args);
        let mut a = registered(&d, "alice", "sesame");
        let _b = registered(&d, "bob", "hunter22");
        a.send("/join #kept");
        a.expect("* alice joined #kept");
        a.send("/topic #kept it stays");
        a.expect("* alice set the topic of #kept to: it stays");
        a.send("/mode #kept +mk door");
        a.expect("* alice sets mode +mk door on #kept");
        a.send("/ban eve #kept");
        a.expect("* alice sets mode +b eve!*@* on #kept");
        a.send("/register #kept");
        a.expect("= registered #kept founder alice");
        a.send("/access #kept +o bob");
        a.expect("= access #kept +o bob");
        a.send("/join #plain");
        a.expect("* alice joined #plain");
        assert!(d.terminate().success());
    }
    let d = Daemon::start(&args);
    // The first to join is no operator for it: carol is on no list.
    let mut c = native(&d, "carol");
    c.send("/join #kept");
    c.expect("! bad-key #kept");
    c.send("/join #kept door");
    c.expect("* carol joined #kept");
    c.send("/mode");
    c.expect("= modes #kept +mntk door");
    c.send("/topic");
    c.expect("= topic #kept it stays");
    c.send("/bans");
    let ban = c.line();
    assert!(
        ban.starts_with("= bans #kept eve!*@* alice!native@127.0.0.1 "),
        "{ban}"
    );
    c.expect("= end bans #kept");
    c.send("/who");
    c.expect("= who #kept carol");
    c.line_starting("= end who #kept");
    // The founder logs in over IRC and joins past the key: ChanServ gives it ops.
    let mut a = Client::connect(d.irc.unwrap());
    a.send("CAP REQ sasl");
    a.line_starting(":snak.localhost CAP * ACK");
    a.send("AUTHENTICATE PLAIN");
    a.expect("AUTHENTICATE +");
    a.send("AUTHENTICATE AGFsaWNlAHNlc2FtZQ=="); // \0alice\0sesame
    a.line_starting(":snak.localhost 900 ");
    a.line_starting(":snak.localhost 903 ");
    a.send("NICK alice");
    a.send("USER a 0 * :A");
    a.send("CAP END");
    a.line_starting(":snak.localhost 001 alice ");
    a.send("JOIN #kept");
    a.line_starting(":alice!a@127.0.0.1 JOIN #kept");
    a.expect(":ChanServ!ChanServ@services MODE #kept +o alice");
    c.expect("* alice joined #kept");
    c.expect("* ChanServ sets mode +o alice on #kept");
    // bob is on the ops list.
    let mut b = d.named("bob");
    b.line_starting("* bob is registered to the account bob: ");
    b.send("/login hunter22");
    b.expect("= login bob");
    b.send("/join #kept");
    b.expect("* bob joined #kept");
    b.expect("* ChanServ sets mode +o bob on #kept");
    b.send("/info #kept");
    b.expect("= info #kept founder alice");
    b.line_starting("= info #kept registered ");
    b.expect("= info #kept ops bob");
    b.expect("= info #kept voices");
    b.expect("= end info #kept");
    // An unregistered room is gone, as before.
    b.send("/info #plain");
    b.expect("! not-registered #plain is not a registered room");
}

/// Starts snak with its log (everything, at trace level) in `log`; returns it and its IRC
/// and native addresses once it is ready.
fn start_logged(args: &[&str], log: &Path) -> (std::process::Child, SocketAddr, SocketAddr) {
    let file = std::fs::File::create(log).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_snak"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--irc-listen",
            "127.0.0.1:0",
            "--web-listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(file)
        .spawn()
        .expect("start snak");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let (mut native, mut irc) = (None, None);
    loop {
        let mut line = String::new();
        use std::io::BufRead;
        assert!(out.read_line(&mut line).expect("stdout") > 0, "snak exited");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["listening", "native", a] => native = a.parse().ok(),
            ["listening", "irc", a] => irc = a.parse().ok(),
            ["ready"] => break,
            _ => {}
        }
    }
    (child, native.expect("native"), irc.expect("irc"))
}

#[test]
fn passwords_never_reach_the_log() {
    let tmp = TempDir::new("log");
    let log = tmp.path("snak.log");
    let data = tmp.arg("data");
    let (mut child, native, irc_addr) = start_logged(&["--data-dir", &data], &log);
    let secret = "Tr0ub4dor-and-3";
    let mut a = Client::connect(native);
    a.line();
    a.send("/nick alice");
    a.line();
    a.send(&format!("/register {secret} alice@example.org"));
    a.expect("= registered alice");
    a.send(&format!("/login alice {secret}x"));
    a.expect("! login-failed wrong account or password");
    a.send(&format!("/password {secret} {secret}2"));
    a.expect("= password changed");
    let mut i = Client::connect(irc_addr);
    i.send("CAP REQ sasl");
    i.line_starting(":snak.localhost CAP * ACK");
    i.send("AUTHENTICATE PLAIN");
    i.expect("AUTHENTICATE +");
    let blob = format!("\0alice\0{secret}2");
    let b64 = base64_encode(blob.as_bytes());
    i.send(&format!("AUTHENTICATE {b64}"));
    i.line_starting(":snak.localhost 903 ");
    i.send("NICK other");
    i.send("USER o 0 * :O");
    i.send("CAP END");
    i.line_starting(":snak.localhost 001 other ");
    i.send(&format!("PRIVMSG NickServ :IDENTIFY alice {secret}2"));
    i.line_starting(":NickServ!NickServ@services NOTICE other :You are now logged in as alice.");
    common::signal(child.id(), "-TERM");
    common::wait_exit(&mut child);
    let text = std::fs::read_to_string(&log).expect("read the log");
    assert!(
        text.contains("connect 127.0.0.1"),
        "the log has the connections"
    );
    assert!(!text.contains(secret), "a password is in the log:\n{text}");
    assert!(!text.contains(&b64), "a SASL blob is in the log:\n{text}");
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs snak on `data_dir` and returns its exit status and what it said on stderr.
fn start_fails(data_dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_snak"))
        .args(["--listen", "127.0.0.1:0", "--irc-listen", "127.0.0.1:0"])
        .args(["--web-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start snak");
    let status = common::wait_exit(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .ok();
    (status, err)
}

#[test]
fn a_corrupt_database_or_a_read_only_data_dir_stops_snak_at_start() {
    let tmp = TempDir::new("refuse");
    let corrupt = tmp.path("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("snak.db"), vec![0x5a; 8192]).unwrap();
    let (status, err) = start_fails(&corrupt);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "database {}/snak.db is corrupt (the file is not a database); restore a backup or move it away",
            corrupt.display()
        )),
        "{err}"
    );
    // Read-only: permission bits do not stop root, the immutable attribute does.
    let ro = tmp.path("readonly");
    std::fs::create_dir_all(&ro).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(&ro)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return common::skip("running as root and chattr +i is unavailable here");
        }
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    let (status, err) = start_fails(&ro);
    if root {
        let _ = Command::new("chattr").arg("-i").arg(&ro).status();
    }
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "data directory {}: it is not writable",
            ro.display()
        )),
        "{err}"
    );
}

// ---- SASL EXTERNAL over TLS ----

/// A CA, a server certificate and a client certificate, as PEM files.
struct Certs {
    dir: TempDir,
    ca_der: Vec<u8>,
}

impl Certs {
    fn new() -> Certs {
        let dir = TempDir::new("certs");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "snak accounts test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        for (name, sans) in [
            ("server", vec!["localhost".to_string()]),
            ("client", vec![]),
        ] {
            let key = rcgen::KeyPair::generate().expect("key");
            let params = rcgen::CertificateParams::new(sans).expect("params");
            let cert = params.signed_by(&key, &issuer).expect("cert");
            std::fs::write(dir.path(&format!("{name}.crt")), cert.pem()).unwrap();
            std::fs::write(dir.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Certs {
            dir,
            ca_der: ca.der().to_vec(),
        }
    }

    fn client_config(&self, with_cert: bool) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(self.dir.path("client.crt"))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key = PrivateKeyDer::from_pem_file(self.dir.path("client.key")).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

struct Tls {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Tls {
    fn connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Tls {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(WAIT)).ok();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config, name).unwrap();
        Tls {
            tls: rustls::StreamOwned::new(conn, sock),
            buf: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        self.tls
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.tls.flush().unwrap();
    }

    fn line(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return String::from_utf8_lossy(&line[..line.len() - 1])
                    .trim_end_matches('\r')
                    .to_string();
            }
            assert!(Instant::now() < deadline, "no line over TLS in time");
            let mut chunk = [0u8; 16384];
            match self.tls.read(&mut chunk) {
                Ok(0) => panic!("closed; had {:?}", String::from_utf8_lossy(&self.buf)),
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

    /// CAP REQ sasl and AUTHENTICATE EXTERNAL; the numeric that ended it.
    fn external(&mut self) -> String {
        self.send("CAP LS 302");
        let ls = self.line_starting(":snak.localhost CAP * LS ");
        assert!(ls.contains(" sasl=PLAIN,SCRAM-SHA-256,EXTERNAL "), "{ls}");
        self.send("CAP REQ sasl");
        self.line_starting(":snak.localhost CAP * ACK");
        self.send("AUTHENTICATE EXTERNAL");
        assert_eq!(self.line(), "AUTHENTICATE +");
        self.send("AUTHENTICATE +");
        self.line()
    }
}

#[test]
fn sasl_external_logs_in_by_client_certificate() {
    let certs = Certs::new();
    let (cert, key) = (certs.dir.arg("server.crt"), certs.dir.arg("server.key"));
    let d = Daemon::start(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--irc-tls-listen",
        "127.0.0.1:0",
    ]);
    let addr = d.addr("irc-tls");
    // Register over TLS with the client certificate and add it to the account.
    let mut c = Tls::connect(addr, certs.client_config(true));
    c.send("NICK certy");
    c.send("USER c 0 * :C");
    c.line_starting(":snak.localhost 001 certy ");
    c.send("PRIVMSG NickServ :REGISTER sesame");
    c.line_starting(":snak.localhost 900 certy ");
    c.send("NS CERT ADD");
    let added = c.line_starting(":NickServ!NickServ@services NOTICE certy :Certificate ");
    assert!(
        added.ends_with(" added: it logs you in with SASL EXTERNAL."),
        "{added}"
    );
    c.send("QUIT");
    // A new connection with the certificate logs in without a password.
    let mut e = Tls::connect(addr, certs.client_config(true));
    let got = e.external();
    assert_eq!(
        got,
        ":snak.localhost 900 * *!*@127.0.0.1 certy :You are now logged in as certy"
    );
    e.line_starting(":snak.localhost 903 * :SASL authentication successful");
    e.send("NICK certy");
    e.send("USER c 0 * :C");
    e.send("CAP END");
    e.line_starting(":snak.localhost 001 certy ");
    e.send("WHOIS certy");
    let account = e.line_starting(":snak.localhost 330 ");
    assert_eq!(
        account,
        ":snak.localhost 330 certy certy certy :is logged in as"
    );
    // Without a certificate, EXTERNAL fails.
    let mut n = Tls::connect(addr, certs.client_config(false));
    let got = n.external();
    assert!(
        got.starts_with(":snak.localhost 904 * :SASL authentication failed"),
        "{got}"
    );
}

#[test]
fn commands_sent_behind_a_password_check_are_answered_after_it() {
    let d = Daemon::start(&[]);
    registered(&d, "alice", "sesame");
    // Native: a login and a WHOIS in one write; the WHOIS sees the login.
    let mut n = native(&d, "someone");
    n.send_raw(b"/login alice sesame\n/whois someone\n");
    n.expect("= login alice");
    let whois = n.expect_eventually("= end whois someone");
    assert!(
        whois.contains(&"= whois someone account alice".to_string()),
        "{whois:?}"
    );
    // IRC: SASL and the end of registration pipelined, as impatient clients send them.
    let mut i = Client::connect(d.irc.unwrap());
    i.send_raw(
        b"CAP REQ sasl\r\nAUTHENTICATE PLAIN\r\nAUTHENTICATE AGFsaWNlAHNlc2FtZQ==\r\n\
          NICK al\r\nUSER a 0 * :A\r\nCAP END\r\n",
    );
    i.line_starting(":snak.localhost CAP * ACK");
    i.expect("AUTHENTICATE +");
    i.line_starting(":snak.localhost 900 ");
    i.line_starting(":snak.localhost 903 ");
    let welcome = i.line();
    assert!(welcome.starts_with(":snak.localhost 001 al "), "{welcome}");
}
