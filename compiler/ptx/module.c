/* module.c: the GPU targets' emission. The chosen skeleton's plan gives a list of units (the
 * attention kernel, its map kernel, the decode entries); each unit is one LLVM module, built
 * by the unit's builder and printed as PTX by the NVPTX back end, on threads of its own.
 *
 * Process-wide LLVM state: the NVPTX target is initialised and two NVPTX options are set
 * through LLVMParseCommandLineOptions exactly once per process, under pthread_once:
 * `-nvptx-short-ptr` (32-bit shared / local / const pointers, so shared addresses live in 32-bit
 * registers) and `-nvptx-prec-divf32=1` (f32 division as div.full.f32, within 2 ulp, instead of
 * the IEEE div.rn subroutine: hooks such as softcap's tanh divide per score element). Both are
 * global to LLVM but touch only NVPTX code generation; nothing else in attnc may call
 * LLVMParseCommandLineOptions. Every other LLVM
 * object (context, module, target machine) belongs to one compilation. */
#include "gen.h"
#include "phase_time.h"
#include "ptx_text.h"

#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <pthread.h>
#include <string.h>

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

/* Builds the kernels of units[0 .. n) in one LLVM module and prints it. */
static bool generate_unit(const PtxConfig *c, const PtxUnit *units, int n, EmitKind kind, Arena *a,
                          Blob *out, Diags *d)
{
    const char *unit = units[0].name;
    double t = phase_time_now();
    Gen g;
    memset(&g, 0, sizeof g);
    cg_ptx_shape(&g, c);
    if (!cg_llvm_open(&g.cg, c->entry, "nvptx64-nvidia-cuda", c->sm >= 90 ? "sm_90a" : "sm_80",
                      "+ptx80", LLVMRelocDefault, a, d))
        return false;
    g.h2 = LLVMVectorType(g.cg.t_f16, 2);
    g.p1 = LLVMPointerTypeInContext(g.cg.ctx, 1);
    g.p3 = LLVMPointerTypeInContext(g.cg.ctx, 3);
    bool ok = true;
    for (int u = 0; u < n && ok; u++) ok = units[u].build(&g);
    phase_time_end(t, "%s unit: LLVM IR built", unit);
    ok = ok && cg_llvm_finish(&g.cg, kind, PTX_PASSES, unit, out);
    cg_llvm_close(&g.cg);
    return ok;
}

/* A unit built on a thread of its own beside the calling one. */
typedef struct UnitJob {
    const PtxConfig *c;
    const PtxUnit *unit;
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
    j->ok = generate_unit(j->c, j->unit, 1, EMIT_ASM, &j->a, &j->out, &j->d);
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

/* PTX is emitted as one LLVM module per unit, on as many threads: the first unit (the attention
 * kernel) on the calling one, the others beside it. The compile should cost the longest of
 * them, not their sum (LLVM's time for the decode entries is more than the attention kernel's).
 * The texts of eager units go to the sink as soon as each is printed, so that their loads (the
 * driver's JIT) run while the other units are still being generated: the map kernel, short, is
 * usually JIT-compiled before the attention kernel is printed. The texts are joined in the
 * units' order into one PTX module. LLVM IR output stays one module on one thread. */
bool cg_ptx_generate_units(const PtxConfig *c, const PtxUnit *units, int n, EmitKind kind,
                           const EmitSink *sink, const KernelPlan *plan, Arena *a, Blob *out,
                           Diags *d)
{
    if (kind == EMIT_OBJ) {
        diag_error_noloc(d, "GPU targets emit PTX or LLVM IR, not object files");
        diag_hint(d, "use --emit=ptx (and ptxas for a cubin)");
        return false;
    }
    pthread_once(&ptx_once, ptx_init);
    if (kind == EMIT_LLVM) return generate_unit(c, units, n, kind, a, out, d);
    UnitJob jobs[PTX_MAX_UNITS];
    int njobs = 0;
    for (int u = 1; u < n; u++) {
        UnitJob *j = &jobs[njobs++];
        *j = (UnitJob){.c = c, .unit = &units[u], .sink = units[u].eager ? sink : NULL, .plan = plan};
        arena_init(&j->a);
        diags_init(&j->d, &j->a, NULL);
        j->threaded = pthread_create(&j->th, NULL, unit_job, j) == 0;
    }
    bool ok = generate_unit(c, units, 1, kind, a, out, d);
    if (ok && sink && units[0].eager) sink->part(sink->ctx, plan, (const char *)out->data);
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
