#!/usr/bin/env bash
# What `make test` needs, checked before anything is built. Run as root (as CI is), it
# installs what is missing: Debian packages with apt-get, Rust components with rustup. Run as
# anyone else, it stops at once with the commands to run.
#
# Needed: cargo with rustfmt and clippy (Rust from rustup), make, a C compiler `cc` (the
# linker Rust uses; criterion's build needs it too), python3 with a working venv (ensurepip),
# nc (the README's quick start), openssl (the TLS tests), kill (procps), nats-server and
# postgresql (the network and shared-store tests), and for the browser
# tests node, npm and chromium.
set -uo pipefail

missing_debs=()
missing_rust=()
notes=()

have() { type -P "$1" >/dev/null 2>&1; }

if ! have cargo; then
    notes+=("Rust is not installed: install it with rustup (https://rustup.rs), then run make test again")
else
    cargo fmt --version >/dev/null 2>&1 || missing_rust+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing_rust+=(clippy)
fi
have make || missing_debs+=(make)
have cc || missing_debs+=(gcc libc6-dev)
if ! have python3; then
    missing_debs+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip; ensurepip.version()' >/dev/null 2>&1; then
    # Without ensurepip, `python3 -m venv` leaves a venv with no pip in it.
    missing_debs+=(python3-venv)
fi
have nc || missing_debs+=(netcat-openbsd)
have openssl || missing_debs+=(openssl)
have nats-server || missing_debs+=(nats-server)
# PostgreSQL's server binaries (initdb, postgres) for the shared-store tests.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing_debs+=(postgresql)
have kill || missing_debs+=(procps)
have node || missing_debs+=(nodejs)
have npm || missing_debs+=(npm)
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing_debs+=(chromium)

if [ ${#missing_debs[@]} -eq 0 ] && [ ${#missing_rust[@]} -eq 0 ] && [ ${#notes[@]} -eq 0 ]; then
    echo "prereqs: ok ($(cargo --version | cut -d' ' -f1-2), rustfmt, clippy, make, cc," \
        "$(python3 --version 2>&1 | tr 'P' 'p') with venv, nc, openssl, kill, nats-server," \
        "postgresql $(ls /usr/lib/postgresql | sort -n | tail -1), node" \
        "$(node --version), npm, chromium)"
    exit 0
fi

# As root, install once, then check again (a second pass reports what is still missing).
if [ "$(id -u)" = 0 ] && [ ${#notes[@]} -eq 0 ] && [ -z "${SNAK_PREREQS_INSTALLED:-}" ]; then
    if [ ${#missing_debs[@]} -gt 0 ]; then
        if ! have apt-get; then
            echo "prereqs: missing ${missing_debs[*]} (Debian package names), and no apt-get here" >&2
            exit 1
        fi
        echo "prereqs: installing ${missing_debs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" || exit 1
    fi
    if [ ${#missing_rust[@]} -gt 0 ]; then
        echo "prereqs: adding the Rust components ${missing_rust[*]}"
        rustup component add "${missing_rust[@]}" || exit 1
    fi
    SNAK_PREREQS_INSTALLED=1 exec "$0" "$@"
fi

echo "prereqs: make test cannot run yet; first run:" >&2
for n in "${notes[@]}"; do echo "    $n" >&2; done
if [ ${#missing_debs[@]} -gt 0 ]; then
    sudo=sudo
    if [ "$(id -u)" = 0 ]; then sudo=; fi
    echo "    ${sudo:+$sudo }apt-get install ${missing_debs[*]}" >&2
fi
if [ ${#missing_rust[@]} -gt 0 ]; then
    echo "    rustup component add ${missing_rust[*]}" >&2
fi
exit 1
