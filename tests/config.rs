//! The config file, `--check-config` and `--hash-password`, through the real binary: a TOML file
//! with hashed secrets takes effect over IRC, errors name the line and set the exit code.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Client, Daemon};

const SNAK: &str = env!("CARGO_BIN_EXE_snak");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snak-config-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn snak(args: &[&str]) -> Output {
    Command::new(SNAK)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run snak")
}

/// `snak --hash-password` with the password on a pipe.
fn hash(password: &str) -> String {
    let mut child = Command::new(SNAK)
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run snak --hash-password");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    phc
}

fn irc(d: &Daemon) -> Client {
    Client::connect(d.irc.expect("an IRC listener"))
}

fn send(c: &mut Client, line: &str) {
    c.send_raw(format!("{line}\r\n").as_bytes());
}

#[test]
fn a_config_file_with_hashed_secrets_takes_effect() {
    let dir = temp_dir("effect");
    let (pass, root) = (hash("sesame"), hash("hunter2"));
    let conf = dir.join("snak.toml");
    std::fs::write(
        &conf,
        format!(
            "server_name = \"from.file\"\nlisten = \"127.0.0.1:0\"\npassword = \"{pass}\"\n\
             motd = [\"Welcome to the test\", \"second line\"]\n\
             [irc]\nlisten = [\"127.0.0.1:0\"]\n\
             [[oper]]\nname = \"root\"\npassword = \"{root}\"\n"
        ),
    )
    .unwrap();
    let d = Daemon::start_with(&["--config", conf.to_str().unwrap()], &[]);
    let s = ":from.file";

    let mut bad = irc(&d);
    send(&mut bad, "PASS hunter2");
    send(&mut bad, "NICK bad");
    send(&mut bad, "USER bad 0 * :Bad");
    bad.expect(&format!("{s} 464 bad :Password incorrect"));

    let mut op = irc(&d);
    send(&mut op, "PASS sesame");
    send(&mut op, "NICK op");
    send(&mut op, "USER op 0 * :Op");
    op.line_starting(&format!("{s} 001 op "));
    op.expect_eventually(&format!("{s} 375 op :- from.file Message of the day - "));
    op.expect(&format!("{s} 372 op :- Welcome to the test"));
    op.expect(&format!("{s} 372 op :- second line"));
    send(&mut op, "OPER root sesame");
    op.expect_eventually(&format!("{s} 464 op :Password incorrect"));
    send(&mut op, "OPER root hunter2");
    op.expect_eventually(&format!("{s} 381 op :You are now an IRC operator"));

    // The command line wins over the file.
    let d = Daemon::start_with(
        &[
            "--config",
            conf.to_str().unwrap(),
            "--server-name",
            "from.args",
        ],
        &[],
    );
    let mut c = irc(&d);
    send(&mut c, "PASS sesame");
    send(&mut c, "NICK c");
    send(&mut c, "USER c 0 * :C");
    c.line_starting(":from.args 001 c ");
}

#[test]
fn plain_text_secrets_work_with_one_warning() {
    let dir = temp_dir("plain");
    let conf = dir.join("snak.toml");
    std::fs::write(
        &conf,
        "password = \"letmein\"\n[irc]\nlisten = \"127.0.0.1:0\"\n[[oper]]\nname = \"a\"\npassword = \"b\"\n",
    )
    .unwrap();
    let mut child = Command::new(SNAK)
        .args([
            "--config",
            conf.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-web",
            "--data-dir",
            "none",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "ready" {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "snak exited early");
    }
    common::signal(child.id(), "-TERM");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(common::wait_exit(&mut child).success());
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("plain-text")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("(the server password, oper a)"),
        "{}",
        warnings[0]
    );
    assert!(!err.contains("letmein"), "a secret in the log: {err}");
}

#[test]
fn check_config_reports_or_fails_with_the_right_exit_code() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("snak.example.toml");
    let out = snak(&[
        "--check-config",
        example.to_str().unwrap(),
        "--max-sendq",
        "65536",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("limits.max_sendq = 65536"), "{report}");
    assert!(report.contains("# command line, live"), "{report}");
    let text = std::fs::read_to_string(&example).unwrap();
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("server_name ="))
        .unwrap();
    assert!(
        report.contains(&format!("snak.example.toml:{line}, restart")),
        "{report}"
    );
    assert!(report.contains("limits.max_clients unset"), "{report}");

    let dir = temp_dir("check");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_sendq = \"lots\"\nmax_sendqq = 1\n").unwrap();
    let out = snak(&["--check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let b = bad.display();
    assert_eq!(
        err,
        format!(
            "snak: {b}:2: key \"limits.max_sendq\": needs a whole number of at least 4096, not \"lots\"\n\
             snak: {b}:3: unknown key \"limits.max_sendqq\" (did you mean \"limits.max_sendq\"?)\n"
        )
    );
    assert!(out.stdout.is_empty());

    // The same file stops a start with exit 1; a bad option is a usage error, exit 2.
    assert_eq!(
        snak(&["--config", bad.to_str().unwrap()]).status.code(),
        Some(1)
    );
    let out = snak(&[
        "--check-config",
        example.to_str().unwrap(),
        "--max-sendq",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = snak(&["--no-irc", "--irc-listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = snak(&["--max-file-size", "99999999999999999999999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too large"));
}
