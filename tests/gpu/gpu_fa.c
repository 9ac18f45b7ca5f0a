/* gpu_fa: runs generated FlashAttention kernels (PTX files listed in a manifest) on a CUDA GPU:
 * first correctness against an f64 reference on the same bf16/f16 inputs over odd shapes (L not
 * a multiple of the tile, GQA, Lq < Lk, Lq > Lk, decode, Lk = 0, rows with no visible key, a
 * BLHD layout, a tile map with EMPTY / FULL / PARTIAL tiles), then, with --bench, the dense
 * matrix of bench/BENCH (B*L = 16384, Hq*D = 2048) timed with CUDA events (median of reps),
 * each case checked on sampled rows before it is timed. Without a GPU it prints why and exits 0
 * with "SKIP" (ctest treats it as skipped).
 *
 * Manifest lines: name ptx_file entry sm dk dv causal(0/1) lse(0/1) dtype(bf16|f16)
 *                 tile_m threads smem block_n role(check|bench|both)
 * Tensor slots: q 0, k 1, v 2, o 3, lse 4 (rank 4, lse rank 3). */
#include "../common/test_file.h"
#include "cuda.h"
#include "kernel_abi.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Variant {
    char name[64], file[256], entry[64], dtype[8], role[8];
    int sm, dk, dv, causal, lse, tile_m, threads, smem, block_n;
    char *ptx;
    RtCudaKernel k;
} Variant;

static int failures;

#define CK(x)                                                                                     \
    do {                                                                                          \
        AttnStatus s_ = (x);                                                                      \
        if (s_ != ATTN_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, attn_last_error());        \
            exit(1);                                                                              \
        }                                                                                         \
    } while (0)

static uint16_t to_half(float f, bool bf)
{
    if (bf) {
        uint32_t u;
        memcpy(&u, &f, 4);
        u += 0x7fff + ((u >> 16) & 1);   /* round to nearest even */
        return (uint16_t)(u >> 16);
    }
    _Float16 h = (_Float16)f;
    uint16_t r;
    memcpy(&r, &h, 2);
    return r;
}

static float from_half(uint16_t v, bool bf)
{
    if (bf) {
        uint32_t u = (uint32_t)v << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    _Float16 h;
    memcpy(&h, &v, 2);
    return (float)h;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)   /* roughly N(0, 1): sum of 4 uniforms */
{
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        s += (float)((rng >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
    }
    return s * 1.7320508f;
}

typedef struct Case {
    int B, Hq, Hkv, Lq, Lk;
    int64_t qoff;        /* i = row + qoff */
    bool blhd;           /* [B, L, H, D] memory layout */
    int map;             /* 0: no tile map; 1: causal map (EMPTY/PARTIAL/FULL); 2: dense map with EMPTY holes */
    const char *what;
} Case;

typedef struct Buf {
    uint16_t *q, *k, *v, *o;
    float *lse;
    RtDevPtr dq, dk, dv, dout, dlse, dmap;
    uint8_t *map;
    AbiArgs a;
} Buf;

static void set_tensor(AbiTensor *t, RtDevPtr p, int B, int H, int L, int D, bool blhd)
{
    memset(t, 0, sizeof *t);
    t->data = (void *)(uintptr_t)p;
    int64_t sh[4] = {B, H, L, D};
    memcpy(t->shape, sh, sizeof sh);
    if (blhd) {
        int64_t st[4] = {(int64_t)L * H * D, D, (int64_t)H * D, 1};
        memcpy(t->strides, st, sizeof st);
    } else {
        int64_t st[4] = {(int64_t)H * L * D, (int64_t)L * D, D, 1};
        memcpy(t->strides, st, sizeof st);
    }
}

static size_t at(const AbiTensor *t, int b, int h, int l, int d)
{
    return (size_t)(b * t->strides[0] + h * t->strides[1] + l * t->strides[2] + d);
}

/* Tile class of (query tile qt, key tile kt) for the test maps. */
static uint8_t tile_class(const Variant *v, const Case *c, int qt, int kt)
{
    int64_t i0 = (int64_t)qt * v->tile_m + c->qoff, i1 = i0 + v->tile_m - 1;
    int64_t j0 = (int64_t)kt * v->block_n, j1 = j0 + v->block_n - 1;
    if (c->map == 1) return j0 > i1 ? TILE_EMPTY : j1 <= i0 ? TILE_FULL : TILE_PARTIAL;
    return (qt + 2 * kt) % 3 == 1 ? TILE_EMPTY : TILE_FULL;
}

static bool visible(const Variant *v, const Case *c, int64_t r, int64_t j)
{
    int64_t i = r + c->qoff;
    if (c->map == 2 && tile_class(v, c, (int)(r / v->tile_m), (int)(j / v->block_n)) == TILE_EMPTY)
        return false;
    return !v->causal || j <= i;
}

static void setup(const Variant *v, const Case *c, Buf *u)
{
    bool bf = !strcmp(v->dtype, "bf16");
    size_t nq = (size_t)c->B * c->Hq * c->Lq * v->dk, nk = (size_t)c->B * c->Hkv * c->Lk * v->dk;
    size_t nv = (size_t)c->B * c->Hkv * c->Lk * v->dv, no = (size_t)c->B * c->Hq * c->Lq * v->dv;
    size_t nl = (size_t)c->B * c->Hq * c->Lq;
    u->q = malloc(2 * nq + 2); u->k = malloc(2 * nk + 2); u->v = malloc(2 * nv + 2);
    u->o = malloc(2 * no + 2); u->lse = malloc(4 * nl + 4);
    for (size_t i = 0; i < nq; i++) u->q[i] = to_half(frand(), bf);
    for (size_t i = 0; i < nk; i++) u->k[i] = to_half(frand(), bf);
    for (size_t i = 0; i < nv; i++) u->v[i] = to_half(frand(), bf);
    CK(rt_cuda_malloc(0, 2 * nq, &u->dq)); CK(rt_cuda_malloc(0, 2 * nk, &u->dk));
    CK(rt_cuda_malloc(0, 2 * nv, &u->dv)); CK(rt_cuda_malloc(0, 2 * no, &u->dout));
    CK(rt_cuda_malloc(0, 4 * nl, &u->dlse));
    CK(rt_cuda_upload(u->dq, u->q, 2 * nq)); CK(rt_cuda_upload(u->dk, u->k, 2 * nk));
    CK(rt_cuda_upload(u->dv, u->v, 2 * nv));
    CK(rt_cuda_memset8(u->dout, 0xff, 2 * no));   /* poison: NaN where nothing is written */
    CK(rt_cuda_memset8(u->dlse, 0xff, 4 * nl));
    memset(&u->a, 0, sizeof u->a);
    set_tensor(&u->a.t[0], u->dq, c->B, c->Hq, c->Lq, v->dk, c->blhd);
    set_tensor(&u->a.t[1], u->dk, c->B, c->Hkv, c->Lk, v->dk, c->blhd);
    set_tensor(&u->a.t[2], u->dv, c->B, c->Hkv, c->Lk, v->dv, c->blhd);
    set_tensor(&u->a.t[3], u->dout, c->B, c->Hq, c->Lq, v->dv, c->blhd);
    AbiTensor *l = &u->a.t[4];
    l->data = (void *)(uintptr_t)u->dlse;
    l->shape[0] = c->B; l->shape[1] = c->Hq; l->shape[2] = c->Lq;
    l->strides[0] = (int64_t)c->Hq * c->Lq; l->strides[1] = c->Lq; l->strides[2] = 1;
    u->a.q_offset = c->qoff;
    u->map = NULL;
    u->dmap = 0;
    if (c->map) {
        int nqt = (c->Lq + v->tile_m - 1) / v->tile_m, nkt = (c->Lk + v->block_n - 1) / v->block_n;
        if (nkt == 0) nkt = 1;
        u->map = malloc((size_t)nqt * nkt);
        for (int qt = 0; qt < nqt; qt++)
            for (int kt = 0; kt < nkt; kt++) u->map[qt * nkt + kt] = tile_class(v, c, qt, kt);
        CK(rt_cuda_malloc(0, (size_t)nqt * nkt, &u->dmap));
        CK(rt_cuda_upload(u->dmap, u->map, (size_t)nqt * nkt));
        u->a.tiles = (const uint8_t *)(uintptr_t)u->dmap;
        u->a.tile_sq = nkt;
        u->a.tile_m = v->tile_m;
        u->a.tile_n = v->block_n;
    }
}

static void teardown(Buf *u)
{
    rt_cuda_free(u->dq); rt_cuda_free(u->dk); rt_cuda_free(u->dv); rt_cuda_free(u->dout);
    rt_cuda_free(u->dlse); rt_cuda_free(u->dmap);
    free(u->q); free(u->k); free(u->v); free(u->o); free(u->lse); free(u->map);
}

static void launch(const Variant *v, const Case *c, Buf *u)
{
    uint32_t gx = (uint32_t)((c->Lq + v->tile_m - 1) / v->tile_m);
    CK(rt_cuda_launch(&v->k, gx, (uint32_t)c->Hq, (uint32_t)c->B, NULL, &u->a));
}

/* Compares rows (b, h, r) with the f64 reference; every = 1 checks all rows, else a sample.
 * Returns the relative Frobenius error of O (and sets *lse_err to the max abs LSE error). */
static double check(const Variant *v, const Case *c, Buf *u, int every, double *lse_err, int *bad)
{
    bool bf = !strcmp(v->dtype, "bf16");
    size_t no = (size_t)c->B * c->Hq * c->Lq * v->dv, nl = (size_t)c->B * c->Hq * c->Lq;
    CK(rt_cuda_download(u->o, u->dout, 2 * no));
    CK(rt_cuda_download(u->lse, u->dlse, 4 * nl));
    const AbiArgs *a = &u->a;
    double num = 0, den = 0, le = 0;
    double *p = malloc(sizeof(double) * ((size_t)c->Lk + 1)), *acc = malloc(sizeof(double) * (size_t)v->dv);
    double scale = 1.0 / sqrt((double)v->dk);
    *bad = 0;
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->Hq; h++) {
            int hk = h / (c->Hq / c->Hkv);
            for (int r = 0; r < c->Lq; r++) {
                if (every > 1 && (r * 7919 + h * 31 + b) % every) continue;
                double mx = -INFINITY;
                for (int j = 0; j < c->Lk; j++) {
                    p[j] = -INFINITY;
                    if (!visible(v, c, r, j)) continue;
                    double s = 0;
                    for (int d = 0; d < v->dk; d++)
                        s += (double)from_half(u->q[at(&a->t[0], b, h, r, d)], bf) *
                             from_half(u->k[at(&a->t[1], b, hk, j, d)], bf);
                    p[j] = s * scale;
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int d = 0; d < v->dv; d++) acc[d] = 0;
                for (int j = 0; j < c->Lk; j++) {
                    if (p[j] == -INFINITY) continue;
                    double e = exp(p[j] - mx);
                    sum += e;
                    for (int d = 0; d < v->dv; d++) acc[d] += e * from_half(u->v[at(&a->t[2], b, hk, j, d)], bf);
                }
                for (int d = 0; d < v->dv; d++) {
                    double ref = sum > 0 ? acc[d] / sum : 0;
                    double got = from_half(u->o[at(&a->t[3], b, h, r, d)], bf);
                    if (isnan(got)) (*bad)++;
                    num += (got - ref) * (got - ref);
                    den += ref * ref;
                }
                if (v->lse) {
                    double ref = sum > 0 ? mx + log(sum) : -INFINITY;
                    double got = u->lse[(size_t)b * c->Hq * c->Lq + (size_t)h * c->Lq + r];
                    if (isnan(got) || (isinf(ref) != isinf(got))) (*bad)++;
                    else if (!isinf(ref) && fabs(got - ref) > le) le = fabs(got - ref);
                }
            }
        }
    free(p); free(acc);
    *lse_err = le;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static void run_check(Variant *v, const Case *c, FILE *log)
{
    Buf u;
    setup(v, c, &u);
    launch(v, c, &u);
    CK(rt_cuda_sync(0));
    double le;
    int bad;
    double err = check(v, c, &u, 1, &le, &bad);
    bool ok = err < 1e-2 && le < 1e-3 && bad == 0;
    failures += !ok;
    char line[512];
    snprintf(line, sizeof line, "%-4s %-24s B%d Hq%d Hkv%d Lq%-5d Lk%-5d qoff%-4lld %-26s rel_err %.2e lse_err %.1e nan/unwritten %d\n",
             ok ? "ok" : "FAIL", v->name, c->B, c->Hq, c->Hkv, c->Lq, c->Lk, (long long)c->qoff,
             c->what, err, le, bad);
    fputs(line, stdout);
    if (log) fputs(line, log);
    teardown(&u);
}

static int cmpf(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void run_bench(Variant *v, int L, FILE *log, char *table, size_t tcap)
{
    int D = v->dk, H = 2048 / D, B = 16384 / L;
    Case c = {B, H, H, L, L, 0, false, 0, "bench"};
    Buf u;
    setup(v, &c, &u);
    launch(v, &c, &u);
    CK(rt_cuda_sync(0));
    double le;
    int bad;
    double err = check(v, &c, &u, L >= 4096 ? 4001 : 401, &le, &bad);
    bool ok = err < 1e-2 && le < 1e-3 && bad == 0;
    failures += !ok;
    void *e0, *e1;
    CK(rt_cuda_event_create(&e0));
    CK(rt_cuda_event_create(&e1));
    for (int i = 0; i < 3; i++) launch(v, &c, &u);
    enum { REPS = 15 };
    float ms[REPS];
    for (int i = 0; i < REPS; i++) {
        CK(rt_cuda_event_record(e0, NULL));
        launch(v, &c, &u);
        CK(rt_cuda_event_record(e1, NULL));
        CK(rt_cuda_event_ms(e0, e1, &ms[i]));
    }
    qsort(ms, REPS, sizeof ms[0], cmpf);
    double pairs = v->causal ? (double)L * (L + 1) / 2 : (double)L * L;
    double tf = 4.0 * B * H * pairs * D / (ms[REPS / 2] * 1e-3) / 1e12;
    char line[256];
    snprintf(line, sizeof line, "%-26s d%-3d L%-6d %-7s %8.3f ms %7.1f TFLOPS  (min %.3f max %.3f) err %.1e %s\n",
             v->name, D, L, v->causal ? "causal" : "full", ms[REPS / 2], tf, ms[0], ms[REPS - 1], err,
             ok ? "" : "WRONG");
    fputs(line, stdout);
    if (log) fputs(line, log);
    size_t n = strlen(table);
    snprintf(table + n, tcap - n, "%s", line);
    rt_cuda_event_destroy(e0);
    rt_cuda_event_destroy(e1);
    teardown(&u);
}


int main(int argc, char **argv)
{
    const char *manifest = argc > 1 ? argv[1] : "manifest.txt";
    bool bench = false, quick = false;
    const char *only = NULL, *logpath = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bench")) bench = true;
        else if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--log") && i + 1 < argc) logpath = argv[++i];
    }
    if (!rt_cuda_available()) {
        rt_cuda_init();
        printf("SKIP: %s\n", attn_last_error());
        return 0;
    }
    RtCudaDevice dev;
    CK(rt_cuda_device_info(0, &dev));
    printf("device: %s, sm_%d%d, %d SMs, %d B shared memory opt-in\n", dev.name, dev.cc_major,
           dev.cc_minor, dev.sm_count, dev.smem_optin);
    FILE *mf = fopen(manifest, "r");
    if (!mf) { fprintf(stderr, "cannot open %s\n", manifest); return 1; }
    FILE *log = logpath ? fopen(logpath, "w") : NULL;
    static Variant vs[64];
    int nv = 0;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", manifest);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;
    while (nv < 64) {
        Variant *v = &vs[nv];
        if (fscanf(mf, "%63s %255s %63s %d %d %d %d %d %7s %d %d %d %d %7s", v->name, v->file, v->entry,
                   &v->sm, &v->dk, &v->dv, &v->causal, &v->lse, v->dtype, &v->tile_m, &v->threads,
                   &v->smem, &v->block_n, v->role) != 14) break;
        if (v->sm > dev.cc_major * 10 + dev.cc_minor) continue;
        if (only && !strstr(v->name, only)) continue;
        char path[600];
        snprintf(path, sizeof path, "%s%s", dir, v->file);
        v->ptx = test_read_file(path, NULL);
        if (!v->ptx) { fprintf(stderr, "cannot read %s\n", path); return 1; }
        CK(rt_cuda_kernel(0, v->ptx, v->entry, v->threads, v->smem, &v->k));
        nv++;
    }
    fclose(mf);
    for (int i = 0; i < nv; i++) {
        Variant *v = &vs[i];
        if (!strcmp(v->role, "bench")) continue;
        Case cases[] = {
            {2, 4, 2, 200, 200, 0, false, 0, "GQA 4/2, L 200"},
            {1, 2, 2, 77, 300, 223, false, 0, "Lq < Lk (aligned end)"},
            {1, 2, 1, 300, 77, 0, false, 0, "Lq > Lk, MQA"},
            {2, 8, 2, 1, 1000, 999, false, 0, "decode"},
            {1, 2, 2, 130, 0, 0, false, 0, "Lk = 0"},
            {1, 3, 3, 150, 150, -40, false, 0, "rows with no key (qoff -40)"},
            {2, 4, 4, 257, 257, 0, true, 0, "BLHD layout"},
            {1, 2, 2, 333, 333, 0, false, v->causal ? 1 : 2, "tile map"},
        };
        int ncase = (int)(sizeof cases / sizeof cases[0]);
        for (int j = 0; j < ncase; j++) {
            if (!v->causal && cases[j].qoff < 0) continue;   /* dense: every row sees every key */
            run_check(v, &cases[j], log);
            if (quick && j == 0) break;
        }
    }
    static char table[16384];
    if (bench) {
        int Ls[3] = {1024, 4096, 16384};
        for (int i = 0; i < nv; i++) {
            if (!strcmp(vs[i].role, "check")) continue;
            for (int l = 0; l < 3; l++) run_bench(&vs[i], Ls[l], log, table, sizeof table);
        }
        printf("\n=== %s, bf16 forward, B*L = 16384, Hq*D = 2048 ===\n%s", dev.name, table);
    }
    printf("%s: %d failure%s\n", failures ? "FAILED" : "PASSED", failures, failures == 1 ? "" : "s");
    if (log) fclose(log);
    return failures ? 1 : 0;
}
