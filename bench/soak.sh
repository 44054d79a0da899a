#!/usr/bin/env bash
# bench/soak.sh - the memory soak (`make soak`): direct chat at half of the
# highest rate whose p99 stays under 50 ms, for 10 minutes, with the
# server's RSS sampled every second. A leak or an unbounded queue shows as
# RSS that keeps climbing in the second half of the run; a healthy server
# levels off once its caches and the SQLite page cache are warm.
#
#   bench/soak.sh                        # max search (~1 min), then 600 s
#   PARLEY_SOAK_RATE=8000 bench/soak.sh  # skip the search
#   PARLEY_SOAK_SECONDS=120 bench/soak.sh
#
# Writes bench/results/soak-<time>.json (+ soak-latest.json) and
# soak-latest.png (RSS and latency per second). Environment as bench/run.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${PARLEY_BUILD_DIR:-$ROOT/build}
OUT=${PARLEY_BENCH_OUT:-$ROOT/bench/results}
SECS=${PARLEY_SOAK_SECONDS:-600}
PAIRS=${PARLEY_SOAK_PAIRS:-500}
WORK=$(mktemp -d /tmp/parley-soak.XXXXXX)
SERVER_PID=""

cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for b in parleyd parley parley-bench; do
    [ -x "$BUILD/$b" ] || { echo "soak.sh: $BUILD/$b not found: make build" >&2; exit 2; }
done
mkdir -p "$OUT" "$WORK/data"
"$BUILD/parleyd" --listen 127.0.0.1:0 --data-dir "$WORK/data" --send-rate 0 \
    2>"$WORK/parleyd.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 100); do
    ADDR=$(sed -n 's/.*"event":"listening","addr":"\([0-9.]*:[0-9]*\)".*/\1/p' \
           "$WORK/parleyd.log" | head -n1)
    [ -n "$ADDR" ] && break
    sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/parleyd.log" >&2; exit 1; }
"$BUILD/parley" admin create-users --count $((2 * PAIRS)) --prefix soak \
    --data-dir "$WORK/data" >"$WORK/users.tsv"
U=(--url "http://$ADDR" --users "$WORK/users.tsv" --pairs "$PAIRS")

RATE=${PARLEY_SOAK_RATE:-}
if [ -z "$RATE" ]; then
    echo "=== soak: searching the highest direct rate with p99 < 50 ms" >&2
    "$BUILD/parley-bench" max --of direct "${U[@]}" --lo 2000 --hi 64000 \
        --step-duration 3 --warmup 1 --drain 3 --bisect 3 --p99-ms 50 \
        --quiet --out-dir "$WORK" --json "$WORK/max.json" >&2 || true
    MAX=$(sed -n 's/^ *"max_rate": \([0-9.]*\).*/\1/p' "$WORK/max.json" | head -n1)
    [ -n "$MAX" ] || { echo "soak.sh: no max rate found" >&2; exit 1; }
    RATE=$(awk -v m="$MAX" 'BEGIN { printf "%d", m / 2 }')
    echo "=== soak: max ${MAX} msgs/s -> soak at ${RATE} msgs/s" >&2
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
echo "=== soak: parley-bench direct --rate $RATE --duration $SECS" >&2
rc=0
"$BUILD/parley-bench" direct "${U[@]}" --rate "$RATE" --duration "$SECS" \
    --warmup 5 --out-dir "$OUT" --json "$OUT/soak-$STAMP.json" || rc=$?
cp "$OUT/soak-$STAMP.json" "$OUT/soak-latest.json"
if command -v gnuplot >/dev/null; then
    "$BUILD/parley-bench" timeline "$OUT/soak-latest.json" >"$WORK/soak.dat"
    gnuplot <<GNUPLOT
set terminal png size 1100,600
set output '$OUT/soak-latest.png'
set title 'Parley soak: direct at $RATE msgs/s, $PAIRS pairs ($STAMP, $(nproc) cores)'
set xlabel 'seconds'
set ylabel 'latency (ms)'
set y2label 'server RSS (MiB)'
set logscale y
set y2tics
set grid
set key outside right
plot '$WORK/soak.dat' using 1:6 with lines title 'send->receive p50', \
     '$WORK/soak.dat' using 1:7 with lines title 'send->receive p99', \
     '$WORK/soak.dat' using 1:(\$8/1024) axes x1y2 with lines lw 2 title 'server RSS'
GNUPLOT
    echo "plot: $OUT/soak-latest.png" >&2
fi
exit "$rc"
