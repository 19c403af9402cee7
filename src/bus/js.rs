//! The JetStream pieces a key-value bucket needs, as plain request/reply over NATS subjects:
//! what to send where, and what the answers mean. Pure: no socket, no clock.
//!
//! A bucket `B` is the stream `KV_B` on the subjects `$KV.B.>`; key `K` is the subject
//! `$KV.B.K`, its value the payload of the last message there and its revision that message's
//! stream sequence. So:
//! - create the bucket: `$JS.API.STREAM.CREATE.KV_B` with the stream's configuration (one
//!   message per subject kept for history 1, `max_age` for the TTL, direct get allowed);
//!   asking again with the same configuration is answered like the first time;
//! - put: a publish to `$KV.B.K` with a reply subject, answered by a publish ack
//!   `{"stream":"KV_B","seq":N}`;
//! - create (only if absent): the same with `Nats-Expected-Last-Subject-Sequence: 0`; if
//!   the key has a value the stream refuses with error 10071 ("wrong last sequence"). A key
//!   deleted earlier still has its delete marker, so a refused create is checked with a get
//!   and retried against the marker's revision;
//! - update (compare and set): expected last subject sequence = the revision read;
//! - get: `$JS.API.DIRECT.GET.KV_B.$KV.B.K` answers with the stored message itself (its
//!   headers name sequence and time) or status 404;
//! - delete / purge: a message with `KV-Operation: DEL` (or `PURGE` with `Nats-Rollup: sub`,
//!   which also drops the key's history);
//! - watch: an ephemeral ordered push consumer (`$JS.API.CONSUMER.CREATE.KV_B`), first the
//!   last message of every key, then every change; see `watch.rs`.

use std::time::Duration;

use crate::proto::nats::Headers;

pub const EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";
pub const KV_OPERATION: &str = "KV-Operation";
pub const ROLLUP: &str = "Nats-Rollup";
/// JetStream's error code for a failed expected-sequence check.
pub const WRONG_LAST_SEQUENCE: u32 = 10071;
/// JetStream's error code for a stream that exists with another configuration.
pub const STREAM_NAME_IN_USE: u32 = 10058;

/// A key-value bucket's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketConfig {
    /// Entries older than this vanish (the stream's `max_age`); None keeps them.
    pub ttl: Option<Duration>,
    /// Values kept per key (1 to 64).
    pub history: u8,
    /// Copies in a JetStream cluster (1, 3 or 5).
    pub replicas: u8,
    /// In memory instead of on disk.
    pub memory: bool,
    /// The largest value, if smaller than the server's `max_payload`.
    pub max_value: Option<u32>,
}

impl Default for BucketConfig {
    fn default() -> Self {
        BucketConfig {
            ttl: None,
            history: 1,
            replicas: 1,
            memory: false,
            max_value: None,
        }
    }
}

pub fn stream_name(bucket: &str) -> String {
    format!("KV_{bucket}")
}

pub fn key_subject(bucket: &str, key: &str) -> String {
    format!("$KV.{bucket}.{key}")
}

/// `$JS.API.STREAM.CREATE.KV_B` and its body.
pub fn create_bucket(bucket: &str, cfg: &BucketConfig) -> (String, Vec<u8>) {
    let stream = stream_name(bucket);
    let nanos = |d: Duration| d.as_nanos().min(i64::MAX as u128) as i64;
    let body = serde_json::json!({
        "name": stream,
        "subjects": [format!("$KV.{bucket}.>")],
        "retention": "limits",
        "max_msgs_per_subject": i64::from(cfg.history.clamp(1, 64)),
        "max_age": cfg.ttl.map_or(0, nanos),
        "max_msg_size": cfg.max_value.map_or(-1, i64::from),
        "max_bytes": -1,
        "discard": "new",
        "storage": if cfg.memory { "memory" } else { "file" },
        "num_replicas": i64::from(cfg.replicas.max(1)),
        "duplicate_window": cfg.ttl.map_or(nanos(Duration::from_secs(120)), |t| {
            nanos(t.min(Duration::from_secs(120)))
        }),
        "deny_delete": true,
        "deny_purge": false,
        "allow_rollup_hdrs": true,
        "allow_direct": true,
    });
    (
        format!("$JS.API.STREAM.CREATE.{stream}"),
        body.to_string().into_bytes(),
    )
}

pub fn stream_info(bucket: &str) -> String {
    format!("$JS.API.STREAM.INFO.{}", stream_name(bucket))
}

pub fn direct_get(bucket: &str, key: &str) -> String {
    format!(
        "$JS.API.DIRECT.GET.{}.{}",
        stream_name(bucket),
        key_subject(bucket, key)
    )
}

/// Headers for a conditional write: only if the key's last revision is `revision` (0: the
/// key has no message at all).
pub fn expect_revision(revision: u64) -> Headers {
    let mut h = Headers::new();
    // A number and a fixed name: cannot fail.
    let _ = h.insert(EXPECTED_LAST_SUBJECT_SEQ, &revision.to_string());
    h
}

/// Headers for a delete (`purge` also drops the key's history), optionally conditional.
pub fn delete_headers(purge: bool, revision: Option<u64>) -> Headers {
    let mut h = match revision {
        Some(r) => expect_revision(r),
        None => Headers::new(),
    };
    if purge {
        let _ = h.insert(KV_OPERATION, "PURGE");
        let _ = h.insert(ROLLUP, "sub");
    } else {
        let _ = h.insert(KV_OPERATION, "DEL");
    }
    h
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The last message of every key, then every change.
    LastPerSubject,
    /// Every message from this stream sequence on.
    Sequence(u64),
}

/// `$JS.API.CONSUMER.CREATE.KV_B` and its body: an ephemeral push consumer without acks,
/// with flow control and idle heartbeats (an "ordered consumer").
pub fn create_watch(
    bucket: &str,
    filter: &str,
    deliver: &str,
    start: Start,
    heartbeat: Duration,
) -> (String, Vec<u8>) {
    let stream = stream_name(bucket);
    let mut config = serde_json::json!({
        "deliver_subject": deliver,
        "filter_subject": filter,
        "ack_policy": "none",
        "max_deliver": 1,
        "replay_policy": "instant",
        "flow_control": true,
        "idle_heartbeat": heartbeat.as_nanos().min(i64::MAX as u128) as i64,
        "mem_storage": true,
        "num_replicas": 1,
    });
    match start {
        Start::LastPerSubject => {
            config["deliver_policy"] = "last_per_subject".into();
        }
        Start::Sequence(seq) => {
            config["deliver_policy"] = "by_start_sequence".into();
            config["opt_start_seq"] = seq.into();
        }
    }
    let body = serde_json::json!({ "stream_name": stream, "config": config });
    (
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        body.to_string().into_bytes(),
    )
}

/// An error JetStream answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP-like: 400, 404, 503 ...
    pub code: u16,
    /// JetStream's own code (10071: wrong last sequence, ...); 0 if none.
    pub err_code: u32,
    pub description: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (code {}, {})",
            self.description, self.code, self.err_code
        )
    }
}

/// What a JSON answer was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Ok(T),
    Api(ApiError),
    /// Not the JSON expected (shown shortened).
    Garbled(String),
}

fn json(payload: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(payload).map_err(|e| {
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(80)]).into_owned();
        format!("{e}: {shown}")
    })
}

fn answer<T>(payload: &[u8], ok: impl FnOnce(&serde_json::Value) -> Option<T>) -> Answer<T> {
    let v = match json(payload) {
        Ok(v) => v,
        Err(e) => return Answer::Garbled(e),
    };
    if let Some(err) = v.get("error") {
        return Answer::Api(ApiError {
            code: err
                .get("code")
                .and_then(|c| c.as_u64())
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0),
            err_code: err
                .get("err_code")
                .and_then(|c| c.as_u64())
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0),
            description: err
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .to_string(),
        });
    }
    match ok(&v) {
        Some(t) => Answer::Ok(t),
        None => {
            Answer::Garbled(String::from_utf8_lossy(&payload[..payload.len().min(80)]).into_owned())
        }
    }
}

/// A publish ack: the stream sequence (the key's new revision).
pub fn pub_ack(payload: &[u8]) -> Answer<u64> {
    answer(payload, |v| {
        v.get("seq").and_then(|s| s.as_u64()).filter(|&s| s > 0)
    })
}

/// A stream-create answer: the stream's name.
pub fn stream_created(payload: &[u8]) -> Answer<String> {
    answer(payload, |v| {
        v.get("config")?.get("name")?.as_str().map(str::to_string)
    })
}

/// What a watch needs of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamState {
    /// The TTL (`max_age`), None if entries never expire.
    pub max_age: Option<Duration>,
    pub last_seq: u64,
}

pub fn stream_state(payload: &[u8]) -> Answer<StreamState> {
    answer(payload, |v| {
        let age = v.get("config")?.get("max_age")?.as_i64()?;
        let last_seq = v.get("state")?.get("last_seq")?.as_u64()?;
        Some(StreamState {
            max_age: (age > 0).then(|| Duration::from_nanos(age as u64)),
            last_seq,
        })
    })
}

/// A consumer-create answer: how many messages it has to deliver before it is caught up.
pub fn consumer_created(payload: &[u8]) -> Answer<u64> {
    answer(payload, |v| {
        v.get("name")?.as_str()?;
        Some(v.get("num_pending").and_then(|n| n.as_u64()).unwrap_or(0))
    })
}

/// The position of a message a consumer delivered, from its reply subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub stream_seq: u64,
    pub consumer_seq: u64,
    /// When the message was stored (ns since the epoch, the server's clock).
    pub timestamp_ns: u64,
    /// Messages still to come after this one.
    pub pending: u64,
}

/// `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (older servers) or
/// `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`.
pub fn delivery(reply: &str) -> Option<Delivery> {
    let t: Vec<&str> = reply.split('.').collect();
    if t.len() < 9 || t[0] != "$JS" || t[1] != "ACK" {
        return None;
    }
    let at = match t.len() {
        9 => 5,
        11 | 12 => 7,
        _ => return None,
    };
    let n = |i: usize| t.get(i)?.parse::<u64>().ok();
    // The delivery count comes first; not used, but it must be a number.
    n(at - 1)?;
    Some(Delivery {
        stream_seq: n(at)?,
        consumer_seq: n(at + 1)?,
        timestamp_ns: n(at + 2)?,
        pending: n(at + 3)?,
    })
}

/// What a stored key-value message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Put,
    Delete,
    Purge,
}

pub fn op(headers: Option<&Headers>) -> Op {
    match headers.and_then(|h| h.get(KV_OPERATION)) {
        Some("DEL") => Op::Delete,
        Some("PURGE") => Op::Purge,
        _ => Op::Put,
    }
}

/// A direct-get answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// The key's last message: its revision and what it is.
    Entry {
        revision: u64,
        op: Op,
    },
    NotFound,
    Api(ApiError),
}

pub fn direct_got(headers: Option<&Headers>) -> Got {
    let Some(h) = headers else {
        return Got::Api(ApiError {
            code: 0,
            err_code: 0,
            description: "direct get answered without headers".into(),
        });
    };
    match h.status {
        0 => match h.get("Nats-Sequence").and_then(|s| s.parse::<u64>().ok()) {
            Some(revision) => Got::Entry {
                revision,
                op: op(Some(h)),
            },
            None => Got::Api(ApiError {
                code: 0,
                err_code: 0,
                description: "direct get answer without Nats-Sequence".into(),
            }),
        },
        404 => Got::NotFound,
        code => Got::Api(ApiError {
            code,
            err_code: 0,
            description: h.description.clone(),
        }),
    }
}
