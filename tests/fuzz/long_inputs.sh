#!/bin/sh
# long_inputs.sh ATTNC DIR [SANITIZED]: `attnc check` over the long and deep specs of
# gen_long_inputs.sh (written into DIR). Each must end within SECONDS either valid (exit 0,
# silent) or refused with a located diagnostic (exit 1, "spec:line:col: error: ..."): not
# killed by a signal, not past the time, not out of memory without a word. Memory is capped
# (ulimit -v, or ASan's own limit when SANITIZED is 1, since ASan reserves far more address
# space than it uses), so a blow-up fails the test instead of the machine.
# The 1 MB line must also come back as a short message: its source line is cut around the caret.
attnc=$1
dir=$2
sanitized=${3:-0}
seconds=${ATTNC_LONG_INPUT_SECONDS:-30}
here=$(dirname "$0")
rm -rf "$dir"
sh "$here/gen_long_inputs.sh" "$dir" big || exit 2
if [ "$sanitized" = 1 ]; then
    ASAN_OPTIONS="hard_rss_limit_mb=4096:allocator_may_return_null=1:${ASAN_OPTIONS:-}"
    export ASAN_OPTIONS
else
    ulimit -v 4194304
fi
fail=0
for spec in "$dir"/*.attn; do
    name=$(basename "$spec" .attn)
    start=$(date +%s)
    timeout "$seconds" "$attnc" check "$spec" >"$dir/$name.out" 2>"$dir/$name.err"
    rc=$?
    took=$(($(date +%s) - start))
    if grep -q 'Sanitizer\|runtime error:' "$dir/$name.err"; then   # ASan exits 1 too
        echo "FAIL $name: a sanitizer report:"; head -c 600 "$dir/$name.err"; echo; fail=1
    elif [ $rc -eq 0 ] && [ ! -s "$dir/$name.err" ]; then
        echo "PASS $name: valid (${took}s)"
    elif [ $rc -eq 1 ] && grep -q "^$spec:[0-9]*:[0-9]*: error: " "$dir/$name.err"; then
        echo "PASS $name: refused (${took}s): $(grep -m1 ': error: ' "$dir/$name.err" | cut -c1-160)"
    elif [ $rc -eq 124 ]; then
        echo "FAIL $name: no answer within ${seconds}s"; fail=1
    else
        echo "FAIL $name: exit $rc (${took}s):"; head -c 600 "$dir/$name.err"; echo; fail=1
    fi
done
size=$(wc -c <"$dir/big_line.err")
if [ "$size" -gt 2000 ]; then
    echo "FAIL big_line: $size bytes of diagnostics for a 1 MB line"; fail=1
fi
exit $fail
