/*
 * hnsw_sq_avx2.c — AVX2/FMA kernels of hnsw_sq.c (8-bit codes against a float
 * query).  Function-level target attribute; called only when kite_simd()
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

const struct hnsw_sq_kernels hnsw_sq_kernels_avx2 = {l2_avx2, dot_avx2};
