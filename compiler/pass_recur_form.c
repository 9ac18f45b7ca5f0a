/* pass_recur_form.c: reads a recurrence's update and output as one of the families the kernels
 * generate (pass.h: decay, per-key decay, delta rule), whatever way the spec writes them.
 *
 * Each vector or matrix node is normalised to a linear form over a few leaves: the head vectors
 * q[t], k[t], v[t], the products k[t] @ S and q[t] @ S_new, the state S, diag(a) @ S, and the
 * rank-one terms outer(k[t], x) for each vector leaf x; the coefficients are sums of products of
 * scalar nodes (RecurCoef). Scalars are not looked into: a factor is any scalar node that does
 * not read the state, and the plan checks that the hook emitter can compute it. A node the
 * forms cannot hold (an element-wise product of matrices, k[t - 1], S @ x) makes the
 * recurrence a RECUR_SCAN, with the reason and its place. */
#include "pass.h"

#include <string.h>

enum { L_Q, L_K, L_V, L_KS, L_QSN, L_S, L_RS, L_KQ, L_KK, L_KV, L_KKS, L_COUNT };

typedef struct Form {
    RecurCoef c[L_COUNT];
    int32_t rs;              /* L_RS: the vector of diag(a) @ S */
} Form;

typedef struct Rf {
    Arena *a;
    const AirKernel *k;
    AirUses *uses;
    Form **memo;
    const char *why;
    Loc loc;
} Rf;

static void *fail(Rf *r, int32_t id, const char *why)
{
    if (!r->why) {
        r->why = why;
        r->loc = r->k->nodes[id].loc;
    }
    return NULL;
}

static bool coef_push(RecurCoef *c, RecurProd p)
{
    if (c->n >= RECUR_MAX_TERMS) return false;
    c->t[c->n++] = p;
    return true;
}

/* c times scalar node `id` (or its inverse); constants go into the terms' numbers. */
static bool coef_scale(const AirKernel *k, RecurCoef *c, int32_t id, bool inv)
{
    const AirNode *n = &k->nodes[id];
    for (int32_t i = 0; i < c->n; i++) {
        RecurProd *p = &c->t[i];
        if (n->op == OP_CONST) {
            p->c = inv ? p->c / n->num : p->c * n->num;
        } else {
            if (p->n >= RECUR_MAX_FACTORS) return false;
            if (inv) p->inv |= 1u << p->n;
            p->f[p->n++] = id;
        }
    }
    return true;
}

static bool coef_add(RecurCoef *c, const RecurCoef *x, double sign)
{
    for (int32_t i = 0; i < x->n; i++) {
        RecurProd p = x->t[i];
        p.c *= sign;
        if (!coef_push(c, p)) return false;
    }
    return true;
}

static bool coef_mul(RecurCoef *out, const RecurCoef *x, const RecurCoef *y)
{
    memset(out, 0, sizeof *out);
    for (int32_t i = 0; i < x->n; i++)
        for (int32_t j = 0; j < y->n; j++) {
            const RecurProd *p = &x->t[i], *q = &y->t[j];
            if (p->n + q->n > RECUR_MAX_FACTORS) return false;
            RecurProd r = *p;
            r.c *= q->c;
            for (int32_t f = 0; f < q->n; f++) {
                if (q->inv & (1u << f)) r.inv |= 1u << r.n;
                r.f[r.n++] = q->f[f];
            }
            if (!coef_push(out, r)) return false;
        }
    return true;
}

/* The single leaf a form holds (its coefficient in *c), or -1. */
static int only_leaf(const Form *f, const RecurCoef **c)
{
    int leaf = -1;
    for (int l = 0; l < L_COUNT; l++) {
        if (!f->c[l].n) continue;
        if (leaf >= 0) return -1;
        leaf = l;
        *c = &f->c[l];
    }
    return leaf;
}

static bool is_scalar(const AirNode *n)
{
    return n->ty.kind == TY_F32 || n->ty.kind == TY_I32;
}

/* A per-key decay a in diag(a) @ S: element-wise ops over side tensors and scalars. */
static bool elementwise(const AirKernel *k, int32_t id)
{
    const AirNode *n = &k->nodes[id];
    if (n->ty.kind != TY_VEC) return true;   /* scalars are checked as factors are */
    AirOpKind kind = air_ops[n->op].kind;
    if (n->op == OP_LOAD) return true;
    if (kind != OPK_UN_F && kind != OPK_ARITH && kind != OPK_BIN_F && n->op != OP_SELECT) return false;
    for (int32_t g = 0; g < n->nargs; g++)
        if (!elementwise(k, n->args[g])) return false;
    return true;
}

static Form *norm(Rf *r, int32_t id);

static Form *new_form(Rf *r)
{
    Form *f = arena_alloc(r->a, sizeof *f);
    if (f) f->rs = -1;
    return f;
}

static Form *scaled(Rf *r, int32_t id, int32_t of, int32_t by, bool inv, double sign)
{
    if (by >= 0 && r->uses->node[by].state) return fail(r, by, "a factor that reads the state");
    uint32_t heads = 1u << r->k->tq | 1u << r->k->tk | 1u << r->k->tv;
    if (by >= 0 && (r->uses->node[by].tensors & heads))   /* dot(q[t], k[t]): per step, not a scalar hook */
        return fail(r, by, "a factor that reads q, k or v");
    const Form *x = norm(r, of);
    Form *f = x ? new_form(r) : NULL;
    if (!f) return NULL;
    *f = *x;
    for (int l = 0; l < L_COUNT; l++) {
        if (by >= 0 && !coef_scale(r->k, &f->c[l], by, inv)) return fail(r, id, "too many factors");
        for (int32_t t = 0; t < f->c[l].n; t++) f->c[l].t[t].c *= sign;
    }
    return f;
}

static Form *outer(Rf *r, int32_t id, const AirNode *n)
{
    static const int pair[L_COUNT] = {[L_Q] = L_KQ, [L_K] = L_KK, [L_V] = L_KV, [L_KS] = L_KKS};
    const Form *x = norm(r, n->args[0]), *y = x ? norm(r, n->args[1]) : NULL;
    Form *f = y ? new_form(r) : NULL;
    if (!f) return NULL;
    const RecurCoef *cx = NULL;
    if (only_leaf(x, &cx) != L_K) return fail(r, id, "a rank-one term other than outer(k[t], ...)");
    for (int l = L_Q; l <= L_KS; l++)
        if (y->c[l].n && !coef_mul(&f->c[pair[l]], cx, &y->c[l])) return fail(r, id, "too many terms");
    if (y->c[L_QSN].n) return fail(r, id, "the new state inside the update");
    return f;
}

static Form *vecmat(Rf *r, int32_t id, const AirNode *n)
{
    const AirNode *m = &r->k->nodes[n->args[1]];
    bool before = m->op == OP_STATE, after = n->args[1] == r->k->hook[HOOK_STATE];
    if (!before && !after) return fail(r, id, "a vector times a matrix other than the state");
    const Form *x = norm(r, n->args[0]);
    Form *f = x ? new_form(r) : NULL;
    if (!f) return NULL;
    const RecurCoef *c = NULL;
    int leaf = only_leaf(x, &c);
    if (before && leaf != L_K) return fail(r, id, "a product with the state other than k[t] @ S");
    if (after && leaf != L_Q) return fail(r, id, "an output other than q[t] @ S");
    f->c[before ? L_KS : L_QSN] = *c;
    return f;
}

static Form *norm_node(Rf *r, int32_t id)
{
    const AirNode *n = &r->k->nodes[id];
    Form *f;
    switch (n->op) {
    case OP_STATE:
        if (!(f = new_form(r))) return NULL;
        f->c[L_S] = (RecurCoef){1, {{.c = 1}}};
        return f;
    case OP_ROW: {
        const AirNode *at = &r->k->nodes[n->args[0]];
        if (at->op != OP_IDX || at->ref != IX_T) return fail(r, id, "a head vector at another step than t");
        if (!(f = new_form(r))) return NULL;
        int leaf = n->ref == r->k->tq ? L_Q : n->ref == r->k->tk ? L_K : L_V;
        f->c[leaf] = (RecurCoef){1, {{.c = 1}}};
        return f;
    }
    case OP_NEG: return scaled(r, id, n->args[0], -1, false, -1);
    case OP_MUL: {
        bool s0 = is_scalar(&r->k->nodes[n->args[0]]), s1 = is_scalar(&r->k->nodes[n->args[1]]);
        if (s0 == s1) return fail(r, id, "an element-wise product of vectors or matrices");
        return scaled(r, id, n->args[s0 ? 1 : 0], n->args[s0 ? 0 : 1], false, 1);
    }
    case OP_DIV:
        if (!is_scalar(&r->k->nodes[n->args[1]])) return fail(r, id, "an element-wise division");
        return scaled(r, id, n->args[0], n->args[1], true, 1);
    case OP_ADD: case OP_SUB: {
        const Form *x = norm(r, n->args[0]), *y = x ? norm(r, n->args[1]) : NULL;
        if (!y || !(f = new_form(r))) return NULL;
        *f = *x;
        if (x->rs >= 0 && y->rs >= 0 && x->rs != y->rs) return fail(r, id, "two per-key decays");
        if (y->rs >= 0) f->rs = y->rs;
        for (int l = 0; l < L_COUNT; l++)
            if (!coef_add(&f->c[l], &y->c[l], n->op == OP_SUB ? -1 : 1)) return fail(r, id, "too many terms");
        return f;
    }
    case OP_OUTER: return outer(r, id, n);
    case OP_VECMAT: return vecmat(r, id, n);
    case OP_ROWSCALE: {
        const Form *m = norm(r, n->args[1]);
        const RecurCoef *c = NULL;
        if (!m) return NULL;
        if (only_leaf(m, &c) != L_S) return fail(r, id, "diag(a) @ M with M not a multiple of the state");
        if (r->uses->node[n->args[0]].state || !elementwise(r->k, n->args[0]))
            return fail(r, n->args[0], "a per-key decay that is not element-wise in side tensors");
        if (!(f = new_form(r))) return NULL;
        f->c[L_RS] = *c;
        f->rs = n->args[0];
        return f;
    }
    default:
        return fail(r, id, is_scalar(n) ? "a scalar where a vector or matrix was expected"
                                         : "an operation outside the families' forms");
    }
}

static Form *norm(Rf *r, int32_t id)
{
    if (r->why) return NULL;
    if (!r->memo[id]) r->memo[id] = norm_node(r, id);
    return r->memo[id];
}

static void classify(Rf *r, const Form *u, const Form *o, RecurForm *f)
{
    const RecurCoef *c = NULL;
    int32_t st = r->k->hook[HOOK_STATE];
    if (only_leaf(o, &c) != L_QSN) {
        fail(r, r->k->hook[HOOK_OUT], "an output other than q[t] @ S times a scalar");
        return;
    }
    f->out = *c;
    if (u->c[L_KQ].n || u->c[L_KK].n) {
        fail(r, st, "a rank-one term outer(k[t], q[t]) or outer(k[t], k[t])");
        return;
    }
    bool vec = u->c[L_RS].n > 0;
    if (vec && u->c[L_S].n) {
        fail(r, st, "both a scalar and a per-key decay of the state");
        return;
    }
    if (vec && u->c[L_KKS].n) {
        fail(r, st, "a delta rule with a per-key decay");
        return;
    }
    f->family = u->c[L_KKS].n ? RECUR_DELTA : vec ? RECUR_DECAY_VEC : RECUR_DECAY;
    f->a = u->c[vec ? L_RS : L_S];
    f->a_vec = vec ? u->rs : -1;
    f->wv = u->c[L_KV];
    f->wu = u->c[L_KKS];
}

bool pass_recur_form(Arena *a, const AirKernel *k, RecurForm *f)
{
    memset(f, 0, sizeof *f);
    f->a_vec = -1;
    f->why = "";
    if (k->kind != KIND_RECURRENT || k->hook[HOOK_STATE] < 0 || k->hook[HOOK_OUT] < 0) {
        f->why = "not a recurrence";
        return true;
    }
    Rf r = {.a = a, .k = k, .uses = pass_uses(a, k)};
    r.memo = arena_alloc(a, sizeof(Form *) * ((size_t)k->nnodes + 1));
    if (!r.uses || !r.memo) return false;
    const Form *u = norm(&r, k->hook[HOOK_STATE]);
    const Form *o = u ? norm(&r, k->hook[HOOK_OUT]) : NULL;
    if (o) classify(&r, u, o, f);
    if (r.why) {
        f->family = RECUR_SCAN;
        f->why = r.why;
        f->why_loc = r.loc;
        return true;
    }
    return u && o;
}

const char *recur_family_name(RecurFamily f)
{
    switch (f) {
    case RECUR_DECAY: return "decay";
    case RECUR_DECAY_VEC: return "per-key decay";
    case RECUR_DELTA: return "delta rule";
    default: return "sequential scan";
    }
}

/* A factor as node ids ("%4"), or as the spec's text of the node when src is given. */
static char *factor_str(Arena *a, const RecurProd *p, int32_t x, const AirKernel *k, const Source *src)
{
    const char *inv = p->inv & (1u << x) ? "1/" : "";
    if (!src) return arena_printf(a, "%s%%%d", inv, p->f[x]);
    Loc l = k->nodes[p->f[x]].loc;
    if (l.end <= l.begin || l.end > src->len) return arena_printf(a, "%s(node %d)", inv, p->f[x]);
    return arena_printf(a, "%s%.*s", inv, (int)(l.end - l.begin), src->text + l.begin);
}

static char *coef_text(Arena *a, const RecurCoef *c, const AirKernel *k, const Source *src)
{
    if (!c->n) return "0";
    char *s = "";
    for (int32_t i = 0; i < c->n; i++) {
        const RecurProd *p = &c->t[i];
        char *t = p->n && p->c == 1 ? "" : arena_printf(a, "%g", p->c);
        for (int32_t x = 0; x < p->n && t; x++) {
            char *f = factor_str(a, p, x, k, src);
            t = f ? arena_printf(a, "%s%s%s", t, *t ? " * " : "", f) : NULL;
        }
        s = t ? arena_printf(a, "%s%s%s", s, i ? " + " : "", t) : NULL;
        if (!s) return NULL;
    }
    return s;
}

static char *coef_str(Arena *a, const RecurCoef *c)
{
    return coef_text(a, c, NULL, NULL);
}

char *recur_form_str(Arena *a, const RecurForm *f)
{
    if (f->family == RECUR_SCAN) return arena_printf(a, "recur sequential scan: %s", f->why);
    char *av = f->a_vec >= 0 ? arena_printf(a, " diag(%%%d)", f->a_vec) : "";
    return arena_printf(a, "recur %s: a = %s%s; w = %s * v + %s * (k @ S); o = %s * (q @ S)",
                        recur_family_name(f->family), coef_str(a, &f->a), av, coef_str(a, &f->wv),
                        coef_str(a, &f->wu), coef_str(a, &f->out));
}

char *recur_explain(Arena *a, const AirKernel *k, const RecurForm *f, const Source *src)
{
    if (f->family == RECUR_SCAN) {
        int line = 0, col = 0;
        source_line_col(src, f->why_loc.begin, &line, &col);
        return arena_printf(a, "recurrence: a sequential scan: %s (line %d, column %d); no family's "
                               "kernel applies\n", f->why, line, col);
    }
    char *av = "";
    if (f->a_vec >= 0) {
        Loc l = k->nodes[f->a_vec].loc;
        av = l.end > l.begin && l.end <= src->len
                 ? arena_printf(a, " * [%.*s]", (int)(l.end - l.begin), src->text + l.begin)
                 : " * (a vector)";
    }
    char *txt = arena_printf(a, "recurrence: %s, one step S = a * S + outer(k[t], w)\n"
                                "  a   = %s%s\n  w   = (%s) * v[t]",
                             recur_family_name(f->family), coef_text(a, &f->a, k, src), av,
                             coef_text(a, &f->wv, k, src));
    if (f->family == RECUR_DELTA)
        txt = arena_printf(a, "%s + (%s) * (k[t] @ S)", txt, coef_text(a, &f->wu, k, src));
    return arena_printf(a, "%s\n  o[t] = (%s) * (q[t] @ S)\n", txt, coef_text(a, &f->out, k, src));
}

bool pass_recur_check(const AirKernel *k, const RecurForm *f, const char *target, Diags *d)
{
    int roles[4] = {k->tq, k->tk, k->tv, k->to};
    for (int x = 1; x < 4; x++)
        if (k->tensors[roles[x]].dims[2].sym != k->tensors[k->tq].dims[2].sym) {
            diag_error_noloc(d, "tensor '%s' must have the same time dim (dim 2) as '%s'",
                             k->tensors[roles[x]].name, k->tensors[k->tq].name);
            diag_hint(d, "declare q, k, v and o over one length, e.g. [B, H, T, 128]");
            return false;
        }
    const RecurCoef *cs[4] = {&f->a, &f->wv, &f->wu, &f->out};
    for (int c = 0; c < 4; c++)
        for (int32_t i = 0; i < cs[c]->n; i++)
            for (int32_t x = 0; x < cs[c]->t[i].n; x++)
                if (!pass_hook_check_step(k, cs[c]->t[i].f[x], target, false, d)) return false;
    if (f->a_vec >= 0 && !pass_hook_check_step(k, f->a_vec, target, true, d)) return false;
    return true;
}
