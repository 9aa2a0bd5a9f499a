# Thin wrapper over CMake: the two commands a newcomer needs are `make run` and `make test`.
BUILD ?= build
BINARIES = sluice-ingest sluice-persist sluice-notify sluice-devkafka sluicectl
SAN_BUILD ?= build-san
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory

.PHONY: all build build-san deps run test unit integration bench clean format format-check

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target $(BINARIES) -- --no-print-directory

# Tests run on a sanitizer build (ASan + UBSan): any report fails the run.
build-san: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS) -- --no-print-directory

run: build
	@deploy/dev/run.sh $(BUILD)

test: build-san format-check fuzz-corpus
	@cd $(SAN_BUILD) && ctest --output-on-failure
	@SLUICE_BIN=$(SAN_BUILD) /usr/bin/python3 tests/integration/run.py

unit: build-san
	@cd $(SAN_BUILD) && ctest --output-on-failure

integration: build-san
	@SLUICE_BIN=$(SAN_BUILD) /usr/bin/python3 tests/integration/run.py $(ARGS)

# libFuzzer harnesses (tests/fuzz/, built with clang into build-fuzz/):
# `make test` runs each over its committed seeds for a moment; `make fuzz`
# runs each for FUZZ_SECONDS and prints what it found (docs/security.md).
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-corpus

fuzz-corpus: deps
	@JOBS=$(JOBS) tests/fuzz/run.sh test

fuzz: deps
	@JOBS=$(JOBS) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz

bench: build
	@scripts/deps.sh --bench
	@cmake --build $(BUILD) -j $(JOBS) --target bench-bare-mhd bench-naive-front -- --no-print-directory
	@bench/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD) .run
