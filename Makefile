# Postern — the two commands an operator needs are `make run` and `make test`.
SWIFT ?= swift
PYTHON ?= python3
LISTEN ?= 127.0.0.1:2525
QUEUE_DIR ?= ./var/queue
FUZZ_SECONDS ?= 300
# Release builds leave memory exclusivity to the compiler's static checks and
# to the debug builds every test runs, for the dependencies too (Package.swift
# does it for Postern's own modules): their dynamic checks were 7 % of the
# instructions per relayed message (issue #15, bench/README).
RELEASE_FLAGS ?= -Xswiftc -enforce-exclusivity=unchecked
# One corpus directory under fuzz/ per target; see Sources/PosternFuzzer.
FUZZ_TARGETS = smtp text mime header toml spf dns reply envelope journal quarantine scanner imap imapmessage pop3 proxy dmarc dkim tlspolicy

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
	$(SWIFT) build -c release --product postern $(RELEASE_FLAGS)

unit:
	$(SWIFT) test --skip-build

## Replays every checked-in fuzz corpus through its parser (normal build).
fuzz-replay:
	$(SWIFT) build --product PosternFuzzer
	./.build/debug/PosternFuzzer $(addprefix fuzz/,$(FUZZ_TARGETS))

integration:
	$(PYTHON) -m pytest -q tests/integration

conformance:
	$(PYTHON) tests/spf/run_conformance.py --postern ./.build/debug/postern

## libFuzzer runs with AddressSanitizer, FUZZ_SECONDS each: every target in
## turn, or one with TARGET=name (see README "Fuzzing"). New inputs go to
## fuzz-artifacts/<target>/corpus, crashes to fuzz-artifacts/<target>/.
fuzz:
	$(SWIFT) build -c debug --product PosternFuzzer --scratch-path .build-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address
	@set -e; for target in $(or $(TARGET),$(FUZZ_TARGETS)); do \
	  mkdir -p fuzz-artifacts/$$target/corpus; echo 0 > fuzz-artifacts/$$target/status; \
	  echo "fuzz: $$target for $(FUZZ_SECONDS) s"; \
	  { SWIFT_BACKTRACE=enable=no POSTERN_FUZZ_TARGET=$$target ./.build-fuzz/debug/PosternFuzzer -max_total_time=$(FUZZ_SECONDS) \
	      -timeout=10 -print_final_stats=1 -artifact_prefix=fuzz-artifacts/$$target/ \
	      fuzz-artifacts/$$target/corpus fuzz/$$target || echo $$? > fuzz-artifacts/$$target/status; } 2>&1 \
	    | tee fuzz-artifacts/$$target/last-run.log; \
	  test "$$(cat fuzz-artifacts/$$target/status)" = 0; \
	done

bench: deps
	$(SWIFT) build -c release --product postern
	bash bench/accept.sh
	bash bench/relay.sh

clean:
	rm -rf .build .build-fuzz var
