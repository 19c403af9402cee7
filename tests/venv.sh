#!/usr/bin/env bash
# Makes (or repairs) a project-local Python venv with exactly the pinned packages of some
# requirements files: tests/venv.sh DIR REQUIREMENTS...
#
# A venv is rebuilt from scratch when it is missing, was made for other requirements or
# another python3, or is half-made (`python3 -m venv` without ensurepip leaves one with no
# pip; the stamp is written last, so an interrupted install counts as half-made too).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
    echo "usage: tests/venv.sh DIR REQUIREMENTS..." >&2
    exit 2
fi
venv=$1
shift
reqs=("$@")
stamp=$venv/.snak-requirements
want="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] &&
    "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    exit 0
fi
if [ -e "$venv" ]; then
    echo "venv: $venv is out of date or half-made; rebuilding it"
    rm -rf "$venv"
fi
echo "venv: making $venv with the packages pinned in ${reqs[*]}"
if ! python3 -m venv "$venv" || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    echo "venv: python3 -m venv made no working venv (no ensurepip); run:" >&2
    echo "    apt-get install python3-venv" >&2
    exit 1
fi
for r in "${reqs[@]}"; do
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$r"
done
"$venv/bin/python" -m pip check >/dev/null
echo "$want" >"$stamp"
