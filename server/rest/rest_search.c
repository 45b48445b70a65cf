/*
 * rest_search.c — /v2/vectordb/entities/search and hybrid_search (+ advanced_search).
 *
 * Query vectors arrive as JSON and are encoded for the target field, which we learn
 * from kite_collection_describe: FloatVector -> float32; BinaryVector -> packed bytes
 * (byte arrays or base64); Float16/BFloat16 -> raw uint16 (float arrays converted
 * here, or base64 of the raw 2-byte values).
 * Search parameters merge the 2.5 form (searchParams.params) and the 2.4 form
 * (top-level params with radius/range_filter) into one JSON object for the engine.
 * Replies always carry "topks" (the Node client reads it unconditionally).
 * Threading: stateless.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "codec.h"
#include "err.h"
#include "rest_internal.h"

#define REST_DEFAULT_LIMIT 100

/* What one (sub-)search owns until the engine call returns. */
struct sub_state {
    void *vectors;        /* kite_malloc */
    char *params_json;    /* json_dumps: free() */
    char *template_json;  /* json_dumps: free() */
    const char **outs;    /* kite_free (hybrid top level only) */
};

static void sub_state_free(struct sub_state *s)
{
    kite_free(s->vectors);
    free(s->params_json);
    free(s->template_json);
    kite_free(s->outs);
    memset(s, 0, sizeof(*s));
}

static const kite_field_schema *find_vector_field(struct rest_ctx *c,
                                                  const kite_collection_info *info,
                                                  const char *anns, int *rc)
{
    const kite_field_schema *only = NULL;
    size_t n_vec = 0;
    *rc = KITE_OK;
    for (size_t i = 0; i < info->schema.n_fields; i++) {
        const kite_field_schema *f = &info->schema.fields[i];
        if (anns && *anns && strcmp(f->name, anns) == 0) {
            if (!kite_dtype_is_vector(f->dtype)) {
                *rc = kite_err_set(&c->err, KITE_EINVAL,
                                   "field %s is not a vector field, annsField must name one",
                                   anns);
                return NULL;
            }
            return f;
        }
        if (kite_dtype_is_vector(f->dtype)) {
            n_vec++;
            only = f;
        }
    }
    if (anns && *anns) {
        *rc = kite_err_set(&c->err, KITE_ENOFIELD, "field not found[field=%s]", anns);
        return NULL;
    }
    if (n_vec != 1) {
        *rc = kite_err_set(&c->err, KITE_EINVAL,
                           "annsField is required: the collection has %zu vector fields", n_vec);
        return NULL;
    }
    return only;
}

static int bad_vector(struct rest_ctx *c, size_t q, const char *what)
{
    return kite_err_set(&c->err, KITE_EINVAL, "invalid parameter: data[%zu]: %s", q, what);
}

/* Raw bytes of query q of a byte-typed field (Binary/f16/bf16): base64 or a byte array. */
static int raw_bytes(struct rest_ctx *c, json_t *e, size_t q, uint8_t *dst, size_t want)
{
    if (json_is_string(e)) {
        uint8_t *b = NULL;
        size_t n = 0;
        if (kite_base64_decode(json_string_value(e), json_string_length(e), &b, &n) != KITE_OK)
            return bad_vector(c, q, "not valid base64");
        int rc = KITE_OK;
        if (n != want)
            rc = kite_err_set(&c->err, KITE_EINVAL,
                              "invalid parameter: data[%zu] holds %zu bytes, expected %zu", q, n,
                              want);
        else
            memcpy(dst, b, n);
        kite_free(b);
        return rc;
    }
    if (!json_is_array(e) || json_array_size(e) != want)
        return kite_err_set(&c->err, KITE_EINVAL,
                            "invalid parameter: data[%zu] must be base64 or an array of %zu "
                            "bytes",
                            q, want);
    for (size_t i = 0; i < want; i++) {
        json_t *x = json_array_get(e, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 255)
            return bad_vector(c, q, "byte values must be integers 0..255");
        dst[i] = (uint8_t)json_integer_value(x);
    }
    return KITE_OK;
}

static int float_items(struct rest_ctx *c, json_t *e, size_t q, uint32_t dim, float *dst)
{
    if (!json_is_array(e) || json_array_size(e) != dim)
        return kite_err_set(&c->err, KITE_EINVAL,
                            "invalid parameter: the dim (%zu) of data[%zu] should be equal to "
                            "the dim (%u) of the field",
                            json_is_array(e) ? json_array_size(e) : (size_t)0, q, dim);
    for (uint32_t i = 0; i < dim; i++) {
        json_t *x = json_array_get(e, i);
        if (!json_is_number(x))
            return bad_vector(c, q, "vector values must be numbers");
        dst[i] = (float)json_number_value(x);
    }
    return KITE_OK;
}

/* Encode data[] for field f into p->vectors (owned by st). */
static int encode_vectors(struct rest_ctx *c, json_t *data, const kite_field_schema *f,
                          kite_search_params *p, struct sub_state *st)
{
    size_t nq = json_array_size(data);
    uint32_t dim = (uint32_t)f->dim;
    size_t row = kite_dtype_row_bytes(f->dtype, dim), total;
    if (row == 0)
        row = f->dtype == KITE_DT_BINARY_VECTOR ? dim / 8 : (size_t)dim * 4;
    if (!kite_mul_size(row, nq, &total))
        return kite_err_set(&c->err, KITE_ELIMIT, "too many query vectors");
    st->vectors = kite_malloc(total ? total : 1);
    if (!st->vectors)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory for %zu query vectors", nq);
    int rc = KITE_OK;
    for (size_t q = 0; rc == KITE_OK && q < nq; q++) {
        json_t *e = json_array_get(data, q);
        uint8_t *dst = (uint8_t *)st->vectors + q * row;
        if (f->dtype == KITE_DT_FLOAT_VECTOR) {
            rc = float_items(c, e, q, dim, (float *)(void *)dst);
        } else if (f->dtype == KITE_DT_BINARY_VECTOR) {
            rc = raw_bytes(c, e, q, dst, dim / 8);
        } else if (json_is_string(e)) {
            rc = raw_bytes(c, e, q, dst, (size_t)dim * 2);
        } else {
            float *tmp = kite_malloc((size_t)dim * sizeof(float) + 1);
            rc = tmp ? float_items(c, e, q, dim, tmp)
                     : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
            for (uint32_t i = 0; rc == KITE_OK && i < dim; i++) {
                uint16_t h = f->dtype == KITE_DT_FLOAT16_VECTOR ? kite_f32_to_f16(tmp[i])
                                                                : kite_f32_to_bf16(tmp[i]);
                memcpy(dst + 2 * (size_t)i, &h, 2);
            }
            kite_free(tmp);
        }
    }
    p->vectors = st->vectors;
    p->nq = nq;
    p->dim = dim;
    p->vector_dtype = f->dtype;
    p->anns_field = f->name;
    return rc;
}

/*
 * Search params JSON: searchParams.params (2.5) or params.params, plus the 2.4
 * top-level params {radius, range_filter}.  range_filter without radius -> 1801.
 */
static int search_params_json(struct rest_ctx *c, json_t *obj, bool *ignore_growing,
                              struct sub_state *st)
{
    json_t *sp = NULL, *p24 = NULL, *inner = NULL;
    int rc = rest_obj(c, obj, "searchParams", &sp);
    if (rc == KITE_OK)
        rc = rest_obj(c, obj, "params", &p24);
    if (rc == KITE_OK && sp)
        rc = rest_obj(c, sp, "params", &inner);
    if (rc == KITE_OK && sp)
        rc = rest_bool(c, sp, "ignoreGrowing", false, ignore_growing);
    if (rc != KITE_OK)
        return rc;
    json_t *merged = json_object();
    if (!merged)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    if (inner)
        json_object_update(merged, inner);
    if (p24) {
        json_t *nested = json_object_get(p24, "params");
        if (json_is_object(nested)) /* hybrid sub-requests: params = searchParams object */
            json_object_update(merged, nested);
        const char *key;
        json_t *val;
        json_object_foreach(p24, key, val)
        {
            if (strcmp(key, "params") != 0 && strcmp(key, "metricType") != 0 &&
                strcmp(key, "metric_type") != 0)
                json_object_set(merged, key, val);
        }
        if (json_object_get(p24, "range_filter") && !json_object_get(merged, "radius")) {
            json_decref(merged);
            return rest_fail(c, REST_CODE_BAD_JSON,
                             "can only accept json format request, error: range_filter needs "
                             "radius");
        }
    }
    st->params_json = json_object_size(merged) ? json_dumps(merged, JSON_COMPACT) : NULL;
    bool oom = json_object_size(merged) && !st->params_json;
    json_decref(merged);
    return oom ? kite_err_set(&c->err, KITE_ENOMEM, "out of memory") : KITE_OK;
}

/* Everything one search (or one hybrid sub-search) reads from its JSON object. */
static int parse_one(struct rest_ctx *c, json_t *obj, const kite_collection_info *info,
                     kite_search_params *p, struct sub_state *st)
{
    const char *anns = NULL, *filter = NULL, *group = NULL;
    int64_t limit = REST_DEFAULT_LIMIT, offset = 0, group_size = 1;
    int rc = rest_str(c, obj, "annsField", false, &anns);
    if (rc == KITE_OK)
        rc = rest_str(c, obj, "filter", false, &filter);
    if (rc == KITE_OK)
        rc = rest_int(c, obj, "limit", REST_DEFAULT_LIMIT, &limit);
    if (rc == KITE_OK)
        rc = rest_int(c, obj, "offset", 0, &offset);
    if (rc == KITE_OK)
        rc = rest_str(c, obj, "groupingField", false, &group);
    if (rc == KITE_OK)
        rc = rest_int(c, obj, "groupSize", 1, &group_size);
    if (rc == KITE_OK)
        rc = rest_bool(c, obj, "strictGroupSize", false, &p->strict_group_size);
    if (rc == KITE_OK)
        rc = search_params_json(c, obj, &p->ignore_growing, st);
    if (rc != KITE_OK)
        return rc;
    json_t *t = json_object_get(obj, "exprParams");
    if (json_is_object(t) && !(st->template_json = json_dumps(t, JSON_COMPACT)))
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    json_t *data = json_object_get(obj, "data");
    if (!data || json_is_null(data) || (json_is_array(data) && json_array_size(data) == 0))
        return rest_missing(c, "data");
    if (!json_is_array(data))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: data must be an array of "
                         "vectors");
    const kite_field_schema *f = find_vector_field(c, info, anns, &rc);
    if (!f)
        return rc;
    rc = encode_vectors(c, data, f, p, st);
    p->limit = limit;
    p->offset = offset;
    p->filter = filter && *filter ? filter : NULL;
    p->template_json = st->template_json;
    p->params_json = st->params_json;
    p->group_by_field = group && *group ? group : NULL;
    p->group_size = group_size;
    return rc;
}

static int finish_search(struct rest_ctx *c, kite_result *r)
{
    json_t *topks = json_array();
    for (size_t i = 0; topks && i < r->nq; i++)
        json_array_append_new(topks, json_integer(r->topks ? r->topks[i] : 0));
    c->data = rest_result_rows(c, r, true);
    kite_result_free(r);
    if (!c->data || !topks) {
        json_decref(topks);
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    }
    int rc = rest_extra_set(c, "cost", json_integer(0));
    return rc == KITE_OK ? rest_extra_set(c, "topks", topks) : rc;
}

int rest_entities_search(struct rest_ctx *c)
{
    const char *coll;
    const char **outs = NULL, **parts = NULL;
    size_t n_outs = 0, n_parts = 0;
    kite_collection_info *info = NULL;
    struct sub_state st = {0};
    kite_search_params p;
    kite_search_params_init(&p);
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "outputFields", false, &outs, &n_outs);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "partitionNames", false, &parts, &n_parts);
    if (rc == KITE_OK)
        rc = rest_consistency(c, c->body, "consistencyLevel", -1, &p.consistency_level);
    if (rc == KITE_OK)
        rc = kite_collection_describe(c->db, c->dbname, coll, &info, &c->err);
    if (rc == KITE_OK)
        rc = parse_one(c, c->body, info, &p, &st);
    if (rc == KITE_OK) {
        kite_result *r = NULL;
        p.output_fields = outs;
        p.n_output_fields = n_outs;
        p.partitions = parts;
        p.n_partitions = n_parts;
        rc = kite_search(c->db, c->dbname, coll, &p, &r, &c->err);
        if (rc == KITE_OK)
            rc = finish_search(c, r);
    }
    sub_state_free(&st);
    kite_collection_info_free(info);
    kite_free(outs);
    kite_free(parts);
    return rc;
}

/* ================================================================ hybrid */

static int parse_rerank(struct rest_ctx *c, kite_rerank *rr, double **weights)
{
    json_t *obj = NULL, *params = NULL;
    const char *strategy = NULL;
    int rc = rest_obj(c, c->body, "rerank", &obj);
    if (rc == KITE_OK)
        rc = rest_str(c, obj, "strategy", false, &strategy);
    if (rc == KITE_OK)
        rc = rest_obj(c, obj, "params", &params);
    if (rc != KITE_OK)
        return rc;
    rr->strategy = 0;
    rr->rrf_k = 60;
    if (!strategy || !*strategy || strcasecmp(strategy, "rrf") == 0) {
        json_t *k = params ? json_object_get(params, "k") : NULL;
        if (k && json_is_number(k))
            rr->rrf_k = json_number_value(k);
        return KITE_OK;
    }
    if (strcasecmp(strategy, "weighted") != 0)
        return kite_err_set(&c->err, KITE_EINVAL,
                            "invalid parameter[expected=rrf, weighted][actual=%s]: rerank "
                            "strategy",
                            strategy);
    rr->strategy = 1;
    json_t *w = params ? json_object_get(params, "weights") : NULL;
    if (!json_is_array(w) || json_array_size(w) == 0)
        return rest_missing(c, "weights");
    *weights = kite_calloc(json_array_size(w), sizeof(double));
    if (!*weights)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; i < json_array_size(w); i++) {
        if (!json_is_number(json_array_get(w, i)))
            return kite_err_set(&c->err, KITE_EINVAL, "rerank weights must be numbers");
        (*weights)[i] = json_number_value(json_array_get(w, i));
    }
    rr->weights = *weights;
    rr->n_weights = json_array_size(w);
    return KITE_OK;
}

int rest_entities_hybrid_search(struct rest_ctx *c)
{
    const char *coll;
    const char **outs = NULL, **parts = NULL;
    size_t n_outs = 0, n_parts = 0, n_subs = 0;
    int64_t limit = REST_DEFAULT_LIMIT, offset = 0;
    kite_collection_info *info = NULL;
    kite_search_params *subs = NULL;
    struct sub_state *st = NULL;
    double *weights = NULL;
    kite_rerank rr = {0};
    int consistency = -1;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "outputFields", false, &outs, &n_outs);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "partitionNames", false, &parts, &n_parts);
    if (rc == KITE_OK)
        rc = rest_int(c, c->body, "limit", REST_DEFAULT_LIMIT, &limit);
    if (rc == KITE_OK)
        rc = rest_int(c, c->body, "offset", 0, &offset);
    if (rc == KITE_OK)
        rc = rest_consistency(c, c->body, "consistencyLevel", -1, &consistency);
    if (rc == KITE_OK)
        rc = parse_rerank(c, &rr, &weights);
    if (rc != KITE_OK)
        goto out;
    json_t *list = json_object_get(c->body, "search");
    n_subs = json_is_array(list) ? json_array_size(list) : 0;
    if (n_subs == 0) {
        rc = rest_missing(c, "search");
        goto out;
    }
    rc = kite_collection_describe(c->db, c->dbname, coll, &info, &c->err);
    subs = kite_calloc(n_subs, sizeof(*subs));
    st = kite_calloc(n_subs, sizeof(*st));
    if (rc == KITE_OK && (!subs || !st))
        rc = kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; rc == KITE_OK && i < n_subs; i++) {
        json_t *sub = json_array_get(list, i);
        kite_search_params_init(&subs[i]);
        if (!json_is_object(sub)) {
            rc = rest_fail(c, REST_CODE_BAD_JSON,
                           "can only accept json format request, error: search[%zu] must be an "
                           "object",
                           i);
            break;
        }
        rc = parse_one(c, sub, info, &subs[i], &st[i]);
        subs[i].partitions = parts;
        subs[i].n_partitions = n_parts;
        subs[i].consistency_level = consistency;
    }
    if (rc == KITE_OK) {
        kite_result *r = NULL;
        rc = kite_hybrid_search(c->db, c->dbname, coll, subs, n_subs, &rr, limit, offset, outs,
                                n_outs, -1, &r, &c->err);
        if (rc == KITE_OK)
            rc = finish_search(c, r);
    }
out:
    for (size_t i = 0; st && i < n_subs; i++)
        sub_state_free(&st[i]);
    kite_free(st);
    kite_free(subs);
    kite_free(weights);
    kite_collection_info_free(info);
    kite_free(outs);
    kite_free(parts);
    return rc;
}
