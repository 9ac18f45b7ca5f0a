/* ptx_text.h: the one fact about PTX text layout that the compiler and the runtime share. The
 * compiler joins separately generated modules into one text; the runtime cuts one kernel out
 * of it so that the driver JIT-compiles only the kernels that are used. */
#ifndef ATTNC_PTX_TEXT_H
#define ATTNC_PTX_TEXT_H

#include <stddef.h>

/* The start of the first line at or after p that declares a kernel (`.entry NAME(`, maybe
 * after `.visible` or `.weak`), or NULL. What comes before a module's first kernel is its
 * header (.version, .target, .address_size, shared declarations). */
const char *ptx_next_entry(const char *p);

/* The name of the map kernel beside attention entry `entry` (`<entry>_map`), into buf. */
void ptx_map_entry(const char *entry, char *buf, size_t n);

/* The line that declares kernel `entry` in `ptx` (the whole name matches), or NULL. */
const char *ptx_find_entry(const char *ptx, const char *entry);

/* PTX text of a module with the header of `ptx`, less its comment lines, and the kernel
 * `entry` alone, ending in one newline: the text depends on the kernel and the header's
 * declarations, not on which kernel came first or what followed. malloc'd; NULL
 * when the text cannot be cut that way (no such entry; device functions, which entries may
 * share; out of memory): then the whole text is to be loaded. */
char *ptx_entry_module(const char *ptx, const char *entry);

#endif
