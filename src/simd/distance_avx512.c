/*
 * distance_avx512.c — AVX-512 F/BW/DQ/VL kernels (+ VPOPCNTDQ for the binary
 * kernels of simd_avx512_ops).  Compiled with the -mavx512* flags of
 * cmake/Simd.cmake; dispatch.c calls these tables only on CPUs that have the
 * features (simd_avx512_nopopcnt_ops needs no VPOPCNTDQ).
 *
 * Design:
 *  1. Tails use masked loads (_mm512_maskz_loadu_ps), which never touch
 *     memory past the mask, so every dimension takes the same code path.
 *  2. Blocked kernels compute a tile of 4 queries × 4 base rows per pass over
 *     the dimensions: per 16-float step 4 row loads + 4 query loads feed 16
 *     FMAs (21 of 32 zmm registers).  Base tiles run outside, query tiles
 *     inside, so the four rows stay in L1 while the query block (sized by
 *     flat.c to stay in L2) streams over them: each base row is fetched from
 *     memory once per query block.
 *  3. Bit-identical results wherever a pair sits (see distance_avx2.c §3):
 *     one accumulator per pair, same masked last step, same hsum4 order.
 *  4. ip_f32_block with 6 or more queries switches to a packed GEMM
 *     micro-kernel (ip_gemm below): rows transposed into a panel, 6 queries ×
 *     32 rows per pass, no horizontal sums.  On the 2-vCPU AMD EPYC (Zen 4)
 *     development VM it lifted sift-like-128 batch search from ~0.95 to
 *     ~0.69 CPU-ms per query (with the SIMD select of flat.c).
 *  5. L2 in the blocked kernel is the direct sum of squared differences, not
 *     |q|^2 + |x|^2 - 2 q.x: the expansion would halve the work but loses the
 *     exact 0 for a vector against itself and cancels badly for near
 *     neighbours with large norms (SEMANTICS.md's worked example expects the
 *     query's own row first with distance 0.0).  flat.c uses the expansion
 *     only to pick candidates, then rescores them with this kernel.
 *
 * Threading: pure functions; no state.
 */
#include <immintrin.h>
#include <string.h>

#include "simd_internal.h"

#define KITE_INLINE static inline __attribute__((always_inline))

KITE_INLINE __mmask16 tail_mask(size_t r)
{
    return (__mmask16)((1u << r) - 1u);
}

/* [sum(a), sum(b), sum(c), sum(d)] with one fixed lane order. */
KITE_INLINE __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    /* 512 -> 256: low half + high half */
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    __m256 t0 = _mm256_hadd_ps(a8, b8);
    __m256 t1 = _mm256_hadd_ps(c8, d8);
    __m256 t2 = _mm256_hadd_ps(t0, t1);
    return _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
}

KITE_INLINE float hsum1(__m512 a)
{
    __m512 z = _mm512_setzero_ps();
    return _mm_cvtss_f32(hsum4(a, z, z, z));
}

/* ------------------------------------------------------- single-pair kernels */

static float l2_f32(const float *a, const float *b, size_t d)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        __m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 t2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 t3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(t0, t0, s0);
        s1 = _mm512_fmadd_ps(t1, t1, s1);
        s2 = _mm512_fmadd_ps(t2, t2, s2);
        s3 = _mm512_fmadd_ps(t3, t3, s3);
    }
    for (; i + 16 <= d; i += 16) {
        __m512 t = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(t, t, s0);
    }
    if (i < d) {
        __mmask16 m = tail_mask(d - i);
        __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(t, t, s1);
    }
    return hsum1(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float ip_f32(const float *a, const float *b, size_t d)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= d; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= d; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < d) {
        __mmask16 m = tail_mask(d - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return hsum1(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* ------------------------------------------------------------ blocked kernels */

/* One step of the tile over 16 (or masked fewer) dimensions. */
#define TILE_STEP(LOADQ, LOADX)                                                                   \
    do {                                                                                          \
        __m512 xv[4];                                                                             \
        _Pragma("GCC unroll 4") for (size_t j = 0; j < nx_t; j++) xv[j] = LOADX(xs + j * d + k);  \
        _Pragma("GCC unroll 4") for (size_t i = 0; i < nq_t; i++)                                 \
        {                                                                                         \
            __m512 qv = LOADQ(qs + i * d + k);                                                    \
            _Pragma("GCC unroll 4") for (size_t j = 0; j < nx_t; j++)                             \
            {                                                                                     \
                if (l2) {                                                                         \
                    __m512 t = _mm512_sub_ps(qv, xv[j]);                                          \
                    acc[i][j] = _mm512_fmadd_ps(t, t, acc[i][j]);                                 \
                } else {                                                                          \
                    acc[i][j] = _mm512_fmadd_ps(qv, xv[j], acc[i][j]);                            \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

#define LOAD_FULL(p) _mm512_loadu_ps(p)
#define LOAD_TAIL(p) _mm512_maskz_loadu_ps(m, p)

/*
 * One tile: nq_t (1..4) queries at qs × nx_t (1..4) rows at xs, both with
 * stride d; out[i * ostride + j].  nq_t, nx_t and l2 are constants at every
 * call site (always_inline), so the loops unroll into registers.
 */
KITE_INLINE void tile(const float *qs, size_t nq_t, const float *xs, size_t nx_t, size_t d,
                      float *out, size_t ostride, int l2)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; i++) {
#pragma GCC unroll 4
        for (size_t j = 0; j < 4; j++)
            acc[i][j] = _mm512_setzero_ps();
    }
    size_t k = 0;
    for (; k + 16 <= d; k += 16)
        TILE_STEP(LOAD_FULL, LOAD_FULL);
    if (k < d) {
        __mmask16 m = tail_mask(d - k);
        TILE_STEP(LOAD_TAIL, LOAD_TAIL);
    }
#pragma GCC unroll 4
    for (size_t j = 0; j < nx_t; j++) {
        float r[4];
        _mm_storeu_ps(r, hsum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j]));
#pragma GCC unroll 4
        for (size_t i = 0; i < nq_t; i++)
            out[i * ostride + j] = r[i];
    }
}

/* All query tiles of the block against nx_t rows at xs (column r of out). */
KITE_INLINE void row_tiles(const float *qs, size_t nq, const float *xs, size_t nx_t, size_t d,
                           float *out, size_t n, int l2)
{
    size_t qi = 0;
    for (; qi + 4 <= nq; qi += 4)
        tile(qs + qi * d, 4, xs, nx_t, d, out + qi * n, n, l2);
    for (; qi < nq; qi++)
        tile(qs + qi * d, 1, xs, nx_t, d, out + qi * n, n, l2);
}

KITE_INLINE void block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                       float *out, int l2)
{
    size_t r = 0;
    for (; r + 4 <= n; r += 4)
        row_tiles(qs, nq, base + r * d, 4, d, out + r, n, l2);
    for (; r < n; r++)
        row_tiles(qs, nq, base + r * d, 1, d, out + r, n, l2);
}

static void l2_f32_block(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                         float *out)
{
    block(qs, nq, base, n, d, out, 1);
}

/*
 * Packed inner-product block (GEMM form) for query blocks of GEMM_MIN_NQ or
 * more.  A panel of 32 base rows × GEMM_KC dimensions is copied transposed
 * (dimension-major, 32 rows per dimension, zero-padded) into a 16 KiB stack
 * buffer; a 6 × 32 micro-kernel then keeps 12 accumulators of 16 rows each
 * and, per dimension, broadcasts one element of each of 6 queries against
 * two vectors of the panel: 12 FMAs per 2 loads + 6 broadcasts and no
 * horizontal reduction, so small dimensions run as fast as large ones.
 * Partial sums of successive GEMM_KC-dimension chunks are added into `out`.
 *
 * Summation order per (query, row) pair: sequential FMAs over each chunk of
 * GEMM_KC dimensions, chunk sums added in order — the same wherever the pair
 * sits (full or remainder tile), so equal rows still tie exactly.  Error:
 * at most (GEMM_KC + d / GEMM_KC + 2) u sum |q_i x_i| (u = 2^-24).
 */
#define GEMM_KC 128
#define GEMM_NR 32
#define GEMM_MR 6
#define GEMM_MIN_NQ 6

/* In-register 16 × 16 transpose: r[i] lane j becomes r[j] lane i. */
KITE_INLINE void transpose16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), e = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
    }
#pragma GCC unroll 2
    for (int i = 0; i < 16; i += 8) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
    }
}

/*
 * p[k * GEMM_NR + j] = base[j * d + k0 + k] for k < kc, j < GEMM_NR (rows
 * j >= nr read as zero), by 16 × 16 in-register transposes (about 4x fewer
 * operations than element-wise copying; the pack is redone for every query
 * block, so it matters for wide vectors).
 */
KITE_INLINE void pack_panel(const float *base, size_t d, size_t nr, size_t k0, size_t kc,
                            float *restrict p)
{
    for (size_t g = 0; g < GEMM_NR; g += 16) {
        for (size_t k = 0; k < kc; k += 16) {
            size_t kk = kc - k < 16 ? kc - k : 16;
            __mmask16 m = tail_mask(kk);
            __m512 r[16];
#pragma GCC unroll 16
            for (size_t i = 0; i < 16; i++)
                r[i] = g + i < nr ? _mm512_maskz_loadu_ps(m, base + (g + i) * d + k0 + k)
                                  : _mm512_setzero_ps();
            transpose16(r);
            for (size_t i = 0; i < kk; i++)
                _mm512_store_ps(p + (k + i) * GEMM_NR + g, r[i]);
        }
    }
}

/* mq (1..6) queries at q (stride d, already offset by k0) against the panel. */
KITE_INLINE void micro(size_t mq, const float *q, size_t d, const float *p, size_t kc,
                       float *out, size_t n, __mmask16 m0, __mmask16 m1, int add)
{
    __m512 acc[GEMM_MR][2];
#pragma GCC unroll 6
    for (size_t i = 0; i < GEMM_MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < kc; k++) {
        __m512 x0 = _mm512_load_ps(p + k * GEMM_NR);
        __m512 x1 = _mm512_load_ps(p + k * GEMM_NR + 16);
#pragma GCC unroll 6
        for (size_t i = 0; i < mq; i++) {
            __m512 b = _mm512_set1_ps(q[i * d + k]);
            acc[i][0] = _mm512_fmadd_ps(b, x0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(b, x1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (size_t i = 0; i < mq; i++) {
        float *o = out + i * n;
        if (add) {
            acc[i][0] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), acc[i][0]);
            acc[i][1] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), acc[i][1]);
        }
        _mm512_mask_storeu_ps(o, m0, acc[i][0]);
        _mm512_mask_storeu_ps(o + 16, m1, acc[i][1]);
    }
}

static void ip_gemm(const float *qs, size_t nq, const float *base, size_t n, size_t d,
                    float *out)
{
    float panel[GEMM_KC * GEMM_NR] __attribute__((aligned(64)));
    for (size_t r0 = 0; r0 < n; r0 += GEMM_NR) {
        size_t nr = n - r0 < GEMM_NR ? n - r0 : GEMM_NR;
        __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1u);
        __mmask16 m1 = (__mmask16)(nr <= 16 ? 0u : nr >= 32 ? 0xffffu : (1u << (nr - 16)) - 1u);
        for (size_t k0 = 0; k0 < d; k0 += GEMM_KC) {
            size_t kc = d - k0 < GEMM_KC ? d - k0 : GEMM_KC;
            int add = k0 > 0;
            pack_panel(base + r0 * d, d, nr, k0, kc, panel);
            size_t qi = 0;
            for (; qi + GEMM_MR <= nq; qi += GEMM_MR)
                micro(GEMM_MR, qs + qi * d + k0, d, panel, kc, out + qi * n + r0, n, m0, m1,
                      add);
            switch (nq - qi) {
            case 5:
                micro(5, qs + qi * d + k0, d, panel, kc, out + qi * n + r0, n, m0, m1, add);
                break;
            case 4:
                micro(4, qs + qi * d + k0, d, panel, kc, out + qi * n + r0, n, m0, m1, add);
                break;
            case 3:
                micro(3, qs + qi * d + k0, d, panel, kc, out + qi * n + r0, n, m0, m1, add);
                break;
            case 2:
                micro(2, qs + qi * d + k0, d, panel, kc, out + qi * n + r0, n, m0, m1, add);
                break;
            case 1:
                micro(1, qs + qi * d + k0, d, panel, kc, out + qi * n + r0, n, m0, m1, add);
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

/* ------------------------------------------------ binary kernels (VPOPCNTDQ) */

static uint32_t hamming_vpopcnt(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
    __m512i c = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= nbytes; i += 64) {
        __m512i x = _mm512_xor_si512(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
        c = _mm512_add_epi64(c, _mm512_popcnt_epi64(x));
    }
    if (i < nbytes) {
        __mmask64 m = (UINT64_C(1) << (nbytes - i)) - 1;
        __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i),
                                     _mm512_maskz_loadu_epi8(m, b + i));
        c = _mm512_add_epi64(c, _mm512_popcnt_epi64(x));
    }
    return (uint32_t)_mm512_reduce_add_epi64(c);
}

static void and_or_vpopcnt(const uint8_t *a, const uint8_t *b, size_t nbytes, uint32_t *n_and,
                           uint32_t *n_or)
{
    __m512i ca = _mm512_setzero_si512(), co = ca;
    size_t i = 0;
    for (; i + 64 <= nbytes; i += 64) {
        __m512i x = _mm512_loadu_si512(a + i), y = _mm512_loadu_si512(b + i);
        ca = _mm512_add_epi64(ca, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
        co = _mm512_add_epi64(co, _mm512_popcnt_epi64(_mm512_or_si512(x, y)));
    }
    if (i < nbytes) {
        __mmask64 m = (UINT64_C(1) << (nbytes - i)) - 1;
        __m512i x = _mm512_maskz_loadu_epi8(m, a + i), y = _mm512_maskz_loadu_epi8(m, b + i);
        ca = _mm512_add_epi64(ca, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
        co = _mm512_add_epi64(co, _mm512_popcnt_epi64(_mm512_or_si512(x, y)));
    }
    *n_and = (uint32_t)_mm512_reduce_add_epi64(ca);
    *n_or = (uint32_t)_mm512_reduce_add_epi64(co);
}

/* ------------------------------------------------------ half-precision codecs */

static void f16_to_f32(const uint16_t *in, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(in + i))));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 f = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, in + i));
        _mm512_mask_storeu_ps(out + i, m, f);
    }
}

static void f32_to_f16(const float *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(in + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_storeu_si256((__m256i *)(out + i), h);
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, in + i),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi16(out + i, m, h);
    }
}

static void bf16_to_f32(const uint16_t *in, float *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(in + i)));
        _mm512_storeu_si512(out + i, _mm512_slli_epi32(w, 16));
    }
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, in + i));
        _mm512_mask_storeu_epi32(out + i, m, _mm512_slli_epi32(w, 16));
    }
}

/* Round-to-nearest-even to bf16, NaN kept quiet (same rule as the scalar codec). */
KITE_INLINE __m256i bf16_round16(__m512i x)
{
    __m512i absx = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
    __mmask16 is_nan = _mm512_cmpgt_epu32_mask(absx, _mm512_set1_epi32(0x7f800000));
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    r = _mm512_srli_epi32(r, 16);
    __m512i nan = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    r = _mm512_mask_blend_epi32(is_nan, r, nan);
    return _mm512_cvtepi32_epi16(r);
}

static void f32_to_bf16(const float *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), bf16_round16(_mm512_loadu_si512(in + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = bf16_round16(_mm512_maskz_loadu_epi32(m, in + i));
        _mm256_mask_storeu_epi16(out + i, m, h);
    }
}

/* ------------------------------------------------------------------ select */

/* 16 lanes at a time: compare into a mask, compress the lane indices out. */
KITE_INLINE size_t select16(const float *v, size_t n, float thr, uint32_t *idx, int ge)
{
    const __m512 t = _mm512_set1_ps(thr);
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                            15);
    size_t m = 0;
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 live = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 x = _mm512_maskz_loadu_ps(live, v + i);
        __mmask16 hit = ge ? _mm512_mask_cmp_ps_mask(live, x, t, _CMP_GE_OQ)
                           : _mm512_mask_cmp_ps_mask(live, x, t, _CMP_LE_OQ);
        if (hit) {
            __m512i ids = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)i));
            _mm512_mask_compressstoreu_epi32(idx + m, hit, ids);
            m += (size_t)__builtin_popcount(hit);
        }
    }
    return m;
}

static size_t select_le(const float *v, size_t n, float thr, uint32_t *idx)
{
    return select16(v, n, thr, idx, 0);
}

static size_t select_ge(const float *v, size_t n, float thr, uint32_t *idx)
{
    return select16(v, n, thr, idx, 1);
}

#define AVX512_FLOAT_KERNELS                                                                      \
    .level = KITE_SIMD_AVX512, .l2_f32 = l2_f32, .ip_f32 = ip_f32, .l2_f32_batch = l2_f32_batch, \
    .ip_f32_batch = ip_f32_batch, .l2_f32_block = l2_f32_block, .ip_f32_block = ip_f32_block,    \
    .f16_to_f32 = f16_to_f32, .f32_to_f16 = f32_to_f16, .bf16_to_f32 = bf16_to_f32,              \
    .f32_to_bf16 = f32_to_bf16, .select_le = select_le, .select_ge = select_ge

const struct kite_simd_ops simd_avx512_ops = {
    AVX512_FLOAT_KERNELS,
    .hamming = hamming_vpopcnt,
    .and_or_popcnt = and_or_vpopcnt,
};

const struct kite_simd_ops simd_avx512_nopopcnt_ops = {
    AVX512_FLOAT_KERNELS,
    .hamming = simd_avx2_hamming,
    .and_or_popcnt = simd_avx2_and_or_popcnt,
};
