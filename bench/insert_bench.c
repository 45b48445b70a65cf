/*
 * insert_bench.c — insert throughput over the embedded C API (libkite).
 *
 *   insert_bench DIR [--rows N] [--dim D] [--batch B] [--threads T]
 *
 * Creates collection "bench" (Int64 pk, one FloatVector of dim D, a VarChar tag)
 * in a fresh DIR, inserts N rows in batches of B from T threads (columnar
 * kite_insert; every batch durable before it returns, so concurrent threads share
 * WAL syncs through group commit), then flushes.  Prints one line:
 *
 *   INSERT api=c rows=N dim=D batch=B threads=T seconds=S rows_per_s=R flush_s=F
 *
 * bench/insert_bench.py runs this and the same load over REST side by side.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kite/kite.h"

struct job {
    kite_db *db;
    int64_t first, count;
    int dim, batch;
    int rc;
    char msg[512];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *writer(void *arg)
{
    struct job *j = arg;
    size_t b = (size_t)j->batch;
    int64_t *ids = malloc(b * sizeof(int64_t));
    float *vecs = malloc(b * (size_t)j->dim * sizeof(float));
    char *tags = malloc(b * 16);
    uint64_t *offs = malloc((b + 1) * sizeof(uint64_t));
    if (!ids || !vecs || !tags || !offs) {
        j->rc = KITE_ENOMEM;
        goto out;
    }
    uint64_t seed = (uint64_t)j->first * 2654435761u + 1;
    for (int64_t done = 0; done < j->count; done += (int64_t)b) {
        size_t n = (size_t)(j->count - done < (int64_t)b ? j->count - done : (int64_t)b);
        size_t toff = 0;
        offs[0] = 0;
        for (size_t i = 0; i < n; i++) {
            ids[i] = j->first + done + (int64_t)i;
            for (int d = 0; d < j->dim; d++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                vecs[i * (size_t)j->dim + (size_t)d] = (float)(seed >> 40) / (float)(1 << 24);
            }
            int len = snprintf(tags + toff, 16, "t%" PRId64, ids[i] % 1000);
            toff += (size_t)len;
            offs[i + 1] = toff;
        }
        kite_column cols[3] = {
            {.name = "id", .dtype = KITE_DT_INT64, .n = n, .data = ids},
            {.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = (uint32_t)j->dim, .n = n,
             .data = vecs},
            {.name = "tag", .dtype = KITE_DT_VARCHAR, .n = n, .data = tags, .offsets = offs},
        };
        kite_write_result res;
        kite_err err;
        memset(&res, 0, sizeof(res));
        j->rc = kite_insert(j->db, NULL, "bench", NULL, cols, 3, &res, &err);
        kite_write_result_free(&res);
        if (j->rc) {
            snprintf(j->msg, sizeof(j->msg), "%s", err.message);
            break;
        }
    }
out:
    free(ids);
    free(vecs);
    free(tags);
    free(offs);
    return NULL;
}

static int create(kite_db *db, int dim, kite_err *err)
{
    kite_field_schema f[3];
    memset(f, 0, sizeof(f));
    f[0].name = "id";
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = true;
    f[1].name = "v";
    f[1].dtype = KITE_DT_FLOAT_VECTOR;
    f[1].dim = dim;
    f[2].name = "tag";
    f[2].dtype = KITE_DT_VARCHAR;
    f[2].max_length = 16;
    kite_schema s = {.fields = f, .n_fields = 3};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    return kite_collection_create(db, NULL, "bench", &p, err);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: insert_bench DIR [--rows N] [--dim D] [--batch B] [--threads T]\n");
        return 2;
    }
    const char *dir = argv[1];
    int64_t rows = 200000;
    int dim = 128, batch = 1000, threads = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows"))
            rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim"))
            dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "insert_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (rows <= 0 || dim < 2 || batch <= 0 || threads <= 0 || threads > 64) {
        fprintf(stderr, "insert_bench: bad option value\n");
        return 2;
    }
    kite_db *db = NULL;
    kite_err err;
    if (kite_open(dir, NULL, &db, &err) || create(db, dim, &err)) {
        fprintf(stderr, "insert_bench: %s\n", err.message);
        kite_close(db);
        return 1;
    }
    struct job jobs[64];
    pthread_t th[64];
    int64_t per = rows / threads;
    double t0 = now_s();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){.db = db, .first = per * t, .dim = dim, .batch = batch};
        jobs[t].count = t == threads - 1 ? rows - per * t : per;
        pthread_create(&th[t], NULL, writer, &jobs[t]);
    }
    int rc = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        if (jobs[t].rc) {
            fprintf(stderr, "insert_bench: thread %d: %s\n", t, jobs[t].msg);
            rc = 1;
        }
    }
    double t1 = now_s();
    if (!rc && kite_collection_flush(db, NULL, "bench", &err)) {
        fprintf(stderr, "insert_bench: flush: %s\n", err.message);
        rc = 1;
    }
    double t2 = now_s();
    kite_close(db);
    if (rc)
        return rc;
    printf("INSERT api=c rows=%" PRId64 " dim=%d batch=%d threads=%d seconds=%.3f rows_per_s=%.0f "
           "flush_s=%.3f\n",
           rows, dim, batch, threads, t1 - t0, (double)rows / (t1 - t0), t2 - t1);
    return 0;
}
