/* ptx_text.c: finding kernel declarations in PTX text (ptx_text.h). */
#include "ptx_text.h"

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
