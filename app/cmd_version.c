/* cmd_version.c — `kite version`: the Kite version and the Milvus API it speaks. */
#include <stdio.h>

#include "commands.h"
#include "kite/kite.h"

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && app_is_help(argv[1])) {
        printf("usage: kite version\n\nPrint the Kite version and the Milvus version it "
               "reports to clients.\n");
        return KITE_EXIT_OK;
    }
    printf("kite %s (Milvus API %s)\n", KITE_VERSION_STRING, KITE_MILVUS_VERSION);
    return KITE_EXIT_OK;
}
