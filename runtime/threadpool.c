/* threadpool.c: the persistent pool of worker threads that runs CPU kernels. Created on the
 * first parallel launch and grown when a launch asks for more threads than it has; workers
 * sleep on a condition variable between launches. A launch is a range of items handed out
 * through one atomic counter (dynamic scheduling: causal work items differ in cost by the
 * number of key tiles they visit), with the calling thread working too. Launches from several
 * threads are serialised by a mutex: the pool is a process-wide resource, and a kernel already
 * uses every core it was given.
 *
 * The pool is process state by nature, so it lives in the runtime (never in compiler/). Its
 * threads are left running at exit: they hold no resources beyond their stacks. */
#include "rt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct Pool {
    pthread_mutex_t launch;   /* held for a whole launch */
    pthread_mutex_t lock;     /* guards the fields below */
    pthread_cond_t wake, done;
    int32_t nworkers;         /* threads created (the caller is not counted) */
    uint64_t generation;      /* bumped per launch; a worker runs each generation once */
    int32_t active;           /* workers taking part in the current launch */
    int32_t running;          /* of those, still working */
    RtTaskFn fn;
    void *ctx;
    int64_t nitems;
    atomic_llong next;
} Pool;

static Pool pool = {
    .launch = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

int32_t rt_num_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > RT_MAX_THREADS ? RT_MAX_THREADS : (int32_t)n;
}

static void run_items(RtTaskFn fn, void *ctx, int64_t nitems)
{
    for (;;) {
        int64_t i = atomic_fetch_add(&pool.next, 1);
        if (i >= nitems) return;
        fn(ctx, i);
    }
}

typedef struct WorkerArg {
    int32_t index;    /* 1-based: worker w takes part when w <= the launch's helper count */
    uint64_t seen;    /* the generation before the launch that created it */
} WorkerArg;

static void *worker(void *p)
{
    int32_t index = ((WorkerArg *)p)->index;
    uint64_t seen = ((WorkerArg *)p)->seen;
    free(p);
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        if (index > pool.active) continue;
        RtTaskFn fn = pool.fn;
        void *ctx = pool.ctx;
        int64_t n = pool.nitems;
        pthread_mutex_unlock(&pool.lock);
        run_items(fn, ctx, n);
        pthread_mutex_lock(&pool.lock);
        if (--pool.running == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* A forked child has none of the parent's workers: it starts with an empty pool. */
static void forget_workers(void)
{
    pthread_mutex_init(&pool.launch, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.nworkers = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_workers); }

/* Grows the pool to `n` workers; returns how many exist (creation may fail under limits). */
static int32_t grow(int32_t n)
{
    pthread_once(&atfork_once, register_atfork);
    while (pool.nworkers < n) {
        WorkerArg *a = malloc(sizeof *a);
        if (!a) break;
        a->index = pool.nworkers + 1;
        a->seen = pool.generation;
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        /* CPU kernels keep their tiles on the stack (up to ~300 KB at head dim 256): do not
         * depend on the process's default thread stack size. */
        pthread_attr_setstacksize(&attr, (size_t)8 << 20);
        int rc = pthread_create(&t, &attr, worker, a);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            free(a);
            break;
        }
        pool.nworkers++;
    }
    return pool.nworkers;
}

void rt_parallel_for(int64_t nitems, int32_t nthreads, RtTaskFn fn, void *ctx)
{
    if (nitems <= 0) return;
    if (nthreads <= 0) nthreads = rt_num_cores();
    if (nthreads > RT_MAX_THREADS) nthreads = RT_MAX_THREADS;
    if (nthreads > nitems) nthreads = (int32_t)nitems;
    if (nthreads == 1) {
        for (int64_t i = 0; i < nitems; i++) fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&pool.launch);
    pthread_mutex_lock(&pool.lock);
    int32_t helpers = grow(nthreads - 1);
    if (helpers > nthreads - 1) helpers = nthreads - 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.nitems = nitems;
    atomic_store(&pool.next, 0);
    pool.active = helpers;
    pool.running = helpers;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_items(fn, ctx, nitems);

    pthread_mutex_lock(&pool.lock);
    while (pool.running > 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.launch);
}
