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

typedef enum { ARCH_CPU, ARCH_PTX, ARCH_REFERENCE } TargetArch;

/* The skeleton a target chose for a kernel's form. The runtime's launch recipe follows it. */
/* NONE: no code (the reference target); FA: softmax attention; RECUR: a linear recurrence
 * (pass_recur_form's families); SCAN: any other recurrence, as a sequential scan; SELECT:
 * attention behind a sparsity selector (block means, scores and top-k, gathered attention). */
typedef enum { SKEL_NONE, SKEL_FA, SKEL_RECUR, SKEL_SCAN, SKEL_SELECT } SkelKind;

/* What an entry point is for; the runtime finds a plan's entries by role (contracts in
 * kernel_abi.h). */
typedef enum {
    ROLE_ATTENTION,        /* one (b, query head, query tile): CPU AbiCpuEntry; GPU grid
                              (ceil(Lq / tile_m), Hq, B) */
    ROLE_KVGROUP,          /* CPU head-group entry (AbiCpuGroupEntry), for decode */
    ROLE_MAP,              /* GPU tile-map kernel of a mask that reads side tensors */
    ROLE_DECODE,           /* GPU split-KV decode entry */
    ROLE_DECODE_COMBINE,   /* GPU: merges the decode entry's splits */
    ROLE_RECUR,            /* CPU recurrence: one (b, o's head, slab of tile_m state
                              columns), AbiCpuEntry with q_block = the slab (SCAN: one slab) */
    ROLE_SEL_MEANS,        /* CPU selector: the block means of K (AbiCpuEntry, one key block) */
    ROLE_SEL_SCORE,        /* CPU selector: a query row's candidates and scores
                              (AbiCpuSelScore); rows = the SelShare of its selections */
    ROLE_SEL_ATTEND,       /* CPU selector: one query row over its selected keys (AbiCpuEntry) */
} EntryRole;

typedef struct PlanEntry {
    const char *name;      /* symbol */
    int32_t role;          /* EntryRole */
    int32_t threads;       /* GPU: threads per block (CPU: 1) */
    int32_t smem_bytes;    /* GPU: dynamic shared memory */
    /* KVGROUP and DECODE serve launches whose group has at most `rows` rows ((Hq / Hkv) * Lq)
     * and (KVGROUP) at most `max_lq` query rows; 0 otherwise. */
    int32_t rows, max_lq;
} PlanEntry;

/* A buffer the runtime allocates for a launch of an entry, sized by its rule. */
typedef enum {
    WORK_SPLIT_PARTS,      /* split-KV partial states: f32 (O[Dv], m, l) per (b, kv head, group
                              row, split), B * Hkv * rows * splits * (Dv + 2) floats */
    WORK_SEL_MEANS,        /* a block selector's block means of K: f32 [B][Hkv][nblk][Dk] */
    WORK_SEL_IDS,          /* the selected candidates: i32 [B][Hsel][Lq][top], ascending, -1
                              padded (Hsel by the score entry's SelShare: Hq, Hkv or 1) */
} WorkRule;

typedef struct PlanWork {
    int32_t rule;          /* WorkRule */
    int32_t role;          /* the entry (EntryRole) that writes it */
} PlanWork;

enum { PLAN_MAX_ENTRIES = 8, PLAN_MAX_WORK = 4 };

/* The fields of a plan that only one kind of target has. */
typedef struct PlanCpu {
    const char *name;       /* LLVM cpu name */
    const char *features;   /* LLVM feature string */
    int32_t vector_width;   /* f32 lanes */
} PlanCpu;

typedef struct PlanGpu {
    int32_t sm;             /* the compute capability the PTX is for */
} PlanGpu;

/* What plan() decided from the kernel and the skeleton's table: the skeleton, its tile shape,
 * its entry points and workspaces, and the target's own fields. The runtime reads it to load
 * and launch; plan_io.c writes and reads it (the disk cache, AOT headers). */
typedef struct KernelPlan {
    int32_t arch;            /* TargetArch, which member of `t` is set */
    int32_t skeleton;        /* SkelKind */
    int32_t tile_m, tile_n;  /* query rows per work item / block, keys per tile (RECUR: state
                                columns per work item, 0) */
    int32_t skip_tile_map;   /* the kernel bounds and masks its tiles itself (no mask, or
                                j <= i on the GPU): the runtime passes AbiArgs.tiles = NULL and
                                builds no map; 0 keeps the map (the safe default) */
    int32_t nentries;        /* entries[0] is the main entry (ROLE_ATTENTION, ROLE_RECUR) */
    PlanEntry entries[PLAN_MAX_ENTRIES];
    int32_t nwork;
    PlanWork work[PLAN_MAX_WORK];
    union {
        PlanCpu cpu;
        PlanGpu gpu;
    } t;
} KernelPlan;

/* The fields of a plan, for its serialisation (plan_io.c): I32(field) and STR(field). */
#define PLAN_FIELDS(I32, STR) I32(arch) I32(skeleton) I32(tile_m) I32(tile_n) I32(skip_tile_map) \
    I32(nentries) I32(nwork)
#define PLAN_ENTRY_FIELDS(I32, STR) STR(name) I32(role) I32(threads) I32(smem_bytes) I32(rows) \
    I32(max_lq)
#define PLAN_WORK_FIELDS(I32, STR) I32(rule) I32(role)
#define PLAN_CPU_FIELDS(I32, STR) STR(name) STR(features) I32(vector_width)
#define PLAN_GPU_FIELDS(I32, STR) I32(sm)

/* The plan's entry of that role, or NULL. */
const PlanEntry *plan_entry(const KernelPlan *p, EntryRole role);
/* Adds an entry (name copied by the caller's arena); false when the plan is full. */
bool plan_add_entry(KernelPlan *p, PlanEntry e);
/* Serialises a plan as bytes in `a` (*len) / reads one back (strings into `a`); unpack returns
 * the bytes read, 0 on any inconsistency. */
unsigned char *plan_pack(Arena *a, const KernelPlan *p, size_t *len);
size_t plan_unpack(Arena *a, const unsigned char *p, size_t len, KernelPlan *out);

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

typedef struct Target {
    const char *name;        /* "x86-64-v4", "x86-64-v3", "native", "sm_80", "sm_90a",
                                "reference" */
    /* ARCH_PTX: a GPU target. ARCH_REFERENCE generates no code: a launch evaluates the f64
     * reference on the host (target_reference.c, for specs that no code generator handles
     * yet, such as recurrences and selectors). */
    TargetArch arch;
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
