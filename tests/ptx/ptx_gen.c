/* ptx_gen: writes one GPU kernel variant of the FlashAttention skeleton as PTX, without a spec.
 * Used by the PTX assembly test (every table row through ptxas) and to build the variants that
 * tests/gpu times on a GPU.
 *
 *   ptx_gen --sm 90 --dk 128 --dv 128 --mask causal --dtype bf16 [--lse]
 *           [--tile WARPS,MTILES,BLOCK_N,STAGES,QREGS[,WGMMA[,MINCTAS]]] [--entry NAME] -o out.ptx
 *
 * Tensor slots follow the test harness: q 0, k 1, v 2, o 3, lse 4. Prints the launch shape
 * ("tile_m threads smem_bytes block_n") on stdout. */
#include "ptx/ptx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    PtxConfig c = {.sm = 90, .dtype = DT_BF16, .dk = 128, .dv = 128, .mask = PTX_MASK_NONE,
                   .tq = 0, .tk = 1, .tv = 2, .to = 3, .tlse = -1, .entry = "attn_fwd"};
    const char *out = NULL, *tile = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--sm")) c.sm = atoi(v), i++;
        else if (!strcmp(a, "--dk")) c.dk = atoi(v), i++;
        else if (!strcmp(a, "--dv")) c.dv = atoi(v), i++;
        else if (!strcmp(a, "--mask")) c.mask = strcmp(v, "causal") ? PTX_MASK_NONE : PTX_MASK_CAUSAL, i++;
        else if (!strcmp(a, "--dtype")) c.dtype = strcmp(v, "f16") ? DT_BF16 : DT_F16, i++;
        else if (!strcmp(a, "--lse")) c.tlse = 4;
        else if (!strcmp(a, "--decode")) c.decode = true;
        else if (!strcmp(a, "--tile")) tile = v, i++;
        else if (!strcmp(a, "--entry")) c.entry = v, i++;
        else if (!strcmp(a, "-o")) out = v, i++;
        else {
            fprintf(stderr, "ptx_gen: unknown option '%s'\n", a);
            return 2;
        }
    }
    c.scale = (float)(1.0 / sqrt((double)c.dk));
    c.tile = cg_ptx_tile(c.sm, c.dk, c.dv, c.mask, false);   /* the skeleton alone: no hooks */
    if (tile) {
        int w, m, n, s, q, wg = 0, mc = 0;
        if (sscanf(tile, "%d,%d,%d,%d,%d,%d,%d", &w, &m, &n, &s, &q, &wg, &mc) < 5) {
            fprintf(stderr, "ptx_gen: --tile wants WARPS,MTILES,BLOCK_N,STAGES,QREGS[,WGMMA[,MINCTAS]]\n");
            return 2;
        }
        c.tile = (PtxTile){w, m, n, s, q != 0, wg != 0, mc};
    }
    Arena a;
    arena_init(&a);
    Source src = {"<ptx_gen>", "", 0};
    Diags d;
    diags_init(&d, &a, &src);
    Blob b;
    if (!cg_ptx_generate(&c, EMIT_ASM, NULL, NULL, &a, &b, &d)) {
        fprintf(stderr, "%s", diags_render(&d, false));
        arena_free(&a);
        return 1;
    }
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f || fwrite(b.data, 1, b.size, f) != b.size) {
        fprintf(stderr, "ptx_gen: cannot write %s\n", out ? out : "stdout");
        return 1;
    }
    if (out) fclose(f);
    int32_t tm, th, sm;
    cg_ptx_launch_shape(&c, &tm, &th, &sm);
    if (out) printf("%d %d %d %d\n", tm, th, sm, c.tile.block_n);
    arena_free(&a);
    return 0;
}
