/* main.c: launches a kernel compiled ahead of time by attn_add_kernels() (see CMakeLists.txt)
 * and checks it against a plain C loop over the same math.
 *
 * window.attn was compiled at build time for x86-64-v3; its header declares
 *   AttnStatus attn_window_launch(const AttnTensor *tensors, int32_t ntensors,
 *                                 const double *params, int32_t nparams,
 *                                 const AttnLaunchOptions *opts);
 * which validates the tensors and runs the linked kernel on the CPU's cores, as attn_launch
 * does for a kernel compiled at run time. No compiler runs in this program. One C file defines
 * ATTN_WINDOW_IMPLEMENTATION before the include: the kernel's descriptor lives there. */
#define ATTN_WINDOW_IMPLEMENTATION   /* this file holds the kernel's descriptor */
#include "window.x86-64-v3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 1, HQ = 4, HKV = 2, L = 256, D = 64, WINDOW = 48 };

static float q[B][HQ][L][D], k[B][HKV][L][D], v[B][HKV][L][D], o[B][HQ][L][D], lse[B][HQ][L];

static AttnTensor view(void *data, int rank, const int64_t *shape)
{
    AttnTensor t = {.data = data, .dtype = ATTN_F32, .rank = rank};
    int64_t n = 1;
    for (int d = rank - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.strides[d] = n;
        n *= shape[d];
    }
    return t;
}

/* The larger error; a NaN wins (fmax would drop it). */
static double worse(double err, double d)
{
    return d > err || d != d ? d : err;
}

static void fill(float *p, size_t n, uint32_t seed)
{
    for (size_t e = 0; e < n; e++) {
        seed = seed * 1664525u + 1013904223u;
        p[e] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
    }
}

/* Max |error| of row (b, h, i) of o and lse against softmax(q k^T / sqrt(D)) v over the keys
 * j <= i, i - j < WINDOW, computed in double. */
static double row_error(int b, int h, int i)
{
    int kh = h / (HQ / HKV);
    double s[L], m = -INFINITY, sum = 0, err = 0;
    for (int j = 0; j < L; j++) {
        s[j] = -INFINITY;
        if (j <= i && i - j < WINDOW) {
            double dot = 0;
            for (int d = 0; d < D; d++)
                dot += (double)q[b][h][i][d] * k[b][kh][j][d];
            s[j] = dot / sqrt((double)D);
            m = fmax(m, s[j]);
        }
    }
    for (int j = 0; j < L; j++)
        sum += s[j] == -INFINITY ? 0 : exp(s[j] - m);
    for (int d = 0; d < D; d++) {
        double acc = 0;
        for (int j = 0; j < L; j++)
            if (s[j] != -INFINITY)
                acc += exp(s[j] - m) / sum * v[b][kh][j][d];
        err = worse(err, fabs(acc - o[b][h][i][d]));
    }
    return worse(err, fabs(m + log(sum) - lse[b][h][i]));
}

int main(void)
{
    fill(&q[0][0][0][0], sizeof q / sizeof(float), 1);
    fill(&k[0][0][0][0], sizeof k / sizeof(float), 2);
    fill(&v[0][0][0][0], sizeof v / sizeof(float), 3);

    const int64_t qs[] = {B, HQ, L, D}, ks[] = {B, HKV, L, D}, ls[] = {B, HQ, L};
    AttnTensor t[5] = {view(q, 4, qs), view(k, 4, ks), view(v, 4, ks), view(o, 4, qs),
                       view(lse, 3, ls)};
    double params[1] = {WINDOW};
    AttnStatus s = attn_window_launch(t, 5, params, 1, NULL);
    if (s != ATTN_OK) {
        fprintf(stderr, "attn_window_launch: %s\n%s\n", attn_status_name(s), attn_last_error());
        return 1;
    }

    double err = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HQ; h++)
            for (int i = 0; i < L; i++)
                err = worse(err, row_error(b, h, i));
    int ok = err < 1e-4;
    printf("window attention, AOT for x86-64-v3: max error against the C loop %.3g  %s\n", err,
           ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
