#!/bin/sh
# spec_size.sh ATTNC EXAMPLES_DIR DIR: a spec may have at most 4 MiB. `attnc check` and
# `attnc run` refuse a larger file, a device that never ends (/dev/zero) and a pipe, with a
# message naming the limit, after reading no more than that; a spec of exactly 4 MiB is read.
attnc=$1; ex=$2; dir=$3
mkdir -p "$dir"
export ATTN_CACHE_DIR="$dir/cache"
limit=4194304
fail=0
# causal.attn padded with blank lines to `size` bytes
pad() {
  { cat "$ex/causal.attn"; head -c $(($1 - $(wc -c < "$ex/causal.attn"))) /dev/zero | tr '\0' '\n'; } > "$2"
}
pad $limit "$dir/at_limit.attn"
pad $((limit + 1)) "$dir/over_limit.attn"
expect_refused() {   # what, command...
  what=$1; shift
  out=$(timeout 30 "$@" 2>&1 < /dev/null); rc=$?
  if [ $rc -eq 1 ] && echo "$out" | grep -q "a spec may have at most 4 MiB (4194304 bytes)"; then
    echo "PASS $what refused"
  else echo "FAIL $what: exit $rc: $(echo "$out" | head -c 300)"; fail=1; fi
}
expect_refused "check /dev/zero" "$attnc" check /dev/zero
expect_refused "run /dev/zero" "$attnc" run /dev/zero
expect_refused "check of 4 MiB + 1" "$attnc" check "$dir/over_limit.attn"
expect_refused "--emit=ast of 4 MiB + 1" "$attnc" --emit=ast "$dir/over_limit.attn"
out=$(timeout 30 sh -c 'yes | "$1" check /dev/stdin' sh "$attnc" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "a spec may have at most 4 MiB"; then
  echo "PASS a pipe that never ends refused"
else echo "FAIL a pipe: exit $rc: $(echo "$out" | head -c 300)"; fail=1; fi
if timeout 30 "$attnc" check "$dir/at_limit.attn"; then echo "PASS check of exactly 4 MiB"
else echo "FAIL check of exactly 4 MiB"; fail=1; fi
exit $fail
