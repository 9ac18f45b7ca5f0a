/* jit_demo.c: compile a spec at run time with libattn, launch it on the CPU, and check the
 * result against the f64 reference.
 *
 *   cc jit_demo.c $(pkg-config --cflags --libs attn) -lm -o jit_demo && ./jit_demo
 *
 * The spec is Gemma 2's local attention (sliding window + tanh soft cap) at a small size, in
 * f32. The window is a runtime parameter: the demo launches the same kernel with two windows.
 * Exit status: 0 when the results match, 1 on any failure, 77 (test drivers' "skipped") when
 * this libattn was built without the reference, so nothing could be checked. */
#include <attn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char SPEC[] =
    "attention local_softcap {\n"
    "  in  q: f32[B, Hq, Lq, 64];\n"
    "  in  k: f32[B, Hkv, Lk, 64];\n"
    "  in  v: f32[B, Hkv, Lk, 64];\n"
    "  out o: f32[B, Hq, Lq, 64];\n"
    "  out lse: f32[B, Hq, Lq];\n"
    "  param window: i32 = 4096;\n"
    "  const cap = 50.0;\n"
    "  score = cap * tanh(score / cap);\n"
    "  mask  = j <= i && i - j < window;\n"
    "}\n";

enum { B = 2, HQ = 8, HKV = 2, L = 300, D = 64 };

/* A contiguous tensor of the given dtype and shape (row-major strides). */
static AttnTensor tensor(AttnDtype dt, int rank, const int64_t *shape)
{
    AttnTensor t = {.dtype = dt, .rank = rank};
    int64_t n = 1;
    for (int d = rank - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.strides[d] = n;
        n *= shape[d];
    }
    t.data = calloc((size_t)n, dt == ATTN_F64 ? sizeof(double) : sizeof(float));
    return t;
}

static int64_t numel(const AttnTensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->shape[d];
    return n;
}

/* Deterministic values in [-1, 1). */
static void fill(AttnTensor *t, uint32_t seed)
{
    float *p = t->data;
    for (int64_t e = 0; e < numel(t); e++) {
        seed = seed * 1664525u + 1013904223u;
        p[e] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
    }
}

/* Largest |got - want| over the tensor (f32 against f64). -inf == -inf counts as equal. */
static double max_err(const AttnTensor *got, const AttnTensor *want)
{
    const float *g = got->data;
    const double *w = want->data;
    double err = 0;
    for (int64_t e = 0; e < numel(got); e++) {
        if (isinf(w[e]) && (double)g[e] == w[e])
            continue;
        double d = fabs((double)g[e] - w[e]);
        if (!(d <= err))
            err = d;   /* also catches NaN */
    }
    return err;
}

static int fail(const char *what, AttnStatus s)
{
    fprintf(stderr, "%s: %s\n%s\n", what, attn_status_name(s), attn_last_error());
    return 1;
}

int main(void)
{
    AttnKernel *k = NULL;
    AttnCompileOptions copts = {.target = "native"};
    AttnStatus s = attn_compile(SPEC, "local_softcap.attn", &copts, &k);
    if (s != ATTN_OK)
        return fail("attn_compile", s);
    printf("compiled %s for %s: %d tensors, %d params\n", attn_kernel_name(k),
           attn_kernel_target(k), attn_kernel_num_tensors(k), attn_kernel_num_params(k));

    const int64_t qs[] = {B, HQ, L, D}, ks[] = {B, HKV, L, D}, ls[] = {B, HQ, L};
    AttnTensor t[5] = {tensor(ATTN_F32, 4, qs), tensor(ATTN_F32, 4, ks), tensor(ATTN_F32, 4, ks),
                       tensor(ATTN_F32, 4, qs), tensor(ATTN_F32, 3, ls)};
    AttnTensor ref[5] = {t[0], t[1], t[2], tensor(ATTN_F64, 4, qs), tensor(ATTN_F64, 3, ls)};
    fill(&t[0], 1);
    fill(&t[1], 2);
    fill(&t[2], 3);

    int status = 0;
    const double windows[] = {4096, 37};
    for (int w = 0; w < 2 && status == 0; w++) {
        double params[1] = {windows[w]};
        AttnLaunchOptions lopts = {.num_threads = 0};
        if ((s = attn_launch(k, t, 5, params, 1, &lopts)) != ATTN_OK) {
            status = fail("attn_launch", s);
            break;
        }
        if ((s = attn_reference(k, ref, 5, params, 1)) != ATTN_OK) {
            status = fail("attn_reference", s);
            if (s == ATTN_ERR_UNSUPPORTED)
                status = 77;
            break;
        }
        double eo = max_err(&t[3], &ref[3]), el = max_err(&t[4], &ref[4]);
        /* f32 softmax over <= 300 keys of O(1) logits: errors of a few ulps of the sums. */
        int ok = eo < 1e-4 && el < 1e-4;
        printf("window %4.0f: max |o - ref| = %.3g, max |lse - ref| = %.3g  %s\n", windows[w],
               eo, el, ok ? "ok" : "FAILED");
        if (!ok)
            status = 1;
    }

    for (int i = 0; i < 5; i++)
        free(t[i].data);
    free(ref[3].data);
    free(ref[4].data);
    attn_kernel_free(k);
    return status;
}
