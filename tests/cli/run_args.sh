#!/bin/sh
# run_args.sh ATTNC EXAMPLES_DIR DIR: `attnc run` refuses a bad --threads, --repeat or --seed
# (not a whole number, negative, out of range) with exit status 2 and a message naming the
# option, before compiling; --help prints the usage on stdout and exits 0. A -D size that is
# negative or not whole, or a head count of 0, is refused naming it before the kernel runs
# (exit status 1, no "sizes" line); an empty key range (Lk = 0) runs and passes.
attnc=$1; ex=$2; dir=$3
mkdir -p "$dir"
export ATTN_CACHE_DIR="$dir/cache"
spec="$ex/causal.attn"
small="-D Lq=24 -D Lk=40"
fail=0
expect() {   # status, text the output must hold, arguments...
  want=$1; text=$2; shift 2
  out=$("$attnc" run "$@" 2>&1); rc=$?
  if [ $rc -eq "$want" ] && echo "$out" | grep -qF -- "$text"; then echo "PASS run $*"
  else echo "FAIL run $*: exit $rc (want $want), output: $(echo "$out" | head -c 300)"; fail=1; fi
}
expect 2 "--threads takes a whole number from 0 to 256, not 'abc'" "$spec" --threads abc
expect 2 "--threads takes a whole number from 0 to 256, not '-1'" "$spec" --threads -1
expect 2 "--threads takes a whole number from 0 to 256, not '2x'" "$spec" --threads=2x
expect 2 "--repeat takes a whole number from 1 to 1000, not '0'" "$spec" --repeat 0
expect 2 "--repeat takes a whole number from 1 to 1000, not '-3'" "$spec" --repeat -3
expect 2 "--repeat takes a whole number from 1 to 1000, not '1001'" "$spec" --repeat 1001
expect 2 "--seed takes a whole number" "$spec" --seed abc
expect 0 "usage: attnc run SPEC" --help
expect 0 "usage: attnc run SPEC" "$spec" -h
expect 0 "median of 3 runs" "$spec" $small --threads 0 --repeat 3 --seed 0x2a
expect 1 "-D Lq=-5: Lq is a size, a whole number from 0 to 2147483647" "$spec" -D Lq=-5
expect 1 "-D Lk=2.5: Lk is a size, a whole number from 0 to 2147483647" "$spec" -D Lk=2.5
expect 1 "-D Hq=0: Hq is a head count, a whole number from 1 to 2147483647" "$spec" -D Hq=0
expect 1 "-D Hkv=0: Hkv is a head count" "$spec" $small -D Hkv=0
expect 0 "PASS" "$spec" $small -D Lk=0 --repeat 1
for d in Hq=0 Lq=-5; do
  if "$attnc" run "$spec" -D $d 2>&1 | grep -q "sizes\|stride"; then
    echo "FAIL -D $d got as far as the run"; fail=1
  fi
done
if [ -n "$("$attnc" run --help 2>&1 >/dev/null)" ]; then
  echo "FAIL run --help writes to stderr"; fail=1
fi
exit $fail
