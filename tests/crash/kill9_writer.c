/*
 * kill9_writer.c — the process the kill -9 durability test (kill9.sh) murders.
 *
 *   kill9_writer write DIR CYCLE   open DIR (creating collection "c" on first use), insert
 *                                  from 2 threads in a loop and print every acknowledged
 *                                  primary key on its own line (stdout, flushed after each
 *                                  batch's ack) until killed.  Every 7th batch of a thread
 *                                  is an upsert of its own previous batch, every 11th also
 *                                  flushes (seals segments + switches the manifest).
 *   kill9_writer check DIR FILE    reopen DIR and verify that every id on a complete line
 *                                  of FILE is present exactly once; prints a summary and
 *                                  exits 1 if any acknowledged row was lost or duplicated.
 *
 * The collection has an HNSW index, so background index builds are killed too.
 * Ids are CYCLE * 10^9 + thread * 10^8 + n, so cycles never collide.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kite/kite.h"

#define DIM 8
#define BATCH 10

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

struct wargs {
    kite_db *db;
    int64_t base;
};

static int ensure_collection(kite_db *db)
{
    kite_field_schema f[2];
    memset(f, 0, sizeof(f));
    f[0].name = "id";
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = true;
    f[1].name = "v";
    f[1].dtype = KITE_DT_FLOAT_VECTOR;
    f[1].dim = DIM;
    kite_schema s = {0};
    s.fields = f;
    s.n_fields = 2;
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    kite_err e;
    int rc = kite_collection_create(db, NULL, "c", &p, &e);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "v";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = "{\"M\":8,\"efConstruction\":32}";
    if (!rc) /* background builds run (and get killed) while the writers insert */
        rc = kite_index_create(db, NULL, "c", &ip, &e);
    if (!rc)
        rc = kite_collection_load(db, NULL, "c", &e);
    if (rc)
        fprintf(stderr, "create: %s\n", e.message);
    return rc;
}

static void *writer(void *arg)
{
    struct wargs *w = arg;
    int64_t ids[BATCH];
    float vecs[BATCH * DIM];
    for (int64_t b = 0;; b++) {
        bool upsert = b > 0 && b % 7 == 0;
        int64_t first = upsert ? w->base + (b - 1) * BATCH : w->base + b * BATCH;
        for (int i = 0; i < BATCH; i++) {
            ids[i] = first + i;
            for (int k = 0; k < DIM; k++)
                vecs[i * DIM + k] = (float)((ids[i] * 31 + k) % 97) / 97.0f;
        }
        kite_column cols[2] = {{"id", KITE_DT_INT64, 0, 0, BATCH, ids, NULL, NULL},
                               {"v", KITE_DT_FLOAT_VECTOR, 0, DIM, BATCH, vecs, NULL, NULL}};
        kite_write_result wr;
        kite_err e;
        int rc = upsert ? kite_upsert(w->db, NULL, "c", NULL, cols, 2, &wr, &e)
                        : kite_insert(w->db, NULL, "c", NULL, cols, 2, &wr, &e);
        if (rc) {
            fprintf(stderr, "write: %s\n", e.message);
            exit(3);
        }
        kite_write_result_free(&wr);
        pthread_mutex_lock(&out_mu);
        for (int i = 0; i < BATCH && !upsert; i++)
            printf("%" PRId64 "\n", ids[i]);
        fflush(stdout);
        pthread_mutex_unlock(&out_mu);
        if (b % 11 == 5 && kite_collection_flush(w->db, NULL, "c", &e)) {
            fprintf(stderr, "flush: %s\n", e.message);
            exit(4);
        }
    }
    return NULL;
}

static int do_write(const char *dir, int64_t cycle)
{
    kite_db *db;
    kite_err e;
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 2000;
    if (kite_open(dir, &o, &db, &e)) {
        fprintf(stderr, "open: %s\n", e.message);
        return 2;
    }
    if (ensure_collection(db))
        return 2;
    pthread_t t[2];
    struct wargs w[2];
    for (int i = 0; i < 2; i++) {
        w[i].db = db;
        w[i].base = cycle * 1000000000LL + i * 100000000LL;
        pthread_create(&t[i], NULL, writer, &w[i]);
    }
    pthread_join(t[0], NULL);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int do_check(const char *dir, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return 2;
    }
    size_t cap = 1024, n = 0;
    int64_t *ids = malloc(cap * 8);
    char line[64];
    while (fgets(line, sizeof(line), f)) {
        if (!strchr(line, '\n'))
            break; /* torn last line: its write may not have been acknowledged */
        if (n == cap)
            ids = realloc(ids, (cap *= 2) * 8);
        ids[n++] = strtoll(line, NULL, 10);
    }
    fclose(f);
    qsort(ids, n, 8, cmp_i64);
    kite_db *db;
    kite_err e;
    if (kite_open(dir, NULL, &db, &e)) {
        fprintf(stderr, "reopen failed: %s\n", e.message);
        return 1;
    }
    kite_column c = {"id", KITE_DT_INT64, 0, 0, n, ids, NULL, NULL};
    kite_result *r = NULL;
    int rc = n ? kite_get(db, NULL, "c", &c, NULL, 0, NULL, 0, &r, &e) : 0;
    if (rc) {
        fprintf(stderr, "get failed: %s\n", e.message);
        return 1;
    }
    size_t found = r ? r->n_rows : 0;
    uint64_t rows = 0;
    if (n && kite_collection_row_count(db, NULL, "c", &rows, &e))
        return 1;
    kite_result_free(r);
    kite_close(db);
    /* Every acked id must come back exactly once (the get returns one row per match). */
    printf("acked %zu found %zu rows %" PRIu64 "\n", n, found, rows);
    free(ids);
    return found == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "write") == 0)
        return do_write(argv[2], strtoll(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "check") == 0)
        return do_check(argv[2], argv[3]);
    fprintf(stderr, "usage: kill9_writer write DIR CYCLE | check DIR ACKED_FILE\n");
    return 2;
}
