/*
 * gemm_avx512.c — AVX-512 GEMM micro-kernels for convolutions (gemm_conv.h).
 *
 * Design (measurements in docs/VISION.md, "Convolution GEMM"):
 *   1. Register blocks of 24 zmm accumulators: 12 rows of C x 32 columns (two
 *      16-float panels of packed B; per k step two vector loads of B and twelve
 *      broadcasts of A feed 24 FMAs) or 8 x 48 (see slice()).  Rows left over
 *      take 8/4/2/1-row variants of the same kernel, panels left over the
 *      16/32-column ones.
 *   2. A (the weights) is read in place, row stride lda: twelve sequential
 *      streams that the hardware prefetcher follows.  Packing A per call (what
 *      sgemm does) costs as much as the arithmetic when n is 49 (ResNet-50's
 *      7x7 layer4).  B is packed per call (vgemm_pack_b_avx512) because its rows
 *      are a whole plane apart (12.5 KB at 56x56): read in place they fall on a
 *      few L1 sets and miss.
 *   3. k is cut into slices of VGEMM_KC (256): within a slice the accumulators
 *      stay in registers while A's 12 x 256 block stays in L1 across all the
 *      panels; between slices C is stored and reloaded.  The epilogue (bias,
 *      residual, clamp) runs on the registers of the last slice, before the
 *      final store of C.
 *   4. Columns past n in the last panel are zero in packed B, so the kernel
 *      always runs full vectors; only the stores (and residual loads) are masked.
 *   5. 1-4 columns left after the full panels, with k >= 256, are packed as
 *      contiguous columns and computed as dot products (dot_tail): n = 49 costs
 *      3 panels + 1/16 instead of 4 panels.
 *   6. vgemm_gather_s2_avx512 is here only because it needs AVX-512: the
 *      stride-2 row gather of ops_conv.c's im2col (vpermt2ps, 16 per step).
 *
 * Threading: reentrant; no state.
 */
#include <immintrin.h>

#include "gemm_conv.h"

size_t vgemm_packed_len(int64_t k, int64_t n)
{
    return (size_t)((n + VGEMM_NP - 1) / VGEMM_NP) * (size_t)k * VGEMM_NP;
}

void vgemm_pack_b_avx512(const float *b, size_t ldb, int64_t k, int64_t n, float *bp)
{
    for (int64_t j0 = 0; j0 < n; j0 += VGEMM_NP) {
        int64_t w = n - j0 < VGEMM_NP ? n - j0 : VGEMM_NP;
        __mmask16 mask = (__mmask16)((1u << w) - 1u);
        const float *src = b + j0;
        if (w < VGEMM_NP && vgemm_dot_tail(k, n)) { /* dot_tail's layout: w columns of k */
            for (int64_t q = 0; q < w; q++)
                for (int64_t r = 0; r < k; r++)
                    bp[q * k + r] = src[(size_t)r * ldb + (size_t)q];
        } else if (w == VGEMM_NP) {
            for (int64_t r = 0; r < k; r++)
                _mm512_storeu_ps(bp + r * VGEMM_NP, _mm512_loadu_ps(src + (size_t)r * ldb));
        } else {
            for (int64_t r = 0; r < k; r++)
                _mm512_storeu_ps(bp + r * VGEMM_NP,
                                 _mm512_maskz_loadu_ps(mask, src + (size_t)r * ldb));
        }
        bp += (size_t)k * VGEMM_NP;
    }
}

enum { VG_FIRST = 1, VG_LAST = 2 }; /* k slice flags: zero the accumulators / run the epilogue */

/* Bias, residual and clamp on one row's NV accumulators; the last vector stores
 * only `mask1` columns, so only those residual columns are read. */
static inline __attribute__((always_inline)) void
epilogue_row(const int NV, __m512 *acc, int64_t i, const struct vgemm_epi *e, __mmask16 mask1)
{
    __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi);
    __m512 bv = _mm512_set1_ps(e->bias ? e->bias[i] : 0.0f);
    const float *rr = e->res ? e->res + (size_t)i * e->ldr : NULL;
#pragma GCC unroll 3
    for (int v = 0; v < NV; v++) {
        if (e->bias)
            acc[v] = _mm512_add_ps(acc[v], bv);
        if (rr)
            acc[v] = _mm512_add_ps(acc[v], v == NV - 1 ? _mm512_maskz_loadu_ps(mask1, rr + 16 * v)
                                                       : _mm512_loadu_ps(rr + 16 * v));
        if (e->clamp)
            acc[v] = _mm512_min_ps(_mm512_max_ps(acc[v], lo), hi);
    }
}

void vgemm_gather_s2_avx512(const float *src, int64_t n, float *dst)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                           28, 30);
    int64_t i = 0;
    for (; i + 16 <= n - 1; i += 16) /* src[2i .. 2i+31] all inside [0, 2n-1) */
        _mm512_storeu_ps(dst + i, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * i), even,
                                                         _mm512_loadu_ps(src + 2 * i + 16)));
    for (; i < n; i++)
        dst[i] = src[2 * i];
}

/*
 * One MR x (16 * NV) block of C over one k slice: rows a[0..MR) of A, NV
 * panels pstride floats apart from b; VG_FIRST starts from zero instead of C,
 * VG_LAST applies the epilogue.  The last panel stores only its `mask1` columns.
 */
static inline __attribute__((always_inline)) void
block(const int MR, const int NV, int64_t k, const float *a, size_t lda, const float *b,
      size_t pstride, float *c, size_t ldc, const struct vgemm_epi *e, __mmask16 mask1,
      int flags)
{
    __m512 acc[12][3];
    const float *ar[12];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        const float *cr = c + (size_t)i * ldc;
        ar[i] = a + (size_t)i * lda;
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            acc[i][v] = (flags & VG_FIRST) ? _mm512_setzero_ps()
                        : v == NV - 1     ? _mm512_maskz_loadu_ps(mask1, cr + 16 * v)
                                          : _mm512_loadu_ps(cr + 16 * v);
    }
    for (int64_t p = 0; p < k; p++) {
        __m512 bv[3];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_loadu_ps(b + (size_t)v * pstride + (size_t)p * VGEMM_NP);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 s = _mm512_set1_ps(ar[i][p]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                acc[i][v] = _mm512_fmadd_ps(s, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        float *cr = c + (size_t)i * ldc;
        if (flags & VG_LAST)
            epilogue_row(NV, acc[i], i, e, mask1);
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            if (v == NV - 1)
                _mm512_mask_storeu_ps(cr + 16 * v, mask1, acc[i][v]);
            else
                _mm512_storeu_ps(cr + 16 * v, acc[i][v]);
        }
    }
}

#define VG_BLOCK_FN(MR, NV)                                                                     \
    static void block_##MR##_##NV(int64_t k, const float *a, size_t lda, const float *b,        \
                                  size_t pstride, float *c, size_t ldc,                         \
                                  const struct vgemm_epi *e, __mmask16 mask1, int flags)        \
    {                                                                                           \
        block(MR, NV, k, a, lda, b, pstride, c, ldc, e, mask1, flags);                          \
    }
VG_BLOCK_FN(12, 2)
VG_BLOCK_FN(12, 1)
VG_BLOCK_FN(8, 3)
VG_BLOCK_FN(8, 2)
VG_BLOCK_FN(8, 1)
VG_BLOCK_FN(4, 3)
VG_BLOCK_FN(4, 2)
VG_BLOCK_FN(4, 1)
VG_BLOCK_FN(2, 3)
VG_BLOCK_FN(2, 2)
VG_BLOCK_FN(2, 1)
VG_BLOCK_FN(1, 3)
VG_BLOCK_FN(1, 2)
VG_BLOCK_FN(1, 1)

typedef void (*block_fn)(int64_t, const float *, size_t, const float *, size_t, float *, size_t,
                         const struct vgemm_epi *, __mmask16, int);

/*
 * The few columns (< VGEMM_DOT_MAX) past the last full panel, packed as
 * contiguous k-long columns: one dot product per (row, column) along k, so
 * they cost t/16 of a panel instead of a whole masked one (n = 49: 3 panels
 * plus one column instead of 4 panels).
 */
/* Epilogue of one dot-tail element: row i, column j. */
static inline float dot_epilogue(float v, int64_t i, int64_t j, const struct vgemm_epi *e)
{
    if (e->bias)
        v += e->bias[i];
    if (e->res)
        v += e->res[(size_t)i * e->ldr + (size_t)j];
    if (e->clamp)
        v = v < e->lo ? e->lo : v > e->hi ? e->hi : v;
    return v;
}

static void dot_tail(int64_t m, int64_t t, int64_t k, const float *a, size_t lda,
                     const float *bt, float *c, size_t ldc, const struct vgemm_epi *e)
{
    __mmask16 km = (__mmask16)((1u << (k % 16)) - 1u);
    int64_t kf = k / 16 * 16, i = 0;
    for (; i + 4 <= m; i += 4) { /* four rows at once: four independent FMA chains */
        const float *a0 = a + (size_t)i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (int64_t j = 0; j < t; j++) {
            const float *bc = bt + (size_t)j * (size_t)k;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t p = 0; p < kf; p += 16) {
                __m512 bv = _mm512_loadu_ps(bc + p);
                s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a0 + p), bv, s0);
                s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a1 + p), bv, s1);
                s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a2 + p), bv, s2);
                s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a3 + p), bv, s3);
            }
            if (kf < k) {
                __m512 bv = _mm512_maskz_loadu_ps(km, bc + kf);
                s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(km, a0 + kf), bv, s0);
                s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(km, a1 + kf), bv, s1);
                s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(km, a2 + kf), bv, s2);
                s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(km, a3 + kf), bv, s3);
            }
            c[(size_t)i * ldc + (size_t)j] = dot_epilogue(_mm512_reduce_add_ps(s0), i, j, e);
            c[(size_t)(i + 1) * ldc + (size_t)j] =
                dot_epilogue(_mm512_reduce_add_ps(s1), i + 1, j, e);
            c[(size_t)(i + 2) * ldc + (size_t)j] =
                dot_epilogue(_mm512_reduce_add_ps(s2), i + 2, j, e);
            c[(size_t)(i + 3) * ldc + (size_t)j] =
                dot_epilogue(_mm512_reduce_add_ps(s3), i + 3, j, e);
        }
    }
    for (; i < m; i++) {
        const float *ar = a + (size_t)i * lda;
        for (int64_t j = 0; j < t; j++) {
            const float *bc = bt + (size_t)j * (size_t)k;
            __m512 s0 = _mm512_setzero_ps();
            for (int64_t p = 0; p < kf; p += 16)
                s0 = _mm512_fmadd_ps(_mm512_loadu_ps(ar + p), _mm512_loadu_ps(bc + p), s0);
            if (kf < k)
                s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(km, ar + kf),
                                     _mm512_maskz_loadu_ps(km, bc + kf), s0);
            c[(size_t)i * ldc + (size_t)j] = dot_epilogue(_mm512_reduce_add_ps(s0), i, j, e);
        }
    }
}

/*
 * Rows [0, m) of C against the npan panels of one k slice.  Register blocks:
 * 12 x 32 (24 accumulators; 2 loads + 12 broadcasts per 24 FMAs) by default;
 * 8 x 48 (24 accumulators; 3 loads + 8 broadcasts) when the panel count is a
 * multiple of 3 (n = 48 + a dot tail: ResNet-50's 7x7 layers, which a 12 x 32
 * grid covers as 32 + a 16 at half the FMA rate: 1x1 512x1024 at n = 49 went
 * from 90 to 105-108 GFLOP/s).  Rows left over take 8/4/2/1-row blocks.
 */
static void slice(int64_t m, int64_t npan, int64_t k, const float *a, size_t lda,
                  const float *bp, size_t pstride, float *c, size_t ldc,
                  const struct vgemm_epi *e, __mmask16 tmask, int flags)
{
    static const block_fn fns[5][3] = {{block_12_1, block_12_2, NULL},
                                       {block_8_1, block_8_2, block_8_3},
                                       {block_4_1, block_4_2, block_4_3},
                                       {block_2_1, block_2_2, block_2_3},
                                       {block_1_1, block_1_2, block_1_3}};
    static const int rows[5] = {12, 8, 4, 2, 1};
    int wide = npan % 3 == 0 ? 3 : 2; /* panels per block */
    int64_t i = 0;
    for (int r = wide == 3 ? 1 : 0; r < 5 && i < m; r++) {
        for (; m - i >= rows[r]; i += rows[r]) {
            struct vgemm_epi ei = *e;
            const float *ai = a + (size_t)i * lda;
            float *ci = c + (size_t)i * ldc;
            if (ei.bias)
                ei.bias += i;
            if (ei.res)
                ei.res += (size_t)i * ei.ldr;
            for (int64_t p = 0; p < npan; p += wide) {
                int nv = npan - p < wide ? (int)(npan - p) : wide;
                struct vgemm_epi ep = ei;
                if (ep.res)
                    ep.res += (size_t)p * VGEMM_NP;
                fns[r][nv - 1](k, ai, lda, bp + (size_t)p * pstride, pstride, ci + p * VGEMM_NP,
                               ldc, &ep, p + nv == npan ? tmask : 0xffff, flags);
            }
        }
    }
}

void vgemm_avx512(int64_t m, int64_t n, int64_t k, const float *a, size_t lda, const float *bp,
                  float *c, size_t ldc, const struct vgemm_epi *e)
{
    int64_t full = n / VGEMM_NP, t = n - full * VGEMM_NP;
    bool dot = vgemm_dot_tail(k, n);
    int64_t npan = dot || t == 0 ? full : full + 1;
    int64_t tail = npan * VGEMM_NP > n ? n - (npan - 1) * VGEMM_NP : VGEMM_NP;
    __mmask16 tmask = (__mmask16)(tail == 16 ? 0xffffu : (1u << tail) - 1u);
    size_t pstride = (size_t)k * VGEMM_NP;
    if (npan > 0) {
        for (int64_t k0 = 0; k0 < k; k0 += VGEMM_KC) {
            int64_t kb = k - k0 < VGEMM_KC ? k - k0 : VGEMM_KC;
            int flags = (k0 == 0 ? VG_FIRST : 0) | (k0 + kb == k ? VG_LAST : 0);
            slice(m, npan, kb, a + k0, lda, bp + (size_t)k0 * VGEMM_NP, pstride, c, ldc, e,
                  tmask, flags);
        }
    }
    if (dot) {
        struct vgemm_epi et = *e;
        if (et.res)
            et.res += (size_t)full * VGEMM_NP;
        dot_tail(m, t, k, a, lda, bp + (size_t)full * pstride, c + full * VGEMM_NP, ldc, &et);
    }
}
