//! snak's SCRAM-SHA-256 server against someone else's client: the Python `scramp` library
//! (pinned in tests/sasl/requirements.txt), driving `auth::sasl::Exchange` with credentials
//! made the way registration makes them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use snak::auth::password::{self, HashParams};
use snak::auth::sasl::{Exchange, Failure, Step};
use snak::auth::scram::{self, ScramCredentials};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sasl/scramp_client.py");

/// A Python with scramp (the project's test venv, see `common::test_python`); otherwise the
/// test is recorded as skipped (or fails under plain `cargo test`), so it never passes
/// without its client.
fn scramp_python() -> Option<String> {
    let python = common::test_python("scramp");
    if python.is_none() {
        common::skip(
            "no Python with scramp; `make test` makes .venv-test with it, or run \
             tests/venv.sh .venv-test tests/sasl/requirements.txt",
        );
    }
    python
}

/// Runs one exchange; returns the server's verdict and the client's last words.
fn exchange(
    python: &str,
    username: &str,
    password: &str,
    creds: Option<&ScramCredentials>,
) -> (Step, String) {
    let mut client = Command::new(python)
        .args([SCRIPT, username, password])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_client = client.stdin.take().unwrap();
    let mut from_client = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut next = || from_client.next().expect("the client stopped").unwrap();

    let (mut ex, first) = Exchange::start("SCRAM-SHA-256").unwrap();
    assert_eq!(first, Step::Send(vec!["+".into()]));
    let Step::LookupScram { account } = ex.receive(&next()) else {
        panic!("no lookup")
    };
    assert_eq!(account, username);
    let nonce = scram::server_nonce().unwrap();
    let Step::Send(server_first) = ex.scram_credentials(creds, &nonce) else {
        panic!("no server-first")
    };
    writeln!(to_client, "{}", server_first.concat()).unwrap();
    let verdict = match ex.receive(&next()) {
        Step::Send(server_final) => {
            writeln!(to_client, "{}", server_final.concat()).unwrap();
            let words = next();
            (ex.receive("+"), words)
        }
        other => (other, String::new()),
    };
    drop(to_client);
    client.wait().unwrap();
    verdict
}

#[test]
fn scramp_logs_in_with_the_right_password_and_checks_the_server() {
    let Some(python) = scramp_python() else {
        return;
    };
    let hashes = password::hash(&HashParams::cheap(), "sesame").unwrap();
    let (step, client) = exchange(&python, "Scramtest", "sesame", Some(&hashes.scram));
    assert_eq!(step, Step::Success);
    assert_eq!(client, "ok", "scramp rejected the server's signature");
}

#[test]
fn scramp_with_a_wrong_password_or_unknown_user_fails() {
    let Some(python) = scramp_python() else {
        return;
    };
    let hashes = password::hash(&HashParams::cheap(), "sesame").unwrap();
    let (step, _) = exchange(&python, "Scramtest", "millet", Some(&hashes.scram));
    assert_eq!(step, Step::Fail(Failure::BadCredentials));
    let (step, _) = exchange(&python, "nobody", "sesame", None);
    assert_eq!(step, Step::Fail(Failure::BadCredentials));
}

#[test]
fn scramp_and_snak_prepare_passwords_alike() {
    let Some(python) = scramp_python() else {
        return;
    };
    // Registered as U+2168 ROMAN NUMERAL NINE; typed as "IX": SASLprep makes them one.
    let hashes = password::hash(&HashParams::cheap(), "p\u{2168}ss").unwrap();
    let (step, client) = exchange(&python, "alice", "pIXss", Some(&hashes.scram));
    assert_eq!((step, client.as_str()), (Step::Success, "ok"));
    assert!(
        password::verify(&hashes.phc, "pIXss"),
        "PLAIN agrees with SCRAM"
    );
}
