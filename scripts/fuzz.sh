#!/usr/bin/env bash
# fuzz.sh SECONDS - builds every libFuzzer target in fuzz/ with clang
# (ASan+UBSan) into build-fuzz/ and runs each for SECONDS on a copy of its
# seed corpus (fuzz/corpus/NAME). New findings are left in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPARLEY_FUZZ=ON >/dev/null
ninja -C build-fuzz $(cd fuzz && ls fuzz_*.c | sed 's/\.c$//')
status=0
for src in fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    corpus=build-fuzz/corpus/${name#fuzz_}
    mkdir -p "$corpus"
    cp -n fuzz/corpus/"${name#fuzz_}"/* "$corpus"/ 2>/dev/null || true
    echo "== $name for ${secs}s"
    if ! (cd build-fuzz && ./"$name" -max_total_time="$secs" -print_final_stats=0 \
            "corpus/${name#fuzz_}" 2>"$name.log"); then
        echo "FAIL: $name (see build-fuzz/$name.log)"
        tail -30 "build-fuzz/$name.log"
        status=1
    fi
done
exit $status
