/*
 * distance_avx2.c — AVX2 + FMA + F16C + POPCNT kernels (compiled with
 * -mavx2 -mfma -mf16c -mpopcnt by cmake/Simd.cmake; called only when
 * dispatch.c found those features).
 *
 * Design:
 *  1. Single-pair kernels (l2_f32, ip_f32) keep four 8-lane accumulators so
 *     four FMAs are in flight (FMA latency 4, two ports); the last d % 8
 *     elements are read with a masked load, never past the end of the input.
 *  2. The blocked kernels (batch = one query, block = many queries) compute a
 *     tile of 4 queries × 2 base rows per pass over the dimensions: per
 *     8-float step 2 row loads + 4 query loads feed 8 FMAs (11 of the 16 ymm
 *     registers; a 4 × 3 tile would need all 16 and spills).  The tile loop
 *     runs base tiles outside and query tiles inside, so the two base rows
 *     stay in L1 while every query of the block passes over them — the
 *     register/cache blocking that lets one pass over the base serve a whole
 *     query block (flat.c sizes the blocks).
 *  3. Bit-identical results wherever a pair sits: every (query, row) pair of
 *     a blocked kernel is one accumulator fed in dimension order, closed by
 *     the same masked step and reduced by the same hsum4 lane order, whether
 *     it belongs to a full 4 × 2 tile or to a remainder tile.  flat.c relies
 *     on this to break ties between equal vectors by row number.
 *  4. ip_f32_block with 6 or more queries uses a packed GEMM micro-kernel
 *     instead (see ip_gemm): no horizontal sums, so small dimensions keep up.
 *  5. Binary kernels use 64-bit POPCNT with four independent counters; for
 *     the vector lengths Milvus allows (≤ 32768 bits) this is as fast as a
 *     PSHUFB nibble table and simpler.
 *
 * Threading: pure functions; no state.
 */
#include <immintrin.h>
#include <string.h>

#include "simd_internal.h"

#define KITE_INLINE static inline __attribute__((always_inline))

/* masks[8 - r .. 15 - r] selects the first r lanes */
static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

KITE_INLINE __m256i tail_mask(size_t r)
{
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - r));
}

/* [sum(a), sum(b), sum(c), sum(d)] with one fixed lane order. */
KITE_INLINE __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 t0 = _mm256_hadd_ps(a, b);
    __m256 t1 = _mm256_hadd_ps(c, d);
    __m256 t2 = _mm256_hadd_ps(t0, t1);
    return _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
}

KITE_INLINE float hsum1(__m256 a)
{
    __m256 z = _mm256_setzero_ps();
    return _mm_cvtss_f32(hsum4(a, z, z, z));
}

/* ------------------------------------------------------- single-pair kernels */

static float l2_f32(const float *a, const float *b, size_t d)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        __m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 t2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 t3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(t0, t0, s0);
        s1 = _mm256_fmadd_ps(t1, t1, s1);
        s2 = _mm256_fmadd_ps(t2, t2, s2);
        s3 = _mm256_fmadd_ps(t3, t3, s3);
    }
    for (; i + 8 <= d; i += 8) {
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(t, t, s0);
    }
    if (i < d) {
        __m256i m = tail_mask(d - i);
        __m256 t = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_fmadd_ps(t, t, s1);
    }
    return hsum1(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float ip_f32(const float *a, const float *b, size_t d)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= d; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < d) {
        __m256i m = tail_mask(d - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum1(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* ------------------------------------------------------------ blocked kernels */

/*
 * One tile: NQ (1..4) queries at qs (stride d) × NX (1..2) rows at xs (stride
 * d); out[i * ostride + j].  NQ, NX and L2 are compile-time constants at every
 * call site, so the loops unroll and the accumulators live in registers.
 */
KITE_INLINE void tile(const float *qs, size_t nq_t, const float *xs, size_t nx_t, size_t d,
                      float *out, size_t ostride, int l2)
{
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; i++) {
#pragma GCC unroll 2
        for (size_t j = 0; j < 2; j++)
            acc[i][j] = _mm256_setzero_ps();
    }
    size_t k = 0;
    for (; k + 8 <= d; k += 8) {
        __m256 xv[2];
#pragma GCC unroll 2
        for (size_t j = 0; j < nx_t; j++)
            xv[j] = _mm256_loadu_ps(xs + j * d + k);
#pragma GCC unroll 4
        for (size_t i = 0; i < nq_t; i++) {
            __m256 qv = _mm256_loadu_ps(qs + i * d + k);
#pragma GCC unroll 2
            for (size_t j = 0; j < nx_t; j++) {
                if (l2) {
                    __m256 t = _mm256_sub_ps(qv, xv[j]);
                    acc[i][j] = _mm256_fmadd_ps(t, t, acc[i][j]);
                } else {
                    acc[i][j] = _mm256_fmadd_ps(qv, xv[j], acc[i][j]);
                }
            }
        }
    }
    if (k < d) {
        __m256i m = tail_mask(d - k);
        __m256 xv[2];
#pragma GCC unroll 2
        for (size_t j = 0; j < nx_t; j++)
            xv[j] = _mm256_maskload_ps(xs + j * d + k, m);
#pragma GCC unroll 4
        for (size_t i = 0; i < nq_t; i++) {
            __m256 qv = _mm256_maskload_ps(qs + i * d + k, m);
#pragma GCC unroll 2
            for (size_t j = 0; j < nx_t; j++) {
                if (l2) {
                    __m256 t = _mm256_sub_ps(qv, xv[j]);
                    acc[i][j] = _mm256_fmadd_ps(t, t, acc[i][j]);
                } else {
                    acc[i][j] = _mm256_fmadd_ps(qv, xv[j], acc[i][j]);
                }
            }
        }
    }
#pragma GCC unroll 2
    for (size_t j = 0; j < nx_t; j++) {
        float r[4];
        _mm_storeu_ps(r, hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]));
#pragma GCC unroll 4
        for (size_t i = 0; i < nq_t; i++)
            out[i * ostride + j] = r[i];
    }
}

KITE_INLINE void block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                       float *out, int l2)
{
    size_t r = 0;
    for (; r + 2 <= n; r += 2) {
        const float *xs = base + r * d;
        size_t qi = 0;
        for (; qi + 4 <= nq; qi += 4)
            tile(qs + qi * d, 4, xs, 2, d, out + qi * n + r, n, l2);
        for (; qi < nq; qi++)
            tile(qs + qi * d, 1, xs, 2, d, out + qi * n + r, n, l2);
    }
    if (r < n) {
        const float *xs = base + r * d;
        size_t qi = 0;
        for (; qi + 4 <= nq; qi += 4)
            tile(qs + qi * d, 4, xs, 1, d, out + qi * n + r, n, l2);
        for (; qi < nq; qi++)
            tile(qs + qi * d, 1, xs, 1, d, out + qi * n + r, n, l2);
    }
}

static void l2_f32_block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out)
{
    block(qs, nq, base, n, d, out, 1);
}

/*
 * Packed inner-product block (GEMM form) for query blocks of GEMM_MIN_NQ or
 * more; same scheme as distance_avx512.c (see there): a 16-row × GEMM_KC
 * panel is transposed into an 8 KiB stack buffer and a 6 × 16 micro-kernel
 * keeps 12 ymm accumulators (+ 2 panel vectors + 1 broadcast = 15 of 16
 * registers).  Per pair: sequential FMAs within each GEMM_KC chunk, chunk
 * sums added in order; identical for every position.
 */
#define GEMM_KC 128
#define GEMM_NR 16
#define GEMM_MR 6
#define GEMM_MIN_NQ 6

KITE_INLINE void pack_panel(const float *base, size_t d, size_t nr, size_t k0, size_t kc,
                            float *restrict p)
{
    for (size_t j = 0; j < nr; j++) {
        const float *x = base + j * d + k0;
        for (size_t k = 0; k < kc; k++)
            p[k * GEMM_NR + j] = x[k];
    }
    for (size_t j = nr; j < GEMM_NR; j++)
        for (size_t k = 0; k < kc; k++)
            p[k * GEMM_NR + j] = 0.0f;
}

KITE_INLINE void micro(size_t mq, const float *q, size_t d, const float *p, size_t kc,
                       float *out, size_t n, size_t nr, int add)
{
    __m256 acc[GEMM_MR][2];
#pragma GCC unroll 6
    for (size_t i = 0; i < GEMM_MR; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t k = 0; k < kc; k++) {
        __m256 x0 = _mm256_load_ps(p + k * GEMM_NR);
        __m256 x1 = _mm256_load_ps(p + k * GEMM_NR + 8);
#pragma GCC unroll 6
        for (size_t i = 0; i < mq; i++) {
            __m256 b = _mm256_broadcast_ss(q + i * d + k);
            acc[i][0] = _mm256_fmadd_ps(b, x0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(b, x1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (size_t i = 0; i < mq; i++) {
        float *o = out + i * n;
        if (nr == GEMM_NR) {
            if (add) {
                acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(o), acc[i][0]);
                acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(o + 8), acc[i][1]);
            }
            _mm256_storeu_ps(o, acc[i][0]);
            _mm256_storeu_ps(o + 8, acc[i][1]);
        } else {
            float t[GEMM_NR];
            _mm256_storeu_ps(t, acc[i][0]);
            _mm256_storeu_ps(t + 8, acc[i][1]);
            for (size_t j = 0; j < nr; j++)
                o[j] = add ? o[j] + t[j] : t[j];
        }
    }
}

static void ip_gemm(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                    float *out)
{
    float panel[GEMM_KC * GEMM_NR] __attribute__((aligned(32)));
    for (size_t r0 = 0; r0 < n; r0 += GEMM_NR) {
        size_t nr = n - r0 < GEMM_NR ? n - r0 : GEMM_NR;
        for (size_t k0 = 0; k0 < d; k0 += GEMM_KC) {
            size_t kc = d - k0 < GEMM_KC ? d - k0 : GEMM_KC;
            int add = k0 > 0;
            pack_panel(base + r0 * d, d, nr, k0, kc, panel);
            const float *q = qs + k0;
            float *o = out + r0;
            size_t qi = 0;
            for (; qi + GEMM_MR <= nq; qi += GEMM_MR)
                micro(GEMM_MR, q + qi * d, d, panel, kc, o + qi * n, n, nr, add);
            switch (nq - qi) {
            case 5:
                micro(5, q + qi * d, d, panel, kc, o + qi * n, n, nr, add);
                break;
            case 4:
                micro(4, q + qi * d, d, panel, kc, o + qi * n, n, nr, add);
                break;
            case 3:
                micro(3, q + qi * d, d, panel, kc, o + qi * n, n, nr, add);
                break;
            case 2:
                micro(2, q + qi * d, d, panel, kc, o + qi * n, n, nr, add);
                break;
            case 1:
                micro(1, q + qi * d, d, panel, kc, o + qi * n, n, nr, add);
                break;
            default:
                break;
            }
        }
    }
}

static void ip_f32_block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out)
{
    if (nq >= GEMM_MIN_NQ)
        ip_gemm(qs, nq, base, n, d, out);
    else
        block(qs, nq, base, n, d, out, 0);
}

static void l2_f32_batch(const float *q, const float *base, size_t n, size_t d, float *out)
{
    block(q, 1, base, n, d, out, 1);
}

static void ip_f32_batch(const float *q, const float *base, size_t n, size_t d, float *out)
{
    block(q, 1, base, n, d, out, 0);
}

/* ------------------------------------------------------------ binary kernels */

KITE_INLINE uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

uint32_t simd_avx2_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
    uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    size_t i = 0;
    for (; i + 32 <= nbytes; i += 32) {
        c0 += (uint64_t)_mm_popcnt_u64(load64(a + i) ^ load64(b + i));
        c1 += (uint64_t)_mm_popcnt_u64(load64(a + i + 8) ^ load64(b + i + 8));
        c2 += (uint64_t)_mm_popcnt_u64(load64(a + i + 16) ^ load64(b + i + 16));
        c3 += (uint64_t)_mm_popcnt_u64(load64(a + i + 24) ^ load64(b + i + 24));
    }
    for (; i + 8 <= nbytes; i += 8)
        c0 += (uint64_t)_mm_popcnt_u64(load64(a + i) ^ load64(b + i));
    for (; i < nbytes; i++)
        c1 += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] ^ b[i]));
    return (uint32_t)(c0 + c1 + c2 + c3);
}

void simd_avx2_and_or_popcnt(const uint8_t *a, const uint8_t *b, size_t nbytes, uint32_t *n_and,
                             uint32_t *n_or)
{
    uint64_t a0 = 0, a1 = 0, o0 = 0, o1 = 0;
    size_t i = 0;
    for (; i + 16 <= nbytes; i += 16) {
        uint64_t x0 = load64(a + i), y0 = load64(b + i);
        uint64_t x1 = load64(a + i + 8), y1 = load64(b + i + 8);
        a0 += (uint64_t)_mm_popcnt_u64(x0 & y0);
        o0 += (uint64_t)_mm_popcnt_u64(x0 | y0);
        a1 += (uint64_t)_mm_popcnt_u64(x1 & y1);
        o1 += (uint64_t)_mm_popcnt_u64(x1 | y1);
    }
    for (; i + 8 <= nbytes; i += 8) {
        uint64_t x = load64(a + i), y = load64(b + i);
        a0 += (uint64_t)_mm_popcnt_u64(x & y);
        o0 += (uint64_t)_mm_popcnt_u64(x | y);
    }
    for (; i < nbytes; i++) {
        a1 += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] & b[i]));
        o1 += (uint64_t)_mm_popcnt_u32((unsigned)(a[i] | b[i]));
    }
    *n_and = (uint32_t)(a0 + a1);
    *n_or = (uint32_t)(o0 + o1);
}

/* ------------------------------------------------------ half-precision codecs */

static void f16_to_f32(const uint16_t *in, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < n; i++)
        out[i] = simd_scalar_f16_to_f32_one(in[i]);
}

static void f32_to_f16(const float *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(out + i), h);
    }
    for (; i < n; i++)
        out[i] = simd_scalar_f32_to_f16_one(in[i]);
}

static void bf16_to_f32(const uint16_t *in, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(in + i)));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; i++)
        out[i] = simd_scalar_bf16_to_f32_one(in[i]);
}

/* Round-to-nearest-even of 8 floats to bf16 in the low 16 bits of each lane (as scalar). */
KITE_INLINE __m256i bf16_round8(__m256i x)
{
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
    const __m256i inf = _mm256_set1_epi32(0x7f800000);
    __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i rounded = _mm256_add_epi32(x, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    rounded = _mm256_srli_epi32(rounded, 16);
    __m256i nan = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(rounded, nan, is_nan);
}

static void f32_to_bf16(const float *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i lo = bf16_round8(_mm256_loadu_si256((const __m256i *)(in + i)));
        __m256i hi = bf16_round8(_mm256_loadu_si256((const __m256i *)(in + i + 8)));
        /* packus works per 128-bit lane: fix the quadword order afterwards */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
        _mm256_storeu_si256((__m256i *)(out + i), p);
    }
    for (; i < n; i++)
        out[i] = simd_scalar_f32_to_bf16_one(in[i]);
}

/* ------------------------------------------------------------------ select */

/* 8 lanes at a time: a compare mask, then one index per set bit. */
KITE_INLINE size_t select8(const float *v, size_t n, float thr, uint32_t *idx, int ge)
{
    __m256 t = _mm256_set1_ps(thr);
    size_t m = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i);
        unsigned bits = (unsigned)_mm256_movemask_ps(
            ge ? _mm256_cmp_ps(x, t, _CMP_GE_OQ) : _mm256_cmp_ps(x, t, _CMP_LE_OQ));
        while (bits) {
            idx[m++] = (uint32_t)(i + (size_t)__builtin_ctz(bits));
            bits &= bits - 1;
        }
    }
    for (; i < n; i++) {
        idx[m] = (uint32_t)i;
        m += ge ? v[i] >= thr : v[i] <= thr;
    }
    return m;
}

static size_t select_le(const float *v, size_t n, float thr, uint32_t *idx)
{
    return select8(v, n, thr, idx, 0);
}

static size_t select_ge(const float *v, size_t n, float thr, uint32_t *idx)
{
    return select8(v, n, thr, idx, 1);
}

const struct kite_simd_ops simd_avx2_ops = {
    .level = KITE_SIMD_AVX2,
    .l2_f32 = l2_f32,
    .ip_f32 = ip_f32,
    .l2_f32_batch = l2_f32_batch,
    .ip_f32_batch = ip_f32_batch,
    .l2_f32_block = l2_f32_block,
    .ip_f32_block = ip_f32_block,
    .hamming = simd_avx2_hamming,
    .and_or_popcnt = simd_avx2_and_or_popcnt,
    .f16_to_f32 = f16_to_f32,
    .f32_to_f16 = f32_to_f16,
    .bf16_to_f32 = bf16_to_f32,
    .f32_to_bf16 = f32_to_bf16,
    .select_le = select_le,
    .select_ge = select_ge,
};
