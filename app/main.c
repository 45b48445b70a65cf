/* main.c — the `kite` command line. */
#include <stdio.h>
#include <string.h>

#include "kite/kite.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("kite %s\n", KITE_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "usage: kite <command> [options]\n");
    return 2;
}
