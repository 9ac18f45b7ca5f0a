/* module.c: the CPU targets' emission: one LLVM module (one object) holding every entry point
 * of the chosen skeleton, built in the order its plan lists them, then verified, optimised
 * and printed by cg_llvm_finish. */
#include "cpu.h"

bool cg_cpu_emit(const Target *t, const AirKernel *k, const KernelPlan *plan, EmitKind kind,
                     const EmitSink *sink, Arena *a, Blob *out, Diags *d)
{
    (void)sink;   /* one object, printed at the end */
    cg_llvm_init_x86();
    CgLlvm cg;
    if (!cg_llvm_open(&cg, k->name, "x86_64-unknown-linux-gnu", plan->t.cpu.name,
                      plan->t.cpu.features, LLVMRelocPIC, a, d))
        return false;
    CpuShape s = cg_cpu_fa_shape(plan->t.cpu.vector_width);
    CpuEntryBuild entries[CPU_MAX_ENTRIES];
    int n = 0;
    switch (plan->skeleton) {
    case SKEL_FA: n = cg_cpu_fa_entries(plan, entries); break;
    case SKEL_RECUR: n = cg_cpu_recur_entries(plan, entries); break;
    case SKEL_SCAN: n = cg_cpu_scan_entries(plan, entries); break;
    case SKEL_SELECT: n = cg_cpu_select_entries(plan, entries); break;
    default: diag_error_noloc(d, "internal error: no CPU skeleton %d", plan->skeleton); break;
    }
    bool ok = true;
    for (int e = 0; e < n && ok; e++) {
        Skel sk;
        cg_cpu_skel_init(&sk, &cg, k, &s, t->name);
        ok = entries[e](&sk, plan);
    }
    ok = ok && d->errors == 0 && cg_llvm_finish(&cg, kind, NULL, "cpu", out);
    cg_llvm_close(&cg);
    return ok;
}
