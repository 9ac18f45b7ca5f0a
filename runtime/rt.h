/* rt.h: libattn's one internal header. The kernel handle (what a launch needs: the AIR, the
 * plan, the mask analysis, the loaded code), the disk cache, argument validation, the CPU
 * thread pool and the two launchers, grouped by defining file. The seam to the pieces that
 * live elsewhere (the compiler pipeline, the AIR text form, the mask tile map, the f64
 * reference) is rt_backend.c, and loading code (the CPU JIT, the CUDA driver) is rt_loader.c,
 * so that the rest of the runtime reads the same whichever of them is built. */
#ifndef ATTN_RT_H
#define ATTN_RT_H

#include "attn.h"
#include "air.h"
#include "kernel_abi.h"
#include "target.h"

#include <stdbool.h>

/* ---- status.c ---------------------------------------------------------------------------- */

/* Records the message of a failure (this thread's attn_last_error) and returns `s`. */
AttnStatus rt_fail(AttnStatus s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rt_clear_error(void);

/* ---- api.c: the kernel handle ------------------------------------------------------------- */

struct AttnKernel {
    Arena arena;              /* owns everything below except the loaded code */
    const char *target_name;
    const Target *target;     /* NULL for an AOT kernel whose target this build lacks */
    bool is_gpu;
    AirKernel *air;           /* parsed back from air_text */
    const char *air_text;
    struct MaskInfo *mask;    /* recomputed from the AIR at load */
    KernelPlan plan;
    Blob code;                /* object file (CPU) or PTX (GPU) */
    void *jit;                /* CPU: the loaded object (rt_loader.c) */
    /* CPU: the plan's entry points by index of plan.entries, loaded by the JIT or linked into
     * the program (AOT); each is cast to its role's type (kernel_abi.h) where it is called. */
    void (*cpu_fn[PLAN_MAX_ENTRIES])(void);
    void *gpu;                /* GPU: the loaded module and function (rt_loader.c) */
    struct RtGpuDecode *decode; /* GPU: the split-KV decode entries and their workspace
                                   (launch_gpu_decode.c); NULL when the plan has none */
    struct RtGpuMaps *maps;   /* GPU: the kernel's device tile maps (launch_gpu.c); NULL when
                                 it takes none */
    bool cache_hit;           /* came from the disk cache (tests and `attnc run` report it) */
};

/* What a cache entry holds and what a kernel is loaded from: strings and code point into the
 * arena of whoever unpacked it. */
typedef struct RtEntry {
    const char *target;
    const char *air_text;
    KernelPlan plan;
    Blob code;
} RtEntry;

/* Builds a kernel from an entry: parses the AIR, recomputes the mask analysis, loads the code
 * (unless `cpu_fn` is given: an AOT kernel's entry points, linked into the program, one per
 * entry of the plan). */
AttnStatus rt_kernel_load(const RtEntry *e, void (*const *cpu_fn)(void), AttnKernel **out);

/* ---- cache.c ------------------------------------------------------------------------------- */

typedef struct RtSha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} RtSha256;

void rt_sha256_init(RtSha256 *s);
void rt_sha256_update(RtSha256 *s, const void *data, size_t n);
void rt_sha256_final(RtSha256 *s, uint8_t out[32]);

/* The cache directory (created), malloc'd; NULL when no usable directory exists, which is
 * said once per process on stderr (as is a failed write). */
char *rt_cache_dir(void);
/* Serialises an entry (malloc'd bytes, *len) / parses one into `a`. Unpack returns false on
 * any inconsistency. */
unsigned char *rt_entry_pack(const RtEntry *e, size_t *len);
bool rt_entry_unpack(Arena *a, const unsigned char *p, size_t len, RtEntry *e);
/* Reads the entry of `key` (hex) from `dir`: true and a malloc'd payload when present, intact
 * and written under `key`. Anything else at its name (corrupt, truncated, another key's, not
 * a regular file) is removed, and never blocks the read. */
bool rt_cache_read(const char *dir, const char *key, unsigned char **payload, size_t *len);
/* Writes an entry atomically (temporary file in `dir`, then rename). Returns false on any
 * failure, which callers ignore: the cache never fails a compile. */
bool rt_cache_write(const char *dir, const char *key, const unsigned char *payload, size_t len);
/* File name of an entry in `dir` (malloc'd). */
char *rt_cache_path(const char *dir, const char *key);

/* ---- validate.c ---------------------------------------------------------------------------- */

typedef enum { RT_LAUNCH_CPU, RT_LAUNCH_GPU, RT_REFERENCE } RtLaunchKind;

/* Checks every tensor and param of a launch against the kernel's signature and fills `args`
 * (tensors, symbols, params, q_offset; not the tile map). On failure returns ATTN_ERR_ARG
 * with a message naming the argument; nothing has been written anywhere. For RT_REFERENCE
 * the outputs may have any floating dtype (ATTN_F64 included). */
AttnStatus rt_validate(const AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                       const double *params, int32_t nparams, RtLaunchKind kind, AbiArgs *args);
AirDtype rt_air_dtype(AttnDtype d);
const char *rt_dtype_name(AttnDtype d);

/* ---- threadpool.c -------------------------------------------------------------------------- */

/* Runs fn(ctx, item) for item in [0, nitems) on up to `nthreads` threads (0 = all cores) of a
 * persistent process-wide pool, the calling thread included; returns when all are done.
 * Items are handed out in increasing order. Launches from several threads are serialised. */
typedef void (*RtTaskFn)(void *ctx, int64_t item);
enum { RT_MAX_THREADS = 256 };   /* the most threads a launch runs on; more are clamped */
void rt_parallel_for(int64_t nitems, int32_t nthreads, RtTaskFn fn, void *ctx);
int32_t rt_num_cores(void);

/* ---- launch_plan.c: a plan's entries and workspaces at launch -------------------------------- */

/* The loaded CPU entry of a role, or NULL. */
void (*rt_cpu_fn(const AttnKernel *k, EntryRole role))(void);
/* Bytes of a launch's workspace of that rule (PlanWork); n: the key splits (WORK_SPLIT_PARTS)
 * or the selection heads (WORK_SEL_IDS). */
size_t rt_work_bytes(WorkRule rule, const AirKernel *air, const AbiArgs *args, int64_t n);

/* ---- launch_cpu.c / launch_gpu.c ----------------------------------------------------------- */

/* Number of query blocks of a launch (plan.tile_m <= 0: one block per (b, h)). */
int64_t rt_query_blocks(const AttnKernel *k, const AbiArgs *args);
AttnStatus rt_launch_cpu(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o);
/* launch_cpu_select.c: the selector skeleton's recipe (block means, top-k, attention). */
AttnStatus rt_cpu_select_run(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o);
/* Whether a launch goes through the head-group entry (decode: Lq <= plan.group_lq and the
 * group's rows fit), and the number of key splits it takes on `nthreads` threads. */
bool rt_cpu_group_fits(const AirKernel *air, const PlanEntry *group, const AbiArgs *args);
int64_t rt_cpu_group_splits(const AirKernel *air, const KernelPlan *plan, const AbiArgs *args,
                            int32_t nthreads);
/* Runs the head-group entry over every (b, kv head, split) item with `nsplit` key splits on
 * `nthreads` threads, then combines the splits into o and lse (kernel_abi.h). */
AttnStatus rt_cpu_group_run(const AirKernel *air, const KernelPlan *plan, AbiCpuGroupEntry entry,
                            const AbiArgs *args, int64_t nsplit, int32_t nthreads);
/* GPU: builds or reuses the tile map itself (launch_gpu.c's comment says how); args->tiles is
 * ignored. */
AttnStatus rt_launch_gpu(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o);
/* gpu_tile_maps.c: the per-kernel device map state, made at load (none for kernels that take
 * no map) and freed; and one launch with its map: `launch(ctx, a)` runs with a->tiles and its
 * strides set (untouched when the kernel takes no map), under the kernel's map lock. */
typedef struct RtGpuMaps RtGpuMaps;
AttnStatus rt_gpu_maps_new(AttnKernel *k);
void rt_gpu_maps_free(AttnKernel *k);
typedef AttnStatus (*RtMapLaunch)(void *ctx, const AbiArgs *a);
AttnStatus rt_gpu_with_map(const AttnKernel *k, const AbiArgs *args, AbiArgs *a, void *stream,
                           bool reuse, RtMapLaunch launch, void *ctx);
/* launch_gpu_decode.c: loads the decode entries at kernel load (none when the plan has none),
 * whether a launch takes them (Lq * (Hq / Hkv) <= the decode entry's rows), launches them, frees. */
typedef struct RtGpuDecode RtGpuDecode;
AttnStatus rt_gpu_decode_load(AttnKernel *k);
void rt_gpu_decode_free(AttnKernel *k);
bool rt_gpu_decode_fits(const AttnKernel *k, const AbiArgs *args);
AttnStatus rt_launch_gpu_decode(const AttnKernel *k, const AbiArgs *args, const AttnLaunchOptions *o);

/* Validates, builds the tile map and launches on the kernel's device (attn_launch and
 * attn_launch_aot). */
AttnStatus rt_launch(AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                     const double *params, int32_t nparams, const AttnLaunchOptions *opts);

/* ---- rt_backend.c: the door into the compiler ------------------------------------------------ */

/* Runs the compiler; on success fills `e` (strings in `a`). Diagnostics of a bad spec come back
 * as ATTN_ERR_SPEC with the rendered text as the message. */
AttnStatus rt_compile_spec(Arena *a, const char *text, const char *name,
                           const AttnCompileOptions *opts, RtEntry *e);
/* The target of that name (NULL when unknown or not built). */
const Target *rt_target(const char *name);
/* The AIR of a text form; NULL with a message on failure. */
AirKernel *rt_air_from_text(Arena *a, const char *text);
/* The compile-time mask analysis of a kernel (NULL when none is built: every tile PARTIAL). */
struct MaskInfo *rt_mask_info(Arena *a, AirKernel *air);
/* The launch-time tile map: malloc'd (freed by the caller), strides and tile shape set in
 * `args`. NULL map with ATTN_OK when every tile must be evaluated. */
AttnStatus rt_tile_map(const AttnKernel *k, AbiArgs *args, uint8_t **map);
/* The f64 reference on host tensors; outputs written in `out_dtypes` (per tensor). */
AttnStatus rt_reference(const AttnKernel *k, const AbiArgs *args, const AirDtype *dtypes);
/* Number of visible (b, h, i, j) of a launch, from the mask's map of 1 x 1 tiles; *exact is
 * false when it is an upper bound (imprecise mask analysis, or a selector). */
AttnStatus rt_visible_pairs(const AttnKernel *k, const AbiArgs *args, double *pairs,
                            bool *exact);
/* Host CPU name and features (for the cache key of "native"); malloc'd, never NULL. */
char *rt_host_cpu(void);

/* ---- rt_loader.c: loading code ---------------------------------------------------------------- */

/* CPU JIT: loads an object and finds each entry of the plan; frees it. */
AttnStatus rt_jit_load(AttnKernel *k);
void rt_jit_free(AttnKernel *k);
/* GPU: loads the PTX (module cache) and sets up its map state; frees. */
AttnStatus rt_gpu_load(AttnKernel *k);
void rt_gpu_free(AttnKernel *k);
/* GPU memory for `attnc run` and the tests: allocate, copy each way, wait for the stream. */
AttnStatus rt_dev_alloc(size_t bytes, void **ptr);
void rt_dev_free(void *ptr);
AttnStatus rt_dev_upload(void *dst, const void *src, size_t bytes);
AttnStatus rt_dev_download(void *dst, const void *src, size_t bytes);
AttnStatus rt_dev_sync(void *stream);
/* f16 / bf16 conversions of one value. */
float rt_half_to_f32(uint16_t h, AttnDtype d);
uint16_t rt_f32_to_half(float f, AttnDtype d);

/* ---- cli_run.c / run_inputs.c: `attnc run` -------------------------------------------------- */

/* -D options; timed runs (--repeat); a size (-D Lq=...). */
enum { RUN_MAX_DEFINES = 64, RUN_MAX_REPEAT = 1000, RUN_MAX_SIZE = INT32_MAX };

typedef struct RunDefine {
    char name[64];
    double value;
} RunDefine;

typedef struct RunConfig {
    const char *spec, *target, *dtype;
    RunDefine defines[RUN_MAX_DEFINES];
    int32_t ndefines;
    int32_t threads, repeat;
    uint64_t seed;
    bool no_cache;
} RunConfig;

/* The tensors of one run: host buffers (inputs random, outputs the kernel's), the reference's
 * outputs in f64, device copies on a GPU. */
typedef struct RunData {
    AttnTensor host[ABI_MAX_TENSORS];
    AttnTensor ref[ABI_MAX_TENSORS];     /* inputs: = host; outputs: f64 buffers */
    AttnTensor dev[ABI_MAX_TENSORS];     /* GPU only */
    int64_t sym[ABI_MAX_SYMS];
    double params[ABI_MAX_PARAMS];
    int32_t ntensors, nparams;
    bool on_gpu;
} RunData;

/* The spec's text (malloc'd); NULL with a message printed. --dtype is applied by
 * attn_compile (AttnCompileOptions.dtype). */
char *run_read_spec(const RunConfig *c);
/* Whether a -D name is a size (a symbol or a role name) or a param of the kernel. */
bool run_is_size_or_param(const AttnKernel *k, const char *name);
bool run_make_inputs(const AttnKernel *k, const RunConfig *c, RunData *d);
void run_print_sizes(const AttnKernel *k, const RunData *d);
AttnStatus run_launch(AttnKernel *k, RunData *d, const AttnLaunchOptions *o);
AttnStatus run_reference(const AttnKernel *k, RunData *d);
/* Prints the errors, tolerances, time and GFLOP/s; false when an error is over tolerance. */
bool run_report(const AttnKernel *k, RunData *d, double seconds, int32_t repeat);
void run_free(RunData *d);

/* ---- cli_run.c ------------------------------------------------------------------------------ */

/* `attnc run SPEC [options]`: compile, run on random inputs, compare with the f64 reference,
 * time. argv[0] is "run". Returns the process exit status. */
int rt_cli_run(int argc, char **argv);

#endif
