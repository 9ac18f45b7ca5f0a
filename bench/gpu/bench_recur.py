#!/usr/bin/env python3
"""bench/gpu/bench_recur.py: attnc's GPU recurrence kernels against flash-linear-attention (fla),
in one run, on the same tensors.

Families (docs/language.md section 10): linear attention, Mamba-2 (a scalar decay exp(g) per
step), GLA (a per-key decay exp(gk)), DeltaNet, Gated DeltaNet. Prefill cases are B 4, H 16,
T 4096, Dk = Dv = 128 (the q, k, v, o layout is fla's [B, T, H, D]; attnc reads it through
strides); one decode step (T 1, B 32, state in and out) for Gated DeltaNet.

Every implementation is first checked against an f64 reference computed on the GPU (the
recurrence step by step in torch f64), relative Frobenius error of o at most 2e-2 (bf16 inputs
and output; fla's chunked kernels keep bf16 intermediates), then timed with
triton.testing.do_bench (median of 100 ms after 25 ms of warm-up). attnc's cold compile (no
cache, to a loaded kernel) is timed too.

fla is imported only if it is installed (or on PYTHONPATH); without it the fla column says
"not installed" and attnc still runs. q and k are scaled by 1/sqrt(D) and L2-normalised for
the delta rules (as those models do), so every state stays bounded; fla is given scale 1.

usage: bench_recur.py [--out results.json] [--quick]
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

HEAD = """attention {name} {{
  in  q: bf16[B, H, T, {d}];
  in  k: bf16[B, H, T, {d}];
  in  v: bf16[B, H, T, {d}];
{extra}  out o: bf16[B, H, T, {d}];
  state S: f32[Dk, Dv]{init};
{state_out}
  S = {update};
  o[t] = q[t] @ S;
}}
"""

FAMILIES = {
    "linear": ("", "S + outer(k[t], v[t])"),
    "mamba2": ("  in  g: f32[B, H, T];\n", "exp(g[b, h, t]) * S + outer(k[t], v[t])"),
    "gla": ("  in  gk: f32[B, H, T, {d}];\n", "diag(exp(gk[b, h, t])) @ S + outer(k[t], v[t])"),
    "deltanet": ("  in  beta: f32[B, H, T];\n", "S + beta[b, h, t] * outer(k[t], v[t] - k[t] @ S)"),
    "gated_deltanet": ("  in  g: f32[B, H, T];\n  in  beta: f32[B, H, T];\n",
                       "exp(g[b, h, t]) * (S - beta[b, h, t] * outer(k[t], k[t] @ S)) + beta[b, h, t] * outer(k[t], v[t])"),
}


def spec(fam, d, with_state):
    extra, update = FAMILIES[fam]
    extra = extra.format(d=d)
    init, sout = "", ""
    if with_state:
        extra += "  in  s0: f32[B, H, Dk, Dv];\n  out s1: f32[B, H, Dk, Dv];\n"
        init, sout = " = s0", "  s1 = S;\n"
    return HEAD.format(name="bench_" + fam, d=d, extra=extra, init=init, state_out=sout, update=update)


def inputs(fam, B, T, H, D, seed, with_state):
    import torch
    g = torch.Generator(device="cuda").manual_seed(seed)
    r = lambda *s: torch.randn(*s, device="cuda", generator=g)
    u = lambda *s: torch.rand(*s, device="cuda", generator=g)
    q = r(B, T, H, D) / math.sqrt(D)
    k = r(B, T, H, D) / math.sqrt(D)
    if fam in ("deltanet", "gated_deltanet"):
        q = torch.nn.functional.normalize(q, dim=-1)
        k = torch.nn.functional.normalize(k, dim=-1)
    x = dict(q=q.bfloat16(), k=k.bfloat16(), v=r(B, T, H, D).bfloat16())
    if fam in ("mamba2", "gated_deltanet"):
        x["g"] = -0.1 * u(B, T, H) - 0.001          # log decays, [B, T, H]
    if fam == "gla":
        x["gk"] = -0.1 * u(B, T, H, D) - 0.001
    if fam in ("deltanet", "gated_deltanet"):
        x["beta"] = u(B, T, H)
    if with_state:
        x["s0"] = r(B, H, D, D) * 0.1
    return x


def reference(fam, x):
    """o (f64, [B, T, H, D]) and the final state, step by step."""
    import torch
    q, k, v = (x[n].double() for n in ("q", "k", "v"))
    B, T, H, D = q.shape
    S = x["s0"].double().clone() if "s0" in x else torch.zeros(B, H, D, D, device="cuda", dtype=torch.float64)
    o = torch.empty(B, T, H, D, device="cuda", dtype=torch.float64)
    for t in range(T):
        kt, vt, qt = k[:, t], v[:, t], q[:, t]                        # [B, H, D]
        if fam == "linear":
            S = S + kt[..., :, None] * vt[..., None, :]
        elif fam == "mamba2":
            S = torch.exp(x["g"][:, t].double())[..., None, None] * S + kt[..., :, None] * vt[..., None, :]
        elif fam == "gla":
            S = torch.exp(x["gk"][:, t].double())[..., :, None] * S + kt[..., :, None] * vt[..., None, :]
        else:
            a = torch.exp(x["g"][:, t].double()) if fam == "gated_deltanet" else torch.ones_like(x["beta"][:, t].double())
            beta = x["beta"][:, t].double()
            ks = torch.einsum("bhk,bhkv->bhv", kt, S)
            S = a[..., None, None] * (S - beta[..., None, None] * kt[..., :, None] * ks[..., None, :]) \
                + beta[..., None, None] * kt[..., :, None] * vt[..., None, :]
        o[:, t] = torch.einsum("bhk,bhkv->bhv", qt, S)
    return o, S


def bthd_as_bhtd(t):
    return t.transpose(1, 2)    # a [B, H, T, ...] view of a [B, T, H, ...] tensor


def ours(fam, x, with_state):
    import attn
    import torch
    t0 = time.perf_counter()
    kern = attn.compile(spec(fam, x["q"].shape[-1], with_state), target="sm_90a" if torch.cuda.get_device_capability()[0] >= 9 else "sm_80", cache=False)
    cold_ms = (time.perf_counter() - t0) * 1e3
    o = torch.full_like(x["q"], float("nan"))
    args = {n: bthd_as_bhtd(x[n]) for n in ("q", "k", "v")}
    args["o"] = bthd_as_bhtd(o)
    for n in ("g", "beta"):
        if n in x:
            args[n] = x[n].transpose(1, 2)
    if "gk" in x:
        args["gk"] = bthd_as_bhtd(x["gk"])
    s1 = None
    if with_state:
        s1 = torch.empty_like(x["s0"])
        args["s0"], args["s1"] = x["s0"], s1

    def run():
        kern(**args)
        return o, s1
    return run, cold_ms


def fla_fn(fam, x, with_state):
    """fla's kernel for the family: chunked for prefill, fused recurrent for a decode step."""
    import fla.ops as F  # noqa: F401  (raises ImportError when fla is missing)
    kw = dict(scale=1.0, initial_state=x.get("s0"), output_final_state=with_state)
    T = x["q"].shape[1]
    if fam in ("linear", "mamba2"):
        from fla.ops.simple_gla import chunk_simple_gla, fused_recurrent_simple_gla
        f = chunk_simple_gla if T > 1 else fused_recurrent_simple_gla
        g = x.get("g")
        return lambda: f(x["q"], x["k"], x["v"], g=g, **kw)
    if fam == "gla":
        from fla.ops.gla import chunk_gla, fused_recurrent_gla
        f = chunk_gla if T > 1 else fused_recurrent_gla
        return lambda: f(x["q"], x["k"], x["v"], x["gk"], **kw)
    if fam == "deltanet":
        from fla.ops.delta_rule import chunk_delta_rule, fused_recurrent_delta_rule
        f = chunk_delta_rule if T > 1 else fused_recurrent_delta_rule
        return lambda: f(x["q"], x["k"], x["v"], x["beta"], **kw)
    from fla.ops.gated_delta_rule import chunk_gated_delta_rule, fused_recurrent_gated_delta_rule
    f = chunk_gated_delta_rule if T > 1 else fused_recurrent_gated_delta_rule
    return lambda: f(x["q"], x["k"], x["v"], x["g"], x["beta"], **kw)


def rel(a, b):
    return ((a.double() - b).norm() / b.norm().clamp_min(1e-30)).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/results/gpu-recur.json")
    ap.add_argument("--quick", action="store_true", help="T 1024 instead of 4096")
    a = ap.parse_args()
    import torch
    import triton.testing
    bench = lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")
    try:
        import fla  # noqa: F401
        have_fla = True
    except Exception as e:   # not installed: say so, run attnc alone
        have_fla, why = False, "%s: %s" % (type(e).__name__, e)
    T = 1024 if a.quick else 4096
    cases = [(fam, 4, T, 16, 128, False) for fam in FAMILIES] + [("gated_deltanet", 32, 1, 16, 128, True)]
    rows = []
    print("device: %s; fla: %s" % (torch.cuda.get_device_name(), "installed" if have_fla else "not installed (%s)" % why))
    print("%-15s %-22s %10s %10s %9s %9s %9s" % ("family", "shape B,T,H,D", "attnc ms", "fla ms", "x fla", "err ours", "err fla"))
    for fam, B, T_, H, D, st in cases:
        x = inputs(fam, B, T_, H, D, 1, st)
        ref_o, ref_s = reference(fam, x)
        run, cold = ours(fam, x, st)
        o, s1 = run()
        torch.cuda.synchronize()
        e_ours = rel(o, ref_o)
        row = dict(family=fam, B=B, T=T_, H=H, D=D, state=st, attnc_err=e_ours, attnc_cold_ms=cold)
        if st:
            row["attnc_state_err"] = rel(s1, ref_s)
        ok = e_ours <= 2e-2 and (not st or row["attnc_state_err"] <= 2e-2)
        row["attnc_ms"] = bench(run) if ok else None
        if have_fla:
            try:
                f = fla_fn(fam, x, st)
                fo = f()
                fo = fo[0] if isinstance(fo, tuple) else fo
                row["fla_err"] = rel(fo, ref_o)
                row["fla_ms"] = bench(f) if row["fla_err"] <= 2e-2 else None
            except Exception as e:
                row["fla_error"] = "%s: %s" % (type(e).__name__, str(e)[:200])
        rows.append(row)
        fm = row.get("fla_ms")
        print("%-15s %-22s %10s %10s %9s %9.2e %9s" % (
            fam, "%d,%d,%d,%d%s" % (B, T_, H, D, " +state" if st else ""),
            "%.3f" % row["attnc_ms"] if row["attnc_ms"] else "FAIL",
            "%.3f" % fm if fm else (row.get("fla_error", "n/a")[:10] if have_fla else "n/a"),
            "%.2f" % (fm / row["attnc_ms"]) if fm and row["attnc_ms"] else "-", e_ours,
            "%.2e" % row["fla_err"] if "fla_err" in row else "-"), flush=True)
        print("    attnc cold compile %.0f ms" % cold, flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), fla=have_fla, rows=rows), f, indent=1)
    return 0 if all(r["attnc_ms"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
