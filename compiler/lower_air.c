/* lower_air.c: the checked AST to AIR. Each hook becomes a node program in the kernel's pool:
 * fns and lets are inlined, consts and fixed dims folded to CONST, implicit i32 -> f32
 * conversions made explicit (TOF32), and the operator's vectors become ROW, BLOCKMEAN and
 * LOAD nodes. Types are recomputed from the operands' nodes, because a fn body is one AST
 * shared by calls with different argument types. Requires a successful sema_check. */
#include "frontend.h"

#include <math.h>
#include <string.h>

typedef struct Lower {
    Arena *a;
    Diags *d;
    AirKernel *k;
    const int32_t *args;     /* node ids of the current fn call's arguments */
    int hook;                /* the hook being lowered */
    const Expr *open[SEMA_MAX_SUMS * 4];  /* sums being lowered; an RVAR of open[k] carries
                                             ref = -2 - k until its SUM node exists */
    int nopen;
    int nesting;             /* lower() calls in progress */
    int32_t *depth;          /* per node: its depth in the DAG (0 for a leaf not yet counted) */
    int32_t capdepth;
    bool too_deep;           /* reported: every later call fails quietly */
} Lower;

/* Each hook's DAG is kept within ATTN_MAX_EXPR_DEPTH, the bound that every later stage's
 * recursion relies on. A let or fn use counts its body's depth where it is used. */
static bool report_too_deep(Lower *l, Loc loc)
{
    if (!l->too_deep) {
        diag_error(l->d, loc, "expression nested too deeply once lets and fns are expanded "
                              "(more than %d levels)", ATTN_MAX_EXPR_DEPTH);
        diag_hint(l->d, "each use of a let or fn counts its body's depth where it is used");
    }
    l->too_deep = true;
    return false;
}

static int32_t depth_of(const Lower *l, int32_t id)
{
    return id < l->capdepth && l->depth[id] > 0 ? l->depth[id] : 1;
}

/* Records node id's depth; false (reported) when it is over the bound. */
static bool note_depth(Lower *l, int32_t id, int32_t depth, Loc loc)
{
    if (id >= l->capdepth) {
        int32_t ncap = l->capdepth ? l->capdepth : 256;
        while (ncap <= id) ncap *= 2;
        int32_t *np = arena_realloc(l->a, l->depth, sizeof *np * (size_t)l->capdepth,
                                    sizeof *np * (size_t)ncap);
        if (!np) return false;
        l->depth = np;
        l->capdepth = ncap;
    }
    l->depth[id] = depth;
    return depth <= ATTN_MAX_EXPR_DEPTH || report_too_deep(l, loc);
}

static const AirType T_BOOL = {TY_BOOL, 0, 0}, T_I32 = {TY_I32, 0, 0}, T_F32 = {TY_F32, 0, 0};

static int32_t emit(Lower *l, AirOp op, AirType ty, Loc loc, int nargs, const int32_t *args)
{
    AirNode n = {.op = op, .ty = ty, .nargs = nargs, .ref = -1, .loc = loc};
    int32_t depth = 0;
    for (int k = 0; k < nargs; k++) {
        if (args[k] < 0) return -1;
        n.args[k] = args[k];
        if (depth_of(l, args[k]) > depth) depth = depth_of(l, args[k]);
    }
    int32_t id = air_add(l->a, l->k, n);
    if (id >= 0 && !note_depth(l, id, depth + 1, loc)) return -1;
    return id;
}

static int32_t leaf(Lower *l, AirOp op, AirType ty, int32_t ref, Loc loc)
{
    AirNode n = {.op = op, .ty = ty, .ref = ref, .loc = loc};
    return air_add(l->a, l->k, n);
}

static int32_t konst(Lower *l, AirTypeKind t, double v, Loc loc)
{
    int32_t id = t == TY_BOOL ? air_const_bool(l->a, l->k, v != 0) :
                 t == TY_I32 ? air_const_i32(l->a, l->k, (int64_t)v) :
                               air_const_f32(l->a, l->k, v);
    if (id >= 0) l->k->nodes[id].loc = loc;
    return id;
}

static AirType ty_of(Lower *l, int32_t id) { return id >= 0 ? l->k->nodes[id].ty : T_F32; }

/* An i32 scalar where an f32 is wanted gets an explicit TOF32. */
static int32_t to_f32(Lower *l, int32_t id)
{
    if (id < 0 || ty_of(l, id).kind != TY_I32) return id;
    return emit(l, OP_TOF32, T_F32, l->k->nodes[id].loc, 1, &id);
}

/* Brings two numeric operands to one scalar type (f32 unless both are i32). */
static void unify(Lower *l, int32_t *x, int32_t *y)
{
    if (ty_of(l, *x).kind == TY_I32 && ty_of(l, *y).kind == TY_I32) return;
    *x = to_f32(l, *x);
    *y = to_f32(l, *y);
}

static int32_t lower(Lower *l, const Expr *e);

static int32_t lower_arith(Lower *l, AirOp op, int32_t x, int32_t y, Loc loc)
{
    AirType tx = ty_of(l, x), ty = ty_of(l, y);
    bool vx = tx.kind == TY_VEC || tx.kind == TY_MAT, vy = ty.kind == TY_VEC || ty.kind == TY_MAT;
    if (vx || vy) {
        x = to_f32(l, x);
        y = to_f32(l, y);
    } else {
        unify(l, &x, &y);
    }
    AirType rt = vx ? tx : vy ? ty : ty_of(l, x);
    int32_t a[2] = {x, y};
    return emit(l, op, rt, loc, 2, a);
}

static int32_t lower_binary(Lower *l, const Expr *e)
{
    int32_t a[2] = {lower(l, e->a), lower(l, e->b)};
    if (a[0] < 0 || a[1] < 0) return -1;
    switch (e->op) {
    case OPR_AND: case OPR_OR: return emit(l, ast_air_op(e->op), T_BOOL, e->loc, 2, a);
    case OPR_LT: case OPR_LE: case OPR_GT: case OPR_GE: case OPR_EQ: case OPR_NE:
        unify(l, &a[0], &a[1]);
        return emit(l, ast_air_op(e->op), T_BOOL, e->loc, 2, a);
    case OPR_POW:
        a[0] = to_f32(l, a[0]);
        a[1] = to_f32(l, a[1]);
        return emit(l, OP_POW, T_F32, e->loc, 2, a);
    case OPR_MATMUL: {
        AirType x = ty_of(l, a[0]), y = ty_of(l, a[1]);
        if (x.kind == TY_MAT && y.kind == TY_MAT) {
            /* sema let a matrix product through only with diag(v) on one side: scale rows
             * or columns by v; the DIAG node is left dead for pass_fold to drop. */
            bool rows = sema_is_diag(e->a);
            if (l->k->nodes[a[rows ? 0 : 1]].op != OP_DIAG)
                ATTN_BUG("matrix product without a diag operand reached lowering");
            if (rows) {
                int32_t r[2] = {l->k->nodes[a[0]].args[0], a[1]};
                return emit(l, OP_ROWSCALE, y, e->loc, 2, r);
            }
            int32_t c[2] = {a[0], l->k->nodes[a[1]].args[0]};
            return emit(l, OP_COLSCALE, x, e->loc, 2, c);
        }
        if (x.kind == TY_VEC) return emit(l, OP_VECMAT, (AirType){TY_VEC, y.cols, 0}, e->loc, 2, a);
        return emit(l, OP_MATVEC, (AirType){TY_VEC, x.rows, 0}, e->loc, 2, a);
    }
    default: return lower_arith(l, ast_air_op(e->op), a[0], a[1], e->loc);
    }
}

static int32_t lower_select(Lower *l, const Expr *c, const Expr *x, const Expr *y, Loc loc)
{
    int32_t a[3] = {lower(l, c), lower(l, x), lower(l, y)};
    if (a[0] < 0 || a[1] < 0 || a[2] < 0) return -1;
    unify(l, &a[1], &a[2]);
    return emit(l, OP_SELECT, ty_of(l, a[1]), loc, 3, a);
}

static int32_t lower_builtin(Lower *l, const Expr *e)
{
    const SemaBuiltin *b = &sema_builtins[e->builtin];
    if (b->kind == BK_SELECT)
        return lower_select(l, e->args.items[0], e->args.items[1], e->args.items[2], e->loc);
    if (b->kind == BK_MEAN) {
        int32_t blk = leaf(l, OP_BLOCK, T_I32, -1, e->args.items[0]->args.items[0]->loc);
        int32_t id = emit(l, OP_BLOCKMEAN, (AirType){TY_VEC, l->k->dk, 0}, e->loc, 1, &blk);
        if (id >= 0) l->k->nodes[id].ref = l->k->tk;
        return id;
    }
    int32_t a[3];
    for (int k = 0; k < b->arity; k++)
        if ((a[k] = lower(l, e->args.items[k])) < 0) return -1;
    AirType t0 = ty_of(l, a[0]);
    switch (b->kind) {
    case BK_UNF:
        a[0] = to_f32(l, a[0]);
        return emit(l, b->op, t0.kind == TY_I32 ? T_F32 : t0, e->loc, 1, a);
    case BK_ARITH1: return emit(l, b->op, t0, e->loc, 1, a);
    case BK_MINMAX: return lower_arith(l, b->op, a[0], a[1], e->loc);
    case BK_POW:
        a[0] = to_f32(l, a[0]);
        a[1] = to_f32(l, a[1]);
        return emit(l, OP_POW, T_F32, e->loc, 2, a);
    case BK_CLAMP: {
        int32_t lo = lower_arith(l, OP_MAX, a[0], a[1], e->loc);
        return lower_arith(l, OP_MIN, lo, a[2], e->loc);
    }
    case BK_FLOAT: return to_f32(l, a[0]);
    case BK_INT: return t0.kind == TY_I32 ? a[0] : emit(l, OP_TOI32, T_I32, e->loc, 1, a);
    case BK_DOT: case BK_SQNORM: return emit(l, b->op, T_F32, e->loc, b->arity, a);
    case BK_OUTER:
        return emit(l, OP_OUTER, (AirType){TY_MAT, t0.rows, ty_of(l, a[1]).rows}, e->loc, 2, a);
    case BK_DIAG: return emit(l, OP_DIAG, (AirType){TY_MAT, t0.rows, t0.rows}, e->loc, 1, a);
    default: ATTN_BUG("builtin %s reached lowering unchecked", b->name);
    }
}

/* A let's or fn's body, lowered once per hook and argument nodes: later uses share its node. */
static int32_t lower_body(Lower *l, Decl *d, const int32_t *args, int32_t nargs)
{
    for (const BodyMemo *m = d->lower_memo; m; m = m->next) {
        if (m->key != l->hook || m->nargs != nargs) continue;
        const int32_t *ma = m->args;
        int32_t k = 0;
        while (k < nargs && ma[k] == args[k]) k++;
        if (k == nargs) return m->node;
    }
    const int32_t *save = l->args;
    l->args = args;
    l->nesting--;   /* the body takes the place of the name or call that uses it */
    int32_t id = lower(l, d->expr);
    l->nesting++;
    l->args = save;
    BodyMemo *m = arena_alloc(l->a, sizeof *m);
    if (id < 0 || !m) return -1;
    *m = (BodyMemo){.next = d->lower_memo, .key = l->hook, .nargs = nargs, .args = args,
                    .node = id};
    d->lower_memo = m;
    return id;
}

static int32_t lower_call(Lower *l, const Expr *e)
{
    if (e->builtin >= 0) return lower_builtin(l, e);
    int32_t *args = arena_alloc(l->a, sizeof *args * (size_t)(e->args.count + 1));
    if (!args) return -1;
    for (int32_t k = 0; k < e->args.count; k++)
        if ((args[k] = lower(l, e->args.items[k])) < 0) return -1;
    return lower_body(l, e->decl, args, e->args.count);
}

/* sum(r < n: e): the body's RVARs point at the SUM node, which is added after them. */
static int32_t lower_sum(Lower *l, const Expr *e)
{
    if (l->nopen == (int)(sizeof l->open / sizeof l->open[0])) return -1;
    int32_t first = l->k->nnodes, mark = -2 - l->nopen;
    l->open[l->nopen++] = e;
    int32_t body = lower(l, e->b);
    l->nopen--;
    if (body < 0) return -1;
    AirNode n = {.op = OP_SUM, .ty = ty_of(l, body), .nargs = 1, .args = {body}, .num = e->num,
                 .loc = e->loc};
    int32_t id = air_add(l->a, l->k, n);
    if (id < 0) return -1;
    for (int32_t k = first; k < id; k++)
        if (l->k->nodes[k].op == OP_RVAR && l->k->nodes[k].ref == mark) l->k->nodes[k].ref = id;
    return id;
}

static int32_t lower_name(Lower *l, const Expr *e)
{
    Decl *d = e->decl;
    switch (e->ref) {
    case REF_INDEX: return leaf(l, OP_IDX, T_I32, e->ref_id, e->loc);
    case REF_DIM:
        return e->ref_id >= 0 ? leaf(l, OP_DIM, T_I32, e->ref_id, e->loc) :
                                konst(l, TY_I32, (double)e->ref_size, e->loc);
    case REF_PARAM: return leaf(l, OP_PARAM, d->const_ty, d->id, e->loc);
    case REF_CONST: return konst(l, d->const_ty.kind, d->const_val, e->loc);
    case REF_LET: return lower_body(l, d, NULL, 0);
    case REF_FNPARAM: return l->args[e->ref_id];
    case REF_SCORE: return leaf(l, OP_SCORE, T_F32, -1, e->loc);
    case REF_QK: return leaf(l, OP_QK, T_F32, -1, e->loc);
    case REF_INF: return konst(l, TY_F32, INFINITY, e->loc);
    case REF_BLOCK: return leaf(l, OP_BLOCK, T_I32, -1, e->loc);
    case REF_RVAR:
        for (int k = l->nopen - 1; k >= 0; k--)
            if (l->open[k] == e->binder) return leaf(l, OP_RVAR, T_I32, -2 - k, e->loc);
        ATTN_BUG("sum variable '%s' outside its sum", e->name);
    case REF_STATE:
        /* STATE is the state before the step; `o[t] = e` reads the state after it, which is
         * the update's own node (docs/language.md section 10, air_eval's convention). */
        if (l->hook == HOOK_OUT) return l->k->hook[HOOK_STATE];
        return leaf(l, OP_STATE, (AirType){TY_MAT, l->k->state_rows, l->k->state_cols}, -1, e->loc);
    default: ATTN_BUG("name '%s' reached lowering unresolved", e->name);
    }
}

static int32_t lower_index(Lower *l, const Expr *e)
{
    int32_t t = e->decl->id;
    const AirTensor *tt = &l->k->tensors[t];
    int32_t a[AIR_MAX_ARGS];
    for (int32_t k = 0; k < e->args.count; k++)
        if ((a[k] = lower(l, e->args.items[k])) < 0) return -1;
    int32_t id;
    if (tt->role == ROLE_Q || tt->role == ROLE_K || tt->role == ROLE_V) {
        AirType vt = {TY_VEC, tt->role == ROLE_V ? l->k->dv : l->k->dk, 0};
        id = emit(l, OP_ROW, vt, e->loc, 1, a);
    } else {
        AirType st = e->args.count < tt->rank ? (AirType){TY_VEC, (int32_t)tt->dims[tt->rank - 1].size, 0} :
                     tt->dtype == DT_I32 ? T_I32 : T_F32;
        id = emit(l, OP_LOAD, st, e->loc, e->args.count, a);
    }
    if (id >= 0) l->k->nodes[id].ref = t;
    return id;
}

static int32_t lower_expr(Lower *l, const Expr *e);

/* sema bounded the expansion it checked; this guard keeps lowering within the stack whatever
 * reaches it. */
static int32_t lower(Lower *l, const Expr *e)
{
    /* out of memory: stop at once (a failed let is not memoised, and re-lowering it at each of
     * its uses would cost the expansion's size) */
    if (l->too_deep || l->a->oom) return -1;
    if (l->nesting >= ATTN_MAX_EXPR_DEPTH) {
        report_too_deep(l, e->loc);
        return -1;
    }
    l->nesting++;
    int32_t id = lower_expr(l, e);
    l->nesting--;
    return id;
}

static int32_t lower_expr(Lower *l, const Expr *e)
{
    switch (e->kind) {
    case EX_INT: return konst(l, TY_I32, e->num, e->loc);
    case EX_FLOAT: return konst(l, TY_F32, e->num, e->loc);
    case EX_BOOL: return konst(l, TY_BOOL, e->num, e->loc);
    case EX_NAME: return lower_name(l, e);
    case EX_UNARY: {
        int32_t x = lower(l, e->a);
        return emit(l, e->op == OPR_NOT ? OP_NOT : OP_NEG, ty_of(l, x), e->loc, 1, &x);
    }
    case EX_BINARY: return lower_binary(l, e);
    case EX_COND: return lower_select(l, e->a, e->b, e->c, e->loc);
    case EX_CALL: return lower_call(l, e);
    case EX_INDEX: return lower_index(l, e);
    case EX_SUM: return lower_sum(l, e);
    }
    return -1;
}

bool lower_air(Arena *a, Diags *d, SemaResult *res)
{
    Lower l = {.a = a, .d = d, .k = res->kernel};
    for (int h = 0; h < HOOK_COUNT; h++) l.k->hook[h] = -1;
    for (int h = 0; h < HOOK_COUNT; h++) {
        Decl *x = h == HOOK_SELECT ? res->select : res->hook[h];
        if (!x || !x->expr) continue;   /* a given selector (`select ... from idx;`) has no score */
        l.hook = h;
        int32_t id = lower(&l, x->expr);
        if (h != HOOK_MASK && h != HOOK_STATE && h != HOOK_OUT) id = to_f32(&l, id);
        if (id < 0) {
            if (!l.too_deep) diag_error_noloc(d, "out of memory while lowering '%s'", x->name);
            return false;
        }
        l.k->hook[h] = id;
    }
    if (l.k->kind == KIND_SOFTMAX && l.k->hook[HOOK_SCALE] < 0)
        l.k->hook[HOOK_SCALE] = konst(&l, TY_F32, 1.0 / sqrt((double)l.k->dk), res->at->name_loc);
    return !a->oom;
}
