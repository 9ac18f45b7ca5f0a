/* cg_hook.c: lowers an AIR hook (scale, score, mask, sink: scalar expression programs) to
 * LLVM IR for any backend. The skeleton supplies the leaves in a CgHookEnv; values are kept
 * scalar while they are uniform across lanes and become <lanes x T> only when they meet a
 * varying leaf, so the same code serves a CPU skeleton (lanes = keys or queries of a vector
 * register) and a GPU one (lanes = 1 per thread).
 *
 * Semantics follow air.h: i32 `/` truncates and `%` is C's remainder, both giving 0 for a zero
 * divisor (and never trapping on INT_MIN / -1); f32 `%` is fmod; side tensor indices are clamped
 * into the tensor so that padding lanes can never read outside it. What a target may emit is
 * checked at plan time by pass_hook_check.c; the parts a skeleton evaluates per row or per key
 * come from pass_hook_split.c and arrive here as presets. */
#include "cg_llvm.h"
#include "pass.h"

#include <math.h>
#include <string.h>

static LLVMValueRef emit_node(CgHookEnv *env, int32_t id);

/* ---- environment ------------------------------------------------------------------------------ */

bool cg_hook_env_init(CgHookEnv *env, CgLlvm *cg, const AirKernel *k, const char *target,
                      int lanes)
{
    memset(env, 0, sizeof *env);
    env->cg = cg;
    env->k = k;
    env->target = target;
    env->lanes = lanes;
    env->memo = arena_alloc(cg->a, sizeof(LLVMValueRef) * ((size_t)k->nnodes + 1));
    env->emit_node = emit_node;
    return env->memo != NULL;
}

void cg_hook_preload(CgHookEnv *env, LLVMValueRef args)
{
    CgLlvm *cg = env->cg;
    const AirKernel *k = env->k;
    for (int s = 0; s < k->nsyms && s < ABI_MAX_SYMS; s++)
        env->sym[s] = LLVMBuildTrunc(cg->b, cg_abi_sym(cg, args, s), cg->t_i32, "");
    for (int p = 0; p < k->nparams && p < ABI_MAX_PARAMS; p++) {
        if (k->params[p].type == PARAM_F32) {
            env->param[p] = cg_abi_fparam(cg, args, p);
        } else {
            env->param[p] = cg_abi_iparam(cg, args, p);
            if (k->params[p].type == PARAM_BOOL)
                env->param[p] = LLVMBuildICmp(cg->b, LLVMIntNE, env->param[p],
                                              cg_i32(cg, 0, 1), "");
        }
    }
    for (int t = 0; t < k->ntensors && t < ABI_MAX_TENSORS; t++) {
        if (k->tensors[t].role != ROLE_SIDE) continue;
        CgSideTensor *st = &env->tensor[t];
        st->data = cg_abi_tensor_data(cg, args, t);
        for (int r = 0; r < k->tensors[t].rank && r < AIR_MAX_RANK; r++) {
            st->shape[r] = LLVMBuildTrunc(cg->b, cg_abi_tensor_shape(cg, args, t, r), cg->t_i32, "");
            st->stride[r] = cg_abi_tensor_stride(cg, args, t, r);
        }
    }
}

/* ---- emission ----------------------------------------------------------------------------------- */

static LLVMValueRef emit_load(CgHookEnv *env, const AirNode *n)
{
    CgLlvm *cg = env->cg;
    const AirTensor *t = &env->k->tensors[n->ref];
    const CgSideTensor *st = &env->tensor[n->ref];
    if (!st->data) {
        diag_error(cg->d, n->loc, "internal error: side tensor '%s' was not loaded", t->name);
        return NULL;
    }
    int lanes = 1;
    LLVMValueRef ix[AIR_MAX_ARGS];
    for (int a = 0; a < n->nargs; a++) {
        ix[a] = emit_node(env, n->args[a]);
        if (!ix[a]) return NULL;
        if (cg_lanes(ix[a]) > lanes) lanes = cg_lanes(ix[a]);
    }
    LLVMTypeRef i64t = cg_vec_type(cg->t_i64, lanes);
    LLVMValueRef off = lanes == 1 ? cg_i64(cg, 0) : LLVMConstNull(i64t);
    for (int a = 0; a < n->nargs; a++) {
        int l = cg_lanes(ix[a]);
        LLVMValueRef hi = LLVMBuildSub(cg->b, cg_splat(cg, st->shape[a], l), cg_i32(cg, 1, l), "");
        LLVMValueRef c = cg_smin(cg, cg_smax(cg, ix[a], cg_i32(cg, 0, l)), hi);
        c = cg_splat(cg, LLVMBuildSExt(cg->b, c, cg_vec_type(cg->t_i64, l), ""), lanes);
        off = LLVMBuildAdd(cg->b, off, LLVMBuildMul(cg->b, c, cg_splat(cg, st->stride[a], lanes), ""), "");
    }
    LLVMTypeRef et = cg_dtype_type(cg, t->dtype);
    LLVMValueRef p = cg_gep(cg, et, st->data, off);
    LLVMValueRef raw;
    if (lanes == 1) {
        raw = LLVMBuildLoad2(cg->b, et, p, "");
    } else {
        LLVMTypeRef vt = cg_vec_type(et, lanes);
        LLVMTypeRef over[2] = {vt, LLVMTypeOf(p)};
        LLVMValueRef ones = LLVMConstAllOnes(cg_vec_type(cg->t_i1, lanes));
        LLVMValueRef args[4] = {p, cg_i32(cg, t->dtype == DT_F16 || t->dtype == DT_BF16 ? 2 : 4, 1),
                                ones, LLVMGetPoison(vt)};
        raw = cg_intrin(cg, "llvm.masked.gather", over, 2, args, 4);
    }
    if (t->dtype == DT_I32) return n->ty.kind == TY_F32 ? cg_hook_as_f32(cg, raw) : raw;
    LLVMTypeRef ft = cg_vec_type(cg->t_f32, lanes);
    if (t->dtype == DT_F16) raw = LLVMBuildFPExt(cg->b, raw, ft, "");
    if (t->dtype == DT_BF16) {
        LLVMValueRef w = LLVMBuildZExt(cg->b, raw, cg_vec_type(cg->t_i32, lanes), "");
        raw = LLVMBuildBitCast(cg->b, LLVMBuildShl(cg->b, w, cg_i32(cg, 16, lanes), ""), ft, "");
    }
    return n->ty.kind == TY_I32 ? LLVMBuildFPToSI(cg->b, raw, cg_vec_type(cg->t_i32, lanes), "")
                                : raw;
}

static LLVMValueRef emit_leaf(CgHookEnv *env, const AirNode *n)
{
    CgLlvm *cg = env->cg;
    LLVMValueRef v = NULL;
    switch (n->op) {
    case OP_CONST:
        if (n->ty.kind == TY_BOOL) return LLVMConstInt(cg->t_i1, n->num != 0, 0);
        if (n->ty.kind == TY_I32) return cg_i32(cg, (int64_t)n->num, 1);
        return cg_f32(cg, n->num, 1);
    case OP_IDX: v = n->ref >= 0 && n->ref < IX_COUNT ? env->idx[n->ref] : NULL; break;
    case OP_DIM: v = n->ref >= 0 && n->ref < ABI_MAX_SYMS ? env->sym[n->ref] : NULL; break;
    case OP_PARAM: v = n->ref >= 0 && n->ref < ABI_MAX_PARAMS ? env->param[n->ref] : NULL; break;
    case OP_SCORE: v = env->score; break;
    case OP_QK: v = env->qk; break;
    case OP_BLOCK: v = env->block; break;
    default: break;
    }
    if (!v) diag_error(cg->d, n->loc, "'%s' is not available here on target %s",
                       air_ops[n->op].name, env->target);
    return v;
}

/* sum(r < n: e), unrolled: e is emitted n times with r a constant (LLVM folds what depends on
 * it), so that a hook stays straight-line code wherever a skeleton emits it. The memo is put
 * back after each term: a value of one term is not another's. n is at most HOOK_SUM_MAX_TERMS
 * (pass_hook_check refuses more). */
static LLVMValueRef emit_sum(CgHookEnv *env, int32_t id, const AirNode *n)
{
    CgLlvm *cg = env->cg;
    const AirKernel *k = env->k;
    size_t bytes = sizeof(LLVMValueRef) * (size_t)k->nnodes;
    LLVMValueRef *saved = arena_alloc(cg->a, bytes), acc = NULL;
    if (!saved) return NULL;
    memcpy(saved, env->memo, bytes);
    if (env->sum_loops && n->ty.kind == TY_F32 && env->lanes == 1) {   /* one body, in a loop */
        CgLoop l;
        LLVMValueRef zero = cg_f32(cg, 0.0, 1);
        cg_loop_begin(cg, &l, cg_i64(cg, 0), cg_i64(cg, (int64_t)n->num), cg_i64(cg, 1), 1, &zero, "sum");
        for (int32_t x = 0; x < id; x++)
            if (k->nodes[x].op == OP_RVAR && k->nodes[x].ref == id)
                env->memo[x] = LLVMBuildTrunc(cg->b, l.iv, cg->t_i32, "");
        LLVMValueRef t = emit_node(env, n->args[0]);
        memcpy(env->memo, saved, bytes);
        if (!t) return NULL;
        t = LLVMBuildFAdd(cg->b, l.carried[0], cg_hook_as_f32(cg, t), "");
        cg_loop_end(cg, &l, &t);
        return l.carried[0];
    }
    for (int64_t r = 0; r < (int64_t)n->num; r++) {
        for (int32_t x = 0; x < id; x++)
            if (k->nodes[x].op == OP_RVAR && k->nodes[x].ref == id) env->memo[x] = cg_i32(cg, (int32_t)r, 1);
        LLVMValueRef t = emit_node(env, n->args[0]);
        memcpy(env->memo, saved, bytes);
        if (!t) return NULL;
        if (n->ty.kind == TY_F32) t = cg_hook_as_f32(cg, t);
        if (acc) cg_hook_unify(cg, &acc, &t);
        acc = !acc ? t : n->ty.kind == TY_F32 ? LLVMBuildFAdd(cg->b, acc, t, "") : LLVMBuildAdd(cg->b, acc, t, "");
    }
    return acc ? acc : n->ty.kind == TY_F32 ? cg_f32(cg, 0.0, 1) : cg_i32(cg, 0, 1);
}

static LLVMValueRef emit_node(CgHookEnv *env, int32_t id)
{
    if (env->memo[id]) return env->memo[id];
    const AirNode *n = &env->k->nodes[id];
    LLVMValueRef v = NULL, a[AIR_MAX_ARGS] = {0};
    if (n->op == OP_LOAD) {
        v = emit_load(env, n);
    } else if (n->op == OP_SUM) {
        v = emit_sum(env, id, n);
        if (!v) return NULL;
    } else if (n->op == OP_DOT || n->op == OP_SQNORM) {
        v = cg_hook_vec_reduce(env, id);
        if (!v) return NULL;
    } else if (air_ops[n->op].kind == OPK_LEAF) {
        v = emit_leaf(env, n);
    } else {
        for (int i = 0; i < n->nargs && i < AIR_MAX_ARGS; i++)
            if (!(a[i] = emit_node(env, n->args[i]))) return NULL;
        v = cg_hook_apply(env, n, a);
    }
    env->memo[id] = v;
    return v;
}

LLVMValueRef cg_hook_emit_preset(CgHookEnv *env, int32_t root, int npreset, const int32_t *ids,
                                 LLVMValueRef *vals)
{
    env->npreset = npreset;
    env->preset_id = ids;
    env->preset_val = vals;
    LLVMValueRef v = cg_hook_emit(env, root);
    env->npreset = 0;
    return v;
}

LLVMValueRef cg_hook_emit_at(CgHookEnv *env, int32_t root, LLVMValueRef i, LLVMValueRef j,
                             int npreset, const int32_t *ids, LLVMValueRef *vals)
{
    env->idx[IX_I] = i;
    env->idx[IX_J] = j;
    env->score = env->qk = NULL;
    return cg_hook_emit_preset(env, root, npreset, ids, vals);
}

LLVMValueRef cg_hook_emit(CgHookEnv *env, int32_t root)
{
    memset(env->memo, 0, sizeof(LLVMValueRef) * (size_t)env->k->nnodes);
    for (int p = 0; p < env->npreset; p++) env->memo[env->preset_id[p]] = env->preset_val[p];
    LLVMValueRef v = emit_node(env, root);
    if (!v) return NULL;
    AirTypeKind rk = env->k->nodes[root].ty.kind;
    if (rk == TY_F32 || rk == TY_VEC) v = cg_hook_as_f32(env->cg, v);
    return cg_splat(env->cg, v, env->lanes);
}

int cg_hook_vec_loads(CgHookEnv *env, int32_t root, int max, int32_t *ids, LLVMValueRef *base,
                      LLVMValueRef *stride)
{
    CgLlvm *cg = env->cg;
    const AirKernel *ak = env->k;
    int nid = 0;
    uint8_t *reach = arena_alloc(cg->a, (size_t)ak->nnodes + 1);
    if (!reach) return -1;
    reach[root] = 1;
    for (int32_t id = root; id >= 0; id--) {
        const AirNode *n = &ak->nodes[id];
        if (!reach[id]) continue;
        if (n->op == OP_LOAD && n->ty.kind == TY_VEC) {
            if (nid == max) {
                diag_error(cg->d, n->loc, "more than %d vector loads in a decay", max);
                return -1;
            }
            ids[nid++] = id;
            continue;
        }
        for (int g = 0; g < n->nargs; g++) reach[n->args[g]] = 1;
    }
    for (int i = 0; i < nid; i++) {   /* &tensor[idx..., 0] with clamped indices, and the last stride */
        const AirNode *n = &ak->nodes[ids[i]];
        const CgSideTensor *st = &env->tensor[n->ref];
        LLVMValueRef off = cg_i64(cg, 0);
        for (int g = 0; g < n->nargs; g++) {
            LLVMValueRef x = cg_hook_emit(env, n->args[g]);
            if (!x) return -1;
            LLVMValueRef hi = LLVMBuildSub(cg->b, st->shape[g], cg_i32(cg, 1, 1), "");
            x = cg_smax(cg, cg_smin(cg, x, hi), cg_i32(cg, 0, 1));
            off = LLVMBuildAdd(cg->b, off, LLVMBuildMul(cg->b, LLVMBuildSExt(cg->b, x, cg->t_i64, ""), st->stride[g], ""), "");
        }
        base[i] = cg_gep(cg, cg_dtype_type(cg, ak->tensors[n->ref].dtype), st->data, off);
        stride[i] = st->stride[n->nargs];
    }
    return nid;
}

LLVMValueRef cg_hook_recur_coef(CgHookEnv *env, const RecurCoef *c)
{
    CgLlvm *cg = env->cg;
    LLVMValueRef sum = cg_f32(cg, 0.0, 1);
    for (int32_t i = 0; i < c->n; i++) {
        const RecurProd *p = &c->t[i];
        LLVMValueRef v = cg_f32(cg, p->c, 1);
        for (int32_t x = 0; x < p->n; x++) {
            LLVMValueRef f = cg_hook_emit(env, p->f[x]);
            if (!f) return NULL;
            if (LLVMGetTypeKind(LLVMTypeOf(f)) != LLVMFloatTypeKind) f = LLVMBuildSIToFP(cg->b, f, cg->t_f32, "");
            v = p->inv & (1u << x) ? LLVMBuildFDiv(cg->b, v, f, "") : LLVMBuildFMul(cg->b, v, f, "");
        }
        sum = i ? LLVMBuildFAdd(cg->b, sum, v, "") : v;
    }
    return sum;
}
