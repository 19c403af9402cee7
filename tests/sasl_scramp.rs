//! snak's SCRAM-SHA-256 server against someone else's client: the Python `scramp` library
//! (pinned in tests/sasl/requirements.txt), driving `auth::sasl::Exchange` with credentials
//! made the way registration makes them, and then the real binary: an IRC client in Python
//! logs in with SASL PLAIN and SCRAM-SHA-256 before registering.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use snak::auth::password::{self, HashParams};
use snak::auth::sasl::{Exchange, Failure, Step};
use snak::auth::scram::{self, ScramCredentials};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sasl/scramp_client.py");
const IRC_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sasl/irc_sasl_client.py");

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

/// The lines the Python IRC client printed for one login.
fn irc_login(
    python: &str,
    d: &common::Daemon,
    mechanism: &str,
    account: &str,
    password: &str,
    nick: &str,
) -> Vec<String> {
    let irc = d.irc.expect("an IRC listener");
    let out = Command::new(python)
        .args([
            IRC_CLIENT,
            &irc.ip().to_string(),
            &irc.port().to_string(),
            mechanism,
            account,
            password,
            nick,
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run the IRC SASL client");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert!(out.status.success(), "the client stopped early: {lines:?}");
    lines
}

#[test]
fn a_python_irc_client_logs_in_to_snak_with_plain_and_scram() {
    let Some(python) = scramp_python() else {
        return;
    };
    let d = common::Daemon::start(&[]);
    let mut reg = d.named("Scramtest");
    reg.send("/register sesame");
    reg.expect("= registered Scramtest");
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        assert_eq!(
            irc_login(&python, &d, mechanism, "scramtest", "sesame", "sc1"),
            ["sasl ok Scramtest", "welcome sc1", "account Scramtest"],
            "{mechanism}"
        );
        assert_eq!(
            irc_login(&python, &d, mechanism, "Scramtest", "millet", "sc2"),
            ["sasl fail 904", "welcome sc2"],
            "{mechanism} with a wrong password"
        );
    }
    assert_eq!(
        irc_login(&python, &d, "SCRAM-SHA-256", "nobody", "sesame", "sc3"),
        ["sasl fail 904", "welcome sc3"],
        "an unknown account"
    );
}
