#!/bin/sh
# spec_runs.sh ATTNC [EXAMPLES_DIR]: runs every example spec the GPU targets support through
# `attnc run` (compile, launch on the GPU, compare with the f64 reference) on odd shapes, for
# sm_90a and sm_80 (the latter through the driver's PTX JIT on newer GPUs). Prints one line per
# run and a summary; exits non-zero on any failure. Needs a CUDA GPU.
attnc=$1; ex=${2:-examples}
export ATTN_CACHE_DIR=${ATTN_CACHE_DIR:-/tmp/attn_cache}
pass=0; fail=0
for spec in alibi causal documents gemma2_local gpt_oss longformer mla prefix_lm rat_dilated sliding_window ssmax; do
  for target in sm_90a sm_80; do
    for sizes in "-D B=2 -D Lq=333 -D Lk=333" "-D B=1 -D Lq=77 -D Lk=300" "-D B=2 -D Lq=1 -D Lk=1000"; do
      out=$("$attnc" run "$ex/$spec.attn" --target=$target $sizes --dtype bf16 --repeat 1 2>&1)
      if echo "$out" | grep -q "^PASS"; then pass=$((pass + 1)); r=PASS; else fail=$((fail + 1)); r=FAIL; fi
      err=$(echo "$out" | grep -E "^  (o|lse) " | awk '{printf "%s %s  ", $1, $3}')
      echo "$r $spec $target $sizes  $err"
      [ $r = FAIL ] && echo "$out" | tail -6
    done
  done
done
echo "spec runs: $pass passed, $fail failed"
[ $fail = 0 ]
