#!/usr/bin/env bash
# redis.sh up|down|restart|kill|status DIR - one Redis server for tests and
# local cluster mode, under DIR/redis/ (config, log, pid, port, env).
#   up       start (first time: pick a free port), wait for PING
#   down     stop (data is lost: persistence is off on purpose)
#   restart  down + up on the same port: a Redis restart IS a data loss
#   kill     SIGKILL (a crash)
#   status   print state and address; exit 0 if running, 3 if not
# After up, `. DIR/redis/env` sets PARLEY_REDIS_ADDRS for parleyd.
set -euo pipefail
PROG=redis.sh
. "$(dirname "$0")/redis-common.sh"

[ $# -eq 2 ] || die "usage: redis.sh up|down|restart|kill|status DIR"
cmd=$1
mkdir -p "$2"
svc="$(cd "$2" && pwd)/redis"
mkdir -p "$svc"
need_redis

port() {
    [ -s "$svc/port" ] || free_ports 1 >"$svc/port"
    cat "$svc/port"
}

up() {
    local p
    p=$(port)
    node_conf "$svc" "$p"
    node_start "$svc" "$p"
    write_env "$svc" "127.0.0.1:$p"
    echo "redis: up on 127.0.0.1:$p"
}

case "$cmd" in
up) up ;;
down) node_stop "$svc"; echo "redis: down" ;;
restart) node_stop "$svc"; up ;;
kill) node_stop "$svc" kill; echo "redis: killed" ;;
status)
    if [ -n "$(node_pid "$svc")" ]; then
        echo "redis: running on 127.0.0.1:$(cat "$svc/port")"
    else
        echo "redis: stopped"
        exit 3
    fi
    ;;
*) die "unknown command $cmd (up|down|restart|kill|status)" ;;
esac
