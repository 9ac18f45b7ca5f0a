/* sema_shapes.c: the operator's tensors and dims (docs/language.md section 4), params, and
 * compile-time values (consts with -D overrides, head dims, selector sizes). Builds the
 * kernel's tensor, symbol and param tables that lower_air fills with hooks. */
#include "frontend.h"

#include "kernel_abi.h"
#include "pipeline.h"

#include <math.h>
#include <string.h>

const char *sema_dtype_text(AirDtype t)
{
    static const char *const names[DT_COUNT] = {"f32", "f16", "bf16", "i32", "f64"};
    return names[t];
}

/* ---- compile-time values ------------------------------------------------------------------- */

static bool fold_error(Sema *s, Expr *e, const char *why)
{
    sema_error(s, e->loc, "%s", why);
    return false;
}

bool sema_const_value(Sema *s, Decl *c, Value *out)
{
    if (c->const_ok) {
        *out = (Value){c->const_ty.kind, c->const_val};
        return true;
    }
    if (c->reported) return false;
    if (c->visiting) {
        sema_error(s, c->name_loc, "const '%s' depends on itself", c->name);
        c->reported = true;
        return false;
    }
    c->visiting = true;
    Value v;
    bool ok = sema_fold(s, c->expr, &v);
    c->visiting = false;
    if (!ok) {
        c->reported = true;
        return false;
    }
    for (int32_t k = 0; k < s->ndefines; k++) {
        if (strcmp(s->defines[k].name, c->name)) continue;
        double dv = s->defines[k].value;
        if (v.ty == TY_BOOL) v.v = dv != 0;
        else if (v.ty == TY_I32 && dv != trunc(dv)) v.ty = TY_F32, v.v = dv;
        else v.v = dv;
    }
    c->const_ok = true;
    c->const_ty = air_scalar(v.ty);
    c->const_val = v.v;
    *out = v;
    return true;
}


/* Constants fold with AIR's own scalar semantics (air_scalar_apply), so a const means the same
 * here, in pass_fold, in the reference and in the kernels. */
static double fold_op(AirOp op, bool is_int, double x, double y)
{
    double in[3] = {x, y, 0}, r = 0;
    air_scalar_apply(op, is_int, in, &r);
    return r;
}

static bool fold_name(Sema *s, Expr *e, Value *out)
{
    Decl *d = sema_lookup(s, e->name);
    int32_t sym;
    int64_t size;
    if (d && d->kind == DECL_CONST) return sema_const_value(s, d, out);
    if (d) {
        sema_error(s, e->loc, "'%s' is not a compile-time constant", e->name);
        if (d->kind == DECL_PARAM) sema_hint(s, "'%s' is a runtime param; use a const here", e->name);
        return false;
    }
    if (!strcmp(e->name, "inf")) {
        *out = (Value){TY_F32, INFINITY};
        return true;
    }
    if (sema_dim_name(s, e->name, &sym, &size)) {
        if (sym >= 0) {
            sema_error(s, e->loc, "'%s' is a runtime size, not a compile-time constant", e->name);
            return false;
        }
        *out = (Value){TY_I32, (double)size};
        return true;
    }
    sema_error(s, e->loc, "unknown name '%s'", e->name);
    sema_suggest(s, e->name, NULL);
    return false;
}

static bool fold_call(Sema *s, Expr *e, Value *out)
{
    const SemaBuiltin *b = NULL;
    for (int k = 0; k < sema_nbuiltins; k++)
        if (!strcmp(sema_builtins[k].name, e->name)) b = &sema_builtins[k];
    if (!b || b->kind > BK_INT) return fold_error(s, e, "not a compile-time constant");
    if (e->args.count != b->arity) {
        sema_error(s, e->loc, "'%s' takes %d argument%s; got %d", b->name, b->arity,
                   b->arity == 1 ? "" : "s", e->args.count);
        return false;
    }
    Value v[3];
    for (int k = 0; k < b->arity; k++)
        if (!sema_fold(s, e->args.items[k], &v[k])) return false;
    bool all_int = true;
    for (int k = 0; k < b->arity; k++) {
        if (k == 0 && b->kind == BK_SELECT) continue;
        if (v[k].ty == TY_BOOL) return fold_error(s, e->args.items[k], "expected a number; got bool");
        all_int = all_int && v[k].ty == TY_I32;
    }
    AirTypeKind ity = all_int ? TY_I32 : TY_F32;
    switch (b->kind) {
    case BK_UNF: *out = (Value){TY_F32, fold_op(b->op, false, v[0].v, 0)}; break;
    case BK_ARITH1: *out = (Value){v[0].ty, fabs(v[0].v)}; break;
    case BK_MINMAX:
        *out = (Value){ity, b->op == OP_MIN ? fmin(v[0].v, v[1].v) : fmax(v[0].v, v[1].v)};
        break;
    case BK_POW: *out = (Value){TY_F32, pow(v[0].v, v[1].v)}; break;
    case BK_CLAMP: *out = (Value){ity, fmin(fmax(v[0].v, v[1].v), v[2].v)}; break;
    case BK_SELECT:
        if (v[0].ty != TY_BOOL) return fold_error(s, e->args.items[0], "a condition must be bool");
        *out = v[0].v ? v[1] : v[2];
        if (!all_int) out->ty = TY_F32;
        break;
    case BK_FLOAT: *out = (Value){TY_F32, v[0].v}; break;
    case BK_INT: *out = (Value){TY_I32, trunc(v[0].v)}; break;
    default: return fold_error(s, e, "not a compile-time constant");
    }
    return true;
}

bool sema_fold(Sema *s, Expr *e, Value *out)
{
    Value x, y, z;
    switch (e->kind) {
    case EX_INT: *out = (Value){TY_I32, e->num}; return true;
    case EX_FLOAT: *out = (Value){TY_F32, e->num}; return true;
    case EX_BOOL: *out = (Value){TY_BOOL, e->num}; return true;
    case EX_NAME: return fold_name(s, e, out);
    case EX_UNARY:
        if (!sema_fold(s, e->a, &x)) return false;
        if ((e->op == OPR_NOT) != (x.ty == TY_BOOL))
            return fold_error(s, e, e->op == OPR_NOT ? "'!' needs a bool" : "'-' needs a number");
        *out = (Value){x.ty, e->op == OPR_NOT ? !x.v : -x.v};
        return true;
    case EX_BINARY: {
        if (!sema_fold(s, e->a, &x) || !sema_fold(s, e->b, &y)) return false;
        bool logic = e->op == OPR_AND || e->op == OPR_OR;
        if (logic != (x.ty == TY_BOOL) || logic != (y.ty == TY_BOOL))
            return fold_error(s, e, logic ? "'&&' and '||' need bools" : "expected numbers; got bool");
        if (e->op == OPR_MATMUL) return fold_error(s, e, "not a compile-time constant");
        bool is_int = x.ty == TY_I32 && y.ty == TY_I32 && e->op != OPR_POW;
        double v = fold_op(ast_air_op(e->op), is_int, x.v, y.v);
        AirTypeKind t = e->op >= OPR_LT ? TY_BOOL : is_int ? TY_I32 : TY_F32;
        /* the kernels would wrap; a constant that does is a mistake worth reporting */
        if (t == TY_I32 && fabs(fold_op(ast_air_op(e->op), false, x.v, y.v)) > 2147483647.0)
            return fold_error(s, e, "i32 overflow in a constant");
        *out = (Value){t, v};
        return true;
    }
    case EX_COND:
        if (!sema_fold(s, e->a, &x) || !sema_fold(s, e->b, &y) || !sema_fold(s, e->c, &z))
            return false;
        if (x.ty != TY_BOOL) return fold_error(s, e->a, "a condition must be bool");
        *out = x.v ? y : z;
        if (y.ty != z.ty) out->ty = TY_F32;
        return true;
    case EX_CALL: return fold_call(s, e, out);
    case EX_INDEX:
    case EX_SUM: return fold_error(s, e, "not a compile-time constant");
    }
    return false;
}

/* ---- tensors and dims ---------------------------------------------------------------------- */

/* The fixed dim names and where they sit: tensor role and position. */
static const struct { const char *name; AirRole role; int pos; } fixed_dims[] = {
    {"B", ROLE_Q, 0}, {"Hq", ROLE_Q, 1}, {"Lq", ROLE_Q, 2}, {"Dk", ROLE_Q, 3},
    {"Hkv", ROLE_K, 1}, {"Lk", ROLE_K, 2}, {"Dv", ROLE_V, 3},
};

bool sema_dim_name(Sema *s, const char *name, int32_t *sym, int64_t *size)
{
    for (int32_t k = 0; k < s->k->nsyms; k++) {
        if (!strcmp(s->k->syms[k].name, name)) {
            *sym = k;
            return true;
        }
    }
    for (size_t k = 0; k < sizeof fixed_dims / sizeof fixed_dims[0]; k++) {
        if (strcmp(fixed_dims[k].name, name)) continue;
        Decl *t = fixed_dims[k].role == ROLE_Q ? s->tq : fixed_dims[k].role == ROLE_K ? s->tk : s->tv;
        if (!t || t->id < 0 || t->shape.count <= fixed_dims[k].pos) return false;
        const AirDim *d = &s->k->tensors[t->id].dims[fixed_dims[k].pos];
        *sym = d->sym;
        *size = d->size;
        return true;
    }
    return false;
}

static bool parse_dtype(Sema *s, Decl *d, AirDtype *out)
{
    static const char *const ok[] = {"f32", "f16", "bf16", "i32"};
    for (int k = 0; k < 4; k++) {
        if (!strcmp(d->type, ok[k])) {
            *out = (AirDtype)k;
            return true;
        }
    }
    sema_error(s, d->type_loc, "unsupported dtype '%s'", d->type);
    const char *best = closest_name(d->type, ok, 4);
    if (best) sema_hint(s, "did you mean '%s'?", best);
    else sema_hint(s, "tensor dtypes are f32, f16, bf16 and i32 (side tensors only)");
    return false;
}

/* One shape dim: a symbol (a name that is not a const) or a positive compile-time integer. */
static bool shape_dim(Sema *s, Expr *e, AirDim *out)
{
    if (e->kind == EX_NAME) {
        Decl *d = sema_lookup(s, e->name);
        if (!d) {
            int32_t sym;
            int64_t size;
            if (sema_dim_name(s, e->name, &sym, &size)) {   /* a size name, or Dk / Dv: fixed */
                *out = sym >= 0 ? (AirDim){sym, 0} : (AirDim){-1, size};
                return true;
            }
            if (s->k->nsyms == ABI_MAX_SYMS) {   /* the launch arguments' sym[] */
                if (!s->syms_full) {
                    sema_error(s, e->loc, "'%s' is one size name too many: a spec has at most %d",
                               e->name, ABI_MAX_SYMS);
                    sema_hint(s, "B, Hq, Lq, Hkv and Lk count; a dim written as a number or a "
                                 "const takes no name");
                }
                s->syms_full = true;
                return false;
            }
            AirSym y = {e->name, SYM_OTHER};
            int32_t n = s->k->nsyms;
            ARR_PUSH(s->a, s->k->syms, s->k->nsyms, s->cap_syms, y);
            if (s->k->nsyms == n) return false;   /* out of memory */
            *out = (AirDim){s->k->nsyms - 1, 0};
            return true;
        }
        if (d->kind != DECL_CONST) {
            sema_error(s, e->loc, "a dim must be a size name or a compile-time integer; '%s' is a %s",
                       e->name, d->kind == DECL_PARAM ? "runtime param" : "declaration");
            return false;
        }
    }
    Value v;
    if (!sema_fold(s, e, &v)) return false;
    if (v.ty != TY_I32 || v.v < 1) {
        sema_error(s, e->loc, "a dim must be a positive integer");
        return false;
    }
    *out = (AirDim){-1, (int64_t)v.v};
    return true;
}

static bool same_dim(AirDim x, AirDim y) { return x.sym == y.sym && (x.sym >= 0 || x.size == y.size); }

static const char *dim_text(Sema *s, AirDim d)
{
    return d.sym >= 0 ? s->k->syms[d.sym].name : arena_printf(s->a, "%lld", (long long)d.size);
}

/* t1's dim p1 must be t2's dim p2 (docs/language.md section 4). */
static bool agree(Sema *s, Decl *t1, int p1, Decl *t2, int p2, const char *what)
{
    if (!t1 || !t2 || t1->id < 0 || t2->id < 0) return true;
    AirDim x = s->k->tensors[t1->id].dims[p1], y = s->k->tensors[t2->id].dims[p2];
    if (same_dim(x, y)) return true;
    sema_error(s, t1->shape.items[p1]->loc, "%s of '%s' is %s but %s of '%s' is %s", what, t1->name,
               dim_text(s, x), what, t2->name, dim_text(s, y));
    sema_note(s, t2->shape.items[p2]->loc, "'%s' is declared here", t2->name);
    return false;
}

static bool head_dim(Sema *s, Decl *t, int32_t *out)
{
    if (!t || t->id < 0) return true;
    AirDim d = s->k->tensors[t->id].dims[3];
    Expr *e = t->shape.items[3];
    if (d.sym >= 0) {
        sema_error(s, e->loc, "head dim '%s' must be known at compile time", dim_text(s, d));
        sema_hint(s, "write a number or a const, for example 128");
        return false;
    }
    if (d.size < 16 || d.size > 256) {
        sema_error(s, e->loc, "unsupported head dim %lld: attnc supports 16 to 256", (long long)d.size);
        return false;
    }
    *out = (int32_t)d.size;
    return true;
}

static void set_role(Sema *s, Decl *t, int pos, AirSymRole role)
{
    if (!t || t->id < 0) return;
    AirDim d = s->k->tensors[t->id].dims[pos];
    if (d.sym >= 0 && s->k->syms[d.sym].role == SYM_OTHER) s->k->syms[d.sym].role = role;
}

/* Ranks and dtypes of the operator's tensors, then the dims' agreement and head dims. */
static bool check_operator(Sema *s)
{
    struct { Decl *t; int rank; const char *dims; } req[] = {
        {s->tq, 4, "[B, Hq, Lq, Dk]"}, {s->tk, 4, "[B, Hkv, Lk, Dk]"}, {s->tv, 4, "[B, Hkv, Lk, Dv]"},
        {s->to, 4, "[B, Hq, Lq, Dv]"}, {s->tlse, 3, "[B, Hq, Lq]"},
    };
    bool ok = true;
    for (int k = 0; k < 4; k++)
        if (!req[k].t || req[k].t->id < 0) return false;   /* reported by sema_tensors */
    for (int k = 0; k < 5; k++) {
        Decl *t = req[k].t;
        if (!t || t->id < 0) continue;
        AirTensor *at = &s->k->tensors[t->id];
        if (at->rank != req[k].rank) {
            sema_error(s, t->loc, "'%s' must have %d dims %s; got %d", t->name, req[k].rank,
                       req[k].dims, at->rank);
            t->id = -1;
            ok = false;
        } else if (at->dtype == DT_I32 || (k == 4 && at->dtype != DT_F32)) {
            sema_error(s, t->type_loc, "'%s' cannot be %s", t->name, sema_dtype_text(at->dtype));
            sema_hint(s, k == 4 ? "lse is always f32" : "q, k, v and o are f32, f16 or bf16");
            ok = false;
        }
    }
    if (!ok) return false;
    ok &= agree(s, s->tk, 0, s->tq, 0, "batch dim");
    ok &= agree(s, s->tk, 3, s->tq, 3, "head dim");
    ok &= agree(s, s->tv, 0, s->tk, 0, "batch dim");
    /* a recurrence runs over o's heads, and q, k, v may each have fewer (section 10) */
    bool rec = s->state != NULL;
    if (!rec) ok &= agree(s, s->tv, 1, s->tk, 1, "kv head count");
    ok &= agree(s, s->tv, 2, s->tk, 2, "key length");
    ok &= agree(s, s->to, 0, s->tq, 0, "batch dim");
    if (!rec) ok &= agree(s, s->to, 1, s->tq, 1, "query head count");
    ok &= agree(s, s->to, 2, s->tq, 2, "query length");
    ok &= agree(s, s->to, 3, s->tv, 3, "value dim");
    for (int p = 0; p < 3; p++) ok &= agree(s, s->tlse, p, s->tq, p, "dim");
    bool dk_ok = head_dim(s, s->tq, &s->k->dk), dv_ok = head_dim(s, s->tv, &s->k->dv);
    ok = ok && dk_ok && dv_ok;
    if (!ok) return false;
    AirDim hq = s->k->tensors[s->tq->id].dims[1], hkv = s->k->tensors[s->tk->id].dims[1];
    Decl *heads[3] = {s->tq, s->tk, s->tv};
    for (int x = 0; rec && x < 3; x++) {
        AirDim ho = s->k->tensors[s->to->id].dims[1], ht = s->k->tensors[heads[x]->id].dims[1];
        if (ho.sym < 0 && ht.sym < 0 && ho.size % ht.size != 0) {
            sema_error(s, heads[x]->shape.items[1]->loc, "o's %lld heads is not a multiple of %lld heads of '%s'",
                       (long long)ho.size, (long long)ht.size, heads[x]->name);
            sema_hint(s, "head h of o reads head h / (Ho / H) of q, k and v");
            return false;
        }
    }
    if (hq.sym < 0 && hkv.sym < 0 && hq.size % hkv.size != 0) {
        sema_error(s, s->tq->shape.items[1]->loc, "%lld query heads is not a multiple of %lld kv heads",
                   (long long)hq.size, (long long)hkv.size);
        sema_hint(s, "GQA needs Hq to be a multiple of Hkv");
        return false;
    }
    set_role(s, s->tq, 0, SYM_B);
    set_role(s, s->tq, 1, SYM_HQ);
    set_role(s, s->tq, 2, SYM_LQ);
    set_role(s, s->tk, 1, SYM_HKV);
    set_role(s, s->tk, 2, SYM_LK);
    return true;
}

bool sema_tensors(Sema *s)
{
    bool ok = true, full = false;
    AirKernel *k = s->k;
    int32_t cap = 0;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (d->kind != DECL_IN && d->kind != DECL_OUT) continue;
        if (k->ntensors == ABI_MAX_TENSORS) {   /* the launch arguments' t[] */
            if (!full) {
                sema_error(s, d->name_loc, "'%s' is one tensor too many: a spec has at most %d "
                           "(in and out together)", d->name, ABI_MAX_TENSORS);
                sema_hint(s, "side tensors of one shape can be stacked into one with a dim more");
            }
            ok = false;
            full = true;
            continue;
        }
        AirTensor t = {.name = d->name, .is_output = d->kind == DECL_OUT, .rank = d->shape.count};
        bool tok = parse_dtype(s, d, &t.dtype);
        t.role = d == s->tq ? ROLE_Q : d == s->tk ? ROLE_K : d == s->tv ? ROLE_V :
                 d == s->to ? ROLE_O : d == s->tlse ? ROLE_LSE : d == s->tsin ? ROLE_STATE_IN :
                 d == s->tsout ? ROLE_STATE_OUT : d == s->tselout ? ROLE_SEL_OUT :
                 d == s->tselin ? ROLE_SEL_IN : ROLE_SIDE;
        int max_rank = t.role == ROLE_SIDE ? AIR_MAX_ARGS : AIR_MAX_RANK;
        if (t.rank > max_rank) {
            sema_error(s, d->shape.items[max_rank]->loc, "'%s' has %d dims; at most %d are supported",
                       d->name, t.rank, max_rank);
            ok = false;
            continue;
        }
        for (int32_t p = 0; p < t.rank; p++) tok &= shape_dim(s, d->shape.items[p], &t.dims[p]);
        if (!tok) {
            ok = false;
            continue;
        }
        int32_t n = k->ntensors;
        ARR_PUSH(s->a, k->tensors, k->ntensors, cap, t);
        d->id = k->ntensors > n ? n : -1;   /* -1: out of memory */
    }
    k->tq = s->tq ? s->tq->id : -1;
    k->tk = s->tk ? s->tk->id : -1;
    k->tv = s->tv ? s->tv->id : -1;
    k->to = s->to ? s->to->id : -1;
    k->tlse = s->tlse ? s->tlse->id : -1;
    k->tsin = s->tsin ? s->tsin->id : -1;
    k->tsout = s->tsout ? s->tsout->id : -1;
    k->tselout = s->tselout ? s->tselout->id : -1;
    k->tselin = s->tselin ? s->tselin->id : -1;
    return check_operator(s) && ok;
}

bool sema_params(Sema *s)
{
    bool ok = true, full = false;
    int32_t cap = 0;
    for (Decl *d = s->at->decls; d; d = d->next) {
        if (d->kind != DECL_PARAM) continue;
        if (s->k->nparams == ABI_MAX_PARAMS) {   /* the launch arguments' iparam[], fparam[] */
            if (!full) {
                sema_error(s, d->name_loc, "'%s' is one param too many: a spec has at most %d",
                           d->name, ABI_MAX_PARAMS);
                sema_hint(s, "a value that needs no change between launches can be a const");
            }
            ok = false;
            full = true;
            continue;
        }
        AirParam p = {.name = d->name};
        if (!strcmp(d->type, "i32")) p.type = PARAM_I32, d->const_ty = air_scalar(TY_I32);
        else if (!strcmp(d->type, "f32")) p.type = PARAM_F32, d->const_ty = air_scalar(TY_F32);
        else if (!strcmp(d->type, "bool")) p.type = PARAM_BOOL, d->const_ty = air_scalar(TY_BOOL);
        else {
            sema_error(s, d->type_loc, "a param must be i32, f32 or bool; got '%s'", d->type);
            ok = false;
            continue;
        }
        Value v;
        if (d->expr && sema_fold(s, d->expr, &v)) {
            bool fits = v.ty == d->const_ty.kind || (v.ty == TY_I32 && p.type == PARAM_F32);
            if (!fits) {
                sema_error(s, d->expr->loc, "the default of '%s' must be %s; got %s", d->name,
                           d->type, sema_type_text(s->a, air_scalar(v.ty)));
                ok = false;
            }
            p.has_default = true;
            p.def = v.v;
        } else if (d->expr) {
            ok = false;
        }
        int32_t n = s->k->nparams;
        ARR_PUSH(s->a, s->k->params, s->k->nparams, cap, p);
        d->id = s->k->nparams > n ? n : -1;   /* -1: out of memory */
    }
    return ok;
}

bool sema_state_shape(Sema *s)
{
    Decl *d = s->state;
    AirDim dims[2];
    if (strcmp(d->type, "f32")) {
        sema_error(s, d->type_loc, "a state is f32; got '%s'", d->type);
        return false;
    }
    if (d->shape.count != 2) {
        sema_error(s, d->loc, "a state is a matrix f32[Dk, Dv]; got %d dims", d->shape.count);
        return false;
    }
    for (int p = 0; p < 2; p++) {
        Value v;
        if (!sema_fold(s, d->shape.items[p], &v)) return false;
        if (v.ty != TY_I32 || v.v < 1) {
            sema_error(s, d->shape.items[p]->loc, "a state dim must be a positive integer");
            return false;
        }
        dims[p] = (AirDim){-1, (int64_t)v.v};
    }
    if (dims[0].size != s->k->dk || dims[1].size != s->k->dv) {
        sema_error(s, d->loc, "the state must be f32[Dk, Dv] = f32[%d, %d]; got f32[%lld, %lld]",
                   s->k->dk, s->k->dv, (long long)dims[0].size, (long long)dims[1].size);
        return false;
    }
    s->k->state_rows = (int32_t)dims[0].size;
    s->k->state_cols = (int32_t)dims[1].size;
    return true;
}
