/* ptx_cut: cuts a PTX module into one module per kernel the way the runtime hands them to the
 * driver (ptx_entry_module) and writes each as DIR/<entry>.ptx for ptxas; checks that every
 * kernel is found, that each piece holds exactly one `.entry` and the header less its comments,
 * that a kernel cut from a part of the module (as the compiler prints it) is the same text, and
 * that an unknown name or a prefix of a name is refused.
 *   ptx_cut MODULE.ptx DIR        prints the entry names, one a line; exit 1 on a failed check */
#include "ptx_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails;

/* The header's lines, less comments, into a static buffer. */
static const char *uncommented(const char *h, size_t n)
{
    static char out[1 << 16];
    size_t k = 0;
    for (const char *p = h, *end = h + n; p < end && k < sizeof out - 1;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl + 1 : end;
        size_t len = (size_t)(eol - p);
        if (strncmp(p + strspn(p, " \t"), "//", 2) && k + len < sizeof out) {
            memcpy(out + k, p, len);
            k += len;
        }
        p = eol;
    }
    out[k] = '\0';
    return out;
}

static void check(int ok, const char *what, const char *name)
{
    if (!ok) {
        fprintf(stderr, "FAIL %s: %s\n", name, what);
        fails++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ptx_cut MODULE.ptx DIR\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    static char text[1 << 22];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *first = ptx_next_entry(text);
    check(first != NULL, "no kernel in the module", argv[1]);
    int count = 0;
    for (const char *e = first; e; e = ptx_next_entry(e + 1)) {
        char name[256];
        if (sscanf(strstr(e, ".entry ") + 7, "%255[A-Za-z0-9_$]", name) != 1) continue;
        count++;
        char *m = ptx_entry_module(text, name);
        check(m != NULL, "not cut out", name);
        if (!m) continue;
        const char *only = ptx_next_entry(m);
        char got[256] = "";
        check(only && !ptx_next_entry(only + 1), "the piece holds more than one kernel", name);
        if (only) sscanf(strstr(only, ".entry ") + 7, "%255[A-Za-z0-9_$]", got);
        check(!strcmp(got, name), "the piece holds another kernel", name);
        const char *hdr = uncommented(text, (size_t)(first - text));
        check(!strncmp(m, hdr, strlen(hdr)) && m + strlen(hdr) == only,
              "the piece's header is not the module's less its comments", name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.ptx", argv[2], name);
        FILE *o = fopen(path, "wb");
        if (!o || fputs(m, o) < 0 || fclose(o)) { perror(path); return 2; }
        printf("%s\n", name);
        /* The runtime keys its module cache by this text, and the compiler hands the first
         * part of a module over before the rest is joined on (with a blank line): the kernel
         * cut from the text up to the next kernel, with or without that blank line, is the
         * same text. */
        const char *next = ptx_next_entry(e + 1);
        /* A part printed on its own, starting with this kernel: LLVM's header names it
         * (`// .globl NAME`) where the joined module's names its first kernel. */
        {
            size_t hl = strlen(hdr), bl = next ? (size_t)(next - e) : strlen(e);
            char *unit = malloc(hl + strlen(name) + bl + 16);
            if (unit) {
                int w = sprintf(unit, "\t// .globl\t%s\n", name);
                memcpy(unit + w, hdr, hl);
                memcpy(unit + w + hl, e, bl);
                unit[w + hl + bl] = '\0';
                char *um = ptx_entry_module(unit, name);
                check(um && !strcmp(um, m), "the kernel cut from a part of its own differs", name);
                free(um);
            }
            free(unit);
        }
        if (next) {
            size_t len = (size_t)(next - text);
            char *part = malloc(len + 1);
            for (int trim = 0; part && trim < 2; trim++) {
                memcpy(part, text, len);
                size_t l = len;
                if (trim) while (l > 0 && part[l - 1] == '\n') l--;
                part[l] = '\0';
                char *pm = ptx_entry_module(part, name);
                check(pm && !strcmp(pm, m), "the kernel cut from the first part differs", name);
                free(pm);
            }
            free(part);
        }
        /* A name one character short is no kernel here (every kernel's name is longer than
         * the names it extends): it must not match the kernel it is a prefix of. */
        name[strlen(name) - 1] = '\0';
        char pat[300];
        snprintf(pat, sizeof pat, ".entry %s(", name);
        char *p = ptx_entry_module(text, name);
        check(strstr(text, pat) != NULL || p == NULL, "a prefix of a kernel's name matched it", name);
        free(p);
        free(m);
    }
    check(count > 0, "no kernels", argv[1]);
    check(ptx_entry_module(text, "no_such_kernel") == NULL, "an unknown name was cut", argv[1]);
    return fails ? 1 : 0;
}
