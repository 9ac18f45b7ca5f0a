/* test_recur.c: the recurrence kernels against the f64 reference, through libattn (compile,
 * launch over the thread pool, attn_reference). Every family of docs/language.md section 10
 * (decay, per-key decay, delta rule; written in several ways), head dims equal and not, T in
 * {1, 37, 64, 65, 1000 (300 for the scans)}, GQA (Hq 4, Hkv 2) and the converse (v and o with 4 heads, q and k
 * with 2, as Qwen3-Next's Gated DeltaNet), q, k, v, o in f32, bf16 and f16, a BTHD layout
 * through strides, T = 8192 for drift, and extreme gates: a log decay of -20 per step (the state
 * all but reset each step) and of -1e-6 (kept), betas 0 and 1; an initial and a final state
 * against the reference (T 0, 1, 37), and a sequence run in pieces with the state carried.
 *
 * Six updates outside the families run through the sequential scan (skel_scan.c): Kimi's delta
 * rule with a per-key decay, a column scaling, a nonlinear state, an output with a skip term, a
 * matrix-vector product of the state, and state-dependent gates.
 *
 * Tolerances, relative Frobenius error of o over the whole tensor: f32 1e-5, bf16 4e-3, f16
 * 1e-3. The reference reads the same rounded inputs, so only the kernel's f32 arithmetic and
 * the output's rounding differ: measured f32 errors are 2e-7..4e-7 at T 1000 and stay there at
 * T 8192 (the state is a sum of decayed terms, not a product); bf16 and f16 are twice their
 * formats' relative rounding (2^-9, 2^-11).
 *
 * On a GPU target (sm_90a, sm_80) the same matrix runs through device copies, f32 cases in bf16
 * (the GPU kernels take bf16 or f16), and the sequential scans must be refused with their
 * reason; the carried-state and failing-reference checks are the CPU's (host f32).
 *
 * usage: test_recur [TARGET]   (default native) */
#include "rt.h"
#include "test_util.h"
#include "test_tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A spec over q, k: [B, Hkv, T, DK] (q with Hq heads), v: [B, Hkv, T, DV], side tensors g, gk
 * (log decays), beta (gates), o: [B, Hq, T, DV]; with `state`, an initial state s0 and a final
 * state s1, f32[B, Hq, DK, DV]. */
static char *spec(const char *name, int dk, int dv, const char *update, bool state, bool vheads)
{
    static char buf[4096];
    /* head names: q, k, v, then o and the side tensors (which run over o's heads) */
    const char *hq = vheads ? "Hk" : "Hq", *hk = vheads ? "Hk" : "Hkv", *hv = vheads ? "Hv" : "Hkv";
    const char *ho = vheads ? "Hv" : "Hq";
    char st[256];
    if (state)
        snprintf(st, sizeof st, "  in  s0: f32[B, %s, Dk, Dv];\n  out s1: f32[B, %s, Dk, Dv];\n"
                                "  s1 = S;\n  state S: f32[Dk, Dv] = s0;\n", ho, ho);
    else
        snprintf(st, sizeof st, "  state S: f32[Dk, Dv];\n");
    snprintf(buf, sizeof buf,
             "attention %s {\n"
             "  in  q: f32[B, %s, T, %d];\n"
             "  in  k: f32[B, %s, T, %d];\n"
             "  in  v: f32[B, %s, T, %d];\n"
             "  in  g: f32[B, %s, T];\n"
             "  in  gk: f32[B, %s, T, %d];\n"
             "  in  beta: f32[B, %s, T];\n"
             "  out o: f32[B, %s, T, %d];\n"
             "%s"
             "  %s\n"
             "}\n",
             name, hq, dk, hk, dk, hv, dv, ho, ho, dk, ho, ho, dv, st, update);
    return buf;
}

typedef struct Family {
    const char *name, *update;
} Family;

static const Family families[] = {
    {"linear", "S = S + outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"retnet", "S = (1.0 - exp2(-5.0 - h)) * S + rsqrt(float(Dk)) * outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"mamba2", "S = exp(g[b, h, t]) * S + outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"gla", "S = diag(exp(gk[b, h, t])) @ S + outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"deltanet", "S = S + beta[b, h, t] * outer(k[t], v[t] - k[t] @ S);\n  o[t] = 0.5 * (q[t] @ S);"},
    {"gated_deltanet",
     "S = exp(g[b, h, t]) * (S - beta[b, h, t] * outer(k[t], k[t] @ S)) + beta[b, h, t] * outer(k[t], v[t]);\n"
     "  o[t] = q[t] @ S;"},
    /* no family's form: the sequential scan (pass_recur_form says why) */
    {"scan_kda",   /* Kimi's delta rule with a per-key decay */
     "S = diag(exp(gk[b, h, t])) @ S - beta[b, h, t] * outer(k[t], k[t] @ (diag(exp(gk[b, h, t])) @ S))\n"
     "      + beta[b, h, t] * outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"scan_colscale", "S = S @ diag(sigmoid(v[t])) + outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"scan_tanh", "S = 0.9 * tanh(S) + outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"scan_skip", "S = exp(g[b, h, t]) * S + outer(k[t], v[t]);\n  o[t] = q[t] @ S + 0.5 * v[t];"},
    {"scan_oja", "S = S - outer(S @ v[t], v[t]) / float(Dv) + outer(k[t], v[t]);\n  o[t] = q[t] @ S;"},
    {"scan_gate", "S = exp(-0.01 * sqnorm(k[t] @ S)) * S + outer(k[t], v[t]);\n"
                  "  o[t] = (q[t] @ S) * sigmoid(dot(q[t], k[t]));"},
};
enum { NFAM = sizeof families / sizeof families[0] };

typedef struct Case {
    int fam, dk, dv;
    int64_t T;
    const char *dtype;
    bool bthd;                  /* q, k, v, o stored [B, T, H, D] */
    double glo, ghi;            /* log decays g and gk uniform in [glo, ghi) */
    double blo, bhi;            /* betas */
    bool state;                 /* with an initial and a final state */
    bool vheads;                /* q and k with Hkv heads, v and o with Hq (Qwen3-Next) */
} Case;

/* Relative Frobenius error of a kernel's output against the reference's (any layout). */
static double rel_error(const AttnTensor *got, const AttnTensor *ref, bool *finite)
{
    double e2 = 0, r2 = 0;
    int64_t n = 1;
    for (int d = 0; d < got->rank; d++) n *= got->shape[d];
    for (int64_t x = 0; x < n; x++) {
        int64_t e = 0, rest = x;
        for (int d = got->rank - 1; d >= 0; d--) e += (rest % got->shape[d]) * got->strides[d], rest /= got->shape[d];
        double g = get(got, e), r = get(ref, e);
        *finite = *finite && isfinite(g) && isfinite(r);
        e2 += (g - r) * (g - r);
        r2 += r * r;
    }
    return sqrt(e2 / (r2 > 0 ? r2 : 1));
}

static int runs;

static bool is_gpu(const char *target) { return !strncmp(target, "sm_", 3); }

/* attn_launch on host tensors; on a GPU target through device copies of them (n tensors of
 * elems[i] elements each), the outputs copied back. */
static AttnStatus launch(const char *target, AttnKernel *k, AttnTensor *t, int n, const int64_t *elems)
{
    AttnLaunchOptions lo = {.num_threads = 2};
    if (!is_gpu(target)) return attn_launch(k, t, n, NULL, 0, &lo);
    AttnTensor d[16];
    AttnStatus st = ATTN_OK;
    for (int i = 0; i < n; i++) {
        d[i] = t[i];
        d[i].data = NULL;
        size_t bytes = (size_t)elems[i] * dsize(t[i].dtype);
        if (st == ATTN_OK) st = rt_dev_alloc(bytes, &d[i].data);
        if (st == ATTN_OK) st = rt_dev_upload(d[i].data, t[i].data, bytes);
    }
    if (st == ATTN_OK) st = attn_launch(k, d, n, NULL, 0, &lo);
    if (st == ATTN_OK) st = rt_dev_sync(NULL);
    for (int i = 0; i < n; i++) {
        if (st == ATTN_OK && attn_kernel_tensor_kind(k, i) == ATTN_ARG_OUT)
            st = rt_dev_download(t[i].data, d[i].data, (size_t)elems[i] * dsize(t[i].dtype));
        rt_dev_free(d[i].data);
    }
    return st;
}

static void run_case(const char *target, Case c)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%d_%d", families[c.fam].name, c.dk, c.dv);
    if (is_gpu(target) && !strcmp(c.dtype, "f32")) c.dtype = "bf16";   /* GPU: bf16 or f16 */
    AttnCompileOptions opts = {.target = target, .no_cache = 1, .dtype = c.dtype};
    AttnKernel *k = NULL;
    AttnStatus st = attn_compile(spec(name, c.dk, c.dv, families[c.fam].update, c.state, c.vheads), name, &opts, &k);
    if (is_gpu(target) && c.fam >= 6) {   /* the sequential scans: CPU targets only, said so */
        CHECK_MSG(st == ATTN_ERR_UNSUPPORTED && strstr(attn_last_error(), "sequential scan"),
                  "%s on %s: the scan must be refused with its reason, got: %s", name, target,
                  st == ATTN_OK ? "a kernel" : attn_last_error());
        attn_kernel_free(k);
        return;
    }
    CHECK_MSG(st == ATTN_OK, "%s on %s: %s", name, target, attn_last_error());
    if (st != ATTN_OK) return;
    const int64_t B = 2, Hq = 4, Hkv = 2, T = c.T;
    int n = attn_kernel_num_tensors(k);
    AttnTensor t[16], ref[16];
    int64_t elems[16];
    for (int i = 0; i < n; i++) {
        const char *tn = attn_kernel_tensor_name(k, i);
        bool head = !strcmp(tn, "q") || !strcmp(tn, "k") || !strcmp(tn, "v") || !strcmp(tn, "o");
        int64_t H = !strcmp(tn, "k") || !strcmp(tn, c.vheads ? "q" : "v") ? Hkv : Hq;
        int64_t D = !strcmp(tn, "v") || !strcmp(tn, "o") ? c.dv : c.dk;
        int rank = attn_kernel_tensor_rank(k, i);
        t[i] = (AttnTensor){.dtype = attn_kernel_tensor_dtype(k, i), .rank = rank};
        int64_t shape[4] = {B, H, T, D};
        if (tn[0] == 's') shape[2] = c.dk, shape[3] = c.dv;   /* s0, s1: [B, Hq, Dk, Dv] */
        for (int d = 0; d < rank; d++) t[i].shape[d] = shape[d];
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) t[i].strides[d] = s, s *= shape[d];
        if (head && c.bthd) {   /* [B, T, H, D] in memory */
            t[i].strides[3] = 1;
            t[i].strides[1] = D;
            t[i].strides[2] = H * D;
            t[i].strides[0] = T * H * D;
        }
        t[i].data = calloc((size_t)s + 1, dsize(t[i].dtype));
        elems[i] = s + 1;
        for (int64_t e = 0; e < s; e++) {
            double x = urand();
            if (!strcmp(tn, "g") || !strcmp(tn, "gk")) x = c.glo + (c.ghi - c.glo) * x;
            else if (!strcmp(tn, "beta")) x = c.blo + (c.bhi - c.blo) * x;
            else if (!strcmp(tn, "s0")) x = 2 * x - 1;
            else if (strcmp(tn, "v")) x = (2 * x - 1) / sqrt((double)c.dk);   /* q, k */
            else x = 2 * x - 1;
            put(&t[i], e, x);
        }
        ref[i] = t[i];
        if (attn_kernel_tensor_kind(k, i) == ATTN_ARG_OUT) {
            ref[i].dtype = ATTN_F64;
            ref[i].data = calloc((size_t)s + 1, 8);
        }
    }
    st = launch(target, k, t, n, elems);
    CHECK_MSG(st == ATTN_OK, "%s launch: %s", name, attn_last_error());
    AttnStatus rs = attn_reference(k, ref, n, NULL, 0);
    CHECK_MSG(rs == ATTN_OK, "%s reference: %s", name, attn_last_error());
    int o = attn_kernel_tensor_index(k, "o"), s1 = attn_kernel_tensor_index(k, "s1");
    bool finite = true;
    double rel = rel_error(&t[o], &ref[o], &finite);
    if (s1 >= 0) {   /* the final state is f32: the f32 tolerance */
        double srel = rel_error(&t[s1], &ref[s1], &finite);
        CHECK_MSG(srel <= 1e-5, "%s %s: final state rel %.2e", name, c.dtype, srel);
    }
    AttnDtype odt = t[o].dtype;
    double tol = odt == ATTN_BF16 ? 4e-3 : odt == ATTN_F16 ? 1e-3 : 1e-5;
    bool ok = st == ATTN_OK && rs == ATTN_OK && finite && rel <= tol;
    CHECK_MSG(ok, "%s %s %s T %lld%s g [%g, %g) beta [%g, %g): o rel %.2e (tol %.0e)%s", name, target,
              c.dtype, (long long)T, c.bthd ? " BTHD" : "", c.glo, c.ghi, c.blo, c.bhi, rel, tol,
              finite ? "" : ", not finite");
    if (getenv("TEST_RECUR_VERBOSE"))
        printf("%-26s %-9s %-4s T %5lld%s  rel %.2e\n", name, target, c.dtype, (long long)T,
               c.bthd ? " BTHD" : "", rel);
    runs++;
    for (int i = 0; i < n; i++) {
        free(t[i].data);
        if (ref[i].data != t[i].data) free(ref[i].data);
    }
    attn_kernel_free(k);
}

/* A sequence run in pieces of 37, 1 and 62 steps, each starting from the state the previous
 * one ended with, gives the outputs and the final state of one run over all 100 steps, bit for
 * bit: the scan does the same arithmetic per step whatever the pieces. */
static void carried(const char *target, int fam)
{
    char name[64];
    snprintf(name, sizeof name, "carry_%s", families[fam].name);
    AttnCompileOptions opts = {.target = target, .no_cache = 1};
    AttnKernel *k = NULL;
    AttnStatus st = attn_compile(spec(name, 64, 48, families[fam].update, true, false), name, &opts, &k);
    CHECK_MSG(st == ATTN_OK, "%s: %s", name, attn_last_error());
    if (st != ATTN_OK) return;
    enum { B = 2, HQ = 4, HKV = 2, T = 100, DK = 64, DV = 48 };
    int n = attn_kernel_num_tensors(k);
    AttnTensor t[16];
    float *buf[16];
    for (int i = 0; i < n; i++) {
        const char *tn = attn_kernel_tensor_name(k, i);
        int64_t H = !strcmp(tn, "k") || !strcmp(tn, "v") ? HKV : HQ;
        int64_t shape[4] = {B, H, tn[0] == 's' ? DK : T, !strcmp(tn, "v") || !strcmp(tn, "o") || tn[0] == 's' ? DV : DK};
        t[i] = (AttnTensor){.dtype = ATTN_F32, .rank = attn_kernel_tensor_rank(k, i)};
        int64_t s = 1;
        for (int d = t[i].rank - 1; d >= 0; d--) t[i].shape[d] = shape[d], t[i].strides[d] = s, s *= shape[d];
        buf[i] = t[i].data = calloc((size_t)s, 4);
        for (int64_t e = 0; e < s; e++) {
            double x = urand();
            buf[i][e] = (float)(tn[0] == 'g' ? -0.1 * x : !strcmp(tn, "beta") || !strcmp(tn, "v") ? x
                               : tn[0] == 's' ? 2 * x - 1 : (2 * x - 1) / 8);
        }
    }
    int o = attn_kernel_tensor_index(k, "o"), s0 = attn_kernel_tensor_index(k, "s0"), s1 = attn_kernel_tensor_index(k, "s1");
    size_t ssize = (size_t)B * HQ * DK * DV * 4, osize = (size_t)B * HQ * T * DV * 4;
    float *full_o = malloc(osize), *full_s = malloc(ssize), *state = malloc(ssize);
    AttnLaunchOptions lo = {.num_threads = 2};
    CHECK(attn_launch(k, t, n, NULL, 0, &lo) == ATTN_OK);
    memcpy(full_o, buf[o], osize);
    memcpy(full_s, buf[s1], ssize);
    memcpy(state, buf[s0], ssize);
    memset(buf[o], 0, osize);
    static const int pieces[] = {37, 1, 62};
    int t0 = 0;
    for (int p = 0; p < 3; p++) {
        AttnTensor v[16];
        for (int i = 0; i < n; i++) {
            v[i] = t[i];
            if (t[i].rank >= 3 && i != s0 && i != s1) {   /* a window of steps t0 .. t0 + len */
                v[i].data = buf[i] + (int64_t)t0 * t[i].strides[2];
                v[i].shape[2] = pieces[p];
            }
        }
        memcpy(buf[s0], state, ssize);
        CHECK(attn_launch(k, v, n, NULL, 0, &lo) == ATTN_OK);
        memcpy(state, buf[s1], ssize);
        t0 += pieces[p];
    }
    CHECK_MSG(!memcmp(full_o, buf[o], osize), "%s: the pieces' outputs differ from one run's", name);
    CHECK_MSG(!memcmp(full_s, state, ssize), "%s: the pieces' final state differs from one run's", name);
    runs++;
    for (int i = 0; i < n; i++) free(buf[i]);
    free(full_o), free(full_s), free(state);
    attn_kernel_free(k);
}

/* attn_reference writes nothing of the outputs when it fails partway (docs/api.md): here the
 * reference reads q[10 - t] and fails at t = 11, after it has computed ten steps of o. */
static void reference_fails_cleanly(const char *target)
{
    static const char *text =
        "attention late_fail {\n  in q: f32[B, H, T, 32];\n  in k: f32[B, H, T, 32];\n"
        "  in v: f32[B, H, T, 32];\n  out o: f32[B, H, T, 32];\n  state S: f32[Dk, Dv];\n"
        "  S = S + outer(k[t], v[t]);\n  o[t] = q[10 - t] @ S;\n}\n";
    AttnCompileOptions opts = {.target = target, .no_cache = 1};
    AttnKernel *k = NULL;
    CHECK(attn_compile(text, "late_fail", &opts, &k) == ATTN_OK);
    if (!k) return;
    enum { T = 20, N = 2 * T * 32 };
    static float in[3][N], o[N];
    for (int i = 0; i < N; i++) in[0][i] = in[1][i] = in[2][i] = 0.25f, o[i] = 777.0f;
    AttnTensor t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (AttnTensor){.data = i < 3 ? in[i] : o, .dtype = ATTN_F32, .rank = 4,
                            .shape = {1, 2, T, 32}, .strides = {2 * T * 32, T * 32, 32, 1}};
    }
    AttnStatus st = attn_reference(k, t, 4, NULL, 0);
    CHECK_MSG(st == ATTN_ERR_ARG && strstr(attn_last_error(), "row"), "the reference at t = 11: %s",
              attn_last_error());
    bool untouched = true;
    for (int i = 0; i < N; i++) untouched &= o[i] == 777.0f;
    CHECK_MSG(untouched, "a failed reference wrote its outputs");
    runs++;
    attn_kernel_free(k);
}

int main(int argc, char **argv)
{
    const char *target = argc > 1 ? argv[1] : "native";
    static const char *const dtypes[] = {"f32", "bf16", "f16"};
    static const int dims[][2] = {{64, 64}, {96, 96}, {48, 80}, {128, 64}, {32, 256}};
    static const int64_t lens[] = {1, 37, 64, 65};
    for (int f = 0; f < NFAM; f++) {
        Case base = {.fam = f, .glo = -0.1, .ghi = -0.001, .blo = 0, .bhi = 1};
        for (int d = 0; d < 3; d++)
            for (int l = 0; l < 4; l++) {
                Case c = base;
                c.dk = c.dv = 64, c.T = lens[l], c.dtype = dtypes[d];
                run_case(target, c);
            }
        for (int s = 1; s < 5; s++) {
            Case c = base;
            c.dk = dims[s][0], c.dv = dims[s][1], c.T = 65, c.dtype = "f32";
            run_case(target, c);
        }
        Case c = base;
        bool scan = f >= 6;   /* the sequential scans are slower, and so is their reference: shorter */
        c.dk = c.dv = scan ? 96 : 128, c.T = scan ? 300 : 1000, c.dtype = "bf16";
        run_case(target, c);
        c.dtype = "f32", c.bthd = true, c.T = scan ? 100 : 300;
        run_case(target, c);
        c.bthd = false, c.dk = c.dv = 64, c.T = 65;
        c.glo = -20, c.ghi = -19.5;           /* strong decay: the state all but resets */
        run_case(target, c);
        c.glo = -1e-6, c.ghi = 0;             /* no decay to speak of */
        c.blo = c.bhi = 1;                    /* beta 1: the delta rule replaces k's value */
        run_case(target, c);
        c.blo = c.bhi = 0;                    /* beta 0: nothing is written */
        run_case(target, c);
    }
    Case drift = {.fam = 5, .dk = 64, .dv = 64, .T = 8192, .dtype = "f32", .glo = -0.01, .ghi = -0.0001, .bhi = 1};
    run_case(target, drift);
    for (int f = 0; f < NFAM; f++)
        for (int d = 0; d < 3; d++) {   /* an initial and a final state, against the reference */
            Case c = {.fam = f, .dk = 48, .dv = 80, .T = 37, .dtype = dtypes[d], .glo = -0.1, .ghi = -0.001,
                      .bhi = 1, .state = true};
            run_case(target, c);
            c.T = 1;
            run_case(target, c);
            c.T = 0;
            run_case(target, c);
        }
    for (int f = 0; f < NFAM && !is_gpu(target); f++) carried(target, f);   /* f32, host memory */
    if (!is_gpu(target)) reference_fails_cleanly(target);
    for (int f = 0; f < NFAM; f++) {   /* more value heads than query and key heads */
        Case c = {.fam = f, .dk = 64, .dv = 96, .T = 65, .dtype = "bf16", .glo = -0.1, .ghi = -0.001,
                  .bhi = 1, .vheads = true};
        run_case(target, c);
    }
    printf("%d recurrence runs on %s, %d failure(s)\n", runs, target, test_failures);
    return test_failures != 0;
}
