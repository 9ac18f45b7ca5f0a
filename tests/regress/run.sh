#!/bin/sh
# run.sh ATTNC: the specs beside this script, each one a bug found once (by tests/specfuzz or
# by hand), through `attnc run` on the CPU (native) at odd sizes against the f64 reference.
# Their PTX for sm_90a and sm_80 goes through tests/ptx/examples_ptx.sh (ctest regress_ptx);
# on a GPU machine, tests/gpu/run_all.sh runs them too:
#   GPU_TESTS=regress sh tests/gpu/run_all.sh build
attnc=$1
here=$(dirname "$0")
fail=0; n=0
for spec in "$here"/*.attn; do
  name=$(basename "$spec" .attn)
  for sizes in "-D B=2 -D H=2 -D Lq=77 -D Lk=300" "-D B=1 -D H=3 -D Lq=1 -D Lk=130" \
               "-D B=1 -D H=1 -D Lq=65 -D Lk=65" "-D B=1 -D H=1 -D Lq=4 -D Lk=10"; do
    out=$("$attnc" run "$spec" --target=native $sizes --repeat 1 2>&1)
    if echo "$out" | grep -q "^PASS"; then n=$((n + 1))
    else echo "FAIL: $name native $sizes"; echo "$out" | tail -5; fail=1; fi
  done
done
[ $fail -eq 0 ] && echo "PASS: $n checks of $(ls "$here"/*.attn | wc -l) specs"
exit $fail
