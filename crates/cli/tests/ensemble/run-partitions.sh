#!/usr/bin/env bash
# Runs the ensemble's partition scenarios inside a private network namespace, where nftables
# rules cut links between members (each on its own 127.0.0.x) without touching this machine's
# own traffic. Needs root, iproute2 and nftables; builds the test binary first (outside the
# namespace, which has no network).
#
#   crates/cli/tests/ensemble/run-partitions.sh [test-name-filter]   # default: partitions::
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../../.."
filter=${1:-partitions::}
# The test target's artifact (the same build also reports the watchkeeper binary's).
bin=$(cargo test -p watchkeeper --test ensemble --no-run --message-format=json 2>/dev/null |
    grep '"name":"ensemble"' | grep '"test":true' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x $bin ]] || { echo "cannot find the ensemble test binary" >&2; exit 1; }
ns=wk-partitions-$$
ip netns add "$ns"
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up
# The test binary finds the watchkeeper binary by the path cargo compiled into it.
ip netns exec "$ns" env WK_PARTITIONS=1 "$bin" "$filter" --test-threads 1
