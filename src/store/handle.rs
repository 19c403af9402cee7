//! The loop's side of the store: every call returns at once.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::hasher::Hasher;
use super::request::*;
use super::worker::Request;
use super::{LogEvery, Shared, StoreStats};

/// The handle the loop owns. Not `Clone`: one producer keeps the write sequence numbers
/// meaningful.
pub struct StoreHandle {
    pub(crate) tx: SyncSender<Request>,
    pub(crate) results: Receiver<Reply>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) worker: Option<JoinHandle<()>>,
    pub(crate) hasher: Option<Hasher>,
    pub(crate) submitted: u64,
    pub(crate) refused: u64,
    pub(crate) refused_log: LogEvery,
    /// Most writes accepted and not yet committed that a batch may add to: the queue's
    /// bound counts requests, and a batch is one request of many writes.
    pub(crate) max_in_flight: u64,
}

/// What [`StoreHandle::close`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReport {
    /// Writes accepted by [`StoreHandle::write`].
    pub submitted: u64,
    /// Writes committed or, if counted in `dropped`, given up.
    pub committed: u64,
    /// Writes that will never be stored (bad rows; the store failing past its bounds).
    pub dropped: u64,
    /// Writes refused at once because the queue was full.
    pub refused: u64,
}

impl StoreHandle {
    /// Queues a write. `Ok(seq)`: it is the `seq`-th write accepted; once
    /// [`committed`](Self::committed) reaches `seq` it is on disk (or counted as dropped).
    /// `Err`: it was dropped now; chat goes on (the refusal is counted, and logged at most
    /// once a minute).
    pub fn write(&mut self, write: Write) -> Result<u64, Refused> {
        self.send(Request::Write(write))?;
        self.submitted += 1;
        Ok(self.submitted)
    }

    /// Queues history lines in one handoff to the store thread (each a write, as if sent
    /// with [`write`](Self::write) one by one, but one request). `Ok(seq)`: the last of them
    /// is the `seq`-th write accepted. `Err`: all of them were dropped now (each counted as
    /// refused): the queue is full, or as many writes as it holds wait already (the store is
    /// behind).
    pub fn write_lines(&mut self, lines: super::LineBatch) -> Result<u64, Refused> {
        let n = lines.len() as u64;
        if n == 0 {
            return Ok(self.submitted);
        }
        let in_flight = self.submitted.saturating_sub(self.committed());
        let behind = in_flight + n > self.max_in_flight;
        let sent = if behind {
            Err(self.refuse(Refused::QueueFull))
        } else {
            self.send(Request::Lines(lines))
        };
        if let Err(e) = sent {
            // `send` counted the request once.
            self.refused += n - 1;
            return Err(e);
        }
        self.submitted += n;
        Ok(self.submitted)
    }

    /// Queues a call; its [`Reply`] carries `id` (the caller's choice) and arrives through
    /// [`next_result`](Self::next_result) after a wake of the loop's waker.
    pub fn call(&mut self, id: u64, call: Call) -> Result<(), Refused> {
        self.send(Request::Call { id, call })
    }

    /// One reply, if any has arrived. When the waker fires, drain them all:
    /// `while let Some(r) = store.next_result() { ... }` (the loop may call the store again
    /// while handling each).
    pub fn next_result(&self) -> Option<Reply> {
        self.results.try_recv().ok()
    }

    /// Every write up to this sequence number is committed (or counted as dropped).
    pub fn committed(&self) -> u64 {
        self.shared.committed.load(Ordering::Acquire)
    }

    /// Writes accepted so far.
    pub fn submitted(&self) -> u64 {
        self.submitted
    }

    pub fn stats(&self) -> StoreStats {
        self.shared.snapshot(self.submitted, self.refused)
    }

    /// Drains the queue, commits everything, stops the threads. Blocks (shutdown only):
    /// at most the store's `close_timeout` when the disk fails, else the time of one commit.
    pub fn close(mut self) -> CloseReport {
        self.shut()
    }

    fn shut(&mut self) -> CloseReport {
        if let Some(hasher) = &self.hasher {
            // Queued password jobs are abandoned: nobody is left to answer.
            hasher.stop.store(true, Ordering::Relaxed);
        }
        if let Some(worker) = self.worker.take() {
            self.shared.queued.fetch_add(1, Ordering::Relaxed);
            let _ = self.tx.send(Request::Close);
            if worker.join().is_err() {
                log::error!("store: the store thread panicked");
            }
        }
        if let Some(hasher) = self.hasher.take() {
            for t in hasher.threads {
                let _ = t.join();
            }
        }
        CloseReport {
            submitted: self.submitted,
            committed: self.committed(),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            refused: self.refused,
        }
    }

    #[cfg(test)]
    pub(crate) fn send_test(&mut self, req: Request) -> Result<(), Refused> {
        self.send(req)
    }

    fn send(&mut self, req: Request) -> Result<(), Refused> {
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(req) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                let refused = match e {
                    TrySendError::Full(_) => Refused::QueueFull,
                    TrySendError::Disconnected(_) => Refused::Closed,
                };
                Err(self.refuse(refused))
            }
        }
    }

    /// Counts a refusal (logged at most once a minute).
    fn refuse(&mut self, refused: Refused) -> Refused {
        self.refused += 1;
        if let Some(more) = self.refused_log.ready(Instant::now()) {
            log::warn!(
                "store: {} (request refused; {more} more refused since the last report, \
                 {} in all); chat goes on",
                match refused {
                    Refused::QueueFull => "the queue to the store is full",
                    Refused::Closed => "the store thread is gone",
                },
                self.refused
            );
        }
        refused
    }
}

impl Drop for StoreHandle {
    fn drop(&mut self) {
        self.shut();
    }
}

/// A hint for tests and benchmarks: waits (sleeping briefly) until `committed` reaches `seq`.
pub fn wait_committed(handle: &StoreHandle, seq: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while handle.committed() < seq {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}
