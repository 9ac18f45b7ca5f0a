"""Peers on the GPU benchmark's dense matrix (bench/NOTES.md, "GPU kernel"): FlexAttention
(torch.compile, block mask from create_block_mask), SDPA with the flash (FA2) and cuDNN back ends,
bf16, B*L = 16384, Hq*D = 2048, timed with triton.testing.do_bench (median), Flex checked
against SDPA flash; then FlexAttention on the variant rows (D 128, L 8192, B 2, H 16).
Prints one line per case, TFLOPS over visible pairs. Arguments: "dense" or "variants" for one part."""
import sys
import torch
import torch._dynamo
import triton.testing
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

torch._dynamo.config.recompile_limit = 1000
torch._dynamo.config.cache_size_limit = 1000
flex = torch.compile(flex_attention, dynamic=False)


def causal(b, h, q, k):
    return k <= q


def main():
    dev = "cuda"
    print("device:", torch.cuda.get_device_name(), flush=True)
    for d in (128, 64):
        for L in (1024, 4096, 16384):
            B, H = 16384 // L, 2048 // d
            q, k, v = (torch.randn(B, H, L, d, device=dev, dtype=torch.bfloat16) for _ in range(3))
            for is_causal in (False, True):
                pairs = L * (L + 1) / 2 if is_causal else L * L
                flops = 4 * B * H * pairs * d
                bm = create_block_mask(causal if is_causal else (lambda b, h, q, k: q >= 0),
                                       None, None, L, L, device=dev)
                ref = flex(q, k, v, block_mask=bm)
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    fa = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
                err = ((ref.float() - fa.float()).norm() / fa.float().norm()).item()
                row = []
                for name, fn in (
                    ("flex", lambda: flex(q, k, v, block_mask=bm)),
                    ("fa2", lambda: _sdpa(SDPBackend.FLASH_ATTENTION, q, k, v, is_causal)),
                    ("cudnn", lambda: _sdpa(SDPBackend.CUDNN_ATTENTION, q, k, v, is_causal)),
                ):
                    try:
                        ms = triton.testing.do_bench(fn, warmup=50, rep=200, return_mode="median")
                        row.append(f"{name} {flops / ms / 1e9:6.1f}")
                    except Exception as e:  # a back end may be unavailable for a shape
                        row.append(f"{name} n/a ({type(e).__name__})")
                print(f"peers d{d} L{L} {'causal' if is_causal else 'full'}: " + ", ".join(row)
                      + f"  (flex vs fa2 rel err {err:.1e})", flush=True)


def variants():
    """The variant rows: D 128, L 8192, B 2, H 16 (FlexAttention only), TFLOPS over visible pairs."""
    dev, B, H, L, D = "cuda", 2, 16, 8192, 128
    q, k, v = (torch.randn(B, H, L, D, device=dev, dtype=torch.bfloat16) for _ in range(3))
    cuts = torch.sort(torch.randint(1, L, (B, 15), device=dev), dim=1).values
    doc = (torch.arange(L, device=dev)[None, :, None] >= cuts[:, None, :]).sum(-1)
    slopes = torch.exp2(-8.0 * (torch.arange(H, device=dev) + 1) / H)
    cases = [
        ("causal", lambda b, h, i, j: j <= i, None),
        ("sliding window 1024", lambda b, h, i, j: (j <= i) & (i - j < 1024), None),
        ("documents (16, causal)", lambda b, h, i, j: (j <= i) & (doc[b, i] == doc[b, j]), None),
        ("prefix-LM 2048", lambda b, h, i, j: (j < 2048) | (j <= i), None),
        ("softcap 50 + causal", lambda b, h, i, j: j <= i, lambda s, b, h, i, j: 50.0 * torch.tanh(s / 50.0)),
        ("ALiBi + causal", lambda b, h, i, j: j <= i, lambda s, b, h, i, j: s - slopes[h] * (i - j)),
    ]
    for name, mask, score in cases:
        bm = create_block_mask(mask, B, None, L, L, device=dev)
        ii = torch.arange(L, device=dev)
        vis = sum(int(mask(b, 0, ii[:, None], ii[None, :]).sum()) for b in range(B)) * H
        fn = (lambda: flex(q, k, v, block_mask=bm)) if score is None else \
             (lambda: flex(q, k, v, score_mod=score, block_mask=bm))
        ms = triton.testing.do_bench(fn, warmup=50, rep=200, return_mode="median")
        print(f"peers variant {name}: flex {4 * vis * D / ms / 1e9:6.1f}", flush=True)


def _sdpa(backend, q, k, v, is_causal):
    with sdpa_kernel(backend):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal)


if __name__ == "__main__":
    if "variants" not in sys.argv[1:]:
        main()
    if "dense" not in sys.argv[1:]:
        variants()
