/* test_e2e.c: compiled CPU kernels against the f64 reference, and the disk cache under real
 * compiles. Specs: the ones below plus every .attn file of examples/ that this target supports, each in
 * f32 and bf16, on odd shapes (lengths that are not multiples of any tile, Lq < Lk, GQA,
 * batch > 1, padded row strides) and two seeds. Tolerances (relative Frobenius error, as in
 * `attnc run`): f32 outputs 1e-4 (f32 softmax over < 100 keys errs near 1e-7; a wrong element
 * of the mask gives > 1e-3); bf16 outputs 1e-2 (rounding o to bf16 alone is up to 2^-8
 * relative per element); lse is f32 in both: 1e-4. Also: a fully masked row gives o = 0 and
 * lse = -inf; a new param value needs no recompile; concurrent compiles from several processes
 * into an empty cache all succeed and leave one entry; a corrupted entry is rebuilt, and so is
 * one copied from another key; a cache that cannot be written warns once; a bad launch leaves
 * the outputs untouched; the dtype option retypes q, k, v and o; a spec over the size limit
 * is refused. The cache directory is ATTN_CACHE_DIR (set by ctest). */
#include "../common/test_file.h"
#include "rt.h"
#include "test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *window_spec =
    "attention win {\n"
    "  in q: f32[B, Hq, Lq, 32]; in k: f32[B, Hkv, Lk, 32]; in v: f32[B, Hkv, Lk, 48];\n"
    "  out o: f32[B, Hq, Lq, 48]; out lse: f32[B, Hq, Lq];\n"
    "  param window: i32 = 16;\n"
    "  mask = j <= i && i - j < window;\n"
    "}\n";

static const char *softcap_sink_spec =
    "attention capsink {\n"
    "  in q: f32[B, Hq, Lq, 64]; in k: f32[B, Hkv, Lk, 64]; in v: f32[B, Hkv, Lk, 64];\n"
    "  in sinks: f32[Hq];\n"
    "  out o: f32[B, Hq, Lq, 64]; out lse: f32[B, Hq, Lq];\n"
    "  const cap = 30.0;\n"
    "  score = cap * tanh(score / cap);\n"
    "  sink = sinks[h];\n"
    "}\n";

typedef struct Shape {
    int64_t B, hq, hkv, lq, lk;
} Shape;

static const Shape shapes[] = {{2, 4, 2, 37, 53}, {1, 2, 2, 1, 70}, {3, 2, 1, 29, 29}};

/* Runs kernel and reference on random inputs of `sh`; q and o get padded row strides. */
static bool check_numeric(AttnKernel *k, const char *what, const Shape *sh, uint64_t seed,
                          const double *params)
{
    RunConfig c = {.seed = seed};
    const char *names[] = {"B", "Hq", "Hkv", "Lq", "Lk"};
    int64_t vals[] = {sh->B, sh->hq, sh->hkv, sh->lq, sh->lk};
    for (int i = 0; i < 5; i++) {
        snprintf(c.defines[i].name, sizeof c.defines[i].name, "%s", names[i]);
        c.defines[i].value = (double)vals[i];
    }
    c.ndefines = 5;
    RunData d;
    if (!run_make_inputs(k, &c, &d)) {
        CHECK_MSG(false, "%s: inputs: %s", what, attn_last_error());
        return false;
    }
    if (params) memcpy(d.params, params, sizeof(double) * (size_t)d.nparams);
    /* q read through a row stride padded by 8 elements (a strided view of a larger buffer) */
    AttnTensor *q = &d.host[k->air->tq];
    int64_t rows = q->shape[0] * q->shape[1] * q->shape[2], dk = q->shape[3];
    size_t es = q->dtype == ATTN_F32 ? 4 : 2;
    unsigned char *padded = calloc((size_t)(rows * (dk + 8)), es), *orig = q->data;
    for (int64_t r = 0; r < rows; r++) memcpy(padded + (size_t)(r * (dk + 8)) * es, orig + (size_t)(r * dk) * es, (size_t)dk * es);
    q->data = padded;
    q->strides[2] = dk + 8;
    q->strides[1] = q->strides[2] * q->shape[2];
    q->strides[0] = q->strides[1] * q->shape[1];
    d.ref[k->air->tq] = *q;
    AttnLaunchOptions lo = {.num_threads = 2};
    AttnStatus st = attn_launch(k, d.host, d.ntensors, d.params, d.nparams, &lo);
    CHECK_MSG(st == ATTN_OK, "%s: launch: %s", what, attn_last_error());
    if (st == ATTN_OK) st = attn_reference(k, d.ref, d.ntensors, d.params, d.nparams);
    CHECK_MSG(st == ATTN_OK, "%s: reference: %s", what, attn_last_error());
    bool ok = st == ATTN_OK;
    if (ok) {
        printf("%s B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld seed %llu\n", what, (long long)sh->B,
               (long long)sh->hq, (long long)sh->hkv, (long long)sh->lq, (long long)sh->lk,
               (unsigned long long)seed);
        ok = run_report(k, &d, 1, 1);
    }
    CHECK_MSG(ok, "%s: outside tolerance", what);
    free(padded);
    q->data = orig;
    d.ref[k->air->tq] = *q;
    run_free(&d);
    return ok;
}


static void check_spec(const char *name, const char *text)
{
    static const char *dtypes[] = {"f32", "bf16"};
    for (int di = 0; di < 2; di++) {
        AttnCompileOptions o = {.target = "native", .dtype = dtypes[di]};
        AttnKernel *k = NULL;
        AttnStatus st = attn_compile(text, name, &o, &k);
        if (st == ATTN_ERR_UNSUPPORTED) {
            printf("%s: skipped, not supported on this target\n", name);
            return;
        }
        CHECK_MSG(st == ATTN_OK, "%s (%s): %s", name, dtypes[di], attn_last_error());
        if (st != ATTN_OK) continue;
        char what[256];
        snprintf(what, sizeof what, "%s %s", name, dtypes[di]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (uint64_t seed = 1; seed <= 2; seed++) check_numeric(k, what, &shapes[s], seed, NULL);
        attn_kernel_free(k);
    }
}

/* AttnCompileOptions.dtype retypes q, k, v and o (lse stays f32) and is checked. */
static void test_dtype_option(void)
{
    AttnCompileOptions o = {.target = "native", .dtype = "bf16"};
    AttnKernel *k = NULL;
    CHECK_MSG(attn_compile(window_spec, "win", &o, &k) == ATTN_OK, "%s", attn_last_error());
    if (k) {
        for (int32_t i = 0; i < attn_kernel_num_tensors(k); i++)
            CHECK_MSG(attn_kernel_tensor_dtype(k, i) ==
                          (strcmp(attn_kernel_tensor_name(k, i), "lse") ? ATTN_BF16 : ATTN_F32),
                      "tensor %s", attn_kernel_tensor_name(k, i));
        attn_kernel_free(k);
    }
    o.dtype = "f64";
    CHECK(attn_compile(window_spec, "win", &o, &k) == ATTN_ERR_ARG && !k &&
          strstr(attn_last_error(), "dtype must be f32, bf16 or f16, not 'f64'"));
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) n += strstr(de->d_name, ".attnk") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_cache(const char *dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*.attnk", dir);
    CHECK(system(cmd) == 0);
    /* Four processes compile the same spec into the empty cache at once. */
    pid_t kids[4];
    for (int i = 0; i < 4; i++)
        if ((kids[i] = fork()) == 0) {
            AttnKernel *k;
            _exit(attn_compile(window_spec, "win", NULL, &k) == ATTN_OK ? 0 : 1);
        }
    for (int i = 0; i < 4; i++) {
        int st = -1;
        waitpid(kids[i], &st, 0);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "concurrent compile %d failed", i);
    }
    CHECK(count_entries(dir) == 1);
    AttnKernel *k = NULL;
    CHECK(attn_compile(window_spec, "win", NULL, &k) == ATTN_OK && k && k->cache_hit);

    /* New param values, no recompile: still one entry, each result right. */
    double w1 = 3, w2 = 1000;
    Shape sh = {1, 2, 2, 20, 20};
    check_numeric(k, "win window=3", &sh, 5, &w1);
    check_numeric(k, "win window=1000", &sh, 5, &w2);
    CHECK(count_entries(dir) == 1);

    /* window = 0 masks every key: o = 0 and lse = -inf exactly. */
    RunConfig c = {.seed = 3};
    RunData d;
    CHECK(run_make_inputs(k, &c, &d));
    d.params[0] = 0;
    CHECK(attn_launch(k, d.host, d.ntensors, d.params, d.nparams, NULL) == ATTN_OK);
    const AttnTensor *o = &d.host[k->air->to], *lse = &d.host[k->air->tlse];
    int bad = 0;
    for (int64_t i = 0; i < o->shape[0] * o->shape[1] * o->shape[2] * o->shape[3]; i++)
        bad += ((float *)o->data)[i] != 0.0f;
    for (int64_t i = 0; i < lse->shape[0] * lse->shape[1] * lse->shape[2]; i++)
        bad += !(isinf(((float *)lse->data)[i]) && ((float *)lse->data)[i] < 0);
    CHECK_MSG(bad == 0, "%d elements of fully masked rows are not o = 0 / lse = -inf", bad);

    /* A bad launch (null v) leaves o and lse as they were. */
    for (int64_t i = 0; i < 64; i++) ((float *)o->data)[i] = 12345.0f;
    void *v = d.host[k->air->tv].data;
    d.host[k->air->tv].data = NULL;
    CHECK(attn_launch(k, d.host, d.ntensors, d.params, d.nparams, NULL) == ATTN_ERR_ARG &&
          strstr(attn_last_error(), "tensor 'v': data is a null pointer"));
    d.host[k->air->tv].data = v;
    for (int64_t i = 0; i < 64; i++) bad += ((float *)o->data)[i] != 12345.0f;
    CHECK(bad == 0);
    run_free(&d);
    attn_kernel_free(k);

    /* A corrupted entry is detected, removed and rebuilt. */
    DIR *dd = opendir(dir);
    struct dirent *de;
    char path[4096] = "";
    while (dd && (de = readdir(dd)))
        if (strstr(de->d_name, ".attnk")) snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (dd) closedir(dd);
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseek(f, 200, SEEK_SET) == 0 && fputc(0xa5, f) != EOF);
    if (f) fclose(f);
    CHECK(attn_compile(window_spec, "win", NULL, &k) == ATTN_OK && !k->cache_hit);
    attn_kernel_free(k);
    CHECK(attn_compile(window_spec, "win", NULL, &k) == ATTN_OK && k->cache_hit);
    attn_kernel_free(k);
    CHECK(count_entries(dir) == 1);

    /* win's entry copied over capsink's: a miss that compiles capsink and overwrites the
     * copy, never win's kernel under capsink's key. */
    CHECK(attn_compile(softcap_sink_spec, "capsink", NULL, &k) == ATTN_OK);
    attn_kernel_free(k);
    char other[4096] = "";   /* capsink's entry: the one that is not win's */
    dd = opendir(dir);
    while (dd && (de = readdir(dd)))
        if (strstr(de->d_name, ".attnk") &&
            strcmp(path + strlen(path) - strlen(de->d_name), de->d_name) != 0)
            snprintf(other, sizeof other, "%s/%s", dir, de->d_name);
    if (dd) closedir(dd);
    size_t len = 0;
    char *bytes = test_read_file(path, &len);
    f = fopen(other, "wb");
    CHECK(bytes && f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
    free(bytes);
    CHECK(attn_compile(softcap_sink_spec, "capsink", NULL, &k) == ATTN_OK && !k->cache_hit &&
          strcmp(attn_kernel_name(k), "capsink") == 0);
    attn_kernel_free(k);
    CHECK(attn_compile(softcap_sink_spec, "capsink", NULL, &k) == ATTN_OK && k->cache_hit &&
          strcmp(attn_kernel_name(k), "capsink") == 0);
    attn_kernel_free(k);
}

/* Bad compile options are refused with a message, never dereferenced. */
static void test_bad_options(void)
{
    AttnDefine defs[2] = {{"cap", 30.0}, {NULL, 1.0}};
    AttnCompileOptions o = {.target = "reference", .defines = defs, .ndefines = 2, .no_cache = 1};
    AttnKernel *k = NULL;
    CHECK(attn_compile(softcap_sink_spec, "capsink", &o, &k) == ATTN_ERR_ARG && !k);
    CHECK_MSG(strstr(attn_last_error(), "defines[1].name is NULL") != NULL, "message: %s",
              attn_last_error());
    o.ndefines = -1;
    CHECK(attn_compile(softcap_sink_spec, "capsink", &o, &k) == ATTN_ERR_ARG && !k);
    defs[0].value = NAN;   /* a NaN const is refused, not folded into every row */
    o.ndefines = 1;
    CHECK(attn_compile(softcap_sink_spec, "capsink", &o, &k) == ATTN_ERR_SPEC && !k);
    CHECK_MSG(strstr(attn_last_error(), "a const cannot be NaN") != NULL, "message: %s",
              attn_last_error());
}

/* A cache directory that cannot be made (its parent is a file) warns once per process on
 * stderr, naming it, however many compiles miss it; the compiles succeed. Run in a child
 * whose stderr is a file; its exit status is the number of warnings. */
static void test_cache_unusable(const char *dir)
{
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/not-a-dir", dir);
    FILE *f = fopen(bad, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "/cache");
    pid_t kid = fork();
    if (kid == 0) {
        FILE *err = tmpfile();
        if (!err || dup2(fileno(err), 2) < 0) _exit(100);
        setenv("ATTN_CACHE_DIR", bad, 1);
        for (int i = 0; i < 3; i++) {
            AttnKernel *k = NULL;
            if (attn_compile(window_spec, "win", NULL, &k) != ATTN_OK) _exit(101);
            attn_kernel_free(k);
        }
        rewind(err);
        char line[8192];
        int warnings = 0;
        while (fgets(line, sizeof line, err))
            warnings += strstr(line, "warning") && strstr(line, bad) ? 1 : 100;
        _exit(warnings);
    }
    int st = -1;
    waitpid(kid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1,
              "an unusable cache directory gave exit status %d (want 1: one warning naming it)",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    snprintf(bad, sizeof bad, "%s/not-a-dir", dir);
    remove(bad);
}

/* A spec may have at most SPEC_MAX_BYTES: a string of that size compiles, one byte more is
 * refused naming the limit, and a file that never ends (/dev/zero) is refused after reading
 * at most that much (the alarm ends a read that goes on). */
static void test_spec_size(void)
{
    size_t n = strlen(window_spec);
    char *big = malloc(SPEC_MAX_BYTES + 2);
    CHECK(big != NULL);
    if (!big) return;
    memset(big, '\n', SPEC_MAX_BYTES + 1);
    memcpy(big, window_spec, n);
    big[SPEC_MAX_BYTES] = 0;
    AttnCompileOptions o = {.no_cache = 1};
    AttnKernel *k = NULL;
    CHECK(attn_compile(big, "big", &o, &k) == ATTN_OK);
    attn_kernel_free(k);
    big[SPEC_MAX_BYTES] = '\n';
    big[SPEC_MAX_BYTES + 1] = 0;
    CHECK(attn_compile(big, "big", &o, &k) == ATTN_ERR_SPEC &&
          strstr(attn_last_error(), "big: error: a spec may have at most 4 MiB"));
    free(big);
    alarm(60);
    CHECK(attn_compile_file("/dev/zero", &o, &k) == ATTN_ERR_IO &&
          strstr(attn_last_error(), "'/dev/zero': a spec may have at most 4 MiB"));
    alarm(0);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("ATTN_CACHE_DIR");
    char *cdir = rt_cache_dir();
    if (!dir || !cdir) {
        fprintf(stderr, "set ATTN_CACHE_DIR to a writable directory\n");
        return 1;
    }
    test_cache(cdir);
    test_bad_options();
    test_dtype_option();
    test_cache_unusable(cdir);
    test_spec_size();
    check_spec("win", window_spec);
    check_spec("capsink", softcap_sink_spec);
    const char *ex = argc > 1 ? argv[1] : NULL;
    DIR *d = ex ? opendir(ex) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".attn") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ex, de->d_name);
        char *text = test_read_file(path, NULL);
        if (text) check_spec(de->d_name, text);
        free(text);
    }
    if (d) closedir(d);
    free(cdir);
    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    else printf("end to end: all passed\n");
    return test_failures != 0;
}
