#!/usr/bin/env bash
# Starts or stops the reference server: Apache ZooKeeper 3.8 standalone from the Debian package
# `zookeeper`, on 127.0.0.1:PORT with its state under DIR (see lib/server-control.sh for the layout).
#
#   scripts/zk-reference.sh start PORT DIR   # returns once `ruok` answers `imok`
#   scripts/zk-reference.sh stop PORT DIR    # SIGTERM, then SIGKILL after a grace period
#
# The configuration is the one the interop suites expect of any server under test (write_zoo_cfg),
# plus the super digest kazoo's own test harness uses (user "super", password "test"), which
# ZooKeeper takes as a system property. The JVM is run directly (not zkServer.sh) so the
# pid is the server's own and nothing is written outside DIR.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/server-control.sh"

: "${JAVA:=/usr/bin/java}"
: "${ZK_JAR:=/usr/share/java/zookeeper.jar}"
# slf4j-simple (from libslf4j-java, a dependency of the package) makes the server log to stderr;
# without a binding the Debian jars log nothing at all.
: "${ZK_LOG_BINDING:=/usr/share/java/slf4j-simple.jar}"
: "${ZK_HEAP:=256m}"

start() {
    local port=$1 dir=$2
    [[ -x $JAVA ]] || die "no java at $JAVA (apt-get install default-jre-headless)"
    [[ -f $ZK_JAR ]] || die "no $ZK_JAR (apt-get install zookeeper)"
    pid_alive "$dir/server.pid" && die "a server already runs from $dir (pid $(<"$dir/server.pid"))"
    refuse_busy_port "$port"
    mkdir -p "$dir/data"
    write_zoo_cfg "$port" "$dir"
    # setsid: the server must not die with the caller's terminal or process group.
    setsid "$JAVA" -Xmx"$ZK_HEAP" -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
        -Dzookeeper.log.dir="$dir" \
        -Dzookeeper.DigestAuthenticationProvider.superDigest="$SUPER_DIGEST" \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        -cp "$ZK_JAR:$ZK_LOG_BINDING" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
        >>"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    wait_ready "$port" "$dir/server.pid" "$dir/server.log" yes
}

main() {
    usage_check "$@"
    local action=$1 port=$2 dir
    mkdir -p "$3"
    dir=$(cd "$3" && pwd)
    case $action in
    start) start "$port" "$dir" ;;
    stop) stop_pidfile "$dir/server.pid" ;;
    esac
}

main "$@"
