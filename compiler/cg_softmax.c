/* cg_softmax.c: the online softmax's algebra in log2 units, written once for every skeleton
 * (CPU and GPU; scalars or vectors, the lanes are the operands'). A skeleton keeps per row a
 * running max m and sum l (and its unnormalised output O, which it rescales by the factor
 * returned here); each target supplies its own max, exp2 and fma (CgSoftmax).
 *
 * A row that has seen nothing visible has m = -inf. Its base is 0 instead, so that
 * exp2(-inf - base) is 0 and never NaN (-inf - -inf): the row ends with l = 0. */
#include "cg_llvm.h"

#include <math.h>

LLVMValueRef cg_softmax_base(const CgSoftmax *s, LLVMValueRef m, LLVMValueRef x, LLVMValueRef *mnew)
{
    CgLlvm *cg = s->cg;
    int lanes = cg_lanes(m);
    *mnew = s->max(s->ctx, m, x);
    LLVMValueRef empty = LLVMBuildFCmp(cg->b, LLVMRealOEQ, *mnew, cg_f32(cg, -INFINITY, lanes), "");
    return LLVMBuildSelect(cg->b, empty, cg_f32(cg, 0.0, lanes), *mnew, "");
}

LLVMValueRef cg_softmax_fold(const CgSoftmax *s, LLVMValueRef m, LLVMValueRef l, LLVMValueRef x,
                             LLVMValueRef *mo, LLVMValueRef *lo, LLVMValueRef *base)
{
    LLVMBuilderRef b = s->cg->b;
    LLVMValueRef mb = cg_softmax_base(s, m, x, mo);
    LLVMValueRef f = s->exp2(s->ctx, LLVMBuildFSub(b, m, mb, ""));
    *lo = s->fma(s->ctx, l, f, s->exp2(s->ctx, LLVMBuildFSub(b, x, mb, "")));
    if (base) *base = mb;
    return f;
}

LLVMValueRef cg_softmax_final(const CgSoftmax *s, LLVMValueRef m, LLVMValueRef l, LLVMValueRef num,
                              LLVMValueRef *inv, LLVMValueRef *lse2)
{
    CgLlvm *cg = s->cg;
    LLVMBuilderRef b = cg->b;
    int lanes = cg_lanes(m);
    LLVMValueRef inf = cg_f32(cg, INFINITY, lanes);
    /* NaN or +inf: exp2 takes NaN to 0 or NaN, so l says nothing of such a row */
    LLVMValueRef bad = LLVMBuildFCmp(b, LLVMRealUEQ, m, inf, "");
    LLVMValueRef has = LLVMBuildOr(b, bad, LLVMBuildFCmp(b, LLVMRealUNE, l, cg_f32(cg, 0.0, lanes), ""), "");
    *inv = LLVMBuildSelect(b, bad, cg_f32(cg, NAN, lanes), LLVMBuildFDiv(b, num, l, ""), "");
    LLVMValueRef pinf = LLVMBuildFCmp(b, LLVMRealOEQ, m, inf, "");
    *lse2 = LLVMBuildSelect(b, pinf, inf, LLVMBuildFAdd(b, m, s->log2(s->ctx, l), ""), "");
    return has;
}
