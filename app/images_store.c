/*
 * images_store.c — the images collection over the embedded library (kite.h), plus
 * the small utilities every images_* file shares (ids, hashes, base64, lists).
 *
 * Design notes:
 *  1. The row id is a hash of the absolute path, not an auto id: re-indexing a
 *     changed file upserts the same row, and the web page can address images by id
 *     without ever taking a path from the client.  53 bits, not 63: ids travel as
 *     JSON numbers to browsers, where integers above 2^53 silently lose their low
 *     digits (measured: every thumbnail URL of the page 404'd with 63-bit ids).
 *     Collision odds stay negligible (about 5e-5 for a million files).
 *  2. Thumbnails live in the row (VarChar, base64 JPEG) rather than in files beside
 *     the data directory, so they travel with the data over REST (`--server`) and
 *     are deleted with the row.  ~160 px JPEGs are 4-12 KB; the cap is checked.
 *  3. Listing everything indexed uses a query with the filter "id >= 0" and no
 *     limit (ids are 53-bit, never negative).
 *
 * Threading model: one thread at a time per store (the kite_db itself is
 * thread-safe; the store adds no state that needs a lock).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "images_app.h"

/* =============================================================== utilities */

uint64_t images_fnv1a(const void *data, size_t len, uint64_t h)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int64_t images_path_id(const char *path)
{
    return (int64_t)(images_fnv1a(path, strlen(path), IMAGES_FNV_SEED) & IMAGES_ID_MAX);
}

void images_row_list_free(struct images_row_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        kite_free(l->rows[i].path);
        kite_free(l->rows[i].hash);
    }
    kite_free(l->rows);
    l->rows = NULL;
    l->n = 0;
}

void images_hit_list_free(struct images_hit_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        kite_free(l->hits[i].name);
        kite_free(l->hits[i].path);
    }
    kite_free(l->hits);
    l->hits = NULL;
    l->n = 0;
}

void images_schema_fields(kite_field_schema f[IMAGES_N_FIELDS], uint32_t dim)
{
    static const struct {
        const char *name;
        int dtype;
        int64_t max_len;
    } spec[IMAGES_N_FIELDS] = {
        {"id", KITE_DT_INT64, 0},         {"name", KITE_DT_VARCHAR, 1024},
        {"path", KITE_DT_VARCHAR, IMAGES_PATH_MAX}, {"size", KITE_DT_INT64, 0},
        {"mtime", KITE_DT_INT64, 0},      {"hash", KITE_DT_VARCHAR, 32},
        {"thumb", KITE_DT_VARCHAR, 65535}, {"embedding", KITE_DT_FLOAT_VECTOR, 0},
    };
    memset(f, 0, sizeof(*f) * IMAGES_N_FIELDS);
    for (int i = 0; i < IMAGES_N_FIELDS; i++) {
        f[i].name = (char *)spec[i].name;
        f[i].dtype = spec[i].dtype;
        f[i].max_length = spec[i].max_len;
    }
    f[0].is_primary = true;
    f[IMAGES_N_FIELDS - 1].dim = dim;
}

/* Column accessors for results: the i-th VarChar value as (ptr, len). */
static const kite_column *result_field(const kite_result *r, const char *name)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].name && strcmp(r->fields[i].name, name) == 0)
            return &r->fields[i];
    return NULL;
}

static char *col_str(const kite_column *c, size_t i)
{
    if (!c || c->dtype != KITE_DT_VARCHAR || i >= c->n)
        return kite_strdup("");
    const char *d = c->data;
    return kite_strndup(d + c->offsets[i], (size_t)(c->offsets[i + 1] - c->offsets[i]));
}

static int64_t col_i64(const kite_column *c, size_t i)
{
    if (!c || c->dtype != KITE_DT_INT64 || i >= c->n)
        return -1;
    return ((const int64_t *)c->data)[i];
}

/* ========================================================== embedded store */

struct db_store {
    struct images_store base;
    kite_db *db;
};

static bool db_exists(struct images_store *s)
{
    struct db_store *d = (struct db_store *)s;
    bool has = false;
    if (kite_collection_has(d->db, NULL, s->collection, &has, NULL) != KITE_OK)
        return false;
    return has;
}

static int db_ensure(struct images_store *s, uint32_t dim, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    int rc = KITE_OK;
    if (!db_exists(s)) {
        kite_field_schema fields[IMAGES_N_FIELDS];
        images_schema_fields(fields, dim);
        kite_schema schema = {.description = (char *)"kite images", .fields = fields,
                              .n_fields = IMAGES_N_FIELDS};
        kite_create_params cp;
        kite_create_params_init(&cp);
        cp.schema = &schema;
        rc = kite_collection_create(d->db, NULL, s->collection, &cp, err);
        if (rc != KITE_OK)
            return rc;
        kite_index_params ip;
        kite_index_params_init(&ip);
        ip.field_name = "embedding";
        ip.index_type = IMAGES_INDEX_TYPE;
        ip.metric_type = "COSINE";
        ip.params_json = IMAGES_INDEX_PARAMS;
        rc = kite_index_create(d->db, NULL, s->collection, &ip, err);
        if (rc != KITE_OK)
            return rc;
    } else {
        kite_collection_info *info = NULL;
        rc = kite_collection_describe(d->db, NULL, s->collection, &info, err);
        if (rc != KITE_OK)
            return rc;
        int64_t have = -1;
        for (size_t i = 0; i < info->schema.n_fields; i++)
            if (strcmp(info->schema.fields[i].name, "embedding") == 0)
                have = info->schema.fields[i].dim;
        kite_collection_info_free(info);
        if (have != (int64_t)dim)
            return kite_err_set(err, KITE_EINVAL,
                                "collection '%s' has no 'embedding' field of dimension %u (it "
                                "has %lld); use another --collection or drop it",
                                s->collection, dim, (long long)have);
    }
    return kite_collection_load(d->db, NULL, s->collection, err);
}

static int db_list(struct images_store *s, struct images_row_list *out, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    static const char *const fields[] = {"path", "size", "mtime", "hash"};
    kite_query_params qp;
    kite_query_params_init(&qp);
    qp.filter = "id >= 0";
    qp.limit = -1;
    qp.output_fields = fields;
    qp.n_output_fields = 4;
    qp.consistency_level = KITE_CONSISTENCY_STRONG;
    kite_result *r = NULL;
    memset(out, 0, sizeof(*out));
    int rc = kite_query(d->db, NULL, s->collection, &qp, &r, err);
    if (rc != KITE_OK)
        return rc;
    if (r->n_rows) {
        out->rows = kite_calloc(r->n_rows, sizeof(*out->rows));
        if (!out->rows) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory listing %zu rows", r->n_rows);
            goto out_free;
        }
    }
    const kite_column *cp = result_field(r, "path"), *cs = result_field(r, "size"),
                      *cm = result_field(r, "mtime"), *ch = result_field(r, "hash");
    for (size_t i = 0; i < r->n_rows; i++) {
        struct images_row *row = &out->rows[out->n++];
        row->id = col_i64(&r->ids, i);
        row->path = col_str(cp, i);
        row->hash = col_str(ch, i);
        row->size = col_i64(cs, i);
        row->mtime = col_i64(cm, i);
        if (!row->path || !row->hash) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory listing rows");
            goto out_free;
        }
    }
out_free:
    kite_result_free(r);
    if (rc != KITE_OK)
        images_row_list_free(out);
    return rc;
}

/* Build one VarChar column from n strings picked by `pick` out of rows. */
static int varchar_col(kite_column *c, const char *name, const struct images_new_row *rows,
                       size_t n, size_t field_off, struct kite_buf *bytes, uint64_t **offs)
{
    *offs = kite_calloc(n + 1, sizeof(uint64_t));
    if (!*offs)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *v = *(const char *const *)((const char *)&rows[i] + field_off);
        if (kite_buf_append(bytes, v, strlen(v)) != KITE_OK)
            return KITE_ENOMEM;
        (*offs)[i + 1] = bytes->len;
    }
    *c = (kite_column){.name = name, .dtype = KITE_DT_VARCHAR, .n = n, .data = bytes->data,
                       .offsets = *offs};
    return KITE_OK;
}

static int db_upsert(struct images_store *s, const struct images_new_row *rows, size_t n,
                     uint32_t dim, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    int rc = KITE_OK;
    enum { N_STR = 4 };
    static const struct {
        const char *name;
        size_t off;
    } str_fields[N_STR] = {
        {"name", offsetof(struct images_new_row, name)},
        {"path", offsetof(struct images_new_row, path)},
        {"hash", offsetof(struct images_new_row, hash)},
        {"thumb", offsetof(struct images_new_row, thumb_b64)},
    };
    struct kite_buf bytes[N_STR];
    uint64_t *offs[N_STR] = {0};
    kite_column cols[IMAGES_N_FIELDS];
    int64_t *ints = kite_calloc(n * 3, sizeof(int64_t));
    float *vecs = NULL;
    size_t vec_len;
    for (int i = 0; i < N_STR; i++)
        kite_buf_init(&bytes[i], 0);
    if (!ints || !kite_mul_size(n, (size_t)dim * sizeof(float), &vec_len) ||
        !(vecs = kite_malloc(vec_len ? vec_len : 1))) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory building a batch of %zu rows", n);
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        ints[i] = rows[i].id;
        ints[n + i] = rows[i].size;
        ints[2 * n + i] = rows[i].mtime;
        memcpy(vecs + i * dim, rows[i].vec, dim * sizeof(float));
    }
    cols[0] = (kite_column){.name = "id", .dtype = KITE_DT_INT64, .n = n, .data = ints};
    cols[1] = (kite_column){.name = "size", .dtype = KITE_DT_INT64, .n = n, .data = ints + n};
    cols[2] = (kite_column){.name = "mtime", .dtype = KITE_DT_INT64, .n = n, .data = ints + 2 * n};
    cols[3] = (kite_column){.name = "embedding", .dtype = KITE_DT_FLOAT_VECTOR, .dim = dim,
                            .n = n, .data = vecs};
    for (int i = 0; i < N_STR; i++) {
        if (varchar_col(&cols[4 + i], str_fields[i].name, rows, n,
                        str_fields[i].off, &bytes[i], &offs[i]) != KITE_OK) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory building a batch of %zu rows", n);
            goto out_free;
        }
    }
    kite_write_result wr;
    memset(&wr, 0, sizeof(wr));
    rc = kite_upsert(d->db, NULL, s->collection, NULL, cols, IMAGES_N_FIELDS, &wr, err);
    kite_write_result_free(&wr);
out_free:
    for (int i = 0; i < N_STR; i++) {
        kite_buf_free(&bytes[i]);
        kite_free(offs[i]);
    }
    kite_free(ints);
    kite_free(vecs);
    return rc;
}

static int db_remove(struct images_store *s, const int64_t *ids, size_t n, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    struct kite_buf f;
    int rc = KITE_OK;
    for (size_t i = 0; i < n && rc == KITE_OK; i += 256) {
        kite_buf_init(&f, 0);
        rc = kite_buf_printf(&f, "id in [");
        for (size_t k = i; k < n && k < i + 256 && rc == KITE_OK; k++)
            rc = kite_buf_printf(&f, "%s%" PRId64, k == i ? "" : ",", ids[k]);
        if (rc == KITE_OK)
            rc = kite_buf_printf(&f, "]");
        if (rc == KITE_OK) {
            kite_write_result wr;
            memset(&wr, 0, sizeof(wr));
            rc = kite_delete(d->db, NULL, s->collection, NULL, (const char *)f.data, NULL, &wr,
                             err);
            kite_write_result_free(&wr);
        } else {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory building a delete filter");
        }
        kite_buf_free(&f);
    }
    return rc;
}

static int db_search(struct images_store *s, const float *vec, uint32_t dim, int top,
                     struct images_hit_list *out, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    static const char *const fields[] = {"name", "path"};
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.anns_field = "embedding";
    sp.vectors = vec;
    sp.nq = 1;
    sp.vector_dtype = KITE_DT_FLOAT_VECTOR;
    sp.dim = dim;
    sp.limit = top;
    sp.output_fields = fields;
    sp.n_output_fields = 2;
    sp.params_json = IMAGES_SEARCH_PARAMS;
    kite_result *r = NULL;
    memset(out, 0, sizeof(*out));
    int rc = kite_search(d->db, NULL, s->collection, &sp, &r, err);
    if (rc != KITE_OK)
        return rc;
    if (r->n_rows && !(out->hits = kite_calloc(r->n_rows, sizeof(*out->hits)))) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out_free;
    }
    const kite_column *cn = result_field(r, "name"), *cp = result_field(r, "path");
    for (size_t i = 0; i < r->n_rows; i++) {
        struct images_hit *h = &out->hits[out->n++];
        h->id = col_i64(&r->ids, i);
        h->distance = 1.0f - r->scores[i] > 0 ? 1.0f - r->scores[i] : 0.0f;
        h->name = col_str(cn, i);
        h->path = col_str(cp, i);
        if (!h->name || !h->path) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            goto out_free;
        }
    }
out_free:
    kite_result_free(r);
    if (rc != KITE_OK)
        images_hit_list_free(out);
    return rc;
}

static int db_count(struct images_store *s, uint64_t *rows, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    return kite_collection_row_count(d->db, NULL, s->collection, rows, err);
}

static int db_flush(struct images_store *s, kite_err *err)
{
    struct db_store *d = (struct db_store *)s;
    return kite_collection_flush(d->db, NULL, s->collection, err);
}

static void db_close(struct images_store *s)
{
    kite_free(s->collection);
    kite_free(s);
}

static const struct images_store_ops db_ops = {
    .ensure = db_ensure,
    .exists = db_exists,
    .list = db_list,
    .upsert = db_upsert,
    .remove = db_remove,
    .search = db_search,
    .count = db_count,
    .flush = db_flush,
    .progress = NULL,
    .close = db_close,
};

int images_store_open_db(kite_db *db, const char *collection, struct images_store **out,
                         kite_err *err)
{
    struct db_store *d = kite_calloc(1, sizeof(*d));
    if (!d || !(d->base.collection = kite_strdup(collection))) {
        kite_free(d);
        return kite_err_set(err, KITE_ENOMEM, "out of memory opening the images store");
    }
    d->base.ops = &db_ops;
    d->db = db;
    *out = &d->base;
    return KITE_OK;
}

void images_store_close(struct images_store *s)
{
    if (s)
        s->ops->close(s);
}
