/* attn.y: the grammar of .attn specs (docs/language.md section 2). A pure parser: the scanner
 * and the ParseCtx are parameters and the tree comes back in ctx->file. Actions only build
 * nodes (ast.c); every check belongs to sema. Errors recover at ';' and '}', so one run reports
 * several of them. Semantic values all live in the arena, so no %destructor is needed: an
 * aborted parse leaks nothing that arena_free does not reclaim. */

%code requires {
#include "frontend.h"
}

%code provides {
int attn_yylex(ATTN_YYSTYPE *lval, Loc *lloc, void *scanner);
}

%code {
#include <string.h>

/* A node's range runs from its first symbol's begin to its last's end; an empty rule sits at
 * the end of what precedes it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                                           \
    do {                                                                                      \
        if (N) {                                                                              \
            (Cur).begin = YYRHSLOC(Rhs, 1).begin;                                             \
            (Cur).end = YYRHSLOC(Rhs, N).end;                                                 \
        } else {                                                                              \
            (Cur).begin = (Cur).end = YYRHSLOC(Rhs, 0).end;                                   \
        }                                                                                     \
    } while (0)

/* Each nesting level holds at most 4 entries of the parser's stack (`c ? x : ` and `f(a, `
 * are the widest), so PARSE_MAX_NESTING levels and a declaration around them always fit. */
#define YYMAXDEPTH (4 * PARSE_MAX_NESTING + 64)

#define A (ctx->arena)
static void attn_yyerror(Loc *loc, void *scanner, ParseCtx *ctx, const char *msg);
}

%define api.pure full
%define api.prefix {attn_yy}
%define api.location.type {Loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {void *scanner}
%parse-param {ParseCtx *ctx}

%union {
    const char *str;
    double num;
    Expr *expr;
    ExprList list;
    NameList names;
    Decl *decl;
    Attention *at;
    int flags;
}

%token END 0 "end of file"
%token <str> NAME "identifier"
%token <num> INT "integer"
%token <num> FLOAT "number"
%token ATTENTION "attention" IN "in" OUT "out" PARAM "param" CONST "const" LET "let" FN "fn"
%token STATE "state" SELECT "select" BLOCKS "blocks" TOKENS "tokens" TOP "top" BY "by"
%token FROM "from"
%token KEEP "keep" OWN "own" SHARED "shared" TRUE "true" FALSE "false"
%token POW "**" LE "<=" GE ">=" EQ "==" NE "!=" ANDAND "&&" OROR "||"

%type <expr> expr primary
%type <list> exprs args
%type <names> names
%type <decl> decl decls
%type <at> attention
%type <flags> selflags

%right '?' ':'
%left OROR
%left ANDAND
%left EQ NE
%left '<' LE '>' GE
%left '+' '-'
%left '*' '/' '%' '@'
%precedence UNARY '!'
%right POW

%%

/* file := attention+ */
file
    : attention                               { ast_add_attention(ctx->file, $1); }
    | file attention                          { ast_add_attention(ctx->file, $2); }
    ;

/* attention := 'attention' NAME '{' decl* '}' */
attention
    : ATTENTION NAME '{' decls '}'            { $$ = ast_attention(A, $2, @2, $4, @$); }
    | ATTENTION NAME '{' decls error '}'      { $$ = ast_attention(A, $2, @2, $4, @$); }
    | ATTENTION error '}'                     { $$ = NULL; }
    ;

decls
    : %empty                                  { $$ = NULL; }
    | decls decl                              { $$ = ast_append($1, $2); }
    ;

decl
    : IN NAME ':' NAME '[' exprs ']' ';'      { $$ = ast_tensor(A, DECL_IN, $2, @2, $4, @4, $6, @$); }
    | OUT NAME ':' NAME '[' exprs ']' ';'     { $$ = ast_tensor(A, DECL_OUT, $2, @2, $4, @4, $6, @$); }
    | STATE NAME ':' NAME '[' exprs ']' ';'   { $$ = ast_tensor(A, DECL_STATE, $2, @2, $4, @4, $6, @$); }
    | STATE NAME ':' NAME '[' exprs ']' '=' expr ';'
                                              { $$ = ast_tensor(A, DECL_STATE, $2, @2, $4, @4, $6, @$);
                                                if ($$) $$->expr = $9; }
    | PARAM NAME ':' NAME ';'                 { $$ = ast_param(A, $2, @2, $4, @4, NULL, @$); }
    | PARAM NAME ':' NAME '=' expr ';'        { $$ = ast_param(A, $2, @2, $4, @4, $6, @$); }
    | CONST NAME '=' expr ';'                 { $$ = ast_valued(A, DECL_CONST, $2, @2, $4, @$); }
    | LET NAME '=' expr ';'                   { $$ = ast_valued(A, DECL_LET, $2, @2, $4, @$); }
    | FN NAME '(' ')' '=' expr ';'            { $$ = ast_fn(A, $2, @2, (NameList){0}, $6, @$); }
    | FN NAME '(' names ')' '=' expr ';'      { $$ = ast_fn(A, $2, @2, $4, $7, @$); }
    | SELECT BLOCKS '(' expr ')' TOP expr BY expr selflags ';'
                                              { $$ = ast_select_blocks(A, $4, $7, $9, $10, @$); }
    | SELECT TOKENS TOP expr BY expr ';'      { $$ = ast_select_tokens(A, $4, $6, @$); }
    | SELECT BLOCKS '(' expr ')' TOP expr FROM NAME selflags ';'
                                              { $$ = ast_select_from(ast_select_blocks(A, $4, $7, NULL, 0, @$),
                                                                     $9, @9, $10); }
    | SELECT TOKENS TOP expr FROM NAME selflags ';'
                                              { $$ = ast_select_from(ast_select_tokens(A, $4, NULL, @$), $6, @6, $7); }
    | NAME '=' SELECT ';'                     { $$ = ast_sel_out(A, $1, @1, @$); }
    | NAME '=' expr ';'                       { $$ = ast_assign(A, $1, @1, NULL, $3, @$); }
    | NAME '[' exprs ']' '=' expr ';'         { $$ = ast_assign(A, $1, @1, &$3, $6, @$); }
    | error ';'                               { $$ = NULL; }
    ;

/* ('keep' 'own')? ('shared')?  as bit 1 and bit 2 */
selflags
    : %empty                                  { $$ = 0; }
    | KEEP OWN                                { $$ = 1; }
    | SHARED                                  { $$ = 2; }
    | KEEP OWN SHARED                         { $$ = 3; }
    ;

names
    : NAME                                    { $$ = ast_names(A, (NameList){0}, $1, @1); }
    | names ',' NAME                          { $$ = ast_names(A, $1, $3, @3); }
    ;

exprs
    : expr                                    { $$ = ast_list(A, (ExprList){0}, $1); }
    | exprs ',' expr                          { $$ = ast_list(A, $1, $3); }
    ;

args
    : %empty                                  { $$ = (ExprList){0}; }
    | exprs                                   { $$ = $1; }
    ;

/* expr := C-like, precedence as declared above (docs/language.md section 2) */
expr
    : expr '?' expr ':' expr                  { $$ = ast_cond(A, $1, $3, $5, @$); }
    | expr OROR expr                          { $$ = ast_binary(A, OPR_OR, $1, $3, @$); }
    | expr ANDAND expr                        { $$ = ast_binary(A, OPR_AND, $1, $3, @$); }
    | expr EQ expr                            { $$ = ast_binary(A, OPR_EQ, $1, $3, @$); }
    | expr NE expr                            { $$ = ast_binary(A, OPR_NE, $1, $3, @$); }
    | expr '<' expr                           { $$ = ast_binary(A, OPR_LT, $1, $3, @$); }
    | expr LE expr                            { $$ = ast_binary(A, OPR_LE, $1, $3, @$); }
    | expr '>' expr                           { $$ = ast_binary(A, OPR_GT, $1, $3, @$); }
    | expr GE expr                            { $$ = ast_binary(A, OPR_GE, $1, $3, @$); }
    | expr '+' expr                           { $$ = ast_binary(A, OPR_ADD, $1, $3, @$); }
    | expr '-' expr                           { $$ = ast_binary(A, OPR_SUB, $1, $3, @$); }
    | expr '*' expr                           { $$ = ast_binary(A, OPR_MUL, $1, $3, @$); }
    | expr '/' expr                           { $$ = ast_binary(A, OPR_DIV, $1, $3, @$); }
    | expr '%' expr                           { $$ = ast_binary(A, OPR_MOD, $1, $3, @$); }
    | expr '@' expr                           { $$ = ast_binary(A, OPR_MATMUL, $1, $3, @$); }
    | expr POW expr                           { $$ = ast_binary(A, OPR_POW, $1, $3, @$); }
    | '-' expr %prec UNARY                    { $$ = ast_unary(A, OPR_NEG, $2, @$); }
    | '!' expr                                { $$ = ast_unary(A, OPR_NOT, $2, @$); }
    | primary                                 { $$ = $1; }
    ;

primary
    : INT                                     { $$ = ast_num(A, EX_INT, $1, @$); }
    | FLOAT                                   { $$ = ast_num(A, EX_FLOAT, $1, @$); }
    | TRUE                                    { $$ = ast_num(A, EX_BOOL, 1, @$); }
    | FALSE                                   { $$ = ast_num(A, EX_BOOL, 0, @$); }
    | NAME                                    { $$ = ast_name(A, $1, @$); }
    | '(' expr ')'                            { $$ = $2; }
    | NAME '(' args ')'                       { $$ = ast_call(A, $1, @1, $3, @$); }
    | SELECT '(' args ')'                     { $$ = ast_call(A, "select", @1, $3, @$); }
    | NAME '[' exprs ']'                      { $$ = ast_index(A, $1, @1, $3, @$); }
    /* sum(r < n: e): the reduction; sema checks the function is `sum` and the bound's form */
    | NAME '(' expr ':' expr ')'              { $$ = ast_sum(A, $1, @1, $3, $5, @$); }
    ;

%%

/* With parse.error custom, syntax errors go to yyreport_syntax_error; Bison calls yyerror with
 * "memory exhausted" when its stack reaches YYMAXDEPTH (or, far less likely, when growing the
 * stack to at most a few hundred KB fails), so that is worded as the nesting limit. */
static void attn_yyerror(Loc *loc, void *scanner, ParseCtx *ctx, const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted")) {
        diag_error(ctx->diags, *loc, "%s", msg);
        return;
    }
    diag_error(ctx->diags, *loc, "nesting too deep (at most %d levels)", PARSE_MAX_NESTING);
    diag_hint(ctx->diags, "each open parenthesis, bracket or call, unary operator and operator "
                          "waiting for its right operand is a level; name inner parts with 'let'");
}

/* Syntax errors read like clang's. What is missing is named when the parser knows: a ';' (placed
 * at the end of the previous token when the offending one starts a new line), a closing ')' or
 * ']', an expression, or a short list of tokens; otherwise the unexpected token is. */
static int yyreport_syntax_error(const yypcontext_t *pc, void *scanner, ParseCtx *ctx)
{
    (void)scanner;
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(pc, exp, YYNTOKENS);
    yysymbol_kind_t got = yypcontext_token(pc);
    Loc loc = *yypcontext_location(pc);
    const char *got_name = parse_token_name(ctx->arena, yysymbol_name(got));
    bool semi = false, paren = false, bracket = false, brace = false, expr = false, name = false;
    bool at_eof = got == YYSYMBOL_YYEOF;
    for (int k = 0; k < n; k++) {
        const char *sym = yysymbol_name(exp[k]);
        semi |= !strcmp(sym, "';'");
        paren |= !strcmp(sym, "')'");
        bracket |= !strcmp(sym, "']'");
        brace |= at_eof && !strcmp(sym, "'}'");
        name |= exp[k] == YYSYMBOL_NAME;
        expr |= exp[k] == YYSYMBOL_INT;
    }
    const char *what = semi ? "';'" : paren ? "')'" : bracket ? "']'" : brace ? "'}'" :
                       expr ? "an expression" : NULL;
    if (!what && n > 0 && n <= 4) {
        char *list = "";
        for (int k = 0; k < n; k++)
            list = arena_printf(ctx->arena, "%s%s%s", list, k == 0 ? "" : k == n - 1 ? " or " : ", ",
                                parse_token_name(ctx->arena, yysymbol_name(exp[k])));
        what = list;
    }
    if (!what) {
        diag_error(ctx->diags, loc, "unexpected %s", got_name);
    } else if (what[0] == '\'' && !at_eof && parse_on_later_line(ctx, loc.begin)) {
        diag_error(ctx->diags, (Loc){ctx->prev_end, ctx->prev_end}, "expected %s", what);
    } else {
        diag_error(ctx->diags, loc, "expected %s before %s", what, got_name);
    }
    if (name && got >= YYSYMBOL_ATTENTION && got <= YYSYMBOL_FALSE)
        diag_hint(ctx->diags, "%s is a keyword and cannot be used as a name", got_name);
    return 0;
}
