/* cg_llvm.h: the one LLVM layer the code generators share (compiler/cpu/ and compiler/ptx/).
 *
 *   - CgLlvm: one LLVMContext, module, builder and target machine per module built (a CPU
 *     object, a GPU unit), and cg_llvm_finish() which verifies, optimises (the target's pass
 *     list) and emits IR, assembly or an object into a Blob of the compilation's arena. Every
 *     failure goes to Diags.
 *   - Small builders that work on scalars and on <N x T> vectors alike (the lane count is
 *     the value's own): constants, splats, intrinsics, fma, and f32 math written out in IR
 *     (exp2, exp, log2, tanh, ...) so that no libm call is left in a kernel.
 *   - AbiArgs access: loads of kernel_abi.h fields by byte offset from an `args` pointer.
 *   - The hook emitter (cg_hook.c): an AIR expression program (scale, score, mask, sink) lowered
 *     to IR on `lanes` lanes, given its leaves (index variables, score, qk) in a CgHookEnv.
 *     Uniform values stay scalar until they meet a varying one, so a hook that depends on `j`
 *     only is computed once per key when the lanes run over queries.
 * Only *InContext constructors and the typed *2 builder calls are used. */
#ifndef ATTNC_CG_LLVM_H
#define ATTNC_CG_LLVM_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "air.h"
#include "kernel_abi.h"
#include "target.h"

typedef struct CgLlvm {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    LLVMTargetMachineRef tm;
    Diags *d;
    Arena *a;
    LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f16, t_f32, t_ptr;
} CgLlvm;

/* ---- cg_llvm.c: setup and emission ---------------------------------------------------------- */

/* Registers the X86 target with LLVM once per process (thread safe). */
void cg_llvm_init_x86(void);
/* Opens a context, a module for `triple` and a target machine for cpu/features (features may
 * be ""). The target must have been registered. On failure reports to d, returns false and
 * leaves nothing to dispose. */
bool cg_llvm_open(CgLlvm *cg, const char *module_name, const char *triple, const char *cpu,
                  const char *features, LLVMRelocMode reloc, Arena *a, Diags *d);
/* Disposes the builder, module, target machine and context. Safe after a failed open. */
void cg_llvm_close(CgLlvm *cg);
/* Verifies the module, runs `passes` (NULL: "default<O3>" with loop and SLP vectorisation),
 * and emits it as `kind` into out (arena memory, NUL-terminated). `unit` names the module in
 * the phase timings (phase_time.h). */
bool cg_llvm_finish(CgLlvm *cg, EmitKind kind, const char *passes, const char *unit, Blob *out);

/* ---- cg_llvm.c: builders (scalar or vector, by the operand's type) ------------------------ */

/* elt itself when lanes == 1, else <lanes x elt>. */
LLVMTypeRef cg_vec_type(LLVMTypeRef elt, int lanes);
/* Lanes of a value: 1 for a scalar. */
int cg_lanes(LLVMValueRef v);
LLVMValueRef cg_f32(CgLlvm *cg, double v, int lanes);
LLVMValueRef cg_i32(CgLlvm *cg, int64_t v, int lanes);
LLVMValueRef cg_i64(CgLlvm *cg, int64_t v);
/* Broadcasts a scalar to `lanes` lanes (identity when lanes == 1 or v is a vector already). */
LLVMValueRef cg_splat(CgLlvm *cg, LLVMValueRef v, int lanes);
/* <0, 1, ..., lanes-1> as i32 (0 for lanes == 1). */
LLVMValueRef cg_iota(CgLlvm *cg, int lanes);
/* Calls the overloaded intrinsic `name` (e.g. "llvm.fma") typed on `over`. */
LLVMValueRef cg_intrin(CgLlvm *cg, const char *name, LLVMTypeRef *over, unsigned nover,
                       LLVMValueRef *args, unsigned nargs);
/* Same, overloaded on the type of args[0]. */
LLVMValueRef cg_intrin1(CgLlvm *cg, const char *name, LLVMValueRef *args, unsigned nargs);
LLVMValueRef cg_fma(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMValueRef cg_fmax(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
/* max with NaN propagating (a NaN logit's row max, docs/language.md section 13) */
LLVMValueRef cg_fmaximum(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_fmin(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
/* The sum of an f32 vector's lanes in any order (a tree, not a chain of dependent adds); a
 * scalar is its own sum. */
LLVMValueRef cg_lane_sum(CgLlvm *cg, LLVMValueRef v);
/* i32 min/max. */
LLVMValueRef cg_smin(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef cg_smax(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b);

/* ---- cg_softmax.c: the online softmax's algebra in log2 units --------------------------------- */

/* A target's max, exp2, fma and log2 for the algebra below (the CPU's max propagates NaN; the GPU's
 * exp2 is ex2.approx). ctx is handed back to each. */
typedef struct CgSoftmax {
    CgLlvm *cg;
    void *ctx;
    LLVMValueRef (*max)(void *ctx, LLVMValueRef a, LLVMValueRef b);
    LLVMValueRef (*exp2)(void *ctx, LLVMValueRef x);
    LLVMValueRef (*fma)(void *ctx, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
    LLVMValueRef (*log2)(void *ctx, LLVMValueRef x);
} CgSoftmax;

/* The new running max *mnew = max(m, x) of a row that sees logits whose max is x, and the base
 * the row's exponentials are taken against: *mnew, or 0 while it is -inf. The rescale factor
 * of the row's l and O is then exp2(m - base), and a logit's weight exp2(s - base). */
LLVMValueRef cg_softmax_base(const CgSoftmax *s, LLVMValueRef m, LLVMValueRef x, LLVMValueRef *mnew);
/* Folds one more logit x of weight 1 (a sink) into (m, l): *mo = max(m, x),
 * *lo = l f + exp2(x - base); returns f = exp2(m - base), the factor of O. base: NULL or where
 * the base goes. */
LLVMValueRef cg_softmax_fold(const CgSoftmax *s, LLVMValueRef m, LLVMValueRef l, LLVMValueRef x,
                             LLVMValueRef *mo, LLVMValueRef *lo, LLVMValueRef *base);
/* The end of a row with running max m and sum l (docs/language.md section 14): returns whether
 * the row has a result (l != 0, or m NaN or +inf); *inv = num / l, or NaN when m is NaN or +inf
 * (a NaN logit, or a +inf one: o is NaN); *lse2 = m + log2(l) in log2 units, +inf when m is. A
 * row without a result has o = 0 and lse = -inf: the caller selects them with the flag. */
LLVMValueRef cg_softmax_final(const CgSoftmax *s, LLVMValueRef m, LLVMValueRef l, LLVMValueRef num,
                              LLVMValueRef *inv, LLVMValueRef *lse2);

/* ---- cg_math.c: f32 math, lanes from the operand, accurate to a few ulp, no library calls.
 * exp2/exp give exactly 0 for -inf and flush results below 2^-126 to 0. */
LLVMValueRef cg_exp2(CgLlvm *cg, LLVMValueRef x);
LLVMValueRef cg_exp(CgLlvm *cg, LLVMValueRef x);
LLVMValueRef cg_log2(CgLlvm *cg, LLVMValueRef x);
LLVMValueRef cg_log(CgLlvm *cg, LLVMValueRef x);
LLVMValueRef cg_tanh(CgLlvm *cg, LLVMValueRef x);
/* tanh on NVPTX as 1 - 2 / (1 + ex2.approx.ftz(2 x log2 e)) with rcp.approx.ftz: two MUFU ops
 * and three FMA-pipe ops; absolute error about 1e-6 at worst, from the ~2^-22 relative
 * errors of ex2.approx and rcp.approx, derived not measured (what matters when tanh
 * caps logits; relative error grows near 0, unlike cg_tanh's). Scalar f32 only. */
LLVMValueRef cg_tanh_nvptx(CgLlvm *cg, LLVMValueRef x);

/* Loads an element of `dtype` at p (lanes == 1) and converts it to f32 (bf16: shift left 16,
 * f16: fpext, i32: sitofp). */
LLVMValueRef cg_load_f32(CgLlvm *cg, LLVMValueRef p, AirDtype dtype);
/* Loads `lanes` consecutive elements of `dtype` at p as <lanes x f32>. */
LLVMValueRef cg_load_vec_f32(CgLlvm *cg, LLVMValueRef p, AirDtype dtype, int lanes);
/* Converts f32 (scalar or vector) to dtype's storage (bf16 rounds to nearest even, NaN kept)
 * and stores it at p. */
void cg_store_from_f32(CgLlvm *cg, LLVMValueRef v, LLVMValueRef p, AirDtype dtype);
/* Element type of a tensor dtype in memory (f32, half, i16 for bf16, i32). */
LLVMTypeRef cg_dtype_type(CgLlvm *cg, AirDtype dtype);

/* Loops: `for (iv = start; iv < end; iv += step)` in i64, with `ncarried` loop-carried values
 * (phis, initialised from init[]). After cg_loop_begin the builder is in the body; after
 * cg_loop_end (given the carried values' next values) it is after the loop, where
 * loop->carried[] hold the final values. */
enum { CG_MAX_CARRIED = 64 };
typedef struct CgLoop {
    LLVMBasicBlockRef head, body, exit, latch_from;
    LLVMValueRef iv, step;
    int ncarried;
    LLVMValueRef carried[CG_MAX_CARRIED];
} CgLoop;
void cg_loop_begin(CgLlvm *cg, CgLoop *loop, LLVMValueRef start, LLVMValueRef end,
                   LLVMValueRef step, int ncarried, const LLVMValueRef *init, const char *name);
void cg_loop_end(CgLlvm *cg, CgLoop *loop, const LLVMValueRef *next);
/* A new basic block in the builder's current function. */
LLVMBasicBlockRef cg_block(CgLlvm *cg, const char *name);
/* An aligned stack buffer of n elements of type elt, in the function's entry block. */
LLVMValueRef cg_alloca(CgLlvm *cg, LLVMValueRef fn, LLVMTypeRef elt, int64_t n, unsigned align);
/* &base[idx] for element type elt (idx i64 or i32). */
LLVMValueRef cg_gep(CgLlvm *cg, LLVMTypeRef elt, LLVMValueRef base, LLVMValueRef idx);

/* ---- cg_llvm.c: AbiArgs fields, read through a pointer to AbiArgs ------------------------- */

LLVMValueRef cg_abi_tensor_data(CgLlvm *cg, LLVMValueRef args, int tensor);          /* ptr */
LLVMValueRef cg_abi_tensor_shape(CgLlvm *cg, LLVMValueRef args, int tensor, int dim); /* i64 */
LLVMValueRef cg_abi_tensor_stride(CgLlvm *cg, LLVMValueRef args, int tensor, int dim);/* i64 */
LLVMValueRef cg_abi_sym(CgLlvm *cg, LLVMValueRef args, int sym);                     /* i64 */
LLVMValueRef cg_abi_iparam(CgLlvm *cg, LLVMValueRef args, int param);                /* i32 */
LLVMValueRef cg_abi_fparam(CgLlvm *cg, LLVMValueRef args, int param);                /* f32 */
/* Any other field: a load of type ty at byte offset off (use offsetof(AbiArgs, ...)). */
LLVMValueRef cg_abi_field(CgLlvm *cg, LLVMValueRef args, size_t off, LLVMTypeRef ty);

/* ---- cg_hook.c: the hook emitter ------------------------------------------------------------ */

typedef struct CgSideTensor {
    LLVMValueRef data;                     /* ptr */
    LLVMValueRef shape[AIR_MAX_RANK];      /* i32, for clamping indices into the tensor */
    LLVMValueRef stride[AIR_MAX_RANK];     /* i64, elements */
} CgSideTensor;

/* The leaves a hook is evaluated on. idx[], score and qk are set by the skeleton before each
 * cg_hook_emit (scalar = uniform over the lanes, or a <lanes x T> vector); NULL means "not
 * available here" and a hook that uses it gets a diagnostic. sym/param/tensor are filled by
 * cg_hook_preload (or by a backend that passes them differently). */
typedef struct CgHookEnv {
    CgLlvm *cg;
    const AirKernel *k;
    const char *target;                    /* target name, for diagnostics */
    int lanes;
    bool nvptx;                            /* use the GPU's approximate units (cg_tanh_nvptx,
                                              division by a constant as a product) */
    LLVMValueRef idx[IX_COUNT];            /* i32 */
    LLVMValueRef score, qk;                /* f32 */
    LLVMValueRef sym[ABI_MAX_SYMS];        /* i32 */
    LLVMValueRef param[ABI_MAX_PARAMS];    /* i32, f32 or i1 by the param's type */
    CgSideTensor tensor[ABI_MAX_TENSORS];
    LLVMValueRef *memo;                    /* per node, reset by each cg_hook_emit */
    /* Values computed elsewhere (pass_hook_split): cg_hook_emit uses preset_val[p] for node
     * preset_id[p] instead of emitting it, where preset_val[p] is not NULL. */
    int npreset;
    const int32_t *preset_id;
    LLVMValueRef *preset_val;
    /* Vector leaves, for a dot or sqnorm in a selector's score (cg_hook_vec.c; lanes = 1):
     * q, k and v rows through tensor[tq / tk / tv] (data, shape, stride, set by the skeleton),
     * query position i at row i - qoff of head h, keys at kv head h / group; a block mean at
     * means + ((b * Hkv + h / group) * nblk + block) * Dk (f32). vec_lanes: the widest vector
     * the reductions use. NULL where the skeleton has none. */
    LLVMValueRef qoff, group, means, nblk;   /* i32, i32, ptr, i32 */
    LLVMValueRef block;                      /* i32: a block selector's candidate block */
    int vec_lanes;
    bool sum_loops;                          /* an f32 sum(r < n: e) at lanes 1 is a loop over r
                                                (a selector's contraction), not unrolled */
    /* cg_hook.c's emission of a node with the memo as it is, for cg_hook_vec.c's operands
     * (set by cg_hook_env_init; a pointer, so the vector reductions need not call back). */
    LLVMValueRef (*emit_node)(struct CgHookEnv *env, int32_t id);
} CgHookEnv;

/* Prepares env for kernel k on `lanes` lanes (memo from cg->a). */
bool cg_hook_env_init(CgHookEnv *env, CgLlvm *cg, const AirKernel *k, const char *target,
                      int lanes);
/* Loads every symbol, param and side tensor descriptor from AbiArgs at the builder's position
 * (call it in the entry block; unused loads are removed by the optimiser). */
void cg_hook_preload(CgHookEnv *env, LLVMValueRef args);
/* Emits the hook program rooted at `root`; the result has env->lanes lanes (i1 for bool
 * hooks, f32 or i32 otherwise). NULL after a diagnostic. */
LLVMValueRef cg_hook_emit(CgHookEnv *env, int32_t root);
/* cg_hook_emit with the values of nodes ids[0 .. npreset) given as vals; the env holds no
 * presets afterwards. */
LLVMValueRef cg_hook_emit_preset(CgHookEnv *env, int32_t root, int npreset, const int32_t *ids,
                                 LLVMValueRef *vals);
/* A recurrence's scalar coefficient (pass.h's RecurCoef: a sum of products of scalar hook
 * nodes) at the step the env's indices name, as f32. NULL after a diagnostic. */
struct RecurCoef;
LLVMValueRef cg_hook_recur_coef(CgHookEnv *env, const struct RecurCoef *c);
/* cg_hook_ops.c: applies node n's scalar or element-wise op to operand values a[0 .. arity)
 * (any lane count; NULL after a diagnostic); an integer value as f32; two operands brought to
 * one lane count (a uniform one broadcast). */
LLVMValueRef cg_hook_apply(CgHookEnv *env, const AirNode *n, LLVMValueRef *a);
LLVMValueRef cg_hook_as_f32(CgLlvm *cg, LLVMValueRef v);
void cg_hook_unify(CgLlvm *cg, LLVMValueRef *a, LLVMValueRef *b);
/* cg_hook_vec.c: a dot or sqnorm of vector expressions (rows of q, k, v; block means; side
 * tensors read as vectors; element-wise ops of those), reduced in f32 over chunks of at most
 * env->vec_lanes elements. NULL after a diagnostic. */
LLVMValueRef cg_hook_vec_reduce(CgHookEnv *env, int32_t id);

/* The vector loads (loads of a side tensor's last dim as a vector) that the element-wise
 * vector expression at `root` reaches, at most max: ids[], and for each the address of element
 * 0 of that dim (the other indices through the hooks, clamped into the tensor) and the dim's
 * stride in elements. A skeleton loads their elements and passes them to cg_hook_emit_preset.
 * Returns how many, or -1 after a diagnostic. */
int cg_hook_vec_loads(CgHookEnv *env, int32_t root, int max, int32_t *ids, LLVMValueRef *base,
                      LLVMValueRef *stride);
/* cg_hook_emit of a hook that reads no score (a mask, or a part of one from pass_hook_split) at
 * indices i and j (either NULL where the node reads neither), with the values of nodes
 * ids[0 .. npreset) given as vals; the env holds no presets afterwards. */
LLVMValueRef cg_hook_emit_at(CgHookEnv *env, int32_t root, LLVMValueRef i, LLVMValueRef j,
                             int npreset, const int32_t *ids, LLVMValueRef *vals);

#endif
