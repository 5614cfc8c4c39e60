#!/usr/bin/env bash
# Stands in for the watchkeeper binary (WK_BIN) under ensemble-member.sh, which writes a
# member's zoo.cfg afresh at every start: appends the lines of WK_EXTRA_CFG (separated by
# spaces or newlines) to the file named by `--config`, then execs WK_REAL_BIN with the same
# arguments, so the pid ensemble-member.sh records is the server's own.
set -euo pipefail

[[ -n ${WK_REAL_BIN:-} && -x $WK_REAL_BIN ]] || {
    echo "wk-extra-cfg.sh: WK_REAL_BIN is not an executable: '${WK_REAL_BIN:-}'" >&2
    exit 1
}
cfg=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
    --config | -c) cfg=${args[i + 1]:-} ;;
    --config=*) cfg=${args[i]#--config=} ;;
    esac
done
if [[ -n ${WK_EXTRA_CFG:-} ]]; then
    [[ -n $cfg && -f $cfg ]] || {
        echo "wk-extra-cfg.sh: no --config file to add WK_EXTRA_CFG to" >&2
        exit 1
    }
    for line in $WK_EXTRA_CFG; do
        [[ $line == *=* ]] || {
            echo "wk-extra-cfg.sh: '$line' in WK_EXTRA_CFG is not key=value" >&2
            exit 1
        }
        echo "$line" >>"$cfg"
    done
fi
exec "$WK_REAL_BIN" "$@"
