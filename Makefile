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

test: build-san format-check
	@cd $(SAN_BUILD) && ctest --output-on-failure
	@SLUICE_BIN=$(SAN_BUILD) /usr/bin/python3 tests/integration/run.py

unit: build-san
	@cd $(SAN_BUILD) && ctest --output-on-failure

integration: build-san
	@SLUICE_BIN=$(SAN_BUILD) /usr/bin/python3 tests/integration/run.py $(ARGS)

bench: build
	@scripts/deps.sh --bench
	@cmake --build $(BUILD) -j $(JOBS) --target bench-bare-mhd -- --no-print-directory
	@bench/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(SAN_BUILD) .run
