/*
 * pq_train.c — product-quantiser set-up and codebook training: each of the m
 * sub-spaces (dsub = dim / m components) gets its own k-means codebook of
 * ksub = 2^nbits centroids, trained on the same rows (seed + sub-space index,
 * so the codebooks are reproducible).
 *
 * Threading: training uses the pool only through kmeans_f32.
 */
#include <string.h>

#include "alloc.h"
#include "pq.h"

#define PQ_KMEANS_ITERS 10

int pq_init(struct pq *pq, uint32_t dim, uint32_t m, uint32_t nbits, kite_err *err)
{
    memset(pq, 0, sizeof(*pq));
    if (m == 0 || dim % m != 0 || nbits < 1 || nbits > 16)
        return kite_err_set(err, KITE_EINVAL,
                            "PQ needs m dividing dim (%u, m %u) and nbits in [1, 16] (%u)", dim,
                            m, nbits);
    pq->dim = dim;
    pq->m = m;
    pq->nbits = nbits;
    pq->ksub = 1u << nbits;
    pq->dsub = dim / m;
    pq->centroids = kite_calloc((size_t)m * pq->ksub * pq->dsub, sizeof(float));
    if (!pq->centroids)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for PQ codebooks (m %u, nbits %u)",
                            m, nbits);
    return KITE_OK;
}

void pq_free(struct pq *pq)
{
    if (!pq)
        return;
    kite_free(pq->centroids);
    kite_free(pq->ct);
    pq->centroids = pq->ct = NULL;
}

int pq_ready(struct pq *pq, kite_err *err)
{
    size_t per = (size_t)pq->ksub * pq->dsub;
    kite_free(pq->ct);
    pq->ct = kite_malloc((size_t)pq->m * per * sizeof(float));
    if (!pq->ct)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for PQ codebooks (m %u, nbits %u)",
                            pq->m, pq->nbits);
    for (uint32_t j = 0; j < pq->m; j++)
        for (uint32_t c = 0; c < pq->ksub; c++)
            for (uint32_t t = 0; t < pq->dsub; t++)
                pq->ct[(size_t)j * per + (size_t)t * pq->ksub + c] =
                    pq->centroids[(size_t)j * per + (size_t)c * pq->dsub + t];
    return KITE_OK;
}

size_t pq_memory_bytes(const struct pq *pq)
{
    size_t b = (size_t)pq->m * pq->ksub * pq->dsub * sizeof(float);
    return pq->ct ? 2 * b : b;
}

int pq_train(struct pq *pq, const float *x, size_t n, uint64_t seed, struct kite_pool *pool,
             kite_err *err)
{
    int rc = KITE_OK;
    float *sub = kite_malloc((n ? n : 1) * pq->dsub * sizeof(float));
    if (!sub)
        return kite_err_set(err, KITE_ENOMEM, "out of memory training PQ");
    for (uint32_t j = 0; j < pq->m && rc == KITE_OK; j++) {
        for (size_t i = 0; i < n; i++)
            memcpy(sub + i * pq->dsub, x + i * pq->dim + (size_t)j * pq->dsub,
                   pq->dsub * sizeof(float));
        rc = kmeans_f32(sub, n, pq->dsub, pq->ksub, PQ_KMEANS_ITERS, seed + j, pool,
                        pq->centroids + (size_t)j * pq->ksub * pq->dsub, err);
    }
    kite_free(sub);
    return rc ? rc : pq_ready(pq, err);
}
