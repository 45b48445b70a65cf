/*
 * handlers_index.c — index RPCs: CreateIndex, DescribeIndex, GetIndexState,
 * GetIndexBuildProgress, DropIndex.
 *
 * CreateIndex's extra_params arrive as one KeyValuePair per top-level key of the
 * client's dict (GRPC.md §4): index_type, metric_type, params (JSON text) and maybe
 * build parameters given at top level; the latter are merged into params, so
 * {"index_type":"IVF_FLAT","nlist":"128"} and {"params":"{\"nlist\":128}"} agree.
 * DescribeIndex gives back index_type, metric_type and params (JSON text), which
 * pymilvus json.loads().
 *
 * Threading: stateless; the kite_db is thread-safe.
 */
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "grpc_internal.h"

typedef Milvus__Proto__Common__KeyValuePair KeyValuePair;
typedef Milvus__Proto__Milvus__IndexDescription IndexDescription;

static void json_text_free(char *txt)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(txt);
}

/* Build params JSON: the "params" object plus every other non-reserved key. */
static int merge_params(struct grpc_call *c, KeyValuePair *const *kvs, size_t n,
                        const char **out, kite_err *err)
{
    json_t *obj = NULL;
    const char *p = grpc_kv_get(kvs, n, "params");
    if (p && p[0]) {
        obj = json_loads(p, 0, NULL);
        if (!json_is_object(obj)) {
            json_decref(obj);
            return kite_err_set(err, KITE_EINVAL,
                                "index params must be a JSON object, e.g. {\"nlist\": 128}, "
                                "not '%s'", p);
        }
    } else {
        obj = json_object();
    }
    if (!obj)
        return kite_err_set(err, KITE_ENOMEM, "out of memory reading index params");
    for (size_t i = 0; i < n; i++) {
        const char *k = kvs[i]->key, *v = kvs[i]->value ? kvs[i]->value : "";
        if (!strcmp(k, "params") || !strcmp(k, "index_type") || !strcmp(k, "metric_type"))
            continue;
        json_t *val = json_loads(v, JSON_DECODE_ANY, NULL); /* numbers arrive as text */
        json_object_set_new(obj, k, val ? val : json_string(v));
    }
    char *txt = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!txt)
        return kite_err_set(err, KITE_ENOMEM, "out of memory writing index params");
    *out = grpc_arena_strdup(&c->arena, txt);
    json_text_free(txt);
    return *out ? KITE_OK : kite_err_set(err, KITE_ENOMEM, "out of memory");
}

GRPC_HANDLER(CreateIndex)
{
    const Milvus__Proto__Milvus__CreateIndexRequest *r = (const void *)req;
    kite_err err = {0};
    kite_index_params p;
    kite_index_params_init(&p);
    p.field_name = r->field_name;
    p.index_name = r->index_name[0] ? r->index_name : NULL;
    const char *t = grpc_kv_get(r->extra_params, r->n_extra_params, "index_type");
    const char *m = grpc_kv_get(r->extra_params, r->n_extra_params, "metric_type");
    p.index_type = t && t[0] ? t : NULL;
    p.metric_type = m && m[0] ? m : NULL;
    int rc = merge_params(c, r->extra_params, r->n_extra_params, &p.params_json, &err);
    if (rc == KITE_OK)
        rc = kite_index_create(c->db, grpc_call_db(c, r->db_name), r->collection_name, &p, &err);
    return grpc_reply_status(c, rc, &err, resp);
}

static KeyValuePair *kv(struct grpc_call *c, const char *k, const char *v)
{
    KeyValuePair *x = grpc_arena_alloc(&c->arena, sizeof(*x));
    if (!x)
        return NULL;
    milvus__proto__common__key_value_pair__init(x);
    x->key = grpc_arena_strdup(&c->arena, k);
    x->value = grpc_arena_strdup(&c->arena, v ? v : "");
    return x;
}

static IndexDescription *describe_one(struct grpc_call *c, const kite_index_info *in)
{
    IndexDescription *d = grpc_arena_alloc(&c->arena, sizeof(*d));
    KeyValuePair **ps = grpc_arena_array(&c->arena, 3, sizeof(*ps));
    if (!d || !ps)
        return NULL;
    milvus__proto__milvus__index_description__init(d);
    d->index_name = grpc_arena_strdup(&c->arena, in->index_name);
    d->indexid = in->index_id;
    d->field_name = grpc_arena_strdup(&c->arena, in->field_name);
    d->indexed_rows = (int64_t)in->indexed_rows;
    d->total_rows = (int64_t)in->total_rows;
    d->pending_index_rows = (int64_t)in->pending_rows;
    d->state = (Milvus__Proto__Common__IndexState)in->state;
    d->index_state_fail_reason = grpc_arena_strdup(&c->arena, in->fail_reason);
    ps[0] = kv(c, "index_type", in->index_type);
    ps[1] = kv(c, "metric_type", in->metric_type);
    ps[2] = kv(c, "params", in->params_json && in->params_json[0] ? in->params_json : "{}");
    d->params = ps;
    d->n_params = 3;
    return c->arena.oom ? NULL : d;
}

/*
 * Describe a collection's indexes and move the first one on `field` (any field if
 * empty) to infos[0]; *n stays the total for kite_index_info_free.  KITE_ENOINDEX
 * (nothing to free) when none matches.
 */
static int find_index(struct grpc_call *c, const char *db_field, const char *coll,
                      const char *field, kite_index_info **infos, size_t *n, kite_err *err)
{
    int rc = kite_index_describe(c->db, grpc_call_db(c, db_field), coll, NULL, infos, n, err);
    if (rc != KITE_OK)
        return rc;
    for (size_t i = 0; i < *n; i++) {
        if (field && field[0] && strcmp((*infos)[i].field_name, field) != 0)
            continue;
        kite_index_info tmp = (*infos)[0];
        (*infos)[0] = (*infos)[i];
        (*infos)[i] = tmp;
        return KITE_OK;
    }
    kite_index_info_free(*infos, *n);
    *infos = NULL;
    *n = 0;
    return kite_err_set(err, KITE_ENOINDEX, "index not found[collection=%s]", coll);
}

GRPC_HANDLER(DescribeIndex)
{
    const Milvus__Proto__Milvus__DescribeIndexRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__DescribeIndexResponse, out,
              milvus__proto__milvus__describe_index_response__init);
    kite_err err = {0};
    kite_index_info *infos = NULL;
    size_t n = 0, total = 0;
    int rc = kite_index_describe(c->db, grpc_call_db(c, r->db_name), r->collection_name,
                                 r->index_name[0] ? r->index_name : NULL, &infos, &total, &err);
    if (rc == KITE_OK) {
        out->index_descriptions = grpc_arena_array(&c->arena, total ? total : 1,
                                                   sizeof(IndexDescription *));
        for (size_t i = 0; out->index_descriptions && i < total; i++) {
            if (r->field_name[0] && strcmp(infos[i].field_name, r->field_name) != 0)
                continue;
            if (!(out->index_descriptions[n++] = describe_one(c, &infos[i])))
                break;
        }
        kite_index_info_free(infos, total);
        if (c->arena.oom)
            return KITE_ENOMEM;
        out->n_index_descriptions = n;
        if (n == 0)
            rc = kite_err_set(&err, KITE_ENOINDEX, "index not found[collection=%s]",
                              r->collection_name);
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(GetIndexState)
{
    const Milvus__Proto__Milvus__GetIndexStateRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetIndexStateResponse, out,
              milvus__proto__milvus__get_index_state_response__init);
    kite_err err = {0};
    kite_index_info *infos = NULL;
    size_t n = 0;
    int rc = kite_index_describe(c->db, grpc_call_db(c, r->db_name), r->collection_name, NULL,
                                 &infos, &n, &err);
    if (rc == KITE_OK) {
        /* pymilvus 2.1 names the index "_default_idx": match by field first. */
        const kite_index_info *hit = NULL;
        for (size_t i = 0; i < n && !hit; i++)
            if ((r->field_name[0] && !strcmp(infos[i].field_name, r->field_name)) ||
                (r->index_name[0] && !strcmp(infos[i].index_name, r->index_name)))
                hit = &infos[i];
        if (!hit && n > 0 && !r->field_name[0] && !r->index_name[0])
            hit = &infos[0];
        if (hit) {
            out->state = (Milvus__Proto__Common__IndexState)hit->state;
            out->fail_reason = grpc_arena_strdup(&c->arena, hit->fail_reason);
        } else {
            rc = kite_err_set(&err, KITE_ENOINDEX, "index not found[collection=%s]",
                              r->collection_name);
        }
        kite_index_info_free(infos, n);
        if (c->arena.oom)
            return KITE_ENOMEM;
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(GetIndexBuildProgress)
{
    const Milvus__Proto__Milvus__GetIndexBuildProgressRequest *r = (const void *)req;
    GRPC_RESP(Milvus__Proto__Milvus__GetIndexBuildProgressResponse, out,
              milvus__proto__milvus__get_index_build_progress_response__init);
    kite_err err = {0};
    kite_index_info *infos = NULL;
    size_t n = 0;
    int rc = kite_index_describe(c->db, grpc_call_db(c, r->db_name), r->collection_name, NULL,
                                 &infos, &n, &err);
    if (rc == KITE_OK) {
        const kite_index_info *hit = NULL;
        for (size_t i = 0; i < n && !hit; i++)
            if ((!r->field_name[0] || !strcmp(infos[i].field_name, r->field_name)) &&
                (!r->index_name[0] || !strcmp(infos[i].index_name, r->index_name) ||
                 r->field_name[0]))
                hit = &infos[i];
        if (hit) {
            out->indexed_rows = (int64_t)hit->indexed_rows;
            out->total_rows = (int64_t)hit->total_rows;
        } else {
            rc = kite_err_set(&err, KITE_ENOINDEX, "index not found[collection=%s]",
                              r->collection_name);
        }
        kite_index_info_free(infos, n);
    }
    if (!(out->status = grpc_status_new(c, rc, &err)))
        return KITE_ENOMEM;
    *resp = &out->base;
    return KITE_OK;
}

GRPC_HANDLER(DropIndex)
{
    const Milvus__Proto__Milvus__DropIndexRequest *r = (const void *)req;
    kite_err err = {0};
    int rc = KITE_OK;
    const char *db = grpc_call_db(c, r->db_name);
    const char *name = r->index_name;
    if (!name[0]) { /* by field: find that field's index */
        kite_index_info *infos = NULL;
        size_t n = 0;
        rc = find_index(c, r->db_name, r->collection_name, r->field_name, &infos, &n, &err);
        if (rc == KITE_OK) {
            name = grpc_arena_strdup(&c->arena, infos[0].index_name);
            kite_index_info_free(infos, n);
            if (!name)
                return KITE_ENOMEM;
        }
    }
    if (rc == KITE_OK)
        rc = kite_index_drop(c->db, db, r->collection_name, name, &err);
    return grpc_reply_status(c, rc, &err, resp);
}
