#!/usr/bin/env bash
# ZooKeeper's own command-line client against a server: one-shot zkCli.sh commands whose output
# must match what Apache ZooKeeper prints.
#
#   tests/interop/zkcli.sh HOST:PORT
#
# Each check runs `zkCli.sh -server HOST:PORT <command>` (a fresh Java client and session per
# command), requires the exit status the command has against ZooKeeper (0, or non-zero for the
# expected failures) and greps its output for the expected text. Every check runs; a mismatch
# prints the command, the expectation and the whole output. Ends with `zkcli: N passed, N failed`
# and exits 1 if anything failed. Needs a server with extended types (TTL nodes) enabled.
# ZKCLI overrides the client script (default /usr/share/zookeeper/bin/zkCli.sh).
set -euo pipefail

: "${ZKCLI:=/usr/share/zookeeper/bin/zkCli.sh}"

if [[ $# -ne 1 || ! $1 =~ ^[^:]+:[0-9]+$ ]]; then
    echo "usage: $0 HOST:PORT" >&2
    exit 2
fi
SERVER=$1
[[ -x $ZKCLI ]] || {
    echo "zkcli: no $ZKCLI (apt-get install zookeeper)" >&2
    exit 2
}

# A root of its own, so repeated runs against one server do not meet each other.
R=/zkcli-$$-$RANDOM
passed=0
failed=0

# zk COMMAND...: the client's output without its connection chatter and logging noise.
zk() {
    "$ZKCLI" -server "$SERVER" "$@" 2>&1 </dev/null |
        grep -vE '^SLF4J|^Connecting to |^WATCHER::|^WatchedEvent state:SyncConnected type:None|^$'
    return "${PIPESTATUS[0]}"
}

# check ok|fail PATTERN COMMAND...: runs the command, wants the status and an output line
# matching the extended regular expression PATTERN ("" = no output required).
check() {
    local want=$1 pattern=$2 output status=0
    shift 2
    output=$(zk "$@") || status=$?
    local status_ok=no
    if [[ $want == ok && $status -eq 0 ]] || [[ $want == fail && $status -ne 0 ]]; then
        status_ok=yes
    fi
    if [[ $status_ok == yes ]] && { [[ -z $pattern ]] || grep -qE -- "$pattern" <<<"$output"; }; then
        passed=$((passed + 1))
        return 0
    fi
    failed=$((failed + 1))
    {
        echo "zkcli: FAILED: zkCli.sh $*"
        echo "  wanted: $want (exit status) and a line matching: ${pattern:-<anything>}"
        echo "  got exit status $status and output:"
        printf '    | %s\n' "${output//$'\n'/$'\n'    | }"
    } >&2
}

# digest ID: the digest ACL id of user:password (user:base64(sha1("user:password"))).
digest() {
    local user=${1%%:*} hex escapes="" i
    hex=$(printf '%s' "$1" | sha1sum | cut -d' ' -f1)
    # hex to bytes through printf escapes: a minimal machine has no xxd
    for ((i = 0; i < ${#hex}; i += 2)); do
        escapes+="\\x${hex:i:2}"
    done
    printf '%s:%s' "$user" "$(printf '%b' "$escapes" | base64)"
}

echo "zkCli.sh one-shot commands against $SERVER (root $R)"

# create: every mode, and its failures
check ok "^Created $R\$" create "$R" root
check ok "^Created $R/a\$" create "$R/a" alpha
check ok "^Created $R/s-0000000001\$" create -s "$R/s-" seq
check ok "^Created $R/c\$" create -c "$R/c"
check ok "^Created $R/t\$" create -t 600000 "$R/t" ttl
check fail "Node does not exist: $R/x/y" create "$R/x/y"
check fail "Node already exists: $R/a" create "$R/a" again

# get / set / stat, with versions
check ok "^alpha\$" get "$R/a"
check ok "^dataLength = 5\$" get -s "$R/a"
check ok "" set "$R/a" beta
check ok "^beta\$" get "$R/a"
check fail "version No is not valid : $R/a" set -v 7 "$R/a" nope
check ok "" set -v 1 "$R/a" gamma
check ok "^dataVersion = 2\$" stat "$R/a"
check ok "^ephemeralOwner = 0x0\$" stat "$R/a"
check fail "Node does not exist: $R/nope" stat "$R/nope"
check fail "Node does not exist: $R/nope" get "$R/nope"

# ls in its three forms
check ok "^\[a, c, s-0000000001, t\]\$" ls "$R"
check ok "^numChildren = 4\$" ls -s "$R"
check ok "^cversion = 4\$" ls -s "$R"
check ok "^$R/s-0000000001\$" ls -R "$R"
check ok "^4\$" getAllChildrenNumber "$R"

# delete and deleteall
check ok "^Created $R/a/b\$" create "$R/a/b"
check fail "Node not empty: $R/a" delete "$R/a"
check fail "version No is not valid : $R/a/b" delete -v 5 "$R/a/b"
check ok "" delete -v 0 "$R/a/b"
check fail "Node does not exist: $R/a/b" stat "$R/a/b"
check ok "^Created $R/tree\$" create "$R/tree"
check ok "^Created $R/tree/x\$" create "$R/tree/x"
check ok "^Created $R/tree/x/y\$" create "$R/tree/x/y"
check ok "" deleteall "$R/tree"
check fail "Node does not exist: $R/tree" stat "$R/tree"
check fail "Node does not exist: $R/nope" deleteall "$R/nope"

# ACLs
check ok "^'world,'anyone\$" getAcl "$R/a"
check ok "^: cdrwa\$" getAcl "$R/a"
check ok "^Created $R/ro\$" create "$R/ro" readonly
check ok "" setAcl "$R/ro" world:anyone:r
check ok "^: r\$" getAcl "$R/ro"
check ok "^aclVersion = 1\$" stat "$R/ro"
check fail "Insufficient permission : $R/ro" set "$R/ro" changed
check ok "^readonly\$" get "$R/ro"
USER_ID=$(digest "interop:secret")
check ok "^Created $R/private\$" create "$R/private" hidden
check ok "" setAcl "$R/private" "digest:$USER_ID:cdrwa"
check fail "Insufficient permission : $R/private" get "$R/private"
check fail "Insufficient permission : $R/private" getAcl "$R/private"
check fail "Insufficient permission : $R/private" ls "$R/private"
# delete needs DELETE on the parent only; deleteall would need READ to list it
check ok "" delete "$R/private"

# watches, sync, ephemerals
check ok "" addWatch "$R"
check ok "" addWatch -m PERSISTENT_RECURSIVE "$R"
check ok "^Sync is OK\$" sync "$R"
check ok "^\[\]\$" getEphemerals "$R"
check ok "^Created $R/e\$" create -e "$R/e" ephemeral

# clean up: every node under the root is deletable through the root's open ACL
check ok "" deleteall "$R"
check fail "Node does not exist: $R" stat "$R"

echo "zkcli: $passed passed, $failed failed"
((failed == 0))
