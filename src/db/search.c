/*
 * search.c — kite_search: validation (Milvus limits and texts), filter
 * compiled once and evaluated per segment into an allow bitmap (deleted rows
 * and other partitions removed), per-segment search (the segment's ANN index
 * when one is built, else exact flat_search; growing data is always exact),
 * merge across segments, group-by, offset/limit, output fields.
 *
 * Segments are searched in parallel on the worker pool (one task per
 * segment); with a single segment the pool is handed to flat_search instead,
 * which then splits rows or queries itself.
 *
 * Metric: the index's metric when the field has one (a different
 * metric_type in the request is "metric type not match"); without an index,
 * the request's metric_type or L2 (float) / HAMMING (binary).
 *
 * Threading model: runs under the collection's shared lock; each pool task
 * writes only its own segment's output slot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "codec.h"
#include "search_int.h"

/* ============================================================ filters */

bool part_selected(const int64_t *ids, size_t n, int64_t id)
{
    if (!ids)
        return true;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int coll_resolve_parts(struct dcoll *c, const char *const *names, size_t n, int64_t **ids,
                       size_t *n_ids, kite_err *err)
{
    *ids = NULL;
    *n_ids = 0;
    if (!names || n == 0)
        return KITE_OK;
    *ids = kite_calloc(n, sizeof(int64_t));
    if (!*ids)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct dpart *p = names[i] ? coll_find_part(c, names[i]) : NULL;
        if (!p) {
            kite_free(*ids);
            *ids = NULL;
            return kite_err_set(err, KITE_ENOPART, "partition name %s not found",
                                names[i] ? names[i] : "(null)");
        }
        (*ids)[(*n_ids)++] = p->id;
    }
    return KITE_OK;
}

int seg_filter(struct dcoll *c, struct dseg *s, const struct expr_plan *plan, uint64_t *bits,
               size_t *n_allowed, kite_err *err)
{
    size_t words = (s->n + 63) / 64;
    if (!plan || expr_plan_is_true(plan)) {
        memset(bits, 0xff, words * 8);
    } else {
        int rc = expr_eval(plan, s->cols, s->n, bits, err);
        if (rc)
            return rc;
    }
    if (s->n % 64)
        bits[words - 1] &= ((uint64_t)1 << (s->n % 64)) - 1;
    size_t cnt = 0;
    for (size_t w = 0; w < words; w++) {
        if (w < s->deleted_words)
            bits[w] &= ~s->deleted[w];
        cnt += (size_t)__builtin_popcountll(bits[w]);
    }
    *n_allowed = cnt;
    (void)c;
    return KITE_OK;
}

/* ============================================================ prepare */

static int pick_field(struct dcoll *c, const char *name, int *fi, kite_err *err)
{
    if (name && *name) {
        *fi = schema_field_index(&c->schema, name);
        if (*fi < 0 || !kite_dtype_is_vector(c->schema.fields[*fi].dtype))
            return kite_err_set(err, KITE_ENOFIELD,
                                "failed to get field schema by name: fieldName(%s) not found or "
                                "not a vector field",
                                name);
        return KITE_OK;
    }
    *fi = -1;
    for (size_t i = 0; i < c->schema.n_fields; i++)
        if (kite_dtype_is_vector(c->schema.fields[i].dtype)) {
            if (*fi >= 0)
                return kite_err_set(err, KITE_EINVAL,
                                    "multiple anns_fields exist, please specify a anns_field "
                                    "in search_params");
            *fi = (int)i;
        }
    return *fi >= 0 ? KITE_OK : kite_err_set(err, KITE_ENOFIELD, "no vector field");
}

static int prepare_queries(struct sctx *x, const kite_search_params *p, kite_err *err)
{
    const kite_field_schema *f = x->field;
    int qd = p->vector_dtype ? p->vector_dtype : f->dtype;
    size_t dim = (size_t)f->dim;
    if (p->dim && p->dim != (uint32_t)f->dim)
        return kite_err_set(err, KITE_EINVAL,
                            "vector dimension mismatch, expected dim %lld of field %s, got %u",
                            (long long)f->dim, f->name, p->dim);
    if (!p->vectors)
        return kite_err_set(err, KITE_EMISSING, "search vectors are required");
    bool half = f->dtype == KITE_DT_FLOAT16_VECTOR || f->dtype == KITE_DT_BFLOAT16_VECTOR;
    if (qd == f->dtype && !half) {
        x->queries = p->vectors;
        return KITE_OK;
    }
    if (!half || (qd != KITE_DT_FLOAT_VECTOR && qd != f->dtype))
        return kite_err_set(err, KITE_EINVAL,
                            "search vectors of type %s do not match field %s of type %s",
                            kite_dtype_name(qd) ? kite_dtype_name(qd) : "unknown", f->name,
                            kite_dtype_name(f->dtype));
    if (qd == KITE_DT_FLOAT_VECTOR) {
        x->queries = p->vectors;
        return KITE_OK;
    }
    float *q = kite_malloc(p->nq * dim * sizeof(float));
    if (!q)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    const uint16_t *h = p->vectors;
    for (size_t i = 0; i < p->nq * dim; i++)
        q[i] = qd == KITE_DT_FLOAT16_VECTOR ? kite_f16_to_f32(h[i]) : kite_bf16_to_f32(h[i]);
    x->owned_queries = q;
    x->queries = q;
    return KITE_OK;
}

static int pick_metric(struct sctx *x, const kite_search_params *p, kite_err *err)
{
    int req = KITE_METRIC_NONE;
    if (p->metric_type && *p->metric_type) {
        req = kite_metric_from_name(p->metric_type);
        if (!req)
            return kite_err_set(err, KITE_EINVAL, "metric type %s not found or not supported",
                                p->metric_type);
    }
    if (x->idx) {
        int im = kite_metric_from_name(x->idx->metric);
        if (req && req != im)
            return kite_err_set(err, KITE_EINVAL,
                                "metric type not match: invalid parameter[expected=%s][actual=%s]",
                                x->idx->metric, p->metric_type);
        x->metric = im;
    } else {
        x->metric = req ? req
                        : (x->field->dtype == KITE_DT_BINARY_VECTOR ? KITE_METRIC_HAMMING
                                                                    : KITE_METRIC_L2);
    }
    bool bin = x->field->dtype == KITE_DT_BINARY_VECTOR;
    bool bin_metric = x->metric >= KITE_METRIC_HAMMING;
    if (bin != bin_metric)
        return kite_err_set(err, KITE_EINVAL,
                            "metric type %s is not valid for %s field %s: expected %s",
                            kite_metric_name(x->metric), kite_dtype_name(x->field->dtype),
                            x->field->name, bin ? "HAMMING, JACCARD, SUBSTRUCTURE or "
                                                  "SUPERSTRUCTURE"
                                                : "L2, IP or COSINE");
    return KITE_OK;
}

static int check_limits(const kite_search_params *p, kite_err *err)
{
    if (p->nq < 1 || p->nq > DB_MAX_NQ)
        return kite_err_set(err, KITE_EINVAL,
                            "nq (number of search vector per search request) should be in range "
                            "[1, 16384], but got %zu",
                            p->nq);
    if (p->limit < 1 || p->limit > DB_MAX_TOPK)
        return kite_err_set(err, KITE_EINVAL,
                            "topk [%lld] is invalid, it should be in range [1, 16384], but got "
                            "%lld",
                            (long long)p->limit, (long long)p->limit);
    if (p->offset < 0 || p->offset + p->limit > DB_MAX_TOPK)
        return kite_err_set(err, KITE_EINVAL,
                            "(offset+limit) should be in range [1, 16384], but got %lld",
                            (long long)(p->offset + p->limit));
    if (p->round_decimal < -1 || p->round_decimal > 6)
        return kite_err_set(err, KITE_EINVAL,
                            "round_decimal %d is invalid, should be -1 or in range [0, 6]",
                            p->round_decimal);
    return KITE_OK;
}

static int prepare_group(struct dcoll *c, struct sctx *x, const kite_search_params *p,
                         kite_err *err)
{
    x->group_fi = -1;
    if (!p->group_by_field || !*p->group_by_field)
        return KITE_OK;
    int fi = schema_field_index(&c->schema, p->group_by_field);
    if (fi < 0)
        return kite_err_set(err, KITE_ENOFIELD, "groupBy field %s not found in schema",
                            p->group_by_field);
    int t = c->schema.fields[fi].dtype;
    if (!(t == KITE_DT_BOOL || t == KITE_DT_INT8 || t == KITE_DT_INT16 || t == KITE_DT_INT32 ||
          t == KITE_DT_INT64 || t == KITE_DT_VARCHAR))
        return kite_err_set(err, KITE_EINVAL,
                            "group by field %s of type %s is not supported: expected Bool, "
                            "Int8..Int64 or VarChar",
                            p->group_by_field, kite_dtype_name(t));
    if (x->vp.has_radius)
        return kite_err_set(err, KITE_EINVAL, "not support search_group_by operation based on "
                                              "range search");
    x->group_fi = fi;
    x->group_size = p->group_size > 0 ? p->group_size : 1;
    return KITE_OK;
}

int search_prepare(struct dcoll *c, const kite_search_params *p, struct sctx *x, kite_err *err)
{
    int rc, fi;
    memset(x, 0, sizeof(*x));
    x->c = c;
    rc = check_limits(p, err);
    if (rc)
        return rc;
    rc = pick_field(c, p->anns_field, &fi, err);
    if (rc)
        return rc;
    x->fi = fi;
    x->field = &c->schema.fields[fi];
    x->idx = coll_index_for_field(c, fi);
    x->nq = p->nq;
    rc = pick_metric(x, p, err);
    if (!rc)
        rc = prepare_queries(x, p, err);
    if (rc)
        return rc;
    x->k = p->offset + p->limit;
    rc = vindex_parse_search_params(x->idx ? x->idx->resolved_type : NULL, p->params_json, x->k,
                                    &x->vp, err);
    if (rc)
        return rc;
    x->vp.metric = x->metric;
    rc = prepare_group(c, x, p, err);
    if (rc)
        return rc;
    rc = coll_resolve_parts(c, p->partitions, p->n_partitions, &x->parts, &x->n_parts, err);
    if (rc)
        return rc;
    rc = expr_compile(p->filter, p->template_json, &c->eschema, &x->plan, err);
    if (rc)
        return rc;
    x->ignore_growing = p->ignore_growing;
    return KITE_OK;
}

void search_ctx_free(struct sctx *x)
{
    kite_free(x->owned_queries);
    kite_free(x->parts);
    expr_plan_free(x->plan);
    if (x->hits) {
        for (size_t q = 0; q < x->nq; q++)
            kite_free(x->hits[q]);
        kite_free(x->hits);
    }
    kite_free(x->counts);
    memset(x, 0, sizeof(*x));
}

/* ============================================================ run */

struct segout {
    struct kite_hit *hits;
    size_t *counts;
    size_t k;
    int rc;
    kite_err err;
};

struct runctx {
    struct sctx *x;
    struct segout *outs;
    size_t *seg_ids;
    struct kite_pool *inner_pool;
};

static int search_one(struct sctx *x, struct dseg *s, struct segout *o, struct kite_pool *pool)
{
    uint64_t *bits = kite_calloc((s->n + 63) / 64 + 1, 8);
    size_t n_allowed;
    int rc;
    if (!bits)
        return kite_err_set(&o->err, KITE_ENOMEM, "out of memory");
    rc = seg_filter(x->c, s, x->plan, bits, &n_allowed, &o->err);
    if (rc || n_allowed == 0)
        goto out;
    /* Group-by needs more candidates than groups: take up to 64 hits per wanted
     * group slot (at least 4096), which finds every group unless a few values
     * dominate the nearest rows. */
    size_t gk = (size_t)x->k * (size_t)x->group_size * 64;
    o->k = x->group_fi >= 0 ? (gk > 4096 ? gk : 4096) : (size_t)x->k;
    if (o->k > n_allowed)
        o->k = n_allowed;
    o->hits = kite_malloc(x->nq * o->k * sizeof(struct kite_hit));
    o->counts = kite_calloc(x->nq, sizeof(size_t));
    if (!o->hits || !o->counts) {
        rc = kite_err_set(&o->err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    struct vsearch_params vp = x->vp;
    vp.k = (int64_t)o->k;
    if (vp.ef && vp.ef < vp.k)
        vp.ef = (int)vp.k;
    struct vec_view v = {x->field->dtype, (uint32_t)x->field->dim, s->n, s->cols[x->fi].data,
                         NULL};
    struct vsearch_req req = {x->queries, x->nq, bits, n_allowed, &vp, pool};
    struct vsearch_out out = {o->hits, o->counts};
    if (s->ix[x->fi])
        rc = vindex_search(s->ix[x->fi], &v, &req, &out, &o->err);
    else
        rc = flat_search(&v, &req, &out, &o->err);
out:
    kite_free(bits);
    return rc;
}

static void run_task(size_t begin, size_t end, int worker, void *udata)
{
    struct runctx *r = udata;
    (void)worker;
    for (size_t i = begin; i < end; i++) {
        struct segout *o = &r->outs[i];
        o->rc = search_one(r->x, r->x->c->segs[r->seg_ids[i]], o, r->inner_pool);
    }
}

static _Thread_local bool sort_desc;

static int cmp_hits(const void *a, const void *b)
{
    const struct shit *x = a, *y = b;
    if (x->score != y->score) {
        bool less = x->score < y->score;
        return sort_desc ? (less ? 1 : -1) : (less ? -1 : 1);
    }
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static int merge(struct sctx *x, struct runctx *r, size_t n_run, kite_err *err)
{
    x->hits = kite_calloc(x->nq, sizeof(struct shit *));
    x->counts = kite_calloc(x->nq, sizeof(size_t));
    if (!x->hits || !x->counts)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    sort_desc = kite_metric_larger_is_closer(x->metric);
    for (size_t q = 0; q < x->nq; q++) {
        size_t total = 0;
        for (size_t i = 0; i < n_run; i++)
            total += r->outs[i].counts ? r->outs[i].counts[q] : 0;
        x->hits[q] = kite_malloc((total ? total : 1) * sizeof(struct shit));
        if (!x->hits[q])
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        size_t m = 0;
        for (size_t i = 0; i < n_run; i++) {
            struct segout *o = &r->outs[i];
            for (size_t h = 0; o->counts && h < o->counts[q]; h++) {
                struct kite_hit *kh = &o->hits[q * o->k + h];
                x->hits[q][m++] = (struct shit){kh->score, (uint32_t)r->seg_ids[i], kh->row, 0};
            }
        }
        qsort(x->hits[q], m, sizeof(struct shit), cmp_hits);
        if (x->group_fi < 0 && m > (size_t)x->k)
            m = (size_t)x->k;
        x->counts[q] = m;
    }
    return KITE_OK;
}

int search_run(struct sctx *x, kite_err *err)
{
    struct dcoll *c = x->c;
    struct runctx r = {x, NULL, NULL, NULL};
    size_t n_run = 0;
    int rc = KITE_OK;
    r.outs = kite_calloc(c->n_segs + 1, sizeof(struct segout));
    r.seg_ids = kite_calloc(c->n_segs + 1, sizeof(size_t));
    if (!r.outs || !r.seg_ids) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (s->n == 0 || !part_selected(x->parts, x->n_parts, s->part_id) ||
            (x->ignore_growing && !s->sealed))
            continue;
        r.seg_ids[n_run++] = i;
    }
    if (n_run == 1) {
        r.inner_pool = c->db->pool;
        run_task(0, 1, 0, &r);
    } else if (n_run > 1) {
        kite_pool_parallel_for(c->db->pool, n_run, 1, run_task, &r);
    }
    for (size_t i = 0; i < n_run; i++)
        if (r.outs[i].rc) {
            rc = r.outs[i].rc;
            kite_err_set(err, rc, "%s", r.outs[i].err.message);
            goto out;
        }
    rc = merge(x, &r, n_run, err);
out:
    for (size_t i = 0; r.outs && i < n_run; i++) {
        kite_free(r.outs[i].hits);
        kite_free(r.outs[i].counts);
    }
    kite_free(r.outs);
    kite_free(r.seg_ids);
    return rc;
}

/* ============================================================ group-by */

static bool same_group(const kite_column *a, size_t ra, const kite_column *b, size_t rb)
{
    bool na = db_col_is_null(a, ra), nb = db_col_is_null(b, rb);
    if (na || nb)
        return na && nb;
    size_t w = kite_dtype_row_bytes(a->dtype, 0);
    if (w)
        return memcmp(db_col_fixed(a, ra, w), db_col_fixed(b, rb, w), w) == 0;
    size_t la, lb;
    const char *pa = db_col_var(a, ra, &la), *pb = db_col_var(b, rb, &lb);
    return la == lb && memcmp(pa, pb, la) == 0;
}

/*
 * Reorder query q's hits into groups: groups ordered by their best hit, each
 * with up to group_size hits; offset skips whole groups and limit counts
 * groups.  strict_group_size drops groups with fewer than group_size hits.
 */
static int group_hits(struct sctx *x, size_t q, const kite_search_params *p)
{
    struct shit *h = x->hits[q];
    size_t m = x->counts[q];
    struct shit *out = kite_malloc((m ? m : 1) * sizeof(*out));
    size_t *gstart = kite_malloc((m ? m : 1) * sizeof(size_t));
    size_t *gcount = kite_calloc(m ? m : 1, sizeof(size_t));
    size_t n_groups = 0, n_out = 0;
    if (!out || !gstart || !gcount) {
        kite_free(out);
        kite_free(gstart);
        kite_free(gcount);
        return KITE_ENOMEM;
    }
    /* gstart[g] = index in h of group g's first hit; members found by scanning. */
    for (size_t i = 0; i < m; i++) {
        const kite_column *ci = &x->c->segs[h[i].seg]->cols[x->group_fi];
        h[i].group = UINT32_MAX;
        size_t g;
        for (g = 0; g < n_groups; g++) {
            const kite_column *cg = &x->c->segs[h[gstart[g]].seg]->cols[x->group_fi];
            if (same_group(ci, h[i].row, cg, h[gstart[g]].row))
                break;
        }
        if (g == n_groups) {
            if (n_groups >= (size_t)(p->offset + p->limit) * 4 + 64 &&
                n_groups >= (size_t)(p->offset + p->limit))
                continue;
            gstart[n_groups++] = i;
        }
        if (gcount[g] < (size_t)x->group_size) {
            gcount[g]++;
            h[i].group = (uint32_t)g;
        } else {
            h[i].group = UINT32_MAX;
        }
    }
    size_t taken = 0;
    for (size_t g = 0; g < n_groups && taken < (size_t)(p->offset + p->limit); g++) {
        if (p->strict_group_size && gcount[g] < (size_t)x->group_size)
            continue;
        if (taken++ < (size_t)p->offset)
            continue;
        for (size_t i = gstart[g]; i < m; i++)
            if (h[i].group == (uint32_t)g)
                out[n_out++] = h[i];
    }
    memcpy(h, out, n_out * sizeof(*out));
    x->counts[q] = n_out;
    kite_free(out);
    kite_free(gstart);
    kite_free(gcount);
    return KITE_OK;
}

/* ============================================================ result */

static float round_score(float s, int digits)
{
    if (digits < 0)
        return s;
    double m = pow(10.0, digits);
    return (float)(round((double)s * m) / m);
}

int search_build_result(struct sctx *x, const struct outsel *o, int64_t offset, int64_t limit,
                        int round_decimal, bool grouped, kite_result **out, kite_err *err)
{
    kite_result *r = result_new();
    struct rowref *rows = NULL;
    size_t total = 0;
    int rc;
    if (!r)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    r->nq = x->nq;
    r->topks = kite_calloc(x->nq, sizeof(int64_t));
    for (size_t q = 0; q < x->nq; q++)
        total += x->counts[q];
    rows = kite_malloc((total ? total : 1) * sizeof(*rows));
    r->scores = kite_malloc((total ? total : 1) * sizeof(float));
    if (!r->topks || !rows || !r->scores) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto fail;
    }
    size_t n = 0;
    for (size_t q = 0; q < x->nq; q++) {
        size_t from = grouped ? 0 : (size_t)offset, to = x->counts[q];
        if (!grouped && to > from + (size_t)limit)
            to = from + (size_t)limit;
        for (size_t i = from; i < to; i++) {
            rows[n] = (struct rowref){x->hits[q][i].seg, x->hits[q][i].row};
            r->scores[n++] = round_score(x->hits[q][i].score, round_decimal);
        }
        r->topks[q] = to > from ? (int64_t)(to - from) : 0;
    }
    rc = result_fill(x->c, o, rows, n, r);
    if (!rc && grouped) {
        struct outsel none = {0};
        kite_result tmp = {0};
        int gfi[1] = {x->group_fi};
        none.fields = gfi;
        none.n_fields = 1;
        rc = result_fill(x->c, &none, rows, n, &tmp);
        if (!rc) {
            r->group_values = tmp.fields[0];
            tmp.n_fields = 0;
        }
        kite_free(tmp.fields);
        db_column_free(&tmp.ids);
        kite_free(tmp.pk_name);
    }
    if (rc) {
        rc = kite_err_set(err, rc, "out of memory building the result");
        goto fail;
    }
    kite_free(rows);
    *out = r;
    return KITE_OK;
fail:
    kite_free(rows);
    kite_result_free(r);
    return rc;
}

int coll_check_loaded(struct dcoll *c, kite_err *err)
{
    int rc = coll_check_usable(c, false, err);
    if (rc)
        return rc;
    if (c->load_state != KITE_LOAD_LOADED)
        return kite_err_set(err, KITE_ENOTLOADED, "collection not loaded[collection=%s]", c->name);
    return KITE_OK;
}

int kite_search(kite_db *db, const char *dbname, const char *coll, const kite_search_params *p,
                kite_result **out, kite_err *err)
{
    struct dcoll *c = NULL;
    struct sctx x;
    struct outsel o = {0};
    kite_err_clear(err);
    *out = NULL;
    if (!p)
        return kite_err_set(err, KITE_EMISSING, "search parameters are required");
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    memset(&x, 0, sizeof(x));
    pthread_rwlock_rdlock(&c->lock);
    rc = coll_check_loaded(c, err);
    if (!rc)
        rc = search_prepare(c, p, &x, err);
    if (!rc)
        rc = outsel_resolve(c, p->output_fields, p->n_output_fields, false, &o, err);
    if (!rc)
        rc = search_run(&x, err);
    bool grouped = x.group_fi >= 0;
    for (size_t q = 0; !rc && grouped && q < x.nq; q++)
        if (group_hits(&x, q, p))
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory grouping results");
    if (!rc)
        rc = search_build_result(&x, &o, p->offset, p->limit, p->round_decimal, grouped, out,
                                 err);
    pthread_rwlock_unlock(&c->lock);
    outsel_free(&o);
    search_ctx_free(&x);
    coll_unref(c);
    return rc;
}
