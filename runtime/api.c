/* api.c: the public entry points of libattn. attn_compile looks the spec up in the disk cache
 * (cache.c) and otherwise runs the compiler; either way the kernel is loaded from one RtEntry
 * (target, AIR text, plan, code), so a cached kernel and a fresh one are built by the same
 * code. The signature queries read the AIR; attn_launch and attn_reference validate first
 * (validate.c) and then run on the kernel's device or in f64. */
#include "rt.h"
#include "build_id.h"
#include "phase_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- loading ------------------------------------------------------------------------------- */

void attn_kernel_free(AttnKernel *k)
{
    if (!k) return;
    if (k->is_gpu)
        rt_gpu_free(k);
    else
        rt_jit_free(k);
    Arena a = k->arena;
    arena_free(&a);
}

AttnStatus rt_kernel_load(const RtEntry *e, void (*const *cpu_fn)(void), AttnKernel **out)
{
    Arena a;
    arena_init(&a);
    AttnKernel *k = arena_alloc(&a, sizeof *k);
    if (!k) {
        arena_free(&a);
        return rt_fail(ATTN_ERR_NOMEM, "out of memory loading a kernel");
    }
    k->target_name = arena_strdup(&a, e->target);
    k->target = rt_target(e->target);
    k->is_gpu = k->target ? k->target->arch == ARCH_PTX : strncmp(e->target, "sm_", 3) == 0;
    k->air_text = arena_strdup(&a, e->air_text);
    /* The plan's strings live in whoever made `e`: a round trip through its bytes copies them. */
    size_t plan_len = 0;
    unsigned char *plan = plan_pack(&a, &e->plan, &plan_len);
    bool plan_ok = plan && plan_unpack(&a, plan, plan_len, &k->plan) == plan_len;
    k->code.size = e->code.size;
    k->code.data = arena_alloc(&a, e->code.size + 1);
    if (k->code.data && e->code.size) memcpy(k->code.data, e->code.data, e->code.size);
    k->arena = a;   /* the arena's blocks move with it; k now owns them */
    if (a.oom || !k->air_text || !k->code.data || !plan_ok) {
        attn_kernel_free(k);
        return rt_fail(ATTN_ERR_NOMEM, "out of memory loading a kernel");
    }
    k->air = rt_air_from_text(&k->arena, k->air_text);
    if (!k->air) {
        attn_kernel_free(k);
        return ATTN_ERR_INTERNAL;   /* message set by rt_air_from_text */
    }
    if (k->air->ntensors > ABI_MAX_TENSORS || k->air->nsyms > ABI_MAX_SYMS ||
        k->air->nparams > ABI_MAX_PARAMS) {
        attn_kernel_free(k);
        return rt_fail(ATTN_ERR_UNSUPPORTED, "kernel has more tensors, symbols or params than "
                       "the launch ABI allows (%d, %d, %d)", ABI_MAX_TENSORS, ABI_MAX_SYMS,
                       ABI_MAX_PARAMS);
    }
    k->mask = rt_mask_info(&k->arena, k->air);
    AttnStatus st = ATTN_OK;
    if (cpu_fn)
        for (int32_t i = 0; i < k->plan.nentries; i++) k->cpu_fn[i] = cpu_fn[i];
    else if (k->target && k->target->arch == ARCH_REFERENCE)
        st = ATTN_OK;   /* no code: launches evaluate the f64 reference */
    else if (k->is_gpu)
        st = rt_gpu_load(k);
    else
        st = rt_jit_load(k);
    if (st != ATTN_OK) {
        attn_kernel_free(k);
        return st;
    }
    *out = k;
    return ATTN_OK;
}

/* ---- compiling ----------------------------------------------------------------------------- */

static void hash_str(RtSha256 *s, const char *str)
{
    const char *v = str ? str : "";
    rt_sha256_update(s, v, strlen(v) + 1);   /* the NUL separates fields */
}

/* The cache key (64 hex digits) of everything that decides the generated code. */
static void cache_key(const char *spec, const AttnCompileOptions *o, const char *target,
                      char key[65])
{
    RtSha256 s;
    rt_sha256_init(&s);
    hash_str(&s, "attnc kernel cache 1");
    hash_str(&s, attn_version());
    hash_str(&s, ATTNC_BUILD_ID); /* the compiler's sources: a rebuilt code generator misses */
    hash_str(&s, target);
    const Target *t = rt_target(target);
    if (t && t->arch == ARCH_CPU && !t->cpu) {   /* code for the host's CPU: its name is part of the key */
        char *cpu = rt_host_cpu();
        hash_str(&s, cpu);
        free(cpu);
    }
    hash_str(&s, o && o->kernel ? o->kernel : "");
    for (int32_t i = 0; o && i < o->ndefines; i++) {
        hash_str(&s, o->defines[i].name);
        rt_sha256_update(&s, &o->defines[i].value, sizeof(double));
    }
    hash_str(&s, spec);
    uint8_t d[32];
    rt_sha256_final(&s, d);
    for (int i = 0; i < 32; i++) snprintf(key + 2 * i, 3, "%02x", d[i]);
}

/* A hit: the kernel loaded from the cache entry. Any problem reads as a miss. */
static bool load_cached(const char *dir, const char *key, AttnKernel **out)
{
    unsigned char *payload;
    size_t len;
    if (!rt_cache_read(dir, key, &payload, &len)) return false;
    Arena a;
    arena_init(&a);
    RtEntry e;
    bool ok = rt_entry_unpack(&a, payload, len, &e) && rt_kernel_load(&e, NULL, out) == ATTN_OK;
    if (ok) (*out)->cache_hit = true;
    arena_free(&a);
    free(payload);
    if (!ok) {
        /* Intact file whose contents do not load (say, a compiler change that kept the
         * version): drop it so the rebuilt entry replaces it. */
        char *path = rt_cache_path(dir, key);
        if (path) remove(path);
        free(path);
        rt_clear_error();
    }
    return ok;
}

static bool is_word(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* The options' dtype override: rewrites the dtype of the `in q:`, `in k:`, `in v:` and
 * `out o:` declarations (malloc'd; NULL when out of memory). Comments are skipped so that a
 * commented-out declaration is left alone. The cache key is then the rewritten text's. */
static char *spec_with_dtype(const char *s, const char *dtype)
{
    /* Each rewrite grows the text by at most 2 bytes ("f32" -> "bf16" is 1) and takes at
     * least 6 ("in q:f"), so 1.5 n + 64 always suffices. */
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + n / 2 + 64);
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        if (s[i] == '/' && s[i + 1] == '/') {
            while (i < n && s[i] != '\n') out[o++] = s[i++];
            continue;
        }
        bool decl = (i == 0 || !is_word(s[i - 1])) &&
                    (strncmp(s + i, "in ", 3) == 0 || strncmp(s + i, "out ", 4) == 0);
        if (decl) {
            size_t p = i + (s[i] == 'i' ? 3 : 4);
            while (s[p] == ' ' || s[p] == '\t') p++;
            char name = s[p];
            size_t q = p + 1;
            while (s[q] == ' ' || s[q] == '\t') q++;
            if (strchr("qkvo", name) && name && !is_word(s[p + 1]) && s[q] == ':') {
                q++;
                while (s[q] == ' ' || s[q] == '\t') q++;
                size_t e = q;
                while (is_word(s[e])) e++;
                memcpy(out + o, s + i, q - i);
                o += q - i;
                memcpy(out + o, dtype, strlen(dtype));
                o += strlen(dtype);
                i = e;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    out[o] = 0;
    return out;
}

/* attn_compile once the arguments are checked and the dtype applied. */
static AttnStatus compile_text(const char *spec, const char *name, const AttnCompileOptions *opts,
                               AttnKernel **out)
{
    const char *target = opts && opts->target ? opts->target : "native";
    char key[65];
    cache_key(spec, opts, target, key);
    char *dir = opts && opts->no_cache ? NULL : rt_cache_dir();
    if (dir && load_cached(dir, key, out)) {
        free(dir);
        return ATTN_OK;
    }
    Arena a;
    arena_init(&a);
    RtEntry e;
    AttnStatus st = rt_compile_spec(&a, spec, name ? name : "<string>", opts, &e);
    if (st == ATTN_OK) {
        double t = phase_time_now();
        size_t len;
        unsigned char *payload = dir ? rt_entry_pack(&e, &len) : NULL;
        if (payload) rt_cache_write(dir, key, payload, len);
        free(payload);
        phase_time_end(t, "disk cache write");
        t = phase_time_now();
        st = rt_kernel_load(&e, NULL, out);
        phase_time_end(t, "kernel load");
    }
    arena_free(&a);
    free(dir);
    return st;
}

AttnStatus attn_compile(const char *spec, const char *name, const AttnCompileOptions *opts,
                        AttnKernel **out)
{
    rt_clear_error();
    if (!out) return rt_fail(ATTN_ERR_ARG, "out is NULL");
    *out = NULL;
    if (!spec) return rt_fail(ATTN_ERR_ARG, "spec is NULL");
    if (strnlen(spec, SPEC_MAX_BYTES + 1) > SPEC_MAX_BYTES)   /* before hashing it whole */
        return rt_fail(ATTN_ERR_SPEC, "%s: error: %s\n", name ? name : "<string>",
                       spec_read_error(EFBIG));
    if (opts && opts->ndefines > 0 && !opts->defines)
        return rt_fail(ATTN_ERR_ARG, "defines is NULL but ndefines is %d", opts->ndefines);
    if (opts && opts->ndefines < 0)
        return rt_fail(ATTN_ERR_ARG, "ndefines is negative (%d)", opts->ndefines);
    for (int32_t i = 0; opts && i < opts->ndefines; i++)
        if (!opts->defines[i].name)
            return rt_fail(ATTN_ERR_ARG, "defines[%d].name is NULL; name the const it overrides",
                           i);
    const char *dtype = opts ? opts->dtype : NULL;
    if (!dtype) return compile_text(spec, name, opts, out);
    if (strcmp(dtype, "f32") != 0 && strcmp(dtype, "bf16") != 0 && strcmp(dtype, "f16") != 0)
        return rt_fail(ATTN_ERR_ARG, "dtype must be f32, bf16 or f16, not '%s'", dtype);
    char *retyped = spec_with_dtype(spec, dtype);
    if (!retyped) return rt_fail(ATTN_ERR_NOMEM, "out of memory applying dtype %s", dtype);
    AttnStatus st = compile_text(retyped, name, opts, out);
    free(retyped);
    return st;
}

AttnStatus attn_compile_file(const char *path, const AttnCompileOptions *opts, AttnKernel **out)
{
    rt_clear_error();
    if (!out) return rt_fail(ATTN_ERR_ARG, "out is NULL");
    *out = NULL;
    if (!path) return rt_fail(ATTN_ERR_ARG, "path is NULL");
    Arena a;
    arena_init(&a);
    char *text = arena_read_spec(&a, path, NULL);
    AttnStatus st = text ? attn_compile(text, path, opts, out)
                         : rt_fail(ATTN_ERR_IO, "cannot read '%s': %s", path,
                                   spec_read_error(errno));
    arena_free(&a);
    return st;
}

/* ---- the signature ------------------------------------------------------------------------- */

const char *attn_kernel_name(const AttnKernel *k) { return k ? k->air->name : NULL; }
const char *attn_kernel_target(const AttnKernel *k) { return k ? k->target_name : NULL; }
int32_t attn_kernel_num_tensors(const AttnKernel *k) { return k ? k->air->ntensors : 0; }
int32_t attn_kernel_num_params(const AttnKernel *k) { return k ? k->air->nparams : 0; }

static const AirTensor *tensor_at(const AttnKernel *k, int32_t i)
{
    return k && i >= 0 && i < k->air->ntensors ? &k->air->tensors[i] : NULL;
}

const char *attn_kernel_tensor_name(const AttnKernel *k, int32_t i)
{
    const AirTensor *t = tensor_at(k, i);
    return t ? t->name : NULL;
}

AttnArgKind attn_kernel_tensor_kind(const AttnKernel *k, int32_t i)
{
    const AirTensor *t = tensor_at(k, i);
    return t && t->is_output ? ATTN_ARG_OUT : ATTN_ARG_IN;
}

AttnDtype attn_kernel_tensor_dtype(const AttnKernel *k, int32_t i)
{
    const AirTensor *t = tensor_at(k, i);
    return t ? (AttnDtype)t->dtype : ATTN_F32;
}

int32_t attn_kernel_tensor_rank(const AttnKernel *k, int32_t i)
{
    const AirTensor *t = tensor_at(k, i);
    return t ? t->rank : 0;
}

int32_t attn_kernel_tensor_dim(const AttnKernel *k, int32_t i, int32_t d, const char **sym)
{
    const AirTensor *t = tensor_at(k, i);
    if (sym) *sym = NULL;
    if (!t || d < 0 || d >= t->rank) return -1;
    if (t->dims[d].sym < 0) return (int32_t)t->dims[d].size;
    if (sym) *sym = k->air->syms[t->dims[d].sym].name;
    return 0;
}

const char *attn_kernel_param_name(const AttnKernel *k, int32_t i)
{
    return k && i >= 0 && i < k->air->nparams ? k->air->params[i].name : NULL;
}

int32_t attn_kernel_param_default(const AttnKernel *k, int32_t i, double *value)
{
    if (!k || i < 0 || i >= k->air->nparams || !k->air->params[i].has_default) return 0;
    if (value) *value = k->air->params[i].def;
    return 1;
}

int32_t attn_kernel_tensor_index(const AttnKernel *k, const char *name)
{
    for (int32_t i = 0; k && name && i < k->air->ntensors; i++)
        if (strcmp(k->air->tensors[i].name, name) == 0) return i;
    return -1;
}

int32_t attn_kernel_param_index(const AttnKernel *k, const char *name)
{
    for (int32_t i = 0; k && name && i < k->air->nparams; i++)
        if (strcmp(k->air->params[i].name, name) == 0) return i;
    return -1;
}

/* ---- running ------------------------------------------------------------------------------- */

AttnStatus rt_launch(AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                     const double *params, int32_t nparams, const AttnLaunchOptions *opts)
{
    if (!k) return rt_fail(ATTN_ERR_ARG, "kernel is NULL");
    AbiArgs args;
    AttnStatus st = rt_validate(k, tensors, ntensors, params, nparams,
                                k->is_gpu ? RT_LAUNCH_GPU : RT_LAUNCH_CPU, &args);
    if (st != ATTN_OK) return st;
    if (k->target && k->target->arch == ARCH_REFERENCE) {
        AirDtype dtypes[ABI_MAX_TENSORS];
        for (int32_t i = 0; i < ntensors; i++) dtypes[i] = rt_air_dtype(tensors[i].dtype);
        return rt_reference(k, &args, dtypes);
    }
    static const AttnLaunchOptions defaults = {0};
    if (!opts) opts = &defaults;
    uint8_t *map = NULL;
    st = rt_tile_map(k, &args, &map);
    if (st == ATTN_OK)
        st = k->is_gpu ? rt_launch_gpu(k, &args, opts) : rt_launch_cpu(k, &args, opts);
    free(map);
    return st;
}

AttnStatus attn_launch(AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                       const double *params, int32_t nparams, const AttnLaunchOptions *opts)
{
    rt_clear_error();
    return rt_launch(k, tensors, ntensors, params, nparams, opts);
}

AttnStatus attn_reference(const AttnKernel *k, const AttnTensor *tensors, int32_t ntensors,
                          const double *params, int32_t nparams)
{
    rt_clear_error();
    AbiArgs args;
    AttnStatus st = rt_validate(k, tensors, ntensors, params, nparams, RT_REFERENCE, &args);
    if (st != ATTN_OK) return st;
    AirDtype dtypes[ABI_MAX_TENSORS];
    for (int32_t i = 0; i < ntensors; i++) dtypes[i] = rt_air_dtype(tensors[i].dtype);
    return rt_reference(k, &args, dtypes);
}
