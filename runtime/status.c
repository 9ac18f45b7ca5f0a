/* status.c: names of statuses, the version string, and the per-thread last error. */
#include "attn.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[8192];

const char *attn_last_error(void) { return last_error; }

/* Records the message of a failure and returns its status, so callers can write
 * `return rt_fail(ATTN_ERR_ARG, "...")`. */
AttnStatus rt_fail(AttnStatus s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

void rt_clear_error(void) { last_error[0] = 0; }

const char *attn_status_name(AttnStatus s)
{
    switch (s) {
    case ATTN_OK: return "ok";
    case ATTN_ERR_SPEC: return "spec error";
    case ATTN_ERR_ARG: return "bad argument";
    case ATTN_ERR_UNSUPPORTED: return "unsupported on this target";
    case ATTN_ERR_TARGET: return "target unavailable";
    case ATTN_ERR_CUDA: return "CUDA error";
    case ATTN_ERR_IO: return "I/O error";
    case ATTN_ERR_NOMEM: return "out of memory";
    case ATTN_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *attn_version(void) { return ATTNC_VERSION; }
