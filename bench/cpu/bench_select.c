/* bench_select.c: the sparsity selectors' CPU kernels on decode (one query row against a long
 * key cache) next to attnc's dense causal kernel on the same shape, in one run (docs/bench.md).
 *   MoBA, blocks of 128 top 8 and blocks of 256 top 4 (Hq = Hkv = 16, d 128);
 *   NSA's selection branch, blocks of 64 top 16, shared over the GQA group (Hq 64, Hkv 4, d 128).
 * bf16 q, k, v, o. Each kernel is first checked against the f64 reference on fresh random
 * inputs at a smaller odd length (Lk 3001), then timed at Lk (default 131072): the median of
 * `reps` launches after one warm-up, end to end (block means, selection, attention).
 *
 * usage: attn_bench_select [Lk [threads [reps]]]      (defaults 131072, 0 = all cores, 7) */
#include "attn.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Case {
    const char *name;
    int hq, hkv, bs, top;
    bool shared, dense;
} Case;

static const Case cases[] = {
    {"dense causal (MoBA heads)", 16, 16, 0, 0, false, true},
    {"MoBA blocks 128 top 8", 16, 16, 128, 8, false, false},
    {"MoBA blocks 256 top 4", 16, 16, 256, 4, false, false},
    {"dense causal (NSA heads)", 64, 4, 0, 0, false, true},
    {"NSA blocks 64 top 16", 64, 4, 64, 16, true, false},
};

static char *spec(const Case *c)
{
    static char buf[2048];
    char sel[512] = "";
    if (!c->dense && c->shared)   /* NSA: the first and the two local blocks forced */
        snprintf(sel, sizeof sel,
                 "  select blocks(%d) top %d by block * %d > i ? -inf : (block == 0 || i / %d - block <= 1 ? inf : "
                 "dot(q[i], mean(k[block]))) keep own shared;\n", c->bs, c->top, c->bs, c->bs);
    else if (!c->dense)
        snprintf(sel, sizeof sel, "  select blocks(%d) top %d by block * %d <= i ? dot(q[i], mean(k[block])) : -inf keep own;\n",
                 c->bs, c->top, c->bs);
    snprintf(buf, sizeof buf,
             "attention sel {\n"
             "  in  q: bf16[B, Hq, Lq, 128];\n  in  k: bf16[B, Hkv, Lk, 128];\n  in  v: bf16[B, Hkv, Lk, 128];\n"
             "  out o: bf16[B, Hq, Lq, 128];\n  out lse: f32[B, Hq, Lq];\n%s  mask = j <= i;\n}\n", sel);
    return buf;
}

static uint64_t rng = 88172645463325252ull;
static float urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static uint16_t bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static double tensor_value(const AttnTensor *t, int64_t e)
{
    if (t->dtype == ATTN_F32) return ((const float *)t->data)[e];
    uint32_t u = (uint32_t)((const uint16_t *)t->data)[e] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* q, k, v, o, lse for B 1, Lq 1 and this Lk; inputs random in [-1, 1). */
static void make(const Case *c, int64_t lk, AttnTensor t[5])
{
    int64_t heads[5] = {c->hq, c->hkv, c->hkv, c->hq, c->hq}, len[5] = {1, lk, lk, 1, 1};
    for (int x = 0; x < 5; x++) {
        AttnTensor *a = &t[x];
        memset(a, 0, sizeof *a);
        a->dtype = x == 4 ? ATTN_F32 : ATTN_BF16;
        a->rank = x == 4 ? 3 : 4;
        int64_t shape[4] = {1, heads[x], len[x], 128};
        int64_t n = 1;
        for (int r = a->rank - 1; r >= 0; r--) a->shape[r] = shape[r], a->strides[r] = n, n *= shape[r];
        a->data = malloc((size_t)n * (x == 4 ? 4 : 2));
        if (x < 3)
            for (int64_t e = 0; e < n; e++) ((uint16_t *)a->data)[e] = bf16(urand());
    }
}

static void release(AttnTensor t[5])
{
    for (int x = 0; x < 5; x++) free(t[x].data);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Relative Frobenius error of o against the reference's, on the check shape. */
static double check(AttnKernel *k, const Case *c)
{
    AttnTensor t[5], r[5];
    make(c, 3001, t);
    memcpy(r, t, sizeof r);
    r[3].data = malloc((size_t)c->hq * 128 * 2);
    r[4].data = malloc((size_t)c->hq * 4);
    AttnLaunchOptions lo = {.num_threads = 0};
    double err = INFINITY;
    if (attn_launch(k, t, 5, NULL, 0, &lo) == ATTN_OK && attn_reference(k, r, 5, NULL, 0) == ATTN_OK) {
        double e2 = 0, r2 = 0;
        for (int64_t e = 0; e < c->hq * 128; e++) {
            double g = tensor_value(&t[3], e), x = tensor_value(&r[3], e);
            e2 += (g - x) * (g - x), r2 += x * x;
        }
        err = sqrt(e2 / (r2 > 0 ? r2 : 1));
    }
    free(r[3].data);
    free(r[4].data);
    release(t);
    return err;
}

int main(int argc, char **argv)
{
    int64_t lk = argc > 1 ? atoll(argv[1]) : 131072;
    int threads = argc > 2 ? atoi(argv[2]) : 0, reps = argc > 3 ? atoi(argv[3]) : 7;
    if (lk < 1 || reps < 1) {
        fprintf(stderr, "usage: attn_bench_select [Lk [threads [reps]]]\n");
        return 2;
    }
    printf("selector decode on the CPU: B 1, Lq 1, Lk %lld, d 128, bf16, threads %d (0 = all)\n", (long long)lk, threads);
    printf("%-28s %10s %10s %12s %10s\n", "case", "check err", "ms", "keys read", "vs dense");
    double dense_ms = 0;
    int fails = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const Case *c = &cases[ci];
        AttnCompileOptions o = {.target = "native", .no_cache = 1};
        AttnKernel *k = NULL;
        if (attn_compile(spec(c), c->name, &o, &k) != ATTN_OK) {
            printf("%-28s compile failed: %s\n", c->name, attn_last_error());
            fails++;
            continue;
        }
        double err = check(k, c);
        bool ok = err <= 1e-2;   /* bf16 output: rounding alone is up to 2^-8 relative */
        fails += !ok;
        AttnTensor t[5];
        make(c, lk, t);
        AttnLaunchOptions lo = {.num_threads = threads};
        double ms[64];
        int n = reps < 64 ? reps : 64;
        attn_launch(k, t, 5, NULL, 0, &lo);   /* warm-up */
        for (int r = 0; r < n; r++) {
            double t0 = now();
            attn_launch(k, t, 5, NULL, 0, &lo);
            ms[r] = 1e3 * (now() - t0);
        }
        qsort(ms, (size_t)n, sizeof ms[0], cmp_double);
        double med = ms[n / 2];
        /* keys each query row reads: all of them (dense), or top blocks plus the mean pass */
        long long keys = c->dense ? (long long)lk : (long long)c->top * c->bs;
        if (c->dense) dense_ms = med;
        printf("%-28s %10.2e %10.3f %12lld %9.2fx%s\n", c->name, err, med, keys,
               c->dense || med <= 0 ? 1.0 : dense_ms / med, ok ? "" : "  CHECK FAILED");
        release(t);
        attn_kernel_free(k);
    }
    return fails != 0;
}
