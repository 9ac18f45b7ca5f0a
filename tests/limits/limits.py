#!/usr/bin/env python3
"""The expression limits of docs/language.md ("Limits"), checked through `attnc`.

Each case is a spec generated from a base example; the expected outcome is an exit status and,
for a refusal, the words of the diagnostic. A crash (a signal), a missing diagnostic or a run
that outlives its generous timeout fails the test: before the limits existed these specs killed
attnc with SIGSEGV or took time and memory exponential in the spec's size.

usage: limits.py ATTNC BASE_SPEC WORKDIR
"""
import os
import subprocess
import sys

DEPTH = 1000          # ATTN_MAX_EXPR_DEPTH
TOO_DEEP = "expression nested too deeply (more than %d levels)" % DEPTH
TOO_DEEP_EXPANDED = ("expression nested too deeply once lets and fns are expanded "
                     "(more than %d levels)" % DEPTH)


def spec(base, decls, score):
    """The base spec with extra declarations and a score hook."""
    text = base.rstrip()
    assert text.endswith("}")
    return text[:-1] + decls + "\n  score = " + score + ";\n}\n"


def cases(base):
    sq = "\n  let p0 = score * 0.5;\n" + "".join(
        "  let p%d = p%d * p%d;\n" % (n, n - 1, n - 1) for n in range(1, 41))
    twice = "\n  fn f0(x) = x * 0.5;\n" + "".join(
        "  fn f%d(x) = f%d(x) + f%d(x);\n" % (n, n - 1, n - 1) for n in range(1, 41))
    chain = lambda n: "\n  let p0 = score;\n" + "".join(
        "  let p%d = p%d + 0.001;\n" % (k, k - 1) for k in range(1, n))
    fnchain = lambda n: "\n  fn f0(x) = x * 0.5;\n" + "".join(
        "  fn f%d(x) = f%d(x + 0.001);\n" % (k, k - 1) for k in range(1, n))
    # (name, spec text, attnc arguments, expected status, expected words or None)
    return [
        ("flat sum of 60000 terms", spec(base, "", "score" + " + 0.0 * float(j)" * 60000),
         ["check"], 1, TOO_DEEP),
        ("6000 nested negations", spec(base, "", "-" * 6000 + "score"), ["check"], 1, TOO_DEEP),
        ("flat sum just inside the limit, run on the CPU",
         spec(base, "", "score" + " + 0.0 * float(j)" * ((DEPTH - 3) // 2)),
         ["run", "-D", "Lq=37", "-D", "Lk=45", "-D", "B=1", "-D", "Hq=2", "-D", "Hkv=1"], 0, None),
        ("40 lets, each the square of the one before", spec(base, sq, "p40"),
         ["--emit=llvm", "--target=x86-64-v3", "-o", os.devnull], 0, None),
        ("40 fns, each calling the one before twice", spec(base, twice, "f40(score)"),
         ["--emit=obj", "--target=x86-64-v4", "-o", os.devnull], 0, None),
        ("a chain of 990 lets, run on the CPU", spec(base, chain(990), "p989"),
         ["run", "-D", "Lq=33", "-D", "Lk=33", "-D", "B=1", "-D", "Hq=1", "-D", "Hkv=1"], 0, None),
        ("a chain of 40000 lets", spec(base, chain(40000), "p39999"), ["check"], 1,
         TOO_DEEP_EXPANDED),
        ("a chain of 3000 fns", spec(base, fnchain(3000), "f2999(score)"),
         ["--emit=ptx", "--target=sm_90a", "-o", os.devnull], 1, TOO_DEEP_EXPANDED),
        ("two lets each within the limit, too deep together",
         spec(base, "\n  let p0 = score" + " + 1.0" * 600 + ";\n  let p1 = p0 * 2.0" +
              " + 1.0" * 600 + ";\n", "p1"), ["check"], 1, TOO_DEEP_EXPANDED),
    ]


def main():
    attnc, base_path, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    base = open(base_path).read()
    failures = 0
    for n, (name, text, args, want_rc, want_words) in enumerate(cases(base)):
        path = os.path.join(work, "limit%d.attn" % n)
        with open(path, "w") as f:
            f.write(text)
        cmd = [attnc] + args[:1] + [path] + args[1:] if args[0] in ("check", "run") else \
              [attnc] + args + [path]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            print("FAIL %s: still running after 240 s" % name)
            failures += 1
            continue
        err = p.stderr
        ok = p.returncode == want_rc and (want_words is None or want_words in err)
        if want_words and err.count("error:") != 1:
            ok = False   # one diagnostic, not one per level
        print("%s %s (exit %d)" % ("ok  " if ok else "FAIL", name, p.returncode))
        if not ok:
            print("  expected exit %d%s; stderr:\n%s" % (
                want_rc, " and '%s'" % want_words if want_words else "", err[-2000:]))
            failures += 1
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
