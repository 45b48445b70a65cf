/*
 * dwconv_avx2.c — AVX2+FMA depthwise 3x3 kernel (stride 1 and 2, dilation 1)
 * for one zero-bordered input plane; compiled with -mavx2 -mfma by
 * cmake/Simd.cmake (file name suffix) and only called after ops_conv.c has
 * checked kite_simd_init() >= KITE_SIMD_AVX2 (never -march=native).
 *
 * Eight output pixels per step (a row's last partial step overlaps the one
 * before it; ops_conv.c sends planes narrower than 8 to its portable kernel),
 * nine taps accumulated in registers with FMA, bias added and the fused
 * Relu/Clip applied before the single store (the portable kernel needs a
 * second pass over the plane for the clamp).  FMA rounds once per tap instead
 * of twice, so results differ from the scalar
 * kernel by float rounding only (tests compare with a tolerance).
 *
 * Preconditions (ops_conv.c depthwise_items): xp has `wp` floats per row and
 * at least 16 readable floats past the last row (stride 2 loads whole vectors
 * and discards the odd lanes).  Threading: pure function of its arguments.
 */
#include <immintrin.h>
#include <math.h>

#include "onnx_int.h"

/* Even lanes of v[0..15]: v[0], v[2], ..., v[14]. */
static inline __m256 evens(const float *v)
{
    __m256 a = _mm256_loadu_ps(v), b = _mm256_loadu_ps(v + 8);
    __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* Odd lanes of v[0..15]: v[1], v[3], ..., v[15]. */
static inline __m256 odds(const float *v)
{
    __m256 a = _mm256_loadu_ps(v), b = _mm256_loadu_ps(v + 8);
    __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void vdw3x3_avx2(const float *xp, int64_t wp, const float *w, float bias, int64_t oh,
                 int64_t ow, int64_t sh, int64_t sw, bool clamp, float lo, float hi, float *y)
{
    __m256 k[9], vb = _mm256_set1_ps(bias), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (int i = 0; i < 9; i++)
        k[i] = _mm256_set1_ps(w[i]);
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r[3];
        float *yr = y + oy * ow;
        int64_t ox = 0;
        r[0] = xp + oy * sh * wp;
        r[1] = r[0] + wp;
        r[2] = r[1] + wp;
        if (sw == 1) {
            for (;;) {
                if (ox + 8 > ow) { /* last partial vector: overlap the previous one */
                    if (ox == ow || ow < 8)
                        break;
                    ox = ow - 8;
                }
                __m256 acc = vb;
                for (int t = 0; t < 3; t++) {
                    acc = _mm256_fmadd_ps(k[3 * t], _mm256_loadu_ps(r[t] + ox), acc);
                    acc = _mm256_fmadd_ps(k[3 * t + 1], _mm256_loadu_ps(r[t] + ox + 1), acc);
                    acc = _mm256_fmadd_ps(k[3 * t + 2], _mm256_loadu_ps(r[t] + ox + 2), acc);
                }
                if (clamp) /* operand order keeps NaN, like the scalar clamp */
                    acc = _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc));
                _mm256_storeu_ps(yr + ox, acc);
                ox += 8;
            }
        } else if (sw == 2) {
            for (;;) {
                if (ox + 8 > ow) {
                    if (ox == ow || ow < 8)
                        break;
                    ox = ow - 8;
                }
                __m256 acc = vb;
                for (int t = 0; t < 3; t++) {
                    const float *p = r[t] + 2 * ox;
                    acc = _mm256_fmadd_ps(k[3 * t], evens(p), acc);
                    acc = _mm256_fmadd_ps(k[3 * t + 1], odds(p), acc);
                    acc = _mm256_fmadd_ps(k[3 * t + 2], evens(p + 2), acc);
                }
                if (clamp)
                    acc = _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc));
                _mm256_storeu_ps(yr + ox, acc);
                ox += 8;
            }
        }
        for (; ox < ow; ox++) { /* tail (and any other stride) */
            int64_t b = ox * sw;
            float v = bias;
            for (int t = 0; t < 3; t++)
                v = fmaf(w[3 * t], r[t][b], fmaf(w[3 * t + 1], r[t][b + 1],
                                                  fmaf(w[3 * t + 2], r[t][b + 2], v)));
            yr[ox] = clamp ? clampf(v, lo, hi) : v;
        }
    }
}
