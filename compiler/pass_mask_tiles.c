/* pass_mask_tiles.c: the mask's tile structure. At compile time, pass_mask_tiles sorts the
 * mask's nodes by what they vary with (nothing, i, j, both). At launch, mask_tile_map runs a
 * small interval interpreter over those nodes once per tile, with i and j ranging over the
 * tile, runtime params and dims as points and side-tensor loads as the [min, max] of the
 * tensor over the index box, and classifies each (query tile, key tile) as FULL (the interval
 * of the mask is [true, true]), EMPTY ([false, false]) or PARTIAL. Interval rules are sound
 * (the true value set is always inside), so FULL and EMPTY are exact claims; PARTIAL may be
 * conservative. For comparisons of i - j with params (causal, windows) the intervals are
 * exact, since i and j vary independently over a rectangle. Cost: the i-only nodes once per
 * query tile, the j-only ones once per key tile, the rest once per tile; loads scan their box
 * once per query or key tile (O(Lq + Lk) per (b, h)), never per element of the score matrix. */
#include "pass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- compile time ------------------------------------------------------------------------- */

static bool has_interval_rule(AirOp op)
{
    AirOpKind kind = air_ops[op].kind;
    if (kind == OPK_ARITH || kind == OPK_CMP || kind == OPK_LOGIC || kind == OPK_UN_F) return true;
    return op == OP_CONST || op == OP_IDX || op == OP_DIM || op == OP_PARAM || op == OP_LOAD ||
           op == OP_TOF32 || op == OP_TOI32 || op == OP_SELECT;
}

MaskInfo *pass_mask_tiles(Arena *a, const AirKernel *k, Diags *d)
{
    (void)d;
    MaskInfo *m = arena_alloc(a, sizeof *m);
    if (!m) return NULL;
    m->root = k->hook[HOOK_MASK];
    m->has_mask = m->root >= 0;
    if (!m->has_mask) return m;
    AirUses *u = pass_uses(a, k);
    bool *live = arena_alloc(a, (size_t)k->nnodes + 1);
    m->dep = arena_alloc(a, (size_t)k->nnodes + 1);
    m->loads = arena_alloc(a, sizeof(int32_t) * (size_t)(k->nnodes + 1));
    m->imprecise = arena_alloc(a, sizeof(int32_t) * (size_t)(k->nnodes + 1));
    for (int l = 0; l < 4; l++) m->level[l] = arena_alloc(a, sizeof(int32_t) * (size_t)(k->nnodes + 1));
    if (!u || !live || !m->dep || !m->loads || !m->imprecise || !m->level[3]) return NULL;
    const AirUseSet *r = &u->node[m->root];
    m->idx = r->idx;
    m->per_b = r->idx & USE_B;
    m->per_h = r->idx & USE_H;
    m->params = r->params;
    m->syms = r->syms;
    m->tensors = r->tensors;
    live[m->root] = true;
    for (int32_t id = m->root; id >= 0; id--)
        if (live[id])
            for (int32_t g = 0; g < k->nodes[id].nargs; g++) live[k->nodes[id].args[g]] = true;
    for (int32_t id = 0; id <= m->root; id++) {
        if (!live[id]) continue;
        uint32_t bits = u->node[id].idx;
        m->dep[id] = (uint8_t)(bits & (USE_B | USE_H | USE_I | USE_J | USE_T));
        int l = (bits & USE_I ? 1 : 0) + (bits & USE_J ? 2 : 0);
        m->level[l][m->nlevel[l]++] = id;
        AirOp op = k->nodes[id].op;
        if (op == OP_LOAD) m->loads[m->nloads++] = id;
        if (!has_interval_rule(op) || k->nodes[id].ty.kind == TY_VEC || k->nodes[id].ty.kind == TY_MAT ||
            (op == OP_IDX && k->nodes[id].ref == IX_T))
            m->imprecise[m->nimprecise++] = id;
    }
    return m;
}

/* ---- intervals ---------------------------------------------------------------------------- */

typedef struct Iv {
    double lo, hi;
    bool nan;       /* NaN is possible (f32 only) */
} Iv;

static Iv iv(double lo, double hi) { return (Iv){lo, hi, false}; }
static Iv iv_point(double v) { return isnan(v) ? (Iv){-INFINITY, INFINITY, true} : iv(v, v); }

static Iv iv_top(AirTypeKind t)
{
    if (t == TY_BOOL) return iv(0, 1);
    if (t == TY_I32) return iv(-2147483648.0, 2147483647.0);
    return (Iv){-INFINITY, INFINITY, true};
}

static bool is_point(Iv x) { return !x.nan && x.lo == x.hi; }

/* Rounds a real interval outward to what an f32 computation can give; `slack` adds relative
 * room for the kernel's approximate transcendental functions. */
static Iv iv_f32(Iv x, double slack)
{
    if (x.nan || isnan(x.lo) || isnan(x.hi)) return iv_top(TY_F32);
    double lo = x.lo - fabs(x.lo) * slack, hi = x.hi + fabs(x.hi) * slack;
    float flo = (float)lo, fhi = (float)hi;
    return iv(nextafterf(flo, -INFINITY), nextafterf(fhi, INFINITY));
}

/* i32 results outside the i32 range may have wrapped: anything is possible. */
static Iv iv_i32(Iv x)
{
    if (x.lo < -2147483648.0 || x.hi > 2147483647.0 || x.nan) return iv_top(TY_I32);
    return x;
}

static Iv iv_hull4(double a, double b, double c, double d)
{
    if (isnan(a) || isnan(b) || isnan(c) || isnan(d)) return iv_top(TY_F32);
    return iv(fmin(fmin(a, b), fmin(c, d)), fmax(fmax(a, b), fmax(c, d)));
}

static double tdiv(double p, double q) { return trunc(p / q); }

/* Truncating integer division, division by 0 giving 0: extremes are at the corners of each
 * sign-constant part of the divisor. */
static Iv iv_idiv(Iv x, Iv y)
{
    Iv r = iv(INFINITY, -INFINITY);
    if (y.lo <= 0 && y.hi >= 0) r = iv(0, 0);
    double parts[2][2] = {{y.lo, fmin(y.hi, -1)}, {fmax(y.lo, 1), y.hi}};
    for (int p = 0; p < 2; p++) {
        if (parts[p][0] > parts[p][1]) continue;
        Iv c = iv_hull4(tdiv(x.lo, parts[p][0]), tdiv(x.lo, parts[p][1]), tdiv(x.hi, parts[p][0]),
                        tdiv(x.hi, parts[p][1]));
        r = iv(fmin(r.lo, c.lo), fmax(r.hi, c.hi));
    }
    return iv_i32(r);
}

/* C remainder: the sign of x, magnitude below |y|; exact when y is one value and x's range
 * does not wrap around a multiple of it. */
static Iv iv_imod(Iv x, Iv y)
{
    double m = fmax(fabs(y.lo), fabs(y.hi));
    if (m == 0) return iv(0, 0);
    if (is_point(y) && x.lo >= 0 && x.hi - x.lo < m) {
        double a = fmod(x.lo, m), b = fmod(x.hi, m);
        if (a <= b) return iv(a, b);
    }
    if (is_point(y) && x.hi <= 0 && x.hi - x.lo < m) {
        double a = fmod(x.lo, m), b = fmod(x.hi, m);
        if (a <= b) return iv(a, b);
    }
    double lo = x.lo >= 0 ? 0 : fmax(x.lo, -(m - 1)), hi = x.hi <= 0 ? 0 : fmin(x.hi, m - 1);
    if (y.lo <= 0 && y.hi >= 0) lo = fmin(lo, 0), hi = fmax(hi, 0);
    return iv(lo, hi);
}

static Iv iv_cmp(AirOp op, Iv a, Iv b)
{
    Iv r = iv(0, 1);
    switch (op) {
    case OP_LT: if (a.hi < b.lo) r = iv(1, 1); else if (a.lo >= b.hi) r = iv(0, 0); break;
    case OP_LE: if (a.hi <= b.lo) r = iv(1, 1); else if (a.lo > b.hi) r = iv(0, 0); break;
    case OP_GT: if (a.lo > b.hi) r = iv(1, 1); else if (a.hi <= b.lo) r = iv(0, 0); break;
    case OP_GE: if (a.lo >= b.hi) r = iv(1, 1); else if (a.hi < b.lo) r = iv(0, 0); break;
    case OP_EQ: case OP_NE:
        if (a.lo == a.hi && b.lo == b.hi && a.lo == b.lo) r = iv(1, 1);
        else if (a.hi < b.lo || b.hi < a.lo) r = iv(0, 0);
        if (op == OP_NE) r = iv(1 - r.hi, 1 - r.lo);
        break;
    default: break;
    }
    /* NaN makes every comparison false except != */
    if (a.nan || b.nan) {
        if (op == OP_NE) r.hi = 1;
        else r.lo = 0;
    }
    return r;
}

static bool is_monotone_up(AirOp op)
{
    return op == OP_EXP || op == OP_EXP2 || op == OP_TANH || op == OP_SIGMOID || op == OP_RELU ||
           op == OP_SOFTPLUS || op == OP_FLOOR || op == OP_CEIL || op == OP_LOG || op == OP_LOG2 ||
           op == OP_SQRT;
}

static Iv iv_unary_f(AirOp op, Iv x)
{
    if (x.nan) return iv_top(TY_F32);
    double f[1], lo, hi;
    if ((op == OP_LOG || op == OP_LOG2 || op == OP_SQRT) && x.lo < 0) return iv_top(TY_F32);
    if (is_monotone_up(op)) {
        air_scalar_apply(op, false, &x.lo, f), lo = f[0];
        air_scalar_apply(op, false, &x.hi, f), hi = f[0];
    } else if (op == OP_RSQRT && x.lo > 0) {
        air_scalar_apply(op, false, &x.hi, f), lo = f[0];
        air_scalar_apply(op, false, &x.lo, f), hi = f[0];
    } else {
        return iv_top(TY_F32);
    }
    return iv_f32(iv(lo, hi), op == OP_FLOOR || op == OP_CEIL || op == OP_RELU ? 0 : 0x1p-18);
}

/* Everything mask_tile_map needs while interpreting. */
typedef struct Ctx {
    const AirKernel *k;
    const AbiArgs *args;
    Iv *val;            /* per node */
    Iv *whole;          /* per node: a LOAD's whole-tensor range, computed on first need */
    bool *has_whole;
    Iv ib, ih, ii, ij;  /* current b, h, i range, j range */
} Ctx;

enum { LOAD_SCAN_MAX = 4096 };

static double load_elem(const AbiTensor *t, AirDtype dt, const int64_t *ix, int rank)
{
    int64_t off = 0;
    for (int d = 0; d < rank; d++) off += ix[d] * t->strides[d];
    return air_read_elem(t->data, dt, off);
}

/* [min, max] of tensor t over the box lo[d]..hi[d] (inclusive). */
static Iv scan_box(const AbiTensor *t, AirDtype dt, int rank, const int64_t *lo, const int64_t *hi)
{
    Iv r = iv(INFINITY, -INFINITY);
    int64_t ix[AIR_MAX_RANK];
    memcpy(ix, lo, sizeof(int64_t) * (size_t)rank);
    for (;;) {
        double v = load_elem(t, dt, ix, rank);
        if (isnan(v)) r.nan = true;
        else r.lo = fmin(r.lo, v), r.hi = fmax(r.hi, v);
        int d = rank - 1;
        while (d >= 0 && ix[d] == hi[d]) ix[d] = lo[d], d--;
        if (d < 0) break;
        ix[d]++;
    }
    if (r.lo > r.hi) r = iv_top(dt == DT_I32 ? TY_I32 : TY_F32);
    return r;
}

static Iv iv_load(Ctx *c, int32_t id, const AirNode *n)
{
    const AirTensor *tt = &c->k->tensors[n->ref];
    const AbiTensor *t = &c->args->t[n->ref];
    AirTypeKind ty = tt->dtype == DT_I32 ? TY_I32 : TY_F32;
    if (!t->data || n->nargs != tt->rank) return iv_top(ty);
    int64_t lo[AIR_MAX_RANK], hi[AIR_MAX_RANK], whole_hi[AIR_MAX_RANK], zero[AIR_MAX_RANK] = {0};
    double box = 1;
    for (int32_t d = 0; d < n->nargs; d++) {
        Iv x = c->val[n->args[d]];
        if (t->shape[d] <= 0) return iv_top(ty);
        whole_hi[d] = t->shape[d] - 1;
        /* an index outside the tensor is a launch error; here it only means "unknown" */
        if (x.lo < 0 || x.hi > (double)whole_hi[d]) return iv_top(ty);
        lo[d] = (int64_t)x.lo;
        hi[d] = (int64_t)x.hi;
        box *= (double)(hi[d] - lo[d] + 1);
    }
    if (box <= LOAD_SCAN_MAX) return scan_box(t, tt->dtype, n->nargs, lo, hi);
    if (!c->has_whole[id]) {
        c->whole[id] = scan_box(t, tt->dtype, n->nargs, zero, whole_hi);
        c->has_whole[id] = true;
    }
    return c->whole[id];
}

static Iv iv_node(Ctx *c, int32_t id)
{
    const AirNode *n = &c->k->nodes[id];
    const AbiArgs *args = c->args;
    Iv x = n->nargs > 0 ? c->val[n->args[0]] : iv(0, 0);
    Iv y = n->nargs > 1 ? c->val[n->args[1]] : iv(0, 0);
    AirTypeKind ty = n->ty.kind;
    if (ty == TY_VEC || ty == TY_MAT || ty == TY_VOID) return iv_top(TY_F32);
    switch (n->op) {
    case OP_CONST: return iv_point(n->num);
    case OP_IDX:
        switch (n->ref) {
        case IX_B: return c->ib;
        case IX_H: return c->ih;
        case IX_I: return c->ii;
        case IX_J: return c->ij;
        default: return iv_top(TY_I32);
        }
    case OP_DIM: return iv_point((double)args->sym[n->ref]);
    case OP_PARAM:
        switch (c->k->params[n->ref].type) {
        case PARAM_F32: return iv_point(args->fparam[n->ref]);
        case PARAM_BOOL: return iv_point(args->iparam[n->ref] != 0);
        default: return iv_point(args->iparam[n->ref]);
        }
    case OP_LOAD: return iv_load(c, id, n);
    case OP_TOF32: return iv_f32(x, 0);
    case OP_TOI32:
        if (x.nan || x.lo < -2147483648.0 || x.hi > 2147483647.0) return iv_top(TY_I32);
        return iv(trunc(x.lo), trunc(x.hi));
    case OP_SELECT: {
        Iv z = c->val[n->args[2]];
        if (x.lo == 1) return y;
        if (x.hi == 0) return z;
        return (Iv){fmin(y.lo, z.lo), fmax(y.hi, z.hi), y.nan || z.nan};
    }
    default: break;
    }
    AirOpKind kind = air_ops[n->op].kind;
    if (kind == OPK_CMP) return iv_cmp(n->op, x, y);
    if (kind == OPK_LOGIC) {
        if (n->op == OP_NOT) return iv(1 - x.hi, 1 - x.lo);
        if (n->op == OP_AND) return iv(fmin(x.lo, y.lo), fmin(x.hi, y.hi));
        return iv(fmax(x.lo, y.lo), fmax(x.hi, y.hi));
    }
    if (kind == OPK_UN_F) return iv_unary_f(n->op, x);
    if (kind != OPK_ARITH) return iv_top(ty);

    bool ints = ty == TY_I32;
    /* points: the op's own semantics, exactly */
    bool points = is_point(x) && (n->nargs < 2 || is_point(y));
    if (points) {
        double v[2] = {x.lo, y.lo}, r;
        air_scalar_apply(n->op, ints, v, &r);
        return ints ? iv_point(r) : iv_f32(iv_point(r), 0);
    }
    if (!ints && (x.nan || y.nan || isinf(x.lo) || isinf(x.hi) || isinf(y.lo) || isinf(y.hi)))
        return iv_top(TY_F32);
    Iv r;
    switch (n->op) {
    case OP_NEG: r = iv(-x.hi, -x.lo); break;
    case OP_ADD: r = iv(x.lo + y.lo, x.hi + y.hi); break;
    case OP_SUB: r = iv(x.lo - y.hi, x.hi - y.lo); break;
    case OP_MUL: r = iv_hull4(x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi); break;
    case OP_MIN: r = iv(fmin(x.lo, y.lo), fmin(x.hi, y.hi)); break;
    case OP_MAX: r = iv(fmax(x.lo, y.lo), fmax(x.hi, y.hi)); break;
    case OP_ABS:
        r = x.lo >= 0 ? x : x.hi <= 0 ? iv(-x.hi, -x.lo) : iv(0, fmax(-x.lo, x.hi));
        break;
    case OP_DIV:
        if (ints) return iv_idiv(x, y);
        if (y.lo <= 0 && y.hi >= 0) return iv_top(TY_F32);
        r = iv_hull4(x.lo / y.lo, x.lo / y.hi, x.hi / y.lo, x.hi / y.hi);
        break;
    case OP_MOD:
        if (ints) return iv_imod(x, y);
        return iv_top(TY_F32);
    default: return iv_top(ty);
    }
    return ints ? iv_i32(r) : iv_f32(r, 0);
}

static void eval_level(Ctx *c, const MaskInfo *m, int level)
{
    for (int32_t e = 0; e < m->nlevel[level]; e++) c->val[m->level[level][e]] = iv_node(c, m->level[level][e]);
}

/* ---- launch ------------------------------------------------------------------------------- */

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t mask_tile_map_size(const MaskInfo *m, const AirKernel *k, const AbiArgs *args,
                          int32_t tile_m, int32_t tile_n, int64_t *sb, int64_t *sh, int64_t *sq)
{
    if (tile_m <= 0 || tile_n <= 0) return 0;
    int64_t lq = args->t[k->tq].shape[2], lk = args->t[k->tk].shape[2];
    int64_t nb = args->t[k->tq].shape[0], nh = args->t[k->tq].shape[1];
    int64_t nq = cdiv(lq, tile_m), nk = cdiv(lk, tile_n);
    bool pb = m->has_mask && m->per_b, ph = m->has_mask && m->per_h;
    *sq = nk;
    *sh = ph ? nq * nk : 0;
    *sb = pb ? (ph ? nh : 1) * nq * nk : 0;
    return (size_t)((pb ? nb : 1) * (ph ? nh : 1) * nq * nk);
}

bool mask_tile_map(const MaskInfo *m, const AirKernel *k, const AbiArgs *args, int32_t tile_m,
                   int32_t tile_n, uint8_t *map, size_t map_len, char *err, size_t err_len)
{
    int64_t sb, sh, sq;
    size_t need = mask_tile_map_size(m, k, args, tile_m, tile_n, &sb, &sh, &sq);
    if (need == 0 || map_len < need || !map) {
        snprintf(err, err_len, "tile map needs %zu bytes for tiles of %d x %d, got %zu", need,
                 tile_m, tile_n, map_len);
        return false;
    }
    if (!m->has_mask) {
        memset(map, TILE_FULL, need);
        return true;
    }
    for (int32_t l = 0; l < m->nloads; l++) {
        int32_t t = k->nodes[m->loads[l]].ref;
        if (!args->t[t].data) {
            snprintf(err, err_len, "the mask reads side tensor '%s', which has no host data",
                     k->tensors[t].name);
            return false;
        }
    }
    int64_t lq = args->t[k->tq].shape[2], lk = args->t[k->tk].shape[2];
    int64_t nb = m->per_b ? args->t[k->tq].shape[0] : 1, nh = m->per_h ? args->t[k->tq].shape[1] : 1;
    int64_t nq = cdiv(lq, tile_m), nk = cdiv(lk, tile_n);
    size_t nn = (size_t)k->nnodes;
    Iv *val = calloc(nn, sizeof(Iv)), *whole = calloc(nn, sizeof(Iv));
    bool *has_whole = calloc(nn, 1);
    int32_t nj = m->nlevel[MASK_LJ];
    Iv *jcache = calloc((size_t)(nk * (nj ? nj : 1)), sizeof(Iv));
    if (!val || !whole || !has_whole || !jcache) {
        free(val), free(whole), free(has_whole), free(jcache);
        snprintf(err, err_len, "out of memory computing the tile map");
        return false;
    }
    Ctx c = {.k = k, .args = args, .val = val, .whole = whole, .has_whole = has_whole};
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < nh; h++) {
            c.ib = iv((double)b, (double)b);
            c.ih = iv((double)h, (double)h);
            c.ii = iv(0, 0);
            c.ij = iv(0, 0);
            eval_level(&c, m, MASK_L0);
            for (int64_t kt = 0; kt < nk; kt++) {
                int64_t j0 = kt * tile_n, j1 = j0 + tile_n < lk ? j0 + tile_n - 1 : lk - 1;
                c.ij = iv((double)j0, (double)j1);
                eval_level(&c, m, MASK_LJ);
                for (int32_t e = 0; e < nj; e++) jcache[kt * nj + e] = val[m->level[MASK_LJ][e]];
            }
            uint8_t *slice = map + b * sb + h * sh;
            for (int64_t qt = 0; qt < nq; qt++) {
                int64_t r0 = qt * tile_m, r1 = r0 + tile_m < lq ? r0 + tile_m - 1 : lq - 1;
                c.ii = iv((double)(r0 + args->q_offset), (double)(r1 + args->q_offset));
                eval_level(&c, m, MASK_LI);
                for (int64_t kt = 0; kt < nk; kt++) {
                    int64_t j0 = kt * tile_n, j1 = j0 + tile_n < lk ? j0 + tile_n - 1 : lk - 1;
                    c.ij = iv((double)j0, (double)j1);
                    for (int32_t e = 0; e < nj; e++) val[m->level[MASK_LJ][e]] = jcache[kt * nj + e];
                    eval_level(&c, m, MASK_LIJ);
                    Iv r = val[m->root];
                    slice[qt * sq + kt] = r.lo == 1 ? TILE_FULL : r.hi == 0 ? TILE_EMPTY : TILE_PARTIAL;
                }
            }
        }
    free(val), free(whole), free(has_whole), free(jcache);
    return true;
}
