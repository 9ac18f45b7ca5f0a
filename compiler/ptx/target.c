/* target.c: the NVIDIA GPU targets (sm_80, sm_90a). plan() checks once, for every skeleton,
 * that the AIR kernel is something the GPU code generator handles, then picks the skeleton by
 * the kernel's form (softmax attention: the FlashAttention-2 skeleton of skel_fa.c; a recurrence
 * of a family: the scan of skel_recur.c);
 * emit() hands the skeleton's units to module.c; explain() says what the kernel does. */
#include "gen.h"
#include "pass.h"
#include "ptx_text.h"

#include <math.h>
#include <string.h>

/* ---- Target: plan and emit from AIR --------------------------------------------------------- */

static bool is_idx(const AirKernel *k, int32_t id, AirIndex ix)
{
    return k->nodes[id].op == OP_IDX && k->nodes[id].ref == (int32_t)ix;
}

static bool is_causal(const AirKernel *k, int32_t id)
{
    const AirNode *n = &k->nodes[id];
    return (n->op == OP_LE && is_idx(k, n->args[0], IX_J) && is_idx(k, n->args[1], IX_I)) ||
           (n->op == OP_GE && is_idx(k, n->args[0], IX_I) && is_idx(k, n->args[1], IX_J));
}

/* True when the bool expression at id implies j <= i: that comparison itself, or an && with
 * such an operand. */
static bool implies_causal(const AirKernel *k, int32_t id)
{
    const AirNode *n = &k->nodes[id];
    if (n->op == OP_AND) return implies_causal(k, n->args[0]) || implies_causal(k, n->args[1]);
    return is_causal(k, id);
}

/* The masks the skeleton evaluates itself: none, and j <= i; any other is a hook. A hook that
 * implies j <= i (`j <= i && doc[b, i] == doc[b, j]`) still ends the key loop at the diagonal. */
static PtxMask mask_of(const AirKernel *k, bool *causal_bound)
{
    int32_t r = k->hook[HOOK_MASK];
    *causal_bound = r >= 0 && implies_causal(k, r);
    if (r < 0 || (k->nodes[r].op == OP_CONST && k->nodes[r].num != 0)) return PTX_MASK_NONE;
    return is_causal(k, r) ? PTX_MASK_CAUSAL : PTX_MASK_HOOK;
}

static bool unsupported(Diags *d, const AirKernel *k, int32_t node, const char *what,
                        const Target *t)
{
    Loc loc = node >= 0 ? k->nodes[node].loc : (Loc){0, 0};
    if (node >= 0) diag_error(d, loc, "%s is not supported on target %s yet", what, t->name);
    else diag_error_noloc(d, "%s is not supported on target %s yet", what, t->name);
    diag_hint(d, "no code generator handles this yet; --target=reference runs the spec through the f64 evaluator");
    return false;
}

/* Fills c's mask split (PtxConfig.presets) once, for the attention kernel, its map kernel and
 * --explain. Key values are staged one key a thread, row values of a whole query tile fit the
 * map kernel's ABI_MAP_SMEM: every row of the tile table allows both. */
static void split_mask(const AirKernel *k, PtxConfig *c)
{
    int32_t rows = 16 * c->tile.mtiles * c->tile.warps, root = k->hook[HOOK_MASK];
    if (c->mask != PTX_MASK_HOOK || c->tile.block_n > 32 * c->tile.warps ||
        rows * 4 * PTX_MAX_STAGED > ABI_MAP_SMEM)
        return;
    c->nrowvals = pass_hook_split(k, root, IX_I, IX_J, c->presets, PTX_MAX_STAGED);
    c->nstaged = pass_hook_split(k, root, IX_J, IX_I, c->presets + c->nrowvals, PTX_MAX_STAGED);
    c->mask_fused = !pass_hook_loads_left(k, root, c->presets, c->nrowvals + c->nstaged);
}

/* Masks that read side tensors get a map kernel; the maps of other masks are built on the host
 * (they depend on sizes and params only). */
static bool has_map(const AirKernel *k, const PtxConfig *c)
{
    return c->mask == PTX_MASK_HOOK && pass_hook_loads_left(k, k->hook[HOOK_MASK], NULL, 0);
}

/* A recurrence the GPU skeleton generates: a family of pass_recur_form (skel_recur.c). */
static bool recur_eligible(const Target *t, const AirKernel *k, Diags *d)
{
    RecurForm f;
    if (!pass_recur_form(d->arena, k, &f)) return false;
    if (f.family == RECUR_SCAN) {
        diag_error(d, f.why_loc, "this recurrence is a sequential scan (%s), which is not supported on target %s yet",
                   f.why, t->name);
        diag_hint(d, "the CPU targets (native, x86-64-v3, x86-64-v4) run it; --target=reference runs it through the f64 evaluator");
        return false;
    }
    return pass_recur_check(k, &f, t->name, d);
}

static bool ptx_config(const Target *t, const AirKernel *k, PtxConfig *c, Diags *d)
{
    memset(c, 0, sizeof *c);
    c->sm = t->sm;
    if (k->kind == KIND_RECURRENT) {
        if (!recur_eligible(t, k, d)) return false;
    } else {
        if (k->sel.kind != SEL_NONE) {   /* the selector's score hook is where the spec says it */
            if (k->hook[HOOK_SELECT] >= 0)
                diag_error(d, k->nodes[k->hook[HOOK_SELECT]].loc, "a sparsity selector is not supported on target %s yet", t->name);
            else
                diag_error_noloc(d, "a sparsity selector is not supported on target %s yet", t->name);
            diag_hint(d, "the CPU targets (native, x86-64-v3, x86-64-v4) run it; --target=reference runs it through the f64 evaluator");
            return false;
        }
        for (int h = HOOK_SELECT; h < HOOK_COUNT; h++)
            if (k->hook[h] >= 0 && h != HOOK_OUT) return unsupported(d, k, k->hook[h], "this hook", t);
        if (!pass_hook_check(k, k->hook[HOOK_SCALE], t->name, false, false, d) ||
            !pass_hook_check(k, k->hook[HOOK_SCORE], t->name, true, true, d) ||
            !pass_hook_check(k, k->hook[HOOK_MASK], t->name, false, true, d) ||
            !pass_hook_check(k, k->hook[HOOK_SINK], t->name, false, false, d))
            return false;
    }
    c->air = k;
    c->target_name = t->name;
    c->mask = mask_of(k, &c->causal_bound);
    int32_t s = k->hook[HOOK_SCALE];
    c->scale = (float)(1.0 / sqrt((double)k->dk));
    if (s >= 0 && k->nodes[s].op == OP_CONST) c->scale = (float)k->nodes[s].num;
    c->dtype = k->tensors[k->tq].dtype;
    c->tq = k->tq; c->tk = k->tk; c->tv = k->tv; c->to = k->to; c->tlse = k->tlse;
    int32_t io[4] = {k->tq, k->tk, k->tv, k->to};
    for (int i = 0; i < 4; i++)
        if (k->tensors[io[i]].dtype != c->dtype || (c->dtype != DT_BF16 && c->dtype != DT_F16)) {
            diag_error_noloc(d, "tensor '%s': on %s q, k, v and o must all be bf16 or all f16",
                             k->tensors[io[i]].name, t->name);
            return false;
        }
    if (k->tlse >= 0 && k->tensors[k->tlse].dtype != DT_F32) {
        diag_error_noloc(d, "lse must be f32");
        return false;
    }
    c->dk = k->dk;
    c->dv = k->dv;
    if (c->dk % 8 || c->dv % 8 || c->dk < 16 || c->dv < 16 || c->dk > 256 || c->dv > 256) {
        diag_error_noloc(d, "head dims %d / %d: GPU targets need multiples of 8 in 16..256", c->dk, c->dv);
        diag_hint(d, "pad the head dim to a multiple of 8");
        return false;
    }
    c->entry = k->name;
    if (k->kind == KIND_RECURRENT) return true;
    c->tile = cg_ptx_tile(c->sm, c->dk, c->dv, c->mask, k->hook[HOOK_SCORE] >= 0);
    split_mask(k, c);
    c->map = has_map(k, c);
    c->decode = true;
    return true;
}

/* The FlashAttention-2 skeleton's plan: its tile shape and its entries (attention, the map kernel
 * of a side-tensor mask, the decode pair). */
static bool fa_plan(const PtxConfig *c, KernelPlan *plan, Arena *a)
{
    int32_t threads, smem;
    plan->skeleton = SKEL_FA;
    plan->tile_n = c->tile.block_n;
    plan->skip_tile_map = c->mask != PTX_MASK_HOOK;   /* the skeleton bounds causal itself */
    cg_ptx_launch_shape(c, &plan->tile_m, &threads, &smem);
    if (!plan_add_entry(plan, (PlanEntry){c->entry, ROLE_ATTENTION, threads, smem, 0, 0}))
        return false;
    if (c->map) {
        char map[512];
        ptx_map_entry(c->entry, map, sizeof map);
        if (!plan_add_entry(plan, (PlanEntry){arena_strdup(a, map), ROLE_MAP, ABI_MAP_THREADS,
                                              ABI_MAP_SMEM, 0, 0}))
            return false;
    }
    return !c->decode || cg_ptx_decode_plan(c, plan, a);
}

/* The recurrence skeleton's plan: one entry over (32 state columns, o's head, b). */
static bool recur_plan(const PtxConfig *c, KernelPlan *plan)
{
    plan->skeleton = SKEL_RECUR;
    plan->tile_m = PTX_RECUR_COLS;
    plan->tile_n = 0;
    plan->skip_tile_map = 1;
    return plan_add_entry(plan, (PlanEntry){c->entry, ROLE_RECUR, 32 * cg_ptx_recur_warps(c->dk),
                                            cg_ptx_recur_smem(c->dk), 0, 0});
}

bool cg_ptx_plan(const Target *t, const AirKernel *k, KernelPlan *plan, Diags *d)
{
    PtxConfig c;
    if (!ptx_config(t, k, &c, d)) return false;
    memset(plan, 0, sizeof *plan);
    plan->arch = ARCH_PTX;
    plan->t.gpu.sm = t->sm;
    /* The skeleton, by the kernel's form (ptx_config refused the forms no skeleton has). */
    switch (k->kind) {
    case KIND_SOFTMAX: return fa_plan(&c, plan, d->arena);
    case KIND_RECURRENT: return recur_plan(&c, plan);
    }
    diag_error_noloc(d, "internal error: no GPU skeleton for this kind of kernel");
    return false;
}

bool cg_ptx_emit(const Target *t, const AirKernel *k, const KernelPlan *plan, EmitKind kind,
                     const EmitSink *sink, Arena *a, Blob *out, Diags *d)
{
    PtxConfig c;
    if (!ptx_config(t, k, &c, d)) return false;
    return cg_ptx_generate(&c, kind, kind == EMIT_ASM ? sink : NULL, plan, a, out, d);
}

bool cg_ptx_generate(const PtxConfig *c, EmitKind kind, const EmitSink *sink, const KernelPlan *plan,
                     Arena *a, Blob *out, Diags *d)
{
    PtxUnit units[PTX_MAX_UNITS];
    int n = c->air && c->air->kind == KIND_RECURRENT ? cg_ptx_recur_units(c, units) : cg_ptx_fa_units(c, units);
    return cg_ptx_generate_units(c, units, n, kind, sink, plan, a, out, d);
}

/* The source text of node id (its location in the spec), for --explain. */
static const char *quote(Arena *a, const Source *src, const AirKernel *k, int32_t id)
{
    Loc l = k->nodes[id].loc;
    if (!src || !src->text || l.end <= l.begin || l.end > src->len) return "(an expression)";
    return arena_printf(a, "`%.*s`", (int)(l.end - l.begin), src->text + l.begin);
}

/* --explain: the CTA, where the mask is evaluated, and how a side-tensor mask is read. */
char *cg_ptx_explain(const Target *t, const AirKernel *k, const KernelPlan *plan,
                         const Source *src, Arena *a)
{
    Diags d;
    diags_init(&d, a, NULL);
    PtxConfig c;
    if (!ptx_config(t, k, &c, &d)) return arena_printf(a, "%s", "");
    if (k->kind == KIND_RECURRENT)
        return arena_printf(a, "  on %s a CTA is %d threads over (%d state columns, head, b): a scan over t, "
                               "each thread keeping %d rows of its column of S in registers "
                               "(one barrier a step, two for the delta rule).\n", t->name,
                            plan->entries[0].threads, PTX_RECUR_COLS, PTX_RECUR_ROWS);
    char *s = arena_printf(a, "  on %s a CTA is %d threads (%s) with %d bytes of shared memory; ", t->name,
                           plan->entries[0].threads,
                           c.tile.wgmma ? "wgmma, one warpgroup per 64 rows" : "mma.sync",
                           plan->entries[0].smem_bytes);
    if (c.mask == PTX_MASK_NONE)
        s = arena_printf(a, "%sno mask: only tiles crossing Lk are bounds-checked.\n", s);
    else if (c.mask == PTX_MASK_CAUSAL)
        s = arena_printf(a, "%sthe key loop ends at the CTA's diagonal; `j <= i` is applied on the "
                            "tiles that cross it.\n", s);
    else
        s = arena_printf(a, "%s%sthe mask is evaluated on PARTIAL tiles and tiles crossing Lk only.\n",
                         s, c.causal_bound ? "the key loop ends at the CTA's diagonal (the mask implies "
                                             "j <= i); " : "");
    if (!s || !c.map) return s;
    char map[512];
    ptx_map_entry(c.entry, map, sizeof map);
    s = arena_printf(a, "%s  the map is rebuilt at each launch by the kernel %s, which evaluates the "
                        "mask on every (i, j)%s (O(Lq x Lk) per batch, and per head where the mask "
                        "reads h).\n", s, map, c.causal_bound ? " up to the diagonal" : "");
    for (int r = 0; r < c.nrowvals + c.nstaged && s; r++)
        s = arena_printf(a, "%s  %s: %s\n", s, quote(a, src, k, c.presets[r]), r < c.nrowvals
                         ? "loaded once per query row, not per (i, j)."
                         : "loaded once per key of each key tile, into shared memory.");
    return s ? arena_printf(a, "%s  %s\n", s, !c.mask_fused
        ? "a side-tensor read depends on both i and j: the mask is evaluated per element into bits before S = QK^T."
        : "no side-tensor read is left per element: the mask is applied after S = QK^T.") : NULL;
}
