#!/bin/sh
# gen_long_inputs.sh DIR [big]: writes specs that are long or deep where hand-written seeds and
# the fuzzer's own mutations are short and shallow. Each stays under the fuzz target's 64 KB
# cap, so they serve as fuzz seeds; `big` adds inputs past it for attnc alone (the 60 000-term
# sum of a user's report, a 1 MB line). What a front end must do with them: finish quickly with
# a result or with a located diagnostic, never recurse once per term or expand a let or fn once
# per use.
#   flat_*      a left-leaning sum of 10 000 or more terms (deep tree, shallow parser stack)
#   let_chain   let p1 = p0 * p0; ... p30: each let uses the one before twice
#   fn_chain    fn f1(x) = f0(x) + f0(x); ... f30: each fn calls the one before twice
#   deep_*      2000 to 12 000 levels: parentheses (within the parser's limit and past it),
#               unary operators, calls, ** and ?: operands, lets and fns that each use the one
#               before once
#   near_*      900 levels of the same kinds, which a depth limit of 1000 lets through to the
#               later stages
set -eu
dir=$1
big=${2:-}
mkdir -p "$dir"

# spec NAME AWK: the operator's four tensors, then what the awk statements print; in them,
# rep(s, n) is s written n times.
spec() {
    {
        printf 'attention %s {\n' "$1"
        printf '  in  q: bf16[B, H, L, 64];\n  in  k: bf16[B, H, L, 64];\n'
        printf '  in  v: bf16[B, H, L, 64];\n  out o: bf16[B, H, L, 64];\n'
        awk "function rep(s, n,  r) {   # by doubling: linear in the result
                 for (r = \"\"; n > 0; n = int(n / 2)) { if (n % 2) r = r s; s = s s }
                 return r
             }
             BEGIN { $2 }"
        printf '}\n'
    } >"$dir/$1.attn"
}

spec flat_sum 'printf "  score = score%s;\n", rep(" + 0.5", 10000)'
spec flat_sum_float_j 'printf "  score = score%s;\n", rep(" + 0.0 * float(j)", 3800)'
spec flat_mask 'printf "  mask = j <= i%s;\n", rep(" + 0", 15000)'
spec flat_product 'printf "  score = score%s;\n", rep(" * 1.0", 10000)'
spec let_chain '
    print "  let p0 = 1.0 + 0.0 * float(j);"
    for (n = 1; n <= 30; n++) printf "  let p%d = p%d * p%d;\n", n, n - 1, n - 1
    print "  score = score + 0.0 * p30;"'
spec fn_chain '
    print "  fn f0(x) = x * 0.5;"
    for (n = 1; n <= 30; n++) printf "  fn f%d(x) = f%d(x) + f%d(x);\n", n, n - 1, n - 1
    print "  score = score + 0.0 * f30(float(j));"'
spec deep_parens 'printf "  score = %sscore%s;\n", rep("(", 3000), rep(")", 3000)'
spec deep_parens_past_parser 'printf "  score = %sscore%s;\n", rep("(", 12000), rep(")", 12000)'
spec deep_neg 'printf "  score = %sscore;\n", rep("-", 3000)'
spec deep_not 'printf "  mask = %s(j <= i);\n", rep("!", 3000)'
spec deep_calls 'printf "  score = %sscore%s;\n", rep("abs(", 2400), rep(")", 2400)'
spec deep_pow 'printf "  score = %sscore;\n", rep("1.0 ** ", 2400)'
spec deep_cond 'printf "  score = %sscore;\n", rep("j < 1 ? 0.5 : ", 2400)'
spec deep_lets '
    print "  let a0 = score;"
    for (n = 1; n <= 2400; n++) printf "  let a%d = a%d + 1.0;\n", n, n - 1
    print "  score = a2400;"'
spec deep_fns '
    print "  fn g0(x) = x;"
    for (n = 1; n <= 2000; n++) printf "  fn g%d(x) = g%d(x) + 1.0;\n", n, n - 1
    print "  score = g2000(score);"'
spec near_sum 'printf "  score = score%s;\n", rep(" + 0.5", 900)'
spec near_neg 'printf "  score = %sscore;\n", rep("-", 900)'
spec near_calls 'printf "  score = %sscore%s;\n", rep("tanh(", 900), rep(")", 900)'
spec near_cond 'printf "  mask = %sj <= i;\n", rep("j < 3 ? true : ", 900)'
spec near_lets '
    print "  let a0 = score;"
    for (n = 1; n <= 900; n++) printf "  let a%d = a%d * 0.5;\n", n, n - 1
    print "  score = a900;"'

if [ "$big" = big ]; then
    spec big_flat_sum 'printf "  score = score%s;\n", rep(" + 0.0 * float(j)", 60000)'
    spec big_line 'printf "  mask = j <= i # 3; // %s\n", rep("x", 1048576)'
fi
