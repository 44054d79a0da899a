# redis-common.sh - helpers sourced by redis.sh and redis-cluster.sh.
# Every server: 127.0.0.1 only, no persistence (appendonly no, save ""),
# so a restart loses the data: that is what the rebuild tests need.
# Ports are picked once (free ports from the kernel) and kept in
# DIR/ports, so restart and up-after-down keep the same addresses.

die() { echo "$PROG: $*" >&2; exit 1; }

need_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        die "redis-server/redis-cli missing (run scripts/deps.sh cluster)"
}

# free_ports N: N distinct free TCP ports on 127.0.0.1, one per line. The
# sockets are held until all are chosen, so the N ports differ.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# node_conf DIR PORT [CLUSTER_PORT]: writes DIR/redis.conf.
node_conf() {
    local dir=$1 port=$2 cport=${3:-}
    mkdir -p "$dir"
    {
        echo "bind 127.0.0.1"
        echo "port $port"
        echo "protected-mode yes"
        echo "daemonize yes"
        echo "dir $dir"
        echo "pidfile $dir/redis.pid"
        echo "logfile $dir/redis.log"
        echo "save \"\""
        echo "appendonly no"
        echo "databases 1"
        if [ -n "$cport" ]; then
            echo "cluster-enabled yes"
            echo "cluster-config-file nodes.conf"
            echo "cluster-node-timeout 2000"
            echo "cluster-port $cport"
        fi
    } >"$dir/redis.conf"
}

node_pid() { # DIR: the pid if that server runs, else nothing
    local pid
    pid=$(cat "$1/redis.pid" 2>/dev/null) || return 0
    if kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
        echo "$pid"
    fi
}

node_start() { # DIR PORT
    [ -n "$(node_pid "$1")" ] && return 0
    redis-server "$1/redis.conf" || die "redis-server failed to start ($1/redis.log)"
    wait_ping "$2" || die "redis on port $2 did not answer PING (see $1/redis.log)"
}

wait_ping() { # PORT
    for _ in $(seq 1 100); do
        [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    return 1
}

# node_signal DIR [kill]: SIGTERM (Redis shuts down without saving, as
# configured) or SIGKILL; node_wait DIR then waits for the exit. Split so
# that a cluster signals all its nodes first and waits once.
node_signal() {
    local pid
    pid=$(node_pid "$1")
    [ -z "$pid" ] && return 0
    echo "$pid" >"$1/stopping.pid"
    if [ "${2:-}" = kill ]; then kill -KILL "$pid"; else kill -TERM "$pid"; fi
}

node_wait() {
    local pid
    pid=$(cat "$1/stopping.pid" 2>/dev/null) || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$1/redis.pid" "$1/stopping.pid"
}

node_stop() { node_signal "$@"; node_wait "$1"; }

write_env() { # SVCDIR ADDRS
    printf 'PARLEY_REDIS_ADDRS=%s\n' "$2" >"$1/env.tmp"
    mv "$1/env.tmp" "$1/env"
}
