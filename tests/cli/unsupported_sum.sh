#!/bin/sh
# unsupported_sum.sh ATTNC DIR: a hook with sum(r < n: e), which no code generator emits yet, is
# refused on every code target with a message that names sum (not its bound variable), placed
# at the whole sum (not at the bound variable in its body), and a hint; it still runs on the
# reference target.
attnc=$1; dir=$2
mkdir -p "$dir"
spec="$dir/sum_hook.attn"
cat > "$spec" <<'SPEC'
attention sum_hook {
  in  q: bf16[B, H, L, 64];
  in  k: bf16[B, H, L, 64];
  in  v: bf16[B, H, L, 64];
  out o: bf16[B, H, L, 64];
  score = score + sum(r < 3: 0.125 * r);
}
SPEC
fail=0
for t in native sm_90a sm_80; do
  msg="sum_hook.attn:6:19: error: sum(r < n: e) is not supported on target $t yet"
  out=$("$attnc" --target=$t --emit=llvm "$spec" -o /dev/null 2>&1)
  if [ $? -ne 0 ] && echo "$out" | grep -qF "$msg" &&
     echo "$out" | grep -qx "                  ^~~~~~~~~~~~~~~~~~~~~" &&
     echo "$out" | grep -q "^hint: "; then echo "PASS $t refuses sum at the sum with a hint"
  else echo "FAIL $t: $out"; fail=1; fi
done
out=$("$attnc" run "$spec" --target=reference -D B=1 -D H=1 -D L=20 --repeat 1 2>&1)
if echo "$out" | grep -q "^PASS"; then echo "PASS reference runs it"
else echo "FAIL reference: $out"; fail=1; fi
exit $fail
