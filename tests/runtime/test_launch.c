/* test_launch.c: the launch path from a kernel loaded out of AIR text (as from a cache entry
 * or an AOT header), with a C function standing in for the generated entry point: every work
 * item (b, h, query block) runs exactly once with the right AbiArgs (symbols, params,
 * q_offset, a tile map that agrees with the causal-window mask), with 1, 2 and all threads,
 * through attn_launch and attn_launch_aot; a bad launch leaves the outputs untouched. */
#include "rt.h"
#include "test_util.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *air_text =
    "kernel window softmax\n"
    "  heads 16 16\n"
    "  sym B b\n  sym Hq hq\n  sym Hkv hkv\n  sym Lq lq\n  sym Lk lk\n"
    "  tensor q in q f32 [B, Hq, Lq, 16]\n"
    "  tensor k in k f32 [B, Hkv, Lk, 16]\n"
    "  tensor v in v f32 [B, Hkv, Lk, 16]\n"
    "  tensor o out o f32 [B, Hq, Lq, 16]\n"
    "  param window i32 = 8\n"
    "  %0 = idx i : i32\n"
    "  %1 = idx j : i32\n"
    "  %2 = le %1, %0 : bool\n"
    "  %3 = sub %0, %1 : i32\n"
    "  %4 = param window : i32\n"
    "  %5 = lt %3, %4 : bool\n"
    "  %6 = and %2, %5 : bool\n"
    "  hook mask %6\n"
    "end\n";

enum { TM = 4, TN = 8 };
static atomic_int calls;
static atomic_int bad_tiles;

/* Writes o[b, h, r, 0] = 1000 b + 100 h + r for the rows of its block, and checks each tile
 * class against the mask j <= i && i - j < window. */
static void fake_entry(const AbiArgs *a, int64_t b, int64_t h, int64_t qb)
{
    atomic_fetch_add(&calls, 1);
    const AbiTensor *o = &a->t[3];
    int64_t lq = o->shape[2], lk = a->t[1].shape[2], w = a->iparam[0];
    for (int64_t r = qb * TM; r < (qb + 1) * TM && r < lq; r++)
        ((float *)o->data)[b * o->strides[0] + h * o->strides[1] + r * o->strides[2]] =
            (float)(1000 * b + 100 * h + r);
    if (!a->tiles) return;
    for (int64_t kt = 0; kt * TN < lk; kt++) {
        int vis = 0, tot = 0;
        for (int64_t r = qb * TM; r < (qb + 1) * TM && r < lq; r++)
            for (int64_t j = kt * TN; j < (kt + 1) * TN && j < lk; j++) {
                int64_t i = r + a->q_offset;
                vis += j <= i && i - j < w;
                tot++;
            }
        uint8_t c = a->tiles[b * a->tile_sb + h * a->tile_sh + qb * a->tile_sq + kt];
        bool ok = vis == 0 ? c != TILE_FULL : vis == tot ? c != TILE_EMPTY : c == TILE_PARTIAL;
        atomic_fetch_add(&bad_tiles, !ok);
    }
}

typedef struct Bufs {
    AttnTensor t[4];
} Bufs;

static void make(Bufs *s, int64_t B, int64_t hq, int64_t hkv, int64_t lq, int64_t lk)
{
    int64_t dims[4][4] = {{B, hq, lq, 16}, {B, hkv, lk, 16}, {B, hkv, lk, 16}, {B, hq, lq, 16}};
    for (int i = 0; i < 4; i++) {
        AttnTensor *t = &s->t[i];
        memset(t, 0, sizeof *t);
        t->dtype = ATTN_F32;
        t->rank = 4;
        int64_t n = 1;
        for (int d = 3; d >= 0; d--) {
            t->shape[d] = dims[i][d];
            t->strides[d] = n;
            n *= dims[i][d];
        }
        t->data = malloc((size_t)n * 4 + 4);
        for (int64_t e = 0; e < n; e++) ((float *)t->data)[e] = -7.0f;   /* poison */
    }
}

static void release(Bufs *s)
{
    for (int i = 0; i < 4; i++) free(s->t[i].data);
}

static bool untouched(const AttnTensor *o)
{
    int64_t n = o->shape[0] * o->shape[1] * o->shape[2] * o->shape[3];
    for (int64_t e = 0; e < n; e++)
        if (((float *)o->data)[e] != -7.0f) return false;
    return true;
}

static void run_case(AttnKernel *k, const AttnAotKernel *aot, int64_t B, int64_t hq,
                     int64_t hkv, int64_t lq, int64_t lk, int32_t threads, double window)
{
    Bufs s;
    make(&s, B, hq, hkv, lq, lk);
    atomic_store(&calls, 0);
    atomic_store(&bad_tiles, 0);
    AttnLaunchOptions o = {.num_threads = threads};
    AttnStatus st = aot ? attn_launch_aot(aot, s.t, 4, &window, 1, &o)
                        : attn_launch(k, s.t, 4, &window, 1, &o);
    CHECK_MSG(st == ATTN_OK, "%s", attn_last_error());
    int64_t nqb = (lq + TM - 1) / TM;
    CHECK_MSG(atomic_load(&calls) == B * hq * nqb, "%d calls for %lld items", atomic_load(&calls),
              (long long)(B * hq * nqb));
    CHECK(atomic_load(&bad_tiles) == 0);
    int wrong = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < hq; h++)
            for (int64_t r = 0; r < lq; r++)
                wrong += ((float *)s.t[3].data)[((b * hq + h) * lq + r) * 16] !=
                         (float)(1000 * b + 100 * h + r);
    CHECK_MSG(wrong == 0, "%d rows not written by their work item", wrong);
    release(&s);
}

int main(void)
{
    RtEntry e = {.target = "x86-64-v4", .air_text = air_text,
                 .plan = {.arch = ARCH_CPU, .skeleton = SKEL_FA, .tile_m = TM, .tile_n = TN,
                          .nentries = 1, .entries = {{"fake", ROLE_ATTENTION, 1, 0, 0, 0}}}};
    void (*const fns[1])(void) = {(void (*)(void))fake_entry};
    AttnKernel *k = NULL;
    AttnStatus st = rt_kernel_load(&e, fns, &k);
    CHECK_MSG(st == ATTN_OK, "%s", attn_last_error());
    if (!k) return 1;
    CHECK(strcmp(attn_kernel_name(k), "window") == 0);
    CHECK(attn_kernel_num_tensors(k) == 4 && attn_kernel_num_params(k) == 1);
    CHECK(attn_kernel_tensor_kind(k, 3) == ATTN_ARG_OUT && attn_kernel_tensor_index(k, "v") == 2);
    double def = 0;
    CHECK(attn_kernel_param_default(k, 0, &def) == 1 && def == 8);
    const char *sym = NULL;
    CHECK(attn_kernel_tensor_dim(k, 1, 2, &sym) == 0 && sym && strcmp(sym, "Lk") == 0);
    CHECK(attn_kernel_tensor_dim(k, 1, 3, &sym) == 16 && sym == NULL);

    int32_t threads[] = {1, 2, 0};
    for (int t = 0; t < 3; t++) {
        run_case(k, NULL, 1, 2, 2, 16, 16, threads[t], 8);
        run_case(k, NULL, 3, 4, 2, 13, 29, threads[t], 5);    /* odd sizes, Lq < Lk, GQA */
        run_case(k, NULL, 2, 3, 1, 1, 37, threads[t], 1000);  /* decode */
        run_case(k, NULL, 1, 1, 1, 0, 5, threads[t], 8);      /* nothing to do */
    }

    /* The AOT path builds the same kernel from a descriptor once and launches the same way. */
    Arena pa;
    arena_init(&pa);
    size_t plan_len = 0;
    unsigned char *plan = plan_pack(&pa, &e.plan, &plan_len);
    CHECK(plan != NULL);
    AttnAotKernel desc = {ATTN_AOT_ABI, "window", "x86-64-v4", air_text, plan, plan_len, fns, 1,
                          NULL, 0};
    run_case(NULL, &desc, 2, 4, 4, 9, 9, 0, 3);
    AttnKernel *k1, *k2;
    CHECK(attn_aot_kernel(&desc, &k1) == ATTN_OK && attn_aot_kernel(&desc, &k2) == ATTN_OK &&
          k1 == k2);
    AttnAotKernel old = desc;
    old.abi = 99;
    Bufs s;
    make(&s, 1, 1, 1, 4, 4);
    CHECK(attn_launch_aot(&old, s.t, 4, NULL, 0, NULL) == ATTN_ERR_ARG &&
          strstr(attn_last_error(), "regenerate it"));

    /* Bad launches: error, message, outputs untouched, the entry never called. */
    atomic_store(&calls, 0);
    double w = 8, half = 2.5;
    s.t[1].shape[2] = 5;
    CHECK(attn_launch(k, s.t, 4, &w, 1, NULL) == ATTN_ERR_ARG &&
          strstr(attn_last_error(), "tensor 'v': dim 2 (Lk) is 4 but 'k' has 5"));
    s.t[1].shape[2] = 4;
    CHECK(attn_launch(k, s.t, 4, &half, 1, NULL) == ATTN_ERR_ARG &&
          strstr(attn_last_error(), "param 'window' is i32 but got 2.5"));
    CHECK(attn_launch(k, s.t, 3, &w, 1, NULL) == ATTN_ERR_ARG);
    s.t[2].dtype = ATTN_BF16;
    CHECK(attn_launch(k, s.t, 4, &w, 1, NULL) == ATTN_ERR_ARG &&
          strstr(attn_last_error(), "tensor 'v': dtype is bf16"));
    s.t[2].dtype = ATTN_F32;
    CHECK(attn_launch(NULL, s.t, 4, &w, 1, NULL) == ATTN_ERR_ARG);
    CHECK(atomic_load(&calls) == 0 && untouched(&s.t[3]));
    CHECK(attn_launch(k, s.t, 4, NULL, 0, NULL) == ATTN_OK);   /* the default window */
    CHECK(!untouched(&s.t[3]));
    release(&s);
    attn_kernel_free(k);
    arena_free(&pa);
    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    else printf("launch: all passed\n");
    return test_failures != 0;
}
