#!/bin/sh
# run.sh ATTNC CC LIBATTN ROOT DIR: the ahead-of-time path from the command line, for the CPU:
# attnc --emit=obj,header (x86-64-v4 when the host has AVX-512, else native), cc against the
# header, link with the object and the shared libattn of this build, run aot_check; then the
# same for a recurrence (examples/deltanet.attn, aot_recur) and a sparsity selector
# (examples/nsa.attn, aot_select).
attnc=$1; cc=$2; lib=$3; root=$4; dir=$5; cflags=$6   # cflags: the build's sanitizer flags
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 2
target=native
if grep -qw avx512f /proc/cpuinfo 2>/dev/null && grep -qw avx512bw /proc/cpuinfo \
   && grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo; then
    target=x86-64-v4
fi
echo "target $target"
# aot_case SPEC PROGRAM: the spec's object and header, PROGRAM.c compiled against the header
# and linked with them and libattn, then run.
aot_case() {
    "$attnc" --target=$target --emit=obj,header "$root/examples/$1.attn" -o "$1" || exit 1
    [ -s "$1.o" ] && [ -s "$1.h" ] || { echo "FAIL: $1.o or $1.h missing"; exit 1; }
    "$cc" $cflags -std=c17 -Wall -Wextra -Werror -I. -I"$root/runtime/include" -c "$root/tests/aot/$2.c" \
        -o "$2.o" || exit 1
    "$cc" $cflags "$2.o" "$1.o" "$lib" -Wl,-rpath,"$(dirname "$lib")" -lm -o "$2" || exit 1
    ./"$2" || exit $?
}
aot_case causal aot_check
aot_case deltanet aot_recur     # a recurrence with its state in and out
aot_case nsa aot_select         # a sparsity selector: three entries and the runtime's top-k
