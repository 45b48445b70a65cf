/*
 * images_rest.c — the images store over a running server's Milvus REST v2 API
 * (`kite images ... --server URL`), with libcurl for HTTP and jansson for JSON.
 *
 * Design notes:
 *  1. libcurl is loaded at run time (dlopen "libcurl.so.4") rather than linked, so
 *     the `kite` binary keeps no hard dependency on it: only --server needs it, and
 *     without it the command fails with a message naming the package
 *     (libcurl4-openssl-dev / libcurl4).  The symbols used are the stable easy API.
 *  2. Listing what is indexed: REST queries are capped at offset+limit <= 16384, so
 *     the id space (53-bit hashes, uniformly spread) is cut into ranges each
 *     expected to hold ~4,000 rows; a range that comes back full is an error rather
 *     than a silent truncation.
 *  3. Progress is posted to the web app's /api/index-progress so the page can show
 *     a running job; failures there are ignored (an older server has no web app).
 *
 * Threading model: one thread at a time per store; one curl easy handle reused.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "curl_dl.h"
#include "err.h"
#include "images_app.h"

#define REST_MAX_REPLY (256u << 20)
#define REST_WINDOW 16384

/* ------------------------------------------------------------------- store */

struct rest_store {
    struct images_store base;
    struct curl_api api;
    CURL *curl;
    char *base_url;
};

static size_t on_body(char *data, size_t size, size_t n, void *udata)
{
    struct kite_buf *b = udata;
    return kite_buf_append(b, data, size * n) == KITE_OK ? size * n : 0;
}

/* POST a raw body to base_url + path; *reply gets the parsed JSON (owned) or NULL. */
static int post_raw(struct rest_store *r, const char *path, const char *body, json_t **reply,
                    kite_err *err)
{
    char url[1024];
    struct kite_buf resp;
    struct curl_slist *hdrs = NULL;
    long status = 0;
    int rc = KITE_OK;
    snprintf(url, sizeof(url), "%s%s", r->base_url, path);
    kite_buf_init(&resp, REST_MAX_REPLY);
    hdrs = r->api.slist_append(hdrs, "Content-Type: application/json");
    r->api.easy_setopt(r->curl, CURLOPT_URL, url);
    r->api.easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
    r->api.easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
    r->api.easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    r->api.easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
    r->api.easy_setopt(r->curl, CURLOPT_WRITEDATA, &resp);
    r->api.easy_setopt(r->curl, CURLOPT_TIMEOUT, 300L);
    CURLcode cc = r->api.easy_perform(r->curl);
    r->api.slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        rc = kite_err_set(err, KITE_EIO, "POST %s: %s", url, r->api.easy_strerror(cc));
        goto out;
    }
    r->api.easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    if (reply) {
        json_error_t je;
        *reply = json_loadb((const char *)resp.data, resp.len, 0, &je);
        if (!*reply)
            rc = kite_err_set(err, KITE_ECORRUPT, "POST %s: HTTP %ld, reply is not JSON (%s)",
                              url, status, je.text);
    }
out:
    kite_buf_free(&resp);
    return rc;
}

/* POST a JSON object (stolen) to a /v2/vectordb path; checks the Milvus "code". */
static int call(struct rest_store *r, const char *path, json_t *req, json_t **data,
                kite_err *err)
{
    json_t *reply = NULL;
    json_object_set_new(req, "collectionName", json_string(r->base.collection));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return kite_err_set(err, KITE_ENOMEM, "out of memory encoding a request");
    int rc = post_raw(r, path, body, &reply, err);
    free(body); /* jansson allocates with malloc */
    if (rc != KITE_OK)
        return rc;
    json_int_t code = json_integer_value(json_object_get(reply, "code"));
    if (code != 0) {
        const char *msg = json_string_value(json_object_get(reply, "message"));
        rc = kite_err_set(err, KITE_EINTERNAL, "%s: server error %lld: %s", path,
                          (long long)code, msg ? msg : "(no message)");
    } else if (data) {
        *data = json_incref(json_object_get(reply, "data"));
    }
    json_decref(reply);
    return rc;
}

static bool rest_exists(struct images_store *s)
{
    json_t *data = NULL;
    if (call((struct rest_store *)s, "/v2/vectordb/collections/has", json_object(), &data,
             NULL) != KITE_OK)
        return false;
    bool has = json_is_true(json_object_get(data, "has"));
    json_decref(data);
    return has;
}

static json_t *field_json(const kite_field_schema *f)
{
    json_t *o = json_pack("{s:s, s:s}", "fieldName", f->name, "dataType",
                          kite_dtype_name(f->dtype));
    if (f->is_primary)
        json_object_set_new(o, "isPrimary", json_true());
    if (f->dtype == KITE_DT_VARCHAR)
        json_object_set_new(o, "elementTypeParams",
                            json_pack("{s:I}", "max_length", (json_int_t)f->max_length));
    if (f->dtype == KITE_DT_FLOAT_VECTOR)
        json_object_set_new(o, "elementTypeParams", json_pack("{s:I}", "dim", (json_int_t)f->dim));
    return o;
}

static int rest_check_dim(struct rest_store *r, uint32_t dim, kite_err *err)
{
    json_t *data = NULL;
    int rc = call(r, "/v2/vectordb/collections/describe", json_object(), &data, err);
    if (rc != KITE_OK)
        return rc;
    long long have = -1;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(data, "fields"), i, f)
    {
        if (!json_is_string(json_object_get(f, "name")) ||
            strcmp(json_string_value(json_object_get(f, "name")), "embedding") != 0)
            continue;
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(f, "params"), k, p)
        {
            const char *key = json_string_value(json_object_get(p, "key"));
            const char *val = json_string_value(json_object_get(p, "value"));
            if (key && val && strcmp(key, "dim") == 0)
                have = atoll(val);
        }
    }
    json_decref(data);
    if (have != (long long)dim)
        return kite_err_set(err, KITE_EINVAL,
                            "collection '%s' has no 'embedding' field of dimension %u (it has "
                            "%lld); use another --collection or drop it",
                            r->base.collection, dim, have);
    return KITE_OK;
}

static int rest_ensure(struct images_store *s, uint32_t dim, kite_err *err)
{
    struct rest_store *r = (struct rest_store *)s;
    if (rest_exists(s)) {
        int rc = rest_check_dim(r, dim, err);
        if (rc != KITE_OK)
            return rc;
        return call(r, "/v2/vectordb/collections/load", json_object(), NULL, err);
    }
    kite_field_schema fields[IMAGES_N_FIELDS];
    images_schema_fields(fields, dim);
    json_t *jf = json_array();
    for (int i = 0; i < IMAGES_N_FIELDS; i++)
        json_array_append_new(jf, field_json(&fields[i]));
    json_t *req = json_pack(
        "{s:{s:b, s:b, s:o}, s:[{s:s, s:s, s:s, s:{s:i, s:i}}]}", "schema", "autoId", 0,
        "enableDynamicField", 0, "fields", jf, "indexParams", "fieldName", "embedding",
        "metricType", "COSINE", "indexType", IMAGES_INDEX_TYPE, "params", "M", 16,
        "efConstruction", 200);
    if (!req)
        return kite_err_set(err, KITE_ENOMEM, "out of memory encoding a request");
    int rc = call(r, "/v2/vectordb/collections/create", req, NULL, err);
    if (rc != KITE_OK)
        return rc;
    return call(r, "/v2/vectordb/collections/load", json_object(), NULL, err);
}

static int rest_count(struct images_store *s, uint64_t *rows, kite_err *err)
{
    json_t *data = NULL;
    int rc = call((struct rest_store *)s, "/v2/vectordb/collections/get_stats", json_object(),
                  &data, err);
    if (rc != KITE_OK)
        return rc;
    json_t *rc_j = json_object_get(data, "rowCount");
    *rows = json_is_integer(rc_j) ? (uint64_t)json_integer_value(rc_j) : 0;
    json_decref(data);
    return KITE_OK;
}

static int append_rows(struct images_row_list *out, json_t *data, kite_err *err)
{
    size_t n = json_array_size(data), i;
    struct images_row *rows = kite_realloc(out->rows, (out->n + n + 1) * sizeof(*rows));
    if (!rows)
        return kite_err_set(err, KITE_ENOMEM, "out of memory listing rows");
    out->rows = rows;
    json_t *o;
    json_array_foreach(data, i, o)
    {
        struct images_row *row = &out->rows[out->n];
        const char *p = json_string_value(json_object_get(o, "path"));
        const char *h = json_string_value(json_object_get(o, "hash"));
        row->id = json_integer_value(json_object_get(o, "id"));
        row->size = json_integer_value(json_object_get(o, "size"));
        row->mtime = json_integer_value(json_object_get(o, "mtime"));
        row->path = kite_strdup(p ? p : "");
        row->hash = kite_strdup(h ? h : "");
        out->n++;
        if (!row->path || !row->hash)
            return kite_err_set(err, KITE_ENOMEM, "out of memory listing rows");
    }
    return KITE_OK;
}

static int rest_list(struct images_store *s, struct images_row_list *out, kite_err *err)
{
    struct rest_store *r = (struct rest_store *)s;
    uint64_t total = 0;
    memset(out, 0, sizeof(*out));
    int rc = rest_count(s, &total, err);
    if (rc != KITE_OK)
        return rc;
    uint64_t buckets = total / 4000 + 1, step = (uint64_t)IMAGES_ID_MAX / buckets + 1;
    for (uint64_t b = 0; b < buckets && rc == KITE_OK; b++) {
        char filter[128];
        uint64_t lo = b * step, hi = lo + step;
        if (b + 1 == buckets)
            snprintf(filter, sizeof(filter), "id >= %" PRIu64, lo);
        else
            snprintf(filter, sizeof(filter), "id >= %" PRIu64 " and id < %" PRIu64, lo, hi);
        json_t *req = json_pack("{s:s, s:[s,s,s,s], s:i}", "filter", filter, "outputFields",
                                "path", "size", "mtime", "hash", "limit", REST_WINDOW);
        json_t *data = NULL;
        rc = call(r, "/v2/vectordb/entities/query", req, &data, err);
        if (rc != KITE_OK)
            break;
        if (json_array_size(data) >= REST_WINDOW)
            rc = kite_err_set(err, KITE_ELIMIT, "more than %d rows in one id range", REST_WINDOW);
        else
            rc = append_rows(out, data, err);
        json_decref(data);
    }
    if (rc != KITE_OK)
        images_row_list_free(out);
    return rc;
}

static json_t *vec_json(const float *v, uint32_t dim)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < dim; i++)
        json_array_append_new(a, json_real((double)v[i]));
    return a;
}

static int rest_upsert(struct images_store *s, const struct images_new_row *rows, size_t n,
                       uint32_t dim, kite_err *err)
{
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct images_new_row *w = &rows[i];
        json_array_append_new(
            data, json_pack("{s:I, s:s, s:s, s:I, s:I, s:s, s:s, s:o}", "id", (json_int_t)w->id,
                            "name", w->name, "path", w->path, "size", (json_int_t)w->size,
                            "mtime", (json_int_t)w->mtime, "hash", w->hash, "thumb",
                            w->thumb_b64, "embedding", vec_json(w->vec, dim)));
    }
    json_t *req = json_pack("{s:o}", "data", data);
    if (!req)
        return kite_err_set(err, KITE_ENOMEM, "out of memory encoding %zu rows", n);
    return call((struct rest_store *)s, "/v2/vectordb/entities/upsert", req, NULL, err);
}

static int rest_remove(struct images_store *s, const int64_t *ids, size_t n, kite_err *err)
{
    int rc = KITE_OK;
    for (size_t i = 0; i < n && rc == KITE_OK; i += 256) {
        struct kite_buf f;
        kite_buf_init(&f, 0);
        rc = kite_buf_printf(&f, "id in [");
        for (size_t k = i; k < n && k < i + 256 && rc == KITE_OK; k++)
            rc = kite_buf_printf(&f, "%s%" PRId64, k == i ? "" : ",", ids[k]);
        if (rc == KITE_OK)
            rc = kite_buf_printf(&f, "]");
        if (rc == KITE_OK)
            rc = call((struct rest_store *)s, "/v2/vectordb/entities/delete",
                      json_pack("{s:s}", "filter", (const char *)f.data), NULL, err);
        kite_buf_free(&f);
    }
    return rc;
}

static int rest_search(struct images_store *s, const float *vec, uint32_t dim, int top,
                       struct images_hit_list *out, kite_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *req = json_pack("{s:[o], s:s, s:i, s:[s,s], s:{s:{s:i}}}", "data", vec_json(vec, dim),
                            "annsField", "embedding", "limit", top, "outputFields", "name",
                            "path", "searchParams", "params", "ef", 128);
    json_t *data = NULL;
    int rc = call((struct rest_store *)s, "/v2/vectordb/entities/search", req, &data, err);
    if (rc != KITE_OK)
        return rc;
    size_t n = json_array_size(data), i;
    json_t *o;
    if (n && !(out->hits = kite_calloc(n, sizeof(*out->hits)))) {
        json_decref(data);
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    }
    json_array_foreach(data, i, o)
    {
        struct images_hit *h = &out->hits[out->n++];
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *path = json_string_value(json_object_get(o, "path"));
        h->id = json_integer_value(json_object_get(o, "id"));
        h->distance = 1.0f - (float)json_number_value(json_object_get(o, "distance"));
        if (h->distance < 0)
            h->distance = 0; /* cosine similarity rounded just above 1 */
        h->name = kite_strdup(name ? name : "");
        h->path = kite_strdup(path ? path : "");
    }
    json_decref(data);
    return KITE_OK;
}

static int rest_flush(struct images_store *s, kite_err *err)
{
    return call((struct rest_store *)s, "/v2/vectordb/collections/flush", json_object(), NULL,
                err);
}

static void rest_progress(struct images_store *s, const char *json)
{
    struct rest_store *r = (struct rest_store *)s;
    char body[512];
    snprintf(body, sizeof(body), "{\"collection\":\"%s\",\"progress\":%s}", s->collection, json);
    if (post_raw(r, "/api/index-progress", body, NULL, NULL) != KITE_OK)
        return; /* a server without the web app: progress is only local then */
}

static void rest_close(struct images_store *s)
{
    struct rest_store *r = (struct rest_store *)s;
    if (r->curl)
        r->api.easy_cleanup(r->curl);
    curl_api_unload(&r->api);
    kite_free(r->base_url);
    kite_free(s->collection);
    kite_free(r);
}

static const struct images_store_ops rest_ops = {
    .ensure = rest_ensure,
    .exists = rest_exists,
    .list = rest_list,
    .upsert = rest_upsert,
    .remove = rest_remove,
    .search = rest_search,
    .count = rest_count,
    .flush = rest_flush,
    .progress = rest_progress,
    .close = rest_close,
};

int images_store_open_rest(const char *base_url, const char *collection,
                           struct images_store **out, kite_err *err)
{
    int rc = KITE_OK;
    struct rest_store *r = kite_calloc(1, sizeof(*r));
    if (!r)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    r->base.ops = &rest_ops;
    size_t len = strlen(base_url);
    while (len && base_url[len - 1] == '/')
        len--;
    r->base_url = kite_strndup(base_url, len);
    r->base.collection = kite_strdup(collection);
    if (!r->base_url || !r->base.collection) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out_fail;
    }
    if (strncmp(r->base_url, "http://", 7) != 0 && strncmp(r->base_url, "https://", 8) != 0) {
        rc = kite_err_set(err, KITE_EINVAL, "--server expects http://HOST:PORT, not '%s'",
                          base_url);
        goto out_fail;
    }
    if ((rc = curl_api_load(&r->api, err)) != KITE_OK)
        goto out_fail;
    if (!(r->curl = r->api.easy_init())) {
        rc = kite_err_set(err, KITE_EINTERNAL, "curl_easy_init failed");
        goto out_fail;
    }
    *out = &r->base;
    return KITE_OK;
out_fail:
    rest_close(&r->base);
    return rc;
}
