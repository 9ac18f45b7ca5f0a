/* frag.c: the FlashAttention skeleton's data movement and MMA fragments (skel_fa.c
 * builds the loop from these): per-thread setup from the byval AbiArgs, cp.async tile copies into
 * shared memory (padded rows for ldmatrix, or 128-byte swizzled chunks for wgmma), zero-filled
 * past the tensor's edges, mma.sync m16n8k16 and ldmatrix, quad reductions, packing to bf16/f16.
 * Fragment layouts are the PTX ISA's for m16n8k16: lane = 4 g + t; the accumulator holds rows g
 * and g + 8, columns 2t and 2t + 1 of each 8-column tile. */
#include "gen.h"

#include <stddef.h>

LLVMValueRef cg_ptx_mma(Gen *g, const Frag *a, LLVMValueRef b0, LLVMValueRef b1, Frag *c)
{
    bool bf = g->c->dtype == DT_BF16;
    LLVMTypeRef op = bf ? g->cg.t_i32 : g->h2;
    LLVMValueRef args[10];
    for (int i = 0; i < 4; i++) args[i] = bf ? a->v[i] : LLVMBuildBitCast(g->cg.b, a->v[i], op, "");
    args[4] = bf ? b0 : LLVMBuildBitCast(g->cg.b, b0, op, "");
    args[5] = bf ? b1 : LLVMBuildBitCast(g->cg.b, b1, op, "");
    for (int i = 0; i < 4; i++) args[6 + i] = c->v[i];
    LLVMTypeRef ts[10] = {op, op, op, op, op, op, g->cg.t_f32, g->cg.t_f32, g->cg.t_f32, g->cg.t_f32};
    LLVMTypeRef f4[4] = {g->cg.t_f32, g->cg.t_f32, g->cg.t_f32, g->cg.t_f32};
    LLVMTypeRef rt = LLVMStructTypeInContext(g->cg.ctx, f4, 4, 0);
    LLVMValueRef r = gen_call(g, bf ? "llvm.nvvm.mma.m16n8k16.row.col.bf16"
                                    : "llvm.nvvm.mma.m16n8k16.row.col.f32.f32",
                              rt, ts, 10, args);
    for (int i = 0; i < 4; i++) c->v[i] = LLVMBuildExtractValue(g->cg.b, r, (unsigned)i, "");
    return r;
}

void cg_ptx_ldsm(Gen *g, LLVMValueRef off, bool trans, LLVMValueRef out[4])
{
    LLVMTypeRef i4[4] = {g->cg.t_i32, g->cg.t_i32, g->cg.t_i32, g->cg.t_i32};
    LLVMTypeRef rt = LLVMStructTypeInContext(g->cg.ctx, i4, 4, 0);
    LLVMValueRef p = gen_smem(g, off);
    LLVMValueRef r = gen_call(g, trans ? "llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.trans.b16.p3"
                                       : "llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3",
                              rt, &g->p3, 1, &p);
    for (int i = 0; i < 4; i++) out[i] = LLVMBuildExtractValue(g->cg.b, r, (unsigned)i, "");
}

/* Issues the cp.async copies of a rows x dpad tile (head dim d) whose row 0 is global row
 * `row0` of a tensor at byte address `base` with row stride `stride` (bytes), into shared
 * memory at `soff` with row pitch `pitch`. Rows >= `nrows` and columns >= d are zero-filled. */
void cg_ptx_load_tile(Gen *g, const Thread *t, LLVMValueRef base, LLVMValueRef stride,
                      LLVMValueRef row0, LLVMValueRef nrows, LLVMValueRef soff, int rows,
                      int d, int dpad, int pitch)
{
    LLVMBuilderRef B = g->cg.b;
    int cpr = dpad / 8, total = rows * cpr;
    LLVMTypeRef ts[3] = {g->p3, g->cg.t_i64, g->cg.t_i32};
    for (int it = 0; it * g->NT < total; it++) {
        LLVMBasicBlockRef done = NULL;
        LLVMValueRef idx = gen_add(g, t->tid, gen_i32(g, it * g->NT));
        if ((it + 1) * g->NT > total) {   /* a partial last round: only some threads copy */
            LLVMBasicBlockRef go = gen_block(g, "ld.tail");
            done = gen_block(g, "ld.done");
            LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntULT, idx, gen_i32(g, total), ""), go, done);
            LLVMPositionBuilderAtEnd(B, go);
        }
        LLVMValueRef r = LLVMBuildUDiv(B, idx, gen_i32(g, cpr), "");
        LLVMValueRef ch = LLVMBuildURem(B, idx, gen_i32(g, cpr), "");
        LLVMValueRef grow = gen_add(g, row0, r);
        LLVMValueRef ok = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntSLT, grow, nrows, ""),
                                       LLVMBuildICmp(B, LLVMIntULT, ch, gen_i32(g, d / 8), ""), "");
        /* Out-of-range chunks copy 0 bytes from row 0 (a valid address) and zero-fill. */
        LLVMValueRef srow = LLVMBuildSelect(B, ok, grow, gen_i32(g, 0), "");
        LLVMValueRef addr = LLVMBuildAdd(B, base,
            LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildZExt(B, srow, g->cg.t_i64, ""), stride, ""),
                         LLVMBuildZExt(B, LLVMBuildMul(B, ch, gen_i32(g, 16), ""), g->cg.t_i64, ""), ""), "");
        LLVMValueRef dst;
        if (g->swz) {   /* chunk ch / 8, row r, 16-byte unit (ch % 8) ^ (r % 8) */
            LLVMValueRef u = LLVMBuildXor(B, LLVMBuildAnd(B, ch, gen_i32(g, 7), ""),
                                          LLVMBuildAnd(B, r, gen_i32(g, 7), ""), "");
            dst = gen_add(g, soff, gen_add(g,
                LLVMBuildMul(B, LLVMBuildLShr(B, ch, gen_i32(g, 3), ""), gen_i32(g, rows * 128), ""),
                gen_add(g, LLVMBuildMul(B, r, gen_i32(g, 128), ""), LLVMBuildMul(B, u, gen_i32(g, 16), ""))));
        } else {
            dst = gen_add(g, soff, gen_add(g, LLVMBuildMul(B, r, gen_i32(g, pitch), ""),
                                           LLVMBuildMul(B, ch, gen_i32(g, 16), "")));
        }
        LLVMValueRef args[3] = {gen_smem(g, dst), addr,
                                LLVMBuildSelect(B, ok, gen_i32(g, 16), gen_i32(g, 0), "")};
        /* Inline asm: LLVM 19 cannot select the cp.async.*.s intrinsic with 32-bit shared
         * pointers (-nvptx-short-ptr). */
        LLVMTypeRef fty = LLVMFunctionType(g->cg.t_void, ts, 3, 0);
        static const char as[] = "cp.async.cg.shared.global [$0], [$1], 16, $2;";
        static const char cs[] = "r,l,r,~{memory}";
        LLVMValueRef ia = LLVMGetInlineAsm(fty, (char *)as, sizeof as - 1, (char *)cs, sizeof cs - 1,
                                           1, 0, LLVMInlineAsmDialectATT, 0);
        LLVMBuildCall2(B, fty, ia, args, 3, "");
        if (done) {
            LLVMBuildBr(B, done);
            LLVMPositionBuilderAtEnd(B, done);
        }
    }
}

void cg_ptx_commit(Gen *g) { gen_call(g, "llvm.nvvm.cp.async.commit.group", g->cg.t_void, NULL, 0, NULL); }

void cg_ptx_wait_group(Gen *g, int n)
{
    LLVMValueRef a = gen_i32(g, n);
    gen_call(g, "llvm.nvvm.cp.async.wait.group", g->cg.t_void, &g->cg.t_i32, 1, &a);
}

LLVMValueRef cg_ptx_stage_off(Gen *g, LLVMValueRef kb)
{
    LLVMValueRef s = LLVMBuildURem(g->cg.b, kb, gen_i32(g, g->c->tile.stages), "");
    return gen_add(g, gen_i32(g, g->off_kv), LLVMBuildMul(g->cg.b, s, gen_i32(g, g->stage_bytes), ""));
}

/* Loads key tile kb (K and V) into its stage, when kb < nkb and, for mask hooks, the tile map
 * does not say EMPTY (the key loop skips EMPTY tiles, so their stage is never read). */
void cg_ptx_load_kv(Gen *g, const Thread *t, LLVMValueRef kb)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMBasicBlockRef go = gen_block(g, "kv.load"), done = gen_block(g, "kv.done");
    LLVMValueRef in = LLVMBuildICmp(B, LLVMIntSLT, kb, t->nkb, "");
    if (g->c->mask == PTX_MASK_HOOK) {
        LLVMBasicBlockRef rd = gen_block(g, "kv.map");
        LLVMBuildCondBr(B, in, rd, done);
        LLVMPositionBuilderAtEnd(B, rd);
        LLVMValueRef p = LLVMBuildIntToPtr(B, LLVMBuildAdd(B, t->tbase, LLVMBuildSExt(B, kb, g->cg.t_i64, ""), ""),
                                           g->p1, "");
        LLVMValueRef has_map = LLVMBuildICmp(B, LLVMIntNE, t->tiles, gen_i64(g, 0), "");
        LLVMBasicBlockRef ld = gen_block(g, "kv.cls"), chk = gen_block(g, "kv.chk");
        LLVMBuildCondBr(B, has_map, ld, go);
        LLVMPositionBuilderAtEnd(B, ld);
        LLVMValueRef cls = LLVMBuildLoad2(B, g->cg.t_i8, p, "");
        LLVMBuildBr(B, chk);
        LLVMPositionBuilderAtEnd(B, chk);
        LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntNE, cls, LLVMConstInt(g->cg.t_i8, TILE_EMPTY, 0), ""),
                        go, done);
    } else {
        LLVMBuildCondBr(B, in, go, done);
    }
    LLVMPositionBuilderAtEnd(B, go);
    LLVMValueRef so = cg_ptx_stage_off(g, kb);
    LLVMValueRef row0 = LLVMBuildMul(B, kb, gen_i32(g, g->BN), "");
    cg_ptx_load_tile(g, t, t->kbase, t->ks2, row0, t->lk, so, g->BN, g->c->dk, g->DKP, g->KS);
    cg_ptx_load_tile(g, t, t->vbase, t->vs2, row0, t->lk, gen_add(g, so, gen_i32(g, g->voff)),
              g->BN, g->c->dv, g->DVP, g->VS);
    LLVMBuildBr(B, done);
    LLVMPositionBuilderAtEnd(B, done);
}

LLVMValueRef cg_ptx_sreg(Gen *g, const char *name)
{
    return gen_call(g, name, g->cg.t_i32, NULL, 0, NULL);
}

/* A copy of the i32 `v` that LLVM cannot see through (one mov, which ptxas removes). */
LLVMValueRef cg_ptx_opaque(Gen *g, LLVMValueRef v)
{
    LLVMTypeRef fty = LLVMFunctionType(g->cg.t_i32, &g->cg.t_i32, 1, 0);
    static const char as[] = "mov.b32 $0, $1;", cs[] = "=r,r";
    LLVMValueRef ia = LLVMGetInlineAsm(fty, (char *)as, sizeof as - 1, (char *)cs, sizeof cs - 1,
                                       0, 0, LLVMInlineAsmDialectATT, 0);
    return LLVMBuildCall2(g->cg.b, fty, ia, &v, 1, "");
}

/* Byte address of row 0 of head `hh` in batch t->b of tensor slot `slot`, and its row stride. */
LLVMValueRef cg_ptx_head_base(Gen *g, int slot, LLVMValueRef b, LLVMValueRef hh, LLVMValueRef *rs,
                              int esize)
{
    LLVMBuilderRef B = g->cg.b;
    size_t base = (size_t)slot * sizeof(AbiTensor);
    LLVMValueRef data = gen_arg(g, base + offsetof(AbiTensor, data), g->cg.t_i64);
    LLVMValueRef s0 = gen_arg(g, base + offsetof(AbiTensor, strides), g->cg.t_i64);
    LLVMValueRef s1 = gen_arg(g, base + offsetof(AbiTensor, strides) + 8, g->cg.t_i64);
    LLVMValueRef el = LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildSExt(B, b, g->cg.t_i64, ""), s0, ""),
                                   LLVMBuildMul(B, LLVMBuildSExt(B, hh, g->cg.t_i64, ""), s1, ""), "");
    if (rs) {
        LLVMValueRef s2 = gen_arg(g, base + offsetof(AbiTensor, strides) + 16, g->cg.t_i64);
        *rs = LLVMBuildMul(B, s2, gen_i64(g, esize), "");
    }
    return LLVMBuildAdd(B, data, LLVMBuildMul(B, el, gen_i64(g, esize), ""), "");
}

LLVMValueRef cg_ptx_shape32(Gen *g, int slot, int dim)
{
    size_t off = (size_t)slot * sizeof(AbiTensor) + offsetof(AbiTensor, shape) + 8 * (size_t)dim;
    return LLVMBuildTrunc(g->cg.b, gen_arg(g, off, g->cg.t_i64), g->cg.t_i32, "");
}

/* With a tile map, narrows the key loop to [kb0, nkb): the first to the last tile of this query
 * block that is not EMPTY (a band for sliding windows, the document's span for packed
 * documents), so that EMPTY tiles outside it are neither copied nor visited. Each warp scans
 * the map row itself, 32 tiles a step (one coalesced load per lane instead of nkb dependent
 * loads per thread), and reduces with redux.sync. */
static void tile_range(Gen *g, Thread *t)
{
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef zero = gen_i32(g, 0);
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(B);
    LLVMBasicBlockRef head = gen_block(g, "scan"), body = gen_block(g, "scan.body");
    LLVMBasicBlockRef red = gen_block(g, "scan.red"), done = gen_block(g, "scan.done");
    LLVMValueRef has_map = LLVMBuildICmp(B, LLVMIntNE, t->tiles, gen_i64(g, 0), "");
    LLVMBuildCondBr(B, LLVMBuildAnd(B, has_map, LLVMBuildICmp(B, LLVMIntSGT, t->nkb, zero, ""), ""),
                    head, done);
    LLVMPositionBuilderAtEnd(B, head);
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, t->lane, t->nkb, ""), body, red);
    LLVMPositionBuilderAtEnd(B, body);
    LLVMValueRef kt = LLVMBuildPhi(B, g->cg.t_i32, "kt"), lo = LLVMBuildPhi(B, g->cg.t_i32, "lo");
    LLVMValueRef hi = LLVMBuildPhi(B, g->cg.t_i32, "hi");
    LLVMValueRef p = LLVMBuildIntToPtr(B, LLVMBuildAdd(B, t->tbase, LLVMBuildSExt(B, kt, g->cg.t_i64, ""), ""),
                                       g->p1, "");
    LLVMValueRef ne = LLVMBuildICmp(B, LLVMIntNE, LLVMBuildLoad2(B, g->cg.t_i8, p, ""),
                                    LLVMConstInt(g->cg.t_i8, TILE_EMPTY, 0), "");
    LLVMValueRef kt1 = gen_add(g, kt, gen_i32(g, 32));
    LLVMValueRef lo1 = LLVMBuildSelect(B, ne, gen_min(g, lo, kt), lo, "");
    LLVMValueRef hi1 = LLVMBuildSelect(B, ne, gen_add(g, kt, gen_i32(g, 1)), hi, "");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, kt1, t->nkb, ""), body, red);
    LLVMValueRef v0[3] = {t->lane, t->nkb, zero}, v1[3] = {kt1, lo1, hi1}, ph[3] = {kt, lo, hi};
    for (int i = 0; i < 3; i++) {
        LLVMValueRef in[2] = {v0[i], v1[i]};
        LLVMBasicBlockRef from[2] = {head, body};
        LLVMAddIncoming(ph[i], in, from, 2);
    }
    LLVMPositionBuilderAtEnd(B, red);
    LLVMValueRef lor = LLVMBuildPhi(B, g->cg.t_i32, ""), hir = LLVMBuildPhi(B, g->cg.t_i32, "");
    {
        LLVMValueRef a[2] = {t->nkb, lo1}, b2[2] = {zero, hi1};
        LLVMBasicBlockRef from[2] = {head, body};
        LLVMAddIncoming(lor, a, from, 2);
        LLVMAddIncoming(hir, b2, from, 2);
    }
    LLVMTypeRef ts[2] = {g->cg.t_i32, g->cg.t_i32};
    LLVMValueRef am[2] = {lor, gen_i32(g, -1)}, ax[2] = {hir, gen_i32(g, -1)};
    LLVMValueRef lo2 = gen_call(g, "llvm.nvvm.redux.sync.min", g->cg.t_i32, ts, 2, am);
    LLVMValueRef hi2 = gen_call(g, "llvm.nvvm.redux.sync.max", g->cg.t_i32, ts, 2, ax);
    LLVMBuildBr(B, done);
    LLVMPositionBuilderAtEnd(B, done);
    LLVMValueRef kb0 = LLVMBuildPhi(B, g->cg.t_i32, "kb0"), nkb = LLVMBuildPhi(B, g->cg.t_i32, "nkb.map");
    LLVMValueRef a0[2] = {zero, lo2}, a1[2] = {t->nkb, hi2};
    LLVMBasicBlockRef from[2] = {pre, red};
    LLVMAddIncoming(kb0, a0, from, 2);
    LLVMAddIncoming(nkb, a1, from, 2);
    t->kb0 = kb0;
    t->nkb = nkb;
}

void cg_ptx_thread_setup(Gen *g, Thread *t)
{
    LLVMBuilderRef B = g->cg.b;
    const PtxConfig *c = g->c;
    t->tid = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.tid.x");
    t->lane = LLVMBuildAnd(B, t->tid, gen_i32(g, 31), "lane");
    t->warp = LLVMBuildLShr(B, t->tid, gen_i32(g, 5), "warp");
    t->g = LLVMBuildLShr(B, t->lane, gen_i32(g, 2), "g");
    t->t4 = LLVMBuildAnd(B, t->lane, gen_i32(g, 3), "t4");
    LLVMValueRef bx = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.x");
    if (c->mask == PTX_MASK_CAUSAL || c->causal_bound)   /* the longest rows first: a shorter tail */
        bx = LLVMBuildSub(B, LLVMBuildSub(B, cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.nctaid.x"), bx, ""),
                          gen_i32(g, 1), "");
    t->qb = bx;
    t->h = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.y");
    t->b = cg_ptx_sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.z");
    t->lq = cg_ptx_shape32(g, c->tq, 2);
    t->lk = cg_ptx_shape32(g, c->tk, 2);
    LLVMValueRef hq = cg_ptx_shape32(g, c->tq, 1), hkv = cg_ptx_shape32(g, c->tk, 1);
    LLVMValueRef hk = LLVMBuildUDiv(B, t->h, LLVMBuildUDiv(B, hq, hkv, ""), "hk");
    t->qoff = LLVMBuildTrunc(B, gen_arg(g, offsetof(AbiArgs, q_offset), g->cg.t_i64), g->cg.t_i32, "");
    t->qrow0 = LLVMBuildMul(B, t->qb, gen_i32(g, g->BM), "");
    t->qbase = cg_ptx_head_base(g, c->tq, t->b, t->h, &t->qs2, 2);
    t->kbase = cg_ptx_head_base(g, c->tk, t->b, hk, &t->ks2, 2);
    t->vbase = cg_ptx_head_base(g, c->tv, t->b, hk, &t->vs2, 2);
    /* ldmatrix lane offsets: lanes 8m..8m+7 address the rows of matrix m. */
    LLVMValueRef l7 = LLVMBuildAnd(B, t->lane, gen_i32(g, 7), "");
    LLVMValueRef l3 = LLVMBuildAnd(B, LLVMBuildLShr(B, t->lane, gen_i32(g, 3), ""), gen_i32(g, 1), "");
    LLVMValueRef l4 = LLVMBuildLShr(B, t->lane, gen_i32(g, 4), "");
    LLVMValueRef wrow = LLVMBuildMul(B, t->warp, gen_i32(g, 16 * c->tile.mtiles), "");
    /* Q (A operand): matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15), (8-15, 8-15). */
    t->qa = gen_add(g, gen_i32(g, g->off_q),
        gen_add(g, LLVMBuildMul(B, gen_add(g, wrow, gen_add(g, l7, LLVMBuildShl(B, l3, gen_i32(g, 3), ""))),
                                gen_i32(g, g->QS), ""),
                LLVMBuildMul(B, l4, gen_i32(g, 16), "")));
    /* K (B operand, non-transposed): (keys 0-7, k 0-7), (keys 0-7, k 8-15), (keys 8-15, k 0-7), ... */
    t->ka = gen_add(g, LLVMBuildMul(B, gen_add(g, LLVMBuildShl(B, l4, gen_i32(g, 3), ""), l7),
                                    gen_i32(g, g->KS), ""),
                    LLVMBuildMul(B, l3, gen_i32(g, 16), ""));
    /* V (B operand, transposed): (keys 0-7, d 0-7), (keys 8-15, d 0-7), (keys 0-7, d 8-15), ... */
    t->va = gen_add(g, gen_i32(g, g->BN * g->KS),
        gen_add(g, LLVMBuildMul(B, gen_add(g, LLVMBuildShl(B, l3, gen_i32(g, 3), ""), l7),
                                gen_i32(g, g->VS), ""),
                LLVMBuildMul(B, l4, gen_i32(g, 16), "")));
    /* Number of key tiles: all of Lk, or up to the last row's diagonal for causal. */
    LLVMValueRef kend = t->lk;
    if (c->mask == PTX_MASK_CAUSAL || c->causal_bound) {
        LLVMValueRef last = gen_min(g, gen_add(g, t->qrow0, gen_i32(g, g->BM)), t->lq);
        LLVMValueRef diag = gen_add(g, last, t->qoff);   /* keys j <= last - 1 + qoff */
        kend = gen_max(g, gen_min(g, kend, diag), gen_i32(g, 0));
    }
    t->nkb = LLVMBuildSDiv(B, gen_add(g, kend, gen_i32(g, g->BN - 1)), gen_i32(g, g->BN), "nkb");
    t->tiles = gen_arg(g, offsetof(AbiArgs, tiles), g->cg.t_i64);
    LLVMValueRef tsb = gen_arg(g, offsetof(AbiArgs, tile_sb), g->cg.t_i64);
    LLVMValueRef tsh = gen_arg(g, offsetof(AbiArgs, tile_sh), g->cg.t_i64);
    LLVMValueRef tsq = gen_arg(g, offsetof(AbiArgs, tile_sq), g->cg.t_i64);
    t->tbase = LLVMBuildAdd(B, t->tiles, LLVMBuildAdd(B,
        LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildSExt(B, t->b, g->cg.t_i64, ""), tsb, ""),
                     LLVMBuildMul(B, LLVMBuildSExt(B, t->h, g->cg.t_i64, ""), tsh, ""), ""),
        LLVMBuildMul(B, LLVMBuildSExt(B, t->qb, g->cg.t_i64, ""), tsq, ""), ""), "");
    t->kb0 = gen_i32(g, 0);
    if (c->mask != PTX_MASK_NONE) tile_range(g, t);   /* a map can only hold EMPTY tiles then */
}

/* Q fragments of m-tile mt, k-step ks (ldmatrix from shared memory). */
Frag cg_ptx_q_frag(Gen *g, const Thread *t, int mt, int ks)
{
    Frag f;
    cg_ptx_ldsm(g, gen_add(g, t->qa, gen_i32(g, mt * 16 * g->QS + ks * 32)), false, f.v);
    return f;
}

/* Row max / sum across the 4 lanes of a quad. */
LLVMValueRef cg_ptx_quad(Gen *g, LLVMValueRef v, bool is_max)
{
    LLVMTypeRef ts[4] = {g->cg.t_i32, g->cg.t_f32, g->cg.t_i32, g->cg.t_i32};
    for (int s = 1; s <= 2; s <<= 1) {
        LLVMValueRef a[4] = {gen_i32(g, -1), v, gen_i32(g, s), gen_i32(g, 31)};
        LLVMValueRef o = gen_call(g, "llvm.nvvm.shfl.sync.bfly.f32", g->cg.t_f32, ts, 4, a);
        v = is_max ? gen_fmax(g, v, o) : LLVMBuildFAdd(g->cg.b, v, o, "");
    }
    return v;
}

LLVMValueRef cg_ptx_ex2(Gen *g, LLVMValueRef x)
{
    return gen_call(g, "llvm.nvvm.ex2.approx.ftz.f", g->cg.t_f32, &g->cg.t_f32, 1, &x);
}

LLVMValueRef cg_ptx_pack(Gen *g, LLVMValueRef lo, LLVMValueRef hi)
{
    bool bf = g->c->dtype == DT_BF16;
    LLVMTypeRef ts[2] = {g->cg.t_f32, g->cg.t_f32};
    LLVMValueRef a[2] = {hi, lo};   /* the first operand goes to the high half */
    LLVMValueRef r = gen_call(g, bf ? "llvm.nvvm.ff2bf16x2.rn" : "llvm.nvvm.ff2f16x2.rn",
                              bf ? LLVMVectorType(LLVMBFloatTypeInContext(g->cg.ctx), 2) : g->h2, ts, 2, a);
    return LLVMBuildBitCast(g->cg.b, r, g->cg.t_i32, "");
}

static LLVMValueRef ptx_max(void *g, LLVMValueRef a, LLVMValueRef b) { return gen_fmax(g, a, b); }
static LLVMValueRef ptx_exp2(void *g, LLVMValueRef x) { return cg_ptx_ex2(g, x); }
static LLVMValueRef ptx_fma(void *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
    return gen_fma(g, a, b, c);
}

static LLVMValueRef ptx_log2(void *g, LLVMValueRef x)
{
    return gen_call(g, "llvm.nvvm.lg2.approx.f", ((Gen *)g)->cg.t_f32, &((Gen *)g)->cg.t_f32, 1, &x);
}

CgSoftmax cg_ptx_softmax(Gen *g)
{
    return (CgSoftmax){&g->cg, g, ptx_max, ptx_exp2, ptx_fma, ptx_log2};
}

/* 8 elements at byte address a (i64, 16-byte aligned) as f32. */
void cg_ptx_load8(Gen *g, LLVMValueRef a, LLVMValueRef out[8])
{
    LLVMBuilderRef B = g->cg.b;
    LLVMTypeRef v4 = LLVMVectorType(g->cg.t_i32, 4);
    LLVMValueRef w = LLVMBuildLoad2(B, v4, LLVMBuildIntToPtr(B, a, g->p1, ""), "");
    LLVMSetAlignment(w, 16);
    if (g->c->dtype == DT_BF16) {
        for (int e = 0; e < 4; e++) {
            LLVMValueRef x = LLVMBuildExtractElement(B, w, gen_i32(g, e), "");
            out[2 * e] = LLVMBuildBitCast(B, LLVMBuildShl(B, x, gen_i32(g, 16), ""), g->cg.t_f32, "");
            out[2 * e + 1] = LLVMBuildBitCast(B, LLVMBuildAnd(B, x, gen_i32(g, (int32_t)0xffff0000), ""),
                                              g->cg.t_f32, "");
        }
        return;
    }
    LLVMValueRef h = LLVMBuildBitCast(B, w, LLVMVectorType(LLVMHalfTypeInContext(g->cg.ctx), 8), "");
    for (int e = 0; e < 8; e++)
        out[e] = LLVMBuildFPExt(B, LLVMBuildExtractElement(B, h, gen_i32(g, e), ""), g->cg.t_f32, "");
}
