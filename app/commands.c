/* commands.c — the one table of `kite` subcommands (see commands.h). */
#include "commands.h"

#include <stddef.h>
#include <string.h>

const struct kite_command kite_commands[] = {
    {"serve", cmd_serve, "run the Milvus-compatible server (REST v2 and gRPC on one port)"},
    {"version", cmd_version, "print the Kite version"},
    {"config", cmd_config, "print the effective configuration of kite serve (config show)"},
    {"embed", cmd_embed, "print image embeddings as JSON lines"},
    {"model", cmd_model, "convert a TensorFlow.js model into Kite's ONNX embedding model"},
    {"images", cmd_images, "index a folder of images or search it by image"},
    {"bench", cmd_bench, "benchmark ANN indexes (harness command-line contract)"},
    {"backup", cmd_backup, "take a consistent snapshot of a data directory (offline or --server)"},
    {"restore", cmd_restore, "verify a backup and restore it into an empty data directory"},
    {NULL, NULL, NULL},
};

int app_is_help(const char *arg)
{
    return arg && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "help") == 0);
}
