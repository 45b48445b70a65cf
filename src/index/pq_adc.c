/*
 * pq_adc.c — asymmetric distance computation (ADC) tables: for a query q,
 * table[j * ksub + c] holds the contribution of sub-space j if the database
 * sub-vector is centroid c, so a code's distance is m table lookups
 * (pq_adc in pq.h).  L2 tables hold squared sub-distances; IP tables hold the
 * NEGATED sub-products, so that smaller is better for both (vindex_int.h rule 1).
 *
 * Threading: pure functions; the caller owns the table (m * ksub floats).
 */
#include <stdbool.h>

#include "pq.h"
#include "simd.h"

/*
 * Short sub-vectors (IVF_PQ's usual 2-8 dimensions, SCANN's 2): one kernel call
 * per sub-space costs more than its work, so the table is built from the
 * transposed codebooks (pq->ct), vectorising over the centroids: for each
 * sub-space and dimension t, every centroid's term in one pass over a
 * contiguous column.  The compiler vectorises the inner loops.
 */
#define PQ_SHORT_DSUB 16

/* Bodies inlined into an AVX-512 and a generic copy (function-level targets). */
static inline __attribute__((always_inline)) void table_ct_body(const struct pq *pq,
                                                                const float *q, float *table,
                                                                bool ip)
{
    uint32_t ks = pq->ksub, ds = pq->dsub;
    for (uint32_t j = 0; j < pq->m; j++) {
        float *tb = table + (size_t)j * ks;
        const float *col = pq->ct + (size_t)j * ds * ks;
        for (uint32_t c = 0; c < ks; c++)
            tb[c] = 0.0f;
        for (uint32_t t = 0; t < ds; t++, col += ks) {
            float r = q[(size_t)j * ds + t];
            if (ip) {
                for (uint32_t c = 0; c < ks; c++)
                    tb[c] -= r * col[c];
            } else {
                for (uint32_t c = 0; c < ks; c++) {
                    float d = r - col[c];
                    tb[c] += d * d;
                }
            }
        }
    }
}

__attribute__((target("avx512f,fma"))) static void table_ct_avx512(const struct pq *pq,
                                                                    const float *q, float *table,
                                                                    bool ip)
{
    table_ct_body(pq, q, table, ip);
}

static void table_ct_generic(const struct pq *pq, const float *q, float *table, bool ip)
{
    table_ct_body(pq, q, table, ip);
}

static void table_ct(const struct pq *pq, const float *q, float *table, bool ip)
{
    if (kite_simd()->level >= KITE_SIMD_AVX512)
        table_ct_avx512(pq, q, table, ip);
    else
        table_ct_generic(pq, q, table, ip);
}

void pq_table_l2(const struct pq *pq, const float *q, float *table)
{
    if (pq->ct && pq->dsub <= PQ_SHORT_DSUB) {
        table_ct(pq, q, table, false);
        return;
    }
    const struct kite_simd_ops *ops = kite_simd();
    for (uint32_t j = 0; j < pq->m; j++)
        ops->l2_f32_batch(q + (size_t)j * pq->dsub, pq->centroids + (size_t)j * pq->ksub * pq->dsub,
                          pq->ksub, pq->dsub, table + (size_t)j * pq->ksub);
}

void pq_table_ip(const struct pq *pq, const float *q, float *table)
{
    const struct kite_simd_ops *ops = kite_simd();
    if (pq->ct && pq->dsub <= PQ_SHORT_DSUB) {
        table_ct(pq, q, table, true);
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
