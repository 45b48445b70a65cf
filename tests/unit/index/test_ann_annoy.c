/*
 * test_ann_annoy.c — ANNOY through the vindex API: recall against brute force
 * (thresholds stated), search_k, filters, serialisation round trip, corrupt
 * input.
 */
#include "alloc.h"
#include "buf.h"
#include "index.h"
#include "test.h"
#include "test_ann_util.h"

static double search(struct vindex *ix, const struct vec_view *v, const void *qs, size_t nq,
                     const char *sjson, const uint64_t *allow, int metric, struct kite_hit *hits,
                     size_t *counts)
{
    kite_err err;
    struct vsearch_params p;
    ASSERT_OK(vindex_parse_search_params("ANNOY", sjson, 10, &p, &err));
    struct vsearch_req req = {qs, nq, allow, SIZE_MAX, &p, NULL};
    struct vsearch_out out = {hits, counts};
    ASSERT_OK(vindex_search(ix, v, &req, &out, &err));
    return tann_recall(metric, v->data, v->n, v->dim, qs, nq, allow, 10, hits, counts);
}

TEST(annoy_recall_serde_corrupt)
{
    size_t n = 4000, nq = 100;
    uint32_t dim = 16;
    float *x = tann_floats(n + nq, dim, 20, 21);
    const float *qs = x + n * dim;
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, x, NULL};
    struct vindex *ix, *ix2;
    kite_err err;
    struct kite_hit hits[100 * 10], h2[100 * 10];
    size_t counts[100], c2[100];
    int metrics[2] = {KITE_METRIC_L2, KITE_METRIC_IP};
    for (int mi = 0; mi < 2; mi++) {
        struct vindex_build_params bp = {"ANNOY", metrics[mi], "{\"n_trees\":16}", 5, NULL};
        ASSERT_OK(vindex_build(&bp, &v, &ix, &err));
        double r0 = search(ix, &v, qs, nq, NULL, NULL, metrics[mi], hits, counts);
        double r1 = search(ix, &v, qs, nq, "{\"search_k\":800}", NULL, metrics[mi], hits, counts);
        fprintf(stderr, "  ANNOY metric %d n_trees 16: recall@10 default %.4f, search_k 800 %.4f\n",
                metrics[mi], r0, r1);
        /* Thresholds at search_k 800 (a fifth of the rows scored). */
        ASSERT(r1 >= 0.93);
        ASSERT(r1 >= r0 - 0.02);
        for (size_t q = 0; q < nq; q++)
            ASSERT_EQ_INT(counts[q], 10);

        struct kite_buf buf;
        kite_buf_init(&buf, 0);
        ASSERT_OK(vindex_serialize(ix, &buf));
        ASSERT_OK(vindex_deserialize("ANNOY", metrics[mi], &v, buf.data, buf.len, &ix2, &err));
        search(ix2, &v, qs, nq, "{\"search_k\":800}", NULL, metrics[mi], h2, c2);
        for (size_t q = 0; q < nq; q++) {
            ASSERT_EQ_INT(counts[q], c2[q]);
            for (size_t j = 0; j < counts[q]; j++)
                ASSERT_EQ_INT(hits[q * 10 + j].row, h2[q * 10 + j].row);
        }
        vindex_free(ix2);
        for (size_t len = 0; len < buf.len; len += 1 + len / 30)
            ASSERT_EQ_INT(vindex_deserialize("ANNOY", metrics[mi], &v, buf.data, len, &ix2, &err),
                          KITE_ECORRUPT);
        uint8_t *copy = malloc(buf.len);
        uint64_t seed = 3;
        for (int i = 0; i < 1000; i++) {
            memcpy(copy, buf.data, buf.len);
            size_t pos = i < 320 ? (size_t)i / 8 : tann_rand(&seed) % buf.len;
            copy[pos] ^= (uint8_t)(1u << (i % 8));
            int rc = vindex_deserialize("ANNOY", metrics[mi], &v, copy, buf.len, &ix2, &err);
            if (rc == KITE_OK) {
                search(ix2, &v, qs, 3, NULL, NULL, metrics[mi], h2, c2);
                vindex_free(ix2);
            } else {
                ASSERT_EQ_INT(rc, KITE_ECORRUPT);
            }
        }
        free(copy);
        kite_buf_free(&buf);
        vindex_free(ix);
    }
    free(x);
}

TEST(annoy_filtered_and_params)
{
    size_t n = 3000, nq = 50;
    uint32_t dim = 8;
    float *x = tann_floats(n + nq, dim, 10, 8);
    struct vec_view v = {KITE_DT_FLOAT_VECTOR, dim, n, x, NULL};
    struct vindex *ix;
    kite_err err;
    struct kite_hit hits[50 * 10];
    size_t counts[50];
    struct vindex_build_params bp = {"ANNOY", KITE_METRIC_L2, "{\"n_trees\":4}", 5, NULL};
    ASSERT_OK(vindex_build(&bp, &v, &ix, &err));
    uint64_t *allow = calloc((n + 63) / 64, 8);
    const double sel[] = {0.5, 0.1, 0.01, 0.001};
    for (int si = 0; si < 4; si++) {
        uint64_t seed = 50 + (uint64_t)si;
        size_t passing = 0;
        memset(allow, 0, (n + 63) / 64 * 8);
        for (size_t i = 0; i < n; i++)
            if ((double)(tann_rand(&seed) % 100000) < sel[si] * 100000) {
                allow[i / 64] |= 1ull << (i % 64);
                passing++;
            }
        search(ix, &v, x + n * dim, nq, NULL, allow, KITE_METRIC_L2, hits, counts);
        for (size_t q = 0; q < nq; q++) {
            ASSERT_EQ_INT(counts[q], passing < 10 ? passing : 10);
            for (size_t j = 0; j < counts[q]; j++)
                ASSERT((allow[hits[q * 10 + j].row / 64] >> (hits[q * 10 + j].row % 64)) & 1);
        }
    }
    free(allow);
    vindex_free(ix);
    /* COSINE is not an ANNOY metric; n_trees range is Milvus 2.1's [1, 1024]. */
    ASSERT_EQ_INT(vindex_validate_build("ANNOY", KITE_METRIC_COSINE, KITE_DT_FLOAT_VECTOR, 8, NULL,
                                        NULL, NULL, &err),
                  KITE_EINVAL);
    ASSERT_EQ_INT(vindex_validate_build("ANNOY", KITE_METRIC_L2, KITE_DT_FLOAT_VECTOR, 8,
                                        "{\"n_trees\":1025}", NULL, NULL, &err),
                  KITE_EINVAL);
    /* Duplicate rows (degenerate splits) still build and search. */
    memset(x, 0, n * dim * sizeof(float));
    ASSERT_OK(vindex_build(&bp, &v, &ix, &err));
    search(ix, &v, x + n * dim, nq, NULL, NULL, KITE_METRIC_L2, hits, counts);
    ASSERT_EQ_INT(counts[0], 10);
    vindex_free(ix);
    free(x);
}
