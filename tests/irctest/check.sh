#!/usr/bin/env bash
# What `make test` runs: the irctest suite (run.sh) with one progress line per file, then a
# short summary from its result file. Fails on any failed test, on a pytest run that did not
# end cleanly (nothing collected, interrupted, timed out), or when no result was written.
set -uo pipefail
cd "$(dirname "$0")/../.."
RESULTS=${SNAK_RESULTS_DIR:-target/test-results}
RESULT=$RESULTS/irctest.result
# -q undoes run.sh's -v: pytest's dots and a percentage per file, the failures at the end.
tests/irctest/run.sh -q "$@"
status=$?
if [ ! -f "$RESULT" ]; then
    echo "irctest: FAILED: no result file (run.sh exited with $status)"
    exit 1
fi
count() { awk -v k="$1" '$1 == k {print $2}' "$RESULT"; }
failed=$(count failed)
echo "irctest: $(count ran) ran"
echo "irctest: $(count passed) passed, $failed failed, $(count skipped) skipped"
if [ "${failed:-1}" != 0 ] || [ "$status" != 0 ]; then
    grep '^fail ' "$RESULT" | sed 's/^fail /irctest: FAILED /'
    echo "irctest: FAILED ($failed failed; pytest exited with $status)"
    exit 1
fi
