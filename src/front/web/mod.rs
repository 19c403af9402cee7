//! The web front end: HTTP/1.1 on the loop. It serves snak's own page (embedded in the
//! binary), upgrades to WebSocket for IRC (`text.ircv3.net`, `binary.ircv3.net`) and the
//! native protocol (`snak.native`), and carries files through links: a recipient's download
//! (`GET /f/TOKEN`, which accepts the offer) and a sender's upload (`PUT /f/TOKEN`), plus an
//! upload page for users whose protocol cannot send files (`/u/TOKEN`, for IRC users); and
//! FILEHOST uploads, which are stored (see `hosted.rs`).
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

mod hosted;

use hosted::HostedUpload;

use super::{CloseReason, Ctx, DataFrame, Flow, Framing, Output, Proto};
use crate::config;
use crate::event::{Event, Fail};
use crate::filehost::{self, Job as DiskJob};
use crate::hub::{Hub, LinkRefusal, TokenFor};
use crate::proto::http::{self, HeadScan, Limits, Request, ResponseHead, Status};
use crate::proto::ws::{self, Subprotocol};

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
