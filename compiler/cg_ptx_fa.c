/* cg_ptx_fa.c: the FlashAttention-2 forward skeleton for NVIDIA GPUs (sm_80, sm_90a) as LLVM
 * IR, built through the LLVM C API from a PtxConfig.
 *
 * One CTA owns tile_m = warps * mtiles * 16 query rows of one (batch, head); each warp owns
 * mtiles 16-row MMA tiles. Q and a ring of `stages` K/V tiles live in shared memory, filled by
 * cp.async (16-byte chunks, zero-filled past Lk / Lq / the head dim), one commit group per
 * tile, one barrier per key tile. S = Q K^T and O += P V run on mma.sync m16n8k16 (bf16 or f16
 * in, f32 accumulate), operands from ldmatrix (ldmatrix.trans for V). Rows of Q/K/V tiles are
 * padded by 16 bytes in shared memory so that the 8 row addresses of an ldmatrix fall in
 * distinct banks. The online softmax runs in f32 in log2 space (scale * log2 e folded into one
 * FMA before ex2.approx); the running sum stays per thread and is reduced across the quad only
 * at the end. Fragment layouts are those of the PTX ISA for m16n8k16: lane = 4 * g + t, the
 * accumulator holds rows g and g + 8, columns 2t and 2t + 1 of each 8-column tile, which is
 * also the A-operand layout of P for the PV product (no shuffles needed).
 *
 * Everything inside a key tile is unrolled at generation time, so every fragment is an SSA
 * value (registers); the key loop carries m, l and O as phis. */
#include "cg_ptx_gen.h"

#include <math.h>
#include <stddef.h>

enum { MAXM = 4, MAXN = 32, MAXD = 32 };   /* m-tiles per warp, 8-wide key / dim tiles */

typedef struct Frag { LLVMValueRef v[4]; } Frag;

/* Per-thread values computed once at entry. */
typedef struct Thread {
    LLVMValueRef tid, lane, warp, g, t4;
    LLVMValueRef qb, h, b, lq, lk, qoff;       /* i32 */
    LLVMValueRef qrow0;                        /* i32: first query row of the CTA */
    LLVMValueRef kbase, vbase, qbase;          /* i64 byte addresses of row 0 of this head */
    LLVMValueRef ks2, vs2, qs2;                /* i64 row strides in bytes */
    LLVMValueRef qa, ka, va;                   /* i32 per-lane ldmatrix offsets */
    LLVMValueRef nkb;
    LLVMValueRef tiles, tbase;                 /* tile map pointer (i64) and row base */
} Thread;

static LLVMValueRef mma(Gen *g, const Frag *a, LLVMValueRef b0, LLVMValueRef b1, Frag *c)
{
    bool bf = g->c->dtype == DT_BF16;
    LLVMTypeRef op = bf ? g->i32 : g->h2;
    LLVMValueRef args[10];
    for (int i = 0; i < 4; i++) args[i] = bf ? a->v[i] : LLVMBuildBitCast(g->B, a->v[i], op, "");
    args[4] = bf ? b0 : LLVMBuildBitCast(g->B, b0, op, "");
    args[5] = bf ? b1 : LLVMBuildBitCast(g->B, b1, op, "");
    for (int i = 0; i < 4; i++) args[6 + i] = c->v[i];
    LLVMTypeRef ts[10] = {op, op, op, op, op, op, g->f32, g->f32, g->f32, g->f32};
    LLVMTypeRef f4[4] = {g->f32, g->f32, g->f32, g->f32};
    LLVMTypeRef rt = LLVMStructTypeInContext(g->C, f4, 4, 0);
    LLVMValueRef r = gen_call(g, bf ? "llvm.nvvm.mma.m16n8k16.row.col.bf16"
                                    : "llvm.nvvm.mma.m16n8k16.row.col.f32.f32",
                              rt, ts, 10, args);
    for (int i = 0; i < 4; i++) c->v[i] = LLVMBuildExtractValue(g->B, r, (unsigned)i, "");
    return r;
}

static void ldsm(Gen *g, LLVMValueRef off, bool trans, LLVMValueRef out[4])
{
    LLVMTypeRef i4[4] = {g->i32, g->i32, g->i32, g->i32};
    LLVMTypeRef rt = LLVMStructTypeInContext(g->C, i4, 4, 0);
    LLVMValueRef p = gen_smem(g, off);
    LLVMValueRef r = gen_call(g, trans ? "llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.trans.b16.p3"
                                       : "llvm.nvvm.ldmatrix.sync.aligned.m8n8.x4.b16.p3",
                              rt, &g->p3, 1, &p);
    for (int i = 0; i < 4; i++) out[i] = LLVMBuildExtractValue(g->B, r, (unsigned)i, "");
}

/* Issues the cp.async copies of a rows x dpad tile (head dim d) whose row 0 is global row
 * `row0` of a tensor at byte address `base` with row stride `stride` (bytes), into shared
 * memory at `soff` with row pitch `pitch`. Rows >= `nrows` and columns >= d are zero-filled. */
static void load_tile(Gen *g, const Thread *t, LLVMValueRef base, LLVMValueRef stride,
                      LLVMValueRef row0, LLVMValueRef nrows, LLVMValueRef soff, int rows,
                      int d, int dpad, int pitch)
{
    LLVMBuilderRef B = g->B;
    int cpr = dpad / 8, total = rows * cpr;
    LLVMTypeRef ts[3] = {g->p3, g->i64, g->i32};
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
            LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildZExt(B, srow, g->i64, ""), stride, ""),
                         LLVMBuildZExt(B, LLVMBuildMul(B, ch, gen_i32(g, 16), ""), g->i64, ""), ""), "");
        LLVMValueRef dst = gen_add(g, soff, gen_add(g, LLVMBuildMul(B, r, gen_i32(g, pitch), ""),
                                                    LLVMBuildMul(B, ch, gen_i32(g, 16), "")));
        LLVMValueRef args[3] = {gen_smem(g, dst), addr,
                                LLVMBuildSelect(B, ok, gen_i32(g, 16), gen_i32(g, 0), "")};
        /* Inline asm: LLVM 19 cannot select the cp.async.*.s intrinsic with 32-bit shared
         * pointers (-nvptx-short-ptr). */
        LLVMTypeRef fty = LLVMFunctionType(g->vd, ts, 3, 0);
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

static void commit(Gen *g) { gen_call(g, "llvm.nvvm.cp.async.commit.group", g->vd, NULL, 0, NULL); }

static void wait_group(Gen *g, int n)
{
    LLVMValueRef a = gen_i32(g, n);
    gen_call(g, "llvm.nvvm.cp.async.wait.group", g->vd, &g->i32, 1, &a);
}

static LLVMValueRef stage_off(Gen *g, LLVMValueRef kb)
{
    LLVMValueRef s = LLVMBuildURem(g->B, kb, gen_i32(g, g->c->tile.stages), "");
    return gen_add(g, gen_i32(g, g->off_kv), LLVMBuildMul(g->B, s, gen_i32(g, g->stage_bytes), ""));
}

/* Loads key tile kb (K and V) into its stage, when kb < nkb. */
static void load_kv(Gen *g, const Thread *t, LLVMValueRef kb)
{
    LLVMBuilderRef B = g->B;
    LLVMBasicBlockRef go = gen_block(g, "kv.load"), done = gen_block(g, "kv.done");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, kb, t->nkb, ""), go, done);
    LLVMPositionBuilderAtEnd(B, go);
    LLVMValueRef so = stage_off(g, kb);
    LLVMValueRef row0 = LLVMBuildMul(B, kb, gen_i32(g, g->BN), "");
    load_tile(g, t, t->kbase, t->ks2, row0, t->lk, so, g->BN, g->c->dk, g->DKP, g->KS);
    load_tile(g, t, t->vbase, t->vs2, row0, t->lk, gen_add(g, so, gen_i32(g, g->BN * g->KS)),
              g->BN, g->c->dv, g->DVP, g->VS);
    LLVMBuildBr(B, done);
    LLVMPositionBuilderAtEnd(B, done);
}

static LLVMValueRef sreg(Gen *g, const char *name)
{
    return gen_call(g, name, g->i32, NULL, 0, NULL);
}

/* Byte address of row 0 of head `hh` in batch t->b of tensor slot `slot`, and its row stride. */
static LLVMValueRef head_base(Gen *g, int slot, LLVMValueRef b, LLVMValueRef hh, LLVMValueRef *rs,
                              int esize)
{
    LLVMBuilderRef B = g->B;
    size_t base = (size_t)slot * sizeof(AbiTensor);
    LLVMValueRef data = gen_arg(g, base + offsetof(AbiTensor, data), g->i64);
    LLVMValueRef s0 = gen_arg(g, base + offsetof(AbiTensor, strides), g->i64);
    LLVMValueRef s1 = gen_arg(g, base + offsetof(AbiTensor, strides) + 8, g->i64);
    LLVMValueRef el = LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildSExt(B, b, g->i64, ""), s0, ""),
                                   LLVMBuildMul(B, LLVMBuildSExt(B, hh, g->i64, ""), s1, ""), "");
    if (rs) {
        LLVMValueRef s2 = gen_arg(g, base + offsetof(AbiTensor, strides) + 16, g->i64);
        *rs = LLVMBuildMul(B, s2, gen_i64(g, esize), "");
    }
    return LLVMBuildAdd(B, data, LLVMBuildMul(B, el, gen_i64(g, esize), ""), "");
}

static LLVMValueRef shape32(Gen *g, int slot, int dim)
{
    size_t off = (size_t)slot * sizeof(AbiTensor) + offsetof(AbiTensor, shape) + 8 * (size_t)dim;
    return LLVMBuildTrunc(g->B, gen_arg(g, off, g->i64), g->i32, "");
}

static void thread_setup(Gen *g, Thread *t)
{
    LLVMBuilderRef B = g->B;
    const PtxConfig *c = g->c;
    t->tid = sreg(g, "llvm.nvvm.read.ptx.sreg.tid.x");
    t->lane = LLVMBuildAnd(B, t->tid, gen_i32(g, 31), "lane");
    t->warp = LLVMBuildLShr(B, t->tid, gen_i32(g, 5), "warp");
    t->g = LLVMBuildLShr(B, t->lane, gen_i32(g, 2), "g");
    t->t4 = LLVMBuildAnd(B, t->lane, gen_i32(g, 3), "t4");
    LLVMValueRef bx = sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.x");
    if (c->mask == PTX_MASK_CAUSAL)   /* the longest rows first: a shorter tail */
        bx = LLVMBuildSub(B, LLVMBuildSub(B, sreg(g, "llvm.nvvm.read.ptx.sreg.nctaid.x"), bx, ""),
                          gen_i32(g, 1), "");
    t->qb = bx;
    t->h = sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.y");
    t->b = sreg(g, "llvm.nvvm.read.ptx.sreg.ctaid.z");
    t->lq = shape32(g, c->tq, 2);
    t->lk = shape32(g, c->tk, 2);
    LLVMValueRef hq = shape32(g, c->tq, 1), hkv = shape32(g, c->tk, 1);
    LLVMValueRef hk = LLVMBuildUDiv(B, t->h, LLVMBuildUDiv(B, hq, hkv, ""), "hk");
    t->qoff = LLVMBuildTrunc(B, gen_arg(g, offsetof(AbiArgs, q_offset), g->i64), g->i32, "");
    t->qrow0 = LLVMBuildMul(B, t->qb, gen_i32(g, g->BM), "");
    t->qbase = head_base(g, c->tq, t->b, t->h, &t->qs2, 2);
    t->kbase = head_base(g, c->tk, t->b, hk, &t->ks2, 2);
    t->vbase = head_base(g, c->tv, t->b, hk, &t->vs2, 2);
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
    if (c->mask == PTX_MASK_CAUSAL) {
        LLVMValueRef last = gen_min(g, gen_add(g, t->qrow0, gen_i32(g, g->BM)), t->lq);
        LLVMValueRef diag = gen_add(g, last, t->qoff);   /* keys j <= last - 1 + qoff */
        kend = gen_max(g, gen_min(g, kend, diag), gen_i32(g, 0));
    }
    t->nkb = LLVMBuildSDiv(B, gen_add(g, kend, gen_i32(g, g->BN - 1)), gen_i32(g, g->BN), "nkb");
    t->tiles = gen_arg(g, offsetof(AbiArgs, tiles), g->i64);
    LLVMValueRef tsb = gen_arg(g, offsetof(AbiArgs, tile_sb), g->i64);
    LLVMValueRef tsh = gen_arg(g, offsetof(AbiArgs, tile_sh), g->i64);
    LLVMValueRef tsq = gen_arg(g, offsetof(AbiArgs, tile_sq), g->i64);
    t->tbase = LLVMBuildAdd(B, t->tiles, LLVMBuildAdd(B,
        LLVMBuildAdd(B, LLVMBuildMul(B, LLVMBuildSExt(B, t->b, g->i64, ""), tsb, ""),
                     LLVMBuildMul(B, LLVMBuildSExt(B, t->h, g->i64, ""), tsh, ""), ""),
        LLVMBuildMul(B, LLVMBuildSExt(B, t->qb, g->i64, ""), tsq, ""), ""), "");
}

/* Q fragments of m-tile mt, k-step ks (ldmatrix from shared memory). */
static Frag q_frag(Gen *g, const Thread *t, int mt, int ks)
{
    Frag f;
    ldsm(g, gen_add(g, t->qa, gen_i32(g, mt * 16 * g->QS + ks * 32)), false, f.v);
    return f;
}

/* Row max / sum across the 4 lanes of a quad. */
static LLVMValueRef quad(Gen *g, LLVMValueRef v, bool is_max)
{
    LLVMTypeRef ts[4] = {g->i32, g->f32, g->i32, g->i32};
    for (int s = 1; s <= 2; s <<= 1) {
        LLVMValueRef a[4] = {gen_i32(g, -1), v, gen_i32(g, s), gen_i32(g, 31)};
        LLVMValueRef o = gen_call(g, "llvm.nvvm.shfl.sync.bfly.f32", g->f32, ts, 4, a);
        v = is_max ? gen_fmax(g, v, o) : LLVMBuildFAdd(g->B, v, o, "");
    }
    return v;
}

static LLVMValueRef ex2(Gen *g, LLVMValueRef x)
{
    return gen_call(g, "llvm.nvvm.ex2.approx.ftz.f", g->f32, &g->f32, 1, &x);
}

static LLVMValueRef pack(Gen *g, LLVMValueRef lo, LLVMValueRef hi)
{
    bool bf = g->c->dtype == DT_BF16;
    LLVMTypeRef ts[2] = {g->f32, g->f32};
    LLVMValueRef a[2] = {hi, lo};   /* the first operand goes to the high half */
    LLVMValueRef r = gen_call(g, bf ? "llvm.nvvm.ff2bf16x2.rn" : "llvm.nvvm.ff2f16x2.rn",
                              bf ? LLVMVectorType(LLVMBFloatTypeInContext(g->C), 2) : g->h2, ts, 2, a);
    return LLVMBuildBitCast(g->B, r, g->i32, "");
}

bool cg_ptx_build_fa(Gen *g)
{
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->B;
    int MT = c->tile.mtiles, NN = g->BN / 8, ND = g->DVP / 8, KQ = g->DKP / 16;
    if (MT > MAXM || NN > MAXN || ND > MAXD) return false;
    Thread t;
    thread_setup(g, &t);
    const float sl2 = c->scale * 1.4426950408889634f;
    LLVMValueRef ninf = gen_f32(g, -INFINITY), zero = gen_f32(g, 0.0f);

    /* Prologue: Q in its own group, then key tiles 0 .. stages-2. */
    load_tile(g, &t, t.qbase, t.qs2, t.qrow0, t.lq, gen_i32(g, g->off_q), g->BM, c->dk, g->DKP, g->QS);
    commit(g);
    for (int s = 0; s < c->tile.stages - 1; s++) {
        load_kv(g, &t, gen_i32(g, s));
        commit(g);
    }
    Frag qr[MAXM][16];
    if (c->tile.q_in_regs) {
        wait_group(g, c->tile.stages - 1);
        gen_call(g, "llvm.nvvm.barrier0", g->vd, NULL, 0, NULL);
        for (int mt = 0; mt < MT; mt++)
            for (int ks = 0; ks < KQ; ks++) qr[mt][ks] = q_frag(g, &t, mt, ks);
    }

    /* The key loop's carried state: m (log2 domain, scaled), l (per-thread partial), O. */
    int nrow = 2 * MT, no = MT * ND * 4;
    LLVMValueRef m0[2 * MAXM], l0[2 * MAXM], o0[MAXM * MAXD * 4];
    for (int r = 0; r < nrow; r++) { m0[r] = ninf; l0[r] = zero; }
    for (int i = 0; i < no; i++) o0[i] = zero;

    LLVMBasicBlockRef entry = LLVMGetInsertBlock(B);
    LLVMBasicBlockRef loop = gen_block(g, "kloop"), exit = gen_block(g, "kexit");
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSGT, t.nkb, gen_i32(g, 0), ""), loop, exit);
    LLVMPositionBuilderAtEnd(B, loop);
    LLVMValueRef kb = LLVMBuildPhi(B, g->i32, "kb");
    LLVMValueRef mp[2 * MAXM], lp[2 * MAXM], op[MAXM * MAXD * 4];
    for (int r = 0; r < nrow; r++) {
        mp[r] = LLVMBuildPhi(B, g->f32, "m");
        lp[r] = LLVMBuildPhi(B, g->f32, "l");
    }
    for (int i = 0; i < no; i++) op[i] = LLVMBuildPhi(B, g->f32, "o");

    wait_group(g, c->tile.stages - 2);
    gen_call(g, "llvm.nvvm.barrier0", g->vd, NULL, 0, NULL);
    load_kv(g, &t, gen_add(g, kb, gen_i32(g, c->tile.stages - 1)));
    commit(g);

    /* Tile class from the map (NULL map: PARTIAL, i.e. decided by the geometry below). */
    LLVMBasicBlockRef body = gen_block(g, "kbody"), latch = gen_block(g, "klatch");
    LLVMBasicBlockRef cls_bb = LLVMGetInsertBlock(B);
    LLVMValueRef has_map = LLVMBuildICmp(B, LLVMIntNE, t.tiles, gen_i64(g, 0), "");
    LLVMValueRef cls = gen_i32(g, TILE_PARTIAL);
    {
        LLVMBasicBlockRef rd = gen_block(g, "map.read"), join = gen_block(g, "map.join");
        LLVMBuildCondBr(B, has_map, rd, join);
        LLVMPositionBuilderAtEnd(B, rd);
        LLVMValueRef p = LLVMBuildIntToPtr(B, LLVMBuildAdd(B, t.tbase,
                                           LLVMBuildSExt(B, kb, g->i64, ""), ""), g->p1, "");
        LLVMValueRef v = LLVMBuildZExt(B, LLVMBuildLoad2(B, g->i8, p, ""), g->i32, "");
        LLVMBuildBr(B, join);
        LLVMPositionBuilderAtEnd(B, join);
        LLVMValueRef ph = LLVMBuildPhi(B, g->i32, "cls");
        LLVMValueRef vals[2] = {cls, v};
        LLVMBasicBlockRef from[2] = {cls_bb, rd};
        LLVMAddIncoming(ph, vals, from, 2);
        cls = ph;
    }
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, cls, gen_i32(g, TILE_EMPTY), ""), latch, body);
    LLVMBasicBlockRef skip_from = LLVMGetInsertBlock(B);
    LLVMPositionBuilderAtEnd(B, body);

    LLVMValueRef so = stage_off(g, kb);
    /* S = Q K^T */
    Frag s[MAXM][MAXN];
    for (int mt = 0; mt < MT; mt++)
        for (int nt = 0; nt < NN; nt++)
            for (int e = 0; e < 4; e++) s[mt][nt].v[e] = zero;
    for (int ks = 0; ks < KQ; ks++) {
        Frag qa[MAXM];
        for (int mt = 0; mt < MT; mt++) qa[mt] = c->tile.q_in_regs ? qr[mt][ks] : q_frag(g, &t, mt, ks);
        for (int np = 0; np < NN / 2; np++) {
            LLVMValueRef kf[4];
            ldsm(g, gen_add(g, so, gen_add(g, t.ka, gen_i32(g, np * 16 * g->KS + ks * 32))), false, kf);
            for (int mt = 0; mt < MT; mt++) {
                mma(g, &qa[mt], kf[0], kf[1], &s[mt][2 * np]);
                mma(g, &qa[mt], kf[2], kf[3], &s[mt][2 * np + 1]);
            }
        }
    }

    /* Mask only where needed: the tile crosses Lk, or is PARTIAL for the mask. */
    LLVMValueRef k0 = LLVMBuildMul(B, kb, gen_i32(g, g->BN), "k0");
    LLVMValueRef need = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN)), t.lk, "");
    if (c->mask == PTX_MASK_CAUSAL) {
        LLVMValueRef ipos0 = gen_add(g, gen_add(g, t.qrow0, t.qoff),
                                     LLVMBuildMul(B, t.warp, gen_i32(g, 16 * MT), ""));
        LLVMValueRef geo = LLVMBuildICmp(B, LLVMIntSGT, gen_add(g, k0, gen_i32(g, g->BN - 1)), ipos0, "");
        LLVMValueRef part = LLVMBuildSelect(B, has_map,
            LLVMBuildICmp(B, LLVMIntEQ, cls, gen_i32(g, TILE_PARTIAL), ""), geo, "");
        need = LLVMBuildOr(B, need, part, "");
    }
    {
        LLVMBasicBlockRef pre = LLVMGetInsertBlock(B);
        LLVMBasicBlockRef mk = gen_block(g, "mask"), join = gen_block(g, "mask.join");
        LLVMBuildCondBr(B, need, mk, join);
        LLVMPositionBuilderAtEnd(B, mk);
        Frag sm[MAXM][MAXN];
        for (int mt = 0; mt < MT; mt++)
            for (int half = 0; half < 2; half++) {
                LLVMValueRef ipos = gen_add(g, gen_add(g, t.qrow0, t.qoff), gen_add(g,
                    LLVMBuildMul(B, t.warp, gen_i32(g, 16 * MT), ""),
                    gen_add(g, t.g, gen_i32(g, mt * 16 + half * 8))));
                for (int nt = 0; nt < NN; nt++)
                    for (int e = 0; e < 2; e++) {
                        LLVMValueRef j = gen_add(g, k0, gen_add(g, LLVMBuildShl(B, t.t4, gen_i32(g, 1), ""),
                                                                gen_i32(g, nt * 8 + e)));
                        LLVMValueRef bad = LLVMBuildICmp(B, LLVMIntSGE, j, t.lk, "");
                        if (c->mask == PTX_MASK_CAUSAL)
                            bad = LLVMBuildOr(B, bad, LLVMBuildICmp(B, LLVMIntSGT, j, ipos, ""), "");
                        LLVMValueRef *x = &s[mt][nt].v[half * 2 + e];
                        sm[mt][nt].v[half * 2 + e] = LLVMBuildSelect(B, bad, ninf, *x, "");
                    }
            }
        LLVMBuildBr(B, join);
        LLVMPositionBuilderAtEnd(B, join);
        for (int mt = 0; mt < MT; mt++)
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 4; e++) {
                    LLVMValueRef ph = LLVMBuildPhi(B, g->f32, "s");
                    LLVMValueRef vals[2] = {s[mt][nt].v[e], sm[mt][nt].v[e]};
                    LLVMBasicBlockRef from[2] = {pre, mk};
                    LLVMAddIncoming(ph, vals, from, 2);
                    s[mt][nt].v[e] = ph;
                }
    }

    /* Online softmax per row (mt, half). */
    LLVMValueRef mn[2 * MAXM], ln[2 * MAXM], on[MAXM * MAXD * 4];
    LLVMValueRef sl2v = gen_f32(g, sl2);
    Frag pa[MAXM][MAXN / 2];
    for (int mt = 0; mt < MT; mt++)
        for (int half = 0; half < 2; half++) {
            int r = mt * 2 + half;
            LLVMValueRef mx = ninf;
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 2; e++) mx = gen_fmax(g, mx, s[mt][nt].v[half * 2 + e]);
            mx = quad(g, mx, true);
            LLVMValueRef mnew = gen_fmax(g, mp[r], LLVMBuildFMul(B, mx, sl2v, ""));
            /* A row with nothing visible yet keeps m = -inf; use 0 as the base so that
             * exp2(-inf - base) is 0, never NaN. */
            LLVMValueRef base = LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOEQ, mnew, ninf, ""),
                                                zero, mnew, "");
            LLVMValueRef nbase = LLVMBuildFNeg(B, base, "");
            LLVMValueRef alpha = ex2(g, LLVMBuildFSub(B, mp[r], base, ""));
            LLVMValueRef sum = zero;
            for (int nt = 0; nt < NN; nt++)
                for (int e = 0; e < 2; e++) {
                    LLVMValueRef *x = &s[mt][nt].v[half * 2 + e];
                    *x = ex2(g, gen_fma(g, *x, sl2v, nbase));
                    sum = LLVMBuildFAdd(B, sum, *x, "");
                }
            ln[r] = gen_fma(g, lp[r], alpha, sum);
            mn[r] = mnew;
            for (int nt = 0; nt < ND; nt++)
                for (int e = 0; e < 2; e++) {
                    int i = (mt * ND + nt) * 4 + half * 2 + e;
                    on[i] = LLVMBuildFMul(B, op[i], alpha, "");
                }
        }
    for (int mt = 0; mt < MT; mt++)
        for (int kk = 0; kk < NN / 2; kk++) {
            Frag *a = &pa[mt][kk];
            a->v[0] = pack(g, s[mt][2 * kk].v[0], s[mt][2 * kk].v[1]);
            a->v[1] = pack(g, s[mt][2 * kk].v[2], s[mt][2 * kk].v[3]);
            a->v[2] = pack(g, s[mt][2 * kk + 1].v[0], s[mt][2 * kk + 1].v[1]);
            a->v[3] = pack(g, s[mt][2 * kk + 1].v[2], s[mt][2 * kk + 1].v[3]);
        }
    /* O += P V */
    for (int kk = 0; kk < NN / 2; kk++)
        for (int dp = 0; dp < ND / 2; dp++) {
            LLVMValueRef vf[4];
            ldsm(g, gen_add(g, so, gen_add(g, t.va, gen_i32(g, kk * 16 * g->VS + dp * 32))), true, vf);
            for (int mt = 0; mt < MT; mt++)
                for (int h2 = 0; h2 < 2; h2++) {
                    Frag acc;
                    int i0 = (mt * ND + dp * 2 + h2) * 4;
                    for (int e = 0; e < 4; e++) acc.v[e] = on[i0 + e];
                    mma(g, &pa[mt][kk], vf[2 * h2], vf[2 * h2 + 1], &acc);
                    for (int e = 0; e < 4; e++) on[i0 + e] = acc.v[e];
                }
        }
    LLVMBuildBr(B, latch);
    LLVMBasicBlockRef body_end = LLVMGetInsertBlock(B);

    /* Latch: merge the skipped (EMPTY) path, advance. */
    LLVMPositionBuilderAtEnd(B, latch);
    LLVMValueRef mq[2 * MAXM], lq[2 * MAXM], oq[MAXM * MAXD * 4];
    LLVMBasicBlockRef lfrom[2] = {skip_from, body_end};
    for (int r = 0; r < nrow; r++) {
        LLVMValueRef a[2] = {mp[r], mn[r]}, b2[2] = {lp[r], ln[r]};
        mq[r] = LLVMBuildPhi(B, g->f32, ""); LLVMAddIncoming(mq[r], a, lfrom, 2);
        lq[r] = LLVMBuildPhi(B, g->f32, ""); LLVMAddIncoming(lq[r], b2, lfrom, 2);
    }
    for (int i = 0; i < no; i++) {
        LLVMValueRef a[2] = {op[i], on[i]};
        oq[i] = LLVMBuildPhi(B, g->f32, ""); LLVMAddIncoming(oq[i], a, lfrom, 2);
    }
    LLVMValueRef kb1 = gen_add(g, kb, gen_i32(g, 1));
    LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, kb1, t.nkb, ""), loop, exit);
    LLVMBasicBlockRef latch_end = LLVMGetInsertBlock(B);
    {
        LLVMValueRef a[2] = {gen_i32(g, 0), kb1};
        LLVMBasicBlockRef from[2] = {entry, latch_end};
        LLVMAddIncoming(kb, a, from, 2);
        for (int r = 0; r < nrow; r++) {
            LLVMValueRef x[2] = {m0[r], mq[r]}, y[2] = {l0[r], lq[r]};
            LLVMAddIncoming(mp[r], x, from, 2);
            LLVMAddIncoming(lp[r], y, from, 2);
        }
        for (int i = 0; i < no; i++) {
            LLVMValueRef x[2] = {o0[i], oq[i]};
            LLVMAddIncoming(op[i], x, from, 2);
        }
    }

    /* Epilogue: O / l, LSE; rows past Lq are not stored. */
    LLVMPositionBuilderAtEnd(B, exit);
    LLVMValueRef mf[2 * MAXM], lf[2 * MAXM], of[MAXM * MAXD * 4];
    {
        LLVMBasicBlockRef from[2] = {entry, latch_end};
        for (int r = 0; r < nrow; r++) {
            LLVMValueRef x[2] = {m0[r], mq[r]}, y[2] = {l0[r], lq[r]};
            mf[r] = LLVMBuildPhi(B, g->f32, ""); LLVMAddIncoming(mf[r], x, from, 2);
            lf[r] = LLVMBuildPhi(B, g->f32, ""); LLVMAddIncoming(lf[r], y, from, 2);
        }
        for (int i = 0; i < no; i++) {
            LLVMValueRef x[2] = {o0[i], oq[i]};
            of[i] = LLVMBuildPhi(B, g->f32, ""); LLVMAddIncoming(of[i], x, from, 2);
        }
    }
    gen_call(g, "llvm.nvvm.cp.async.wait.all", g->vd, NULL, 0, NULL);
    LLVMValueRef os2, obase = head_base(g, c->to, t.b, t.h, &os2, 2);
    LLVMValueRef ls2 = NULL, lbase = NULL;
    if (c->tlse >= 0) lbase = head_base(g, c->tlse, t.b, t.h, &ls2, 4);
    for (int mt = 0; mt < MT; mt++)
        for (int half = 0; half < 2; half++) {
            int r = mt * 2 + half;
            LLVMValueRef l = quad(g, lf[r], false);
            LLVMValueRef pos = LLVMBuildFCmp(B, LLVMRealOGT, l, zero, "");
            LLVMValueRef inv = LLVMBuildSelect(B, pos, LLVMBuildFDiv(B, gen_f32(g, 1.0f), l, ""), zero, "");
            LLVMValueRef row = gen_add(g, t.qrow0, gen_add(g, LLVMBuildMul(B, t.warp, gen_i32(g, 16 * MT), ""),
                                                           gen_add(g, t.g, gen_i32(g, mt * 16 + half * 8))));
            LLVMBasicBlockRef st = gen_block(g, "store"), nx = gen_block(g, "store.next");
            LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntSLT, row, t.lq, ""), st, nx);
            LLVMPositionBuilderAtEnd(B, st);
            LLVMValueRef rowb = LLVMBuildAdd(B, obase, LLVMBuildMul(B, LLVMBuildSExt(B, row, g->i64, ""), os2, ""), "");
            LLVMValueRef colb = LLVMBuildZExt(B, LLVMBuildShl(B, t.t4, gen_i32(g, 2), ""), g->i64, "");
            for (int nt = 0; nt < ND && nt * 8 < c->dv; nt++) {
                int i = (mt * ND + nt) * 4 + half * 2;
                LLVMValueRef v = pack(g, LLVMBuildFMul(B, of[i], inv, ""), LLVMBuildFMul(B, of[i + 1], inv, ""));
                LLVMValueRef a = LLVMBuildAdd(B, rowb, LLVMBuildAdd(B, colb, gen_i64(g, nt * 16), ""), "");
                LLVMValueRef stv = LLVMBuildStore(B, v, LLVMBuildIntToPtr(B, a, g->p1, ""));
                LLVMSetAlignment(stv, 4);
            }
            if (lbase) {
                LLVMBasicBlockRef sl = gen_block(g, "lse"), sn = gen_block(g, "lse.next");
                LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, t.t4, gen_i32(g, 0), ""), sl, sn);
                LLVMPositionBuilderAtEnd(B, sl);
                LLVMValueRef lg = gen_call(g, "llvm.nvvm.lg2.approx.f", g->f32, &g->f32, 1, &l);
                LLVMValueRef v = LLVMBuildFMul(B, LLVMBuildFAdd(B, mf[r], lg, ""),
                                               gen_f32(g, 0.6931471805599453f), "");
                v = LLVMBuildSelect(B, pos, v, ninf, "");
                LLVMValueRef a = LLVMBuildAdd(B, lbase, LLVMBuildMul(B, LLVMBuildSExt(B, row, g->i64, ""), ls2, ""), "");
                LLVMValueRef stv = LLVMBuildStore(B, v, LLVMBuildIntToPtr(B, a, g->p1, ""));
                LLVMSetAlignment(stv, 4);
                LLVMBuildBr(B, sn);
                LLVMPositionBuilderAtEnd(B, sn);
            }
            LLVMBuildBr(B, nx);
            LLVMPositionBuilderAtEnd(B, nx);
        }
    LLVMBuildRetVoid(B);
    return true;
}
