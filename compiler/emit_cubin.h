/* emit_cubin.h: the cubin of a GPU kernel (`attnc --emit=cubin`), assembled by ptxas. */
#ifndef ATTNC_EMIT_CUBIN_H
#define ATTNC_EMIT_CUBIN_H

#include "pipeline.h"

/* Assembles c->code (PTX for a GPU target) with the CUDA toolkit's ptxas for that target's
 * architecture into *out (in `a`). Reports a CPU target, a missing ptxas, or a failing one
 * (with its messages) to `d` and returns false. */
bool emit_cubin(Arena *a, const Compiled *c, Blob *out, Diags *d);

#endif
