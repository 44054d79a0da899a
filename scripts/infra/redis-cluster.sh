#!/usr/bin/env bash
# redis-cluster.sh up|down|restart|kill|status DIR - a 3-master Redis
# Cluster (no replicas: the tests need routing, not failover) under
# DIR/redis-cluster/n1..n3 (config, nodes.conf, log, pid each).
#   up       start the nodes (first time: pick free ports and create the
#            cluster with redis-cli --cluster create), wait for
#            cluster_state:ok on every node
#   down     stop every node (data is lost, slot layout kept in nodes.conf)
#   restart  down + up on the same ports
#   kill     SIGKILL every node
#   status   print the state of each node; exit 0 if all run, 3 if not
# After up, `. DIR/redis-cluster/env` sets PARLEY_REDIS_ADDRS.
set -euo pipefail
PROG=redis-cluster.sh
. "$(dirname "$0")/redis-common.sh"
N=3

[ $# -eq 2 ] || die "usage: redis-cluster.sh up|down|restart|kill|status DIR"
cmd=$1
mkdir -p "$2"
svc="$(cd "$2" && pwd)/redis-cluster"
mkdir -p "$svc"
need_redis

# ports: N client ports then N cluster-bus ports (cluster-port, so the
# bus port is free too, not just client port + 10000)
ports() {
    [ -s "$svc/ports" ] || free_ports $((2 * N)) >"$svc/ports"
    mapfile -t PORTS <"$svc/ports"
}

addrs() {
    local out="" i
    for i in $(seq 0 $((N - 1))); do
        out="$out${out:+,}127.0.0.1:${PORTS[$i]}"
    done
    echo "$out"
}

cli() { redis-cli -h 127.0.0.1 -p "$@"; }

# Ready: every node says cluster_state:ok and flags no node as failing
# (after a restart the nodes may say ok, then mark a peer that was down
# too long as failing and go down again until gossip clears it).
wait_ok() {
    local i ok
    for _ in $(seq 1 150); do
        ok=1
        for i in $(seq 0 $((N - 1))); do
            cli "${PORTS[$i]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
            cli "${PORTS[$i]}" cluster nodes 2>/dev/null | grep -q 'fail' && ok=0
        done
        [ $ok = 1 ] && return 0
        sleep 0.2
    done
    return 1
}

create() {
    local hosts="" i
    for i in $(seq 0 $((N - 1))); do hosts="$hosts 127.0.0.1:${PORTS[$i]}"; done
    # shellcheck disable=SC2086
    if ! redis-cli --cluster create $hosts --cluster-replicas 0 --cluster-yes \
            >"$svc/create.log" 2>&1; then
        # a half-made cluster from an interrupted first up: reset and retry
        for i in $(seq 0 $((N - 1))); do
            cli "${PORTS[$i]}" flushall >/dev/null 2>&1 || true
            cli "${PORTS[$i]}" cluster reset hard >/dev/null
        done
        # shellcheck disable=SC2086
        redis-cli --cluster create $hosts --cluster-replicas 0 --cluster-yes \
            >"$svc/create.log" 2>&1 || die "cluster create failed ($svc/create.log)"
    fi
    touch "$svc/created"
}

up() {
    local i
    ports
    for i in $(seq 0 $((N - 1))); do
        node_conf "$svc/n$((i + 1))" "${PORTS[$i]}" "${PORTS[$((i + N))]}"
        node_start "$svc/n$((i + 1))" "${PORTS[$i]}"
    done
    [ -e "$svc/created" ] || create
    wait_ok || die "cluster not ok after 30 s (logs in $svc/n*/redis.log)"
    write_env "$svc" "$(addrs)"
    echo "redis-cluster: up on $(addrs)"
}

stop_all() { # [kill]
    local i
    for i in $(seq 1 $N); do node_signal "$svc/n$i" "${1:-}"; done
    for i in $(seq 1 $N); do node_wait "$svc/n$i"; done
}

case "$cmd" in
up) up ;;
down) stop_all; echo "redis-cluster: down" ;;
restart) stop_all; up ;;
kill) stop_all kill; echo "redis-cluster: killed" ;;
status)
    ports
    rc=0
    for i in $(seq 1 $N); do
        if [ -n "$(node_pid "$svc/n$i")" ]; then
            state=$(cli "${PORTS[$((i - 1))]}" cluster info 2>/dev/null |
                    sed -n 's/^cluster_state:\(.*\)\r*$/\1/p' | tr -d '\r')
            echo "redis-cluster n$i: running on 127.0.0.1:${PORTS[$((i - 1))]} (cluster_state:${state:-?})"
        else
            echo "redis-cluster n$i: stopped"
            rc=3
        fi
    done
    exit $rc
    ;;
*) die "unknown command $cmd (up|down|restart|kill|status)" ;;
esac
