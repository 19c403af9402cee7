//! Requests: the key-value calls, their answers, their deadlines. Each request gets a reply
//! subject of its own under the bus's inbox (`<inbox>.r.<n>`, n never reused), so a late
//! answer to a request already given up is recognised and ignored. A `create` may take three
//! round trips (the write; on refusal a get to see whether the key holds only a delete
//! marker; then the write against the marker's revision) under the first one's deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use log::{debug, warn};

use super::js::{self, Answer, Got, Op as StoredOp};
use super::{Bus, BusError, BusEvent, KvEntry, RequestError, RequestId, Response};
use crate::proto::nats::{self, Headers};

/// A refused `create` is looked at and retried at most this often before giving up.
const CREATE_ATTEMPTS: u8 = 3;

#[derive(Debug, Clone)]
pub(super) enum UserOp {
    /// [`Bus::request`]: the answer is a message.
    Message,
    Bucket,
    Put,
    /// A conditional write or delete: a failed condition is `WrongRevision`.
    Conditional,
    Delete,
    Get,
    /// The write that fails if the key has a message.
    Create {
        bucket: String,
        key: String,
        value: Vec<u8>,
        attempt: u8,
    },
    /// The get after a refused create.
    CreateCheck {
        bucket: String,
        key: String,
        value: Vec<u8>,
        attempt: u8,
    },
    /// The write over a delete marker.
    CreateOverMarker,
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    User {
        id: RequestId,
        what: UserOp,
    },
    WatchInfo {
        watch: u64,
        generation: u64,
    },
    WatchCreate {
        watch: u64,
        generation: u64,
    },
    /// Keepalive renewals and the bus's own deletes: the outcome is only logged.
    Internal,
}

#[derive(Debug)]
struct Outgoing {
    subject: String,
    headers: Option<Headers>,
    payload: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    op: Op,
    deadline: Instant,
    /// Kept until it is written (it waits while NATS is away).
    unsent: Option<Outgoing>,
}

#[derive(Debug, Default)]
pub(super) struct Requests {
    pending: HashMap<u64, Pending>,
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    next_wire: u64,
    next_user: u64,
}

impl Requests {
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }
}

/// A bucket and key as JetStream accepts them.
pub(super) fn check(bucket: &str, key: &str) -> Result<(), BusError> {
    if !super::names::valid_bucket(bucket) {
        return Err(BusError::BadBucket(bucket.into()));
    }
    if !super::names::valid_key(key) {
        return Err(BusError::BadKey(key.into()));
    }
    Ok(())
}

fn check_bucket(bucket: &str) -> Result<(), BusError> {
    if super::names::valid_bucket(bucket) {
        Ok(())
    } else {
        Err(BusError::BadBucket(bucket.into()))
    }
}

impl Bus {
    // ---- the calls ----

    /// Sends a request to whoever subscribes to `subject` (a DM to a user's subject, a WHOIS);
    /// the first answer comes back as [`Response::Message`], or
    /// [`RequestError::NoResponders`] at once if nobody listens, or `Timeout`.
    pub fn request(
        &mut self,
        subject: &str,
        headers: &Headers,
        payload: &[u8],
        now: Instant,
    ) -> Result<RequestId, BusError> {
        nats::subject::check_publish(subject).map_err(BusError::BadSubject)?;
        let headers = (!headers.is_empty()).then(|| headers.clone());
        self.user_request(
            UserOp::Message,
            subject.into(),
            headers,
            payload.to_vec(),
            now,
        )
    }

    /// Creates the bucket (or checks that it exists with this configuration).
    pub fn kv_bucket(
        &mut self,
        bucket: &str,
        cfg: &js::BucketConfig,
        now: Instant,
    ) -> Result<RequestId, BusError> {
        check_bucket(bucket)?;
        let (subject, body) = js::create_bucket(bucket, cfg);
        self.user_request(UserOp::Bucket, subject, None, body, now)
    }

    /// Sets `key` whatever it holds.
    pub fn kv_put(
        &mut self,
        bucket: &str,
        key: &str,
        value: &[u8],
        now: Instant,
    ) -> Result<RequestId, BusError> {
        check(bucket, key)?;
        let subject = js::key_subject(bucket, key);
        self.user_request(UserOp::Put, subject, None, value.to_vec(), now)
    }

    /// Sets `key` only if it has no value: the answer is its revision, or
    /// [`RequestError::AlreadyExists`]. Of any number of nodes creating the same key at once,
    /// exactly one succeeds.
    pub fn kv_create(
        &mut self,
        bucket: &str,
        key: &str,
        value: &[u8],
        now: Instant,
    ) -> Result<RequestId, BusError> {
        check(bucket, key)?;
        let subject = js::key_subject(bucket, key);
        let what = UserOp::Create {
            bucket: bucket.into(),
            key: key.into(),
            value: value.to_vec(),
            attempt: 1,
        };
        let headers = Some(js::expect_revision(0));
        self.user_request(what, subject, headers, value.to_vec(), now)
    }

    /// Sets `key` only if its revision is still `revision`; else [`RequestError::WrongRevision`].
    pub fn kv_update(
        &mut self,
        bucket: &str,
        key: &str,
        value: &[u8],
        revision: u64,
        now: Instant,
    ) -> Result<RequestId, BusError> {
        check(bucket, key)?;
        let subject = js::key_subject(bucket, key);
        let headers = Some(js::expect_revision(revision));
        self.user_request(UserOp::Conditional, subject, headers, value.to_vec(), now)
    }

    /// The value of `key`, or None.
    pub fn kv_get(&mut self, bucket: &str, key: &str, now: Instant) -> Result<RequestId, BusError> {
        check(bucket, key)?;
        let subject = js::direct_get(bucket, key);
        self.user_request(UserOp::Get, subject, None, Vec::new(), now)
    }

    /// Deletes `key` (leaving a delete marker, so watchers hear of it); with `revision`, only
    /// if it is still that revision.
    pub fn kv_delete(
        &mut self,
        bucket: &str,
        key: &str,
        revision: Option<u64>,
        now: Instant,
    ) -> Result<RequestId, BusError> {
        check(bucket, key)?;
        let subject = js::key_subject(bucket, key);
        let headers = Some(js::delete_headers(false, revision));
        let what = if revision.is_some() {
            UserOp::Conditional
        } else {
            UserOp::Delete
        };
        self.user_request(what, subject, headers, Vec::new(), now)
    }

    /// Deletes `key` and its history.
    pub fn kv_purge(
        &mut self,
        bucket: &str,
        key: &str,
        now: Instant,
    ) -> Result<RequestId, BusError> {
        check(bucket, key)?;
        let subject = js::key_subject(bucket, key);
        let headers = Some(js::delete_headers(true, None));
        self.user_request(UserOp::Delete, subject, headers, Vec::new(), now)
    }

    // ---- sending ----

    fn user_request(
        &mut self,
        what: UserOp,
        subject: String,
        headers: Option<Headers>,
        payload: Vec<u8>,
        now: Instant,
    ) -> Result<RequestId, BusError> {
        if self.requests.len() >= self.cfg.max_requests {
            return Err(BusError::Busy);
        }
        let size = headers.as_ref().map_or(0, Headers::encoded_len) + payload.len();
        let limit = self.conn.max_payload();
        if size > limit {
            return Err(BusError::TooLarge { size, limit });
        }
        self.requests.next_user += 1;
        let id = RequestId(self.requests.next_user);
        self.stats.requests += 1;
        let deadline = now + self.cfg.request_timeout;
        self.send_request(Op::User { id, what }, subject, headers, payload, deadline);
        Ok(id)
    }

    /// Queues a request (written now if connected) under a new reply subject.
    pub(super) fn send_request(
        &mut self,
        op: Op,
        subject: String,
        headers: Option<Headers>,
        payload: Vec<u8>,
        deadline: Instant,
    ) {
        self.requests.next_wire += 1;
        let wire = self.requests.next_wire;
        let mut pending = Pending {
            op,
            deadline,
            unsent: Some(Outgoing {
                subject,
                headers,
                payload,
            }),
        };
        if self.conn.is_connected() {
            self.write_request(wire, &mut pending);
        }
        self.requests.pending.insert(wire, pending);
        self.requests.deadlines.push(Reverse((deadline, wire)));
    }

    fn write_request(&mut self, wire: u64, pending: &mut Pending) {
        let Some(msg) = pending.unsent.take() else {
            return;
        };
        let reply = format!("{}.r.{wire}", self.inbox);
        let out = &mut self.conn.out;
        let written = match &msg.headers {
            Some(h) => nats::write_hpub(out, &msg.subject, Some(&reply), h, &msg.payload),
            None => nats::write_pub(out, &msg.subject, Some(&reply), &msg.payload),
        };
        if let Err(e) = written {
            // Subjects are built from checked names; this would be a bug, not input.
            warn!("bus: request to {} not written: {e}", msg.subject);
        }
    }

    /// After a reconnect: what waited is written, if its deadline has not passed.
    pub(super) fn send_waiting_requests(&mut self, now: Instant) {
        let mut waiting: Vec<u64> = self
            .requests
            .pending
            .iter()
            .filter(|(_, p)| p.unsent.is_some() && p.deadline > now)
            .map(|(&w, _)| w)
            .collect();
        waiting.sort_unstable();
        for wire in waiting {
            if let Some(mut p) = self.requests.pending.remove(&wire) {
                self.write_request(wire, &mut p);
                self.requests.pending.insert(wire, p);
            }
        }
    }

    /// The connection died: what was sent has an unknown outcome.
    pub(super) fn requests_lost(&mut self, _now: Instant) {
        let sent: Vec<u64> = self
            .requests
            .pending
            .iter()
            .filter(|(_, p)| p.unsent.is_none())
            .map(|(&w, _)| w)
            .collect();
        for wire in sent {
            if let Some(p) = self.requests.pending.remove(&wire) {
                self.request_failed(p.op, RequestError::ConnectionLost);
            }
        }
    }

    pub(super) fn request_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, wire))) = self.requests.deadlines.peek() {
            if at > now {
                break;
            }
            self.requests.deadlines.pop();
            if let Some(p) = self.requests.pending.remove(&wire) {
                self.stats.timeouts += 1;
                self.request_failed(p.op, RequestError::Timeout);
            }
        }
    }

    fn request_failed(&mut self, op: Op, error: RequestError) {
        match op {
            Op::User { id, .. } => self.push_event(BusEvent::Reply {
                request: id,
                result: Err(error),
            }),
            Op::WatchInfo { watch, generation } | Op::WatchCreate { watch, generation } => {
                self.watch_failed(watch, generation, &error)
            }
            Op::Internal => debug!("bus: internal request: {error}"),
        }
    }

    pub(super) fn internal_put(&mut self, bucket: &str, key: &str, value: &[u8], now: Instant) {
        let subject = js::key_subject(bucket, key);
        let deadline = now + self.cfg.request_timeout;
        self.send_request(Op::Internal, subject, None, value.to_vec(), deadline);
    }

    pub(super) fn internal_delete(&mut self, bucket: &str, key: &str, now: Instant) {
        let subject = js::key_subject(bucket, key);
        let headers = Some(js::delete_headers(false, None));
        let deadline = now + self.cfg.request_timeout;
        self.send_request(Op::Internal, subject, headers, Vec::new(), deadline);
    }

    // ---- answers ----

    pub(super) fn on_reply(&mut self, m: nats::Msg<'_>, now: Instant) {
        let Some(wire) = m
            .subject
            .strip_prefix(self.inbox.as_str())
            .and_then(|s| s.strip_prefix(".r."))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return;
        };
        let Some(pending) = self.requests.pending.remove(&wire) else {
            // Given up already (timed out, or from before a reconnect).
            return;
        };
        if m.headers.as_ref().is_some_and(|h| h.status == 503) {
            return self.request_failed(pending.op, RequestError::NoResponders);
        }
        match pending.op {
            Op::User { id, what } => {
                if let Some(result) = self.user_answer(id, what, &m, pending.deadline) {
                    self.push_event(BusEvent::Reply {
                        request: id,
                        result,
                    });
                }
            }
            Op::WatchInfo { watch, generation } => {
                self.on_watch_info(watch, generation, js::stream_state(m.payload), now)
            }
            Op::WatchCreate { watch, generation } => {
                self.on_watch_created(watch, generation, js::consumer_created(m.payload), now)
            }
            Op::Internal => {
                if let Answer::Api(e) = js::pub_ack(m.payload) {
                    warn!("bus: a renewal or delete failed: {e}");
                }
            }
        }
    }

    /// The result of a user request, or None if it took another round trip.
    fn user_answer(
        &mut self,
        id: RequestId,
        what: UserOp,
        m: &nats::Msg<'_>,
        deadline: Instant,
    ) -> Option<Result<Response, RequestError>> {
        let wrong_revision = |e: &js::ApiError| e.err_code == js::WRONG_LAST_SEQUENCE;
        let ack = || match js::pub_ack(m.payload) {
            Answer::Ok(seq) => Ok(seq),
            Answer::Api(e) => Err(e),
            Answer::Garbled(g) => Err(js::ApiError {
                code: 0,
                err_code: 0,
                description: format!("garbled: {g}"),
            }),
        };
        let garbled = |e: js::ApiError| {
            if e.code == 0 && e.err_code == 0 {
                RequestError::BadReply(e.description)
            } else {
                RequestError::Api(e)
            }
        };
        Some(match what {
            UserOp::Message => Ok(Response::Message {
                headers: m.headers.clone().unwrap_or_default(),
                payload: m.payload.to_vec(),
            }),
            UserOp::Bucket => match js::stream_created(m.payload) {
                Answer::Ok(_) => Ok(Response::Bucket),
                Answer::Api(e) => Err(RequestError::Api(e)),
                Answer::Garbled(g) => Err(RequestError::BadReply(g)),
            },
            UserOp::Put | UserOp::Delete => ack().map(Response::Revision).map_err(garbled),
            UserOp::Conditional => ack().map(Response::Revision).map_err(|e| {
                if wrong_revision(&e) {
                    RequestError::WrongRevision
                } else {
                    garbled(e)
                }
            }),
            UserOp::CreateOverMarker => ack().map(Response::Revision).map_err(|e| {
                if wrong_revision(&e) {
                    RequestError::AlreadyExists
                } else {
                    garbled(e)
                }
            }),
            UserOp::Create {
                bucket,
                key,
                value,
                attempt,
            } => match ack() {
                Ok(seq) => Ok(Response::Revision(seq)),
                Err(e) if wrong_revision(&e) => {
                    // Taken, or only a delete marker there: look.
                    let subject = js::direct_get(&bucket, &key);
                    let what = UserOp::CreateCheck {
                        bucket,
                        key,
                        value,
                        attempt,
                    };
                    self.send_request(Op::User { id, what }, subject, None, Vec::new(), deadline);
                    return None;
                }
                Err(e) => Err(garbled(e)),
            },
            UserOp::CreateCheck {
                bucket,
                key,
                value,
                attempt,
            } => match js::direct_got(m.headers.as_ref()) {
                Got::Entry {
                    op: StoredOp::Put, ..
                } => Err(RequestError::AlreadyExists),
                Got::Entry { revision, .. } => {
                    let subject = js::key_subject(&bucket, &key);
                    let headers = Some(js::expect_revision(revision));
                    let op = Op::User {
                        id,
                        what: UserOp::CreateOverMarker,
                    };
                    self.send_request(op, subject, headers, value, deadline);
                    return None;
                }
                Got::NotFound if attempt < CREATE_ATTEMPTS => {
                    // It expired in between: try again from the start.
                    let subject = js::key_subject(&bucket, &key);
                    let headers = Some(js::expect_revision(0));
                    let what = UserOp::Create {
                        bucket,
                        key,
                        value: value.clone(),
                        attempt: attempt + 1,
                    };
                    self.send_request(Op::User { id, what }, subject, headers, value, deadline);
                    return None;
                }
                Got::NotFound => Err(RequestError::BadReply(
                    "the key keeps changing under the create".into(),
                )),
                Got::Api(e) => Err(RequestError::Api(e)),
            },
            UserOp::Get => match js::direct_got(m.headers.as_ref()) {
                Got::Entry {
                    op: StoredOp::Put,
                    revision,
                } => Ok(Response::Entry(Some(KvEntry {
                    value: m.payload.to_vec(),
                    revision,
                }))),
                Got::Entry { .. } | Got::NotFound => Ok(Response::Entry(None)),
                Got::Api(e) => Err(RequestError::Api(e)),
            },
        })
    }
}
