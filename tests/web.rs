//! The web front end over real sockets: the page, HTTP limits and answers, WebSocket for IRC
//! and the native protocol with its limits, and files by link between every kind of user.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::http::{read_response, Response};
use common::{Client, Daemon, WAIT};
use snak::proto::ws::{self, Opcode};

fn request(addr: SocketAddr, req: &str) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(req.as_bytes()).expect("send");
    read_response(&mut s, false)
}

fn get(addr: SocketAddr, path: &str) -> Response {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

/// Whether the server closed `s` (read gives 0) within the wait.
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(WAIT)).ok();
    let mut rest = [0u8; 4096];
    loop {
        match s.read(&mut rest) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

/// A WebSocket client: masked frames out, frames in.
struct Ws {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Ws {
    /// Opens a WebSocket at `path` asking for `protocol` (if any); the 101 is checked.
    fn open(
        addr: SocketAddr,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Ws, Response> {
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        );
        if let Some(p) = protocol {
            req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        if let Some(o) = origin {
            req.push_str(&format!("Origin: {o}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("handshake");
        let resp = read_response(&mut s, false);
        if resp.status != 101 {
            return Err(resp);
        }
        assert_eq!(
            resp.header("Sec-WebSocket-Accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{resp:?}"
        );
        let buf = resp.body;
        Ok(Ws { s, buf })
    }

    fn send_frame(&mut self, opcode: Opcode, payload: &[u8]) {
        let mut out = Vec::new();
        ws::write_masked_frame(&mut out, opcode, true, [1, 2, 3, 4], payload);
        self.s.write_all(&out).expect("send frame");
    }

    fn send(&mut self, text: &str) {
        self.send_frame(Opcode::Text, text.as_bytes());
    }

    /// The next frame: (opcode bits, payload). Server frames are never masked.
    fn frame(&mut self) -> (u8, Vec<u8>) {
        self.s.set_read_timeout(Some(WAIT)).ok();
        loop {
            if self.buf.len() >= 2 {
                let op = self.buf[0] & 0x0f;
                let (len, start) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&self.buf[2..10]);
                        (u64::from_be_bytes(b) as usize, 10)
                    }
                    n @ 0..=125 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if start > 0 && self.buf.len() >= start + len {
                    let payload = self.buf[start..start + len].to_vec();
                    self.buf.drain(..start + len);
                    return (op, payload);
                }
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("read a frame");
            assert!(n > 0, "WebSocket closed; had {:?}", self.buf);
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next text message.
    fn text(&mut self) -> String {
        loop {
            match self.frame() {
                (1 | 2, p) => return String::from_utf8(p).expect("utf-8"),
                (9, _) | (10, _) => continue,
                (op, p) => panic!("frame {op}: {p:?}"),
            }
        }
    }

    /// After a close frame: the server sends nothing more (no second close) and ends the
    /// connection.
    fn nothing_more_then_closed(&mut self) {
        self.s.set_read_timeout(Some(WAIT)).ok();
        let mut rest = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 4096];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("not closed: {e}; had {rest:?}"),
            }
        }
        assert!(rest.is_empty(), "bytes after the close frame: {rest:02x?}");
    }

    fn text_starting(&mut self, prefix: &str) -> String {
        loop {
            let t = self.text();
            if t.starts_with(prefix) {
                return t;
            }
        }
    }
}

fn start() -> Daemon {
    Daemon::start(&[])
}

#[test]
fn the_page_is_served_with_its_headers_and_bad_requests_get_clear_answers() {
    let d = start();
    let web = d.addr("web");
    let page = get(web, "/");
    assert_eq!(page.status, 200, "{}", page.head);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.header("Content-Security-Policy").is_some());
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
    assert!(page.body.len() < 150 * 1024, "{} bytes", page.body.len());
    let mut s = TcpStream::connect(web).expect("connect");
    s.write_all(format!("HEAD / HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("send");
    let mut head = String::new();
    s.read_to_string(&mut head).expect("read");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "a head and no body: {head}");
    assert_eq!(get(web, "/nothing-here").status, 404);
    let post = request(
        web,
        &format!("POST / HTTP/1.1\r\nHost: {web}\r\nContent-Length: 0\r\n\r\n"),
    );
    assert_eq!(post.status, 405);
    assert!(post.header("Allow").is_some());
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: {web}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(request(web, &huge).status, 431);
    assert_eq!(request(web, "GARBAGE\r\n\r\n").status, 400);
    // Keep-alive: two requests on one connection.
    let mut s = TcpStream::connect(web).expect("connect");
    for _ in 0..2 {
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {web}\r\n\r\n").as_bytes())
            .expect("send");
        assert_eq!(read_response(&mut s, false).status, 200);
    }
}

#[test]
fn a_slow_request_is_dropped_and_costs_nobody_anything() {
    let d = Daemon::start(&["--web-request-secs", "1"]);
    let web = d.addr("web");
    let mut slow = TcpStream::connect(web).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("half a head");
    // Closed before the wait runs out (`closed` is false on a timeout).
    assert!(
        closed(&mut slow),
        "a request that never ends must be dropped"
    );
    let mut c = d.named("bystander");
    c.send("/who");
    c.line_starting("= who #lobby");
}

#[test]
fn irc_over_websocket_in_text_and_binary_messages_chats_with_tcp_users() {
    let d = start();
    let web = d.addr("web");
    let mut tcp = Client::connect(d.irc.expect("irc"));
    tcp.send_raw(b"NICK tcpuser\r\nUSER t 0 * :t\r\nJOIN #w\r\n");
    tcp.line_starting(":snak.localhost 366 tcpuser #w");
    for (protocol, nick) in [("text.ircv3.net", "wstext"), ("binary.ircv3.net", "wsbin")] {
        let mut w = Ws::open(web, Some(protocol), None).expect("upgrade");
        w.send(&format!("NICK {nick}"));
        w.send(&format!("USER {nick} 0 * :{nick}"));
        let welcome = w.text_starting(":snak.localhost 001 ");
        assert!(
            welcome.starts_with(&format!(":snak.localhost 001 {nick} :Welcome")),
            "{welcome}"
        );
        assert!(
            !welcome.ends_with('\n'),
            "one line per message, no line ending"
        );
        w.send("JOIN #w");
        w.text_starting(&format!(":snak.localhost 366 {nick} #w"));
        tcp.line_starting(&format!(":{nick}!"));
        w.send("PRIVMSG #w :hello over websocket");
        assert_eq!(
            tcp.line_starting(&format!(":{nick}!")),
            format!(":{nick}!{nick}@127.0.0.1 PRIVMSG #w :hello over websocket")
        );
        tcp.send_raw(b"PRIVMSG #w :and back\r\n");
        // (The second time round, the join replayed the room's lines of the first, dated.)
        let back = ":tcpuser!t@127.0.0.1 PRIVMSG #w :and back";
        assert_eq!(w.text_starting(back), back);
        // A labeled command's replies, held back and sent as one batch, are still one
        // WebSocket message per line.
        w.send("CAP REQ :labeled-response batch");
        w.text_starting(":snak.localhost CAP ");
        w.send("@label=q1 WHOIS tcpuser");
        assert_eq!(
            w.text(),
            "@label=q1 :snak.localhost BATCH +L1 labeled-response"
        );
        assert_eq!(
            w.text(),
            format!("@batch=L1 :snak.localhost 311 {nick} tcpuser t 127.0.0.1 * t")
        );
        w.text_starting(&format!("@batch=L1 :snak.localhost 318 {nick} tcpuser "));
        assert_eq!(w.text(), ":snak.localhost BATCH -L1");
        w.send("QUIT");
        tcp.line_starting(&format!(":{nick}!"));
    }
}

#[test]
fn the_native_protocol_over_websocket() {
    let d = start();
    let mut w = Ws::open(d.addr("web"), Some("snak.native"), None).expect("upgrade");
    let hello = w.text();
    assert!(
        hello.starts_with("* Hello, world! This is snak "),
        "{hello}"
    );
    w.send("/nick webby");
    assert!(w.text().ends_with(" is now known as webby"));
    let mut n = d.named("tcpnat");
    let renamed = w.text_starting("* guest-2 is now known as");
    assert_eq!(renamed, "* guest-2 is now known as tcpnat");
    n.send("hi web");
    assert_eq!(w.text_starting("#lobby"), "#lobby <tcpnat> hi web");
    w.send("hi tcp");
    n.expect("#lobby <webby> hi tcp");
}

#[test]
fn websocket_limits_origin_masking_size_ping_and_close() {
    let d = start();
    let web = d.addr("web");
    // Another page's origin may not open a WebSocket; the server's own may.
    let refused = Ws::open(web, Some("text.ircv3.net"), Some("https://evil.example")).err();
    assert_eq!(refused.map(|r| r.status), Some(403));
    Ws::open(web, Some("text.ircv3.net"), Some(&format!("http://{web}"))).expect("own origin");
    // An unmasked client frame is a protocol error: close 1002.
    let mut w = Ws::open(web, Some("text.ircv3.net"), None).expect("upgrade");
    let mut raw = Vec::new();
    ws::write_frame(&mut raw, Opcode::Text, b"NICK x");
    w.s.write_all(&raw).expect("send");
    let (op, payload) = w.frame();
    assert_eq!((op, &payload[..2]), (8, &1002u16.to_be_bytes()[..]));
    w.nothing_more_then_closed();
    // A message over the limit: close 1009.
    let mut w = Ws::open(web, Some("text.ircv3.net"), None).expect("upgrade");
    w.send(&"x".repeat(64 * 1024));
    let (op, payload) = w.frame();
    assert_eq!((op, &payload[..2]), (8, &1009u16.to_be_bytes()[..]));
    w.nothing_more_then_closed();
    // Ping is answered with the same payload; close is answered and the connection ends.
    let mut w = Ws::open(web, Some("text.ircv3.net"), None).expect("upgrade");
    w.send_frame(Opcode::Ping, b"are you there");
    assert_eq!(w.frame(), (10, b"are you there".to_vec()));
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    w.send_frame(Opcode::Close, &close);
    assert_eq!(w.frame().0, 8);
    w.nothing_more_then_closed();
    // A wrong WebSocket version gets 426.
    let bad = request(
        web,
        &format!(
            "GET / HTTP/1.1\r\nHost: {web}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
        ),
    );
    assert_eq!(bad.status, 426);
}

/// The link in an IRC notice about a file offer.
fn link_in(notice: &str) -> String {
    notice
        .split_whitespace()
        .find(|w| w.starts_with("http://") && !w.ends_with("/decline"))
        .map(|w| w.to_string())
        .unwrap_or_else(|| panic!("no link in {notice:?}"))
}

fn path_of(link: &str) -> String {
    let rest = link.strip_prefix("http://").expect("http link");
    rest[rest.find('/').expect("a path")..].to_string()
}

#[test]
fn a_native_user_sends_an_irc_user_a_file_by_link() {
    let d = start();
    let web = d.addr("web");
    let mut nat = d.named("sender");
    let mut irc = Client::connect(d.irc.expect("irc"));
    irc.send_raw(b"NICK ircy\r\nUSER i 0 * :i\r\n");
    irc.line_starting(":snak.localhost 001 ircy");
    let body = b"rodgrod med flode\n".repeat(1000);
    nat.send(&format!("/offer ircy {} recipe.txt", body.len()));
    let id = common::offered_id(&nat.line());
    let notice = irc.line_starting(":snak.localhost NOTICE ircy :File ");
    assert!(
        notice.contains("sender offers you \"recipe.txt\""),
        "{notice}"
    );
    let link = link_in(&notice);
    assert!(link.starts_with(&format!("http://{web}/f/")), "{link}");
    // Opening the link accepts; the bytes arrive as the sender sends them.
    let mut dl = TcpStream::connect(web).expect("connect");
    dl.write_all(format!("GET {} HTTP/1.1\r\nHost: {web}\r\n\r\n", path_of(&link)).as_bytes())
        .expect("request");
    nat.expect(&format!("% accepted {id}"));
    for chunk in body.chunks(4096) {
        nat.send_raw(format!("/data {id} {}\n", chunk.len()).as_bytes());
        nat.send_raw(chunk);
    }
    let resp = read_response(&mut dl, false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, body);
    assert!(resp
        .header("Content-Disposition")
        .unwrap_or("")
        .contains("recipe.txt"));
    nat.expect(&format!("% done {id}"));
    irc.line_starting(&format!(":snak.localhost NOTICE ircy :File {id}: accepted"));
    irc.line_starting(&format!(":snak.localhost NOTICE ircy :File {id}: done"));
    // A link used up is gone.
    assert_eq!(get(web, &path_of(&link)).status, 410);
}

#[test]
fn a_web_client_uploads_to_a_native_user_and_declines_by_link() {
    let d = start();
    let web = d.addr("web");
    let mut nat = d.named("getter");
    let mut w = Ws::open(web, Some("text.ircv3.net"), None).expect("upgrade");
    w.send("CAP REQ snak.chat/files");
    w.send("NICK page");
    w.send("USER p 0 * :p");
    w.send("CAP END");
    w.text_starting(":snak.localhost 001 page");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.send(&format!("FILE OFFER getter {} :data.bin", body.len()));
    let offered = w.text_starting(":snak.localhost FILE OFFERED ");
    let parts: Vec<&str> = offered.split(' ').collect();
    let (id, token) = (parts[3], parts[6]);
    assert!(nat.line().starts_with(&format!("% offer {id} page ")));
    nat.line(); // the readable line about it
                // An upload before the recipient accepts is refused.
    let early = request(
        web,
        &format!("PUT /f/{token} HTTP/1.1\r\nHost: {web}\r\nContent-Length: 3\r\n\r\nabc"),
    );
    assert_eq!(early.status, 409);
    nat.send(&format!("/accept {id}"));
    assert_eq!(
        w.text_starting(":snak.localhost FILE ACCEPTED"),
        format!(":snak.localhost FILE ACCEPTED {id}")
    );
    let mut up = TcpStream::connect(web).expect("connect");
    up.write_all(
        format!(
            "PUT /f/{token} HTTP/1.1\r\nHost: {web}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .expect("head");
    up.write_all(&body).expect("body");
    let mut got = Vec::new();
    nat.expect(&format!("% accepted {id}"));
    while got.len() < body.len() {
        let header = nat.line();
        let len: usize = header
            .strip_prefix(&format!("% data {id} "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a data header: {header}"));
        got.extend(nat.read_exact(len));
    }
    assert_eq!(got, body);
    nat.expect(&format!("% done {id}"));
    assert_eq!(read_response(&mut up, false).status, 200);
    assert_eq!(
        w.text_starting(":snak.localhost FILE DONE"),
        format!(":snak.localhost FILE DONE {id}")
    );

    // The other way round, declined by the link.
    nat.send("/offer page 5 no.txt");
    let id = common::offered_id(&nat.line());
    let offer = w.text_starting(":getter!");
    assert!(offer.contains(" FILE OFFER "), "{offer}");
    let token = offer.split(' ').nth(5).expect("a token").to_string();
    assert_eq!(get(web, &format!("/f/{token}/decline")).status, 200);
    nat.expect(&format!("% declined {id}"));
}

#[test]
fn an_irc_user_sends_a_file_through_an_upload_page() {
    let d = start();
    let web = d.addr("web");
    let mut nat = d.named("friend");
    let mut irc = Client::connect(d.irc.expect("irc"));
    irc.send_raw(b"NICK irssi\r\nUSER i 0 * :i\r\nFILE SEND friend\r\n");
    let notice = irc.line_starting(":snak.localhost NOTICE irssi :To send friend a file, open ");
    let link = notice.rsplit(' ').next().expect("a link").to_string();
    let page = get(web, &path_of(&link));
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("Send a file"));
    let offer = request(
        web,
        &format!(
            "POST {}?name=hello.txt&size=5 HTTP/1.1\r\nHost: {web}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            path_of(&link)
        ),
    );
    assert_eq!(offer.status, 200, "{offer:?}");
    let json = String::from_utf8_lossy(&offer.body).into_owned();
    let upload = json
        .split('"')
        .find(|s| s.starts_with("/f/"))
        .expect("an upload path")
        .to_string();
    let id = nat.line();
    assert!(id.starts_with("% offer "), "{id}");
    let tid = id.split(' ').nth(2).expect("id").to_string();
    nat.line();
    let state = get(web, &format!("{upload}/state"));
    assert_eq!(
        String::from_utf8_lossy(&state.body).trim(),
        "{\"state\":\"offered\"}"
    );
    nat.send(&format!("/accept {tid}"));
    nat.expect(&format!("% accepted {tid}"));
    let sent = request(
        web,
        &format!("PUT {upload} HTTP/1.1\r\nHost: {web}\r\nContent-Length: 5\r\n\r\nhello"),
    );
    assert_eq!(sent.status, 200);
    nat.expect(&format!("% data {tid} 5"));
    assert_eq!(nat.read_exact(5), b"hello");
    nat.expect(&format!("% done {tid}"));
}

#[test]
fn a_download_closed_early_aborts_the_transfer_for_the_sender() {
    let d = start();
    let web = d.addr("web");
    let mut nat = d.named("src");
    let mut irc = Client::connect(d.irc.expect("irc"));
    irc.send_raw(b"NICK dst\r\nUSER d 0 * :d\r\n");
    irc.line_starting(":snak.localhost 001 dst");
    nat.send("/offer dst 100000 big.bin");
    let id = common::offered_id(&nat.line());
    let link = link_in(&irc.line_starting(":snak.localhost NOTICE dst :File "));
    let mut dl = TcpStream::connect(web).expect("connect");
    dl.write_all(format!("GET {} HTTP/1.1\r\nHost: {web}\r\n\r\n", path_of(&link)).as_bytes())
        .expect("request");
    nat.expect(&format!("% accepted {id}"));
    drop(dl);
    let deadline = Instant::now() + WAIT;
    let line = loop {
        nat.send_raw(format!("/data {id} 10\n0123456789").as_bytes());
        if let Some(l) = nat.try_line(Duration::from_millis(100)) {
            break l;
        }
        assert!(Instant::now() < deadline, "no abort seen");
    };
    assert_eq!(
        line,
        format!("% abort {id} the recipient closed its download")
    );
}
