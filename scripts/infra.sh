#!/usr/bin/env bash
# infra.sh - the cluster's servers, through the per-service scripts in
# scripts/infra/ (each: up|down|restart|kill|status DIR, data and logs
# under DIR/<svc>/, 127.0.0.1 only, env lines in DIR/<svc>/env).
#
#   scripts/infra.sh up DIR [SVC...]      # start (in parallel), print logs
#   scripts/infra.sh down DIR [SVC...]    # stop gracefully, keep the data
#   scripts/infra.sh status DIR [SVC...]  # exit 0 if all run
#   scripts/infra.sh env DIR [SVC...]     # the merged PARLEY_* lines
#
# SVC defaults to every service whose script exists, in the order
# postgres redis redis-cluster kafka nginx; nginx only once it has
# upstreams (DIR/nginx/upstreams or NGINX_GATEWAYS, see nginx.sh), since
# it fronts gateways that start after the rest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ORDER=(postgres redis redis-cluster kafka nginx)

usage() {
    sed -n '5,9p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

services() {
    local s
    if [ $# -gt 0 ]; then
        for s in "$@"; do
            [ -x "$here/infra/$s.sh" ] || { echo "infra: no service $s" >&2; exit 2; }
            echo "$s"
        done
        return 0
    fi
    for s in "${ORDER[@]}"; do
        [ -x "$here/infra/$s.sh" ] || continue
        if [ "$s" = nginx ] && [ ! -f "$dir/nginx/upstreams" ] &&
                [ -z "${NGINX_GATEWAYS:-}" ]; then
            continue
        fi
        echo "$s"
    done
}

mapfile -t svcs < <(services "$@")

logs() { # where each service's logs are
    local s f
    for s in "${svcs[@]}"; do
        for f in "$dir/$s"/*.log; do
            [ -f "$f" ] && echo "  $s: $f"
        done
    done
}

# Every service starts at once (Kafka's JVM takes seconds, the others
# milliseconds); each one's output is shown after, in order.
up() {
    local s pids=() failed=0 i
    for s in "${svcs[@]}"; do
        "$here/infra/$s.sh" up "$dir" > "$dir/.up-$s.out" 2>&1 &
        pids+=($!)
    done
    for i in "${!svcs[@]}"; do
        s=${svcs[$i]}
        if ! wait "${pids[$i]}"; then
            echo "infra: $s failed to start:" >&2
            failed=1
        fi
        cat "$dir/.up-$s.out" >&2
        rm -f "$dir/.up-$s.out"
    done
    [ "$failed" -eq 0 ] || exit 1
    echo "infra: up in $dir: ${svcs[*]}; logs:"
    logs
}

case "$cmd" in
up) up ;;
down)
    for ((i = ${#svcs[@]} - 1; i >= 0; i--)); do
        "$here/infra/${svcs[$i]}.sh" down "$dir"
    done
    ;;
status)
    rc=0
    for s in "${svcs[@]}"; do
        "$here/infra/$s.sh" status "$dir" || rc=1
    done
    exit $rc
    ;;
env)
    for s in "${svcs[@]}"; do
        [ -f "$dir/$s/env" ] && cat "$dir/$s/env"
    done
    ;;
*) usage ;;
esac
exit 0
