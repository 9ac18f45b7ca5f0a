/* test_validate.c: launch validation on a hand-built signature (the Gemma-like spec below plus
 * a document-id side tensor and a per-head table), so it runs without the compiler. A good
 * launch fills AbiArgs (symbols, params, q_offset); each bad argument gives ATTN_ERR_ARG and a
 * message naming it. The end-to-end tests check that outputs stay untouched on error.
 *   in q: f32[B, Hq, Lq, 64]; in k: f32[B, Hkv, Lk, 64]; in v: f32[B, Hkv, Lk, 32];
 *   in doc: i32[B, Lk]; in slope: f32[Hq]; in tab: f32[W]; out o: f32[B, Hq, Lq, 32];
 *   out lse: f32[B, Hq, Lq];
 *   param window: i32 = 256; param cap: f32; param causal: bool = true; */
#include "rt.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S_B, S_HQ, S_HKV, S_LQ, S_LK, S_W };
enum { T_Q, T_K, T_V, T_DOC, T_SLOPE, T_TAB, T_O, T_LSE, NT };

static AirSym syms[] = {{"B", SYM_B}, {"Hq", SYM_HQ}, {"Hkv", SYM_HKV}, {"Lq", SYM_LQ},
                        {"Lk", SYM_LK}, {"W", SYM_OTHER}};
#define SYM(s) {s, 0}
#define FIX(n) {-1, n}
static AirTensor tensors[NT] = {
    {"q", ROLE_Q, false, DT_F32, 4, {SYM(S_B), SYM(S_HQ), SYM(S_LQ), FIX(64)}},
    {"k", ROLE_K, false, DT_F32, 4, {SYM(S_B), SYM(S_HKV), SYM(S_LK), FIX(64)}},
    {"v", ROLE_V, false, DT_F32, 4, {SYM(S_B), SYM(S_HKV), SYM(S_LK), FIX(32)}},
    {"doc", ROLE_SIDE, false, DT_I32, 2, {SYM(S_B), SYM(S_LK)}},
    {"slope", ROLE_SIDE, false, DT_F32, 1, {SYM(S_HQ)}},
    {"tab", ROLE_SIDE, false, DT_F32, 1, {SYM(S_W)}},
    {"o", ROLE_O, true, DT_F32, 4, {SYM(S_B), SYM(S_HQ), SYM(S_LQ), FIX(32)}},
    {"lse", ROLE_LSE, true, DT_F32, 3, {SYM(S_B), SYM(S_HQ), SYM(S_LQ)}},
};
static AirParam params[] = {{"window", PARAM_I32, true, 256}, {"cap", PARAM_F32, false, 0},
                            {"causal", PARAM_BOOL, true, 1}};

typedef struct Setup {
    AttnTensor t[NT];
    float *buf[NT];
} Setup;

/* Contiguous tensors of the given sizes, each in its own allocation. */
static void setup(Setup *s, int64_t B, int64_t hq, int64_t hkv, int64_t lq, int64_t lk)
{
    int64_t dims[NT][4] = {{B, hq, lq, 64}, {B, hkv, lk, 64}, {B, hkv, lk, 32}, {B, lk},
                           {hq}, {3}, {B, hq, lq, 32}, {B, hq, lq}};
    memset(s, 0, sizeof *s);
    for (int i = 0; i < NT; i++) {
        AttnTensor *t = &s->t[i];
        t->rank = tensors[i].rank;
        t->dtype = (AttnDtype)tensors[i].dtype;
        int64_t n = 1;
        for (int d = t->rank - 1; d >= 0; d--) {
            t->shape[d] = dims[i][d];
            t->strides[d] = n;
            n *= dims[i][d];
        }
        s->buf[i] = calloc((size_t)n + 1, 4);
        t->data = s->buf[i];
    }
}

static void teardown(Setup *s)
{
    for (int i = 0; i < NT; i++) free(s->buf[i]);
}

static AttnKernel kernel;

static void expect_error(const Setup *s, const double *p, int32_t np, const char *what)
{
    AbiArgs args;
    AttnStatus st = rt_validate(&kernel, s->t, NT, p, np, RT_LAUNCH_CPU, &args);
    CHECK_MSG(st == ATTN_ERR_ARG, "expected an error containing \"%s\", got %s", what,
              attn_status_name(st));
    CHECK_MSG(strstr(attn_last_error(), what) != NULL, "message \"%s\" lacks \"%s\"",
              attn_last_error(), what);
}

int main(void)
{
    static AirKernel air = {.name = "test", .tensors = tensors, .ntensors = NT, .syms = syms,
                            .nsyms = 6, .params = params, .nparams = 3, .dk = 64, .dv = 32,
                            .tq = T_Q, .tk = T_K, .tv = T_V, .to = T_O, .tlse = T_LSE,
                            .tselout = -1, .tselin = -1};
    kernel.air = &air;
    kernel.plan.tile_m = 16;
    kernel.plan.tile_n = 32;
    double p[3] = {128, 30.0, 0};
    Setup s;
    AbiArgs args;

    /* A good launch: Lq < Lk (decode-like), GQA 4:2, batch 3. */
    setup(&s, 3, 4, 2, 5, 37);
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_CPU, &args) == ATTN_OK);
    CHECK(args.sym[S_B] == 3 && args.sym[S_HQ] == 4 && args.sym[S_HKV] == 2 &&
          args.sym[S_LQ] == 5 && args.sym[S_LK] == 37);
    CHECK(args.q_offset == 32);
    CHECK(args.iparam[0] == 128 && args.fparam[1] == 30.0f && args.iparam[2] == 0);
    CHECK(args.tile_m == 16 && args.tile_n == 32);
    CHECK(args.t[T_K].data == s.t[T_K].data && args.t[T_K].shape[2] == 37 &&
          args.t[T_K].strides[1] == 37 * 64);

    /* Defaults apply only when every param has one. */
    expect_error(&s, NULL, 0, "param 'cap' has no default");
    expect_error(&s, p, 2, "2 params given but the spec declares 3");
    p[0] = 1.5;
    expect_error(&s, p, 3, "param 'window' is i32 but got 1.5");
    p[0] = 128;
    p[2] = 2;
    expect_error(&s, p, 3, "param 'causal' is bool");
    p[2] = 1;
    p[1] = NAN;
    expect_error(&s, p, 3, "param 'cap' is NaN");
    p[1] = 30;

    /* Tensors, one fault at a time, restored after each. */
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_CPU, &args) == ATTN_OK);
    CHECK(rt_validate(&kernel, s.t, NT - 1, p, 3, RT_LAUNCH_CPU, &args) == ATTN_ERR_ARG &&
          strstr(attn_last_error(), "7 tensors given but the spec declares 8"));

    void *saved = s.t[T_V].data;
    s.t[T_V].data = NULL;
    expect_error(&s, p, 3, "tensor 'v': data is a null pointer");
    s.t[T_V].data = saved;

    s.t[T_K].rank = 3;
    expect_error(&s, p, 3, "tensor 'k': rank is 3 but the spec declares 4 dims");
    s.t[T_K].rank = 4;

    s.t[T_Q].dtype = ATTN_BF16;
    expect_error(&s, p, 3, "tensor 'q': dtype is bf16 but the spec declares f32");
    s.t[T_Q].dtype = ATTN_F32;

    s.t[T_V].shape[2] = 36;
    expect_error(&s, p, 3, "tensor 'v': dim 2 (Lk) is 36 but 'k' has 37");
    s.t[T_V].shape[2] = 37;

    s.t[T_DOC].shape[1] = 38;
    expect_error(&s, p, 3, "tensor 'doc': dim 1 (Lk) is 38 but 'k' has 37");
    s.t[T_DOC].shape[1] = 37;

    s.t[T_V].shape[3] = 64;
    expect_error(&s, p, 3, "tensor 'v': dim 3 is 64 but the spec fixes it to 32");
    s.t[T_V].shape[3] = 32;

    s.t[T_O].strides[3] = 2;
    expect_error(&s, p, 3, "tensor 'o': the last dim must be contiguous");
    s.t[T_O].strides[3] = 1;

    s.t[T_K].strides[1] = -64;
    expect_error(&s, p, 3, "tensor 'k': stride 1 is negative");
    s.t[T_K].strides[1] = 37 * 64;

    s.t[T_LSE].strides[2] = 0;
    expect_error(&s, p, 3, "tensor 'lse': output dim 2 has stride 0");
    s.t[T_LSE].strides[2] = 1;

    s.t[T_Q].shape[0] = -1;
    expect_error(&s, p, 3, "tensor 'q': dim 0 has negative size");
    s.t[T_Q].shape[0] = 3;

    s.t[T_O].data = (char *)s.t[T_O].data + 2;
    expect_error(&s, p, 3, "tensor 'o': data");
    s.t[T_O].data = s.buf[T_O];

    /* o written over q: refused. */
    s.t[T_O].data = s.t[T_Q].data;
    expect_error(&s, p, 3, "tensor 'o': output memory overlaps tensor 'q'");
    s.t[T_O].data = s.buf[T_O];

    /* A stride whose byte extent overflows int64 would wrap and read before the buffer. */
    s.t[T_K].strides[0] = INT64_MAX / 2;
    expect_error(&s, p, 3, "tensor 'k': its strides reach past the end");
    s.t[T_K].strides[0] = 37 * 64 * 2;
    s.t[T_K].strides[2] = INT64_MAX / 40;
    expect_error(&s, p, 3, "tensor 'k': its strides reach past the end");
    s.t[T_K].strides[2] = 64;
    s.t[T_O].strides[0] = INT64_MAX / 2;
    s.t[T_O].data = s.t[T_Q].data;   /* the overlap check is not skipped either */
    expect_error(&s, p, 3, "tensor 'o': its strides reach past the end");
    s.t[T_O].strides[0] = 4 * 5 * 32;

    /* An empty side tensor has no element for a hook's clamped index to land on. */
    s.t[T_TAB].shape[0] = 0;
    expect_error(&s, p, 3, "tensor 'tab': dim 0 is 0");
    s.t[T_TAB].shape[0] = 3;
    s.t[T_O].data = s.buf[T_O];
    s.t[T_LSE].data = (float *)s.t[T_O].data + 10;
    expect_error(&s, p, 3, "output memory overlaps");
    s.t[T_LSE].data = s.buf[T_LSE];
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_CPU, &args) == ATTN_OK);
    teardown(&s);

    /* Hq not a multiple of Hkv. */
    setup(&s, 1, 6, 4, 8, 8);
    expect_error(&s, p, 3, "tensor 'q' has 6 heads, not a multiple of the 4 heads");
    teardown(&s);

    /* Reference launches accept f64 outputs; kernel launches do not. */
    setup(&s, 1, 2, 2, 3, 3);
    free(s.buf[T_O]);
    s.buf[T_O] = calloc(2 * 3 * 32, 8);
    s.t[T_O].data = s.buf[T_O];
    s.t[T_O].dtype = ATTN_F64;
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_REFERENCE, &args) == ATTN_OK);
    expect_error(&s, p, 3, "tensor 'o': dtype is f64 but the spec declares f32");
    s.t[T_O].dtype = ATTN_I32;
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_REFERENCE, &args) == ATTN_ERR_ARG);
    teardown(&s);

    /* Empty query (Lq = 0): valid, nothing to do; null data allowed for empty tensors. */
    setup(&s, 1, 2, 2, 0, 4);
    s.t[T_Q].data = NULL;
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_CPU, &args) == ATTN_OK);
    CHECK(args.q_offset == 4);
    teardown(&s);

    /* No keys (Lk = 0): a side tensor empty along Lk is never read; one empty elsewhere is. */
    setup(&s, 1, 2, 2, 3, 0);
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_CPU, &args) == ATTN_OK);
    s.t[T_TAB].shape[0] = 0;
    expect_error(&s, p, 3, "tensor 'tab': dim 0 is 0");
    teardown(&s);

    /* GPU launches: q, k, v and o rows must start 16-byte aligned (base and strides); side
     * tensors and lse need not. CPU launches accept the same arguments. */
    setup(&s, 2, 2, 2, 3, 5);
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_GPU, &args) == ATTN_OK);
    AttnStatus gst;
    s.t[T_K].data = (float *)s.buf[T_K] + 1;
    s.t[T_K].shape[2] = 4;   /* stays inside its buffer */
    gst = rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_GPU, &args);
    CHECK(gst == ATTN_ERR_ARG && strstr(attn_last_error(), "tensor 'k': data") &&
          strstr(attn_last_error(), "16-byte aligned"));
    s.t[T_V].shape[2] = 4;
    s.t[T_DOC].shape[1] = 4;
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_CPU, &args) == ATTN_OK);
    s.t[T_K].data = s.buf[T_K];
    s.t[T_O].strides[2] = 30;   /* rows of 32 elements 120 bytes apart: overlapping, 8-aligned */
    s.t[T_O].shape[2] = 3;
    gst = rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_GPU, &args);
    CHECK(gst == ATTN_ERR_ARG && strstr(attn_last_error(), "tensor 'o': stride 2 is 30"));
    s.t[T_O].strides[2] = 32;
    s.t[T_DOC].data = (int32_t *)s.buf[T_DOC] + 1;   /* side tensors: element alignment only */
    CHECK(rt_validate(&kernel, s.t, NT, p, 3, RT_LAUNCH_GPU, &args) == ATTN_OK);
    s.t[T_DOC].data = s.buf[T_DOC];
    teardown(&s);

    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    else printf("validation: all passed\n");
    return test_failures != 0;
}
