/* cli_run.c: `attnc run SPEC`, the command that shows a spec working. It compiles the spec,
 * makes fresh random inputs at sensible sizes, runs the kernel, runs the f64 reference on the
 * same inputs, and prints the relative Frobenius error of each output against its tolerance,
 * the kernel time (median of several runs) and GFLOP/s; the exit status is non-zero when an
 * error exceeds its tolerance. Input data, sizes and tolerances are chosen in run_inputs.c. */
#include "rt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: attnc run SPEC [--target=T] [-D name=value ...] [--threads N] [--seed S]\n"
               "                 [--dtype f32|bf16|f16] [--repeat N] [--no-cache]\n"
               "  Compiles SPEC, runs it on random inputs, checks it against the f64 reference\n"
               "  and times it. -D sets a size (B, Hq, Hkv, Lq, Lk or a symbol of the spec), a\n"
               "  param, or a const of the spec. A size is a whole number from 0 to %d,\n"
               "  a head count (Hq, Hkv) at least 1. --dtype changes q, k, v and o's dtype.\n"
               "  --threads N  CPU threads: 0 (all cores, the default) to %d\n"
               "  --repeat N   timed runs: 1 to %d (default 5)\n"
               "  --seed S     the random inputs' seed (default 1)\n",
            RUN_MAX_SIZE, RT_MAX_THREADS, RUN_MAX_REPEAT);
}

/* Splits "name=value"; false when malformed. */
static bool parse_define(const char *s, RunDefine *d)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return false;
    char *end;
    d->value = strtod(eq + 1, &end);
    if (end == eq + 1 || *end) return false;
    snprintf(d->name, sizeof d->name, "%.*s", (int)(eq - s), s);
    return true;
}

/* The whole number `val` of option `opt` in [lo, hi] (in strtoull's `base`); false after
 * saying what the option takes. */
static bool parse_whole(const char *opt, const char *val, int base, uint64_t lo, uint64_t hi,
                        uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    bool digits = val[0] >= '0' && val[0] <= '9';   /* strtoull would take "-1" and " 1" */
    uint64_t v = digits ? strtoull(val, &end, base) : 0;
    if (!digits || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "attnc run: %s takes a whole number from %llu to %llu, not '%s'\n", opt,
                (unsigned long long)lo, (unsigned long long)hi, val);
        return false;
    }
    *out = v;
    return true;
}

/* Fills `c` from the arguments. Returns 0, -1 after printing the help (exit 0), or 2 after a
 * message about a bad argument. */
static int parse_args(int argc, char **argv, RunConfig *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->repeat = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        uint64_t n;
        /* options take "--opt=value" or "--opt value" */
#define OPT(NAME) \
    ((strncmp(a, NAME "=", sizeof NAME) == 0 && (val = a + sizeof NAME)) || \
     (strcmp(a, NAME) == 0 && i + 1 < argc && (val = argv[++i])))
        if (OPT("--target")) {
            c->target = val;
        } else if (OPT("--threads")) {
            if (!parse_whole("--threads", val, 10, 0, RT_MAX_THREADS, &n)) return 2;
            c->threads = (int32_t)n;
        } else if (OPT("--seed")) {
            if (!parse_whole("--seed", val, 0, 0, UINT64_MAX, &c->seed)) return 2;
        } else if (OPT("--repeat")) {
            if (!parse_whole("--repeat", val, 10, 1, RUN_MAX_REPEAT, &n)) return 2;
            c->repeat = (int32_t)n;
        } else if (OPT("--dtype")) {
            c->dtype = val;
            if (strcmp(val, "f32") && strcmp(val, "bf16") && strcmp(val, "f16")) {
                fprintf(stderr, "attnc run: --dtype must be f32, bf16 or f16, not '%s'\n", val);
                return 2;
            }
        } else if (strcmp(a, "--no-cache") == 0) {
            c->no_cache = true;
        } else if (strncmp(a, "-D", 2) == 0) {
            const char *d = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : "");
            if (c->ndefines == RUN_MAX_DEFINES || !parse_define(d, &c->defines[c->ndefines])) {
                fprintf(stderr, "attnc run: bad define '%s' (expected -D name=number)\n", d);
                return 2;
            }
            c->ndefines++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if (a[0] == '-' || c->spec) {
            fprintf(stderr, "attnc run: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            c->spec = a;
        }
#undef OPT
    }
    if (!c->spec) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* Compiles with the defines that are consts of the spec (those that are not sizes or params):
 * a first compile tells which names are which. */
static AttnStatus compile(RunConfig *c, const char *text, AttnKernel **out, double *seconds)
{
    AttnCompileOptions o = {.target = c->target, .no_cache = c->no_cache, .dtype = c->dtype};
    double t0 = now_s();
    AttnStatus st = attn_compile(text, c->spec, &o, out);
    if (st != ATTN_OK) return st;
    AttnDefine consts[RUN_MAX_DEFINES];
    int32_t n = 0;
    for (int32_t i = 0; i < c->ndefines; i++)
        if (!run_is_size_or_param(*out, c->defines[i].name))
            consts[n++] = (AttnDefine){c->defines[i].name, c->defines[i].value};
    if (n > 0) {
        attn_kernel_free(*out);
        *out = NULL;
        o.defines = consts;
        o.ndefines = n;
        t0 = now_s();
        st = attn_compile(text, c->spec, &o, out);
    }
    *seconds = now_s() - t0;
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs the kernel once to warm up, then `repeat` times; the median time in seconds. */
static AttnStatus time_kernel(AttnKernel *k, RunData *d, const RunConfig *c, double *median)
{
    AttnLaunchOptions lo = {.num_threads = c->threads};
    AttnStatus st = run_launch(k, d, &lo);
    if (st != ATTN_OK) return st;
    double times[RUN_MAX_REPEAT];
    int n = c->repeat;
    for (int r = 0; r < n; r++) {
        double t0 = now_s();
        if ((st = run_launch(k, d, &lo)) != ATTN_OK) return st;
        times[r] = now_s() - t0;
    }
    qsort(times, (size_t)n, sizeof times[0], cmp_double);
    *median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    return ATTN_OK;
}

static void print_header(const RunConfig *c, const AttnKernel *k, const RunData *d,
                         double compile_s)
{
    printf("%s: kernel '%s' for %s, %s in %.0f ms\n", c->spec, attn_kernel_name(k),
           attn_kernel_target(k), k->cache_hit ? "loaded from the cache" : "compiled",
           compile_s * 1e3);
    printf("  sizes   ");
    run_print_sizes(k, d);
    printf("\n  tensors ");
    for (int32_t i = 0; i < attn_kernel_num_tensors(k); i++)
        printf("%s%s %s", i ? ", " : "", attn_kernel_tensor_name(k, i),
               rt_dtype_name(attn_kernel_tensor_dtype(k, i)));
    if (attn_kernel_num_params(k)) {
        printf("\n  params  ");
        for (int32_t i = 0; i < attn_kernel_num_params(k); i++)
            printf("%s%s = %g", i ? ", " : "", attn_kernel_param_name(k, i), d->params[i]);
    }
    printf("\n  data    random, seed %llu\n", (unsigned long long)c->seed);
}

int rt_cli_run(int argc, char **argv)
{
    RunConfig c;
    int rc = parse_args(argc, argv, &c);
    if (rc) return rc < 0 ? 0 : rc;
    char *text = run_read_spec(&c);
    if (!text) return 1;
    AttnKernel *k = NULL;
    double compile_s = 0;
    AttnStatus st = compile(&c, text, &k, &compile_s);
    free(text);
    if (st != ATTN_OK) {
        /* spec diagnostics are already rendered clang-style, one per line */
        if (st == ATTN_ERR_SPEC) fputs(attn_last_error(), stderr);
        else fprintf(stderr, "attnc run: %s\n", attn_last_error());
        return 1;
    }
    RunData d;
    if (!run_make_inputs(k, &c, &d)) {
        fprintf(stderr, "attnc run: %s\n", attn_last_error());
        attn_kernel_free(k);
        return 1;
    }
    print_header(&c, k, &d, compile_s);
    fflush(stdout);   /* keep the order when stdout and stderr share a terminal */
    double median = 0;
    st = time_kernel(k, &d, &c, &median);
    if (st == ATTN_OK) st = run_reference(k, &d);
    if (st != ATTN_OK) {
        fprintf(stderr, "attnc run: %s: %s\n", attn_status_name(st), attn_last_error());
        rc = 1;
    } else {
        rc = run_report(k, &d, median, c.repeat) ? 0 : 1;
    }
    run_free(&d);
    attn_kernel_free(k);
    return rc;
}
