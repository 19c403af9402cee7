//! The client examples (`examples/`) run as real processes against the real daemon: stdin
//! piped in, stdout read line by line, every wait bounded by `common::WAIT`.
//!
//! `cargo test --all-targets` builds examples only as unit-test programs, so the examples
//! themselves are built here, once, with `cargo build --example ...` into the same target
//! directory as this test.

mod common;

use common::{wait_exit, Daemon, WAIT};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Instant;

const EXAMPLES: [&str; 3] = ["chat_client", "hello_client", "hello_server"];

/// The path of a built example, building the examples on first use.
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(build_examples)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Builds the examples next to this test binary (`TARGET/PROFILE/deps/examples-HASH`
/// means `TARGET/PROFILE/examples/`); returns that directory.
fn build_examples() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test binary path {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or("test binary at the file system root")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for name in EXAMPLES {
        cmd.args(["--example", name]);
    }
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    let dir = profile_dir.join("examples");
    let missing: Vec<&str> = EXAMPLES
        .into_iter()
        .filter(|n| {
            !dir.join(format!("{n}{}", std::env::consts::EXE_SUFFIX))
                .is_file()
        })
        .collect();
    if !status.success() || !missing.is_empty() {
        return Err(format!(
            "building the examples failed ({status}); missing in {}: {missing:?}",
            dir.display()
        ));
    }
    Ok(dir)
}

/// A unique directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "snak-examples-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An example running as a child process: lines typed into its stdin, its stdout read as
/// lines by a thread, its stderr kept. Killed (by its own PID) when dropped.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Signals (by closing) that all of stderr has been read.
    stderr_eof: Receiver<()>,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(example(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        let (eof, stderr_eof) = mpsc::channel::<()>();
        thread::spawn(move || {
            let _eof = eof;
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .extend_from_slice(&chunk[..n]);
            }
        });
        let stdin = child.stdin.take();
        Proc {
            name: name.to_string(),
            child,
            stdin,
            lines,
            seen: Vec::new(),
            stderr,
            stderr_eof,
        }
    }

    /// A chat_client connected to `daemon` under `nick`, saving files to `downloads`.
    fn chat(daemon: &Daemon, nick: &str, downloads: &Path) -> Proc {
        let addr = daemon.native.to_string();
        let dir = downloads.to_str().expect("utf-8 temp path");
        let mut p = Proc::spawn(
            "chat_client",
            &["--addr", &addr, "--nick", nick, "--download-dir", dir],
        );
        p.name = nick.to_string();
        p.expect(|l| l.starts_with("* Hello, world! This is snak "));
        p.expect(|l| l.ends_with(&format!(" is now known as {nick}")));
        p
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next stdout line that satisfies `want`; fails the test after WAIT.
    fn expect(&mut self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail("no such line in time"),
                Err(RecvTimeoutError::Disconnected) => self.fail("stdout closed"),
            }
        }
    }

    fn expect_line(&mut self, want: &str) -> String {
        self.expect(|l| l == want)
    }

    /// Everything left on stdout until the process closes it.
    fn rest(&mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    rest.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => return rest,
                Err(RecvTimeoutError::Timeout) => self.fail("stdout not closed in time"),
            }
        }
    }

    /// Closes stdin, waits for the exit, then for the last of stderr.
    fn wait(&mut self) -> ExitStatus {
        self.close_stdin();
        let status = wait_exit(&mut self.child);
        if let Err(RecvTimeoutError::Timeout) = self.stderr_eof.recv_timeout(WAIT) {
            self.fail("stderr not closed in time");
        }
        status
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr buffer")).into_owned()
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "{}: {why}\n--- stdout so far:\n{}\n--- stderr:\n{}",
            self.name,
            self.seen.join("\n"),
            self.stderr()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Bytes that do not repeat in any short period (xorshift), so a misplaced frame shows.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The path in `-- saved "NAME" from NICK (SIZE bytes) as PATH`.
fn saved_path(line: &str) -> PathBuf {
    let (_, path) = line
        .rsplit_once(" bytes) as ")
        .unwrap_or_else(|| panic!("saved line: {line}"));
    PathBuf::from(path)
}

/// The ID in `-- file offer ID from NICK: ...`.
fn offer_id(line: &str) -> String {
    line.split(' ')
        .nth(3)
        .unwrap_or_else(|| panic!("offer line: {line}"))
        .to_string()
}

/// All files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn chat_clients_talk_in_rooms_and_directly() {
    let daemon = Daemon::start(&[]);
    let tmp = TempDir::new("chat");
    // carol, a raw protocol client, stays in #lobby and must not hear #rust.
    let mut carol = daemon.named("carol");
    let mut alice = Proc::chat(&daemon, "alice", tmp.path());
    let mut bob = Proc::chat(&daemon, "bob", tmp.path());
    alice.expect(|l| l.ends_with(" is now known as bob"));

    alice.send("hello bob");
    bob.expect_line("#lobby <alice> hello bob");
    carol.expect_eventually("#lobby <alice> hello bob");

    bob.send("/msg alice psst, just you");
    // PROTOCOL.md has `@ <bob> ...` here; the daemon sends `@alice <bob> ...`. Either way
    // the client shows the line as it is.
    alice.expect(|l| l.starts_with('@') && l.ends_with(" <bob> psst, just you"));

    alice.send("/join #rust");
    alice.expect_line("* alice joined #rust");
    bob.send("/join #rust");
    bob.expect_line("* bob joined #rust");
    alice.expect_line("* bob joined #rust");

    // A plain line goes to the current room, now #rust.
    alice.send("fearless concurrency");
    bob.expect_line("#rust <alice> fearless concurrency");
    bob.send("/say #lobby back in the lobby");
    alice.expect_line("#lobby <bob> back in the lobby");
    let heard = carol.expect_eventually("#lobby <bob> back in the lobby");
    assert!(
        heard.iter().all(|l| !l.contains("#rust")),
        "carol heard #rust: {heard:?}"
    );

    // Client-side mistakes are reported, and a refused offer does not hold up quitting.
    alice.send("/send bob /nonexistent/file.txt");
    alice.expect(|l| l.starts_with("-- cannot send /nonexistent/file.txt"));
    let file = tmp.path().join("note.txt");
    fs::write(&file, b"hi").expect("write file");
    alice.send(&format!("/send nobody {}", file.display()));
    alice.expect(|l| l.starts_with("-- the offer of \"note.txt\" to nobody failed"));
    alice.expect(|l| l.starts_with("! no-such-nick nobody"));

    // End of input: /quit, the server closes, exit 0.
    assert!(alice.wait().success(), "alice: {}", alice.stderr());
    bob.expect(|l| l.starts_with("* alice quit"));
    bob.close_stdin();
    let rest = bob.rest();
    assert!(bob.wait().success(), "bob: {rest:?}");
}

#[test]
fn chat_clients_send_a_file() {
    let daemon = Daemon::start(&[]);
    let src = TempDir::new("upload");
    let downloads = TempDir::new("downloads");
    let data = payload(3 * 1024 * 1024 + 12345);
    let file = src.path().join("payload.bin");
    fs::write(&file, &data).expect("write payload");

    let mut bob = Proc::chat(&daemon, "bob", downloads.path());
    let mut alice = Proc::chat(&daemon, "alice", src.path());
    alice.send(&format!("/send bob {}", file.display()));
    // Input ends while the offer is open: alice must finish the upload before quitting.
    alice.close_stdin();

    let offer = bob.expect(|l| l.starts_with("-- file offer "));
    let size = data.len().to_string();
    assert!(offer.contains("from alice: \"payload.bin\""), "{offer}");
    assert!(offer.contains(&format!("{size} bytes")), "{offer}");
    let id = offer_id(&offer);
    bob.send(&format!("/accept {id}"));

    let saved = bob.expect(|l| l.starts_with("-- saved \"payload.bin\" from alice"));
    let path = saved_path(&saved);
    assert_eq!(path, downloads.path().join("payload.bin"));
    assert!(
        fs::read(&path).expect("read download") == data,
        "the bytes differ"
    );
    assert_eq!(
        files_under(downloads.path()),
        vec![path],
        "only the file, no .part left"
    );

    alice.expect(|l| l.starts_with("-- sent \"payload.bin\" to bob"));
    assert!(alice.wait().success(), "alice: {}", alice.stderr());
    assert!(
        alice.stderr().contains("(100%)"),
        "progress: {}",
        alice.stderr()
    );
    bob.close_stdin();
    assert!(bob.wait().success());
}

#[test]
fn hostile_file_names_stay_in_the_download_dir() {
    let daemon = Daemon::start(&[]);
    let tmp = TempDir::new("hostile");
    // Deep enough that `../../x` from the download dir is still inside tmp, where it is seen.
    let downloads = tmp.path().join("a").join("b").join("downloads");
    fs::create_dir_all(&downloads).expect("create download dir");
    fs::write(downloads.join("report.txt"), b"original").expect("write existing file");

    let mut bob = Proc::chat(&daemon, "bob", &downloads);
    let mut mallory = daemon.named("mallory");
    let names = [
        "../../etc/passwd",
        "../../../../../../../../tmp/evil",
        "CON",
        "nul.txt",
        "a/b\\c",
        "..",
        ".hidden",
        "report.txt",
        "report.txt",
        "/absolute",
    ];
    let mut saved = Vec::new();
    for name in names {
        mallory.send(&format!("/offer bob 5 {name}"));
        let id = common::offered_id(&mallory.line_starting("% offered "));
        let offer = bob.expect(|l| l.starts_with(&format!("-- file offer {id} from mallory")));
        assert!(offer.contains(name), "{offer}");
        bob.send(&format!("/accept {id}"));
        mallory.expect_eventually(&format!("% accepted {id}"));
        mallory.send_raw(format!("/data {id} 5\nhello").as_bytes());
        mallory.expect_eventually(&format!("% done {id}"));
        let line = bob.expect(|l| l.starts_with("-- saved ") || l.contains("not saved"));
        let path = saved_path(&line);
        assert_eq!(path.parent(), Some(downloads.as_path()), "{line}");
        saved.push(path);
    }

    // An empty file is done as soon as it is accepted.
    mallory.send("/offer bob 0 empty.txt");
    let id = common::offered_id(&mallory.line_starting("% offered "));
    bob.expect(|l| l.starts_with(&format!("-- file offer {id} ")));
    bob.send(&format!("/accept {id}"));
    let line = bob.expect(|l| l.starts_with("-- saved \"empty.txt\""));
    saved.push(saved_path(&line));

    // A declined offer leaves nothing.
    mallory.send("/offer bob 5 declined.txt");
    let id = common::offered_id(&mallory.line_starting("% offered "));
    bob.expect(|l| l.starts_with(&format!("-- file offer {id} ")));
    bob.send(&format!("/decline {id}"));
    mallory.expect_eventually(&format!("% declined {id}"));
    bob.expect(|l| l.contains("\"declined.txt\" from mallory was declined"));

    let mut files = files_under(tmp.path());
    files.sort();
    saved.push(downloads.join("report.txt"));
    saved.sort();
    assert_eq!(
        files, saved,
        "every file is in the download dir, none twice"
    );
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
        assert!(!name.starts_with('.') && !name.contains(".."), "{name}");
        assert!(!["CON", "NUL"].contains(&stem.as_str()), "{name}");
        assert!(!name.ends_with(".part"), "{name}");
        let want: &[u8] = match name {
            "report.txt" => b"original",
            "empty.txt" => b"",
            _ => b"hello",
        };
        assert_eq!(fs::read(path).expect("read"), want, "{name}");
    }
    assert!(files.contains(&downloads.join("report (1).txt")));
    assert!(files.contains(&downloads.join("report (2).txt")));

    // A transfer cancelled halfway leaves nothing behind.
    mallory.send("/offer bob 10 partial.bin");
    let id = common::offered_id(&mallory.line_starting("% offered "));
    bob.expect(|l| l.starts_with(&format!("-- file offer {id} ")));
    bob.send(&format!("/accept {id}"));
    mallory.expect_eventually(&format!("% accepted {id}"));
    mallory.send_raw(format!("/data {id} 5\nhello/cancel {id}\n").as_bytes());
    let aborted = bob.expect(|l| l.contains("\"partial.bin\" from mallory was aborted"));
    assert!(aborted.contains("partial file was removed"), "{aborted}");
    assert_eq!(
        files_under(tmp.path()).len(),
        files.len(),
        "no partial file left"
    );

    bob.close_stdin();
    assert!(bob.wait().success());
}

#[test]
fn chat_client_exits_non_zero_when_the_server_goes_away() {
    let mut daemon = Daemon::start(&[]);
    let tmp = TempDir::new("shutdown");
    let mut alice = Proc::chat(&daemon, "alice", tmp.path());
    daemon.terminate();
    alice.expect_line("* server shutting down");
    alice.expect(|l| l.contains("closed the connection") || l.contains("connection lost"));
    let status = alice.wait();
    assert!(!status.success(), "exit status {status}");
}

#[test]
fn hello_client_prints_the_daemon_greeting() {
    let mut daemon = Daemon::start(&[]);
    let mut hello = Proc::spawn("hello_client", &[&daemon.native.to_string()]);
    hello.expect(|l| l.starts_with("* Hello, world! This is snak ") && l.contains(" in #lobby."));
    // snak keeps the connection open; once it closes, hello_client is done.
    daemon.terminate();
    hello.expect_line("* server shutting down");
    assert!(hello.wait().success(), "{}", hello.stderr());
}

#[test]
fn hello_client_and_hello_server() {
    let mut server = Proc::spawn("hello_server", &["127.0.0.1:0"]);
    let listening = server.expect(|l| l.starts_with("listening on "));
    let addr = listening.trim_start_matches("listening on ").to_string();

    // A client that leaves without reading does not stop the server.
    drop(TcpStream::connect(&addr).expect("connect"));
    for _ in 0..2 {
        let mut client = Proc::spawn("hello_client", &[&addr]);
        assert_eq!(client.rest(), vec!["Hello, world!"]);
        assert!(client.wait().success(), "{}", client.stderr());
    }
    server.expect(|l| l.starts_with("connection from 127.0.0.1:"));
}

#[test]
fn refused_connections_give_one_line_and_exit_1() {
    // A port that was free a moment ago: bound by us, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    for (name, args) in [
        ("hello_client", vec![addr.as_str()]),
        ("chat_client", vec!["--addr", addr.as_str()]),
    ] {
        let mut p = Proc::spawn(name, &args);
        assert!(p.rest().is_empty());
        let status = p.wait();
        let stderr = p.stderr();
        assert_eq!(status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.contains("cannot connect") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}
