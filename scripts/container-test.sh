#!/usr/bin/env bash
# Container test: builds the Containerfile with buildah from base images made
# locally (no registry is reachable here), runs `kumo check` inside the image,
# starts kumo from the image on a loopback address and waits for /readyz = 200,
# runs the Kubernetes manifests' probe commands inside the image against it,
# and validates examples/kubernetes/ with kubernetes-validate.
#
#   scripts/container-test.sh            # what scripts/test.sh runs
#   KUMO_CONTAINER_CACHE=DIR ...         # where compiled dependencies are kept
#                                        # between runs (default below)
#
# Skips, with a message saying why, only where buildah cannot run at all (not
# root and no sudo, or not installable). Under CI=true any other failure to
# run is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

log() { echo "== container: $*"; }
die() { echo "== container: FAILED: $*" >&2; exit 1; }
skip() {
    echo "== container: SKIPPED: $*"
    exit 0
}

# --- privileges and tools ---------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    # buildah's vfs storage and chroot isolation need root here (rootless
    # buildah would need user namespaces with subuid ranges).
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
        || skip "buildah needs root (or passwordless sudo) on this machine, and this user has neither"
    SUDO="sudo -n"
fi

need_pkgs=()
command -v buildah >/dev/null 2>&1 || need_pkgs+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 \
        || skip "buildah/debootstrap are missing and there is no apt-get to install them (${need_pkgs[*]})"
    log "installing ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null \
        || skip "cannot install ${need_pkgs[*]} from the Debian archive"
fi

buildah() { $SUDO env buildah --storage-driver vfs "$@"; }

# From here on buildah is present: anything that goes wrong is a failure.
if ! buildah info >/dev/null 2>&1; then
    [ "${CI:-}" = "true" ] && die "buildah is installed but cannot run: $(buildah info 2>&1 | tail -1)"
    skip "buildah is installed but cannot run here: $(buildah info 2>&1 | tail -1)"
fi

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
CACHE=${KUMO_CONTAINER_CACHE:-/var/cache/kumo/container-build}
IMAGE=localhost/kumo:test
ADDR=127.0.66.1
BGP_PORT=11179
ADMIN_PORT=18179

# The builder runs the same Rust toolchain as the host (rust-toolchain.toml),
# so its version is part of the builder image's tag: a toolchain update makes
# a new base image instead of silently reusing the old one. So is a revision
# of its package list (BUILDER_REV; 2: make, for jemalloc's build).
BUILDER_REV=2
toolchain_dir=$(dirname "$(dirname "$(rustup which rustc)")")
toolchain_dir=$(readlink -f "$toolchain_dir")
rust_version=$("$toolchain_dir/bin/rustc" --version | awk '{print $2}')
BUILDER_IMAGE=localhost/kumo-base-builder:$SUITE-rust$rust_version-r$BUILDER_REV
RUNTIME_IMAGE=localhost/kumo-base-runtime:$SUITE

# --- cleanup ----------------------------------------------------------------
work=$(mktemp -d /var/tmp/kumo-container.XXXXXX)
containers=()
kumo_pid=""
kumo_pgid=""
cleanup() {
    local rc=$?
    if [ -n "$kumo_pgid" ] && [ -n "$(ps -o pid= -g "$kumo_pgid")" ]; then
        # kumo runs in its own session (setsid): end the whole group, i.e.
        # buildah run and the kumo process it started in the chroot.
        $SUDO kill -TERM -- "-$kumo_pgid" 2>/dev/null || true
        for _ in $(seq 50); do [ -n "$(ps -o pid= -g "$kumo_pgid")" ] || break; sleep 0.1; done
        $SUDO kill -KILL -- "-$kumo_pgid" 2>/dev/null || true
    fi
    for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    $SUDO rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- base images (cached in buildah's storage) -----------------------------
have_image() { buildah images --quiet "$1" >/dev/null 2>&1; }

# Turns a root filesystem folder into an image: a scratch container, the
# folder copied in with tar (keeps owners, modes and setgid bits, which
# `buildah copy` would reset), committed under NAME.
import_rootfs() {
    local dir=$1 name=$2 ctr mnt
    shift 2
    ctr=$(buildah from scratch)
    containers+=("$ctr")
    mnt=$(buildah mount "$ctr")
    $SUDO tar -C "$dir" -cf - . | $SUDO tar -C "$mnt" -xpf -
    buildah umount "$ctr" >/dev/null
    buildah config "$@" "$ctr"
    buildah commit --quiet --rm "$ctr" "$name" >/dev/null
    containers=("${containers[@]/$ctr}")
}

debootstrap_into() {
    local dir=$1
    shift
    log "debootstrap $SUITE $* (a few minutes, once per machine)"
    $SUDO debootstrap --variant=minbase "$@" "$SUITE" "$dir" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (mirror $MIRROR)"; }
    # Package caches are of no use in an image.
    $SUDO rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
}

make_runtime_base() {
    local dir="$work/runtime-rootfs"
    debootstrap_into "$dir"
    import_rootfs "$dir" "$RUNTIME_IMAGE" \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash --label org.opencontainers.image.title="kumo runtime base ($SUITE minbase)"
    $SUDO rm -rf "$dir"
}

make_builder_base() {
    local dir="$work/builder-rootfs"
    # gcc and libc6-dev: rustc links with cc, and build scripts compile C;
    # make: jemalloc's build script runs it; ca-certificates: cargo fetches
    # crates over HTTPS.
    debootstrap_into "$dir" --include=gcc,libc6-dev,make,ca-certificates
    # The host's pinned toolchain without its documentation (share/, ~800 MB);
    # lib/rustlib holds the x86_64 and wasm32-wasip2 standard libraries.
    [ -d "$toolchain_dir/lib/rustlib/wasm32-wasip2" ] \
        || die "the host toolchain has no wasm32-wasip2 target (rustup target add wasm32-wasip2)"
    $SUDO mkdir -p "$dir/usr/local/rust" "$dir/usr/local/cargo"
    $SUDO cp -a "$toolchain_dir/bin" "$toolchain_dir/lib" "$dir/usr/local/rust/"
    import_rootfs "$dir" "$BUILDER_IMAGE" \
        --env PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env CARGO_HOME=/usr/local/cargo \
        --cmd /bin/bash --label org.opencontainers.image.title="kumo builder base ($SUITE, Rust $rust_version)"
    $SUDO rm -rf "$dir"
}

t0=$(date +%s)
if have_image "$RUNTIME_IMAGE"; then log "runtime base $RUNTIME_IMAGE: cached"; else make_runtime_base; fi
if have_image "$BUILDER_IMAGE"; then log "builder base $BUILDER_IMAGE: cached"; else make_builder_base; fi
log "base images ready in $(( $(date +%s) - t0 )) s"

# --- the image --------------------------------------------------------------
# Compiled dependencies survive between runs in $CACHE;
# kumo's own crates are rebuilt whenever their sources changed (cargo compares
# them with what it built), so the image always holds a build of this tree.
# Crates come from the host's cargo registry, fetched here with the host's
# cargo (whose TLS setup is the machine's); the build itself is offline.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for manifest in Cargo.toml policies/Cargo.toml examples/policies/origin-tagger/Cargo.toml; do
    cargo fetch --locked --quiet --manifest-path "$manifest" || die "cargo fetch for $manifest failed"
done
$SUDO mkdir -p "$CACHE/target"
old_image=$(buildah images --quiet --no-trunc "$IMAGE" 2>/dev/null || true)
log "building $IMAGE (release build of kumo in the builder; cache $CACHE)"
t0=$(date +%s)
buildah bud --isolation chroot --layers=false --quiet \
    --build-arg BUILDER_IMAGE="$BUILDER_IMAGE" \
    --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    --volume "$CACHE/target:/build/target" \
    --build-arg CARGO_NET_OFFLINE=true \
    --volume "$cargo_home/registry:/usr/local/cargo/registry" \
    -f Containerfile -t "$IMAGE" . >"$work/bud.log" 2>&1 \
    || { tail -40 "$work/bud.log" >&2; die "buildah bud failed (log above)"; }
log "image built in $(( $(date +%s) - t0 )) s; $(buildah images --format '{{.Size}}' "$IMAGE" | head -1)"

# The previous test image, now untagged, would pile up in the storage.
new_image=$(buildah images --quiet --no-trunc "$IMAGE")
if [ -n "$old_image" ] && [ "$old_image" != "$new_image" ]; then
    buildah rmi "$old_image" >/dev/null 2>&1 || true
fi

ctr=$(buildah from --quiet "$IMAGE")
containers+=("$ctr")

# The image's own settings, as Kubernetes will see them.
user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
case "$user" in
    ""|0|0:*|root|root:*) die "the image runs as root (User=\"$user\")" ;;
esac
log "image user: $user"

# `kumo check` inside the image, on the example config shipped in it and on
# the repository's example mounted where the image expects its config.
buildah run --isolation chroot "$ctr" -- \
    kumo check --config /usr/share/kumo/examples/kumo.toml \
    || die "kumo check of the shipped example config failed in the image"
buildah run --isolation chroot \
    --volume "$repo/examples/kumo.toml:/etc/kumo/kumo.toml:ro" "$ctr" -- \
    kumo check --config /etc/kumo/kumo.toml \
    || die "kumo check of examples/kumo.toml mounted at /etc/kumo/kumo.toml failed in the image"
# A broken config must be reported as such: the check above is not a no-op.
printf '[server]\nasn = 64500\nrouter_id = "not-an-address"\n' >"$work/bad.toml"
chmod 0644 "$work/bad.toml"
if buildah run --isolation chroot --volume "$work/bad.toml:/etc/kumo/kumo.toml:ro" "$ctr" -- \
    kumo check --config /etc/kumo/kumo.toml >"$work/bad.out" 2>&1; then
    die "kumo check accepted an invalid config in the image"
fi
grep -q 'router_id' "$work/bad.out" || { cat "$work/bad.out" >&2; die "kumo check's error does not name server.router_id"; }
log "kumo check in the image: example accepted, invalid config rejected"

# --- kumo running from the image --------------------------------------------
# chroot isolation shares the host's network, so kumo listens on a loopback
# address of this machine only; the config is mounted at /etc/kumo/kumo.toml
# as in Kubernetes, with an extra (empty) policy folder at /etc/kumo/policies.
mkdir -p "$work/etc-kumo/policies"
cat >"$work/etc-kumo/kumo.toml" <<TOML
[server]
asn = 64500
router_id = "192.0.2.254"
listen = ["$ADDR:$BGP_PORT"]

[admin]
listen = "$ADDR:$ADMIN_PORT"

[[clients]]
name = "as65002"
asn = 65002
ip = ["$ADDR"]
TOML
chmod -R a+rX "$work"
if curl -s -o /dev/null --max-time 2 "http://$ADDR:$ADMIN_PORT/livez"; then
    die "something already answers on $ADDR:$ADMIN_PORT"
fi
log "starting kumo from the image on $ADDR:$BGP_PORT, admin $ADDR:$ADMIN_PORT"
$SUDO setsid buildah --storage-driver vfs run --isolation chroot \
    --volume "$work/etc-kumo:/etc/kumo:ro" "$ctr" -- \
    kumo run --config /etc/kumo/kumo.toml >"$work/kumo.log" 2>&1 &
kumo_pid=$!
# The process group to stop at the end: setsid's own (it is buildah run), or,
# with sudo in between, that of sudo's child.
for _ in $(seq 50); do
    if [ -z "$SUDO" ]; then kumo_pgid=$kumo_pid; else kumo_pgid=$(ps -o pgid= --ppid "$kumo_pid" | tr -d ' ' | head -1); fi
    [ -n "$kumo_pgid" ] && break
    sleep 0.1
done

ready=""
for _ in $(seq 300); do
    kill -0 "$kumo_pid" 2>/dev/null || { cat "$work/kumo.log" >&2; die "kumo exited before it was ready"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ADDR:$ADMIN_PORT/readyz" || true)
    if [ "$code" = 200 ]; then ready=1; break; fi
    sleep 0.2
done
[ -n "$ready" ] || { cat "$work/kumo.log" >&2; die "/readyz did not answer 200 within 60 s (last: $code)"; }
log "/readyz = 200 from kumo running in the image"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ADDR:$ADMIN_PORT/livez")
[ "$code" = 200 ] || die "/livez answered $code"

# --- the manifests' own probes and config, run in the image ----------------
# The probe commands of examples/kubernetes/, run inside the image as the
# kubelet runs them, pointed at this test's admin address instead of the
# manifests' 127.0.0.1:8179.
python3 - "$work/probes" examples/kubernetes/*.yaml <<'PY'
import sys, yaml
out = sys.argv[1]
cmds = []
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "Deployment":
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            for kind in ("livenessProbe", "readinessProbe"):
                cmd = c[kind]["exec"]["command"]
                assert cmd[:2] == ["/bin/bash", "-c"], (path, kind, cmd)
                cmds.append(cmd[2])
assert cmds, "no probes found"
with open(out, "wb") as f:
    f.write(b"\0".join(c.encode() for c in cmds) + b"\0")
PY
probe_ctr=$(buildah from --quiet "$IMAGE")
containers+=("$probe_ctr")
run_probe() {
    local cmd=$1
    # </dev/null: buildah run would otherwise read the caller's loop input.
    buildah run --isolation chroot "$probe_ctr" -- /bin/bash -c "$cmd" </dev/null >/dev/null 2>&1
}
nprobes=0
while IFS= read -r -d '' cmd; do
    local_cmd=${cmd//\/dev\/tcp\/127.0.0.1\/8179//dev/tcp/$ADDR/$ADMIN_PORT}
    [ "$local_cmd" != "$cmd" ] || die "a probe does not target the admin API at 127.0.0.1:8179: $cmd"
    run_probe "$local_cmd" || die "probe failed in the image against running kumo: $local_cmd"
    nprobes=$((nprobes + 1))
done <"$work/probes"
[ "$nprobes" -ge 4 ] || die "expected liveness and readiness probes for rs1 and rs2, found $nprobes"
log "$nprobes Kubernetes probe commands succeed in the image against running kumo"

# Each ConfigMap's kumo.toml passes `kumo check` in the image, with the
# mounts the Deployment gives it (admin token secret, policies folder).
python3 - "$work/k8s-configs" examples/kubernetes/*.yaml <<'PY'
import os, sys, yaml
out = sys.argv[1]
os.makedirs(out)
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc and doc.get("kind") == "ConfigMap" and "kumo.toml" in doc.get("data", {}):
            name = doc["metadata"]["name"]
            os.makedirs(f"{out}/{name}/policies")
            with open(f"{out}/{name}/kumo.toml", "w") as f:
                f.write(doc["data"]["kumo.toml"])
PY
mkdir -p "$work/secret"
echo "test-token" >"$work/secret/admin-token"
chmod -R a+rX "$work"
nconfigs=0
for dir in "$work"/k8s-configs/*/; do
    buildah run --isolation chroot --volume "$dir:/etc/kumo:ro" \
        --volume "$work/secret:/run/secrets/kumo:ro" "$probe_ctr" -- \
        kumo check --config /etc/kumo/kumo.toml \
        || die "kumo check rejects the config of $(basename "$dir") in examples/kubernetes/"
    nconfigs=$((nconfigs + 1))
done
[ "$nconfigs" -ge 2 ] || die "expected the configs of rs1 and rs2 in examples/kubernetes/, found $nconfigs"
log "kumo check accepts the $nconfigs ConfigMap configs of examples/kubernetes/"

# --- stopping kumo as Kubernetes does: SIGTERM to kumo -----------------------
kumo_proc=$(ps -o pid=,comm= -g "$kumo_pgid" | awk '$2 == "kumo" { print $1 }')
[ -n "$kumo_proc" ] || die "cannot find the kumo process started from the image"
t0=$(date +%s)
$SUDO kill -TERM "$kumo_proc"
status=0
wait "$kumo_pid" || status=$?
elapsed=$(( $(date +%s) - t0 ))
[ "$status" -eq 0 ] || { cat "$work/kumo.log" >&2; die "kumo from the image exited with $status on SIGTERM"; }
[ "$elapsed" -le 30 ] || die "kumo took $elapsed s to stop, more than terminationGracePeriodSeconds (30)"
[ -z "$(ps -o pid= -g "$kumo_pgid")" ] || die "processes of the kumo run are left after it stopped"
kumo_pgid=""
log "kumo stopped on SIGTERM with status 0 in $elapsed s; nothing left running"
# With kumo gone, the readiness probe must fail: it is not a no-op.
first_probe=$(tr '\0' '\n' <"$work/probes" | grep -m1 readyz)
if run_probe "${first_probe//\/dev\/tcp\/127.0.0.1\/8179//dev/tcp/$ADDR/$ADMIN_PORT}"; then
    die "the readiness probe succeeds with kumo stopped"
fi
log "the readiness probe fails with kumo stopped, as it must"

# --- the manifests against the Kubernetes API schema -------------------------
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    log "installing kubernetes-validate (PyPI)"
    python3 -m pip install -q kubernetes-validate >/dev/null 2>&1 \
        || python3 -m pip install -q --break-system-packages kubernetes-validate >/dev/null \
        || die "cannot install kubernetes-validate from PyPI"
fi
kubernetes-validate --strict examples/kubernetes/*.yaml >"$work/validate.out" 2>&1 \
    || { cat "$work/validate.out" >&2; die "kubernetes-validate rejects examples/kubernetes/"; }
# The Multus CRD has no schema in kubernetes-validate; every other warning fails.
if grep -v 'NetworkAttachmentDefinition' "$work/validate.out" | grep -q -v '^INFO'; then
    cat "$work/validate.out" >&2
    die "kubernetes-validate warns about examples/kubernetes/"
fi
ndocs=$(grep -c '^INFO .* passed' "$work/validate.out" || true)
# What kubernetes-validate cannot check in a NetworkAttachmentDefinition: its
# CNI config is JSON with a type and static addresses.
python3 - examples/kubernetes/*.yaml <<'PY'
import ipaddress, json, sys, yaml
n = 0
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc and doc.get("kind") == "NetworkAttachmentDefinition":
            cfg = json.loads(doc["spec"]["config"])
            assert cfg["type"] == "macvlan" and cfg["master"], (path, cfg)
            for a in cfg["ipam"]["addresses"]:
                ipaddress.ip_interface(a["address"])
            n += 1
assert n >= 2, f"expected a NetworkAttachmentDefinition per route server, found {n}"
PY
log "kubernetes-validate --strict: $ndocs resources pass; NetworkAttachmentDefinition CNI configs parse"
log "all container checks passed"
