/*
 * rest_entities.c — /v2/vectordb/entities/{insert,upsert,delete,query,get} (REST.md §5).
 *
 * Inserts pass the parsed "data" array straight to kite_insert_json_parsed (the
 * engine owns row validation, so REST and gRPC agree on what a valid row is; no
 * second print/parse of the rows: that was 60% of a 1000 x 128-d insert).  get builds a
 * pk column from "id" (a scalar or an array; Int64 pks may arrive as strings).
 * Threading: stateless.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "err.h"
#include "rest_internal.h"

/* ================================================================ writes */

static int write_rows(struct rest_ctx *c, bool upsert)
{
    const char *coll, *part = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "partitionName", false, &part);
    if (rc != KITE_OK)
        return rc;
    json_t *data = json_object_get(c->body, "data");
    if (!data || json_is_null(data) || (json_is_array(data) && json_array_size(data) == 0))
        return rest_missing(c, "data");
    if (!json_is_array(data))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: data must be an array of "
                         "row objects");
    kite_write_result res;
    memset(&res, 0, sizeof(res));
    rc = kite_insert_json_parsed(c->db, c->dbname, coll, part && *part ? part : NULL, data, upsert,
                                 &res, &c->err);
    if (rc == KITE_EDATA || rc == KITE_EINVAL) {
        /* Milvus wraps row problems as 1804 "fail to deal the insert data". */
        char msg[sizeof(c->err.message)];
        snprintf(msg, sizeof(msg), "%s", c->err.message);
        rest_fail(c, REST_CODE_BAD_ROWS, "fail to deal the insert data, error: %s", msg);
        kite_write_result_free(&res);
        return rc;
    }
    if (rc != KITE_OK) {
        kite_write_result_free(&res);
        return rc;
    }
    json_t *ids = rest_ids_array(c, &res.ids);
    uint64_t count = upsert ? (res.upsert_count ? res.upsert_count : res.ids.n)
                            : (res.insert_count ? res.insert_count : res.ids.n);
    c->data = json_pack("{s:I,s:o}", upsert ? "upsertCount" : "insertCount", (json_int_t)count,
                        upsert ? "upsertIds" : "insertIds", ids ? ids : json_array());
    kite_write_result_free(&res);
    if (!c->data)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    return rest_extra_set(c, "cost", json_integer(0));
}

int rest_entities_insert(struct rest_ctx *c)
{
    return write_rows(c, false);
}

int rest_entities_upsert(struct rest_ctx *c)
{
    return write_rows(c, true);
}

/* exprParams (filter template values) as JSON text; *out NULL if absent; free(). */
static int template_text(struct rest_ctx *c, char **out)
{
    json_t *t = NULL;
    *out = NULL;
    int rc = rest_obj(c, c->body, "exprParams", &t);
    if (rc != KITE_OK || !t)
        return rc;
    *out = json_dumps(t, JSON_COMPACT);
    return *out ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_entities_delete(struct rest_ctx *c)
{
    const char *coll, *part = NULL, *filter;
    char *tmpl = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "partitionName", false, &part);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "filter", true, &filter);
    if (rc == KITE_OK)
        rc = template_text(c, &tmpl);
    if (rc != KITE_OK)
        return rc;
    kite_write_result res;
    memset(&res, 0, sizeof(res));
    rc = kite_delete(c->db, c->dbname, coll, part && *part ? part : NULL, filter, tmpl, &res,
                     &c->err);
    free(tmpl);
    if (rc == KITE_OK)
        c->data = json_pack("{s:I}", "deleteCount", (json_int_t)res.delete_count);
    kite_write_result_free(&res);
    return rc;
}

/* ================================================================ reads */

static int finish_read(struct rest_ctx *c, kite_result *r)
{
    c->data = rest_result_rows(c, r, false);
    kite_result_free(r);
    if (!c->data)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    return rest_extra_set(c, "cost", json_integer(0));
}

static bool wants_count(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        while (*s == ' ')
            s++;
        if (strncasecmp(s, "count(*)", 8) == 0)
            return true;
    }
    return false;
}

int rest_entities_query(struct rest_ctx *c)
{
    const char *coll, *filter = NULL;
    const char **outs = NULL, **parts = NULL;
    size_t n_outs = 0, n_parts = 0;
    int64_t limit = 0, offset = 0;
    char *tmpl = NULL;
    kite_query_params q;
    kite_query_params_init(&q);
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "filter", false, &filter);
    if (rc == KITE_OK)
        rc = rest_int(c, c->body, "limit", 0, &limit);
    if (rc == KITE_OK)
        rc = rest_int(c, c->body, "offset", 0, &offset);
    if (rc == KITE_OK)
        rc = rest_consistency(c, c->body, "consistencyLevel", -1, &q.consistency_level);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "outputFields", false, &outs, &n_outs);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "partitionNames", false, &parts, &n_parts);
    if (rc == KITE_OK)
        rc = template_text(c, &tmpl);
    if (rc != KITE_OK)
        goto out;
    bool count = wants_count(outs, n_outs);
    q.filter = filter;
    q.template_json = tmpl;
    q.output_fields = outs;
    q.n_output_fields = n_outs;
    q.partitions = parts;
    q.n_partitions = n_parts;
    /* REST forwards limit/offset only when > 0, and drops them for count(*). */
    q.limit = (!count && limit > 0) ? limit : -1;
    q.offset = (!count && offset > 0) ? offset : 0;
    kite_result *r = NULL;
    rc = kite_query(c->db, c->dbname, coll, &q, &r, &c->err);
    if (rc == KITE_OK)
        rc = finish_read(c, r);
out:
    free(tmpl);
    kite_free(outs);
    kite_free(parts);
    return rc;
}

/* Primary keys from "id": a scalar or an array of ints / strings. */
static int pk_column(struct rest_ctx *c, json_t *id, int pk_dtype, kite_column *col,
                     void **buf, uint64_t **offs)
{
    size_t n = json_is_array(id) ? json_array_size(id) : 1;
    memset(col, 0, sizeof(*col));
    col->dtype = pk_dtype;
    col->n = n;
    if (pk_dtype == KITE_DT_INT64) {
        int64_t *v = kite_calloc(n ? n : 1, sizeof(int64_t));
        if (!v)
            return kite_err_set(&c->err, KITE_ENOMEM, "out of memory for %zu ids", n);
        *buf = v;
        col->data = v;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_is_array(id) ? json_array_get(id, i) : id;
            char *end = NULL;
            if (json_is_integer(e)) {
                v[i] = (int64_t)json_integer_value(e);
            } else if (json_is_string(e) && *json_string_value(e) &&
                       (v[i] = strtoll(json_string_value(e), &end, 10), *end == '\0')) {
                /* Int64 pk sent as a string (Allow-Int64 false clients) */
            } else {
                return rest_fail(c, REST_CODE_BAD_IDS,
                                 "please check the primary key and its' type can only in [int, "
                                 "string]: id[%zu] is not an Int64",
                                 i);
            }
        }
        return KITE_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(id) ? json_array_get(id, i) : id;
        if (!json_is_string(e))
            return rest_fail(c, REST_CODE_BAD_IDS,
                             "please check the primary key and its' type can only in [int, "
                             "string]: id[%zu] is not a VarChar",
                             i);
        total += json_string_length(e);
    }
    char *bytes = kite_malloc(total ? total : 1);
    uint64_t *o = kite_calloc(n + 1, sizeof(uint64_t));
    *buf = bytes;
    *offs = o;
    if (!bytes || !o)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory for %zu ids", n);
    for (size_t i = 0, at = 0; i < n; i++) {
        json_t *e = json_is_array(id) ? json_array_get(id, i) : id;
        memcpy(bytes + at, json_string_value(e), json_string_length(e));
        at += json_string_length(e);
        o[i + 1] = at;
    }
    col->data = bytes;
    col->offsets = o;
    return KITE_OK;
}

int rest_entities_get(struct rest_ctx *c)
{
    const char *coll;
    const char **outs = NULL, **parts = NULL;
    size_t n_outs = 0, n_parts = 0;
    void *buf = NULL;
    uint64_t *offs = NULL;
    kite_collection_info *info = NULL;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "outputFields", false, &outs, &n_outs);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "partitionNames", false, &parts, &n_parts);
    if (rc != KITE_OK)
        goto out;
    json_t *id = json_object_get(c->body, "id");
    if (!id || json_is_null(id) || (json_is_array(id) && json_array_size(id) == 0)) {
        rc = rest_missing(c, "id");
        goto out;
    }
    rc = kite_collection_describe(c->db, c->dbname, coll, &info, &c->err);
    if (rc != KITE_OK)
        goto out;
    int pk_dtype = KITE_DT_INT64;
    for (size_t i = 0; i < info->schema.n_fields; i++)
        if (info->schema.fields[i].is_primary)
            pk_dtype = info->schema.fields[i].dtype;
    kite_column col;
    rc = pk_column(c, id, pk_dtype, &col, &buf, &offs);
    if (rc != KITE_OK)
        goto out;
    kite_result *r = NULL;
    rc = kite_get(c->db, c->dbname, coll, &col, outs, n_outs, parts, n_parts, &r, &c->err);
    if (rc == KITE_OK)
        rc = finish_read(c, r);
out:
    kite_collection_info_free(info);
    kite_free(buf);
    kite_free(offs);
    kite_free(outs);
    kite_free(parts);
    return rc;
}
