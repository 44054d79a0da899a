#!/usr/bin/env bash
# cluster-test.sh - the cluster stage of scripts/test.sh (`make test`):
# one cluster from scripts/cluster.sh (the `make cluster` process table;
# CLUSTER_TOPOLOGY auto: the role split once parleyd takes it, else one
# all-roles parleyd on PostgreSQL and the Redis Cluster) in a temporary
# directory on ephemeral ports, then, against it:
#   1. tests/cluster (the harness and the cross-gateway tests), -n 2;
#   2. the black-box suite through nginx (PARLEY_TEST_EXTERNAL_URL), -n 2:
#      tests that need a parleyd of their own skip, saying why;
#   3. tests/cluster's disruptive tests (kill -9 / restart), alone.
# Stopped and removed at exit; prints each step's time.
#   scripts/cluster-test.sh [BUILD_DIR]      # default: build
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${1:-build}" && pwd)"
start=$(date +%s)
# not under a 0700 directory: as root PostgreSQL runs as `postgres`
tmp=$(mktemp -d /tmp/parley-cluster.XXXXXX)
chmod 711 "$tmp"
export PARLEY_BUILD_DIR="$build" BUILD="$build" CLUSTER_PORT=0
export PARLEY_VENV="${PARLEY_VENV:-$(pwd)/build/venv}"
export KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1}"

cleanup() {
    scripts/cluster.sh down "$tmp" > /dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

secs() { echo $(( $(date +%s) - $1 )); }
pytest() { tests/blackbox/run.sh -p no:cacheprovider "$@"; }

# the venv (run.sh makes it), then the test flags of tests/cluster/cluster.py
pytest --version > /dev/null
PARLEYD_ARGS=$("$PARLEY_VENV/bin/python" -c \
    'import sys; sys.path.insert(0, "tests/cluster")
from cluster import TEST_PARLEYD_ARGS; print(TEST_PARLEYD_ARGS)')
export PARLEYD_ARGS

echo "== cluster: scripts/cluster.sh up $tmp"
t=$(date +%s)
scripts/cluster.sh up "$tmp"
echo "cluster: up in $(secs "$t") s"
url=$(sed -n 's/^PARLEY_URL=//p' "$tmp/nginx/env")
logs="$(awk '{print $4}' "$tmp/instances" | xargs) $tmp/nginx/error.log"

echo "== cluster: tests/cluster"
t=$(date +%s)
PARLEY_TEST_CLUSTER_DIR="$tmp" pytest -n 2 -rs -m "not disruptive" tests/cluster
echo "cluster: tests/cluster in $(secs "$t") s"

echo "== cluster: black-box suite through nginx ($url)"
t=$(date +%s)
PARLEY_TEST_EXTERNAL_URL="$url" PARLEY_TEST_EXTERNAL_LOGS="$logs" \
    pytest -n 2 -rs tests/blackbox
echo "cluster: black-box through nginx in $(secs "$t") s"

echo "== cluster: disruptive tests (kill -9, restart)"
t=$(date +%s)
PARLEY_TEST_CLUSTER_DIR="$tmp" pytest -n 0 -m disruptive tests/cluster
echo "cluster: disruptive tests in $(secs "$t") s"

t=$(date +%s)
scripts/cluster.sh down "$tmp"
echo "cluster: down in $(secs "$t") s"
echo "== cluster tests passed in $(secs "$start") s"
