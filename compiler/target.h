/* target.h: code generation targets as a struct of function pointers. The pipeline calls
 * plan() then emit() and never asks which target it has. The CPU (compiler/cpu/) and
 * GPU (compiler/ptx/) code generators implement it; shared LLVM-C helpers live in cg_llvm.c. */
#ifndef ATTNC_TARGET_H
#define ATTNC_TARGET_H

#include "air.h"
#include "kernel_abi.h"

typedef enum { EMIT_LLVM, EMIT_ASM, EMIT_OBJ } EmitKind;

/* Bytes in the compilation's arena (an object file, PTX text, LLVM IR text). */
typedef struct Blob {
    unsigned char *data;
    size_t size;
} Blob;

/* What the skeleton was set up as, decided by plan() from the kernel and a documented table.
 * The runtime reads it to launch: work items, threads, shared memory, tile map shape. */
typedef struct KernelPlan {
    const char *entry;       /* symbol name of the entry point */
    int32_t tile_m, tile_n;  /* query rows per work item / block, keys per tile */
    int32_t threads;         /* GPU: threads per block */
    int32_t smem_bytes;      /* GPU: dynamic shared memory */
    const char *cpu_features;/* CPU: LLVM feature string */
    const char *cpu_name;    /* CPU: LLVM cpu name */
    int32_t vector_width;    /* CPU: f32 lanes */
    /* CPU: > 0 when the object also has the head-group entry `<entry>_kvgroup` (see
     * kernel_abi.h): its work item covers all query heads of one kv head, up to group_rows
     * rows ((Hq / Hkv) * Lq) for Lq <= group_lq. 0: only the per-head entry (AOT headers). */
    int32_t group_rows, group_lq;
    /* GPU: decode_rows > 0 when the module also has the split-KV decode entries
     * `<entry>_decode` (decode_threads threads, decode_smem bytes of dynamic shared memory)
     * and `<entry>_decode_combine` (kernel_abi.h), used for Lq * (Hq / Hkv) <= decode_rows. */
    int32_t decode_threads, decode_smem, decode_rows;
    bool skip_tile_map;      /* the kernel bounds and masks its tiles itself (no mask, or
                                j <= i on the GPU): the runtime passes AbiArgs.tiles = NULL and
                                builds no map; false keeps the map (the safe default) */
} KernelPlan;

/* Optional, for a caller that loads the code it asked for: a target that prints its code in
 * parts on several threads calls `part` once with each part that the kernel's load needs, as
 * soon as it is printed and before emit returns (the GPU targets: the attention kernel's text,
 * then, from another thread and possibly at the same time, its map kernel's, while the decode
 * entries, loaded on first use, are still being generated). `text` is NUL-terminated and lives
 * until emit returns; `part` may run on any thread, on several at once. */
typedef struct EmitSink {
    void (*part)(void *ctx, const KernelPlan *plan, const char *text);
    void *ctx;
} EmitSink;

/* A target is data (what it generates for) plus the functions of its code generator. The table
 * in targets.c is the one place that names and describes each target. */
typedef enum { ARCH_CPU, ARCH_PTX, ARCH_REFERENCE } TargetArch;

typedef struct Target {
    const char *name;        /* "x86-64-v4", "x86-64-v3", "native", "sm_80", "sm_90a",
                                "reference" */
    TargetArch arch;
    bool is_gpu;
    /* Generates no code: a launch evaluates the f64 reference on the host (target_reference,
     * for specs that no code generator handles yet, such as recurrences and selectors). */
    bool evaluates_reference;
    int32_t sm;              /* ARCH_PTX: compute capability, 80 or 90 (sm_90a) */
    const char *cpu;         /* ARCH_CPU: LLVM cpu name; NULL: the host's, probed at plan time */
    int32_t lanes;           /* ARCH_CPU: f32 lanes of a vector (16 AVX-512, 8 AVX2); 0: probed */
    /* Checks the kernel can run on this target (errors: "not supported on this target yet"
     * with a location) and fills the plan. */
    bool (*plan)(const struct Target *t, const AirKernel *k, KernelPlan *plan, Diags *d);
    /* Generates the kernel as LLVM IR text, assembly (PTX for GPUs) or an object file.
     * sink: NULL, or where to hand parts of the code early (above). */
    bool (*emit)(const struct Target *t, const AirKernel *k, const KernelPlan *plan,
                 EmitKind kind, const EmitSink *sink, Arena *a, Blob *out, Diags *d);
    /* Optional, for --explain: what this target's kernel does with the spec, as lines of text
     * (each starting with two spaces) in the arena; src is the spec's text, for quoting
     * sub-expressions. NULL when memory ran out. */
    char *(*explain)(const struct Target *t, const AirKernel *k, const KernelPlan *plan,
                     const Source *src, Arena *a);
} Target;

/* The target of that name (NULL: "native"), or NULL (the caller reports the known names). */
const Target *target_find(const char *name);
/* The i-th target of the table, or NULL past its end: for listing the known names. */
const Target *target_at(int i);

/* The code generators' entry points, which the table in targets.c binds to targets. */
bool cg_cpu_plan(const Target *t, const AirKernel *k, KernelPlan *p, Diags *d);
bool cg_cpu_emit(const Target *t, const AirKernel *k, const KernelPlan *plan, EmitKind kind,
                 const EmitSink *sink, Arena *a, Blob *out, Diags *d);
char *cg_cpu_explain(const Target *t, const AirKernel *k, const KernelPlan *plan,
                     const Source *src, Arena *a);
bool cg_ptx_plan(const Target *t, const AirKernel *k, KernelPlan *p, Diags *d);
bool cg_ptx_emit(const Target *t, const AirKernel *k, const KernelPlan *plan, EmitKind kind,
                 const EmitSink *sink, Arena *a, Blob *out, Diags *d);
char *cg_ptx_explain(const Target *t, const AirKernel *k, const KernelPlan *plan,
                     const Source *src, Arena *a);
bool reference_plan(const Target *t, const AirKernel *k, KernelPlan *p, Diags *d);
bool reference_emit(const Target *t, const AirKernel *k, const KernelPlan *plan, EmitKind kind,
                    const EmitSink *sink, Arena *a, Blob *out, Diags *d);

#endif
