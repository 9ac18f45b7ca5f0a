/* skel_rows.c: the key tile for work items with very few query rows (decode: Lq = 1, small
 * speculative chunks). The main skeleton puts query rows across the lanes, which wastes all but
 * nrows lanes of every FMA when there are few rows; here each row is processed in turn with the
 * lanes over Dk for q . k (one vector FMA chain per key, then a tree reduction), over keys for
 * the softmax and the hooks, and over Dv for P V. The K and V tile stays in cache between the
 * rows, so K and V are read from memory once per work item, and the FMA work per key is
 * Dk / lanes + Dv / lanes vector FMAs per row: little enough for decode to be bound by memory.
 *
 * K and V are read in their own dtype (no per-tile conversion pass, which would cost as much as
 * the math here). The online-softmax state is the main skeleton's (M, L, O rows), so
 * skel_fa.c's epilogue finishes the rows unchanged. */
#include "cpu.h"

#include <math.h>

static LLVMValueRef reduce(Skel *k, const char *name, LLVMValueRef v)
{
    LLVMValueRef call;
    if (!strcmp(name, "llvm.vector.reduce.fadd")) {
        LLVMValueRef args[2] = {cg_f32(k->cg, -0.0, 1), v};
        LLVMTypeRef t = LLVMTypeOf(v);
        call = cg_intrin(k->cg, name, &t, 1, args, 2);
        /* Reassociation lets LLVM sum as a tree (shuffles) instead of a serial chain. */
        LLVMSetFastMathFlags(call, LLVMFastMathAllowReassoc);
    } else {
        call = cg_intrin1(k->cg, name, &v, 1);
    }
    return call;
}

/* One vector of `lanes` f32 from element d0 of a row of `len` elements of dtype dt, converted
 * to f32: a masked load for the ragged last vector (zeros past the row's end, which may be the
 * end of the tensor). */
static LLVMValueRef row_chunk(Skel *k, LLVMValueRef row, AirDtype dt, int d0, int len)
{
    CgLlvm *cg = k->cg;
    LLVMValueRef p = cg_gep(cg, cg_dtype_type(cg, dt), row, i64c(k, d0));
    if (d0 + k->N <= len) return cg_load_vec_f32(cg, p, dt, k->N);
    LLVMValueRef bits[64];
    for (int l = 0; l < k->N; l++) bits[l] = LLVMConstInt(cg->t_i1, d0 + l < len, 0);
    LLVMTypeRef vt = cg_vec_type(cg_dtype_type(cg, dt), k->N);
    LLVMTypeRef over[2] = {vt, cg->t_ptr};
    LLVMValueRef args[4] = {p, cg_i32(cg, dt == DT_F32 ? 4 : 2, 1),
                            LLVMConstVector(bits, (unsigned)k->N), LLVMConstNull(vt)};
    LLVMValueRef raw = cg_intrin(cg, "llvm.masked.load", over, 2, args, 4);
    if (dt == DT_F32) return raw;
    if (dt == DT_F16) return LLVMBuildFPExt(k->b, raw, k->vf, "");
    LLVMValueRef w = LLVMBuildZExt(k->b, raw, cg_vec_type(cg->t_i32, k->N), "");
    return LLVMBuildBitCast(k->b, LLVMBuildShl(k->b, w, cg_i32(cg, 16, k->N), ""), k->vf, "");
}

/* Scores of keys [n0 + g*N, +N) for row r into SR[g*N ..], in log2 units, masked. */
static bool row_scores(Skel *k, LLVMValueRef r, LLVMValueRef ipos, LLVMValueRef n0,
                       LLVMValueRef nvalid, LLVMValueRef need_mask, LLVMValueRef SR)
{
    CgLlvm *cg = k->cg;
    int N = k->N, nq = (k->dk + N - 1) / N;
    LLVMValueRef q[32];
    for (int c = 0; c < nq; c++) q[c] = vload(k, k->Qr, add(k, mul(k, r, i64c(k, k->dkp)), i64c(k, c * N)), 64);
    LLVMValueRef ng = LLVMBuildSDiv(k->b, add(k, nvalid, i64c(k, N - 1)), i64c(k, N), "");
    CgLoop lg;
    cg_loop_begin(cg, &lg, i64c(k, 0), ng, i64c(k, 1), 0, NULL, "rowkeys");
    LLVMValueRef sv = cg_f32(cg, 0.0, N);
    for (int jj = 0; jj < N; jj++) {
        LLVMValueRef nl = min64(k, add(k, mul(k, lg.iv, i64c(k, N)), i64c(k, jj)),
                                LLVMBuildSub(k->b, nvalid, i64c(k, 1), ""));
        AirDtype kdt = k->k->tensors[k->k->tk].dtype;
        LLVMValueRef krow = cg_gep(cg, cg_dtype_type(cg, kdt), k->kbase, mul(k, add(k, n0, nl), k->ks));
        LLVMValueRef acc = LLVMBuildFMul(k->b, q[0], row_chunk(k, krow, kdt, 0, k->dk), "");
        for (int c = 1; c < nq; c++) acc = cg_fma(cg, q[c], row_chunk(k, krow, kdt, c * N, k->dk), acc);
        sv = LLVMBuildInsertElement(k->b, sv, reduce(k, "llvm.vector.reduce.fadd", acc),
                                    cg_i32(cg, jj, 1), "");
    }
    LLVMValueRef j0 = LLVMBuildTrunc(k->b, add(k, n0, mul(k, lg.iv, i64c(k, N))), cg->t_i32, "");
    LLVMValueRef jv = LLVMBuildAdd(k->b, cg_splat(cg, j0, N), cg_iota(cg, N), "j");
    LLVMValueRef s2 = cg_cpu_logit(k, sv, ipos, jv);
    if (!s2) return false;
    LLVMBasicBlockRef from = LLVMGetInsertBlock(k->b);
    LLVMBasicBlockRef mb = cg_block(cg, "rowmasked"), join = cg_block(cg, "rowscored");
    LLVMBuildCondBr(k->b, need_mask, mb, join);
    LLVMPositionBuilderAtEnd(k->b, mb);
    LLVMValueRef vis = cg_cpu_visible(k, ipos, jv);
    if (!vis) return false;
    LLVMValueRef sm = LLVMBuildSelect(k->b, vis, s2, cg_f32(cg, -INFINITY, N), "");
    LLVMBasicBlockRef mend = LLVMGetInsertBlock(k->b);
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, join);
    LLVMValueRef phi = LLVMBuildPhi(k->b, k->vf, "s");
    LLVMValueRef vals[2] = {s2, sm};
    LLVMBasicBlockRef bbs[2] = {from, mend};
    LLVMAddIncoming(phi, vals, bbs, 2);
    vstore(k, phi, SR, mul(k, lg.iv, i64c(k, N)), 64);
    cg_loop_end(cg, &lg, NULL);
    return true;
}

bool cg_cpu_rows_tile(Skel *k, LLVMValueRef n0, LLVMValueRef nvalid, LLVMValueRef need_mask)
{
    CgLlvm *cg = k->cg;
    int N = k->N, nvec = k->dvp / N;
    LLVMValueRef SR = k->S;   /* the row's scores, then probabilities: the first tile_n floats */
    CgLoop lr;
    cg_loop_begin(cg, &lr, i64c(k, 0), k->nrows, i64c(k, 1), 0, NULL, "row");
    LLVMValueRef r = lr.iv;
    LLVMValueRef qrow = r;
    if (k->rows_lq) {
        /* Head-group item: the row's head and query row; the hooks see that head. */
        LLVMValueRef g = LLVMBuildSDiv(k->b, r, k->rows_lq, "g");
        qrow = LLVMBuildSub(k->b, r, mul(k, g, k->rows_lq), "");
        k->env.idx[IX_H] = LLVMBuildTrunc(k->b, add(k, k->hfirst, g), cg->t_i32, "h");
        if (k->score_mode == 2 && !(k->scale = cg_cpu_scale(k))) return false;
    }
    LLVMValueRef ipos = LLVMBuildAdd(k->b, k->qpos0, LLVMBuildTrunc(k->b, qrow, cg->t_i32, ""), "i");
    if (!row_scores(k, r, ipos, n0, nvalid, need_mask, SR)) return false;

    /* Online softmax over the nk = whole vectors of scores (padding keys are -inf). */
    LLVMValueRef nk = mul(k, LLVMBuildSDiv(k->b, add(k, nvalid, i64c(k, N - 1)), i64c(k, N), ""), i64c(k, N));
    LLVMValueRef init = cg_f32(cg, -INFINITY, N);
    CgLoop lm;
    cg_loop_begin(cg, &lm, i64c(k, 0), nk, i64c(k, N), 1, &init, "rowmax");
    LLVMValueRef mx = cg_fmaximum(cg, lm.carried[0], vload(k, SR, lm.iv, 64));
    cg_loop_end(cg, &lm, &mx);
    LLVMValueRef mold = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, k->M, r), "");
    CgSoftmax sm = cg_cpu_softmax(k);
    LLVMValueRef mnew;
    LLVMValueRef msafe = cg_softmax_base(&sm, mold, reduce(k, "llvm.vector.reduce.fmaximum", lm.carried[0]), &mnew);
    LLVMValueRef alpha = cg_exp2(cg, LLVMBuildFSub(k->b, mold, msafe, ""));
    LLVMValueRef ms = cg_splat(cg, msafe, N);
    init = cg_f32(cg, 0.0, N);
    CgLoop le;
    cg_loop_begin(cg, &le, i64c(k, 0), nk, i64c(k, N), 1, &init, "rowexp");
    LLVMValueRef p = cg_exp2(cg, LLVMBuildFSub(k->b, vload(k, SR, le.iv, 64), ms, ""));
    vstore(k, p, SR, le.iv, 64);
    LLVMValueRef sum = LLVMBuildFAdd(k->b, le.carried[0], p, "");
    cg_loop_end(cg, &le, &sum);
    LLVMValueRef lold = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, k->L, r), "");
    LLVMBuildStore(k->b, cg_fma(cg, lold, alpha, reduce(k, "llvm.vector.reduce.fadd", le.carried[0])),
                   fptr(k, k->L, r));
    LLVMBuildStore(k->b, mnew, fptr(k, k->M, r));

    /* O[r] = O[r] * alpha + sum_n p_n V[n], lanes over Dv; a masked key (p = 0) adds nothing,
     * whatever its v holds (few rows: the select costs nothing beside the loads of V). */
    LLVMValueRef orow = mul(k, r, i64c(k, k->dvp)), acc[32], al = cg_splat(cg, alpha, N);
    for (int c = 0; c < nvec; c++)
        acc[c] = LLVMBuildFMul(k->b, vload(k, k->O, add(k, orow, i64c(k, c * N)), 64), al, "");
    CgLoop ln;
    cg_loop_begin(cg, &ln, i64c(k, 0), nvalid, i64c(k, 1), nvec, acc, "rowpv");
    AirDtype vdt = k->k->tensors[k->k->tv].dtype;
    LLVMValueRef vrow = cg_gep(cg, cg_dtype_type(cg, vdt), k->vbase, mul(k, add(k, n0, ln.iv), k->vs));
    LLVMValueRef pn = bcast(k, SR, ln.iv), next[32];
    for (int c = 0; c < nvec; c++)
        next[c] = cg_cpu_pv_fma(k, pn, row_chunk(k, vrow, vdt, c * N, k->dv), ln.carried[c]);
    cg_loop_end(cg, &ln, next);
    for (int c = 0; c < nvec; c++) vstore(k, ln.carried[c], k->O, add(k, orow, i64c(k, c * N)), 64);
    cg_loop_end(cg, &lr, NULL);
    return true;
}
