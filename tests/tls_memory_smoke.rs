//! Runs the idle-TLS memory count (`examples/tls_memory`) at a small size: every handshake
//! must complete through snak's TLS server side and the report must come out whole. Its
//! figures are measurements for BENCHMARKS.md and are never asserted.
//!
//! `make test` builds the example first; this test only runs it.

mod common;

use std::process::Command;

#[test]
fn the_tls_memory_count_runs_its_handshakes_and_reports() {
    let bin = common::example_bin("tls_memory");
    for suite in ["aes256", "tls12"] {
        let out = Command::new(&bin)
            .args(["200", "20", suite])
            .output()
            .expect("run the tls_memory example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "tls_memory {suite} failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.starts_with(&format!("200 TLS connections ({suite}, 20 handshakes")),
            "{stdout}"
        );
        for line in [
            "live heap per connection, asked for:",
            "RSS growth after malloc_trim(0):",
            "live allocations per connection, by size asked",
        ] {
            assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
        }
    }
}
