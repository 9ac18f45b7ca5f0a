#!/usr/bin/env python3
"""recurfuzz.py: random recurrence specs through `attnc run` against the f64 reference.

From a seed it generates N random valid recurrences: head dims Dk and Dv apart (16..128), more
heads of o than of q, k or v, an optional initial and final state, and an update put together
from terms -- a scalar, per-key (diag(a) @ S) or per-column (S @ diag(a)) decay of the state or
of tanh(S), rank-one terms outer(x, y) with x a scaled k[t] (or q[t], v[t] when the dims allow)
and y a sum of scaled v[t], k[t] @ S, q[t] @ S, S @ v -- and an output q[t] @ S, k[t] @ S or
either with a skip term or a gate. Some land in a family of docs/language.md section 10
(skel_recur.c), most in the sequential scan (skel_scan.c); `attnc --explain` says which, and
each spec's line shows it. Scalars are exp of a log decay, a gate in [0, 1), sigmoid, a param,
rsqrt(float(Dk)); every factor is bounded so that the state stays finite over the runs' lengths,
and no term cancels another (v - (v - k @ S) leaves f32 rounding noise where the true state is
orders of magnitude smaller: an ill-conditioned spec, not a kernel's error).

Each spec runs `attnc run` (T in 1..300, B 1..2, a dtype) a few times; PASS when every run
passes. Usage (from the repository root):
  tests/specfuzz/recurfuzz.py --seed 1 --count 30 [--target native] [--attnc build/attnc]
  tests/specfuzz/recurfuzz.py --seed 1 --only 7 --show      # one spec again, with its text
Prints one line per spec and "N passed, N failed"; exits 1 iff one failed.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile


def gen(seed, idx):
    r = random.Random("recurfuzz:%d:%d" % (seed, idx))
    dk, dv = r.choice([16, 24, 32, 48, 64, 96, 128]), r.choice([16, 24, 32, 40, 64, 80, 128])
    square = dk == dv
    decl = ["  in  q: f32[B, Hq, T, %d];" % dk, "  in  k: f32[B, Hk, T, %d];" % dk,
            "  in  v: f32[B, Hv, T, %d];" % dv, "  in  g: f32[B, Ho, T];",
            "  in  gk: f32[B, Ho, T, %d];" % dk, "  in  gv: f32[B, Ho, T, %d];" % dv,
            "  in  beta: f32[B, Ho, T];", "  param p: f32 = 0.5;"]
    state = r.random() < 0.3
    if state:
        decl += ["  in  s0: f32[B, Ho, Dk, Dv];", "  out s1: f32[B, Ho, Dk, Dv];"]
    decl.append("  out o: f32[B, Ho, T, %d];" % dv)
    scal = lambda: r.choice(["exp(g[b, h, t])", "beta[b, h, t]", "sigmoid(g[b, h, t] * 10.0)",
                             "p", "rsqrt(float(Dk))", "0.5", "(1.0 - beta[b, h, t])"])
    # the decay of the state (bounded by 1 in magnitude)
    base = r.choice(["S", "S", "tanh(S)"])
    decay = r.choice(["%s * %s" % (scal(), base), "diag(exp(gk[b, h, t])) @ %s" % base,
                      "%s @ diag(exp(gv[b, h, t]))" % base, base,
                      "diag(exp(gk[b, h, t])) @ %s @ diag(sigmoid(gv[b, h, t]))" % base])
    # rank-one terms; x is Dk long, y Dv long
    xs = ["k[t]", "%s * k[t]" % scal()] + (["q[t]"] if r.random() < 0.2 else [])
    ys = ["v[t]", "%s * v[t]" % scal(), "(v[t] - k[t] @ S)", "%s * (k[t] @ S)" % scal()]
    if square:
        ys.append("(S @ v[t]) / float(Dv)")
    terms = []
    for _ in range(r.choice([1, 1, 2])):
        y = r.choice(ys)
        if r.random() < 0.3:   # not v - (v - k @ S): a cancellation f32 cannot follow
            y2 = r.choice([z for z in ys if "v[t]" not in z or "v[t]" not in y])
            y = "%s - %s * %s" % (y, scal(), y2)
        terms.append("outer(%s, %s)" % (r.choice(xs), y))
    upd = decay + "".join(" %s %s * %s" % (r.choice(["+", "+", "-"]), scal(), t) for t in terms)
    if "k[t] @ S" in upd and r.random() < 0.5:
        upd = "%s * (%s)" % (scal(), upd)
    out = r.choice(["q[t] @ S", "q[t] @ S", "k[t] @ S", "%s * (q[t] @ S)" % scal(),
                    "q[t] @ S + 0.5 * v[t]", "(q[t] @ S) * sigmoid(dot(q[t], k[t]))",
                    "tanh(q[t] @ S)"])
    body = ["  state S: f32[Dk, Dv]%s;" % (" = s0" if state else ""), "  S = %s;" % upd,
            "  o[t] = %s;" % out] + (["  s1 = S;"] if state else [])
    name = "rf_%d_%d" % (seed, idx)
    text = "attention %s {\n%s\n%s\n}\n" % (name, "\n".join(decl), "\n".join(body))
    # heads: o's a multiple of each of q's, k's and v's
    runs = []
    for _ in range(2):
        hq, hk, hv = r.choice([1, 2]), r.choice([1, 2]), r.choice([1, 2])
        ho = 2 * r.choice([1, 2]) if max(hq, hk, hv) == 2 else r.choice([1, 2, 3])
        T = r.choice([1, 2, 37, 65, r.randint(3, 300)])
        runs.append(["-D", "B=%d" % r.choice([1, 2]), "-D", "Hq=%d" % hq, "-D", "Hk=%d" % hk,
                     "-D", "Hv=%d" % hv, "-D", "Ho=%d" % ho, "-D", "T=%d" % T,
                     "--dtype", r.choice(["f32", "bf16", "f16"]), "--seed", str(r.randint(1, 10 ** 6)),
                     "--repeat", "1"])
    return name, text, runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=30)
    ap.add_argument("--only", type=int)
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--target", default="native")
    ap.add_argument("--attnc", default="build/attnc")
    a = ap.parse_args()
    idxs = [a.only] if a.only is not None else range(a.count)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for idx in idxs:
            name, text, runs = gen(a.seed, idx)
            path = os.path.join(tmp, name + ".attn")
            with open(path, "w") as f:
                f.write(text)
            if a.show:
                print(text)
            ex = subprocess.run([a.attnc, "--explain", "--target=" + a.target, path],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            kind = next((ln.split(",")[0].split(":", 1)[1].strip() for ln in ex.stdout.splitlines()
                         if ln.startswith("recurrence:")), "?")
            ok, notes = ex.returncode == 0, []
            if not ok:
                notes.append(ex.stdout.strip().splitlines()[0] if ex.stdout.strip() else "explain failed")
            for run in runs if ok else []:
                cmd = [a.attnc, "run", path, "--target=" + a.target] + run
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=300)
                good = p.returncode == 0 and "\nPASS" in "\n" + p.stdout
                ok = ok and good
                if not good:
                    notes.append("$ %s\n%s" % (" ".join(cmd), p.stdout[-1500:]))
            passed += ok
            failed += not ok
            print("%-4s %-12s %s" % ("PASS" if ok else "FAIL", name, kind))
            for n in notes:
                print("  " + n.replace("\n", "\n  "))
            if not ok and not a.show:
                print("  spec:\n  " + text.replace("\n", "\n  "))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
