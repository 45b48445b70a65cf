/*
 * hnsw_sq_avx512.c — AVX-512 kernels of hnsw_sq.c (8-bit codes against a float
 * query).  Compiled with a function-level target attribute and only called
 * when kite_simd() reports AVX-512 (F/BW/VL), so the build needs no -march.
 */
#include <immintrin.h>

#include "hnsw.h"

#define KITE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

KITE_AVX512 static float l2_avx512(const float *a, const uint8_t *c, const float *step,
                                   size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c + d))));
        __m512 c1 =
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c + d + 16))));
        __m512 t0 = _mm512_fnmadd_ps(c0, _mm512_loadu_ps(step + d), _mm512_loadu_ps(a + d));
        __m512 t1 =
            _mm512_fnmadd_ps(c1, _mm512_loadu_ps(step + d + 16), _mm512_loadu_ps(a + d + 16));
        s0 = _mm512_fmadd_ps(t0, t0, s0);
        s1 = _mm512_fmadd_ps(t1, t1, s1);
    }
    for (; d < dim; d += 16) {
        __mmask16 m = dim - d >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (dim - d)) - 1);
        __m512 cf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + d)));
        __m512 t = _mm512_fnmadd_ps(cf, _mm512_maskz_loadu_ps(m, step + d),
                                    _mm512_maskz_loadu_ps(m, a + d));
        s0 = _mm512_fmadd_ps(t, t, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

KITE_AVX512 static float dot_avx512(const float *w, const uint8_t *c, size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c + d))));
        __m512 c1 =
            _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(c + d + 16))));
        s0 = _mm512_fmadd_ps(c0, _mm512_loadu_ps(w + d), s0);
        s1 = _mm512_fmadd_ps(c1, _mm512_loadu_ps(w + d + 16), s1);
    }
    for (; d < dim; d += 16) {
        __mmask16 m = dim - d >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (dim - d)) - 1);
        __m512 cf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c + d)));
        s0 = _mm512_fmadd_ps(cf, _mm512_maskz_loadu_ps(m, w + d), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

const struct hnsw_sq_kernels hnsw_sq_kernels_avx512 = {l2_avx512, dot_avx512};
