//! Interop: a real third-party IRC client library (Python's `irc` package, pinned in
//! `tests/interop/requirements.txt` and installed by `make test` into `.venv-test` through
//! `tests/venv.sh`) registers, negotiates message-tags and server-time, joins a room, talks
//! with a native client (checking the tags it gets) and parts.

mod common;

use std::path::Path;
use std::process::Command;

use common::Daemon;

#[test]
fn python_irc_library_talks_to_a_native_client() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(python) = common::test_python("irc.client") else {
        return common::skip(
            "no Python with the irc package; `make test` makes .venv-test with it, or run \
             tests/venv.sh .venv-test tests/interop/requirements.txt",
        );
    };
    let d = Daemon::start(&[]);
    let irc = d.irc.expect("an IRC listener");
    let mut nat = d.named("nat");
    nat.send("/join #interop");
    nat.expect("* nat joined #interop");
    let mut py = Command::new(&python)
        .arg(root.join("tests/interop/irc_client.py"))
        .args([irc.ip().to_string(), irc.port().to_string()])
        .spawn()
        .expect("start python");
    nat.expect("* pybot joined #interop");
    nat.expect("#interop <pybot> hello from python");
    nat.send("hello from native");
    nat.expect("* pybot left #interop (bye)");
    let status = common::wait_exit(&mut py);
    assert!(status.success(), "the Python client reported a failure");
    nat.send("/who #interop");
    nat.expect("= who #interop @nat");
}
