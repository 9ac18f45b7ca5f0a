/* main.c: the attnc command line.
 *   attnc check FILE...            validate specs: silent and exit 0 when all are valid
 *   attnc [options] FILE           compile one spec; --emit picks what is written
 *   attnc run SPEC [options]       compile, run on random inputs, compare with the reference
 * Diagnostics go to stderr, in color only when stderr is a terminal. Exit status: 0 success,
 * 1 a spec has errors, 2 bad usage. Every compilation has its own arena. */
#include "emit_cubin.h"
#include "emit_header.h"
#include "frontend.h"
#include "pass.h"
#include "pipeline.h"
#include "../runtime/rt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_DEFINES = 64 };

typedef struct Cli {
    const char *file;
    const char *out;          /* -o */
    const char *target;
    const char *kernel;
    unsigned emit;            /* bit set over emit_table */
    bool explain;
    int64_t explain_lq, explain_lk;   /* --explain=LQxLK; 4096 x 4096 by default */
    Define defines[MAX_DEFINES];
    int32_t ndefines;
    bool color;
} Cli;

/* ---- what --emit can write ------------------------------------------------------------------ */

typedef struct Output {
    Arena *a;
    const Cli *cli;
    Diags *d;
    AstFile *ast;
    Source src;
    Compiled c;               /* the front end's result (AIR, mask), for ast/air/--explain */
    Compiled code[EMIT_OBJ + 1];  /* by EmitKind, the compilations that went through a target */
    bool have[EMIT_OBJ + 1];
    Blob cubin;               /* --emit=cubin's bytes, embedded by --emit=header too */
} Output;

/* c: the compilation the row asked for (its EmitKind), or the front end's. */
typedef bool (*EmitFn)(Output *o, const Compiled *c, const char *path);

static bool write_text(const char *path, const void *text, size_t len)
{
    FILE *f = path ? fopen(path, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "attnc: cannot write '%s': %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fwrite(text, 1, len, f) == len;
    if (path) ok &= fclose(f) == 0;
    else ok &= fflush(f) == 0;
    if (!ok) fprintf(stderr, "attnc: error writing '%s'\n", path ? path : "<stdout>");
    return ok;
}

static bool emit_ast(Output *o, const Compiled *c, const char *path)
{
    (void)c;
    char *text = ast_dump(o->a, &o->src, o->ast);
    return text && write_text(path, text, strlen(text));
}

static bool emit_air(Output *o, const Compiled *c, const char *path)
{
    char *text = air_print(o->a, c->air);
    return text && write_text(path, text, strlen(text));
}

static bool emit_hdr(Output *o, const Compiled *c, const char *path)
{
    char *text = emit_header(o->a, c, o->cubin.size ? &o->cubin : NULL, o->src.name);
    return text && write_text(path, text, strlen(text));
}

static bool emit_code(Output *o, const Compiled *c, const char *path)
{
    (void)o;
    return write_text(path, c->code.data, c->code.size);
}

static bool emit_cub(Output *o, const Compiled *c, const char *path)
{
    if (!o->cubin.size && !emit_cubin(o->a, c, &o->cubin, o->d)) return false;
    return write_text(path, o->cubin.data, o->cubin.size);
}

/* What a row of the emit table needs from the pipeline. */
typedef enum {
    NEED_FRONT,               /* the front end and AIR passes only */
    NEED_CODE,                /* a target's plan and emit, with the row's EmitKind */
    NEED_TARGET_CODE,         /* plan and emit of the target's natural code: PTX on a GPU, an
                                 object on a CPU (the header describes that code) */
} EmitNeed;

/* One row per --emit kind; a new output is one row and its function. `binary` outputs are
 * never written to a terminal, nor to stdout beside --explain's text. The cubin row comes
 * before the header's, which embeds it. */
static const struct {
    const char *name;
    const char *ext;          /* file extension when several kinds share one -o */
    EmitNeed need;
    EmitKind kind;
    bool binary;
    EmitFn fn;
} emit_table[] = {
    {"ast", ".ast", NEED_FRONT, EMIT_LLVM, false, emit_ast},
    {"air", ".air", NEED_FRONT, EMIT_LLVM, false, emit_air},
    {"llvm", ".ll", NEED_CODE, EMIT_LLVM, false, emit_code},
    {"ptx", ".ptx", NEED_CODE, EMIT_ASM, false, emit_code},
    {"obj", ".o", NEED_CODE, EMIT_OBJ, true, emit_code},
    {"cubin", ".cubin", NEED_CODE, EMIT_ASM, true, emit_cub},
    {"header", ".h", NEED_TARGET_CODE, EMIT_OBJ, false, emit_hdr},
};
enum { NEMIT = sizeof emit_table / sizeof emit_table[0], EMIT_DEFAULT = 4 /* obj */,
       EMIT_DEFAULT_GPU = 3 /* ptx */ };

/* The EmitKind row k needs from the target `t` (NULL: unknown, its error comes later). */
static EmitKind row_kind(int k, const Target *t)
{
    if (emit_table[k].need == NEED_CODE) return emit_table[k].kind;
    return t && t->arch == ARCH_PTX ? EMIT_ASM : EMIT_OBJ;
}

/* ---- reading and reporting --------------------------------------------------------------- */

static char *read_file(Arena *a, const char *path, size_t *len)
{
    char *text = arena_read_spec(a, path, len);
    if (!text) fprintf(stderr, "attnc: cannot read '%s': %s\n", path, spec_read_error(errno));
    return text;
}

static void report(const Diags *d, bool color)
{
    if (!d->count) return;
    char *text = diags_render(d, color);
    if (text) fputs(text, stderr);
}

/* --explain: the target's plan (its tile shape) and what the mask analysis found, for a
 * typical size. Needs a compiled AIR kernel and its MaskInfo. */
static bool explain(Output *o, Diags *d)
{
    const Cli *cli = o->cli;
    KernelPlan plan = {.tile_m = 64, .tile_n = 64};
    const Compiled *c = NULL;   /* a compilation that went through the target, if any */
    for (int k = 0; k <= EMIT_OBJ && !c; k++)
        if (o->have[k]) c = &o->code[k];
    const Target *t = c ? c->target : target_find(cli->target);
    if (!t && cli->target) {
        diag_error_noloc(d, "unknown target '%s'", cli->target);
        return false;
    }
    if (t && !c && !t->plan(t, o->c.air, &plan, d)) return false;
    if (c) plan = c->plan;
    printf("kernel %s: %s, head dims %d / %d\n", o->c.air->name,
           o->c.air->kind == KIND_RECURRENT ? "recurrence" : "softmax attention", o->c.air->dk,
           o->c.air->dv);
    if (o->c.air->kind == KIND_RECURRENT) {
        RecurForm f;
        char *rt = pass_recur_form(o->a, o->c.air, &f) ? recur_explain(o->a, o->c.air, &f, &o->src) : NULL;
        if (!rt) return false;
        fputs(rt, stdout);
    } else if (t) {
        printf("target %s: tiles of %d query rows x %d keys%s\n", t->name, plan.tile_m,
               plan.tile_n, t->arch == ARCH_PTX ? "" : " per work item");
    }
    char *text = "";
    if (o->c.air->kind != KIND_RECURRENT)   /* a recurrence has no mask */
        text = mask_explain(o->a, o->c.air, o->c.mask, cli->explain_lq, cli->explain_lk, NULL,
                            plan.tile_m, plan.tile_n);
    if (!text) return false;
    fputs(text, stdout);
    if (t && t->explain) {
        if (!(text = t->explain(t, o->c.air, &plan, &o->src, o->a))) return false;
        fputs(text, stdout);
    }
    return true;
}

/* Compiles one file as the options ask and writes the outputs. True on success. Each
 * EmitKind the outputs need is one run of the pipeline (--emit=llvm,obj gives IR text and an
 * object, not one of them twice). */
static bool compile_file(const Cli *cli, const char *path, bool check_only)
{
    Arena a;
    arena_init(&a);
    Diags d;
    Output o = {.a = &a, .cli = cli, .d = &d};
    size_t len = 0;
    char *text = read_file(&a, path, &len);
    bool ok = text != NULL;
    o.src = (Source){path, text, len};
    diags_init(&d, &a, &o.src);
    const Target *t = target_find(cli->target);
    CompileRequest req = {text, len, path, cli->target, cli->defines, cli->ndefines,
                          cli->kernel, EMIT_OBJ, true, NULL};
    if (ok && (cli->emit & 1)) {
        o.ast = parse_source(&a, &d, &o.src);
        ok = o.ast && !d.errors;
    }
    /* --emit=ast alone shows the parser's tree, also for a spec that sema would reject */
    bool ast_only = cli->emit == 1u && !cli->explain && !check_only;
    if (ok && !ast_only) ok = pipeline_compile(&a, &d, &req, &o.c);
    for (int k = 0; ok && !check_only && k < NEMIT; k++) {
        if (!(cli->emit >> k & 1) || emit_table[k].need == NEED_FRONT) continue;
        if (t && t->arch == ARCH_REFERENCE) {
            diag_error_noloc(&d, "target '%s' generates no code (--emit=%s)", t->name,
                             emit_table[k].name);
            diag_hint(&d, "it runs the f64 reference through libattn or `attnc run`; pick a CPU "
                          "or GPU target to generate code");
            ok = false;
            break;
        }
        EmitKind kind = row_kind(k, t);
        if (o.have[kind]) continue;
        req.stop_after_air = false;
        req.emit = kind;
        ok = o.have[kind] = pipeline_compile(&a, &d, &req, &o.code[kind]);
    }
    if (ok && cli->explain && !check_only) ok = explain(&o, &d);
    for (int k = 0; ok && !check_only && k < NEMIT; k++) {
        if (!(cli->emit >> k & 1)) continue;
        const char *out = cli->out;
        if (out && (cli->emit & (cli->emit - 1)))   /* several kinds: one file each */
            out = arena_printf(&a, "%s%s", cli->out, emit_table[k].ext);
        const Compiled *c = emit_table[k].need == NEED_FRONT ? &o.c : &o.code[row_kind(k, t)];
        ok = emit_table[k].fn(&o, c, out);
    }
    report(&d, cli->color);
    /* out of memory, the diagnostics may not have found room either: say it without them */
    if (!ok && a.oom)
        fprintf(stderr, "%s: error: out of memory (%zu bytes in use by this compile)\n",
                path ? path : "attnc", a.total);
    arena_free(&a);
    return ok;
}

/* ---- options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: attnc check FILE...\n"
            "       attnc [options] FILE\n"
            "       attnc run SPEC [options]\n"
            "options:\n"
            "  --emit=KIND[,KIND...]  what to write: ast (the syntax tree, before sema), air, llvm,\n"
            "                         ptx, obj, cubin, header\n"
            "  --target=NAME          native, x86-64-v4, x86-64-v3, sm_80, sm_90a, reference\n"
            "  --kernel=NAME          which attention of a file with several\n"
            "  -o FILE                output file (default: stdout)\n"
            "  -D NAME=VALUE          override a const\n"
            "  --explain[=LQxLK]      the plan and the mask analysis (default 4096x4096)\n"
            "  --help, --version\n"
            "environment: ATTN_TIME_COMPILE=1 prints the time of each compile phase to stderr\n");
}

static int parse_emit(Cli *cli, const char *list)
{
    while (*list) {
        size_t n = strcspn(list, ",");
        int found = -1;
        for (int k = 0; k < NEMIT; k++)
            if (strlen(emit_table[k].name) == n && !strncmp(emit_table[k].name, list, n)) found = k;
        if (found < 0) {
            fprintf(stderr, "attnc: unknown --emit kind '%.*s'\n", (int)n, list);
            return 2;
        }
        if (!emit_table[found].fn) {
            fprintf(stderr, "attnc: --emit=%s is not available in this build of attnc\n",
                    emit_table[found].name);
            return 2;
        }
        cli->emit |= 1u << found;
        list += n + (list[n] == ',');
    }
    return 0;
}

static int parse_define(Cli *cli, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : 0;
    if (!eq || eq == arg || end == eq + 1 || *end) {
        fprintf(stderr, "attnc: -D needs NAME=NUMBER, got '%s'\n", arg);
        return 2;
    }
    if (cli->ndefines == MAX_DEFINES) {
        fprintf(stderr, "attnc: too many -D options\n");
        return 2;
    }
    cli->defines[cli->ndefines++] = (Define){strndup(arg, (size_t)(eq - arg)), v};
    return 0;
}

/* Parses argv[first..]; files go to files[]. Returns 0, or an exit status to stop with. */
static int parse_options(Cli *cli, int argc, char **argv, int first, const char **files, int *nfiles)
{
    for (int k = first; k < argc; k++) {
        const char *s = argv[k];
        int rc = 0;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(s, "--version")) {
            printf("attnc %s\n", ATTNC_VERSION);
            return -1;
        } else if (!strncmp(s, "--emit=", 7)) {
            rc = parse_emit(cli, s + 7);
        } else if (!strncmp(s, "--target=", 9)) {
            cli->target = s + 9;
        } else if (!strncmp(s, "--kernel=", 9)) {
            cli->kernel = s + 9;
        } else if (!strcmp(s, "--explain")) {
            cli->explain = true;
        } else if (!strncmp(s, "--explain=", 10)) {
            char *end;
            cli->explain = true;
            cli->explain_lq = strtoll(s + 10, &end, 10);
            cli->explain_lk = *end == 'x' ? strtoll(end + 1, &end, 10) : 0;
            if (*end || cli->explain_lq < 1 || cli->explain_lk < 1) {
                fprintf(stderr, "attnc: --explain= needs LQxLK, for example --explain=1x8192\n");
                return 2;
            }
        } else if (!strcmp(s, "-o") || !strcmp(s, "-D")) {
            if (k + 1 == argc) {
                fprintf(stderr, "attnc: %s needs an argument\n", s);
                return 2;
            }
            if (s[1] == 'o') cli->out = argv[++k];
            else rc = parse_define(cli, argv[++k]);
        } else if (!strncmp(s, "-D", 2)) {
            rc = parse_define(cli, s + 2);
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "attnc: unknown option '%s'\n", s);
            return 2;
        } else {
            files[(*nfiles)++] = s;
        }
        if (rc) return rc;
    }
    return 0;
}

/* Binary outputs go to a file: never to a terminal, nor into stdout beside text (--explain's,
 * or another kind's when several are asked without -o). Returns 0 or the exit status. */
static int check_outputs(const Cli *cli)
{
    if (cli->out) return 0;
    bool several = cli->emit & (cli->emit - 1);
    for (int k = 0; k < NEMIT; k++) {
        if (!(cli->emit >> k & 1) || !emit_table[k].binary) continue;
        const char *why = cli->explain ? "beside --explain's text" :
                          several ? "beside the other outputs" :
                          isatty(1) ? "to a terminal" : NULL;
        if (!why) continue;
        fprintf(stderr, "attnc: --emit=%s is binary and would go to stdout %s; give -o FILE\n",
                emit_table[k].name, why);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "run")) {
        return rt_cli_run(argc - 1, argv + 1);
    }
    Cli cli = {.color = isatty(2), .explain_lq = 4096, .explain_lk = 4096};
    bool check = argc >= 2 && !strcmp(argv[1], "check");
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0, status = 0;
    if (!files) return 2;
    int rc = parse_options(&cli, argc, argv, check ? 2 : 1, files, &nfiles);
    if (rc) {
        status = rc < 0 ? 0 : rc;
    } else if (nfiles == 0 || (!check && nfiles > 1)) {
        usage(stderr);
        status = 2;
    } else {
        if (!check && !cli.emit && !cli.explain) {   /* a GPU target's natural code is PTX */
            const Target *t = target_find(cli.target);
            cli.emit = 1u << (t && t->arch == ARCH_PTX ? EMIT_DEFAULT_GPU : EMIT_DEFAULT);
        }
        status = check ? 0 : check_outputs(&cli);
        for (int k = 0; status != 2 && k < nfiles; k++)
            if (!compile_file(&cli, files[k], check)) status = 1;
    }
    for (int32_t k = 0; k < cli.ndefines; k++) free((char *)cli.defines[k].name);
    free(files);
    return status;
}
