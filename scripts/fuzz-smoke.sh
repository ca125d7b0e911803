#!/usr/bin/env bash
# Fuzzing smoke run for CI (FUZZING.md): builds every cargo-fuzz target with
# nightly and runs each one briefly from its seeds. Fails on a crash, a panic
# or a build error. The long runs (10 million executions per target) are
# manual; FUZZING.md has their commands and results.
#
# KUMO_FUZZ_SECONDS sets the time per target (default 5).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${KUMO_FUZZ_SECONDS:-5}"
targets=(frame open update notification route_refresh roundtrip config export_attributes)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

start=$(date +%s)
echo "== fuzz build"
# No sanitizer: kumo's decoders have no unsafe code, and the build is about twice as fast.
# Debug assertions on, so integer overflow panics instead of wrapping.
cargo +nightly fuzz build --sanitizer none --debug-assertions
for t in "${targets[@]}"; do
    echo "== fuzz $t (${seconds} s)"
    # The smoke corpus lives under target/ so it never mixes with the long runs' corpus/.
    corpus="target/fuzz-smoke/$t"
    mkdir -p "$corpus"
    log="target/fuzz-smoke/$t.log"
    # Seeds are read, never written; new inputs go to the throwaway corpus.
    dict=()
    [ -f "$t.dict" ] && dict=(-dict="$t.dict")
    status=0
    cargo +nightly fuzz run --sanitizer none --debug-assertions "$t" "$corpus" "seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $t failed (exit $status): see fuzz/artifacts/$t/ and fuzz/$log" >&2
        exit 1
    fi
done
echo "== fuzz smoke done in $(( $(date +%s) - start )) s"
