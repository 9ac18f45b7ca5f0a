/* skel_fa_pv_guard.c: the FlashAttention-2 skeleton's O += P V on a key tile that the mask cuts,
 * when a V element of the tile is NaN or Inf (docs/language.md section 14: a masked key takes
 * no part, whatever its v holds).
 *
 * A masked key has p = 0, but the tensor cores compute 0 x NaN = NaN and 0 x Inf = NaN, so a
 * NaN in a causal row's future key (or in an unwritten cache past a length) would reach every
 * row of its tile. On the tiles that need the mask, each warp first scans the tile's V in
 * shared memory for an exponent of all ones (a few integer ops a word), before S = Q K^T, where
 * fewer registers are live. Only when it finds one does it take the guarded path, which keeps
 * O and P in a local array so that the common path keeps its registers:
 *   1. for each key j, each of the thread's O elements (r, d) with p[r][j] != 0 and v[j][d] NaN
 *      or Inf gets p v added now (so O becomes the NaN or infinity that IEEE arithmetic gives);
 *   2. the product runs on mma.sync with V's fragments sanitised (NaN and Inf to 0), so that the
 *      finite part adds to the rows exactly as before and the non-finite part never meets a 0.
 * On sm_90a the wgmma of a warpgroup is issued by its four warps together, so there the scan
 * runs on the warpgroup's condition (f->need_v, the same in its four warps) and the four warps
 * reach the same decision from the same data without a barrier. */
#include "skel_fa.h"

/* Byte offset in shared memory of V[j][d] (key j of the tile, even column d; both i32). */
static LLVMValueRef v_off(Fa *f, LLVMValueRef j, LLVMValueRef d)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef base = gen_add(g, f->so, gen_i32(g, g->voff));
    if (!g->swz)
        return gen_add(g, base, gen_add(g, LLVMBuildMul(B, j, gen_i32(g, g->VS), ""),
                                        LLVMBuildShl(B, d, gen_i32(g, 1), "")));
    /* 64-column chunk d / 64, row j of 128 bytes, 16-byte unit (d / 8 % 8) ^ (j % 8) */
    LLVMValueRef u = LLVMBuildXor(B, LLVMBuildAnd(B, LLVMBuildLShr(B, d, gen_i32(g, 3), ""), gen_i32(g, 7), ""),
                                  LLVMBuildAnd(B, j, gen_i32(g, 7), ""), "");
    LLVMValueRef off = gen_add(g, LLVMBuildMul(B, LLVMBuildLShr(B, d, gen_i32(g, 6), ""), gen_i32(g, g->BN * 128), ""),
                               LLVMBuildShl(B, j, gen_i32(g, 7), ""));
    off = gen_add(g, off, gen_add(g, LLVMBuildShl(B, u, gen_i32(g, 4), ""),
                                  LLVMBuildShl(B, LLVMBuildAnd(B, d, gen_i32(g, 7), ""), gen_i32(g, 1), "")));
    return gen_add(g, base, off);
}

/* The exponent bits of both halves of a word of two bf16 or f16 values. */
static uint32_t exp_bits(Gen *g) { return g->c->dtype == DT_BF16 ? 0x7f807f80u : 0x7c007c00u; }

/* Whether one of the tile's V elements is NaN or Inf, the same answer in every lane. Lane l
 * scans keys l, l + 32, ...; a half is non-finite when its exponent bits are all ones, i.e. when
 * its half of (w & E) ^ E is 0 (the "has a zero half" test, exact for "any"). */
static LLVMValueRef v_has_nonfinite(Fa *f)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    int nch = (g->c->dv + 7) / 8;   /* 16-byte units a key, within Dv */
    LLVMValueRef E = gen_i32(g, (int32_t)exp_bits(g));
    LLVMValueRef init = gen_i32(g, 0);
    CgLoop lp;
    cg_loop_begin(&g->cg, &lp, gen_i64(g, 0), gen_i64(g, (int64_t)(g->BN / 32) * nch), gen_i64(g, 1), 1,
                  &init, "vscan");
    LLVMValueRef idx = LLVMBuildTrunc(B, lp.iv, g->cg.t_i32, "");
    LLVMValueRef q = LLVMBuildUDiv(B, idx, gen_i32(g, nch), "");
    LLVMValueRef u = LLVMBuildURem(B, idx, gen_i32(g, nch), "");
    LLVMValueRef j = gen_add(g, f->t.lane, LLVMBuildShl(B, q, gen_i32(g, 5), ""));
    LLVMTypeRef v4 = LLVMVectorType(g->cg.t_i32, 4);
    LLVMValueRef w4 = LLVMBuildLoad2(B, v4, gen_smem(g, v_off(f, j, LLVMBuildShl(B, u, gen_i32(g, 3), ""))), "");
    LLVMSetAlignment(w4, 16);
    LLVMValueRef acc = lp.carried[0];
    for (int e = 0; e < 4; e++) {
        LLVMValueRef w = LLVMBuildExtractElement(B, w4, gen_i32(g, e), "");
        LLVMValueRef z = LLVMBuildXor(B, LLVMBuildAnd(B, w, E, ""), E, "");
        LLVMValueRef t = LLVMBuildAnd(B, LLVMBuildSub(B, z, gen_i32(g, 0x00010001), ""), LLVMBuildNot(B, z, ""), "");
        acc = LLVMBuildOr(B, acc, LLVMBuildAnd(B, t, gen_i32(g, (int32_t)0x80008000u), ""), "");
    }
    cg_loop_end(&g->cg, &lp, &acc);
    LLVMTypeRef ts[2] = {g->cg.t_i32, g->cg.t_i1};
    LLVMValueRef a[2] = {gen_i32(g, -1), LLVMBuildICmp(B, LLVMIntNE, lp.carried[0], gen_i32(g, 0), "")};
    return gen_call(g, "llvm.nvvm.vote.any.sync", g->cg.t_i1, ts, 2, a);
}

/* Half `hi` (i1) of a word of two bf16 or f16 values, as f32. */
static LLVMValueRef half_to_f32(Gen *g, LLVMValueRef w, LLVMValueRef hi)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef h = LLVMBuildSelect(B, hi, LLVMBuildLShr(B, w, gen_i32(g, 16), ""),
                                     LLVMBuildAnd(B, w, gen_i32(g, 0xffff), ""), "");
    if (g->c->dtype == DT_BF16) return LLVMBuildBitCast(B, LLVMBuildShl(B, h, gen_i32(g, 16), ""), g->cg.t_f32, "");
    LLVMValueRef h16 = LLVMBuildBitCast(B, LLVMBuildTrunc(B, h, LLVMInt16TypeInContext(g->cg.ctx), ""),
                                        LLVMHalfTypeInContext(g->cg.ctx), "");
    return LLVMBuildFPExt(B, h16, g->cg.t_f32, "");
}

/* Whether half `hi` (compile-time) of word w is NaN or Inf. */
static LLVMValueRef half_nonfinite(Gen *g, LLVMValueRef w, int hi)
{
    uint32_t e = exp_bits(g) & (hi ? 0xffff0000u : 0xffffu);
    LLVMValueRef E = gen_i32(g, (int32_t)e);
    return LLVMBuildICmp(g->cg.b, LLVMIntEQ, LLVMBuildAnd(g->cg.b, w, E, ""), E, "");
}

/* A word of two halves with NaN and Inf replaced by 0. */
static LLVMValueRef sanitise(Gen *g, LLVMValueRef w)
{
    LLVMBuilderRef B = g->cg.b;
    w = LLVMBuildSelect(B, half_nonfinite(g, w, 0), LLVMBuildAnd(B, w, gen_i32(g, (int32_t)0xffff0000u), ""), w, "");
    return LLVMBuildSelect(B, half_nonfinite(g, w, 1), LLVMBuildAnd(B, w, gen_i32(g, 0xffff), ""), w, "");
}

/* The guarded path keeps O and P in a local array (volatile, so that ptxas keeps it in memory):
 * the path is rare, and this way it needs few registers and the common path keeps its own. */
static LLVMValueRef loc_get(Fa *f, LLVMValueRef arr, LLVMTypeRef ty, LLVMValueRef i)
{
    LLVMValueRef v = LLVMBuildLoad2(f->g->cg.b, ty, cg_gep(&f->g->cg, ty, arr, i), "");
    LLVMSetVolatile(v, 1);
    return v;
}

static void loc_put(Fa *f, LLVMValueRef arr, LLVMValueRef i, LLVMValueRef v)
{
    LLVMSetVolatile(LLVMBuildStore(f->g->cg.b, v, cg_gep(&f->g->cg, LLVMTypeOf(v), arr, i)), 1);
}

/* P's word for row (mt, half) and key tile nt (runtime i32), from the local copy of this
 * thread's A fragments (pw[(mt * NN / 2 + kk) * 4 + r] = pa[mt][kk].v[r]). */
static LLVMValueRef p_word(Fa *f, LLVMValueRef pw, int mt, int half, LLVMValueRef nt)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef kk = LLVMBuildLShr(B, nt, gen_i32(g, 1), "");
    LLVMValueRef r = gen_add(g, LLVMBuildShl(B, LLVMBuildAnd(B, nt, gen_i32(g, 1), ""), gen_i32(g, 1), ""), gen_i32(g, half));
    LLVMValueRef i = gen_add(g, LLVMBuildShl(B, gen_add(g, gen_i32(g, mt * (f->NN / 2)), kk), gen_i32(g, 2), ""), r);
    return loc_get(f, pw, g->cg.t_i32, i);
}

/* 1. O[r][d] += p[r][j] v[j][d] where v[j][d] is NaN or Inf and p[r][j] != 0, key by key. */
static void add_nonfinite(Fa *f, LLVMValueRef arr, LLVMValueRef pw)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, ND = f->ND;
    CgLoop lp;
    cg_loop_begin(&g->cg, &lp, gen_i64(g, 0), gen_i64(g, g->BN), gen_i64(g, 1), 0, NULL, "vfix");
    LLVMValueRef j = LLVMBuildTrunc(B, lp.iv, g->cg.t_i32, "");
    LLVMValueRef nt = LLVMBuildLShr(B, j, gen_i32(g, 3), "");
    LLVMValueRef src = LLVMBuildOr(B, LLVMBuildAnd(B, f->t.lane, gen_i32(g, ~3), ""),
                                   LLVMBuildAnd(B, LLVMBuildLShr(B, j, gen_i32(g, 1), ""), gen_i32(g, 3), ""), "");
    LLVMValueRef hi = LLVMBuildTrunc(B, j, g->cg.t_i1, "");
    LLVMTypeRef ts[4] = {g->cg.t_i32, g->cg.t_i32, g->cg.t_i32, g->cg.t_i32};
    LLVMValueRef col0 = LLVMBuildShl(B, f->t.t4, gen_i32(g, 1), "");
    for (int mt = 0; mt < MT; mt++)
        for (int half = 0; half < 2; half++) {
            /* p[row][j] sits in lane (quad, (j / 2) % 4), half j % 2 of the word for key tile j / 8 */
            LLVMValueRef a[4] = {gen_i32(g, -1), p_word(f, pw, mt, half, nt), src, gen_i32(g, 31)};
            LLVMValueRef w = gen_call(g, "llvm.nvvm.shfl.sync.idx.i32", g->cg.t_i32, ts, 4, a);
            LLVMValueRef p = half_to_f32(g, w, hi);
            LLVMValueRef seen = LLVMBuildFCmp(B, LLVMRealONE, p, f->zero, "");
            for (int n = 0; n < ND; n++) {
                LLVMValueRef x2 = LLVMBuildLoad2(B, g->cg.t_i32, gen_smem(g, v_off(f, j, gen_add(g, col0, gen_i32(g, n * 8)))), "");
                for (int e = 0; e < 2; e++) {
                    LLVMValueRef at = gen_i32(g, (mt * ND + n) * 4 + half * 2 + e);
                    LLVMValueRef cur = loc_get(f, arr, g->cg.t_f32, at);
                    LLVMValueRef x = half_to_f32(g, x2, LLVMConstInt(g->cg.t_i1, (unsigned)e, 0));
                    LLVMValueRef take = LLVMBuildAnd(B, seen, half_nonfinite(g, x2, e), "");
                    loc_put(f, arr, at, LLVMBuildSelect(B, take, LLVMBuildFAdd(B, cur, LLVMBuildFMul(B, p, x, ""), ""), cur, ""));
                }
            }
        }
    cg_loop_end(&g->cg, &lp, NULL);
}

/* 2. O += P V on mma.sync, V's fragments sanitised, one 16-key step a loop iteration. */
static void pv_sanitised(Fa *f, LLVMValueRef arr, LLVMValueRef pw)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    int MT = f->MT, ND = f->ND;
    const Thread t = f->t;
    CgLoop lp;
    cg_loop_begin(&g->cg, &lp, gen_i64(g, 0), gen_i64(g, f->NN / 2), gen_i64(g, 1), 0, NULL, "vpv");
    LLVMValueRef kk = LLVMBuildTrunc(B, lp.iv, g->cg.t_i32, "");
    Frag pa[MAXM];
    for (int mt = 0; mt < MT; mt++)
        for (int r = 0; r < 4; r++)
            pa[mt].v[r] = loc_get(f, pw, g->cg.t_i32, gen_add(g, LLVMBuildShl(B, gen_add(g, gen_i32(g, mt * (f->NN / 2)), kk),
                                                                          gen_i32(g, 2), ""), gen_i32(g, r)));
    /* ldmatrix.trans matrices (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15), ... */
    LLVMValueRef l7 = LLVMBuildAnd(B, t.lane, gen_i32(g, 7), "");
    LLVMValueRef l3 = LLVMBuildAnd(B, LLVMBuildLShr(B, t.lane, gen_i32(g, 3), ""), gen_i32(g, 1), "");
    LLVMValueRef l4 = LLVMBuildLShr(B, t.lane, gen_i32(g, 4), "");
    LLVMValueRef key = gen_add(g, LLVMBuildShl(B, kk, gen_i32(g, 4), ""),
                               gen_add(g, l7, LLVMBuildShl(B, l3, gen_i32(g, 3), "")));
    for (int dp = 0; dp < ND / 2; dp++) {
        LLVMValueRef vf[4];
        LLVMValueRef d = gen_add(g, gen_i32(g, dp * 16), LLVMBuildShl(B, l4, gen_i32(g, 3), ""));
        cg_ptx_ldsm(g, v_off(f, key, d), true, vf);
        for (int r = 0; r < 4; r++) vf[r] = sanitise(g, vf[r]);
        for (int mt = 0; mt < MT; mt++)
            for (int h2 = 0; h2 < 2; h2++) {
                Frag acc;
                int i0 = (mt * ND + dp * 2 + h2) * 4;
                for (int e = 0; e < 4; e++) acc.v[e] = loc_get(f, arr, g->cg.t_f32, gen_i32(g, i0 + e));
                cg_ptx_mma(g, &pa[mt], vf[2 * h2], vf[2 * h2 + 1], &acc);
                for (int e = 0; e < 4; e++) loc_put(f, arr, gen_i32(g, i0 + e), acc.v[e]);
            }
    }
    cg_loop_end(&g->cg, &lp, NULL);
}

/* f->vbad: whether this tile needs the mask and its V holds a NaN or Inf, decided before
 * S = Q K^T, where fewer registers are live than at the product. */
void cg_ptx_fa_v_scan(Fa *f)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    f->so = cg_ptx_stage_off(g, f->kb);   /* the tile's stage (cg_ptx_fa_scores sets it again) */
    LLVMBasicBlockRef from = LLVMGetInsertBlock(B), scan = gen_block(g, "vscan.tile"), join = gen_block(g, "vscan.join");
    LLVMBuildCondBr(B, f->need_v, scan, join);
    LLVMPositionBuilderAtEnd(B, scan);
    LLVMValueRef bad = v_has_nonfinite(f);
    LLVMBasicBlockRef scan_end = LLVMGetInsertBlock(B);
    LLVMBuildBr(B, join);
    LLVMPositionBuilderAtEnd(B, join);
    f->vbad = LLVMBuildPhi(B, g->cg.t_i1, "vbad");
    LLVMValueRef vals[2] = {LLVMConstInt(g->cg.t_i1, 0, 0), bad};
    LLVMBasicBlockRef bbs[2] = {from, scan_end};
    LLVMAddIncoming(f->vbad, vals, bbs, 2);
}

/* Branches to `fast` (the plain product) unless f->vbad; then runs the guarded product from
 * f->on into o[] and ends in *guard_end with no terminator. */
bool cg_ptx_fa_pv_guard(Fa *f, LLVMBasicBlockRef fast, LLVMValueRef *o, LLVMBasicBlockRef *guard_end)
{
    Gen *g = f->g;
    LLVMBuilderRef B = g->cg.b;
    LLVMBasicBlockRef guard = gen_block(g, "vguard");
    LLVMBuildCondBr(B, f->vbad, guard, fast);
    LLVMPositionBuilderAtEnd(B, guard);
    LLVMValueRef arr = cg_alloca(&g->cg, g->fn, g->cg.t_f32, f->no, 16);
    LLVMValueRef pw = cg_alloca(&g->cg, g->fn, g->cg.t_i32, f->MT * (f->NN / 2) * 4, 16);
    for (int i = 0; i < f->no; i++) loc_put(f, arr, gen_i32(g, i), f->on[i]);
    for (int mt = 0; mt < f->MT; mt++)
        for (int kk = 0; kk < f->NN / 2; kk++)
            for (int r = 0; r < 4; r++) loc_put(f, pw, gen_i32(g, (mt * (f->NN / 2) + kk) * 4 + r), f->pa[mt][kk].v[r]);
    add_nonfinite(f, arr, pw);
    pv_sanitised(f, arr, pw);
    for (int i = 0; i < f->no; i++) o[i] = loc_get(f, arr, g->cg.t_f32, gen_i32(g, i));
    *guard_end = LLVMGetInsertBlock(B);
    return true;
}
