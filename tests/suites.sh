#!/usr/bin/env bash
# The test suites of `make test`, each to the end whatever the others did, then the summary
# of what ran (tests/results.py; the result file format is in docs/TESTING.md). Exits
# non-zero if anything failed.
#
# SNAK_RESULTS_DIR  where the suites write <suite>.result (default target/test-results;
#                   emptied first)
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
RESULTS=${SNAK_RESULTS_DIR:-target/test-results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
export SNAK_RESULTS_DIR=$RESULTS
rm -f "$RESULTS"/*.result "$RESULTS"/rust-skips.txt "$RESULTS"/rust.targets "$RESULTS"/rust.log

# Runs one suite's runner; a runner that wrote no result file counts as failed, unless it
# exited 0 (a runner older than the result files): then it is reported as skipped, never as
# passed, with a pointer to its own output.
run_suite() {
    local name=$1
    shift
    echo "== $name: $*"
    "$@"
    local status=$?
    if [ ! -f "$RESULTS/$name.result" ]; then
        if [ "$status" = 0 ]; then
            printf 'suite %s\nran 0\npassed 0\nfailed 0\nskipped 1\nskip %s: %s\n' "$name" "$name" \
                "$1 exited 0 but wrote no $name.result, so its counts are only in its output above" \
                >"$RESULTS/$name.result"
        else
            printf 'suite %s\nran 0\npassed 0\nfailed 1\nskipped 0\nfail %s: %s\n' "$name" "$name" \
                "$1 exited with status $status without writing $name.result" \
                >"$RESULTS/$name.result"
        fi
    fi
}

# Rust: unit and integration tests, every test binary to its end (--no-fail-fast), output
# kept for the count per binary.
rust_suite() {
    local log=$RESULTS/rust.log
    "$CARGO" test --all-targets --no-fail-fast 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    python3 tests/results.py rust "$log" "$status" "$RESULTS"
}

run_suite rust rust_suite
# The IRC conformance suite (tests/irctest/). A venv of its left half-made (no pip) is
# removed first, so its runner makes it again.
irctest_venv=${IRCTEST_VENV:-.venv-irctest}
if [ -d "$irctest_venv" ] && ! "$irctest_venv/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "irctest: removing the half-made venv $irctest_venv"
    rm -rf "$irctest_venv"
fi
# irctest keeps the ports it hands out in $TMPDIR/irctest_ports.json, shared (without a lock)
# by every irctest run on the machine: this one gets a TMPDIR of its own.
irctest_tmp=$(mktemp -d)
TMPDIR=$irctest_tmp run_suite irctest tests/irctest/check.sh
rm -rf "$irctest_tmp"
# snak's web page in a real browser (tests/browser/).
run_suite browser tests/browser/run.sh

echo
echo "== summary (result files in $RESULTS)"
python3 tests/results.py summary "$RESULTS" rust irctest browser
