/* test_cpu_decode.c: the head-group decode entry (`<entry>_kvgroup`, kernel_abi.h) through the
 * runtime's launcher (rt_cpu_group_run: items (b, kv head, split), then the combine of the
 * splits), against air_reference in f64 on the same stored inputs. Covers GQA groups of 1, 4
 * and 8 and MQA, Lq 1..4, odd Lk, f32 / f16 / bf16 inputs, causal (with a tile map shared by
 * the heads or one per head) and window masks, per-head sinks (including rows that see no
 * key), a score hook that depends on the head (ALiBi), Dk / Dv not multiples of the vector,
 * unsplit and split key ranges.
 *
 * Tolerances as in test_cpu_codegen.c: relative Frobenius error of o 1e-5 for f32 outputs
 * (the reference sees the same rounded inputs; only f32 arithmetic differs), 4e-3 for bf16
 * outputs (twice bf16's largest rounding error); lse 1e-5, and -inf exactly where the
 * reference has -inf. */
#include <math.h>

#include "air_build.h"
#include "pass.h"
#include "rt.h"
#include "run_kernel.h"

enum { HK_NONE, HK_CAUSAL, HK_WINDOW, HK_SINK_WINDOW, HK_ALIBI };

typedef struct Case {
    const char *name;
    AirDtype in, out;
    int dk, dv, B, Hq, Hkv, Lq, Lk;
    int hooks;
    int window;
    int map;           /* 0: NULL (all PARTIAL), 1: causal classes shared, 2: one copy per head */
    int splits[3];     /* key splits to run (0 ends the list) */
} Case;

static void add_hooks(AirKernel *k, const Case *c)
{
    int32_t i = TB_IDX(k, IX_I), j = TB_IDX(k, IX_J);
    int32_t causal = TB_2(k, OP_LE, TY_BOOL, j, i);
    if (c->hooks == HK_CAUSAL || c->hooks == HK_ALIBI) k->hook[HOOK_MASK] = causal;
    if (c->hooks == HK_WINDOW || c->hooks == HK_SINK_WINDOW) {
        int32_t w = tb_param(k, "window", PARAM_I32, 64);
        int32_t near = TB_2(k, OP_LT, TY_BOOL, TB_2(k, OP_SUB, TY_I32, i, j), w);
        k->hook[HOOK_MASK] = TB_2(k, OP_AND, TY_BOOL, causal, near);
    }
    if (c->hooks == HK_SINK_WINDOW) {
        int t = tb_side(k, "sinks", DT_F32, 1, (AirDim[]){{SYM_IX_HQ, 0}});
        k->hook[HOOK_SINK] = tb_node(k, OP_LOAD, TY_F32, 1, TB_IDX(k, IX_H), 0, 0, t, 0);
    }
    if (c->hooks == HK_ALIBI) {   /* score - 2^(-(h + 1) / 2) (i - j) */
        int32_t h1 = TB_1(k, OP_TOF32, TY_F32, TB_2(k, OP_ADD, TY_I32, TB_IDX(k, IX_H), TB_I(k, 1)));
        int32_t slope = TB_1(k, OP_EXP2, TY_F32, TB_2(k, OP_MUL, TY_F32, TB_F(k, -0.5), h1));
        int32_t dist = TB_1(k, OP_TOF32, TY_F32, TB_2(k, OP_SUB, TY_I32, i, j));
        int32_t s = tb_node(k, OP_SCORE, TY_F32, 0, 0, 0, 0, 0, 0);
        k->hook[HOOK_SCORE] = TB_2(k, OP_SUB, TY_F32, s, TB_2(k, OP_MUL, TY_F32, slope, dist));
    }
}

/* One case on one target, every split count of the case. */
static int run_case(const Case *c, const char *tname)
{
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "dec", c->in, c->out, c->dk, c->dv, true);
    add_hooks(k, c);
    Loaded l = {0};
    if (!load_kernel(k, tname, &l)) {
        arena_free(&a);
        return 1;
    }
    char err[512], name[64];
    snprintf(name, sizeof name, "attn_dec_kvgroup");
    AbiCpuGroupEntry ge = (AbiCpuGroupEntry)rt_jit_lookup(l.jit, name, err, sizeof err);
    int fails = 0;
    AbiArgs *args = calloc(1, sizeof *args), *rargs = calloc(1, sizeof *rargs);
    int64_t symv[SYM_IX_COUNT] = {c->B, c->Hq, c->Hkv, c->Lq, c->Lk};
    memcpy(args->sym, symv, sizeof symv);
    int64_t shp[5][4] = {{c->B, c->Hq, c->Lq, c->dk}, {c->B, c->Hkv, c->Lk, c->dk},
                         {c->B, c->Hkv, c->Lk, c->dv}, {c->B, c->Hq, c->Lq, c->dv}, {c->B, c->Hq, c->Lq, 1}};
    Buf bufs[6] = {0};
    double *refs[6] = {0};
    AirDtype rdt[6];
    for (int t = 0; t < k->ntensors; t++) {
        const AirTensor *at = &k->tensors[t];
        int rank = at->rank;
        int64_t n = 1;
        for (int r = rank - 1; r >= 0; r--) {
            args->t[t].shape[r] = t < 5 ? shp[t][r] : c->Hq;
            args->t[t].strides[r] = n;
            n *= args->t[t].shape[r];
        }
        bufs[t] = buf_new(at->dtype, n, false);
        rdt[t] = at->is_output ? DT_F64 : at->dtype;
        for (int64_t x = 0; x < n; x++)
            buf_set(&bufs[t], x, at->is_output ? 777.0 : t >= 5 ? 0.5 * (double)x - 1.0 : 1.5 * urand());
        args->t[t].data = bufs[t].data;
        if (at->is_output) refs[t] = calloc((size_t)n + 1, 8);
    }
    for (int p = 0; p < k->nparams; p++) args->iparam[p] = c->window, args->fparam[p] = (float)c->window;
    args->q_offset = c->Lk - c->Lq;
    *rargs = *args;
    for (int t = 0; t < k->ntensors; t++)
        if (refs[t]) rargs->t[t].data = refs[t];

    /* Causal tile classes (the tile map of pass_mask_tiles for j <= i), shared by the heads or
     * repeated per head to exercise the group's union of classes. */
    int tm = l.plan.tile_m, tn = l.plan.tile_n;
    int64_t nkt = (c->Lk + tn - 1) / tn;
    uint8_t *map = calloc((size_t)(nkt * c->Hq), 1);
    if (c->map) {
        for (int64_t h = 0; h < (c->map == 2 ? c->Hq : 1); h++)
            for (int64_t kt = 0; kt < nkt; kt++) {
                int64_t i0 = args->q_offset, i1 = i0 + tm - 1, j0 = kt * tn, j1 = j0 + tn - 1;
                map[h * nkt + kt] = j0 > i1 ? TILE_EMPTY : j1 <= i0 ? TILE_FULL : TILE_PARTIAL;
            }
        args->tiles = map;
        args->tile_sh = c->map == 2 ? nkt : 0;
        args->tile_m = tm, args->tile_n = tn;
    }
    Source src = {"<test>", "", 0};
    Diags d;
    diags_init(&d, &a, &src);
    bool ok = ge && rt_cpu_group_fits(k, plan_entry(&l.plan, ROLE_KVGROUP), args) && air_reference(k, rargs, rdt, &d);
    if (!ok) printf("FAIL %s %s: no group entry, not a group launch, or reference failed: %s\n",
                    c->name, tname, ge ? diags_render(&d, false) : err);
    for (int s = 0; ok && s < 3 && c->splits[s]; s++) {
        for (int64_t x = 0; x < bufs[3].n; x++) buf_set(&bufs[3], x, 777.0);
        for (int64_t x = 0; x < bufs[4].n; x++) buf_set(&bufs[4], x, 777.0);
        bool run = rt_cpu_group_run(k, &l.plan, ge, args, c->splits[s], 1) == ATTN_OK;
        double e2 = 0, r2 = 0, le2 = 0, lr2 = 0;
        bool inf_ok = true;
        for (int64_t x = 0; x < bufs[3].n; x++) {
            double g = buf_get(&bufs[3], x), w = refs[3][x];
            e2 += (g - w) * (g - w), r2 += w * w;
        }
        for (int64_t x = 0; x < bufs[4].n; x++) {
            double g = buf_get(&bufs[4], x), w = refs[4][x];
            if (isinf(w)) inf_ok &= g == w;
            else le2 += (g - w) * (g - w), lr2 += w * w;
        }
        double rel = sqrt(e2 / (r2 > 0 ? r2 : 1)), lrel = sqrt(le2 / (lr2 > 0 ? lr2 : 1));
        double tol = c->out == DT_BF16 ? 4e-3 : 1e-5;
        bool good = run && rel <= tol && lrel <= 1e-5 && inf_ok;
        printf("%-4s %-30s %-10s splits %d  o rel %.2e (tol %.0e)  lse rel %.2e%s\n",
               good ? "ok" : "FAIL", c->name, tname, c->splits[s], rel, tol, lrel,
               inf_ok ? "" : "  (-inf rows differ)");
        fails += !good;
    }
    fails += !ok;
    for (int t = 0; t < k->ntensors; t++) buf_free(&bufs[t]), free(refs[t]);
    free(map), free(args), free(rargs);
    rt_jit_dispose(l.jit);
    arena_free(&a);
    return fails;
}

/* Plans that cannot take the group path (too many rows, Lq too large) are left to the
 * per-head entry. */
static int test_fits(void)
{
    KernelPlan p = {.tile_n = 64, .nentries = 2,
                    .entries = {{"k", ROLE_ATTENTION, 1, 0, 0, 0}, {"g", ROLE_KVGROUP, 1, 0, 64, 4}}};
    const PlanEntry *g = &p.entries[1];
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "fit", DT_F32, DT_F32, 64, 64, true);
    AbiArgs args = {0};
    int64_t q[4] = {1, 32, 1, 64}, kk[4] = {1, 8, 4096, 64};
    memcpy(args.t[k->tq].shape, q, sizeof q);
    memcpy(args.t[k->tk].shape, kk, sizeof kk);
    bool ok = rt_cpu_group_fits(k, g, &args) && rt_cpu_group_splits(k, &p, &args, 2) == 1;
    args.t[k->tk].shape[1] = 1;                     /* MQA: one item on 2 threads: 2 splits */
    ok = ok && rt_cpu_group_fits(k, g, &args) && rt_cpu_group_splits(k, &p, &args, 2) == 2;
    args.t[k->tk].shape[2] = 100;                   /* 2 tiles: too short to split */
    ok = ok && rt_cpu_group_splits(k, &p, &args, 2) == 1;
    args.t[k->tq].shape[2] = 3;                     /* 96 rows > 64 */
    ok = ok && !rt_cpu_group_fits(k, g, &args);
    args.t[k->tk].shape[1] = 8;
    args.t[k->tq].shape[2] = 5;                     /* Lq 5 > group_lq */
    ok = ok && !rt_cpu_group_fits(k, g, &args);
    args.t[k->tq].shape[2] = 1;                     /* a plan without a group entry */
    ok = ok && !rt_cpu_group_fits(k, NULL, &args);
    printf("%-4s group path chosen only when it fits, splits only when items < threads\n",
           ok ? "ok" : "FAIL");
    arena_free(&a);
    return !ok;
}

int main(void)
{
    Case cases[] = {
        {"GQA 1 f32 causal Lq 1", DT_F32, DT_F32, 128, 128, 1, 2, 2, 1, 1333, HK_CAUSAL, 0, 1, {1, 3, 0}},
        {"GQA 4 bf16 window Lq 3", DT_BF16, DT_F32, 128, 128, 2, 8, 2, 3, 1001, HK_WINDOW, 300, 0, {1, 4, 0}},
        {"GQA 8 f16 sink window Lq 2", DT_F16, DT_F32, 64, 64, 1, 16, 2, 2, 777, HK_SINK_WINDOW, 200, 0, {1, 2, 0}},
        {"MQA 16 f32 causal per-head map", DT_F32, DT_F32, 128, 128, 1, 16, 1, 4, 901, HK_CAUSAL, 0, 2, {1, 5, 0}},
        {"MQA 32 bf16 io Lq 1", DT_BF16, DT_BF16, 128, 128, 1, 32, 1, 1, 515, HK_NONE, 0, 0, {1, 2, 0}},
        {"GQA 4 bf16 36/40 sink Lq 4", DT_BF16, DT_F32, 36, 40, 1, 4, 1, 4, 129, HK_SINK_WINDOW, 50, 0, {1, 2, 0}},
        {"GQA 4 sink, no visible key", DT_F32, DT_F32, 64, 64, 1, 4, 1, 2, 300, HK_SINK_WINDOW, 0, 0, {1, 3, 0}},
        {"GQA 4 no visible key", DT_F32, DT_F32, 64, 64, 1, 4, 1, 1, 300, HK_WINDOW, 0, 0, {1, 3, 0}},
        {"GQA 4 alibi per head Lq 2", DT_F32, DT_F32, 96, 96, 2, 8, 2, 2, 555, HK_ALIBI, 0, 1, {1, 3, 0}},
    };
    int fails = test_fits();
    const char *targets[3];
    int nt = test_cpu_targets(targets);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 0; t < nt; t++) fails += run_case(&cases[i], targets[t]);
    printf("%d failure(s)\n", fails);
    return fails != 0;
}
