/* target.c: the x86-64 targets ("x86-64-v4": AVX-512, "x86-64-v3": AVX2 + FMA, "native": the
 * host's CPU and features). plan() checks once, for every skeleton, that the kernel is
 * something the CPU code generator handles (softmax attention with scalar hooks, behind a
 * sparsity selector or not, or a recurrence), then picks the skeleton by the kernel's form and its register blocking;
 * module.c emits it. */
#include "cpu.h"
#include "pass.h"

#include <string.h>

static const char *const tensor_roles[] = {"q", "k", "v", "o"};

static bool check_dtype(const AirKernel *k, int t, int role, const char *target, Diags *d)
{
    AirDtype dt = k->tensors[t].dtype;
    if (dt == DT_F32 || dt == DT_F16 || dt == DT_BF16) return true;
    diag_error_noloc(d, "tensor '%s' (%s) has dtype %s, which target %s does not support",
                     k->tensors[t].name, tensor_roles[role],
                     dt == DT_I32 ? "i32" : dt == DT_F64 ? "f64" : "?", target);
    diag_hint(d, "q, k, v and o must be f32, f16 or bf16");
    return false;
}

bool cg_cpu_plan(const Target *t, const AirKernel *k, KernelPlan *p, Diags *d)
{
    memset(p, 0, sizeof *p);
    if (k->dk < 16 || k->dk > 256 || k->dv < 16 || k->dv > 256) {
        diag_error_noloc(d, "head dims Dk = %d, Dv = %d are outside 16..256", k->dk, k->dv);
        return false;
    }
    int roles[4] = {k->tq, k->tk, k->tv, k->to};
    for (int r = 0; r < 4; r++)
        if (!check_dtype(k, roles[r], r, t->name, d)) return false;
    if (k->tlse >= 0 && k->tensors[k->tlse].dtype != DT_F32) {
        diag_error_noloc(d, "tensor '%s' (lse) must be f32", k->tensors[k->tlse].name);
        return false;
    }
    if (!pass_hook_check(k, k->hook[HOOK_SCALE], t->name, false, false, d) ||
        !pass_hook_check(k, k->hook[HOOK_SCORE], t->name, true, true, d) ||
        !pass_hook_check(k, k->hook[HOOK_MASK], t->name, false, true, d) ||
        !pass_hook_check(k, k->hook[HOOK_SINK], t->name, false, false, d))
        return false;

    int lanes;
    if (!t->cpu) {
        char *name = LLVMGetHostCPUName(), *feat = LLVMGetHostCPUFeatures();
        p->t.cpu.name = arena_strdup(d->arena, name);
        p->t.cpu.features = arena_strdup(d->arena, feat);
        /* Less AVX512-FP16: LLVM 19's X86 back end reverses an f16 vector compare against a
         * constant (`fcmp ogt <16 x half> x, zeroinitializer`, which instcombine makes of an f16
         * side tensor's `> 0.0`, became x < 0). The kernels do no f16 arithmetic (f16 values
         * are converted to f32, with F16C), so the feature buys nothing. */
        char *fp16 = p->t.cpu.features ? strstr((char *)p->t.cpu.features, "+avx512fp16") : NULL;
        if (fp16) *fp16 = '-';
        bool avx512 = strstr(feat, "+avx512f") != NULL;
        bool avx2 = strstr(feat, "+avx2") && strstr(feat, "+fma");
        LLVMDisposeMessage(name);
        LLVMDisposeMessage(feat);
        if (!avx2) {
            diag_error_noloc(d, "the host CPU has no AVX2 and FMA, which the CPU kernels need");
            diag_hint(d, "no CPU target of attnc runs on this machine");
            return false;
        }
        lanes = avx512 ? 16 : 8;
    } else {
        p->t.cpu.name = t->cpu;
        p->t.cpu.features = "";
        lanes = t->lanes;
    }
    p->arch = ARCH_CPU;
    p->t.cpu.vector_width = lanes;
    if (!p->t.cpu.name || !p->t.cpu.features) return false;
    /* The skeleton, by the kernel's form (the checks above refused the forms no skeleton has). */
    switch (k->kind) {
    case KIND_SOFTMAX:
        return k->sel.kind != SEL_NONE ? cg_cpu_select_plan(k, p, t->name, d) : cg_cpu_fa_plan(k, p, d);
    case KIND_RECURRENT: return cg_cpu_recur_plan(k, p, t->name, d);
    default: break;
    }
    diag_error_noloc(d, "internal error: no CPU skeleton for this kind of kernel");
    return false;
}

/* --explain: how the map of a side-tensor mask is built for this target (the runtime
 * builds it with mask_tile_map on the host, through runtime/rt_backend.c). */
char *cg_cpu_explain(const Target *t, const AirKernel *k, const KernelPlan *plan,
                         const Source *src, Arena *a)
{
    (void)src;
    if (plan->skeleton == SKEL_SELECT) {
        SelectForm f;
        if (!pass_select_form(a, k, &f)) return NULL;
        char *line = select_explain(a, k, &f, src);
        const char *pick = f.form == SELF_GIVEN ? "the given indices of each query row (in range, each once, ascending)"
                         : "scores and top-k per query row (candidates with a visible key; a streaming top-k, O(top) "
                           "memory a row)";
        return arena_printf(a, "%s  on %s: %s%s, then each row's softmax over the keys of its selection, %d keys "
                               "at a time\n", line ? line : "", t->name, f.uses_mean ? "block means of K, " : "",
                            pick, plan->t.cpu.vector_width);
    }
    if (plan->skeleton == SKEL_SCAN)
        return arena_printf(a, "  on %s: a sequential scan of the update as written; a work item is (b, h) with the "
                               "whole Dk x Dv state on the stack; one pass per vector-matrix product\n", t->name);
    if (plan->skeleton == SKEL_RECUR) {
        int w = plan->tile_m;
        return arena_printf(a, "  on %s: a scan over t, no chunks; a work item is (b, h, %d state columns), its "
                               "Dk x %d slab of S (%d KB of f32) kept on the stack for the whole sequence; "
                               "T = 1 is one step\n", t->name, w, w, (k->dk * w * 4 + 1023) / 1024);
    }
    AirUses *u = pass_uses(a, k);
    if (!u) return NULL;
    if (!u->hook[HOOK_MASK].tensors) return arena_printf(a, "%s", "");
    return arena_printf(a, "  on %s the map is built on the host at each launch from each tile's [min, max] "
                           "of the side tensors (O(Lq + Lk) reads per batch and head); PARTIAL tiles "
                           "evaluate the mask element by element.\n", t->name);
}

