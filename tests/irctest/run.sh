#!/usr/bin/env bash
# Runs the public IRC conformance suite (progval/irctest) against snak, one snak per test,
# started by tests/irctest/snak_controller.py. Every result is shown; extra arguments go to
# pytest (e.g. `-k who`, `-x`, `-q`). Writes $SNAK_RESULTS_DIR/irctest.result (the format of
# the `make test` summary) and exits with pytest's status.
#
# IRCTEST_DIR   the irctest checkout, used where it is and never written to
#               (default ../shared/irctest)
# IRCTEST_VENV  the Python venv for its requirements (default .venv-irctest)
# IRCTEST_JOBS  parallel pytest workers (default 1; see docs/PROTOCOL.md, "Conformance")
# IRCTEST_TIMEOUT  seconds the whole run may take before it is stopped (default 1200)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/irctest
IRCTEST_DIR=${IRCTEST_DIR:-../shared/irctest}
VENV=${IRCTEST_VENV:-.venv-irctest}
JOBS=${IRCTEST_JOBS:-1}
RESULTS=${SNAK_RESULTS_DIR:-target/test-results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
RESULT=$RESULTS/irctest.result
rm -f "$RESULT"

# The selection, as irctest's Makefile makes one per server: tests of other servers'
# extensions and of deprecated behaviour are out. `strict` tests stay in (snak keeps no legacy
# leniency), and so do `services` tests (accounts are built into snak, as into Ergo; the
# controller skips them until snak has a data directory).
MARKERS='not implementation-specific and not deprecated'

if [ ! -f "$IRCTEST_DIR/conftest.py" ] || [ ! -d "$IRCTEST_DIR/irctest/server_tests" ]; then
    reason="no irctest checkout at $IRCTEST_DIR (set IRCTEST_DIR to a checkout of"
    reason="$reason progval/irctest from GitHub, commit b00c039 or later)"
    printf 'suite irctest\nran 0\npassed 0\nfailed 0\nskipped 1\nskip irctest: %s\n' \
        "$reason" >"$RESULT"
    echo "irctest: skipped: $reason"
    exit 0
fi
IRCTEST_DIR=$(cd "$IRCTEST_DIR" && pwd)

# The venv: rebuilt from scratch when it is missing, half-made (no stamp, which is written
# last), made for other requirements, or its interpreter no longer runs.
REQS=$HERE/requirements.txt
want=$(sha256sum "$REQS" | cut -d' ' -f1)
have=$(cat "$VENV/.snak-requirements" 2>/dev/null || true)
check='import ecdsa, filelock, websockets, xdist, pytest; pytest.main'
if [ "$have" != "$want" ] || ! "$VENV/bin/python" -c "$check" 2>/dev/null; then
    echo "irctest: installing its requirements into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQS"
    echo "$want" >"$VENV/.snak-requirements"
fi
VENV=$(cd "$VENV" && pwd)

echo "irctest: building snak"
cargo build --quiet --bin snak
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$ROOT/$target ;; esac
export SNAK_BIN=$target/debug/snak

parallel=()
if [ "$JOBS" != 1 ]; then parallel=(-n "$JOBS"); fi
# Only the server tests: irctest's self_tests check irctest's own helpers, not snak, and its
# client tests are for IRC clients. Arguments naming tests replace this.
paths=(irctest/server_tests)
for arg in "$@"; do
    case $arg in irctest/*) paths=() ;; esac
done

rm -f "$RESULTS/irctest.junit.xml"
echo "irctest: running $IRCTEST_DIR against $SNAK_BIN (-m '$MARKERS')"
start=$(date +%s)
set +e
(
    cd "$IRCTEST_DIR"
    # The checkout is read-only: no bytecode, no pytest cache written into it.
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$IRCTEST_DIR:$HERE" \
        timeout --foreground -k 30 "${IRCTEST_TIMEOUT:-1200}" \
        "$VENV/bin/python" -m pytest -p no:cacheprovider \
        --controller snak_controller -m "$MARKERS" \
        --junitxml "$RESULTS/irctest.junit.xml" -o junit_logging=no \
        -v -rfE --color=no "${parallel[@]}" "$@" "${paths[@]}"
)
status=$?
set -e
echo "irctest: pytest exited with $status after $(($(date +%s) - start)) s"
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "irctest: stopped after IRCTEST_TIMEOUT=${IRCTEST_TIMEOUT:-1200} s" >&2
fi
if [ -f "$RESULTS/irctest.junit.xml" ]; then
    python3 "$HERE/junit_result.py" irctest "$RESULTS/irctest.junit.xml" >"$RESULT"
fi
exit "$status"
