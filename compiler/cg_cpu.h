/* cg_cpu.h: the CPU skeleton's shape, shared by cg_cpu.c (targets, plan, emission) and
 * cg_cpu_kernel.c (the FlashAttention-style kernel body). */
#ifndef ATTNC_CG_CPU_H
#define ATTNC_CG_CPU_H

#include "cg_llvm.h"

/* Register blocking of the skeleton, chosen per vector width (see cpu_shape in cg_cpu.c).
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

/* Emits the kernel function `plan->entry` into cg's module. The kernel has passed plan()'s
 * checks. Returns false after a diagnostic. */
bool cg_cpu_build(CgLlvm *cg, const AirKernel *k, const KernelPlan *plan, const CpuShape *shape,
                  const char *target);

#endif
