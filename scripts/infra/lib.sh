# lib.sh - helpers shared by scripts/infra/<svc>.sh (sourced, not run).
#
# The common interface of every service script:
#   scripts/infra/<svc>.sh up|down|restart|kill|status DIR
# data and logs under DIR/<svc>/, 127.0.0.1 only, ports chosen free on the
# first `up` and kept in DIR/<svc>/ports for every later start, `up` waits
# until ready and writes DIR/<svc>/env (PARLEY_<OPTION>=value lines).

INFRA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

infra_die() {
    echo "$INFRA_SVC: $*" >&2
    exit 1
}

# Prints a TCP port that is free on 127.0.0.1 now (the kernel's choice for
# port 0). Another process may take it before we bind it: callers bind it
# within seconds, and a clash fails loudly at start rather than silently.
infra_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# infra_port FILE NAME: the port recorded as NAME=port in FILE, picking and
# recording a free one the first time. Restarts thus keep their addresses.
infra_port() {
    local file=$1 name=$2 port
    port=$(sed -n "s/^$name=//p" "$file" 2>/dev/null | head -n1)
    while [ -z "$port" ]; do
        port=$(infra_free_port)
        # two picks in a row can coincide: keep this file's ports distinct
        if grep -q "=$port\$" "$file" 2>/dev/null; then
            port=""
        fi
    done
    grep -q "^$name=" "$file" 2>/dev/null || echo "$name=$port" >> "$file"
    echo "$port"
}

# infra_alive PIDFILE PATTERN: 0 if the pid in PIDFILE runs and its command
# line contains PATTERN (a recycled pid is not taken for our server).
infra_alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# infra_pgid PID: its process group, from /proc (no procps needed). The
# fields after the command name, which is in parentheses and may hold
# spaces, are: state, ppid, pgrp.
infra_pgid() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    # shellcheck disable=SC2086 # split into fields
    set -- $stat
    echo "$3"
}

# infra_children PID: the pids of PID's child processes, one a line (from
# /proc/*/stat, read with builtins: no procps, no fork per process).
infra_children() {
    local parent=$1 f stat pid
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null < "$f" || continue
        pid=${stat%% *}
        stat=${stat##*) }
        # shellcheck disable=SC2086 # split into fields: state, ppid, ...
        set -- $stat
        [ "${2:-}" = "$parent" ] && echo "$pid"
    done
    return 0
}

# infra_stop PIDFILE PATTERN SIGNAL TIMEOUT_S: sends SIGNAL and waits for
# the process to exit; after TIMEOUT_S escalates to SIGKILL. Servers are
# started with setsid, so the signal goes to the whole process group: a
# SIGKILLed nginx master must not leave its workers serving. Removes the
# pid file. No-op when not running.
infra_stop() {
    local pidfile=$1 pattern=$2 sig=$3 timeout=$4 pid target i
    if ! infra_alive "$pidfile" "$pattern"; then
        rm -f "$pidfile"
        return 0
    fi
    pid=$(cat "$pidfile")
    target=$pid
    if [ "$(infra_pgid "$pid")" = "$pid" ]; then
        target=-$pid
    fi
    kill "-$sig" -- "$target" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 -- "$target" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 -- "$target" 2>/dev/null; then
        echo "$INFRA_SVC: pid $pid still running after ${timeout}s, SIGKILL" >&2
        kill -KILL -- "$target" 2>/dev/null || true
        while kill -0 -- "$target" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$pidfile"
}

# infra_wait_port PORT TIMEOUT_S PIDFILE: waits until 127.0.0.1:PORT
# accepts a connection; fails early if the process in PIDFILE died. (Only
# kill -0 here: just after the fork its command line is not yet the
# server's.)
infra_wait_port() {
    local port=$1 timeout=$2 pid i
    pid=$(cat "$3")
    for ((i = 0; i < timeout * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# infra_tail FILE...: the end of each log that exists, on stderr (for the
# error message of a failed start).
infra_tail() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "--- last lines of $f" >&2
        tail -n 30 "$f" >&2
    done
}

# infra_usage: the common usage line plus any extra lines given.
infra_usage() {
    echo "usage: $0 up|down|restart|kill|status DIR" >&2
    local l
    for l in "$@"; do echo "       $0 $l" >&2; done
    exit 2
}
