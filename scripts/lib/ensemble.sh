# shellcheck shell=bash
# Helpers for scripts/ensemble-member.sh: the port layout of a loopback ensemble, its zoo.cfg,
# and readiness by `srvr`. Sourced after lib/server-control.sh (uses die, four_letter, pid_alive,
# show_log_tail, stop_pidfile).
#
# Port layout for an ensemble whose first client port is BASE (members are numbered 1..SIZE):
#   client port of member N    BASE + N - 1
#   quorum port of member N    BASE + 10 + 2(N-1)
#   election port of member N  BASE + 11 + 2(N-1)
# so BASE=21810 gives clients on 21810-21812 and peers on 21820-21825. At most 9 members.

# ensemble_client_port BASE N
ensemble_client_port() { echo $(($1 + $2 - 1)); }
# ensemble_quorum_port BASE N
ensemble_quorum_port() { echo $(($1 + 10 + 2 * ($2 - 1))); }
# ensemble_election_port BASE N
ensemble_election_port() { echo $(($1 + 11 + 2 * ($2 - 1))); }

# ensemble_role SIZE OBSERVERS N: participant, or observer for the last OBSERVERS members.
ensemble_role() {
    if (($3 > $1 - $2)); then echo observer; else echo participant; fi
}

# write_ensemble_cfg BASE SIZE ID DIR [OBSERVERS]: write_zoo_cfg's settings for member ID, then
# one `server.N=127.0.0.1:quorum:election:ROLE;127.0.0.1:client` line per member (ZooKeeper
# 3.5+ syntax, which both servers read; the client address agrees with clientPort; the last
# OBSERVERS members, default 0, are observers and say `peerType=observer` in their own file),
# and the member's id in DIR/data/myid.
write_ensemble_cfg() {
    local base=$1 size=$2 id=$3 dir=$4 observers=${5:-0} n
    write_zoo_cfg "$(ensemble_client_port "$base" "$id")" "$dir"
    {
        # kazoo's own ensemble harness (kazoo.testing.common) uses these limits.
        echo "initLimit=4"
        echo "syncLimit=2"
        for ((n = 1; n <= size; n++)); do
            echo "server.$n=127.0.0.1:$(ensemble_quorum_port "$base" "$n"):$(ensemble_election_port "$base" "$n"):$(ensemble_role "$size" "$observers" "$n");127.0.0.1:$(ensemble_client_port "$base" "$n")"
        done
        if [[ $(ensemble_role "$size" "$observers" "$id") == observer ]]; then
            echo "peerType=observer"
        fi
    } >>"$dir/zoo.cfg"
    echo "$id" >"$dir/data/myid"
}

# server_mode PORT: the Mode line of `srvr` (leader, follower, observer, standalone), empty if
# the server does not answer or is not serving (ZooKeeper then says "This ZooKeeper instance
# is not currently serving requests").
server_mode() {
    four_letter "$1" srvr | sed -n 's/^Mode: *//p' | tr -d '\r'
}

# wait_in_quorum PORT PIDFILE LOG [SIZE]: waits until the member's own `srvr` says leader,
# follower or observer, i.e. it has joined a quorum and serves clients (standalone too when SIZE is 1). A member started before the others of a fresh
# ensemble waits for them, so start every member of a new ensemble at once.
wait_in_quorum() {
    local port=$1 pidfile=$2 log=$3 size=${4:-3} mode=
    local deadline=$((SECONDS + SERVER_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! pid_alive "$pidfile"; then
            show_log_tail "$log"
            die "member on port $port exited during start"
        fi
        mode=$(server_mode "$port")
        case $mode in
        leader | follower | observer) return 0 ;;
        standalone) ((size == 1)) && return 0 ;;
        esac
        sleep 0.3
    done
    show_log_tail "$log"
    stop_pidfile "$pidfile"
    die "member on port $port not leader or follower after ${SERVER_START_TIMEOUT}s (srvr mode: '${mode}')"
}
