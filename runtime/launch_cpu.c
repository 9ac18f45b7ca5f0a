/* launch_cpu.c: runs a JIT'd (or AOT-linked) CPU kernel over its work items, one (batch,
 * query head, block of tile_m query rows) each, on the thread pool. Items are ordered with
 * the last query blocks first: under a causal mask they visit the most key tiles, and handing
 * the longest items out first evens out the threads' finishing times. */
#include "rt.h"

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

AttnStatus rt_launch_cpu(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    if (!k->cpu_entry) return rt_fail(ATTN_ERR_INTERNAL, "kernel has no loaded entry point");
    const AbiTensor *q = &args->t[k->air->tq];
    CpuLaunch l = {k->cpu_entry, args, q->shape[1], q->shape[0] * q->shape[1],
                   rt_query_blocks(k, args)};
    if (l.bh == 0 || l.qblocks == 0) return ATTN_OK;
    rt_parallel_for(l.bh * l.qblocks, o->num_threads, run_item, &l);
    return ATTN_OK;
}
