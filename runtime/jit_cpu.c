/* jit_cpu.c: ORC LLJIT behind rt_jit_*: objects from memory, symbol lookup, disposal. The
 * native target is registered once per process; each RtJit owns one LLJIT instance. */
#include "jit.h"

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

struct RtJit {
    LLVMOrcLLJITRef jit;
};

static void init_native_once(void)
{
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
}

/* Moves an LLVMErrorRef's message into err and consumes the error. */
static void take_error(LLVMErrorRef e, const char *what, char *err, size_t errlen)
{
    char *msg = LLVMGetErrorMessage(e);
    if (err && errlen) snprintf(err, errlen, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
}

RtJit *rt_jit_create(char *err, size_t errlen)
{
    /* Target registration is process-wide and must happen once. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_native_once);
    RtJit *j = calloc(1, sizeof *j);
    if (!j) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, NULL);
    if (e) {
        take_error(e, "cannot create the JIT", err, errlen);
        free(j);
        return NULL;
    }
    LLVMOrcDefinitionGeneratorRef gen = NULL;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
        &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
    if (e) {
        take_error(e, "cannot resolve process symbols in the JIT", err, errlen);
        rt_jit_dispose(j);
        return NULL;
    }
    LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
    return j;
}

bool rt_jit_add_object(RtJit *j, const void *obj, size_t size, char *err, size_t errlen)
{
    LLVMMemoryBufferRef buf =
        LLVMCreateMemoryBufferWithMemoryRangeCopy(obj, size, "attn_kernel.o");
    if (!buf) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return false;
    }
    /* AddObjectFile takes ownership of buf, on success and failure alike. */
    LLVMErrorRef e = LLVMOrcLLJITAddObjectFile(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), buf);
    if (e) {
        take_error(e, "cannot load the kernel object", err, errlen);
        return false;
    }
    return true;
}

void *rt_jit_lookup(RtJit *j, const char *name, char *err, size_t errlen)
{
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->jit, &addr, name);
    if (e) {
        take_error(e, "cannot find the kernel entry", err, errlen);
        return NULL;
    }
    return (void *)(uintptr_t)addr;
}

void rt_jit_dispose(RtJit *j)
{
    if (!j) return;
    if (j->jit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
        if (e) LLVMConsumeError(e);
    }
    free(j);
}
