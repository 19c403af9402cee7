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
	  tests/ops/requirements.txt tests/web/requirements.txt
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

# The load generator (examples/stress) at full size against a release snak: one table (every
# scenario once, the amplification attack and a reconnect storm of 1 000 among them).
# Pass generator flags in ARGS, e.g. `make stress ARGS="--scenario fanout100 --proto irc"`.
STRESS_BIN = $${CARGO_TARGET_DIR:-target}/release
stress:
	$(CARGO) build --release --bin snak --example stress
	$(STRESS_BIN)/examples/stress --snak $(STRESS_BIN)/snak $(ARGS)

# snak (native and IRC) against the ceiling (../shared/ceiling: a feature-less relay, the limit
# of one event loop here; built into the target directory, never inside ../shared), ngircd,
# InspIRCd, Redis and NATS pub/sub (apt-get install ngircd inspircd redis-server nats-server),
# in one run: every repeat of a scenario runs once on each target in turn, the server pinned to
# CPU 1 and the generator to CPU 0; then each target's medians, and every snak figure as a fraction of the
# ceiling's and beside the best peer. A peer that is not installed, the ceiling where
# ../shared/ceiling is absent, and TLS/WebSocket targets while snak has no such listener are
# reported and skipped. BENCH_OLD=PATH adds a second snak binary as targets old-native and
# old-irc (before/after a change, in the same run). See BENCHMARKS.md (about 47 minutes).
# Then examples/file_bench: a 1 GiB file from one web client to another (BENCHMARKS.md).
CEILING_DIR ?= ../shared/ceiling
CEILING_BIN = $${CARGO_TARGET_DIR:-target}/ceiling/release/limitd
BENCH_SCENARIOS ?= idle,idle19k,register19k,fanout100,fanout1000,pairs500,paced,amplify,storms,joinpart
BENCH_TARGETS ?= snak-native,snak-irc,snak-native-tls,snak-irc-tls,snak-irc-ws,snak-irc-wss,ceiling,ngircd,inspircd,redis,nats
BENCH_OLD ?=
bench:
	$(CARGO) build --release --bin snak --example stress --example file_bench
	@if [ -f $(CEILING_DIR)/Cargo.toml ]; then \
	  $(CARGO) build --release --manifest-path $(CEILING_DIR)/Cargo.toml \
	    --target-dir $${CARGO_TARGET_DIR:-target}/ceiling; \
	else echo "bench: $(CEILING_DIR) is absent: the ceiling target is skipped"; fi
	mkdir -p stress-out && rm -f stress-out/bench.csv
	uptime
	$(STRESS_BIN)/examples/stress --snak $(STRESS_BIN)/snak \
	  --ceiling $(if $(wildcard $(CEILING_DIR)/Cargo.toml),$(CEILING_BIN),$(CEILING_DIR)/absent) \
	  $(if $(BENCH_OLD),--snak-alt old=$(BENCH_OLD)) \
	  --target $(BENCH_TARGETS)$(if $(BENCH_OLD),$(comma)old-native$(comma)old-irc) \
	  --scenario $(BENCH_SCENARIOS) --repeat 3 --csv stress-out/bench.csv $(ARGS) || true
	uptime
	$(STRESS_BIN)/examples/stress --compare stress-out/bench.csv
	$(STRESS_BIN)/examples/file_bench --snak $(STRESS_BIN)/snak
comma := ,

# The soak (examples/soak): normal chat beside floods, slow readers, half-open and reset
# connections, file transfers and the amplification attack against a release snak, then delivery and memory checks.
# SOAK_SECONDS bounds the load phase (at most 180).
SOAK_SECONDS ?= 120
soak:
	$(CARGO) build --release --bin snak --example soak
	$(STRESS_BIN)/examples/soak --snak $(STRESS_BIN)/snak --seconds $(SOAK_SECONDS)

# Fuzz the codecs for FUZZ_SECONDS each (cargo install cargo-fuzz). Stable Rust refuses the
# -Z flags libFuzzer needs, so RUSTC_BOOTSTRAP=1 unlocks them; fuzz/ is a workspace of its own.
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && for t in native irc http ws tls nats; do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	$(CARGO) clean
