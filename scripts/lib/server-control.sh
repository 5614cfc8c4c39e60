# shellcheck shell=bash
# Shared helpers for the server control scripts (zk-reference.sh, wk-server.sh).
#
# Both scripts keep the same layout so that every harness can drive either server through one
# interface (`start|stop PORT DIR`):
#   DIR/zoo.cfg     the configuration both servers read (write_zoo_cfg)
#   DIR/data        the server's own data directory (wiped by nobody here; harnesses reset it)
#   DIR/server.log  everything the server prints
#   DIR/server.pid  the server's process id while it runs
# Only loopback is ever used.

# How long a server may take to answer `ruok` before start gives up (seconds).
: "${SERVER_START_TIMEOUT:=60}"
# How long a server may take to exit after SIGTERM before it is killed (seconds).
: "${SERVER_STOP_TIMEOUT:=20}"

# Super digest for super:test, as in kazoo.testing.harness (its tests authenticate as super).
# shellcheck disable=SC2034 # used by the scripts that source this file
SUPER_DIGEST='super:D/InIHSb7yEEbrWz8b9l71RjZJU='

# write_zoo_cfg PORT DIR: the settings every interop suite expects of a server under test:
# loopback only, no connection limit (kazoo's suite opens many), every four-letter word, no admin
# HTTP server, extended types (TTL nodes).
write_zoo_cfg() {
    cat >"$2/zoo.cfg" <<EOF
tickTime=2000
dataDir=$2/data
clientPort=$1
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
extendedTypesEnabled=true
EOF
}

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

# usage_check ACTION PORT DIR: validates the common command line.
usage_check() {
    [[ $# -eq 3 ]] || die "usage: $(basename "$0") start|stop PORT DIR"
    [[ $1 == start || $1 == stop ]] || die "unknown action '$1' (start|stop)"
    if ! [[ $2 =~ ^[0-9]+$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
        die "bad port '$2'"
    fi
}

# four_letter PORT WORD: prints the server's answer to a four-letter word, empty if none.
# Uses bash's /dev/tcp so that a fresh machine needs no netcat.
four_letter() {
    local port=$1 word=$2
    # shellcheck disable=SC2016 # the inner script takes its values as arguments
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "%s" "$2" >&3
        cat <&3
    ' _ "$port" "$word" 2>/dev/null || true
}

# port_accepts PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_accepts() {
    # shellcheck disable=SC2016 # the inner script takes its value as an argument
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# proc_running PID: true while PID runs. A zombie counts as gone: the reaper of orphans in a
# container is not always prompt, and a dead server must not look alive.
proc_running() {
    local state
    # The state follows the last ')' (the command name may itself hold spaces or parentheses).
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# pid_alive PIDFILE: true when the pid file names a running process.
pid_alive() {
    [[ -s $1 ]] || return 1
    proc_running "$(<"$1")"
}

# show_log_tail LOG: prints the end of a server log to stderr, for diagnosing a failed start.
show_log_tail() {
    if [[ -f $1 ]]; then
        echo "---- last lines of $1 ----" >&2
        tail -n 40 "$1" >&2
        echo "----" >&2
    fi
}

# wait_ready PORT PIDFILE LOG STRICT: waits until the server answers `ruok` with `imok`.
# With STRICT=no, a port that accepts connections but does not speak four-letter words counts
# as ready after a few polls (a server still growing its admin commands can be tested anyway).
wait_ready() {
    local port=$1 pidfile=$2 log=$3 strict=$4
    local deadline=$((SECONDS + SERVER_START_TIMEOUT)) accepting=0
    while ((SECONDS < deadline)); do
        if ! pid_alive "$pidfile"; then
            show_log_tail "$log"
            die "server on port $port exited during start"
        fi
        if [[ $(four_letter "$port" ruok) == imok ]]; then
            return 0
        fi
        if [[ $strict == no ]] && port_accepts "$port"; then
            accepting=$((accepting + 1))
            if ((accepting >= 6)); then
                echo "$(basename "$0"): port $port accepts but ruok does not answer imok" >&2
                return 0
            fi
        fi
        sleep 0.5
    done
    show_log_tail "$log"
    stop_pidfile "$pidfile"
    die "server on port $port not ready after ${SERVER_START_TIMEOUT}s"
}

# refuse_busy_port PORT: a start must not silently test some other server already listening.
refuse_busy_port() {
    if port_accepts "$1"; then
        die "port $1 is already in use"
    fi
}

# stop_pidfile PIDFILE: SIGTERM, wait, then SIGKILL; removes the pid file. Idempotent.
stop_pidfile() {
    local pidfile=$1 pid deadline
    if ! pid_alive "$pidfile"; then
        rm -f "$pidfile"
        return 0
    fi
    pid=$(<"$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + SERVER_STOP_TIMEOUT))
    while proc_running "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if proc_running "$pid"; then
        echo "$(basename "$0"): pid $pid ignored SIGTERM for ${SERVER_STOP_TIMEOUT}s, killing" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while proc_running "$pid"; do sleep 0.1; done
    fi
    rm -f "$pidfile"
}
