#!/usr/bin/env bash
# tsan.sh - builds parleyd and parley with ThreadSanitizer (build-tsan/)
# and runs the black-box suite against them. Any data race makes parleyd
# exit 66 at SIGTERM, which fails the test that stopped it. Not part of
# `make test` (TSan and ASan cannot share a build; this takes ~2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="-fsanitize=thread -O1 -g" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
ninja -C build-tsan parleyd parley
export TSAN_OPTIONS="halt_on_error=0 exitcode=66"
PARLEY_VENV="$(pwd)/build/venv" PARLEY_BUILD_DIR="$(pwd)/build-tsan" \
    tests/blackbox/run.sh "$@"
