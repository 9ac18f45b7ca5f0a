/* aot_util.h: what the ahead-of-time test programs share: bf16 conversions and a row-major
 * tensor view, relative errors. Included after the kernel's header (which brings attn.h). */
#ifndef AOT_UTIL_H
#define AOT_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* xorshift32: [0, 1) from *state */
static float aot_urand(uint32_t *state)
{
    *state ^= *state << 13, *state ^= *state >> 17, *state ^= *state << 5;
    return (float)(*state >> 8) / 16777216.0f;
}

/* f32 -> bf16, round to nearest even (the inputs are finite) */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16);
}

static double from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static AttnTensor view(void *data, AttnDtype dt, int rank, const int64_t *shape)
{
    AttnTensor t = {.data = data, .dtype = dt, .rank = rank};
    int64_t n = 1;
    for (int d = rank - 1; d >= 0; d--) t.shape[d] = shape[d], t.strides[d] = n, n *= shape[d];
    return t;
}

/* Relative Frobenius error of n bf16 or f32 values against the f64 reference's. */
static double rel_bf16(const uint16_t *got, const double *ref, size_t n)
{
    double e2 = 0, r2 = 0;
    for (size_t x = 0; x < n; x++) {
        double d = from_bf16(got[x]) - ref[x];
        e2 += d * d, r2 += ref[x] * ref[x];
    }
    return sqrt(e2 / (r2 > 0 ? r2 : 1));
}

static double rel_f32(const float *got, const double *ref, size_t n)
{
    double e2 = 0, r2 = 0;
    for (size_t x = 0; x < n; x++) {
        double d = (double)got[x] - ref[x];
        e2 += d * d, r2 += ref[x] * ref[x];
    }
    return sqrt(e2 / (r2 > 0 ? r2 : 1));
}

#endif
