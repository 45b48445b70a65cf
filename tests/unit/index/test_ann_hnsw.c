/*
 * test_ann_hnsw.c — HNSW through the vindex API: recall against brute force per
 * metric (fixed seeds, thresholds stated per test), filtered search at several
 * selectivities, range search, serialisation round trip and corrupt input.
 */
#include <math.h>
#include <pthread.h>

#include "alloc.h"
#include "buf.h"
#include "hnsw.h"
#include "index.h"
#include "pool.h"
#include "test.h"
#include "test_ann_util.h"

struct hfix {
    struct vec_view v;
    struct vindex *ix;
    void *base;
    void *queries;
    size_t nq;
    int metric;
};

static void build(struct hfix *f, int metric, int dtype, size_t n, uint32_t dim, const char *json,
                  struct kite_pool *pool)
{
    kite_err err;
    bool bin = dtype == KITE_DT_BINARY_VECTOR;
    memset(f, 0, sizeof(*f));
    f->metric = metric;
    f->nq = 100;
    /* Queries come from the same distribution as the data (held-out rows). */
    size_t rb = bin ? dim / 8 : dim * sizeof(float);
    f->base = bin ? (void *)tann_bits(n + f->nq, dim, 42) : (void *)tann_floats(n + f->nq, dim, 20, 42);
    f->queries = malloc(f->nq * rb);
    memcpy(f->queries, (uint8_t *)f->base + n * rb, f->nq * rb);
    f->v = (struct vec_view){dtype, dim, n, f->base, NULL};
    struct vindex_build_params bp = {"HNSW", metric, json, 7, pool};
    kite_err_clear(&err);
    int rc = vindex_build(&bp, &f->v, &f->ix, &err);
    if (rc)
        fprintf(stderr, "build: %s\n", err.message);
    ASSERT_OK(rc);
}

static void fix_free(struct hfix *f)
{
    vindex_free(f->ix);
    free(f->base);
    free(f->queries);
}

static double run(struct hfix *f, const char *sjson, size_t k, const uint64_t *allow,
                  size_t n_allowed, struct kite_pool *pool, struct kite_hit *hits, size_t *counts)
{
    kite_err err;
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("HNSW", sjson, (int64_t)k, &p, &err));
    p.metric = f->metric;
    struct vsearch_req req = {f->queries, f->nq, allow, n_allowed, &p, pool};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(vindex_search(f->ix, &f->v, &req, &out, &err));
    return tann_recall(f->metric, f->base, f->v.n, f->v.dim, f->queries, f->nq, allow, k, hits,
                       counts);
}

static void recall_case(int metric, int dtype, size_t n, uint32_t dim, double min_recall)
{
    struct hfix f;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    build(&f, metric, dtype, n, dim, "{\"M\":16,\"efConstruction\":100}", NULL);
    double r = run(&f, "{\"ef\":64}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    fprintf(stderr, "  recall@10 metric %d dtype %d n %zu dim %u: %.4f (min %.2f)\n", metric,
            dtype, n, dim, r, min_recall);
    ASSERT(r >= min_recall);
    for (size_t q = 0; q < f.nq; q++) {
        ASSERT_EQ_INT(counts[q], 10);
        for (size_t j = 1; j < 10; j++) {
            float a = hits[q * 10 + j - 1].score, b = hits[q * 10 + j].score;
            if (metric == KITE_METRIC_IP || metric == KITE_METRIC_COSINE)
                ASSERT(a >= b);
            else
                ASSERT(a <= b);
        }
    }
    fix_free(&f);
}

/* Thresholds: M16 ef64 on 5k x 32 clustered gaussians. */
TEST(hnsw_recall_l2) { recall_case(KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 5000, 32, 0.95); }
TEST(hnsw_recall_ip) { recall_case(KITE_METRIC_IP, KITE_DT_FLOAT_VECTOR, 5000, 32, 0.90); }
TEST(hnsw_recall_cosine) { recall_case(KITE_METRIC_COSINE, KITE_DT_FLOAT_VECTOR, 5000, 32, 0.95); }
TEST(hnsw_recall_hamming) { recall_case(KITE_METRIC_HAMMING, KITE_DT_BINARY_VECTOR, 3000, 256, 0.90); }
TEST(hnsw_recall_jaccard) { recall_case(KITE_METRIC_JACCARD, KITE_DT_BINARY_VECTOR, 3000, 256, 0.90); }

TEST(hnsw_parallel_build_and_search)
{
    struct kite_pool *pool;
    struct hfix f;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    ASSERT_OK(kite_pool_new(4, &pool));
    build(&f, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8000, 32, "{\"M\":16,\"efConstruction\":100}",
          pool);
    double r = run(&f, "{\"ef\":64}", 10, NULL, SIZE_MAX, pool, hits, counts);
    fprintf(stderr, "  parallel build recall@10: %.4f\n", r);
    ASSERT(r >= 0.95);
    /* Loading runs hnsw_validate over the concurrently built graph. */
    kite_err err;
    struct kite_buf buf;
    struct vindex *ix2;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(f.ix, &buf));
    ASSERT_OK(vindex_deserialize("HNSW", KITE_METRIC_L2, &f.v, buf.data, buf.len, &ix2, &err));
    vindex_free(ix2);
    kite_buf_free(&buf);
    fix_free(&f);
    kite_pool_free(pool);
}

TEST(hnsw_float16)
{
    struct hfix f;
    size_t n = 2000;
    uint32_t dim = 16;
    float *x = tann_floats(n + 50, dim, 10, 9);
    uint16_t *h = malloc(n * dim * 2);
    kite_simd()->f32_to_f16(x, h, n * dim);
    kite_simd()->f16_to_f32(h, x, n * dim); /* the oracle sees the rounded values */
    memset(&f, 0, sizeof(f));
    f.metric = KITE_METRIC_L2;
    f.nq = 50;
    f.base = x;
    f.queries = malloc(50 * dim * sizeof(float));
    memcpy(f.queries, x + n * dim, 50 * dim * sizeof(float));
    f.v = (struct vec_view){KITE_DT_FLOAT16_VECTOR, dim, n, h, NULL};
    struct vindex_build_params bp = {"HNSW", KITE_METRIC_L2, "{\"M\":16}", 1, NULL};
    ASSERT_OK(vindex_build(&bp, &f.v, &f.ix, NULL));
    struct kite_hit hits[50 * 10];
    size_t counts[50];
    kite_err err;
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("HNSW", "{\"ef\":64}", 10, &p, &err));
    struct vsearch_req req = {f.queries, f.nq, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(vindex_search(f.ix, &f.v, &req, &out, &err));
    double r = tann_recall(KITE_METRIC_L2, x, n, dim, f.queries, f.nq, NULL, 10, hits, counts);
    ASSERT(r >= 0.95);
    vindex_free(f.ix);
    free(h);
    free(x);
    free(f.queries);
}

/* Filtered search: every selectivity returns min(k, passing) rows, all passing. */
TEST(hnsw_filtered)
{
    struct hfix f;
    size_t n = 5000;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    const double sel[] = {0.5, 0.1, 0.01, 0.001};
    build(&f, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, 32, "{\"M\":16,\"efConstruction\":100}",
          NULL);
    uint64_t *allow = calloc((n + 63) / 64, 8);
    for (size_t si = 0; si < 4; si++) {
        uint64_t seed = 77 + si;
        size_t passing = 0;
        memset(allow, 0, (n + 63) / 64 * 8);
        for (size_t i = 0; i < n; i++)
            if ((double)(tann_rand(&seed) % 100000) < sel[si] * 100000) {
                allow[i / 64] |= 1ull << (i % 64);
                passing++;
            }
        /* Pass n_allowed for half of the cases, SIZE_MAX (unknown) for the other half. */
        /* ef 16: at 50% the graph path runs (exact only when n_allowed^2 <= n*ef*m0). */
        double r = run(&f, "{\"ef\":16}", 10, allow, si % 2 ? SIZE_MAX : passing, NULL, hits,
                       counts);
        fprintf(stderr, "  selectivity %.3f (%zu rows): recall %.4f\n", sel[si], passing, r);
        ASSERT(r >= 0.9);
        for (size_t q = 0; q < f.nq; q++) {
            ASSERT_EQ_INT(counts[q], passing < 10 ? passing : 10);
            for (size_t j = 0; j < counts[q]; j++) {
                uint32_t row = hits[q * 10 + j].row;
                ASSERT((allow[row / 64] >> (row % 64)) & 1);
            }
        }
    }
    /* Nothing passes: no hits. */
    memset(allow, 0, (n + 63) / 64 * 8);
    run(&f, NULL, 10, allow, 0, NULL, hits, counts);
    for (size_t q = 0; q < f.nq; q++)
        ASSERT_EQ_INT(counts[q], 0);
    free(allow);
    fix_free(&f);
}

TEST(hnsw_range_search)
{
    struct hfix f;
    struct kite_hit hits[100 * 50];
    size_t counts[100];
    build(&f, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 3000, 16, "{\"M\":16}", NULL);
    run(&f, "{\"radius\":12.0,\"range_filter\":2.0}", 50, NULL, SIZE_MAX, NULL, hits, counts);
    size_t total = 0;
    for (size_t q = 0; q < f.nq; q++) {
        for (size_t j = 0; j < counts[q]; j++) {
            float s = hits[q * 50 + j].score;
            ASSERT(s >= 2.0f && s < 12.0f);
        }
        total += counts[q];
    }
    ASSERT(total > 0);
    fix_free(&f);

    /* IP: keep radius < score <= range_filter. */
    build(&f, KITE_METRIC_IP, KITE_DT_FLOAT_VECTOR, 3000, 16, "{\"M\":16}", NULL);
    run(&f, "{\"radius\":5.0,\"range_filter\":40.0}", 50, NULL, SIZE_MAX, NULL, hits, counts);
    total = 0;
    for (size_t q = 0; q < f.nq; q++) {
        for (size_t j = 0; j < counts[q]; j++) {
            float s = hits[q * 50 + j].score;
            ASSERT(s > 5.0f && s <= 40.0f);
        }
        total += counts[q];
    }
    ASSERT(total > 0);
    fix_free(&f);
}

TEST(hnsw_serde_roundtrip)
{
    struct hfix f;
    struct kite_buf buf;
    struct vindex *ix2 = NULL;
    kite_err err;
    struct kite_hit h1[100 * 10], h2[100 * 10];
    size_t c1[100], c2[100];
    build(&f, KITE_METRIC_COSINE, KITE_DT_FLOAT_VECTOR, 2000, 24, "{\"M\":8}", NULL);
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(f.ix, &buf));
    ASSERT_OK(vindex_deserialize("HNSW", KITE_METRIC_COSINE, &f.v, buf.data, buf.len, &ix2, &err));
    run(&f, NULL, 10, NULL, SIZE_MAX, NULL, h1, c1);
    struct vindex *orig = f.ix;
    f.ix = ix2;
    run(&f, NULL, 10, NULL, SIZE_MAX, NULL, h2, c2);
    f.ix = orig;
    for (size_t q = 0; q < f.nq; q++) {
        ASSERT_EQ_INT(c1[q], c2[q]);
        for (size_t j = 0; j < c1[q]; j++) {
            ASSERT_EQ_INT(h1[q * 10 + j].row, h2[q * 10 + j].row);
            ASSERT(h1[q * 10 + j].score == h2[q * 10 + j].score);
        }
    }
    /* Serialising the loaded copy gives the same bytes. */
    struct kite_buf b2;
    kite_buf_init(&b2, 0);
    ASSERT_OK(vindex_serialize(ix2, &b2));
    ASSERT_EQ_INT(b2.len, buf.len);
    ASSERT(memcmp(b2.data, buf.data, buf.len) == 0);
    ASSERT(vindex_memory_bytes(ix2) > 2000 * 17 * 4);
    /* Wrong metric or wrong segment shape is refused. */
    struct vindex *ix3 = NULL;
    ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &f.v, buf.data, buf.len, &ix3, &err),
                  KITE_ECORRUPT);
    ASSERT(ix3 == NULL);
    kite_buf_free(&b2);
    vindex_free(ix2);
    kite_buf_free(&buf);
    fix_free(&f);
}

TEST_TIMEOUT(hnsw_corrupt_input, 120)
{
    struct hfix f;
    struct kite_buf buf;
    struct vindex *ix2;
    kite_err err;
    build(&f, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 300, 8, "{\"M\":4,\"efConstruction\":32}",
          NULL);
    f.nq = 5;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(f.ix, &buf));
    uint8_t *copy = malloc(buf.len);
    /* Every truncation is corrupt. */
    for (size_t len = 0; len < buf.len; len += (len < 400 ? 1 : 7)) {
        ix2 = NULL;
        ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &f.v, buf.data, len, &ix2, &err),
                      KITE_ECORRUPT);
        ASSERT(ix2 == NULL);
    }
    /* Bit flips: either rejected, or a still-valid graph that searches safely. */
    size_t rejected = 0, accepted = 0;
    uint64_t seed = 5;
    for (int t = 0; t < 3000; t++) {
        memcpy(copy, buf.data, buf.len);
        size_t pos = t < 48 * 8 ? (size_t)t / 8 : tann_rand(&seed) % buf.len;
        copy[pos] ^= (uint8_t)(1u << (t % 8));
        ix2 = NULL;
        int rc = vindex_deserialize("HNSW", KITE_METRIC_L2, &f.v, copy, buf.len, &ix2, &err);
        if (rc == KITE_OK) {
            struct kite_hit hits[5 * 10];
            size_t counts[5];
            struct vindex *orig = f.ix;
            f.ix = ix2;
            run(&f, NULL, 10, NULL, SIZE_MAX, NULL, hits, counts);
            f.ix = orig;
            vindex_free(ix2);
            accepted++;
        } else {
            ASSERT_EQ_INT(rc, KITE_ECORRUPT);
            rejected++;
        }
    }
    fprintf(stderr, "  bit flips: %zu rejected, %zu accepted as valid graphs\n", rejected,
            accepted);
    ASSERT(rejected > 0);
    /* Header flips (magic, version, counts) are always rejected except ef/reserved-neutral. */
    memcpy(copy, buf.data, buf.len);
    copy[0] ^= 1;
    ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &f.v, copy, buf.len, &ix2, &err),
                  KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "magic");
    free(copy);
    kite_buf_free(&buf);
    fix_free(&f);
}

TEST(hnsw_tiny_and_edge_cases)
{
    kite_err err;
    float data[3 * 2] = {0, 0, 1, 0, 0, 5};
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, 2, 3, data, NULL};
    struct vindex *ix;
    struct vindex_build_params bp = {"HNSW", KITE_METRIC_L2, NULL, 1, NULL};
    ASSERT_OK(vindex_build(&bp, &v, &ix, &err));
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("HNSW", NULL, 10, &p, &err));
    float q[2] = {0.9f, 0.1f};
    struct kite_hit hits[10];
    size_t counts[1];
    struct vsearch_req req = {q, 1, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(vindex_search(ix, &v, &req, &out, &err));
    ASSERT_EQ_INT(counts[0], 3);
    ASSERT_EQ_INT(hits[0].row, 1);
    ASSERT_NEAR(hits[0].score, 0.02, 1e-6);
    ASSERT_EQ_INT(hits[2].row, 2);
    /* Metric mismatch at search. */
    p.metric = KITE_METRIC_IP;
    ASSERT_EQ_INT(vindex_search(ix, &v, &req, &out, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "metric type not match");
    /* A different segment shape is refused. */
    p.metric = KITE_METRIC_L2;
    struct vec_view v2 = v;
    v2.n = 2;
    ASSERT_EQ_INT(vindex_search(ix, &v2, &req, &out, &err), KITE_EINVAL);
    vindex_free(ix);

    /* Empty segment. */
    struct vec_view e = {KITE_DT_FLOAT_VECTOR, 2, 0, data, NULL};
    ASSERT_OK(vindex_build(&bp, &e, &ix, &err));
    ASSERT_OK(vindex_search(ix, &e, &req, &out, &err));
    ASSERT_EQ_INT(counts[0], 0);
    struct kite_buf buf;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(ix, &buf));
    vindex_free(ix);
    ASSERT_OK(vindex_deserialize("HNSW", KITE_METRIC_L2, &e, buf.data, buf.len, &ix, &err));
    vindex_free(ix);
    kite_buf_free(&buf);
    vindex_free(NULL);
}

/*
 * OOM loop (STYLE.md §12): count the allocations of build, serialize, load and
 * search, then fail each one in turn: every failure is a clean KITE_ENOMEM
 * (ASan checks for leaks), never a crash.
 */
static int oom_cycle(const char *type, const struct vec_view *v, const float *q)
{
    struct vindex *ix = NULL, *ix2 = NULL;
    struct kite_buf buf;
    struct vsearch_params p;
    struct kite_hit hits[5 * 10];
    size_t counts[5];
    int rc;
    struct vindex_build_params bp = {type, KITE_METRIC_COSINE, NULL, 1, NULL};
    if (!strcmp(type, "IVF_PQ"))
        bp.params_json = "{\"nlist\":8,\"m\":4,\"nbits\":4}";
    else if (!strcmp(type, "HNSW"))
        bp.params_json = "{\"M\":4}";
    else if (!strcmp(type, "ANNOY"))
        bp.metric = KITE_METRIC_L2;
    if (!strcmp(type, "BIN_IVF_FLAT"))
        bp.metric = KITE_METRIC_HAMMING;
    if (!bp.params_json && strcmp(type, "ANNOY"))
        bp.params_json = "{\"nlist\":8}";
    kite_buf_init(&buf, 0);
    if ((rc = vindex_build(&bp, v, &ix, NULL)))
        goto out;
    if ((rc = vindex_serialize(ix, &buf)))
        goto out;
    if ((rc = vindex_deserialize(type, bp.metric, v, buf.data, buf.len, &ix2, NULL)))
        goto out;
    if ((rc = vindex_parse_search_params(type, NULL, 10, &p, NULL)))
        goto out;
    struct vsearch_req req = {q, 5, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    rc = vindex_search(ix2, v, &req, &out, NULL);
out:
    vindex_free(ix);
    vindex_free(ix2);
    kite_buf_free(&buf);
    return rc;
}

TEST_TIMEOUT(ann_oom_is_clean, 240)
{
    const char *types[] = {"HNSW", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "SCANN", "BIN_IVF_FLAT",
                           "ANNOY"};
    float *x = tann_floats(300 + 5, 8, 4, 3);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, 8, 300, x, NULL};
    for (int t = 0; t < 7; t++) {
        struct vec_view vv = v;
        if (!strcmp(types[t], "BIN_IVF_FLAT")) {
            vv.dtype = KITE_DT_BINARY_VECTOR;
            vv.dim = 64;
        }
        kite_alloc_fail_at(0, false);
        ASSERT_OK(oom_cycle(types[t], &vv, x + 300 * 8));
        uint64_t total = kite_alloc_count();
        fprintf(stderr, "  %s: failing each of %llu allocations\n", types[t], (unsigned long long)total);
        for (uint64_t nth = 1; nth <= total; nth++) {
            kite_alloc_fail_at(nth, false);
            int rc = oom_cycle(types[t], &vv, x + 300 * 8);
            kite_alloc_fail_at(0, false);
            if (rc != KITE_OK && rc != KITE_ENOMEM)
                TEST_FAIL_("%s: allocation %llu of %llu failed with %d", types[t],
                           (unsigned long long)nth, (unsigned long long)total, rc);
        }
    }
    free(x);
}

struct conc_arg {
    struct hfix *f;
    const char *type;
    int rc;
    size_t total;
};

static void *conc_search(void *p)
{
    struct conc_arg *a = p;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    struct vsearch_params sp;
    a->rc = vindex_parse_search_params(a->type, NULL, 10, &sp, NULL);
    struct vsearch_req req = {a->f->queries, a->f->nq, NULL, SIZE_MAX, &sp, NULL};
    struct vsearch_out out = {hits, counts};
    for (int it = 0; it < 5 && a->rc == 0; it++) {
        a->rc = vindex_search(a->f->ix, &a->f->v, &req, &out, NULL);
        for (size_t q = 0; q < a->f->nq; q++)
            a->total += counts[q];
    }
    return NULL;
}

/* Several threads search one index at once (run under TSan: no shared writes). */
TEST(ann_concurrent_searches)
{
    const char *types[] = {"HNSW", "IVF_SQ8", "ANNOY"};
    for (int t = 0; t < 3; t++) {
        struct hfix f;
        kite_err err;
        memset(&f, 0, sizeof(f));
        f.nq = 100;
        f.base = tann_floats(2000 + f.nq, 16, 10, 5);
        f.queries = malloc(f.nq * 16 * sizeof(float));
        memcpy(f.queries, (float *)f.base + 2000 * 16, f.nq * 16 * sizeof(float));
        f.v = (struct vec_view){KITE_DT_FLOAT_VECTOR, 16, 2000, f.base, NULL};
        struct vindex_build_params bp = {types[t], KITE_METRIC_L2, NULL, 1, NULL};
        ASSERT_OK(vindex_build(&bp, &f.v, &f.ix, &err));
        pthread_t th[4];
        struct conc_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (struct conc_arg){&f, types[t], 0, 0};
            ASSERT_EQ_INT(pthread_create(&th[i], NULL, conc_search, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            ASSERT_OK(args[i].rc);
            ASSERT_EQ_INT(args[i].total, 5 * 100 * 10);
        }
        fix_free(&f);
    }
}

/*
 * Quantized traversal (hnsw_sq.c): the walk uses 8-bit codes, the results are
 * re-ranked exactly, so scores must equal the exact distances and recall must
 * match the float walk.  dim 100 exercises the kernels' tails.
 */
static void sq_case(int metric, double min_recall)
{
    const size_t n = 4000, nq = 100, k = 10;
    const uint32_t dim = 100;
    float *base = tann_floats(n + nq, dim, 20, 11);
    const float *queries = base + n * dim;
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct hnsw_config cfg = {metric, 16, 100, 5, NULL, false};
    struct hnsw *h = NULL;
    kite_err err;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    struct vsearch_params p;

    ASSERT_OK(hnsw_build(&cfg, &v, &h, &err));
    ASSERT(h->sq_codes != NULL && h->sq != NULL);
    ASSERT_OK(vindex_parse_search_params("HNSW", "{\"ef\":48}", (int64_t)k, &p, &err));
    p.metric = metric;
    struct vsearch_req req = {queries, nq, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(hnsw_search(h, &v, &req, &out, &err));
    double r_sq = tann_recall(metric, base, n, dim, queries, nq, NULL, k, hits, counts);
    for (size_t q = 0; q < nq; q++) {
        ASSERT_EQ_INT(counts[q], k);
        for (size_t j = 0; j < k; j++) {
            const struct kite_hit *hit = &hits[q * k + j];
            double d = tann_dist(metric, queries + q * dim, base + (size_t)hit->row * dim, dim);
            double want = metric == KITE_METRIC_L2 ? d : -d;
            ASSERT_NEAR(hit->score, want, 1e-3 * (1.0 + fabs(want)));
        }
    }
    /* The same codes walked with the float code kernels (where r_sq used the integer one). */
    hnsw_sq_idot_fn saved_idot = h->sq_idot;
    h->sq_idot = NULL;
    ASSERT_OK(hnsw_search(h, &v, &req, &out, &err));
    h->sq_idot = saved_idot;
    double r_fc = tann_recall(metric, base, n, dim, queries, nq, NULL, k, hits, counts);
    /* The same graph walked on float distances. */
    const struct hnsw_sq_kernels *saved = h->sq;
    h->sq = NULL;
    ASSERT_OK(hnsw_search(h, &v, &req, &out, &err));
    h->sq = saved;
    double r_f = tann_recall(metric, base, n, dim, queries, nq, NULL, k, hits, counts);
    fprintf(stderr,
            "  metric %d: recall quantized walk %.4f (%s kernel), float-code walk %.4f, float "
            "walk %.4f\n",
            metric, r_sq, saved_idot ? "int8" : "float", r_fc, r_f);
    ASSERT(r_sq >= min_recall);
    ASSERT(r_sq >= r_f - 0.02);
    ASSERT(r_sq >= r_fc - 0.02);
    hnsw_free(h);
    free(base);
}

TEST(hnsw_sq_traversal_l2) { sq_case(KITE_METRIC_L2, 0.95); }
TEST(hnsw_sq_traversal_ip) { sq_case(KITE_METRIC_IP, 0.90); }
TEST(hnsw_sq_traversal_cosine) { sq_case(KITE_METRIC_COSINE, 0.95); }

/* Every code kernel this CPU can run agrees with a double-precision reference. */
TEST(hnsw_sq_kernels_agree)
{
    uint64_t seed = 3;
    float a[203], step[203];
    uint8_t c[203];
    const struct hnsw_sq_kernels *ks[2] = {&hnsw_sq_kernels_avx2, &hnsw_sq_kernels_avx512};
    int lv[2] = {KITE_SIMD_AVX2, KITE_SIMD_AVX512};
    for (size_t d = 0; d < 203; d++) {
        a[d] = tann_gauss(&seed);
        step[d] = 0.01f + (float)(tann_rand(&seed) % 100) * 1e-3f;
        c[d] = (uint8_t)tann_rand(&seed);
    }
    for (size_t dim = 1; dim <= 203; dim += 7) {
        double l2 = 0, dot = 0, mag = 0; /* mag: float rounding scales with sum |terms| */
        for (size_t d = 0; d < dim; d++) {
            double t = (double)a[d] - (double)c[d] * step[d];
            l2 += t * t;
            dot += (double)a[d] * c[d];
            mag += fabs((double)a[d] * c[d]);
        }
        for (int i = 0; i < 2; i++) {
            if (kite_simd()->level < lv[i])
                continue;
            ASSERT_NEAR(ks[i]->l2(a, c, step, dim), l2, 1e-4 * (1.0 + l2));
            ASSERT_NEAR(ks[i]->dot(a, c, dim), dot, 1e-5 * (1.0 + mag));
        }
        const struct hnsw_sq_kernels *cur = hnsw_sq_kernels_get();
        ASSERT_NEAR(cur->l2(a, c, step, dim), l2, 1e-4 * (1.0 + l2));
    }
}

/* The integer kernel (where this CPU has one) equals the exact integer dot product. */
TEST(hnsw_sq_idot_exact)
{
    uint64_t seed = 9;
    int8_t w[300 + 64];
    uint8_t c[300 + 64];
    hnsw_sq_idot_fn f = hnsw_sq_idot_get();
    for (size_t d = 0; d < sizeof(w); d++) {
        w[d] = (int8_t)((int)(tann_rand(&seed) % 255) - 127);
        c[d] = (uint8_t)tann_rand(&seed);
    }
    for (size_t d = 0; d < 8; d++) { /* the extremes: no saturation */
        w[d] = d % 2 ? 127 : -127;
        c[d] = 255;
    }
    for (size_t dim = 1; dim <= 300; dim++) {
        int32_t want = 0;
        for (size_t d = 0; d < dim; d++)
            want += (int32_t)w[d] * c[d];
        ASSERT_EQ_INT(hnsw_sq_idot_scalar(w, c, dim), want);
        if (f)
            ASSERT_EQ_INT(f(w, c, dim), want);
    }
    if (!f)
        fprintf(stderr, "  no AVX-512 VNNI here: integer kernel not exercised\n");
}

/*
 * The integer traversal distance differs from the float code distance by the
 * query's constant (L2: sum a^2, dropped) plus the 8-bit query rounding, at most
 * (scale / 2) * sum_d c_d (L2 scale includes the factor 2).  Checked per row
 * for every metric, with the kernel forced to the scalar one where no VNNI.
 */
static void sq_int_case(int metric)
{
    const size_t n = 300;
    const uint32_t dim = 77;
    float *base = tann_floats(n + 4, dim, 5, 21);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct hnsw_config cfg = {metric, 8, 40, 5, NULL, false};
    struct hnsw *h = NULL;
    kite_err err;
    ASSERT_OK(hnsw_build(&cfg, &v, &h, &err));
    ASSERT(h->sq != NULL);
    if (!h->sq_idot) { /* no VNNI: exercise the integer form with the scalar kernel */
        hnsw_sq_free(h);
        ASSERT_OK(hnsw_sq_init(h, &err));
        h->sq_idot = hnsw_sq_idot_scalar;
        if (metric == KITE_METRIC_L2) {
            h->sq_rn = malloc(n * sizeof(float));
            ASSERT(h->sq_rn != NULL);
            for (size_t i = 0; i < n; i++) {
                double s2 = 0;
                for (size_t d = 0; d < dim; d++) {
                    double t = (double)h->sq_codes[i * dim + d] * h->sq_step[d];
                    s2 += t * t;
                }
                h->sq_rn[i] = (float)s2;
            }
        }
    }
    struct vspace sp = h->space;
    ASSERT_OK(vspace_rebind(&sp, &v, &err));
    float qbuf[77 + 16], fa[77 + 16];
    int8_t qi[77 + 64];
    for (size_t qn = 0; qn < 4; qn++) {
        const float *q = vspace_prep_query(&sp, (const uint8_t *)(base + (n + qn) * dim), qbuf);
        struct hnsw_sqq qf = {fa, 0.0f, NULL, 0.0f}, qint = {qbuf + 0, 0.0f, qi, 0.0f};
        float ia[77 + 16];
        qint.a = ia;
        hnsw_sq_prep(h, q, &qf);
        hnsw_sq_prep(h, q, &qint);
        ASSERT(qint.scale > 0.0f);
        double konst = 0;
        if (metric == KITE_METRIC_L2)
            for (size_t d = 0; d < dim; d++)
                konst += (double)fa[d] * fa[d];
        for (uint32_t row = 0; row < n; row++) {
            double df = hnsw_sq_dist(h, &sp, &qf, row);
            double di = hnsw_sq_dist(h, &sp, &qint, row) + konst;
            double csum = 0;
            for (size_t d = 0; d < dim; d++)
                csum += h->sq_codes[(size_t)row * dim + d];
            double tol = 0.5 * qint.scale * csum * 1.0001 + 1e-4 * (1.0 + fabs(df));
            if (metric == KITE_METRIC_COSINE)
                tol *= sp.inv_norm[row];
            ASSERT_NEAR(di, df, tol);
        }
    }
    hnsw_free(h);
    free(base);
}

TEST(hnsw_sq_int_l2) { sq_int_case(KITE_METRIC_L2); }
TEST(hnsw_sq_int_ip) { sq_int_case(KITE_METRIC_IP); }
TEST(hnsw_sq_int_cosine) { sq_int_case(KITE_METRIC_COSINE); }

/* A query with NaN / inf components walks without a crash (it matches nothing sensibly). */
TEST(hnsw_sq_nan_query)
{
    const size_t n = 500;
    const uint32_t dim = 32;
    float *base = tann_floats(n + 1, dim, 5, 4);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct hnsw_config cfg = {KITE_METRIC_L2, 8, 40, 5, NULL, false};
    struct hnsw *h = NULL;
    kite_err err;
    struct kite_hit hits[10];
    size_t counts[1];
    struct vsearch_params p;
    ASSERT_OK(hnsw_build(&cfg, &v, &h, &err));
    base[n * dim + 3] = NAN;
    base[n * dim + 7] = INFINITY;
    ASSERT_OK(vindex_parse_search_params("HNSW", "{\"ef\":16}", 10, &p, &err));
    p.metric = KITE_METRIC_L2;
    struct vsearch_req req = {base + n * dim, 1, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(hnsw_search(h, &v, &req, &out, &err));
    ASSERT(counts[0] <= 10);
    hnsw_free(h);
    free(base);
}

/*
 * quantizedWalk=false (HNSW_FLAG_FLOAT_WALK): no traversal codes, less memory,
 * same recall class; the flag survives serialisation (format version 2), and a
 * version-1 file (word 44 reserved 0) still loads, as the quantized walk.
 */
TEST(hnsw_float_walk_param_and_format)
{
    struct hfix fq, ff;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    kite_err err;
    const size_t n = 3000;
    const uint32_t dim = 48;
    build(&fq, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12,\"walk\":\"int8\"}",
          NULL);
    build(&ff, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, dim,
          "{\"M\":12,\"quantizedWalk\":false}", NULL);
    size_t mq = vindex_memory_bytes(fq.ix), mf = vindex_memory_bytes(ff.ix);
    ASSERT(mq >= mf + n * dim); /* the codes are gone */
    double rq = run(&fq, "{\"ef\":64}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    double rf = run(&ff, "{\"ef\":64}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    fprintf(stderr, "  recall quantized walk %.4f (%zu bytes), float walk %.4f (%zu bytes)\n", rq,
            mq, rf, mf);
    ASSERT(rf >= 0.95 && rq >= 0.95);

    struct kite_buf buf;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(ff.ix, &buf));
    ASSERT(buf.len >= 48);
    ASSERT_EQ_INT(kite_get_u32(buf.data + 4), 2);
    ASSERT_EQ_INT(kite_get_u32(buf.data + 44), HNSW_FLAG_FLOAT_WALK);
    struct vindex *ix2 = NULL;
    ASSERT_OK(vindex_deserialize("HNSW", KITE_METRIC_L2, &ff.v, buf.data, buf.len, &ix2, &err));
    ASSERT_EQ_INT(vindex_memory_bytes(ix2), mf);
    vindex_free(ix2);
    ix2 = NULL;
    /* Unknown flag bits are refused (2 is the split walk, 3 two walks at once). */
    kite_put_u32(buf.data + 44, 4);
    ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &ff.v, buf.data, buf.len, &ix2, &err),
                  KITE_ECORRUPT);
    kite_put_u32(buf.data + 44, 3);
    ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &ff.v, buf.data, buf.len, &ix2, &err),
                  KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "word 44");
    /* Version 1: word 44 must be 0, and means the quantized walk. */
    kite_put_u32(buf.data + 4, 1);
    kite_put_u32(buf.data + 44, 1);
    ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &ff.v, buf.data, buf.len, &ix2, &err),
                  KITE_ECORRUPT);
    kite_put_u32(buf.data + 44, 0);
    ASSERT_OK(vindex_deserialize("HNSW", KITE_METRIC_L2, &ff.v, buf.data, buf.len, &ix2, &err));
    ASSERT_EQ_INT(vindex_memory_bytes(ix2), mq);
    /* Version 3 does not exist yet. */
    struct vindex *ix3 = NULL;
    kite_put_u32(buf.data + 4, 3);
    ASSERT_EQ_INT(vindex_deserialize("HNSW", KITE_METRIC_L2, &ff.v, buf.data, buf.len, &ix3, &err),
                  KITE_ECORRUPT);
    vindex_free(ix2);
    kite_buf_free(&buf);
    fix_free(&fq);
    fix_free(&ff);
}

/* Exact internal distance in double (the scores a split walk returns must be these). */
static double exact_score(int metric, const float *q, const float *x, uint32_t dim)
{
    double s = 0.0, qq = 0.0, xx = 0.0;
    for (uint32_t d = 0; d < dim; d++) {
        if (metric == KITE_METRIC_L2)
            s += ((double)q[d] - x[d]) * ((double)q[d] - x[d]);
        else
            s += (double)q[d] * x[d];
        qq += (double)q[d] * q[d];
        xx += (double)x[d] * x[d];
    }
    if (metric == KITE_METRIC_COSINE)
        s = qq > 0.0 && xx > 0.0 ? s / sqrt(qq * xx) : 0.0;
    return s;
}

/*
 * walk="bf16" (HNSW_FLAG_SPLIT_WALK): the index keeps the float rows as two
 * 16-bit planes and never reads the segment's rows (but for the exact-scan
 * fallback of very selective filters), so its memory is the float walk's plus
 * exactly the rows' bytes, the results are the same with the segment's rows
 * overwritten, the scores are exact, and recall is in the class of the other
 * walks.  The flag survives serialisation; the parameter is validated.
 */
static void split_walk_case(int metric)
{
    struct hfix fs, ff;
    struct kite_hit hits[100 * 10], hits2[100 * 10];
    size_t counts[100], counts2[100];
    kite_err err;
    const size_t n = 3000;
    const uint32_t dim = 40; /* 40 % 32 != 0: the kernels' tails run */
    build(&fs, metric, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12,\"walk\":\"bf16\"}", NULL);
    build(&ff, metric, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12,\"walk\":\"float\"}", NULL);
    size_t ms = vindex_memory_bytes(fs.ix), mf = vindex_memory_bytes(ff.ix);
    /* The rows as planes, and for L2 on AVX512_BF16 CPUs a float norm per row. */
    size_t norms = metric == KITE_METRIC_L2 && hnsw_bf_dot_get() ? n * sizeof(float) : 0;
    ASSERT_EQ_INT(ms, mf + n * dim * sizeof(float) + norms);
    ASSERT(!vindex_reads_rows(fs.ix));
    ASSERT(vindex_reads_rows(ff.ix));

    double rs = run(&fs, "{\"ef\":64}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    double rf = run(&ff, "{\"ef\":64}", 10, NULL, SIZE_MAX, NULL, hits2, counts2);
    fprintf(stderr, "  metric %d: recall split walk %.4f, float walk %.4f\n", metric, rs, rf);
    ASSERT(rs >= (metric == KITE_METRIC_IP ? 0.90 : 0.95));
    ASSERT(rs >= rf - 0.02);
    const float *base = fs.base, *qs = fs.queries;
    for (size_t q = 0; q < fs.nq; q++) {
        ASSERT_EQ_INT(counts[q], 10);
        for (size_t j = 0; j < 10; j++) {
            const struct kite_hit *h = &hits[q * 10 + j];
            double e = exact_score(metric, qs + q * dim, base + (size_t)h->row * dim, dim);
            ASSERT_NEAR(h->score, e, 1e-4 * (fabs(e) > 1.0 ? fabs(e) : 1.0));
        }
    }

    /* Unfiltered and filtered (90 % pass: a graph walk, not the exact-scan plan)
     * searches read the planes only. */
    uint64_t *allow = calloc((n + 63) / 64, sizeof(uint64_t));
    size_t n_allowed = 0;
    for (size_t i = 0; i < n; i++)
        if (i % 10) {
            allow[i >> 6] |= 1ull << (i & 63);
            n_allowed++;
        }
    float *saved = malloc(n * dim * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        const uint64_t *al = pass ? allow : NULL;
        size_t na = pass ? n_allowed : SIZE_MAX;
        run(&fs, "{\"ef\":48}", 10, al, na, NULL, hits, counts);
        memcpy(saved, fs.base, n * dim * sizeof(float));
        for (size_t i = 0; i < n * dim; i++)
            ((float *)fs.base)[i] = NAN;
        kite_err_clear(&err);
        struct vsearch_params p;
        ASSERT_OK(vindex_parse_search_params("HNSW", "{\"ef\":48}", 10, &p, &err));
        p.metric = metric;
        struct vsearch_req req = {fs.queries, fs.nq, al, na, &p, NULL};
        struct vsearch_out out = {hits2, counts2};
        ASSERT_OK(vindex_search(fs.ix, &fs.v, &req, &out, &err));
        memcpy(fs.base, saved, n * dim * sizeof(float));
        for (size_t q = 0; q < fs.nq; q++) {
            ASSERT_EQ_INT(counts2[q], counts[q]);
            for (size_t j = 0; j < counts[q]; j++) {
                ASSERT_EQ_INT(hits2[q * 10 + j].row, hits[q * 10 + j].row);
                ASSERT(hits2[q * 10 + j].score == hits[q * 10 + j].score);
            }
        }
    }
    free(saved);
    free(allow);

    /* Serialised: flag 2, the planes derived again on load, identical results. */
    struct kite_buf buf;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(fs.ix, &buf));
    ASSERT_EQ_INT(kite_get_u32(buf.data + 44), HNSW_FLAG_SPLIT_WALK);
    struct vindex *ix2 = NULL;
    ASSERT_OK(vindex_deserialize("HNSW", metric, &fs.v, buf.data, buf.len, &ix2, &err));
    ASSERT_EQ_INT(vindex_memory_bytes(ix2), ms);
    run(&fs, "{\"ef\":32}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    struct vindex *keep = fs.ix;
    fs.ix = ix2;
    run(&fs, "{\"ef\":32}", 10, NULL, SIZE_MAX, NULL, hits2, counts2);
    fs.ix = keep;
    for (size_t q = 0; q < fs.nq; q++)
        for (size_t j = 0; j < counts[q]; j++)
            ASSERT_EQ_INT(hits2[q * 10 + j].row, hits[q * 10 + j].row);
    vindex_free(ix2);
    kite_buf_free(&buf);
    fix_free(&fs);
    fix_free(&ff);
}

/*
 * The AVX512_BF16 walk kernel (split walk, IP/COSINE): the query rounded to
 * nearest-even bfloat16 times the truncated high plane, against a double
 * reference of the same products; and the rounding itself.
 */
TEST(hnsw_bf16_dot_kernel)
{
    ASSERT_EQ_INT(hnsw_to_bf16(1.0f), 0x3F80);
    ASSERT_EQ_INT(hnsw_to_bf16(-2.0f), 0xC000);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (down). */
    ASSERT_EQ_INT(hnsw_to_bf16(1.00390625f), 0x3F80);
    /* 1 + 3 * 2^-8 is halfway too: ties to even (up, to 1 + 2^-6). */
    ASSERT_EQ_INT(hnsw_to_bf16(1.01171875f), 0x3F82);
    ASSERT_EQ_INT(hnsw_to_bf16(INFINITY), 0);
    hnsw_bf_dot_fn fn = hnsw_bf_dot_get();
    if (!fn) {
        fprintf(stderr, "  no AVX512_BF16 on this CPU: kernel not tested\n");
        return;
    }
    uint64_t st = 5;
    for (size_t dim = 1; dim <= 200; dim += 13) {
        uint16_t qb[200], hi[200];
        double ref = 0.0, mag = 0.0;
        for (size_t d = 0; d < dim; d++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            float q = (float)((int64_t)(st >> 40) - (1 << 23)) / (float)(1 << 22);
            float x = (float)((int64_t)((st >> 16) & 0xFFFFFF) - (1 << 23)) / (float)(1 << 21);
            uint32_t ux;
            memcpy(&ux, &x, sizeof(ux));
            qb[d] = hnsw_to_bf16(q);
            hi[d] = (uint16_t)(ux >> 16);
            uint32_t a = (uint32_t)qb[d] << 16, b = (uint32_t)hi[d] << 16;
            float fa, fb;
            memcpy(&fa, &a, sizeof(fa));
            memcpy(&fb, &b, sizeof(fb));
            ref += (double)fa * fb;
            mag += fabs((double)fa * fb);
        }
        ASSERT_NEAR(fn(qb, hi, dim), ref, 1e-5 * mag + 1e-6);
    }
}

/*
 * The split walk's L2 on AVX512_BF16 CPUs: |x_hi|^2 (a float per row) minus
 * twice the bfloat16 dot product, i.e. the distance between the rounded query
 * and the truncated row less the query's constant |qb|^2.  Checked per row
 * against a double reference of that expansion.
 */
TEST(hnsw_split_walk_l2_bf16_form)
{
    const size_t n = 300;
    const uint32_t dim = 70;
    float *base = tann_floats(n + 4, dim, 5, 23);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct hnsw_config cfg = {KITE_METRIC_L2, 8, 40, 5, NULL, false};
    cfg.walk = HNSW_WALK_SPLIT;
    struct hnsw *h = NULL;
    kite_err err;
    ASSERT_OK(hnsw_build(&cfg, &v, &h, &err));
    ASSERT(h->ph != NULL);
    if (!h->bf_dot) {
        ASSERT(h->sq_rn == NULL); /* the widening kernel: no norms kept */
        fprintf(stderr, "  no AVX512_BF16 on this CPU: the bf16 L2 form is not used\n");
        hnsw_free(h);
        free(base);
        return;
    }
    ASSERT(h->sq_rn != NULL);
    float a[70 + 16];
    for (size_t qn = 0; qn < 4; qn++) {
        const float *q = base + (n + qn) * dim;
        struct hnsw_sqq sq = {a, 0.0f, NULL, 0.0f};
        hnsw_sq_prep(h, q, &sq);
        double qq = 0;
        for (size_t d = 0; d < dim; d++) {
            uint32_t u = (uint32_t)hnsw_to_bf16(q[d]) << 16;
            float f;
            memcpy(&f, &u, sizeof(f));
            qq += (double)f * f;
        }
        for (uint32_t row = 0; row < n; row++) {
            double ref = 0, mag = 0;
            for (size_t d = 0; d < dim; d++) {
                uint32_t uq = (uint32_t)hnsw_to_bf16(q[d]) << 16;
                uint32_t ux = (uint32_t)h->ph[(size_t)row * dim + d] << 16;
                float fq, fx;
                memcpy(&fq, &uq, sizeof(fq));
                memcpy(&fx, &ux, sizeof(fx));
                ref += ((double)fq - fx) * ((double)fq - fx);
                mag += (double)fq * fq + (double)fx * fx;
            }
            double got = hnsw_walk_dist(h, &h->space, &sq, row) + qq;
            ASSERT_NEAR(got, ref, 1e-5 * mag + 1e-6);
        }
    }
    hnsw_free(h);
    free(base);
}

TEST(hnsw_split_walk_l2) { split_walk_case(KITE_METRIC_L2); }
TEST(hnsw_split_walk_ip) { split_walk_case(KITE_METRIC_IP); }
TEST(hnsw_split_walk_cosine) { split_walk_case(KITE_METRIC_COSINE); }

TEST(hnsw_walk_param)
{
    const char *type;
    char *norm = NULL;
    kite_err err;
    /* The default is the split walk; only another walk is written out. */
    static const struct {
        const char *in, *norm; /* norm NULL: no walk key in the normalised params */
    } ok[] = {
        {"{}", NULL},
        {"{\"walk\":\"bf16\"}", NULL},
        {"{\"walk\":\"BF16\"}", NULL},
        {"{\"walk\":\"float\"}", "\"walk\":\"float\""},
        {"{\"quantizedWalk\":false}", "\"walk\":\"float\""},
        {"{\"quantizedWalk\":\"false\",\"walk\":\"float\"}", "\"walk\":\"float\""},
        {"{\"walk\":\"int8\"}", "\"walk\":\"int8\""},
        {"{\"quantizedWalk\":true}", "\"walk\":\"int8\""},
        {"{\"quantizedWalk\":true,\"walk\":\"int8\"}", "\"walk\":\"int8\""},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ASSERT_OK(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32, ok[i].in,
                                        &type, &norm, &err));
        if (ok[i].norm)
            ASSERT_CONTAINS(norm, ok[i].norm);
        else
            ASSERT(strstr(norm, "alk") == NULL);
        /* The normalised text means the same walk when read again. */
        char *again = NULL;
        ASSERT_OK(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32, norm,
                                        &type, &again, &err));
        ASSERT_STR_EQ(again, norm);
        kite_free(again);
        kite_free(norm);
        norm = NULL;
    }
    ASSERT_EQ_INT(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32,
                                        "{\"walk\":\"fp8\"}", &type, &norm, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "param 'walk' (\"fp8\")");
    ASSERT_EQ_INT(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32,
                                        "{\"walk\":16}", &type, &norm, &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32,
                                        "{\"quantizedWalk\":false,\"walk\":\"bf16\"}", &type,
                                        &norm, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "Conflict");
    ASSERT_EQ_INT(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32,
                                        "{\"quantizedWalk\":true,\"walk\":\"float\"}", &type,
                                        &norm, &err),
                  KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "param 'quantizedWalk' (true)");
    ASSERT_EQ_INT(vindex_validate_build("HNSW", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 32,
                                        "{\"quantizedWalk\":3}", &type, &norm, &err),
                  KITE_EINVAL);
}

/*
 * With no walk given, a float HNSW index is the split walk: it holds the rows
 * as planes and keeps no codes, so its memory is the float walk's (rows +
 * graph), and a search does not read the segment's rows.
 */
TEST(hnsw_default_walk_is_split)
{
    struct hfix fd, ff;
    const size_t n = 2000;
    const uint32_t dim = 32;
    build(&fd, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12}", NULL);
    build(&ff, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12,\"walk\":\"float\"}",
          NULL);
    ASSERT(!vindex_reads_rows(fd.ix));
    ASSERT(vindex_reads_rows(ff.ix));
    /* The planes are the rows: the same bytes the float walk counts for them (and
     * on AVX512_BF16 CPUs a float norm per row for the L2 walk kernel). */
    ASSERT_EQ_INT(vindex_memory_bytes(fd.ix),
                  vindex_memory_bytes(ff.ix) + n * dim * 4 + (hnsw_bf_dot_get() ? n * 4 : 0));
    struct kite_buf buf;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(fd.ix, &buf));
    ASSERT_EQ_INT(kite_get_u32(buf.data + 44), HNSW_FLAG_SPLIT_WALK);
    kite_buf_free(&buf);
    fix_free(&fd);
    fix_free(&ff);
}

/*
 * One extreme row must not wreck the 8-bit codes that the walk (and, since the
 * construction walks on codes too, the build) uses: with per-dimension min/max
 * ranges, a row 1000x larger than the rest would squeeze every other row into a
 * code or two.  Recall must stay in the class of the float walk.
 */
TEST(hnsw_codes_survive_an_outlier_row)
{
    struct hfix fq, ff;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    const size_t n = 3000;
    const uint32_t dim = 48;
    build(&fq, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12,\"quantizedWalk\":true}",
          NULL);
    build(&ff, KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, n, dim, "{\"M\":12,\"quantizedWalk\":false}",
          NULL);
    /* Rebuild both over the same data with row 17 blown up. */
    float *x = fq.base;
    for (uint32_t d = 0; d < dim; d++)
        x[17 * dim + d] *= 1000.0f;
    memcpy(ff.base, fq.base, n * dim * sizeof(float));
    kite_err err;
    vindex_free(fq.ix);
    vindex_free(ff.ix);
    fq.ix = ff.ix = NULL;
    struct vindex_build_params bq = {"HNSW", KITE_METRIC_L2, "{\"M\":12,\"walk\":\"int8\"}", 7,
                                     NULL};
    struct vindex_build_params bf = {"HNSW", KITE_METRIC_L2, "{\"M\":12,\"quantizedWalk\":false}",
                                     7, NULL};
    ASSERT_OK(vindex_build(&bq, &fq.v, &fq.ix, &err));
    ASSERT_OK(vindex_build(&bf, &ff.v, &ff.ix, &err));
    double rq = run(&fq, "{\"ef\":32}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    double rf = run(&ff, "{\"ef\":32}", 10, NULL, SIZE_MAX, NULL, hits, counts);
    fprintf(stderr, "  outlier row: recall quantized walk %.4f, float walk %.4f\n", rq, rf);
    ASSERT(rf >= 0.9);
    ASSERT(rq >= rf - 0.03);
    fix_free(&fq);
    fix_free(&ff);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/*
 * The code range of each dimension is min..max clipped to the 0.1 % .. 99.9 %
 * quantile range of the rows stretched by half its width on each side (sorted
 * reference here), the full min..max where the quantile range is empty.
 * Data: 2,500 rows (every row sampled), 20 dims with ties (small integers),
 * one dimension constant but for 2 rows (quantile range empty -> min..max).
 */
TEST(hnsw_code_ranges_are_quantiles)
{
    const size_t n = 2500;
    const uint32_t dim = 20;
    float *x = malloc(n * dim * sizeof(float)), *col = malloc(n * sizeof(float));
    uint64_t st = 99;
    for (size_t i = 0; i < n * dim; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((st >> 33) % 61) - 30.0f;
    }
    for (size_t i = 0; i < n; i++)
        x[i * dim + 3] = i == 5 ? -7.0f : i == 9 ? 11.0f : 1.0f;
    x[100 * dim + 0] = 1e6f; /* an outlier in dimension 0 */
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, x, NULL};
    struct hnsw_config cfg = {KITE_METRIC_L2, 8, 40, 5, NULL, false};
    struct hnsw *h = NULL;
    kite_err err;
    ASSERT_OK(hnsw_build(&cfg, &v, &h, &err));
    ASSERT(h->sq_codes != NULL);
    size_t k_lo = (n - 1) / 1000, k_hi = n - 1 - k_lo;
    for (uint32_t d = 0; d < dim; d++) {
        for (size_t i = 0; i < n; i++)
            col[i] = x[i * dim + d];
        qsort(col, n, sizeof(float), cmp_float);
        float lo = col[k_lo], hi = col[k_hi], w = hi - lo;
        if (d == 3) {
            ASSERT(!(w > 0.0f));
            lo = col[0];
            hi = col[n - 1];
        } else {
            lo = fmaxf(col[0], lo - 0.5f * w);
            hi = fminf(col[n - 1], hi + 0.5f * w);
        }
        ASSERT_NEAR(h->sq_min[d], lo, 0.0);
        ASSERT_NEAR(h->sq_step[d], (hi - lo) / 255.0f, 1e-6);
    }
    /* The outlier saturates at code 255 rather than stretching the range. */
    ASSERT_EQ_INT(h->sq_codes[100 * dim + 0], 255);
    ASSERT_NEAR(h->sq_step[0], 90.0f / 255.0f, 1e-6); /* -30 .. 30 + 30 */
    hnsw_free(h);
    free(x);
    free(col);
}
