/* aot_select.c: a sparsity selector ahead of time, built the plain way (cc against nsa.h,
 * linked with nsa.o and libattn): examples/nsa.attn (bf16 q, k, v, o; blocks of 64, the 16 best
 * per GQA group, shared) launched through the header's attn_nsa_launch on random data (Hq 4,
 * Hkv 2, Lq 70 < Lk 1100: the queries are the last 70 positions, so rows see 16-18 blocks), and
 * o and lse compared with attn_reference through attn_aot_kernel. Tolerances (relative Frobenius
 * error): o (bf16) 1e-2, lse (f32) 1e-4, as attnc run's. */
#define ATTN_NSA_IMPLEMENTATION
#include "nsa.h"

#include "aot_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, HQ = 4, HKV = 2, LQ = 70, LK = 1100, D = 128 };

static uint32_t rng = 4242;
static float urand(void) { return aot_urand(&rng); }   /* [0, 1) */

int main(void)
{
    size_t nq = (size_t)B * HQ * LQ * D, nk = (size_t)B * HKV * LK * D, nl = (size_t)B * HQ * LQ;
    uint16_t *q = malloc(nq * 2), *k = malloc(nk * 2), *v = malloc(nk * 2), *o = malloc(nq * 2);
    float *lse = malloc(nl * 4);
    double *oref = malloc(nq * 8), *lref = malloc(nl * 8);
    if (!q || !k || !v || !o || !lse || !oref || !lref) return 2;
    for (size_t x = 0; x < nq; x++) q[x] = to_bf16(2 * urand() - 1);
    for (size_t x = 0; x < nk; x++) k[x] = to_bf16(2 * urand() - 1), v[x] = to_bf16(2 * urand() - 1);
    int64_t sq[] = {B, HQ, LQ, D}, sk[] = {B, HKV, LK, D}, sl[] = {B, HQ, LQ};
    /* declaration order: q, k, v, o, lse */
    AttnTensor t[5] = {view(q, ATTN_BF16, 4, sq), view(k, ATTN_BF16, 4, sk), view(v, ATTN_BF16, 4, sk),
                       view(o, ATTN_BF16, 4, sq), view(lse, ATTN_F32, 3, sl)};
    AttnTensor rt[5] = {t[0], t[1], t[2], view(oref, ATTN_F64, 4, sq), view(lref, ATTN_F64, 3, sl)};
    AttnStatus st = attn_nsa_launch(t, ATTN_NSA_NUM_TENSORS, NULL, 0, NULL);
    AttnKernel *h = NULL;
    if (st == ATTN_OK) st = attn_aot_kernel(&attn_nsa_kernel, &h);
    if (st == ATTN_OK) st = attn_reference(h, rt, 5, NULL, 0);
    if (st != ATTN_OK) {
        printf("FAIL: %s: %s\n", attn_status_name(st), attn_last_error());
        return 1;
    }
    double ro = rel_bf16(o, oref, nq), rl = rel_f32(lse, lref, nl);
    printf("%s on %s, B %d Hq %d Hkv %d Lq %d Lk %d D %d: relative error o %.3g (bf16, limit 1e-2), lse %.3g "
           "(limit 1e-4)\n", attn_nsa_kernel.name, attn_nsa_kernel.target, B, HQ, HKV, LQ, LK, D, ro, rl);
    int fail = !(ro <= 1e-2) || !(rl <= 1e-4);
    free(q), free(k), free(v), free(o), free(lse), free(oref), free(lref);
    if (!fail) printf("PASS\n");
    return fail;
}
