#!/usr/bin/env bash
# run.sh - what `make run` runs: parleyd in the foreground until Ctrl-C,
# and, once it accepts connections, the address to open in a browser.
#   scripts/run.sh BUILD_DIR LISTEN DATA_DIR
set -euo pipefail
build=$1 listen=$2 data=$3
host=${listen%:*}
port=${listen##*:}
case "$host" in
0.0.0.0 | "" | "[::]" | "::") probe=127.0.0.1 ;;
*) probe=$host ;;
esac
url="http://$probe:$port/"

"$build/parleyd" --listen "$listen" --data-dir "$data" &
pid=$!
# a non-interactive shell's background job ignores SIGINT: pass Ctrl-C on
# as SIGTERM, which parleyd answers with a clean shutdown
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM

for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/${probe//[\[\]]/}/$port") 2>/dev/null; then
        cat <<MSG

Parley is running (data in $data). Chat from the command line with
$build/parley (README.md has a two-terminal chat). Stop with Ctrl-C.

    Open $url in a browser to chat.

MSG
        break
    fi
    sleep 0.1
done
rc=0
wait "$pid" || rc=$?
# the trap interrupted the first wait: wait for the real exit status
if kill -0 "$pid" 2>/dev/null; then
    rc=0
    wait "$pid" || rc=$?
fi
exit "$rc"
