/*
 * auth_store.h — users, roles and grants of `kite serve --auth` (issue #5 §2),
 * persisted as <data_dir>/auth.json.
 *
 * Passwords are stored as PBKDF2-HMAC-SHA256 (random 16-byte salt, per-user
 * iteration count, 32-byte key); comparisons use CRYPTO_memcmp (constant time).
 * Built-in: user "root" (initial password "Milvus", role admin), roles "admin"
 * (every privilege) and "public" (every user has it; by default it grants
 * DescribeCollection, ShowCollections, IndexDetail and ListDatabases on Global "*").
 *
 * Privilege model (Milvus RBAC): a grant is (objectType, objectName, privilege, dbName).
 * A request needing privilege P on (type, name, db) is allowed if the user is root,
 * has role admin, or one of its roles (or public) holds a grant with the same type,
 * privilege P or "All"/"*", objectName equal or "*", dbName equal or "*".
 *
 * Threading model: every function is thread-safe (one rwlock: checks take it
 * shared, changes exclusive).  Each change is written to disk (write temp, fsync,
 * rename, fsync dir) before it returns; if the write fails the change is rolled
 * back in memory.  A verified password is remembered (SHA-256 of salt+password) so
 * only the first request of a session pays for PBKDF2.
 */
#ifndef KITE_SERVER_AUTH_STORE_H
#define KITE_SERVER_AUTH_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "kite/errors.h"

struct auth_store;

#define AUTH_MAX_NAME 64        /* user and role names: [A-Za-z_][A-Za-z0-9_-]{0,63} */
#define AUTH_MIN_PASSWORD 6     /* Milvus: 6..256 bytes */
#define AUTH_MAX_PASSWORD 256
#define AUTH_DEFAULT_USER "root"
#define AUTH_DEFAULT_PASSWORD "Milvus"
#define AUTH_FILE_NAME "auth.json"

struct auth_grant {
    char object_type[32];       /* "Global", "Collection", "User" */
    char object_name[256];      /* "*" or a name */
    char privilege[64];         /* "Insert", "Search", ..., "All" */
    char db_name[256];          /* "*" or a database name */
    char grantor[AUTH_MAX_NAME + 1];
};

/*
 * Load <data_dir>/auth.json, creating it (root/Milvus, admin, public) when absent.
 * data_dir must exist.  A corrupt file is a hard error (KITE_ECORRUPT).
 */
int auth_store_open(const char *data_dir, struct auth_store **out, kite_err *err) KITE_MUST_CHECK;
void auth_store_free(struct auth_store *s);

/* KITE_OK if the password is right, else KITE_EAUTH (same cost for unknown users). */
int auth_store_verify(struct auth_store *s, const char *user, const char *password);
/* KITE_OK or KITE_EPERM with err saying which privilege on what was missing. */
int auth_store_authorize(struct auth_store *s, const char *user, const char *object_type,
                         const char *privilege, const char *db, const char *object,
                         kite_err *err);
bool auth_store_is_admin(struct auth_store *s, const char *user);

int auth_user_create(struct auth_store *s, const char *user, const char *password, kite_err *err);
/* old_password is checked unless it is NULL (callers pass NULL only for admins). */
int auth_user_set_password(struct auth_store *s, const char *user, const char *old_password,
                           const char *new_password, kite_err *err);
int auth_user_drop(struct auth_store *s, const char *user, kite_err *err);
bool auth_user_exists(struct auth_store *s, const char *user);
/* Owned arrays of owned strings: free with auth_strings_free. */
int auth_user_list(struct auth_store *s, char ***names, size_t *n, kite_err *err);
int auth_user_roles(struct auth_store *s, const char *user, char ***roles, size_t *n,
                    kite_err *err);
int auth_user_role(struct auth_store *s, const char *user, const char *role, bool grant,
                   kite_err *err);

int auth_role_create(struct auth_store *s, const char *role, kite_err *err);
int auth_role_drop(struct auth_store *s, const char *role, kite_err *err);
bool auth_role_exists(struct auth_store *s, const char *role);
int auth_role_list(struct auth_store *s, char ***names, size_t *n, kite_err *err);
/* Users holding the role. */
int auth_role_users(struct auth_store *s, const char *role, char ***names, size_t *n,
                    kite_err *err);
int auth_role_grant(struct auth_store *s, const char *role, const struct auth_grant *g,
                    bool grant, kite_err *err);
/* Grants of a role (owned array, kite_free). */
int auth_role_grants(struct auth_store *s, const char *role, struct auth_grant **out, size_t *n,
                     kite_err *err);

void auth_strings_free(char **names, size_t n);

#endif
