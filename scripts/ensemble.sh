#!/usr/bin/env bash
# Brings up or down a whole loopback ensemble (default 3 members) of Watchkeeper or of the
# reference Apache ZooKeeper 3.8, over ensemble-member.sh, for `watchkeeper bench` and by hand.
# Member N lives in DIR/mN (zoo.cfg, data/, server.log, server.pid). The settings of a start
# are kept in DIR/ensemble.env, so later commands on DIR (a member's restart by the bench, a
# stop) need no environment.
#
#   scripts/ensemble.sh start DIR           # starts every member at once; returns when each
#                                           # one's `srvr` says leader or follower
#   scripts/ensemble.sh stop DIR            # stops every member (SIGTERM, then SIGKILL)
#   scripts/ensemble.sh member start|stop ID DIR   # one member, as ensemble-member.sh
#   scripts/ensemble.sh connect DIR         # prints the connect string (h:p,h:p,h:p)
#   scripts/ensemble.sh pids DIR            # prints the members' pid-file template
#                                           # (DIR/m{id}/server.pid, for --member-pids)
#   scripts/ensemble.sh status DIR          # each member's pid and mode
#
# Environment, for start (later commands read it back from DIR/ensemble.env):
#   ENSEMBLE_SERVER  watchkeeper (default) or zookeeper
#   ENSEMBLE_SIZE    members, 1..9 (default 3)
#   ENSEMBLE_OBSERVERS  how many of them, the last ones, are observers (default 0)
#   ENSEMBLE_PORT    client port of member 1; default 21810 for Watchkeeper and 21910 for
#                    ZooKeeper, so both ensembles can run side by side (ports: lib/ensemble.sh)
#   WK_EXTRA_CFG     Watchkeeper only: zoo.cfg lines to add, separated by spaces or newlines,
#                    e.g. "watchkeeper.raft.heartbeatMs=50 watchkeeper.raft.electionTimeoutMinMs=300
#                    watchkeeper.raft.electionTimeoutMaxMs=500" (ensemble-member.sh writes
#                    zoo.cfg afresh at every start; lib/wk-extra-cfg.sh adds these lines then)
#   WK_BIN, JAVA, ZK_JAR, ZK_HEAP, RUST_LOG, ...   as for ensemble-member.sh
#
# Example (a Watchkeeper and a ZooKeeper ensemble, then a failover comparison):
#   scripts/ensemble.sh start /tmp/ens-wk
#   ENSEMBLE_SERVER=zookeeper scripts/ensemble.sh start /tmp/ens-zk
#   watchkeeper bench --server "$(scripts/ensemble.sh connect /tmp/ens-wk)" \
#       --member-pids "$(scripts/ensemble.sh pids /tmp/ens-wk)" \
#       --restart-cmd "scripts/ensemble.sh member start {id} /tmp/ens-wk" \
#       --compare "$(scripts/ensemble.sh connect /tmp/ens-zk)" \
#       --compare-member-pids "$(scripts/ensemble.sh pids /tmp/ens-zk)" \
#       --compare-restart-cmd "scripts/ensemble.sh member start {id} /tmp/ens-zk" \
#       --runs 5 failover
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/server-control.sh"
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib/ensemble.sh"
REPO_ROOT=$(cd "$HERE/.." && pwd)

usage() {
    die "usage: $(basename "$0") start|stop|connect|pids|status DIR | member start|stop ID DIR"
}

# load_env DIR: the settings of DIR's start.
load_env() {
    [[ -f $1/ensemble.env ]] || die "no ensemble was started in $1 (no $1/ensemble.env)"
    # shellcheck source=/dev/null
    source "$1/ensemble.env"
}

# save_env DIR: records the settings a later command on DIR needs.
save_env() {
    local dir=$1
    {
        printf 'ENSEMBLE_SERVER=%q\n' "$ENSEMBLE_SERVER"
        printf 'ENSEMBLE_SIZE=%q\n' "$ENSEMBLE_SIZE"
        printf 'ENSEMBLE_OBSERVERS=%q\n' "$ENSEMBLE_OBSERVERS"
        printf 'ENSEMBLE_PORT=%q\n' "$ENSEMBLE_PORT"
        printf 'WK_EXTRA_CFG=%q\n' "${WK_EXTRA_CFG:-}"
        printf 'WK_REAL_BIN=%q\n' "$WK_REAL_BIN"
    } >"$dir/ensemble.env"
}

# member ACTION ID DIR: runs ensemble-member.sh for member ID with DIR's settings.
member() {
    local action=$1 id=$2 dir=$3
    load_env "$dir"
    local -a env=(ENSEMBLE_SERVER="$ENSEMBLE_SERVER" ENSEMBLE_SIZE="$ENSEMBLE_SIZE"
        ENSEMBLE_OBSERVERS="${ENSEMBLE_OBSERVERS:-0}" ENSEMBLE_PORT="$ENSEMBLE_PORT")
    if [[ $ENSEMBLE_SERVER == watchkeeper ]]; then
        # The wrapper adds WK_EXTRA_CFG to zoo.cfg and execs the real binary (same pid).
        env+=(WK_BIN="$HERE/lib/wk-extra-cfg.sh" WK_REAL_BIN="$WK_REAL_BIN"
            WK_EXTRA_CFG="$WK_EXTRA_CFG")
    fi
    env "${env[@]}" "$HERE/ensemble-member.sh" "$action" "$id" "$dir/m$id"
}

start_all() {
    local dir=$1 id failed=0
    local -a pids=()
    : "${ENSEMBLE_SERVER:=watchkeeper}"
    : "${ENSEMBLE_SIZE:=3}"
    : "${ENSEMBLE_OBSERVERS:=0}"
    ((ENSEMBLE_OBSERVERS < ENSEMBLE_SIZE)) || die "ENSEMBLE_OBSERVERS must leave at least one participant"
    case $ENSEMBLE_SERVER in
    watchkeeper) : "${ENSEMBLE_PORT:=21810}" ;;
    zookeeper) : "${ENSEMBLE_PORT:=21910}" ;;
    *) die "ENSEMBLE_SERVER must be watchkeeper or zookeeper, not '$ENSEMBLE_SERVER'" ;;
    esac
    [[ $ENSEMBLE_SIZE =~ ^[1-9]$ ]] || die "bad ENSEMBLE_SIZE '$ENSEMBLE_SIZE' (1..9)"
    : "${WK_REAL_BIN:=${WK_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/watchkeeper}}"
    if [[ $ENSEMBLE_SERVER == watchkeeper && ! -x $WK_REAL_BIN ]]; then
        die "no watchkeeper binary at $WK_REAL_BIN (cargo build --release)"
    fi
    mkdir -p "$dir"
    save_env "$dir"
    # Every member at once: one alone has no quorum and would wait for the others.
    for ((id = 1; id <= ENSEMBLE_SIZE; id++)); do
        member start "$id" "$dir" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    if ((failed)); then
        stop_all "$dir"
        die "the ensemble in $dir did not start (see $dir/m*/server.log)"
    fi
    echo "$ENSEMBLE_SERVER ensemble of $ENSEMBLE_SIZE up: $(connect "$dir")"
}

stop_all() {
    local dir=$1 id
    local -a pids=()
    load_env "$dir"
    for ((id = 1; id <= ENSEMBLE_SIZE; id++)); do
        member stop "$id" "$dir" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || true
    done
}

connect() {
    local dir=$1 id out=
    load_env "$dir"
    for ((id = 1; id <= ENSEMBLE_SIZE; id++)); do
        out+="${out:+,}127.0.0.1:$(ensemble_client_port "$ENSEMBLE_PORT" "$id")"
    done
    echo "$out"
}

status() {
    local dir=$1 id port pid
    load_env "$dir"
    for ((id = 1; id <= ENSEMBLE_SIZE; id++)); do
        port=$(ensemble_client_port "$ENSEMBLE_PORT" "$id")
        pid=-
        pid_alive "$dir/m$id/server.pid" && pid=$(<"$dir/m$id/server.pid")
        echo "member $id 127.0.0.1:$port pid $pid mode $(server_mode "$port" || true)"
    done
}

main() {
    [[ $# -ge 2 ]] || usage
    local action=$1
    if [[ $action == member ]]; then
        [[ $# -eq 4 ]] || usage
        [[ $2 == start || $2 == stop ]] || usage
        local dir
        dir=$(cd "$4" && pwd)
        member "$2" "$3" "$dir"
        return
    fi
    [[ $# -eq 2 ]] || usage
    mkdir -p "$2"
    local dir
    dir=$(cd "$2" && pwd)
    case $action in
    start) start_all "$dir" ;;
    stop) stop_all "$dir" ;;
    connect) connect "$dir" ;;
    pids) echo "$dir/m{id}/server.pid" ;;
    status) status "$dir" ;;
    *) usage ;;
    esac
}

main "$@"
