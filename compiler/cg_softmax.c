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
