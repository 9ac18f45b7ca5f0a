/* diag.c: collecting and rendering diagnostics in clang's format. Locations are byte ranges;
 * lines and columns are computed only when printing. */
#include "base.h"

#include <stdio.h>
#include <string.h>

void diags_init(Diags *d, Arena *a, const Source *src)
{
    memset(d, 0, sizeof *d);
    d->arena = a;
    d->src = src;
}

static void diag_add(Diags *d, DiagLevel level, bool has_loc, Loc loc, const char *fmt, va_list ap)
{
    int limit = d->max_errors ? d->max_errors : 100;
    if (level == DIAG_ERROR) d->errors++;
    if (d->count >= (size_t)limit * 2) return;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *msg = n >= 0 ? arena_alloc(d->arena, (size_t)n + 1) : NULL;
    if (!msg) return;
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    Diag item = {level, loc, has_loc, msg, NULL};
    ARR_PUSH(d->arena, d->items, d->count, d->cap, item);
}

#define DIAG_FN(NAME, LEVEL)                                                                  \
    void NAME(Diags *d, Loc loc, const char *fmt, ...)                                        \
    {                                                                                         \
        va_list ap;                                                                           \
        va_start(ap, fmt);                                                                    \
        diag_add(d, LEVEL, true, loc, fmt, ap);                                               \
        va_end(ap);                                                                           \
    }
DIAG_FN(diag_error, DIAG_ERROR)
DIAG_FN(diag_warning, DIAG_WARNING)
DIAG_FN(diag_note, DIAG_NOTE)

void diag_error_noloc(Diags *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(d, DIAG_ERROR, false, (Loc){0, 0}, fmt, ap);
    va_end(ap);
}

void diag_hint(Diags *d, const char *fmt, ...)
{
    if (!d->count) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *h = n >= 0 ? arena_alloc(d->arena, (size_t)n + 1) : NULL;
    if (!h) return;
    va_start(ap, fmt);
    vsnprintf(h, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->items[d->count - 1].hint = h;
}

void source_line_col(const Source *src, uint32_t off, int *line, int *col)
{
    int l = 1, c = 1;
    if (off > src->len) off = (uint32_t)src->len;
    for (uint32_t k = 0; k < off; k++) {
        if (src->text[k] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* A growable string in the arena, for rendering. */
typedef struct Buf {
    Arena *a;
    char *p;
    size_t n, cap;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t ncap = (b->cap ? b->cap * 2 : 256);
        while (ncap < b->n + n + 1) ncap *= 2;
        char *np = arena_realloc(b->a, b->p, b->cap, ncap);
        if (!np) return;
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static const char *level_name(DiagLevel l)
{
    return l == DIAG_ERROR ? "error" : l == DIAG_WARNING ? "warning" : "note";
}

char *diags_render(const Diags *d, bool color)
{
    Buf b = {d->arena, NULL, 0, 0};
    buf_str(&b, "");
    const char *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
    const char *red = color ? "\033[1;31m" : "", *green = color ? "\033[1;32m" : "";
    for (size_t k = 0; k < d->count; k++) {
        const Diag *g = &d->items[k];
        const char *name = d->src && d->src->name ? d->src->name : "<input>";
        if (g->has_loc && d->src) {
            int line, col;
            source_line_col(d->src, g->loc.begin, &line, &col);
            buf_str(&b, arena_printf(d->arena, "%s%s:%d:%d: %s%s:%s %s%s\n", bold, name, line, col,
                                     red, level_name(g->level), reset, bold, g->msg));
            buf_str(&b, reset);
            /* the source line, then a caret at begin and ~ to the end of the range */
            uint32_t ls = g->loc.begin > d->src->len ? (uint32_t)d->src->len : g->loc.begin;
            while (ls > 0 && d->src->text[ls - 1] != '\n') ls--;
            uint32_t le = ls;
            while (le < d->src->len && d->src->text[le] != '\n') le++;
            buf_put(&b, d->src->text + ls, le - ls);
            buf_str(&b, "\n");
            for (uint32_t c = ls; c < g->loc.begin && c < le; c++)
                buf_str(&b, d->src->text[c] == '\t' ? "\t" : " ");
            buf_str(&b, green);
            buf_str(&b, "^");
            uint32_t end = g->loc.end < le ? g->loc.end : le;
            for (uint32_t c = g->loc.begin + 1; c < end; c++) buf_str(&b, "~");
            buf_str(&b, reset);
            buf_str(&b, "\n");
        } else {
            buf_str(&b, arena_printf(d->arena, "%s%s: %s%s:%s %s\n", bold, name, red,
                                     level_name(g->level), reset, g->msg));
        }
        if (g->hint) buf_str(&b, arena_printf(d->arena, "hint: %s\n", g->hint));
    }
    return b.p;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

const char *closest_name(const char *name, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t allowed = strlen(name) <= 3 ? 1 : strlen(name) / 3 + 1;
    for (size_t k = 0; k < n; k++) {
        if (!candidates[k]) continue;
        size_t dist = edit_distance(name, candidates[k]);
        if (dist < best_d && dist <= allowed && dist > 0) {
            best_d = dist;
            best = candidates[k];
        }
    }
    return best;
}
