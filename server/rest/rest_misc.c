/*
 * rest_misc.c — /v2/vectordb/{indexes,partitions,aliases,databases}/... (REST.md §6-§8)
 * except indexes/create, which shares its item parser with collections/create;
 * users/... and roles/... (REST.md §9) on the server's user store (server/auth.h).
 * Threading: stateless.
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "auth.h"
#include "err.h"
#include "rest_internal.h"

static json_t *string_list(char **names, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    return arr;
}

static int reply_list(struct rest_ctx *c, int rc, char **names, size_t n)
{
    if (rc != KITE_OK)
        return rc;
    c->data = string_list(names, n);
    kite_strings_free(names, n);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

/* ============================================================== indexes */

static const char *index_state_name(int s)
{
    static const char *names[] = {"IndexStateNone", "Unissued", "InProgress", "Finished",
                                  "Failed"};
    return s >= 0 && s <= 4 ? names[s] : "IndexStateNone";
}

int rest_index_describe(struct rest_ctx *c)
{
    const char *coll, *iname;
    kite_index_info *infos = NULL;
    size_t n = 0;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "indexName", true, &iname);
    if (rc == KITE_OK)
        rc = kite_index_describe(c->db, c->dbname, coll, iname, &infos, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const kite_index_info *x = &infos[i];
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s}", "indexName", x->index_name ? x->index_name : "",
            "fieldName", x->field_name ? x->field_name : "", "indexType",
            x->index_type ? x->index_type : "", "metricType", x->metric_type ? x->metric_type : "",
            "totalRows", (json_int_t)x->total_rows, "pendingRows", (json_int_t)x->pending_rows,
            "indexedRows", (json_int_t)x->indexed_rows, "indexState",
            index_state_name(x->state), "failReason", x->fail_reason ? x->fail_reason : "");
        if (o && x->params_json) {
            json_t *pj = json_loads(x->params_json, 0, NULL);
            if (pj)
                json_object_set_new(o, "params", pj);
        }
        json_array_append_new(arr, o);
    }
    kite_index_info_free(infos, n);
    c->data = arr;
    return arr ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_index_list(struct rest_ctx *c)
{
    const char *coll;
    kite_index_info *infos = NULL;
    size_t n = 0;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc != KITE_OK)
        return rc;
    rc = kite_index_describe(c->db, c->dbname, coll, NULL, &infos, &n, &c->err);
    if (rc == KITE_ENOINDEX) { /* no index: an empty list, not an error */
        rc = KITE_OK;
        n = 0;
        kite_err_clear(&c->err);
    }
    if (rc != KITE_OK)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(infos[i].index_name ? infos[i].index_name : ""));
    kite_index_info_free(infos, n);
    c->data = arr;
    return arr ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_index_drop(struct rest_ctx *c)
{
    const char *coll, *iname;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "indexName", true, &iname);
    if (rc == KITE_OK)
        rc = kite_index_drop(c->db, c->dbname, coll, iname, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

/* =========================================================== partitions */

static int coll_part(struct rest_ctx *c, const char **coll, const char **part)
{
    int rc = rest_str(c, c->body, "collectionName", true, coll);
    return rc == KITE_OK ? rest_str(c, c->body, "partitionName", true, part) : rc;
}

int rest_partition_list(struct rest_ctx *c)
{
    const char *coll;
    char **names = NULL;
    size_t n = 0;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = kite_partition_list(c->db, c->dbname, coll, &names, &n, &c->err);
    return reply_list(c, rc, names, n);
}

int rest_partition_has(struct rest_ctx *c)
{
    const char *coll, *part;
    bool has = false;
    int rc = coll_part(c, &coll, &part);
    if (rc == KITE_OK)
        rc = kite_partition_has(c->db, c->dbname, coll, part, &has, &c->err);
    if (rc == KITE_OK)
        c->data = json_pack("{s:b}", "has", has);
    return rc;
}

int rest_partition_stats(struct rest_ctx *c)
{
    const char *coll, *part;
    uint64_t rows = 0;
    int rc = coll_part(c, &coll, &part);
    if (rc == KITE_OK)
        rc = kite_partition_row_count(c->db, c->dbname, coll, part, &rows, &c->err);
    if (rc == KITE_OK)
        c->data = json_pack("{s:I}", "rowCount", (json_int_t)rows);
    return rc;
}

int rest_partition_create(struct rest_ctx *c)
{
    const char *coll, *part;
    int rc = coll_part(c, &coll, &part);
    if (rc == KITE_OK)
        rc = kite_partition_create(c->db, c->dbname, coll, part, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_partition_drop(struct rest_ctx *c)
{
    const char *coll, *part;
    int rc = coll_part(c, &coll, &part);
    if (rc == KITE_OK)
        rc = kite_partition_drop(c->db, c->dbname, coll, part, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

static int partitions_call(struct rest_ctx *c, bool load)
{
    const char *coll;
    const char **parts = NULL;
    size_t n = 0;
    int rc = rest_str(c, c->body, "collectionName", true, &coll);
    if (rc == KITE_OK)
        rc = rest_str_array(c, c->body, "partitionNames", true, &parts, &n);
    if (rc == KITE_OK)
        rc = load ? kite_partition_load(c->db, c->dbname, coll, parts, n, &c->err)
                  : kite_partition_release(c->db, c->dbname, coll, parts, n, &c->err);
    kite_free(parts);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_partition_load(struct rest_ctx *c)
{
    return partitions_call(c, true);
}

int rest_partition_release(struct rest_ctx *c)
{
    return partitions_call(c, false);
}

/* ============================================================== aliases */

static int coll_alias(struct rest_ctx *c, const char **coll, const char **alias)
{
    int rc = rest_str(c, c->body, "collectionName", true, coll);
    return rc == KITE_OK ? rest_str(c, c->body, "aliasName", true, alias) : rc;
}

int rest_alias_create(struct rest_ctx *c)
{
    const char *coll, *alias;
    int rc = coll_alias(c, &coll, &alias);
    if (rc == KITE_OK)
        rc = kite_alias_create(c->db, c->dbname, coll, alias, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_alias_alter(struct rest_ctx *c)
{
    const char *coll, *alias;
    int rc = coll_alias(c, &coll, &alias);
    if (rc == KITE_OK)
        rc = kite_alias_alter(c->db, c->dbname, coll, alias, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_alias_drop(struct rest_ctx *c)
{
    const char *alias;
    int rc = rest_str(c, c->body, "aliasName", true, &alias);
    if (rc == KITE_OK)
        rc = kite_alias_drop(c->db, c->dbname, alias, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_alias_describe(struct rest_ctx *c)
{
    const char *alias;
    char *coll = NULL;
    int rc = rest_str(c, c->body, "aliasName", true, &alias);
    if (rc == KITE_OK)
        rc = kite_alias_describe(c->db, c->dbname, alias, &coll, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = json_pack("{s:s,s:s,s:s}", "dbName", c->dbname ? c->dbname : "default",
                        "collectionName", coll ? coll : "", "aliasName", alias);
    kite_free(coll);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_alias_list(struct rest_ctx *c)
{
    const char *coll = NULL;
    char **names = NULL;
    size_t n = 0;
    int rc = rest_str(c, c->body, "collectionName", false, &coll);
    if (rc == KITE_OK)
        rc = kite_alias_list(c->db, c->dbname, coll && *coll ? coll : NULL, &names, &n, &c->err);
    return reply_list(c, rc, names, n);
}

/* ============================================================ databases */

int rest_database_create(struct rest_ctx *c)
{
    const char *name;
    int rc = rest_str(c, c->body, "dbName", true, &name);
    if (rc == KITE_OK)
        rc = kite_database_create(c->db, name, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_database_drop(struct rest_ctx *c)
{
    const char *name;
    int rc = rest_str(c, c->body, "dbName", true, &name);
    if (rc == KITE_OK)
        rc = kite_database_drop(c->db, name, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_database_list(struct rest_ctx *c)
{
    char **names = NULL;
    size_t n = 0;
    int rc = kite_database_list(c->db, &names, &n, &c->err);
    return reply_list(c, rc, names, n);
}

int rest_database_describe(struct rest_ctx *c)
{
    const char *name;
    char **names = NULL;
    size_t n = 0;
    bool found = false;
    int rc = rest_str(c, c->body, "dbName", true, &name);
    if (rc == KITE_OK)
        rc = kite_database_list(c->db, &names, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        found = found || strcmp(names[i], name) == 0;
    kite_strings_free(names, n);
    if (!found)
        return kite_err_set(&c->err, KITE_ENODB, "database not found[database=%s]", name);
    c->data = json_pack("{s:s,s:[]}", "dbName", name, "properties");
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

/* ======================================================= users / roles */
/*
 * REST.md §9.  They work whether or not authentication is enabled (the store is
 * always open, so users can be prepared before `--auth` is turned on); privileges
 * are checked by rest_dispatch when it is.
 */

static int need_store(struct rest_ctx *c)
{
    if (c->auth)
        return KITE_OK;
    return kite_err_set(&c->err, KITE_EUNSUPPORTED,
                        "users and roles need the server's user store (kite serve opens it "
                        "in the data directory)");
}

int rest_user_list(struct rest_ctx *c)
{
    char **names = NULL;
    size_t n = 0;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = auth_user_list(c->auth->store, &names, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = string_list(names, n);
    auth_strings_free(names, n);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_user_describe(struct rest_ctx *c)
{
    const char *user;
    char **roles = NULL;
    size_t n = 0;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "userName", true, &user);
    if (rc == KITE_OK)
        rc = auth_user_roles(c->auth->store, user, &roles, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = string_list(roles, n);
    auth_strings_free(roles, n);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_user_create(struct rest_ctx *c)
{
    const char *user, *pw;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "userName", true, &user);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "password", true, &pw);
    if (rc == KITE_OK)
        rc = auth_user_create(c->auth->store, user, pw, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_user_update_password(struct rest_ctx *c)
{
    const char *user, *old_pw = NULL, *new_pw;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "userName", true, &user);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "newPassword", true, &new_pw);
    /* An admin changing someone else's password needs not know the old one. */
    bool admin_other = rc == KITE_OK && c->user && strcmp(c->user->name, user) != 0 &&
                       auth_store_is_admin(c->auth->store, c->user->name);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "password", !admin_other, &old_pw);
    if (rc == KITE_OK)
        rc = auth_user_set_password(c->auth->store, user, admin_other ? NULL : old_pw, new_pw,
                                    &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_user_drop(struct rest_ctx *c)
{
    const char *user;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "userName", true, &user);
    if (rc == KITE_OK && c->user && strcmp(c->user->name, user) == 0)
        rc = kite_err_set(&c->err, KITE_EINVAL, "user '%s' cannot drop itself", user);
    if (rc == KITE_OK)
        rc = auth_user_drop(c->auth->store, user, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

static int user_role(struct rest_ctx *c, bool grant)
{
    const char *user, *role;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "userName", true, &user);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "roleName", true, &role);
    if (rc == KITE_OK)
        rc = auth_user_role(c->auth->store, user, role, grant, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_user_grant_role(struct rest_ctx *c)
{
    return user_role(c, true);
}

int rest_user_revoke_role(struct rest_ctx *c)
{
    return user_role(c, false);
}

int rest_role_list(struct rest_ctx *c)
{
    char **names = NULL;
    size_t n = 0;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = auth_role_list(c->auth->store, &names, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = string_list(names, n);
    auth_strings_free(names, n);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_role_describe(struct rest_ctx *c)
{
    const char *role;
    struct auth_grant *g = NULL;
    size_t n = 0;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "roleName", true, &role);
    if (rc == KITE_OK)
        rc = auth_role_grants(c->auth->store, role, &g, &n, &c->err);
    if (rc != KITE_OK)
        return rc;
    c->data = json_array();
    for (size_t i = 0; c->data && i < n; i++)
        json_array_append_new(c->data, json_pack("{s:s,s:s,s:s,s:s,s:s}", "objectType",
                                                 g[i].object_type, "objectName",
                                                 g[i].object_name, "privilege", g[i].privilege,
                                                 "dbName", g[i].db_name, "grantor",
                                                 g[i].grantor));
    kite_free(g);
    return c->data ? KITE_OK : kite_err_set(&c->err, KITE_ENOMEM, "out of memory");
}

int rest_role_create(struct rest_ctx *c)
{
    const char *role;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "roleName", true, &role);
    if (rc == KITE_OK)
        rc = auth_role_create(c->auth->store, role, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_role_drop(struct rest_ctx *c)
{
    const char *role;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "roleName", true, &role);
    if (rc == KITE_OK)
        rc = auth_role_drop(c->auth->store, role, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

/* v1 body: objectType, objectName, privilege, dbName; v2: privilege, dbName, collectionName. */
static int role_grant(struct rest_ctx *c, bool grant, bool v2)
{
    const char *role, *type = "Collection", *name = NULL, *priv, *db = NULL;
    int rc = need_store(c);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "roleName", true, &role);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "privilege", true, &priv);
    if (rc == KITE_OK && !v2)
        rc = rest_str(c, c->body, "objectType", true, &type);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, v2 ? "collectionName" : "objectName", !v2, &name);
    if (rc == KITE_OK)
        rc = rest_str(c, c->body, "dbName", false, &db);
    if (rc != KITE_OK)
        return rc;
    struct auth_grant g;
    memset(&g, 0, sizeof(g));
    snprintf(g.object_type, sizeof(g.object_type), "%s", type);
    snprintf(g.object_name, sizeof(g.object_name), "%s", name && *name ? name : "*");
    snprintf(g.privilege, sizeof(g.privilege), "%s", priv);
    snprintf(g.db_name, sizeof(g.db_name), "%s", db && *db ? db : "default");
    snprintf(g.grantor, sizeof(g.grantor), "%s", c->user ? c->user->name : "root");
    rc = auth_role_grant(c->auth->store, role, &g, grant, &c->err);
    return rc == KITE_OK ? rest_ok_empty(c) : rc;
}

int rest_role_grant(struct rest_ctx *c)
{
    return role_grant(c, true, false);
}

int rest_role_revoke(struct rest_ctx *c)
{
    return role_grant(c, false, false);
}

int rest_role_grant_v2(struct rest_ctx *c)
{
    return role_grant(c, true, true);
}

int rest_role_revoke_v2(struct rest_ctx *c)
{
    return role_grant(c, false, true);
}
