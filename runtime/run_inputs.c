/* run_inputs.c: what `attnc run` runs on and how it judges the result.
 *
 * Sizes: B = 1; Hq from the spec or 8; Hkv = Hq unless fixed or given; Lq = Lk = 1024; any
 * other symbol 64; -D overrides any of them by symbol name or by role name (B, Hq, Hkv, Lq,
 * Lk) with a whole number from 0 to 2^31 - 1, at least 1 for a head count.
 * Data: q, k, v uniform in [-1, 1) (recurrences: scaled by 1/sqrt(Dk) so that the state
 * stays bounded over long sequences); i32 side tensors: sorted random ids in [0, 4) along
 * their last dim (document ids, segment flags); a given selector's indices (`select ... from
 * idx;`): random ids in [-1, ncand), ncand the number of blocks ceil(Lk / n) or of keys Lk, so
 * that the lists hold -1s and repeats; f32 side tensors: uniform in [-1, 1) (sinks,
 * per-head scales), except in recurrences where a name starting with 'g' is a log decay
 * (uniform in [-0.1, -0.001)) and others are gates in [0, 1).
 *
 * Tolerances, on the relative Frobenius error ||out - ref|| / ||ref|| (rows the reference
 * masks entirely must match exactly: o = 0, lse = -inf):
 *   f32 output  1e-4  softmax and sums in f32 over about 10^3 keys err near 1e-6; the margin
 *                     covers approximate exp (2^-22) and reordered sums. A wrong mask element
 *                     or scale gives 1e-3 or more.
 *   f16 output  2e-3  rounding o to f16 alone is up to 2^-11 relative per element, and a GPU
 *                     kernel also rounds P to f16 for the PV product.
 *   bf16 output 1e-2  the same with bf16's 2^-8: up to 3.9e-3 per element from o alone.
 *   lse (f32)   1e-4  computed in f32 from the same inputs as the reference. */
#include "rt.h"

#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the spec text ---------------------------------------------------------------------- */

char *run_read_spec(const RunConfig *c)
{
    Arena a;
    arena_init(&a);
    char *text = arena_read_spec(&a, c->spec, NULL);
    char *re = NULL;
    if (!text)
        fprintf(stderr, "attnc run: cannot read '%s': %s\n", c->spec,
                spec_read_error(errno));
    else if (!(re = strdup(text)))
        fprintf(stderr, "attnc run: out of memory\n");
    arena_free(&a);
    return re;
}

/* ---- sizes ------------------------------------------------------------------------------ */

static const char *const role_names[] = {"B", "Hq", "Hkv", "Lq", "Lk"};

static const RunDefine *find_define(const RunConfig *c, const char *name)
{
    for (int32_t i = c->ndefines - 1; i >= 0; i--)
        if (strcmp(c->defines[i].name, name) == 0) return &c->defines[i];
    return NULL;
}

bool run_is_size_or_param(const AttnKernel *k, const char *name)
{
    for (size_t r = 0; r < sizeof role_names / sizeof role_names[0]; r++)
        if (strcmp(name, role_names[r]) == 0) return true;
    for (int32_t s = 0; s < k->air->nsyms; s++)
        if (strcmp(k->air->syms[s].name, name) == 0) return true;
    return attn_kernel_param_index(k, name) >= 0;
}

/* The size of symbol s: a -D by its name or role name, else the default of its role. False,
 * with the error naming the -D, when it gives a size this run cannot use: a size is a whole
 * number from 0 to RUN_MAX_SIZE, and a head count at least 1 (query heads are grouped over
 * the kv heads: with none, kernel and reference have nothing to agree on). */
static bool sym_size(const AttnKernel *k, const RunConfig *c, int32_t s, int64_t hq,
                     int64_t *size)
{
    const AirSym *sym = &k->air->syms[s];
    const RunDefine *d = find_define(c, sym->name);
    if (!d && sym->role < SYM_OTHER) d = find_define(c, role_names[sym->role]);
    if (d) {
        bool heads = sym->role == SYM_HQ || sym->role == SYM_HKV;
        if (!(d->value >= (heads ? 1 : 0) && d->value <= RUN_MAX_SIZE &&
              d->value == floor(d->value))) {
            rt_fail(ATTN_ERR_ARG, "-D %s=%g: %s is a %s, a whole number from %d to %d", d->name,
                    d->value, d->name, heads ? "head count" : "size", heads ? 1 : 0,
                    RUN_MAX_SIZE);
            return false;
        }
        *size = (int64_t)d->value;
        return true;
    }
    switch (sym->role) {
    case SYM_B: *size = 1; break;
    case SYM_HQ: *size = 8; break;
    case SYM_HKV: *size = hq; break;
    case SYM_LQ:
    case SYM_LK: *size = 1024; break;
    default: *size = 64; break;
    }
    return true;
}

/* ---- data ------------------------------------------------------------------------------- */

static uint64_t next_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_rand(s) >> 11) * 0x1p-53;
}

static size_t dsize(AttnDtype d) { return d == ATTN_F64 ? 8 : d == ATTN_F16 || d == ATTN_BF16 ? 2 : 4; }

static void store(AttnTensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case ATTN_F32: ((float *)t->data)[i] = (float)v; break;
    case ATTN_F64: ((double *)t->data)[i] = v; break;
    case ATTN_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    default: ((uint16_t *)t->data)[i] = rt_f32_to_half((float)v, t->dtype); break;
    }
}

static double load(const AttnTensor *t, int64_t i)
{
    switch (t->dtype) {
    case ATTN_F32: return ((const float *)t->data)[i];
    case ATTN_F64: return ((const double *)t->data)[i];
    case ATTN_I32: return ((const int32_t *)t->data)[i];
    default: return rt_half_to_f32(((const uint16_t *)t->data)[i], t->dtype);
    }
}

static int64_t numel(const AttnTensor *t)
{
    int64_t n = 1;
    for (int32_t d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

/* A contiguous host tensor of the given dtype and shape (zero-filled); false when it does not
 * fit in memory. */
static bool alloc_tensor(AttnTensor *t, AttnDtype dt, int32_t rank, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = rank;
    int64_t n = 1;
    bool fits = true;   /* sizes up to RUN_MAX_SIZE can overflow the element count */
    for (int32_t d = rank - 1; d >= 0; d--) {
        t->shape[d] = shape[d];
        t->strides[d] = n;
        fits &= !__builtin_mul_overflow(n, shape[d], &n);
    }
    t->data = fits ? calloc((size_t)(n > 0 ? n : 1), dsize(dt)) : NULL;
    return t->data != NULL;
}

/* ncand: the candidates of a given selector (its index tensor's ids lie in [0, ncand)). */
static void fill(const AttnKernel *k, int32_t ti, AttnTensor *t, uint64_t *rng, int64_t ncand)
{
    const AirTensor *at = &k->air->tensors[ti];
    bool rec = k->air->kind == KIND_RECURRENT;
    int64_t n = numel(t), last = t->rank ? t->shape[t->rank - 1] : 1;
    if (at->role == ROLE_SEL_IN) {
        for (int64_t i = 0; i < n; i++) store(t, i, floor(uniform(rng, -1, (double)ncand)));
        return;
    }
    if (at->dtype == DT_I32) {
        /* sorted ids per row: each position starts a new id with probability 3 / last */
        for (int64_t r = 0; r < n / (last ? last : 1); r++) {
            int32_t id = 0;
            for (int64_t j = 0; j < last; j++) {
                if (j > 0 && id < 3 && uniform(rng, 0, 1) < 3.0 / (double)last) id++;
                store(t, r * last + j, id);
            }
        }
        return;
    }
    double lo = -1, hi = 1;
    if (rec && at->role == ROLE_SIDE) {
        lo = at->name[0] == 'g' ? -0.1 : 0;
        hi = at->name[0] == 'g' ? -0.001 : 1;
    } else if (rec) {
        hi = 1.0 / sqrt((double)(at->role == ROLE_V ? k->air->dv : k->air->dk));
        lo = -hi;
    }
    for (int64_t i = 0; i < n; i++) store(t, i, uniform(rng, lo, hi));
}

bool run_make_inputs(const AttnKernel *k, const RunConfig *c, RunData *d)
{
    const AirKernel *air = k->air;
    memset(d, 0, sizeof *d);
    d->ntensors = air->ntensors;
    d->nparams = air->nparams;
    d->on_gpu = k->is_gpu;
    int64_t hq = 8;
    for (int32_t s = 0; s < air->nsyms; s++)
        if (air->syms[s].role == SYM_HQ && !sym_size(k, c, s, 8, &hq)) return false;
    if (air->tensors[air->tq].dims[1].sym < 0) hq = air->tensors[air->tq].dims[1].size;
    for (int32_t s = 0; s < air->nsyms; s++)
        if (!sym_size(k, c, s, hq, &d->sym[s])) return false;
    for (int32_t p = 0; p < air->nparams; p++) {
        const RunDefine *def = find_define(c, air->params[p].name);
        if (!def && !air->params[p].has_default) {
            rt_fail(ATTN_ERR_ARG, "param '%s' has no default: give it with -D %s=value",
                    air->params[p].name, air->params[p].name);
            return false;
        }
        d->params[p] = def ? def->value : air->params[p].def;
    }
    uint64_t rng = c->seed * 0x2545f4914f6cdd1dull + 1;
    const AirDim *lk = &air->tensors[air->tk].dims[2];
    int64_t bs = air->sel.kind == SEL_BLOCKS ? air->sel.block : 1;
    int64_t ncand = ((lk->sym < 0 ? lk->size : d->sym[lk->sym]) + bs - 1) / bs;
    for (int32_t i = 0; i < air->ntensors; i++) {
        const AirTensor *at = &air->tensors[i];
        int64_t shape[ATTN_MAX_RANK];
        for (int32_t r = 0; r < at->rank; r++)
            shape[r] = at->dims[r].sym < 0 ? at->dims[r].size : d->sym[at->dims[r].sym];
        bool ok = alloc_tensor(&d->host[i], (AttnDtype)at->dtype, at->rank, shape);
        if (ok && at->is_output)
            ok = alloc_tensor(&d->ref[i], ATTN_F64, at->rank, shape);
        else
            d->ref[i] = d->host[i];
        if (!ok) {
            rt_fail(ATTN_ERR_NOMEM, "out of memory for tensor '%s'", at->name);
            return false;
        }
        if (!at->is_output) fill(k, i, &d->host[i], &rng, ncand);
        if (d->on_gpu) {
            size_t bytes = (size_t)numel(&d->host[i]) * dsize(d->host[i].dtype);
            d->dev[i] = d->host[i];
            if (rt_dev_alloc(bytes ? bytes : 1, &d->dev[i].data) != ATTN_OK ||
                (!at->is_output &&
                 rt_dev_upload(d->dev[i].data, d->host[i].data, bytes) != ATTN_OK))
                return false;
        }
    }
    return true;
}

void run_print_sizes(const AttnKernel *k, const RunData *d)
{
    for (int32_t s = 0; s < k->air->nsyms; s++)
        printf("%s=%lld ", k->air->syms[s].name, (long long)d->sym[s]);
    printf("Dk=%d Dv=%d", k->air->dk, k->air->dv);
}

/* ---- running and judging ------------------------------------------------------------------ */

AttnStatus run_launch(AttnKernel *k, RunData *d, const AttnLaunchOptions *o)
{
    if (!d->on_gpu) return attn_launch(k, d->host, d->ntensors, d->params, d->nparams, o);
    AttnStatus st = attn_launch(k, d->dev, d->ntensors, d->params, d->nparams, o);
    return st == ATTN_OK ? rt_dev_sync(o->stream) : st;
}

AttnStatus run_reference(const AttnKernel *k, RunData *d)
{
    if (d->on_gpu)
        for (int32_t i = 0; i < d->ntensors; i++)
            if (k->air->tensors[i].is_output) {
                size_t bytes = (size_t)numel(&d->host[i]) * dsize(d->host[i].dtype);
                AttnStatus st = rt_dev_download(d->host[i].data, d->dev[i].data, bytes);
                if (st != ATTN_OK) return st;
            }
    return attn_reference(k, d->ref, d->ntensors, d->params, d->nparams);
}

static double tolerance(AttnDtype out, const char **why)
{
    switch (out) {
    case ATTN_BF16: *why = "bf16 output: rounding alone is up to 2^-8 relative"; return 1e-2;
    case ATTN_F16: *why = "f16 output: rounding alone is up to 2^-11 relative"; return 2e-3;
    case ATTN_I32: *why = "i32 output (indices): exact"; return 0;
    default: *why = "f32 output, f32 arithmetic (softmax or state)"; return 1e-4;
    }
}

/* Compares one output; prints its line; true when within tolerance. */
static bool judge(const AttnKernel *k, int32_t ti, const RunData *d)
{
    const AttnTensor *got = &d->host[ti], *ref = &d->ref[ti];
    int64_t n = numel(got), masked_bad = 0, nan = 0;
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = load(got, i), r = load(ref, i);
        if (isnan(g)) {
            nan++;
        } else if (isinf(r) || isinf(g)) {
            masked_bad += g != r;   /* -inf lse of a fully masked row must match exactly */
        } else {
            num += (g - r) * (g - r);
            den += r * r;
        }
    }
    double err = den > 0 ? sqrt(num / den) : sqrt(num);
    const char *why;
    double tol = tolerance(got->dtype, &why);
    bool ok = err <= tol && masked_bad == 0 && nan == 0;
    printf("  %-7s error %.2e  (tolerance %.0e: %s)  %s", attn_kernel_tensor_name(k, ti), err,
           tol, why, ok ? "ok" : "FAILED");
    if (nan) printf(", %lld NaN", (long long)nan);
    if (masked_bad) printf(", %lld infinities differ from the reference", (long long)masked_bad);
    printf("\n");
    return ok;
}

bool run_report(const AttnKernel *k, RunData *d, double seconds, int32_t repeat)
{
    bool ok = true;
    printf("  check   relative Frobenius error against the f64 reference\n");
    for (int32_t i = 0; i < d->ntensors; i++)
        if (k->air->tensors[i].is_output) ok &= judge(k, i, d);
    printf("  time    %.3f ms (median of %d runs)", seconds * 1e3, repeat);
    AbiArgs args;
    double pairs = 0;
    bool exact = false;
    if (k->air->kind == KIND_RECURRENT) {
        printf("; no GFLOP/s for a recurrence\n");
    } else if (rt_validate(k, d->ref, d->ntensors, d->params, d->nparams, RT_REFERENCE,
                           &args) == ATTN_OK &&
               rt_visible_pairs(k, &args, &pairs, &exact) == ATTN_OK) {
        double flops = 2.0 * pairs * (double)(k->air->dk + k->air->dv);
        printf(", %.1f GFLOP/s%s\n          (FLOPs = 4 * visible pairs * (Dk + Dv) / 2 with "
               "%.0f visible (b, h, i, j)%s)\n", flops / seconds * 1e-9, exact ? "" : " at most",
               pairs, exact ? "" : ", counted from the mask alone");
    } else {
        printf("; GFLOP/s unknown (%s)\n", attn_last_error());
    }
    printf("%s\n", ok ? "PASS" : "FAIL: an error exceeds its tolerance");
    return ok;
}

void run_free(RunData *d)
{
    for (int32_t i = 0; i < d->ntensors; i++) {
        if (d->ref[i].data != d->host[i].data) free(d->ref[i].data);
        free(d->host[i].data);
        if (d->on_gpu) rt_dev_free(d->dev[i].data);
    }
}
