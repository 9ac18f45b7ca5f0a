/* air_parse.c: reads the text form that air_print writes (docs/air.md), so tests and tools can
 * start from AIR. Errors are diagnostics with the byte range of the offending token and, for
 * misspelt names, a "did you mean". Structural checks (types, operand order) are left to
 * air_verify, which the caller runs on the result. */
#include "air.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { TK_EOF, TK_WORD, TK_NUM, TK_NODE, TK_PUNCT } TokKind;

typedef struct Tok {
    TokKind kind;
    Loc loc;
    const char *s;  /* start in the source */
    size_t len;
    int64_t node;   /* TK_NODE: the number after % */
} Tok;

typedef struct P {
    Arena *a;
    Diags *d;
    const char *src;
    size_t len, pos;
    Tok tok;
    bool failed;
    AirKernel *k;
    int32_t capsyms, captensors, capparams;
    const char *sel_from;   /* `select ... from NAME`: resolved once the tensors are read */
    Loc sel_from_loc;
} P;

static bool is_word_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '.'; }

static void next(P *p)
{
    const char *s = p->src;
    for (;;) {
        while (p->pos < p->len && isspace((unsigned char)s[p->pos])) p->pos++;
        if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '/') {
            while (p->pos < p->len && s[p->pos] != '\n') p->pos++;
            continue;
        }
        break;
    }
    size_t b = p->pos;
    Tok t = {TK_EOF, {(uint32_t)b, (uint32_t)b}, s + b, 0, 0};
    if (b >= p->len) {
        p->tok = t;
        return;
    }
    char c = s[b];
    size_t e = b + 1;
    if (c == '%') {
        t.kind = TK_NODE;
        while (e < p->len && isdigit((unsigned char)s[e])) e++;
        t.node = e > b + 1 && e - b < 12 ? strtoll(s + b + 1, NULL, 10) : -1;
    } else if (isdigit((unsigned char)c) || c == '-' || c == '+' ||
               (c == '.' && b + 1 < p->len && isdigit((unsigned char)s[b + 1]))) {
        t.kind = TK_NUM;
        while (e < p->len && (is_word_char(s[e]) ||
                              ((s[e] == '-' || s[e] == '+') && (s[e - 1] == 'e' || s[e - 1] == 'E'))))
            e++;
    } else if (isalpha((unsigned char)c) || c == '_') {
        t.kind = TK_WORD;
        while (e < p->len && is_word_char(s[e])) e++;
    } else {
        t.kind = TK_PUNCT;
    }
    t.len = e - b;
    t.loc.end = (uint32_t)e;
    p->pos = e;
    p->tok = t;
}

static void err(P *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err(P *p, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = true;
    va_list ap;
    va_start(ap, fmt);
    char buf[256];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    diag_error(p->d, p->tok.loc, "%s", buf);
}

static bool is(P *p, const char *word)
{
    return (p->tok.kind == TK_WORD || p->tok.kind == TK_PUNCT) && p->tok.len == strlen(word) &&
           memcmp(p->tok.s, word, p->tok.len) == 0;
}

static bool accept(P *p, const char *word)
{
    if (!is(p, word)) return false;
    next(p);
    return true;
}

static void expect(P *p, const char *word)
{
    if (accept(p, word)) return;
    err(p, "expected '%s' in AIR text, found '%.*s'", word, (int)p->tok.len, p->tok.s);
}

static const char *word(P *p, const char *what)
{
    if (p->tok.kind != TK_WORD) {
        err(p, "expected %s, found '%.*s'", what, (int)p->tok.len, p->tok.s);
        return NULL;
    }
    const char *w = arena_strndup(p->a, p->tok.s, p->tok.len);
    next(p);
    return w;
}

/* A number token, or one of the words inf / nan. */
static double number(P *p)
{
    if (p->tok.kind != TK_NUM && !is(p, "inf") && !is(p, "nan")) {
        err(p, "expected a number, found '%.*s'", (int)p->tok.len, p->tok.s);
        return 0;
    }
    char buf[64];
    size_t n = p->tok.len < sizeof buf - 1 ? p->tok.len : sizeof buf - 1;
    memcpy(buf, p->tok.s, n);
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end) err(p, "malformed number '%s'", buf);
    next(p);
    return v;
}

static int64_t integer(P *p)
{
    double v = number(p);
    if (v != (double)(int64_t)v) err(p, "expected an integer");
    return (int64_t)v;
}

/* Index of `w` in names[0..n), or -1 with a diagnostic at the current token's predecessor. */
static int lookup(P *p, Loc at, const char *w, const char *const *names, int n, const char *what)
{
    if (!w) return -1;
    for (int k = 0; k < n; k++)
        if (names[k] && strcmp(names[k], w) == 0) return k;
    if (!p->failed) {
        p->failed = true;
        diag_error(p->d, at, "unknown %s '%s'", what, w);
        const char *close = closest_name(w, names, (size_t)n);
        if (close) diag_hint(p->d, "did you mean '%s'?", close);
    }
    return -1;
}

static int lookup_word(P *p, const char *const *names, int n, const char *what)
{
    Loc at = p->tok.loc;
    return lookup(p, at, word(p, what), names, n, what);
}

static const char **names_of(P *p, int kind)
{
    AirKernel *k = p->k;
    int n = kind == 0 ? k->nsyms : kind == 1 ? k->ntensors : k->nparams;
    const char **v = arena_alloc(p->a, sizeof(char *) * (size_t)(n + 1));
    if (!v) return NULL;
    for (int x = 0; x < n; x++)
        v[x] = kind == 0 ? k->syms[x].name : kind == 1 ? k->tensors[x].name : k->params[x].name;
    return v;
}

static int lookup_decl(P *p, int kind, const char *what)
{
    AirKernel *k = p->k;
    int n = kind == 0 ? k->nsyms : kind == 1 ? k->ntensors : k->nparams;
    const char **v = names_of(p, kind);
    return v ? lookup_word(p, v, n, what) : -1;
}

static AirType type(P *p)
{
    static const char *const names[] = {"void", "bool", "i32", "f32"};
    AirType t = {TY_VOID, 0, 0};
    int kind = lookup_word(p, names, 4, "type");
    if (kind < 0) return t;
    t.kind = (AirTypeKind)kind;
    if (t.kind == TY_F32 && accept(p, "[")) {
        t.kind = TY_VEC;
        t.rows = (int32_t)integer(p);
        if (accept(p, ",")) {
            t.kind = TY_MAT;
            t.cols = (int32_t)integer(p);
        }
        expect(p, "]");
    }
    return t;
}

static int64_t node_ref(P *p)
{
    if (p->tok.kind != TK_NODE || p->tok.node < 0) {
        err(p, "expected a node reference like %%3, found '%.*s'", (int)p->tok.len, p->tok.s);
        return -1;
    }
    int64_t v = p->tok.node;
    next(p);
    return v;
}

static void parse_node(P *p)
{
    AirKernel *k = p->k;
    Loc start = p->tok.loc;
    int64_t id = node_ref(p);
    if (!p->failed && id != k->nnodes) {
        p->failed = true;
        diag_error(p->d, start, "node %%%lld out of order: expected %%%d", (long long)id, k->nnodes);
        diag_hint(p->d, "nodes are numbered 0, 1, 2, ... in the order they appear");
        return;
    }
    expect(p, "=");
    const char *ops[OP_COUNT];
    for (int o = 0; o < OP_COUNT; o++) ops[o] = air_ops[o].name;
    AirNode n = {.ref = -1};
    int op = lookup_word(p, ops, OP_COUNT, "AIR op");
    if (op < 0) return;
    n.op = (AirOp)op;
    switch (n.op) {
    case OP_CONST:
        if (accept(p, "true")) n.num = 1;
        else if (accept(p, "false")) n.num = 0;
        else n.num = number(p);
        break;
    case OP_IDX: n.ref = lookup_word(p, air_index_names, IX_COUNT, "index variable"); break;
    case OP_DIM: n.ref = lookup_decl(p, 0, "symbol"); break;
    case OP_PARAM: n.ref = lookup_decl(p, 2, "param"); break;
    case OP_RVAR: n.ref = (int32_t)node_ref(p); break;
    case OP_LOAD: case OP_ROW: case OP_BLOCKMEAN:
        if (p->tok.kind == TK_WORD) n.ref = lookup_decl(p, 1, "tensor");
        break;
    default: break;
    }
    while (p->tok.kind == TK_NODE && !p->failed) {
        if (n.nargs == AIR_MAX_ARGS) {
            err(p, "too many operands (at most %d)", AIR_MAX_ARGS);
            return;
        }
        n.args[n.nargs++] = (int32_t)node_ref(p);
        if (!accept(p, ",")) break;
    }
    if (n.op == OP_SUM) {
        expect(p, "to");
        n.num = number(p);
    }
    expect(p, ":");
    n.ty = type(p);
    if (n.op == OP_CONST && n.ty.kind == TY_F32) n.num = (float)n.num;  /* f32 constants are f32 */
    n.loc = (Loc){start.begin, p->tok.loc.begin};
    if (!p->failed && air_add(p->a, k, n) < 0) err(p, "out of memory");
}

static void parse_tensor(P *p)
{
    AirKernel *k = p->k;
    AirTensor t = {0};
    t.name = word(p, "tensor name");
    if (accept(p, "out")) t.is_output = true;
    else expect(p, "in");
    int role = lookup_word(p, air_role_names, ROLE_COUNT, "tensor role");
    t.role = role < 0 ? ROLE_SIDE : (AirRole)role;
    const char *dts[DT_COUNT];
    for (int x = 0; x < DT_COUNT; x++) dts[x] = air_dtype_name((AirDtype)x);
    int dt = lookup_word(p, dts, DT_COUNT, "dtype");
    t.dtype = dt < 0 ? DT_F32 : (AirDtype)dt;
    expect(p, "[");
    while (!p->failed && !is(p, "]")) {
        if (t.rank == AIR_MAX_RANK) {
            err(p, "tensor rank above %d", AIR_MAX_RANK);
            return;
        }
        AirDim dim = {-1, 0};
        if (p->tok.kind == TK_NUM) dim.size = integer(p);
        else dim.sym = lookup_decl(p, 0, "symbol");
        t.dims[t.rank++] = dim;
        if (!accept(p, ",")) break;
    }
    expect(p, "]");
    if (p->failed) return;
    int32_t id = k->ntensors;
    ARR_PUSH(p->a, k->tensors, k->ntensors, p->captensors, t);
    int32_t *slot = t.role == ROLE_Q ? &k->tq : t.role == ROLE_K ? &k->tk : t.role == ROLE_V ? &k->tv
                  : t.role == ROLE_O ? &k->to : t.role == ROLE_LSE ? &k->tlse
                  : t.role == ROLE_STATE_IN ? &k->tsin : t.role == ROLE_STATE_OUT ? &k->tsout
                  : t.role == ROLE_SEL_OUT ? &k->tselout : t.role == ROLE_SEL_IN ? &k->tselin : NULL;
    if (slot && *slot < 0) *slot = id;
}

static void parse_select(P *p)
{
    AirKernel *k = p->k;
    if (accept(p, "blocks")) {
        k->sel.kind = SEL_BLOCKS;
        k->sel.block = (int32_t)integer(p);
    } else {
        expect(p, "tokens");
        k->sel.kind = SEL_TOKENS;
    }
    expect(p, "top");
    k->sel.topk = (int32_t)integer(p);
    if (accept(p, "from")) {
        k->sel.given = true;
        p->sel_from_loc = p->tok.loc;
        p->sel_from = word(p, "the tensor of given indices");
    }
    k->sel.keep_own = accept(p, "own");
    k->sel.shared = accept(p, "shared");
}

/* kernel NAME (softmax | recurrent) decl* end */
AirKernel *air_parse(Arena *a, Diags *d)
{
    if (!d->src || !d->src->text) {
        diag_error_noloc(d, "no AIR text to parse");
        return NULL;
    }
    P p = {.a = a, .d = d, .src = d->src->text, .len = d->src->len};
    next(&p);
    expect(&p, "kernel");
    const char *name = word(&p, "kernel name");
    AirKernel *k = air_new(a, name);
    if (!k) return NULL;
    p.k = k;
    if (accept(&p, "recurrent")) k->kind = KIND_RECURRENT;
    else expect(&p, "softmax");
    while (!p.failed && !is(&p, "end")) {
        if (p.tok.kind == TK_NODE) {
            parse_node(&p);
        } else if (accept(&p, "heads")) {
            k->dk = (int32_t)integer(&p);
            k->dv = (int32_t)integer(&p);
        } else if (accept(&p, "state")) {
            k->state_rows = (int32_t)integer(&p);
            k->state_cols = (int32_t)integer(&p);
        } else if (accept(&p, "select")) {
            parse_select(&p);
        } else if (accept(&p, "sym")) {
            AirSym s = {word(&p, "symbol name"), SYM_OTHER};
            int role = lookup_word(&p, air_sym_role_names, SYM_OTHER + 1, "symbol role");
            if (role >= 0) s.role = (AirSymRole)role;
            if (!p.failed) ARR_PUSH(a, k->syms, k->nsyms, p.capsyms, s);
        } else if (accept(&p, "tensor")) {
            parse_tensor(&p);
        } else if (accept(&p, "param")) {
            static const char *const pt[] = {"i32", "f32", "bool"};
            AirParam prm = {0};
            prm.name = word(&p, "param name");
            int ty = lookup_word(&p, pt, 3, "param type");
            prm.type = ty < 0 ? PARAM_I32 : (AirParamType)ty;
            if (accept(&p, "=")) {
                prm.has_default = true;
                prm.def = number(&p);
            }
            if (!p.failed) ARR_PUSH(a, k->params, k->nparams, p.capparams, prm);
        } else if (accept(&p, "hook")) {
            int h = lookup_word(&p, air_hook_names, HOOK_COUNT, "hook");
            int64_t r = node_ref(&p);
            if (h >= 0) k->hook[h] = (int32_t)r;
        } else if (p.tok.kind == TK_EOF) {
            err(&p, "AIR text ends before 'end'");
        } else {
            err(&p, "expected a declaration, a node or 'end', found '%.*s'", (int)p.tok.len, p.tok.s);
        }
    }
    if (!p.failed && p.sel_from && (k->tselin < 0 || strcmp(k->tensors[k->tselin].name, p.sel_from))) {
        diag_error(d, p.sel_from_loc, "the selector reads '%s', which is not a tensor with role sel_in", p.sel_from);
        p.failed = true;
    }
    expect(&p, "end");
    if (!p.failed && p.tok.kind != TK_EOF) err(&p, "text after 'end'");
    if (a->oom && !p.failed) err(&p, "out of memory");
    return p.failed ? NULL : k;
}
