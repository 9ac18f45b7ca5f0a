/* skel_group.c: the head-group entry for decode, `<entry>_kvgroup` (contract in
 * kernel_abi.h). The per-head entry streams a kv head's K and V once per query head, so under
 * GQA each K/V row comes from memory Hq / Hkv times, and decode is bound by that traffic. Here
 * one work item is (b, kv head, a range of key tiles) and its rows are every (query head of the
 * group, query row): the few-rows tile of skel_rows.c runs over them with each row's own head
 * (hooks, scale, Q), so a K/V tile is loaded from memory once and reused from cache by every row.
 *
 * A key range shorter than all of Lk (flash-decoding split, chosen by the runtime when there are
 * fewer (b, kv head) items than threads) ends with the unnormalised state (O, m, l) per row in a
 * buffer the runtime combines; a whole range ends like the per-head entry, writing o and lse. */
#include "cpu.h"

#include <math.h>

/* Tile class of key tile kt for the whole group: EMPTY when every head's is, FULL when every
 * head's is, else PARTIAL. The map has one class per head only when tile_sh != 0. */
static LLVMValueRef group_class(Skel *k, LLVMValueRef tiles, LLVMValueRef kt, LLVMValueRef group)
{
    CgLlvm *cg = k->cg;
    LLVMValueRef sh = cg_abi_field(cg, k->args, offsetof(AbiArgs, tile_sh), cg->t_i64);
    LLVMValueRef sb = cg_abi_field(cg, k->args, offsetof(AbiArgs, tile_sb), cg->t_i64);
    LLVMValueRef n = LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntEQ, sh, i64c(k, 0), ""),
                                     i64c(k, 1), group, "");
    LLVMValueRef base = add(k, add(k, mul(k, k->bi, sb), mul(k, k->hfirst, sh)), kt);
    LLVMValueRef init[2] = {LLVMConstInt(cg->t_i1, 0, 0), LLVMConstInt(cg->t_i1, 1, 0)};
    CgLoop lg;
    cg_loop_begin(cg, &lg, i64c(k, 0), n, i64c(k, 1), 2, init, "grouptile");
    LLVMValueRef c = LLVMBuildLoad2(k->b, cg->t_i8, cg_gep(cg, cg->t_i8, tiles, add(k, base, mul(k, lg.iv, sh))), "");
    LLVMValueRef next[2] = {
        LLVMBuildOr(k->b, lg.carried[0], LLVMBuildICmp(k->b, LLVMIntNE, c, LLVMConstInt(cg->t_i8, TILE_EMPTY, 0), ""), ""),
        LLVMBuildAnd(k->b, lg.carried[1], LLVMBuildICmp(k->b, LLVMIntEQ, c, LLVMConstInt(cg->t_i8, TILE_FULL, 0), ""), ""),
    };
    cg_loop_end(cg, &lg, next);
    LLVMValueRef cls = LLVMBuildSelect(k->b, lg.carried[1], LLVMConstInt(cg->t_i8, TILE_FULL, 0),
                                       LLVMConstInt(cg->t_i8, TILE_PARTIAL, 0), "");
    return LLVMBuildSelect(k->b, lg.carried[0], cls, LLVMConstInt(cg->t_i8, TILE_EMPTY, 0), "");
}

/* Sets env.idx[IX_H] and returns the query row of row r (and the head through *h). */
static LLVMValueRef row_coords(Skel *k, LLVMValueRef r, LLVMValueRef *h)
{
    LLVMValueRef g = LLVMBuildSDiv(k->b, r, k->rows_lq, "g");
    *h = add(k, k->hfirst, g);
    k->env.idx[IX_H] = LLVMBuildTrunc(k->b, *h, k->cg->t_i32, "h");
    return LLVMBuildSub(k->b, r, mul(k, g, k->rows_lq), "qi");
}

static bool setup(Skel *k, const KernelPlan *plan, LLVMValueRef *group)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    LLVMTypeRef params[6] = {cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64, cg->t_i64, cg->t_ptr};
    cg_cpu_function(k, plan, plan_entry(plan, ROLE_KVGROUP)->name, params, 6);
    k->bi = LLVMGetParam(k->fn, 1);
    LLVMValueRef hk = LLVMGetParam(k->fn, 2);
    k->rows_lq = cg_abi_tensor_shape(cg, k->args, ak->tq, 2);
    k->lk = cg_abi_tensor_shape(cg, k->args, ak->tk, 2);
    LLVMValueRef hq = cg_abi_tensor_shape(cg, k->args, ak->tq, 1);
    LLVMValueRef hkv = cg_abi_tensor_shape(cg, k->args, ak->tk, 1);
    *group = LLVMBuildSDiv(k->b, hq, cg_smax(cg, hkv, i64c(k, 1)), "group");
    k->hfirst = mul(k, hk, *group);
    k->nrows = min64(k, mul(k, *group, k->rows_lq), i64c(k, CPU_GROUP_ROWS));
    k->qpos0 = LLVMBuildTrunc(k->b, cg_abi_field(cg, k->args, offsetof(AbiArgs, q_offset), cg->t_i64),
                              cg->t_i32, "");

    if (!cg_hook_env_init(&k->env, cg, ak, k->env.target, k->N)) return false;
    cg_hook_preload(&k->env, k->args);
    k->env.idx[IX_B] = LLVMBuildTrunc(k->b, k->bi, cg->t_i32, "");
    k->score_mode = ak->hook[HOOK_SCORE] < 0 ? 0 : cg_cpu_uses_op(cg, ak, ak->hook[HOOK_SCORE], OP_QK) ? 2 : 1;

    int G = CPU_GROUP_ROWS;
    k->S = cg_alloca(cg, k->fn, cg->t_f32, k->s.tile_n, 64);
    k->O = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)G * k->dvp, 64);
    k->M = cg_alloca(cg, k->fn, cg->t_f32, G, 64);
    k->L = cg_alloca(cg, k->fn, cg->t_f32, G, 64);
    k->Qr = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)G * k->dkp, 64);
    k->kbase = cg_cpu_head_base(k, ak->tk, hk, &k->ks);
    k->vbase = cg_cpu_head_base(k, ak->tv, hk, &k->vs);
    LLVMValueRef zero8 = LLVMConstInt(cg->t_i8, 0, 0);
    LLVMBuildMemSet(k->b, k->O, zero8, i64c(k, (int64_t)G * k->dvp * 4), 64);
    LLVMBuildMemSet(k->b, k->Qr, zero8, i64c(k, (int64_t)G * k->dkp * 4), 64);

    /* Per row: M = -inf, L = 0, Qr = q * the row's head's scale (in log2 units when the score
     * hook does not need the raw score). */
    AirDtype qdt = ak->tensors[ak->tq].dtype;
    CgLoop lr, ld;
    cg_loop_begin(cg, &lr, i64c(k, 0), k->nrows, i64c(k, 1), 0, NULL, "grow");
    LLVMBuildStore(k->b, cg_f32(cg, -INFINITY, 1), fptr(k, k->M, lr.iv));
    LLVMBuildStore(k->b, cg_f32(cg, 0.0, 1), fptr(k, k->L, lr.iv));
    LLVMValueRef h, qs, qi = row_coords(k, lr.iv, &h);
    LLVMValueRef scale = cg_cpu_scale(k);
    if (!scale) return false;
    LLVMValueRef qscale = k->score_mode == 0 ? LLVMBuildFMul(k->b, scale, cg_f32(cg, M_LOG2E, 1), "")
                        : k->score_mode == 1 ? scale : cg_f32(cg, 1.0, 1);
    LLVMValueRef qbase = cg_cpu_head_base(k, ak->tq, h, &qs);
    LLVMValueRef qrow = cg_gep(cg, cg_dtype_type(cg, qdt), qbase, mul(k, qi, qs));
    cg_loop_begin(cg, &ld, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), 0, NULL, "gqd");
    LLVMValueRef x = cg_load_f32(cg, cg_gep(cg, cg_dtype_type(cg, qdt), qrow, ld.iv), qdt);
    LLVMBuildStore(k->b, LLVMBuildFMul(k->b, x, qscale, ""),
                   fptr(k, k->Qr, add(k, mul(k, lr.iv, i64c(k, k->dkp)), ld.iv)));
    cg_loop_end(cg, &ld, NULL);
    cg_loop_end(cg, &lr, NULL);
    return true;
}

/* Key tiles [tile0, min(tile1, ntiles)): EMPTY tiles skipped, the mask only where needed. */
static bool key_tiles(Skel *k, LLVMValueRef group)
{
    CgLlvm *cg = k->cg;
    int tn = k->s.tile_n;
    LLVMValueRef ntiles = LLVMBuildSDiv(k->b, add(k, k->lk, i64c(k, tn - 1)), i64c(k, tn), "");
    LLVMValueRef t1 = min64(k, LLVMGetParam(k->fn, 4), ntiles);
    LLVMValueRef tiles = cg_abi_field(cg, k->args, offsetof(AbiArgs, tiles), cg->t_ptr);
    CgLoop lt;
    cg_loop_begin(cg, &lt, LLVMGetParam(k->fn, 3), t1, i64c(k, 1), 0, NULL, "gktile");
    LLVMBasicBlockRef pre = cg_cpu_tile_map_begin(k, LLVMBuildIsNotNull(k->b, tiles, ""));
    LLVMValueRef cmap = group_class(k, tiles, lt.iv, group);
    LLVMBasicBlockRef skip;
    LLVMValueRef n0, nvalid, need_mask;
    cg_cpu_tile_enter(k, pre, cmap, lt.iv, &skip, &n0, &nvalid, &need_mask);
    if (!cg_cpu_rows_tile(k, n0, nvalid, need_mask)) return false;
    LLVMBuildBr(k->b, skip);
    LLVMPositionBuilderAtEnd(k->b, skip);
    cg_loop_end(cg, &lt, NULL);
    return true;
}

/* The sink logit of the current row (env.idx[IX_H] set), in log2 units. */
static LLVMValueRef sink_logit(Skel *k, LLVMValueRef ipos)
{
    k->env.lanes = 1;
    k->env.idx[IX_I] = ipos;
    k->env.idx[IX_J] = NULL;
    k->env.score = k->env.qk = NULL;
    LLVMValueRef sk = cg_hook_emit(&k->env, k->k->hook[HOOK_SINK]);
    k->env.lanes = k->N;
    return sk ? LLVMBuildFMul(k->b, sk, cg_f32(k->cg, M_LOG2E, 1), "") : NULL;
}

/* part != NULL: the row's (O, m, l) there, sink folded in by the split that starts at tile 0.
 * part == NULL: o = O / l and lse, as the per-head entry's epilogue. */
static bool finish(Skel *k)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    CgSoftmax sm = cg_cpu_softmax(k);
    LLVMValueRef part = LLVMGetParam(k->fn, 5);
    LLVMValueRef with_sink = LLVMBuildICmp(k->b, LLVMIntEQ, LLVMGetParam(k->fn, 3), i64c(k, 0), "");
    bool sink = ak->hook[HOOK_SINK] >= 0;
    CgLoop lr;
    cg_loop_begin(cg, &lr, i64c(k, 0), k->nrows, i64c(k, 1), 0, NULL, "gout");
    LLVMValueRef h, qi = row_coords(k, lr.iv, &h);
    LLVMValueRef ipos = LLVMBuildAdd(k->b, k->qpos0, LLVMBuildTrunc(k->b, qi, cg->t_i32, ""), "i");
    LLVMValueRef orow = mul(k, lr.iv, i64c(k, k->dvp));
    LLVMValueRef m = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, k->M, lr.iv), "");
    LLVMValueRef l = LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, k->L, lr.iv), "");
    LLVMValueRef sk = sink ? sink_logit(k, ipos) : NULL;
    if (sink && !sk) return false;
    LLVMBasicBlockRef fin = cg_block(cg, "gfinal"), prt = cg_block(cg, "gpartial"), next = cg_block(cg, "grownext");
    LLVMBuildCondBr(k->b, LLVMBuildIsNull(k->b, part, ""), fin, prt);

    LLVMPositionBuilderAtEnd(k->b, prt);
    LLVMValueRef f = cg_f32(cg, 1.0, 1), mo = m, lo = l;
    if (sink) {
        LLVMValueRef ms, ls, fs = cg_softmax_fold(&sm, m, l, sk, &ms, &ls, NULL);
        f = LLVMBuildSelect(k->b, with_sink, fs, f, "");
        mo = LLVMBuildSelect(k->b, with_sink, ms, m, "");
        lo = LLVMBuildSelect(k->b, with_sink, ls, l, "");
    }
    LLVMValueRef prow = cg_gep(cg, cg->t_f32, part, mul(k, lr.iv, i64c(k, k->dv + 2)));
    cg_cpu_store_row(k, k->O, orow, f, prow, DT_F32);
    LLVMBuildStore(k->b, mo, fptr(k, prow, i64c(k, k->dv)));
    LLVMBuildStore(k->b, lo, fptr(k, prow, i64c(k, k->dv + 1)));
    LLVMBuildBr(k->b, next);

    LLVMPositionBuilderAtEnd(k->b, fin);
    LLVMValueRef lt = l, mt = m;
    if (sink) f = cg_softmax_fold(&sm, m, l, sk, &mt, &lt, NULL);
    else f = cg_f32(cg, 1.0, 1);
    LLVMValueRef inv, lse2, has = cg_softmax_final(&sm, mt, lt, f, &inv, &lse2);
    inv = LLVMBuildSelect(k->b, has, inv, cg_f32(cg, 0.0, 1), "");
    LLVMValueRef os;
    LLVMValueRef obase = cg_cpu_head_base(k, ak->to, h, &os);
    cg_cpu_store_row(k, k->O, orow, inv, cg_gep(cg, cg_dtype_type(cg, ak->tensors[ak->to].dtype), obase, mul(k, qi, os)),
              ak->tensors[ak->to].dtype);
    if (ak->tlse >= 0) {
        LLVMValueRef lse = LLVMBuildFMul(k->b, lse2, cg_f32(cg, M_LN2, 1), "");
        lse = LLVMBuildSelect(k->b, has, lse, cg_f32(cg, -INFINITY, 1), "");
        LLVMValueRef lbase = cg_cpu_head_base(k, ak->tlse, h, NULL);
        LLVMValueRef ls = cg_abi_tensor_stride(cg, k->args, ak->tlse, 2);
        LLVMBuildStore(k->b, lse, fptr(k, lbase, mul(k, qi, ls)));
    }
    LLVMBuildBr(k->b, next);
    LLVMPositionBuilderAtEnd(k->b, next);
    cg_loop_end(cg, &lr, NULL);
    LLVMBuildRetVoid(k->b);
    return true;
}

bool cg_cpu_group_build(Skel *k, const KernelPlan *plan)
{
    LLVMValueRef group;
    return setup(k, plan, &group) && key_tiles(k, group) && finish(k);
}
