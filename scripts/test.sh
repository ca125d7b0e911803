#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (real
# BGP daemons from Debian, the wasm32-wasip2 target), builds everything, runs
# every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for pair in bird:bird2 gobgpd:gobgpd stayrtr:stayrtr promtool:prometheus vtysh:frr bgpctl:openbgpd; do
    bin=${pair%%:*}; pkg=${pair##*:}
    command -v "$bin" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "== installing ${need_pkgs[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# rust-toolchain.toml pins the toolchain and lists wasm32-wasip2; make sure it is there.
rustup show active-toolchain >/dev/null
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true

# Free disk before and after: a full disk fails the build with a linker crash
# (a bus error), which this line tells apart from a broken build.
disk() { echo "== disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free ($1)"; }
disk start
if [ "${CI:-}" = "true" ]; then
    # A one-shot build gains nothing from incremental compilation, whose
    # state is the largest part of target/debug for the workspace's crates.
    export CARGO_INCREMENTAL=0
    # Line tables keep file:line in panics and backtraces; full debug info
    # doubled target/ (4.2 GB for a clean run) on a disk shared with others.
    export CARGO_PROFILE_DEV_DEBUG=line-tables-only
fi

start=$(date +%s)
echo "== build"
cargo build --workspace --all-targets
echo "== test"
cargo test --workspace --no-fail-fast -- --test-threads="${KUMO_TEST_THREADS:-2}"
./scripts/schemathesis.sh   # schemathesis 4.32.5 (PyPI, pinned, in target/schemathesis/venv) against the admin API of a live kumo; fails on any finding (docs/robustness.md)
target/debug/kumo-bench --name smoke --rs kumo,replay --clients 4 --prefixes 200 --runs 1 --cpus "" --settle 1 --timeout 60 --kumo-bin target/debug/kumo --policy-deadline-ms 1000 --port 11279 --admin-port 11280 --dir target/kumo-bench-smoke  # harness smoke run: fails unless every client gets every route (no timing is judged)
target/debug/kumo-bench --name smoke-invalid --rs kumo --invalid --clients 4 --prefixes 200 --runs 1 --cpus "" --settle 1 --timeout 60 --kumo-bin target/debug/kumo --policy-deadline-ms 1000 --port 11279 --admin-port 11280 --dir target/kumo-bench-smoke  # the same with 13 routes per client that fail an import check: fails if kumo passes any on
./scripts/fuzz-smoke.sh   # cargo fuzz build (nightly) + 5 s per fuzz target from its seeds; fails on a crash (FUZZING.md)
echo "== policy components: their own native tests (separate workspaces)"
cargo test --manifest-path policies/Cargo.toml --target-dir target/wasm
cargo test --manifest-path examples/policies/origin-tagger/Cargo.toml --target-dir target/wasm
./scripts/container-test.sh   # image build + run with buildah, Kubernetes manifests (docs/deployment.md)
disk end
echo "== target: $(du -sh target 2>/dev/null | cut -f1) in target/, $(du -sh fuzz/target 2>/dev/null | cut -f1) in fuzz/target"
echo "== done in $(( $(date +%s) - start )) s"
