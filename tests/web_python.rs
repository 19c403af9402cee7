//! IRC over WebSocket with someone else's client: the Python `websockets` library (pinned in
//! tests/web/requirements.txt) in both IRCv3 subprotocols, chatting with a native user.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use common::Daemon;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/ws_client.py");
const WAIT: Duration = Duration::from_secs(10);

struct WsClient {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl WsClient {
    fn start(python: &str, url: &str, subprotocol: &str) -> WsClient {
        let mut child = Command::new(python)
            .args([SCRIPT, url, subprotocol])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the websockets client");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        WsClient {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("to the client");
        self.stdin.flush().expect("flush");
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("the websockets client printed nothing in time")
    }

    /// Skips lines until one contains `part`; returns it.
    fn line_with(&self, part: &str) -> String {
        loop {
            let line = self.line();
            if line.contains(part) {
                return line;
            }
        }
    }
}

impl Drop for WsClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chat_over(subprotocol: &str, frame: &str) {
    let Some(python) = common::test_python("websockets") else {
        return common::skip(
            "no Python with websockets; `make test` makes .venv-test with it, or run \
             tests/venv.sh .venv-test tests/web/requirements.txt",
        );
    };
    let d = Daemon::start(&[]);
    let url = format!("ws://{}/", d.addr("web"));
    let mut ws = WsClient::start(&python, &url, subprotocol);
    assert_eq!(ws.line(), format!("open {subprotocol}"));
    ws.send("NICK wendy");
    ws.send("USER wendy 0 * :Wendy over WebSocket");
    let welcome = ws.line_with(" 001 wendy ");
    assert!(
        welcome.starts_with(&format!("{frame} :snak.localhost 001 wendy ")),
        "{welcome}"
    );
    ws.send("JOIN #ws");
    ws.line_with(" 366 wendy #ws ");

    let mut native = d.named("nora");
    native.send("/join #ws");
    native.expect_eventually("* nora joined #ws");
    assert_eq!(
        ws.line_with("JOIN"),
        format!("{frame} :nora!native@127.0.0.1 JOIN #ws")
    );
    native.send("hello over there");
    assert_eq!(
        ws.line_with("PRIVMSG"),
        format!("{frame} :nora!native@127.0.0.1 PRIVMSG #ws :hello over there")
    );
    ws.send("PRIVMSG #ws :and back over a websocket");
    native.expect_eventually("#ws <wendy> and back over a websocket");
    ws.send("QUIT :bye");
    ws.line_with("ERROR");
    let closed = ws.line_with("closed");
    assert_eq!(closed, "closed 1000", "a normal close");
}

#[test]
fn the_websockets_library_chats_in_text_frames() {
    chat_over("text.ircv3.net", "text");
}

#[test]
fn the_websockets_library_chats_in_binary_frames() {
    chat_over("binary.ircv3.net", "binary");
}
