/* rt_backend.c: the runtime's seam to the compiler (pipeline, AIR text form, mask analysis,
 * f64 reference), the CPU JIT and the CUDA driver. The rest of libattn calls only these
 * rt_ functions, so each piece is wired in one place. */
#include "rt.h"
#include "dtype.h"
#include "pass.h"

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
    Diags d;
    diags_init(&d, a, NULL);
    return pass_mask_tiles(a, air, &d);
}

/* The tile map of `args` for tiles of tm x tn (malloc'd into *map; NULL when none). */
static AttnStatus build_map(const AttnKernel *k, AbiArgs *args, int32_t tm, int32_t tn,
                            uint8_t **map)
{
    *map = NULL;
    args->tiles = NULL;
    args->tile_sb = args->tile_sh = args->tile_sq = 0;
    if (!k->mask || tm <= 0 || tn <= 0) return ATTN_OK;
    size_t size = mask_tile_map_size(k->mask, k->air, args, tm, tn, &args->tile_sb,
                                     &args->tile_sh, &args->tile_sq);
    if (size == 0) return ATTN_OK;
    uint8_t *m = malloc(size);
    if (!m) return rt_fail(ATTN_ERR_NOMEM, "out of memory for a tile map of %zu bytes", size);
    char err[512];
    if (!mask_tile_map(k->mask, k->air, args, tm, tn, m, size, err, sizeof err)) {
        free(m);
        return rt_fail(ATTN_ERR_ARG, "%s", err);
    }
    *map = m;
    args->tiles = m;
    return ATTN_OK;
}

AttnStatus rt_tile_map(const AttnKernel *k, AbiArgs *args, uint8_t **map)
{
    /* On a GPU the side tensors are device memory, which the host-side map cannot read: such
     * masks are evaluated in every tile (the map stays NULL). */
    if (k->is_gpu && k->mask && k->mask->tensors) {
        *map = NULL;
        args->tiles = NULL;
        return ATTN_OK;
    }
    return build_map(k, args, k->plan.tile_m, k->plan.tile_n, map);
}

AttnStatus rt_visible_pairs(const AttnKernel *k, const AbiArgs *args, double *pairs,
                            bool *exact)
{
    /* The map of 1 x 1 tiles classifies single elements: FULL is visible, EMPTY is not.
     * PARTIAL remains only where the interval evaluation is imprecise; it is counted as
     * visible and the count flagged as an upper bound. */
    AbiArgs a = *args;
    uint8_t *map;
    AttnStatus st = build_map(k, &a, 1, 1, &map);
    if (st != ATTN_OK) return st;
    const AbiTensor *q = &args->t[k->air->tq], *kt = &args->t[k->air->tk];
    int64_t B = q->shape[0], H = q->shape[1], lq = q->shape[2], lk = kt->shape[2];
    double n = 0;
    int64_t partial = 0;
    if (!map) {
        n = (double)B * (double)H * (double)lq * (double)lk;
        partial = k->mask && k->mask->has_mask;
    } else {
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < lq; i++) {
                    const uint8_t *row = map + b * a.tile_sb + h * a.tile_sh + i * a.tile_sq;
                    for (int64_t j = 0; j < lk; j++) {
                        n += row[j] != TILE_EMPTY;
                        partial += row[j] == TILE_PARTIAL;
                    }
                }
    }
    free(map);
    *pairs = n;
    *exact = partial == 0 && k->air->sel.kind == SEL_NONE;
    return ATTN_OK;
}

AttnStatus rt_reference(const AttnKernel *k, const AbiArgs *args, const AirDtype *dtypes)
{
    (void)k, (void)args, (void)dtypes;
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
