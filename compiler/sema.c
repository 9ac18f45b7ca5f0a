/* sema.c: the checks of one attention: declarations and their names (duplicates, reserved
 * names, required tensors), the hooks and what each may use, selectors (docs/language.md
 * section 9) and recurrences (section 10). Expressions are typed in sema_expr.c, tensors and
 * compile-time values in sema_shapes.c, and what all three share (diagnostics, the name table)
 * is in sema_util.c. The result is a kernel skeleton for lower_air. */
#include "frontend.h"

#include "pipeline.h"

#include <math.h>
#include <string.h>

/* Names with a fixed meaning cannot be declared. */
static bool check_reserved(Sema *s, Decl *d)
{
    static const char *const reserved[] = {"b", "h", "i", "j", "t", "score", "qk", "block", "inf",
                                           "sum"};
    for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++) {
        if (strcmp(d->name, reserved[k])) continue;
        sema_error(s, d->name_loc, "'%s' is predefined and cannot be declared", d->name);
        return false;
    }
    for (int k = 0; k < sema_nbuiltins; k++) {
        if (strcmp(d->name, sema_builtins[k].name)) continue;
        sema_error(s, d->name_loc, "'%s' is a builtin function and cannot be declared", d->name);
        return false;
    }
    return true;
}

static bool has_state(const Sema *s)
{
    for (const Decl *d = s->at->decls; d; d = d->next)
        if (d->kind == DECL_STATE) return true;
    return false;
}

/* Whether some `name = select;` writes the selected indices to `name`. */
static bool is_sel_target(const Sema *s, const char *name)
{
    for (const Decl *d = s->at->decls; d; d = d->next)
        if (d->kind == DECL_SEL_OUT && !strcmp(d->name, name)) return true;
    return false;
}

/* The first selector. */
static const Decl *first_select(const Sema *s)
{
    for (const Decl *d = s->at->decls; d; d = d->next)
        if (d->kind == DECL_SELECT) return d;
    return NULL;
}

/* `select ... from idx;`: idx when it is an `in` tensor other than q, k, v and an initial
 * state (check_select reports the other cases). */
static Decl *given_tensor(const Sema *s)
{
    const Decl *sel = first_select(s);
    Decl *t = sel && sel->sel_from ? sema_lookup(s, sel->sel_from) : NULL;
    if (!t || t->kind != DECL_IN || t == s->tq || t == s->tk || t == s->tv || t == s->tsin) return NULL;
    return t;
}

/* `state S: f32[Dk, Dv] = s0;`: s0 must be an `in` tensor other than q, k, v. */
static bool check_state_init(Sema *s)
{
    Expr *e = s->state ? s->state->expr : NULL;
    if (!e) return true;
    Decl *t = e->kind == EX_NAME ? sema_lookup(s, e->name) : NULL;
    if (!t || t->kind != DECL_IN || t == s->tq || t == s->tk || t == s->tv) {
        sema_error(s, e->loc, "a state's initial value is the name of an 'in' tensor f32[B, Hq, Dk, Dv]");
        sema_hint(s, "declare 'in s0: f32[B, H, %s, %s];' and write 'state %s: ... = s0;'", "Dk", "Dv",
                  s->state->name);
        return false;
    }
    s->tsin = t;
    return true;
}

/* Duplicates, reserved names, and the operator's tensors by name. */
static bool check_decls(Sema *s)
{
    bool ok = true;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (!sema_is_named(d)) continue;
        Decl *prev = sema_lookup(s, d->name);
        if (prev != d) {
            sema_error(s, d->name_loc, "redefinition of '%s'", d->name);
            sema_note(s, prev->name_loc, "previous definition is here");
            ok = false;
            continue;
        }
        ok &= check_reserved(s, d);
        bool is_out = d->kind == DECL_OUT;
        if (d->kind == DECL_IN || is_out) {
            bool out_name = !strcmp(d->name, "o") || !strcmp(d->name, "lse");
            if (is_out && !out_name && is_sel_target(s, d->name)) {
                if (!s->tselout) s->tselout = d;   /* a second `name = select;` is reported later */
                continue;
            }
            if (is_out && !out_name && has_state(s) && !s->tsout) {
                s->tsout = d;   /* a recurrence's final state, assigned `name = S;` */
                continue;
            }
            if (out_name != is_out) {
                sema_error(s, d->loc, is_out ? "unknown output '%s'" : "'%s' is an output",
                           d->name);
                sema_hint(s, is_out ? "the outputs are 'o', 'lse', a recurrence's final state and a selector's indices; "
                                      "other tensors are 'in'" :
                                      "declare it with 'out'");
                ok = false;
                continue;
            }
        }
        if (d->kind == DECL_IN && !strcmp(d->name, "q")) s->tq = d;
        if (d->kind == DECL_IN && !strcmp(d->name, "k")) s->tk = d;
        if (d->kind == DECL_IN && !strcmp(d->name, "v")) s->tv = d;
        if (is_out && !strcmp(d->name, "o")) s->to = d;
        if (is_out && !strcmp(d->name, "lse")) s->tlse = d;
        if (d->kind == DECL_STATE) {
            if (s->state) {
                sema_error(s, d->name_loc, "a spec has at most one state");
                sema_note(s, s->state->name_loc, "the first state is here");
                ok = false;
            } else {
                s->state = d;
            }
        }
    }
    struct { Decl *t; const char *decl; } req[] = {
        {s->tq, "in q: bf16[B, Hq, Lq, 128];"}, {s->tk, "in k: bf16[B, Hkv, Lk, 128];"},
        {s->tv, "in v: bf16[B, Hkv, Lk, 128];"}, {s->to, "out o: bf16[B, Hq, Lq, 128];"},
    };
    for (int k = 0; k < 4; k++) {
        if (req[k].t) continue;
        sema_error(s, s->at->name_loc, "attention '%s' has no '%c' tensor", s->at->name,
                   req[k].decl[req[k].decl[0] == 'o' ? 4 : 3]);
        sema_hint(s, "declare it, for example: %s", req[k].decl);
        ok = false;
    }
    ok &= check_state_init(s);
    s->tselin = given_tensor(s);
    for (int32_t k = 0; k < s->ndefines; k++) {
        Decl *d = sema_lookup(s, s->defines[k].name);
        if (!d || d->kind != DECL_CONST) {
            diag_error_noloc(s->d, "-D %s: attention '%s' has no const named '%s'",
                             s->defines[k].name, s->at->name, s->defines[k].name);
            ok = false;
        } else if (isnan(s->defines[k].value)) {
            /* a NaN const would make every row that reads it NaN (docs/language.md 13) */
            diag_error_noloc(s->d, "-D %s: a const cannot be NaN", s->defines[k].name);
            ok = false;
        }
    }
    return ok;
}

/* A rank-4 tensor of dtype `dt` whose first `n` dims are those of `ref` and whose last 4 - n
 * dims are the fixed sizes `fixed`. */
static bool has_shape(const AirTensor *t, AirDtype dt, const AirTensor *ref, int n, const int32_t *fixed)
{
    if (t->rank != 4 || t->dtype != dt) return false;
    for (int d = 0; d < 4; d++) {
        AirDim want = d < n ? ref->dims[d] : (AirDim){-1, fixed[d - n]};
        if (t->dims[d].sym != want.sym || (want.sym < 0 && t->dims[d].size != want.size)) return false;
    }
    return true;
}

/* The initial and final state tensors: f32[B, Hq, Dk, Dv] with o's batch and head dims. */
static bool check_state_tensors(Sema *s)
{
    Decl *ts[2] = {s->tsin, s->tsout};
    bool ok = true;
    for (int x = 0; x < 2; x++) {
        if (!ts[x] || ts[x]->id < 0 || !s->to || s->to->id < 0) continue;
        int32_t fixed[2] = {s->k->state_rows, s->k->state_cols};
        bool same = has_shape(&s->k->tensors[ts[x]->id], DT_F32, &s->k->tensors[s->to->id], 2, fixed);
        if (same) continue;
        sema_error(s, ts[x]->loc, "'%s' holds the %s state: it must be f32[B, Hq, %d, %d], with o's batch and head dims",
                   ts[x]->name, x ? "final" : "initial", s->k->state_rows, s->k->state_cols);
        sema_hint(s, "for example 'f32[B, H, Dk, Dv]' where o is f32[B, H, T, Dv]");
        ok = false;
    }
    return ok;
}

/* `s1 = S;`: the final state, written once after the last step. */
static bool check_state_out(Sema *s, Decl *d, SemaResult *out)
{
    if (out->state_out) {
        sema_error(s, d->name_loc, "'%s' is assigned twice", d->name);
        sema_note(s, out->state_out->name_loc, "previous assignment is here");
        return false;
    }
    out->state_out = d;
    if (d->target_indexed || d->expr->kind != EX_NAME || strcmp(d->expr->name, s->state->name)) {
        sema_error(s, d->loc, "'%s' is the final state: write '%s = %s;'", d->name, d->name, s->state->name);
        return false;
    }
    return true;
}

static const char *const hook_names[HOOK_COUNT] = {
    [HOOK_SCALE] = "scale", [HOOK_SCORE] = "score", [HOOK_MASK] = "mask", [HOOK_SINK] = "sink",
    [HOOK_SELECT] = "select", [HOOK_STATE] = "state", [HOOK_OUT] = "o",
};

/* Which hook an assignment sets, or -1 (reported). */
static int assign_hook(Sema *s, Decl *d)
{
    const char *n = d->name;
    if (d->target_indexed) {
        if (s->to && !strcmp(n, s->to->name)) {
            if (!s->state) {
                sema_error(s, d->name_loc, "'%s[t] = ...' needs a state", n);
                sema_hint(s, "softmax attention computes o; a recurrence declares 'state S: f32[Dk, Dv];'");
                return -1;
            }
            Expr *ix = d->shape.items[0];
            if (d->shape.count != 1 || ix->kind != EX_NAME || strcmp(ix->name, "t")) {
                sema_error(s, d->loc, "the output of a recurrence is written '%s[t] = ...'", n);
                return -1;
            }
            return HOOK_OUT;
        }
        sema_error(s, d->name_loc, "only the output '%s' can be assigned with an index",
                   s->to ? s->to->name : "o");
        return -1;
    }
    for (int h = 0; h < HOOK_STATE; h++)
        if (!strcmp(n, hook_names[h]) && h != HOOK_SELECT) return h;
    if (s->state && !strcmp(n, s->state->name)) return HOOK_STATE;
    Decl *x = sema_lookup(s, n);
    if (x) {
        sema_error(s, d->name_loc, "cannot assign to '%s'", n);
        sema_hint(s, x->kind == DECL_OUT ? "a recurrence writes its output as '%s[t] = ...'" :
                                           "only hooks (scale, score, mask, sink) and a state are assigned",
                  n);
        return -1;
    }
    sema_error(s, d->name_loc, "unknown hook '%s'", n);
    static const char *const hooks[] = {"scale", "score", "mask", "sink"};
    const char *best = closest_name(n, hooks, 4);
    if (best) sema_hint(s, "did you mean '%s'?", best);
    else sema_hint(s, "the hooks are scale, score, mask and sink");
    return -1;
}

/* The type each hook's expression must have. */
static bool check_hook_type(Sema *s, Decl *d, int h, AirType t)
{
    const char *got = sema_type_text(s->a, t);
    switch (h) {
    case HOOK_MASK:
        if (t.kind == TY_BOOL) return true;
        sema_error(s, d->expr->loc, "mask must be boolean; got %s", got);
        sema_hint(s, "a mask is a condition such as 'j <= i'");
        return false;
    case HOOK_STATE:
        if (t.kind == TY_MAT && t.rows == s->k->state_rows && t.cols == s->k->state_cols)
            return true;
        sema_error(s, d->expr->loc, "the update of '%s' must be f32[%d, %d]; got %s", d->name,
                   s->k->state_rows, s->k->state_cols, got);
        return false;
    case HOOK_OUT:
        if (t.kind == TY_VEC && t.rows == s->k->dv) return true;
        sema_error(s, d->expr->loc, "the output must be a vector f32[%d]; got %s", s->k->dv, got);
        sema_hint(s, "for example 'o[t] = q[t] @ %s;'", s->state->name);
        return false;
    default:
        if (t.kind == TY_I32 || t.kind == TY_F32) return true;
        sema_error(s, d->expr->loc, "%s must be a number; got %s", hook_names[h], got);
        if (t.kind == TY_BOOL) sema_hint(s, "bool never converts to a number: write select(c, 1.0, 0.0)");
        return false;
    }
}

static bool check_assigns(Sema *s, SemaResult *out)
{
    static const SemaCx hook_cx[HOOK_COUNT] = {
        [HOOK_SCALE] = CX_SCALE, [HOOK_SCORE] = CX_SCORE, [HOOK_MASK] = CX_MASK,
        [HOOK_SINK] = CX_SINK, [HOOK_STATE] = CX_STATE, [HOOK_OUT] = CX_OUT,
    };
    bool ok = true;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (d->kind != DECL_ASSIGN) continue;
        if (s->tsout && s->recurrent && !strcmp(d->name, s->tsout->name)) {
            ok &= check_state_out(s, d, out);
            continue;
        }
        int h = assign_hook(s, d);
        if (h < 0) {
            ok = false;
            continue;
        }
        if (out->hook[h]) {
            sema_error(s, d->name_loc, "'%s' is assigned twice", d->name);
            sema_note(s, out->hook[h]->name_loc, "previous assignment is here");
            ok = false;
            continue;
        }
        out->hook[h] = d;
        if (s->recurrent && h != HOOK_STATE && h != HOOK_OUT) {
            sema_error(s, d->name_loc, "'%s' is not allowed in a recurrence", d->name);
            sema_note(s, s->state->name_loc, "this spec is a recurrence because of this state");
            ok = false;
            continue;
        }
        AirType t = sema_expr(s, d->expr, hook_cx[h]);
        ok &= t.kind != TY_VOID && check_hook_type(s, d, h, t);
    }
    if (s->recurrent && s->tsout && !out->state_out) {
        sema_error(s, s->tsout->name_loc, "the final state '%s' is never written", s->tsout->name);
        sema_hint(s, "write '%s = %s;'", s->tsout->name, s->state->name);
        ok = false;
    }
    if (s->recurrent) {
        if (!out->hook[HOOK_STATE]) {
            sema_error(s, s->state->name_loc, "the state '%s' is never updated", s->state->name);
            sema_hint(s, "write one step of the recurrence: '%s = ...;'", s->state->name);
            ok = false;
        }
        if (!out->hook[HOOK_OUT]) {
            sema_error(s, s->state->name_loc, "a recurrence needs its output '%s[t] = ...;'",
                       s->to ? s->to->name : "o");
            ok = false;
        }
    }
    return ok;
}

static bool positive_const(Sema *s, Expr *e, const char *what, int32_t *out)
{
    Value v;
    if (!sema_fold(s, e, &v)) return false;
    if (v.ty != TY_I32 || v.v < 1) {
        sema_error(s, e->loc, "%s must be a positive integer", what);
        return false;
    }
    *out = (int32_t)v.v;
    return true;
}

/* A dim of tensor t as a shape writes it. */
static const char *dim_name(Sema *s, const AirTensor *t, int d)
{
    AirDim x = t->dims[d];
    return x.sym >= 0 ? s->k->syms[x.sym].name : arena_printf(s->a, "%lld", (long long)x.size);
}

/* Whether q's shape and the selector's top are known (so the indices' shape is). */
static bool sel_shape_known(const Sema *s)
{
    return s->tq->id >= 0 && s->k->sel.topk > 0;
}

/* The shape of a selector's index tensor as messages write it: i32[B, Hq, Lq, top] with q's
 * batch, head and row dims (docs/language.md section 9). */
static const char *sel_shape_text(Sema *s)
{
    if (!sel_shape_known(s)) return "i32[B, Hq, Lq, top]";
    const AirTensor *q = &s->k->tensors[s->tq->id];
    return arena_printf(s->a, "i32[%s, %s, %s, %d]", dim_name(s, q, 0), dim_name(s, q, 1), dim_name(s, q, 2),
                        s->k->sel.topk);
}

/* The selected (`what` "selected") or given ("given") indices t must have the shape
 * sel_shape_text writes; reports it with `hint` when they do not. */
static bool check_sel_shape(Sema *s, const Decl *t, const char *what, const char *hint)
{
    if (!sel_shape_known(s) || t->id < 0) return true;
    int32_t top = s->k->sel.topk;
    if (has_shape(&s->k->tensors[t->id], DT_I32, &s->k->tensors[s->tq->id], 3, &top)) return true;
    sema_error(s, t->loc, "'%s' holds the %s indices: it must be %s, with q's batch, head and row dims and the "
               "selector's top", t->name, what, sel_shape_text(s));
    sema_hint(s, "%s", hint);
    return false;
}

/* `select ... from idx;`: no score and no flags; idx is an `in` tensor i32[B, Hq, Lq, top]. */
static bool check_given(Sema *s, Decl *d)
{
    bool ok = true;
    if (d->keep_own || d->shared) {
        const char *flag = d->keep_own ? "keep own" : "shared";
        sema_error(s, d->loc, "'%s' does not apply to a selection given with 'from'", flag);
        sema_hint(s, "the given indices are used as they are: %s '%s' and drop '%s'", !d->keep_own ?
                  "give every head of a GQA group the same list in" : d->sel == SELD_BLOCKS ?
                  "put the query's own block in" : "list the keys to keep in", d->sel_from, flag);
        ok = false;
    }
    const char *want = sel_shape_text(s);
    if (!s->tselin) {
        Decl *t = sema_lookup(s, d->sel_from);
        bool qkv = t && (t == s->tq || t == s->tk || t == s->tv);
        sema_error(s, d->sel_from_loc, "'%s' %s: 'select ... from %s;' reads the given indices from an 'in' tensor "
                   "of their own", d->sel_from, !t ? "is not declared" : qkv ? "is a query, key or value tensor" :
                   "is not an 'in' tensor", d->sel_from);
        if (!t) sema_hint(s, "declare 'in %s: %s;'", d->sel_from, want);
        else sema_hint(s, "declare 'in idx: %s;' and write 'select ... from idx;'", want);
        return false;
    }
    return check_sel_shape(s, s->tselin, "given", arena_printf(s->a, "each query row lists up to %d %s indices to "
                           "keep, -1 for none", s->k->sel.topk, d->sel == SELD_BLOCKS ? "block" : "key")) && ok;
}

static bool check_select(Sema *s, SemaResult *out)
{
    bool ok = true;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (d->kind != DECL_SELECT) continue;
        if (out->select) {
            sema_error(s, d->loc, "a spec has at most one selector");
            sema_note(s, out->select->loc, "the first selector is here");
            ok = false;
            continue;
        }
        out->select = d;
        if (s->recurrent) {
            sema_error(s, d->loc, "a selector is not allowed in a recurrence");
            ok = false;
            continue;
        }
        AirSelector *sel = &s->k->sel;
        sel->kind = d->sel == SELD_BLOCKS ? SEL_BLOCKS : SEL_TOKENS;
        sel->keep_own = d->keep_own;
        sel->shared = d->shared;
        if (d->sel_block) ok &= positive_const(s, d->sel_block, "the block size", &sel->block);
        ok &= positive_const(s, d->sel_top, "top", &sel->topk);
        if (d->sel_from) {
            sel->given = true;
            sel->keep_own = sel->shared = false;
            ok &= check_given(s, d);
            continue;
        }
        AirType t = sema_expr(s, d->expr, d->sel == SELD_BLOCKS ? CX_SEL_BLOCKS : CX_SEL_TOKENS);
        if (t.kind == TY_VOID) {
            ok = false;
        } else if (t.kind != TY_F32 && t.kind != TY_I32) {
            sema_error(s, d->expr->loc, "a selector scores with a number; got %s",
                       sema_type_text(s->a, t));
            ok = false;
        }
    }
    return ok;
}

/* `sel = select;`: the selector's kept indices, written to an `out` tensor
 * i32[B, Hq, Lq, top] with q's batch, head and row dims (docs/language.md section 9). */
static bool check_sel_out(Sema *s, SemaResult *out)
{
    bool ok = true;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (d->kind != DECL_SEL_OUT) continue;
        if (out->sel_out) {
            bool same = !strcmp(d->name, out->sel_out->name);
            sema_error(s, d->name_loc, same ? "'%s' is assigned twice" : "the selected indices are written twice ('%s')",
                       d->name);
            sema_note(s, out->sel_out->name_loc, "previous assignment is here");
            sema_hint(s, "a spec writes its selector's indices to one output, once");
            ok = false;
            continue;
        }
        out->sel_out = d;
        if (!out->select) {
            sema_error(s, d->loc, "'%s = select;' needs a selector", d->name);
            sema_hint(s, "declare one, for example 'select blocks(64) top 4 by dot(q[i], mean(k[block]));'");
            ok = false;
            continue;
        }
        const char *want = sel_shape_text(s);
        if (!s->tselout || strcmp(s->tselout->name, d->name)) {
            Decl *t = sema_lookup(s, d->name);
            bool own = t && (t == s->to || t == s->tlse);
            sema_error(s, d->name_loc, "'%s' %s: '%s = select;' writes the selected indices to an 'out' tensor of "
                       "their own", d->name, !t ? "is not declared" : own ? "is the attention's output" :
                       "is not an 'out' tensor", d->name);
            if (own) sema_hint(s, "declare 'out sel: %s;' and write 'sel = select;'", want);
            else sema_hint(s, "declare 'out %s: %s;'", d->name, want);
            ok = false;
            continue;
        }
        ok &= check_sel_shape(s, s->tselout, "selected", arena_printf(s->a, "each query row gets the %d kept %s "
                              "indices, ascending, then -1 where fewer are kept", s->k->sel.topk,
                              s->k->sel.kind == SEL_BLOCKS ? "block" : "key"));
    }
    return ok;
}

static Attention *find_attention(Diags *d, AstFile *f, const char *name)
{
    for (Attention *at = f->first; at; at = at->next)
        if (!name || !strcmp(at->name, name)) return at;
    if (name) diag_error_noloc(d, "no attention named '%s' in this file", name);
    else diag_error_noloc(d, "no attention in this file");
    return NULL;
}

bool sema_check(Arena *a, Diags *d, AstFile *f, const char *kernel, const Define *defines,
                int32_t ndefines, SemaResult *out)
{
    memset(out, 0, sizeof *out);
    Attention *at = find_attention(d, f, kernel);
    if (!at) return false;
    Sema s = {.a = a, .d = d, .at = at, .defines = defines, .ndefines = ndefines};
    s.k = air_new(a, at->name);
    if (!s.k) return false;
    out->at = at;
    out->kernel = s.k;
    int errors = d->errors;
    sema_index_names(&s);
    check_decls(&s);
    if (!s.tq || !s.tk || !s.tv || !s.to) return false;
    /* later checks still run after a bad tensor, so one run reports the hooks' errors too */
    sema_tensors(&s);
    sema_params(&s);
    Value v;
    for (Decl *x = at->decls; x; x = x->next)
        if (x->kind == DECL_CONST) sema_const_value(&s, x, &v);
    if (s.state && sema_state_shape(&s)) {
        s.recurrent = true;
        s.k->kind = KIND_RECURRENT;
        check_state_tensors(&s);
        if (s.tlse) {
            sema_error(&s, s.tlse->name_loc, "a recurrence has no lse output");
            sema_note(&s, s.state->name_loc, "this spec is a recurrence because of this state");
        }
    }
    if (s.state && !s.recurrent) return false;
    for (Decl *x = at->decls; x; x = x->next)
        if (x->kind == DECL_LET) {
            int before = d->errors;
            sema_expr(&s, x->expr, CX_LET);
            x->reported = d->errors != before;
        }
    check_assigns(&s, out);
    check_select(&s, out);
    check_sel_out(&s, out);
    out->state = s.state;
    return d->errors == errors && !a->oom;
}
