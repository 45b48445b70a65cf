/*
 * auth_store.c — users/roles/grants in memory, persisted to <data_dir>/auth.json.
 *
 * File format (JSON, mode 0600):
 *   {"version":1,
 *    "users":[{"name":"root","salt":"<32 hex>","hash":"<64 hex>","iterations":N,
 *              "roles":["admin"]}],
 *    "roles":[{"name":"public","grants":[{"objectType":"Global","objectName":"*",
 *              "privilege":"ShowCollections","dbName":"*","grantor":"root"}]}]}
 *
 * Invariants:
 *  1. "admin" and "public" always exist; "root" always exists and holds "admin".
 *  2. Every role a user lists exists (dropping a role removes it from users).
 *  3. What is on disk equals what is in memory whenever the lock is free: change()
 *     snapshots the state as a JSON document, applies the edit, saves the whole
 *     file, and on a failed save reloads the state from the snapshot.
 *
 * Threading: see auth_store.h (one rwlock, `lock`; the verify cache is per user
 * and written under the exclusive lock only).
 */
#include "auth_store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "err.h"
#include "log.h"

#define SALT_BYTES 16
#define HASH_BYTES 32
#define DEFAULT_ITERATIONS 100000
#define MIN_ITERATIONS 1000

struct user {
    char name[AUTH_MAX_NAME + 1];
    unsigned char salt[SALT_BYTES];
    unsigned char hash[HASH_BYTES];
    unsigned iterations;
    char **roles;
    size_t n_roles;
    bool cache_valid;                 /* cache = SHA-256(salt || last verified password) */
    unsigned char cache[HASH_BYTES];
};

struct role {
    char name[AUTH_MAX_NAME + 1];
    struct auth_grant *grants;
    size_t n_grants;
};

struct auth_store {
    pthread_rwlock_t lock;
    pthread_mutex_t cache_lock;       /* guards user.cache* (written under a shared lock) */
    char path[4096];
    char dir[4096];
    struct user *users;
    size_t n_users;
    struct role *roles;
    size_t n_roles;
    unsigned char dummy_salt[SALT_BYTES]; /* unknown users cost one PBKDF2 too */
};

static const char *const g_public_default[] = {"DescribeCollection", "ShowCollections",
                                               "IndexDetail", "ListDatabases"};

/* ============================================================ helpers */

static bool valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > AUTH_MAX_NAME)
        return false;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

static int check_name(const char *what, const char *s, kite_err *err)
{
    if (valid_name(s))
        return KITE_OK;
    return kite_err_set(err, KITE_EINVAL,
                        "invalid %s name '%s': expected 1 to %d letters, digits, '_' or '-', "
                        "starting with a letter or '_'",
                        what, s ? s : "", AUTH_MAX_NAME);
}

static int check_password(const char *pw, kite_err *err)
{
    size_t n = pw ? strlen(pw) : 0;
    if (n < AUTH_MIN_PASSWORD || n > AUTH_MAX_PASSWORD)
        return kite_err_set(err, KITE_EINVAL,
                            "invalid password length: expected %d to %d bytes, not %zu",
                            AUTH_MIN_PASSWORD, AUTH_MAX_PASSWORD, n);
    return KITE_OK;
}

static int derive(const char *pw, const unsigned char *salt, unsigned iterations,
                  unsigned char out[HASH_BYTES])
{
    if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, SALT_BYTES, (int)iterations, EVP_sha256(),
                          HASH_BYTES, out) != 1)
        return KITE_EINTERNAL;
    return KITE_OK;
}

static void quick_digest(const char *pw, const unsigned char *salt, unsigned char out[HASH_BYTES])
{
    unsigned char buf[SALT_BYTES + AUTH_MAX_PASSWORD + 1];
    size_t n = strlen(pw);
    if (n > AUTH_MAX_PASSWORD)
        n = AUTH_MAX_PASSWORD;
    memcpy(buf, salt, SALT_BYTES);
    memcpy(buf + SALT_BYTES, pw, n);
    SHA256(buf, SALT_BYTES + n, out);
    OPENSSL_cleanse(buf, sizeof(buf));
}

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool hex_decode(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return true;
}

void auth_strings_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        kite_free(names[i]);
    kite_free(names);
}

static void user_clear(struct user *u)
{
    auth_strings_free(u->roles, u->n_roles);
    u->roles = NULL;
    u->n_roles = 0;
}

static void state_clear(struct auth_store *s)
{
    for (size_t i = 0; i < s->n_users; i++)
        user_clear(&s->users[i]);
    for (size_t i = 0; i < s->n_roles; i++)
        kite_free(s->roles[i].grants);
    kite_free(s->users);
    kite_free(s->roles);
    s->users = NULL;
    s->roles = NULL;
    s->n_users = s->n_roles = 0;
}

static struct user *find_user(struct auth_store *s, const char *name)
{
    for (size_t i = 0; name && i < s->n_users; i++)
        if (strcmp(s->users[i].name, name) == 0)
            return &s->users[i];
    return NULL;
}

static struct role *find_role(struct auth_store *s, const char *name)
{
    for (size_t i = 0; name && i < s->n_roles; i++)
        if (strcmp(s->roles[i].name, name) == 0)
            return &s->roles[i];
    return NULL;
}

static bool user_has_role(const struct user *u, const char *role)
{
    for (size_t i = 0; i < u->n_roles; i++)
        if (strcmp(u->roles[i], role) == 0)
            return true;
    return false;
}

static int add_string(char ***arr, size_t *n, const char *v)
{
    char *dup = kite_strdup(v);
    char **grown = dup ? kite_realloc(*arr, (*n + 1) * sizeof(**arr)) : NULL;
    if (!grown) {
        kite_free(dup);
        return KITE_ENOMEM;
    }
    grown[(*n)++] = dup;
    *arr = grown;
    return KITE_OK;
}

static struct user *add_user(struct auth_store *s, const char *name)
{
    struct user *grown = kite_realloc(s->users, (s->n_users + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    s->users = grown;
    struct user *u = &s->users[s->n_users++];
    memset(u, 0, sizeof(*u));
    snprintf(u->name, sizeof(u->name), "%s", name);
    return u;
}

static struct role *add_role(struct auth_store *s, const char *name)
{
    struct role *grown = kite_realloc(s->roles, (s->n_roles + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    s->roles = grown;
    struct role *r = &s->roles[s->n_roles++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    return r;
}

static int add_grant(struct role *r, const struct auth_grant *g)
{
    struct auth_grant *grown = kite_realloc(r->grants, (r->n_grants + 1) * sizeof(*grown));
    if (!grown)
        return KITE_ENOMEM;
    r->grants = grown;
    r->grants[r->n_grants++] = *g;
    return KITE_OK;
}

static int set_password(struct user *u, const char *pw)
{
    if (RAND_bytes(u->salt, SALT_BYTES) != 1)
        return KITE_EINTERNAL;
    u->iterations = DEFAULT_ITERATIONS;
    u->cache_valid = false;
    return derive(pw, u->salt, u->iterations, u->hash);
}

static void grant_fill(struct auth_grant *g, const char *type, const char *name, const char *priv,
                       const char *db, const char *grantor)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->object_type, sizeof(g->object_type), "%s", type);
    snprintf(g->object_name, sizeof(g->object_name), "%s", name);
    snprintf(g->privilege, sizeof(g->privilege), "%s", priv);
    snprintf(g->db_name, sizeof(g->db_name), "%s", db);
    snprintf(g->grantor, sizeof(g->grantor), "%s", grantor);
}

/* Fill the built-in state (fresh store). */
static int seed_defaults(struct auth_store *s)
{
    struct role *admin = add_role(s, "admin");
    if (!admin)
        return KITE_ENOMEM;
    struct role *pub = add_role(s, "public");
    if (!pub)
        return KITE_ENOMEM;
    for (size_t i = 0; i < sizeof(g_public_default) / sizeof(g_public_default[0]); i++) {
        struct auth_grant g;
        grant_fill(&g, "Global", "*", g_public_default[i], "*", AUTH_DEFAULT_USER);
        if (add_grant(pub, &g) != KITE_OK)
            return KITE_ENOMEM;
    }
    struct user *root = add_user(s, AUTH_DEFAULT_USER);
    if (!root)
        return KITE_ENOMEM;
    int rc = set_password(root, AUTH_DEFAULT_PASSWORD);
    if (rc == KITE_OK)
        rc = add_string(&root->roles, &root->n_roles, "admin");
    return rc;
}

/* ======================================================== persistence */

static json_t *grant_json(const struct auth_grant *g)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "objectType", g->object_type, "objectName",
                     g->object_name, "privilege", g->privilege, "dbName", g->db_name, "grantor",
                     g->grantor);
}

static json_t *state_json(const struct auth_store *s)
{
    json_t *users = json_array(), *roles = json_array();
    json_t *doc = json_pack("{s:i,s:o,s:o}", "version", 1, "users", users, "roles", roles);
    if (!doc)
        return NULL;
    for (size_t i = 0; i < s->n_users; i++) {
        const struct user *u = &s->users[i];
        char salt[2 * SALT_BYTES + 1], hash[2 * HASH_BYTES + 1];
        hex_encode(u->salt, SALT_BYTES, salt);
        hex_encode(u->hash, HASH_BYTES, hash);
        json_t *ur = json_array();
        for (size_t j = 0; ur && j < u->n_roles; j++)
            json_array_append_new(ur, json_string(u->roles[j]));
        json_t *uo = json_pack("{s:s,s:s,s:s,s:I,s:o}", "name", u->name, "salt", salt, "hash",
                               hash, "iterations", (json_int_t)u->iterations, "roles", ur);
        if (!uo || json_array_append_new(users, uo) != 0)
            goto out_oom;
    }
    for (size_t i = 0; i < s->n_roles; i++) {
        const struct role *r = &s->roles[i];
        json_t *gs = json_array();
        for (size_t j = 0; gs && j < r->n_grants; j++)
            json_array_append_new(gs, grant_json(&r->grants[j]));
        json_t *ro = json_pack("{s:s,s:o}", "name", r->name, "grants", gs);
        if (!ro || json_array_append_new(roles, ro) != 0)
            goto out_oom;
    }
    return doc;
out_oom:
    json_decref(doc);
    return NULL;
}

/* Write text to path atomically: temp file, fsync, rename, fsync of the directory. */
static int write_atomic(const char *dir, const char *path, const char *text, kite_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return kite_err_set(err, KITE_EIO, "cannot write %s: %s", tmp, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return kite_err_set(err, e == ENOSPC ? KITE_ENOSPC : KITE_EIO, "cannot write %s: %s",
                                tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return kite_err_set(err, KITE_EIO, "cannot sync %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kite_err_set(err, KITE_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        int rc = fsync(dfd);
        close(dfd);
        if (rc != 0)
            return kite_err_set(err, KITE_EIO, "cannot sync directory %s: %s", dir,
                                strerror(errno));
    }
    return KITE_OK;
}

static int save(struct auth_store *s, kite_err *err)
{
    json_t *doc = state_json(s);
    if (!doc)
        return kite_err_set(err, KITE_ENOMEM, "out of memory saving %s", s->path);
    char *text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    if (!text)
        return kite_err_set(err, KITE_ENOMEM, "out of memory saving %s", s->path);
    int rc = write_atomic(s->dir, s->path, text, err);
    free(text);
    return rc;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int corrupt(const struct auth_store *s, kite_err *err, const char *what)
{
    return kite_err_set(err, KITE_ECORRUPT,
                        "%s: %s; fix or remove the file (removing it resets root's password "
                        "to the default)",
                        s->path, what);
}

static int load_doc(struct auth_store *s, json_t *doc, kite_err *err)
{
    json_t *users = json_object_get(doc, "users"), *roles = json_object_get(doc, "roles");
    if (!json_is_object(doc) || !json_is_array(users) || !json_is_array(roles))
        return corrupt(s, err, "expected an object with \"users\" and \"roles\" arrays");
    size_t i;
    json_t *v;
    json_array_foreach(roles, i, v)
    {
        const char *name = jstr(v, "name");
        json_t *gs = json_object_get(v, "grants");
        if (!valid_name(name) || !json_is_array(gs) || find_role(s, name))
            return corrupt(s, err, "a role has a bad or duplicate name or no grants array");
        struct role *r = add_role(s, name);
        if (!r)
            return kite_err_set(err, KITE_ENOMEM, "out of memory loading %s", s->path);
        size_t j;
        json_t *g;
        json_array_foreach(gs, j, g)
        {
            const char *t = jstr(g, "objectType"), *on = jstr(g, "objectName"),
                       *p = jstr(g, "privilege"), *db = jstr(g, "dbName"),
                       *by = jstr(g, "grantor");
            if (!t || !on || !p || !db)
                return corrupt(s, err, "a grant lacks objectType/objectName/privilege/dbName");
            struct auth_grant ag;
            grant_fill(&ag, t, on, p, db, by ? by : "");
            if (add_grant(r, &ag) != KITE_OK)
                return kite_err_set(err, KITE_ENOMEM, "out of memory loading %s", s->path);
        }
    }
    json_array_foreach(users, i, v)
    {
        const char *name = jstr(v, "name");
        json_t *it = json_object_get(v, "iterations"), *rs = json_object_get(v, "roles");
        if (!valid_name(name) || find_user(s, name) || !json_is_integer(it) ||
            json_integer_value(it) < MIN_ITERATIONS || json_integer_value(it) > 100000000 ||
            !json_is_array(rs))
            return corrupt(s, err, "a user has a bad or duplicate name, iterations or roles");
        struct user *u = add_user(s, name);
        if (!u)
            return kite_err_set(err, KITE_ENOMEM, "out of memory loading %s", s->path);
        u->iterations = (unsigned)json_integer_value(it);
        if (!hex_decode(jstr(v, "salt"), u->salt, SALT_BYTES) ||
            !hex_decode(jstr(v, "hash"), u->hash, HASH_BYTES))
            return corrupt(s, err, "a user's salt or hash is not lowercase hex of the right size");
        size_t j;
        json_t *rn;
        json_array_foreach(rs, j, rn)
        {
            if (!json_is_string(rn) || !find_role(s, json_string_value(rn)))
                return corrupt(s, err, "a user lists a role that does not exist");
            if (add_string(&u->roles, &u->n_roles, json_string_value(rn)) != KITE_OK)
                return kite_err_set(err, KITE_ENOMEM, "out of memory loading %s", s->path);
        }
    }
    struct user *root = find_user(s, AUTH_DEFAULT_USER);
    if (!find_role(s, "admin") || !find_role(s, "public") || !root ||
        !user_has_role(root, "admin"))
        return corrupt(s, err, "the built-in roles admin/public or user root (with admin) are "
                               "missing");
    return KITE_OK;
}

int auth_store_open(const char *data_dir, struct auth_store **out, kite_err *err)
{
    int rc = KITE_OK;
    struct auth_store *s = kite_calloc(1, sizeof(*s));
    if (!s)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the user store");
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->cache_lock, NULL);
    snprintf(s->dir, sizeof(s->dir), "%s", data_dir);
    if (snprintf(s->path, sizeof(s->path), "%s/%s", data_dir, AUTH_FILE_NAME) >=
        (int)sizeof(s->path)) {
        rc = kite_err_set(err, KITE_EINVAL, "data directory path too long: %s", data_dir);
        goto out_free;
    }
    RAND_bytes(s->dummy_salt, SALT_BYTES);
    json_error_t jerr;
    json_t *doc = json_load_file(s->path, 0, &jerr);
    if (doc) {
        rc = load_doc(s, doc, err);
        json_decref(doc);
        if (rc != KITE_OK)
            goto out_free;
    } else if (access(s->path, F_OK) == 0) {
        rc = kite_err_set(err, KITE_ECORRUPT, "%s is not valid JSON: %s (line %d)", s->path,
                          jerr.text, jerr.line);
        goto out_free;
    } else {
        rc = seed_defaults(s);
        if (rc != KITE_OK) {
            kite_err_set(err, rc, "cannot create the default user root");
            goto out_free;
        }
        rc = save(s, err);
        if (rc != KITE_OK)
            goto out_free;
        KITE_INFO("auth: created %s with user root (default password; change it)", s->path);
    }
    *out = s;
    return KITE_OK;
out_free:
    auth_store_free(s);
    return rc;
}

void auth_store_free(struct auth_store *s)
{
    if (!s)
        return;
    state_clear(s);
    pthread_mutex_destroy(&s->cache_lock);
    pthread_rwlock_destroy(&s->lock);
    kite_free(s);
}

/*
 * Run a change: fn edits the in-memory state under the exclusive lock; it is then
 * saved.  On a failed save the state is reloaded from the document taken before.
 */
typedef int (*change_fn)(struct auth_store *s, void *arg, kite_err *err);

static int change(struct auth_store *s, change_fn fn, void *arg, kite_err *err)
{
    pthread_rwlock_wrlock(&s->lock);
    json_t *before = state_json(s);
    int rc = before ? fn(s, arg, err) : kite_err_set(err, KITE_ENOMEM, "out of memory");
    if (rc == KITE_OK) {
        rc = save(s, err);
        if (rc != KITE_OK) {
            state_clear(s);
            kite_err tmp;
            if (load_doc(s, before, &tmp) != KITE_OK)
                KITE_ERROR("auth: could not roll back a failed save: %s", tmp.message);
        }
    }
    json_decref(before);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* ============================================================= checks */

int auth_store_verify(struct auth_store *s, const char *user, const char *password)
{
    if (!user || !password || strlen(password) > AUTH_MAX_PASSWORD)
        return KITE_EAUTH;
    unsigned char key[HASH_BYTES], quick[HASH_BYTES];
    int rc = KITE_EAUTH;
    pthread_rwlock_rdlock(&s->lock);
    struct user *u = find_user(s, user);
    if (!u) {
        derive(password, s->dummy_salt, DEFAULT_ITERATIONS, key); /* same cost */
        goto out;
    }
    quick_digest(password, u->salt, quick);
    pthread_mutex_lock(&s->cache_lock);
    bool cached = u->cache_valid && CRYPTO_memcmp(u->cache, quick, HASH_BYTES) == 0;
    pthread_mutex_unlock(&s->cache_lock);
    if (cached) {
        rc = KITE_OK;
        goto out;
    }
    if (derive(password, u->salt, u->iterations, key) == KITE_OK &&
        CRYPTO_memcmp(key, u->hash, HASH_BYTES) == 0) {
        rc = KITE_OK;
        pthread_mutex_lock(&s->cache_lock);
        memcpy(u->cache, quick, HASH_BYTES);
        u->cache_valid = true;
        pthread_mutex_unlock(&s->cache_lock);
    }
out:
    pthread_rwlock_unlock(&s->lock);
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

static bool is_admin_locked(struct auth_store *s, const char *user)
{
    struct user *u = find_user(s, user);
    return u && (strcmp(u->name, AUTH_DEFAULT_USER) == 0 || user_has_role(u, "admin"));
}

bool auth_store_is_admin(struct auth_store *s, const char *user)
{
    pthread_rwlock_rdlock(&s->lock);
    bool yes = is_admin_locked(s, user);
    pthread_rwlock_unlock(&s->lock);
    return yes;
}

static bool match(const char *pattern, const char *v)
{
    return strcmp(pattern, "*") == 0 || (v && strcmp(pattern, v) == 0);
}

static bool role_allows(const struct role *r, const char *type, const char *priv, const char *db,
                        const char *object)
{
    for (size_t i = 0; r && i < r->n_grants; i++) {
        const struct auth_grant *g = &r->grants[i];
        if (strcmp(g->object_type, type) != 0 && strcmp(g->object_type, "Global") != 0)
            continue;
        if (strcmp(g->privilege, priv) != 0 && strcmp(g->privilege, "All") != 0 &&
            strcmp(g->privilege, "*") != 0)
            continue;
        /* A Global grant covers every object; others must name it (or "*"). */
        if (strcmp(g->object_type, "Global") != 0 && !match(g->object_name, object))
            continue;
        if (!match(g->db_name, db))
            continue;
        return true;
    }
    return false;
}

int auth_store_authorize(struct auth_store *s, const char *user, const char *object_type,
                         const char *privilege, const char *db, const char *object,
                         kite_err *err)
{
    if (!db || !*db)
        db = "default";
    pthread_rwlock_rdlock(&s->lock);
    bool ok = is_admin_locked(s, user);
    struct user *u = find_user(s, user);
    if (!ok && u) {
        ok = role_allows(find_role(s, "public"), object_type, privilege, db, object);
        for (size_t i = 0; !ok && i < u->n_roles; i++)
            ok = role_allows(find_role(s, u->roles[i]), object_type, privilege, db, object);
    }
    pthread_rwlock_unlock(&s->lock);
    if (ok)
        return KITE_OK;
    return kite_err_set(err, KITE_EPERM,
                        "PrivilegeNotPermitted: user %s lacks privilege %s on %s %s in "
                        "database %s",
                        user ? user : "", privilege, object_type, object && *object ? object : "*",
                        db);
}

/* ============================================================ changes */

struct user_arg {
    const char *user, *old_pw, *new_pw, *role;
    bool grant;
};

static int do_user_create(struct auth_store *s, void *arg, kite_err *err)
{
    struct user_arg *a = arg;
    if (find_user(s, a->user))
        return kite_err_set(err, KITE_EEXISTS, "user '%s' already exists", a->user);
    struct user *u = add_user(s, a->user);
    if (!u)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    int rc = set_password(u, a->new_pw);
    if (rc != KITE_OK) {
        s->n_users--;
        return kite_err_set(err, rc, "cannot hash the password");
    }
    return KITE_OK;
}

int auth_user_create(struct auth_store *s, const char *user, const char *password, kite_err *err)
{
    int rc = check_name("user", user, err);
    if (rc == KITE_OK)
        rc = check_password(password, err);
    struct user_arg a = {.user = user, .new_pw = password};
    return rc == KITE_OK ? change(s, do_user_create, &a, err) : rc;
}

static int do_set_password(struct auth_store *s, void *arg, kite_err *err)
{
    struct user_arg *a = arg;
    struct user *u = find_user(s, a->user);
    if (!u)
        return kite_err_set(err, KITE_ENOTFOUND, "user '%s' not found", a->user);
    if (a->old_pw) {
        unsigned char key[HASH_BYTES];
        bool ok = strlen(a->old_pw) <= AUTH_MAX_PASSWORD &&
                  derive(a->old_pw, u->salt, u->iterations, key) == KITE_OK &&
                  CRYPTO_memcmp(key, u->hash, HASH_BYTES) == 0;
        if (!ok)
            return kite_err_set(err, KITE_EINVAL, "old password of user '%s' is not correct",
                                a->user);
    }
    int rc = set_password(u, a->new_pw);
    return rc == KITE_OK ? KITE_OK : kite_err_set(err, rc, "cannot hash the password");
}

int auth_user_set_password(struct auth_store *s, const char *user, const char *old_password,
                           const char *new_password, kite_err *err)
{
    int rc = check_password(new_password, err);
    struct user_arg a = {.user = user, .old_pw = old_password, .new_pw = new_password};
    return rc == KITE_OK ? change(s, do_set_password, &a, err) : rc;
}

static int do_user_drop(struct auth_store *s, void *arg, kite_err *err)
{
    struct user_arg *a = arg;
    if (strcmp(a->user, AUTH_DEFAULT_USER) == 0)
        return kite_err_set(err, KITE_EINVAL, "user root cannot be dropped");
    struct user *u = find_user(s, a->user);
    if (!u)
        return kite_err_set(err, KITE_ENOTFOUND, "user '%s' not found", a->user);
    user_clear(u);
    size_t i = (size_t)(u - s->users);
    memmove(&s->users[i], &s->users[i + 1], (s->n_users - i - 1) * sizeof(*u));
    s->n_users--;
    return KITE_OK;
}

int auth_user_drop(struct auth_store *s, const char *user, kite_err *err)
{
    struct user_arg a = {.user = user ? user : ""};
    return change(s, do_user_drop, &a, err);
}

bool auth_user_exists(struct auth_store *s, const char *user)
{
    pthread_rwlock_rdlock(&s->lock);
    bool yes = find_user(s, user) != NULL;
    pthread_rwlock_unlock(&s->lock);
    return yes;
}

static int do_user_role(struct auth_store *s, void *arg, kite_err *err)
{
    struct user_arg *a = arg;
    struct user *u = find_user(s, a->user);
    if (!u)
        return kite_err_set(err, KITE_ENOTFOUND, "user '%s' not found", a->user);
    if (!find_role(s, a->role))
        return kite_err_set(err, KITE_ENOTFOUND, "role '%s' not found", a->role);
    bool has = user_has_role(u, a->role);
    if (a->grant)
        return has ? KITE_OK : add_string(&u->roles, &u->n_roles, a->role);
    if (strcmp(u->name, AUTH_DEFAULT_USER) == 0 && strcmp(a->role, "admin") == 0)
        return kite_err_set(err, KITE_EINVAL, "role admin cannot be revoked from user root");
    for (size_t i = 0; i < u->n_roles; i++) {
        if (strcmp(u->roles[i], a->role) == 0) {
            kite_free(u->roles[i]);
            memmove(&u->roles[i], &u->roles[i + 1], (u->n_roles - i - 1) * sizeof(char *));
            u->n_roles--;
            break;
        }
    }
    return KITE_OK;
}

int auth_user_role(struct auth_store *s, const char *user, const char *role, bool grant,
                   kite_err *err)
{
    struct user_arg a = {.user = user ? user : "", .role = role ? role : "", .grant = grant};
    return change(s, do_user_role, &a, err);
}

static int copy_names(char ***out, size_t *n, const char *base, size_t stride, size_t count,
                      kite_err *err)
{
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = base + i * stride;
        if (add_string(out, n, name) != KITE_OK) {
            auth_strings_free(*out, *n);
            *out = NULL;
            *n = 0;
            return kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
    }
    return KITE_OK;
}

int auth_user_list(struct auth_store *s, char ***names, size_t *n, kite_err *err)
{
    pthread_rwlock_rdlock(&s->lock);
    int rc = copy_names(names, n, s->users[0].name,
                        sizeof(struct user), s->n_users, err);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int auth_user_roles(struct auth_store *s, const char *user, char ***roles, size_t *n,
                    kite_err *err)
{
    int rc = KITE_OK;
    *roles = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&s->lock);
    struct user *u = find_user(s, user);
    if (!u)
        rc = kite_err_set(err, KITE_ENOTFOUND, "user '%s' not found", user ? user : "");
    for (size_t i = 0; u && rc == KITE_OK && i < u->n_roles; i++)
        if (add_string(roles, n, u->roles[i]) != KITE_OK)
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

struct role_arg {
    const char *role;
    const struct auth_grant *g;
    bool grant;
};

static int do_role_create(struct auth_store *s, void *arg, kite_err *err)
{
    struct role_arg *a = arg;
    if (find_role(s, a->role))
        return kite_err_set(err, KITE_EEXISTS, "role '%s' already exists", a->role);
    return add_role(s, a->role) ? KITE_OK : kite_err_set(err, KITE_ENOMEM, "out of memory");
}

int auth_role_create(struct auth_store *s, const char *role, kite_err *err)
{
    int rc = check_name("role", role, err);
    struct role_arg a = {.role = role};
    return rc == KITE_OK ? change(s, do_role_create, &a, err) : rc;
}

static int do_role_drop(struct auth_store *s, void *arg, kite_err *err)
{
    struct role_arg *a = arg;
    if (strcmp(a->role, "admin") == 0 || strcmp(a->role, "public") == 0)
        return kite_err_set(err, KITE_EINVAL, "the built-in role %s cannot be dropped", a->role);
    struct role *r = find_role(s, a->role);
    if (!r)
        return kite_err_set(err, KITE_ENOTFOUND, "role '%s' not found", a->role);
    for (size_t i = 0; i < s->n_users; i++) {
        struct user_arg ua = {.user = s->users[i].name, .role = a->role, .grant = false};
        do_user_role(s, &ua, err);
    }
    kite_free(r->grants);
    size_t i = (size_t)(r - s->roles);
    memmove(&s->roles[i], &s->roles[i + 1], (s->n_roles - i - 1) * sizeof(*r));
    s->n_roles--;
    return KITE_OK;
}

int auth_role_drop(struct auth_store *s, const char *role, kite_err *err)
{
    struct role_arg a = {.role = role ? role : ""};
    return change(s, do_role_drop, &a, err);
}

bool auth_role_exists(struct auth_store *s, const char *role)
{
    pthread_rwlock_rdlock(&s->lock);
    bool yes = find_role(s, role) != NULL;
    pthread_rwlock_unlock(&s->lock);
    return yes;
}

int auth_role_list(struct auth_store *s, char ***names, size_t *n, kite_err *err)
{
    pthread_rwlock_rdlock(&s->lock);
    int rc = copy_names(names, n, s->roles[0].name,
                        sizeof(struct role), s->n_roles, err);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int auth_role_users(struct auth_store *s, const char *role, char ***names, size_t *n,
                    kite_err *err)
{
    int rc = KITE_OK;
    *names = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&s->lock);
    if (!find_role(s, role))
        rc = kite_err_set(err, KITE_ENOTFOUND, "role '%s' not found", role ? role : "");
    for (size_t i = 0; rc == KITE_OK && i < s->n_users; i++)
        if (user_has_role(&s->users[i], role) && add_string(names, n, s->users[i].name) != KITE_OK)
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static bool same_grant(const struct auth_grant *a, const struct auth_grant *b)
{
    return strcmp(a->object_type, b->object_type) == 0 &&
           strcmp(a->object_name, b->object_name) == 0 &&
           strcmp(a->privilege, b->privilege) == 0 && strcmp(a->db_name, b->db_name) == 0;
}

static int do_role_grant(struct auth_store *s, void *arg, kite_err *err)
{
    struct role_arg *a = arg;
    struct role *r = find_role(s, a->role);
    if (!r)
        return kite_err_set(err, KITE_ENOTFOUND, "role '%s' not found", a->role);
    for (size_t i = 0; i < r->n_grants; i++) {
        if (same_grant(&r->grants[i], a->g)) {
            if (a->grant)
                return KITE_OK;
            memmove(&r->grants[i], &r->grants[i + 1], (r->n_grants - i - 1) * sizeof(*a->g));
            r->n_grants--;
            return KITE_OK;
        }
    }
    if (!a->grant)
        return KITE_OK; /* revoking what was not granted is a no-op, as in Milvus */
    return add_grant(r, a->g) == KITE_OK ? KITE_OK
                                          : kite_err_set(err, KITE_ENOMEM, "out of memory");
}

int auth_role_grant(struct auth_store *s, const char *role, const struct auth_grant *g,
                    bool grant, kite_err *err)
{
    static const char *types[] = {"Global", "Collection", "User"};
    bool type_ok = false;
    for (size_t i = 0; i < 3; i++)
        type_ok = type_ok || strcmp(g->object_type, types[i]) == 0;
    if (!type_ok)
        return kite_err_set(err, KITE_EINVAL,
                            "invalid objectType '%s': expected Global, Collection or User",
                            g->object_type);
    if (!g->privilege[0] || !g->object_name[0])
        return kite_err_set(err, KITE_EINVAL, "a grant needs a privilege and an objectName");
    struct role_arg a = {.role = role ? role : "", .g = g, .grant = grant};
    return change(s, do_role_grant, &a, err);
}

int auth_role_grants(struct auth_store *s, const char *role, struct auth_grant **out, size_t *n,
                     kite_err *err)
{
    int rc = KITE_OK;
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&s->lock);
    struct role *r = find_role(s, role);
    if (!r) {
        rc = kite_err_set(err, KITE_ENOTFOUND, "role '%s' not found", role ? role : "");
    } else if (r->n_grants) {
        *out = kite_malloc(r->n_grants * sizeof(**out));
        if (*out) {
            memcpy(*out, r->grants, r->n_grants * sizeof(**out));
            *n = r->n_grants;
        } else {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}
