/* aot.c: kernels compiled ahead of time (`attnc --emit=obj,header`). The generated header
 * describes its kernel in an AttnAotKernel; the first launch builds a kernel handle from it
 * (AIR parsed back, mask analysis, the linked entry point or the embedded PTX) and keeps it in
 * a small process-wide table keyed by the descriptor's address, so later launches go straight
 * to validation and launch, the same code as attn_launch. */
#include "rt.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct AotSlot {
    const AttnAotKernel *desc;
    AttnKernel *kernel;
} AotSlot;

static pthread_mutex_t aot_lock = PTHREAD_MUTEX_INITIALIZER;
static AotSlot *aot_slots;
static size_t aot_count, aot_cap;

static AttnStatus build(const AttnAotKernel *d, AttnKernel **out)
{
    if (d->abi != ATTN_AOT_ABI)
        return rt_fail(ATTN_ERR_ARG, "kernel '%s': the header was generated for AOT ABI %d but "
                       "this libattn has %d; regenerate it with this attnc", d->name, d->abi,
                       ATTN_AOT_ABI);
    RtEntry e = {
        .target = d->target,
        .air_text = d->air,
        .code = {(unsigned char *)d->code, d->code_size},
    };
    Arena a;
    arena_init(&a);
    if (!d->plan || plan_unpack(&a, d->plan, d->plan_size, &e.plan) != d->plan_size) {
        arena_free(&a);
        return rt_fail(ATTN_ERR_ARG, "kernel '%s': the descriptor's plan is unreadable; regenerate "
                       "the header with this attnc", d->name);
    }
    const Target *t = d->target ? rt_target(d->target) : NULL;
    bool gpu = t && t->arch == ARCH_PTX;
    AttnStatus st;
    if (!gpu && (!d->cpu_entries || d->ncpu_entries != e.plan.nentries))
        st = rt_fail(ATTN_ERR_ARG, "kernel '%s': the descriptor has %d CPU entry points where its "
                     "plan has %d", d->name, d->cpu_entries ? d->ncpu_entries : 0, e.plan.nentries);
    else
        st = rt_kernel_load(&e, gpu ? NULL : d->cpu_entries, out);
    arena_free(&a);   /* rt_kernel_load copied what it keeps */
    return st;
}

AttnStatus attn_aot_kernel(const AttnAotKernel *desc, AttnKernel **out)
{
    rt_clear_error();
    if (!desc || !out) return rt_fail(ATTN_ERR_ARG, "desc or out is NULL");
    AttnStatus st = ATTN_OK;
    pthread_mutex_lock(&aot_lock);
    for (size_t i = 0; i < aot_count; i++)
        if (aot_slots[i].desc == desc) {
            *out = aot_slots[i].kernel;
            pthread_mutex_unlock(&aot_lock);
            return ATTN_OK;
        }
    AttnKernel *k = NULL;
    if (aot_count == aot_cap) {
        size_t cap = aot_cap ? aot_cap * 2 : 8;
        AotSlot *ns = realloc(aot_slots, cap * sizeof *ns);
        if (!ns) st = rt_fail(ATTN_ERR_NOMEM, "out of memory");
        else aot_slots = ns, aot_cap = cap;
    }
    if (st == ATTN_OK) st = build(desc, &k);
    if (st == ATTN_OK) {
        aot_slots[aot_count++] = (AotSlot){desc, k};
        *out = k;
    }
    pthread_mutex_unlock(&aot_lock);
    return st;
}

AttnStatus attn_launch_aot(const AttnAotKernel *desc, const AttnTensor *tensors,
                           int32_t ntensors, const double *params, int32_t nparams,
                           const AttnLaunchOptions *opts)
{
    AttnKernel *k;
    AttnStatus st = attn_aot_kernel(desc, &k);
    if (st != ATTN_OK) return st;
    return rt_launch(k, tensors, ntensors, params, nparams, opts);
}
