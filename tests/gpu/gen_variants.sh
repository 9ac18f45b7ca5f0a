#!/bin/sh
# gen_variants.sh PTX_GEN OUTDIR [tune]: writes the kernel variants that gpu_fa checks and times
# (PTX files + manifest.txt) into OUTDIR. Variants without a TILE use the tile table (compiler/ptx/skel_fa.c);
# "tune" adds alternative tile shapes for the benchmark.
set -e
gen=$1; out=$2; mode=$3
mkdir -p "$out"
: > "$out/manifest.txt"
# v NAME SM DK DV MASK LSE DTYPE ROLE [TILE: warps,m-tiles,block_n,stages,q-in-regs,wgmma,min-ctas]
v() {
  name=$1; sm=$2; dk=$3; dv=$4; mask=$5; lse=$6; dt=$7; role=$8; tile=$9
  args="--sm $sm --dk $dk --dv $dv --mask $mask --dtype $dt --entry attn_$name -o $out/$name.ptx"
  [ "$lse" = 1 ] && args="$args --lse"
  [ -n "$tile" ] && args="$args --tile $tile"
  shape=$($gen $args)
  c=0; [ "$mask" = causal ] && c=1
  echo "$name $name.ptx attn_$name $sm $dk $dv $c $lse $dt $shape $role" >> "$out/manifest.txt"
}
# sm_90a table rows (wgmma)
v d128_full         90 128 128 none   1 bf16 both
v d128_causal       90 128 128 causal 1 bf16 both
v d64_full          90 64  64  none   1 bf16 both
v d64_causal        90 64  64  causal 1 bf16 both
v d256_full         90 256 256 none   1 bf16 check
v d256_causal       90 256 256 causal 0 bf16 check
v dk40_dv72_causal  90 40  72  causal 1 bf16 check
v dk192_dv128       90 192 128 none   1 bf16 check
v d32_f16_causal    90 32  32  causal 1 f16  check
v d96_f16_full      90 96  96  none   0 f16  check
v dk64_dv128_f16    90 64  128 causal 1 f16  check
# sm_80 table rows (mma.sync; run on the same GPU through the driver's PTX JIT)
v sm80_d128_full    80 128 128 none   1 bf16 both
v sm80_d128_causal  80 128 128 causal 1 bf16 both
v sm80_d64_full     80 64  64  none   1 bf16 check
v sm80_d64_causal   80 64  64  causal 1 bf16 check
v sm80_d256_full    80 256 256 none   1 bf16 check
v sm80_dk40_dv72    80 40  72  causal 1 f16  check
if [ "$mode" = tune ]; then
  v t128_16w_n64_s3   90 128 128 none   0 bf16 bench 16,1,64,3,0,1,1
  v t128c_16w_n64     90 128 128 causal 0 bf16 bench 16,1,64,2,0,1,1
  v t64_8w_n128_s3m2  90 64  64  none   0 bf16 bench 8,1,128,3,0,1,2
  v t64c_4w_n64_m4    90 64  64  causal 0 bf16 bench 4,1,64,2,0,1,4
fi
