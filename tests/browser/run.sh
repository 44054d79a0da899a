#!/usr/bin/env bash
# Browser suite: the web client in Debian's chromium (headless, driven by
# playwright-core from npm; no browser download) against the real
# $PARLEY_BUILD_DIR/parleyd (default <repo>/build), plus node unit tests of
# the client's pure modules. Screenshots go to test-output/browser/.
#
#   tests/browser/run.sh                    # everything
#   tests/browser/run.sh unit.test.mjs      # one file
#
# Needs `scripts/deps.sh browser` (chromium, node, npm ci of the lockfile).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${PARLEY_BUILD_DIR:-$repo/build}"
if [ ! -x "$build/parleyd" ]; then
    echo "run.sh: $build/parleyd does not exist (build first)" >&2
    exit 2
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
    echo "run.sh: playwright-core is not installed (scripts/deps.sh browser)" >&2
    exit 2
fi
export PARLEY_CHROMIUM="${PARLEY_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$PARLEY_CHROMIUM" ]; then
    echo "run.sh: no chromium at $PARLEY_CHROMIUM (scripts/deps.sh browser)" >&2
    exit 2
fi
export PARLEY_BUILD_DIR="$(cd "$build" && pwd)"
cd "$here"
[ $# -gt 0 ] || set -- unit.test.mjs chat.test.mjs
exec node --test "$@"
