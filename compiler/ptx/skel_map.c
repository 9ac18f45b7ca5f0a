/* skel_map.c: the tile-map kernel of masks that read side tensors (packed documents), as a
 * second entry point `<entry>_map` in the same PTX module as the attention kernel.
 *
 * Why: such a map depends on the side tensors' current contents, which live on the device;
 * building it on the host costs a download, a stream synchronisation and an upload per launch
 * (about 0.8 ms at B 2, L 8192 on an H200). This kernel builds it on the launch stream instead.
 *
 * How: one CTA of ABI_MAP_THREADS threads per (query tile, chunk of ABI_MAP_CHUNK key tiles,
 * map head, map batch), the map laid out as mask_tile_map_size says (the runtime passes the map and its strides in AbiArgs
 * tiles / tile_sb / tile_sh / tile_sq, and tile_m / tile_n). Chunks, not one CTA per query
 * tile, because one CTA walking every key tile of a long sequence left the GPU nearly idle
 * (230 us at B 2, L 8192 on an H100, against the attention kernel's 470). For each key tile the CTA evaluates
 * the mask hook itself (the same emitter as the attention kernel, so there is one definition
 * of the mask) on every in-bounds element, and reduces "some visible" and "all visible" with
 * bar.red: no visible element is EMPTY, all visible is FULL, else PARTIAL. The classes are
 * exact, which the map's contract (FULL and EMPTY exact, PARTIAL possibly conservative)
 * allows. When the mask implies j <= i, key tiles past the CTA's last diagonal are written
 * EMPTY without evaluating them (the attention kernel never reads them). The cost is one mask
 * evaluation per (row, key) below the diagonal, next to the attention's 4 D flops. The parts
 * of the mask that read side tensors and depend on i alone (`doc[b, i]`) are evaluated once
 * per row of the query tile into shared memory, those that depend on j alone once per key and
 * thread, so that an element costs a few compares, not two global loads with their index
 * arithmetic (71 -> 32 us at B 2, L 8192 on an H200: bench/NOTES.md, run 11). */
#include "gen.h"
#include "ptx_text.h"

#include <stdio.h>

/* i32 phi in the current block with one incoming value (more are added later). */
static LLVMValueRef phi1(Gen *g, LLVMValueRef v, LLVMBasicBlockRef from, const char *name)
{
    LLVMValueRef p = LLVMBuildPhi(g->cg.b, LLVMTypeOf(v), name);
    LLVMAddIncoming(p, &v, &from, 1);
    return p;
}

static void add_in(LLVMValueRef phi, LLVMValueRef v, LLVMBasicBlockRef from)
{
    LLVMAddIncoming(phi, &v, &from, 1);
}

/* The mask at (row ri, key j): the row values (pid[0 .. nrs)) from shared memory, the key
 * values (pid[nrs ..)) already in pval. */
static LLVMValueRef row_vis(Gen *g, LLVMValueRef ri, LLVMValueRef r0, LLVMValueRef j,
                            LLVMValueRef qoff, int nrs, int ncs, const int32_t *pid,
                            LLVMValueRef *pval, LLVMTypeRef *rty)
{
    LLVMBuilderRef B = g->cg.b;
    for (int s = 0; s < nrs; s++) {
        LLVMValueRef off = LLVMBuildShl(B, gen_add(g, LLVMBuildSub(B, ri, r0, ""), gen_i32(g, s * g->BM)),
                                        gen_i32(g, 2), "");
        pval[s] = gen_from_word(g, LLVMBuildLoad2(B, g->cg.t_i32, gen_smem(g, off), ""), rty[s]);
    }
    return cg_hook_emit_at(&g->env, g->c->air->hook[HOOK_MASK], gen_add(g, ri, qoff), j,
                           nrs + ncs, pid, pval);
}

/* The body: g->fn is the map entry, the builder at its entry block. */
static bool build_map_body(Gen *g)
{
    const PtxConfig *c = g->c;
    const AirKernel *ak = c->air;
    LLVMBuilderRef B = g->cg.b;
    CgHookEnv *env = &g->env;
    if (!cg_hook_env_init(env, &g->cg, ak, c->target_name, 1)) return false;
    env->nvptx = true;
    cg_hook_preload(env, g->args);
    LLVMValueRef tid = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.tid.x");
    LLVMValueRef cx = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.x");
    LLVMValueRef h = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.y");
    LLVMValueRef b = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.z");
    env->idx[IX_B] = b;
    env->idx[IX_H] = h;
    LLVMValueRef lq = cg_ptx_shape32(g, c->tq, 2), lk = cg_ptx_shape32(g, c->tk, 2);
    LLVMValueRef qoff = LLVMBuildTrunc(B, gen_arg(g, offsetof(AbiArgs, q_offset), g->cg.t_i64), g->cg.t_i32, "");
    LLVMValueRef tm = gen_arg(g, offsetof(AbiArgs, tile_m), g->cg.t_i32);
    LLVMValueRef tn = gen_arg(g, offsetof(AbiArgs, tile_n), g->cg.t_i32);
    LLVMValueRef map = gen_arg(g, offsetof(AbiArgs, tiles), g->cg.t_i64);
    LLVMValueRef sb = gen_arg(g, offsetof(AbiArgs, tile_sb), g->cg.t_i64);
    LLVMValueRef sh = gen_arg(g, offsetof(AbiArgs, tile_sh), g->cg.t_i64);
    LLVMValueRef sq = gen_arg(g, offsetof(AbiArgs, tile_sq), g->cg.t_i64);
    LLVMValueRef nkt = LLVMBuildSDiv(B, gen_add(g, lk, gen_add(g, tn, gen_i32(g, -1))), tn, "nkt");
    LLVMValueRef nch = gen_max(g, LLVMBuildSDiv(B, gen_add(g, nkt, gen_i32(g, ABI_MAP_CHUNK - 1)),
                                                gen_i32(g, ABI_MAP_CHUNK), ""), gen_i32(g, 1));
    LLVMValueRef qt = LLVMBuildUDiv(B, cx, nch, "qt");
    LLVMValueRef kt0 = LLVMBuildMul(B, LLVMBuildURem(B, cx, nch, ""), gen_i32(g, ABI_MAP_CHUNK), "kt0");
    LLVMValueRef kt_end = gen_min(g, gen_add(g, kt0, gen_i32(g, ABI_MAP_CHUNK)), nkt);
    LLVMValueRef row_base = LLVMBuildAdd(B, map, LLVMBuildAdd(B,
        LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildZExt(B, b, g->cg.t_i64, ""), sb, ""),
                     LLVMBuildMul(B, LLVMBuildZExt(B, h, g->cg.t_i64, ""), sh, ""), ""),
        LLVMBuildMul(B, LLVMBuildZExt(B, qt, g->cg.t_i64, ""), sq, ""), ""), "");
    LLVMValueRef r0 = LLVMBuildMul(B, qt, tm, "");
    LLVMValueRef rend = gen_min(g, gen_add(g, r0, tm), lq);
    LLVMValueRef nvis = nkt;   /* key tiles that can hold a visible element */
    if (c->causal_bound) {
        LLVMValueRef kend = gen_max(g, gen_min(g, lk, gen_add(g, rend, qoff)), gen_i32(g, 0));
        nvis = LLVMBuildSDiv(B, gen_add(g, kend, gen_add(g, tn, gen_i32(g, -1))), tn, "");
    }
    /* Thread (col, row0): key col of each tile, rows row0, row0 + step, ... (tn <= ABI_MAP_THREADS). */
    LLVMValueRef col = LLVMBuildURem(B, tid, tn, ""), rstart = LLVMBuildUDiv(B, tid, tn, "");
    LLVMValueRef step = LLVMBuildUDiv(B, gen_i32(g, ABI_MAP_THREADS), tn, "");

    /* Row values: staged for rows r0 .. rend - 1, which tile_m (== g->BM) bounds. */
    const int32_t *pid = c->presets;   /* the split of the mask (ptx_config) */
    int nrs = c->nrowvals, ncs = c->nstaged;
    LLVMValueRef pval[2 * PTX_MAX_STAGED];
    LLVMTypeRef rty[PTX_MAX_STAGED];
    if (nrs > 0) {
        LLVMBasicBlockRef bad = gen_block(g, "bad.tile_m"), ok = gen_block(g, "rows.stage");
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSGT, tm, gen_i32(g, g->BM), ""), bad, ok);
        LLVMPositionBuilderAtEnd(B, bad);   /* the runtime passes the plan's tile_m: a bug */
        gen_call(g, "llvm.trap", g->cg.t_void, NULL, 0, NULL);
        LLVMBuildUnreachable(B);
        LLVMPositionBuilderAtEnd(B, ok);
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(B), sl = gen_block(g, "rows.loop");
        LLVMBasicBlockRef sx = gen_block(g, "rows.staged");
        LLVMValueRef n = LLVMBuildSub(B, rend, r0, "");
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, tid, n, ""), sl, sx);
        LLVMPositionBuilderAtEnd(B, sl);
        LLVMValueRef rr = phi1(g, tid, pre, "rr");
        LLVMValueRef i = gen_add(g, gen_add(g, r0, rr), qoff);
        for (int s = 0; s < nrs; s++) {
            LLVMValueRef v = cg_hook_emit_at(env, pid[s], i, NULL, 0, NULL, NULL);
            if (!v) return false;
            rty[s] = LLVMTypeOf(v);
            LLVMValueRef w = gen_to_word(g, v);
            LLVMValueRef off = LLVMBuildShl(B, gen_add(g, rr, gen_i32(g, s * g->BM)), gen_i32(g, 2), "");
            LLVMBuildStore(B, w, gen_smem(g, off));
        }
        LLVMValueRef rr1 = gen_add(g, rr, gen_i32(g, ABI_MAP_THREADS));
        add_in(rr, rr1, LLVMGetInsertBlock(B));
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, rr1, n, ""), sl, sx);
        LLVMPositionBuilderAtEnd(B, sx);
        gen_call(g, "llvm.nvvm.barrier0", g->cg.t_void, NULL, 0, NULL);
    }

    LLVMBasicBlockRef entry = LLVMGetInsertBlock(B);
    LLVMBasicBlockRef kt_head = gen_block(g, "kt"), rows = gen_block(g, "rows");
    LLVMBasicBlockRef row = gen_block(g, "row"), red = gen_block(g, "reduce");
    LLVMBasicBlockRef st = gen_block(g, "store"), next = gen_block(g, "kt.next");
    LLVMBasicBlockRef done = gen_block(g, "done");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, kt0, kt_end, ""), kt_head, done);

    LLVMPositionBuilderAtEnd(B, kt_head);
    LLVMValueRef kt = phi1(g, kt0, entry, "kt");
    LLVMValueRef j = gen_add(g, LLVMBuildMul(B, kt, tn, ""), col);
    LLVMValueRef jin = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntSLT, j, lk, ""),
                                    LLVMBuildICmp(B, LLVMIntSLT, kt, nvis, ""), "");
    LLVMValueRef r = gen_add(g, r0, rstart);
    /* Threads past Lk (or past the diagonal bound) evaluate nothing: any = 0, all = 1. */
    LLVMBuildCondBr(B, LLVMBuildAnd(B, jin, LLVMBuildICmp(B, LLVMIntSLT, r, rend, ""), ""), rows, red);

    LLVMPositionBuilderAtEnd(B, rows);
    for (int s = 0; s < ncs; s++)   /* this thread's key's values, for all its rows */
        if (!(pval[nrs + s] = cg_hook_emit_at(env, pid[nrs + s], NULL, j, 0, NULL, NULL))) return false;
    /* A full query tile (the common case) is unrolled: each thread's rows are compile-time
     * offsets, with no bound check and no loop per element. */
    int step_c = ABI_MAP_THREADS / g->BN, rpt = g->BM / step_c;
    bool unroll = ABI_MAP_THREADS % g->BN == 0 && g->BM % step_c == 0;
    LLVMBasicBlockRef unr_end = NULL;
    LLVMValueRef uany = NULL, uall = NULL;
    LLVMBasicBlockRef rows_end = LLVMGetInsertBlock(B);   /* the loop's way in */
    if (unroll) {
        LLVMValueRef full = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntEQ, LLVMBuildSub(B, rend, r0, ""),
                                                          gen_i32(g, g->BM), ""),
                                         LLVMBuildICmp(B, LLVMIntEQ, tn, gen_i32(g, g->BN), ""), "");
        LLVMBasicBlockRef unr = gen_block(g, "rows.full");
        LLVMBuildCondBr(B, full, unr, row);
        LLVMPositionBuilderAtEnd(B, unr);
        uany = LLVMConstInt(g->cg.t_i1, 0, 0);
        uall = LLVMConstInt(g->cg.t_i1, 1, 0);
        for (int u = 0; u < rpt; u++) {
            LLVMValueRef vis = row_vis(g, gen_add(g, r, gen_i32(g, u * step_c)), r0, j, qoff,
                                       nrs, ncs, pid, pval, rty);
            if (!vis) return false;
            uany = LLVMBuildOr(B, uany, vis, "");
            uall = LLVMBuildAnd(B, uall, vis, "");
        }
        unr_end = LLVMGetInsertBlock(B);
        LLVMBuildBr(B, red);
    } else {
        LLVMBuildBr(B, row);
    }
    LLVMPositionBuilderAtEnd(B, row);
    LLVMValueRef ri = phi1(g, r, rows_end, "r");
    LLVMValueRef any = phi1(g, LLVMConstInt(g->cg.t_i1, 0, 0), rows_end, "any");
    LLVMValueRef all = phi1(g, LLVMConstInt(g->cg.t_i1, 1, 0), rows_end, "all");
    LLVMValueRef vis = row_vis(g, ri, r0, j, qoff, nrs, ncs, pid, pval, rty);
    if (!vis) return false;
    LLVMValueRef any1 = LLVMBuildOr(B, any, vis, ""), all1 = LLVMBuildAnd(B, all, vis, "");
    LLVMValueRef ri1 = gen_add(g, ri, step);
    LLVMBasicBlockRef row_end = LLVMGetInsertBlock(B);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, ri1, rend, ""), row, red);
    add_in(ri, ri1, row_end);
    add_in(any, any1, row_end);
    add_in(all, all1, row_end);

    LLVMPositionBuilderAtEnd(B, red);
    LLVMValueRef anyr = LLVMBuildPhi(B, g->cg.t_i1, ""), allr = LLVMBuildPhi(B, g->cg.t_i1, "");
    add_in(anyr, LLVMConstInt(g->cg.t_i1, 0, 0), kt_head);
    add_in(anyr, any1, row_end);
    add_in(allr, LLVMConstInt(g->cg.t_i1, 1, 0), kt_head);
    add_in(allr, all1, row_end);
    if (unroll) {
        add_in(anyr, uany, unr_end);
        add_in(allr, uall, unr_end);
    }
    LLVMValueRef a32 = LLVMBuildZExt(B, anyr, g->cg.t_i32, ""), l32 = LLVMBuildZExt(B, allr, g->cg.t_i32, "");
    LLVMValueRef some = gen_call(g, "llvm.nvvm.barrier0.or", g->cg.t_i32, &g->cg.t_i32, 1, &a32);
    LLVMValueRef every = gen_call(g, "llvm.nvvm.barrier0.and", g->cg.t_i32, &g->cg.t_i32, 1, &l32);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, tid, gen_i32(g, 0), ""), st, next);

    LLVMPositionBuilderAtEnd(B, st);
    LLVMValueRef cls = LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntEQ, some, gen_i32(g, 0), ""),
                                       LLVMConstInt(g->cg.t_i8, TILE_EMPTY, 0),
        LLVMBuildSelect(B, LLVMBuildICmp(B, LLVMIntNE, every, gen_i32(g, 0), ""),
                        LLVMConstInt(g->cg.t_i8, TILE_FULL, 0), LLVMConstInt(g->cg.t_i8, TILE_PARTIAL, 0), ""), "");
    LLVMValueRef p = LLVMBuildIntToPtr(B, LLVMBuildAdd(B, row_base, LLVMBuildSExt(B, kt, g->cg.t_i64, ""), ""),
                                       g->p1, "");
    LLVMBuildStore(B, cls, p);
    LLVMBuildBr(B, next);

    LLVMPositionBuilderAtEnd(B, next);
    LLVMValueRef kt1 = gen_add(g, kt, gen_i32(g, 1));
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, kt1, kt_end, ""), kt_head, done);
    add_in(kt, kt1, next);

    LLVMPositionBuilderAtEnd(B, done);
    LLVMBuildRetVoid(B);
    return true;
}

bool cg_ptx_build_map(Gen *g)
{
    char name[512];
    ptx_map_entry(g->c->entry, name, sizeof name);
    LLVMValueRef fa = g->fn, aa = g->args;
    cg_ptx_declare(g, name, ABI_MAP_THREADS, 1, ABI_ARGS_CORE);
    bool ok = build_map_body(g);
    g->fn = fa;
    g->args = aa;
    return ok;
}
