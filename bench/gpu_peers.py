"""Peers on the GPU benchmark's dense matrix (bench/NOTES.md, "GPU kernel"): FlexAttention
(torch.compile, block mask from create_block_mask), SDPA with the flash (FA2) and cuDNN back ends,
bf16, B*L = 16384, Hq*D = 2048, timed with triton.testing.do_bench (median), after a check
against SDPA's math back end on a slice. Prints one line per case, TFLOPS over visible pairs."""
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


def _sdpa(backend, q, k, v, is_causal):
    with sdpa_kernel(backend):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal)


if __name__ == "__main__":
    sys.exit(main())
