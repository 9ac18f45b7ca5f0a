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

static void buf_chars(Buf *b, char c, int n)
{
    for (int k = 0; k < n; k++) buf_put(b, &c, 1);
}

/* ---- what the terminal is shown ------------------------------------------------------------ */

/* The widest source line echoed whole, and how many columns of it a cut line keeps before the
 * caret (docs/language.md, "Limits and diagnostics"). */
enum { LINE_COLS = 100, CARET_COLS = 50 };

/* One character as a diagnostic shows it: printable ASCII, a tab or a printable UTF-8 character
 * as it is (one column), anything else escaped so that it cannot act on the terminal or hide
 * text: a control character or a byte that is not UTF-8 as \x1b, an invisible or
 * direction-changing code point as <U+202E>. */
typedef struct Glyph {
    uint32_t len;   /* source bytes */
    int width;      /* columns */
    char text[12];
} Glyph;

/* The code point of the UTF-8 sequence at s[0..n), or 0 bytes when it is not well formed
 * (overlong, a surrogate, past U+10FFFF, cut short). */
static uint32_t utf8_decode(const unsigned char *s, uint32_t n, uint32_t *cp)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
                   s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t v = s[0] & (0x7fu >> len);
    for (uint32_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[k] & 0x3fu);
    }
    if (v < least[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

static bool invisible(uint32_t cp)
{
    return cp < 0xa0 || cp == 0xad || cp == 0x61c || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
           (cp >= 0xfff9 && cp <= 0xfffb);
}

/* The glyph of the character at s[off], which is before `end`. */
static Glyph glyph_at(const char *s, uint32_t off, uint32_t end)
{
    const unsigned char *u = (const unsigned char *)s + off;
    Glyph g = {1, 1, {(char)u[0], 0}};
    if ((u[0] >= 0x20 && u[0] < 0x7f) || u[0] == '\t') return g;
    uint32_t cp = 0, len = u[0] >= 0x80 ? utf8_decode(u, end - off, &cp) : 0;
    if (len && !invisible(cp)) {
        g.len = len;
        memcpy(g.text, u, len);
        g.text[len] = 0;
    } else if (len) {
        g.len = len;
        g.width = snprintf(g.text, sizeof g.text, "<U+%04X>", (unsigned)cp);
    } else {
        g.width = snprintf(g.text, sizeof g.text, "\\x%02x", u[0]);
    }
    return g;
}

/* The columns of s[from..to), counting a tab as one; stops counting past `cap`. */
static int text_width(const char *s, uint32_t from, uint32_t to, int cap)
{
    int w = 0;
    for (uint32_t p = from; p < to && w <= cap;) {
        Glyph g = glyph_at(s, p, to);
        w += g.width;
        p += g.len;
    }
    return w;
}

/* Escapes a message: its text may quote the command line or the source. Newlines stay. */
static void put_escaped(Buf *b, const char *msg)
{
    uint32_t n = (uint32_t)strlen(msg);
    for (uint32_t p = 0; p < n;) {
        Glyph g = msg[p] == '\n' ? (Glyph){1, 1, "\n"} : glyph_at(msg, p, n);
        buf_str(b, g.text);
        p += g.len;
    }
}

/* Echoes the source line [ls, le) escaped, then the caret line: '^' under `begin` and '~' to
 * `end`. A line wider than LINE_COLS is cut to a window of that width that starts at most
 * CARET_COLS before the caret, with "..." on each cut side. Every glyph is matched by as many
 * columns (a tab by a tab) in the caret line, so the caret stays under its character. */
static void put_source_line(Buf *b, const Source *src, uint32_t ls, uint32_t le, uint32_t begin,
                            uint32_t end, const char *green, const char *reset)
{
    const char *s = src->text;
    bool cut = text_width(s, ls, le, LINE_COLS) > LINE_COLS;
    uint32_t ws = ls, we = le;
    if (cut) {
        /* A column shows at most 4 bytes (a UTF-8 character) and a byte takes at most 4 columns
         * (\xHH): start 4 * CARET_COLS bytes back, at a character, and drop what is too far. */
        if (begin - ls > 4 * CARET_COLS) ws = begin - 4 * CARET_COLS;
        for (int k = 0; k < 3 && ws < begin && ((unsigned char)s[ws] & 0xc0) == 0x80; k++) ws++;
        for (int w = text_width(s, ws, begin, 16 * CARET_COLS); w > CARET_COLS;) {
            Glyph g = glyph_at(s, ws, le);
            w -= g.width;
            ws += g.len;
        }
        int w = 0;
        for (we = ws; we < le;) {
            Glyph g = glyph_at(s, we, le);
            if (w + g.width > LINE_COLS) break;
            w += g.width;
            we += g.len;
        }
    }
    if (ws > ls) buf_str(b, "...");
    for (uint32_t p = ws; p < we;) {
        Glyph g = glyph_at(s, p, we);
        buf_str(b, g.text);
        p += g.len;
    }
    buf_str(b, we < le ? "...\n" : "\n");

    if (ws > ls) buf_str(b, "   ");
    uint32_t p = ws;
    Glyph g = {0, 0, ""};
    while (p < we) {
        g = glyph_at(s, p, we);
        if (p + g.len > begin) break;
        buf_chars(b, s[p] == '\t' ? '\t' : ' ', g.width);
        p += g.len;
    }
    buf_str(b, green);
    buf_str(b, "^");
    if (end > begin && p < we) {
        buf_chars(b, '~', g.width - 1);
        for (p += g.len; p < end && p < we; p += g.len) {
            g = glyph_at(s, p, we);
            buf_chars(b, '~', g.width);
        }
    }
    buf_str(b, reset);
    buf_str(b, "\n");
}

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
            buf_str(&b, arena_printf(d->arena, "%s%s:%d:%d: %s%s:%s %s", bold, name, line, col, red,
                                     level_name(g->level), reset, bold));
            put_escaped(&b, g->msg);
            buf_str(&b, reset);
            buf_str(&b, "\n");
            uint32_t begin = g->loc.begin > d->src->len ? (uint32_t)d->src->len : g->loc.begin;
            uint32_t ls = begin, le = begin;
            while (ls > 0 && d->src->text[ls - 1] != '\n') ls--;
            while (le < d->src->len && d->src->text[le] != '\n') le++;
            if (le > ls && d->src->text[le - 1] == '\r') le--;   /* a CRLF line */
            uint32_t end = g->loc.end < le ? g->loc.end : le;
            put_source_line(&b, d->src, ls, le, begin, end, green, reset);
        } else {
            buf_str(&b, arena_printf(d->arena, "%s%s: %s%s:%s ", bold, name, red,
                                     level_name(g->level), reset));
            put_escaped(&b, g->msg);
            buf_str(&b, "\n");
        }
        if (g->hint) {
            buf_str(&b, "hint: ");
            put_escaped(&b, g->hint);
            buf_str(&b, "\n");
        }
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
