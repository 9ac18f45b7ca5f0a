/* cuda.h: libattn's door to NVIDIA GPUs: the CUDA driver API, loaded at run time with
 * dlopen("libcuda.so.1"), every entry point fetched through cuGetProcAddress at an explicit
 * CUDA ABI version (12.0), so libattn builds and runs (CPU only) where no driver exists; then
 * every call here returns ATTN_ERR_TARGET with "no CUDA driver: ...".
 *
 * Work happens in each device's primary context (retained on first use, kept for the life of
 * the process, made current on the calling thread by each call that needs it). Kernels are
 * loaded from PTX (cuModuleLoadDataEx; the JIT log is part of any error) and cached per
 * (device, PTX text, entry): loading the same PTX twice returns the cached function. A failed
 * driver call returns ATTN_ERR_CUDA with a message naming the call and the CUDA error
 * (attn_last_error()). All functions are thread-safe. */
#ifndef ATTN_RT_CUDA_H
#define ATTN_RT_CUDA_H

#include "attn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t RtDevPtr;   /* a CUdeviceptr */

typedef struct RtCudaDevice {
    char name[128];
    int cc_major, cc_minor;      /* compute capability: 9.0 for an H100 */
    int sm_count;
    int smem_optin;              /* most dynamic shared memory a block may opt in to (bytes) */
} RtCudaDevice;

/* A loaded kernel: the CUfunction and how to launch it. */
typedef struct RtCudaKernel {
    void *fn;                    /* CUfunction */
    int device;
    int32_t threads;             /* block size */
    int32_t smem_bytes;          /* dynamic shared memory per block */
} RtCudaKernel;

/* Loads the driver and runs cuInit once per process. ATTN_ERR_TARGET when there is no driver
 * or no device. Every other call does this itself. */
AttnStatus rt_cuda_init(void);
/* True when a driver with at least one device is present (never sets an error). */
bool rt_cuda_available(void);
AttnStatus rt_cuda_device_count(int *count);
AttnStatus rt_cuda_device_info(int device, RtCudaDevice *out);
/* Makes the device's primary context current on this thread. */
AttnStatus rt_cuda_set_device(int device);
/* The device a pointer's memory was allocated on or registered with; false where the driver
 * does not know the pointer (plain host memory, say) or there is no driver. */
bool rt_cuda_pointer_device(const void *p, int *device);
/* Starts, once per process, a thread that loads the driver, makes device 0's context and
 * JIT-compiles an empty kernel: the first JIT in a process costs tens of ms more than later
 * ones, and a GPU compile starts this beside its LLVM work so that its kernel's JIT finds the
 * driver ready. True for the one caller that started the thread: it must call
 * rt_cuda_warm_join. Never fails; without a driver the thread does nothing. */
bool rt_cuda_warm_start(void);
void rt_cuda_warm_join(void);

/* Loads (or finds in the cache) the PTX module and its kernel `entry`, and raises the
 * function's dynamic shared memory limit to smem_bytes where it exceeds 48 KB. `ptx` is
 * NUL-terminated. */
AttnStatus rt_cuda_kernel(int device, const char *ptx, const char *entry, int32_t threads,
                          int32_t smem_bytes, RtCudaKernel *out);
/* Launches k on grid (gx, gy, gz) on `stream` (a CUstream; NULL = the legacy default stream)
 * with one by-value kernel parameter of `param_size` bytes at `param` (attnc kernels: the
 * AbiArgs). Asynchronous: errors of the kernel itself surface at the next synchronisation. */
AttnStatus rt_cuda_launch(const RtCudaKernel *k, uint32_t gx, uint32_t gy, uint32_t gz,
                          void *stream, const void *param);

/* Memory and synchronisation (tests, benchmarks and the runtime's scratch buffers). */
AttnStatus rt_cuda_malloc(int device, size_t bytes, RtDevPtr *out);
AttnStatus rt_cuda_free(RtDevPtr p);
AttnStatus rt_cuda_upload(RtDevPtr dst, const void *src, size_t bytes);
AttnStatus rt_cuda_download(void *dst, RtDevPtr src, size_t bytes);
AttnStatus rt_cuda_memset8(RtDevPtr dst, uint8_t value, size_t bytes);
AttnStatus rt_cuda_sync(int device);            /* cuCtxSynchronize in the device's context */
AttnStatus rt_cuda_stream_sync(void *stream);
/* Stream-ordered copies on `stream` in the device's context. Host memory may be pageable: an
 * upload's source can be reused once the call returns (the driver stages it); a download is
 * complete only after the stream is synchronised. */
AttnStatus rt_cuda_upload_async(int device, RtDevPtr dst, const void *src, size_t bytes,
                                void *stream);
AttnStatus rt_cuda_download_async(int device, void *dst, RtDevPtr src, size_t bytes,
                                  void *stream);

/* Events for timing: create, record on a stream, elapsed milliseconds between two. */
AttnStatus rt_cuda_event_create(void **event);
AttnStatus rt_cuda_event_record(void *event, void *stream);
AttnStatus rt_cuda_event_ms(void *start, void *end, float *ms);   /* synchronises on end */
void rt_cuda_event_destroy(void *event);
/* Events for ordering only (no timing): create; host waits for one; a stream waits for one. */
AttnStatus rt_cuda_event_new(void **event);
AttnStatus rt_cuda_event_wait(void *event);
AttnStatus rt_cuda_stream_wait(void *stream, void *event);

/* status.c: records the message of a failure and returns its status. */
AttnStatus rt_fail(AttnStatus s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
