/* test_units.c: the runtime pieces that need no compiler: SHA-256 against the FIPS 180-2
 * vectors, cache entries (round trip, corruption, truncation, another key's entry, a FIFO at an
 * entry's name, concurrent writers), the thread pool (every item exactly once, any thread
 * count, concurrent callers). */
#include "rt.h"
#include "test_util.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256(void)
{
    static const struct { const char *in, *out; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        /* fed in uneven pieces to exercise the block buffering */
        RtSha256 s;
        rt_sha256_init(&s);
        size_t n = strlen(v[i].in);
        for (size_t off = 0; off < n; off += 3)
            rt_sha256_update(&s, v[i].in + off, n - off < 3 ? n - off : 3);
        uint8_t d[32];
        char h[65];
        rt_sha256_final(&s, d);
        hex(d, h);
        CHECK_MSG(strcmp(h, v[i].out) == 0, "sha256(\"%s\") = %s", v[i].in, h);
    }
    RtSha256 s;
    rt_sha256_init(&s);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 1000; i++) rt_sha256_update(&s, chunk, sizeof chunk);
    uint8_t d[32];
    char h[65];
    rt_sha256_final(&s, d);
    hex(d, h);
    CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static RtEntry sample_entry(void)
{
    static unsigned char code[300];
    for (size_t i = 0; i < sizeof code; i++) code[i] = (unsigned char)(i * 7);
    return (RtEntry){
        .target = "x86-64-v4",
        .air_text = "kernel k { ... }\n",
        .plan = {.arch = ARCH_CPU, .skeleton = SKEL_FA, .tile_m = 64, .tile_n = 32,
                 .skip_tile_map = 1, .nentries = 2,
                 .entries = {{"attn_k", ROLE_ATTENTION, 1, 0, 0, 0},
                             {"attn_k_kvgroup", ROLE_KVGROUP, 1, 4096, 64, 4}},
                 .nwork = 1, .work = {{WORK_SPLIT_PARTS, ROLE_KVGROUP}},
                 .t.cpu = {"x86-64-v4", "+avx512f", 16}},
        .code = {code, sizeof code},
    };
}

static void test_entry_pack(void)
{
    RtEntry e = sample_entry(), back;
    size_t len;
    unsigned char *p = rt_entry_pack(&e, &len);
    CHECK(p != NULL);
    Arena a;
    arena_init(&a);
    CHECK(rt_entry_unpack(&a, p, len, &back));
    CHECK(strcmp(back.target, e.target) == 0 && strcmp(back.air_text, e.air_text) == 0);
    const KernelPlan *p0 = &e.plan, *p1 = &back.plan;
    CHECK(p1->arch == ARCH_CPU && p1->skeleton == SKEL_FA && p1->tile_m == 64 &&
          p1->tile_n == 32 && p1->skip_tile_map == 1 && p1->nentries == 2 && p1->nwork == 1);
    for (int i = 0; i < 2; i++)
        CHECK(strcmp(p1->entries[i].name, p0->entries[i].name) == 0 &&
              p1->entries[i].role == p0->entries[i].role &&
              p1->entries[i].threads == p0->entries[i].threads &&
              p1->entries[i].smem_bytes == p0->entries[i].smem_bytes &&
              p1->entries[i].rows == p0->entries[i].rows &&
              p1->entries[i].max_lq == p0->entries[i].max_lq);
    CHECK(p1->work[0].rule == WORK_SPLIT_PARTS && p1->work[0].role == ROLE_KVGROUP);
    CHECK(strcmp(p1->t.cpu.name, "x86-64-v4") == 0 && strcmp(p1->t.cpu.features, "+avx512f") == 0 &&
          p1->t.cpu.vector_width == 16);
    CHECK(plan_entry(p1, ROLE_KVGROUP) == &p1->entries[1] && !plan_entry(p1, ROLE_MAP));
    /* A GPU plan keeps its own member of the union. */
    KernelPlan g = {.arch = ARCH_PTX, .skeleton = SKEL_FA, .nentries = 1,
                    .entries = {{"k", ROLE_ATTENTION, 256, 73728, 0, 0}}, .t.gpu = {90}}, gb;
    size_t glen = 0;
    unsigned char *gp = plan_pack(&a, &g, &glen);
    CHECK(gp && plan_unpack(&a, gp, glen, &gb) == glen && gb.t.gpu.sm == 90 &&
          gb.entries[0].threads == 256 && gb.entries[0].smem_bytes == 73728);
    CHECK(!plan_unpack(&a, gp, glen - 1, &gb));
    CHECK(back.code.size == e.code.size && memcmp(back.code.data, e.code.data, e.code.size) == 0);
    for (size_t cut = 0; cut < len; cut += 37)
        CHECK_MSG(!rt_entry_unpack(&a, p, cut, &back), "truncated at %zu accepted", cut);
    arena_free(&a);
    free(p);
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0) n++;
    }
    if (d) closedir(d);
    return n;
}

static void clear_dir(const char *dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_cache_files(void)
{
    char *dir = rt_cache_dir();
    CHECK_MSG(dir != NULL, "ATTN_CACHE_DIR is unusable");
    if (!dir) return;
    clear_dir(dir);
    free(dir);
    dir = rt_cache_dir();   /* creates it again */
    CHECK(dir != NULL);
    RtEntry e = sample_entry();
    size_t len, rlen;
    unsigned char *p = rt_entry_pack(&e, &len), *r = NULL;
    const char *key = "00ff00ff";
    CHECK(!rt_cache_read(dir, key, &r, &rlen));
    CHECK(rt_cache_write(dir, key, p, len));
    CHECK(rt_cache_read(dir, key, &r, &rlen) && rlen == len && memcmp(r, p, len) == 0);
    free(r);
    char *path = rt_cache_path(dir, key);

    /* One flipped byte in the payload: detected and the file removed. */
    FILE *f = fopen(path, "r+b");
    CHECK(f && fseek(f, 100, SEEK_SET) == 0 && fputc(0x5a ^ 0xff, f) != EOF);
    if (f) fclose(f);
    CHECK(!rt_cache_read(dir, key, &r, &rlen));
    CHECK(access(path, F_OK) != 0);

    /* Truncated: detected and removed. */
    CHECK(rt_cache_write(dir, key, p, len));
    CHECK(truncate(path, (off_t)len / 2) == 0);
    CHECK(!rt_cache_read(dir, key, &r, &rlen));
    CHECK(access(path, F_OK) != 0);

    /* Trailing garbage: detected. */
    CHECK(rt_cache_write(dir, key, p, len));
    f = fopen(path, "ab");
    CHECK(f && fputc('x', f) != EOF);
    if (f) fclose(f);
    CHECK(!rt_cache_read(dir, key, &r, &rlen));

    /* Another key's entry under this key's name (a copied file): a miss, and removed. */
    CHECK(rt_cache_write(dir, key, p, len));
    char *other = rt_cache_path(dir, "11ee11ee");
    CHECK(rename(path, other) == 0);
    CHECK(!rt_cache_read(dir, "11ee11ee", &r, &rlen));
    CHECK(access(other, F_OK) != 0);
    free(other);

    /* A FIFO at an entry's name: a miss at once (no writer ever comes; the alarm ends a read
     * that waits for one), then replaced by the next write. */
    CHECK(mkfifo(path, 0644) == 0);
    alarm(20);
    CHECK(!rt_cache_read(dir, key, &r, &rlen));
    alarm(0);
    CHECK(rt_cache_write(dir, key, p, len));
    CHECK(rt_cache_read(dir, key, &r, &rlen) && rlen == len && memcmp(r, p, len) == 0);
    free(r);
    CHECK(unlink(path) == 0);

    /* Eight processes writing and reading the same entry at once: every one succeeds and one
     * intact file remains, with no temporary left behind. */
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            bool ok = true;
            for (int rep = 0; rep < 20; rep++) {
                unsigned char *q = NULL;
                size_t qn;
                ok &= rt_cache_write(dir, "shared", p, len);
                if (rt_cache_read(dir, "shared", &q, &qn)) ok &= qn == len && !memcmp(q, p, len);
                free(q);
            }
            _exit(ok ? 0 : 1);
        }
    }
    for (int i = 0; i < 8; i++) {
        int st = -1;
        waitpid(kids[i], &st, 0);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed", i);
    }
    CHECK(rt_cache_read(dir, "shared", &r, &rlen) && rlen == len && !memcmp(r, p, len));
    free(r);
    CHECK(count_files(dir, ".attnk") == 1);
    DIR *d = opendir(dir);
    struct dirent *de;
    int tmps = 0;
    while (d && (de = readdir(d))) tmps += strncmp(de->d_name, ".tmp-", 5) == 0;
    if (d) closedir(d);
    CHECK(tmps == 0);
    free(path);
    free(p);
    free(dir);
}

/* ---- thread pool ---------------------------------------------------------------------------- */

typedef struct Hits {
    atomic_int *count;
    atomic_llong sum;
} Hits;

static void hit(void *ctx, int64_t i)
{
    Hits *h = ctx;
    atomic_fetch_add(&h->count[i], 1);
    atomic_fetch_add(&h->sum, i);
}

static void check_pool(int64_t n, int32_t threads)
{
    Hits h = {calloc((size_t)n + 1, sizeof(atomic_int)), 0};
    rt_parallel_for(n, threads, hit, &h);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += atomic_load(&h.count[i]) != 1;
    CHECK_MSG(bad == 0, "%d of %lld items not run exactly once with %d threads", bad,
              (long long)n, threads);
    CHECK(atomic_load(&h.sum) == n * (n - 1) / 2);
    free(h.count);
}

static void *pool_caller(void *arg)
{
    (void)arg;
    for (int rep = 0; rep < 50; rep++) check_pool(97, 3);
    return NULL;
}

static void test_threadpool(void)
{
    static const int32_t threads[] = {1, 2, 3, 0, 7, 2, 16, 1};
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++)
        for (int64_t n = 0; n < 40; n += 13) check_pool(n, threads[i]);
    for (int rep = 0; rep < 200; rep++) check_pool(1 + rep % 17, 1 + rep % 5);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, pool_caller, NULL);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
}

int main(void)
{
    test_sha256();
    test_entry_pack();
    test_cache_files();
    test_threadpool();
    if (test_failures) fprintf(stderr, "%d failures\n", test_failures);
    else printf("runtime units: all passed\n");
    return test_failures != 0;
}
