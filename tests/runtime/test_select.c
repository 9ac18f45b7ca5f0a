/* test_select.c: the sparsity selectors (docs/language.md section 9) against the f64 reference,
 * through libattn (compile, launch over the thread pool, attn_reference). Every case compiles
 * its spec for the target, fills the inputs with fresh random values (one fixed seed), launches
 * the kernel with two threads and the reference on the same inputs, and compares o (relative
 * Frobenius error over the whole tensor) and lse (element by element).
 *
 * The selectors:
 *   moba      blocks(16 or 32) top 3 or 2 by a causal dot(q[i], mean(k[block])), keep own,
 *             mask j <= i (examples/moba.attn)
 *   moba_strict the same with mask j < i: the own block of a row at a block's start is fully
 *             masked, so it is not kept and all top slots go to other blocks; row 0 sees no key
 *   nsa       blocks(16) top 4, the first block and the two local ones forced (+inf), future
 *             blocks -inf, keep own shared, mask j <= i (examples/nsa.attn); GQA groups of 2 and 4
 *   blocks    blocks(16) top 3 by dot(q[i], mean(k[block])): no keep own, no mask
 *   blocks_sh the same, shared, blocks(32) top 2
 *   dsa       tokens top 24 by a side-tensor indexer sum(r < 4: w * relu(dot(qi, ki))), -inf for
 *             future keys, mask j <= i (examples/dsa.attn); Dk != Dv
 *   tok_win   tokens top 16 by -abs(float(i - j)) + 0.01 * float(j % 7), mask j < i && i - j <= 40
 *             (row 0 sees no key: o 0, lse -inf)
 *   tok_ties  tokens top 16 by -abs(float(i - j)) + 2.0 * float(j % 7): exact ties, which go to
 *             the lower key
 *   tok_dot   tokens top 16 by dot(q[i], k[j]), mask j <= i
 *   tok_nan   tokens top 16 by dot(q[i], k[j]) + nz[b, j], nz NaN at some keys and -inf at others:
 *             NaN ranks last, level with -inf, ties to the lower key
 *   blk_nan   blocks(16) top 3 by bz[b, block] + dot(q[i], mean(k[block])) keep own, bz NaN and
 *             -inf at some blocks
 * Shapes: Lq = Lk = 77 (odd, not a multiple of 16 or 32; the causal prefix's first rows see
 * fewer blocks or tokens than top), Lq 5 < Lk 130 (decode-like: the queries are the last Lq
 * positions), Lq 1; B 2, Hq 4, Hkv 2 (and 2/2, 4/1); head dims 64, 96, 128 and 48/32, 128/64,
 * 96/64 (Dk != Dv); q, k, v, o in f32, bf16, f16; some cases with q, k, v, o laid out
 * [B, L, H, D] through strides.
 *
 * Inputs that feed a score (q, k and the indexer's qi, ki, w, the score offsets nz, bz) are
 * multiples of 1/16 in [-1, 1] (w in [0, 1]): exact in bf16 and f16, and their dot products and
 * the means of 16 or 32 keys are exact in f32 too, so a kernel's f32 scores equal the f64
 * reference's and the selection cannot turn on rounding (only the mean of a 13-key last block
 * rounds). Ties are then exact and must go to the lower index. v is uniform in [-1, 1).
 *
 * Tolerances: o, relative Frobenius error over the whole tensor: f32 1e-5, bf16 4e-3, f16 1e-3
 * (tests/runtime/test_recur.c says why: the kernel's f32 arithmetic and the output's rounding);
 * o must be finite. lse (f32): a finite reference value within 1e-4 + 1e-5 |ref|; a non-finite
 * one (-inf: a row with no visible key) matched exactly. The outputs are prefilled with 0x7f
 * bytes, so an element the kernel leaves unwritten shows.
 *
 * Index sets: when the compiler accepts `out sel: i32[B, Hq, Lq, TOP]; sel = select;` (probed
 * once, on the reference target), every spec also writes the selected indices (block or key,
 * ascending, -1 padded) and the kernel's tensor must equal the reference's element for element;
 * the reference's own sets are checked for that form. Otherwise the run says so and checks o and
 * lse only.
 *
 * Targets:
 *   x86-64-v3, native (CPU): the check above; a refused compile is a failure.
 *   reference: the same matrix on the f64 evaluator (a launch runs it): this proves the harness.
 *     On top of the tolerances, the launch's outputs must equal a second reference run's (in
 *     the launch's dtypes) byte for byte.
 *   sm_80, sm_90a (any "sm_" name): attn_compile only, no launch: it must succeed or fail with
 *     ATTN_ERR_UNSUPPORTED and a message that names the selector ("selector"). f32 cases
 *     compile in bf16.
 *
 * usage: test_select [TARGET]   (default native); TEST_SELECT_VERBOSE=1 prints each case. */
#include "attn.h"
#include "test_util.h"
#include "test_tensor.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum Kind { MOBA, MOBA_STRICT, NSA, BLOCKS, BLOCKS_SH, DSA, TOK_WIN, TOK_TIES, TOK_DOT, TOK_NAN, BLK_NAN } Kind;

static const char *const kind_names[] = {"moba", "moba_strict", "nsa", "blocks", "blocks_sh", "dsa",
                                         "tok_win", "tok_ties", "tok_dot", "tok_nan", "blk_nan"};

typedef struct Case {
    Kind kind;
    int bs, top;            /* block size (blocks only), top */
    int dk, dv;
    int64_t hq, hkv, lq, lk;
    const char *dtype;      /* q, k, v, o */
    bool bthd;              /* q, k, v, o stored [B, L, H, D] */
} Case;

enum { NB = 2 };   /* the batch */

static bool is_blocks(Kind k) { return k == MOBA || k == MOBA_STRICT || k == NSA || k == BLOCKS || k == BLOCKS_SH || k == BLK_NAN; }

/* The case's spec: q, k, v, o, lse, the side tensors its score reads and, with `sel`, the
 * selected indices. */
static char *spec(const Case *c, bool sel)
{
    static char buf[4096];
    char side[512] = "", body[1024];
    int bs = c->bs, top = c->top;
    switch (c->kind) {
    case MOBA:
    case MOBA_STRICT:   /* j < i: a row at a block's start sees none of its own block */
        snprintf(body, sizeof body,
                 "  select blocks(%d) top %d by block * %d %s i ? dot(q[i], mean(k[block])) : -inf keep own;\n"
                 "  mask = j %s i;\n", bs, top, bs, c->kind == MOBA ? "<=" : "<", c->kind == MOBA ? "<=" : "<");
        break;
    case NSA:
        snprintf(body, sizeof body,
                 "  let future = block * %d > i;\n"
                 "  let forced = block == 0 || i / %d - block <= 1;\n"
                 "  select blocks(%d) top %d by future ? -inf : (forced ? inf : dot(q[i], mean(k[block])))\n"
                 "         keep own shared;\n"
                 "  mask = j <= i;\n", bs, bs, bs, top);
        break;
    case BLOCKS:
    case BLOCKS_SH:
        snprintf(body, sizeof body, "  select blocks(%d) top %d by dot(q[i], mean(k[block]))%s;\n", bs, top,
                 c->kind == BLOCKS_SH ? " shared" : "");
        break;
    case DSA:
        snprintf(side, sizeof side,
                 "  in  qi: f32[B, Lq, 4, 32];\n"
                 "  in  w: f32[B, Lq, 4];\n"
                 "  in  ki: f32[B, Lk, 32];\n");
        snprintf(body, sizeof body,
                 "  let row = i - max(Lk - Lq, 0);\n"
                 "  let I = j <= i ? sum(r < 4: w[b, row, r] * relu(dot(qi[b, row, r], ki[b, j]))) : -inf;\n"
                 "  select tokens top %d by I;\n"
                 "  mask = j <= i;\n", top);
        break;
    case TOK_WIN:
    case TOK_TIES:
        snprintf(body, sizeof body,
                 "  select tokens top %d by -abs(float(i - j)) + %s * float(j %% 7);\n"
                 "  mask = j < i && i - j <= 40;\n", top, c->kind == TOK_WIN ? "0.01" : "2.0");
        break;
    case TOK_DOT:
        snprintf(body, sizeof body, "  select tokens top %d by dot(q[i], k[j]);\n  mask = j <= i;\n", top);
        break;
    case TOK_NAN:
        snprintf(side, sizeof side, "  in  nz: f32[B, Lk];\n");
        snprintf(body, sizeof body, "  select tokens top %d by dot(q[i], k[j]) + nz[b, j];\n  mask = j <= i;\n", top);
        break;
    case BLK_NAN:
        snprintf(side, sizeof side, "  in  bz: f32[B, Nb];\n");
        snprintf(body, sizeof body,
                 "  select blocks(%d) top %d by bz[b, block] + dot(q[i], mean(k[block])) keep own;\n"
                 "  mask = j <= i;\n", bs, top);
        break;
    }
    char selout[128] = "", selstmt[32] = "";
    if (sel) {
        snprintf(selout, sizeof selout, "  out sel: i32[B, Hq, Lq, %d];\n", top);
        snprintf(selstmt, sizeof selstmt, "  sel = select;\n");
    }
    snprintf(buf, sizeof buf,
             "attention sel_%s {\n"
             "  in  q: f32[B, Hq, Lq, %d];\n"
             "  in  k: f32[B, Hkv, Lk, %d];\n"
             "  in  v: f32[B, Hkv, Lk, %d];\n"
             "%s"
             "  out o: f32[B, Hq, Lq, %d];\n"
             "  out lse: f32[B, Hq, Lq];\n"
             "%s"
             "%s"
             "%s"
             "}\n",
             kind_names[c->kind], c->dk, c->dk, c->dv, side, c->dv, selout, body, selstmt);
    return buf;
}

/* ---- helpers (as tests/runtime/test_recur.c's) ---------------------------------------------- */

/* a multiple of 1/16 in [-1, 1] */
static double grid(void) { return (double)((int)(urand() * 33) - 16) / 16; }

static int64_t numel(const AttnTensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

/* The memory offset of the x-th element in row-major order of the shape (any strides). */
static int64_t offset(const AttnTensor *t, int64_t x)
{
    int64_t e = 0;
    for (int d = t->rank - 1; d >= 0; d--) e += (x % t->shape[d]) * t->strides[d], x /= t->shape[d];
    return e;
}

/* Relative Frobenius error of a kernel's output against the reference's (any layout); the row
 * (all but the last dim) with the largest error, for the message. */
static double rel_error(const AttnTensor *got, const AttnTensor *ref, bool *finite, int64_t *worst_row)
{
    double e2 = 0, r2 = 0, row_e2 = 0, worst = -1;
    int64_t n = numel(got), last = got->shape[got->rank - 1];
    for (int64_t x = 0; x < n; x++) {
        int64_t e = offset(got, x);
        double g = get(got, e), r = get(ref, e);
        *finite = *finite && isfinite(g) && isfinite(r);
        e2 += (g - r) * (g - r);
        r2 += r * r;
        row_e2 += isfinite(g - r) ? (g - r) * (g - r) : INFINITY;
        if ((x + 1) % last == 0) {
            if (row_e2 > worst) worst = row_e2, *worst_row = x / last;
            row_e2 = 0;
        }
    }
    return sqrt(e2 / (r2 > 0 ? r2 : 1));
}

/* (b, h, row) of flat row x of a [B, H, L, ...] tensor, for messages */
static void bhr(const AttnTensor *t, int64_t x, int64_t *b, int64_t *h, int64_t *r)
{
    *r = x % t->shape[2], x /= t->shape[2];
    *h = x % t->shape[1], *b = x / t->shape[1];
}

/* lse element by element: a finite reference value within 1e-4 + 1e-5 |ref|, a non-finite
 * one (-inf for a row with no visible key) exactly. Returns the number of bad elements; the
 * first one's message goes to `msg`. */
static int64_t lse_errors(const AttnTensor *got, const AttnTensor *ref, char *msg, size_t msize)
{
    int64_t bad = 0, n = numel(got);
    for (int64_t x = 0; x < n; x++) {
        int64_t e = offset(got, x);
        double g = get(got, e), r = get(ref, e);
        bool ok = isfinite(r) ? isfinite(g) && fabs(g - r) <= 1e-4 + 1e-5 * fabs(r)
                              : (isnan(r) ? isnan(g) : g == r);
        if (!ok && bad++ == 0) {
            int64_t b, h, row;
            bhr(got, x, &b, &h, &row);
            snprintf(msg, msize, "lse[%lld, %lld, %lld] = %.9g, reference %.9g", (long long)b, (long long)h,
                     (long long)row, g, r);
        }
    }
    return bad;
}

/* ---- the index sets --------------------------------------------------------------------------
 * Used when the compiler has `sel = select;` (sel_supported()). */

/* The reference's own sets have the documented form: each row's valid indices ascending and in
 * [0, ncand), then -1 to the end; at most top of them. Returns the number of bad rows. */
static int64_t sel_form_errors(const AttnTensor *ref, int64_t ncand, char *msg, size_t msize)
{
    int64_t top = ref->shape[3], rows = numel(ref) / top, bad = 0;
    for (int64_t x = 0; x < rows; x++) {
        bool ok = true, pad = false;
        int64_t prev = -1;
        for (int64_t s = 0; s < top; s++) {
            int64_t id = (int64_t)get(ref, offset(ref, x * top + s));
            if (id == -1) pad = true;
            else ok = ok && !pad && id > prev && id < ncand, prev = id;
        }
        if (!ok && bad++ == 0) {
            int64_t b, h, row;
            bhr(ref, x, &b, &h, &row);
            snprintf(msg, msize, "the reference's sel[%lld, %lld, %lld] is not ascending and -1 padded",
                     (long long)b, (long long)h, (long long)row);
        }
    }
    return bad;
}

/* The kernel's index tensor against the reference's, every element. Returns the number of
 * rows that differ; the first one, both sets in full, goes to `msg`. */
static int64_t sel_errors(const AttnTensor *got, const AttnTensor *ref, char *msg, size_t msize)
{
    int64_t top = got->shape[3], rows = numel(got) / top, bad = 0;
    for (int64_t x = 0; x < rows; x++) {
        bool same = true;
        for (int64_t s = 0; s < top; s++)
            same = same && get(got, offset(got, x * top + s)) == get(ref, offset(ref, x * top + s));
        if (same || bad++ > 0) continue;
        int64_t b, h, row;
        bhr(got, x, &b, &h, &row);
        int len = snprintf(msg, msize, "sel[%lld, %lld, %lld]: kernel", (long long)b, (long long)h, (long long)row);
        for (int64_t s = 0; s < top && len < (int)msize; s++)
            len += snprintf(msg + len, msize - (size_t)len, " %d", (int)get(got, offset(got, x * top + s)));
        if (len < (int)msize) len += snprintf(msg + len, msize - (size_t)len, ", reference");
        for (int64_t s = 0; s < top && len < (int)msize; s++)
            len += snprintf(msg + len, msize - (size_t)len, " %d", (int)get(ref, offset(ref, x * top + s)));
    }
    return bad;
}

/* Whether the compiler takes the selected indices as an output: a small spec with `out sel`
 * and `sel = select;` compiled for the reference target. */
static bool sel_supported(void)
{
    Case c = {.kind = TOK_DOT, .top = 2, .dk = 32, .dv = 32};
    AttnCompileOptions opts = {.target = "reference", .no_cache = 1};
    AttnKernel *k = NULL;
    AttnStatus st = attn_compile(spec(&c, true), "sel_probe", &opts, &k);
    attn_kernel_free(k);
    return st == ATTN_OK;
}

/* ---- one case ------------------------------------------------------------------------------- */

static int runs;
static bool with_sel;

static bool is_gpu(const char *target) { return !strncmp(target, "sm_", 3); }

static int64_t dim_value(const Case *c, const char *sym)
{
    if (!strcmp(sym, "B")) return NB;
    if (!strcmp(sym, "Hq")) return c->hq;
    if (!strcmp(sym, "Hkv")) return c->hkv;
    if (!strcmp(sym, "Lq")) return c->lq;
    if (!strcmp(sym, "Lk")) return c->lk;
    if (!strcmp(sym, "Nb")) return (c->lk + c->bs - 1) / c->bs;
    return -1;
}

/* the value of input `tn` at element x (row-major over its shape) */
static double input_value(const char *tn, const AttnTensor *t, int64_t x)
{
    if (!strcmp(tn, "v")) return 2 * urand() - 1;
    if (!strcmp(tn, "w")) return (double)(int)(urand() * 17) / 16;
    if (!strcmp(tn, "nz")) {   /* [B, Lk]: NaN at some keys, -inf at others */
        int64_t j = x % t->shape[1], b = x / t->shape[1];
        double g = grid();
        return (j + b) % 5 == 2 ? NAN : j % 11 == 3 ? -INFINITY : g;
    }
    if (!strcmp(tn, "bz")) {   /* [B, Nb]: NaN and -inf at some blocks */
        int64_t blk = x % t->shape[1], b = x / t->shape[1];
        double g = grid();
        return (blk + b) % 3 == 1 ? NAN : blk == 4 ? -INFINITY : g;
    }
    return grid();   /* q, k, qi, ki */
}

static void describe(const Case *c, char *buf, size_t size)
{
    char sel[32] = "";
    if (is_blocks(c->kind)) snprintf(sel, sizeof sel, " bs %d", c->bs);
    snprintf(buf, size, "%s%s top %d %s Dk %d Dv %d Hq %lld Hkv %lld Lq %lld Lk %lld%s", kind_names[c->kind], sel,
             c->top, c->dtype, c->dk, c->dv, (long long)c->hq, (long long)c->hkv, (long long)c->lq,
             (long long)c->lk, c->bthd ? " BLHD" : "");
}

static void run_case(const char *target, Case c)
{
    char what[160];
    if (is_gpu(target) && !strcmp(c.dtype, "f32")) c.dtype = "bf16";   /* GPU: bf16 or f16 */
    describe(&c, what, sizeof what);
    bool reference = !strcmp(target, "reference");
    AttnCompileOptions opts = {.target = target, .no_cache = 1, .dtype = c.dtype};
    AttnKernel *k = NULL;
    AttnStatus st = attn_compile(spec(&c, with_sel), kind_names[c.kind], &opts, &k);
    if (is_gpu(target)) {   /* compile only: a kernel, or the selector refused by name */
        bool ok = st == ATTN_OK || (st == ATTN_ERR_UNSUPPORTED && strstr(attn_last_error(), "selector"));
        CHECK_MSG(ok, "%s on %s: %s: %s", what, target, attn_status_name(st), attn_last_error());
        if (getenv("TEST_SELECT_VERBOSE"))
            printf("%-62s %s\n", what, st == ATTN_OK ? "compiled" : "refused (selector)");
        runs++;
        attn_kernel_free(k);
        return;
    }
    CHECK_MSG(st == ATTN_OK, "%s on %s: %s: %s", what, target, attn_status_name(st), attn_last_error());
    if (st != ATTN_OK) return;

    int n = attn_kernel_num_tensors(k);
    AttnTensor t[16], ref[16], same[16];   /* the launch's, the f64 reference's, the reference's in t's dtypes */
    for (int i = 0; i < n; i++) {
        const char *tn = attn_kernel_tensor_name(k, i);
        int rank = attn_kernel_tensor_rank(k, i);
        t[i] = (AttnTensor){.dtype = attn_kernel_tensor_dtype(k, i), .rank = rank};
        for (int d = 0; d < rank; d++) {
            const char *sym = NULL;
            int32_t fixed = attn_kernel_tensor_dim(k, i, d, &sym);
            t[i].shape[d] = sym ? dim_value(&c, sym) : fixed;
        }
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) t[i].strides[d] = s, s *= t[i].shape[d];
        bool head = !strcmp(tn, "q") || !strcmp(tn, "k") || !strcmp(tn, "v") || !strcmp(tn, "o");
        if (head && c.bthd) {   /* [B, L, H, D] in memory */
            t[i].strides[3] = 1;
            t[i].strides[1] = t[i].shape[3];
            t[i].strides[2] = t[i].shape[1] * t[i].shape[3];
            t[i].strides[0] = t[i].shape[2] * t[i].shape[1] * t[i].shape[3];
        }
        bool out = attn_kernel_tensor_kind(k, i) == ATTN_ARG_OUT;
        t[i].data = malloc((size_t)s * dsize(t[i].dtype) + 8);
        if (out) memset(t[i].data, 0x7f, (size_t)s * dsize(t[i].dtype));   /* unwritten shows */
        else
            for (int64_t x = 0; x < s; x++) put(&t[i], offset(&t[i], x), input_value(tn, &t[i], x));
        ref[i] = same[i] = t[i];
        if (out) {
            if (t[i].dtype != ATTN_I32) ref[i].dtype = ATTN_F64;
            ref[i].data = malloc((size_t)s * dsize(ref[i].dtype) + 8);
            memset(ref[i].data, 0x7f, (size_t)s * dsize(ref[i].dtype));
            if (reference) {
                same[i].data = malloc((size_t)s * dsize(same[i].dtype) + 8);
                memset(same[i].data, 0x7f, (size_t)s * dsize(same[i].dtype));
            }
        }
    }

    AttnLaunchOptions lo = {.num_threads = 2};
    st = attn_launch(k, t, n, NULL, 0, &lo);
    CHECK_MSG(st == ATTN_OK, "%s launch: %s", what, attn_last_error());
    AttnStatus rs = attn_reference(k, ref, n, NULL, 0);
    CHECK_MSG(rs == ATTN_OK, "%s reference: %s", what, attn_last_error());
    if (st != ATTN_OK || rs != ATTN_OK) goto done;

    int o = attn_kernel_tensor_index(k, "o"), lse = attn_kernel_tensor_index(k, "lse");
    int sel = attn_kernel_tensor_index(k, "sel");
    bool finite = true;
    int64_t worst = 0, b, h, row;
    double rel = rel_error(&t[o], &ref[o], &finite, &worst);
    AttnDtype odt = t[o].dtype;
    double tol = odt == ATTN_BF16 ? 4e-3 : odt == ATTN_F16 ? 1e-3 : 1e-5;
    bhr(&t[o], worst, &b, &h, &row);
    CHECK_MSG(finite && rel <= tol, "%s on %s: o rel %.2e (tol %.0e)%s; the worst row: [%lld, %lld, %lld]", what,
              target, rel, tol, finite ? "" : ", not finite", (long long)b, (long long)h, (long long)row);
    char msg[512] = "";
    int64_t bad_lse = lse_errors(&t[lse], &ref[lse], msg, sizeof msg);
    CHECK_MSG(bad_lse == 0, "%s on %s: %lld lse element(s) off, the first: %s", what, target, (long long)bad_lse, msg);
    int64_t bad_sel = 0;
    if (sel >= 0) {
        int64_t ncand = is_blocks(c.kind) ? (c.lk + c.bs - 1) / c.bs : c.lk;
        int64_t bad_form = sel_form_errors(&ref[sel], ncand, msg, sizeof msg);
        CHECK_MSG(bad_form == 0, "%s: %lld row(s), the first: %s", what, (long long)bad_form, msg);
        bad_sel = sel_errors(&t[sel], &ref[sel], msg, sizeof msg);
        CHECK_MSG(bad_sel == 0, "%s on %s: %lld row(s) select other indices, the first: %s", what, target,
                  (long long)bad_sel, msg);
    }
    bool exact = true;
    if (reference) {   /* the launch ran the same evaluator: its outputs are the reference's, bit for bit */
        rs = attn_reference(k, same, n, NULL, 0);
        CHECK_MSG(rs == ATTN_OK, "%s reference (launch dtypes): %s", what, attn_last_error());
        for (int i = 0; i < n && rs == ATTN_OK; i++) {
            if (attn_kernel_tensor_kind(k, i) != ATTN_ARG_OUT) continue;
            int64_t elems = numel(&t[i]);
            for (int64_t x = 0; x < elems; x++) {
                int64_t e = offset(&t[i], x);
                exact = exact && !memcmp((char *)t[i].data + e * (int64_t)dsize(t[i].dtype),
                                         (char *)same[i].data + e * (int64_t)dsize(t[i].dtype), dsize(t[i].dtype));
            }
        }
        CHECK_MSG(exact, "%s on reference: the launch's outputs differ from the reference's", what);
    }
    if (getenv("TEST_SELECT_VERBOSE"))
        printf("%-62s o rel %.2e  lse bad %lld%s%s\n", what, rel, (long long)bad_lse,
               sel >= 0 ? (bad_sel ? "  sel differs" : "  sel equal") : "", reference ? (exact ? "  exact" : "  NOT exact") : "");
    runs++;
done:
    for (int i = 0; i < n; i++) {
        free(t[i].data);
        if (ref[i].data != t[i].data) free(ref[i].data);
        if (same[i].data != t[i].data) free(same[i].data);
    }
    attn_kernel_free(k);
}

int main(int argc, char **argv)
{
    const char *target = argc > 1 ? argv[1] : "native";
    with_sel = sel_supported();
    printf("test_select on %s: index sets %s\n", target,
           with_sel ? "compared (sel = select;)"
                    : "NOT compared: the compiler does not take `out sel` / `sel = select;` yet");
    CHECK_MSG(with_sel, "`out sel` with `sel = select;` refused: %s", attn_last_error());
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* kind, bs, top, dk, dv, Hq, Hkv, Lq, Lk, dtype, BLHD */
    static const Case cases[] = {
        {MOBA, 16, 3, 64, 64, 4, 2, 77, 77, "f32", false},
        {MOBA, 16, 3, 128, 128, 4, 2, 5, 130, "bf16", false},
        {MOBA, 16, 3, 96, 96, 4, 2, 1, 130, "f16", false},
        {MOBA, 32, 2, 96, 96, 4, 2, 77, 77, "f32", true},
        {MOBA, 32, 2, 64, 64, 2, 2, 5, 130, "bf16", false},
        {MOBA, 32, 2, 128, 128, 4, 2, 1, 77, "f32", false},
        {MOBA, 16, 3, 64, 64, 4, 2, 77, 77, "f16", false},
        {MOBA_STRICT, 16, 3, 64, 64, 4, 2, 77, 77, "f32", false},
        {MOBA_STRICT, 16, 2, 96, 96, 4, 2, 5, 130, "bf16", false},
        {NSA, 16, 4, 64, 64, 4, 2, 77, 77, "f32", false},
        {NSA, 16, 4, 128, 128, 4, 2, 5, 130, "bf16", false},
        {NSA, 16, 4, 96, 96, 4, 2, 77, 77, "f16", true},
        {NSA, 16, 4, 64, 64, 4, 2, 1, 130, "f32", false},
        {NSA, 16, 4, 64, 64, 4, 1, 77, 77, "bf16", false},   /* one group of 4 heads */
        {BLOCKS, 16, 3, 64, 64, 4, 2, 77, 77, "f32", false},
        {BLOCKS, 16, 3, 96, 96, 4, 2, 5, 130, "bf16", false},
        {BLOCKS, 16, 3, 128, 128, 4, 2, 1, 77, "f16", false},
        {BLOCKS_SH, 32, 2, 128, 128, 4, 2, 77, 77, "f32", false},
        {BLOCKS_SH, 32, 2, 64, 64, 4, 2, 1, 77, "f16", false},
        {DSA, 0, 24, 48, 32, 4, 2, 77, 77, "f32", false},
        {DSA, 0, 24, 48, 32, 4, 2, 5, 130, "bf16", false},
        {DSA, 0, 24, 128, 64, 4, 2, 77, 77, "f16", true},
        {DSA, 0, 24, 96, 64, 4, 2, 1, 130, "f32", false},
        {TOK_WIN, 0, 16, 64, 64, 4, 2, 77, 77, "f32", false},
        {TOK_WIN, 0, 16, 64, 64, 4, 2, 5, 130, "bf16", false},
        {TOK_WIN, 0, 16, 96, 96, 4, 2, 1, 130, "f16", false},
        {TOK_TIES, 0, 16, 64, 64, 4, 2, 77, 77, "f32", false},
        {TOK_TIES, 0, 16, 128, 128, 4, 2, 5, 130, "bf16", false},
        {TOK_DOT, 0, 16, 96, 96, 4, 2, 77, 77, "f32", false},
        {TOK_DOT, 0, 16, 128, 128, 4, 2, 5, 130, "bf16", false},
        {TOK_DOT, 0, 16, 64, 64, 4, 2, 1, 77, "f32", false},
        {TOK_DOT, 0, 16, 64, 64, 2, 2, 77, 77, "f16", false},
        {TOK_NAN, 0, 16, 64, 64, 4, 2, 77, 77, "f32", false},
        {TOK_NAN, 0, 16, 64, 64, 4, 2, 5, 130, "bf16", false},
        {BLK_NAN, 16, 3, 64, 64, 4, 2, 77, 77, "f32", false},
        {BLK_NAN, 16, 3, 96, 96, 4, 2, 5, 130, "f16", false},
    };
    for (size_t x = 0; x < sizeof cases / sizeof cases[0]; x++) run_case(target, cases[x]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%d selector runs on %s in %.1f s, %d failure(s)\n", runs, target, secs, test_failures);
    return test_failures > 255 ? 255 : test_failures;
}
