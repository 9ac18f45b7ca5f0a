/* cuda.c: the CUDA driver API loaded at run time (see cuda.h). The driver's types are declared
 * here with the ABI of CUDA 12.0 (no CUDA header is needed to build libattn); every entry point
 * is fetched with cuGetProcAddress_v2 at version 12000, which a CUDA 12 or 13 driver serves
 * with the 12.0 signatures declared below (CUDA 13 changed some, e.g. cuCtxSynchronize_v2
 * takes a context; asking by version keeps us on the one we declare). */
#include "cuda.h"
#include "phase_time.h"
#include "ptx_text.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream, *CUevent;

enum {
    CUDA_ABI = 12000,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    CU_EVENT_DISABLE_TIMING = 2,
    CU_JIT_INFO_LOG_BUFFER = 3,
    CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
    CU_JIT_ERROR_LOG_BUFFER = 5,
    CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
    CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9,
    MAX_DEVICES = 64,
};

/* The entry points, name and type, as one table. */
#define CU_FUNCS(X)                                                                               \
    X(cuInit, (unsigned))                                                             \
    X(cuGetErrorName, (CUresult, const char **))                                      \
    X(cuGetErrorString, (CUresult, const char **))                                    \
    X(cuDeviceGetCount, (int *))                                                      \
    X(cuDeviceGet, (CUdevice *, int))                                                 \
    X(cuDeviceGetName, (char *, int, CUdevice))                                       \
    X(cuDeviceGetAttribute, (int *, int, CUdevice))                                   \
    X(cuDevicePrimaryCtxRetain, (CUcontext *, CUdevice))                              \
    X(cuCtxSetCurrent, (CUcontext))                                                   \
    X(cuCtxSynchronize, (void))                                                       \
    X(cuModuleLoadDataEx, (CUmodule *, const void *, unsigned, int *, void **))       \
    X(cuModuleGetFunction, (CUfunction *, CUmodule, const char *))                    \
    X(cuModuleUnload, (CUmodule))                                                     \
    X(cuPointerGetAttribute, (void *, int, RtDevPtr))                                 \
    X(cuFuncSetAttribute, (CUfunction, int, int))                                     \
    X(cuLaunchKernel, (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,  \
                                   unsigned, unsigned, CUstream, void **, void **))               \
    X(cuMemAlloc, (RtDevPtr *, size_t))                                               \
    X(cuMemFree, (RtDevPtr))                                                          \
    X(cuMemcpyHtoD, (RtDevPtr, const void *, size_t))                                 \
    X(cuMemcpyDtoH, (void *, RtDevPtr, size_t))                                       \
    X(cuMemcpyHtoDAsync, (RtDevPtr, const void *, size_t, CUstream))                  \
    X(cuMemcpyDtoHAsync, (void *, RtDevPtr, size_t, CUstream))                        \
    X(cuStreamWaitEvent, (CUstream, CUevent, unsigned))                               \
    X(cuMemsetD8, (RtDevPtr, unsigned char, size_t))                                  \
    X(cuStreamSynchronize, (CUstream))                                                \
    X(cuEventCreate, (CUevent *, unsigned))                                           \
    X(cuEventRecord, (CUevent, CUstream))                                             \
    X(cuEventSynchronize, (CUevent))                                                  \
    X(cuEventElapsedTime, (float *, CUevent, CUevent))                                \
    X(cuEventDestroy, (CUevent))

typedef struct Driver {
#define X(N, P) CUresult (*N) P;
    CU_FUNCS(X)
#undef X
} Driver;

/* A cached function: (device, entry text, entry) -> function. Each entry is JIT-compiled in a
 * module of its own (the text's header and that entry alone, ptx_entry_module): the driver's
 * JIT costs about as much per entry as the entry is long, so a module's decode and map entries
 * cost nothing until they are first asked for. That text is the key, so the same entry found
 * in a longer text is the same module. `loading`: a thread is compiling it with the lock
 * released; others that want it wait on cu.loaded. */
typedef struct ModEntry {
    struct ModEntry *next;
    int device;
    uint64_t hash;
    char *ptx;
    char *entry;
    CUmodule mod;
    CUfunction fn;
    int32_t smem_set;
    bool loading;
} ModEntry;

/* Process-wide driver state: the library, its entry points, retained primary contexts and
 * the module cache. Set up once under pthread_once; the cache is guarded by a mutex. */
static struct {
    pthread_once_t once;
    AttnStatus status;
    char error[512];
    Driver d;
    int ndev;
    pthread_mutex_t lock;
    pthread_cond_t loaded;       /* an entry's load finished (well or not) */
    CUcontext ctx[MAX_DEVICES];
    ModEntry *mods;
} cu = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER,
        .loaded = PTHREAD_COND_INITIALIZER};

static AttnStatus cu_check(CUresult r, const char *call)
{
    if (r == 0) return ATTN_OK;
    const char *name = NULL, *desc = NULL;
    if (cu.d.cuGetErrorName) cu.d.cuGetErrorName(r, &name);
    if (cu.d.cuGetErrorString) cu.d.cuGetErrorString(r, &desc);
    return rt_fail(ATTN_ERR_CUDA, "%s failed: %s (%d): %s", call, name ? name : "CUDA error", r,
                   desc ? desc : "no description");
}

#define CU(call, args) cu_check(cu.d.call args, #call)

static void cu_load(void)
{
    cu.status = ATTN_ERR_TARGET;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(cu.error, sizeof cu.error, "no CUDA driver: %s", dlerror());
        return;
    }
    typedef CUresult (*GetProc)(const char *, void **, int, uint64_t, int *);
    GetProc get = (GetProc)dlsym(lib, "cuGetProcAddress_v2");
    if (!get) {
        snprintf(cu.error, sizeof cu.error,
                 "no CUDA driver: libcuda.so.1 has no cuGetProcAddress_v2 (a CUDA 12 or newer driver is needed)");
        return;
    }
#define X(N, P)                                                                                   \
    {                                                                                             \
        void *p = NULL;                                                                           \
        int st = 0;                                                                               \
        if (get(#N, &p, CUDA_ABI, 0, &st) != 0 || !p) {                                           \
            snprintf(cu.error, sizeof cu.error, "no CUDA driver: entry point %s not found", #N);  \
            return;                                                                               \
        }                                                                                         \
        memcpy(&cu.d.N, &p, sizeof p);                                                            \
    }
    CU_FUNCS(X)
#undef X
    CUresult r = cu.d.cuInit(0);
    if (r != 0) {
        const char *name = NULL;
        cu.d.cuGetErrorName(r, &name);
        snprintf(cu.error, sizeof cu.error, "no CUDA driver: cuInit failed: %s (%d)",
                 name ? name : "CUDA error", r);
        return;
    }
    if (cu.d.cuDeviceGetCount(&cu.ndev) != 0 || cu.ndev == 0) {
        snprintf(cu.error, sizeof cu.error, "no CUDA device: the driver reports none");
        return;
    }
    if (cu.ndev > MAX_DEVICES) cu.ndev = MAX_DEVICES;
    cu.status = ATTN_OK;
}

AttnStatus rt_cuda_init(void)
{
    pthread_once(&cu.once, cu_load);
    if (cu.status != ATTN_OK) return rt_fail(cu.status, "%s", cu.error);
    return ATTN_OK;
}

bool rt_cuda_available(void)
{
    pthread_once(&cu.once, cu_load);
    return cu.status == ATTN_OK;
}

AttnStatus rt_cuda_device_count(int *count)
{
    AttnStatus s = rt_cuda_init();
    *count = s == ATTN_OK ? cu.ndev : 0;
    return s;
}

static AttnStatus check_device(int device)
{
    AttnStatus s = rt_cuda_init();
    if (s != ATTN_OK) return s;
    if (device < 0 || device >= cu.ndev)
        return rt_fail(ATTN_ERR_ARG, "device %d does not exist (%d CUDA device%s)", device,
                       cu.ndev, cu.ndev == 1 ? "" : "s");
    return ATTN_OK;
}

AttnStatus rt_cuda_device_info(int device, RtCudaDevice *out)
{
    AttnStatus s = check_device(device);
    if (s != ATTN_OK) return s;
    CUdevice dev;
    memset(out, 0, sizeof *out);
    if ((s = CU(cuDeviceGet, (&dev, device))) != ATTN_OK) return s;
    if ((s = CU(cuDeviceGetName, (out->name, (int)sizeof out->name - 1, dev))) != ATTN_OK) return s;
    struct { int *v; int a; } q[] = {
        {&out->cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR},
        {&out->cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR},
        {&out->sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT},
        {&out->smem_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        if ((s = CU(cuDeviceGetAttribute, (q[i].v, q[i].a, dev))) != ATTN_OK) return s;
    return ATTN_OK;
}

AttnStatus rt_cuda_set_device(int device)
{
    AttnStatus s = check_device(device);
    if (s != ATTN_OK) return s;
    pthread_mutex_lock(&cu.lock);
    if (!cu.ctx[device]) {
        CUdevice dev;
        s = CU(cuDeviceGet, (&dev, device));
        if (s == ATTN_OK) s = CU(cuDevicePrimaryCtxRetain, (&cu.ctx[device], dev));
    }
    CUcontext ctx = cu.ctx[device];
    pthread_mutex_unlock(&cu.lock);
    if (s != ATTN_OK) return s;
    return CU(cuCtxSetCurrent, (ctx));
}

bool rt_cuda_pointer_device(const void *p, int *device)
{
    int ord = -1;
    if (!p || !rt_cuda_available() ||
        cu.d.cuPointerGetAttribute(&ord, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, (RtDevPtr)(uintptr_t)p) != 0)
        return false;
    *device = ord;
    return true;
}

/* ---- the JIT's first use ------------------------------------------------------------------ */

/* Measured on an H200 host (driver 580): a 97-line entry's JIT took 86 ms as the process's
 * first and 23 ms after; cuInit and the context, where the caller has none yet, cost more. */
static const char warm_ptx[] = ".version 7.0\n.target sm_80\n.address_size 64\n"
                               ".visible .entry attn_warm_jit()\n{\n\tret;\n}\n";

static struct {
    pthread_mutex_t lock;
    bool started;
    pthread_t th;
} warm = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *warm_jit(void *arg)
{
    (void)arg;
    double t = phase_time_now();
    if (rt_cuda_available() && rt_cuda_set_device(0) == ATTN_OK) {
        CUmodule m = NULL;
        if (cu.d.cuModuleLoadDataEx(&m, warm_ptx, 0, NULL, NULL) == 0) cu.d.cuModuleUnload(m);
        phase_time_end(t, "CUDA driver and its JIT warmed up (once per process)");
    }
    return NULL;   /* a failure's message was this thread's own: the compile reports its own */
}

bool rt_cuda_warm_start(void)
{
    pthread_mutex_lock(&warm.lock);
    bool start = !warm.started;
    warm.started = true;
    pthread_mutex_unlock(&warm.lock);
    return start && pthread_create(&warm.th, NULL, warm_jit, NULL) == 0;
}

void rt_cuda_warm_join(void) { pthread_join(warm.th, NULL); }

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The driver's JIT of one module text; cu.lock is not held, so lookups of other entries go on
 * meanwhile (the driver itself runs one JIT at a time per process: two on two threads take as
 * long as one after the other, measured on an H200 host). */
static AttnStatus jit_entry(const char *text, const char *entry, CUmodule *mod, CUfunction *fn)
{
    char info[4096] = "", err[8192] = "";
    int opts[4] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                   CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *vals[4] = {info, (void *)(uintptr_t)sizeof info, err, (void *)(uintptr_t)sizeof err};
    *mod = NULL;
    CUresult r = cu.d.cuModuleLoadDataEx(mod, text, 4, opts, vals);
    if (r != 0) {
        char msg[512];
        cu_check(r, "cuModuleLoadDataEx");
        snprintf(msg, sizeof msg, "%s", attn_last_error());
        return rt_fail(ATTN_ERR_CUDA, "%s; JIT log: %s", msg, err[0] ? err : "(empty)");
    }
    AttnStatus s = CU(cuModuleGetFunction, (fn, *mod, entry));
    if (s != ATTN_OK) cu.d.cuModuleUnload(*mod);
    return s;
}

AttnStatus rt_cuda_kernel(int device, const char *ptx, const char *entry, int32_t threads,
                          int32_t smem_bytes, RtCudaKernel *out)
{
    AttnStatus s = rt_cuda_set_device(device);
    if (s != ATTN_OK) return s;
    char *one = ptx_entry_module(ptx, entry);
    const char *text = one ? one : ptx;
    uint64_t h = fnv1a(entry, fnv1a(text, 0xcbf29ce484222325ull));
    pthread_mutex_lock(&cu.lock);
    ModEntry *e;
    for (;;) {
        e = cu.mods;
        while (e && !(e->device == device && e->hash == h && !strcmp(e->entry, entry) &&
                      !strcmp(e->ptx, text)))
            e = e->next;
        if (!e || !e->loading) break;
        pthread_cond_wait(&cu.loaded, &cu.lock);   /* another thread is compiling it */
    }
    if (!e) {
        ModEntry *ne = calloc(1, sizeof *ne);
        char *p = ne ? strdup(text) : NULL, *n = ne ? strdup(entry) : NULL;
        if (!ne || !p || !n) {
            free(ne), free(n), free(p), free(one);
            pthread_mutex_unlock(&cu.lock);
            return rt_fail(ATTN_ERR_NOMEM, "out of memory caching a CUDA module");
        }
        *ne = (ModEntry){cu.mods, device, h, p, n, NULL, NULL, 0, true};
        cu.mods = e = ne;
        pthread_mutex_unlock(&cu.lock);
        s = jit_entry(text, entry, &ne->mod, &ne->fn);
        pthread_mutex_lock(&cu.lock);
        ne->loading = false;
        if (s != ATTN_OK) {   /* dropped: the next request tries again and reports */
            ModEntry **pp = &cu.mods;
            while (*pp != ne) pp = &(*pp)->next;
            *pp = ne->next;
            free(ne->ptx), free(ne->entry), free(ne);
            e = NULL;
        }
        pthread_cond_broadcast(&cu.loaded);
    }
    free(one);
    if (s == ATTN_OK && smem_bytes > 48 * 1024 && e->smem_set < smem_bytes) {
        s = CU(cuFuncSetAttribute, (e->fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem_bytes));
        if (s == ATTN_OK) e->smem_set = smem_bytes;
    }
    if (s == ATTN_OK) *out = (RtCudaKernel){e->fn, device, threads, smem_bytes};
    pthread_mutex_unlock(&cu.lock);
    return s;
}

AttnStatus rt_cuda_launch(const RtCudaKernel *k, uint32_t gx, uint32_t gy, uint32_t gz,
                          void *stream, const void *param)
{
    AttnStatus s = rt_cuda_set_device(k->device);
    if (s != ATTN_OK) return s;
    if (gx == 0 || gy == 0 || gz == 0) return ATTN_OK;   /* nothing to do */
    if (gy > 65535 || gz > 65535)
        return rt_fail(ATTN_ERR_ARG, "launch grid (%u, %u, %u): heads and batch must be at most 65535",
                       gx, gy, gz);
    void *params[1] = {(void *)param};
    return CU(cuLaunchKernel, (k->fn, gx, gy, gz, (unsigned)k->threads, 1, 1,
                               (unsigned)k->smem_bytes, stream, params, NULL));
}

AttnStatus rt_cuda_malloc(int device, size_t bytes, RtDevPtr *out)
{
    AttnStatus s = rt_cuda_set_device(device);
    if (s != ATTN_OK) return s;
    return CU(cuMemAlloc, (out, bytes ? bytes : 1));
}

AttnStatus rt_cuda_free(RtDevPtr p)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK || !p ? s : CU(cuMemFree, (p));
}

AttnStatus rt_cuda_upload(RtDevPtr dst, const void *src, size_t bytes)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK || !bytes ? s : CU(cuMemcpyHtoD, (dst, src, bytes));
}

AttnStatus rt_cuda_download(void *dst, RtDevPtr src, size_t bytes)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK || !bytes ? s : CU(cuMemcpyDtoH, (dst, src, bytes));
}

AttnStatus rt_cuda_memset8(RtDevPtr dst, uint8_t value, size_t bytes)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK || !bytes ? s : CU(cuMemsetD8, (dst, value, bytes));
}

AttnStatus rt_cuda_sync(int device)
{
    AttnStatus s = rt_cuda_set_device(device);
    return s != ATTN_OK ? s : CU(cuCtxSynchronize, ());
}

AttnStatus rt_cuda_stream_sync(void *stream)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK ? s : CU(cuStreamSynchronize, (stream));
}

AttnStatus rt_cuda_event_create(void **event)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK ? s : CU(cuEventCreate, (event, 0));
}

AttnStatus rt_cuda_event_new(void **event)
{
    AttnStatus s = rt_cuda_init();
    return s != ATTN_OK ? s : CU(cuEventCreate, (event, CU_EVENT_DISABLE_TIMING));
}

AttnStatus rt_cuda_event_wait(void *event)
{
    return CU(cuEventSynchronize, (event));
}

AttnStatus rt_cuda_stream_wait(void *stream, void *event)
{
    return CU(cuStreamWaitEvent, (stream, event, 0));
}

AttnStatus rt_cuda_upload_async(int device, RtDevPtr dst, const void *src, size_t bytes,
                                void *stream)
{
    AttnStatus s = rt_cuda_set_device(device);
    return s != ATTN_OK || !bytes ? s : CU(cuMemcpyHtoDAsync, (dst, src, bytes, stream));
}

AttnStatus rt_cuda_download_async(int device, void *dst, RtDevPtr src, size_t bytes,
                                  void *stream)
{
    AttnStatus s = rt_cuda_set_device(device);
    return s != ATTN_OK || !bytes ? s : CU(cuMemcpyDtoHAsync, (dst, src, bytes, stream));
}

AttnStatus rt_cuda_event_record(void *event, void *stream)
{
    return CU(cuEventRecord, (event, stream));
}

AttnStatus rt_cuda_event_ms(void *start, void *end, float *ms)
{
    AttnStatus s = CU(cuEventSynchronize, (end));
    return s != ATTN_OK ? s : CU(cuEventElapsedTime, (ms, start, end));
}

void rt_cuda_event_destroy(void *event)
{
    if (event && cu.status == ATTN_OK) cu.d.cuEventDestroy(event);
}
