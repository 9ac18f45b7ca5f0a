/* rt_backend.c: the runtime's one door into the compiler: compiling a spec (pipeline), the AIR
 * text form, the mask analysis and tile maps, the f64 reference, the host CPU's name. The rest
 * of libattn calls only these rt_ functions for them; loading code (the CPU JIT, the CUDA
 * driver) is rt_loader.c. */
#include "rt.h"
#include "dtype.h"
#include "pass.h"
#include "phase_time.h"
#include "pipeline.h"

#include "cuda.h"
#include "ptx_text.h"
#include "jit.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The compiler hands over the attention kernel's PTX and its map kernel's as soon as each is
 * printed, each on the thread that printed it, while the other kernels are still being
 * generated: the driver's JIT of the entries a load needs runs then, and the load
 * (rt_gpu_load, rt_gpu_maps_new) finds them in the module cache, keyed by each entry's own
 * text. Failures are left for the load to report. */
static void early_load(void *ctx, const KernelPlan *plan, const char *text)
{
    (void)ctx;
    if (!rt_cuda_available()) return;
    for (int32_t i = 0; i < plan->nentries; i++) {
        const PlanEntry *e = &plan->entries[i];
        RtCudaKernel k;
        if ((e->role != ROLE_ATTENTION && e->role != ROLE_MAP) || !ptx_find_entry(text, e->name))
            continue;
        double t = phase_time_now();
        rt_cuda_kernel(0, text, e->name, 1, 0, &k);
        phase_time_end(t, "driver JIT of %s (early load)", e->name);
    }
    rt_clear_error();
}

AttnStatus rt_compile_spec(Arena *a, const char *text, const char *name,
                           const AttnCompileOptions *opts, RtEntry *e)
{
    const char *target = opts && opts->target ? opts->target : "native";
    Define *defs = NULL;
    int32_t nd = opts ? opts->ndefines : 0;
    if (nd > 0) {
        defs = arena_alloc(a, sizeof *defs * (size_t)nd);
        if (!defs) return rt_fail(ATTN_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; i < nd; i++) defs[i] = (Define){opts->defines[i].name,
                                                            opts->defines[i].value};
    }
    const Target *t = rt_target(target);
    Source *src = arena_alloc(a, sizeof *src);
    if (!src) return rt_fail(ATTN_ERR_NOMEM, "out of memory");
    *src = (Source){name, text, strlen(text)};
    Diags d;
    diags_init(&d, a, src);
    EmitSink sink = {early_load, NULL};
    CompileRequest req = {.text = text, .len = src->len, .name = name, .target = target,
                          .defines = defs, .ndefines = nd, .kernel = opts ? opts->kernel : NULL,
                          .emit = t && t->arch == ARCH_PTX ? EMIT_ASM : EMIT_OBJ,
                          .sink = t && t->arch == ARCH_PTX ? &sink : NULL};
    Compiled c;
    /* The driver's first JIT in the process warms up beside the LLVM work (rt_cuda_warm_start). */
    bool warming = t && t->arch == ARCH_PTX && rt_cuda_warm_start();
    bool compiled = pipeline_compile(a, &d, &req, &c);
    if (warming) rt_cuda_warm_join();
    if (!compiled && a->oom)
        return rt_fail(ATTN_ERR_NOMEM, "out of memory compiling the spec (%zu bytes in use)",
                       a->total);
    if (!compiled) {
        const char *msg = diags_render(&d, false);
        /* The spec is checked before the target is looked up: with no located error, a
         * missing target is what failed. */
        bool located = false;
        for (size_t i = 0; i < d.count; i++) located |= d.items[i].has_loc;
        AttnStatus st = !located && !t ? ATTN_ERR_TARGET : ATTN_ERR_SPEC;
        for (size_t i = 0; i < d.count; i++)
            if (strstr(d.items[i].msg, "not supported on")) st = ATTN_ERR_UNSUPPORTED;
        return rt_fail(st, "%s", msg ? msg : "compilation failed");
    }
    e->target = c.target->name;
    e->air_text = air_print(a, c.air);
    e->plan = c.plan;
    e->code = c.code;
    if (!e->air_text) return rt_fail(ATTN_ERR_NOMEM, "out of memory");
    return ATTN_OK;
}

const Target *rt_target(const char *name)
{
    return target_find(name);
}

AirKernel *rt_air_from_text(Arena *a, const char *text)
{
    Source *src = arena_alloc(a, sizeof *src);
    if (!src) {
        rt_fail(ATTN_ERR_NOMEM, "out of memory parsing AIR");
        return NULL;
    }
    *src = (Source){"<kernel AIR>", text, strlen(text)};
    Diags d;
    diags_init(&d, a, src);
    AirKernel *k = air_parse(a, &d);
    if (k && !air_verify(k, &d, "load")) k = NULL;
    if (!k) rt_fail(ATTN_ERR_INTERNAL, "the kernel's AIR does not load:\n%s",
                    diags_render(&d, false));
    return k;
}

struct MaskInfo *rt_mask_info(Arena *a, AirKernel *air)
{
    Diags d;
    diags_init(&d, a, NULL);
    return pass_mask_tiles(a, air, &d);
}

/* The tile map of `args` for tiles of tm x tn (malloc'd into *map; NULL when none). */
static AttnStatus build_map(const AttnKernel *k, AbiArgs *args, int32_t tm, int32_t tn,
                            uint8_t **map)
{
    *map = NULL;
    args->tiles = NULL;
    args->tile_sb = args->tile_sh = args->tile_sq = 0;
    if (!k->mask || tm <= 0 || tn <= 0) return ATTN_OK;
    size_t size = mask_tile_map_size(k->mask, k->air, args, tm, tn, &args->tile_sb,
                                     &args->tile_sh, &args->tile_sq);
    if (size == 0) return ATTN_OK;
    uint8_t *m = malloc(size);
    if (!m) return rt_fail(ATTN_ERR_NOMEM, "out of memory for a tile map of %zu bytes", size);
    char err[512];
    if (!mask_tile_map(k->mask, k->air, args, tm, tn, m, size, err, sizeof err)) {
        free(m);
        return rt_fail(ATTN_ERR_ARG, "%s", err);
    }
    *map = m;
    args->tiles = m;
    return ATTN_OK;
}

AttnStatus rt_tile_map(const AttnKernel *k, AbiArgs *args, uint8_t **map)
{
    /* GPU launches build and keep their maps in device memory (launch_gpu.c). */
    if (k->is_gpu) {
        *map = NULL;
        args->tiles = NULL;
        return ATTN_OK;
    }
    return build_map(k, args, k->plan.tile_m, k->plan.tile_n, map);
}

AttnStatus rt_visible_pairs(const AttnKernel *k, const AbiArgs *args, double *pairs,
                            bool *exact)
{
    /* The map of 1 x 1 tiles classifies single elements: FULL is visible, EMPTY is not.
     * PARTIAL remains only where the interval evaluation is imprecise; it is counted as
     * visible and the count flagged as an upper bound. */
    AbiArgs a = *args;
    uint8_t *map;
    AttnStatus st = build_map(k, &a, 1, 1, &map);
    if (st != ATTN_OK) return st;
    const AbiTensor *q = &args->t[k->air->tq], *kt = &args->t[k->air->tk];
    int64_t B = q->shape[0], H = q->shape[1], lq = q->shape[2], lk = kt->shape[2];
    double n = 0;
    int64_t partial = 0;
    if (!map) {
        n = (double)B * (double)H * (double)lq * (double)lk;
        partial = k->mask && k->mask->has_mask;
    } else {
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t i = 0; i < lq; i++) {
                    const uint8_t *row = map + b * a.tile_sb + h * a.tile_sh + i * a.tile_sq;
                    for (int64_t j = 0; j < lk; j++) {
                        n += row[j] != TILE_EMPTY;
                        partial += row[j] == TILE_PARTIAL;
                    }
                }
    }
    free(map);
    *pairs = n;
    *exact = partial == 0 && k->air->sel.kind == SEL_NONE;
    return ATTN_OK;
}

/* Copies the contiguous `from` into `to`'s strides, element by element of es bytes. */
static void copy_strided(const AbiTensor *from, const AbiTensor *to, int32_t rank, size_t es)
{
    int64_t n = 1, idx[ABI_MAX_RANK] = {0};
    for (int32_t r = 0; r < rank; r++) n *= to->shape[r];
    for (int64_t e = 0; e < n; e++) {
        int64_t off = 0;
        for (int32_t r = 0; r < rank; r++) off += idx[r] * to->strides[r];
        memcpy((char *)to->data + (size_t)off * es, (const char *)from->data + (size_t)e * es, es);
        for (int32_t r = rank - 1; r >= 0 && ++idx[r] == to->shape[r]; r--) idx[r] = 0;
    }
}

/* The reference writes its outputs into scratch buffers and copies them out only when it
 * succeeds: on failure nothing of the caller's outputs is written (docs/api.md). */
AttnStatus rt_reference(const AttnKernel *k, const AbiArgs *args, const AirDtype *dtypes)
{
    Arena a;
    arena_init(&a);
    Diags d;
    diags_init(&d, &a, NULL);
    AttnStatus st = ATTN_OK;
    AbiArgs scratch = *args;
    const AirKernel *air = k->air;
    for (int32_t i = 0; i < air->ntensors && st == ATTN_OK; i++) {
        if (!air->tensors[i].is_output) continue;
        AbiTensor *t = &scratch.t[i];
        int64_t n = 1;
        for (int32_t r = air->tensors[i].rank - 1; r >= 0; r--) {
            t->strides[r] = n;
            n *= t->shape[r];
        }
        t->data = arena_alloc(&a, (size_t)n * air_dtype_size(dtypes[i]) + 1);
        if (!t->data) st = rt_fail(ATTN_ERR_NOMEM, "out of memory for the reference's outputs");
    }
    if (st == ATTN_OK && !air_reference(air, &scratch, dtypes, &d)) {
        const char *msg = diags_render(&d, false);
        st = rt_fail(ATTN_ERR_ARG, "reference: %s", msg && *msg ? msg : "failed");
    }
    for (int32_t i = 0; i < air->ntensors && st == ATTN_OK; i++)
        if (air->tensors[i].is_output)
            copy_strided(&scratch.t[i], &args->t[i], air->tensors[i].rank,
                         air_dtype_size(dtypes[i]));
    arena_free(&a);
    return st;
}

char *rt_host_cpu(void)
{
    char *name = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
    size_t n = strlen(name) + strlen(feat) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s %s", name, feat);
    LLVMDisposeMessage(name);
    LLVMDisposeMessage(feat);
    return s ? s : strdup("");
}
