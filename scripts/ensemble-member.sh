#!/usr/bin/env bash
# Starts or stops ONE member of a loopback ensemble (all members on 127.0.0.1), of Watchkeeper
# or of the reference Apache ZooKeeper 3.8, with the member's state under DIR (the same layout
# as the single-server scripts: DIR/zoo.cfg, DIR/data with myid, DIR/server.log, DIR/server.pid).
#
#   scripts/ensemble-member.sh start ID DIR  # returns once the member's `srvr` says leader or
#                                            # follower; for a new ensemble start every member
#                                            # at once (one alone has no quorum)
#   scripts/ensemble-member.sh stop ID DIR   # SIGTERM (a Watchkeeper leader hands leadership
#                                            # over first), SIGKILL after a grace period
#
# Environment:
#   ENSEMBLE_SERVER  watchkeeper (default) or zookeeper
#   ENSEMBLE_SIZE    number of members, 1..9 (default 3); the server lines list all of them
#   ENSEMBLE_OBSERVERS  how many of them (the last ones) are observers (default 0)
#   ENSEMBLE_PORT    client port of member 1 (default 21810); the ports of the others follow
#                    from it, see lib/ensemble.sh (21810 -> clients 21810-21812, peers
#                    21820-21825)
#   WK_BIN, WK_SERVE_ARGS   as for wk-server.sh; RUST_LOG (default info) goes to server.log
#   JAVA, ZK_JAR, ZK_LOG_BINDING, ZK_HEAP   as for zk-reference.sh
#   SERVER_START_TIMEOUT, SERVER_STOP_TIMEOUT   as in lib/server-control.sh
#
# zoo.cfg is write_zoo_cfg's (the one every interop suite expects) plus the server lines,
# initLimit/syncLimit and, for Watchkeeper, the super digest of kazoo's harness (ZooKeeper takes
# it as a system property). No reconfig, read-only mode or local sessions.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/server-control.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/ensemble.sh"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${ENSEMBLE_SERVER:=watchkeeper}"
: "${ENSEMBLE_SIZE:=3}"
: "${ENSEMBLE_OBSERVERS:=0}"
: "${ENSEMBLE_PORT:=21810}"
: "${WK_BIN:=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/watchkeeper}"
: "${WK_SERVE_ARGS:=}"
: "${JAVA:=/usr/bin/java}"
: "${ZK_JAR:=/usr/share/java/zookeeper.jar}"
: "${ZK_LOG_BINDING:=/usr/share/java/slf4j-simple.jar}"
: "${ZK_HEAP:=256m}"

launch_watchkeeper() {
    local dir=$1 extra
    [[ -x $WK_BIN ]] || die "no watchkeeper binary at $WK_BIN (cargo build --release)"
    echo "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST" >>"$dir/zoo.cfg"
    read -r -a extra <<<"$WK_SERVE_ARGS"
    # setsid: the server must not die with the caller's terminal or process group.
    RUST_LOG=${RUST_LOG:-info} setsid "$WK_BIN" serve --config "$dir/zoo.cfg" "${extra[@]}" \
        >>"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
}

launch_zookeeper() {
    local dir=$1
    [[ -x $JAVA ]] || die "no java at $JAVA (apt-get install default-jre-headless)"
    [[ -f $ZK_JAR ]] || die "no $ZK_JAR (apt-get install zookeeper)"
    # As zk-reference.sh: the JVM directly, so the pid is the server's own.
    setsid "$JAVA" -Xmx"$ZK_HEAP" -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
        -Dzookeeper.log.dir="$dir" \
        -Dzookeeper.DigestAuthenticationProvider.superDigest="$SUPER_DIGEST" \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        -cp "$ZK_JAR:$ZK_LOG_BINDING" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
        >>"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
}

start() {
    local id=$1 dir=$2 port
    port=$(ensemble_client_port "$ENSEMBLE_PORT" "$id")
    pid_alive "$dir/server.pid" && die "a member already runs from $dir (pid $(<"$dir/server.pid"))"
    refuse_busy_port "$port"
    refuse_busy_port "$(ensemble_quorum_port "$ENSEMBLE_PORT" "$id")"
    refuse_busy_port "$(ensemble_election_port "$ENSEMBLE_PORT" "$id")"
    mkdir -p "$dir/data"
    write_ensemble_cfg "$ENSEMBLE_PORT" "$ENSEMBLE_SIZE" "$id" "$dir" "$ENSEMBLE_OBSERVERS"
    echo "---- $(date '+%F %T') start member $id of $ENSEMBLE_SIZE ($ENSEMBLE_SERVER) ----" \
        >>"$dir/server.log"
    case $ENSEMBLE_SERVER in
    watchkeeper) launch_watchkeeper "$dir" ;;
    zookeeper) launch_zookeeper "$dir" ;;
    esac
    wait_in_quorum "$port" "$dir/server.pid" "$dir/server.log" "$ENSEMBLE_SIZE"
}

stop() {
    local id=$1 dir=$2
    if pid_alive "$dir/server.pid"; then
        echo "---- $(date '+%F %T') stop member $id (SIGTERM) ----" >>"$dir/server.log"
    fi
    stop_pidfile "$dir/server.pid"
}

main() {
    [[ $# -eq 3 ]] || die "usage: $(basename "$0") start|stop ID DIR"
    [[ $1 == start || $1 == stop ]] || die "unknown action '$1' (start|stop)"
    case $ENSEMBLE_SERVER in
    watchkeeper | zookeeper) ;;
    *) die "ENSEMBLE_SERVER must be watchkeeper or zookeeper, not '$ENSEMBLE_SERVER'" ;;
    esac
    [[ $ENSEMBLE_SIZE =~ ^[1-9]$ ]] || die "bad ENSEMBLE_SIZE '$ENSEMBLE_SIZE' (1..9)"
    [[ $ENSEMBLE_PORT =~ ^[0-9]+$ ]] && ((ENSEMBLE_PORT >= 1024 && ENSEMBLE_PORT <= 65500)) ||
        die "bad ENSEMBLE_PORT '$ENSEMBLE_PORT'"
    if ! [[ $2 =~ ^[1-9]$ ]] || (($2 > ENSEMBLE_SIZE)); then
        die "bad member id '$2' (1..$ENSEMBLE_SIZE)"
    fi
    local action=$1 id=$2 dir
    mkdir -p "$3"
    dir=$(cd "$3" && pwd)
    case $action in
    start) start "$id" "$dir" ;;
    stop) stop "$id" "$dir" ;;
    esac
}

main "$@"
