//! Watching a bucket with an ordered consumer (see the module docs of `bus` for why not a
//! plain subscription). Each consumer the watch makes is a *generation* with its own deliver
//! subject (`<inbox>.w.<watch>.<generation>`); anything arriving for an older generation is
//! ignored. A generation starts with `STREAM.INFO` (the TTL, and the last sequence: a stream
//! that went backwards was emptied or recreated, so the state is taken again), then
//! `CONSUMER.CREATE`. Every delivered message must carry the next consumer sequence and every
//! idle heartbeat the last one; otherwise, or after three heartbeats' silence, the watch
//! makes a new generation from the stream sequence after the last one it saw.
//!
//! A generation has caught up (and expiries are reported) once its consumer says nothing is
//! pending, a delivery reaches the stream's last sequence as `STREAM.INFO` gave it, or an
//! idle heartbeat comes with nothing missed: the pending count alone can stay one too high
//! for ever (see [`delivered_all`]).

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use log::{debug, warn};

use super::js::{self, Answer, Start, StreamState};
use super::kv::Op;
use super::{Bus, BusError, BusEvent, KvOp, RequestError, SubKind, WatchId};
use crate::proto::nats;

/// A watch whose consumer could not be made tries again after this.
const RETRY: Duration = Duration::from_secs(1);
/// An expiry is reported this long after the stored time plus the TTL, so that the server,
/// which removes the entry at that moment, has done so when the watchers hear of it.
const EXPIRY_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No consumer; made again when connected, at `retry_at` (None: as soon as possible
    /// after a short wait).
    Idle {
        retry_at: Option<Instant>,
    },
    /// `STREAM.INFO` asked.
    Info,
    /// `CONSUMER.CREATE` asked (deliveries may already come).
    Creating,
    Live,
}

pub(super) struct Watch {
    bucket: String,
    /// `$KV.<bucket>.`
    prefix: String,
    /// `$KV.<bucket>.<keys>`
    filter: String,
    generation: u64,
    sid: Option<u64>,
    phase: Phase,
    /// Every key with a value, and its revision.
    keys: HashMap<String, u64>,
    ttl: Option<Duration>,
    last_stream_seq: u64,
    last_consumer_seq: u64,
    last_seen: Instant,
    /// The stream's last sequence when this generation asked for its state: a delivery at
    /// or past it means the watch has everything that was there.
    until: u64,
    caught_up: bool,
    /// Keys held before the state was taken again and not yet seen in it.
    stale: Option<HashSet<String>>,
}

impl Bus {
    /// Watches `bucket`: first a [`BusEvent::KvChange`] for every key with a value (then
    /// [`BusEvent::WatchReady`]), then one for each change. Keeps watching across reconnects.
    pub fn kv_watch(&mut self, bucket: &str, now: Instant) -> Result<WatchId, BusError> {
        self.kv_watch_keys(bucket, ">", now)
    }

    /// Like [`Bus::kv_watch`], for the keys matching `keys` only (`*` one token, `>` the rest:
    /// `node7.>` is every key under `node7.`).
    pub fn kv_watch_keys(
        &mut self,
        bucket: &str,
        keys: &str,
        now: Instant,
    ) -> Result<WatchId, BusError> {
        if !super::names::valid_bucket(bucket) {
            return Err(BusError::BadBucket(bucket.into()));
        }
        let filter = format!("$KV.{bucket}.{keys}");
        nats::subject::check_subscribe(&filter).map_err(|_| BusError::BadKey(keys.into()))?;
        let id = self.next_watch;
        self.next_watch += 1;
        self.watches.insert(
            id,
            Watch {
                bucket: bucket.into(),
                prefix: format!("$KV.{bucket}."),
                filter,
                generation: 0,
                sid: None,
                phase: Phase::Idle {
                    retry_at: Some(now),
                },
                keys: HashMap::new(),
                ttl: None,
                last_stream_seq: 0,
                last_consumer_seq: 0,
                last_seen: now,
                until: 0,
                caught_up: false,
                stale: None,
            },
        );
        if self.conn.is_connected() {
            self.start_watch(id, now);
        }
        Ok(WatchId(id))
    }

    /// Stops a watch (its consumer goes away with its interest).
    pub fn kv_unwatch(&mut self, watch: WatchId) {
        if let Some(w) = self.watches.remove(&watch.0) {
            if let Some(sid) = w.sid {
                self.drop_sub(sid);
            }
        }
    }

    /// The keys a watch knows to have a value, with their revisions.
    pub fn kv_watched(&self, watch: WatchId) -> Option<&HashMap<String, u64>> {
        self.watches.get(&watch.0).map(|w| &w.keys)
    }

    /// A new generation: asks for the stream's state first.
    fn start_watch(&mut self, id: u64, now: Instant) {
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        w.generation += 1;
        w.phase = Phase::Info;
        w.caught_up = false;
        let (generation, old_sid) = (w.generation, w.sid.take());
        let subject = js::stream_info(&w.bucket);
        if let Some(sid) = old_sid {
            self.drop_sub(sid);
        }
        let deadline = now + self.cfg.request_timeout;
        let op = Op::WatchInfo {
            watch: id,
            generation,
        };
        self.send_request(op, subject, None, Vec::new(), deadline);
    }

    pub(super) fn on_watch_info(
        &mut self,
        id: u64,
        generation: u64,
        answer: Answer<StreamState>,
        now: Instant,
    ) {
        let state = match answer {
            Answer::Ok(s) => s,
            Answer::Api(e) => return self.watch_failed(id, generation, &RequestError::Api(e)),
            Answer::Garbled(g) => {
                return self.watch_failed(id, generation, &RequestError::BadReply(g))
            }
        };
        let inbox = self.inbox.clone();
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        if w.generation != generation {
            return;
        }
        w.ttl = state.max_age;
        w.until = state.last_seq;
        let start = if w.last_stream_seq == 0 || state.last_seq < w.last_stream_seq {
            if w.last_stream_seq > 0 {
                debug!(
                    "bus: {} went back to sequence {}: reading it whole",
                    w.bucket, state.last_seq
                );
            }
            // The whole state: what is not in it any more is reported gone when caught up.
            if !w.keys.is_empty() {
                w.stale = Some(w.keys.keys().cloned().collect());
            }
            w.last_stream_seq = 0;
            Start::LastPerSubject
        } else {
            Start::Sequence(w.last_stream_seq + 1)
        };
        w.phase = Phase::Creating;
        w.last_consumer_seq = 0;
        w.last_seen = now;
        let deliver = format!("{inbox}.w.{id}.{generation}");
        let (subject, body) = js::create_watch(
            &w.bucket,
            &w.filter,
            &deliver,
            start,
            self.cfg.watch_heartbeat,
        );
        let sid = self.add_sub(deliver, SubKind::Watch(WatchId(id)));
        if let Some(w) = self.watches.get_mut(&id) {
            w.sid = Some(sid);
        }
        let op = Op::WatchCreate {
            watch: id,
            generation,
        };
        let deadline = now + self.cfg.request_timeout;
        self.send_request(op, subject, None, body, deadline);
    }

    pub(super) fn on_watch_created(
        &mut self,
        id: u64,
        generation: u64,
        answer: Answer<u64>,
        now: Instant,
    ) {
        let pending = match answer {
            Answer::Ok(n) => n,
            Answer::Api(e) => return self.watch_failed(id, generation, &RequestError::Api(e)),
            Answer::Garbled(g) => {
                return self.watch_failed(id, generation, &RequestError::BadReply(g))
            }
        };
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        if w.generation != generation {
            return;
        }
        w.phase = Phase::Live;
        w.last_seen = now;
        // Resumed past everything the stream held when asked: nothing is owed.
        let nothing_owed = w.last_stream_seq >= w.until;
        if pending == 0 || nothing_owed {
            self.caught_up(id);
        }
    }

    pub(super) fn watch_failed(&mut self, id: u64, generation: u64, error: &RequestError) {
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        if w.generation != generation {
            return;
        }
        warn!("bus: watching {}: {error}; trying again", w.bucket);
        w.phase = Phase::Idle { retry_at: None };
        if let Some(sid) = w.sid.take() {
            self.drop_sub(sid);
        }
    }

    /// The connection is gone: every watch waits for the next one.
    pub(super) fn watches_lost(&mut self) {
        let mut sids = Vec::new();
        for w in self.watches.values_mut() {
            w.phase = Phase::Idle { retry_at: None };
            w.caught_up = false;
            sids.extend(w.sid.take());
        }
        for sid in sids {
            self.subs.remove(&sid);
        }
    }

    pub(super) fn watches_connected(&mut self, now: Instant) {
        let mut ids: Vec<u64> = self.watches.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.start_watch(id, now);
        }
    }

    fn caught_up(&mut self, id: u64) {
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        if w.caught_up {
            return;
        }
        w.caught_up = true;
        let bucket = w.bucket.clone();
        let mut gone: Vec<String> = w.stale.take().into_iter().flatten().collect();
        gone.sort_unstable();
        for key in &gone {
            w.keys.remove(key);
        }
        for key in gone {
            self.push_event(BusEvent::KvChange {
                watch: WatchId(id),
                bucket: bucket.clone(),
                key,
                value: None,
                revision: 0,
                op: KvOp::Gone,
            });
        }
        // Expiries held back while this watch could not know are looked at again.
        for e in std::mem::take(&mut self.deferred_expiries) {
            self.expiries.push(e);
        }
        self.push_event(BusEvent::WatchReady { watch: WatchId(id) });
    }

    pub(super) fn on_watch_message(&mut self, watch: WatchId, m: nats::Msg<'_>, now: Instant) {
        let id = watch.0;
        let Some(w) = self.watches.get_mut(&id) else {
            return;
        };
        if w.sid != Some(m.sid) {
            return;
        }
        w.last_seen = now;
        if let Some(h) = m.headers.as_ref().filter(|h| h.status != 0) {
            if h.status != 100 {
                return;
            }
            // Flow control and stalled consumers want an empty answer.
            let mut answer: Vec<String> = Vec::new();
            if h.description.contains("FlowControl") {
                answer.extend(m.reply.map(str::to_string));
            }
            answer.extend(h.get("Nats-Consumer-Stalled").map(str::to_string));
            let gap = h
                .get("Nats-Last-Consumer")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n != w.last_consumer_seq);
            for subject in answer {
                self.stats.flow_control += 1;
                let _ = nats::write_pub(&mut self.conn.out, &subject, None, b"");
            }
            if gap {
                debug!("bus: watch heartbeat says messages were missed; resuming");
                self.start_watch(id, now);
                return;
            }
            // An idle consumer that is not stalled has delivered all it will: caught up even
            // if its pending count says otherwise (see `delivered_all`).
            let idle = h.description.contains("Idle Heartbeat")
                && h.get("Nats-Consumer-Stalled").is_none()
                && h.get("Nats-Last-Consumer").is_some();
            if idle && w.phase == Phase::Live && !w.caught_up {
                debug!("bus: watch of {} idle: caught up", w.bucket);
                self.caught_up(id);
            }
            return;
        }
        let Some(d) = m.reply.and_then(js::delivery) else {
            return;
        };
        if d.consumer_seq != w.last_consumer_seq + 1 {
            debug!(
                "bus: watch got consumer sequence {} after {}; resuming",
                d.consumer_seq, w.last_consumer_seq
            );
            return self.start_watch(id, now);
        }
        w.last_consumer_seq = d.consumer_seq;
        w.last_stream_seq = d.stream_seq;
        let all = delivered_all(d.pending, d.stream_seq, w.until);
        let Some(key) = m.subject.strip_prefix(w.prefix.as_str()) else {
            return;
        };
        if let Some(stale) = &mut w.stale {
            stale.remove(key);
        }
        let op = match js::op(m.headers.as_ref()) {
            js::Op::Put => KvOp::Put,
            js::Op::Delete => KvOp::Delete,
            js::Op::Purge => KvOp::Purge,
        };
        let report = if op == KvOp::Put {
            w.keys.insert(key.to_string(), d.stream_seq);
            if let Some(ttl) = w.ttl {
                let age = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .ok()
                    .and_then(|now_wall| now_wall.checked_sub(Duration::from_nanos(d.timestamp_ns)))
                    .unwrap_or(Duration::ZERO)
                    .min(ttl);
                let at = now + (ttl - age) + EXPIRY_GRACE;
                self.expiries
                    .push(Reverse((at, id, key.to_string(), d.stream_seq)));
            }
            true
        } else {
            w.keys.remove(key).is_some()
        };
        if report {
            let bucket = w.bucket.clone();
            self.push_event(BusEvent::KvChange {
                watch,
                bucket,
                key: key.to_string(),
                value: (op == KvOp::Put).then(|| m.payload.to_vec()),
                revision: d.stream_seq,
                op,
            });
        }
        if all {
            self.caught_up(id);
        }
    }

    pub(super) fn watch_deadline(&self) -> Option<Instant> {
        if !self.conn.is_connected() {
            return None;
        }
        let silence = self.cfg.watch_heartbeat * 3;
        self.watches
            .values()
            .filter_map(|w| match w.phase {
                Phase::Idle { retry_at } => Some(retry_at.unwrap_or(w.last_seen)),
                Phase::Live => Some(w.last_seen + silence),
                Phase::Info | Phase::Creating => None,
            })
            .min()
    }

    pub(super) fn watch_timers(&mut self, now: Instant) {
        let connected = self.conn.is_connected();
        if connected {
            let silence = self.cfg.watch_heartbeat * 3;
            let mut start = Vec::new();
            for (&id, w) in self.watches.iter_mut() {
                match w.phase {
                    Phase::Idle { retry_at: None } => {
                        w.phase = Phase::Idle {
                            retry_at: Some(now + RETRY),
                        };
                        w.last_seen = now;
                    }
                    Phase::Idle { retry_at: Some(at) } if at <= now => start.push(id),
                    Phase::Live if now.saturating_duration_since(w.last_seen) >= silence => {
                        debug!("bus: watch of {} silent; resuming", w.bucket);
                        start.push(id);
                    }
                    _ => {}
                }
            }
            start.sort_unstable();
            for id in start {
                self.start_watch(id, now);
            }
        }
        while let Some(Reverse((at, _, _, _))) = self.expiries.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse(entry)) = self.expiries.pop() else {
                break;
            };
            let (_, id, key, revision) = &entry;
            let Some(w) = self.watches.get_mut(id) else {
                continue;
            };
            if w.keys.get(key) != Some(revision) {
                // Renewed or deleted since.
                continue;
            }
            if !(connected && w.caught_up) {
                // This node cannot tell now; looked at again when the watch is caught up.
                self.deferred_expiries.push(Reverse(entry));
                continue;
            }
            w.keys.remove(key);
            let (bucket, key, revision) = (w.bucket.clone(), key.clone(), *revision);
            self.push_event(BusEvent::KvChange {
                watch: WatchId(*id),
                bucket,
                key,
                value: None,
                revision,
                op: KvOp::Expired,
            });
        }
    }
}

/// Whether a watch has caught up with a delivery: its consumer says nothing is pending, or
/// the delivery is at or past the stream's last sequence when the watch began (`until`).
/// The pending count alone is not enough: nats-server 2.9 counts a message the stream drops
/// while the consumer is being made (a key's older revision, over a bucket's history of
/// one) and never delivers it, so pending stays one too high for the consumer's life, and a
/// watch waiting for zero would never report a TTL's expiry.
pub(super) fn delivered_all(pending: u64, stream_seq: u64, until: u64) -> bool {
    pending == 0 || stream_seq >= until
}
