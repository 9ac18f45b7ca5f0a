/* test_file.h: the one file reader of the C tests (header only; the tests link no shared
 * test library). */
#ifndef ATTNC_TEST_FILE_H
#define ATTNC_TEST_FILE_H

#include <stdio.h>
#include <stdlib.h>

/* The whole file, NUL-terminated, from malloc (free it); NULL when it cannot be read.
 * *len (may be NULL) gets the size without the NUL. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
        s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (!s) return NULL;
    s[n] = 0;
    if (len) *len = (size_t)n;
    return s;
}

#endif
