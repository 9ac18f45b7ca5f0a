/* sel_in_test: a given selection (`select ... from idx;`, docs/language.md section 9, "Given
 * indices") through attn_reference and attn_launch on the reference target, against o computed
 * here: a dense softmax over the keys that are visible (causal mask) and in a given block (or
 * are a given key). The lists hold -1, repeats, ids past the last block or key and negative
 * ones; some rows give nothing visible (o = 0). The `sel = select;` output must hold each row's
 * in-range ids once, ascending, -1 padded. Also what launch validation says of the given
 * indices: i32 of the declared shape passes, another shape or dtype is refused naming them. */
#include "../runtime/test_util.h"
#include "sel_test.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { NBLK = LK / BS, TOP = 4 };

/* q, k, v, o: sel_test.h */
static int32_t idx[B][HQ][LK][TOP], sel[B][HQ][LK][TOP];

/* q, k, v, idx, o, sel (the specs' order) over the first lq query rows (strides of all LK). */
static void make_tensors(AttnTensor *t, int64_t lq)
{
    t[0] = tensor(q, ATTN_F32, B, HQ, LK, D);
    t[1] = tensor(k, ATTN_F32, B, HKV, LK, D);
    t[2] = tensor(v, ATTN_F32, B, HKV, LK, D);
    t[3] = tensor(idx, ATTN_I32, B, HQ, LK, TOP);
    t[4] = tensor(o, ATTN_F32, B, HQ, LK, D);
    t[5] = tensor(sel, ATTN_I32, B, HQ, LK, TOP);
    t[0].shape[2] = t[3].shape[2] = t[4].shape[2] = t[5].shape[2] = lq;
}

/* Every row's list: mostly random ids in [-2, ncand + 2) (so -1, repeats, out-of-range ids on
 * both sides), and fixed rows with each case at once. */
static void make_lists(int ncand)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HQ; h++)
            for (int r = 0; r < LK; r++)
                for (int s = 0; s < TOP; s++) idx[b][h][r][s] = (int32_t)(rand64() % (uint64_t)(ncand + 4)) - 2;
    static const int32_t fixed[][TOP] = {
        {1, -1, 1, 0},          /* a repeat and a -1: {0, 1} */
        {-1, -1, -1, -1},       /* nothing: o = 0 */
        {99, 0, -7, 2},         /* out of range both sides: {0, 2} */
        {3, 2, 1, 0},           /* unsorted */
    };
    for (int f = 0; f < 4; f++) memcpy(idx[f % B][f][f + 1], fixed[f], sizeof fixed[f]);
    memcpy(idx[1][3][0], fixed[3], sizeof fixed[3]);
}

/* The expected o row and indices of (b, h, row r) at position i; c / bs is a candidate. */
static void expect_row(int b, int h, int r, int i, int bs, int ncand, double *want_o, int32_t *want_sel)
{
    bool given[LK] = {false};
    for (int s = 0; s < TOP; s++)
        if (idx[b][h][r][s] >= 0 && idx[b][h][r][s] < ncand) given[idx[b][h][r][s]] = true;
    int slot = 0;
    for (int c = 0; c < ncand; c++)
        if (given[c]) want_sel[slot++] = c;
    while (slot < TOP) want_sel[slot++] = -1;
    const float *qr = q[b][h][r];
    int kh = h / (HQ / HKV);
    double s[LK], m = -INFINITY, sum = 0;
    for (int j = 0; j < LK; j++) {
        s[j] = -INFINITY;
        if (j > i || !given[j / bs]) continue;   /* the causal mask, then the given set */
        double dot = 0;
        for (int x = 0; x < D; x++) dot += (double)qr[x] * k[b][kh][j][x];
        s[j] = dot / sqrt((double)D);
        m = fmax(m, s[j]);
    }
    for (int x = 0; x < D; x++) want_o[x] = 0;
    if (m == -INFINITY) return;
    for (int j = 0; j < LK; j++) {
        if (s[j] == -INFINITY) continue;
        double p = exp(s[j] - m);
        sum += p;
        for (int x = 0; x < D; x++) want_o[x] += p * v[b][kh][j][x];
    }
    for (int x = 0; x < D; x++) want_o[x] /= sum;
}

static void check_spec(const char *what, const char *spec, int bs, int64_t lq, bool launch)
{
    int ncand = LK / bs;
    AttnKernel *kern = compile(spec, "sel_in_test");
    AttnTensor t[6];
    make_lists(ncand);
    memset(sel, 0x55, sizeof sel);
    memset(o, 0, sizeof o);
    make_tensors(t, lq);
    AttnStatus st = launch ? attn_launch(kern, t, 6, NULL, 0, NULL) : attn_reference(kern, t, 6, NULL, 0);
    CHECK_MSG(st == ATTN_OK, "%s: %s", what, attn_last_error());
    int empty = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HQ; h++)
            for (int r = 0; r < lq; r++) {
                double want_o[D];
                int32_t want_sel[TOP];
                const float *got_o = o[b][h][r];
                const int32_t *got_sel = sel[b][h][r];
                expect_row(b, h, r, r + (int)(LK - lq), bs, ncand, want_o, want_sel);
                bool zero = true;
                for (int x = 0; x < D; x++) {
                    zero = zero && want_o[x] == 0;
                    CHECK_MSG(fabs(got_o[x] - want_o[x]) <= 1e-5, "%s: b %d h %d row %d o[%d]: got %g, want %g",
                              what, b, h, r, x, got_o[x], want_o[x]);
                }
                empty += zero;
                for (int s = 0; s < TOP; s++)
                    CHECK_MSG(got_sel[s] == want_sel[s], "%s: b %d h %d row %d sel[%d]: got %d, want %d", what, b,
                              h, r, s, got_sel[s], want_sel[s]);
            }
    CHECK_MSG(empty > 0, "%s: no row without a visible given key", what);
    attn_kernel_free(kern);
}

#define HEAD                                                                                  \
    "attention t {\n"                                                                         \
    "  in q: f32[B, Hq, Lq, 16]; in k: f32[B, Hkv, Lk, 16]; in v: f32[B, Hkv, Lk, 16];\n"     \
    "  in idx: i32[B, Hq, Lq, 4];\n"                                                          \
    "  out o: f32[B, Hq, Lq, 16];\n"                                                          \
    "  out sel: i32[B, Hq, Lq, 4];\n"                                                         \
    "  mask = j <= i;\n"                                                                      \
    "  sel = select;\n"

static const char *const blocks = HEAD "  select blocks(2) top 4 from idx;\n}\n";
static const char *const tokens = HEAD "  select tokens top 4 from idx;\n}\n";

/* Launch validation of the given indices. */
static void check_validation(void)
{
    AttnKernel *kern = compile(blocks, "sel_in_test");
    AttnTensor t[6];
    make_lists(NBLK);
    make_tensors(t, LK);
    CHECK_MSG(attn_launch(kern, t, 6, NULL, 0, NULL) == ATTN_OK, "i32 indices: %s", attn_last_error());
    struct { AttnDtype dt; int top; int rank; bool ref; const char *msg; } bad[] = {
        {ATTN_I32, 3, 4, true, "tensor 'idx': dim 3 is 3 but the spec fixes it to 4"},
        {ATTN_I32, 3, 4, false, "tensor 'idx': dim 3 is 3 but the spec fixes it to 4"},
        {ATTN_I32, 4, 3, false, "tensor 'idx': rank is 3 but the spec declares 4 dims"},
        {ATTN_F32, 4, 4, false, "tensor 'idx': dtype is f32 but the spec declares i32"},
        {ATTN_F64, 4, 4, true, "tensor 'idx': dtype is f64 but the spec declares i32"},
    };
    for (size_t x = 0; x < sizeof bad / sizeof bad[0]; x++) {
        make_tensors(t, LK);
        t[3].dtype = bad[x].dt;
        t[3].rank = bad[x].rank;
        t[3].shape[3] = bad[x].top;
        memset(sel, 0x55, sizeof sel);
        AttnStatus st = bad[x].ref ? attn_reference(kern, t, 6, NULL, 0) : attn_launch(kern, t, 6, NULL, 0, NULL);
        CHECK_MSG(st == ATTN_ERR_ARG && strstr(attn_last_error(), bad[x].msg), "case %zu: %s: \"%s\"", x,
                  attn_status_name(st), attn_last_error());
        CHECK_MSG(sel[0][0][0][0] == 0x55555555, "case %zu: a refused launch wrote the indices", x);
    }
    attn_kernel_free(kern);
}

int main(void)
{
    const struct { const char *name, *spec; int bs; } cases[] = {{"blocks", blocks, BS}, {"tokens", tokens, 1}};
    fill_qkv();
    /* Lq = Lk, then the queries at the end of the keys; each case once as a launch */
    for (int64_t lq = LK; lq >= 5; lq -= 3)
        for (int c = 0; c < 2; c++) {
            char what[64];
            snprintf(what, sizeof what, "%s, Lq %lld", cases[c].name, (long long)lq);
            check_spec(what, cases[c].spec, cases[c].bs, lq, (lq == LK) == (c == 0));
        }
    check_validation();
    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    return test_failures ? 1 : 0;
}
