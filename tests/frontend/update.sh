#!/bin/sh
# update.sh ATTNC: regenerates every AST golden (examples/*.attn and tests/frontend/valid/*.attn),
# the AIR goldens of tests/frontend/valid/
# and every diagnostics test's CHECK lines. Review `git diff` before committing.
attnc=$(realpath "$1")
root=$(dirname "$0")/../..
for spec in "$root"/examples/*.attn; do
    [ -f "$spec" ] || continue
    sh "$root/tests/frontend/run.sh" --update "$attnc" ast "$spec" \
       "$root/tests/frontend/examples/$(basename "$spec" .attn).ast"
done
for spec in "$root"/tests/frontend/valid/*.attn; do
    sh "$root/tests/frontend/run.sh" --update "$attnc" ast "$spec" "${spec%.attn}.ast"
    sh "$root/tests/frontend/run.sh" --update "$attnc" air "$spec" "${spec%.attn}.air"
done
for spec in "$root"/tests/diagnostics/*.attn; do
    grep -q 'CHECK-MANUAL' "$spec" && continue
    sh "$root/tests/diagnostics/run.sh" --update "$attnc" "$spec"
done
