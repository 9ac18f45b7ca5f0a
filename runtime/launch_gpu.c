/* launch_gpu.c: launches a GPU kernel on a CUDA stream through its skeleton's recipe: for the
 * FlashAttention skeleton, grid (query blocks, Hq, B), the plan's threads per block and dynamic
 * shared memory, the AbiArgs by value, with the tile map that gpu_tile_maps.c provides (or the
 * split-KV decode entries of launch_gpu_decode.c); for the recurrence skeleton, grid (state column
 * blocks, o's heads, B). Grid dims are checked against the driver's
 * limits here so that a too-large launch is an argument error. */
#include "rt.h"
#include "cuda.h"

#include <stdint.h>

/* One launch of the attention entry on a grid. */
typedef struct FaGrid {
    const RtCudaKernel *ck;
    uint32_t gx, gy, gz;
    void *stream;
} FaGrid;

static AttnStatus fa_grid_launch(void *ctx, const AbiArgs *a)
{
    const FaGrid *l = ctx;
    return rt_cuda_launch(l->ck, l->gx, l->gy, l->gz, l->stream, a);
}

/* The FlashAttention skeleton's recipe: the decode entries when the launch fits them, else the
 * attention entry over (query block, head, batch) with its tile map. */
static AttnStatus launch_fa(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    if (rt_gpu_decode_fits(k, args)) return rt_launch_gpu_decode(k, args, o);
    const AbiTensor *q = &args->t[k->air->tq];
    int64_t qblocks = rt_query_blocks(k, args);
    if (qblocks > INT32_MAX || q->shape[1] > 65535 || q->shape[0] > 65535)
        return rt_fail(ATTN_ERR_ARG, "tensor 'q': grid (%lld, %lld, %lld) exceeds CUDA's limits "
                       "(2^31-1, 65535, 65535)", (long long)qblocks, (long long)q->shape[1],
                       (long long)q->shape[0]);
    if (qblocks == 0 || q->shape[1] == 0 || q->shape[0] == 0) return ATTN_OK;
    const RtCudaKernel *ck = k->gpu;
    void *stream = o->stream;
    uint32_t gx = (uint32_t)qblocks, gy = (uint32_t)q->shape[1], gz = (uint32_t)q->shape[0];
    AbiArgs a = *args;
    a.tiles = NULL;
    a.tile_sb = a.tile_sh = a.tile_sq = 0;
    a.tile_m = k->plan.tile_m;
    a.tile_n = k->plan.tile_n;
    FaGrid l = {ck, gx, gy, gz, stream};
    return rt_gpu_with_map(k, args, &a, stream, o->reuse_tile_map, fa_grid_launch, &l);
}

/* The recurrence skeleton's recipe: grid (state column blocks of tile_m, o's heads, B). */
static AttnStatus launch_recur(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    const AbiTensor *ot = &args->t[k->air->to];
    int64_t blocks = (k->air->dv + k->plan.tile_m - 1) / k->plan.tile_m;
    if (ot->shape[1] > 65535 || ot->shape[0] > 65535)
        return rt_fail(ATTN_ERR_ARG, "tensor 'o': grid (%lld, %lld, %lld) exceeds CUDA's limits "
                       "(2^31-1, 65535, 65535)", (long long)blocks, (long long)ot->shape[1],
                       (long long)ot->shape[0]);
    if (ot->shape[1] == 0 || ot->shape[0] == 0) return ATTN_OK;
    return rt_cuda_launch(k->gpu, (uint32_t)blocks, (uint32_t)ot->shape[1], (uint32_t)ot->shape[0],
                          o->stream, args);
}

AttnStatus rt_launch_gpu(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    switch (k->plan.skeleton) {   /* one launch recipe per skeleton */
    case SKEL_FA: return launch_fa(k, args, o);
    case SKEL_RECUR: return launch_recur(k, args, o);
    default: break;
    }
    return rt_fail(ATTN_ERR_INTERNAL, "no GPU launch recipe for the kernel's skeleton (%d)",
                   k->plan.skeleton);
}
