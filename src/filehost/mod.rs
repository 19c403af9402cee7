//! Stored uploads on disk (FILEHOST): a thread beside the loop writes the bytes of uploads
//! as they come, reads downloads a chunk at a time, and deletes what expired. The loop hands
//! it [`Job`]s through a bounded queue and gets [`Done`]s back through the `mio::Waker` it
//! shares with the store; it never touches the disk itself.
//!
//! On disk, under `DATA_DIR/uploads/`, a file is `TOKEN.data` (its bytes) and `TOKEN.meta`
//! (see [`meta`]); an upload under way is `TOKEN.part`. Names are the token only: what a
//! client calls its file is never part of a path. At start the directory is read once
//! (before the loop runs): expired files, half-written uploads and a `.data` without its
//! `.meta` (or the other way round) are deleted, the rest is what the loop knows.
//!
//! What a crash costs: uploads under way (their `.part` is deleted at the next start).
//! A stored file's bytes are synced before its `.meta` is written, so a file that was
//! answered `201` is whole after a restart.

pub mod meta;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use log::{info, warn};
use mio::Waker;

use crate::hub::{ClientId, HostedFile};

/// Jobs waiting for the thread at most; past it a job is refused (the upload or download
/// that sent it is answered `503`). Each upload has at most [`WRITE_WINDOW`] jobs out and
/// each download one, so this is reached only under a flood of them.
pub const QUEUE: usize = 4096;
/// Writes one upload may have out before its socket stops being read.
pub const WRITE_WINDOW: usize = 16;
/// Bytes one upload may have out before its socket stops being read.
pub const WRITE_WINDOW_BYTES: usize = 1 << 20;
/// Bytes read for a download at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// Who a job's answer goes to: a connection and its serial (a reused slot is not it).
pub type Who = (ClientId, u32);

/// Work for the file thread.
#[derive(Debug)]
pub enum Job {
    /// More bytes of an upload (the first creates its `.part`); answered [`Done::Written`].
    Append { token: u128, bytes: Vec<u8> },
    /// All bytes came: sync them, write the meta, and the file is stored; answered
    /// [`Done::Stored`].
    Finish(HostedFile),
    /// The upload stopped before its end: its `.part` goes. No answer.
    Abort { token: u128 },
    /// `len` bytes of a stored file from `offset`; answered [`Done::Chunk`].
    Read {
        token: u128,
        offset: u64,
        len: usize,
    },
    /// The file expired. No answer.
    Delete { token: u128 },
}

/// The thread's answer to a job.
#[derive(Debug)]
pub enum Done {
    Written(usize),
    /// Stored, or why not (a write failed before or now: the disk is full or broken).
    Stored(Result<(), String>),
    Chunk(Result<Vec<u8>, String>),
}

/// The loop's side of the file thread.
pub struct Disk {
    tx: Option<SyncSender<(Option<Who>, Job)>>,
    rx: Receiver<(Who, Done)>,
    thread: Option<JoinHandle<()>>,
}

impl Disk {
    /// Reads `dir` (made if missing), deleting what is expired by `now` (Unix seconds) or
    /// unfinished, and starts the thread. Returns the files kept.
    pub fn open(dir: PathBuf, now: u64, waker: Arc<Waker>) -> io::Result<(Disk, Vec<HostedFile>)> {
        fs::create_dir_all(&dir)?;
        let kept = scan(&dir, now)?;
        let (tx, jobs) = mpsc::sync_channel(QUEUE);
        let (results, rx) = mpsc::channel();
        let worker = Worker {
            dir,
            jobs,
            results,
            waker,
            open: HashMap::new(),
            failed: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("snak-files".into())
            .spawn(move || worker.run())?;
        Ok((
            Disk {
                tx: Some(tx),
                rx,
                thread: Some(thread),
            },
            kept,
        ))
    }

    /// Queues `job`; the queue being full gives it back.
    pub fn send(&self, who: Option<Who>, job: Job) -> Result<(), Job> {
        let Some(tx) = &self.tx else {
            return Err(job);
        };
        match tx.try_send((who, job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full((_, job)) | TrySendError::Disconnected((_, job))) => Err(job),
        }
    }

    /// The next answer, if one is in.
    pub fn next(&self) -> Option<(Who, Done)> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Disk {
    /// The thread finishes what it was given (uploads under way are left as `.part`, which
    /// the next start deletes) and ends.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn path(dir: &Path, token: u128, suffix: &str) -> PathBuf {
    dir.join(format!("{token:032x}{suffix}"))
}

/// Reads the directory at start: keeps whole, unexpired files; deletes the rest.
fn scan(dir: &Path, now: u64) -> io::Result<Vec<HostedFile>> {
    let mut kept = Vec::new();
    let mut deleted = 0usize;
    let mut remove = |p: &Path| {
        if fs::remove_file(p).is_ok() {
            deleted += 1;
        }
    };
    let names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    for name in &names {
        let p = dir.join(name);
        if name.ends_with(".part") || name.ends_with(".meta.tmp") {
            remove(&p);
        } else if let Some(token) = meta::token_of(name, ".data") {
            if !path(dir, token, ".meta").exists() {
                remove(&p);
            }
        } else if let Some(token) = meta::token_of(name, ".meta") {
            let data = path(dir, token, ".data");
            let file = fs::read_to_string(&p)
                .ok()
                .and_then(|text| meta::decode(token, &text));
            let whole = file.as_ref().is_some_and(|f| {
                fs::metadata(&data).is_ok_and(|m| m.len() == f.size) && f.expires > now
            });
            match file {
                Some(f) if whole => kept.push(f),
                _ => {
                    remove(&p);
                    remove(&data);
                }
            }
        }
    }
    info!(
        "files: {} kept in {}, {deleted} expired or unfinished deleted",
        kept.len(),
        dir.display()
    );
    Ok(kept)
}

struct Worker {
    dir: PathBuf,
    jobs: Receiver<(Option<Who>, Job)>,
    results: Sender<(Who, Done)>,
    waker: Arc<Waker>,
    /// Uploads under way.
    open: HashMap<u128, File>,
    /// Uploads whose writing failed, with why (told once, at the failure).
    failed: HashMap<u128, String>,
}

impl Worker {
    fn run(mut self) {
        while let Ok((who, job)) = self.jobs.recv() {
            let mut answered = self.handle(who, job);
            // Answers go out together: one wake for what was waiting.
            while let Ok((who, job)) = self.jobs.try_recv() {
                answered |= self.handle(who, job);
            }
            if answered {
                let _ = self.waker.wake();
            }
        }
    }

    /// Does one job; whether it answered.
    fn handle(&mut self, who: Option<Who>, job: Job) -> bool {
        let done = match job {
            Job::Append { token, bytes } => self.append(token, &bytes),
            Job::Finish(file) => Some(Done::Stored(self.finish(&file))),
            Job::Abort { token } => {
                self.open.remove(&token);
                self.failed.remove(&token);
                let _ = fs::remove_file(path(&self.dir, token, ".part"));
                None
            }
            Job::Read { token, offset, len } => Some(Done::Chunk(
                self.read(token, offset, len).map_err(|e| e.to_string()),
            )),
            Job::Delete { token } => {
                // The meta first: a crash between the two leaves a `.data` alone, which the
                // next start deletes.
                let _ = fs::remove_file(path(&self.dir, token, ".meta"));
                let _ = fs::remove_file(path(&self.dir, token, ".data"));
                None
            }
        };
        match (who, done) {
            (Some(who), Some(done)) => self.results.send((who, done)).is_ok(),
            _ => false,
        }
    }

    fn append(&mut self, token: u128, bytes: &[u8]) -> Option<Done> {
        if self.failed.contains_key(&token) {
            return None;
        }
        let result = self.write(token, bytes);
        match result {
            Ok(()) => Some(Done::Written(bytes.len())),
            Err(e) => {
                warn!("files: writing an upload failed: {e}");
                self.open.remove(&token);
                let _ = fs::remove_file(path(&self.dir, token, ".part"));
                self.failed.insert(token, e.to_string());
                Some(Done::Stored(Err(e.to_string())))
            }
        }
    }

    fn write(&mut self, token: u128, bytes: &[u8]) -> io::Result<()> {
        if !self.open.contains_key(&token) {
            let f = File::options()
                .write(true)
                .create_new(true)
                .open(path(&self.dir, token, ".part"))?;
            self.open.insert(token, f);
        }
        match self.open.get_mut(&token) {
            Some(f) => f.write_all(bytes),
            None => Err(io::Error::other("upload not open")),
        }
    }

    fn finish(&mut self, file: &HostedFile) -> Result<(), String> {
        if let Some(why) = self.failed.remove(&file.token) {
            return Err(why);
        }
        let result = (|| -> io::Result<()> {
            if !self.open.contains_key(&file.token) {
                // Nothing was written: an empty file.
                self.write(file.token, &[])?;
            }
            let f = self
                .open
                .remove(&file.token)
                .ok_or_else(|| io::Error::other("upload not open"))?;
            if f.metadata()?.len() != file.size {
                return Err(io::Error::other("the bytes written are not the size given"));
            }
            f.sync_all()?;
            drop(f);
            let (part, data) = (
                path(&self.dir, file.token, ".part"),
                path(&self.dir, file.token, ".data"),
            );
            fs::rename(&part, &data)?;
            let tmp = path(&self.dir, file.token, ".meta.tmp");
            let mut m = File::create(&tmp)?;
            m.write_all(meta::encode(file).as_bytes())?;
            m.sync_all()?;
            fs::rename(&tmp, path(&self.dir, file.token, ".meta"))?;
            Ok(())
        })();
        result.map_err(|e| {
            warn!("files: storing an upload failed: {e}");
            for suffix in [".part", ".data", ".meta.tmp"] {
                let _ = fs::remove_file(path(&self.dir, file.token, suffix));
            }
            e.to_string()
        })
    }

    fn read(&self, token: u128, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut f = File::open(path(&self.dir, token, ".data"))?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut buf)?;
        if buf.is_empty() && len > 0 {
            return Err(io::Error::other("the file is shorter than its size"));
        }
        Ok(buf)
    }
}
