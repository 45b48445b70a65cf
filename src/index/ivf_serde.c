/*
 * ivf_serde.c — IVF serialisation, validated loading, memory accounting, free.
 *
 * Format (version 1), little-endian:
 *
 *   offset  size  field
 *   0       4     magic 0x20465649 ("IVF ")
 *   4       4     format version (1)
 *   8       4     kind (1 FLAT, 2 SQ8, 3 PQ, 4 BIN, 5 SCANN)
 *   12      4     metric (kite_metric)
 *   16      4     dim
 *   20      4     nlist (1..65536, <= max(n, 1))
 *   24      8     n (rows)
 *   32      4     pq m      (PQ; else 0)
 *   36      4     pq nbits  (PQ; else 0)
 *   40      4     flags: bit 0 = SCANN re-ranks with raw data; other bits 0
 *   44            centroids: float kinds nlist*dim f32; BIN nlist*dim/8 bytes.
 *                 Builds since the half-precision centroids write values that are
 *                 exactly s * fp16 (ivf_cent.c), kept as halves on load; other
 *                 (older) files keep fp32 centroids.
 *   ...           list_off: (nlist + 1) u32, list_off[0] = 0, non-decreasing,
 *                 list_off[nlist] = n
 *   ...           ids: n u32, a permutation of 0..n-1
 *   SQ8:          min dim f32, scale dim f32, codes n*dim bytes
 *   PQ, SCANN:    codebooks m * 2^nbits * (dim/m) f32, codes n * code_bytes
 *
 * Nothing follows.  Load rule: every field is checked (finite floats, list
 * offsets, the id permutation); violations are KITE_ECORRUPT, never a crash.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "endian.h"
#include "err.h"
#include "ivf.h"

#define IVF_HEADER_BYTES 44

void ivf_free(struct ivf *ix)
{
    if (!ix)
        return;
    vspace_free(&ix->space);
    kite_free(ix->centroids);
    kite_free(ix->hcent);
    kite_free(ix->cnorm);
    kite_free(ix->bcentroids);
    kite_free(ix->list_off);
    kite_free(ix->ids);
    kite_free(ix->sq_min);
    kite_free(ix->sq_scale);
    kite_free(ix->codes);
    kite_free_aligned(ix->lvec);
    ivf_fs_free(ix);
    ivf_cq_free(&ix->cq);
    pq_free(&ix->pq);
    kite_free(ix);
}

static size_t code_bytes(const struct ivf *ix)
{
    if (ix->kind == IVF_KIND_SQ8)
        return ix->space.dim;
    if (ivf_uses_pq(ix))
        return pq_code_bytes(&ix->pq);
    return 0;
}

size_t ivf_memory_bytes(const struct ivf *ix)
{
    if (!ix)
        return 0;
    size_t dim = ix->space.dim, n = ix->space.n, b = sizeof(*ix);
    b += ix->kind == IVF_KIND_BIN ? ix->nlist * dim / 8 : ivf_cent_bytes(ix); /* halves: 2/dim */
    b += ((size_t)ix->nlist + 1 + n) * sizeof(uint32_t);
    if (ix->cnorm)
        b += ix->nlist * sizeof(float);
    if (ix->codes)
        b += n * code_bytes(ix);
    if (ix->kind == IVF_KIND_SQ8)
        b += 2 * dim * sizeof(float);
    if (ivf_uses_pq(ix))
        b += pq_memory_bytes(&ix->pq);
    if (ix->space.owned)
        b += n * ix->space.row_bytes;
    if (ix->lvec)
        b += n * ix->space.row_bytes;
    b += ivf_fs_memory_bytes(ix);
    b += ivf_cq_memory_bytes(&ix->cq);
    if (ix->space.inv_norm)
        b += n * sizeof(float);
    return b;
}

static int put_floats(struct kite_buf *out, const float *f, size_t cnt)
{
    int rc = kite_buf_reserve(out, cnt * 4);
    for (size_t i = 0; i < cnt && rc == KITE_OK; i++) {
        uint8_t t[4];
        kite_put_f32(t, f[i]);
        rc = kite_buf_append(out, t, 4);
    }
    return rc;
}

static int put_u32s(struct kite_buf *out, const uint32_t *v, size_t cnt)
{
    int rc = kite_buf_reserve(out, cnt * 4);
    for (size_t i = 0; i < cnt && rc == KITE_OK; i++)
        rc = kite_buf_append_u32(out, v[i]);
    return rc;
}

int ivf_serialize(const struct ivf *ix, struct kite_buf *out)
{
    int rc;
    uint8_t h[IVF_HEADER_BYTES] = {0};
    size_t dim = ix->space.dim, n = ix->space.n;
    kite_put_u32(h, IVF_MAGIC);
    kite_put_u32(h + 4, IVF_FORMAT_VERSION);
    kite_put_u32(h + 8, (uint32_t)ix->kind);
    kite_put_u32(h + 12, (uint32_t)ix->space.metric);
    kite_put_u32(h + 16, ix->space.dim);
    kite_put_u32(h + 20, ix->nlist);
    kite_put_u64(h + 24, n);
    if (ivf_uses_pq(ix)) {
        kite_put_u32(h + 32, ix->pq.m);
        kite_put_u32(h + 36, ix->pq.nbits);
    }
    kite_put_u32(h + 40, ix->flags);
    if ((rc = kite_buf_append(out, h, sizeof(h))))
        return rc;
    if (ix->kind == IVF_KIND_BIN) {
        rc = kite_buf_append(out, ix->bcentroids, ix->nlist * dim / 8);
    } else if (ix->centroids) {
        rc = put_floats(out, ix->centroids, ix->nlist * dim);
    } else { /* the half form's exact fp32 values, a block of lists at a time */
        float *cb = kite_malloc(64 * dim * sizeof(float));
        if (!cb)
            return KITE_ENOMEM;
        for (uint32_t l0 = 0; l0 < ix->nlist && rc == KITE_OK; l0 += 64) {
            uint32_t cnt = ix->nlist - l0 < 64 ? ix->nlist - l0 : 64;
            rc = put_floats(out, ivf_cent_rows(ix, l0, cnt, cb), (size_t)cnt * dim);
        }
        kite_free(cb);
    }
    if (rc || (rc = put_u32s(out, ix->list_off, (size_t)ix->nlist + 1)) ||
        (rc = put_u32s(out, ix->ids, n)))
        return rc;
    if (ix->kind == IVF_KIND_SQ8) {
        if ((rc = put_floats(out, ix->sq_min, dim)) || (rc = put_floats(out, ix->sq_scale, dim)))
            return rc;
    } else if (ivf_uses_pq(ix)) {
        if ((rc = put_floats(out, ix->pq.centroids,
                             (size_t)ix->pq.m * ix->pq.ksub * ix->pq.dsub)))
            return rc;
    }
    if (ix->codes || !ix->fs_codes)
        return kite_buf_append(out, ix->codes, n * code_bytes(ix));
    /* SCANN: the fast-scan blocks hold the only copy; write rows in list order. */
    size_t cb = code_bytes(ix);
    if ((rc = kite_buf_reserve(out, n * cb)))
        return rc;
    uint8_t *code = kite_malloc(cb + 1);
    if (!code)
        return KITE_ENOMEM;
    for (uint32_t l = 0; l < ix->nlist && rc == KITE_OK; l++)
        for (uint32_t p = ix->list_off[l]; p < ix->list_off[l + 1] && rc == KITE_OK; p++) {
            ivf_fs_get_code(ix, l, p, code);
            rc = kite_buf_append(out, code, cb);
        }
    kite_free(code);
    return rc;
}

/* ------------------------------------------------------------- loading */

struct reader {
    const uint8_t *p;
    size_t len, pos;
};

static int take(struct reader *r, size_t n, const uint8_t **out, kite_err *err)
{
    if (r->len - r->pos < n)
        return kite_err_set(err, KITE_ECORRUPT, "IVF data truncated at byte %zu (need %zu more)",
                            r->pos, n);
    *out = r->p + r->pos;
    r->pos += n;
    return KITE_OK;
}

static int read_floats(struct reader *r, float **dst, size_t cnt, kite_err *err)
{
    const uint8_t *p = NULL;
    size_t bytes;
    if (!kite_mul_size(cnt, 4, &bytes))
        return kite_err_set(err, KITE_ECORRUPT, "IVF float array too large");
    int rc = take(r, bytes, &p, err);
    if (rc)
        return rc;
    *dst = kite_malloc(bytes + 4);
    if (!*dst)
        return kite_err_set(err, KITE_ENOMEM, "out of memory loading IVF");
    for (size_t i = 0; i < cnt; i++) {
        float f = kite_get_f32(p + 4 * i);
        if (!isfinite(f))
            return kite_err_set(err, KITE_ECORRUPT, "IVF data holds a non-finite float");
        (*dst)[i] = f;
    }
    return KITE_OK;
}

static int read_lists(struct ivf *ix, struct reader *r, kite_err *err)
{
    const uint8_t *p = NULL;
    size_t n = ix->space.n, nl = (size_t)ix->nlist + 1;
    int rc;
    if ((rc = take(r, nl * 4, &p, err)))
        return rc;
    ix->list_off = kite_malloc(nl * 4);
    ix->ids = kite_malloc((n ? n : 1) * 4);
    uint8_t *seen = kite_calloc(n ? n : 1, 1);
    if (!ix->list_off || !ix->ids || !seen) {
        kite_free(seen);
        return kite_err_set(err, KITE_ENOMEM, "out of memory loading IVF lists");
    }
    for (size_t j = 0; j < nl; j++) {
        ix->list_off[j] = kite_get_u32(p + 4 * j);
        if ((j == 0 && ix->list_off[0] != 0) || (j > 0 && ix->list_off[j] < ix->list_off[j - 1]) ||
            ix->list_off[j] > n) {
            kite_free(seen);
            return kite_err_set(err, KITE_ECORRUPT, "IVF list offset %zu is invalid", j);
        }
    }
    if (ix->list_off[nl - 1] != n) {
        kite_free(seen);
        return kite_err_set(err, KITE_ECORRUPT, "IVF lists hold %u rows, expected %zu",
                            ix->list_off[nl - 1], n);
    }
    if ((rc = take(r, n * 4, &p, err))) {
        kite_free(seen);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t id = kite_get_u32(p + 4 * i);
        if (id >= n || seen[id]) {
            kite_free(seen);
            return kite_err_set(err, KITE_ECORRUPT,
                                "IVF row id %u at position %zu is out of range or repeated", id,
                                i);
        }
        seen[id] = 1;
        ix->ids[i] = id;
    }
    kite_free(seen);
    return KITE_OK;
}

static int check_header(const uint8_t *d, size_t len, int metric, const struct vec_view *v,
                        kite_err *err)
{
    if (len < IVF_HEADER_BYTES)
        return kite_err_set(err, KITE_ECORRUPT, "IVF data is %zu bytes, expected at least %d",
                            len, IVF_HEADER_BYTES);
    if (kite_get_u32(d) != IVF_MAGIC)
        return kite_err_set(err, KITE_ECORRUPT, "not IVF data: bad magic 0x%08x",
                            kite_get_u32(d));
    if (kite_get_u32(d + 4) != IVF_FORMAT_VERSION)
        return kite_err_set(err, KITE_ECORRUPT, "IVF format version %u, expected %u",
                            kite_get_u32(d + 4), IVF_FORMAT_VERSION);
    uint32_t kind = kite_get_u32(d + 8);
    if (kind < IVF_KIND_FLAT || kind > IVF_KIND_SCANN)
        return kite_err_set(err, KITE_ECORRUPT, "IVF kind %u is unknown", kind);
    if (kite_get_u32(d + 12) != (uint32_t)metric)
        return kite_err_set(err, KITE_ECORRUPT, "IVF data built for metric %u, not %d",
                            kite_get_u32(d + 12), metric);
    if (kite_get_u32(d + 16) != v->dim || kite_get_u64(d + 24) != v->n)
        return kite_err_set(err, KITE_ECORRUPT,
                            "IVF data covers %llu rows of dim %u, segment has %zu of dim %u",
                            (unsigned long long)kite_get_u64(d + 24), kite_get_u32(d + 16),
                            v->n, v->dim);
    uint32_t nlist = kite_get_u32(d + 20);
    if (nlist < 1 || nlist > 65536 || nlist > (v->n ? v->n : 1))
        return kite_err_set(err, KITE_ECORRUPT, "IVF nlist %u is invalid for %zu rows", nlist,
                            v->n);
    return KITE_OK;
}

int ivf_deserialize(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                    struct ivf **out, kite_err *err)
{
    int rc;
    struct ivf *ix;
    struct reader r = {data, len, IVF_HEADER_BYTES};
    const uint8_t *p = NULL;

    *out = NULL;
    if ((rc = check_header(data, len, metric, v, err)))
        return rc;
    ix = kite_calloc(1, sizeof(*ix));
    if (!ix)
        return kite_err_set(err, KITE_ENOMEM, "out of memory loading IVF");
    ix->kind = (int)kite_get_u32(data + 8);
    ix->nlist = kite_get_u32(data + 20);
    ix->flags = kite_get_u32(data + 40);
    if ((ix->flags & ~IVF_FLAG_RAW_DATA) ||
        (ix->flags && ix->kind != IVF_KIND_SCANN)) {
        rc = kite_err_set(err, KITE_ECORRUPT, "IVF flags 0x%x are invalid", ix->flags);
        goto fail;
    }
    if ((rc = vspace_init(&ix->space, v, metric, err)))
        goto fail;
    if ((ix->kind == IVF_KIND_BIN) != vspace_is_binary(&ix->space)) {
        rc = kite_err_set(err, KITE_ECORRUPT, "IVF kind %d does not match the vectors", ix->kind);
        goto fail;
    }
    size_t dim = v->dim, n = v->n;
    if (ix->kind == IVF_KIND_BIN) {
        if ((rc = take(&r, ix->nlist * dim / 8, &p, err)))
            goto fail;
        ix->bcentroids = kite_malloc(ix->nlist * dim / 8 + 1);
        if (!ix->bcentroids) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory loading IVF");
            goto fail;
        }
        memcpy(ix->bcentroids, p, ix->nlist * dim / 8);
    } else {
        float *c = NULL;
        if ((rc = read_floats(&r, &c, ix->nlist * dim, err))) {
            kite_free(c);
            goto fail;
        }
        /* Half form when every value is exactly one (files from the half-form
         * build), else the fp32 array as written (older files; ivf_cent.c). */
        if ((rc = ivf_cent_adopt(ix, c, false, err)))
            goto fail;
    }
    if ((rc = read_lists(ix, &r, err)))
        goto fail;
    if (ix->kind == IVF_KIND_SQ8) {
        if ((rc = read_floats(&r, &ix->sq_min, dim, err)) ||
            (rc = read_floats(&r, &ix->sq_scale, dim, err)))
            goto fail;
    } else if (ivf_uses_pq(ix)) {
        uint32_t m = kite_get_u32(data + 32), nbits = kite_get_u32(data + 36);
        if (m == 0 || dim % m != 0 || nbits < 1 || nbits > IVF_PQ_MAX_NBITS ||
            (ix->kind == IVF_KIND_SCANN && (m * 2 != dim || nbits != 4))) {
            rc = kite_err_set(err, KITE_ECORRUPT, "IVF_PQ m %u / nbits %u invalid for dim %zu",
                              m, nbits, dim);
            goto fail;
        }
        if ((rc = pq_init(&ix->pq, (uint32_t)dim, m, nbits, err)))
            goto fail;
        kite_free(ix->pq.centroids);
        ix->pq.centroids = NULL;
        if ((rc = read_floats(&r, &ix->pq.centroids, (size_t)m * ix->pq.ksub * ix->pq.dsub,
                              err)) ||
            (rc = pq_ready(&ix->pq, err)))
            goto fail;
    }
    size_t cb = code_bytes(ix);
    if (cb) {
        if ((rc = take(&r, n * cb, &p, err)))
            goto fail;
        ix->codes = kite_malloc(n * cb + 1);
        if (!ix->codes) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory loading IVF codes");
            goto fail;
        }
        memcpy(ix->codes, p, n * cb);
        /* PQ codes of 9..15 bits must stay below ksub. */
        if (ivf_uses_pq(ix) && ix->pq.nbits > 8 && ix->pq.nbits < 16)
            for (size_t i = 0; i < n * ix->pq.m; i++)
                if ((ix->codes[2 * i] | (uint32_t)ix->codes[2 * i + 1] << 8) >= ix->pq.ksub) {
                    rc = kite_err_set(err, KITE_ECORRUPT, "IVF_PQ code out of range");
                    goto fail;
                }
        if (ivf_uses_pq(ix) && ix->pq.nbits < 8)
            for (size_t i = 0; i < n * ix->pq.m; i++)
                if (ix->codes[i] >= ix->pq.ksub) {
                    rc = kite_err_set(err, KITE_ECORRUPT, "IVF_PQ code out of range");
                    goto fail;
                }
    }
    if (r.pos != len) {
        rc = kite_err_set(err, KITE_ECORRUPT, "IVF data has %zu trailing bytes", len - r.pos);
        goto fail;
    }
    if ((rc = ivf_finish_lists(ix, err)) || (rc = ivf_fs_init(ix, err)))
        goto fail;
    *out = ix;
    return KITE_OK;
fail:
    ivf_free(ix);
    return rc;
}
