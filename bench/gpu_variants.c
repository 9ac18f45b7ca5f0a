/* gpu_variants: the variant rows of the GPU benchmark (bench/NOTES.md, "GPU kernel"): D = 128,
 * L = 8192, B = 2, H = 16, bf16, through the public API (attn_compile for sm_90a, attn_launch
 * on device tensors). Each variant is first checked on sampled rows against an f64 reference
 * written out here for its math, then timed with CUDA events around attn_launch (3 warm-ups,
 * median of 10; the time includes what attn_launch does besides the kernel, e.g. uploading the
 * tile map). TFLOPS count the visible pairs exactly: 4 * B * H * pairs * D.
 *
 *   gpu_variants [L [NAME]]   (needs a CUDA GPU; prints SKIP without one; NAME: only the
 *                              variants whose name contains it) */
#include "attn.h"
#include "cuda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 128, B = 2, H = 16, NDOC = 16 };

#define HEAD "  in q: bf16[B, H, L, 128]; in k: bf16[B, H, L, 128]; in v: bf16[B, H, L, 128];\n"
#define OUTS "  out o: bf16[B, H, L, 128]; out lse: f32[B, H, L];\n"

typedef struct Variant {
    const char *name, *spec;
    double param;   /* the spec's one param, or NAN */
} Variant;

static const Variant variants[] = {
    {"causal", "attention v {\n" HEAD OUTS "  mask = j <= i;\n}\n", NAN},
    {"sliding window 1024", "attention v {\n" HEAD OUTS
     "  param window: i32 = 1024;\n  mask = j <= i && i - j < window;\n}\n", 1024},
    {"documents (16, causal)", "attention v {\n" HEAD "  in doc: i32[B, L];\n" OUTS
     "  mask = j <= i && doc[b, i] == doc[b, j];\n}\n", NAN},
    {"prefix-LM 2048", "attention v {\n" HEAD OUTS
     "  param prefix: i32 = 2048;\n  mask = j < prefix || j <= i;\n}\n", 2048},
    {"softcap 50 + causal", "attention v {\n" HEAD OUTS
     "  score = 50.0 * tanh(score / 50.0);\n  mask = j <= i;\n}\n", NAN},
    {"ALiBi + causal", "attention v {\n" HEAD OUTS
     "  score = score - exp2(-8.0 * (h + 1) / H) * (i - j);\n  mask = j <= i;\n}\n", NAN},
};

static int32_t *doc;   /* [B, L] document ids, sorted */
static int L = 8192;

static bool visible(int vi, int b, int i, int j)
{
    switch (vi) {
    case 1: return j <= i && i - j < 1024;
    case 2: return j <= i && doc[b * L + i] == doc[b * L + j];
    case 3: return j < 2048 || j <= i;
    default: return j <= i;
    }
}

static double logit(int vi, int h, int i, int j, double s)
{
    if (vi == 4) return 50.0 * tanh(s / 50.0);
    if (vi == 5) return s - exp2(-8.0 * (h + 1) / H) * (i - j);
    return s;
}

static uint16_t bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static float unbf16(uint16_t v)
{
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

#define CK(x)                                                                                     \
    do {                                                                                          \
        AttnStatus s_ = (x);                                                                      \
        if (s_ != ATTN_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, attn_last_error());        \
            return 1;                                                                             \
        }                                                                                         \
    } while (0)

static void tensor(AttnTensor *t, RtDevPtr p, AttnDtype dt, int rank, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->data = (void *)(uintptr_t)p;
    t->dtype = dt;
    t->rank = rank;
    int64_t st = 1;
    for (int d = rank - 1; d >= 0; d--) {
        t->shape[d] = shape[d];
        t->strides[d] = st;
        st *= shape[d];
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) L = atoi(argv[1]);
    const char *only = argc > 2 ? argv[2] : NULL;
    if (!rt_cuda_available()) {
        rt_cuda_init();
        printf("SKIP: %s\n", attn_last_error());
        return 0;
    }
    RtCudaDevice dev;
    CK(rt_cuda_device_info(0, &dev));
    size_t n = (size_t)B * H * L * D;
    uint16_t *hq = malloc(2 * n), *hk = malloc(2 * n), *hv = malloc(2 * n), *ho = malloc(2 * n);
    doc = malloc(sizeof(int32_t) * (size_t)B * L);
    for (size_t x = 0; x < n; x++) {
        hq[x] = bf16((float)(urand() * 2 - 1) * 1.7f);
        hk[x] = bf16((float)(urand() * 2 - 1) * 1.7f);
        hv[x] = bf16((float)(urand() * 2 - 1));
    }
    for (int b = 0; b < B; b++) {   /* 16 documents: 15 random cut points */
        int cuts[NDOC];
        for (int c = 0; c < NDOC - 1; c++) cuts[c] = 1 + (int)(urand() * (L - 1));
        for (int i = 0; i < L; i++) {
            int id = 0;
            for (int c = 0; c < NDOC - 1; c++) id += i >= cuts[c];
            doc[b * L + i] = id;
        }
    }
    RtDevPtr dq, dk, dv, dout, dlse, ddoc;
    CK(rt_cuda_malloc(0, 2 * n, &dq)); CK(rt_cuda_malloc(0, 2 * n, &dk)); CK(rt_cuda_malloc(0, 2 * n, &dv));
    CK(rt_cuda_malloc(0, 2 * n, &dout)); CK(rt_cuda_malloc(0, 4 * n / D, &dlse));
    CK(rt_cuda_malloc(0, sizeof(int32_t) * (size_t)B * L, &ddoc));
    CK(rt_cuda_upload(dq, hq, 2 * n)); CK(rt_cuda_upload(dk, hk, 2 * n)); CK(rt_cuda_upload(dv, hv, 2 * n));
    CK(rt_cuda_upload(ddoc, doc, sizeof(int32_t) * (size_t)B * L));
    int64_t s4[4] = {B, H, L, D}, s3[3] = {B, H, L}, s2[2] = {B, L};
    void *e0, *e1;
    CK(rt_cuda_event_create(&e0));
    CK(rt_cuda_event_create(&e1));
    printf("device: %s; D %d, L %d, B %d, H %d, bf16, sm_90a\n", dev.name, D, L, B, H);
    int fails = 0;
    for (int vi = 0; vi < (int)(sizeof variants / sizeof variants[0]); vi++) {
        const Variant *va = &variants[vi];
        if (only && !strstr(va->name, only)) continue;
        AttnCompileOptions co = {.target = "sm_90a"};
        AttnKernel *k = NULL;
        CK(attn_compile(va->spec, va->name, &co, &k));
        AttnTensor t[6];
        int nt = 0;
        tensor(&t[nt++], dq, ATTN_BF16, 4, s4);
        tensor(&t[nt++], dk, ATTN_BF16, 4, s4);
        tensor(&t[nt++], dv, ATTN_BF16, 4, s4);
        if (vi == 2) tensor(&t[nt++], ddoc, ATTN_I32, 2, s2);
        tensor(&t[nt++], dout, ATTN_BF16, 4, s4);
        tensor(&t[nt++], dlse, ATTN_F32, 3, s3);
        double p = va->param;
        int np = isnan(p) ? 0 : 1;
        CK(rt_cuda_memset8(dout, 0xff, 2 * n));
        CK(attn_launch(k, t, nt, np ? &p : NULL, np, NULL));
        CK(rt_cuda_sync(0));
        CK(rt_cuda_download(ho, dout, 2 * n));
        /* sampled rows: 24 per (b, h) pair of two pairs */
        double num = 0, den = 0, pairs = 0;
        double *w = malloc(sizeof(double) * (size_t)L);
        int bh[2][2] = {{0, 0}, {1, H - 1}};
        for (int q = 0; q < 2; q++)
            for (int r = 0; r < 24; r++) {
                int b = bh[q][0], h = bh[q][1], i = (int)(urand() * L);
                size_t base = (((size_t)b * H + h) * L) * D;
                double mx = -INFINITY, sum = 0, acc[D] = {0};
                for (int j = 0; j < L; j++) {
                    w[j] = -INFINITY;
                    if (!visible(vi, b, i, j)) continue;
                    double s = 0;
                    for (int d = 0; d < D; d++)
                        s += (double)unbf16(hq[base + (size_t)i * D + d]) * unbf16(hk[base + (size_t)j * D + d]);
                    w[j] = logit(vi, h, i, j, s / sqrt((double)D));
                    if (w[j] > mx) mx = w[j];
                }
                for (int j = 0; j < L; j++) {
                    if (w[j] == -INFINITY) continue;
                    double e = exp(w[j] - mx);
                    sum += e;
                    for (int d = 0; d < D; d++) acc[d] += e * unbf16(hv[base + (size_t)j * D + d]);
                }
                for (int d = 0; d < D; d++) {
                    double ref = sum > 0 ? acc[d] / sum : 0, got = unbf16(ho[base + (size_t)i * D + d]);
                    num += (got - ref) * (got - ref) + (isnan(got) ? 1e30 : 0);
                    den += ref * ref;
                }
            }
        free(w);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < L; i++)
                for (int j = 0; j <= i || (vi == 3 && j < 2048); j++) pairs += visible(vi, b, i, j) && j < L;
        pairs *= H;   /* per (b, h): the masks here do not depend on h */
        double err = sqrt(num / den);
        bool ok = err < 1e-2;
        fails += !ok;
        for (int r = 0; r < 3; r++) CK(attn_launch(k, t, nt, np ? &p : NULL, np, NULL));
        float ms[10];
        for (int r = 0; r < 10; r++) {
            CK(rt_cuda_event_record(e0, NULL));
            CK(attn_launch(k, t, nt, np ? &p : NULL, np, NULL));
            CK(rt_cuda_event_record(e1, NULL));
            CK(rt_cuda_event_ms(e0, e1, &ms[r]));
        }
        for (int a = 0; a < 10; a++)
            for (int c = a + 1; c < 10; c++)
                if (ms[c] < ms[a]) { float x = ms[a]; ms[a] = ms[c]; ms[c] = x; }
        double med = 0.5 * (ms[4] + ms[5]);
        printf("%-24s %8.3f ms %7.1f TFLOPS  sampled rel err %.1e %s\n", va->name, med,
               4.0 * pairs * D / (med * 1e-3) / 1e12, err, ok ? "" : "WRONG");
        attn_kernel_free(k);
    }
    printf("%s\n", fails ? "FAILED" : "PASSED");
    return fails != 0;
}
