#!/bin/sh
# cut_ptx.sh ATTNC PTX_CUT PTXAS SPEC DIR: emits SPEC's PTX for sm_90a, cuts it into one module
# per kernel as the runtime does, and assembles each piece with ptxas (exit 77 without ptxas).
attnc=$1 cut=$2 ptxas=$3 spec=$4 dir=$5
if [ -z "$ptxas" ] || [ ! -x "$ptxas" ]; then echo "SKIP: no ptxas"; exit 77; fi
rm -rf "$dir" && mkdir -p "$dir" || exit 1
"$attnc" --target=sm_90a --emit=ptx "$spec" -o "$dir/module.ptx" || exit 1
names=$("$cut" "$dir/module.ptx" "$dir") || exit 1
n=0
for e in $names; do
  "$ptxas" -arch=sm_90a "$dir/$e.ptx" -o "$dir/$e.cubin" || { echo "FAIL ptxas $e"; exit 1; }
  n=$((n + 1))
done
[ "$n" -eq 4 ] || { echo "FAIL expected 4 kernels (attention, map, decode, combine), got $n: $names"; exit 1; }
echo "PASS $n kernels cut and assembled: $(echo $names)"
