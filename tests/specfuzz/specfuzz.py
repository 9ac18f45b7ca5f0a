#!/usr/bin/env python3
"""specfuzz.py: a deterministic random-spec differential tester for attnc.

From a seed it generates N random but valid softmax-attention specs (.attn) that exercise the
general case: head dims Dk / Dv from 16 to 256 (sometimes Dk != Dv, sometimes a const or an
expression), bf16 / f16 (f32 and mixed q/k/v/o dtypes on the CPU), GQA and MQA with fixed or
symbolic head counts, custom dim names, an optional lse output, params (i32, f32, bool; with and
without defaults), consts (bool, i32, f32), lets and fns, side tensors (i32 document ids; f32,
bf16 or f16 per-head, per-key, per-row, 3- and 4-dim and table values), masks from a small
grammar (windows, strict offsets that leave rows with no visible key, dilation, blocks,
documents, per-head and per-batch terms, float comparisons, && || ! ?: select, random integer
expressions), score hooks (softcap, ALiBi, biases, relative position tables, uses of qk, -inf
logits, clamps, random bounded float expressions...), scale and sink hooks. Selectors and
recurrences are not generated; a rare sum(...) checks the hook emitter's unrolled sums.

Each spec is checked with `attnc check` (a spec the front end rejects is a bug of this
generator: reported as a failure "GEN"), then for each target:
  `attnc --explain=LQxLK --target=T SPEC` (the plan and the mask's tile map), and
  `attnc run SPEC --target=T -D B=.. -D Lq=.. -D Lk=.. [--dtype DT] --repeat 1 --seed S` on
  (--runs, default 3) size configurations: prefill, Lq < Lk, decode (Lq = 1..4, Lk up to
  2100), Lq > Lk, rarely an empty size; odd sizes, random head counts, runtime params and
  free symbols, and the same random const overrides (-D) in every run of a spec.
attnc compares the kernel with its f64 reference and prints PASS or FAIL. A check (one spec on
one target) is
  PASS         every run printed PASS;
  UNSUPPORTED  attnc refused the spec with a clear "not supported on target" error (counted,
               not a failure);
  FAIL         a FAIL line, a crash, a timeout, or any other error (GEN: see above).
With --ptxas, GPU targets are not run: the spec is compiled with `--emit=ptx` and the PTX is
assembled by ptxas (-arch=sm_90a / sm_80): no GPU needed, only the CUDA toolkit's ptxas.

Usage (from the repository root; the default attnc is build/attnc):
  tests/specfuzz/specfuzz.py --seed 1 --count 40                      # CPU: --target native
  tests/specfuzz/specfuzz.py --seed 1 --count 40 --ptxas --targets sm_90a,sm_80   # PTX only
  tests/specfuzz/specfuzz.py --seed 1 --count 40 --targets sm_90a,sm_80
      runs every spec on the GPU targets against the f64 reference: this needs an NVIDIA GPU
      (sm_90a needs a Hopper GPU; sm_80 PTX runs on Ampere and later); without one it prints
      SKIP and exits 77. GPU runs default to one spec at a time (--jobs).
  tests/specfuzz/specfuzz.py --seed 1 --only 17 --show                # one spec again
  tests/specfuzz/specfuzz.py --seed 1 --print-specs --count 5         # only print specs
  --keep DIR keeps each failing spec with its command lines (DIR/<seed>_<index>/<target>.sh)
  and outputs (<target>.log). --avoid FEATURE,... leaves out generator features that hit a
  known bug, to look past it (--help lists them).
Prints one line per check and then the summary line "N passed, N failed, N unsupported";
exits 1 iff a check failed (77: nothing could run). Python 3 standard library only; the specs
and sizes depend only on the seed and the spec's index, not on --count or --jobs.
"""

import argparse
import concurrent.futures
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading

HEAD_DIMS = [16, 24, 32, 40, 48, 64, 72, 80, 96, 112, 128, 136, 160, 192, 256]
GPU_TARGETS = ("sm_80", "sm_90a")
CPU_TARGETS = ("native", "x86-64-v3", "x86-64-v4")
# Generator features turned off by --avoid (to look past a known bug): see FEATURES.
FEATURES = {"negpow": "pow / ** of a negative base with an integral exponent",
            "boolselect": "select(c, a, b) and c ? a : b with bool branches in masks",
            "halfcmp0": "a side tensor's value compared with 0.0 in a mask"}
AVOID = set()
# Side tensors by kind: candidate names, dtype (None: a float dtype drawn at random), shape.
SIDE_TENSORS = {"doc": (["doc", "seg", "docid"], "i32", "{B}, {LK}"),
                "bias": (["hbias", "bias"], None, "{HQ}"),
                "slopes": (["slopes"], None, "{HQ}"),
                "sinks": (["sinks"], None, "{HQ}"),
                "kb": (["kb", "kbias"], None, "{B}, {LK}"),
                "hkb": (["hkb"], None, "{B}, {HKV}, {LK}"),
                "rel": (["rel"], None, "32"),
                "rowq": (["rowq"], None, "{B}, {LQ}"),
                "qb4": (["qb"], None, "{B}, {HQ}, {LQ}, 2"),
                "scl": (["scl"], "f32", "2")}
# Forms whose operands are all of one kind, each %s filled from left to right (fill).
INT_FORMS = {"add": "(%s + %s)", "sub": "(%s - %s)", "neg": "-%s", "abs": "abs(%s)",
             "min": "min(%s, %s)", "max": "max(%s, %s)"}
BOOL_FORMS = {"and": "(%s && %s)", "or": "(%s || %s)", "not": "!(%s)", "cond": "(%s ? %s : %s)"}


def fill(form, gen):
    """form with each %s replaced by a new gen(), in order."""
    return form % tuple(gen() for _ in range(form.count("%s")))


# One-operand float forms that keep an operand of about -8..8 bounded and in the domain.
BOUNDED_UNARY = {"tanh": "2.0 * tanh(%s)", "sig": "4.0 * sigmoid(%s)", "exp": "exp(tanh(%s))",
                 "exp2": "exp2(0.5 * tanh(%s))", "log": "log(1.0 + abs(%s))",
                 "log2": "log2(0.5 + abs(%s))", "sqrt": "sqrt(abs(%s))",
                 "rsqrt": "rsqrt(1.0 + abs(%s))", "relu": "relu(%s)", "softplus": "softplus(%s)",
                 "clamp": "clamp(%s, -3.0, 3.0)"}


def fmt_float(x):
    """A float literal in one of the language's spellings."""
    s = repr(float(x))
    if "e" in s or "inf" in s or "nan" in s:
        s = "%.6e" % x
    return s


class Spec:
    """One generated spec: its declarations (rendered with a chosen dtype) and what the runner
    needs to know to pick sizes, params and defines."""

    def __init__(self, name):
        self.name = name
        self.tensor_lines = []      # (role, declaration with @DT@ for the dtype)
        self.lines = []             # other declarations
        self.comment = ""
        self.dk = self.dv = 64
        self.dtype = "bf16"         # q, k, v, o dtype in the spec text
        self.mixed = None           # dict role -> dtype on CPU, or None
        self.syms = {}              # role -> symbol name (or None when fixed)
        self.fixed = {}             # role -> fixed size
        self.lq_le_lk = False       # a read of doc[b, i] needs i < Lk
        self.lq_eq_lk = False       # one symbol for Lq and Lk
        self.hq_eq_hkv = False      # one symbol for Hq and Hkv
        self.params = []            # (name, type, has_default, [override values])
        self.consts = []            # (name, [override values])
        self.free_syms = []         # (name, [values])
        self.shuffle = False

    def text(self, dtypes=None):
        """The spec text; dtypes maps q, k, v, o to a dtype (default: the spec's)."""
        out = []
        if self.comment:
            out.append(self.comment)
        out.append("attention %s {" % self.name)
        body = []
        for role, line in self.tensor_lines:
            dt = (dtypes or {}).get(role) or (self.mixed or {}).get(role) or self.dtype
            body.append("  " + line.replace("@DT@", dt))
        rest = ["  " + l for l in self.lines]
        if self.shuffle:
            # declarations may come in any order; keep q first so that a reader finds it
            everything = body[1:] + rest
            random.Random(self.name).shuffle(everything)
            body = body[:1] + everything
        else:
            body = body + [""] + rest
        out += body
        out.append("}")
        return "\n".join(out) + "\n"


class Gen:
    """Builds one spec from a Random; resources (params, consts, side tensors, lets, fns) are
    declared on first use."""

    def __init__(self, rng, name):
        self.r = rng
        self.s = Spec(name)
        self.names = set()
        self.sides = {}
        self.fns = {}
        self.lets = {}
        self.consts = {}
        self.params = {}
        self.int_params_ok = True

    # ---- small helpers -------------------------------------------------------------------
    def p(self, x):
        return self.r.random() < x

    def fresh(self, base):
        n, k = base, 1
        while n in self.names:
            k += 1
            n = "%s%d" % (base, k)
        self.names.add(n)
        return n

    def dim(self, role):
        """The text of a dim in a shape: its symbol or its fixed size."""
        sym = self.s.syms.get(role)
        return sym if sym else str(self.s.fixed[role])

    def add(self, line):
        self.s.lines.append(line)

    # ---- values: a literal, a const or a param -------------------------------------------
    def int_value(self, base, lo, hi, allow_zero_override=False, prefer=None):
        """An i32 value in [lo, hi]: a literal, a const (maybe -D overridden) or a param (maybe
        overridden per run, sometimes without a default)."""
        v = self.r.randint(lo, hi)
        kind = prefer or self.r.choice(["lit", "lit", "const", "param", "param"])
        if kind == "lit":
            return hex(v) if self.p(0.1) else str(v)
        if kind == "const":
            if base in self.consts and self.p(0.5):
                return self.consts[base]
            n = self.fresh(base.upper())
            self.consts[base] = n
            self.add("const %s = %s;" % (n, v))
            ov = [self.r.randint(lo, hi) for _ in range(2)]
            if self.p(0.3):
                ov.append(self.r.randint(lo, hi) + 0.5)   # -D makes the i32 const an f32
            self.s.consts.append((n, ov))
            return n
        if base in self.params and self.p(0.5):
            return self.params[base]
        n = self.fresh(base)
        self.params[base] = n
        ov = [self.r.randint(lo, hi) for _ in range(3)]
        if allow_zero_override and self.p(0.3):
            ov.append(0)
        if self.p(0.15):
            ov.append(-self.r.randint(1, 9))
        has_def = self.p(0.85)
        self.add("param %s: i32%s;" % (n, " = %d" % v if has_def else ""))
        self.s.params.append((n, "i32", has_def, ov))
        return n

    def float_value(self, base, choices, kind=None):
        v = self.r.choice(choices)
        kind = kind or self.r.choice(["lit", "lit", "const", "param"])
        if kind == "lit":
            return fmt_float(v)
        if kind == "const":
            n = self.fresh(base.upper())
            self.add("const %s = %s;" % (n, fmt_float(v)))
            self.s.consts.append((n, [self.r.choice(choices) for _ in range(2)]))
            return n
        n = self.fresh(base)
        has_def = self.p(0.85)
        # an f32 param's default may be written as an integer
        dv = ("%d" % v) if has_def and float(v).is_integer() and self.p(0.3) else fmt_float(v)
        self.add("param %s: f32%s;" % (n, " = " + dv if has_def else ""))
        self.s.params.append((n, "f32", has_def, [self.r.choice(choices) for _ in range(3)]))
        return n

    def bool_param(self):
        if "flag" in self.params:
            return self.params["flag"]
        n = self.fresh("flag")
        self.params["flag"] = n
        d = self.r.choice(["true", "false"])
        self.add("param %s: bool = %s;" % (n, d))
        self.s.params.append((n, "bool", True, [0, 1]))
        return n

    # ---- side tensors ----------------------------------------------------------------------
    def side(self, kind):
        """Declares a side tensor of a kind once; returns its name."""
        if kind in self.sides:
            return self.sides[kind]
        fdt = lambda: self.r.choice(["f32", "f32", "f32", "bf16", "f16"])
        B, HQ, HKV, LQ, LK = (self.dim(x) for x in ("B", "Hq", "Hkv", "Lq", "Lk"))
        if kind == "tbl":   # indexed by a free size symbol of its own
            n = self.fresh("tbl")
            sym = self.fresh("NT")
            self.add("in %s: %s[%s];" % (n, fdt(), sym))
            self.s.free_syms.append((sym, [1, 5, 13, 64, 97]))
            self.sides["tbl_sym"] = sym
        elif kind in SIDE_TENSORS:
            names, dtype, dims = SIDE_TENSORS[kind]
            n = self.fresh(self.r.choice(names) if len(names) > 1 else names[0])
            dt = dtype or fdt()
            shape = dims.format(B=B, HQ=HQ, HKV=HKV, LQ=LQ, LK=LK)
            self.add("in %s: %s[%s];" % (n, dt, shape))
        else:
            raise ValueError(kind)
        self.sides[kind] = n
        return n

    def row(self):
        """The query row of position i (section 5)."""
        if "row" in self.lets:
            return self.lets["row"]
        if self.p(0.5):
            n = self.fresh("row")
            self.lets["row"] = n
            self.add("let %s = i - max(Lk - Lq, 0);" % n)
            return n
        return "i - max(Lk - Lq, 0)"

    def doc_i(self):
        self.s.lq_le_lk = True
        return "%s[b, i]" % self.side("doc")

    # ---- masks -----------------------------------------------------------------------------
    def win(self):
        """A window: mostly within a tile, sometimes across several."""
        if self.p(0.25):
            return self.int_value("window", 49, 400)
        return self.int_value("window", 0, 48)

    def mask_atom(self):
        r = self.r
        k = r.choice([
            "causal", "causal", "causal", "strict", "window", "window", "sym", "anti", "prefix",
            "tail", "dilate", "block", "doc", "doc", "docc", "head", "batch", "float", "flag",
            "const", "let", "fn", "kbf", "rowkb", "minmax", "rowhalf", "sum3", "fmod", "slope2",
            "trunc", "bconst", "dims", "docnb", "fwin", "ifn", "generic", "generic"])
        if k == "causal":
            return r.choice(["j <= i", "i >= j", "!(j > i)"])
        if k == "strict":
            c = r.randint(0, 7)
            return r.choice(["j < i - %d" % c, "j + %d < i" % c, "i - j > %d" % c])
        if k == "window":
            w = self.win()
            return r.choice(["i - j < %s" % w, "i - j <= %s" % w, "j > i - %s" % w])
        if k == "sym":
            w = self.win()
            return r.choice(["abs(i - j) <= %s" % w, "max(i - j, j - i) < %s" % w,
                             "abs(j - i) < %s" % w])
        if k == "anti":
            return r.choice(["j >= i", "j > i + %d" % r.randint(0, 5)])
        if k == "prefix":
            return "j < %s" % self.int_value("prefix", 0, r.choice([40, 300]))
        if k == "tail":
            return "j >= Lk - %s" % self.int_value("tail", 1, 60)
        if k == "dilate":
            st = self.int_value("stride", 1, 5, allow_zero_override=True)
            return r.choice(["(i - j) %% %s == 0" % st, "j %% %s != 1" % st,
                             "(j - i) %% %s == 0" % st])
        if k == "block":
            bs = self.int_value("bsize", 1, 40, allow_zero_override=True)
            return r.choice(["i / %s == j / %s" % (bs, bs), "(j - i) / %s == 0" % bs])
        if k == "doc":
            d = self.side("doc")
            return r.choice(["%s[b, j] == %s" % (d, self.doc_i()),
                             "%s == %s[b, j]" % (self.doc_i(), d)])
        if k == "docc":
            d = self.side("doc")
            return r.choice(["%s[b, j] <= %d" % (d, r.randint(0, 2)),
                             "%s[b, j] != %d" % (d, r.randint(0, 3))])
        if k == "head":
            return r.choice(["h % 2 == 0", "h < Hkv", "h == 0", "h % (Hq / Hkv) == 0",
                             "h / (Hq / Hkv) == 0", "h >= Hq - 1"])
        if k == "batch":
            return r.choice(["b == 0", "b != 1"])
        if k == "float":
            fw = self.float_value("fw", [0.5, 4.0, 10.5, 31.25])
            return r.choice(["float(i - j) * 0.5 < %s" % fw, "float(abs(i - j)) <= %s" % fw,
                             "float(j) * 0.25 >= float(h)", "(i - j) * 0.5 < %s" % fw])
        if k == "flag":
            f = self.bool_param()
            return r.choice([f, "!%s" % f])
        if k == "const":
            return r.choice(["true", "false", "true"])
        if k == "let":
            if "d" not in self.lets:
                n = self.fresh("d")
                self.lets["d"] = n
                self.add("let %s = i - j;" % n)
            d = self.lets["d"]
            return "(%s >= 0 && %s < %s)" % (d, d, self.win())
        if k == "fn":
            if "within" not in self.fns:
                n = self.fresh("within")
                self.fns["within"] = n
                self.add(r.choice(["fn %s(a, c, w) = abs(a - c) < w;",
                                   "fn %s(a, c, w) = c <= a && a - c < w;"]) % n)
            return "%s(i, j, %s)" % (self.fns["within"], self.win())
        if k == "kbf":
            return "%s[b, j] > %s" % (self.side("kb"), r.choice(
                ["-0.5", "0.25"] + ([] if "halfcmp0" in AVOID else ["0.0"])))
        if k == "rowkb":
            return "%s[b, %s] < %s[b, j] + 0.5" % (self.side("rowq"), self.row(), self.side("kb"))
        if k == "minmax":
            return r.choice(["min(i, j) >= %d" % r.randint(0, 9),
                             "max(i, j) < Lk - %d" % r.randint(0, 9)])
        if k == "rowhalf":
            return r.choice(["i >= Lq / 2", "i < Lk / 2 + %d" % r.randint(0, 9)])
        if k == "sum3":
            return "(i + j) % 3 != 0"
        if k == "fmod":
            return "float(i) % 4.0 < 2.0" if self.p(0.5) else "float(j - i) % 3.0 != -1.0"
        if k == "slope2":
            return "j * 2 <= i + %d" % r.randint(0, 9)
        if k == "trunc":
            return "(i - j) / 4 == %d" % r.randint(-1, 1)
        if k == "generic":
            return "(%s)" % self.g_bool(r.randint(1, 3), ["b", "h", "i", "j"])
        if k == "bconst":
            if "bconst" not in self.consts:
                n = self.fresh("causal")
                self.consts["bconst"] = n
                self.add("const %s = %s;" % (n, r.choice(["true", "false"])))
                self.s.consts.append((n, [0, 1]))
            n = self.consts["bconst"]
            return r.choice(["(!%s || j <= i)" % n, "(%s && j >= i)" % n])
        if k == "dims":
            return r.choice(["j < Dv", "h < Hq / 2", "i + j < Lk + Lq / 2", "j >= Dk / 8",
                             "b < B - 1 || j <= i"])
        if k == "docnb":
            d = self.side("doc")
            return "%s[b, max(j - 1, 0)] == %s[b, j]" % (d, d)
        if k == "fwin":
            # an i32 difference against an f32 value
            return "i - j < %s" % self.float_value("fw", [0.5, 3.5, 12.0, 40.25])
        if k == "ifn":
            if "dist" not in self.fns:
                n = self.fresh("dist")
                self.fns["dist"] = n
                self.add("fn %s(a, c) = max(a - c, c - a);" % n)
            return "%s(i, j) %s %s" % (self.fns["dist"], r.choice(["<", ">=", "!="]), self.win())
        raise ValueError(k)

    def mask_expr(self, depth):
        r = self.r
        if depth == 0 or r.random() < 0.35:
            return self.mask_atom(), "atom"
        c = r.random()
        if c < 0.45:
            a, ka = self.mask_expr(depth - 1)
            b, kb = self.mask_expr(depth - 1)
            wrap = lambda x, kx: x if kx in ("atom", "and") else "(%s)" % x
            return "%s && %s" % (wrap(a, ka), wrap(b, kb)), "and"
        if c < 0.72:
            a, ka = self.mask_expr(depth - 1)
            b, kb = self.mask_expr(depth - 1)
            # '&&' binds tighter than '||': its parentheses are optional
            wrap = lambda x, kx: x if kx == "atom" or (kx == "and" and r.random() < 0.5) \
                else "(%s)" % x
            return "%s || %s" % (wrap(a, ka), wrap(b, kb)), "or"
        if c < 0.84 or "boolselect" in AVOID:
            a, _ = self.mask_expr(depth - 1)
            return "!(%s)" % a, "atom"
        cond = self.mask_atom()
        a, _ = self.mask_expr(depth - 1)
        b, _ = self.mask_expr(depth - 1)
        if r.random() < 0.5:
            return "(%s ? %s : %s)" % (cond, a, b), "atom"
        return "select(%s, %s, %s)" % (cond, a, b), "atom"


    # ---- generic expressions -------------------------------------------------------------------
    # Random typed expressions over the index variables a place allows, with exact integer
    # arithmetic (no i32 overflow: products only by small literals), floats made from integers
    # by exact scalings, and transcendental functions only where a rounding difference between
    # the f32 kernel and the f64 reference cannot flip a comparison. `vars` is the index
    # variables the place allows.
    def g_int(self, depth, vars):
        r = self.r
        if depth <= 0 or r.random() < 0.3:
            leaves = list(vars) * 3 + ["lit", "lit", "dim"]
            if self.int_params_ok:
                leaves.append("val")
            k = r.choice(leaves)
            if k == "lit":
                return str(r.randint(-9, 40))
            if k == "dim":
                return r.choice(["Lq", "Lk", "Hq", "Hkv", "B", "Dk", "Dv"])
            if k == "val":
                return self.int_value("iv", -5, 30)
            return k
        k = r.choice(["add", "sub", "mul", "div", "mod", "neg", "abs", "min", "max", "clamp",
                      "cond", "select", "int"])
        a = lambda: self.g_int(depth - 1, vars)
        if k in INT_FORMS:
            return fill(INT_FORMS[k], a)
        if k == "mul":
            return "(%s * %d)" % (a(), r.randint(-3, 4))
        if k == "div":
            return "(%s / %s)" % (a(), r.choice([str(r.randint(-5, 9)), a()]))
        if k == "mod":
            return "(%s %% %s)" % (a(), r.choice([str(r.randint(-5, 9)), a()]))
        if k == "clamp":
            return "clamp(%s, %s, %s)" % (a(), r.randint(-20, 0), r.randint(0, 60))
        if k == "cond":
            return "(%s ? %s : %s)" % (self.g_bool(depth - 1, vars), a(), a())
        if k == "select":
            return "select(%s, %s, %s)" % (self.g_bool(depth - 1, vars), a(), a())
        return "int(%s)" % self.g_exact_float(depth - 1, vars)

    def g_exact_float(self, depth, vars):
        """An f32 value computed exactly from integers (comparisons of it are safe)."""
        r = self.r
        i = self.g_int(depth, vars)
        k = r.choice(["scale", "scale", "floor", "ceil", "mod", "plain"])
        if k == "scale":
            return "float(%s) * %s" % (i, r.choice(["0.5", "0.25", "2.0", "0.125", "-0.5"]))
        if k == "floor":
            return "floor(float(%s) * 0.25)" % i
        if k == "ceil":
            return "ceil(float(%s) * 0.5)" % i
        if k == "mod":
            return "(float(%s) %% %s)" % (i, r.choice(["3.0", "4.5", "-2.0"]))
        return "float(%s)" % i

    def g_bool(self, depth, vars):
        r = self.r
        if depth <= 0 or r.random() < 0.4:
            k = r.choice(["icmp", "icmp", "icmp", "fcmp", "lit"])
            op = r.choice(["<", "<=", ">", ">=", "==", "!="])
            if k == "icmp":
                return "%s %s %s" % (self.g_int(depth - 1, vars), op, self.g_int(depth - 1, vars))
            if k == "fcmp":
                return "%s %s %s" % (self.g_exact_float(depth - 1, vars), op,
                                     r.choice([self.g_int(depth - 1, vars), "%.2f" % r.uniform(-5, 40)]))
            return r.choice(["true", "false"])
        k = r.choice(["and", "or", "not"] + ([] if "boolselect" in AVOID else ["cond"]))
        return fill(BOOL_FORMS[k], lambda: self.g_bool(depth - 1, vars))

    def g_float(self, depth, vars, leaves=()):
        """A bounded f32 value (about -8..8); it may use transcendental functions."""
        r = self.r
        if depth <= 0 or r.random() < 0.25:
            k = r.choice(["ex", "ex", "lit", "leaf"] if leaves else ["ex", "ex", "lit"])
            if k == "leaf":
                return r.choice(leaves)
            if k == "lit":
                return fmt_float(r.choice([0.5, -1.25, 2.0, 0.1, 3.0]))
            return "tanh(float(%s) * 0.0625)" % self.g_int(depth - 1, vars) if r.random() < 0.5 \
                else "clamp(%s, -4.0, 4.0)" % self.g_exact_float(depth - 1, vars)
        f = lambda: self.g_float(depth - 1, vars, leaves)
        k = r.choice(["add", "sub", "mul", "tanh", "sig", "exp", "log", "sqrt", "rsqrt", "relu",
                      "softplus", "minmax", "clamp", "select", "cond", "mix", "pow", "exp2",
                      "log2", "mixint"])
        if k == "add":
            return "(%s + %s)" % (f(), f())
        if k == "sub":
            return "(%s - %s)" % (f(), f())
        if k == "mul":
            return "(%s * %s)" % (f(), fmt_float(r.choice([0.5, -0.75, 1.5])))
        if k in BOUNDED_UNARY:
            return BOUNDED_UNARY[k] % f()
        if k == "minmax":
            return "%s(%s, %s)" % (r.choice(["min", "max"]), f(), f())
        if k == "select":
            return "select(%s, %s, %s)" % (self.g_bool(depth - 1, vars), f(),
                                           r.choice([f(), self.g_int(1, vars)]))
        if k == "cond":
            return "(%s ? %s : %s)" % (self.g_bool(depth - 1, vars), f(), f())
        if k == "mix":
            return "(%s * 0.5 + %s)" % (f(), self.g_exact_float(0, vars) + " * 0.0625")
        if k == "mixint":
            return "(%s + clamp(%s, -3, 3))" % (f(), self.g_int(depth - 1, vars))
        # k == "pow" (no fmod of an inexact value here: a rounding difference in x would make
        # x % c jump by c)
        return "pow(1.0 + abs(%s), %s)" % (f(), r.choice(["0.5", "1.5", "2.0", "-1.0"]))

    # ---- scores ----------------------------------------------------------------------------
    def slope(self):
        r = self.r
        k = r.choice(["fn", "side", "lit", "let"])
        if k == "fn":
            if "slope" not in self.fns:
                n = self.fresh("slope")
                self.fns["slope"] = n
                self.add("fn %s(x) = 0.05 * exp2(-8.0 * (x + 1) / Hq);" % n)
            return "%s(h)" % self.fns["slope"]
        if k == "side":
            return "0.05 * %s[h]" % self.side("slopes")
        if k == "let":
            if "m" not in self.lets:
                n = self.fresh("m")
                self.lets["m"] = n
                self.add("let %s = h < 4 ? exp2(-8.0 * (h + 1) / 8) * 0.05 : 0.01;" % n)
            return self.lets["m"]
        return fmt_float(r.choice([0.01, 0.03125, 0.05]))

    def score_transform(self, e, bound):
        """Wraps e (magnitude about bound) in one transform; returns (text, new bound)."""
        r = self.r
        k = r.choice(["softcap", "softcap", "alibi", "alibi", "hbias", "kbias", "rel", "affine",
                      "select", "ssmax", "clamp", "squash", "logdist", "pow", "headf", "doc",
                      "rowq", "fmod", "batch", "trunc", "qkmix", "expt", "letz", "tbl", "qb4",
                      "hkb", "neginf", "kbrev", "relmod", "fnuse", "generic", "generic",
                      "generic"])
        if k == "softcap":
            c = self.float_value("cap", [5.0, 10.0, 20.0, 30.0, 50.0])
            if self.p(0.3):
                if "softcap" not in self.fns:
                    n = self.fresh("softcap")
                    self.fns["softcap"] = n
                    self.add("fn %s(x, c) = c * tanh(x / c);" % n)
                return "%s(%s, %s)" % (self.fns["softcap"], e, c), min(bound, 50)
            return "%s * tanh((%s) / %s)" % (c, e, c), min(bound, 50)
        if k == "alibi":
            d = r.choice(["(i - j)", "float(i - j)", "abs(i - j)", "float(abs(j - i))"])
            return "%s - %s * %s" % (e, self.slope(), d), bound + 25
        if k == "hbias":
            return "%s + %s[h]" % (e, self.side("bias")), bound + 1
        if k == "kbias":
            return "%s + %s[b, j]" % (e, self.side("kb")), bound + 1
        if k == "hkb":
            return "%s + %s[b, h / (Hq / Hkv), j]" % (e, self.side("hkb")), bound + 1
        if k == "rel":
            t = self.side("rel")
            ix = r.choice(["min(abs(i - j), 31)", "clamp(i - j + 16, 0, 31)",
                           "max(min(j - i, 31), 0)"])
            return "%s + %s[%s]" % (e, t, ix), bound + 1
        if k == "tbl":
            t = self.side("tbl")
            return "%s + 0.5 * %s[j %% %s]" % (e, t, self.sides["tbl_sym"]), bound + 1
        if k == "qb4":
            t = self.side("qb4")
            return "%s + %s[b, h, %s, j %% 2]" % (e, t, self.row()), bound + 1
        if k == "affine":
            if bound > 20:
                return "%s + 0.25" % e, bound
            t = self.float_value("temp", [0.5, 0.75, 1.0, 1.5, 2.0])
            return r.choice(["(%s) * 0.5 + 0.25" % e, "(%s) * %s" % (e, t),
                             "(%s) / %s" % (e, t)]), bound * 2
        if k == "select":
            cond = self.mask_atom()
            if r.random() < 0.5:
                return "select(%s, %s, (%s) - 1.0)" % (cond, e, e), bound + 1
            return "(%s ? %s : (%s) * 0.5)" % (cond, e, e), bound
        if k == "ssmax":
            if bound > 8:
                return e, bound
            if self.p(0.5):
                return "(%s) * log(float(i + 2))" % e, bound * 7
            return "%s[h] * log(float(i + 2)) * (%s)" % (self.side("bias"), e), bound * 7
        if k == "clamp":
            return r.choice(["max(%s, -2.0)" % e, "min(%s, 3.0)" % e,
                             "clamp(%s, -4.0, 4.0)" % e]), bound
        if k == "squash":
            return r.choice(["4.0 * sigmoid(%s)" % e, "relu(%s)" % e, "softplus(%s)" % e,
                             "2.0 * tanh(%s)" % e]), min(bound, 4)
        if k == "logdist":
            return "%s - 0.1 * log2(float(1 + abs(i - j)))" % e, bound + 1
        if k == "pow":
            if "negpow" in AVOID:
                return "%s + 0.1 * pow(float(abs(i - j) + 1), 0.5)" % e, bound + 4
            return r.choice(["%s - 0.00001 * (i - j) ** 2" % e,
                             "%s - 0.00001 * pow(float(i - j), 2.0)" % e,
                             "%s + 0.1 * pow(float(abs(i - j) + 1), 0.5)" % e]), bound + 4
        if k == "headf":
            return "(%s) * (1.0 + 0.25 * float(h %% 3))" % e, bound * 1.5
        if k == "doc":
            d = self.side("doc")
            if self.p(0.5):
                return "%s + (%s[b, j] == %s ? 0.0 : -1.5)" % (e, d, self.doc_i()), bound + 2
            return "%s + 0.5 * %s[b, j]" % (e, d), bound + 2
        if k == "rowq":
            return "%s + %s[b, %s]" % (e, self.side("rowq"), self.row()), bound + 1
        if k == "fmod":
            return "%s + 0.1 * (float(j) %% 3.0)" % e, bound + 1
        if k == "batch":
            return "%s + float(b) * 0.5" % e, bound + 1
        if k == "trunc":
            return "%s + float((i - j) / 4) * 0.01" % e, bound + 5
        if k == "qkmix":
            return "(%s) * 0.5 + 0.5 * qk * rsqrt(float(Dk))" % e, bound
        if k == "expt":
            return "exp(0.5 * tanh(%s))" % e, 2
        if k == "generic":
            g = self.g_float(r.randint(1, 4), ["b", "h", "i", "j"],
                             leaves=["tanh(%s)" % e, "clamp(%s, -6.0, 6.0)" % e])
            if e not in g:
                return "%s + %s" % (e, g), bound + 8
            return g, 8
        if k == "neginf":
            # a visible key with a -inf logit takes no weight
            return "(%s ? -inf : %s)" % (r.choice(["j % 3 == 1", "j > i + 2", "h == 1 && j < 2"]),
                                        e), bound
        if k == "kbrev":
            return "%s + %s[b, Lk - 1 - j]" % (e, self.side("kb")), bound + 1
        if k == "relmod":
            return "%s + %s[(i + j) %% 32]" % (e, self.side("rel")), bound + 1
        if k == "fnuse":
            if "dist" not in self.fns:
                n = self.fresh("dist")
                self.fns["dist"] = n
                self.add("fn %s(a, c) = max(a - c, c - a);" % n)
            return "%s - 0.02 * %s(i, j)" % (e, self.fns["dist"]), bound + 10
        if k == "letz":
            n = self.fresh("z")
            self.add("let %s = %s;" % (n, e))
            return n, bound
        raise ValueError(k)

    # ---- the spec ----------------------------------------------------------------------------
    def build(self):
        r, s = self.r, self.s
        s.comment = r.choice(["", "// generated by specfuzz", "/* generated\n   by specfuzz */"])
        # head dims
        s.dk = r.choice(HEAD_DIMS)
        s.dv = s.dk if self.p(0.65) else r.choice(HEAD_DIMS)
        s.dtype = r.choice(["bf16", "f16"])
        if self.p(0.12):
            s.mixed = {x: r.choice(["f32", "f16", "bf16"]) for x in "qkvo"}
        # dim names
        scheme = r.choice(["std", "std", "std", "alt", "sharedL", "sharedH"])
        names = {"std": dict(B="B", Hq="Hq", Hkv="Hkv", Lq="Lq", Lk="Lk"),
                 "alt": dict(B="N", Hq="H", Hkv="G", Lq="S", Lk="L"),
                 "sharedL": dict(B="B", Hq="Hq", Hkv="Hkv", Lq="L", Lk="L"),
                 "sharedH": dict(B="B", Hq="H", Hkv="H", Lq="Lq", Lk="Lk")}[scheme]
        s.lq_eq_lk = scheme == "sharedL"
        s.hq_eq_hkv = scheme == "sharedH"
        heads = "sym" if s.hq_eq_hkv else r.choice(["sym", "sym", "fixed", "fixed", "mixq",
                                                    "mixkv"])
        hkv = r.choice([1, 1, 2, 3, 4])
        hq = hkv * r.choice([1, 2, 3, 4])
        s.syms = dict(names)
        if heads in ("fixed", "mixq"):      # Hq fixed
            s.syms["Hq"] = None
            s.fixed["Hq"] = hq
        if heads in ("fixed", "mixkv"):     # Hkv fixed
            s.syms["Hkv"] = None
            s.fixed["Hkv"] = hkv
        if heads == "mixkv" and self.p(0.5):
            s.fixed["Hkv"] = 1              # MQA
        for v in s.syms.values():
            if v:
                self.names.add(v)
        self.names.update(["q", "k", "v", "o", "lse"])
        # head dims: a literal, a const or an expression
        def hd(val, base):
            c = r.random()
            if c < 0.15:
                n = self.fresh(base)
                self.add("const %s = %d;" % (n, val))
                return n
            if c < 0.22 and val % 8 == 0:
                return "%d * 8" % (val // 8)
            return str(val)
        dk = hd(s.dk, "hd")
        dv = dk if s.dv == s.dk and self.p(0.7) else hd(s.dv, "hdv")
        B, HQ, HKV, LQ, LK = (self.dim(x) for x in ("B", "Hq", "Hkv", "Lq", "Lk"))
        s.tensor_lines = [
            ("q", "in  q: @DT@[%s, %s, %s, %s];" % (B, HQ, LQ, dk)),
            ("k", "in  k: @DT@[%s, %s, %s, %s];" % (B, HKV, LK, dk)),
            ("v", "in  v: @DT@[%s, %s, %s, %s];" % (B, HKV, LK, dv)),
            ("o", "out o: @DT@[%s, %s, %s, %s];" % (B, HQ, LQ, dv)),
        ]
        if self.p(0.55):
            s.tensor_lines.append(("lse", "out lse: f32[%s, %s, %s];" % (B, HQ, LQ)))
        # scale
        bound = 1.5
        if self.p(0.3):
            c = r.choice(["lit", "dk", "param", "const", "dims", "side", "int"])
            if c == "lit":
                f = r.choice([0.5, 1.0, 1.5])
                self.add("scale = %s;" % fmt_float(f / s.dk ** 0.5))
                bound *= f
            elif c == "dk":
                self.add(r.choice(["scale = 1.0 / sqrt(float(Dk));", "scale = rsqrt(Dk);",
                                   "scale = 1.0 / sqrt(%d.0);" % s.dk]))
            elif c == "param":
                n = self.fresh("sc")
                v = 1.0 / s.dk ** 0.5
                self.add("param %s: f32 = %s;" % (n, fmt_float(v)))
                s.params.append((n, "f32", True, [v * 0.5, v * 2.0, 0.0]))
                self.add("scale = %s;" % n)
                bound *= 2
            elif c == "const":
                n = self.fresh("MS")
                self.add("const %s = %s;" % (n, r.choice(["1.0", "1.25", "0.75"])))
                s.consts.append((n, [0.5, 1.3689]))
                self.add("scale = %s * %s / sqrt(float(Dk));" % (n, n))
                bound *= 2
            elif c == "dims":
                self.add("scale = 1.0 / sqrt(float(Dk + Hkv));")
            elif c == "side":
                self.add("scale = rsqrt(float(Dk)) * (1.0 + 0.25 * %s[1]);" % self.side("scl"))
            elif c == "int":
                self.add("scale = %d;" % r.choice([0, 1]) if s.dk <= 24 else "scale = 0;")
        # score
        if self.p(0.7):
            if self.p(0.05):
                e = r.choice(["0.0", "float(j) * 0.01", "%s[b, j]" % self.side("kb"), "1"])
            elif self.p(0.75):
                e = "score"
            else:
                e = r.choice(["qk * rsqrt(float(Dk))", "qk / sqrt(float(Dk))",
                              "qk * %s" % fmt_float(1.0 / s.dk ** 0.5),
                              "0.5 * score + 0.5 * qk * rsqrt(float(Dk))"])
                if self.p(0.3):
                    n = self.fresh("raw")
                    self.add("let %s = qk;" % n)
                    e = e.replace("qk", n)
            for _ in range(r.choice([1, 1, 2, 2, 3])):
                e, bound = self.score_transform(e, bound)
            if self.p(0.02):   # a sum, which the hook emitter unrolls
                e = "%s + sum(r < 2: 0.0 * r)" % e
            self.add("score = %s;" % e)
        # mask
        if self.p(0.85):
            m, _ = self.mask_expr(r.choice([0, 1, 1, 2, 2, 3]))
            if self.p(0.15):
                n = self.fresh("vis")
                self.add("let %s = %s;" % (n, m))
                m = n
            self.add("mask = %s;" % m)
        # sink
        if self.p(0.3):
            c = r.choice(["side", "side", "lit", "param", "head", "batch", "bias"])
            if c == "side":
                e = "%s[h]" % self.side("sinks")
            elif c == "lit":
                e = fmt_float(r.choice([-1.0, 0.0, 0.5, 2.0]))
            elif c == "param":
                e = self.float_value("sp", [-1.0, 0.0, 1.0, 3.0], kind="param")
            elif c == "head":
                e = "log(float(h + 1))"
            elif c == "batch":
                e = "float(b) * 0.5 - 1.0"
            else:
                e = "%s[h] * 2.0 + %s" % (self.side("bias"), r.choice(["0.0", "1"]))
            self.add("sink = %s;" % e)
        s.shuffle = self.p(0.15)
        return s


def generate(seed, idx):
    rng = random.Random("specfuzz:%d:%d" % (seed, idx))
    return Gen(rng, "fz_%d_%d" % (seed, idx)).build()


# ---- sizes and command lines -------------------------------------------------------------------

def odd_len(r, lo, hi):
    n = r.randint(lo, hi)
    if n % 64 == 0:
        n += 1
    return n


def pick_runs(spec, seed, idx, nruns):
    """The -D lists of the runs of one spec (the same for every target)."""
    r = random.Random("specfuzz-runs:%d:%d" % (seed, idx))
    consts = []
    for name, vals in spec.consts:
        if r.random() < 0.25:
            consts.append((name, r.choice(vals)))
    kinds = ["prefill", "chunk", "decode", "longq"]
    r.shuffle(kinds)
    kinds = kinds[:nruns]
    if r.random() < 0.05:
        kinds[-1] = "empty"
    runs = []
    for kind in kinds:
        if spec.lq_eq_lk:
            kind = "prefill"
        if kind == "longq" and spec.lq_le_lk:
            kind = "chunk"
        if kind == "prefill":
            lq = lk = odd_len(r, 1, 190)
        elif kind == "chunk":
            lk = odd_len(r, 20, 330)
            lq = r.randint(2, max(2, lk - 1))
            lq = min(lq, lk)
        elif kind == "decode":
            lq = r.choice([1, 1, 1, 2, 3, 4])
            lk = odd_len(r, 1, 520) if r.random() < 0.7 else odd_len(r, 520, 2100)
            lq = min(lq, lk) if spec.lq_le_lk else lq
        elif kind == "longq":
            lk = odd_len(r, 1, 70)
            lq = odd_len(r, lk + 1, 200)
        else:   # an empty size: every row has no key, or there is no row
            lq, lk = r.choice([(0, 7), (5, 0), (1, 0), (0, 0)])
            if spec.lq_eq_lk:
                lq = lk = 0
            if spec.lq_le_lk:
                lq = min(lq, lk)
        hkv = spec.fixed.get("Hkv") or r.choice([1, 1, 2, 3, 4])
        if spec.fixed.get("Hq"):
            hq = spec.fixed["Hq"]
            if not spec.fixed.get("Hkv"):
                hkv = r.choice([d for d in range(1, hq + 1) if hq % d == 0])
        else:
            hq = hkv if spec.hq_eq_hkv else hkv * r.choice([1, 2, 3, 4, 5, 8])
        b = r.choice([1, 1, 2, 3])
        if kind == "empty" and r.random() < 0.3:
            b = 0
        while b > 1 and b * hq * lq * lk > 250000:
            b -= 1
        D = []
        name = lambda role: spec.syms.get(role) if spec.syms.get(role) and r.random() < 0.5 \
            else role
        D.append((name("B"), b))
        if spec.syms.get("Hq"):
            D.append((name("Hq"), hq))
        if spec.syms.get("Hkv") and not spec.hq_eq_hkv:
            D.append((name("Hkv"), hkv))
        D.append((name("Lq"), lq))
        if not spec.lq_eq_lk:
            D.append((name("Lk"), lk))
        for pname, ptype, has_def, vals in spec.params:
            if not has_def or r.random() < 0.5:
                D.append((pname, r.choice(vals)))
        for sname, vals in spec.free_syms:
            if r.random() < 0.6:
                D.append((sname, r.choice(vals)))
        runs.append(dict(kind=kind, defines=D + consts, data_seed=r.randint(1, 10 ** 6)))
    dr = random.Random("specfuzz-dtype:%d:%d" % (seed, idx))
    cpu_dtype = dr.choice([None, "bf16", "f16", "f32"]) if not spec.mixed else \
        dr.choice([None, None, "f32"])
    if cpu_dtype is None and not spec.mixed:
        cpu_dtype = spec.dtype if dr.random() < 0.7 else None
    gpu_dtype = dr.choice(["bf16", "f16"])
    threads = dr.choice([None, None, 1, 3])
    return runs, consts, cpu_dtype, gpu_dtype, threads


def fmt_num(v):
    if isinstance(v, float) and not v.is_integer():
        return repr(v)
    return str(int(v))


def dargs(defs):
    out = []
    for n, v in defs:
        out += ["-D", "%s=%s" % (n, fmt_num(v))]
    return out


# ---- running -----------------------------------------------------------------------------------

UNSUPPORTED_RE = re.compile(r"not supported on (target )?\S+|unsupported on this target")


def run_cmd(cmd, timeout, env):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           env=env)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return None, out + "\n[specfuzz: timed out after %ss]\n" % timeout


def classify_run(rc, out):
    """PASS, UNSUPPORTED or a failure kind."""
    if rc is None:
        return "TIMEOUT"
    if rc < 0:
        return "CRASH(signal %d)" % -rc
    lines = out.splitlines()
    if rc == 0 and "PASS" in lines:
        return "PASS"
    if "internal" in out.lower():
        return "INTERNAL"
    if any(l.startswith("FAIL") for l in lines):
        return "MISMATCH"
    if rc != 0 and UNSUPPORTED_RE.search(out):
        return "UNSUPPORTED"
    if rc != 0:
        return "ERROR(rc %d)" % rc
    return "NO-PASS-LINE"


def summary_of(out):
    """The error lines of a run, short."""
    m = re.findall(r"^\s+(o|lse)\s+error (\S+)\s.*?(ok|FAILED.*)$", out, re.M)
    return " ".join("%s %s%s" % (n, e, "" if s == "ok" else "!") for n, e, s in m)


class Ctx:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ)
        self.tmp = tempfile.mkdtemp(prefix="specfuzz.")
        # a private kernel cache: every spec is compiled by this attnc, none comes from an
        # earlier run (sizes and params of one spec still share its compiled kernel)
        self.env["ATTN_CACHE_DIR"] = os.path.join(self.tmp, "cache")
        self.lock = threading.Lock()


def check_spec(ctx, idx):
    """Generates spec idx and checks it on every target; returns (idx, [(target, status,
    detail, log)], spec text)."""
    a = ctx.args
    spec = generate(a.seed, idx)
    text = spec.text()
    d = os.path.join(ctx.tmp, "s%d" % idx)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, spec.name + ".attn")
    with open(path, "w") as f:
        f.write(text)
    results = []
    rc, out = run_cmd([a.attnc, "check", path], a.timeout, ctx.env)
    if rc != 0:
        log = "$ %s\n%s" % (shlex.join([a.attnc, "check", path]), out)
        return idx, [("check", "FAIL", "GEN " + first_error(out), log)], text, spec
    runs, consts, cpu_dtype, gpu_dtype, threads = pick_runs(spec, a.seed, idx, a.runs)
    for target in a.target_list:
        gpu = target in GPU_TARGETS
        # --explain: the plan and the mask's tile map at the first run's sizes
        lq, lk = run_sizes(spec, runs[0]["defines"])
        cmd = [a.attnc, "--explain=%dx%d" % (max(lq, 1), max(lk, 1)), "--target=" + target,
               path if not (gpu and spec.mixed) else gpu_copy(spec, d)] + dargs(consts)
        rc, out = run_cmd(cmd, a.timeout, ctx.env)
        st = classify_run(rc, out) if rc != 0 else "PASS"
        if st not in ("PASS", "UNSUPPORTED"):
            results.append((target, "FAIL", "explain %s: %s" % (st, first_error(out)),
                            "$ %s\n%s" % (shlex.join(cmd), out)))
            continue
        if gpu and a.ptxas is not None:
            results.append(ptx_check(ctx, spec, path, d, target, consts))
            continue
        dtype = gpu_dtype if gpu else cpu_dtype
        logs, statuses, details = [], [], []
        for n, run in enumerate(runs):
            cmd = [a.attnc, "run", path, "--target=" + target] + dargs(run["defines"])
            if dtype:
                cmd += ["--dtype", dtype]
            cmd += ["--repeat", "1", "--seed", str(run["data_seed"])]
            if threads and not gpu:
                cmd += ["--threads", str(threads)]
            rc, out = run_cmd(cmd, a.timeout, ctx.env)
            st = classify_run(rc, out)
            logs.append("$ %s\n%s" % (shlex.join(cmd), out))
            statuses.append(st)
            details.append("%s:%s%s" % (run["kind"], st if st != "PASS" else "ok",
                                        (" " + summary_of(out)) if summary_of(out) else ""))
            if st == "UNSUPPORTED":
                break   # the compile is refused whatever the sizes
        if all(s == "PASS" for s in statuses):
            status = "PASS"
        elif statuses and statuses[0] == "UNSUPPORTED":
            status = "UNSUPPORTED"
        else:
            status = "FAIL"
        det = "%s %s" % (dtype or "spec-dtypes", "; ".join(details))
        if status == "UNSUPPORTED":
            det = "%s: %s" % (dtype or "spec-dtypes", first_error(logs[0]))
        results.append((target, status, det, "\n".join(logs)))
    return idx, results, text, spec


def run_sizes(spec, defines):
    """Lq and Lk of a run, from its -D list."""
    vals = dict(defines)
    get = lambda role: vals.get(role, vals.get(spec.syms.get(role) or role, 0))
    lq = int(get("Lq"))
    lk = lq if spec.lq_eq_lk else int(get("Lk"))
    return lq, lk


def gpu_copy(spec, d):
    """GPU targets take all-bf16 or all-f16 q, k, v and o: a copy of a mixed-dtype spec in the
    spec's dtype."""
    p2 = os.path.join(d, spec.name + "_gpu.attn")
    with open(p2, "w") as f:
        f.write(spec.text({x: spec.dtype for x in "qkvo"}))
    return p2


def first_error(out):
    out = re.sub(r"/\S*/specfuzz\.[^/\s]*/s\d+/", "", out)   # the temporary folder
    for l in out.splitlines():
        if "error" in l:
            return l.strip()[:200]
    ls = [l for l in out.splitlines() if l.strip()]
    return (ls[-1][:200] if ls else "no output")


def ptx_check(ctx, spec, path, d, target, consts):
    """--emit=ptx for a GPU target, then ptxas for its architecture."""
    a = ctx.args
    p2 = gpu_copy(spec, d) if spec.mixed else path
    ptx = os.path.join(d, "%s.%s.ptx" % (spec.name, target))
    cmd = [a.attnc, "--target=" + target, "--emit=ptx", p2, "-o", ptx] + dargs(consts)
    rc, out = run_cmd(cmd, a.timeout, ctx.env)
    log = "$ %s\n%s" % (shlex.join(cmd), out)
    st = classify_run(rc, out) if rc != 0 else "OK"
    if st == "UNSUPPORTED":
        return (target, "UNSUPPORTED", "ptx: " + first_error(out), log)
    if st != "OK":
        return (target, "FAIL", "emit %s: %s" % (st, first_error(out)), log)
    cmd2 = [a.ptxas_path, "-arch=" + target, ptx, "-o", os.devnull]
    rc, out2 = run_cmd(cmd2, a.timeout, ctx.env)
    log += "$ %s\n%s" % (shlex.join(cmd2), out2)
    if rc != 0:
        return (target, "FAIL", "ptxas %s: %s" % ("timeout" if rc is None else "rc %d" % rc,
                                                 first_error(out2)), log)
    size = os.path.getsize(ptx)
    os.unlink(ptx)
    return (target, "PASS", "ptx %d KB assembled" % (size // 1024), log)


def keep_failure(ctx, idx, spec, text, target, log):
    a = ctx.args
    d = os.path.join(a.keep, "%d_%d" % (a.seed, idx))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, spec.name + ".attn"), "w") as f:
        f.write(text)
    # the logs name the spec in the temporary folder: name the kept copy instead
    tmp_path = os.path.join(ctx.tmp, "s%d" % idx, spec.name + ".attn")
    kept = os.path.join(d, spec.name + ".attn")
    with open(os.path.join(d, "%s.log" % target), "w") as f:
        f.write(log.replace(tmp_path, kept))
    cmds = [l[2:] for l in log.replace(tmp_path, kept).splitlines() if l.startswith("$ ")]
    with open(os.path.join(d, "%s.sh" % target), "w") as f:
        f.write("#!/bin/sh\n# specfuzz --seed %d --only %d, target %s\n" % (a.seed, idx, target))
        f.write("\n".join(cmds) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=40, help="number of specs")
    ap.add_argument("--first", type=int, default=0, help="index of the first spec")
    ap.add_argument("--only", type=int, action="append",
                    help="check only spec INDEX of this seed (repeatable)")
    ap.add_argument("--target", default=None, help="one target (default native)")
    ap.add_argument("--targets", default=None, help="comma-separated targets, e.g. sm_90a,sm_80")
    ap.add_argument("--attnc", default=os.path.join(root, "build", "attnc"))
    ap.add_argument("--keep", default=None, help="keep failing specs and commands in DIR")
    ap.add_argument("--ptxas", nargs="?", const="", default=None, metavar="PATH",
                    help="GPU targets: emit PTX and assemble it with ptxas (no GPU needed)")
    ap.add_argument("--runs", type=int, default=3, help="size configurations per spec (1-4)")
    ap.add_argument("--jobs", "-j", type=int, default=0, help="parallel specs (default: cores)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per attnc command")
    ap.add_argument("--show", action="store_true", help="print each failing spec's text and log")
    ap.add_argument("--avoid", default="",
                    help="comma-separated generator features to leave out: " +
                    ", ".join("%s (%s)" % kv for kv in FEATURES.items()))
    ap.add_argument("--print-specs", action="store_true", help="only print the specs")
    a = ap.parse_args()

    for f in filter(None, a.avoid.split(",")):
        if f not in FEATURES:
            ap.error("--avoid: unknown feature '%s'" % f)
        AVOID.add(f)
    targets = []
    if a.target:
        targets.append(a.target)
    if a.targets:
        targets += [t for t in a.targets.split(",") if t]
    if not targets:
        targets = ["native"]
    a.target_list = list(dict.fromkeys(targets))
    a.runs = max(1, min(4, a.runs))
    indices = a.only if a.only else list(range(a.first, a.first + a.count))
    if a.print_specs:
        for i in indices:
            print(generate(a.seed, i).text())
        return 0
    if a.ptxas is not None:
        a.ptxas_path = a.ptxas or shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
        if not os.path.exists(a.ptxas_path) and not shutil.which(a.ptxas_path):
            print("SKIP: ptxas not found (%s)" % a.ptxas_path)
            return 77
    if not os.access(a.attnc, os.X_OK):
        print("specfuzz: %s is not an executable attnc" % a.attnc)
        return 2
    gpu_runs = [t for t in a.target_list if t in GPU_TARGETS and a.ptxas is None]
    if gpu_runs:
        try:
            ok = subprocess.run(["nvidia-smi", "-L"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode == 0
        except OSError:
            ok = False
        if not ok:
            print("SKIP: %s needs an NVIDIA GPU (none found); --ptxas checks the PTX only" %
                  ",".join(gpu_runs))
            return 77
    jobs = a.jobs or (1 if gpu_runs else (os.cpu_count() or 1))
    ctx = Ctx(a)
    counts = {"PASS": 0, "FAIL": 0, "UNSUPPORTED": 0}
    failures = []
    print("specfuzz: seed %d, %d specs, targets %s%s, attnc %s" % (
        a.seed, len(indices), ",".join(a.target_list), " (ptxas)" if a.ptxas is not None else "",
        a.attnc), flush=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            for idx, results, text, spec in ex.map(lambda i: check_spec(ctx, i), indices):
                for target, status, detail, log in results:
                    counts[status] += 1
                    print("%-11s %d:%-4d %-8s %s" % (status, a.seed, idx, target, detail),
                          flush=True)
                    if status == "FAIL":
                        failures.append((idx, target))
                        if a.keep:
                            keep_failure(ctx, idx, spec, text, target, log)
                        if a.show:
                            print(text + log, flush=True)
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    if failures:
        print("failing: " + " ".join("--seed %d --only %d (%s)" % (a.seed, i, t)
                                     for i, t in failures))
    print("%d passed, %d failed, %d unsupported" % (counts["PASS"], counts["FAIL"],
                                                     counts["UNSUPPORTED"]))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
