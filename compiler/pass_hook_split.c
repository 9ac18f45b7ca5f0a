/* pass_hook_split.c: splits a hook by the index it varies with. The sub-expressions that read
 * a side tensor and depend on the query row alone (or on the key alone) can be evaluated once
 * per row (per key) by a skeleton and handed to the hook emitter as presets, instead of being
 * loaded per (i, j) element; pass_hook_loads_left says whether any load is left after that. */
#include "pass.h"

#include <stdlib.h>

enum { DEP_KEEP = 1, DEP_VARY = 2, DEP_LOAD = 4, DEP_OTHER = 8 };

/* Adds the maximal nodes under id whose deps are exactly KEEP | LOAD to out (once each). */
static void split_visit(const AirKernel *k, const uint8_t *dep, uint8_t *seen, int32_t id,
                        int32_t *out, int *n, int max)
{
    if (seen[id] || *n >= max) return;
    seen[id] = 1;
    if (dep[id] == (DEP_KEEP | DEP_LOAD)) {
        out[(*n)++] = id;
        return;
    }
    const AirNode *nd = &k->nodes[id];
    for (int a = 0; a < nd->nargs && a < AIR_MAX_ARGS; a++)
        split_visit(k, dep, seen, nd->args[a], out, n, max);
}

int pass_hook_split(const AirKernel *k, int32_t root, AirIndex keep, AirIndex vary, int32_t *out,
                    int max)
{
    if (root < 0 || root >= k->nnodes) return 0;
    uint8_t *dep = calloc((size_t)k->nnodes * 2, 1);
    if (!dep) return 0;
    for (int32_t id = 0; id <= root; id++) {   /* operands come before their users */
        const AirNode *nd = &k->nodes[id];
        uint8_t d = 0;
        switch (nd->op) {
        case OP_IDX: d = nd->ref == (int32_t)keep ? DEP_KEEP : nd->ref == (int32_t)vary ? DEP_VARY
                       : nd->ref == IX_T ? DEP_OTHER : 0; break;
        case OP_SCORE: case OP_QK: case OP_RVAR: case OP_STATE: case OP_BLOCK:
        case OP_ROW: case OP_BLOCKMEAN: case OP_SUM: d = DEP_OTHER; break;
        case OP_LOAD: d = DEP_LOAD; break;
        default: break;
        }
        if (nd->ty.kind != TY_I32 && nd->ty.kind != TY_F32 && nd->ty.kind != TY_BOOL) d |= DEP_OTHER;
        for (int a = 0; a < nd->nargs && a < AIR_MAX_ARGS; a++) d |= dep[nd->args[a]];
        dep[id] = d;
    }
    int n = 0;
    split_visit(k, dep, dep + k->nnodes, root, out, &n, max);
    free(dep);
    return n;
}

static bool loads_left(const AirKernel *k, uint8_t *seen, int32_t id)
{
    if (seen[id]) return false;
    seen[id] = 1;
    const AirNode *nd = &k->nodes[id];
    if (nd->op == OP_LOAD || nd->op == OP_ROW || nd->op == OP_BLOCKMEAN) return true;
    for (int a = 0; a < nd->nargs && a < AIR_MAX_ARGS; a++)
        if (loads_left(k, seen, nd->args[a])) return true;
    return false;
}

bool pass_hook_loads_left(const AirKernel *k, int32_t root, const int32_t *ids, int n)
{
    if (root < 0 || root >= k->nnodes) return false;
    uint8_t *seen = calloc((size_t)k->nnodes, 1);
    if (!seen) return true;
    for (int i = 0; i < n; i++) seen[ids[i]] = 1;   /* evaluated elsewhere: not entered */
    bool left = loads_left(k, seen, root);
    free(seen);
    return left;
}
