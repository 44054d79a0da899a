#!/usr/bin/env bash
# test.sh - what `make test` runs: build, C unit tests (ctest), then the
# black-box suite against the real parleyd. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=$(nproc)

echo "== build ($BUILD)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" -j "$JOBS"

echo "== unit tests (ctest)"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")

echo "== black-box tests (pytest against build/parleyd)"
PARLEY_BUILD_DIR="$(pwd)/$BUILD" tests/blackbox/run.sh
