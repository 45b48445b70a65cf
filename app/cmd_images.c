/*
 * cmd_images.c — `kite images index DIR` and `kite images search FILE`.
 *
 * Both work against the embedded library (--data-dir, default ./kite-data) or a
 * running server (--server URL, REST v2).  The model comes from --model, else
 * $KITE_MODEL, else models/kite-mobilenetv2.onnx (made by scripts/setup.sh).
 * Exit status: 0 ok, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "commands.h"
#include "err.h"
#include "images_app.h"
#include "vision.h"
#include "web/images_recipe.h"

struct images_cli {
    const char *data_dir;
    const char *server;
    const char *collection;
    const char *model;
    const char *target; /* DIR or FILE */
    int top;
    int threads;
    long batch;
    bool json, quiet, plain;
};

static void images_usage(FILE *out)
{
    fprintf(out,
            "usage: kite images index DIR [options]\n"
            "       kite images search FILE [--top N] [--json] [options]\n\n"
            "index: add every image under DIR (recursively) to the collection; unchanged\n"
            "       files are skipped, changed ones re-embedded, deleted ones removed.\n"
            "search: print the images nearest to FILE with their distances.\n\n"
            "options:\n"
            "  --collection NAME   collection (default images)\n"
            "  --data-dir DIR      embedded database directory (default ./kite-data)\n"
            "  --server URL        talk to a running `kite serve` instead (REST v2)\n"
            "  --model PATH        ONNX model (default $KITE_MODEL or %s)\n"
            "  --threads N         feature-extraction threads (default: CPU count)\n"
            "  --batch N           rows per insert (default 64)\n"
            "  --top N             results for search (default 10, at most 1000)\n"
            "  --json              search results as JSON lines\n"
            "  --quiet             no progress output\n"
            "  --plain             plain progress lines even on a terminal\n",
            IMAGES_DEFAULT_MODEL);
}

const char *images_default_model(void)
{
    const char *m = getenv("KITE_MODEL");
    return m && *m ? m : IMAGES_DEFAULT_MODEL;
}

/* Parse options after the subcommand; returns 0 ok, 1 help printed, -1 usage error. */
static int parse_images_args(int argc, char **argv, struct images_cli *c)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (app_is_help(a)) {
            images_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--json") == 0) {
            c->json = true;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            c->quiet = true;
            continue;
        }
        if (strcmp(a, "--plain") == 0) {
            c->plain = true;
            continue;
        }
        const char *num = NULL;
        if (strcmp(a, "--collection") == 0)
            slot = &c->collection;
        else if (strcmp(a, "--data-dir") == 0)
            slot = &c->data_dir;
        else if (strcmp(a, "--server") == 0)
            slot = &c->server;
        else if (strcmp(a, "--model") == 0)
            slot = &c->model;
        else if (strcmp(a, "--top") == 0 || strcmp(a, "--threads") == 0 ||
                 strcmp(a, "--batch") == 0)
            slot = &num;
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kite images: unknown option '%s' (see kite images --help)\n", a);
            return -1;
        } else if (!c->target) {
            c->target = a;
            continue;
        } else {
            fprintf(stderr, "kite images: unexpected argument '%s'\n", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kite images: %s needs a value\n", a);
            return -1;
        }
        *slot = argv[++i];
        if (slot == &num) {
            char *end;
            long v = strtol(num, &end, 10);
            if (*end || v < 1 || v > 100000) {
                fprintf(stderr, "kite images: %s expects a positive integer, not '%s'\n", a,
                        num);
                return -1;
            }
            if (strcmp(a, "--top") == 0)
                c->top = v > 1000 ? 1000 : (int)v;
            else if (strcmp(a, "--threads") == 0)
                c->threads = (int)v;
            else
                c->batch = v;
        }
    }
    if (!c->target) {
        fprintf(stderr, "kite images %s: missing %s (see kite images --help)\n", argv[1],
                strcmp(argv[1], "index") == 0 ? "DIR" : "FILE");
        return -1;
    }
    if (c->server && c->data_dir) {
        fprintf(stderr, "kite images: give --server or --data-dir, not both\n");
        return -1;
    }
    return 0;
}

static int open_store(const struct images_cli *c, kite_db **db, struct images_store **s,
                      kite_err *err)
{
    *db = NULL;
    if (c->server)
        return images_store_open_rest(c->server, c->collection, s, err);
    kite_options o;
    kite_options_init(&o);
    int rc = kite_open(c->data_dir ? c->data_dir : "./kite-data", &o, db, err);
    if (rc != KITE_OK)
        return rc;
    rc = images_store_open_db(*db, c->collection, s, err);
    if (rc != KITE_OK) {
        kite_close(*db);
        *db = NULL;
    }
    return rc;
}

static int run_index(const struct images_cli *c, struct images_store *s, kite_err *err)
{
    struct images_index_opts o = {.dir = c->target, .model_path = c->model,
                                  .n_threads = c->threads, .batch_rows = (size_t)c->batch,
                                  .quiet = c->quiet, .force_plain = c->plain};
    struct images_index_stats st;
    int rc = images_index_run(s, &o, &st, err);
    if (rc != KITE_OK)
        return rc;
    uint64_t embedded = st.added + st.updated;
    printf("indexed %s into '%s': %llu files, %llu added, %llu updated, %llu unchanged, "
           "%llu removed, %llu skipped as bad, %llu non-image files ignored, %.1f s "
           "(%.1f images/s)\n",
           c->target, c->collection, (unsigned long long)st.seen, (unsigned long long)st.added,
           (unsigned long long)st.updated, (unsigned long long)st.unchanged,
           (unsigned long long)st.removed, (unsigned long long)st.bad,
           (unsigned long long)st.ignored, st.total_s,
           st.total_s > 0 ? (double)embedded / st.total_s : 0.0);
    if (embedded && !c->quiet)
        fprintf(stderr,
                "stage times (summed over threads): decode %.2f s, resize %.2f s, CNN %.2f s, "
                "thumbnail %.2f s; insert %.2f s\n",
                st.decode_s, st.resize_s, st.cnn_s, st.thumb_s, st.insert_s);
    return KITE_OK;
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int run_search(const struct images_cli *c, struct images_store *s, kite_err *err)
{
    kite_embed_opts eo;
    kite_embed_opts_init(&eo);
    eo.model_path = c->model;
    images_recipe_opts(&eo);
    kite_embed *emb = NULL;
    float *vec = NULL;
    struct images_hit_list hits = {0};
    int rc = kite_embed_open(&eo, &emb, err);
    if (rc != KITE_OK) {
        kite_err_prefix(err, "loading model '%s'", c->model);
        return rc;
    }
    uint32_t dim = (uint32_t)kite_embed_dim(emb);
    if (!(vec = kite_malloc(dim * sizeof(float)))) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = kite_embed_file(emb, c->target, vec, err)) != KITE_OK) {
        kite_err_prefix(err, "%s", c->target);
        goto out;
    }
    images_recipe_post(vec, (int)dim);
    if (!s->ops->exists(s)) {
        rc = kite_err_set(err, KITE_ENOCOLL,
                          "collection '%s' does not exist; run `kite images index DIR` first",
                          s->collection);
        goto out;
    }
    if ((rc = s->ops->search(s, vec, dim, c->top, &hits, err)) != KITE_OK)
        goto out;
    for (size_t i = 0; i < hits.n; i++) {
        const struct images_hit *h = &hits.hits[i];
        if (c->json) {
            printf("{\"rank\":%zu,\"id\":%lld,\"distance\":%.6f,\"name\":", i + 1,
                   (long long)h->id, (double)h->distance);
            print_json_string(h->name);
            printf(",\"path\":");
            print_json_string(h->path);
            printf("}\n");
        } else {
            printf("%3zu  %.4f  %s\n", i + 1, (double)h->distance, h->path);
        }
    }
out:
    images_hit_list_free(&hits);
    kite_free(vec);
    kite_embed_close(emb);
    return rc;
}

int cmd_images(int argc, char **argv)
{
    if (argc < 2 || app_is_help(argv[1])) {
        images_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? KITE_EXIT_USAGE : KITE_EXIT_OK;
    }
    bool is_index = strcmp(argv[1], "index") == 0;
    if (!is_index && strcmp(argv[1], "search") != 0) {
        fprintf(stderr, "kite images: unknown subcommand '%s' (expected index or search)\n",
                argv[1]);
        return KITE_EXIT_USAGE;
    }
    struct images_cli c = {.collection = IMAGES_DEFAULT_COLLECTION, .top = 10};
    int prc = parse_images_args(argc, argv, &c);
    if (prc != 0)
        return prc > 0 ? KITE_EXIT_OK : KITE_EXIT_USAGE;
    if (!c.model)
        c.model = images_default_model();

    kite_err err;
    kite_err_clear(&err);
    kite_db *db = NULL;
    struct images_store *s = NULL;
    int rc = open_store(&c, &db, &s, &err);
    if (rc == KITE_OK)
        rc = is_index ? run_index(&c, s, &err) : run_search(&c, s, &err);
    images_store_close(s);
    kite_close(db);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite images %s: %s\n", argv[1],
                err.message[0] ? err.message : kite_strerror(rc));
        return KITE_EXIT_FAILURE;
    }
    return KITE_EXIT_OK;
}
