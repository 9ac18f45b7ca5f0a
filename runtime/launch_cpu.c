/* launch_cpu.c: runs a JIT'd (or AOT-linked) CPU kernel over its work items, one (batch,
 * query head, block of tile_m query rows) each, on the thread pool. Items are ordered with
 * the last query blocks first: under a causal mask they visit the most key tiles, and handing
 * the longest items out first evens out the threads' finishing times.
 *
 * Decode (few query rows) goes through the head-group entry instead when the kernel has one:
 * items (b, kv head, split), so a GQA group's K and V are read once for all its query heads;
 * when there are fewer (b, kv head) items than threads, Lk is split and the partial states
 * are combined here (flash-decoding; the contract is in kernel_abi.h). */
#include "rt.h"
#include "dtype.h"

#include <math.h>
#include <stdlib.h>

/* A split should still stream a few tiles, or the combine and the per-item setup dominate. */
enum { SPLIT_MIN_TILES = 8 };

int64_t rt_query_blocks(const AttnKernel *k, const AbiArgs *args)
{
    int64_t lq = args->t[k->air->tq].shape[2];
    int32_t tm = k->plan.tile_m;
    if (tm <= 0) return lq > 0 ? 1 : 0;
    return (lq + tm - 1) / tm;
}

typedef struct CpuLaunch {
    AbiCpuEntry entry;
    const AbiArgs *args;
    int64_t heads;      /* Hq */
    int64_t bh;         /* B * Hq */
    int64_t qblocks;
} CpuLaunch;

static void run_item(void *ctx, int64_t item)
{
    const CpuLaunch *l = ctx;
    int64_t qb = l->qblocks - 1 - item / l->bh;
    int64_t bh = item % l->bh;
    l->entry(l->args, bh / l->heads, bh % l->heads, qb);
}

/* The FlashAttention skeleton's recipe: the head-group entry for decode when the plan has one
 * and the launch fits it, else the attention entry over (b, query head, query block). */
static AttnStatus launch_fa(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    AbiCpuEntry entry = (AbiCpuEntry)rt_cpu_fn(k, ROLE_ATTENTION);
    AbiCpuGroupEntry group = (AbiCpuGroupEntry)rt_cpu_fn(k, ROLE_KVGROUP);
    if (!entry) return rt_fail(ATTN_ERR_INTERNAL, "kernel has no loaded entry point");
    if (group && rt_cpu_group_fits(k->air, plan_entry(&k->plan, ROLE_KVGROUP), args))
        return rt_cpu_group_run(k->air, &k->plan, group, args,
                                rt_cpu_group_splits(k->air, &k->plan, args, o->num_threads),
                                o->num_threads);
    const AbiTensor *q = &args->t[k->air->tq];
    CpuLaunch l = {entry, args, q->shape[1], q->shape[0] * q->shape[1], rt_query_blocks(k, args)};
    if (l.bh == 0 || l.qblocks == 0) return ATTN_OK;
    rt_parallel_for(l.bh * l.qblocks, o->num_threads, run_item, &l);
    return ATTN_OK;
}

/* The recurrence skeletons' recipe: one item per (b, o's head, slab of tile_m state columns; the
 * scan's one slab is every column). */
static AttnStatus launch_recur(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    AbiCpuEntry entry = (AbiCpuEntry)rt_cpu_fn(k, ROLE_RECUR);
    if (!entry || k->plan.tile_m <= 0) return rt_fail(ATTN_ERR_INTERNAL, "kernel has no loaded entry point");
    const AbiTensor *out = &args->t[k->air->to];   /* a recurrence runs over o's heads */
    int64_t slabs = (k->air->dv + k->plan.tile_m - 1) / k->plan.tile_m;
    CpuLaunch l = {entry, args, out->shape[1], out->shape[0] * out->shape[1], slabs};
    if (l.bh == 0) return ATTN_OK;   /* T = 0 still copies an initial state to a final one */
    rt_parallel_for(l.bh * l.qblocks, o->num_threads, run_item, &l);
    return ATTN_OK;
}

AttnStatus rt_launch_cpu(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    switch (k->plan.skeleton) {   /* one launch recipe per skeleton */
    case SKEL_FA: return launch_fa(k, args, o);
    case SKEL_RECUR: case SKEL_SCAN: return launch_recur(k, args, o);
    case SKEL_SELECT: return rt_cpu_select_run(k, args, o);
    default: break;
    }
    return rt_fail(ATTN_ERR_INTERNAL, "no CPU launch recipe for the kernel's skeleton (%d)",
                   k->plan.skeleton);
}

bool rt_cpu_group_fits(const AirKernel *air, const PlanEntry *group, const AbiArgs *args)
{
    int64_t hq = args->t[air->tq].shape[1], lq = args->t[air->tq].shape[2];
    int64_t hkv = args->t[air->tk].shape[1];
    return group && group->rows > 0 && lq >= 1 && lq <= group->max_lq && hkv >= 1 &&
           hq % hkv == 0 && (hq / hkv) * lq <= group->rows;
}

int64_t rt_cpu_group_splits(const AirKernel *air, const KernelPlan *plan, const AbiArgs *args,
                            int32_t nthreads)
{
    int64_t items = args->t[air->tq].shape[0] * args->t[air->tk].shape[1];
    int64_t lk = args->t[air->tk].shape[2];
    int64_t ntiles = plan->tile_n > 0 ? (lk + plan->tile_n - 1) / plan->tile_n : 1;
    int64_t threads = nthreads > 0 ? nthreads : rt_num_cores();
    if (items <= 0 || items >= threads) return 1;
    int64_t want = (threads + items - 1) / items, most = ntiles / SPLIT_MIN_TILES;
    return want < most ? want : most < 1 ? 1 : most;
}

typedef struct GroupLaunch {
    AbiCpuGroupEntry entry;
    const AbiArgs *args;
    int64_t hkv, nsplit, tps;   /* tiles per split */
    float *part;                /* NULL when nsplit == 1 */
    int64_t item_floats;        /* rows * (Dv + 2) */
} GroupLaunch;

static void run_group_item(void *ctx, int64_t item)
{
    const GroupLaunch *l = ctx;
    int64_t s = item % l->nsplit, bh = item / l->nsplit;
    float *part = l->part ? l->part + item * l->item_floats : NULL;
    l->entry(l->args, bh / l->hkv, bh % l->hkv, s * l->tps, (s + 1) * l->tps, part);
}

static void store_o(const AbiTensor *t, AirDtype dt, int64_t off, float v)
{
    if (dt == DT_F32) ((float *)t->data)[off] = v;
    else if (dt == DT_BF16) ((uint16_t *)t->data)[off] = dtype_f32_to_bf16(v);
    else ((uint16_t *)t->data)[off] = dtype_f32_to_f16(v);
}

/* o and lse of the rows of item (b, hk) from its nsplit partial states. */
static void combine(const AirKernel *air, const AbiArgs *args, const GroupLaunch *l, int64_t bh,
                    int64_t rows, int64_t lq, int64_t dv)
{
    const AbiTensor *o = &args->t[air->to];
    AirDtype odt = air->tensors[air->to].dtype;
    int64_t b = bh / l->hkv, h0 = (bh % l->hkv) * (rows / lq);
    const float *p0 = l->part + bh * l->nsplit * l->item_floats;
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = h0 + r / lq, i = r % lq;
        float m = -INFINITY, sum = 0;
        for (int64_t s = 0; s < l->nsplit; s++) {
            float ms = p0[s * l->item_floats + r * (dv + 2) + dv];
            m = isnan(m) || isnan(ms) ? NAN : fmaxf(m, ms);   /* a NaN logit's row is NaN */
        }
        float ms = m == -INFINITY ? 0.0f : m;
        for (int64_t s = 0; s < l->nsplit; s++) {
            const float *pr = p0 + s * l->item_floats + r * (dv + 2);
            sum += exp2f(pr[dv] - ms) * pr[dv + 1];
        }
        float inv = isnan(m) || m == INFINITY ? NAN : sum > 0 ? 1.0f / sum : 0.0f;
        int64_t obase = b * o->strides[0] + h * o->strides[1] + i * o->strides[2];
        for (int64_t d = 0; d < dv; d++) {
            float acc = 0;
            for (int64_t s = 0; s < l->nsplit; s++) {
                const float *pr = p0 + s * l->item_floats + r * (dv + 2);
                acc += exp2f(pr[dv] - ms) * pr[d];
            }
            store_o(o, odt, obase + d * o->strides[3], acc * inv);
        }
        if (air->tlse >= 0) {
            const AbiTensor *t = &args->t[air->tlse];
            float lse = isnan(m) || m == INFINITY ? m
                      : sum > 0 ? (float)M_LN2 * (m + log2f(sum)) : -INFINITY;
            ((float *)t->data)[b * t->strides[0] + h * t->strides[1] + i * t->strides[2]] = lse;
        }
    }
}

AttnStatus rt_cpu_group_run(const AirKernel *air, const KernelPlan *plan, AbiCpuGroupEntry entry,
                            const AbiArgs *args, int64_t nsplit, int32_t nthreads)
{
    const AbiTensor *q = &args->t[air->tq];
    int64_t B = q->shape[0], hq = q->shape[1], lq = q->shape[2];
    int64_t hkv = args->t[air->tk].shape[1], lk = args->t[air->tk].shape[2];
    int64_t dv = air->dv, rows = hq / hkv * lq;
    int64_t ntiles = (lk + plan->tile_n - 1) / plan->tile_n;
    if (nsplit < 1 || ntiles < 1) nsplit = 1;
    GroupLaunch l = {entry, args, hkv, nsplit, (ntiles + nsplit - 1) / nsplit, NULL, rows * (dv + 2)};
    if (nsplit == 1) l.tps = ntiles > 0 ? ntiles : 1;
    if (B * hkv == 0) return ATTN_OK;
    if (nsplit > 1) {
        l.part = malloc(rt_work_bytes(WORK_SPLIT_PARTS, air, args, nsplit));
        if (!l.part) return rt_fail(ATTN_ERR_NOMEM, "out of memory for the decode splits");
    }
    rt_parallel_for(B * hkv * nsplit, nthreads, run_group_item, &l);
    if (l.part) {
        for (int64_t bh = 0; bh < B * hkv; bh++) combine(air, args, &l, bh, rows, lq, dv);
        free(l.part);
    }
    return ATTN_OK;
}
