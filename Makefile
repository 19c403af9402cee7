# snak: the quick start is `make run` and `make test`.
CARGO ?= cargo
ARGS ?=

.PHONY: all build release run test lint fmt stress bench soak fuzz clean irctest

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# The daemon on its defaults: native protocol on 127.0.0.1:12345, IRC on 127.0.0.1:6667.
# At a terminal snak runs as the foreground job of its own (set -m), so Ctrl-C reaches snak
# alone and `make run` ends with snak's exit status (0), not make's "Interrupt".
run: release
	@RUST_LOG=$${RUST_LOG:-info} bash -c 'if [ -t 0 ]; then set -m; "$$@" & fg %% >/dev/null; \
	  else exec "$$@"; fi' make-run ./target/release/snak $(ARGS)

# Everything: what is needed is checked first (tests/prereqs.sh), then format and lint checks,
# then the pinned Python test venv, then every suite to its end (tests/suites.sh: unit and
# integration tests including the soak and stress smoke runs and the interop tests, irctest,
# the browser tests), then a summary of what ran, passed, failed and was skipped, and why.
# Non-zero if anything failed.
test:
	tests/prereqs.sh
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) build --bins --examples
	tests/venv.sh .venv-test tests/interop/requirements.txt tests/sasl/requirements.txt \
	  tests/ops/requirements.txt
	CARGO=$(CARGO) tests/suites.sh

# The public IRC conformance suite (progval/irctest, from IRCTEST_DIR, default ../shared/irctest)
# against snak, every result shown; `make test` runs it through tests/irctest/check.sh, which
# fails on any failure. See docs/PROTOCOL.md, "Conformance".
irctest:
	@tests/irctest/run.sh $(ARGS); status=$$?; if [ $$status -ne 0 ]; then \
	  echo "irctest: exit status $$status: not every test passed; every result is above"; fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

# The load generator (examples/stress) at full size against a release snak: one table.
# Pass generator flags in ARGS, e.g. `make stress ARGS="--scenario fanout100 --proto irc"`.
STRESS_BIN = $${CARGO_TARGET_DIR:-target}/release
stress:
	$(CARGO) build --release --bin snak --example stress
	$(STRESS_BIN)/examples/stress --snak $(STRESS_BIN)/snak $(ARGS)

# snak (native and IRC) against ngircd and Redis pub/sub (apt-get install ngircd redis-server),
# in one run: every repeat of a scenario runs once on each target in turn, the server pinned to
# CPU 1 and the generator to CPU 0; then each target's medians and snak's ratios. A peer that is
# not installed is reported and skipped. `rooms` is left out: ngircd does not finish it within
# the run's 120 s timeout. See BENCHMARKS.md.
BENCH_SCENARIOS ?= idle,idle19k,fanout100,fanout1000,pairs500,paced
BENCH_TARGETS ?= snak-native,snak-irc,ngircd,redis
bench:
	$(CARGO) build --release --bin snak --example stress
	mkdir -p stress-out && rm -f stress-out/bench.csv
	uptime
	$(STRESS_BIN)/examples/stress --snak $(STRESS_BIN)/snak --target $(BENCH_TARGETS) \
	  --scenario $(BENCH_SCENARIOS) --repeat 3 --csv stress-out/bench.csv $(ARGS) || true
	$(STRESS_BIN)/examples/stress --compare stress-out/bench.csv

# The soak (examples/soak): normal chat beside floods, slow readers, half-open and reset
# connections and file transfers against a release snak, then delivery and memory checks.
# SOAK_SECONDS bounds the load phase (at most 180).
SOAK_SECONDS ?= 120
soak:
	$(CARGO) build --release --bin snak --example soak
	$(STRESS_BIN)/examples/soak --snak $(STRESS_BIN)/snak --seconds $(SOAK_SECONDS)

# Fuzz the codecs for FUZZ_SECONDS each (cargo install cargo-fuzz). Stable Rust refuses the
# -Z flags libFuzzer needs, so RUSTC_BOOTSTRAP=1 unlocks them; fuzz/ is a workspace of its own.
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && for t in native irc http ws tls; do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	$(CARGO) clean
