#!/bin/sh
# build_id.sh ROOT CMAKE: the build id (cmake/build_id.cmake) must change when any file of the
# code generators changes, a file in compiler/ptx/ or compiler/cpu/ included.
set -eu
root=$1; cmake=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/runtime"
cp -R "$root/compiler" "$root/grammar" "$work/src/"
cp "$root/runtime/cache.c" "$work/src/runtime/"
id() { "$cmake" -DOUT="$work/id.h" -DROOT="$work/src" -P "$root/cmake/build_id.cmake" && cat "$work/id.h"; }
base=$(id)
fail=0
for f in compiler/ptx/module.c compiler/cpu/skel_fa.c compiler/ptx/gen.h compiler/pipeline.c; do
  cp "$work/src/$f" "$work/keep"
  echo "/* touched */" >> "$work/src/$f"
  now=$(id)
  if [ "$now" = "$base" ]; then echo "FAIL: touching $f leaves the build id at $base"; fail=1
  else echo "ok: touching $f changes the build id"; fi
  cp "$work/keep" "$work/src/$f"
done
[ "$(id)" = "$base" ] || { echo "FAIL: the build id does not come back with the sources"; fail=1; }
[ $fail -eq 0 ] && echo "PASS: the build id covers every folder of the compiler"
exit $fail
