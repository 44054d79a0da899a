#!/usr/bin/env bash
# deps.sh - installs what Parley needs from Debian 12, idempotently.
#   scripts/deps.sh build   # compilers, cmake, libraries
#   scripts/deps.sh test    # + what the test suites need (python venv, clang)
#   scripts/deps.sh bench   # + gnuplot for the latency plot of make bench
#   scripts/deps.sh cluster # + the cluster-mode servers (scripts/infra/*.sh)
# Only missing packages are installed; sudo is used when not root.
set -euo pipefail

BUILD_PKGS=(build-essential cmake ninja-build pkg-config libsqlite3-dev libssl-dev
            libsodium-dev libjansson-dev libcurl4-openssl-dev libpq-dev)
TEST_PKGS=(python3 python3-venv clang sqlite3)
BENCH_PKGS=(gnuplot-nox)
CLUSTER_PKGS=(
    postgresql-15 # scripts/infra/postgres.sh
)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
test) want+=("${TEST_PKGS[@]}") ;;
bench) want+=("${BENCH_PKGS[@]}") ;;
cluster) want+=("${CLUSTER_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
