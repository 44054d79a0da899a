#!/usr/bin/env bash
# bench/cluster.sh - `make bench-cluster`: parley-bench against the local
# cluster (scripts/cluster.sh: PostgreSQL, a 3-master Redis Cluster, Kafka,
# nginx, 2 gateways, 2 messaging, 2 fan-out, presence, auth), all on this
# machine, through nginx. Writes bench/results/cluster-TIMESTAMP.json.
#
#   bench/cluster.sh [RATE...]   # direct at each rate (default 1000 2000 4000)
#
# First the latency of a nearly idle cluster (10 pairs, 20 msgs/s), last
# the highest direct rate with p99 < 50 ms (parley-bench max). The
# parleyd flags differ from the defaults only where an abuse guard would
# measure itself instead of the system: per-connection send rate and
# per-address connection limits (every bench connection comes from
# 127.0.0.1 through nginx). BENCH_PAIRS (500), BENCH_DURATION (15).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${BUILD:-build}" && pwd)
PAIRS=${BENCH_PAIRS:-500}
DUR=${BENCH_DURATION:-15}
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(1000 2000 4000)
out=bench/results
mkdir -p "$out"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dir=$(mktemp -d /tmp/parley-bench-cluster.XXXXXX)
chmod 711 "$dir"
cleanup() {
    scripts/cluster.sh down "$dir" > /dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT

export BUILD CLUSTER_PORT=0
export PARLEYD_ARGS="--send-rate 0 --conn-rate-per-ip 0 \
--max-connections-per-ip 0 --log-level warn"
scripts/cluster.sh up "$dir" > "$dir/up.log" 2>&1 ||
    { cat "$dir/up.log" >&2; exit 1; }
url=$(sed -n 's/^PARLEY_URL=//p' "$dir/nginx/env")
echo "cluster up: $url ($(cat "$dir/topology") topology)" >&2

# users straight into PostgreSQL, tokens signed with the cluster's keys
. "$dir/postgres/env"
PARLEY_STORE=postgres PARLEY_PG_DSN=$PARLEY_PG_DSN \
    "$BUILD/parley" admin create-users --count $((PAIRS * 2)) \
    --prefix "bc$stamp" --data-dir "$dir" > "$dir/users.txt"

# cpu_ticks: "NAME TICKS" per component (utime + stime of its processes,
# from /proc), to say where the CPU of a step went
cpu_ticks() {
    local f pid comm rest
    for f in /proc/[0-9]*/stat; do
        read -r pid comm rest < "$f" 2> /dev/null || continue
        set -- $rest
        echo "$comm ${12} ${13}"
    done | awk '{n=$1; gsub(/[()]/, "", n)
        if (n ~ /^parleyd/) n = "parleyd"; else if (n ~ /^postgres/) n = "postgres"
        else if (n ~ /^redis/) n = "redis"; else if (n ~ /^nginx/) n = "nginx"
        else if (n == "java") n = "kafka"; else if (n ~ /^parley-bench/) n = "parley-bench"
        else n = "other"
        t[n] += $2 + $3} END {for (n in t) print n, t[n]}' | sort
}
# per-instance: parleyd's threads are named by role only inside, so the
# instances are told apart by pid file
inst_ticks() {
    local f name pid
    for f in "$dir"/parleyd-*/parleyd.pid; do
        name=${f%/parleyd.pid}; name=${name##*parleyd-}
        pid=$(cat "$f")
        [ -r "/proc/$pid/stat" ] || continue
        awk -v n="$name" '{print n, $14 + $15}' "/proc/$pid/stat" 2> /dev/null
    done
}

echo "=== warm-up: direct 1000 msgs/s for 20 s (JIT, caches; not recorded)" >&2
"$BUILD/parley-bench" direct --url "$url" --users "$dir/users.txt" \
    --pairs "$PAIRS" --rate 1000 --duration 20 --threads 2 \
    --out-dir "$dir" --quiet > /dev/null

echo "=== idle latency: direct 10 pairs at 20 msgs/s for 10 s" >&2
"$BUILD/parley-bench" direct --url "$url" --users "$dir/users.txt" \
    --pairs 10 --rate 20 --duration 10 --out-dir "$dir" \
    --json "$dir/direct-idle.json" --quiet | grep -E "ack \(|send->receive  "

files=("direct_idle=$dir/direct-idle.json")
last=$((${#RATES[@]} - 1))
for i in "${!RATES[@]}"; do
    r=${RATES[$i]}
    name=direct_$r # the summary reads direct (first) and direct_high (last)
    [ "$i" -eq 0 ] && name=direct
    [ "$i" -eq "$last" ] && [ "$last" -gt 0 ] && name=direct_high
    echo "=== direct $PAIRS pairs at $r msgs/s for $DUR s" >&2
    cpu_ticks > "$dir/cpu0"
    inst_ticks > "$dir/inst0"
    t0=$(date +%s.%N)
    "$BUILD/parley-bench" direct --url "$url" --users "$dir/users.txt" \
        --pairs "$PAIRS" --rate "$r" --duration "$DUR" --threads 2 \
        --out-dir "$dir" --json "$dir/direct-$r.json" --quiet | sed -n 4,14p
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    echo "  CPU during the step (cores busy on average, $secs s):"
    cpu_ticks | join - "$dir/cpu0" | awk -v s="$secs" -v hz="$(getconf CLK_TCK)" \
        '{printf "    %-14s %.2f\n", $1, ($2 - $3) / hz / s}'
    inst_ticks | sort | join - <(sort "$dir/inst0") 2> /dev/null | awk -v s="$secs" \
        -v hz="$(getconf CLK_TCK)" '{printf "    parleyd %-6s %.2f\n", $1, ($2 - $3) / hz / s}'
    files+=("$name=$dir/direct-$r.json")
done
echo "=== max direct rate with p99 < 50 ms" >&2
"$BUILD/parley-bench" max --of direct --url "$url" --users "$dir/users.txt" \
    --pairs "$PAIRS" --threads 2 --lo 500 --bisect 3 --step-duration 10 \
    --out-dir "$dir" --json "$dir/max.json" --quiet | grep "max rate" 
files+=("direct_max=$dir/max.json")
"$BUILD/parley-bench" merge "$out/cluster-$stamp.json" "${files[@]}"
echo "results: $out/cluster-$stamp.json (machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
