/* ptx.h: the GPU code generator's interface (the sm_80 and sm_90a targets of targets.c).
 * PtxConfig is the skeleton's full description (what plan()
 * decides from the AIR kernel and the tile table), so tests and tools can generate a kernel
 * variant without a spec.
 *
 * The kernel: `void ENTRY(AbiArgs args)` with the AbiArgs passed BY VALUE as one byval
 * parameter (sizeof(AbiArgs) bytes of parameter space); launch it with one kernel parameter
 * pointing at a host AbiArgs: kernelParams = { &args }. Grid (ceil(Lq / tile_m), Hq, B),
 * block (threads, 1, 1), dynamic shared memory smem_bytes (above 48 KB the function needs
 * CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES first; rt_cuda_module does that).
 * Tensors are read from AbiArgs.t[] at the slots the plan names (q, k, v, o, lse): shape and
 * strides in elements, rank 4 (lse rank 3), the last dim contiguous; rows 16-byte aligned
 * (base pointer 16-byte aligned and every stride but the last a multiple of 8 elements). */
#ifndef ATTNC_CG_PTX_H
#define ATTNC_CG_PTX_H

#include "target.h"

/* One row of the tile table: how a CTA is shaped for a head dim on a target. */
typedef struct PtxTile {
    int32_t warps;      /* warps per CTA; each owns mtiles * 16 query rows */
    int32_t mtiles;     /* 16-row MMA tiles per warp */
    int32_t block_n;    /* keys per K/V tile (multiple of 16) */
    int32_t stages;     /* K/V shared-memory ring depth (cp.async groups in flight + 1) */
    bool q_in_regs;     /* keep Q's MMA fragments in registers for the whole key loop */
    bool wgmma;         /* sm_90a: warpgroup MMA (wgmma) from 128B-swizzled shared memory;
                           needs mtiles 1 and warps a multiple of 4 (64 rows a warpgroup) */
    int32_t min_ctas;   /* CTAs per SM the registers must allow (.minnctapersm); 0 = 1 */
} PtxTile;

/* NONE: every key visible; CAUSAL: j <= i, evaluated by the skeleton itself (and the key loop
 * ends at the diagonal); HOOK: the spec's mask hook, emitted per score element. */
typedef enum { PTX_MASK_NONE, PTX_MASK_CAUSAL, PTX_MASK_HOOK } PtxMask;

enum { PTX_MAX_STAGED = 4 };

typedef struct PtxConfig {
    int32_t sm;               /* 80 or 90 (sm_90a) */
    AirDtype dtype;           /* q, k, v and o: DT_BF16 or DT_F16 */
    int32_t dk, dv;           /* head dims, multiples of 8 in 16..256 */
    PtxMask mask;             /* the mask the skeleton evaluates itself */
    bool causal_bound;        /* the mask implies j <= i: the key loop ends at the diagonal */
    float scale;              /* multiplies q . k (when the spec has no runtime scale) */
    const AirKernel *air;     /* the spec, for its hooks (scale, score, mask, sink); NULL: none */
    const char *target_name;  /* for diagnostics from the hook emitter */
    int32_t tq, tk, tv, to, tlse;  /* slots in AbiArgs.t; tlse = -1: no LSE output */
    PtxTile tile;
    const char *entry;        /* kernel symbol */
    bool decode;              /* also emit the split-KV decode entries (skel_decode.c) */
    /* The mask hook split by pass_hook_split (mask hooks only): presets[0 .. nrowvals) read side
     * tensors by i alone (`doc[b, i]`: evaluated once per query row), the next nstaged by j
     * alone (`doc[b, j]`: once per key, staged in shared memory per key tile). mask_fused: no
     * side-tensor read is left per element, so the mask is applied after S = QK^T. */
    int32_t nrowvals, nstaged;
    int32_t presets[2 * PTX_MAX_STAGED];
    bool mask_fused;
    bool map;                 /* the module has `<entry>_map`: the mask hook reads side tensors */
} PtxConfig;

/* The documented tile table's row for (sm, head dim, mask, whether a score hook runs). */
PtxTile cg_ptx_tile(int32_t sm, int32_t dk, int32_t dv, PtxMask mask, bool score_hook);
/* Derived launch numbers of a config: CTA rows, threads, dynamic shared memory bytes. */
void cg_ptx_launch_shape(const PtxConfig *c, int32_t *tile_m, int32_t *threads,
                         int32_t *smem_bytes);
/* Adds the decode entries of c to the plan (names in `a`, threads, shared memory, rows) and
 * their workspace. */
bool cg_ptx_decode_plan(const PtxConfig *c, KernelPlan *plan, Arena *a);
/* The recurrence skeleton's CTA: PTX_RECUR_COLS state columns, PTX_RECUR_ROWS rows a thread,
 * its warps and shared memory bytes. */
enum { PTX_RECUR_ROWS = 16, PTX_RECUR_COLS = 32 };
int cg_ptx_recur_warps(int32_t dk);
int32_t cg_ptx_recur_smem(int32_t dk);
/* Generates the kernel of `c` as LLVM IR text (EMIT_LLVM) or PTX (EMIT_ASM) into out. */
bool cg_ptx_generate(const PtxConfig *c, EmitKind kind, const EmitSink *sink, const KernelPlan *plan,
                     Arena *a, Blob *out, Diags *d);

#endif
