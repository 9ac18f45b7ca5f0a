/* skel_decode.c: the split-KV ("flash-decoding") entries of the GPU targets, added to the
 * module next to the FlashAttention-2 entry and used by the runtime when the query heads of a
 * kv head have few rows between them (Lq * (Hq / Hkv) <= the decode entry's rows; ABI in kernel_abi.h).
 *
 * Decode is memory-bound: every K and V element must be read from memory once, and each one
 * feeds all G = Hq / Hkv query heads of its group. So a warp takes one split of the keys of one
 * (b, kv head) and 4 rows of the group (r = g * Lq + i), and computes on CUDA cores in f32:
 *   - scores: lane l owns key kb + l of a 32-key step and loads its K row in 16-byte chunks;
 *     the 4 query rows sit in shared memory as f32 (broadcast reads). Hooks (score, mask) are
 *     emitted per element through cg_hook_emit with i = row + q_offset.
 *   - online softmax per row in log2 units: warp max by butterfly shuffles, ex2.approx, the
 *     running sum kept per lane (all lanes share m, so they rescale alike) and summed once.
 *   - O += P V: lanes switch to owning 8 columns of V (16 bytes) each, in 32 / CL key groups
 *     when Dv / 8 < 32 lanes; p comes from the key's lane by shuffle. The key groups' partial O
 *     are summed by shuffles after the loop.
 * Each warp writes its unnormalised (O, m, l) to the workspace; the combine entry merges the
 * splits (one CTA per row), folds the sink in and writes o in its dtype and lse. Warps of a CTA
 * share nothing but the CTA: no barrier, only a warp sync after Q is staged. */
#include "gen.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

enum { DEC_WARPS = 4, DEC_RC = 4, DEC_ROWS = 64, DEC_COMBINE_THREADS = 128 };

bool cg_ptx_decode_plan(const PtxConfig *c, KernelPlan *plan, Arena *a)
{
    const char *split = arena_printf(a, "%s_decode", c->entry);
    const char *comb = arena_printf(a, "%s_decode_combine", c->entry);
    if (plan->nwork < PLAN_MAX_WORK) plan->work[plan->nwork++] = (PlanWork){WORK_SPLIT_PARTS, ROLE_DECODE};
    return plan_add_entry(plan, (PlanEntry){split, ROLE_DECODE, 32 * DEC_WARPS,
                                            DEC_WARPS * DEC_RC * c->dk * 4, DEC_ROWS, 0}) &&
           plan_add_entry(plan, (PlanEntry){comb, ROLE_DECODE_COMBINE, DEC_COMBINE_THREADS, 0, 0, 0});
}

static LLVMValueRef shfl(Gen *g, bool bfly, LLVMValueRef v, LLVMValueRef x)
{
    LLVMTypeRef ts[4] = {g->cg.t_i32, g->cg.t_f32, g->cg.t_i32, g->cg.t_i32};
    LLVMValueRef a[4] = {gen_i32(g, -1), v, x, gen_i32(g, 31)};
    return gen_call(g, bfly ? "llvm.nvvm.shfl.sync.bfly.f32" : "llvm.nvvm.shfl.sync.idx.f32",
                    g->cg.t_f32, ts, 4, a);
}

static LLVMValueRef warp_reduce(Gen *g, LLVMValueRef v, bool is_max)
{
    for (int s = 16; s >= 1; s >>= 1) {
        LLVMValueRef o = shfl(g, true, v, gen_i32(g, s));
        v = is_max ? gen_fmax(g, v, o) : LLVMBuildFAdd(g->cg.b, v, o, "");
    }
    return v;
}

static void store_f32(Gen *g, LLVMValueRef a, LLVMValueRef v)
{
    LLVMValueRef s = LLVMBuildStore(g->cg.b, v, LLVMBuildIntToPtr(g->cg.b, a, g->p1, ""));
    LLVMSetAlignment(s, 4);
}

static LLVMValueRef load_f32(Gen *g, LLVMValueRef a)
{
    LLVMValueRef v = LLVMBuildLoad2(g->cg.b, g->cg.t_f32, LLVMBuildIntToPtr(g->cg.b, a, g->p1, ""), "");
    LLVMSetAlignment(v, 4);
    return v;
}

/* Opens `if (cond)`; returns the block to continue in (pass it to if_end). */
static LLVMBasicBlockRef if_begin(Gen *g, LLVMValueRef cond)
{
    LLVMBasicBlockRef then = gen_block(g, "if"), next = gen_block(g, "endif");
    LLVMBuildCondBr(g->cg.b, cond, then, next);
    LLVMPositionBuilderAtEnd(g->cg.b, then);
    return next;
}

static void if_end(Gen *g, LLVMBasicBlockRef next)
{
    LLVMBuildBr(g->cg.b, next);
    LLVMPositionBuilderAtEnd(g->cg.b, next);
}

/* What both entries compute from the grid and the shapes. */
typedef struct DecShape {
    LLVMValueRef b, hk, lq, lk, hkv, grp, rows, nsplit, qoff, part;
} DecShape;

static void dec_shape(Gen *g, DecShape *s)
{
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    s->hk = gen_sreg(g, "ctaid.y");
    s->b = gen_sreg(g, "ctaid.z");
    s->lq = cg_ptx_shape32(g, c->tq, 2);
    s->lk = cg_ptx_shape32(g, c->tk, 2);
    s->hkv = cg_ptx_shape32(g, c->tk, 1);
    s->grp = LLVMBuildUDiv(B, cg_ptx_shape32(g, c->tq, 1), s->hkv, "");
    s->rows = LLVMBuildMul(B, s->grp, s->lq, "");
    s->nsplit = gen_arg(g, offsetof(AbiArgs, splits), g->cg.t_i32);
    s->qoff = LLVMBuildTrunc(B, gen_arg(g, offsetof(AbiArgs, q_offset), g->cg.t_i64), g->cg.t_i32, "");
    s->part = gen_arg(g, offsetof(AbiArgs, work), g->cg.t_i64);
}

/* Byte address of the workspace row (r, split) of (b, hk). */
static LLVMValueRef part_row(Gen *g, const DecShape *s, LLVMValueRef r, LLVMValueRef split)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef x = gen_add(g, LLVMBuildMul(B, s->b, s->hkv, ""), s->hk);
    x = gen_add(g, LLVMBuildMul(B, gen_i64of(g, x), gen_i64of(g, s->rows), ""), gen_i64of(g, r));
    x = gen_add(g, LLVMBuildMul(B, x, gen_i64of(g, s->nsplit), ""), gen_i64of(g, split));
    return gen_add(g, s->part, LLVMBuildMul(B, x, gen_i64(g, (g->c->dv + 2) * 4), ""));
}

static int hook(const Gen *g, int h) { return g->c->air ? g->c->air->hook[h] : -1; }

/* The decode entry's state between its phases. */
typedef struct Dec {
    Gen *g;
    const char *name;
    CgSoftmax sm;
    DecShape s;
    int32_t hscale, hscore, hmask;
    LLVMValueRef lane, warp, rc, split, slen;   /* this warp's lane, rows chunk, split, keys */
    LLVMValueRef qsm;                           /* its Q rows in shared memory */
    LLVMValueRef hrow[DEC_RC], irow[DEC_RC], scale[DEC_RC];
    LLVMValueRef zero, ninf, log2e;
    int nch, CL;                                /* 8-column chunks of Dv, lanes per key */
    LLVMValueRef kg, cl;                        /* the lane's key group and column chunk */
    CgLoop lp;                                  /* the key loop; m, l, O are its carried values */
    LLVMValueRef *m, *l, *o;
} Dec;

/* The entry, the hooks' environment, the shapes, and this warp's (split, rows); warps past the
 * last split return at once. */
static bool dec_prologue(Dec *dc)
{
    Gen *g = dc->g;
    LLVMBuilderRef B = g->cg.b;
    dc->sm = cg_ptx_softmax(g);
    cg_ptx_declare(g, dc->name, 32 * DEC_WARPS, 1, sizeof(AbiArgs));
    if (!cg_ptx_env_open(g)) return false;
    dc->hscale = hook(g, HOOK_SCALE), dc->hscore = hook(g, HOOK_SCORE), dc->hmask = hook(g, HOOK_MASK);
    dec_shape(g, &dc->s);
    LLVMValueRef tid = gen_sreg(g, "tid.x");
    dc->lane = LLVMBuildAnd(B, tid, gen_i32(g, 31), "lane");
    dc->warp = LLVMBuildLShr(B, tid, gen_i32(g, 5), "warp");
    LLVMValueRef nrc = LLVMBuildUDiv(B, gen_add(g, dc->s.rows, gen_i32(g, DEC_RC - 1)), gen_i32(g, DEC_RC), "");
    LLVMValueRef bx = gen_sreg(g, "ctaid.x");
    dc->rc = LLVMBuildURem(B, bx, nrc, "");
    dc->split = gen_add(g, LLVMBuildMul(B, LLVMBuildUDiv(B, bx, nrc, ""), gen_i32(g, DEC_WARPS), ""), dc->warp);
    dc->slen = gen_arg(g, offsetof(AbiArgs, split_keys), g->cg.t_i32);
    LLVMBasicBlockRef work = gen_block(g, "work"), out = gen_block(g, "out");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, dc->split, dc->s.nsplit, ""), work, out);
    LLVMPositionBuilderAtEnd(B, out);
    LLVMBuildRetVoid(B);
    LLVMPositionBuilderAtEnd(B, work);
    return true;
}

/* Q rows to shared memory as f32; their h, i and scale for the hooks. */
static bool dec_stage_q(Dec *dc)
{
    Gen *g = dc->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    /* Q rows to shared memory as f32 (zeros for rows past R); their h and i for the hooks. */
    int dk = c->dk;
    dc->qsm = LLVMBuildMul(B, dc->warp, gen_i32(g, DEC_RC * dk * 4), "");
    dc->zero = gen_f32(g, 0.0f), dc->ninf = gen_f32(g, -INFINITY), dc->log2e = gen_f32(g, 1.4426950408889634f);
    LLVMValueRef hk0 = LLVMBuildMul(B, dc->s.hk, dc->s.grp, "");
    for (int rr = 0; rr < DEC_RC; rr++) {
        LLVMValueRef r = gen_add(g, LLVMBuildMul(B, dc->rc, gen_i32(g, DEC_RC), ""), gen_i32(g, rr));
        LLVMValueRef valid = LLVMBuildICmp(B, LLVMIntSLT, r, dc->s.rows, "");
        LLVMValueRef rq = LLVMBuildSelect(B, valid, r, gen_i32(g, 0), "");
        LLVMValueRef gi = LLVMBuildUDiv(B, rq, dc->s.lq, "");
        LLVMValueRef qi = LLVMBuildSub(B, rq, LLVMBuildMul(B, gi, dc->s.lq, ""), "");
        dc->hrow[rr] = gen_add(g, hk0, gi);
        dc->irow[rr] = gen_add(g, qi, dc->s.qoff);
        LLVMValueRef qs2, qb = cg_ptx_head_base(g, c->tq, dc->s.b, dc->hrow[rr], &qs2, 2);
        qb = gen_add(g, qb, LLVMBuildMul(B, gen_i64of(g, qi), qs2, ""));
        for (int e0 = 0; e0 < dk; e0 += 32) {
            LLVMValueRef e = gen_min(g, gen_add(g, dc->lane, gen_i32(g, e0)), gen_i32(g, dk - 1));
            LLVMValueRef a = gen_add(g, qb, LLVMBuildMul(B, gen_i64of(g, e), gen_i64(g, 2), ""));
            LLVMValueRef v = cg_load_f32(&g->cg, LLVMBuildIntToPtr(B, a, g->p1, ""), c->dtype);
            v = LLVMBuildSelect(B, valid, v, dc->zero, "");
            LLVMValueRef so = gen_add(g, dc->qsm, LLVMBuildMul(B, gen_add(g, e, gen_i32(g, rr * dk)), gen_i32(g, 4), ""));
            LLVMBuildStore(B, v, gen_smem(g, so));
        }
        dc->scale[rr] = gen_f32(g, c->scale);
        if (dc->hscale >= 0 && c->air->nodes[dc->hscale].op != OP_CONST) {
            g->env.idx[IX_B] = dc->s.b, g->env.idx[IX_H] = dc->hrow[rr], g->env.idx[IX_I] = dc->irow[rr];
            g->env.idx[IX_J] = NULL;
            g->env.score = g->env.qk = NULL;
            if (!(dc->scale[rr] = cg_hook_emit(&g->env, dc->hscale))) return false;
        }
    }
    LLVMValueRef all = gen_i32(g, -1);
    gen_call(g, "llvm.nvvm.bar.warp.sync", g->cg.t_void, &g->cg.t_i32, 1, &all);
    return true;
}

/* The split's keys, 32 a step: scores (a lane a key), the online softmax per row, O += P V
 * (lanes over columns of V). */
static bool dec_keys(Dec *dc)
{
    Gen *g = dc->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int dk = c->dk, dv = c->dv;
    /* Keys [j0, j1) of this split; a causal bound ends them at the last row's diagonal. */
    LLVMValueRef kend = dc->s.lk;
    if (c->mask == PTX_MASK_CAUSAL || c->causal_bound) kend = gen_min(g, kend, gen_add(g, dc->s.qoff, dc->s.lq));
    LLVMValueRef j0 = LLVMBuildMul(B, dc->split, dc->slen, "");
    LLVMValueRef j1 = gen_min(g, gen_add(g, j0, dc->slen), kend);
    LLVMValueRef ks2, kbase = cg_ptx_head_base(g, c->tk, dc->s.b, dc->s.hk, &ks2, 2);
    LLVMValueRef vs2, vbase = cg_ptx_head_base(g, c->tv, dc->s.b, dc->s.hk, &vs2, 2);
    dc->nch = dv / 8, dc->CL = 1;
    while (dc->CL < dc->nch) dc->CL <<= 1;
    int KL = 32 / dc->CL;
    dc->kg = LLVMBuildUDiv(B, dc->lane, gen_i32(g, dc->CL), "");
    dc->cl = LLVMBuildAnd(B, dc->lane, gen_i32(g, dc->CL - 1), "");
    LLVMValueRef vcol = LLVMBuildMul(B, gen_min(g, dc->cl, gen_i32(g, dc->nch - 1)), gen_i32(g, 16), "");

    enum { NC = 2 * DEC_RC + 8 * DEC_RC };
    LLVMValueRef init[NC];
    for (int i = 0; i < NC; i++) init[i] = i < DEC_RC ? dc->ninf : dc->zero;
    cg_loop_begin(&g->cg, &dc->lp, gen_i64of(g, j0), gen_i64of(g, j1), gen_i64(g, 32), NC, init, "keys");
    dc->m = dc->lp.carried, dc->l = dc->lp.carried + DEC_RC, dc->o = dc->lp.carried + 2 * DEC_RC;
    LLVMValueRef nx[NC];
    LLVMValueRef kb = LLVMBuildTrunc(B, dc->lp.iv, g->cg.t_i32, "");
    LLVMValueRef j = gen_add(g, kb, dc->lane);
    LLVMValueRef vj = LLVMBuildICmp(B, LLVMIntSLT, j, j1, "");
    LLVMValueRef jlast = LLVMBuildSub(B, j1, gen_i32(g, 1), "");
    LLVMValueRef krow = gen_add(g, kbase, LLVMBuildMul(B, gen_i64of(g, gen_min(g, j, jlast)), ks2, ""));
    LLVMValueRef acc[DEC_RC];
    for (int rr = 0; rr < DEC_RC; rr++) acc[rr] = dc->zero;
    LLVMTypeRef v4f = LLVMVectorType(g->cg.t_f32, 4);
    for (int ch = 0; ch < dk / 8; ch++) {
        LLVMValueRef kf[8];
        cg_ptx_load8(g, gen_add(g, krow, gen_i64(g, ch * 16)), kf);
        for (int rr = 0; rr < DEC_RC; rr++)
            for (int h = 0; h < 2; h++) {
                LLVMValueRef so = gen_add(g, dc->qsm, gen_i32(g, ((rr * dk) + ch * 8 + h * 4) * 4));
                LLVMValueRef q = LLVMBuildLoad2(B, v4f, gen_smem(g, so), "");
                LLVMSetAlignment(q, 16);
                LLVMSetVolatile(q, 1);   /* re-read per step: hoisted out of the loop, Q would
                                            take DEC_RC * Dk registers and spill */
                for (int e = 0; e < 4; e++)
                    acc[rr] = gen_fma(g, LLVMBuildExtractElement(B, q, gen_i32(g, e), ""), kf[h * 4 + e], acc[rr]);
            }
    }
    LLVMValueRef p[DEC_RC];
    for (int rr = 0; rr < DEC_RC; rr++) {
        LLVMValueRef z = LLVMBuildFMul(B, acc[rr], dc->scale[rr], "");
        g->env.idx[IX_B] = dc->s.b, g->env.idx[IX_H] = dc->hrow[rr], g->env.idx[IX_I] = dc->irow[rr];
        g->env.idx[IX_J] = j;
        if (dc->hscore >= 0) {
            g->env.qk = acc[rr];
            g->env.score = z;
            if (!(z = cg_hook_emit(&g->env, dc->hscore))) return false;
        }
        LLVMValueRef vis = vj;
        if (c->mask == PTX_MASK_CAUSAL)
            vis = LLVMBuildAnd(B, vis, LLVMBuildICmp(B, LLVMIntSLE, j, dc->irow[rr], ""), "");
        if (c->mask == PTX_MASK_HOOK) {
            g->env.score = g->env.qk = NULL;
            LLVMValueRef mv = cg_hook_emit(&g->env, dc->hmask);
            if (!mv) return false;
            vis = LLVMBuildAnd(B, vis, mv, "");
        }
        LLVMValueRef sv = LLVMBuildSelect(B, vis, LLVMBuildFMul(B, z, dc->log2e, ""), dc->ninf, "");
        LLVMValueRef mn;
        LLVMValueRef mb = cg_softmax_base(&dc->sm, dc->m[rr], warp_reduce(g, sv, true), &mn);
        LLVMValueRef alpha = cg_ptx_ex2(g, LLVMBuildFSub(B, dc->m[rr], mb, ""));
        p[rr] = cg_ptx_ex2(g, LLVMBuildFSub(B, sv, mb, ""));
        nx[rr] = mn;
        nx[DEC_RC + rr] = gen_fma(g, dc->l[rr], alpha, p[rr]);
        for (int e = 0; e < 8; e++) nx[2 * DEC_RC + rr * 8 + e] = LLVMBuildFMul(B, dc->o[rr * 8 + e], alpha, "");
    }
    for (int t = 0; t < dc->CL; t++) {   /* key t * KL + kg of the step, 8 columns a lane */
        LLVMValueRef jj = gen_add(g, dc->kg, gen_i32(g, t * KL));
        LLVMValueRef jv = gen_min(g, gen_add(g, kb, jj), jlast);
        LLVMValueRef vf[8];
        cg_ptx_load8(g, gen_add(g, gen_add(g, vbase, LLVMBuildMul(B, gen_i64of(g, jv), vs2, "")), gen_i64of(g, vcol)), vf);
        for (int rr = 0; rr < DEC_RC; rr++) {
            LLVMValueRef pj = shfl(g, false, p[rr], jj);
            /* a masked key (p = 0) takes no part, whatever its v holds (0 x NaN is NaN) */
            LLVMValueRef p0 = LLVMBuildFCmp(B, LLVMRealOEQ, pj, dc->zero, "");
            for (int e = 0; e < 8; e++) {
                LLVMValueRef *x = &nx[2 * DEC_RC + rr * 8 + e];
                *x = LLVMBuildSelect(B, p0, *x, gen_fma(g, pj, vf[e], *x), "");
            }
        }
    }
    cg_loop_end(&g->cg, &dc->lp, nx);
    return true;
}

/* Sum l over the lanes and O over the key groups; write (O, m, l) of each valid row. */
static bool dec_store(Dec *dc)
{
    Gen *g = dc->g;
    int dv = g->c->dv;
    LLVMBuilderRef B = g->cg.b;
    for (int rr = 0; rr < DEC_RC; rr++) {
        LLVMValueRef lt = warp_reduce(g, dc->l[rr], false);
        for (int e = 0; e < 8; e++)
            for (int sh = dc->CL; sh < 32; sh <<= 1)
                dc->o[rr * 8 + e] = LLVMBuildFAdd(B, dc->o[rr * 8 + e], shfl(g, true, dc->o[rr * 8 + e], gen_i32(g, sh)), "");
        LLVMValueRef r = gen_add(g, LLVMBuildMul(B, dc->rc, gen_i32(g, DEC_RC), ""), gen_i32(g, rr));
        LLVMBasicBlockRef done = if_begin(g, LLVMBuildICmp(B, LLVMIntSLT, r, dc->s.rows, ""));
        LLVMValueRef row = part_row(g, &dc->s, r, dc->split);
        LLVMValueRef own = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntEQ, dc->kg, gen_i32(g, 0), ""),
                                        LLVMBuildICmp(B, LLVMIntULT, dc->cl, gen_i32(g, dc->nch), ""), "");
        LLVMBasicBlockRef d2 = if_begin(g, own);
        LLVMValueRef ob = gen_add(g, row, gen_i64of(g, LLVMBuildMul(B, dc->cl, gen_i32(g, 32), "")));
        for (int e = 0; e < 8; e++) store_f32(g, gen_add(g, ob, gen_i64(g, e * 4)), dc->o[rr * 8 + e]);
        if_end(g, d2);
        LLVMBasicBlockRef d3 = if_begin(g, LLVMBuildICmp(B, LLVMIntEQ, dc->lane, gen_i32(g, 0), ""));
        store_f32(g, gen_add(g, row, gen_i64(g, dv * 4)), dc->m[rr]);
        store_f32(g, gen_add(g, row, gen_i64(g, dv * 4 + 4)), lt);
        if_end(g, d3);
        if_end(g, done);
    }
    LLVMBuildRetVoid(B);
    return true;
    return true;
}

/* The decode entry: one warp per (split, 4 rows). */
static bool build_split(Gen *g, const char *name)
{
    Dec *dc = calloc(1, sizeof *dc);
    if (!dc) return false;
    dc->g = g;
    dc->name = name;
    bool ok = dec_prologue(dc) && dec_stage_q(dc) && dec_keys(dc) && dec_store(dc);
    free(dc);
    return ok;
}

/* The combine entry: one CTA per (row, kv head, b); threads over the columns of o. */
static bool build_combine(Gen *g, const char *name)
{
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    cg_ptx_declare(g, name, DEC_COMBINE_THREADS, 1, sizeof(AbiArgs));
    if (!cg_ptx_env_open(g)) return false;
    int32_t hsink = hook(g, HOOK_SINK);
    DecShape s;
    dec_shape(g, &s);
    LLVMValueRef tid = gen_sreg(g, "tid.x"), r = gen_sreg(g, "ctaid.x");
    LLVMValueRef gi = LLVMBuildUDiv(B, r, s.lq, "");
    LLVMValueRef qi = LLVMBuildSub(B, r, LLVMBuildMul(B, gi, s.lq, ""), "");
    LLVMValueRef h = gen_add(g, LLVMBuildMul(B, s.hk, s.grp, ""), gi);
    LLVMValueRef row0 = part_row(g, &s, r, gen_i32(g, 0));
    LLVMValueRef zero = gen_f32(g, 0.0f), ninf = gen_f32(g, -INFINITY);
    enum { ND = (256 + DEC_COMBINE_THREADS - 1) / DEC_COMBINE_THREADS };
    int nd = (c->dv + DEC_COMBINE_THREADS - 1) / DEC_COMBINE_THREADS, dv = c->dv;
    LLVMValueRef col[ND];
    for (int k = 0; k < nd; k++)
        col[k] = gen_min(g, gen_add(g, tid, gen_i32(g, k * DEC_COMBINE_THREADS)), gen_i32(g, dv - 1));
    LLVMValueRef init[2 + ND] = {ninf, zero};
    for (int k = 0; k < nd; k++) init[2 + k] = zero;
    CgLoop lp;   /* online merge of the splits: M, L, O[columns] */
    cg_loop_begin(&g->cg, &lp, gen_i64(g, 0), gen_i64of(g, s.nsplit), gen_i64(g, 1), 2 + nd, init, "splits");
    LLVMValueRef row = gen_add(g, row0, LLVMBuildMul(B, lp.iv, gen_i64(g, (dv + 2) * 4), ""));
    LLVMValueRef ms = load_f32(g, gen_add(g, row, gen_i64(g, dv * 4)));
    LLVMValueRef ls = load_f32(g, gen_add(g, row, gen_i64(g, dv * 4 + 4)));
    CgSoftmax sm = cg_ptx_softmax(g);
    LLVMValueRef mn;
    LLVMValueRef mb = cg_softmax_base(&sm, lp.carried[0], ms, &mn);
    LLVMValueRef a = cg_ptx_ex2(g, LLVMBuildFSub(B, lp.carried[0], mb, ""));
    LLVMValueRef w = cg_ptx_ex2(g, LLVMBuildFSub(B, ms, mb, ""));
    LLVMValueRef nx[2 + ND];
    nx[0] = mn;
    nx[1] = gen_fma(g, lp.carried[1], a, LLVMBuildFMul(B, w, ls, ""));
    for (int k = 0; k < nd; k++) {
        LLVMValueRef os = load_f32(g, gen_add(g, row, gen_i64of(g, LLVMBuildMul(B, col[k], gen_i32(g, 4), ""))));
        nx[2 + k] = gen_fma(g, lp.carried[2 + k], a, LLVMBuildFMul(B, w, os, ""));
    }
    cg_loop_end(&g->cg, &lp, nx);
    LLVMValueRef M = lp.carried[0], L = lp.carried[1], f = gen_f32(g, 1.0f);
    if (hsink >= 0) {   /* the sink joins the denominator with a zero value */
        g->env.idx[IX_B] = s.b, g->env.idx[IX_H] = h, g->env.idx[IX_I] = gen_add(g, qi, s.qoff);
        g->env.idx[IX_J] = NULL;
        g->env.score = g->env.qk = NULL;
        LLVMValueRef sk = cg_hook_emit(&g->env, hsink);
        if (!sk) return false;
        sk = LLVMBuildFMul(B, sk, gen_f32(g, 1.4426950408889634f), "");
        LLVMValueRef mx;
        f = cg_softmax_fold(&sm, M, L, sk, &mx, &L, NULL);
        M = mx;
    }
    LLVMValueRef inv, lse2, has = cg_softmax_final(&sm, M, L, f, &inv, &lse2);
    inv = LLVMBuildSelect(B, has, inv, zero, "");
    LLVMValueRef os2, ob = cg_ptx_head_base(g, c->to, s.b, h, &os2, 2);
    ob = gen_add(g, ob, LLVMBuildMul(B, gen_i64of(g, qi), os2, ""));
    for (int k = 0; k < nd; k++) {
        LLVMValueRef d = gen_add(g, tid, gen_i32(g, k * DEC_COMBINE_THREADS));
        LLVMBasicBlockRef nx2 = if_begin(g, LLVMBuildICmp(B, LLVMIntSLT, d, gen_i32(g, dv), ""));
        LLVMValueRef a2 = gen_add(g, ob, gen_i64of(g, LLVMBuildMul(B, d, gen_i32(g, 2), "")));
        cg_store_from_f32(&g->cg, LLVMBuildFMul(B, lp.carried[2 + k], inv, ""),
                          LLVMBuildIntToPtr(B, a2, g->p1, ""), c->dtype);
        if_end(g, nx2);
    }
    if (c->tlse >= 0) {
        LLVMBasicBlockRef nx3 = if_begin(g, LLVMBuildICmp(B, LLVMIntEQ, tid, gen_i32(g, 0), ""));
        LLVMValueRef ls2, lb = cg_ptx_head_base(g, c->tlse, s.b, h, &ls2, 4);
        lb = gen_add(g, lb, LLVMBuildMul(B, gen_i64of(g, qi), ls2, ""));
        LLVMValueRef lse = LLVMBuildSelect(B, has, LLVMBuildFMul(B, lse2, gen_f32(g, 0.6931471805599453f), ""), ninf, "");
        store_f32(g, lb, lse);
        if_end(g, nx3);
    }
    LLVMBuildRetVoid(B);
    return true;
}

bool cg_ptx_build_decode(Gen *g)
{
    const char *split = arena_printf(g->cg.a, "%s_decode", g->c->entry);
    const char *comb = arena_printf(g->cg.a, "%s_decode_combine", g->c->entry);
    if (!split || !comb) return false;
    return build_split(g, split) && build_combine(g, comb);
}
