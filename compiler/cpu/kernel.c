/* kernel.c: the pieces every CPU skeleton shares: tensor addressing, the entry function with
 * the skeleton's attributes, the logit and visibility of a (query, key) pair through the spec's
 * hooks, the scale, masked P V accumulation, a row's final normalisation, and the tile map's
 * class read. The skeletons (skel_fa.c, skel_rows.c, skel_group.c) call these; nothing here
 * calls a skeleton. */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* Pointer to element (b, head, 0, 0) of tensor t, and its row stride. */
LLVMValueRef cg_cpu_head_base(Skel *k, int t, LLVMValueRef head, LLVMValueRef *row_stride)
{
    CgLlvm *cg = k->cg;
    LLVMValueRef off = add(k, mul(k, k->bi, cg_abi_tensor_stride(cg, k->args, t, 0)),
                           mul(k, head, cg_abi_tensor_stride(cg, k->args, t, 1)));
    if (row_stride) *row_stride = cg_abi_tensor_stride(cg, k->args, t, 2);
    return cg_gep(cg, cg_dtype_type(cg, k->k->tensors[t].dtype),
                  cg_abi_tensor_data(cg, k->args, t), off);
}

LLVMValueRef cg_cpu_pv_fma(Skel *k, LLVMValueRef p, LLVMValueRef v, LLVMValueRef acc)
{
    LLVMValueRef zero = LLVMBuildFCmp(k->b, LLVMRealOEQ, p, LLVMConstNull(LLVMTypeOf(p)), "");
    return LLVMBuildSelect(k->b, zero, acc, cg_fma(k->cg, p, v, acc), "");
}

void cg_cpu_store_row(Skel *k, LLVMValueRef buf, LLVMValueRef at, LLVMValueRef f, LLVMValueRef p, AirDtype dt)
{
    CgLlvm *cg = k->cg;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    LLVMValueRef fv = cg_splat(cg, f, k->N);
    for (int d = 0; d < k->dv; d += k->N) {
        LLVMValueRef o = LLVMBuildFMul(k->b, vload(k, buf, add(k, at, i64c(k, d)), 64), fv, "");
        if (d + k->N <= k->dv) {
            cg_store_from_f32(cg, o, cg_gep(cg, et, p, i64c(k, d)), dt);
        } else {
            for (int e = d; e < k->dv; e++)
                cg_store_from_f32(cg, LLVMBuildExtractElement(k->b, o, cg_i32(cg, e - d, 1), ""),
                                  cg_gep(cg, et, p, i64c(k, e)), dt);
        }
    }
}

LLVMValueRef cg_cpu_item_entry(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    LLVMTypeRef params[4] = {cg->t_ptr, cg->t_i64, cg->t_i64, cg->t_i64};
    cg_cpu_function(k, plan, plan->entries[0].name, params, 4);
    k->bi = LLVMGetParam(k->fn, 1);
    k->hi = LLVMGetParam(k->fn, 2);
    return LLVMGetParam(k->fn, 3);
}

LLVMValueRef cg_cpu_recur_entry(Skel *k, const KernelPlan *plan, LLVMValueRef head[3], LLVMValueRef *T)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    LLVMValueRef item = cg_cpu_item_entry(k, plan);
    *T = cg_abi_tensor_shape(cg, k->args, ak->tq, 2);
    LLVMValueRef ho = cg_abi_tensor_shape(cg, k->args, ak->to, 1);
    int ts[3] = {ak->tq, ak->tk, ak->tv};
    for (int x = 0; x < 3; x++) {
        LLVMValueRef ht = cg_smax(cg, cg_abi_tensor_shape(cg, k->args, ts[x], 1), i64c(k, 1));
        head[x] = LLVMBuildSDiv(k->b, k->hi, cg_smax(cg, LLVMBuildSDiv(k->b, ho, ht, ""), i64c(k, 1)), "");
    }
    if (!cg_hook_env_init(&k->env, cg, ak, k->env.target, 1)) return NULL;
    cg_hook_preload(&k->env, k->args);
    k->env.idx[IX_B] = LLVMBuildTrunc(k->b, k->bi, cg->t_i32, "");
    k->env.idx[IX_H] = LLVMBuildTrunc(k->b, k->hi, cg->t_i32, "");
    return item;
}

void cg_cpu_state_copy(Skel *k, int tensor, LLVMValueRef buf, int64_t ld, LLVMValueRef c0,
                       LLVMValueRef ncol, bool in)
{
    CgLlvm *cg = k->cg;
    LLVMValueRef rs, cs = cg_abi_tensor_stride(cg, k->args, tensor, 3);
    LLVMValueRef base = cg_cpu_head_base(k, tensor, k->hi, &rs);
    CgLoop lr, lc;
    cg_loop_begin(cg, &lr, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), 0, NULL, "srow");
    cg_loop_begin(cg, &lc, i64c(k, 0), ncol, i64c(k, 1), 0, NULL, "scol");
    LLVMValueRef p = cg_gep(cg, cg->t_f32, base, add(k, mul(k, lr.iv, rs), mul(k, add(k, c0, lc.iv), cs)));
    LLVMValueRef s = fptr(k, buf, add(k, mul(k, lr.iv, i64c(k, ld)), lc.iv));
    LLVMBuildStore(k->b, LLVMBuildLoad2(k->b, cg->t_f32, in ? p : s, ""), in ? s : p);
    cg_loop_end(cg, &lc, NULL);
    cg_loop_end(cg, &lr, NULL);
}

/* Whether the hook rooted at `root` reaches a node of op `op` (air_reach marks what it
 * reaches). */
bool cg_cpu_uses_op(CgLlvm *cg, const AirKernel *ak, int32_t root, AirOp op)
{
    if (root < 0) return false;
    uint8_t *reach = arena_alloc(cg->a, (size_t)root + 1);
    if (!reach) return false;
    air_reach(ak, root, reach);
    for (int32_t id = 0; id <= root; id++)
        if (reach[id] && ak->nodes[id].op == op) return true;
    return false;
}

LLVMValueRef cg_cpu_scale(Skel *k)
{
    if (k->k->hook[HOOK_SCALE] < 0) return cg_f32(k->cg, 1.0 / sqrt((double)k->dk), 1);
    k->env.lanes = 1;
    LLVMValueRef s = cg_hook_emit(&k->env, k->k->hook[HOOK_SCALE]);
    k->env.lanes = k->N;
    return s;
}

/* Adds function `name` of void(params) with the skeleton's attributes (noalias args, the
 * target CPU and vector width) and positions the builder in its entry block. */
void cg_cpu_function(Skel *k, const KernelPlan *plan, const char *name, LLVMTypeRef *params,
                     unsigned nparams)
{
    CgLlvm *cg = k->cg;
    LLVMTypeRef fty = LLVMFunctionType(cg->t_void, params, nparams, 0);
    k->fn = LLVMAddFunction(cg->mod, name, fty);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(k->fn, 1, LLVMCreateEnumAttribute(cg->ctx, noalias, 0));
    LLVMAddAttributeAtIndex(k->fn, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
    const char *vw = k->N == 16 ? "512" : "256";
    const char *kv[][2] = {{"prefer-vector-width", vw}, {"min-legal-vector-width", vw},
                           {"target-cpu", plan->t.cpu.name}, {"target-features", plan->t.cpu.features}};
    for (int i = 0; i < 4; i++)
        LLVMAddAttributeAtIndex(k->fn, LLVMAttributeFunctionIndex,
                                LLVMCreateStringAttribute(cg->ctx, kv[i][0], (unsigned)strlen(kv[i][0]),
                                                          kv[i][1], (unsigned)strlen(kv[i][1])));
    k->args = LLVMGetParam(k->fn, 0);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, k->fn, "entry");
    LLVMPositionBuilderAtEnd(k->b, entry);
}

/* The logit in log2 units from a q . k accumulator (lanes = rows or keys), with the score
 * hook applied at query position(s) i and key position(s) j. */
LLVMValueRef cg_cpu_logit(Skel *k, LLVMValueRef acc, LLVMValueRef i, LLVMValueRef j)
{
    if (k->score_mode == 0) return acc;
    CgLlvm *cg = k->cg;
    k->env.idx[IX_I] = i;
    k->env.idx[IX_J] = j;
    k->env.qk = k->score_mode == 2 ? acc : NULL;
    k->env.score = k->score_mode == 2 ? LLVMBuildFMul(k->b, acc, cg_splat(cg, k->scale, k->N), "")
                                      : acc;
    LLVMValueRef z = cg_hook_emit(&k->env, k->k->hook[HOOK_SCORE]);
    if (!z) return NULL;
    return LLVMBuildFMul(k->b, z, cg_f32(cg, M_LOG2E, k->N), "");
}

/* Visibility (i1 lanes) of keys j for queries i: j < Lk and the mask hook. */
LLVMValueRef cg_cpu_visible(Skel *k, LLVMValueRef i, LLVMValueRef j)
{
    CgLlvm *cg = k->cg;
    LLVMValueRef lk = LLVMBuildTrunc(k->b, k->lk, cg->t_i32, "");
    LLVMValueRef vis = cg_splat(cg, LLVMBuildICmp(k->b, LLVMIntSLT, j, cg_splat(cg, lk, cg_lanes(j)), ""), k->N);
    if (k->k->hook[HOOK_MASK] < 0) return vis;
    k->env.idx[IX_I] = i;
    k->env.idx[IX_J] = j;
    k->env.score = k->env.qk = NULL;
    LLVMValueRef m = cg_hook_emit(&k->env, k->k->hook[HOOK_MASK]);
    return m ? LLVMBuildAnd(k->b, vis, m, "") : NULL;
}

/* Opens the read of a tile's class: branches on has_map to a block where the caller reads it.
 * Returns the block before the branch, for cg_cpu_tile_enter's phi. */
LLVMBasicBlockRef cg_cpu_tile_map_begin(Skel *k, LLVMValueRef has_map)
{
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(k->b), rd = cg_block(k->cg, "tilemap");
    k->tile_go = cg_block(k->cg, "tile");
    LLVMBuildCondBr(k->b, has_map, rd, k->tile_go);
    LLVMPositionBuilderAtEnd(k->b, rd);
    return pre;
}

/* Closes the class read (cls8, read in the current block; PARTIAL without a map), skips an
 * EMPTY tile to *skip, and in the tile's body gives its first key, its valid keys and whether
 * the mask must run: on PARTIAL tiles (all tiles without a map) and on the ragged last tile,
 * whose padding keys must be hidden; with no mask hook only the latter. */
void cg_cpu_tile_enter(Skel *k, LLVMBasicBlockRef pre, LLVMValueRef cls8, LLVMValueRef iv,
                       LLVMBasicBlockRef *skip, LLVMValueRef *n0, LLVMValueRef *nvalid,
                       LLVMValueRef *need_mask)
{
    CgLlvm *cg = k->cg;
    int tn = k->s.tile_n;
    LLVMBasicBlockRef rdend = LLVMGetInsertBlock(k->b);
    LLVMBuildBr(k->b, k->tile_go);
    LLVMPositionBuilderAtEnd(k->b, k->tile_go);
    LLVMValueRef cls = LLVMBuildPhi(k->b, cg->t_i8, "class");
    LLVMValueRef vals[2] = {LLVMConstInt(cg->t_i8, TILE_PARTIAL, 0), cls8};
    LLVMBasicBlockRef bbs[2] = {pre, rdend};
    LLVMAddIncoming(cls, vals, bbs, 2);
    LLVMBasicBlockRef body = cg_block(cg, "tilebody");
    *skip = cg_block(cg, "tileskip");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntEQ, cls, LLVMConstInt(cg->t_i8, TILE_EMPTY, 0), ""),
                    *skip, body);
    LLVMPositionBuilderAtEnd(k->b, body);
    *n0 = mul(k, iv, i64c(k, tn));
    *nvalid = min64(k, i64c(k, tn), LLVMBuildSub(k->b, k->lk, *n0, ""));
    *need_mask = LLVMBuildICmp(k->b, LLVMIntSLT, *nvalid, i64c(k, tn), "ragged");
    if (k->k->hook[HOOK_MASK] >= 0)
        *need_mask = LLVMBuildOr(
            k->b, LLVMBuildICmp(k->b, LLVMIntNE, cls, LLVMConstInt(cg->t_i8, TILE_FULL, 0), ""),
            *need_mask, "need_mask");
}

void cg_cpu_skel_init(Skel *k, CgLlvm *cg, const AirKernel *ak, const CpuShape *shape,
                      const char *target)
{
    memset(k, 0, sizeof *k);
    k->cg = cg;
    k->b = cg->b;
    k->k = ak;
    k->s = *shape;
    k->N = shape->lanes;
    k->CM = shape->tile_m / shape->lanes;
    k->dk = ak->dk;
    k->dv = ak->dv;
    k->dvp = (ak->dv + k->N - 1) / k->N * k->N;
    k->dkp = (ak->dk + k->N - 1) / k->N * k->N;
    k->vf = LLVMVectorType(cg->t_f32, (unsigned)k->N);
    k->env.target = target;
}

static LLVMValueRef cpu_max(void *cg, LLVMValueRef a, LLVMValueRef b) { return cg_fmaximum(cg, a, b); }
static LLVMValueRef cpu_exp2(void *cg, LLVMValueRef x) { return cg_exp2(cg, x); }
static LLVMValueRef cpu_fma(void *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    return cg_fma(cg, a, b, c);
}

static LLVMValueRef cpu_log2(void *cg, LLVMValueRef x) { return cg_log2(cg, x); }

CgSoftmax cg_cpu_softmax(Skel *k)
{
    return (CgSoftmax){k->cg, k->cg, cpu_max, cpu_exp2, cpu_fma, cpu_log2};
}
