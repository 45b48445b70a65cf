/*
 * hnsw_sq_avx2.c — AVX2/FMA kernels of hnsw_sq.c (8-bit codes, or the split
 * 16-bit planes, against a float query).  Function-level target attribute; called only when kite_simd()
 * reports AVX2.  The tail (dim % 8) is finished in scalar code.
 */
#include <immintrin.h>
#include <string.h>

#include "hnsw.h"

#define KITE_AVX2 __attribute__((target("avx2,fma")))

KITE_AVX2 static float hsum256(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

KITE_AVX2 static __m256 load8(const uint8_t *c)
{
    long long v;
    memcpy(&v, c, 8);
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(v)));
}

KITE_AVX2 static float l2_avx2(const float *a, const uint8_t *c, const float *step, size_t dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 16 <= dim; d += 16) {
        __m256 t0 = _mm256_fnmadd_ps(load8(c + d), _mm256_loadu_ps(step + d), _mm256_loadu_ps(a + d));
        __m256 t1 = _mm256_fnmadd_ps(load8(c + d + 8), _mm256_loadu_ps(step + d + 8),
                                     _mm256_loadu_ps(a + d + 8));
        s0 = _mm256_fmadd_ps(t0, t0, s0);
        s1 = _mm256_fmadd_ps(t1, t1, s1);
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; d < dim; d++) {
        float t = a[d] - (float)c[d] * step[d];
        s += t * t;
    }
    return s;
}

KITE_AVX2 static float dot_avx2(const float *w, const uint8_t *c, size_t dim)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 16 <= dim; d += 16) {
        s0 = _mm256_fmadd_ps(load8(c + d), _mm256_loadu_ps(w + d), s0);
        s1 = _mm256_fmadd_ps(load8(c + d + 8), _mm256_loadu_ps(w + d + 8), s1);
    }
    float s = hsum256(_mm256_add_ps(s0, s1));
    for (; d < dim; d++)
        s += w[d] * (float)c[d];
    return s;
}

/* Split planes: 8 floats from 8 high halves (hl: exact with the low halves). */
KITE_AVX2 static __m256 hi8(const uint16_t *hi)
{
    __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)hi));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
}

KITE_AVX2 static __m256 x8(const uint16_t *hi, const uint16_t *lo)
{
    __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)hi));
    __m256i l = _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)lo));
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_slli_epi32(h, 16), l));
}

static float bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

KITE_AVX2 static float hl2_avx2(const float *q, const uint16_t *hi, size_t dim)
{
    __m256 s0 = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 8 <= dim; d += 8) {
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(q + d), hi8(hi + d));
        s0 = _mm256_fmadd_ps(t, t, s0);
    }
    float s = hsum256(s0);
    for (; d < dim; d++) {
        float t = q[d] - bits((uint32_t)hi[d] << 16);
        s += t * t;
    }
    return s;
}

KITE_AVX2 static float hdot_avx2(const float *q, const uint16_t *hi, size_t dim)
{
    __m256 s0 = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 8 <= dim; d += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), hi8(hi + d), s0);
    float s = hsum256(s0);
    for (; d < dim; d++)
        s += q[d] * bits((uint32_t)hi[d] << 16);
    return s;
}

KITE_AVX2 static float xl2_avx2(const float *q, const uint16_t *hi, const uint16_t *lo,
                                size_t dim)
{
    __m256 s0 = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 8 <= dim; d += 8) {
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(q + d), x8(hi + d, lo + d));
        s0 = _mm256_fmadd_ps(t, t, s0);
    }
    float s = hsum256(s0);
    for (; d < dim; d++) {
        float t = q[d] - bits((uint32_t)hi[d] << 16 | lo[d]);
        s += t * t;
    }
    return s;
}

KITE_AVX2 static float xdot_avx2(const float *q, const uint16_t *hi, const uint16_t *lo,
                                 size_t dim)
{
    __m256 s0 = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 8 <= dim; d += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), x8(hi + d, lo + d), s0);
    float s = hsum256(s0);
    for (; d < dim; d++)
        s += q[d] * bits((uint32_t)hi[d] << 16 | lo[d]);
    return s;
}

const struct hnsw_sq_kernels hnsw_sq_kernels_avx2 = {l2_avx2,  dot_avx2,  hl2_avx2,
                                                     hdot_avx2, xl2_avx2, xdot_avx2};
