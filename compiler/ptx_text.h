/* ptx_text.h: the one fact about PTX text layout that the compiler and the runtime share. The
 * compiler joins separately generated modules into one text; the runtime cuts one kernel out
 * of it so that the driver JIT-compiles only the kernels that are used. */
#ifndef ATTNC_PTX_TEXT_H
#define ATTNC_PTX_TEXT_H

/* The start of the first line at or after p that declares a kernel (`.entry NAME(`, maybe
 * after `.visible` or `.weak`), or NULL. What comes before a module's first kernel is its
 * header (.version, .target, .address_size, shared declarations). */
const char *ptx_next_entry(const char *p);

#endif
