/* bench_recur.c: attnc's CPU recurrence kernels beside the chunked algorithm composed of OpenBLAS
 * calls, in one run, on the same f32 inputs (q, k, v [B, H, T, D], D 128 by default).
 *   attnc    the family's spec compiled by libattn (target native), launched through attn.h;
 *   chunked  the chunked form (chunks of C = 64 steps) as fla computes it, each product one
 *            cblas_sgemm, the delta rule's triangular system one cblas_strsm:
 *              decay:  A = (Q K^T) o D, O = A V + diag(Gamma) Q S, S = Gamma_C S + Kt^T V
 *                      with D[s][u] = Gamma_s / Gamma_u (u <= s), Kt[u] = (Gamma_C / Gamma_u) k_u;
 *              per-key decay: the same with Q o exp(G), K o exp(-G) (the decay per key dim);
 *              delta:  W = (I + L)^-1 (diag(beta) V - diag(beta Gamma) K S),
 *                      L[s][u] = beta_s (Gamma_s / Gamma_u) k_s . k_u (u < s), then W for V.
 * Both are first checked against attn_reference (f64) on a small shape; a wrong one is FAIL.
 * Decays are log-gates in [-0.1, -0.001), betas in [0, 1), q and k scaled by D^-1/2.
 *
 * usage: attn_bench_recur [T [threads [D]]]   (defaults 4096, 1, 128; B = 1, H = 4) */
#include "attn.h"

#include <cblas-openblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { C = 64, MAXD = 256 };
enum { F_LINEAR, F_MAMBA2, F_GLA, F_DELTANET, F_GATED_DELTANET, F_COUNT };
static const char *const fam_names[F_COUNT] = {"linear", "mamba2", "gla", "deltanet", "gated_deltanet"};
static const char *const fam_update[F_COUNT] = {
    "S = S + outer(k[t], v[t]);",
    "S = exp(g[b, h, t]) * S + outer(k[t], v[t]);",
    "S = diag(exp(gk[b, h, t])) @ S + outer(k[t], v[t]);",
    "S = S + beta[b, h, t] * outer(k[t], v[t] - k[t] @ S);",
    "S = exp(g[b, h, t]) * (S - beta[b, h, t] * outer(k[t], k[t] @ S)) + beta[b, h, t] * outer(k[t], v[t]);",
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 7;
static float urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0);
}

typedef struct Data {
    int B, H, T, D;
    float *q, *k, *v, *g, *gk, *beta, *o;
} Data;

static Data data_new(int B, int H, int T, int D)
{
    Data x = {.B = B, .H = H, .T = T, .D = D};
    size_t n = (size_t)B * H * T * D, s = (size_t)B * H * T;
    x.q = malloc(n * 4), x.k = malloc(n * 4), x.v = malloc(n * 4), x.o = malloc(n * 4);
    x.g = malloc(s * 4), x.beta = malloc(s * 4), x.gk = malloc(n * 4);
    float r = 1.0f / sqrtf((float)D);
    for (size_t i = 0; i < n; i++) {
        x.q[i] = (2 * urand() - 1) * r, x.k[i] = (2 * urand() - 1) * r, x.v[i] = 2 * urand() - 1;
        x.gk[i] = -0.001f - 0.099f * urand();
    }
    for (size_t i = 0; i < s; i++) x.g[i] = -0.001f - 0.099f * urand(), x.beta[i] = urand();
    return x;
}

static void data_free(Data *x)
{
    free(x->q), free(x->k), free(x->v), free(x->o), free(x->g), free(x->beta), free(x->gk);
}

/* ---- the chunked form through BLAS, one (b, h) at a time ---------------------------------- */

typedef struct Work {
    float S[MAXD * MAXD], A[C * C], Qt[C * MAXD], Kt[C * MAXD], W[C * MAXD], G[C * MAXD];
    float gam[C];
} Work;

static void chunk_head(const Data *x, int f, int b, int h, Work *w)
{
    int D = x->D, T = x->T;
    size_t base = ((size_t)b * x->H + h) * T;
    const float *q = x->q + base * D, *k = x->k + base * D, *v = x->v + base * D;
    const float *g = x->g + base, *gk = x->gk + base * D, *beta = x->beta + base;
    float *o = x->o + base * D, *S = w->S;
    memset(S, 0, sizeof(float) * D * D);
    bool vec = f == F_GLA, delta = f == F_DELTANET || f == F_GATED_DELTANET;
    bool decay = f == F_MAMBA2 || f == F_GATED_DELTANET;
    for (int t0 = 0; t0 < T; t0 += C) {
        int n = T - t0 < C ? T - t0 : C;
        const float *qc = q + (size_t)t0 * D, *kc = k + (size_t)t0 * D, *vc = v + (size_t)t0 * D;
        float *oc = o + (size_t)t0 * D;
        /* cumulative log decays within the chunk: scalar gam[s], or per key dim G[s][r] */
        double acc = 0;
        for (int s = 0; s < n; s++) w->gam[s] = (float)(acc += decay ? g[t0 + s] : 0.0);
        if (vec)
            for (int r = 0; r < D; r++) {
                double a = 0;
                for (int s = 0; s < n; s++) w->G[s * D + r] = (float)(a += gk[(size_t)(t0 + s) * D + r]);
            }
        /* Qt = Q o exp(G), Kt = K o exp(-G) (per key dim), or Q, K */
        for (int s = 0; s < n; s++)
            for (int r = 0; r < D; r++) {
                float e = vec ? expf(w->G[s * D + r]) : 1.0f;
                w->Qt[s * D + r] = qc[s * D + r] * e;
                w->Kt[s * D + r] = vec ? kc[s * D + r] / e : kc[s * D + r];
            }
        const float *V = vc;
        if (delta) {   /* W = (I + L)^-1 (diag(beta) V - diag(beta gam) K S) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, D, 1, kc, D, S, D, 0, w->W, D);
            for (int s = 0; s < n; s++) {
                float bs = beta[t0 + s], bg = bs * expf(w->gam[s]);
                for (int c = 0; c < D; c++) w->W[s * D + c] = bs * vc[s * D + c] - bg * w->W[s * D + c];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, D, 1, kc, D, kc, D, 0, w->A, C);
            for (int s = 0; s < n; s++)
                for (int u = 0; u < n; u++)
                    w->A[s * C + u] = u < s ? beta[t0 + s] * (decay ? expf(w->gam[s] - w->gam[u]) : 1.0f) * w->A[s * C + u]
                                            : u == s ? 1.0f : 0.0f;
            cblas_strsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, n, D, 1, w->A, C, w->W, D);
            V = w->W;
        }
        /* A = (Qt Kt^T) o D (causal, scalar decay ratios) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, D, 1, w->Qt, D, w->Kt, D, 0, w->A, C);
        for (int s = 0; s < n; s++)
            for (int u = 0; u < n; u++)
                w->A[s * C + u] = u > s ? 0.0f : decay ? w->A[s * C + u] * expf(w->gam[s] - w->gam[u]) : w->A[s * C + u];
        /* O = diag(exp(gam)) Qt S + A V */
        for (int s = 0; s < n && decay; s++) {
            float e = expf(w->gam[s]);
            for (int r = 0; r < D; r++) w->Qt[s * D + r] *= e;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, D, 1, w->Qt, D, S, D, 0, oc, D);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, n, 1, w->A, C, V, D, 1, oc, D);
        /* S = decay over the chunk * S + Kl^T V, Kl[u] = k_u * (decay from u to the chunk's end) */
        float glast = w->gam[n - 1];
        for (int u = 0; u < n; u++) {
            float eu = decay ? expf(glast - w->gam[u]) : 1.0f;
            for (int r = 0; r < D; r++)
                w->Kt[u * D + r] = kc[u * D + r] * (vec ? expf(w->G[(n - 1) * D + r] - w->G[u * D + r]) : eu);
        }
        for (int r = 0; r < D && (vec || decay); r++) {
            float e = vec ? expf(w->G[(n - 1) * D + r]) : expf(glast);
            for (int c = 0; c < D; c++) S[r * D + c] *= e;
        }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, n, 1, w->Kt, D, V, D, 1, S, D);
    }
}

static void chunked(const Data *x, int f, Work *w)
{
    for (int b = 0; b < x->B; b++)
        for (int h = 0; h < x->H; h++) chunk_head(x, f, b, h, w);
}

/* ---- attnc --------------------------------------------------------------------------------- */

static AttnKernel *compile_family(int f, int D)
{
    char spec[2048];
    snprintf(spec, sizeof spec,
             "attention %s {\n  in q: f32[B, H, T, %d];\n  in k: f32[B, H, T, %d];\n"
             "  in v: f32[B, H, T, %d];\n  in g: f32[B, H, T];\n  in gk: f32[B, H, T, %d];\n"
             "  in beta: f32[B, H, T];\n  out o: f32[B, H, T, %d];\n  state S: f32[Dk, Dv];\n"
             "  %s\n  o[t] = q[t] @ S;\n}\n",
             fam_names[f], D, D, D, D, D, fam_update[f]);
    AttnCompileOptions opts = {.target = "native"};
    AttnKernel *k = NULL;
    if (attn_compile(spec, fam_names[f], &opts, &k) != ATTN_OK) {
        fprintf(stderr, "attnc: %s: %s\n", fam_names[f], attn_last_error());
        return NULL;
    }
    return k;
}

static void tensors(const Data *x, float *o, AttnTensor t[7])
{
    int64_t B = x->B, H = x->H, T = x->T, D = x->D;
    float *ptr[7] = {x->q, x->k, x->v, x->g, x->gk, x->beta, o};
    int rank[7] = {4, 4, 4, 3, 4, 3, 4};
    for (int i = 0; i < 7; i++) {
        int64_t shape[4] = {B, H, T, D};
        t[i] = (AttnTensor){.data = ptr[i], .dtype = ATTN_F32, .rank = rank[i]};
        int64_t s = 1;
        for (int d = rank[i] - 1; d >= 0; d--) t[i].shape[d] = shape[d], t[i].strides[d] = s, s *= shape[d];
    }
}

static bool attnc_run(AttnKernel *k, const Data *x, int threads)
{
    AttnTensor t[7];
    tensors(x, x->o, t);
    AttnLaunchOptions lo = {.num_threads = threads};
    return attn_launch(k, t, 7, NULL, 0, &lo) == ATTN_OK;
}

/* relative Frobenius error of o against the f64 reference */
static double check(AttnKernel *k, const Data *x)
{
    size_t n = (size_t)x->B * x->H * x->T * x->D;
    double *ref = malloc(n * 8);
    AttnTensor t[7];
    tensors(x, NULL, t);
    t[6].data = ref, t[6].dtype = ATTN_F64;
    double e2 = 0, r2 = 0;
    if (attn_reference(k, t, 7, NULL, 0) != ATTN_OK) e2 = NAN;
    for (size_t i = 0; i < n; i++) e2 += (x->o[i] - ref[i]) * (x->o[i] - ref[i]), r2 += ref[i] * ref[i];
    free(ref);
    return sqrt(e2 / (r2 > 0 ? r2 : 1));
}

static double best_of(int reps, void (*fn)(void *), void *ctx)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(ctx);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

typedef struct Ctx {
    AttnKernel *k;
    Data *x;
    int f, threads;
    Work *w;
} Ctx;

static void run_attnc(void *c) { Ctx *x = c; attnc_run(x->k, x->x, x->threads); }
static void run_chunked(void *c) { Ctx *x = c; chunked(x->x, x->f, x->w); }

int main(int argc, char **argv)
{
    int T = argc > 1 ? atoi(argv[1]) : 4096, threads = argc > 2 ? atoi(argv[2]) : 1;
    int D = argc > 3 ? atoi(argv[3]) : 128;
    if (T < 1 || threads < 1 || D < 16 || D > MAXD) {
        fprintf(stderr, "usage: attn_bench_recur [T [threads [D]]]\n");
        return 2;
    }
    openblas_set_num_threads(1);   /* the chunked form runs one head at a time, one thread */
    Work *w = malloc(sizeof *w);
    printf("recurrences, f32, B 1, H 4, T %d, D %d, attnc on %d thread(s), chunked BLAS (C = %d) on 1\n",
           T, D, threads, C);
    printf("%-16s %10s %10s %8s   %s\n", "family", "attnc ms", "chunked ms", "speedup", "checks (rel. error vs f64)");
    int fails = 0;
    for (int f = 0; f < F_COUNT; f++) {
        AttnKernel *k = compile_family(f, D);
        Data small = data_new(1, 2, 150, D);
        double ea = k && attnc_run(k, &small, threads) ? check(k, &small) : NAN;
        chunked(&small, f, w);
        double ec = k ? check(k, &small) : NAN;
        data_free(&small);
        bool oka = ea <= 1e-4, okc = ec <= 1e-4;
        fails += !oka + !okc;
        Data x = data_new(1, 4, T, D);
        Ctx c = {k, &x, f, threads, w};
        double ta = oka ? best_of(3, run_attnc, &c) : NAN, tc = okc ? best_of(3, run_chunked, &c) : NAN;
        printf("%-16s %10.2f %10.2f %7.2fx   attnc %.1e%s, chunked %.1e%s\n", fam_names[f], ta * 1e3,
               tc * 1e3, tc / ta, ea, oka ? "" : " FAIL", ec, okc ? "" : " FAIL");
        data_free(&x);
        attn_kernel_free(k);
    }
    free(w);
    return fails != 0;
}
