/* cache.c: the disk cache of compiled kernels. An entry is one file named by the SHA-256 of
 * everything that decides the generated code (spec text, kernel, defines, target, host CPU for
 * "native", compiler version; api.c builds the key). A file is
 *   magic "ATTNKC01" | u32 format version | 32-byte SHA-256 of its key |
 *   u64 payload length | 32-byte SHA-256 of payload | payload
 * and the payload is the entry: target name, AIR text, plan, code, as length-prefixed fields.
 * The recorded key makes a file copied or renamed to another key's name a miss, not a wrong
 * kernel. Writers go through a temporary file in the same directory and rename() it into
 * place, so readers see either nothing or a whole file, and several processes compiling the
 * same spec at once all succeed (the last rename wins, with identical contents). Readers open
 * without blocking and take regular files only, so a FIFO or a device at an entry's name is a
 * miss. A file that fails any check is removed and rebuilt by the caller. A cache that cannot
 * be written is said once per process on stderr; otherwise every failure here is a false
 * return that callers ignore: the cache never fails a compile. */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------------ */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(RtSha256 *s, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

void rt_sha256_init(RtSha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->nbuf = 0;
}

void rt_sha256_update(RtSha256 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->len += n;
    while (n > 0) {
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take;
        p += take;
        n -= take;
        if (s->nbuf == 64) {
            sha_block(s, s->buf);
            s->nbuf = 0;
        }
    }
}

void rt_sha256_final(RtSha256 *s, uint8_t out[32])
{
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, zero = 0, lenbe[8];
    rt_sha256_update(s, &pad, 1);
    while (s->nbuf != 56)
        rt_sha256_update(s, &zero, 1);
    for (int i = 0; i < 8; i++)
        lenbe[i] = (uint8_t)(bits >> (56 - 8 * i));
    rt_sha256_update(s, lenbe, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* ---- the directory ------------------------------------------------------------------------- */

/* Says on stderr, once per process, that the kernel cache cannot be used and why: without it
 * every process compiles its kernels afresh, which should not happen unnoticed. */
static void warn_unusable(const char *dir, int err)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&warned)) return;
    if (dir)
        fprintf(stderr, "attnc: warning: cannot write the kernel cache in '%s': %s; kernels are "
                        "compiled afresh in every process (set ATTN_CACHE_DIR to a writable "
                        "directory)\n", dir, strerror(err));
    else
        fprintf(stderr, "attnc: warning: no kernel cache: ATTN_CACHE_DIR, XDG_CACHE_HOME and HOME "
                        "are unset; kernels are compiled afresh in every process\n");
}

/* mkdir -p; true when `path` is a directory afterwards, else false with errno saying why. */
static bool make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    struct stat st;
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return false;
    if (stat(path, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) errno = ENOTDIR;
    return S_ISDIR(st.st_mode);
}

char *rt_cache_dir(void)
{
    const char *env = getenv("ATTN_CACHE_DIR"), *sub = "";
    if (!env || !*env) {
        env = getenv("XDG_CACHE_HOME");
        sub = "/attnc";
        if (!env || !*env) {
            env = getenv("HOME");
            sub = "/.cache/attnc";
        }
    }
    if (!env || !*env) {
        warn_unusable(NULL, 0);
        return NULL;
    }
    size_t n = strlen(env) + strlen(sub) + 1;
    char *dir = malloc(n);
    if (!dir) return NULL;
    snprintf(dir, n, "%s%s", env, sub);
    if (!make_dirs(dir)) {
        warn_unusable(dir, errno);
        free(dir);
        return NULL;
    }
    return dir;
}

char *rt_cache_path(const char *dir, const char *key)
{
    size_t n = strlen(dir) + strlen(key) + 16;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s.attnk", dir, key);
    return p;
}

/* ---- entries ------------------------------------------------------------------------------- */

static const char file_magic[8] = {'A', 'T', 'T', 'N', 'K', 'C', '0', '1'};
/* Version 4 added the key's digest to the header; 5 holds the plan as plan_io.c's bytes. */
enum { FILE_VERSION = 5, KEY_AT = 12, LEN_AT = KEY_AT + 32, SUM_AT = LEN_AT + 8,
       HEADER_SIZE = SUM_AT + 32 };

static void put_u64(ArenaBuf *b, uint64_t v) { arena_buf_put(b, &v, 8); }
static void put_bytes(ArenaBuf *b, const void *p, size_t n)
{
    put_u64(b, n);
    arena_buf_put(b, p, n);
}
static void put_str(ArenaBuf *b, const char *s) { put_bytes(b, s ? s : "", s ? strlen(s) : 0); }

unsigned char *rt_entry_pack(const RtEntry *e, size_t *len)
{
    Arena a;
    arena_init(&a);
    ArenaBuf b = {&a, NULL, 0, 0, false};
    put_str(&b, e->target);
    put_str(&b, e->air_text);
    size_t plan_len = 0;
    unsigned char *plan = plan_pack(&a, &e->plan, &plan_len);
    if (plan) put_bytes(&b, plan, plan_len);
    put_bytes(&b, e->code.data, e->code.size);
    unsigned char *out = plan && !b.failed ? malloc(b.len) : NULL;
    if (out) {
        memcpy(out, b.p, b.len);
        *len = b.len;
    }
    arena_free(&a);
    return out;
}

/* A field copied into the arena, NUL-terminated (so text fields are C strings). */
static unsigned char *get_bytes(ByteReader *r, Arena *a, size_t *n)
{
    uint64_t len;
    byte_read(r, &len, 8);
    if (r->bad || r->len - r->off < len) {
        r->bad = true;
        return NULL;
    }
    unsigned char *p = arena_alloc(a, (size_t)len + 1);
    if (!p) {
        r->bad = true;
        return NULL;
    }
    memcpy(p, r->p + r->off, (size_t)len);
    r->off += (size_t)len;
    if (n) *n = (size_t)len;
    return p;
}

static const char *get_str(ByteReader *r, Arena *a) { return (const char *)get_bytes(r, a, NULL); }

bool rt_entry_unpack(Arena *a, const unsigned char *p, size_t len, RtEntry *e)
{
    ByteReader r = {p, len, 0, false};
    memset(e, 0, sizeof *e);
    e->target = get_str(&r, a);
    e->air_text = get_str(&r, a);
    size_t plan_len = 0;
    const unsigned char *plan = get_bytes(&r, a, &plan_len);
    if (plan && plan_unpack(a, plan, plan_len, &e->plan) != plan_len) r.bad = true;
    e->code.data = get_bytes(&r, a, &e->code.size);
    return !r.bad && r.off == len;
}

static void digest(const unsigned char *p, size_t n, uint8_t out[32])
{
    RtSha256 s;
    rt_sha256_init(&s);
    rt_sha256_update(&s, p, n);
    rt_sha256_final(&s, out);
}

/* The header of a file holding `payload` under `key`. */
static void make_header(const char *key, const unsigned char *payload, size_t len,
                        unsigned char hdr[HEADER_SIZE])
{
    uint32_t version = FILE_VERSION;
    uint64_t n = len;
    memcpy(hdr, file_magic, 8);
    memcpy(hdr + 8, &version, 4);
    digest((const unsigned char *)key, strlen(key), hdr + KEY_AT);
    memcpy(hdr + LEN_AT, &n, 8);
    digest(payload, len, hdr + SUM_AT);
}

/* read() until n bytes or the end; true when all n came. */
static bool read_all(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

/* The payload of the regular file open at `fd` when it is a whole entry of `key`, malloc'd;
 * NULL otherwise. */
static unsigned char *read_entry(int fd, const char *key, size_t *len)
{
    struct stat st;
    unsigned char hdr[HEADER_SIZE], want[HEADER_SIZE];
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < HEADER_SIZE ||
        st.st_size - HEADER_SIZE >= ((off_t)1 << 32) || !read_all(fd, hdr, HEADER_SIZE))
        return NULL;
    size_t n = (size_t)(st.st_size - HEADER_SIZE);
    unsigned char *data = malloc(n + 1);
    if (!data || !read_all(fd, data, n)) {
        free(data);
        return NULL;
    }
    make_header(key, data, n, want);
    if (memcmp(hdr, want, HEADER_SIZE) != 0) {
        free(data);
        return NULL;
    }
    *len = n;
    return data;
}

bool rt_cache_read(const char *dir, const char *key, unsigned char **payload, size_t *len)
{
    char *path = rt_cache_path(dir, key);
    if (!path) return false;
    /* O_NONBLOCK: opening a FIFO does not wait for a writer; read_entry then refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        free(path);
        return false;
    }
    unsigned char *data = read_entry(fd, key, len);
    close(fd);
    if (!data) {
        /* Corrupt, truncated, another key's, another format or not a regular file: drop it
         * so the caller rebuilds it. */
        unlink(path);
        free(path);
        return false;
    }
    free(path);
    *payload = data;
    return true;
}

bool rt_cache_write(const char *dir, const char *key, const unsigned char *payload, size_t len)
{
    char *path = rt_cache_path(dir, key);
    size_t tn = strlen(dir) + 32;
    char *tmp = malloc(tn);
    bool ok = false;
    int err = 0;
    if (!path || !tmp) goto done;
    snprintf(tmp, tn, "%s/.tmp-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        err = errno;
        goto done;
    }
    unsigned char hdr[HEADER_SIZE];
    make_header(key, payload, len, hdr);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        err = errno;
        close(fd);
        unlink(tmp);
        goto done;
    }
    fchmod(fd, 0644);
    ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(payload, 1, len, f) == len;
    if (!ok) err = errno ? errno : EIO;
    if (fclose(f) != 0 && ok) {
        err = errno;
        ok = false;
    }
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = false;
    }
    if (!ok) unlink(tmp);
done:
    if (err) warn_unusable(dir, err);
    free(path);
    free(tmp);
    return ok;
}
