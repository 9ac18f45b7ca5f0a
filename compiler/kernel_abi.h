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
    ABI_MAX_WORK = 4,     /* workspaces of a launch (the plan's PlanWork) */
    ABI_MAX_TMAPS = 4,    /* TMA tensor-map descriptors (CUtensorMap: 128 bytes, 64-aligned) */
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
    /* Below: fields only some skeletons read. A GPU entry declares the prefix of AbiArgs it
     * reads as its parameter (ABI_ARGS_CORE bytes, or all of it), so adding a field here
     * leaves the others' code unchanged. */
    void *work[ABI_MAX_WORK];          /* the launch's workspaces, in the plan's order */
    int32_t splits, split_keys;        /* split-KV: key splits and keys per split */
    _Alignas(64) uint8_t tmap[ABI_MAX_TMAPS][128];   /* TMA descriptors, 64-byte aligned */
} AbiArgs;

/* The bytes of AbiArgs that every entry reads (up to the tile map's shape). */
#define ABI_ARGS_CORE offsetof(AbiArgs, work)

_Static_assert(sizeof(AbiTensor) == 136, "AbiTensor layout");
_Static_assert(offsetof(AbiArgs, sym) == ABI_MAX_TENSORS * 136, "AbiArgs.sym");
_Static_assert(offsetof(AbiArgs, iparam) == offsetof(AbiArgs, sym) + 8 * ABI_MAX_SYMS, "iparam");
_Static_assert(offsetof(AbiArgs, fparam) == offsetof(AbiArgs, iparam) + 4 * ABI_MAX_PARAMS,
               "fparam");
_Static_assert(offsetof(AbiArgs, q_offset) == offsetof(AbiArgs, fparam) + 4 * ABI_MAX_PARAMS,
               "q_offset");
_Static_assert(offsetof(AbiArgs, tiles) == offsetof(AbiArgs, q_offset) + 8, "tiles");
_Static_assert(offsetof(AbiArgs, tile_m) == offsetof(AbiArgs, tiles) + 32, "tile_m");
_Static_assert(ABI_ARGS_CORE == offsetof(AbiArgs, tile_n) + 4, "AbiArgs core ends at tile_n");
_Static_assert(offsetof(AbiArgs, splits) == ABI_ARGS_CORE + 8 * ABI_MAX_WORK, "splits");
_Static_assert(offsetof(AbiArgs, tmap) % 64 == 0 && sizeof(AbiArgs) <= 4096,
               "tensor maps 64-byte aligned; all of AbiArgs fits a kernel's 4 KB of parameters");

/* CPU entry point, generated per spec and called by the runtime's thread pool once per work
 * item: one (batch, query head, query block of tile_m rows).
 *   void NAME(const AbiArgs *args, int64_t b, int64_t h, int64_t q_block);
 * GPU entry point: a kernel taking the AbiArgs by value as its one parameter (docs/gpu.md),
 * with blockIdx.x = query block, blockIdx.y = h, blockIdx.z = b. */
typedef void (*AbiCpuEntry)(const AbiArgs *args, int64_t b, int64_t h, int64_t q_block);

/* CPU head-group entry (decode): the plan's ROLE_KVGROUP entry (`<entry>_kvgroup`), used by
 * the runtime when Lq <= its max_lq and (Hq / Hkv) * Lq <= its rows. One work item is (batch b, kv head hk, key tiles
 * [tile0, tile1) of tile_n keys): its rows are every query row of every query head of the
 * group, row r = g * Lq + i for head hk * (Hq / Hkv) + g and query row i, so each K and V row
 * is read from memory once for the whole group.
 *   void NAME_kvgroup(const AbiArgs *args, int64_t b, int64_t hk, int64_t tile0,
 *                     int64_t tile1, float *part);
 * part == NULL: the item covers every key tile and writes o (and lse) itself.
 * part != NULL (flash-decoding split): the item writes its unnormalised state there, row r at
 * part[r * (Dv + 2)]: O_r[Dv] = sum_j 2^(s_j - m_r) v_j, then m_r (running max of the logits
 * in log2 units, -inf when no key was visible) and l_r = sum_j 2^(s_j - m_r); the split with
 * tile0 == 0 folds the sink (if any) in as one more logit with a zero value. The runtime then
 * combines the splits: m = max m_s, l = sum 2^(m_s - m) l_s, o = sum 2^(m_s - m) O_s / l,
 * lse = ln 2 (m + log2 l) (o = 0, lse = -inf when l == 0). */
typedef void (*AbiCpuGroupEntry)(const AbiArgs *args, int64_t b, int64_t hk, int64_t tile0,
                                 int64_t tile1, float *part);

/* CPU selector entries (docs/language.md section 9), run by the runtime in three phases:
 *  1. `<entry>_means` (ROLE_SEL_MEANS, AbiCpuEntry with q_block = a key block blk), for a block
 *     selector whose score reads mean(k[block]): the mean of K's rows blk * n .. min(blk * n + n,
 *     Lk) - 1 of kv head hk, in f32, at work[0] + ((b * Hkv + hk) * nblk + blk) * Dk.
 *  2. `<entry>_score` (ROLE_SEL_SCORE): for query row `row` (position i = row + q_offset) of
 *     query head h, candidates c in [c0, c1) (blocks, or keys for a token selector): cand[c - c0]
 *     = 1 when c has a visible key (a token: is visible), and then score[c - c0] = the selector's
 *     score (summed over the GQA group's heads when it is shared); cand = 0 otherwise.
 *        void NAME_score(const AbiArgs *args, int64_t b, int64_t h, int64_t row, int64_t c0,
 *                        int64_t c1, float *score, uint8_t *cand);
 *     The runtime keeps the top candidates (higher score first, NaN as -inf, ties to the lower
 *     index; the own block first with `keep own`) and writes them ascending, -1 padded, to
 *     work[1] at ((b * Hsel + hs) * Lq + row) * top. The score entry's `rows` (SelShare) says
 *     which query heads one selection serves: SEL_SHARE_HEAD: hs = h, Hsel = Hq;
 *     SEL_SHARE_GROUP: hs = h / (Hq / Hkv), Hsel = Hkv (the entry is called with the group's
 *     first head); SEL_SHARE_ALL: hs = 0, Hsel = 1 (called with h = 0).
 *  3. `<entry>` (ROLE_SEL_ATTEND, AbiCpuEntry with q_block = a query row): the softmax of the
 *     row over the visible keys of its selected candidates, o and lse. */
typedef enum { SEL_SHARE_HEAD = 1, SEL_SHARE_GROUP = 2, SEL_SHARE_ALL = 3 } SelShare;
typedef void (*AbiCpuSelScore)(const AbiArgs *args, int64_t b, int64_t h, int64_t row, int64_t c0,
                               int64_t c1, float *score, uint8_t *cand);

/* GPU split-KV decode entries, the plan's ROLE_DECODE and ROLE_DECODE_COMBINE entries
 * (`<entry>_decode` and `<entry>_decode_combine`), used by the runtime when
 * Lq * (Hq / Hkv) <= the decode entry's rows. Rows r = g * Lq + i of a kv head's group as
 * above. Besides the core fields they read work[0] (the split partials, the plan's
 * WORK_SPLIT_PARTS workspace), splits and split_keys (keys per split, a multiple of 32).
 * Grid (ceil(splits / 4) * ceil(R / 4), Hkv, B) with R = (Hq / Hkv) * Lq, the decode entry's
 * threads: each warp is one (split, 4 rows); it writes row r of split s of (b, hk) at
 * part[(((b * Hkv + hk) * R + r) * splits + s) * (Dv + 2)]: O[Dv], m, l in the log2 units of the
 * CPU split above. `<entry>_decode_combine`, grid (R, Hkv, B), 128 threads, the same AbiArgs,
 * folds the sink in and writes o and lse. */

/* GPU tile-map entry `<entry>_map` (masks that read side tensors): 256 threads a CTA, grid
 * (ceil(Lq / tile_m) * chunks, map heads, map batches) with chunks = ceil(nkt / ABI_MAP_CHUNK)
 * for nkt = ceil(Lk / tile_n) key tiles (at least 1): CTA x covers query tile x / chunks and
 * key tiles (x % chunks) * ABI_MAP_CHUNK .. + ABI_MAP_CHUNK - 1, so that a long sequence gives
 * the map kernel many CTAs, not one per query tile. It is launched with ABI_MAP_SMEM bytes of
 * dynamic shared memory (the mask's per-row values of its query tile). */
enum { ABI_MAP_THREADS = 256, ABI_MAP_CHUNK = 4, ABI_MAP_SMEM = 4096 };

#endif
