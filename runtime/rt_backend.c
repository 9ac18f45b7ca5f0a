/* rt_backend.c: the runtime's seam to the compiler (pipeline, AIR text form, mask analysis,
 * f64 reference), the CPU JIT and the CUDA driver. The rest of libattn calls only these
 * rt_ functions, so each piece is wired in one place. */
#include "rt.h"
#include "dtype.h"

#include <stdlib.h>
#include <string.h>

static AttnStatus missing(const char *what)
{
    return rt_fail(ATTN_ERR_UNSUPPORTED, "%s is not part of this build of libattn", what);
}

AttnStatus rt_compile_spec(Arena *a, const char *text, const char *name,
                           const AttnCompileOptions *opts, RtEntry *e)
{
    (void)a, (void)text, (void)name, (void)opts, (void)e;
    return missing("the compiler");
}

const Target *rt_target(const char *name)
{
    (void)name;
    return NULL;
}

AirKernel *rt_air_from_text(Arena *a, const char *text)
{
    Source *src = arena_alloc(a, sizeof *src);
    if (!src) {
        rt_fail(ATTN_ERR_NOMEM, "out of memory parsing AIR");
        return NULL;
    }
    *src = (Source){"<kernel AIR>", text, strlen(text)};
    Diags d;
    diags_init(&d, a, src);
    AirKernel *k = air_parse(a, &d);
    if (k && !air_verify(k, &d, "load")) k = NULL;
    if (!k) rt_fail(ATTN_ERR_INTERNAL, "the kernel's AIR does not load:\n%s",
                    diags_render(&d, false));
    return k;
}

struct MaskInfo *rt_mask_info(Arena *a, AirKernel *air)
{
    (void)a, (void)air;
    return NULL;
}

AttnStatus rt_tile_map(const AttnKernel *k, AbiArgs *args, uint8_t **map)
{
    (void)k;
    args->tiles = NULL;
    *map = NULL;
    return ATTN_OK;
}

AttnStatus rt_reference(const AttnKernel *k, const AbiArgs *args, const AirDtype *dtypes)
{
    (void)k, (void)args, (void)dtypes;
    return missing("the f64 reference");
}

AttnStatus rt_visible_pairs(const AttnKernel *k, const AbiArgs *args, double *pairs)
{
    (void)k, (void)args, (void)pairs;
    return missing("the f64 reference");
}

AttnStatus rt_jit_load(AttnKernel *k)
{
    (void)k;
    return missing("the CPU JIT");
}

void rt_jit_free(AttnKernel *k) { (void)k; }

AttnStatus rt_gpu_load(AttnKernel *k)
{
    (void)k;
    return missing("the CUDA launcher");
}

AttnStatus rt_gpu_launch(const AttnKernel *k, const AbiArgs *args, void *stream)
{
    (void)k, (void)args, (void)stream;
    return missing("the CUDA launcher");
}

void rt_gpu_free(AttnKernel *k) { (void)k; }

AttnStatus rt_dev_alloc(size_t bytes, void **ptr)
{
    (void)bytes;
    *ptr = NULL;
    return missing("the CUDA launcher");
}

void rt_dev_free(void *ptr) { (void)ptr; }

AttnStatus rt_dev_upload(void *dst, const void *src, size_t bytes)
{
    (void)dst, (void)src, (void)bytes;
    return missing("the CUDA launcher");
}

AttnStatus rt_dev_download(void *dst, const void *src, size_t bytes)
{
    (void)dst, (void)src, (void)bytes;
    return missing("the CUDA launcher");
}

AttnStatus rt_dev_sync(void *stream)
{
    (void)stream;
    return missing("the CUDA launcher");
}

float rt_half_to_f32(uint16_t h, AttnDtype d)
{
    return d == ATTN_BF16 ? dtype_bf16_to_f32(h) : dtype_f16_to_f32(h);
}

uint16_t rt_f32_to_half(float f, AttnDtype d)
{
    return d == ATTN_BF16 ? dtype_f32_to_bf16(f) : dtype_f32_to_f16(f);
}

char *rt_host_cpu(void) { return strdup(""); }
