//! FILEHOST on the web listener: `OPTIONS /upload` (what uploads accept, CORS), `POST
//! /upload` (an account's file, stored by the file thread) and `GET /file/TOKEN` (a stored
//! file, read a chunk at a time as the socket drains). The routing, the connection's states
//! and its timers are in the parent module.

use std::time::Instant;

use super::{answer, parse_token, Http, State, UPLOAD_IDLE};
use crate::config;
use crate::filehost::{self, Done as DiskDone, Job as DiskJob};
use crate::front::{Ctx, DataFrame, Flow, Output};
use crate::hub::{HostLimits, HostRefusal, HostedFile, Hub};
use crate::proto::filehost::{self as fh, Credentials};
use crate::proto::http::{self, Request, ResponseHead, Status};
use crate::store::{AccountError, CallResult};

/// FILEHOST uploads under way at once, on the whole server (more get `503`).
pub const MAX_UPLOADS: usize = 32;
/// The tag of a FILEHOST upload's password check.
const TAG_LOGIN: u32 = 1;
/// What `WWW-Authenticate` asks for.
const CHALLENGE: &str = "Basic realm=\"snak\", charset=\"UTF-8\"";

/// A FILEHOST upload under way.
#[derive(Debug)]
pub(super) struct HostedUpload {
    /// The file as it will be stored (its token once the account is known).
    pub(super) file: HostedFile,
    pub(super) expect_continue: bool,
    /// The page origin allowed to read the answer (CORS), if a browser sent one.
    pub(super) cors: Option<Box<str>>,
    /// Room is taken for it in the hub (given back if it does not finish).
    pub(super) reserved: bool,
    /// Bytes still to come from the client.
    pub(super) left: u64,
    /// Writes handed to the file thread and not yet done.
    pub(super) unacked_jobs: usize,
    pub(super) unacked_bytes: usize,
    /// All bytes came; the file thread is storing it.
    pub(super) finishing: bool,
    /// When the client last sent something.
    pub(super) last: Instant,
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

impl Http {
    /// `OPTIONS /upload`: what uploads accept; a page allowed by `--web-origin` (or this
    /// server's own) also gets the CORS answer its browser asks for before a `POST`.
    pub(super) fn preflight(
        &mut self,
        ctx: &Ctx<'_>,
        req: &Request<'_>,
        hub: &Hub,
        out: &mut impl Output,
    ) {
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
    pub(super) fn post_upload(
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
            Some(Ok(Credentials::Basic { user, password })) => Ok((user, password)),
            None => Err("log in: send your account name and password (HTTP Basic)"),
            Some(Err(why)) => Err(why),
            Some(Ok(Credentials::Bearer(_))) => {
                Err("only Basic credentials (account name and password) are accepted")
            }
        };
        let (user, password) = match credentials {
            Ok(credentials) => credentials,
            Err(detail) => {
                let status = Status::UNAUTHORIZED;
                return self.refuse_upload(ctx, cors, status, detail, &challenge, out);
            }
        };
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
    pub(super) fn store_bytes(
        &mut self,
        ctx: &Ctx<'_>,
        bytes: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
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
    pub(super) fn upload_failed(
        &mut self,
        ctx: &Ctx<'_>,
        why: &str,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
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
    pub(super) fn serve(
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
}
