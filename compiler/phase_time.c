/* phase_time.c: the opt-in phase timer (phase_time.h). */
#include "phase_time.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool enabled;
static _Atomic long long start_ns;

static void read_env(void)
{
    const char *v = getenv("ATTN_TIME_COMPILE");
    enabled = v && *v && strcmp(v, "0") != 0;
}

bool phase_time_on(void)
{
    pthread_once(&once, read_env);
    return enabled;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double phase_time_now(void) { return phase_time_on() ? (double)now_ns() * 1e-6 : 0; }

void phase_time_start(void)
{
    if (phase_time_on()) atomic_store(&start_ns, now_ns());
}

void phase_time_end(double begun, const char *fmt, ...)
{
    if (!phase_time_on()) return;
    double now = (double)now_ns() * 1e-6;
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    /* One fprintf per line: lines from several threads do not interleave within a line. */
    fprintf(stderr, "attnc time: +%.1f ms %.1f ms %s\n",
            now - (double)atomic_load(&start_ns) * 1e-6, now - begun, name);
}
