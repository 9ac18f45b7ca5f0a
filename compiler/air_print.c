/* air_print.c: the text form of AIR (docs/air.md). One line per declaration and per node, in
 * pool order, so that a dump after any pass reads top to bottom like the kernel computes.
 * air_parse reads this exact form back; print -> parse -> print is the identity. */
#include "air.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct Out {
    Arena *a;
    char *p;
    size_t n, cap;
    bool failed;
} Out;

static void out_put(Out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_put(Out *o, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || o->failed) {
        va_end(ap2);
        o->failed = true;
        return;
    }
    if (o->n + (size_t)n + 1 > o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 1024;
        while (ncap < o->n + (size_t)n + 1) ncap *= 2;
        char *np = arena_realloc(o->a, o->p, o->cap, ncap);
        if (!np) {
            va_end(ap2);
            o->failed = true;
            return;
        }
        o->p = np;
        o->cap = ncap;
    }
    vsnprintf(o->p + o->n, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    o->n += (size_t)n;
}

/* Shortest text that reads back to the same value: as a float when `as_f32` (f32 constants
 * are stored rounded to f32 and the parser rounds them again), else as a double. Integral
 * values print without an exponent. */
static void out_num_as(Out *o, double v, bool as_f32)
{
    if (isnan(v)) { out_put(o, "nan"); return; }
    if (isinf(v)) { out_put(o, v < 0 ? "-inf" : "inf"); return; }
    if (v == floor(v) && fabs(v) < 1e15) { out_put(o, "%.0f", v); return; }
    as_f32 = as_f32 && (double)(float)v == v;
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (as_f32 ? (double)(float)back == v : back == v) break;
    }
    out_put(o, "%s", buf);
}

static void out_num(Out *o, double v) { out_num_as(o, v, false); }

static void out_type(Out *o, AirType t)
{
    static const char *const names[] = {"void", "bool", "i32", "f32", "f32", "f32"};
    out_put(o, "%s", (unsigned)t.kind <= TY_MAT ? names[t.kind] : "?");
    if (t.kind == TY_VEC) out_put(o, "[%d]", t.rows);
    if (t.kind == TY_MAT) out_put(o, "[%d, %d]", t.rows, t.cols);
}

static const char *sym_name(const AirKernel *k, int32_t s)
{
    return s >= 0 && s < k->nsyms && k->syms[s].name ? k->syms[s].name : "?";
}

static const char *tensor_name(const AirKernel *k, int32_t t)
{
    return t >= 0 && t < k->ntensors && k->tensors[t].name ? k->tensors[t].name : "?";
}

static const char *const param_type_names[] = {"i32", "f32", "bool"};

static void out_node(Out *o, const AirKernel *k, int32_t id)
{
    const AirNode *n = &k->nodes[id];
    out_put(o, "  %%%d = %s", id, (unsigned)n->op < OP_COUNT ? air_ops[n->op].name : "?");
    switch (n->op) {
    case OP_CONST:
        out_put(o, " ");
        if (n->ty.kind == TY_BOOL) out_put(o, "%s", n->num != 0 ? "true" : "false");
        else out_num_as(o, n->num, n->ty.kind == TY_F32);
        break;
    case OP_IDX:
        out_put(o, " %s", (unsigned)n->ref < IX_COUNT ? air_index_names[n->ref] : "?");
        break;
    case OP_DIM: out_put(o, " %s", sym_name(k, n->ref)); break;
    case OP_PARAM:
        out_put(o, " %s", n->ref >= 0 && n->ref < k->nparams ? k->params[n->ref].name : "?");
        break;
    case OP_RVAR: out_put(o, " %%%d", n->ref); break;
    case OP_LOAD: case OP_ROW: case OP_BLOCKMEAN:
        if (n->ref >= 0) out_put(o, " %s", tensor_name(k, n->ref));
        break;
    default: break;
    }
    for (int32_t a = 0; a < n->nargs && a < AIR_MAX_ARGS; a++)
        out_put(o, "%s%%%d", a ? ", " : " ", n->args[a]);
    if (n->op == OP_SUM) {
        out_put(o, " to ");
        out_num(o, n->num);
    }
    out_put(o, " : ");
    out_type(o, n->ty);
    out_put(o, "\n");
}

char *air_print(Arena *a, const AirKernel *k)
{
    Out o = {a, NULL, 0, 0, false};
    out_put(&o, "kernel %s %s\n", k->name ? k->name : "anon",
            k->kind == KIND_RECURRENT ? "recurrent" : "softmax");
    out_put(&o, "  heads %d %d\n", k->dk, k->dv);
    if (k->kind == KIND_RECURRENT) out_put(&o, "  state %d %d\n", k->state_rows, k->state_cols);
    if (k->sel.kind == SEL_BLOCKS) out_put(&o, "  select blocks %d top %d", k->sel.block, k->sel.topk);
    if (k->sel.kind == SEL_TOKENS) out_put(&o, "  select tokens top %d", k->sel.topk);
    if (k->sel.kind != SEL_NONE && k->sel.given) out_put(&o, " from %s", tensor_name(k, k->tselin));
    if (k->sel.kind != SEL_NONE)
        out_put(&o, "%s%s\n", k->sel.keep_own ? " own" : "", k->sel.shared ? " shared" : "");
    for (int32_t s = 0; s < k->nsyms; s++)
        out_put(&o, "  sym %s %s\n", sym_name(k, s),
                (unsigned)k->syms[s].role <= SYM_OTHER ? air_sym_role_names[k->syms[s].role] : "?");
    for (int32_t t = 0; t < k->ntensors; t++) {
        const AirTensor *tt = &k->tensors[t];
        out_put(&o, "  tensor %s %s %s %s [", tensor_name(k, t), tt->is_output ? "out" : "in",
                (unsigned)tt->role < ROLE_COUNT ? air_role_names[tt->role] : "?",
                air_dtype_name(tt->dtype));
        for (int32_t d = 0; d < tt->rank && d < AIR_MAX_RANK; d++) {
            if (d) out_put(&o, ", ");
            if (tt->dims[d].sym >= 0) out_put(&o, "%s", sym_name(k, tt->dims[d].sym));
            else out_put(&o, "%lld", (long long)tt->dims[d].size);
        }
        out_put(&o, "]\n");
    }
    for (int32_t p = 0; p < k->nparams; p++) {
        const AirParam *pp = &k->params[p];
        out_put(&o, "  param %s %s", pp->name ? pp->name : "?",
                (unsigned)pp->type <= PARAM_BOOL ? param_type_names[pp->type] : "?");
        if (pp->has_default) {
            out_put(&o, " = ");
            out_num(&o, pp->def);
        }
        out_put(&o, "\n");
    }
    for (int32_t id = 0; id < k->nnodes; id++) out_node(&o, k, id);
    for (int h = 0; h < HOOK_COUNT; h++)
        if (k->hook[h] >= 0) out_put(&o, "  hook %s %%%d\n", air_hook_names[h], k->hook[h]);
    out_put(&o, "end\n");
    return o.failed ? NULL : o.p;
}
