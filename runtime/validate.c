/* validate.c: checks a launch's tensors and params against the kernel's signature before
 * anything runs, and fills the AbiArgs the kernel reads. Every check names the argument, so a
 * caller can fix the call from the message alone. What is checked:
 *   - the tensor count and every tensor: non-null data (unless it has no elements), dtype,
 *     rank, non-negative sizes, fixed dims, symbols bound consistently across tensors, sizes
 *     that fit the kernel's i32 index arithmetic, alignment to the element size, non-negative
 *     strides, a contiguous last dim for q, k, v and o, extents that do not overflow;
 *   - Hq a multiple of Hkv (GQA);
 *   - outputs: no stride 0 over a dim of size > 1 (two elements would alias), and no overlap
 *     with any other tensor (compared as byte extents [first, last], which is conservative:
 *     interleaved but disjoint layouts are refused too);
 *   - params: the count (or NULL for all defaults, when every param has one), i32 params
 *     integral and in range, bool params 0 or 1, no NaN.
 * A param's admissible range beyond its type (say a window that must be >= 0) is whatever the
 * spec's expressions make of it; the language has no way to state it, so it is not checked. */
#include "rt.h"
#include "cuda.h"

#include <math.h>
#include <string.h>

_Static_assert((int)ATTN_F32 == (int)DT_F32 && (int)ATTN_F16 == (int)DT_F16 &&
                   (int)ATTN_BF16 == (int)DT_BF16 && (int)ATTN_I32 == (int)DT_I32 &&
                   (int)ATTN_F64 == (int)DT_F64,
               "AttnDtype and AirDtype share their numbering");

AirDtype rt_air_dtype(AttnDtype d) { return (AirDtype)d; }

const char *rt_dtype_name(AttnDtype d)
{
    switch (d) {
    case ATTN_F32: return "f32";
    case ATTN_F16: return "f16";
    case ATTN_BF16: return "bf16";
    case ATTN_I32: return "i32";
    case ATTN_F64: return "f64";
    }
    return "unknown dtype";
}

static size_t dtype_size(AttnDtype d)
{
    switch (d) {
    case ATTN_F16:
    case ATTN_BF16: return 2;
    case ATTN_F64: return 8;
    default: return 4;
    }
}

static bool valid_dtype(AttnDtype d) { return d >= ATTN_F32 && d <= ATTN_F64; }

static const char *sym_name(const AirKernel *air, int32_t s) { return air->syms[s].name; }

/* Where a symbol got its value, for "but 'v' has 99". */
typedef struct Binding {
    int64_t value;
    int32_t tensor, dim;   /* tensor = -1: unbound */
} Binding;

/* Byte extent [lo, hi) of a tensor's elements: 1, or 0 when it has none, or -1 when its last
 * byte lies past the address range (or past INT64_MAX bytes, the kernels' offsets). */
static int extent(const AttnTensor *t, uintptr_t *lo, uintptr_t *hi)
{
    int64_t last = 0;
    for (int32_t d = 0; d < t->rank; d++) {
        if (t->shape[d] == 0) return 0;
        int64_t step;
        if (__builtin_mul_overflow(t->shape[d] - 1, t->strides[d], &step) ||
            __builtin_add_overflow(last, step, &last))
            return -1;
    }
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)last + 1, (uint64_t)dtype_size(t->dtype), &bytes) ||
        bytes > (uint64_t)INT64_MAX || (uintptr_t)t->data + bytes < (uintptr_t)t->data)
        return -1;
    *lo = (uintptr_t)t->data;
    *hi = *lo + bytes;
    return 1;
}

static AttnStatus check_tensor(const AttnKernel *k, const AttnTensor *t, int32_t ti,
                               RtLaunchKind kind, Binding *bind)
{
    const AirKernel *air = k->air;
    const AirTensor *at = &air->tensors[ti];
    const char *nm = at->name;
    if (!valid_dtype(t->dtype))
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': invalid dtype value %d", nm, (int)t->dtype);
    AttnDtype want = (AttnDtype)at->dtype;
    if (kind == RT_REFERENCE && at->is_output) {
        /* any floating dtype, or the spec's own (the i32 of a selector's indices) */
        if (t->dtype == ATTN_I32 && want != ATTN_I32)
            return rt_fail(ATTN_ERR_ARG, "tensor '%s': a reference output must be a floating "
                           "dtype (f64, f32, f16 or bf16), not i32", nm);
    } else if (t->dtype != want) {
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': dtype is %s but the spec declares %s", nm,
                       rt_dtype_name(t->dtype), rt_dtype_name(want));
    }
    if (t->rank != at->rank)
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': rank is %d but the spec declares %d dims", nm,
                       t->rank, at->rank);
    int64_t numel = 1;
    for (int32_t d = 0; d < t->rank; d++) {
        int64_t n = t->shape[d];
        const AirDim *ad = &at->dims[d];
        if (n < 0) return rt_fail(ATTN_ERR_ARG, "tensor '%s': dim %d has negative size %lld", nm,
                                  d, (long long)n);
        if (ad->sym < 0) {
            if (n != ad->size)
                return rt_fail(ATTN_ERR_ARG, "tensor '%s': dim %d is %lld but the spec fixes it "
                               "to %lld", nm, d, (long long)n, (long long)ad->size);
        } else {
            Binding *b = &bind[ad->sym];
            if (b->tensor < 0) {
                if (n > INT32_MAX)
                    return rt_fail(ATTN_ERR_ARG, "tensor '%s': dim %d (%s) is %lld, above the "
                                   "kernel's limit of %d", nm, d, sym_name(air, ad->sym),
                                   (long long)n, INT32_MAX);
                *b = (Binding){n, ti, d};
            } else if (b->value != n) {
                return rt_fail(ATTN_ERR_ARG, "tensor '%s': dim %d (%s) is %lld but '%s' has %lld",
                               nm, d, sym_name(air, ad->sym), (long long)n,
                               air->tensors[b->tensor].name, (long long)b->value);
            }
        }
        if (t->strides[d] < 0)
            return rt_fail(ATTN_ERR_ARG, "tensor '%s': stride %d is negative (%lld)", nm, d,
                           (long long)t->strides[d]);
        if (__builtin_mul_overflow(numel, n, &numel))
            return rt_fail(ATTN_ERR_ARG, "tensor '%s': the element count overflows", nm);
    }
    /* The last byte must be addressable: an extent that overflows would wrap and read before
     * the buffer (and would slip past the overlap check below). */
    uintptr_t lo, hi;
    if (numel > 0 && extent(t, &lo, &hi) < 0)
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': its strides reach past the end of the "
                       "address range", nm);
    bool row_major_role = at->role == ROLE_Q || at->role == ROLE_K || at->role == ROLE_V ||
                          at->role == ROLE_O;
    if (row_major_role && t->rank > 0 && t->strides[t->rank - 1] != 1)
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': the last dim must be contiguous (stride 1), "
                       "got stride %lld", nm, (long long)t->strides[t->rank - 1]);
    if (numel > 0 && !t->data)
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': data is a null pointer", nm);
    size_t es = dtype_size(t->dtype);
    if (((uintptr_t)t->data % es) != 0)
        return rt_fail(ATTN_ERR_ARG, "tensor '%s': data %p is not aligned to its element size "
                       "(%zu bytes)", nm, t->data, es);
    /* GPU kernels copy q, k, v rows and store o rows in 16-byte chunks (cp.async): every row
     * must start 16-byte aligned, so the base pointer and each stride but the last. */
    if (kind == RT_LAUNCH_GPU && row_major_role && numel > 0) {
        if ((uintptr_t)t->data % 16 != 0)
            return rt_fail(ATTN_ERR_ARG, "tensor '%s': data %p is not 16-byte aligned, which GPU "
                           "kernels need for their 16-byte row copies", nm, t->data);
        for (int32_t d = 0; d + 1 < t->rank; d++)
            if ((t->strides[d] * (int64_t)es) % 16 != 0)
                return rt_fail(ATTN_ERR_ARG, "tensor '%s': stride %d is %lld elements (%lld "
                               "bytes), not a multiple of 16 bytes as GPU kernels need", nm, d,
                               (long long)t->strides[d], (long long)(t->strides[d] * (int64_t)es));
    }
    /* GPU kernels are loaded on one device (device 0, docs/gpu.md): q elsewhere would fault
     * inside the kernel and leave the context unusable. One driver query a launch, for q, the
     * tensor the grid is made from; attn.py checks every torch tensor's device for free. */
    int qdev;
    const RtCudaKernel *ck = k->gpu;
    if (kind == RT_LAUNCH_GPU && at->role == ROLE_Q && numel > 0 && ck &&
        rt_cuda_pointer_device(t->data, &qdev) && qdev != ck->device)
        return rt_fail(ATTN_ERR_ARG, "tensor '%s' is on CUDA device %d, but attnc's GPU kernels "
                       "run on device %d only; move the tensors there (or make that GPU device "
                       "%d with CUDA_VISIBLE_DEVICES)", nm, qdev, ck->device, ck->device);
    if (at->is_output && numel > 0)
        for (int32_t d = 0; d < t->rank; d++)
            if (t->shape[d] > 1 && t->strides[d] == 0)
                return rt_fail(ATTN_ERR_ARG, "tensor '%s': output dim %d has stride 0, so its "
                               "%lld elements would overlap", nm, d, (long long)t->shape[d]);
    return ATTN_OK;
}

static bool is_empty(const AttnTensor *t)
{
    for (int32_t d = 0; d < t->rank; d++)
        if (t->shape[d] == 0) return true;
    return false;
}

/* A hook reads side tensors at indices clamped into their dims (docs/language.md): a dim of
 * size 0 has no index to clamp to. So while there is a query row to compute, every side tensor
 * must have an element, except along Lk when there are no keys (then no hook over keys runs). */
static AttnStatus check_side_sizes(const AirKernel *air, const AttnTensor *tensors)
{
    if (air->tq < 0 || is_empty(&tensors[air->tq])) return ATTN_OK;
    for (int32_t i = 0; i < air->ntensors; i++) {
        const AirTensor *at = &air->tensors[i];
        if (at->role != ROLE_SIDE || at->is_output) continue;
        for (int32_t d = 0; d < at->rank; d++) {
            if (tensors[i].shape[d] != 0) continue;
            if (at->dims[d].sym >= 0 && air->syms[at->dims[d].sym].role == SYM_LK) continue;
            return rt_fail(ATTN_ERR_ARG, "tensor '%s': dim %d is 0, but the hooks read this "
                           "tensor for every query row; give each of its dims at least one "
                           "element", at->name, d);
        }
    }
    return ATTN_OK;
}

static AttnStatus check_params(const AttnKernel *k, const double *params, int32_t nparams,
                               AbiArgs *args)
{
    const AirKernel *air = k->air;
    if (!params && nparams != 0)
        return rt_fail(ATTN_ERR_ARG, "params is NULL but nparams is %d", nparams);
    if (params && nparams != air->nparams)
        return rt_fail(ATTN_ERR_ARG, "%d params given but the spec declares %d%s", nparams,
                       air->nparams, air->nparams ? "" : " (pass NULL, 0)");
    for (int32_t i = 0; i < air->nparams; i++) {
        const AirParam *p = &air->params[i];
        double v;
        if (params) {
            v = params[i];
        } else if (p->has_default) {
            v = p->def;
        } else {
            return rt_fail(ATTN_ERR_ARG, "param '%s' has no default; pass every param (params "
                           "was NULL)", p->name);
        }
        if (isnan(v)) return rt_fail(ATTN_ERR_ARG, "param '%s' is NaN", p->name);
        switch (p->type) {
        case PARAM_I32:
            if (v != floor(v) || v < INT32_MIN || v > INT32_MAX)
                return rt_fail(ATTN_ERR_ARG, "param '%s' is i32 but got %g", p->name, v);
            break;
        case PARAM_BOOL:
            if (v != 0 && v != 1)
                return rt_fail(ATTN_ERR_ARG, "param '%s' is bool (0 or 1) but got %g", p->name, v);
            break;
        case PARAM_F32: break;
        }
        args->iparam[i] = p->type == PARAM_F32 ? (int32_t)0 : (int32_t)v;
        args->fparam[i] = (float)v;
    }
    return ATTN_OK;
}

static int64_t sym_of_role(const AirKernel *air, const Binding *bind, AirSymRole role,
                           int32_t tensor, int32_t dim, const AttnTensor *ts)
{
    for (int32_t s = 0; s < air->nsyms; s++)
        if (air->syms[s].role == role && bind[s].tensor >= 0) return bind[s].value;
    /* A fixed dim: read it from its positional tensor. */
    return ts[tensor].shape[dim];
}

AttnStatus rt_validate(const AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                       const double *params, int32_t nparams, RtLaunchKind kind, AbiArgs *args)
{
    if (!k) return rt_fail(ATTN_ERR_ARG, "kernel is NULL");
    const AirKernel *air = k->air;
    if (ntensors != air->ntensors)
        return rt_fail(ATTN_ERR_ARG, "%d tensors given but the spec declares %d", ntensors,
                       air->ntensors);
    if (!tensors) return rt_fail(ATTN_ERR_ARG, "tensors is NULL");
    if (air->nsyms > ABI_MAX_SYMS || air->ntensors > ABI_MAX_TENSORS ||
        air->nparams > ABI_MAX_PARAMS)
        return rt_fail(ATTN_ERR_INTERNAL, "kernel exceeds the ABI's limits");
    memset(args, 0, sizeof *args);
    AttnStatus st = ATTN_OK;
    Binding bind[ABI_MAX_SYMS];
    for (int32_t s = 0; s < ABI_MAX_SYMS; s++) bind[s] = (Binding){0, -1, -1};
    for (int32_t i = 0; i < ntensors; i++) {
        if (tensors[i].rank < 0 || tensors[i].rank > ATTN_MAX_RANK)
            return rt_fail(ATTN_ERR_ARG, "tensor '%s': rank %d is out of range", air->tensors[i].name,
                           tensors[i].rank);
        st = check_tensor(k, &tensors[i], i, kind, bind);
        if (st != ATTN_OK) return st;
    }
    st = check_side_sizes(air, tensors);
    if (st != ATTN_OK) return st;
    for (int32_t s = 0; s < air->nsyms; s++)
        args->sym[s] = bind[s].value;
    int64_t hq = sym_of_role(air, bind, SYM_HQ, air->tq, 1, tensors);
    int64_t hkv = sym_of_role(air, bind, SYM_HKV, air->tk, 1, tensors);
    if (air->kind != KIND_RECURRENT && (hkv == 0 ? hq != 0 : hq % hkv != 0))
        return rt_fail(ATTN_ERR_ARG, "tensor 'q' has %lld heads, not a multiple of the %lld heads "
                       "of 'k' and 'v' (GQA needs Hq %% Hkv == 0)", (long long)hq, (long long)hkv);
    if (air->kind == KIND_RECURRENT) {   /* head h of o reads head h / (Ho / H) of q, k, v */
        int64_t ho = tensors[air->to].shape[1];
        int32_t ts[3] = {air->tq, air->tk, air->tv};
        for (int x = 0; x < 3; x++) {
            int64_t ht = tensors[ts[x]].shape[1];
            if (ht == 0 ? ho != 0 : ho % ht != 0)
                return rt_fail(ATTN_ERR_ARG, "tensor 'o' has %lld heads, not a multiple of the %lld heads of '%s'",
                               (long long)ho, (long long)ht, air->tensors[ts[x]].name);
        }
    }
    for (int32_t i = 0; i < ntensors; i++) {
        uintptr_t lo, hi, lo2, hi2;
        if (!air->tensors[i].is_output || extent(&tensors[i], &lo, &hi) <= 0) continue;
        for (int32_t j = 0; j < ntensors; j++) {
            if (j == i || extent(&tensors[j], &lo2, &hi2) <= 0) continue;
            if (lo < hi2 && lo2 < hi)
                return rt_fail(ATTN_ERR_ARG, "tensor '%s': output memory overlaps tensor '%s'",
                               air->tensors[i].name, air->tensors[j].name);
        }
    }
    st = check_params(k, params, nparams, args);
    if (st != ATTN_OK) return st;
    for (int32_t i = 0; i < ntensors; i++) {
        args->t[i].data = tensors[i].data;
        for (int32_t d = 0; d < tensors[i].rank; d++) {
            args->t[i].shape[d] = tensors[i].shape[d];
            args->t[i].strides[d] = tensors[i].strides[d];
        }
    }
    int64_t lq = sym_of_role(air, bind, SYM_LQ, air->tq, 2, tensors);
    int64_t lk = sym_of_role(air, bind, SYM_LK, air->tk, 2, tensors);
    args->q_offset = lk > lq ? lk - lq : 0;
    args->tile_m = k->plan.tile_m;
    args->tile_n = k->plan.tile_n;
    return ATTN_OK;
}
