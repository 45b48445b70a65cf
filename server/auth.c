/*
 * auth.c — credentials parsing and the route -> privilege tables (auth.h).
 *
 * Privilege names are Milvus's (RBAC "privilege" values); object types follow
 * Milvus: collection lifecycle and database/alias management are Global, data and
 * index operations are on a Collection, user/role management is Global (the
 * "...Ownership"/"SelectUser"/"UpdateUser" privileges).
 * Threading: the tables are read-only; the store is thread-safe.
 */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "err.h"

#define G "Global"
#define C "Collection"

struct need_row {
    const char *name;
    struct auth_need need;
};

static const struct need_row g_rest[] = {
    {"collections/create", {G, "CreateCollection", false}},
    {"collections/describe", {G, "DescribeCollection", false}},
    {"collections/list", {G, "ShowCollections", false}},
    {"collections/has", {G, "DescribeCollection", false}},
    {"collections/drop", {G, "DropCollection", false}},
    {"collections/rename", {G, "RenameCollection", false}},
    {"collections/load", {C, "Load", false}},
    {"collections/release", {C, "Release", false}},
    {"collections/get_load_state", {C, "GetLoadState", false}},
    {"collections/get_stats", {C, "GetStatistics", false}},
    {"collections/flush", {C, "Flush", false}},
    {"collections/compact", {C, "Compaction", false}},
    {"collections/alter_properties", {G, "AlterCollection", false}},
    {"entities/insert", {C, "Insert", false}},
    {"entities/upsert", {C, "Upsert", false}},
    {"entities/delete", {C, "Delete", false}},
    {"entities/query", {C, "Query", false}},
    {"entities/get", {C, "Query", false}},
    {"entities/search", {C, "Search", false}},
    {"entities/hybrid_search", {C, "Search", false}},
    {"entities/advanced_search", {C, "Search", false}},
    {"indexes/create", {C, "CreateIndex", false}},
    {"indexes/describe", {C, "IndexDetail", false}},
    {"indexes/list", {C, "IndexDetail", false}},
    {"indexes/drop", {C, "DropIndex", false}},
    {"partitions/list", {C, "ShowPartitions", false}},
    {"partitions/has", {C, "HasPartition", false}},
    {"partitions/get_stats", {C, "GetStatistics", false}},
    {"partitions/create", {C, "CreatePartition", false}},
    {"partitions/drop", {C, "DropPartition", false}},
    {"partitions/load", {C, "Load", false}},
    {"partitions/release", {C, "Release", false}},
    {"aliases/create", {G, "CreateAlias", false}},
    {"aliases/alter", {G, "CreateAlias", false}},
    {"aliases/drop", {G, "DropAlias", false}},
    {"aliases/describe", {G, "DescribeAlias", false}},
    {"aliases/list", {G, "ListAliases", false}},
    {"databases/create", {G, "CreateDatabase", false}},
    {"databases/drop", {G, "DropDatabase", false}},
    {"databases/list", {G, "ListDatabases", false}},
    {"databases/describe", {G, "DescribeDatabase", false}},
    {"users/list", {G, "SelectOwnership", false}},
    {"users/describe", {G, "SelectUser", true}},
    {"users/create", {G, "CreateOwnership", false}},
    {"users/update_password", {G, "UpdateUser", true}},
    {"users/drop", {G, "DropOwnership", false}},
    {"users/grant_role", {G, "ManageOwnership", false}},
    {"users/revoke_role", {G, "ManageOwnership", false}},
    {"roles/list", {G, "SelectOwnership", false}},
    {"roles/describe", {G, "SelectOwnership", false}},
    {"roles/create", {G, "CreateOwnership", false}},
    {"roles/drop", {G, "DropOwnership", false}},
    {"roles/grant_privilege", {G, "ManageOwnership", false}},
    {"roles/revoke_privilege", {G, "ManageOwnership", false}},
    {"roles/grant_privilege_v2", {G, "ManageOwnership", false}},
    {"roles/revoke_privilege_v2", {G, "ManageOwnership", false}},
};

static const struct need_row g_grpc[] = {
    {"CreateCollection", {G, "CreateCollection", false}},
    {"DescribeCollection", {G, "DescribeCollection", false}},
    {"HasCollection", {G, "DescribeCollection", false}},
    {"DropCollection", {G, "DropCollection", false}},
    {"RenameCollection", {G, "RenameCollection", false}},
    {"AlterCollection", {G, "AlterCollection", false}},
    {"ShowCollections", {G, "ShowCollections", false}},
    {"LoadCollection", {C, "Load", false}},
    {"ReleaseCollection", {C, "Release", false}},
    {"GetLoadingProgress", {C, "GetLoadingProgress", false}},
    {"GetLoadState", {C, "GetLoadState", false}},
    {"GetCollectionStatistics", {C, "GetStatistics", false}},
    {"CreatePartition", {C, "CreatePartition", false}},
    {"DropPartition", {C, "DropPartition", false}},
    {"HasPartition", {C, "HasPartition", false}},
    {"ShowPartitions", {C, "ShowPartitions", false}},
    {"LoadPartitions", {C, "Load", false}},
    {"ReleasePartitions", {C, "Release", false}},
    {"GetPartitionStatistics", {C, "GetStatistics", false}},
    {"CreateAlias", {G, "CreateAlias", false}},
    {"DropAlias", {G, "DropAlias", false}},
    {"AlterAlias", {G, "CreateAlias", false}},
    {"DescribeAlias", {G, "DescribeAlias", false}},
    {"ListAliases", {G, "ListAliases", false}},
    {"CreateDatabase", {G, "CreateDatabase", false}},
    {"DropDatabase", {G, "DropDatabase", false}},
    {"ListDatabases", {G, "ListDatabases", false}},
    {"CreateIndex", {C, "CreateIndex", false}},
    {"DescribeIndex", {C, "IndexDetail", false}},
    {"GetIndexState", {C, "IndexDetail", false}},
    {"GetIndexBuildProgress", {C, "IndexDetail", false}},
    {"DropIndex", {C, "DropIndex", false}},
    {"Insert", {C, "Insert", false}},
    {"Upsert", {C, "Upsert", false}},
    {"Delete", {C, "Delete", false}},
    {"Flush", {C, "Flush", false}},
    {"GetFlushState", {C, "Flush", false}},
    {"Search", {C, "Search", false}},
    {"HybridSearch", {C, "Search", false}},
    {"Query", {C, "Query", false}},
    {"CreateCredential", {G, "CreateOwnership", false}},
    {"UpdateCredential", {G, "UpdateUser", true}},
    {"DeleteCredential", {G, "DropOwnership", false}},
    {"ListCredUsers", {G, "SelectOwnership", false}},
    {"CreateRole", {G, "CreateOwnership", false}},
    {"DropRole", {G, "DropOwnership", false}},
    {"OperateUserRole", {G, "ManageOwnership", false}},
    {"SelectRole", {G, "SelectOwnership", false}},
    {"SelectUser", {G, "SelectUser", true}},
    {"OperatePrivilege", {G, "ManageOwnership", false}},
    {"SelectGrant", {G, "SelectOwnership", false}},
};

#undef G
#undef C

static const struct auth_need *find_need(const struct need_row *rows, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i].need;
    return NULL;
}

const struct auth_need *auth_rest_need(const char *action)
{
    return find_need(g_rest, sizeof(g_rest) / sizeof(g_rest[0]), action);
}

const struct auth_need *auth_grpc_need(const char *method)
{
    return find_need(g_grpc, sizeof(g_grpc) / sizeof(g_grpc[0]), method);
}

int auth_new(const char *data_dir, bool enabled, struct auth **out, kite_err *err)
{
    struct auth *a = kite_calloc(1, sizeof(*a));
    if (!a)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for auth");
    int rc = auth_store_open(data_dir, &a->store, err);
    if (rc != KITE_OK) {
        kite_free(a);
        return rc;
    }
    atomic_init(&a->enabled, enabled);
    *out = a;
    return KITE_OK;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    auth_store_free(a->store);
    kite_free(a);
}

bool auth_enabled(const struct auth *a)
{
    return a && atomic_load(&a->enabled);
}

/* "user:password" -> verify.  The split is on the first ':' (Milvus). */
static int check_pair(struct auth *a, const char *pair, size_t len, struct auth_user *who)
{
    char buf[AUTH_MAX_NAME + AUTH_MAX_PASSWORD + 2];
    if (len >= sizeof(buf))
        return KITE_EAUTH;
    memcpy(buf, pair, len);
    buf[len] = '\0';
    char *colon = strchr(buf, ':');
    int rc = KITE_EAUTH;
    if (colon && (size_t)(colon - buf) <= AUTH_MAX_NAME) {
        *colon = '\0';
        rc = auth_store_verify(a->store, buf, colon + 1);
        if (rc == KITE_OK && who)
            snprintf(who->name, sizeof(who->name), "%s", buf);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

int auth_b64_decode(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    if (n == 0 || n % 4 != 0 || n / 4 * 3 + 1 > cap)
        return -1;
    int len = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as zero bytes: drop them. */
    if (in[n - 1] == '=')
        len--;
    if (n >= 2 && in[n - 2] == '=')
        len--;
    out[len] = '\0';
    if (memchr(out, '\0', (size_t)len))
        return -1;
    return len;
}

static int check_b64(struct auth *a, const char *b64, struct auth_user *who)
{
    char dec[AUTH_MAX_NAME + AUTH_MAX_PASSWORD + 8];
    int len = auth_b64_decode(b64, dec, sizeof(dec));
    int rc = len < 0 ? KITE_EAUTH : check_pair(a, dec, (size_t)len, who);
    OPENSSL_cleanse(dec, sizeof(dec));
    return rc;
}

int auth_check_http(struct auth *a, const char *header, struct auth_user *who)
{
    if (!header)
        return KITE_EAUTH;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "Bearer ", 7) == 0) {
        const char *tok = header + 7;
        while (*tok == ' ')
            tok++;
        if (!strchr(tok, ':'))
            return KITE_EAUTH; /* an API key: we have none */
        return check_pair(a, tok, strlen(tok), who);
    }
    if (strncasecmp(header, "Basic ", 6) == 0) {
        const char *tok = header + 6;
        while (*tok == ' ')
            tok++;
        return check_b64(a, tok, who);
    }
    return KITE_EAUTH;
}

int auth_check_grpc(struct auth *a, const char *value, struct auth_user *who)
{
    if (!value || !*value)
        return KITE_EAUTH;
    return check_b64(a, value, who);
}

int auth_authorize(struct auth *a, const struct auth_user *who, const struct auth_need *need,
                   const char *db, const char *object, kite_err *err)
{
    if (!need)
        return KITE_OK;
    if (need->self_ok && object && strcmp(object, who->name) == 0)
        return KITE_OK;
    return auth_store_authorize(a->store, who->name, need->object_type, need->privilege, db,
                                strcmp(need->object_type, "Collection") == 0 ? object : NULL,
                                err);
}
