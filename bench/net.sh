#!/usr/bin/env bash
# Addresses for `kumo-bench --net ix` (root): 198.18.0.0/15 (RFC 2544
# benchmarking space) and 2001:7f8:ffff::/64 on lo with global scope, so that
# BIRD accepts the clients as directly connected neighbors and their NEXT_HOPs
# as on-link (it refuses host-scope 127/8 neighbors). `down` removes them.
set -euo pipefail
case "${1:-}" in
    up)
        ip addr show dev lo | grep -q '198.18.0.1/15' || ip addr add 198.18.0.1/15 dev lo
        ip -6 addr show dev lo | grep -q '2001:7f8:ffff::1/64' || ip -6 addr add 2001:7f8:ffff::1/64 dev lo
        ;;
    down)
        ip addr del 198.18.0.1/15 dev lo 2>/dev/null || true
        ip -6 addr del 2001:7f8:ffff::1/64 dev lo 2>/dev/null || true
        ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
