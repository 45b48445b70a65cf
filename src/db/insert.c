/*
 * insert.c — the write path: insert / upsert (columns or REST JSON rows),
 * delete by filter, WAL record encoding and applying records to memory.
 *
 * A write:
 *   1. resolves the collection (reference) and takes its exclusive lock;
 *   2. normalises the input into a struct batch (one colbuf per schema field:
 *      validation with Milvus-style messages, defaults, nulls, auto ids);
 *   3. encodes one WAL record (upsert = its pks + its batch: atomic) and
 *      appends it (wal_append), then applies it to memory — the same function
 *      (coll_apply_record) that replay uses, so recovery cannot diverge;
 *   4. releases the lock, waits for wal_sync(lsn) and only then acknowledges.
 *
 * WAL payloads (little-endian; FORMAT.md):
 *   INSERT: u8 version(1) | i64 partition_id | batch
 *   DELETE: u8 version(1) | i64 partition_id (-1 = all) | pks
 *   UPSERT: u8 version(1) | i64 partition_id | pks | batch
 *   batch:  u64 n_rows | u32 n_fields | per field: u8 has_valid | u64 data_len |
 *           data | (var-len) (n_rows+1) u64 offsets | (has_valid) n_rows bytes
 *   pks:    u8 dtype | u64 n | Int64: n i64 | VarChar: (n+1) u64 offsets,
 *           u64 data_len, data
 *
 * Threading model: see db.h; everything here that touches the collection runs
 * under its exclusive lock, except wal_sync.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "codec.h"
#include "endian.h"

/* ============================================================ batch */

void batch_free(struct batch *b)
{
    if (!b || !b->cols)
        return;
    for (size_t i = 0; i < b->n_fields; i++)
        colbuf_free(&b->cols[i]);
    kite_free(b->cols);
    b->cols = NULL;
}

static int batch_init(const struct dcoll *c, struct batch *b)
{
    b->n = 0;
    b->n_fields = c->schema.n_fields;
    b->cols = kite_calloc(b->n_fields, sizeof(struct colbuf));
    if (!b->cols)
        return KITE_ENOMEM;
    for (size_t i = 0; i < b->n_fields; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        colbuf_init(&b->cols[i], f->dtype, f->element_type, (uint32_t)f->dim, f->nullable);
    }
    return KITE_OK;
}

static int put_u64(struct kite_buf *o, uint64_t v)
{
    uint8_t t[8];
    kite_put_u64(t, v);
    return kite_buf_append(o, t, 8);
}

int batch_encode(const struct batch *b, struct kite_buf *out)
{
    int rc = put_u64(out, b->n);
    uint8_t t[4];
    kite_put_u32(t, (uint32_t)b->n_fields);
    rc = rc ? rc : kite_buf_append(out, t, 4);
    for (size_t i = 0; i < b->n_fields && !rc; i++) {
        const struct colbuf *col = &b->cols[i];
        rc = kite_buf_append_u8(out, col->has_valid);
        rc = rc ? rc : put_u64(out, col->data.len);
        rc = rc ? rc : kite_buf_append(out, col->data.data, col->data.len);
        if (!col->width) {
            if (col->offs.len)
                rc = rc ? rc : kite_buf_append(out, col->offs.data, col->offs.len);
            else
                rc = rc ? rc : put_u64(out, 0);
        }
        if (col->has_valid)
            rc = rc ? rc : kite_buf_append(out, col->valid.data, col->valid.len);
    }
    return rc;
}

struct rd {
    const uint8_t *p;
    size_t len, pos;
};

static bool rd_take(struct rd *r, size_t n, const uint8_t **out)
{
    if (n > r->len - r->pos)
        return false;
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

static bool rd_u64(struct rd *r, uint64_t *v)
{
    const uint8_t *p;
    if (!rd_take(r, 8, &p))
        return false;
    *v = kite_get_u64(p);
    return true;
}

int batch_decode(const struct dcoll *c, const uint8_t *p, size_t len, size_t *used,
                 struct batch *out, kite_err *err)
{
    struct rd r = {p, len, 0};
    uint64_t n, dlen;
    const uint8_t *x;
    int rc = batch_init(c, out);
    if (rc)
        return kite_err_set(err, rc, "out of memory");
    if (!rd_u64(&r, &n) || !rd_take(&r, 4, &x) || kite_get_u32(x) != out->n_fields)
        goto corrupt;
    for (size_t i = 0; i < out->n_fields; i++) {
        struct colbuf *col = &out->cols[i];
        const uint8_t *d, *o = NULL, *v = NULL;
        if (!rd_take(&r, 1, &x) || *x != col->has_valid || !rd_u64(&r, &dlen) ||
            !rd_take(&r, dlen, &d))
            goto corrupt;
        if (col->width && dlen != n * col->width)
            goto corrupt;
        if (!col->width) {
            if (n > (len / 8) || !rd_take(&r, (n + 1) * 8, &o) || kite_get_u64(o) != 0 ||
                kite_get_u64(o + n * 8) != dlen)
                goto corrupt;
            for (size_t k = 0; k < n; k++)
                if (kite_get_u64(o + (k + 1) * 8) < kite_get_u64(o + k * 8))
                    goto corrupt;
        }
        if (col->has_valid && !rd_take(&r, n, &v))
            goto corrupt;
        if (kite_buf_append(&col->data, d, dlen) ||
            (o && kite_buf_append(&col->offs, o, (n + 1) * 8)) ||
            (v && kite_buf_append(&col->valid, v, n))) {
            batch_free(out);
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
        col->n = n;
    }
    out->n = n;
    *used = r.pos;
    return KITE_OK;
corrupt:
    batch_free(out);
    return kite_err_set(err, KITE_ECORRUPT, "WAL batch of collection %s is malformed", c->name);
}

int pks_encode(const kite_column *pks, struct kite_buf *out)
{
    int rc = kite_buf_append_u8(out, (uint8_t)pks->dtype);
    rc = rc ? rc : put_u64(out, pks->n);
    if (pks->dtype == KITE_DT_INT64) {
        rc = rc ? rc : kite_buf_append(out, pks->data, pks->n * 8);
    } else {
        rc = rc ? rc : kite_buf_append(out, pks->offsets, (pks->n + 1) * 8);
        rc = rc ? rc : put_u64(out, pks->offsets[pks->n]);
        rc = rc ? rc : kite_buf_append(out, pks->data, pks->offsets[pks->n]);
    }
    return rc;
}

/* Decode pks into an owned, aligned column (free with pks_free). */
static int pks_decode(struct rd *r, kite_column *pks)
{
    const uint8_t *x, *offs;
    uint64_t n, dlen;
    memset(pks, 0, sizeof(*pks));
    if (!rd_take(r, 1, &x) || !rd_u64(r, &n) || n > r->len)
        return KITE_ECORRUPT;
    pks->dtype = *x;
    pks->n = n;
    if (pks->dtype == KITE_DT_INT64) {
        if (!rd_take(r, n * 8, &x))
            return KITE_ECORRUPT;
        int64_t *v = kite_malloc(n * 8 + 8);
        if (!v)
            return KITE_ENOMEM;
        for (size_t k = 0; k < n; k++)
            v[k] = (int64_t)kite_get_u64(x + k * 8);
        pks->data = v;
        return KITE_OK;
    }
    if (pks->dtype != KITE_DT_VARCHAR || !rd_take(r, (n + 1) * 8, &offs) || !rd_u64(r, &dlen) ||
        !rd_take(r, dlen, &x))
        return KITE_ECORRUPT;
    uint64_t *o = kite_malloc((n + 1) * 8);
    char *d = kite_malloc(dlen + 1);
    if (!o || !d) {
        kite_free(o);
        kite_free(d);
        return KITE_ENOMEM;
    }
    for (size_t k = 0; k <= n; k++)
        o[k] = kite_get_u64(offs + k * 8);
    memcpy(d, x, dlen);
    pks->offsets = o;
    pks->data = d;
    if (o[0] != 0 || o[n] != dlen)
        return KITE_ECORRUPT;
    for (size_t k = 0; k < n; k++)
        if (o[k + 1] < o[k])
            return KITE_ECORRUPT;
    return KITE_OK;
}

static void pks_free(kite_column *pks)
{
    kite_free((void *)pks->data);
    kite_free((void *)pks->offsets);
    memset(pks, 0, sizeof(*pks));
}

/* ============================================================ applying */

struct strkey {
    const char *p;
    size_t len;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    const struct strkey *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, m);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int coll_delete_pks(struct dcoll *c, const kite_column *pks, int64_t part_id, uint64_t *n_deleted)
{
    int rc = KITE_OK;
    bool is_int = pks->dtype == KITE_DT_INT64;
    void *keys = kite_malloc((pks->n ? pks->n : 1) * (is_int ? 8 : sizeof(struct strkey)));
    *n_deleted = 0;
    if (!keys)
        return KITE_ENOMEM;
    for (size_t i = 0; i < pks->n; i++) {
        if (is_int)
            ((int64_t *)keys)[i] = ((const int64_t *)pks->data)[i];
        else
            ((struct strkey *)keys)[i].p = db_col_var(pks, i, &((struct strkey *)keys)[i].len);
    }
    qsort(keys, pks->n, is_int ? 8 : sizeof(struct strkey), is_int ? cmp_i64 : cmp_str);
    for (size_t si = 0; si < c->n_segs && !rc; si++) {
        struct dseg *s = c->segs[si];
        if (part_id >= 0 && s->part_id != part_id)
            continue;
        const kite_column *pk = &s->cols[c->pk_index];
        for (size_t r = 0; r < s->n && !rc; r++) {
            if (seg_is_deleted(s, r))
                continue;
            bool hit;
            if (is_int) {
                hit = bsearch(&((const int64_t *)pk->data)[r], keys, pks->n, 8, cmp_i64);
            } else {
                struct strkey k;
                k.p = db_col_var(pk, r, &k.len);
                hit = bsearch(&k, keys, pks->n, sizeof(k), cmp_str);
            }
            if (hit) {
                rc = seg_mark_deleted(s, r);
                (*n_deleted)++;
            }
        }
    }
    kite_free(keys);
    return rc;
}

static struct dseg *growing_for(struct dcoll *c, int64_t part_id)
{
    for (size_t i = 0; i < c->n_segs; i++)
        if (!c->segs[i]->sealed && c->segs[i]->part_id == part_id)
            return c->segs[i];
    struct dseg *s = seg_new_growing(c, c->next_seg_id, part_id);
    if (!s)
        return NULL;
    struct dseg **n = kite_realloc(c->segs, (c->n_segs + 1) * sizeof(*n));
    if (!n) {
        seg_free(s);
        return NULL;
    }
    c->next_seg_id++;
    c->segs = n;
    c->segs[c->n_segs++] = s;
    return s;
}

static int apply_batch(struct dcoll *c, int64_t part_id, const struct batch *b, kite_err *err)
{
    struct dseg *s = growing_for(c, part_id);
    if (!s)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    int rc = seg_append(s, b->cols, b->n);
    if (rc)
        return kite_err_set(err, rc, "out of memory appending rows");
    return KITE_OK;
}

int coll_apply_record(struct dcoll *c, uint8_t type, const uint8_t *p, size_t len,
                      uint64_t *n_deleted, kite_err *err)
{
    struct rd r = {p, len, 0};
    const uint8_t *x;
    kite_column pks;
    int rc;
    *n_deleted = 0;
    if (!rd_take(&r, 9, &x) || x[0] != 1)
        return kite_err_set(err, KITE_ECORRUPT, "WAL record of unknown version");
    int64_t part_id = (int64_t)kite_get_u64(x + 1);
    if (part_id >= 0 && !coll_find_part_id(c, part_id))
        return KITE_OK; /* the partition was dropped after this record */
    if (type == WREC_DELETE || type == WREC_UPSERT) {
        rc = pks_decode(&r, &pks);
        if (rc) {
            pks_free(&pks);
            return kite_err_set(err, rc, rc == KITE_ENOMEM ? "out of memory"
                                                           : "WAL delete record is malformed");
        }
        rc = coll_delete_pks(c, &pks, type == WREC_DELETE ? part_id : -1, n_deleted);
        pks_free(&pks);
        if (rc)
            return kite_err_set(err, rc, "out of memory applying a delete");
    }
    if (type == WREC_INSERT || type == WREC_UPSERT) {
        struct batch b;
        size_t used;
        rc = batch_decode(c, r.p + r.pos, r.len - r.pos, &used, &b, err);
        if (rc)
            return rc;
        rc = apply_batch(c, part_id, &b, err);
        batch_free(&b);
        return rc;
    }
    if (type != WREC_DELETE)
        return kite_err_set(err, KITE_ECORRUPT, "unknown WAL record type %u", type);
    return KITE_OK;
}

int coll_maybe_seal(struct dcoll *c, kite_err *err)
{
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (!s->sealed &&
            (s->n >= c->db->opts.segment_max_rows || s->bytes >= c->db->opts.segment_max_bytes))
            return coll_checkpoint(c, err);
    }
    return KITE_OK;
}

/* ============================================================ validation */

/* Convert a JSON default / scalar into the field's fixed-width bytes. */
static int scalar_from_json(const kite_field_schema *f, json_t *v, uint8_t out[8], bool *ok)
{
    *ok = true;
    memset(out, 0, 8);
    switch (f->dtype) {
    case KITE_DT_BOOL:
        if (!json_is_boolean(v))
            break;
        out[0] = json_is_true(v);
        return KITE_OK;
    case KITE_DT_INT8:
    case KITE_DT_INT16:
    case KITE_DT_INT32:
    case KITE_DT_INT64: {
        int64_t x;
        if (json_is_integer(v)) {
            x = json_integer_value(v);
        } else if (json_is_string(v) && f->dtype == KITE_DT_INT64) {
            char *end;
            const char *s = json_string_value(v);
            errno = 0;
            long long ll = strtoll(s, &end, 10);
            if (!*s || *end || errno)
                break;
            x = ll;
        } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                   fabs(json_real_value(v)) < 9.0e15) {
            x = (int64_t)json_real_value(v);
        } else {
            break;
        }
        if (f->dtype == KITE_DT_INT8 && (x < INT8_MIN || x > INT8_MAX))
            break;
        if (f->dtype == KITE_DT_INT16 && (x < INT16_MIN || x > INT16_MAX))
            break;
        if (f->dtype == KITE_DT_INT32 && (x < INT32_MIN || x > INT32_MAX))
            break;
        size_t w = kite_dtype_row_bytes(f->dtype, 0);
        int8_t i8 = (int8_t)x;
        int16_t i16 = (int16_t)x;
        int32_t i32 = (int32_t)x;
        const void *src = w == 1 ? (const void *)&i8
                          : w == 2 ? (const void *)&i16
                          : w == 4 ? (const void *)&i32
                                   : (const void *)&x;
        memcpy(out, src, w);
        return KITE_OK;
    }
    case KITE_DT_FLOAT:
    case KITE_DT_DOUBLE: {
        if (!json_is_number(v))
            break;
        double d = json_number_value(v);
        if (f->dtype == KITE_DT_FLOAT) {
            float fl = (float)d;
            memcpy(out, &fl, 4);
        } else {
            memcpy(out, &d, 8);
        }
        return KITE_OK;
    }
    default:
        break;
    }
    *ok = false;
    return KITE_OK;
}

static bool elem_ok(int et, json_t *v, int64_t max_len)
{
    uint8_t tmp[8];
    bool ok;
    kite_field_schema f = {0};
    f.dtype = et;
    if (et == KITE_DT_VARCHAR)
        return json_is_string(v) && (int64_t)json_string_length(v) <= max_len;
    scalar_from_json(&f, v, tmp, &ok);
    return ok && !(json_is_string(v));
}

static const char *json_type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    default:
        return "null";
    }
}

/* Check a var-len value (VarChar / JSON / Array text) of row `row`. */
static int check_var(const kite_field_schema *f, const char *p, size_t len, size_t row,
                     kite_err *err)
{
    if (f->dtype == KITE_DT_VARCHAR) {
        if ((int64_t)len > f->max_length)
            return kite_err_set(err, KITE_EDATA,
                                "length of varchar field %s exceeds max length, row number: "
                                "%zu, length: %zu, max length: %lld",
                                f->name, row, len, (long long)f->max_length);
        return KITE_OK;
    }
    if (len > DB_MAX_JSON_BYTES)
        return kite_err_set(err, KITE_EDATA,
                            "row %zu: %s value of field %s is %zu bytes, more than the 65536 "
                            "allowed",
                            row, f->dtype == KITE_DT_JSON ? "JSON" : "Array", f->name, len);
    json_error_t je;
    json_t *v = json_loadb(p, len, JSON_DECODE_ANY, &je);
    int rc = KITE_OK;
    if (!v)
        return kite_err_set(err, KITE_EDATA, "row %zu: field %s holds invalid JSON: %s", row,
                            f->name, je.text);
    if (f->is_dynamic && !json_is_object(v)) {
        rc = kite_err_set(err, KITE_EDATA, "row %zu: dynamic field $meta must be a JSON object",
                          row);
    } else if (f->dtype == KITE_DT_ARRAY) {
        if (!json_is_array(v)) {
            rc = kite_err_set(err, KITE_EDATA, "row %zu: field %s expects an array, got %s", row,
                              f->name, json_type_name(v));
        } else if ((int64_t)json_array_size(v) > f->max_capacity) {
            rc = kite_err_set(err, KITE_EDATA,
                              "row %zu: array length %zu of field %s exceeds max capacity %lld",
                              row, json_array_size(v), f->name, (long long)f->max_capacity);
        } else {
            for (size_t k = 0; k < json_array_size(v); k++)
                if (!elem_ok(f->element_type, json_array_get(v, k), f->max_length)) {
                    rc = kite_err_set(err, KITE_EDATA,
                                      "row %zu: element %zu of array field %s is not a valid "
                                      "%s",
                                      row, k, f->name, kite_dtype_name(f->element_type));
                    break;
                }
        }
    }
    json_decref(v);
    return rc;
}

static int append_default(struct colbuf *out, const kite_field_schema *f)
{
    json_t *v = json_loads(f->default_json, JSON_DECODE_ANY, NULL);
    int rc;
    if (!v)
        return KITE_EINVAL;
    if (f->dtype == KITE_DT_VARCHAR) {
        rc = colbuf_append_val(out, json_string_value(v), json_string_length(v));
    } else {
        uint8_t b[8];
        bool ok;
        scalar_from_json(f, v, b, &ok);
        rc = ok ? colbuf_append_val(out, b, out->width) : KITE_EINVAL;
    }
    json_decref(v);
    return rc;
}

static int check_vector_row(const kite_field_schema *f, const kite_column *src, size_t row,
                            kite_err *err)
{
    if (f->dtype != KITE_DT_FLOAT_VECTOR)
        return KITE_OK;
    const float *v = (const float *)src->data + row * (size_t)f->dim;
    for (int64_t k = 0; k < f->dim; k++)
        if (!isfinite(v[k]))
            return kite_err_set(err, KITE_EDATA,
                                "row %zu: float vector field %s contains NaN or Inf at %lld",
                                row, f->name, (long long)k);
    return KITE_OK;
}

/* Copy column src (already matched to field f) into out, validating each row. */
static int copy_column(const kite_field_schema *f, const kite_column *src, struct colbuf *out,
                       kite_err *err)
{
    int rc = KITE_OK;
    for (size_t r = 0; r < src->n && !rc; r++) {
        if (db_col_is_null(src, r)) {
            if (f->default_json)
                rc = append_default(out, f);
            else if (f->nullable)
                rc = colbuf_append_val(out, NULL, 0);
            else
                return kite_err_set(err, KITE_EDATA,
                                    "row %zu: field %s is null, but the field is not nullable "
                                    "and has no default value",
                                    r, f->name);
            continue;
        }
        if (!out->width) {
            size_t len;
            const char *p = db_col_var(src, r, &len);
            rc = check_var(f, p, len, r, err);
            if (rc)
                return rc;
            rc = colbuf_append_val(out, p, len);
        } else {
            rc = check_vector_row(f, src, r, err);
            if (rc)
                return rc;
            rc = colbuf_append_row(out, src, r);
        }
    }
    if (rc)
        return kite_err_set(err, rc == KITE_EINVAL ? KITE_EDATA : rc,
                            "cannot store values of field %s", f->name);
    return KITE_OK;
}

static int gen_ids(struct dcoll *c, const kite_field_schema *f, size_t n, struct colbuf *out)
{
    int64_t first = db_alloc_ids(c->db, n);
    for (size_t r = 0; r < n; r++) {
        int64_t id = first + (int64_t)r;
        int rc;
        if (f->dtype == KITE_DT_INT64) {
            rc = colbuf_append_val(out, &id, 8);
        } else {
            char t[24];
            int len = snprintf(t, sizeof(t), "%" PRId64, id);
            rc = colbuf_append_val(out, t, (size_t)len);
        }
        if (rc)
            return rc;
    }
    return KITE_OK;
}

static int fill_missing(struct dcoll *c, const kite_field_schema *f, size_t n, struct colbuf *out,
                        kite_err *err)
{
    int rc = KITE_OK;
    for (size_t r = 0; r < n && !rc; r++) {
        if (f->is_dynamic)
            rc = colbuf_append_val(out, "{}", 2);
        else if (f->default_json)
            rc = append_default(out, f);
        else if (f->nullable)
            rc = colbuf_append_val(out, NULL, 0);
        else
            return kite_err_set(err, KITE_EDATA,
                                "Insert missed an field `%s` to collection %s without set "
                                "nullable==true or set default_value",
                                f->name, c->name);
    }
    return rc ? kite_err_set(err, KITE_ENOMEM, "out of memory") : KITE_OK;
}

static int match_column(const kite_field_schema *f, const kite_column *col, size_t n,
                        kite_err *err)
{
    if (col->n != n)
        return kite_err_set(err, KITE_EDATA,
                            "the num_rows (%zu) of field (%s) is not equal to passed num_rows "
                            "(%zu)",
                            col->n, f->name, n);
    if (col->dtype != f->dtype)
        return kite_err_set(err, KITE_EDATA,
                            "field %s: data type %s does not match the schema type %s", f->name,
                            kite_dtype_name(col->dtype) ? kite_dtype_name(col->dtype) : "unknown",
                            kite_dtype_name(f->dtype));
    if (kite_dtype_is_vector(f->dtype) && (int64_t)col->dim != f->dim)
        return kite_err_set(err, KITE_EDATA,
                            "the dim (%u) of field data(%s) is not equal to schema dim (%lld)",
                            col->dim, f->name, (long long)f->dim);
    if (n && !col->data && !(db_dtype_is_var(f->dtype) && col->offsets))
        return kite_err_set(err, KITE_EDATA, "field %s: column has no data", f->name);
    if (db_dtype_is_var(f->dtype) && (!col->offsets || col->offsets[0] != 0))
        return kite_err_set(err, KITE_EDATA,
                            "field %s: var-length column needs n+1 offsets starting at 0",
                            f->name);
    if (db_dtype_is_var(f->dtype))
        for (size_t r = 0; r < n; r++)
            if (col->offsets[r + 1] < col->offsets[r])
                return kite_err_set(err, KITE_EDATA, "field %s: offsets decrease at row %zu",
                                    f->name, r);
    return KITE_OK;
}

/* Normalise input columns into a batch (schema order); see the file comment. */
static int batch_from_columns(struct dcoll *c, const kite_column *cols, size_t n_cols,
                              bool upsert, struct batch *b, kite_err *err)
{
    int rc;
    size_t n = n_cols ? cols[0].n : 0;
    if (n_cols == 0)
        return kite_err_set(err, KITE_EDATA, "no field data given: expected one column per field");
    for (size_t k = 0; k < n_cols; k++) {
        if (!cols[k].name || schema_field_index(&c->schema, cols[k].name) < 0)
            return kite_err_set(err, KITE_EDATA, "field %s does not exist in collection %s",
                                cols[k].name ? cols[k].name : "(null)", c->name);
        for (size_t j = 0; j < k; j++)
            if (strcmp(cols[j].name, cols[k].name) == 0)
                return kite_err_set(err, KITE_EDATA, "duplicated field data %s", cols[k].name);
    }
    if (n == 0)
        return kite_err_set(err, KITE_EDATA, "no rows to insert: expected at least one row");
    rc = batch_init(c, b);
    if (rc)
        return kite_err_set(err, rc, "out of memory");
    b->n = n;
    for (size_t i = 0; i < c->schema.n_fields; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        const kite_column *col = NULL;
        for (size_t k = 0; k < n_cols; k++)
            if (strcmp(cols[k].name, f->name) == 0)
                col = &cols[k];
        if (f->is_primary && f->auto_id && !upsert) {
            if (col) {
                rc = kite_err_set(err, KITE_EINVAL,
                                  "can not assign primary field data when auto id enabled %s",
                                  f->name);
                goto fail;
            }
            rc = gen_ids(c, f, n, &b->cols[i]);
            if (rc) {
                rc = kite_err_set(err, rc, "out of memory");
                goto fail;
            }
            continue;
        }
        if (!col) {
            if (f->is_primary) {
                rc = kite_err_set(err, KITE_EDATA, "primary key field %s is required", f->name);
                goto fail;
            }
            rc = fill_missing(c, f, n, &b->cols[i], err);
        } else {
            rc = match_column(f, col, n, err);
            if (!rc)
                rc = copy_column(f, col, &b->cols[i], err);
        }
        if (rc)
            goto fail;
    }
    return KITE_OK;
fail:
    batch_free(b);
    return rc;
}

/* ============================================================ JSON rows */

static int json_vector(const kite_field_schema *f, json_t *v, size_t row, struct colbuf *out,
                       kite_err *err)
{
    size_t width = out->width, dim = (size_t)f->dim;
    uint8_t *buf = kite_malloc(width ? width : 1);
    int rc = KITE_OK;
    if (!buf)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    if (json_is_string(v) && f->dtype != KITE_DT_FLOAT_VECTOR) {
        uint8_t *d;
        size_t dl;
        if (kite_base64_decode(json_string_value(v), json_string_length(v), &d, &dl) != KITE_OK) {
            rc = kite_err_set(err, KITE_EDATA, "row %zu: field %s: invalid base64 vector", row,
                              f->name);
            goto out;
        }
        if (dl != width)
            rc = kite_err_set(err, KITE_EDATA,
                              "row %zu: the dim (%zu) of field data(%s) is not equal to schema "
                              "dim (%zu)",
                              row, f->dtype == KITE_DT_BINARY_VECTOR ? dl * 8 : dl / 2, f->name,
                              dim);
        else
            memcpy(buf, d, dl);
        kite_free(d);
        goto out;
    }
    if (!json_is_array(v)) {
        rc = kite_err_set(err, KITE_EDATA, "row %zu: field %s expects a vector (number array), "
                                           "got %s",
                          row, f->name, json_type_name(v));
        goto out;
    }
    size_t got = json_array_size(v), want = f->dtype == KITE_DT_BINARY_VECTOR ? dim / 8 : dim;
    if (got != want) {
        rc = kite_err_set(err, KITE_EDATA,
                          "row %zu: the dim (%zu) of field data(%s) is not equal to schema dim "
                          "(%zu)",
                          row, f->dtype == KITE_DT_BINARY_VECTOR ? got * 8 : got, f->name, dim);
        goto out;
    }
    for (size_t k = 0; k < got; k++) {
        json_t *e = json_array_get(v, k);
        if (!json_is_number(e)) {
            rc = kite_err_set(err, KITE_EDATA, "row %zu: field %s: element %zu is %s, expected "
                                               "a number",
                              row, f->name, k, json_type_name(e));
            goto out;
        }
        double d = json_number_value(e);
        if (f->dtype == KITE_DT_BINARY_VECTOR) {
            if (!json_is_integer(e) || d < 0 || d > 255) {
                rc = kite_err_set(err, KITE_EDATA, "row %zu: field %s: byte %zu must be 0..255",
                                  row, f->name, k);
                goto out;
            }
            buf[k] = (uint8_t)d;
        } else if (f->dtype == KITE_DT_FLOAT_VECTOR) {
            float x = (float)d;
            memcpy(buf + k * 4, &x, 4);
        } else {
            uint16_t h = f->dtype == KITE_DT_FLOAT16_VECTOR ? kite_f32_to_f16((float)d)
                                                            : kite_f32_to_bf16((float)d);
            memcpy(buf + k * 2, &h, 2);
        }
    }
out:
    if (!rc && colbuf_append_val(out, buf, width))
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
    kite_free(buf);
    return rc;
}

static int json_value(const kite_field_schema *f, json_t *v, size_t row, struct colbuf *out,
                      kite_err *err)
{
    if (kite_dtype_is_vector(f->dtype))
        return json_vector(f, v, row, out, err);
    int rc;
    if (f->dtype == KITE_DT_VARCHAR) {
        if (!json_is_string(v))
            return kite_err_set(err, KITE_EDATA, "row %zu: field %s expects a string, got %s",
                                row, f->name, json_type_name(v));
        rc = colbuf_append_val(out, json_string_value(v), json_string_length(v));
    } else if (f->dtype == KITE_DT_JSON || f->dtype == KITE_DT_ARRAY) {
        if (f->dtype == KITE_DT_ARRAY && !json_is_array(v))
            return kite_err_set(err, KITE_EDATA, "row %zu: field %s expects an array, got %s",
                                row, f->name, json_type_name(v));
        size_t len;
        char *t = db_json_text(v, &len);
        rc = t ? colbuf_append_val(out, t, len) : KITE_ENOMEM;
        kite_free(t);
    } else {
        uint8_t b[8];
        bool ok;
        scalar_from_json(f, v, b, &ok);
        if (!ok)
            return kite_err_set(err, KITE_EDATA,
                                "row %zu: field %s expects %s, got %s (or out of range)", row,
                                f->name, kite_dtype_name(f->dtype), json_type_name(v));
        rc = colbuf_append_val(out, b, out->width);
    }
    return rc ? kite_err_set(err, KITE_ENOMEM, "out of memory") : KITE_OK;
}

static int json_row(struct dcoll *c, json_t *row, size_t r, bool upsert, struct colbuf *cols,
                    kite_err *err)
{
    int rc;
    if (!json_is_object(row))
        return kite_err_set(err, KITE_EDATA, "row %zu is %s, expected a JSON object", r,
                            json_type_name(row));
    json_t *meta = c->dyn_index >= 0 ? json_object() : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(row, key, v)
    {
        int fi = schema_field_index(&c->schema, key);
        if (fi >= 0 && !c->schema.fields[fi].is_dynamic)
            continue;
        if (!meta) {
            return kite_err_set(err, KITE_EDATA,
                                "row %zu: field %s does not exist in collection %s (dynamic "
                                "field is not enabled)",
                                r, key, c->name);
        }
        if (strcmp(key, DB_META_FIELD) == 0 && json_is_object(v))
            json_object_update(meta, v);
        else
            json_object_set(meta, key, v);
    }
    for (size_t i = 0; i < c->schema.n_fields; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        if (f->is_dynamic) {
            size_t len;
            char *t = db_json_text(meta, &len);
            rc = t ? colbuf_append_val(&cols[i], t, len) : KITE_ENOMEM;
            kite_free(t);
            if (rc)
                goto out;
            continue;
        }
        v = json_object_get(row, f->name);
        if (f->is_primary && f->auto_id && !upsert) {
            if (v) {
                rc = kite_err_set(err, KITE_EINVAL,
                                  "can not assign primary field data when auto id enabled %s",
                                  f->name);
                goto out;
            }
            continue;
        }
        if (!v || json_is_null(v)) {
            if (!f->nullable && !f->default_json) {
                rc = kite_err_set(err, KITE_EDATA,
                                  "row %zu: field %s is missing: it is neither nullable nor has "
                                  "a default value",
                                  r, f->name);
                goto out;
            }
            rc = colbuf_append_val(&cols[i], NULL, 0);
        } else {
            rc = json_value(f, v, r, &cols[i], err);
        }
        if (rc)
            goto out;
    }
    rc = KITE_OK;
out:
    json_decref(meta);
    return rc;
}

/*
 * Rows parsed into one column buffer per schema field (kite_column views over them), built
 * before the collection lock is taken: it reads only the schema, which never changes after
 * creation.  auto_id keys, defaults and the column checks come later, under the lock, in
 * batch_from_columns, exactly as for kite_insert.
 */
struct json_cols {
    struct colbuf *cols; /* n_fields */
    kite_column *views;  /* n_views, in schema order (auto_id pk skipped on insert) */
    size_t n_fields, n_views;
};

static void json_cols_free(struct json_cols *jc)
{
    if (jc->cols)
        for (size_t i = 0; i < jc->n_fields; i++)
            colbuf_free(&jc->cols[i]);
    kite_free(jc->cols);
    kite_free(jc->views);
    memset(jc, 0, sizeof(*jc));
}

/* rows: a JSON array of objects (one object is taken as one row); borrowed. */
static int json_cols_from_tree(struct dcoll *c, json_t *rows, bool upsert, struct json_cols *jc,
                               kite_err *err)
{
    size_t nf = c->schema.n_fields;
    int rc;
    memset(jc, 0, sizeof(*jc));
    if (json_is_object(rows)) {
        json_t *a = json_array();
        if (!a || json_array_append(a, rows)) {
            json_decref(a);
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
        rc = json_cols_from_tree(c, a, upsert, jc, err);
        json_decref(a);
        return rc;
    }
    if (!json_is_array(rows) || json_array_size(rows) == 0)
        return kite_err_set(err, KITE_EDATA, "rows must be a non-empty JSON array of objects");
    jc->n_fields = nf;
    jc->cols = kite_calloc(nf, sizeof(*jc->cols));
    jc->views = kite_calloc(nf, sizeof(*jc->views));
    if (!jc->cols || !jc->views) {
        json_cols_free(jc);
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nf; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        colbuf_init(&jc->cols[i], f->dtype, f->element_type, (uint32_t)f->dim,
                    !kite_dtype_is_vector(f->dtype));
    }
    for (size_t r = 0; r < json_array_size(rows); r++) {
        rc = json_row(c, json_array_get(rows, r), r, upsert, jc->cols, err);
        if (rc) {
            json_cols_free(jc);
            return rc;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        const kite_field_schema *f = &c->schema.fields[i];
        if (f->is_primary && f->auto_id && !upsert)
            continue;
        colbuf_view(&jc->cols[i], f->name, &jc->views[jc->n_views++]);
    }
    return KITE_OK;
}

static int json_cols_from_text(struct dcoll *c, const char *text, size_t len, bool upsert,
                               struct json_cols *jc, kite_err *err)
{
    json_error_t je;
    json_t *rows = json_loadb(text ? text : "", len, 0, &je);
    memset(jc, 0, sizeof(*jc));
    if (!rows)
        return kite_err_set(err, KITE_EDATA, "rows are not valid JSON: %s (line %d, column %d)",
                            je.text, je.line, je.column);
    int rc = json_cols_from_tree(c, rows, upsert, jc, err);
    json_decref(rows);
    return rc;
}

/* ============================================================ write path */

/* What a write carries: columns (kite_insert), JSON text, or a parsed JSON tree. */
struct wsrc {
    const kite_column *cols;
    size_t n_cols;
    const char *json;
    size_t json_len;
    json_t *tree;
};

static int resolve_write_part(struct dcoll *c, const char *partition, int64_t *id, kite_err *err)
{
    const char *name = partition && *partition ? partition : "_default";
    struct dpart *p = coll_find_part(c, name);
    if (!p)
        return kite_err_set(err, KITE_ENOPART, "partition not found[partition=%s]", name);
    *id = p->id;
    return KITE_OK;
}

static int fill_ids(const struct dcoll *c, const struct batch *b, kite_write_result *res)
{
    struct colbuf ids;
    const struct colbuf *pk = &b->cols[c->pk_index];
    colbuf_init(&ids, pk->dtype, 0, 0, false);
    kite_column v;
    colbuf_view(pk, NULL, &v);
    v.valid = NULL;
    int rc = colbuf_append_col(&ids, &v);
    if (rc) {
        colbuf_free(&ids);
        return rc;
    }
    colbuf_detach(&ids, c->schema.fields[c->pk_index].name, &res->ids);
    return KITE_OK;
}

/* Append + apply under the exclusive lock; returns the LSN to sync. */
static int log_and_apply(struct dcoll *c, uint8_t type, const struct kite_buf *rec,
                         uint64_t *lsn, uint64_t *n_deleted, kite_err *err)
{
    int rc = wal_append(c->wal, type, rec->data, rec->len, lsn);
    if (rc)
        return kite_err_set(err, rc, "write to collection %s failed: WAL append: %s", c->name,
                            kite_strerror(rc));
    rc = coll_apply_record(c, type, rec->data, rec->len, n_deleted, err);
    if (rc) {
        /* Memory no longer matches the WAL: refuse further use until reopen. */
        c->broken_rc = rc;
        snprintf(c->broken_msg, sizeof(c->broken_msg),
                 "applying a write failed (%s); reopen to recover from the WAL",
                 kite_strerror(rc));
        return rc;
    }
    c->applied_lsn = *lsn;
    kite_err seal_err;
    if (coll_maybe_seal(c, &seal_err) != KITE_OK)
        KITE_WARN("collection %s: sealing failed (data stays in the WAL): %s", c->name,
                  seal_err.message);
    return KITE_OK;
}

static int sync_and_ack(struct dcoll *c, uint64_t lsn, kite_err *err)
{
    int rc = wal_sync(c->wal, lsn);
    if (rc)
        return kite_err_set(err, rc,
                            "write to collection %s is not durable: WAL sync failed (%s); the "
                            "collection now refuses writes",
                            c->name, kite_strerror(rc));
    return KITE_OK;
}

static int write_rows(kite_db *db, const char *dbname, const char *coll, const char *partition,
                      const struct wsrc *src, bool upsert, kite_write_result *res, kite_err *err)
{
    struct dcoll *c = NULL;
    struct batch b = {0};
    struct kite_buf rec;
    struct json_cols jc = {0};
    uint64_t lsn = 0, nd;
    int64_t part_id = 0;
    kite_err_clear(err);
    if (res)
        memset(res, 0, sizeof(*res));
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    kite_buf_init(&rec, 0);
    /* JSON rows are parsed before the lock: searches and other writers wait only for the
     * short part below. */
    if (src->tree)
        rc = json_cols_from_tree(c, src->tree, upsert, &jc, err);
    else if (src->json)
        rc = json_cols_from_text(c, src->json, src->json_len, upsert, &jc, err);
    if (rc) {
        kite_buf_free(&rec);
        coll_unref(c);
        return rc;
    }
    pthread_rwlock_wrlock(&c->lock);
    rc = coll_check_usable(c, true, err);
    if (!rc)
        rc = resolve_write_part(c, partition, &part_id, err);
    if (!rc)
        rc = jc.cols ? batch_from_columns(c, jc.views, jc.n_views, upsert, &b, err)
                     : batch_from_columns(c, src->cols, src->n_cols, upsert, &b, err);
    json_cols_free(&jc);
    if (rc)
        goto out_unlock;
    uint8_t hdr[9];
    hdr[0] = 1;
    kite_put_u64(hdr + 1, (uint64_t)part_id);
    rc = kite_buf_append(&rec, hdr, 9);
    if (!rc && upsert) {
        kite_column pks;
        colbuf_view(&b.cols[c->pk_index], NULL, &pks);
        rc = pks_encode(&pks, &rec);
    }
    if (!rc)
        rc = batch_encode(&b, &rec);
    if (rc) {
        rc = kite_err_set(err, rc, "out of memory encoding the write");
        goto out_unlock;
    }
    rc = log_and_apply(c, upsert ? WREC_UPSERT : WREC_INSERT, &rec, &lsn, &nd, err);
    if (!rc && res) {
        res->insert_count = upsert ? 0 : b.n;
        res->upsert_count = upsert ? b.n : 0;
        res->delete_count = nd;
        if (fill_ids(c, &b, res))
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory building the result");
    }
out_unlock:
    pthread_rwlock_unlock(&c->lock);
    if (lsn) {
        int src_rc = sync_and_ack(c, lsn, err);
        if (src_rc)
            rc = src_rc;
    }
    if (rc && res)
        kite_write_result_free(res);
    kite_buf_free(&rec);
    batch_free(&b);
    coll_unref(c);
    return rc;
}

int kite_insert(kite_db *db, const char *dbname, const char *coll, const char *partition,
                const kite_column *cols, size_t n_cols, kite_write_result *res, kite_err *err)
{
    struct wsrc s = {cols, n_cols, NULL, 0, NULL};
    return write_rows(db, dbname, coll, partition, &s, false, res, err);
}

int kite_upsert(kite_db *db, const char *dbname, const char *coll, const char *partition,
                const kite_column *cols, size_t n_cols, kite_write_result *res, kite_err *err)
{
    struct wsrc s = {cols, n_cols, NULL, 0, NULL};
    return write_rows(db, dbname, coll, partition, &s, true, res, err);
}

int kite_insert_json(kite_db *db, const char *dbname, const char *coll, const char *partition,
                     const char *rows_json, size_t len, bool upsert, kite_write_result *res,
                     kite_err *err)
{
    if (!rows_json)
        return kite_err_set(err, KITE_EMISSING, "rows are required");
    struct wsrc s = {NULL, 0, rows_json, len, NULL};
    return write_rows(db, dbname, coll, partition, &s, upsert, res, err);
}

int kite_insert_json_parsed(kite_db *db, const char *dbname, const char *coll,
                            const char *partition, const void *rows, bool upsert,
                            kite_write_result *res, kite_err *err)
{
    if (!rows)
        return kite_err_set(err, KITE_EMISSING, "rows are required");
    struct wsrc s = {NULL, 0, NULL, 0, (json_t *)rows};
    return write_rows(db, dbname, coll, partition, &s, upsert, res, err);
}

void kite_write_result_free(kite_write_result *r)
{
    if (!r)
        return;
    db_column_free(&r->ids);
    memset(r, 0, sizeof(*r));
}

/* Collect pks of live rows matching plan in scope; returns an owned colbuf. */
static int collect_pks(struct dcoll *c, const struct expr_plan *plan, int64_t part_id,
                       struct colbuf *out, kite_err *err)
{
    const kite_field_schema *pkf = &c->schema.fields[c->pk_index];
    colbuf_init(out, pkf->dtype, 0, 0, false);
    for (size_t si = 0; si < c->n_segs; si++) {
        struct dseg *s = c->segs[si];
        if (part_id >= 0 && s->part_id != part_id)
            continue;
        uint64_t *bits = kite_calloc((s->n + 63) / 64 + 1, 8);
        size_t n_allowed;
        if (!bits)
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        int rc = seg_filter(c, s, plan, bits, &n_allowed, err);
        for (size_t r = 0; r < s->n && !rc; r++)
            if ((bits[r / 64] >> (r % 64)) & 1)
                rc = colbuf_append_row(out, &s->cols[c->pk_index], r);
        kite_free(bits);
        if (rc)
            return rc;
    }
    return KITE_OK;
}

int kite_delete(kite_db *db, const char *dbname, const char *coll, const char *partition,
                const char *filter, const char *template_json, kite_write_result *res,
                kite_err *err)
{
    struct dcoll *c = NULL;
    struct expr_plan *plan = NULL;
    struct colbuf pks;
    struct kite_buf rec;
    uint64_t lsn = 0, nd = 0;
    int64_t part_id = -1;
    kite_err_clear(err);
    if (res)
        memset(res, 0, sizeof(*res));
    const char *f = filter;
    while (f && (*f == ' ' || *f == '\t' || *f == '\n' || *f == '\r'))
        f++;
    if (!f || !*f)
        return kite_err_set(err, KITE_EINVAL, "delete plan can't be empty or always true : %s",
                            filter ? filter : "");
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    colbuf_init(&pks, KITE_DT_INT64, 0, 0, false);
    kite_buf_init(&rec, 0);
    pthread_rwlock_wrlock(&c->lock);
    rc = coll_check_usable(c, true, err);
    if (!rc && partition && *partition)
        rc = resolve_write_part(c, partition, &part_id, err);
    if (!rc)
        rc = expr_compile(filter, template_json, &c->eschema, &plan, err);
    if (!rc && expr_plan_is_true(plan))
        rc = kite_err_set(err, KITE_EINVAL, "delete plan can't be empty or always true : %s",
                          filter);
    if (!rc) {
        colbuf_free(&pks);
        rc = collect_pks(c, plan, part_id, &pks, err);
    }
    if (rc || pks.n == 0)
        goto out_unlock;
    uint8_t hdr[9];
    hdr[0] = 1;
    kite_put_u64(hdr + 1, (uint64_t)part_id);
    kite_column view;
    colbuf_view(&pks, NULL, &view);
    rc = kite_buf_append(&rec, hdr, 9);
    rc = rc ? rc : pks_encode(&view, &rec);
    if (rc) {
        rc = kite_err_set(err, rc, "out of memory encoding the delete");
        goto out_unlock;
    }
    rc = log_and_apply(c, WREC_DELETE, &rec, &lsn, &nd, err);
out_unlock:
    pthread_rwlock_unlock(&c->lock);
    if (lsn) {
        int s_rc = sync_and_ack(c, lsn, err);
        if (s_rc)
            rc = s_rc;
    }
    if (!rc && res)
        res->delete_count = nd;
    expr_plan_free(plan);
    colbuf_free(&pks);
    kite_buf_free(&rec);
    coll_unref(c);
    return rc;
}
