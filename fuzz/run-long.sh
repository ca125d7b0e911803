#!/usr/bin/env bash
# The long runs recorded in FUZZING.md: every target for 10 million executions,
# one after another (one libFuzzer process, one core), seeded from seeds/TARGET,
# growing corpus/TARGET (git-ignored). Logs go to target/long/TARGET.log.
#
# Usage: fuzz/run-long.sh [TARGET...]   (default: all targets, codec first)
set -euo pipefail
cd "$(dirname "$0")"

runs="${KUMO_FUZZ_RUNS:-10000000}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame open update notification route_refresh roundtrip config export_attributes)

cargo +nightly fuzz build --sanitizer none --debug-assertions
mkdir -p target/long
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    extra=(-max_len=4200)
    [ -f "$t.dict" ] && extra=(-dict="$t.dict")
    start=$(date +%s)
    status=0
    cargo +nightly fuzz run --sanitizer none --debug-assertions "$t" "corpus/$t" "seeds/$t" -- \
        -runs="$runs" -print_final_stats=1 "${extra[@]}" >"target/long/$t.log" 2>&1 || status=$?
    echo "$t exit=$status seconds=$(( $(date +%s) - start )) $(grep -E '^stat::number_of_executed_units' "target/long/$t.log" | tr -d ' ')"
done
