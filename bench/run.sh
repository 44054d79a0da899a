#!/usr/bin/env bash
# bench/run.sh - Parley's standard benchmark suite (`make bench`).
#
# Starts its own parleyd (ephemeral port, temporary data dir), creates the
# users with `parley admin create-users`, runs parley-bench's scenarios and
# writes one JSON per run plus bench/results/latest.json (all runs and a
# summary with the ratios to the raw-socket floor). Takes about 2-4 minutes
# on a 2-core machine; never more than 10.
#
#   bench/run.sh                 # the standard suite
#   PARLEY_BENCH_QUICK=1 bench/run.sh   # a 1-minute smoke run (smaller)
#
# Environment: PARLEY_BUILD_DIR (default ./build, holding parleyd, parley
# and parley-bench), PARLEY_BENCH_OUT (default bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PARLEY_BUILD_DIR:-$ROOT/build}
OUT=${PARLEY_BENCH_OUT:-$ROOT/bench/results}
QUICK=${PARLEY_BENCH_QUICK:-0}
PARLEYD=$BUILD/parleyd
PARLEY=$BUILD/parley
BENCH=$BUILD/parley-bench
SUITE_DEADLINE=$((SECONDS + 570)) # stay under 10 minutes

for b in "$PARLEYD" "$PARLEY" "$BENCH"; do
    [ -x "$b" ] || { echo "run.sh: $b not found: build first (make build)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/parley-bench.XXXXXX)
SERVER_PIDS=()

cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n=== %s\n' "$*" >&2; }

# start_server NAME: starts parleyd with its data in $WORK/NAME; sets URL
# and SERVER_PID. The port comes from the "listening" log line.
start_server() {
    local dir=$WORK/$1 addr="" i
    mkdir -p "$dir"
    # defaults, except the per-connection send rate limit (an abuse guard,
    # not a capacity figure): a load generator sends far faster than people
    "$PARLEYD" --listen 127.0.0.1:0 --data-dir "$dir/data" --send-rate 0 \
        2>"$dir/parleyd.log" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for i in $(seq 100); do
        addr=$(sed -n 's/.*"event":"listening","addr":"\([0-9.]*:[0-9]*\)".*/\1/p' \
               "$dir/parleyd.log" | head -n1)
        [ -n "$addr" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "run.sh: parleyd did not start:" >&2
        cat "$dir/parleyd.log" >&2
        exit 1
    fi
    URL=http://$addr
    DATA=$dir/data
    echo "parleyd pid $SERVER_PID on $URL" >&2
}

stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

RUNS=()
# bench NAME ARGS...: one scenario; its JSON becomes runs.NAME.
bench() {
    local name=$1
    shift
    if [ "$SECONDS" -ge "$SUITE_DEADLINE" ]; then
        echo "run.sh: skipping $name: the suite is out of time" >&2
        return 0
    fi
    log "$name: parley-bench $*"
    local rc=0
    "$BENCH" "$@" --out-dir "$OUT" --json "$WORK/$name.json" || rc=$?
    if [ -f "$WORK/$name.json" ]; then
        RUNS+=("$name=$WORK/$name.json")
    fi
    [ "$rc" -eq 0 ] || echo "run.sh: $name reported errors (exit $rc)" >&2
}

# plot: latency per second of direct and group into $OUT/latest.png.
plot() {
    if ! command -v gnuplot >/dev/null; then
        echo "run.sh: no plot: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
        return 0
    fi
    [ -f "$WORK/direct.json" ] && [ -f "$WORK/group.json" ] || return 0
    "$BENCH" timeline "$WORK/direct.json" >"$WORK/direct.dat"
    "$BENCH" timeline "$WORK/group.json" >"$WORK/group.dat"
    # columns: t sent delivered a_p50 a_p99 b_p50 b_p99 (direct: a = ack,
    # b = send->receive; group: a = each delivery, b = all-reached)
    gnuplot <<GNUPLOT
set terminal png size 1100,600
set output '$OUT/latest.png'
set title 'Parley latency per second ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)'
set xlabel 'seconds since start (warm-up included)'
set ylabel 'latency (ms)'
set logscale y
set grid
set key outside right
plot '$WORK/direct.dat' using 1:6 with lines title 'direct send->receive p50', \
     '$WORK/direct.dat' using 1:7 with lines title 'direct send->receive p99', \
     '$WORK/group.dat' using 1:6 with lines title 'group all-reached p50', \
     '$WORK/group.dat' using 1:7 with lines title 'group all-reached p99'
GNUPLOT
    echo "plot: $OUT/latest.png" >&2
}

if [ "$QUICK" = 1 ]; then
    D=5; W=1; PAIRS=100; RATE=1000; MEMBERS=2000; CONNECTED=500; IDLE=1000
    HPAIRS=200; HRATE=5000
    MAXLO=1000; MAXSTEP=2; MAXBISECT=2
else
    D=20; W=3; PAIRS=500; RATE=5000; MEMBERS=10000; CONNECTED=1000; IDLE=5000
    HPAIRS=1000; HRATE=25000
    MAXLO=2000; MAXSTEP=3; MAXBISECT=3
fi
BURST=100
mkdir -p "$OUT"

start_server main
MAIN_PID=$SERVER_PID
log "creating $MEMBERS users"
"$PARLEY" admin create-users --count "$MEMBERS" --prefix bench --data-dir "$DATA" \
    >"$WORK/users.tsv"
U=(--url "$URL" --users "$WORK/users.tsv")

bench direct direct "${U[@]}" --pairs "$PAIRS" --rate "$RATE" --duration "$D" --warmup "$W"
# The highest direct rate with p99 send->receive under 50 ms: doubling
# from MAXLO up to 64,000 msgs/s, then bisecting; at most ~10 steps of
# 1 s warm-up + MAXSTEP s + up to 3 s drain (about 30-70 s). Before
# direct_high: that one overloads the server, and the backlog it leaves
# would fail the first steps.
bench direct_max max --of direct "${U[@]}" --pairs "$PAIRS" --lo "$MAXLO" \
    --hi 64000 --step-duration "$MAXSTEP" --warmup 1 --drain 3 \
    --bisect "$MAXBISECT" --p99-ms 50
bench direct_high direct "${U[@]}" --pairs "$HPAIRS" --rate "$HRATE" \
    --duration $((D / 2)) --warmup "$W"
bench group group "${U[@]}" --members "$MEMBERS" --connected "$CONNECTED" \
    --rate 20 --duration "$D" --warmup "$W"
bench group_burst group "${U[@]}" --members "$MEMBERS" --connected "$CONNECTED" \
    --burst "$BURST"
stop_server "$MAIN_PID"

# The floor with the frame size Parley delivered in `group` (else 300).
FB=$(sed -n 's/^ *"frame_bytes": \([0-9]*\).*/\1/p' "$WORK/group.json" 2>/dev/null | head -n1)
FB=${FB:-300}
bench floor floor --conns "$CONNECTED" --frame-bytes "$FB" --rate 20 \
    --duration "$D" --warmup "$W"
bench floor_burst floor --conns "$CONNECTED" --frame-bytes "$FB" --rate 0 \
    --messages "$BURST"
bench floor_burst_coalesced floor --conns "$CONNECTED" --frame-bytes "$FB" \
    --rate 0 --messages "$BURST" --coalesce "$BURST"
# The floor of direct: a plain relay with the same pairs, frame size and
# replies (ack + echo + the peer's copy), at the same rate and overloaded.
DB=$(sed -n 's/^ *"frame_bytes": \([0-9]*\).*/\1/p' "$WORK/group.json" 2>/dev/null | head -n1)
bench relay relay --pairs "$PAIRS" --rate "$RATE" --frame-bytes "${DB:-300}" \
    --duration "$D" --warmup "$W"
bench relay_high relay --pairs "$HPAIRS" --rate $((HRATE * 4)) \
    --frame-bytes "${DB:-300}" --duration $((D / 2)) --warmup "$W"

# idle on a fresh server, so its RSS growth is the connections' alone.
start_server idle
bench idle idle --url "$URL" --data-dir "$DATA" --parley "$PARLEY" \
    --conns "$IDLE" --server-pid "$SERVER_PID" --hold 5
stop_server "$SERVER_PID"

log "summary"
"$BENCH" merge "$OUT/latest.json" "${RUNS[@]}"
plot
echo "suite took ${SECONDS} s" >&2
