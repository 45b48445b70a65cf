/*
 * flat_bench.c — time Kite's exact search (flat_search) on TEXMEX .fvecs data
 * or on synthetic data.  Not part of the test suite and of no CMake target;
 * build by hand (see bench/bench_flat.py, which also builds it):
 *
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc/core -Isrc/simd -Isrc/index
 *       bench/flat_bench.c src/index/flat.c src/index/topk.c, the src/simd and
 *       src/core sources, -lpthread -lm  (the ISA flags per file: see build() in
 *       bench/bench_flat.py, which does exactly this)
 *
 * Usage:
 *   flat_bench --base B.fvecs --query Q.fvecs [--n N] [--nq NQ] [--k K]
 *              [--metric L2|IP|COSINE] [--threads 1,2] [--runs R] [--gt G.ivecs]
 *              [--batch B] [--log debug]
 *   flat_bench --synthetic N,D,NQ [...]
 *
 * Output, one line per thread count (other lines are informational):
 *   RESULT threads=T nq=NQ batch=B n=N d=D k=K qps=Q ms_per_query=M recall=R
 *          simd=LEVEL cpu_ms_per_query=C
 * (C: process CPU time, all threads; on a shared machine a steadier figure
 * than wall time for 1-thread runs.)
 * QPS = nq / median wall time of one pass over all queries (one untimed
 * warm-up pass first); a pass is one flat_search call with all queries, or
 * with --batch B one call per B queries (B = 1: single-query latency mode).  recall is recall@k against --gt (-1 if none).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "index.h"
#include "log.h"
#include "pool.h"
#include "simd.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all threads). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Read up to max_rows vectors of a .fvecs/.ivecs file (4-byte elements). */
static void *read_vecs(const char *path, size_t max_rows, size_t *n_out, uint32_t *d_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    int32_t d;
    if (fread(&d, 4, 1, f) != 1 || d <= 0) {
        fprintf(stderr, "%s: bad header\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    size_t rows = (size_t)bytes / (4 + 4 * (size_t)d);
    if (max_rows && rows > max_rows)
        rows = max_rows;
    fseek(f, 0, SEEK_SET);
    char *out = kite_malloc_aligned(rows * (size_t)d * 4);
    for (size_t r = 0; r < rows; r++) {
        int32_t dd;
        if (fread(&dd, 4, 1, f) != 1 || dd != d ||
            fread(out + r * (size_t)d * 4, 4, (size_t)d, f) != (size_t)d) {
            fprintf(stderr, "%s: short read at row %zu\n", path, r);
            exit(2);
        }
    }
    fclose(f);
    *n_out = rows;
    *d_out = (uint32_t)d;
    return out;
}

/* One pass over all queries in calls of `batch` queries (0 = one call). */
static int search_all(const struct vec_view *v, const float *queries, size_t nq, size_t batch,
                      const struct vsearch_params *p, struct kite_pool *pool,
                      struct kite_hit *hits, size_t *counts, kite_err *err)
{
    if (batch == 0)
        batch = nq;
    for (size_t q0 = 0; q0 < nq; q0 += batch) {
        size_t m = nq - q0 < batch ? nq - q0 : batch;
        struct vsearch_req req = {.queries = queries + q0 * v->dim, .nq = m,
                                  .n_allowed = SIZE_MAX, .params = p, .pool = pool};
        struct vsearch_out out = {hits + q0 * (size_t)p->k, counts + q0};
        int rc = flat_search(v, &req, &out, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *base_path = NULL, *query_path = NULL, *gt_path = NULL, *threads_s = "1";
    const char *metric_s = "L2";
    size_t n_max = 0, nq_max = 0, syn_n = 0, syn_nq = 0;
    uint32_t syn_d = 0;
    int k = 10, runs = 5;
    size_t batch = 0; /* queries per flat_search call; 0 = all in one call */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--base"))
            base_path = argv[i + 1];
        else if (!strcmp(argv[i], "--query"))
            query_path = argv[i + 1];
        else if (!strcmp(argv[i], "--gt"))
            gt_path = argv[i + 1];
        else if (!strcmp(argv[i], "--n"))
            n_max = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--nq"))
            nq_max = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--k"))
            k = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads_s = argv[i + 1];
        else if (!strcmp(argv[i], "--metric"))
            metric_s = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--log"))
            kite_log_set_level(kite_log_level_from_name(argv[i + 1]));
        else if (!strcmp(argv[i], "--synthetic"))
            sscanf(argv[i + 1], "%zu,%u,%zu", &syn_n, &syn_d, &syn_nq);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    float *base, *queries;
    size_t n, nq;
    uint32_t d, dq;
    if (syn_n) {
        n = syn_n;
        nq = syn_nq;
        d = dq = syn_d;
        base = kite_malloc_aligned(n * d * sizeof(float));
        queries = kite_malloc_aligned(nq * d * sizeof(float));
        uint64_t s = 88172645463325252ull;
        for (size_t i = 0; i < n * d; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            base[i] = (float)(s >> 40) / (float)(1 << 24);
        }
        for (size_t i = 0; i < nq * d; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            queries[i] = (float)(s >> 40) / (float)(1 << 24);
        }
    } else if (base_path && query_path) {
        base = read_vecs(base_path, n_max, &n, &d);
        queries = read_vecs(query_path, nq_max, &nq, &dq);
        if (d != dq) {
            fprintf(stderr, "dimension mismatch %u vs %u\n", d, dq);
            return 2;
        }
    } else {
        fprintf(stderr, "need --base and --query, or --synthetic N,D,NQ\n");
        return 2;
    }
    if (nq_max && nq > nq_max)
        nq = nq_max;
    int metric = !strcmp(metric_s, "IP") ? KITE_METRIC_IP
                 : !strcmp(metric_s, "COSINE") ? KITE_METRIC_COSINE
                                               : KITE_METRIC_L2;
    int32_t *gt = NULL;
    size_t gt_rows = 0;
    uint32_t gt_k = 0;
    if (gt_path && (!n_max || n_max >= 1u << 31))
        gt = read_vecs(gt_path, nq, &gt_rows, &gt_k);

    struct vec_view v = {.dtype = KITE_DT_FLOAT_VECTOR, .dim = d, .n = n, .data = base};
    struct vsearch_params p = {.metric = metric, .k = k};
    struct kite_hit *hits = malloc(nq * (size_t)k * sizeof(*hits));
    size_t *counts = malloc(nq * sizeof(*counts));
    printf("# n=%zu d=%u nq=%zu k=%d metric=%s simd=%s\n", n, d, nq, k, metric_s,
           kite_simd_level_name(kite_simd_init()));

    char *ts = strdup(threads_s);
    for (char *tok = strtok(ts, ","); tok; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        struct kite_pool *pool = NULL;
        if (t > 1 && kite_pool_new(t, &pool) != 0) {
            fprintf(stderr, "pool\n");
            return 1;
        }
        kite_err err = {0};
        if (search_all(&v, queries, nq, batch, &p, pool, hits, counts, &err) != 0) {
            fprintf(stderr, "flat_search: %s\n", err.message);
            return 1;
        }
        double recall = -1;
        if (gt && gt_k >= (uint32_t)k) {
            size_t found = 0;
            for (size_t qi = 0; qi < nq; qi++)
                for (size_t i = 0; i < counts[qi]; i++)
                    for (int j = 0; j < k; j++)
                        if ((int32_t)hits[qi * k + i].row == gt[qi * gt_k + j])
                            found++;
            recall = (double)found / ((double)nq * k);
        }
        double *times = malloc((size_t)runs * sizeof(double));
        double *cpu = malloc((size_t)runs * sizeof(double));
        for (int r = 0; r < runs; r++) {
            double c0 = cpu_s();
            double t0 = now_s();
            if (search_all(&v, queries, nq, batch, &p, pool, hits, counts, &err) != 0)
                return 1;
            times[r] = now_s() - t0;
            cpu[r] = cpu_s() - c0;
        }
        qsort(cpu, (size_t)runs, sizeof(double), cmp_double);
        qsort(times, (size_t)runs, sizeof(double), cmp_double);
        double med = times[runs / 2];
        printf("RESULT threads=%d nq=%zu batch=%zu n=%zu d=%u k=%d qps=%.1f ms_per_query=%.4f "
               "recall=%.4f simd=%s cpu_ms_per_query=%.4f\n",
               t, nq, batch ? batch : nq, n, d, k, (double)nq / med, med * 1e3 / (double)nq, recall,
               kite_simd_level_name(kite_simd()->level), cpu[runs / 2] * 1e3 / (double)nq);
        fflush(stdout);
        free(times);
        free(cpu);
        kite_pool_free(pool);
    }
    free(ts);
    free(hits);
    free(counts);
    return 0;
}
