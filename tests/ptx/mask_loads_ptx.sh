#!/bin/sh
# mask_loads_ptx.sh ATTNC PTXAS DIR IJ_SPEC SPEC...: masks that read side tensors
# (`doc[b, i] == doc[b, j]`, `g[b, j] != 0`) load each side-tensor value once per row or once
# per key, not once per score element: in the attention entry the row values are loaded before
# the key loop and the key values once per key tile into shared memory (so a handful of i32
# global loads in all, where per-element evaluation had 16 in every tile's code), and the mask
# reads the key values back from shared memory; the map entry loads each key's values once and
# its rows' once. Both GPU targets. IJ_SPEC also reads by (i, j): that read stays per element
# (and --explain says so), and its PTX must assemble (with PTXAS, when there is one). The values
# themselves are checked on a GPU (tests/gpu/run_all.sh).
attnc=$1; ptxas=$2; dir=$3; ij=$4; shift 4
mkdir -p "$dir"
# entry NAME FILE: the body of one kernel entry of a PTX module
entry() { awk -v E="$1" '$0 ~ "^.visible .entry "E"\\(" {on=1; next} /^.visible .entry/ {on=0} on' "$2"; }
for spec in "$@"; do
  name=$(basename "$spec" .attn)
  for t in sm_90a sm_80; do
    f="$dir/${name}_$t.ptx"
    "$attnc" --target=$t --emit=ptx "$spec" -o "$f" || { echo "FAIL: $name $t: no PTX"; exit 1; }
    n=$(entry "$name" "$f" | grep -c 'ld\.global\.u32')
    s=$(entry "$name" "$f" | grep -c 'ld\.shared\.\(v2\.\)\?u32')
    m=$(entry "${name}_map" "$f" | grep -c 'ld\.global\.u32')
    ms=$(entry "${name}_map" "$f" | grep -c 'ld\.shared\.u32')
    [ "$n" -ge 1 ] && [ "$n" -le 6 ] || { echo "FAIL: $name $t: $n i32 global loads in the attention entry (1 to 6 expected)"; exit 1; }
    [ "$s" -ge 1 ] || { echo "FAIL: $name $t: the mask does not read key values from shared memory"; exit 1; }
    [ "$m" -ge 1 ] && [ "$m" -le 2 ] || { echo "FAIL: $name $t: $m i32 global loads in the map entry (1 or 2 expected)"; exit 1; }
    [ "$ms" -ge 1 ] || { echo "FAIL: $name $t: the map does not read row values from shared memory"; exit 1; }
    echo "$name $t: attention $n global / $s shared loads, map $m global / $ms shared"
  done
done
name=$(basename "$ij" .attn)
"$attnc" --explain --target=sm_90a "$ij" | grep -q "a side-tensor read depends on both i and j" ||
  { echo "FAIL: $name: --explain does not say the mask is evaluated per element"; exit 1; }
for t in sm_90a sm_80; do
  f="$dir/${name}_$t.ptx"
  "$attnc" --target=$t --emit=ptx "$ij" -o "$f" || { echo "FAIL: $name $t: no PTX"; exit 1; }
  n=$(entry "$name" "$f" | grep -c 'ld\.global\.u32')
  [ "$n" -ge 8 ] || { echo "FAIL: $name $t: $n i32 global loads: the (i, j) read is not made per element"; exit 1; }
  if [ -n "$ptxas" ] && [ -x "$ptxas" ]; then
    "$ptxas" -arch=$t "$f" -o "$f.cubin" || { echo "FAIL: $name $t: ptxas"; exit 1; }
  fi
  echo "$name $t: $n i32 global loads (per element), assembles"
done
