/* pass_hook_check.c: what a code generator's plan() asks of each hook before any IR is built:
 * every node the hook reaches is a scalar op the hook emitter (cg_hook.c) handles, and reads
 * only the leaves that hook has (score and qk in the score hook, j where a key exists). A
 * refusal names the node and the target, so a spec that a target cannot run fails at plan
 * time with a location instead of halfway through emission. */
#include "pass.h"

/* What the hook being checked may read besides scalars of b, h, i. */
typedef struct Allow {
    bool score, j;
    bool t;          /* a recurrence's step */
    bool vec;        /* element-wise f32 vectors of side tensors (a per-key decay) */
    bool sel;        /* a selector's score: rows, block means, dot and sqnorm, the block index */
} Allow;

static bool check_node(const AirKernel *k, int32_t id, const char *target, Allow allow,
                       uint8_t *seen, Diags *d)
{
    if (id < 0 || id >= k->nnodes) {
        diag_error_noloc(d, "internal error: hook refers to node %d of %d", id, k->nnodes);
        return false;
    }
    if (seen[id]) return true;
    seen[id] = 1;
    const AirNode *n = &k->nodes[id];
    if (n->op == OP_SUM && n->num > HOOK_SUM_MAX_TERMS) {   /* the hook emitter unrolls a sum */
        diag_error(d, n->loc, "sum(r < n: e) with n = %.0f terms is not supported on target %s yet "
                   "(at most %d)", n->num, target, HOOK_SUM_MAX_TERMS);
        diag_hint(d, "split it into sums of at most 64 terms, or run the spec with --target=reference "
                     "(the f64 evaluator)");
        return false;
    }
    bool ok = true;
    for (int a = 0; a < n->nargs && a < AIR_MAX_ARGS; a++)
        ok = check_node(k, n->args[a], target, allow, seen, d) && ok;
    if (!ok) return false;
    const char *what = NULL;
    switch (n->op) {
    case OP_ROW: case OP_BLOCKMEAN: case OP_DOT: case OP_SQNORM: case OP_BLOCK:
        if (!allow.sel) what = air_ops[n->op].name;
        break;
    case OP_OUTER: case OP_VECMAT: case OP_MATVEC:
    case OP_DIAG: case OP_ROWSCALE: case OP_COLSCALE: case OP_STATE:
        what = air_ops[n->op].name;
        break;
    case OP_SCORE: case OP_QK:
        if (!allow.score) {
            diag_error(d, n->loc, "'%s' can only be used in the score hook", air_ops[n->op].name);
            return false;
        }
        break;
    case OP_IDX:
        if (n->ref == IX_T && !allow.t) {
            diag_error(d, n->loc, "the time step 't' is only defined in recurrences");
            return false;
        }
        if (n->ref == IX_J && !allow.j) {
            diag_error(d, n->loc, "the key position 'j' is not defined in this hook");
            diag_hint(d, "scale and sink are per query row; they cannot depend on a key");
            return false;
        }
        break;
    case OP_LOAD: {
        const AirTensor *t = n->ref >= 0 && n->ref < k->ntensors ? &k->tensors[n->ref] : NULL;
        if (!t || t->role != ROLE_SIDE) {
            diag_error(d, n->loc, "only side tensors can be indexed element-wise in a hook");
            return false;
        }
        if (n->nargs != t->rank && !allow.vec) what = "indexing a side tensor as a vector";
        else if (t->dtype == DT_F64) what = "an f64 side tensor";
        break;
    }
    default: break;
    }
    if (!what && (n->ty.kind == TY_MAT || (n->ty.kind == TY_VEC && !allow.vec)))
        what = "a vector or matrix value";
    if (what) {
        diag_error(d, n->loc, "%s is not supported on target %s yet", what, target);
        diag_hint(d, "no code generator handles vector hooks yet; --target=reference runs the spec through the f64 evaluator");
        return false;
    }
    return true;
}

bool pass_hook_check(const AirKernel *k, int32_t root, const char *target, bool allow_score,
                     bool allow_j, Diags *d)
{
    if (root < 0) return true;
    uint8_t *seen = arena_alloc(d->arena, (size_t)k->nnodes + 1);
    if (!seen) return false;
    return check_node(k, root, target, (Allow){.score = allow_score, .j = allow_j}, seen, d);
}

bool pass_hook_check_step(const AirKernel *k, int32_t root, const char *target, bool vectors,
                          Diags *d)
{
    if (root < 0) return true;
    uint8_t *seen = arena_alloc(d->arena, (size_t)k->nnodes + 1);
    if (!seen) return false;
    return check_node(k, root, target, (Allow){.t = true, .vec = vectors}, seen, d);
}

bool pass_hook_check_select(const AirKernel *k, const char *target, Diags *d)
{
    int32_t root = k->hook[HOOK_SELECT];
    if (root < 0) return true;
    uint8_t *seen = arena_alloc(d->arena, (size_t)k->nnodes + 1);
    if (!seen) return false;
    Allow allow = {.j = k->sel.kind == SEL_TOKENS, .vec = true, .sel = true};
    return check_node(k, root, target, allow, seen, d);
}
