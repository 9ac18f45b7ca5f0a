/* pass_select_form.c: reads a sparsity selector's score as one of the forms its kernels know
 * (docs/language.md section 9):
 *   - pooled-key product: a block score built on dot(q[i], mean(k[block])) plus scalar terms
 *     (forced blocks, the -inf of future blocks): the block means of K are computed once per
 *     launch, then each score is one product of length Dk;
 *   - contraction: a sum(r < n: ...) over products of vectors (DSA's indexer,
 *     sum(r < 64: w[...] * relu(dot(qi[...], ki[...])))), with a scalar epilogue;
 *   - scalar: any other expression of (b, h, i, j or block), products of vectors included.
 * and decides which query heads one selection serves: every head (a score and a mask that do
 * not read h, as DSA's shared indexer), a GQA group (a shared score, a mask without h), or one. Every form runs on the CPU targets; the form names the kernel's work in
 * --explain and tells the skeleton whether block means are needed. */
#include "pass.h"

#include <string.h>

static bool is_row_at(const AirKernel *k, int32_t id, int tensor, AirIndex ix)
{
    const AirNode *n = &k->nodes[id];
    return n->op == OP_ROW && n->ref == tensor && k->nodes[n->args[0]].op == OP_IDX &&
           k->nodes[n->args[0]].ref == (int32_t)ix;
}

bool pass_select_form(Arena *a, const AirKernel *k, SelectForm *f)
{
    memset(f, 0, sizeof *f);
    f->node = -1;
    int32_t root = k->hook[HOOK_SELECT];
    f->share = SEL_SHARE_HEAD;
    if (k->sel.given) f->form = SELF_GIVEN;
    if (k->sel.kind == SEL_NONE || root < 0) return true;
    uint8_t *seen = arena_alloc(a, (size_t)k->nnodes + 1);
    AirUses *u = pass_uses(a, k);
    if (!seen || !u) return false;
    air_reach(k, root, seen);
    int ndot = 0, npooled = 0, ncontract = 0;
    for (int32_t id = 0; id <= root; id++) {
        if (!seen[id]) continue;
        const AirNode *n = &k->nodes[id];
        if (n->op == OP_BLOCKMEAN) f->uses_mean = true;
        if (n->op == OP_DOT || n->op == OP_SQNORM) ndot++;
        if (n->op == OP_DOT) {
            int32_t x = n->args[0], y = n->args[1];
            bool qx = is_row_at(k, x, k->tq, IX_I), qy = is_row_at(k, y, k->tq, IX_I);
            bool mx = k->nodes[x].op == OP_BLOCKMEAN, my = k->nodes[y].op == OP_BLOCKMEAN;
            if ((qx && my) || (qy && mx)) {
                npooled++;
                f->node = id;
            }
        }
        if (n->op == OP_SUM) {
            uint8_t *in = arena_alloc(a, (size_t)k->nnodes + 1);
            if (!in) return false;
            air_reach(k, n->args[0], in);
            for (int32_t x = 0; x < id; x++)
                if (in[x] && k->nodes[x].op == OP_DOT) {
                    ncontract++;
                    f->node = id;
                    break;
                }
        }
    }
    if (npooled == 1 && ndot == 1) f->form = SELF_POOLED;
    else if (ncontract >= 1) f->form = SELF_CONTRACTION;
    else f->form = SELF_SCALAR;
    if (f->form == SELF_SCALAR) f->node = -1;
    bool mask_h = (u->hook[HOOK_MASK].idx & USE_H) != 0, score_h = (u->hook[HOOK_SELECT].idx & USE_H) != 0;
    f->share = !mask_h && !score_h ? SEL_SHARE_ALL : !mask_h && k->sel.shared ? SEL_SHARE_GROUP : SEL_SHARE_HEAD;
    f->products = ndot;
    return true;
}

const char *select_form_name(SelectFormKind form)
{
    switch (form) {
    case SELF_POOLED: return "pooled-key product";
    case SELF_CONTRACTION: return "contraction";
    case SELF_SCALAR: return "scalar score";
    case SELF_GIVEN: return "given index list";
    }
    return "?";
}

char *select_form_str(Arena *a, const SelectForm *f)
{
    static const char *const share[] = {"?", "per head", "per group", "for every head"};
    return arena_printf(a, "select %s: node %%%d%s; one selection %s", select_form_name(f->form), f->node,
                        f->uses_mean ? "; block means" : "", f->share >= 1 && f->share <= 3 ? share[f->share] : "?");
}

char *select_explain(Arena *a, const AirKernel *k, const SelectForm *f, const Source *src)
{
    const AirSelector *s = &k->sel;
    const char *what = s->kind == SEL_BLOCKS ? "blocks" : "tokens";
    Loc l = f->node >= 0 ? k->nodes[f->node].loc : (Loc){0, 0};
    char *quote = src && l.end > l.begin && l.end <= src->len
                      ? arena_printf(a, "%.*s", (int)(l.end - l.begin), src->text + l.begin) : NULL;
    char *sizes = s->kind == SEL_BLOCKS ? arena_printf(a, "blocks of %d keys, ", s->block) : arena_printf(a, "%s", "");
    if (f->form == SELF_GIVEN)
        return arena_printf(a, "  selector: %sat most %d %s from the given index tensor (each entry in range once); "
                               "selected per query head\n", sizes ? sizes : "", s->topk, what);
    return arena_printf(a, "  selector: %stop %d %s by a %s%s%s%s; %s%s\n", sizes ? sizes : "", s->topk, what,
                        select_form_name(f->form), quote ? " (" : "", quote ? quote : "", quote ? ")" : "",
                        f->uses_mean ? "block means of K once per launch; " : "",
                        f->share == SEL_SHARE_ALL ? "one selection for every head (neither the score nor the mask reads h)"
                        : f->share == SEL_SHARE_GROUP ? "one selection per GQA group (shared score, a mask that does not read h)"
                        : s->shared ? "the score summed over the GQA group, selected per query head (the mask reads h)"
                                    : "selected per query head");
}
