/* run_kernel.h: compile an AirKernel for a CPU target, JIT it, and launch it over every work
 * item on one thread; tensor storage in any dtype with f64 shadows for the reference. */
#ifndef ATTNC_TEST_RUN_KERNEL_H
#define ATTNC_TEST_RUN_KERNEL_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "air.h"
#include "jit.h"
#include "kernel_abi.h"
#include "target.h"

typedef struct Buf {
    AirDtype dt;
    void *data;
    double *ref;        /* the stored values as f64 (inputs), or NULL */
    int64_t n;
} Buf;

/* Whether this CPU can run x86-64-v4 (AVX-512 F, BW, VL, DQ) code. */
static inline bool test_host_has_v4(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

/* The CPU targets this machine runs: x86-64-v3, x86-64-v4 when it has AVX-512 (else a line
 * saying it is skipped), native. Returns how many were written into targets[3]. */
static inline int test_cpu_targets(const char *targets[3])
{
    int n = 0;
    targets[n++] = "x86-64-v3";
    if (test_host_has_v4())
        targets[n++] = "x86-64-v4";
    else
        printf("skip x86-64-v4 runs: this CPU has no AVX-512\n");
    targets[n++] = "native";
    return n;
}

static inline float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static inline double buf_get(const Buf *b, int64_t i)
{
    switch (b->dt) {
    case DT_F16: return (double)((_Float16 *)b->data)[i];
    case DT_BF16: {
        uint32_t u = (uint32_t)((uint16_t *)b->data)[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case DT_I32: return ((int32_t *)b->data)[i];
    default: return ((float *)b->data)[i];
    }
}

static inline void buf_set(Buf *b, int64_t i, double v)
{
    switch (b->dt) {
    case DT_F16: ((_Float16 *)b->data)[i] = (_Float16)v; break;
    case DT_BF16: {
        float f = bf16_round((float)v);
        uint32_t u;
        memcpy(&u, &f, 4);
        ((uint16_t *)b->data)[i] = (uint16_t)(u >> 16);
        break;
    }
    case DT_I32: ((int32_t *)b->data)[i] = (int32_t)v; break;
    default: ((float *)b->data)[i] = (float)v; break;
    }
    if (b->ref) b->ref[i] = buf_get(b, i);
}

static inline Buf buf_new(AirDtype dt, int64_t n, bool shadow)
{
    Buf b = {dt, calloc((size_t)n + 1, 4), shadow ? calloc((size_t)n + 1, 8) : NULL, n};
    return b;
}

static inline void buf_free(Buf *b)
{
    free(b->data);
    free(b->ref);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline double urand(void)   /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

/* A compiled and loaded kernel. */
typedef struct Loaded {
    RtJit *jit;
    AbiCpuEntry entry;
    KernelPlan plan;
} Loaded;

/* Compiles k for target `tname` and loads it. On failure prints the diagnostics. */
static inline bool load_kernel(const AirKernel *k, const char *tname, Loaded *out)
{
    Arena a;
    arena_init(&a);
    Source src = {"<test>", "", 0};
    Diags d;
    diags_init(&d, &a, &src);
    const Target *t = target_find(tname);
    Blob obj = {0};
    bool ok = t && t->plan(t, k, &out->plan, &d) && t->emit(t, k, &out->plan, EMIT_OBJ, NULL, &a, &obj, &d);
    if (ok) {
        char err[512];
        out->jit = rt_jit_create(err, sizeof err);
        ok = out->jit && rt_jit_add_object(out->jit, obj.data, obj.size, err, sizeof err);
        void *fn = ok ? rt_jit_lookup(out->jit, out->plan.entries[0].name, err, sizeof err) : NULL;
        out->entry = (AbiCpuEntry)fn;
        if (!fn) {
            fprintf(stderr, "jit: %s\n", err);
            ok = false;
        }
    } else {
        fprintf(stderr, "compile failed for %s:\n%s\n", tname, diags_render(&d, false));
    }
    for (int32_t e = 0; e < out->plan.nentries; e++) out->plan.entries[e].name = NULL;
    out->plan.t.cpu.name = out->plan.t.cpu.features = NULL;   /* lived in the arena */
    arena_free(&a);
    return ok;
}

static inline void set_tensor(AbiArgs *args, int t, void *data, int rank, const int64_t *shape,
                       const int64_t *strides)
{
    args->t[t].data = data;
    for (int i = 0; i < rank; i++) {
        args->t[t].shape[i] = shape[i];
        args->t[t].strides[i] = strides[i];
    }
}

/* Every work item, one thread. */
static inline void launch_all(const Loaded *l, const AbiArgs *args, int64_t B, int64_t Hq, int64_t Lq)
{
    int64_t nq = (Lq + l->plan.tile_m - 1) / l->plan.tile_m;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t q = 0; q < nq; q++) l->entry(args, b, h, q);
}

#endif
