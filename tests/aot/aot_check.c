/* aot_check.c: a program built the plain way, as a user of `attnc --emit=obj,header` would
 * (cc against causal.h, linked with causal.o and libattn): it launches examples/causal.attn
 * through the header's attn_causal_launch on random bf16 data with Lq < Lk, GQA and batch 2,
 * and compares o and lse with attn_reference run through the handle attn_aot_kernel gives for
 * the same descriptor. Tolerances as in tests/runtime/test_e2e.c (relative Frobenius error):
 * o (bf16) 1e-2, lse (f32) 1e-4. Also: the handle reports the header's kernel and target, and
 * a launch with a wrong tensor count is refused by validation. */
#define ATTN_CAUSAL_IMPLEMENTATION
#include "causal.h"

#include "aot_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, HQ = 4, HKV = 2, LQ = 37, LK = 53, D = 128 };

static uint32_t rng = 12345;
static float urand(void) { return aot_urand(&rng) * 2 - 1; }   /* [-1, 1) */

int main(void)
{
    size_t nq = (size_t)B * HQ * LQ * D, nk = (size_t)B * HKV * LK * D, nl = (size_t)B * HQ * LQ;
    uint16_t *q = malloc(nq * 2), *k = malloc(nk * 2), *v = malloc(nk * 2), *o = malloc(nq * 2);
    float *lse = malloc(nl * 4);
    double *oref = malloc(nq * 8), *lref = malloc(nl * 8);
    if (!q || !k || !v || !o || !lse || !oref || !lref) return 2;
    for (size_t x = 0; x < nq; x++) q[x] = to_bf16(2 * urand());
    for (size_t x = 0; x < nk; x++) k[x] = to_bf16(2 * urand()), v[x] = to_bf16(urand());
    int64_t sq[] = {B, HQ, LQ, D}, sk[] = {B, HKV, LK, D}, sl[] = {B, HQ, LQ};
    AttnTensor t[5] = {view(q, ATTN_BF16, 4, sq), view(k, ATTN_BF16, 4, sk),
                       view(v, ATTN_BF16, 4, sk), view(o, ATTN_BF16, 4, sq),
                       view(lse, ATTN_F32, 3, sl)};
    AttnTensor r[5] = {t[0], t[1], t[2], view(oref, ATTN_F64, 4, sq), view(lref, ATTN_F64, 3, sl)};

    AttnStatus st = attn_causal_launch(t, ATTN_CAUSAL_NUM_TENSORS, NULL, 0, NULL);
    if (st != ATTN_OK) {
        printf("FAIL: attn_causal_launch: %s: %s\n", attn_status_name(st), attn_last_error());
        return 1;
    }
    AttnKernel *h = NULL;
    st = attn_aot_kernel(&attn_causal_kernel, &h);
    if (st != ATTN_OK) {
        printf("FAIL: attn_aot_kernel: %s: %s\n", attn_status_name(st), attn_last_error());
        return 1;
    }
    int fail = 0;
    if (strcmp(attn_kernel_name(h), "causal") || strcmp(attn_kernel_target(h), attn_causal_kernel.target)) {
        printf("FAIL: the handle says kernel '%s', target '%s'\n", attn_kernel_name(h),
               attn_kernel_target(h));
        fail = 1;
    }
    st = attn_reference(h, r, 5, NULL, 0);
    if (st != ATTN_OK) {
        printf("FAIL: attn_reference: %s: %s\n", attn_status_name(st), attn_last_error());
        return 1;
    }
    double ro = rel_bf16(o, oref, nq), rl = rel_f32(lse, lref, nl);
    printf("%s on %s, B %d Hq %d Hkv %d Lq %d Lk %d D %d: relative error o %.3g (bf16, limit 1e-2), "
           "lse %.3g (limit 1e-4)\n", attn_causal_kernel.name, attn_causal_kernel.target, B, HQ,
           HKV, LQ, LK, D, ro, rl);
    if (!(ro <= 1e-2) || !(rl <= 1e-4)) fail = 1;

    st = attn_causal_launch(t, ATTN_CAUSAL_NUM_TENSORS - 1, NULL, 0, NULL);
    if (st != ATTN_ERR_ARG) {
        printf("FAIL: a launch with %d tensors returned %s\n", ATTN_CAUSAL_NUM_TENSORS - 1,
               attn_status_name(st));
        fail = 1;
    }
    free(q), free(k), free(v), free(o), free(lse), free(oref), free(lref);
    if (!fail) printf("PASS\n");
    return fail;
}
