/* sema_builtins.c: the table of builtin functions and how sema types each (BK_ rules in
 * frontend.h). A file of its own below sema_expr.c (which types calls) and sema_shapes.c (which
 * folds them in consts and dims), so that neither reaches into the other for it. */
#include "frontend.h"

const SemaBuiltin sema_builtins[] = {
    {"exp", 1, BK_UNF, OP_EXP},         {"exp2", 1, BK_UNF, OP_EXP2},
    {"log", 1, BK_UNF, OP_LOG},         {"log2", 1, BK_UNF, OP_LOG2},
    {"sqrt", 1, BK_UNF, OP_SQRT},       {"rsqrt", 1, BK_UNF, OP_RSQRT},
    {"tanh", 1, BK_UNF, OP_TANH},       {"sigmoid", 1, BK_UNF, OP_SIGMOID},
    {"relu", 1, BK_UNF, OP_RELU},       {"softplus", 1, BK_UNF, OP_SOFTPLUS},
    {"floor", 1, BK_UNF, OP_FLOOR},     {"ceil", 1, BK_UNF, OP_CEIL},
    {"abs", 1, BK_ARITH1, OP_ABS},      {"min", 2, BK_MINMAX, OP_MIN},
    {"max", 2, BK_MINMAX, OP_MAX},      {"pow", 2, BK_POW, OP_POW},
    {"clamp", 3, BK_CLAMP, OP_MIN},     {"select", 3, BK_SELECT, OP_SELECT},
    {"float", 1, BK_FLOAT, OP_TOF32},   {"int", 1, BK_INT, OP_TOI32},
    {"dot", 2, BK_DOT, OP_DOT},         {"outer", 2, BK_OUTER, OP_OUTER},
    {"diag", 1, BK_DIAG, OP_DIAG},      {"sqnorm", 1, BK_SQNORM, OP_SQNORM},
    {"mean", 1, BK_MEAN, OP_BLOCKMEAN},
};
const int sema_nbuiltins = (int)(sizeof sema_builtins / sizeof sema_builtins[0]);
