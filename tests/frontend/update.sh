#!/bin/sh
# update.sh ATTNC: regenerates every AST golden (examples/*.attn and tests/frontend/valid/*.attn)
# and every diagnostics test's CHECK lines. Review `git diff` before committing.
attnc=$(realpath "$1")
root=$(dirname "$0")/../..
for spec in "$root"/examples/*.attn; do
    [ -f "$spec" ] || continue
    sh "$root/tests/frontend/run.sh" --update "$attnc" "$spec" \
       "$root/tests/frontend/examples/$(basename "$spec" .attn).ast"
done
for spec in "$root"/tests/frontend/valid/*.attn; do
    sh "$root/tests/frontend/run.sh" --update "$attnc" "$spec" "${spec%.attn}.ast"
done
for spec in "$root"/tests/diagnostics/*.attn; do
    sh "$root/tests/diagnostics/run.sh" --update "$attnc" "$spec"
done
