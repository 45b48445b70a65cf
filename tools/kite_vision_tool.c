/*
 * kite_vision_tool.c — command-line helpers around src/vision for model
 * conversion and checks (not part of the kite binary).
 *
 *   kite_vision_tool import-tfjs DIR OUT.onnx [CUT_LAYER]
 *       convert the nsfwjs MobileNetV2 package (DIR = .../nsfwjs/dist/models/
 *       mobilenet_v2) to ONNX; CUT_LAYER defaults to block_13_expand_relu.
 *   kite_vision_tool embed MODEL.onnx IMAGE...
 *       print the embedding dimension and the first values per image.
 *   kite_vision_tool run MODEL.onnx INPUT.f32 N C H W OUT.f32
 *       run a model on raw little-endian float32 input, write output 0 raw.
 *
 * Build (from the repository root, after building kite_vision in build-vision):
 *   cc -O2 -Isrc/vision -Isrc/core -Iinclude -Ibuild-vision/src/vision/gen \
 *      tools/kite_vision_tool.c build-vision/src/vision/libkite_vision.a \
 *      build-vision/src/core/libkite_core.a $(pkg-config --libs libjpeg libpng \
 *      libwebp libprotobuf-c openblas) -lgif -lm -lpthread -o kite_vision_tool
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "pool.h"
#include "vision.h"

static int import_tfjs(int argc, char **argv)
{
    kite_err err;
    kite_err_clear(&err);
    if (argc < 4)
        return 2;
    if (kite_model_import_tfjs(argv[2], argv[3], argc > 4 ? argv[4] : "block_13_expand_relu",
                               &err) != KITE_OK) {
        fprintf(stderr, "import failed: %s\n", err.message);
        return 1;
    }
    printf("wrote %s\n", argv[3]);
    return 0;
}

static int embed(int argc, char **argv)
{
    kite_embed_opts o;
    kite_embed *e = NULL;
    kite_err err;
    float *v;
    kite_err_clear(&err);
    kite_embed_opts_init(&o);
    o.model_path = argv[2];
    if (kite_embed_open(&o, &e, &err) != KITE_OK) {
        fprintf(stderr, "open failed: %s\n", err.message);
        return 1;
    }
    v = calloc((size_t)kite_embed_dim(e), sizeof(float));
    for (int i = 3; i < argc; i++) {
        if (kite_embed_file(e, argv[i], v, &err) != KITE_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], err.message);
            continue;
        }
        printf("%s: dim %d: %.6f %.6f %.6f %.6f\n", argv[i], kite_embed_dim(e), v[0], v[1], v[2],
               v[3]);
    }
    free(v);
    kite_embed_close(e);
    return 0;
}

static int run(int argc, char **argv)
{
    kite_model *m = NULL;
    struct kite_pool *pool = NULL;
    kite_tensor in, out;
    kite_err err;
    FILE *f;
    size_t n;
    int rc = 1;
    if (argc < 9)
        return 2;
    kite_err_clear(&err);
    memset(&in, 0, sizeof(in));
    in.ndim = 4;
    for (int i = 0; i < 4; i++)
        in.dims[i] = atoll(argv[4 + i]);
    n = (size_t)(in.dims[0] * in.dims[1] * in.dims[2] * in.dims[3]);
    in.data = calloc(n, sizeof(float));
    f = fopen(argv[3], "rb");
    if (!f || fread(in.data, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot read %zu floats from %s\n", n, argv[3]);
        goto out;
    }
    fclose(f);
    if (kite_pool_new(0, &pool) != KITE_OK ||
        kite_model_load(argv[2], pool, &m, &err) != KITE_OK ||
        kite_model_run(m, &in, 1, &out, 1, &err) != KITE_OK) {
        fprintf(stderr, "failed: %s\n", err.message);
        goto out;
    }
    n = 1;
    for (int i = 0; i < out.ndim; i++)
        n *= (size_t)out.dims[i];
    f = fopen(argv[8], "wb");
    if (f) {
        fwrite(out.data, sizeof(float), n, f);
        fclose(f);
        rc = 0;
    }
    kite_free(out.data);
out:
    free(in.data);
    kite_model_free(m);
    kite_pool_free(pool);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "import-tfjs"))
        return import_tfjs(argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "embed"))
        return embed(argc, argv);
    if (argc >= 9 && !strcmp(argv[1], "run"))
        return run(argc, argv);
    fprintf(stderr, "usage: %s import-tfjs DIR OUT.onnx [CUT] | embed MODEL IMAGE... | "
            "run MODEL IN.f32 N C H W OUT.f32\n", argv[0]);
    return 2;
}
