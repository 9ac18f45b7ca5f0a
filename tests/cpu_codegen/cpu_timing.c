/* cpu_timing.c: a manual timing run (not a ctest) of the CPU kernel against OpenBLAS sgemm at
 * the same FLOPs, one thread, in the same process. Build with `make cpu_timing`, then
 *   OPENBLAS_NUM_THREADS=1 ./cpu_timing [target] [L] [D] [heads] [causal]
 * FLOPs of attention = 4 * H * (visible pairs) * D; sgemm 2 * M * N * K with M = N = L and
 * K = 2 * D * H (non-causal), the same count. Best of 3 runs each. */
#include <cblas.h>
#include <time.h>

#include "air_build.h"
#include "run_kernel.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *tname = argc > 1 ? argv[1] : "native";
    int L = argc > 2 ? atoi(argv[2]) : 4096, D = argc > 3 ? atoi(argv[3]) : 128;
    int H = argc > 4 ? atoi(argv[4]) : 1, causal = argc > 5 ? atoi(argv[5]) : 0;
    openblas_set_num_threads(1);
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "bench", DT_F32, DT_F32, D, D, true);
    if (causal) k->hook[HOOK_MASK] = TB_2(k, OP_LE, TY_BOOL, TB_IDX(k, IX_J), TB_IDX(k, IX_I));
    if (argc > 6) {   /* also write the assembly there */
        Source src = {"<bench>", "", 0};
        Diags d;
        diags_init(&d, &a, &src);
        const Target *t = target_find(tname);
        KernelPlan plan;
        Blob out = {0};
        if (t && t->plan(t, k, &plan, &d) && t->emit(t, k, &plan, EMIT_ASM, &a, &out, &d)) {
            FILE *f = fopen(argv[6], "w");
            if (f) fwrite(out.data, 1, out.size, f), fclose(f);
        }
    }
    Loaded l = {0};
    double t0 = now();
    if (!load_kernel(k, tname, &l)) return 1;
    double tcomp = now() - t0;
    int64_t n = (int64_t)H * L * D;
    float *q = malloc(n * 4), *kk = malloc(n * 4), *v = malloc(n * 4), *o = malloc(n * 4);
    float *lse = malloc((size_t)H * L * 4);
    for (int64_t i = 0; i < n; i++) q[i] = (float)urand(), kk[i] = (float)urand(), v[i] = (float)urand();
    AbiArgs *args = calloc(1, sizeof *args);
    int64_t sh[4] = {1, H, L, D}, st[4] = {n, (int64_t)L * D, D, 1};
    set_tensor(args, 0, q, 4, sh, st);
    set_tensor(args, 1, kk, 4, sh, st);
    set_tensor(args, 2, v, 4, sh, st);
    set_tensor(args, 3, o, 4, sh, st);
    set_tensor(args, 4, lse, 3, sh, (int64_t[]){(int64_t)H * L, L, 1});
    int tm = l.plan.tile_m, tn = l.plan.tile_n;
    int64_t nqt = (L + tm - 1) / tm, nkt = (L + tn - 1) / tn;
    uint8_t *map = calloc((size_t)(nqt * nkt), 1);
    double pairs = causal ? (double)L * (L + 1) / 2 : (double)L * L;
    if (causal) {   /* the classes pass_mask_tiles would give a causal mask */
        for (int64_t qt = 0; qt < nqt; qt++)
            for (int64_t kt = 0; kt < nkt; kt++)
                map[qt * nkt + kt] = kt * tn > qt * tm + tm - 1 ? TILE_EMPTY
                                   : kt * tn + tn - 1 <= qt * tm ? TILE_FULL : TILE_PARTIAL;
        args->tiles = map;
        args->tile_sq = nkt;
    }
    double flops = 4.0 * H * pairs * D, best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double s = now();
        launch_all(&l, args, 1, H, L);
        double t = now() - s;
        if (t < best) best = t;
    }
    int K = 2 * D * H;
    float *A = malloc((size_t)L * K * 4), *B = malloc((size_t)K * L * 4), *C = malloc((size_t)L * L * 4);
    for (int64_t i = 0; i < (int64_t)L * K; i++) A[i] = (float)urand(), B[i] = (float)urand();
    double gbest = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double s = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, L, K, 1.0f, A, K, B, L, 0.0f, C, L);
        double t = now() - s;
        if (t < gbest) gbest = t;
    }
    double gflops = 2.0 * L * L * K;
    int S = 4096;   /* the ceiling of BENCH.md: sgemm 4096^3 */
    float *A2 = malloc((size_t)S * S * 4), *B2 = malloc((size_t)S * S * 4), *C2 = malloc((size_t)S * S * 4);
    for (int64_t i = 0; i < (int64_t)S * S; i++) A2[i] = (float)urand(), B2[i] = (float)urand();
    double s0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A2, S, B2, S, 0.0f, C2, S);
    double tsq = now() - s0;
    printf("target %s, L %d, D %d, heads %d, %s, 1 thread, compile+load %.1f ms\n", tname, L, D, H, causal ? "causal" : "non-causal", tcomp * 1e3);
    printf("attnc : %.3f s  %.1f GFLOP/s\n", best, flops / best * 1e-9);
    printf("sgemm : %.3f s  %.1f GFLOP/s  (%d x %d x %d)\n", gbest, gflops / gbest * 1e-9, L, L, K);
    printf("sgemm : %.3f s  %.1f GFLOP/s  (%d^3)\n", tsq, 2.0 * S * S * S / tsq * 1e-9, S);
    printf("ratio : %.0f%% of sgemm at the same FLOPs, %.0f%% of sgemm %d^3\n",
           100.0 * (flops / best) / (gflops / gbest), 100.0 * (flops / best) / (2.0 * S * S * S / tsq), S);
    rt_jit_dispose(l.jit);
    arena_free(&a);
    return 0;
}
