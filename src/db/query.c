/*
 * query.c — kite_query (filter + output fields + offset/limit, count(*)),
 * kite_get (by primary keys) and row counts.
 *
 * Results are in segment order and, within a segment, in primary-key order
 * (sealed segments are stored sorted by pk; growing rows are sorted here),
 * which is what Milvus promises ("ordered by pk within segments").
 *
 * Threading model: runs under the collection's shared lock.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "search_int.h"

static _Thread_local const kite_column *qsort_pk;

static int cmp_rows_pk(const void *a, const void *b)
{
    uint32_t x = ((const struct rowref *)a)->row, y = ((const struct rowref *)b)->row;
    int c;
    if (qsort_pk->dtype == KITE_DT_INT64) {
        int64_t u = ((const int64_t *)qsort_pk->data)[x], v = ((const int64_t *)qsort_pk->data)[y];
        c = (u > v) - (u < v);
    } else {
        size_t lu, lv;
        const char *u = db_col_var(qsort_pk, x, &lu), *v = db_col_var(qsort_pk, y, &lv);
        c = memcmp(u, v, lu < lv ? lu : lv);
        if (!c)
            c = (lu > lv) - (lu < lv);
    }
    return c ? c : (x > y) - (x < y);
}

static int check_query(const kite_query_params *p, const struct outsel *o, kite_err *err)
{
    bool empty = true;
    for (const char *f = p->filter; f && *f; f++)
        if (*f != ' ' && *f != '\t' && *f != '\n' && *f != '\r')
            empty = false;
    if (o->count && (p->limit >= 0 || p->offset > 0))
        return kite_err_set(err, KITE_EINVAL, "count entities with pagination is not allowed");
    if (!o->count && empty && p->limit < 0)
        return kite_err_set(err, KITE_EINVAL, "empty expression should be used with limit");
    if (p->offset < 0)
        return kite_err_set(err, KITE_EINVAL, "offset %lld is invalid: expected >= 0",
                            (long long)p->offset);
    if (p->limit >= 0 && (p->limit + p->offset > DB_MAX_TOPK || p->limit + p->offset < 1))
        return kite_err_set(err, KITE_EINVAL,
                            "invalid max query result window, (offset+limit) should be in range "
                            "[1, 16384], but got %lld",
                            (long long)(p->limit + p->offset));
    return KITE_OK;
}

static int count_result(uint64_t count, kite_result **out)
{
    kite_result *r = result_new();
    struct colbuf b;
    int64_t v = (int64_t)count;
    if (!r)
        return KITE_ENOMEM;
    r->nq = 1;
    r->is_count = true;
    r->topks = kite_calloc(1, sizeof(int64_t));
    r->fields = kite_calloc(1, sizeof(kite_column));
    colbuf_init(&b, KITE_DT_INT64, 0, 0, false);
    if (!r->topks || !r->fields || colbuf_append_val(&b, &v, 8)) {
        colbuf_free(&b);
        kite_result_free(r);
        return KITE_ENOMEM;
    }
    colbuf_detach(&b, "count(*)", &r->fields[0]);
    r->n_fields = 1;
    r->topks[0] = 1;
    r->n_rows = 1;
    *out = r;
    return KITE_OK;
}

/* Matching rows of segment si appended to *rows (pk order). */
static int match_segment(struct dcoll *c, size_t si, const struct expr_plan *plan,
                         struct rowref **rows, size_t *n, size_t *cap, kite_err *err)
{
    struct dseg *s = c->segs[si];
    uint64_t *bits = kite_calloc((s->n + 63) / 64 + 1, 8);
    size_t n_allowed, start = *n;
    if (!bits)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    int rc = seg_filter(c, s, plan, bits, &n_allowed, err);
    if (rc)
        goto out;
    if (*n + n_allowed > *cap) {
        size_t nc = (*n + n_allowed) * 2 + 16;
        struct rowref *nr = kite_realloc(*rows, nc * sizeof(*nr));
        if (!nr) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            goto out;
        }
        *rows = nr;
        *cap = nc;
    }
    for (size_t r = 0; r < s->n; r++)
        if ((bits[r / 64] >> (r % 64)) & 1)
            (*rows)[(*n)++] = (struct rowref){(uint32_t)si, (uint32_t)r};
    if (!s->sealed && *n - start > 1) {
        qsort_pk = &s->cols[c->pk_index];
        qsort(*rows + start, *n - start, sizeof(struct rowref), cmp_rows_pk);
    }
out:
    kite_free(bits);
    return rc;
}

static int run_query(struct dcoll *c, const kite_query_params *p, const struct outsel *o,
                     kite_result **out, kite_err *err)
{
    struct expr_plan *plan = NULL;
    int64_t *parts = NULL;
    size_t n_parts = 0, n = 0, cap = 0;
    struct rowref *rows = NULL;
    kite_result *r = NULL;
    int rc = coll_resolve_parts(c, p->partitions, p->n_partitions, &parts, &n_parts, err);
    if (!rc)
        rc = expr_compile(p->filter, p->template_json, &c->eschema, &plan, err);
    for (size_t si = 0; !rc && si < c->n_segs; si++)
        if (part_selected(parts, n_parts, c->segs[si]->part_id))
            rc = match_segment(c, si, plan, &rows, &n, &cap, err);
    if (rc)
        goto out;
    if (o->count) {
        rc = count_result(n, out);
        if (rc)
            rc = kite_err_set(err, rc, "out of memory");
        goto out;
    }
    size_t from = (size_t)p->offset < n ? (size_t)p->offset : n, to = n;
    if (p->limit >= 0 && to - from > (size_t)p->limit)
        to = from + (size_t)p->limit;
    r = result_new();
    if (!r || !(r->topks = kite_calloc(1, sizeof(int64_t)))) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    r->nq = 1;
    r->topks[0] = (int64_t)(to - from);
    rc = result_fill(c, o, rows ? rows + from : NULL, to - from, r);
    if (rc) {
        rc = kite_err_set(err, rc, "out of memory building the result");
        goto out;
    }
    *out = r;
    r = NULL;
out:
    kite_result_free(r);
    kite_free(rows);
    kite_free(parts);
    expr_plan_free(plan);
    return rc;
}

int kite_query(kite_db *db, const char *dbname, const char *coll, const kite_query_params *p,
               kite_result **out, kite_err *err)
{
    struct dcoll *c = NULL;
    struct outsel o = {0};
    kite_err_clear(err);
    *out = NULL;
    if (!p)
        return kite_err_set(err, KITE_EMISSING, "query parameters are required");
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&c->lock);
    rc = coll_check_loaded(c, err);
    if (!rc)
        rc = outsel_resolve(c, p->output_fields, p->n_output_fields, true, &o, err);
    if (!rc) {
        /* Query always returns the primary key as a field too. */
        bool has_pk = false;
        for (size_t i = 0; i < o.n_fields; i++)
            has_pk |= o.fields[i] == c->pk_index;
        if (!has_pk && !o.count) {
            memmove(o.fields + 1, o.fields, o.n_fields * sizeof(int));
            o.fields[0] = c->pk_index;
            o.n_fields++;
        }
        rc = check_query(p, &o, err);
    }
    if (!rc)
        rc = run_query(c, p, &o, out, err);
    pthread_rwlock_unlock(&c->lock);
    outsel_free(&o);
    coll_unref(c);
    return rc;
}

/* ============================================================ get */

struct skey {
    const char *p;
    size_t len;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_skey(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sorted copy of the requested keys, for binary search. */
static void *sorted_keys(const kite_column *ids)
{
    bool is_int = ids->dtype == KITE_DT_INT64;
    size_t w = is_int ? 8 : sizeof(struct skey);
    void *k = kite_malloc((ids->n ? ids->n : 1) * w);
    if (!k)
        return NULL;
    for (size_t i = 0; i < ids->n; i++) {
        if (is_int)
            ((int64_t *)k)[i] = ((const int64_t *)ids->data)[i];
        else
            ((struct skey *)k)[i].p = db_col_var(ids, i, &((struct skey *)k)[i].len);
    }
    qsort(k, ids->n, w, is_int ? cmp_i64 : cmp_skey);
    return k;
}

static bool pk_in(const void *keys, size_t n, const kite_column *pk, size_t row)
{
    if (pk->dtype == KITE_DT_INT64)
        return bsearch(&((const int64_t *)pk->data)[row], keys, n, 8, cmp_i64) != NULL;
    struct skey k;
    k.p = db_col_var(pk, row, &k.len);
    return bsearch(&k, keys, n, sizeof(k), cmp_skey) != NULL;
}

static int run_get(struct dcoll *c, const kite_column *ids, const struct outsel *o,
                   const int64_t *parts, size_t n_parts, kite_result **out, kite_err *err)
{
    size_t n = 0, cap = 16;
    struct rowref *rows = kite_malloc(cap * sizeof(*rows));
    kite_result *r = result_new();
    void *keys = sorted_keys(ids);
    int rc = KITE_OK;
    if (!rows || !r || !keys) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t si = 0; si < c->n_segs; si++) {
        struct dseg *s = c->segs[si];
        if (!part_selected(parts, n_parts, s->part_id))
            continue;
        for (size_t row = 0; row < s->n; row++) {
            if (seg_is_deleted(s, row) || !pk_in(keys, ids->n, &s->cols[c->pk_index], row))
                continue;
            if (n == cap) {
                struct rowref *nr = kite_realloc(rows, cap * 2 * sizeof(*nr));
                if (!nr) {
                    rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
                    goto out;
                }
                rows = nr;
                cap *= 2;
            }
            rows[n++] = (struct rowref){(uint32_t)si, (uint32_t)row};
        }
    }
    r->nq = 1;
    r->topks = kite_calloc(1, sizeof(int64_t));
    if (!r->topks || result_fill(c, o, rows, n, r)) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    r->topks[0] = (int64_t)n;
    *out = r;
    r = NULL;
out:
    kite_free(keys);
    kite_free(rows);
    kite_result_free(r);
    return rc;
}

int kite_get(kite_db *db, const char *dbname, const char *coll, const kite_column *ids,
             const char *const *output_fields, size_t n_output_fields,
             const char *const *partitions, size_t n_partitions, kite_result **out,
             kite_err *err)
{
    struct dcoll *c = NULL;
    struct outsel o = {0};
    int64_t *parts = NULL;
    size_t n_parts = 0;
    kite_err_clear(err);
    *out = NULL;
    if (!ids)
        return kite_err_set(err, KITE_EMISSING, "ids are required");
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&c->lock);
    rc = coll_check_loaded(c, err);
    if (!rc && ids->dtype != c->schema.fields[c->pk_index].dtype)
        rc = kite_err_set(err, KITE_EINVAL, "ids of type %s do not match primary key type %s",
                          kite_dtype_name(ids->dtype) ? kite_dtype_name(ids->dtype) : "unknown",
                          kite_dtype_name(c->schema.fields[c->pk_index].dtype));
    if (!rc && ids->dtype == KITE_DT_VARCHAR && !ids->offsets)
        rc = kite_err_set(err, KITE_EINVAL, "VarChar ids need offsets");
    if (!rc)
        rc = outsel_resolve(c, output_fields, n_output_fields, false, &o, err);
    if (!rc) {
        bool has_pk = false;
        for (size_t i = 0; i < o.n_fields; i++)
            has_pk |= o.fields[i] == c->pk_index;
        if (!has_pk) {
            memmove(o.fields + 1, o.fields, o.n_fields * sizeof(int));
            o.fields[0] = c->pk_index;
            o.n_fields++;
        }
        rc = coll_resolve_parts(c, partitions, n_partitions, &parts, &n_parts, err);
    }
    if (!rc)
        rc = run_get(c, ids, &o, parts, n_parts, out, err);
    pthread_rwlock_unlock(&c->lock);
    kite_free(parts);
    outsel_free(&o);
    coll_unref(c);
    return rc;
}

/* ============================================================ counts */

static int count_rows(kite_db *db, const char *dbname, const char *coll, const char *part,
                      uint64_t *rows, kite_err *err)
{
    struct dcoll *c = NULL;
    *rows = 0;
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&c->lock);
    rc = coll_check_usable(c, false, err);
    int64_t pid = -1;
    if (!rc && part) {
        struct dpart *p = coll_find_part(c, part);
        if (!p)
            rc = kite_err_set(err, KITE_ENOPART, "partition not found[partition=%s]", part);
        else
            pid = p->id;
    }
    for (size_t i = 0; !rc && i < c->n_segs; i++)
        if (pid < 0 || c->segs[i]->part_id == pid)
            *rows += c->segs[i]->n - c->segs[i]->n_deleted;
    pthread_rwlock_unlock(&c->lock);
    coll_unref(c);
    return rc;
}

int kite_collection_row_count(kite_db *db, const char *dbname, const char *name, uint64_t *rows,
                              kite_err *err)
{
    return count_rows(db, dbname, name, NULL, rows, err);
}

int kite_partition_row_count(kite_db *db, const char *dbname, const char *coll, const char *part,
                             uint64_t *rows, kite_err *err)
{
    if (!part)
        return kite_err_set(err, KITE_EMISSING, "partition name is required");
    return count_rows(db, dbname, coll, part, rows, err);
}
