/* test_cpu_codegen.c: every CPU kernel variant, JIT-loaded, against a naive f64 loop.
 *
 * Tolerances (relative Frobenius error of o over the whole tensor, and of lse over the rows
 * that see a key):
 *   - f32 or f16 / bf16 outputs in f32: 1e-5. The reference runs in f64 on exactly the values
 *     stored in the (rounded) input tensors, so the only differences are f32 rounding in the
 *     kernel: dot products of <= 256 terms and sums over <= ~300 keys, each term with relative
 *     error ~6e-8, plus exp2 / log2 accurate to a few ulp; that gives ~1e-6 in practice.
 *   - bf16 outputs: 4e-3, i.e. twice bf16's largest relative rounding error (2^-9 = 1.95e-3),
 *     since o itself is rounded to 8 significant bits on the way out.
 * Rows with no visible key must give o = 0 exactly and lse = -inf (lse = the sink logit when
 * the spec has a sink, as air_reference defines it). */
#include <math.h>

#include "air_build.h"
#include "pass.h"
#include "run_kernel.h"

typedef struct Case Case;
struct Case {
    const char *name;
    AirDtype in, out;
    int dk, dv, B, Hq, Hkv, Lq, Lk;
    int layout;                  /* 0: [B,H,L,D]; 1: [B,L,H,D]; 2: [B,H,L,D] with padded rows */
    int tilemap;                 /* 0: NULL; 1: causal classes; 2: all EMPTY; 3: all FULL */
    double param[4];             /* runtime values of the params */
    void (*hooks)(AirKernel *k);
    /* The reference's view of the same hooks; NULL = default. */
    double (*scale)(const Case *c, int h);
    double (*score)(const Case *c, int b, int h, int i, int j, double z);
    bool (*mask)(const Case *c, int b, int i, int j);
    double (*sink)(const Case *c, int h);
    double expect_rel;           /* o tolerance */
};

/* ---- hooks: AIR and reference side by side ------------------------------------------------- */

static void h_causal(AirKernel *k)
{
    k->hook[HOOK_MASK] = TB_2(k, OP_LE, TY_BOOL, TB_IDX(k, IX_J), TB_IDX(k, IX_I));
}
static bool r_causal(const Case *c, int b, int i, int j) { (void)c, (void)b; return j <= i; }

/* mask = j <= i && i - j < window (window: runtime param 0) */
static void h_window(AirKernel *k)
{
    int32_t i = TB_IDX(k, IX_I), j = TB_IDX(k, IX_J), w = tb_param(k, "window", PARAM_I32, 4096);
    int32_t c = TB_2(k, OP_LE, TY_BOOL, j, i);
    int32_t d = TB_2(k, OP_LT, TY_BOOL, TB_2(k, OP_SUB, TY_I32, i, j), w);
    k->hook[HOOK_MASK] = TB_2(k, OP_AND, TY_BOOL, c, d);
}
static bool r_window(const Case *c, int b, int i, int j)
{
    (void)b;
    return j <= i && i - j < (int)c->param[0];
}

/* score = cap * tanh(score / cap) with cap a runtime f32 param, and causal */
static void h_softcap(AirKernel *k)
{
    int32_t cap = tb_param(k, "cap", PARAM_F32, 50);
    int32_t s = tb_node(k, OP_SCORE, TY_F32, 0, 0, 0, 0, 0, 0);
    int32_t t = TB_1(k, OP_TANH, TY_F32, TB_2(k, OP_DIV, TY_F32, s, cap));
    k->hook[HOOK_SCORE] = TB_2(k, OP_MUL, TY_F32, cap, t);
    h_causal(k);
}
static double r_softcap(const Case *c, int b, int h, int i, int j, double z)
{
    (void)b, (void)h, (void)i, (void)j;
    return c->param[0] * tanh(z / c->param[0]);
}

/* ALiBi: score - exp2(-8 (h + 1) / Hq) * (i - j), causal */
static void h_alibi(AirKernel *k)
{
    int32_t h1 = TB_2(k, OP_ADD, TY_I32, TB_IDX(k, IX_H), TB_I(k, 1));
    int32_t e = TB_2(k, OP_DIV, TY_F32, TB_2(k, OP_MUL, TY_F32, TB_F(k, -8.0), TB_1(k, OP_TOF32, TY_F32, h1)),
                     TB_1(k, OP_TOF32, TY_F32, TB_DIM(k, SYM_IX_HQ)));
    int32_t slope = TB_1(k, OP_EXP2, TY_F32, e);
    int32_t dist = TB_1(k, OP_TOF32, TY_F32, TB_2(k, OP_SUB, TY_I32, TB_IDX(k, IX_I), TB_IDX(k, IX_J)));
    int32_t s = tb_node(k, OP_SCORE, TY_F32, 0, 0, 0, 0, 0, 0);
    k->hook[HOOK_SCORE] = TB_2(k, OP_SUB, TY_F32, s, TB_2(k, OP_MUL, TY_F32, slope, dist));
    h_causal(k);
}
static double r_alibi(const Case *c, int b, int h, int i, int j, double z)
{
    (void)b;
    return z - exp2(-8.0 * (h + 1) / c->Hq) * (i - j);
}

/* sink = sinks[h] (an f32 side tensor), with a window so some rows see few keys */
static void h_sink(AirKernel *k)
{
    int t = tb_side(k, "sinks", DT_F32, 1, (AirDim[]){{SYM_IX_HQ, 0}});
    k->hook[HOOK_SINK] = tb_node(k, OP_LOAD, TY_F32, 1, TB_IDX(k, IX_H), 0, 0, t, 0);
    h_window(k);
}
static double r_sink(const Case *c, int h) { (void)c; return 0.5 * h - 1.0; }

/* mask = j <= i - 5: the first rows see nothing */
static void h_empty_rows(AirKernel *k)
{
    int32_t i5 = TB_2(k, OP_SUB, TY_I32, TB_IDX(k, IX_I), TB_I(k, 5));
    k->hook[HOOK_MASK] = TB_2(k, OP_LE, TY_BOOL, TB_IDX(k, IX_J), i5);
}
static bool r_empty_rows(const Case *c, int b, int i, int j) { (void)c, (void)b; return j <= i - 5; }

/* scale from a runtime param, and a score hook using the raw qk: score = qk * 0.1 + score */
static void h_qk(AirKernel *k)
{
    k->hook[HOOK_SCALE] = tb_param(k, "temp", PARAM_F32, 1);
    int32_t qk = tb_node(k, OP_QK, TY_F32, 0, 0, 0, 0, 0, 0);
    int32_t s = tb_node(k, OP_SCORE, TY_F32, 0, 0, 0, 0, 0, 0);
    k->hook[HOOK_SCORE] = TB_2(k, OP_ADD, TY_F32, TB_2(k, OP_MUL, TY_F32, qk, TB_F(k, 0.1)), s);
}
static double r_qk_scale(const Case *c, int h) { (void)h; return c->param[0]; }
static double r_qk(const Case *c, int b, int h, int i, int j, double z)
{
    (void)b, (void)h, (void)i, (void)j;
    return z / c->param[0] * 0.1 + z;
}

/* documents: doc[b, i] == doc[b, j] && j <= i, doc an i32 side tensor [B, L] */
static void h_docs(AirKernel *k)
{
    int t = tb_side(k, "doc", DT_I32, 2, (AirDim[]){{SYM_IX_B, 0}, {SYM_IX_LK, 0}});
    int32_t di = tb_node(k, OP_LOAD, TY_I32, 2, TB_IDX(k, IX_B), TB_IDX(k, IX_I), 0, t, 0);
    int32_t dj = tb_node(k, OP_LOAD, TY_I32, 2, TB_IDX(k, IX_B), TB_IDX(k, IX_J), 0, t, 0);
    k->hook[HOOK_MASK] = TB_2(k, OP_AND, TY_BOOL, TB_2(k, OP_EQ, TY_BOOL, di, dj),
                              TB_2(k, OP_LE, TY_BOOL, TB_IDX(k, IX_J), TB_IDX(k, IX_I)));
}
static int doc_of(int b, int p) { return (p * 7 + b * 13) / 23; }
static bool r_docs(const Case *c, int b, int i, int j) { (void)c; return doc_of(b, i) == doc_of(b, j) && j <= i; }

/* mask = j < 0 (nothing visible): used with an all-FULL tile map, which must skip it */
static void h_never(AirKernel *k)
{
    k->hook[HOOK_MASK] = TB_2(k, OP_LT, TY_BOOL, TB_IDX(k, IX_J), TB_I(k, 0));
}

/* ---- one run --------------------------------------------------------------------------------- */

static void strides_for(const Case *c, int64_t H, int64_t L, int64_t D, int64_t *st)
{
    int64_t pad = c->layout == 2 ? 8 : 0;
    if (c->layout == 1) {   /* [B, L, H, D] memory */
        st[3] = 1, st[1] = D, st[2] = H * D, st[0] = L * H * D;
    } else {
        st[3] = 1, st[2] = D + pad, st[1] = L * (D + pad), st[0] = H * L * (D + pad);
    }
}

static bool run_case(const Case *c, const char *tname)
{
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "t", c->in, c->out, c->dk, c->dv, true);
    if (c->hooks) c->hooks(k);
    Loaded l = {0};
    if (!load_kernel(k, tname, &l)) {
        arena_free(&a);
        return false;
    }
    int64_t qsh[4] = {c->B, c->Hq, c->Lq, c->dk}, ksh[4] = {c->B, c->Hkv, c->Lk, c->dk},
            vsh[4] = {c->B, c->Hkv, c->Lk, c->dv}, osh[4] = {c->B, c->Hq, c->Lq, c->dv};
    int64_t qst[4], kst[4], vst[4], ost[4];
    strides_for(c, c->Hq, c->Lq, c->dk, qst);
    strides_for(c, c->Hkv, c->Lk, c->dk, kst);
    strides_for(c, c->Hkv, c->Lk, c->dv, vst);
    strides_for(c, c->Hq, c->Lq, c->dv, ost);
    Buf q = buf_new(c->in, qst[0] * c->B, true), kb = buf_new(c->in, kst[0] * c->B, true);
    Buf v = buf_new(c->in, vst[0] * c->B, true), o = buf_new(c->out, ost[0] * c->B, false);
    Buf lse = buf_new(DT_F32, (int64_t)c->B * c->Hq * c->Lq, false);
    for (int64_t x = 0; x < q.n; x++) buf_set(&q, x, 1.5 * urand());
    for (int64_t x = 0; x < kb.n; x++) buf_set(&kb, x, 1.5 * urand());
    for (int64_t x = 0; x < v.n; x++) buf_set(&v, x, urand());
    for (int64_t x = 0; x < o.n; x++) buf_set(&o, x, 1234.0);    /* must be overwritten */

    AbiArgs *args = calloc(1, sizeof *args);
    set_tensor(args, 0, q.data, 4, qsh, qst);
    set_tensor(args, 1, kb.data, 4, ksh, kst);
    set_tensor(args, 2, v.data, 4, vsh, vst);
    set_tensor(args, 3, o.data, 4, osh, ost);
    set_tensor(args, 4, lse.data, 3, (int64_t[]){c->B, c->Hq, c->Lq},
               (int64_t[]){(int64_t)c->Hq * c->Lq, c->Lq, 1});
    int64_t symv[SYM_IX_COUNT] = {c->B, c->Hq, c->Hkv, c->Lq, c->Lk};
    memcpy(args->sym, symv, sizeof symv);
    for (int p = 0; p < k->nparams; p++) {
        args->iparam[p] = (int32_t)c->param[p];
        args->fparam[p] = (float)c->param[p];
    }
    float sinks[64];
    int32_t *doc = calloc((size_t)c->B * c->Lk, 4);
    for (int t = 5; t < k->ntensors; t++) {
        if (!strcmp(k->tensors[t].name, "sinks")) {
            for (int h = 0; h < c->Hq; h++) sinks[h] = (float)r_sink(c, h);
            set_tensor(args, t, sinks, 1, (int64_t[]){c->Hq}, (int64_t[]){1});
        } else {
            for (int b = 0; b < c->B; b++)
                for (int p = 0; p < c->Lk; p++) doc[b * c->Lk + p] = doc_of(b, p);
            set_tensor(args, t, doc, 2, (int64_t[]){c->B, c->Lk}, (int64_t[]){c->Lk, 1});
        }
    }
    args->q_offset = c->Lq < c->Lk ? c->Lk - c->Lq : 0;
    int tm = l.plan.tile_m, tn = l.plan.tile_n;
    int64_t nqt = (c->Lq + tm - 1) / tm, nkt = (c->Lk + tn - 1) / tn;
    uint8_t *map = calloc((size_t)(nqt * nkt), 1);
    if (c->tilemap) {
        for (int64_t qt = 0; qt < nqt; qt++)
            for (int64_t kt = 0; kt < nkt; kt++) {
                int64_t i0 = qt * tm + args->q_offset, i1 = i0 + tm - 1;
                int64_t j0 = kt * tn, j1 = j0 + tn - 1;
                uint8_t cls = j0 > i1 ? TILE_EMPTY : j1 <= i0 ? TILE_FULL : TILE_PARTIAL;
                map[qt * nkt + kt] = c->tilemap == 1 ? cls : c->tilemap == 2 ? TILE_EMPTY : TILE_FULL;
            }
        args->tiles = map;
        args->tile_sq = nkt;
        args->tile_m = tm, args->tile_n = tn;
    }
    launch_all(&l, args, c->B, c->Hq, c->Lq);

    /* f64 reference */
    double err2 = 0, ref2 = 0, lerr2 = 0, lref2 = 0;
    bool ok = true;
    double *p = calloc((size_t)c->Lk, 8), *acc = calloc((size_t)c->dv, 8);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->Hq; h++) {
            int hk = h / (c->Hq / c->Hkv);
            double scale = c->scale ? c->scale(c, h) : 1.0 / sqrt((double)c->dk);
            for (int r = 0; r < c->Lq; r++) {
                int i = r + (int)args->q_offset;
                double m = -INFINITY;
                for (int j = 0; j < c->Lk; j++) {
                    double qk = 0;
                    for (int d = 0; d < c->dk; d++)
                        qk += q.ref[b * qst[0] + h * qst[1] + r * qst[2] + d] *
                              kb.ref[b * kst[0] + hk * kst[1] + j * kst[2] + d];
                    double z = scale * qk;
                    if (c->score) z = c->score(c, b, h, i, j, z);
                    bool vis = c->tilemap == 3 || !c->mask || c->mask(c, b, i, j);
                    if (c->tilemap == 2) vis = false;
                    p[j] = vis ? z : -INFINITY;
                    if (p[j] > m) m = p[j];
                }
                double sum = 0;
                memset(acc, 0, sizeof(double) * (size_t)c->dv);
                for (int j = 0; j < c->Lk; j++) {
                    if (p[j] == -INFINITY) continue;
                    double e = exp(p[j] - m);
                    sum += e;
                    for (int d = 0; d < c->dv; d++)
                        acc[d] += e * v.ref[b * vst[0] + hk * vst[1] + j * vst[2] + d];
                }
                double den = sum, lref = m + log(sum);
                if (c->sink && sum > 0) {
                    double s = c->sink(c, h);
                    den = sum + exp(s - m);
                    lref = m + log(den);
                }
                bool empty_lse = sum == 0 && !c->sink;   /* with a sink, lse = the sink */
                if (sum == 0 && c->sink) lref = c->sink(c, h);
                double lgot = ((float *)lse.data)[(b * c->Hq + h) * c->Lq + r];
                for (int d = 0; d < c->dv; d++) {
                    double want = sum > 0 ? acc[d] / den : 0.0;
                    double got = buf_get(&o, b * ost[0] + h * ost[1] + r * ost[2] + d);
                    if (sum == 0 && got != 0.0) ok = false;
                    err2 += (got - want) * (got - want);
                    ref2 += want * want;
                }
                if (empty_lse) {
                    if (!(isinf(lgot) && lgot < 0)) ok = false;
                } else {
                    lerr2 += (lgot - lref) * (lgot - lref);
                    lref2 += lref * lref;
                }
            }
        }
    double rel = ref2 > 0 ? sqrt(err2 / ref2) : sqrt(err2);
    double lrel = lref2 > 0 ? sqrt(lerr2 / lref2) : sqrt(lerr2);
    if (!(rel <= c->expect_rel) || !(lrel <= 1e-5)) ok = false;
    printf("%-4s %-28s %-10s o rel %.2e (tol %.0e)  lse rel %.2e\n", ok ? "ok" : "FAIL",
           c->name, tname, rel, c->expect_rel, lrel);
    free(p), free(acc), free(map), free(doc), free(args);
    buf_free(&q), buf_free(&kb), buf_free(&v), buf_free(&o), buf_free(&lse);
    rt_jit_dispose(l.jit);
    arena_free(&a);
    return ok;
}

/* ---- plan diagnostics ------------------------------------------------------------------------ */

static bool expect_plan_error(const char *what, AirKernel *k, const char *needle)
{
    Arena a;
    arena_init(&a);
    Source src = {"<test>", "0123456789012345678901234567890123456789", 40};
    Diags d;
    diags_init(&d, &a, &src);
    const Target *t = target_find("x86-64-v4");
    KernelPlan plan;
    bool planned = t->plan(t, k, &plan, &d);
    const char *text = diags_render(&d, false);
    bool ok = !planned && d.errors > 0 && strstr(text, needle) && d.items[0].has_loc;
    printf("%-4s plan rejects %s: %s", ok ? "ok" : "FAIL", what, text);
    arena_free(&a);
    return ok;
}

static bool test_unsupported(void)
{
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "rec", DT_F32, DT_F32, 64, 64, false);
    k->kind = KIND_RECURRENT;
    k->state_rows = k->state_cols = 64;
    k->tensors[k->tk].dims[2] = k->tensors[k->tv].dims[2] = k->tensors[k->tq].dims[2];   /* one T */
    /* S = sum(r < 65: float(r)) * S: a decay whose factor is a sum of more terms than the hook
     * emitter unrolls (HOOK_SUM_MAX_TERMS) */
    int32_t rv = tb_node(k, OP_RVAR, TY_I32, 0, 0, 0, 0, k->nnodes + 2, 0);
    int32_t body = TB_1(k, OP_TOF32, TY_F32, rv);
    int32_t sum = tb_node(k, OP_SUM, TY_F32, 1, body, 0, 0, 0, HOOK_SUM_MAX_TERMS + 1);
    int32_t st = tb_node(k, OP_STATE, TY_MAT, 0, 0, 0, 0, 0, 0);
    k->nodes[st].ty = (AirType){TY_MAT, 64, 64};
    int32_t upd = TB_2(k, OP_MUL, TY_MAT, sum, st);
    k->nodes[upd].ty = (AirType){TY_MAT, 64, 64};
    k->hook[HOOK_STATE] = upd;
    int32_t qrow = tb_node(k, OP_ROW, TY_VEC, 1, TB_IDX(k, IX_T), 0, 0, 0, 0);
    k->nodes[qrow].ref = k->tq;
    k->nodes[qrow].ty = (AirType){TY_VEC, 64, 0};
    k->hook[HOOK_OUT] = tb_node(k, OP_VECMAT, TY_VEC, 2, qrow, upd, 0, 0, 0);
    k->nodes[k->hook[HOOK_OUT]].ty = (AirType){TY_VEC, 64, 0};
    bool ok = expect_plan_error("a sum of 65 terms in a recurrence", k,
                                "sum(r < n: e) with n = 65 terms is not supported on target x86-64-v4 yet");
    AirKernel *k2 = tb_new(&a, "vec", DT_F32, DT_F32, 64, 64, false);
    int32_t row = tb_node(k2, OP_ROW, TY_VEC, 1, TB_IDX(k2, IX_I), 0, 0, 0, 0);
    int32_t dot = tb_node(k2, OP_DOT, TY_F32, 2, row, row, 0, 0, 0);
    k2->hook[HOOK_MASK] = TB_2(k2, OP_GT, TY_BOOL, dot, TB_F(k2, 0.0));
    ok = expect_plan_error("a vector hook", k2, "is not supported on target x86-64-v4 yet") && ok;
    arena_free(&a);
    return ok;
}

/* The emitted assembly uses the target's registers and FMAs. */
static bool test_asm(const char *tname, const char *reg)
{
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "asm", DT_F32, DT_F32, 128, 128, true);
    h_causal(k);
    Source src = {"<test>", "", 0};
    Diags d;
    diags_init(&d, &a, &src);
    const Target *t = target_find(tname);
    KernelPlan plan;
    Blob out = {0}, ir = {0};
    bool ok = t->plan(t, k, &plan, &d) && t->emit(t, k, &plan, EMIT_ASM, NULL, &a, &out, &d) &&
              t->emit(t, k, &plan, EMIT_LLVM, NULL, &a, &ir, &d);
    ok = ok && strstr((char *)out.data, "vfmadd") && strstr((char *)out.data, reg) &&
         strstr((char *)ir.data, "define void @attn_asm(");
    printf("%-4s %s assembly has vfmadd on %s\n", ok ? "ok" : "FAIL", tname, reg);
    arena_free(&a);
    return ok;
}

int main(void)
{
    const double F = 1e-5;
    Case cases[] = {
        {"f32 d64 gqa odd lengths", DT_F32, DT_F32, 64, 64, 2, 4, 2, 100, 100, 0, 0, {0}, NULL, NULL, NULL, NULL, NULL, F},
        {"f32 d96 causal Lq<Lk", DT_F32, DT_F32, 96, 96, 1, 2, 1, 37, 131, 0, 0, {0}, h_causal, NULL, NULL, r_causal, NULL, F},
        {"f32 d128 causal tilemap", DT_F32, DT_F32, 128, 128, 2, 2, 2, 150, 150, 0, 1, {0}, h_causal, NULL, NULL, r_causal, NULL, F},
        {"f32 window param", DT_F32, DT_F32, 64, 64, 1, 3, 3, 90, 90, 0, 0, {17}, h_window, NULL, NULL, r_window, NULL, F},
        {"f32 softcap BLHD", DT_F32, DT_F32, 64, 64, 2, 2, 1, 70, 70, 1, 0, {5.0}, h_softcap, NULL, r_softcap, r_causal, NULL, F},
        {"f32 alibi padded rows", DT_F32, DT_F32, 80, 80, 1, 4, 4, 66, 66, 2, 0, {0}, h_alibi, NULL, r_alibi, r_causal, NULL, F},
        {"f32 sink window", DT_F32, DT_F32, 64, 64, 1, 4, 2, 50, 50, 0, 0, {3}, h_sink, NULL, NULL, r_window, r_sink, F},
        {"f32 sink, empty rows", DT_F32, DT_F32, 64, 64, 1, 4, 2, 50, 50, 0, 0, {0}, h_sink, NULL, NULL, r_window, r_sink, F},
        {"f32 empty rows", DT_F32, DT_F32, 64, 64, 1, 1, 1, 40, 40, 0, 0, {0}, h_empty_rows, NULL, NULL, r_empty_rows, NULL, F},
        {"f32 scale param qk hook", DT_F32, DT_F32, 48, 48, 1, 2, 2, 33, 77, 0, 0, {0.07}, h_qk, r_qk_scale, r_qk, NULL, NULL, F},
        {"f32 documents (gather)", DT_F32, DT_F32, 64, 64, 2, 2, 2, 95, 95, 0, 0, {0}, h_docs, NULL, NULL, r_docs, NULL, F},
        {"bf16 in, f32 out, 192/128", DT_BF16, DT_F32, 192, 128, 1, 2, 1, 45, 70, 0, 0, {0}, h_causal, NULL, NULL, r_causal, NULL, F},
        {"bf16 in and out, d128", DT_BF16, DT_BF16, 128, 128, 2, 2, 2, 65, 129, 1, 0, {0}, NULL, NULL, NULL, NULL, NULL, 4e-3},
        {"f16 in, f32 out, d256", DT_F16, DT_F32, 256, 256, 1, 1, 1, 20, 300, 0, 0, {0}, NULL, NULL, NULL, NULL, NULL, F},
        {"f32 decode Lq 1, GQA 8/2", DT_F32, DT_F32, 128, 128, 2, 8, 2, 1, 333, 0, 0, {0}, h_causal, NULL, NULL, r_causal, NULL, F},
        {"decode softcap d72, Lq 3", DT_F32, DT_F32, 72, 72, 2, 2, 1, 3, 150, 0, 0, {5.0}, h_softcap, NULL, r_softcap, r_causal, NULL, F},
        {"decode bf16 36/40 sink Lq 2", DT_BF16, DT_F32, 36, 40, 1, 4, 2, 2, 99, 1, 0, {40}, h_sink, NULL, NULL, r_window, r_sink, F},
        {"decode documents Lq 4", DT_F32, DT_F32, 64, 64, 2, 2, 2, 4, 95, 2, 0, {0}, h_docs, NULL, NULL, r_docs, NULL, F},
        {"f32 d16 tiny", DT_F32, DT_F32, 16, 16, 3, 1, 1, 5, 3, 0, 0, {0}, NULL, NULL, NULL, NULL, NULL, F},
        {"tilemap all EMPTY", DT_F32, DT_F32, 64, 64, 1, 1, 1, 70, 128, 0, 2, {0}, NULL, NULL, NULL, NULL, NULL, F},
        {"tilemap FULL skips mask", DT_F32, DT_F32, 64, 64, 1, 1, 1, 70, 128, 0, 3, {0}, h_never, NULL, NULL, NULL, NULL, F},
    };
    int fails = 0;
    const char *targets[3];
    int nt = test_cpu_targets(targets);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int t = 0; t < nt; t++) fails += !run_case(&cases[i], targets[t]);
    fails += !test_unsupported();
    fails += !test_asm("x86-64-v4", "zmm");
    fails += !test_asm("x86-64-v3", "ymm");
    printf("%d failure(s)\n", fails);
    return fails != 0;
}
