#!/usr/bin/env bash
# tests/redis/run.sh - the Redis stage of `make test`: starts one Redis
# server and a 3-master Redis Cluster in a temporary directory with
# scripts/infra/, then runs against them
#   1. tests/redis (the client through redis-probe, and presence=redis
#      behaviour of parleyd: last_seen across restarts, rebuild after a
#      Redis restart, a killed gateway's users going offline);
#   2. the black-box presence tests with --presence redis, once on the
#      single server and once on the cluster (PARLEY_TEST_SERVER_ARGS).
# Uses $PARLEY_BUILD_DIR (default build) and its venv; extra arguments go
# to the first pytest run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$(cd "${PARLEY_BUILD_DIR:-$repo/build}" && pwd)"
venv="${PARLEY_VENV:-$build/venv}"
"$repo/scripts/deps.sh" cluster
dir=$(mktemp -d /tmp/parley-redis-test.XXXXXX)
cleanup() {
    "$repo/scripts/infra/redis.sh" kill "$dir" >/dev/null 2>&1 || true
    "$repo/scripts/infra/redis-cluster.sh" kill "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"$repo/scripts/infra/redis.sh" up "$dir"
"$repo/scripts/infra/redis-cluster.sh" up "$dir"
export PARLEY_BUILD_DIR="$build" PARLEY_TEST_INFRA_DIR="$dir"
export PARLEY_TEST_REDIS_ADDRS=$(sed -n 's/^PARLEY_REDIS_ADDRS=//p' "$dir/redis/env")
export PARLEY_TEST_REDIS_CLUSTER_ADDRS=$(sed -n 's/^PARLEY_REDIS_ADDRS=//p' "$dir/redis-cluster/env")
# run.sh of the black-box suite sets up the venv; reuse its python
PARLEY_VENV="$venv" "$repo/tests/blackbox/run.sh" --collect-only -q \
    "$repo/tests/blackbox/test_presence.py" >/dev/null
cd "$repo"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/redis "$@"
for target in single cluster; do
    if [ $target = single ]; then addrs=$PARLEY_TEST_REDIS_ADDRS; else addrs=$PARLEY_TEST_REDIS_CLUSTER_ADDRS; fi
    echo "== black-box presence tests, presence=redis ($target)"
    PARLEY_TEST_SERVER_ARGS="--presence redis --redis-addrs $addrs" \
        "$venv/bin/python" -m pytest -n 2 -q -p no:cacheprovider tests/blackbox/test_presence.py
done
