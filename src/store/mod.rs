//! The store: accounts, registered rooms and history, kept in an embedded SQLite database on
//! a thread of its own, behind an interface the loop calls without ever waiting.
//!
//! How the loop uses it:
//!
//! 1. At start, before the loop runs: [`open`] (synchronous) creates or opens the data
//!    directory, takes its lock, migrates the schema and returns a [`StoreHandle`] and a
//!    [`Snapshot`] (registered rooms, account names, the latest lines per room for the
//!    [`RecentWindow`]). Any [`OpenError`] is one line for the operator and exit 1.
//! 2. Writes: [`StoreHandle::write`] queues a [`Write`] (a message for history, a room
//!    change) and returns its sequence number, or [`Refused`] at once if the queue is full;
//!    [`StoreHandle::write_lines`] queues a [`LineBatch`] of history lines in one handoff.
//!    [`StoreHandle::committed`] says how far writes are durable.
//! 3. Calls: [`StoreHandle::call`] queues a [`Call`] (log in, register, a history query)
//!    with an id of the caller's choosing; the [`Reply`] comes back later.
//! 4. When the `mio::Waker` given to [`open`] fires, drain [`StoreHandle::next_result`].
//!    mio allows one waker per `Poll`: pass the loop's own, shared with other work done off
//!    the loop, and drain every such queue on a wake (a wake with nothing new is harmless).
//! 5. At shutdown, [`StoreHandle::close`]: the queue is drained and committed, the threads
//!    end.
//!
//! What is promised (docs/OPERATIONS.md, "Data and durability", has the operator's version):
//! - `close()` loses nothing that was accepted, unless the disk is failing at that moment
//!   (then it retries for `close_timeout` and reports how many writes were lost).
//! - A kill -9 (or a crash, or a power cut: commits are fsynced) loses at most what was
//!   accepted but not yet committed: the open group (at most `group_window`, 50 ms, or
//!   `group_rows` writes) plus whatever was still queued.
//! - While the disk fails (full, read-only, I/O errors), chat goes on: writes are kept in
//!   memory up to `retain_on_failure` and retried with backoff; past that bound, and when
//!   the queue is full, writes are dropped and counted ([`StoreStats`]); calls that change
//!   something answer `Unavailable`. The first successful retry commits what was kept.
//!
//! Modules: [`types`] and [`request`] (the plain data crossing the interface), [`backend`]
//! (the trait a storage backend implements), [`sqlite`] (the SQLite backend, schema and
//! migrations), [`pg`] (the PostgreSQL backend several nodes share, `--store-url`), `worker` (the store thread: groups, retries, retention rounds), `hasher`
//! (the password-hashing thread), `handle` (the loop's side), [`window`] (the in-memory
//! recent lines), `datadir` (directory, lock).

pub mod backend;
mod batch;
mod datadir;
mod handle;
mod hasher;
pub mod pg;
pub mod request;
mod selector;
pub mod sqlite;
pub mod types;
pub mod window;
mod worker;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Waker;

pub use backend::{Backend, Retention, Snapshot};
pub use batch::{LineBatch, LineParts, TargetParts};
pub use handle::{wait_committed, CloseReport, StoreHandle};
pub use request::{Call, CallResult, Refused, Reply, Write};
pub use sqlite::{IntegrityCheck, Location};
pub use types::*;
pub use window::{RecentWindow, WindowLine};

use crate::auth::password::HashParams;

/// Everything the store needs to know. [`StoreConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub location: Location,
    /// `--store-url`: a PostgreSQL database shared by the nodes of a network, in place of
    /// SQLite in `location`.
    pub shared: Option<String>,
    /// Requests the queue to the store thread holds before refusing.
    pub queue_capacity: usize,
    /// A group is committed this long after its first write at the latest ...
    pub group_window: Duration,
    /// ... or as soon as it holds this many writes.
    pub group_rows: usize,
    /// While the disk fails, at most this many writes wait in memory for a retry.
    pub retain_on_failure: usize,
    pub retention: Retention,
    /// How often a retention round runs (sooner while it has a backlog).
    pub retention_every: Duration,
    /// Lines per room loaded at start for the recent window (`--history-on-join`).
    pub recent_per_room: usize,
    /// At most this many lines loaded at start, in all.
    pub recent_max_rows: usize,
    pub hash: HashParams,
    pub hash_threads: usize,
    /// Password jobs waiting for the hashing thread before `Busy`.
    pub hash_queue: usize,
    pub integrity: IntegrityCheck,
    /// How long `close()` keeps retrying a failing disk.
    pub close_timeout: Duration,
}

impl StoreConfig {
    pub fn new(location: Location) -> StoreConfig {
        StoreConfig {
            location,
            shared: None,
            queue_capacity: 16_384,
            group_window: Duration::from_millis(50),
            group_rows: 10_000,
            retain_on_failure: 100_000,
            retention: Retention::default(),
            retention_every: Duration::from_secs(1),
            recent_per_room: 50,
            recent_max_rows: 500_000,
            hash: HashParams::default(),
            hash_threads: 1,
            hash_queue: 256,
            integrity: IntegrityCheck::Quick,
            close_timeout: Duration::from_secs(5),
        }
    }

    /// `--data-dir DIR`, where `none` means in memory.
    pub fn location_from_arg(arg: &str) -> Location {
        if arg == "none" {
            Location::Memory
        } else {
            Location::Dir(PathBuf::from(arg))
        }
    }
}

/// Why the store could not open. Each is one line for the operator; snak exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The directory cannot be created or written (read-only, permissions, not a directory,
    /// disk full).
    DataDir {
        path: PathBuf,
        reason: String,
    },
    /// Another snak holds the directory's lock.
    Locked {
        path: PathBuf,
        holder: Option<u32>,
    },
    /// Another program holds a lock on the database file.
    Busy {
        path: PathBuf,
    },
    /// Not a database, or the integrity check failed.
    Corrupt {
        path: PathBuf,
        reason: String,
    },
    /// A database, but not snak's.
    NotSnak {
        path: PathBuf,
    },
    /// Written by a newer snak.
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    Sqlite {
        path: PathBuf,
        reason: String,
    },
    /// The PostgreSQL database cannot be reached or used (`url` without its password).
    Postgres {
        url: String,
        reason: String,
    },
    /// A thread could not be started.
    Thread(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::DataDir { path, reason } => {
                write!(f, "data directory {}: {reason}", path.display())
            }
            OpenError::Locked { path, holder } => {
                write!(
                    f,
                    "data directory {} is in use by another snak",
                    path.display()
                )?;
                match holder {
                    Some(pid) => write!(f, " (pid {pid})"),
                    None => Ok(()),
                }
            }
            OpenError::Busy { path } => {
                write!(
                    f,
                    "database {} is locked by another program",
                    path.display()
                )
            }
            OpenError::Corrupt { path, reason } => write!(
                f,
                "database {} is corrupt ({reason}); restore a backup or move it away",
                path.display()
            ),
            OpenError::NotSnak { path } => {
                write!(f, "{} is a database, but not one of snak's", path.display())
            }
            OpenError::TooNew { path, found, known } => write!(
                f,
                "database {} has schema version {found}, newer than this snak's {known}; \
                 run a newer snak",
                path.display()
            ),
            OpenError::Sqlite { path, reason } => {
                write!(f, "database {}: {reason}", path.display())
            }
            OpenError::Postgres { url, reason } => write!(f, "database {url}: {reason}"),
            OpenError::Thread(e) => write!(f, "cannot start the store's threads: {e}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// The counters, as of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Requests waiting in the queue to the store thread.
    pub queue_depth: usize,
    /// Password jobs waiting for the hashing thread.
    pub hash_queue_depth: usize,
    pub submitted: u64,
    pub committed: u64,
    /// Requests refused at once (queue full or store gone).
    pub refused: u64,
    pub commits: u64,
    pub rows_written: u64,
    /// How long the last group's commit took.
    pub last_commit: Duration,
    pub last_group_rows: u64,
    /// Failed attempts to write or commit (each failure, each failed retry).
    pub failures: u64,
    /// Writes given up: rows the database refused, or past the failure bounds.
    pub dropped: u64,
    /// Writes waiting in memory for a retry while the disk fails.
    pub retained: u64,
    /// True while writes are failing.
    pub failing: bool,
    pub retention_deleted: u64,
}

/// Counters shared between the threads and the handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub queued: AtomicUsize,
    pub hash_queued: AtomicUsize,
    pub committed: AtomicU64,
    pub commits: AtomicU64,
    pub rows_written: AtomicU64,
    pub last_commit_micros: AtomicU64,
    pub last_group_rows: AtomicU64,
    pub failures: AtomicU64,
    pub dropped: AtomicU64,
    pub retained: AtomicU64,
    pub failing: AtomicBool,
    pub retention_deleted: AtomicU64,
}

impl Shared {
    fn snapshot(&self, submitted: u64, refused: u64) -> StoreStats {
        let r = Ordering::Relaxed;
        StoreStats {
            queue_depth: self.queued.load(r),
            hash_queue_depth: self.hash_queued.load(r),
            submitted,
            committed: self.committed.load(Ordering::Acquire),
            refused,
            commits: self.commits.load(r),
            rows_written: self.rows_written.load(r),
            last_commit: Duration::from_micros(self.last_commit_micros.load(r)),
            last_group_rows: self.last_group_rows.load(r),
            failures: self.failures.load(r),
            dropped: self.dropped.load(r),
            retained: self.retained.load(r),
            failing: self.failing.load(r),
            retention_deleted: self.retention_deleted.load(r),
        }
    }
}

/// Logging at most once per period: `ready` says whether to log now, and how many events
/// were held back since the last line.
#[derive(Debug)]
pub(crate) struct LogEvery {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl LogEvery {
    pub fn new(every: Duration) -> Self {
        LogEvery {
            every,
            last: None,
            held: 0,
        }
    }

    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.held += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held))
            }
        }
    }
}

/// Opens the store (SQLite in the data directory or in memory, or the shared PostgreSQL
/// database) and starts its threads.
pub fn open(config: &StoreConfig, waker: Arc<Waker>) -> Result<(StoreHandle, Snapshot), OpenError> {
    let load = sqlite::LoadOptions {
        recent_per_room: config.recent_per_room,
        recent_max_rows: config.recent_max_rows,
        integrity: config.integrity,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0);
    if let Some(url) = &config.shared {
        let (backend, snapshot) = pg::PgBackend::open(url, &load, now)?;
        let handle = start(backend, config, waker)?;
        return Ok((handle, snapshot));
    }
    let (backend, snapshot) = sqlite::SqliteBackend::open(&config.location, &load, now)?;
    let handle = start(backend, config, waker)?;
    Ok((handle, snapshot))
}

/// Starts the store thread over any backend (the SQLite one, or a shared one later).
pub fn start<B: Backend>(
    backend: B,
    config: &StoreConfig,
    waker: Arc<Waker>,
) -> Result<StoreHandle, OpenError> {
    let (tx, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
    let (results_tx, results) = mpsc::channel();
    let (hash_tx, hash_rx) = mpsc::sync_channel(config.hash_queue.max(1));
    let shared = Arc::new(Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let hasher = hasher::spawn(
        hasher::Context {
            jobs: Arc::new(Mutex::new(hash_rx)),
            store: tx.clone(),
            results: results_tx.clone(),
            waker: Arc::clone(&waker),
            params: config.hash,
            shared: Arc::clone(&shared),
            stop: Arc::clone(&stop),
        },
        config.hash_threads,
    )
    .map_err(|e| OpenError::Thread(e.to_string()))?;
    let worker = worker::Worker::new(
        backend,
        rx,
        results_tx,
        waker,
        hash_tx,
        Arc::clone(&shared),
        worker::WorkerConfig {
            group_window: config.group_window,
            group_rows: config.group_rows.max(1),
            retain_on_failure: config.retain_on_failure,
            retention: config.retention,
            retention_every: config.retention_every,
            close_timeout: config.close_timeout,
        },
    );
    let worker = std::thread::Builder::new()
        .name("snak-store".into())
        .spawn(move || worker.run())
        .map_err(|e| OpenError::Thread(e.to_string()))?;
    Ok(StoreHandle {
        tx,
        results,
        shared,
        worker: Some(worker),
        hasher: Some(hasher),
        submitted: 0,
        refused: 0,
        refused_log: LogEvery::new(Duration::from_secs(60)),
        max_in_flight: (config.queue_capacity + config.group_rows) as u64,
    })
}
