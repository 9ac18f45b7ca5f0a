#!/bin/sh
# run.sh ATTNC PTXAS DIR: the specs beside this script, each one a bug found once (by
# tests/specfuzz or by hand), through `attnc run` on the CPU (native) at odd sizes against the
# f64 reference, and emitted as PTX for sm_90a and sm_80 and assembled with ptxas (when there
# is one). On a GPU machine, tests/gpu/run_all.sh runs them too:
#   GPU_TESTS=examples sh tests/gpu/run_all.sh build tests/regress
attnc=$1; ptxas=$2; dir=$3
here=$(dirname "$0")
mkdir -p "$dir"
fail=0; n=0
for spec in "$here"/*.attn; do
  name=$(basename "$spec" .attn)
  for sizes in "-D B=2 -D H=2 -D Lq=77 -D Lk=300" "-D B=1 -D H=3 -D Lq=1 -D Lk=130" \
               "-D B=1 -D H=1 -D Lq=65 -D Lk=65" "-D B=1 -D H=1 -D Lq=4 -D Lk=10"; do
    out=$("$attnc" run "$spec" --target=native $sizes --repeat 1 2>&1)
    if echo "$out" | grep -q "^PASS"; then n=$((n + 1))
    else echo "FAIL: $name native $sizes"; echo "$out" | tail -5; fail=1; fi
  done
  for t in sm_90a sm_80; do
    f="$dir/${name}_$t.ptx"
    if ! "$attnc" --target=$t --emit=ptx "$spec" -o "$f" 2>"$f.err"; then
      echo "FAIL: $name $t: no PTX"; cat "$f.err"; fail=1; continue
    fi
    if [ -n "$ptxas" ] && [ -x "$ptxas" ] && ! "$ptxas" -arch=$t "$f" -o "$f.cubin" 2>"$f.err"; then
      echo "FAIL: $name $t: ptxas"; head -20 "$f.err"; fail=1; continue
    fi
    n=$((n + 1))
  done
done
[ $fail -eq 0 ] && echo "PASS: $n checks of $(ls "$here"/*.attn | wc -l) specs"
exit $fail
