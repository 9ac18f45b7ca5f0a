/* dtype.h: conversions between the storage dtypes (f16, bf16) and f32, with round to nearest
 * even, shared by the reference evaluator, the runtime and the tests so that every place that
 * rounds agrees bit for bit. Header only: plain functions on bit patterns, no state. */
#ifndef ATTNC_DTYPE_H
#define ATTNC_DTYPE_H

#include <stdint.h>
#include <string.h>

static inline uint32_t dtype_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float dtype_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float dtype_bf16_to_f32(uint16_t h) { return dtype_bits_f32((uint32_t)h << 16); }

/* Round to nearest even; NaN stays a (quiet) NaN, overflow rounds to inf as IEEE says. */
static inline uint16_t dtype_f32_to_bf16(float f)
{
    uint32_t u = dtype_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static inline float dtype_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return dtype_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* subnormal or zero: man * 2^-24, exact in f32 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return dtype_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t dtype_f32_to_f16(float f)
{
    uint32_t u = dtype_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;                  /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00;                 /* rounds to inf (>= 65520) */
    if (a < 0x38800000u) {
        /* result is subnormal in f16: value / 2^-24 rounded to nearest even */
        if (a < 0x33000000u) return sign;                       /* below half the least subnormal */
        uint32_t e = a >> 23, man = (a & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;                               /* 14 + (113 - e) - 1 ... */
        /* value = man * 2^(e-150); in units of 2^-24: man * 2^(e-126) = man >> (126 - e) */
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    /* normal: rebias exponent, round mantissa from 23 to 10 bits */
    uint32_t r = a - 0x38000000u;                                /* exponent 127 -> 15 */
    r += 0xfffu + ((r >> 13) & 1);
    return sign | (uint16_t)(r >> 13);
}

#endif
