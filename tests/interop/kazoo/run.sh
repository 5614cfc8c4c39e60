#!/usr/bin/env bash
# Runs kazoo's own test suite (kazoo.tests from the installed kazoo wheel) against one server.
#
#   tests/interop/kazoo/run.sh zookeeper|watchkeeper [extra pytest arguments...]
#
# zookeeper:   Apache ZooKeeper 3.8 from the Debian package (scripts/zk-reference.sh)
# watchkeeper: target/release/watchkeeper (scripts/wk-server.sh)
# Environment: PYTHON (default: .venv/bin/python, else python3), KAZOO_INTEROP_PORT (default
# 21810), KAZOO_INTEROP_WORKDIR (default: a fresh directory under /tmp; server logs stay there),
# KAZOO_INTEROP_TIMEOUT (seconds for the whole suite, default 2400).
# Prints pytest's summary; exits with pytest's status.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../../.." && pwd)

target=${1:-}
case $target in
zookeeper) script=$REPO_ROOT/scripts/zk-reference.sh ;;
watchkeeper) script=$REPO_ROOT/scripts/wk-server.sh ;;
*)
    echo "usage: $0 zookeeper|watchkeeper [pytest args...]" >&2
    exit 2
    ;;
esac
shift

if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $REPO_ROOT/.venv/bin/python ]]; then
        PYTHON=$REPO_ROOT/.venv/bin/python
    else
        PYTHON=python3
    fi
fi

export KAZOO_INTEROP_SCRIPT=$script
export KAZOO_INTEROP_PORT=${KAZOO_INTEROP_PORT:-21810}
export KAZOO_INTEROP_WORKDIR=${KAZOO_INTEROP_WORKDIR:-$(mktemp -d /tmp/kazoo-interop.XXXXXX)}
export KAZOO_INTEROP_TIMEOUT=${KAZOO_INTEROP_TIMEOUT:-2400}
export PYTHONPATH=$HERE${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$KAZOO_INTEROP_WORKDIR"
echo "kazoo suite against $target on port $KAZOO_INTEROP_PORT (server dir $KAZOO_INTEROP_WORKDIR/server)"

# -p: load the plugin before kazoo's test modules import the harness.
# --pyargs: the tests live inside the installed wheel.
# -rfEs: list every failure, error and skip reason in the summary.
# Run from the work dir so pytest's rootdir and cache stay out of the repository. The overall
# timeout guards against a server that makes a test hang; the server is stopped afterwards
# even if pytest was killed.
cd "$KAZOO_INTEROP_WORKDIR"
status=0
timeout --kill-after=30 "$KAZOO_INTEROP_TIMEOUT" \
    "$PYTHON" -m pytest -p kazoo_interop_plugin -p no:cacheprovider --pyargs kazoo.tests \
    -q -rfEs "$@" || status=$?
"$script" stop "$KAZOO_INTEROP_PORT" "$KAZOO_INTEROP_WORKDIR/server" || true
if ((status == 124 || status == 137)); then
    echo "kazoo suite: timed out after ${KAZOO_INTEROP_TIMEOUT}s"
fi
exit "$status"
