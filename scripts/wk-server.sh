#!/usr/bin/env bash
# Starts or stops a Watchkeeper server on 127.0.0.1:PORT with its state under DIR, with the same
# interface, layout and zoo.cfg as zk-reference.sh so every interop harness can drive either one.
#
#   scripts/wk-server.sh start PORT DIR   # returns once `ruok` answers `imok` (or the port accepts)
#   scripts/wk-server.sh stop PORT DIR    # SIGTERM, then SIGKILL after a grace period
#
# WK_BIN names the binary (default: target/release/watchkeeper, honouring CARGO_TARGET_DIR);
# WK_SERVE_ARGS adds arguments to `serve` (split on spaces).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib/server-control.sh"

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${WK_BIN:=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/watchkeeper}"
: "${WK_SERVE_ARGS:=}"

start() {
    local port=$1 dir=$2 extra
    [[ -x $WK_BIN ]] || die "no watchkeeper binary at $WK_BIN (cargo build --release)"
    pid_alive "$dir/server.pid" && die "a server already runs from $dir (pid $(<"$dir/server.pid"))"
    refuse_busy_port "$port"
    mkdir -p "$dir/data"
    write_zoo_cfg "$port" "$dir"
    echo "zookeeper.DigestAuthenticationProvider.superDigest=$SUPER_DIGEST" >>"$dir/zoo.cfg"
    read -r -a extra <<<"$WK_SERVE_ARGS"
    # setsid: the server must not die with the caller's terminal or process group.
    setsid "$WK_BIN" serve --config "$dir/zoo.cfg" --client-port "$port" --data-dir "$dir/data" \
        "${extra[@]}" \
        >>"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    wait_ready "$port" "$dir/server.pid" "$dir/server.log" no
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
