/* skel_fa.c: the FlashAttention-2 forward skeleton for NVIDIA GPUs (sm_80, sm_90a) as LLVM
 * IR, built through the LLVM C API from a PtxConfig: the key loop, the mask, the online softmax
 * and the epilogue (frag.c has the data movement and fragments, wgmma.c the
 * Hopper MMA, hookvals.c the values the hooks are given).
 *
 * One CTA owns tile_m query rows of one (batch, head); each warp owns mtiles 16-row MMA tiles.
 * Q and a ring of `stages` K/V tiles live in shared memory, filled by cp.async (zero-filled past
 * Lk / Lq / the head dim), one commit group per tile, one barrier per key tile: at the top of
 * iteration kb the wait makes tile kb ready and the barrier frees the stage that tile
 * kb + stages - 1 is then loaded into. S = Q K^T and O += P V run either on mma.sync m16n8k16
 * with ldmatrix operands (sm_80 and up) or on wgmma, one warpgroup per 64 rows (sm_90a): Q and
 * K from swizzled shared memory, P from registers, V as the transposed B operand. The online
 * softmax runs in f32 in log2 space (scale * log2 e folded into one FMA before ex2.approx); the
 * running sum stays per thread and is reduced across the quad only at the end. The accumulator
 * layout of both MMAs is also the A-operand layout of P for the PV product (no shuffles).
 *
 * Mask work: causal bounds the key loop at the CTA's last row; the mask is evaluated only on
 * tiles that cross Lk or the diagonal (or are PARTIAL in AbiArgs.tiles); EMPTY tiles are skipped.
 * A row that has seen no visible key keeps m = -inf and uses 0 as its exp2 base, so it ends with
 * l = 0: o = 0, lse = -inf, never NaN.
 *
 * Everything inside a key tile is unrolled at generation time, so every fragment is an SSA
 * value (registers); the key loop carries m, l and O as phis. */
#include "skel_fa.h"

#include <math.h>
#include <stdlib.h>

/* ---- the tile table --------------------------------------------------------------------------
 * Chosen by head dim (the larger of Dk, Dv), target and mask; measured on an H100 (mma.sync rows)
 * and an H200 (wgmma rows), bench/NOTES.md "GPU kernel". Every row has 2 K/V stages.
 * tile_m x tile_n, warps, CTAs per SM the registers are capped for:
 *   head dim  sm_90a (wgmma, one warpgroup per 64 rows)        sm_80 (mma.sync, 4 warps)
 *   <= 64     full and causal: 128 x 128, 8 warps, 2 CTAs/SM   128 x 128 (2 m-tiles a warp)
 *             mask hook, or causal with a score hook:
 *                      64 x 128, 4 warps, 3 CTAs/SM
 *               (d64 causal on 8 warps: +3 to +13% on an H200, run 14, despite 16 bytes of
 *               spills; ALiBi's hook there spilled 176 bytes, so hooks keep 4 warps)
 *   <= 128    full:   256 x 64, 16 warps                        128 x 64 (2 m-tiles a warp)
 *             causal (and any mask hook): 128 x 64, 8 warps, 2 CTAs/SM
 *   <= 256    128 x 64, 8 warps                                 64 x 32 (A100: 163 KB shared)
 * wgmma rows pad head dims to a multiple of 64 (128-byte swizzled chunks); mma.sync rows to 16.
 * Shared memory: Q tile_m x Dk and stages x tile_n x (Dk + Dv) elements (mma.sync: + 8 per row),
 * then 2 x tile_n i32 per key value of the mask (PtxConfig.nstaged). */
PtxTile cg_ptx_tile(int32_t sm, int32_t dk, int32_t dv, PtxMask mask, bool score_hook)
{
    int32_t d = dk > dv ? dk : dv;
    bool causal = mask != PTX_MASK_NONE;   /* spec masks take the causal rows too */
    if (sm >= 90) {
        bool hooked = mask == PTX_MASK_HOOK || (causal && score_hook);
        if (d <= 64) return hooked ? (PtxTile){4, 1, 128, 2, false, true, 3}
                                   : (PtxTile){8, 1, 128, 2, false, true, 2};
        if (d <= 128) return causal ? (PtxTile){8, 1, 64, 2, false, true, 2}
                                    : (PtxTile){16, 1, 64, 2, false, true, 1};
        return (PtxTile){8, 1, 64, 2, false, true, 1};
    }
    if (d <= 64) return (PtxTile){4, 2, 128, 2, false, false, 1};
    if (d <= 128) return (PtxTile){4, 2, 64, 2, false, false, 1};
    return (PtxTile){4, 1, 32, 2, false, false, 1};
}

void cg_ptx_shape(Gen *g, const PtxConfig *c)
{
    g->c = c;
    g->NT = 32 * c->tile.warps;
    g->BM = 16 * c->tile.mtiles * c->tile.warps;
    g->BN = c->tile.block_n;
    g->DKP = (c->dk + 15) / 16 * 16;
    g->DVP = (c->dv + 15) / 16 * 16;
    g->QS = (g->DKP + 8) * 2;
    g->KS = g->QS;
    g->VS = (g->DVP + 8) * 2;
    g->swz = c->tile.wgmma;
    if (g->swz) {   /* 64-column chunks, 128 B a row, no padding (the swizzle avoids conflicts) */
        g->DKP = (c->dk + 63) / 64 * 64;
        g->DVP = (c->dv + 63) / 64 * 64;
        g->QS = g->KS = g->VS = 128;
    }
    int qrow = g->swz ? g->DKP * 2 : g->QS, vrow = g->swz ? g->DVP * 2 : g->VS;
    g->off_q = 0;
    g->off_kv = g->BM * qrow;
    g->voff = g->BN * qrow;
    g->stage_bytes = g->BN * (qrow + vrow);
    g->off_keys = g->off_kv + c->tile.stages * g->stage_bytes;
    g->smem_bytes = g->off_keys + 2 * c->nstaged * g->BN * 4;
}

void cg_ptx_launch_shape(const PtxConfig *c, int32_t *tile_m, int32_t *threads, int32_t *smem)
{
    Gen g;
    cg_ptx_shape(&g, c);
    *tile_m = g.BM;
    *threads = g.NT;
    *smem = g.smem_bytes;
}
/* Prologue: the thread's coordinates, the hooks' environment, the scale, Q and the first key
 * tiles in flight, the mask's per-row values, Q's fragments when they stay in registers. */
static bool fa_prologue(Fa *f)
{
    Gen *g = f->g;
    const PtxConfig *c = g->c;
    int MT = f->MT, KQ = f->KQ;
    cg_ptx_thread_setup(g, &f->t);
    const Thread t = f->t;
    f->ninf = gen_f32(g, -INFINITY);
    f->zero = gen_f32(g, 0.0f);
    const AirKernel *ak = c->air;
    int32_t hscale = ak ? ak->hook[HOOK_SCALE] : -1;
    f->hscore = ak ? ak->hook[HOOK_SCORE] : -1;
    f->hsink = ak ? ak->hook[HOOK_SINK] : -1;
    cg_ptx_dist_find(ak, &f->dist);
    if (ak) {   /* the spec's hooks: leaves b and h are per CTA, i and j per element */
        if (!cg_hook_env_init(&g->env, &g->cg, ak, c->target_name, 1)) return false;
        g->env.nvptx = true;
        cg_hook_preload(&g->env, g->args);
        g->env.idx[IX_B] = t.b;
        g->env.idx[IX_H] = t.h;
    }
    /* Logits in log2 units are s * sl2. With a positive compile-time scale and no score hook,
     * the row max is taken on raw s and the scale folds into the exp2's FMA; otherwise each
     * element is converted first (scale_each) and sl2 becomes 1. */
    f->scale = gen_f32(g, c->scale);
    if (hscale >= 0 && ak->nodes[hscale].op != OP_CONST) {
        g->env.score = g->env.qk = NULL;
        if (!(f->scale = cg_hook_emit(&g->env, hscale))) return false;
    }
    f->scale_each = f->hscore >= 0 || !LLVMIsConstant(f->scale) || !(c->scale > 0);
    f->sl2v = f->scale_each ? gen_f32(g, 1.0f) : gen_f32(g, c->scale * 1.4426950408889634f);
    f->log2e = gen_f32(g, 1.4426950408889634f);

    /* Prologue: Q in its own group, then key tiles 0 .. stages-2. */
    cg_ptx_load_tile(g, &t, t.qbase, t.qs2, t.qrow0, t.lq, gen_i32(g, g->off_q), g->BM, c->dk, g->DKP, g->QS);
    cg_ptx_commit(g);
    for (int st = 0; st < c->tile.stages - 1; st++) {
        cg_ptx_load_kv(g, &t, gen_add(g, t.kb0, gen_i32(g, st)));
        cg_ptx_commit(g);
    }
    if (!cg_ptx_stage_keys(g, &t, t.kb0)) return false;
    if (c->mask == PTX_MASK_HOOK && !cg_ptx_mask_pre(g, &t, &f->mpre)) return false;
    if (c->tile.q_in_regs) {
        cg_ptx_wait_group(g, c->tile.stages - 1);
        gen_call(g, "llvm.nvvm.barrier0", g->cg.t_void, NULL, 0, NULL);
        for (int mt = 0; mt < MT; mt++)
            for (int ks = 0; ks < KQ; ks++) f->qr[mt][ks] = cg_ptx_q_frag(g, &t, mt, ks);
    }
    return true;
}

/* The key loop's head: the carried state as phis, the next tile's loads in flight, and the
 * tile's class from the map (an EMPTY tile branches to the latch). */
static bool fa_loop_head(Fa *f)
{
    Gen *g = f->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, nrow = f->nrow, no = f->no;
    const Thread t = f->t;
    LLVMValueRef ninf = f->ninf, zero = f->zero;
    /* The key loop's carried state: m (log2 domain, scaled), l (per-thread partial), O. */
    for (int r = 0; r < nrow; r++) { f->m0[r] = ninf; f->l0[r] = zero; }
    for (int i = 0; i < no; i++) f->o0[i] = zero;

    /* The distance of row g of each m-tile to the thread's first key of tile kb0, carried down
     * by BN a tile (the hooks' `i - j`, see PtxDist). */
    for (int mt = 0; mt < MT && f->dist.n; mt++)
        f->d0[mt] = LLVMBuildSub(B, cg_ptx_row_pos(g, &t, mt, 0),
                              cg_ptx_key_base(g, &t, LLVMBuildMul(B, t.kb0, gen_i32(g, g->BN), "")), "");

    f->entry = LLVMGetInsertBlock(B);
    f->loop = gen_block(g, "kloop");
    f->exit = gen_block(g, "kexit");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSGT, t.nkb, t.kb0, ""), f->loop, f->exit);
    LLVMPositionBuilderAtEnd(B, f->loop);
    f->kb = LLVMBuildPhi(B, g->cg.t_i32, "kb");
    for (int r = 0; r < nrow; r++) {
        f->mp[r] = LLVMBuildPhi(B, g->cg.t_f32, "m");
        f->lp[r] = LLVMBuildPhi(B, g->cg.t_f32, "l");
    }
    for (int i = 0; i < no; i++) f->op[i] = LLVMBuildPhi(B, g->cg.t_f32, "o");
    for (int mt = 0; mt < MT && f->dist.n; mt++) f->dist.row[mt] = LLVMBuildPhi(B, g->cg.t_i32, "dist");
    cg_ptx_dist_tile(g, &f->dist, MT);

    cg_ptx_wait_group(g, c->tile.stages - 2);
    if (g->swz) cg_ptx_wg_fence_proxy(g);   /* cp.async data is read next by the async proxy (wgmma) */
    gen_call(g, "llvm.nvvm.barrier0", g->cg.t_void, NULL, 0, NULL);
    cg_ptx_load_kv(g, &t, gen_add(g, f->kb, gen_i32(g, c->tile.stages - 1)));
    cg_ptx_commit(g);
    if (!cg_ptx_stage_keys(g, &t, gen_add(g, f->kb, gen_i32(g, 1)))) return false;

    /* Tile class from the map (NULL map: PARTIAL, i.e. decided by the geometry below). */
    f->body = gen_block(g, "kbody");
    f->latch = gen_block(g, "klatch");
    LLVMBasicBlockRef cls_bb = LLVMGetInsertBlock(B);
    f->has_map = LLVMBuildICmp(B, LLVMIntNE, t.tiles, gen_i64(g, 0), "");
    f->cls = gen_i32(g, TILE_PARTIAL);
    {
        LLVMBasicBlockRef rd = gen_block(g, "map.read"), join = gen_block(g, "map.join");
        LLVMBuildCondBr(B, f->has_map, rd, join);
        LLVMPositionBuilderAtEnd(B, rd);
        LLVMValueRef p = LLVMBuildIntToPtr(B, LLVMBuildAdd(B, t.tbase,
                                           LLVMBuildSExt(B, f->kb, g->cg.t_i64, ""), ""), g->p1, "");
        LLVMValueRef v = LLVMBuildZExt(B, LLVMBuildLoad2(B, g->cg.t_i8, p, ""), g->cg.t_i32, "");
        LLVMBuildBr(B, join);
        LLVMPositionBuilderAtEnd(B, join);
        LLVMValueRef ph = LLVMBuildPhi(B, g->cg.t_i32, "cls");
        LLVMValueRef vals[2] = {f->cls, v};
        LLVMBasicBlockRef from[2] = {cls_bb, rd};
        LLVMAddIncoming(ph, vals, from, 2);
        f->cls = ph;
    }
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, f->cls, gen_i32(g, TILE_EMPTY), ""), f->latch, f->body);
    f->skip_from = LLVMGetInsertBlock(B);
    LLVMPositionBuilderAtEnd(B, f->body);
    return true;
}
/* Latch: merges the skipped (EMPTY) path and advances; the loop's phis get their incoming
 * values. */
static bool fa_latch(Fa *f)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, nrow = f->nrow, no = f->no;
    const Thread t = f->t;
    /* Latch: merge the skipped (EMPTY) path, advance. */
    LLVMPositionBuilderAtEnd(B, f->latch);
    LLVMBasicBlockRef lfrom[2] = {f->skip_from, f->body_end};
    for (int r = 0; r < nrow; r++) {
        LLVMValueRef a[2] = {f->mp[r], f->mn[r]}, b2[2] = {f->lp[r], f->ln[r]};
        f->mq[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(f->mq[r], a, lfrom, 2);
        f->lq[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(f->lq[r], b2, lfrom, 2);
    }
    for (int i = 0; i < no; i++) {
        LLVMValueRef a[2] = {f->op[i], f->on[i]};
        f->oq[i] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(f->oq[i], a, lfrom, 2);
    }
    LLVMValueRef kb1 = gen_add(g, f->kb, gen_i32(g, 1)), dn[MAXM];
    LLVMValueRef more = LLVMBuildICmp(B, LLVMIntSLT, kb1, t.nkb, "");
    for (int mt = 0; mt < MT && f->dist.n; mt++)   /* opaque on its way round (PtxDist) */
        dn[mt] = cg_ptx_opaque(g, LLVMBuildSub(B, f->dist.row[mt], gen_i32(g, g->BN), ""));
    LLVMBuildCondBr(B, more, f->loop, f->exit);
    f->latch_end = LLVMGetInsertBlock(B);
    {
        LLVMValueRef a[2] = {t.kb0, kb1};
        LLVMBasicBlockRef from[2] = {f->entry, f->latch_end};
        LLVMAddIncoming(f->kb, a, from, 2);
        for (int mt = 0; mt < MT && f->dist.n; mt++) {
            LLVMValueRef x[2] = {f->d0[mt], dn[mt]};
            LLVMAddIncoming(f->dist.row[mt], x, from, 2);
        }
        for (int r = 0; r < nrow; r++) {
            LLVMValueRef x[2] = {f->m0[r], f->mq[r]}, y[2] = {f->l0[r], f->lq[r]};
            LLVMAddIncoming(f->mp[r], x, from, 2);
            LLVMAddIncoming(f->lp[r], y, from, 2);
        }
        for (int i = 0; i < no; i++) {
            LLVMValueRef x[2] = {f->o0[i], f->oq[i]};
            LLVMAddIncoming(f->op[i], x, from, 2);
        }
    }
    return true;
}

/* Epilogue: O / l and the LSE (with the sink in the denominator); rows past Lq are not
 * stored. */
static bool fa_epilogue(Fa *f)
{
    Gen *g = f->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, ND = f->ND, nrow = f->nrow, no = f->no;
    const Thread t = f->t;
    LLVMValueRef ninf = f->ninf, zero = f->zero;
    /* Epilogue: O / l, LSE; rows past Lq are not stored. */
    LLVMPositionBuilderAtEnd(B, f->exit);
    LLVMValueRef mf[2 * MAXM], lf[2 * MAXM], of[MAXM * MAXD * 4];
    {
        LLVMBasicBlockRef from[2] = {f->entry, f->latch_end};
        for (int r = 0; r < nrow; r++) {
            LLVMValueRef x[2] = {f->m0[r], f->mq[r]}, y[2] = {f->l0[r], f->lq[r]};
            mf[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(mf[r], x, from, 2);
            lf[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(lf[r], y, from, 2);
        }
        for (int i = 0; i < no; i++) {
            LLVMValueRef x[2] = {f->o0[i], f->oq[i]};
            of[i] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(of[i], x, from, 2);
        }
    }
    gen_call(g, "llvm.nvvm.cp.async.wait.all", g->cg.t_void, NULL, 0, NULL);
    LLVMValueRef os2, obase = cg_ptx_head_base(g, c->to, t.b, t.h, &os2, 2);
    LLVMValueRef ls2 = NULL, lbase = NULL;
    if (c->tlse >= 0) lbase = cg_ptx_head_base(g, c->tlse, t.b, t.h, &ls2, 4);
    for (int mt = 0; mt < MT; mt++)
        for (int half = 0; half < 2; half++) {
            int r = mt * 2 + half;
            LLVMValueRef l = cg_ptx_quad(g, lf[r], false), mrow = mf[r], fac = gen_f32(g, 1.0f);
            CgSoftmax sm = cg_ptx_softmax(g);
            if (f->hsink >= 0) {   /* the sink joins the denominator: l' = l 2^(m - m') + 2^(s - m') */
                g->env.idx[IX_I] = cg_ptx_row_pos(g, &t, mt, half);
                g->env.idx[IX_J] = NULL;
                g->env.score = g->env.qk = NULL;
                LLVMValueRef sk = cg_hook_emit(&g->env, f->hsink);
                if (!sk) return false;
                sk = LLVMBuildFMul(B, sk, f->log2e, "");
                LLVMValueRef mx;
                fac = cg_softmax_fold(&sm, mrow, l, sk, &mx, &l, NULL);
                mrow = mx;
            }
            LLVMValueRef inv, lse2, has = cg_softmax_final(&sm, mrow, l, fac, &inv, &lse2);
            inv = LLVMBuildSelect(B, has, inv, zero, "");
            LLVMValueRef row = gen_add(g, t.qrow0, gen_add(g, LLVMBuildMul(B, t.warp, gen_i32(g, 16 * MT), ""),
                                                           gen_add(g, t.g, gen_i32(g, mt * 16 + half * 8))));
            LLVMBasicBlockRef st = gen_block(g, "store"), nx = gen_block(g, "store.next");
            LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, row, t.lq, ""), st, nx);
            LLVMPositionBuilderAtEnd(B, st);
            LLVMValueRef rowb = LLVMBuildAdd(B, obase, LLVMBuildMul(B, LLVMBuildSExt(B, row, g->cg.t_i64, ""), os2, ""), "");
            LLVMValueRef colb = LLVMBuildZExt(B, LLVMBuildShl(B, t.t4, gen_i32(g, 2), ""), g->cg.t_i64, "");
            for (int nt = 0; nt < ND && nt * 8 < c->dv; nt++) {
                int i = (mt * ND + nt) * 4 + half * 2;
                LLVMValueRef v = cg_ptx_pack(g, LLVMBuildFMul(B, of[i], inv, ""), LLVMBuildFMul(B, of[i + 1], inv, ""));
                LLVMValueRef a = LLVMBuildAdd(B, rowb, LLVMBuildAdd(B, colb, gen_i64(g, nt * 16), ""), "");
                LLVMValueRef stv = LLVMBuildStore(B, v, LLVMBuildIntToPtr(B, a, g->p1, ""));
                LLVMSetAlignment(stv, 4);
            }
            if (lbase) {
                LLVMBasicBlockRef sl = gen_block(g, "lse"), sn = gen_block(g, "lse.next");
                LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, t.t4, gen_i32(g, 0), ""), sl, sn);
                LLVMPositionBuilderAtEnd(B, sl);
                LLVMValueRef v = LLVMBuildFMul(B, lse2, gen_f32(g, 0.6931471805599453f), "");
                v = LLVMBuildSelect(B, has, v, ninf, "");
                LLVMValueRef a = LLVMBuildAdd(B, lbase, LLVMBuildMul(B, LLVMBuildSExt(B, row, g->cg.t_i64, ""), ls2, ""), "");
                LLVMValueRef stv = LLVMBuildStore(B, v, LLVMBuildIntToPtr(B, a, g->p1, ""));
                LLVMSetAlignment(stv, 4);
                LLVMBuildBr(B, sn);
                LLVMPositionBuilderAtEnd(B, sn);
            }
            LLVMBuildBr(B, nx);
            LLVMPositionBuilderAtEnd(B, nx);
        }
    LLVMBuildRetVoid(B);
    return true;
}

static bool build_fa(Gen *g)
{
    const PtxConfig *c = g->c;
    static Fa zero_fa;
    Fa *f = malloc(sizeof *f);   /* some 50 KB of SSA handles: kept off the stack */
    if (!f) return false;
    *f = zero_fa;
    f->g = g;
    f->MT = c->tile.mtiles, f->NN = g->BN / 8, f->ND = g->DVP / 8, f->KQ = g->DKP / 16;
    f->nrow = 2 * f->MT, f->no = f->MT * f->ND * 4;
    bool ok = f->MT <= MAXM && f->NN <= MAXN && f->ND <= MAXD &&
              !(g->swz && (f->MT != 1 || c->tile.warps % 4 || c->tile.q_in_regs || c->sm < 90)) &&
              fa_prologue(f) && fa_loop_head(f) && cg_ptx_fa_mask_bits(f) && cg_ptx_fa_scores(f) && cg_ptx_fa_mask(f) &&
              cg_ptx_fa_softmax(f) && cg_ptx_fa_pv(f) && fa_latch(f) && fa_epilogue(f);
    free(f);
    return ok;
}

/* The attention entry: the kernel and its launch bounds, then the skeleton. */
static bool build_attention(Gen *g)
{
    cg_ptx_declare(g, g->c->entry, g->NT, g->c->tile.min_ctas, ABI_ARGS_CORE);
    bool ok = build_fa(g);
    if (!ok && !g->cg.d->errors) diag_error_noloc(g->cg.d, "internal error: tile shape out of the skeleton's range");
    return ok;
}

int cg_ptx_fa_units(const PtxConfig *c, PtxUnit units[PTX_MAX_UNITS])
{
    int n = 0;
    units[n++] = (PtxUnit){"attention", build_attention, true};
    if (c->map) units[n++] = (PtxUnit){"map", cg_ptx_build_map, true};
    if (c->decode) units[n++] = (PtxUnit){"decode", cg_ptx_build_decode, false};
    return n;
}
