/*
 * test_auth_store.c — the user store (server/auth_store.h) and credential parsing
 * (server/auth.h) without a network: defaults, verification, RBAC matching,
 * persistence, corruption, and rollback when the file cannot be written.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "auth_store.h"
#include "test.h"

static struct auth_store *open_store(const char *dir)
{
    struct auth_store *s = NULL;
    kite_err err;
    int rc = auth_store_open(dir, &s, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "auth_store_open: %s\n", err.message);
        return NULL;
    }
    return s;
}

static void grant(struct auth_grant *g, const char *type, const char *name, const char *priv,
                  const char *db)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->object_type, sizeof(g->object_type), "%s", type);
    snprintf(g->object_name, sizeof(g->object_name), "%s", name);
    snprintf(g->privilege, sizeof(g->privilege), "%s", priv);
    snprintf(g->db_name, sizeof(g->db_name), "%s", db);
    snprintf(g->grantor, sizeof(g->grantor), "root");
}

TEST(defaults_and_verify)
{
    struct auth_store *s = open_store(kite_test_tmpdir());
    ASSERT(s);
    ASSERT_EQ_INT(auth_store_verify(s, "root", "Milvus"), KITE_OK);
    ASSERT_EQ_INT(auth_store_verify(s, "root", "milvus"), KITE_EAUTH);
    ASSERT_EQ_INT(auth_store_verify(s, "root", ""), KITE_EAUTH);
    ASSERT_EQ_INT(auth_store_verify(s, "nobody", "Milvus"), KITE_EAUTH);
    /* cached path gives the same answers */
    ASSERT_EQ_INT(auth_store_verify(s, "root", "Milvus"), KITE_OK);
    ASSERT_EQ_INT(auth_store_verify(s, "root", "Milvus!"), KITE_EAUTH);
    ASSERT(auth_store_is_admin(s, "root"));
    ASSERT(auth_role_exists(s, "admin") && auth_role_exists(s, "public"));
    auth_store_free(s);
}

TEST(rbac_matching)
{
    struct auth_store *s = open_store(kite_test_tmpdir());
    ASSERT(s);
    kite_err err;
    ASSERT_OK(auth_user_create(s, "bob", "bobsecret", &err));
    ASSERT_EQ_INT(auth_store_verify(s, "bob", "bobsecret"), KITE_OK);
    /* public: ShowCollections yes, Insert no */
    ASSERT_OK(auth_store_authorize(s, "bob", "Global", "ShowCollections", NULL, NULL, &err));
    ASSERT_EQ_INT(auth_store_authorize(s, "bob", "Collection", "Insert", "default", "c1", &err),
                  KITE_EPERM);
    ASSERT_CONTAINS(err.message, "Insert");
    ASSERT_OK(auth_role_create(s, "w", &err));
    struct auth_grant g;
    grant(&g, "Collection", "c1", "Insert", "default");
    ASSERT_OK(auth_role_grant(s, "w", &g, true, &err));
    ASSERT_OK(auth_user_role(s, "bob", "w", true, &err));
    ASSERT_OK(auth_store_authorize(s, "bob", "Collection", "Insert", "default", "c1", &err));
    ASSERT_OK(auth_store_authorize(s, "bob", "Collection", "Insert", NULL, "c1", &err));
    ASSERT_EQ_INT(auth_store_authorize(s, "bob", "Collection", "Insert", "db2", "c1", &err),
                  KITE_EPERM);
    ASSERT_EQ_INT(auth_store_authorize(s, "bob", "Collection", "Insert", "default", "c2", &err),
                  KITE_EPERM);
    ASSERT_EQ_INT(auth_store_authorize(s, "bob", "Collection", "Search", "default", "c1", &err),
                  KITE_EPERM);
    /* "All" on every collection of any database */
    grant(&g, "Collection", "*", "All", "*");
    ASSERT_OK(auth_role_grant(s, "w", &g, true, &err));
    ASSERT_OK(auth_store_authorize(s, "bob", "Collection", "Search", "db2", "zz", &err));
    ASSERT_EQ_INT(auth_store_authorize(s, "bob", "Global", "DropCollection", NULL, NULL, &err),
                  KITE_EPERM);
    ASSERT_OK(auth_role_grant(s, "w", &g, false, &err)); /* revoke */
    ASSERT_EQ_INT(auth_store_authorize(s, "bob", "Collection", "Search", "db2", "zz", &err),
                  KITE_EPERM);
    /* bad inputs */
    grant(&g, "Table", "*", "All", "*");
    ASSERT_EQ_INT(auth_role_grant(s, "w", &g, true, &err), KITE_EINVAL);
    ASSERT_EQ_INT(auth_user_create(s, "1x", "longenough", &err), KITE_EINVAL);
    ASSERT_EQ_INT(auth_user_create(s, "ok", "short", &err), KITE_EINVAL);
    ASSERT_EQ_INT(auth_user_create(s, "bob", "longenough", &err), KITE_EEXISTS);
    ASSERT_EQ_INT(auth_user_drop(s, "root", &err), KITE_EINVAL);
    ASSERT_EQ_INT(auth_role_drop(s, "admin", &err), KITE_EINVAL);
    ASSERT_EQ_INT(auth_user_role(s, "root", "admin", false, &err), KITE_EINVAL);
    /* dropping a role takes it from its users */
    ASSERT_OK(auth_role_drop(s, "w", &err));
    char **roles = NULL;
    size_t n = 9;
    ASSERT_OK(auth_user_roles(s, "bob", &roles, &n, &err));
    ASSERT_EQ_INT((int)n, 0);
    auth_strings_free(roles, n);
    auth_store_free(s);
}

TEST(persistence_and_passwords)
{
    const char *dir = kite_test_tmpdir();
    struct auth_store *s = open_store(dir);
    ASSERT(s);
    kite_err err;
    ASSERT_OK(auth_user_create(s, "carol", "carolpw1", &err));
    ASSERT_EQ_INT(auth_user_set_password(s, "carol", "wrongold", "carolpw2", &err), KITE_EINVAL);
    ASSERT_OK(auth_user_set_password(s, "carol", "carolpw1", "carolpw2", &err));
    ASSERT_OK(auth_user_set_password(s, "root", NULL, "rootpw99", &err));
    auth_store_free(s);
    char path[4200];
    snprintf(path, sizeof(path), "%s/auth.json", dir);
    struct stat st;
    ASSERT_EQ_INT(stat(path, &st), 0);
    ASSERT_EQ_INT((int)(st.st_mode & 0777), 0600);
    s = open_store(dir);
    ASSERT(s);
    ASSERT_EQ_INT(auth_store_verify(s, "carol", "carolpw2"), KITE_OK);
    ASSERT_EQ_INT(auth_store_verify(s, "carol", "carolpw1"), KITE_EAUTH);
    ASSERT_EQ_INT(auth_store_verify(s, "root", "Milvus"), KITE_EAUTH);
    ASSERT_EQ_INT(auth_store_verify(s, "root", "rootpw99"), KITE_OK);
    auth_store_free(s);
}

TEST(corrupt_file_is_an_error)
{
    const char *dir = kite_test_tmpdir();
    const char *bad[] = {
        "{not json",
        "[]",
        "{\"users\":[],\"roles\":[]}",
        "{\"users\":[{\"name\":\"root\",\"salt\":\"zz\",\"hash\":\"00\",\"iterations\":5000,"
        "\"roles\":[\"admin\"]}],\"roles\":[{\"name\":\"admin\",\"grants\":[]},"
        "{\"name\":\"public\",\"grants\":[]}]}",
    };
    char path[4200];
    snprintf(path, sizeof(path), "%s/auth.json", dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FILE *f = fopen(path, "w");
        ASSERT(f);
        fputs(bad[i], f);
        fclose(f);
        struct auth_store *s = NULL;
        kite_err err;
        kite_err_clear(&err);
        ASSERT_EQ_INT(auth_store_open(dir, &s, &err), KITE_ECORRUPT);
        ASSERT_CONTAINS(err.message, "auth.json");
    }
}

TEST(failed_save_rolls_back)
{
    const char *dir = kite_test_tmpdir();
    struct auth_store *s = open_store(dir);
    ASSERT(s);
    kite_err err;
    /* A directory where the temp file goes makes the write fail, even for root. */
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/auth.json.tmp", dir);
    ASSERT_EQ_INT(mkdir(tmp, 0700), 0);
    ASSERT_EQ_INT(auth_user_create(s, "dave", "davepw12", &err), KITE_EIO);
    ASSERT_CONTAINS(err.message, "auth.json.tmp");
    ASSERT(!auth_user_exists(s, "dave"));
    ASSERT_EQ_INT(auth_user_set_password(s, "root", NULL, "changed!", &err), KITE_EIO);
    ASSERT_EQ_INT(auth_store_verify(s, "root", "Milvus"), KITE_OK);
    ASSERT_EQ_INT(rmdir(tmp), 0);
    ASSERT_OK(auth_user_create(s, "dave", "davepw12", &err));
    ASSERT(auth_user_exists(s, "dave"));
    auth_store_free(s);
}

TEST(http_and_grpc_credentials)
{
    struct auth *a = NULL;
    kite_err err;
    ASSERT_OK(auth_new(kite_test_tmpdir(), true, &a, &err));
    struct auth_user who;
    ASSERT_OK(auth_check_http(a, "Bearer root:Milvus", &who));
    ASSERT_STR_EQ(who.name, "root");
    ASSERT_OK(auth_check_http(a, "bearer  root:Milvus", &who));
    ASSERT_OK(auth_check_http(a, "Basic cm9vdDpNaWx2dXM=", &who)); /* root:Milvus */
    ASSERT_EQ_INT(auth_check_http(a, NULL, &who), KITE_EAUTH);
    ASSERT_EQ_INT(auth_check_http(a, "Bearer rootMilvus", &who), KITE_EAUTH);
    ASSERT_EQ_INT(auth_check_http(a, "Basic cm9vdDpNaWx2dXM", &who), KITE_EAUTH); /* no pad */
    ASSERT_EQ_INT(auth_check_http(a, "Basic !!!!", &who), KITE_EAUTH);
    ASSERT_EQ_INT(auth_check_http(a, "Token root:Milvus", &who), KITE_EAUTH);
    ASSERT_OK(auth_check_grpc(a, "cm9vdDpNaWx2dXM=", &who));
    ASSERT_EQ_INT(auth_check_grpc(a, "", &who), KITE_EAUTH);
    ASSERT_EQ_INT(auth_check_grpc(a, "AHJvb3Q6TWlsdnVz", &who), KITE_EAUTH); /* "\0root:Milvus" */
    char huge[4096];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    ASSERT_EQ_INT(auth_check_grpc(a, huge, &who), KITE_EAUTH);
    /* tables */
    ASSERT(auth_rest_need("entities/search") != NULL);
    ASSERT_STR_EQ(auth_rest_need("entities/search")->privilege, "Search");
    ASSERT(auth_grpc_need("Connect") == NULL);
    ASSERT_STR_EQ(auth_grpc_need("Insert")->object_type, "Collection");
    auth_free(a);
}
