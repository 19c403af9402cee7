#!/usr/bin/env bash
# The browser suite: snak's web page in Debian's chromium, driven by playwright-core (pinned in
# package-lock.json; it never downloads a browser). Writes $SNAK_RESULTS_DIR/browser.result.
# Needs: node and npm, /usr/bin/chromium (apt-get install chromium nodejs npm), a built snak.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
results=${SNAK_RESULTS_DIR:-$root/target/test-results}
export SNAK_RESULTS_DIR=$results
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

skip() {
  mkdir -p "$results"
  printf 'suite browser\nran 0\npassed 0\nfailed 0\nskipped 1\nskip browser: %s\n' "$1" >"$results/browser.result"
  echo "browser suite skipped: $1"
  exit 0
}

command -v node >/dev/null && command -v npm >/dev/null || skip "node and npm are not installed (apt-get install nodejs npm chromium)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || skip "no chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"
cd "$here"
# npm ci installs exactly the lockfile's playwright-core, from the local cache when it is there.
if ! npm ci --no-audit --no-fund --loglevel=error --prefer-offline >/dev/null; then
  skip "npm ci failed: playwright-core could not be installed (is the npm registry reachable?)"
fi
exec node browser_test.mjs "$@"
