/* cg_hook_vec.c: the hook emitter's vector reductions, dot(a, b) and sqnorm(a), for a
 * selector's score (lanes = 1: one candidate at a time). An operand is an element-wise vector
 * expression whose leaves are rows of q, k or v, a block mean of K, or a side tensor read as a
 * vector; it is evaluated chunk by chunk (at most env->vec_lanes elements each, the last chunk
 * shorter) and never stored: a chunk of each leaf is loaded, the element-wise ops are the hook
 * emitter's own (cg_hook_apply, so every target's ops mean the same thing), and the products
 * are summed in f32 vectors, then across the lanes. Indices into q, k, v and the side tensors
 * are clamped into the tensor, as cg_hook.c's scalar loads are. */
#include "cg_llvm.h"

#include <string.h>

/* Where a leaf's elements are: p[e * stride] for e < n, in dtype dt; stride NULL means 1. */
typedef struct VecLeaf {
    LLVMValueRef p, stride;
    AirDtype dt;
} VecLeaf;

static LLVMValueRef clamp_i32(CgLlvm *cg, LLVMValueRef x, LLVMValueRef hi)
{
    return cg_smax(cg, cg_smin(cg, x, LLVMBuildSub(cg->b, hi, cg_i32(cg, 1, 1), "")), cg_i32(cg, 0, 1));
}

static LLVMValueRef i64of(CgLlvm *cg, LLVMValueRef x) { return LLVMBuildSExt(cg->b, x, cg->t_i64, ""); }

static bool leaf_where(CgHookEnv *env, const AirNode *n, VecLeaf *out)
{
    CgLlvm *cg = env->cg;
    const AirKernel *k = env->k;
    LLVMBuilderRef b = cg->b;
    memset(out, 0, sizeof *out);
    LLVMValueRef h = env->idx[IX_H], bi = env->idx[IX_B];
    if (n->op == OP_ROW) {
        const CgSideTensor *st = &env->tensor[n->ref];
        LLVMValueRef pos = env->emit_node(env, n->args[0]);
        if (!st->data || !pos || !h || !bi || !env->group || !env->qoff) goto unavailable;
        bool q = n->ref == k->tq;
        if (q) pos = LLVMBuildSub(b, pos, env->qoff, "");
        LLVMValueRef head = q ? h : LLVMBuildSDiv(b, h, env->group, "");
        pos = clamp_i32(cg, pos, st->shape[2]);
        LLVMValueRef off = LLVMBuildAdd(b, LLVMBuildMul(b, i64of(cg, bi), st->stride[0], ""),
                                        LLVMBuildMul(b, i64of(cg, head), st->stride[1], ""), "");
        off = LLVMBuildAdd(b, off, LLVMBuildMul(b, i64of(cg, pos), st->stride[2], ""), "");
        out->dt = k->tensors[n->ref].dtype;
        out->p = cg_gep(cg, cg_dtype_type(cg, out->dt), st->data, off);
        return true;   /* the last dim of q, k, v is contiguous (docs/language.md section 12) */
    }
    if (n->op == OP_BLOCKMEAN) {
        LLVMValueRef blk = env->emit_node(env, n->args[0]);
        const CgSideTensor *kt = &env->tensor[k->tk];
        if (!blk || !env->means || !env->nblk || !h || !bi || !env->group || !kt->data) goto unavailable;
        blk = clamp_i32(cg, blk, env->nblk);
        LLVMValueRef kvh = LLVMBuildSDiv(b, h, env->group, "");
        LLVMValueRef row = LLVMBuildAdd(b, LLVMBuildMul(b, i64of(cg, bi), i64of(cg, kt->shape[1]), ""),
                                        i64of(cg, kvh), "");
        row = LLVMBuildAdd(b, LLVMBuildMul(b, row, i64of(cg, env->nblk), ""), i64of(cg, blk), "");
        out->dt = DT_F32;
        out->p = cg_gep(cg, cg->t_f32, env->means, LLVMBuildMul(b, row, cg_i64(cg, k->dk), ""));
        return true;
    }
    if (n->op == OP_LOAD) {
        const CgSideTensor *st = &env->tensor[n->ref];
        if (!st->data) goto unavailable;
        LLVMValueRef off = cg_i64(cg, 0);
        for (int g = 0; g < n->nargs; g++) {
            LLVMValueRef x = env->emit_node(env, n->args[g]);
            if (!x) return false;
            if (cg_lanes(x) != 1) goto unavailable;
            off = LLVMBuildAdd(b, off, LLVMBuildMul(b, i64of(cg, clamp_i32(cg, x, st->shape[g])), st->stride[g], ""), "");
        }
        out->dt = k->tensors[n->ref].dtype;
        out->p = cg_gep(cg, cg_dtype_type(cg, out->dt), st->data, off);
        out->stride = st->stride[n->nargs];
        return true;
    }
unavailable:
    if (cg->d->errors == 0)
        diag_error(cg->d, n->loc, "this vector is not available here on target %s", env->target);
    return false;
}

/* w elements from e of a leaf as <w x f32> (f32 when w == 1). A side tensor's vector may be
 * strided: one wide load when its stride is 1 at run time, else element by element. */
static LLVMValueRef leaf_chunk(CgHookEnv *env, const VecLeaf *l, int e, int w)
{
    CgLlvm *cg = env->cg;
    LLVMTypeRef et = cg_dtype_type(cg, l->dt);
    if (!l->stride) return cg_load_vec_f32(cg, cg_gep(cg, et, l->p, cg_i64(cg, e)), l->dt, w);
    LLVMValueRef fast_c = LLVMBuildICmp(cg->b, LLVMIntEQ, l->stride, cg_i64(cg, 1), "");
    LLVMBasicBlockRef fast = cg_block(cg, "vfast"), slow = cg_block(cg, "vslow"), join = cg_block(cg, "vjoin");
    LLVMBuildCondBr(cg->b, fast_c, fast, slow);
    LLVMPositionBuilderAtEnd(cg->b, fast);
    LLVMValueRef vf = cg_load_vec_f32(cg, cg_gep(cg, et, l->p, cg_i64(cg, e)), l->dt, w);
    LLVMBasicBlockRef fast_end = LLVMGetInsertBlock(cg->b);
    LLVMBuildBr(cg->b, join);
    LLVMPositionBuilderAtEnd(cg->b, slow);
    LLVMValueRef vs = w == 1 ? NULL : LLVMGetUndef(cg_vec_type(cg->t_f32, w));
    for (int x = 0; x < w; x++) {
        LLVMValueRef off = LLVMBuildMul(cg->b, cg_i64(cg, e + x), l->stride, "");
        LLVMValueRef f = cg_load_f32(cg, cg_gep(cg, et, l->p, off), l->dt);
        vs = w == 1 ? f : LLVMBuildInsertElement(cg->b, vs, f, cg_i32(cg, x, 1), "");
    }
    LLVMBasicBlockRef slow_end = LLVMGetInsertBlock(cg->b);
    LLVMBuildBr(cg->b, join);
    LLVMPositionBuilderAtEnd(cg->b, join);
    LLVMValueRef phi = LLVMBuildPhi(cg->b, cg_vec_type(cg->t_f32, w), "");
    LLVMValueRef vals[2] = {vf, vs};
    LLVMBasicBlockRef bbs[2] = {fast_end, slow_end};
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

/* Elements e .. e + w - 1 of the vector expression at node id, as f32 lanes; leaves[id] holds
 * each leaf's place (found once per reduction). A scalar operand is broadcast. */
static LLVMValueRef chunk(CgHookEnv *env, int32_t id, const VecLeaf *leaves, int e, int w)
{
    CgLlvm *cg = env->cg;
    const AirNode *n = &env->k->nodes[id];
    if (n->ty.kind != TY_VEC) {
        LLVMValueRef s = env->emit_node(env, id);
        return s ? cg_splat(cg, s, w) : NULL;
    }
    if (leaves[id].p) return leaf_chunk(env, &leaves[id], e, w);
    LLVMValueRef a[AIR_MAX_ARGS] = {0};
    for (int x = 0; x < n->nargs && x < AIR_MAX_ARGS; x++)
        if (!(a[x] = chunk(env, n->args[x], leaves, e, w))) return NULL;
    return cg_hook_apply(env, n, a);
}

/* Finds the leaves of the vector expression at id (rows, block means, vector loads). */
static bool find_leaves(CgHookEnv *env, int32_t id, VecLeaf *leaves)
{
    const AirNode *n = &env->k->nodes[id];
    if (n->ty.kind != TY_VEC || leaves[id].p) return true;
    if (n->op == OP_ROW || n->op == OP_BLOCKMEAN || n->op == OP_LOAD) return leaf_where(env, n, &leaves[id]);
    if (n->op == OP_VECMAT || n->op == OP_MATVEC || n->op == OP_SUM) {
        diag_error(env->cg->d, n->loc, "this vector expression is not supported on target %s yet", env->target);
        return false;
    }
    for (int x = 0; x < n->nargs && x < AIR_MAX_ARGS; x++)
        if (!find_leaves(env, n->args[x], leaves)) return false;
    return true;
}

LLVMValueRef cg_hook_vec_reduce(CgHookEnv *env, int32_t id)
{
    CgLlvm *cg = env->cg;
    const AirKernel *k = env->k;
    const AirNode *n = &k->nodes[id];
    VecLeaf *leaves = arena_alloc(cg->a, sizeof(VecLeaf) * (size_t)(id + 1));
    if (!leaves) return NULL;
    memset(leaves, 0, sizeof(VecLeaf) * (size_t)(id + 1));
    int32_t x = n->args[0], y = n->op == OP_DOT ? n->args[1] : n->args[0];
    if (!find_leaves(env, x, leaves) || !find_leaves(env, y, leaves)) return NULL;
    int len = k->nodes[x].ty.rows, W = env->vec_lanes > 0 && env->vec_lanes <= 32 ? env->vec_lanes : 8;
    LLVMValueRef acc = NULL, total = NULL;
    for (int e = 0; e < len;) {
        int w = len - e < W ? len - e : W;
        LLVMValueRef a = chunk(env, x, leaves, e, w), b = x == y ? a : chunk(env, y, leaves, e, w);
        if (!a || !b) return NULL;
        if (acc && cg_lanes(acc) == w) {
            acc = cg_fma(cg, a, b, acc);
        } else {
            if (acc) total = total ? LLVMBuildFAdd(cg->b, total, cg_lane_sum(cg, acc), "") : cg_lane_sum(cg, acc);
            acc = LLVMBuildFMul(cg->b, a, b, "");
        }
        e += w;
    }
    if (!acc) return cg_f32(cg, 0.0, 1);
    LLVMValueRef s = cg_lane_sum(cg, acc);
    return total ? LLVMBuildFAdd(cg->b, total, s, "") : s;
}
