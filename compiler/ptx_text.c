/* ptx_text.c: finding kernel declarations in PTX text (ptx_text.h). */
#include "ptx_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ptx_next_entry(const char *p)
{
    for (const char *q = p; (q = strstr(q, ".entry ")); q++) {
        const char *line = q;
        while (line > p && line[-1] != '\n') line--;
        if (line == q || !strncmp(line, ".visible .entry ", 16) || !strncmp(line, ".weak .entry ", 13))
            return line;
    }
    return NULL;
}

void ptx_map_entry(const char *entry, char *buf, size_t n)
{
    snprintf(buf, n, "%s_map", entry);
}

const char *ptx_find_entry(const char *ptx, const char *entry)
{
    size_t n = strlen(entry);
    for (const char *e = ptx_next_entry(ptx); e; e = ptx_next_entry(e + 1)) {
        const char *name = strstr(e, ".entry ") + 7;
        if (!strncmp(name, entry, n) && (name[n] == '(' || name[n] == ' ' || name[n] == '\n')) return e;
    }
    return NULL;
}

/* Copies the n bytes of header h to dst without its comment lines; returns the length. */
static size_t copy_header(char *dst, const char *h, size_t n)
{
    size_t k = 0;
    for (const char *p = h, *end = h + n; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl + 1 : end, *q = p;
        while (q < eol && (*q == ' ' || *q == '\t')) q++;
        if (!(eol - q >= 2 && q[0] == '/' && q[1] == '/')) {
            memcpy(dst + k, p, (size_t)(eol - p));
            k += (size_t)(eol - p);
        }
        p = eol;
    }
    return k;
}

char *ptx_entry_module(const char *ptx, const char *entry)
{
    const char *first = ptx_next_entry(ptx), *e = ptx_find_entry(ptx, entry);
    if (!first || !e || strstr(ptx, ".func ")) return NULL;
    const char *end = ptx_next_entry(e + 1);
    size_t head = (size_t)(first - ptx), body = end ? (size_t)(end - e) : strlen(e);
    /* The text is the runtime's module cache key, and a kernel must give the same text cut
     * from the part the compiler printed it in and from the joined module. So the header
     * loses its comments (LLVM names a module's first kernel in one, `// .globl NAME`), and
     * the kernel ends in one newline whatever followed it (a blank line, before the next
     * part, in the joined module). */
    while (body > 0 && (e[body - 1] == '\n' || e[body - 1] == ' ' || e[body - 1] == '\t')) body--;
    char *m = malloc(head + body + 2);
    if (!m) return NULL;
    size_t k = copy_header(m, ptx, head);
    memcpy(m + k, e, body);
    m[k + body] = '\n';
    m[k + body + 1] = '\0';
    return m;
}
