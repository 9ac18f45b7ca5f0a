#!/bin/sh
# test.sh: everything CI checks, in order, stopping at the first failure.
#   1. setup.sh with -DATTNC_WERROR=ON, then the whole ctest suite (build/)
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   3. the front end's libFuzzer target, built with clang-19, run for ATTNC_FUZZ_SECONDS
#      (default 60) from the example and diagnostic specs and the long and deep specs of
#      tests/fuzz/gen_long_inputs.sh (build-fuzz/)
# ATTNC_TEST_SANITIZE=0 skips step 2, ATTNC_FUZZ_SECONDS=0 skips step 3.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${ATTNC_JOBS:-$(nproc)}
# ptxas, when the CUDA toolkit is installed, for the PTX tests (they skip without it).
[ -d /usr/local/cuda/bin ] && PATH="$PATH:/usr/local/cuda/bin" && export PATH

stamp() { echo "== $(date +%H:%M:%S) $*"; }

stamp "build (warnings are errors) and test"
ATTNC_CMAKE_ARGS="-DATTNC_WERROR=ON ${ATTNC_CMAKE_ARGS:-}" scripts/setup.sh
(cd build && ctest --output-on-failure -j "$jobs")

if [ "${ATTNC_TEST_SANITIZE:-1}" != 0 ]; then
    stamp "build and test under ASan + UBSan"
    cmake -S . -B build-asan -DATTNC_WERROR=ON -DATTNC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    cmake --build build-asan -j "$jobs"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j "$jobs")
fi

seconds=${ATTNC_FUZZ_SECONDS:-60}
if [ "$seconds" != 0 ]; then
    stamp "fuzz the front end for ${seconds}s"
    CC=clang-19 cmake -S . -B build-fuzz -DATTNC_FUZZ=ON \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo
    if [ ! -f compiler/pipeline.c ]; then
        stamp "skipped: the fuzz target needs compiler/pipeline.c, which does not exist yet"
        seconds=0
    fi
fi
if [ "$seconds" != 0 ]; then
    cmake --build build-fuzz -j "$jobs" --target fuzz_frontend
    corpus=build-fuzz/corpus
    mkdir -p "$corpus"
    # -max_len: the target's own cap (FUZZ_MAX_INPUT), which the long seeds come close to
    build-fuzz/tests/fuzz/fuzz_frontend -max_total_time="$seconds" -timeout=10 -max_len=65536 \
        -rss_limit_mb=4096 -dict="$root/tests/fuzz/attn.dict" -print_final_stats=1 \
        -artifact_prefix=build-fuzz/ "$corpus" "$root/examples" "$root/tests/fuzz/seeds" \
        "$root/build-fuzz/tests/fuzz/long_seeds" \
        $( [ -d tests/diagnostics ] && echo "$root/tests/diagnostics" )
fi
stamp "all tests passed"
