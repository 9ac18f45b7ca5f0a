/* main.c: the attnc command line. */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "attnc: front end not built yet\n");
    return 1;
}
