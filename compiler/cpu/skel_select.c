/* skel_select.c: the CPU skeleton of attention behind a sparsity selector (docs/language.md
 * section 9). Three entries, run by the runtime one phase after the other (the contract is in
 * kernel_abi.h):
 *   _means   the mean of each key block of K, once per launch, when the score reads
 *            mean(k[block]) (a pooled-key product, pass_select_form.c);
 *   _score   for one query row, a range of candidates (blocks or keys): whether each has a
 *            visible key, and its score (summed over the GQA group when shared); the runtime
 *            keeps the top ones with the reference's rules and writes them ascending;
 *   (main)   one query row over the keys of its selected candidates: keys go `lanes` at a time
 *            (a block's keys, or the next `lanes` selected tokens), the mask still applies, and
 *            the online softmax is cg_softmax.c's, so a masked key's v never reaches the row.
 * The score is the hook emitter's (cg_hook.c, with cg_hook_vec.c for dot and sqnorm), one
 * candidate at a time with its vector products on `lanes`-wide f32 vectors. */
#include "cpu.h"
#include "pass.h"

#include <math.h>

/* The hook environment of a selector entry at (b, h): q, k, v as vector leaves, the group,
 * q_offset, the block means (work[0]) and their count. */
static bool sel_env(Skel *k, LLVMValueRef lk)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    if (!cg_hook_env_init(&k->env, cg, ak, k->env.target, 1)) return false;
    cg_hook_preload(&k->env, k->args);
    int ts[3] = {ak->tq, ak->tk, ak->tv};
    for (int x = 0; x < 3; x++) {
        CgSideTensor *st = &k->env.tensor[ts[x]];
        st->data = cg_abi_tensor_data(cg, k->args, ts[x]);
        for (int r = 0; r < 4; r++) {
            st->shape[r] = LLVMBuildTrunc(k->b, cg_abi_tensor_shape(cg, k->args, ts[x], r), cg->t_i32, "");
            st->stride[r] = cg_abi_tensor_stride(cg, k->args, ts[x], r);
        }
    }
    LLVMValueRef hq = cg_abi_tensor_shape(cg, k->args, ak->tq, 1), hkv = cg_abi_tensor_shape(cg, k->args, ak->tk, 1);
    LLVMValueRef group = LLVMBuildSDiv(k->b, hq, cg_smax(cg, hkv, i64c(k, 1)), "");
    k->env.group = LLVMBuildTrunc(k->b, cg_smax(cg, group, i64c(k, 1)), cg->t_i32, "");
    k->env.qoff = LLVMBuildTrunc(k->b, cg_abi_field(cg, k->args, offsetof(AbiArgs, q_offset), cg->t_i64), cg->t_i32, "");
    int bs = ak->sel.kind == SEL_BLOCKS ? ak->sel.block : 1;
    k->env.nblk = LLVMBuildTrunc(k->b, LLVMBuildSDiv(k->b, add(k, lk, i64c(k, bs - 1)), i64c(k, bs), ""), cg->t_i32, "");
    k->env.means = cg_abi_field(cg, k->args, offsetof(AbiArgs, work), cg->t_ptr);
    k->env.vec_lanes = k->N;
    k->env.sum_loops = true;
    k->env.idx[IX_B] = LLVMBuildTrunc(k->b, k->bi, cg->t_i32, "");
    k->env.idx[IX_H] = LLVMBuildTrunc(k->b, k->hi, cg->t_i32, "");
    k->lk = lk;
    return true;
}

/* ---- _means: one key block of one kv head ------------------------------------------------- */

static bool build_means(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    LLVMTypeRef params[4] = {cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64};
    cg_cpu_function(k, plan, plan_entry(plan, ROLE_SEL_MEANS)->name, params, 4);
    k->bi = LLVMGetParam(k->fn, 1);
    k->hi = LLVMGetParam(k->fn, 2);   /* the kv head */
    LLVMValueRef blk = LLVMGetParam(k->fn, 3);
    int bs = ak->sel.block;
    LLVMValueRef lk = cg_abi_tensor_shape(cg, k->args, ak->tk, 2), hkv = cg_abi_tensor_shape(cg, k->args, ak->tk, 1);
    LLVMValueRef nblk = LLVMBuildSDiv(k->b, add(k, lk, i64c(k, bs - 1)), i64c(k, bs), "");
    LLVMValueRef lo = mul(k, blk, i64c(k, bs)), hi = min64(k, add(k, lo, i64c(k, bs)), lk);
    LLVMValueRef acc = cg_alloca(cg, k->fn, cg->t_f32, k->dkp, 64);
    LLVMValueRef rs, kbase = cg_cpu_head_base(k, ak->tk, k->hi, &rs);
    AirDtype dt = ak->tensors[ak->tk].dtype;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    LLVMBasicBlockRef work = cg_block(cg, "work"), done = cg_block(cg, "done");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, lo, hi, ""), work, done);
    LLVMPositionBuilderAtEnd(k->b, work);
    LLVMBuildMemSet(k->b, acc, LLVMConstInt(cg->t_i8, 0, 0), i64c(k, (int64_t)k->dkp * 4), 64);
    CgLoop lj;
    cg_loop_begin(cg, &lj, lo, hi, i64c(k, 1), 0, NULL, "mrow");
    LLVMValueRef row = cg_gep(cg, et, kbase, mul(k, lj.iv, rs));
    int d = 0;
    for (; d + k->N <= k->dk; d += k->N)
        vstore(k, LLVMBuildFAdd(k->b, vload(k, acc, i64c(k, d), 64), cg_load_vec_f32(cg, cg_gep(cg, et, row, i64c(k, d)), dt, k->N), ""),
               acc, i64c(k, d), 64);
    for (; d < k->dk; d++) {
        LLVMValueRef p = fptr(k, acc, i64c(k, d));
        LLVMBuildStore(k->b, LLVMBuildFAdd(k->b, LLVMBuildLoad2(k->b, cg->t_f32, p, ""),
                                           cg_load_f32(cg, cg_gep(cg, et, row, i64c(k, d)), dt), ""), p);
    }
    cg_loop_end(cg, &lj, NULL);
    LLVMValueRef inv = LLVMBuildFDiv(k->b, cg_f32(cg, 1.0, 1), LLVMBuildSIToFP(k->b, LLVMBuildSub(k->b, hi, lo, ""), cg->t_f32, ""), "");
    LLVMValueRef out = cg_abi_field(cg, k->args, offsetof(AbiArgs, work), cg->t_ptr);
    LLVMValueRef at = mul(k, add(k, mul(k, add(k, mul(k, k->bi, hkv), k->hi), nblk), blk), i64c(k, k->dk));
    for (d = 0; d < k->dk; d++) {
        LLVMValueRef x = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, acc, i64c(k, d)), "");
        LLVMBuildStore(k->b, LLVMBuildFMul(k->b, x, inv, ""), fptr(k, out, add(k, at, i64c(k, d))));
    }
    LLVMBuildBr(k->b, done);
    LLVMPositionBuilderAtEnd(k->b, done);
    LLVMBuildRetVoid(k->b);
    return true;
}

/* ---- _score: candidates [c0, c1) of one query row ------------------------------------------ */

/* Whether any key of block `blk` is visible to query position i (keys `lanes` at a time, out
 * at the first visible one). */
static LLVMValueRef block_visible(Skel *k, LLVMValueRef i, LLVMValueRef blk)
{
    CgLlvm *cg = k->cg;
    int bs = k->k->sel.block;
    LLVMValueRef lo = mul(k, blk, i64c(k, bs));
    if (k->k->hook[HOOK_MASK] < 0) return LLVMBuildICmp(k->b, LLVMIntSLT, lo, k->lk, "");
    LLVMValueRef hi = min64(k, add(k, lo, i64c(k, bs)), k->lk);
    LLVMValueRef seen = cg_alloca(cg, k->fn, cg->t_i8, 1, 1);
    LLVMBuildStore(k->b, LLVMConstInt(cg->t_i8, 0, 0), seen);
    LLVMBasicBlockRef head = cg_block(cg, "bvhead"), body = cg_block(cg, "bvbody"), out = cg_block(cg, "bvout");
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(k->b);
    LLVMBuildBr(k->b, head);
    LLVMPositionBuilderAtEnd(k->b, head);
    LLVMValueRef j = LLVMBuildPhi(k->b, cg->t_i64, "bvj");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, j, hi, ""), body, out);
    LLVMPositionBuilderAtEnd(k->b, body);
    LLVMValueRef jv = add(k, cg_splat(cg, LLVMBuildTrunc(k->b, j, cg->t_i32, ""), k->N), cg_iota(cg, k->N));
    k->env.lanes = k->N;
    LLVMValueRef vis = cg_cpu_visible(k, cg_splat(cg, i, k->N), jv);
    k->env.lanes = 1;
    if (!vis) return NULL;
    LLVMValueRef inblk = LLVMBuildICmp(k->b, LLVMIntSLT, jv, cg_splat(cg, LLVMBuildTrunc(k->b, hi, cg->t_i32, ""), k->N), "");
    LLVMValueRef any = cg_intrin1(cg, "llvm.vector.reduce.or", (LLVMValueRef[]){LLVMBuildAnd(k->b, vis, inblk, "")}, 1);
    LLVMBuildStore(k->b, LLVMBuildZExt(k->b, any, cg->t_i8, ""), seen);
    LLVMValueRef next = add(k, j, i64c(k, k->N));
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(k->b);
    LLVMBuildCondBr(k->b, any, out, head);
    LLVMValueRef vals[2] = {lo, next};
    LLVMBasicBlockRef bbs[2] = {pre, latch};
    LLVMAddIncoming(j, vals, bbs, 2);
    LLVMPositionBuilderAtEnd(k->b, out);
    return LLVMBuildICmp(k->b, LLVMIntNE, LLVMBuildLoad2(k->b, cg->t_i8, seen, ""), LLVMConstInt(cg->t_i8, 0, 0), "");
}

static bool build_score(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    LLVMTypeRef params[8] = {cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64, cg->t_i64, cg->t_i64, cg->t_ptr, cg->t_ptr};
    cg_cpu_function(k, plan, plan_entry(plan, ROLE_SEL_SCORE)->name, params, 8);
    k->bi = LLVMGetParam(k->fn, 1);
    k->hi = LLVMGetParam(k->fn, 2);
    LLVMValueRef row = LLVMGetParam(k->fn, 3), c0 = LLVMGetParam(k->fn, 4), c1 = LLVMGetParam(k->fn, 5);
    LLVMValueRef score = LLVMGetParam(k->fn, 6), cand = LLVMGetParam(k->fn, 7);
    if (!sel_env(k, cg_abi_tensor_shape(cg, k->args, ak->tk, 2))) return false;
    LLVMValueRef i = LLVMBuildTrunc(k->b, add(k, row, cg_abi_field(cg, k->args, offsetof(AbiArgs, q_offset), cg->t_i64)), cg->t_i32, "");
    k->env.idx[IX_I] = i;
    bool blocks = ak->sel.kind == SEL_BLOCKS;
    /* the heads whose scores are summed: the group's (shared) or h's own */
    LLVMValueRef h0 = k->env.idx[IX_H], nh = cg_i32(cg, 1, 1);
    if (ak->sel.shared) {
        h0 = LLVMBuildMul(k->b, LLVMBuildSDiv(k->b, h0, k->env.group, ""), k->env.group, "");
        nh = k->env.group;
    }
    CgLoop lc;
    cg_loop_begin(cg, &lc, c0, c1, i64c(k, 1), 0, NULL, "cand");
    LLVMValueRef c32 = LLVMBuildTrunc(k->b, lc.iv, cg->t_i32, "");
    LLVMValueRef vis;
    if (blocks) {
        vis = block_visible(k, i, lc.iv);
    } else {
        k->env.lanes = 1;
        LLVMValueRef in = LLVMBuildICmp(k->b, LLVMIntSLT, lc.iv, k->lk, "");
        vis = in;
        if (ak->hook[HOOK_MASK] >= 0) {
            LLVMValueRef m = cg_hook_emit_at(&k->env, ak->hook[HOOK_MASK], i, c32, 0, NULL, NULL);
            if (!m) return false;
            vis = LLVMBuildAnd(k->b, in, m, "");
        }
    }
    if (!vis) return false;
    LLVMBuildStore(k->b, LLVMBuildZExt(k->b, vis, cg->t_i8, ""), cg_gep(cg, cg->t_i8, cand, LLVMBuildSub(k->b, lc.iv, c0, "")));
    LLVMBasicBlockRef yes = cg_block(cg, "scored"), next = cg_block(cg, "nextcand");
    LLVMBuildCondBr(k->b, vis, yes, next);
    LLVMPositionBuilderAtEnd(k->b, yes);
    CgLoop lh;
    LLVMValueRef zero = cg_f32(cg, 0.0, 1);
    cg_loop_begin(cg, &lh, i64c(k, 0), LLVMBuildSExt(k->b, nh, cg->t_i64, ""), i64c(k, 1), 1, &zero, "shead");
    k->env.idx[IX_H] = LLVMBuildAdd(k->b, h0, LLVMBuildTrunc(k->b, lh.iv, cg->t_i32, ""), "");
    k->env.idx[IX_I] = i;
    k->env.idx[IX_J] = blocks ? NULL : c32;
    k->env.block = blocks ? c32 : NULL;
    k->env.score = k->env.qk = NULL;
    k->env.lanes = 1;
    LLVMValueRef s = cg_hook_emit(&k->env, ak->hook[HOOK_SELECT]);
    if (!s) return false;
    LLVMValueRef sum = LLVMBuildFAdd(k->b, lh.carried[0], s, "");
    cg_loop_end(cg, &lh, &sum);
    LLVMBuildStore(k->b, lh.carried[0], fptr(k, score, LLVMBuildSub(k->b, lc.iv, c0, "")));
    LLVMBuildBr(k->b, next);
    LLVMPositionBuilderAtEnd(k->b, next);
    cg_loop_end(cg, &lc, NULL);
    LLVMBuildRetVoid(k->b);
    return true;
}

/* ---- main: one query row over its selected keys -------------------------------------------- */

typedef struct Att {
    Skel *k;
    LLVMValueRef Q, O, ML;         /* stack: q row scaled [dkp], O [dvp], (m, l) */
    LLVMValueRef i, ivec;          /* the query position, and splat over lanes */
    AirDtype kdt, vdt;
} Att;

/* q . k_j for the key row at p (dtype kdt): lanes-wide products, then smaller powers of 2 for
 * a Dk that is not a multiple of lanes. */
static LLVMValueRef row_dot(Att *a, LLVMValueRef p)
{
    Skel *k = a->k;
    CgLlvm *cg = k->cg;
    LLVMTypeRef et = cg_dtype_type(cg, a->kdt);
    LLVMValueRef total = NULL;
    for (int d = 0, w = k->N; d < k->dk; w /= 2) {
        if (d + w > k->dk) continue;
        LLVMValueRef acc = NULL;
        for (; d + w <= k->dk; d += w) {
            LLVMValueRef kv = cg_load_vec_f32(cg, cg_gep(cg, et, p, i64c(k, d)), a->kdt, w);
            LLVMValueRef qv = w == 1 ? LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, a->Q, i64c(k, d)), "")
                                     : LLVMBuildLoad2(k->b, cg_vec_type(cg->t_f32, w), fptr(k, a->Q, i64c(k, d)), "");
            if (w > 1) LLVMSetAlignment(qv, 4);
            acc = acc ? cg_fma(cg, qv, kv, acc) : LLVMBuildFMul(k->b, qv, kv, "");
        }
        LLVMValueRef s = cg_lane_sum(cg, acc);
        total = total ? LLVMBuildFAdd(k->b, total, s, "") : s;
    }
    return total;
}

/* Folds up to `lanes` keys into the row: keys j[x] (i64, clamped into K and V by the caller)
 * where valid[x]. */
static bool fold_keys(Att *a, LLVMValueRef *j, LLVMValueRef valid)
{
    Skel *k = a->k;
    CgLlvm *cg = k->cg;
    int N = k->N;
    LLVMValueRef acc = cg_f32(cg, 0.0, N), jv = LLVMGetUndef(cg_vec_type(cg->t_i32, N));
    for (int x = 0; x < N; x++) {
        LLVMValueRef p = cg_gep(cg, cg_dtype_type(cg, a->kdt), k->kbase, mul(k, j[x], k->ks));
        acc = LLVMBuildInsertElement(k->b, acc, row_dot(a, p), cg_i32(cg, x, 1), "");
        jv = LLVMBuildInsertElement(k->b, jv, LLVMBuildTrunc(k->b, j[x], cg->t_i32, ""), cg_i32(cg, x, 1), "");
    }
    k->env.lanes = N;
    LLVMValueRef s = cg_cpu_logit(k, acc, a->ivec, jv);
    LLVMValueRef vis = s ? cg_cpu_visible(k, a->ivec, jv) : NULL;
    if (!vis) return false;
    vis = LLVMBuildAnd(k->b, vis, valid, "");
    s = LLVMBuildSelect(k->b, vis, s, cg_f32(cg, -INFINITY, N), "");
    CgSoftmax sm = cg_cpu_softmax(k);
    LLVMValueRef m = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, a->ML, i64c(k, 0)), "");
    LLVMValueRef l = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, a->ML, i64c(k, 1)), "");
    LLVMValueRef mx = cg_intrin1(cg, "llvm.vector.reduce.fmaximum", &s, 1), mnew;
    LLVMValueRef base = cg_softmax_base(&sm, m, mx, &mnew);
    LLVMValueRef alpha = cg_exp2(cg, LLVMBuildFSub(k->b, m, base, ""));
    LLVMValueRef pv = cg_exp2(cg, LLVMBuildFSub(k->b, s, cg_splat(cg, base, N), ""));
    LLVMValueRef psum = cg_lane_sum(cg, pv);
    LLVMBuildStore(k->b, mnew, fptr(k, a->ML, i64c(k, 0)));
    LLVMBuildStore(k->b, cg_fma(cg, l, alpha, psum), fptr(k, a->ML, i64c(k, 1)));
    LLVMTypeRef vet = cg_dtype_type(cg, a->vdt);
    for (int d = 0; d < k->dvp; d += N) {
        LLVMValueRef o = LLVMBuildFMul(k->b, vload(k, a->O, i64c(k, d), 64), cg_splat(cg, alpha, N), "");
        for (int x = 0; x < N; x++) {
            LLVMValueRef vrow = cg_gep(cg, vet, k->vbase, mul(k, j[x], k->vs));
            LLVMValueRef v;
            if (d + N <= k->dv) {
                v = cg_load_vec_f32(cg, cg_gep(cg, vet, vrow, i64c(k, d)), a->vdt, N);
            } else {   /* the last partial vector of Dv: its elements, zeros past Dv */
                v = cg_f32(cg, 0.0, N);
                for (int e = d; e < k->dv; e++)
                    v = LLVMBuildInsertElement(k->b, v, cg_load_f32(cg, cg_gep(cg, vet, vrow, i64c(k, e)), a->vdt),
                                               cg_i32(cg, e - d, 1), "");
            }
            LLVMValueRef px = cg_splat(cg, LLVMBuildExtractElement(k->b, pv, cg_i32(cg, x, 1), ""), N);
            o = cg_cpu_pv_fma(k, px, v, o);
        }
        vstore(k, o, a->O, i64c(k, d), 64);
    }
    return true;
}

/* The next `lanes` keys: a block's keys from p (valid while below end), or with ids the
 * selected tokens ids[p .. p + lanes) (valid where the id is not -1 and below top). Keys are
 * clamped into K and V, so an invalid lane reads a real row and is masked out. */
static bool key_chunk(Att *a, LLVMValueRef p, LLVMValueRef end, LLVMValueRef ids, int top)
{
    Skel *k = a->k;
    CgLlvm *cg = k->cg;
    LLVMValueRef j[16], last = LLVMBuildSub(k->b, k->lk, i64c(k, 1), "");
    LLVMValueRef valid = LLVMGetUndef(cg_vec_type(cg->t_i1, k->N));
    for (int x = 0; x < k->N; x++) {
        LLVMValueRef px = add(k, p, i64c(k, x)), ok = LLVMBuildICmp(k->b, LLVMIntSLT, px, end, "");
        LLVMValueRef jx = px;
        if (ids) {
            jx = LLVMBuildLoad2(k->b, cg->t_i32, cg_gep(cg, cg->t_i32, ids, min64(k, px, i64c(k, top - 1))), "");
            jx = LLVMBuildSExt(k->b, jx, cg->t_i64, "");
            ok = LLVMBuildAnd(k->b, ok, LLVMBuildICmp(k->b, LLVMIntSGE, jx, i64c(k, 0), ""), "");
        }
        valid = LLVMBuildInsertElement(k->b, valid, ok, cg_i32(cg, x, 1), "");
        j[x] = cg_smax(cg, min64(k, jx, last), i64c(k, 0));
    }
    return fold_keys(a, j, valid);
}

static bool build_attend(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    const PlanEntry *se = plan_entry(plan, ROLE_SEL_SCORE);
    LLVMTypeRef params[4] = {cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64};
    cg_cpu_function(k, plan, plan_entry(plan, ROLE_SEL_ATTEND)->name, params, 4);
    k->bi = LLVMGetParam(k->fn, 1);
    k->hi = LLVMGetParam(k->fn, 2);
    LLVMValueRef row = LLVMGetParam(k->fn, 3);
    Att a = {.k = k, .kdt = ak->tensors[ak->tk].dtype, .vdt = ak->tensors[ak->tv].dtype};
    LLVMValueRef lq = cg_abi_tensor_shape(cg, k->args, ak->tq, 2);
    if (!sel_env(k, cg_abi_tensor_shape(cg, k->args, ak->tk, 2))) return false;
    k->env.lanes = k->N;
    LLVMValueRef hk = LLVMBuildSExt(k->b, LLVMBuildSDiv(k->b, k->env.idx[IX_H], k->env.group, ""), cg->t_i64, "");
    k->kbase = cg_cpu_head_base(k, ak->tk, hk, &k->ks);
    k->vbase = cg_cpu_head_base(k, ak->tv, hk, &k->vs);
    a.i = LLVMBuildTrunc(k->b, add(k, row, cg_abi_field(cg, k->args, offsetof(AbiArgs, q_offset), cg->t_i64)), cg->t_i32, "");
    a.ivec = cg_splat(cg, a.i, k->N);
    k->env.idx[IX_I] = a.i;

    k->env.lanes = 1;
    if (!(k->scale = cg_cpu_scale(k))) return false;
    k->env.lanes = k->N;
    k->score_mode = ak->hook[HOOK_SCORE] < 0 ? 0 : cg_cpu_uses_op(cg, ak, ak->hook[HOOK_SCORE], OP_QK) ? 2 : 1;
    LLVMValueRef qscale = k->score_mode == 0 ? LLVMBuildFMul(k->b, k->scale, cg_f32(cg, M_LOG2E, 1), "")
                        : k->score_mode == 1 ? k->scale : cg_f32(cg, 1.0, 1);
    a.Q = cg_alloca(cg, k->fn, cg->t_f32, k->dkp, 64);
    a.O = cg_alloca(cg, k->fn, cg->t_f32, k->dvp, 64);
    a.ML = cg_alloca(cg, k->fn, cg->t_f32, 2, 8);

    LLVMBasicBlockRef work = cg_block(cg, "work"), done = cg_block(cg, "done");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, row, lq, ""), work, done);
    LLVMPositionBuilderAtEnd(k->b, done);
    LLVMBuildRetVoid(k->b);
    LLVMPositionBuilderAtEnd(k->b, work);
    LLVMValueRef zero8 = LLVMConstInt(cg->t_i8, 0, 0);
    LLVMBuildMemSet(k->b, a.O, zero8, i64c(k, (int64_t)k->dvp * 4), 64);
    LLVMBuildStore(k->b, cg_f32(cg, -INFINITY, 1), fptr(k, a.ML, i64c(k, 0)));
    LLVMBuildStore(k->b, cg_f32(cg, 0.0, 1), fptr(k, a.ML, i64c(k, 1)));
    LLVMValueRef qs, qbase = cg_cpu_head_base(k, ak->tq, k->hi, &qs);
    AirDtype qdt = ak->tensors[ak->tq].dtype;
    LLVMValueRef qrow = cg_gep(cg, cg_dtype_type(cg, qdt), qbase, mul(k, row, qs));
    for (int d = 0; d < k->dk; d++)
        LLVMBuildStore(k->b, LLVMBuildFMul(k->b, cg_load_f32(cg, cg_gep(cg, cg_dtype_type(cg, qdt), qrow, i64c(k, d)), qdt), qscale, ""),
                       fptr(k, a.Q, i64c(k, d)));

    /* this row's selection: work[1] at ((b * Hsel + hs) * Lq + row) * top */
    int top = ak->sel.topk;
    LLVMValueRef hsel = k->hi, nsel = cg_abi_tensor_shape(cg, k->args, ak->tq, 1);
    if (se && se->rows == SEL_SHARE_GROUP) {
        hsel = hk;
        nsel = cg_abi_tensor_shape(cg, k->args, ak->tk, 1);
    } else if (se && se->rows == SEL_SHARE_ALL) {
        hsel = i64c(k, 0);
        nsel = i64c(k, 1);
    }
    LLVMValueRef ids = cg_abi_field(cg, k->args, offsetof(AbiArgs, work) + sizeof(void *), cg->t_ptr);
    LLVMValueRef at = mul(k, add(k, mul(k, add(k, mul(k, k->bi, nsel), hsel), lq), row), i64c(k, top));
    ids = cg_gep(cg, cg->t_i32, ids, at);
    CgLoop ls;
    if (ak->sel.kind == SEL_TOKENS) {
        cg_loop_begin(cg, &ls, i64c(k, 0), i64c(k, top), i64c(k, k->N), 0, NULL, "tok");
        if (!key_chunk(&a, ls.iv, i64c(k, top), ids, top)) return false;
        cg_loop_end(cg, &ls, NULL);
    } else {
        int bs = ak->sel.block;
        cg_loop_begin(cg, &ls, i64c(k, 0), i64c(k, top), i64c(k, 1), 0, NULL, "blk");
        LLVMValueRef id = LLVMBuildSExt(k->b, LLVMBuildLoad2(k->b, cg->t_i32, cg_gep(cg, cg->t_i32, ids, ls.iv), ""), cg->t_i64, "");
        LLVMBasicBlockRef body = cg_block(cg, "selblk"), skip = cg_block(cg, "noblk");
        LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSGE, id, i64c(k, 0), ""), body, skip);
        LLVMPositionBuilderAtEnd(k->b, body);
        LLVMValueRef j0 = mul(k, id, i64c(k, bs)), j1 = min64(k, add(k, j0, i64c(k, bs)), k->lk);
        CgLoop lj;
        cg_loop_begin(cg, &lj, j0, j1, i64c(k, k->N), 0, NULL, "bkeys");
        if (!key_chunk(&a, lj.iv, j1, NULL, top)) return false;
        cg_loop_end(cg, &lj, NULL);
        LLVMBuildBr(k->b, skip);
        LLVMPositionBuilderAtEnd(k->b, skip);
        cg_loop_end(cg, &ls, NULL);
    }

    /* the row's end: the sink, then o and lse (cg_softmax_final's rules) */
    CgSoftmax sm = cg_cpu_softmax(k);
    LLVMValueRef m = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, a.ML, i64c(k, 0)), "");
    LLVMValueRef l = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, a.ML, i64c(k, 1)), "");
    LLVMValueRef has, inv, lse2;
    if (ak->hook[HOOK_SINK] >= 0) {
        k->env.lanes = 1;
        k->env.idx[IX_I] = a.i;
        k->env.idx[IX_J] = NULL;
        k->env.score = k->env.qk = NULL;
        LLVMValueRef sk = cg_hook_emit(&k->env, ak->hook[HOOK_SINK]);
        if (!sk) return false;
        sk = LLVMBuildFMul(k->b, sk, cg_f32(cg, M_LOG2E, 1), "");
        LLVMValueRef mx, lt, base;
        LLVMValueRef f = cg_softmax_fold(&sm, m, l, sk, &mx, &lt, &base);
        has = cg_softmax_final(&sm, base, lt, f, &inv, &lse2);
    } else {
        has = cg_softmax_final(&sm, m, l, cg_f32(cg, 1.0, 1), &inv, &lse2);
    }
    inv = LLVMBuildSelect(k->b, has, inv, cg_f32(cg, 0.0, 1), "");
    LLVMValueRef os, obase = cg_cpu_head_base(k, ak->to, k->hi, &os);
    AirDtype odt = ak->tensors[ak->to].dtype;
    LLVMTypeRef oet = cg_dtype_type(cg, odt);
    cg_cpu_store_row(k, a.O, i64c(k, 0), inv, cg_gep(cg, oet, obase, mul(k, row, os)), odt);
    if (ak->tlse >= 0) {
        LLVMValueRef lbase = cg_cpu_head_base(k, ak->tlse, k->hi, NULL);
        LLVMValueRef lsr = cg_abi_tensor_stride(cg, k->args, ak->tlse, 2);
        LLVMValueRef lse = LLVMBuildSelect(k->b, has, LLVMBuildFMul(k->b, lse2, cg_f32(cg, M_LN2, 1), ""),
                                           cg_f32(cg, -INFINITY, 1), "");
        LLVMBuildStore(k->b, lse, fptr(k, lbase, mul(k, row, lsr)));
    }
    LLVMBuildRetVoid(k->b);
    return true;
}

/* ---- plan ---------------------------------------------------------------------------------- */

bool cg_cpu_select_plan(const AirKernel *k, KernelPlan *p, const char *target, Diags *d)
{
    SelectForm f;
    if (!pass_select_form(d->arena, k, &f) || !pass_hook_check_select(k, target, d)) return false;
    const char *entry = arena_printf(d->arena, "attn_%s", k->name);
    const char *score = entry ? arena_printf(d->arena, "%s_score", entry) : NULL;
    const char *means = entry ? arena_printf(d->arena, "%s_means", entry) : NULL;
    if (!score || !means) return false;
    p->skeleton = SKEL_SELECT;
    p->tile_m = 1;
    p->tile_n = k->sel.kind == SEL_BLOCKS ? k->sel.block : 1;
    p->skip_tile_map = 1;   /* the entries evaluate the mask themselves */
    bool ok = plan_add_entry(p, (PlanEntry){entry, ROLE_SEL_ATTEND, 1, 0, 0, 0});
    if (ok && !k->sel.given)   /* given indices need no score: the runtime reads them */
        ok = plan_add_entry(p, (PlanEntry){score, ROLE_SEL_SCORE, 1, 0, f.share, 0});
    if (ok && f.uses_mean) {
        ok = plan_add_entry(p, (PlanEntry){means, ROLE_SEL_MEANS, 1, 0, 0, 0});
        p->work[p->nwork++] = (PlanWork){WORK_SEL_MEANS, ROLE_SEL_MEANS};
    }
    p->work[p->nwork++] = (PlanWork){WORK_SEL_IDS, k->sel.given ? ROLE_SEL_ATTEND : ROLE_SEL_SCORE};
    return ok;
}

int cg_cpu_select_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES])
{
    int n = 0;
    entries[n++] = build_attend;
    if (plan_entry(plan, ROLE_SEL_SCORE)) entries[n++] = build_score;
    if (plan_entry(plan, ROLE_SEL_MEANS)) entries[n++] = build_means;
    return n;
}
