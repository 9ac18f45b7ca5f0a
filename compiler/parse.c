/* parse.c: runs the scanner and parser (grammar/attn.l, attn.y) over one source. Owns the
 * glue they share: the scanner's allocator (the arena, so an error anywhere leaks nothing),
 * the token-end tracking used to place "expected ';'" diagnostics, and the token names of
 * syntax errors. */
#include "frontend.h"

#include "attn_parser.h"
#define YYSTYPE ATTN_YYSTYPE
#define YYLTYPE ATTN_YYLTYPE
#include "attn_lexer.h"

#include <setjmp.h>
#include <string.h>

int lex_token(ATTN_YYSTYPE *lval, Loc *lloc, yyscan_t scanner);

/* The parser's yylex: one token, remembering where the previous one ended. */
int attn_yylex(ATTN_YYSTYPE *lval, Loc *lloc, void *scanner)
{
    ParseCtx *ctx = attn_yyget_extra(scanner);
    int tok = lex_token(lval, lloc, scanner);
    if (tok == 0) *lloc = (Loc){ctx->offset, ctx->offset};
    ctx->prev_end = ctx->last_end;
    ctx->last_end = lloc->end;
    return tok;
}

/* Flex's allocator takes no arena and reallocates without the old size, so each block carries
 * its size in a 16-byte header. lex_free is a no-op: the arena frees everything at once. */
typedef struct LexBlock {
    size_t size;
    size_t pad;
} LexBlock;

static Arena *lex_arena(void *scanner)
{
    /* During attn_yylex_init_extra the scanner does not exist yet; the extra is passed as the
     * "scanner" argument there (see parse_source). */
    return scanner ? ((ParseCtx *)attn_yyget_extra(scanner))->arena : NULL;
}

void *lex_alloc(size_t size, void *scanner)
{
    Arena *a = lex_arena(scanner);
    if (!a) return NULL;
    LexBlock *b = arena_alloc(a, sizeof *b + size);
    if (!b) return NULL;
    b->size = size;
    return b + 1;
}

void *lex_realloc(void *p, size_t size, void *scanner)
{
    if (!p) return lex_alloc(size, scanner);
    LexBlock *old = (LexBlock *)p - 1;
    if (size <= old->size) return p;
    char *np = lex_alloc(size, scanner);
    if (np) memcpy(np, p, old->size);
    return np;
}

void lex_free(void *p, void *scanner)
{
    (void)p;
    (void)scanner;
}

_Noreturn void lex_fatal(const char *msg, void *scanner)
{
    (void)msg;
    longjmp(((ParseCtx *)attn_yyget_extra(scanner))->fatal, 1);
}

/* Flex's own hooks, named by the prefix. */
void *attn_yyalloc(yy_size_t size, yyscan_t scanner) { return lex_alloc(size, scanner); }
void *attn_yyrealloc(void *p, yy_size_t size, yyscan_t scanner)
{
    return lex_realloc(p, size, scanner);
}
void attn_yyfree(void *p, yyscan_t scanner) { lex_free(p, scanner); }

const char *parse_token_name(Arena *a, const char *name)
{
    if (!strcmp(name, "end of file") || !strcmp(name, "identifier") || !strcmp(name, "integer") ||
        !strcmp(name, "number") || !strcmp(name, "error") || !strcmp(name, "invalid token"))
        return name;
    /* Bison writes aliases as "\"**\"" and characters as "'='"; users read '**' and '='. */
    size_t n = strlen(name);
    if (n >= 2 && (name[0] == '"' || name[0] == '\''))
        return arena_printf(a, "'%.*s'", (int)(n - 2), name + 1);
    return arena_printf(a, "'%s'", name);
}

bool parse_on_later_line(const ParseCtx *ctx, uint32_t off)
{
    for (uint32_t k = ctx->prev_end; k < off && k < ctx->src->len; k++)
        if (ctx->src->text[k] == '\n') return true;
    return false;
}

/* The node at which `e` first exceeds ATTN_MAX_EXPR_DEPTH, found by walking down the deepest
 * operand (a loop: the tree may be far deeper than the stack allows to recurse). */
static const Expr *too_deep(const Expr *e)
{
    while (e && e->depth > ATTN_MAX_EXPR_DEPTH + 1) {
        const Expr *next = NULL;
        const Expr *ops[3] = {e->a, e->b, e->c};
        for (int k = 0; k < 3; k++)
            if (ops[k] && (!next || ops[k]->depth > next->depth)) next = ops[k];
        for (int32_t k = 0; k < e->args.count; k++)
            if (e->args.items[k] && (!next || e->args.items[k]->depth > next->depth))
                next = e->args.items[k];
        e = next;
    }
    return e;
}

/* Reports an expression deeper than ATTN_MAX_EXPR_DEPTH at the operator that makes it so. */
static bool depth_ok(Diags *d, const Expr *e)
{
    if (!e || e->depth <= ATTN_MAX_EXPR_DEPTH) return true;
    e = too_deep(e);
    Loc at = e->loc;
    if (e->kind == EX_BINARY && e->a && e->b && e->a->depth >= e->b->depth)
        at = (Loc){e->a->loc.end, e->b->loc.end};   /* the operator and the term it adds */
    diag_error(d, at, "expression nested too deeply (more than %d levels)", ATTN_MAX_EXPR_DEPTH);
    diag_hint(d, "write a long sum or product as a balanced tree, ((a + b) + (c + d)), or as "
                 "sum(r < n: ...) over a side tensor");
    return false;
}

static bool list_depth_ok(Diags *d, const ExprList *l)
{
    for (int32_t k = 0; k < l->count; k++)
        if (!depth_ok(d, l->items[k])) return false;
    return true;
}

/* Every expression of the file within ATTN_MAX_EXPR_DEPTH, so that the stages after the parser,
 * which recurse over expressions, stay within the stack. One report per declaration. */
static void check_depths(Diags *d, const AstFile *f)
{
    for (const Attention *at = f->first; at; at = at->next)
        for (const Decl *x = at->decls; x; x = x->next)
            (void)(depth_ok(d, x->expr) && depth_ok(d, x->sel_block) &&
                   depth_ok(d, x->sel_top) && list_depth_ok(d, &x->shape));
}

AstFile *parse_source(Arena *a, Diags *d, const Source *src)
{
    if (src->len > (1u << 30)) {
        diag_error_noloc(d, "spec too large (%zu bytes)", src->len);
        return NULL;
    }
    ParseCtx ctx = {.arena = a, .diags = d, .src = src};
    ctx.file = arena_alloc(a, sizeof *ctx.file);
    if (!ctx.file) return NULL;
    /* yylex_init_extra allocates the scanner through attn_yyalloc with a scanner argument
     * that already holds the extra, so lex_arena finds the arena. */
    yyscan_t scanner;
    if (attn_yylex_init_extra(&ctx, &scanner)) {
        diag_error_noloc(d, "out of memory");
        return NULL;
    }
    if (setjmp(ctx.fatal)) {
        /* nothing to destroy: the scanner's memory is the arena's */
        diag_error_noloc(d, "out of memory while scanning");
        return NULL;
    }
    /* a full parser stack is reported by the grammar's yyerror, as the nesting limit */
    YY_BUFFER_STATE buf = attn_yy_scan_bytes(src->text, (int)src->len, scanner);
    if (buf) attn_yyparse(scanner, &ctx);
    else diag_error_noloc(d, "out of memory while parsing");
    attn_yylex_destroy(scanner);
    if (a->oom) return NULL;
    check_depths(d, ctx.file);
    return ctx.file;
}
