/* skel_recur.c: the GPU skeleton of the linear recurrences that pass_recur_form recognises
 * (scalar decay, per-key decay, the delta rule): a scan over t with the state in registers.
 *
 * A CTA is (b, o's head h, 32 state columns); its NW = Dk / 16 warps split the rows: lane l of
 * warp w keeps S[16 w .. 16 w + 15][c0 + l] in 16 registers for the whole sequence. One step,
 * with k, q the step's rows (each thread loads its 16 rows, the same addresses across a warp)
 * and v, o the lane's column:
 *     u = k @ S                      (delta rule: partial sums per warp, summed in shared memory)
 *     w = wv * v + wu * u
 *     S[r] = a_r * S[r] + k[r] * w,  o = out * sum_r q[r] * S[r]   (the same reduction)
 * The families never mix the state's columns, so CTAs share nothing; a step costs one barrier
 * (two for the delta rule), and T = 1 (a decode step) is one step with no chunk machinery.
 * Head h reads head h / (Ho / Hx) of each of q, k and v; the state starts from the initial state
 * tensor when the spec has one and is written to the final state tensor after the last step.
 * It is a scan: the chunked form on tensor cores (docs/gpu.md, "Not done yet") would do long
 * sequences faster. */
#include "gen.h"
#include "pass.h"

#include <stddef.h>

enum { REC_ROWS = PTX_RECUR_ROWS, REC_COLS = PTX_RECUR_COLS };   /* rows of S a thread keeps; columns a CTA */

int cg_ptx_recur_warps(int32_t dk) { return (dk + REC_ROWS - 1) / REC_ROWS; }

int32_t cg_ptx_recur_smem(int32_t dk) { return 3 * cg_ptx_recur_warps(dk) * REC_COLS * 4; }

typedef struct GRec {
    Gen *g;
    const AirKernel *ak;
    RecurForm f;
    int NW;
    LLVMValueRef lane, warp, b, h, c, cvalid, r0;   /* i32 */
    LLVMValueRef rvalid[2];                         /* the thread's 8-row groups lie below Dk */
    LLVMValueRef qb, kb, vb, ob, qs, ks, vs, os;    /* i64 byte addresses of row 0, row strides */
    LLVMValueRef t;                                 /* i32 */
} GRec;

/* The 16 rows of this thread at row t of a q or k head (row base rb, stride rs), as f32; 0 for
 * rows past Dk. */
static void load_rows(GRec *r, LLVMValueRef rb, LLVMValueRef rs, LLVMValueRef out[REC_ROWS])
{
    Gen *g = r->g;
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef row = gen_add(g, rb, LLVMBuildMul(B, gen_i64of(g, r->t), rs, ""));
    for (int gi = 0; gi < 2; gi++) {
        LLVMValueRef e = LLVMBuildSelect(B, r->rvalid[gi], gen_add(g, r->r0, gen_i32(g, 8 * gi)), gen_i32(g, 0), "");
        cg_ptx_load8(g, gen_add(g, row, LLVMBuildMul(B, gen_i64of(g, e), gen_i64(g, 2), "")), out + 8 * gi);
        for (int x = 0; x < 8; x++)
            out[8 * gi + x] = LLVMBuildSelect(B, r->rvalid[gi], out[8 * gi + x], gen_f32(g, 0.0f), "");
    }
}

/* Whether row r0 + i of this thread lies below Dk. */
static LLVMValueRef row_valid(GRec *r, int i) { return r->rvalid[i / 8]; }

/* The sum over the warps of each lane's v (one barrier), through shared memory at byte `off`. */
static LLVMValueRef warps_sum(GRec *r, LLVMValueRef v, LLVMValueRef off)
{
    Gen *g = r->g;
    LLVMBuilderRef B = g->cg.b;
    if (r->NW == 1) return v;
    LLVMValueRef mine = gen_add(g, off, LLVMBuildShl(B, gen_add(g, LLVMBuildShl(B, r->warp, gen_i32(g, 5), ""), r->lane),
                                                     gen_i32(g, 2), ""));
    LLVMBuildStore(B, v, gen_smem(g, mine));
    gen_call(g, "llvm.nvvm.barrier0", g->cg.t_void, NULL, 0, NULL);
    LLVMValueRef sum = NULL;
    for (int w = 0; w < r->NW; w++) {
        LLVMValueRef at = gen_add(g, off, LLVMBuildShl(B, gen_add(g, gen_i32(g, w * 32), r->lane), gen_i32(g, 2), ""));
        LLVMValueRef x = LLVMBuildLoad2(B, g->cg.t_f32, gen_smem(g, at), "");
        sum = sum ? LLVMBuildFAdd(B, sum, x, "") : x;
    }
    return sum;
}

/* a_vec at this thread's rows (DECAY_VEC): its vector loads read element r0 + i each. */
static bool decay_rows(GRec *r, LLVMValueRef a, LLVMValueRef ar[REC_ROWS])
{
    Gen *g = r->g;
    LLVMBuilderRef B = g->cg.b;
    int32_t ids[16];
    LLVMValueRef base[16], stride[16];
    int nid = cg_hook_vec_loads(&g->env, r->f.a_vec, 16, ids, base, stride);
    if (nid < 0) return false;
    for (int i = 0; i < REC_ROWS; i++) {
        LLVMValueRef row = gen_i64of(g, gen_min(g, gen_add(g, r->r0, gen_i32(g, i)), gen_i32(g, r->ak->dk - 1)));
        LLVMValueRef vals[16];
        for (int l = 0; l < nid; l++) {
            AirDtype dt = r->ak->tensors[r->ak->nodes[ids[l]].ref].dtype;
            LLVMValueRef p = cg_gep(&g->cg, cg_dtype_type(&g->cg, dt), base[l], LLVMBuildMul(B, stride[l], row, ""));
            vals[l] = cg_load_f32(&g->cg, p, dt);
        }
        LLVMValueRef v = cg_hook_emit_preset(&g->env, r->f.a_vec, nid, ids, vals);
        if (!v) return false;
        ar[i] = LLVMBuildFMul(B, a, v, "");
    }
    return true;
}

/* Element (row r0 + i, column c) of a state tensor [B, H, Dk, Dv] (f32, any strides). */
static LLVMValueRef state_ptr(GRec *r, int tensor, int i)
{
    Gen *g = r->g;
    LLVMBuilderRef B = g->cg.b;
    LLVMValueRef rs, base = cg_ptx_head_base(g, tensor, r->b, r->h, &rs, 4);
    size_t off = (size_t)tensor * sizeof(AbiTensor) + offsetof(AbiTensor, strides) + 24;
    LLVMValueRef cs = gen_arg(g, off, g->cg.t_i64);
    LLVMValueRef row = gen_i64of(g, gen_add(g, r->r0, gen_i32(g, i)));
    LLVMValueRef a = gen_add(g, base, LLVMBuildMul(B, row, rs, ""));
    a = gen_add(g, a, LLVMBuildMul(B, LLVMBuildMul(B, gen_i64of(g, r->c), cs, ""), gen_i64(g, 4), ""));
    return LLVMBuildIntToPtr(B, a, g->p1, "");
}

static bool step(GRec *r, LLVMValueRef *S)
{
    Gen *g = r->g;
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    g->env.idx[IX_T] = r->t;
    LLVMValueRef a = cg_hook_recur_coef(&g->env, &r->f.a), wv = cg_hook_recur_coef(&g->env, &r->f.wv);
    LLVMValueRef wu = cg_hook_recur_coef(&g->env, &r->f.wu), out = cg_hook_recur_coef(&g->env, &r->f.out);
    if (!a || !wv || !wu || !out) return false;
    LLVMValueRef kr[REC_ROWS], qr[REC_ROWS], ar[REC_ROWS];
    load_rows(r, r->kb, r->ks, kr);
    load_rows(r, r->qb, r->qs, qr);
    for (int i = 0; i < REC_ROWS; i++) ar[i] = a;
    if (r->f.family == RECUR_DECAY_VEC && !decay_rows(r, a, ar)) return false;
    LLVMValueRef col = gen_i64of(g, LLVMBuildSelect(B, r->cvalid, r->c, gen_i32(g, 0), ""));
    LLVMValueRef vrow = gen_add(g, r->vb, LLVMBuildMul(B, gen_i64of(g, r->t), r->vs, ""));
    LLVMValueRef v = cg_load_f32(&g->cg, LLVMBuildIntToPtr(B, gen_add(g, vrow, LLVMBuildMul(B, col, gen_i64(g, 2), "")),
                                                           g->p1, ""), c->dtype);
    v = LLVMBuildSelect(B, r->cvalid, v, gen_f32(g, 0.0f), "");
    LLVMValueRef w = LLVMBuildFMul(B, wv, v, "");
    int bufs = r->NW * REC_COLS * 4;
    if (r->f.family == RECUR_DELTA) {
        LLVMValueRef u = NULL;
        for (int i = 0; i < REC_ROWS; i++) u = u ? gen_fma(g, kr[i], S[i], u) : LLVMBuildFMul(B, kr[i], S[i], "");
        w = gen_fma(g, wu, warps_sum(r, u, gen_i32(g, 2 * bufs)), w);
    }
    LLVMValueRef acc = NULL;
    for (int i = 0; i < REC_ROWS; i++) {
        S[i] = gen_fma(g, S[i], ar[i], LLVMBuildFMul(B, kr[i], w, ""));
        acc = acc ? gen_fma(g, qr[i], S[i], acc) : LLVMBuildFMul(B, qr[i], S[i], "");
    }
    /* two buffers by the parity of t: warp 0 reads step t's while the others write step t + 1's */
    LLVMValueRef off = LLVMBuildMul(B, LLVMBuildAnd(B, r->t, gen_i32(g, 1), ""), gen_i32(g, bufs), "");
    LLVMValueRef o = LLVMBuildFMul(B, out, warps_sum(r, acc, off), "");
    LLVMBasicBlockRef st = gen_block(g, "ostore"), nx = gen_block(g, "ostore.next");
    LLVMBuildCondBr(B, LLVMBuildAnd(B, r->cvalid, LLVMBuildICmp(B, LLVMIntEQ, r->warp, gen_i32(g, 0), ""), ""), st, nx);
    LLVMPositionBuilderAtEnd(B, st);
    LLVMValueRef orow = gen_add(g, r->ob, LLVMBuildMul(B, gen_i64of(g, r->t), r->os, ""));
    cg_store_from_f32(&g->cg, o, LLVMBuildIntToPtr(B, gen_add(g, orow, LLVMBuildMul(B, col, gen_i64(g, 2), "")), g->p1, ""),
                      c->dtype);
    LLVMBuildBr(B, nx);
    LLVMPositionBuilderAtEnd(B, nx);
    return true;
}

static bool build_recur(Gen *g)
{
    const PtxConfig *c = g->c;
    LLVMBuilderRef B = g->cg.b;
    GRec r = {.g = g, .ak = c->air};
    const AirKernel *ak = c->air;
    if (!pass_recur_form(g->cg.a, ak, &r.f)) return false;
    r.NW = cg_ptx_recur_warps(c->dk);
    cg_ptx_declare(g, c->entry, 32 * r.NW, 1, sizeof(AbiArgs));
    if (!cg_ptx_env_open(g)) return false;
    LLVMValueRef tid = gen_sreg(g, "tid.x");
    r.lane = LLVMBuildAnd(B, tid, gen_i32(g, 31), "lane");
    r.warp = LLVMBuildLShr(B, tid, gen_i32(g, 5), "warp");
    r.c = gen_add(g, LLVMBuildMul(B, gen_sreg(g, "ctaid.x"), gen_i32(g, REC_COLS), ""), r.lane);
    r.h = gen_sreg(g, "ctaid.y");
    r.b = gen_sreg(g, "ctaid.z");
    r.cvalid = LLVMBuildICmp(B, LLVMIntSLT, r.c, gen_i32(g, c->dv), "");
    r.r0 = LLVMBuildMul(B, r.warp, gen_i32(g, REC_ROWS), "");
    for (int gi = 0; gi < 2; gi++)
        r.rvalid[gi] = LLVMBuildICmp(B, LLVMIntSLT, gen_add(g, r.r0, gen_i32(g, 8 * gi)), gen_i32(g, c->dk), "");
    g->env.idx[IX_B] = r.b;
    g->env.idx[IX_H] = r.h;
    /* head h of o reads head h / (Ho / Hx) of q, k and v */
    LLVMValueRef ho = cg_ptx_shape32(g, c->to, 1), hx[3];
    int slots[3] = {c->tq, c->tk, c->tv};
    for (int x = 0; x < 3; x++) {
        LLVMValueRef n = gen_max(g, cg_ptx_shape32(g, slots[x], 1), gen_i32(g, 1));
        hx[x] = LLVMBuildUDiv(B, r.h, gen_max(g, LLVMBuildUDiv(B, ho, n, ""), gen_i32(g, 1)), "");
    }
    r.qb = cg_ptx_head_base(g, c->tq, r.b, hx[0], &r.qs, 2);
    r.kb = cg_ptx_head_base(g, c->tk, r.b, hx[1], &r.ks, 2);
    r.vb = cg_ptx_head_base(g, c->tv, r.b, hx[2], &r.vs, 2);
    r.ob = cg_ptx_head_base(g, c->to, r.b, r.h, &r.os, 2);
    LLVMValueRef T = gen_i64of(g, cg_ptx_shape32(g, c->tq, 2));

    LLVMValueRef S[REC_ROWS];
    for (int i = 0; i < REC_ROWS; i++) {
        S[i] = gen_f32(g, 0.0f);
        if (ak->tsin >= 0) {
            LLVMValueRef ok = LLVMBuildAnd(B, r.cvalid, row_valid(&r, i), "");
            LLVMBasicBlockRef from = LLVMGetInsertBlock(B), ld = gen_block(g, "s0"), nx = gen_block(g, "s0.next");
            LLVMBuildCondBr(B, ok, ld, nx);
            LLVMPositionBuilderAtEnd(B, ld);
            LLVMValueRef x = LLVMBuildLoad2(B, g->cg.t_f32, state_ptr(&r, ak->tsin, i), "");
            LLVMBuildBr(B, nx);
            LLVMPositionBuilderAtEnd(B, nx);
            LLVMValueRef ph = LLVMBuildPhi(B, g->cg.t_f32, "");
            LLVMValueRef vals[2] = {S[i], x};
            LLVMBasicBlockRef bbs[2] = {from, ld};
            LLVMAddIncoming(ph, vals, bbs, 2);
            S[i] = ph;
        }
    }
    CgLoop lp;
    cg_loop_begin(&g->cg, &lp, gen_i64(g, 0), T, gen_i64(g, 1), REC_ROWS, S, "t");
    r.t = LLVMBuildTrunc(B, lp.iv, g->cg.t_i32, "t");
    LLVMValueRef next[REC_ROWS];
    for (int i = 0; i < REC_ROWS; i++) next[i] = lp.carried[i];
    if (!step(&r, next)) return false;
    cg_loop_end(&g->cg, &lp, next);
    for (int i = 0; i < REC_ROWS && ak->tsout >= 0; i++) {
        LLVMBasicBlockRef st = gen_block(g, "s1"), nx = gen_block(g, "s1.next");
        LLVMBuildCondBr(B, LLVMBuildAnd(B, r.cvalid, row_valid(&r, i), ""), st, nx);
        LLVMPositionBuilderAtEnd(B, st);
        LLVMBuildStore(B, lp.carried[i], state_ptr(&r, ak->tsout, i));
        LLVMBuildBr(B, nx);
        LLVMPositionBuilderAtEnd(B, nx);
    }
    LLVMBuildRetVoid(B);
    return true;
}

int cg_ptx_recur_units(const PtxConfig *c, PtxUnit units[PTX_MAX_UNITS])
{
    (void)c;
    units[0] = (PtxUnit){"recurrence", build_recur, true};
    return 1;
}
