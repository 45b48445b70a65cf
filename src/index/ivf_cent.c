/*
 * ivf_cent.c — the coarse centroids of the float IVF kinds (IVF_FLAT, IVF_SQ8,
 * IVF_PQ, SCANN), resident as IEEE half precision with one power-of-two scale.
 *
 * Design:
 *  1. Form: centroid component c = s * h, h an IEEE binary16 (ix->hcent,
 *     nlist * dim uint16), s = ix->cscale = 2^(E - 15) where max|c| lies in
 *     [2^(E-1), 2^E) (frexp), so |c / s| < 2^15 (below fp16's 65504) and the
 *     largest components keep fp16's full 11-bit precision whatever the data's
 *     range.  s is a power of two: c / s and s * h are exact in fp32, and the
 *     decoded value s * h IS the centroid everywhere (no second, fp32 copy).
 *  2. Build (ivf_train.c) rounds the k-means centroids to this form right after
 *     k-means (ivf_cent_adopt(round = true)), before any use: list assignment,
 *     |c|^2, the 8-bit codes, PQ/SCANN residuals and search all see the same
 *     rounded values, so build and search agree exactly.  The rounding is a
 *     relative error <= 2^-11 of the largest component (about 5e-4), far inside
 *     a coarse quantiser's own error; recall is unchanged (IVF_FLAT/SQ8/SCANN
 *     score rows with their own values; PQ/SCANN encode residuals to the
 *     rounded centroid).
 *  3. The file format is unchanged (serialised as fp32, the exact decoded
 *     values).  Load (ivf_cent_adopt(round = false)) recomputes s from the
 *     file's values and keeps the half form only if EVERY value is exactly
 *     s * h; files written before the half form (arbitrary fp32 centroids) keep
 *     an fp32 array (ix->centroids) and search exactly as they did: every
 *     accessor below serves both forms.  Build falls back to fp32 too when the
 *     rounded values are not representable (non-finite input, a scale outside
 *     fp32's normal range).
 *  4. Distances to centroids (coarse step, exact re-score of the 8-bit
 *     candidates, SCANN list bases) read the halves directly: AVX-512 / AVX2
 *     (F16C is part of Kite's AVX2 level) convert 16 / 8 components in
 *     registers (vcvtph2ps) and fold the scale in with one fnmadd; the
 *     single-query and the batch paths call the same function, so their values
 *     are bit-identical.  Consumers that need fp32 rows (blocked kernels,
 *     residuals, norms, the 8-bit codes) decode into their own small buffers.
 *
 * Threading: read-only after ivf_cent_adopt; callers pass their own buffers.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "err.h"
#include "ivf.h"
#include "simd.h"

/* The scale of values whose largest magnitude is mx (> 0, finite); 0 if the
 * scale would leave fp32's normal range. */
static float scale_for(float mx)
{
    int e = 0;
    (void)frexpf(mx, &e); /* mx in [2^(e-1), 2^e) */
    if (e - 15 < -120 || e - 15 > 120)
        return 0.0f;
    return ldexpf(1.0f, e - 15);
}

static float max_abs(const float *c, size_t cnt, bool *finite)
{
    float mx = 0.0f;
    *finite = true;
    for (size_t i = 0; i < cnt; i++) {
        float a = fabsf(c[i]);
        if (!isfinite(a)) {
            *finite = false;
            return 0.0f;
        }
        mx = a > mx ? a : mx;
    }
    return mx;
}

/* h[i] with c[i] == s * h[i] exactly for every i, s from the values' range
 * (design 1); false if some value is not of that form. */
static bool to_half(const float *c, size_t cnt, uint16_t *h, float *scale)
{
    bool finite;
    float mx = max_abs(c, cnt, &finite);
    float s = mx > 0.0f ? scale_for(mx) : 1.0f;
    if (!finite || s == 0.0f)
        return false;
    float inv = 1.0f / s; /* a power of two: exact */
    for (size_t i = 0; i < cnt; i++) {
        uint16_t v = kite_f32_to_f16(c[i] * inv);
        float back = kite_f16_to_f32(v) * s;
        if (memcmp(&back, &c[i], sizeof(float)) != 0)
            return false;
        h[i] = v;
    }
    *scale = s;
    return true;
}

/* c rounded to the half form in place (values s * h); false if impossible. */
static bool round_half(float *c, size_t cnt)
{
    bool finite;
    float mx = max_abs(c, cnt, &finite);
    float s = mx > 0.0f ? scale_for(mx) : 1.0f;
    if (!finite || s == 0.0f)
        return false;
    float inv = 1.0f / s;
    for (size_t i = 0; i < cnt; i++)
        c[i] = kite_f16_to_f32(kite_f32_to_f16(c[i] * inv)) * s;
    return true;
}

int ivf_cent_adopt(struct ivf *ix, float *c, bool round, kite_err *err)
{
    size_t cnt = (size_t)ix->nlist * ix->space.dim;
    kite_free(ix->hcent);
    kite_free(ix->centroids);
    ix->hcent = NULL;
    ix->centroids = NULL;
    ix->cscale = 1.0f;
    uint16_t *h = kite_malloc(cnt * sizeof(uint16_t) + 2);
    float *orig = round ? kite_malloc(cnt * sizeof(float) + 4) : NULL;
    if (!h || (round && !orig)) {
        kite_free(h);
        kite_free(orig);
        kite_free(c);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for %u IVF centroids of dim %u",
                            ix->nlist, ix->space.dim);
    }
    float s = 1.0f;
    bool ok;
    if (round) {
        /* Rounding can lift the largest value to the next power of two, which
         * doubles the scale the loader derives: round once more with that scale
         * (from the original values) so the result passes the load rule. */
        memcpy(orig, c, cnt * sizeof(float));
        ok = round_half(c, cnt) && to_half(c, cnt, h, &s);
        if (!ok) {
            memcpy(c, orig, cnt * sizeof(float));
            bool finite;
            float mx = max_abs(c, cnt, &finite), s2 = mx > 0.0f ? scale_for(mx) * 2.0f : 0.0f;
            if (finite && s2 > 0.0f && isfinite(s2)) {
                for (size_t i = 0; i < cnt; i++)
                    c[i] = kite_f16_to_f32(kite_f32_to_f16(c[i] / s2)) * s2;
                ok = to_half(c, cnt, h, &s);
            }
            if (!ok)
                memcpy(c, orig, cnt * sizeof(float)); /* keep the k-means values */
        }
        kite_free(orig);
    } else {
        ok = to_half(c, cnt, h, &s);
    }
    if (ok) {
        ix->hcent = h;
        ix->cscale = s;
        kite_free(c);
    } else {
        kite_free(h);
        ix->centroids = c;
    }
    return KITE_OK;
}

size_t ivf_cent_bytes(const struct ivf *ix)
{
    size_t cnt = (size_t)ix->nlist * ix->space.dim;
    if (ix->hcent)
        return cnt * sizeof(uint16_t);
    return ix->centroids ? cnt * sizeof(float) : 0;
}

/* out[i] = s * h[i]: one pass, conversion and scale in registers. */
__attribute__((target("avx512f"))) static void decode_avx512(const uint16_t *h, float *out,
                                                            size_t n, float s)
{
    __m512 vs = _mm512_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_mul_ps(vs, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                       (const __m256i *)(const void *)(h + i)))));
    for (; i < n; i++)
        out[i] = s * kite_f16_to_f32(h[i]);
}

__attribute__((target("avx2,f16c"))) static void decode_avx2(const uint16_t *h, float *out,
                                                            size_t n, float s)
{
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(vs, _mm256_cvtph_ps(_mm_loadu_si128(
                                                       (const __m128i *)(const void *)(h + i)))));
    for (; i < n; i++)
        out[i] = s * kite_f16_to_f32(h[i]);
}

const float *ivf_cent_rows(const struct ivf *ix, uint32_t l0, uint32_t cnt, float *buf)
{
    size_t dim = ix->space.dim;
    if (!ix->hcent)
        return ix->centroids + (size_t)l0 * dim;
    size_t m = (size_t)cnt * dim;
    const uint16_t *h = ix->hcent + (size_t)l0 * dim;
    int level = kite_simd()->level;
    if (level >= KITE_SIMD_AVX512) {
        decode_avx512(h, buf, m, ix->cscale);
    } else if (level >= KITE_SIMD_AVX2) {
        decode_avx2(h, buf, m, ix->cscale);
    } else {
        for (size_t i = 0; i < m; i++)
            buf[i] = ix->cscale * kite_f16_to_f32(h[i]);
    }
    return buf;
}

float *ivf_cent_decode_all(const struct ivf *ix)
{
    size_t cnt = (size_t)ix->nlist * ix->space.dim;
    float *c = kite_malloc(cnt * sizeof(float) + 4);
    if (!c)
        return NULL;
    const float *r = ivf_cent_rows(ix, 0, ix->nlist, c);
    if (r != c)
        memcpy(c, r, cnt * sizeof(float));
    return c;
}

/* ------------------------------------------------- distances on the halves */

/* sum (q - s h)^2 (l2) or s * sum q h (ip), scalar reference. */
static float dist_scalar(const float *q, const uint16_t *h, float s, size_t d, bool l2)
{
    float acc = 0.0f;
    for (size_t i = 0; i < d; i++) {
        float c = kite_f16_to_f32(h[i]);
        if (l2) {
            float t = q[i] - s * c;
            acc += t * t;
        } else {
            acc += q[i] * c;
        }
    }
    return l2 ? acc : acc * s;
}

__attribute__((target("avx2,fma,f16c"))) static float dist_avx2(const float *q, const uint16_t *h,
                                                               float s, size_t d, bool l2)
{
    __m256 vs = _mm256_set1_ps(s), a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    if (l2) {
        for (; i + 16 <= d; i += 16) {
            __m256 c0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i)));
            __m256 c1 =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i + 8)));
            __m256 t0 = _mm256_fnmadd_ps(vs, c0, _mm256_loadu_ps(q + i));
            __m256 t1 = _mm256_fnmadd_ps(vs, c1, _mm256_loadu_ps(q + i + 8));
            a0 = _mm256_fmadd_ps(t0, t0, a0);
            a1 = _mm256_fmadd_ps(t1, t1, a1);
        }
        for (; i + 8 <= d; i += 8) {
            __m256 c0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i)));
            __m256 t0 = _mm256_fnmadd_ps(vs, c0, _mm256_loadu_ps(q + i));
            a0 = _mm256_fmadd_ps(t0, t0, a0);
        }
    } else {
        for (; i + 16 <= d; i += 16) {
            __m256 c0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i)));
            __m256 c1 =
                _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i + 8)));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), c1, a1);
        }
        for (; i + 8 <= d; i += 8) {
            __m256 c0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + i)));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, a0);
        }
    }
    a0 = _mm256_add_ps(a0, a1);
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    float acc = _mm_cvtss_f32(x);
    for (; i < d; i++) {
        float c = _cvtsh_ss(h[i]);
        if (l2) {
            float t = q[i] - s * c;
            acc += t * t;
        } else {
            acc += q[i] * c;
        }
    }
    return l2 ? acc : acc * s;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static float
dist_avx512(const float *q, const uint16_t *h, float s, size_t d, bool l2)
{
    /* Four accumulators: the FMA chains, not the loads, bound one centroid. */
    __m512 vs = _mm512_set1_ps(s), a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    size_t i = 0;
    if (l2) {
        for (; i + 64 <= d; i += 64) {
            __m512 c0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i)));
            __m512 c1 =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 16)));
            __m512 c2 =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 32)));
            __m512 c3 =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 48)));
            __m512 t0 = _mm512_fnmadd_ps(vs, c0, _mm512_loadu_ps(q + i));
            __m512 t1 = _mm512_fnmadd_ps(vs, c1, _mm512_loadu_ps(q + i + 16));
            __m512 t2 = _mm512_fnmadd_ps(vs, c2, _mm512_loadu_ps(q + i + 32));
            __m512 t3 = _mm512_fnmadd_ps(vs, c3, _mm512_loadu_ps(q + i + 48));
            a0 = _mm512_fmadd_ps(t0, t0, a0);
            a1 = _mm512_fmadd_ps(t1, t1, a1);
            a2 = _mm512_fmadd_ps(t2, t2, a2);
            a3 = _mm512_fmadd_ps(t3, t3, a3);
        }
        a0 = _mm512_add_ps(a0, a2);
        a1 = _mm512_add_ps(a1, a3);
        for (; i + 32 <= d; i += 32) {
            __m512 c0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i)));
            __m512 c1 =
                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 16)));
            __m512 t0 = _mm512_fnmadd_ps(vs, c0, _mm512_loadu_ps(q + i));
            __m512 t1 = _mm512_fnmadd_ps(vs, c1, _mm512_loadu_ps(q + i + 16));
            a0 = _mm512_fmadd_ps(t0, t0, a0);
            a1 = _mm512_fmadd_ps(t1, t1, a1);
        }
        for (; i < d; i += 16) {
            __mmask16 m = d - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - i)) - 1u);
            __m512 c0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i));
            __m512 t0 = _mm512_fnmadd_ps(vs, c0, _mm512_maskz_loadu_ps(m, q + i));
            a0 = _mm512_fmadd_ps(t0, t0, a0);
        }
        return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
    for (; i + 64 <= d; i += 64) {
        __m512 c0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i)));
        __m512 c1 =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 16)));
        __m512 c2 =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 32)));
        __m512 c3 =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 48)));
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), c0, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), c1, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32), c2, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48), c3, a3);
    }
    a0 = _mm512_add_ps(a0, a2);
    a1 = _mm512_add_ps(a1, a3);
    for (; i + 32 <= d; i += 32) {
        __m512 c0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i)));
        __m512 c1 =
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(h + i + 16)));
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), c0, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), c1, a1);
    }
    for (; i < d; i += 16) {
        __mmask16 m = d - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - i)) - 1u);
        __m512 c0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i));
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), c0, a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * s;
}

float ivf_cent_half_dist(int level, const float *q, const uint16_t *h, float s, size_t d, bool l2)
{
    if (level >= KITE_SIMD_AVX512)
        return dist_avx512(q, h, s, d, l2);
    if (level >= KITE_SIMD_AVX2)
        return dist_avx2(q, h, s, d, l2);
    return dist_scalar(q, h, s, d, l2);
}

/* |q - c_l|^2 (l2) or -q.c_l. */
static float dist_one(const struct ivf *ix, const float *q, uint32_t l, bool l2)
{
    const struct vspace *sp = &ix->space;
    if (!ix->hcent) {
        const float *c = ix->centroids + (size_t)l * sp->dim;
        return l2 ? sp->ops->l2_f32(q, c, sp->dim) : -sp->ops->ip_f32(q, c, sp->dim);
    }
    float d = ivf_cent_half_dist(kite_simd()->level, q, ix->hcent + (size_t)l * sp->dim,
                                 ix->cscale, sp->dim, l2);
    return l2 ? d : -d;
}

float ivf_cent_dist(const struct ivf *ix, const float *q, uint32_t l)
{
    return dist_one(ix, q, l, ix->space.kind != VSP_IP);
}

float ivf_cent_base(const struct ivf *ix, const float *q, uint32_t l)
{
    return dist_one(ix, q, l, ix->space.kind == VSP_L2);
}

void ivf_cent_dist_range(const struct ivf *ix, const float *q, uint32_t l0, uint32_t cnt,
                         float *out)
{
    const struct vspace *sp = &ix->space;
    bool l2 = sp->kind != VSP_IP;
    if (!ix->hcent) {
        const float *c = ix->centroids + (size_t)l0 * sp->dim;
        if (l2) {
            sp->ops->l2_f32_batch(q, c, cnt, sp->dim, out);
        } else {
            sp->ops->ip_f32_batch(q, c, cnt, sp->dim, out);
            for (uint32_t i = 0; i < cnt; i++)
                out[i] = -out[i];
        }
        return;
    }
    int level = kite_simd()->level;
    const uint16_t *h = ix->hcent + (size_t)l0 * sp->dim;
    for (uint32_t i = 0; i < cnt; i++, h += sp->dim) {
        float d = ivf_cent_half_dist(level, q, h, ix->cscale, sp->dim, l2);
        out[i] = l2 ? d : -d;
    }
}
