/*
 * pq.h — product quantisation (Jégou, Douze, Schmid 2011, "Product quantization
 * for nearest neighbor search") and the k-means it and IVF train with.
 * pq_train.c trains codebooks, pq_encode.c encodes, pq_adc.c builds asymmetric
 * distance (ADC) tables and scans codes; kmeans.c is Lloyd's algorithm.
 *
 * Codes: m sub-codes per vector, one byte each when nbits <= 8, else two bytes
 * little-endian.  Reproducible: every random choice comes from the seed.
 */
#ifndef KITE_PQ_H
#define KITE_PQ_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "pool.h"

struct pq {
    uint32_t dim, m, nbits, ksub, dsub;
    float *centroids;   /* m * ksub * dsub */
    float *ct;          /* the same, m * dsub * ksub (centroid index fastest): ADC tables
                           vectorise over the centroids; pq_ready fills it, NULL before */
};

static inline size_t pq_code_bytes(const struct pq *pq)
{
    return (size_t)pq->m * (pq->nbits <= 8 ? 1 : 2);
}

/* Lloyd's k-means on n float rows of dim (L2), k centroids out (k*dim). */
int kmeans_f32(const float *x, size_t n, uint32_t dim, uint32_t k, int iters, uint64_t seed,
               struct kite_pool *pool, float *centroids, kite_err *err);
/* Nearest centroid (L2) of one row. */
uint32_t kmeans_assign_f32(const float *c, uint32_t k, uint32_t dim, const float *x, float *dist);
/* Binary k-means in Hamming space with majority-vote centroids (nbytes per row). */
int kmeans_bin(const uint8_t *x, size_t n, size_t nbytes, uint32_t k, int iters, uint64_t seed,
               uint8_t *centroids, kite_err *err);
uint32_t kmeans_assign_bin(const uint8_t *c, uint32_t k, size_t nbytes, const uint8_t *x);

int pq_init(struct pq *pq, uint32_t dim, uint32_t m, uint32_t nbits, kite_err *err);
int pq_train(struct pq *pq, const float *x, size_t n, uint64_t seed, struct kite_pool *pool,
             kite_err *err);
/* Derive pq->ct from the codebooks (after training or loading them). */
int pq_ready(struct pq *pq, kite_err *err);
/* Bytes held by the codebooks (both layouts). */
size_t pq_memory_bytes(const struct pq *pq);
void pq_encode(const struct pq *pq, const float *x, uint8_t *code);
void pq_free(struct pq *pq);
/* ADC tables: table[j * ksub + c] = distance term of sub-vector j to centroid c. */
void pq_table_l2(const struct pq *pq, const float *q, float *table);
void pq_table_ip(const struct pq *pq, const float *q, float *table);
static inline float pq_adc(const struct pq *pq, const float *table, const uint8_t *code)
{
    float s = 0.0f;
    if (pq->nbits <= 8) {
        /* Four partial sums: one chain of m dependent adds was the scan's bound. */
        float s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        uint32_t j = 0;
        size_t ks = pq->ksub;
        for (; j + 4 <= pq->m; j += 4) {
            s += table[j * ks + code[j]];
            s1 += table[(j + 1) * ks + code[j + 1]];
            s2 += table[(j + 2) * ks + code[j + 2]];
            s3 += table[(j + 3) * ks + code[j + 3]];
        }
        for (; j < pq->m; j++)
            s += table[j * ks + code[j]];
        s += s1 + s2 + s3;
    } else {
        for (uint32_t j = 0; j < pq->m; j++)
            s += table[(size_t)j * pq->ksub + (code[2 * j] | (uint32_t)code[2 * j + 1] << 8)];
    }
    return s;
}

#endif
