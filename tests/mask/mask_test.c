/* mask_test: the tile classes of mask_tile_map against brute force per element, for the
 * standard masks (causal, sliding window, prefix-LM, dilated / RAT+, Longformer global +
 * window, block-causal, documents through a side tensor) and for random masks built from
 * every supported operation, over random lengths, tile shapes, params, q_offset, batch and
 * heads. FULL and EMPTY must be exact; a PARTIAL whose tile is in fact uniform is counted as
 * conservative, and must never happen for causal and sliding-window masks. */
#include "air.h"
#include "pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static int rnd(int n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (int)(rng % (uint64_t)n);
}

/* ---- a kernel with q, k, v, o, two i32 params and a sorted doc-id side tensor ---------------- */

enum { S_B, S_HQ, S_HKV, S_LQ, S_LK, S_N };

static AirKernel *base_kernel(Arena *a)
{
    AirKernel *k = air_new(a, "m");
    static AirSym syms[] = {{"B", SYM_B}, {"Hq", SYM_HQ}, {"Hkv", SYM_HKV}, {"Lq", SYM_LQ},
                            {"Lk", SYM_LK}, {"N", SYM_OTHER}};
    k->syms = syms;
    k->nsyms = 6;
    k->tensors = arena_alloc(a, sizeof(AirTensor) * 5);
    AirDim B = {S_B, 0}, Hq = {S_HQ, 0}, Hkv = {S_HKV, 0}, Lq = {S_LQ, 0}, Lk = {S_LK, 0}, D = {-1, 16};
    k->tensors[0] = (AirTensor){"q", ROLE_Q, false, DT_F32, 4, {B, Hq, Lq, D}};
    k->tensors[1] = (AirTensor){"k", ROLE_K, false, DT_F32, 4, {B, Hkv, Lk, D}};
    k->tensors[2] = (AirTensor){"v", ROLE_V, false, DT_F32, 4, {B, Hkv, Lk, D}};
    k->tensors[3] = (AirTensor){"o", ROLE_O, true, DT_F32, 4, {B, Hq, Lq, D}};
    k->tensors[4] = (AirTensor){"doc", ROLE_SIDE, false, DT_I32, 2, {B, {S_N, 0}}};
    k->ntensors = 5;
    k->tq = 0, k->tk = 1, k->tv = 2, k->to = 3;
    static AirParam params[] = {{"p0", PARAM_I32, true, 4}, {"p1", PARAM_I32, true, 2},
                                {"pf", PARAM_F32, true, 1.5}};
    k->params = params;
    k->nparams = 3;
    k->dk = k->dv = 16;
    return k;
}

static Arena *A;
static AirKernel *K;

static int32_t node(AirOp op, AirTypeKind ty, int32_t x, int32_t y, int32_t ref)
{
    AirNode n = {.op = op, .ty = air_scalar(ty), .ref = ref};
    n.nargs = air_ops[op].arity < 0 ? 0 : air_ops[op].arity;
    if (n.nargs > 0) n.args[0] = x;
    if (n.nargs > 1) n.args[1] = y;
    return air_add(A, K, n);
}
static int32_t idx(AirIndex i) { return node(OP_IDX, TY_I32, 0, 0, i); }
static int32_t ci(int v) { return air_const_i32(A, K, v); }
static int32_t prm(int p) { return node(OP_PARAM, TY_I32, 0, 0, p); }
static int32_t bin(AirOp op, int32_t x, int32_t y)
{
    AirOpKind kd = air_ops[op].kind;
    return node(op, kd == OPK_CMP || kd == OPK_LOGIC ? TY_BOOL : K->nodes[x].ty.kind, x, y, -1);
}
static int32_t un(AirOp op, int32_t x) { return node(op, K->nodes[x].ty.kind, x, 0, -1); }
static int32_t doc(int32_t pos)
{
    AirNode n = {.op = OP_LOAD, .ty = air_scalar(TY_I32), .ref = 4, .nargs = 2,
                 .args = {idx(IX_B), pos}};
    return air_add(A, K, n);
}

/* ---- random expressions ---------------------------------------------------------------------- */

static int32_t gen_int(int depth)
{
    if (depth <= 0 || rnd(3) == 0) {
        switch (rnd(7)) {
        case 0: case 1: return idx(rnd(2) ? IX_I : IX_J);
        case 2: return idx(rnd(2) ? IX_B : IX_H);
        case 3: return ci(rnd(21) - 5);
        case 4: return prm(rnd(2));
        case 5: return node(OP_DIM, TY_I32, 0, 0, rnd(2) ? S_LQ : S_LK);
        default: return doc(idx(rnd(2) ? IX_I : IX_J));
        }
    }
    static const AirOp ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_MIN, OP_MAX, OP_NEG, OP_ABS};
    AirOp op = ops[rnd(9)];
    if (op == OP_NEG || op == OP_ABS) return un(op, gen_int(depth - 1));
    int32_t x = gen_int(depth - 1);
    return bin(op, x, gen_int(depth - 1));
}

static int32_t gen_bool(int depth)
{
    if (depth <= 0 || rnd(4) == 0) {
        static const AirOp cmp[] = {OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE};
        if (rnd(6) == 0) {
            /* a float comparison: float(int) * pf < float(int) */
            int32_t x = node(OP_TOF32, TY_F32, gen_int(1), 0, -1);
            int32_t f = node(OP_PARAM, TY_F32, 0, 0, 2);
            return bin(cmp[rnd(6)], bin(OP_MUL, x, f), node(OP_TOF32, TY_F32, gen_int(1), 0, -1));
        }
        int32_t x = gen_int(depth);
        return bin(cmp[rnd(6)], x, gen_int(depth));
    }
    switch (rnd(4)) {
    case 0: return un(OP_NOT, gen_bool(depth - 1));
    case 1: { int32_t x = gen_bool(depth - 1); return bin(OP_AND, x, gen_bool(depth - 1)); }
    case 2: { int32_t x = gen_bool(depth - 1); return bin(OP_OR, x, gen_bool(depth - 1)); }
    default: {
        int32_t c = gen_bool(depth - 1), x = gen_bool(depth - 1), y = gen_bool(depth - 1);
        AirNode n = {.op = OP_SELECT, .ty = air_scalar(TY_BOOL), .nargs = 3, .args = {c, x, y}, .ref = -1};
        return air_add(A, K, n);
    }
    }
}

/* ---- brute force: evaluate the mask at one element, node by node ------------------------------ */

static bool brute(const AbiArgs *args, int64_t b, int64_t h, int64_t i, int64_t j, double *val)
{
    for (int32_t id = 0; id <= K->hook[HOOK_MASK]; id++) {
        const AirNode *n = &K->nodes[id];
        double x[3] = {0, 0, 0};
        for (int32_t g = 0; g < n->nargs; g++) x[g] = val[n->args[g]];
        switch (n->op) {
        case OP_CONST: val[id] = n->num; break;
        case OP_IDX: val[id] = n->ref == IX_B ? b : n->ref == IX_H ? h : n->ref == IX_I ? i : j; break;
        case OP_DIM: val[id] = (double)args->sym[n->ref]; break;
        case OP_PARAM:
            val[id] = K->params[n->ref].type == PARAM_F32 ? args->fparam[n->ref] : args->iparam[n->ref];
            break;
        case OP_LOAD: {
            int64_t p = (int64_t)x[1];
            if (p < 0 || p >= args->t[4].shape[1]) return false;
            val[id] = ((const int32_t *)args->t[4].data)[(int64_t)x[0] * args->t[4].strides[0] + p];
            break;
        }
        default:
            air_scalar_apply(n->op, n->ty.kind == TY_I32, x, &val[id]);
            if (n->ty.kind == TY_F32) val[id] = (float)val[id];
        }
    }
    return true;
}

typedef struct Stats {
    long tiles, conservative, checked;
} Stats;

/* Compares the map with brute force for one configuration; returns false on a wrong claim. */
static bool check(const char *name, int lq, int lk, int nb, int nh, int tm, int tn, int64_t qoff,
                  int p0, int p1, float pf, Stats *st)
{
    AbiArgs args;
    memset(&args, 0, sizeof args);
    int64_t n = lq > lk ? lq : lk;
    n += qoff;
    int32_t *docs = malloc(sizeof(int32_t) * (size_t)(nb * n));
    for (int b = 0; b < nb; b++) {
        int d = 0;
        for (int64_t p = 0; p < n; p++) {
            if (rnd(6) == 0) d++;
            docs[b * n + p] = d;
        }
    }
    int64_t shape_q[4] = {nb, nh, lq, 16}, shape_k[4] = {nb, 1, lk, 16};
    memcpy(args.t[0].shape, shape_q, sizeof shape_q);
    memcpy(args.t[3].shape, shape_q, sizeof shape_q);
    memcpy(args.t[1].shape, shape_k, sizeof shape_k);
    memcpy(args.t[2].shape, shape_k, sizeof shape_k);
    args.t[4].data = docs;
    args.t[4].shape[0] = nb, args.t[4].shape[1] = n;
    args.t[4].strides[0] = n, args.t[4].strides[1] = 1;
    int64_t sym[] = {nb, nh, 1, lq, lk, n};
    memcpy(args.sym, sym, sizeof sym);
    args.iparam[0] = p0, args.iparam[1] = p1, args.fparam[2] = pf;
    args.q_offset = qoff;

    MaskInfo *m = pass_mask_tiles(A, K, NULL);
    int64_t sb, sh, sq;
    size_t len = mask_tile_map_size(m, K, &args, tm, tn, &sb, &sh, &sq);
    uint8_t *map = malloc(len);
    char err[200];
    bool ok = mask_tile_map(m, K, &args, tm, tn, map, len, err, sizeof err);
    if (!ok) fprintf(stderr, "%s: mask_tile_map failed: %s\n", name, err);
    double *val = malloc(sizeof(double) * (size_t)K->nnodes);
    for (int b = 0; ok && b < nb; b++)
        for (int h = 0; ok && h < nh; h++)
            for (int qt = 0; ok && qt * tm < lq; qt++)
                for (int kt = 0; ok && kt * tn < lk; kt++) {
                    int seen[2] = {0, 0};
                    bool in_range = true;
                    for (int r = qt * tm; r < (qt + 1) * tm && r < lq; r++)
                        for (int j = kt * tn; j < (kt + 1) * tn && j < lk; j++) {
                            in_range = in_range && brute(&args, b, h, r + qoff, j, val);
                            seen[val[K->hook[HOOK_MASK]] != 0]++;
                        }
                    uint8_t c = map[b * sb + h * sh + qt * sq + kt];
                    st->tiles++;
                    if (!in_range) continue;
                    st->checked++;
                    if ((c == TILE_FULL && seen[0]) || (c == TILE_EMPTY && seen[1])) {
                        fprintf(stderr,
                                "%s: tile (b %d, h %d, qt %d, kt %d) classed %s but has %d visible, "
                                "%d masked (lq %d lk %d tiles %dx%d q_offset %lld p0 %d p1 %d)\n",
                                name, b, h, qt, kt, c == TILE_FULL ? "FULL" : "EMPTY", seen[1],
                                seen[0], lq, lk, tm, tn, (long long)qoff, p0, p1);
                        ok = false;
                    }
                    if (c == TILE_PARTIAL && (!seen[0] || !seen[1])) st->conservative++;
                }
    free(map), free(val), free(docs);
    return ok;
}

/* `positive`: params >= 1 only (a window of 0 or less masks everything, which intervals over
 * the two conjuncts cannot see: such tiles are PARTIAL, conservatively). */
static bool run_many(const char *name, int trials, bool positive, Stats *st)
{
    for (int t = 0; t < trials; t++) {
        int lq = 1 + rnd(70), lk = 1 + rnd(70);
        int64_t qoff = rnd(4) == 0 ? rnd(9) : (lk > lq ? lk - lq : 0);
        int p0 = !positive && rnd(4) == 0 ? rnd(40) - 5 : 1 + rnd(24);
        int p1 = positive ? 1 + rnd(8) : rnd(8) - 1;
        if (!check(name, lq, lk, 1 + rnd(2), 1 + rnd(3), 1 + rnd(17), 1 + rnd(17), qoff, p0, p1,
                   (float)(rnd(9) - 2) * 0.75f, st))
            return false;
    }
    return true;
}

/* ---- the standard masks ------------------------------------------------------------------------ */

static void reset(void) { K = base_kernel(A); }
static int32_t I(void) { return idx(IX_I); }
static int32_t J(void) { return idx(IX_J); }

static void mk_causal(void) { K->hook[HOOK_MASK] = bin(OP_LE, J(), I()); }
static void mk_window(void)
{
    int32_t c = bin(OP_LE, J(), I());
    K->hook[HOOK_MASK] = bin(OP_AND, c, bin(OP_LT, bin(OP_SUB, I(), J()), prm(0)));
}
static void mk_prefix(void)
{
    K->hook[HOOK_MASK] = bin(OP_OR, bin(OP_LE, J(), I()), bin(OP_LT, J(), prm(0)));
}
/* RAT+: j <= i && ((j+1) % D == 0 || i - j <= local || j < initial), D = p0 + 1, local = p1 */
static void mk_dilated(void)
{
    int32_t d = bin(OP_ADD, prm(0), ci(1));
    int32_t strided = bin(OP_EQ, bin(OP_MOD, bin(OP_ADD, J(), ci(1)), d), ci(0));
    int32_t local = bin(OP_LE, bin(OP_SUB, I(), J()), prm(1));
    int32_t initial = bin(OP_LT, J(), ci(2));
    K->hook[HOOK_MASK] = bin(OP_AND, bin(OP_LE, J(), I()), bin(OP_OR, bin(OP_OR, strided, local), initial));
}
/* Longformer: |i - j| < w || i < g || j < g */
static void mk_longformer(void)
{
    int32_t near = bin(OP_LT, un(OP_ABS, bin(OP_SUB, I(), J())), prm(0));
    K->hook[HOOK_MASK] = bin(OP_OR, near, bin(OP_OR, bin(OP_LT, I(), prm(1)), bin(OP_LT, J(), prm(1))));
}
/* block diffusion: j / s <= i / s, s = p0 (0 gives division by zero: 0, all visible) */
static void mk_block_causal(void) { K->hook[HOOK_MASK] = bin(OP_LE, bin(OP_DIV, J(), prm(0)), bin(OP_DIV, I(), prm(0))); }
static void mk_documents(void)
{
    int32_t same = bin(OP_EQ, doc(I()), doc(J()));
    K->hook[HOOK_MASK] = bin(OP_AND, same, bin(OP_LE, J(), I()));
}
static void mk_per_head(void)
{
    /* a window that grows with the head: i - j < (h + 1) * p0, causal */
    int32_t w = bin(OP_MUL, bin(OP_ADD, idx(IX_H), ci(1)), prm(0));
    K->hook[HOOK_MASK] = bin(OP_AND, bin(OP_LE, J(), I()), bin(OP_LT, bin(OP_SUB, I(), J()), w));
}

int main(void)
{
    Arena arena;
    arena_init(&arena);
    A = &arena;
    struct { const char *name; void (*make)(void); bool exact; } std[] = {
        {"causal", mk_causal, true},       {"window", mk_window, true},
        {"prefix_lm", mk_prefix, false},   {"dilated", mk_dilated, false},
        {"longformer", mk_longformer, false}, {"block_causal", mk_block_causal, false},
        {"documents", mk_documents, false}, {"per_head_window", mk_per_head, true},
    };
    int failures = 0;
    for (size_t s = 0; s < sizeof std / sizeof std[0]; s++) {
        reset();
        std[s].make();
        Diags d;
        diags_init(&d, A, NULL);
        if (!air_verify(K, &d, NULL)) {
            fprintf(stderr, "%s", diags_render(&d, false));
            return 1;
        }
        Stats st = {0, 0, 0};
        bool ok = run_many(std[s].name, 300, std[s].exact, &st);
        if (std[s].exact) ok = run_many(std[s].name, 100, false, &(Stats){0, 0, 0}) && ok;
        printf("%-16s %6ld tiles, %5ld conservative PARTIAL (%.2f%%)\n", std[s].name, st.tiles,
               st.conservative, 100.0 * (double)st.conservative / (double)st.tiles);
        if (!ok) failures++;
        if (std[s].exact && st.conservative) {
            fprintf(stderr, "%s: interval classification should be exact\n", std[s].name);
            failures++;
        }
    }
    Stats st = {0, 0, 0};
    for (int r = 0; r < 400; r++) {
        reset();
        K->hook[HOOK_MASK] = gen_bool(1 + rnd(3));
        Diags d;
        diags_init(&d, A, NULL);
        if (!air_verify(K, &d, NULL)) {
            fprintf(stderr, "random mask %d does not verify:\n%s%s", r, diags_render(&d, false),
                    air_print(A, K));
            return 1;
        }
        char name[32];
        snprintf(name, sizeof name, "random mask %d", r);
        if (!run_many(name, 6, false, &st)) {
            fprintf(stderr, "%s", air_print(A, K));
            failures++;
            break;
        }
    }
    printf("%-16s %6ld tiles, %5ld conservative PARTIAL, %ld checked\n", "random", st.tiles,
           st.conservative, st.checked);

    /* --explain for a causal mask on 256 x 256 in 16 x 16 tiles: 120 EMPTY, 120 FULL, 16 PARTIAL */
    reset();
    mk_causal();
    char *text = mask_explain(A, K, pass_mask_tiles(A, K, NULL), 256, 256, NULL, 16, 16);
    printf("%s", text);
    if (!strstr(text, "256 tiles: 46.9% EMPTY") || !strstr(text, "46.9% FULL") ||
        !strstr(text, "6.2% PARTIAL") || !strstr(text, "hook mask reads: i, j")) {
        fprintf(stderr, "unexpected explain text\n");
        failures++;
    }
    arena_free(&arena);
    return failures ? 1 : 0;
}
