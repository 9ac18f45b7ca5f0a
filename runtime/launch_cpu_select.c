/* launch_cpu_select.c: the selector skeleton's launch recipe on the CPU (kernel_abi.h has the
 * entries' contract), three phases on the thread pool:
 *   1. the block means of K (when the score reads them), one item per (b, kv head, block);
 *   2. each selection's top-k (or, for given indices, the valid ones of the input, each once):
 *      the kernel scores candidates a chunk at a time and the kept ones
 *      stay in a heap of `top` (the worst at its root), so a row needs O(top) memory whatever
 *      Lk is; ranking as the reference's (higher score first, NaN as -inf, ties to the lower
 *      index), the own block kept first with `keep own`; written ascending, -1 padded;
 *   3. each query row's attention over its selected keys;
 * and, when the spec has one, the selected indices out (`sel = select;`). */
#include "rt.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* SEL_CHUNK: candidates scored per call of the score entry. A row's heap of `top` lives on the
 * worker's stack up to SEL_STACK_TOP entries (32 KB; the pool's threads have 8 MB), on the heap
 * beyond, so the usual row costs no allocation. */
enum { SEL_CHUNK = 512, SEL_STACK_TOP = 4096 };

typedef struct SelLaunch {
    AbiArgs args;                /* the launch's, with work[0] (means) and work[1] (ids) */
    AbiCpuEntry means, attend;
    AbiCpuSelScore score;
    int64_t hq, hkv, lq, lk, nblk, hsel, group, ncand;
    int32_t top, bs, share;
    int32_t tin;                 /* a given selection's index tensor, or -1 */
    bool keep_own;
    _Atomic int nomem;           /* a row's heap could not be allocated */
} SelLaunch;

typedef struct SelCand {
    float s;
    int32_t id;
} SelCand;

/* a ranks after b */
static bool worse(SelCand a, SelCand b)
{
    float x = isnan(a.s) ? -INFINITY : a.s, y = isnan(b.s) ? -INFINITY : b.s;
    return x != y ? x < y : a.id > b.id;
}

static void heap_down(SelCand *h, int32_t n, int32_t at)
{
    for (;;) {
        int32_t l = 2 * at + 1, r = l + 1, w = at;
        if (l < n && worse(h[l], h[w])) w = l;
        if (r < n && worse(h[r], h[w])) w = r;
        if (w == at) return;
        SelCand t = h[at];
        h[at] = h[w];
        h[w] = t;
        at = w;
    }
}

/* Offers c to a heap of at most cap: kept while it ranks among the cap best so far. */
static void heap_offer(SelCand *h, int32_t *n, int32_t cap, SelCand c)
{
    if (*n < cap) {
        int32_t at = (*n)++;
        h[at] = c;
        while (at > 0 && worse(h[at], h[(at - 1) / 2])) {
            SelCand t = h[at];
            h[at] = h[(at - 1) / 2];
            h[(at - 1) / 2] = t;
            at = (at - 1) / 2;
        }
    } else if (cap > 0 && worse(h[0], c)) {
        h[0] = c;
        heap_down(h, *n, 0);
    }
}

static int id_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void run_means(void *ctx, int64_t item)
{
    const SelLaunch *l = ctx;
    int64_t blk = item % l->nblk, bh = item / l->nblk;
    l->means(&l->args, bh / l->hkv, bh % l->hkv, blk);
}

static void run_pick(void *ctx, int64_t item)
{
    SelLaunch *l = ctx;
    int64_t row = item % l->lq, bh = item / l->lq, hs = bh % l->hsel, b = bh / l->hsel;
    int64_t h = l->share == SEL_SHARE_HEAD ? hs : l->share == SEL_SHARE_GROUP ? hs * l->group : 0;
    int64_t i = row + l->args.q_offset;
    int64_t own = l->keep_own && i >= 0 ? i / l->bs : -1;
    int32_t *out = (int32_t *)l->args.work[1] + ((b * l->hsel + hs) * l->lq + row) * l->top;
    float score[SEL_CHUNK];
    uint8_t cand[SEL_CHUNK];
    SelCand stack_heap[SEL_STACK_TOP];
    SelCand *heap = l->top <= SEL_STACK_TOP ? stack_heap : malloc(sizeof *heap * (size_t)l->top);
    int32_t n = 0;
    bool has_own = false;
    for (int64_t c = 0; c < l->top; c++) out[c] = -1;
    if (!heap) {
        l->nomem = 1;
        return;
    }
    for (int64_t c0 = 0; c0 < l->ncand; c0 += SEL_CHUNK) {
        int64_t c1 = c0 + SEL_CHUNK < l->ncand ? c0 + SEL_CHUNK : l->ncand;
        l->score(&l->args, b, h, row, c0, c1, score, cand);
        for (int64_t c = c0; c < c1; c++) {
            if (!cand[c - c0]) continue;
            if (c == own) has_own = true;
            else heap_offer(heap, &n, l->top, (SelCand){score[c - c0], (int32_t)c});
        }
    }
    if (has_own && n == l->top) {   /* the own block counts as one of the top */
        heap[0] = heap[--n];
        heap_down(heap, n, 0);
    }
    int32_t m = 0;
    if (has_own) out[m++] = (int32_t)own;
    for (int32_t x = 0; x < n; x++) out[m++] = heap[x].id;
    qsort(out, (size_t)m, sizeof *out, id_cmp);
    if (heap != stack_heap) free(heap);
}

/* The selected indices out (`sel = select;`): each query head's row of its selection. */
static void write_selected(const SelLaunch *l, const AbiTensor *t, int64_t B)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < l->hq; h++) {
            int64_t hs = l->share == SEL_SHARE_HEAD ? h : l->share == SEL_SHARE_GROUP ? h / l->group : 0;
            for (int64_t row = 0; row < l->lq; row++) {
                const int32_t *ids = (const int32_t *)l->args.work[1] + ((b * l->hsel + hs) * l->lq + row) * l->top;
                int32_t *out = (int32_t *)t->data + b * t->strides[0] + h * t->strides[1] + row * t->strides[2];
                for (int64_t c = 0; c < l->top; c++) out[c * t->strides[3]] = ids[c];
            }
        }
}

/* A given selection (`select ... from idx;`): row `item`'s entries of the index tensor that name a
 * candidate (0 <= id < ncand), each once, ascending, -1 padded. */
static void run_given(void *ctx, int64_t item)
{
    SelLaunch *l = ctx;
    const AbiTensor *t = &l->args.t[l->tin];
    int64_t row = item % l->lq, bh = item / l->lq, h = bh % l->hq, b = bh / l->hq;
    const int32_t *in = (const int32_t *)t->data + b * t->strides[0] + h * t->strides[1] + row * t->strides[2];
    int32_t *out = (int32_t *)l->args.work[1] + (bh * l->lq + row) * l->top;
    int32_t m = 0;
    for (int64_t c = 0; c < l->top; c++) {
        int32_t id = in[c * t->strides[3]];
        if (id >= 0 && id < l->ncand) out[m++] = id;
    }
    qsort(out, (size_t)m, sizeof *out, id_cmp);
    int32_t n = 0;
    for (int32_t x = 0; x < m; x++)
        if (n == 0 || out[n - 1] != out[x]) out[n++] = out[x];
    for (int64_t c = n; c < l->top; c++) out[c] = -1;
}

static void run_attend(void *ctx, int64_t item)
{
    const SelLaunch *l = ctx;
    int64_t row = item % l->lq, bh = item / l->lq;
    l->attend(&l->args, bh / l->hq, bh % l->hq, row);
}

AttnStatus rt_cpu_select_run(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o)
{
    const AirKernel *air = k->air;
    const PlanEntry *se = plan_entry(&k->plan, ROLE_SEL_SCORE);
    SelLaunch l = {.attend = (AbiCpuEntry)rt_cpu_fn(k, ROLE_SEL_ATTEND),
                   .score = (AbiCpuSelScore)rt_cpu_fn(k, ROLE_SEL_SCORE),
                   .means = (AbiCpuEntry)rt_cpu_fn(k, ROLE_SEL_MEANS)};
    l.tin = air->sel.given ? air->tselin : -1;
    if (!l.attend || (l.tin < 0 && (!l.score || !se))) return rt_fail(ATTN_ERR_INTERNAL, "kernel has no loaded entry point");
    const AbiTensor *q = &args->t[air->tq], *kt = &args->t[air->tk];
    int64_t B = q->shape[0];
    l.hq = q->shape[1];
    l.lq = q->shape[2];
    l.hkv = kt->shape[1];
    l.lk = kt->shape[2];
    l.top = air->sel.topk;
    l.bs = air->sel.kind == SEL_BLOCKS ? air->sel.block : 1;
    l.keep_own = air->sel.kind == SEL_BLOCKS && air->sel.keep_own;
    l.nblk = (l.lk + l.bs - 1) / l.bs;
    l.ncand = air->sel.kind == SEL_BLOCKS ? l.nblk : l.lk;
    l.group = l.hkv > 0 ? l.hq / l.hkv : 1;
    l.share = se ? se->rows : SEL_SHARE_HEAD;
    l.hsel = l.share == SEL_SHARE_HEAD ? l.hq : l.share == SEL_SHARE_GROUP ? l.hkv : 1;
    if (B == 0 || l.hq == 0 || l.lq == 0) return ATTN_OK;
    memcpy(&l.args, args, sizeof l.args);
    size_t mean_bytes = l.means ? rt_work_bytes(WORK_SEL_MEANS, air, args, 0) : 0;
    size_t id_bytes = rt_work_bytes(WORK_SEL_IDS, air, args, l.hsel);
    void *means = mean_bytes ? malloc(mean_bytes) : NULL, *ids = malloc(id_bytes);
    if ((mean_bytes && !means) || !ids) {
        free(means);
        free(ids);
        return rt_fail(ATTN_ERR_NOMEM, "out of memory for the selection (%zu bytes)", mean_bytes + id_bytes);
    }
    l.args.work[0] = means;
    l.args.work[1] = ids;
    if (means && l.hkv * l.nblk > 0) rt_parallel_for(B * l.hkv * l.nblk, o->num_threads, run_means, &l);
    rt_parallel_for(B * l.hsel * l.lq, o->num_threads, l.tin >= 0 ? run_given : run_pick, &l);
    if (!l.nomem) rt_parallel_for(B * l.hq * l.lq, o->num_threads, run_attend, &l);
    if (!l.nomem && air->tselout >= 0) write_selected(&l, &args->t[air->tselout], B);
    free(means);
    free(ids);
    return l.nomem ? rt_fail(ATTN_ERR_NOMEM, "out of memory for a row's top %d", l.top) : ATTN_OK;
}
