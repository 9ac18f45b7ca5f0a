/* pass_uses.c: which index variables, params, symbols (dims) and tensors each node and each
 * hook really reads, after folding. Codegen drops index arithmetic a hook does not use; the
 * mask analysis learns which coordinates its tile map depends on. One forward sweep: the
 * pool is in topological order, so a node's set is the union of its operands' plus its own. */
#include "pass.h"

#include <string.h>

AirUses *pass_uses(Arena *a, const AirKernel *k)
{
    AirUses *u = arena_alloc(a, sizeof *u);
    AirUseSet *node = u ? arena_alloc(a, sizeof(AirUseSet) * (size_t)(k->nnodes + 1)) : NULL;
    if (!node) return NULL;
    u->node = node;
    for (int32_t id = 0; id < k->nnodes; id++) {
        const AirNode *n = &k->nodes[id];
        AirUseSet s = {0};
        for (int32_t g = 0; g < n->nargs; g++) {
            const AirUseSet *o = &node[n->args[g]];
            s.idx |= o->idx;
            s.params |= o->params;
            s.syms |= o->syms;
            s.tensors |= o->tensors;
            s.score |= o->score;
            s.qk |= o->qk;
            s.state |= o->state;
            s.block |= o->block;
        }
        switch (n->op) {
        case OP_IDX: s.idx |= 1u << n->ref; break;
        case OP_PARAM: s.params |= 1u << n->ref; break;
        case OP_DIM: s.syms |= 1u << n->ref; break;
        case OP_LOAD: s.tensors |= 1u << n->ref; break;
        case OP_ROW: case OP_BLOCKMEAN:
            /* a head vector of the current batch and head */
            s.tensors |= 1u << (n->ref >= 0 ? n->ref : k->tk);
            s.idx |= USE_B | USE_H;
            break;
        case OP_SCORE: s.score = true; break;
        case OP_QK: s.qk = true; break;
        case OP_STATE: s.state = true; break;
        case OP_BLOCK: s.block = true; break;
        default: break;
        }
        node[id] = s;
    }
    for (int h = 0; h < HOOK_COUNT; h++)
        if (k->hook[h] >= 0) u->hook[h] = node[k->hook[h]];
    return u;
}

char *air_uses_str(Arena *a, const AirKernel *k, const AirUseSet *u)
{
    char *s = arena_strdup(a, "");
    const char *sep = "";
#define ADD(NAME)                                                                             \
    do {                                                                                      \
        s = arena_printf(a, "%s%s%s", s ? s : "", sep, NAME);                                 \
        sep = ", ";                                                                           \
    } while (0)
    for (int x = 0; x < IX_COUNT; x++)
        if (u->idx & (1u << x)) ADD(air_index_names[x]);
    for (int32_t p = 0; p < k->nparams && p < 32; p++)
        if (u->params & (1u << p)) ADD(k->params[p].name);
    for (int32_t y = 0; y < k->nsyms && y < 32; y++)
        if (u->syms & (1u << y)) ADD(k->syms[y].name);
    for (int32_t t = 0; t < k->ntensors && t < 32; t++)
        if (u->tensors & (1u << t)) ADD(k->tensors[t].name);
    if (u->score) ADD("score");
    if (u->qk) ADD("qk");
    if (u->state) ADD("state");
    if (u->block) ADD("block");
    if (!*sep) ADD("nothing");
#undef ADD
    return s;
}
