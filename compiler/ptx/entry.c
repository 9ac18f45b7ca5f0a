/* entry.c: declares a kernel entry point in the module being built: AbiArgs by value, the
 * dynamic shared array, and the launch bounds (maxntid, minctasm) as NVVM annotations. Every
 * GPU skeleton starts its entries here. */
#include "gen.h"

#include <string.h>

static void annotate(Gen *g, const char *key, int v)
{
    LLVMMetadataRef md[3] = {LLVMValueAsMetadata(g->fn),
                             LLVMMDStringInContext2(g->cg.ctx, key, strlen(key)),
                             LLVMValueAsMetadata(gen_i32(g, v))};
    LLVMAddNamedMetadataOperand(g->cg.mod, "nvvm.annotations",
                                LLVMMetadataAsValue(g->cg.ctx, LLVMMDNodeInContext2(g->cg.ctx, md, 3)));
}

void cg_ptx_declare(Gen *g, const char *name, int threads, int min_ctas, size_t args_bytes)
{
    LLVMTypeRef pty = LLVMPointerTypeInContext(g->cg.ctx, 0);
    LLVMTypeRef fty = LLVMFunctionType(g->cg.t_void, &pty, 1, 0);
    g->fn = LLVMAddFunction(g->cg.mod, name, fty);
    LLVMSetFunctionCallConv(g->fn, 71);   /* ptx_kernel */
    /* AbiArgs by value: `ptr byval([N x i8]) align 8`, read with ld.param. */
    LLVMTypeRef abi = LLVMArrayType2(g->cg.t_i8, args_bytes);
    unsigned byval = LLVMGetEnumAttributeKindForName("byval", 5);
    unsigned align = LLVMGetEnumAttributeKindForName("align", 5);
    LLVMAddAttributeAtIndex(g->fn, 1, LLVMCreateTypeAttribute(g->cg.ctx, byval, abi));
    LLVMAddAttributeAtIndex(g->fn, 1, LLVMCreateEnumAttribute(g->cg.ctx, align, 8));
    g->args = LLVMGetParam(g->fn, 0);
    if (!g->smem) {
        g->smem = LLVMAddGlobalInAddressSpace(g->cg.mod, LLVMArrayType2(g->cg.t_i8, 0), "smem", 3);
        LLVMSetLinkage(g->smem, LLVMExternalLinkage);
        LLVMSetAlignment(g->smem, 1024);   /* 128B-swizzled wgmma tiles need 1024-byte alignment */
    }
    annotate(g, "maxntidx", threads);
    annotate(g, "minctasm", min_ctas > 1 ? min_ctas : 1);
    LLVMPositionBuilderAtEnd(g->cg.b, LLVMAppendBasicBlockInContext(g->cg.ctx, g->fn, "entry"));
}

bool cg_ptx_env_open(Gen *g)
{
    const AirKernel *ak = g->c->air;
    if (!ak) return true;
    if (!cg_hook_env_init(&g->env, &g->cg, ak, g->c->target_name, 1)) return false;
    g->env.nvptx = true;
    cg_hook_preload(&g->env, g->args);
    return true;
}
