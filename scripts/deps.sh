#!/usr/bin/env bash
# deps.sh - installs what Parley needs from Debian 12, idempotently.
#   scripts/deps.sh build   # compilers, cmake, libraries
#   scripts/deps.sh test    # + what the test suites need (python venv, clang,
#                           #   cppcheck, clang-tidy, Node + tests/interop npm ci)
#   scripts/deps.sh bench   # + gnuplot for the latency plot of make bench
# Only missing packages are installed; sudo is used when not root.
set -euo pipefail

BUILD_PKGS=(build-essential cmake ninja-build pkg-config libsqlite3-dev libssl-dev
            libsodium-dev libjansson-dev libcurl4-openssl-dev)
TEST_PKGS=(python3 python3-venv clang sqlite3 cppcheck clang-tidy)
BENCH_PKGS=(gnuplot-nox)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
test) want+=("${TEST_PKGS[@]}") ;;
bench) want+=("${BENCH_PKGS[@]}") ;;
esac

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
if [ ${#missing[@]} -eq 0 ]; then
    [ "${1:-build}" != test ] || interop_npm # conform
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ "${1:-build}" != test ] || interop_npm # conform
