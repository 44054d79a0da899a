#!/usr/bin/env bash
# Black-box suite: drives $PARLEY_BUILD_DIR/parleyd and parley (default
# <repo>/build) over real sockets, in parallel (pytest -n auto).
#
#   tests/blackbox/run.sh                   # everything
#   tests/blackbox/run.sh -k ws -x          # extra arguments go to pytest
#
# The venv lives in $PARLEY_BUILD_DIR/venv; pip runs only when
# requirements.txt changed since the last install (sha256 stamp).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${PARLEY_BUILD_DIR:-$repo/build}"
if [ ! -d "$build" ]; then
    echo "run.sh: build dir $build does not exist (build first)" >&2
    exit 2
fi
export PARLEY_BUILD_DIR="$(cd "$build" && pwd)"
venv="${PARLEY_VENV:-$PARLEY_BUILD_DIR/venv}"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv"; then
        echo "run.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
        rm -rf "$venv"
        exit 2
    fi
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi

cd "$repo"
exec "$venv/bin/python" -m pytest -n auto -q "${@:-tests/blackbox}"
