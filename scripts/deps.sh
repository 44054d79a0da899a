#!/usr/bin/env bash
# deps.sh - installs what Parley needs from Debian 12, idempotently.
#   scripts/deps.sh build   # compilers, cmake, libraries
#   scripts/deps.sh test    # + what the test suites need (python venv, clang,
#                           #   cppcheck, clang-tidy, Node + tests/interop npm ci)
#   scripts/deps.sh bench   # + gnuplot for the latency plot of make bench
#   scripts/deps.sh cluster # + the servers of cluster mode (scripts/infra/:
#                           #   Kafka, nginx, Redis; make test includes it)
#   scripts/deps.sh browser # chromium, node and npm for the browser tests,
#                           # and `npm ci` of tests/browser (also in `test`)
# Only missing packages are installed; sudo is used when not root.
set -euo pipefail

BUILD_PKGS=(build-essential cmake ninja-build pkg-config libsqlite3-dev libssl-dev
            libsodium-dev libjansson-dev libcurl4-openssl-dev libhiredis-dev
            libpq-dev)
TEST_PKGS=(python3 python3-venv clang sqlite3 cppcheck clang-tidy)
BENCH_PKGS=(gnuplot-nox)
# cluster: PostgreSQL 15 (scripts/infra/postgres.sh); Kafka runs from Maven
# Central jars (scripts/infra/kafka.sh) on Java 17; nginx is the L7
# ingress; librdkafka is the C client; Redis 7 (one server and a 3-master
# cluster, scripts/infra/redis*.sh).
CLUSTER_PKGS=(postgresql-15 openjdk-17-jre-headless maven nginx librdkafka-dev
              redis-server python3)
BROWSER_PKGS=(chromium fonts-dejavu-core)

want=("${BUILD_PKGS[@]}")
browser=false
case "${1:-build}" in
test) want+=("${TEST_PKGS[@]}" "${CLUSTER_PKGS[@]}" "${BROWSER_PKGS[@]}"); browser=true ;;
bench) want+=("${BENCH_PKGS[@]}") ;;
cluster) want+=("${CLUSTER_PKGS[@]}") ;;
browser) want=("${BROWSER_PKGS[@]}"); browser=true ;;
esac
if $browser; then # node may come from elsewhere (nodesource): test the commands
    command -v node >/dev/null || want+=(nodejs)
    command -v npm >/dev/null || want+=(npm)
fi

# The browser tests' npm packages, from the committed lockfile; again only
# when the lockfile changed since the last install (sha256 stamp).
npm_ci() {
    local dir lock stamp want_sum
    dir="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
    lock="$dir/package-lock.json"
    stamp="$dir/node_modules/.package-lock.sha256"
    want_sum="$(sha256sum "$lock" | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want_sum" ]; then
        echo "deps: npm ci in tests/browser" >&2
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
        echo "$want_sum" > "$stamp"
    fi
}

# --- conform: Node and the `ws` client of tests/interop (interop tests) ---
# Any node >= 18 will do (Debian's nodejs + npm, or one already installed);
# node_modules is reinstalled with `npm ci` only when the lockfile changes.
if [ "${1:-build}" = test ]; then
    command -v node >/dev/null || want+=(nodejs)
    command -v npm >/dev/null || want+=(npm)
fi
interop_npm() {
    local dir lock stamp
    dir="$(cd "$(dirname "$0")/.." && pwd)/tests/interop"
    lock="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    stamp="$dir/node_modules/.parley-lock.sha256"
    [ "$(cat "$stamp" 2>/dev/null || true)" = "$lock" ] && return 0
    echo "deps: npm ci in tests/interop" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$lock" >"$stamp"
}
# --- end conform ---

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if $browser; then
    npm_ci
fi
[ "${1:-build}" != test ] || interop_npm # conform
