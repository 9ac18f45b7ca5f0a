/* air.c: building AIR. The node pool grows inside the compilation's arena; constants are plain
 * leaves. The op table comes from the AIR_OPS X-macro, so names, arities and kinds are defined
 * once for the printer, parser, verifier and folder. */
#include "air.h"
#include "dtype.h"

#include <math.h>
#include <string.h>

const AirOpInfo air_ops[OP_COUNT] = {
#define X(E, S, N, K) [OP_##E] = {S, N, OPK_##K},
    AIR_OPS(X)
#undef X
};

AirKernel *air_new(Arena *a, const char *name)
{
    AirKernel *k = arena_alloc(a, sizeof *k);
    if (!k) return NULL;
    k->name = name ? arena_strdup(a, name) : NULL;
    k->kind = KIND_SOFTMAX;
    k->tq = k->tk = k->tv = k->to = k->tlse = k->tsin = k->tsout = k->tselout = k->tselin = -1;
    for (int h = 0; h < HOOK_COUNT; h++) k->hook[h] = -1;
    return k;
}

int32_t air_add(Arena *a, AirKernel *k, AirNode n)
{
    if (k->nnodes == k->capnodes) {
        int32_t ncap = k->capnodes ? k->capnodes * 2 : 32;
        AirNode *np = arena_realloc(a, k->nodes, sizeof(AirNode) * (size_t)k->capnodes,
                                    sizeof(AirNode) * (size_t)ncap);
        if (!np) return -1;
        k->nodes = np;
        k->capnodes = ncap;
    }
    k->nodes[k->nnodes] = n;
    return k->nnodes++;
}

AirType air_scalar(AirTypeKind kind) { return (AirType){kind, 0, 0}; }

static int32_t air_const(Arena *a, AirKernel *k, AirTypeKind ty, double v)
{
    AirNode n = {.op = OP_CONST, .ty = air_scalar(ty), .ref = -1, .num = v};
    return air_add(a, k, n);
}

int32_t air_const_f32(Arena *a, AirKernel *k, double v) { return air_const(a, k, TY_F32, (float)v); }
int32_t air_const_i32(Arena *a, AirKernel *k, int64_t v)
{
    return air_const(a, k, TY_I32, (double)(int32_t)v);
}
int32_t air_const_bool(Arena *a, AirKernel *k, bool v) { return air_const(a, k, TY_BOOL, v ? 1 : 0); }

static const char *const dtype_names[DT_COUNT] = {"f32", "f16", "bf16", "i32", "f64"};
static const size_t dtype_sizes[DT_COUNT] = {4, 2, 2, 4, 8};

const char *air_dtype_name(AirDtype d) { return (unsigned)d < DT_COUNT ? dtype_names[d] : "?"; }
size_t air_dtype_size(AirDtype d) { return (unsigned)d < DT_COUNT ? dtype_sizes[d] : 0; }

bool air_type_eq(AirType a, AirType b)
{
    return a.kind == b.kind && a.rows == b.rows && a.cols == b.cols;
}

const char *const air_index_names[IX_COUNT] = {"b", "h", "i", "j", "t"};
const char *const air_role_names[ROLE_COUNT] = {"q", "k", "v", "o", "lse", "side", "state_in", "state_out",
                                                "sel_out", "sel_in"};
const char *const air_sym_role_names[SYM_OTHER + 1] = {"b", "hq", "hkv", "lq", "lk", "other"};
const char *const air_hook_names[HOOK_COUNT] = {"scale", "score", "mask", "sink",
                                                "select", "state", "out"};

bool air_scalar_apply(AirOp op, bool ints, const double *x, double *out)
{
    double a = x[0], b = air_ops[op].arity > 1 ? x[1] : 0, r;
    if (ints && air_ops[op].kind == OPK_ARITH) {
        /* exact 64-bit arithmetic on i32 values, then wrap as the kernel's i32 would */
        int64_t p = (int64_t)a, q = (int64_t)b, v;
        switch (op) {
        case OP_NEG: v = -p; break;
        case OP_ADD: v = p + q; break;
        case OP_SUB: v = p - q; break;
        case OP_MUL: v = p * q; break;
        case OP_DIV: v = q == 0 ? 0 : p / q; break;
        case OP_MOD: v = q == 0 ? 0 : p % q; break;
        case OP_MIN: v = p < q ? p : q; break;
        case OP_MAX: v = p > q ? p : q; break;
        default: v = p < 0 ? -p : p; break;   /* ABS */
        }
        *out = (double)(int32_t)(uint32_t)(uint64_t)v;
        return true;
    }
    switch (op) {
    case OP_NEG: r = -a; break;
    case OP_ADD: r = a + b; break;
    case OP_SUB: r = a - b; break;
    case OP_MUL: r = a * b; break;
    case OP_DIV: r = a / b; break;
    case OP_MOD: r = b == 0 ? 0 : fmod(a, b); break;
    case OP_MIN: r = a < b ? a : b; break;
    case OP_MAX: r = a > b ? a : b; break;
    case OP_ABS: r = fabs(a); break;
    case OP_POW: r = pow(a, b); break;
    case OP_EXP: r = exp(a); break;
    case OP_EXP2: r = exp2(a); break;
    case OP_LOG: r = log(a); break;
    case OP_LOG2: r = log2(a); break;
    case OP_SQRT: r = sqrt(a); break;
    case OP_RSQRT: r = 1 / sqrt(a); break;
    case OP_TANH: r = tanh(a); break;
    case OP_SIGMOID: r = 1 / (1 + exp(-a)); break;
    case OP_RELU: r = a > 0 ? a : 0; break;
    case OP_SOFTPLUS: r = a > 30 ? a : log1p(exp(a)); break;
    case OP_FLOOR: r = floor(a); break;
    case OP_CEIL: r = ceil(a); break;
    case OP_TOF32: r = a; break;
    /* saturating, NaN to 0: what every target's kernels do (llvm.fptosi.sat) */
    case OP_TOI32:
        r = isnan(a) ? 0 : a >= 2147483647.0 ? 2147483647.0 : a <= -2147483648.0 ? -2147483648.0
                                                                                : trunc(a);
        *out = r;
        return true;
    case OP_LT: r = a < b; break;
    case OP_LE: r = a <= b; break;
    case OP_GT: r = a > b; break;
    case OP_GE: r = a >= b; break;
    case OP_EQ: r = a == b; break;
    case OP_NE: r = a != b; break;
    case OP_AND: r = a != 0 && b != 0; break;
    case OP_OR: r = a != 0 || b != 0; break;
    case OP_NOT: r = a == 0; break;
    case OP_SELECT: r = a != 0 ? x[1] : x[2]; break;
    default: return false;
    }
    *out = r;
    return true;
}

double air_read_elem(const void *data, AirDtype dt, int64_t off)
{
    switch (dt) {
    case DT_F32: return ((const float *)data)[off];
    case DT_F16: return dtype_f16_to_f32(((const uint16_t *)data)[off]);
    case DT_BF16: return dtype_bf16_to_f32(((const uint16_t *)data)[off]);
    case DT_I32: return ((const int32_t *)data)[off];
    default: return ((const double *)data)[off];
    }
}

void air_reach(const AirKernel *k, int32_t root, uint8_t *mark)
{
    if (root < 0 || root >= k->nnodes) return;
    mark[root] = 1;
    for (int32_t id = root; id >= 0; id--) {
        if (!mark[id]) continue;
        for (int a = 0; a < k->nodes[id].nargs && a < AIR_MAX_ARGS; a++)
            if (k->nodes[id].args[a] >= 0 && k->nodes[id].args[a] < id) mark[k->nodes[id].args[a]] = 1;
    }
}
