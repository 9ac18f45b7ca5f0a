/* version.c: the smallest program against an installed libattn: it links, loads, and answers
 * the calls that need no compiler. Used to check the package (CMake and pkg-config, shared and
 * static) independently of what the runtime can compile. */
#include <attn.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    const char *v = attn_version();
    if (!v || !*v) {
        fprintf(stderr, "attn_version() is empty\n");
        return 1;
    }
    if (strcmp(attn_status_name(ATTN_ERR_ARG), "bad argument") != 0 || attn_last_error()[0]) {
        fprintf(stderr, "unexpected status name or a stale error\n");
        return 1;
    }
    printf("libattn %s\n", v);
    return 0;
}
