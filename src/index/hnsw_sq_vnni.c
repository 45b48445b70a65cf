/*
 * hnsw_sq_vnni.c — the integer traversal kernel of hnsw_sq.c: the dot product
 * of a signed 8-bit query with unsigned 8-bit codes, 64 bytes per AVX-512 VNNI
 * vpdpbusd (u8 x s8, four products summed into each int32 lane, exact: with
 * |w| <= 127 and c <= 255 a 784-d sum stays far below 2^31).  Replaces the
 * u8 -> float conversion and two FMAs per 16 dimensions of the float kernels.
 *
 * Compiled with a function-level target attribute; hnsw_sq_idot_get returns it
 * only when the CPU reports AVX-512 F/BW/VNNI, else NULL (float kernels).
 * Threading: pure functions.
 */
#include <immintrin.h>

#include "hnsw.h"

#define KITE_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

KITE_VNNI static int32_t idot_vnni(const int8_t *w, const uint8_t *c, size_t dim)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    size_t d = 0;
    for (; d + 128 <= dim; d += 128) {
        s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512((const void *)(c + d)),
                                 _mm512_loadu_si512((const void *)(w + d)));
        s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512((const void *)(c + d + 64)),
                                 _mm512_loadu_si512((const void *)(w + d + 64)));
    }
    for (; d < dim; d += 64) {
        __mmask64 m = dim - d >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (dim - d)) - 1);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_maskz_loadu_epi8(m, c + d),
                                 _mm512_maskz_loadu_epi8(m, w + d));
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

int32_t hnsw_sq_idot_scalar(const int8_t *w, const uint8_t *c, size_t dim)
{
    int32_t s = 0;
    for (size_t d = 0; d < dim; d++)
        s += (int32_t)w[d] * (int32_t)c[d];
    return s;
}

hnsw_sq_idot_fn hnsw_sq_idot_get(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni"))
        return idot_vnni;
    return NULL;
}
