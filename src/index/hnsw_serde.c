/*
 * hnsw_serde.c — HNSW serialisation, loading with full validation, and the
 * graph invariant checker.
 *
 * Format (version 2; version 1 is still read), all integers little-endian:
 *
 *   offset  size  field
 *   0       4     magic 0x57534E48 ("HNSW")
 *   4       4     format version (2)
 *   8       4     metric (kite_metric)
 *   12      4     dim
 *   16      8     n (rows)
 *   24      4     m
 *   28      4     m0 (== 2 * m)
 *   32      4     efConstruction
 *   36      4     max_level (< 32)
 *   40      4     entry row (0 when n == 0)
 *   44      4     flags: 0 = walk on 8-bit codes, 1 = float walk (no codes), 2 = split
 *                 walk (16-bit row planes, derived on load like the codes); nothing else.
 *                 Version 1 had a reserved 0 here (= flags 0, the quantized walk).
 *   48      n     level of each row (u8)
 *   ...           level-0 lists, row by row: u32 count (<= m0), count × u32 row
 *   ...           upper lists, for each row with level L > 0, levels 1..L in order:
 *                 u32 count (<= m), count × u32 row
 *
 * Nothing follows the last list.  The vectors are not stored: they are the
 * segment's, passed to vindex_deserialize.
 *
 * Load rule: every count, level, id and the total length are checked; a list
 * naming its own row, a row out of range or a duplicate neighbour is
 * KITE_ECORRUPT — never an assert or an out-of-bounds read (STYLE.md §5).
 */
#include <string.h>

#include "alloc.h"
#include "endian.h"
#include "err.h"
#include "hnsw.h"

#define HNSW_HEADER_BYTES 48

static int put_list(struct kite_buf *out, const uint32_t *l)
{
    int rc = kite_buf_append_u32(out, l[0]);
    for (uint32_t j = 1; j <= l[0] && rc == KITE_OK; j++)
        rc = kite_buf_append_u32(out, l[j]);
    return rc;
}

int hnsw_serialize(const struct hnsw *h, struct kite_buf *out)
{
    int rc;
    uint8_t hdr[HNSW_HEADER_BYTES] = {0};
    kite_put_u32(hdr + 0, HNSW_MAGIC);
    kite_put_u32(hdr + 4, HNSW_FORMAT_VERSION);
    kite_put_u32(hdr + 8, (uint32_t)h->space.metric);
    kite_put_u32(hdr + 12, h->space.dim);
    kite_put_u64(hdr + 16, h->n);
    kite_put_u32(hdr + 24, h->m);
    kite_put_u32(hdr + 28, h->m0);
    kite_put_u32(hdr + 32, h->ef_construction);
    kite_put_u32(hdr + 36, (uint32_t)h->max_level);
    kite_put_u32(hdr + 40, h->entry);
    kite_put_u32(hdr + 44, h->flags);
    if ((rc = kite_buf_append(out, hdr, sizeof(hdr))) ||
        (rc = kite_buf_append(out, h->levels, h->n)))
        return rc;
    for (size_t i = 0; i < h->n; i++)
        if ((rc = put_list(out, hnsw_links(h, (uint32_t)i, 0))))
            return rc;
    for (size_t i = 0; i < h->n; i++)
        for (int lev = 1; lev <= h->levels[i]; lev++)
            if ((rc = put_list(out, hnsw_links(h, (uint32_t)i, lev))))
                return rc;
    return KITE_OK;
}

/* Read one list into dst (cap entries) with range checks.  *pos advances. */
static int get_list(const uint8_t *data, size_t len, size_t *pos, uint32_t *dst, uint32_t cap,
                    uint32_t self, size_t n, uint32_t *stamp, uint32_t *tag, kite_err *err)
{
    /* Duplicate detection: stamp[id] == tag marks ids seen in this list. */
    if (++*tag == 0) {
        memset(stamp, 0, n * sizeof(uint32_t));
        *tag = 1;
    }
    if (len - *pos < 4)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW data truncated at byte %zu", *pos);
    uint32_t cnt = kite_get_u32(data + *pos);
    *pos += 4;
    if (cnt > cap)
        return kite_err_set(err, KITE_ECORRUPT,
                            "HNSW row %u has %u links, expected at most %u", self, cnt, cap);
    if ((len - *pos) / 4 < cnt)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW data truncated at byte %zu", *pos);
    dst[0] = cnt;
    for (uint32_t j = 0; j < cnt; j++) {
        uint32_t id = kite_get_u32(data + *pos + 4 * (size_t)j);
        if (id >= n || id == self)
            return kite_err_set(err, KITE_ECORRUPT,
                                "HNSW row %u links to row %u (expected a row < %zu, not itself)",
                                self, id, n);
        if (stamp[id] == *tag)
            return kite_err_set(err, KITE_ECORRUPT, "HNSW row %u links to row %u twice", self,
                                id);
        stamp[id] = *tag;
        dst[j + 1] = id;
    }
    *pos += 4 * (size_t)cnt;
    return KITE_OK;
}

static int check_header(const uint8_t *data, size_t len, int metric, const struct vec_view *v,
                        kite_err *err)
{
    if (len < HNSW_HEADER_BYTES)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW data is %zu bytes, expected at least %d",
                            len, HNSW_HEADER_BYTES);
    if (kite_get_u32(data) != HNSW_MAGIC)
        return kite_err_set(err, KITE_ECORRUPT, "not HNSW data: bad magic 0x%08x",
                            kite_get_u32(data));
    uint32_t version = kite_get_u32(data + 4);
    if (version != 1 && version != HNSW_FORMAT_VERSION)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW format version %u, expected 1 or %u",
                            version, HNSW_FORMAT_VERSION);
    uint32_t flags = kite_get_u32(data + 44);
    if ((version == 1 && flags != 0) ||
        (flags != 0 && flags != HNSW_FLAG_FLOAT_WALK && flags != HNSW_FLAG_SPLIT_WALK))
        return kite_err_set(err, KITE_ECORRUPT,
                            "HNSW header word 44 is 0x%x, expected %s", flags,
                            version == 1 ? "0 (version 1)" : "flags 0, 1 or 2");
    if (kite_get_u32(data + 8) != (uint32_t)metric)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW data built for metric %u, not %d",
                            kite_get_u32(data + 8), metric);
    if (kite_get_u32(data + 12) != v->dim || kite_get_u64(data + 16) != v->n)
        return kite_err_set(err, KITE_ECORRUPT,
                            "HNSW data covers %llu rows of dim %u, segment has %zu of dim %u",
                            (unsigned long long)kite_get_u64(data + 16), kite_get_u32(data + 12),
                            v->n, v->dim);
    uint32_t m = kite_get_u32(data + 24), m0 = kite_get_u32(data + 28);
    if (m < HNSW_MIN_M || m > HNSW_MAX_M || m0 != 2 * m || kite_get_u32(data + 32) == 0)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW parameters M=%u m0=%u efConstruction=%u "
                                                "are invalid",
                            m, m0, kite_get_u32(data + 32));
    if (kite_get_u32(data + 36) >= HNSW_MAX_LEVEL)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW max level %u (expected < %d)",
                            kite_get_u32(data + 36), HNSW_MAX_LEVEL);
    if (len - HNSW_HEADER_BYTES < v->n)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW data truncated in the level table");
    return KITE_OK;
}

int hnsw_deserialize(int metric, const struct vec_view *v, const uint8_t *data, size_t len,
                     struct hnsw **out, kite_err *err)
{
    int rc;
    struct vspace sp;
    struct hnsw *h = NULL;
    uint32_t *stamp = NULL;
    size_t pos;
    uint32_t tag = 0;

    *out = NULL;
    if ((rc = check_header(data, len, metric, v, err)))
        return rc;
    if ((rc = vspace_init(&sp, v, metric, err)))
        return rc;
    if ((rc = hnsw_alloc(&h, &sp, kite_get_u32(data + 24), kite_get_u32(data + 32), err))) {
        vspace_free(&sp);
        return rc;
    }
    h->max_level = (int)kite_get_u32(data + 36);
    h->entry = kite_get_u32(data + 40);
    h->flags = kite_get_u32(data + 44);
    memcpy(h->levels, data + HNSW_HEADER_BYTES, h->n);
    pos = HNSW_HEADER_BYTES + h->n;
    if (h->n > 0 && (h->entry >= h->n || h->levels[h->entry] != h->max_level)) {
        rc = kite_err_set(err, KITE_ECORRUPT, "HNSW entry row %u is invalid", h->entry);
        goto fail;
    }
    stamp = kite_calloc(h->n ? h->n : 1, sizeof(uint32_t));
    if (!stamp) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory loading HNSW");
        goto fail;
    }
    for (size_t i = 0; i < h->n; i++) {
        if (h->levels[i] > h->max_level) {
            rc = kite_err_set(err, KITE_ECORRUPT, "HNSW row %zu has level %u above max %d", i,
                              h->levels[i], h->max_level);
            goto fail;
        }
        if ((rc = get_list(data, len, &pos, hnsw_links(h, (uint32_t)i, 0), h->m0, (uint32_t)i,
                           h->n, stamp, &tag, err)))
            goto fail;
    }
    if ((rc = hnsw_upper_alloc(h, err)))
        goto fail;
    for (size_t i = 0; i < h->n; i++) {
        if (!h->levels[i])
            continue;
        for (int lev = 1; lev <= h->levels[i]; lev++)
            if ((rc = get_list(data, len, &pos, hnsw_links(h, (uint32_t)i, lev), h->m,
                               (uint32_t)i, h->n, stamp, &tag, err)))
                goto fail;
    }
    if (pos != len) {
        rc = kite_err_set(err, KITE_ECORRUPT, "HNSW data has %zu trailing bytes", len - pos);
        goto fail;
    }
    if ((rc = hnsw_validate(h, err)) || (rc = hnsw_sq_init(h, err)))
        goto fail;
    kite_free(stamp);
    *out = h;
    return KITE_OK;
fail:
    kite_free(stamp);
    hnsw_free(h);
    return rc;
}

int hnsw_validate(const struct hnsw *h, kite_err *err)
{
    if (h->n == 0)
        return KITE_OK;
    if (h->max_level < 0 || h->max_level >= HNSW_MAX_LEVEL || h->entry >= h->n ||
        h->levels[h->entry] != h->max_level)
        return kite_err_set(err, KITE_ECORRUPT, "HNSW entry %u / max level %d inconsistent",
                            h->entry, h->max_level);
    for (size_t i = 0; i < h->n; i++) {
        if (h->levels[i] > h->max_level)
            return kite_err_set(err, KITE_ECORRUPT, "HNSW row %zu level %u > max level %d", i,
                                h->levels[i], h->max_level);
        for (int lev = 0; lev <= h->levels[i]; lev++) {
            const uint32_t *l = hnsw_links(h, (uint32_t)i, lev);
            uint32_t cap = lev ? h->m : h->m0;
            if (l[0] > cap)
                return kite_err_set(err, KITE_ECORRUPT, "HNSW row %zu level %d has %u links > %u",
                                    i, lev, l[0], cap);
            for (uint32_t j = 1; j <= l[0]; j++) {
                if (l[j] >= h->n || l[j] == i)
                    return kite_err_set(err, KITE_ECORRUPT,
                                        "HNSW row %zu level %d links to %u", i, lev, l[j]);
                /* Upper-level links must point at nodes that exist on that level. */
                if (h->levels[l[j]] < lev)
                    return kite_err_set(err, KITE_ECORRUPT,
                                        "HNSW row %zu level %d links to row %u of level %u", i,
                                        lev, l[j], h->levels[l[j]]);
            }
        }
    }
    return KITE_OK;
}
