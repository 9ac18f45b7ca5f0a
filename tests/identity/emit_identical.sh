#!/bin/sh
# emit_identical.sh: proves a behaviour-preserving change of the code generator by its output.
# Every spec in examples/ and tests/regress/ and 120 random specs (specfuzz, seed 1) is emitted
# by two attnc binaries as PTX (sm_80, sm_90a), LLVM IR (sm_90a, x86-64-v4) and objects
# (x86-64-v3, x86-64-v4); each pair must be byte-identical, or refused alike (same message).
#
#   tests/identity/emit_identical.sh OLD_ATTNC NEW_ATTNC [WORKDIR]
#   tests/identity/emit_identical.sh --base REV NEW_ATTNC [WORKDIR]
#
# IDENTITY_FUZZ_COUNT=N takes N random specs instead of 120 (a quicker check while working).
# --base REV builds REV's attnc in a git worktree under WORKDIR first (minutes).
# Prints one line per differing artefact and a summary; exits 1 when anything differs.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${1:-}" = "--base" ]; then
  [ $# -ge 3 ] || { echo "usage: $0 --base REV NEW_ATTNC [WORKDIR]" >&2; exit 2; }
  rev=$2; new=$3; work=${4:-$(mktemp -d)}
  mkdir -p "$work"
  rm -rf "$work/base-src"
  git -C "$root" worktree add -f --detach "$work/base-src" "$rev" >/dev/null
  cmake -S "$work/base-src" -B "$work/base-build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$work/base-build" --target attnc -j"$(nproc)" >/dev/null
  git -C "$root" worktree remove --force "$work/base-src"   # the binary stays in base-build
  old="$work/base-build/attnc"
else
  [ $# -ge 2 ] || { echo "usage: $0 OLD_ATTNC NEW_ATTNC [WORKDIR]" >&2; exit 2; }
  old=$1; new=$2; work=${3:-$(mktemp -d)}
fi
for b in "$old" "$new"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }; done
old=$(cd "$(dirname "$old")" && pwd)/$(basename "$old")
new=$(cd "$(dirname "$new")" && pwd)/$(basename "$new")

specs="$work/specs"; rm -rf "$specs" "$work/old" "$work/new"; mkdir -p "$specs" "$work/old" "$work/new"
cp "$root"/examples/*.attn "$root"/tests/regress/*.attn "$specs"/
python3 - "$root/tests/specfuzz" "$specs" "${IDENTITY_FUZZ_COUNT:-120}" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import specfuzz
for i in range(int(sys.argv[3])):
    with open(f"{sys.argv[2]}/specfuzz_1_{i:03d}.attn", "w") as f:
        f.write(specfuzz.generate(1, i).text())
PY

# emit BIN OUTDIR: every artefact of every spec; stderr is kept so refusals compare too.
emit() {
  for f in "$specs"/*.attn; do
    n=$(basename "$f" .attn)
    for t in sm_80 sm_90a; do "$1" --target=$t --emit=ptx -o "$2/$n.$t.ptx" "$f" >/dev/null 2>"$2/$n.$t.ptx.err" || true; done
    for t in sm_90a x86-64-v4; do "$1" --target=$t --emit=llvm -o "$2/$n.$t.ll" "$f" >/dev/null 2>"$2/$n.$t.ll.err" || true; done
    for t in x86-64-v3 x86-64-v4; do "$1" --target=$t --emit=obj -o "$2/$n.$t.o" "$f" >/dev/null 2>"$2/$n.$t.o.err" || true; done
  done
}
emit "$old" "$work/old" &
emit "$new" "$work/new"
wait

nspec=$(ls "$specs" | wc -l)
nart=$(cd "$work/old" && ls | grep -v '\.err$' | wc -l)
nref=$(cd "$work/old" && for e in *.err; do [ -s "$e" ] && [ ! -e "${e%.err}" ] && echo x; done | wc -l)
bad=0
for f in $(cd "$work/old" && ls) $(cd "$work/new" && ls); do
  if ! cmp -s "$work/old/$f" "$work/new/$f"; then echo "DIFFERS: $f"; bad=$((bad + 1)); fi
done
if [ $bad -ne 0 ]; then
  echo "FAIL: $bad files differ ($nspec specs; outputs in $work/old and $work/new)"; exit 1
fi
echo "PASS: $nspec specs, $nart artefacts byte-identical, $nref refusals alike ($old vs $new)"
