//! A terminal chat client for snak, grown from the tutorial's threaded Python client, with the
//! standard library only.
//!
//! ```text
//! cargo run --example chat_client -- [--addr ADDR] [--nick NICK] [--download-dir DIR]
//! ```
//!
//! Threads and why:
//! - the **input** thread reads the keyboard (stdin) line by line. Chat commands go to the
//!   server unchanged; `/send NICK PATH` is handled here (it becomes `/offer`).
//! - the **reader** thread reads the socket: lines, and `% data ID LEN` frames whose raw bytes
//!   go into the download's `.part` file.
//! - the **writer** thread owns the socket's write side. Every line and every data frame is
//!   queued whole in the [`Outbox`], so typed lines and frames never interleave mid-frame.
//! - one **upload** thread per accepted offer reads the file and queues frames.
//! - the main thread waits for the end: the server closing (exit 1, unless we asked to quit) or
//!   the end of input (finish transfers, send `/quit`, exit 0).
//!
//! Lines from the server are printed as they are, except file transfer lines (`%`), which are
//! turned into readable `-- ` notices; the client's own notices start with `-- ` too. Transfer
//! progress goes to stderr on one line that keeps being redrawn.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

const DEFAULT_ADDR: &str = "127.0.0.1:12345";
/// The protocol's largest data frame.
const FRAME_MAX: usize = 65536;
/// Frames an upload may have queued before it waits: bounds memory, and passes the server's
/// backpressure on to the reading of the file.
const QUEUED_FRAMES_MAX: usize = 4;
/// Saved file names are cut to this many bytes, leaving room for ` (N)` and `.ID.part`
/// under the usual 255-byte limit of file systems.
const NAME_MAX_BYTES: usize = 200;
/// The protocol's limit for an offered NAME.
const OFFER_NAME_MAX_BYTES: usize = 255;
/// Longer server or keyboard lines are cut (the server's own limit is far lower).
const LINE_MAX_BYTES: usize = 1 << 20;
/// How long typed lines wait for the server's greeting (and our `/nick`) to go first.
const GREETING_WAIT: Duration = Duration::from_secs(5);
/// How long to wait for the server's answer to an `/offer` before giving up on it.
const OFFER_REPLY_WAIT: Duration = Duration::from_secs(10);
/// After `/quit` at the end of input, how long to wait for the server to close.
const QUIT_WAIT: Duration = Duration::from_secs(2);
/// The progress line is redrawn at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

const USAGE: &str = "\
usage: chat_client [--addr ADDR] [--nick NICK] [--download-dir DIR]

  --addr ADDR          the snak server (default 127.0.0.1:12345)
  --nick NICK          choose a nick right after connecting (sends /nick NICK)
  --download-dir DIR   where accepted files are saved (default: the current directory)
  -h, --help           this text

Type chat lines and server commands (/help lists them). Client commands:
  /send NICK PATH      offer a file to NICK; it is sent once they /accept it
Incoming offers are shown with an ID: /accept ID saves the file, /decline ID refuses it.
End of input (Ctrl-D) finishes running uploads, then quits.";

struct Options {
    addr: String,
    nick: Option<String>,
    download_dir: PathBuf,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chat_client: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !opts.download_dir.is_dir() {
        eprintln!(
            "chat_client: download directory {} does not exist or is not a directory",
            opts.download_dir.display()
        );
        return ExitCode::from(2);
    }
    let stream = match TcpStream::connect(&opts.addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chat_client: cannot connect to {}: {e}", opts.addr);
            return ExitCode::FAILURE;
        }
    };
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = match (stream.try_clone(), stream.try_clone()) {
        (Ok(r), Ok(w)) => (r, w),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("chat_client: cannot use the connection: {e}");
            return ExitCode::FAILURE;
        }
    };

    let shared = Arc::new(Shared {
        outbox: Outbox::default(),
        state: Mutex::new(State::default()),
        ui: Ui::default(),
        greeted: (Mutex::new(false), Condvar::new()),
        download_dir: opts.download_dir,
    });
    let (events, rx) = mpsc::channel();
    {
        let shared = Arc::clone(&shared);
        thread::spawn(move || shared.outbox.run(write_half));
    }
    {
        let (shared, events) = (Arc::clone(&shared), events.clone());
        thread::spawn(move || run_reader(&shared, read_half, opts.nick, &events));
    }
    {
        let shared = Arc::clone(&shared);
        thread::spawn(move || run_input(&shared, &events));
    }

    let mut input_ended = false;
    let mut quit_deadline: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::InputEnded) => input_ended = true,
            Ok(Event::Closed(why)) => {
                if lock(&shared.state).quitting {
                    shared.ui.say("-- disconnected");
                    return ExitCode::SUCCESS;
                }
                shared.ui.say(&format!("-- {why}"));
                return ExitCode::FAILURE;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return ExitCode::FAILURE,
        }
        if input_ended && quit_deadline.is_none() && !shared.busy() {
            lock(&shared.state).quitting = true;
            shared.outbox.line("/quit");
            quit_deadline = Some(Instant::now() + QUIT_WAIT);
        }
        if quit_deadline.is_some_and(|d| Instant::now() >= d) {
            shared
                .ui
                .say("-- the server did not close the connection; leaving anyway");
            return ExitCode::SUCCESS;
        }
    }
}

/// `Ok(None)` means help was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        addr: DEFAULT_ADDR.to_string(),
        nick: None,
        download_dir: PathBuf::from("."),
    };
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || match inline.clone().or_else(|| args.next()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("{flag} needs a value")),
        };
        match flag.as_str() {
            "--addr" => opts.addr = value()?,
            "--nick" => opts.nick = Some(value()?),
            "--download-dir" => opts.download_dir = PathBuf::from(value()?),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Some(opts))
}

enum Event {
    InputEnded,
    Closed(String),
}

/// What the threads share.
struct Shared {
    outbox: Outbox,
    state: Mutex<State>,
    ui: Ui,
    /// Set once the server's first line has arrived (and our `/nick` is queued).
    greeted: (Mutex<bool>, Condvar),
    download_dir: PathBuf,
}

/// File transfers, keyed by the server's transfer ID.
#[derive(Default)]
struct State {
    /// `/send` lines whose `/offer` the server has not answered yet.
    pending: Vec<PendingSend>,
    /// Our offers, from `% offered` until `% done`, `% abort`, `% declined` or `% expired`.
    uploads: HashMap<String, Upload>,
    /// Offers made to us and not (yet) accepted.
    offers: HashMap<String, Offer>,
    /// Accepted offers being received.
    downloads: HashMap<String, Download>,
    /// We asked to leave, so the server closing is the expected end.
    quitting: bool,
}

struct PendingSend {
    nick: String,
    size: u64,
    name: String,
    file: File,
    since: Instant,
}

struct Upload {
    nick: String,
    size: u64,
    name: String,
    /// Taken by the upload thread once the offer is accepted.
    file: Option<File>,
    started: Option<Instant>,
    stop: Arc<AtomicBool>,
}

struct Offer {
    from: String,
    size: u64,
    name: String,
    /// The user typed `/accept ID`; the server's `% accepted` is on its way.
    accepting: bool,
}

struct Download {
    from: String,
    size: u64,
    name: String,
    part: PathBuf,
    file: File,
    received: u64,
    started: Instant,
    /// Set when writing failed; the transfer is being cancelled.
    failed: Option<String>,
}

impl Shared {
    /// Whether a transfer of ours is still running, so quitting must wait.
    fn busy(&self) -> bool {
        let mut st = lock(&self.state);
        let now = Instant::now();
        let mut gave_up = Vec::new();
        st.pending.retain(|p| {
            let waiting = now.duration_since(p.since) < OFFER_REPLY_WAIT;
            if !waiting {
                gave_up.push(format!(
                    "-- no answer to the offer of \"{}\" to {}",
                    p.name, p.nick
                ));
            }
            waiting
        });
        for msg in gave_up {
            self.ui.say(&msg);
        }
        !st.pending.is_empty()
            || !st.uploads.is_empty()
            || !st.downloads.is_empty()
            || st.offers.values().any(|o| o.accepting)
    }

    fn wait_for_greeting(&self) {
        let (flag, cv) = &self.greeted;
        let guard = lock(flag);
        let _ = cv.wait_timeout_while(guard, GREETING_WAIT, |greeted| !*greeted);
    }

    fn set_greeted(&self) {
        let (flag, cv) = &self.greeted;
        *lock(flag) = true;
        cv.notify_all();
    }
}

/// A poisoned lock only means another thread panicked; the data is still the best we have.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Writing: one queue, one writer thread.

/// Everything written to the socket is queued here whole (a line, or a frame header with its
/// bytes) and written by one thread, so nothing interleaves. Queuing a line never blocks, so
/// the reader thread can answer the server even while an upload waits for the socket.
#[derive(Default)]
struct Outbox {
    queue: Mutex<OutQueue>,
    changed: Condvar,
}

#[derive(Default)]
struct OutQueue {
    items: VecDeque<(Vec<u8>, bool)>,
    frames: usize,
    closed: bool,
}

impl Outbox {
    fn line(&self, text: &str) {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        let mut q = lock(&self.queue);
        if !q.closed {
            q.items.push_back((bytes, false));
            self.changed.notify_all();
        }
    }

    /// Queues `/data ID LEN` and the bytes; waits while too many frames are queued.
    /// False once the connection is gone.
    fn frame(&self, id: &str, data: &[u8]) -> bool {
        let header = format!("/data {id} {}\n", data.len());
        let mut bytes = Vec::with_capacity(header.len() + data.len());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        let mut q = lock(&self.queue);
        while q.frames >= QUEUED_FRAMES_MAX && !q.closed {
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        if q.closed {
            return false;
        }
        q.frames += 1;
        q.items.push_back((bytes, true));
        self.changed.notify_all();
        true
    }

    /// Forgets the queued frames of an aborted transfer: the server would refuse them.
    fn drop_frames(&self, id: &str) {
        let header = format!("/data {id} ");
        let mut q = lock(&self.queue);
        let before = q.items.len();
        q.items
            .retain(|(bytes, is_frame)| !(*is_frame && bytes.starts_with(header.as_bytes())));
        q.frames -= before - q.items.len();
        self.changed.notify_all();
    }

    fn run(&self, mut stream: TcpStream) {
        loop {
            let (bytes, is_frame) = {
                let mut q = lock(&self.queue);
                loop {
                    if let Some(item) = q.items.pop_front() {
                        break item;
                    }
                    q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let result = stream.write_all(&bytes);
            let mut q = lock(&self.queue);
            if is_frame {
                q.frames -= 1;
            }
            if result.is_err() {
                // The reader thread notices the broken connection and reports it.
                q.closed = true;
                q.items.clear();
                self.changed.notify_all();
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            self.changed.notify_all();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The terminal.

/// Prints chat lines on stdout and the progress line on stderr without mixing them up: a
/// progress line is wiped before a chat line is printed.
#[derive(Default)]
struct Ui {
    inner: Mutex<UiState>,
}

#[derive(Default)]
struct UiState {
    /// Width of the progress line now on the terminal, 0 if none.
    progress_width: usize,
    last_progress: Option<Instant>,
}

impl Ui {
    fn say(&self, text: &str) {
        let mut ui = lock(&self.inner);
        Self::wipe(&mut ui);
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{}", printable(text));
        let _ = out.flush();
    }

    /// Redraws the progress line, at most every PROGRESS_EVERY unless `force`.
    fn progress(&self, text: &str, force: bool) {
        let mut ui = lock(&self.inner);
        let now = Instant::now();
        if !force
            && ui
                .last_progress
                .is_some_and(|t| now.duration_since(t) < PROGRESS_EVERY)
        {
            return;
        }
        ui.last_progress = Some(now);
        let text = printable(text);
        let width = text.chars().count();
        let pad = ui.progress_width.saturating_sub(width);
        eprint!("\r{text}{:pad$}", "");
        ui.progress_width = width;
    }

    /// Leaves the last progress line on the terminal and moves on.
    fn end_progress(&self) {
        let mut ui = lock(&self.inner);
        if ui.progress_width > 0 {
            eprintln!();
            ui.progress_width = 0;
        }
        ui.last_progress = None;
    }

    fn wipe(ui: &mut UiState) {
        if ui.progress_width > 0 {
            eprint!("\r{:w$}\r", "", w = ui.progress_width);
            ui.progress_width = 0;
            ui.last_progress = None;
        }
    }
}

/// Text from the network with control characters (terminal escapes) made visible.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn progress_text(verb: &str, name: &str, done: u64, total: u64, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    let short: String = name.chars().take(30).collect();
    format!(
        "{verb} \"{short}\": {} / {} ({percent}%), {}/s",
        human_size(done),
        human_size(total),
        human_size((done as f64 / secs) as u64)
    )
}

// ---------------------------------------------------------------------------------------------
// The keyboard.

fn run_input(shared: &Shared, events: &Sender<Event>) {
    // Typed lines go after the greeting and our /nick, so they come from the chosen nick.
    shared.wait_for_greeting();
    let mut stdin = io::stdin().lock();
    let mut buf = Vec::new();
    loop {
        match read_line_capped(&mut stdin, &mut buf, LINE_MAX_BYTES) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                shared.ui.say(&format!("-- cannot read the keyboard: {e}"));
                break;
            }
        }
        let text = String::from_utf8_lossy(&buf);
        handle_input(shared, text.trim_end_matches(['\n', '\r']));
    }
    if shared.busy() {
        shared
            .ui
            .say("-- end of input: quitting once the file transfers are finished");
    }
    let _ = events.send(Event::InputEnded);
}

fn handle_input(shared: &Shared, line: &str) {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or("").to_ascii_lowercase();
    match command.as_str() {
        "/send" => {
            let rest = line
                .trim_start()
                .get("/send".len()..)
                .unwrap_or("")
                .trim_start();
            let (nick, path) = match rest.split_once(char::is_whitespace) {
                Some((nick, path)) if !path.trim().is_empty() => (nick, path.trim()),
                _ => {
                    shared.ui.say("-- usage: /send NICK PATH");
                    return;
                }
            };
            start_send(shared, nick, Path::new(path));
            return;
        }
        "/quit" => lock(&shared.state).quitting = true,
        "/accept" => {
            if let Some(id) = words.next() {
                if let Some(offer) = lock(&shared.state).offers.get_mut(id) {
                    offer.accepting = true;
                }
            }
        }
        "/help" => shared
            .ui
            .say("-- client command: /send NICK PATH offers a file to NICK"),
        _ => {}
    }
    // Everything else goes to the server as typed.
    shared.outbox.line(line);
}

/// `/send NICK PATH`: opens the file now (so what is sent is what was offered) and offers it.
fn start_send(shared: &Shared, nick: &str, path: &Path) {
    let opened = File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
    let (file, meta) = match opened {
        Ok(ok) => ok,
        Err(e) => {
            shared
                .ui
                .say(&format!("-- cannot send {}: {e}", path.display()));
            return;
        }
    };
    if !meta.is_file() {
        shared.ui.say(&format!(
            "-- cannot send {}: not a regular file",
            path.display()
        ));
        return;
    }
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = offer_name(&base);
    let size = meta.len();
    lock(&shared.state).pending.push(PendingSend {
        nick: nick.to_string(),
        size,
        name: name.clone(),
        file,
        since: Instant::now(),
    });
    shared.outbox.line(&format!("/offer {nick} {size} {name}"));
}

/// The NAME sent in `/offer`: the server refuses control characters and more than 255 bytes.
fn offer_name(base: &str) -> String {
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    let cleaned = cut_at_char_boundary(cleaned.trim(), OFFER_NAME_MAX_BYTES)
        .trim()
        .to_string();
    if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    }
}

fn cut_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads one line through its `\n` into `line`, keeping at most `cap` bytes of it.
/// Returns the bytes consumed; 0 at the end of the stream.
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    line.clear();
    let mut total = 0;
    loop {
        let (used, done) = {
            let buf = match r.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(total);
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            let room = cap.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            (chunk.len(), done)
        };
        r.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The socket.

fn run_reader(
    shared: &Arc<Shared>,
    stream: TcpStream,
    nick: Option<String>,
    events: &Sender<Event>,
) {
    let mut reader = BufReader::with_capacity(FRAME_MAX + 1024, stream);
    let mut line = Vec::new();
    let mut greeted = false;
    let why = loop {
        match read_line_capped(&mut reader, &mut line, LINE_MAX_BYTES) {
            Ok(0) => break "the server closed the connection".to_string(),
            Ok(_) => {}
            Err(e) => break format!("connection lost: {e}"),
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if !greeted {
            greeted = true;
            shared.ui.say(text);
            if let Some(nick) = &nick {
                shared.outbox.line(&format!("/nick {nick}"));
            }
            shared.set_greeted();
            continue;
        }
        if let Some(rest) = text.strip_prefix("% data ") {
            if let Err(e) = receive_frame(shared, &mut reader, rest) {
                break format!("connection lost in the middle of a data frame: {e}");
            }
            continue;
        }
        handle_server_line(shared, text);
    };
    drop_downloads(shared, "the connection ended");
    // Typed lines must not wait for a greeting that will never come.
    shared.set_greeted();
    let _ = events.send(Event::Closed(why));
}

/// `% data ID LEN` and LEN raw bytes.
fn receive_frame(shared: &Shared, reader: &mut impl Read, rest: &str) -> io::Result<()> {
    let mut words = rest.split(' ');
    let (id, len) = match (
        words.next(),
        words.next().and_then(|w| w.parse::<usize>().ok()),
    ) {
        (Some(id), Some(len)) => (id, len),
        // Without a length the stream cannot be followed any further.
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unreadable frame header",
            ))
        }
    };
    let mut buf = vec![0u8; len.min(FRAME_MAX)];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        reader.read_exact(&mut buf[..n])?;
        left -= n;
        save_data(shared, id, &buf[..n]);
    }
    Ok(())
}

fn save_data(shared: &Shared, id: &str, data: &[u8]) {
    let mut st = lock(&shared.state);
    let Some(d) = st.downloads.get_mut(id) else {
        return;
    };
    if d.failed.is_some() {
        return;
    }
    // Never write more than was offered (the server should not send more either).
    let room = d.size.saturating_sub(d.received);
    let take = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
    let result = d.file.write_all(&data[..take]);
    d.received += data.len() as u64;
    match result {
        Ok(()) => shared.ui.progress(
            &progress_text(
                "receiving",
                &d.name,
                d.received.min(d.size),
                d.size,
                d.started,
            ),
            d.received >= d.size,
        ),
        Err(e) => {
            d.failed = Some(e.to_string());
            shared.ui.say(&format!(
                "-- cannot write {}: {e}; cancelling",
                d.part.display()
            ));
            shared.outbox.line(&format!("/cancel {id}"));
        }
    }
}

fn handle_server_line(shared: &Arc<Shared>, text: &str) {
    if let Some(rest) = text.strip_prefix("% ") {
        handle_transfer_line(shared, text, rest);
        return;
    }
    if let Some(rest) = text.strip_prefix("! ") {
        forget_failed_offer(shared, rest);
    }
    shared.ui.say(text);
}

/// An error that answers one of our `/offer` lines ends that pending send.
fn forget_failed_offer(shared: &Shared, error: &str) {
    let mut words = error.split(' ');
    let code = words.next().unwrap_or("");
    let arg = words.next().unwrap_or("");
    let mut st = lock(&shared.state);
    let index = match code {
        "no-such-nick" | "cannot-receive-files" => st
            .pending
            .iter()
            .position(|p| p.nick.eq_ignore_ascii_case(arg)),
        "file-too-large" => st.pending.iter().position(|p| p.size.to_string() == arg),
        "usage" if arg.eq_ignore_ascii_case("/offer") => (!st.pending.is_empty()).then_some(0),
        "no-such-transfer" => {
            st.offers.remove(arg);
            None
        }
        _ => None,
    };
    if let Some(i) = index {
        let p = st.pending.remove(i);
        shared.ui.say(&format!(
            "-- the offer of \"{}\" to {} failed:",
            p.name, p.nick
        ));
    }
}

fn handle_transfer_line(shared: &Arc<Shared>, text: &str, rest: &str) {
    let mut words = rest.splitn(2, ' ');
    let (kind, args) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let id = args.split(' ').next().unwrap_or("");
    let ui = &shared.ui;
    let mut st = lock(&shared.state);
    match kind {
        "offer" => {
            // % offer ID FROM SIZE NAME
            let f: Vec<&str> = args.splitn(4, ' ').collect();
            let size = f.get(2).and_then(|s| s.parse::<u64>().ok());
            let (Some(&from), Some(size), Some(&name)) = (f.get(1), size, f.get(3)) else {
                drop(st);
                ui.say(text);
                return;
            };
            let safe = sanitize_file_name(name);
            let saved_as = if safe == name {
                String::new()
            } else {
                format!(", saved as \"{safe}\"")
            };
            ui.say(&format!(
                "-- file offer {id} from {from}: \"{name}\" ({}, {size} bytes{saved_as}); \
                 type /accept {id} or /decline {id}",
                human_size(size)
            ));
            let offer = Offer {
                from: from.into(),
                size,
                name: name.into(),
                accepting: false,
            };
            st.offers.insert(id.to_string(), offer);
        }
        "offered" => {
            // % offered ID NICK SIZE NAME
            let f: Vec<&str> = args.splitn(4, ' ').collect();
            let nick = f.get(1).copied().unwrap_or("");
            let size = f.get(2).and_then(|s| s.parse::<u64>().ok());
            let name = f.get(3).copied().unwrap_or("");
            let exact = st.pending.iter().position(|p| {
                p.nick.eq_ignore_ascii_case(nick) && Some(p.size) == size && p.name == name
            });
            let found = exact.or_else(|| st.pending.iter().position(|p| Some(p.size) == size));
            let Some(i) = found else {
                drop(st);
                ui.say(text);
                return;
            };
            let p = st.pending.remove(i);
            ui.say(&format!(
                "-- offered \"{}\" ({}) to {nick} as transfer {id}; waiting for them to accept",
                p.name,
                human_size(p.size)
            ));
            let upload = Upload {
                nick: nick.to_string(),
                size: p.size,
                name: p.name,
                file: Some(p.file),
                started: None,
                stop: Arc::new(AtomicBool::new(false)),
            };
            st.uploads.insert(id.to_string(), upload);
        }
        "accepted" => {
            let mut known = false;
            if let Some(u) = st.uploads.get_mut(id) {
                known = true;
                ui.say(&format!("-- {} accepted \"{}\"; sending", u.nick, u.name));
                u.started = Some(Instant::now());
                if let Some(file) = u.file.take() {
                    let job = UploadJob {
                        id: id.to_string(),
                        name: u.name.clone(),
                        size: u.size,
                        file,
                        stop: Arc::clone(&u.stop),
                    };
                    let shared = Arc::clone(shared);
                    thread::spawn(move || run_upload(&shared, job));
                }
            }
            if let Some(offer) = st.offers.remove(id) {
                known = true;
                match create_part(&shared.download_dir, &offer.name, id) {
                    Ok((part, file)) => {
                        ui.say(&format!(
                            "-- receiving \"{}\" ({}) from {}",
                            offer.name,
                            human_size(offer.size),
                            offer.from
                        ));
                        let d = Download {
                            from: offer.from,
                            size: offer.size,
                            name: offer.name,
                            part,
                            file,
                            received: 0,
                            started: Instant::now(),
                            failed: None,
                        };
                        st.downloads.insert(id.to_string(), d);
                    }
                    Err(e) => {
                        ui.say(&format!(
                            "-- cannot save \"{}\": {e}; cancelling",
                            offer.name
                        ));
                        shared.outbox.line(&format!("/cancel {id}"));
                    }
                }
            }
            if !known {
                ui.say(&format!("-- transfer {id} accepted"));
            }
        }
        "declined" | "expired" => {
            let what = if kind == "declined" {
                "was declined"
            } else {
                "expired unanswered"
            };
            if let Some(u) = st.uploads.remove(id) {
                ui.say(&format!(
                    "-- your offer of \"{}\" to {} {what}",
                    u.name, u.nick
                ));
            } else if let Some(o) = st.offers.remove(id) {
                ui.say(&format!(
                    "-- the offer of \"{}\" from {} {what}",
                    o.name, o.from
                ));
            } else {
                ui.say(&format!("-- transfer {id} {what}"));
            }
        }
        "done" => {
            let mut known = false;
            if let Some(u) = st.uploads.remove(id) {
                known = true;
                ui.end_progress();
                let secs = u.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
                let rate = human_size((u.size as f64 / secs.max(0.001)) as u64);
                ui.say(&format!(
                    "-- sent \"{}\" to {}: {} bytes in {secs:.2} s ({rate}/s)",
                    u.name, u.nick, u.size
                ));
            }
            if let Some(d) = st.downloads.remove(id) {
                known = true;
                ui.end_progress();
                let (name, from, size) = (d.name.clone(), d.from.clone(), d.size);
                match finish_download(&shared.download_dir, d) {
                    Ok(path) => ui.say(&format!(
                        "-- saved \"{name}\" from {from} ({size} bytes) as {}",
                        path.display()
                    )),
                    Err(e) => ui.say(&format!("-- \"{name}\" from {from} was not saved: {e}")),
                }
            }
            if !known {
                ui.say(&format!("-- transfer {id} done"));
            }
        }
        "abort" => {
            let reason = args.split_once(' ').map_or("", |(_, r)| r);
            let mut known = false;
            if let Some(u) = st.uploads.remove(id) {
                known = true;
                u.stop.store(true, Ordering::SeqCst);
                shared.outbox.drop_frames(id);
                ui.end_progress();
                ui.say(&format!(
                    "-- sending \"{}\" to {} was aborted: {reason}",
                    u.name, u.nick
                ));
            }
            if let Some(d) = st.downloads.remove(id) {
                known = true;
                ui.end_progress();
                let removed = discard(d.file, &d.part);
                ui.say(&format!(
                    "-- receiving \"{}\" from {} was aborted: {reason}; {removed}",
                    d.name, d.from
                ));
            }
            if let Some(o) = st.offers.remove(id) {
                known = true;
                ui.say(&format!(
                    "-- the offer of \"{}\" from {} was withdrawn: {reason}",
                    o.name, o.from
                ));
            }
            if !known {
                ui.say(&format!("-- transfer {id} aborted: {reason}"));
            }
        }
        _ => ui.say(text),
    }
}

/// Removes the partial files of unfinished downloads (the connection is gone).
fn drop_downloads(shared: &Shared, why: &str) {
    let mut st = lock(&shared.state);
    for (_, d) in st.downloads.drain() {
        let removed = discard(d.file, &d.part);
        shared.ui.say(&format!(
            "-- receiving \"{}\" stopped: {why}; {removed}",
            d.name
        ));
    }
}

fn discard(file: File, part: &Path) -> String {
    drop(file);
    match fs::remove_file(part) {
        Ok(()) => "the partial file was removed".to_string(),
        Err(e) => format!("could not remove the partial file {}: {e}", part.display()),
    }
}

struct UploadJob {
    id: String,
    name: String,
    size: u64,
    file: File,
    stop: Arc<AtomicBool>,
}

fn run_upload(shared: &Shared, mut job: UploadJob) {
    let started = Instant::now();
    let mut sent = 0u64;
    let mut buf = vec![0u8; FRAME_MAX];
    while sent < job.size {
        if job.stop.load(Ordering::SeqCst) {
            return;
        }
        let want = usize::try_from(job.size - sent).map_or(FRAME_MAX, |left| left.min(FRAME_MAX));
        let n = match job.file.read(&mut buf[..want]) {
            Ok(0) => {
                shared.ui.say(&format!(
                    "-- \"{}\" got shorter while sending; cancelling",
                    job.name
                ));
                shared.outbox.line(&format!("/cancel {}", job.id));
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                shared
                    .ui
                    .say(&format!("-- cannot read \"{}\": {e}; cancelling", job.name));
                shared.outbox.line(&format!("/cancel {}", job.id));
                return;
            }
        };
        if !shared.outbox.frame(&job.id, &buf[..n]) {
            return;
        }
        sent += n as u64;
        let last = sent == job.size;
        shared.ui.progress(
            &progress_text("sending", &job.name, sent, job.size, started),
            last,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Saving files.

/// Creates the `.part` file a download is written to, inside `dir`, never over an existing file.
fn create_part(dir: &Path, offered: &str, id: &str) -> io::Result<(PathBuf, File)> {
    let name = sanitize_file_name(offered);
    // The ID comes from the server too: use it only if it is a plain number.
    let id = if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        id
    } else {
        "x"
    };
    for n in 0..100 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let part = dir.join(format!("{name}.{id}{suffix}.part"));
        match OpenOptions::new().write(true).create_new(true).open(&part) {
            Ok(file) => return Ok((part, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many partial files with this name",
    ))
}

/// Checks the size, then gives the `.part` file its final name; returns the final path.
fn finish_download(dir: &Path, d: Download) -> Result<PathBuf, String> {
    let synced = d.file.sync_all();
    drop(d.file);
    let problem = if let Some(e) = d.failed {
        Some(e)
    } else if d.received != d.size {
        Some(format!(
            "received {} bytes, but {} were offered",
            d.received, d.size
        ))
    } else {
        synced.err().map(|e| e.to_string())
    };
    if let Some(problem) = problem {
        let _ = fs::remove_file(&d.part);
        return Err(format!("{problem}; the partial file was removed"));
    }
    place_file(dir, &d.part, &sanitize_file_name(&d.name)).map_err(|e| e.to_string())
}

/// Moves `part` to `dir/name`, or `dir/name (1)` etc. if that exists: never overwrites.
fn place_file(dir: &Path, part: &Path, name: &str) -> io::Result<PathBuf> {
    for n in 0..10_000 {
        let target = dir.join(numbered_name(name, n));
        // A hard link fails if the target exists, so no other file is ever replaced, even one
        // created a moment ago. File systems without hard links get a check and a rename.
        match fs::hard_link(part, &target) {
            Ok(()) => {
                fs::remove_file(part)?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                if fs::symlink_metadata(&target).is_ok() {
                    continue;
                }
                fs::rename(part, &target)?;
                return Ok(target);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "too many files with this name",
    ))
}

/// `name` for n = 0, else `stem (n).ext`.
fn numbered_name(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

/// Turns a file name chosen by someone else into one that is safe to create in the download
/// directory on Unix and Windows: one plain name, never a path. The result has no `/` or `\`,
/// no `..`, no control, invisible or bidirectional-override characters, no characters
/// Windows forbids, no leading dot (hidden files) or space, no trailing dot or space, is not
/// a Windows device name (`CON`, `nul.txt`, `COM1`...), is not empty and is at most
/// NAME_MAX_BYTES bytes long (keeping a short extension).
fn sanitize_file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if unsafe_in_name(c) { '_' } else { c })
        .collect();
    while s.contains("..") {
        s = s.replace("..", ".");
    }
    s = s
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_string();
    if is_windows_device_name(&s) {
        s.insert(0, '_');
    }
    if s.len() > NAME_MAX_BYTES {
        s = shorten(&s, NAME_MAX_BYTES);
    }
    if s.is_empty() {
        s = "download".to_string();
    }
    s
}

fn unsafe_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
        // Zero-width and direction-changing characters: `evil\u{202e}txt.exe` shows as
        // `evilexe.txt`.
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}')
        || c == '\u{feff}'
}

/// Windows opens a device, not a file, for these names, with or without an extension.
fn is_windows_device_name(name: &str) -> bool {
    let stem = name
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let Some((i, _)) = stem.char_indices().nth(3) else {
                return false;
            };
            let (prefix, number) = stem.split_at(i);
            matches!(prefix, "COM" | "LPT")
                && (number.len() == 1 && number.as_bytes()[0].is_ascii_digit()
                    || matches!(number, "¹" | "²" | "³"))
        }
    }
}

/// Cuts `name` to `max` bytes, keeping an extension of up to 16 bytes.
fn shorten(name: &str, max: usize) -> String {
    let ext = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => &name[dot..],
        _ => "",
    };
    let stem = &name[..name.len() - ext.len()];
    let stem = cut_at_char_boundary(stem, max - ext.len());
    let stem = stem.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    format!("{stem}{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The promises of sanitize_file_name, checked on its output.
    fn assert_safe(input: &str) {
        let out = sanitize_file_name(input);
        let shown = format!("{input:?} -> {out:?}");
        assert!(!out.is_empty(), "{shown}");
        assert!(out.len() <= NAME_MAX_BYTES, "{shown}");
        assert!(!out.contains('/') && !out.contains('\\'), "{shown}");
        assert!(!out.contains(".."), "{shown}");
        assert!(!out.chars().any(char::is_control), "{shown}");
        assert!(!out.starts_with('.') && !out.starts_with(' '), "{shown}");
        assert!(!out.ends_with('.') && !out.ends_with(' '), "{shown}");
        assert!(!is_windows_device_name(&out), "{shown}");
        assert_ne!(out, ".");
        let path = Path::new(&out);
        assert_eq!(path.components().count(), 1, "{shown}");
        assert!(
            matches!(
                path.components().next(),
                Some(std::path::Component::Normal(_))
            ),
            "{shown}"
        );
    }

    #[test]
    fn plain_names_are_kept() {
        for name in [
            "a.txt",
            "holiday photos.zip",
            "résumé.pdf",
            "archive.tar.gz",
            "x",
            "日本.txt",
        ] {
            assert_eq!(sanitize_file_name(name), name);
        }
    }

    #[test]
    fn path_separators_and_traversal_are_removed() {
        assert_eq!(sanitize_file_name("a/b\\c"), "a_b_c");
        assert_eq!(sanitize_file_name("../../etc/passwd"), "_._etc_passwd");
        assert_eq!(sanitize_file_name("/etc/passwd"), "_etc_passwd");
        assert_eq!(
            sanitize_file_name("..\\..\\windows\\win.ini"),
            "_._windows_win.ini"
        );
        assert_eq!(sanitize_file_name("C:\\boot.ini"), "C__boot.ini");
        assert_eq!(sanitize_file_name("a..b"), "a.b");
        for name in ["..", ".", "...", "../", "/", "\\", "./.", "....//...."] {
            assert_safe(name);
        }
    }

    #[test]
    fn nul_and_control_characters_are_replaced() {
        assert_eq!(sanitize_file_name("a\0b"), "a_b");
        assert_eq!(sanitize_file_name("\0"), "_");
        assert_eq!(sanitize_file_name("evil\x1b[31m.txt"), "evil_[31m.txt");
        assert_eq!(sanitize_file_name("line\nbreak\r.txt"), "line_break_.txt");
        assert_eq!(sanitize_file_name("del\x7f"), "del_");
        assert_eq!(sanitize_file_name("c1\u{85}.txt"), "c1_.txt");
    }

    #[test]
    fn invisible_and_bidi_characters_are_replaced() {
        let out = sanitize_file_name("photo\u{202e}gpj.exe");
        assert_eq!(out, "photo_gpj.exe");
        assert_eq!(sanitize_file_name("\u{feff}bom\u{200b}.txt"), "_bom_.txt");
    }

    #[test]
    fn hidden_names_lose_their_leading_dots() {
        assert_eq!(sanitize_file_name(".bashrc"), "bashrc");
        assert_eq!(sanitize_file_name("...hidden"), "hidden");
        assert_eq!(sanitize_file_name(" .profile"), "profile");
        assert_eq!(sanitize_file_name("trailing. . "), "trailing");
    }

    #[test]
    fn windows_device_names_are_defused() {
        for name in [
            "CON", "con", "PRN", "aux", "NUL", "nul.txt", "COM1", "com9.log", "LPT1",
        ] {
            let out = sanitize_file_name(name);
            assert!(out.starts_with('_'), "{name} -> {out}");
            assert_safe(name);
        }
        for name in [
            "LPT9.tar.gz",
            "CON .txt",
            "COM¹",
            "conin$",
            "CONOUT$.x",
            "COM0",
        ] {
            assert!(sanitize_file_name(name).starts_with('_'), "{name}");
        }
        for name in [
            "CONSOLE.txt",
            "COM10",
            "LPT",
            "nullable",
            "auxiliary.c",
            "icon.png",
        ] {
            assert_eq!(sanitize_file_name(name), name);
        }
    }

    #[test]
    fn empty_names_get_a_default() {
        for name in ["", " ", "   ", ".", "..", "..."] {
            assert_eq!(sanitize_file_name(name), "download", "{name:?}");
        }
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.txt", "a".repeat(1000));
        let out = sanitize_file_name(&long);
        assert_eq!(out.len(), NAME_MAX_BYTES);
        assert!(out.ends_with("aaa.txt"));
        // Multibyte characters are never split.
        let wide = "é".repeat(300);
        let out = sanitize_file_name(&wide);
        assert!(out.len() <= NAME_MAX_BYTES && out.chars().all(|c| c == 'é'));
        // A cut that would leave `..` before the extension.
        let dotted = format!("{}.{}.md", "b".repeat(NAME_MAX_BYTES - 4), "c".repeat(50));
        assert_safe(&dotted);
        assert_safe(&format!("{}..x", "d".repeat(NAME_MAX_BYTES - 3)));
    }

    #[test]
    fn hostile_names_all_come_out_safe() {
        let pieces = [
            "", ".", "..", "/", "\\", "\0", " ", "CON", "a", "é", "\u{202e}", ":", "\n",
        ];
        // Every combination of three pieces.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    assert_safe(&format!("{a}{b}{c}"));
                }
            }
        }
        assert_safe(&"../".repeat(200));
        assert_safe(&".".repeat(300));
        assert_safe(&format!("{}{}", " ".repeat(250), "x"));
    }

    #[test]
    fn aborted_uploads_lose_their_queued_frames() {
        let outbox = Outbox::default();
        outbox.line("/data 1 typed by hand");
        assert!(outbox.frame("1", b"abc"));
        assert!(outbox.frame("12", b"def"));
        assert!(outbox.frame("1", b"ghi"));
        outbox.drop_frames("1");
        let q = lock(&outbox.queue);
        let left: Vec<&[u8]> = q.items.iter().map(|(b, _)| b.as_slice()).collect();
        assert_eq!(left, [&b"/data 1 typed by hand\n"[..], b"/data 12 3\ndef"]);
        assert_eq!(q.frames, 1);
    }

    #[test]
    fn numbered_names() {
        assert_eq!(numbered_name("a.txt", 0), "a.txt");
        assert_eq!(numbered_name("a.txt", 1), "a (1).txt");
        assert_eq!(numbered_name("archive.tar.gz", 2), "archive.tar (2).gz");
        assert_eq!(numbered_name("README", 3), "README (3)");
    }

    #[test]
    fn offer_names_follow_the_protocol() {
        assert_eq!(offer_name("a\tb\0.txt"), "a_b_.txt");
        assert_eq!(offer_name(""), "file");
        assert!(offer_name(&"ü".repeat(200)).len() <= OFFER_NAME_MAX_BYTES);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }

    #[test]
    fn lines_are_capped_and_split() {
        let mut input: &[u8] = b"one\ntwo words\r\nlong line\nlast";
        let mut line = Vec::new();
        assert_eq!(read_line_capped(&mut input, &mut line, 100).ok(), Some(4));
        assert_eq!(line, b"one\n");
        assert_eq!(read_line_capped(&mut input, &mut line, 100).ok(), Some(11));
        assert_eq!(line, b"two words\r\n");
        assert_eq!(read_line_capped(&mut input, &mut line, 4).ok(), Some(10));
        assert_eq!(line, b"long");
        assert_eq!(read_line_capped(&mut input, &mut line, 100).ok(), Some(4));
        assert_eq!(line, b"last");
        assert_eq!(read_line_capped(&mut input, &mut line, 100).ok(), Some(0));
    }

    #[test]
    fn arguments() {
        let args = |list: &[&str]| parse_args(list.iter().map(|s| s.to_string()));
        let opts = args(&["--addr", "h:1", "--nick=bob", "--download-dir", "/tmp/x"]);
        let opts = opts.ok().flatten().expect("valid arguments");
        assert_eq!(opts.addr, "h:1");
        assert_eq!(opts.nick.as_deref(), Some("bob"));
        assert_eq!(opts.download_dir, PathBuf::from("/tmp/x"));
        assert!(matches!(args(&["--help"]), Ok(None)));
        assert!(args(&["--nick"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&[])
            .ok()
            .flatten()
            .is_some_and(|o| o.addr == DEFAULT_ADDR));
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "snak-chat-client-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    #[test]
    fn saving_never_overwrites() {
        let dir = temp_dir("place");
        fs::write(dir.join("a.txt"), b"old").expect("write");
        for (n, want) in [(1, "a (1).txt"), (2, "a (2).txt")] {
            let (part, mut file) = create_part(&dir, "a.txt", &n.to_string()).expect("part");
            file.write_all(b"new").expect("write part");
            drop(file);
            let placed = place_file(&dir, &part, "a.txt").expect("place");
            assert_eq!(placed, dir.join(want));
            assert!(!part.exists());
        }
        assert_eq!(fs::read(dir.join("a.txt")).expect("read"), b"old");
        assert_eq!(fs::read(dir.join("a (2).txt")).expect("read"), b"new");
        // Two partial files for the same name and ID do not collide either.
        let (p1, _f1) = create_part(&dir, "../x", "7").expect("part");
        let (p2, _f2) = create_part(&dir, "../x", "7").expect("part");
        assert_ne!(p1, p2);
        assert_eq!(p1.parent(), Some(dir.as_path()));
        let (p3, _f3) = create_part(&dir, "y", "../../1").expect("part");
        assert_eq!(p3.parent(), Some(dir.as_path()));
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
