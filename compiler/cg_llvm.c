/* cg_llvm.c: the LLVM-C plumbing every code generator shares: one context per compile, the
 * target machine, verification + "default<O3>" + emission into the arena, lane-agnostic
 * builders, and loads of AbiArgs fields by their asserted offsets. (f32 math: cg_math.c.) */
#include "cg_llvm.h"
#include "phase_time.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/* ---- setup and emission --------------------------------------------------------------------- */

static void init_x86_once(void)
{
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    LLVMInitializeX86AsmParser();
}

void cg_llvm_init_x86(void)
{
    /* LLVM's target registry is process-wide; registering must happen once, before any use. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_x86_once);
}

bool cg_llvm_open(CgLlvm *cg, const char *module_name, const char *triple, const char *cpu,
                  const char *features, LLVMRelocMode reloc, Arena *a, Diags *d)
{
    memset(cg, 0, sizeof *cg);
    cg->a = a;
    cg->d = d;
    LLVMTargetRef target;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        diag_error_noloc(d, "LLVM has no target for triple '%s': %s", triple, err ? err : "");
        LLVMDisposeMessage(err);
        return false;
    }
    cg->tm = LLVMCreateTargetMachine(target, triple, cpu, features ? features : "",
                                     LLVMCodeGenLevelAggressive, reloc,
                                     LLVMCodeModelDefault);
    if (!cg->tm) {
        diag_error_noloc(d, "cannot create an LLVM target machine for cpu '%s'", cpu);
        return false;
    }
    cg->ctx = LLVMContextCreate();
    cg->mod = LLVMModuleCreateWithNameInContext(module_name, cg->ctx);
    LLVMSetTarget(cg->mod, triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(cg->tm);
    char *layout = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(cg->mod, layout);
    LLVMDisposeMessage(layout);
    LLVMDisposeTargetData(td);
    cg->b = LLVMCreateBuilderInContext(cg->ctx);
    cg->t_void = LLVMVoidTypeInContext(cg->ctx);
    cg->t_i1 = LLVMInt1TypeInContext(cg->ctx);
    cg->t_i8 = LLVMInt8TypeInContext(cg->ctx);
    cg->t_i16 = LLVMInt16TypeInContext(cg->ctx);
    cg->t_i32 = LLVMInt32TypeInContext(cg->ctx);
    cg->t_i64 = LLVMInt64TypeInContext(cg->ctx);
    cg->t_f16 = LLVMHalfTypeInContext(cg->ctx);
    cg->t_f32 = LLVMFloatTypeInContext(cg->ctx);
    cg->t_ptr = LLVMPointerTypeInContext(cg->ctx, 0);
    return true;
}

void cg_llvm_close(CgLlvm *cg)
{
    if (cg->b) LLVMDisposeBuilder(cg->b);
    if (cg->mod) LLVMDisposeModule(cg->mod);
    if (cg->ctx) LLVMContextDispose(cg->ctx);
    if (cg->tm) LLVMDisposeTargetMachine(cg->tm);
    memset(cg, 0, sizeof *cg);
}

static bool blob_from(CgLlvm *cg, const char *data, size_t size, Blob *out)
{
    out->data = arena_alloc(cg->a, size + 1);   /* +1: text blobs stay NUL-terminated */
    if (!out->data) {
        diag_error_noloc(cg->d, "out of memory for the emitted code (%zu bytes)", size);
        return false;
    }
    memcpy(out->data, data, size);
    out->size = size;
    return true;
}

bool cg_llvm_finish(CgLlvm *cg, EmitKind kind, const char *passes, const char *unit, Blob *out)
{
    double t = phase_time_now();
    char *err = NULL;
    if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &err)) {
        diag_error_noloc(cg->d, "internal error: generated LLVM IR is invalid: %.400s", err);
        diag_hint(cg->d, "this is a bug in attnc; please report it with the spec");
        LLVMDisposeMessage(err);
        return false;
    }
    LLVMDisposeMessage(err);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    if (!passes) {
        LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
        LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
        LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
        passes = "default<O3>";
    }
    LLVMErrorRef e = LLVMRunPasses(cg->mod, passes, cg->tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    phase_time_end(t, "%s unit: verify and IR passes", unit);
    if (e) {
        char *msg = LLVMGetErrorMessage(e);
        diag_error_noloc(cg->d, "LLVM optimisation failed: %s", msg);
        LLVMDisposeErrorMessage(msg);
        return false;
    }
    if (kind == EMIT_LLVM) {
        char *text = LLVMPrintModuleToString(cg->mod);
        bool ok = blob_from(cg, text, strlen(text), out);
        LLVMDisposeMessage(text);
        return ok;
    }
    t = phase_time_now();
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(cg->tm, cg->mod,
                                            kind == EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile,
                                            &err, &buf)) {
        diag_error_noloc(cg->d, "LLVM code emission failed: %s", err ? err : "");
        LLVMDisposeMessage(err);
        return false;
    }
    bool ok = blob_from(cg, LLVMGetBufferStart(buf), LLVMGetBufferSize(buf), out);
    LLVMDisposeMemoryBuffer(buf);
    phase_time_end(t, "%s unit: %s code generation", unit,
                   strncmp(LLVMGetTarget(cg->mod), "nvptx", 5) ? "X86" : "NVPTX");
    return ok;
}

/* ---- builders ------------------------------------------------------------------------------- */

LLVMTypeRef cg_vec_type(LLVMTypeRef elt, int lanes)
{
    return lanes == 1 ? elt : LLVMVectorType(elt, (unsigned)lanes);
}

int cg_lanes(LLVMValueRef v)
{
    LLVMTypeRef t = LLVMTypeOf(v);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? (int)LLVMGetVectorSize(t) : 1;
}

static LLVMValueRef splat_const(LLVMValueRef c, int lanes)
{
    if (lanes == 1) return c;
    LLVMValueRef elts[64];
    for (int i = 0; i < lanes; i++) elts[i] = c;
    return LLVMConstVector(elts, (unsigned)lanes);
}

LLVMValueRef cg_f32(CgLlvm *cg, double v, int lanes)
{
    return splat_const(LLVMConstReal(cg->t_f32, v), lanes);
}

LLVMValueRef cg_i32(CgLlvm *cg, int64_t v, int lanes)
{
    return splat_const(LLVMConstInt(cg->t_i32, (unsigned long long)v, 1), lanes);
}

LLVMValueRef cg_i64(CgLlvm *cg, int64_t v)
{
    return LLVMConstInt(cg->t_i64, (unsigned long long)v, 1);
}

LLVMValueRef cg_splat(CgLlvm *cg, LLVMValueRef v, int lanes)
{
    if (lanes == 1 || cg_lanes(v) != 1) return v;
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(v), (unsigned)lanes);
    LLVMValueRef ins = LLVMBuildInsertElement(cg->b, LLVMGetPoison(vt), v, cg_i32(cg, 0, 1), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(cg->t_i32, (unsigned)lanes));
    return LLVMBuildShuffleVector(cg->b, ins, LLVMGetPoison(vt), zeros, "splat");
}

LLVMValueRef cg_iota(CgLlvm *cg, int lanes)
{
    if (lanes == 1) return cg_i32(cg, 0, 1);
    LLVMValueRef elts[64];
    for (int i = 0; i < lanes; i++) elts[i] = LLVMConstInt(cg->t_i32, (unsigned)i, 0);
    return LLVMConstVector(elts, (unsigned)lanes);
}

LLVMValueRef cg_intrin(CgLlvm *cg, const char *name, LLVMTypeRef *over, unsigned nover,
                       LLVMValueRef *args, unsigned nargs)
{
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (!id) {
        diag_error_noloc(cg->d, "internal error: unknown LLVM intrinsic %s", name);
        return LLVMGetPoison(LLVMTypeOf(args[0]));
    }
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, over, nover);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, over, nover);
    return LLVMBuildCall2(cg->b, fty, fn, args, nargs, "");
}

LLVMValueRef cg_intrin1(CgLlvm *cg, const char *name, LLVMValueRef *args, unsigned nargs)
{
    LLVMTypeRef t = LLVMTypeOf(args[0]);
    return cg_intrin(cg, name, &t, 1, args, nargs);
}

LLVMValueRef cg_fma(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMValueRef args[3] = {a, b, c};
    return cg_intrin1(cg, "llvm.fma", args, 3);
}

#define CG_BIN_INTRIN(FN, NAME)                                                               \
    LLVMValueRef FN(CgLlvm *cg, LLVMValueRef a, LLVMValueRef b)                               \
    {                                                                                         \
        LLVMValueRef args[2] = {a, b};                                                        \
        return cg_intrin1(cg, NAME, args, 2);                                                 \
    }
CG_BIN_INTRIN(cg_fmax, "llvm.maxnum")
CG_BIN_INTRIN(cg_fmaximum, "llvm.maximum")
CG_BIN_INTRIN(cg_fmin, "llvm.minnum")

LLVMValueRef cg_lane_sum(CgLlvm *cg, LLVMValueRef v)
{
    if (cg_lanes(v) == 1) return v;
    LLVMTypeRef vt = LLVMTypeOf(v);
    LLVMValueRef args[2] = {cg_f32(cg, 0.0, 1), v};
    LLVMValueRef s = cg_intrin(cg, "llvm.vector.reduce.fadd", &vt, 1, args, 2);
    LLVMSetFastMathFlags(s, LLVMFastMathAllowReassoc);
    return s;
}
CG_BIN_INTRIN(cg_smin, "llvm.smin")
CG_BIN_INTRIN(cg_smax, "llvm.smax")


/* ---- memory --------------------------------------------------------------------------------- */

static unsigned dtype_size(AirDtype dtype)
{
    return dtype == DT_F16 || dtype == DT_BF16 ? 2 : dtype == DT_F64 ? 8 : 4;
}

LLVMTypeRef cg_dtype_type(CgLlvm *cg, AirDtype dtype)
{
    switch (dtype) {
    case DT_F16: return cg->t_f16;
    case DT_BF16: return cg->t_i16;
    case DT_I32: return cg->t_i32;
    case DT_F64: return LLVMDoubleTypeInContext(cg->ctx);
    default: return cg->t_f32;
    }
}

static LLVMValueRef to_f32(CgLlvm *cg, LLVMValueRef v, AirDtype dtype, int lanes)
{
    LLVMTypeRef ft = cg_vec_type(cg->t_f32, lanes);
    switch (dtype) {
    case DT_F16:
    case DT_F64: return LLVMBuildFPCast(cg->b, v, ft, "");
    case DT_BF16: {
        LLVMTypeRef it = cg_vec_type(cg->t_i32, lanes);
        LLVMValueRef w = LLVMBuildShl(cg->b, LLVMBuildZExt(cg->b, v, it, ""),
                                      cg_i32(cg, 16, lanes), "");
        return LLVMBuildBitCast(cg->b, w, ft, "");
    }
    case DT_I32: return LLVMBuildSIToFP(cg->b, v, ft, "");
    default: return v;
    }
}

LLVMValueRef cg_load_f32(CgLlvm *cg, LLVMValueRef p, AirDtype dtype)
{
    return to_f32(cg, LLVMBuildLoad2(cg->b, cg_dtype_type(cg, dtype), p, ""), dtype, 1);
}

LLVMValueRef cg_load_vec_f32(CgLlvm *cg, LLVMValueRef p, AirDtype dtype, int lanes)
{
    LLVMValueRef v = LLVMBuildLoad2(cg->b, cg_vec_type(cg_dtype_type(cg, dtype), lanes), p, "");
    LLVMSetAlignment(v, dtype_size(dtype));
    return to_f32(cg, v, dtype, lanes);
}

void cg_store_from_f32(CgLlvm *cg, LLVMValueRef v, LLVMValueRef p, AirDtype dtype)
{
    int lanes = cg_lanes(v);
    LLVMBuilderRef b = cg->b;
    LLVMValueRef out = v;
    if (dtype == DT_F16) {
        out = LLVMBuildFPTrunc(b, v, cg_vec_type(cg->t_f16, lanes), "");
    } else if (dtype == DT_BF16) {
        /* Round to nearest even on the upper 16 bits; NaN becomes a quiet NaN. */
        LLVMValueRef bits = LLVMBuildBitCast(b, v, cg_vec_type(cg->t_i32, lanes), "");
        LLVMValueRef lsb = LLVMBuildAnd(b, LLVMBuildLShr(b, bits, cg_i32(cg, 16, lanes), ""),
                                        cg_i32(cg, 1, lanes), "");
        LLVMValueRef r = LLVMBuildAdd(b, bits, LLVMBuildAdd(b, lsb, cg_i32(cg, 0x7fff, lanes),
                                                            ""), "");
        r = LLVMBuildLShr(b, r, cg_i32(cg, 16, lanes), "");
        LLVMValueRef isnan = LLVMBuildFCmp(b, LLVMRealUNO, v, v, "");
        r = LLVMBuildSelect(b, isnan, cg_i32(cg, 0x7fc0, lanes), r, "");
        out = LLVMBuildTrunc(b, r, cg_vec_type(cg->t_i16, lanes), "");
    } else if (dtype == DT_F64) {
        out = LLVMBuildFPExt(b, v, cg_vec_type(LLVMDoubleTypeInContext(cg->ctx), lanes), "");
    }
    LLVMValueRef st = LLVMBuildStore(b, out, p);
    LLVMSetAlignment(st, dtype_size(dtype));
}

/* ---- control flow ----------------------------------------------------------------------------- */

LLVMBasicBlockRef cg_block(CgLlvm *cg, const char *name)
{
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
    return LLVMAppendBasicBlockInContext(cg->ctx, fn, name);
}

void cg_loop_begin(CgLlvm *cg, CgLoop *loop, LLVMValueRef start, LLVMValueRef end,
                   LLVMValueRef step, int ncarried, const LLVMValueRef *init, const char *name)
{
    if (ncarried > CG_MAX_CARRIED) {
        diag_error_noloc(cg->d, "internal error: %d loop-carried values", ncarried);
        ncarried = CG_MAX_CARRIED;
    }
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(cg->b);
    loop->head = cg_block(cg, name);
    loop->body = cg_block(cg, name);
    loop->exit = cg_block(cg, name);
    loop->step = step;
    loop->ncarried = ncarried;
    LLVMBuildBr(cg->b, loop->head);
    LLVMPositionBuilderAtEnd(cg->b, loop->head);
    loop->iv = LLVMBuildPhi(cg->b, cg->t_i64, "iv");
    LLVMAddIncoming(loop->iv, &start, &pre, 1);
    for (int i = 0; i < ncarried; i++) {
        loop->carried[i] = LLVMBuildPhi(cg->b, LLVMTypeOf(init[i]), "");
        LLVMValueRef v = init[i];
        LLVMAddIncoming(loop->carried[i], &v, &pre, 1);
    }
    LLVMValueRef cond = LLVMBuildICmp(cg->b, LLVMIntSLT, loop->iv, end, "");
    LLVMBuildCondBr(cg->b, cond, loop->body, loop->exit);
    LLVMPositionBuilderAtEnd(cg->b, loop->body);
}

void cg_loop_end(CgLlvm *cg, CgLoop *loop, const LLVMValueRef *next)
{
    LLVMBasicBlockRef from = LLVMGetInsertBlock(cg->b);
    LLVMValueRef inc = LLVMBuildAdd(cg->b, loop->iv, loop->step, "");
    LLVMBuildBr(cg->b, loop->head);
    LLVMAddIncoming(loop->iv, &inc, &from, 1);
    for (int i = 0; i < loop->ncarried; i++) {
        LLVMValueRef v = next[i];
        LLVMAddIncoming(loop->carried[i], &v, &from, 1);
    }
    LLVMPositionBuilderAtEnd(cg->b, loop->exit);
}

LLVMValueRef cg_alloca(CgLlvm *cg, LLVMValueRef fn, LLVMTypeRef elt, int64_t n, unsigned align)
{
    LLVMBuilderRef eb = LLVMCreateBuilderInContext(cg->ctx);
    LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
    LLVMValueRef first = LLVMGetFirstInstruction(entry);
    if (first) LLVMPositionBuilderBefore(eb, first);
    else LLVMPositionBuilderAtEnd(eb, entry);
    LLVMValueRef p = LLVMBuildAlloca(eb, LLVMArrayType2(elt, (uint64_t)n), "buf");
    LLVMSetAlignment(p, align);
    LLVMDisposeBuilder(eb);
    return p;
}

LLVMValueRef cg_gep(CgLlvm *cg, LLVMTypeRef elt, LLVMValueRef base, LLVMValueRef idx)
{
    return LLVMBuildGEP2(cg->b, elt, base, &idx, 1, "");
}

/* ---- AbiArgs ---------------------------------------------------------------------------------- */

LLVMValueRef cg_abi_field(CgLlvm *cg, LLVMValueRef args, size_t off, LLVMTypeRef ty)
{
    LLVMValueRef p = cg_gep(cg, cg->t_i8, args, cg_i64(cg, (int64_t)off));
    LLVMValueRef v = LLVMBuildLoad2(cg->b, ty, p, "");
    /* AbiArgs is read-only and never changes during a launch: let LLVM hoist these loads. */
    LLVMSetMetadata(v, LLVMGetMDKindIDInContext(cg->ctx, "invariant.load", 14),
                    LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, NULL, 0)));
    return v;
}

static size_t tensor_off(int tensor)
{
    return offsetof(AbiArgs, t) + (size_t)tensor * sizeof(AbiTensor);
}

LLVMValueRef cg_abi_tensor_data(CgLlvm *cg, LLVMValueRef args, int tensor)
{
    return cg_abi_field(cg, args, tensor_off(tensor) + offsetof(AbiTensor, data), cg->t_ptr);
}

LLVMValueRef cg_abi_tensor_shape(CgLlvm *cg, LLVMValueRef args, int tensor, int dim)
{
    return cg_abi_field(cg, args, tensor_off(tensor) + offsetof(AbiTensor, shape) + 8 * (size_t)dim,
                        cg->t_i64);
}

LLVMValueRef cg_abi_tensor_stride(CgLlvm *cg, LLVMValueRef args, int tensor, int dim)
{
    return cg_abi_field(cg, args,
                        tensor_off(tensor) + offsetof(AbiTensor, strides) + 8 * (size_t)dim,
                        cg->t_i64);
}

LLVMValueRef cg_abi_sym(CgLlvm *cg, LLVMValueRef args, int sym)
{
    return cg_abi_field(cg, args, offsetof(AbiArgs, sym) + 8 * (size_t)sym, cg->t_i64);
}

LLVMValueRef cg_abi_iparam(CgLlvm *cg, LLVMValueRef args, int param)
{
    return cg_abi_field(cg, args, offsetof(AbiArgs, iparam) + 4 * (size_t)param, cg->t_i32);
}

LLVMValueRef cg_abi_fparam(CgLlvm *cg, LLVMValueRef args, int param)
{
    return cg_abi_field(cg, args, offsetof(AbiArgs, fparam) + 4 * (size_t)param, cg->t_f32);
}
