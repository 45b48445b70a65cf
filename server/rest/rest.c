/*
 * rest.c — routing, the reply envelope and parameter helpers of the REST v2 API.
 *
 * Flow of one request (rest_dispatch):
 *   path -> route (404 if none) -> depth pre-scan + json_loadb (1801 if not a JSON
 *   object) -> effective database (body dbName, else DB-Name header, else default)
 *   -> handler -> envelope {"code":0,"data":...} or {"code":N,"message":"..."}.
 *
 * Invariants:
 *  1. Every reply to a routed path is HTTP 200 with a JSON envelope, except
 *     authentication/privilege failures (server_err_http_status decides).
 *  2. The body is never trusted: nesting depth is bounded before jansson recurses
 *     into it (REST_MAX_JSON_DEPTH), and every parameter read checks its type.
 *  3. Error codes are mapped only through server/errors_map.c.
 *
 * Threading: no shared state besides the read-only route table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "auth.h"
#include "err.h"
#include "errors_map.h"
#include "rest_internal.h"

struct rest_route {
    const char *path;       /* after "/v2/vectordb/" */
    rest_handler_fn fn;
    const char *req_name;   /* Milvus request struct, for 1802 messages */
};

static const struct rest_route g_routes[] = {
    {"collections/create", rest_collection_create, "CollectionReq"},
    {"collections/describe", rest_collection_describe, "CollectionNameReq"},
    {"collections/list", rest_collection_list, "DatabaseReq"},
    {"collections/has", rest_collection_has, "CollectionNameReq"},
    {"collections/drop", rest_collection_drop, "CollectionNameReq"},
    {"collections/rename", rest_collection_rename, "RenameCollectionReq"},
    {"collections/load", rest_collection_load, "CollectionNameReq"},
    {"collections/release", rest_collection_release, "CollectionNameReq"},
    {"collections/get_load_state", rest_collection_load_state, "GetCollectionLoadStateReq"},
    {"collections/get_stats", rest_collection_stats, "CollectionNameReq"},
    {"collections/flush", rest_collection_flush, "CollectionNameReq"},
    {"collections/compact", rest_collection_compact, "CollectionNameReq"},
    {"collections/alter_properties", rest_collection_alter_properties,
     "AlterCollectionPropertiesReq"},
    {"entities/insert", rest_entities_insert, "CollectionDataReq"},
    {"entities/upsert", rest_entities_upsert, "CollectionDataReq"},
    {"entities/delete", rest_entities_delete, "CollectionFilterReq"},
    {"entities/query", rest_entities_query, "QueryReqV2"},
    {"entities/get", rest_entities_get, "CollectionIDReq"},
    {"entities/search", rest_entities_search, "SearchReqV2"},
    {"entities/hybrid_search", rest_entities_hybrid_search, "HybridSearchReq"},
    {"entities/advanced_search", rest_entities_hybrid_search, "HybridSearchReq"},
    {"indexes/create", rest_index_create, "IndexParamReq"},
    {"indexes/describe", rest_index_describe, "IndexReq"},
    {"indexes/list", rest_index_list, "CollectionNameReq"},
    {"indexes/drop", rest_index_drop, "IndexReq"},
    {"partitions/list", rest_partition_list, "CollectionNameReq"},
    {"partitions/has", rest_partition_has, "PartitionReq"},
    {"partitions/get_stats", rest_partition_stats, "PartitionReq"},
    {"partitions/create", rest_partition_create, "PartitionReq"},
    {"partitions/drop", rest_partition_drop, "PartitionReq"},
    {"partitions/load", rest_partition_load, "PartitionsReq"},
    {"partitions/release", rest_partition_release, "PartitionsReq"},
    {"aliases/create", rest_alias_create, "AliasCollectionReq"},
    {"aliases/alter", rest_alias_alter, "AliasCollectionReq"},
    {"aliases/drop", rest_alias_drop, "AliasReq"},
    {"aliases/describe", rest_alias_describe, "AliasReq"},
    {"aliases/list", rest_alias_list, "DatabaseReq"},
    {"databases/create", rest_database_create, "DatabaseReqRequiredName"},
    {"databases/drop", rest_database_drop, "DatabaseReqRequiredName"},
    {"databases/list", rest_database_list, "DatabaseReq"},
    {"databases/describe", rest_database_describe, "DatabaseReqRequiredName"},
    {"users/list", rest_user_list, "DatabaseReq"},
    {"users/describe", rest_user_describe, "UserReq"},
    {"users/create", rest_user_create, "PasswordReq"},
    {"users/update_password", rest_user_update_password, "NewPasswordReq"},
    {"users/drop", rest_user_drop, "UserReq"},
    {"users/grant_role", rest_user_grant_role, "UserRoleReq"},
    {"users/revoke_role", rest_user_revoke_role, "UserRoleReq"},
    {"roles/list", rest_role_list, "DatabaseReq"},
    {"roles/describe", rest_role_describe, "RoleReq"},
    {"roles/create", rest_role_create, "RoleReq"},
    {"roles/drop", rest_role_drop, "RoleReq"},
    {"roles/grant_privilege", rest_role_grant, "GrantReq"},
    {"roles/revoke_privilege", rest_role_revoke, "GrantReq"},
    {"roles/grant_privilege_v2", rest_role_grant_v2, "GrantV2Req"},
    {"roles/revoke_privilege_v2", rest_role_revoke_v2, "GrantV2Req"},
    {"/v2/kite/backup", rest_kite_backup, "KiteBackupReq"}, /* absolute: rest_admin.c */
};

#define REST_PREFIX "/v2/vectordb/"

static const struct rest_route *find_route(const char *path)
{
    size_t plen = strlen(REST_PREFIX);
    for (size_t i = 0; path && i < sizeof(g_routes) / sizeof(g_routes[0]); i++)
        if (g_routes[i].path[0] == '/' && strcmp(path, g_routes[i].path) == 0)
            return &g_routes[i]; /* routes outside /v2/vectordb/ (/v2/kite/...) */
    if (!path || strncmp(path, REST_PREFIX, plen) != 0)
        return NULL;
    const char *rest = path + plen;
    for (size_t i = 0; i < sizeof(g_routes) / sizeof(g_routes[0]); i++)
        if (strcmp(rest, g_routes[i].path) == 0)
            return &g_routes[i];
    return NULL;
}

bool rest_path_known(const char *path)
{
    return find_route(path) != NULL;
}

/* ================================================================ errors */

int rest_fail(struct rest_ctx *c, int milvus_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.message, sizeof(c->err.message), fmt, ap);
    va_end(ap);
    c->milvus_code = milvus_code;
    c->err.code = KITE_EINVAL;
    return KITE_EINVAL;
}

/* Go field name of a JSON key: first letter upper-cased ("collectionName" -> "CollectionName"). */
static void go_field_name(const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s", key);
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
}

int rest_missing(struct rest_ctx *c, const char *param)
{
    char f[128];
    go_field_name(param, f, sizeof(f));
    return rest_fail(c, REST_CODE_MISSING,
                     "missing required parameters, error: Key: '%s.%s' Error:Field validation "
                     "for '%s' failed on the 'required' tag",
                     c->req_name ? c->req_name : "Req", f, f);
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

static int bad_type(struct rest_ctx *c, const char *key, const json_t *v, const char *want)
{
    return rest_fail(c, REST_CODE_BAD_JSON,
                     "can only accept json format request, error: json: cannot unmarshal %s "
                     "into field %s of type %s",
                     json_type_name(v), key, want);
}

/* ============================================================ parameters */

int rest_str(struct rest_ctx *c, json_t *obj, const char *key, bool required, const char **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? rest_missing(c, key) : KITE_OK;
    if (!json_is_string(v))
        return bad_type(c, key, v, "string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return kite_err_set(&c->err, KITE_EINVAL,
                            "invalid parameter: %s contains a NUL character", key);
    if (required && json_string_length(v) == 0)
        return rest_missing(c, key);
    *out = json_string_value(v);
    return KITE_OK;
}

int rest_int(struct rest_ctx *c, json_t *obj, const char *key, int64_t def, int64_t *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *out = def;
    if (!v || json_is_null(v))
        return KITE_OK;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return KITE_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return KITE_OK;
        }
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        long long x = strtoll(s, &end, 10);
        if (*s && end && *end == '\0') {
            *out = (int64_t)x;
            return KITE_OK;
        }
    }
    return bad_type(c, key, v, "int");
}

int rest_bool(struct rest_ctx *c, json_t *obj, const char *key, bool def, bool *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *out = def;
    if (!v || json_is_null(v))
        return KITE_OK;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return KITE_OK;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0) {
            *out = true;
            return KITE_OK;
        }
        if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0) {
            *out = false;
            return KITE_OK;
        }
    }
    return bad_type(c, key, v, "bool");
}

int rest_str_array(struct rest_ctx *c, json_t *obj, const char *key, bool required,
                   const char ***out, size_t *n)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return required ? rest_missing(c, key) : KITE_OK;
    if (!json_is_array(v))
        return bad_type(c, key, v, "[]string");
    size_t len = json_array_size(v);
    if (len == 0)
        return required ? rest_missing(c, key) : KITE_OK;
    const char **arr = kite_calloc(len, sizeof(*arr));
    if (!arr)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory for %zu names", len);
    for (size_t i = 0; i < len; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            kite_free(arr);
            return bad_type(c, key, e, "string");
        }
        arr[i] = json_string_value(e);
    }
    *out = arr;
    *n = len;
    return KITE_OK;
}

int rest_obj(struct rest_ctx *c, json_t *obj, const char *key, json_t **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    *out = NULL;
    if (!v || json_is_null(v))
        return KITE_OK;
    if (!json_is_object(v))
        return bad_type(c, key, v, "object");
    *out = v;
    return KITE_OK;
}

int rest_consistency(struct rest_ctx *c, json_t *obj, const char *key, int def, int *out)
{
    static const char *names[] = {"Strong", "Session", "Bounded", "Eventually", "Customized"};
    const char *s;
    int rc = rest_str(c, obj, key, false, &s);
    *out = def;
    if (rc != KITE_OK || !s || !*s)
        return rc;
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return KITE_OK;
        }
    }
    return kite_err_set(&c->err, KITE_EINVAL,
                        "invalid parameter[expected=Strong, Session, Bounded, Eventually, "
                        "Customized][actual=%s]: consistencyLevel",
                        s);
}

int rest_ok_empty(struct rest_ctx *c)
{
    c->data = json_object();
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_extra_set(struct rest_ctx *c, const char *key, json_t *v)
{
    if (!v)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    if (!c->extra && !(c->extra = json_object())) {
        json_decref(v);
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    }
    if (json_object_set_new(c->extra, key, v) != 0)
        return kite_err_set(&c->err, KITE_ENOMEM, "out of memory building the reply");
    return KITE_OK;
}

int rest_auth_unsupported(struct rest_ctx *c)
{
    return kite_err_set(&c->err, KITE_EUNSUPPORTED,
                        "users and roles are not supported yet: Kite runs without "
                        "authentication (like Milvus with authorizationEnabled=false)");
}

/* ============================================================== envelope */

static const char g_oom_reply[] = "{\"code\":5,\"message\":\"out of memory\"}";

static int set_reply_text(struct rest_reply *out, int status, const char *text, const char *ctype)
{
    out->http_status = status;
    out->content_type = ctype;
    out->body = kite_strdup(text);
    out->body_len = out->body ? strlen(out->body) : 0;
    return out->body ? KITE_OK : KITE_ENOMEM;
}

/* Build the envelope from the handler outcome; consumes c->data and c->extra. */
static int finish(struct rest_ctx *c, int rc, struct rest_reply *out)
{
    json_t *env = json_object();
    int status = 200;
    if (!env)
        goto out_oom;
    if (rc == KITE_OK) {
        json_object_set_new(env, "code", json_integer(0));
        json_object_set_new(env, "data", c->data ? c->data : json_object());
        c->data = NULL;
    } else {
        int code = c->milvus_code ? c->milvus_code : server_err_milvus_code(rc);
        const char *msg = c->err.message[0] ? c->err.message : kite_strerror(rc);
        json_object_set_new(env, "code", json_integer(code));
        json_object_set_new(env, "message", json_string(msg ? msg : "error"));
        status = c->milvus_code ? 200 : server_err_http_status(rc);
    }
    if (rc == KITE_OK && c->extra)
        json_object_update(env, c->extra);
    json_decref(c->extra);
    json_decref(c->data);
    c->extra = c->data = NULL;
    size_t len = 0;
    char *text = rest_json_dump(env, &len);
    json_decref(env);
    if (!text)
        goto out_oom;
    out->http_status = status;
    out->content_type = "application/json";
    out->body = text;
    out->body_len = len;
    return KITE_OK;
out_oom:
    json_decref(env);
    return set_reply_text(out, 200, g_oom_reply, "application/json");
}

static int parse_body(struct rest_ctx *c, const struct rest_request *req)
{
    if (req->body_len == 0 || !req->body)
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: the request body is "
                         "empty; send at least {}");
    if (!rest_json_depth_ok(req->body, req->body_len, REST_MAX_JSON_DEPTH))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: JSON nested deeper than "
                         "%d levels",
                         REST_MAX_JSON_DEPTH);
    json_error_t jerr;
    /* Duplicate keys: the last one wins, as in Go's encoding/json. */
    c->body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (!c->body)
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: %s (at byte %d)", jerr.text,
                         jerr.position);
    if (!json_is_object(c->body))
        return rest_fail(c, REST_CODE_BAD_JSON,
                         "can only accept json format request, error: the body must be a JSON "
                         "object, not %s",
                         json_type_name(c->body));
    return KITE_OK;
}

/*
 * RBAC (auth enabled only): the route's privilege on the body's collectionName (or,
 * for users/describe and users/update_password, the caller's own userName).
 */
static int check_privilege(struct rest_ctx *c, const struct rest_route *route)
{
    if (!c->auth || !c->user)
        return KITE_OK;
    const struct auth_need *need = auth_rest_need(route->path);
    if (!need)
        return KITE_OK;
    json_t *v = json_object_get(c->body, need->self_ok ? "userName" : "collectionName");
    const char *object = json_is_string(v) ? json_string_value(v) : NULL;
    return auth_authorize(c->auth, c->user, need, c->dbname, object, &c->err);
}

int rest_dispatch(kite_db *db, const struct rest_request *req, struct rest_reply *out)
{
    memset(out, 0, sizeof(*out));
    const struct rest_route *route = find_route(req->path);
    if (!route)
        return set_reply_text(out, 404, "404 page not found", "text/plain");

    struct rest_ctx c;
    memset(&c, 0, sizeof(c));
    c.db = db;
    c.req_name = route->req_name;
    c.allow_int64 = req->allow_int64 != 0; /* absent/unparsable -> config default true */
    kite_err_clear(&c.err);

    int rc = parse_body(&c, req);
    if (rc == KITE_OK) {
        const char *dbn = NULL;
        rc = rest_str(&c, c.body, "dbName", false, &dbn);
        if (rc == KITE_OK) {
            if (!dbn || !*dbn)
                dbn = (req->db_header && *req->db_header) ? req->db_header : NULL;
            c.dbname = dbn;
            c.auth = req->auth;
            c.user = req->user;
            rc = check_privilege(&c, route);
            if (rc == KITE_OK)
                rc = route->fn(&c);
        }
    }
    rc = finish(&c, rc, out);
    json_decref(c.body);
    return rc;
}

void rest_reply_free(struct rest_reply *r)
{
    if (!r)
        return;
    kite_free(r->body);
    r->body = NULL;
    r->body_len = 0;
}
