/* rt_loader.c: loads a kernel's code and frees it: the object through the CPU JIT (each entry of
 * the plan looked up by name), the PTX through the CUDA driver (the main entry, attention or
 * recurrence, then the decode entries and the tile-map state); device memory and f16 / bf16 conversions for `attnc
 * run` and the tests. */
#include "rt.h"
#include "cuda.h"
#include "dtype.h"
#include "jit.h"

#include <stdio.h>

AttnStatus rt_jit_load(AttnKernel *k)
{
    char err[1024];
    RtJit *j = rt_jit_create(err, sizeof err);
    if (!j) return rt_fail(ATTN_ERR_TARGET, "cannot create the CPU JIT: %s", err);
    k->jit = j;
    if (!rt_jit_add_object(j, k->code.data, k->code.size, err, sizeof err))
        return rt_fail(ATTN_ERR_INTERNAL, "cannot load the kernel's object: %s", err);
    for (int32_t i = 0; i < k->plan.nentries; i++) {
        const char *name = k->plan.entries[i].name;
        void *fn = rt_jit_lookup(j, name, err, sizeof err);
        if (!fn) return rt_fail(ATTN_ERR_INTERNAL, "entry '%s' not found: %s", name, err);
        k->cpu_fn[i] = (void (*)(void))fn;
    }
    return ATTN_OK;
}

void rt_jit_free(AttnKernel *k)
{
    rt_jit_dispose(k->jit);
    k->jit = NULL;
}

AttnStatus rt_gpu_load(AttnKernel *k)
{
    RtCudaKernel *ck = arena_alloc(&k->arena, sizeof *ck);
    if (!ck) return rt_fail(ATTN_ERR_NOMEM, "out of memory");
    /* The code is NUL-terminated by rt_kernel_load, as cuModuleLoadData wants PTX text. */
    const PlanEntry *main = k->plan.nentries > 0 ? &k->plan.entries[0] : NULL;   /* attention or recurrence */
    if (!main) return rt_fail(ATTN_ERR_INTERNAL, "the kernel's plan has no entry");
    AttnStatus st = rt_cuda_kernel(0, (const char *)k->code.data, main->name, main->threads,
                                   main->smem_bytes, ck);
    if (st == ATTN_OK) k->gpu = ck;
    if (st == ATTN_OK) st = rt_gpu_decode_load(k);
    return st == ATTN_OK ? rt_gpu_maps_new(k) : st;
}

void rt_gpu_free(AttnKernel *k)
{
    rt_gpu_maps_free(k);
    rt_gpu_decode_free(k);
    k->gpu = NULL;   /* modules stay in the driver's cache */
}

AttnStatus rt_dev_alloc(size_t bytes, void **ptr)
{
    RtDevPtr p = 0;
    AttnStatus st = rt_cuda_malloc(0, bytes, &p);
    *ptr = (void *)(uintptr_t)p;
    return st;
}

void rt_dev_free(void *ptr)
{
    if (ptr) rt_cuda_free((RtDevPtr)(uintptr_t)ptr);
}

AttnStatus rt_dev_upload(void *dst, const void *src, size_t bytes)
{
    return rt_cuda_upload((RtDevPtr)(uintptr_t)dst, src, bytes);
}

AttnStatus rt_dev_download(void *dst, const void *src, size_t bytes)
{
    return rt_cuda_download(dst, (RtDevPtr)(uintptr_t)src, bytes);
}

AttnStatus rt_dev_sync(void *stream) { return rt_cuda_stream_sync(stream); }

float rt_half_to_f32(uint16_t h, AttnDtype d)
{
    return d == ATTN_BF16 ? dtype_bf16_to_f32(h) : dtype_f16_to_f32(h);
}

uint16_t rt_f32_to_half(float f, AttnDtype d)
{
    return d == ATTN_BF16 ? dtype_f32_to_bf16(f) : dtype_f32_to_f16(f);
}
