/* pipeline.c: the whole compiler as a flat sequence of calls (pipeline.h):
 *   parse; sema; lower_air; verify; fold; verify; mask tiles; plan; emit
 * Each stage stops the sequence when it reports an error; the verifier runs after every stage
 * that rewrites AIR. stop_after_air ends it before the target (check, --emit=ast/air,
 * --explain). */
#include "pipeline.h"

#include "frontend.h"
#include "pass.h"
#include "phase_time.h"

#include <string.h>

/* The target, or an error naming the known ones. */
static const Target *find_target(Diags *d, const char *name)
{
    const Target *t = target_find(name);
    if (t) return t;
    char *known = "";
    for (int k = 0; target_at(k); k++)
        known = arena_printf(d->arena, "%s%s%s", known, k ? ", " : "", target_at(k)->name);
    diag_error_noloc(d, "unknown target '%s' (known: %s)", name ? name : "native",
                     known ? known : "");
    return NULL;
}

bool pipeline_compile(Arena *a, Diags *d, const CompileRequest *req, Compiled *out)
{
    memset(out, 0, sizeof *out);
    phase_time_start();
    double t = phase_time_now();
    out->src = (Source){req->name ? req->name : "<string>", req->text, req->len};
    AstFile *ast = parse_source(a, d, d->src ? d->src : &out->src);
    if (!ast || d->errors) return false;
    SemaResult sr;
    if (!sema_check(a, d, ast, req->kernel, req->defines, req->ndefines, &sr)) return false;
    if (!lower_air(a, d, &sr)) return false;
    out->air = sr.kernel;
    if (!air_verify(out->air, d, "lower_air")) return false;
    if (!pass_fold(a, out->air) || !air_verify(out->air, d, "pass_fold")) return false;
    out->mask = pass_mask_tiles(a, out->air, d);
    if (!out->mask) return false;
    phase_time_end(t, "front end (parse to mask tiles)");
    if (req->stop_after_air) return true;
    out->target = find_target(d, req->target);
    if (!out->target) return false;
    t = phase_time_now();
    if (!out->target->plan(out->target, out->air, &out->plan, d)) return false;
    bool ok = out->target->emit(out->target, out->air, &out->plan, req->emit, req->sink, a,
                                &out->code, d);
    phase_time_end(t, "plan and code generation, %s", out->target->name);
    return ok;
}
