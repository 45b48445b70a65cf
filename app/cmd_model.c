/*
 * cmd_model.c — `kite model import-tfjs DIR OUT.onnx [--cut LAYER]`.
 *
 * Converts a TensorFlow.js layers model (model.min.js / model.json topology plus
 * weight shards) into the ONNX file Kite's own runtime loads, cut at LAYER and
 * followed by global average pooling and L2 normalisation (src/vision/tfjs_import.c,
 * docs/VISION.md §3).  scripts/make_model.sh uses it to build the default model
 * from the nsfwjs@4.4.0 npm package.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "vision.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kite model import-tfjs DIR OUT.onnx [--cut LAYER]\n"
               "  DIR    a TensorFlow.js layers model directory (e.g. nsfwjs's\n"
               "         dist/models/mobilenet_v2)\n"
               "  --cut  the layer whose activations become the embedding\n"
               "         (default block_13_expand_relu)\n");
}

int cmd_model(int argc, char **argv)
{
    if (argc < 2 || app_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KITE_EXIT_USAGE : KITE_EXIT_OK;
    }
    if (strcmp(argv[1], "import-tfjs") != 0 || argc < 4) {
        usage(stderr);
        return KITE_EXIT_USAGE;
    }
    const char *cut = "block_13_expand_relu";
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--cut") == 0 && i + 1 < argc) {
            cut = argv[++i];
        } else {
            fprintf(stderr, "kite model: unknown option %s\n", argv[i]);
            return KITE_EXIT_USAGE;
        }
    }
    kite_err err;
    kite_err_clear(&err);
    if (kite_model_import_tfjs(argv[2], argv[3], cut, &err) != KITE_OK) {
        fprintf(stderr, "kite model: import failed: %s\n", err.message);
        return KITE_EXIT_FAILURE;
    }
    printf("kite model: wrote %s (cut at %s)\n", argv[3], cut);
    return KITE_EXIT_OK;
}
