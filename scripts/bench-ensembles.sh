#!/usr/bin/env bash
# The ensemble comparison of docs/performance.md ("Ensembles (3 members)"): a 3-member
# Watchkeeper ensemble against a 3-member Apache ZooKeeper 3.8 ensemble on this machine, both
# up side by side (scripts/ensemble.sh, distinct ports), `watchkeeper bench` alternating them
# run by run. Every report is saved as OUT/<name>.json and .txt (with `uptime` before it),
# the charts go to OUT/charts. OUT/load.log samples, every ten seconds, the load average and
# every other process using 10% of a core or more (the machine is shared; the load average
# counts the benchmark's own servers and load generator too).
#
#   scripts/bench-ensembles.sh OUT                 # the documented sizes
#   BENCH_SMOKE=1 scripts/bench-ensembles.sh OUT   # a smoke-sized run (about a minute)
#
# Environment:
#   BENCH_WORKLOADS  which to run, in order (default: read write failover storm failover-fast
#                    obs-read obs-fanout obs-write)
#                    failover-fast: failover against a Watchkeeper ensemble with Raft timings
#                    shortened by WK_FAST_CFG, beside the same ZooKeeper ensemble
#                    obs-*: 3 voters + 2 observers of each server; obs-read and obs-fanout
#                    spread sessions and watchers over all five (Watchkeeper against
#                    ZooKeeper), obs-write compares Watchkeeper's 3 + 2 with its 3 voters alone
#   WK_FAST_CFG      default "watchkeeper.raft.heartbeatMs=50
#                    watchkeeper.raft.electionTimeoutMinMs=300 watchkeeper.raft.electionTimeoutMaxMs=500"
#   WK_BIN           the watchkeeper binary (default: target/release/watchkeeper, honouring
#                    CARGO_TARGET_DIR); also runs the bench
#   BENCH_SMOKE      1: small sizes and few runs
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
[[ $# -eq 1 ]] || {
    echo "usage: $(basename "$0") OUT" >&2
    exit 1
}
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
: "${WK_BIN:=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/watchkeeper}"
: "${BENCH_WORKLOADS:=read write failover storm failover-fast obs-read obs-fanout obs-write}"
: "${WK_FAST_CFG:=watchkeeper.raft.heartbeatMs=50 watchkeeper.raft.electionTimeoutMinMs=300 watchkeeper.raft.electionTimeoutMaxMs=500}"
: "${BENCH_SMOKE:=0}"
export WK_BIN
ENS=$HERE/ensemble.sh

if [[ $BENCH_SMOKE == 1 ]]; then
    LOAD=(--runs 1 --duration 1s --warmup 500ms)
    FAILOVER=(--runs 2 failover --warmup 300ms --settle 0s)
    STORM=(--runs 1 storm --sessions 300 --watches 5 --nodes 100 --changed 10)
    FANOUT=(--runs 1 fanout --watchers 100 --rounds 3 --warmup-rounds 1)
else
    LOAD=(--runs 3 --duration 5s)
    FAILOVER=(--runs 7 failover)
    STORM=(--runs 3 storm --sessions 3000 --watches 10)
    FANOUT=(--runs 3 fanout --watchers 1000 --rounds 20 --warmup-rounds 5)
fi
# 3 voters + 2 observers, on ports of their own.
OBS_WK=(ENSEMBLE_SERVER=watchkeeper ENSEMBLE_SIZE=5 ENSEMBLE_OBSERVERS=2 ENSEMBLE_PORT=22110)
OBS_ZK=(ENSEMBLE_SERVER=zookeeper ENSEMBLE_SIZE=5 ENSEMBLE_OBSERVERS=2 ENSEMBLE_PORT=22210)

started=()
sampler=
cleanup() {
    local d
    [[ -n $sampler ]] && kill "$sampler" 2>/dev/null
    for d in "${started[@]}"; do
        "$ENS" stop "$d" || true
    done
}
trap cleanup EXIT

# Other work on the machine: processes at 10% CPU or more whose command line does not name OUT.
sample_load() {
    while :; do
        {
            echo "== $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
            top -b -c -n 2 -d 2 -w 250 | awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 10' |
                grep -vF "$OUT" | cut -c1-200 || true
        } >>"$OUT/load.log"
        sleep 8
    done
}
sample_load &
sampler=$!

# up NAME [VAR=VALUE...]: starts the ensemble OUT/NAME unless it already runs.
up() {
    local name=$1
    shift
    local status=
    [[ -f $OUT/$name/ensemble.env ]] && status=$("$ENS" status "$OUT/$name")
    if [[ $status == *"mode leader"* ]]; then
        return 0
    fi
    # Whatever is left of an earlier start goes first (its members must not be orphaned).
    [[ -f $OUT/$name/ensemble.env ]] && "$ENS" stop "$OUT/$name"
    rm -rf "${OUT:?}/$name"
    env "$@" "$ENS" start "$OUT/$name"
    started+=("$OUT/$name")
}

# down NAME: stops an ensemble this script started (so idle members do not share the cores).
down() {
    local d=$OUT/$1 i
    for i in "${!started[@]}"; do
        if [[ ${started[i]} == "$d" ]]; then
            "$ENS" stop "$d"
            unset 'started[i]'
        fi
    done
}

# bench NAME WK ZK ARGS...: one comparison, Watchkeeper ensemble WK as A, ZooKeeper ZK as B.
bench() {
    local name=$1 wk=$OUT/$2 zk=$OUT/$3
    shift 3
    {
        echo "# $(date '+%F %T') $(uptime)"
        echo "# watchkeeper bench $*"
    } | tee "$OUT/$name.txt"
    "$WK_BIN" bench --no-progress \
        --server "$("$ENS" connect "$wk")" --member-pids "$("$ENS" pids "$wk")" \
        --restart-cmd "$ENS member start {id} $wk" \
        --compare "$("$ENS" connect "$zk")" --compare-member-pids "$("$ENS" pids "$zk")" \
        --compare-restart-cmd "$ENS member start {id} $zk" \
        --output "$OUT/$name.json" "$@" | tee -a "$OUT/$name.txt"
    echo "# $(date '+%F %T') $(uptime)" | tee -a "$OUT/$name.txt"
}

for w in $BENCH_WORKLOADS; do
    case $w in
    read | write)
        down wk-fast
        up wk ENSEMBLE_SERVER=watchkeeper
        up zk ENSEMBLE_SERVER=zookeeper
        bench "$w" wk zk "$w" "${LOAD[@]}"
        ;;
    failover)
        down wk-fast
        up wk ENSEMBLE_SERVER=watchkeeper
        up zk ENSEMBLE_SERVER=zookeeper
        bench failover wk zk "${FAILOVER[@]}"
        ;;
    storm)
        down wk-fast
        up wk ENSEMBLE_SERVER=watchkeeper
        up zk ENSEMBLE_SERVER=zookeeper
        bench storm wk zk "${STORM[@]}"
        ;;
    failover-fast)
        down wk
        up wk-fast ENSEMBLE_SERVER=watchkeeper ENSEMBLE_PORT=22010 WK_EXTRA_CFG="$WK_FAST_CFG"
        up zk ENSEMBLE_SERVER=zookeeper
        bench failover-fast wk-fast zk --label "watchkeeper, Raft 50/300/500 ms" "${FAILOVER[@]}"
        ;;
    obs-read | obs-fanout)
        down wk
        down wk-fast
        down zk
        up wk-obs "${OBS_WK[@]}"
        up zk-obs "${OBS_ZK[@]}"
        if [[ $w == obs-read ]]; then
            bench obs-read wk-obs zk-obs --label "watchkeeper 3+2" --compare-label "zookeeper 3+2" read "${LOAD[@]}"
        else
            bench obs-fanout wk-obs zk-obs --label "watchkeeper 3+2" --compare-label "zookeeper 3+2" "${FANOUT[@]}"
        fi
        ;;
    obs-write)
        down zk-obs
        down zk
        down wk-fast
        up wk-obs "${OBS_WK[@]}"
        up wk ENSEMBLE_SERVER=watchkeeper
        bench obs-write wk-obs wk --label "watchkeeper 3+2" --compare-label "watchkeeper 3" write "${LOAD[@]}"
        ;;
    *)
        echo "unknown workload '$w' in BENCH_WORKLOADS" >&2
        exit 1
        ;;
    esac
done

mkdir -p "$OUT/charts"
jsons=()
# failover-fast last: its Watchkeeper bars join the chart, its ZooKeeper ones do not replace
# those of the first series.
for f in "$OUT"/{read,write,failover,storm,failover-fast}.json; do
    [[ -f $f ]] && jsons+=("$f")
done
if ((${#jsons[@]})); then
    "$WK_BIN" bench plot --out "$OUT/charts" "${jsons[@]}"
fi
