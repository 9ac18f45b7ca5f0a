#!/usr/bin/env python3
"""bench/gpu/bench.py: attnc's GPU kernels against their peers, in one run, on the same tensors.

For every case of docs/bench.md's matrix (dense, variants, decode) it builds fresh random bf16
inputs, runs each implementation once and compares its output with an f64 reference computed
on the GPU (over a sample of heads and query rows, over all keys: the output says which), and
only then times it (triton.testing.do_bench, median, L2 flushed between repetitions). A wrong
output gets FAIL and no time. The ceilings of the machine (bf16 matmul 8192^3, device copy)
are measured in the same run; each case is also reported as a fraction of its roof.

Implementations: attnc (python/attn.py, spec text compiled for the GPU), torch SDPA with the
flash backend and with the cuDNN backend, and torch.compile(flex_attention) with block masks
from create_block_mask (score_mod for softcap and ALiBi). Compile latency: attnc's spec text to
a loaded kernel (cold cache, warm cache) and FlexAttention's first call per spec.

    python3 bench/gpu/bench.py --out results.json            # everything (PNG beside the JSON)
    python3 bench/gpu/bench.py --peers-only --quick --out r.json
    python3 bench/gpu/bench.py --plot-only r.json --png r.png  # redraw a plot from a result
"""

import argparse
import datetime
import json
import math
import os
import struct
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMPLS = ["attnc", "sdpa-flash", "sdpa-cudnn", "flex"]
BF16_TOL = 1e-2     # relative Frobenius error vs f64; bf16 operands land between 1e-3 and 1e-2


# ---- the matrix -----------------------------------------------------------------------------

def make_cases(quick):
    """Each case: shape, mask and score mod (as names and parameters, turned into torch
    functions by mask_mod/score_mod below) and its attnc spec."""
    cases = []
    for d in (128, 64):
        for L in (1024, 4096, 16384):
            for causal in (False, True):
                if quick and not (d == 128 and L == 4096):
                    continue
                cases.append(dict(group="dense", name="d%d L%d %s" % (d, L, "causal" if causal else "full"),
                                  B=16384 // L, Hq=2048 // d, Hkv=2048 // d, Lq=L, Lk=L, D=d,
                                  kind="causal" if causal else "full"))
    for kind in ("causal", "window", "documents", "prefix", "softcap", "alibi"):
        if quick and kind not in ("window", "softcap"):
            continue
        cases.append(dict(group="variant", name="var %s" % kind, B=2, Hq=16, Hkv=16, Lq=8192,
                          Lk=8192, D=128, kind=kind, window=1024, ndocs=16, prefix=2048, cap=50.0))
    for lk in (8192, 32768):
        if quick and lk != 8192:
            continue
        cases.append(dict(group="decode", name="decode Lk%d" % lk, B=8, Hq=32, Hkv=8, Lq=1,
                          Lk=lk, D=128, kind="full"))
    return cases


SPEC_HOOKS = {
    "full": "",
    "causal": "  mask = j <= i;\n",
    "window": "  param window: i32 = 1024;\n  mask = j <= i && i - j < window;\n",
    "documents": "  mask = j <= i && doc[b, i] == doc[b, j];\n",
    "prefix": "  param prefix: i32 = 2048;\n  mask = j <= i || j < prefix;\n",
    "softcap": "  const cap = 50.0;\n  score = cap * tanh(score / cap);\n  mask = j <= i;\n",
    "alibi": "  score = score - exp2(-8.0 * (h + 1) / Hq) * (i - j);\n  mask = j <= i;\n",
}


def spec_for(c):
    side = "  in  doc: i32[B, Lk];\n" if c["kind"] == "documents" else ""
    d = c["D"]
    return ("attention bench_%s {\n"
            "  in  q: bf16[B, Hq, Lq, %d];\n  in  k: bf16[B, Hkv, Lk, %d];\n"
            "  in  v: bf16[B, Hkv, Lk, %d];\n%s  out o: bf16[B, Hq, Lq, %d];\n%s}\n"
            % (c["kind"], d, d, d, side, d, SPEC_HOOKS[c["kind"]]))


def mask_mod(c, doc):
    """The mask as a FlexAttention mask_mod; also used by the reference on broadcast index
    tensors. None: every key is visible."""
    kind = c["kind"]
    if kind == "full":
        return None
    if kind == "window":
        w = c["window"]
        return lambda b, h, i, j: (j <= i) & (i - j < w)
    if kind == "documents":
        return lambda b, h, i, j: (j <= i) & (doc[b, i] == doc[b, j])
    if kind == "prefix":
        p = c["prefix"]
        return lambda b, h, i, j: (j <= i) | (j < p)
    return lambda b, h, i, j: j <= i     # causal, softcap, alibi


def score_mod(c):
    import torch
    if c["kind"] == "softcap":
        cap = c["cap"]
        return lambda s, b, h, i, j: cap * torch.tanh(s / cap)
    if c["kind"] == "alibi":
        H = c["Hq"]
        return lambda s, b, h, i, j: s - torch.exp2(-8.0 * (h + 1) / H) * (i - j)
    return None


def visible_pairs(c, doc):
    """Visible (i, j) pairs summed over the batch, counted exactly from the mask."""
    import torch
    L, kind = c["Lq"], c["kind"]
    if c["Lq"] == 1 or kind == "full":
        return c["B"] * c["Lq"] * c["Lk"]
    i = torch.arange(L, dtype=torch.int64)
    if kind == "window":
        per = torch.clamp(i + 1, max=c["window"]).sum().item()
    elif kind == "prefix":
        per = torch.clamp(i + 1, min=c["prefix"]).clamp(max=L).sum().item()
    elif kind == "documents":
        total = 0
        for b in range(c["B"]):
            n = torch.bincount(doc[b].long().cpu()).to(torch.int64)
            total += (n * (n + 1) // 2).sum().item()
        return total
    else:
        per = L * (L + 1) // 2
    return c["B"] * per


# ---- reference and check --------------------------------------------------------------------

def reference_sample(c, q, k, v, doc, max_heads=32, max_rows=256):
    """f64 reference on the GPU over a sample: the first batches' heads (at most max_heads
    (b, h) pairs) and max_rows query rows spread over the sequence (all rows when fewer),
    against all keys. Returns (sample, ref, description)."""
    import torch
    B, Hq, Hkv, Lq, Lk, D = (c[x] for x in ("B", "Hq", "Hkv", "Lq", "Lk", "D"))
    nb = max(1, min(B, max_heads // Hq))
    nh = min(Hq, max_heads)
    rows = torch.arange(Lq, device=q.device) if Lq <= max_rows else \
        torch.linspace(0, Lq - 1, max_rows, device=q.device).round().long().unique()
    mm, sm = mask_mod(c, doc), score_mod(c)
    g = Hq // Hkv
    refs = []
    for b in range(nb):
        bt = torch.tensor(b, device=q.device)
        h = torch.arange(nh, device=q.device).view(-1, 1, 1)
        i = (rows + (Lk - Lq if Lq < Lk else 0)).view(1, -1, 1)
        j = torch.arange(Lk, device=q.device).view(1, 1, -1)
        qs = q[b, :nh, rows].double()
        kk = k[b].double().repeat_interleave(g, dim=0)[:nh]
        vv = v[b].double().repeat_interleave(g, dim=0)[:nh]
        s = (qs @ kk.transpose(-1, -2)) / math.sqrt(D)
        if sm is not None:
            s = sm(s, bt, h, i, j)
        if mm is not None:
            s = s.masked_fill(~mm(bt, h, i, j), float("-inf"))
        refs.append(torch.softmax(s, dim=-1) @ vv)
        del s, kk, vv
    desc = "f64 on GPU: %d of %d (b,h) pairs x %d of %d query rows, all keys" % (
        nb * nh, B * Hq, len(rows), Lq)
    return (nb, nh, rows), torch.stack(refs), desc


def rel_error(out, sample, ref):
    nb, nh, rows = sample
    o = out[:nb, :nh][:, :, rows].double()
    if not bool(torch_isfinite_all(out)):
        return float("nan")
    return ((o - ref).norm() / ref.norm()).item()


def torch_isfinite_all(t):
    import torch
    return torch.isfinite(t).all()


# ---- implementations ------------------------------------------------------------------------

def peers(c, q, k, v, doc, flex, state):
    """Returns {impl: (callable returning the output, note)} for the peers that apply."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask
    out = {}
    gqa = c["Hq"] != c["Hkv"]
    causal = c["kind"] == "causal"
    if c["kind"] in ("full", "causal"):
        def sdpa(backend, kk, vv, g):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, kk, vv, is_causal=causal, enable_gqa=g)
        for name, backend in (("sdpa-flash", SDPBackend.FLASH_ATTENTION),
                              ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION)):
            run = lambda backend=backend: sdpa(backend, k, v, gqa)
            note = ""
            if gqa:
                try:
                    run()
                except RuntimeError:
                    # This backend has no GQA: give it K and V expanded to Hq heads, made
                    # outside the timing (it then reads Hq/Hkv times the bytes counted).
                    r = c["Hq"] // c["Hkv"]
                    kx, vx = k.repeat_interleave(r, 1), v.repeat_interleave(r, 1)
                    run = lambda backend=backend, kx=kx, vx=vx: sdpa(backend, kx, vx, False)
                    note = "K/V expanded to Hq heads outside the timing (enable_gqa unsupported)"
            out[name] = (run, note)
    mm, sm = mask_mod(c, doc), score_mod(c)
    block_mask = None
    if mm is not None:
        bdim = c["B"] if c["kind"] == "documents" else None
        block_mask = create_block_mask(mm, bdim, None, c["Lq"], c["Lk"], device=q.device)
    out["flex"] = (lambda: flex(q, k, v, score_mod=sm, block_mask=block_mask, enable_gqa=gqa),
                   "torch.compile(flex_attention)")
    return out


def ours(c, q, k, v, doc, attn, target):
    import torch
    kern = attn.compile(spec_for(c), target=target)
    o = torch.full_like(q, float("nan"))     # poisoned: an unwritten element fails the check
    args = dict(q=q, k=k, v=v, o=o)
    if doc is not None:
        args["doc"] = doc

    def run(reuse=False):
        kern(reuse_tile_map=reuse, **args)
        return o
    if doc is None:
        return {"attnc": (run, "spec: %s" % c["kind"])}
    # The doc ids are the same at every call, as FlexAttention's block mask (built once, outside
    # its timing) is: the tile map built at the first call is reused. The time with the map
    # rebuilt at every call is reported beside it (ms_map_rebuilt).
    return {"attnc": (lambda: run(reuse=True), "spec: %s; tile map reused (reuse_tile_map)" % c["kind"],
                      ("ms_map_rebuilt", run))}


# ---- ceilings and timing --------------------------------------------------------------------

def bench_ms(fn):
    import triton.testing
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def ceilings():
    import torch
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = bench_ms(lambda: a @ b)
    tflops = 2 * 8192 ** 3 / (ms * 1e-3) / 1e12
    del a, b
    n = 1 << 29      # 1 GiB of bf16, copied to another 1 GiB
    x = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    y = torch.empty_like(x)
    ms_c = bench_ms(lambda: y.copy_(x))
    gbps = 2 * x.numel() * 2 / (ms_c * 1e-3) / 1e9
    del x, y
    torch.cuda.empty_cache()
    return {"matmul_bf16_8192_tflops": tflops, "matmul_ms": ms,
            "copy_gbps_read_plus_write": gbps, "copy_bytes": 2 * n * 2, "copy_ms": ms_c}


def make_inputs(c, seed):
    import torch
    gen = torch.Generator(device="cuda").manual_seed(seed)
    shape = lambda h, l: (c["B"], h, l, c["D"])
    q = torch.randn(shape(c["Hq"], c["Lq"]), device="cuda", dtype=torch.bfloat16, generator=gen)
    k = torch.randn(shape(c["Hkv"], c["Lk"]), device="cuda", dtype=torch.bfloat16, generator=gen)
    v = torch.randn(shape(c["Hkv"], c["Lk"]), device="cuda", dtype=torch.bfloat16, generator=gen)
    doc = None
    if c["kind"] == "documents":
        # 16 documents of random lengths per sequence: 15 distinct random cut points.
        rows = []
        for _ in range(c["B"]):
            cuts = torch.randperm(c["Lk"] - 1, generator=torch.Generator().manual_seed(seed))[
                :c["ndocs"] - 1] + 1
            ids = torch.zeros(c["Lk"], dtype=torch.int32)
            ids[cuts] = 1
            rows.append(torch.cumsum(ids, 0).to(torch.int32))
            seed += 1
        doc = torch.stack(rows).cuda()
    return q, k, v, doc


def run_case(c, impls, attn, target, flex, roofs, log):
    import torch
    q, k, v, doc = make_inputs(c, seed=zlib.crc32(c["name"].encode()) & 0xFFFF)
    pairs = visible_pairs(c, doc)
    flops = 4.0 * c["Hq"] * pairs * c["D"]      # pairs already summed over the batch
    kv_bytes = 2 * k.numel() * k.element_size()
    sample, ref, ref_desc = reference_sample(c, q, k, v, doc)
    fns = {}
    if "attnc" in impls:
        try:
            fns.update(ours(c, q, k, v, doc, attn, target))
        except Exception as e:   # a compile error is a row, not the end of the run
            fns["attnc"] = (None, "ERROR: %s" % str(e).strip().splitlines()[0][:300])
    fns.update({n: f for n, f in peers(c, q, k, v, doc, flex, None).items() if n in impls})
    rows, compile_rows = [], []
    for name in impls:
        if name not in fns:
            continue
        fn, note, *extra = fns[name]
        row = dict(case=c["name"], group=c["group"], impl=name, B=c["B"], Hq=c["Hq"], Hkv=c["Hkv"],
                   Lq=c["Lq"], Lk=c["Lk"], D=c["D"], mask=c["kind"], visible_pairs=pairs,
                   flops=flops, kv_bytes=kv_bytes, reference=ref_desc, note=note)
        rows.append(row)
        if fn is None:
            row["status"] = "ERROR"
            log("%-18s %-11s %s" % (c["name"], name, note))
            continue
        try:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = fn()
            torch.cuda.synchronize()
            first = time.perf_counter() - t0
            if name == "flex":
                compile_rows.append(dict(impl="flex", case=c["name"], first_call_s=first,
                                         note="first call of torch.compile(flex_attention) on "
                                              "this case: compile + run"))
            err = rel_error(out, sample, ref)
            row["rel_err"] = err
            if not err < BF16_TOL:
                row["status"] = "FAIL"
                log("%-18s %-11s FAIL: relative error %.3g vs %s" % (c["name"], name, err, ref_desc))
                continue
            ms = bench_ms(fn)
        except Exception as e:
            row["status"] = "ERROR"
            row["note"] = "ERROR: %s" % str(e).strip().splitlines()[0][:300] if str(e).strip() else repr(e)
            log("%-18s %-11s %s" % (c["name"], name, row["note"]))
            continue
        row["status"] = "ok"
        row["ms"] = ms
        for key, other in extra:   # another way to run it, timed too (not the row's ms)
            err2 = rel_error(other(), sample, ref)
            row[key] = bench_ms(other) if err2 < BF16_TOL else None
            log("%-18s %-11s %s: %s (err %.2e)" % (c["name"], name, key, "%.3f ms" % row[key]
                                                  if row[key] else "FAIL", err2))
        if c["group"] == "decode":
            row["gbps"] = kv_bytes / (ms * 1e-3) / 1e9
            row["frac_of_roof"] = row["gbps"] / roofs["copy_gbps_read_plus_write"]
            log("%-18s %-11s %8.3f ms %8.0f GB/s  %5.1f%% of copy roof  err %.2e"
                % (c["name"], name, ms, row["gbps"], 100 * row["frac_of_roof"], err))
        else:
            row["tflops"] = flops / (ms * 1e-3) / 1e12
            row["frac_of_roof"] = row["tflops"] / roofs["matmul_bf16_8192_tflops"]
            log("%-18s %-11s %8.3f ms %8.1f TFLOPS %5.1f%% of matmul roof  err %.2e"
                % (c["name"], name, ms, row["tflops"], 100 * row["frac_of_roof"], err))
    del q, k, v, doc, ref, fns
    torch.cuda.empty_cache()
    return rows, compile_rows


def compile_latency(cases, attn, target):
    """attnc: spec text to a loaded kernel, first in an empty cache directory (cold) and then
    again (warm, from the disk cache), per distinct spec."""
    rows = []
    seen = set()
    saved = os.environ.get("ATTN_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ATTN_CACHE_DIR"] = tmp
        try:
            measure_compiles(cases, attn, target, seen, rows)
        finally:
            if saved is None:
                del os.environ["ATTN_CACHE_DIR"]
            else:
                os.environ["ATTN_CACHE_DIR"] = saved
    return rows


def measure_compiles(cases, attn, target, seen, rows):
    """One row per distinct spec: the first compile (cold cache) and the second (warm)."""
    for c in cases:
        spec = spec_for(c)
        if spec in seen:
            continue
        seen.add(spec)
        row = dict(impl="attnc", case=c["name"], spec=c["kind"], D=c["D"])
        try:
            t0 = time.perf_counter()
            attn.compile(spec, target=target)
            row["cold_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            attn.compile(spec, target=target)
            row["warm_s"] = time.perf_counter() - t0
        except Exception as e:
            row["error"] = str(e).strip().splitlines()[0][:300]
        rows.append(row)


# ---- plot ---------------------------------------------------------------------------------

COLORS = {"attnc": (214, 39, 40), "sdpa-flash": (31, 119, 180), "sdpa-cudnn": (44, 160, 44),
          "flex": (255, 127, 14)}


def plot(result, path):
    rows = [r for r in result["rows"] if r.get("status") == "ok"]
    cases = []
    for r in rows:
        if r["case"] not in cases:
            cases.append(r["case"])
    impls = [i for i in IMPLS if any(r["impl"] == i for r in rows)]
    val = {(r["case"], r["impl"]): 100 * r["frac_of_roof"] for r in rows}
    title = "%s, %s: %% of roof (matmul bf16 %.0f TFLOPS; decode: copy %.0f GB/s)" % (
        result["meta"]["gpu"], result["meta"]["date"],
        result["ceilings"]["matmul_bf16_8192_tflops"], result["ceilings"]["copy_gbps_read_plus_write"])
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return plot_png_fallback(cases, impls, val, title, path)
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(cases) + 2), 5))
    w = 0.8 / max(1, len(impls))
    for n, impl in enumerate(impls):
        xs = [x + (n - (len(impls) - 1) / 2) * w for x in range(len(cases))]
        ys = [val.get((cs, impl), 0) for cs in cases]
        ax.bar(xs, ys, w, label=impl, color=[v / 255 for v in COLORS.get(impl, (128, 128, 128))])
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(cases, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("% of roof")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return "matplotlib"


# A 3x5 pixel font for the fallback plot: each glyph is 5 rows of 3 bits.
FONT = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ%-./:,()", """
111101101101111 010110010010111 111001111100111 111001111001111 101101111001001
111100111001111 111100111101111 111001001010010 111101111101111 111101111001111
010101111101101 110101110101110 011100100100011 110101101101110 111100110100111
111100110100100 011100101101011 101101111101101 111010010010111 001001001101010
101101110101101 100100100100111 101111111101101 101111111111101 010101101101010
110101110100100 010101101110011 110101110101101 011100010001110 111010010010010
101101101101111 101101101101010 101101111111101 101101010101101 101101010010010
111001010100111 101001010100101 000000111000000 000000000000010 001001010100100
000010000010000 000000000010100 010100100100010 010001001001010""".split()))


def plot_png_fallback(cases, impls, val, title, path):
    """Bars per case, one per implementation, drawn into an RGB buffer and written as a PNG
    with zlib and struct (for machines without matplotlib)."""
    W, H, top, bottom, left = max(900, 60 * len(cases) + 120), 520, 40, 150, 60
    px = bytearray(b"\xff" * (W * H * 3))

    def rect(x0, y0, x1, y1, rgb):
        for y in range(max(0, y0), min(H, y1)):
            for x in range(max(0, x0), min(W, x1)):
                px[3 * (y * W + x):3 * (y * W + x) + 3] = bytes(rgb)

    def text(x, y, s, scale=2, vertical=False):
        for ch in s.upper():
            g = FONT.get(ch)
            if g:
                for r in range(5):
                    for col in range(3):
                        if g[3 * r + col] == "1":
                            if vertical:    # rotated: reads bottom to top
                                rect(x + r * scale, y - col * scale - scale, x + r * scale + scale,
                                     y - col * scale, (0, 0, 0))
                            else:
                                rect(x + col * scale, y + r * scale, x + col * scale + scale,
                                     y + r * scale + scale, (0, 0, 0))
            if vertical:
                y -= 4 * scale
            else:
                x += 4 * scale

    ymax = max([100.0] + list(val.values()))
    plot_h = H - top - bottom
    rect(left, top, left + 1, H - bottom, (0, 0, 0))
    rect(left, H - bottom, W - 20, H - bottom + 1, (0, 0, 0))
    for tick in range(0, int(ymax) + 1, 20):
        y = H - bottom - int(tick / ymax * plot_h)
        rect(left - 4, y, W - 20, y + 1, (220, 220, 220))
        text(left - 40, y - 4, "%d%%" % tick)
    slot = (W - 20 - left) / max(1, len(cases))
    bw = max(2, int(slot * 0.8 / max(1, len(impls))))
    for n, cs in enumerate(cases):
        x0 = left + int(n * slot + slot * 0.1)
        for m, impl in enumerate(impls):
            v = val.get((cs, impl))
            if v is not None:
                rect(x0 + m * bw, H - bottom - int(v / ymax * plot_h), x0 + (m + 1) * bw - 1,
                     H - bottom, COLORS.get(impl, (128, 128, 128)))
        text(x0 + int(slot * 0.3), H - 8, cs, vertical=True)
    text(10, 10, title[:(W - 20) // 8])
    for m, impl in enumerate(impls):
        rect(W - 200, top + 16 * m, W - 190, top + 16 * m + 10, COLORS.get(impl, (128, 128, 128)))
        text(W - 184, top + 16 * m, impl)
    raw = b"".join(b"\x00" + bytes(px[3 * W * y:3 * W * (y + 1)]) for y in range(H))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "built-in PNG writer"


# ---- report -------------------------------------------------------------------------------

def table(result):
    lines = []
    c = result["ceilings"]
    lines.append("ceilings: bf16 matmul 8192^3 %.0f TFLOPS; device copy %.0f GB/s (read+write)"
                 % (c["matmul_bf16_8192_tflops"], c["copy_gbps_read_plus_write"]))
    impls = [i for i in IMPLS if any(r["impl"] == i for r in result["rows"])]
    lines.append("%-18s" % "case" + "".join("%16s" % i for i in impls) + "   (TFLOPS or GB/s, % of roof)")
    cases = []
    for r in result["rows"]:
        if r["case"] not in cases:
            cases.append(r["case"])
    for cs in cases:
        cells = []
        for i in impls:
            r = next((r for r in result["rows"] if r["case"] == cs and r["impl"] == i), None)
            if r is None:
                cells.append("%16s" % "-")
            elif r["status"] == "ok":
                v = r.get("tflops", r.get("gbps"))
                cells.append("%16s" % ("%.0f (%.0f%%)" % (v, 100 * r["frac_of_roof"])))
            else:
                cells.append("%16s" % r["status"])
        lines.append("%-18s" % cs + "".join(cells))
    comp = result.get("compile", [])
    if comp:
        lines.append("compile latency (host: %s):" % result.get("meta", {}).get("host_cpu", "not recorded"))
        for r in comp:
            if r["impl"] == "flex":
                lines.append("  flex  %-18s first call %.2f s" % (r["case"], r["first_call_s"]))
            elif "error" in r:
                lines.append("  attnc %-18s ERROR %s" % (r["case"], r["error"][:80]))
            else:
                lines.append("  attnc %-18s cold %.1f ms, warm %.2f ms"
                             % (r["case"], 1e3 * r["cold_s"], 1e3 * r["warm_s"]))
    return "\n".join(lines)


def host_cpu():
    """The host's CPU model and core count: a cold compile is CPU work, and hosts differ."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), model)
    except OSError:
        pass
    return "%s, %d cores" % (model, os.cpu_count() or 0)


def meta_info():
    import torch
    import triton
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                gpu=torch.cuda.get_device_name(), torch=torch.__version__,
                triton=triton.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version(),
                sm_count=torch.cuda.get_device_properties(0).multi_processor_count,
                host_cpu=host_cpu())
    try:
        import subprocess
        meta["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                        capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        pass
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON result path (the PNG goes beside it unless --png)")
    ap.add_argument("--png", help="plot path")
    ap.add_argument("--peers-only", action="store_true", help="skip attnc (its GPU kernels absent)")
    ap.add_argument("--quick", action="store_true", help="a few cases only")
    ap.add_argument("--impl", action="append", choices=IMPLS, help="only these implementations")
    ap.add_argument("--plot-only", metavar="JSON", help="redraw the plot of an earlier result")
    args = ap.parse_args()
    if args.plot_only:
        result = json.load(open(args.plot_only))
        png = args.png or os.path.splitext(args.plot_only)[0] + ".png"
        print("plot (%s): %s" % (plot(result, png), png))
        print(table(result))
        return 0

    # FlexAttention's first call is a compile: give inductor and Triton empty caches, so that
    # it is measured cold whatever ran on this machine before (unless the caller chose them).
    fresh = tempfile.mkdtemp(prefix="bench-torch-cache-")
    for var, sub in (("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("TRITON_CACHE_DIR", "triton")):
        os.environ.setdefault(var, os.path.join(fresh, sub))
    # attnc's cold compile ends in the driver's PTX JIT; without this the driver's own cache
    # (~/.nv/ComputeCache) could serve a PTX text that an earlier run on this machine compiled.
    os.environ.setdefault("CUDA_CACHE_DISABLE", "1")
    import torch
    if not torch.cuda.is_available():
        print("no CUDA device: this benchmark needs a GPU")
        return 1
    impls = [i for i in (args.impl or IMPLS) if not (args.peers_only and i == "attnc")]
    attn, target = None, None
    if "attnc" in impls:
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import attn
        target = "cuda"
    cases = make_cases(args.quick)
    # attnc's compile latency first, before the ceilings and FlexAttention's set-up: timed after
    # them (until run 12) the same compiles took 50-200 ms more than in a fresh process; what
    # in them costs it is not pinned down (wrapping flex_attention alone does not; NOTES run 13).
    torch.zeros(1, device="cuda")
    compile_rows = compile_latency(cases, attn, target) if attn is not None else []

    from torch.nn.attention.flex_attention import flex_attention
    cfg = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                 "accumulated_cache_size_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, 10000)    # else flex falls back to an unfused path after 8 shapes
    flex = torch.compile(flex_attention, dynamic=False)   # one specialised kernel per shape
    log = lambda s: print(s, flush=True)
    meta = meta_info()
    meta["cuda_cache_disable"] = os.environ.get("CUDA_CACHE_DISABLE")
    meta.update(peers_only=args.peers_only, quick=args.quick, implementations=impls,
                timing="triton.testing.do_bench(warmup=25 ms, rep=100 ms, return_mode=median), "
                       "L2 flushed between repetitions",
                flops="4 * B * Hq * visible pairs * D, counted from the mask",
                tolerance="relative Frobenius error vs f64 < %g" % BF16_TOL,
                torch_caches={v: os.environ[v] for v in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")})
    if attn is not None:
        try:
            meta["attnc"] = "%s (%s)" % (attn.version(), attn.library_path())
        except Exception as e:
            meta["attnc"] = "unavailable: %s" % e
    log("%s | torch %s | triton %s | CUDA %s | cuDNN %s | %s" % (
        meta["gpu"], meta["torch"], meta["triton"], meta["cuda"], meta["cudnn"], meta["date"]))
    roofs = ceilings()
    log("ceilings: matmul bf16 8192^3 %.0f TFLOPS, copy %.0f GB/s"
        % (roofs["matmul_bf16_8192_tflops"], roofs["copy_gbps_read_plus_write"]))
    rows = []
    result = dict(meta=meta, ceilings=roofs, rows=rows, compile=compile_rows)
    for c in cases:
        try:
            r, cr = run_case(c, impls, attn, target, flex, roofs, log)
        except Exception as e:     # the setup of a case broke (reference, block mask): say so
            msg = "ERROR: %s" % (str(e).strip().splitlines() or [repr(e)])[0][:300]
            log("%-18s %s" % (c["name"], msg))
            r, cr = [dict(case=c["name"], group=c["group"], impl=i, status="ERROR", note=msg)
                     for i in impls], []
            torch.cuda.empty_cache()
        rows += r
        compile_rows += cr
        if args.out:    # after every case, so that a run cut short keeps what it measured
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1)
    if args.out:
        png = args.png or os.path.splitext(args.out)[0] + ".png"
        try:
            how = plot(result, png)
            log("wrote %s and %s (%s)" % (args.out, png, how))
        except Exception as e:
            log("wrote %s; plot failed: %s" % (args.out, e))
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
