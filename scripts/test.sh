#!/usr/bin/env bash
# test.sh - what `make test` runs. Exits non-zero on any failure.
#   0. make lint: cppcheck and clang-tidy on src/ (scripts/lint.sh);
#   1. release build: C unit tests (ctest), then the black-box suite
#      (pytest) against the real build/parleyd and build/parley;
#   1b. store = postgres: a private PostgreSQL (scripts/infra/postgres.sh in
#      a temporary dir) and the release build's store unit test and
#      black-box suite against it;
#   1c. the Redis client and presence=redis against a real Redis and a
#      3-master Redis Cluster (tests/redis/run.sh, ~1 min);
#   1d. once, the browser suite (tests/browser, chromium driven by
#      playwright-core) against the release build;
#   2. the same two suites against an ASan+UBSan build (build-asan), where
#      every parleyd stopped with SIGTERM must exit 0: a leak or a memory
#      error at any point fails the run;
#   3. every libFuzzer target briefly (FUZZ_SECONDS, default 15);
#   4. the cluster's servers (scripts/infra-test.sh on build-asan): a real
#      Kafka broker and the C client through a broker restart, nginx in
#      front of parleyd;
#   5. the cluster (scripts/cluster-test.sh on the release build): the
#      `make cluster` processes behind nginx in a temporary directory,
#      tests/cluster and the black-box suite through nginx against them.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
VENV="$(pwd)/build/venv"
start=$(date +%s)

suite() { # build-dir cmake-args...
    local dir=$1
    shift
    echo "== build ($dir)"
    cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
    ninja -C "$dir" -j "$JOBS"
    echo "== unit tests ($dir)"
    (cd "$dir" && ctest --output-on-failure -j "$JOBS")
    echo "== black-box tests ($dir)"
    PARLEY_VENV="$VENV" PARLEY_BUILD_DIR="$(pwd)/$dir" tests/blackbox/run.sh
}

echo "== lint"
make --no-print-directory lint
suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

# --- stage: store = postgres (release build only) ---
PGDIR=""
pg_cleanup() {
    [ -n "$PGDIR" ] || return 0
    scripts/infra/postgres.sh down "$PGDIR" >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
    PGDIR=""
}
trap pg_cleanup EXIT
scripts/deps.sh cluster
PGDIR=$(mktemp -d /tmp/parley-pg.XXXXXX)
echo "== PostgreSQL for the postgres stage ($PGDIR)"
scripts/infra/postgres.sh up "$PGDIR"
PG_DSN=$(. "$PGDIR/postgres/env" && echo "$PARLEY_PG_DSN")
echo "== unit tests on PostgreSQL (build)"
(cd build && PARLEY_TEST_PG_DSN="$PG_DSN" ctest --output-on-failure -R '^test_store_postgres$')
echo "== black-box tests on PostgreSQL (build)"
PARLEY_TEST_STORE=postgres PARLEY_TEST_PG_DSN="$PG_DSN" PARLEY_VENV="$VENV" \
    PARLEY_BUILD_DIR="$(pwd)/build" tests/blackbox/run.sh
pg_cleanup
# --- end of stage: store = postgres ---
echo "== redis: client and presence=redis against real servers (build)"
PARLEY_VENV="$VENV" PARLEY_BUILD_DIR="$(pwd)/build" tests/redis/run.sh
echo "== browser tests (build)"
PARLEY_BUILD_DIR="$(pwd)/build" tests/browser/run.sh
export ASAN_OPTIONS=detect_leaks=1:exitcode=66:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite build-asan -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON
echo "== fuzz targets, ${FUZZ_SECONDS:-15} s each"
scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
echo "== cluster servers (build-asan)"
scripts/infra-test.sh build-asan
echo "== cluster (build)"
scripts/cluster-test.sh build
echo "== all tests passed in $(( $(date +%s) - start )) s"
