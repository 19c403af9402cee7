//! Runs the soak tool (`examples/soak`) for about five seconds against the freshly built
//! daemon: normal chat beside floods, slow readers, half-open and reset connections, file
//! transfers and the amplification attack; it must report that every normal message arrived
//! exactly once and in order, that the attack was refused, and that memory came back down.
//! Timings are never asserted.
//!
//! `make test` builds the example first; this test only runs it.

mod common;

use std::process::Command;

#[test]
fn the_soak_passes_at_smoke_size() {
    let bin = common::example_bin("soak");
    let out = Command::new(&bin)
        .args(["--smoke", "--snak", env!("CARGO_BIN_EXE_snak")])
        .output()
        .expect("run the soak tool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "soak failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("soak: PASS"), "{stdout}");
    assert!(stdout.contains("transferred and checked"), "{stdout}");
    assert!(stdout.contains("soak: amplification: "), "{stdout}");
}
