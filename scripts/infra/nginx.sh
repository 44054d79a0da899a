#!/usr/bin/env bash
# nginx.sh - nginx (Debian's package) as the L7 ingress in front of the
# gateways: HTTP/1.1 and WebSocket, for tests and `make cluster`.
#
#   scripts/infra/nginx.sh up|down|restart|reload|kill|status DIR
#
# Upstreams come from DIR/nginx/upstreams, one "ROLE HOST:PORT" a line:
#   gateway 127.0.0.1:9001     # /v1/ws, /v1/*, / (the browser client)
#   auth    127.0.0.1:9101     # /v1/auth/*  (default: the gateways)
# or, at `up`/`reload`, from NGINX_GATEWAYS / NGINX_AUTH (space-separated
# HOST:PORT lists), which rewrite that file. `reload` regenerates the
# config, sends SIGHUP and returns once new workers serve it (open
# connections finish on the old workers).
#
# Listens on 127.0.0.1:NGINX_PORT, or a free port chosen on the first `up`
# and kept in DIR/nginx/ports. DIR/nginx/ holds nginx.conf (generated from
# scripts/infra/nginx/nginx.conf.in), error.log, access.log, nginx.pid (the
# master's pid, written by this script; nginx's own is master.pid) and env
# (PARLEY_URL=http://127.0.0.1:PORT, what the parley CLI reads).
# NGINX_WORKERS (default 1), NGINX_WORKER_CONNECTIONS (default 8192) and
# NGINX_WS_TIMEOUT (default 120s) tune it.
set -euo pipefail
INFRA_SVC=nginx
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPLATE="$INFRA_ROOT/scripts/infra/nginx/nginx.conf.in"
PATTERN="nginx: master process"

nginx_bin() {
    local b
    for b in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    infra_die "nginx not found: scripts/deps.sh cluster"
}

# Rewrites DIR/nginx/upstreams from NGINX_GATEWAYS / NGINX_AUTH if given.
take_env_upstreams() {
    [ -n "${NGINX_GATEWAYS:-}${NGINX_AUTH:-}" ] || return 0
    local a
    {
        echo "# written by nginx.sh from NGINX_GATEWAYS / NGINX_AUTH"
        for a in ${NGINX_GATEWAYS:-}; do echo "gateway $a"; done
        for a in ${NGINX_AUTH:-}; do echo "auth $a"; done
    } > "$D/upstreams"
}

# The "server ..." lines of the upstream block for ROLE, from the file.
server_lines() {
    local role=$1 r addr re='^[][A-Za-z0-9.:-]+:[0-9]+$'
    while read -r r addr _; do
        [ "$r" = "$role" ] || continue
        [[ "$addr" =~ $re ]] ||
            infra_die "bad address '$addr' in $D/upstreams"
        echo "        server $addr max_fails=3 fail_timeout=10s;"
    done < <(sed 's/#.*//' "$D/upstreams")
}

write_config() {
    local port=$1 gw auth conf user="" wc
    [ -f "$D/upstreams" ] ||
        infra_die "no upstreams: write $D/upstreams or set NGINX_GATEWAYS"
    gw=$(server_lines gateway)
    [ -n "$gw" ] || infra_die "no gateway in $D/upstreams"
    auth=$(server_lines auth)
    [ -n "$auth" ] || auth=$gw
    # As root the workers drop to nobody: they need no file (logs are
    # opened by the master, request bodies stay in memory).
    [ "$(id -u)" -eq 0 ] && user="user nobody nogroup;"
    wc=${NGINX_WORKER_CONNECTIONS:-8192}
    conf=$(< "$TEMPLATE")
    conf=${conf//@USER@/$user}
    conf=${conf//@DIR@/$D}
    conf=${conf//@PORT@/$port}
    conf=${conf//@WORKERS@/${NGINX_WORKERS:-1}}
    conf=${conf//@WORKER_CONNECTIONS@/$wc}
    conf=${conf//@NOFILE@/$((2 * wc + 64))}
    conf=${conf//@WS_TIMEOUT@/${NGINX_WS_TIMEOUT:-120s}}
    conf=${conf//@GATEWAY_SERVERS@/$gw}
    conf=${conf//@AUTH_SERVERS@/$auth}
    mkdir -p "$D/tmp"
    echo "$conf" > "$D/nginx.conf.new"
    # -e: the error log before the config is read (default is /var/log).
    "$(nginx_bin)" -t -q -p "$D" -e "$D/error.log" -c "$D/nginx.conf.new" ||
        infra_die "generated config $D/nginx.conf.new is invalid"
    mv "$D/nginx.conf.new" "$D/nginx.conf"
}

listen_port() {
    if [ -n "${NGINX_PORT:-}" ]; then
        sed -i '/^PORT=/d' "$D/ports" 2>/dev/null || true
        echo "PORT=$NGINX_PORT" >> "$D/ports"
    fi
    infra_port "$D/ports" PORT
}

do_up() {
    mkdir -p "$D"
    take_env_upstreams
    local port
    port=$(listen_port)
    if ! infra_alive "$D/nginx.pid" "$PATTERN"; then
        write_config "$port"
        setsid "$(nginx_bin)" -p "$D" -e "$D/error.log" -c "$D/nginx.conf" \
            >> "$D/stdout.log" 2>&1 < /dev/null &
        echo $! > "$D/nginx.pid"
        if ! infra_wait_port "$port" 20 "$D/nginx.pid"; then
            infra_tail "$D/error.log" "$D/stdout.log"
            infra_die "nginx did not open 127.0.0.1:$port (logs above)"
        fi
        # The port listens before the master can take a reload: see
        # wait_master_loop.
        wait_master_loop 20 || {
            infra_tail "$D/error.log" "$D/stdout.log"
            infra_die "nginx started no worker within 20 s (logs above)"
        }
    fi
    echo "PARLEY_URL=http://127.0.0.1:$port" > "$D/env"
}

# wait_master_loop TIMEOUT_S: waits until the master has a worker. nginx
# opens its port, then installs its signal handlers, and only then blocks
# the signals it waits for in its loop and forks the workers. A SIGHUP in
# between is caught but not acted upon until some other signal arrives: the
# reload is lost (seen in CI: a `reload` right after `up` left the old
# upstreams serving). A worker exists only once the master is in its loop.
wait_master_loop() {
    local master i
    master=$(cat "$D/nginx.pid")
    for ((i = 0; i < $1 * 10; i++)); do
        [ -n "$(infra_children "$master")" ] && return 0
        kill -0 "$master" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# old_workers_done OLD...: 0 when each of the workers OLD has exited or
# taken the shutdown (its title says so; it closes its listening sockets
# right after setting it, so it accepts no new connection).
old_workers_done() {
    local w title
    for w in "$@"; do
        title=$(tr '\0' ' ' 2>/dev/null < "/proc/$w/cmdline") || continue
        case "$title" in
        "nginx: worker process is shutting down"*) ;;
        "nginx: worker process"*) return 1 ;;
        esac
    done
    return 0
}

# A reload is done once the master runs a worker that was not there before
# SIGHUP and every old worker stopped accepting: from then on every new
# connection gets the new configuration. A configuration nginx refuses
# (`[emerg]` in error.log after the SIGHUP) fails at once; no new worker
# within RELOAD_TIMEOUT_S fails too, with error.log's tail.
do_reload() {
    local master old w new off i emerg=-1 log=$D/error.log
    infra_alive "$D/nginx.pid" "$PATTERN" || infra_die "not running in $D"
    cp "$D/upstreams" "$D/upstreams.prev"
    cp "$D/nginx.conf" "$D/nginx.conf.prev"
    take_env_upstreams
    write_config "$(sed -n 's/^PORT=//p' "$D/ports")"
    master=$(cat "$D/nginx.pid")
    wait_master_loop 20 || infra_die "master $master has no worker"
    old=$(infra_children "$master")
    off=$(stat -c %s "$log" 2>/dev/null || echo 0)
    kill -HUP "$master"
    for ((i = 0; i < ${RELOAD_TIMEOUT_S:-15} * 10; i++)); do
        # nginx retries a busy port for 2.5 s after its [emerg]: 3 s grace
        if [ "$emerg" -lt 0 ] && tail -c +"$((off + 1))" "$log" 2>/dev/null |
                grep -q '\[emerg\]'; then
            emerg=$i
        fi
        if [ "$emerg" -ge 0 ] && [ $((i - emerg)) -ge 30 ]; then
            tail -c +"$((off + 1))" "$log" >&2
            # keep what runs as what a restart would start
            mv "$D/nginx.conf" "$D/nginx.conf.rejected"
            mv "$D/nginx.conf.prev" "$D/nginx.conf"
            mv "$D/upstreams.prev" "$D/upstreams"
            infra_die "reload refused (error.log above); the old config" \
                "still serves, the new one is in $D/nginx.conf.rejected"
        fi
        new=""
        for w in $(infra_children "$master"); do
            grep -qxF "$w" <<< "$old" || new=$w
        done
        # shellcheck disable=SC2086 # one pid a word
        if [ -n "$new" ] && old_workers_done $old; then
            return 0
        fi
        kill -0 "$master" 2>/dev/null || break
        sleep 0.1
    done
    infra_tail "$log" "$D/stdout.log"
    infra_die "reload: no new worker serving within ${RELOAD_TIMEOUT_S:-15} s"
}

do_status() {
    if infra_alive "$D/nginx.pid" "$PATTERN"; then
        echo "nginx: running (pid $(cat "$D/nginx.pid"), $(cat "$D/env" 2>/dev/null))"
        return 0
    fi
    echo "nginx: stopped"
    return 1
}

[ $# -eq 2 ] || infra_usage "reload DIR"
D="$(mkdir -p "$2" && cd "$2" && pwd)/nginx"
case "$1" in
up) do_up ;;
# SIGQUIT: graceful, lets open requests finish (WebSockets are cut at the
# 10 s timeout); SIGTERM would drop them at once.
down) infra_stop "$D/nginx.pid" "$PATTERN" QUIT 10 ;;
kill) infra_stop "$D/nginx.pid" "$PATTERN" KILL 10 ;;
restart)
    infra_stop "$D/nginx.pid" "$PATTERN" QUIT 10
    do_up
    ;;
reload) do_reload ;;
status) do_status ;;
*) infra_usage "reload DIR" ;;
esac
