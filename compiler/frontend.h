/* frontend.h: the front end's one internal header: the AST built by the parser (grammar/ and
 * parse.c), the annotations sema adds to it, and the entry points of parse, sema and
 * lower_air. Everything lives in the compilation's arena. */
#ifndef ATTNC_FRONTEND_H
#define ATTNC_FRONTEND_H

#include "air.h"
#include "base.h"

#include <setjmp.h>

/* The deepest expression a spec may hold, counted in nodes from the root to a leaf with every
 * let and fn use expanded (docs/language.md, "Limits"). Every stage after the parser recurses
 * over expressions; this bound is what keeps them within a thread's stack. */
enum { ATTN_MAX_EXPR_DEPTH = 1000 };

/* ---- ast.c: the tree ------------------------------------------------------------------------ */

typedef enum {
    EX_INT, EX_FLOAT, EX_BOOL, EX_NAME, EX_UNARY, EX_BINARY, EX_COND, EX_CALL, EX_INDEX, EX_SUM
} ExprKind;

/* Operators of EX_UNARY / EX_BINARY. */
typedef enum {
    OPR_NEG, OPR_NOT, OPR_ADD, OPR_SUB, OPR_MUL, OPR_DIV, OPR_MOD, OPR_POW, OPR_MATMUL,
    OPR_LT, OPR_LE, OPR_GT, OPR_GE, OPR_EQ, OPR_NE, OPR_AND, OPR_OR
} OpKind;

/* The AIR op of a unary or binary operator (OPR_MATMUL has none: OP_COUNT). */
AirOp ast_air_op(OpKind op);

typedef struct Decl Decl;
typedef struct Expr Expr;

/* What a name in an expression refers to; filled in by sema. */
typedef enum {
    REF_NONE, REF_INDEX, REF_DIM, REF_PARAM, REF_CONST, REF_LET, REF_FNPARAM, REF_SCORE,
    REF_QK, REF_INF, REF_BLOCK, REF_RVAR, REF_STATE, REF_TENSOR
} RefKind;

typedef struct ExprList {
    Expr **items;
    int32_t count, cap;
} ExprList;

struct Expr {
    ExprKind kind;
    Loc loc;
    OpKind op;            /* EX_UNARY, EX_BINARY */
    const char *name;     /* EX_NAME, EX_CALL and EX_SUM (function), EX_INDEX (tensor) */
    Loc name_loc;
    double num;           /* EX_INT, EX_FLOAT, EX_BOOL */
    Expr *a, *b, *c;      /* operands; EX_SUM: a = bound, b = body */
    ExprList args;        /* EX_CALL arguments, EX_INDEX indices */
    int32_t depth;        /* nodes on the longest path to a leaf, this one included (1 for a
                             leaf); set by the constructors, bounded by parse_source */
    /* sema */
    AirType ty;
    RefKind ref;
    int32_t ref_id;       /* REF_INDEX: AirIndex; REF_DIM: symbol or -1 (then ref_size);
                             REF_FNPARAM: position; REF_TENSOR: tensor id */
    int64_t ref_size;     /* REF_DIM of a fixed size */
    Decl *decl;           /* REF_PARAM, REF_CONST, REF_LET, REF_STATE; EX_CALL of a user fn;
                             EX_SUM: the sum itself is its own binder (see sema_expr.c) */
    Expr *binder;         /* REF_RVAR: the EX_SUM that binds it */
    int32_t builtin;      /* EX_CALL of a builtin: index in sema's builtin table, else -1 */
};

typedef enum {
    DECL_IN, DECL_OUT, DECL_PARAM, DECL_CONST, DECL_LET, DECL_FN, DECL_STATE, DECL_SELECT,
    DECL_ASSIGN, DECL_SEL_OUT   /* `sel = select;`: the selector's kept indices into `sel` */
} DeclKind;

typedef enum { SELD_BLOCKS, SELD_TOKENS } SelDeclKind;

typedef struct NameItem {
    const char *name;
    Loc loc;
} NameItem;

typedef struct NameList {
    NameItem *items;
    int32_t count, cap;
} NameList;

struct Decl {
    DeclKind kind;
    Loc loc;              /* the whole declaration */
    const char *name;     /* declared name, or the assignment target */
    Loc name_loc;
    const char *type;     /* in, out, param, state: the type name */
    Loc type_loc;
    ExprList shape;       /* in, out, state: the dims; DECL_ASSIGN: the target's indices */
    bool has_shape;
    bool target_indexed;  /* DECL_ASSIGN: `o[t] = e` */
    Expr *expr;           /* the value, default, body, selector score, or a state's initial
                             value (the name of an `in` tensor) */
    NameList params;      /* DECL_FN */
    SelDeclKind sel;      /* DECL_SELECT */
    Expr *sel_block, *sel_top;
    bool keep_own, shared;
    const char *sel_from; /* `select ... from idx;`: the tensor of given indices (expr is NULL) */
    Loc sel_from_loc;
    Decl *next;
    Decl *tail;           /* on a list's head: its last node (ast_append) */
    /* sema */
    bool const_ok;        /* DECL_CONST folded; value below */
    AirType const_ty;
    double const_val;
    int32_t id;           /* DECL_IN/OUT: tensor id; DECL_PARAM: param id */
    bool visiting;        /* cycle detection (fn recursion, const cycles) */
    bool reported;        /* an error inside a fn body is reported once */
    struct BodyMemo *sema_memo;   /* DECL_LET, DECL_FN: the body's type per use context */
    struct BodyMemo *lower_memo;  /* DECL_LET, DECL_FN: the body's node per hook and arguments */
};

/* One checked or lowered use of a let or fn body: a body is checked once per context and
 * argument types, and lowered once per hook and argument nodes, so a spec that uses a let or
 * calls a fn many times costs its size, not the size of its expansion (AIR is a DAG). */
typedef struct BodyMemo {
    struct BodyMemo *next;
    int32_t key;          /* sema: the SemaCx; lowering: the hook */
    int32_t nargs;
    const void *args;     /* sema: AirType[nargs]; lowering: int32_t node ids */
    AirType ty;           /* sema's result */
    int32_t node;         /* lowering's result */
} BodyMemo;

typedef struct Attention {
    const char *name;
    Loc loc, name_loc;
    Decl *decls, *last;
    struct Attention *next;
} Attention;

typedef struct AstFile {
    Attention *first, *last;
} AstFile;

Expr *ast_expr(Arena *a, ExprKind kind, Loc loc);
Expr *ast_num(Arena *a, ExprKind kind, double v, Loc loc);
Expr *ast_name(Arena *a, const char *name, Loc loc);
Expr *ast_unary(Arena *a, OpKind op, Expr *x, Loc loc);
Expr *ast_binary(Arena *a, OpKind op, Expr *l, Expr *r, Loc loc);
Expr *ast_cond(Arena *a, Expr *c, Expr *t, Expr *f, Loc loc);
Expr *ast_call(Arena *a, const char *name, Loc name_loc, ExprList args, Loc loc);
Expr *ast_index(Arena *a, const char *name, Loc name_loc, ExprList idx, Loc loc);
Expr *ast_sum(Arena *a, const char *fname, Loc fname_loc, Expr *bound, Expr *body, Loc loc);
ExprList ast_list(Arena *a, ExprList l, Expr *e);
NameList ast_names(Arena *a, NameList l, const char *name, Loc loc);
Decl *ast_decl(Arena *a, DeclKind kind, const char *name, Loc name_loc, Loc loc);
Decl *ast_tensor(Arena *a, DeclKind kind, const char *name, Loc name_loc, const char *type,
                 Loc type_loc, ExprList shape, Loc loc);
Decl *ast_param(Arena *a, const char *name, Loc name_loc, const char *type, Loc type_loc,
                Expr *def, Loc loc);
Decl *ast_valued(Arena *a, DeclKind kind, const char *name, Loc name_loc, Expr *e, Loc loc);
Decl *ast_fn(Arena *a, const char *name, Loc name_loc, NameList params, Expr *body, Loc loc);
Decl *ast_assign(Arena *a, const char *name, Loc name_loc, ExprList *idx, Expr *e, Loc loc);
Decl *ast_select_blocks(Arena *a, Expr *block, Expr *top, Expr *by, int flags, Loc loc);
Decl *ast_select_tokens(Arena *a, Expr *top, Expr *by, Loc loc);
/* `select ... from name`: the selection is given by the tensor `name`; `flags` as
 * ast_select_blocks takes them (sema refuses them). NULL-safe; returns d. */
Decl *ast_select_from(Decl *d, const char *name, Loc name_loc, int flags);
Decl *ast_sel_out(Arena *a, const char *name, Loc name_loc, Loc loc);
Attention *ast_attention(Arena *a, const char *name, Loc name_loc, Decl *decls, Loc loc);
Decl *ast_append(Decl *list, Decl *d);   /* returns the list head; NULL-safe on both sides */
void ast_add_attention(AstFile *f, Attention *at);
const char *ast_op_text(OpKind op);

/* Renders the tree as an indented text, one node per line with its line:col (--emit=ast). */
char *ast_dump(Arena *a, const Source *src, const AstFile *f);

/* ---- parse.c -------------------------------------------------------------------------------- */

/* The parser's context, shared with the scanner (its "extra") and the grammar actions. */
typedef struct ParseCtx {
    Arena *arena;
    Diags *diags;
    const Source *src;
    uint32_t offset;      /* scanner position, a byte offset into src->text */
    uint32_t prev_end;    /* end of the token before the last, for "expected ';'" placement */
    uint32_t last_end;    /* end of the last token */
    uint32_t comment_start;
    AstFile *file;        /* the result */
    jmp_buf fatal;        /* where the scanner's allocation failures return to */
} ParseCtx;

/* How deep the parser lets source constructs nest: open parentheses, brackets and calls, unary
 * operators, and operators still waiting for their right operand (docs/language.md section 13).
 * Deeper input is refused with "nesting too deep" at the token that goes past it. */
enum { PARSE_MAX_NESTING = 2500 };

/* Parses a whole source. Returns the tree (possibly partial) or NULL when nothing could be
 * parsed; errors go to d. Several syntax errors are reported per file. */
AstFile *parse_source(Arena *a, Diags *d, const Source *src);

/* For the grammar's syntax errors: a token's name as users read it ('=' or identifier), and
 * whether `off` starts on a later line than the previous token ends. */
const char *parse_token_name(Arena *a, const char *bison_name);
bool parse_on_later_line(const ParseCtx *ctx, uint32_t off);

/* Scanner memory, routed into the arena (grammar/attn.l uses these). */
void *lex_alloc(size_t size, void *scanner);
void *lex_realloc(void *p, size_t size, void *scanner);
void lex_free(void *p, void *scanner);
/* Flex's fatal errors (only allocation failures here) jump back to parse_source instead of
 * exiting; the arena owns whatever the scanner had allocated. */
_Noreturn void lex_fatal(const char *msg, void *scanner);

/* ---- sema*.c -------------------------------------------------------------------------------- */

/* sema.c calls sema_expr.c and sema_shapes.c, sema_expr.c calls sema_shapes.c, and all three
 * call sema_util.c: no file calls back into one above it. */

/* Scalar values of const folding. */
typedef struct Value {
    AirTypeKind ty;       /* TY_BOOL, TY_I32 or TY_F32 */
    double v;
} Value;

typedef struct Define Define;

/* Where an expression is checked: decides which names exist (index variables, score, block,
 * the state) and whether vectors are allowed. */
typedef enum {
    CX_LET, CX_SCALE, CX_SCORE, CX_MASK, CX_SINK, CX_SEL_BLOCKS, CX_SEL_TOKENS, CX_STATE, CX_OUT
} SemaCx;

/* The arguments of the fn call being checked (fns are typed at each call, like inlining). */
typedef struct SemaFrame {
    Decl *fn;
    AirType *args;
    struct SemaFrame *up;
} SemaFrame;

enum { SEMA_MAX_SUMS = 16 };

typedef struct Sema {
    Arena *a;
    Diags *d;
    Attention *at;
    AirKernel *k;
    const Define *defines;
    int32_t ndefines;
    SemaCx cx;
    SemaFrame *frame;
    Expr *sums[SEMA_MAX_SUMS];  /* sum(...) binders in scope, innermost last */
    int nsums, sum_base;
    int quiet;                  /* > 0: inside a body whose errors were already reported */
    int depth;                  /* expressions being checked, lets and fns expanded */
    bool too_deep;              /* the expansion's depth was reported */
    Decl **names;               /* open-addressing table of the first declaration of each
                                   name (sema_lookup); NULL: search the list */
    uint32_t nnames;            /* slots, a power of two */
    Decl *tq, *tk, *tv, *to, *tlse;
    Decl *state;
    Decl *tsin, *tsout;         /* a recurrence's initial-state input and final-state output */
    Decl *tselout;              /* the `out` tensor that `name = select;` writes */
    Decl *tselin;               /* the `in` tensor that `select ... from name;` reads */
    bool recurrent;
    int32_t cap_syms;
    bool syms_full;             /* a size name past ABI_MAX_SYMS was reported */
} Sema;

/* sema_util.c: what the other sema files share (it calls none of them): diagnostics that
 * respect `quiet`, the declaration table, type names */
void sema_error(Sema *s, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sema_hint(Sema *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sema_note(Sema *s, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A declaration that declares a name (not a selector or an assignment). */
bool sema_is_named(const Decl *d);
/* Builds the table sema_lookup reads (s->names), in time linear in the declarations; the
 * first declaration of a name wins. Without memory sema_lookup searches the list. */
void sema_index_names(Sema *s);
Decl *sema_lookup(const Sema *s, const char *name);
/* "did you mean" over declared names, dims, index variables and `extra` (NULL-terminated). */
void sema_suggest(Sema *s, const char *name, const char *const *extra);
/* A type as messages write it: "bool", "f32[64]", "f32[64, 64]". */
const char *sema_type_text(Arena *a, AirType t);

/* sema_shapes.c: tensors, dims and compile-time values */
bool sema_tensors(Sema *s);
bool sema_params(Sema *s);
bool sema_state_shape(Sema *s);
/* Folds a compile-time expression; reports and returns false when it is not one. */
bool sema_fold(Sema *s, Expr *e, Value *out);
/* The value of a const (folding it on first use, applying -D). */
bool sema_const_value(Sema *s, Decl *c, Value *out);
/* A dim name as a value: shape symbols and the fixed names Lq, Lk, Hq, Hkv, B, Dk, Dv.
 * Sets *sym (>= 0) for a runtime size or *size for a fixed one. */
bool sema_dim_name(Sema *s, const char *name, int32_t *sym, int64_t *size);
const char *sema_dtype_text(AirDtype t);

/* sema_builtins.c: the builtin functions and how each is typed */
typedef enum {
    BK_UNF, BK_ARITH1, BK_MINMAX, BK_POW, BK_CLAMP, BK_SELECT, BK_FLOAT, BK_INT, BK_DOT,
    BK_OUTER, BK_DIAG, BK_SQNORM, BK_MEAN
} BuiltinKind;

typedef struct SemaBuiltin {
    const char *name;
    int arity;
    BuiltinKind kind;
    AirOp op;
} SemaBuiltin;

extern const SemaBuiltin sema_builtins[];
extern const int sema_nbuiltins;

/* sema_expr.c: types and names of expressions */
/* Types `e` in context `cx`, resolving its names. Returns TY_VOID after an error. */
AirType sema_expr(Sema *s, Expr *e, SemaCx cx);
AirType sema_expr_in(Sema *s, Expr *e);   /* in the current context */
/* `e` is diag(v), directly or through lets (then '@' by a matrix is a row or column scaling). */
bool sema_is_diag(const Expr *e);

/* sema.c: the checks of one attention */

/* The checked operator, read by lower_air. */
typedef struct SemaResult {
    Attention *at;
    AirKernel *kernel;    /* tensors, syms, params, dk/dv, roles, selector, state shape; no
                             nodes yet */
    Decl *hook[HOOK_COUNT];  /* the assignment of each hook, or NULL */
    Decl *state;          /* DECL_STATE or NULL */
    Decl *state_out;      /* `s1 = S;`: the final state's assignment, or NULL */
    Decl *select;         /* DECL_SELECT or NULL */
    Decl *sel_out;        /* `sel = select;`: the selected indices' assignment, or NULL */
} SemaResult;

/* Checks one attention (the named one, or the first when `kernel` is NULL) and fills `out`.
 * Returns false when an error was reported. */
bool sema_check(Arena *a, Diags *d, AstFile *f, const char *kernel, const Define *defines,
                int32_t ndefines, SemaResult *out);

/* ---- lower_air.c ---------------------------------------------------------------------------- */

/* Builds the hooks' node programs of a checked operator into res->kernel. */
bool lower_air(Arena *a, Diags *d, SemaResult *res);

#endif
