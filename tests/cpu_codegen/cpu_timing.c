/* cpu_timing.c: a manual timing run (not a ctest) of the CPU kernel against OpenBLAS sgemm at
 * the same FLOPs, one thread, in the same process. Build with `make cpu_timing`, then
 *   OPENBLAS_NUM_THREADS=1 ./cpu_timing [target] [L] [D] [heads] [causal] [f32|bf16] [Lq] [kv heads]
 * (Lq defaults to L; Lq = 1 is decode, reported as GB/s of K and V read too). With
 * ATTNC_ASM=path the kernel's assembly is written there.
 * FLOPs of attention = 4 * H * (visible pairs) * D; sgemm 2 * M * N * K with M = N = L and
 * K chosen for the same count (2 * D * H non-causal, about half that causal), interleaved,
 * best of 5 each; then sgemm 4096^3 once, the ceiling of BENCH.md. */
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
    AirDtype dt = argc > 6 && !strcmp(argv[6], "bf16") ? DT_BF16 : DT_F32;
    AirKernel *k = tb_new(&a, "bench", dt, DT_F32, D, D, true);
    if (causal) k->hook[HOOK_MASK] = TB_2(k, OP_LE, TY_BOOL, TB_IDX(k, IX_J), TB_IDX(k, IX_I));
    const char *asm_out = getenv("ATTNC_ASM");
    if (asm_out) {
        Source src = {"<bench>", "", 0};
        Diags d;
        diags_init(&d, &a, &src);
        const Target *t = target_find(tname);
        KernelPlan plan;
        Blob out = {0};
        if (t && t->plan(t, k, &plan, &d) && t->emit(t, k, &plan, EMIT_ASM, NULL, &a, &out, &d)) {
            FILE *f = fopen(asm_out, "w");
            if (f) fwrite(out.data, 1, out.size, f), fclose(f);
        }
    }
    Loaded l = {0};
    double t0 = now();
    if (!load_kernel(k, tname, &l)) return 1;
    double tcomp = now() - t0;
    int Lq = argc > 7 ? atoi(argv[7]) : L;
    int Hkv = argc > 8 ? atoi(argv[8]) : H;
    int64_t n = (int64_t)Hkv * L * D, nq = (int64_t)H * Lq * D;
    Buf qb = buf_new(dt, nq, false), kb = buf_new(dt, n, false), vb = buf_new(dt, n, false);
    float *o = malloc(nq * 4);
    float *lse = malloc((size_t)H * Lq * 4);
    for (int64_t i = 0; i < n; i++) buf_set(&kb, i, urand()), buf_set(&vb, i, urand());
    for (int64_t i = 0; i < nq; i++) buf_set(&qb, i, urand());
    AbiArgs *args = calloc(1, sizeof *args);
    int64_t sh[4] = {1, Hkv, L, D}, st[4] = {n, (int64_t)L * D, D, 1};
    int64_t shq[4] = {1, H, Lq, D}, stq[4] = {nq, (int64_t)Lq * D, D, 1};
    set_tensor(args, 0, qb.data, 4, shq, stq);
    set_tensor(args, 1, kb.data, 4, sh, st);
    set_tensor(args, 2, vb.data, 4, sh, st);
    set_tensor(args, 3, o, 4, shq, stq);
    set_tensor(args, 4, lse, 3, shq, (int64_t[]){(int64_t)H * Lq, Lq, 1});
    int64_t qoff = Lq < L ? L - Lq : 0;
    args->q_offset = qoff;
    int tm = l.plan.tile_m, tn = l.plan.tile_n;
    int64_t nqt = (Lq + tm - 1) / tm, nkt = (L + tn - 1) / tn;
    uint8_t *map = calloc((size_t)(nqt * nkt), 1);
    double pairs = 0;
    for (int64_t r = 0; r < Lq; r++) pairs += causal ? (double)(r + qoff + 1 < L ? r + qoff + 1 : L) : L;
    if (causal) {   /* the classes pass_mask_tiles would give a causal mask */
        for (int64_t qt = 0; qt < nqt; qt++)
            for (int64_t kt = 0; kt < nkt; kt++)
                map[qt * nkt + kt] = kt * tn > qt * tm + qoff + tm - 1 ? TILE_EMPTY
                                   : kt * tn + tn - 1 <= qt * tm + qoff ? TILE_FULL : TILE_PARTIAL;
        args->tiles = map;
        args->tile_sq = nkt;
    }
    double flops = 4.0 * H * pairs * D, best = 1e30, gbest = 1e30;
    int K = (int)(flops / (2.0 * L * L) + 0.5);   /* the same FLOPs as the visible pairs */
    if (Lq < L) K = 0;                             /* decode is bound by memory: no sgemm */
    float *A = malloc((size_t)L * K * 4 + 4), *B = malloc((size_t)K * L * 4 + 4);
    float *C = K ? malloc((size_t)L * L * 4) : NULL;
    for (int64_t i = 0; i < (int64_t)L * K; i++) A[i] = (float)urand(), B[i] = (float)urand();
    /* Interleaved, best of 5 each, so that both see the same machine load. */
    for (int rep = 0; rep < 5; rep++) {
        double s = now();
        launch_all(&l, args, 1, H, Lq);
        double t = now() - s;
        if (t < best) best = t;
        if (!K) continue;
        s = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, L, K, 1.0f, A, K, B, L, 0.0f, C, L);
        t = now() - s;
        if (t < gbest) gbest = t;
    }
    double gflops = 2.0 * L * L * K;
    int S = 4096;   /* the ceiling of BENCH.md: sgemm 4096^3 (skipped for decode) */
    if (!K) S = 16;
    float *A2 = malloc((size_t)S * S * 4), *B2 = malloc((size_t)S * S * 4), *C2 = malloc((size_t)S * S * 4);
    for (int64_t i = 0; i < (int64_t)S * S; i++) A2[i] = (float)urand(), B2[i] = (float)urand();
    double s0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, A2, S, B2, S, 0.0f, C2, S);
    double tsq = now() - s0;
    if (Lq < L) {   /* decode-like: bytes of K and V against a memcpy of as many bytes */
        double bytes = 2.0 * n * (dt == DT_BF16 ? 2 : 4), cbest = 1e30;
        char *src = malloc((size_t)bytes), *dst = malloc((size_t)bytes);
        memset(src, 1, (size_t)bytes);
        for (int rep = 0; rep < 5; rep++) {
            double s1 = now();
            memcpy(dst, src, (size_t)bytes);
            double t = now() - s1;
            if (t < cbest) cbest = t;
        }
        printf("Lq %d: attnc reads K and V at %.1f GB/s; memcpy of those bytes %.1f GB/s (%.0f%%)\n",
               Lq, bytes / best * 1e-9, bytes / cbest * 1e-9, 100.0 * cbest / best);
    }
    if (!K) {
        printf("target %s, Lk %d, Lq %d, D %d, heads %d, %s, %s inputs: attnc %.4f s, %.2f GFLOP/s\n",
               tname, L, Lq, D, H, causal ? "causal" : "non-causal", dt == DT_BF16 ? "bf16" : "f32",
               best, flops / best * 1e-9);
        return 0;
    }
    printf("target %s, L %d, D %d, heads %d, %s, %s inputs, 1 thread, compile+load %.1f ms\n",
           tname, L, D, H, causal ? "causal" : "non-causal", dt == DT_BF16 ? "bf16" : "f32", tcomp * 1e3);
    printf("attnc : %.3f s  %.1f GFLOP/s\n", best, flops / best * 1e-9);
    printf("sgemm : %.3f s  %.1f GFLOP/s  (%d x %d x %d)\n", gbest, gflops / gbest * 1e-9, L, L, K);
    printf("sgemm : %.3f s  %.1f GFLOP/s  (%d^3)\n", tsq, 2.0 * S * S * S / tsq * 1e-9, S);
    printf("ratio : %.0f%% of sgemm at the same FLOPs, %.0f%% of sgemm %d^3\n",
           100.0 * (flops / best) / (gflops / gbest), 100.0 * (flops / best) / (2.0 * S * S * S / tsq), S);
    rt_jit_dispose(l.jit);
    arena_free(&a);
    return 0;
}
