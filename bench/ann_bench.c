/*
 * ann_bench.c — Kite ANN index benchmark on TEXMEX files: build time, memory,
 * then recall@10 and QPS for a sweep of search parameters.  Its twin,
 * ann_bench_peers.py, runs hnswlib / FAISS on the same files with the same
 * parameters, so the two outputs line up row by row (bench/RESULTS.md "ANN").
 *
 * Build by hand (not part of any CMake target), from a Release build dir B:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc/index -Isrc/core -Isrc/simd \
 *      bench/ann_bench.c B/src/index/libkite_index.a B/src/simd/libkite_simd.a \
 *      B/src/core/libkite_core.a -ljansson -lm -lpthread -o ann_bench
 * Run:
 *   ann_bench DIR TYPE METRIC BUILD_JSON PARAM v1,v2,... [threads]
 *   e.g. ann_bench data/g128 HNSW L2 '{"M":16,"efConstruction":200}' ef 16,32,64,128 1
 * DIR holds base.fvecs, query.fvecs and gt.ivecs (exact neighbours, best first).
 * QPS: one batch call over all queries, median of 3 runs after a warm-up run.
 * threads = 1 searches on the calling thread only (no pool).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index.h"
#include "pool.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Read a TEXMEX .fvecs/.ivecs file: n records of int32 d then d × 4 bytes. */
static void *read_vecs(const char *path, size_t *n, uint32_t *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    int32_t dim;
    if (fread(&dim, 4, 1, f) != 1 || dim <= 0) {
        fprintf(stderr, "%s: bad header\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t rec = 4 + 4 * (size_t)dim;
    *n = (size_t)sz / rec;
    *d = (uint32_t)dim;
    uint8_t *out = malloc(*n * 4 * (size_t)dim);
    for (size_t i = 0; i < *n; i++) {
        int32_t dd;
        if (fread(&dd, 4, 1, f) != 1 || fread(out + i * 4 * (size_t)dim, 4, (size_t)dim, f) !=
                                            (size_t)dim) {
            fprintf(stderr, "%s: short read\n", path);
            exit(1);
        }
    }
    fclose(f);
    return out;
}

static int metric_of(const char *s)
{
    if (!strcmp(s, "L2"))
        return KITE_METRIC_L2;
    if (!strcmp(s, "IP"))
        return KITE_METRIC_IP;
    return KITE_METRIC_COSINE;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s DIR TYPE METRIC BUILD_JSON PARAM v1,v2,.. [threads]\n",
                argv[0]);
        return 2;
    }
    char path[1024];
    size_t n, nq, ngt;
    uint32_t dim, qdim, gtk;
    snprintf(path, sizeof(path), "%s/base.fvecs", argv[1]);
    float *base = read_vecs(path, &n, &dim);
    snprintf(path, sizeof(path), "%s/query.fvecs", argv[1]);
    float *queries = read_vecs(path, &nq, &qdim);
    snprintf(path, sizeof(path), "%s/gt.ivecs", argv[1]);
    int32_t *gt = read_vecs(path, &ngt, &gtk);
    int threads = argc > 7 ? atoi(argv[7]) : 1;
    struct kite_pool *pool = NULL;
    if (threads > 1 && kite_pool_new(threads, &pool) != 0)
        return 1;
    int metric = metric_of(argv[3]);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct vindex *ix;
    kite_err err;
    struct kite_pool *bpool = NULL;
    kite_pool_new(0, &bpool);
    struct vindex_build_params bp = {argv[2], metric, argv[4], 1, bpool};
    double t0 = now_s();
    if (vindex_build(&bp, &v, &ix, &err) != 0) {
        fprintf(stderr, "build: %s\n", err.message);
        return 1;
    }
    double build_s = now_s() - t0;
    printf("engine,type,build_json,param,value,threads,recall10,qps,build_s,index_bytes\n");
    size_t k = 10;
    struct kite_hit *hits = malloc(nq * k * sizeof(*hits));
    size_t *counts = malloc(nq * sizeof(size_t));
    char *list = strdup(argv[6]);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        char sj[128];
        snprintf(sj, sizeof(sj), "{\"%s\":%s}", argv[5], tok);
        struct vsearch_params p;
        if (vindex_parse_search_params(argv[2], sj, (int64_t)k, &p, &err) != 0) {
            fprintf(stderr, "params: %s\n", err.message);
            return 1;
        }
        struct vsearch_req req = {queries, nq, NULL, SIZE_MAX, &p, pool};
        struct vsearch_out out = {hits, counts};
        double times[3];
        vindex_search(ix, &v, &req, &out, &err); /* warm-up, gives recall */
        size_t good = 0;
        for (size_t q = 0; q < nq; q++)
            for (size_t j = 0; j < counts[q]; j++)
                for (size_t t = 0; t < k; t++)
                    if ((int32_t)hits[q * k + j].row == gt[q * gtk + t]) {
                        good++;
                        break;
                    }
        for (int r = 0; r < 3; r++) {
            double s = now_s();
            vindex_search(ix, &v, &req, &out, &err);
            times[r] = now_s() - s;
        }
        /* median of 3 */
        double a = times[0], b = times[1], c = times[2];
        double med = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
        printf("kite,%s,%s,%s,%s,%d,%.4f,%.0f,%.2f,%zu\n", argv[2], argv[4], argv[5], tok,
               threads, (double)good / (double)(nq * k), (double)nq / med, build_s,
               vindex_memory_bytes(ix));
        fflush(stdout);
    }
    free(list);
    vindex_free(ix);
    kite_pool_free(pool);
    kite_pool_free(bpool);
    free(hits);
    free(counts);
    free(base);
    free(queries);
    free(gt);
    return 0;
}
