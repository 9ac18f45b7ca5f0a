/* air_weak.c: weak stand-ins for the AIR builders of air.c, so the front end links and its
 * tests run before air.c is merged; the strong definitions replace these at link time.
 * Delete this file once air.c is on main. */
#include "air.h"

#include <string.h>

__attribute__((weak)) AirKernel *air_new(Arena *a, const char *name)
{
    AirKernel *k = arena_alloc(a, sizeof *k);
    if (!k) return NULL;
    k->name = name;
    k->tq = k->tk = k->tv = k->to = k->tlse = -1;
    for (int h = 0; h < HOOK_COUNT; h++) k->hook[h] = -1;
    return k;
}

__attribute__((weak)) int32_t air_add(Arena *a, AirKernel *k, AirNode n)
{
    if (k->nnodes == k->capnodes) {
        int32_t ncap = k->capnodes ? k->capnodes * 2 : 64;
        AirNode *np = arena_realloc(a, k->nodes, sizeof *np * (size_t)k->capnodes,
                                    sizeof *np * (size_t)ncap);
        if (!np) return -1;
        k->nodes = np;
        k->capnodes = ncap;
    }
    k->nodes[k->nnodes] = n;
    return k->nnodes++;
}

__attribute__((weak)) AirType air_scalar(AirTypeKind kind) { return (AirType){kind, 0, 0}; }

static int32_t weak_const(Arena *a, AirKernel *k, AirTypeKind t, double v)
{
    AirNode n = {.op = OP_CONST, .ty = {t, 0, 0}, .ref = -1, .num = v};
    return air_add(a, k, n);
}

__attribute__((weak)) int32_t air_const_f32(Arena *a, AirKernel *k, double v)
{
    return weak_const(a, k, TY_F32, v);
}
__attribute__((weak)) int32_t air_const_i32(Arena *a, AirKernel *k, int64_t v)
{
    return weak_const(a, k, TY_I32, (double)v);
}
__attribute__((weak)) int32_t air_const_bool(Arena *a, AirKernel *k, bool v)
{
    return weak_const(a, k, TY_BOOL, v);
}
