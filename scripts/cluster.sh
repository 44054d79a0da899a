#!/usr/bin/env bash
# cluster.sh - `make cluster` / `make cluster-down`: the cluster's servers
# (scripts/infra.sh), the parleyd role processes, and nginx in front of
# them on http://127.0.0.1:${CLUSTER_PORT:-8080}. Idempotent; data and logs
# under DIR (${CLUSTER_DIR:-build/cluster}).
#
#   scripts/cluster.sh up|down|status [DIR]
#   scripts/cluster.sh start|stop|kill|restart DIR NAME   # one instance
#   scripts/cluster.sh topology                           # what `up` runs
#
# CLUSTER_TOPOLOGY picks the process table below: `cluster` (2 gateways,
# 2 messaging, 2 fanout, 1 presence, 1 auth on Kafka, PostgreSQL and a
# Redis Cluster), `single` (one all-roles parleyd on PostgreSQL and the
# Redis Cluster), or `auto` (default): cluster if this parleyd accepts
# the role split, else single. CLUSTER_PORT=0 picks a free port for nginx
# (kept in DIR/nginx/ports). PARLEYD_ARGS: extra flags for every parleyd.
#
# Each instance NAME lives in DIR/parleyd-NAME/: data/, parleyd.log,
# parleyd.pid, cmdline (its argv, one word a line: start and restart
# reuse it) and ports (its listen port, chosen free once and kept, so
# nginx's upstreams stay valid across restarts). DIR/instances lists
# "NAME ROLES HOST:PORT LOG" for tests and people; DIR/topology is the
# table in use.
set -euo pipefail
cd "$(dirname "$0")/.."
INFRA_SVC=cluster
# shellcheck source=infra/lib.sh
. scripts/infra/lib.sh

BUILD=$(cd "${BUILD:-build}" 2> /dev/null && pwd) || BUILD=${BUILD:-build}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-60}

# --- the process tables: NAME ROLES CONFIG NGINX-UPSTREAMS ------------------
# CONFIG is read with --config (flags below override its addresses);
# NGINX-UPSTREAMS: the nginx upstream groups the instance serves.
TOPOLOGY_cluster='
auth  auth       deploy/cluster-auth.conf       auth
gw1   gateway    deploy/cluster-gateway.conf    gateway
gw2   gateway    deploy/cluster-gateway.conf    gateway
msg1  messaging  deploy/cluster-messaging.conf  -
msg2  messaging  deploy/cluster-messaging.conf  -
fan1  fanout     deploy/cluster-fanout.conf     -
fan2  fanout     deploy/cluster-fanout.conf     -
pres  presence   deploy/cluster-presence.conf   -
'
TOPOLOGY_single='
all   all        -                              gateway,auth
'
# the servers each topology needs (scripts/infra/<svc>.sh)
INFRA_cluster="postgres redis-cluster kafka"
INFRA_single="postgres redis-cluster"
# -----------------------------------------------------------------------------

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# roles_supported: 0 if parleyd takes a single role and the cluster flags.
# A parleyd that does not exits 2 (usage) at once; one that does gets past
# the options and fails on the unreachable PostgreSQL (or is still trying).
roles_supported() {
    local probe rc=0
    probe=$(mktemp -d)
    timeout 10 "$BUILD/parleyd" --roles gateway --listen 127.0.0.1:0 \
        --data-dir "$probe" --store postgres \
        --pg-dsn "host=127.0.0.1 port=1 dbname=x" \
        --pg-connect-timeout-ms 100 --presence redis \
        --redis-addrs 127.0.0.1:1 --bus kafka --kafka-brokers 127.0.0.1:1 \
        --jwt-keys-file "$probe/jwt-keys" > "$probe/out" 2>&1 < /dev/null ||
        rc=$?
    PROBE_MSG=$(grep -v '^{' "$probe/out" | head -n 1 || true)
    rm -rf "$probe"
    [ "$rc" -ne 2 ]
}

pick_topology() {
    local t=${CLUSTER_TOPOLOGY:-auto}
    if [ "$t" = auto ]; then
        if roles_supported; then
            t=cluster
        else
            echo "cluster: parleyd refuses the role split ($PROBE_MSG):" \
                 "one all-roles parleyd (CLUSTER_TOPOLOGY=single)" >&2
            t=single
        fi
    fi
    case "$t" in
    cluster | single) echo "$t" ;;
    *) infra_die "CLUSTER_TOPOLOGY=$t: auto, cluster or single" ;;
    esac
}

table() { # the process table of the topology in use
    local var="TOPOLOGY_$topo"
    sed '/^\s*$/d' <<< "${!var}"
}

# env_of SVC: value of its PARLEY_* env line NAME (from DIR/SVC/env)
env_of() {
    sed -n "s/^$2=//p" "$dir/$1/env" 2>/dev/null | tail -n 1
}

# write_cmdline NAME ROLES CONFIG: the instance's argv, one word a line.
write_cmdline() {
    local name=$1 roles=$2 config=$3 d="$dir/parleyd-$1" port
    mkdir -p "$d/data"
    port=$(infra_port "$d/ports" PORT)
    {
        echo "$BUILD/parleyd"
        [ "$config" = - ] || printf '%s\n' --config "$PWD/$config"
        printf '%s\n' --roles "$roles" --listen "127.0.0.1:$port" \
            --data-dir "$d/data" \
            --store postgres --pg-dsn "$(env_of postgres PARLEY_PG_DSN)" \
            --presence redis \
            --redis-addrs "$(env_of redis-cluster PARLEY_REDIS_ADDRS)"
        if [ "$topo" = cluster ]; then
            printf '%s\n' --bus kafka \
                --kafka-brokers "$(env_of kafka PARLEY_KAFKA_BROKERS)" \
                --jwt-keys-file "$dir/jwt-keys"
            case ",$roles," in
            *,gateway,*) printf '%s\n' --gateway-id "$name" ;;
            esac
        fi
        # shellcheck disable=SC2086 # one flag or value a word
        [ -z "${PARLEYD_ARGS:-}" ] || printf '%s\n' $PARLEYD_ARGS
    } > "$d/cmdline"
}

# spawn NAME: starts the instance from its cmdline unless it runs, without
# PARLEY_* from the caller's environment (they would override its flags).
spawn() {
    local d="$dir/parleyd-$1" unset=() v argv
    infra_alive "$d/parleyd.pid" parleyd && return 0
    mapfile -t argv < "$d/cmdline"
    for v in $(compgen -e); do
        case "$v" in PARLEY_*) unset+=(-u "$v") ;; esac
    done
    echo "--- $(date -u +%FT%TZ) cluster.sh start" >> "$d/parleyd.log"
    setsid env "${unset[@]}" "${argv[@]}" >> "$d/parleyd.log" 2>&1 \
        < /dev/null &
    echo $! > "$d/parleyd.pid"
}

# http_status PORT PATH: the status code of GET PATH (empty if none).
http_status() {
    (
        exec 3<> "/dev/tcp/127.0.0.1/$1" || exit 0
        printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' \
            "$2" >&3
        read -r -t 5 _ code _ <&3 && echo "$code"
    ) 2> /dev/null || true
}

# wait_ready NAME: until GET /readyz answers 200; fails with the log's
# tail if the process exits or READY_TIMEOUT_S passes.
wait_ready() {
    local d="$dir/parleyd-$1" port pid i
    port=$(sed -n 's/^PORT=//p' "$d/ports")
    pid=$(cat "$d/parleyd.pid")
    for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
        [ "$(http_status "$port" /readyz)" = 200 ] && return 0
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    infra_tail "$d/parleyd.log"
    if kill -0 "$pid" 2> /dev/null; then
        infra_die "parleyd $1 not ready within ${READY_TIMEOUT_S}s (log above)"
    fi
    infra_die "parleyd $1 exited at start (log above: $d/parleyd.log)"
}

instance_stop() { # NAME SIGNAL
    # SIGTERM: parleyd drains (close 1001 to WebSockets) and exits 0
    infra_stop "$dir/parleyd-$1/parleyd.pid" parleyd "$2" 15
}

write_instances() {
    local name roles _c _n port
    while read -r name roles _c _n; do
        port=$(sed -n 's/^PORT=//p' "$dir/parleyd-$name/ports")
        echo "$name $roles 127.0.0.1:$port $dir/parleyd-$name/parleyd.log"
    done < <(table) > "$dir/instances.tmp"
    mv "$dir/instances.tmp" "$dir/instances"
}

# upstreams GROUP: the addresses of the instances serving that nginx group
upstreams() {
    local name _r _c groups out=""
    while read -r name _r _c groups; do
        case ",$groups," in
        *,"$1",*) out="$out${out:+ }127.0.0.1:$(sed -n 's/^PORT=//p' \
            "$dir/parleyd-$name/ports")" ;;
        esac
    done < <(table)
    echo "$out"
}

nginx_up() {
    local gw auth want
    gw=$(upstreams gateway)
    auth=$(upstreams auth)
    export NGINX_GATEWAYS=$gw NGINX_AUTH=$auth
    export NGINX_WORKERS=${NGINX_WORKERS:-auto}
    if [ "${CLUSTER_PORT:-8080}" != 0 ]; then
        export NGINX_PORT=${CLUSTER_PORT:-8080}
    fi
    if scripts/infra/nginx.sh status "$dir" > /dev/null; then
        want=$(for a in $gw; do echo "gateway $a"; done
               for a in $auth; do echo "auth $a"; done)
        if [ "$want" != "$(grep -v '^#' "$dir/nginx/upstreams")" ]; then
            scripts/infra/nginx.sh reload "$dir"
        fi
    else
        scripts/infra/nginx.sh up "$dir"
    fi
}

up() {
    local name roles config _n infra_var
    [ -x "$BUILD/parleyd" ] || infra_die "$BUILD/parleyd missing: make build"
    topo=$(pick_topology)
    infra_var="INFRA_$topo"
    # shellcheck disable=SC2086 # one service a word
    scripts/infra.sh up "$dir" ${!infra_var}
    echo "$topo" > "$dir/topology"
    while read -r name roles config _n; do
        write_cmdline "$name" "$roles" "$config"
        spawn "$name"
    done < <(table)
    while read -r name _r _c _n; do
        wait_ready "$name"
    done < <(table)
    write_instances
    nginx_up
    report
}

report() {
    local name roles addr log
    echo ""
    echo "Parley ($topo topology): $(sed -n 's/^PARLEY_URL=//p' \
        "$dir/nginx/env") (nginx)"
    while read -r name roles addr log; do
        printf '  %-5s %-10s %-16s pid %-7s %s\n' "$name" "$roles" "$addr" \
            "$(cat "$dir/parleyd-$name/parleyd.pid")" "$log"
    done < "$dir/instances"
    printf '  %-5s %-10s %-16s pid %-7s %s\n' nginx "" \
        "$(sed -n 's/^PARLEY_URL=http:\/\///p' "$dir/nginx/env")" \
        "$(cat "$dir/nginx/nginx.pid")" "$dir/nginx/error.log, access.log"
    echo "servers' env (scripts/infra.sh env $dir):"
    load_infra_env | sed 's/^/  /'
    echo "servers' logs:"
    local f
    for f in "$dir"/{postgres,redis-cluster,kafka}/*.log \
            "$dir"/redis-cluster/*/*.log; do
        [ -f "$f" ] && echo "  $f"
    done
    echo "stop with: make cluster-down (CLUSTER_DIR=$dir)"
}

load_infra_env() {
    local infra_var="INFRA_$topo"
    # shellcheck disable=SC2086 # one service a word
    scripts/infra.sh env "$dir" ${!infra_var}
}

known_topology() {
    topo=$(cat "$dir/topology" 2> /dev/null) ||
        infra_die "no cluster in $dir (scripts/cluster.sh up first)"
}

down() {
    local d infra_var
    scripts/infra/nginx.sh down "$dir"
    for d in "$dir"/parleyd-*/; do
        [ -f "$d/parleyd.pid" ] || continue
        infra_stop "$d/parleyd.pid" parleyd TERM 15
    done
    topo=$(cat "$dir/topology" 2> /dev/null || echo cluster)
    infra_var="INFRA_$topo"
    # shellcheck disable=SC2086 # one service a word
    scripts/infra.sh down "$dir" ${!infra_var}
}

status() {
    local rc=0 d infra_var
    topo=$(cat "$dir/topology" 2> /dev/null || echo cluster)
    infra_var="INFRA_$topo"
    # shellcheck disable=SC2086 # one service a word
    scripts/infra.sh status "$dir" ${!infra_var} nginx || rc=1
    for d in "$dir"/parleyd-*/; do
        [ -d "$d" ] || continue
        if infra_alive "$d/parleyd.pid" parleyd; then
            echo "parleyd $(basename "$d"): running (pid $(cat "$d/parleyd.pid"))"
        else
            echo "parleyd $(basename "$d"): stopped"
            rc=1
        fi
    done
    return $rc
}

# one NAME: the instance must be in the table of the topology in use.
one() {
    known_topology
    [ -f "$dir/parleyd-$2/cmdline" ] ||
        infra_die "no instance $2 in $dir ($(table | awk '{print $1}' | xargs))"
    case "$1" in
    start) spawn "$2" && wait_ready "$2" ;;
    stop) instance_stop "$2" TERM ;;
    kill) instance_stop "$2" KILL ;;
    restart)
        instance_stop "$2" TERM
        spawn "$2" && wait_ready "$2"
        ;;
    esac
}

cmd=${1:-}
topo=""
case "$cmd" in
up | down | status)
    [ $# -le 2 ] || usage
    dir=${2:-${CLUSTER_DIR:-build/cluster}}
    ;;
start | stop | kill | restart)
    [ $# -eq 3 ] || usage
    dir=$2
    ;;
topology)
    pick_topology
    exit 0
    ;;
*) usage ;;
esac
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
case "$cmd" in
up) up ;;
down) down ;;
status) status ;;
*) one "$cmd" "$3" ;;
esac
