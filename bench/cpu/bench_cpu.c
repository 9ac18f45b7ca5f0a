/* bench_cpu.c: attnc's CPU kernels measured beside their peers in one run, on the same inputs.
 * For each case of docs/bench.md (f32 and bf16 inputs, D 128, 8 heads, L 512..4096, causal and
 * not; decode with one query over 32768 keys, GQA 32/8) and each thread count, it times:
 *   attnc    the spec compiled by libattn (JIT, target native), launched through attn.h;
 *   naive    the triple loop a person writes first (scores, softmax, weighted sum), -O3 -march=native;
 *   blas     attention composed of OpenBLAS sgemm calls and a softmax pass, by blocks of rows;
 *   sgemm    the ceiling: one cblas_sgemm of a square shape with the same FLOP count
 *            (for decode, which is bound by memory: a memcpy of the K and V bytes).
 * Every implementation is first checked against an f64 evaluation of sampled rows (and attnc
 * also against attn_reference on a small shape); a wrong one is reported FAIL with no time.
 * bf16 cases: the peers convert the inputs to f32 inside their timed region; attnc reads bf16.
 * Output: a table on stdout and JSON (--out, default bench/results/cpu-<date>-<cpu>.json). */
#include "attn.h"

#include <cblas-openblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Weak, so that the program links and runs its peers against a libattn that has no compiler
 * yet; attnc is then reported unavailable. */
#pragma weak attn_compile
#pragma weak attn_launch
#pragma weak attn_reference
#pragma weak attn_kernel_free

enum { D = 128, BQ = 256, NSAMPLE = 12, MAXROWS = 64 };
enum { IM_ATTNC, IM_NAIVE, IM_BLAS, IM_CEIL, IM_COUNT };
static const char *const impl_names[IM_COUNT] = {"attnc", "naive", "blas", "sgemm"};

typedef struct Case {
    const char *name;
    int bf16, causal, hq, hkv, lq, lk;
} Case;

static const Case cases[] = {
    {"f32 L512 full", 0, 0, 8, 8, 512, 512},     {"f32 L512 causal", 0, 1, 8, 8, 512, 512},
    {"f32 L2048 full", 0, 0, 8, 8, 2048, 2048},  {"f32 L2048 causal", 0, 1, 8, 8, 2048, 2048},
    {"f32 L4096 full", 0, 0, 8, 8, 4096, 4096},  {"f32 L4096 causal", 0, 1, 8, 8, 4096, 4096},
    {"bf16 L2048 full", 1, 0, 8, 8, 2048, 2048}, {"bf16 L2048 causal", 1, 1, 8, 8, 2048, 2048},
    {"decode Lk32768 gqa32/8", 0, 0, 32, 8, 1, 32768},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

typedef struct Row {
    const Case *c;
    int impl, threads, reps, ok;
    double ms, rate, frac, err;     /* rate: GFLOP/s, or GB/s for decode */
    char note[160];
} Row;

typedef struct Opts {
    int peers_only, quick, threads[4], nthreads;
    double naive_max_gflop;
    const char *out;
} Opts;

/* ---- helpers -------------------------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float rnd(void)   /* uniform, mean 0, variance 1 */
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)(((rng_state >> 11) * 0x1.0p-53) * 2.0 - 1.0) * 1.7320508f;
}

static uint16_t to_bf16(float f)   /* round to nearest even */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void *xmalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* Position of query row r: the queries are the last Lq positions when Lq < Lk. */
static int64_t qpos(const Case *c, int64_t r) { return r + (c->lq < c->lk ? c->lk - c->lq : 0); }

static int64_t visible(const Case *c, int64_t r)
{
    int64_t n = c->causal ? qpos(c, r) + 1 : c->lk;
    return n < c->lk ? n : c->lk;
}

static double case_flops(const Case *c)
{
    double pairs = 0;
    for (int64_t r = 0; r < c->lq; r++) pairs += (double)visible(c, r);
    return 4.0 * c->hq * pairs * D;
}

static int is_decode(const Case *c) { return c->lq == 1; }
static double kv_bytes(const Case *c) { return 2.0 * c->hkv * c->lk * D * (c->bf16 ? 2 : 4); }

/* ---- inputs --------------------------------------------------------------------------------- */

typedef struct Inputs {
    float *q, *k, *v;          /* f32 copies (for bf16 cases: the bf16 values, widened) */
    uint16_t *qb, *kb, *vb;    /* bf16 inputs, bf16 cases only */
    double *ref;               /* f64 output of the sampled rows: [hq][NSAMPLE][D] */
    int64_t rows[NSAMPLE];
} Inputs;

static void sample_reference(const Case *c, Inputs *in)
{
    for (int s = 0; s < NSAMPLE; s++) in->rows[s] = (int64_t)s * (c->lq - 1) / (NSAMPLE - 1);
    in->ref = xmalloc(sizeof(double) * c->hq * NSAMPLE * D);
    double *sc = xmalloc(sizeof(double) * c->lk);
    for (int h = 0; h < c->hq; h++) {
        int kh = h / (c->hq / c->hkv);
        for (int s = 0; s < NSAMPLE; s++) {
            const float *q = in->q + ((int64_t)h * c->lq + in->rows[s]) * D;
            int64_t n = visible(c, in->rows[s]);
            double m = -INFINITY, sum = 0, *o = in->ref + ((int64_t)h * NSAMPLE + s) * D;
            for (int64_t j = 0; j < n; j++) {
                const float *kr = in->k + ((int64_t)kh * c->lk + j) * D;
                double d = 0;
                for (int x = 0; x < D; x++) d += (double)q[x] * kr[x];
                sc[j] = d / sqrt((double)D);
                m = fmax(m, sc[j]);
            }
            memset(o, 0, sizeof(double) * D);
            for (int64_t j = 0; j < n; j++) {
                double p = exp(sc[j] - m);
                const float *vr = in->v + ((int64_t)kh * c->lk + j) * D;
                sum += p;
                for (int x = 0; x < D; x++) o[x] += p * vr[x];
            }
            for (int x = 0; x < D; x++) o[x] /= sum;
        }
    }
    free(sc);
}

static void make_inputs(const Case *c, Inputs *in)
{
    int64_t nq = (int64_t)c->hq * c->lq * D, nk = (int64_t)c->hkv * c->lk * D;
    memset(in, 0, sizeof *in);
    in->q = xmalloc(4 * nq), in->k = xmalloc(4 * nk), in->v = xmalloc(4 * nk);
    float *bufs[3] = {in->q, in->k, in->v};
    int64_t ns[3] = {nq, nk, nk};
    for (int t = 0; t < 3; t++)
        for (int64_t x = 0; x < ns[t]; x++) bufs[t][x] = rnd();
    if (c->bf16) {
        uint16_t **bb[3] = {&in->qb, &in->kb, &in->vb};
        for (int t = 0; t < 3; t++) {
            *bb[t] = xmalloc(2 * ns[t]);
            for (int64_t x = 0; x < ns[t]; x++) {
                (*bb[t])[x] = to_bf16(bufs[t][x]);
                bufs[t][x] = from_bf16((*bb[t])[x]);
            }
        }
    }
    sample_reference(c, in);
}

static void free_inputs(Inputs *in)
{
    free(in->q), free(in->k), free(in->v), free(in->qb), free(in->kb), free(in->vb), free(in->ref);
}

/* Relative Frobenius error of o (f32 [hq][lq][D]) over the sampled rows; NaN when any element
 * of o is not finite (o is poisoned with NaN before the checked run). */
static double check_output(const Case *c, const Inputs *in, const float *o)
{
    int64_t n = (int64_t)c->hq * c->lq * D;
    for (int64_t x = 0; x < n; x++)
        if (!isfinite(o[x])) return NAN;
    double num = 0, den = 0;
    for (int h = 0; h < c->hq; h++)
        for (int s = 0; s < NSAMPLE; s++)
            for (int x = 0; x < D; x++) {
                double r = in->ref[((int64_t)h * NSAMPLE + s) * D + x];
                double e = o[((int64_t)h * c->lq + in->rows[s]) * D + x] - r;
                num += e * e, den += r * r;
            }
    return sqrt(num / den);
}

/* ---- the peers ------------------------------------------------------------------------------ */

/* Widens the bf16 inputs of a bf16 case into scratch (the peers' first step); returns the f32
 * views to use. For f32 cases it returns the inputs themselves. */
typedef struct F32View { const float *q, *k, *v; } F32View;

static F32View widen(const Case *c, const Inputs *in, float *scratch)
{
    if (!c->bf16) return (F32View){in->q, in->k, in->v};
    int64_t nq = (int64_t)c->hq * c->lq * D, nk = (int64_t)c->hkv * c->lk * D;
    float *q = scratch, *k = q + nq, *v = k + nk;
#pragma omp parallel for schedule(static)
    for (int64_t x = 0; x < nq; x++) q[x] = from_bf16(in->qb[x]);
#pragma omp parallel for schedule(static)
    for (int64_t x = 0; x < nk; x++) k[x] = from_bf16(in->kb[x]), v[x] = from_bf16(in->vb[x]);
    return (F32View){q, k, v};
}

static void run_naive(const Case *c, const Inputs *in, float *o, float *scratch)
{
    F32View f = widen(c, in, scratch);
    const float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel
    {
        float *s = xmalloc(sizeof(float) * c->lk);
#pragma omp for collapse(2) schedule(dynamic, 16)
        for (int h = 0; h < c->hq; h++)
            for (int64_t r = 0; r < c->lq; r++) {
                int kh = h / (c->hq / c->hkv);
                const float *q = f.q + ((int64_t)h * c->lq + r) * D;
                const float *k = f.k + (int64_t)kh * c->lk * D, *v = f.v + (int64_t)kh * c->lk * D;
                float *out = o + ((int64_t)h * c->lq + r) * D, m = -INFINITY, sum = 0;
                int64_t n = visible(c, r);
                for (int64_t j = 0; j < n; j++) {
                    float d = 0;
                    for (int x = 0; x < D; x++) d += q[x] * k[j * D + x];
                    s[j] = d * scale;
                    m = fmaxf(m, s[j]);
                }
                for (int x = 0; x < D; x++) out[x] = 0;
                for (int64_t j = 0; j < n; j++) {
                    float p = expf(s[j] - m);
                    sum += p;
                    for (int x = 0; x < D; x++) out[x] += p * v[j * D + x];
                }
                for (int x = 0; x < D; x++) out[x] /= sum;
            }
        free(s);
    }
}

/* exp for the softmax pass, written so that the compiler vectorizes it (glibc's expf is a
 * scalar call without -ffast-math, and would make this peer look slower than PyTorch's, which
 * uses a vector exp). Relative error about 2e-7 over the softmax range (x <= 0). */
static inline float vexp(float x)
{
    x = x < -87.0f ? -87.0f : x;    /* (fmaxf would not vectorize) */
    float t = x * 1.44269504f + 12582912.0f;          /* round(x / ln 2) in the low bits */
    float n = t - 12582912.0f;
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666418f +
                          r * (0.00833336823f + r * 0.00138889044f)))));
    int32_t bits;
    memcpy(&bits, &t, 4);
    int32_t e = (bits - 0x4B400000 + 127) << 23;      /* 2^n */
    float scale;
    memcpy(&scale, &e, 4);
    return p * scale;
}

/* Softmax of m rows of S (ld floats each), row t seeing its first lim[t] entries; the rest are
 * zeroed. Writes 1/sum per row into inv. */
static void softmax_rows(float *S, int64_t ld, int m, const int64_t *lim, float *inv)
{
    for (int t = 0; t < m; t++) {
        float *s = S + t * ld, mx = -INFINITY, sum = 0, amx[16], asum[16];
        int64_t n = lim[t], n16 = n / 16 * 16, j;
        /* 16 lanes of partial max and sum, so the reductions vectorize without -ffast-math. */
        for (int l = 0; l < 16; l++) amx[l] = -INFINITY, asum[l] = 0;
        for (j = 0; j < n16; j += 16)
            for (int l = 0; l < 16; l++) amx[l] = s[j + l] > amx[l] ? s[j + l] : amx[l];
        for (int l = 0; l < 16; l++) mx = fmaxf(mx, amx[l]);
        for (; j < n; j++) mx = fmaxf(mx, s[j]);
        for (j = 0; j < n; j++) s[j] = vexp(s[j] - mx);
        for (j = 0; j < n16; j += 16)
            for (int l = 0; l < 16; l++) asum[l] += s[j + l];
        for (int l = 0; l < 16; l++) sum += asum[l];
        for (; j < n; j++) sum += s[j];
        for (j = n; j < ld; j++) s[j] = 0;
        inv[t] = 1.0f / sum;
    }
}

/* By blocks of BQ query rows (for decode: the GQA group's heads as the rows), S = Q K^T by
 * sgemm over the keys the block can see, softmax, O = P V by sgemm. The blocks are spread over
 * the threads, each calling single-threaded sgemm (one thread pool, not two fighting). S holds
 * BQ * Lk floats per thread. */
static void run_blas(const Case *c, const Inputs *in, float *o, float *scratch, float *S)
{
    F32View f = widen(c, in, scratch);
    const float scale = 1.0f / sqrtf((float)D);
    const int g = c->hq / c->hkv, decode = c->lq == 1;
    const int64_t nrb = (c->lq + BQ - 1) / BQ, nblk = decode ? c->hkv : c->hq * nrb;
    openblas_set_num_threads(1);
#pragma omp parallel
    {
        float *s = S + (int64_t)omp_get_thread_num() * BQ * c->lk, inv[BQ];
        int64_t lim[BQ];
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < nblk; blk++) {
            int h = decode ? (int)blk * g : (int)(blk / nrb);
            int64_t r0 = decode ? 0 : blk % nrb * BQ;
            int m = decode ? g : (int)(c->lq - r0 < BQ ? c->lq - r0 : BQ);
            int64_t kend = decode ? visible(c, 0) : visible(c, r0 + m - 1);
            for (int t = 0; t < m; t++) lim[t] = decode ? visible(c, 0) : visible(c, r0 + t);
            const float *k = f.k + (int64_t)(h / g) * c->lk * D, *v = f.v + (int64_t)(h / g) * c->lk * D;
            const float *q = f.q + ((int64_t)h * c->lq + r0) * D;
            float *out = o + ((int64_t)h * c->lq + r0) * D;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, kend, D, scale, q, D, k, D,
                        0.0f, s, kend);
            softmax_rows(s, kend, m, lim, inv);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, D, kend, 1.0f, s, kend, v, D,
                        0.0f, out, D);
            for (int t = 0; t < m; t++)
                for (int x = 0; x < D; x++) out[t * D + x] *= inv[t];
        }
    }
}

/* The memory roof: a copy of the K and V bytes, split over the threads. */
static void run_copy(float *dst, const float *src, int64_t nfloats)
{
#pragma omp parallel
    {
        int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t lo = nfloats * t / nt, hi = nfloats * (t + 1) / nt;
        memcpy(dst + lo, src + lo, sizeof(float) * (hi - lo));
    }
}

/* ---- attnc --------------------------------------------------------------------------------- */

typedef struct AttncKernels {
    AttnKernel *k[2][2];   /* [bf16][causal] */
    char error[512], checked[256];
} AttncKernels;

static AttnStatus attnc_compile(int bf16, int causal, AttnKernel **out)
{
    char spec[512];
    const char *t = bf16 ? "bf16" : "f32";
    snprintf(spec, sizeof spec,
             "attention bench_%s_%s {\n"
             "  in  q: %s[B, Hq, Lq, %d];\n  in  k: %s[B, Hkv, Lk, %d];\n"
             "  in  v: %s[B, Hkv, Lk, %d];\n  out o: f32[B, Hq, Lq, %d];\n%s}\n",
             t, causal ? "causal" : "full", t, D, t, D, t, D, D,
             causal ? "  mask = j <= i;\n" : "");
    AttnCompileOptions co = {.target = "native"};
    return attn_compile(spec, "bench.attn", &co, out);
}

static AttnTensor tensor4(void *data, AttnDtype dt, int64_t h, int64_t l)
{
    AttnTensor t = {.data = data, .dtype = dt, .rank = 4};
    int64_t shape[4] = {1, h, l, D}, strides[4] = {h * l * D, l * D, D, 1};
    memcpy(t.shape, shape, sizeof shape);
    memcpy(t.strides, strides, sizeof strides);
    return t;
}

static AttnStatus attnc_launch(AttnKernel *kern, const Case *c, const Inputs *in, void *o,
                               AttnDtype odt, int threads, int reference)
{
    AttnDtype dt = c->bf16 ? ATTN_BF16 : ATTN_F32;
    AttnTensor ts[4] = {
        tensor4(c->bf16 ? (void *)in->qb : in->q, dt, c->hq, c->lq),
        tensor4(c->bf16 ? (void *)in->kb : in->k, dt, c->hkv, c->lk),
        tensor4(c->bf16 ? (void *)in->vb : in->v, dt, c->hkv, c->lk),
        tensor4(o, odt, c->hq, c->lq),
    };
    if (reference) return attn_reference(kern, ts, 4, NULL, 0);
    AttnLaunchOptions lo = {.num_threads = threads};
    return attn_launch(kern, ts, 4, NULL, 0, &lo);
}

/* Compiles the four kernels and checks each against attn_reference on a small GQA shape whose
 * length is not a multiple of any tile. Returns 0 and a message when attnc is not usable. */
static int attnc_prepare(AttncKernels *ak)
{
    if (!attn_compile || !attn_launch || !attn_reference || !attn_kernel_free) {
        snprintf(ak->error, sizeof ak->error, "this libattn has no compiler yet (%s)", attn_version());
        return 0;
    }
    for (int b = 0; b < 2; b++)
        for (int cz = 0; cz < 2; cz++) {
            if (attnc_compile(b, cz, &ak->k[b][cz]) != ATTN_OK) {
                snprintf(ak->error, sizeof ak->error, "compile: %s", attn_last_error());
                return 0;
            }
            Case small = {"small", b, cz, 4, 2, 77, 77};
            Inputs in;
            make_inputs(&small, &in);
            int64_t n = (int64_t)small.hq * small.lq * D;
            float *o = xmalloc(4 * n);
            double *ref = xmalloc(8 * n), num = 0, den = 0;
            double err = NAN;
            for (int64_t x = 0; x < n; x++) o[x] = NAN;    /* unwritten elements must fail */
            if (attnc_launch(ak->k[b][cz], &small, &in, o, ATTN_F32, 1, 0) != ATTN_OK) {
                snprintf(ak->error, sizeof ak->error, "small check: %s", attn_last_error());
            } else if (attnc_launch(ak->k[b][cz], &small, &in, ref, ATTN_F64, 1, 1) == ATTN_OK) {
                for (int64_t x = 0; x < n; x++)
                    num += (o[x] - ref[x]) * (o[x] - ref[x]), den += ref[x] * ref[x];
                err = sqrt(num / den);
                snprintf(ak->checked, sizeof ak->checked, "checked vs attn_reference (small GQA shape)");
            } else {
                /* No reference in this libattn: the f64 loop of this program checks instead. */
                snprintf(ak->checked, sizeof ak->checked,
                         "checked vs the f64 loop on a small GQA shape (attn_reference: %.100s)",
                         attn_last_error());
                err = check_output(&small, &in, o);
            }
            free(o), free(ref), free_inputs(&in);
            if (!(err < 1e-4)) {
                if (isfinite(err) || !ak->error[0])
                    snprintf(ak->error, sizeof ak->error, "small check: relative error %.3g", err);
                return 0;
            }
        }
    return 1;
}

/* ---- timing -------------------------------------------------------------------------------- */

typedef struct Bench {
    const Case *c;
    const Inputs *in;
    float *o, *scratch, *S, *ga, *gb, *gc, *cp_src, *cp_dst;
    int64_t gemm_n;
    AttnKernel *kern;
} Bench;

static int run_impl(Bench *bn, int impl, int threads)
{
    const Case *c = bn->c;
    switch (impl) {
    case IM_ATTNC:
        return attnc_launch(bn->kern, c, bn->in, bn->o, ATTN_F32, threads, 0) == ATTN_OK;
    case IM_NAIVE: run_naive(c, bn->in, bn->o, bn->scratch); return 1;
    case IM_BLAS: run_blas(c, bn->in, bn->o, bn->scratch, bn->S); return 1;
    case IM_CEIL:
        if (is_decode(c)) {
            run_copy(bn->cp_dst, bn->cp_src, (int64_t)kv_bytes(c) / 4);
        } else {
            int n = (int)bn->gemm_n;
            openblas_set_num_threads(threads);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, bn->ga, n, bn->gb,
                        n, 0.0f, bn->gc, n);
        }
        return 1;
    }
    return 0;
}

/* One timed run; a ceiling run is followed by a pause, since OpenBLAS's threads spin for a
 * while after a call and would take the cores from whatever runs next. */
static void pause_after_blas(void)
{
    openblas_set_num_threads(1);
    nanosleep(&(struct timespec){0, 100000000}, NULL);
}

static double time_once(Bench *bn, int impl, int threads)
{
    double t0 = now();
    run_impl(bn, impl, threads);
    double t = now() - t0;
    if (impl == IM_CEIL) pause_after_blas();
    return t;
}

/* The checked run (also the warm-up): poisons the output, runs, compares with f64. Returns
 * the run's time, or a negative value with row->note set when the row fails. */
static double check_impl(Bench *bn, Row *row)
{
    const Case *c = bn->c;
    int64_t n = (int64_t)c->hq * c->lq * D;
    for (int64_t x = 0; x < n; x++) bn->o[x] = NAN;
    double t0 = now();
    if (!run_impl(bn, row->impl, row->threads)) {
        snprintf(row->note, sizeof row->note, "launch: %.140s", attn_last_error());
        return -1;
    }
    double first = now() - t0;
    if (row->impl != IM_CEIL) {
        row->err = check_output(c, bn->in, bn->o);
        if (!(row->err < 2e-4)) {   /* f32 arithmetic lands far under 1e-3; NaN fails too */
            snprintf(row->note, sizeof row->note, "FAIL: relative error %.3g vs f64", row->err);
            return -1;
        }
    }
    return first;
}

/* Measures the given implementations of one case on `threads` threads into rows[]: each is
 * checked first, then the timed repetitions go round-robin over the implementations, so a
 * change in the machine's load falls on all of them alike. Slow ones repeat less. */
static void measure_case(Bench *bn, const int *impls, int nimpl, int threads, int quick, Row *rows)
{
    const Case *c = bn->c;
    int reps[IM_COUNT] = {0}, maxreps = 0;
    double t[IM_COUNT][8];
    for (int m = 0; m < nimpl; m++) {
        Row *row = &rows[m];
        *row = (Row){.c = c, .impl = impls[m], .threads = threads, .err = NAN};
        double first = check_impl(bn, row);
        if (impls[m] == IM_CEIL) pause_after_blas();
        if (first < 0) continue;
        row->ok = 1;
        reps[m] = first > 2.0 ? 1 : first > 0.4 ? 3 : quick ? 3 : 7;
        if (reps[m] > maxreps) maxreps = reps[m];
    }
    for (int r = 0; r < maxreps; r++)
        for (int m = 0; m < nimpl; m++)
            if (r < reps[m]) t[m][r] = time_once(bn, impls[m], threads);
    for (int m = 0; m < nimpl; m++) {
        Row *row = &rows[m];
        if (!row->ok) continue;
        qsort(t[m], reps[m], sizeof t[m][0], cmp_double);
        row->reps = reps[m];
        row->ms = 1e3 * t[m][reps[m] / 2];
        double sec = row->ms * 1e-3;
        if (row->impl == IM_CEIL && is_decode(c))
            row->rate = 2.0 * kv_bytes(c) / sec / 1e9;     /* bytes read + written */
        else if (row->impl == IM_CEIL)
            row->rate = 2.0 * (double)bn->gemm_n * bn->gemm_n * bn->gemm_n / sec / 1e9;
        else if (is_decode(c))
            row->rate = kv_bytes(c) / sec / 1e9;
        else
            row->rate = case_flops(c) / sec / 1e9;
    }
    for (int m = 0; m < nimpl; m++) {
        rows[m].frac = rows[m].ok && rows[0].ok ? rows[m].rate / rows[0].rate : 0;
        if (rows[m].impl == IM_CEIL)
            snprintf(rows[m].note, sizeof rows[m].note, is_decode(c) ? "memcpy of the K and V bytes"
                     : "sgemm %lld^3", (long long)bn->gemm_n);
    }
}

/* ---- main ---------------------------------------------------------------------------------- */

static void cpu_name(char *buf, size_t n)
{
    snprintf(buf, n, "unknown-cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        char *p = strchr(line, ':'), *w = buf;
        for (p = p ? p + 1 : line; *p && (size_t)(w - buf) < n - 1; p++) {
            if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
                *w++ = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            else if (w > buf && w[-1] != '-')
                *w++ = '-';
        }
        while (w > buf && w[-1] == '-') w--;
        *w = 0;
        break;
    }
    if (f) fclose(f);
}

/* The 1, 5 and 15 minute load averages: on a shared machine, the measure of how far to trust
 * the absolute numbers of a run. */
static void read_loadavg(double load[3])
{
    load[0] = load[1] = load[2] = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
        fclose(la);
    }
}

static void write_json(const char *path, const Row *rows, int nrows, const char *cpu,
                       const char *date, const char *attnc_note, const double load_start[3])
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        return;
    }
    double load[3];
    read_loadavg(load);
    fprintf(f, "{\n  \"benchmark\": \"attn_bench_cpu\",\n  \"date\": \"%s\",\n  \"cpu\": \"%s\",\n",
            date, cpu);
    fprintf(f, "  \"cores\": %d,\n  \"loadavg_at_start\": [%.2f, %.2f, %.2f],\n"
               "  \"loadavg_at_end\": [%.2f, %.2f, %.2f],\n", omp_get_num_procs(),
            load_start[0], load_start[1], load_start[2], load[0], load[1], load[2]);
    fprintf(f, "  \"openblas\": \"%s\",\n  \"attnc\": \"%s %s\",\n", openblas_get_config(),
            attn_version(), attnc_note);
    fprintf(f, "  \"rate_units\": \"GFLOP/s (decode: GB/s of K and V read; ceiling rows: sgemm "
               "GFLOP/s or memcpy GB/s read+written)\",\n  \"rows\": [\n");
    for (int r = 0; r < nrows; r++) {
        const Row *w = &rows[r];
        fprintf(f, "    {\"case\": \"%s\", \"dtype\": \"%s\", \"causal\": %d, \"hq\": %d, "
                   "\"hkv\": %d, \"lq\": %d, \"lk\": %d, \"d\": %d, \"impl\": \"%s\", "
                   "\"threads\": %d, \"ok\": %s, ",
                w->c->name, w->c->bf16 ? "bf16" : "f32", w->c->causal, w->c->hq, w->c->hkv,
                w->c->lq, w->c->lk, D, impl_names[w->impl], w->threads, w->ok ? "true" : "false");
        if (w->ok)
            fprintf(f, "\"ms\": %.4f, \"reps\": %d, \"%s\": %.3f, \"frac_of_ceiling\": %.4f, ",
                    w->ms, w->reps, is_decode(w->c) ? "gbps" : "gflops", w->rate, w->frac);
        if (isfinite(w->err)) fprintf(f, "\"rel_err\": %.3e, ", w->err);
        fprintf(f, "\"note\": \"%s\"}%s\n", w->note, r + 1 < nrows ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    printf("wrote %s\n", path);
}

static void usage(void)
{
    fprintf(stderr, "usage: attn_bench_cpu [--peers-only] [--quick] [--threads 1,2] [--out FILE]\n"
                    "  --peers-only  skip attnc (naive, OpenBLAS-composed and the ceiling only)\n"
                    "  --quick       L 512 and 2048 cases only, fewer repetitions\n");
}

int main(int argc, char **argv)
{
    Opts op = {.threads = {1, 2}, .nthreads = 2, .naive_max_gflop = 20.0};
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--peers-only")) op.peers_only = 1;
        else if (!strcmp(argv[a], "--quick")) op.quick = 1;
        else if (!strcmp(argv[a], "--out") && a + 1 < argc) op.out = argv[++a];
        else if (!strcmp(argv[a], "--threads") && a + 1 < argc) {
            op.nthreads = 0;
            for (char *p = argv[++a]; *p && op.nthreads < 4; p++) {
                op.threads[op.nthreads++] = (int)strtol(p, &p, 10);
                if (!*p) break;
            }
        } else {
            usage();
            return 2;
        }
    }
    char cpu[128], date[32], path[512];
    cpu_name(cpu, sizeof cpu);
    time_t tt = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&tt));
    if (!op.out) {
        snprintf(path, sizeof path, "%s/bench/results/cpu-%s-%s.json", ATTNC_SOURCE_DIR, date, cpu);
        op.out = path;
    }

    AttncKernels ak = {0};
    const char *attnc_note = "not run (--peers-only)";
    int have_attnc = 0;
    if (!op.peers_only) {
        have_attnc = attnc_prepare(&ak);
        attnc_note = have_attnc ? ak.checked : ak.error;
        if (!have_attnc) fprintf(stderr, "attnc unavailable: %s\n", ak.error);
    }
    double load_start[3];
    read_loadavg(load_start);
    printf("attn_bench_cpu %s, %s, %d cores, OpenBLAS %s, load average %.2f\n", date, cpu,
           omp_get_num_procs(), openblas_get_config(), load_start[0]);

    int max_threads = omp_get_num_procs();
    for (int ti = 0; ti < op.nthreads; ti++)
        if (op.threads[ti] > max_threads) max_threads = op.threads[ti];
    Row rows[NCASES * IM_COUNT * 4];
    int nrows = 0;
    for (int ci = 0; ci < NCASES; ci++) {
        const Case *c = &cases[ci];
        if (op.quick && c->lk > 2048 && !is_decode(c)) continue;
        Inputs in;
        make_inputs(c, &in);
        int64_t nq = (int64_t)c->hq * c->lq * D, nk = (int64_t)c->hkv * c->lk * D;
        Bench bn = {.c = c, .in = &in, .kern = have_attnc ? ak.k[c->bf16][c->causal] : NULL};
        bn.o = xmalloc(4 * nq);
        bn.scratch = c->bf16 ? xmalloc(4 * (nq + 2 * nk)) : NULL;
        bn.S = xmalloc(sizeof(float) * BQ * c->lk * max_threads);
        if (is_decode(c)) {
            bn.cp_src = xmalloc((size_t)kv_bytes(c)), bn.cp_dst = xmalloc((size_t)kv_bytes(c));
            memset(bn.cp_src, 1, (size_t)kv_bytes(c)), memset(bn.cp_dst, 0, (size_t)kv_bytes(c));
        } else {
            bn.gemm_n = ((int64_t)cbrt(case_flops(c) / 2.0) + 32) / 64 * 64;
            int64_t g = bn.gemm_n * bn.gemm_n;
            bn.ga = xmalloc(4 * g), bn.gb = xmalloc(4 * g), bn.gc = xmalloc(4 * g);
            for (int64_t x = 0; x < g; x++) bn.ga[x] = rnd(), bn.gb[x] = rnd();
        }
        for (int ti = 0; ti < op.nthreads; ti++) {
            int th = op.threads[ti];
            omp_set_num_threads(th);
            openblas_set_num_threads(th);
            int first = nrows, impls[IM_COUNT], nimpl = 0;
            impls[nimpl++] = IM_CEIL;   /* first: the others are quoted against it */
            impls[nimpl++] = IM_BLAS;
            if (case_flops(c) <= op.naive_max_gflop * 1e9)
                impls[nimpl++] = IM_NAIVE;
            if (have_attnc) impls[nimpl++] = IM_ATTNC;
            measure_case(&bn, impls, nimpl, th, op.quick, &rows[nrows]);
            nrows += nimpl;
            if (case_flops(c) > op.naive_max_gflop * 1e9) {
                Row *row = &rows[nrows++];
                *row = (Row){.c = c, .impl = IM_NAIVE, .threads = th, .err = NAN};
                snprintf(row->note, sizeof row->note, "skipped: over %.0f GFLOP at ~6 GFLOP/s",
                         op.naive_max_gflop);
            }
            for (int r = first; r < nrows; r++) {
                const Row *w = &rows[r];
                printf("%-24s %-6s %d thr  ", c->name, impl_names[w->impl], th);
                if (w->ok)
                    printf("%9.2f ms %8.1f %s  %5.1f%% of ceiling  err %.1e\n", w->ms, w->rate,
                           is_decode(c) ? "GB/s  " : "GFLOP/s", 100 * w->frac, w->err);
                else
                    printf("%s\n", w->note);
                fflush(stdout);
            }
        }
        free(bn.o), free(bn.scratch), free(bn.S), free(bn.ga), free(bn.gb), free(bn.gc);
        free(bn.cp_src), free(bn.cp_dst);
        free_inputs(&in);
    }
    write_json(op.out, rows, nrows, cpu, date, attnc_note, load_start);
    for (int b = 0; b < 2; b++)
        for (int cz = 0; cz < 2; cz++)
            if (ak.k[b][cz]) attn_kernel_free(ak.k[b][cz]);
    return 0;
}
