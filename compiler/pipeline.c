/* pipeline.c: the whole compiler as a flat sequence of calls (pipeline.h):
 *   parse; sema; lower_air; verify; fold; verify; mask tiles; plan; emit
 * Each stage stops the sequence when it reports an error. Stages merged later (the verifier
 * and passes of pass.h, the targets of cg_llvm.h) are compiled in when their headers exist. */
#include "pipeline.h"

#include "frontend.h"

#include <string.h>

#if __has_include("pass.h")
#include "pass.h"
#define HAVE_PASSES 1
#endif
#if __has_include("cg_llvm.h")
#define HAVE_TARGETS 1
#endif

/* The target, or an error naming the known ones. */
static const Target *find_target(Diags *d, const char *name)
{
#ifdef HAVE_TARGETS
    const Target *t = target_find(name);
    if (t) return t;
    char *known = "";
    for (int k = 0; target_names[k]; k++)
        known = arena_printf(d->arena, "%s%s%s", known, k ? ", " : "", target_names[k]);
    diag_error_noloc(d, "unknown target '%s' (known: %s)", name ? name : "native", known);
#else
    diag_error_noloc(d, "no code generation target is built into this attnc (asked for '%s')",
                     name ? name : "native");
#endif
    return NULL;
}

bool pipeline_compile(Arena *a, Diags *d, const CompileRequest *req, Compiled *out)
{
    memset(out, 0, sizeof *out);
    out->src = (Source){req->name ? req->name : "<string>", req->text, req->len};
    AstFile *ast = parse_source(a, d, d->src ? d->src : &out->src);
    if (!ast || d->errors) return false;
    SemaResult sr;
    if (!sema_check(a, d, ast, req->kernel, req->defines, req->ndefines, &sr)) return false;
    if (!lower_air(a, d, &sr)) return false;
    out->air = sr.kernel;
#ifdef HAVE_PASSES
    if (!air_verify(out->air, d, "lower_air")) return false;
    if (!pass_fold(a, out->air) || !air_verify(out->air, d, "pass_fold")) return false;
#endif
    if (req->stop_after_air) return true;
    out->target = find_target(d, req->target);
    if (!out->target) return false;
    if (!out->target->plan(out->target, out->air, &out->plan, d)) return false;
    return out->target->emit(out->target, out->air, &out->plan, req->emit, a, &out->code, d);
}
