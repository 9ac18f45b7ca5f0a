/* pipeline.h: the whole compiler as one call. pipeline.c is a flat sequence:
 *   parse; sema; lower_air; verify; fold; verify; pass_mask_tiles (which uses pass_uses); plan; emit
 * used by the CLI (attnc) and by libattn's JIT alike. */
#ifndef ATTNC_PIPELINE_H
#define ATTNC_PIPELINE_H

#include "air.h"
#include "target.h"

typedef struct Define {
    const char *name;
    double value;
} Define;

typedef struct CompileRequest {
    const char *text;        /* spec source, NUL-terminated */
    size_t len;
    const char *name;        /* file name for diagnostics */
    const char *target;      /* target name; NULL = "native" */
    const Define *defines;   /* overrides of consts (-D) */
    int32_t ndefines;
    const char *kernel;      /* which `attention` of a multi-kernel file; NULL = the first */
    EmitKind emit;           /* what to generate (EMIT_OBJ for the CPU JIT, EMIT_ASM = PTX) */
    bool stop_after_air;     /* front end only: check, --emit=ast/air, --explain */
    const EmitSink *sink;    /* NULL, or where the target hands parts of its code early */
} CompileRequest;

struct MaskInfo;

typedef struct Compiled {
    Source src;
    AirKernel *air;              /* after all passes */
    struct MaskInfo *mask;       /* pass_mask_tiles' result (pass.h) */
    const Target *target;
    KernelPlan plan;
    Blob code;                   /* the emitted object / PTX / IR */
} Compiled;

/* Runs the pipeline. Memory comes from `a`, diagnostics go to `d` (whose source the caller
 * set to the request's text). Returns false when an error was reported. */
bool pipeline_compile(Arena *a, Diags *d, const CompileRequest *req, Compiled *out);

#endif
