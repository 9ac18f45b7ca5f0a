#!/bin/sh
# run_all.sh [BUILD_DIR] [EXAMPLES_DIR]: every GPU test, on a machine with an NVIDIA GPU.
#  1. gpu_fa: the skeleton's variants (tile table rows, head dims 32..256, Dk != Dv, f16/bf16,
#     GQA, Lq < Lk, decode, empty rows, tile maps) against the f64 reference;
#  1b. gpu_maps: tile maps kept across launches (shapes, params, streams, threads);
#  2. every example spec that a GPU target accepts, on sm_90a and sm_80, in bf16 and f16, on odd
#     shapes (B 2 with L 333; Lq 77 < Lk 300; decode), through `attnc run` (f64 reference);
#     recurrences over T in {333, 1, 64}; specs the GPU targets refuse (selectors, sequential
#     scans) are listed as not supported;
#     section "regress" does the same for tests/regress (specs that once failed);
#  2b. "decode": the split-KV decode entries (GQA groups, Lq 1..4, odd Lk);
#  3. compute-sanitizer memcheck and racecheck on a representative set (causal, documents,
#     longformer, gemma2_local, and the recurrence gated_deltanet) at small shapes;
#  3b. "special": NaN and Inf in masked keys, NaN and infinite logits and the other special values
#     of docs/language.md section 14 (tests/runtime/test_masked_nan), and an empty side tensor
#     refused, on both GPU targets;
#  4. "specfuzz": 30 random specs (tests/specfuzz, seed 1) on both GPU targets, 3 sizes each.
# Prints one line per check and the summary line "N passed, N failed"; exits non-zero on a
# failure. Without a GPU it says so and exits 0. GPU_TESTS picks sections (default: all of
# "fa maps examples regress decode sanitizer special recur specfuzz"), e.g. GPU_TESTS="decode sanitizer".
build=${1:-build}; ex=${2:-examples}
sections=" ${GPU_TESTS:-fa maps examples regress decode sanitizer special recur specfuzz} "
want() { case "$sections" in *" $1 "*) return 0;; esac; echo "---- $1: not in GPU_TESTS, skipped"; return 1; }
attnc=$build/attnc
export ATTN_CACHE_DIR=${ATTN_CACHE_DIR:-$(mktemp -d)}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIP: no NVIDIA GPU on this machine"; exit 0
fi
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "PASS $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# 1. the skeleton's variants
if ! want fa; then :
elif [ ! -x "$build/tests/ptx/ptx_gen" ] || [ ! -x "$build/tests/gpu/gpu_fa" ]; then
  echo "---- gpu_fa: $build/tests/ptx/ptx_gen or $build/tests/gpu/gpu_fa not built: skipped"
elif sh tests/gpu/gen_variants.sh "$build/tests/ptx/ptx_gen" "$build/gpu_kernels" >/dev/null &&
   out=$("$build/tests/gpu/gpu_fa" "$build/gpu_kernels/manifest.txt" 2>&1); then
  ok "gpu_fa: $(echo "$out" | tail -1)"
else
  bad "gpu_fa"; echo "$out" | tail -20
fi

# 1b. kept tile maps across shapes, params, streams and threads
if ! want maps; then :
elif [ -x "$build/tests/gpu/gpu_maps" ]; then
  if out=$("$build/tests/gpu/gpu_maps" 2>&1); then ok "gpu_maps: $(echo "$out" | tail -1)"
  else bad "gpu_maps"; echo "$out" | tail -20; fi
else
  echo "---- gpu_maps: not built: skipped"
fi

# 2. every spec of a folder that the GPU targets accept: the examples, and (section "regress")
#    tests/regress, each spec a bug found once
run_specs() {
  for spec in "$1"/*.attn; do
    name=$(basename "$spec" .attn)
    if ! msg=$("$attnc" --target=sm_90a --emit=ptx "$spec" -o /dev/null 2>&1); then
      echo "---- $name: not supported on the GPU targets ($(echo "$msg" | grep -m1 error: | sed 's/.*error: //'))"
      continue
    fi
    sizes_list='-D B=2 -D Lq=333 -D Lk=333|-D B=1 -D Lq=77 -D Lk=300|-D B=2 -D Lq=1 -D Lk=1000'
    grep -q "^ *state " "$spec" && sizes_list='-D B=2 -D T=333|-D B=1 -D T=1|-D B=3 -D T=64'   # a recurrence: its time axis
    for target in sm_90a sm_80; do
      for dtype in bf16 f16; do
        IFS='|'; set -- $sizes_list; unset IFS
        for sizes in "$@"; do
          out=$("$attnc" run "$spec" --target=$target $sizes --dtype $dtype --repeat 1 2>&1)
          err=$(echo "$out" | grep -E "^  (o|lse) " | awk '{printf "%s %s  ", $1, $3}')
          if echo "$out" | grep -q "^PASS"; then ok "$name $target $dtype $sizes  $err"
          else bad "$name $target $dtype $sizes  $err"; echo "$out" | tail -6; fi
        done
      done
    done
  done
}
want examples && run_specs "$ex"
want regress && run_specs tests/regress

# 2b. the split-KV decode entries (Lq * Hq / Hkv <= 64): GQA groups 1, 4, 8 and MQA, Lq 1..4,
#     odd Lk, causal / window / sink / ALiBi / Dk != Dv specs, bf16 and f16
want decode && for spec in causal sliding_window gpt_oss alibi mla gemma2_local; do
  [ -f "$ex/$spec.attn" ] || continue
  "$attnc" --target=sm_90a --emit=ptx "$ex/$spec.attn" -o /dev/null 2>/dev/null || continue
  for hh in "-D Hq=8 -D Hkv=8" "-D Hq=32 -D Hkv=8" "-D Hq=32 -D Hkv=4" "-D Hq=16 -D Hkv=1"; do
    for sz in "-D Lq=1 -D Lk=1001" "-D Lq=3 -D Lk=333" "-D Lq=4 -D Lk=4099" "-D Lq=2 -D Lk=37"; do
      for dtype in bf16 f16; do
        out=$("$attnc" run "$ex/$spec.attn" --target=sm_90a -D B=2 $hh $sz --dtype $dtype --repeat 1 2>&1)
        if echo "$out" | grep -q "^PASS"; then ok "decode $spec $hh $sz $dtype"
        else bad "decode $spec $hh $sz $dtype"; echo "$out" | tail -6; fi
      done
    done
  done
done

# 3. compute-sanitizer
if ! want sanitizer; then :
elif command -v compute-sanitizer >/dev/null 2>&1; then
  for spec in causal documents longformer gemma2_local gated_deltanet; do
    sizes="-D B=1 -D Hq=2 -D Hkv=2 -D Lq=130 -D Lk=190"
    [ $spec = gated_deltanet ] && sizes="-D B=1 -D H=2 -D T=40"   # a recurrence: its time axis
    for tool in memcheck racecheck; do
      out=$(compute-sanitizer --tool $tool --error-exitcode 3 "$attnc" run "$ex/$spec.attn" \
            --target=sm_90a $sizes --repeat 1 2>&1)
      if [ $? = 0 ] && echo "$out" | grep -q "^PASS"; then ok "$tool $spec"
      else bad "$tool $spec"; echo "$out" | tail -12; fi
    done
  done
else
  echo "---- compute-sanitizer not found: sanitizer checks not run"
fi

# 3b. special values (docs/language.md sections 13 and 14): NaN and Inf planted in masked k and
#     v rows, NaN and infinite logits, int() saturating, clamped indices, element by element
#     against the reference; a side tensor with an empty dim is refused before any launch
if want special; then
  if [ -x "$build/tests/runtime/test_masked_nan" ]; then
    for tt in "sm_90a bf16" "sm_90a f16" "sm_80 bf16" "sm_80 f16"; do
      if out=$("$build/tests/runtime/test_masked_nan" $tt 2>&1); then ok "special values $tt"
      else bad "special values $tt"; echo "$out" | grep -E "disagreements|CHECK" | grep -v " 0 disagreements" | head -12; fi
    done
  else
    echo "---- special values: $build/tests/runtime/test_masked_nan not built: skipped"
  fi
  for target in sm_90a sm_80; do
    out=$("$attnc" run tests/gpu/specs/empty_side.attn --target=$target -D W=0 -D Lq=5 -D Lk=7 2>&1)
    if [ $? != 0 ] && echo "$out" | grep -q "tensor 'bias': dim 1 is 0"; then ok "empty side tensor refused, $target"
    else bad "empty side tensor refused, $target"; echo "$out" | tail -4; fi
  done
fi

# 3c. "recur": the recurrence families (tests/runtime/test_recur: T 1..8192, head dims equal and
#     not, GQA and more value heads, BTHD, extreme gates, state in and out) on both GPU targets,
#     and the sequential scans refused with their reason
if want recur; then
  if [ -x "$build/tests/runtime/test_recur" ]; then
    for target in sm_90a sm_80; do
      if out=$("$build/tests/runtime/test_recur" $target 2>&1); then ok "recurrences $target: $(echo "$out" | tail -1)"
      else bad "recurrences $target"; echo "$out" | grep -E "CHECK" | head -12; fi
    done
  else
    echo "---- recur: $build/tests/runtime/test_recur not built: skipped"
  fi
fi

# 4. random specs (tests/specfuzz, a fixed seed) on both GPU targets against the f64 reference
if want specfuzz; then
  out=$(python3 tests/specfuzz/specfuzz.py --seed 1 --count 30 --targets sm_90a,sm_80 \
        --attnc "$attnc" --keep "$build/specfuzz-failures" 2>&1)
  if [ $? = 0 ]; then ok "specfuzz: $(echo "$out" | tail -1)"
  else bad "specfuzz: $(echo "$out" | tail -1)"; echo "$out" | grep -E "^FAIL" | head -20; fi
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
