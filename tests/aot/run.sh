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
"$attnc" --target=$target --emit=obj,header "$root/examples/causal.attn" -o causal || exit 1
[ -s causal.o ] && [ -s causal.h ] || { echo "FAIL: causal.o or causal.h missing"; exit 1; }
"$cc" $cflags -std=c17 -Wall -Wextra -Werror -I. -I"$root/runtime/include" -c "$root/tests/aot/aot_check.c" \
    -o aot_check.o || exit 1
"$cc" $cflags aot_check.o causal.o "$lib" -Wl,-rpath,"$(dirname "$lib")" -lm -o aot_check || exit 1
./aot_check
st=$?
[ $st -eq 0 ] || exit $st
# A recurrence with its state in and out, the same way.
"$attnc" --target=$target --emit=obj,header "$root/examples/deltanet.attn" -o deltanet || exit 1
"$cc" $cflags -std=c17 -Wall -Wextra -Werror -I. -I"$root/runtime/include" -c "$root/tests/aot/aot_recur.c" \
    -o aot_recur.o || exit 1
"$cc" $cflags aot_recur.o deltanet.o "$lib" -Wl,-rpath,"$(dirname "$lib")" -lm -o aot_recur || exit 1
./aot_recur
st=$?
[ $st -eq 0 ] || exit $st
# A sparsity selector (three entries and the runtime's top-k), the same way.
"$attnc" --target=$target --emit=obj,header "$root/examples/nsa.attn" -o nsa || exit 1
"$cc" $cflags -std=c17 -Wall -Wextra -Werror -I. -I"$root/runtime/include" -c "$root/tests/aot/aot_select.c" \
    -o aot_select.o || exit 1
"$cc" $cflags aot_select.o nsa.o "$lib" -Wl,-rpath,"$(dirname "$lib")" -lm -o aot_select || exit 1
./aot_select
