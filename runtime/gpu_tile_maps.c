/* gpu_tile_maps.c: the device tile maps of GPU kernels (launch_gpu.c asks for one per launch).
 * A kernel whose plan says skip_tile_map (no mask, or `j <= i` alone, which the
 * skeleton bounds and masks itself) gets none: the launch is one cuLaunchKernel. Otherwise
 * the map lives in device memory owned by the kernel:
 *  - Masks that read only indices, params and sizes: the map is a function of a small key
 *    (shape, q_offset, the params and symbols the mask reads, as pass_mask_tiles found). Each
 *    key's map is computed on the host once, uploaded with an async copy on the launch stream
 *    and kept (MAP_SLOTS keys per kernel, least recently used replaced). A kept map is never
 *    written again, so a hit costs a key comparison; launches on another stream wait for the
 *    upload with cuStreamWaitEvent. Replacing a slot waits (on the host) only for the last
 *    launch that read it.
 *  - Masks that read side tensors (packed documents): the tensors are device memory whose
 *    contents can change between launches, so the map is rebuilt at every launch, by the
 *    module's `<entry>_map` kernel (compiler/ptx/skel_map.c) on the launch stream, into one per-kernel
 *    buffer: no host round trip. Launches on the same stream are ordered by the stream; one on
 *    another stream first waits (on the device) for the last launch that read the buffer; only
 *    growing the buffer waits on the host. Where the module has no map kernel (PTX from
 *    elsewhere), the tensors are copied to the host, the stream is synchronised, and the map
 *    is computed with mask_tile_map and uploaded. A launch with reuse_tile_map skips the
 *    rebuild when its key (as above, plus the side tensors' addresses, shapes and strides)
 *    is the last build's: the caller has promised the contents are unchanged.
 * One mutex per kernel guards its maps; launches that take no map take no lock. */
#include "rt.h"
#include "cuda.h"
#include "pass.h"
#include "ptx_text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAP_SLOTS = 4,
    KEY_MAX = 8 + 2 * ABI_MAX_PARAMS + ABI_MAX_SYMS + ABI_MAX_TENSORS * (1 + 2 * ABI_MAX_RANK)
};

typedef struct MapSlot {
    int64_t key[KEY_MAX];
    int32_t nkey;          /* 0: empty slot */
    RtDevPtr dev;
    size_t bytes;
    int64_t sb, sh, sq;    /* the map's strides */
    void *stream;          /* the stream its upload went to */
    void *ready;           /* event after the upload */
    void *done;            /* event after the last launch that read it */
    uint64_t used;         /* launch counter at the last use (LRU) */
} MapSlot;

struct RtGpuMaps {
    pthread_mutex_t lock;
    MapSlot slot[MAP_SLOTS];
    MapSlot side;          /* the rebuilt-per-launch map of side-tensor masks */
    RtCudaKernel mapk;     /* its map kernel, where has_mapk */
    bool has_mapk;
    uint64_t clock;
    void *host[ABI_MAX_TENSORS];   /* host copies of the side tensors */
    size_t host_cap[ABI_MAX_TENSORS];
};

AttnStatus rt_gpu_maps_new(AttnKernel *k)
{
    k->maps = NULL;
    if (k->plan.skip_tile_map || !k->mask || !k->mask->has_mask) return ATTN_OK;
    RtGpuMaps *m = calloc(1, sizeof *m);
    if (!m) return rt_fail(ATTN_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    k->maps = m;
    const RtCudaKernel *ck = k->gpu;
    const char *ptx = (const char *)k->code.data;
    const PlanEntry *mapk = plan_entry(&k->plan, ROLE_MAP);
    /* A plan without one: the map is built on the host. */
    if (mapk && k->mask->tensors && ABI_MAP_THREADS % k->plan.tile_n == 0 &&
        ptx_find_entry(ptx, mapk->name))
        m->has_mapk = rt_cuda_kernel(ck->device, ptx, mapk->name, mapk->threads, mapk->smem_bytes,
                                     &m->mapk) == ATTN_OK;
    return ATTN_OK;
}

static void slot_release(MapSlot *s)
{
    if (s->done) rt_cuda_event_wait(s->done);   /* nothing may still read it */
    rt_cuda_free(s->dev);
    rt_cuda_event_destroy(s->ready);
    rt_cuda_event_destroy(s->done);
    memset(s, 0, sizeof *s);
}

void rt_gpu_maps_free(AttnKernel *k)
{
    RtGpuMaps *m = k->maps;
    if (!m) return;
    for (int i = 0; i < MAP_SLOTS; i++) slot_release(&m->slot[i]);
    slot_release(&m->side);
    for (int i = 0; i < ABI_MAX_TENSORS; i++) free(m->host[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
    k->maps = NULL;
}

/* Everything the map of a mask without side tensors depends on. */
static int32_t map_key(const AttnKernel *k, const AbiArgs *a, int64_t *key)
{
    const MaskInfo *mi = k->mask;
    const AbiTensor *q = &a->t[k->air->tq], *kt = &a->t[k->air->tk];
    int32_t n = 0;
    key[n++] = q->shape[0];
    key[n++] = q->shape[1];
    key[n++] = q->shape[2];
    key[n++] = kt->shape[2];
    key[n++] = a->q_offset;
    for (int32_t p = 0; p < k->air->nparams; p++)
        if (mi->params >> p & 1) {
            uint32_t f;
            memcpy(&f, &a->fparam[p], 4);
            key[n++] = a->iparam[p];
            key[n++] = f;
        }
    for (int32_t s = 0; s < k->air->nsyms; s++)
        if (mi->syms >> s & 1) key[n++] = a->sym[s];
    return n;
}

/* The side map's key: map_key's, then each side tensor's address, shape and strides. */
static int32_t side_key(const AttnKernel *k, const AbiArgs *a, int64_t *key)
{
    int32_t n = map_key(k, a, key);
    for (int32_t t = 0; t < k->air->ntensors; t++) {
        if (!(k->mask->tensors >> t & 1)) continue;
        key[n++] = (int64_t)(uintptr_t)a->t[t].data;
        for (int32_t d = 0; d < k->air->tensors[t].rank; d++) {
            key[n++] = a->t[t].shape[d];
            key[n++] = a->t[t].strides[d];
        }
    }
    return n;
}

/* Computes the map of `host_args` on the host (malloc'd into *map, its size and strides). */
static AttnStatus host_map(const AttnKernel *k, const AbiArgs *host_args, uint8_t **map,
                           size_t *bytes, int64_t *sb, int64_t *sh, int64_t *sq)
{
    int32_t tm = k->plan.tile_m, tn = k->plan.tile_n;
    *map = NULL;
    *bytes = mask_tile_map_size(k->mask, k->air, host_args, tm, tn, sb, sh, sq);
    if (*bytes == 0) return ATTN_OK;
    uint8_t *m = malloc(*bytes);
    if (!m) return rt_fail(ATTN_ERR_NOMEM, "out of memory for a tile map of %zu bytes", *bytes);
    char err[512];
    if (!mask_tile_map(k->mask, k->air, host_args, tm, tn, m, *bytes, err, sizeof err)) {
        free(m);
        return rt_fail(ATTN_ERR_ARG, "%s", err);
    }
    *map = m;
    return ATTN_OK;
}

/* Uploads a host map into slot s (growing its buffer) on `stream`; records s->ready. */
static AttnStatus slot_fill(const AttnKernel *k, MapSlot *s, const uint8_t *map, size_t bytes,
                            void *stream)
{
    const RtCudaKernel *ck = k->gpu;
    AttnStatus st = ATTN_OK;
    if (s->done) st = rt_cuda_event_wait(s->done);   /* the last launch that read it is over */
    if (st == ATTN_OK && s->bytes < bytes) {
        rt_cuda_free(s->dev);
        s->dev = 0;
        s->bytes = 0;
        st = rt_cuda_malloc(ck->device, bytes, &s->dev);
        if (st == ATTN_OK) s->bytes = bytes;
    }
    if (st == ATTN_OK && !s->ready) st = rt_cuda_event_new(&s->ready);
    if (st == ATTN_OK && !s->done) st = rt_cuda_event_new(&s->done);
    if (st == ATTN_OK) st = rt_cuda_upload_async(ck->device, s->dev, map, bytes, stream);
    if (st == ATTN_OK) st = rt_cuda_event_record(s->ready, stream);
    s->stream = stream;
    return st;
}

/* The slot holding the map of these args, filled if it was not there. */
static AttnStatus keyed_map(const AttnKernel *k, RtGpuMaps *m, const AbiArgs *a, void *stream,
                            MapSlot **out)
{
    int64_t key[KEY_MAX];
    int32_t nkey = map_key(k, a, key);
    MapSlot *lru = &m->slot[0];
    for (int i = 0; i < MAP_SLOTS; i++) {
        MapSlot *s = &m->slot[i];
        if (s->nkey == nkey && memcmp(s->key, key, sizeof *key * (size_t)nkey) == 0) {
            *out = s;
            return ATTN_OK;
        }
        if (s->used < lru->used) lru = s;
    }
    uint8_t *map;
    size_t bytes;
    int64_t sb, sh, sq;
    AttnStatus st = host_map(k, a, &map, &bytes, &sb, &sh, &sq);
    if (st == ATTN_OK && map) {
        lru->nkey = 0;   /* invalid until filled */
        st = slot_fill(k, lru, map, bytes, stream);
        if (st == ATTN_OK) {
            memcpy(lru->key, key, sizeof *key * (size_t)nkey);
            lru->nkey = nkey;
            lru->sb = sb, lru->sh = sh, lru->sq = sq;
        }
    }
    free(map);
    *out = st == ATTN_OK && map ? lru : NULL;
    return st;
}

/* Bytes spanned by a tensor's elements (its last element's offset plus one, times esize). */
static size_t tensor_span(const AbiTensor *t, int32_t rank, size_t esize)
{
    int64_t last = 0;
    for (int32_t d = 0; d < rank; d++) {
        if (t->shape[d] == 0) return 0;
        last += (t->shape[d] - 1) * t->strides[d];
    }
    return (size_t)(last + 1) * esize;
}

/* The map of a mask that reads side tensors, rebuilt from their current contents. */
static AttnStatus side_map(const AttnKernel *k, RtGpuMaps *m, const AbiArgs *a, void *stream,
                           MapSlot **out)
{
    const RtCudaKernel *ck = k->gpu;
    AbiArgs h = *a;
    AttnStatus st = ATTN_OK;
    *out = NULL;
    for (int32_t t = 0; t < k->air->ntensors && st == ATTN_OK; t++) {
        if (!(k->mask->tensors >> t & 1)) continue;
        const AirTensor *at = &k->air->tensors[t];
        size_t span = tensor_span(&a->t[t], at->rank, air_dtype_size(at->dtype));
        if (span > m->host_cap[t]) {
            void *p = realloc(m->host[t], span);
            if (!p) return rt_fail(ATTN_ERR_NOMEM, "out of memory copying tensor '%s'", at->name);
            m->host[t] = p;
            m->host_cap[t] = span;
        }
        h.t[t].data = m->host[t];
        st = rt_cuda_download_async(ck->device, m->host[t], (RtDevPtr)(uintptr_t)a->t[t].data,
                                    span, stream);
    }
    if (st == ATTN_OK) st = rt_cuda_stream_sync(stream);   /* the copies have landed */
    uint8_t *map = NULL;
    size_t bytes = 0;
    int64_t sb, sh, sq;
    if (st == ATTN_OK) st = host_map(k, &h, &map, &bytes, &sb, &sh, &sq);
    if (st == ATTN_OK && map) {
        st = slot_fill(k, &m->side, map, bytes, stream);
        m->side.sb = sb, m->side.sh = sh, m->side.sq = sq;
        if (st == ATTN_OK) *out = &m->side;
    }
    free(map);
    return st;
}

/* The map of a mask that reads side tensors, built on the device by the map kernel. */
static AttnStatus device_side_map(const AttnKernel *k, RtGpuMaps *m, const AbiArgs *a, void *stream,
                                  MapSlot **out)
{
    const RtCudaKernel *ck = k->gpu;
    MapSlot *s = &m->side;
    int32_t tm = k->plan.tile_m, tn = k->plan.tile_n;
    int64_t sb, sh, sq;
    size_t bytes = mask_tile_map_size(k->mask, k->air, a, tm, tn, &sb, &sh, &sq);
    AttnStatus st = ATTN_OK;
    *out = NULL;
    if (bytes == 0) return ATTN_OK;
    if (s->bytes < bytes) {   /* grow: nothing may still read the old buffer */
        if (s->done) st = rt_cuda_event_wait(s->done);
        rt_cuda_free(s->dev);
        s->dev = 0;
        s->bytes = 0;
        if (st == ATTN_OK) st = rt_cuda_malloc(ck->device, bytes, &s->dev);
        if (st == ATTN_OK) s->bytes = bytes;
    } else if (s->done && s->stream && s->stream != stream) {
        st = rt_cuda_stream_wait(stream, s->done);   /* the last reader ran on another stream */
    }
    if (st == ATTN_OK && !s->ready) st = rt_cuda_event_new(&s->ready);
    if (st == ATTN_OK && !s->done) st = rt_cuda_event_new(&s->done);
    if (st != ATTN_OK) return st;
    const AbiTensor *q = &a->t[k->air->tq];
    AbiArgs ma = *a;
    ma.tiles = (const uint8_t *)(uintptr_t)s->dev;
    ma.tile_sb = sb, ma.tile_sh = sh, ma.tile_sq = sq;
    ma.tile_m = tm, ma.tile_n = tn;
    int64_t nkt = (a->t[k->air->tk].shape[2] + tn - 1) / tn;
    int64_t chunks = (nkt + ABI_MAP_CHUNK - 1) / ABI_MAP_CHUNK;
    uint32_t gx = (uint32_t)((q->shape[2] + tm - 1) / tm * (chunks > 1 ? chunks : 1));
    uint32_t gy = k->mask->per_h ? (uint32_t)q->shape[1] : 1, gz = k->mask->per_b ? (uint32_t)q->shape[0] : 1;
    st = rt_cuda_launch(&m->mapk, gx, gy, gz, stream, &ma);
    if (st == ATTN_OK) st = rt_cuda_event_record(s->ready, stream);
    s->stream = stream;
    s->sb = sb, s->sh = sh, s->sq = sq;
    if (st == ATTN_OK) *out = s;
    return st;
}

/* The map of a mask that reads side tensors: the last one again where the caller promised
 * unchanged tensors and the key matches, else rebuilt (on the device where the module has a
 * map kernel). */
static AttnStatus rebuilt_map(const AttnKernel *k, RtGpuMaps *m, const AbiArgs *a, void *stream,
                              bool reuse, MapSlot **out)
{
    MapSlot *s = &m->side;
    int64_t key[KEY_MAX];
    int32_t nkey = side_key(k, a, key);
    if (reuse && s->nkey == nkey && memcmp(s->key, key, sizeof *key * (size_t)nkey) == 0) {
        *out = s;
        return ATTN_OK;
    }
    s->nkey = 0;   /* invalid until rebuilt */
    AttnStatus st = m->has_mapk ? device_side_map(k, m, a, stream, out) : side_map(k, m, a, stream, out);
    if (st == ATTN_OK && *out) {
        memcpy(s->key, key, sizeof *key * (size_t)nkey);
        s->nkey = nkey;
    }
    return st;
}

AttnStatus rt_gpu_with_map(const AttnKernel *k, const AbiArgs *args, AbiArgs *a, void *stream,
                           bool reuse, RtMapLaunch launch, void *ctx)
{
    RtGpuMaps *m = k->maps;
    if (!m) return launch(ctx, a);
    pthread_mutex_lock(&m->lock);
    MapSlot *s = NULL;
    AttnStatus st = !k->mask->tensors ? keyed_map(k, m, args, stream, &s)
                                      : rebuilt_map(k, m, args, stream, reuse, &s);
    if (st == ATTN_OK && s) {
        if (s->stream != stream) st = rt_cuda_stream_wait(stream, s->ready);
        a->tiles = (const uint8_t *)(uintptr_t)s->dev;
        a->tile_sb = s->sb, a->tile_sh = s->sh, a->tile_sq = s->sq;
        s->used = ++m->clock;
    }
    if (st == ATTN_OK) st = launch(ctx, a);
    if (st == ATTN_OK && s) st = rt_cuda_event_record(s->done, stream);
    pthread_mutex_unlock(&m->lock);
    return st;
}
