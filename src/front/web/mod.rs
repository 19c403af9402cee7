//! The web front end: HTTP/1.1 on the loop. It serves snak's own page (embedded in the
//! binary), upgrades to WebSocket for IRC (`text.ircv3.net`, `binary.ircv3.net`) and the
//! native protocol (`snak.native`), and carries files through links: a recipient's download
//! (`GET /f/TOKEN`, which accepts the offer) and a sender's upload (`PUT /f/TOKEN`), plus an
//! upload page for users whose protocol cannot send files (`/u/TOKEN`, for IRC users).
//!
//! Routes:
//!
//! | request | answer |
//! |---|---|
//! | `GET /` (and `/index.html`) | the page |
//! | `GET /` or `GET /ws` with `Upgrade: websocket` | the WebSocket (Origin checked) |
//! | `GET /f/TOKEN` | the file, as its sender sends it (accepts the offer) |
//! | `GET /f/TOKEN/decline` | declines the offer |
//! | `GET /f/TOKEN/state` | `{"state":"offered"}` (`accepted`, `sending`, `gone`), for upload pages |
//! | `PUT /f/TOKEN` | the file's bytes, once the offer is accepted; `200` when all arrived |
//! | `GET /u/TOKEN` | a page to pick a file for one recipient |
//! | `POST /u/TOKEN?name=NAME&size=BYTES` | makes the offer: `{"id":N,"upload":"/f/TOKEN"}` |
//! | `OPTIONS /upload` | FILEHOST: what uploads accept (and CORS for allowed pages) |
//! | `POST /upload` | FILEHOST: stores the body for a logged-in account: `201` + `Location` |
//! | `GET /file/TOKEN[/NAME]` | a stored upload, to anyone with the link |

use std::time::{Duration, Instant};

use super::{CloseReason, Ctx, DataFrame, Flow, Framing, Output, Proto};
use crate::config;
use crate::event::{Event, Fail};
use crate::filehost::{self, Done as DiskDone, Job as DiskJob};
use crate::hub::{HostLimits, HostRefusal, HostedFile, Hub, LinkRefusal, TokenFor};
use crate::proto::filehost::{self as fh, Credentials};
use crate::proto::http::{self, HeadScan, Limits, Request, ResponseHead, Status};
use crate::proto::ws::{self, Subprotocol};
use crate::store::{AccountError, CallResult};

/// The page, with its script and style: one file, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("client.html");
/// The upload page IRC users get a link to.
pub const SEND_PAGE: &str = include_str!("send.html");

/// A kept-alive connection with no new request for this long is closed.
pub const IDLE_DEADLINE: Duration = Duration::from_secs(60);
/// How often a download in progress looks whether its transfer is still on.
const DOWNLOAD_CHECK: Duration = Duration::from_secs(1);
/// A FILEHOST upload whose client sends nothing for this long is dropped, and so is a
/// download whose reader takes nothing.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(60);
/// FILEHOST uploads under way at once, on the whole server (more get `503`).
pub const MAX_UPLOADS: usize = 32;
/// The tag of a FILEHOST upload's password check.
const TAG_LOGIN: u32 = 1;
/// What `WWW-Authenticate` asks for.
const CHALLENGE: &str = "Basic realm=\"snak\", charset=\"UTF-8\"";

/// The WebSocket subprotocols offered, in the order the specification prefers.
pub const SUBPROTOCOLS: [Subprotocol; 3] = [
    Subprotocol::IrcText,
    Subprotocol::IrcBinary,
    Subprotocol::Native,
];

/// What an HTTP connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (or reading) a request head.
    Head,
    /// Streaming a file to the client.
    Download { transfer: u64 },
    /// Taking a file's bytes from the client: `left` to come; `cut` once the transfer ended
    /// before all came (the rest is read and dropped).
    Upload { transfer: u64, left: u64, cut: bool },
    /// A FILEHOST upload waits for its account's password to be checked (off the loop).
    Authorizing,
    /// A FILEHOST upload's bytes go to the file thread (see [`Http::hosted`]).
    Storing,
    /// A stored file goes out a chunk at a time: `sent` of `size` bytes so far, the last
    /// chunk at `last`.
    Serving {
        token: u128,
        sent: u64,
        size: u64,
        last: Instant,
    },
    /// The answer is out; the connection closes.
    Done,
}

/// A FILEHOST upload under way.
#[derive(Debug)]
struct HostedUpload {
    /// The file as it will be stored (its token once the account is known).
    file: HostedFile,
    expect_continue: bool,
    /// The page origin allowed to read the answer (CORS), if a browser sent one.
    cors: Option<Box<str>>,
    /// Room is taken for it in the hub (given back if it does not finish).
    reserved: bool,
    /// Bytes still to come from the client.
    left: u64,
    /// Writes handed to the file thread and not yet done.
    unacked_jobs: usize,
    unacked_bytes: usize,
    /// All bytes came; the file thread is storing it.
    finishing: bool,
    /// When the client last sent something.
    last: Instant,
}

/// One HTTP connection.
pub struct Http {
    /// On a metrics listener: only `GET /metrics`.
    metrics_only: bool,
    scan: HeadScan,
    state: State,
    /// When the current request head must be complete by.
    head_by: Instant,
    /// The FILEHOST upload in [`State::Authorizing`] and [`State::Storing`].
    hosted: Option<Box<HostedUpload>>,
}

fn limits(cfg: &config::Config) -> Limits {
    Limits {
        max_body: cfg.max_file_size.max(cfg.filehost_max_size),
        ..Limits::default()
    }
}

/// What FILEHOST uploads are held to.
fn host_limits(cfg: &config::Config) -> HostLimits {
    HostLimits {
        max_size: cfg.filehost_max_size,
        total: cfg.filehost_total,
        quota: cfg.filehost_quota,
        uploads: MAX_UPLOADS,
    }
}

/// The headers that let the page at `origin` read an upload's answer (CORS).
fn cors_headers(origin: &str) -> [(&'static str, &str); 4] {
    [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "Location"),
        ("Vary", "Origin"),
    ]
}

/// The page origin of `req` if it may use uploads (`--web-origin`, or this server's own).
fn cors_origin<'r>(cfg: &config::Config, req: &Request<'r>) -> Option<&'r str> {
    req.origin
        .filter(|&o| http::origin_allowed(Some(o), &cfg.web_origin, req.host))
}

/// Writes a response of `status` with a short text body; `close` ends the connection after.
fn answer(
    ctx: &Ctx<'_>,
    out: &mut impl Output,
    status: Status,
    detail: &str,
    close: bool,
    extra: &[(&str, &str)],
) {
    out.raw(ctx.id, |b| {
        http::write_error(b, status, detail, !close, extra)
    });
    if close {
        out.close(ctx.id, CloseReason::Other("HTTP answer given"));
    }
}

/// A token in a link: 32 hex digits.
fn parse_token(text: &str) -> Option<u128> {
    (text.len() == 32)
        .then(|| u128::from_str_radix(text, 16).ok())
        .flatten()
        .filter(|&t| t != 0)
}

/// A file name for `Content-Disposition`: no quotes, slashes or controls.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' | ';' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    if cleaned.trim().is_empty() {
        "file".into()
    } else {
        cleaned
    }
}

/// RFC 5987 percent-encoding for `filename*`.
fn pct(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Http {
    pub fn start(ctx: &Ctx<'_>, metrics_only: bool, out: &mut impl Output) -> Http {
        let head_by = ctx.clock.mono + ctx.cfg.web_request;
        out.wake_at(ctx.id, head_by);
        Http {
            metrics_only,
            scan: HeadScan::new(),
            state: State::Head,
            head_by,
            hosted: None,
        }
    }

    /// Whether the connection's input must wait: a password check, or the file thread
    /// behind on an upload's writes (its socket is not read meanwhile: backpressure).
    pub fn waits(&self) -> bool {
        match (self.state, &self.hosted) {
            (State::Authorizing, _) => true,
            (State::Storing, Some(h)) => {
                h.finishing
                    || h.unacked_jobs >= filehost::WRITE_WINDOW
                    || h.unacked_bytes >= filehost::WRITE_WINDOW_BYTES
            }
            _ => false,
        }
    }

    /// Reads what it can of `data`; returns the bytes used and what the stream is next.
    pub fn input(
        &mut self,
        ctx: &Ctx<'_>,
        data: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> (usize, Flow) {
        if self.state != State::Head {
            // Nothing is read after a request in other states: pipelined bytes wait.
            return (0, Flow::Lines);
        }
        let limits = limits(ctx.cfg);
        if !self.scan.ready(data, &limits) {
            return (0, Flow::Lines);
        }
        match http::parse_request(data, &limits) {
            Ok(None) => (0, Flow::Lines),
            Err(e) => {
                out.raw(ctx.id, |b| e.write_response(b));
                out.close(ctx.id, CloseReason::Other("bad HTTP request"));
                self.state = State::Done;
                (data.len(), Flow::Lines)
            }
            Ok(Some((req, used))) => {
                self.scan.reset();
                let flow = self.route(ctx, &req, hub, out);
                if self.state == State::Head {
                    // Kept alive: the next request has the idle deadline.
                    self.head_by = ctx.clock.mono + IDLE_DEADLINE;
                    out.wake_at(ctx.id, self.head_by);
                }
                (used, flow)
            }
        }
    }

    fn route(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        let segments: Vec<&str> = req.path_segments().filter(|s| !s.is_empty()).collect();
        let get = matches!(req.method, "GET" | "HEAD");
        if self.metrics_only {
            return match (get, segments.as_slice()) {
                (true, ["metrics"]) => Flow::Metrics {
                    keep_alive: req.keep_alive,
                    head_only: req.method == "HEAD",
                },
                _ => {
                    answer(
                        ctx,
                        out,
                        Status::NOT_FOUND,
                        "metrics are at /metrics",
                        true,
                        &[],
                    );
                    self.state = State::Done;
                    Flow::Lines
                }
            };
        }
        let body_ok = matches!(req.method, "PUT" | "POST");
        if req.content_length > 0 && !body_ok {
            answer(ctx, out, Status::BAD_REQUEST, "no body expected", true, &[]);
            self.state = State::Done;
            return Flow::Lines;
        }
        match (req.method, segments.as_slice()) {
            (_, [] | ["ws"] | ["index.html"]) if req.upgrade_websocket => {
                self.upgrade(ctx, req, out)
            }
            ("GET" | "HEAD", [] | ["index.html"]) => {
                self.page(ctx, req, PAGE, out);
                Flow::Lines
            }
            ("GET", ["f", token]) => self.download(ctx, req, token, hub, out),
            ("GET", ["f", token, "decline"]) => {
                self.decline(ctx, req, token, hub, out);
                Flow::Lines
            }
            ("GET", ["f", token, "state"]) => {
                let state = match parse_token(token).and_then(|t| hub.token(t)) {
                    Some(TokenFor::Upload(tid) | TokenFor::Download(tid)) => {
                        hub.transfer_state(tid)
                    }
                    _ => "gone",
                };
                let body = format!("{{\"state\":\"{state}\"}}\n");
                self.json(ctx, req, &body, out);
                Flow::Lines
            }
            ("PUT", ["f", token]) => self.upload(ctx, req, token, hub, out),
            ("GET" | "HEAD", ["u", token]) => {
                match parse_token(token).and_then(|t| hub.token(t)) {
                    Some(TokenFor::SendPage(_)) => self.page(ctx, req, SEND_PAGE, out),
                    _ => answer(
                        ctx,
                        out,
                        Status::GONE,
                        "this link is no longer valid",
                        !req.keep_alive,
                        &[],
                    ),
                }
                Flow::Lines
            }
            ("POST", ["u", token]) => {
                self.offer_from_page(ctx, req, token, hub, out);
                Flow::Lines
            }
            ("OPTIONS", ["upload"]) => {
                self.preflight(ctx, req, hub, out);
                Flow::Lines
            }
            ("POST", ["upload"]) => self.post_upload(ctx, req, hub, out),
            ("GET" | "HEAD", ["file", token] | ["file", token, _]) => {
                self.serve(ctx, req, token, hub, out);
                Flow::Lines
            }
            (
                _,
                [] | ["index.html"] | ["f", ..] | ["u", ..] | ["ws"] | ["upload"] | ["file", ..],
            ) => {
                let allow = match segments.first() {
                    Some(&"u") => "GET, HEAD, POST",
                    Some(&"upload") => "OPTIONS, POST",
                    Some(&"file") => "GET, HEAD",
                    _ => "GET, HEAD, PUT",
                };
                let close = !req.keep_alive || req.content_length > 0;
                answer(
                    ctx,
                    out,
                    Status::METHOD_NOT_ALLOWED,
                    "",
                    close,
                    &[("Allow", allow)],
                );
                if close {
                    self.state = State::Done;
                }
                Flow::Lines
            }
            _ if get => {
                answer(ctx, out, Status::NOT_FOUND, "", !req.keep_alive, &[]);
                Flow::Lines
            }
            _ => {
                let close = !req.keep_alive || req.content_length > 0;
                answer(ctx, out, Status::NOT_FOUND, "", close, &[]);
                if close {
                    self.state = State::Done;
                }
                Flow::Lines
            }
        }
    }

    fn page(&mut self, ctx: &Ctx<'_>, req: &Request<'_>, page: &str, out: &mut impl Output) {
        let head = ResponseHead {
            content_type: Some("text/html; charset=utf-8"),
            csp: http::Csp::Page { host: req.host },
            date: Some(ctx.clock.unix_secs()),
            ..ResponseHead::new(Status::OK, req.keep_alive)
        };
        let head_only = req.method == "HEAD";
        out.raw(ctx.id, |b| {
            head.write(b, page.len() as u64);
            if !head_only {
                b.extend_from_slice(page.as_bytes());
            }
        });
        if !req.keep_alive {
            self.finish(ctx, out);
        }
    }

    fn json(&mut self, ctx: &Ctx<'_>, req: &Request<'_>, body: &str, out: &mut impl Output) {
        let head = ResponseHead {
            content_type: Some("application/json"),
            ..ResponseHead::new(Status::OK, req.keep_alive)
        };
        out.raw(ctx.id, |b| http::write_response(b, &head, body.as_bytes()));
        if !req.keep_alive {
            self.finish(ctx, out);
        }
    }

    fn finish(&mut self, ctx: &Ctx<'_>, out: &mut impl Output) {
        self.state = State::Done;
        out.close(ctx.id, CloseReason::Other("HTTP answer given"));
    }

    fn upgrade(&mut self, ctx: &Ctx<'_>, req: &Request<'_>, out: &mut impl Output) -> Flow {
        if !http::origin_allowed(req.origin, &ctx.cfg.web_origin, req.host) {
            let detail = "this page's origin may not open a WebSocket here (see --web-origin)";
            answer(ctx, out, Status::FORBIDDEN, detail, true, &[]);
            self.state = State::Done;
            return Flow::Lines;
        }
        let accepted = match ws::check_upgrade(req, &SUBPROTOCOLS) {
            Ok(accepted) => accepted,
            Err(e) => {
                out.raw(ctx.id, |b| e.write_response(b, false));
                out.close(ctx.id, CloseReason::Other("bad WebSocket handshake"));
                self.state = State::Done;
                return Flow::Lines;
            }
        };
        out.raw(ctx.id, |b| accepted.write_response(b));
        // No subprotocol named: IRC in text messages, as the IRCv3 specification suggests.
        let (proto, framing) = match accepted.protocol {
            Some(Subprotocol::IrcBinary) => (Proto::Irc, Framing::WsBinary),
            Some(Subprotocol::Native) => (Proto::Native, Framing::WsText),
            Some(Subprotocol::IrcText) | None => (Proto::Irc, Framing::WsText),
        };
        self.state = State::Done;
        Flow::Upgrade { proto, framing }
    }

    fn download(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        token: &str,
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        let tid = match parse_token(token).and_then(|t| hub.token(t)) {
            Some(TokenFor::Download(tid)) => tid,
            _ => {
                let detail =
                    "this file is no longer offered (declined, expired, cancelled or done)";
                answer(ctx, out, Status::GONE, detail, !req.keep_alive, &[]);
                return Flow::Lines;
            }
        };
        match hub.open_download(tid, ctx.id, ctx.clock, out) {
            Ok(file) => {
                let name = safe_name(&file.name);
                let disposition = format!(
                    "attachment; filename=\"{name}\"; filename*=UTF-8''{}",
                    pct(&file.name)
                );
                let head = ResponseHead {
                    content_type: Some("application/octet-stream"),
                    extra: &[("Content-Disposition", &disposition)],
                    ..ResponseHead::new(Status::OK, false)
                };
                out.raw(ctx.id, |b| head.write(b, file.size));
                self.state = State::Download { transfer: tid };
                out.wake_at(ctx.id, ctx.clock.mono + DOWNLOAD_CHECK);
                if file.size == 0 {
                    self.finish(ctx, out);
                }
            }
            Err(why) => {
                let detail = match why {
                    LinkRefusal::InUse => "this file is being downloaded already",
                    _ => "this file is no longer offered",
                };
                answer(ctx, out, Status::CONFLICT, detail, !req.keep_alive, &[]);
            }
        }
        Flow::Lines
    }

    fn decline(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        token: &str,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        match parse_token(token).and_then(|t| hub.token(t)) {
            Some(TokenFor::Download(tid)) => {
                hub.decline_by_link(tid, ctx.clock, out);
                answer(
                    ctx,
                    out,
                    Status::OK,
                    "declined; the sender has been told",
                    !req.keep_alive,
                    &[],
                );
            }
            _ => answer(
                ctx,
                out,
                Status::GONE,
                "this file is no longer offered",
                !req.keep_alive,
                &[],
            ),
        }
    }

    fn upload(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        token: &str,
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        let refuse = |this: &mut Http, out: &mut _, status, detail: &str| {
            // The body is not read: the connection closes after the answer.
            answer(ctx, out, status, detail, true, &[]);
            this.state = State::Done;
            Flow::Lines
        };
        let Some(TokenFor::Upload(tid)) = parse_token(token).and_then(|t| hub.token(t)) else {
            return refuse(self, out, Status::GONE, "this offer is no longer open");
        };
        let (file, to) = match hub.open_upload(tid, ctx.id, ctx.clock) {
            Ok(opened) => opened,
            Err(LinkRefusal::NotYet) => {
                return refuse(
                    self,
                    out,
                    Status::CONFLICT,
                    "the recipient has not accepted yet",
                )
            }
            Err(LinkRefusal::InUse) => {
                return refuse(
                    self,
                    out,
                    Status::CONFLICT,
                    "this file is being sent already",
                )
            }
            Err(LinkRefusal::Gone) => {
                return refuse(self, out, Status::GONE, "this offer is no longer open")
            }
        };
        if req.content_length != file.size {
            hub.pipe_closed(tid, ctx.id, out);
            let detail = format!(
                "the offer was for {} bytes, this body has {}",
                file.size, req.content_length
            );
            return refuse(self, out, Status::BAD_REQUEST, &detail);
        }
        if req.expect_continue {
            out.raw(ctx.id, |b| b.extend_from_slice(http::CONTINUE_RESPONSE));
        }
        if file.size == 0 {
            return Flow::Lines;
        }
        self.state = State::Upload {
            transfer: tid,
            left: file.size,
            cut: false,
        };
        Flow::Raw {
            len: file.size,
            frame: DataFrame {
                transfer: tid,
                to: Some(to),
            },
        }
    }

    fn offer_from_page(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        token: &str,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        let Some(TokenFor::SendPage(page)) = parse_token(token).and_then(|t| hub.token(t)) else {
            return answer(
                ctx,
                out,
                Status::GONE,
                "this link is no longer valid",
                !req.keep_alive,
                &[],
            );
        };
        let name = req
            .query_value("name")
            .and_then(|n| http::decode_query_value(n).ok())
            .filter(|n| !n.trim().is_empty() && n.len() <= 255 && !n.chars().any(char::is_control));
        let size = req.query_value("size").and_then(|s| s.parse::<u64>().ok());
        let (Some(name), Some(size)) = (name, size) else {
            let detail = "needs ?name=NAME&size=BYTES";
            return answer(ctx, out, Status::BAD_REQUEST, detail, !req.keep_alive, &[]);
        };
        match hub.offer_from_page(page, size, &name, ctx.clock, out) {
            Ok((tid, up)) => {
                let body = format!("{{\"id\":{tid},\"upload\":\"/f/{up:032x}\"}}\n");
                self.json(ctx, req, &body, out);
            }
            Err(_) => answer(
                ctx,
                out,
                Status::CONFLICT,
                "the offer could not be made (see your IRC client for why)",
                !req.keep_alive,
                &[],
            ),
        }
    }

    /// `OPTIONS /upload`: what uploads accept; a page allowed by `--web-origin` (or this
    /// server's own) also gets the CORS answer its browser asks for before a `POST`.
    fn preflight(&mut self, ctx: &Ctx<'_>, req: &Request<'_>, hub: &Hub, out: &mut impl Output) {
        if hub.filehost_url().is_none() {
            let close = !req.keep_alive || req.content_length > 0;
            answer(
                ctx,
                out,
                Status::NOT_FOUND,
                "uploads are off here",
                close,
                &[],
            );
            if close {
                self.state = State::Done;
            }
            return;
        }
        let mut extra = vec![("Allow", "OPTIONS, POST"), ("Accept-Post", "*/*")];
        if let Some(origin) = cors_origin(ctx.cfg, req) {
            extra.extend(cors_headers(origin));
            extra.extend([
                ("Access-Control-Allow-Methods", "POST, OPTIONS"),
                (
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, Content-Disposition",
                ),
                ("Access-Control-Max-Age", "3600"),
            ]);
        }
        let head = ResponseHead {
            extra: &extra,
            ..ResponseHead::new(Status::NO_CONTENT, req.keep_alive)
        };
        out.raw(ctx.id, |b| head.write(b, 0));
        if !req.keep_alive {
            self.finish(ctx, out);
        }
    }

    /// Answers a FILEHOST upload with `status` and closes (its body is not read further).
    fn refuse_upload(
        &mut self,
        ctx: &Ctx<'_>,
        cors: Option<&str>,
        status: Status,
        detail: &str,
        extra: &[(&str, &str)],
        out: &mut impl Output,
    ) -> Flow {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(origin) = cors {
            headers.extend(cors_headers(origin));
        }
        answer(ctx, out, status, detail, true, &headers);
        self.state = State::Done;
        Flow::Lines
    }

    /// `POST /upload`: checks what the head says, then hands the password check off the
    /// loop; the body waits in the socket until it is answered.
    fn post_upload(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        let cors = cors_origin(ctx.cfg, req);
        if hub.filehost_url().is_none() {
            return self.refuse_upload(
                ctx,
                cors,
                Status::NOT_FOUND,
                "uploads are off here",
                &[],
                out,
            );
        }
        if req.origin.is_some() && cors.is_none() {
            let detail = "this page's origin may not upload here (see --web-origin)";
            return self.refuse_upload(ctx, None, Status::FORBIDDEN, detail, &[], out);
        }
        if req.header("content-length").is_none() {
            let detail = "an upload needs a Content-Length";
            return self.refuse_upload(ctx, cors, Status::LENGTH_REQUIRED, detail, &[], out);
        }
        let size = req.content_length;
        let max = ctx.cfg.filehost_max_size;
        if size > max {
            let detail = format!("files up to {max} bytes may be uploaded; this one has {size}");
            return self.refuse_upload(ctx, cors, Status::CONTENT_TOO_LARGE, &detail, &[], out);
        }
        let challenge = [("WWW-Authenticate", CHALLENGE)];
        let credentials = match req.header("authorization").map(fh::parse_authorization) {
            None => {
                let detail = "log in: send your account name and password (HTTP Basic)";
                return self.refuse_upload(
                    ctx,
                    cors,
                    Status::UNAUTHORIZED,
                    detail,
                    &challenge,
                    out,
                );
            }
            Some(Err(why)) => {
                return self.refuse_upload(ctx, cors, Status::UNAUTHORIZED, why, &challenge, out)
            }
            Some(Ok(Credentials::Bearer(_))) => {
                let detail = "only Basic credentials (account name and password) are accepted";
                return self.refuse_upload(
                    ctx,
                    cors,
                    Status::UNAUTHORIZED,
                    detail,
                    &challenge,
                    out,
                );
            }
            Some(Ok(Credentials::Basic { user, password })) => (user, password),
        };
        let (user, password) = credentials;
        let Ok(key) = hub.account_key(&user) else {
            let detail = "wrong account or password";
            return self.refuse_upload(ctx, cors, Status::UNAUTHORIZED, detail, &challenge, out);
        };
        if let Err(wait) = hub.login_allowed(&key, ctx.peer, ctx.clock.mono) {
            let secs = (wait.as_secs() + 1).to_string();
            let detail = "too many wrong passwords: wait before trying again";
            let retry = [("Retry-After", secs.as_str())];
            return self.refuse_upload(ctx, cors, Status::TOO_MANY_REQUESTS, detail, &retry, out);
        }
        let disposition = req
            .header("content-disposition")
            .map(fh::parse_disposition)
            .unwrap_or_default();
        // Rounded up: a file lives at least the expiry, never a fraction of a second less.
        let created = ctx.clock.unix_ms.div_ceil(1000);
        self.hosted = Some(Box::new(HostedUpload {
            file: HostedFile {
                token: 0,
                account: key.clone(),
                name: disposition.name.unwrap_or_else(|| "file".into()).into(),
                content_type: fh::content_type(req.header("content-type")).into(),
                inline: disposition.inline,
                size,
                created,
                expires: created.saturating_add(ctx.cfg.filehost_expiry.as_secs()),
            },
            expect_continue: req.expect_continue,
            cors: cors.map(Into::into),
            reserved: false,
            left: size,
            unacked_jobs: 0,
            unacked_bytes: 0,
            finishing: false,
            last: ctx.clock.mono,
        }));
        out.submit(
            ctx.id,
            TAG_LOGIN,
            crate::front::Job::Login {
                key: key.into(),
                password,
            },
        );
        self.state = State::Authorizing;
        if size == 0 {
            return Flow::Lines;
        }
        Flow::Raw {
            len: size,
            frame: DataFrame::default(),
        }
    }

    /// The answer to the password check of a FILEHOST upload.
    pub fn answer(
        &mut self,
        ctx: &Ctx<'_>,
        tag: u32,
        result: CallResult,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if tag != TAG_LOGIN || self.state != State::Authorizing {
            return;
        }
        let Some(mut up) = self.hosted.take() else {
            return;
        };
        let cors = up.cors.clone();
        let cors = cors.as_deref();
        let key = up.file.account.clone();
        let challenge = [("WWW-Authenticate", CHALLENGE)];
        match result {
            CallResult::Login(Ok(_)) => hub.login_succeeded(&key),
            CallResult::Login(Err(AccountError::BadPassword | AccountError::NoSuchAccount)) => {
                hub.login_failed(&key, ctx.peer, ctx.clock.mono);
                let detail = "wrong account or password";
                self.refuse_upload(ctx, cors, Status::UNAUTHORIZED, detail, &challenge, out);
                return;
            }
            _ => {
                let detail = "accounts cannot be checked now; try again later";
                let retry = [("Retry-After", "10")];
                self.refuse_upload(ctx, cors, Status::SERVICE_UNAVAILABLE, detail, &retry, out);
                return;
            }
        }
        let size = up.file.size;
        if let Err(why) = hub.hosted_mut().reserve(&key, size, &host_limits(ctx.cfg)) {
            let hours = ctx.cfg.filehost_expiry.as_secs().div_ceil(3600);
            let (status, detail) = match why {
                HostRefusal::TooLarge { max } => (
                    Status::CONTENT_TOO_LARGE,
                    format!("files up to {max} bytes may be uploaded"),
                ),
                HostRefusal::OverQuota { quota, used } => (
                    Status::CONTENT_TOO_LARGE,
                    format!(
                        "over your quota: you have {used} of {quota} bytes stored; \
                         uploads are deleted after {hours} h"
                    ),
                ),
                HostRefusal::Full { total } => (
                    Status::INSUFFICIENT_STORAGE,
                    format!(
                        "the server's room for uploads ({total} bytes) is full; \
                         try again when older ones expire"
                    ),
                ),
                HostRefusal::Busy => (
                    Status::SERVICE_UNAVAILABLE,
                    "too many uploads under way; try again in a moment".to_string(),
                ),
            };
            let retry = [("Retry-After", "10")];
            let extra: &[(&str, &str)] = if status == Status::SERVICE_UNAVAILABLE {
                &retry
            } else {
                &[]
            };
            self.refuse_upload(ctx, cors, status, &detail, extra, out);
            return;
        }
        up.reserved = true;
        up.file.token = hub.new_hosted_token();
        up.last = ctx.clock.mono;
        if up.expect_continue {
            out.raw(ctx.id, |b| b.extend_from_slice(http::CONTINUE_RESPONSE));
        }
        self.state = State::Storing;
        out.wake_at(ctx.id, ctx.clock.mono + UPLOAD_IDLE);
        let empty = size == 0;
        self.hosted = Some(up);
        if empty {
            self.finish_upload(ctx, hub, out);
        }
    }

    /// Body bytes of a FILEHOST upload: handed to the file thread, and once all came, the
    /// file is stored.
    fn store_bytes(&mut self, ctx: &Ctx<'_>, bytes: &[u8], hub: &mut Hub, out: &mut impl Output) {
        let Some(up) = self.hosted.as_mut() else {
            return;
        };
        let token = up.file.token;
        let job = DiskJob::Append {
            token,
            bytes: bytes.to_vec(),
        };
        if !out.disk(ctx.id, job) {
            return self.upload_failed(ctx, "the server is too busy to store files now", hub, out);
        }
        up.unacked_jobs += 1;
        up.unacked_bytes += bytes.len();
        up.left = up.left.saturating_sub(bytes.len() as u64);
        up.last = ctx.clock.mono;
        if up.left == 0 {
            self.finish_upload(ctx, hub, out);
        }
    }

    fn finish_upload(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        let Some(up) = self.hosted.as_mut() else {
            return;
        };
        up.finishing = true;
        let job = DiskJob::Finish(up.file.clone());
        if !out.disk(ctx.id, job) {
            self.upload_failed(ctx, "the server is too busy to store files now", hub, out);
        }
    }

    /// The upload cannot be stored: its room is given back, what was written goes, and the
    /// client is told.
    fn upload_failed(&mut self, ctx: &Ctx<'_>, why: &str, hub: &mut Hub, out: &mut impl Output) {
        let Some(up) = self.hosted.take() else {
            return;
        };
        if up.reserved {
            hub.hosted_mut().unreserve(&up.file.account, up.file.size);
            out.disk(
                ctx.id,
                DiskJob::Abort {
                    token: up.file.token,
                },
            );
        }
        let status = if why.contains("busy") {
            Status::SERVICE_UNAVAILABLE
        } else {
            Status::INSUFFICIENT_STORAGE
        };
        let detail = format!("the file could not be stored: {why}");
        self.refuse_upload(ctx, up.cors.as_deref(), status, &detail, &[], out);
    }

    /// `GET /file/TOKEN`: a stored file, its type and name as uploaded, read from disk a
    /// chunk at a time as the socket drains.
    fn serve(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        token: &str,
        hub: &Hub,
        out: &mut impl Output,
    ) {
        let Some(file) = parse_token(token).and_then(|t| hub.hosted().get(t)) else {
            let detail = "no such file: the link is wrong, or the file expired";
            return answer(ctx, out, Status::NOT_FOUND, detail, !req.keep_alive, &[]);
        };
        let head_only = req.method == "HEAD";
        // A HEAD keeps the connection; a body closes it when it is out.
        let keep_alive = head_only && req.keep_alive;
        let disposition = fh::disposition_header(file.inline, &file.name);
        let extra = [
            ("Content-Disposition", disposition.as_str()),
            ("Access-Control-Allow-Origin", "*"),
            ("Accept-Ranges", "none"),
        ];
        let head = ResponseHead {
            content_type: Some(&file.content_type),
            cache_control: "private, max-age=3600",
            date: Some(ctx.clock.unix_secs()),
            extra: &extra,
            ..ResponseHead::new(Status::OK, keep_alive)
        };
        out.raw(ctx.id, |b| head.write(b, file.size));
        if head_only || file.size == 0 {
            if !keep_alive {
                self.finish(ctx, out);
            }
            return;
        }
        self.state = State::Serving {
            token: file.token,
            sent: 0,
            size: file.size,
            last: ctx.clock.mono,
        };
        out.wake_at(ctx.id, ctx.clock.mono + UPLOAD_IDLE);
        self.read_next(ctx, out);
    }

    /// Asks the file thread for the next chunk of the file being served.
    fn read_next(&mut self, ctx: &Ctx<'_>, out: &mut impl Output) {
        let State::Serving {
            token, sent, size, ..
        } = self.state
        else {
            return;
        };
        let len = (size - sent).min(filehost::READ_CHUNK as u64) as usize;
        let job = DiskJob::Read {
            token,
            offset: sent,
            len,
        };
        if !out.disk(ctx.id, job) {
            // Mid-body: the close is all that can be said.
            self.finish(ctx, out);
        }
    }

    /// What the file thread did with this connection's job.
    pub fn disk(&mut self, ctx: &Ctx<'_>, done: DiskDone, hub: &mut Hub, out: &mut impl Output) {
        match (self.state, done) {
            (State::Storing, DiskDone::Written(n)) => {
                if let Some(up) = self.hosted.as_mut() {
                    up.unacked_jobs = up.unacked_jobs.saturating_sub(1);
                    up.unacked_bytes = up.unacked_bytes.saturating_sub(n);
                }
            }
            (State::Storing, DiskDone::Stored(Ok(()))) => {
                let Some(up) = self.hosted.take() else {
                    return;
                };
                let file = up.file;
                let mut link = format!(
                    "{}/file/{:032x}/",
                    hub.files_url().unwrap_or(""),
                    file.token
                );
                fh::pct_encode(&file.name, &mut link);
                hub.hosted_mut().stored(file);
                let mut extra = vec![("Location", link.as_str())];
                if let Some(origin) = up.cors.as_deref() {
                    extra.extend(cors_headers(origin));
                }
                let head = ResponseHead {
                    content_type: Some("text/plain; charset=utf-8"),
                    extra: &extra,
                    ..ResponseHead::new(Status::CREATED, false)
                };
                let body = format!("{link}\n");
                out.raw(ctx.id, |b| http::write_response(b, &head, body.as_bytes()));
                self.finish(ctx, out);
            }
            (State::Storing, DiskDone::Stored(Err(why))) => {
                self.upload_failed(ctx, &why, hub, out);
            }
            (
                State::Serving {
                    token, sent, size, ..
                },
                DiskDone::Chunk(Ok(bytes)),
            ) => {
                let sent = sent + bytes.len() as u64;
                out.raw(ctx.id, |b| b.extend_from_slice(&bytes));
                if sent >= size {
                    self.finish(ctx, out);
                } else {
                    self.state = State::Serving {
                        token,
                        sent,
                        size,
                        last: ctx.clock.mono,
                    };
                    out.when_drained(ctx.id);
                }
            }
            (State::Serving { .. }, DiskDone::Chunk(Err(_))) => self.finish(ctx, out),
            _ => {}
        }
    }

    /// What was queued for the client is mostly written: the next chunk of a stored file.
    pub fn drained(&mut self, ctx: &Ctx<'_>, out: &mut impl Output) {
        if matches!(self.state, State::Serving { .. }) {
            self.read_next(ctx, out);
        }
    }

    /// Body bytes of an upload: forwarded to the recipient with backpressure. When all have
    /// come the uploader hears whether the file went through.
    pub fn raw(
        &mut self,
        ctx: &Ctx<'_>,
        frame: DataFrame,
        bytes: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        match self.state {
            State::Storing if !self.hosted.as_ref().is_some_and(|h| h.finishing) => {
                self.store_bytes(ctx, bytes, hub, out);
                return Flow::Lines;
            }
            State::Authorizing => {
                // The check took longer than the loop holds input for.
                let why = "the server is too busy to check accounts now";
                self.upload_failed(ctx, why, hub, out);
                return Flow::Lines;
            }
            _ => {}
        }
        let State::Upload {
            transfer,
            left,
            mut cut,
        } = self.state
        else {
            return Flow::Lines;
        };
        cut |= !hub.transfer_active(transfer);
        let flow = super::native::forward(ctx, frame, bytes, hub, out);
        if flow == Flow::Paused {
            return flow;
        }
        let left = left.saturating_sub(bytes.len() as u64);
        self.state = State::Upload {
            transfer,
            left,
            cut,
        };
        if left == 0 {
            let (status, detail) = match cut {
                false => (Status::OK, "sent"),
                true => (Status::GONE, "the transfer ended before all of it was sent"),
            };
            answer(ctx, out, status, detail, true, &[]);
            self.state = State::Done;
        }
        flow
    }

    pub fn timer(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        let now = ctx.clock.mono;
        match self.state {
            State::Head if now >= self.head_by => {
                // A request that takes this long is a slowloris, or a kept-alive connection
                // nobody uses: either way it goes.
                out.close(ctx.id, CloseReason::Other("HTTP request not in time"));
                self.state = State::Done;
            }
            State::Head => out.wake_at(ctx.id, self.head_by),
            State::Download { transfer } if !hub.transfer_active(transfer) => {
                // Done (all bytes are queued) or aborted: the response ends here.
                self.finish(ctx, out);
            }
            State::Download { .. } => out.wake_at(ctx.id, now + DOWNLOAD_CHECK),
            State::Storing => {
                let Some(last) = self.hosted.as_ref().map(|h| h.last) else {
                    return;
                };
                if now >= last + UPLOAD_IDLE {
                    // closed() gives the upload's room back.
                    self.finish(ctx, out);
                } else {
                    out.wake_at(ctx.id, last + UPLOAD_IDLE);
                }
            }
            State::Serving { last, .. } if now >= last + UPLOAD_IDLE => {
                // A reader that took nothing for this long is not coming back.
                self.finish(ctx, out);
            }
            State::Serving { last, .. } => out.wake_at(ctx.id, last + UPLOAD_IDLE),
            State::Upload { .. } | State::Authorizing | State::Done => {}
        }
    }

    /// The connection is gone: a file it carried ends with it.
    pub fn closed(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        match self.state {
            State::Download { transfer } | State::Upload { transfer, .. } => {
                hub.pipe_closed(transfer, ctx.id, out)
            }
            State::Head | State::Done | State::Authorizing | State::Serving { .. } => {}
            State::Storing => {}
        }
        // An upload cut short: its room is given back and what was written goes (after a
        // store that may still finish, the file is deleted: nobody was told its link).
        if let Some(up) = self.hosted.take().filter(|h| h.reserved) {
            hub.hosted_mut().unreserve(&up.file.account, up.file.size);
            let token = up.file.token;
            let job = if up.finishing {
                DiskJob::Delete { token }
            } else {
                DiskJob::Abort { token }
            };
            out.disk(ctx.id, job);
        }
    }
}

/// What a web connection is told of hub events: only refusals, as HTTP errors.
pub fn encode(event: &Event<'_>, out: &mut Vec<u8>) {
    let (status, detail) = match event {
        Event::Fail(Fail::ServerFull) => (
            Status::SERVICE_UNAVAILABLE,
            "the server is full, try again later",
        ),
        Event::Fail(Fail::TooManyFromAddress) => (
            Status::SERVICE_UNAVAILABLE,
            "too many connections from your address",
        ),
        Event::Fail(Fail::ConnectingTooFast) => (
            Status::SERVICE_UNAVAILABLE,
            "you connect too often, try again in a minute",
        ),
        Event::Fail(Fail::TlsRequired) => (Status::BAD_REQUEST, "this port speaks HTTPS"),
        _ => return,
    };
    http::write_error(out, status, detail, false, &[("Retry-After", "60")]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_names() {
        assert_eq!(parse_token(&format!("{:032x}", 0xabcu128)), Some(0xabc));
        assert_eq!(parse_token("xyz"), None);
        assert_eq!(parse_token(&"0".repeat(32)), None);
        assert_eq!(safe_name("a\"b/c;d\u{7}.txt"), "a_b_c_d_.txt");
        assert_eq!(safe_name("  "), "file");
        assert_eq!(
            pct("rødgrød med fløde.txt"),
            "r%C3%B8dgr%C3%B8d%20med%20fl%C3%B8de.txt"
        );
    }
}
