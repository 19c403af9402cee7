//! The data directory: created on first start (mode 0700), checked for writability, and
//! locked for this process alone (`flock` on `snak.lock`, which also holds the owner's pid
//! for the message another snak prints when it finds the lock taken).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::OpenError;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "snak.db";
const LOCK_FILE: &str = "snak.lock";
const PROBE_FILE: &str = ".snak-write-probe";

/// The locked directory; the lock lasts as long as this value (the kernel drops it when the
/// process dies, however it dies).
#[derive(Debug)]
pub struct DataDir {
    pub path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates (if missing), probes and locks `path`.
    pub fn open(path: &Path) -> Result<DataDir, OpenError> {
        let fail = |reason: String| OpenError::DataDir {
            path: path.to_owned(),
            reason,
        };
        match fs::metadata(path) {
            Ok(m) if !m.is_dir() => return Err(fail("it is not a directory".into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| fail(format!("cannot create it: {}", describe(&e))))?,
            Err(e) => return Err(fail(describe(&e))),
        }
        // Writability first, so a read-only directory is named as such rather than as a
        // failure to take the lock.
        let probe = path.join(PROBE_FILE);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&probe)
            .and_then(|mut f| f.write_all(b"probe"))
            .map_err(|e| fail(format!("it is not writable: {}", describe(&e))))?;
        let _ = fs::remove_file(&probe);

        let lock_path = path.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| fail(format!("cannot open {}: {}", LOCK_FILE, describe(&e))))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                return Err(OpenError::Locked {
                    path: path.to_owned(),
                    holder: text.trim().parse().ok(),
                });
            }
            return Err(fail(format!(
                "cannot lock {}: {}",
                LOCK_FILE,
                describe(&err)
            )));
        }
        let _ = lock.set_len(0);
        let _ = lock.seek(io::SeekFrom::Start(0));
        let _ = write!(lock, "{}", std::process::id());
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.path.join(DB_FILE)
    }

    /// Creates the database file with mode 0600 if it does not exist yet (SQLite would make it
    /// 0644; its WAL and shared-memory files copy the database file's mode).
    pub fn precreate_db(&self) -> Result<(), OpenError> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.db_path())
            .map(drop)
            .map_err(|e| OpenError::DataDir {
                path: self.path.clone(),
                reason: format!("cannot create {DB_FILE}: {}", describe(&e)),
            })
    }
}

/// An I/O error in words an operator acts on.
fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EROFS) => "read-only file system".into(),
        Some(libc::EACCES) | Some(libc::EPERM) => "permission denied".into(),
        Some(libc::ENOSPC) => "no space left on device".into(),
        Some(libc::ENOTDIR) => "a parent of it is not a directory".into(),
        _ => e.to_string(),
    }
}
