/*
 * hnsw_sq_avx512.c — AVX-512 kernels of hnsw_sq.c (8-bit codes, or the split
 * 16-bit planes, against a float query).  Compiled with a function-level
 * target attribute and only called when kite_simd() reports AVX-512
 * (F/BW/VL), so the build needs no -march.
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

/* 16 floats from 16 high halves (low halves 0: the truncated bfloat16 value). */
KITE_AVX512 static inline __m512 hi16(const uint16_t *hi, __mmask16 m)
{
    __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, hi));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}

/* 16 exact floats from their high and low halves. */
KITE_AVX512 static inline __m512 x16(const uint16_t *hi, const uint16_t *lo, __mmask16 m)
{
    __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, hi));
    __m512i l = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, lo));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_slli_epi32(h, 16), l));
}

static inline __mmask16 tail_mask(size_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

KITE_AVX512 static float hl2_avx512(const float *q, const uint16_t *hi, size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(q + d), hi16(hi + d, 0xFFFF));
        __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(q + d + 16), hi16(hi + d + 16, 0xFFFF));
        s0 = _mm512_fmadd_ps(t0, t0, s0);
        s1 = _mm512_fmadd_ps(t1, t1, s1);
    }
    for (; d < dim; d += 16) {
        __mmask16 m = tail_mask(dim - d);
        __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + d), hi16(hi + d, m));
        s0 = _mm512_fmadd_ps(t, t, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

KITE_AVX512 static float hdot_avx512(const float *q, const uint16_t *hi, size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), hi16(hi + d, 0xFFFF), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), hi16(hi + d + 16, 0xFFFF), s1);
    }
    for (; d < dim; d += 16) {
        __mmask16 m = tail_mask(dim - d);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), hi16(hi + d, m), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

KITE_AVX512 static float xl2_avx512(const float *q, const uint16_t *hi, const uint16_t *lo,
                                    size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(q + d), x16(hi + d, lo + d, 0xFFFF));
        __m512 t1 =
            _mm512_sub_ps(_mm512_loadu_ps(q + d + 16), x16(hi + d + 16, lo + d + 16, 0xFFFF));
        s0 = _mm512_fmadd_ps(t0, t0, s0);
        s1 = _mm512_fmadd_ps(t1, t1, s1);
    }
    for (; d < dim; d += 16) {
        __mmask16 m = tail_mask(dim - d);
        __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q + d), x16(hi + d, lo + d, m));
        s0 = _mm512_fmadd_ps(t, t, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

KITE_AVX512 static float xdot_avx512(const float *q, const uint16_t *hi, const uint16_t *lo,
                                     size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 32 <= dim; d += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), x16(hi + d, lo + d, 0xFFFF), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d + 16), x16(hi + d + 16, lo + d + 16, 0xFFFF),
                             s1);
    }
    for (; d < dim; d += 16) {
        __mmask16 m = tail_mask(dim - d);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), x16(hi + d, lo + d, m), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

const struct hnsw_sq_kernels hnsw_sq_kernels_avx512 = {
    l2_avx512, dot_avx512, hl2_avx512, hdot_avx512, xl2_avx512, xdot_avx512,
};
