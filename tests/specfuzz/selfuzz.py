#!/usr/bin/env python3
"""selfuzz.py: random sparsity-selector specs through `attnc run` against the f64 reference.

From a seed it generates N random valid specs with a selector (docs/language.md section 9):
  blocks(n) top m by e [keep own] [shared]   n 8..128 (a literal or a const that some runs
      override with -D), m 1..8 and at times more than there are blocks (a literal or a
      const); e built on dot(q[i], mean(k[block])) (scaled, negated, times an f32 param that
      is 0 in some runs, summed with other products: sqnorm(mean(k[block])), dot(q[i],
      k[block * n])), scalar terms (-abs(float(block - i / n)), block % 3, a per-head or
      per-batch bias side tensor bias[h, block] whose block dim is fixed or a free symbol
      smaller or larger than the block count: indices are clamped), pure scalar scores with
      ties, -inf (log 0) or NaN (sqrt of a negative) at some blocks, +inf for block 0 or the
      local blocks, -inf for the blocks after i (inline or through lets);
  tokens top m by e   (m 1..2048) e a dot(q[i], k[j]) (times a param, with -sqnorm(k[j]) or
      a per-batch or per-head key bias side tensor), a scalar of i and j with or without ties
      (-abs(float(i - j)) plus small terms, some NaN or -inf), or DSA's indexer
      sum(r < R: w[b, row, r] * relu(dot(qi[b, row, r], ki[b, j]))) (or tanh, or no
      activation) with R 1..4 and vector dims 16 or 32, row = i - max(Lk - Lq, 0); often
      -inf for j > i;
and a mask (none, j <= i, j < i, a window of fixed width, a window width param, a per-head
window, causal documents from an i32 side tensor), head dims Dk, Dv in 16..128 (sometimes
apart), side tensors in f32, bf16 or f16, at times a score or scale hook or a sink, an lse
output, and the selected indices `out sel: i32[B, Hq, Lq, TOP]; sel = select;` (when attnc
takes that form: probed once).

Each spec is checked with `attnc check` (a rejection is a bug of this generator: a failure
"GEN"), read with `attnc --explain` (the selector's form and which heads share a selection,
printed with the spec), then run with `attnc run` on 2 or 3 size configurations from
prefill (Lq = Lk, odd), Lq < Lk, decode (Lq 1..3, Lk up to 1500, at times 4100..4700),
rarely Lq > Lk or an empty size; lengths rarely a multiple of the block size, B 1..2, Hq a
multiple of Hkv (GQA groups of 1 to 8), a dtype (f32, bf16, f16; --dtype), --threads at
times, and the params and free symbols. attnc run compares o and lse with a tolerance, and
the selected indices the same way (a relative error), so this script also requires the
indices' error to be exactly 0 (the same sets, element for element). A check (one spec) is
PASS when every run passes, UNSUPPORTED when attnc refuses the spec as not supported on the
target, FAIL otherwise (printed with the spec, the commands and their output).

Usage (from the repository root; the default attnc is build/attnc):
  tests/specfuzz/selfuzz.py --seed 1 --count 30 [--target native]
  tests/specfuzz/selfuzz.py --seed 1 --only 7 --show       # one spec again, with its text
  tests/specfuzz/selfuzz.py --seed 1 --count 5 --print-specs
Prints one line per check and "N passed, N failed, N unsupported"; exits 1 iff a check
failed. Python 3 standard library only; a spec and its runs depend only on the seed and its
index. The running helpers are specfuzz.py's.
"""

import argparse
import concurrent.futures
import os
import random
import re
import shlex
import shutil
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from specfuzz import Ctx, classify_run, dargs, first_error, run_cmd  # noqa: E402

DIMS = [16, 32, 48, 64, 96, 128]
SEL_OUT = [True]   # whether attnc takes `sel = select;` (probed in main)


class Spec:
    def __init__(self, name):
        self.name = name
        self.decl, self.lets, self.body = [], [], []
        self.params = []      # (name, values a run may pass)
        self.free = []        # (free symbol, values a run may pass)
        self.consts = []      # (const, values a run may pass)
        self.sel_out = None   # the selected indices' tensor
        self.desc = ""

    def text(self):
        lines = self.decl + self.lets + self.body
        return "attention %s {\n%s\n}\n" % (self.name, "\n".join("  " + l for l in lines))


def coef(r):
    return r.choice(["", "", "", "0.5 * ", "2.0 * ", "-1.0 * ", "0.25 * "])


def side_dtype(r):
    return r.choice(["f32", "f32", "bf16", "f16"])


def temp_param(r, s):
    """A runtime f32 factor of a score (0 at times: every candidate ties)."""
    if not any(p == "temp" for p, _ in s.params):
        s.decl.append("param temp: f32 = 0.5;")
        s.params.append(("temp", [0, -1, 2, 0.125]))
    return "temp * "


def block_score(r, s, n, tensors):
    """A block selector's score (and the lets and side tensors it needs)."""
    pooled = "dot(q[i], mean(k[block]))" if r.random() < 0.8 else "dot(mean(k[block]), q[i])"
    vec = ["sqnorm(mean(k[block]))", "dot(q[i], k[block * %s])" % n,
           "dot(mean(k[block]), mean(k[block]))"]
    scal = ["-abs(float(block - i / %s))" % n, "0.1 * float(block % 3)", "BIAS"]
    form = r.choice(["pooled", "pooled", "pooled", "scalar", "sum", "bias"])
    if form == "pooled":
        e = (temp_param(r, s) if r.random() < 0.15 else coef(r)) + pooled
        for t in r.sample(scal, r.choice([0, 0, 1, 2])):
            e += " + " + coef(r) + t
    elif form == "scalar":
        e = "-abs(float(block - i / %s))" % n
        if r.random() < 0.5:
            e += " + " + r.choice(["0.5 * float(block % 2)", "BIAS", "0.25 * float(block)",
                                   "log(float(block))", "sqrt(float(block - 1))"])
    elif form == "sum":
        terms = [pooled] + r.sample(vec, r.choice([1, 2]))
        r.shuffle(terms)
        e = " + ".join(coef(r) + t for t in terms)
    else:
        e = "BIAS + " + coef(r) + pooled
    if "BIAS" in e:
        by = r.choice(["h", "h", "b"])
        nb = r.choice(["NB", "NB", "8", "3"])
        tensors.append("in  bias: %s[%s, %s];" % (side_dtype(r), "Hq" if by == "h" else "B", nb))
        if nb == "NB":
            s.free.append(("NB", [1, 2, 5, 9, 17, 40, 200]))
        e = e.replace("BIAS", "bias[%s, block]" % by)
    if r.random() < 0.3:
        e = "%s * (%s)" % (r.choice(["0.5", "3.0", "-2.0"]), e)
    # forced (+inf) and future (-inf) blocks, in either order, inline or through lets
    forced = r.choice([None, None, "block == 0", "i / %s - block <= 1" % n,
                       "block == 0 || i / %s - block <= 1" % n])
    future = "block * %s > i" % n if r.random() < 0.5 else None
    if forced and r.random() < 0.4:
        s.lets.append("let forced = %s;" % forced)
        forced = "forced"
    if future and r.random() < 0.4:
        s.lets.append("let future = %s;" % future)
        future = "future"
    wraps = [w for w in [("inf", forced), ("-inf", future)] if w[1]]
    r.shuffle(wraps)
    for val, cond in wraps:
        e = "%s ? %s : (%s)" % (cond, val, e)
    return e, form


def token_score(r, s, tensors):
    """A token selector's score (and the lets and side tensors it needs)."""
    form = r.choice(["dot", "dot", "scalar", "ties", "indexer", "indexer", "bias"])
    if form == "dot":
        e = (temp_param(r, s) if r.random() < 0.15 else coef(r)) + "dot(q[i], k[j])"
        if r.random() < 0.4:
            e += r.choice([" - 0.05 * abs(float(i - j))", " - 0.5 * sqnorm(k[j])"])
    elif form == "scalar":
        e = "-abs(float(i - j)) + %s" % r.choice(["0.01 * float(j % 7)", "0.001 * float(j)",
                                                  "0.3 * float((i + j) % 5) / 5.0",
                                                  "sqrt(float(j % 9 - 2))", "log(float(j % 4))"])
    elif form == "ties":
        e = r.choice(["-abs(float(i - j)) + 2.0 * float(j % 5)", "float(j % 4)",
                      "-float(abs(i - j) / 3)", "float((i * 7 + j * 3) % 11)"])
    elif form == "indexer":
        R, dv = r.randint(1, 4), r.choice([16, 32])
        tensors += ["in  qi: %s[B, Lq, %d, %d];" % (side_dtype(r), R, dv),
                    "in  w: %s[B, Lq, %d];" % (side_dtype(r), R),
                    "in  ki: %s[B, Lk, %d];" % (side_dtype(r), dv)]
        s.lets.append("let row = i - max(Lk - Lq, 0);")
        act = r.choice(["relu(%s)", "relu(%s)", "%s", "tanh(%s)"])
        e = "sum(r < %d: w[b, row, r] * %s)" % (R, act % "dot(qi[b, row, r], ki[b, j])")
        if r.random() < 0.3:
            e = "0.5 * %s + 0.01 * float(j %% 3)" % e
        if r.random() < 0.4:
            s.lets.append("let I = %s;" % e)
            e = "I"
    else:   # a per-key bias, per batch or per head (then each head selects its own keys)
        by = r.choice(["b", "h"])
        tensors.append("in  nz: %s[%s, Lk];" % (side_dtype(r), "B" if by == "b" else "Hq"))
        e = "dot(q[i], k[j]) + %snz[%s, j]" % (r.choice(["", "4.0 * "]), by)
    if r.random() < 0.45:
        e = "j <= i ? %s : -inf" % e
    return e, form


def generate(seed, idx):
    r = random.Random("selfuzz:%d:%d" % (seed, idx))
    s = Spec("sf_%d_%d" % (seed, idx))
    dk = r.choice(DIMS)
    dv = dk if r.random() < 0.6 else r.choice(DIMS)
    tensors, outs = [], ["out o: f32[B, Hq, Lq, %d];" % dv]
    if r.random() < 0.5:
        outs.append("out lse: f32[B, Hq, Lq];")
    blocks = r.random() < 0.6
    if blocks:
        bs = r.choice([8, 16, 32, 64, 128])
        top = r.randint(1, 8) if r.random() < 0.85 else r.choice([12, 16, 40])
    else:
        top = r.choice([1, 2, 3, 5, 8, 16, 24, 64, 100, 2048])
    n = str(bs) if blocks else None
    if blocks and r.random() < 0.3:
        s.lets.append("const bs = %d;" % bs)
        s.consts.append(("bs", [8, 16, 32, 64]))
        n = "bs"
    tp = str(top)
    if r.random() < 0.2:
        s.lets.append("const tp = %d;" % top)
        tp = "tp"
    # the mask
    mask = r.choice([None, None, "j <= i", "j <= i", "j < i", "WIN", "PARAM", "HEAD", "DOC"])
    if mask == "WIN":
        mask = "j <= i && i - j < %d" % r.choice([8, 33, 100, 257])
    elif mask == "PARAM":
        s.decl.append("param win: i32 = %d;" % r.choice([16, 64, 300]))
        s.params.append(("win", [1, 7, 50, 129, 1000]))
        mask = "j <= i && i - j < win"
    elif mask == "HEAD":
        mask = "j <= i && i - j < 40 + 24 * h"
    elif mask == "DOC":   # documents: sorted ids, blocks that straddle one are partly masked
        tensors.append("in  doc: i32[B, Lk];")
        mask = "j <= i && doc[b, i] == doc[b, j]"
    if blocks:
        e, form = block_score(r, s, n, tensors)
        keep, shared = r.random() < 0.5, r.random() < 0.5
        sel = "select blocks(%s) top %s by %s%s%s;" % (n, tp, e, " keep own" if keep else "",
                                                        " shared" if shared else "")
        s.desc = "blocks(%s) top %s%s%s %s" % (
            bs, top, " keep-own" if keep else "", " shared" if shared else "", form)
    else:
        e, form = token_score(r, s, tensors)
        sel = "select tokens top %s by %s;" % (tp, e)
        s.desc = "tokens top %s %s" % (top, form)
    s.body.append(sel)
    s.desc += ", mask %s" % (mask or "none")
    if r.random() < 0.4 and SEL_OUT[0]:
        s.sel_out = r.choice(["sel", "idx"])
        outs.append("out %s: i32[B, Hq, Lq, %s];" % (s.sel_out, tp))
        s.body.append("%s = select;" % s.sel_out)
        s.desc += ", %s out" % s.sel_out
    if mask:
        s.body.append("mask = %s;" % mask)
    extra = r.random()
    if extra < 0.1:
        s.body.append("score = 20.0 * tanh(score / 20.0);")
    elif extra < 0.17:
        s.body.append("scale = 0.1;")
    elif extra < 0.25:
        tensors.append("in  snk: f32[Hq];")
        s.body.append("sink = snk[h];")
    s.decl = ["in  q: f32[B, Hq, Lq, %d];" % dk, "in  k: f32[B, Hkv, Lk, %d];" % dk,
              "in  v: f32[B, Hkv, Lk, %d];" % dv] + tensors + outs + s.decl
    s.runs = pick_runs(r, s, bs if blocks else None)
    return s


def pick_runs(r, s, bs):
    """2 or 3 runs: prefill, Lq < Lk and decode sizes, heads, dtype, params and symbols."""
    kinds = ["prefill", "chunk", "decode"]
    r.shuffle(kinds)
    if r.random() < 0.15:
        kinds[r.randrange(3)] = "longq" if r.random() < 0.7 else "empty"
    consts = [(c, r.choice(v)) for c, v in s.consts if r.random() < 0.3]
    runs = []
    for kind in kinds[:r.choice([2, 3, 3])]:
        if kind == "prefill":
            lq = lk = r.choice([1, 3, 77, r.randrange(5, 360, 2)])
        elif kind == "chunk":
            lk = r.randint(30, 600)
            lq = r.randint(2, min(lk - 1, 160))
        elif kind == "decode":
            lq = r.randint(1, 3)
            # at times past 512 candidates of 8-key blocks (the top-k scores them in chunks)
            lk = r.randint(1, 1500) if r.random() < 0.9 else r.randint(4100, 4700)
        elif kind == "longq":   # Lq > Lk: the rows are positions 0 .. Lq - 1
            lk = r.randint(1, 90)
            lq = r.randint(lk + 1, 200)
        else:                   # no row, or no key
            lq, lk = r.choice([(0, 50), (4, 0), (1, 0)])
        if bs and lk and lk % bs == 0 and r.random() < 0.8:
            lk += r.randint(1, bs - 1)
            lq = lk if kind == "prefill" else max(lq, lk + 1) if kind == "longq" else lq
        hkv = r.choice([1, 2])
        hq = hkv * r.choice([1, 2, 2, 3, 4]) if r.random() < 0.9 else 8
        b = r.choice([1, 2]) if hq * lq <= 400 else 1
        D = [("B", b), ("Hq", hq), ("Hkv", hkv), ("Lq", lq), ("Lk", lk)]
        D += [(p, r.choice(v)) for p, v in s.params + s.free if r.random() < 0.6]
        runs.append(dict(kind=kind, defines=D + consts, dtype=r.choice(["f32", "bf16", "f16"]),
                         data_seed=r.randint(1, 10 ** 6), threads=r.choice([0, 0, 1, 3])))
    return runs


def summary_of(out, sel):
    """The error lines of a run, short; a '!' after a failed one."""
    m = re.findall(r"^\s+(\w+)\s+error (\S+)\s+\(tolerance .*?(ok|FAILED.*)$", out, re.M)
    return " ".join("%s %s%s" % (n, e, "" if s == "ok" and (n != sel or float(e) == 0) else "!")
                    for n, e, s in m)


def write_file(path, text):
    """Writes text to path (its folder made); returns path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def check_spec(ctx, idx):
    """Generates spec idx and runs it; returns (spec, status, detail, log)."""
    a = ctx.args
    s = generate(a.seed, idx)
    path = write_file(os.path.join(ctx.tmp, "s%d" % idx, s.name + ".attn"), s.text())
    cmd = [a.attnc, "check", path]
    rc, out = run_cmd(cmd, a.timeout, ctx.env)
    if rc != 0:
        return s, "FAIL", "GEN " + first_error(out), "$ %s\n%s" % (shlex.join(cmd), out)
    D = dict(s.runs[0]["defines"])   # the mask's tile map at the first run's sizes
    cmd = [a.attnc, "--explain=%dx%d" % (max(D["Lq"], 1), max(D["Lk"], 1)),
           "--target=" + a.target, path]
    rc, out = run_cmd(cmd, a.timeout, ctx.env)
    # the selector's form and who shares a selection, as --explain says them
    line = next((l for l in out.splitlines() if l.strip().startswith("selector:")), "")
    form = "%s; %s" % (line.split(" by ", 1)[-1].split(" (")[0].split(";")[0],
                       line.split("; ")[-1].split(" (")[0])
    if rc != 0:
        st = classify_run(rc, out)
        if st == "UNSUPPORTED":
            return s, st, first_error(out), "$ %s\n%s" % (shlex.join(cmd), out)
        return s, "FAIL", "explain %s: %s" % (st, first_error(out)), \
            "$ %s\n%s" % (shlex.join(cmd), out)
    logs, statuses, details = [], [], []
    for run in s.runs:
        cmd = [a.attnc, "run", path, "--target=" + a.target] + dargs(run["defines"]) + [
            "--dtype", run["dtype"], "--repeat", "1", "--seed", str(run["data_seed"])] + (
            ["--threads", str(run["threads"])] if run["threads"] else [])
        rc, out = run_cmd(cmd, a.timeout, ctx.env)
        st = classify_run(rc, out)
        summ = summary_of(out, s.sel_out)
        if st == "PASS" and "!" in summ:
            st = "SEL-DIFFERS"    # within attnc run's tolerance, but not the same index sets
        logs.append("$ %s\n%s" % (shlex.join(cmd), out))
        statuses.append(st)
        sizes = " ".join("%s=%s" % kv for kv in run["defines"][:5])
        details.append("%s %s %s: %s%s" % (run["kind"], sizes, run["dtype"],
                                           "ok" if st == "PASS" else st,
                                           " " + summ if summ else ""))
        if st == "UNSUPPORTED":
            break   # refused whatever the sizes
    if all(x == "PASS" for x in statuses):
        status = "PASS"
    elif statuses[0] == "UNSUPPORTED":
        status, details = "UNSUPPORTED", [first_error(logs[0])]
    else:
        status = "FAIL"
    return s, status, "%s [%s]\n    %s" % (s.desc, form, "\n    ".join(details)), \
        "\n".join(logs)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=30, help="number of specs")
    ap.add_argument("--only", type=int, action="append", help="only spec INDEX (repeatable)")
    ap.add_argument("--target", default="native")
    ap.add_argument("--attnc", default=os.path.join(root, "build", "attnc"))
    ap.add_argument("--jobs", "-j", type=int, default=0, help="parallel specs (default: cores)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per attnc command")
    ap.add_argument("--show", action="store_true", help="print every spec's text and log")
    ap.add_argument("--print-specs", action="store_true", help="only print the specs and runs")
    a = ap.parse_args()
    indices = a.only if a.only else list(range(a.count))
    if a.print_specs:
        for i in indices:
            s = generate(a.seed, i)
            print("// %s\n%s" % (s.desc, s.text()))
            for run in s.runs:
                print("// attnc run %s.attn %s --dtype %s --seed %d%s" % (
                    s.name, " ".join(dargs(run["defines"])), run["dtype"], run["data_seed"],
                    " --threads %d" % run["threads"] if run["threads"] else ""))
            print()
        return 0
    if not os.access(a.attnc, os.X_OK):
        print("selfuzz: %s is not an executable attnc" % a.attnc)
        return 2
    ctx = Ctx(a)
    probe = write_file(os.path.join(ctx.tmp, "probe.attn"), (
        "attention p {\n  in q: f32[B, H, L, 16];\n  in k: f32[B, H, L, 16];\n"
        "  in v: f32[B, H, L, 16];\n  out o: f32[B, H, L, 16];\n  out sel: i32[B, H, L, 2];\n"
        "  select tokens top 2 by dot(q[i], k[j]);\n  sel = select;\n}\n"))
    SEL_OUT[0] = run_cmd([a.attnc, "check", probe], a.timeout, ctx.env)[0] == 0
    counts = {"PASS": 0, "FAIL": 0, "UNSUPPORTED": 0}
    failing = []
    print("selfuzz: seed %d, %d specs, target %s, attnc %s%s" % (
        a.seed, len(indices), a.target, a.attnc,
        "" if SEL_OUT[0] else " (no `sel = select;` in this attnc: not generated)"), flush=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs or os.cpu_count() or 1) as ex:
            for idx, (s, status, detail, log) in zip(
                    indices, ex.map(lambda i: check_spec(ctx, i), indices)):
                counts[status] += 1
                print("%-11s %d:%-3d %s" % (status, a.seed, idx, detail), flush=True)
                if status == "FAIL" or a.show:
                    tmp = os.path.join(ctx.tmp, "s%d" % idx) + os.sep
                    print("  " + (s.text() + log.replace(tmp, "")).replace("\n", "\n  "),
                          flush=True)
                if status == "FAIL":
                    failing.append(idx)
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    if failing:
        print("failing: " + " ".join("--seed %d --only %d" % (a.seed, i) for i in failing))
    print("%d passed, %d failed, %d unsupported" % (counts["PASS"], counts["FAIL"],
                                                     counts["UNSUPPORTED"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
