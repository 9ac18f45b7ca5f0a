/* skel_fa_tile.c: the FlashAttention-2 skeleton's work on one key tile, in the order skel_fa.c
 * calls it: whether the tile needs the mask (and a mask hook's visibility bits), S = Q K^T and
 * the score hook, the mask, the online softmax, O += P V. */
#include "skel_fa.h"

#include <math.h>

/* Whether this tile needs the mask, and a mask hook's visibility bits when it is evaluated
 * before S = Q K^T. */
bool cg_ptx_fa_mask_bits(Fa *f)
{
    Gen *g = f->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, NN = f->NN;
    const Thread t = f->t;
    /* The mask only where needed: the tile crosses Lk, or is PARTIAL for the mask. A mask hook
     * is evaluated before S = Q K^T, into bits of i32 words, so that its loads and temporaries
     * do not compete with S's registers (with S live, a side-tensor mask spilled 168 bytes);
     * the bounds and `j <= i` are cheap and are applied after it. */
    LLVMValueRef k0 = LLVMBuildMul(B, f->kb, gen_i32(g, g->BN), "k0");
    /* The hooks see key positions from an opaque copy of k0: as affine functions of the loop
     * counter, their dozens of comparisons sent LLVM's loop strength reduction into a search
     * that took 100 ms of a sliding window's 200 ms cold compile; ptxas reduces strength
     * itself (without the pass, the cubins of every bench kernel kept their size). */
    LLVMValueRef k0h = c->mask == PTX_MASK_HOOK || f->hscore >= 0 ? cg_ptx_opaque(g, k0) : k0;
    f->jh = cg_ptx_key_base(g, &t, k0h);
    f->jb = cg_ptx_key_base(g, &t, k0);
    f->need = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN)), t.lk, "");
    if (c->mask == PTX_MASK_CAUSAL) {
        LLVMValueRef ipos0 = gen_add(g, gen_add(g, t.qrow0, t.qoff),
                                     LLVMBuildMul(B, t.warp, gen_i32(g, 16 * MT), ""));
        LLVMValueRef geo = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN - 1)), ipos0, "");
        LLVMValueRef part_map = LLVMBuildICmp(B, LLVMIntEQ, f->cls, gen_i32(g, TILE_PARTIAL), "");
        LLVMValueRef part = LLVMBuildSelect(B, f->has_map, part_map, geo, "");
        LLVMValueRef bound = f->need;
        f->need = f->need_v = LLVMBuildOr(B, bound, part, "");
        if (g->swz) {   /* the V guard decides for the warpgroup: the geometry of its first row */
            LLVMValueRef wg0 = gen_add(g, gen_add(g, t.qrow0, t.qoff),
                                       LLVMBuildMul(B, LLVMBuildLShr(B, t.warp, gen_i32(g, 2), ""), gen_i32(g, 64), ""));
            LLVMValueRef geo_wg = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN - 1)), wg0, "");
            f->need_v = LLVMBuildOr(B, bound, LLVMBuildSelect(B, f->has_map, part_map, geo_wg, ""), "");
        }
    } else if (c->mask == PTX_MASK_HOOK) {   /* every tile, unless the map says FULL */
        f->need = f->need_v = LLVMBuildOr(B, f->need, LLVMBuildICmp(B, LLVMIntEQ, f->cls, gen_i32(g, TILE_PARTIAL), ""), "");
    }
    int nwords = (MT * NN * 4 + 31) / 32;
    if (c->mask == PTX_MASK_HOOK && !c->mask_fused) {
        LLVMBasicBlockRef from0 = LLVMGetInsertBlock(B);
        LLVMBasicBlockRef mk = gen_block(g, "vis"), join = gen_block(g, "vis.join");
        LLVMBuildCondBr(B, f->need, mk, join);
        LLVMPositionBuilderAtEnd(B, mk);
        LLVMValueRef w[MAXM * MAXN / 8];
        for (int x = 0; x < nwords; x++) w[x] = gen_i32(g, 0);
        cg_ptx_load_keys(g, &t, f->kb, &f->mpre);
        for (int mt = 0; mt < MT; mt++)
            for (int half = 0; half < 2; half++)
                for (int nt = 0; nt < NN; nt++)
                    for (int e = 0; e < 2; e++) {
                        LLVMValueRef j = cg_ptx_key_pos(g, f->jh, nt, e);
                        LLVMValueRef vis = cg_ptx_mask_elem(g, &t, &f->mpre, &f->dist, mt, half, nt, e, j);
                        if (!vis) return false;
                        vis = LLVMBuildAnd(B, vis, LLVMBuildICmp(B, LLVMIntSLT, j, t.lk, ""), "");
                        int bit = ((mt * NN + nt) * 2 + half) * 2 + e;
                        w[bit / 32] = LLVMBuildOr(B, w[bit / 32], LLVMBuildShl(B,
                            LLVMBuildZExt(B, vis, g->cg.t_i32, ""), gen_i32(g, bit % 32), ""), "");
                    }
        LLVMBuildBr(B, join);
        LLVMBasicBlockRef mk_end = LLVMGetInsertBlock(B);
        LLVMPositionBuilderAtEnd(B, join);
        for (int x = 0; x < nwords; x++) {
            f->visw[x] = LLVMBuildPhi(B, g->cg.t_i32, "visw");
            LLVMValueRef vals[2] = {gen_i32(g, -1), w[x]};
            LLVMBasicBlockRef from[2] = {from0, mk_end};
            LLVMAddIncoming(f->visw[x], vals, from, 2);
        }
    }
    if (f->need_v) cg_ptx_fa_v_scan(f);
    return true;
}

/* S = Q K^T on the tile (wgmma or mma.sync), to log2 units through the score hook. */
bool cg_ptx_fa_scores(Fa *f)
{
    Gen *g = f->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, NN = f->NN, KQ = f->KQ;
    const Thread t = f->t;
    LLVMValueRef zero = f->zero;
    f->so = cg_ptx_stage_off(g, f->kb);
    /* S = Q K^T */
    for (int mt = 0; mt < MT; mt++)
        for (int nt = 0; nt < NN; nt++)
            for (int e = 0; e < 4; e++) f->s[mt][nt].v[e] = zero;
    if (g->swz) {   /* one warpgroup: rows 64 * (warp / 4) .. + 63 of the CTA */
        LLVMValueRef acc[MAXN * 4];
        for (int i = 0; i < NN * 4; i++) acc[i] = zero;
        LLVMValueRef qwg = LLVMBuildMul(B, LLVMBuildLShr(B, t.warp, gen_i32(g, 2), ""), gen_i32(g, 64 * 128), "");
        cg_ptx_wg_fence(g);
        for (int ks = 0; ks < KQ; ks++) {
            int ch = ks / 4, kb32 = (ks % 4) * 32;
            LLVMValueRef da = cg_ptx_wg_desc(g, gen_add(g, qwg, gen_i32(g, g->off_q + ch * g->BM * 128 + kb32)), 16, 1024);
            LLVMValueRef db = cg_ptx_wg_desc(g, gen_add(g, f->so, gen_i32(g, ch * g->BN * 128 + kb32)), 16, 1024);
            cg_ptx_wg_mma_ss(g, g->BN, acc, da, db, ks > 0);
        }
        cg_ptx_wg_commit(g);
        cg_ptx_wg_wait(g, acc, NN * 4);
        for (int nt = 0; nt < NN; nt++)
            for (int e = 0; e < 4; e++) f->s[0][nt].v[e] = acc[nt * 4 + e];
    }
    for (int ks = 0; ks < KQ && !g->swz; ks++) {
        Frag qa[MAXM];
        for (int mt = 0; mt < MT; mt++) qa[mt] = c->tile.q_in_regs ? f->qr[mt][ks] : cg_ptx_q_frag(g, &t, mt, ks);
        for (int np = 0; np < NN / 2; np++) {
            LLVMValueRef kf[4];
            cg_ptx_ldsm(g, gen_add(g, f->so, gen_add(g, t.ka, gen_i32(g, np * 16 * g->KS + ks * 32))), false, kf);
            for (int mt = 0; mt < MT; mt++) {
                cg_ptx_mma(g, &qa[mt], kf[0], kf[1], &f->s[mt][2 * np]);
                cg_ptx_mma(g, &qa[mt], kf[2], kf[3], &f->s[mt][2 * np + 1]);
            }
        }
    }

    if (f->scale_each)   /* to log2 units, through the score hook if there is one */
        for (int mt = 0; mt < MT; mt++)
            for (int e4 = 0; e4 < 4; e4++) {
                g->env.idx[IX_I] = cg_ptx_row_pos(g, &t, mt, e4 >> 1);
                for (int nt = 0; nt < NN; nt++) {
                    LLVMValueRef *x = &f->s[mt][nt].v[e4];
                    LLVMValueRef z = LLVMBuildFMul(B, *x, f->scale, "");
                    if (f->hscore >= 0) {
                        LLVMValueRef dv[PTX_MAXDIST];
                        cg_ptx_dist_vals(g, &f->dist, mt, e4 >> 1, nt, e4 & 1, dv);
                        g->env.idx[IX_J] = cg_ptx_key_pos(g, f->jh, nt, e4 & 1);
                        g->env.qk = *x;
                        g->env.score = z;
                        if (!(z = cg_hook_emit_preset(&g->env, f->hscore, f->dist.n, f->dist.id, dv))) return false;
                    }
                    *x = LLVMBuildFMul(B, z, f->log2e, "");
                }
            }
    return true;
}

/* Masked elements of S to -inf, on the tiles that need it. */
bool cg_ptx_fa_mask(Fa *f)
{
    Gen *g = f->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, NN = f->NN;
    const Thread t = f->t;
    LLVMValueRef ninf = f->ninf;
    /* Masked elements to -inf. */
    {
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(B);
        LLVMBasicBlockRef mk = gen_block(g, "mask"), join = gen_block(g, "mask.join");
        LLVMBuildCondBr(B, f->need, mk, join);
        LLVMPositionBuilderAtEnd(B, mk);
        Frag sm[MAXM][MAXN];
        if (c->mask_fused) cg_ptx_load_keys(g, &t, f->kb, &f->mpre);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < NN; nt++)
                for (int e4 = 0; e4 < 4; e4++) {
                    LLVMValueRef bad;
                    if (c->mask_fused) {
                        LLVMValueRef j = cg_ptx_key_pos(g, f->jh, nt, e4 & 1);
                        LLVMValueRef vis = cg_ptx_mask_elem(g, &t, &f->mpre, &f->dist, mt, e4 >> 1, nt, e4 & 1, j);
                        if (!vis) return false;
                        vis = LLVMBuildAnd(B, vis, LLVMBuildICmp(B, LLVMIntSLT, j, t.lk, ""), "");
                        bad = LLVMBuildNot(B, vis, "");
                    } else if (c->mask == PTX_MASK_HOOK) {   /* the bits hold the bound too */
                        int bit = (mt * NN + nt) * 4 + e4;
                        LLVMValueRef hit = LLVMBuildAnd(B, f->visw[bit / 32], gen_i32(g, (int32_t)(1u << (bit % 32))), "");
                        bad = LLVMBuildICmp(B, LLVMIntEQ, hit, gen_i32(g, 0), "");
                    } else {
                        LLVMValueRef j = cg_ptx_key_pos(g, f->jb, nt, e4 & 1);
                        bad = LLVMBuildICmp(B, LLVMIntSGE, j, t.lk, "");
                        if (c->mask == PTX_MASK_CAUSAL)
                            bad = LLVMBuildOr(B, bad, LLVMBuildICmp(B, LLVMIntSGT, j, cg_ptx_row_pos(g, &t, mt, e4 >> 1), ""), "");
                    }
                    sm[mt][nt].v[e4] = LLVMBuildSelect(B, bad, ninf, f->s[mt][nt].v[e4], "");
                }
        LLVMBuildBr(B, join);
        LLVMPositionBuilderAtEnd(B, join);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 4; e++) {
                    LLVMValueRef ph = LLVMBuildPhi(B, g->cg.t_f32, "s");
                    LLVMValueRef vals[2] = {f->s[mt][nt].v[e], sm[mt][nt].v[e]};
                    LLVMBasicBlockRef from[2] = {pre, mk};
                    LLVMAddIncoming(ph, vals, from, 2);
                    f->s[mt][nt].v[e] = ph;
                }
    }
    return true;
}

/* Online softmax per row (mt, half): the new max, alpha, P = exp2(S - m) and the rescaled O;
 * P packed as the A operand of the PV product. */
bool cg_ptx_fa_softmax(Fa *f)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, NN = f->NN, ND = f->ND;
    LLVMValueRef ninf = f->ninf, zero = f->zero;
    CgSoftmax sm = cg_ptx_softmax(g);
    /* Online softmax per row (mt, half). */
    for (int mt = 0; mt < MT; mt++)
        for (int half = 0; half < 2; half++) {
            int r = mt * 2 + half;
            LLVMValueRef mx = ninf;
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 2; e++) mx = gen_fmax(g, mx, f->s[mt][nt].v[half * 2 + e]);
            mx = cg_ptx_quad(g, mx, true);
            LLVMValueRef mnew;
            LLVMValueRef base = cg_softmax_base(&sm, f->mp[r], LLVMBuildFMul(B, mx, f->sl2v, ""), &mnew);
            LLVMValueRef nbase = LLVMBuildFNeg(B, base, "");
            LLVMValueRef alpha = cg_ptx_ex2(g, LLVMBuildFSub(B, f->mp[r], base, ""));
            LLVMValueRef sum = zero;
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 2; e++) {
                    LLVMValueRef *x = &f->s[mt][nt].v[half * 2 + e];
                    *x = cg_ptx_ex2(g, gen_fma(g, *x, f->sl2v, nbase));
                    sum = LLVMBuildFAdd(B, sum, *x, "");
                }
            f->ln[r] = gen_fma(g, f->lp[r], alpha, sum);
            f->mn[r] = mnew;
            for (int nt = 0; nt < ND; nt++)
                for (int e = 0; e < 2; e++) {
                    int i = (mt * ND + nt) * 4 + half * 2 + e;
                    f->on[i] = LLVMBuildFMul(B, f->op[i], alpha, "");
                }
        }
    for (int mt = 0; mt < MT; mt++)
        for (int kk = 0; kk < NN / 2; kk++) {
            Frag *a = &f->pa[mt][kk];
            a->v[0] = cg_ptx_pack(g, f->s[mt][2 * kk].v[0], f->s[mt][2 * kk].v[1]);
            a->v[1] = cg_ptx_pack(g, f->s[mt][2 * kk].v[2], f->s[mt][2 * kk].v[3]);
            a->v[2] = cg_ptx_pack(g, f->s[mt][2 * kk + 1].v[0], f->s[mt][2 * kk + 1].v[1]);
            a->v[3] = cg_ptx_pack(g, f->s[mt][2 * kk + 1].v[2], f->s[mt][2 * kk + 1].v[3]);
        }
    return true;
}

/* O += P V. */
bool cg_ptx_fa_pv(Fa *f)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, NN = f->NN, ND = f->ND;
    const Thread t = f->t;
    /* O += P V: guarded (skel_fa_pv_guard.c) on tiles the mask cuts whose V holds NaN or Inf */
    LLVMBasicBlockRef fast = gen_block(g, "pv"), guard_end = NULL, join = gen_block(g, "pv.join");
    LLVMValueRef og[MAXM * MAXD * 4];
    if (f->need_v) {
        if (!cg_ptx_fa_pv_guard(f, fast, og, &guard_end)) return false;
        LLVMBuildBr(B, join);
    } else {
        LLVMBuildBr(B, fast);
    }
    LLVMPositionBuilderAtEnd(B, fast);
    if (g->swz) {
        cg_ptx_wg_fence(g);
        for (int kk = 0; kk < NN / 2; kk++) {
            LLVMValueRef db = cg_ptx_wg_desc(g, gen_add(g, f->so, gen_i32(g, g->voff + kk * 16 * 128)),
                                      g->BN * 128, 1024);
            cg_ptx_wg_mma_rs(g, g->DVP, f->on, f->pa[0][kk].v, db);
        }
        cg_ptx_wg_commit(g);
        cg_ptx_wg_wait(g, f->on, ND * 4);
    }
    for (int kk = 0; kk < NN / 2 && !g->swz; kk++)
        for (int dp = 0; dp < ND / 2; dp++) {
            LLVMValueRef vf[4];
            cg_ptx_ldsm(g, gen_add(g, f->so, gen_add(g, t.va, gen_i32(g, kk * 16 * g->VS + dp * 32))), true, vf);
            for (int mt = 0; mt < MT; mt++)
                for (int h2 = 0; h2 < 2; h2++) {
                    Frag acc;
                    int i0 = (mt * ND + dp * 2 + h2) * 4;
                    for (int e = 0; e < 4; e++) acc.v[e] = f->on[i0 + e];
                    cg_ptx_mma(g, &f->pa[mt][kk], vf[2 * h2], vf[2 * h2 + 1], &acc);
                    for (int e = 0; e < 4; e++) f->on[i0 + e] = acc.v[e];
                }
        }
    LLVMBuildBr(B, join);
    LLVMBasicBlockRef fast_end = LLVMGetInsertBlock(B);
    LLVMPositionBuilderAtEnd(B, join);
    for (int i = 0; i < f->no && guard_end; i++) {
        LLVMValueRef ph = LLVMBuildPhi(B, g->cg.t_f32, "o");
        LLVMValueRef vals[2] = {f->on[i], og[i]};
        LLVMBasicBlockRef from[2] = {fast_end, guard_end};
        LLVMAddIncoming(ph, vals, from, 2);
        f->on[i] = ph;
    }
    LLVMBuildBr(B, f->latch);
    f->body_end = LLVMGetInsertBlock(B);
    return true;
}
