#!/bin/sh
# run.sh [--update] ATTNC SPEC: checks that `attnc check SPEC` fails with the diagnostics the
# spec expects. Each `// CHECK: ` line holds one line of the expected stderr (a message, the
# echoed source line, the caret line, a hint or a note); they must appear in order, each as a
# whole line, and the number of errors must equal the number of expected "error:" lines.
# attnc runs in the spec's folder so messages name it by its base name; a `// ARGS: ` line adds
# options (for example -D).
# --update rewrites the CHECK lines from attnc's current output (review the diff!).
update=0
if [ "$1" = "--update" ]; then update=1; shift; fi
attnc=$1
spec=$2
dir=$(dirname "$spec")
base=$(basename "$spec")
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
args=$(sed -n 's|^// ARGS: ||p' "$spec")
# shellcheck disable=SC2086 # the options are words
(cd "$dir" && "$attnc" check $args "$base") >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
if [ $update -eq 1 ]; then
    grep -av '^// CHECK: ' "$spec" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' >"$tmp/body"
    { cat "$tmp/body"; echo; sed 's|^|// CHECK: |' "$tmp/stderr"; } >"$spec"
    exit 0
fi
if [ $rc -ne 1 ]; then
    echo "FAIL $spec: attnc check exited $rc, expected 1"; cat "$tmp/stderr"; exit 1
fi
if [ -s "$tmp/stdout" ]; then
    echo "FAIL $spec: attnc check wrote to stdout"; cat "$tmp/stdout"; exit 1
fi
sed -n 's|^// CHECK: ||p' "$spec" >"$tmp/expected"
if [ ! -s "$tmp/expected" ]; then echo "FAIL $spec: no CHECK lines"; exit 1; fi
awk 'BEGIN { n = 0; k = 0 }
     NR == FNR { want[n++] = $0; next }
     k < n && $0 == want[k] { k++ }
     END { if (k < n) { print "missing (in order): " want[k]; exit 1 } }' \
    "$tmp/expected" "$tmp/stderr" || { echo "FAIL $spec; attnc said:"; cat "$tmp/stderr"; exit 1; }
want=$(grep -c ': error: ' "$tmp/expected")
got=$(grep -c ': error: ' "$tmp/stderr")
if [ "$want" -ne "$got" ]; then
    echo "FAIL $spec: $got errors, expected $want; attnc said:"; cat "$tmp/stderr"; exit 1
fi
exit 0
