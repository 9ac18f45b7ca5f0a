/* skel_scan.c: the CPU skeleton of any recurrence pass_recur_form does not put in a family: a
 * sequential scan that evaluates the spec's update as written. A work item is (b, h) with the
 * whole Dk x Dv state on the stack. Every matrix node is element-wise in (r, c) given its
 * operands (outer, diag, row and column scalings, arithmetic), so only the reductions -- a
 * vector times a matrix, a matrix times a vector, dot, sqnorm -- need a pass of their own. One
 * step is then:
 *   1. each reduction that reads the state before the step, into a stack buffer, in node order;
 *   2. S[r][c] = update(r, c) in place (an element reads only its own S[r][c]; every other
 *      element it depends on came through a reduction of step 1);
 *   3. the reductions of the output, which read the new state;
 *   4. o[t][c] = output(c).
 * Columns go `lanes` at a time (a last partial vector reads clamped elements and is masked out of
 * sums); rows one at a time. Element-wise ops are the hook emitter's, given their operands as
 * presets, so every target's ops mean the same thing. Slower than skel_recur.c's families (no
 * slabs, one pass per reduction), but it runs every valid recurrence. */
#include "cpu.h"
#include "pass.h"

#include <string.h>

enum { SCAN_MAX_LEN = 1024 };   /* the longest vector or matrix side a scan handles */

typedef struct Scan {
    Skel *k;
    LLVMValueRef S;                /* [Dk][ldS] f32 */
    int ldS;                       /* Dv rounded up to lanes */
    LLVMValueRef *buf;             /* per reduction node: its result, [len rounded up] f32 */
    uint8_t *uses_vec;             /* per node: reads a vector, a matrix or a reduction */
    LLVMValueRef *memo[2];         /* per node, within one top-level evaluation: [0] at r, [1] at c */
    LLVMValueRef rowp[3];          /* q, k, v: &t[b, head, 0, 0] and the row strides */
    LLVMValueRef rows[3];
    LLVMValueRef T;
    bool after;                    /* the state hook's root reads the new state from S */
} Scan;

static bool is_reduction(AirOp op)
{
    return op == OP_VECMAT || op == OP_MATVEC || op == OP_DOT || op == OP_SQNORM;
}

static int len_of(AirType t) { return t.kind == TY_VEC ? t.rows : 1; }

/* The value of node id at row r (i64, or NULL) and columns c .. c + lanes - 1 (i64, or NULL): a
 * matrix at (r, c), a vector at c (at_c, `lanes` lanes) or at r (one lane), a scalar uniform. */
static LLVMValueRef val(Scan *s, int32_t id, LLVMValueRef r, LLVMValueRef c, int lanes, bool at_c);

static LLVMValueRef splat(Scan *s, LLVMValueRef v, int lanes)
{
    return cg_splat(s->k->cg, v, lanes);
}

/* Elements at .. at + lanes - 1 of a vector of n elements at p (stride apart): a head row or a
 * side tensor's vector. Each index is clamped to n - 1, so a partial last vector reads the
 * last element again; its lanes are masked out of sums and never stored. */
static LLVMValueRef vec_elems(Scan *s, LLVMValueRef p, LLVMValueRef stride, AirDtype dt, LLVMValueRef at,
                              int lanes, int n)
{
    Skel *k = s->k;
    CgLlvm *cg = k->cg;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    if (lanes == 1) return cg_load_f32(cg, cg_gep(cg, et, p, mul(k, min64(k, at, i64c(k, n - 1)), stride)), dt);
    LLVMValueRef v = cg_f32(cg, 0.0, lanes);
    for (int e = 0; e < lanes; e++)
        v = LLVMBuildInsertElement(k->b, v,
                                   cg_load_f32(cg, cg_gep(cg, et, p, mul(k, min64(k, add(k, at, i64c(k, e)), i64c(k, n - 1)), stride)), dt),
                                   cg_i32(cg, e, 1), "");
    return v;
}

static LLVMValueRef leaf_row(Scan *s, const AirNode *n, LLVMValueRef at, int lanes)
{
    Skel *k = s->k;
    const AirKernel *ak = k->k;
    int x = n->ref == ak->tq ? 0 : n->ref == ak->tk ? 1 : 2;
    LLVMValueRef pos = val(s, n->args[0], NULL, NULL, 1, false);
    if (!pos) return NULL;
    pos = LLVMBuildSExt(k->b, pos, k->cg->t_i64, "");
    pos = cg_smax(k->cg, min64(k, pos, LLVMBuildSub(k->b, s->T, i64c(k, 1), "")), i64c(k, 0));   /* clamped */
    LLVMValueRef p = cg_gep(k->cg, cg_dtype_type(k->cg, ak->tensors[n->ref].dtype), s->rowp[x], mul(k, pos, s->rows[x]));
    return vec_elems(s, p, i64c(k, 1), ak->tensors[n->ref].dtype, at, lanes, n->ty.rows);
}

static LLVMValueRef leaf_load(Scan *s, const AirNode *n, LLVMValueRef at, int lanes)
{
    Skel *k = s->k;
    CgLlvm *cg = k->cg;
    const CgSideTensor *st = &k->env.tensor[n->ref];
    LLVMValueRef off = i64c(k, 0);
    for (int g = 0; g < n->nargs; g++) {
        LLVMValueRef x = val(s, n->args[g], NULL, NULL, 1, false);
        if (!x) return NULL;
        LLVMValueRef hi = LLVMBuildSub(k->b, st->shape[g], cg_i32(cg, 1, 1), "");
        x = cg_smax(cg, cg_smin(cg, x, hi), cg_i32(cg, 0, 1));
        off = add(k, off, mul(k, LLVMBuildSExt(k->b, x, cg->t_i64, ""), st->stride[g]));
    }
    AirDtype dt = k->k->tensors[n->ref].dtype;
    LLVMValueRef p = cg_gep(cg, cg_dtype_type(cg, dt), st->data, off);
    return vec_elems(s, p, st->stride[n->nargs], dt, at, lanes, n->ty.rows);
}

static LLVMValueRef val_node(Scan *s, int32_t id, LLVMValueRef r, LLVMValueRef c, int lanes, bool at_c)
{
    Skel *k = s->k;
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    const AirNode *n = &ak->nodes[id];
    LLVMValueRef at = at_c ? c : r;
    int ln = n->ty.kind == TY_MAT || (n->ty.kind == TY_VEC && at_c) ? lanes : 1;
    if (s->buf[id]) {   /* a reduction computed earlier in the step */
        if (n->ty.kind != TY_VEC) return LLVMBuildLoad2(k->b, cg->t_f32, s->buf[id], "");
        if (ln == 1) return LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, s->buf[id], at), "");
        LLVMValueRef v = LLVMBuildLoad2(k->b, cg_vec_type(cg->t_f32, ln), fptr(k, s->buf[id], at), "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    if ((n->op == OP_STATE || (s->after && id == ak->hook[HOOK_STATE])) && n->ty.kind == TY_MAT) {
        LLVMValueRef v = LLVMBuildLoad2(k->b, cg_vec_type(cg->t_f32, lanes),
                                        fptr(k, s->S, add(k, mul(k, r, i64c(k, s->ldS)), c)), "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    if (!s->uses_vec[id]) {   /* a scalar of (b, h, t): the hook emitter, uniform */
        k->env.lanes = 1;
        return cg_hook_emit(&k->env, id);
    }
    switch (n->op) {
    case OP_ROW: return leaf_row(s, n, at, ln);
    case OP_LOAD: return leaf_load(s, n, at, ln);
    case OP_OUTER: {
        LLVMValueRef x = val(s, n->args[0], r, c, lanes, false), y = val(s, n->args[1], r, c, lanes, true);
        return x && y ? LLVMBuildFMul(k->b, splat(s, x, lanes), y, "") : NULL;
    }
    case OP_ROWSCALE: case OP_COLSCALE: {
        int vi = n->op == OP_ROWSCALE ? 0 : 1;
        LLVMValueRef a = val(s, n->args[vi], r, c, lanes, vi == 1), m = val(s, n->args[1 - vi], r, c, lanes, false);
        return a && m ? LLVMBuildFMul(k->b, splat(s, a, lanes), m, "") : NULL;
    }
    case OP_DIAG: {
        LLVMValueRef a = val(s, n->args[0], r, c, lanes, false);
        if (!a) return NULL;
        LLVMValueRef cols = add(k, splat(s, c, lanes), LLVMBuildSExt(k->b, cg_iota(cg, lanes), cg_vec_type(cg->t_i64, lanes), ""));
        LLVMValueRef on = LLVMBuildICmp(k->b, LLVMIntEQ, cols, splat(s, r, lanes), "");
        return LLVMBuildSelect(k->b, on, splat(s, a, lanes), cg_f32(cg, 0.0, lanes), "");
    }
    default: break;
    }
    if (air_ops[n->op].kind == OPK_SPECIAL && n->op != OP_SELECT && n->op != OP_TOF32 && n->op != OP_TOI32) {
        diag_error(cg->d, n->loc, "internal error: '%s' reached the scan's element-wise path", air_ops[n->op].name);
        return NULL;
    }
    /* an element-wise op: the hook emitter's, on its operands' values */
    LLVMValueRef vals[AIR_MAX_ARGS];
    for (int g = 0; g < n->nargs; g++)
        if (!(vals[g] = val(s, n->args[g], r, c, lanes, at_c))) return NULL;
    k->env.lanes = ln;
    LLVMValueRef v = cg_hook_emit_preset(&k->env, id, n->nargs, n->args, vals);
    k->env.lanes = 1;
    return v;
}

static LLVMValueRef val(Scan *s, int32_t id, LLVMValueRef r, LLVMValueRef c, int lanes, bool at_c)
{
    /* within one top-level evaluation a node has one value per place (at r or at c), so a
     * node the DAG shares is emitted once */
    LLVMValueRef *m = &s->memo[at_c][id];
    if (!*m) *m = val_node(s, id, r, c, lanes, at_c);
    return *m;
}

/* A top-level evaluation: a new place, so nothing of the last one is reused. */
static LLVMValueRef val_top(Scan *s, int32_t id, LLVMValueRef r, LLVMValueRef c, int lanes, bool at_c)
{
    size_t n = sizeof(LLVMValueRef) * (size_t)s->k->k->nnodes;
    memset(s->memo[0], 0, n);
    memset(s->memo[1], 0, n);
    return val(s, id, r, c, lanes, at_c);
}

static LLVMValueRef hsum(Skel *k, LLVMValueRef v)
{
    LLVMValueRef args[2] = {cg_f32(k->cg, -0.0, 1), v};
    LLVMTypeRef t = LLVMTypeOf(v);
    LLVMValueRef call = cg_intrin(k->cg, "llvm.vector.reduce.fadd", &t, 1, args, 2);
    LLVMSetFastMathFlags(call, LLVMFastMathAllowReassoc);
    return call;
}

/* v with the lanes at or past n (columns c + lane) set to 0: a partial last vector's padding. */
static LLVMValueRef mask_tail(Scan *s, LLVMValueRef v, LLVMValueRef c, int n)
{
    Skel *k = s->k;
    CgLlvm *cg = k->cg;
    LLVMValueRef cols = add(k, splat(s, c, k->N), LLVMBuildSExt(k->b, cg_iota(cg, k->N), cg_vec_type(cg->t_i64, k->N), ""));
    LLVMValueRef in = LLVMBuildICmp(k->b, LLVMIntSLT, cols, splat(s, i64c(k, n), k->N), "");
    return LLVMBuildSelect(k->b, in, v, cg_f32(cg, 0.0, k->N), "");
}

/* for (c = 0; c < n; c += lanes) body(c): the caller builds the body between the calls. */
static LLVMValueRef cols_begin(Scan *s, CgLoop *l, int n)
{
    Skel *k = s->k;
    cg_loop_begin(k->cg, l, i64c(k, 0), i64c(k, n), i64c(k, k->N), 0, NULL, "cols");
    return l->iv;
}

/* One reduction node into its buffer. */
static bool reduce(Scan *s, int32_t id)
{
    Skel *k = s->k;
    CgLlvm *cg = k->cg;
    const AirNode *n = &k->k->nodes[id];
    int len = len_of(n->ty);
    s->buf[id] = cg_alloca(cg, k->fn, cg->t_f32, (len + k->N - 1) / k->N * k->N + k->N, 64);
    LLVMValueRef out = s->buf[id];
    s->buf[id] = NULL;   /* not readable while it is being computed */
    CgLoop lr, lc;
    if (n->op == OP_VECMAT) {   /* out[c] = sum_r x[r] M[r][c] */
        const AirNode *m = &k->k->nodes[n->args[1]];
        int64_t bytes = (int64_t)(len + k->N - 1) / k->N * k->N * 4;
        LLVMSetAlignment(LLVMBuildMemSet(k->b, out, LLVMConstInt(cg->t_i8, 0, 0), i64c(k, bytes), 4), 4);
        cg_loop_begin(cg, &lr, i64c(k, 0), i64c(k, m->ty.rows), i64c(k, 1), 0, NULL, "vm_r");
        LLVMValueRef x = val_top(s, n->args[0], lr.iv, NULL, 1, false);
        LLVMValueRef c = cols_begin(s, &lc, m->ty.cols);
        LLVMValueRef mv = val(s, n->args[1], lr.iv, c, k->N, true);
        if (!x || !mv) return false;
        LLVMValueRef p = fptr(k, out, c), acc = LLVMBuildLoad2(k->b, k->vf, p, "");
        LLVMSetAlignment(acc, 4);
        LLVMValueRef st = LLVMBuildStore(k->b, cg_fma(cg, splat(s, x, k->N), mask_tail(s, mv, c, m->ty.cols), acc), p);
        LLVMSetAlignment(st, 4);
        cg_loop_end(cg, &lc, NULL);
        cg_loop_end(cg, &lr, NULL);
    } else if (n->op == OP_MATVEC) {   /* out[r] = sum_c M[r][c] x[c] */
        const AirNode *m = &k->k->nodes[n->args[0]];
        LLVMValueRef zero = cg_f32(cg, 0.0, k->N);
        cg_loop_begin(cg, &lr, i64c(k, 0), i64c(k, m->ty.rows), i64c(k, 1), 0, NULL, "mv_r");
        cg_loop_begin(cg, &lc, i64c(k, 0), i64c(k, m->ty.cols), i64c(k, k->N), 1, &zero, "cols");
        LLVMValueRef mv = val_top(s, n->args[0], lr.iv, lc.iv, k->N, true), x = val(s, n->args[1], lr.iv, lc.iv, k->N, true);
        if (!mv || !x) return false;
        LLVMValueRef next = cg_fma(cg, mask_tail(s, mv, lc.iv, m->ty.cols), x, lc.carried[0]);
        cg_loop_end(cg, &lc, &next);
        LLVMBuildStore(k->b, hsum(k, lc.carried[0]), fptr(k, out, lr.iv));
        cg_loop_end(cg, &lr, NULL);
    } else {   /* dot(x, y), sqnorm(x): one number */
        const AirNode *x = &k->k->nodes[n->args[0]];
        LLVMValueRef zero = cg_f32(cg, 0.0, k->N);
        cg_loop_begin(cg, &lc, i64c(k, 0), i64c(k, x->ty.rows), i64c(k, k->N), 1, &zero, "dot");
        LLVMValueRef a = val_top(s, n->args[0], NULL, lc.iv, k->N, true);
        LLVMValueRef b = n->op == OP_DOT ? val(s, n->args[1], NULL, lc.iv, k->N, true) : a;
        if (!a || !b) return false;
        LLVMValueRef next = cg_fma(cg, mask_tail(s, a, lc.iv, x->ty.rows), b, lc.carried[0]);
        cg_loop_end(cg, &lc, &next);
        LLVMBuildStore(k->b, hsum(k, lc.carried[0]), out);
    }
    s->buf[id] = out;
    return true;
}

/* Reductions reachable from `root` (stopping at the state hook's root when `stop`), in node order. */
static bool reductions(Scan *s, int32_t root, bool stop)
{
    const AirKernel *ak = s->k->k;
    uint8_t *reach = arena_alloc(s->k->cg->a, (size_t)ak->nnodes + 1);
    if (!reach) return false;
    reach[root] = 1;
    for (int32_t id = root; id >= 0; id--) {
        if (!reach[id] || (stop && id == ak->hook[HOOK_STATE])) continue;
        for (int g = 0; g < ak->nodes[id].nargs; g++) reach[ak->nodes[id].args[g]] = 1;
    }
    for (int32_t id = 0; id <= root; id++)
        if (reach[id] && !s->buf[id] && is_reduction(ak->nodes[id].op) && !(stop && id == ak->hook[HOOK_STATE]) &&
            !reduce(s, id))
            return false;
    return true;
}

static bool step(Scan *s, LLVMValueRef t, LLVMValueRef obase, LLVMValueRef os)
{
    Skel *k = s->k;
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    int32_t st = ak->hook[HOOK_STATE], out = ak->hook[HOOK_OUT];
    k->env.idx[IX_T] = LLVMBuildTrunc(k->b, t, cg->t_i32, "t");
    memset(s->buf, 0, sizeof(LLVMValueRef) * (size_t)ak->nnodes);
    s->after = false;
    if (!reductions(s, st, false)) return false;
    CgLoop lr, lc;   /* 2. the update, in place */
    cg_loop_begin(cg, &lr, i64c(k, 0), i64c(k, k->dk), i64c(k, 1), 0, NULL, "upd_r");
    LLVMValueRef c = cols_begin(s, &lc, k->dv);
    LLVMValueRef v = val_top(s, st, lr.iv, c, k->N, true);
    if (!v) return false;
    LLVMValueRef sp = LLVMBuildStore(k->b, v, fptr(k, s->S, add(k, mul(k, lr.iv, i64c(k, s->ldS)), c)));
    LLVMSetAlignment(sp, 4);
    cg_loop_end(cg, &lc, NULL);
    cg_loop_end(cg, &lr, NULL);
    s->after = true;   /* 3. the output's reductions read the new state */
    if (!reductions(s, out, true)) return false;
    /* 4. o[t]: whole vectors, then the partial last one through a scalar loop */
    AirDtype dt = ak->tensors[ak->to].dtype;
    LLVMTypeRef et = cg_dtype_type(cg, dt);
    LLVMValueRef row = cg_gep(cg, et, obase, mul(k, t, os));
    LLVMValueRef ob = cg_alloca(cg, k->fn, cg->t_f32, k->N, 64);
    for (int x = 0; x < k->dv; x += k->N) {
        LLVMValueRef o = val_top(s, out, NULL, i64c(k, x), k->N, true);
        if (!o) return false;
        if (x + k->N <= k->dv) {
            cg_store_from_f32(cg, o, cg_gep(cg, et, row, i64c(k, x)), dt);
            continue;
        }
        vstore(k, o, ob, i64c(k, 0), 64);
        for (int e = 0; x + e < k->dv; e++)
            cg_store_from_f32(cg, LLVMBuildLoad2(k->b, cg->t_f32, fptr(k, ob, i64c(k, e)), ""),
                              cg_gep(cg, et, row, i64c(k, x + e)), dt);
    }
    return true;
}

static bool build_scan(Skel *k, const KernelPlan *plan)
{
    CgLlvm *cg = k->cg;
    const AirKernel *ak = k->k;
    Scan s = {.k = k, .ldS = k->dvp};
    s.buf = arena_alloc(cg->a, sizeof(LLVMValueRef) * ((size_t)ak->nnodes + 1));
    s.memo[0] = arena_alloc(cg->a, sizeof(LLVMValueRef) * ((size_t)ak->nnodes + 1));
    s.memo[1] = arena_alloc(cg->a, sizeof(LLVMValueRef) * ((size_t)ak->nnodes + 1));
    s.uses_vec = arena_alloc(cg->a, (size_t)ak->nnodes + 1);
    if (!s.buf || !s.uses_vec || !s.memo[0] || !s.memo[1]) return false;
    for (int32_t id = 0; id < ak->nnodes; id++) {
        const AirNode *n = &ak->nodes[id];
        s.uses_vec[id] = n->ty.kind == TY_VEC || n->ty.kind == TY_MAT || is_reduction(n->op) || n->op == OP_STATE;
        for (int g = 0; g < n->nargs; g++) s.uses_vec[id] |= s.uses_vec[n->args[g]];
    }
    LLVMValueRef head[3];
    if (!cg_cpu_recur_entry(k, plan, head, &s.T)) return false;   /* one slab: every column */
    int ts[3] = {ak->tq, ak->tk, ak->tv};
    for (int x = 0; x < 3; x++) s.rowp[x] = cg_cpu_head_base(k, ts[x], head[x], &s.rows[x]);
    LLVMValueRef os, obase = cg_cpu_head_base(k, ak->to, k->hi, &os);
    s.S = cg_alloca(cg, k->fn, cg->t_f32, (int64_t)k->dk * s.ldS, 64);
    LLVMSetAlignment(LLVMBuildMemSet(k->b, s.S, LLVMConstInt(cg->t_i8, 0, 0),
                                     i64c(k, (int64_t)k->dk * s.ldS * 4), 64), 64);
    if (ak->tsin >= 0) cg_cpu_state_copy(k, ak->tsin, s.S, s.ldS, i64c(k, 0), i64c(k, k->dv), true);
    CgLoop l;
    cg_loop_begin(cg, &l, i64c(k, 0), s.T, i64c(k, 1), 0, NULL, "t");
    if (!step(&s, l.iv, obase, os)) return false;
    cg_loop_end(cg, &l, NULL);
    if (ak->tsout >= 0) cg_cpu_state_copy(k, ak->tsout, s.S, s.ldS, i64c(k, 0), i64c(k, k->dv), false);
    LLVMBuildRetVoid(k->b);
    return true;
}

/* What the scan refuses: ops outside recurrences' vocabulary, over-long vectors, and scalar
 * parts the hook emitter cannot compute. */
static bool check_node(const AirKernel *k, int32_t id, const char *target, uint8_t *seen, Diags *d)
{
    if (seen[id]) return true;
    seen[id] = 1;
    const AirNode *n = &k->nodes[id];
    for (int g = 0; g < n->nargs; g++)
        if (!check_node(k, n->args[g], target, seen, d)) return false;
    const char *what = n->op == OP_SUM || n->op == OP_RVAR ? "sum(r < n: e)"
                     : n->op == OP_BLOCKMEAN || n->op == OP_BLOCK ? air_ops[n->op].name : NULL;
    if (!what && (n->ty.rows > SCAN_MAX_LEN || n->ty.cols > SCAN_MAX_LEN)) what = "a vector longer than 1024";
    if (what) {
        diag_error(d, n->loc, "%s is not supported in a recurrence on target %s yet", what, target);
        diag_hint(d, "--target=reference runs the spec through the f64 evaluator");
        return false;
    }
    return true;
}

bool cg_cpu_scan_plan(const AirKernel *k, KernelPlan *p, const char *target, Diags *d)
{
    uint8_t *seen = arena_alloc(d->arena, (size_t)k->nnodes + 1);
    if (!seen) return false;
    for (int h = HOOK_STATE; h <= HOOK_OUT; h++) {
        if (!check_node(k, k->hook[h], target, seen, d)) return false;
    }
    /* the scalar parts that read no vector go through the hook emitter whole: its checks, with t */
    uint8_t *vec = arena_alloc(d->arena, (size_t)k->nnodes + 1);
    if (!vec) return false;
    for (int32_t id = 0; id < k->nnodes; id++) {
        const AirNode *n = &k->nodes[id];
        vec[id] = n->ty.kind == TY_VEC || n->ty.kind == TY_MAT || is_reduction(n->op) || n->op == OP_STATE;
        for (int g = 0; g < n->nargs; g++) vec[id] |= vec[n->args[g]];
        if (seen[id] && !vec[id] && !pass_hook_check_step(k, id, target, false, d)) return false;
    }
    /* the output reads the state after the step: the old one only through the update */
    uint8_t *reach = arena_alloc(d->arena, (size_t)k->nnodes + 1);
    if (!reach) return false;
    reach[k->hook[HOOK_OUT]] = 1;
    for (int32_t id = k->hook[HOOK_OUT]; id >= 0; id--) {
        if (!reach[id] || id == k->hook[HOOK_STATE]) continue;
        if (k->nodes[id].op == OP_STATE) {
            diag_error(d, k->nodes[k->hook[HOOK_OUT]].loc, "internal error: the output reads the state before the step");
            return false;
        }
        for (int g = 0; g < k->nodes[id].nargs; g++) reach[k->nodes[id].args[g]] = 1;
    }
    const char *entry = arena_printf(d->arena, "attn_%s", k->name);
    p->skeleton = SKEL_SCAN;
    p->tile_m = k->dv;   /* one work item holds every column of the state */
    p->tile_n = 0;
    p->skip_tile_map = 1;
    return entry && plan_add_entry(p, (PlanEntry){entry, ROLE_RECUR, 1, 0, 0, 0});
}

int cg_cpu_scan_entries(const KernelPlan *plan, CpuEntryBuild entries[CPU_MAX_ENTRIES])
{
    (void)plan;
    entries[0] = build_scan;
    return 1;
}
