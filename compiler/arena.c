/* arena.c: bump allocation in linked blocks. One arena per compilation; arena_free drops
 * everything at once, so no stage frees individual nodes. */
#include "base.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ArenaBlock {
    ArenaBlock *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

enum { ARENA_BLOCK = 64 * 1024 };

void arena_init(Arena *a) { memset(a, 0, sizeof *a); }

void arena_free(Arena *a)
{
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

void *arena_alloc(Arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    if (a->limit && a->total + size > a->limit) {
        a->oom = true;
        return NULL;
    }
    ArenaBlock *b = a->head;
    if (!b || b->size - b->used < size) {
        size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        ArenaBlock *nb = malloc(sizeof *nb + bsize);
        if (!nb) {
            a->oom = true;
            return NULL;
        }
        nb->next = a->head;
        nb->used = 0;
        nb->size = bsize;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

void *arena_realloc(Arena *a, void *p, size_t old_size, size_t new_size)
{
    if (new_size <= old_size) return p;
    void *np = arena_alloc(a, new_size);
    if (np && p && old_size) memcpy(np, p, old_size);
    return np;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(Arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? arena_alloc(a, (size_t)n + 1) : NULL;
    if (p) vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

/* arena_read_file that stops after max + 1 bytes: NULL with errno = EFBIG when there are more
 * than max. */
static char *read_at_most(Arena *a, const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 14, n = 0;
    char *buf = arena_alloc(a, cap);
    bool too_big = false;
    while (buf) {
        size_t room = cap - 1 - n;   /* a byte stays free for the NUL */
        if (room > max - n + 1) room = max - n + 1;
        size_t got = fread(buf + n, 1, room, f);
        n += got;
        if ((too_big = n > max) || got < room) break;
        buf = arena_realloc(a, buf, cap, cap * 2);
        cap *= 2;
    }
    bool ok = buf && !ferror(f) && !too_big;
    fclose(f);
    if (!ok) {
        if (too_big) errno = EFBIG;
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *arena_read_file(Arena *a, const char *path, size_t *len)
{
    return read_at_most(a, path, SIZE_MAX / 2, len);
}

char *arena_read_spec(Arena *a, const char *path, size_t *len)
{
    return read_at_most(a, path, SPEC_MAX_BYTES, len);
}

_Static_assert(SPEC_MAX_BYTES == 4 << 20, "spec_read_error names the limit");

const char *spec_read_error(int err)
{
    return err == EFBIG ? "a spec may have at most 4 MiB (4194304 bytes)" : strerror(err);
}

_Noreturn void attn_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "attnc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void arena_buf_put(ArenaBuf *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *np = arena_alloc(b->a, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        if (b->len) memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void byte_read(ByteReader *r, void *out, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p + r->off, n);
    r->off += n;
}
