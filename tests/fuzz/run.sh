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
#                                     Crashing inputs go to
#                                     build-fuzz/artifacts/<name>/, emptied
#                                     when that harness starts.
#
# The build is build-fuzz/ (FUZZ_BUILD), a CMake project of its own
# (tests/fuzz/CMakeLists.txt) configured with CC=clang, so the main build
# and build-san never see clang's flags. Replay a crash's input with
# build-fuzz/fuzz_<name> <file>.
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
    artifacts=$build/artifacts/$name
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    secs=${FUZZ_SECONDS:-60}
    started=$SECONDS
    # Fork mode (one worker) goes on after a crash, so one bug does not end
    # the harness's time early and every crashing input is kept.
    rc=0
    "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$secs" \
        -timeout=10 -artifact_prefix="$artifacts/" "$corpus" "$seeds/$name" >"$log" 2>&1 || rc=$?
    elapsed=$((SECONDS - started))
    # Fork mode's status line: "#N: cov: C ft: F corp: K exec/s E
    # oom/timeout/crash: O/T/X time: Ss job: J dft_time: 0".
    last=$(grep '^#[0-9]*: cov:' "$log" | tail -n 1 || true)
    field() { sed -n "s|.*$1 \([0-9/]*\).*|\1|p" <<<"$last"; }
    execs=${last%%:*}
    IFS=/ read -r ooms timeouts crashes <<<"$(field 'oom/timeout/crash:')"
    saved=$(find "$artifacts" -type f | wc -l)
    # Fork mode's cov counts something else: the grown corpus run once
    # tells the code it reaches (PCs, and libFuzzer's finer features).
    inited=$("$bin" -runs=0 "$corpus" 2>&1 | grep -o 'INITED cov: [0-9]* ft: [0-9]*' || true)
    read -r _ _ cov _ ft <<<"${inited:-- - ? - ?}"
    printf '%-12s %4ss  %10s execs  cov %5s  ft %6s  corpus %5s  crashes %s (inputs saved %s)' \
        "$name" "$elapsed" "${execs#\#}" "$cov" "$ft" "$(find "$corpus" -type f | wc -l)" \
        "${crashes:-?}" "$saved"
    ((${ooms:-0} + ${timeouts:-0} == 0)) || printf '  ooms %s  timeouts %s' "$ooms" "$timeouts"
    printf '\n'
    if ((rc != 0 || saved > 0)) || [ -z "$last" ]; then
        failed=1
        # Each saved input replayed once, for what it broke.
        find "$artifacts" -type f | head -n 3 | while read -r input; do
            echo "  $input:" >&2
            "$bin" "$input" 2>&1 | grep -m 2 -A 1 'invariant failed\|ERROR: \|runtime error' |
                sed 's/^/    /' >&2 || true
        done
    fi
done
exit $failed
