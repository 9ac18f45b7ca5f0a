/* pass_fold.c: constant folding and simple algebra on AIR, then removal of nodes no hook
 * reaches. Folding uses the kernel's own semantics (i32 wraps, truncating division, division
 * by zero gives 0, f32 results rounded to f32), so a folded kernel computes what the unfolded
 * one would. Identical nodes are merged as they are rebuilt, so the result has no duplicate
 * index arithmetic for codegen to see. The pool is rebuilt in order, which keeps operands
 * before users. */
#include "pass.h"

#include <math.h>
#include <string.h>

typedef struct F {
    Arena *a;
    const AirKernel *old;
    AirKernel *k;        /* the kernel being rebuilt (nodes replaced) */
    AirNode *nodes;      /* the new pool */
    int32_t n, cap;
} F;

static bool is_const(const F *f, int32_t id) { return f->nodes[id].op == OP_CONST; }
static bool const_is(const F *f, int32_t id, double v) { return is_const(f, id) && f->nodes[id].num == v; }

static bool same_node(const AirNode *x, const AirNode *y)
{
    if (x->op != y->op || !air_type_eq(x->ty, y->ty) || x->nargs != y->nargs || x->ref != y->ref)
        return false;
    if (memcmp(&x->num, &y->num, sizeof x->num) != 0) return false;
    for (int32_t a = 0; a < x->nargs; a++)
        if (x->args[a] != y->args[a]) return false;
    return true;
}

/* Appends n to the new pool, or returns an identical node already there. SUM and RVAR are
 * never merged: each RVAR belongs to its own SUM. */
static int32_t emit(F *f, AirNode n)
{
    if (n.op != OP_SUM && n.op != OP_RVAR)
        for (int32_t id = 0; id < f->n; id++)
            if (same_node(&f->nodes[id], &n)) return id;
    ARR_PUSH(f->a, f->nodes, f->n, f->cap, n);
    return f->n - 1;
}

static int32_t emit_const(F *f, AirType ty, double v, Loc loc)
{
    if (ty.kind == TY_F32) v = (float)v;
    AirNode c = {.op = OP_CONST, .ty = ty, .ref = -1, .num = v, .loc = loc};
    return emit(f, c);
}

/* Simplifies node n (operands already in the new pool). Returns the id of an existing node
 * that computes the same value, or -1 to emit n as it is. */
static int32_t simplify(F *f, const AirNode *n)
{
    const AirOpInfo *info = &air_ops[n->op];
    bool scalar_op = info->kind == OPK_ARITH || info->kind == OPK_UN_F || info->kind == OPK_BIN_F ||
                     info->kind == OPK_CMP || info->kind == OPK_LOGIC || n->op == OP_TOF32 ||
                     n->op == OP_TOI32 || n->op == OP_SELECT;
    if (!scalar_op || n->ty.kind == TY_VEC || n->ty.kind == TY_MAT) return -1;
    const int32_t *g = n->args;
    bool all_const = true, ints = n->ty.kind == TY_I32;
    double x[AIR_MAX_ARGS];
    for (int32_t a = 0; a < n->nargs; a++) {
        all_const = all_const && is_const(f, g[a]);
        x[a] = f->nodes[g[a]].num;
        if (info->kind == OPK_CMP && f->nodes[g[a]].ty.kind != TY_I32) ints = false;
    }
    if (info->kind == OPK_CMP) ints = false;  /* comparisons need no integer semantics */
    double r;
    if (all_const && air_scalar_apply(n->op, ints, x, &r)) return emit_const(f, n->ty, r, n->loc);

    /* An operand that is the answer, when its type is the node's own type. */
#define SAME_TY(ID) air_type_eq(f->nodes[ID].ty, n->ty)
    switch (n->op) {
    case OP_ADD:
        if (const_is(f, g[1], 0) && SAME_TY(g[0])) return g[0];
        if (const_is(f, g[0], 0) && SAME_TY(g[1])) return g[1];
        break;
    case OP_SUB:
        if (const_is(f, g[1], 0) && SAME_TY(g[0])) return g[0];
        break;
    case OP_MUL:
        if (const_is(f, g[1], 1) && SAME_TY(g[0])) return g[0];
        if (const_is(f, g[0], 1) && SAME_TY(g[1])) return g[1];
        /* x * 0 = 0 holds for integers only (inf * 0 is NaN) */
        if (n->ty.kind == TY_I32 && (const_is(f, g[0], 0) || const_is(f, g[1], 0)))
            return emit_const(f, n->ty, 0, n->loc);
        break;
    case OP_DIV:
        if (const_is(f, g[1], 1) && SAME_TY(g[0])) return g[0];
        break;
    case OP_NEG:
        if (f->nodes[g[0]].op == OP_NEG) return f->nodes[g[0]].args[0];
        break;
    case OP_NOT:
        if (f->nodes[g[0]].op == OP_NOT) return f->nodes[g[0]].args[0];
        break;
    case OP_AND:
        for (int s = 0; s < 2; s++) {
            if (const_is(f, g[s], 1)) return g[1 - s];
            if (const_is(f, g[s], 0)) return g[s];
        }
        if (g[0] == g[1]) return g[0];
        break;
    case OP_OR:
        for (int s = 0; s < 2; s++) {
            if (const_is(f, g[s], 0)) return g[1 - s];
            if (const_is(f, g[s], 1)) return g[s];
        }
        if (g[0] == g[1]) return g[0];
        break;
    case OP_MIN: case OP_MAX:
        if (g[0] == g[1]) return g[0];
        break;
    case OP_SELECT:
        if (is_const(f, g[0]) && SAME_TY(g[x[0] != 0 ? 1 : 2])) return g[x[0] != 0 ? 1 : 2];
        if (g[1] == g[2] && SAME_TY(g[1])) return g[1];
        break;
    default: break;
    }
#undef SAME_TY
    return -1;
}

/* Marks what the hooks reach; RVARs are reached through their SUM's body. */
static void mark_live(const AirNode *nodes, int32_t n, const int32_t *hooks, bool *live)
{
    for (int h = 0; h < HOOK_COUNT; h++)
        if (hooks[h] >= 0) live[hooks[h]] = true;
    for (int32_t id = n - 1; id >= 0; id--) {
        if (!live[id]) continue;
        for (int32_t a = 0; a < nodes[id].nargs; a++) live[nodes[id].args[a]] = true;
    }
}

bool pass_fold(Arena *a, AirKernel *k)
{
    F f = {a, k, k, NULL, 0, 0};
    int32_t *map = arena_alloc(a, sizeof(int32_t) * (size_t)(k->nnodes + 1));
    if (!map) return false;
    for (int32_t id = 0; id < k->nnodes; id++) {
        AirNode n = k->nodes[id];
        for (int32_t g = 0; g < n.nargs; g++) n.args[g] = map[n.args[g]];
        int32_t same = simplify(&f, &n);
        map[id] = same >= 0 ? same : emit(&f, n);
        if (a->oom) return false;
    }
    /* RVARs name their SUM, which was rebuilt after them */
    for (int32_t id = 0; id < f.n; id++)
        if (f.nodes[id].op == OP_RVAR) f.nodes[id].ref = map[f.nodes[id].ref];
    int32_t hooks[HOOK_COUNT];
    for (int h = 0; h < HOOK_COUNT; h++) hooks[h] = k->hook[h] >= 0 ? map[k->hook[h]] : -1;

    /* dead nodes: keep what a hook reaches, renumber in order */
    bool *live = arena_alloc(a, (size_t)f.n + 1);
    int32_t *renum = arena_alloc(a, sizeof(int32_t) * (size_t)(f.n + 1));
    AirNode *out = arena_alloc(a, sizeof(AirNode) * (size_t)(f.n + 1));
    if (!live || !renum || !out) return false;
    mark_live(f.nodes, f.n, hooks, live);
    int32_t m = 0;
    for (int32_t id = 0; id < f.n; id++) {
        if (!live[id]) continue;
        out[m] = f.nodes[id];
        for (int32_t g = 0; g < out[m].nargs; g++) out[m].args[g] = renum[out[m].args[g]];
        renum[id] = m++;
    }
    for (int32_t id = 0; id < m; id++)
        if (out[id].op == OP_RVAR) out[id].ref = renum[out[id].ref];
    k->nodes = out;
    k->nnodes = m;
    k->capnodes = f.n + 1;
    for (int h = 0; h < HOOK_COUNT; h++) k->hook[h] = hooks[h] >= 0 ? renum[hooks[h]] : -1;
    return true;
}
