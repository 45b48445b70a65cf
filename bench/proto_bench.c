/*
 * proto_bench.c — the in-process half of the protocol overhead benchmark.
 *
 *   proto_bench DIR [--rows N] [--dim D] [--batch B] [--queries Q] [--topk K]
 *                   [--conc C]...
 *
 * For each concurrency C (default 1 and 4): creates collection "pb_cC" (Int64 pk
 * "id", FloatVector "v" of dim D) with an HNSW index (M 16, efConstruction 64, L2)
 * in a fresh DIR, loads it, inserts N rows in batches of B from C threads
 * (columnar kite_insert, each batch durable before it returns), then runs Q
 * single-vector searches (top-K, ef 64) from C threads, timing each call.
 * Prints one line per concurrency:
 *
 *   RESULT path=inproc conc=C rows=N insert_s=S insert_rows_per_s=R queries=Q
 *          search_s=S search_qps=Q p50_ms=A p99_ms=B
 *
 * bench/proto_bench.mjs runs the identical workload (same vectors: xorshift32
 * seeded per row) over gRPC and REST; bench/proto_bench.sh runs both and prints
 * the overhead table.
 *
 * Threading: worker threads share the kite_db handle (thread-safe by contract);
 * each writes only its own slice of the latency array, joined before reading.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kite/kite.h"

#define MAX_CONC 64

struct run {
    kite_db *db;
    const char *coll;
    int64_t rows;
    int dim, batch, topk;
    int64_t queries;
    atomic_llong next;    /* next batch index (insert) or query index (search) */
    double *lat_ms;       /* queries entries, written once each */
};

struct worker {
    struct run *r;
    int rc;
    char msg[512];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Row i's vector, identical to proto_bench.mjs: xorshift32 seeded with i*2654435761+1. */
static void row_vector(int64_t i, int dim, float *out)
{
    uint32_t x = (uint32_t)((uint64_t)i * 2654435761u + 1u);
    if (x == 0)
        x = 1;
    for (int d = 0; d < dim; d++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[d] = (float)((double)x / 4294967296.0);
    }
}

/* Query q uses the vector of a row outside the inserted range. */
static int64_t query_row(int64_t q)
{
    return 1000000000 + q;
}

static void *insert_worker(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    size_t b = (size_t)r->batch;
    int64_t *ids = malloc(b * sizeof(int64_t));
    float *vecs = malloc(b * (size_t)r->dim * sizeof(float));
    if (!ids || !vecs) {
        w->rc = KITE_ENOMEM;
        snprintf(w->msg, sizeof(w->msg), "out of memory for a batch of %zu rows", b);
        goto out;
    }
    for (;;) {
        int64_t k = atomic_fetch_add(&r->next, 1);
        int64_t first = k * r->batch;
        if (first >= r->rows)
            break;
        size_t n = (size_t)(r->rows - first < r->batch ? r->rows - first : r->batch);
        for (size_t i = 0; i < n; i++) {
            ids[i] = first + (int64_t)i;
            row_vector(ids[i], r->dim, vecs + i * (size_t)r->dim);
        }
        kite_column cols[2] = {
            {.name = "id", .dtype = KITE_DT_INT64, .n = n, .data = ids},
            {.name = "v", .dtype = KITE_DT_FLOAT_VECTOR, .dim = (uint32_t)r->dim, .n = n,
             .data = vecs},
        };
        kite_write_result res;
        kite_err err;
        memset(&res, 0, sizeof(res));
        w->rc = kite_insert(r->db, NULL, r->coll, NULL, cols, 2, &res, &err);
        kite_write_result_free(&res);
        if (w->rc) {
            snprintf(w->msg, sizeof(w->msg), "insert: %s", err.message);
            break;
        }
    }
out:
    free(ids);
    free(vecs);
    return NULL;
}

static void *search_worker(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->r;
    float *q = malloc((size_t)r->dim * sizeof(float));
    if (!q) {
        w->rc = KITE_ENOMEM;
        snprintf(w->msg, sizeof(w->msg), "out of memory for a query vector");
        return NULL;
    }
    for (;;) {
        int64_t k = atomic_fetch_add(&r->next, 1);
        if (k >= r->queries)
            break;
        row_vector(query_row(k), r->dim, q);
        kite_search_params p;
        kite_search_params_init(&p);
        p.anns_field = "v";
        p.vectors = q;
        p.nq = 1;
        p.vector_dtype = KITE_DT_FLOAT_VECTOR;
        p.dim = (uint32_t)r->dim;
        p.limit = r->topk;
        p.params_json = "{\"ef\":64}";
        kite_result *res = NULL;
        kite_err err;
        double t0 = now_s();
        w->rc = kite_search(r->db, NULL, r->coll, &p, &res, &err);
        double t1 = now_s();
        if (!w->rc && res->n_rows != (size_t)r->topk) {
            snprintf(w->msg, sizeof(w->msg), "search %" PRId64 " returned %zu rows, expected %d",
                     k, res->n_rows, r->topk);
            w->rc = KITE_EINTERNAL;
        } else if (w->rc) {
            snprintf(w->msg, sizeof(w->msg), "search: %s", err.message);
        }
        kite_result_free(res);
        if (w->rc)
            break;
        r->lat_ms[k] = (t1 - t0) * 1e3;
    }
    free(q);
    return NULL;
}

/* Runs fn on conc threads; returns 0 or 1 (message printed). */
static int run_threads(struct run *r, int conc, void *(*fn)(void *))
{
    struct worker ws[MAX_CONC];
    pthread_t th[MAX_CONC];
    int started = 0, rc = 0;
    atomic_store(&r->next, 0);
    for (int t = 0; t < conc; t++) {
        ws[t] = (struct worker){.r = r};
        if (pthread_create(&th[t], NULL, fn, &ws[t]) != 0) {
            fprintf(stderr, "proto_bench: cannot start thread %d of %d\n", t, conc);
            rc = 1;
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
        if (ws[t].rc) {
            fprintf(stderr, "proto_bench: thread %d: %s\n", t, ws[t].msg);
            rc = 1;
        }
    }
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, int64_t n, double pct)
{
    int64_t k = (int64_t)(pct / 100.0 * (double)n + 0.999999) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return v[k];
}

static int setup(kite_db *db, const char *coll, int dim, kite_err *err)
{
    kite_field_schema f[2];
    memset(f, 0, sizeof(f));
    f[0].name = "id";
    f[0].dtype = KITE_DT_INT64;
    f[0].is_primary = true;
    f[1].name = "v";
    f[1].dtype = KITE_DT_FLOAT_VECTOR;
    f[1].dim = dim;
    kite_schema s = {.fields = f, .n_fields = 2};
    kite_create_params p;
    kite_create_params_init(&p);
    p.schema = &s;
    int rc = kite_collection_create(db, NULL, coll, &p, err);
    if (rc)
        return rc;
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "v";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = "{\"M\":16,\"efConstruction\":64}";
    rc = kite_index_create(db, NULL, coll, &ip, err);
    if (rc)
        return rc;
    return kite_collection_load(db, NULL, coll, err);
}

static int bench_one(kite_db *db, int conc, int64_t rows, int dim, int batch, int64_t queries,
                     int topk)
{
    char coll[32];
    snprintf(coll, sizeof(coll), "pb_c%d", conc);
    kite_err err;
    int rc = 1;
    struct run r = {.db = db, .coll = coll, .rows = rows, .dim = dim, .batch = batch,
                    .topk = topk, .queries = queries};
    r.lat_ms = calloc((size_t)queries, sizeof(double));
    if (!r.lat_ms) {
        fprintf(stderr, "proto_bench: out of memory for %" PRId64 " latencies\n", queries);
        return 1;
    }
    if (setup(db, coll, dim, &err)) {
        fprintf(stderr, "proto_bench: setting up %s: %s\n", coll, err.message);
        goto cleanup;
    }
    double t0 = now_s();
    if (run_threads(&r, conc, insert_worker))
        goto cleanup;
    double t1 = now_s();
    if (run_threads(&r, conc, search_worker))
        goto cleanup;
    double t2 = now_s();
    qsort(r.lat_ms, (size_t)queries, sizeof(double), cmp_double);
    printf("RESULT path=inproc conc=%d rows=%" PRId64 " insert_s=%.3f insert_rows_per_s=%.0f "
           "queries=%" PRId64 " search_s=%.3f search_qps=%.0f p50_ms=%.3f p99_ms=%.3f\n",
           conc, rows, t1 - t0, (double)rows / (t1 - t0), queries, t2 - t1,
           (double)queries / (t2 - t1), percentile(r.lat_ms, queries, 50),
           percentile(r.lat_ms, queries, 99));
    fflush(stdout);
    rc = 0;
cleanup:
    free(r.lat_ms);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: proto_bench DIR [--rows N] [--dim D] [--batch B] [--queries Q] "
                        "[--topk K] [--conc C]...\n");
        return 2;
    }
    const char *dir = argv[1];
    int64_t rows = 20000, queries = 800;
    int dim = 128, batch = 500, topk = 10;
    int concs[16], n_conc = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows"))
            rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim"))
            dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries"))
            queries = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--topk"))
            topk = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conc") && n_conc < 16)
            concs[n_conc++] = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "proto_bench: unknown option %s (or more than 16 --conc)\n", argv[i]);
            return 2;
        }
    }
    if (n_conc == 0) {
        concs[n_conc++] = 1;
        concs[n_conc++] = 4;
    }
    if (rows <= 0 || dim < 2 || batch <= 0 || queries <= 0 || topk <= 0 || topk > rows) {
        fprintf(stderr, "proto_bench: rows, dim (>= 2), batch, queries and topk (<= rows) must "
                        "be positive\n");
        return 2;
    }
    for (int i = 0; i < n_conc; i++) {
        if (concs[i] < 1 || concs[i] > MAX_CONC) {
            fprintf(stderr, "proto_bench: --conc must be 1..%d, not %d\n", MAX_CONC, concs[i]);
            return 2;
        }
    }
    kite_db *db = NULL;
    kite_err err;
    if (kite_open(dir, NULL, &db, &err)) {
        fprintf(stderr, "proto_bench: opening %s: %s\n", dir, err.message);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n_conc && !rc; i++)
        rc = bench_one(db, concs[i], rows, dim, batch, queries, topk);
    kite_close(db);
    return rc;
}
