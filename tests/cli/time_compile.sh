#!/bin/sh
# time_compile.sh ATTNC EXAMPLES DIR: ATTN_TIME_COMPILE=1 prints one line per compile phase to
# stderr (each GPU unit's IR build, passes and code generation among them) and changes nothing
# in the output; unset or 0, nothing is printed.
attnc=$1; ex=$2; dir=$3
mkdir -p "$dir"
fail() { echo "FAIL: $*"; exit 1; }
spec=$ex/documents.attn   # a mask that reads a side tensor: attention, map and decode units
"$attnc" --target=sm_90a --emit=ptx "$spec" -o "$dir/plain.ptx" 2> "$dir/plain.err" || fail "plain compile"
ATTN_TIME_COMPILE=1 "$attnc" --target=sm_90a --emit=ptx "$spec" -o "$dir/timed.ptx" 2> "$dir/timed.err" ||
    fail "timed compile"
cmp -s "$dir/plain.ptx" "$dir/timed.ptx" || fail "the timer changed the PTX"
grep -q "attnc time" "$dir/plain.err" && fail "phase lines without ATTN_TIME_COMPILE"
for phase in "front end (parse to mask tiles)" "plan and code generation, sm_90a"; do
    grep -qF "$phase" "$dir/timed.err" || fail "no line for '$phase'"
done
for unit in attention map decode; do
    for step in "LLVM IR built" "verify and IR passes" "NVPTX code generation"; do
        grep -qF "$unit unit: $step" "$dir/timed.err" || fail "no line for '$unit unit: $step'"
    done
done
bad=$(grep -v '^attnc time: +[0-9][0-9.]* ms [0-9][0-9.]* ms [a-z]' "$dir/timed.err" | head -1)
[ -z "$bad" ] || fail "a stderr line not in the documented form: $bad"
ATTN_TIME_COMPILE=0 "$attnc" --target=x86-64-v3 "$ex/causal.attn" -o "$dir/k.o" 2> "$dir/off.err" ||
    fail "CPU compile with ATTN_TIME_COMPILE=0"
grep -q "attnc time" "$dir/off.err" && fail "phase lines with ATTN_TIME_COMPILE=0"
ATTN_TIME_COMPILE=1 "$attnc" --target=x86-64-v3 "$ex/causal.attn" -o "$dir/k.o" 2> "$dir/cpu.err" ||
    fail "timed CPU compile"
grep -qF "plan and code generation, x86-64-v3" "$dir/cpu.err" || fail "no CPU code generation line"
echo "phase timer: $(wc -l < "$dir/timed.err") lines for a GPU compile, none when off"
