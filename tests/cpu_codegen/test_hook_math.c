/* test_hook_math.c: the hook emitter's scalar ops, one at a time, on 1 lane and on vector
 * lanes, JIT-compiled and compared with libm in f64 over wide input ranges and special values.
 *
 * Each op is a hook `op(score, qk)` evaluated by a generated loop
 *   for (i = 0; i < n; i += lanes) out[i..] = hook(score = x[i..], qk = y[i..]).
 * Bounds, in units of the f32 ulp of the exact result: 4 for exp, exp2, log, log2, sigmoid,
 * pow's building blocks (polynomials with truncation error ~5e-9, i.e. < 0.1 ulp, plus a few
 * roundings); pow gets 64 because y * log2(x) carries log2's error times |y log 2| (up to ~90
 * here); tanh 8 (1 - 2/(e^2x + 1) loses up to 2 bits at |x| = 0.25); softplus 8; rsqrt 2
 * (1 / sqrt(x): two correctly rounded steps). sqrt is correctly rounded (0.5 ulp of the exact
 * value); floor, ceil, fmod and the i32 ops must be exact. */
#include <math.h>

#include "air_build.h"
#include "cg_llvm.h"
#include "run_kernel.h"

typedef void (*MathFn)(const float *x, const float *y, float *out, int64_t n);

/* Builds and JIT-loads the loop for hook `root` of k on `lanes` lanes (x86-64-v3: 1 or 8). */
static RtJit *build(const AirKernel *k, int32_t root, int lanes, MathFn *fn)
{
    Arena a;
    arena_init(&a);
    Source src = {"<math>", "", 0};
    Diags d;
    diags_init(&d, &a, &src);
    cg_llvm_init_x86();
    CgLlvm cg;
    RtJit *jit = NULL;
    if (!cg_llvm_open(&cg, "math", "x86_64-unknown-linux-gnu", "x86-64-v3", "", LLVMRelocPIC, &a, &d)) goto out;
    LLVMTypeRef ps[4] = {cg.t_ptr, cg.t_ptr, cg.t_ptr, cg.t_i64};
    LLVMValueRef f = LLVMAddFunction(cg.mod, "math", LLVMFunctionType(cg.t_void, ps, 4, 0));
    LLVMPositionBuilderAtEnd(cg.b, LLVMAppendBasicBlockInContext(cg.ctx, f, "entry"));
    CgHookEnv env;
    cg_hook_env_init(&env, &cg, k, "test", lanes);
    CgLoop l;
    cg_loop_begin(&cg, &l, cg_i64(&cg, 0), LLVMGetParam(f, 3), cg_i64(&cg, lanes), 0, NULL, "i");
    LLVMTypeRef vt = cg_vec_type(cg.t_f32, lanes);
    env.score = LLVMBuildLoad2(cg.b, vt, cg_gep(&cg, cg.t_f32, LLVMGetParam(f, 0), l.iv), "");
    env.qk = LLVMBuildLoad2(cg.b, vt, cg_gep(&cg, cg.t_f32, LLVMGetParam(f, 1), l.iv), "");
    LLVMSetAlignment(env.score, 4);   /* the arrays are only float-aligned */
    LLVMSetAlignment(env.qk, 4);
    LLVMValueRef v = cg_hook_emit(&env, root);
    if (!v) goto out;
    LLVMTypeRef et = LLVMGetTypeKind(LLVMTypeOf(v)) == LLVMVectorTypeKind
                         ? LLVMGetElementType(LLVMTypeOf(v)) : LLVMTypeOf(v);
    if (et == cg.t_i1) v = LLVMBuildUIToFP(cg.b, v, vt, "");
    else if (et == cg.t_i32) v = LLVMBuildSIToFP(cg.b, v, vt, "");
    LLVMSetAlignment(LLVMBuildStore(cg.b, v, cg_gep(&cg, cg.t_f32, LLVMGetParam(f, 2), l.iv)), 4);
    cg_loop_end(&cg, &l, NULL);
    LLVMBuildRetVoid(cg.b);
    Blob obj;
    if (!cg_llvm_finish(&cg, EMIT_OBJ, NULL, "math", &obj)) goto out;
    char err[256];
    jit = rt_jit_create(err, sizeof err);
    if (jit && rt_jit_add_object(jit, obj.data, obj.size, err, sizeof err))
        *fn = (MathFn)rt_jit_lookup(jit, "math", err, sizeof err);
out:
    if (d.errors) fprintf(stderr, "%s\n", diags_render(&d, false));
    cg_llvm_close(&cg);
    arena_free(&a);
    return jit;
}

static double ulp_err(double got, double want)
{
    if (isnan(want)) return isnan(got) ? 0 : INFINITY;
    if (isinf(want)) return got == want ? 0 : INFINITY;
    if (got == want) return 0;
    double aw = fabs(want) < 0x1p-126 ? 0x1p-126 : fabs(want);
    double ulp = ldexp(1.0, ilogb(aw) - 23);
    return fabs(got - want) / ulp;
}

typedef struct MathCase {
    const char *name;
    AirOp op;
    AirTypeKind ty;      /* TY_F32 or TY_I32 (operands converted with TOI32) */
    int arity;
    double lo, hi, ylo, yhi;
    double (*ref)(double x, double y);
    double max_ulp;
    bool positive_log;   /* x spread geometrically over 1e-38 .. 1e38 */
    bool y_whole;        /* y integral (every 4th one half more: NaN for pow of x < 0); x = 0 once */
    bool y_const;        /* y is the constant ylo in the hook, not an input */
} MathCase;

static double r_exp(double x, double y) { (void)y; return exp(x); }
static double r_exp2(double x, double y) { (void)y; return exp2(x); }
static double r_log(double x, double y) { (void)y; return log(x); }
static double r_log2(double x, double y) { (void)y; return log2(x); }
static double r_tanh(double x, double y) { (void)y; return tanh(x); }
static double r_sigmoid(double x, double y) { (void)y; return 1 / (1 + exp(-x)); }
static double r_softplus(double x, double y) { (void)y; return log1p(exp(x)); }
static double r_pow(double x, double y) { return pow(x, y); }
static double r_sqrt(double x, double y) { (void)y; return sqrt(x); }
static double r_rsqrt(double x, double y) { (void)y; return 1 / sqrt(x); }
static double r_floor(double x, double y) { (void)y; return floor(x); }
static double r_ceil(double x, double y) { (void)y; return ceil(x); }
static double r_fmod(double x, double y) { return y == 0 ? 0 : fmod(x, y); }
static double r_idiv(double x, double y)
{
    int32_t a = (int32_t)x, b = (int32_t)y;
    return b == 0 ? 0 : b == -1 ? (double)(int32_t)(0u - (uint32_t)a) : (double)(a / b);   /* wraps */
}
static double r_imod(double x, double y)
{
    int32_t a = (int32_t)x, b = (int32_t)y;
    return b == 0 || b == -1 ? 0 : (double)(a % b);
}

static bool run_math(const MathCase *mc, int lanes)
{
    Arena a;
    arena_init(&a);
    AirKernel *k = tb_new(&a, "m", DT_F32, DT_F32, 64, 64, false);
    int32_t x = tb_node(k, OP_SCORE, TY_F32, 0, 0, 0, 0, 0, 0);
    int32_t y = tb_node(k, OP_QK, TY_F32, 0, 0, 0, 0, 0, 0);
    if (mc->y_const) y = TB_F(k, mc->ylo);
    if (mc->ty == TY_I32) x = TB_1(k, OP_TOI32, TY_I32, x), y = TB_1(k, OP_TOI32, TY_I32, y);
    int32_t root = mc->arity == 1 ? TB_1(k, mc->op, mc->ty, x) : TB_2(k, mc->op, mc->ty, x, y);
    MathFn fn = NULL;
    RtJit *jit = build(k, root, lanes, &fn);
    enum { N = 1 << 14 };
    static float xs[N], ys[N], out[N];
    for (int i = 0; i < N; i++) {
        double t = (double)i / (N - 1);
        xs[i] = mc->positive_log ? (float)exp(log(1e-38) + t * (log(1e38) - log(1e-38)))
                                 : (float)(mc->lo + t * (mc->hi - mc->lo));
        ys[i] = (float)(mc->ylo + (0.5 + 0.5 * urand()) * (mc->yhi - mc->ylo));
        if (mc->ty == TY_I32) xs[i] = truncf(xs[i]), ys[i] = truncf(ys[i]);
        if (mc->y_whole)   /* integers of ylo .. yhi */
            ys[i] = floorf((float)(mc->ylo + (0.5 + 0.5 * urand()) * (mc->yhi - mc->ylo + 1))) +
                    (i % 4 == 3 ? 0.5f : 0.0f);
        if (mc->y_const) ys[i] = (float)mc->ylo;
    }
    if (mc->y_whole) xs[N / 2] = 0;
    if (mc->ty == TY_I32) {   /* the edge cases: 0 and -1 divisors, INT_MIN */
        ys[0] = 0, ys[1] = -1, ys[2] = 0, xs[1] = -2147483648.0f, ys[3] = 7, xs[3] = -9;
    }
    bool ok = fn != NULL;
    double worst = 0, at = 0;
    if (fn) {
        fn(xs, ys, out, N);
        for (int i = 0; i < N; i++) {
            double e = ulp_err(out[i], mc->ref(xs[i], ys[i]));
            if (e > worst) worst = e, at = xs[i];
        }
        ok = worst <= mc->max_ulp;
    }
    printf("%-4s %-10s lanes %2d  max %.2f ulp (bound %.0f) at x = %g\n", ok ? "ok" : "FAIL",
           mc->name, lanes, worst, mc->max_ulp, at);
    rt_jit_dispose(jit);
    arena_free(&a);
    return ok;
}

/* exp(-inf) = 0, log(0) = -inf, log(-1) = NaN, log(inf) = inf, tanh(+-inf) = +-1 and
 * exp2(-200) = 0 exactly: the values softmax and masks rely on. */
static bool run_specials(void)
{
    struct { AirOp op; float x; double want; } sp[] = {
        {OP_EXP, -INFINITY, 0}, {OP_EXP2, -INFINITY, 0}, {OP_EXP2, -200, 0},
        {OP_EXP, INFINITY, INFINITY}, {OP_LOG, 0, -INFINITY}, {OP_LOG2, -1, NAN},
        {OP_LOG, INFINITY, INFINITY}, {OP_TANH, INFINITY, 1}, {OP_TANH, -INFINITY, -1},
        {OP_SIGMOID, -INFINITY, 0}, {OP_SOFTPLUS, 100, 100}, {OP_LOG2, 0x1p-140f, -140},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        Arena a;
        arena_init(&a);
        AirKernel *k = tb_new(&a, "s", DT_F32, DT_F32, 64, 64, false);
        int32_t x = tb_node(k, OP_SCORE, TY_F32, 0, 0, 0, 0, 0, 0);
        tb_node(k, OP_QK, TY_F32, 0, 0, 0, 0, 0, 0);
        int32_t root = TB_1(k, sp[i].op, TY_F32, x);
        MathFn fn = NULL;
        RtJit *jit = build(k, root, 8, &fn);
        float xs[8], ys[8] = {0}, out[8];
        for (int j = 0; j < 8; j++) xs[j] = sp[i].x;
        bool good = fn != NULL;
        if (fn) {
            fn(xs, ys, out, 8);
            good = isnan(sp[i].want) ? isnan(out[0]) : out[0] == sp[i].want;
        }
        if (!good) printf("FAIL special: op %d at %g gives %g, want %g\n", sp[i].op, sp[i].x, out[0], sp[i].want);
        ok = ok && good;
        rt_jit_dispose(jit);
        arena_free(&a);
    }
    printf("%-4s special values (-inf, 0, inf, NaN, underflow)\n", ok ? "ok" : "FAIL");
    return ok;
}

int main(void)
{
    const MathCase cases[] = {
        {"exp", OP_EXP, TY_F32, 1, -87, 88, 0, 0, r_exp, 4, false, false, false},
        {"exp2", OP_EXP2, TY_F32, 1, -126, 127, 0, 0, r_exp2, 4, false, false, false},
        {"log", OP_LOG, TY_F32, 1, 0, 0, 0, 0, r_log, 4, true, false, false},
        {"log2", OP_LOG2, TY_F32, 1, 0, 0, 0, 0, r_log2, 4, true, false, false},
        {"tanh", OP_TANH, TY_F32, 1, -9, 9, 0, 0, r_tanh, 8, false, false, false},
        {"sigmoid", OP_SIGMOID, TY_F32, 1, -30, 30, 0, 0, r_sigmoid, 4, false, false, false},
        {"softplus", OP_SOFTPLUS, TY_F32, 1, -30, 30, 0, 0, r_softplus, 8, false, false, false},
        {"pow", OP_POW, TY_F32, 2, 0.01, 10, -5, 5, r_pow, 64, false, false, false},
        /* a negative base, as C's pow: an integral y keeps or flips the sign, another is NaN;
         * small integral constants are products (4 ulp) */
        {"pow x<0", OP_POW, TY_F32, 2, -10, 10, -5, 5, r_pow, 64, false, true, false},
        {"pow x^2", OP_POW, TY_F32, 2, -10, 10, 2, 2, r_pow, 4, false, false, true},
        {"pow x^3", OP_POW, TY_F32, 2, -10, 10, 3, 3, r_pow, 4, false, false, true},
        {"pow x^4", OP_POW, TY_F32, 2, -10, 10, 4, 4, r_pow, 4, false, false, true},
        {"pow x^-1", OP_POW, TY_F32, 2, -10, 10, -1, -1, r_pow, 4, false, false, true},
        {"pow x^-2", OP_POW, TY_F32, 2, -10, 10, -2, -2, r_pow, 4, false, false, true},
        {"pow x^0", OP_POW, TY_F32, 2, -10, 10, 0, 0, r_pow, 0, false, false, true},
        {"sqrt", OP_SQRT, TY_F32, 1, 0, 0, 0, 0, r_sqrt, 0.5, true, false, false},
        {"rsqrt", OP_RSQRT, TY_F32, 1, 0, 0, 0, 0, r_rsqrt, 2, true, false, false},
        {"floor", OP_FLOOR, TY_F32, 1, -100, 100, 0, 0, r_floor, 0, false, false, false},
        {"ceil", OP_CEIL, TY_F32, 1, -100, 100, 0, 0, r_ceil, 0, false, false, false},
        {"fmod", OP_MOD, TY_F32, 2, -100, 100, 0.5, 9, r_fmod, 0, false, false, false},
        {"i32 div", OP_DIV, TY_I32, 2, -1000, 1000, -20, 20, r_idiv, 0, false, false, false},
        {"i32 mod", OP_MOD, TY_I32, 2, -1000, 1000, -20, 20, r_imod, 0, false, false, false},
    };
    int fails = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fails += !run_math(&cases[i], 1);
        fails += !run_math(&cases[i], 8);
    }
    fails += !run_specials();
    printf("%d failure(s)\n", fails);
    return fails != 0;
}
