/*
 * cmd_config.c — `kite config show [serve options]`: print the configuration
 * `kite serve` would run with (defaults < --config FILE / $KITE_CONFIG < KITE_*
 * environment < flags), in the config-file format of docs/CONFIG.md.  A bad value
 * is reported exactly as `kite serve` would, with exit status 2.
 * Threading: single-threaded.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"

static void config_usage(FILE *out)
{
    fprintf(out, "usage: kite config show [options of kite serve]\n\n"
                 "Print the effective configuration of `kite serve` with the same options,\n"
                 "config file and KITE_* environment, in config-file format.\n\noptions:\n");
    server_config_usage(out);
}

int cmd_config(int argc, char **argv)
{
    if (argc < 2 || app_is_help(argv[1])) {
        config_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KITE_EXIT_USAGE : KITE_EXIT_OK;
    }
    if (strcmp(argv[1], "show") != 0) {
        fprintf(stderr, "kite config: unknown subcommand '%s' (expected show)\n", argv[1]);
        return KITE_EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (app_is_help(argv[i])) {
            config_usage(stdout);
            return KITE_EXIT_OK;
        }
    }
    struct server_config cfg;
    kite_err err;
    kite_err_clear(&err);
    int rc = server_config_load(&cfg, argc, argv, 2, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite config: %s\n", err.message);
        return KITE_EXIT_USAGE;
    }
    server_config_print(&cfg, stdout);
    return KITE_EXIT_OK;
}
