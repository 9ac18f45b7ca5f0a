/* targets.c: the table of code generation targets: each target's name and data, written once,
 * bound to its code generator's functions. */
#include "target.h"

#include <string.h>

#define CPU_OPS .arch = ARCH_CPU, .plan = cg_cpu_plan, .emit = cg_cpu_emit, .explain = cg_cpu_explain
#define PTX_OPS .arch = ARCH_PTX, .plan = cg_ptx_plan, .emit = cg_ptx_emit, \
                .explain = cg_ptx_explain

static const Target targets[] = {
    {.name = "native", CPU_OPS},                                  /* the host's CPU, probed */
    {.name = "x86-64-v4", CPU_OPS, .cpu = "x86-64-v4", .lanes = 16},   /* AVX-512 */
    {.name = "x86-64-v3", CPU_OPS, .cpu = "x86-64-v3", .lanes = 8},    /* AVX2 + FMA */
    {.name = "sm_80", PTX_OPS, .sm = 80},
    {.name = "sm_90a", PTX_OPS, .sm = 90},
    {.name = "reference", .arch = ARCH_REFERENCE,
     .plan = reference_plan, .emit = reference_emit},
};

const Target *target_at(int i)
{
    return i >= 0 && i < (int)(sizeof targets / sizeof targets[0]) ? &targets[i] : NULL;
}

const Target *target_find(const char *name)
{
    if (!name) name = "native";
    for (const Target *t = targets; t < targets + sizeof targets / sizeof targets[0]; t++)
        if (!strcmp(t->name, name)) return t;
    return NULL;
}
