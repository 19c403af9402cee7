//! The store thread: takes requests in order, applies writes into an open group, answers
//! reads in between (they see the group's writes), commits the group every `group_window`
//! or `group_rows`, runs retention rounds, and keeps going when the medium fails.
//!
//! When a write or a commit fails because of the medium (disk full, read-only, I/O error):
//! the group is rolled back and its writes are kept in memory (up to `retain_on_failure`),
//! new writes join them up to that bound and are dropped and counted beyond it, calls that
//! change something are answered `Unavailable`, reads still run, and a retry follows with a
//! backoff from 100 ms to 5 s. The first successful retry commits everything kept, and the
//! store is back to normal. One line a minute at most says what is failing and what is lost.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::Waker;

use super::backend::*;
use super::hasher::Job;
use super::request::*;
use super::types::*;
use super::{LogEvery, Shared};

pub(crate) enum Request {
    Write(Write),
    /// History lines sent together (one handoff for many: a pass's).
    Lines(crate::store::LineBatch),
    Call {
        id: u64,
        call: Call,
    },
    /// A change prepared by the hashing thread.
    Effect {
        id: u64,
        effect: Effect,
    },
    Close,
    /// Tests: the store thread says it has arrived, then waits for the release.
    #[cfg(test)]
    Pause {
        arrived: SyncSender<()>,
        release: Receiver<()>,
    },
    /// Tests: runs SQL under the interface (to make the disk "full").
    #[cfg(test)]
    Sql(String),
    /// Tests: pauses the hashing thread (through its queue, as any job).
    #[cfg(test)]
    PauseHasher {
        arrived: SyncSender<()>,
        release: Receiver<()>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct WorkerConfig {
    pub group_window: Duration,
    pub group_rows: usize,
    pub retain_on_failure: usize,
    pub retention: Retention,
    pub retention_every: Duration,
    pub close_timeout: Duration,
}

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// A retention round that hit its bound is followed by another this soon.
const RETENTION_AGAIN: Duration = Duration::from_millis(50);
const LOG_EVERY: Duration = Duration::from_secs(60);

struct Pending {
    id: u64,
    /// Sent once the group commits.
    result: CallResult,
    /// Sent instead if the group fails.
    unavailable: CallResult,
}

/// A write as the group keeps it (to retry the group if the medium fails).
// As large as `Request::Write`, which it is taken from: boxing would allocate per write.
#[allow(clippy::large_enum_variant)]
enum Item {
    Write(Write),
    /// A pass's history lines, kept packed as they came.
    Lines(crate::store::LineBatch),
}

impl Item {
    fn rows(&self) -> usize {
        match self {
            Item::Write(_) => 1,
            Item::Lines(b) => b.len(),
        }
    }
}

#[derive(Default)]
struct Group {
    open: bool,
    deadline: Option<Instant>,
    writes: Vec<Item>,
    /// Rows in `writes` (a batch counts its lines).
    rows: usize,
    pending: Vec<Pending>,
}

impl Group {
    fn push(&mut self, item: Item) {
        self.rows += item.rows();
        self.writes.push(item);
    }

    fn take(&mut self) -> Vec<Item> {
        self.rows = 0;
        std::mem::take(&mut self.writes)
    }
}

struct Failing {
    since: Instant,
    backoff: Duration,
    next_retry: Instant,
}

pub(crate) struct Worker<B: Backend> {
    pub backend: B,
    pub rx: Receiver<Request>,
    pub results: Sender<Reply>,
    pub waker: Arc<Waker>,
    pub hash: SyncSender<Job>,
    pub shared: Arc<Shared>,
    pub cfg: WorkerConfig,
    group: Group,
    failing: Option<Failing>,
    writes_seen: u64,
    wake: bool,
    next_retention: Instant,
    fail_log: LogEvery,
    drop_log: LogEvery,
}

fn wall_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

fn result_of(effect: &Effect, applied: Applied) -> CallResult {
    match (effect, applied) {
        (Effect::CreateAccount { name, .. }, Applied::Done) => {
            CallResult::Register(Ok(name.clone()))
        }
        (Effect::CreateAccount { .. }, _) => CallResult::Register(Err(AccountError::Taken)),
        (Effect::SetPassword { .. }, Applied::Done) => CallResult::ChangePassword(Ok(())),
        (Effect::SetPassword { .. }, _) => {
            CallResult::ChangePassword(Err(AccountError::NoSuchAccount))
        }
        (Effect::DropAccount { .. }, Applied::Done) => CallResult::DropAccount(Ok(())),
        (Effect::DropAccount { .. }, _) => {
            CallResult::DropAccount(Err(AccountError::NoSuchAccount))
        }
        (Effect::AddCertificate { .. }, Applied::Done) => CallResult::CertificateAdd(Ok(())),
        (Effect::AddCertificate { .. }, Applied::Conflict) => {
            CallResult::CertificateAdd(Err(AccountError::Taken))
        }
        (Effect::AddCertificate { .. }, Applied::Missing) => {
            CallResult::CertificateAdd(Err(AccountError::NoSuchAccount))
        }
    }
}

fn unavailable_of(effect: &Effect) -> CallResult {
    let e = AccountError::Unavailable;
    match effect {
        Effect::CreateAccount { .. } => CallResult::Register(Err(e)),
        Effect::SetPassword { .. } => CallResult::ChangePassword(Err(e)),
        Effect::DropAccount { .. } => CallResult::DropAccount(Err(e)),
        Effect::AddCertificate { .. } => CallResult::CertificateAdd(Err(e)),
    }
}

impl<B: Backend> Worker<B> {
    pub fn new(
        backend: B,
        rx: Receiver<Request>,
        results: Sender<Reply>,
        waker: Arc<Waker>,
        hash: SyncSender<Job>,
        shared: Arc<Shared>,
        cfg: WorkerConfig,
    ) -> Self {
        Worker {
            backend,
            rx,
            results,
            waker,
            hash,
            shared,
            next_retention: Instant::now() + cfg.retention_every,
            cfg,
            group: Group::default(),
            failing: None,
            writes_seen: 0,
            wake: false,
            fail_log: LogEvery::new(LOG_EVERY),
            drop_log: LogEvery::new(LOG_EVERY),
        }
    }

    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            let wait = self.next_deadline(now).saturating_duration_since(now);
            match self.rx.recv_timeout(wait) {
                Ok(req) => {
                    if self.handle(req) {
                        break;
                    }
                    // Take what else is waiting (bounded) before looking at the clock again.
                    let mut stop = false;
                    for _ in 0..self.cfg.group_rows {
                        match self.rx.try_recv() {
                            Ok(req) => {
                                if self.handle(req) {
                                    stop = true;
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    if stop {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The handle went away without close(): finish as close() would.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.tick(Instant::now());
            self.flush_wake();
        }
        self.shutdown();
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let mut at = now + Duration::from_secs(3600);
        if let Some(f) = &self.failing {
            at = at.min(f.next_retry);
        } else if let Some(d) = self.group.deadline {
            at = at.min(d);
        }
        if self.retention_on() {
            at = at.min(self.next_retention);
        }
        at
    }

    fn retention_on(&self) -> bool {
        self.cfg.retention.max_age_ms.is_some() || self.cfg.retention.max_per_target.is_some()
    }

    /// Returns true on Close.
    fn handle(&mut self, req: Request) -> bool {
        self.shared.queued.fetch_sub(1, Ordering::Relaxed);
        match req {
            Request::Write(w) => {
                self.writes_seen += 1;
                self.write(Item::Write(w));
            }
            Request::Lines(batch) => {
                self.writes_seen += batch.len() as u64;
                if !batch.is_empty() {
                    self.write(Item::Lines(batch));
                }
            }
            Request::Call { id, call } => self.call(id, call),
            Request::Effect { id, effect } => self.effect(id, effect),
            Request::Close => return true,
            #[cfg(test)]
            Request::Pause { arrived, release } => {
                let _ = arrived.send(());
                let _ = release.recv();
            }
            #[cfg(test)]
            Request::Sql(sql) => self.backend.debug_sql(&sql),
            #[cfg(test)]
            Request::PauseHasher { arrived, release } => {
                self.shared.hash_queued.fetch_add(1, Ordering::Relaxed);
                if self.hash.try_send(Job::Pause { arrived, release }).is_err() {
                    panic!("the hashing queue is full");
                }
            }
        }
        false
    }

    fn group_len(&self) -> usize {
        self.group.rows + self.group.pending.len()
    }

    /// Applies one item: Ok(rows the backend refused), or the medium's error.
    fn apply(&mut self, item: &Item) -> Result<u64, StoreError> {
        match item {
            Item::Write(w) => match self.backend.apply(w) {
                Ok(()) => Ok(0),
                Err(e) if e.kind == ErrorKind::Row && self.backend.in_group() => {
                    self.dropped(&e.message);
                    Err(e)
                }
                Err(e) => Err(e),
            },
            Item::Lines(b) => {
                let refused = self.backend.apply_lines(b)?;
                if refused > 0 {
                    self.shared
                        .dropped
                        .fetch_add(refused - 1, Ordering::Relaxed);
                    self.dropped("a history line names a conversation that cannot be stored");
                }
                Ok(refused)
            }
        }
    }

    /// Opens a group if none is open; false if the medium refuses (now failing).
    fn ensure_group(&mut self) -> bool {
        if self.group.open {
            return true;
        }
        match self.backend.begin() {
            Ok(()) => {
                self.group.open = true;
                self.group.deadline = Some(Instant::now() + self.cfg.group_window);
                true
            }
            Err(e) => {
                self.fail_group(&e);
                false
            }
        }
    }

    fn write(&mut self, w: Item) {
        if self.failing.is_some() || !self.ensure_group() {
            self.retain(w);
            return;
        }
        match self.apply(&w) {
            Ok(_) => self.group.push(w),
            // A refused row (already counted) is not kept.
            Err(e) if e.kind == ErrorKind::Row && self.backend.in_group() => {}
            Err(e) => {
                self.group.push(w);
                self.fail_group(&e);
            }
        }
        if self.group_len() >= self.cfg.group_rows {
            self.commit();
        }
    }

    fn retain(&mut self, w: Item) {
        let rows = w.rows();
        if self.group.rows + rows <= self.cfg.retain_on_failure {
            self.group.push(w);
            self.shared
                .retained
                .store(self.group.rows as u64, Ordering::Relaxed);
        } else {
            self.shared
                .dropped
                .fetch_add(rows as u64 - 1, Ordering::Relaxed);
            self.dropped("the store is failing and the writes kept in memory are at their limit");
        }
    }

    fn dropped(&mut self, why: &str) {
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = self.drop_log.ready(Instant::now()) {
            log::error!("store: a write was dropped ({more} more since the last report): {why}");
        }
    }

    fn reply(&mut self, id: u64, result: CallResult) {
        if self.results.send(Reply { id, result }).is_ok() {
            self.wake = true;
        }
    }

    fn flush_wake(&mut self) {
        if std::mem::take(&mut self.wake) {
            let _ = self.waker.wake();
        }
    }

    /// After a failed read inside an open group: did the backend drop the group with it?
    fn check_group(&mut self, e: &StoreError) {
        if self.group.open && !self.backend.in_group() {
            self.fail_group(e);
        }
    }

    fn hand_to_hasher(&mut self, id: u64, job: Job, busy: CallResult) {
        self.shared.hash_queued.fetch_add(1, Ordering::Relaxed);
        match self.hash.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.hash_queued.fetch_sub(1, Ordering::Relaxed);
                self.reply(id, busy);
            }
        }
    }

    /// A read's result; a failure is logged (and the open group checked), its text kept.
    fn read<T>(&mut self, result: Result<T, StoreError>) -> Result<T, String> {
        result.map_err(|e| {
            self.read_failed(&e);
            e.message
        })
    }

    /// An account lookup as account calls answer it.
    fn found<T>(&mut self, result: Result<Option<T>, StoreError>) -> Result<T, AccountError> {
        match self.read(result) {
            Ok(Some(x)) => Ok(x),
            Ok(None) => Err(AccountError::NoSuchAccount),
            Err(_) => Err(AccountError::Unavailable),
        }
    }

    fn read_failed(&mut self, e: &StoreError) {
        if let Some(more) = self.fail_log.ready(Instant::now()) {
            log::error!("store: a read failed ({more} more failures since the last report): {e}");
        }
        self.check_group(e);
    }

    fn call(&mut self, id: u64, call: Call) {
        let unavailable = CallResult::unavailable(&call);
        match call {
            Call::Register {
                key,
                name,
                password,
                email,
                now,
            } => {
                if self.failing.is_some() {
                    return self.reply(id, unavailable);
                }
                let job = Job::Register {
                    id,
                    name: AccountName { key, name },
                    password,
                    email,
                    now,
                };
                self.hand_to_hasher(id, job, CallResult::Register(Err(AccountError::Busy)));
            }
            Call::Secret { phc, password } => {
                let job = Job::Secret { id, phc, password };
                self.hand_to_hasher(id, job, CallResult::Secret(Err(AccountError::Busy)));
            }
            Call::Login { key, password } => {
                let looked = self.backend.account(&key);
                match self.found(looked) {
                    Ok(a) => {
                        let job = Job::Verify {
                            id,
                            name: a.name,
                            phc: a.phc,
                            password,
                        };
                        self.hand_to_hasher(id, job, CallResult::Login(Err(AccountError::Busy)));
                    }
                    Err(e) => self.reply(id, CallResult::Login(Err(e))),
                }
            }
            Call::ChangePassword { key, old, new } => {
                if self.failing.is_some() {
                    return self.reply(id, unavailable);
                }
                let looked = self.backend.account(&key);
                match self.found(looked) {
                    Ok(a) => {
                        let job = Job::ChangePassword {
                            id,
                            key,
                            phc: a.phc,
                            old,
                            new,
                        };
                        let busy = CallResult::ChangePassword(Err(AccountError::Busy));
                        self.hand_to_hasher(id, job, busy);
                    }
                    Err(e) => self.reply(id, CallResult::ChangePassword(Err(e))),
                }
            }
            Call::DropAccount { key } => self.effect(id, Effect::DropAccount { key }),
            Call::CertificateAdd { key, fingerprint } => {
                self.effect(id, Effect::AddCertificate { key, fingerprint })
            }
            Call::Scram { key } => {
                let looked = self.backend.account(&key);
                let result = self.found(looked).and_then(|a| {
                    // An account without SCRAM keys cannot use SCRAM: as if unknown.
                    a.scram
                        .map(|s| (a.name, s))
                        .ok_or(AccountError::NoSuchAccount)
                });
                self.reply(id, CallResult::Scram(result));
            }
            Call::Certificate { fingerprint } => {
                let looked = self.backend.account_by_certificate(&fingerprint);
                let result = self.found(looked);
                self.reply(id, CallResult::Certificate(result));
            }
            Call::Records => {
                let records = self.backend.records();
                let result = self.read(records).map_err(|_| AccountError::Unavailable);
                self.reply(id, CallResult::Records(result));
            }
            Call::AccountInfo { key } => {
                let looked = self.backend.account_info(&key);
                let result = self.found(looked);
                self.reply(id, CallResult::AccountInfo(result));
            }
            Call::History(q) => {
                let answer = self.backend.history(&q);
                let result = self
                    .read(answer)
                    .unwrap_or_else(|e| Err(HistoryError::Store(e)));
                self.reply(id, CallResult::History(result));
            }
            Call::Targets(q) => {
                let answer = self.backend.targets(&q);
                let result = self.read(answer).map_err(HistoryError::Store);
                self.reply(id, CallResult::Targets(result));
            }
        }
    }

    fn effect(&mut self, id: u64, effect: Effect) {
        let unavailable = unavailable_of(&effect);
        if self.failing.is_some() || !self.ensure_group() {
            return self.reply(id, unavailable);
        }
        match self.backend.effect(&effect) {
            Ok(applied) => self.group.pending.push(Pending {
                id,
                result: result_of(&effect, applied),
                unavailable,
            }),
            Err(e) if e.kind == ErrorKind::Row && self.backend.in_group() => {
                log::error!("store: {effect:?} failed: {e}");
                self.reply(id, unavailable);
            }
            Err(e) => {
                self.reply(id, unavailable);
                self.fail_group(&e);
            }
        }
        if self.group_len() >= self.cfg.group_rows {
            self.commit();
        }
    }

    fn commit(&mut self) {
        if !self.group.open {
            return;
        }
        let started = Instant::now();
        match self.backend.commit() {
            Ok(()) => self.committed(started),
            Err(e) => self.fail_group(&e),
        }
    }

    /// Bookkeeping after a successful commit: everything received so far is now either
    /// committed or counted as dropped.
    fn committed(&mut self, started: Instant) {
        let rows = self.group.rows as u64;
        let s = &self.shared;
        s.commits.fetch_add(1, Ordering::Relaxed);
        s.rows_written.fetch_add(rows, Ordering::Relaxed);
        s.last_group_rows.store(rows, Ordering::Relaxed);
        s.last_commit_micros
            .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        s.retained.store(0, Ordering::Relaxed);
        s.committed.store(self.writes_seen, Ordering::Release);
        self.group.take();
        self.group.open = false;
        self.group.deadline = None;
        for p in std::mem::take(&mut self.group.pending) {
            self.reply(p.id, p.result);
        }
    }

    fn fail_group(&mut self, e: &StoreError) {
        self.backend.rollback();
        self.group.open = false;
        self.group.deadline = None;
        for p in std::mem::take(&mut self.group.pending) {
            self.reply(p.id, p.unavailable);
        }
        let now = Instant::now();
        let (since, backoff) = match &self.failing {
            Some(f) => (f.since, (f.backoff * 2).min(RETRY_MAX)),
            None => (now, RETRY_MIN),
        };
        self.failing = Some(Failing {
            since,
            backoff,
            next_retry: now + backoff,
        });
        // The newest writes past the bound go (a batch whole).
        while self.group.rows > self.cfg.retain_on_failure {
            let Some(last) = self.group.writes.pop() else {
                break;
            };
            self.group.rows -= last.rows();
            self.shared
                .dropped
                .fetch_add(last.rows() as u64, Ordering::Relaxed);
        }
        let s = &self.shared;
        s.failures.fetch_add(1, Ordering::Relaxed);
        s.failing.store(true, Ordering::Relaxed);
        s.retained.store(self.group.rows as u64, Ordering::Relaxed);
        if let Some(more) = self.fail_log.ready(now) {
            log::error!(
                "store: writes are failing ({e}); {} writes kept in memory (at most {}), {} \
                 dropped so far; retrying; chat goes on ({more} more failures since the last \
                 report)",
                self.group.rows,
                self.cfg.retain_on_failure,
                s.dropped.load(Ordering::Relaxed),
            );
        }
    }

    /// One attempt to commit what was kept while failing.
    fn retry(&mut self) {
        if let Err(e) = self.backend.begin() {
            return self.fail_group(&e);
        }
        self.group.open = true;
        let writes = self.group.take();
        let mut rest = writes.into_iter();
        while let Some(w) = rest.next() {
            match self.apply(&w) {
                Ok(_) => self.group.push(w),
                Err(e) if e.kind == ErrorKind::Row && self.backend.in_group() => {}
                Err(e) => {
                    self.group.push(w);
                    for w in rest {
                        self.group.push(w);
                    }
                    return self.fail_group(&e);
                }
            }
        }
        let started = Instant::now();
        match self.backend.commit() {
            Ok(()) => {
                let since = self.failing.take().map(|f| f.since);
                self.shared.failing.store(false, Ordering::Relaxed);
                log::warn!(
                    "store: writes resumed after {:.1} s; {} kept writes committed",
                    since.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0),
                    self.group.rows
                );
                self.committed(started);
            }
            Err(e) => self.fail_group(&e),
        }
    }

    fn tick(&mut self, now: Instant) {
        if let Some(f) = &self.failing {
            if now >= f.next_retry {
                self.retry();
            }
            return;
        }
        if self.group.deadline.is_some_and(|d| now >= d) {
            self.commit();
        }
        if self.retention_on() && self.failing.is_none() && now >= self.next_retention {
            self.retention(now);
        }
    }

    fn retention(&mut self, now: Instant) {
        if !self.ensure_group() {
            return;
        }
        match self.backend.retention_round(&self.cfg.retention, wall_ms()) {
            Ok(r) => {
                self.shared
                    .retention_deleted
                    .fetch_add(r.deleted, Ordering::Relaxed);
                self.next_retention = now
                    + if r.more {
                        RETENTION_AGAIN
                    } else {
                        self.cfg.retention_every
                    };
            }
            Err(e) if e.kind == ErrorKind::Row && self.backend.in_group() => {
                log::error!("store: retention round failed: {e}");
                self.next_retention = now + self.cfg.retention_every;
            }
            Err(e) => self.fail_group(&e),
        }
    }

    fn shutdown(&mut self) {
        let deadline = Instant::now() + self.cfg.close_timeout;
        self.commit();
        while let Some(f) = &self.failing {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::sleep(f.next_retry.min(deadline).saturating_duration_since(now));
            self.retry();
        }
        if self.failing.is_some() {
            let lost = self.group.rows as u64;
            self.shared.dropped.fetch_add(lost, Ordering::Relaxed);
            log::error!("store: {lost} writes could not be committed before exit and are lost");
        }
        self.flush_wake();
    }
}
