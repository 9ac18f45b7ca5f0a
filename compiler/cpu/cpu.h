/* cpu.h: internal to the CPU code generator (compiler/cpu/): the skeletons' shape and state and
 * the pieces they share (kernel.c). */
#ifndef ATTNC_CG_CPU_H
#define ATTNC_CG_CPU_H

#include "cg_llvm.h"

#include <string.h>

/* Register blocking of the skeleton, chosen per vector width (see cg_cpu_fa_shape in skel_fa.c).
 * S^T = K Q^T is computed with query rows across the lanes: `qk_keys` keys x (tile_m / lanes)
 * row vectors of accumulators; O += P V with `pv_rows` rows x up to `pv_vecs` vectors of Dv. */
typedef struct CpuShape {
    int lanes;       /* f32 lanes of a vector register: 16 (AVX-512) or 8 (AVX2) */
    int tile_m;      /* query rows per work item, a multiple of lanes */
    int tile_n;      /* keys per key tile, a multiple of qk_keys */
    int qk_keys;
    int pv_rows;     /* divides tile_m */
    int pv_vecs;
} CpuShape;

/* The skeleton being built (skel_fa.c sets it up; skel_rows.c adds the per-row path). */
typedef struct Skel {
    CgLlvm *cg;
    LLVMBuilderRef b;
    const AirKernel *k;
    CpuShape s;
    CgHookEnv env;
    int N, CM, dk, dv, dvp;
    int score_mode;            /* 0: no score hook, 1: hook uses score, 2: hook uses qk */
    LLVMTypeRef vf;            /* <N x f32> */
    LLVMValueRef fn, args, bi, hi, qblock;
    LLVMValueRef lk, row0, nrows, scale;
    LLVMValueRef kbase, ks, vbase, vs;
    LLVMValueRef Qt, S, O, M, L, ALPHA, Kp, Vp;
    bool k_direct, v_direct;
    LLVMValueRef ivec[16];     /* i32 query positions of each row vector */
    LLVMValueRef qpos0;        /* i32 position of row 0: q_offset + row0 */
    LLVMValueRef Qr;           /* the first CPU_ROWS_MAX rows of Q, scaled, row-major [dkp] */
    int dkp;                   /* Dk rounded up to lanes */
    /* Head-group entry (skel_group.c): row r is query row r % rows_lq of query head
     * hfirst + r / rows_lq; NULL rows_lq means row r is query row r of head hi. */
    LLVMValueRef rows_lq, hfirst;
    LLVMBasicBlockRef tile_go;   /* between cg_cpu_tile_map_begin and cg_cpu_tile_enter */
} Skel;

static inline LLVMValueRef i64c(Skel *k, int64_t v) { return cg_i64(k->cg, v); }

/* &buf[idx] as f32 and a vector load / store there. */
static inline LLVMValueRef fptr(Skel *k, LLVMValueRef buf, LLVMValueRef idx)
{
    return cg_gep(k->cg, k->cg->t_f32, buf, idx);
}

static inline LLVMValueRef vload(Skel *k, LLVMValueRef buf, LLVMValueRef idx, unsigned align)
{
    LLVMValueRef v = LLVMBuildLoad2(k->b, k->vf, fptr(k, buf, idx), "");
    LLVMSetAlignment(v, align);
    return v;
}

static inline void vstore(Skel *k, LLVMValueRef v, LLVMValueRef buf, LLVMValueRef idx, unsigned align)
{
    LLVMValueRef st = LLVMBuildStore(k->b, v, fptr(k, buf, idx));
    LLVMSetAlignment(st, align);
}

static inline LLVMValueRef bcast(Skel *k, LLVMValueRef buf, LLVMValueRef idx)
{
    return cg_splat(k->cg, LLVMBuildLoad2(k->b, k->cg->t_f32, fptr(k, buf, idx), ""), k->N);
}

static inline LLVMValueRef add(Skel *k, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildAdd(k->b, a, b, "");
}

static inline LLVMValueRef mul(Skel *k, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildMul(k->b, a, b, "");
}

static inline LLVMValueRef min64(Skel *k, LLVMValueRef a, LLVMValueRef b)
{
    return cg_smin(k->cg, a, b);
}

LLVMValueRef cg_cpu_logit(Skel *k, LLVMValueRef acc, LLVMValueRef i, LLVMValueRef j);
LLVMValueRef cg_cpu_visible(Skel *k, LLVMValueRef i, LLVMValueRef j);
void cg_cpu_skel_init(Skel *k, CgLlvm *cg, const AirKernel *ak, const CpuShape *shape,
                      const char *target);
void cg_cpu_function(Skel *k, const KernelPlan *plan, const char *name, LLVMTypeRef *params,
                     unsigned nparams);
LLVMValueRef cg_cpu_head_base(Skel *k, int t, LLVMValueRef head, LLVMValueRef *row_stride);
bool cg_cpu_uses_op(CgLlvm *cg, const AirKernel *ak, int32_t root, AirOp op);
/* acc + p * v, or acc itself where p is 0: a masked key's p is exactly 0, and its v (an
 * unwritten cache row, NaN or Inf) must not reach the row through 0 * NaN. */
LLVMValueRef cg_cpu_pv_fma(Skel *k, LLVMValueRef p, LLVMValueRef v, LLVMValueRef acc);
/* Stores the Dv floats of buf[at ..] times f (a scalar or lanes) at p, converted to dt (the last
 * partial vector element by element). */
void cg_cpu_store_row(Skel *k, LLVMValueRef buf, LLVMValueRef at, LLVMValueRef f, LLVMValueRef p, AirDtype dt);
/* The online softmax's algebra (cg_softmax.c) with the CPU's max (NaN propagating), exp2, fma, log2. */
CgSoftmax cg_cpu_softmax(Skel *k);
/* The scale hook (or 1/sqrt(Dk)) as a scalar, for env.idx[IX_H] as set now. */
LLVMValueRef cg_cpu_scale(Skel *k);
/* skel_rows.c: one key tile for each of the work item's rows in turn (lanes over keys and
 * Dk), for work items of at most CPU_ROWS_MAX rows (decode). */
enum { CPU_ROWS_MAX = 4 };
/* Most rows (query heads of a kv head x query rows) of a head-group work item. */
enum { CPU_GROUP_ROWS = 64 };
LLVMBasicBlockRef cg_cpu_tile_map_begin(Skel *k, LLVMValueRef has_map);
void cg_cpu_tile_enter(Skel *k, LLVMBasicBlockRef pre, LLVMValueRef cls8, LLVMValueRef iv,
                       LLVMBasicBlockRef *skip, LLVMValueRef *n0, LLVMValueRef *nvalid,
                       LLVMValueRef *need_mask);
bool cg_cpu_rows_tile(Skel *k, LLVMValueRef n0, LLVMValueRef nvalid, LLVMValueRef need_mask);

/* skel_group.c: the head-group entry `<plan->entry>_kvgroup` (kernel_abi.h). */
bool cg_cpu_group_build(Skel *k, const KernelPlan *plan);

/* One entry point of a skeleton, built into k's module (k fresh from cg_cpu_skel_init). The
 * kernel has passed plan()'s checks. Returns false after a diagnostic. */
typedef bool (*CpuEntryBuild)(Skel *k, const KernelPlan *plan);
enum { CPU_MAX_ENTRIES = 4 };

/* skel_fa.c: the FlashAttention-style skeleton: its register blocking for `lanes` f32 lanes
 * (the documented table) and its entries (`plan->entry`, then the head-group entry when
 * the plan has a ROLE_KVGROUP entry). */
CpuShape cg_cpu_fa_shape(int lanes);
/* Fills the skeleton's part of the plan (p->t.cpu set): tiles, entries, workspaces. */
bool cg_cpu_fa_plan(const AirKernel *k, KernelPlan *p, Diags *d);
int cg_cpu_fa_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES]);

/* The plan's main entry, void NAME(const AbiArgs *args, int64_t b, int64_t h, int64_t item)
 * (AbiCpuEntry), with k->args, k->bi, k->hi set and the builder in its entry block; returns
 * the work item's third coordinate (a query block, a state slab). */
LLVMValueRef cg_cpu_item_entry(Skel *k, const KernelPlan *plan);
/* The entry of a recurrence skeleton, void NAME(args, b, h, slab) with h o's head, and the hook
 * environment at (b, h) (the skeleton sets IX_T per step); *T is the sequence's length and
 * head[0..2] are the heads of q, k and v that o's head h reads, h / (Ho / Hx). Returns the slab
 * parameter; NULL when memory ran out. */
LLVMValueRef cg_cpu_recur_entry(Skel *k, const KernelPlan *plan, LLVMValueRef head[3], LLVMValueRef *T);
/* A recurrence's state between a stack buffer and a state tensor at (b, h = k->hi):
 * buf[r * ld + c] <-> t[b, h, r, c0 + c] for r < Dk, c < ncol (in: the tensor to the buffer). */
void cg_cpu_state_copy(Skel *k, int tensor, LLVMValueRef buf, int64_t ld, LLVMValueRef c0,
                       LLVMValueRef ncol, bool in);

/* skel_recur.c: the linear recurrences' skeleton (pass_recur_form's families): a scan over t
 * with the state in slabs of cg_cpu_recur_slab_vecs vectors of columns per work item. */
enum { RECUR_SLAB_MAX_VECS = 2 };
int cg_cpu_recur_slab_vecs(int dk, int dv, int lanes);
bool cg_cpu_recur_plan(const AirKernel *k, KernelPlan *p, const char *target, Diags *d);
int cg_cpu_recur_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES]);
/* skel_scan.c: any other recurrence, a sequential scan of the update as written; work items
 * (b, h) with the whole state (tile_m = Dv). */
bool cg_cpu_scan_plan(const AirKernel *k, KernelPlan *p, const char *target, Diags *d);
int cg_cpu_scan_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES]);

/* skel_select.c: attention behind a sparsity selector (block means, scores, gathered
 * attention; kernel_abi.h has the contract). */
bool cg_cpu_select_plan(const AirKernel *k, KernelPlan *p, const char *target, Diags *d);
int cg_cpu_select_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES]);

#endif
