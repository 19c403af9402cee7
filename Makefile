# snak: the quick start is `make run` and `make test`.
CARGO ?= cargo
ARGS ?=

.PHONY: all build release run test lint fmt stress bench soak clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# The daemon on its defaults: native protocol on 127.0.0.1:12345, IRC on 127.0.0.1:6667.
run: release
	RUST_LOG=$${RUST_LOG:-info} ./target/release/snak $(ARGS)

# Everything: format and lint checks, unit and integration tests, a short stress smoke run.
test: lint
	$(CARGO) test --all-targets
	$(CARGO) test --doc

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean
