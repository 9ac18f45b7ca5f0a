/* sel_out_test: a selector's kept indices (`sel = select;`, docs/language.md section 9) from
 * attn_reference and attn_launch on the reference target, against a selection recomputed
 * here from the same inputs: a block selector with `keep own` and `shared` over a GQA group,
 * one without either, and a token selector, each with Lq = Lk and with Lq < Lk (queries at
 * the end of the keys). Rows with fewer candidates than top end in -1. Also what launch
 * validation says of the indices' tensor: i32 of the declared shape passes (and f64 for the
 * reference), another shape or dtype is refused naming the tensor. */
#include "../runtime/test_util.h"
#include "sel_test.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { TOP = 2, TTOP = 3, MAXTOP = 3 };

/* q, k, v, o (sel_test.h), sel: the blocks specs' tensors, contiguous. */
static int32_t sel[B][HQ][LK][MAXTOP];

/* The five tensors of a run with the first lq query rows of the arrays (strides of all LK)
 * and a `top`-wide sel of dtype sdt. */
static void make_tensors(AttnTensor *t, int64_t lq, int top, AttnDtype sdt, void *seldata)
{
    t[0] = tensor(q, ATTN_F32, B, HQ, LK, D);
    t[1] = tensor(k, ATTN_F32, B, HKV, LK, D);
    t[2] = tensor(v, ATTN_F32, B, HKV, LK, D);
    t[3] = tensor(o, ATTN_F32, B, HQ, LK, D);
    t[4] = tensor(seldata, sdt, B, HQ, LK, top);
    t[0].shape[2] = t[3].shape[2] = t[4].shape[2] = lq;
}

static double dotv(const float *a, const float *b)
{
    double s = 0;
    for (int x = 0; x < D; x++) s += (double)a[x] * b[x];
    return s;
}

/* dot(q[i], mean(k[block c])) of head h (row r of q). */
static double block_score(int b, int h, int r, int c)
{
    const float *kb = k[b][h / (HQ / HKV)][0];
    double s = 0;
    for (int j = c * BS; j < (c + 1) * BS && j < LK; j++) s += dotv(q[b][h][r], kb + j * D) / BS;
    return s;
}

/* The expected indices of (b, h, row r) with position i: `cand` candidates (blocks or keys
 * 0 .. ncand-1, those visible under the causal mask), best `top` by score (own block first
 * when keep_own), ascending, -1 padded. */
static void expect_row(int b, int h, int r, int i, bool blocks, bool keep_own, bool shared, int top,
                       int32_t *want)
{
    int ncand = blocks ? i / BS + 1 : i + 1;   /* causal: blocks and keys up to position i */
    double score[LK];
    bool taken[LK] = {false};
    int nt = 0;
    for (int c = 0; c < ncand; c++) {
        int h0 = shared ? h / (HQ / HKV) * (HQ / HKV) : h, h1 = shared ? h0 + HQ / HKV : h + 1;
        score[c] = 0;
        for (int g = h0; g < h1; g++)
            score[c] += blocks ? block_score(b, g, r, c) : dotv(q[b][g][r], k[b][h / (HQ / HKV)][c]);
    }
    if (keep_own) taken[i / BS] = true, nt++;
    while (nt < top && nt < ncand) {
        int best = -1;
        for (int c = 0; c < ncand; c++)
            if (!taken[c] && (best < 0 || score[c] > score[best])) best = c;
        taken[best] = true;
        nt++;
    }
    int slot = 0;
    for (int c = 0; c < ncand; c++)
        if (taken[c]) want[slot++] = c;
    while (slot < top) want[slot++] = -1;
}

/* Runs `kern` over lq rows and compares every row's indices; the selection runs as a reference
 * launch (attn_launch) when `launch`, else through attn_reference. */
static void check_spec(const char *what, const char *spec, bool blocks, bool keep_own, bool shared,
                       int top, int64_t lq, bool launch)
{
    AttnKernel *kern = compile(spec, "sel_out_test");
    AttnTensor t[5];
    memset(sel, 0x55, sizeof sel);
    make_tensors(t, lq, top, ATTN_I32, sel);
    AttnStatus st = launch ? attn_launch(kern, t, 5, NULL, 0, NULL) : attn_reference(kern, t, 5, NULL, 0);
    CHECK_MSG(st == ATTN_OK, "%s: %s", what, attn_last_error());
    const int32_t *got = sel[0][0][0];
    int pads = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HQ; h++)
            for (int r = 0; r < lq; r++) {
                int32_t want[MAXTOP];
                int i = r + (int)(LK - lq);   /* queries are the last lq positions */
                expect_row(b, h, r, i, blocks, keep_own, shared, top, want);
                const int32_t *row = got + ((b * HQ + h) * LK + r) * top;
                for (int s = 0; s < top; s++) {
                    pads += want[s] < 0;
                    CHECK_MSG(row[s] == want[s], "%s: b %d h %d row %d slot %d: got %d, want %d", what, b, h, r,
                           s, row[s], want[s]);
                }
            }
    CHECK_MSG((lq < LK) == (pads == 0), "%s: %d padded slots", what, pads);
    attn_kernel_free(kern);
}

#define HEAD                                                                                  \
    "attention t {\n"                                                                         \
    "  in q: f32[B, Hq, Lq, 16]; in k: f32[B, Hkv, Lk, 16]; in v: f32[B, Hkv, Lk, 16];\n"     \
    "  out o: f32[B, Hq, Lq, 16];\n"                                                          \
    "  mask = j <= i;\n"

static const char *blocks_own_shared = HEAD
    "  out sel: i32[B, Hq, Lq, 2];\n"
    "  select blocks(2) top 2 by dot(q[i], mean(k[block])) keep own shared;\n"
    "  sel = select;\n}\n";

static const char *blocks_plain = HEAD
    "  out sel: i32[B, Hq, Lq, 2];\n"
    "  select blocks(2) top 2 by dot(q[i], mean(k[block]));\n"
    "  sel = select;\n}\n";

static const char *tokens = HEAD
    "  out ids: i32[B, Hq, Lq, 3];\n"
    "  ids = select;\n"
    "  select tokens top 3 by dot(q[i], k[j]);\n}\n";

/* Launch validation of the indices' tensor. */
static void check_validation(void)
{
    AttnKernel *kern = compile(blocks_plain, "sel_out_test");
    AttnTensor t[5];
    static double selr[B][HQ][LK][TOP];
    make_tensors(t, LK, TOP, ATTN_F64, selr);
    CHECK_MSG(attn_reference(kern, t, 5, NULL, 0) == ATTN_OK, "f64 indices for the reference: %s",
           attn_last_error());
    CHECK_MSG(selr[0][0][0][0] == 0 && selr[0][0][0][1] == -1, "row 0 in f64: %g %g", selr[0][0][0][0],
           selr[0][0][0][1]);
    struct { AttnDtype dt; int top; int rank; bool ref; const char *msg; } bad[] = {
        {ATTN_I32, 3, 4, true, "tensor 'sel': dim 3 is 3 but the spec fixes it to 2"},
        {ATTN_I32, 3, 4, false, "tensor 'sel': dim 3 is 3 but the spec fixes it to 2"},
        {ATTN_I32, 2, 3, false, "tensor 'sel': rank is 3 but the spec declares 4 dims"},
        {ATTN_F32, 2, 4, false, "tensor 'sel': dtype is f32 but the spec declares i32"},
    };
    for (size_t x = 0; x < sizeof bad / sizeof bad[0]; x++) {
        make_tensors(t, LK, bad[x].top, bad[x].dt, sel);
        t[4].rank = bad[x].rank;
        memset(sel, 0x55, sizeof sel);
        AttnStatus st = bad[x].ref ? attn_reference(kern, t, 5, NULL, 0) : attn_launch(kern, t, 5, NULL, 0, NULL);
        CHECK_MSG(st == ATTN_ERR_ARG && strstr(attn_last_error(), bad[x].msg), "case %zu: %s: \"%s\"", x,
               attn_status_name(st), attn_last_error());
        CHECK_MSG(sel[0][0][0][0] == 0x55555555, "case %zu: a refused launch wrote the indices", x);
    }
    /* the indices' rows follow the i32 tensor's strides: a padded row stride */
    static int32_t wide[B][HQ][LK][TOP + 3];
    memset(wide, 0x55, sizeof wide);
    make_tensors(t, LK, TOP, ATTN_I32, wide);
    t[4].strides[2] = TOP + 3;
    t[4].strides[1] = LK * (TOP + 3);
    t[4].strides[0] = HQ * LK * (TOP + 3);
    CHECK_MSG(attn_reference(kern, t, 5, NULL, 0) == ATTN_OK, "padded strides: %s", attn_last_error());
    memset(sel, 0x55, sizeof sel);
    make_tensors(t, LK, TOP, ATTN_I32, sel);
    CHECK_MSG(attn_reference(kern, t, 5, NULL, 0) == ATTN_OK, "%s", attn_last_error());
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HQ; h++)
            for (int r = 0; r < LK; r++) {
                const int32_t *dense = &((int32_t *)sel)[((b * HQ + h) * LK + r) * TOP];
                for (int s = 0; s < TOP; s++)
                    CHECK_MSG(wide[b][h][r][s] == dense[s], "padded: b %d h %d row %d slot %d", b, h, r, s);
                for (int s = TOP; s < TOP + 3; s++)
                    CHECK_MSG(wide[b][h][r][s] == 0x55555555, "padding written at b %d h %d row %d", b, h, r);
            }
    attn_kernel_free(kern);
}

int main(void)
{
    fill_qkv();
    for (int64_t lq = LK; lq >= 5; lq -= 3) {
        char what[64];
        snprintf(what, sizeof what, "blocks keep own shared, Lq %lld", (long long)lq);
        check_spec(what, blocks_own_shared, true, true, true, TOP, lq, false);
        snprintf(what, sizeof what, "blocks, Lq %lld", (long long)lq);
        check_spec(what, blocks_plain, true, false, false, TOP, lq, true);
        snprintf(what, sizeof what, "tokens, Lq %lld", (long long)lq);
        check_spec(what, tokens, false, false, false, TTOP, lq, false);
    }
    check_validation();
    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    return test_failures ? 1 : 0;
}
