/* wgmma.c: Hopper warpgroup MMA (wgmma.mma_async, sm_90a) for the FlashAttention
 * skeleton. LLVM 19 has no wgmma intrinsics, so these are inline PTX; the accumulators are tied
 * through every wgmma and through the wait, so nothing reads them before the wait retires.
 *
 * Operands in shared memory use the 128-byte swizzle: a tile is stored in chunks of 64 columns
 * (128 bytes a row), each chunk rows x 128 B, with the 16-byte unit u of row r stored at unit
 * u ^ (r % 8) (skel_fa.c's load_tile writes that layout). Descriptors (PTX ISA, "matrix
 * descriptor"): start address >> 4 in bits 0-13, leading byte offset >> 4 in 16-29, stride byte
 * offset >> 4 in 32-45, swizzle mode 1 (128 B) in 62-63. K-major operands (Q, K): stride 1024 B
 * between 8-row groups, +32 B per k16 step inside a chunk. V is the B operand of P V with N
 * (the head dim) contiguous, i.e. MN-major, "transposed": leading offset = the chunk stride (next
 * 64 columns of N), stride offset = 1024 B (next 8 keys), +2048 B per k16 step (16 keys). */
#include "gen.h"

#include <stdio.h>
#include <string.h>

LLVMValueRef cg_ptx_wg_desc(Gen *g, LLVMValueRef off, int lbo, int sbo)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef addr = LLVMBuildPtrToInt(B, gen_smem(g, off), g->cg.t_i32, "");
    LLVMValueRef lo = LLVMBuildAnd(B, LLVMBuildLShr(B, addr, gen_i32(g, 4), ""), gen_i32(g, 0x3fff), "");
    uint64_t hi = ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32) | (1ull << 62);
    return LLVMBuildOr(B, LLVMBuildZExt(B, lo, g->cg.t_i64, ""), gen_i64(g, (int64_t)hi), "");
}

static void plain_asm(Gen *g, const char *s)
{
    LLVMTypeRef fty = LLVMFunctionType(g->cg.t_void, NULL, 0, 0);
    static const char cs[] = "~{memory}";
    LLVMValueRef ia = LLVMGetInlineAsm(fty, (char *)s, strlen(s), (char *)cs, sizeof cs - 1, 1, 0,
                                       LLVMInlineAsmDialectATT, 0);
    LLVMBuildCall2(g->cg.b, fty, ia, NULL, 0, "");
}

void cg_ptx_wg_fence(Gen *g) { plain_asm(g, "wgmma.fence.sync.aligned;"); }
void cg_ptx_wg_commit(Gen *g) { plain_asm(g, "wgmma.commit_group.sync.aligned;"); }
void cg_ptx_wg_fence_proxy(Gen *g) { plain_asm(g, "fence.proxy.async.shared::cta;"); }

/* Calls an asm whose operands are n f32 accumulator outputs ($0..), the same n as tied inputs
 * ($n..), then `nextra` inputs ($2n..) with constraints `extra`; replaces acc[] with the results. */
static void acc_asm(Gen *g, const char *text, int n, LLVMValueRef *acc, const char *extra,
                    LLVMTypeRef *xty, LLVMValueRef *xv, int nextra)
{
    char cs[2048];
    int c = 0;
    for (int i = 0; i < n; i++) c += snprintf(cs + c, sizeof cs - (size_t)c, "=f,");
    for (int i = 0; i < n; i++) c += snprintf(cs + c, sizeof cs - (size_t)c, "%d,", i);
    snprintf(cs + c, sizeof cs - (size_t)c, "%s~{memory}", extra);
    LLVMTypeRef ty[160], ft[128];
    LLVMValueRef args[160];
    for (int i = 0; i < n; i++) { ty[i] = g->cg.t_f32; ft[i] = g->cg.t_f32; args[i] = acc[i]; }
    for (int i = 0; i < nextra; i++) { ty[n + i] = xty[i]; args[n + i] = xv[i]; }
    LLVMTypeRef rt = LLVMStructTypeInContext(g->cg.ctx, ft, (unsigned)n, 0);
    LLVMTypeRef fty = LLVMFunctionType(rt, ty, (unsigned)(n + nextra), 0);
    LLVMValueRef ia = LLVMGetInlineAsm(fty, (char *)text, strlen(text), cs, strlen(cs), 1, 0,
                                       LLVMInlineAsmDialectATT, 0);
    LLVMValueRef r = LLVMBuildCall2(g->cg.b, fty, ia, args, (unsigned)(n + nextra), "");
    for (int i = 0; i < n; i++) acc[i] = LLVMBuildExtractValue(g->cg.b, r, (unsigned)i, "");
}

static int acc_list(char *s, size_t cap, int n)
{
    int k = snprintf(s, cap, "{");
    for (int i = 0; i < n; i++) k += snprintf(s + k, cap - (size_t)k, i ? ", $%d" : "$%d", i);
    return k + snprintf(s + k, cap - (size_t)k, "}");
}

void cg_ptx_wg_wait(Gen *g, LLVMValueRef *acc, int n)
{
    acc_asm(g, "wgmma.wait_group.sync.aligned 0;", n, acc, "", NULL, NULL, 0);
}

static const char *ab_type(Gen *g) { return g->c->dtype == DT_BF16 ? "bf16.bf16" : "f16.f16"; }

/* acc (m64 x nN, N/2 floats a thread) = [acc +] A(desc) * B(desc); both K-major. */
void cg_ptx_wg_mma_ss(Gen *g, int nn, LLVMValueRef *acc, LLVMValueRef da, LLVMValueRef db, bool accumulate)
{
    char s[2048];
    int n = nn / 2;
    int k = snprintf(s, sizeof s, "wgmma.mma_async.sync.aligned.m64n%dk16.f32.%s ", nn, ab_type(g));
    k += acc_list(s + k, sizeof s - (size_t)k, n);
    snprintf(s + k, sizeof s - (size_t)k, ", $%d, $%d, $%d, 1, 1, 0, 0;", 2 * n, 2 * n + 1, 2 * n + 2);
    LLVMTypeRef xt[3] = {g->cg.t_i64, g->cg.t_i64, g->cg.t_i1};
    LLVMValueRef xv[3] = {da, db, LLVMConstInt(g->cg.t_i1, accumulate, 0)};
    acc_asm(g, s, n, acc, "l,l,b,", xt, xv, 3);
}

/* acc += A(registers, the mma.m16n8k16 A layout per warp) * B(desc, N-contiguous: transposed). */
void cg_ptx_wg_mma_rs(Gen *g, int nn, LLVMValueRef *acc, LLVMValueRef a[4], LLVMValueRef db)
{
    char s[2048];
    int n = nn / 2;
    int k = snprintf(s, sizeof s, "wgmma.mma_async.sync.aligned.m64n%dk16.f32.%s ", nn, ab_type(g));
    k += acc_list(s + k, sizeof s - (size_t)k, n);
    snprintf(s + k, sizeof s - (size_t)k, ", {$%d, $%d, $%d, $%d}, $%d, $%d, 1, 1, 1;", 2 * n,
             2 * n + 1, 2 * n + 2, 2 * n + 3, 2 * n + 4, 2 * n + 5);
    LLVMTypeRef xt[6] = {g->cg.t_i32, g->cg.t_i32, g->cg.t_i32, g->cg.t_i32, g->cg.t_i64, g->cg.t_i1};
    LLVMValueRef xv[6] = {a[0], a[1], a[2], a[3], db, LLVMConstInt(g->cg.t_i1, 1, 0)};
    acc_asm(g, s, n, acc, "r,r,r,r,l,b,", xt, xv, 6);
}
