/*
 * rest_collections.c — /v2/vectordb/collections/... (REST.md §4).
 *
 * create has two modes (chosen by whether schema.fields is non-empty):
 *  - quick setup: pk + one FloatVector field, an AUTOINDEX on the vector named after
 *    the vector field, then load;
 *  - custom schema: fields as given; when indexParams is non-empty each index is
 *    created and the collection loaded, otherwise it stays released.
 * Threading: stateless; kite_db calls are thread-safe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "rest_internal.h"

static const char *g_levels[] = {"Strong", "Session", "Bounded", "Eventually", "Customized"};

/* ============================================================== helpers */

/* A property value as text: strings as is, other JSON values encoded; free() it. */
static char *prop_text(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

struct props {
    kite_kv kv[8];
    size_t n;
};

static void props_free(struct props *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->kv[i].value); /* json_dumps/kite_strdup: both freed with free() */
    p->n = 0;
}

static int props_add(struct rest_ctx *c, struct props *p, const char *key, json_t *v)
{
    if (!v || json_is_null(v) || p->n >= sizeof(p->kv) / sizeof(p->kv[0]))
        return KITE_OK;
    char *t = prop_text(v);
    if (!t)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory for property %s", key);
    p->kv[p->n].key = (char *)key;
    p->kv[p->n].value = t;
    p->n++;
    return KITE_OK;
}

/* Common "params" of both create modes: shards, consistency, ttl, isolation. */
static int create_params(struct rest_ctx *c, json_t *params, kite_create_params *cp,
                         struct props *props)
{
    int64_t shards = 1, parts = 0;
    int rc = rest_int(c, params, "shardsNum", 1, &shards);
    if (rc == KITE_OK)
        rc = rest_int(c, params, "partitionsNum", 0, &parts);
    if (rc == KITE_OK)
        rc = rest_consistency(c, params, "consistencyLevel", KITE_CONSISTENCY_BOUNDED,
                              &cp->consistency_level);
    if (rc != KITE_OK)
        return rc;
    if (shards < 1 || shards > 16)
        return kite_err_set(&c->err, KITE_EINVAL,
                            "maximum shards's number should be limited to 16, got %lld",
                            (long long)shards);
    cp->shards_num = (int32_t)shards;
    cp->num_partitions = (int32_t)(parts > 0 && parts < 4096 ? parts : 0);
    if (params) {
        rc = props_add(c, props, "collection.ttl.seconds", json_object_get(params, "ttlSeconds"));
        if (rc == KITE_OK)
            rc = props_add(c, props, "partitionkey.isolation",
                           json_object_get(params, "partitionKeyIsolation"));
    }
    cp->properties = props->kv;
    cp->n_properties = props->n;
    return rc;
}

static int create_index_and_load(struct rest_ctx *c, const char *coll, const char *field,
                                 const char *metric)
{
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = field;
    ip.index_name = field;
    ip.index_type = "AUTOINDEX";
    ip.metric_type = metric;
    int rc = kite_index_create(c->db, c->dbname, coll, &ip, &c->err);
    if (rc == KITE_OK)
        rc = kite_collection_load(c->db, c->dbname, coll, &c->err);
    return rc;
}

/* ========================================================== quick setup */

static int create_quick(struct rest_ctx *c, const char *name)
{
    int64_t dim = 0;
    bool auto_id = false, dynamic = true;
    const char *metric = NULL, *id_type = NULL, *pk_name = NULL, *vec_name = NULL;
    json_t *params = NULL;
    int64_t max_len = 65535;
    int rc = rest_int(c, c->body, "dimension", 0, &dim);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "metricType", false, &metric);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "idType", false, &id_type);
    if (rc == KITE_OK)
        rc = rest_bool(c, c->body, "autoID", false, &auto_id);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "primaryFieldName", false, &pk_name);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "vectorFieldName", false, &vec_name);
    if (rc == KITE_OK)
        rc = rest_obj(c, c->body, "params", &params);
    if (rc == KITE_OK)
        rc = rest_bool(c, params, "enableDynamicField", true, &dynamic);
    if (rc == KITE_OK)
        rc = rest_int(c, params, "max_length", 65535, &max_len);
    if (rc != KITE_OK)
        return rc;
    if (dim <= 0)
        return kite_err_set(&c->err, KITE_EINVAL,
                            "dimension is required for quickly create collection(default metric "
                            "type: COSINE)");
    int pk_type = KITE_DT_INT64;
    if (id_type && *id_type && strcmp(id_type, "Int64") != 0 && strcmp(id_type, "int64") != 0) {
        if (strcmp(id_type, "VarChar") != 0 && strcmp(id_type, "Varchar") != 0)
            return kite_err_set(&c->err, KITE_EINVAL,
                                "idType can only be [Int64, VarChar], default: Int64");
        pk_type = KITE_DT_VARCHAR;
    }
    kite_field_schema fields[2];
    memset(fields, 0, sizeof(fields));
    fields[0].name = (char *)(pk_name && *pk_name ? pk_name : "id");
    fields[0].dtype = pk_type;
    fields[0].is_primary = true;
    fields[0].auto_id = auto_id;
    fields[0].max_length = pk_type == KITE_DT_VARCHAR ? max_len : 0;
    fields[1].name = (char *)(vec_name && *vec_name ? vec_name : "vector");
    fields[1].dtype = KITE_DT_FLOAT_VECTOR;
    fields[1].dim = dim;
    kite_schema schema = {.description = (char *)"", .fields = fields, .n_fields = 2,
                          .enable_dynamic_field = dynamic};
    kite_create_params cp;
    kite_create_params_init(&cp);
    cp.schema = &schema;
    struct props props = {.n = 0};
    rc = create_params(c, params, &cp, &props);
    if (rc == KITE_OK)
        rc = kite_collection_create(c->db, c->dbname, name, &cp, &c->err);
    if (rc == KITE_OK)
        rc = create_index_and_load(c, name, fields[1].name, metric && *metric ? metric : "COSINE");
    props_free(&props);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

/* ======================================================== custom schema */

static int parse_field(struct rest_ctx *c, json_t *f, bool auto_id, kite_field_schema *out)
{
    const char *name, *type, *elem = NULL, *desc = NULL;
    json_t *tp = NULL;
    int rc = rest_str(c, f, "fieldName", true, &name);
    if (rc == KITE_OK)
        rc = rest_str(c, f, "dataType", true, &type);
    if (rc == KITE_OK)
        rc = rest_str(c, f, "elementDataType", false, &elem);
    if (rc == KITE_OK)
        rc = rest_str(c, f, "description", false, &desc);
    if (rc == KITE_OK)
        rc = rest_bool(c, f, "isPrimary", false, &out->is_primary);
    if (rc == KITE_OK)
        rc = rest_bool(c, f, "isPartitionKey", false, &out->is_partition_key);
    if (rc == KITE_OK)
        rc = rest_bool(c, f, "isClusteringKey", false, &out->is_clustering_key);
    if (rc == KITE_OK)
        rc = rest_bool(c, f, "nullable", false, &out->nullable);
    if (rc == KITE_OK)
        rc = rest_obj(c, f, "elementTypeParams", &tp);
    if (rc == KITE_OK)
        rc = rest_int(c, tp, "dim", 0, &out->dim);
    if (rc == KITE_OK)
        rc = rest_int(c, tp, "max_length", 0, &out->max_length);
    if (rc == KITE_OK)
        rc = rest_int(c, tp, "max_capacity", 0, &out->max_capacity);
    if (rc != KITE_OK)
        return rc;
    out->name = (char *)name;
    out->description = (char *)(desc ? desc : "");
    out->dtype = kite_dtype_from_name(type);
    if (out->dtype == KITE_DT_NONE)
        return kite_err_set(&c->err, KITE_EINVAL,
                            "invalid parameter, data type %s is invalid(case sensitive).", type);
    if (out->dtype == KITE_DT_ARRAY) {
        out->element_type = elem ? kite_dtype_from_name(elem) : KITE_DT_NONE;
        if (out->element_type == KITE_DT_NONE)
            return kite_err_set(&c->err, KITE_EINVAL,
                                "invalid parameter, element data type %s is invalid(case "
                                "sensitive).",
                                elem ? elem : "(missing)");
    }
    out->auto_id = out->is_primary && auto_id;
    json_t *dv = json_object_get(f, "defaultValue");
    if (dv && !json_is_null(dv)) {
        out->default_json = json_dumps(dv, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!out->default_json)
            return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    }
    return KITE_OK;
}

/* Create the indexes of indexParams[] (REST.md §6 item shape). */
static int create_indexes(struct rest_ctx *c, const char *coll, json_t *list,
                          const kite_schema *schema);

static int create_custom(struct rest_ctx *c, const char *name, json_t *schema_obj, json_t *jf)
{
    bool auto_id = false, dynamic = false;
    const char *desc = NULL;
    json_t *params = NULL, *idx = json_object_get(c->body, "indexParams");
    size_t n = json_array_size(jf);
    int rc = rest_bool(c, schema_obj, "autoID", false, &auto_id);
    if (rc == KITE_OK)
        rc = rest_bool(c, schema_obj, "enableDynamicField", false, &dynamic);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "description", false, &desc);
    if (rc == KITE_OK)
        rc = rest_obj(c, c->body, "params", &params);
    if (rc != KITE_OK)
        return rc;
    if (idx && !json_is_null(idx) && !json_is_array(idx))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: indexParams must be an "
                         "array");
    kite_field_schema *fields = kite_calloc(n, sizeof(*fields));
    if (!fields)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory for %zu fields", n);
    for (size_t i = 0; rc == KITE_OK && i < n; i++) {
        json_t *f = json_array_get(jf, i);
        if (!json_is_object(f))
            rc = rest_fail(c, REST_CODE_BAD_JSON,
                           "can only accept json format request, error: schema.fields[%zu] is "
                           "not an object",
                           i);
        else
            rc = parse_field(c, f, auto_id, &fields[i]);
    }
    kite_schema schema = {.description = (char *)(desc ? desc : ""), .fields = fields,
                          .n_fields = n, .enable_dynamic_field = dynamic};
    kite_create_params cp;
    kite_create_params_init(&cp);
    cp.schema = &schema;
    struct props props = {.n = 0};
    if (rc == KITE_OK)
        rc = create_params(c, params, &cp, &props);
    /* Validate index field names before creating anything. */
    for (size_t i = 0; rc == KITE_OK && i < json_array_size(idx); i++) {
        const char *fname = NULL;
        json_t *it = json_array_get(idx, i);
        rc = rest_str(c, json_is_object(it) ? it : NULL, "fieldName", true, &fname);
        bool found = false;
        for (size_t k = 0; rc == KITE_OK && k < n; k++)
            found = found || strcmp(fields[k].name, fname) == 0;
        if (rc == KITE_OK && !found)
            rc = rest_fail(c, REST_CODE_MISSING, "missing required parameters, error: `%s` "
                           "hasn't defined in schema", fname);
    }
    if (rc == KITE_OK)
        rc = kite_collection_create(c->db, c->dbname, name, &cp, &c->err);
    if (rc == KITE_OK && json_array_size(idx) > 0) {
        rc = create_indexes(c, name, idx, &schema);
        if (rc == KITE_OK)
            rc = kite_collection_load(c->db, c->dbname, name, &c->err);
    }
    props_free(&props);
    for (size_t i = 0; i < n; i++)
        free(fields[i].default_json);
    kite_free(fields);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_collection_create(struct rest_ctx *c)
{
    const char *name;
    json_t *schema = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = rest_obj(c, c->body, "schema", &schema);
    if (rc != KITE_OK)
        return rc;
    json_t *fields = schema ? json_object_get(schema, "fields") : NULL;
    if (fields && !json_is_null(fields) && !json_is_array(fields))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: schema.fields must be an "
                         "array");
    if (json_array_size(fields) == 0)
        return create_quick(c, name);
    return create_custom(c, name, schema, fields);
}

/* ============================================================== indexes */

/* Shared with indexes/create: one indexParams item. */
static int create_one_index(struct rest_ctx *c, const char *coll, json_t *it)
{
    const char *field, *iname = NULL, *metric = NULL, *itype = NULL;
    json_t *params = NULL;
    if (!json_is_object(it))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: indexParams items must be "
                         "objects");
    int rc = rest_str(c, it, "fieldName", true, &field);
    if (rc == KITE_OK)
        rc = rest_str(c, it, "indexName", false, &iname);
    if (rc == KITE_OK)
        rc = rest_str(c, it, "metricType", false, &metric);
    if (rc == KITE_OK)
        rc = rest_str(c, it, "indexType", false, &itype);
    if (rc == KITE_OK)
        rc = rest_obj(c, it, "params", &params);
    if (rc == KITE_OK && !itype)
        rc = rest_str(c, params, "index_type", false, &itype);
    if (rc == KITE_OK && !metric)
        rc = rest_str(c, params, "metric_type", false, &metric);
    if (rc != KITE_OK)
        return rc;
    json_t *build = params ? json_deep_copy(params) : json_object();
    if (!build)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    json_object_del(build, "index_type");
    json_object_del(build, "metric_type");
    char *pj = json_dumps(build, JSON_COMPACT);
    json_decref(build);
    if (!pj)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = field;
    ip.index_name = iname && *iname ? iname : field;
    ip.index_type = itype && *itype ? itype : NULL;
    ip.metric_type = metric && *metric ? metric : NULL;
    ip.params_json = pj;
    rc = kite_index_create(c->db, c->dbname, coll, &ip, &c->err);
    free(pj);
    return rc;
}

static int create_indexes(struct rest_ctx *c, const char *coll, json_t *list,
                          const kite_schema *schema)
{
    (void)schema;
    for (size_t i = 0; i < json_array_size(list); i++) {
        int rc = create_one_index(c, coll, json_array_get(list, i));
        if (rc != KITE_OK)
            return rc;
    }
    return KITE_OK;
}

int rest_index_create(struct rest_ctx *c)
{
    const char *coll;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc != KITE_OK)
        return rc;
    json_t *list = json_object_get(c->body, "indexParams");
    if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0))
        return rest_missing(c, "indexParams");
    if (!json_is_array(list))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: indexParams must be an "
                         "array");
    rc = create_indexes(c, coll, list, NULL);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

/* ============================================================= describe */

static const char *load_state_name(int s)
{
    switch (s) {
    case KITE_LOAD_NOT_LOAD: return "LoadStateNotLoad";
    case KITE_LOAD_LOADING: return "LoadStateLoading";
    case KITE_LOAD_LOADED: return "LoadStateLoaded";
    default: return "LoadStateNotExist";
    }
}

static json_t *kv_pair(const char *k, const char *v)
{
    return json_pack("{s:s,s:s}", "key", k, "value", v ? v : "");
}

static json_t *field_json(const kite_field_schema *f)
{
    json_t *o = json_pack("{s:s,s:I,s:s,s:b,s:b,s:b,s:b,s:s,s:b}", "name", f->name ? f->name : "",
                          "id", (json_int_t)f->field_id, "type",
                          kite_dtype_name(f->dtype) ? kite_dtype_name(f->dtype) : "None",
                          "primaryKey", f->is_primary, "partitionKey", f->is_partition_key,
                          "clusteringKey", f->is_clustering_key, "autoId", f->auto_id,
                          "description", f->description ? f->description : "", "nullable",
                          f->nullable);
    if (!o)
        return NULL;
    json_t *params = json_array();
    char num[32];
    if (kite_dtype_is_vector(f->dtype)) {
        snprintf(num, sizeof(num), "%lld", (long long)f->dim);
        json_array_append_new(params, kv_pair("dim", num));
    }
    if (f->dtype == KITE_DT_VARCHAR ||
        (f->dtype == KITE_DT_ARRAY && f->element_type == KITE_DT_VARCHAR)) {
        snprintf(num, sizeof(num), "%lld", (long long)f->max_length);
        json_array_append_new(params, kv_pair("max_length", num));
    }
    if (f->dtype == KITE_DT_ARRAY) {
        snprintf(num, sizeof(num), "%lld", (long long)f->max_capacity);
        json_array_append_new(params, kv_pair("max_capacity", num));
        const char *en = kite_dtype_name(f->element_type);
        json_object_set_new(o, "elementType", json_string(en ? en : "None"));
    }
    if (json_array_size(params) > 0)
        json_object_set_new(o, "params", params);
    else
        json_decref(params);
    if (f->default_json) {
        json_t *dv = json_loads(f->default_json, JSON_DECODE_ANY, NULL);
        if (dv)
            json_object_set_new(o, "defaultValue", dv);
    }
    return o;
}

static json_t *indexes_json(struct rest_ctx *c, const char *coll)
{
    json_t *arr = json_array();
    kite_index_info *infos = NULL;
    size_t n = 0;
    kite_err e;
    if (kite_index_describe(c->db, c->dbname, coll, NULL, &infos, &n, &e) != KITE_OK)
        return arr; /* no index is not an error for describe */
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "indexName",
                                             infos[i].index_name ? infos[i].index_name : "",
                                             "fieldName",
                                             infos[i].field_name ? infos[i].field_name : "",
                                             "metricType",
                                             infos[i].metric_type ? infos[i].metric_type : ""));
    kite_index_info_free(infos, n);
    return arr;
}

static json_t *describe_json(struct rest_ctx *c, const char *name, const kite_collection_info *in)
{
    bool auto_id = false;
    json_t *fields = json_array(), *aliases = json_array(), *props = json_array();
    for (size_t i = 0; i < in->schema.n_fields; i++) {
        const kite_field_schema *f = &in->schema.fields[i];
        if (f->is_dynamic)
            continue;
        auto_id = auto_id || (f->is_primary && f->auto_id);
        json_array_append_new(fields, field_json(f));
    }
    for (size_t i = 0; i < in->n_aliases; i++)
        json_array_append_new(aliases, json_string(in->aliases[i]));
    for (size_t i = 0; i < in->n_properties; i++)
        json_array_append_new(props, kv_pair(in->properties[i].key, in->properties[i].value));
    int lvl = in->consistency_level;
    return json_pack("{s:s,s:I,s:s,s:b,s:o,s:n,s:o,s:o,s:s,s:i,s:i,s:s,s:b,s:o}",
                     "collectionName", in->name ? in->name : name, "collectionID",
                     (json_int_t)in->collection_id, "description",
                     in->schema.description ? in->schema.description : "", "autoId", auto_id,
                     "fields", fields, "functions", "aliases", aliases, "indexes",
                     indexes_json(c, name), "load", load_state_name(in->load_state), "shardsNum",
                     (int)in->shards_num, "partitionsNum", (int)in->partitions_num,
                     "consistencyLevel", lvl >= 0 && lvl < 5 ? g_levels[lvl] : "Bounded",
                     "enableDynamicField", in->schema.enable_dynamic_field, "properties", props);
}

int rest_collection_describe(struct rest_ctx *c)
{
    const char *name;
    kite_collection_info *info = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = kite_collection_describe(c->db, c->dbname, name, &info, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = describe_json(c, name, info);
    kite_collection_info_free(info);
    if (!c->data)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    return rest_extra_set(c, "message", json_string(""));
}

/* ============================================================ the rest */

static json_t *string_list(char **names, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    return arr;
}

int rest_collection_list(struct rest_ctx *c)
{
    char **names = NULL;
    size_t n = 0;
    int rc = kite_collection_list(c->db, c->dbname, &names, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = string_list(names, n);
    kite_strings_free(names, n);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_collection_has(struct rest_ctx *c)
{
    const char *name;
    bool has = false;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = kite_collection_has(c->db, c->dbname, name, &has, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = json_pack("{s:b}", "has", has);
    return KITE_OK;
}

typedef int (*coll_fn)(kite_db *, const char *, const char *, kite_err *);

static int simple_coll_call(struct rest_ctx *c, coll_fn fn)
{
    const char *name;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = fn(c->db, c->dbname, name, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_collection_drop(struct rest_ctx *c)
{
    return simple_coll_call(c, kite_collection_drop);
}

int rest_collection_load(struct rest_ctx *c)
{
    return simple_coll_call(c, kite_collection_load);
}

int rest_collection_release(struct rest_ctx *c)
{
    return simple_coll_call(c, kite_collection_release);
}

int rest_collection_flush(struct rest_ctx *c)
{
    return simple_coll_call(c, kite_collection_flush);
}

int rest_collection_compact(struct rest_ctx *c)
{
    return simple_coll_call(c, kite_collection_compact);
}

int rest_collection_rename(struct rest_ctx *c)
{
    const char *name, *new_name, *new_db = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "newCollectionName", true, &new_name);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "newDbName", false, &new_db);
    if (rc == KITE_OK)
        rc = kite_collection_rename(c->db, c->dbname, name, new_db && *new_db ? new_db : c->dbname,
                                    new_name, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_collection_load_state(struct rest_ctx *c)
{
    const char *name;
    int state = KITE_LOAD_NOT_EXIST;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = kite_collection_load_state(c->db, c->dbname, name, &state, &c->err);
    if (rc != KITE_OK)
        return rc;
    if (state == KITE_LOAD_NOT_EXIST) {
        bool has = false;
        if (kite_collection_has(c->db, c->dbname, name, &has, NULL) == KITE_OK && !has)
            return kite_err_set(&c->err, KITE_ENOCOLL, "collection not found[collection=%s]",
                                name);
    }
    if (state == KITE_LOAD_LOADED || state == KITE_LOAD_LOADING) {
        c->data = json_pack("{s:s,s:i}", "loadState", load_state_name(state), "loadProgress",
                            state == KITE_LOAD_LOADED ? 100 : 0);
        return rest_extra_set(c, "message", json_string(""));
    }
    c->data = json_pack("{s:s}", "loadState", load_state_name(state));
    return KITE_OK;
}

int rest_collection_stats(struct rest_ctx *c)
{
    const char *name;
    uint64_t rows = 0;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = kite_collection_row_count(c->db, c->dbname, name, &rows, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = json_pack("{s:I}", "rowCount", (json_int_t)rows);
    return KITE_OK;
}

int rest_collection_alter_properties(struct rest_ctx *c)
{
    const char *name;
    json_t *props = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &name);
    if (rc == KITE_OK)
        rc = rest_obj(c, c->body, "properties", &props);
    if (rc != KITE_OK)
        return rc;
    if (!props || json_object_size(props) == 0)
        return rest_missing(c, "properties");
    size_t n = json_object_size(props), i = 0;
    kite_kv *kv = kite_calloc(n, sizeof(*kv));
    if (!kv)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(props, key, val)
    {
        kv[i].key = (char *)key;
        kv[i].value = prop_text(val);
        if (!kv[i++].value) {
            rc = kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc == KITE_OK)
        rc = kite_collection_alter_properties(c->db, c->dbname, name, kv, n, &c->err);
    for (size_t k = 0; k < n; k++)
        free(kv[k].value);
    kite_free(kv);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}
