#!/bin/sh
# examples_ptx.sh ATTNC PTXAS EXAMPLES_DIR DIR [MIN]: every example a GPU target accepts is emitted as
# PTX for sm_90a and sm_80 and each module (attention, decode, combine and, for side-tensor
# masks, map entries; a recurrence's scan entry) assembles with ptxas for its architecture; an
# example the GPU targets refuse is refused with "not supported on target" (a selector, a
# sequential scan), never a crash.
# Without ptxas (no CUDA toolkit) the PTX is still emitted and the test says what it skipped.
# At least MIN modules (default 20) must be emitted. tests/regress uses it for its specs too.
attnc=$1; ptxas=$2; ex=$3; dir=$4; min=${5:-20}
mkdir -p "$dir"
have_ptxas=0
[ -n "$ptxas" ] && [ -x "$ptxas" ] && have_ptxas=1
fail=0; ok=0; refused=0
for spec in "$ex"/*.attn; do
  name=$(basename "$spec" .attn)
  for t in sm_90a sm_80; do
    f="$dir/${name}_$t.ptx"
    if ! "$attnc" --target=$t --emit=ptx "$spec" -o "$f" 2>"$f.err"; then
      if grep -q "not supported on\|must all be bf16 or all f16" "$f.err"; then
        refused=$((refused + 1)); continue
      fi
      echo "FAIL: $name $t: refused without saying why:"; cat "$f.err"; fail=1; continue
    fi
    entries=$(grep -c '^\.visible \.entry' "$f")
    if grep -q "^ *state " "$spec"; then   # a recurrence: its one scan entry
      [ "$entries" -eq 1 ] || { echo "FAIL: $name $t: $entries entries (one recurrence entry expected)"; fail=1; }
    else
      [ "$entries" -ge 3 ] || { echo "FAIL: $name $t: $entries entries (attention, decode, combine expected)"; fail=1; }
    fi
    if [ $have_ptxas = 1 ]; then
      if ! out=$("$ptxas" -arch=$t -v "$f" -o "$f.cubin" 2>&1); then
        echo "FAIL: $name $t: ptxas:"; echo "$out" | grep -v '^ptxas info' | head -20; fail=1; continue
      fi
      [ "$(echo "$out" | grep -c 'Compiling entry')" -eq "$entries" ] ||
        { echo "FAIL: $name $t: ptxas compiled fewer entries than the module has"; fail=1; }
    fi
    ok=$((ok + 1))
  done
done
[ $ok -ge "$min" ] || { echo "FAIL: only $ok example modules emitted"; fail=1; }
if [ $have_ptxas = 1 ]; then what="assembled with ptxas"; else what="emitted (no ptxas: not assembled)"; fi
[ $fail -eq 0 ] && echo "PASS: $ok example modules $what for sm_90a and sm_80; $refused refused as not supported"
exit $fail
