#!/bin/sh
# setup.sh: installs what attnc needs to build (on Debian 12 / Ubuntu, through apt-get, only the
# packages that are missing) and configures and builds it in build/.
#   ATTNC_BUILD_DIR   build directory (default: build)
#   ATTNC_CMAKE_ARGS  extra arguments for cmake's configure step
#   ATTNC_JOBS        parallel jobs (default: the number of cores)
# The CUDA toolkit is optional: without ptxas the PTX tests say they are skipped.
set -eu
cd "$(dirname "$0")/.."

need="cmake make gcc libc6-dev llvm-19-dev libzstd-dev zlib1g-dev flex bison clang-19
      libclang-rt-19-dev libopenblas-dev python3 python3-numpy pkg-config"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: missing packages:$missing (no apt-get here: install them by hand)" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup.sh: installing$missing"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

build=${ATTNC_BUILD_DIR:-build}
jobs=${ATTNC_JOBS:-$(nproc)}
# shellcheck disable=SC2086
cmake -S . -B "$build" ${ATTNC_CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
