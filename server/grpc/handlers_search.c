/*
 * handlers_search.c — read RPCs: Search, HybridSearch, Query.
 *
 * Search request decoding (GRPC.md §4 "Search"):
 *  - placeholder_group is a serialized common.PlaceholderGroup; its first
 *    PlaceholderValue holds one `values` entry per query vector (FloatVector: dim
 *    little-endian float32; BinaryVector: dim/8 bytes; Float16/BFloat16: 2*dim bytes).
 *    All entries must have the same length; nq = number of entries.
 *  - search_params are string KVs: topk (required), offset, round_decimal,
 *    metric_type, anns_field, group_by_field/group_size/strict_group_size,
 *    ignore_growing, params (JSON).  pymilvus 2.5 folds the top-level keys into the
 *    params JSON, so every key is looked up in the KVs first, then in params; the
 *    keys Kite reads itself are removed from params, the rest (nprobe, ef, radius,
 *    range_filter, ...) is passed on as params_json.
 *
 * Response layout: hits of all queries concatenated, topks[i] hits for query i;
 * ids, scores and every fields_data column have sum(topks) entries.  Result
 * columns are not copied: the kite_result is kept alive until the response is
 * packed (grpc_call_keep).
 *
 * Threading: stateless; the kite_db is thread-safe.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "err.h"
#include "grpc_internal.h"

typedef Milvus__Proto__Common__KeyValuePair KeyValuePair;
typedef Milvus__Proto__Schema__FieldData FieldData;

static void json_text_free(char *txt)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(txt);
}

/* ================================================================ placeholders */

static int decode_placeholders(struct grpc_call *c, const ProtobufCBinaryData *pg,
                               kite_search_params *p, kite_err *err)
{
    Milvus__Proto__Common__PlaceholderGroup *g = (void *)protobuf_c_message_unpack(
        &milvus__proto__common__placeholder_group__descriptor, &grpc_pb_allocator, pg->len,
        pg->data);
    if (!g)
        return kite_err_set(err, KITE_EINVAL,
                            "placeholder_group is not a serialized PlaceholderGroup");
    int rc = KITE_OK;
    if (g->n_placeholders == 0 || g->placeholders[0]->n_values == 0) {
        rc = kite_err_set(err, KITE_EINVAL, "search needs at least one query vector "
                                            "(placeholder_group is empty)");
        goto out;
    }
    const Milvus__Proto__Common__PlaceholderValue *v = g->placeholders[0];
    size_t len = v->values[0].len, per_dim_num = 1, per_dim_den = 1;
    switch ((int)v->type) {
    case MILVUS__PROTO__COMMON__PLACEHOLDER_TYPE__FloatVector:
        p->vector_dtype = KITE_DT_FLOAT_VECTOR;
        per_dim_num = 4;
        break;
    case MILVUS__PROTO__COMMON__PLACEHOLDER_TYPE__BinaryVector:
        p->vector_dtype = KITE_DT_BINARY_VECTOR;
        per_dim_den = 8;
        break;
    case MILVUS__PROTO__COMMON__PLACEHOLDER_TYPE__Float16Vector:
        p->vector_dtype = KITE_DT_FLOAT16_VECTOR;
        per_dim_num = 2;
        break;
    case MILVUS__PROTO__COMMON__PLACEHOLDER_TYPE__BFloat16Vector:
        p->vector_dtype = KITE_DT_BFLOAT16_VECTOR;
        per_dim_num = 2;
        break;
    default:
        rc = kite_err_set(err, KITE_EUNSUPPORTED,
                          "placeholder type %d is not supported (expected FloatVector 101, "
                          "BinaryVector 100, Float16Vector 102 or BFloat16Vector 103)",
                          (int)v->type);
        goto out;
    }
    if (len == 0 || len % per_dim_num != 0) {
        rc = kite_err_set(err, KITE_EINVAL, "query vector of %zu bytes is not a whole number "
                                            "of %zu-byte values", len, per_dim_num);
        goto out;
    }
    uint8_t *buf = grpc_arena_array(&c->arena, v->n_values, len);
    if (!buf) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory copying query vectors");
        goto out;
    }
    for (size_t i = 0; i < v->n_values; i++) {
        if (v->values[i].len != len) {
            rc = kite_err_set(err, KITE_EINVAL,
                              "query vector %zu has %zu bytes, expected %zu like the first", i,
                              v->values[i].len, len);
            goto out;
        }
        memcpy(buf + i * len, v->values[i].data, len);
    }
    p->vectors = buf;
    p->nq = v->n_values;
    p->dim = (uint32_t)(len / per_dim_num * per_dim_den);
out:
    protobuf_c_message_free_unpacked(&g->base, &grpc_pb_allocator);
    return rc;
}

/* =============================================================== search params */

/* Value of key from the KVs, else from the params object (as text in the arena). */
static const char *param(struct grpc_call *c, KeyValuePair *const *kvs, size_t n, json_t *obj,
                         const char *key)
{
    const char *v = grpc_kv_get(kvs, n, key);
    if (v && v[0])
        return v;
    json_t *j = obj ? json_object_get(obj, key) : NULL;
    if (!j)
        return NULL;
    if (json_is_string(j))
        return grpc_arena_strdup(&c->arena, json_string_value(j));
    if (json_is_true(j) || json_is_false(j))
        return json_is_true(j) ? "true" : "false";
    if (json_is_integer(j))
        return grpc_arena_printf(&c->arena, "%lld", (long long)json_integer_value(j));
    if (json_is_real(j))
        return grpc_arena_printf(&c->arena, "%.17g", json_real_value(j));
    return NULL;
}

static int int_param(const char *s, const char *key, int64_t *out, kite_err *err)
{
    if (!s)
        return KITE_OK;
    if (grpc_parse_i64(s, out) != KITE_OK)
        return kite_err_set(err, KITE_EINVAL, "search param %s must be an integer, not '%s'",
                            key, s);
    return KITE_OK;
}

static const char *const g_own_keys[] = {
    "topk", "limit", "offset", "round_decimal", "metric_type", "anns_field", "group_by_field",
    "group_size", "strict_group_size", "ignore_growing", "iterator", "hints", "collection_id",
};

/* Parse the params JSON KV into an object; nested {"params": {...}} is flattened. */
static int params_object(KeyValuePair *const *kvs, size_t n, json_t **out, kite_err *err)
{
    const char *txt = grpc_kv_get(kvs, n, "params");
    json_t *obj = (txt && txt[0]) ? json_loads(txt, 0, NULL) : json_object();
    if (!json_is_object(obj)) {
        json_decref(obj);
        return kite_err_set(err, KITE_EINVAL,
                            "search param params must be a JSON object, e.g. {\"nprobe\": 10}, "
                            "not '%s'", txt ? txt : "");
    }
    json_t *inner = json_object_get(obj, "params");
    if (json_is_object(inner)) {
        json_incref(inner);
        json_object_del(obj, "params");
        json_object_update_missing(obj, inner);
        json_decref(inner);
    }
    *out = obj;
    return KITE_OK;
}

struct search_inputs {
    const char *dsl;
    const ProtobufCBinaryData *placeholder_group;
    KeyValuePair *const *kvs;
    size_t n_kvs;
    void *const *templates;
    size_t n_templates;
};

/* Fill p from one (sub-)search request; strings live in the arena or the request. */
static int parse_search(struct grpc_call *c, const struct search_inputs *in,
                        kite_search_params *p, kite_err *err)
{
    kite_search_params_init(p);
    json_t *obj = NULL;
    int rc = params_object(in->kvs, in->n_kvs, &obj, err);
    if (rc != KITE_OK)
        return rc;
    const char *topk = param(c, in->kvs, in->n_kvs, obj, "topk");
    if (!topk)
        topk = param(c, in->kvs, in->n_kvs, obj, "limit");
    int64_t v = -1;
    if (!topk)
        rc = kite_err_set(err, KITE_EINVAL, "topk not found in search_params (expected "
                                            "1..16384)");
    if (rc == KITE_OK && (rc = int_param(topk, "topk", &v, err)) == KITE_OK)
        p->limit = v;
    v = 0;
    if (rc == KITE_OK &&
        (rc = int_param(param(c, in->kvs, in->n_kvs, obj, "offset"), "offset", &v, err)) ==
            KITE_OK)
        p->offset = v;
    v = -1;
    if (rc == KITE_OK && (rc = int_param(param(c, in->kvs, in->n_kvs, obj, "round_decimal"),
                                         "round_decimal", &v, err)) == KITE_OK)
        p->round_decimal = (int)v;
    v = 1;
    if (rc == KITE_OK && (rc = int_param(param(c, in->kvs, in->n_kvs, obj, "group_size"),
                                         "group_size", &v, err)) == KITE_OK)
        p->group_size = v;
    if (rc != KITE_OK)
        goto out;
    const char *s = param(c, in->kvs, in->n_kvs, obj, "anns_field");
    p->anns_field = s && s[0] ? s : NULL;
    s = param(c, in->kvs, in->n_kvs, obj, "metric_type");
    p->metric_type = s && s[0] ? s : NULL;
    s = param(c, in->kvs, in->n_kvs, obj, "group_by_field");
    p->group_by_field = s && s[0] ? s : NULL;
    p->strict_group_size =
        grpc_parse_bool(param(c, in->kvs, in->n_kvs, obj, "strict_group_size"), false);
    p->ignore_growing = grpc_parse_bool(param(c, in->kvs, in->n_kvs, obj, "ignore_growing"),
                                        false);
    for (size_t i = 0; i < sizeof(g_own_keys) / sizeof(g_own_keys[0]); i++)
        json_object_del(obj, g_own_keys[i]);
    char *txt = json_dumps(obj, JSON_COMPACT);
    if (!txt || !(p->params_json = grpc_arena_strdup(&c->arena, txt))) {
        json_text_free(txt);
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory reading search params");
        goto out;
    }
    json_text_free(txt);
    p->filter = in->dsl && in->dsl[0] ? in->dsl : NULL;
    p->consistency_level = -1; /* writes are synchronous: every level is met */
    rc = grpc_templates_to_json(c, in->templates, in->n_templates, &p->template_json, err);
    if (rc == KITE_OK)
        rc = decode_placeholders(c, in->placeholder_group, p, err);
out:
    json_decref(obj);
    return c->arena.oom && rc == KITE_OK ? KITE_ENOMEM : rc;
}

/* ================================================================== responses */

static bool has_name(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return true;
    return false;
}

/*
 * output_fields of a response: the returned columns (but "$meta") plus the requested
 * names that are neither columns nor "*" (dynamic keys, which pymilvus then picks
 * out of the $meta column).
 */
static char **output_names(struct grpc_call *c, const kite_result *res, char *const *req,
                           size_t n_req, size_t *n_out)
{
    char **out = grpc_arena_array(&c->arena, res->n_fields + n_req + 2, sizeof(char *));
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < res->n_fields; i++)
        if (res->fields[i].name && strcmp(res->fields[i].name, "$meta") != 0)
            out[n++] = (char *)res->fields[i].name; /* kept result */
    for (size_t i = 0; i < n_req; i++)
        if (strcmp(req[i], "*") != 0 && !has_name(out, n, req[i]))
            out[n++] = req[i];
    *n_out = n;
    return out;
}

static bool result_has_column(const kite_result *res, const char *name)
{
    for (size_t i = 0; i < res->n_fields; i++)
        if (res->fields[i].name && strcmp(res->fields[i].name, name) == 0)
            return true;
    return false;
}

/*
 * fields_data and output_fields of a response: the primary key first (Milvus adds
 * it to every search and query; the Node SDK reads hit ids from it) unless it was
 * requested anyway or this is a count(*), then every result column.
 */
static int result_columns(struct grpc_call *c, const kite_result *res, char *const *req_out,
                          size_t n_req_out, FieldData ***fds, size_t *n_fds, char ***names,
                          size_t *n_names)
{
    FieldData **out = grpc_arena_array(&c->arena, res->n_fields + 1, sizeof(*out));
    if (!out)
        return KITE_ENOMEM;
    size_t k = 0;
    bool add_pk = !res->is_count && res->ids.dtype != KITE_DT_NONE && res->ids.name &&
                  !result_has_column(res, res->ids.name);
    if (add_pk && !(out[k++] = grpc_column_to_pb(c, &res->ids, 0, res->ids.n)))
        return KITE_ENOMEM;
    for (size_t i = 0; i < res->n_fields; i++)
        if (!(out[k++] = grpc_column_to_pb(c, &res->fields[i], 0, res->fields[i].n)))
            return KITE_ENOMEM;
    char **nm = output_names(c, res, req_out, n_req_out, n_names);
    if (!nm)
        return KITE_ENOMEM;
    if (add_pk && !has_name(nm, *n_names, res->ids.name))
        nm[(*n_names)++] = (char *)res->ids.name; /* output_names left room for one more */
    *fds = out;
    *n_fds = k;
    *names = nm;
    return KITE_OK;
}

static int search_results(struct grpc_call *c, kite_result *res, const char *coll,
                          char *const *req_out, size_t n_req_out,
                          Milvus__Proto__Milvus__SearchResults *out)
{
    Milvus__Proto__Schema__SearchResultData *d = grpc_arena_alloc(&c->arena, sizeof(*d));
    if (!d)
        return KITE_ENOMEM;
    milvus__proto__schema__search_result_data__init(d);
    d->num_queries = (int64_t)res->nq;
    d->topks = res->topks;
    d->n_topks = res->nq;
    d->top_k = res->nq ? res->topks[res->nq - 1] : 0;
    d->scores = res->scores;
    d->n_scores = res->scores ? res->n_rows : 0;
    d->ids = grpc_ids_to_pb(c, &res->ids);
    d->primary_field_name = res->pk_name ? res->pk_name : "";
    if (!d->ids)
        return KITE_ENOMEM;
    if (result_columns(c, res, req_out, n_req_out, &d->fields_data, &d->n_fields_data,
                       &d->output_fields, &d->n_output_fields) != KITE_OK)
        return KITE_ENOMEM;
    if (res->group_values.dtype != KITE_DT_NONE &&
        !(d->group_by_field_value =
              grpc_column_to_pb(c, &res->group_values, 0, res->group_values.n)))
        return KITE_ENOMEM;
    out->results = d;
    out->collection_name = grpc_arena_strdup(&c->arena, coll);
    out->session_ts = grpc_next_timestamp();
    return c->arena.oom ? KITE_ENOMEM : KITE_OK;
}

/* Finish a SearchResults reply from rc/res (res is kept or freed here). */
static int search_reply(struct grpc_call *c, int rc, const kite_err *err, kite_result *res,
                        const char *coll, char *const *req_out, size_t n_req_out,
                        ProtobufCMessage **resp)
{
    GRPC_RESP(Milvus__Proto__Milvus__SearchResults, out,
              milvus__proto__milvus__search_results__init);
    if (rc == KITE_OK) {
        if (grpc_call_keep(c, res) != KITE_OK)
            return KITE_ENOMEM;
        if (search_results(c, res, coll, req_out, n_req_out, out) != KITE_OK)
            return KITE_ENOMEM;
    } else {
        kite_result_free(res);
    }
    if (!(out->status = grpc_status_new(c, rc, err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

/* ==================================================================== handlers */

GRPC_HANDLER(Search)
{
    const Milvus__Proto__Milvus__SearchRequest *r = (const void *)req;
    kite_err err = {0};
    kite_search_params p;
    kite_result *res = NULL;
    int rc;
    if (r->search_by_primary_keys || r->n_sub_reqs > 0) {
        rc = kite_err_set(&err, KITE_EUNSUPPORTED,
                          "search by primary keys and sub-requests are not supported");
    } else {
        struct search_inputs in = {
            .dsl = r->dsl,
            .placeholder_group = &r->placeholder_group,
            .kvs = r->search_params,
            .n_kvs = r->n_search_params,
            .templates = (void *const *)r->expr_template_values,
            .n_templates = r->n_expr_template_values,
        };
        rc = parse_search(c, &in, &p, &err);
        if (rc == KITE_ENOMEM && c->arena.oom)
            return KITE_ENOMEM;
        if (rc == KITE_OK) {
            p.output_fields = (const char *const *)r->output_fields;
            p.n_output_fields = r->n_output_fields;
            p.partitions = (const char *const *)r->partition_names;
            p.n_partitions = r->n_partition_names;
            rc = kite_search(c->db, grpc_call_db(c, r->db_name), r->collection_name, &p, &res,
                             &err);
        }
    }
    return search_reply(c, rc, &err, res, r->collection_name, r->output_fields,
                        r->n_output_fields, resp);
}

/* rank_params: strategy rrf|weighted, params {"k":60} or {"weights":[...]}. */
static int parse_rerank(struct grpc_call *c, KeyValuePair *const *kvs, size_t n,
                        kite_rerank *rr, kite_err *err)
{
    memset(rr, 0, sizeof(*rr));
    rr->strategy = 0;
    rr->rrf_k = 60;
    const char *s = grpc_kv_get(kvs, n, "strategy");
    if (s && strcasecmp(s, "weighted") == 0)
        rr->strategy = 1;
    else if (s && s[0] && strcasecmp(s, "rrf") != 0)
        return kite_err_set(err, KITE_EINVAL,
                            "rank strategy must be rrf or weighted, not '%s'", s);
    const char *pj = grpc_kv_get(kvs, n, "params");
    if (!pj || !pj[0])
        return KITE_OK;
    json_t *o = json_loads(pj, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return kite_err_set(err, KITE_EINVAL, "rank params must be a JSON object, not '%s'", pj);
    }
    json_t *k = json_object_get(o, "k");
    if (json_is_number(k))
        rr->rrf_k = json_number_value(k);
    json_t *w = json_object_get(o, "weights");
    if (json_is_array(w)) {
        size_t m = json_array_size(w);
        double *ws = grpc_arena_array(&c->arena, m ? m : 1, sizeof(double));
        if (!ws) {
            json_decref(o);
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m; i++)
            ws[i] = json_number_value(json_array_get(w, i));
        rr->weights = ws;
        rr->n_weights = m;
    }
    json_decref(o);
    return KITE_OK;
}

GRPC_HANDLER(HybridSearch)
{
    const Milvus__Proto__Milvus__HybridSearchRequest *r = (const void *)req;
    kite_err err = {0};
    kite_result *res = NULL;
    kite_rerank rr;
    int64_t limit = 0, offset = 0, round = -1;
    size_t n = r->n_requests;
    kite_search_params *subs = grpc_arena_array(&c->arena, n ? n : 1, sizeof(*subs));
    if (!subs)
        return KITE_ENOMEM;
    int rc = parse_rerank(c, r->rank_params, r->n_rank_params, &rr, &err);
    if (rc == KITE_OK)
        rc = int_param(grpc_kv_get(r->rank_params, r->n_rank_params, "limit"), "limit", &limit,
                       &err);
    if (rc == KITE_OK)
        rc = int_param(grpc_kv_get(r->rank_params, r->n_rank_params, "offset"), "offset",
                       &offset, &err);
    if (rc == KITE_OK)
        rc = int_param(grpc_kv_get(r->rank_params, r->n_rank_params, "round_decimal"),
                       "round_decimal", &round, &err);
    for (size_t i = 0; i < n && rc == KITE_OK; i++) {
        const Milvus__Proto__Milvus__SearchRequest *s = r->requests[i];
        struct search_inputs in = {
            .dsl = s->dsl,
            .placeholder_group = &s->placeholder_group,
            .kvs = s->search_params,
            .n_kvs = s->n_search_params,
            .templates = (void *const *)s->expr_template_values,
            .n_templates = s->n_expr_template_values,
        };
        rc = parse_search(c, &in, &subs[i], &err);
        subs[i].partitions = (const char *const *)r->partition_names;
        subs[i].n_partitions = r->n_partition_names;
    }
    if (rc == KITE_ENOMEM && c->arena.oom)
        return KITE_ENOMEM;
    if (rc == KITE_OK)
        rc = kite_hybrid_search(c->db, grpc_call_db(c, r->db_name), r->collection_name, subs, n,
                                &rr, limit, offset, (const char *const *)r->output_fields,
                                r->n_output_fields, (int)round, &res, &err);
    return search_reply(c, rc, &err, res, r->collection_name, r->output_fields,
                        r->n_output_fields, resp);
}

/* ======================================================================= query */

static int query_results(struct grpc_call *c, kite_result *res, const char *coll,
                         char *const *req_out, size_t n_req_out,
                         Milvus__Proto__Milvus__QueryResults *out)
{
    if (result_columns(c, res, req_out, n_req_out, &out->fields_data, &out->n_fields_data,
                       &out->output_fields, &out->n_output_fields) != KITE_OK)
        return KITE_ENOMEM;
    out->collection_name = grpc_arena_strdup(&c->arena, coll);
    out->primary_field_name = grpc_arena_strdup(&c->arena, res->pk_name ? res->pk_name : "");
    out->session_ts = grpc_next_timestamp();
    return c->arena.oom ? KITE_ENOMEM : KITE_OK;
}

GRPC_HANDLER(Query)
{
    const Milvus__Proto__Milvus__QueryRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__QueryResults, out,
              milvus__proto__milvus__query_results__init);
    kite_err err = {0};
    kite_query_params p;
    kite_query_params_init(&p);
    kite_result *res = NULL;
    int64_t limit = -1, offset = 0;
    int rc = int_param(grpc_kv_get(r->query_params, r->n_query_params, "limit"), "limit", &limit,
                       &err);
    if (rc == KITE_OK)
        rc = int_param(grpc_kv_get(r->query_params, r->n_query_params, "offset"), "offset",
                       &offset, &err);
    if (rc == KITE_OK)
        rc = grpc_templates_to_json(c, (void *const *)r->expr_template_values,
                                    r->n_expr_template_values, &p.template_json, &err);
    if (rc == KITE_OK) {
        p.filter = r->expr;
        p.output_fields = (const char *const *)r->output_fields;
        p.n_output_fields = r->n_output_fields;
        p.partitions = (const char *const *)r->partition_names;
        p.n_partitions = r->n_partition_names;
        p.limit = limit;
        p.offset = offset;
        p.consistency_level = -1;
        rc = kite_query(c->db, grpc_call_db(c, r->db_name), r->collection_name, &p, &res, &err);
    }
    if (rc == KITE_OK) {
        if (grpc_call_keep(c, res) != KITE_OK ||
            query_results(c, res, r->collection_name, r->output_fields, r->n_output_fields,
                          out) != KITE_OK)
            return KITE_ENOMEM;
    } else {
        kite_result_free(res);
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}
