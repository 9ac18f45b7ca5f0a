/* gpu_maps.c: the GPU launcher's tile maps through the public API, against the f64 reference.
 * Kernels: plain causal (no map at all), a sliding window (a kept map per shape and window),
 * packed documents (a map rebuilt from the doc ids at each launch) and softcap (the NVPTX
 * tanh). Each kernel is launched with shapes and params in an order that reuses, replaces and
 * returns to kept maps (more keys than the launcher keeps), documents with new ids under the
 * same shape, documents with reuse_tile_map (reuse_case), and finally from two threads at once
 * (window and documents). Documents' maps are
 * built by the module's map kernel on the device. Each launch is compared with the reference:
 * relative Frobenius error of o < 1e-2, max |lse error| < 1e-3 over visible rows.
 *
 *   gpu_maps        (needs a CUDA GPU; prints SKIP without one) */
#include "attn.h"
#include "rt.h"
#include "cuda.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 64 };

#define IO "  in q: bf16[B, H, L, 64]; in k: bf16[B, H, L, 64]; in v: bf16[B, H, L, 64];\n" \
           "  out o: bf16[B, H, L, 64]; out lse: f32[B, H, L];\n"

static const char *const specs[] = {
    "attention c {\n" IO "  mask = j <= i;\n}\n",
    "attention w {\n" IO "  param window: i32 = 100;\n  mask = j <= i && i - j < window;\n}\n",
    "attention d {\n" IO "  in doc: i32[B, L];\n  mask = j <= i && doc[b, i] == doc[b, j];\n}\n",
    "attention s {\n" IO "  score = 20.0 * tanh(score / 20.0);\n  mask = j <= i;\n}\n",
};
enum { K_CAUSAL, K_WINDOW, K_DOCS, K_SOFTCAP, NK };

static int failures;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double urand(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static void tensor(AttnTensor *t, void *data, AttnDtype dt, int rank, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->dtype = dt;
    t->rank = rank;
    int64_t n = 1;
    for (int d = rank - 1; d >= 0; d--) {
        t->shape[d] = shape[d];
        t->strides[d] = n;
        n *= shape[d];
    }
}

/* One launch of kernel `kk` (index ki) at B x H x L with `param` (window) and `seed`; true when
 * it matches the reference. */
static bool run_case(AttnKernel *kk, int ki, int B, int H, int L, double param, uint64_t seed)
{
    size_t nx = (size_t)B * H * L * D, nl = (size_t)B * H * L;
    uint16_t *hx[4];
    for (int i = 0; i < 4; i++) hx[i] = malloc(nx * 2);
    float *hlse = malloc(nl * 4), *ro = malloc(nx * 4), *rl = malloc(nl * 4);
    int32_t *doc = malloc((size_t)B * L * 4);
    /* Softcap: logits up to ~3x the cap, so tanh saturates as well as staying linear. */
    double amp = ki == K_SOFTCAP ? 3.0 : 1.0;
    for (int i = 0; i < 3; i++)
        for (size_t e = 0; e < nx; e++) hx[i][e] = to_bf16((float)((urand(&seed) * 2 - 1) * amp));
    for (int b = 0; b < B; b++) {   /* sorted ids, documents of random length */
        int id = 0;
        for (int i = 0; i < L; i++) {
            if (i > 0 && urand(&seed) < 6.0 / L) id++;
            doc[b * L + i] = id;
        }
    }
    int64_t sx[4] = {B, H, L, D}, sl[3] = {B, H, L}, sd[2] = {B, L};
    void *dx[4], *dl, *dd;
    bool ok = true;
    for (int i = 0; i < 4; i++) ok &= rt_dev_alloc(nx * 2, &dx[i]) == ATTN_OK;
    ok &= rt_dev_alloc(nl * 4, &dl) == ATTN_OK && rt_dev_alloc((size_t)B * L * 4, &dd) == ATTN_OK;
    for (int i = 0; i < 3; i++) ok &= rt_dev_upload(dx[i], hx[i], nx * 2) == ATTN_OK;
    ok &= rt_dev_upload(dd, doc, (size_t)B * L * 4) == ATTN_OK;
    AttnTensor t[6], r[6];
    int nt = ki == K_DOCS ? 6 : 5;
    for (int i = 0; i < 3; i++) tensor(&t[i], dx[i], ATTN_BF16, 4, sx);
    int io = 3;   /* q, k, v, o, lse, then doc */
    if (ki == K_DOCS) tensor(&t[5], dd, ATTN_I32, 2, sd);
    tensor(&t[io], dx[3], ATTN_BF16, 4, sx);
    tensor(&t[io + 1], dl, ATTN_F32, 3, sl);
    double p[1] = {param};
    int np = ki == K_WINDOW ? 1 : 0;
    AttnStatus st = ok ? attn_launch(kk, t, nt, np ? p : NULL, np, NULL) : ATTN_ERR_CUDA;
    if (st == ATTN_OK) st = rt_dev_sync(NULL);
    if (st == ATTN_OK) st = rt_dev_download(hx[3], dx[3], nx * 2);
    if (st == ATTN_OK) st = rt_dev_download(hlse, dl, nl * 4);
    memcpy(r, t, sizeof r);
    for (int i = 0; i < 3; i++) r[i].data = hx[i];
    if (ki == K_DOCS) r[5].data = doc;
    r[io].data = ro;
    r[io].dtype = ATTN_F32;
    r[io + 1].data = rl;
    if (st == ATTN_OK) st = attn_reference(kk, r, nt, np ? p : NULL, np);
    double num = 0, den = 0, lerr = 0;
    for (size_t e = 0; st == ATTN_OK && e < nx; e++) {
        double g = from_bf16(hx[3][e]), w = ro[e];
        num += (g - w) * (g - w);
        den += w * w;
    }
    for (size_t e = 0; st == ATTN_OK && e < nl; e++)
        if (isfinite(rl[e])) lerr = fmax(lerr, fabs((double)hlse[e] - rl[e]));
    double rel = sqrt(num / (den > 0 ? den : 1));
    bool pass = st == ATTN_OK && rel < 1e-2 && lerr < 1e-3;
    pthread_mutex_lock(&print_lock);
    printf("%-4s %s B%d H%d L%d param %g: rel err %.2e, lse err %.2e%s%s\n", pass ? "ok" : "FAIL",
           attn_kernel_name(kk), B, H, L, param, rel, lerr, st == ATTN_OK ? "" : ": ",
           st == ATTN_OK ? "" : attn_last_error());
    pthread_mutex_unlock(&print_lock);
    for (int i = 0; i < 4; i++) {
        rt_dev_free(dx[i]);
        free(hx[i]);
    }
    rt_dev_free(dl);
    rt_dev_free(dd);
    free(hlse), free(ro), free(rl), free(doc);
    return pass;
}

/* reuse_tile_map on the documents kernel. Two id tensors live at once (so their addresses
 * differ): a launch on the other tensor must rebuild the map although reuse is asked, and a
 * reused map must give the output of the launch that built it, bit for bit. */
static bool reuse_case(AttnKernel *kk)
{
    enum { B = 2, H = 3, L = 413 };
    size_t nx = (size_t)B * H * L * D, nl = (size_t)B * H * L, nd = (size_t)B * L;
    uint64_t seed = 99;
    uint16_t *hx[3], *out[4];
    int32_t *doc[2];
    float *ro = malloc(nx * 4), *rl = malloc(nl * 4), *hl = malloc(nl * 4);
    for (int i = 0; i < 3; i++) {
        hx[i] = malloc(nx * 2);
        for (size_t e = 0; e < nx; e++) hx[i][e] = to_bf16((float)(urand(&seed) * 2 - 1));
    }
    for (int i = 0; i < 4; i++) out[i] = malloc(nx * 2);
    for (int t = 0; t < 2; t++) {   /* sorted ids: 3 and 9 documents a row on average */
        doc[t] = malloc(nd * 4);
        for (int b = 0; b < B; b++)
            for (int i = 0, id = 0; i < L; i++) {
                if (i > 0 && urand(&seed) < (t ? 9.0 : 3.0) / L) id++;
                doc[t][b * L + i] = id;
            }
    }
    int64_t sx[4] = {B, H, L, D}, sl[3] = {B, H, L}, sd[2] = {B, L};
    void *dx[4], *dl, *dd[2];
    bool ok = true;
    for (int i = 0; i < 4; i++) ok &= rt_dev_alloc(nx * 2, &dx[i]) == ATTN_OK;
    ok &= rt_dev_alloc(nl * 4, &dl) == ATTN_OK;
    for (int t = 0; t < 2; t++)
        ok &= rt_dev_alloc(nd * 4, &dd[t]) == ATTN_OK && rt_dev_upload(dd[t], doc[t], nd * 4) == ATTN_OK;
    for (int i = 0; i < 3; i++) ok &= rt_dev_upload(dx[i], hx[i], nx * 2) == ATTN_OK;
    AttnTensor t[6];
    for (int i = 0; i < 4; i++) tensor(&t[i], dx[i], ATTN_BF16, 4, sx);
    tensor(&t[4], dl, ATTN_F32, 3, sl);
    /* launches: ids 0 (built), ids 1 with reuse (rebuilt), ids 0 with reuse (rebuilt), ids 0
     * with reuse (reused) */
    static const int ids[4] = {0, 1, 0, 0}, reuse[4] = {0, 1, 1, 1};
    AttnStatus st = ok ? ATTN_OK : ATTN_ERR_CUDA;
    for (int r = 0; r < 4 && st == ATTN_OK; r++) {
        tensor(&t[5], dd[ids[r]], ATTN_I32, 2, sd);
        AttnLaunchOptions lo = {.reuse_tile_map = reuse[r]};
        st = attn_launch(kk, t, 6, NULL, 0, &lo);
        if (st == ATTN_OK) st = rt_dev_sync(NULL);
        if (st == ATTN_OK) st = rt_dev_download(out[r], dx[3], nx * 2);
        if (st == ATTN_OK && r < 2) st = rt_dev_download(hl, dl, nl * 4);
        if (st != ATTN_OK || r >= 2) continue;
        AttnTensor h[6];
        memcpy(h, t, sizeof h);
        for (int i = 0; i < 3; i++) h[i].data = hx[i];
        h[3].data = ro, h[3].dtype = ATTN_F32;
        h[4].data = rl;
        h[5].data = doc[ids[r]];
        st = attn_reference(kk, h, 6, NULL, 0);
        double num = 0, den = 0, lerr = 0;
        for (size_t e = 0; st == ATTN_OK && e < nx; e++) {
            double g = from_bf16(out[r][e]), w = ro[e];
            num += (g - w) * (g - w);
            den += w * w;
        }
        for (size_t e = 0; st == ATTN_OK && e < nl; e++)
            if (isfinite(rl[e])) lerr = fmax(lerr, fabs((double)hl[e] - rl[e]));
        double rel = sqrt(num / (den > 0 ? den : 1));
        ok &= rel < 1e-2 && lerr < 1e-3;
        printf("%-4s reuse_tile_map launch %d (ids %d, reuse %d): rel err %.2e, lse err %.2e\n",
               rel < 1e-2 && lerr < 1e-3 ? "ok" : "FAIL", r, ids[r], reuse[r], rel, lerr);
    }
    bool same = st == ATTN_OK && !memcmp(out[2], out[0], nx * 2) && !memcmp(out[3], out[0], nx * 2);
    printf("%-4s reuse_tile_map: rebuilt and reused maps give launch 0's output bit for bit%s%s\n",
           same ? "ok" : "FAIL", st == ATTN_OK ? "" : ": ", st == ATTN_OK ? "" : attn_last_error());
    ok &= same;
    for (int i = 0; i < 4; i++) rt_dev_free(dx[i]), free(out[i]);
    for (int i = 0; i < 3; i++) free(hx[i]);
    for (int i = 0; i < 2; i++) rt_dev_free(dd[i]), free(doc[i]);
    rt_dev_free(dl);
    free(ro), free(rl), free(hl);
    return ok;
}

typedef struct Job {
    AttnKernel *k;
    int kind, seq;
} Job;

static void *thread_main(void *arg)
{
    Job *j = arg;
    static const int Ls[3] = {333, 517, 129};
    for (int i = 0; i < 6; i++)
        if (!run_case(j->k, j->kind, 1 + (i + j->seq) % 2, 3, Ls[(i + j->seq) % 3],
                      50 + 40 * ((i + j->seq) % 3), 100 + (uint64_t)i + 10 * (uint64_t)j->seq))
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    return NULL;
}

int main(void)
{
    if (!rt_cuda_available()) {
        printf("SKIP: no CUDA driver or device\n");
        return 0;
    }
    AttnKernel *k[NK];
    AttnCompileOptions co = {.target = "sm_90a", .no_cache = 1};
    for (int i = 0; i < NK; i++)
        if (attn_compile(specs[i], "gpu_maps", &co, &k[i]) != ATTN_OK) {
            printf("FAIL compile %d: %s\n", i, attn_last_error());
            return 1;
        }
    /* Shapes and params in an order that fills, replaces and revisits the kept maps. */
    static const int cases[][4] = {{2, 3, 333, 100}, {1, 2, 517, 100}, {2, 3, 333, 100},
                                   {2, 3, 333, 37}, {1, 4, 1000, 300}, {3, 1, 77, 5},
                                   {2, 2, 260, 64}, {1, 2, 517, 100}, {2, 3, 333, 100}};
    int n = (int)(sizeof cases / sizeof cases[0]);
    for (int ki = 0; ki < NK; ki++)
        for (int c = 0; c < n; c++)
            failures += !run_case(k[ki], ki, cases[c][0], cases[c][1], cases[c][2], cases[c][3],
                                  (uint64_t)(7 + c * 31 + ki));
    failures += !reuse_case(k[K_DOCS]);
    /* Two threads on one kernel: the kept window maps, then the documents map that each
     * launch rebuilds on the device into one shared buffer. */
    pthread_t th[4];
    Job jobs[4] = {{k[K_WINDOW], K_WINDOW, 0}, {k[K_WINDOW], K_WINDOW, 1},
                   {k[K_DOCS], K_DOCS, 0}, {k[K_DOCS], K_DOCS, 1}};
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NK; i++) attn_kernel_free(k[i]);
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures != 0;
}
