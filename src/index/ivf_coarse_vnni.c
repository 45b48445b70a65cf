/*
 * ivf_coarse_vnni.c — an 8-bit candidate pass for the IVF coarse step (float
 * kinds) on CPUs with AVX-512 VNNI: every centroid is scored with integer dot
 * products (vpdpbusd: 64 u8 x s8 products summed into 16 int32 lanes per
 * instruction, 4x the multiply-adds of an fp32 FMA and 4x fewer bytes to read),
 * and ivf_search.c re-scores only the best IVF_CQ_CANDIDATES(nprobe) of them
 * with exact fp32 distances before it picks the nprobe lists.
 *
 * Quantization (derived from the decoded centroids after build and load, never
 * serialised, so the file format is unchanged; kmeans.c codes its centroids the
 * same way in every iteration for large k):
 *  - centroids, per dimension d: mid_d = (lo_d + hi_d) / 2 and scale_d =
 *    (hi_d - lo_d) / 254 over all centroids; code C_ld = round((c_ld - mid_d) /
 *    scale_d) in [-127, 127], so c_ld = mid_d + scale_d * C_ld + e, |e| <= scale_d / 2;
 *  - query: w_d = q_d * scale_d, alpha = (max w - min w) / 255, Q_d =
 *    round((w_d - wmin) / alpha) in [0, 255].
 * Then q.c_l = sum_d q_d mid_d + wmin * csum_l + alpha * sum_d Q_d C_ld (+ error),
 * csum_l = sum_d C_ld.  The first term is the same for every list and is
 * dropped (only the order matters), so the candidate score is
 *   L2 / COSINE: |c_l|^2 - 2 (wmin csum_l + alpha dot_l)
 *   IP:          -(wmin csum_l + alpha dot_l)
 * computed as fma(a2, dot, fma(a1, csum, cn)) (ivf_cq_block_ref does the same
 * in scalar code, bit for bit).  dot_l is exact in int32 for dim <= 32768
 * (|Q C| <= 255 * 127 per term).
 *
 * Layout: centroids in groups of 32 (the last zero-padded); a group holds, for
 * each 4-dimension step g, 128 bytes: the 4 codes of dimensions 4g..4g+3 of
 * each of the 32 centroids.  One vpdpbusd with a query's 4 bytes broadcast then
 * adds 16 centroids' partial dots at once, with no horizontal sums; the micro
 * kernel keeps 8 queries x 32 centroids in 16 accumulators.
 *
 * Compiled with function-level target attributes (as hnsw_sq_vnni.c); the
 * layout is only built when the CPU reports AVX-512 F/BW/VNNI and the dispatch
 * level (kite_simd(), KITE_SIMD=...) is AVX-512, else the fp32 coarse step runs.
 * Threading: read-only after ivf_cq_init; callers pass their own scratch.
 */
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "ivf.h"
#include "simd.h"

#define KITE_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define CQ_GROUP 32 /* centroids per layout group */
#define CQ_QT 8     /* queries per micro-kernel pass */

static bool cpu_has_vnni(void)
{
    __builtin_cpu_init();
    return kite_simd()->level >= KITE_SIMD_AVX512 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
}

void ivf_cq_free(struct ivf_cq *cq)
{
    kite_free_aligned(cq->codes);
    kite_free(cq->cn);
    kite_free(cq->csum);
    kite_free(cq->scale);
    memset(cq, 0, sizeof(*cq));
}

static size_t padded(uint32_t n)
{
    return ((size_t)n + CQ_GROUP - 1) / CQ_GROUP * CQ_GROUP;
}

int ivf_cq_make(struct ivf_cq *cq, const float *c, const float *cnorm, uint32_t n, uint32_t dim,
                bool ip, kite_err *err)
{
    ivf_cq_free(cq);
    if (!c || !cnorm || n == 0 || dim == 0 || dim > 32768 || !cpu_has_vnni())
        return KITE_OK;
    size_t np = padded(n), dim4 = ((size_t)dim + 3) / 4;
    cq->codes = kite_malloc_aligned(np * dim4 * 4);
    cq->cn = kite_calloc(np, sizeof(float));
    cq->csum = kite_calloc(np, sizeof(float));
    cq->scale = kite_malloc((size_t)dim * sizeof(float));
    if (!cq->codes || !cq->cn || !cq->csum || !cq->scale) {
        ivf_cq_free(cq);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for 8-bit centroid codes (%u x %u)",
                            n, dim);
    }
    memset(cq->codes, 0, np * dim4 * 4);
    cq->n = n;
    cq->dim = dim;
    cq->dim4 = (uint32_t)dim4;
    cq->ip = ip;
    for (uint32_t d = 0; d < dim; d++) {
        float lo = c[d], hi = lo;
        for (uint32_t l = 1; l < n; l++) {
            float v = c[(size_t)l * dim + d];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        float mid = 0.5f * lo + 0.5f * hi, scale = (hi - lo) / 254.0f;
        if (!(scale > 0.0f) || !isfinite(scale))
            scale = 1.0f; /* one value in this dimension: every code is 0 */
        cq->scale[d] = scale;
        for (uint32_t l = 0; l < n; l++) {
            long q = lrintf((c[(size_t)l * dim + d] - mid) / scale);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            size_t gi = l / CQ_GROUP, j = l % CQ_GROUP;
            cq->codes[((gi * dim4 + d / 4) * CQ_GROUP + j) * 4 + d % 4] = (int8_t)q;
            cq->csum[l] += (float)q;
        }
    }
    for (uint32_t l = 0; l < n; l++)
        cq->cn[l] = ip ? 0.0f : cnorm[l];
    return KITE_OK;
}

int ivf_cq_init(struct ivf *ix, kite_err *err)
{
    if (ix->kind == IVF_KIND_BIN) {
        ivf_cq_free(&ix->cq);
        return KITE_OK;
    }
    if (!cpu_has_vnni()) {
        ivf_cq_free(&ix->cq);
        return KITE_OK;
    }
    /* The codes come from the decoded centroids (a transient fp32 copy). */
    float *c = ix->hcent ? ivf_cent_decode_all(ix) : ix->centroids;
    if (!c)
        return kite_err_set(err, KITE_ENOMEM, "out of memory decoding %u IVF centroids",
                            ix->nlist);
    int rc = ivf_cq_make(&ix->cq, c, ix->cnorm, ix->nlist, ix->space.dim,
                         ix->space.kind == VSP_IP, err);
    if (c != ix->centroids)
        kite_free(c);
    return rc;
}

size_t ivf_cq_memory_bytes(const struct ivf_cq *cq)
{
    if (!cq->codes)
        return 0;
    return padded(cq->n) * ((size_t)cq->dim4 * 4 + 2 * sizeof(float)) +
           (size_t)cq->dim * sizeof(float);
}

/* Quantize query q (prepared, dim floats) to dim4 * 4 bytes; ab[0] = a1, ab[1] = a2. */
static void quantize_query(const struct ivf_cq *cq, const float *q, uint8_t *qq, float *ab)
{
    uint32_t dim = cq->dim;
    float wmin = INFINITY, wmax = -INFINITY;
    for (uint32_t d = 0; d < dim; d++) {
        float w = q[d] * cq->scale[d];
        wmin = w < wmin ? w : wmin;
        wmax = w > wmax ? w : wmax;
    }
    float alpha = (wmax - wmin) / 255.0f;
    if (!(alpha > 0.0f) || !isfinite(alpha))
        alpha = 1.0f;
    if (!isfinite(wmin))
        wmin = 0.0f;
    float inv = 1.0f / alpha;
    for (uint32_t d = 0; d < dim; d++) {
        float v = (q[d] * cq->scale[d] - wmin) * inv + 0.5f;
        qq[d] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)v : 0;
    }
    memset(qq + dim, 0, (size_t)cq->dim4 * 4 - dim);
    float mul = cq->ip ? -1.0f : -2.0f;
    ab[0] = mul * wmin;
    ab[1] = mul * alpha;
}

/* mq queries (qq, stride qs bytes) against one 32-centroid group p; scores of
 * the group's first cnt centroids to out (query i at out + i * ostride). */
KITE_VNNI static inline __attribute__((always_inline)) void
micro(size_t mq, const uint8_t *qq, size_t qs, const int8_t *p, uint32_t dim4, const float *ab,
      const float *cn, const float *csum, float *out, size_t ostride, __mmask16 m0, __mmask16 m1)
{
    __m512i acc[CQ_QT][2];
#pragma GCC unroll 8
    for (size_t i = 0; i < CQ_QT; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_si512();
    for (uint32_t g = 0; g < dim4; g++) {
        __m512i x0 = _mm512_load_si512((const void *)(p + (size_t)g * 128));
        __m512i x1 = _mm512_load_si512((const void *)(p + (size_t)g * 128 + 64));
#pragma GCC unroll 8
        for (size_t i = 0; i < mq; i++) {
            int32_t w;
            memcpy(&w, qq + i * qs + (size_t)g * 4, 4);
            __m512i b = _mm512_set1_epi32(w);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], b, x0);
            acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], b, x1);
        }
    }
    __m512 cn0 = _mm512_loadu_ps(cn), cn1 = _mm512_loadu_ps(cn + 16);
    __m512 cs0 = _mm512_loadu_ps(csum), cs1 = _mm512_loadu_ps(csum + 16);
#pragma GCC unroll 8
    for (size_t i = 0; i < mq; i++) {
        __m512 a1 = _mm512_set1_ps(ab[2 * i]), a2 = _mm512_set1_ps(ab[2 * i + 1]);
        __m512 s0 = _mm512_fmadd_ps(a2, _mm512_cvtepi32_ps(acc[i][0]),
                                    _mm512_fmadd_ps(a1, cs0, cn0));
        __m512 s1 = _mm512_fmadd_ps(a2, _mm512_cvtepi32_ps(acc[i][1]),
                                    _mm512_fmadd_ps(a1, cs1, cn1));
        _mm512_mask_storeu_ps(out + i * ostride, m0, s0);
        _mm512_mask_storeu_ps(out + i * ostride + 16, m1, s1);
    }
}

KITE_VNNI static void cq_block_vnni(const struct ivf_cq *cq, const uint8_t *qq, size_t nq,
                                    const float *ab, float *out)
{
    size_t nl = cq->n, qs = (size_t)cq->dim4 * 4, gbytes = (size_t)cq->dim4 * 128;
    uint32_t dim4 = cq->dim4;
    for (size_t l0 = 0; l0 < nl; l0 += CQ_GROUP) {
        size_t cnt = nl - l0 < CQ_GROUP ? nl - l0 : CQ_GROUP;
        __mmask16 m0 = (__mmask16)(cnt >= 16 ? 0xffffu : (1u << cnt) - 1u);
        __mmask16 m1 = (__mmask16)(cnt <= 16 ? 0u : cnt >= 32 ? 0xffffu : (1u << (cnt - 16)) - 1u);
        const int8_t *p = cq->codes + (l0 / CQ_GROUP) * gbytes;
        const float *cn = cq->cn + l0, *cs = cq->csum + l0;
        size_t i = 0;
        for (; i + CQ_QT <= nq; i += CQ_QT)
            micro(CQ_QT, qq + i * qs, qs, p, dim4, ab + 2 * i, cn, cs, out + i * nl + l0, nl, m0,
                  m1);
        switch (nq - i) {
#define CQ_TAIL(r)                                                                              \
    case r:                                                                                     \
        micro(r, qq + i * qs, qs, p, dim4, ab + 2 * i, cn, cs, out + i * nl + l0, nl, m0, m1); \
        break;
            CQ_TAIL(7)
            CQ_TAIL(6)
            CQ_TAIL(5)
            CQ_TAIL(4)
            CQ_TAIL(3)
            CQ_TAIL(2)
            CQ_TAIL(1)
#undef CQ_TAIL
        default:
            break;
        }
    }
}

void ivf_cq_block(const struct ivf_cq *cq, const float *qs, size_t nq, uint8_t *qq, float *ab,
                  float *out)
{
    size_t qb = ivf_cq_query_bytes(cq);
    for (size_t i = 0; i < nq; i++)
        quantize_query(cq, qs + i * cq->dim, qq + i * qb, ab + 2 * i);
    cq_block_vnni(cq, qq, nq, ab, out);
}

void ivf_cq_block_ref(const struct ivf_cq *cq, const float *qs, size_t nq, uint8_t *qq, float *ab,
                      float *out)
{
    size_t qb = ivf_cq_query_bytes(cq), dim4 = cq->dim4;
    for (size_t i = 0; i < nq; i++) {
        quantize_query(cq, qs + i * cq->dim, qq + i * qb, ab + 2 * i);
        for (size_t l = 0; l < cq->n; l++) {
            const int8_t *p = cq->codes + (l / CQ_GROUP) * dim4 * 128 + (l % CQ_GROUP) * 4;
            int32_t dot = 0;
            for (size_t g = 0; g < dim4; g++)
                for (size_t t = 0; t < 4; t++)
                    dot += (int32_t)qq[i * qb + g * 4 + t] * (int32_t)p[g * 128 + t];
            out[i * cq->n + l] =
                fmaf(ab[2 * i + 1], (float)dot, fmaf(ab[2 * i], cq->csum[l], cq->cn[l]));
        }
    }
}

/*
 * Offer row[0 .. n) to t in index order, skipping entries that cannot enter
 * it: first the minima of 16 * a interleaved subsets (a = ceil(t->k / 16) <=
 * 4 vector accumulators of vminps) give a bound B, the largest of those minima,
 * with at least t->k entries <= B, so the k best all are <= B; then 16 entries
 * at a time are compared with B (while t fills) or with t's worst, and only
 * those that pass reach the scalar push.  The heap ends with the scores that
 * offering every entry gives (an entry > B would have been evicted); among
 * equal scores at the boundary another index may stay.
 */
__attribute__((target("avx512f"))) void ivf_cq_rank(const float *row, uint32_t n,
                                                    struct vtopk *t)
{
    uint32_t a = (uint32_t)((t->k + 15) / 16), j = 0;
    float bound = INFINITY;
    if (t->n == 0 && t->k > 0 && a <= 4 && n >= 64 * a) {
        __m512 mn[4];
        for (uint32_t i = 0; i < 4; i++)
            mn[i] = _mm512_set1_ps(INFINITY);
        for (uint32_t p = 0; p + 16 * a <= n; p += 16 * a)
            for (uint32_t i = 0; i < a; i++)
                mn[i] = _mm512_min_ps(_mm512_loadu_ps(row + p + 16 * i), mn[i]);
        __m512 mx = mn[0];
        for (uint32_t i = 1; i < a; i++)
            mx = _mm512_max_ps(mx, mn[i]);
        bound = _mm512_reduce_max_ps(mx);
        if (!(bound <= FLT_MAX)) /* NaN rows: no bound */
            bound = INFINITY;
    }
    for (; j + 16 <= n; j += 16) {
        bool full = t->n >= t->k;
        __m512 v = _mm512_loadu_ps(row + j);
        uint32_t m = full ? _mm512_cmp_ps_mask(v, _mm512_set1_ps(vtopk_worst(t)), _CMP_LT_OQ)
                          : _mm512_cmp_ps_mask(v, _mm512_set1_ps(bound), _CMP_LE_OQ);
        while (m) {
            uint32_t i = (uint32_t)__builtin_ctz(m);
            m &= m - 1;
            vtopk_push(t, row[j + i], j + i);
        }
    }
    for (; j < n; j++)
        if (row[j] <= bound)
            vtopk_push(t, row[j], j);
}
