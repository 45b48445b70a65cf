/*
 * test_ann_util.h — data generators and a brute-force oracle for the ANN tests
 * (test_ann_*.c).  Everything is seeded: the same seed gives the same data.
 */
#ifndef KITE_TEST_ANN_UTIL_H
#define KITE_TEST_ANN_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index.h"

static inline uint64_t tann_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline float tann_gauss(uint64_t *s)
{
    double u1 = ((double)(tann_rand(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(tann_rand(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* n×dim floats: points around `clusters` random centres (clustered like real embeddings). */
static inline float *tann_floats(size_t n, uint32_t dim, int clusters, uint64_t seed)
{
    float *x = malloc(n * dim * sizeof(float));
    float *c = malloc((size_t)clusters * dim * sizeof(float));
    for (size_t i = 0; i < (size_t)clusters * dim; i++)
        c[i] = tann_gauss(&seed) * 1.0f;
    for (size_t i = 0; i < n; i++) {
        size_t ci = tann_rand(&seed) % (uint64_t)clusters;
        for (uint32_t d = 0; d < dim; d++)
            x[i * dim + d] = c[ci * dim + d] + tann_gauss(&seed);
    }
    free(c);
    return x;
}

static inline uint8_t *tann_bits(size_t n, uint32_t dim_bits, uint64_t seed)
{
    size_t nb = dim_bits / 8;
    uint8_t *x = malloc(n * nb);
    /* Clustered bits: flip ~12% of the bits of one of 20 prototypes. */
    uint8_t *proto = malloc(20 * nb);
    for (size_t i = 0; i < 20 * nb; i++)
        proto[i] = (uint8_t)tann_rand(&seed);
    for (size_t i = 0; i < n; i++) {
        size_t p = tann_rand(&seed) % 20;
        for (size_t b = 0; b < nb; b++) {
            uint8_t flip = 0;
            for (int k = 0; k < 8; k++)
                if (tann_rand(&seed) % 4 == 0)
                    flip |= (uint8_t)(1u << k);
            x[i * nb + b] = proto[p * nb + b] ^ flip;
        }
    }
    free(proto);
    return x;
}

/* Natural-score distance (smaller is better internally: IP/COSINE negated). */
static inline double tann_dist(int metric, const void *a, const void *b, uint32_t dim)
{
    if (metric == KITE_METRIC_HAMMING || metric == KITE_METRIC_JACCARD) {
        const uint8_t *x = a, *y = b;
        unsigned and_ = 0, or_ = 0, xor_ = 0;
        for (uint32_t i = 0; i < dim / 8; i++) {
            and_ += (unsigned)__builtin_popcount(x[i] & y[i]);
            or_ += (unsigned)__builtin_popcount(x[i] | y[i]);
            xor_ += (unsigned)__builtin_popcount(x[i] ^ y[i]);
        }
        if (metric == KITE_METRIC_HAMMING)
            return xor_;
        return or_ ? 1.0 - (double)and_ / or_ : 1.0;
    }
    const float *x = a, *y = b;
    double l2 = 0, ip = 0, nx = 0, ny = 0;
    for (uint32_t i = 0; i < dim; i++) {
        l2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        ip += (double)x[i] * y[i];
        nx += (double)x[i] * x[i];
        ny += (double)y[i] * y[i];
    }
    if (metric == KITE_METRIC_L2)
        return l2;
    if (metric == KITE_METRIC_IP)
        return -ip;
    return (nx > 0 && ny > 0) ? -ip / sqrt(nx * ny) : 0.0;
}

struct tann_pair {
    double d;
    uint32_t id;
};

static inline int tann_cmp(const void *a, const void *b)
{
    const struct tann_pair *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Exact top-k ids for one query over allowed rows; returns count (<= k). */
static inline size_t tann_truth(int metric, const void *base, size_t n, uint32_t dim,
                                const void *q, const uint64_t *allow, size_t k, uint32_t *ids)
{
    size_t rb = (metric == KITE_METRIC_HAMMING || metric == KITE_METRIC_JACCARD)
                    ? dim / 8
                    : dim * sizeof(float);
    struct tann_pair *p = malloc((n ? n : 1) * sizeof(*p));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (allow && !((allow[i / 64] >> (i % 64)) & 1))
            continue;
        p[m].d = tann_dist(metric, q, (const uint8_t *)base + i * rb, dim);
        p[m].id = (uint32_t)i;
        m++;
    }
    qsort(p, m, sizeof(*p), tann_cmp);
    size_t c = m < k ? m : k;
    for (size_t i = 0; i < c; i++)
        ids[i] = p[i].id;
    free(p);
    return c;
}

/*
 * recall@k of hits against the exact answer, counting a returned row as
 * correct when its true distance ties the k-th true distance (ties are
 * legitimately interchangeable, which matters for Hamming).
 */
static inline double tann_recall(int metric, const void *base, size_t n, uint32_t dim,
                                 const void *queries, size_t nq, const uint64_t *allow, size_t k,
                                 const struct kite_hit *hits, const size_t *counts)
{
    size_t rb = (metric == KITE_METRIC_HAMMING || metric == KITE_METRIC_JACCARD)
                    ? dim / 8
                    : dim * sizeof(float);
    uint32_t *ids = malloc(k * sizeof(uint32_t));
    size_t good = 0, total = 0;
    for (size_t qi = 0; qi < nq; qi++) {
        const uint8_t *q = (const uint8_t *)queries + qi * rb;
        size_t t = tann_truth(metric, base, n, dim, q, allow, k, ids);
        if (!t)
            continue;
        double kth = tann_dist(metric, q, (const uint8_t *)base + ids[t - 1] * rb, dim);
        for (size_t j = 0; j < counts[qi] && j < t; j++) {
            uint32_t r = hits[qi * k + j].row;
            double d = tann_dist(metric, q, (const uint8_t *)base + r * rb, dim);
            if (d <= kth + 1e-5 * (fabs(kth) + 1.0))
                good++;
        }
        total += t;
    }
    free(ids);
    return total ? (double)good / (double)total : 1.0;
}

#endif
