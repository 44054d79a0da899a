#!/usr/bin/env bash
# infra-test.sh - the cluster's servers, tested for real (`make infra-test`,
# and a stage of scripts/test.sh):
#   1. Kafka: the scripts/infra/kafka.sh interface (up twice is one broker,
#      restart keeps the address, kill, data kept across starts), and
#      BUILD/kafka-smoke: the C client through a broker restart under load;
#      BUILD/bus-kafka-test: the bus backend (groups, broadcast, commits
#      after the end-of-batch call, work streams, bad records, flush);
#   2. nginx: tests/infra/test_nginx.py (routing, headers, WebSocket,
#      retries) against the real parleyd and fake upstreams.
# Everything runs in a temporary directory, stopped and removed at exit.
#   scripts/infra-test.sh [BUILD_DIR]      # default: build
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${1:-build}" && pwd)"
tmp=$(mktemp -d)
start=$(date +%s)
# Test brokers start often and move little data: C1 alone starts faster.
export KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1}"

cleanup() {
    scripts/infra.sh down "$tmp" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "infra-test: FAILED: $*" >&2
    for f in "$tmp"/kafka/server.log "$tmp"/kafka/stdout.log; do
        [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 40 "$f" >&2; }
    done
    exit 1
}

secs() { echo $(( $(date +%s) - $1 )); }

for prog in kafka-smoke bus-kafka-test; do
    [ -x "$build/$prog" ] ||
        fail "$build/$prog is missing: librdkafka was not found when" \
             "$build was configured (scripts/deps.sh cluster, then rebuild)"
done

echo "== kafka: scripts/infra/kafka.sh"
t=$(date +%s)
scripts/infra/kafka.sh up "$tmp" || fail "kafka up"
echo "kafka: up in $(secs "$t") s"
env1=$(cat "$tmp/kafka/env")
pid1=$(cat "$tmp/kafka/kafka.pid")
scripts/infra/kafka.sh up "$tmp" || fail "second kafka up"
[ "$(cat "$tmp/kafka/kafka.pid")" = "$pid1" ] || fail "second up started another broker"
scripts/infra/kafka.sh status "$tmp" >/dev/null || fail "status of a running broker"
brokers=${env1#PARLEY_KAFKA_BROKERS=}
scripts/infra/kafka.sh topic "$tmp" smoke 6 || fail "topic create"
scripts/infra/kafka.sh topic "$tmp" smoke 6 || fail "topic create is not idempotent"

echo "== kafka: build/kafka-smoke through a broker restart"
"$build/kafka-smoke" --brokers "$brokers" --topic smoke --group smoke \
    --messages 20000 --keys 64 --queue 2000 --timeout 120 \
    --restart-cmd "scripts/infra/kafka.sh restart '$tmp'" 2> "$tmp/smoke.err" ||
    { tail -n 30 "$tmp/smoke.err" >&2; fail "kafka-smoke"; }
[ "$(cat "$tmp/kafka/env")" = "$env1" ] || fail "restart changed the address"

echo "== kafka: build/bus-kafka-test (the bus backend, bus = kafka)"
t=$(date +%s)
"$build/bus-kafka-test" --brokers "$brokers" 2> "$tmp/bus.err" ||
    { tail -n 30 "$tmp/bus.err" >&2; fail "bus-kafka-test"; }
echo "kafka: bus backend checks in $(secs "$t") s"

echo "== kafka: kill, then up on the same data"
scripts/infra/kafka.sh kill "$tmp"
if scripts/infra/kafka.sh status "$tmp" >/dev/null; then
    fail "status says running after kill"
fi
t=$(date +%s)
scripts/infra/kafka.sh up "$tmp" || fail "kafka up after kill"
echo "kafka: up after SIGKILL in $(secs "$t") s"
scripts/infra/kafka.sh topics "$tmp" | grep -qx smoke || fail "topic lost after kill"
t=$(date +%s)
scripts/infra/kafka.sh down "$tmp"
echo "kafka: down in $(secs "$t") s"

echo "== nginx: tests/infra"
# the black-box suite's venv (scripts/test.sh's), whatever build is tested
PARLEY_VENV="${PARLEY_VENV:-$(pwd)/build/venv}" PARLEY_BUILD_DIR="$build" \
    tests/blackbox/run.sh -p no:cacheprovider tests/infra

echo "== infra tests passed in $(secs "$start") s"
