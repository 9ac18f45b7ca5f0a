/* pass.h: the passes and analyses that run on AIR between lowering and code generation, one
 * file each: pass_fold.c (constant folding, simplification, dead nodes), pass_uses.c (what each
 * hook reads), pass_mask_tiles.c (tile classes of the mask, at compile time and at launch),
 * pass_hook_check.c (what a target's plan refuses in a hook), pass_hook_split.c (the parts of
 * a hook a skeleton evaluates per row or per key), air_eval.c (the f64 reference evaluator,
 * the oracle of every numeric test). */
#ifndef ATTNC_PASS_H
#define ATTNC_PASS_H

#include "air.h"
#include "kernel_abi.h"

/* ---- pass_fold.c ------------------------------------------------------------------------ */

/* Folds constant subexpressions (with the kernel's i32 and f32 semantics), simplifies x*1,
 * x+0, x-0, x/1, constant comparisons and logic, select of a constant, double negation,
 * merges identical nodes and removes nodes no hook reaches, renumbering the pool. The kernel
 * is rewritten in place; returns false only when memory ran out. */
bool pass_fold(Arena *a, AirKernel *k);

/* ---- pass_uses.c ------------------------------------------------------------------------ */

enum { USE_B = 1 << IX_B, USE_H = 1 << IX_H, USE_I = 1 << IX_I, USE_J = 1 << IX_J,
       USE_T = 1 << IX_T };

/* What a hook (or a node) reads: index variables (USE_* bits), params, symbols (dims) and
 * tensors as bit sets by id, and the special leaves. */
typedef struct AirUseSet {
    uint32_t idx;
    uint32_t params, syms, tensors;   /* bit p: param p, symbol s, tensor t */
    bool score, qk, state, block;
} AirUseSet;

typedef struct AirUses {
    AirUseSet hook[HOOK_COUNT];
    AirUseSet *node;                  /* per node, transitively through its operands */
} AirUses;

/* Computes the uses of every node and hook. NULL when memory ran out. */
AirUses *pass_uses(Arena *a, const AirKernel *k);
/* "i, j, window, doc" — the names a hook reads, for --explain and diagnostics. */
char *air_uses_str(Arena *a, const AirKernel *k, const AirUseSet *u);

/* ---- pass_mask_tiles.c ------------------------------------------------------------------ */

/* What the compile-time analysis found about the mask. The tile map itself depends on runtime
 * sizes, params and side tensors, so it is computed at launch by mask_tile_map, in time
 * proportional to the number of tiles plus the side tensors' size, never per element. */
typedef struct MaskInfo {
    bool has_mask;        /* false: every tile is FULL */
    int32_t root;         /* the mask hook's node */
    uint32_t idx;         /* USE_* bits the mask reads */
    bool per_b, per_h;    /* the map has one slice per batch / per query head */
    uint32_t params, syms, tensors;  /* read at launch (bit sets, as in AirUseSet) */
    int32_t nloads;       /* LOAD nodes of side tensors in the mask: summarised at launch */
    int32_t *loads;
    int32_t nimprecise;   /* nodes the interval evaluator treats as "anything" */
    int32_t *imprecise;
    uint8_t *dep;         /* per node: USE_* bits it depends on (B, H, I, J) */
    /* The mask's nodes in pool order, split by what they vary with, so the launch-time
     * evaluator computes each once per (b, h), per query tile, per key tile, or per tile. */
    int32_t *level[4];    /* MASK_L0 (neither i nor j), MASK_LI, MASK_LJ, MASK_LIJ */
    int32_t nlevel[4];
} MaskInfo;

enum { MASK_L0, MASK_LI, MASK_LJ, MASK_LIJ };

/* Analyses the mask hook of a verified kernel. Never fails on a valid kernel (an op without
 * an interval rule is just imprecise); NULL when memory ran out. Notes for --explain only. */
MaskInfo *pass_mask_tiles(Arena *a, const AirKernel *k, Diags *d);

/* The map's size in bytes for these sizes and tile shape, and its strides (as AbiArgs
 * tile_sb, tile_sh, tile_sq; the key-tile stride is 1). Lengths come from args->t[].shape. */
size_t mask_tile_map_size(const MaskInfo *m, const AirKernel *k, const AbiArgs *args,
                          int32_t tile_m, int32_t tile_n, int64_t *sb, int64_t *sh, int64_t *sq);

/* Fills map[b*sb + h*sh + qt*sq + kt] with TILE_EMPTY / TILE_PARTIAL / TILE_FULL for query
 * rows [qt*tile_m, (qt+1)*tile_m) and keys [kt*tile_n, (kt+1)*tile_n). The classes describe
 * the mask on in-bounds elements only (row < Lq, j < Lk): the kernels bounds-check edge
 * tiles themselves, so an edge tile is FULL when all its in-bounds elements are visible.
 * FULL and EMPTY are exact claims; PARTIAL may be conservative. host_args must hold host
 * pointers for the side tensors the mask reads (in their declared dtype), the params
 * (iparam/fparam), the symbols and q_offset. Returns false with a message in err when the
 * map is too small or a side tensor is missing. */
bool mask_tile_map(const MaskInfo *m, const AirKernel *k, const AbiArgs *host_args,
                   int32_t tile_m, int32_t tile_n, uint8_t *map, size_t map_len,
                   char *err, size_t err_len);

/* Text for `attnc --explain`: for lq x lk (b = h = 0, q_offset = max(lk - lq, 0), params at
 * `params` or their defaults when params is NULL), the share of EMPTY / FULL / PARTIAL tiles,
 * what the kernel skips, what stays symbolic, and the hooks' index uses. */
char *mask_explain(Arena *a, const AirKernel *k, const MaskInfo *m, int64_t lq, int64_t lk,
                   const double *params, int32_t tile_m, int32_t tile_n);

/* ---- pass_hook_check.c ------------------------------------------------------------------ */

/* Plan-time check of the hook rooted at `root`: every node reachable from it must be a scalar
 * op the hook emitter (cg_hook.c) supports, SCORE/QK only where allow_score, `j` only where
 * allow_j. Reports "<what> is not supported on target <target> yet" at the node's location. */
bool pass_hook_check(const AirKernel *k, int32_t root, const char *target, bool allow_score,
                     bool allow_j, Diags *d);
/* The same for a scalar of a recurrence's step (b, h, t), or with `vectors` an element-wise
 * f32 vector of side tensors indexed one index short (pass_recur_form's per-key decay). */
/* The most terms of a sum(r < n: e) a hook may have on a code-generating target: the hook
 * emitter (cg_hook.c) unrolls it. */
enum { HOOK_SUM_MAX_TERMS = 64 };
bool pass_hook_check_step(const AirKernel *k, int32_t root, const char *target, bool vectors,
                          Diags *d);
/* The same for a selector's score: scalars of (b, h, i) and the candidate (j or block), and dot
 * or sqnorm of element-wise vectors of q, k, v rows, block means and side tensors' vectors. */
bool pass_hook_check_select(const AirKernel *k, const char *target, Diags *d);

/* ---- pass_hook_split.c ------------------------------------------------------------------ */

/* The maximal sub-expressions of the hook at `root` that read a side tensor and depend on index
 * `keep` but not on `vary` (nor on score, qk, a reduction variable or anything not scalar): a
 * skeleton can evaluate each of them once per value of `keep` and hand the results to
 * cg_hook_emit as presets, instead of loading per (i, j) element. Writes at most `max` node ids
 * to out and returns how many (0 when memory ran out: nothing is split then). */
int pass_hook_split(const AirKernel *k, int32_t root, AirIndex keep, AirIndex vary, int32_t *out,
                    int max);
/* True when the hook at `root` reads a side tensor outside the sub-expressions ids[0 .. n). */
bool pass_hook_loads_left(const AirKernel *k, int32_t root, const int32_t *ids, int n);

/* ---- pass_recur_form.c -------------------------------------------------------------------- */

/* The families of linear recurrences the kernels generate (docs/language.md section 10). Every
 * one is one step
 *     w = wv * v[t] + wu * (k[t] @ S)          (a Dv vector; wu = 0 outside the delta rule)
 *     S = a * S + outer(k[t], w)               (a scalar, or diag(a) @ S with a vector a)
 *     o[t] = out * (q[t] @ S)                  (S after the step)
 * with a, wv, wu, out scalars of (b, h, t) (RecurCoef) and a in DECAY_VEC an element-wise
 * vector expression of side tensors. Anything else is RECUR_SCAN, with the reason. */
typedef enum { RECUR_SCAN, RECUR_DECAY, RECUR_DECAY_VEC, RECUR_DELTA } RecurFamily;

enum { RECUR_MAX_TERMS = 8, RECUR_MAX_FACTORS = 8 };

/* c * f[0] * f[1] * ..., with f[x] used as 1 / f[x] where inv bit x is set; scalar nodes. */
typedef struct RecurProd {
    double c;
    int32_t n;
    int32_t f[RECUR_MAX_FACTORS];
    uint32_t inv;
} RecurProd;

/* A sum of products; n = 0 is the number 0. */
typedef struct RecurCoef {
    int32_t n;
    RecurProd t[RECUR_MAX_TERMS];
} RecurCoef;

typedef struct RecurForm {
    RecurFamily family;
    RecurCoef a;             /* the decay (DECAY_VEC: the scalar factor of diag(a_vec)) */
    int32_t a_vec;           /* DECAY_VEC: the f32[Dk] node, element-wise in side tensors */
    RecurCoef wv, wu, out;
    const char *why;         /* RECUR_SCAN: what the pass did not recognise */
    Loc why_loc;
} RecurForm;

/* Reads the state and output hooks of a recurrent kernel as a family. False only when memory
 * ran out. */
bool pass_recur_form(Arena *a, const AirKernel *k, RecurForm *f);
/* "delta rule: a = %4, w = %6 * v + -1 * %4 * %6 * (k @ S), o = q @ S" (node ids), for tests. */
char *recur_form_str(Arena *a, const RecurForm *f);
/* --explain's lines: the family and its scalars as the spec writes them (src), or why the
 * recurrence is a sequential scan. */
char *recur_explain(Arena *a, const AirKernel *k, const RecurForm *f, const Source *src);
/* What every target that generates a family's kernel checks: q, k, v and o over one time dim,
 * and each coefficient (and a_vec) a hook a step can evaluate on `target`. False after a
 * diagnostic. */
bool pass_recur_check(const AirKernel *k, const RecurForm *f, const char *target, Diags *d);
/* The family's name for --explain and diagnostics. */
const char *recur_family_name(RecurFamily f);

/* ---- pass_select_form.c ------------------------------------------------------------------- */

/* A selector's score as the kernels read it (docs/language.md section 9): a pooled-key product
 * (dot(q[i], mean(k[block])) and scalar terms), a contraction (a sum over products of vectors,
 * DSA's indexer), any other scalar expression of the candidate, or no score at all: the
 * selection is given as an input (`select ... from idx;`). */
typedef enum { SELF_POOLED, SELF_CONTRACTION, SELF_SCALAR, SELF_GIVEN } SelectFormKind;

typedef struct SelectForm {
    SelectFormKind form;
    int32_t node;        /* POOLED: the dot; CONTRACTION: the sum; SCALAR, GIVEN: -1 */
    int32_t products;    /* dot and sqnorm nodes the score reaches */
    bool uses_mean;      /* the score reads mean(k[block]): block means once per launch */
    int32_t share;       /* SelShare: the query heads one selection serves */
} SelectForm;

/* Reads a selector kernel's score (nothing for a kernel without a selector). False only when
 * memory ran out. */
bool pass_select_form(Arena *a, const AirKernel *k, SelectForm *f);
const char *select_form_name(SelectFormKind form);
/* "select pooled-key product: node %6; block means; one selection per group" (or per head, for
 * every head), for tests. */
char *select_form_str(Arena *a, const SelectForm *f);
/* --explain's line: the selector, its form (quoting the spec), how candidates are shared. */
char *select_explain(Arena *a, const AirKernel *k, const SelectForm *f, const Source *src);

/* ---- air_eval.c: the f64 reference ------------------------------------------------------ */

/* Evaluates the kernel literally in f64 over host tensors: args->t[] are the spec's tensors
 * in declaration order (strides in elements, any layout), dtypes[t] each buffer's actual dtype
 * (inputs f32/f16/bf16/i32, outputs any of f32/f16/bf16/f64). Softmax kernels: every (b, h,
 * row), query position i = row + args->q_offset, kv head h / (Hq / Hkv), sink in the
 * denominator, lse natural log; a row with no visible key gets o = 0 and lse = -inf (the sink
 * when there is one). Recurrences: S = 0, then per t: o[t] = out hook, S = state hook, both
 * evaluated with STATE = the state before step t (an output of the updated state uses the
 * state hook's node); S starts from the initial-state tensor when there is one, and the
 * final-state tensor gets S after the last step. Selectors: candidates are blocks / keys with a visible key; top-k by
 * score (ties to the lower index, summed over the GQA group when shared), the own block
 * counting as one of the k when kept.
 * Then the masked softmax over the kept keys. Returns false
 * with a diagnostic on an unusable argument (index out of range, bad shape). Slow by design. */
bool air_reference(const AirKernel *k, const AbiArgs *args, const AirDtype *dtypes, Diags *d);

#endif
