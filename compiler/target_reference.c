/* target_reference.c: the "reference" target. It accepts every valid spec and generates no
 * code; a kernel compiled for it runs the f64 evaluator (air_eval.c) on host tensors when
 * launched. It is how recurrences and selectors, which no code generator handles yet, are
 * run and checked through the C API, and a plain oracle for any spec. */
#include "target.h"

#include <string.h>

bool reference_plan(const Target *t, const AirKernel *k, KernelPlan *p, Diags *d)
{
    (void)t, (void)k, (void)d;
    memset(p, 0, sizeof *p);
    p->arch = ARCH_REFERENCE;   /* no skeleton, no entries: launches evaluate the reference */
    return true;
}

bool reference_emit(const Target *t, const AirKernel *k, const KernelPlan *p, EmitKind kind,
                     const EmitSink *sink, Arena *a, Blob *out, Diags *d)
{
    (void)t, (void)k, (void)p, (void)kind, (void)sink, (void)d;
    out->data = arena_alloc(a, 1);
    out->size = 0;
    return out->data != NULL;
}
