//! FILEHOST over real sockets: the ISUPPORT token, `POST /upload` with an account's
//! credentials, `GET` of the link by anyone, the limits (size, quota, total), CORS, expiry
//! and a restart.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::http::{read_response, Response};
use common::{Client, Daemon, WAIT};

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("snak-filehost-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn data(&self) -> String {
        self.0.join("data").display().to_string()
    }

    fn uploads(&self) -> PathBuf {
        self.0.join("data").join("uploads")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn web(d: &Daemon) -> SocketAddr {
    d.addr("web")
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", B64.encode(format!("{user}:{password}")))
}

/// POSTs `body` to /upload with these extra header lines (each ending in CRLF).
fn post(addr: SocketAddr, headers: &str, body: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("send head");
    // The body may be refused before it is all sent: a refusal closes the connection.
    let _ = s.write_all(body);
    read_response(&mut s, false)
}

/// An authenticated upload of `body` named `name`.
fn upload(addr: SocketAddr, user: &str, password: &str, name: &str, body: &[u8]) -> Response {
    let headers = format!(
        "Authorization: {}\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n",
        basic(user, password)
    );
    post(addr, &headers, body)
}

fn get(addr: SocketAddr, method: &str, path: &str) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send");
    read_response(&mut s, method == "HEAD")
}

/// The path of an absolute link (`http://HOST:PORT/path`).
fn path_of(link: &str) -> &str {
    let after = link.split_once("//").expect("an absolute link").1;
    &after[after.find('/').expect("a path")..]
}

/// A native client that registers its nick as an account.
fn registered(d: &Daemon, nick: &str, password: &str) -> Client {
    let mut c = d.named(nick);
    c.send(&format!("/register {password}"));
    c.expect_eventually(&format!("= registered {nick}"));
    c
}

/// Bytes that are not all alike, so that a misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn start(dir: &TempDir, extra: &[&str]) -> Daemon {
    let data = dir.data();
    let mut args = vec!["--data-dir", data.as_str()];
    args.extend_from_slice(extra);
    Daemon::start(&args)
}

/// The ISUPPORT lines an IRC client gets after registering.
fn isupport(d: &Daemon) -> String {
    let mut c = Client::connect(d.irc.expect("irc listener"));
    c.send("NICK isu");
    c.send("USER isu 0 * :isu");
    let mut lines = Vec::new();
    loop {
        let line = c.line();
        let end = line.starts_with(":snak.localhost 422 isu ");
        lines.push(line);
        if end {
            return lines.join("\n");
        }
    }
}

#[test]
fn isupport_names_the_upload_url_only_where_uploads_are_stored() {
    let dir = TempDir::new("isupport");
    let d = start(&dir, &[]);
    let url = format!("http://{}/upload", web(&d));
    let lines = isupport(&d);
    assert!(
        lines.contains(&format!(" soju.im/FILEHOST={url} ")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!(" draft/FILEHOST={url} ")),
        "{lines}"
    );

    // Nothing kept (--data-dir none): nothing advertised, and the URL says so.
    let none = Daemon::start(&[]);
    let lines = isupport(&none);
    assert!(lines.contains(" 005 isu "), "{lines}");
    assert!(!lines.contains("FILEHOST"), "{lines}");
    let r = upload(web(&none), "a", "b", "x", b"x");
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn upload_then_anyone_downloads_the_same_bytes_type_and_name() {
    let dir = TempDir::new("roundtrip");
    let d = start(&dir, &[]);
    let _alice = registered(&d, "alice", "sesame");
    // Several read chunks' worth, so that the download is fed as the socket drains.
    let body = pattern(700_000);
    let headers = format!(
        "Authorization: {}\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename*=UTF-8''r%C3%B8d%20gr%C3%B8d.png\r\nExpect: 100-continue\r\n",
        basic("alice", "sesame")
    );
    let r = post(web(&d), &headers, &body);
    assert_eq!(r.status, 201, "{r:?}");
    let link = r.header("Location").expect("Location").to_string();
    assert_eq!(r.text().trim(), link);
    let prefix = format!("http://{}/file/", web(&d));
    assert!(link.starts_with(&prefix), "{link}");
    let token = &link[prefix.len()..][..32];
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{link}");
    assert!(link.ends_with("/r%C3%B8d%20gr%C3%B8d.png"), "{link}");

    let got = get(web(&d), "GET", path_of(&link));
    assert_eq!(got.status, 200, "{:?}", got.head);
    assert_eq!(got.body.len(), body.len());
    assert!(got.body == body, "the bytes differ");
    assert_eq!(got.header("Content-Type"), Some("image/png"));
    assert_eq!(
        got.header("Content-Disposition"),
        Some("inline; filename=\"r_d gr_d.png\"; filename*=UTF-8''r%C3%B8d%20gr%C3%B8d.png")
    );
    assert!(got
        .header("Content-Security-Policy")
        .is_some_and(|c| c.contains("sandbox")));

    // HEAD: the same head, no body; the name in the link is only for people.
    let head = get(web(&d), "HEAD", &format!("/file/{token}"));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("700000"));
    assert!(head.body.is_empty());

    // On disk: named by the token, never by the client's name.
    let names: Vec<String> = std::fs::read_dir(dir.uploads())
        .expect("uploads dir")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut want = vec![format!("{token}.data"), format!("{token}.meta")];
    let mut sorted = names.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want);

    // A wrong token is 404.
    let r = get(web(&d), "GET", &format!("/file/{}", "ab".repeat(16)));
    assert_eq!(r.status, 404);
}

#[test]
fn wrong_or_missing_credentials_get_401() {
    let dir = TempDir::new("auth");
    let d = start(&dir, &[]);
    let _alice = registered(&d, "alice", "sesame");
    let r = post(web(&d), "", b"hello");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"snak\", charset=\"UTF-8\"")
    );
    let r = upload(web(&d), "alice", "wrong", "x.txt", b"hello");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.text().contains("wrong account or password"), "{r:?}");
    let r = upload(web(&d), "nobody", "sesame", "x.txt", b"hello");
    assert_eq!(r.status, 401, "{r:?}");
    let r = post(web(&d), "Authorization: Bearer abc\r\n", b"hello");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.text().contains("only Basic"), "{r:?}");
    let r = post(web(&d), "Authorization: Basic !!\r\n", b"hello");
    assert_eq!(r.status, 401, "{r:?}");
    // No length: 411; nothing was stored by any of these.
    let mut s = TcpStream::connect(web(&d)).unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        basic("alice", "sesame")
    );
    s.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_response(&mut s, false).status, 411);
    let left = std::fs::read_dir(dir.uploads()).unwrap().count();
    assert_eq!(left, 0);
    // The right password still works.
    assert_eq!(
        upload(web(&d), "alice", "sesame", "x.txt", b"hello").status,
        201
    );
}

#[test]
fn wrong_passwords_meet_the_login_backoff() {
    let dir = TempDir::new("backoff");
    let d = start(&dir, &[]);
    let _alice = registered(&d, "alice", "sesame");
    // Three wrong passwords are free (see OPERATIONS.md); after the fourth a try must wait
    // 1 s, after each more twice as long: one of the next tries is refused before its check
    // however slow the machine.
    for _ in 0..4 {
        assert_eq!(upload(web(&d), "alice", "nope", "x", b"x").status, 401);
    }
    let refused = (0..6).find_map(|_| {
        let r = upload(web(&d), "alice", "nope", "x", b"x");
        match r.status {
            429 => Some(r),
            status => {
                assert_eq!(status, 401, "{r:?}");
                None
            }
        }
    });
    let r = refused.expect("a 429 after wrong passwords");
    assert!(r.header("Retry-After").is_some(), "{r:?}");
    assert!(r.text().contains("wait"), "{r:?}");
}

#[test]
fn over_the_size_limit_is_413_from_the_head_alone() {
    let dir = TempDir::new("size");
    let d = start(&dir, &["--filehost-max-size", "1000"]);
    let _alice = registered(&d, "alice", "sesame");
    // Only the head is sent: the answer comes without the body, which is never read.
    let mut s = TcpStream::connect(web(&d)).unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 50000000\r\n\r\n",
        basic("alice", "sesame")
    );
    s.write_all(head.as_bytes()).unwrap();
    let r = read_response(&mut s, false);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.text().contains("up to 1000 bytes"), "{r:?}");
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(
        upload(web(&d), "alice", "sesame", "a", &pattern(1000)).status,
        201
    );
}

#[test]
fn quota_per_account_and_the_total_cap() {
    let dir = TempDir::new("quota");
    let d = start(
        &dir,
        &[
            "--filehost-quota",
            "1000",
            "--filehost-total",
            "1500",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let _a = registered(&d, "alice", "sesame");
    let _b = registered(&d, "bob", "hunter22");
    let _c = registered(&d, "carol", "letmein");
    assert_eq!(
        upload(web(&d), "alice", "sesame", "a", &pattern(600)).status,
        201
    );
    let r = upload(web(&d), "alice", "sesame", "b", &pattern(600));
    assert_eq!(r.status, 413, "{r:?}");
    assert!(
        r.text().contains("quota: you have 600 of 1000 bytes"),
        "{r:?}"
    );
    assert_eq!(
        upload(web(&d), "alice", "sesame", "c", &pattern(400)).status,
        201
    );
    assert_eq!(
        upload(web(&d), "bob", "hunter22", "d", &pattern(500)).status,
        201
    );
    let r = upload(web(&d), "carol", "letmein", "e", &pattern(100));
    assert_eq!(r.status, 507, "{r:?}");
    assert!(r.text().contains("is full"), "{r:?}");
    let metrics = get(d.addr("metrics"), "GET", "/metrics").text();
    assert!(
        metrics.contains("\nsnak_uploads_stored_files 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nsnak_uploads_stored_bytes 1500\n"),
        "{metrics}"
    );
}

/// Waits until `path` answers 404.
fn wait_gone(addr: SocketAddr, path: &str) {
    let until = Instant::now() + WAIT;
    loop {
        let r = get(addr, "HEAD", path);
        if r.status == 404 {
            return;
        }
        assert_eq!(r.status, 200);
        assert!(Instant::now() < until, "{path} still there after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stored(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn expired_files_are_deleted() {
    let dir = TempDir::new("expiry");
    let d = start(&dir, &["--filehost-expiry-secs", "1"]);
    let _a = registered(&d, "alice", "sesame");
    let r = upload(web(&d), "alice", "sesame", "soon.txt", b"gone soon");
    assert_eq!(r.status, 201, "{r:?}");
    let link = r.header("Location").unwrap().to_string();
    wait_gone(web(&d), path_of(&link));
    // The file thread deletes it beside the loop: wait for that too.
    let until = Instant::now() + WAIT;
    while stored(&dir.uploads()) > 0 {
        assert!(Instant::now() < until, "the expired file is still on disk");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its room is free again: the quota counts only what is stored.
    let big = pattern(1000);
    let r = post(
        web(&d),
        &format!("Authorization: {}\r\n", basic("alice", "sesame")),
        &big,
    );
    assert_eq!(r.status, 201, "{r:?}");
}

#[test]
fn a_file_survives_a_restart_until_it_expires() {
    let dir = TempDir::new("restart");
    let (kept, soon);
    {
        let mut d = start(&dir, &[]);
        let _a = registered(&d, "alice", "sesame");
        let r = upload(web(&d), "alice", "sesame", "kept.txt", &pattern(5000));
        assert_eq!(r.status, 201, "{r:?}");
        kept = r.header("Location").unwrap().to_string();
        d.terminate();
    }
    {
        // Long enough that it is still stored when this snak stops (at least 3 s).
        let mut d = start(&dir, &["--filehost-expiry-secs", "3"]);
        let got = get(web(&d), "GET", path_of(&kept));
        assert_eq!(got.status, 200, "{got:?}");
        assert!(got.body == pattern(5000));
        assert_eq!(
            got.header("Content-Disposition"),
            Some("attachment; filename=\"kept.txt\"; filename*=UTF-8''kept.txt")
        );
        let r = upload(web(&d), "alice", "sesame", "soon.txt", b"soon");
        assert_eq!(r.status, 201, "{r:?}");
        soon = r.header("Location").unwrap().to_string();
        d.terminate();
    }
    // Stopped before the second file's expiry passes (its meta file says when): the next
    // start deletes it, and keeps the first, which has a day.
    let token = &path_of(&soon)["/file/".len()..][..32];
    let meta = std::fs::read_to_string(dir.uploads().join(format!("{token}.meta"))).unwrap();
    let expires: u64 = meta
        .lines()
        .find_map(|l| l.strip_prefix("expires "))
        .and_then(|v| v.parse().ok())
        .expect("an expiry in the meta file");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    while now() <= expires {
        std::thread::sleep(Duration::from_millis(50));
    }
    let d = start(&dir, &[]);
    assert_eq!(
        stored(&dir.uploads()),
        2,
        "the expired pair was not deleted at start"
    );
    assert_eq!(get(web(&d), "HEAD", path_of(&soon)).status, 404);
    assert_eq!(get(web(&d), "HEAD", path_of(&kept)).status, 200);
}

#[test]
fn cors_preflight_and_origins() {
    let dir = TempDir::new("cors");
    let d = start(&dir, &["--web-origin", "https://chat.example.org"]);
    let _a = registered(&d, "alice", "sesame");
    let preflight = |origin: &str| {
        let mut s = TcpStream::connect(web(&d)).unwrap();
        let req = format!(
            "OPTIONS /upload HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type, content-disposition\r\nConnection: close\r\n\r\n",
            web(&d)
        );
        s.write_all(req.as_bytes()).unwrap();
        read_response(&mut s, false)
    };
    let r = preflight("https://chat.example.org");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://chat.example.org")
    );
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    let allowed = r
        .header("Access-Control-Allow-Headers")
        .unwrap()
        .to_lowercase();
    for h in ["authorization", "content-type", "content-disposition"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    assert_eq!(r.header("Accept-Post"), Some("*/*"));
    let r = preflight("https://evil.example");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    // The POST itself: an allowed page may read Location, another page may not upload.
    let auth = format!("Authorization: {}\r\n", basic("alice", "sesame"));
    let r = post(
        web(&d),
        &format!("{auth}Origin: https://chat.example.org\r\n"),
        b"hi",
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("Access-Control-Expose-Headers"), Some("Location"));
    let r = post(
        web(&d),
        &format!("{auth}Origin: https://evil.example\r\n"),
        b"hi",
    );
    assert_eq!(r.status, 403, "{r:?}");
}

#[test]
fn a_large_upload_streams_through_the_file_thread() {
    let dir = TempDir::new("large");
    let d = start(&dir, &[]);
    let _a = registered(&d, "alice", "sesame");
    // Past the write window many times over: the socket is read as the writes are done.
    let body = pattern(12 << 20);
    let r = upload(web(&d), "alice", "sesame", "big.bin", &body);
    assert_eq!(r.status, 201, "{r:?}");
    let got = get(web(&d), "GET", path_of(r.header("Location").unwrap()));
    assert!(got.body == body, "the bytes differ");
}

/// A stock HTTP client: Python's urllib answers the 401 challenge with Basic credentials by
/// itself (see tests/filehost/urllib_upload.py).
#[test]
fn a_stock_client_answers_the_challenge_and_uploads() {
    let Some(python) = common::test_python("urllib.request") else {
        return common::skip("no python3 with urllib (the standard library)");
    };
    let dir = TempDir::new("urllib");
    let d = start(&dir, &[]);
    let _a = registered(&d, "alice", "sesame");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/filehost/urllib_upload.py"
    );
    let url = format!("http://{}/upload", web(&d));
    let out = std::process::Command::new(python)
        .args([script, &url, "alice", "sesame"])
        .output()
        .expect("run the urllib client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = format!("location http://{}/file/", web(&d));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "status 201", "{text}");
    assert!(
        lines[1].starts_with(&prefix) && lines[1].ends_with("/caf%C3%A9.bin"),
        "{text}"
    );
    assert_eq!(lines[2], "type application/x-test");
    assert_eq!(
        lines[3],
        "disposition attachment; filename=\"caf_.bin\"; filename*=UTF-8''caf%C3%A9.bin"
    );
    assert_eq!(&lines[4..], ["length 256000", "same True"], "{text}");
}

/// An upload cut short keeps nothing: its `.part` goes and its room is free again.
#[test]
fn an_upload_cut_short_keeps_nothing() {
    let dir = TempDir::new("cut");
    let d = start(&dir, &["--filehost-quota", "1000"]);
    let _a = registered(&d, "alice", "sesame");
    let mut s = TcpStream::connect(web(&d)).unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 900\r\nExpect: 100-continue\r\n\r\n",
        basic("alice", "sesame")
    );
    s.write_all(head.as_bytes()).unwrap();
    // 100 Continue: the account is known and the room taken; then a part of the body.
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut cont = [0u8; 25];
    s.read_exact(&mut cont).unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(&pattern(300)).unwrap();
    // While it is under way, the room is taken.
    let r = upload(web(&d), "alice", "sesame", "b", &pattern(900));
    assert_eq!(r.status, 413, "{r:?}");
    drop(s);
    let until = Instant::now() + WAIT;
    let link = loop {
        let r = upload(web(&d), "alice", "sesame", "c", &pattern(900));
        if r.status == 201 {
            break r.header("Location").unwrap().to_string();
        }
        assert_eq!(r.status, 413, "{r:?}");
        assert!(
            Instant::now() < until,
            "the cut upload's room was not given back"
        );
    };
    let token = &path_of(&link)["/file/".len()..][..32];
    let until = Instant::now() + WAIT;
    loop {
        let mut names: Vec<String> = std::fs::read_dir(dir.uploads())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        if names == [format!("{token}.data"), format!("{token}.meta")] {
            break;
        }
        assert!(Instant::now() < until, "left on disk: {names:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Uploads under way at once are bounded server-wide: past 32, `503` with `Retry-After`.
#[test]
fn too_many_uploads_at_once_get_503() {
    let dir = TempDir::new("busy");
    let d = start(&dir, &[]);
    let _a = registered(&d, "alice", "sesame");
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
        basic("alice", "sesame")
    );
    // Each of these has its room once it hears 100 Continue, and holds it while open.
    let mut open: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = TcpStream::connect(web(&d)).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut cont = [0u8; 25];
            s.read_exact(&mut cont).unwrap();
            assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
            s
        })
        .collect();
    let r = upload(web(&d), "alice", "sesame", "x", b"0123456789");
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("Retry-After"), Some("10"));
    // One finishes (the 31 others still open): the next may start.
    let mut first = open.remove(0);
    first.write_all(b"0123456789").unwrap();
    assert_eq!(read_response(&mut first, false).status, 201);
    assert_eq!(
        upload(web(&d), "alice", "sesame", "y", b"0123456789").status,
        201
    );
}
