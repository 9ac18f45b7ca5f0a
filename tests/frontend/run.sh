#!/bin/sh
# run.sh [--update] ATTNC KIND SPEC GOLDEN: `attnc --emit=KIND SPEC` (ast or air) must succeed
# and print exactly GOLDEN. --update rewrites GOLDEN from the current output (review the diff
# before committing).
update=0
if [ "$1" = "--update" ]; then update=1; shift; fi
attnc=$1
kind=$2
spec=$3
golden=$4
tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT
if ! "$attnc" --emit="$kind" "$spec" >"$tmp"; then
    echo "FAIL $spec: attnc --emit=$kind failed"; exit 1
fi
if [ $update -eq 1 ]; then cp "$tmp" "$golden"; exit 0; fi
if [ ! -f "$golden" ]; then echo "FAIL $spec: no golden $golden (run with --update)"; exit 1; fi
diff -u "$golden" "$tmp" || { echo "FAIL $spec: output differs from $golden"; exit 1; }
