#!/bin/sh
# softcap_ptx.sh ATTNC SPEC DIR: the GPU hook path lowers tanh to ex2.approx + rcp.approx (no
# f32 division left: `score / c` becomes a product), for both GPU targets. Numeric accuracy is
# checked on a GPU by tests/gpu/gpu_maps (softcap against the f64 reference).
attnc=$1; spec=$2; dir=$3
mkdir -p "$dir"
for t in sm_90a sm_80; do
  "$attnc" --target=$t --emit=ptx "$spec" -o "$dir/softcap_$t.ptx" || { echo "FAIL: $t"; exit 1; }
  f="$dir/softcap_$t.ptx"
  grep -q 'rcp\.approx\.ftz\.f32' "$f" || { echo "FAIL: $t: no rcp.approx.ftz"; exit 1; }
  if grep -q 'div\.\(full\|rn\)\.f32' "$f"; then echo "FAIL: $t: an f32 division is left"; exit 1; fi
done
echo "softcap PTX: tanh as ex2 + rcp, no f32 division"
