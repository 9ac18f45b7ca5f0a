/* sema_util.c: what sema.c, sema_expr.c and sema_shapes.c share, below all three and calling
 * none of them: diagnostics that stay quiet inside a body already reported, the table of
 * declared names, "did you mean" and the text of a type. */
#include "frontend.h"

#include <stdio.h>
#include <string.h>

static char *vfmt(Arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *p = n >= 0 ? arena_alloc(a, (size_t)n + 1) : NULL;
    if (p) vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

void sema_error(Sema *s, Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = vfmt(s->a, fmt, ap);
    va_end(ap);
    if (s->quiet) {
        s->d->errors++;   /* still an error, already reported at its first use */
        return;
    }
    diag_error(s->d, loc, "%s", m ? m : fmt);
}

void sema_hint(Sema *s, const char *fmt, ...)
{
    if (s->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    char *m = vfmt(s->a, fmt, ap);
    va_end(ap);
    diag_hint(s->d, "%s", m ? m : fmt);
}

void sema_note(Sema *s, Loc loc, const char *fmt, ...)
{
    if (s->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    char *m = vfmt(s->a, fmt, ap);
    va_end(ap);
    diag_note(s->d, loc, "%s", m ? m : fmt);
}

bool sema_is_named(const Decl *d)
{
    return d->kind != DECL_SELECT && d->kind != DECL_ASSIGN && d->kind != DECL_SEL_OUT;
}

static uint32_t name_hash(const char *name)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

/* The table of names sema_lookup reads, so that a spec of many declarations is checked in
 * time linear in its length. The first declaration of a name wins, as in the list. */
void sema_index_names(Sema *s)
{
    uint32_t n = 0;
    for (Decl *d = s->at->decls; d; d = d->next) n++;
    uint32_t slots = 16;
    while (slots < 2 * n) slots *= 2;
    s->names = arena_alloc(s->a, sizeof *s->names * slots);
    if (!s->names) return;   /* out of memory: sema_lookup searches the list */
    s->nnames = slots;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (!sema_is_named(d) || !d->name) continue;
        uint32_t k = name_hash(d->name) & (slots - 1);
        while (s->names[k] && strcmp(s->names[k]->name, d->name)) k = (k + 1) & (slots - 1);
        if (!s->names[k]) s->names[k] = d;
    }
}

Decl *sema_lookup(const Sema *s, const char *name)
{
    if (!s->names) {
        for (Decl *d = s->at->decls; d; d = d->next)
            if (sema_is_named(d) && !strcmp(d->name, name)) return d;
        return NULL;
    }
    uint32_t k = name_hash(name) & (s->nnames - 1);
    while (s->names[k] && strcmp(s->names[k]->name, name)) k = (k + 1) & (s->nnames - 1);
    return s->names[k];
}

void sema_suggest(Sema *s, const char *name, const char *const *extra)
{
    static const char *const fixed[] = {"b", "h", "i", "j", "t", "B", "Hq", "Hkv", "Lq", "Lk",
                                        "Dk", "Dv"};
    size_t n = 0, cap = 0;
    const char **names = NULL;
    for (Decl *d = s->at->decls; d; d = d->next)
        if (sema_is_named(d)) ARR_PUSH(s->a, names, n, cap, d->name);
    for (int32_t k = 0; k < s->k->nsyms; k++) ARR_PUSH(s->a, names, n, cap, s->k->syms[k].name);
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) ARR_PUSH(s->a, names, n, cap, fixed[k]);
    for (; extra && *extra; extra++) ARR_PUSH(s->a, names, n, cap, *extra);
    const char *best = names ? closest_name(name, names, n) : NULL;
    if (best) sema_hint(s, "did you mean '%s'?", best);
}

const char *sema_type_text(Arena *a, AirType t)
{
    switch (t.kind) {
    case TY_VOID: return "void";
    case TY_BOOL: return "bool";
    case TY_I32: return "i32";
    case TY_F32: return "f32";
    case TY_VEC: return arena_printf(a, "f32[%d]", t.rows);
    case TY_MAT: return arena_printf(a, "f32[%d, %d]", t.rows, t.cols);
    }
    return "?";
}
