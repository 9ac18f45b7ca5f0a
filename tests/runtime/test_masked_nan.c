/* test_masked_nan.c: a masked key takes no part in a row (docs/language.md section 13), whatever
 * its k and v rows hold. NaN and Inf are planted in k and v rows that the mask hides from some
 * or all rows (an unwritten KV cache past the valid length; a causal row's future key), at odd
 * lengths, with GQA, for prefill and decode shapes; the kernel's outputs must match the f64
 * reference element by element: NaN exactly where the reference has NaN (a row that sees a NaN
 * v), the same infinity where it has one, and close values everywhere else.
 *
 * usage: test_masked_nan [TARGET [DTYPE]]   (default: native f32; GPU targets take bf16/f16) */
#include "rt.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *causal_spec =
    "attention masked_causal {\n"
    "  in  q: f32[B, Hq, Lq, 64];\n"
    "  in  k: f32[B, Hkv, Lk, 64];\n"
    "  in  v: f32[B, Hkv, Lk, 64];\n"
    "  out o: f32[B, Hq, Lq, 64];\n"
    "  out lse: f32[B, Hq, Lq];\n"
    "  mask = j <= i;\n"
    "}\n";

/* a sliding window (a mask hook): key j is seen by rows j .. j + 49 only */
static const char *window_spec =
    "attention masked_window {\n"
    "  in  q: f32[B, Hq, Lq, 96];\n"
    "  in  k: f32[B, Hkv, Lk, 96];\n"
    "  in  v: f32[B, Hkv, Lk, 96];\n"
    "  out o: f32[B, Hq, Lq, 96];\n"
    "  out lse: f32[B, Hq, Lq];\n"
    "  mask = j <= i && i - j < 50;\n"
    "}\n";

static const char *length_spec =
    "attention masked_length {\n"
    "  in  q: f32[B, Hq, Lq, 128];\n"
    "  in  k: f32[B, Hkv, Lk, 128];\n"
    "  in  v: f32[B, Hkv, Lk, 128];\n"
    "  out o: f32[B, Hq, Lq, 128];\n"
    "  out lse: f32[B, Hq, Lq];\n"
    "  param len: i32 = 100;\n"
    "  mask = j < len;\n"
    "}\n";

/* The rules of docs/language.md section 13 that kernels and the reference share. */
#define SPECIAL(name, decls, hooks)                                                             \
    "attention " name " {\n"                                                                    \
    "  in  q: f32[B, Hq, Lq, 64];\n"                                                            \
    "  in  k: f32[B, Hkv, Lk, 64];\n"                                                           \
    "  in  v: f32[B, Hkv, Lk, 64];\n" decls                                                     \
    "  out o: f32[B, Hq, Lq, 64];\n"                                                            \
    "  out lse: f32[B, Hq, Lq];\n" hooks "}\n"

/* a NaN logit at j = 3: rows i >= 3 are NaN (o and lse), rows before it are not */
static const char *nan_logit_spec =
    SPECIAL("nan_logit", "", "  score = select(j == 3, sqrt(-1.0), score);\n  mask = j <= i;\n");
/* a +inf logit at j = 5: o is NaN and lse is +inf from row 5 on */
static const char *inf_logit_spec =
    SPECIAL("inf_logit", "", "  score = select(j == 5, inf, score);\n  mask = j <= i;\n");
/* exp overflows f32 at j = 7: the same +inf logit, in the kernel and the reference */
static const char *exp_overflow_spec =
    SPECIAL("exp_overflow", "",
            "  score = select(j == 7, exp(100.0 + score), score);\n  mask = j <= i;\n");
/* int() saturates: 3e7 * j passes 2^31 at j = 72 and stays positive */
static const char *int_saturate_spec =
    SPECIAL("int_saturate", "", "  mask = int(float(j) * 3.0e7) >= 0 && j <= i;\n");
/* a side-tensor index past its dim is clamped to the last element */
static const char *clamp_index_spec =
    SPECIAL("clamp_index", "  in  tab: f32[W];\n", "  score = score + tab[j - 2];\n");

/* Element e of a host tensor, as f64. */
static double get(const AttnTensor *t, int64_t e)
{
    switch (t->dtype) {
    case ATTN_F32: return ((const float *)t->data)[e];
    case ATTN_F64: return ((const double *)t->data)[e];
    case ATTN_BF16: {
        uint32_t u = (uint32_t)((const uint16_t *)t->data)[e] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case ATTN_F16: return (double)((const _Float16 *)t->data)[e];
    default: return NAN;
    }
}

static void put(AttnTensor *t, int64_t e, double x)
{
    switch (t->dtype) {
    case ATTN_F32: ((float *)t->data)[e] = (float)x; break;
    case ATTN_BF16: {
        float f = (float)x;
        uint32_t u;
        memcpy(&u, &f, 4);
        ((uint16_t *)t->data)[e] = (uint16_t)(isnan(f) ? 0x7fc0u : u >> 16);
        break;
    }
    case ATTN_F16: ((_Float16 *)t->data)[e] = (_Float16)x; break;
    default: break;
    }
}

/* Fills key row `j` of every (b, head) of k or v (contiguous [B, H, L, D]) with x. */
static void plant(AttnTensor *t, int64_t j, double x)
{
    for (int64_t b = 0; b < t->shape[0]; b++)
        for (int64_t h = 0; h < t->shape[1]; h++)
            for (int64_t d = 0; d < t->shape[3]; d++)
                put(t, b * t->strides[0] + h * t->strides[1] + j * t->strides[2] + d, x);
}

/* Element-wise agreement of output ti; returns the number of disagreements. */
static int64_t compare(const AttnKernel *k, const RunData *d, int32_t ti, double tol)
{
    const AttnTensor *got = &d->host[ti], *ref = &d->ref[ti];
    int64_t n = 1, bad = 0;
    for (int32_t r = 0; r < got->rank; r++) n *= got->shape[r];
    for (int64_t e = 0; e < n; e++) {
        double g = get(got, e), w = get(ref, e);
        bool ok = isnan(w) ? isnan(g) : isinf(w) ? g == w : fabs(g - w) <= tol * (1 + fabs(w));
        if (!ok && bad++ < 3)
            fprintf(stderr, "  %s[%lld]: kernel %g, reference %g\n",
                    attn_kernel_tensor_name(k, ti), (long long)e, g, w);
    }
    return bad;
}

typedef struct Case {
    const char *what, *spec;
    int64_t B, hq, hkv, lq, lk;
    int64_t plant_from;     /* key rows [plant_from, lk) get NaN or Inf in k and v */
    int64_t nan_v_row;      /* >= 0: also NaN in this v row (visible to later rows) */
    double v_val;           /* what goes in that row instead of NaN, when not 0 */
} Case;

static void run_case(const Case *c, const char *target, const char *dtype)
{
    AttnCompileOptions o = {.target = target, .no_cache = 1, .dtype = dtype};
    AttnKernel *k = NULL;
    CHECK_MSG(attn_compile(c->spec, c->what, &o, &k) == ATTN_OK, "%s: compile: %s", c->what,
              attn_last_error());
    if (!k) return;
    RunConfig rc = {.seed = 7};
    const char *names[] = {"B", "Hq", "Hkv", "Lq", "Lk"};
    int64_t vals[] = {c->B, c->hq, c->hkv, c->lq, c->lk};
    for (int i = 0; i < 5; i++) {
        snprintf(rc.defines[i].name, sizeof rc.defines[i].name, "%s", names[i]);
        rc.defines[i].value = (double)vals[i];
    }
    rc.ndefines = 5;
    RunData d;
    if (!run_make_inputs(k, &rc, &d)) {
        CHECK_MSG(false, "%s: inputs: %s", c->what, attn_last_error());
        attn_kernel_free(k);
        return;
    }
    AttnTensor *kt = &d.host[k->air->tk], *vt = &d.host[k->air->tv];
    for (int64_t j = c->plant_from; j < c->lk; j++) {
        plant(vt, j, (j & 1) ? NAN : INFINITY);
        plant(kt, j, (j & 1) ? -INFINITY : NAN);
    }
    if (c->nan_v_row >= 0) plant(vt, c->nan_v_row, c->v_val != 0 ? c->v_val : NAN);
    /* on a GPU target the inputs went to the device when they were made: send the planted k, v */
    for (int x = 0; x < 2 && d.on_gpu; x++) {
        const AttnTensor *h = x ? vt : kt;
        size_t bytes = (h->dtype == ATTN_F32 ? 4 : 2);
        for (int32_t r = 0; r < h->rank; r++) bytes *= (size_t)h->shape[r];
        CHECK_MSG(rt_dev_upload(d.dev[x ? k->air->tv : k->air->tk].data, h->data, bytes) == ATTN_OK,
                  "%s: upload: %s", c->what, attn_last_error());
    }
    AttnLaunchOptions lo = {.num_threads = 2};
    AttnStatus st = run_launch(k, &d, &lo);
    CHECK_MSG(st == ATTN_OK, "%s: launch: %s", c->what, attn_last_error());
    if (st == ATTN_OK) st = run_reference(k, &d);
    CHECK_MSG(st == ATTN_OK, "%s: reference: %s", c->what, attn_last_error());
    if (st == ATTN_OK) {
        double tol = d.host[k->air->to].dtype == ATTN_F32 ? 1e-4 : 2e-2;
        int64_t bad = compare(k, &d, k->air->to, tol);
        if (k->air->tlse >= 0) bad += compare(k, &d, k->air->tlse, 1e-4);
        printf("%-40s %s %s B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld: %lld disagreements\n",
               c->what, target, dtype, (long long)c->B, (long long)c->hq, (long long)c->hkv,
               (long long)c->lq, (long long)c->lk, (long long)bad);
        CHECK_MSG(bad == 0, "%s on %s: %lld outputs differ from the reference", c->what, target,
                  (long long)bad);
    }
    run_free(&d);
    attn_kernel_free(k);
}

int main(int argc, char **argv)
{
    const char *target = argc > 1 ? argv[1] : "native";
    const char *dtype = argc > 2 ? argv[2] : "f32";
    const Case cases[] = {
        /* a NaN v row that the rows before it must not see */
        {"causal, NaN in v[5]", causal_spec, 2, 4, 2, 37, 37, 37, 5, 0},
        {"causal, NaN in v[70]", causal_spec, 1, 2, 1, 203, 203, 203, 70, 0},
        {"causal decode (Lq < Lk), NaN in v[75]", causal_spec, 2, 4, 2, 3, 77, 77, 75, 0},
        {"causal, +inf in v[9]", causal_spec, 1, 2, 2, 141, 141, 141, 9, INFINITY},
        /* a mask hook: rows before v[100] and rows past its window must not see it */
        {"window, NaN in v[100]", window_spec, 1, 2, 1, 211, 211, 211, 100, 0},
        /* an unwritten cache past len = 100: never visible */
        {"length mask, prefill", length_spec, 2, 4, 2, 45, 131, 100, -1, 0},
        {"length mask, decode", length_spec, 2, 8, 2, 1, 167, 100, -1, 0},
        {"length mask, a few rows", length_spec, 1, 4, 4, 5, 100 + 61, 100, -1, 0},
        /* NaN and infinite logits, f32 range, int(), clamped indices: one meaning everywhere */
        {"NaN logit at j = 3", nan_logit_spec, 2, 4, 2, 37, 37, 37, -1, 0},
        {"+inf logit at j = 5", inf_logit_spec, 1, 2, 2, 29, 29, 29, -1, 0},
        {"exp overflow at j = 7", exp_overflow_spec, 1, 2, 1, 3, 41, 41, -1, 0},
        {"int() saturates", int_saturate_spec, 1, 2, 1, 90, 90, 90, -1, 0},
        {"side index clamped", clamp_index_spec, 2, 2, 2, 13, 45, 45, -1, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_case(&cases[c], target, dtype);
    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    return test_failures != 0;
}
