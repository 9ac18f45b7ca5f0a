/* aot_recur.c: a recurrence ahead of time, built the plain way (cc against deltanet.h, linked
 * with deltanet.o and libattn): examples/deltanet.attn (bf16 q, k, v, o; f32 beta and the
 * state in and out) launched through the header's attn_deltanet_launch on random data, and o
 * and the final state compared with attn_reference through attn_aot_kernel. Tolerances
 * (relative Frobenius error): o (bf16) 1e-2, the final state (f32) 1e-4, as attnc run's. */
#define ATTN_DELTANET_IMPLEMENTATION
#include "deltanet.h"

#include "aot_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, H = 3, T = 41, D = 128 };

static uint32_t rng = 777;
static float urand(void) { return aot_urand(&rng); }   /* [0, 1) */

int main(void)
{
    size_t nx = (size_t)B * H * T * D, nb = (size_t)B * H * T, ns = (size_t)B * H * D * D;
    uint16_t *q = malloc(nx * 2), *k = malloc(nx * 2), *v = malloc(nx * 2), *o = malloc(nx * 2);
    float *beta = malloc(nb * 4), *s0 = malloc(ns * 4), *s1 = malloc(ns * 4);
    double *oref = malloc(nx * 8), *sref = malloc(ns * 8);
    if (!q || !k || !v || !o || !beta || !s0 || !s1 || !oref || !sref) return 2;
    float r = 1.0f / sqrtf((float)D);
    for (size_t x = 0; x < nx; x++)
        q[x] = to_bf16((2 * urand() - 1) * r), k[x] = to_bf16((2 * urand() - 1) * r), v[x] = to_bf16(2 * urand() - 1);
    for (size_t x = 0; x < nb; x++) beta[x] = urand();
    for (size_t x = 0; x < ns; x++) s0[x] = 2 * urand() - 1;
    int64_t sx[] = {B, H, T, D}, sb[] = {B, H, T}, ss[] = {B, H, D, D};
    /* declaration order: q, k, v, beta, s0, o, s1 */
    AttnTensor t[7] = {view(q, ATTN_BF16, 4, sx), view(k, ATTN_BF16, 4, sx), view(v, ATTN_BF16, 4, sx),
                       view(beta, ATTN_F32, 3, sb), view(s0, ATTN_F32, 4, ss), view(o, ATTN_BF16, 4, sx),
                       view(s1, ATTN_F32, 4, ss)};
    AttnTensor rt[7] = {t[0], t[1], t[2], t[3], t[4], view(oref, ATTN_F64, 4, sx), view(sref, ATTN_F64, 4, ss)};
    AttnStatus st = attn_deltanet_launch(t, ATTN_DELTANET_NUM_TENSORS, NULL, 0, NULL);
    AttnKernel *h = NULL;
    if (st == ATTN_OK) st = attn_aot_kernel(&attn_deltanet_kernel, &h);
    if (st == ATTN_OK) st = attn_reference(h, rt, 7, NULL, 0);
    if (st != ATTN_OK) {
        printf("FAIL: %s: %s\n", attn_status_name(st), attn_last_error());
        return 1;
    }
    double ro = rel_bf16(o, oref, nx), rs = rel_f32(s1, sref, ns);
    printf("%s on %s, B %d H %d T %d D %d: relative error o %.3g (bf16, limit 1e-2), final state %.3g "
           "(limit 1e-4)\n", attn_deltanet_kernel.name, attn_deltanet_kernel.target, B, H, T, D, ro, rs);
    int fail = !(ro <= 1e-2) || !(rs <= 1e-4);
    free(q), free(k), free(v), free(o), free(beta), free(s0), free(s1), free(oref), free(sref);
    if (!fail) printf("PASS\n");
    return fail;
}
