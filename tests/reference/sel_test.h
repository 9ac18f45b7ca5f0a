/* sel_test.h: what the selector reference tests (sel_out_test.c, sel_in_test.c) share: the
 * sizes, random q, k, v, an f32 o, contiguous tensors and a compile for the reference target. */
#ifndef SEL_TEST_H
#define SEL_TEST_H

#include "attn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 2, HQ = 4, HKV = 2, LK = 8, D = 16, BS = 2 };

static float q[B][HQ][LK][D], k[B][HKV][LK][D], v[B][HKV][LK][D], o[B][HQ][LK][D];

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rand64(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}
static float urand(void) { return (float)((double)(rand64() >> 11) / 9007199254740992.0 * 2 - 1); }

/* q, k, v uniform in [-1, 1). */
static void fill_qkv(void)
{
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < HQ; h++)
            for (int r = 0; r < LK; r++)
                for (int x = 0; x < D; x++) q[b][h][r][x] = urand();
        for (int h = 0; h < HKV; h++)
            for (int j = 0; j < LK; j++)
                for (int x = 0; x < D; x++) k[b][h][j][x] = urand(), v[b][h][j][x] = urand();
    }
}

/* A contiguous rank-4 tensor. */
static AttnTensor tensor(void *data, AttnDtype dt, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    return (AttnTensor){.data = data, .dtype = dt, .rank = 4, .shape = {d0, d1, d2, d3},
                        .strides = {d1 * d2 * d3, d2 * d3, d3, 1}};
}

/* `spec` compiled for the reference target (`name` names it in messages); exits on failure. */
static AttnKernel *compile(const char *spec, const char *name)
{
    AttnCompileOptions opts = {.target = "reference", .no_cache = 1};
    AttnKernel *kern = NULL;
    if (attn_compile(spec, name, &opts, &kern) != ATTN_OK) {
        fprintf(stderr, "compile failed: %s\n%s", attn_last_error(), spec);
        exit(1);
    }
    return kern;
}

#endif
