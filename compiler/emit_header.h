/* emit_header.h: the C header of an ahead-of-time kernel (`attnc --emit=header`). */
#ifndef ATTNC_EMIT_HEADER_H
#define ATTNC_EMIT_HEADER_H

#include "pipeline.h"

/* The header for a compiled kernel, as text in `a`: a launch function
 *   AttnStatus attn_<name>_launch(const AttnTensor *, int32_t, const double *, int32_t,
 *                                 const AttnLaunchOptions *)
 * and, under #ifdef ATTN_<NAME>_IMPLEMENTATION (define it in exactly one .c file of the
 * program), the descriptor libattn launches from: the AIR text, the plan, the entry symbol
 * (CPU: defined by the object of `--emit=obj`) or the PTX (GPU: c->code must be PTX).
 * `cubin` (GPU targets, NULL when none): ptxas' assembly of that PTX, defined as
 * attn_<name>_cubin[] / attn_<name>_cubin_size for programs that load modules themselves.
 * `spec_name` is the spec's file name, for the opening comment. NULL when memory ran out. */
char *emit_header(Arena *a, const Compiled *c, const Blob *cubin, const char *spec_name);

#endif
