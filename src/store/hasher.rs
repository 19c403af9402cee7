//! The hashing thread: argon2id takes tens of milliseconds and megabytes on purpose, so it
//! runs here, apart from both the loop and the store thread (where it would hold up group
//! commits by as much as a whole commit window per password). One thread by default:
//! password checks are rare next to messages, and a burst of them (everyone reconnecting
//! with PLAIN after a restart) should queue rather than take every core from the loop.
//!
//! Each thread hashes in one [`HashMemory`] (argon2's 19 MiB at the default parameters): kept
//! from one job to the next while more are queued, given back to the kernel as soon as the
//! queue is empty, so an idle server holds none of it and a burst maps it once per thread.
//!
//! Jobs come from the handle (Register) and from the store thread (the checks that need the
//! stored hash first). The queue is bounded; a full one answers `Busy` at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mio::Waker;

use super::backend::Effect;
use super::request::{CallResult, Reply};
use super::types::*;
use super::worker::Request;
use super::Shared;
use crate::auth::hash_memory::HashMemory;
use crate::auth::password::{self, HashParams, PasswordError};

pub(crate) enum Job {
    Register {
        id: u64,
        name: AccountName,
        password: String,
        email: Option<String>,
        now: Millis,
    },
    Verify {
        id: u64,
        name: AccountName,
        phc: String,
        password: String,
    },
    ChangePassword {
        id: u64,
        key: String,
        phc: String,
        old: Option<String>,
        new: String,
    },
    /// A password against a hash the caller holds.
    Secret {
        id: u64,
        phc: String,
        password: String,
    },
    /// Tests: the hashing thread says it has arrived, then waits for the release.
    #[cfg(test)]
    Pause {
        arrived: std::sync::mpsc::SyncSender<()>,
        release: Receiver<()>,
    },
}

pub(crate) struct Hasher {
    pub threads: Vec<JoinHandle<()>>,
    pub stop: Arc<AtomicBool>,
}

pub(crate) struct Context {
    pub jobs: Arc<Mutex<Receiver<Job>>>,
    pub store: SyncSender<Request>,
    pub results: Sender<Reply>,
    pub waker: Arc<Waker>,
    pub params: HashParams,
    pub shared: Arc<Shared>,
    pub stop: Arc<AtomicBool>,
}

pub(crate) fn spawn(ctx: Context, threads: usize) -> std::io::Result<Hasher> {
    let ctx = Arc::new(ctx);
    let mut handles = Vec::new();
    for i in 0..threads.max(1) {
        let ctx = Arc::clone(&ctx);
        handles.push(
            std::thread::Builder::new()
                .name(format!("snak-hash-{i}"))
                .spawn(move || run(&ctx))?,
        );
    }
    Ok(Hasher {
        threads: handles,
        stop: Arc::clone(&ctx.stop),
    })
}

fn invalid(e: PasswordError) -> AccountError {
    AccountError::InvalidPassword(e.to_string())
}

/// What a job ends in: an answer for the loop, or a change for the store thread.
enum Done {
    Reply(u64, CallResult),
    Forward(u64, Effect),
}

fn run(ctx: &Context) {
    let mut memory = HashMemory::new();
    loop {
        // Hold the lock only to take a job, never while hashing.
        let job = match ctx.jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        ctx.shared.hash_queued.fetch_sub(1, Ordering::Relaxed);
        if ctx.stop.load(Ordering::Relaxed) {
            // Shutting down: nobody waits for these answers any more.
            continue;
        }
        let Some(done) = work(ctx, job, &mut memory) else {
            continue;
        };
        if ctx.shared.hash_queued.load(Ordering::Relaxed) == 0 {
            // Nothing waiting: argon2's memory goes back before the answer does, so whoever
            // gets the last answer of a burst finds it given back.
            memory.release();
        }
        match done {
            Done::Reply(id, result) => reply(ctx, id, result),
            Done::Forward(id, effect) => forward(ctx, id, effect),
        }
    }
}

fn work(ctx: &Context, job: Job, memory: &mut HashMemory) -> Option<Done> {
    Some(match job {
        #[cfg(test)]
        Job::Pause { arrived, release } => {
            let _ = arrived.send(());
            let _ = release.recv();
            return None;
        }
        Job::Verify {
            id,
            name,
            phc,
            password,
        } => {
            let result = if password::verify_in(&phc, &password, memory) {
                Ok(name)
            } else {
                Err(AccountError::BadPassword)
            };
            Done::Reply(id, CallResult::Login(result))
        }
        Job::Secret { id, phc, password } => {
            // Checked as `snak --hash-password` made it (no SASLprep: that is accounts').
            let ok = password::verify_bytes_in(&phc, password.as_bytes(), memory);
            Done::Reply(id, CallResult::Secret(Ok(ok)))
        }
        Job::Register {
            id,
            name,
            password,
            email,
            now,
        } => match password::hash_in(&ctx.params, &password, memory) {
            Ok(hashes) => Done::Forward(
                id,
                Effect::CreateAccount {
                    name,
                    hashes,
                    email,
                    registered: now,
                },
            ),
            Err(e) => Done::Reply(id, CallResult::Register(Err(invalid(e)))),
        },
        Job::ChangePassword {
            id,
            key,
            phc,
            old,
            new,
        } => {
            if let Some(old) = old {
                if !password::verify_in(&phc, &old, memory) {
                    let bad = CallResult::ChangePassword(Err(AccountError::BadPassword));
                    return Some(Done::Reply(id, bad));
                }
            }
            match password::hash_in(&ctx.params, &new, memory) {
                Ok(hashes) => Done::Forward(id, Effect::SetPassword { key, hashes }),
                Err(e) => Done::Reply(id, CallResult::ChangePassword(Err(invalid(e)))),
            }
        }
    })
}

fn reply(ctx: &Context, id: u64, result: CallResult) {
    if ctx.results.send(Reply { id, result }).is_ok() {
        let _ = ctx.waker.wake();
    }
}

/// Hands the change to the store thread, waiting for room in its queue if need be (this is
/// not the loop: waiting here is fine, and the store thread never waits for us).
fn forward(ctx: &Context, id: u64, effect: Effect) {
    ctx.shared.queued.fetch_add(1, Ordering::Relaxed);
    if ctx.store.send(Request::Effect { id, effect }).is_err() {
        ctx.shared.queued.fetch_sub(1, Ordering::Relaxed);
    }
}
