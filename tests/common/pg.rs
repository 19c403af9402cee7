//! A PostgreSQL server of a test's own (Debian package `postgresql`): `initdb` into a
//! temporary directory, `postgres` on an ephemeral loopback port with trust authentication,
//! stopped by its PID. The binaries are found at run time under /usr/lib/postgresql/*/bin
//! (or `SNAK_PG_BIN`); without them [`pg_bin`] says why and the test is reported skipped.
//! As root (CI), the server runs as the `postgres` user: PostgreSQL refuses to run as root.
//!
//! Self-contained (std and libc only): the store's unit tests include it too.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MISSING: &str =
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install postgresql)";

/// The directory holding `initdb` and `postgres`, if there is one.
pub fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SNAK_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    // The newest version (directories are named by their major version).
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// The user to run the server as when we are root: (uid, gid).
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: getuid(2) has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .or_else(|| passwd.lines().find(|l| l.starts_with("nobody:")))?;
    let mut f = line.split(':');
    let (uid, gid) = (f.nth(2)?.parse().ok()?, f.next()?.parse().ok()?);
    Some((uid, gid))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A PostgreSQL server, stopped (SIGINT to its PID, fast shutdown) when dropped; its data
/// directory removed.
pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
    pub port: u16,
    owner: Option<(u32, u32)>,
}

impl Pg {
    /// initdb and start; panics with the server's words if it cannot.
    pub fn start(tag: &str) -> Pg {
        let bin = pg_bin().expect(MISSING);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("snak-pg-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let owner = run_as();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the data dir");
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D"])
            .arg(dir.join("data"))
            .args([
                "-U",
                "snak",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb, owner);
        let out = initdb.output().expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Pg {
            bin,
            dir,
            child: None,
            port: free_port(),
            owner,
        };
        pg.spawn();
        pg
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            // TCP on loopback only: no socket file (whose path has a length limit).
            .args(["-c", "unix_socket_directories="])
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=40"])
            .stdout(Stdio::null());
        // Its log, for a failure's message.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .expect("the server's log file");
        cmd.stderr(log);
        as_owner(&mut cmd, self.owner);
        let child = cmd.spawn().expect("postgres starts");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Until the server accepts connections (its port answers and `pg_isready` agrees).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                    panic!("postgres exited at start: {status}\n{log}");
                }
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "snak",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not become ready in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A URL for the database `db` (made with [`Pg::create_db`], or `postgres`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://snak@127.0.0.1:{}/{db}", self.port)
    }

    /// Makes a database (through psql, which ships beside the server).
    pub fn create_db(&self, db: &str) {
        let psql = self.bin.join("psql");
        let out = Command::new(psql)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "snak",
                "-d",
                "postgres",
            ])
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE DATABASE {db}"),
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "CREATE DATABASE {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL in `db` through psql; its output (tuples only, unaligned).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "snak",
                "-d",
                db,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server (fast shutdown: clients are cut off) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    _ if Instant::now() > deadline => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
    }

    /// The same server again: same port, same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }
}

fn as_owner(cmd: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
        // The temp dir's parent must be enterable; the working directory too.
        cmd.current_dir("/");
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
