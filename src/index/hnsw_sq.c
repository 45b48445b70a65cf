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
 * The codes are derived from the vectors, so they are not serialised: build and
 * deserialise both call hnsw_sq_init.  Graph construction uses exact distances.
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

static const struct hnsw_sq_kernels scalar_kernels = {l2_scalar, dot_scalar};

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

int hnsw_sq_init(struct hnsw *h, kite_err *err)
{
    const struct vspace *sp = &h->space;
    size_t dim = sp->dim, n = h->n;

    if (!hnsw_sq_applies(sp) || n == 0 || (h->flags & HNSW_FLAG_FLOAT_WALK))
        return KITE_OK;
    h->sq_min = kite_malloc(dim * sizeof(float));
    h->sq_step = kite_malloc(dim * sizeof(float));
    h->sq_codes = kite_malloc_aligned(n * dim + 64);
    if (!h->sq_min || !h->sq_step || !h->sq_codes) {
        hnsw_sq_free(h);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the %zu x %zu HNSW codes", n,
                            dim);
    }
    float *mx = h->sq_step; /* holds the maxima until the steps are known */
    for (size_t d = 0; d < dim; d++) {
        h->sq_min[d] = INFINITY;
        mx[d] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        const float *x = (const float *)vspace_row(sp, i);
        for (size_t d = 0; d < dim; d++) {
            if (x[d] < h->sq_min[d])
                h->sq_min[d] = x[d];
            if (x[d] > mx[d])
                mx[d] = x[d];
        }
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
    h->sq_min = h->sq_step = h->sq_rn = NULL;
    h->sq_codes = NULL;
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
