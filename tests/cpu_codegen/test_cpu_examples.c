/* test_cpu_examples.c: every spec of examples/ through the whole pipeline (parse ... plan,
 * emit) for the CPU targets, JIT-loaded, launched over every work item with the tile map of
 * pass_mask_tiles, and compared with air_reference (the f64 oracle) on the same inputs.
 * Recurrences run over their work items (b, h, slab of state columns) like the rest.
 * Selector specs need the runtime's three phases (block means, top-k, attention): they run
 * through libattn in tests/runtime (test_select.c, test_e2e.c), not here.
 *
 * Tolerances (relative Frobenius error over all of o; lse over the rows that have one):
 * f32 outputs 1e-5 (see test_cpu_codegen.c: the reference sees the same rounded inputs, so
 * only f32 arithmetic differs, ~1e-6 measured); bf16 outputs 4e-3 and f16 outputs 1e-3, twice
 * the largest relative rounding error of the output format (2^-9, 2^-11). */
#include "../common/test_file.h"
#include <math.h>

#include "dtype.h"
#include "pass.h"
#include "pipeline.h"
#include "run_kernel.h"


static int64_t sym_value(AirSymRole r, int64_t lq, int64_t lk)
{
    switch (r) {
    case SYM_B: return 2;
    case SYM_HQ: return 4;
    case SYM_HKV: return 2;
    case SYM_LQ: return lq;
    case SYM_LK: return lk;
    default: return 3;
    }
}

static double out_tol(AirDtype dt) { return dt == DT_BF16 ? 4e-3 : dt == DT_F16 ? 1e-3 : 1e-5; }

/* Compiles, runs and checks one spec; Lq, Lk as given (a spec with one length symbol uses Lq). */
static bool run_spec(const char *file, const char *tname, int64_t lq, int64_t lk)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ATTNC_EXAMPLES_DIR, file);
    size_t len;
    char *text = test_read_file(path, &len);
    if (!text) {
        printf("FAIL %s: cannot read %s\n", file, path);
        return false;
    }
    Arena a;
    arena_init(&a);
    Source src = {file, text, len};
    Diags d;
    diags_init(&d, &a, &src);
    CompileRequest req = {.text = text, .len = len, .name = file, .target = tname, .emit = EMIT_OBJ};
    Compiled c;
    bool ok = pipeline_compile(&a, &d, &req, &c);
    if (!ok) {
        printf("FAIL %s %s: %s\n", file, tname, diags_render(&d, false));
        free(text);
        arena_free(&a);
        return false;
    }
    const AirKernel *k = c.air;
    char err[512];
    RtJit *jit = rt_jit_create(err, sizeof err);
    AbiCpuEntry entry = NULL;
    if (jit && rt_jit_add_object(jit, c.code.data, c.code.size, err, sizeof err))
        entry = (AbiCpuEntry)rt_jit_lookup(jit, c.plan.entries[0].name, err, sizeof err);
    if (!entry) {
        printf("FAIL %s %s: %s\n", file, tname, err);
        rt_jit_dispose(jit);
        free(text);
        arena_free(&a);
        return false;
    }

    AbiArgs *args = calloc(1, sizeof *args), *rargs = calloc(1, sizeof *rargs);
    for (int s = 0; s < k->nsyms; s++) args->sym[s] = sym_value(k->syms[s].role, lq, lk);
    for (int p = 0; p < k->nparams; p++) {
        args->iparam[p] = (int32_t)k->params[p].def;
        args->fparam[p] = (float)k->params[p].def;
    }
    Buf bufs[ABI_MAX_TENSORS] = {0}, refs[ABI_MAX_TENSORS] = {0};
    AirDtype rdt[ABI_MAX_TENSORS];
    for (int t = 0; t < k->ntensors; t++) {
        const AirTensor *at = &k->tensors[t];
        int64_t n = 1;
        for (int r = at->rank - 1; r >= 0; r--) {
            int64_t sz = at->dims[r].sym >= 0 ? args->sym[at->dims[r].sym] : at->dims[r].size;
            args->t[t].shape[r] = sz;
            args->t[t].strides[r] = n;
            n *= sz;
        }
        bufs[t] = buf_new(at->dtype, n, false);
        for (int64_t x = 0; x < n; x++) {
            if (at->is_output) buf_set(&bufs[t], x, 777.0);   /* must be overwritten */
            else if (at->dtype == DT_I32) buf_set(&bufs[t], x, (double)((x % args->t[t].shape[at->rank - 1]) / 13));
            else if (k->kind != KIND_RECURRENT) buf_set(&bufs[t], x, (at->role == ROLE_SIDE ? 2.0 : 1.5) * urand());
            /* a recurrence's inputs as attnc run makes them: a side tensor named g... is a log
             * decay, others gates in [0, 1); q, k scaled by Dk^-1/2 so that the state stays O(1) */
            else if (at->role != ROLE_SIDE) buf_set(&bufs[t], x, urand() / (at->role == ROLE_V ? 1.0 : sqrt((double)k->dk)));
            else buf_set(&bufs[t], x, at->name[0] == 'g' ? -0.001 - 0.099 * fabs(urand()) : fabs(urand()));
        }
        args->t[t].data = bufs[t].data;
        rdt[t] = at->dtype;
        if (at->is_output) {
            refs[t] = (Buf){DT_F64, calloc((size_t)n + 1, 8), NULL, n};
            rdt[t] = DT_F64;
        }
    }
    int64_t Lq = args->t[k->tq].shape[2], Lk = args->t[k->tk].shape[2];
    args->q_offset = Lq < Lk ? Lk - Lq : 0;
    *rargs = *args;
    for (int t = 0; t < k->ntensors; t++)
        if (k->tensors[t].is_output) rargs->t[t].data = refs[t].data;

    uint8_t *map = NULL;
    if (c.mask && c.plan.skeleton != SKEL_RECUR) {   /* a recurrence has no mask */
        size_t msize = mask_tile_map_size(c.mask, k, args, c.plan.tile_m, c.plan.tile_n,
                                          &args->tile_sb, &args->tile_sh, &args->tile_sq);
        map = malloc(msize + 1);
        if (!mask_tile_map(c.mask, k, args, c.plan.tile_m, c.plan.tile_n, map, msize, err, sizeof err)) {
            printf("FAIL %s: tile map: %s\n", file, err);
            ok = false;
        }
        args->tiles = map;
        args->tile_m = c.plan.tile_m;
        args->tile_n = c.plan.tile_n;
    }
    int64_t B = args->t[k->tq].shape[0], Hq = args->t[k->tq].shape[1];
    int64_t items = c.plan.skeleton == SKEL_RECUR ? k->dv : Lq;   /* state columns or query rows */
    for (int64_t b = 0; ok && b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t qb = 0; qb < (items + c.plan.tile_m - 1) / c.plan.tile_m; qb++) entry(args, b, h, qb);
    if (ok && !air_reference(k, rargs, rdt, &d)) {
        printf("FAIL %s: reference: %s\n", file, diags_render(&d, false));
        ok = false;
    }
    double e2 = 0, r2 = 0, le2 = 0, lr2 = 0;
    bool lse_inf_ok = true;
    const double *ro = refs[k->to].data;
    for (int64_t x = 0; ok && x < bufs[k->to].n; x++) {
        double g = buf_get(&bufs[k->to], x);
        e2 += (g - ro[x]) * (g - ro[x]);
        r2 += ro[x] * ro[x];
    }
    if (ok && k->tlse >= 0) {
        const double *rl = refs[k->tlse].data;
        for (int64_t x = 0; x < bufs[k->tlse].n; x++) {
            double g = buf_get(&bufs[k->tlse], x);
            if (isinf(rl[x])) lse_inf_ok &= g == rl[x];
            else le2 += (g - rl[x]) * (g - rl[x]), lr2 += rl[x] * rl[x];
        }
    }
    double rel = sqrt(e2 / (r2 > 0 ? r2 : 1)), lrel = sqrt(le2 / (lr2 > 0 ? lr2 : 1));
    double tol = out_tol(k->tensors[k->to].dtype);
    ok = ok && rel <= tol && lrel <= 1e-5 && lse_inf_ok;
    printf("%-4s %-20s %-10s Lq %3lld Lk %3lld  o rel %.2e (tol %.0e)  lse rel %.2e%s\n",
           ok ? "ok" : "FAIL", file, tname, (long long)Lq, (long long)Lk, rel, tol, lrel,
           lse_inf_ok ? "" : "  (-inf rows differ)");
    for (int t = 0; t < k->ntensors; t++) buf_free(&bufs[t]), free(refs[t].data);
    free(map), free(args), free(rargs), free(text);
    rt_jit_dispose(jit);
    arena_free(&a);
    return ok;
}

int main(void)
{
    static const char *const cpu_specs[] = {
        "alibi.attn", "causal.attn", "documents.attn", "gaussian.attn", "gemma2_local.attn",
        "gpt_oss.attn", "longformer.attn", "mla.attn", "prefix_lm.attn", "rat_dilated.attn",
        "sliding_window.attn", "ssmax.attn", "gated_deltanet.attn", "gla.attn", "mamba2.attn",
        "retnet.attn",
    };
    int fails = 0;
    bool v4 = test_host_has_v4();
    for (size_t i = 0; i < sizeof cpu_specs / sizeof cpu_specs[0]; i++) {
        fails += !run_spec(cpu_specs[i], "x86-64-v3", 150, 150);
        fails += !run_spec(cpu_specs[i], "native", 45, 201);   /* Lq < Lk */
        fails += !run_spec(cpu_specs[i], "native", 1, 150);    /* decode */
        if (v4) fails += !run_spec(cpu_specs[i], "x86-64-v4", 200, 200);
    }
    printf("%d failure(s)\n", fails);
    return fails != 0;
}
