#!/bin/sh
# reference_target.sh ATTNC EXAMPLES_DIR: the "reference" target runs every example, the
# recurrences and selectors that no code generator handles included, through the f64
# evaluator (`attnc run --target=reference` launches it and compares with attn_reference);
# it refuses to emit code with its own message.
attnc=$1; ex=$2
export ATTN_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$ATTN_CACHE_DIR"' EXIT
fail=0
for spec in "$ex"/*.attn; do
  sizes="-D Lq=40 -D Lk=70"
  grep -q "^ *state " "$spec" && sizes="-D T=33"   # a recurrence's length is its time axis
  out=$("$attnc" run "$spec" --target=reference -D B=1 $sizes --repeat 1 2>&1)
  if echo "$out" | grep -q "^PASS"; then echo "PASS $(basename "$spec")"
  else echo "FAIL $(basename "$spec")"; echo "$out" | tail -8; fail=1; fi
done
out=$("$attnc" --target=reference --emit=obj "$ex/causal.attn" -o /dev/null 2>&1)
if [ $? -ne 0 ] && echo "$out" | grep -q "generates no code"; then echo "PASS --emit=obj refused"
else echo "FAIL --emit=obj with the reference target: $out"; fail=1; fi
exit $fail
