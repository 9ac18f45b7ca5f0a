/* air_build.h: builds AIR kernels in C for the CPU code generator's tests, so they can run
 * before a front end exists: a standard operator (q, k, v, o, optional lse) plus hook nodes. */
#ifndef ATTNC_TEST_AIR_BUILD_H
#define ATTNC_TEST_AIR_BUILD_H

#include <string.h>

#include "air.h"
#include "kernel_abi.h"

enum { SYM_IX_B, SYM_IX_HQ, SYM_IX_HKV, SYM_IX_LQ, SYM_IX_LK, SYM_IX_COUNT };

static inline void tb_tensor(AirTensor *t, const char *name, AirRole role, bool out, AirDtype dt, int rank,
                      const AirDim *dims)
{
    memset(t, 0, sizeof *t);
    t->name = name;
    t->role = role;
    t->is_output = out;
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
}

/* The operator: tensors q k v o [lse], syms B Hq Hkv Lq Lk, no hooks. */
static inline AirKernel *tb_new(Arena *a, const char *name, AirDtype qkv, AirDtype odt, int dk, int dv,
                         bool lse)
{
    AirKernel *k = arena_alloc(a, sizeof *k);
    k->name = name;
    k->kind = KIND_SOFTMAX;
    k->dk = dk;
    k->dv = dv;
    k->capnodes = 256;
    k->nodes = arena_alloc(a, sizeof(AirNode) * 256);
    k->tensors = arena_alloc(a, sizeof(AirTensor) * ABI_MAX_TENSORS);
    k->syms = arena_alloc(a, sizeof(AirSym) * ABI_MAX_SYMS);
    k->params = arena_alloc(a, sizeof(AirParam) * ABI_MAX_PARAMS);
    static const char *const sn[] = {"B", "Hq", "Hkv", "Lq", "Lk"};
    for (int s = 0; s < SYM_IX_COUNT; s++) k->syms[s] = (AirSym){sn[s], (AirSymRole)s};
    k->nsyms = SYM_IX_COUNT;
    AirDim B = {SYM_IX_B, 0}, HQ = {SYM_IX_HQ, 0}, HK = {SYM_IX_HKV, 0}, LQ = {SYM_IX_LQ, 0},
           LK = {SYM_IX_LK, 0}, DK = {-1, dk}, DV = {-1, dv};
    tb_tensor(&k->tensors[0], "q", ROLE_Q, false, qkv, 4, (AirDim[]){B, HQ, LQ, DK});
    tb_tensor(&k->tensors[1], "k", ROLE_K, false, qkv, 4, (AirDim[]){B, HK, LK, DK});
    tb_tensor(&k->tensors[2], "v", ROLE_V, false, qkv, 4, (AirDim[]){B, HK, LK, DV});
    tb_tensor(&k->tensors[3], "o", ROLE_O, true, odt, 4, (AirDim[]){B, HQ, LQ, DV});
    k->tq = 0, k->tk = 1, k->tv = 2, k->to = 3, k->tlse = -1, k->tselout = k->tselin = -1;
    k->ntensors = 4;
    if (lse) {
        tb_tensor(&k->tensors[4], "lse", ROLE_LSE, true, DT_F32, 3, (AirDim[]){B, HQ, LQ});
        k->tlse = 4;
        k->ntensors = 5;
    }
    for (int h = 0; h < HOOK_COUNT; h++) k->hook[h] = -1;
    return k;
}

static inline int32_t tb_node(AirKernel *k, AirOp op, AirTypeKind ty, int nargs, int32_t a0, int32_t a1,
                       int32_t a2, int32_t ref, double num)
{
    AirNode *n = &k->nodes[k->nnodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->ty.kind = ty;
    n->nargs = nargs;
    n->args[0] = a0, n->args[1] = a1, n->args[2] = a2;
    n->ref = ref;
    n->num = num;
    n->loc = (Loc){(uint32_t)k->nnodes, (uint32_t)k->nnodes + 1};
    return k->nnodes++;
}

#define TB_F(k, v) tb_node(k, OP_CONST, TY_F32, 0, 0, 0, 0, 0, v)
#define TB_I(k, v) tb_node(k, OP_CONST, TY_I32, 0, 0, 0, 0, 0, v)
#define TB_IDX(k, ix) tb_node(k, OP_IDX, TY_I32, 0, 0, 0, 0, ix, 0)
#define TB_DIM(k, s) tb_node(k, OP_DIM, TY_I32, 0, 0, 0, 0, s, 0)
#define TB_1(k, op, ty, a) tb_node(k, op, ty, 1, a, 0, 0, 0, 0)
#define TB_2(k, op, ty, a, b) tb_node(k, op, ty, 2, a, b, 0, 0, 0)

static inline int32_t tb_param(AirKernel *k, const char *name, AirParamType t, double def)
{
    k->params[k->nparams] = (AirParam){name, t, true, def};
    AirTypeKind ty = t == PARAM_F32 ? TY_F32 : t == PARAM_BOOL ? TY_BOOL : TY_I32;
    return tb_node(k, OP_PARAM, ty, 0, 0, 0, 0, k->nparams++, 0);
}

/* A 1-d or 2-d side tensor; returns its index. */
static inline int tb_side(AirKernel *k, const char *name, AirDtype dt, int rank, const AirDim *dims)
{
    tb_tensor(&k->tensors[k->ntensors], name, ROLE_SIDE, false, dt, rank, dims);
    return k->ntensors++;
}

#endif
