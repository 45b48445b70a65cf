/*
 * hnsw_sq_bf16.c — the split walk's IP / COSINE kernel on CPUs with
 * AVX512_BF16: the query is rounded to bfloat16 once (hnsw_sq_prep) and each
 * vdpbf16ps multiplies 32 query halves by 32 high-plane halves, accumulating in
 * fp32 — no widening of the row, a third of the instructions of the generic
 * hdot kernel.  The walk only compares candidates; the ef results are re-scored
 * exactly from both planes, so the query's rounding (2^-9 relative per
 * component) never reaches a returned score.  L2 uses the same kernel through
 * |q - x|^2 = |x|^2 - 2 q.x + |q|^2: hnsw_sq.c keeps |x_hi|^2 per row (a float,
 * paid for by the graph's per-block upper offsets) and the walk drops |q|^2.
 * Function-level target attribute; hnsw_bf_dot_get returns NULL where the CPU
 * (or KITE_SIMD) does not allow it.
 */
#include <immintrin.h>
#include <string.h>

#include "hnsw.h"
#include "simd.h"

#define KITE_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

KITE_BF16 static float bf_dot_avx512(const uint16_t *qb, const uint16_t *hi, size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t d = 0;
    for (; d + 64 <= dim; d += 64) {
        s0 = _mm512_dpbf16_ps(s0, (__m512bh)_mm512_loadu_si512(qb + d),
                              (__m512bh)_mm512_loadu_si512(hi + d));
        s1 = _mm512_dpbf16_ps(s1, (__m512bh)_mm512_loadu_si512(qb + d + 32),
                              (__m512bh)_mm512_loadu_si512(hi + d + 32));
    }
    for (; d < dim; d += 32) {
        __mmask32 m = dim - d >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (dim - d)) - 1);
        s0 = _mm512_dpbf16_ps(s0, (__m512bh)_mm512_maskz_loadu_epi16(m, qb + d),
                              (__m512bh)_mm512_maskz_loadu_epi16(m, hi + d));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

hnsw_bf_dot_fn hnsw_bf_dot_get(void)
{
    __builtin_cpu_init();
    if (kite_simd()->level >= KITE_SIMD_AVX512 && __builtin_cpu_supports("avx512bf16"))
        return bf_dot_avx512;
    return NULL;
}

uint16_t hnsw_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7F800000u) == 0x7F800000u) /* inf / NaN: the walk treats them as 0 */
        return 0;
    u += 0x7FFFu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}
