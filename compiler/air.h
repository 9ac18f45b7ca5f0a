/* air.h: the attention IR (AIR). A kernel is the operator (tensors, symbolic dims, params)
 * plus its hooks (scale, score, mask, sink, selector score, recurrence step and output) as
 * small typed expression programs. All hooks share one node pool; nodes are in topological
 * order (operands before users), and a hook is the id of its root node.
 *
 * Everything lives in the compilation's arena. The text form (air_print / air_parse) round
 * trips; air_verify checks the invariants and runs between passes. */
#ifndef ATTNC_AIR_H
#define ATTNC_AIR_H

#include "base.h"

/* ---- types -------------------------------------------------------------------------------- */

typedef enum { TY_VOID, TY_BOOL, TY_I32, TY_F32, TY_VEC, TY_MAT } AirTypeKind;

/* Scalars have rows = cols = 0; a vector f32[rows]; a matrix f32[rows, cols]. */
typedef struct AirType {
    AirTypeKind kind;
    int32_t rows, cols;
} AirType;

typedef enum { DT_F32, DT_F16, DT_BF16, DT_I32, DT_F64, DT_COUNT } AirDtype;

/* ---- ops: one X-macro table, from which the enum, names, printer, parser, verifier and
 * folder all come. X(ENUM, "text", arity, kind) with kind one of
 *   LEAF   no operands (see the leaf fields of AirNode)
 *   UN_F   f32 -> f32            BIN_F  f32 x f32 -> f32
 *   ARITH  i32/f32 (same) -> same (i32 if both i32, else f32)
 *   CMP    i32/f32 -> bool       LOGIC  bool -> bool
 *   SPECIAL  typed by its own rule in air_verify.c                                            */
#define AIR_OPS(X)                                                                            \
    /* leaves */                                                                              \
    X(CONST, "const", 0, LEAF)     /* value in .num, type in .ty (bool, i32 or f32) */       \
    X(IDX, "idx", 0, LEAF)         /* index variable, .ref = AirIndex */                      \
    X(DIM, "dim", 0, LEAF)         /* runtime size of symbol .ref (i32) */                    \
    X(PARAM, "param", 0, LEAF)     /* runtime parameter .ref */                               \
    X(SCORE, "score", 0, LEAF)     /* in the score hook: scale * (q . k) */                   \
    X(QK, "qk", 0, LEAF)           /* in the score hook: raw q . k */                         \
    X(RVAR, "rvar", 0, LEAF)       /* reduction variable of SUM node .ref (i32) */            \
    X(STATE, "state", 0, LEAF)     /* the recurrence state before the step (f32 matrix) */    \
    X(BLOCK, "block", 0, LEAF)     /* selector: the key block index (i32) */                  \
    /* tensor access */                                                                       \
    X(LOAD, "load", -1, SPECIAL)   /* tensor .ref at args[0..nargs): scalar, or a vector of   \
                                      the last dim when one index short */                    \
    X(ROW, "row", 1, SPECIAL)      /* head vector of q/k/v (.ref) at position args[0] */      \
    X(BLOCKMEAN, "blockmean", 1, SPECIAL) /* mean of k rows in key block args[0] (vector) */  \
    /* scalar arithmetic */                                                                   \
    X(NEG, "neg", 1, ARITH)                                                                   \
    X(ADD, "add", 2, ARITH)                                                                   \
    X(SUB, "sub", 2, ARITH)                                                                   \
    X(MUL, "mul", 2, ARITH)                                                                   \
    X(DIV, "div", 2, ARITH)        /* i32: truncating; division by 0 gives 0 */               \
    X(MOD, "mod", 2, ARITH)        /* i32: C remainder; f32: fmod; by 0 gives 0 */            \
    X(MIN, "min", 2, ARITH)                                                                   \
    X(MAX, "max", 2, ARITH)                                                                   \
    X(ABS, "abs", 1, ARITH)                                                                   \
    X(POW, "pow", 2, BIN_F)                                                                   \
    X(EXP, "exp", 1, UN_F)                                                                    \
    X(EXP2, "exp2", 1, UN_F)                                                                  \
    X(LOG, "log", 1, UN_F)                                                                    \
    X(LOG2, "log2", 1, UN_F)                                                                  \
    X(SQRT, "sqrt", 1, UN_F)                                                                  \
    X(RSQRT, "rsqrt", 1, UN_F)                                                                \
    X(TANH, "tanh", 1, UN_F)                                                                  \
    X(SIGMOID, "sigmoid", 1, UN_F)                                                            \
    X(RELU, "relu", 1, UN_F)                                                                  \
    X(SOFTPLUS, "softplus", 1, UN_F)                                                          \
    X(FLOOR, "floor", 1, UN_F)                                                                \
    X(CEIL, "ceil", 1, UN_F)                                                                  \
    X(TOF32, "tof32", 1, SPECIAL)  /* i32 -> f32 */                                           \
    X(TOI32, "toi32", 1, SPECIAL)  /* f32 -> i32, truncating */                               \
    /* comparisons and logic */                                                               \
    X(LT, "lt", 2, CMP)                                                                       \
    X(LE, "le", 2, CMP)                                                                       \
    X(GT, "gt", 2, CMP)                                                                       \
    X(GE, "ge", 2, CMP)                                                                       \
    X(EQ, "eq", 2, CMP)                                                                       \
    X(NE, "ne", 2, CMP)                                                                       \
    X(AND, "and", 2, LOGIC)                                                                   \
    X(OR, "or", 2, LOGIC)                                                                     \
    X(NOT, "not", 1, LOGIC)                                                                   \
    X(SELECT, "select", 3, SPECIAL) /* args[0] bool ? args[1] : args[2] */                    \
    /* vectors and matrices (selectors, recurrences) */                                       \
    X(DOT, "dot", 2, SPECIAL)      /* vec . vec -> f32 */                                     \
    X(OUTER, "outer", 2, SPECIAL)  /* vec[m] x vec[n] -> mat[m, n] */                         \
    X(VECMAT, "vecmat", 2, SPECIAL) /* vec[m] @ mat[m, n] -> vec[n] */                        \
    X(MATVEC, "matvec", 2, SPECIAL) /* mat[m, n] @ vec[n] -> vec[m] */                        \
    X(DIAG, "diag", 1, SPECIAL)    /* vec[n] -> mat[n, n] */                                  \
    X(ROWSCALE, "rowscale", 2, SPECIAL) /* vec[m] x mat[m, n] -> mat[m, n]: row r times a[r],  \
                                           diag(a) @ M without the m x m matrix */            \
    X(COLSCALE, "colscale", 2, SPECIAL) /* mat[m, n] x vec[n] -> mat[m, n]: column c times     \
                                           a[c], M @ diag(a) */                               \
    X(SQNORM, "sqnorm", 1, SPECIAL) /* vec -> f32 */                                          \
    X(SUM, "sum", 1, SPECIAL)      /* sum over RVAR .ref = this node, r < .num, of args[0] */

typedef enum {
#define X(E, S, N, K) OP_##E,
    AIR_OPS(X)
#undef X
    OP_COUNT
} AirOp;

typedef enum { OPK_LEAF, OPK_UN_F, OPK_BIN_F, OPK_ARITH, OPK_CMP, OPK_LOGIC, OPK_SPECIAL } AirOpKind;

typedef struct AirOpInfo {
    const char *name;
    int arity;          /* -1: variable (LOAD) */
    AirOpKind kind;
} AirOpInfo;

extern const AirOpInfo air_ops[OP_COUNT];

/* Index variables, the .ref of an IDX node. */
typedef enum { IX_B, IX_H, IX_I, IX_J, IX_T, IX_COUNT } AirIndex;

enum { AIR_MAX_ARGS = 4, AIR_MAX_RANK = 8 };

typedef struct AirNode {
    AirOp op;
    AirType ty;
    int32_t nargs;
    int32_t args[AIR_MAX_ARGS]; /* operand node ids, all < this node's id */
    int32_t ref;                /* IDX: AirIndex; DIM: symbol; PARAM: param; LOAD/ROW: tensor;
                                   RVAR: id of its SUM node */
    double num;                 /* CONST value (bool: 0/1, i32: integral); SUM: trip count */
    Loc loc;                    /* source range, for diagnostics after lowering */
} AirNode;

/* ---- the operator ------------------------------------------------------------------------- */

/* STATE_IN / STATE_OUT: a recurrence's initial and final state, f32[B, Hq, Dk, Dv].
 * SEL_OUT: a selector's kept block (or key) indices per query row, i32[B, Hq, Lq, topk],
 * ascending, -1 in the unused slots.
 * SEL_IN: a given selector's indices per query row (`select ... from idx;`), i32[B, Hq, Lq, topk],
 * -1 for none; out-of-range entries are ignored. */
typedef enum { ROLE_Q, ROLE_K, ROLE_V, ROLE_O, ROLE_LSE, ROLE_SIDE, ROLE_STATE_IN, ROLE_STATE_OUT,
               ROLE_SEL_OUT, ROLE_SEL_IN, ROLE_COUNT } AirRole;

/* A dimension is a symbol (sym >= 0, a runtime size) or a fixed size (sym = -1, size). */
typedef struct AirDim {
    int32_t sym;
    int64_t size;
} AirDim;

typedef struct AirTensor {
    const char *name;
    AirRole role;
    bool is_output;
    AirDtype dtype;
    int32_t rank;
    AirDim dims[AIR_MAX_RANK];
} AirTensor;

/* Well-known symbol roles; other symbols (side tensors' extra dims) are SYM_OTHER. */
typedef enum { SYM_B, SYM_HQ, SYM_HKV, SYM_LQ, SYM_LK, SYM_OTHER } AirSymRole;

typedef struct AirSym {
    const char *name;
    AirSymRole role;
} AirSym;

typedef enum { PARAM_I32, PARAM_F32, PARAM_BOOL } AirParamType;

typedef struct AirParam {
    const char *name;
    AirParamType type;
    bool has_default;
    double def;
} AirParam;

typedef enum { HOOK_SCALE, HOOK_SCORE, HOOK_MASK, HOOK_SINK, HOOK_SELECT, HOOK_STATE, HOOK_OUT,
               HOOK_COUNT } AirHook;

typedef enum { SEL_NONE, SEL_BLOCKS, SEL_TOKENS } AirSelKind;

typedef struct AirSelector {
    AirSelKind kind;
    int32_t block;      /* SEL_BLOCKS: keys per block */
    int32_t topk;
    bool keep_own;      /* always keep the query's own block */
    bool shared;        /* score once per GQA group */
    bool given;         /* the selection is the input tensor tselin: no select hook, no flags */
} AirSelector;

typedef enum { KIND_SOFTMAX, KIND_RECURRENT } AirKernelKind;

typedef struct AirKernel {
    const char *name;
    AirKernelKind kind;
    AirTensor *tensors; int32_t ntensors;
    AirSym *syms;       int32_t nsyms;
    AirParam *params;   int32_t nparams;
    int32_t dk, dv;     /* head dims, fixed at compile time */
    int32_t tq, tk, tv, to, tlse;   /* tensor ids of the roles; tlse = -1 when absent */
    AirNode *nodes;     int32_t nnodes, capnodes;
    int32_t hook[HOOK_COUNT];       /* root node id, or -1 when the hook is absent */
    AirSelector sel;
    int32_t state_rows, state_cols; /* KIND_RECURRENT: the state's shape (Dk x Dv) */
    int32_t tsin, tsout;            /* tensor ids of the initial / final state, or -1 */
    int32_t tselout;                /* tensor id of the selected indices (ROLE_SEL_OUT), or -1 */
    int32_t tselin;                 /* tensor id of a given selector's indices (ROLE_SEL_IN), or -1 */
} AirKernel;

/* ---- air.c: building ---------------------------------------------------------------------- */

AirKernel *air_new(Arena *a, const char *name);
/* Appends a node and returns its id, or -1 when out of memory. */
int32_t air_add(Arena *a, AirKernel *k, AirNode n);
int32_t air_const_f32(Arena *a, AirKernel *k, double v);
int32_t air_const_i32(Arena *a, AirKernel *k, int64_t v);
int32_t air_const_bool(Arena *a, AirKernel *k, bool v);
AirType air_scalar(AirTypeKind kind);
const char *air_dtype_name(AirDtype d);
size_t air_dtype_size(AirDtype d);
bool air_type_eq(AirType a, AirType b);
/* Element `off` of a host buffer of dtype dt, as a double (f16/bf16 widened exactly). */
double air_read_elem(const void *data, AirDtype dt, int64_t off);
/* Names used by the text form: "b" "h" "i" "j" "t"; "q" "k" "v" "o" "lse" "side" "state_in"
 * "state_out" "sel_out" "sel_in";
 * "b" "hq" "hkv" "lq" "lk" "other" for symbol roles. */
extern const char *const air_index_names[IX_COUNT];
extern const char *const air_role_names[ROLE_COUNT];
extern const char *const air_sym_role_names[SYM_OTHER + 1];
extern const char *const air_hook_names[HOOK_COUNT];

/* Applies a scalar op (ARITH, UN_F, BIN_F, CMP, LOGIC, TOF32, TOI32, SELECT) to operand values
 * x[0..arity). `ints` selects the i32 semantics of ARITH (truncating division, C remainder,
 * division by 0 gives 0, wrap to 32 bits); otherwise values are real and computed in f64
 * (callers round to f32 where the kernel would). Returns false for ops that are not scalar. */
bool air_scalar_apply(AirOp op, bool ints, const double *x, double *out);

/* Marks (mark[id] = 1) every node that root reaches, root included; mark has nnodes entries, the
 * caller clears it. Nodes are in topological order, so it is one backward sweep. */
void air_reach(const AirKernel *k, int32_t root, uint8_t *mark);

/* ---- air_print.c / air_parse.c: the text form ---------------------------------------------- */

char *air_print(Arena *a, const AirKernel *k);
/* Parses the text form; errors go to diags. Returns NULL on error. */
AirKernel *air_parse(Arena *a, Diags *d);

/* ---- air_verify.c --------------------------------------------------------------------------- */

/* Checks every invariant (operand order, types by the op table, hook types, tensor roles);
 * each violation is reported to diags with the pass name. Returns true when valid. */
bool air_verify(const AirKernel *k, Diags *d, const char *after_pass);

#endif
