#!/usr/bin/env bash
# Runs the public irctest conformance suite against snak started with ordinary options.
#
# irctest on PyPI is version 0.1.2 (2017). Its sdist cannot be installed (setup.py reads a
# requirements.txt the sdist does not ship), so pip downloads and unpacks it (--no-clean keeps
# the unpacked tree) and the suite runs from that tree. Its dependencies install normally.
# Known failures (see docs/PROTOCOL.md, "Conformance"): the two INVITE tests of that version
# expect `INVITE #chan nick` parameters in the wrong order, and the multi-prefix test needs
# voice (+v), which snak does not have.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${IRCTEST_VENV:-.venv-irctest}
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check limnoria psutil ecdsa
if [ ! -d "$VENV/irctest-src/irctest" ]; then
    tmp=$(mktemp -d)
    TMPDIR=$tmp "$VENV/bin/pip" download --quiet --no-deps --no-clean --no-binary :all: \
        irctest==0.1.2 -d "$tmp/dl" >/dev/null 2>&1 || true
    src=$(find "$tmp" -maxdepth 3 -type d -name irctest -path '*irctest_*' | head -n 1)
    if [ -z "$src" ]; then
        echo "irctest: could not fetch irctest 0.1.2 from PyPI" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mkdir -p "$VENV/irctest-src"
    cp -r "$src" "$VENV/irctest-src/"
    rm -rf "$tmp"
fi
cargo build --quiet
export SNAK_BIN="${CARGO_TARGET_DIR:-target}/debug/snak"
PYTHONPATH="$VENV/irctest-src:tests/irctest" "$VENV/bin/python" -m irctest snak_controller "$@"
