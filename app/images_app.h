/*
 * images_app.h — the search-by-image application behind `kite images` and `kite embed`.
 *
 * Pieces (one file each):
 *   images_store.c     the collection schema and an images_store: the few operations
 *                      the indexer and `images search` need (ensure the collection,
 *                      list what is indexed, upsert a batch, delete ids, search,
 *                      count), implemented over the embedded library (kite.h).
 *   images_rest.c      the same operations over a running server's REST v2 API
 *                      (libcurl), for `--server URL`.
 *   images_index.c     walk a folder, decide per file new / changed / unchanged /
 *                      deleted, decode + thumbnail + embed in parallel worker threads,
 *                      insert in batches.
 *   images_thumb.c     the ~160 px JPEG thumbnail (libjpeg) stored base64 in the row.
 *   images_progress.c  the progress bar (terminal) or plain progress lines (pipes).
 *
 * Collection layout (created if absent; see docs/IMAGES.md):
 *   id Int64 primary key = 53-bit FNV-1a hash of the absolute path (stable across runs,
 *   so a changed file is upserted in place); name, path VarChar; size, mtime Int64;
 *   hash VarChar (FNV-1a 64 of the bytes, hex); thumb VarChar (base64 JPEG);
 *   embedding FloatVector(dim) with an HNSW/COSINE index.
 *
 * Threading model: an images_store is used by one thread at a time (the indexer's
 * main thread); the indexer's workers touch only their own job slots and the shared
 * kite_embed (safe for concurrent calls, vision.h).
 */
#ifndef KITE_APP_IMAGES_APP_H
#define KITE_APP_IMAGES_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kite/kite.h"

#define IMAGES_DEFAULT_COLLECTION "images"
#define IMAGES_DEFAULT_MODEL "models/kite-mobilenetv2.onnx"
#define IMAGES_THUMB_SIDE 160
#define IMAGES_THUMB_MAX_BYTES 60000 /* base64 text; VarChar max_length is 65535 */
#define IMAGES_PATH_MAX 4096

/* ------------------------------------------------------------------ rows */

/* One indexed image as the store knows it (strings owned by the containing list). */
struct images_row {
    int64_t id;
    char *path;
    int64_t size;
    int64_t mtime;
    char *hash;
};

struct images_row_list {
    struct images_row *rows;
    size_t n;
};

void images_row_list_free(struct images_row_list *l);

/* One image ready to insert; strings and the vector are borrowed. */
struct images_new_row {
    int64_t id;
    const char *name;
    const char *path;
    int64_t size;
    int64_t mtime;
    const char *hash;
    const char *thumb_b64;
    const float *vec;
};

/* One search hit (strings owned by the hit list). */
struct images_hit {
    int64_t id;
    char *name;
    char *path;
    float distance; /* 1 - cosine similarity */
};

struct images_hit_list {
    struct images_hit *hits;
    size_t n;
};

void images_hit_list_free(struct images_hit_list *l);

/* ----------------------------------------------------------------- store */

struct images_store;

struct images_store_ops {
    /* Create the collection + index (dimension dim) if absent, and load it. */
    int (*ensure)(struct images_store *s, uint32_t dim, kite_err *err);
    bool (*exists)(struct images_store *s);
    int (*list)(struct images_store *s, struct images_row_list *out, kite_err *err);
    int (*upsert)(struct images_store *s, const struct images_new_row *rows, size_t n,
                  uint32_t dim, kite_err *err);
    int (*remove)(struct images_store *s, const int64_t *ids, size_t n, kite_err *err);
    int (*search)(struct images_store *s, const float *vec, uint32_t dim, int top,
                  struct images_hit_list *out, kite_err *err);
    int (*count)(struct images_store *s, uint64_t *rows, kite_err *err);
    int (*flush)(struct images_store *s, kite_err *err);
    /* Optional: report indexing progress somewhere a web page can see it. */
    void (*progress)(struct images_store *s, const char *json);
    void (*close)(struct images_store *s);
};

struct images_store {
    const struct images_store_ops *ops;
    char *collection;
};

/* Embedded store on an open kite_db (borrowed; must outlive the store). */
int images_store_open_db(kite_db *db, const char *collection, struct images_store **out,
                         kite_err *err) KITE_MUST_CHECK;
/* Store talking REST v2 to base_url (e.g. http://127.0.0.1:19530). */
int images_store_open_rest(const char *base_url, const char *collection,
                           struct images_store **out, kite_err *err) KITE_MUST_CHECK;
void images_store_close(struct images_store *s);

/* Fill fields[] with the collection schema for vectors of dim (strings static). */
#define IMAGES_N_FIELDS 8
void images_schema_fields(kite_field_schema fields[IMAGES_N_FIELDS], uint32_t dim);
/* Index build params used for the embedding field. */
#define IMAGES_INDEX_TYPE "HNSW"
#define IMAGES_INDEX_PARAMS "{\"M\":16,\"efConstruction\":200}"
#define IMAGES_SEARCH_PARAMS "{\"ef\":128}"

/* ------------------------------------------------------------ utilities */

/* Row ids are below 2^53 so JavaScript numbers hold them exactly. */
#define IMAGES_ID_MAX ((INT64_C(1) << 53) - 1)
/* 53-bit FNV-1a of a string (the row id of a path; never negative). */
int64_t images_path_id(const char *path);
/* FNV-1a 64 of bytes. */
uint64_t images_fnv1a(const void *data, size_t len, uint64_t h);
#define IMAGES_FNV_SEED 0xcbf29ce484222325ULL

/* ---------------------------------------------------------------- thumbs */

struct kite_image;
/* Encode img scaled to fit side x side as a JPEG (quality 82); *jpeg owned (kite_free). */
int images_thumb_jpeg(const struct kite_image *img, uint32_t side, uint8_t **jpeg,
                      size_t *jpeg_len, kite_err *err) KITE_MUST_CHECK;

/* -------------------------------------------------------------- progress */

struct images_progress {
    bool tty;
    FILE *out;
    uint64_t total;
    uint64_t done;
    uint64_t skipped;
    double start_s;
    double last_print_s;
    int width; /* terminal columns */
};

double images_now_s(void);
void images_progress_start(struct images_progress *p, FILE *out, bool tty, uint64_t total);
/* Record n more files done; prints when due (tty: every 0.1 s, else every 2 s). */
void images_progress_add(struct images_progress *p, uint64_t n, uint64_t skipped);
void images_progress_finish(struct images_progress *p);
/* Erase the bar (terminal only) before printing something else on stderr. */
void images_progress_clear(struct images_progress *p);
/*
 * Format one progress line for done/total after elapsed_s seconds.  tty: a bar
 * sized to width columns ("[####....] 120/1000  12%  35.2 files/s  ETA 0:25");
 * else plain ("progress: 120/1000 files (12%), 35.2 files/s, ETA 25 s").
 */
void images_progress_format(char *buf, size_t n, uint64_t done, uint64_t total, double elapsed_s,
                            bool tty, int width);

/* --------------------------------------------------------------- indexer */

struct images_index_opts {
    const char *dir;
    const char *model_path;
    int n_threads;      /* 0 = CPU count */
    size_t batch_rows;  /* rows per insert, default 64 */
    bool quiet;
    bool force_plain;   /* plain progress lines even on a terminal */
};

struct images_index_stats {
    uint64_t seen, added, updated, unchanged, removed, bad;
    uint64_t ignored; /* files without an image extension (not counted in seen) */
    double decode_s, resize_s, cnn_s, thumb_s, insert_s, total_s; /* summed over workers */
};

int images_index_run(struct images_store *s, const struct images_index_opts *o,
                     struct images_index_stats *st, kite_err *err) KITE_MUST_CHECK;

/* --model, else $KITE_MODEL, else IMAGES_DEFAULT_MODEL (static or env string). */
const char *images_default_model(void);

/* Commands (app/cmd_images.c, app/cmd_embed.c). */
int cmd_images(int argc, char **argv);
int cmd_embed(int argc, char **argv);

#endif
