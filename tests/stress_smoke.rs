//! Runs the load generator (`examples/stress`) at tiny sizes against the freshly built daemon:
//! every scenario must pass its delivery checks. Timings are never asserted.
//!
//! `make test` builds the example first; this test only runs it.

mod common;

use std::process::Command;

#[test]
fn every_scenario_passes_at_smoke_sizes() {
    let bin = common::example_bin("stress");
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
        "amplify",
        "storm",
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

/// The generator's TLS and WebSocket clients against snak's own TLS, WebSocket and WebSocket
/// over TLS listeners, IRC clients with tags, and history on: registration and a small
/// fan-out must pass their checks on each.
#[test]
fn tls_websocket_tags_and_history_targets_pass_at_smoke_sizes() {
    let bin = common::example_bin("stress");
    let out_dir =
        std::env::temp_dir().join(format!("snak-stress-smoke-tls-{}", std::process::id()));
    let targets = [
        "snak-native-tls",
        "snak-irc-tls",
        "snak-irc-ws",
        "snak-irc-wss",
        "snak-irc+tags",
        "snak-native+history",
    ];
    let out = Command::new(&bin)
        .args(["--smoke", "--snak", env!("CARGO_BIN_EXE_snak"), "--out"])
        .arg(&out_dir)
        .args([
            "--target",
            &targets.join(","),
            "--scenario",
            "idle,fanout100",
        ])
        .output()
        .expect("run the stress example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "stress --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for target in targets {
        for scenario in ["idle", "fanout100"] {
            assert!(
                stdout.lines().any(|l| {
                    let mut w = l.split_whitespace();
                    w.next() == Some(scenario)
                        && w.next() == Some(target)
                        && l.trim_end().ends_with("ok")
                }),
                "no passing `{scenario}` row for {target} in:\n{stdout}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
