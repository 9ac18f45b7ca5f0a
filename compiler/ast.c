/* ast.c: the syntax tree's constructors (called by the grammar's actions, one per rule) and its
 * text dump for `attnc --emit=ast`. The dump is indented, one node per line with the node's
 * line:col, stable so that golden files can hold it. */
#include "frontend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

Expr *ast_expr(Arena *a, ExprKind kind, Loc loc)
{
    Expr *e = arena_alloc(a, sizeof *e);
    if (!e) return NULL;
    e->kind = kind;
    e->loc = loc;
    e->builtin = -1;
    e->ref_id = -1;
    e->depth = 1;
    return e;
}

/* One more than the deepest operand: computed as the tree is built, so that measuring it never
 * recurses. Saturates instead of overflowing. */
static Expr *with_depth(Expr *e)
{
    if (!e) return NULL;
    int32_t m = 0;
    const Expr *ops[3] = {e->a, e->b, e->c};
    for (int k = 0; k < 3; k++)
        if (ops[k] && ops[k]->depth > m) m = ops[k]->depth;
    for (int32_t k = 0; k < e->args.count; k++)
        if (e->args.items[k] && e->args.items[k]->depth > m) m = e->args.items[k]->depth;
    e->depth = m < INT32_MAX ? m + 1 : m;
    return e;
}

Expr *ast_num(Arena *a, ExprKind kind, double v, Loc loc)
{
    Expr *e = ast_expr(a, kind, loc);
    if (e) e->num = v;
    return e;
}

Expr *ast_name(Arena *a, const char *name, Loc loc)
{
    Expr *e = ast_expr(a, EX_NAME, loc);
    if (e) {
        e->name = name;
        e->name_loc = loc;
    }
    return e;
}

Expr *ast_unary(Arena *a, OpKind op, Expr *x, Loc loc)
{
    Expr *e = ast_expr(a, EX_UNARY, loc);
    if (e) {
        e->op = op;
        e->a = x;
    }
    return with_depth(e);
}

Expr *ast_binary(Arena *a, OpKind op, Expr *l, Expr *r, Loc loc)
{
    Expr *e = ast_expr(a, EX_BINARY, loc);
    if (e) {
        e->op = op;
        e->a = l;
        e->b = r;
    }
    return with_depth(e);
}

Expr *ast_cond(Arena *a, Expr *c, Expr *t, Expr *f, Loc loc)
{
    Expr *e = ast_expr(a, EX_COND, loc);
    if (e) {
        e->a = c;
        e->b = t;
        e->c = f;
    }
    return with_depth(e);
}

static Expr *ast_named(Arena *a, ExprKind kind, const char *name, Loc name_loc, ExprList l,
                       Loc loc)
{
    Expr *e = ast_expr(a, kind, loc);
    if (e) {
        e->name = name;
        e->name_loc = name_loc;
        e->args = l;
    }
    return with_depth(e);
}

Expr *ast_call(Arena *a, const char *name, Loc name_loc, ExprList args, Loc loc)
{
    return ast_named(a, EX_CALL, name, name_loc, args, loc);
}

Expr *ast_index(Arena *a, const char *name, Loc name_loc, ExprList idx, Loc loc)
{
    return ast_named(a, EX_INDEX, name, name_loc, idx, loc);
}

Expr *ast_sum(Arena *a, const char *fname, Loc fname_loc, Expr *bound, Expr *body, Loc loc)
{
    Expr *e = ast_named(a, EX_SUM, fname, fname_loc, (ExprList){0}, loc);
    if (e) {
        e->a = bound;
        e->b = body;
    }
    return with_depth(e);
}

ExprList ast_list(Arena *a, ExprList l, Expr *e)
{
    ARR_PUSH(a, l.items, l.count, l.cap, e);
    return l;
}

NameList ast_names(Arena *a, NameList l, const char *name, Loc loc)
{
    ARR_PUSH(a, l.items, l.count, l.cap, ((NameItem){name, loc}));
    return l;
}

Decl *ast_decl(Arena *a, DeclKind kind, const char *name, Loc name_loc, Loc loc)
{
    Decl *d = arena_alloc(a, sizeof *d);
    if (!d) return NULL;
    d->kind = kind;
    d->name = name;
    d->name_loc = name_loc;
    d->loc = loc;
    d->id = -1;
    return d;
}

Decl *ast_tensor(Arena *a, DeclKind kind, const char *name, Loc name_loc, const char *type,
                 Loc type_loc, ExprList shape, Loc loc)
{
    Decl *d = ast_decl(a, kind, name, name_loc, loc);
    if (d) {
        d->type = type;
        d->type_loc = type_loc;
        d->shape = shape;
        d->has_shape = true;
    }
    return d;
}

Decl *ast_param(Arena *a, const char *name, Loc name_loc, const char *type, Loc type_loc,
                Expr *def, Loc loc)
{
    Decl *d = ast_decl(a, DECL_PARAM, name, name_loc, loc);
    if (d) {
        d->type = type;
        d->type_loc = type_loc;
        d->expr = def;
    }
    return d;
}

Decl *ast_valued(Arena *a, DeclKind kind, const char *name, Loc name_loc, Expr *e, Loc loc)
{
    Decl *d = ast_decl(a, kind, name, name_loc, loc);
    if (d) d->expr = e;
    return d;
}

Decl *ast_fn(Arena *a, const char *name, Loc name_loc, NameList params, Expr *body, Loc loc)
{
    Decl *d = ast_valued(a, DECL_FN, name, name_loc, body, loc);
    if (d) d->params = params;
    return d;
}

Decl *ast_assign(Arena *a, const char *name, Loc name_loc, ExprList *idx, Expr *e, Loc loc)
{
    Decl *d = ast_valued(a, DECL_ASSIGN, name, name_loc, e, loc);
    if (d && idx) {
        d->shape = *idx;
        d->target_indexed = true;
    }
    return d;
}

Decl *ast_select_blocks(Arena *a, Expr *block, Expr *top, Expr *by, int flags, Loc loc)
{
    Decl *d = ast_valued(a, DECL_SELECT, "select", loc, by, loc);
    if (d) {
        d->sel = SELD_BLOCKS;
        d->sel_block = block;
        d->sel_top = top;
        d->keep_own = flags & 1;
        d->shared = flags & 2;
    }
    return d;
}

Decl *ast_select_tokens(Arena *a, Expr *top, Expr *by, Loc loc)
{
    Decl *d = ast_valued(a, DECL_SELECT, "select", loc, by, loc);
    if (d) {
        d->sel = SELD_TOKENS;
        d->sel_top = top;
    }
    return d;
}

Decl *ast_select_from(Decl *d, const char *name, Loc name_loc, int flags)
{
    if (d) {
        d->sel_from = name;
        d->sel_from_loc = name_loc;
        d->keep_own = flags & 1;   /* refused by sema, with a hint */
        d->shared = flags & 2;
    }
    return d;
}

Decl *ast_sel_out(Arena *a, const char *name, Loc name_loc, Loc loc)
{
    return ast_decl(a, DECL_SEL_OUT, name, name_loc, loc);
}

Attention *ast_attention(Arena *a, const char *name, Loc name_loc, Decl *decls, Loc loc)
{
    Attention *at = arena_alloc(a, sizeof *at);
    if (!at) return NULL;
    at->name = name;
    at->name_loc = name_loc;
    at->loc = loc;
    at->decls = decls;
    for (Decl *d = decls; d; d = d->next) at->last = d;
    return at;
}

Decl *ast_append(Decl *list, Decl *d)
{
    if (!d) return list;
    if (!list) list = d;
    else (list->tail ? list->tail : list)->next = d;
    /* the head remembers the last node, so that a spec of n declarations is built in O(n) */
    Decl *last = d;
    while (last->next) last = last->next;
    list->tail = last;
    return list;
}

void ast_add_attention(AstFile *f, Attention *at)
{
    if (!at) return;
    if (f->last)
        f->last->next = at;
    else
        f->first = at;
    f->last = at;
}

const char *ast_op_text(OpKind op)
{
    static const char *const text[] = {
        [OPR_NEG] = "-", [OPR_NOT] = "!", [OPR_ADD] = "+", [OPR_SUB] = "-", [OPR_MUL] = "*",
        [OPR_DIV] = "/", [OPR_MOD] = "%", [OPR_POW] = "**", [OPR_MATMUL] = "@", [OPR_LT] = "<",
        [OPR_LE] = "<=", [OPR_GT] = ">", [OPR_GE] = ">=", [OPR_EQ] = "==", [OPR_NE] = "!=",
        [OPR_AND] = "&&", [OPR_OR] = "||",
    };
    return text[op];
}

/* ---- the dump ------------------------------------------------------------------------------- */

typedef struct Dump {
    Arena *a;
    const Source *src;
    char *out;
} Dump;

static void dump_line(Dump *d, int depth, Loc loc, const char *text)
{
    int line, col;
    source_line_col(d->src, loc.begin, &line, &col);
    d->out = arena_printf(d->a, "%s%*s%s  <%d:%d>\n", d->out, depth * 2, "", text, line, col);
}

static const char *num_text(Arena *a, const Expr *e)
{
    if (e->kind == EX_BOOL) return e->num ? "true" : "false";
    if (e->kind == EX_INT) return arena_printf(a, "%.0f", e->num);
    if (isinf(e->num)) return "inf";
    return arena_printf(a, "%.17g", e->num);
}

static void dump_expr(Dump *d, int depth, const Expr *e);

static void dump_list(Dump *d, int depth, const ExprList *l)
{
    for (int32_t k = 0; k < l->count; k++) dump_expr(d, depth, l->items[k]);
}

static void dump_expr(Dump *d, int depth, const Expr *e)
{
    if (!e) return;
    switch (e->kind) {
    case EX_INT: dump_line(d, depth, e->loc, arena_printf(d->a, "int %s", num_text(d->a, e))); break;
    case EX_FLOAT:
        dump_line(d, depth, e->loc, arena_printf(d->a, "float %s", num_text(d->a, e)));
        break;
    case EX_BOOL: dump_line(d, depth, e->loc, num_text(d->a, e)); break;
    case EX_NAME: dump_line(d, depth, e->loc, arena_printf(d->a, "name %s", e->name)); break;
    case EX_UNARY:
        dump_line(d, depth, e->loc, arena_printf(d->a, "unary %s", ast_op_text(e->op)));
        dump_expr(d, depth + 1, e->a);
        break;
    case EX_BINARY:
        dump_line(d, depth, e->loc, arena_printf(d->a, "binary %s", ast_op_text(e->op)));
        dump_expr(d, depth + 1, e->a);
        dump_expr(d, depth + 1, e->b);
        break;
    case EX_COND:
        dump_line(d, depth, e->loc, "cond ?:");
        dump_expr(d, depth + 1, e->a);
        dump_expr(d, depth + 1, e->b);
        dump_expr(d, depth + 1, e->c);
        break;
    case EX_CALL:
        dump_line(d, depth, e->loc, arena_printf(d->a, "call %s", e->name));
        dump_list(d, depth + 1, &e->args);
        break;
    case EX_INDEX:
        dump_line(d, depth, e->loc, arena_printf(d->a, "index %s", e->name));
        dump_list(d, depth + 1, &e->args);
        break;
    case EX_SUM:
        dump_line(d, depth, e->loc, arena_printf(d->a, "reduce %s", e->name));
        dump_expr(d, depth + 1, e->a);
        dump_expr(d, depth + 1, e->b);
        break;
    }
}

static void dump_decl(Dump *d, int depth, const Decl *x)
{
    static const char *const kind[] = {
        [DECL_IN] = "in", [DECL_OUT] = "out", [DECL_PARAM] = "param", [DECL_CONST] = "const",
        [DECL_LET] = "let", [DECL_FN] = "fn", [DECL_STATE] = "state", [DECL_SELECT] = "select",
        [DECL_ASSIGN] = "assign", [DECL_SEL_OUT] = "assign",
    };
    const char *text = arena_printf(d->a, "%s %s", kind[x->kind], x->name);
    if (x->type) text = arena_printf(d->a, "%s: %s", text, x->type);
    if (x->kind == DECL_FN) {
        text = arena_printf(d->a, "%s (", text);
        for (int32_t k = 0; k < x->params.count; k++)
            text = arena_printf(d->a, "%s%s%s", text, k ? ", " : "", x->params.items[k].name);
        text = arena_printf(d->a, "%s)", text);
    }
    if (x->kind == DECL_SEL_OUT) text = arena_printf(d->a, "%s = select", text);
    if (x->kind == DECL_SELECT) {
        text = x->sel == SELD_BLOCKS ? "select blocks" : "select tokens";
        if (x->keep_own) text = arena_printf(d->a, "%s keep own", text);
        if (x->shared) text = arena_printf(d->a, "%s shared", text);
    }
    dump_line(d, depth, x->loc, text);
    if (x->has_shape || x->target_indexed) {
        dump_line(d, depth + 1, x->loc, x->has_shape ? "shape" : "target indices");
        dump_list(d, depth + 2, &x->shape);
    }
    if (x->kind == DECL_SELECT) {
        if (x->sel_block) {
            dump_line(d, depth + 1, x->sel_block->loc, "block size");
            dump_expr(d, depth + 2, x->sel_block);
        }
        dump_line(d, depth + 1, x->sel_top->loc, "top");
        dump_expr(d, depth + 2, x->sel_top);
        if (x->sel_from) {
            dump_line(d, depth + 1, x->sel_from_loc, arena_printf(d->a, "from %s", x->sel_from));
            return;
        }
        dump_line(d, depth + 1, x->expr->loc, "by");
        dump_expr(d, depth + 2, x->expr);
        return;
    }
    dump_expr(d, depth + 1, x->expr);
}

char *ast_dump(Arena *a, const Source *src, const AstFile *f)
{
    Dump d = {a, src, ""};
    for (const Attention *at = f->first; at; at = at->next) {
        dump_line(&d, 0, at->loc, arena_printf(a, "attention %s", at->name));
        for (const Decl *x = at->decls; x; x = x->next) dump_decl(&d, 1, x);
    }
    return d.out;
}

AirOp ast_air_op(OpKind op)
{
    static const AirOp ops[] = {
        [OPR_NEG] = OP_NEG, [OPR_NOT] = OP_NOT, [OPR_ADD] = OP_ADD, [OPR_SUB] = OP_SUB,
        [OPR_MUL] = OP_MUL, [OPR_DIV] = OP_DIV, [OPR_MOD] = OP_MOD, [OPR_POW] = OP_POW,
        [OPR_MATMUL] = OP_COUNT, [OPR_LT] = OP_LT, [OPR_LE] = OP_LE, [OPR_GT] = OP_GT,
        [OPR_GE] = OP_GE, [OPR_EQ] = OP_EQ, [OPR_NE] = OP_NE, [OPR_AND] = OP_AND,
        [OPR_OR] = OP_OR,
    };
    return ops[op];
}
