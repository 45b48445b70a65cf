/*
 * commands.h — the subcommands of the `kite` command line.
 *
 * Each command lives in app/cmd_<name>.c and exports one entry point
 * `int cmd_<name>(int argc, char **argv)` (argv[0] is the command name; the exit
 * status is returned).  app/commands.c lists them in one table, so adding a
 * command (images, embed, bench, backup...) touches only its own file and one line
 * there.
 */
#ifndef KITE_APP_COMMANDS_H
#define KITE_APP_COMMANDS_H

struct kite_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;   /* one line for `kite --help` */
};

/* The command table, terminated by an entry with name == NULL. */
extern const struct kite_command kite_commands[];

/* Exit statuses shared by every command. */
#define KITE_EXIT_OK 0
#define KITE_EXIT_FAILURE 1
#define KITE_EXIT_USAGE 2

int cmd_serve(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);

/* True if argv[i] is -h or --help. */
int app_is_help(const char *arg);

#endif
