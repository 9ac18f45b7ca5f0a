/* air_check: the runner of the AIR text tests. Each .air file is AIR text plus directives in
 * comments:
 *   // RUN: fold          run pass_fold (and verify after it) before printing
 *   // RUN: recur         also print the recurrence's family (pass_recur_form) after the IR
 *   // RUN: select        also print the selector's form (pass_select_form) after the IR
 *   // CHECK: text        the next output line containing `text` must come after the last match
 *   // CHECK-NOT: text    no output line contains `text`
 *   // ERROR: text        the diagnostics must contain `text` (in order); parse or verify fails
 * Every file that parses must also round trip: print -> parse -> print is the identity. */
#include "../common/test_file.h"
#include "air.h"
#include "pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Parses `text` as AIR; on success returns the kernel and its printed form in *printed. */
static AirKernel *parse_text(Arena *a, const char *name, const char *text, Diags *d, Source *src)
{
    src->name = name;
    src->text = text;
    src->len = strlen(text);
    diags_init(d, a, src);
    return air_parse(a, d);
}

static int directive(const char *line, const char *key, const char **rest)
{
    const char *p = strstr(line, key);
    if (!p) return 0;
    *rest = p + strlen(key);
    while (**rest == ' ') (*rest)++;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: air_check FILE.air\n");
        return 2;
    }
    size_t len;
    char *text = test_read_file(argv[1], &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    Arena a;
    arena_init(&a);
    Source src;
    Diags d;
    bool fold = strstr(text, "// RUN: fold") != NULL;
    AirKernel *k = parse_text(&a, argv[1], text, &d, &src);
    bool ok = k && air_verify(k, &d, NULL);
    if (ok && fold) ok = pass_fold(&a, k) && air_verify(k, &d, "pass_fold");
    char *out = ok ? air_print(&a, k) : "";
    char *diags = diags_render(&d, false);
    int failures = 0;

    /* round trip: the printed form parses back to itself */
    if (ok) {
        Source src2;
        Diags d2;
        AirKernel *k2 = parse_text(&a, "<printed>", out, &d2, &src2);
        char *again = k2 ? air_print(&a, k2) : NULL;
        if (!again || strcmp(again, out) != 0 || !air_verify(k2, &d2, NULL)) {
            fprintf(stderr, "round trip failed:\n%s\n--- reprinted ---\n%s\n%s", out,
                    again ? again : "(none)", diags_render(&d2, false));
            failures++;
        }
    }

    if (ok && strstr(text, "// RUN: recur")) {
        RecurForm f;
        ok = pass_recur_form(&a, k, &f);
        if (ok) out = arena_printf(&a, "%s%s\n", out, recur_form_str(&a, &f));
    }
    if (ok && strstr(text, "// RUN: select")) {
        SelectForm f;
        ok = pass_select_form(&a, k, &f);
        if (ok) out = arena_printf(&a, "%s%s\n", out, select_form_str(&a, &f));
    }
    const char *out_pos = out, *diag_pos = diags ? diags : "";
    bool expect_error = false;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        const char *rest;
        if (directive(line, "// CHECK-NOT:", &rest)) {
            if (strstr(out, rest)) {
                fprintf(stderr, "CHECK-NOT matched: %s\n", rest);
                failures++;
            }
        } else if (directive(line, "// CHECK:", &rest)) {
            const char *hit = strstr(out_pos, rest);
            if (!hit) {
                fprintf(stderr, "CHECK not found after the previous match: %s\n", rest);
                failures++;
            } else {
                out_pos = hit + strlen(rest);
            }
        } else if (directive(line, "// ERROR:", &rest)) {
            expect_error = true;
            const char *hit = strstr(diag_pos, rest);
            if (!hit) {
                fprintf(stderr, "ERROR not found in the diagnostics: %s\n", rest);
                failures++;
            } else {
                diag_pos = hit + strlen(rest);
            }
        }
    }
    if (expect_error == ok) {
        fprintf(stderr, expect_error ? "expected an error, the IR was accepted\n"
                                     : "unexpected error\n");
        failures++;
    }
    if (failures) fprintf(stderr, "--- output ---\n%s--- diagnostics ---\n%s", out, diags ? diags : "");
    arena_free(&a);
    free(text);
    return failures ? 1 : 0;
}
