/* attn.h: the public C API of libattn. Compile an attention spec (.attn text) for a CPU or an
 * NVIDIA GPU, query the kernel's signature, launch it on tensors, and check it against the f64
 * reference. No LLVM or CUDA type appears here. Every function returns a status; the message
 * of the last failure on this thread is attn_last_error(). */
#ifndef ATTN_H
#define ATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ATTN_API __attribute__((visibility("default")))
#else
#define ATTN_API
#endif

typedef enum AttnStatus {
    ATTN_OK = 0,
    ATTN_ERR_SPEC,        /* the spec has errors; attn_last_error() holds the diagnostics */
    ATTN_ERR_ARG,         /* a bad argument to a call or a launch; the message names it */
    ATTN_ERR_UNSUPPORTED, /* valid spec, but this target cannot run it (yet) */
    ATTN_ERR_TARGET,      /* unknown target, or the device is missing */
    ATTN_ERR_CUDA,        /* a CUDA driver call failed; the message has its name and code */
    ATTN_ERR_IO,          /* a file could not be read or the cache written */
    ATTN_ERR_NOMEM,
    ATTN_ERR_INTERNAL
} AttnStatus;

typedef enum AttnDtype { ATTN_F32, ATTN_F16, ATTN_BF16, ATTN_I32, ATTN_F64 } AttnDtype;

enum { ATTN_MAX_RANK = 8 };

/* A tensor view: data pointer, element type, shape and strides counted in elements (not
 * bytes). The last dimension of q, k, v and o must be contiguous (stride 1). For a CUDA
 * kernel, data is a device pointer. */
typedef struct AttnTensor {
    void *data;
    AttnDtype dtype;
    int32_t rank;
    int64_t shape[ATTN_MAX_RANK];
    int64_t strides[ATTN_MAX_RANK];
} AttnTensor;

typedef struct AttnKernel AttnKernel;

typedef struct AttnDefine {
    const char *name;     /* a const of the spec */
    double value;
} AttnDefine;

typedef struct AttnCompileOptions {
    const char *target;           /* "native" (default when NULL), "x86-64-v3", "x86-64-v4",
                                     "sm_80", "sm_90a", "reference" (generates no code:
                                     a launch runs the f64 evaluator on host tensors) */
    const AttnDefine *defines;    /* overrides of spec consts, as -D does */
    int32_t ndefines;
    int32_t no_cache;             /* 1: do not read or write the disk cache */
    const char *kernel;           /* which `attention` of a multi-kernel file (NULL = the
                                     first) */
    const char *dtype;            /* NULL, or "f32", "bf16", "f16": the dtype of q, k, v and
                                     o instead of the spec's, as `attnc run --dtype` */
} AttnCompileOptions;

/* Compile spec text; `name` is used in diagnostics ("<string>" when NULL). The cache directory
 * is $ATTN_CACHE_DIR, else $XDG_CACHE_HOME/attnc, else ~/.cache/attnc. */
ATTN_API AttnStatus attn_compile(const char *spec, const char *name,
                                 const AttnCompileOptions *opts, AttnKernel **out);
ATTN_API AttnStatus attn_compile_file(const char *path, const AttnCompileOptions *opts,
                                      AttnKernel **out);
ATTN_API void attn_kernel_free(AttnKernel *k);

/* ---- signature ----------------------------------------------------------------------------
 * Tensors are numbered in declaration order; params too. */
typedef enum AttnArgKind { ATTN_ARG_IN, ATTN_ARG_OUT } AttnArgKind;

ATTN_API const char *attn_kernel_name(const AttnKernel *k);
ATTN_API const char *attn_kernel_target(const AttnKernel *k);
ATTN_API int32_t attn_kernel_num_tensors(const AttnKernel *k);
ATTN_API const char *attn_kernel_tensor_name(const AttnKernel *k, int32_t i);
ATTN_API AttnArgKind attn_kernel_tensor_kind(const AttnKernel *k, int32_t i);
ATTN_API AttnDtype attn_kernel_tensor_dtype(const AttnKernel *k, int32_t i);
ATTN_API int32_t attn_kernel_tensor_rank(const AttnKernel *k, int32_t i);
/* Dim d of tensor i: its fixed size (and *sym = NULL), or 0 with *sym = the symbol's name
 * ("Lk") for a runtime size; -1 when out of range. */
ATTN_API int32_t attn_kernel_tensor_dim(const AttnKernel *k, int32_t i, int32_t d,
                                        const char **sym);
ATTN_API int32_t attn_kernel_num_params(const AttnKernel *k);
ATTN_API const char *attn_kernel_param_name(const AttnKernel *k, int32_t i);
/* Default value of param i; returns 0 when it has none (then every launch must give it). */
ATTN_API int32_t attn_kernel_param_default(const AttnKernel *k, int32_t i, double *value);
/* Index of a tensor or param by name, or -1. */
ATTN_API int32_t attn_kernel_tensor_index(const AttnKernel *k, const char *name);
ATTN_API int32_t attn_kernel_param_index(const AttnKernel *k, const char *name);

/* ---- launch -------------------------------------------------------------------------------
 * tensors: one per declared tensor, in declaration order. params: one value per declared
 * param, in order, or NULL to use every default. On error nothing is written to the outputs. */
typedef struct AttnLaunchOptions {
    void *stream;         /* CUDA: a CUstream (NULL = the default stream); ignored on CPU */
    int32_t num_threads;  /* CPU: worker threads (0 = all cores); ignored on GPU */
    /* CUDA, masks that read side tensors (doc ids): 1 promises that those tensors hold what
     * they held at this kernel's last launch with the same tensors (addresses, shapes,
     * strides) and sizes, so the tile map built then is used again instead of rebuilt; a
     * launch whose key differs rebuilds it. As a FlexAttention BlockMask built once per batch
     * serves every layer. Writing new ids in place and launching with 1 uses the stale map.
     * Ignored on CPU, whose launches build their maps from the tensors each time. */
    int32_t reuse_tile_map;
} AttnLaunchOptions;

ATTN_API AttnStatus attn_launch(AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                                const double *params, int32_t nparams,
                                const AttnLaunchOptions *opts);

/* The f64 reference: evaluates the spec's math directly (no tiling) on host tensors and
 * writes the outputs in their dtypes (pass ATTN_F64 outputs for full precision). For a CUDA
 * kernel the tensors must still be host memory. */
ATTN_API AttnStatus attn_reference(const AttnKernel *k, const AttnTensor *tensors,
                                   int32_t ntensors, const double *params, int32_t nparams);

/* ---- ahead-of-time kernels -----------------------------------------------------------------
 * `attnc --emit=obj,header spec.attn` writes spec.o and spec.h; the header fills one of these
 * and calls attn_launch_aot, which validates and launches exactly as attn_launch does. The
 * kernel is built from the descriptor on the first launch and kept for the process. */
enum { ATTN_AOT_ABI = 2 };   /* 2: the plan as bytes, every CPU entry point */

typedef struct AttnAotKernel {
    int32_t abi;                  /* ATTN_AOT_ABI of the header */
    const char *name;             /* the kernel's name */
    const char *target;           /* "x86-64-v4", "sm_90a", ... */
    const char *air;              /* the AIR text form */
    /* The kernel's plan (skeleton, tiles, entry points, workspaces) as attnc serialised it. */
    const unsigned char *plan;
    size_t plan_size;
    /* CPU: the plan's entry points, linked into the program (from spec.o), in the plan's
     * order; NULL on a GPU. */
    void (*const *cpu_entries)(void);
    int32_t ncpu_entries;
    /* GPU: the PTX text and its size. */
    const unsigned char *code;
    size_t code_size;
} AttnAotKernel;

ATTN_API AttnStatus attn_launch_aot(const AttnAotKernel *desc, const AttnTensor *tensors,
                                    int32_t ntensors, const double *params, int32_t nparams,
                                    const AttnLaunchOptions *opts);
/* The kernel handle of an AOT kernel (owned by libattn, do not free), for the signature
 * queries and attn_reference. */
ATTN_API AttnStatus attn_aot_kernel(const AttnAotKernel *desc, AttnKernel **out);

/* The message of the last failure on this thread ("" when none). */
ATTN_API const char *attn_last_error(void);
ATTN_API const char *attn_status_name(AttnStatus s);
ATTN_API const char *attn_version(void);

#ifdef __cplusplus
}
#endif
#endif
