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
#include "gen.h"

#include <math.h>

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

static bool build_fa(Gen *g)
{
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    int MT = c->tile.mtiles, NN = g->BN / 8, ND = g->DVP / 8, KQ = g->DKP / 16;
    if (MT > MAXM || NN > MAXN || ND > MAXD) return false;
    if (g->swz && (MT != 1 || c->tile.warps % 4 || c->tile.q_in_regs || c->sm < 90)) return false;
    Thread t;
    cg_ptx_thread_setup(g, &t);
    LLVMValueRef ninf = gen_f32(g, -INFINITY), zero = gen_f32(g, 0.0f);
    const AirKernel *ak = c->air;
    int32_t hscale = ak ? ak->hook[HOOK_SCALE] : -1, hscore = ak ? ak->hook[HOOK_SCORE] : -1;
    int32_t hsink = ak ? ak->hook[HOOK_SINK] : -1;
    PtxDist dist;
    cg_ptx_dist_find(ak, &dist);
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
    LLVMValueRef scale = gen_f32(g, c->scale);
    if (hscale >= 0 && ak->nodes[hscale].op != OP_CONST) {
        g->env.score = g->env.qk = NULL;
        if (!(scale = cg_hook_emit(&g->env, hscale))) return false;
    }
    bool scale_each = hscore >= 0 || !LLVMIsConstant(scale) || !(c->scale > 0);
    LLVMValueRef sl2v = scale_each ? gen_f32(g, 1.0f) : gen_f32(g, c->scale * 1.4426950408889634f);
    LLVMValueRef log2e = gen_f32(g, 1.4426950408889634f);

    /* Prologue: Q in its own group, then key tiles 0 .. stages-2. */
    cg_ptx_load_tile(g, &t, t.qbase, t.qs2, t.qrow0, t.lq, gen_i32(g, g->off_q), g->BM, c->dk, g->DKP, g->QS);
    cg_ptx_commit(g);
    for (int s = 0; s < c->tile.stages - 1; s++) {
        cg_ptx_load_kv(g, &t, gen_add(g, t.kb0, gen_i32(g, s)));
        cg_ptx_commit(g);
    }
    if (!cg_ptx_stage_keys(g, &t, t.kb0)) return false;
    PtxMaskPre mpre = {0};
    if (c->mask == PTX_MASK_HOOK && !cg_ptx_mask_pre(g, &t, &mpre)) return false;
    Frag qr[MAXM][16];
    if (c->tile.q_in_regs) {
        cg_ptx_wait_group(g, c->tile.stages - 1);
        gen_call(g, "llvm.nvvm.barrier0", g->cg.t_void, NULL, 0, NULL);
        for (int mt = 0; mt < MT; mt++)
            for (int ks = 0; ks < KQ; ks++) qr[mt][ks] = cg_ptx_q_frag(g, &t, mt, ks);
    }

    /* The key loop's carried state: m (log2 domain, scaled), l (per-thread partial), O. */
    int nrow = 2 * MT, no = MT * ND * 4;
    LLVMValueRef m0[2 * MAXM], l0[2 * MAXM], o0[MAXM * MAXD * 4];
    for (int r = 0; r < nrow; r++) { m0[r] = ninf; l0[r] = zero; }
    for (int i = 0; i < no; i++) o0[i] = zero;

    /* The distance of row g of each m-tile to the thread's first key of tile kb0, carried down
     * by BN a tile (the hooks' `i - j`, see PtxDist). */
    LLVMValueRef d0[MAXM];
    for (int mt = 0; mt < MT && dist.n; mt++)
        d0[mt] = LLVMBuildSub(B, cg_ptx_row_pos(g, &t, mt, 0),
                              cg_ptx_key_base(g, &t, LLVMBuildMul(B, t.kb0, gen_i32(g, g->BN), "")), "");

    LLVMBasicBlockRef entry = LLVMGetInsertBlock(B);
    LLVMBasicBlockRef loop = gen_block(g, "kloop"), exit = gen_block(g, "kexit");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSGT, t.nkb, t.kb0, ""), loop, exit);
    LLVMPositionBuilderAtEnd(B, loop);
    LLVMValueRef kb = LLVMBuildPhi(B, g->cg.t_i32, "kb");
    LLVMValueRef mp[2 * MAXM], lp[2 * MAXM], op[MAXM * MAXD * 4];
    for (int r = 0; r < nrow; r++) {
        mp[r] = LLVMBuildPhi(B, g->cg.t_f32, "m");
        lp[r] = LLVMBuildPhi(B, g->cg.t_f32, "l");
    }
    for (int i = 0; i < no; i++) op[i] = LLVMBuildPhi(B, g->cg.t_f32, "o");
    for (int mt = 0; mt < MT && dist.n; mt++) dist.row[mt] = LLVMBuildPhi(B, g->cg.t_i32, "dist");
    cg_ptx_dist_tile(g, &dist, MT);

    cg_ptx_wait_group(g, c->tile.stages - 2);
    if (g->swz) cg_ptx_wg_fence_proxy(g);   /* cp.async data is read next by the async proxy (wgmma) */
    gen_call(g, "llvm.nvvm.barrier0", g->cg.t_void, NULL, 0, NULL);
    cg_ptx_load_kv(g, &t, gen_add(g, kb, gen_i32(g, c->tile.stages - 1)));
    cg_ptx_commit(g);
    if (!cg_ptx_stage_keys(g, &t, gen_add(g, kb, gen_i32(g, 1)))) return false;

    /* Tile class from the map (NULL map: PARTIAL, i.e. decided by the geometry below). */
    LLVMBasicBlockRef body = gen_block(g, "kbody"), latch = gen_block(g, "klatch");
    LLVMBasicBlockRef cls_bb = LLVMGetInsertBlock(B);
    LLVMValueRef has_map = LLVMBuildICmp(B, LLVMIntNE, t.tiles, gen_i64(g, 0), "");
    LLVMValueRef cls = gen_i32(g, TILE_PARTIAL);
    {
        LLVMBasicBlockRef rd = gen_block(g, "map.read"), join = gen_block(g, "map.join");
        LLVMBuildCondBr(B, has_map, rd, join);
        LLVMPositionBuilderAtEnd(B, rd);
        LLVMValueRef p = LLVMBuildIntToPtr(B, LLVMBuildAdd(B, t.tbase,
                                           LLVMBuildSExt(B, kb, g->cg.t_i64, ""), ""), g->p1, "");
        LLVMValueRef v = LLVMBuildZExt(B, LLVMBuildLoad2(B, g->cg.t_i8, p, ""), g->cg.t_i32, "");
        LLVMBuildBr(B, join);
        LLVMPositionBuilderAtEnd(B, join);
        LLVMValueRef ph = LLVMBuildPhi(B, g->cg.t_i32, "cls");
        LLVMValueRef vals[2] = {cls, v};
        LLVMBasicBlockRef from[2] = {cls_bb, rd};
        LLVMAddIncoming(ph, vals, from, 2);
        cls = ph;
    }
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, cls, gen_i32(g, TILE_EMPTY), ""), latch, body);
    LLVMBasicBlockRef skip_from = LLVMGetInsertBlock(B);
    LLVMPositionBuilderAtEnd(B, body);

    /* The mask only where needed: the tile crosses Lk, or is PARTIAL for the mask. A mask hook
     * is evaluated before S = Q K^T, into bits of i32 words, so that its loads and temporaries
     * do not compete with S's registers (with S live, a side-tensor mask spilled 168 bytes);
     * the bounds and `j <= i` are cheap and are applied after it. */
    LLVMValueRef k0 = LLVMBuildMul(B, kb, gen_i32(g, g->BN), "k0");
    /* The hooks see key positions from an opaque copy of k0: as affine functions of the loop
     * counter, their dozens of comparisons sent LLVM's loop strength reduction into a search
     * that took 100 ms of a sliding window's 200 ms cold compile; ptxas reduces strength
     * itself (without the pass, the cubins of every bench kernel kept their size). */
    LLVMValueRef k0h = c->mask == PTX_MASK_HOOK || hscore >= 0 ? cg_ptx_opaque(g, k0) : k0;
    LLVMValueRef jh = cg_ptx_key_base(g, &t, k0h), jb = cg_ptx_key_base(g, &t, k0);
    LLVMValueRef need = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN)), t.lk, "");
    if (c->mask == PTX_MASK_CAUSAL) {
        LLVMValueRef ipos0 = gen_add(g, gen_add(g, t.qrow0, t.qoff),
                                     LLVMBuildMul(B, t.warp, gen_i32(g, 16 * MT), ""));
        LLVMValueRef geo = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN - 1)), ipos0, "");
        LLVMValueRef part = LLVMBuildSelect(B, has_map,
            LLVMBuildICmp(B, LLVMIntEQ, cls, gen_i32(g, TILE_PARTIAL), ""), geo, "");
        need = LLVMBuildOr(B, need, part, "");
    } else if (c->mask == PTX_MASK_HOOK) {   /* every tile, unless the map says FULL */
        need = LLVMBuildOr(B, need, LLVMBuildICmp(B, LLVMIntEQ, cls, gen_i32(g, TILE_PARTIAL), ""), "");
    }
    int nwords = (MT * NN * 4 + 31) / 32;
    LLVMValueRef visw[MAXM * MAXN / 8];
    if (c->mask == PTX_MASK_HOOK && !c->mask_fused) {
        LLVMBasicBlockRef from0 = LLVMGetInsertBlock(B);
        LLVMBasicBlockRef mk = gen_block(g, "vis"), join = gen_block(g, "vis.join");
        LLVMBuildCondBr(B, need, mk, join);
        LLVMPositionBuilderAtEnd(B, mk);
        LLVMValueRef w[MAXM * MAXN / 8];
        for (int x = 0; x < nwords; x++) w[x] = gen_i32(g, 0);
        cg_ptx_load_keys(g, &t, kb, &mpre);
        for (int mt = 0; mt < MT; mt++)
            for (int half = 0; half < 2; half++)
                for (int nt = 0; nt < NN; nt++)
                    for (int e = 0; e < 2; e++) {
                        LLVMValueRef j = cg_ptx_key_pos(g, jh, nt, e);
                        LLVMValueRef vis = cg_ptx_mask_elem(g, &t, &mpre, &dist, mt, half, nt, e, j);
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
            visw[x] = LLVMBuildPhi(B, g->cg.t_i32, "visw");
            LLVMValueRef vals[2] = {gen_i32(g, -1), w[x]};
            LLVMBasicBlockRef from[2] = {from0, mk_end};
            LLVMAddIncoming(visw[x], vals, from, 2);
        }
    }

    LLVMValueRef so = cg_ptx_stage_off(g, kb);
    /* S = Q K^T */
    Frag s[MAXM][MAXN];
    for (int mt = 0; mt < MT; mt++)
        for (int nt = 0; nt < NN; nt++)
            for (int e = 0; e < 4; e++) s[mt][nt].v[e] = zero;
    if (g->swz) {   /* one warpgroup: rows 64 * (warp / 4) .. + 63 of the CTA */
        LLVMValueRef acc[MAXN * 4];
        for (int i = 0; i < NN * 4; i++) acc[i] = zero;
        LLVMValueRef qwg = LLVMBuildMul(B, LLVMBuildLShr(B, t.warp, gen_i32(g, 2), ""), gen_i32(g, 64 * 128), "");
        cg_ptx_wg_fence(g);
        for (int ks = 0; ks < KQ; ks++) {
            int ch = ks / 4, kb32 = (ks % 4) * 32;
            LLVMValueRef da = cg_ptx_wg_desc(g, gen_add(g, qwg, gen_i32(g, g->off_q + ch * g->BM * 128 + kb32)), 16, 1024);
            LLVMValueRef db = cg_ptx_wg_desc(g, gen_add(g, so, gen_i32(g, ch * g->BN * 128 + kb32)), 16, 1024);
            cg_ptx_wg_mma_ss(g, g->BN, acc, da, db, ks > 0);
        }
        cg_ptx_wg_commit(g);
        cg_ptx_wg_wait(g, acc, NN * 4);
        for (int nt = 0; nt < NN; nt++)
            for (int e = 0; e < 4; e++) s[0][nt].v[e] = acc[nt * 4 + e];
    }
    for (int ks = 0; ks < KQ && !g->swz; ks++) {
        Frag qa[MAXM];
        for (int mt = 0; mt < MT; mt++) qa[mt] = c->tile.q_in_regs ? qr[mt][ks] : cg_ptx_q_frag(g, &t, mt, ks);
        for (int np = 0; np < NN / 2; np++) {
            LLVMValueRef kf[4];
            cg_ptx_ldsm(g, gen_add(g, so, gen_add(g, t.ka, gen_i32(g, np * 16 * g->KS + ks * 32))), false, kf);
            for (int mt = 0; mt < MT; mt++) {
                cg_ptx_mma(g, &qa[mt], kf[0], kf[1], &s[mt][2 * np]);
                cg_ptx_mma(g, &qa[mt], kf[2], kf[3], &s[mt][2 * np + 1]);
            }
        }
    }

    if (scale_each)   /* to log2 units, through the score hook if there is one */
        for (int mt = 0; mt < MT; mt++)
            for (int e4 = 0; e4 < 4; e4++) {
                g->env.idx[IX_I] = cg_ptx_row_pos(g, &t, mt, e4 >> 1);
                for (int nt = 0; nt < NN; nt++) {
                    LLVMValueRef *x = &s[mt][nt].v[e4];
                    LLVMValueRef z = LLVMBuildFMul(B, *x, scale, "");
                    if (hscore >= 0) {
                        LLVMValueRef dv[PTX_MAXDIST];
                        cg_ptx_dist_vals(g, &dist, mt, e4 >> 1, nt, e4 & 1, dv);
                        g->env.idx[IX_J] = cg_ptx_key_pos(g, jh, nt, e4 & 1);
                        g->env.qk = *x;
                        g->env.score = z;
                        if (!(z = cg_hook_emit_preset(&g->env, hscore, dist.n, dist.id, dv))) return false;
                    }
                    *x = LLVMBuildFMul(B, z, log2e, "");
                }
            }

    /* Masked elements to -inf. */
    {
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(B);
        LLVMBasicBlockRef mk = gen_block(g, "mask"), join = gen_block(g, "mask.join");
        LLVMBuildCondBr(B, need, mk, join);
        LLVMPositionBuilderAtEnd(B, mk);
        Frag sm[MAXM][MAXN];
        if (c->mask_fused) cg_ptx_load_keys(g, &t, kb, &mpre);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < NN; nt++)
                for (int e4 = 0; e4 < 4; e4++) {
                    LLVMValueRef bad;
                    if (c->mask_fused) {
                        LLVMValueRef j = cg_ptx_key_pos(g, jh, nt, e4 & 1);
                        LLVMValueRef vis = cg_ptx_mask_elem(g, &t, &mpre, &dist, mt, e4 >> 1, nt, e4 & 1, j);
                        if (!vis) return false;
                        vis = LLVMBuildAnd(B, vis, LLVMBuildICmp(B, LLVMIntSLT, j, t.lk, ""), "");
                        bad = LLVMBuildNot(B, vis, "");
                    } else if (c->mask == PTX_MASK_HOOK) {   /* the bits hold the bound too */
                        int bit = (mt * NN + nt) * 4 + e4;
                        LLVMValueRef on = LLVMBuildAnd(B, visw[bit / 32], gen_i32(g, (int32_t)(1u << (bit % 32))), "");
                        bad = LLVMBuildICmp(B, LLVMIntEQ, on, gen_i32(g, 0), "");
                    } else {
                        LLVMValueRef j = cg_ptx_key_pos(g, jb, nt, e4 & 1);
                        bad = LLVMBuildICmp(B, LLVMIntSGE, j, t.lk, "");
                        if (c->mask == PTX_MASK_CAUSAL)
                            bad = LLVMBuildOr(B, bad, LLVMBuildICmp(B, LLVMIntSGT, j, cg_ptx_row_pos(g, &t, mt, e4 >> 1), ""), "");
                    }
                    sm[mt][nt].v[e4] = LLVMBuildSelect(B, bad, ninf, s[mt][nt].v[e4], "");
                }
        LLVMBuildBr(B, join);
        LLVMPositionBuilderAtEnd(B, join);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 4; e++) {
                    LLVMValueRef ph = LLVMBuildPhi(B, g->cg.t_f32, "s");
                    LLVMValueRef vals[2] = {s[mt][nt].v[e], sm[mt][nt].v[e]};
                    LLVMBasicBlockRef from[2] = {pre, mk};
                    LLVMAddIncoming(ph, vals, from, 2);
                    s[mt][nt].v[e] = ph;
                }
    }

    /* Online softmax per row (mt, half). */
    LLVMValueRef mn[2 * MAXM], ln[2 * MAXM], on[MAXM * MAXD * 4];
    Frag pa[MAXM][MAXN / 2];
    for (int mt = 0; mt < MT; mt++)
        for (int half = 0; half < 2; half++) {
            int r = mt * 2 + half;
            LLVMValueRef mx = ninf;
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 2; e++) mx = gen_fmax(g, mx, s[mt][nt].v[half * 2 + e]);
            mx = cg_ptx_quad(g, mx, true);
            LLVMValueRef mnew = gen_fmax(g, mp[r], LLVMBuildFMul(B, mx, sl2v, ""));
            /* A row with nothing visible yet keeps m = -inf; use 0 as the base so that
             * exp2(-inf - base) is 0, never NaN. */
            LLVMValueRef base = LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOEQ, mnew, ninf, ""),
                                                zero, mnew, "");
            LLVMValueRef nbase = LLVMBuildFNeg(B, base, "");
            LLVMValueRef alpha = cg_ptx_ex2(g, LLVMBuildFSub(B, mp[r], base, ""));
            LLVMValueRef sum = zero;
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 2; e++) {
                    LLVMValueRef *x = &s[mt][nt].v[half * 2 + e];
                    *x = cg_ptx_ex2(g, gen_fma(g, *x, sl2v, nbase));
                    sum = LLVMBuildFAdd(B, sum, *x, "");
                }
            ln[r] = gen_fma(g, lp[r], alpha, sum);
            mn[r] = mnew;
            for (int nt = 0; nt < ND; nt++)
                for (int e = 0; e < 2; e++) {
                    int i = (mt * ND + nt) * 4 + half * 2 + e;
                    on[i] = LLVMBuildFMul(B, op[i], alpha, "");
                }
        }
    for (int mt = 0; mt < MT; mt++)
        for (int kk = 0; kk < NN / 2; kk++) {
            Frag *a = &pa[mt][kk];
            a->v[0] = cg_ptx_pack(g, s[mt][2 * kk].v[0], s[mt][2 * kk].v[1]);
            a->v[1] = cg_ptx_pack(g, s[mt][2 * kk].v[2], s[mt][2 * kk].v[3]);
            a->v[2] = cg_ptx_pack(g, s[mt][2 * kk + 1].v[0], s[mt][2 * kk + 1].v[1]);
            a->v[3] = cg_ptx_pack(g, s[mt][2 * kk + 1].v[2], s[mt][2 * kk + 1].v[3]);
        }
    /* O += P V */
    if (g->swz) {
        cg_ptx_wg_fence(g);
        for (int kk = 0; kk < NN / 2; kk++) {
            LLVMValueRef db = cg_ptx_wg_desc(g, gen_add(g, so, gen_i32(g, g->voff + kk * 16 * 128)),
                                      g->BN * 128, 1024);
            cg_ptx_wg_mma_rs(g, g->DVP, on, pa[0][kk].v, db);
        }
        cg_ptx_wg_commit(g);
        cg_ptx_wg_wait(g, on, ND * 4);
    }
    for (int kk = 0; kk < NN / 2 && !g->swz; kk++)
        for (int dp = 0; dp < ND / 2; dp++) {
            LLVMValueRef vf[4];
            cg_ptx_ldsm(g, gen_add(g, so, gen_add(g, t.va, gen_i32(g, kk * 16 * g->VS + dp * 32))), true, vf);
            for (int mt = 0; mt < MT; mt++)
                for (int h2 = 0; h2 < 2; h2++) {
                    Frag acc;
                    int i0 = (mt * ND + dp * 2 + h2) * 4;
                    for (int e = 0; e < 4; e++) acc.v[e] = on[i0 + e];
                    cg_ptx_mma(g, &pa[mt][kk], vf[2 * h2], vf[2 * h2 + 1], &acc);
                    for (int e = 0; e < 4; e++) on[i0 + e] = acc.v[e];
                }
        }
    LLVMBuildBr(B, latch);
    LLVMBasicBlockRef body_end = LLVMGetInsertBlock(B);

    /* Latch: merge the skipped (EMPTY) path, advance. */
    LLVMPositionBuilderAtEnd(B, latch);
    LLVMValueRef mq[2 * MAXM], lq[2 * MAXM], oq[MAXM * MAXD * 4];
    LLVMBasicBlockRef lfrom[2] = {skip_from, body_end};
    for (int r = 0; r < nrow; r++) {
        LLVMValueRef a[2] = {mp[r], mn[r]}, b2[2] = {lp[r], ln[r]};
        mq[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(mq[r], a, lfrom, 2);
        lq[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(lq[r], b2, lfrom, 2);
    }
    for (int i = 0; i < no; i++) {
        LLVMValueRef a[2] = {op[i], on[i]};
        oq[i] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(oq[i], a, lfrom, 2);
    }
    LLVMValueRef kb1 = gen_add(g, kb, gen_i32(g, 1)), dn[MAXM];
    LLVMValueRef more = LLVMBuildICmp(B, LLVMIntSLT, kb1, t.nkb, "");
    for (int mt = 0; mt < MT && dist.n; mt++)   /* opaque on its way round (PtxDist) */
        dn[mt] = cg_ptx_opaque(g, LLVMBuildSub(B, dist.row[mt], gen_i32(g, g->BN), ""));
    LLVMBuildCondBr(B, more, loop, exit);
    LLVMBasicBlockRef latch_end = LLVMGetInsertBlock(B);
    {
        LLVMValueRef a[2] = {t.kb0, kb1};
        LLVMBasicBlockRef from[2] = {entry, latch_end};
        LLVMAddIncoming(kb, a, from, 2);
        for (int mt = 0; mt < MT && dist.n; mt++) {
            LLVMValueRef x[2] = {d0[mt], dn[mt]};
            LLVMAddIncoming(dist.row[mt], x, from, 2);
        }
        for (int r = 0; r < nrow; r++) {
            LLVMValueRef x[2] = {m0[r], mq[r]}, y[2] = {l0[r], lq[r]};
            LLVMAddIncoming(mp[r], x, from, 2);
            LLVMAddIncoming(lp[r], y, from, 2);
        }
        for (int i = 0; i < no; i++) {
            LLVMValueRef x[2] = {o0[i], oq[i]};
            LLVMAddIncoming(op[i], x, from, 2);
        }
    }

    /* Epilogue: O / l, LSE; rows past Lq are not stored. */
    LLVMPositionBuilderAtEnd(B, exit);
    LLVMValueRef mf[2 * MAXM], lf[2 * MAXM], of[MAXM * MAXD * 4];
    {
        LLVMBasicBlockRef from[2] = {entry, latch_end};
        for (int r = 0; r < nrow; r++) {
            LLVMValueRef x[2] = {m0[r], mq[r]}, y[2] = {l0[r], lq[r]};
            mf[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(mf[r], x, from, 2);
            lf[r] = LLVMBuildPhi(B, g->cg.t_f32, ""); LLVMAddIncoming(lf[r], y, from, 2);
        }
        for (int i = 0; i < no; i++) {
            LLVMValueRef x[2] = {o0[i], oq[i]};
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
            LLVMValueRef l = cg_ptx_quad(g, lf[r], false), mrow = mf[r], f = gen_f32(g, 1.0f);
            if (hsink >= 0) {   /* the sink joins the denominator: l' = l 2^(m - m') + 2^(s - m') */
                g->env.idx[IX_I] = cg_ptx_row_pos(g, &t, mt, half);
                g->env.idx[IX_J] = NULL;
                g->env.score = g->env.qk = NULL;
                LLVMValueRef sk = cg_hook_emit(&g->env, hsink);
                if (!sk) return false;
                sk = LLVMBuildFMul(B, sk, log2e, "");
                LLVMValueRef mx = gen_fmax(g, mrow, sk);
                LLVMValueRef mb = LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOEQ, mx, ninf, ""), zero, mx, "");
                f = cg_ptx_ex2(g, LLVMBuildFSub(B, mrow, mb, ""));
                l = gen_fma(g, l, f, cg_ptx_ex2(g, LLVMBuildFSub(B, sk, mb, "")));
                mrow = mx;
            }
            LLVMValueRef pos = LLVMBuildFCmp(B, LLVMRealOGT, l, zero, "");
            LLVMValueRef inv = LLVMBuildSelect(B, pos, LLVMBuildFDiv(B, f, l, ""), zero, "");
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
                LLVMValueRef lg = gen_call(g, "llvm.nvvm.lg2.approx.f", g->cg.t_f32, &g->cg.t_f32, 1, &l);
                LLVMValueRef v = LLVMBuildFMul(B, LLVMBuildFAdd(B, mrow, lg, ""),
                                               gen_f32(g, 0.6931471805599453f), "");
                v = LLVMBuildSelect(B, pos, v, ninf, "");
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

/* The attention entry: the kernel and its launch bounds, then the skeleton. */
static bool build_attention(Gen *g)
{
    cg_ptx_declare(g, g->c->entry, g->NT, g->c->tile.min_ctas);
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
