//! Runs the load generator (`examples/stress`) at tiny sizes against the freshly built daemon:
//! every scenario must pass its delivery checks. Timings are never asserted.
//!
//! `cargo test --all-targets` builds the example; this test only runs it.

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/stress`, found from this test's own path
/// (`target/<profile>/deps/stress_smoke-HASH`).
fn stress_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir
        .join("examples")
        .join(format!("stress{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn every_scenario_passes_at_smoke_sizes() {
    let bin = stress_bin();
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo test --all-targets`",
        bin.display()
    );
    let out_dir = std::env::temp_dir().join(format!("snak-stress-smoke-{}", std::process::id()));
    let out = Command::new(&bin)
        .args(["--smoke", "--snak", env!("CARGO_BIN_EXE_snak"), "--out"])
        .arg(&out_dir)
        .output()
        .expect("run the stress example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "stress --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for scenario in [
        "idle",
        "fanout100",
        "fanout1000",
        "pairs500",
        "rooms",
        "files",
        "slow",
        "paced",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(scenario)
                    && l.trim_end().ends_with("ok")),
            "no passing `{scenario}` row in:\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
