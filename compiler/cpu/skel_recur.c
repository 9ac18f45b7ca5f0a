/* skel_recur.c: the CPU skeleton of the linear recurrences, for every family pass_recur_form
 * recognises. A sequential scan over t with the state in slabs: a work item is (b, query head,
 * slab of W state columns), and its Dk x W piece of S stays in a stack buffer (16 KB at Dk 128,
 * W 32: L1) for the whole sequence. One step, with k, q the step's rows and v, o its slab:
 *     u = k @ S                                   (delta rule only: one pass over the slab)
 *     w = wv * v + wu * u
 *     S[r] = a_r * S[r] + k[r] * w,   acc += q[r] * S[r]     (r = 0 .. Dk-1: one pass)
 *     o = out * acc
 * The families never mix the state's columns, so slabs are independent work. A step costs 3
 * vector operations per state element (4 for the delta rule) and reads the rows once; there is
 * no chunk machinery, so T = 1 (a decode step) is one step. The slab starts from the initial
 * state tensor when the spec has one and is written to the final state tensor after the last
 * step. Why a scan and not the chunked form on the CPU: bench/NOTES.md. */
#include "cpu.h"
#include "pass.h"

#include <string.h>

typedef struct Rec {
    Skel *k;
    RecurForm f;
    int nv, W;                     /* slab: nv vectors, W = nv * lanes columns */
    LLVMValueRef S, kb, qb, ab, vb, ob;   /* stack: slab [Dk][W], rows [Dk], decay [Dk], [W] x2 */
    LLVMValueRef qbase, kbase, vbase, obase, qs, ks, vs, os;
    LLVMValueRef c0, ncol, full, t;
} Rec;

int cg_cpu_recur_slab_vecs(int dk, int dv, int lanes)
{
    int nv = dk <= 128 ? 2 : 1, need = (dv + lanes - 1) / lanes;
    return nv < need ? nv : need;
}

/* if (cond) { then } else { other }: the builder is left in `then`; call rec_else, then rec_join. */
static LLVMBasicBlockRef rec_if(Skel *k, LLVMValueRef cond, LLVMBasicBlockRef *other)
{
    LLVMBasicBlockRef then = cg_block(k->cg, "then"), join = cg_block(k->cg, "join");
    *other = cg_block(k->cg, "else");
    LLVMBuildCondBr(k->b, cond, then, *other);
    LLVMPositionBuilderAtEnd(k->b, then);
    return join;
}

static void rec_else(Skel *k, LLVMBasicBlockRef other, LLVMBasicBlockRef join)
{
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, other);
}

static void rec_join(Skel *k, LLVMBasicBlockRef join)
{
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, join);
}

/* dst[0 .. n) = f32 of the n elements at p (dtype dt, consecutive): whole vectors, then the
 * tail element by element (n is a compile-time count). */
static void load_row(Skel *k, LLVMValueRef p, AirDtype dt, int n, LLVMValueRef dst)
{
    CgLlvm *cg = k->cg;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    int x = 0;
    for (; x + k->N <= n; x += k->N)
        vstore(k, cg_load_vec_f32(cg, cg_gep(cg, et, p, i64c(k, x)), dt, k->N), dst, i64c(k, x), 4);
    for (; x < n; x++)
        LLVMBuildStore(k->b, cg_load_f32(cg, cg_gep(cg, et, p, i64c(k, x)), dt), fptr(k, dst, i64c(k, x)));
}

/* The vector of `lanes` elements at p + e * stride (e = 0 .. n-1, zero past n): one load when
 * the stride is 1 and the vector is whole, else element by element. */
static LLVMValueRef load_strided(Skel *k, LLVMValueRef p, LLVMValueRef stride, AirDtype dt, int n)
{
    CgLlvm *cg = k->cg;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    LLVMValueRef slow = cg_f32(cg, 0.0, k->N);
    LLVMBasicBlockRef other = NULL, join = NULL, from_fast = NULL;
    LLVMValueRef fast = NULL;
    if (n == k->N) {
        join = rec_if(k, LLVMBuildICmp(k->b, LLVMIntEQ, stride, i64c(k, 1), ""), &other);
        fast = cg_load_vec_f32(cg, p, dt, k->N);
        from_fast = LLVMGetInsertBlock(k->b);
        rec_else(k, other, join);
    }
    for (int e = 0; e < n; e++)
        slow = LLVMBuildInsertElement(k->b, slow, cg_load_f32(cg, cg_gep(cg, et, p, mul(k, stride, i64c(k, e))), dt),
                                      cg_i32(cg, e, 1), "");
    if (!join) return slow;
    LLVMBasicBlockRef from_slow = LLVMGetInsertBlock(k->b);
    rec_join(k, join);
    LLVMValueRef phi = LLVMBuildPhi(k->b, k->vf, "");
    LLVMValueRef vals[2] = {fast, slow};
    LLVMBasicBlockRef bbs[2] = {from_fast, from_slow};
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
}

/* ab[0 .. Dk) = a * a_vec at this step: the vector loads of a_vec's side tensors are given to
 * the hook emitter as presets, `lanes` elements of the last dim at a time. */
static bool decay_vec(Rec *r, LLVMValueRef a)
{
    Skel *k = r->k;
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    int32_t ids[16];
    LLVMValueRef base[16], stride[16];
    int nid = cg_hook_vec_loads(&k->env, r->f.a_vec, 16, ids, base, stride);
    if (nid < 0) return false;
    LLVMValueRef av = cg_splat(cg, a, k->N);
    for (int x = 0; x < k->dk; x += k->N) {
        LLVMValueRef vals[16];
        for (int i = 0; i < nid; i++) {
            AirDtype dt = ak->tensors[ak->nodes[ids[i]].ref].dtype;
            LLVMValueRef p = cg_gep(cg, cg_dtype_type(cg, dt), base[i], mul(k, stride[i], i64c(k, x)));
            vals[i] = load_strided(k, p, stride[i], dt, k->dk - x < k->N ? k->dk - x : k->N);
        }
        k->env.lanes = k->N;
        LLVMValueRef v = cg_hook_emit_preset(&k->env, r->f.a_vec, nid, ids, vals);
        k->env.lanes = 1;
        if (!v) return false;
        vstore(k, LLVMBuildFMul(k->b, av, v, ""), r->ab, i64c(k, x), 4);
    }
    return true;
}

/* &tensor[b, head, t, c0] of the slab's row at this step, from its head base and row stride. */
static LLVMValueRef slab_row(Rec *r, int tensor, LLVMValueRef base, LLVMValueRef stride,
                             AirDtype *dt, LLVMTypeRef *et)
{
    Skel *k = r->k;
    *dt = k->k->tensors[tensor].dtype;
    *et = cg_dtype_type(k->cg, *dt);
    return cg_gep(k->cg, *et, base, add(k, mul(k, r->t, stride), r->c0));
}

/* vb = the step's v slab (zeros past Dv), in f32. */
static void load_v(Rec *r)
{
    Skel *k = r->k;
    CgLlvm *cg = k->cg;
    AirDtype dt;
    LLVMTypeRef et;
    LLVMValueRef row = slab_row(r, k->k->tv, r->vbase, r->vs, &dt, &et);
    LLVMBasicBlockRef other, join = rec_if(k, r->full, &other);
    load_row(k, row, dt, r->W, r->vb);
    rec_else(k, other, join);
    CgLoop l;
    cg_loop_begin(cg, &l, i64c(k, 0), r->ncol, i64c(k, 1), 0, NULL, "vtail");
    LLVMBuildStore(k->b, cg_load_f32(cg, cg_gep(cg, et, row, l.iv), dt), fptr(k, r->vb, l.iv));
    cg_loop_end(cg, &l, NULL);
    rec_join(k, join);
}

/* o[t, slab] = acc, through ob for a partial slab. */
static void store_o(Rec *r, LLVMValueRef *acc)
{
    Skel *k = r->k;
    CgLlvm *cg = k->cg;
    AirDtype dt;
    LLVMTypeRef et;
    LLVMValueRef row = slab_row(r, k->k->to, r->obase, r->os, &dt, &et);
    LLVMBasicBlockRef other, join = rec_if(k, r->full, &other);
    for (int j = 0; j < r->nv; j++)
        cg_store_from_f32(cg, acc[j], cg_gep(cg, et, row, i64c(k, j * k->N)), dt);
    rec_else(k, other, join);
    for (int j = 0; j < r->nv; j++) vstore(k, acc[j], r->ob, i64c(k, j * k->N), 64);
    CgLoop l;
    cg_loop_begin(cg, &l, i64c(k, 0), r->ncol, i64c(k, 1), 0, NULL, "otail");
    cg_store_from_f32(cg, LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, r->ob, l.iv), ""),
                      cg_gep(cg, et, row, l.iv), dt);
    cg_loop_end(cg, &l, NULL);
    rec_join(k, join);
}

/* u = k @ S over the slab (the delta rule's first pass). */
static void k_times_state(Rec *r, LLVMValueRef *u)
{
    Skel *k = r->k;
    LLVMValueRef init[RECUR_SLAB_MAX_VECS];
    for (int j = 0; j < r->nv; j++) init[j] = cg_f32(k->cg, 0.0, k->N);
    CgLoop l;
    cg_loop_begin(k->cg, &l, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), r->nv, init, "ks");
    LLVMValueRef kr = bcast(k, r->kb, l.iv), next[RECUR_SLAB_MAX_VECS];
    for (int j = 0; j < r->nv; j++)
        next[j] = cg_fma(k->cg, kr, vload(k, r->S, add(k, mul(k, l.iv, i64c(k, r->W)), i64c(k, j * k->N)), 64),
                         l.carried[j]);
    cg_loop_end(k->cg, &l, next);
    for (int j = 0; j < r->nv; j++) u[j] = l.carried[j];
}

/* The pass that updates the slab and accumulates q @ S; returns the accumulators in acc. */
static void update(Rec *r, LLVMValueRef a, const LLVMValueRef *w, LLVMValueRef *acc)
{
    Skel *k = r->k;
    CgLlvm *cg = k->cg;
    LLVMValueRef init[RECUR_SLAB_MAX_VECS], as = cg_splat(cg, a, k->N);
    for (int j = 0; j < r->nv; j++) init[j] = cg_f32(cg, 0.0, k->N);
    CgLoop l;
    cg_loop_begin(cg, &l, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), r->nv, init, "rows");
    LLVMValueRef kr = bcast(k, r->kb, l.iv), qr = bcast(k, r->qb, l.iv), next[RECUR_SLAB_MAX_VECS];
    LLVMValueRef ar = r->f.family == RECUR_DECAY_VEC ? bcast(k, r->ab, l.iv) : as;
    for (int j = 0; j < r->nv; j++) {
        LLVMValueRef at = add(k, mul(k, l.iv, i64c(k, r->W)), i64c(k, j * k->N));
        LLVMValueRef s = cg_fma(cg, vload(k, r->S, at, 64), ar, LLVMBuildFMul(k->b, kr, w[j], ""));
        vstore(k, s, r->S, at, 64);
        next[j] = cg_fma(cg, qr, s, l.carried[j]);
    }
    cg_loop_end(cg, &l, next);
    for (int j = 0; j < r->nv; j++) acc[j] = l.carried[j];
}

static bool step(Rec *r)
{
    Skel *k = r->k;
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    k->env.idx[IX_T] = LLVMBuildTrunc(k->b, r->t, cg->t_i32, "t");
    LLVMValueRef a = cg_hook_recur_coef(&k->env, &r->f.a), wv = cg_hook_recur_coef(&k->env, &r->f.wv);
    LLVMValueRef wu = cg_hook_recur_coef(&k->env, &r->f.wu), out = cg_hook_recur_coef(&k->env, &r->f.out);
    if (!a || !wv || !wu || !out) return false;
    load_row(k, cg_gep(cg, cg_dtype_type(cg, ak->tensors[ak->tk].dtype), r->kbase, mul(k, r->t, r->ks)),
             ak->tensors[ak->tk].dtype, k->dk, r->kb);
    load_row(k, cg_gep(cg, cg_dtype_type(cg, ak->tensors[ak->tq].dtype), r->qbase, mul(k, r->t, r->qs)),
             ak->tensors[ak->tq].dtype, k->dk, r->qb);
    if (r->f.family == RECUR_DECAY_VEC && !decay_vec(r, a)) return false;
    load_v(r);
    LLVMValueRef u[RECUR_SLAB_MAX_VECS], w[RECUR_SLAB_MAX_VECS], acc[RECUR_SLAB_MAX_VECS];
    if (r->f.family == RECUR_DELTA) k_times_state(r, u);
    for (int j = 0; j < r->nv; j++) {
        w[j] = LLVMBuildFMul(k->b, cg_splat(cg, wv, k->N), vload(k, r->vb, i64c(k, j * k->N), 64), "");
        if (r->f.family == RECUR_DELTA) w[j] = cg_fma(cg, cg_splat(cg, wu, k->N), u[j], w[j]);
    }
    update(r, a, w, acc);
    for (int j = 0; j < r->nv; j++) acc[j] = LLVMBuildFMul(k->b, cg_splat(cg, out, k->N), acc[j], "");
    store_o(r, acc);
    return true;
}

static bool build_recur(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    Rec r = {.k = k};
    if (!pass_recur_form(cg->a, ak, &r.f)) return false;
    if (r.f.family == RECUR_SCAN) {
        diag_error(cg->d, r.f.why_loc, "internal error: the CPU recurrence skeleton got a sequential scan");
        return false;
    }
    r.nv = cg_cpu_recur_slab_vecs(k->dk, k->dv, k->N);
    r.W = r.nv * k->N;
    LLVMValueRef head[3], T, slab = cg_cpu_recur_entry(k, plan, head, &T);
    if (!slab) return false;
    r.S = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)k->dk * r.W, 64);
    r.kb = cg_alloca(cg, k->fn, cg->t_f32, k->dkp, 64);
    r.qb = cg_alloca(cg, k->fn, cg->t_f32, k->dkp, 64);
    r.ab = cg_alloca(cg, k->fn, cg->t_f32, k->dkp, 64);
    r.vb = cg_alloca(cg, k->fn, cg->t_f32, r.W, 64);
    r.ob = cg_alloca(cg, k->fn, cg->t_f32, r.W, 64);
    r.qbase = cg_cpu_head_base(k, ak->tq, head[0], &r.qs);
    r.kbase = cg_cpu_head_base(k, ak->tk, head[1], &r.ks);
    r.vbase = cg_cpu_head_base(k, ak->tv, head[2], &r.vs);
    r.obase = cg_cpu_head_base(k, ak->to, k->hi, &r.os);
    r.c0 = mul(k, slab, i64c(k, r.W));
    r.ncol = min64(k, i64c(k, r.W), LLVMBuildSub(k->b, i64c(k, k->dv), r.c0, ""));
    r.full = LLVMBuildICmp(k->b, LLVMIntEQ, r.ncol, i64c(k, r.W), "full");

    LLVMBasicBlockRef work = cg_block(cg, "work"), done = cg_block(cg, "done");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntSGT, r.ncol, i64c(k, 0), ""), work, done);
    LLVMPositionBuilderAtEnd(k->b, work);
    LLVMValueRef zero8 = LLVMConstInt(cg->t_i8, 0, 0);
    LLVMSetAlignment(LLVMBuildMemSet(k->b, r.S, zero8, i64c(k, (int64_t)k->dk * r.W * 4), 64), 64);
    LLVMSetAlignment(LLVMBuildMemSet(k->b, r.vb, zero8, i64c(k, (int64_t)r.W * 4), 64), 64);
    if (ak->tsin >= 0) cg_cpu_state_copy(k, ak->tsin, r.S, r.W, r.c0, r.ncol, true);
    CgLoop l;
    cg_loop_begin(cg, &l, i64c(k, 0), T, i64c(k, 1), 0, NULL, "t");
    r.t = l.iv;
    if (!step(&r)) return false;
    cg_loop_end(cg, &l, NULL);
    if (ak->tsout >= 0) cg_cpu_state_copy(k, ak->tsout, r.S, r.W, r.c0, r.ncol, false);
    LLVMBuildBr(k->b, done);
    LLVMPositionBuilderAtEnd(k->b, done);
    LLVMBuildRetVoid(k->b);
    return true;
}

bool cg_cpu_recur_plan(const AirKernel *k, KernelPlan *p, const char *target, Diags *d)
{
    RecurForm f;
    if (!pass_recur_form(d->arena, k, &f)) return false;
    if (f.family == RECUR_SCAN) return cg_cpu_scan_plan(k, p, target, d);
    if (!pass_recur_check(k, &f, target, d)) return false;
    const char *entry = arena_printf(d->arena, "attn_%s", k->name);
    p->skeleton = SKEL_RECUR;
    p->tile_m = cg_cpu_recur_slab_vecs(k->dk, k->dv, p->t.cpu.vector_width) * p->t.cpu.vector_width;
    p->tile_n = 0;
    p->skip_tile_map = 1;
    return entry && plan_add_entry(p, (PlanEntry){entry, ROLE_RECUR, 1, 0, 0, 0});
}

int cg_cpu_recur_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES])
{
    (void)plan;
    entries[0] = build_recur;
    return 1;
}
