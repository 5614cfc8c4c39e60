#!/usr/bin/env bash
# Runs kazoo's own test suite (kazoo.tests from the installed kazoo wheel) against one server or
# against an ensemble.
#
#   tests/interop/kazoo/run.sh [--cluster-size N] zookeeper|watchkeeper [extra pytest arguments...]
#
# zookeeper:   Apache ZooKeeper 3.8 from the Debian package
# watchkeeper: target/release/watchkeeper (honouring CARGO_TARGET_DIR, or WK_BIN)
# --cluster-size N (or KAZOO_INTEROP_CLUSTER_SIZE=N): 1 (default) runs one standalone server
#   (scripts/zk-reference.sh, scripts/wk-server.sh) on KAZOO_INTEROP_PORT; N > 1 (e.g. 3) runs an
#   N-member ensemble of that server on loopback (scripts/ensemble-member.sh), every member in
#   the connect string, client ports KAZOO_INTEROP_PORT .. +N-1 and peer ports from
#   KAZOO_INTEROP_PORT+10 (see scripts/lib/ensemble.sh); kazoo's failover test then runs too.
# Environment: PYTHON (default: .venv/bin/python, else python3), KAZOO_INTEROP_PORT (default
# 21810), KAZOO_INTEROP_WORKDIR (default: a fresh directory under /tmp; server logs stay there:
# server/server.log, or member-ID/server.log for an ensemble), KAZOO_INTEROP_TIMEOUT (seconds
# for the whole suite, default 2400).
# Prints pytest's summary; exits with pytest's status.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../../.." && pwd)

usage() {
    echo "usage: $0 [--cluster-size N] zookeeper|watchkeeper [pytest args...]" >&2
    exit 2
}

size=${KAZOO_INTEROP_CLUSTER_SIZE:-1}
case ${1:-} in
--cluster-size)
    [[ $# -ge 2 ]] || usage
    size=$2
    shift 2
    ;;
--cluster-size=*)
    size=${1#--cluster-size=}
    shift
    ;;
esac
[[ $size =~ ^[1-9]$ ]] || {
    echo "$0: cluster size must be 1..9, not '$size'" >&2
    exit 2
}

target=${1:-}
if ((size == 1)); then
    case $target in
    zookeeper) script=$REPO_ROOT/scripts/zk-reference.sh ;;
    watchkeeper) script=$REPO_ROOT/scripts/wk-server.sh ;;
    *) usage ;;
    esac
else
    case $target in
    zookeeper | watchkeeper) script=$REPO_ROOT/scripts/ensemble-member.sh ;;
    *) usage ;;
    esac
    export ENSEMBLE_SERVER=$target
fi
shift

if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $REPO_ROOT/.venv/bin/python ]]; then
        PYTHON=$REPO_ROOT/.venv/bin/python
    else
        PYTHON=python3
    fi
fi

export KAZOO_INTEROP_SCRIPT=$script
export KAZOO_INTEROP_CLUSTER_SIZE=$size
export KAZOO_INTEROP_PORT=${KAZOO_INTEROP_PORT:-21810}
export KAZOO_INTEROP_WORKDIR=${KAZOO_INTEROP_WORKDIR:-$(mktemp -d /tmp/kazoo-interop.XXXXXX)}
export KAZOO_INTEROP_TIMEOUT=${KAZOO_INTEROP_TIMEOUT:-2400}
export PYTHONPATH=$HERE${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$KAZOO_INTEROP_WORKDIR"
if ((size == 1)); then
    echo "kazoo suite against $target on port $KAZOO_INTEROP_PORT (server dir $KAZOO_INTEROP_WORKDIR/server)"
else
    echo "kazoo suite against a $size-member $target ensemble on ports $KAZOO_INTEROP_PORT-$((KAZOO_INTEROP_PORT + size - 1)) (member dirs $KAZOO_INTEROP_WORKDIR/member-1..$size)"
fi

# -p: load the plugin before kazoo's test modules import the harness.
# --pyargs: the tests live inside the installed wheel.
# -rfEs: list every failure, error and skip reason in the summary.
# Run from the work dir so pytest's rootdir and cache stay out of the repository. The overall
# timeout guards against a server that makes a test hang; the servers are stopped afterwards
# even if pytest was killed.
cd "$KAZOO_INTEROP_WORKDIR"
status=0
timeout --kill-after=30 "$KAZOO_INTEROP_TIMEOUT" \
    "$PYTHON" -m pytest -p kazoo_interop_plugin -p no:cacheprovider --pyargs kazoo.tests \
    -q -rfEs "$@" || status=$?
if ((size == 1)); then
    "$script" stop "$KAZOO_INTEROP_PORT" "$KAZOO_INTEROP_WORKDIR/server" || true
else
    for ((id = 1; id <= size; id++)); do
        ENSEMBLE_SIZE=$size ENSEMBLE_PORT=$KAZOO_INTEROP_PORT \
            "$script" stop "$id" "$KAZOO_INTEROP_WORKDIR/member-$id" &
    done
    wait || true
fi
if ((status == 124 || status == 137)); then
    echo "kazoo suite: timed out after ${KAZOO_INTEROP_TIMEOUT}s"
fi
exit "$status"
