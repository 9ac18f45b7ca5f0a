/* targets.c: the table of code generation targets, by name. */
#include "target.h"

#include <string.h>

extern const Target target_cpu_v4, target_cpu_v3, target_cpu_native;
extern const Target target_ptx_sm80, target_ptx_sm90a;
extern const Target target_reference;

static const Target *const targets[] = {
    &target_cpu_native,
    &target_cpu_v4,
    &target_cpu_v3,
    &target_ptx_sm80,
    &target_ptx_sm90a,
    &target_reference,
};

const char *const target_names[] = {
    "native", "x86-64-v4", "x86-64-v3",
    "sm_80", "sm_90a",
    "reference",
    NULL,
};

const Target *target_find(const char *name)
{
    if (!name) name = "native";
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (!strcmp(targets[i]->name, name)) return targets[i];
    return NULL;
}
