#!/bin/sh
# gpu_default_emit.sh ATTNC SPEC DIR: with a GPU target and no --emit, attnc writes PTX (a GPU
# target emits no object files); with a CPU target the default stays an object file.
attnc=$1; spec=$2; dir=$3
mkdir -p "$dir"
"$attnc" --target=sm_90a "$spec" -o "$dir/k.ptx" || { echo "FAIL: sm_90a without --emit"; exit 1; }
grep -q '^\.visible \.entry' "$dir/k.ptx" || { echo "FAIL: no PTX entry in the output"; exit 1; }
grep -q '^\.target sm_90a' "$dir/k.ptx" || { echo "FAIL: not sm_90a PTX"; exit 1; }
"$attnc" --target=sm_80 "$spec" -o "$dir/k80.ptx" && grep -q '^\.target sm_80' "$dir/k80.ptx" ||
    { echo "FAIL: sm_80 without --emit"; exit 1; }
"$attnc" --target=x86-64-v3 "$spec" -o "$dir/k.o" || { echo "FAIL: CPU default"; exit 1; }
head -c 4 "$dir/k.o" | od -c | grep -q 'E   L   F' || { echo "FAIL: CPU default is not ELF"; exit 1; }
echo "default emit: PTX for GPU targets, an object file for CPU targets"
