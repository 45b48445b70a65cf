/*
 * hnsw_sq.c — quantized traversal for HNSW over float vectors: an 8-bit
 * scalar-quantized copy of every row (per-dimension min and step, like
 * IVF_SQ8) that the search walks the graph with, reading a quarter of the
 * bytes of the float rows; the ef results are then re-ranked with exact
 * distances (hnsw_search.c), so the returned order and scores are exact.
 *
 * Distances on codes, for query q and code c (x_d ~ min_d + c_d * step_d):
 *   L2      sum_d (a_d - c_d * step_d)^2        with a_d = q_d - min_d
 *   IP      -(bias + sum_d w_d * c_d)           with w_d = q_d * step_d, bias = q . min
 *   COSINE  the IP form of the normalised query, times inv_norm[row]
 * The kernels (hnsw_sq_kernels: scalar here, AVX2 / AVX-512 in
 * hnsw_sq_avx2.c / hnsw_sq_avx512.c) are chosen once from kite_simd()->level.
 *
 * The split walk (HNSW_FLAG_SPLIT_WALK, hnsw.h enum hnsw_walk) keeps instead
 * the float rows themselves, losslessly, as two planes of 16-bit halves: the
 * walk reads the high plane (a truncated bfloat16: 8 significant bits, half the
 * bytes of the floats), exact distances rebuild each float from both planes.
 *
 * Codes and planes are derived from the vectors, so they are not serialised:
 * build and deserialise both call hnsw_sq_init.  The construction walks on the
 * codes (hnsw_build.c); a split-walk index swaps them for the planes at its end.
 *
 * Threading: the codes are read-only after hnsw_sq_init; queries keep their
 * prepared form in the caller's scratch.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "hnsw.h"

static float l2_scalar(const float *a, const uint8_t *c, const float *step, size_t dim)
{
    float s = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        float t = a[d] - (float)c[d] * step[d];
        s += t * t;
    }
    return s;
}

static float dot_scalar(const float *w, const uint8_t *c, size_t dim)
{
    float s = 0.0f;
    for (size_t d = 0; d < dim; d++)
        s += w[d] * (float)c[d];
    return s;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static float hl2_scalar(const float *q, const uint16_t *hi, size_t dim)
{
    float s = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        float t = q[d] - bits_to_float((uint32_t)hi[d] << 16);
        s += t * t;
    }
    return s;
}

static float hdot_scalar(const float *q, const uint16_t *hi, size_t dim)
{
    float s = 0.0f;
    for (size_t d = 0; d < dim; d++)
        s += q[d] * bits_to_float((uint32_t)hi[d] << 16);
    return s;
}

static float xl2_scalar(const float *q, const uint16_t *hi, const uint16_t *lo, size_t dim)
{
    float s = 0.0f;
    for (size_t d = 0; d < dim; d++) {
        float t = q[d] - bits_to_float((uint32_t)hi[d] << 16 | lo[d]);
        s += t * t;
    }
    return s;
}

static float xdot_scalar(const float *q, const uint16_t *hi, const uint16_t *lo, size_t dim)
{
    float s = 0.0f;
    for (size_t d = 0; d < dim; d++)
        s += q[d] * bits_to_float((uint32_t)hi[d] << 16 | lo[d]);
    return s;
}

static const struct hnsw_sq_kernels scalar_kernels = {l2_scalar,  dot_scalar,  hl2_scalar,
                                                      hdot_scalar, xl2_scalar, xdot_scalar};

const struct hnsw_sq_kernels *hnsw_sq_kernels_get(void)
{
    int level = kite_simd()->level;
    if (level >= KITE_SIMD_AVX512)
        return &hnsw_sq_kernels_avx512;
    if (level >= KITE_SIMD_AVX2)
        return &hnsw_sq_kernels_avx2;
    return &scalar_kernels;
}

bool hnsw_sq_applies(const struct vspace *sp)
{
    return (sp->kind == VSP_L2 || sp->kind == VSP_IP || sp->kind == VSP_COS) && sp->dim >= 16;
}

/* k-th smallest of v[0..n) (reorders v); Hoare-style quickselect, median of three. */
static float select_kth(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        float a = v[lo], b = v[mid], c = v[hi];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/*
 * Per-dimension code range [lo, hi]: min..max of (a sample of) the rows, but no
 * wider than the 0.1 % .. 99.9 % quantile range stretched by half its width on
 * each side, so a few extreme rows cannot squeeze every other row into a
 * handful of codes (theirs saturate at 0 / 255 instead; the walk's results are
 * re-ranked exactly anyway).  For light-tailed data (a Gaussian's min..max over
 * 10^5 rows is +-4.4 sigma, the stretched range +-6.2 sigma) the range is just
 * min..max.  A dimension whose quantile range is empty (mostly constant, e.g. a
 * border pixel) keeps its full min..max.  The sample is every (n / CODE_SAMPLE)-th row, so the ranges are a
 * pure function of the data; the column gather goes 16 dimensions per pass.
 */
#define CODE_SAMPLE 65536
#define CODE_DIMS 16
static int code_ranges(const struct vspace *sp, size_t n, float *lo, float *hi)
{
    size_t dim = sp->dim, stride = n > CODE_SAMPLE ? n / CODE_SAMPLE : 1;
    size_t ns = (n + stride - 1) / stride;
    float *col = kite_malloc(ns * CODE_DIMS * sizeof(float));
    if (!col)
        return KITE_ENOMEM;
    size_t k_lo = (ns - 1) / 1000, k_hi = ns - 1 - k_lo;
    for (size_t d0 = 0; d0 < dim; d0 += CODE_DIMS) {
        size_t nd = dim - d0 < CODE_DIMS ? dim - d0 : CODE_DIMS;
        for (size_t i = 0, r = 0; i < ns; i++, r += stride) {
            const float *x = (const float *)vspace_row(sp, r) + d0;
            for (size_t e = 0; e < nd; e++)
                col[e * ns + i] = x[e];
        }
        for (size_t e = 0; e < nd; e++) {
            float *v = col + e * ns, mn = INFINITY, mxv = -INFINITY;
            for (size_t i = 0; i < ns; i++) {
                /* NaN compares false both ways: keep it out of the selection. */
                v[i] = v[i] == v[i] ? v[i] : 0.0f;
                mn = v[i] < mn ? v[i] : mn;
                mxv = v[i] > mxv ? v[i] : mxv;
            }
            float a = select_kth(v, ns, k_lo), b = select_kth(v, ns, k_hi), w = b - a;
            if (w > 0.0f) { /* half the quantile width of slack each side, within min..max */
                a = fmaxf(mn, a - 0.5f * w);
                b = fminf(mxv, b + 0.5f * w);
            } else {
                a = mn;
                b = mxv;
            }
            lo[d0 + e] = a;
            hi[d0 + e] = b;
        }
    }
    kite_free(col);
    return KITE_OK;
}

/* The split planes of the (float) rows: ph/pl = high/low 16 bits of each float. */
static int split_init(struct hnsw *h, kite_err *err)
{
    const struct vspace *sp = &h->space;
    size_t dim = sp->dim, n = h->n;
    if (sp->owned) /* Float16/BFloat16 data: walk on the space's float copy */
        return KITE_OK;
    h->ph = kite_malloc_aligned(n * dim * sizeof(uint16_t) + 64);
    h->pl = kite_malloc_aligned(n * dim * sizeof(uint16_t) + 64);
    if (!h->ph || !h->pl) {
        hnsw_sq_free(h);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the %zu x %zu HNSW row planes",
                            n, dim);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *x = vspace_row(sp, i);
        uint16_t *hi = h->ph + i * dim, *lo = h->pl + i * dim;
        for (size_t d = 0; d < dim; d++) {
            uint32_t u;
            memcpy(&u, x + d * sizeof(float), sizeof(u));
            hi[d] = (uint16_t)(u >> 16);
            lo[d] = (uint16_t)u;
        }
    }
    h->sq = hnsw_sq_kernels_get();
    h->bf_dot = hnsw_bf_dot_get();
    if (h->bf_dot && sp->kind == VSP_L2) {
        /* L2 as |x_hi|^2 - 2 q.x_hi (the query's |q|^2 dropped: the walk only compares). */
        h->sq_rn = kite_malloc(n * sizeof(float));
        if (!h->sq_rn) {
            hnsw_sq_free(h);
            return kite_err_set(err, KITE_ENOMEM, "out of memory for %zu HNSW row norms", n);
        }
        for (size_t i = 0; i < n; i++) {
            const uint16_t *hi = h->ph + i * dim;
            float s = 0.0f;
            for (size_t d = 0; d < dim; d++) {
                uint32_t u = (uint32_t)hi[d] << 16;
                float f;
                memcpy(&f, &u, sizeof(f));
                s += f * f;
            }
            h->sq_rn[i] = s;
        }
    }
    return KITE_OK;
}

int hnsw_sq_init(struct hnsw *h, kite_err *err)
{
    const struct vspace *sp = &h->space;
    size_t dim = sp->dim, n = h->n;

    if (!hnsw_sq_applies(sp) || n == 0 || (h->flags & HNSW_FLAG_FLOAT_WALK))
        return KITE_OK;
    if (h->flags & HNSW_FLAG_SPLIT_WALK)
        return split_init(h, err);
    h->sq_min = kite_malloc(dim * sizeof(float));
    h->sq_step = kite_malloc(dim * sizeof(float));
    h->sq_codes = kite_malloc_aligned(n * dim + 64);
    if (!h->sq_min || !h->sq_step || !h->sq_codes) {
        hnsw_sq_free(h);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the %zu x %zu HNSW codes", n,
                            dim);
    }
    float *mx = h->sq_step; /* holds the maxima until the steps are known */
    if (code_ranges(sp, n, h->sq_min, mx) != KITE_OK) {
        hnsw_sq_free(h);
        return kite_err_set(err, KITE_ENOMEM, "out of memory sampling the HNSW code ranges");
    }
    for (size_t d = 0; d < dim; d++) {
        float range = mx[d] - h->sq_min[d];
        if (!(range > 0.0f) || !isfinite(range)) { /* constant, or NaN/inf components */
            if (!isfinite(h->sq_min[d]))
                h->sq_min[d] = 0.0f;
            range = 0.0f;
        }
        h->sq_step[d] = range / 255.0f;
    }
    for (size_t i = 0; i < n; i++) {
        const float *x = (const float *)vspace_row(sp, i);
        uint8_t *c = h->sq_codes + i * dim;
        for (size_t d = 0; d < dim; d++) {
            float t = h->sq_step[d] > 0.0f ? (x[d] - h->sq_min[d]) / h->sq_step[d] + 0.5f : 0.0f;
            c[d] = t <= 0.0f || t != t ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
        }
    }
    h->sq = hnsw_sq_kernels_get();
    h->sq_idot = hnsw_sq_idot_get();
    if (h->sq_idot && sp->kind == VSP_L2) {
        h->sq_rn = kite_malloc(n * sizeof(float));
        if (!h->sq_rn) {
            hnsw_sq_free(h);
            return kite_err_set(err, KITE_ENOMEM, "out of memory for %zu HNSW code norms", n);
        }
        for (size_t i = 0; i < n; i++) {
            const uint8_t *c = h->sq_codes + i * dim;
            float s = 0.0f;
            for (size_t d = 0; d < dim; d++) {
                float t = (float)c[d] * h->sq_step[d];
                s += t * t;
            }
            h->sq_rn[i] = s;
        }
    }
    return KITE_OK;
}

void hnsw_sq_free(struct hnsw *h)
{
    kite_free(h->sq_min);
    kite_free(h->sq_step);
    kite_free_aligned(h->sq_codes);
    kite_free(h->sq_rn);
    kite_free_aligned(h->ph);
    kite_free_aligned(h->pl);
    h->sq_min = h->sq_step = h->sq_rn = NULL;
    h->sq_codes = NULL;
    h->ph = h->pl = NULL;
    h->bf_dot = NULL;
    h->sq = NULL;
    h->sq_idot = NULL;
}

/*
 * Integer form: w = a * step (L2: sum (a - c*step)^2 = sum a^2 - 2 w.c + rn,
 * the constant dropped) or w = a (IP/COSINE), scaled so max |w| maps to 127.
 */
static void prep_int(const struct hnsw *h, struct hnsw_sqq *out)
{
    size_t dim = h->space.dim;
    float *w = out->a; /* the float form is not read on the integer path */
    float mx = 0.0f;
    if (h->space.kind == VSP_L2)
        for (size_t d = 0; d < dim; d++)
            w[d] *= h->sq_step[d];
    for (size_t d = 0; d < dim; d++)
        mx = fmaxf(mx, fabsf(w[d]));
    float inv = mx > 0.0f && isfinite(mx) ? 127.0f / mx : 0.0f;
    for (size_t d = 0; d < dim; d++) {
        float t = w[d] * inv; /* |t| <= 127, or NaN from a NaN/inf component: 0 */
        t = t == t ? t : 0.0f;
        out->qi[d] = (int8_t)(int)(t + (t >= 0.0f ? 0.5f : -0.5f));
    }
    memset(out->qi + dim, 0, 64);
    out->scale = inv > 0.0f ? (h->space.kind == VSP_L2 ? 2.0f : 1.0f) / inv : 0.0f;
}

void hnsw_sq_prep(const struct hnsw *h, const float *q, struct hnsw_sqq *out)
{
    size_t dim = h->space.dim;
    out->bias = 0.0f;
    if (h->ph && h->bf_dot) { /* the query as bfloat16, in the bytes of a */
        for (size_t d = 0; d < dim; d++) {
            uint16_t b = hnsw_to_bf16(q[d]);
            memcpy((char *)out->a + d * sizeof(b), &b, sizeof(b));
        }
        return;
    }
    if (h->ph) { /* the split walk takes the query as it is */
        memcpy(out->a, q, dim * sizeof(float));
        return;
    }
    if (h->space.kind == VSP_L2) {
        for (size_t d = 0; d < dim; d++)
            out->a[d] = q[d] - h->sq_min[d];
    } else {
        for (size_t d = 0; d < dim; d++) {
            out->a[d] = q[d] * h->sq_step[d];
            out->bias += q[d] * h->sq_min[d];
        }
    }
    if (h->sq_idot && out->qi)
        prep_int(h, out);
}
