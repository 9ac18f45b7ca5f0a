/* cg_math.c: f32 math written out as LLVM IR on scalars or vectors (the lane count is the
 * operand's): exp2, exp, log2, log, tanh. Kernels never call libm, which keeps JIT linking
 * trivial and lets the math vectorize with the hooks around it. Accuracy is a few ulp
 * (tests/cpu_codegen/test_hook_math.c measures every op against libm). */
#include "cg_llvm.h"

#include <math.h>

static LLVMValueRef un_intrin(CgLlvm *cg, const char *name, LLVMValueRef x)
{
    return cg_intrin1(cg, name, &x, 1);
}

static LLVMValueRef horner(CgLlvm *cg, LLVMValueRef x, const double *c, int n)
{
    int lanes = cg_lanes(x);
    LLVMValueRef p = cg_f32(cg, c[n - 1], lanes);
    for (int i = n - 2; i >= 0; i--) p = cg_fma(cg, p, x, cg_f32(cg, c[i], lanes));
    return p;
}

/* e^r * 2^n for |r| <= ln2/2 and n integral in [-127, 128] (as f32): degree-7 Taylor series
 * (truncation error 5e-9 relative), scaled by building 2^n's exponent bits. n = -127 gives
 * exponent bits 0, i.e. exactly 0, which is how -inf inputs become 0. */
static LLVMValueRef exp_core(CgLlvm *cg, LLVMValueRef r, LLVMValueRef n)
{
    static const double c[8] = {1.0, 1.0, 0.5, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                1.0 / 5040};
    int lanes = cg_lanes(r);
    LLVMTypeRef it = cg_vec_type(cg->t_i32, lanes);
    LLVMValueRef p = horner(cg, r, c, 8);
    LLVMValueRef ni = LLVMBuildFPToSI(cg->b, n, it, "");
    LLVMValueRef bits = LLVMBuildShl(cg->b, LLVMBuildAdd(cg->b, ni, cg_i32(cg, 127, lanes), ""),
                                     cg_i32(cg, 23, lanes), "");
    LLVMValueRef scale = LLVMBuildBitCast(cg->b, bits, cg_vec_type(cg->t_f32, lanes), "");
    return LLVMBuildFMul(cg->b, p, scale, "");
}

LLVMValueRef cg_exp2(CgLlvm *cg, LLVMValueRef x)
{
    int lanes = cg_lanes(x);
    x = cg_fmax(cg, x, cg_f32(cg, -127.0, lanes));
    x = cg_fmin(cg, x, cg_f32(cg, 128.0, lanes));
    LLVMValueRef n = un_intrin(cg, "llvm.roundeven", x);
    LLVMValueRef r = LLVMBuildFMul(cg->b, LLVMBuildFSub(cg->b, x, n, ""),
                                   cg_f32(cg, M_LN2, lanes), "");
    return exp_core(cg, r, n);
}

LLVMValueRef cg_exp(CgLlvm *cg, LLVMValueRef x)
{
    int lanes = cg_lanes(x);
    LLVMValueRef t = LLVMBuildFMul(cg->b, x, cg_f32(cg, M_LOG2E, lanes), "");
    t = cg_fmax(cg, t, cg_f32(cg, -127.0, lanes));
    t = cg_fmin(cg, t, cg_f32(cg, 128.0, lanes));
    LLVMValueRef n = un_intrin(cg, "llvm.roundeven", t);
    /* Cody-Waite: ln2 split so that n * ln2_hi is exact. */
    LLVMValueRef nn = LLVMBuildFNeg(cg->b, n, "");
    LLVMValueRef r = cg_fma(cg, nn, cg_f32(cg, 0.693359375, lanes), x);
    r = cg_fma(cg, nn, cg_f32(cg, -2.12194440e-4, lanes), r);
    /* For x = -inf, r is NaN; exp_core's scale is 0 then, but 0 * NaN is NaN: select. */
    LLVMValueRef res = exp_core(cg, r, n);
    LLVMValueRef tiny = LLVMBuildFCmp(cg->b, LLVMRealOLE, n, cg_f32(cg, -127.0, lanes), "");
    return LLVMBuildSelect(cg->b, tiny, cg_f32(cg, 0.0, lanes), res, "");
}

/* log2 by exponent extraction and ln(m) = 2 atanh((m-1)/(m+1)) for m in [sqrt(1/2), sqrt(2)). */
LLVMValueRef cg_log2(CgLlvm *cg, LLVMValueRef x)
{
    static const double c[6] = {2.0, 2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11};
    int lanes = cg_lanes(x);
    LLVMBuilderRef b = cg->b;
    LLVMTypeRef it = cg_vec_type(cg->t_i32, lanes), ft = cg_vec_type(cg->t_f32, lanes);
    /* Denormals: scale by 2^23 first. */
    LLVMValueRef den = LLVMBuildFCmp(b, LLVMRealOLT, x, cg_f32(cg, 0x1p-126, lanes), "");
    LLVMValueRef xs = LLVMBuildSelect(b, den, LLVMBuildFMul(b, x, cg_f32(cg, 0x1p23, lanes), ""),
                                      x, "");
    LLVMValueRef bits = LLVMBuildBitCast(b, xs, it, "");
    LLVMValueRef e = LLVMBuildSub(b, LLVMBuildLShr(b, bits, cg_i32(cg, 23, lanes), ""),
                                  cg_i32(cg, 127, lanes), "");
    LLVMValueRef mb = LLVMBuildOr(b, LLVMBuildAnd(b, bits, cg_i32(cg, 0x7fffff, lanes), ""),
                                  cg_i32(cg, 0x3f800000, lanes), "");
    LLVMValueRef m = LLVMBuildBitCast(b, mb, ft, "");
    LLVMValueRef big = LLVMBuildFCmp(b, LLVMRealOGT, m, cg_f32(cg, M_SQRT2, lanes), "");
    m = LLVMBuildSelect(b, big, LLVMBuildFMul(b, m, cg_f32(cg, 0.5, lanes), ""), m, "");
    e = LLVMBuildSelect(b, big, LLVMBuildAdd(b, e, cg_i32(cg, 1, lanes), ""), e, "");
    LLVMValueRef ef = LLVMBuildSIToFP(b, e, ft, "");
    ef = LLVMBuildSelect(b, den, LLVMBuildFSub(b, ef, cg_f32(cg, 23.0, lanes), ""), ef, "");
    LLVMValueRef s = LLVMBuildFDiv(b, LLVMBuildFSub(b, m, cg_f32(cg, 1.0, lanes), ""),
                                   LLVMBuildFAdd(b, m, cg_f32(cg, 1.0, lanes), ""), "");
    LLVMValueRef s2 = LLVMBuildFMul(b, s, s, "");
    LLVMValueRef lnm = LLVMBuildFMul(b, s, horner(cg, s2, c, 6), "");
    LLVMValueRef r = cg_fma(cg, lnm, cg_f32(cg, M_LOG2E, lanes), ef);
    /* Specials: 0 -> -inf, negative or NaN -> NaN, +inf -> +inf. */
    r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, cg_f32(cg, 0.0, lanes), ""),
                        cg_f32(cg, -INFINITY, lanes), r, "");
    r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, cg_f32(cg, INFINITY, lanes), ""),
                        x, r, "");
    return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUGE, x, cg_f32(cg, 0.0, lanes), ""), r,
                           cg_f32(cg, NAN, lanes), "");
}

LLVMValueRef cg_log(CgLlvm *cg, LLVMValueRef x)
{
    return LLVMBuildFMul(cg->b, cg_log2(cg, x), cg_f32(cg, M_LN2, cg_lanes(x)), "");
}

/* tanh: an odd series below |x| = 0.25 (where 1 - 2/(e^2x + 1) cancels), else that formula. */
LLVMValueRef cg_tanh(CgLlvm *cg, LLVMValueRef x)
{
    static const double c[6] = {1.0, -1.0 / 3, 2.0 / 15, -17.0 / 315, 62.0 / 2835,
                                -1382.0 / 155925};
    int lanes = cg_lanes(x);
    LLVMBuilderRef b = cg->b;
    LLVMValueRef ax = un_intrin(cg, "llvm.fabs", x);
    LLVMValueRef x2 = LLVMBuildFMul(b, x, x, "");
    LLVMValueRef small = LLVMBuildFMul(b, x, horner(cg, x2, c, 6), "");
    LLVMValueRef e = cg_exp(cg, LLVMBuildFMul(b, ax, cg_f32(cg, 2.0, lanes), ""));
    LLVMValueRef t = LLVMBuildFSub(b, cg_f32(cg, 1.0, lanes),
                                   LLVMBuildFDiv(b, cg_f32(cg, 2.0, lanes),
                                                 LLVMBuildFAdd(b, e, cg_f32(cg, 1.0, lanes), ""),
                                                 ""), "");
    LLVMValueRef args[2] = {t, x};
    LLVMValueRef big = cg_intrin1(cg, "llvm.copysign", args, 2);
    LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, ax, cg_f32(cg, 0.25, lanes), "");
    return LLVMBuildSelect(b, is_small, small, big, "");
}


LLVMValueRef cg_tanh_nvptx(CgLlvm *cg, LLVMValueRef x)
{
    LLVMBuilderRef b = cg->b;
    /* ex2 saturates to +inf for x > 44 (rcp gives 0, tanh 1) and to 0 below -44 (tanh -1);
     * NaN stays NaN. */
    LLVMValueRef t = LLVMBuildFMul(b, x, cg_f32(cg, 2.0 * M_LOG2E, 1), "");
    LLVMValueRef e = cg_intrin(cg, "llvm.nvvm.ex2.approx.ftz.f", NULL, 0, &t, 1);
    LLVMValueRef d = LLVMBuildFAdd(b, e, cg_f32(cg, 1.0, 1), "");
    LLVMValueRef r = cg_intrin(cg, "llvm.nvvm.rcp.approx.ftz.f", NULL, 0, &d, 1);
    return cg_fma(cg, r, cg_f32(cg, -2.0, 1), cg_f32(cg, 1.0, 1));
}
