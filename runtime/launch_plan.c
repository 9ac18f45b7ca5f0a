/* launch_plan.c: what every launch recipe asks of a kernel's plan: the loaded entry point of a
 * role, and the size of a workspace by its rule (the recipes in launch_cpu.c,
 * launch_cpu_select.c and launch_gpu_decode.c call these; nothing here calls a recipe). */
#include "rt.h"

void (*rt_cpu_fn(const AttnKernel *k, EntryRole role))(void)
{
    for (int32_t i = 0; i < k->plan.nentries; i++)
        if (k->plan.entries[i].role == (int32_t)role) return k->cpu_fn[i];
    return NULL;
}

size_t rt_work_bytes(WorkRule rule, const AirKernel *air, const AbiArgs *args, int64_t n)
{
    const AbiTensor *q = &args->t[air->tq], *k = &args->t[air->tk];
    int64_t bs = air->sel.kind == SEL_BLOCKS && air->sel.block > 0 ? air->sel.block : 1;
    switch (rule) {
    case WORK_SPLIT_PARTS: {
        int64_t rows = k->shape[1] > 0 ? q->shape[1] / k->shape[1] * q->shape[2] : 0;
        return (size_t)(q->shape[0] * k->shape[1] * rows * n) * (size_t)(air->dv + 2) *
               sizeof(float);
    }
    case WORK_SEL_MEANS:
        return (size_t)(q->shape[0] * k->shape[1] * ((k->shape[2] + bs - 1) / bs)) * (size_t)air->dk * sizeof(float);
    case WORK_SEL_IDS:
        return (size_t)(q->shape[0] * n * q->shape[2]) * (size_t)air->sel.topk * sizeof(int32_t);
    }
    return 0;
}
