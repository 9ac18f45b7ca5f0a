/* air_eval.c: the f64 reference, the oracle of every numeric test. It evaluates AIR literally
 * over host tensors: hooks node by node in f64 (i32 ops with the kernel's i32 semantics), the
 * softmax with its sink and LSE, the selection by computing every score and taking the top k,
 * and recurrences one step at a time. Plain and slow on purpose: nothing here is clever, so
 * that a disagreement with a kernel is the kernel's. */
#include "pass.h"
#include "dtype.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Env {
    int64_t b, h, kvh, i, j, t, block;
    double score, qk;
    const double *state;   /* state_rows x state_cols, row major */
} Env;

typedef struct Ev {
    const AirKernel *k;
    const AbiArgs *args;
    const AirDtype *dt;
    Diags *d;
    bool failed;
    double *vals;          /* node values, at off[id] */
    int64_t *off;
    uint32_t *stamp, epoch;
    bool *rdep;            /* depends on a sum's rvar: recomputed per iteration */
    bool *given;           /* a given selector: which blocks (or keys) this row's list names */
    Env env;
} Ev;

static int64_t elems(AirType t)
{
    return t.kind == TY_VEC ? t.rows : t.kind == TY_MAT ? (int64_t)t.rows * t.cols : 1;
}

static void write_elem(AbiTensor *t, AirDtype dt, int64_t off, double v)
{
    switch (dt) {
    case DT_F32: ((float *)t->data)[off] = (float)v; break;
    case DT_F16: ((uint16_t *)t->data)[off] = dtype_f32_to_f16((float)v); break;
    case DT_BF16: ((uint16_t *)t->data)[off] = dtype_f32_to_bf16((float)v); break;
    case DT_I32: ((int32_t *)t->data)[off] = (int32_t)v; break;
    default: ((double *)t->data)[off] = v; break;
    }
}

static void fail(Ev *e, const char *what, const char *tensor, int64_t at)
{
    if (!e->failed) diag_error_noloc(e->d, "%s '%s': index %lld out of range", what, tensor, (long long)at);
    e->failed = true;
}

/* A head vector: row `row` of tensor t (q, k or v) at the current batch and (kv) head. */
static void head_row(Ev *e, int32_t t, int64_t row, double *out, int32_t n)
{
    const AbiTensor *a = &e->args->t[t];
    if (row < 0 || row >= a->shape[2]) {
        fail(e, "row of", e->k->tensors[t].name, row);
        memset(out, 0, sizeof(double) * (size_t)n);
        return;
    }
    /* head h of o reads head h / (Ho / Ht) of q, k and v (Ht its head count): attention's q
     * head h and kv head h / (Hq / Hkv), and a recurrence's v with more heads than k alike */
    int64_t ho = e->args->t[e->k->to].shape[1], ht = a->shape[1];
    int64_t h = ht > 0 && ho >= ht ? e->env.h / (ho / ht) : 0;
    int64_t base = e->env.b * a->strides[0] + h * a->strides[1] + row * a->strides[2];
    for (int32_t x = 0; x < n; x++) out[x] = air_read_elem(a->data, e->dt[t], base + x * a->strides[3]);
}

static double *ev(Ev *e, int32_t id);

static void ev_load(Ev *e, const AirNode *n, double *out)
{
    const AbiTensor *a = &e->args->t[n->ref];
    int64_t off = 0;
    for (int32_t g = 0; g < n->nargs; g++) {
        int64_t x = (int64_t)ev(e, n->args[g])[0];
        /* clamped into the dim, as the kernels do (docs/language.md section 13); launch
         * validation guarantees every dim has an element */
        x = x < 0 ? 0 : x >= a->shape[g] ? a->shape[g] - 1 : x;
        off += x * a->strides[g];
    }
    int64_t cnt = elems(n->ty);
    for (int64_t x = 0; x < cnt; x++)
        out[x] = air_read_elem(a->data, e->dt[n->ref], off + x * a->strides[n->nargs]);
}

static void ev_sum(Ev *e, int32_t id, const AirNode *n, double *out)
{
    int64_t cnt = elems(n->ty);
    memset(out, 0, sizeof(double) * (size_t)cnt);
    for (int64_t r = 0; r < (int64_t)n->num; r++) {
        for (int32_t x = 0; x < id; x++) {
            if (e->rdep[x]) e->stamp[x] = 0;
            if (e->k->nodes[x].op == OP_RVAR && e->k->nodes[x].ref == id) {
                e->vals[e->off[x]] = (double)r;
                e->stamp[x] = e->epoch;
            }
        }
        const double *v = ev(e, n->args[0]);
        for (int64_t x = 0; x < cnt; x++) out[x] += v[x];
    }
    for (int32_t x = 0; x < id; x++)
        if (e->rdep[x]) e->stamp[x] = 0;
}

/* Element-wise ops over vectors and matrices, scalars broadcast. */
static void ev_elementwise(Ev *e, const AirNode *n, double *out)
{
    int64_t cnt = elems(n->ty);
    const double *src[AIR_MAX_ARGS];
    bool scalar[AIR_MAX_ARGS];
    for (int32_t g = 0; g < n->nargs; g++) {
        src[g] = ev(e, n->args[g]);
        scalar[g] = elems(e->k->nodes[n->args[g]].ty) == 1;
    }
    for (int64_t x = 0; x < cnt; x++) {
        double in[AIR_MAX_ARGS];
        for (int32_t g = 0; g < n->nargs; g++) in[g] = src[g][scalar[g] ? 0 : x];
        air_scalar_apply(n->op, n->ty.kind == TY_I32, in, &out[x]);
    }
}

static double *ev(Ev *e, int32_t id)
{
    double *out = e->vals + e->off[id];
    if (e->stamp[id] == e->epoch) return out;
    e->stamp[id] = e->epoch;
    const AirKernel *k = e->k;
    const AirNode *n = &k->nodes[id];
    const Env *env = &e->env;
    switch (n->op) {
    case OP_CONST: out[0] = n->num; break;
    case OP_IDX: {
        const int64_t v[IX_COUNT] = {env->b, env->h, env->i, env->j, env->t};
        out[0] = (double)v[n->ref];
        break;
    }
    case OP_DIM: out[0] = (double)e->args->sym[n->ref]; break;
    case OP_PARAM:
        out[0] = k->params[n->ref].type == PARAM_F32  ? (double)e->args->fparam[n->ref]
               : k->params[n->ref].type == PARAM_BOOL ? (e->args->iparam[n->ref] != 0)
                                                      : (double)e->args->iparam[n->ref];
        break;
    case OP_SCORE: out[0] = env->score; break;
    case OP_QK: out[0] = env->qk; break;
    case OP_BLOCK: out[0] = (double)env->block; break;
    case OP_STATE: memcpy(out, env->state, sizeof(double) * (size_t)elems(n->ty)); break;
    case OP_RVAR: break;   /* set by its SUM */
    case OP_LOAD: ev_load(e, n, out); break;
    case OP_ROW: {
        int64_t pos = (int64_t)ev(e, n->args[0])[0];
        if (k->tensors[n->ref].role == ROLE_Q) pos -= e->args->q_offset;
        head_row(e, n->ref, pos, out, n->ty.rows);
        break;
    }
    case OP_BLOCKMEAN: {
        int64_t blk = (int64_t)ev(e, n->args[0])[0], bs = k->sel.block > 0 ? k->sel.block : 1;
        int64_t lk = e->args->t[k->tk].shape[2], lo = blk * bs, hi = lo + bs < lk ? lo + bs : lk;
        double *row = malloc(sizeof(double) * (size_t)n->ty.rows);
        memset(out, 0, sizeof(double) * (size_t)n->ty.rows);
        for (int64_t j = lo; j < hi && row; j++) {
            head_row(e, k->tk, j, row, n->ty.rows);
            for (int32_t x = 0; x < n->ty.rows; x++) out[x] += row[x] / (double)(hi - lo);
        }
        free(row);
        break;
    }
    case OP_SUM: ev_sum(e, id, n, out); break;
    case OP_DOT: case OP_SQNORM: {
        const double *x = ev(e, n->args[0]), *y = n->op == OP_DOT ? ev(e, n->args[1]) : x;
        double s = 0;
        for (int32_t r = 0; r < k->nodes[n->args[0]].ty.rows; r++) s += x[r] * y[r];
        out[0] = s;
        break;
    }
    case OP_OUTER: {
        const double *x = ev(e, n->args[0]), *y = ev(e, n->args[1]);
        for (int32_t r = 0; r < n->ty.rows; r++)
            for (int32_t c = 0; c < n->ty.cols; c++) out[r * n->ty.cols + c] = x[r] * y[c];
        break;
    }
    case OP_VECMAT: case OP_MATVEC: {
        bool vm = n->op == OP_VECMAT;
        const double *x = ev(e, n->args[vm ? 0 : 1]), *m = ev(e, n->args[vm ? 1 : 0]);
        AirType mt = k->nodes[n->args[vm ? 1 : 0]].ty;
        for (int32_t o = 0; o < n->ty.rows; o++) {
            double s = 0;
            if (vm) for (int32_t r = 0; r < mt.rows; r++) s += x[r] * m[r * mt.cols + o];
            else for (int32_t c = 0; c < mt.cols; c++) s += m[o * mt.cols + c] * x[c];
            out[o] = s;
        }
        break;
    }
    case OP_ROWSCALE: case OP_COLSCALE: {
        bool rows = n->op == OP_ROWSCALE;
        const double *x = ev(e, n->args[rows ? 0 : 1]), *m = ev(e, n->args[rows ? 1 : 0]);
        for (int32_t r = 0; r < n->ty.rows; r++)
            for (int32_t c = 0; c < n->ty.cols; c++)
                out[r * n->ty.cols + c] = m[r * n->ty.cols + c] * x[rows ? r : c];
        break;
    }
    case OP_DIAG: {
        const double *x = ev(e, n->args[0]);
        memset(out, 0, sizeof(double) * (size_t)elems(n->ty));
        for (int32_t r = 0; r < n->ty.rows; r++) out[r * n->ty.rows + r] = x[r];
        break;
    }
    case OP_SELECT: {
        const double *c = ev(e, n->args[0]);
        const double *v = ev(e, n->args[c[0] != 0 ? 1 : 2]);
        memcpy(out, v, sizeof(double) * (size_t)elems(n->ty));
        break;
    }
    default: ev_elementwise(e, n, out); break;
    }
    /* f32 values keep f32's range: what overflows in a kernel overflows here */
    if (n->ty.kind == TY_F32 && fabs(out[0]) > FLT_MAX && isfinite(out[0]))
        out[0] = copysign(INFINITY, out[0]);
    return out;
}

/* The value of hook h in the current environment (a fresh evaluation). */
static double *hook(Ev *e, AirHook h)
{
    e->epoch++;
    return ev(e, e->k->hook[h]);
}


/* ---- the operator ------------------------------------------------------------------------- */

typedef struct Cand {
    double score;
    int64_t id;
} Cand;

/* Best first; ties to the lower index; NaN scores last. */
static int cand_cmp(const void *pa, const void *pb)
{
    const Cand *a = pa, *b = pb;
    double x = isnan(a->score) ? -INFINITY : a->score, y = isnan(b->score) ? -INFINITY : b->score;
    if (x != y) return x > y ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The selector's score for candidate c (a key or a block), summed over the GQA group when the
 * selector is shared. */
static double sel_score(Ev *e, int64_t c, int64_t group)
{
    Env saved = e->env;
    int64_t h0 = e->k->sel.shared ? saved.kvh * group : saved.h, h1 = e->k->sel.shared ? h0 + group : h0 + 1;
    double s = 0;
    for (int64_t h = h0; h < h1; h++) {
        e->env.h = h;
        if (e->k->sel.kind == SEL_BLOCKS) e->env.block = c;
        else e->env.j = c;
        s += hook(e, HOOK_SELECT)[0];
    }
    e->env = saved;
    return s;
}

/* Whether block blk (keys blk * bs .. ) has a key left in `keep`. */
static bool block_kept(const bool *keep, int64_t blk, int64_t bs, int64_t lk)
{
    for (int64_t j = blk * bs; j < (blk + 1) * bs && j < lk; j++)
        if (keep[j]) return true;
    return false;
}

/* Narrows `keep` (the visible keys of this row) to the selected ones. */
static void select_keys(Ev *e, bool *keep, int64_t lk, int64_t group, Cand *cand)
{
    const AirSelector *sel = &e->k->sel;
    int64_t n = 0;
    if (sel->kind == SEL_TOKENS) {
        for (int64_t j = 0; j < lk; j++)
            if (keep[j]) cand[n++] = (Cand){sel_score(e, j, group), j};
        qsort(cand, (size_t)n, sizeof *cand, cand_cmp);
        for (int64_t c = sel->topk; c < n; c++) keep[cand[c].id] = false;
        return;
    }
    int64_t bs = sel->block, nblk = (lk + bs - 1) / bs, own = e->env.i / bs;
    bool has_own = false;
    for (int64_t blk = 0; blk < nblk; blk++) {
        if (!block_kept(keep, blk, bs, lk)) continue;
        if (sel->keep_own && blk == own) has_own = true;
        else cand[n++] = (Cand){sel_score(e, blk, group), blk};
    }
    qsort(cand, (size_t)n, sizeof *cand, cand_cmp);
    /* the own block counts as one of the top k */
    for (int64_t c = sel->topk - (has_own ? 1 : 0); c < n; c++)
        for (int64_t j = cand[c].id * bs; j < (cand[c].id + 1) * bs && j < lk; j++) keep[j] = false;
}

/* A given selector (docs/language.md section 9, "Given indices"): the candidates are the entries
 * of idx[b, h, row, :] in [0, number of blocks or keys), each once; -1 and any other id out of
 * range are ignored. Narrows `keep` (the visible keys) to the keys of the candidates. */
static void given_keys(Ev *e, int64_t row, bool *keep, int64_t lk)
{
    const AirKernel *k = e->k;
    const AbiTensor *t = &e->args->t[k->tselin];
    int64_t bs = k->sel.kind == SEL_BLOCKS ? k->sel.block : 1, ncand = (lk + bs - 1) / bs;
    int64_t base = e->env.b * t->strides[0] + e->env.h * t->strides[1] + row * t->strides[2];
    memset(e->given, 0, (size_t)ncand);
    for (int64_t slot = 0; slot < k->sel.topk; slot++) {
        double id = air_read_elem(t->data, e->dt[k->tselin], base + slot * t->strides[3]);
        if (id >= 0 && id < (double)ncand) e->given[(int64_t)id] = true;
    }
    for (int64_t j = 0; j < lk; j++) keep[j] = keep[j] && e->given[j / bs];
}

/* The selected indices of this row (docs/language.md section 9), once select_keys has narrowed
 * `keep`: the kept blocks (those with a key left) or keys in ascending order, then -1 up to top.
 * A given selector lists its candidates, visible keys or not. */
static void write_selected(Ev *e, int64_t row, const bool *keep, int64_t lk)
{
    const AirKernel *k = e->k;
    AbiTensor *t = (AbiTensor *)&e->args->t[k->tselout];
    AirDtype dt = e->dt[k->tselout];
    int64_t bs = k->sel.kind == SEL_BLOCKS ? k->sel.block : 1, slot = 0;
    int64_t base = e->env.b * t->strides[0] + e->env.h * t->strides[1] + row * t->strides[2];
    for (int64_t c = 0; c * bs < lk && slot < k->sel.topk; c++)
        if (k->sel.given ? e->given[c] : block_kept(keep, c, bs, lk))
            write_elem(t, dt, base + slot++ * t->strides[3], (double)c);
    for (; slot < k->sel.topk; slot++) write_elem(t, dt, base + slot * t->strides[3], -1);
}

static void softmax_row(Ev *e, int64_t row, int64_t lk, int64_t group, double *s, bool *keep,
                        double *qv, double *kv, double *acc, Cand *cand)
{
    const AirKernel *k = e->k;
    Env *env = &e->env;
    env->i = row + e->args->q_offset;
    double scale = k->hook[HOOK_SCALE] >= 0 ? hook(e, HOOK_SCALE)[0] : 1 / sqrt((double)k->dk);
    head_row(e, k->tq, row, qv, k->dk);
    for (int64_t j = 0; j < lk; j++) {
        env->j = j;
        keep[j] = k->hook[HOOK_MASK] < 0 || hook(e, HOOK_MASK)[0] != 0;
    }
    if (k->sel.kind != SEL_NONE && k->sel.given) given_keys(e, row, keep, lk);
    else if (k->sel.kind != SEL_NONE) select_keys(e, keep, lk, group, cand);
    if (k->tselout >= 0) write_selected(e, row, keep, lk);
    double m = -INFINITY;
    for (int64_t j = 0; j < lk; j++) {
        if (!keep[j]) continue;
        env->j = j;
        head_row(e, k->tk, j, kv, k->dk);
        double dot = 0;
        for (int32_t x = 0; x < k->dk; x++) dot += qv[x] * kv[x];
        env->qk = dot;
        env->score = scale * dot;
        s[j] = k->hook[HOOK_SCORE] >= 0 ? hook(e, HOOK_SCORE)[0] : env->score;
        m = isnan(s[j]) || isnan(m) ? NAN : fmax(m, s[j]);
    }
    double sink = k->hook[HOOK_SINK] >= 0 ? hook(e, HOOK_SINK)[0] : -INFINITY;
    m = isnan(sink) || isnan(m) ? NAN : fmax(m, sink);
    double sum = 0;
    memset(acc, 0, sizeof(double) * (size_t)k->dv);
    /* A NaN logit makes the row NaN (o and lse); a +inf logit makes o NaN and lse +inf; a
     * -inf logit weighs 0, as a masked key (docs/language.md section 13, torch's softmax and
     * logsumexp). */
    if (isnan(m) || m == INFINITY) {
        for (int32_t x = 0; x < k->dv; x++) acc[x] = NAN;
        sum = 1;
    } else if (m > -INFINITY) {
        for (int64_t j = 0; j < lk; j++) {
            if (!keep[j]) continue;
            double p = exp(s[j] - m);
            sum += p;
            head_row(e, k->tv, j, kv, k->dv);
            for (int32_t x = 0; x < k->dv; x++) acc[x] += p * kv[x];
        }
        sum += exp(sink - m);
    }
    /* no visible key with weight: o = 0, lse = -inf (or the sink alone) */
    double lse = isnan(m) || m == INFINITY ? m : sum > 0 ? m + log(sum) : -INFINITY;
    AbiTensor *o = (AbiTensor *)&e->args->t[k->to];
    int64_t base = env->b * o->strides[0] + env->h * o->strides[1] + row * o->strides[2];
    for (int32_t x = 0; x < k->dv; x++)
        write_elem(o, e->dt[k->to], base + x * o->strides[3], sum > 0 ? acc[x] / sum : 0);
    if (k->tlse >= 0) {
        AbiTensor *l = (AbiTensor *)&e->args->t[k->tlse];
        write_elem(l, e->dt[k->tlse], env->b * l->strides[0] + env->h * l->strides[1] + row * l->strides[2], lse);
    }
}

static void recurrence(Ev *e, int64_t len, double *S)
{
    const AirKernel *k = e->k;
    int64_t ns = (int64_t)k->state_rows * k->state_cols;
    memset(S, 0, sizeof(double) * (size_t)ns);
    if (k->tsin >= 0) {   /* the initial state of (b, h) */
        const AbiTensor *s = &e->args->t[k->tsin];
        for (int32_t r = 0; r < k->state_rows; r++)
            for (int32_t c = 0; c < k->state_cols; c++)
                S[(int64_t)r * k->state_cols + c] =
                    air_read_elem(s->data, e->dt[k->tsin], e->env.b * s->strides[0] + e->env.h * s->strides[1] +
                                  r * s->strides[2] + c * s->strides[3]);
    }
    AbiTensor *o = (AbiTensor *)&e->args->t[k->to];
    for (int64_t t = 0; t < len && !e->failed; t++) {
        /* Both hooks in one evaluation: STATE is the state before the step in each, and an
         * output of the updated state shares the state hook's nodes (air.h). */
        e->env.t = t;
        e->env.state = S;
        e->epoch++;
        const double *next = ev(e, k->hook[HOOK_STATE]);
        const double *out = ev(e, k->hook[HOOK_OUT]);
        int64_t base = e->env.b * o->strides[0] + e->env.h * o->strides[1] + t * o->strides[2];
        for (int32_t x = 0; x < k->dv; x++) write_elem(o, e->dt[k->to], base + x * o->strides[3], out[x]);
        memmove(S, next, sizeof(double) * (size_t)ns);
    }
    if (k->tsout >= 0 && !e->failed) {   /* the state after the last step */
        AbiTensor *s = (AbiTensor *)&e->args->t[k->tsout];
        for (int32_t r = 0; r < k->state_rows; r++)
            for (int32_t c = 0; c < k->state_cols; c++)
                write_elem(s, e->dt[k->tsout], e->env.b * s->strides[0] + e->env.h * s->strides[1] +
                           r * s->strides[2] + c * s->strides[3], S[(int64_t)r * k->state_cols + c]);
    }
}

bool air_reference(const AirKernel *k, const AbiArgs *args, const AirDtype *dtypes, Diags *d)
{
    int64_t nb = args->t[k->tq].shape[0], hq = args->t[k->tq].shape[1];
    int64_t hkv = args->t[k->tk].shape[1], lq = args->t[k->tq].shape[2], lk = args->t[k->tk].shape[2];
    if (k->kind != KIND_RECURRENT && (hkv <= 0 || hq % hkv != 0)) {
        diag_error_noloc(d, "query heads (%lld) must be a multiple of kv heads (%lld)", (long long)hq,
                         (long long)hkv);
        return false;
    }
    if (k->kind == KIND_RECURRENT) {   /* a recurrence runs over o's heads */
        hq = args->t[k->to].shape[1];
        int32_t ts[3] = {k->tq, k->tk, k->tv};
        for (int x = 0; x < 3; x++)
            if (args->t[ts[x]].shape[1] <= 0 || hq % args->t[ts[x]].shape[1] != 0) {
                diag_error_noloc(d, "o's heads (%lld) must be a multiple of the heads of '%s' (%lld)",
                                 (long long)hq, k->tensors[ts[x]].name, (long long)args->t[ts[x]].shape[1]);
                return false;
            }
    }
    for (int32_t t = 0; t < k->ntensors; t++)
        if (!args->t[t].data) {
            diag_error_noloc(d, "tensor '%s' has no data", k->tensors[t].name);
            return false;
        }
    Ev e = {.k = k, .args = args, .dt = dtypes, .d = d};
    size_t nn = (size_t)k->nnodes + 1;
    e.off = calloc(nn, sizeof(int64_t));
    e.stamp = calloc(nn, sizeof(uint32_t));
    e.rdep = calloc(nn, 1);
    int64_t total = 0;
    for (int32_t id = 0; id < k->nnodes; id++) {
        const AirNode *n = &k->nodes[id];
        e.off[id] = total;
        total += elems(n->ty);
        e.rdep[id] = n->op == OP_RVAR;
        for (int32_t g = 0; g < n->nargs; g++) e.rdep[id] = e.rdep[id] || e.rdep[n->args[g]];
        if (n->op == OP_SUM) e.rdep[id] = false;   /* a sum no longer depends on its own rvar */
    }
    int64_t dmax = k->dk > k->dv ? k->dk : k->dv;
    e.vals = calloc((size_t)total + 1, sizeof(double));
    double *s = calloc((size_t)lk + 1, sizeof(double)), *qv = calloc((size_t)dmax, sizeof(double));
    double *kv = calloc((size_t)dmax, sizeof(double)), *acc = calloc((size_t)dmax, sizeof(double));
    double *S = calloc((size_t)k->state_rows * (size_t)k->state_cols + 1, sizeof(double));
    bool *keep = calloc((size_t)lk + 1, 1);
    Cand *cand = calloc((size_t)lk + 1, sizeof(Cand));
    e.given = calloc((size_t)lk + 1, 1);
    bool ok = e.off && e.stamp && e.rdep && e.vals && s && qv && kv && acc && S && keep && cand && e.given;
    if (!ok) diag_error_noloc(d, "out of memory in the reference evaluator");
    int64_t group = ok && hkv > 0 && hq >= hkv ? hq / hkv : 1;   /* kvh: a shared selector's group */
    for (int64_t b = 0; ok && b < nb; b++)
        for (int64_t h = 0; ok && h < hq && !e.failed; h++) {
            e.env = (Env){.b = b, .h = h, .kvh = h / group};
            if (k->kind == KIND_RECURRENT) {
                recurrence(&e, lq, S);
                continue;
            }
            for (int64_t row = 0; row < lq && !e.failed; row++)
                softmax_row(&e, row, lk, group, s, keep, qv, kv, acc, cand);
        }
    ok = ok && !e.failed;
    free(e.off), free(e.stamp), free(e.rdep), free(e.vals);
    free(s), free(qv), free(kv), free(acc), free(S), free(keep), free(cand), free(e.given);
    return ok;
}
