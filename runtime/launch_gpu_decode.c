/* launch_gpu_decode.c: launches the split-KV decode entries of a GPU kernel (kernel_abi.h,
 * compiler/ptx/skel_decode.c) when a launch has few rows per kv head: Lq * (Hq / Hkv) <=
 * the decode entry's rows. The keys are cut into splits of a multiple of 32 keys (at least 256) so
 * that B * Hkv * ceil(R / 4) * splits warps fill the GPU about 4 times over (16 warps an SM);
 * the split entry writes each split's (O, m, l) to a workspace, the combine entry merges them.
 *
 * The workspace belongs to the kernel: allocated on first use, grown (never per launch) when a
 * launch needs more. One mutex guards it; a launch on another stream than the last one waits
 * for that launch's event first, and growing waits on the host for it (the old buffer may be
 * read until then). No tile map: the split entry evaluates the mask on every element.
 *
 * The two entries are JIT-compiled by the driver at the first launch that takes this path, not
 * when the kernel is loaded: they cost as much driver time as the attention kernel itself, and
 * most kernels never see a decode-shaped launch. */
#include "rt.h"
#include "cuda.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEC_ROWS_PER_WARP = 4, DEC_WARPS = 4, DEC_MIN_SPLIT = 256, DEC_WARPS_PER_SM = 64 };

struct RtGpuDecode {
    RtCudaKernel split, combine;
    bool loaded;       /* split and combine are JIT-compiled (at the first decode launch) */
    int sm_count;
    pthread_mutex_t lock;
    RtDevPtr ws;
    size_t ws_bytes;
    void *done;        /* event after the last launch that used the workspace */
    void *stream;      /* the stream of that launch */
};

AttnStatus rt_gpu_decode_load(AttnKernel *k)
{
    k->decode = NULL;
    if (!plan_entry(&k->plan, ROLE_DECODE) || !plan_entry(&k->plan, ROLE_DECODE_COMBINE))
        return ATTN_OK;
    RtCudaDevice info;
    AttnStatus st = rt_cuda_device_info(0, &info);
    if (st != ATTN_OK) return st;
    RtGpuDecode *d = calloc(1, sizeof *d);
    if (!d) return rt_fail(ATTN_ERR_NOMEM, "out of memory");
    d->sm_count = info.sm_count > 0 ? info.sm_count : 1;
    pthread_mutex_init(&d->lock, NULL);
    k->decode = d;
    return ATTN_OK;
}

/* The split and combine entries, on first use; d->lock held. */
static AttnStatus decode_entries(const AttnKernel *k, RtGpuDecode *d)
{
    if (d->loaded) return ATTN_OK;
    const char *ptx = (const char *)k->code.data;
    const PlanEntry *s = plan_entry(&k->plan, ROLE_DECODE);
    const PlanEntry *c = plan_entry(&k->plan, ROLE_DECODE_COMBINE);
    AttnStatus st = rt_cuda_kernel(0, ptx, s->name, s->threads, s->smem_bytes, &d->split);
    if (st == ATTN_OK) st = rt_cuda_kernel(0, ptx, c->name, c->threads, c->smem_bytes, &d->combine);
    d->loaded = st == ATTN_OK;
    return st;
}

void rt_gpu_decode_free(AttnKernel *k)
{
    RtGpuDecode *d = k->decode;
    if (!d) return;
    if (d->done) rt_cuda_event_wait(d->done);
    rt_cuda_free(d->ws);
    rt_cuda_event_destroy(d->done);
    pthread_mutex_destroy(&d->lock);
    free(d);
    k->decode = NULL;
}

bool rt_gpu_decode_fits(const AttnKernel *k, const AbiArgs *a)
{
    if (!k->decode) return false;
    const AbiTensor *q = &a->t[k->air->tq], *kt = &a->t[k->air->tk];
    if (kt->shape[1] <= 0 || q->shape[1] % kt->shape[1] || q->shape[2] < 1) return false;
    return q->shape[2] * (q->shape[1] / kt->shape[1]) <= plan_entry(&k->plan, ROLE_DECODE)->rows;
}

AttnStatus rt_launch_gpu_decode(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    RtGpuDecode *d = k->decode;
    const AbiTensor *q = &args->t[k->air->tq], *kt = &args->t[k->air->tk];
    int64_t b = q->shape[0], hkv = kt->shape[1], lk = kt->shape[2];
    int64_t rows = q->shape[2] * (q->shape[1] / hkv);
    if (b == 0 || hkv == 0 || rows == 0) return ATTN_OK;
    if (b > 65535 || hkv > 65535)
        return rt_fail(ATTN_ERR_ARG, "tensor 'k': batch %lld and kv heads %lld must be at most 65535",
                       (long long)b, (long long)hkv);
    int64_t nrc = (rows + DEC_ROWS_PER_WARP - 1) / DEC_ROWS_PER_WARP;
    int64_t want = ((int64_t)d->sm_count * DEC_WARPS_PER_SM + b * hkv * nrc - 1) / (b * hkv * nrc);
    int64_t slen = (lk + want - 1) / (want > 0 ? want : 1);
    slen = (slen + 31) / 32 * 32;
    if (slen < DEC_MIN_SPLIT) slen = DEC_MIN_SPLIT;
    int64_t nsplit = lk > 0 ? (lk + slen - 1) / slen : 1;
    if (slen > INT32_MAX || nsplit > INT32_MAX)
        return rt_fail(ATTN_ERR_ARG, "tensor 'k': %lld keys exceed the decode path's range", (long long)lk);
    size_t bytes = rt_work_bytes(WORK_SPLIT_PARTS, k->air, args, nsplit);
    AbiArgs a = *args;
    a.splits = (int32_t)nsplit;
    a.split_keys = (int32_t)slen;
    void *stream = o->stream;
    pthread_mutex_lock(&d->lock);
    AttnStatus st = decode_entries(k, d);
    if (st == ATTN_OK && d->ws_bytes < bytes) {   /* grow: nothing may still read the old buffer */
        if (d->done) st = rt_cuda_event_wait(d->done);
        if (st == ATTN_OK) {
            rt_cuda_free(d->ws);
            d->ws = 0;
            d->ws_bytes = 0;
            st = rt_cuda_malloc(d->split.device, bytes, &d->ws);
            if (st == ATTN_OK) d->ws_bytes = bytes;
        }
    } else if (st == ATTN_OK && d->done && d->stream != stream) {
        st = rt_cuda_stream_wait(stream, d->done);
    }
    if (st == ATTN_OK && !d->done) st = rt_cuda_event_new(&d->done);
    a.work[0] = (void *)(uintptr_t)d->ws;   /* the plan's one workspace of these entries */
    uint64_t gx = (uint64_t)((nsplit + DEC_WARPS - 1) / DEC_WARPS * nrc);
    if (st == ATTN_OK && (gx > INT32_MAX || rows > INT32_MAX))
        st = rt_fail(ATTN_ERR_ARG, "decode grid too large (%llu blocks of splits)", (unsigned long long)gx);
    if (st == ATTN_OK) st = rt_cuda_launch(&d->split, (uint32_t)gx, (uint32_t)hkv, (uint32_t)b, stream, &a);
    if (st == ATTN_OK)
        st = rt_cuda_launch(&d->combine, (uint32_t)rows, (uint32_t)hkv, (uint32_t)b, stream, &a);
    if (st == ATTN_OK) st = rt_cuda_event_record(d->done, stream);
    d->stream = stream;
    pthread_mutex_unlock(&d->lock);
    return st;
}
