/* cg_ptx.c: the NVIDIA GPU targets "sm_80" and "sm_90a". plan() checks that the AIR kernel fits
 * the FlashAttention-2 skeleton and picks its tile shape from the table below; emit() builds the
 * kernel through the LLVM C API (cg_ptx_fa.c) and prints PTX with the NVPTX back end.
 *
 * Process-wide LLVM state: the NVPTX target is initialised and two NVPTX options are set
 * through LLVMParseCommandLineOptions exactly once per process, under pthread_once:
 * `-nvptx-short-ptr` (32-bit shared / local / const pointers, so shared addresses live in 32-bit
 * registers) and `-nvptx-prec-divf32=1` (f32 division as div.full.f32, within 2 ulp, instead of
 * the IEEE div.rn subroutine: hooks such as softcap's tanh divide per score element). Both are
 * global to LLVM but touch only NVPTX code generation; nothing else in attnc may call
 * LLVMParseCommandLineOptions. Every other LLVM
 * object (context, module, target machine) belongs to one compilation. */
#include "cg_ptx_gen.h"
#include "phase_time.h"
#include "ptx_text.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/* ---- the tile table --------------------------------------------------------------------------
 * Chosen by head dim (the larger of Dk, Dv), target and mask; measured on an H100 (mma.sync rows)
 * and an H200 (wgmma rows), bench/NOTES.md "GPU kernel". Every row has 2 K/V stages.
 * tile_m x tile_n, warps, CTAs per SM the registers are capped for:
 *   head dim  sm_90a (wgmma, one warpgroup per 64 rows)        sm_80 (mma.sync, 4 warps)
 *   <= 64     full and causal: 128 x 128, 8 warps, 2 CTAs/SM   128 x 128 (2 m-tiles a warp)
 *             mask hook, or causal with a score hook:
 *                      64 x 128, 4 warps, 3 CTAs/SM
 *               (d64 causal on 8 warps: +3 to +13% on an H200, run 14, despite 16 bytes of
 *               spills; ALiBi's hook there spilled 176 bytes, so hooks keep 4 warps)
 *   <= 128    full:   256 x 64, 16 warps                        128 x 64 (2 m-tiles a warp)
 *             causal (and any mask hook): 128 x 64, 8 warps, 2 CTAs/SM
 *   <= 256    128 x 64, 8 warps                                 64 x 32 (A100: 163 KB shared)
 * wgmma rows pad head dims to a multiple of 64 (128-byte swizzled chunks); mma.sync rows to 16.
 * Shared memory: Q tile_m x Dk and stages x tile_n x (Dk + Dv) elements (mma.sync: + 8 per row),
 * then 2 x tile_n i32 per key value of the mask (PtxConfig.nstaged). */
PtxTile cg_ptx_tile(int32_t sm, int32_t dk, int32_t dv, PtxMask mask, bool score_hook)
{
    int32_t d = dk > dv ? dk : dv;
    bool causal = mask != PTX_MASK_NONE;   /* spec masks take the causal rows too */
    if (sm >= 90) {
        bool hooked = mask == PTX_MASK_HOOK || (causal && score_hook);
        if (d <= 64) return hooked ? (PtxTile){4, 1, 128, 2, false, true, 3}
                                   : (PtxTile){8, 1, 128, 2, false, true, 2};
        if (d <= 128) return causal ? (PtxTile){8, 1, 64, 2, false, true, 2}
                                    : (PtxTile){16, 1, 64, 2, false, true, 1};
        return (PtxTile){8, 1, 64, 2, false, true, 1};
    }
    if (d <= 64) return (PtxTile){4, 2, 128, 2, false, false, 1};
    if (d <= 128) return (PtxTile){4, 2, 64, 2, false, false, 1};
    return (PtxTile){4, 1, 32, 2, false, false, 1};
}

void cg_ptx_shape(Gen *g, const PtxConfig *c)
{
    g->c = c;
    g->NT = 32 * c->tile.warps;
    g->BM = 16 * c->tile.mtiles * c->tile.warps;
    g->BN = c->tile.block_n;
    g->DKP = (c->dk + 15) / 16 * 16;
    g->DVP = (c->dv + 15) / 16 * 16;
    g->QS = (g->DKP + 8) * 2;
    g->KS = g->QS;
    g->VS = (g->DVP + 8) * 2;
    g->swz = c->tile.wgmma;
    if (g->swz) {   /* 64-column chunks, 128 B a row, no padding (the swizzle avoids conflicts) */
        g->DKP = (c->dk + 63) / 64 * 64;
        g->DVP = (c->dv + 63) / 64 * 64;
        g->QS = g->KS = g->VS = 128;
    }
    int qrow = g->swz ? g->DKP * 2 : g->QS, vrow = g->swz ? g->DVP * 2 : g->VS;
    g->off_q = 0;
    g->off_kv = g->BM * qrow;
    g->voff = g->BN * qrow;
    g->stage_bytes = g->BN * (qrow + vrow);
    g->off_keys = g->off_kv + c->tile.stages * g->stage_bytes;
    g->smem_bytes = g->off_keys + 2 * c->nstaged * g->BN * 4;
}

void cg_ptx_launch_shape(const PtxConfig *c, int32_t *tile_m, int32_t *threads, int32_t *smem)
{
    Gen g;
    cg_ptx_shape(&g, c);
    *tile_m = g.BM;
    *threads = g.NT;
    *smem = g.smem_bytes;
}

/* ---- module and emission -------------------------------------------------------------------- */

static pthread_once_t ptx_once = PTHREAD_ONCE_INIT;

static void ptx_init(void)
{
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    const char *argv[] = {"attnc", "-nvptx-short-ptr", "-nvptx-prec-divf32=1"};
    LLVMParseCommandLineOptions(3, argv, NULL);
}

static void annotate(Gen *g, const char *key, int v)
{
    LLVMMetadataRef md[3] = {LLVMValueAsMetadata(g->fn),
                             LLVMMDStringInContext2(g->C, key, strlen(key)),
                             LLVMValueAsMetadata(gen_i32(g, v))};
    LLVMAddNamedMetadataOperand(g->M, "nvvm.annotations",
                                LLVMMetadataAsValue(g->C, LLVMMDNodeInContext2(g->C, md, 3)));
}

void cg_ptx_declare(Gen *g, const char *name, int threads, int min_ctas)
{
    LLVMTypeRef pty = LLVMPointerTypeInContext(g->C, 0);
    LLVMTypeRef fty = LLVMFunctionType(g->vd, &pty, 1, 0);
    g->fn = LLVMAddFunction(g->M, name, fty);
    LLVMSetFunctionCallConv(g->fn, 71);   /* ptx_kernel */
    /* AbiArgs by value: `ptr byval([N x i8]) align 8`, read with ld.param. */
    LLVMTypeRef abi = LLVMArrayType2(g->i8, sizeof(AbiArgs));
    unsigned byval = LLVMGetEnumAttributeKindForName("byval", 5);
    unsigned align = LLVMGetEnumAttributeKindForName("align", 5);
    LLVMAddAttributeAtIndex(g->fn, 1, LLVMCreateTypeAttribute(g->C, byval, abi));
    LLVMAddAttributeAtIndex(g->fn, 1, LLVMCreateEnumAttribute(g->C, align, 8));
    g->args = LLVMGetParam(g->fn, 0);
    if (!g->smem) {
        g->smem = LLVMAddGlobalInAddressSpace(g->M, LLVMArrayType2(g->i8, 0), "smem", 3);
        LLVMSetLinkage(g->smem, LLVMExternalLinkage);
        LLVMSetAlignment(g->smem, 1024);   /* 128B-swizzled wgmma tiles need 1024-byte alignment */
    }
    annotate(g, "maxntidx", threads);
    annotate(g, "minctasm", min_ctas > 1 ? min_ctas : 1);
    LLVMPositionBuilderAtEnd(g->B, LLVMAppendBasicBlockInContext(g->C, g->fn, "entry"));
}

/* The IR passes before NVPTX code generation. The builders emit SSA with no allocas and loops
 * already in the shape wanted, and ptxas optimises again, so the whole default<O3> pipeline
 * bought nothing measurable: the same instruction count within 1% (fewer with reassociate),
 * the same registers and the same kernel times on an H200, for 35-60% of the attention
 * kernel's LLVM time (bench/NOTES.md, run 13). `nvvm-intr-range` bounds %tid and %ctaid, which
 * instcombine needs to turn additions of disjoint bits into ors (the NVPTX target adds it to
 * the default pipelines itself). A bare `instcombine` in a pass string checks that one
 * iteration reached its fixed point and aborts the process with a fatal error when it did not
 * (`j > 3 ? j < 31 : j <= i` as a mask did); the default pipelines do not check, nor do we. */
static const char PTX_PASSES[] =
    "function(nvvm-intr-range,instcombine<no-verify-fixpoint>,early-cse,reassociate,"
    "instcombine<no-verify-fixpoint>,simplifycfg)";

static bool finish(Gen *g, LLVMTargetMachineRef tm, EmitKind kind, const char *unit, Arena *a,
                   Blob *out, Diags *d)
{
    char *msg = NULL;
    double t = phase_time_now();
    if (LLVMVerifyModule(g->M, LLVMReturnStatusAction, &msg)) {
        diag_error_noloc(d, "internal error: the generated GPU kernel does not verify: %.400s", msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMErrorRef err = LLVMRunPasses(g->M, PTX_PASSES, tm, po);
    LLVMDisposePassBuilderOptions(po);
    phase_time_end(t, "%s unit: verify and IR passes", unit);
    t = phase_time_now();
    if (err) {
        char *em = LLVMGetErrorMessage(err);
        diag_error_noloc(d, "internal error: LLVM passes failed on the GPU kernel: %s", em);
        LLVMDisposeErrorMessage(em);
        return false;
    }
    if (kind == EMIT_LLVM) {
        char *s = LLVMPrintModuleToString(g->M);
        size_t n = strlen(s);
        out->data = (unsigned char *)arena_strndup(a, s, n);
        out->size = n;
        LLVMDisposeMessage(s);
        return out->data != NULL;
    }
    LLVMMemoryBufferRef buf = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, g->M, LLVMAssemblyFile, &msg, &buf)) {
        diag_error_noloc(d, "internal error: NVPTX code generation failed: %s", msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    size_t n = LLVMGetBufferSize(buf);
    out->data = (unsigned char *)arena_strndup(a, LLVMGetBufferStart(buf), n);
    out->size = n;
    LLVMDisposeMemoryBuffer(buf);
    phase_time_end(t, "%s unit: NVPTX code generation", unit);
    return out->data != NULL;
}

/* Which kernels one LLVM module holds. */
enum { UNIT_MAIN = 1, UNIT_MAP = 2, UNIT_DECODE = 4 };   /* attention; map; decode + combine */

/* Builds the kernels of `parts` in one LLVM module and prints it. */
static bool generate_unit(const PtxConfig *c, int parts, EmitKind kind, Arena *a, Blob *out, Diags *d)
{
    const char *triple = "nvptx64-nvidia-cuda";
    const char *unit = parts & UNIT_MAIN ? "attention" : parts & UNIT_MAP ? "map" : "decode";
    double t = phase_time_now();
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        diag_error_noloc(d, "the NVPTX back end is not available in this LLVM: %s", msg);
        LLVMDisposeMessage(msg);
        return false;
    }
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, c->sm >= 90 ? "sm_90a" : "sm_80",
                                                      "+ptx80", LLVMCodeGenLevelAggressive,
                                                      LLVMRelocDefault, LLVMCodeModelDefault);
    Gen g;
    memset(&g, 0, sizeof g);
    cg_ptx_shape(&g, c);
    g.C = LLVMContextCreate();
    g.M = LLVMModuleCreateWithNameInContext(c->entry, g.C);
    g.B = LLVMCreateBuilderInContext(g.C);
    LLVMSetTarget(g.M, triple);
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *dl = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(g.M, dl);
    LLVMDisposeMessage(dl);
    LLVMDisposeTargetData(td);
    g.vd = LLVMVoidTypeInContext(g.C);
    g.i1 = LLVMInt1TypeInContext(g.C);
    g.i8 = LLVMInt8TypeInContext(g.C);
    g.i32 = LLVMInt32TypeInContext(g.C);
    g.i64 = LLVMInt64TypeInContext(g.C);
    g.f32 = LLVMFloatTypeInContext(g.C);
    g.h2 = LLVMVectorType(LLVMHalfTypeInContext(g.C), 2);
    g.p1 = LLVMPointerTypeInContext(g.C, 1);
    g.p3 = LLVMPointerTypeInContext(g.C, 3);
    g.tm = tm;
    g.a = a;
    g.d = d;
    g.cg = (CgLlvm){g.C, g.M, g.B, tm, d, a, g.vd, g.i1, g.i8, LLVMInt16TypeInContext(g.C), g.i32,
                    g.i64, LLVMHalfTypeInContext(g.C), g.f32, LLVMPointerTypeInContext(g.C, 0)};
    bool ok = true;
    if (parts & UNIT_MAIN) {
        cg_ptx_declare(&g, c->entry, g.NT, c->tile.min_ctas);
        ok = cg_ptx_build_fa(&g);
        if (!ok && !d->errors) diag_error_noloc(d, "internal error: tile shape out of the skeleton's range");
    }
    ok = ok && (!(parts & UNIT_MAP) || cg_ptx_build_map(&g));
    ok = ok && (!(parts & UNIT_DECODE) || cg_ptx_build_decode(&g));
    phase_time_end(t, "%s unit: LLVM IR built", unit);
    ok = ok && finish(&g, tm, kind, unit, a, out, d);
    LLVMDisposeBuilder(g.B);
    LLVMDisposeModule(g.M);
    LLVMContextDispose(g.C);
    LLVMDisposeTargetMachine(tm);
    return ok;
}

/* A unit built on a thread of its own beside the calling one. */
typedef struct UnitJob {
    const PtxConfig *c;
    int parts;
    const EmitSink *sink;   /* handed the text when the unit is one a load needs (the map) */
    const KernelPlan *plan;
    Arena a;
    Diags d;
    Blob out;
    bool ok, threaded;
    pthread_t th;
} UnitJob;

static void *unit_job(void *p)
{
    UnitJob *j = p;
    j->ok = generate_unit(j->c, j->parts, EMIT_ASM, &j->a, &j->out, &j->d);
    if (j->ok && j->sink) j->sink->part(j->sink->ctx, j->plan, (const char *)j->out.data);
    return NULL;
}

/* Appends a unit's entries to the text in `out`, without the unit's header (the headers are
 * the same; `smem` is declared by the first). */
static bool append_unit(const Blob *unit, Arena *a, Blob *out, Diags *d)
{
    const char *text = (const char *)unit->data, *body = ptx_next_entry(text);
    /* The header dropped may declare nothing but what the main one declares. */
    for (const char *p = text; body && p < body; p = strchr(p, '\n') + 1)
        if (!strncmp(p, ".global", 7) || !strncmp(p, ".const", 6) ||
            (!strncmp(p, ".extern", 7) && !strstr(p, " smem[]")))
            body = NULL;
    if (!body) {
        diag_error_noloc(d, "internal error: a GPU kernel unit's PTX has no kernel or declares globals");
        return false;
    }
    size_t n = strlen(body);
    unsigned char *m = arena_alloc(a, out->size + n + 2);
    if (!m) return false;
    memcpy(m, out->data, out->size);
    m[out->size] = '\n';
    memcpy(m + out->size + 1, body, n + 1);
    out->data = m;
    out->size += n + 1;
    return true;
}

/* PTX is emitted as up to three LLVM modules on as many threads: the attention kernel on the
 * calling one; its map kernel (masks that read side tensors) and the decode entries beside it.
 * The compile should cost the longest of them, not their sum (LLVM's time for the decode
 * entries is more than the attention kernel's). The attention and map texts go to the sink as
 * soon as each is printed, so that their loads (the driver's JIT) run while the other units
 * are still being generated: the map kernel, short, is usually JIT-compiled before the
 * attention kernel is printed. The texts are joined in the order attention, map, decode into
 * one PTX module. LLVM IR output stays one module on one thread. */
bool cg_ptx_generate(const PtxConfig *c, EmitKind kind, const EmitSink *sink, const KernelPlan *plan,
                     Arena *a, Blob *out, Diags *d)
{
    if (kind == EMIT_OBJ) {
        diag_error_noloc(d, "GPU targets emit PTX or LLVM IR, not object files");
        diag_hint(d, "use --emit=ptx (and ptxas for a cubin)");
        return false;
    }
    pthread_once(&ptx_once, ptx_init);
    int others = (c->map ? UNIT_MAP : 0) | (c->decode ? UNIT_DECODE : 0);
    if (kind == EMIT_LLVM) return generate_unit(c, UNIT_MAIN | others, kind, a, out, d);
    UnitJob jobs[2];
    int njobs = 0;
    for (int part = UNIT_MAP; part <= UNIT_DECODE; part <<= 1) {
        if (!(others & part)) continue;
        UnitJob *j = &jobs[njobs++];
        *j = (UnitJob){.c = c, .parts = part, .sink = part == UNIT_MAP ? sink : NULL, .plan = plan};
        arena_init(&j->a);
        diags_init(&j->d, &j->a, NULL);
        j->threaded = pthread_create(&j->th, NULL, unit_job, j) == 0;
    }
    bool ok = generate_unit(c, UNIT_MAIN, kind, a, out, d);
    if (ok && sink) sink->part(sink->ctx, plan, (const char *)out->data);
    for (int i = 0; i < njobs; i++) {
        UnitJob *j = &jobs[i];
        if (j->threaded) pthread_join(j->th, NULL);
        else unit_job(j);
        for (size_t k = 0; k < j->d.count; k++)
            if (j->d.items[k].level == DIAG_ERROR) diag_error_noloc(d, "%s", j->d.items[k].msg);
        ok = ok && j->ok && append_unit(&j->out, a, out, d);
    }
    for (int i = 0; i < njobs; i++) arena_free(&jobs[i].a);
    return ok;
}

/* ---- Target: plan and emit from AIR --------------------------------------------------------- */

static bool is_idx(const AirKernel *k, int32_t id, AirIndex ix)
{
    return k->nodes[id].op == OP_IDX && k->nodes[id].ref == (int32_t)ix;
}

static bool is_causal(const AirKernel *k, int32_t id)
{
    const AirNode *n = &k->nodes[id];
    return (n->op == OP_LE && is_idx(k, n->args[0], IX_J) && is_idx(k, n->args[1], IX_I)) ||
           (n->op == OP_GE && is_idx(k, n->args[0], IX_I) && is_idx(k, n->args[1], IX_J));
}

/* True when the bool expression at id implies j <= i: that comparison itself, or an && with
 * such an operand. */
static bool implies_causal(const AirKernel *k, int32_t id)
{
    const AirNode *n = &k->nodes[id];
    if (n->op == OP_AND) return implies_causal(k, n->args[0]) || implies_causal(k, n->args[1]);
    return is_causal(k, id);
}

/* The masks the skeleton evaluates itself: none, and j <= i; any other is a hook. A hook that
 * implies j <= i (`j <= i && doc[b, i] == doc[b, j]`) still ends the key loop at the diagonal. */
static PtxMask mask_of(const AirKernel *k, bool *causal_bound)
{
    int32_t r = k->hook[HOOK_MASK];
    *causal_bound = r >= 0 && implies_causal(k, r);
    if (r < 0 || (k->nodes[r].op == OP_CONST && k->nodes[r].num != 0)) return PTX_MASK_NONE;
    return is_causal(k, r) ? PTX_MASK_CAUSAL : PTX_MASK_HOOK;
}

static bool unsupported(Diags *d, const AirKernel *k, int32_t node, const char *what,
                        const Target *t)
{
    Loc loc = node >= 0 ? k->nodes[node].loc : (Loc){0, 0};
    if (node >= 0) diag_error(d, loc, "%s is not supported on target %s yet", what, t->name);
    else diag_error_noloc(d, "%s is not supported on target %s yet", what, t->name);
    diag_hint(d, "no code generator handles this yet; --target=reference runs the spec through the f64 evaluator");
    return false;
}

/* Fills c's mask split (PtxConfig.presets) once, for the attention kernel, its map kernel and
 * --explain. Key values are staged one key a thread, row values of a whole query tile fit the
 * map kernel's ABI_MAP_SMEM: every row of the tile table allows both. */
static void split_mask(const AirKernel *k, PtxConfig *c)
{
    int32_t rows = 16 * c->tile.mtiles * c->tile.warps, root = k->hook[HOOK_MASK];
    if (c->mask != PTX_MASK_HOOK || c->tile.block_n > 32 * c->tile.warps ||
        rows * 4 * PTX_MAX_STAGED > ABI_MAP_SMEM)
        return;
    c->nrowvals = cg_hook_split(k, root, IX_I, IX_J, c->presets, PTX_MAX_STAGED);
    c->nstaged = cg_hook_split(k, root, IX_J, IX_I, c->presets + c->nrowvals, PTX_MAX_STAGED);
    c->mask_fused = !cg_hook_loads_left(k, root, c->presets, c->nrowvals + c->nstaged);
}

/* Masks that read side tensors get a map kernel; the maps of other masks are built on the host
 * (they depend on sizes and params only). */
static bool has_map(const AirKernel *k, const PtxConfig *c)
{
    return c->mask == PTX_MASK_HOOK && cg_hook_loads_left(k, k->hook[HOOK_MASK], NULL, 0);
}

static bool ptx_config(const Target *t, const AirKernel *k, PtxConfig *c, Diags *d)
{
    memset(c, 0, sizeof *c);
    c->sm = strcmp(t->name, "sm_80") == 0 ? 80 : 90;
    if (k->kind != KIND_SOFTMAX) return unsupported(d, k, -1, "a recurrence", t);
    for (int h = HOOK_SELECT; h < HOOK_COUNT; h++)
        if (k->hook[h] >= 0 && h != HOOK_OUT) return unsupported(d, k, k->hook[h], "this hook", t);
    if (k->sel.kind != SEL_NONE) return unsupported(d, k, -1, "a sparsity selector", t);
    if (!cg_hook_check(k, k->hook[HOOK_SCALE], t->name, false, false, d) ||
        !cg_hook_check(k, k->hook[HOOK_SCORE], t->name, true, true, d) ||
        !cg_hook_check(k, k->hook[HOOK_MASK], t->name, false, true, d) ||
        !cg_hook_check(k, k->hook[HOOK_SINK], t->name, false, false, d))
        return false;
    c->air = k;
    c->target_name = t->name;
    c->mask = mask_of(k, &c->causal_bound);
    int32_t s = k->hook[HOOK_SCALE];
    c->scale = (float)(1.0 / sqrt((double)k->dk));
    if (s >= 0 && k->nodes[s].op == OP_CONST) c->scale = (float)k->nodes[s].num;
    c->dtype = k->tensors[k->tq].dtype;
    c->tq = k->tq; c->tk = k->tk; c->tv = k->tv; c->to = k->to; c->tlse = k->tlse;
    int32_t io[4] = {k->tq, k->tk, k->tv, k->to};
    for (int i = 0; i < 4; i++)
        if (k->tensors[io[i]].dtype != c->dtype || (c->dtype != DT_BF16 && c->dtype != DT_F16)) {
            diag_error_noloc(d, "tensor '%s': on %s q, k, v and o must all be bf16 or all f16",
                             k->tensors[io[i]].name, t->name);
            return false;
        }
    if (k->tlse >= 0 && k->tensors[k->tlse].dtype != DT_F32) {
        diag_error_noloc(d, "lse must be f32");
        return false;
    }
    c->dk = k->dk;
    c->dv = k->dv;
    if (c->dk % 8 || c->dv % 8 || c->dk < 16 || c->dv < 16 || c->dk > 256 || c->dv > 256) {
        diag_error_noloc(d, "head dims %d / %d: GPU targets need multiples of 8 in 16..256", c->dk, c->dv);
        diag_hint(d, "pad the head dim to a multiple of 8");
        return false;
    }
    c->tile = cg_ptx_tile(c->sm, c->dk, c->dv, c->mask, k->hook[HOOK_SCORE] >= 0);
    split_mask(k, c);
    c->map = has_map(k, c);
    c->entry = k->name;
    c->decode = true;
    return true;
}

static bool ptx_plan(const Target *t, const AirKernel *k, KernelPlan *plan, Diags *d)
{
    PtxConfig c;
    if (!ptx_config(t, k, &c, d)) return false;
    memset(plan, 0, sizeof *plan);
    plan->entry = c.entry;
    plan->tile_n = c.tile.block_n;
    plan->skip_tile_map = c.mask != PTX_MASK_HOOK;   /* the skeleton bounds causal itself */
    cg_ptx_launch_shape(&c, &plan->tile_m, &plan->threads, &plan->smem_bytes);
    cg_ptx_decode_plan(&c, plan);
    return true;
}

static bool ptx_emit(const Target *t, const AirKernel *k, const KernelPlan *plan, EmitKind kind,
                     const EmitSink *sink, Arena *a, Blob *out, Diags *d)
{
    PtxConfig c;
    if (!ptx_config(t, k, &c, d)) return false;
    return cg_ptx_generate(&c, kind, kind == EMIT_ASM ? sink : NULL, plan, a, out, d);
}

/* The source text of node id (its location in the spec), for --explain. */
static const char *quote(Arena *a, const Source *src, const AirKernel *k, int32_t id)
{
    Loc l = k->nodes[id].loc;
    if (!src || !src->text || l.end <= l.begin || l.end > src->len) return "(an expression)";
    return arena_printf(a, "`%.*s`", (int)(l.end - l.begin), src->text + l.begin);
}

/* --explain: the CTA, where the mask is evaluated, and how a side-tensor mask is read. */
static char *ptx_explain(const Target *t, const AirKernel *k, const KernelPlan *plan,
                         const Source *src, Arena *a)
{
    Diags d;
    diags_init(&d, a, NULL);
    PtxConfig c;
    if (!ptx_config(t, k, &c, &d)) return arena_printf(a, "%s", "");
    char *s = arena_printf(a, "  on %s a CTA is %d threads (%s) with %d bytes of shared memory; ", t->name,
                           plan->threads, c.tile.wgmma ? "wgmma, one warpgroup per 64 rows" : "mma.sync",
                           plan->smem_bytes);
    if (c.mask == PTX_MASK_NONE)
        s = arena_printf(a, "%sno mask: only tiles crossing Lk are bounds-checked.\n", s);
    else if (c.mask == PTX_MASK_CAUSAL)
        s = arena_printf(a, "%sthe key loop ends at the CTA's diagonal; `j <= i` is applied on the "
                            "tiles that cross it.\n", s);
    else
        s = arena_printf(a, "%s%sthe mask is evaluated on PARTIAL tiles and tiles crossing Lk only.\n",
                         s, c.causal_bound ? "the key loop ends at the CTA's diagonal (the mask implies "
                                             "j <= i); " : "");
    if (!s || !c.map) return s;
    char map[512];
    ptx_map_entry(c.entry, map, sizeof map);
    s = arena_printf(a, "%s  the map is rebuilt at each launch by the kernel %s, which evaluates the "
                        "mask on every (i, j)%s (O(Lq x Lk) per batch, and per head where the mask "
                        "reads h).\n", s, map, c.causal_bound ? " up to the diagonal" : "");
    for (int r = 0; r < c.nrowvals + c.nstaged && s; r++)
        s = arena_printf(a, "%s  %s: %s\n", s, quote(a, src, k, c.presets[r]), r < c.nrowvals
                         ? "loaded once per query row, not per (i, j)."
                         : "loaded once per key of each key tile, into shared memory.");
    return s ? arena_printf(a, "%s  %s\n", s, !c.mask_fused
        ? "a side-tensor read depends on both i and j: the mask is evaluated per element into bits before S = QK^T."
        : "no side-tensor read is left per element: the mask is applied after S = QK^T.") : NULL;
}

const Target target_ptx_sm80 = {.name = "sm_80", .is_gpu = true, .plan = ptx_plan, .emit = ptx_emit, .explain = ptx_explain};
const Target target_ptx_sm90a = {.name = "sm_90a", .is_gpu = true, .plan = ptx_plan, .emit = ptx_emit, .explain = ptx_explain};
