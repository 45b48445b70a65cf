/*
 * cmd_embed.c — `kite embed FILE...`: one JSON line per image,
 * {"path": "...", "embedding": [...]}, with the default (or --model) model.
 * A file that cannot be embedded is reported on stderr and the exit status is 1,
 * but the other files are still printed.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "commands.h"
#include "images_app.h"
#include "vision.h"
#include "web/images_recipe.h"

static void embed_usage(FILE *out)
{
    fprintf(out, "usage: kite embed [--model PATH] FILE...\n\n"
                 "Print one JSON line per image: {\"path\": ..., \"embedding\": [...]}\n"
                 "(unit-length float vector).  Model: --model, else $KITE_MODEL, else %s.\n",
            IMAGES_DEFAULT_MODEL);
}

static void print_line(const char *path, const float *v, int dim)
{
    fputs("{\"path\":\"", stdout);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    fputs("\",\"embedding\":[", stdout);
    for (int i = 0; i < dim; i++)
        printf("%s%.7g", i ? "," : "", (double)v[i]);
    fputs("]}\n", stdout);
}

int cmd_embed(int argc, char **argv)
{
    const char *model = images_default_model();
    int first = 1;
    for (; first < argc; first++) {
        if (app_is_help(argv[first])) {
            embed_usage(stdout);
            return KITE_EXIT_OK;
        }
        if (strcmp(argv[first], "--model") == 0 && first + 1 < argc) {
            model = argv[++first];
            continue;
        }
        if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        }
        if (argv[first][0] == '-' && argv[first][1]) {
            fprintf(stderr, "kite embed: unknown option '%s'\n", argv[first]);
            return KITE_EXIT_USAGE;
        }
        break;
    }
    if (first >= argc) {
        embed_usage(stderr);
        return KITE_EXIT_USAGE;
    }
    kite_embed_opts eo;
    kite_embed_opts_init(&eo);
    eo.model_path = model;
    images_recipe_opts(&eo);
    kite_embed *emb = NULL;
    kite_err err;
    kite_err_clear(&err);
    if (kite_embed_open(&eo, &emb, &err) != KITE_OK) {
        fprintf(stderr, "kite embed: loading model '%s': %s\n", model, err.message);
        return KITE_EXIT_FAILURE;
    }
    int dim = kite_embed_dim(emb), status = KITE_EXIT_OK;
    float *v = kite_malloc((size_t)dim * sizeof(float));
    if (!v) {
        kite_embed_close(emb);
        fprintf(stderr, "kite embed: out of memory\n");
        return KITE_EXIT_FAILURE;
    }
    for (int i = first; i < argc; i++) {
        kite_err_clear(&err);
        int rc = kite_embed_file(emb, argv[i], v, &err);
        if (rc != KITE_OK) {
            fprintf(stderr, "kite embed: %s: %s\n", argv[i],
                    err.message[0] ? err.message : kite_strerror(rc));
            status = KITE_EXIT_FAILURE;
            continue;
        }
        images_recipe_post(v, dim);
        print_line(argv[i], v, dim);
    }
    kite_free(v);
    kite_embed_close(emb);
    return status;
}
