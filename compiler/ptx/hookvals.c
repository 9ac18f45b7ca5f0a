/* hookvals.c: what the attention kernel hands its hooks: the thread's query rows and keys,
 * the key distances (`i - j` as presets), and the mask's split values (row values once per row,
 * key values staged through shared memory once per key tile). skel_fa.c calls these. */
#include "gen.h"

#include <string.h>

/* Position i of the query row (m-tile mt, half 0: row g, 1: row g + 8) of this thread. */
LLVMValueRef cg_ptx_row_pos(Gen *g, const Thread *t, int mt, int half)
{
    LLVMBuilderRef B = g->cg.b;
    return gen_add(g, gen_add(g, t->qrow0, t->qoff),
                   gen_add(g, LLVMBuildMul(B, t->warp, gen_i32(g, 16 * g->c->tile.mtiles), ""),
                           gen_add(g, t->g, gen_i32(g, mt * 16 + half * 8))));
}

/* The thread's first key in the key tile starting at k0 (column 2 t of tile 0). */
LLVMValueRef cg_ptx_key_base(Gen *g, const Thread *t, LLVMValueRef k0)
{
    return gen_add(g, k0, LLVMBuildShl(g->cg.b, t->t4, gen_i32(g, 1), ""));
}

/* Key j of accumulator column 2 t + e of 8-column tile nt, from the thread's key_base. */
LLVMValueRef cg_ptx_key_pos(Gen *g, LLVMValueRef kbase, int nt, int e)
{
    return gen_add(g, kbase, gen_i32(g, nt * 8 + e));
}

static bool is_index(const AirKernel *k, int32_t id, AirIndex ix)
{
    const AirNode *n = &k->nodes[id];
    return n->op == OP_IDX && n->ref == (int32_t)ix && n->ty.kind == TY_I32;
}

static bool is_dist(const PtxDist *d, int32_t id)
{
    for (int x = 0; x < d->nint; x++)
        if (d->id[x] == id) return true;
    return false;
}

/* The key distance nodes of the spec's hooks, then their f32 casts. */
void cg_ptx_dist_find(const AirKernel *k, PtxDist *d)
{
    d->n = 0;
    for (int32_t id = 0; k && id < k->nnodes && d->n < PTX_MAXDIST; id++) {
        const AirNode *n = &k->nodes[id];
        if (n->op == OP_SUB && n->nargs == 2 && n->ty.kind == TY_I32 &&
            is_index(k, n->args[0], IX_I) && is_index(k, n->args[1], IX_J))
            d->id[d->n++] = id;
    }
    d->nint = d->n;
    for (int32_t id = 0; k && id < k->nnodes && d->n < PTX_MAXDIST; id++) {
        const AirNode *n = &k->nodes[id];
        if (n->op == OP_TOF32 && n->nargs == 1 && is_dist(d, n->args[0])) d->id[d->n++] = id;
    }
}

/* At the top of a key tile, after the loop's phis: the row distances as f32. */
void cg_ptx_dist_tile(Gen *g, PtxDist *d, int mtiles)
{
    for (int mt = 0; mt < mtiles && d->n > d->nint; mt++)
        d->rowf[mt] = LLVMBuildSIToFP(g->cg.b, d->row[mt], g->cg.t_f32, "distf");
}

/* The distances' values at element (row mt/half, key nt/e) into vals[0 .. d->n). Each is the
 * m-tile's row distance plus a constant, so that elements at the same distance (row g + 8 and
 * the key 8 on) share one value, and what the hook computes from it. */
void cg_ptx_dist_vals(Gen *g, const PtxDist *d, int mt, int half, int nt, int e, LLVMValueRef *vals)
{
    int off = 8 * half - (nt * 8 + e);
    LLVMValueRef v = d->n ? gen_add(g, d->row[mt], gen_i32(g, off)) : NULL, vf = NULL;
    if (d->n > d->nint)
        vf = off ? LLVMBuildFAdd(g->cg.b, d->rowf[mt], LLVMConstReal(g->cg.t_f32, off), "") : d->rowf[mt];
    for (int x = 0; x < d->n; x++) vals[x] = x < d->nint ? v : vf;
}

/* Shared-memory byte offset of key value s of key column col (i32) in the slot of tile kb. */
static LLVMValueRef key_slot(Gen *g, LLVMValueRef kb, int s, LLVMValueRef col)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef par = LLVMBuildAnd(B, kb, gen_i32(g, 1), "");
    LLVMValueRef row = gen_add(g, LLVMBuildMul(B, par, gen_i32(g, g->c->nstaged), ""), gen_i32(g, s));
    return gen_add(g, gen_i32(g, g->off_keys),
                   LLVMBuildShl(B, gen_add(g, LLVMBuildMul(B, row, gen_i32(g, g->BN), ""), col),
                                gen_i32(g, 2), ""));
}

/* Evaluates the mask's key values (PtxConfig.presets after the row values) of key tile kb, one
 * key per thread of the first BN, into the tile's parity slot. Tile kb is read after the
 * barrier that opens its iteration, and the slot is next written in iteration kb + 1, after the
 * barrier that every reader of tile kb has passed: no barrier of its own is needed. */
bool cg_ptx_stage_keys(Gen *g, const Thread *t, LLVMValueRef kb)
{
    const PtxConfig *c = g->c;
    if (c->nstaged == 0) return true;
    LLVMBuilderRef B = g->cg.b;
    LLVMBasicBlockRef st = gen_block(g, "keys"), join = gen_block(g, "keys.join");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, t->tid, gen_i32(g, g->BN), ""), st, join);
    LLVMPositionBuilderAtEnd(B, st);
    LLVMValueRef j = gen_add(g, LLVMBuildMul(B, kb, gen_i32(g, g->BN), ""), t->tid);
    for (int s = 0; s < c->nstaged; s++) {
        LLVMValueRef v = cg_hook_emit_at(&g->env, c->presets[c->nrowvals + s], NULL, j, 0, NULL, NULL);
        if (!v) return false;
        g->key_ty[s] = LLVMTypeOf(v);
        LLVMValueRef w = gen_to_word(g, v);
        LLVMBuildStore(B, w, gen_smem(g, key_slot(g, kb, s, t->tid)));
    }
    LLVMBuildBr(B, join);
    LLVMPositionBuilderAtEnd(B, join);
    return true;
}

/* The row values of the mask's split for this thread's rows, before the key loop. */
bool cg_ptx_mask_pre(Gen *g, const Thread *t, PtxMaskPre *p)
{
    const PtxConfig *c = g->c;
    for (int mt = 0; mt < c->tile.mtiles; mt++)
        for (int half = 0; half < 2; half++) {
            LLVMValueRef i = cg_ptx_row_pos(g, t, mt, half);
            for (int s = 0; s < c->nrowvals; s++)
                if (!(p->val[mt][half][s] = cg_hook_emit_at(&g->env, c->presets[s], i, NULL, 0, NULL, NULL)))
                    return false;
        }
    return true;
}

/* This thread's keys' values in tile kb, read once for all its rows. */
void cg_ptx_load_keys(Gen *g, const Thread *t, LLVMValueRef kb, PtxMaskPre *p)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef col0 = LLVMBuildShl(B, t->t4, gen_i32(g, 1), "");
    for (int nt = 0; nt < g->BN / 8; nt++)
        for (int e = 0; e < 2; e++)
            for (int s = 0; s < g->c->nstaged; s++) {
                LLVMValueRef col = gen_add(g, col0, gen_i32(g, nt * 8 + e));
                LLVMValueRef v = LLVMBuildLoad2(B, g->cg.t_i32, gen_smem(g, key_slot(g, kb, s, col)), "");
                p->kv[nt][e][s] = gen_from_word(g, v, g->key_ty[s]);
            }
}

/* The mask hook at element (row mt/half, key nt/e = j), from the row and key values and the
 * key distances. */
LLVMValueRef cg_ptx_mask_elem(Gen *g, const Thread *t, PtxMaskPre *p, const PtxDist *d, int mt,
                              int half, int nt, int e, LLVMValueRef j)
{
    const PtxConfig *c = g->c;
    int np = c->nrowvals + c->nstaged;
    int32_t ids[2 * PTX_MAX_STAGED + PTX_MAXDIST];
    LLVMValueRef vals[2 * PTX_MAX_STAGED + PTX_MAXDIST];
    for (int s = 0; s < np; s++) {
        ids[s] = c->presets[s];
        vals[s] = s < c->nrowvals ? p->val[mt][half][s] : p->kv[nt][e][s - c->nrowvals];
    }
    memcpy(ids + np, d->id, sizeof(int32_t) * (size_t)d->n);
    cg_ptx_dist_vals(g, d, mt, half, nt, e, vals + np);
    return cg_hook_emit_at(&g->env, c->air->hook[HOOK_MASK], cg_ptx_row_pos(g, t, mt, half), j,
                           np + d->n, ids, vals);
}
