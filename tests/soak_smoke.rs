//! Runs the soak tool (`examples/soak`) for about five seconds against the freshly built
//! daemon: normal chat beside floods, slow readers, half-open and reset connections and file
//! transfers; it must report that every normal message arrived exactly once and in order and
//! that memory came back down. Timings are never asserted.
//!
//! `cargo test --all-targets` (and `make test`) build the example; this test only runs it.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/soak`, found from this test's own path
/// (`target/<profile>/deps/soak_smoke-HASH`).
fn soak_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir
        .join("examples")
        .join(format!("soak{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_soak_passes_at_smoke_size() {
    let bin = soak_bin();
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build --examples`",
        bin.display()
    );
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
}
