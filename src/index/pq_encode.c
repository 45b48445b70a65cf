/*
 * pq_encode.c — product-quantiser encoding: each sub-vector becomes the index
 * of its nearest codebook centroid (L2), stored in one byte (nbits <= 8) or
 * two little-endian bytes (nbits 9..16).
 *
 * Threading: pure function; safe from any number of threads.
 */
#include "pq.h"

void pq_encode(const struct pq *pq, const float *x, uint8_t *code)
{
    for (uint32_t j = 0; j < pq->m; j++) {
        uint32_t c = kmeans_assign_f32(pq->centroids + (size_t)j * pq->ksub * pq->dsub, pq->ksub,
                                       pq->dsub, x + (size_t)j * pq->dsub, NULL);
        if (pq->nbits <= 8) {
            code[j] = (uint8_t)c;
        } else {
            code[2 * j] = (uint8_t)c;
            code[2 * j + 1] = (uint8_t)(c >> 8);
        }
    }
}
