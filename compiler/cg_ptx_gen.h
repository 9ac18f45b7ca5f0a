/* cg_ptx_gen.h: internal to the PTX code generator (cg_ptx*.c): the generation state of one
 * kernel and small LLVM-C builder helpers. */
#ifndef ATTNC_CG_PTX_GEN_H
#define ATTNC_CG_PTX_GEN_H

#include "cg_ptx.h"

#include <llvm-c/Core.h>

typedef struct Gen {
    LLVMContextRef C;
    LLVMModuleRef M;
    LLVMBuilderRef B;
    LLVMValueRef fn, args, smem;   /* the kernel, its byval AbiArgs, the dynamic shared array */
    LLVMTypeRef vd, i1, i8, i32, i64, f32, h2, p1, p3;
    const PtxConfig *c;
    /* derived shape: CTA rows, key tile, threads, padded head dims, shared memory rows
     * (bytes), offsets */
    int BM, BN, NT, DKP, DVP, QS, KS, VS;
    int off_q, off_kv, stage_bytes, smem_bytes;
} Gen;

/* Fills the derived fields of g from g->c (no LLVM objects needed). */
void gen_shape(Gen *g, const PtxConfig *c);

LLVMValueRef gen_i32(Gen *g, int64_t v);
LLVMValueRef gen_i64(Gen *g, int64_t v);
LLVMValueRef gen_f32(Gen *g, float v);
LLVMValueRef gen_add(Gen *g, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef gen_min(Gen *g, LLVMValueRef a, LLVMValueRef b);   /* signed i32 */
LLVMValueRef gen_max(Gen *g, LLVMValueRef a, LLVMValueRef b);   /* signed i32 */
LLVMValueRef gen_fmax(Gen *g, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef gen_fma(Gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMBasicBlockRef gen_block(Gen *g, const char *name);
/* Calls the function (an intrinsic, by its LLVM name), declaring it on first use. */
LLVMValueRef gen_call(Gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *argty, int nargs,
                      LLVMValueRef *args);
/* A field of the kernel's AbiArgs at byte offset `off`, loaded as `ty`. */
LLVMValueRef gen_arg(Gen *g, size_t off, LLVMTypeRef ty);
/* Pointer into the dynamic shared memory at byte offset `off` (i32). */
LLVMValueRef gen_smem(Gen *g, LLVMValueRef off);

/* cg_ptx_fa.c: builds the FlashAttention-2 forward body into g->fn. */
bool cg_ptx_build_fa(Gen *g);

#endif
