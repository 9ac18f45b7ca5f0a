#!/bin/sh
# check_ptx.sh PTX_GEN PTXAS DIR: generates kernel variants and assembles each with ptxas for its
# target; fails on any ptxas error, and on local-memory spills larger than 128 bytes (a spill
# that large means the tile table row no longer fits the register file).
gen=$1; ptxas=$2; dir=$3
if [ -z "$ptxas" ] || [ ! -x "$ptxas" ]; then echo "SKIP: ptxas not found"; exit 77; fi
mkdir -p "$dir"
fail=0; n=0
for sm in 80 90; do
  arch=sm_80; [ $sm = 90 ] && arch=sm_90a
  for shape in "64 64" "128 128" "256 256" "32 32" "40 72" "192 128" "96 96" "16 16"; do
    set -- $shape
    for mask in none causal; do
      for extra in "--dtype bf16 --lse" "--dtype f16"; do
        f="$dir/k_${sm}_$1_$2_${mask}_$(echo $extra | tr -d ' -').ptx"
        if ! "$gen" --sm $sm --dk $1 --dv $2 --mask $mask $extra --decode -o "$f" > /dev/null; then
          echo "FAIL generate: sm $sm dk $1 dv $2 $mask $extra"; fail=1; continue
        fi
        out=$("$ptxas" -arch=$arch -v "$f" -o "$f.cubin" 2>&1)
        if [ $? -ne 0 ]; then echo "FAIL ptxas $arch: $f"; echo "$out"; fail=1; continue; fi
        # every entry of the module (the skeleton, the decode split and combine): the largest
        spill=$(echo "$out" | sed -n 's/.* \([0-9]*\) bytes spill stores.*/\1/p' | sort -n | tail -1)
        [ "$(echo "$out" | grep -c 'Compiling entry')" -eq 3 ] || { echo "FAIL entries: $f"; fail=1; }
        if [ "${spill:-0}" -gt 128 ]; then echo "FAIL spills $spill B: $f"; fail=1; fi
        n=$((n + 1))
      done
    done
  done
done
echo "$n kernels assembled"
exit $fail
