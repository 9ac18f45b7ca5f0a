/* gen.h: internal to the PTX code generator (compiler/ptx/): the generation state of one
 * kernel and small LLVM-C builder helpers. */
#ifndef ATTNC_CG_PTX_GEN_H
#define ATTNC_CG_PTX_GEN_H

#include "cg_llvm.h"
#include "ptx.h"

#include <llvm-c/Core.h>
#include <stdio.h>
#include <string.h>

typedef struct Gen {
    CgLlvm cg;       /* context, module, builder, target machine, types (cg_llvm.c) */
    LLVMValueRef fn, args, smem;   /* the kernel, its byval AbiArgs, the dynamic shared array */
    LLVMTypeRef h2, p1, p3;        /* <2 x half>, global and shared pointers */
    const PtxConfig *c;
    /* derived shape: CTA rows, key tile, threads, padded head dims, shared memory rows
     * (bytes), offsets */
    int BM, BN, NT, DKP, DVP, QS, KS, VS;
    int off_q, off_kv, voff, stage_bytes, smem_bytes;
    int off_keys;    /* c's key values: 2 slots (key tile parity) x nstaged x BN i32 */
    LLVMTypeRef key_ty[PTX_MAX_STAGED];   /* their LLVM types (i1, i32 or f32) */
    bool swz;        /* wgmma layout: 64-column chunks of 128-byte swizzled rows */
    CgHookEnv env;   /* leaves of the spec's hooks (when c->air) */
} Gen;

/* One LLVM module of a kernel's GPU code: its name (for phase timing), the builder that adds
 * its entries to g->cg.mod, and whether a load needs it at once (eager: handed to the EmitSink as
 * soon as it is printed; the rest is loaded on first use). */
typedef struct PtxUnit {
    const char *name;
    bool (*build)(Gen *g);
    bool eager;
} PtxUnit;

enum { PTX_MAX_UNITS = 4 };

/* module.c: builds units[0 .. n) (one module each for PTX, one module for LLVM IR) and prints
 * them as one text. */
bool cg_ptx_generate_units(const PtxConfig *c, const PtxUnit *units, int n, EmitKind kind,
                           const EmitSink *sink, const KernelPlan *plan, Arena *a, Blob *out,
                           Diags *d);
/* entry.c: adds a kernel entry `name` (the first args_bytes of AbiArgs by value: ABI_ARGS_CORE,
 * or sizeof(AbiArgs) for an entry that reads the fields after it) to g->cg.mod, makes it g->fn
 * and positions the builder in its entry block. */
void cg_ptx_declare(Gen *g, const char *name, int threads, int min_ctas, size_t args_bytes);
/* entry.c: the hooks' environment of g->c->air (nothing without one), loaded from the entry's
 * AbiArgs; false after a diagnostic. */
bool cg_ptx_env_open(Gen *g);

/* skel_fa.c: the units of the FlashAttention-2 skeleton (attention, then its map kernel and the
 * decode entries when c asks for them), and the derived fields of g from g->c (no LLVM
 * objects needed). */
int cg_ptx_fa_units(const PtxConfig *c, PtxUnit units[PTX_MAX_UNITS]);
void cg_ptx_shape(Gen *g, const PtxConfig *c);
/* skel_recur.c: the recurrence skeleton's unit, its warps a CTA and shared memory bytes. */
int cg_ptx_recur_units(const PtxConfig *c, PtxUnit units[PTX_MAX_UNITS]);
/* skel_map.c: the tile-map entry `<entry>_map`. skel_decode.c: the split-KV decode entry and
 * its combine entry. */
bool cg_ptx_build_map(Gen *g);
bool cg_ptx_build_decode(Gen *g);

/* Small builder helpers over g->cg, inline so that nothing here is an exported symbol. They are
 * not cg_llvm.c's: gen_call declares any function by name (the NVVM intrinsics and libdevice-free
 * helpers the PTX needs, without LLVM's intrinsic attributes), and gen_arg reads the by-value
 * AbiArgs from the parameter space with its natural alignment and no invariant.load. */
/* Calls the function (an intrinsic, by its LLVM name), declaring it on first use. */
static inline LLVMValueRef gen_call(Gen *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *argty,
                                    int nargs, LLVMValueRef *args)
{
    LLVMTypeRef fty = LLVMFunctionType(ret, argty, (unsigned)nargs, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->cg.mod, name);
    if (!f) f = LLVMAddFunction(g->cg.mod, name, fty);
    return LLVMBuildCall2(g->cg.b, fty, f, args, (unsigned)nargs, "");
}

static inline LLVMValueRef gen_i32(Gen *g, int64_t v)
{
    return LLVMConstInt(g->cg.t_i32, (unsigned long long)v, 1);
}
static inline LLVMValueRef gen_i64(Gen *g, int64_t v)
{
    return LLVMConstInt(g->cg.t_i64, (unsigned long long)v, 1);
}
static inline LLVMValueRef gen_f32(Gen *g, float v) { return LLVMConstReal(g->cg.t_f32, v); }
static inline LLVMValueRef gen_add(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildAdd(g->cg.b, a, b, "");
}

/* Signed i32 min / max. */
static inline LLVMValueRef gen_min(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->cg.b, LLVMBuildICmp(g->cg.b, LLVMIntSLT, a, b, ""), a, b, "");
}

static inline LLVMValueRef gen_max(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(g->cg.b, LLVMBuildICmp(g->cg.b, LLVMIntSGT, a, b, ""), a, b, "");
}

/* The softmax's max: NaN propagating (max.NaN.f32), so that a NaN logit makes its row NaN
 * (docs/language.md section 14). */
static inline LLVMValueRef gen_fmax(Gen *g, LLVMValueRef a, LLVMValueRef b)
{
    LLVMTypeRef ts[2] = {g->cg.t_f32, g->cg.t_f32};
    LLVMValueRef args[2] = {a, b};
    return gen_call(g, "llvm.maximum.f32", g->cg.t_f32, ts, 2, args);
}

static inline LLVMValueRef gen_fma(Gen *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    LLVMTypeRef ts[3] = {g->cg.t_f32, g->cg.t_f32, g->cg.t_f32};
    LLVMValueRef args[3] = {a, b, c};
    return gen_call(g, "llvm.fma.f32", g->cg.t_f32, ts, 3, args);
}

static inline LLVMBasicBlockRef gen_block(Gen *g, const char *name)
{
    return LLVMAppendBasicBlockInContext(g->cg.ctx, g->fn, name);
}

/* A special register by its PTX name ("tid.x", "ctaid.y"), and an i32 sign-extended to i64. */
LLVMValueRef cg_ptx_sreg(Gen *g, const char *name);
static inline LLVMValueRef gen_sreg(Gen *g, const char *r)
{
    char name[64];
    snprintf(name, sizeof name, "llvm.nvvm.read.ptx.sreg.%s", r);
    return cg_ptx_sreg(g, name);
}
static inline LLVMValueRef gen_i64of(Gen *g, LLVMValueRef v) { return LLVMBuildSExt(g->cg.b, v, g->cg.t_i64, ""); }

/* A field of the kernel's AbiArgs at byte offset `off`, loaded as `ty`. */
static inline LLVMValueRef gen_arg(Gen *g, size_t off, LLVMTypeRef ty)
{
    LLVMValueRef idx = gen_i64(g, (int64_t)off);
    LLVMValueRef p = LLVMBuildInBoundsGEP2(g->cg.b, g->cg.t_i8, g->args, &idx, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(g->cg.b, ty, p, "");
    LLVMSetAlignment(v, 8 - (unsigned)(off & 4) * (ty == g->cg.t_i32 || ty == g->cg.t_f32));
    return v;
}

/* A hook value (i1, i32 or f32) as the i32 word that holds it in shared memory, and back. */
static inline LLVMValueRef gen_to_word(Gen *g, LLVMValueRef v)
{
    if (LLVMTypeOf(v) == g->cg.t_i1) return LLVMBuildZExt(g->cg.b, v, g->cg.t_i32, "");
    if (LLVMTypeOf(v) == g->cg.t_f32) return LLVMBuildBitCast(g->cg.b, v, g->cg.t_i32, "");
    return v;
}
static inline LLVMValueRef gen_from_word(Gen *g, LLVMValueRef w, LLVMTypeRef ty)
{
    if (ty == g->cg.t_i1) return LLVMBuildTrunc(g->cg.b, w, g->cg.t_i1, "");
    if (ty == g->cg.t_f32) return LLVMBuildBitCast(g->cg.b, w, g->cg.t_f32, "");
    return w;
}

/* Pointer into the dynamic shared memory at byte offset `off` (i32). */
static inline LLVMValueRef gen_smem(Gen *g, LLVMValueRef off)
{
    return LLVMBuildGEP2(g->cg.b, g->cg.t_i8, g->smem, &off, 1, "");
}

enum { MAXM = 4, MAXN = 32, MAXD = 32 };   /* m-tiles per warp, 8-wide key / dim tiles */

typedef struct Frag { LLVMValueRef v[4]; } Frag;

/* Per-thread values computed once at entry. */
typedef struct Thread {
    LLVMValueRef tid, lane, warp, g, t4;
    LLVMValueRef qb, h, b, lq, lk, qoff;       /* i32 */
    LLVMValueRef qrow0;                        /* i32: first query row of the CTA */
    LLVMValueRef kbase, vbase, qbase;          /* i64 byte addresses of row 0 of this head */
    LLVMValueRef ks2, vs2, qs2;                /* i64 row strides in bytes */
    LLVMValueRef qa, ka, va;                   /* i32 per-lane ldmatrix offsets */
    LLVMValueRef kb0, nkb;                     /* the key loop runs over tiles [kb0, nkb) */
    LLVMValueRef tiles, tbase;                 /* tile map pointer (i64) and row base */
} Thread;

/* frag.c: data movement and fragments (see that file). */
LLVMValueRef cg_ptx_mma(Gen *g, const Frag *a, LLVMValueRef b0, LLVMValueRef b1, Frag *c);
void cg_ptx_ldsm(Gen *g, LLVMValueRef off, bool trans, LLVMValueRef out[4]);
void cg_ptx_load_tile(Gen *g, const Thread *t, LLVMValueRef base, LLVMValueRef stride,
                      LLVMValueRef row0, LLVMValueRef nrows, LLVMValueRef soff, int rows,
                      int d, int dpad, int pitch);
void cg_ptx_commit(Gen *g);
void cg_ptx_wait_group(Gen *g, int n);
LLVMValueRef cg_ptx_stage_off(Gen *g, LLVMValueRef kb);
void cg_ptx_load_kv(Gen *g, const Thread *t, LLVMValueRef kb);
LLVMValueRef cg_ptx_opaque(Gen *g, LLVMValueRef v);
LLVMValueRef cg_ptx_head_base(Gen *g, int slot, LLVMValueRef b, LLVMValueRef hh, LLVMValueRef *rs,
                              int esize);
LLVMValueRef cg_ptx_shape32(Gen *g, int slot, int dim);
void cg_ptx_thread_setup(Gen *g, Thread *t);
/* skel_map.c: the `<entry>_map` kernel of masks that read side tensors (PtxConfig.map). */
bool cg_ptx_build_map(Gen *g);
Frag cg_ptx_q_frag(Gen *g, const Thread *t, int mt, int ks);
LLVMValueRef cg_ptx_quad(Gen *g, LLVMValueRef v, bool is_max);
LLVMValueRef cg_ptx_ex2(Gen *g, LLVMValueRef x);
/* 8 bf16 / f16 elements (g->c->dtype) at byte address a (i64, 16-byte aligned), as f32. */
void cg_ptx_load8(Gen *g, LLVMValueRef a, LLVMValueRef out[8]);
/* The online softmax's algebra (cg_softmax.c) with the GPU's max (max.NaN), ex2.approx, fma and
 * lg2.approx. */
CgSoftmax cg_ptx_softmax(Gen *g);
LLVMValueRef cg_ptx_pack(Gen *g, LLVMValueRef lo, LLVMValueRef hi);

/* wgmma.c: warpgroup MMA pieces (inline PTX). */
LLVMValueRef cg_ptx_wg_desc(Gen *g, LLVMValueRef off, int lbo, int sbo);
void cg_ptx_wg_fence(Gen *g);
void cg_ptx_wg_commit(Gen *g);
void cg_ptx_wg_fence_proxy(Gen *g);
void cg_ptx_wg_wait(Gen *g, LLVMValueRef *acc, int n);
void cg_ptx_wg_mma_ss(Gen *g, int nn, LLVMValueRef *acc, LLVMValueRef da, LLVMValueRef db, bool accumulate);
void cg_ptx_wg_mma_rs(Gen *g, int nn, LLVMValueRef *acc, LLVMValueRef a[4], LLVMValueRef db);

/* hookvals.c: what the attention kernel hands its hooks.
 *
 * The key distances, i32 nodes `i - j`, handed to the hooks as presets from the row's distance
 * to the thread's first key of the tile: one add an element (ALiBi's bias, a window's bound)
 * rather than an add for j and a sub. The row distance is carried down the key loop through an
 * opaque copy, so that LLVM's loop strength reduction does not search over its dozens of uses
 * (110 ms of ALiBi's cold compile) yet the code is the one that search found.
 * A distance converted to f32 (`tof32 (i - j)`, ALiBi's slope times it) is a preset as well:
 * the row distance converted once a tile plus a float constant an element, instead of an
 * i32-to-f32 conversion an element (a quarter-rate instruction, like ex2). The two agree
 * exactly while distances stay below 2^24. */
enum { PTX_MAXDIST = 8 };
typedef struct PtxDist {
    int n;                    /* presets: id[0 .. nint) the i32 distances, then their f32 casts */
    int nint;
    int32_t id[PTX_MAXDIST];
    LLVMValueRef row[MAXM];   /* per m-tile: i of row g - the thread's first key, this tile */
    LLVMValueRef rowf[MAXM];  /* row as f32, where there are f32 casts */
} PtxDist;

/* The values of the mask's split (PtxConfig.presets) for this thread: row values evaluated
 * once per row before the key loop, key values read from shared memory per tile. With
 * PtxConfig.mask_fused the mask is applied after S = Q K^T like `j <= i`; otherwise into bits
 * before it, so that its loads do not compete with S's registers (with S live, a mask that
 * loaded per element spilled 168 bytes). */
typedef struct PtxMaskPre {
    LLVMValueRef val[MAXM][2][2 * PTX_MAX_STAGED];   /* per (mt, half): row values, then keys */
    LLVMValueRef kv[MAXN][2][PTX_MAX_STAGED];        /* per (nt, e): key values of the tile */
} PtxMaskPre;

/* Position i of the thread's query row (m-tile mt, half 0: row g, 1: row g + 8). */
LLVMValueRef cg_ptx_row_pos(Gen *g, const Thread *t, int mt, int half);
/* The thread's first key in the key tile starting at k0, and key j of its column nt/e. */
LLVMValueRef cg_ptx_key_base(Gen *g, const Thread *t, LLVMValueRef k0);
LLVMValueRef cg_ptx_key_pos(Gen *g, LLVMValueRef kbase, int nt, int e);
void cg_ptx_dist_find(const AirKernel *k, PtxDist *d);
void cg_ptx_dist_tile(Gen *g, PtxDist *d, int mtiles);
void cg_ptx_dist_vals(Gen *g, const PtxDist *d, int mt, int half, int nt, int e, LLVMValueRef *vals);
bool cg_ptx_stage_keys(Gen *g, const Thread *t, LLVMValueRef kb);
bool cg_ptx_mask_pre(Gen *g, const Thread *t, PtxMaskPre *p);
void cg_ptx_load_keys(Gen *g, const Thread *t, LLVMValueRef kb, PtxMaskPre *p);
LLVMValueRef cg_ptx_mask_elem(Gen *g, const Thread *t, PtxMaskPre *p, const PtxDist *d, int mt,
                              int half, int nt, int e, LLVMValueRef j);


#endif
