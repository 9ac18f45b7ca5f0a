/* emit_cubin.c: `attnc --emit=cubin`. LLVM's NVPTX back end stops at PTX; the CUDA toolkit's
 * ptxas assembles it for the target's architecture (the target name is the -arch value:
 * sm_80, sm_90a). ptxas is found in $CUDA_PATH/bin, $CUDA_HOME/bin, /usr/local/cuda/bin, then
 * along PATH, and run through posix_spawn (no shell, so no quoting of paths), on a private
 * temporary directory; its messages are captured and included in the diagnostic when it
 * fails. The cubin comes back as a Blob in the arena, for the -o file and for the header. */
#include "emit_cubin.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static bool executable(const char *path) { return access(path, X_OK) == 0; }

/* The first ptxas in the documented order, or NULL. */
static const char *find_ptxas(Arena *a)
{
    const char *roots[] = {getenv("CUDA_PATH"), getenv("CUDA_HOME"), "/usr/local/cuda"};
    for (size_t k = 0; k < sizeof roots / sizeof roots[0]; k++) {
        if (!roots[k] || !*roots[k]) continue;
        const char *p = arena_printf(a, "%s/bin/ptxas", roots[k]);
        if (p && executable(p)) return p;
    }
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        const char *p = arena_printf(a, "%.*s/ptxas", (int)n, n ? path : ".");
        if (p && executable(p)) return p;
        path += n + (path[n] == ':');
    }
    return NULL;
}

static bool write_all(const char *path, const unsigned char *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return (fclose(f) == 0) && ok;
}


/* Runs argv[0] with stdout and stderr into one pipe; *msgs gets what it wrote (at most 8 KiB,
 * the rest dropped). Returns the exit status, or -1 when it could not be started or waited
 * for (errno then says why). */
static int run(Arena *a, char *const argv[], char **msgs)
{
    int fds[2];
    *msgs = "";
    if (pipe(fds) != 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err) {
        close(fds[0]);
        errno = err;
        return -1;
    }
    char buf[8192];
    size_t n = 0;
    for (;;) {
        char chunk[1024];
        ssize_t r = read(fds[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t keep = (size_t)r < sizeof buf - 1 - n ? (size_t)r : sizeof buf - 1 - n;
        memcpy(buf + n, chunk, keep);
        n += keep;
    }
    close(fds[0]);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) buf[--n] = 0;
    *msgs = arena_printf(a, "%s", buf);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool emit_cubin(Arena *a, const Compiled *c, Blob *out, Diags *d)
{
    *out = (Blob){NULL, 0};
    if (!c->target || c->target->arch != ARCH_PTX) {
        diag_error_noloc(d, "--emit=cubin needs a GPU target; '%s' is a CPU target",
                         c->target ? c->target->name : "native");
        diag_hint(d, "pass --target=sm_80 or --target=sm_90a, or use --emit=obj for a CPU");
        return false;
    }
    const char *ptxas = find_ptxas(a);
    if (!ptxas) {
        diag_error_noloc(d, "--emit=cubin needs the CUDA toolkit's ptxas, which was not found");
        diag_hint(d, "install the CUDA toolkit, or set CUDA_PATH to it (ptxas is looked for in "
                     "$CUDA_PATH/bin, $CUDA_HOME/bin, /usr/local/cuda/bin and PATH); "
                     "--emit=ptx writes the PTX without it");
        return false;
    }
    const char *tmp = getenv("TMPDIR");
    char *dir = arena_printf(a, "%s/attnc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!dir || !mkdtemp(dir)) {
        diag_error_noloc(d, "cannot create a temporary directory for ptxas: %s", strerror(errno));
        return false;
    }
    char *ptx = arena_printf(a, "%s/kernel.ptx", dir), *bin = arena_printf(a, "%s/kernel.cubin", dir);
    char *arch = arena_printf(a, "-arch=%s", c->target->name);
    bool ok = false;
    if (!ptx || !bin || !arch) {
        diag_error_noloc(d, "out of memory while assembling the cubin");
    } else if (!write_all(ptx, c->code.data, c->code.size)) {
        diag_error_noloc(d, "cannot write '%s' for ptxas: %s", ptx, strerror(errno));
    } else {
        char *argv[] = {(char *)ptxas, arch, "-o", bin, ptx, NULL};
        char *msgs;
        int rc = run(a, argv, &msgs);
        if (rc < 0) {
            diag_error_noloc(d, "cannot run '%s': %s", ptxas, strerror(errno));
            diag_hint(d, "check the CUDA toolkit's installation, or set CUDA_PATH to another one");
        } else if (rc != 0) {
            diag_error_noloc(d, "ptxas (%s %s) failed with status %d%s%s", ptxas, arch, rc,
                             *msgs ? ":\n" : "", msgs);
            diag_hint(d, "ptxas' messages above say why; a CUDA toolkit older than %s rejects "
                         "its PTX: point CUDA_PATH to a newer one, or use --emit=ptx",
                      c->target->name);
        } else if (!(out->data = (unsigned char *)arena_read_file(a, bin, &out->size))) {
            diag_error_noloc(d, "cannot read ptxas' output '%s'", bin);
        } else {
            ok = true;
        }
    }
    if (ptx) unlink(ptx);
    if (bin) unlink(bin);
    rmdir(dir);
    return ok;
}
