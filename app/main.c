/*
 * main.c — the `kite` command line: finds the subcommand in kite_commands
 * (app/commands.c) and runs it.  `kite --help` lists the commands,
 * `kite <command> --help` shows a command's options.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: kite <command> [options]\n\ncommands:\n");
    for (const struct kite_command *c = kite_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nrun 'kite <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return KITE_EXIT_USAGE;
    }
    if (app_is_help(argv[1])) {
        usage(stdout);
        return KITE_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (const struct kite_command *c = kite_commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "kite: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return KITE_EXIT_USAGE;
}
