#!/usr/bin/env bash
# cluster.sh - `make cluster` / `make cluster-down`: the cluster's servers
# (scripts/infra.sh), the parleyd instances, and nginx in front of them on
# http://127.0.0.1:${CLUSTER_PORT:-8080}. Idempotent; data and logs under
# DIR (${CLUSTER_DIR:-./cluster-data}).
#
#   scripts/cluster.sh up|down|status [DIR]
#
# Each parleyd instance NAME lives in DIR/parleyd-NAME/ (data/, parleyd.log,
# parleyd.pid, ports: its listen port, chosen free once and kept, so that
# nginx's upstream list stays valid across restarts). Instances get the
# merged env of the servers (`scripts/infra.sh env DIR`).
set -euo pipefail
cd "$(dirname "$0")/.."
INFRA_SVC=cluster
# shellcheck source=infra/lib.sh
. scripts/infra/lib.sh

BUILD=${BUILD:-build}
PORT=${CLUSTER_PORT:-8080}
cmd=${1:-}
dir=${2:-${CLUSTER_DIR:-./cluster-data}}
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# instance_up NAME ARGS...: starts build/parleyd as instance NAME unless it
# runs; prints its address once it logged "listening".
instance_up() {
    local name=$1 d="$dir/parleyd-$1" port i
    shift
    mkdir -p "$d/data"
    port=$(infra_port "$d/ports" PORT)
    if ! infra_alive "$d/parleyd.pid" parleyd; then
        # shellcheck disable=SC2046 # one VAR=value word per env line
        setsid env $(scripts/infra.sh env "$dir") "$BUILD/parleyd" \
            --listen "127.0.0.1:$port" --data-dir "$d/data" "$@" \
            >> "$d/parleyd.log" 2>&1 < /dev/null &
        echo $! > "$d/parleyd.pid"
        infra_wait_port "$port" 30 "$d/parleyd.pid" ||
            { infra_tail "$d/parleyd.log"; infra_die "parleyd $name did not start"; }
    fi
    echo "127.0.0.1:$port"
}

instances_down() {
    local d
    for d in "$dir"/parleyd-*/; do
        [ -f "$d/parleyd.pid" ] || continue
        # SIGTERM: parleyd drains (close 1001 to WebSockets) and exits 0
        infra_stop "$d/parleyd.pid" parleyd TERM 15
    done
}

up() {
    [ -x "$BUILD/parleyd" ] || infra_die "$BUILD/parleyd missing: make build"
    scripts/infra.sh up "$dir"
    # TODO(lead, issue 5): the role split. Once parleyd accepts --roles
    # other than "all", replace the single instance below with
    #   2 x --roles gateway, 2 x messaging, 2 x fanout, 1 x presence,
    #   1 x auth  (bus=kafka store=postgres presence=redis from the env),
    # and give nginx the gateways as NGINX_GATEWAYS and the auth instance
    # as NGINX_AUTH. Until then one single-node parleyd (SQLite, every
    # role) stands behind nginx so that the ingress path works end to end.
    local all
    all=$(instance_up all --roles all)
    NGINX_PORT=$PORT NGINX_GATEWAYS="$all" NGINX_AUTH="$all" \
        NGINX_WORKERS="${NGINX_WORKERS:-auto}" scripts/infra/nginx.sh up "$dir"
    echo ""
    echo "Parley cluster: http://127.0.0.1:$PORT (nginx) -> parleyd $all"
    echo "env (scripts/infra.sh env $dir):"
    scripts/infra.sh env "$dir" | sed 's/^/  /'
    echo "logs:"
    for f in "$dir"/*/*.log; do echo "  $f"; done
    echo "stop with: make cluster-down"
}

case "$cmd" in
up) up ;;
down)
    scripts/infra/nginx.sh down "$dir"
    instances_down
    scripts/infra.sh down "$dir"
    ;;
status)
    rc=0
    scripts/infra.sh status "$dir" || rc=1
    for d in "$dir"/parleyd-*/; do
        [ -d "$d" ] || continue
        if infra_alive "$d/parleyd.pid" parleyd; then
            echo "parleyd $(basename "$d"): running (pid $(cat "$d/parleyd.pid"))"
        else
            echo "parleyd $(basename "$d"): stopped"
            rc=1
        fi
    done
    exit $rc
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
