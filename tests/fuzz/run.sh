#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses (tests/fuzz/fuzz_<name>.c).
#
#   tests/fuzz/run.sh test [name...]  each harness over its committed seeds
#                                     (tests/fuzz/corpus/<name>/) and then
#                                     FUZZ_TEST_RUNS (2000) mutations with a
#                                     fixed seed: a few seconds, the same
#                                     inputs every time; fails on any crash.
#                                     `make test` runs this.
#   tests/fuzz/run.sh fuzz [name...]  each harness for FUZZ_SECONDS (60),
#                                     growing build-fuzz/corpus/<name>/ (kept
#                                     between runs, never committed) from the
#                                     seeds; one summary line per harness;
#                                     fails when any crashed. `make fuzz`.
#
# The build is build-fuzz/ (FUZZ_BUILD), a CMake project of its own
# (tests/fuzz/CMakeLists.txt) configured with CC=clang, so the main build
# and build-san never see clang's flags. A crash's input is saved under
# build-fuzz/artifacts/<name>/; replay it with build-fuzz/fuzz_<name> <file>.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
seeds=$root/tests/fuzz/corpus
mode=${1:-test}
shift || true

case $mode in
test | fuzz) ;;
*)
    echo "usage: $0 test|fuzz [harness...]" >&2
    exit 2
    ;;
esac

names=("$@")
if ((${#names[@]} == 0)); then
    for src in "$root"/tests/fuzz/fuzz_*.c; do
        name=${src##*/fuzz_}
        names+=("${name%.c}")
    done
fi

mkdir -p "$build"
if ! { CC=clang cmake -S "$root/tests/fuzz" -B "$build" &&
    cmake --build "$build" -j "${JOBS:-2}" -- --no-print-directory; } >"$build/build.log" 2>&1; then
    tail -n 40 "$build/build.log" >&2
    echo "fuzz: building the harnesses failed (log: $build/build.log)" >&2
    exit 1
fi

# UBSan's findings abort (-fno-sanitize-recover), which libFuzzer reports as
# a crash with its input; ASan's leak check is on, as libFuzzer sets it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# libFuzzer's last status line: "#N DONE cov: 123 ft: 456 corp: 7/89b ..."
stat() { grep -o "$1 [0-9]*" "$2" | tail -n 1 | awk '{print $2}'; }

failed=0
for name in "${names[@]}"; do
    bin=$build/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "fuzz: no harness $name (tests/fuzz/fuzz_$name.c)" >&2
        failed=1
        continue
    fi
    mkdir -p "$seeds/$name" "$build/artifacts/$name"
    log=$build/$mode-$name.log
    if [ "$mode" = test ]; then
        # New inputs go to a scratch directory, never into the seeds.
        scratch=$build/scratch/$name
        rm -rf "$scratch"
        mkdir -p "$scratch"
        if "$bin" -runs="${FUZZ_TEST_RUNS:-2000}" -seed=1 -timeout=10 \
            -artifact_prefix="$build/artifacts/$name/" "$scratch" "$seeds/$name" >"$log" 2>&1; then
            printf 'fuzz corpus %-12s %3d seeds + %s runs  ok\n' "$name" \
                "$(find "$seeds/$name" -type f | wc -l)" "${FUZZ_TEST_RUNS:-2000}"
        else
            grep -v '^#\|^INFO\|^MS:\|^Loaded\|^\s*$' "$log" | tail -n 30 >&2
            echo "fuzz corpus $name: CRASHED (log: $log, input in $build/artifacts/$name/)" >&2
            failed=1
        fi
        continue
    fi
    corpus=$build/corpus/$name
    mkdir -p "$corpus"
    secs=${FUZZ_SECONDS:-60}
    rc=0
    "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$name/" "$corpus" "$seeds/$name" >"$log" 2>&1 || rc=$?
    crashes=$(grep -c '^artifact_prefix=\|Test unit written to' "$log" || true)
    ((rc == 0)) || ((crashes > 0)) || crashes=1
    printf '%-12s %4ss  %10s execs  cov %5s  ft %6s  corpus %5s  crashes %s\n' "$name" "$secs" \
        "$(stat 'stat::number_of_executed_units:' "$log")" "$(stat 'cov:' "$log")" \
        "$(stat 'ft:' "$log")" "$(find "$corpus" -type f | wc -l)" "$crashes"
    if ((crashes > 0)); then
        grep -A3 'invariant failed\|ERROR: \|runtime error' "$log" | head -n 12 >&2 || true
        grep 'Test unit written to' "$log" >&2 || true
        failed=1
    fi
done
exit $failed
