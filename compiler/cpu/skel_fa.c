/* skel_fa.c: the CPU attention skeleton, FlashAttention-style, one work item = tile_m
 * query rows of one (b, h).
 *
 * Layout choice: query rows run across the vector lanes. Q is packed once per work item as
 * Q^T[Dk][tile_m] (f32, pre-scaled), so S^T = K Q^T is an outer-product micro-kernel that
 * broadcasts one K element and multiplies a vector of rows: K is read straight from the tensor
 * (no transpose), and the online-softmax statistics (max, sum) are per-lane vectors with no
 * horizontal reductions. O += P V broadcasts P and reads V rows as vectors over Dv.
 *
 * Per key tile of tile_n keys: skip it when the tile map says EMPTY; compute S^T for the valid
 * keys (score hook, then the mask only on PARTIAL tiles and the ragged last tile); update the
 * running max m and sum l in log2 units (exp2 everywhere, scale * log2(e) folded into Q); then
 * rescale O by alpha = exp2(m_old - m_new) and accumulate P V. At the end o = O / l (with the
 * sink in the denominator) and lse = ln 2 * (m + log2 l); a row that saw no key gets o = 0 and
 * lse = -inf, or lse = the sink when there is one (as air_reference defines it). */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* The documented blocking table (measured with tests/cpu_codegen/cpu_timing, bench/NOTES.md).
 * AVX-512 has 32 zmm registers: S^T in 4 keys x 4 row vectors = 16 accumulators (64 query
 * rows per work item), O in 4 rows x 4 vectors = 16. Each work item streams the head's K and V
 * once, so 64 rows halve that traffic against 32: with several heads K and V come from L3 or
 * DRAM, and 64 rows measured 70% -> 80% of sgemm (f32, L 2048, 8 heads, one thread) where 32
 * rows (Q^T in L1) had won on a single head (bench/NOTES.md, "CPU kernel").
 * AVX2 has 16 ymm registers: 4 keys x 3 row vectors = 12 (24 rows), O in 6 rows x 2 = 12.
 * Key tiles are 64 keys either way (the granularity of the tile map). */
CpuShape cg_cpu_fa_shape(int lanes)
{
    if (lanes == 16) return (CpuShape){16, 64, 64, 4, 4, 4};
    return (CpuShape){8, 24, 64, 4, 6, 2};
}

/* ---- entry: tensors, scale, buffers, Q^T --------------------------------------------------- */

static bool setup(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    k->qblock = cg_cpu_item_entry(k, plan);

    LLVMValueRef lq = cg_abi_tensor_shape(cg, k->args, ak->tq, 2);
    k->lk = cg_abi_tensor_shape(cg, k->args, ak->tk, 2);
    LLVMValueRef hq = cg_abi_tensor_shape(cg, k->args, ak->tq, 1);
    LLVMValueRef hkv = cg_abi_tensor_shape(cg, k->args, ak->tk, 1);
    LLVMValueRef group = LLVMBuildSDiv(k->b, hq, cg_smax(cg, hkv, i64c(k, 1)), "");
    LLVMValueRef hk = LLVMBuildSDiv(k->b, k->hi, cg_smax(cg, group, i64c(k, 1)), "hk");
    k->row0 = mul(k, k->qblock, i64c(k, k->s.tile_m));
    k->nrows = min64(k, i64c(k, k->s.tile_m), LLVMBuildSub(k->b, lq, k->row0, ""));
    LLVMValueRef qoff = cg_abi_field(cg, k->args, offsetof(AbiArgs, q_offset), cg->t_i64);

    if (!cg_hook_env_init(&k->env, cg, ak, k->env.target, k->N)) return false;
    cg_hook_preload(&k->env, k->args);
    k->env.idx[IX_B] = LLVMBuildTrunc(k->b, k->bi, cg->t_i32, "");
    k->env.idx[IX_H] = LLVMBuildTrunc(k->b, k->hi, cg->t_i32, "");
    if (!(k->scale = cg_cpu_scale(k))) return false;
    k->score_mode = ak->hook[HOOK_SCORE] < 0 ? 0 : cg_cpu_uses_op(cg, ak, ak->hook[HOOK_SCORE], OP_QK) ? 2 : 1;
    LLVMValueRef qscale = k->score_mode == 0 ? LLVMBuildFMul(k->b, k->scale, cg_f32(cg, M_LOG2E, 1), "")
                        : k->score_mode == 1 ? k->scale : cg_f32(cg, 1.0, 1);

    int tm = k->s.tile_m, tn = k->s.tile_n;
    k->Qt = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)k->dk * tm, 64);
    k->S = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)tn * tm, 64);
    k->O = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)tm * k->dvp, 64);
    k->M = cg_alloca(cg, k->fn, cg->t_f32, tm, 64);
    k->L = cg_alloca(cg, k->fn, cg->t_f32, tm, 64);
    k->ALPHA = cg_alloca(cg, k->fn, cg->t_f32, tm, 64);
    k->k_direct = ak->tensors[ak->tk].dtype == DT_F32;
    k->v_direct = ak->tensors[ak->tv].dtype == DT_F32 && k->dv % k->N == 0;
    if (!k->k_direct) k->Kp = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)tn * k->dk, 64);
    if (!k->v_direct) k->Vp = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)tn * k->dvp, 64);
    k->kbase = cg_cpu_head_base(k, ak->tk, hk, &k->ks);
    k->vbase = cg_cpu_head_base(k, ak->tv, hk, &k->vs);

    /* Work items past the end (a launch rounding up) do nothing. */
    LLVMBasicBlockRef work = cg_block(cg, "work"), done = cg_block(cg, "done");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSGT, k->nrows, i64c(k, 0), ""), work, done);
    LLVMPositionBuilderAtEnd(k->b, done);
    LLVMBuildRetVoid(k->b);
    LLVMPositionBuilderAtEnd(k->b, work);

    LLVMValueRef zero8 = LLVMConstInt(cg->t_i8, 0, 0);
    LLVMBuildMemSet(k->b, k->Qt, zero8, i64c(k, (int64_t)k->dk * tm * 4), 64);
    LLVMBuildMemSet(k->b, k->O, zero8, i64c(k, (int64_t)tm * k->dvp * 4), 64);
    LLVMBuildMemSet(k->b, k->S, zero8, i64c(k, (int64_t)tn * tm * 4), 64);
    k->qpos0 = LLVMBuildTrunc(k->b, add(k, qoff, k->row0), cg->t_i32, "");
    for (int c = 0; c < k->CM; c++) {
        vstore(k, cg_f32(cg, -INFINITY, k->N), k->M, i64c(k, c * k->N), 64);
        vstore(k, cg_f32(cg, 0.0, k->N), k->L, i64c(k, c * k->N), 64);
        LLVMValueRef pos = k->qpos0;
        k->ivec[c] = add(k, cg_splat(cg, pos, k->N),
                         add(k, cg_iota(cg, k->N), cg_i32(cg, c * k->N, k->N)));
    }

    /* Q^T[d][r] = q[row0 + r][d] * qscale for the valid rows (padding rows stay 0). */
    LLVMValueRef qs;
    LLVMValueRef qbase = cg_cpu_head_base(k, ak->tq, k->hi, &qs);
    AirDtype qdt = ak->tensors[ak->tq].dtype;
    CgLoop lr, ld;
    cg_loop_begin(cg, &lr, i64c(k, 0), k->nrows, i64c(k, 1), 0, NULL, "qrow");
    LLVMValueRef qrow = cg_gep(cg, cg_dtype_type(cg, qdt), qbase, mul(k, add(k, k->row0, lr.iv), qs));
    cg_loop_begin(cg, &ld, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), 0, NULL, "qd");
    LLVMValueRef x = cg_load_f32(cg, cg_gep(cg, cg_dtype_type(cg, qdt), qrow, ld.iv), qdt);
    LLVMBuildStore(k->b, LLVMBuildFMul(k->b, x, qscale, ""),
                   fptr(k, k->Qt, add(k, mul(k, ld.iv, i64c(k, tm)), lr.iv)));
    cg_loop_end(cg, &ld, NULL);
    cg_loop_end(cg, &lr, NULL);

    /* Row-major copy of the first rows for the few-rows path (skel_rows.c), zero padded. */
    k->Qr = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)CPU_ROWS_MAX * k->dkp, 64);
    LLVMBuildMemSet(k->b, k->Qr, zero8, i64c(k, (int64_t)CPU_ROWS_MAX * k->dkp * 4), 64);
    cg_loop_begin(cg, &lr, i64c(k, 0), min64(k, k->nrows, i64c(k, CPU_ROWS_MAX)), i64c(k, 1), 0, NULL, "qrow1");
    cg_loop_begin(cg, &ld, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), 0, NULL, "qd1");
    LLVMValueRef qv = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, k->Qt, add(k, mul(k, ld.iv, i64c(k, tm)), lr.iv)), "");
    LLVMBuildStore(k->b, qv, fptr(k, k->Qr, add(k, mul(k, lr.iv, i64c(k, k->dkp)), ld.iv)));
    cg_loop_end(cg, &ld, NULL);
    cg_loop_end(cg, &lr, NULL);
    return true;
}

/* ---- one key tile ------------------------------------------------------------------------------ */

/* Packs rows [0, nvalid) of a K or V tile as f32 rows of `width` floats (zero past `cols`). */
static void pack_rows(Skel *k, int t, LLVMValueRef base, LLVMValueRef rs, LLVMValueRef n0,
                      LLVMValueRef nvalid, LLVMValueRef dst, int cols, int width)
{
    CgLlvm *cg = k->cg;
    AirDtype dt = k->k->tensors[t].dtype;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    CgLoop ln, ld;
    cg_loop_begin(cg, &ln, i64c(k, 0), nvalid, i64c(k, 1), 0, NULL, "pack");
    LLVMValueRef src = cg_gep(cg, et, base, mul(k, add(k, n0, ln.iv), rs));
    LLVMValueRef drow = mul(k, ln.iv, i64c(k, width));
    cg_loop_begin(cg, &ld, i64c(k, 0), i64c(k, width), i64c(k, 1), 0, NULL, "packd");
    LLVMValueRef x = cg_load_f32(cg, cg_gep(cg, et, src, min64(k, ld.iv, i64c(k, cols - 1))), dt);
    LLVMValueRef in = LLVMBuildICmp(k->b, LLVMIntSLT, ld.iv, i64c(k, cols), "");
    x = LLVMBuildSelect(k->b, in, x, cg_f32(cg, 0.0, 1), "");
    LLVMBuildStore(k->b, x, fptr(k, dst, add(k, drow, ld.iv)));
    cg_loop_end(cg, &ld, NULL);
    cg_loop_end(cg, &ln, NULL);
}

/* S^T for keys [n0, n0 + nkb * qk_keys) into S (row n of S = key n0 + n, lanes = queries),
 * for the first CM row vectors (fewer when the work item has few rows: decode). */
static bool tile_scores(Skel *k, LLVMValueRef n0, LLVMValueRef nvalid, LLVMValueRef nkb,
                        LLVMValueRef need_mask, int CM)
{
    CgLlvm *cg = k->cg;
    int R = k->s.qk_keys, N = k->N, tm = k->s.tile_m;
    CgLoop lb, ld;
    cg_loop_begin(cg, &lb, i64c(k, 0), nkb, i64c(k, 1), 0, NULL, "kb");
    LLVMValueRef krow[8];
    for (int r = 0; r < R; r++) {
        LLVMValueRef nl = min64(k, add(k, mul(k, lb.iv, i64c(k, R)), i64c(k, r)),
                                LLVMBuildSub(k->b, nvalid, i64c(k, 1), ""));
        krow[r] = k->k_direct ? cg_gep(cg, cg->t_f32, k->kbase, mul(k, add(k, n0, nl), k->ks))
                              : fptr(k, k->Kp, mul(k, nl, i64c(k, k->dk)));
    }
    LLVMValueRef init[64];
    for (int a = 0; a < R * CM; a++) init[a] = cg_f32(cg, 0.0, N);
    cg_loop_begin(cg, &ld, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), R * CM, init, "qk");
    LLVMValueRef qv[16], next[64];
    for (int c = 0; c < CM; c++)
        qv[c] = vload(k, k->Qt, add(k, mul(k, ld.iv, i64c(k, tm)), i64c(k, c * N)), 64);
    for (int r = 0; r < R; r++) {
        LLVMValueRef kv = cg_splat(cg, LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, krow[r], ld.iv), ""), N);
        for (int c = 0; c < CM; c++)
            next[r * CM + c] = cg_fma(cg, kv, qv[c], ld.carried[r * CM + c]);
    }
    cg_loop_end(cg, &ld, next);

    LLVMValueRef s2[64], sm[64];
    LLVMValueRef jv[8];
    for (int r = 0; r < R; r++) {
        LLVMValueRef j64 = add(k, n0, add(k, mul(k, lb.iv, i64c(k, R)), i64c(k, r)));
        jv[r] = LLVMBuildTrunc(k->b, j64, cg->t_i32, "j");
        for (int c = 0; c < CM; c++)
            if (!(s2[r * CM + c] = cg_cpu_logit(k, ld.carried[r * CM + c], k->ivec[c], jv[r]))) return false;
    }
    LLVMBasicBlockRef from = LLVMGetInsertBlock(k->b);
    LLVMBasicBlockRef mb = cg_block(cg, "masked"), join = cg_block(cg, "scored");
    LLVMBuildCondBr(k->b, need_mask, mb, join);
    LLVMPositionBuilderAtEnd(k->b, mb);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CM; c++) {
            LLVMValueRef vis = cg_cpu_visible(k, k->ivec[c], jv[r]);
            if (!vis) return false;
            sm[r * CM + c] = LLVMBuildSelect(k->b, vis, s2[r * CM + c], cg_f32(cg, -INFINITY, N), "");
        }
    LLVMBasicBlockRef mend = LLVMGetInsertBlock(k->b);
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, join);
    LLVMValueRef phis[64];
    for (int a = 0; a < R * CM; a++) {
        phis[a] = LLVMBuildPhi(k->b, k->vf, "s");
        LLVMValueRef vals[2] = {s2[a], sm[a]};
        LLVMBasicBlockRef bbs[2] = {from, mend};
        LLVMAddIncoming(phis[a], vals, bbs, 2);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CM; c++) {
            LLVMValueRef n = add(k, mul(k, lb.iv, i64c(k, R)), i64c(k, r));
            vstore(k, phis[r * CM + c], k->S, add(k, mul(k, n, i64c(k, tm)), i64c(k, c * N)), 64);
        }
    cg_loop_end(cg, &lb, NULL);
    return true;
}

/* Online softmax over the tile's S rows [0, nk): P overwrites S, alpha goes to ALPHA. */
static void tile_softmax(Skel *k, LLVMValueRef nk)
{
    CgLlvm *cg = k->cg;
    int CM = k->CM, N = k->N, tm = k->s.tile_m;
    LLVMValueRef init[16], next[16], msafe[16], alpha[16];
    CgSoftmax sm = cg_cpu_softmax(k);
    for (int c = 0; c < CM; c++) init[c] = cg_f32(cg, -INFINITY, N);
    CgLoop lm;
    cg_loop_begin(cg, &lm, i64c(k, 0), nk, i64c(k, 1), CM, init, "max");
    for (int c = 0; c < CM; c++)
        next[c] = cg_fmaximum(cg, lm.carried[c],
                          vload(k, k->S, add(k, mul(k, lm.iv, i64c(k, tm)), i64c(k, c * N)), 64));
    cg_loop_end(cg, &lm, next);
    for (int c = 0; c < CM; c++) {
        LLVMValueRef mold = vload(k, k->M, i64c(k, c * N), 64), mnew;
        msafe[c] = cg_softmax_base(&sm, mold, lm.carried[c], &mnew);
        alpha[c] = cg_exp2(cg, LLVMBuildFSub(k->b, mold, msafe[c], ""));
        vstore(k, mnew, k->M, i64c(k, c * N), 64);
        vstore(k, alpha[c], k->ALPHA, i64c(k, c * N), 64);
        init[c] = cg_f32(cg, 0.0, N);
    }
    CgLoop le;
    cg_loop_begin(cg, &le, i64c(k, 0), nk, i64c(k, 1), CM, init, "exp");
    for (int c = 0; c < CM; c++) {
        LLVMValueRef at = add(k, mul(k, le.iv, i64c(k, tm)), i64c(k, c * N));
        LLVMValueRef p = cg_exp2(cg, LLVMBuildFSub(k->b, vload(k, k->S, at, 64), msafe[c], ""));
        vstore(k, p, k->S, at, 64);
        next[c] = LLVMBuildFAdd(k->b, le.carried[c], p, "");
    }
    cg_loop_end(cg, &le, next);
    for (int c = 0; c < CM; c++) {
        LLVMValueRef l = vload(k, k->L, i64c(k, c * N), 64);
        vstore(k, cg_fma(cg, l, alpha[c], le.carried[c]), k->L, i64c(k, c * N), 64);
    }
}

/* O[rows] = O[rows] * alpha + P^T V over keys [0, nvalid), in pv_rows x pv_vecs blocks.
 * `masked`: the tile's mask ran, so a p of 0 may stand for a masked key whose v must not reach
 * the row (cg_cpu_pv_fma); a FULL tile takes the plain FMAs. */
static void tile_pv(Skel *k, LLVMValueRef n0, LLVMValueRef nvalid, bool masked)
{
    CgLlvm *cg = k->cg;
    int N = k->N, tm = k->s.tile_m, RP = k->s.pv_rows, nvec = k->dvp / N;
    /* Only the row blocks that hold valid rows (all of them but for the last work item or
     * decode). */
    LLVMValueRef nrb = LLVMBuildSDiv(k->b, add(k, k->nrows, i64c(k, RP - 1)), i64c(k, RP), "");
    CgLoop lr;
    cg_loop_begin(cg, &lr, i64c(k, 0), nrb, i64c(k, 1), 0, NULL, "pvrow");
    LLVMValueRef r0 = mul(k, lr.iv, i64c(k, RP));
    for (int v0 = 0; v0 < nvec; v0 += k->s.pv_vecs) {
        int C = nvec - v0 < k->s.pv_vecs ? nvec - v0 : k->s.pv_vecs;
        LLVMValueRef init[64], next[64], at[64];
        for (int r = 0; r < RP; r++) {
            LLVMValueRef row = add(k, r0, i64c(k, r));
            LLVMValueRef al = bcast(k, k->ALPHA, row);
            for (int c = 0; c < C; c++) {
                at[r * C + c] = add(k, mul(k, row, i64c(k, k->dvp)), i64c(k, (v0 + c) * N));
                init[r * C + c] = LLVMBuildFMul(k->b, vload(k, k->O, at[r * C + c], 64), al, "");
            }
        }
        CgLoop ln;
        cg_loop_begin(cg, &ln, i64c(k, 0), nvalid, i64c(k, 1), RP * C, init, "pv");
        LLVMValueRef vrow = k->v_direct
            ? cg_gep(cg, cg->t_f32, k->vbase, mul(k, add(k, n0, ln.iv), k->vs))
            : fptr(k, k->Vp, mul(k, ln.iv, i64c(k, k->dvp)));
        LLVMValueRef vv[16];
        for (int c = 0; c < C; c++)
            vv[c] = vload(k, vrow, i64c(k, (v0 + c) * N), k->v_direct ? 4 : 64);
        for (int r = 0; r < RP; r++) {
            LLVMValueRef p = bcast(k, k->S, add(k, mul(k, ln.iv, i64c(k, tm)), add(k, r0, i64c(k, r))));
            for (int c = 0; c < C; c++)
                next[r * C + c] = masked ? cg_cpu_pv_fma(k, p, vv[c], ln.carried[r * C + c])
                                         : cg_fma(cg, p, vv[c], ln.carried[r * C + c]);
        }
        cg_loop_end(cg, &ln, next);
        for (int a = 0; a < RP * C; a++) vstore(k, ln.carried[a], k->O, at[a], 64);
    }
    cg_loop_end(cg, &lr, NULL);
}

static bool key_tiles(Skel *k)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    int tn = k->s.tile_n, R = k->s.qk_keys;
    LLVMValueRef ntiles = LLVMBuildSDiv(k->b, add(k, k->lk, i64c(k, tn - 1)), i64c(k, tn), "");
    LLVMValueRef tiles = cg_abi_field(cg, k->args, offsetof(AbiArgs, tiles), cg->t_ptr);
    LLVMValueRef tbase = add(k, add(k, mul(k, k->bi, cg_abi_field(cg, k->args, offsetof(AbiArgs, tile_sb), cg->t_i64)),
                                    mul(k, k->hi, cg_abi_field(cg, k->args, offsetof(AbiArgs, tile_sh), cg->t_i64))),
                             mul(k, k->qblock, cg_abi_field(cg, k->args, offsetof(AbiArgs, tile_sq), cg->t_i64)));
    LLVMValueRef has_map = LLVMBuildIsNotNull(k->b, tiles, "");
    CgLoop lt;
    cg_loop_begin(cg, &lt, i64c(k, 0), ntiles, i64c(k, 1), 0, NULL, "ktile");
    /* The tile class: read only when there is a map (NULL = every tile PARTIAL). */
    LLVMBasicBlockRef pre = cg_cpu_tile_map_begin(k, has_map);
    LLVMValueRef cls8 = LLVMBuildLoad2(k->b, cg->t_i8, cg_gep(cg, cg->t_i8, tiles, add(k, tbase, lt.iv)), "");
    LLVMBasicBlockRef skip;
    LLVMValueRef n0, nvalid, need_mask;
    cg_cpu_tile_enter(k, pre, cls8, lt.iv, &skip, &n0, &nvalid, &need_mask);
    LLVMBasicBlockRef rows = cg_block(cg, "fewrows"), wide = cg_block(cg, "rowvectors");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSLE, k->nrows, i64c(k, CPU_ROWS_MAX), ""), rows, wide);
    LLVMPositionBuilderAtEnd(k->b, rows);
    if (!cg_cpu_rows_tile(k, n0, nvalid, need_mask)) return false;
    LLVMBuildBr(k->b, skip);
    LLVMPositionBuilderAtEnd(k->b, wide);
    if (!k->k_direct) pack_rows(k, ak->tk, k->kbase, k->ks, n0, nvalid, k->Kp, k->dk, k->dk);
    if (!k->v_direct) pack_rows(k, ak->tv, k->vbase, k->vs, n0, nvalid, k->Vp, k->dv, k->dvp);
    LLVMValueRef nkb = LLVMBuildSDiv(k->b, add(k, nvalid, i64c(k, R - 1)), i64c(k, R), "");
    if (k->CM > 1) {
        /* A work item with at most one vector of rows (decode, the last block) computes only
         * that vector; the other rows of S keep the zeros of the entry and are never used. */
        LLVMBasicBlockRef one = cg_block(cg, "qk1"), all = cg_block(cg, "qkall"), join = cg_block(cg, "qkdone");
        LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSLE, k->nrows, i64c(k, k->N), ""), one, all);
        LLVMPositionBuilderAtEnd(k->b, one);
        if (!tile_scores(k, n0, nvalid, nkb, need_mask, 1)) return false;
        LLVMBuildBr(k->b, join);
        LLVMPositionBuilderAtEnd(k->b, all);
        if (!tile_scores(k, n0, nvalid, nkb, need_mask, k->CM)) return false;
        LLVMBuildBr(k->b, join);
        LLVMPositionBuilderAtEnd(k->b, join);
    } else if (!tile_scores(k, n0, nvalid, nkb, need_mask, 1)) {
        return false;
    }
    tile_softmax(k, mul(k, nkb, i64c(k, R)));
    LLVMBasicBlockRef pvm = cg_block(cg, "pvmasked"), pvf = cg_block(cg, "pvfull");
    LLVMBuildCondBr(k->b, need_mask, pvm, pvf);
    LLVMPositionBuilderAtEnd(k->b, pvm);
    tile_pv(k, n0, nvalid, true);
    LLVMBuildBr(k->b, skip);
    LLVMPositionBuilderAtEnd(k->b, pvf);
    tile_pv(k, n0, nvalid, false);
    LLVMBuildBr(k->b, skip);
    LLVMPositionBuilderAtEnd(k->b, skip);
    cg_loop_end(cg, &lt, NULL);
    return true;
}

/* ---- epilogue: o = O / l, lse ------------------------------------------------------------------- */

static bool finish(Skel *k)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    int CM = k->CM, N = k->N, tm = k->s.tile_m;
    LLVMValueRef INV = cg_alloca(cg, k->fn, cg->t_f32, tm, 64);
    LLVMValueRef LSE = cg_alloca(cg, k->fn, cg->t_f32, tm, 64);
    for (int c = 0; c < CM; c++) {
        LLVMValueRef m = vload(k, k->M, i64c(k, c * N), 64), l = vload(k, k->L, i64c(k, c * N), 64);
        LLVMValueRef has, inv, lse2;
        CgSoftmax sm = cg_cpu_softmax(k);
        if (ak->hook[HOOK_SINK] >= 0) {
            k->env.idx[IX_I] = k->ivec[c];
            k->env.idx[IX_J] = NULL;
            k->env.score = k->env.qk = NULL;
            LLVMValueRef sk = cg_hook_emit(&k->env, ak->hook[HOOK_SINK]);
            if (!sk) return false;
            sk = LLVMBuildFMul(k->b, sk, cg_f32(cg, M_LOG2E, N), "");
            /* A row that saw no key still has the sink: o = 0 and lse = the sink. */
            LLVMValueRef mx, lt, base;
            LLVMValueRef f = cg_softmax_fold(&sm, m, l, sk, &mx, &lt, &base);
            has = cg_softmax_final(&sm, base, lt, f, &inv, &lse2);
        } else {
            has = cg_softmax_final(&sm, m, l, cg_f32(cg, 1.0, N), &inv, &lse2);
        }
        vstore(k, LLVMBuildSelect(k->b, has, inv, cg_f32(cg, 0.0, N), ""), INV, i64c(k, c * N), 64);
        LLVMValueRef lse = LLVMBuildFMul(k->b, lse2, cg_f32(cg, M_LN2, N), "");
        vstore(k, LLVMBuildSelect(k->b, has, lse, cg_f32(cg, -INFINITY, N), ""), LSE, i64c(k, c * N), 64);
    }
    LLVMValueRef os, ls = NULL, lbase = NULL;
    LLVMValueRef obase = cg_cpu_head_base(k, ak->to, k->hi, &os);
    AirDtype odt = ak->tensors[ak->to].dtype;
    LLVMTypeRef oet = cg_dtype_type(cg, odt);
    if (ak->tlse >= 0) lbase = cg_cpu_head_base(k, ak->tlse, k->hi, NULL), ls = cg_abi_tensor_stride(cg, k->args, ak->tlse, 2);
    CgLoop lr;
    cg_loop_begin(cg, &lr, i64c(k, 0), k->nrows, i64c(k, 1), 0, NULL, "out");
    LLVMValueRef orow = cg_gep(cg, oet, obase, mul(k, add(k, k->row0, lr.iv), os));
    LLVMValueRef inv = bcast(k, INV, lr.iv);
    for (int d = 0; d < k->dv; d += N) {
        LLVMValueRef o = LLVMBuildFMul(k->b, vload(k, k->O, add(k, mul(k, lr.iv, i64c(k, k->dvp)), i64c(k, d)), 64),
                                       inv, "");
        if (d + N <= k->dv) {
            cg_store_from_f32(cg, o, cg_gep(cg, oet, orow, i64c(k, d)), odt);
        } else {
            for (int e = d; e < k->dv; e++)
                cg_store_from_f32(cg, LLVMBuildExtractElement(k->b, o, cg_i32(cg, e - d, 1), ""),
                                  cg_gep(cg, oet, orow, i64c(k, e)), odt);
        }
    }
    if (lbase) {
        LLVMValueRef v = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, LSE, lr.iv), "");
        LLVMBuildStore(k->b, v, fptr(k, lbase, mul(k, add(k, k->row0, lr.iv), ls)));
    }
    cg_loop_end(cg, &lr, NULL);
    LLVMBuildRetVoid(k->b);
    return true;
}

static bool build_fa(Skel *k, const KernelPlan *plan)
{
    return setup(k, plan) && key_tiles(k) && finish(k);
}

bool cg_cpu_fa_plan(const AirKernel *k, KernelPlan *p, Diags *d)
{
    CpuShape s = cg_cpu_fa_shape(p->t.cpu.vector_width);
    const char *entry = arena_printf(d->arena, "attn_%s", k->name);
    const char *group = entry ? arena_printf(d->arena, "%s_kvgroup", entry) : NULL;
    p->skeleton = SKEL_FA;
    p->tile_m = s.tile_m;
    p->tile_n = s.tile_n;
    p->work[p->nwork++] = (PlanWork){WORK_SPLIT_PARTS, ROLE_KVGROUP};
    return plan_add_entry(p, (PlanEntry){entry, ROLE_ATTENTION, 1, 0, 0, 0}) &&
           plan_add_entry(p, (PlanEntry){group, ROLE_KVGROUP, 1, 0, CPU_GROUP_ROWS, CPU_ROWS_MAX});
}

int cg_cpu_fa_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES])
{
    int n = 0;
    entries[n++] = build_fa;
    if (plan_entry(plan, ROLE_KVGROUP)) entries[n++] = cg_cpu_group_build;
    return n;
}
