/*
 * test_flat.c — flat_search / vindex_distance / topk against a naive
 * double-precision oracle.
 *
 * Two kinds of data:
 *  - small integers (|x| <= 4, dim <= 64): every float sum is exact, so the
 *    results must equal the oracle exactly, ties (smaller row first) included;
 *  - random reals: scores must match the oracle within a relative 1e-4, and
 *    every returned row must really have (oracle) score within that tolerance
 *    of the oracle's score at the same rank (near-ties may swap rows).
 */
#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "alloc.h"
#include "index.h"
#include "pool.h"
#include "simd.h"
#include "test.h"
#include "topk.h"

/* ------------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static float rnd_real(void)
{
    return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float rnd_int(void)
{
    return (float)((int)(rnd() % 9) - 4);
}

static bool larger_better(int metric)
{
    return metric == KITE_METRIC_IP || metric == KITE_METRIC_COSINE;
}

static double oracle_float(int metric, const float *q, const float *x, size_t d)
{
    double s = 0, qq = 0, xx = 0;
    for (size_t i = 0; i < d; i++) {
        if (metric == KITE_METRIC_L2) {
            double t = (double)q[i] - (double)x[i];
            s += t * t;
        } else {
            s += (double)q[i] * (double)x[i];
            qq += (double)q[i] * (double)q[i];
            xx += (double)x[i] * (double)x[i];
        }
    }
    if (metric == KITE_METRIC_COSINE) {
        if (qq == 0 || xx == 0)
            return 0;
        s /= sqrt(qq) * sqrt(xx);
        if (s > 1)
            s = 1;
        if (s < -1)
            s = -1;
    }
    return s;
}

static double oracle_binary(int metric, const uint8_t *q, const uint8_t *x, size_t nb)
{
    unsigned a = 0, o = 0, h = 0;
    for (size_t i = 0; i < nb; i++) {
        a += (unsigned)__builtin_popcount(q[i] & x[i]);
        o += (unsigned)__builtin_popcount(q[i] | x[i]);
        h += (unsigned)__builtin_popcount(q[i] ^ x[i]);
    }
    if (metric == KITE_METRIC_HAMMING)
        return h;
    if (metric == KITE_METRIC_JACCARD)
        return o == 0 ? 1.0 : 1.0 - (double)a / o;
    return a == 0 ? FLT_MAX : -log2((double)a / o);
}

struct ohit {
    double s;
    uint32_t row;
};

static int g_metric;

static int cmp_ohit(const void *pa, const void *pb)
{
    const struct ohit *a = pa, *b = pb;
    if (a->s != b->s) {
        bool lt = larger_better(g_metric) ? a->s > b->s : a->s < b->s;
        return lt ? -1 : 1;
    }
    return a->row < b->row ? -1 : (a->row > b->row ? 1 : 0);
}

struct scenario {
    int dtype, metric;
    uint32_t dim;
    size_t n, nq;
    int64_t k;
    const void *data;       /* rows in dtype */
    const float *rows_f;    /* float view of rows (float types) for the oracle */
    const void *queries;
    const uint64_t *allow;
    bool has_radius, has_rf;
    float radius, rf;
};

/* Oracle results for query qi: fills hits (capacity n), returns count (<= k). */
static size_t oracle(const struct scenario *s, size_t qi, struct ohit *hits)
{
    size_t cnt = 0;
    bool bin = s->dtype == KITE_DT_BINARY_VECTOR;
    size_t nb = s->dim / 8;
    for (size_t r = 0; r < s->n; r++) {
        if (s->allow && !((s->allow[r / 64] >> (r % 64)) & 1))
            continue;
        double sc = bin ? oracle_binary(s->metric, (const uint8_t *)s->queries + qi * nb,
                                        (const uint8_t *)s->data + r * nb, nb)
                        : oracle_float(s->metric, (const float *)s->queries + qi * s->dim,
                                       s->rows_f + r * s->dim, s->dim);
        if (s->has_radius) {
            float f = (float)sc;
            bool keep = larger_better(s->metric) ? f > s->radius && (!s->has_rf || f <= s->rf)
                                                 : f < s->radius && (!s->has_rf || f >= s->rf);
            if (!keep)
                continue;
        }
        hits[cnt].s = sc;
        hits[cnt].row = (uint32_t)r;
        cnt++;
    }
    g_metric = s->metric;
    qsort(hits, cnt, sizeof(*hits), cmp_ohit);
    return cnt < (size_t)s->k ? cnt : (size_t)s->k;
}

static void run_flat(const struct scenario *s, struct kite_pool *pool, struct kite_hit *hits,
                     size_t *counts)
{
    struct vec_view v = {.dtype = s->dtype, .dim = s->dim, .n = s->n, .data = s->data};
    struct vsearch_params p = {.metric = s->metric, .k = s->k, .has_radius = s->has_radius,
                               .has_range_filter = s->has_rf, .radius = s->radius,
                               .range_filter = s->rf};
    struct vsearch_req req = {.queries = s->queries, .nq = s->nq, .allow = s->allow,
                              .n_allowed = SIZE_MAX, .params = &p, .pool = pool};
    struct vsearch_out out = {.hits = hits, .counts = counts};
    kite_err err = {0};
    int rc = flat_search(&v, &req, &out, &err);
    if (rc != 0)
        TEST_FAIL_("flat_search failed: %d %s", rc, err.message);
}

/* Compare flat_search with the oracle.  exact: scores and rows must match exactly. */
static void check_scenario(const struct scenario *s, struct kite_pool *pool, bool exact)
{
    struct kite_hit *hits = calloc(s->nq * (size_t)s->k, sizeof(*hits));
    size_t *counts = calloc(s->nq, sizeof(*counts));
    struct ohit *oh = calloc(s->n + 1, sizeof(*oh));
    ASSERT(hits && counts && oh);
    run_flat(s, pool, hits, counts);
    for (size_t qi = 0; qi < s->nq; qi++) {
        size_t on = oracle(s, qi, oh);
        if (counts[qi] != on)
            TEST_FAIL_("metric %d query %zu: %zu hits, oracle %zu", s->metric, qi, counts[qi],
                       on);
        const struct kite_hit *h = hits + qi * (size_t)s->k;
        for (size_t i = 0; i < on; i++) {
            if (exact) {
                if (h[i].row != oh[i].row || (double)h[i].score != (double)(float)oh[i].s)
                    TEST_FAIL_("metric %d query %zu rank %zu: row %u score %.9g, oracle row %u "
                               "score %.9g",
                               s->metric, qi, i, h[i].row, h[i].score, oh[i].row, oh[i].s);
                continue;
            }
            double tol = 1e-4 * (1.0 + fabs(oh[i].s));
            if (fabs(h[i].score - oh[i].s) > tol)
                TEST_FAIL_("metric %d query %zu rank %zu: score %.9g, oracle %.9g", s->metric,
                           qi, i, h[i].score, oh[i].s);
            /* the returned row's own true score must fit this rank */
            double own = s->dtype == KITE_DT_BINARY_VECTOR
                             ? oracle_binary(s->metric,
                                             (const uint8_t *)s->queries + qi * s->dim / 8,
                                             (const uint8_t *)s->data + h[i].row * s->dim / 8,
                                             s->dim / 8)
                             : oracle_float(s->metric, (const float *)s->queries + qi * s->dim,
                                            s->rows_f + (size_t)h[i].row * s->dim, s->dim);
            if (fabs(own - oh[i].s) > tol)
                TEST_FAIL_("metric %d query %zu rank %zu: row %u has score %.9g, rank needs %.9g",
                           s->metric, qi, i, h[i].row, own, oh[i].s);
            for (size_t k2 = 0; k2 < i; k2++)
                ASSERT(h[k2].row != h[i].row);
        }
    }
    free(hits);
    free(counts);
    free(oh);
}

static float *gen_floats(size_t count, bool ints)
{
    float *f = kite_malloc_aligned(count * sizeof(float) + 64);
    ASSERT(f);
    for (size_t i = 0; i < count; i++)
        f[i] = ints ? rnd_int() : rnd_real();
    return f;
}

static uint64_t *gen_allow(size_t n, unsigned percent)
{
    uint64_t *a = calloc((n + 63) / 64 + 1, sizeof(uint64_t));
    ASSERT(a);
    for (size_t r = 0; r < n; r++) {
        if (rnd() % 100 < percent)
            a[r / 64] |= UINT64_C(1) << (r % 64);
    }
    return a;
}

/* ------------------------------------------------------------------- topk */

TEST(topk_smaller_and_larger_with_ties)
{
    struct kite_hit st[4];
    struct topk t;
    float sc[] = {5, 1, 3, 1, 2, 1, 9, 0.5f};
    uint32_t rows[] = {0, 7, 2, 3, 4, 1, 6, 9};
    topk_init(&t, st, 4, false);
    for (int i = 0; i < 8; i++)
        topk_push(&t, sc[i], rows[i]);
    topk_push(&t, NAN, 11);
    ASSERT_EQ_INT(topk_sort(&t), 4);
    /* 0.5@9, then the three 1s by row: 1, 3, 7 */
    ASSERT_EQ_INT(st[0].row, 9);
    ASSERT_EQ_INT(st[1].row, 1);
    ASSERT_EQ_INT(st[2].row, 3);
    ASSERT_EQ_INT(st[3].row, 7);

    topk_init(&t, st, 3, true);
    for (int i = 0; i < 8; i++)
        topk_push(&t, sc[i], rows[i]);
    ASSERT_EQ_INT(topk_sort(&t), 3);
    ASSERT_EQ_INT(st[0].row, 6);
    ASSERT_EQ_INT(st[1].row, 0);
    ASSERT_EQ_INT(st[2].row, 2);

    /* merge in reverse order gives the same set */
    struct kite_hit st2[3];
    struct topk t2;
    topk_init(&t2, st2, 3, true);
    struct kite_hit all[8];
    for (int i = 0; i < 8; i++)
        all[7 - i] = (struct kite_hit){sc[i], rows[i]};
    topk_merge(&t2, all, 8);
    ASSERT_EQ_INT(topk_sort(&t2), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ_INT(st2[i].row, st[i].row);
}

TEST(topk_random_vs_sort)
{
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + rnd() % 300, k = 1 + rnd() % 40;
        bool lb = rnd() & 1;
        struct kite_hit *in = malloc(n * sizeof(*in)), *st = malloc(k * sizeof(*st));
        struct ohit *o = malloc(n * sizeof(*o));
        for (size_t i = 0; i < n; i++) {
            in[i].score = (float)(rnd() % 20);
            in[i].row = (uint32_t)(rnd() % 1000);
            o[i].s = in[i].score;
            o[i].row = in[i].row;
        }
        struct topk t;
        topk_init(&t, st, k, lb);
        topk_merge(&t, in, n);
        size_t c = topk_sort(&t);
        g_metric = lb ? KITE_METRIC_IP : KITE_METRIC_L2;
        qsort(o, n, sizeof(*o), cmp_ohit);
        ASSERT_EQ_INT(c, n < k ? n : k);
        for (size_t i = 0; i < c; i++) {
            ASSERT_EQ_INT(st[i].row, o[i].row);
            ASSERT_NEAR(st[i].score, o[i].s, 0);
        }
        free(in);
        free(st);
        free(o);
    }
}

/* ------------------------------------------------------------ float metrics */

static const int float_metrics[] = {KITE_METRIC_L2, KITE_METRIC_IP, KITE_METRIC_COSINE};

TEST(flat_float_exact_ints_all_metrics)
{
    uint32_t dims[] = {1, 3, 8, 17, 64};
    for (size_t di = 0; di < 5; di++) {
        uint32_t d = dims[di];
        size_t n = 700, nq = 9;
        float *x = gen_floats(n * d, true), *q = gen_floats(nq * d, true);
        for (int mi = 0; mi < 3; mi++) {
            struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                                 .dim = d, .n = n, .nq = nq, .k = 25, .data = x, .rows_f = x,
                                 .queries = q};
            /* COSINE divides: not exact in float; IP/L2 on ints are */
            check_scenario(&s, NULL, s.metric != KITE_METRIC_COSINE);
        }
        kite_free_aligned(x);
        kite_free_aligned(q);
    }
}

TEST(flat_float_random_real_data)
{
    uint32_t dims[] = {2, 31, 128, 200};
    for (size_t di = 0; di < 4; di++) {
        uint32_t d = dims[di];
        size_t n = 1500, nq = 11;
        float *x = gen_floats(n * d, false), *q = gen_floats(nq * d, false);
        for (int mi = 0; mi < 3; mi++) {
            struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                                 .dim = d, .n = n, .nq = nq, .k = 50, .data = x, .rows_f = x,
                                 .queries = q};
            check_scenario(&s, NULL, false);
        }
        kite_free_aligned(x);
        kite_free_aligned(q);
    }
}

TEST(flat_k_larger_than_n_and_filters)
{
    uint32_t d = 12;
    size_t n = 600, nq = 5;
    float *x = gen_floats(n * d, true), *q = gen_floats(nq * d, true);
    unsigned pcts[] = {0, 1, 10, 60, 100};
    for (int pi = 0; pi < 5; pi++) {
        uint64_t *allow = gen_allow(n, pcts[pi]);
        for (int mi = 0; mi < 2; mi++) {
            struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                                 .dim = d, .n = n, .nq = nq, .k = 1000, .data = x, .rows_f = x,
                                 .queries = q, .allow = allow};
            check_scenario(&s, NULL, true);
            s.k = 7;
            check_scenario(&s, NULL, true);
        }
        free(allow);
    }
    kite_free_aligned(x);
    kite_free_aligned(q);
}

TEST(flat_ties_smaller_row_first)
{
    /* 300 rows, only 3 distinct vectors: massive ties */
    uint32_t d = 5;
    size_t n = 300;
    float *x = gen_floats(n * d, true);
    for (size_t r = 3; r < n; r++)
        memcpy(x + r * d, x + (r % 3) * d, d * sizeof(float));
    float *q = gen_floats(2 * d, true);
    for (int mi = 0; mi < 3; mi++) {
        struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                             .dim = d, .n = n, .nq = 2, .k = 150, .data = x, .rows_f = x,
                             .queries = q};
        struct kite_hit hits[300];
        size_t counts[2];
        run_flat(&s, NULL, hits, counts);
        for (size_t qi = 0; qi < 2; qi++) {
            const struct kite_hit *h = hits + qi * 150;
            ASSERT_EQ_INT(counts[qi], 150);
            for (size_t i = 1; i < 150; i++) {
                if (h[i].score == h[i - 1].score)
                    ASSERT(h[i].row > h[i - 1].row);
                else if (larger_better(s.metric))
                    ASSERT(h[i].score < h[i - 1].score);
                else
                    ASSERT(h[i].score > h[i - 1].score);
            }
        }
        check_scenario(&s, NULL, s.metric != KITE_METRIC_COSINE);
    }
    kite_free_aligned(x);
    kite_free_aligned(q);
}

TEST(flat_range_search)
{
    uint32_t d = 6;
    size_t n = 900, nq = 4;
    float *x = gen_floats(n * d, true), *q = gen_floats(nq * d, true);
    uint64_t *allow = gen_allow(n, 70);
    struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .dim = d, .n = n, .nq = nq, .data = x,
                         .rows_f = x, .queries = q};
    /* L2: range_filter <= d < radius, integer boundaries hit exactly */
    s.metric = KITE_METRIC_L2;
    s.has_radius = true;
    s.radius = 40;
    for (int rf = 0; rf < 2; rf++) {
        s.has_rf = rf;
        s.rf = 20;
        s.k = 10;
        check_scenario(&s, NULL, true);
        s.k = 2000;
        check_scenario(&s, NULL, true);
        s.allow = allow;
        check_scenario(&s, NULL, true);
        s.allow = NULL;
    }
    /* IP: radius < d <= range_filter */
    s.metric = KITE_METRIC_IP;
    s.radius = -3;
    s.rf = 8;
    for (int rf = 0; rf < 2; rf++) {
        s.has_rf = rf;
        s.k = 10;
        check_scenario(&s, NULL, true);
        s.k = 2000;
        check_scenario(&s, NULL, true);
    }
    /* COSINE */
    s.metric = KITE_METRIC_COSINE;
    s.radius = 0.2f;
    s.rf = 0.9f;
    s.has_rf = true;
    s.k = 3000;
    check_scenario(&s, NULL, false);
    free(allow);
    kite_free_aligned(x);
    kite_free_aligned(q);
}

TEST(flat_cosine_zero_vector)
{
    float x[4 * 3] = {0, 0, 0, 1, 0, 0, -2, 0, 0, 0, 0, 0};
    float q[3] = {3, 0, 0}, qz[3] = {0, 0, 0};
    struct vec_view v = {.dtype = KITE_DT_FLOAT_VECTOR, .dim = 3, .n = 4, .data = x};
    ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_COSINE, q, 0), 0, 0);
    ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_COSINE, q, 1), 1, 1e-6);
    ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_COSINE, q, 2), -1, 1e-6);
    ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_COSINE, qz, 1), 0, 0);
    struct vsearch_params p = {.metric = KITE_METRIC_COSINE, .k = 4};
    struct vsearch_req req = {.queries = q, .nq = 1, .n_allowed = SIZE_MAX, .params = &p};
    struct kite_hit hits[4];
    size_t cnt;
    struct vsearch_out out = {hits, &cnt};
    ASSERT_OK(flat_search(&v, &req, &out, NULL));
    ASSERT_EQ_INT(cnt, 4);
    ASSERT_EQ_INT(hits[0].row, 1);
    ASSERT_EQ_INT(hits[1].row, 0);  /* zero vectors: 0, smaller row first */
    ASSERT_EQ_INT(hits[2].row, 3);
    ASSERT_EQ_INT(hits[3].row, 2);
}

/* --------------------------------------------------------------- f16 / bf16 */

TEST(flat_f16_bf16_rows)
{
    const struct kite_simd_ops *sc = kite_simd_ops_for(KITE_SIMD_SCALAR);
    uint32_t dims[] = {7, 64, 300, 2100}; /* 2100: fewer rows per block (wide vectors) */
    for (int di = 0; di < 4; di++) {
        uint32_t d = dims[di];
        size_t n = 700, nq = di == 3 ? 9 : 6;
        float *x = gen_floats(n * d, false), *q = gen_floats(nq * d, false);
        uint16_t *h = malloc(n * d * 2), *b = malloc(n * d * 2);
        float *xh = malloc(n * d * 4), *xb = malloc(n * d * 4);
        sc->f32_to_f16(x, h, n * d);
        sc->f16_to_f32(h, xh, n * d);
        sc->f32_to_bf16(x, b, n * d);
        sc->bf16_to_f32(b, xb, n * d);
        uint64_t *allow = gen_allow(n, 30);
        for (int mi = 0; mi < 3; mi++) {
            struct scenario s = {.dtype = KITE_DT_FLOAT16_VECTOR, .metric = float_metrics[mi],
                                 .dim = d, .n = n, .nq = nq, .k = 20, .data = h, .rows_f = xh,
                                 .queries = q};
            check_scenario(&s, NULL, false);
            s.allow = allow;
            check_scenario(&s, NULL, false);
            s.dtype = KITE_DT_BFLOAT16_VECTOR;
            s.data = b;
            s.rows_f = xb;
            check_scenario(&s, NULL, false);
            s.allow = NULL;
            check_scenario(&s, NULL, false);
            /* vindex_distance on a half row agrees with the oracle */
            struct vec_view v = {.dtype = KITE_DT_BFLOAT16_VECTOR, .dim = d, .n = n, .data = b};
            double o = oracle_float(s.metric, q, xb + 5 * d, d);
            ASSERT_NEAR(vindex_distance(&v, s.metric, q, 5), o, 1e-4 * (1 + fabs(o)));
        }
        free(allow);
        free(h);
        free(b);
        free(xh);
        free(xb);
        kite_free_aligned(x);
        kite_free_aligned(q);
    }
}

/* ----------------------------------------------------------------- binary */

static const int bin_metrics[] = {KITE_METRIC_HAMMING, KITE_METRIC_JACCARD,
                                  KITE_METRIC_TANIMOTO};

static uint8_t *gen_bits(size_t nbytes, unsigned density)
{
    uint8_t *p = malloc(nbytes + 1);
    ASSERT(p);
    for (size_t i = 0; i < nbytes; i++) {
        uint8_t byte = 0;
        for (int bit = 0; bit < 8; bit++)
            if (rnd() % 100 < density)
                byte |= (uint8_t)(1u << bit);
        p[i] = byte;
    }
    return p;
}

TEST(flat_binary_metrics)
{
    uint32_t dims[] = {8, 64, 136, 512};
    for (int di = 0; di < 4; di++) {
        uint32_t d = dims[di];
        size_t n = 800, nq = 7, nb = d / 8;
        uint8_t *x = gen_bits(n * nb, 20), *q = gen_bits(nq * nb, 30);
        memset(x + 3 * nb, 0, nb);   /* all-zero row */
        memset(q, 0, nb);            /* all-zero query: JACCARD 1 / TANIMOTO FLT_MAX pairs */
        uint64_t *allow = gen_allow(n, 40);
        for (int mi = 0; mi < 3; mi++) {
            struct scenario s = {.dtype = KITE_DT_BINARY_VECTOR, .metric = bin_metrics[mi],
                                 .dim = d, .n = n, .nq = nq, .k = 30, .data = x, .queries = q};
            check_scenario(&s, NULL, s.metric == KITE_METRIC_HAMMING);
            s.allow = allow;
            check_scenario(&s, NULL, s.metric == KITE_METRIC_HAMMING);
            s.k = 5000;
            check_scenario(&s, NULL, s.metric == KITE_METRIC_HAMMING);
            s.has_radius = true;
            s.radius = s.metric == KITE_METRIC_HAMMING ? (float)d / 3 : 0.8f;
            s.has_rf = true;
            s.rf = s.metric == KITE_METRIC_HAMMING ? 2 : 0.1f;
            check_scenario(&s, NULL, s.metric == KITE_METRIC_HAMMING);
        }
        struct vec_view v = {.dtype = KITE_DT_BINARY_VECTOR, .dim = d, .n = n, .data = x};
        ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_JACCARD, q, 3), 1.0, 0);
        ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_TANIMOTO, q, 3), FLT_MAX, 0);
        ASSERT_NEAR(vindex_distance(&v, KITE_METRIC_HAMMING, q, 3), 0, 0);
        free(allow);
        free(x);
        free(q);
    }
}

TEST(flat_binary_structure_filters)
{
    size_t n = 500, nb = 4, nq = 6;
    uint8_t *x = gen_bits(n * nb, 60), *q = gen_bits(nq * nb, 15);
    uint64_t *allow = gen_allow(n, 80);
    for (int m = KITE_METRIC_SUBSTRUCTURE; m <= KITE_METRIC_SUPERSTRUCTURE; m++) {
        for (int with_allow = 0; with_allow < 2; with_allow++) {
            struct vec_view v = {.dtype = KITE_DT_BINARY_VECTOR, .dim = 32, .n = n, .data = x};
            struct vsearch_params p = {.metric = m, .k = 10};
            struct vsearch_req req = {.queries = q, .nq = nq,
                                      .allow = with_allow ? allow : NULL,
                                      .n_allowed = SIZE_MAX, .params = &p};
            struct kite_hit hits[60];
            size_t counts[6];
            struct vsearch_out out = {hits, counts};
            ASSERT_OK(flat_search(&v, &req, &out, NULL));
            for (size_t qi = 0; qi < nq; qi++) {
                size_t want = 0;
                const uint8_t *qq = q + qi * nb;
                for (size_t r = 0; r < n && want < 10; r++) {
                    if (with_allow && !((allow[r / 64] >> (r % 64)) & 1))
                        continue;
                    const uint8_t *xx = x + r * nb;
                    bool hit = true;
                    for (size_t i = 0; i < nb; i++) {
                        uint8_t both = qq[i] & xx[i];
                        if (both != (m == KITE_METRIC_SUBSTRUCTURE ? qq[i] : xx[i]))
                            hit = false;
                    }
                    if (!hit)
                        continue;
                    ASSERT(want < counts[qi]);
                    ASSERT_EQ_INT(hits[qi * 10 + want].row, r);
                    ASSERT_NEAR(hits[qi * 10 + want].score, 0, 0);
                    ASSERT_NEAR(vindex_distance(&v, m, qq, r), 0, 0);
                    want++;
                }
                ASSERT_EQ_INT(counts[qi], want);
            }
        }
    }
    free(allow);
    free(x);
    free(q);
}

/* ------------------------------------------------------------- parallelism */

static void same_results(const struct scenario *s, struct kite_pool *pool)
{
    size_t total = s->nq * (size_t)s->k;
    struct kite_hit *a = calloc(total, sizeof(*a)), *b = calloc(total, sizeof(*b));
    size_t *ca = calloc(s->nq, sizeof(*ca)), *cb = calloc(s->nq, sizeof(*cb));
    run_flat(s, NULL, a, ca);
    run_flat(s, pool, b, cb);
    for (size_t qi = 0; qi < s->nq; qi++) {
        ASSERT_EQ_INT(ca[qi], cb[qi]);
        for (size_t i = 0; i < ca[qi]; i++) {
            size_t o = qi * (size_t)s->k + i;
            if (a[o].row != b[o].row || a[o].score != b[o].score)
                TEST_FAIL_("query %zu rank %zu: no pool row %u %.9g, pool row %u %.9g", qi, i,
                           a[o].row, a[o].score, b[o].row, b[o].score);
        }
    }
    free(a);
    free(b);
    free(ca);
    free(cb);
}

TEST(flat_pool_matches_single_thread)
{
    struct kite_pool *pool;
    ASSERT_OK(kite_pool_new(3, &pool));
    uint32_t d = 16;
    size_t n = 5000;
    float *x = gen_floats(n * d, false), *q = gen_floats(800 * d, false);
    uint64_t *allow = gen_allow(n, 50);
    /* row split (few queries: fewer than 3 workers x 256-query blocks) and query split */
    size_t nqs[] = {1, 3, 800};
    for (int i = 0; i < 3; i++) {
        for (int mi = 0; mi < 3; mi++) {
            struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                                 .dim = d, .n = n, .nq = nqs[i], .k = 40, .data = x,
                                 .rows_f = x, .queries = q};
            same_results(&s, pool);
            s.allow = allow;
            same_results(&s, pool);
            if (nqs[i] <= 3)
                check_scenario(&s, pool, false);
        }
    }
    uint8_t *bx = gen_bits(n * 8, 50), *bq = gen_bits(800 * 8, 50);
    for (int i = 0; i < 3; i++) {
        struct scenario s = {.dtype = KITE_DT_BINARY_VECTOR, .metric = KITE_METRIC_HAMMING,
                             .dim = 64, .n = n, .nq = nqs[i], .k = 40, .data = bx,
                             .queries = bq, .allow = allow};
        same_results(&s, pool);
        s.metric = KITE_METRIC_SUBSTRUCTURE;
        same_results(&s, pool);
    }
    kite_pool_free(pool);
    free(bx);
    free(bq);
    free(allow);
    kite_free_aligned(x);
    kite_free_aligned(q);
}

/* Duplicated vectors spread over many blocks must tie exactly in every mode. */
TEST(flat_pool_ties_across_blocks)
{
    struct kite_pool *pool;
    ASSERT_OK(kite_pool_new(2, &pool));
    uint32_t d = 37;
    size_t n = 3000;
    float *x = gen_floats(n * d, false);
    for (size_t r = 10; r < n; r++)
        memcpy(x + r * d, x + (r % 10) * d, d * sizeof(float));
    float *q = gen_floats(2 * d, false);
    for (int mi = 0; mi < 3; mi++) {
        struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                             .dim = d, .n = n, .nq = 2, .k = 700, .data = x, .rows_f = x,
                             .queries = q};
        struct kite_hit *h = calloc(2 * 700, sizeof(*h));
        size_t c[2];
        run_flat(&s, pool, h, c);
        for (size_t qi = 0; qi < 2; qi++) {
            for (size_t i = 1; i < c[qi]; i++) {
                const struct kite_hit *a = &h[qi * 700 + i - 1], *b = &h[qi * 700 + i];
                if (a->score == b->score)
                    ASSERT(a->row < b->row);
                /* equal vectors give equal scores: row r ties with r % 10 */
                ASSERT(b->row % 10 != a->row % 10 || a->score == b->score);
            }
        }
        same_results(&s, pool);
        free(h);
    }
    kite_pool_free(pool);
    kite_free_aligned(x);
    kite_free_aligned(q);
}

/* ------------------------------------------------------------- SIMD levels */

TEST(flat_scalar_level_agrees)
{
    /* Run under KITE_SIMD=scalar (this test runs in its own process). */
    setenv("KITE_SIMD", "scalar", 1);
    ASSERT_EQ_INT(kite_simd_init(), KITE_SIMD_SCALAR);
    uint32_t d = 50;
    size_t n = 1000, nq = 5;
    float *x = gen_floats(n * d, false), *q = gen_floats(nq * d, false);
    for (int mi = 0; mi < 3; mi++) {
        struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = float_metrics[mi],
                             .dim = d, .n = n, .nq = nq, .k = 30, .data = x, .rows_f = x,
                             .queries = q};
        check_scenario(&s, NULL, false);
    }
    kite_free_aligned(x);
    kite_free_aligned(q);
}

/* ------------------------------------------------------------------ errors */

TEST(flat_rejects_bad_arguments)
{
    float x[8] = {0};
    struct vec_view v = {.dtype = KITE_DT_FLOAT_VECTOR, .dim = 4, .n = 2, .data = x};
    struct vsearch_params p = {.metric = KITE_METRIC_HAMMING, .k = 1};
    struct vsearch_req req = {.queries = x, .nq = 1, .n_allowed = SIZE_MAX, .params = &p};
    struct kite_hit hits[2];
    size_t cnt;
    struct vsearch_out out = {hits, &cnt};
    kite_err err = {0};
    ASSERT_EQ_INT(flat_search(&v, &req, &out, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "float vector");
    p.metric = KITE_METRIC_L2;
    p.k = 0;
    ASSERT_EQ_INT(flat_search(&v, &req, &out, &err), KITE_EINVAL);
    p.k = 1;
    p.has_range_filter = true;
    ASSERT_EQ_INT(flat_search(&v, &req, &out, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "radius");
    p.has_range_filter = false;
    v.dtype = KITE_DT_BINARY_VECTOR;
    v.dim = 12;
    p.metric = KITE_METRIC_HAMMING;
    ASSERT_EQ_INT(flat_search(&v, &req, &out, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "multiple of 8");
    /* empty segment and nothing allowed: zero hits, no error */
    v.dtype = KITE_DT_FLOAT_VECTOR;
    v.dim = 4;
    p.metric = KITE_METRIC_L2;
    v.n = 0;
    cnt = 99;
    ASSERT_OK(flat_search(&v, &req, &out, &err));
    ASSERT_EQ_INT(cnt, 0);
    v.n = 2;
    req.n_allowed = 0;
    cnt = 99;
    ASSERT_OK(flat_search(&v, &req, &out, &err));
    ASSERT_EQ_INT(cnt, 0);
    ASSERT(isnan(vindex_distance(&v, KITE_METRIC_HAMMING, x, 0)));
    ASSERT(isnan(vindex_distance(&v, KITE_METRIC_L2, x, 2)));
}

/* OOM: every allocation failure gives KITE_ENOMEM, never a crash. */
static void oom_loop(int metric, size_t nq, float offset)
{
    uint32_t d = 8;
    size_t n = 600;
    float *x = gen_floats(n * d, false), *q = gen_floats(nq * d, false);
    for (size_t i = 0; i < n * d; i++)
        x[i] += offset;
    uint64_t *allow = gen_allow(n, 50);
    struct vec_view v = {.dtype = KITE_DT_FLOAT_VECTOR, .dim = d, .n = n, .data = x};
    struct vsearch_params p = {.metric = metric, .k = 5};
    struct vsearch_req req = {.queries = q, .nq = nq, .allow = allow, .n_allowed = SIZE_MAX,
                              .params = &p};
    struct kite_hit *hits = calloc(nq * 5, sizeof(*hits));
    size_t *cnt = calloc(nq, sizeof(*cnt));
    struct vsearch_out out = {hits, cnt};
    kite_alloc_fail_at(0, false);
    ASSERT_OK(flat_search(&v, &req, &out, NULL));
    uint64_t total = kite_alloc_count();
    ASSERT(total > 0);
    for (uint64_t i = 1; i <= total; i++) {
        kite_alloc_fail_at(i, false);
        kite_err err = {0};
        ASSERT_EQ_INT(flat_search(&v, &req, &out, &err), KITE_ENOMEM);
    }
    kite_alloc_fail_at(0, false);
    ASSERT_OK(flat_search(&v, &req, &out, NULL));
    free(hits);
    free(cnt);
    free(allow);
    kite_free_aligned(x);
    kite_free_aligned(q);
}

TEST(flat_out_of_memory)
{
    oom_loop(KITE_METRIC_COSINE, 2, 0);
    oom_loop(KITE_METRIC_L2, 9, 0);
    oom_loop(KITE_METRIC_L2, 9, 5000); /* forces the exact fallback pass */
}

/*
 * L2 with >= 8 queries ranks by |q|^2 + |x|^2 - 2 q.x and reranks the
 * candidates exactly: with large-norm data (where the expansion cancels
 * badly) a query equal to a row must still find it first at exactly 0, and
 * the results must equal one-query-at-a-time search (direct kernel).
 */
TEST(flat_l2_expansion_reranks_exactly)
{
    uint32_t d = 96;
    size_t n = 2000, nq = 16;
    float *x = gen_floats(n * d, false);
    for (size_t i = 0; i < n * d; i++)
        x[i] = 1000.0f + x[i];
    float *q = gen_floats(nq * d, false);
    for (size_t qi = 0; qi < nq; qi++)
        memcpy(q + qi * d, x + (qi * 97) * d, d * sizeof(float));
    int64_t k = 10;
    struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = KITE_METRIC_L2, .dim = d,
                         .n = n, .nq = nq, .k = k, .data = x, .rows_f = x, .queries = q};
    struct kite_hit all[16 * 10], one[10];
    size_t counts[16], c1;
    run_flat(&s, NULL, all, counts);
    for (size_t qi = 0; qi < nq; qi++) {
        ASSERT_EQ_INT(counts[qi], k);
        ASSERT_EQ_INT(all[qi * k].row, qi * 97);
        ASSERT_NEAR(all[qi * k].score, 0, 0);
        struct scenario s1 = s;
        s1.nq = 1;
        s1.queries = q + qi * d;
        run_flat(&s1, NULL, one, &c1);
        ASSERT_EQ_INT(c1, k);
        for (int64_t i = 0; i < k; i++) {
            if (one[i].row != all[qi * k + i].row)
                TEST_FAIL_("q %zu rank %lld: one %u %.9g, batch %u %.9g", qi, (long long)i,
                           one[i].row, one[i].score, all[qi * k + i].row,
                           all[qi * k + i].score);
            ASSERT(one[i].score == all[qi * k + i].score);
        }
    }
    check_scenario(&s, NULL, false);
    struct kite_pool *pool;
    ASSERT_OK(kite_pool_new(2, &pool));
    same_results(&s, pool);
    kite_pool_free(pool);
    kite_free_aligned(x);
    kite_free_aligned(q);
}

/*
 * Randomised sweep: dtype, metric, sizes, k, filter density, range and pool
 * drawn from a fixed seed; every case against the oracle.  Integer data keep
 * L2 / IP / HAMMING exact, so those are compared exactly (ties included).
 */
TEST(flat_random_sweep_vs_oracle)
{
    struct kite_pool *pool;
    ASSERT_OK(kite_pool_new(2, &pool));
    rng_state = 0x5eed5eed12345ull;
    for (int iter = 0; iter < 120; iter++) {
        bool bin = rnd() % 3 == 0;
        int metric = bin ? bin_metrics[rnd() % 3] : float_metrics[rnd() % 3];
        uint32_t d = bin ? 8 * (uint32_t)(1 + rnd() % 40) : (uint32_t)(1 + rnd() % 90);
        size_t n = 1 + rnd() % 1500, nq = 1 + rnd() % 20;
        int64_t k = 1 + (int64_t)(rnd() % 60);
        bool ints = rnd() % 2 == 0;
        int dtype = bin ? KITE_DT_BINARY_VECTOR
                        : (rnd() % 4 == 0 ? KITE_DT_FLOAT16_VECTOR : KITE_DT_FLOAT_VECTOR);
        uint64_t *allow = rnd() % 2 ? gen_allow(n, (unsigned)(rnd() % 101)) : NULL;
        struct scenario s = {.dtype = dtype, .metric = metric, .dim = d, .n = n, .nq = nq,
                             .k = k, .allow = allow};
        float *x = NULL, *q = NULL, *xr = NULL;
        uint16_t *h = NULL;
        uint8_t *bx = NULL, *bq = NULL;
        if (bin) {
            bx = gen_bits(n * d / 8, (unsigned)(rnd() % 60));
            bq = gen_bits(nq * d / 8, (unsigned)(rnd() % 60));
            s.data = bx;
            s.queries = bq;
        } else {
            x = gen_floats(n * d, ints);
            q = gen_floats(nq * d, ints);
            s.data = x;
            s.rows_f = x;
            s.queries = q;
            if (dtype == KITE_DT_FLOAT16_VECTOR) {
                const struct kite_simd_ops *sc = kite_simd_ops_for(KITE_SIMD_SCALAR);
                h = malloc(n * d * 2);
                xr = malloc(n * d * 4);
                sc->f32_to_f16(x, h, n * d);
                sc->f16_to_f32(h, xr, n * d);
                s.data = h;
                s.rows_f = xr;
            }
        }
        if (rnd() % 4 == 0 && metric != KITE_METRIC_TANIMOTO) {
            s.has_radius = true;
            s.radius = metric == KITE_METRIC_L2        ? (float)d * (ints ? 20.0f : 0.6f)
                       : metric == KITE_METRIC_IP      ? 0.0f
                       : metric == KITE_METRIC_COSINE  ? 0.1f
                       : metric == KITE_METRIC_HAMMING ? (float)d / 2
                                                       : 0.9f;
        }
        bool exact = ints && (metric == KITE_METRIC_L2 || metric == KITE_METRIC_IP) &&
                     dtype == KITE_DT_FLOAT_VECTOR;
        exact = exact || metric == KITE_METRIC_HAMMING;
        check_scenario(&s, rnd() % 2 ? pool : NULL, exact);
        free(allow);
        free(bx);
        free(bq);
        free(h);
        free(xr);
        if (x)
            kite_free_aligned(x);
        if (q)
            kite_free_aligned(q);
    }
    kite_pool_free(pool);
}

/* Infinite components: the expansion path must return what the direct path does. */
TEST(flat_l2_infinite_components)
{
    uint32_t d = 4;
    size_t n = 40, nq = 9;
    float *x = gen_floats(n * d, true), *q = gen_floats(nq * d, true);
    for (size_t r = 0; r < n; r += 3)
        x[r * d + 1] = INFINITY;
    struct scenario s = {.dtype = KITE_DT_FLOAT_VECTOR, .metric = KITE_METRIC_L2, .dim = d,
                         .n = n, .nq = nq, .k = 30, .data = x, .rows_f = x, .queries = q};
    struct kite_hit all[9 * 30], one[30];
    size_t counts[9], c1;
    run_flat(&s, NULL, all, counts);
    for (size_t qi = 0; qi < nq; qi++) {
        struct scenario s1 = s;
        s1.nq = 1;
        s1.queries = q + qi * d;
        run_flat(&s1, NULL, one, &c1);
        ASSERT_EQ_INT(counts[qi], c1);
        ASSERT_EQ_INT(c1, 30);
        for (size_t i = 0; i < c1; i++) {
            ASSERT_EQ_INT(one[i].row, all[qi * 30 + i].row);
            ASSERT(one[i].score == all[qi * 30 + i].score);
        }
    }
    kite_free_aligned(x);
    kite_free_aligned(q);
}
