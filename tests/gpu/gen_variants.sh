#!/bin/sh
# gen_variants.sh PTX_GEN OUTDIR [tune]: writes the kernel variants that gpu_fa checks and times
# (PTX files + manifest.txt) into OUTDIR. "tune" adds alternative tile shapes for the benchmark.
set -e
gen=$1; out=$2; mode=$3
mkdir -p "$out"
: > "$out/manifest.txt"
# v NAME SM DK DV MASK LSE DTYPE ROLE [TILE]
v() {
  name=$1; sm=$2; dk=$3; dv=$4; mask=$5; lse=$6; dt=$7; role=$8; tile=$9
  args="--sm $sm --dk $dk --dv $dv --mask $mask --dtype $dt --entry attn_$name -o $out/$name.ptx"
  [ "$lse" = 1 ] && args="$args --lse"
  [ -n "$tile" ] && args="$args --tile $tile"
  shape=$($gen $args)
  c=0; [ "$mask" = causal ] && c=1
  echo "$name $name.ptx attn_$name $sm $dk $dv $c $lse $dt $shape $role" >> "$out/manifest.txt"
}
v d128_full        90 128 128 none   1 bf16 both
v d128_causal      90 128 128 causal 1 bf16 both
v d64_full         90 64  64  none   1 bf16 both
v d64_causal       90 64  64  causal 1 bf16 both
v d256_full        90 256 256 none   1 bf16 check
v d256_causal      90 256 256 causal 0 bf16 check
v dk40_dv72_causal 90 40  72  causal 1 bf16 check
v dk192_dv128      90 192 128 none   1 bf16 check
v d32_f16_causal   90 32  32  causal 1 f16  check
v d96_f16_full     90 96  96  none   0 f16  check
v sm80_d128_causal 80 128 128 causal 1 bf16 check
v sm80_d256_full   80 256 256 none   1 bf16 check
if [ "$mode" = tune ]; then
  v t128_4x2_n64_s3   90 128 128 none 0 bf16 bench 4,2,64,3,0
  v t128_8x1_n64_s2   90 128 128 none 0 bf16 bench 8,1,64,2,0
  v t128_8x1_n64_q    90 128 128 none 0 bf16 bench 8,1,64,2,1
  v t128_8x1_n128_s2  90 128 128 none 0 bf16 bench 8,1,128,2,0
  v t128_4x2_n32_s2   90 128 128 none 0 bf16 bench 4,2,32,2,0
  v t64_4x2_n64_s2    90 64 64 none 0 bf16 bench 4,2,64,2,0
  v t64_8x1_n128_q    90 64 64 none 0 bf16 bench 8,1,128,2,1
  v t64_4x2_n128_s3   90 64 64 none 0 bf16 bench 4,2,128,3,0
fi
