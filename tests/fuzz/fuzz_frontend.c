/* fuzz_frontend.c: a libFuzzer target over the whole front end (lexer, parser, sema, lowering
 * to AIR, the AIR passes), through pipeline_compile with stop_after_air.
 *
 * The invariant: any input ends in a clean result or in diagnostics, never a crash, a leak or
 * a sanitizer report. Concretely, for each input:
 *   - pipeline_compile returns true exactly when no error was reported;
 *   - a failure renders to a non-empty clang-style message;
 *   - a success yields AIR that verifies, prints, parses back and prints the same text;
 *   - the same input compiled with the arena capped at half of what it needed fails cleanly
 *     (an error or the arena's oom flag), which exercises every allocation-failure path.
 * A broken invariant aborts through ATTN_BUG, which libFuzzer records as a crash. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

enum { FUZZ_MAX_INPUT = 1 << 16 };

/* Compiles `text` in a fresh arena capped at `limit` bytes (0 = no cap) and checks the
 * invariants. Returns the bytes the compilation allocated. */
static size_t fuzz_one(const char *text, size_t len, size_t limit)
{
    Arena a;
    arena_init(&a);
    a.limit = limit;
    Source src = {.name = "fuzz.attn", .text = text, .len = len};
    Diags d;
    diags_init(&d, &a, &src);
    CompileRequest req = {.text = text, .len = len, .name = src.name, .stop_after_air = true};
    Compiled out;
    memset(&out, 0, sizeof out);

    bool ok = pipeline_compile(&a, &d, &req, &out);
    if (limit == 0) {
        if (ok != (d.errors == 0))
            ATTN_BUG("pipeline_compile returned %d with %d errors", ok, d.errors);
        if (!ok) {
            const char *msg = diags_render(&d, false);
            if (!msg || !*msg)
                ATTN_BUG("a failed compile rendered no diagnostic");
        } else {
            if (!out.air)
                ATTN_BUG("a successful compile produced no AIR");
            if (!air_verify(out.air, &d, "fuzz"))
                ATTN_BUG("AIR does not verify: %s", diags_render(&d, false));
            const char *printed = air_print(&a, out.air);
            if (!printed)
                ATTN_BUG("air_print failed");
            Source asrc = {.name = "fuzz.air", .text = printed, .len = strlen(printed)};
            Diags ad;
            diags_init(&ad, &a, &asrc);
            AirKernel *back = air_parse(&a, &ad);
            if (!back)
                ATTN_BUG("printed AIR does not parse back:\n%s\n%s", printed,
                         diags_render(&ad, false));
            const char *again = air_print(&a, back);
            if (!again || strcmp(printed, again) != 0)
                ATTN_BUG("AIR text does not round-trip:\n%s\n---\n%s", printed, again);
        }
    } else if (ok && a.oom) {
        ATTN_BUG("pipeline_compile succeeded although an allocation failed");
    } else if (!ok && d.errors == 0 && !a.oom) {
        ATTN_BUG("pipeline_compile failed with no error and no allocation failure");
    }
    size_t used = a.total;
    arena_free(&a);
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return -1; /* keep inputs the size of specs; -1 keeps them out of the corpus */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t used = fuzz_one(text, size, 0);
    if (used > 1)
        fuzz_one(text, size, used / 2);
    free(text);
    return 0;
}
