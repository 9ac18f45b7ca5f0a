#!/bin/sh
# select_given.sh ATTNC DIR: a selection given as input (`select ... from idx;`) runs on the CPU
# targets through `attnc run` against the f64 reference, blocks and tokens, with the kept
# indices written back (`sel = select;`, compared exactly): attnc run fills idx with random ids
# in [-1, candidates), so rows carry -1, repeats and blocks the mask leaves empty; odd sizes,
# decode (Lq < Lk), one row, GQA, every dtype. The GPU targets refuse it by name.
attnc=$1; dir=$2
mkdir -p "$dir"
spec() {   # spec NAME SELECT-LINE
  cat <<SPEC
attention $1 {
  in  q: f32[B, Hq, Lq, 64];
  in  k: f32[B, Hkv, Lk, 64];
  in  v: f32[B, Hkv, Lk, 48];
  in  idx: i32[B, Hq, Lq, 5];
  out o: f32[B, Hq, Lq, 48];
  out lse: f32[B, Hq, Lq];
  out sel: i32[B, Hq, Lq, 5];
  $2
  sel = select;
  mask = j <= i;
}
SPEC
}
spec given_blocks "select blocks(16) top 5 from idx;" > "$dir/given_blocks.attn"
spec given_tokens "select tokens top 5 from idx;" > "$dir/given_tokens.attn"
fail=0
for s in given_blocks given_tokens; do
  for t in native x86-64-v3; do
    for run in "-D B=2 -D Hq=4 -D Hkv=2 -D Lq=77 -D Lk=130 --dtype f32" \
               "-D B=1 -D Hq=2 -D Hkv=1 -D Lq=3 -D Lk=301 --dtype bf16" \
               "-D B=2 -D Hq=3 -D Hkv=3 -D Lq=1 -D Lk=17 --dtype f16"; do
      out=$("$attnc" run "$dir/$s.attn" --target=$t $run --repeat 1 2>&1)
      if echo "$out" | grep -q "^PASS" && echo "$out" | grep -q "^  sel .* ok$"; then echo "PASS $s $t $run"
      else echo "FAIL $s $t $run: $out"; fail=1; fi
    done
  done
  out=$("$attnc" --target=sm_90a --emit=ptx "$dir/$s.attn" -o /dev/null 2>&1)
  if [ $? -ne 0 ] && echo "$out" | grep -q "a sparsity selector is not supported on target sm_90a yet"; then
    echo "PASS $s refused on sm_90a"
  else echo "FAIL $s sm_90a: $out"; fail=1; fi
done
exit $fail
