/* air_verify.c: the invariants of AIR, checked after lowering and after every pass: operands
 * come before their users, arity and types follow the op table (air_ops kinds) and the rules
 * of the SPECIAL ops below, hooks have their types, the operator's tensors exist with
 * consistent shapes, and every reference is in range. Each violation is one diagnostic naming
 * the pass that produced the IR ("after pass_fold: ..."), at the node's source location. */
#include "air.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct V {
    const AirKernel *k;
    Diags *d;
    const char *pass;
    bool ok;
} V;

static void fail(V *v, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(V *v, Loc loc, const char *fmt, ...)
{
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    v->ok = false;
    if (v->pass) diag_error(v->d, loc, "after %s: %s", v->pass, buf);
    else diag_error(v->d, loc, "invalid AIR: %s", buf);
}

static bool is_num(AirType t) { return t.kind == TY_I32 || t.kind == TY_F32; }
static bool is_real(AirType t) { return is_num(t) || t.kind == TY_VEC || t.kind == TY_MAT; }

static void type_str(AirType t, char *buf, size_t n)
{
    static const char *const names[] = {"void", "bool", "i32", "f32", "f32", "f32"};
    const char *base = (unsigned)t.kind <= TY_MAT ? names[t.kind] : "?";
    if (t.kind == TY_VEC) snprintf(buf, n, "%s[%d]", base, t.rows);
    else if (t.kind == TY_MAT) snprintf(buf, n, "%s[%d, %d]", base, t.rows, t.cols);
    else snprintf(buf, n, "%s", base);
}

/* Element-wise ops broadcast scalars over one vector or matrix shape; all non-scalar operands
 * must agree. Returns the result type, or TY_VOID when the operands do not combine. */
static AirType broadcast(const AirNode *n, const AirNode *nodes, bool keep_int)
{
    AirType r = {keep_int ? TY_I32 : TY_F32, 0, 0};
    for (int32_t a = 0; a < n->nargs; a++) {
        AirType t = nodes[n->args[a]].ty;
        if (!is_real(t)) return air_scalar(TY_VOID);
        if (t.kind == TY_F32) {
            if (r.kind == TY_I32) r.kind = TY_F32;
        } else if (t.kind == TY_VEC || t.kind == TY_MAT) {
            if ((r.kind == TY_VEC || r.kind == TY_MAT) && !air_type_eq(r, t))
                return air_scalar(TY_VOID);
            r = t;
        }
    }
    return r;
}

static AirType tensor_row_type(const AirKernel *k, int32_t t)
{
    const AirTensor *tt = &k->tensors[t];
    int64_t last = tt->rank > 0 && tt->dims[tt->rank - 1].sym < 0 ? tt->dims[tt->rank - 1].size : 0;
    return (AirType){TY_VEC, (int32_t)last, 0};
}

/* The result type of node `id` by its op's rule; TY_VOID with *why set when ill-typed. */
static AirType expected_type(V *v, int32_t id, const char **why)
{
    const AirKernel *k = v->k;
    const AirNode *n = &k->nodes[id], *nodes = k->nodes;
    AirType x = n->nargs > 0 ? nodes[n->args[0]].ty : air_scalar(TY_VOID);
    AirType y = n->nargs > 1 ? nodes[n->args[1]].ty : air_scalar(TY_VOID);
    AirType bad = air_scalar(TY_VOID);
    switch (air_ops[n->op].kind) {
    case OPK_LEAF:
        switch (n->op) {
        case OP_CONST:
            if (n->ty.kind != TY_BOOL && n->ty.kind != TY_I32 && n->ty.kind != TY_F32)
                return *why = "a constant is bool, i32 or f32", bad;
            if (n->ty.kind == TY_BOOL && n->num != 0 && n->num != 1)
                return *why = "a bool constant is 0 or 1", bad;
            if (n->ty.kind == TY_F32 && !isnan(n->num) && (double)(float)n->num != n->num)
                return *why = "an f32 constant must be exact in f32", bad;
            if (n->ty.kind == TY_I32 && n->num != (double)(int32_t)n->num)
                return *why = "an i32 constant must be an integer in i32 range", bad;
            return n->ty;
        case OP_IDX:
            if ((unsigned)n->ref >= IX_COUNT) return *why = "index variable out of range", bad;
            return air_scalar(TY_I32);
        case OP_DIM:
            if (n->ref < 0 || n->ref >= k->nsyms) return *why = "symbol out of range", bad;
            return air_scalar(TY_I32);
        case OP_PARAM:
            if (n->ref < 0 || n->ref >= k->nparams) return *why = "param out of range", bad;
            return air_scalar(k->params[n->ref].type == PARAM_F32  ? TY_F32
                              : k->params[n->ref].type == PARAM_I32 ? TY_I32 : TY_BOOL);
        case OP_RVAR:
            if (n->ref <= id || n->ref >= k->nnodes || nodes[n->ref].op != OP_SUM)
                return *why = "rvar must name a later sum node", bad;
            return air_scalar(TY_I32);
        case OP_STATE:
            if (k->kind != KIND_RECURRENT) return *why = "state outside a recurrence", bad;
            return (AirType){TY_MAT, k->state_rows, k->state_cols};
        default: return air_scalar(n->op == OP_BLOCK ? TY_I32 : TY_F32);  /* SCORE, QK */
        }
    case OPK_UN_F: case OPK_BIN_F: {
        AirType r = broadcast(n, nodes, false);
        if (r.kind == TY_VOID) return *why = "operands must be numbers of one shape", bad;
        return r;
    }
    case OPK_ARITH: {
        AirType r = broadcast(n, nodes, true);
        if (r.kind == TY_VOID) return *why = "operands must be numbers of one shape", bad;
        return r;
    }
    case OPK_CMP:
        if (!is_num(x) || !is_num(y)) return *why = "comparison of non-scalars", bad;
        return air_scalar(TY_BOOL);
    case OPK_LOGIC:
        for (int32_t a = 0; a < n->nargs; a++)
            if (nodes[n->args[a]].ty.kind != TY_BOOL) return *why = "logic on non-bool", bad;
        return air_scalar(TY_BOOL);
    case OPK_SPECIAL: break;
    }
    switch (n->op) {
    case OP_LOAD: {
        if (n->ref < 0 || n->ref >= k->ntensors) return *why = "load of an unknown tensor", bad;
        const AirTensor *t = &k->tensors[n->ref];
        if (t->role != ROLE_SIDE || t->is_output) return *why = "load reads side tensors only", bad;
        for (int32_t a = 0; a < n->nargs; a++)
            if (nodes[n->args[a]].ty.kind != TY_I32) return *why = "tensor index is not i32", bad;
        if (n->nargs == t->rank) return air_scalar(t->dtype == DT_I32 ? TY_I32 : TY_F32);
        if (n->nargs == t->rank - 1 && t->dtype != DT_I32) {
            AirType r = tensor_row_type(k, n->ref);
            if (r.rows <= 0) return *why = "vector load needs a fixed last dim", bad;
            return r;
        }
        return *why = "load needs one index per dim (or one fewer, for a vector)", bad;
    }
    case OP_ROW: case OP_BLOCKMEAN: {
        int32_t t = n->op == OP_BLOCKMEAN && n->ref < 0 ? k->tk : n->ref;
        if (t < 0 || t >= k->ntensors) return *why = "row of an unknown tensor", bad;
        AirRole r = k->tensors[t].role;
        if (r != ROLE_Q && r != ROLE_K && r != ROLE_V) return *why = "row reads q, k or v", bad;
        if (n->op == OP_BLOCKMEAN && r != ROLE_K) return *why = "blockmean reads k", bad;
        if (x.kind != TY_I32) return *why = "position is not i32", bad;
        return (AirType){TY_VEC, r == ROLE_V ? k->dv : k->dk, 0};
    }
    case OP_TOF32:
        if (x.kind != TY_I32) return *why = "tof32 takes an i32", bad;
        return air_scalar(TY_F32);
    case OP_TOI32:
        if (x.kind != TY_F32) return *why = "toi32 takes an f32", bad;
        return air_scalar(TY_I32);
    case OP_SELECT: {
        if (x.kind != TY_BOOL) return *why = "select condition is not bool", bad;
        AirType a = y, b = nodes[n->args[2]].ty;
        if (air_type_eq(a, b)) return a;
        if (is_num(a) && is_num(b)) return air_scalar(TY_F32);
        return *why = "select arms differ in type", bad;
    }
    case OP_DOT:
        if (x.kind != TY_VEC || !air_type_eq(x, y)) return *why = "dot of vectors of one size", bad;
        return air_scalar(TY_F32);
    case OP_OUTER:
        if (x.kind != TY_VEC || y.kind != TY_VEC) return *why = "outer of two vectors", bad;
        return (AirType){TY_MAT, x.rows, y.rows};
    case OP_VECMAT:
        if (x.kind != TY_VEC || y.kind != TY_MAT || x.rows != y.rows)
            return *why = "vecmat of vec[m] and mat[m, n]", bad;
        return (AirType){TY_VEC, y.cols, 0};
    case OP_MATVEC:
        if (x.kind != TY_MAT || y.kind != TY_VEC || x.cols != y.rows)
            return *why = "matvec of mat[m, n] and vec[n]", bad;
        return (AirType){TY_VEC, x.rows, 0};
    case OP_ROWSCALE:
        if (x.kind != TY_VEC || y.kind != TY_MAT || x.rows != y.rows)
            return *why = "rowscale of vec[m] and mat[m, n]", bad;
        return y;
    case OP_COLSCALE:
        if (x.kind != TY_MAT || y.kind != TY_VEC || x.cols != y.rows)
            return *why = "colscale of mat[m, n] and vec[n]", bad;
        return x;
    case OP_DIAG:
        if (x.kind != TY_VEC) return *why = "diag of a vector", bad;
        return (AirType){TY_MAT, x.rows, x.rows};
    case OP_SQNORM:
        if (x.kind != TY_VEC) return *why = "sqnorm of a vector", bad;
        return air_scalar(TY_F32);
    case OP_SUM:
        if (!(n->num >= 0) || n->num != floor(n->num)) return *why = "sum trip count", bad;
        if (!is_real(x)) return *why = "sum of a non-number", bad;
        return x;
    default: return *why = "unknown op", bad;
    }
}

static void check_nodes(V *v)
{
    const AirKernel *k = v->k;
    if (k->nnodes < 0 || k->nnodes > k->capnodes || (k->nnodes && !k->nodes)) {
        fail(v, (Loc){0, 0}, "node pool is inconsistent (%d nodes, capacity %d)", k->nnodes,
             k->capnodes);
        return;
    }
    for (int32_t id = 0; id < k->nnodes; id++) {
        const AirNode *n = &k->nodes[id];
        if ((unsigned)n->op >= OP_COUNT) {
            fail(v, n->loc, "%%%d has an unknown op %d", id, (int)n->op);
            continue;
        }
        const AirOpInfo *info = &air_ops[n->op];
        if (info->arity >= 0 ? n->nargs != info->arity : (n->nargs < 0 || n->nargs > AIR_MAX_ARGS)) {
            fail(v, n->loc, "%%%d: %s takes %d operands, has %d", id, info->name, info->arity,
                 n->nargs);
            continue;
        }
        bool order = true;
        for (int32_t a = 0; a < n->nargs; a++)
            if (n->args[a] < 0 || n->args[a] >= id) {
                fail(v, n->loc, "%%%d: operand %%%d is not defined before its use", id, n->args[a]);
                order = false;
            }
        if (!order) continue;
        const char *why = NULL;
        AirType want = expected_type(v, id, &why);
        if (why) {
            fail(v, n->loc, "%%%d = %s: %s", id, info->name, why);
        } else if (!air_type_eq(want, n->ty)) {
            char w[48], h[48];
            type_str(want, w, sizeof w);
            type_str(n->ty, h, sizeof h);
            fail(v, n->loc, "%%%d = %s has type %s, its operands give %s", id, info->name, h, w);
        }
    }
}

static void check_hooks(V *v)
{
    const AirKernel *k = v->k;
    for (int h = 0; h < HOOK_COUNT; h++) {
        int32_t r = k->hook[h];
        if (r < 0) continue;
        if (r >= k->nnodes) {
            fail(v, (Loc){0, 0}, "hook %s names %%%d, past the last node", air_hook_names[h], r);
            continue;
        }
        AirType want = h == HOOK_MASK ? air_scalar(TY_BOOL)
                     : h == HOOK_STATE ? (AirType){TY_MAT, k->state_rows, k->state_cols}
                     : h == HOOK_OUT   ? (AirType){TY_VEC, k->dv, 0}
                                       : air_scalar(TY_F32);
        if (!air_type_eq(want, k->nodes[r].ty)) {
            char w[48], got[48];
            type_str(want, w, sizeof w);
            type_str(k->nodes[r].ty, got, sizeof got);
            fail(v, k->nodes[r].loc, "hook %s must be %s, is %s", air_hook_names[h], w, got);
        }
    }
    bool rec = k->kind == KIND_RECURRENT;
    if (rec && (k->hook[HOOK_STATE] < 0 || k->hook[HOOK_OUT] < 0))
        fail(v, (Loc){0, 0}, "a recurrence needs the state and out hooks");
    if (rec && (k->hook[HOOK_MASK] >= 0 || k->hook[HOOK_SCORE] >= 0 || k->sel.kind != SEL_NONE))
        fail(v, (Loc){0, 0}, "a recurrence has no mask, score or selector");
    if (rec && (k->state_rows <= 0 || k->state_cols <= 0))
        fail(v, (Loc){0, 0}, "a recurrence needs a state shape");
    if (!rec && (k->hook[HOOK_STATE] >= 0 || k->hook[HOOK_OUT] >= 0))
        fail(v, (Loc){0, 0}, "state and out hooks belong to recurrences");
    bool given = k->sel.kind != SEL_NONE && k->sel.given;
    if ((k->sel.kind != SEL_NONE && !given) != (k->hook[HOOK_SELECT] >= 0))
        fail(v, (Loc){0, 0}, given ? "a given selector (from a tensor) has no select hook"
                                   : "a selector and its select hook go together");
    if (given && (k->sel.keep_own || k->sel.shared))
        fail(v, (Loc){0, 0}, "a given selector has no 'own' or 'shared'");
    if (given && k->tselin < 0) fail(v, (Loc){0, 0}, "a given selector needs a tensor with role sel_in");
    if (k->sel.kind != SEL_NONE && (k->sel.topk <= 0 || (k->sel.kind == SEL_BLOCKS && k->sel.block <= 0)))
        fail(v, (Loc){0, 0}, "selector sizes must be positive");
}

static bool same_dim(AirDim a, AirDim b)
{
    return a.sym == b.sym && (a.sym >= 0 || a.size == b.size);
}

/* A selector's selected or given indices (tensor t, or none when -1): i32[B, Hq, Lq, topk]. */
static void check_sel_tensor(V *v, int32_t t, const char *what)
{
    const AirKernel *k = v->k;
    if (t < 0) return;
    const AirTensor *s = &k->tensors[t], *q = &k->tensors[k->tq];
    if (k->kind != KIND_SOFTMAX || k->sel.kind == SEL_NONE)
        fail(v, (Loc){0, 0}, "tensor %s: %s indices need a selector", s->name, what);
    bool dims_ok = s->rank == 4;
    for (int d = 0; dims_ok && d < 3; d++) dims_ok = same_dim(s->dims[d], q->dims[d]);
    if (!dims_ok || s->dtype != DT_I32 || s->dims[3].sym >= 0 || s->dims[3].size != k->sel.topk)
        fail(v, (Loc){0, 0}, "%s indices %s must be i32[B, Hq, Lq, %d]", what, s->name, k->sel.topk);
}

static void check_tensors(V *v)
{
    const AirKernel *k = v->k;
    Loc none = {0, 0};
    if (k->ntensors < 0 || k->ntensors > 16) {
        fail(v, none, "%d tensors (at most 16)", k->ntensors);
        return;
    }
    for (int32_t t = 0; t < k->ntensors; t++) {
        const AirTensor *tt = &k->tensors[t];
        if (tt->rank < 0 || tt->rank > AIR_MAX_RANK) fail(v, none, "tensor %s has rank %d", tt->name, tt->rank);
        if ((unsigned)tt->dtype >= DT_F64) fail(v, none, "tensor %s has a bad dtype", tt->name);
        for (int32_t d = 0; d < tt->rank && d < AIR_MAX_RANK; d++)
            if (tt->dims[d].sym >= k->nsyms || (tt->dims[d].sym < 0 && tt->dims[d].size <= 0))
                fail(v, none, "tensor %s dim %d is neither a symbol nor a positive size", tt->name, d);
        bool out_role = tt->role == ROLE_O || tt->role == ROLE_LSE || tt->role == ROLE_STATE_OUT ||
                        tt->role == ROLE_SEL_OUT;
        if (out_role != tt->is_output)
            fail(v, none, "tensor %s: only o, lse, a final state and selected indices are outputs", tt->name);
    }
    const struct { int32_t id; AirRole role; const char *name; int rank; } req[] = {
        {k->tq, ROLE_Q, "q", 4}, {k->tk, ROLE_K, "k", 4}, {k->tv, ROLE_V, "v", 4},
        {k->to, ROLE_O, "o", 4}, {k->tlse, ROLE_LSE, "lse", 3}};
    for (int r = 0; r < 5; r++) {
        if (req[r].id == -1 && req[r].role == ROLE_LSE) continue;
        if (req[r].id < 0 || req[r].id >= k->ntensors) {
            fail(v, none, "the %s tensor is missing", req[r].name);
            return;
        }
        const AirTensor *tt = &k->tensors[req[r].id];
        if (tt->role != req[r].role || tt->rank != req[r].rank) {
            fail(v, none, "tensor %s must have role %s and rank %d", tt->name, req[r].name, req[r].rank);
            return;
        }
    }
    for (int32_t t = 0; t < k->ntensors; t++) {
        AirRole r = k->tensors[t].role;
        int32_t want = r == ROLE_Q ? k->tq : r == ROLE_K ? k->tk : r == ROLE_V ? k->tv
                     : r == ROLE_O ? k->to : r == ROLE_LSE ? k->tlse : r == ROLE_STATE_IN ? k->tsin
                     : r == ROLE_STATE_OUT ? k->tsout : r == ROLE_SEL_OUT ? k->tselout
                     : r == ROLE_SEL_IN ? k->tselin : t;
        if (want != t) fail(v, none, "a second tensor with role %s: %s", air_role_names[r], k->tensors[t].name);
    }
    const AirDim *q = k->tensors[k->tq].dims, *kk = k->tensors[k->tk].dims;
    const AirDim *vv = k->tensors[k->tv].dims, *o = k->tensors[k->to].dims;
    struct { AirDim a, b; const char *what; } eq[] = {
        {q[0], kk[0], "q and k batch"}, {q[0], vv[0], "q and v batch"}, {q[0], o[0], "q and o batch"},
        {q[1], o[1], "q and o heads"}, {kk[1], vv[1], "k and v heads"}, {q[2], o[2], "q and o length"},
        {kk[2], vv[2], "k and v length"}, {q[3], kk[3], "q and k head dim"}, {vv[3], o[3], "v and o head dim"}};
    for (size_t e = 0; e < sizeof eq / sizeof eq[0]; e++)   /* a recurrence's heads may differ */
        if (!same_dim(eq[e].a, eq[e].b) && !(k->kind == KIND_RECURRENT && (e == 3 || e == 4)))
            fail(v, none, "%s differ", eq[e].what);
    if (q[3].sym >= 0 || q[3].size != k->dk) fail(v, none, "q's head dim must be the fixed dk = %d", k->dk);
    if (vv[3].sym >= 0 || vv[3].size != k->dv) fail(v, none, "v's head dim must be the fixed dv = %d", k->dv);
    if (k->tlse >= 0) {
        const AirTensor *l = &k->tensors[k->tlse];
        for (int d = 0; d < 3; d++)
            if (!same_dim(l->dims[d], q[d])) fail(v, none, "lse must be [B, Hq, Lq]");
        if (l->dtype != DT_F32) fail(v, none, "lse is f32");
    }
    int32_t st[2] = {k->tsin, k->tsout};
    for (int x = 0; x < 2; x++) {   /* a recurrence's initial and final state: f32[B, Hq, Dk, Dv] */
        if (st[x] < 0) continue;
        const AirTensor *s = &k->tensors[st[x]];
        if (k->kind != KIND_RECURRENT) fail(v, none, "tensor %s: a state tensor needs a recurrence", s->name);
        if (s->rank != 4 || s->dtype != DT_F32 || !same_dim(s->dims[0], q[0]) || !same_dim(s->dims[1], o[1]) ||
            s->dims[2].sym >= 0 || s->dims[2].size != k->state_rows || s->dims[3].sym >= 0 ||
            s->dims[3].size != k->state_cols)
            fail(v, none, "state tensor %s must be f32[B, Hq, %d, %d]", s->name, k->state_rows, k->state_cols);
    }
    check_sel_tensor(v, k->tselout, "selected");   /* a selector's kept indices */
    check_sel_tensor(v, k->tselin, "given");       /* a given selector's indices */
    if (k->tselin >= 0 && k->sel.kind != SEL_NONE && !k->sel.given)
        fail(v, none, "tensor %s: given indices need a selector 'from' them", k->tensors[k->tselin].name);
}

bool air_verify(const AirKernel *k, Diags *d, const char *after_pass)
{
    V v = {k, d, after_pass, true};
    if (k->nparams > 32 || k->nsyms > 16) fail(&v, (Loc){0, 0}, "too many params or symbols");
    check_tensors(&v);
    check_nodes(&v);
    check_hooks(&v);
    return v.ok;
}
