/* launch_gpu.c: launches a PTX kernel on a CUDA stream: grid (query blocks, Hq, B), the plan's
 * threads per block and dynamic shared memory; the AbiArgs (with the tile map) go to the
 * device through the driver layer. Grid dims are checked against the driver's limits here so
 * that a too-large launch is an argument error, not a CUDA error. */
#include "rt.h"

AttnStatus rt_launch_gpu(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    const AbiTensor *q = &args->t[k->air->tq];
    int64_t qblocks = rt_query_blocks(k, args);
    if (qblocks > INT32_MAX || q->shape[1] > 65535 || q->shape[0] > 65535)
        return rt_fail(ATTN_ERR_ARG, "tensor 'q': grid (%lld, %lld, %lld) exceeds CUDA's limits "
                       "(2^31-1, 65535, 65535)", (long long)qblocks, (long long)q->shape[1],
                       (long long)q->shape[0]);
    if (qblocks == 0 || q->shape[1] == 0 || q->shape[0] == 0) return ATTN_OK;
    return rt_gpu_launch(k, args, o->stream);
}
