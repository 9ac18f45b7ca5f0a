/* cg_hook_ops.c: the hook emitter's scalar and element-wise ops (arithmetic, comparisons,
 * logic, math functions, select, conversions) on values of any lane count: cg_hook.c applies
 * them to a hook's nodes and cg_hook_vec.c to the chunks of a vector expression, so every
 * target's ops mean the same thing. */
#include "cg_llvm.h"

#include <math.h>
#include <string.h>

static bool is_float(LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    if (LLVMGetTypeKind(t) == LLVMVectorTypeKind) t = LLVMGetElementType(t);
    return LLVMGetTypeKind(t) == LLVMFloatTypeKind;
}

LLVMValueRef cg_hook_as_f32(CgLlvm *cg, LLVMValueRef v)
{
    if (is_float(v)) return v;
    return LLVMBuildSIToFP(cg->b, v, cg_vec_type(cg->t_f32, cg_lanes(v)), "");
}

/* Brings two operands to the same lane count (a uniform one is broadcast). */
void cg_hook_unify(CgLlvm *cg, LLVMValueRef *a, LLVMValueRef *b)
{
    int la = cg_lanes(*a), lb = cg_lanes(*b);
    if (la < lb) *a = cg_splat(cg, *a, lb);
    if (lb < la) *b = cg_splat(cg, *b, la);
}

static LLVMValueRef un1(CgLlvm *cg, const char *intrin, LLVMValueRef x)
{
    return cg_intrin1(cg, intrin, &x, 1);
}

/* i32 a / b or a % b with b == 0 giving 0 and b == -1 handled without the INT_MIN trap. */
static LLVMValueRef int_divmod(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b, bool mod)
{
    LLVMBuilderRef bd = cg->b;
    int lanes = cg_lanes(a);
    LLVMValueRef zero = cg_i32(cg, 0, lanes), m1 = cg_i32(cg, -1, lanes);
    LLVMValueRef bz = LLVMBuildICmp(bd, LLVMIntEQ, b, zero, "");
    LLVMValueRef bm1 = LLVMBuildICmp(bd, LLVMIntEQ, b, m1, "");
    LLVMValueRef safe = LLVMBuildSelect(bd, LLVMBuildOr(bd, bz, bm1, ""), cg_i32(cg, 1, lanes), b, "");
    LLVMValueRef r = mod ? LLVMBuildSRem(bd, a, safe, "") : LLVMBuildSDiv(bd, a, safe, "");
    LLVMValueRef neg = mod ? zero : LLVMBuildSub(bd, zero, a, "");
    r = LLVMBuildSelect(bd, bm1, neg, r, "");
    return LLVMBuildSelect(bd, bz, zero, r, "");
}
static LLVMValueRef emit_unf(CgLlvm *cg, AirOp op, LLVMValueRef x, bool nvptx)
{
    LLVMBuilderRef b = cg->b;
    int l = cg_lanes(x);
    switch (op) {
    case OP_EXP: return cg_exp(cg, x);
    case OP_EXP2: return cg_exp2(cg, x);
    case OP_LOG: return cg_log(cg, x);
    case OP_LOG2: return cg_log2(cg, x);
    case OP_SQRT: return un1(cg, "llvm.sqrt", x);
    case OP_RSQRT: return LLVMBuildFDiv(b, cg_f32(cg, 1.0, l), un1(cg, "llvm.sqrt", x), "");
    case OP_TANH: return nvptx ? cg_tanh_nvptx(cg, x) : cg_tanh(cg, x);
    case OP_SIGMOID:
        return LLVMBuildFDiv(b, cg_f32(cg, 1.0, l),
                             LLVMBuildFAdd(b, cg_f32(cg, 1.0, l),
                                           cg_exp(cg, LLVMBuildFNeg(b, x, "")), ""), "");
    case OP_RELU: return cg_fmax(cg, x, cg_f32(cg, 0.0, l));
    case OP_SOFTPLUS: {
        /* max(x, 0) + log1p(exp(-|x|)): no overflow for large x; log1p(e) as
         * log(u) * e / (u - 1) with u = 1 + e, which cancels u's rounding (e when u == 1). */
        LLVMValueRef e = cg_exp(cg, LLVMBuildFNeg(b, un1(cg, "llvm.fabs", x), ""));
        LLVMValueRef u = LLVMBuildFAdd(b, e, cg_f32(cg, 1.0, l), "");
        LLVMValueRef um1 = LLVMBuildFSub(b, u, cg_f32(cg, 1.0, l), "");
        LLVMValueRef lp = LLVMBuildFMul(b, cg_log(cg, u), LLVMBuildFDiv(b, e, um1, ""), "");
        LLVMValueRef one = LLVMBuildFCmp(b, LLVMRealOEQ, um1, cg_f32(cg, 0.0, l), "");
        lp = LLVMBuildSelect(b, one, e, lp, "");
        return LLVMBuildFAdd(b, cg_fmax(cg, x, cg_f32(cg, 0.0, l)), lp, "");
    }
    case OP_FLOOR: return un1(cg, "llvm.floor", x);
    case OP_CEIL: return un1(cg, "llvm.ceil", x);
    default: return NULL;
    }
}

static LLVMValueRef emit_arith(CgHookEnv *env, const AirNode *n, LLVMValueRef x, LLVMValueRef y)
{
    CgLlvm *cg = env->cg;
    LLVMBuilderRef b = cg->b;
    bool fl = n->ty.kind != TY_I32;   /* f32, or an f32 vector element-wise (a decay vector) */
    if (fl) {
        x = cg_hook_as_f32(cg, x);
        if (y) y = cg_hook_as_f32(cg, y);
    }
    if (y) cg_hook_unify(cg, &x, &y);
    int l = cg_lanes(x);
    switch (n->op) {
    case OP_NEG: return fl ? LLVMBuildFNeg(b, x, "") : LLVMBuildSub(b, cg_i32(cg, 0, l), x, "");
    case OP_ADD: return fl ? LLVMBuildFAdd(b, x, y, "") : LLVMBuildAdd(b, x, y, "");
    case OP_SUB: return fl ? LLVMBuildFSub(b, x, y, "") : LLVMBuildSub(b, x, y, "");
    case OP_MUL: return fl ? LLVMBuildFMul(b, x, y, "") : LLVMBuildMul(b, x, y, "");
    case OP_DIV:
        /* On the GPU x / c is x * (1 / c) (within 1.5 ulp of the quotient; `score / 50` is
         * one FMUL instead of a div.full). */
        if (fl && env->nvptx && LLVMIsAConstantFP(y))
            return LLVMBuildFMul(b, x, LLVMBuildFDiv(b, cg_f32(cg, 1.0, 1), y, ""), "");
        return fl ? LLVMBuildFDiv(b, x, y, "") : int_divmod(cg, x, y, false);
    case OP_MOD:
        if (!fl) return int_divmod(cg, x, y, true);
        {   /* fmod: r = x - trunc(x / y) * y in one fma (exact when the quotient is right,
             * i.e. below 2^24), then one correction step for a quotient that x / y rounded
             * the wrong way; 0 for y == 0. */
            LLVMValueRef q = un1(cg, "llvm.trunc", LLVMBuildFDiv(b, x, y, ""));
            LLVMValueRef r = cg_fma(cg, LLVMBuildFNeg(b, q, ""), y, x);
            LLVMValueRef args[2] = {un1(cg, "llvm.fabs", y), x};
            LLVMValueRef sy = cg_intrin1(cg, "llvm.copysign", args, 2);   /* |y| with x's sign */
            LLVMValueRef zero = cg_f32(cg, 0.0, l);
            LLVMValueRef flip = LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealONE, r, zero, ""),
                                             LLVMBuildFCmp(b, LLVMRealOLT, LLVMBuildFMul(b, r, x, ""), zero, ""), "");
            r = LLVMBuildSelect(b, flip, LLVMBuildFAdd(b, r, sy, ""), r, "");
            LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGE, un1(cg, "llvm.fabs", r), args[0], "");
            r = LLVMBuildSelect(b, big, LLVMBuildFSub(b, r, sy, ""), r, "");
            LLVMValueRef yz = LLVMBuildFCmp(b, LLVMRealOEQ, y, zero, "");
            return LLVMBuildSelect(b, yz, zero, r, "");
        }
    case OP_MIN: return fl ? cg_fmin(cg, x, y) : cg_smin(cg, x, y);
    case OP_MAX: return fl ? cg_fmax(cg, x, y) : cg_smax(cg, x, y);
    case OP_ABS: {
        if (fl) return un1(cg, "llvm.fabs", x);
        LLVMValueRef args[2] = {x, LLVMConstInt(cg->t_i1, 0, 0)};
        return cg_intrin1(cg, "llvm.abs", args, 2);
    }
    default: return NULL;
    }
}

static LLVMValueRef emit_cmp(CgLlvm *cg, AirOp op, LLVMValueRef x, LLVMValueRef y)
{
    static const LLVMRealPredicate fp[] = {LLVMRealOLT, LLVMRealOLE, LLVMRealOGT, LLVMRealOGE,
                                           LLVMRealOEQ, LLVMRealUNE};
    static const LLVMIntPredicate ip[] = {LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE,
                                          LLVMIntEQ, LLVMIntNE};
    int k = (int)op - (int)OP_LT;
    if (is_float(x) || is_float(y)) {
        x = cg_hook_as_f32(cg, x);
        y = cg_hook_as_f32(cg, y);
        cg_hook_unify(cg, &x, &y);
        return LLVMBuildFCmp(cg->b, fp[k], x, y, "");
    }
    cg_hook_unify(cg, &x, &y);
    return LLVMBuildICmp(cg->b, ip[k], x, y, "");
}

/* pow(x, y) with C's meaning (the reference's): a small integral constant exponent is products
 * (x ** 2 is x * x, exact where exp2/log2 would round twice); otherwise exp2(y log2 |x|),
 * negated for x < 0 and an odd integral y, NaN for x < 0 and a non-integral y, and 1 when
 * y = 0 or x = 1 (even for a NaN other operand). */
static LLVMValueRef emit_pow(CgLlvm *cg, const AirNode *yn, LLVMValueRef x, LLVMValueRef y)
{
    LLVMBuilderRef b = cg->b;
    x = cg_hook_as_f32(cg, x);
    y = cg_hook_as_f32(cg, y);
    cg_hook_unify(cg, &x, &y);
    int l = cg_lanes(x);
    LLVMValueRef one = cg_f32(cg, 1.0, l), zero = cg_f32(cg, 0.0, l);
    if (yn->op == OP_CONST && yn->num == floor(yn->num) && fabs(yn->num) <= 4) {
        LLVMValueRef r = one;
        for (int e = 0; e < (int)fabs(yn->num); e++) r = e ? LLVMBuildFMul(b, r, x, "") : x;
        return yn->num < 0 ? LLVMBuildFDiv(b, one, r, "") : r;
    }
    LLVMValueRef p = cg_exp2(cg, LLVMBuildFMul(b, y, cg_log2(cg, un1(cg, "llvm.fabs", x)), ""));
    LLVMValueRef half = LLVMBuildFMul(b, y, cg_f32(cg, 0.5, l), "");
    LLVMValueRef whole = LLVMBuildFCmp(b, LLVMRealOEQ, un1(cg, "llvm.floor", y), y, "");
    LLVMValueRef odd = LLVMBuildAnd(b, whole, LLVMBuildFCmp(b, LLVMRealUNE, un1(cg, "llvm.floor", half),
                                                            half, ""), "");
    LLVMValueRef neg = LLVMBuildFCmp(b, LLVMRealOLT, x, zero, "");
    p = LLVMBuildSelect(b, LLVMBuildAnd(b, neg, odd, ""), LLVMBuildFNeg(b, p, ""), p, "");
    p = LLVMBuildSelect(b, LLVMBuildAnd(b, neg, LLVMBuildNot(b, whole, ""), ""), cg_f32(cg, NAN, l), p, "");
    LLVMValueRef unit = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOEQ, y, zero, ""),
                                    LLVMBuildFCmp(b, LLVMRealOEQ, x, one, ""), "");
    return LLVMBuildSelect(b, unit, one, p, "");
}


LLVMValueRef cg_hook_apply(CgHookEnv *env, const AirNode *n, LLVMValueRef *a)
{
    CgLlvm *cg = env->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef v = NULL;
    switch (air_ops[n->op].kind) {
    case OPK_UN_F: v = emit_unf(cg, n->op, cg_hook_as_f32(cg, a[0]), env->nvptx); break;
    case OPK_ARITH: v = emit_arith(env, n, a[0], a[1]); break;
    case OPK_CMP: v = emit_cmp(cg, n->op, a[0], a[1]); break;
    case OPK_LOGIC:
        if (n->op == OP_NOT) {
            v = LLVMBuildNot(b, a[0], "");
        } else {
            cg_hook_unify(cg, &a[0], &a[1]);
            v = n->op == OP_AND ? LLVMBuildAnd(b, a[0], a[1], "") : LLVMBuildOr(b, a[0], a[1], "");
        }
        break;
    case OPK_BIN_F: v = emit_pow(cg, &env->k->nodes[n->args[1]], a[0], a[1]); break;
    default:
        if (n->op == OP_SELECT) {
            LLVMValueRef x = a[1], y = a[2];
            if (is_float(x) || is_float(y)) {
                x = cg_hook_as_f32(cg, x);
                y = cg_hook_as_f32(cg, y);
            }
            cg_hook_unify(cg, &x, &y);
            LLVMValueRef c = a[0];
            if (cg_lanes(c) < cg_lanes(x)) c = cg_splat(cg, c, cg_lanes(x));
            if (cg_lanes(x) < cg_lanes(c)) {
                x = cg_splat(cg, x, cg_lanes(c));
                y = cg_splat(cg, y, cg_lanes(c));
            }
            v = LLVMBuildSelect(b, c, x, y, "");
        } else if (n->op == OP_TOF32) {
            v = cg_hook_as_f32(cg, a[0]);
        } else if (n->op == OP_TOI32) {
            LLVMTypeRef over[2] = {cg_vec_type(cg->t_i32, cg_lanes(a[0])), LLVMTypeOf(a[0])};
            v = cg_intrin(cg, "llvm.fptosi.sat", over, 2, a, 1);
        }
        break;
    }
    if (!v) diag_error(cg->d, n->loc, "'%s' is not supported on target %s yet",
                       air_ops[n->op].name, env->target);
    return v;
}
