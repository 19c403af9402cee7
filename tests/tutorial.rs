//! The tutorial snak grew from (a Danish Python tutorial): its hello client and its threaded
//! chat client, whose messages carry no line ending, read 1024 bytes at a time with one thread
//! reading and one writing.
//!
//! The wire behaviour is tested always, with the project's own client of that behaviour
//! (`common::tutorial`). The tutorial's own Python programs are run as well when its text is
//! at hand (`../shared/seed/`, beside the project; taken from the text at test time with only
//! the port changed); without it those two tests are reported as skipped.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use common::tutorial::{self, ChatClient};
use common::{Daemon, WAIT};

// ---- the wire behaviour, with the project's own client ----

#[test]
fn one_recv_of_1024_bytes_gets_the_greeting() {
    let d = Daemon::start(&[]);
    let got = tutorial::hello(d.native);
    assert!(got.len() <= tutorial::RECV);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("* Hello, world! This is snak "), "{text}");
}

#[test]
fn two_chat_clients_talk_with_messages_that_have_no_line_ending() {
    let d = Daemon::start(&[]);
    let mut first = ChatClient::connect(d.native);
    let hello = first.line_where("a greeting", |l| l.starts_with("* Hello, world!"));
    let first_nick = nick_in_greeting(&hello);
    let mut second = ChatClient::connect(d.native);
    let hello = second.line_where("a greeting", |l| l.starts_with("* Hello, world!"));
    let second_nick = nick_in_greeting(&hello);
    first.expect(&format!("* {second_nick} joined #lobby"));

    first.type_message("hej fra den ene");
    second.expect(&format!("#lobby <{first_nick}> hej fra den ene"));
    second.type_message("og hej tilbage");
    first.expect(&format!("#lobby <{second_nick}> og hej tilbage"));
    // A command typed in the tutorial client works too.
    second.type_message("/nick anden");
    first.expect(&format!("* {second_nick} is now known as anden"));
    // A message longer than one read: sent whole, it arrives whole, over several reads.
    let long = "x".repeat(3 * tutorial::RECV);
    first.type_message(&long);
    let reads_before = second.reads.len();
    second.expect(&format!("#lobby <{first_nick}> {long}"));
    assert!(second.reads.len() - reads_before >= 3, "{:?}", second.reads);
    assert!(second
        .reads
        .iter()
        .all(|&n| (1..=tutorial::RECV).contains(&n)));
    // And the next message after it is a message of its own.
    second.type_message("kort");
    first.expect("#lobby <anden> kort");
}

fn nick_in_greeting(hello: &str) -> String {
    hello
        .split("You are ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no nick in the greeting {hello:?}"))
        .to_string()
}

// ---- the tutorial's own Python programs, when its text is at hand ----

const TUTORIAL: &str = "../shared/seed/netvaerksprogrammering-i-python.md";

/// The tutorial text and python3, or None after recording why the test cannot run.
fn tutorial_and_python() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(TUTORIAL);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            common::skip(&format!(
                "the tutorial text {TUTORIAL} is not beside the project ({e}); it is in the \
                 shared tree that sits at ../shared next to a checkout of snak"
            ));
            return None;
        }
    };
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        common::skip("python3 is not installed (apt-get install python3)");
        return None;
    }
    Some(text)
}

/// The tutorial's Python code blocks, in order.
fn code_blocks(text: &str) -> Vec<String> {
    text.split("```python\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(str::to_string)
        .collect()
}

/// The block that connects as a client and does `what` ("recv(1024)" or "threading").
fn client_program(text: &str, marker: &str, port: u16) -> String {
    let block = code_blocks(text)
        .into_iter()
        .find(|b| b.contains("client.connect(") && b.contains(marker))
        .expect("the tutorial has this client");
    assert!(
        block.contains("12345"),
        "the tutorial's client uses port 12345"
    );
    block.replace("12345", &port.to_string())
}

fn python(program: &str) -> Child {
    Command::new("python3")
        .args(["-u", "-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run python3")
}

/// Lines of a child's stdout, delivered through a channel so waits can time out.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no matching line from the tutorial client: {e}"),
        }
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_tutorials_own_hello_client_prints_the_greeting() {
    let Some(text) = tutorial_and_python() else {
        return;
    };
    let d = Daemon::start(&[]);
    let program = client_program(&text, "recv(1024)", d.native.port());
    let out = Command::new("python3")
        .args(["-c", &program])
        .output()
        .expect("run python3");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.starts_with("* Hello, world! This is snak "),
        "{printed}"
    );
}

#[test]
fn two_of_the_tutorials_own_chat_clients_talk_through_snak() {
    let Some(text) = tutorial_and_python() else {
        return;
    };
    let d = Daemon::start(&[]);
    let program = client_program(&text, "threading", d.native.port());
    let mut first = python(&program);
    let first_lines = lines_of(&mut first);
    let hello = wait_for(&first_lines, |l| l.starts_with("* Hello, world!"));
    let first_nick = hello
        .split("You are ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();
    let mut second = python(&program);
    let second_lines = lines_of(&mut second);
    wait_for(&second_lines, |l| l.starts_with("* Hello, world!"));
    let joined = wait_for(&first_lines, |l| l.ends_with(" joined #lobby"));
    let second_nick = joined.split(' ').nth(1).unwrap().to_string();

    // input() strips the newline and the client sends the bare text: snak takes it whole.
    let mut keyboard = first.stdin.take().unwrap();
    keyboard.write_all(b"hej fra den ene\n").unwrap();
    keyboard.flush().unwrap();
    wait_for(&second_lines, |l| {
        l == format!("#lobby <{first_nick}> hej fra den ene")
    });
    let mut other_keyboard = second.stdin.take().unwrap();
    other_keyboard.write_all(b"og hej tilbage\n").unwrap();
    other_keyboard.flush().unwrap();
    wait_for(&first_lines, |l| {
        l == format!("#lobby <{second_nick}> og hej tilbage")
    });
    // A command typed in the tutorial client works too.
    other_keyboard.write_all(b"/nick anden\n").unwrap();
    other_keyboard.flush().unwrap();
    wait_for(&first_lines, |l| {
        l == format!("* {second_nick} is now known as anden")
    });
    stop(first);
    stop(second);
}
