/* sema_expr.c: names and types of expressions (docs/language.md sections 3, 5, 8). Each
 * expression is checked in a context (a hook, a selector, a recurrence step) that decides
 * which names exist there. fns and lets are checked at each use with the use's context and
 * argument types, as if inlined, which is how lower_air treats them too. */
#include "frontend.h"

#include <string.h>

static const AirType T_VOID = {TY_VOID, 0, 0}, T_BOOL = {TY_BOOL, 0, 0}, T_I32 = {TY_I32, 0, 0},
                     T_F32 = {TY_F32, 0, 0};

static const char *const cx_text[] = {
    [CX_LET] = "a let", [CX_SCALE] = "the scale hook", [CX_SCORE] = "the score hook",
    [CX_MASK] = "the mask hook", [CX_SINK] = "the sink hook",
    [CX_SEL_BLOCKS] = "a block selector", [CX_SEL_TOKENS] = "a token selector",
    [CX_STATE] = "the state update", [CX_OUT] = "the output o[t]",
};

static bool is_num(AirType t) { return t.kind == TY_I32 || t.kind == TY_F32; }
static bool is_vec(AirType t) { return t.kind == TY_VEC || t.kind == TY_MAT; }
static bool same(AirType x, AirType y)
{
    return x.kind == y.kind && x.rows == y.rows && x.cols == y.cols;
}
static bool vectors_allowed(SemaCx cx)
{
    return cx == CX_SEL_BLOCKS || cx == CX_SEL_TOKENS || cx == CX_STATE || cx == CX_OUT ||
           cx == CX_LET;
}

/* Which index variables each context has. */
static bool index_allowed(SemaCx cx, AirIndex ix)
{
    switch (cx) {
    case CX_LET: return true;
    case CX_SCALE: return false;
    case CX_SINK: return ix == IX_B || ix == IX_H;
    case CX_SCORE: case CX_MASK: case CX_SEL_TOKENS: return ix != IX_T;
    case CX_SEL_BLOCKS: return ix == IX_B || ix == IX_H || ix == IX_I;
    case CX_STATE: case CX_OUT: return ix == IX_B || ix == IX_H || ix == IX_T;
    }
    return false;
}

static AirType need_vec_cx(Sema *s, Expr *e, AirType t)
{
    if (is_vec(t) && !vectors_allowed(s->cx)) {
        sema_error(s, e->loc, "vectors are not allowed in %s", cx_text[s->cx]);
        sema_hint(s, "vectors and matrices belong in selectors and recurrences");
        return T_VOID;
    }
    return t;
}

/* The memo of `d`'s body checked in the current context with these argument types. */
static BodyMemo *sema_memo_find(const Sema *s, const Decl *d, const AirType *args, int32_t n)
{
    for (BodyMemo *m = d->sema_memo; m; m = m->next) {
        if (m->key != (int32_t)s->cx || m->nargs != n) continue;
        const AirType *ma = m->args;
        int32_t k = 0;
        while (k < n && air_type_eq(ma[k], args[k])) k++;
        if (k == n) return m;
    }
    return NULL;
}

/* The check of a let or fn body: once reported, its errors are not repeated at later uses, and
 * a body already checked in this context with these argument types is not checked again. */
static AirType check_body(Sema *s, Decl *d, Expr *body, Loc use)
{
    const AirType *args = s->frame ? s->frame->args : NULL;
    int32_t nargs = s->frame ? s->frame->fn->params.count : 0;
    BodyMemo *m = sema_memo_find(s, d, args, nargs);
    if (m) return m->ty;
    if (d->visiting) {
        sema_error(s, use, d->kind == DECL_FN ? "fn '%s' is recursive" :
                                                "let '%s' depends on itself", d->name);
        sema_hint(s, d->kind == DECL_FN ? "fns are inlined: a fn cannot call itself, directly or "
                                          "through another fn" :
                                          "a let cannot refer to its own value");
        return T_VOID;
    }
    int errors = s->d->errors, save_base = s->sum_base;
    if (d->reported) s->quiet++;
    d->visiting = true;
    s->sum_base = s->nsums;
    s->depth--;   /* the body takes the place of the name or call that uses it */
    AirType t = sema_expr_in(s, body);
    s->depth++;
    s->sum_base = save_base;
    d->visiting = false;
    if (d->reported) s->quiet--;
    if (s->d->errors != errors) d->reported = true;
    m = arena_alloc(s->a, sizeof *m);
    if (m) {
        *m = (BodyMemo){.next = d->sema_memo, .key = (int32_t)s->cx, .nargs = nargs,
                        .args = args, .ty = t};
        d->sema_memo = m;
    }
    return t;
}

static AirType check_name(Sema *s, Expr *e)
{
    const char *n = e->name;
    for (int k = s->nsums - 1; k >= s->sum_base; k--) {
        if (!strcmp(s->sums[k]->a->a->name, n)) {
            e->ref = REF_RVAR;
            e->binder = s->sums[k];
            return T_I32;
        }
    }
    if (s->frame) {
        const NameList *p = &s->frame->fn->params;
        for (int32_t k = 0; k < p->count; k++) {
            if (!strcmp(p->items[k].name, n)) {
                e->ref = REF_FNPARAM;
                e->ref_id = k;
                return s->frame->args[k];
            }
        }
    }
    Decl *d = sema_lookup(s, n);
    if (d) {
        e->decl = d;
        switch (d->kind) {
        case DECL_CONST: {
            Value v;
            e->ref = REF_CONST;
            if (!sema_const_value(s, d, &v)) return T_VOID;
            return air_scalar(v.ty);
        }
        case DECL_PARAM:
            e->ref = REF_PARAM;
            return d->const_ty;
        case DECL_LET: {
            e->ref = REF_LET;
            SemaFrame *save = s->frame;
            s->frame = NULL;
            AirType t = check_body(s, d, d->expr, e->loc);
            s->frame = save;
            return t;
        }
        case DECL_STATE:
            if (s->cx != CX_STATE && s->cx != CX_OUT && s->cx != CX_LET) {
                sema_error(s, e->loc, "the state '%s' is not available in %s", n, cx_text[s->cx]);
                return T_VOID;
            }
            e->ref = REF_STATE;
            return (AirType){TY_MAT, s->k->state_rows, s->k->state_cols};
        case DECL_FN:
            sema_error(s, e->loc, "'%s' is a fn; call it as %s(...)", n, n);
            return T_VOID;
        default:
            sema_error(s, e->loc, "tensor '%s' must be indexed", n);
            sema_hint(s, "write %s[...] with one index per dim", n);
            return T_VOID;
        }
    }
    static const char *const ix_names[IX_COUNT] = {"b", "h", "i", "j", "t"};
    for (int ix = 0; ix < IX_COUNT; ix++) {
        if (strcmp(n, ix_names[ix])) continue;
        if (!index_allowed(s->cx, (AirIndex)ix)) {
            sema_error(s, e->loc, "index variable '%s' is not available in %s", n, cx_text[s->cx]);
            if (ix == IX_T) sema_hint(s, "'t' is the time step of a recurrence (a spec with a state)");
            else if (s->cx == CX_SINK) sema_hint(s, "the sink is one logit per (b, h)");
            else if (s->cx == CX_SCALE) sema_hint(s, "the scale is one value per launch; a per-element factor belongs in the score hook");
            else if (s->cx == CX_SEL_BLOCKS) sema_hint(s, "a block score sees the key block as 'block'");
            else if (s->recurrent) sema_hint(s, "a recurrence steps over positions with 't'");
            return T_VOID;
        }
        e->ref = REF_INDEX;
        e->ref_id = ix;
        return T_I32;
    }
    if (!strcmp(n, "score") || !strcmp(n, "qk")) {
        if (s->cx != CX_SCORE && s->cx != CX_LET) {
            sema_error(s, e->loc, "'%s' is only defined inside the score hook", n);
            return T_VOID;
        }
        e->ref = n[0] == 's' ? REF_SCORE : REF_QK;
        return T_F32;
    }
    if (!strcmp(n, "block")) {
        if (s->cx != CX_SEL_BLOCKS && s->cx != CX_LET) {
            sema_error(s, e->loc, "'block' is only defined in a block selector's score");
            return T_VOID;
        }
        e->ref = REF_BLOCK;
        return T_I32;
    }
    if (!strcmp(n, "inf")) {
        e->ref = REF_INF;
        return T_F32;
    }
    int32_t sym;
    int64_t size;
    if (sema_dim_name(s, n, &sym, &size)) {
        e->ref = REF_DIM;
        e->ref_id = sym;
        e->ref_size = size;
        return T_I32;
    }
    sema_error(s, e->name_loc, "unknown name '%s'", n);
    static const char *const extra[] = {"score", "qk", "block", "inf", NULL};
    sema_suggest(s, n, extra);
    return T_VOID;
}

/* q[i], k[j], v[j] (q[t]... in recurrences): a head vector, one position index. */
static AirType check_index(Sema *s, Expr *e)
{
    Decl *d = sema_lookup(s, e->name);
    if (!d || (d->kind != DECL_IN && d->kind != DECL_OUT)) {
        if (!d) {
            sema_error(s, e->name_loc, "unknown tensor '%s'", e->name);
            sema_suggest(s, e->name, NULL);
        } else {
            sema_error(s, e->name_loc, "'%s' is not a tensor and cannot be indexed", e->name);
        }
        return T_VOID;
    }
    bool bad = false;
    for (int32_t k = 0; k < e->args.count; k++) {
        AirType t = sema_expr_in(s, e->args.items[k]);
        if (t.kind == TY_VOID) bad = true;
        else if (t.kind != TY_I32) {
            sema_error(s, e->args.items[k]->loc, "an index must be i32; got %s",
                       sema_type_text(s->a, t));
            sema_hint(s, "convert with int(...)");
            bad = true;
        }
    }
    e->ref = REF_TENSOR;
    e->ref_id = d->id;
    e->decl = d;
    if (d == s->to || d == s->tlse || d == s->tselout) {
        sema_error(s, e->loc, "the output '%s' cannot be read", e->name);
        return T_VOID;
    }
    if (d == s->tselin) {
        sema_error(s, e->loc, "'%s' holds the selector's given indices and cannot be read in an expression",
                   e->name);
        sema_hint(s, "declare another 'in' tensor for the values a hook reads");
        return T_VOID;
    }
    const AirTensor *t = d->id >= 0 ? &s->k->tensors[d->id] : NULL;
    if (!t) return T_VOID;
    if (d == s->tq || d == s->tk || d == s->tv) {
        if (e->args.count != 1) {
            sema_error(s, e->loc, "'%s' takes one position index; got %d", e->name, e->args.count);
            sema_hint(s, "write %s[%s]: the head vector at that position", e->name,
                      s->recurrent ? "t" : d == s->tq ? "i" : "j");
            return T_VOID;
        }
        if (bad) return T_VOID;
        return need_vec_cx(s, e, (AirType){TY_VEC, d == s->tv ? s->k->dv : s->k->dk, 0});
    }
    bool vec_ok = t->rank > 1 && t->dims[t->rank - 1].sym < 0 && t->dtype != DT_I32;
    if (e->args.count != t->rank && (e->args.count != t->rank - 1 || !vec_ok)) {
        sema_error(s, e->loc, "'%s' has %d dims; got %d %s", e->name, t->rank, e->args.count,
                   e->args.count == 1 ? "index" : "indices");
        sema_hint(s, vec_ok ? "index it with one index per dim, or one fewer for a vector of the last dim"
                            : "index it with one index per dim");
        return T_VOID;
    }
    if (bad) return T_VOID;
    if (e->args.count == t->rank) return t->dtype == DT_I32 ? T_I32 : T_F32;
    return need_vec_cx(s, e, (AirType){TY_VEC, (int32_t)t->dims[t->rank - 1].size, 0});
}

/* `diag(v)`, written directly or through lets: the one matrix '@' may multiply by another,
 * as a row (diag(v) @ M) or column (M @ diag(v)) scaling; no n x n matrix is ever formed.
 * Checked after the operand's sema, which resolved its call and names. */
bool sema_is_diag(const Expr *e)
{
    while (e->kind == EX_NAME && e->ref == REF_LET && e->decl) e = e->decl->expr;
    return e->kind == EX_CALL && e->builtin >= 0 && sema_builtins[e->builtin].kind == BK_DIAG;
}

static AirType arith_result(Sema *s, Expr *e, OpKind op, AirType x, AirType y)
{
    if (x.kind == TY_VOID || y.kind == TY_VOID) return T_VOID;
    if (is_num(x) && is_num(y)) {
        if (op == OPR_POW) return T_F32;
        return x.kind == TY_I32 && y.kind == TY_I32 ? T_I32 : T_F32;
    }
    bool vx = is_vec(x), vy = is_vec(y);
    if (op == OPR_MATMUL) {
        if (x.kind == TY_VEC && y.kind == TY_MAT && x.rows == y.rows)
            return (AirType){TY_VEC, y.cols, 0};
        if (x.kind == TY_MAT && y.kind == TY_VEC && x.cols == y.rows)
            return (AirType){TY_VEC, x.rows, 0};
        if (x.kind == TY_MAT && y.kind == TY_MAT && x.cols == y.rows &&
            (sema_is_diag(e->a) || sema_is_diag(e->b)))
            return sema_is_diag(e->a) ? y : x;
    } else if ((vx || vy) && x.kind != TY_BOOL && y.kind != TY_BOOL) {
        /* element-wise, a scalar broadcast over the other operand's shape */
        bool elementwise = op == OPR_ADD || op == OPR_SUB || op == OPR_MUL || op == OPR_DIV;
        if (elementwise && vx && vy && same(x, y)) return x;
        if (elementwise && vx != vy) return vx ? x : y;
    }
    if (x.kind == TY_BOOL || y.kind == TY_BOOL) {
        sema_error(s, e->loc, "'%s' needs numbers; got %s and %s", ast_op_text(op),
                   sema_type_text(s->a, x), sema_type_text(s->a, y));
        sema_hint(s, "bool never converts to a number: write select(c, 1.0, 0.0)");
        return T_VOID;
    }
    sema_error(s, e->loc, "cannot apply '%s' to %s and %s", ast_op_text(op),
               sema_type_text(s->a, x), sema_type_text(s->a, y));
    if (op == OPR_MATMUL && x.kind == TY_MAT && y.kind == TY_MAT &&
        (sema_is_diag(e->a) || sema_is_diag(e->b)))
        sema_hint(s, "diag(v) @ M scales M's rows: v needs one element per row of M (M @ diag(v): "
                     "one per column)");
    else if (op == OPR_MATMUL && x.kind == TY_MAT && y.kind == TY_MAT)
        sema_hint(s, "'@' multiplies two matrices only when one is diag(v) (a row or column "
                     "scaling); write a general product through vectors, as in outer(k, k @ S)");
    else if (op == OPR_MATMUL)
        sema_hint(s, "'@' multiplies a vector and a matrix of matching size");
    return T_VOID;
}

static AirType check_binary(Sema *s, Expr *e)
{
    AirType x = sema_expr_in(s, e->a), y = sema_expr_in(s, e->b);
    if (x.kind == TY_VOID || y.kind == TY_VOID) return T_VOID;
    switch (e->op) {
    case OPR_AND: case OPR_OR:
        if (x.kind != TY_BOOL || y.kind != TY_BOOL) {
            sema_error(s, e->loc, "'%s' needs bool operands; got %s and %s", ast_op_text(e->op),
                       sema_type_text(s->a, x), sema_type_text(s->a, y));
            return T_VOID;
        }
        return T_BOOL;
    case OPR_LT: case OPR_LE: case OPR_GT: case OPR_GE: case OPR_EQ: case OPR_NE:
        if (!is_num(x) || !is_num(y)) {
            sema_error(s, e->loc, "'%s' compares numbers; got %s and %s", ast_op_text(e->op),
                       sema_type_text(s->a, x), sema_type_text(s->a, y));
            return T_VOID;
        }
        return T_BOOL;
    default: return arith_result(s, e, e->op, x, y);
    }
}

static AirType check_unary(Sema *s, Expr *e)
{
    AirType x = sema_expr_in(s, e->a);
    if (x.kind == TY_VOID) return T_VOID;
    if (e->op == OPR_NOT) {
        if (x.kind == TY_BOOL) return T_BOOL;
        sema_error(s, e->loc, "'!' needs a bool; got %s", sema_type_text(s->a, x));
        return T_VOID;
    }
    if (x.kind == TY_BOOL) {
        sema_error(s, e->loc, "'-' needs a number; got bool");
        return T_VOID;
    }
    return x;
}

static AirType check_cond(Sema *s, Expr *e, Expr *c, Expr *a, Expr *b)
{
    AirType tc = sema_expr_in(s, c), ta = sema_expr_in(s, a), tb = sema_expr_in(s, b);
    if (tc.kind == TY_VOID || ta.kind == TY_VOID || tb.kind == TY_VOID) return T_VOID;
    if (tc.kind != TY_BOOL) {
        sema_error(s, c->loc, "a condition must be bool; got %s", sema_type_text(s->a, tc));
        return T_VOID;
    }
    if (same(ta, tb)) return ta;
    if (is_num(ta) && is_num(tb)) return T_F32;
    sema_error(s, e->loc, "both branches must have one type; got %s and %s",
               sema_type_text(s->a, ta), sema_type_text(s->a, tb));
    return T_VOID;
}

static AirType check_fn_call(Sema *s, Expr *e, Decl *fn)
{
    if (e->args.count != fn->params.count) {
        sema_error(s, e->loc, "fn '%s' takes %d argument%s; got %d", fn->name, fn->params.count,
                   fn->params.count == 1 ? "" : "s", e->args.count);
        sema_note(s, fn->name_loc, "'%s' is declared here", fn->name);
        return T_VOID;
    }
    AirType *args = arena_alloc(s->a, sizeof *args * (size_t)(e->args.count + 1));
    if (!args) return T_VOID;
    for (int32_t k = 0; k < e->args.count; k++) {
        args[k] = sema_expr_in(s, e->args.items[k]);
        if (args[k].kind == TY_VOID) return T_VOID;
    }
    e->decl = fn;
    SemaFrame frame = {fn, args, s->frame};
    s->frame = &frame;
    AirType t = check_body(s, fn, fn->expr, e->loc);
    s->frame = frame.up;
    return t;
}

static AirType check_builtin(Sema *s, Expr *e, const SemaBuiltin *b)
{
    if (e->args.count != b->arity) {
        sema_error(s, e->loc, "'%s' takes %d argument%s; got %d", b->name, b->arity,
                   b->arity == 1 ? "" : "s", e->args.count);
        return T_VOID;
    }
    if (b->kind == BK_MEAN) {
        Expr *x = e->args.items[0];
        if (s->cx != CX_SEL_BLOCKS || x->kind != EX_INDEX || !s->tk || strcmp(x->name, s->tk->name) ||
            x->args.count != 1 || x->args.items[0]->kind != EX_NAME ||
            strcmp(x->args.items[0]->name, "block")) {
            sema_error(s, e->loc, "mean() only takes the key block: mean(%s[block])",
                       s->tk ? s->tk->name : "k");
            sema_hint(s, "it is available in a block selector's score");
            return T_VOID;
        }
        x->ref = REF_TENSOR;
        x->args.items[0]->ref = REF_BLOCK;
        return (AirType){TY_VEC, s->k->dk, 0};
    }
    AirType t[3] = {T_VOID, T_VOID, T_VOID};
    for (int k = 0; k < b->arity; k++) {
        t[k] = sema_expr_in(s, e->args.items[k]);
        if (t[k].kind == TY_VOID) return T_VOID;
    }
    const char *tx = sema_type_text(s->a, t[0]);
    switch (b->kind) {
    case BK_UNF:
        if (is_num(t[0])) return T_F32;
        if (is_vec(t[0])) return t[0];
        break;
    case BK_ARITH1: if (is_num(t[0]) || is_vec(t[0])) return t[0]; break;
    case BK_MINMAX: case BK_POW:
        if (is_num(t[0]) && is_num(t[1]))
            return b->kind == BK_MINMAX && t[0].kind == TY_I32 && t[1].kind == TY_I32 ? T_I32 : T_F32;
        break;
    case BK_CLAMP:
        if (is_num(t[0]) && is_num(t[1]) && is_num(t[2]))
            return t[0].kind == TY_I32 && t[1].kind == TY_I32 && t[2].kind == TY_I32 ? T_I32 : T_F32;
        break;
    case BK_SELECT: return check_cond(s, e, e->args.items[0], e->args.items[1], e->args.items[2]);
    case BK_FLOAT: if (is_num(t[0])) return T_F32; break;
    case BK_INT: if (is_num(t[0])) return T_I32; break;
    case BK_DOT:
        if (t[0].kind == TY_VEC && same(t[0], t[1])) return T_F32;
        break;
    case BK_OUTER:
        if (t[0].kind == TY_VEC && t[1].kind == TY_VEC) return (AirType){TY_MAT, t[0].rows, t[1].rows};
        break;
    case BK_DIAG: if (t[0].kind == TY_VEC) return (AirType){TY_MAT, t[0].rows, t[0].rows}; break;
    case BK_SQNORM: if (t[0].kind == TY_VEC) return T_F32; break;
    case BK_MEAN: break;
    }
    if (b->arity == 1)
        sema_error(s, e->loc, "'%s' cannot take %s", b->name, tx);
    else
        sema_error(s, e->loc, "'%s' cannot take (%s, %s%s%s)", b->name, tx,
                   sema_type_text(s->a, t[1]), b->arity == 3 ? ", " : "",
                   b->arity == 3 ? sema_type_text(s->a, t[2]) : "");
    if (t[0].kind == TY_BOOL || t[1].kind == TY_BOOL)
        sema_hint(s, "bool never converts to a number: write select(c, 1.0, 0.0)");
    return T_VOID;
}

static AirType check_call(Sema *s, Expr *e)
{
    for (int k = 0; k < sema_nbuiltins; k++) {
        if (!strcmp(sema_builtins[k].name, e->name)) {
            e->builtin = k;
            return check_builtin(s, e, &sema_builtins[k]);
        }
    }
    Decl *d = sema_lookup(s, e->name);
    if (d && d->kind == DECL_FN) return check_fn_call(s, e, d);
    if (d) {
        sema_error(s, e->name_loc, "'%s' is not a function", e->name);
        return T_VOID;
    }
    sema_error(s, e->name_loc, "unknown function '%s'", e->name);
    const char **names = arena_alloc(s->a, sizeof *names * (size_t)(sema_nbuiltins + 2));
    if (!names) return T_VOID;
    for (int k = 0; k < sema_nbuiltins; k++) names[k] = sema_builtins[k].name;
    names[sema_nbuiltins] = "sum";
    const char *best = closest_name(e->name, names, (size_t)sema_nbuiltins + 1);
    if (best) sema_hint(s, "did you mean '%s'?", best);
    else if (strstr(e->name, "i32") || strstr(e->name, "f32") || strstr(e->name, "float") ||
             !strncmp(e->name, "int", 3) || strstr(e->name, "_int") || strstr(e->name, "toint"))
        /* a conversion by another language's name */
        sema_hint(s, "the conversions are int(x) (f32 to i32, truncating) and float(x) (i32 to f32)");
    else sema_suggest(s, e->name, NULL);
    return T_VOID;
}

/* sum(r < n: e): r runs over 0 .. n-1, n a compile-time integer. */
static AirType check_sum(Sema *s, Expr *e)
{
    if (strcmp(e->name, "sum")) {
        sema_error(s, e->name_loc, "only sum(...) takes the form 'r < n: e'");
        return T_VOID;
    }
    Expr *bound = e->a;
    if (bound->kind != EX_BINARY || bound->op != OPR_LT || bound->a->kind != EX_NAME) {
        sema_error(s, bound->loc, "a sum's range must read 'r < n'");
        return T_VOID;
    }
    Value n;
    if (!sema_fold(s, bound->b, &n)) return T_VOID;
    if (n.ty != TY_I32 || n.v < 1) {
        sema_error(s, bound->b->loc, "a sum's trip count must be a positive integer");
        return T_VOID;
    }
    e->num = n.v;
    if (s->nsums == SEMA_MAX_SUMS) {
        sema_error(s, e->loc, "sums nest too deeply");
        return T_VOID;
    }
    s->sums[s->nsums++] = e;
    AirType t = sema_expr_in(s, e->b);
    s->nsums--;
    if (t.kind == TY_VOID) return t;
    if (!is_num(t)) {
        sema_error(s, e->b->loc, "a sum adds numbers; got %s", sema_type_text(s->a, t));
        return T_VOID;
    }
    return t;
}

AirType sema_expr_in(Sema *s, Expr *e)
{
    AirType t = T_VOID;
    /* out of memory, a body's memo may not be stored: stop, or its uses re-check it each time */
    if (s->a->oom) {
        e->ty = t;
        return t;
    }
    /* parse_source bounds each expression; lets and fns expand into one another here */
    if (s->depth >= ATTN_MAX_EXPR_DEPTH) {
        if (!s->too_deep) {
            sema_error(s, e->loc, "expression nested too deeply once lets and fns are expanded "
                                  "(more than %d levels)", ATTN_MAX_EXPR_DEPTH);
            sema_hint(s, "each use of a let or fn counts its body's depth where it is used");
        }
        s->too_deep = true;
        e->ty = t;
        return t;
    }
    s->depth++;
    switch (e->kind) {
    case EX_INT: t = T_I32; break;
    case EX_FLOAT: t = T_F32; break;
    case EX_BOOL: t = T_BOOL; break;
    case EX_NAME: t = check_name(s, e); break;
    case EX_UNARY: t = check_unary(s, e); break;
    case EX_BINARY: t = check_binary(s, e); break;
    case EX_COND: t = check_cond(s, e, e->a, e->b, e->c); break;
    case EX_CALL: t = check_call(s, e); break;
    case EX_INDEX: t = check_index(s, e); break;
    case EX_SUM: t = check_sum(s, e); break;
    }
    s->depth--;
    e->ty = t;
    return t;
}

AirType sema_expr(Sema *s, Expr *e, SemaCx cx)
{
    SemaCx save = s->cx;
    s->cx = cx;
    AirType t = sema_expr_in(s, e);
    s->cx = save;
    return t;
}
