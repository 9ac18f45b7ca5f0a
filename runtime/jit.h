/* jit.h: loading a compiled CPU kernel (an ELF object in memory) into this process with LLVM's
 * ORC LLJIT, and finding its entry point. One RtJit per loaded kernel; rt_jit_dispose frees the
 * code and every LLVM object behind it, so a long-lived library can load and drop kernels at
 * will. Errors come back as a message in the caller's buffer, never by exiting. */
#ifndef ATTNC_RT_JIT_H
#define ATTNC_RT_JIT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct RtJit RtJit;

/* A JIT for the host. Returns NULL (message in err) on failure. */
RtJit *rt_jit_create(char *err, size_t errlen);
/* Links an object file (copied) into the JIT. Symbols it does not define resolve against the
 * process (memset, memcpy). */
bool rt_jit_add_object(RtJit *j, const void *obj, size_t size, char *err, size_t errlen);
/* The address of symbol `name`, or NULL (message in err). */
void *rt_jit_lookup(RtJit *j, const char *name, char *err, size_t errlen);
/* Frees the JIT and all code loaded into it. NULL is allowed. */
void rt_jit_dispose(RtJit *j);

#endif
