/*
 * test_ann_ivf.c — IVF_FLAT, IVF_SQ8, IVF_PQ and BIN_IVF_FLAT through the
 * vindex API: recall against brute force (thresholds per type and metric,
 * fixed seeds), filters, range search, reproducible builds, serialisation
 * round trip and corrupt input.
 */
#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "index.h"
#include "ivf.h"
#include "pool.h"
#include "simd.h"
#include "test.h"
#include "test_ann_util.h"

struct ifix {
    struct vec_view v;
    struct vindex *ix;
    void *base, *queries;
    size_t nq;
    int metric;
    const char *type;
};

static void build(struct ifix *f, const char *type, int metric, size_t n, uint32_t dim,
                  const char *json, struct kite_pool *pool)
{
    kite_err err;
    bool bin = strcmp(type, "BIN_IVF_FLAT") == 0;
    size_t rb = bin ? dim / 8 : dim * sizeof(float);
    memset(f, 0, sizeof(*f));
    f->type = type;
    f->metric = metric;
    f->nq = 100;
    f->base = bin ? (void *)tann_bits(n + f->nq, dim, 11)
                  : (void *)tann_floats(n + f->nq, dim, 20, 11);
    f->queries = malloc(f->nq * rb);
    memcpy(f->queries, (uint8_t *)f->base + n * rb, f->nq * rb);
    f->v = (struct vec_view){bin ? KITE_DT_BINARY_VECTOR : KITE_DT_FLOAT_VECTOR, dim, n, f->base,
                             NULL};
    struct vindex_build_params bp = {type, metric, json, 3, pool};
    kite_err_clear(&err);
    int rc = vindex_build(&bp, &f->v, &f->ix, &err);
    if (rc)
        fprintf(stderr, "build: %s\n", err.message);
    ASSERT_OK(rc);
}

static void fix_free(struct ifix *f)
{
    vindex_free(f->ix);
    free(f->base);
    free(f->queries);
}

static double run(struct ifix *f, const char *sjson, size_t k, const uint64_t *allow,
                  struct kite_pool *pool, struct kite_hit *hits, size_t *counts)
{
    kite_err err;
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params(f->type, sjson, (int64_t)k, &p, &err));
    struct vsearch_req req = {f->queries, f->nq, allow, SIZE_MAX, &p, pool};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(vindex_search(f->ix, &f->v, &req, &out, &err));
    return tann_recall(f->metric, f->base, f->v.n, f->v.dim, f->queries, f->nq, allow, k, hits,
                       counts);
}

static void recall_case(const char *type, int metric, uint32_t dim, const char *json,
                        double min_recall)
{
    struct ifix f;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    /* PQ trains m codebooks of 2^nbits centroids: fewer rows keep Debug builds quick. */
    build(&f, type, metric, strcmp(type, "IVF_PQ") == 0 ? 3000 : 5000, dim, json, NULL);
    double r = run(&f, "{\"nprobe\":16}", 10, NULL, NULL, hits, counts);
    fprintf(stderr, "  %s metric %d %s nprobe16 recall@10: %.4f (min %.2f)\n", type, metric,
            json, r, min_recall);
    ASSERT(r >= min_recall);
    for (size_t q = 0; q < f.nq; q++)
        ASSERT_EQ_INT(counts[q], 10);
    fix_free(&f);
}

/*
 * 5k rows (PQ: 3k), 32 dims, nlist 64, nprobe 16 (a quarter of the lists).
 * Thresholds sit a few points under the measured values (docs/INDEXES.md).
 */
TEST(ivf_flat_recall_l2) { recall_case("IVF_FLAT", KITE_METRIC_L2, 32, "{\"nlist\":64}", 0.95); }
TEST(ivf_flat_recall_ip) { recall_case("IVF_FLAT", KITE_METRIC_IP, 32, "{\"nlist\":64}", 0.95); }
TEST(ivf_flat_recall_cosine) { recall_case("IVF_FLAT", KITE_METRIC_COSINE, 32, "{\"nlist\":64}", 0.95); }
TEST(ivf_sq8_recall_l2) { recall_case("IVF_SQ8", KITE_METRIC_L2, 32, "{\"nlist\":64}", 0.93); }
TEST(ivf_sq8_recall_cosine) { recall_case("IVF_SQ8", KITE_METRIC_COSINE, 32, "{\"nlist\":64}", 0.93); }
TEST(ivf_pq_recall_l2) { recall_case("IVF_PQ", KITE_METRIC_L2, 32, "{\"nlist\":64,\"m\":16}", 0.80); }
TEST(ivf_pq_recall_ip) { recall_case("IVF_PQ", KITE_METRIC_IP, 32, "{\"nlist\":64,\"m\":16}", 0.80); }
TEST(ivf_pq_nbits4_l2) { recall_case("IVF_PQ", KITE_METRIC_L2, 32, "{\"nlist\":32,\"m\":16,\"nbits\":4}", 0.55); }
TEST(bin_ivf_recall_hamming) { recall_case("BIN_IVF_FLAT", KITE_METRIC_HAMMING, 256, "{\"nlist\":32}", 0.85); }
TEST(bin_ivf_recall_jaccard) { recall_case("BIN_IVF_FLAT", KITE_METRIC_JACCARD, 256, "{\"nlist\":32}", 0.85); }

TEST(ivf_pq_nbits12)
{
    /* Two-byte codes: small data so 4096-centroid codebooks train quickly. */
    struct ifix f;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    build(&f, "IVF_PQ", KITE_METRIC_L2, 1500, 16, "{\"nlist\":4,\"m\":4,\"nbits\":10}", NULL);
    double r = run(&f, "{\"nprobe\":4}", 10, NULL, NULL, hits, counts);
    fprintf(stderr, "  IVF_PQ nbits 10 recall@10: %.4f\n", r);
    ASSERT(r >= 0.75);
    struct kite_buf buf;
    struct vindex *ix2;
    kite_err err;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(f.ix, &buf));
    ASSERT_OK(vindex_deserialize("IVF_PQ", KITE_METRIC_L2, &f.v, buf.data, buf.len, &ix2, &err));
    vindex_free(ix2);
    kite_buf_free(&buf);
    fix_free(&f);
}

TEST(ivf_filtered)
{
    const char *types[] = {"IVF_FLAT", "IVF_SQ8", "IVF_PQ", "BIN_IVF_FLAT"};
    const char *json[] = {"{\"nlist\":64}", "{\"nlist\":64}", "{\"nlist\":64,\"m\":8}",
                          "{\"nlist\":64}"};
    const double sel[] = {0.5, 0.1, 0.01, 0.001};
    size_t n = 5000;
    uint64_t *allow = calloc((n + 63) / 64, 8);
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    for (int t = 0; t < 4; t++) {
        struct ifix f;
        int metric = t == 3 ? KITE_METRIC_HAMMING : KITE_METRIC_L2;
        build(&f, types[t], metric, n, t == 3 ? 128 : 16, json[t], NULL);
        for (int si = 0; si < 4; si++) {
            uint64_t seed = 100 + (uint64_t)si;
            size_t passing = 0;
            memset(allow, 0, (n + 63) / 64 * 8);
            for (size_t i = 0; i < n; i++)
                if ((double)(tann_rand(&seed) % 100000) < sel[si] * 100000) {
                    allow[i / 64] |= 1ull << (i % 64);
                    passing++;
                }
            run(&f, "{\"nprobe\":2}", 10, allow, NULL, hits, counts);
            for (size_t q = 0; q < f.nq; q++) {
                ASSERT_EQ_INT(counts[q], passing < 10 ? passing : 10);
                for (size_t j = 0; j < counts[q]; j++) {
                    uint32_t row = hits[q * 10 + j].row;
                    ASSERT((allow[row / 64] >> (row % 64)) & 1);
                }
            }
        }
        fix_free(&f);
    }
    free(allow);
}

TEST(ivf_range_search)
{
    struct ifix f;
    struct kite_hit hits[100 * 50];
    size_t counts[100];
    build(&f, "IVF_FLAT", KITE_METRIC_L2, 3000, 16, "{\"nlist\":32}", NULL);
    run(&f, "{\"nprobe\":4,\"radius\":14.0,\"range_filter\":4.0}", 50, NULL, NULL, hits, counts);
    size_t total = 0;
    for (size_t q = 0; q < f.nq; q++) {
        for (size_t j = 0; j < counts[q]; j++) {
            float s = hits[q * 50 + j].score;
            ASSERT(s >= 4.0f && s < 14.0f);
        }
        total += counts[q];
    }
    ASSERT(total > 0);
    fix_free(&f);
}

/* Same seed -> same bytes, also when the pool trains in parallel. */
TEST(ivf_reproducible_build)
{
    const char *types[] = {"IVF_FLAT", "IVF_SQ8", "IVF_PQ", "BIN_IVF_FLAT"};
    const char *json[] = {"{\"nlist\":32}", "{\"nlist\":32}", "{\"nlist\":32,\"m\":4}",
                          "{\"nlist\":32}"};
    struct kite_pool *pool;
    ASSERT_OK(kite_pool_new(3, &pool));
    for (int t = 0; t < 4; t++) {
        struct ifix a, b;
        struct kite_buf ba, bb;
        int metric = t == 3 ? KITE_METRIC_JACCARD : KITE_METRIC_COSINE;
        build(&a, types[t], metric, 2000, t == 3 ? 64 : 16, json[t], NULL);
        build(&b, types[t], metric, 2000, t == 3 ? 64 : 16, json[t], pool);
        kite_buf_init(&ba, 0);
        kite_buf_init(&bb, 0);
        ASSERT_OK(vindex_serialize(a.ix, &ba));
        ASSERT_OK(vindex_serialize(b.ix, &bb));
        ASSERT_EQ_INT(ba.len, bb.len);
        ASSERT(memcmp(ba.data, bb.data, ba.len) == 0);
        kite_buf_free(&ba);
        kite_buf_free(&bb);
        fix_free(&a);
        fix_free(&b);
    }
    kite_pool_free(pool);
}

TEST(ivf_serde_roundtrip_and_corrupt)
{
    const char *types[] = {"IVF_FLAT", "IVF_SQ8", "IVF_PQ", "BIN_IVF_FLAT"};
    const char *json[] = {"{\"nlist\":16}", "{\"nlist\":16}", "{\"nlist\":16,\"m\":4,\"nbits\":6}",
                          "{\"nlist\":16}"};
    for (int t = 0; t < 4; t++) {
        struct ifix f;
        struct kite_buf buf;
        struct vindex *ix2 = NULL;
        kite_err err;
        struct kite_hit h1[100 * 10], h2[100 * 10];
        size_t c1[100], c2[100];
        int metric = t == 3 ? KITE_METRIC_HAMMING : KITE_METRIC_IP;
        build(&f, types[t], metric, 600, t == 3 ? 64 : 8, json[t], NULL);
        kite_buf_init(&buf, 0);
        ASSERT_OK(vindex_serialize(f.ix, &buf));
        ASSERT_OK(vindex_deserialize(types[t], metric, &f.v, buf.data, buf.len, &ix2, &err));
        run(&f, NULL, 10, NULL, NULL, h1, c1);
        struct vindex *orig = f.ix;
        f.ix = ix2;
        run(&f, NULL, 10, NULL, NULL, h2, c2);
        f.ix = orig;
        for (size_t q = 0; q < f.nq; q++) {
            ASSERT_EQ_INT(c1[q], c2[q]);
            for (size_t j = 0; j < c1[q]; j++) {
                ASSERT_EQ_INT(h1[q * 10 + j].row, h2[q * 10 + j].row);
                ASSERT(h1[q * 10 + j].score == h2[q * 10 + j].score);
            }
        }
        vindex_free(ix2);
        /* Truncations are corrupt; bit flips are rejected or load into a safe index. */
        for (size_t len = 0; len < buf.len; len += 1 + len / 50) {
            ASSERT_EQ_INT(vindex_deserialize(types[t], metric, &f.v, buf.data, len, &ix2, &err),
                          KITE_ECORRUPT);
        }
        uint8_t *copy = malloc(buf.len);
        uint64_t seed = 9;
        f.nq = 3;
        for (int i = 0; i < 600; i++) {
            memcpy(copy, buf.data, buf.len);
            size_t pos = i < 40 * 8 ? (size_t)i / 8 : tann_rand(&seed) % buf.len;
            copy[pos] ^= (uint8_t)(1u << (i % 8));
            int rc = vindex_deserialize(types[t], metric, &f.v, copy, buf.len, &ix2, &err);
            if (rc == KITE_OK) {
                f.ix = ix2;
                run(&f, NULL, 10, NULL, NULL, h2, c2);
                f.ix = orig;
                vindex_free(ix2);
            } else {
                ASSERT_EQ_INT(rc, KITE_ECORRUPT);
            }
        }
        f.nq = 100;
        free(copy);
        kite_buf_free(&buf);
        fix_free(&f);
    }
}

TEST(ivf_small_segments)
{
    /* Fewer rows than nlist: nlist shrinks to n; empty segment works. */
    kite_err err;
    float data[5 * 4];
    for (int i = 0; i < 20; i++)
        data[i] = (float)(i % 7);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, 4, 5, data, NULL};
    struct vindex *ix;
    struct vindex_build_params bp = {"IVF_PQ", KITE_METRIC_L2, "{\"nlist\":128,\"m\":2}", 1, NULL};
    ASSERT_OK(vindex_build(&bp, &v, &ix, &err));
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("IVF_PQ", NULL, 10, &p, &err));
    struct kite_hit hits[10];
    size_t counts[1];
    struct vsearch_req req = {data, 1, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(vindex_search(ix, &v, &req, &out, &err));
    ASSERT_EQ_INT(counts[0], 5);
    vindex_free(ix);
    struct vec_view e = {KITE_DT_FLOAT_VECTOR, 4, 0, data, NULL};
    bp.index_type = "IVF_FLAT";
    ASSERT_OK(vindex_build(&bp, &e, &ix, &err));
    ASSERT_OK(vindex_search(ix, &e, &req, &out, &err));
    ASSERT_EQ_INT(counts[0], 0);
    struct kite_buf buf;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(ix, &buf));
    vindex_free(ix);
    ASSERT_OK(vindex_deserialize("IVF_FLAT", KITE_METRIC_L2, &e, buf.data, buf.len, &ix, &err));
    vindex_free(ix);
    kite_buf_free(&buf);
}

TEST(scann_recall_rerank_and_serde)
{
    struct ifix f;
    struct kite_hit hits[100 * 10];
    size_t counts[100];
    kite_err err;
    build(&f, "SCANN", KITE_METRIC_L2, 3000, 32, "{\"nlist\":32}", NULL);
    double r0 = run(&f, "{\"nprobe\":8}", 10, NULL, NULL, hits, counts);
    double r1 = run(&f, "{\"nprobe\":8,\"reorder_k\":100}", 10, NULL, NULL, hits, counts);
    fprintf(stderr, "  SCANN recall@10: reorder_k=k %.4f, reorder_k=100 %.4f\n", r0, r1);
    ASSERT(r1 >= 0.95);
    ASSERT(r1 >= r0);
    /* Re-ranked scores are exact squared L2. */
    for (size_t q = 0; q < f.nq; q++)
        for (size_t j = 0; j < counts[q]; j++) {
            uint32_t row = hits[q * 10 + j].row;
            double d = tann_dist(KITE_METRIC_L2, (float *)f.queries + q * 32,
                                 (float *)f.base + (size_t)row * 32, 32);
            ASSERT_NEAR(hits[q * 10 + j].score, d, 1e-3 * (d + 1));
        }
    struct kite_buf buf;
    struct vindex *ix2;
    kite_buf_init(&buf, 0);
    ASSERT_OK(vindex_serialize(f.ix, &buf));
    ASSERT_OK(vindex_deserialize("SCANN", KITE_METRIC_L2, &f.v, buf.data, buf.len, &ix2, &err));
    vindex_free(ix2);
    buf.data[40] ^= 2; /* unknown flag bit */
    ASSERT_EQ_INT(vindex_deserialize("SCANN", KITE_METRIC_L2, &f.v, buf.data, buf.len, &ix2, &err),
                  KITE_ECORRUPT);
    kite_buf_free(&buf);
    fix_free(&f);

    /* Without raw data: ADC scores only, still a usable ranking. */
    build(&f, "SCANN", KITE_METRIC_COSINE, 3000, 32, "{\"nlist\":32,\"with_raw_data\":false}",
          NULL);
    double r2 = run(&f, "{\"nprobe\":8,\"reorder_k\":100}", 10, NULL, NULL, hits, counts);
    fprintf(stderr, "  SCANN without raw data recall@10: %.4f\n", r2);
    ASSERT(r2 >= 0.5);
    fix_free(&f);
}

/*
 * SCANN fast scan (ivf_fastscan.c): the blocked 4-bit scan with a byte LUT must
 * estimate the same ADC distance as the float-table path within the LUT's
 * quantization error, and give the float path's recall after re-ranking.
 */
static void fastscan_case(int metric, uint32_t dim)
{
    const size_t n = 3000, nq = 50;
    float *base = tann_floats(n + nq, dim, 20, 5);
    const float *queries = base + n * dim;
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct ivf_config cfg = {.kind = IVF_KIND_SCANN, .metric = metric, .nlist = 16,
                             .with_raw_data = true, .seed = 9};
    struct ivf *ix = NULL;
    kite_err err;
    ASSERT_OK(ivf_build(&cfg, &v, &ix, &err));
    if (kite_simd()->level < KITE_SIMD_AVX2) {
        ASSERT(!ivf_fs_available(ix));
        ivf_free(ix);
        free(base);
        return;
    }
    ASSERT(ivf_fs_available(ix));
    uint32_t m = ix->pq.m;
    float *table = malloc((size_t)m * 16 * sizeof(float)), *resid = malloc(dim * sizeof(float));
    uint8_t *lut = malloc((size_t)m * 16), *code = malloc(m);
    /* One copy of the codes: the blocks (ivf_fastscan.c), and they read back as
     * the residual PQ codes of each row. */
    ASSERT(ix->codes == NULL);
    {
        uint8_t *enc = malloc(m), *got = malloc(m);
        float *r = malloc(dim * sizeof(float)), *cb = malloc(dim * sizeof(float));
        for (uint32_t l = 0; l < ix->nlist; l++)
            for (uint32_t p = ix->list_off[l]; p < ix->list_off[l + 1]; p++) {
                const float *x = base + (size_t)ix->ids[p] * dim;
                const float *c = ivf_cent_rows(ix, l, 1, cb);
                for (uint32_t d = 0; d < dim; d++)
                    r[d] = x[d] - c[d];
                pq_encode(&ix->pq, r, enc);
                ivf_fs_get_code(ix, l, p, got);
                ASSERT(memcmp(enc, got, m) == 0);
            }
        /* Serialised from the blocks, loaded back into blocks: same bytes. */
        struct kite_buf b1, b2;
        struct ivf *ix2 = NULL;
        kite_buf_init(&b1, 0);
        kite_buf_init(&b2, 0);
        ASSERT_OK(ivf_serialize(ix, &b1));
        ASSERT_OK(ivf_deserialize(metric, &v, b1.data, b1.len, &ix2, &err));
        ASSERT(ix2->codes == NULL && ivf_fs_available(ix2));
        ASSERT_OK(ivf_serialize(ix2, &b2));
        ASSERT_EQ_INT(b1.len, b2.len);
        ASSERT(memcmp(b1.data, b2.data, b1.len) == 0);
        ivf_free(ix2);
        kite_buf_free(&b1);
        kite_buf_free(&b2);
        free(enc);
        free(got);
        free(r);
        free(cb);
    }
    struct vpair *heap_a = malloc(n * sizeof(struct vpair));
    for (size_t q = 0; q < nq; q++) {
        const float *x = queries + q * dim;
        float off, delta;
        pq_table_ip(&ix->pq, x, table);
        if (metric == KITE_METRIC_L2)
            for (size_t i = 0; i < (size_t)m * 16; i++)
                table[i] *= 2.0f;
        ivf_fs_quantize(ix, table, lut, &off, &delta);
        {
            /* The fused LUT (ivf_fs_lut, the search path) = table + quantize, up
             * to one level of rounding per entry. */
            float off2, delta2, *tmp = malloc((size_t)m * 16 * sizeof(float));
            uint8_t *lut2 = malloc((size_t)m * 16);
            ivf_fs_lut(ix, x, tmp, lut2, &off2, &delta2);
            ASSERT_NEAR(off2, off, 1e-4 * (1.0 + fabs(off)));
            ASSERT_NEAR(delta2, delta, 1e-5 * (1.0 + fabs(delta)));
            for (size_t i = 0; i < (size_t)m * 16; i++)
                ASSERT(abs((int)lut2[i] - (int)lut[i]) <= 1);
            free(tmp);
            free(lut2);
        }
        uint32_t l = (uint32_t)(q % ix->nlist);
        float *cb = malloc(dim * sizeof(float));
        const float *c = ivf_cent_rows(ix, l, 1, cb);
        float base_d = metric == KITE_METRIC_L2 ? ix->space.ops->l2_f32(x, c, dim)
                                                : -ix->space.ops->ip_f32(x, c, dim);
        struct vtopk h = {heap_a, 0, n};
        size_t rows = ivf_fs_scan_list(ix, l, lut, base_d + off, delta, &h);
        ASSERT_EQ_INT(h.n, rows);
        /* Reference: the float ADC of each row of list l. */
        float *rt = malloc((size_t)m * 16 * sizeof(float));
        if (metric == KITE_METRIC_L2) {
            for (uint32_t d = 0; d < dim; d++)
                resid[d] = x[d] - c[d];
            pq_table_l2(&ix->pq, resid, rt);
        } else {
            pq_table_ip(&ix->pq, x, rt);
        }
        for (size_t i = 0; i < h.n; i++) {
            uint32_t p = ix->list_off[l];
            while (ix->ids[p] != h.a[i].id)
                p++;
            ivf_fs_get_code(ix, l, p, code);
            double ref = (metric == KITE_METRIC_L2 ? 0.0 : base_d) + pq_adc(&ix->pq, rt, code);
            ASSERT_NEAR(h.a[i].d, ref, 0.5 * delta * m + 1e-3 * (1.0 + fabs(ref)));
        }
        free(rt);
        free(cb);
    }
    /* Recall after re-ranking: fast path vs the float-table path on the same index. */
    struct kite_hit hits[50 * 10];
    size_t counts[50];
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("SCANN", "{\"nprobe\":4,\"reorder_k\":50}", 10, &p, &err));
    p.metric = metric;
    struct vsearch_req req = {queries, nq, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(ivf_search(ix, &v, &req, &out, &err));
    double r_fast = tann_recall(metric, base, n, dim, queries, nq, NULL, 10, hits, counts);
    /* A filter that allows every row takes the float-table path (one row at a
     * time, codes read back out of the blocks). */
    uint64_t *allow = malloc((n + 63) / 64 * sizeof(uint64_t));
    memset(allow, 0xFF, (n + 63) / 64 * sizeof(uint64_t));
    req.allow = allow;
    req.n_allowed = n;
    ASSERT_OK(ivf_search(ix, &v, &req, &out, &err));
    free(allow);
    double r_float = tann_recall(metric, base, n, dim, queries, nq, NULL, 10, hits, counts);
    fprintf(stderr, "  metric %d: SCANN recall fast scan %.4f, float tables %.4f\n", metric,
            r_fast, r_float);
    ASSERT(r_fast >= r_float - 0.02);
    free(table);
    free(resid);
    free(lut);
    free(code);
    free(heap_a);
    ivf_free(ix);
    free(base);
}

TEST(scann_fastscan_l2) { fastscan_case(KITE_METRIC_L2, 32); }
TEST(scann_fastscan_ip) { fastscan_case(KITE_METRIC_IP, 32); }
/* m = 17 sub-quantizers: the AVX-512 scan's odd last step (zero-padded pair). */
TEST(scann_fastscan_odd_m) { fastscan_case(KITE_METRIC_L2, 34); }

/*
 * Batch-aware list scans (ivf_search.c "batch-aware list scans"): a batch of
 * queries (grouped by list, blocked kernels) must return what the same queries
 * return one at a time (the per-query path), up to float rounding: the batched
 * coarse step ranks lists by |c|^2 - 2 q.c, so a near-tie at the nprobe
 * boundary may pick another list for a rare query.
 */
static void batch_vs_single_nq(const char *type, int metric, size_t n, const char *json,
                               const char *sjson, int threads, size_t nq_batch)
{
    struct ifix f;
    struct kite_pool *pool = NULL;
    const size_t k = 10;
    build(&f, type, metric, n, 32, json, NULL);
    if (nq_batch > f.nq) { /* more queries than one group chunk holds */
        free(f.queries);
        f.queries = tann_floats(nq_batch, 32, 20, 77);
        f.nq = nq_batch;
    }
    if (threads > 1)
        ASSERT_OK(kite_pool_new(threads, &pool));
    struct kite_hit *hb = calloc(f.nq * k, sizeof(*hb)), *hs = calloc(f.nq * k, sizeof(*hs));
    size_t *cb = calloc(f.nq, sizeof(size_t)), *cs = calloc(f.nq, sizeof(size_t));
    double rb = run(&f, sjson, k, NULL, pool, hb, cb);
    /* The same queries one at a time. */
    void *all = f.queries;
    size_t nq = f.nq;
    f.nq = 1;
    for (size_t q = 0; q < nq; q++) {
        f.queries = (uint8_t *)all + q * 32 * sizeof(float);
        run(&f, sjson, k, NULL, NULL, hs + q * k, cs + q);
    }
    f.queries = all;
    f.nq = nq;
    size_t same = 0;
    for (size_t q = 0; q < nq; q++) {
        ASSERT_EQ_INT(cb[q], cs[q]);
        bool eq = true;
        for (size_t i = 0; i < cb[q]; i++)
            eq = eq && hb[q * k + i].row == hs[q * k + i].row;
        if (!eq)
            continue;
        same++;
        for (size_t i = 0; i < cb[q]; i++)
            ASSERT_NEAR(hb[q * k + i].score, hs[q * k + i].score,
                        1e-4 * (1.0 + fabs(hs[q * k + i].score)));
    }
    fprintf(stderr, "  %s metric %d %s threads %d: batch recall %.4f, %zu/%zu queries as single\n",
            type, metric, sjson, threads, rb, same, nq);
    ASSERT(same + 2 >= nq);
    free(hb);
    free(hs);
    free(cb);
    free(cs);
    kite_pool_free(pool);
    fix_free(&f);
}

static void batch_vs_single(const char *type, int metric, size_t n, const char *json,
                            const char *sjson, int threads)
{
    batch_vs_single_nq(type, metric, n, json, sjson, threads, 0);
}

TEST(ivf_batch_flat_l2) { batch_vs_single("IVF_FLAT", KITE_METRIC_L2, 4000, "{\"nlist\":64}", "{\"nprobe\":8}", 1); }
TEST(ivf_batch_flat_ip) { batch_vs_single("IVF_FLAT", KITE_METRIC_IP, 4000, "{\"nlist\":64}", "{\"nprobe\":8}", 1); }
TEST(ivf_batch_flat_cosine_threads) { batch_vs_single("IVF_FLAT", KITE_METRIC_COSINE, 4000, "{\"nlist\":64}", "{\"nprobe\":8}", 2); }
TEST(ivf_batch_sq8_l2) { batch_vs_single("IVF_SQ8", KITE_METRIC_L2, 4000, "{\"nlist\":64}", "{\"nprobe\":8}", 1); }
TEST(ivf_batch_sq8_ip_threads) { batch_vs_single("IVF_SQ8", KITE_METRIC_IP, 4000, "{\"nlist\":64}", "{\"nprobe\":8}", 3); }
TEST(ivf_batch_scann_l2) { batch_vs_single("SCANN", KITE_METRIC_L2, 3000, "{\"nlist\":32}", "{\"nprobe\":4,\"reorder_k\":40}", 1); }
TEST(ivf_batch_scann_ip_threads) { batch_vs_single("SCANN", KITE_METRIC_IP, 3000, "{\"nlist\":32}", "{\"nprobe\":4,\"reorder_k\":40}", 2); }
/* Lists of ~3 rows, nprobe 1: most queries probe fewer than k rows and take the
 * per-query path's "probe further lists" rule from inside the batch. */
TEST(ivf_batch_short_lists) { batch_vs_single("IVF_FLAT", KITE_METRIC_L2, 200, "{\"nlist\":64}", "{\"nprobe\":1}", 1); }
TEST(ivf_batch_sq8_short_lists) { batch_vs_single("IVF_SQ8", KITE_METRIC_IP, 200, "{\"nlist\":64}", "{\"nprobe\":1}", 2); }
/* Lists of ~2,000 rows: IVF_FLAT scans them in kernel calls of 1,024 rows. */
TEST(ivf_batch_flat_long_lists) { batch_vs_single("IVF_FLAT", KITE_METRIC_IP, 4000, "{\"nlist\":2}", "{\"nprobe\":1}", 1); }
/* 1,100 queries: two group chunks (at most 1,024 queries inverted at once). */
TEST(ivf_batch_two_chunks) { batch_vs_single_nq("IVF_SQ8", KITE_METRIC_L2, 2000, "{\"nlist\":16}", "{\"nprobe\":2}", 1, 1100); }

/*
 * 8-bit coarse candidate pass (ivf_coarse_vnni.c), on CPUs with AVX-512 VNNI:
 * the VNNI kernel gives the scalar reference's floats bit for bit (dims not a
 * multiple of 4, nlist not a multiple of 32, query counts not a multiple of 8).
 */
static struct ivf *cq_build(int kind, int metric, size_t n, uint32_t dim, int nlist,
                            float **base_out)
{
    kite_err err;
    float *base = tann_floats(n, dim, 20, 5);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct ivf_config cfg = {.kind = kind, .metric = metric, .nlist = nlist, .seed = 3};
    struct ivf *ix = NULL;
    int rc = ivf_build(&cfg, &v, &ix, &err);
    if (rc)
        fprintf(stderr, "build: %s\n", err.message);
    ASSERT_OK(rc);
    *base_out = base;
    return ix;
}

static void cq_kernel_case(int metric, uint32_t dim, int nlist, size_t nq)
{
    float *base;
    struct ivf *ix = cq_build(IVF_KIND_FLAT, metric, 3000, dim, nlist, &base);
    if (!ivf_cq_available(ix)) {
        fprintf(stderr, "  no AVX-512 VNNI: 8-bit coarse pass not built, nothing to compare\n");
        ivf_free(ix);
        free(base);
        return;
    }
    float *qs = tann_floats(nq, dim, 20, 99);
    if (metric == KITE_METRIC_COSINE) /* search prepares (normalises) COSINE queries */
        for (size_t i = 0; i < nq; i++) {
            double s = 0;
            for (uint32_t d = 0; d < dim; d++)
                s += (double)qs[i * dim + d] * qs[i * dim + d];
            for (uint32_t d = 0; d < dim; d++)
                qs[i * dim + d] = (float)(qs[i * dim + d] / sqrt(s));
        }
    size_t qb = ivf_cq_query_bytes(&ix->cq);
    ASSERT(qb >= dim && qb % 4 == 0);
    uint8_t *qq = malloc(nq * qb);
    float *ab = malloc(2 * nq * sizeof(float));
    float *o1 = malloc(nq * (size_t)nlist * sizeof(float));
    float *o2 = malloc(nq * (size_t)nlist * sizeof(float));
    ivf_cq_block(&ix->cq, qs, nq, qq, ab, o1);
    ivf_cq_block_ref(&ix->cq, qs, nq, qq, ab, o2);
    ASSERT(memcmp(o1, o2, nq * (size_t)nlist * sizeof(float)) == 0);
    /* The approximate order is close to the exact one: the 8-bit score of the
     * exact nearest centroid is among the 8 best 8-bit scores. */
    size_t good = 0;
    for (size_t i = 0; i < nq; i++) {
        uint32_t best;
        struct vpair tmp[1];
        ivf_nearest_lists(ix, qs + i * dim, 1, tmp, &best);
        size_t better = 0;
        for (int l = 0; l < nlist; l++)
            better += o1[i * (size_t)nlist + (size_t)l] < o1[i * (size_t)nlist + best];
        good += better < 8;
    }
    fprintf(stderr, "  metric %d dim %u nlist %d: exact nearest list in the 8-bit top 8: %zu/%zu\n",
            metric, dim, nlist, good, nq);
    ASSERT(good + 1 >= nq);
    free(qq);
    free(ab);
    free(o1);
    free(o2);
    free(qs);
    ivf_free(ix);
    free(base);
}

TEST(ivf_cq_kernel_l2) { cq_kernel_case(KITE_METRIC_L2, 32, 100, 19); }
TEST(ivf_cq_kernel_ip_odd_dim) { cq_kernel_case(KITE_METRIC_IP, 37, 64, 8); }
TEST(ivf_cq_kernel_cosine) { cq_kernel_case(KITE_METRIC_COSINE, 50, 33, 5); }

/*
 * The lists a batch probes (8-bit candidates, exact re-score) are those of the
 * exact coarse step: IVF_FLAT scores rows exactly, so a batch search (which
 * uses the 8-bit pass when available) must return the single-query results
 * (exact fp32 coarse step) for >= 99.9 % of 2,000 queries: the same rows, and
 * scores up to the rounding of the batch's blocked kernels (IP: a GEMM order).
 */
static void cq_probe_case(int metric, const char *sjson)
{
    const size_t n = 8000, nq = 2000, k = 10;
    const uint32_t dim = 32;
    kite_err err;
    float *all = tann_floats(n + nq, dim, 20, 13);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, all, NULL};
    struct vindex *vx = NULL;
    struct vindex_build_params bp = {"IVF_FLAT", metric, "{\"nlist\":128}", 3, NULL};
    ASSERT_OK(vindex_build(&bp, &v, &vx, &err));
    const float *qs = all + n * dim;
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("IVF_FLAT", sjson, (int64_t)k, &p, &err));
    struct kite_hit *hb = calloc(nq * k, sizeof(*hb)), *hs = calloc(nq * k, sizeof(*hs));
    size_t *cb = calloc(nq, sizeof(size_t)), *cs = calloc(nq, sizeof(size_t));
    struct vsearch_req req = {qs, nq, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hb, cb};
    ASSERT_OK(vindex_search(vx, &v, &req, &out, &err));
    for (size_t q = 0; q < nq; q++) {
        struct vsearch_req r1 = {qs + q * dim, 1, NULL, SIZE_MAX, &p, NULL};
        struct vsearch_out o1 = {hs + q * k, cs + q};
        ASSERT_OK(vindex_search(vx, &v, &r1, &o1, &err));
    }
    size_t same = 0;
    for (size_t q = 0; q < nq; q++) {
        bool eq = cb[q] == cs[q];
        for (size_t i = 0; eq && i < cb[q]; i++)
            eq = hb[q * k + i].row == hs[q * k + i].row &&
                 fabs(hb[q * k + i].score - hs[q * k + i].score) <=
                     1e-5 * (1.0 + fabs(hs[q * k + i].score));
        same += eq;
    }
    fprintf(stderr, "  metric %d %s: %zu/%zu batch queries equal the exact-coarse single ones\n",
            metric, sjson, same, nq);
    ASSERT(same * 1000 >= nq * 999);
    free(hb);
    free(hs);
    free(cb);
    free(cs);
    vindex_free(vx);
    free(all);
}

TEST(ivf_cq_probes_l2) { cq_probe_case(KITE_METRIC_L2, "{\"nprobe\":4}"); }
TEST(ivf_cq_probes_ip) { cq_probe_case(KITE_METRIC_IP, "{\"nprobe\":8}"); }
TEST(ivf_cq_probes_cosine) { cq_probe_case(KITE_METRIC_COSINE, "{\"nprobe\":1}"); }

/*
 * k-means with k >= 256 (kmeans.c): on VNNI CPUs rows are assigned from 8-bit
 * candidates re-scored exactly.  The centroids must not depend on the thread
 * count, and the iterations must lower the objective well below the one of the
 * initial centroids (k rows of the data).
 */
static double km_objective(const float *x, size_t n, uint32_t dim, const float *c, uint32_t k)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        float d;
        kmeans_assign_f32(c, k, dim, x + i * dim, &d);
        s += d;
    }
    return s / (double)n;
}

TEST(kmeans_large_k_threads_and_objective)
{
    const size_t n = 20000;
    const uint32_t dim = 32, k = 256;
    kite_err err;
    float *x = tann_floats(n, dim, 400, 21);
    float *c1 = malloc((size_t)k * dim * sizeof(float));
    float *c2 = malloc((size_t)k * dim * sizeof(float));
    float *c0 = malloc((size_t)k * dim * sizeof(float));
    struct kite_pool *pool = NULL;
    ASSERT_OK(kite_pool_new(3, &pool));
    ASSERT_OK(kmeans_f32(x, n, dim, k, 6, 7, NULL, c1, &err));
    ASSERT_OK(kmeans_f32(x, n, dim, k, 6, 7, pool, c2, &err));
    ASSERT(memcmp(c1, c2, (size_t)k * dim * sizeof(float)) == 0);
    ASSERT_OK(kmeans_f32(x, n, dim, k, 0, 7, NULL, c0, &err)); /* the initial centroids */
    double o0 = km_objective(x, n, dim, c0, k), o1 = km_objective(x, n, dim, c1, k);
    fprintf(stderr, "  k-means objective: initial %.4f, after 6 iterations %.4f\n", o0, o1);
    ASSERT(o1 < 0.8 * o0);
    kite_pool_free(pool);
    free(x);
    free(c0);
    free(c1);
    free(c2);
}

/* ivf_cq_rank (bounded AVX-512 pre-filter) keeps the scores that offering every
 * entry keeps: sizes across the 1..4-accumulator bounds, ties, a NaN, tails. */
TEST(ivf_cq_rank_matches_push_all)
{
    float stub[32 * 32];
    struct ivf_cq probe = {0};
    float cn[32] = {0};
    for (int i = 0; i < 32 * 32; i++)
        stub[i] = (float)(i % 7);
    kite_err err;
    ASSERT_OK(ivf_cq_make(&probe, stub, cn, 32, 32, false, &err));
    if (!probe.codes) {
        fprintf(stderr, "  no AVX-512 VNNI: ivf_cq_rank is not used\n");
        return;
    }
    ivf_cq_free(&probe);
    uint64_t st = 5;
    const uint32_t ns[] = {5, 63, 64, 100, 4000, 4001};
    const size_t ks[] = {1, 8, 15, 16, 17, 33, 64, 65, 200};
    for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
        for (size_t b = 0; b < sizeof(ks) / sizeof(ks[0]); b++) {
            uint32_t n = ns[a];
            size_t k = ks[b];
            float *row = malloc(n * sizeof(float));
            for (uint32_t i = 0; i < n; i++)
                row[i] = (float)(tann_rand(&st) % 500); /* many ties */
            if (n > 70)
                row[70] = NAN;
            struct vpair *h1 = malloc(k * sizeof(*h1)), *h2 = malloc(k * sizeof(*h2));
            struct vtopk t1 = {h1, 0, k}, t2 = {h2, 0, k};
            ivf_cq_rank(row, n, &t1);
            for (uint32_t i = 0; i < n; i++)
                vtopk_push(&t2, row[i], i);
            ASSERT_EQ_INT(t1.n, t2.n);
            vtopk_sort(&t1);
            vtopk_sort(&t2);
            /* Same scores; among equal scores at the boundary either index may stay. */
            for (size_t i = 0; i < t1.n; i++) {
                ASSERT(t1.a[i].d == t2.a[i].d);
                ASSERT(row[t1.a[i].id] == t1.a[i].d);
                if (i > 0 && t1.a[i].d == t1.a[i - 1].d)
                    ASSERT(t1.a[i].id != t1.a[i - 1].id);
            }
            free(row);
            free(h1);
            free(h2);
        }
}

/* A NaN row must not break the 8-bit assignment (no candidate survives: cluster 0). */
TEST(kmeans_large_k_nan_row)
{
    const size_t n = 2000;
    const uint32_t dim = 16, k = 256;
    kite_err err;
    float *x = tann_floats(n, dim, 50, 3);
    for (uint32_t d = 0; d < dim; d++)
        x[(size_t)1000 * dim + d] = NAN;
    float *c = malloc((size_t)k * dim * sizeof(float));
    ASSERT_OK(kmeans_f32(x, n, dim, k, 3, 1, NULL, c, &err));
    free(x);
    free(c);
}

/* ------------------------------------------ half-precision centroids (ivf_cent.c) */

static bool is_pow2f(float s)
{
    int e;
    return s > 0.0f && frexpf(s, &e) == 0.5f;
}

/* Build-mode rounding: halves with one power-of-two scale, error <= 2^-11 of the
 * largest magnitude; the result passes the load rule (same halves, same scale). */
static void adopt_case(float scale, float top, uint64_t seed)
{
    const uint32_t k = 37, dim = 19;
    size_t cnt = (size_t)k * dim;
    struct ivf ix;
    memset(&ix, 0, sizeof(ix));
    ix.nlist = k;
    ix.space.dim = dim;
    float *orig = malloc(cnt * sizeof(float)), *c = kite_malloc(cnt * sizeof(float));
    float mx = 0.0f;
    for (size_t i = 0; i < cnt; i++) {
        orig[i] = tann_gauss(&seed) * scale;
        mx = fabsf(orig[i]) > mx ? fabsf(orig[i]) : mx;
    }
    if (top > 0.0f) { /* a largest value that rounds up to a power of two */
        orig[5] = -top;
        orig[7] = 1.3e-9f; /* a half subnormal with an odd last bit at the first scale */
        mx = top > mx ? top : mx;
    }
    memcpy(c, orig, cnt * sizeof(float));
    kite_err err;
    ASSERT_OK(ivf_cent_adopt(&ix, c, true, &err));
    ASSERT(ix.hcent != NULL && ix.centroids == NULL);
    ASSERT(is_pow2f(ix.cscale));
    ASSERT_EQ_INT(ivf_cent_bytes(&ix), cnt * 2);
    float *dec = ivf_cent_decode_all(&ix);
    for (size_t i = 0; i < cnt; i++) {
        ASSERT(dec[i] == kite_f16_to_f32(ix.hcent[i]) * ix.cscale);
        if (!(fabsf(dec[i] - orig[i]) <= mx * (1.0f / 2048.0f)))
            fprintf(stderr, "  scale %g top %g: %zu: %.9g -> %.9g (max %g, s %g)\n", scale, top, i,
                    orig[i], dec[i], mx, ix.cscale);
        ASSERT(fabsf(dec[i] - orig[i]) <= mx * (1.0f / 2048.0f));
    }
    /* Load rule on the decoded values: the same halves and scale. */
    struct ivf iy;
    memset(&iy, 0, sizeof(iy));
    iy.nlist = k;
    iy.space.dim = dim;
    float *c2 = kite_malloc(cnt * sizeof(float));
    memcpy(c2, dec, cnt * sizeof(float));
    ASSERT_OK(ivf_cent_adopt(&iy, c2, false, &err));
    ASSERT(iy.hcent != NULL && iy.cscale == ix.cscale);
    ASSERT(memcmp(iy.hcent, ix.hcent, cnt * 2) == 0);
    /* Values that are not s * half (a file from the fp32 era) stay fp32, bit for bit. */
    float *c3 = kite_malloc(cnt * sizeof(float));
    memcpy(c3, orig, cnt * sizeof(float));
    c3[3] = dec[3] + fabsf(dec[3]) * 1e-6f + 1e-30f;
    float keep3 = c3[3];
    ASSERT_OK(ivf_cent_adopt(&iy, c3, false, &err));
    ASSERT(iy.hcent == NULL && iy.centroids != NULL);
    ASSERT(iy.centroids[3] == keep3 && memcmp(iy.centroids, orig, 3 * sizeof(float)) == 0);
    ASSERT_EQ_INT(ivf_cent_bytes(&iy), cnt * 4);
    float buf[19];
    ASSERT(ivf_cent_rows(&iy, 2, 1, buf) == iy.centroids + 2 * dim);
    kite_free(dec);
    kite_free(ix.hcent);
    kite_free(iy.centroids);
    kite_free(iy.hcent);
    free(orig);
}

TEST(ivf_cent_round_and_load_rule)
{
    adopt_case(1.0f, 0.0f, 1);
    adopt_case(300.0f, 0.0f, 2);
    adopt_case(1e6f, 0.0f, 3);    /* beyond fp16's 65504: the scale takes it */
    adopt_case(1e-6f, 0.0f, 4);   /* below fp16's normal range */
    adopt_case(0.01f, 31.999f, 5); /* max rounds up to 32: the scale doubles */
    adopt_case(0.1f, 0.99999f, 6);
    /* Non-finite centroids (NaN rows in k-means) stay fp32; all-zero ones are halves. */
    struct ivf ix;
    kite_err err;
    memset(&ix, 0, sizeof(ix));
    ix.nlist = 2;
    ix.space.dim = 3;
    float *c = kite_calloc(6, sizeof(float));
    c[4] = NAN;
    ASSERT_OK(ivf_cent_adopt(&ix, c, true, &err));
    ASSERT(ix.hcent == NULL && ix.centroids != NULL && isnan(ix.centroids[4]));
    c = kite_calloc(6, sizeof(float));
    ASSERT_OK(ivf_cent_adopt(&ix, c, true, &err));
    ASSERT(ix.hcent != NULL && ix.centroids == NULL && ix.cscale == 1.0f);
    kite_free(ix.hcent);
}

/* The fused half kernels at every level the CPU has, against a double reference. */
TEST(ivf_cent_half_kernels)
{
    const size_t dims[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 784};
    uint64_t seed = 17;
    for (size_t di = 0; di < sizeof(dims) / sizeof(dims[0]); di++) {
        size_t d = dims[di];
        float *q = malloc(d * sizeof(float));
        uint16_t *h = malloc(d * sizeof(uint16_t));
        for (size_t i = 0; i < d; i++) {
            q[i] = tann_gauss(&seed) * 64.0f;
            h[i] = kite_f32_to_f16(tann_gauss(&seed) * 8000.0f);
        }
        const float scales[] = {1.0f, 1.0f / 512.0f, 8.0f};
        for (int si = 0; si < 3; si++) {
            float s = scales[si];
            double l2 = 0.0, ip = 0.0, mag = 0.0, mag_ip = 0.0;
            for (size_t i = 0; i < d; i++) {
                double c = (double)kite_f16_to_f32(h[i]) * s, t = q[i] - c;
                l2 += t * t;
                ip += q[i] * c;
                mag += t * t;
                mag_ip += fabs(q[i] * c);
            }
            for (int lv = KITE_SIMD_SCALAR; lv <= KITE_SIMD_AVX512; lv++) {
                if (!kite_simd_ops_for(lv))
                    continue;
                ASSERT_NEAR(ivf_cent_half_dist(lv, q, h, s, d, true), l2, 1e-5 * mag + 1e-6);
                ASSERT_NEAR(ivf_cent_half_dist(lv, q, h, s, d, false), ip, 1e-5 * mag_ip + 1e-6);
            }
        }
        free(q);
        free(h);
    }
}

/*
 * Every float kind keeps its centroids as halves: the memory figure is exactly
 * nlist * dim * 2 bytes below the same index with fp32 centroids (the file of
 * an fp32-era build, made here by nudging the serialised centroids off the
 * half grid, as the previous code wrote arbitrary floats); a half-form file
 * reloads to the same halves, bytes and results; an fp32 file loads, keeps its
 * values bit for bit, probes the lists nearest by those values and searches.
 */
static void half_case(int kind, const char *type, int metric)
{
    const size_t n = 3000, nq = 60, k = 10;
    const uint32_t dim = 32, nlist = 40;
    float *base = tann_floats(n + nq, dim, 20, 21);
    const float *qs = base + n * dim;
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    struct ivf_config cfg = {.kind = kind, .metric = metric, .nlist = (int)nlist, .pq_m = 8,
                             .pq_nbits = 6, .with_raw_data = true, .seed = 4};
    struct ivf *ix = NULL, *ix2 = NULL, *ix3 = NULL;
    kite_err err;
    ASSERT_OK(ivf_build(&cfg, &v, &ix, &err));
    ASSERT(ix->hcent != NULL && ix->centroids == NULL);
    ASSERT_EQ_INT(ivf_cent_bytes(ix), (size_t)nlist * dim * 2);
    struct kite_buf b1, b2, b3;
    kite_buf_init(&b1, 0);
    kite_buf_init(&b2, 0);
    kite_buf_init(&b3, 0);
    ASSERT_OK(ivf_serialize(ix, &b1));
    ASSERT_OK(ivf_deserialize(metric, &v, b1.data, b1.len, &ix2, &err));
    ASSERT(ix2->hcent != NULL && ix2->cscale == ix->cscale);
    ASSERT(memcmp(ix2->hcent, ix->hcent, (size_t)nlist * dim * 2) == 0);
    ASSERT_EQ_INT(ivf_memory_bytes(ix2), ivf_memory_bytes(ix));
    ASSERT_OK(ivf_serialize(ix2, &b2));
    ASSERT(b2.len == b1.len && memcmp(b1.data, b2.data, b1.len) == 0);
    /* Same results from the reloaded index, batch and single query. */
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params(type, "{\"nprobe\":6,\"reorder_k\":40}", (int64_t)k, &p,
                                         &err));
    p.metric = metric;
    struct kite_hit *h1 = calloc(nq * k, sizeof(*h1)), *h2 = calloc(nq * k, sizeof(*h2));
    size_t c1[60], c2[60];
    struct vsearch_req req = {qs, nq, NULL, SIZE_MAX, &p, NULL};
    struct vsearch_out o1 = {h1, c1}, o2 = {h2, c2};
    ASSERT_OK(ivf_search(ix, &v, &req, &o1, &err));
    ASSERT_OK(ivf_search(ix2, &v, &req, &o2, &err));
    for (size_t i = 0; i < nq * k; i++)
        ASSERT(h1[i].row == h2[i].row && h1[i].score == h2[i].score);
    /* fp32-era file: centroids nudged off the half grid (x (1 + 2^-20)). */
    uint8_t *old = malloc(b1.len);
    memcpy(old, b1.data, b1.len);
    for (size_t i = 0; i < (size_t)nlist * dim; i++) {
        float f;
        memcpy(&f, old + 44 + 4 * i, 4);
        f *= 1.0f + 1.0f / 1048576.0f;
        memcpy(old + 44 + 4 * i, &f, 4);
    }
    ASSERT_OK(ivf_deserialize(metric, &v, old, b1.len, &ix3, &err));
    ASSERT(ix3->hcent == NULL && ix3->centroids != NULL);
    ASSERT_EQ_INT(ivf_memory_bytes(ix3) - ivf_memory_bytes(ix), (size_t)nlist * dim * 2);
    ASSERT_OK(ivf_serialize(ix3, &b3));
    ASSERT(b3.len == b1.len && memcmp(b3.data, old, b1.len) == 0);
    /* Its probes are the lists nearest by its fp32 values (double reference). */
    struct vpair *tmp = malloc(nlist * sizeof(struct vpair));
    uint32_t lists[6];
    float qn[32];
    for (size_t q = 0; q < nq; q++) {
        const float *x = qs + q * dim;
        if (metric == KITE_METRIC_COSINE) {
            double nn = 0.0;
            for (uint32_t d = 0; d < dim; d++)
                nn += (double)x[d] * x[d];
            for (uint32_t d = 0; d < dim; d++)
                qn[d] = (float)(x[d] / sqrt(nn));
            x = qn;
        }
        size_t got = ivf_nearest_lists(ix3, x, 6, tmp, lists);
        ASSERT_EQ_INT(got, 6);
        double worst = -INFINITY;
        for (size_t i = 0; i < got; i++) {
            double dd = 0.0;
            for (uint32_t d = 0; d < dim; d++) {
                double c = ix3->centroids[(size_t)lists[i] * dim + d];
                dd += metric == KITE_METRIC_IP ? -x[d] * c : (x[d] - c) * (x[d] - c);
            }
            worst = dd > worst ? dd : worst;
        }
        size_t better = 0; /* lists outside the probe strictly nearer than its worst */
        for (uint32_t l = 0; l < nlist; l++) {
            bool in = false;
            for (size_t i = 0; i < got; i++)
                in = in || lists[i] == l;
            double dd = 0.0;
            for (uint32_t d = 0; d < dim; d++) {
                double c = ix3->centroids[(size_t)l * dim + d];
                dd += metric == KITE_METRIC_IP ? -x[d] * c : (x[d] - c) * (x[d] - c);
            }
            better += !in && dd < worst - 1e-4 * (1.0 + fabs(worst));
        }
        ASSERT_EQ_INT(better, 0);
    }
    /* It searches: recall close to the half-form index's. */
    struct kite_hit *h3 = calloc(nq * k, sizeof(*h3));
    size_t c3[60];
    struct vsearch_out o3 = {h3, c3};
    ASSERT_OK(ivf_search(ix3, &v, &req, &o3, &err));
    double r1 = tann_recall(metric, base, n, dim, qs, nq, NULL, k, h1, c1);
    double r3 = tann_recall(metric, base, n, dim, qs, nq, NULL, k, h3, c3);
    fprintf(stderr, "  %s metric %d: recall half %.4f, fp32-era file %.4f\n", type, metric, r1, r3);
    ASSERT(r3 >= r1 - 0.02);
    free(h1);
    free(h2);
    free(h3);
    free(tmp);
    free(old);
    kite_buf_free(&b1);
    kite_buf_free(&b2);
    kite_buf_free(&b3);
    ivf_free(ix);
    ivf_free(ix2);
    ivf_free(ix3);
    free(base);
}

TEST(ivf_half_centroids_flat_l2) { half_case(IVF_KIND_FLAT, "IVF_FLAT", KITE_METRIC_L2); }
TEST(ivf_half_centroids_sq8_ip) { half_case(IVF_KIND_SQ8, "IVF_SQ8", KITE_METRIC_IP); }
TEST(ivf_half_centroids_pq_cosine) { half_case(IVF_KIND_PQ, "IVF_PQ", KITE_METRIC_COSINE); }
TEST(ivf_half_centroids_scann_l2) { half_case(IVF_KIND_SCANN, "SCANN", KITE_METRIC_L2); }

/* The blocked coarse step (non-VNNI batches and build assignment) decodes the
 * halves in blocks: its ranking values equal the fused kernel's distances. */
TEST(ivf_half_coarse_block_matches)
{
    const size_t n = 2000, nq = 37;
    const uint32_t dim = 45;
    float *base = tann_floats(n + nq, dim, 10, 8);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, base, NULL};
    for (int m = 0; m < 2; m++) {
        int metric = m ? KITE_METRIC_IP : KITE_METRIC_L2;
        struct ivf_config cfg = {.kind = IVF_KIND_FLAT, .metric = metric, .nlist = 70, .seed = 2};
        struct ivf *ix = NULL;
        kite_err err;
        ASSERT_OK(ivf_build(&cfg, &v, &ix, &err));
        ASSERT(ix->hcent != NULL);
        float *out = malloc(nq * ix->nlist * sizeof(float));
        const float *qs = base + n * dim;
        ivf_coarse_block(ix, &ix->space, qs, nq, out);
        for (size_t q = 0; q < nq; q++) {
            double qq = 0.0;
            for (uint32_t d = 0; d < dim; d++)
                qq += (double)qs[q * dim + d] * qs[q * dim + d];
            for (uint32_t l = 0; l < ix->nlist; l++) {
                double ref = ivf_cent_dist(ix, qs + q * dim, l);
                double got = out[q * ix->nlist + l] + (m ? 0.0 : qq);
                ASSERT_NEAR(got, ref, 1e-4 * (1.0 + qq));
            }
        }
        free(out);
        ivf_free(ix);
    }
    free(base);
}

/* SCANN COSINE through the batch path must score lists like the per-query path
 * (base -q.c; the 8-bit pass' re-scored L2 distance is not that base). */
TEST(ivf_batch_scann_cosine) { batch_vs_single("SCANN", KITE_METRIC_COSINE, 3000, "{\"nlist\":32}", "{\"nprobe\":4,\"reorder_k\":40}", 1); }

/*
 * ADC tables against a double reference straight from the codebooks, for the
 * transposed-codebook path (short sub-vectors) and the kernel path (long
 * ones), L2 and IP, 4- and 8-bit codes; and without pq_ready (ct NULL) the
 * kernel path gives the same tables.
 */
TEST(pq_tables_match_reference)
{
    static const uint32_t dsubs[] = {1, 2, 3, 4, 8, 16, 17, 32};
    uint64_t st = 99;
    for (size_t di = 0; di < sizeof(dsubs) / sizeof(dsubs[0]); di++) {
        for (uint32_t nbits = 4; nbits <= 8; nbits += 4) {
            const uint32_t m = 3, dim = m * dsubs[di];
            struct pq pq;
            kite_err err;
            ASSERT_OK(pq_init(&pq, dim, m, nbits, &err));
            size_t nc = (size_t)m * pq.ksub * pq.dsub;
            for (size_t i = 0; i < nc; i++) {
                st = st * 6364136223846793005ull + 1442695040888963407ull;
                pq.centroids[i] = (float)((int64_t)(st >> 40) - (1 << 23)) / (float)(1 << 20);
            }
            float q[96], *t1 = malloc((size_t)m * pq.ksub * sizeof(float));
            float *t2 = malloc((size_t)m * pq.ksub * sizeof(float));
            for (uint32_t d = 0; d < dim; d++)
                q[d] = (float)d * 0.37f - 3.0f;
            for (int ip = 0; ip < 2; ip++) {
                /* Kernel path first (no transposed copy yet), then the ready one. */
                (ip ? pq_table_ip : pq_table_l2)(&pq, q, t1);
                ASSERT_OK(pq_ready(&pq, &err));
                (ip ? pq_table_ip : pq_table_l2)(&pq, q, t2);
                for (uint32_t j = 0; j < m; j++)
                    for (uint32_t c = 0; c < pq.ksub; c++) {
                        const float *cc = pq.centroids + ((size_t)j * pq.ksub + c) * pq.dsub;
                        double ref = 0, mag = 0;
                        for (uint32_t t = 0; t < pq.dsub; t++) {
                            double a = q[j * pq.dsub + t], b = cc[t];
                            ref += ip ? -a * b : (a - b) * (a - b);
                            mag += ip ? fabs(a * b) : (a - b) * (a - b);
                        }
                        size_t i = (size_t)j * pq.ksub + c;
                        ASSERT_NEAR(t1[i], ref, 1e-5 * mag + 1e-6);
                        ASSERT_NEAR(t2[i], ref, 1e-5 * mag + 1e-6);
                    }
                kite_free(pq.ct);
                pq.ct = NULL;
            }
            ASSERT_OK(pq_ready(&pq, &err));
            ASSERT_EQ_INT(pq_memory_bytes(&pq), 2 * nc * sizeof(float));
            free(t1);
            free(t2);
            pq_free(&pq);
        }
    }
}
