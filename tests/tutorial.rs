//! The tutorial's own Python programs against snak: its hello client prints the greeting, and
//! two of its threaded chat clients (which send messages with no line ending) talk through
//! snak. The programs are taken from the tutorial text in `../shared/seed/` at test time, with
//! only the port changed to the daemon's ephemeral one.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Daemon, WAIT};

fn tutorial() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/seed/netvaerksprogrammering-i-python.md");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the tutorial tests: {path:?}: {e}"
            );
            eprintln!("SKIPPED tutorial test: {path:?} not found ({e})");
            None
        }
    }
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
fn the_tutorial_hello_client_prints_the_greeting() {
    let Some(text) = tutorial() else { return };
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
fn two_tutorial_chat_clients_talk_through_snak() {
    let Some(text) = tutorial() else { return };
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
    std::thread::sleep(Duration::from_millis(50));
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
