//! Runs the file benchmark (`examples/file_bench`) at its smoke size (16 MiB) against the
//! freshly built daemon: the transfer between two web clients must complete and the bytes
//! must match. Timings are never asserted.
//!
//! `make test` builds the example first; this test only runs it.

mod common;

use std::process::Command;

#[test]
fn a_file_crosses_between_two_web_clients_at_smoke_size() {
    let bin = common::example_bin("file_bench");
    let out = Command::new(&bin)
        .args([
            "--smoke",
            "--timeout",
            "120",
            "--snak",
            env!("CARGO_BIN_EXE_snak"),
        ])
        .output()
        .expect("run the file_bench example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "file_bench --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let bytes = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("bytes"))
        .unwrap_or_else(|| panic!("no bytes line in:\n{stdout}"));
    assert!(
        bytes.trim().starts_with(&format!("{} received,", 16 << 20))
            && bytes.ends_with("= sent: ok"),
        "the bytes did not match:\n{stdout}"
    );
}
