/* base.h: what every compiler stage shares: the arena that owns a compilation's memory,
 * source files, diagnostics with byte-offset locations, and the bug macro that separates
 * broken invariants from user mistakes. Nothing here calls exit(). */
#ifndef ATTNC_BASE_H
#define ATTNC_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena.c ---------------------------------------------------------------------------- */

/* An arena hands out memory that lives until arena_free; every allocation of a compilation
 * (AST, AIR, strings, diagnostics) comes from one. Allocation failure is reported through
 * arena->oom and a NULL return, never by aborting. */
typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
    ArenaBlock *head;
    size_t total;   /* bytes handed out so far */
    size_t limit;   /* 0 = unlimited; used by the allocation-failure test mode */
    bool oom;       /* set once an allocation failed */
} Arena;

void arena_init(Arena *a);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);             /* zeroed, 16-byte aligned */
void *arena_realloc(Arena *a, void *p, size_t old_size, size_t new_size);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes appended in an arena, for serialisers (plan_io.c, the kernel cache): grows by doubling;
 * a failed allocation sets `failed` and later puts do nothing. */
typedef struct ArenaBuf {
    Arena *a;
    unsigned char *p;
    size_t len, cap;
    bool failed;
} ArenaBuf;
void arena_buf_put(ArenaBuf *b, const void *data, size_t n);

/* Bytes read in order from [p, p + len): a read past the end sets `bad` and yields zeros. */
typedef struct ByteReader {
    const unsigned char *p;
    size_t len, off;
    bool bad;
} ByteReader;
void byte_read(ByteReader *r, void *out, size_t n);
/* The whole file at `path`, NUL-terminated, in the arena; *len gets its size (without the NUL).
 * Returns NULL when it cannot be opened or read (errno says why) or memory ran out. */
char *arena_read_file(Arena *a, const char *path, size_t *len);
/* The most bytes a spec may have: 4 MiB, a thousand times the longest example. Files and
 * strings above it are refused before they are parsed, and a file is read no further than
 * that, so a device or a pipe given as a spec (/dev/zero) cannot be read forever. */
enum { SPEC_MAX_BYTES = 4 << 20 };
/* arena_read_file for a spec: NULL with errno = EFBIG once it exceeds SPEC_MAX_BYTES. */
char *arena_read_spec(Arena *a, const char *path, size_t *len);
/* Why arena_read_spec failed with `err`, in words (for EFBIG, the limit). */
const char *spec_read_error(int err);

/* A growable array in an arena: ARR_PUSH(arena, items, count, cap, value). */
#define ARR_PUSH(A, ITEMS, COUNT, CAP, VALUE)                                                 \
    do {                                                                                      \
        if ((COUNT) == (CAP)) {                                                               \
            size_t ncap_ = (CAP) ? (size_t)(CAP) * 2 : 8;                                     \
            void *np_ = arena_realloc((A), (ITEMS), sizeof(*(ITEMS)) * (size_t)(CAP),         \
                                      sizeof(*(ITEMS)) * ncap_);                              \
            if (!np_) break;                                                                  \
            (ITEMS) = np_;                                                                    \
            (CAP) = ncap_;                                                                    \
        }                                                                                     \
        (ITEMS)[(COUNT)++] = (VALUE);                                                         \
    } while (0)

/* ---- diag.c ----------------------------------------------------------------------------- */

/* A location is a half-open byte range [begin, end) in one source. */
typedef struct Loc {
    uint32_t begin, end;
} Loc;

typedef struct Source {
    const char *name;   /* file name as the user gave it, or "<string>" */
    const char *text;   /* NUL-terminated */
    size_t len;
} Source;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag {
    DiagLevel level;
    Loc loc;
    bool has_loc;
    const char *msg;
    const char *hint;   /* may be NULL; printed as "hint: ..." */
} Diag;

/* The diagnostics of one compilation. Errors are counted; printing is separate so that the
 * library can return them as text and the CLI can print them to stderr. */
typedef struct Diags {
    Arena *arena;
    const Source *src;
    Diag *items;
    size_t count, cap;
    int errors;
    int max_errors;     /* stop recording after this many (0 = 100) */
} Diags;

void diags_init(Diags *d, Arena *a, const Source *src);
void diag_error(Diags *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diags *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Diags *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Errors without a source location (bad option, unsupported target). */
void diag_error_noloc(Diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Attach a hint to the last diagnostic. */
void diag_hint(Diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Render every diagnostic clang-style: "file:line:col: error: msg", the source line, a caret
 * and ~~~ under the range, then "hint: ...". What is echoed is escaped (control bytes as \x1b,
 * invisible code points as <U+202E>) and a long line is cut to a window around the caret.
 * Returns a string in d->arena. */
char *diags_render(const Diags *d, bool color);
/* 1-based line and column of a byte offset. */
void source_line_col(const Source *src, uint32_t off, int *line, int *col);

/* The closest name to `name` among `candidates` by edit distance, or NULL if none is close. */
const char *closest_name(const char *name, const char *const *candidates, size_t n);

/* ---- bug.c ------------------------------------------------------------------------------ */

/* A broken invariant inside attnc (never a user mistake): prints the place and aborts. */
#define ATTN_BUG(...) attn_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void attn_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
