#!/usr/bin/env bash
# lint.sh - what `make lint` runs (and `make test` first): static analysis
# of src/ with cppcheck 2.10 and clang-tidy 14 (Debian 12). Exits non-zero
# on any finding.
#   cppcheck:   scripts/cppcheck/ (jansson macros; suppressions, each with
#               its reason); inline `cppcheck-suppress` carry theirs.
#   clang-tidy: .clang-tidy (checks, and why each excluded one is), run by
#               scripts/tidy.py over build-lint/compile_commands.json
#               (configured here, nothing is built); files unchanged since
#               they last passed are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cppcheck"
cppcheck --std=c11 --enable=style,warning,performance,portability \
    --library=scripts/cppcheck/jansson.cfg \
    --suppressions-list=scripts/cppcheck/suppressions.txt --inline-suppr \
    --error-exitcode=1 -D_GNU_SOURCE -I src --quiet -j "$(nproc)" src/

echo "== clang-tidy"
CC=clang cmake -S . -B build-lint -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
python3 scripts/tidy.py build-lint
