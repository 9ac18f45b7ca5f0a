/* pass_mask_explain.c: `attnc --explain` for the mask: for given lengths and params, the tile
 * map computed exactly as a launch would, summarised in words a kernel engineer reads (what
 * share of tiles is skipped, where the mask is evaluated, what stays a runtime argument), plus
 * what each hook reads (pass_uses). */
#include "pass.h"

#include <stdlib.h>
#include <string.h>

static char *cat(Arena *a, char *s, const char *t) { return arena_printf(a, "%s%s", s ? s : "", t ? t : ""); }

char *mask_explain(Arena *a, const AirKernel *k, const MaskInfo *m, int64_t lq, int64_t lk,
                   const double *params, int32_t tile_m, int32_t tile_n)
{
    char *s = arena_printf(a, "mask tiles for Lq = %lld, Lk = %lld, tiles of %d x %d (q_offset %lld):\n",
                           (long long)lq, (long long)lk, tile_m, tile_n,
                           (long long)(lk > lq ? lk - lq : 0));
    AirUses *u = pass_uses(a, k);
    if (!m->has_mask) {
        s = cat(a, s, "  no mask: every tile is FULL; the kernel never evaluates a mask.\n");
    } else if (m->tensors) {
        s = cat(a, s, arena_printf(a, "  the mask reads side tensors (%s): the tile map is computed at "
                                      "launch from their contents.\n",
                                   air_uses_str(a, k, &(AirUseSet){.tensors = m->tensors})));
    } else {
        AbiArgs args;
        memset(&args, 0, sizeof args);
        for (int t = 0; t < 4; t++) args.t[t].shape[0] = args.t[t].shape[1] = 1;
        args.t[k->tq].shape[2] = lq;
        args.t[k->tk].shape[2] = lk;
        for (int32_t y = 0; y < k->nsyms && y < ABI_MAX_SYMS; y++)
            args.sym[y] = k->syms[y].role == SYM_LQ ? lq : k->syms[y].role == SYM_LK ? lk : 1;
        bool missing = false;
        for (int32_t p = 0; p < k->nparams && p < ABI_MAX_PARAMS; p++) {
            double v = params ? params[p] : k->params[p].def;
            missing = missing || (!params && !k->params[p].has_default && (m->params & (1u << p)));
            args.iparam[p] = (int32_t)v;
            args.fparam[p] = (float)v;
        }
        args.q_offset = lk > lq ? lk - lq : 0;
        int64_t sb, sh, sq;
        size_t n = mask_tile_map_size(m, k, &args, tile_m, tile_n, &sb, &sh, &sq);
        uint8_t *map = n ? malloc(n) : NULL;
        char err[160] = "";
        if (map && mask_tile_map(m, k, &args, tile_m, tile_n, map, n, err, sizeof err)) {
            size_t c[3] = {0, 0, 0};
            for (size_t x = 0; x < n; x++) c[map[x]]++;
            s = cat(a, s, arena_printf(a,
                "  %zu tiles: %.1f%% EMPTY (skipped: no loads, no math), %.1f%% FULL (no mask "
                "evaluation), %.1f%% PARTIAL (mask evaluated per element)%s\n",
                n, 100.0 * (double)c[TILE_EMPTY] / (double)n, 100.0 * (double)c[TILE_FULL] / (double)n,
                100.0 * (double)c[TILE_PARTIAL] / (double)n,
                m->per_h ? "; for head 0, the map differs per head" : ""));
            if (missing) s = cat(a, s, "  (params without a default taken as 0)\n");
        } else {
            s = cat(a, s, arena_printf(a, "  tile map not computed: %s\n", err));
        }
        free(map);
    }
    if (m->has_mask) {
        s = cat(a, s, arena_printf(a, "  the map depends on %s%s%s; runtime values: %s\n",
                                   m->idx & (USE_I | USE_J) ? "the tile position" : "nothing positional",
                                   m->per_b ? ", the batch" : "", m->per_h ? ", the head" : "",
                                   air_uses_str(a, k, &(AirUseSet){.params = m->params, .syms = m->syms,
                                                                    .tensors = m->tensors})));
        if (m->nimprecise)
            s = cat(a, s, arena_printf(a, "  %d mask node(s) have no interval rule (vectors, "
                                          "reductions): tiles touching them are PARTIAL\n", m->nimprecise));
    }
    for (int h = 0; u && h < HOOK_COUNT; h++)
        if (k->hook[h] >= 0)
            s = cat(a, s, arena_printf(a, "  hook %s reads: %s\n", air_hook_names[h],
                                       air_uses_str(a, k, &u->hook[h])));
    return s;
}
