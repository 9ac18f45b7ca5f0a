/* ref_test: air_reference against naive computations written out here, on small odd shapes:
 * causal + GQA + sink + Gemma-style softcap with Lq < Lk (bottom-right alignment), a mask
 * that leaves a row with no visible key (o = 0, lse = -inf; with a sink, lse = the sink), a
 * linear-attention recurrence, GLA's gated recurrence (row and column scaling), and the
 * f16 / bf16 conversions at their edge cases. */
#include "air.h"
#include "dtype.h"
#include "pass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define EXPECT(C, ...)                                                                        \
    do {                                                                                      \
        if (!(C)) {                                                                           \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static AirKernel *parse(Arena *a, const char *text)
{
    static Source src;
    src = (Source){"<test>", text, strlen(text)};
    Diags d;
    diags_init(&d, a, &src);
    AirKernel *k = air_parse(a, &d);
    if (!k || !air_verify(k, &d, NULL)) {
        fprintf(stderr, "%s", diags_render(&d, false));
        exit(1);
    }
    return k;
}

/* A contiguous tensor of shape s (rank n) in `args`, filled with random f32 values. */
static float *tensor_f32(AbiArgs *args, int t, int rank, const int64_t *s, bool fill)
{
    int64_t count = 1;
    for (int d = rank - 1; d >= 0; d--) {
        args->t[t].shape[d] = s[d];
        args->t[t].strides[d] = count;
        count *= s[d];
    }
    float *p = calloc((size_t)count, sizeof(float));
    for (int64_t x = 0; fill && x < count; x++) p[x] = (float)urand();
    args->t[t].data = p;
    return p;
}

static const char *gemma_like =
    "kernel g softmax\n heads 24 20\n sym B b\n sym Hq hq\n sym Hkv hkv\n sym Lq lq\n sym Lk lk\n"
    " tensor q in q f32 [B, Hq, Lq, 24]\n tensor k in k f32 [B, Hkv, Lk, 24]\n"
    " tensor v in v bf16 [B, Hkv, Lk, 20]\n tensor o out o f32 [B, Hq, Lq, 20]\n"
    " tensor lse out lse f32 [B, Hq, Lq]\n tensor sinks in side f32 [Hq]\n param cap f32 = 2\n"
    " %0 = score : f32\n %1 = param cap : f32\n %2 = div %0, %1 : f32\n %3 = tanh %2 : f32\n"
    " %4 = mul %1, %3 : f32\n %5 = idx i : i32\n %6 = idx j : i32\n %7 = le %6, %5 : bool\n"
    " %8 = idx h : i32\n %9 = load sinks %8 : f32\n"
    " hook score %4\n hook mask %7\n hook sink %9\nend\n";

static void test_causal_gqa_sink_softcap(Arena *a)
{
    AirKernel *k = parse(a, gemma_like);
    enum { B = 2, HQ = 6, HKV = 2, LQ = 5, LK = 9, DK = 24, DV = 20 };
    AbiArgs args;
    memset(&args, 0, sizeof args);
    float *q = tensor_f32(&args, 0, 4, (int64_t[]){B, HQ, LQ, DK}, true);
    float *kk = tensor_f32(&args, 1, 4, (int64_t[]){B, HKV, LK, DK}, true);
    /* v is stored as bf16 */
    tensor_f32(&args, 2, 4, (int64_t[]){B, HKV, LK, DV}, false);
    free(args.t[2].data);
    uint16_t *v = malloc(sizeof(uint16_t) * B * HKV * LK * DV);
    for (int x = 0; x < B * HKV * LK * DV; x++) v[x] = dtype_f32_to_bf16((float)urand());
    args.t[2].data = v;
    tensor_f32(&args, 3, 4, (int64_t[]){B, HQ, LQ, DV}, false);
    free(args.t[3].data);
    double *o = calloc(B * HQ * LQ * DV, sizeof(double));
    args.t[3].data = o;
    tensor_f32(&args, 4, 3, (int64_t[]){B, HQ, LQ}, false);
    free(args.t[4].data);
    double *lse = calloc(B * HQ * LQ, sizeof(double));
    args.t[4].data = lse;
    float *sinks = tensor_f32(&args, 5, 1, (int64_t[]){HQ}, true);
    args.fparam[0] = 2.0f;
    args.q_offset = LK - LQ;
    AirDtype dts[] = {DT_F32, DT_F32, DT_BF16, DT_F64, DT_F64, DT_F32};
    Diags d;
    diags_init(&d, a, NULL);
    EXPECT(air_reference(k, &args, dts, &d), "air_reference failed: %s", diags_render(&d, false));

    double maxerr = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HQ; h++)
            for (int r = 0; r < LQ; r++) {
                int kvh = h / (HQ / HKV), i = r + (LK - LQ);
                double logits[LK], m = sinks[h], den = 0, num[DV] = {0};
                for (int j = 0; j <= i && j < LK; j++) {
                    double dot = 0;
                    for (int x = 0; x < DK; x++)
                        dot += (double)q[((b * HQ + h) * LQ + r) * DK + x] *
                               (double)kk[((b * HKV + kvh) * LK + j) * DK + x];
                    logits[j] = 2.0 * tanh(dot / sqrt((double)DK) / 2.0);
                    if (logits[j] > m) m = logits[j];
                }
                for (int j = 0; j <= i && j < LK; j++) {
                    double p = exp(logits[j] - m);
                    den += p;
                    for (int x = 0; x < DV; x++)
                        num[x] += p * dtype_bf16_to_f32(v[((b * HKV + kvh) * LK + j) * DV + x]);
                }
                den += exp(sinks[h] - m);
                for (int x = 0; x < DV; x++)
                    maxerr = fmax(maxerr, fabs(num[x] / den - o[((b * HQ + h) * LQ + r) * DV + x]));
                maxerr = fmax(maxerr, fabs(m + log(den) - lse[(b * HQ + h) * LQ + r]));
            }
    EXPECT(maxerr < 1e-12, "causal/GQA/sink/softcap: max error %g", maxerr);
    printf("causal + GQA + sink + softcap, Lq %d < Lk %d: max |ref - naive| = %.3g\n", LQ, LK, maxerr);
    free(q), free(kk), free(v), free(o), free(lse), free(sinks);
}

/* mask j < i: query 0 sees nothing. Without a sink: o = 0, lse = -inf; with one: lse = sink. */
static void test_fully_masked(Arena *a, bool with_sink)
{
    const char *text = with_sink
        ? "kernel m softmax\n heads 16 16\n sym B b\n sym H hq\n sym L lq\n"
          " tensor q in q f32 [B, H, L, 16]\n tensor k in k f32 [B, H, L, 16]\n"
          " tensor v in v f32 [B, H, L, 16]\n tensor o out o f32 [B, H, L, 16]\n"
          " tensor lse out lse f32 [B, H, L]\n param s f32 = 0.5\n"
          " %0 = idx i : i32\n %1 = idx j : i32\n %2 = lt %1, %0 : bool\n %3 = param s : f32\n"
          " hook mask %2\n hook sink %3\nend\n"
        : "kernel m softmax\n heads 16 16\n sym B b\n sym H hq\n sym L lq\n"
          " tensor q in q f32 [B, H, L, 16]\n tensor k in k f32 [B, H, L, 16]\n"
          " tensor v in v f32 [B, H, L, 16]\n tensor o out o f32 [B, H, L, 16]\n"
          " tensor lse out lse f32 [B, H, L]\n"
          " %0 = idx i : i32\n %1 = idx j : i32\n %2 = lt %1, %0 : bool\n hook mask %2\nend\n";
    AirKernel *k = parse(a, text);
    AbiArgs args;
    memset(&args, 0, sizeof args);
    int64_t s4[] = {1, 1, 3, 16}, s3[] = {1, 1, 3};
    for (int t = 0; t < 4; t++) tensor_f32(&args, t, 4, s4, t < 3);
    float *o = args.t[3].data;
    for (int x = 0; x < 48; x++) o[x] = NAN;   /* must be overwritten */
    float *lse = tensor_f32(&args, 4, 3, s3, false);
    args.fparam[0] = 0.5f;
    AirDtype dts[] = {DT_F32, DT_F32, DT_F32, DT_F32, DT_F32};
    Diags d;
    diags_init(&d, a, NULL);
    EXPECT(air_reference(k, &args, dts, &d), "air_reference failed");
    for (int x = 0; x < 16; x++) EXPECT(o[x] == 0, "fully masked row: o[%d] = %g, want 0", x, o[x]);
    if (with_sink) EXPECT(lse[0] == 0.5f, "fully masked row with a sink: lse %g, want 0.5", lse[0]);
    else EXPECT(isinf(lse[0]) && lse[0] < 0, "fully masked row: lse %g, want -inf", lse[0]);
    EXPECT(isfinite(lse[1]) && isfinite(o[16]), "row 1 sees key 0");
    for (int t = 0; t < 5; t++) free(args.t[t].data);
}

/* S = S + outer(k[t], v[t]); o[t] = q[t] @ S, against prefix sums written out. */
static void test_recurrence(Arena *a)
{
    AirKernel *k = parse(a,
        "kernel lin recurrent\n heads 16 16\n state 16 16\n sym B b\n sym H hq\n sym L lq\n"
        " tensor q in q f32 [B, H, L, 16]\n tensor k in k f32 [B, H, L, 16]\n"
        " tensor v in v f32 [B, H, L, 16]\n tensor o out o f32 [B, H, L, 16]\n"
        " %0 = idx t : i32\n %1 = state : f32[16, 16]\n %2 = row k %0 : f32[16]\n"
        " %3 = row v %0 : f32[16]\n %4 = outer %2, %3 : f32[16, 16]\n %5 = add %1, %4 : f32[16, 16]\n"
        " %6 = row q %0 : f32[16]\n %7 = vecmat %6, %5 : f32[16]\n hook state %5\n hook out %7\nend\n");
    AbiArgs args;
    memset(&args, 0, sizeof args);
    int64_t s4[] = {1, 2, 7, 16};
    float *q = tensor_f32(&args, 0, 4, s4, true), *kk = tensor_f32(&args, 1, 4, s4, true);
    float *v = tensor_f32(&args, 2, 4, s4, true);
    tensor_f32(&args, 3, 4, s4, false);
    free(args.t[3].data);
    double *o = calloc(2 * 7 * 16, sizeof(double));
    args.t[3].data = o;
    AirDtype dts[] = {DT_F32, DT_F32, DT_F32, DT_F64};
    Diags d;
    diags_init(&d, a, NULL);
    EXPECT(air_reference(k, &args, dts, &d), "air_reference failed: %s", diags_render(&d, false));
    double maxerr = 0;
    for (int h = 0; h < 2; h++)
        for (int t = 0; t < 7; t++)
            for (int c = 0; c < 16; c++) {
                /* o[t][c] = sum_{s <= t} (q_t . k_s) v_s[c] */
                double want = 0;
                for (int s = 0; s <= t; s++) {
                    double dot = 0;
                    for (int x = 0; x < 16; x++) dot += (double)q[(h * 7 + t) * 16 + x] * kk[(h * 7 + s) * 16 + x];
                    want += dot * v[(h * 7 + s) * 16 + c];
                }
                maxerr = fmax(maxerr, fabs(want - o[(h * 7 + t) * 16 + c]));
            }
    EXPECT(maxerr < 1e-12, "recurrence: max error %g", maxerr);
    free(q), free(kk), free(v), free(o);
}

/* GLA (examples/gla.attn): S_t = diag(exp(gk_t)) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t, with
 * Dk != Dv; with `cols`, also S_t's columns times sigmoid(gv_t) (colscale). The state is
 * carried here as an explicit Dk x Dv matrix, step by step. */
static void test_gla(Arena *a, bool cols)
{
    enum { H = 2, L = 6, DK = 16, DV = 24 };
    AirKernel *k = parse(a, cols
        ? "kernel gla recurrent\n heads 16 24\n state 16 24\n sym B b\n sym H hq\n sym L lq\n"
          " tensor q in q f32 [B, H, L, 16]\n tensor k in k f32 [B, H, L, 16]\n"
          " tensor v in v f32 [B, H, L, 24]\n tensor o out o f32 [B, H, L, 24]\n"
          " tensor gk in side f32 [B, H, L, 16]\n tensor gv in side f32 [B, H, L, 24]\n"
          " %0 = idx b : i32\n %1 = idx h : i32\n %2 = idx t : i32\n"
          " %3 = load gk %0, %1, %2 : f32[16]\n %4 = exp %3 : f32[16]\n %5 = state : f32[16, 24]\n"
          " %6 = rowscale %4, %5 : f32[16, 24]\n %7 = load gv %0, %1, %2 : f32[24]\n"
          " %8 = sigmoid %7 : f32[24]\n %9 = colscale %6, %8 : f32[16, 24]\n"
          " %10 = row k %2 : f32[16]\n %11 = row v %2 : f32[24]\n %12 = outer %10, %11 : f32[16, 24]\n"
          " %13 = add %9, %12 : f32[16, 24]\n %14 = row q %2 : f32[16]\n"
          " %15 = vecmat %14, %13 : f32[24]\n hook state %13\n hook out %15\nend\n"
        : "kernel gla recurrent\n heads 16 24\n state 16 24\n sym B b\n sym H hq\n sym L lq\n"
          " tensor q in q f32 [B, H, L, 16]\n tensor k in k f32 [B, H, L, 16]\n"
          " tensor v in v f32 [B, H, L, 24]\n tensor o out o f32 [B, H, L, 24]\n"
          " tensor gk in side f32 [B, H, L, 16]\n"
          " %0 = idx b : i32\n %1 = idx h : i32\n %2 = idx t : i32\n"
          " %3 = load gk %0, %1, %2 : f32[16]\n %4 = exp %3 : f32[16]\n %5 = state : f32[16, 24]\n"
          " %6 = rowscale %4, %5 : f32[16, 24]\n"
          " %7 = row k %2 : f32[16]\n %8 = row v %2 : f32[24]\n %9 = outer %7, %8 : f32[16, 24]\n"
          " %10 = add %6, %9 : f32[16, 24]\n %11 = row q %2 : f32[16]\n"
          " %12 = vecmat %11, %10 : f32[24]\n hook state %10\n hook out %12\nend\n");
    AbiArgs args;
    memset(&args, 0, sizeof args);
    int64_t sk[] = {1, H, L, DK}, sv[] = {1, H, L, DV};
    float *q = tensor_f32(&args, 0, 4, sk, true), *kk = tensor_f32(&args, 1, 4, sk, true);
    float *v = tensor_f32(&args, 2, 4, sv, true);
    tensor_f32(&args, 3, 4, sv, false);
    free(args.t[3].data);
    double *o = calloc(H * L * DV, sizeof(double));
    args.t[3].data = o;
    float *gk = tensor_f32(&args, 4, 4, sk, true);
    float *gv = cols ? tensor_f32(&args, 5, 4, sv, true) : NULL;
    AirDtype dts[] = {DT_F32, DT_F32, DT_F32, DT_F64, DT_F32, DT_F32};
    Diags d;
    diags_init(&d, a, NULL);
    EXPECT(air_reference(k, &args, dts, &d), "air_reference failed: %s", diags_render(&d, false));
    double maxerr = 0, maxo = 0;
    for (int h = 0; h < H; h++) {
        double S[DK][DV] = {{0}};
        for (int t = 0; t < L; t++) {
            int row = h * L + t;
            for (int r = 0; r < DK; r++)
                for (int c = 0; c < DV; c++) {
                    double g = exp((double)gk[row * DK + r]);
                    if (cols) g *= 1 / (1 + exp(-(double)gv[row * DV + c]));
                    S[r][c] = g * S[r][c] + (double)kk[row * DK + r] * v[row * DV + c];
                }
            for (int c = 0; c < DV; c++) {
                double want = 0;
                for (int r = 0; r < DK; r++) want += (double)q[row * DK + r] * S[r][c];
                maxerr = fmax(maxerr, fabs(want - o[row * DV + c]));
                maxo = fmax(maxo, fabs(want));
            }
        }
    }
    EXPECT(maxerr < 1e-12 * fmax(1, maxo), "GLA%s: max error %g", cols ? " + colscale" : "", maxerr);
    printf("GLA recurrence%s, Dk %d, Dv %d, %d steps: max |ref - naive| = %.3g (max |o| %.3g)\n",
           cols ? " with column gates" : "", DK, DV, L, maxerr, maxo);
    free(q), free(kk), free(v), free(o), free(gk), free(gv);
}

static void test_conversions(void)
{
    EXPECT(dtype_f32_to_bf16(1.0f) == 0x3f80, "bf16(1)");
    EXPECT(dtype_f32_to_bf16(dtype_bits_f32(0x3f808000)) == 0x3f80, "bf16 tie to even, down");
    EXPECT(dtype_f32_to_bf16(dtype_bits_f32(0x3f818000)) == 0x3f82, "bf16 tie to even, up");
    EXPECT(dtype_f32_to_f16(65504.0f) == 0x7bff, "f16 max");
    EXPECT(dtype_f32_to_f16(65520.0f) == 0x7c00, "f16 overflow to inf");
    EXPECT(dtype_f32_to_f16(0x1p-24f) == 0x0001, "f16 least subnormal");
    EXPECT(dtype_f32_to_f16(0x1p-25f) == 0x0000, "f16 half the least subnormal ties to 0");
    EXPECT(dtype_f32_to_f16(0x1.8p-24f) == 0x0002, "f16 1.5 ulp ties to even (2)");
    EXPECT(dtype_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00, "f16 tie to even at 1");
    EXPECT(isnan(dtype_f16_to_f32(dtype_f32_to_f16(NAN))), "f16 NaN");
    /* every f16 value round trips through f32 */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
        if (dtype_f32_to_f16(dtype_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    EXPECT(bad == 0, "%d f16 values do not round trip", bad);
}

int main(void)
{
    Arena a;
    arena_init(&a);
    test_causal_gqa_sink_softcap(&a);
    test_fully_masked(&a, false);
    test_fully_masked(&a, true);
    test_recurrence(&a);
    test_gla(&a, false);
    test_gla(&a, true);
    test_conversions();
    arena_free(&a);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
