#!/bin/sh
# hook_sum.sh ATTNC DIR: sum(r < n: e) in hooks generates code on every target (the hook
# emitter unrolls it): a score sum over a side tensor and an i32 sum in a mask run on the CPU
# against the f64 reference at odd sizes, and their PTX for sm_90a and sm_80 assembles (when
# ptxas is on PATH); a sum of more terms than the emitter unrolls is refused at the whole sum
# (not at its bound variable) with a hint, and still runs on the reference target.
attnc=$1; dir=$2
mkdir -p "$dir"
head() {   # a spec's first lines: its name and q, k, v over [B, H, L, 64]
  printf 'attention %s {\n' "$1"
  for t in q k v; do printf '  in  %s: bf16[B, H, L, 64];\n' $t; done
}
spec="$dir/sum_hook.attn"
{ head sum_hook; cat <<'SPEC'; } > "$spec"
  in  w: f32[H, 8];
  out o: bf16[B, H, L, 64];
  score = score + sum(r < 8: w[h, r] * float((i - j) % (r + 2)));
  mask = j <= i && sum(r < 3: select(j >= i - 40 * (r + 1), 1, 0)) >= 2;
}
SPEC
fail=0
for t in native x86-64-v3; do
  for sizes in "-D B=2 -D H=3 -D L=157" "-D B=1 -D H=1 -D L=1"; do
    out=$("$attnc" run "$spec" --target=$t $sizes --repeat 1 2>&1)
    if echo "$out" | grep -q "^PASS"; then echo "PASS $t $sizes"
    else echo "FAIL $t $sizes: $out"; fail=1; fi
  done
done
for t in sm_90a sm_80; do
  if ! out=$("$attnc" --target=$t --emit=ptx "$spec" -o "$dir/sum_$t.ptx" 2>&1); then
    echo "FAIL $t: $out"; fail=1
  elif command -v ptxas >/dev/null 2>&1 && ! out=$(ptxas -arch=$t "$dir/sum_$t.ptx" -o /dev/null 2>&1); then
    echo "FAIL $t ptxas: $out"; fail=1
  else echo "PASS $t emits (and assembles) the sums"; fi
done
big="$dir/sum_big.attn"
{ head sum_big; cat <<'SPEC'; } > "$big"
  out o: bf16[B, H, L, 64];
  score = score + sum(r < 65: 0.125 * r);
}
SPEC
for t in native sm_90a; do
  msg="sum_big.attn:6:19: error: sum(r < n: e) with n = 65 terms is not supported on target $t yet (at most 64)"
  out=$("$attnc" --target=$t --emit=llvm "$big" -o /dev/null 2>&1)
  if [ $? -ne 0 ] && echo "$out" | grep -qF "$msg" &&
     echo "$out" | grep -qx "                  ^~~~~~~~~~~~~~~~~~~~~~" &&
     echo "$out" | grep -q "^hint: "; then echo "PASS $t refuses 65 terms at the sum with a hint"
  else echo "FAIL $t: $out"; fail=1; fi
done
out=$("$attnc" run "$big" --target=reference -D B=1 -D H=1 -D L=20 --repeat 1 2>&1)
if echo "$out" | grep -q "^PASS"; then echo "PASS reference runs it"
else echo "FAIL reference: $out"; fail=1; fi
exit $fail
