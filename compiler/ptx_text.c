/* ptx_text.c: finding kernel declarations in PTX text (ptx_text.h). */
#include "ptx_text.h"

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

const char *ptx_find_entry(const char *ptx, const char *entry)
{
    size_t n = strlen(entry);
    for (const char *e = ptx_next_entry(ptx); e; e = ptx_next_entry(e + 1)) {
        const char *name = strstr(e, ".entry ") + 7;
        if (!strncmp(name, entry, n) && (name[n] == '(' || name[n] == ' ' || name[n] == '\n')) return e;
    }
    return NULL;
}

char *ptx_entry_module(const char *ptx, const char *entry)
{
    const char *first = ptx_next_entry(ptx), *e = ptx_find_entry(ptx, entry);
    if (!first || !e || strstr(ptx, ".func ")) return NULL;
    const char *end = ptx_next_entry(e + 1);
    size_t head = (size_t)(first - ptx), body = end ? (size_t)(end - e) : strlen(e);
    /* Ends with one newline whatever followed the kernel: the text is the runtime's module
     * cache key, and the same kernel must give the same text in the compiler's first part
     * and in the joined module (which has a blank line before the next part). */
    while (body > 0 && (e[body - 1] == '\n' || e[body - 1] == ' ' || e[body - 1] == '\t')) body--;
    char *m = malloc(head + body + 2);
    if (!m) return NULL;
    memcpy(m, ptx, head);
    memcpy(m + head, e, body);
    m[head + body] = '\n';
    m[head + body + 1] = '\0';
    return m;
}
