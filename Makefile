# Postern — the two commands an operator needs are `make run` and `make test`.
SWIFT ?= swift
PYTHON ?= python3
LISTEN ?= 127.0.0.1:2525
QUEUE_DIR ?= ./var/queue
FUZZ_SECONDS ?= 300

.PHONY: run test deps build release unit integration conformance fuzz fuzz-replay bench clean

## Install what is missing, build a release binary, run on loopback.
run: deps release
	./.build/release/postern serve --config deploy/make-run.toml --listen $(LISTEN) --queue-dir $(QUEUE_DIR)

## Install what is missing, start the services the tests need, run every test.
test: deps build unit fuzz-replay integration conformance

deps:
	@bash scripts/deps.sh

build:
	$(SWIFT) build --build-tests

release:
	$(SWIFT) build -c release --product postern

unit:
	$(SWIFT) test --skip-build

## Replays the checked-in fuzz corpus through the parsers (normal build).
fuzz-replay:
	$(SWIFT) build --product PosternFuzzer
	./.build/debug/PosternFuzzer fuzz/corpus/*

integration:
	$(PYTHON) -m pytest -q tests/integration

conformance:
	$(PYTHON) tests/spf/run_conformance.py --postern ./.build/debug/postern

## libFuzzer run of the command parser and framing decoder (see README).
fuzz:
	$(SWIFT) build -c debug --product PosternFuzzer --scratch-path .build-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	mkdir -p fuzz-artifacts/corpus
	./.build-fuzz/debug/PosternFuzzer -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz-artifacts/ \
	  fuzz-artifacts/corpus fuzz/corpus

bench: deps
	$(SWIFT) build -c release --product postern
	bash bench/accept.sh
	bash bench/relay.sh

clean:
	rm -rf .build .build-fuzz var
