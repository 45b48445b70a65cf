/*
 * segment.c — column buffers, growing and sealed segments, and the column
 * encoding of segment and delete files.
 *
 * A growing segment keeps one struct colbuf per schema field and appends
 * batches to them.  Sealing sorts the rows by primary key, writes a segfile
 * (magic "KSEG" for the db layer, see docs/FORMAT.md "Catalog, manifest and
 * segment contents") and reopens it: a sealed segment's kite_column views
 * point straight into the read-only mapping, so vectors are used in place.
 *
 * Segment file blobs (kind tags in parentheses):
 *   "meta" (1)      JSON {"version":1,"id":..,"partition_id":..,"rows":..,"n_fields":..}
 *   "f<i>.d" (2)    field i data: fixed-width values (n * width bytes, LE) or
 *                   var-len bytes
 *   "f<i>.o" (3)    field i offsets (var-len only): n+1 u64 LE, offsets[0] == 0
 *   "f<i>.v" (4)    field i validity (nullable only): n bytes, 0 = null
 * Delete files ("KDEL"): "meta" JSON {"segment":..,"rows":..,"lsn":..} and
 * "bits" (5): ceil(rows/64) u64 LE words, bit r set = row r deleted.
 *
 * Invariants:
 *  1. Every view in a sealed segment was bounds-checked against the row count
 *     on open (lengths, offsets monotonic and within the data blob).
 *  2. deleted_words * 64 >= n at all times.
 *
 * Threading model: segments belong to their collection and are guarded by
 * dcoll->lock (appends and deletes under the exclusive lock, reads shared).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "endian.h"

enum { BLOB_META = 1, BLOB_DATA = 2, BLOB_OFFS = 3, BLOB_VALID = 4, BLOB_BITS = 5 };

static const uint64_t zero_offset = 0;

/* ============================================================ colbuf */

void colbuf_init(struct colbuf *c, int dtype, int element_type, uint32_t dim, bool has_valid)
{
    memset(c, 0, sizeof(*c));
    c->dtype = dtype;
    c->element_type = element_type;
    c->dim = dim;
    c->width = kite_dtype_row_bytes(dtype, dim);
    c->has_valid = has_valid;
    kite_buf_init(&c->data, 0);
    kite_buf_init(&c->offs, 0);
    kite_buf_init(&c->valid, 0);
}

void colbuf_free(struct colbuf *c)
{
    if (!c)
        return;
    kite_buf_free(&c->data);
    kite_buf_free(&c->offs);
    kite_buf_free(&c->valid);
    c->n = 0;
}

int colbuf_append_val(struct colbuf *c, const void *val, size_t len)
{
    int rc;
    if (c->has_valid) {
        rc = kite_buf_append_u8(&c->valid, val ? 1 : 0);
        if (rc)
            return rc;
    }
    if (c->width) {
        if (val)
            rc = kite_buf_append(&c->data, val, c->width);
        else {
            rc = kite_buf_reserve(&c->data, c->width);
            if (!rc) {
                memset(c->data.data + c->data.len, 0, c->width);
                c->data.len += c->width;
            }
        }
        if (rc)
            return rc;
    } else {
        if (c->offs.len == 0) {
            rc = kite_buf_append_u64(&c->offs, 0);
            if (rc)
                return rc;
        }
        if (val && len) {
            rc = kite_buf_append(&c->data, val, len);
            if (rc)
                return rc;
        }
        uint64_t end = c->data.len;
        rc = kite_buf_append(&c->offs, &end, sizeof(end));
        if (rc)
            return rc;
    }
    c->n++;
    return KITE_OK;
}

bool db_col_is_null(const kite_column *c, size_t row)
{
    return c->valid && !c->valid[row];
}

const void *db_col_fixed(const kite_column *c, size_t row, size_t width)
{
    return (const uint8_t *)c->data + row * width;
}

const char *db_col_var(const kite_column *c, size_t row, size_t *len)
{
    *len = (size_t)(c->offsets[row + 1] - c->offsets[row]);
    return (const char *)c->data + c->offsets[row];
}

int colbuf_append_row(struct colbuf *c, const kite_column *src, size_t row)
{
    if (db_col_is_null(src, row))
        return colbuf_append_val(c, NULL, 0);
    if (c->width)
        return colbuf_append_val(c, db_col_fixed(src, row, c->width), c->width);
    size_t len;
    const char *p = db_col_var(src, row, &len);
    return colbuf_append_val(c, len ? p : "", len);
}

int colbuf_append_col(struct colbuf *c, const kite_column *src)
{
    for (size_t r = 0; r < src->n; r++) {
        int rc = colbuf_append_row(c, src, r);
        if (rc)
            return rc;
    }
    return KITE_OK;
}

void colbuf_view(const struct colbuf *c, const char *name, kite_column *out)
{
    memset(out, 0, sizeof(*out));
    out->name = name;
    out->dtype = c->dtype;
    out->element_type = c->element_type;
    out->dim = c->dim;
    out->n = c->n;
    out->data = c->data.data;
    if (!c->width)
        out->offsets = c->offs.len ? (const uint64_t *)c->offs.data : &zero_offset;
    out->valid = c->has_valid ? c->valid.data : NULL;
}

void colbuf_detach(struct colbuf *c, const char *name, kite_column *out)
{
    size_t len;
    memset(out, 0, sizeof(*out));
    if (!c->width && c->offs.len == 0)
        (void)kite_buf_append_u64(&c->offs, 0);
    out->name = name ? kite_strdup(name) : NULL;
    out->dtype = c->dtype;
    out->element_type = c->element_type;
    out->dim = c->dim;
    out->n = c->n;
    out->data = kite_buf_detach(&c->data, &len);
    if (!c->width)
        out->offsets = (const uint64_t *)kite_buf_detach(&c->offs, &len);
    out->valid = c->has_valid ? kite_buf_detach(&c->valid, &len) : NULL;
    colbuf_free(c);
}

void db_column_free(kite_column *col)
{
    if (!col)
        return;
    kite_free((void *)col->name);
    kite_free((void *)col->data);
    kite_free((void *)col->offsets);
    kite_free((void *)col->valid);
    memset(col, 0, sizeof(*col));
}

/* ============================================================ segments */

static struct dseg *seg_alloc(size_t n_fields, uint64_t id, int64_t part_id)
{
    struct dseg *s = kite_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->part_id = part_id;
    s->n_fields = n_fields;
    s->cols = kite_calloc(n_fields, sizeof(kite_column));
    s->ix = kite_calloc(n_fields, sizeof(struct vindex *));
    s->ix_file = kite_calloc(n_fields, sizeof(char *));
    if (!s->cols || !s->ix || !s->ix_file) {
        seg_free(s);
        return NULL;
    }
    return s;
}

struct dseg *seg_new_growing(const struct dcoll *c, uint64_t id, int64_t part_id)
{
    struct dseg *s = seg_alloc(c->schema.n_fields, id, part_id);
    if (!s)
        return NULL;
    s->bufs = kite_calloc(c->schema.n_fields, sizeof(struct colbuf));
    if (!s->bufs) {
        seg_free(s);
        return NULL;
    }
    for (size_t i = 0; i < c->schema.n_fields; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        colbuf_init(&s->bufs[i], f->dtype, f->element_type, (uint32_t)f->dim, f->nullable);
        colbuf_view(&s->bufs[i], f->name, &s->cols[i]);
    }
    return s;
}

void seg_free(struct dseg *s)
{
    if (!s)
        return;
    if (s->bufs)
        for (size_t i = 0; i < s->n_fields; i++)
            colbuf_free(&s->bufs[i]);
    if (s->ix)
        for (size_t i = 0; i < s->n_fields; i++)
            vindex_free(s->ix[i]);
    if (s->ix_file)
        for (size_t i = 0; i < s->n_fields; i++)
            kite_free(s->ix_file[i]);
    kite_free(s->ix);
    kite_free(s->ix_file);
    kite_free(s->bufs);
    kite_free(s->cols);
    kite_free(s->deleted);
    kite_free(s->del_file);
    kite_free(s->stale_del_file);
    segfile_close(s->sf);
    kite_free(s);
}

static int ensure_deleted_cap(struct dseg *s, size_t rows)
{
    size_t words = (rows + 63) / 64;
    if (words <= s->deleted_words)
        return KITE_OK;
    size_t nw = s->deleted_words ? s->deleted_words : 16;
    while (nw < words)
        nw *= 2;
    uint64_t *d = kite_realloc(s->deleted, nw * sizeof(uint64_t));
    if (!d)
        return KITE_ENOMEM;
    memset(d + s->deleted_words, 0, (nw - s->deleted_words) * sizeof(uint64_t));
    s->deleted = d;
    s->deleted_words = nw;
    return KITE_OK;
}

int seg_mark_deleted(struct dseg *s, size_t row)
{
    if (seg_is_deleted(s, row))
        return KITE_OK;
    int rc = ensure_deleted_cap(s, s->n);
    if (rc)
        return rc;
    s->deleted[row / 64] |= (uint64_t)1 << (row % 64);
    s->n_deleted++;
    s->del_dirty = true;
    return KITE_OK;
}

bool seg_is_deleted(const struct dseg *s, size_t row)
{
    if (row / 64 >= s->deleted_words)
        return false;
    return (s->deleted[row / 64] >> (row % 64)) & 1;
}

int seg_append(struct dseg *s, const struct colbuf *cols, size_t n_rows)
{
    int rc = ensure_deleted_cap(s, s->n + n_rows);
    if (rc)
        return rc;
    for (size_t i = 0; i < s->n_fields; i++) {
        kite_column src;
        colbuf_view(&cols[i], NULL, &src);
        size_t before = s->bufs[i].data.len;
        rc = colbuf_append_col(&s->bufs[i], &src);
        if (rc)
            return rc; /* the caller marks the collection broken: columns may differ */
        s->bytes += s->bufs[i].data.len - before;
        const char *name = s->cols[i].name;
        colbuf_view(&s->bufs[i], name, &s->cols[i]);
    }
    s->n += n_rows;
    return KITE_OK;
}

char *seg_file_name(uint64_t id)
{
    return db_strfmt("seg-%020" PRIu64 ".kseg", id);
}

/* Order of rows by primary key (stable), for sealing. */
static _Thread_local const kite_column *sort_pk;

static int cmp_pk_rows(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c;
    if (sort_pk->dtype == KITE_DT_INT64) {
        int64_t u = ((const int64_t *)sort_pk->data)[x], v = ((const int64_t *)sort_pk->data)[y];
        c = (u > v) - (u < v);
    } else {
        size_t lu, lv;
        const char *u = db_col_var(sort_pk, x, &lu), *v = db_col_var(sort_pk, y, &lv);
        size_t m = lu < lv ? lu : lv;
        c = memcmp(u, v, m);
        if (c == 0)
            c = (lu > lv) - (lu < lv);
    }
    if (c == 0)
        c = (x > y) - (x < y);
    return c;
}

static int write_sealed(struct dcoll *c, const struct dseg *s, const struct colbuf *cols,
                        size_t n, const char *path, kite_err *err)
{
    int rc;
    size_t nf = c->schema.n_fields;
    struct seg_blob *blobs = kite_calloc(nf * 3 + 1, sizeof(*blobs));
    char **names = kite_calloc(nf * 3, sizeof(char *));
    char *meta = db_strfmt("{\"version\":1,\"id\":%" PRIu64 ",\"partition_id\":%" PRId64
                           ",\"rows\":%zu,\"n_fields\":%zu}",
                           s->id, s->part_id, n, nf);
    size_t nb = 0;
    if (!blobs || !names || !meta) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory sealing a segment");
        goto out;
    }
    blobs[nb++] = (struct seg_blob){"meta", BLOB_META, meta, strlen(meta)};
    for (size_t i = 0; i < nf; i++) {
        names[i * 3] = db_strfmt("f%zu.d", i);
        names[i * 3 + 1] = db_strfmt("f%zu.o", i);
        names[i * 3 + 2] = db_strfmt("f%zu.v", i);
        if (!names[i * 3] || !names[i * 3 + 1] || !names[i * 3 + 2]) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory sealing a segment");
            goto out;
        }
        blobs[nb++] = (struct seg_blob){names[i * 3], BLOB_DATA, cols[i].data.data,
                                        cols[i].data.len};
        if (!cols[i].width)
            blobs[nb++] = (struct seg_blob){names[i * 3 + 1], BLOB_OFFS,
                                            cols[i].offs.len ? cols[i].offs.data
                                                             : (const void *)&zero_offset,
                                            cols[i].offs.len ? cols[i].offs.len : 8};
        if (cols[i].has_valid)
            blobs[nb++] = (struct seg_blob){names[i * 3 + 2], BLOB_VALID, cols[i].valid.data,
                                            cols[i].valid.len};
    }
    rc = segfile_write(c->db->vfs, path, DB_MAGIC_SEGMENT, blobs, nb, err);
out:
    if (names)
        for (size_t i = 0; i < nf * 3; i++)
            kite_free(names[i]);
    kite_free(names);
    kite_free(blobs);
    kite_free(meta);
    return rc;
}

int seg_seal(struct dcoll *c, struct dseg *s, struct dseg **sealed, kite_err *err)
{
    int rc = KITE_OK;
    size_t nf = c->schema.n_fields, live = s->n - s->n_deleted;
    uint32_t *perm = kite_malloc((s->n ? s->n : 1) * sizeof(uint32_t));
    struct colbuf *cols = kite_calloc(nf, sizeof(struct colbuf));
    char *name = seg_file_name(s->id), *path = name ? db_path_join(c->dir, name) : NULL;
    *sealed = NULL;
    if (!perm || !cols || !path) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory sealing a segment");
        goto out;
    }
    /* Deleted rows of a growing segment are dropped here: no tombstones needed. */
    size_t k = 0;
    for (size_t r = 0; r < s->n; r++)
        if (!seg_is_deleted(s, r))
            perm[k++] = (uint32_t)r;
    sort_pk = &s->cols[c->pk_index];
    qsort(perm, live, sizeof(uint32_t), cmp_pk_rows);
    for (size_t i = 0; i < nf; i++) {
        colbuf_init(&cols[i], s->bufs[i].dtype, s->bufs[i].element_type, s->bufs[i].dim,
                    s->bufs[i].has_valid);
        for (size_t j = 0; j < live && !rc; j++)
            rc = colbuf_append_row(&cols[i], &s->cols[i], perm[j]);
        if (rc) {
            rc = kite_err_set(err, rc, "out of memory sealing a segment");
            goto out;
        }
    }
    rc = write_sealed(c, s, cols, live, path, err);
    if (rc)
        goto out;
    rc = seg_open_sealed(c, s->id, s->part_id, live, sealed, err);
out:
    if (cols)
        for (size_t i = 0; i < nf; i++)
            colbuf_free(&cols[i]);
    kite_free(cols);
    kite_free(perm);
    kite_free(name);
    kite_free(path);
    return rc;
}

static int check_view(struct dcoll *c, struct dseg *s, size_t i, const char *path, kite_err *err)
{
    const kite_field_schema *f = &c->schema.fields[i];
    kite_column *col = &s->cols[i];
    char bn[32];
    const void *d;
    size_t len;
    uint32_t kind;
    size_t width = kite_dtype_row_bytes(f->dtype, (uint32_t)f->dim);
    memset(col, 0, sizeof(*col));
    col->name = f->name;
    col->dtype = f->dtype;
    col->element_type = f->element_type;
    col->dim = (uint32_t)f->dim;
    col->n = s->n;
    snprintf(bn, sizeof(bn), "f%zu.d", i);
    if (segfile_blob(s->sf, bn, &kind, &d, &len) != KITE_OK)
        goto corrupt;
    col->data = d;
    if (width) {
        if (len != width * s->n)
            goto corrupt;
    } else {
        size_t dlen = len;
        snprintf(bn, sizeof(bn), "f%zu.o", i);
        if (segfile_blob(s->sf, bn, &kind, &d, &len) != KITE_OK || len != (s->n + 1) * 8)
            goto corrupt;
        const uint64_t *o = d;
        if (o[0] != 0 || o[s->n] != dlen)
            goto corrupt;
        for (size_t r = 0; r < s->n; r++)
            if (o[r + 1] < o[r])
                goto corrupt;
        col->offsets = o;
    }
    if (f->nullable) {
        snprintf(bn, sizeof(bn), "f%zu.v", i);
        if (segfile_blob(s->sf, bn, &kind, &d, &len) != KITE_OK || len != s->n)
            goto corrupt;
        col->valid = d;
    }
    return KITE_OK;
corrupt:
    return kite_err_set(err, KITE_ECORRUPT,
                        "segment file %s: column %zu (%s) is missing or has a bad length for "
                        "%zu rows",
                        path, i, f->name, s->n);
}

int seg_open_sealed(struct dcoll *c, uint64_t id, int64_t part_id, size_t rows,
                    struct dseg **out, kite_err *err)
{
    int rc;
    char *name = seg_file_name(id), *path = name ? db_path_join(c->dir, name) : NULL;
    struct dseg *s = seg_alloc(c->schema.n_fields, id, part_id);
    if (!s || !path) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory opening a segment");
        goto fail;
    }
    s->sealed = true;
    s->n = rows;
    rc = segfile_open(c->db->vfs, path, DB_MAGIC_SEGMENT, &s->sf, err);
    if (rc) {
        if (rc == KITE_ENOTFOUND)
            rc = kite_err_set(err, KITE_ECORRUPT, "segment file %s is missing", path);
        goto fail;
    }
    for (size_t i = 0; i < c->schema.n_fields; i++) {
        rc = check_view(c, s, i, path, err);
        if (rc)
            goto fail;
    }
    rc = ensure_deleted_cap(s, rows);
    if (rc)
        goto fail;
    kite_free(name);
    kite_free(path);
    *out = s;
    return KITE_OK;
fail:
    seg_free(s);
    kite_free(name);
    kite_free(path);
    return rc;
}

int seg_write_deletes(struct dcoll *c, struct dseg *s, uint64_t lsn, kite_err *err)
{
    int rc;
    size_t words = (s->n + 63) / 64;
    char *name = db_strfmt("del-%020" PRIu64 "-%020" PRIu64 ".kdel", s->id, lsn);
    char *path = name ? db_path_join(c->dir, name) : NULL;
    char *meta = db_strfmt("{\"segment\":%" PRIu64 ",\"rows\":%zu,\"lsn\":%" PRIu64 "}", s->id,
                           s->n, lsn);
    uint8_t *bits = kite_malloc(words * 8 + 8);
    if (!name || !path || !meta || !bits) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory writing a delete file");
        goto out;
    }
    for (size_t w = 0; w < words; w++)
        kite_put_u64(bits + w * 8, w < s->deleted_words ? s->deleted[w] : 0);
    struct seg_blob blobs[2] = {{"meta", BLOB_META, meta, strlen(meta)},
                                {"bits", BLOB_BITS, bits, words * 8}};
    rc = segfile_write(c->db->vfs, path, DB_MAGIC_DELETE, blobs, 2, err);
    if (rc)
        goto out;
    /* The manifest still names the old file until the checkpoint switches it:
     * unlink it only then (coll_checkpoint). */
    if (s->stale_del_file) {
        kite_free(s->del_file);
    } else {
        s->stale_del_file = s->del_file;
    }
    s->del_file = name;
    name = NULL;
    s->del_dirty = false;
out:
    kite_free(name);
    kite_free(path);
    kite_free(meta);
    kite_free(bits);
    return rc;
}

int seg_load_deletes(struct dcoll *c, struct dseg *s, const char *file, kite_err *err)
{
    struct segfile *sf = NULL;
    char *path = db_path_join(c->dir, file);
    const void *d;
    size_t len;
    uint32_t kind;
    int rc;
    if (!path)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    rc = segfile_open(c->db->vfs, path, DB_MAGIC_DELETE, &sf, err);
    if (rc) {
        if (rc == KITE_ENOTFOUND)
            rc = kite_err_set(err, KITE_ECORRUPT, "delete file %s is missing", path);
        goto out;
    }
    size_t words = (s->n + 63) / 64;
    if (segfile_blob(sf, "bits", &kind, &d, &len) != KITE_OK || len != words * 8) {
        rc = kite_err_set(err, KITE_ECORRUPT, "delete file %s: bitmap length %zu, expected %zu",
                          path, len, words * 8);
        goto out;
    }
    s->n_deleted = 0;
    for (size_t w = 0; w < words; w++) {
        uint64_t v = kite_get_u64((const uint8_t *)d + w * 8);
        if (w == words - 1 && s->n % 64)
            v &= ((uint64_t)1 << (s->n % 64)) - 1;
        s->deleted[w] = v;
        s->n_deleted += (size_t)__builtin_popcountll(v);
    }
    s->del_file = kite_strdup(file);
    s->del_dirty = false;
out:
    segfile_close(sf);
    kite_free(path);
    return rc;
}
