/*
 * gemm_conv.h — our own single-precision GEMM for convolutions
 * (gemm_avx512.c), used by ops_conv.c in place of OpenBLAS's sgemm on CPUs
 * with AVX-512 (docs/VISION.md, "Convolution GEMM").
 *
 *   C (m x n, row stride ldc) = epilogue( A (m x k, row stride lda) * B (k x n) )
 *
 * A is the conv's weight matrix, read in place (never repacked: OpenBLAS
 * repacked it on every call, which dominated layer4's N = 49 convs).  B (the
 * activations or their im2col columns) is first packed by vgemm_pack_b into
 * panels of VGEMM_NP columns: panel p holds columns [p*16, p*16+16) as k
 * contiguous rows of 16 floats, columns past n zero-filled.  The epilogue adds
 * a per-row bias, then a residual tensor (same layout as C, row stride ldr),
 * then clamps to [lo, hi] (a fused Relu/Clip), and stores with a mask on the
 * last partial panel.
 *
 * Threading: all functions are reentrant; callers give each worker its own
 * packed buffer and disjoint C blocks.
 */
#ifndef KITE_VISION_GEMM_CONV_H
#define KITE_VISION_GEMM_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VGEMM_NP 16 /* columns per packed panel */
/* A last partial panel of fewer than VGEMM_DOT_MAX columns, when k is at least
 * VGEMM_DOT_MIN_K, is packed as contiguous k-long columns and computed by dot
 * products (gemm_avx512.c); shorter dots lose to the horizontal sums. */
#define VGEMM_DOT_MAX 5
#define VGEMM_DOT_MIN_K 256
#define VGEMM_KC 256 /* k slice: 12 rows of A (12 KiB) stay in L1 across the panels */

struct vgemm_epi {
    const float *bias; /* per row of C (already offset to C's first row), or NULL */
    const float *res;  /* residual added before the clamp (offset like C), or NULL */
    size_t ldr;        /* row stride of res */
    bool clamp;
    float lo, hi;
};

/* True when the last t = n % 16 columns go to the dot-product tail. */
static inline bool vgemm_dot_tail(int64_t k, int64_t n)
{
    return n % VGEMM_NP != 0 && n % VGEMM_NP < VGEMM_DOT_MAX && k >= VGEMM_DOT_MIN_K;
}

/* Floats vgemm_pack_b writes for a k x n block. */
size_t vgemm_packed_len(int64_t k, int64_t n);

/* Pack the k x n block at b (row stride ldb) into panels at bp (vgemm_packed_len floats). */
void vgemm_pack_b_avx512(const float *b, size_t ldb, int64_t k, int64_t n, float *bp);

/* dst[i] = src[2 * i] for i < n (im2col of stride-2 convs); reads src[0 .. 2n-2] only. */
void vgemm_gather_s2_avx512(const float *src, int64_t n, float *dst);

/* C = epilogue(A * B) with B packed by vgemm_pack_b_avx512 (k rows, n columns).
 * Call only when kite_simd_init() >= KITE_SIMD_AVX512. */
void vgemm_avx512(int64_t m, int64_t n, int64_t k, const float *a, size_t lda, const float *bp,
                  float *c, size_t ldc, const struct vgemm_epi *e);

#endif
