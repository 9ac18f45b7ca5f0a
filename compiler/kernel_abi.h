/* kernel_abi.h: the one struct shared by generated kernels (CPU and GPU) and the runtime that
 * launches them. The code generators compute field addresses from the offsets asserted here,
 * so the layout is defined once. Plain C types only; included by runtime/ and compiler/. */
#ifndef ATTNC_KERNEL_ABI_H
#define ATTNC_KERNEL_ABI_H

#include <stddef.h>
#include <stdint.h>

enum {
    ABI_MAX_TENSORS = 16,
    ABI_MAX_RANK = 8,
    ABI_MAX_PARAMS = 32,
    ABI_MAX_SYMS = 16,
};

/* Tile classes of the mask analysis, as stored in the tile map. */
enum { TILE_EMPTY = 0, TILE_PARTIAL = 1, TILE_FULL = 2 };

typedef struct AbiTensor {
    void *data;                       /* host or device pointer */
    int64_t shape[ABI_MAX_RANK];
    int64_t strides[ABI_MAX_RANK];    /* in elements */
} AbiTensor;

/* Everything a kernel needs besides its work-item coordinates.
 * - t[]: the spec's tensors in declaration order.
 * - sym[]: the runtime value of each AIR symbol (B, Hq, Hkv, Lq, Lk, ...).
 * - iparam/fparam: each param as i32 and as f32 (the kernel reads the one its type needs;
 *   bool params are 0/1 in iparam).
 * - q_offset: the position of query row 0 (Lk - Lq when Lq < Lk, else 0): i = row + q_offset.
 * - tiles: the mask's tile map, tiles[b*tile_sb + h*tile_sh + qt*tile_sq + kt] with tiles of
 *   tile_m query rows by tile_n keys; a stride of 0 means the map does not depend on that
 *   coordinate. NULL means every tile is PARTIAL (evaluate the mask everywhere). */
typedef struct AbiArgs {
    AbiTensor t[ABI_MAX_TENSORS];
    int64_t sym[ABI_MAX_SYMS];
    int32_t iparam[ABI_MAX_PARAMS];
    float fparam[ABI_MAX_PARAMS];
    int64_t q_offset;
    const uint8_t *tiles;
    int64_t tile_sb, tile_sh, tile_sq;
    int32_t tile_m, tile_n;
} AbiArgs;

_Static_assert(sizeof(AbiTensor) == 136, "AbiTensor layout");
_Static_assert(offsetof(AbiArgs, sym) == ABI_MAX_TENSORS * 136, "AbiArgs.sym");
_Static_assert(offsetof(AbiArgs, iparam) == offsetof(AbiArgs, sym) + 8 * ABI_MAX_SYMS, "iparam");
_Static_assert(offsetof(AbiArgs, fparam) == offsetof(AbiArgs, iparam) + 4 * ABI_MAX_PARAMS,
               "fparam");
_Static_assert(offsetof(AbiArgs, q_offset) == offsetof(AbiArgs, fparam) + 4 * ABI_MAX_PARAMS,
               "q_offset");
_Static_assert(offsetof(AbiArgs, tiles) == offsetof(AbiArgs, q_offset) + 8, "tiles");
_Static_assert(offsetof(AbiArgs, tile_m) == offsetof(AbiArgs, tiles) + 32, "tile_m");

/* CPU entry point, generated per spec and called by the runtime's thread pool once per work
 * item: one (batch, query head, query block of tile_m rows).
 *   void NAME(const AbiArgs *args, int64_t b, int64_t h, int64_t q_block);
 * GPU entry point: a kernel taking the AbiArgs by value as its one parameter (docs/gpu.md),
 * with blockIdx.x = query block, blockIdx.y = h, blockIdx.z = b. */
typedef void (*AbiCpuEntry)(const AbiArgs *args, int64_t b, int64_t h, int64_t q_block);

#endif
