/* test_tensor.h: what the runtime tests that fill and read AttnTensors share: a seeded uniform
 * random number (an LCG, so every run sees the same inputs), the element size of a dtype, and an
 * element written or read as a double in the tensor's own dtype (bf16 rounds to nearest even). */
#ifndef TEST_TENSOR_H
#define TEST_TENSOR_H

#include "attn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static uint64_t rng = 12345;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static size_t dsize(AttnDtype d) { return d == ATTN_F32 || d == ATTN_I32 ? 4 : d == ATTN_F64 ? 8 : 2; }

static void put(AttnTensor *t, int64_t e, double x)
{
    float f = (float)x;
    uint32_t u;
    switch (t->dtype) {
    case ATTN_F32: ((float *)t->data)[e] = f; break;
    case ATTN_F64: ((double *)t->data)[e] = x; break;
    case ATTN_BF16:
        memcpy(&u, &f, 4);
        ((uint16_t *)t->data)[e] = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        break;
    case ATTN_F16: ((_Float16 *)t->data)[e] = (_Float16)f; break;
    case ATTN_I32: ((int32_t *)t->data)[e] = (int32_t)x; break;
    default: break;
    }
}

static double get(const AttnTensor *t, int64_t e)
{
    uint32_t u;
    float f;
    switch (t->dtype) {
    case ATTN_F32: return ((const float *)t->data)[e];
    case ATTN_F64: return ((const double *)t->data)[e];
    case ATTN_BF16:
        u = (uint32_t)((const uint16_t *)t->data)[e] << 16;
        memcpy(&f, &u, 4);
        return f;
    case ATTN_F16: return (double)((const _Float16 *)t->data)[e];
    case ATTN_I32: return ((const int32_t *)t->data)[e];
    default: return NAN;
    }
}

#endif
