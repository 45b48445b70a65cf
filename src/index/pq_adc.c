/*
 * pq_adc.c — asymmetric distance computation (ADC) tables: for a query q,
 * table[j * ksub + c] holds the contribution of sub-space j if the database
 * sub-vector is centroid c, so a code's distance is m table lookups
 * (pq_adc in pq.h).  L2 tables hold squared sub-distances; IP tables hold the
 * NEGATED sub-products, so that smaller is better for both (vindex_int.h rule 1).
 *
 * Threading: pure functions; the caller owns the table (m * ksub floats).
 */
#include "pq.h"
#include "simd.h"

void pq_table_l2(const struct pq *pq, const float *q, float *table)
{
    const struct kite_simd_ops *ops = kite_simd();
    for (uint32_t j = 0; j < pq->m; j++)
        ops->l2_f32_batch(q + (size_t)j * pq->dsub, pq->centroids + (size_t)j * pq->ksub * pq->dsub,
                          pq->ksub, pq->dsub, table + (size_t)j * pq->ksub);
}

void pq_table_ip(const struct pq *pq, const float *q, float *table)
{
    const struct kite_simd_ops *ops = kite_simd();
    if (pq->dsub <= 4) {
        /* Short sub-vectors (SCANN: 2): a kernel call per sub-space costs more
         * than its work; plain loops over the codebook instead. */
        uint32_t ds = pq->dsub;
        size_t tn = (size_t)pq->m * pq->ksub;
        for (size_t i = 0; i < tn; i++) {
            const float *c = pq->centroids + i * ds, *qj = q + (i / pq->ksub) * ds;
            float acc = 0.0f;
            for (uint32_t t = 0; t < ds; t++)
                acc += qj[t] * c[t];
            table[i] = -acc;
        }
        return;
    }
    for (uint32_t j = 0; j < pq->m; j++) {
        float *t = table + (size_t)j * pq->ksub;
        ops->ip_f32_batch(q + (size_t)j * pq->dsub, pq->centroids + (size_t)j * pq->ksub * pq->dsub,
                          pq->ksub, pq->dsub, t);
        for (uint32_t c = 0; c < pq->ksub; c++)
            t[c] = -t[c];
    }
}
