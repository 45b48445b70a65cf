/*
 * catalog.c — kite_open/kite_close, databases, collections (create, drop,
 * describe, rename, properties, load state), aliases, and the persisted
 * catalog file.
 *
 * The catalog is one segfile, <data_dir>/catalog.kcat (magic "KCAT"), with one
 * blob "catalog" holding JSON (docs/FORMAT.md "Catalog, manifest and segment
 * contents").  Every DDL change rewrites it atomically (segfile_write: temp +
 * fsync + rename + dir fsync) before the call returns, so after a crash the
 * catalog is either the old or the new version.  Collection data lives in
 * <data_dir>/collections/<id>/ (recovery.c).
 *
 * Invariants:
 *  1. Database "default" always exists; at most DB_MAX_DATABASES.
 *  2. (db, name) is unique over collections AND aliases of that database.
 *  3. A collection in db->colls has refs >= 1 (the list's own reference).
 *
 * Threading model: see db.h.  Everything here runs under db->mu; calls that
 * also change what data operations read (partitions, drop) take the
 * collection's exclusive lock after db->mu.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define CATALOG_FILE "catalog.kcat"

static const char *dbn(const char *name)
{
    return (name && *name) ? name : "default";
}

/* ============================================================ lookup */

static bool db_exists(kite_db *db, const char *name)
{
    for (size_t i = 0; i < db->n_dbs; i++)
        if (strcmp(db->dbs[i], name) == 0)
            return true;
    return false;
}

static struct dcoll *find_coll(kite_db *db, const char *dbname, const char *name)
{
    for (size_t i = 0; i < db->n_colls; i++)
        if (strcmp(db->colls[i]->db_name, dbname) == 0 && strcmp(db->colls[i]->name, name) == 0)
            return db->colls[i];
    return NULL;
}

static struct dalias *find_alias(kite_db *db, const char *dbname, const char *alias)
{
    for (size_t i = 0; i < db->n_aliases; i++)
        if (strcmp(db->aliases[i].db, dbname) == 0 && strcmp(db->aliases[i].alias, alias) == 0)
            return &db->aliases[i];
    return NULL;
}

/* Resolve a collection name or alias; db->mu held. */
static struct dcoll *resolve(kite_db *db, const char *dbname, const char *name)
{
    if (!name)
        return NULL;
    struct dcoll *c = find_coll(db, dbname, name);
    if (c)
        return c;
    struct dalias *a = find_alias(db, dbname, name);
    return a ? find_coll(db, dbname, a->coll) : NULL;
}

static int resolve_locked(kite_db *db, const char *dbname, const char *name, struct dcoll **out,
                          kite_err *err)
{
    dbname = dbn(dbname);
    if (!db_exists(db, dbname))
        return kite_err_set(err, KITE_ENODB, "database not found[database=%s]", dbname);
    if (!name || !*name)
        return kite_err_set(err, KITE_EMISSING, "collection name is required");
    *out = resolve(db, dbname, name);
    if (!*out)
        return kite_err_set(err, KITE_ENOCOLL, "collection not found[database=%s][collection=%s]",
                            dbname, name);
    return KITE_OK;
}

int coll_acquire(kite_db *db, const char *dbname, const char *name, struct dcoll **out,
                 kite_err *err)
{
    pthread_mutex_lock(&db->mu);
    int rc = db->closed ? kite_err_set(err, KITE_ECLOSED, "database is closing")
                        : resolve_locked(db, dbname, name, out, err);
    if (!rc)
        (*out)->refs++;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

void coll_unref(struct dcoll *c)
{
    if (!c)
        return;
    kite_db *db = c->db;
    pthread_mutex_lock(&db->mu);
    bool last = --c->refs == 0;
    pthread_cond_broadcast(&db->refs_cv);
    pthread_mutex_unlock(&db->mu);
    if (last)
        coll_free(c);
}

struct dpart *coll_find_part(struct dcoll *c, const char *name)
{
    for (size_t i = 0; i < c->n_parts; i++)
        if (strcmp(c->parts[i].name, name) == 0)
            return &c->parts[i];
    return NULL;
}

struct dpart *coll_find_part_id(struct dcoll *c, int64_t id)
{
    for (size_t i = 0; i < c->n_parts; i++)
        if (c->parts[i].id == id)
            return &c->parts[i];
    return NULL;
}

void coll_free(struct dcoll *c)
{
    if (!c)
        return;
    coll_close_storage(c);
    schema_free(&c->schema);
    kite_free(c->db_name);
    kite_free(c->name);
    for (size_t i = 0; i < c->n_props; i++) {
        kite_free(c->props[i].key);
        kite_free(c->props[i].value);
    }
    kite_free(c->props);
    for (size_t i = 0; i < c->n_parts; i++)
        kite_free(c->parts[i].name);
    kite_free(c->parts);
    for (size_t i = 0; i < c->n_idx; i++)
        didx_free(&c->idx[i]);
    kite_free(c->idx);
    kite_free(c->efields);
    kite_free(c->dir);
    pthread_rwlock_destroy(&c->lock);
    kite_free(c);
}

/* ============================================================ auto ids */

/* Reserve n consecutive auto ids: unique, increasing, timestamp-based (ms << 18). */
int64_t db_alloc_ids(kite_db *db, size_t n)
{
    pthread_mutex_lock(&db->id_mu);
    int64_t ts = (int64_t)(db_now_ms() << 18);
    if (db->next_auto_id < ts)
        db->next_auto_id = ts;
    int64_t first = db->next_auto_id;
    db->next_auto_id += (int64_t)n;
    pthread_mutex_unlock(&db->id_mu);
    return first;
}

void db_bump_auto_id(kite_db *db, int64_t seen)
{
    pthread_mutex_lock(&db->id_mu);
    if (db->next_auto_id <= seen)
        db->next_auto_id = seen + 1;
    pthread_mutex_unlock(&db->id_mu);
}

/* ============================================================ catalog file */

static json_t *coll_to_json(const struct dcoll *c)
{
    json_t *j = json_object(), *props = json_object(), *parts = json_array();
    json_object_set_new(j, "id", json_integer(c->id));
    json_object_set_new(j, "db", json_string(c->db_name));
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "schema", schema_to_json(&c->schema));
    json_object_set_new(j, "consistency_level", json_integer(c->consistency));
    json_object_set_new(j, "shards_num", json_integer(c->shards));
    json_object_set_new(j, "num_partitions", json_integer(c->num_partitions));
    json_object_set_new(j, "created_ms", json_integer((json_int_t)c->created_ms));
    json_object_set_new(j, "load_state", json_integer(c->load_state));
    for (size_t i = 0; i < c->n_props; i++)
        json_object_set_new(props, c->props[i].key, json_string(c->props[i].value));
    json_object_set_new(j, "properties", props);
    for (size_t i = 0; i < c->n_parts; i++) {
        json_t *p = json_object();
        json_object_set_new(p, "id", json_integer(c->parts[i].id));
        json_object_set_new(p, "name", json_string(c->parts[i].name));
        json_array_append_new(parts, p);
    }
    json_object_set_new(j, "partitions", parts);
    json_object_set_new(j, "next_partition_id", json_integer(c->next_part_id));
    json_object_set_new(j, "indexes", indexes_to_json(c));
    json_object_set_new(j, "next_index_id", json_integer(c->next_index_id));
    return j;
}

int catalog_save_locked(kite_db *db, kite_err *err)
{
    json_t *j = json_object(), *dbs = json_array(), *colls = json_array(), *al = json_array();
    int rc;
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "next_collection_id", json_integer(db->next_coll_id));
    pthread_mutex_lock(&db->id_mu);
    json_object_set_new(j, "next_auto_id", json_integer(db->next_auto_id));
    pthread_mutex_unlock(&db->id_mu);
    for (size_t i = 0; i < db->n_dbs; i++)
        json_array_append_new(dbs, json_string(db->dbs[i]));
    for (size_t i = 0; i < db->n_colls; i++)
        json_array_append_new(colls, coll_to_json(db->colls[i]));
    for (size_t i = 0; i < db->n_aliases; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "db", json_string(db->aliases[i].db));
        json_object_set_new(a, "alias", json_string(db->aliases[i].alias));
        json_object_set_new(a, "collection", json_string(db->aliases[i].coll));
        json_array_append_new(al, a);
    }
    json_object_set_new(j, "databases", dbs);
    json_object_set_new(j, "collections", colls);
    json_object_set_new(j, "aliases", al);
    char *text = db_json_text(j, NULL);
    json_decref(j);
    char *path = db_path_join(db->dir, CATALOG_FILE);
    if (!text || !path) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory writing the catalog");
    } else {
        struct seg_blob b = {"catalog", 1, text, strlen(text)};
        rc = segfile_write(db->vfs, path, DB_MAGIC_CATALOG, &b, 1, err);
    }
    kite_free(text);
    kite_free(path);
    return rc;
}

static int parts_from_json(struct dcoll *c, json_t *parts)
{
    size_t n = json_array_size(parts);
    c->parts = kite_calloc(n ? n : 1, sizeof(struct dpart));
    if (!c->parts)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(parts, i);
        const char *name = json_string_value(json_object_get(p, "name"));
        if (!name)
            return KITE_ECORRUPT;
        c->parts[i].id = json_integer_value(json_object_get(p, "id"));
        c->parts[i].name = kite_strdup(name);
        if (!c->parts[i].name)
            return KITE_ENOMEM;
        c->n_parts++;
    }
    return KITE_OK;
}

static struct dcoll *coll_alloc(kite_db *db)
{
    struct dcoll *c = kite_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->db = db;
    c->refs = 1;
    c->dyn_index = -1;
    c->pk_index = -1;
    pthread_rwlock_init(&c->lock, NULL);
    return c;
}

static void coll_index_fields(struct dcoll *c)
{
    c->pk_index = -1;
    c->dyn_index = -1;
    for (size_t i = 0; i < c->schema.n_fields; i++) {
        if (c->schema.fields[i].is_primary)
            c->pk_index = (int)i;
        if (c->schema.fields[i].is_dynamic)
            c->dyn_index = (int)i;
    }
    coll_build_expr_schema(c);
}

static int coll_from_json(kite_db *db, json_t *j, struct dcoll **out, kite_err *err)
{
    int rc;
    struct dcoll *c = coll_alloc(db);
    if (!c)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    const char *dbname = json_string_value(json_object_get(j, "db"));
    const char *name = json_string_value(json_object_get(j, "name"));
    c->id = json_integer_value(json_object_get(j, "id"));
    if (!dbname || !name || c->id <= 0) {
        rc = kite_err_set(err, KITE_ECORRUPT, "catalog: a collection entry lacks db/name/id");
        goto fail;
    }
    c->db_name = kite_strdup(dbname);
    c->name = kite_strdup(name);
    c->from_catalog = true;
    rc = schema_from_json(json_object_get(j, "schema"), &c->schema, err);
    if (rc)
        goto fail;
    c->consistency = (int)json_integer_value(json_object_get(j, "consistency_level"));
    c->shards = (int32_t)json_integer_value(json_object_get(j, "shards_num"));
    c->num_partitions = (int32_t)json_integer_value(json_object_get(j, "num_partitions"));
    c->created_ms = (uint64_t)json_integer_value(json_object_get(j, "created_ms"));
    c->load_state = (int)json_integer_value(json_object_get(j, "load_state"));
    c->next_part_id = json_integer_value(json_object_get(j, "next_partition_id"));
    c->next_index_id = json_integer_value(json_object_get(j, "next_index_id"));
    json_t *props = json_object_get(j, "properties");
    const char *k;
    json_t *v;
    c->props = kite_calloc(json_object_size(props) + 1, sizeof(kite_kv));
    json_object_foreach(props, k, v)
    {
        c->props[c->n_props].key = kite_strdup(k);
        c->props[c->n_props].value = kite_strdup(json_string_value(v) ? json_string_value(v) : "");
        c->n_props++;
    }
    rc = parts_from_json(c, json_object_get(j, "partitions"));
    if (rc) {
        rc = kite_err_set(err, rc, "catalog: bad partition list of collection %s", name);
        goto fail;
    }
    coll_index_fields(c);
    if (c->pk_index < 0) {
        rc = kite_err_set(err, KITE_ECORRUPT, "catalog: collection %s has no primary key", name);
        goto fail;
    }
    rc = indexes_from_json(c, json_object_get(j, "indexes"), err);
    if (rc)
        goto fail;
    *out = c;
    return KITE_OK;
fail:
    coll_free(c);
    return rc;
}

static int catalog_load(kite_db *db, kite_err *err)
{
    char *path = db_path_join(db->dir, CATALOG_FILE);
    struct segfile *sf = NULL;
    json_t *j = NULL;
    const void *data;
    size_t len;
    uint32_t kind;
    int rc;
    if (!path)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    bool is_dir;
    if (db->vfs->exists(db->vfs, path, &is_dir) != 0) {
        kite_free(path);
        return KITE_OK; /* fresh data directory */
    }
    rc = segfile_open(db->vfs, path, DB_MAGIC_CATALOG, &sf, err);
    if (rc)
        goto out;
    if (segfile_blob(sf, "catalog", &kind, &data, &len) != KITE_OK) {
        rc = kite_err_set(err, KITE_ECORRUPT, "catalog %s has no catalog blob", path);
        goto out;
    }
    json_error_t je;
    j = json_loadb(data, len, 0, &je);
    if (!j) {
        rc = kite_err_set(err, KITE_ECORRUPT, "catalog %s: bad JSON: %s", path, je.text);
        goto out;
    }
    db->next_coll_id = json_integer_value(json_object_get(j, "next_collection_id"));
    db->next_auto_id = json_integer_value(json_object_get(j, "next_auto_id"));
    json_t *a = json_object_get(j, "databases");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s && !db_exists(db, s) && (rc = db_strings_add(&db->dbs, &db->n_dbs, s)))
            goto out;
    }
    a = json_object_get(j, "collections");
    for (size_t i = 0; i < json_array_size(a); i++) {
        struct dcoll *c = NULL;
        rc = coll_from_json(db, json_array_get(a, i), &c, err);
        if (rc)
            goto out;
        struct dcoll **nl = kite_realloc(db->colls, (db->n_colls + 1) * sizeof(*nl));
        if (!nl) {
            coll_free(c);
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            goto out;
        }
        db->colls = nl;
        db->colls[db->n_colls++] = c;
    }
    a = json_object_get(j, "aliases");
    db->aliases = kite_calloc(json_array_size(a) + 1, sizeof(struct dalias));
    for (size_t i = 0; db->aliases && i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        const char *d = json_string_value(json_object_get(o, "db"));
        const char *al = json_string_value(json_object_get(o, "alias"));
        const char *co = json_string_value(json_object_get(o, "collection"));
        if (!d || !al || !co)
            continue;
        struct dalias *x = &db->aliases[db->n_aliases++];
        x->db = kite_strdup(d);
        x->alias = kite_strdup(al);
        x->coll = kite_strdup(co);
    }
out:
    json_decref(j);
    segfile_close(sf);
    kite_free(path);
    return rc;
}

/* ============================================================ open / close */

static void db_free(kite_db *db)
{
    for (size_t i = 0; i < db->n_colls; i++)
        coll_unref(db->colls[i]);
    kite_free(db->colls);
    kite_strings_free(db->dbs, db->n_dbs);
    for (size_t i = 0; i < db->n_aliases; i++) {
        kite_free(db->aliases[i].db);
        kite_free(db->aliases[i].alias);
        kite_free(db->aliases[i].coll);
    }
    kite_free(db->aliases);
    kite_pool_free(db->pool);
    vfs_dir_unlock(db->lock_fd);
    kite_free(db->dir);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->id_mu);
    pthread_cond_destroy(&db->refs_cv);
    kite_free(db);
}

/* Remove collections/<id> directories of collections the catalog no longer has
 * (a crash between the catalog write of a drop and the directory removal). */
static void remove_dropped_dirs(kite_db *db)
{
    char *cdir = db_path_join(db->dir, "collections");
    char **names = NULL;
    size_t n = 0;
    if (!cdir || db->vfs->list(db->vfs, cdir, &names, &n) != 0) {
        kite_free(cdir);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *end;
        long long id = strtoll(names[i], &end, 10);
        if (*end || id <= 0 || id >= db->next_coll_id)
            continue;
        bool known = false;
        for (size_t k = 0; k < db->n_colls && !known; k++)
            known = db->colls[k]->id == id;
        if (known)
            continue;
        char *p = db_path_join(cdir, names[i]);
        if (p) {
            KITE_INFO("removing %s: its collection was dropped", p);
            (void)db->vfs->rmdir_r(db->vfs, p);
        }
        kite_free(p);
    }
    kite_strings_free(names, n);
    kite_free(cdir);
}

int kite_open(const char *data_dir, const kite_options *opts, kite_db **out, kite_err *err)
{
    int rc;
    kite_err_clear(err);
    if (!data_dir || !*data_dir || !out)
        return kite_err_set(err, KITE_EINVAL, "kite_open: data_dir and out are required");
    kite_db *db = kite_calloc(1, sizeof(*db));
    if (!db)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->id_mu, NULL);
    pthread_cond_init(&db->refs_cv, NULL);
    kite_options_init(&db->opts);
    if (opts)
        db->opts = *opts;
    if (!db->opts.segment_max_rows)
        db->opts.segment_max_rows = DB_DEFAULT_SEG_ROWS;
    if (!db->opts.segment_max_bytes)
        db->opts.segment_max_bytes = DB_DEFAULT_SEG_BYTES;
    db->vfs = db->opts.vfs ? (struct kite_vfs *)db->opts.vfs : kite_vfs_posix();
    db->next_coll_id = 1;
    db->lock_fd = -1;
    db->dir = kite_strdup(data_dir);
    if (!db->dir) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto fail;
    }
    rc = vfs_mkdir_p(db->vfs, data_dir);
    if (rc) {
        rc = kite_err_set(err, rc, "cannot create data directory %s", data_dir);
        goto fail;
    }
    rc = vfs_dir_lock(data_dir, db->opts.read_only, &db->lock_fd);
    if (rc) {
        rc = kite_err_set(err, rc,
                          rc == KITE_EBUSY ? "data directory %s is in use by another process"
                                           : "cannot lock data directory %s",
                          data_dir);
        goto fail;
    }
    rc = kite_pool_new(db->opts.n_threads, &db->pool);
    if (rc) {
        rc = kite_err_set(err, rc, "cannot start the worker pool");
        goto fail;
    }
    rc = catalog_load(db, err);
    if (rc)
        goto fail;
    if (!db_exists(db, "default") && (rc = db_strings_add(&db->dbs, &db->n_dbs, "default")))
        goto fail;
    remove_dropped_dirs(db);
    if (!db->opts.read_only)
        backup_remove_stale_staging(db->dir);
    for (size_t i = 0; i < db->n_colls; i++) {
        struct dcoll *c = db->colls[i];
        kite_err e;
        kite_err_clear(&e);
        if (coll_open_storage(c, &e) != KITE_OK) {
            c->broken_rc = e.code ? e.code : KITE_EIO;
            snprintf(c->broken_msg, sizeof(c->broken_msg), "%s", e.message);
            KITE_ERROR("collection %s.%s cannot be loaded: %s", c->db_name, c->name, e.message);
        }
    }
    *out = db;
    return KITE_OK;
fail:
    db_free(db);
    return rc;
}

void kite_close(kite_db *db)
{
    if (!db)
        return;
    /* Refuse new operations, then wait until every in-flight one (each holds a
     * collection reference until it returns, its WAL sync included) is done. */
    pthread_mutex_lock(&db->mu);
    db->closed = true;
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < db->n_colls && !busy; i++)
            busy = db->colls[i]->refs > 1;
        if (!busy)
            break;
        pthread_cond_wait(&db->refs_cv, &db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    for (size_t i = 0; i < db->n_colls; i++) {
        struct dcoll *c = db->colls[i];
        if (c->wal && wal_status(c->wal) == KITE_OK && wal_last_lsn(c->wal))
            (void)wal_sync(c->wal, wal_last_lsn(c->wal));
    }
    db_free(db);
}

/* ============================================================ databases */

int kite_database_create(kite_db *db, const char *name, kite_err *err)
{
    int rc;
    if (!db_name_valid(name, "database", err))
        return KITE_EINVAL;
    pthread_mutex_lock(&db->mu);
    if (db_exists(db, name)) {
        rc = kite_err_set(err, KITE_EEXISTS, "database already exist: %s", name);
        goto out;
    }
    if (db->n_dbs >= DB_MAX_DATABASES) {
        rc = kite_err_set(err, KITE_ELIMIT,
                          "database number (%zu) exceeds max configuration (64)", db->n_dbs);
        goto out;
    }
    rc = db_strings_add(&db->dbs, &db->n_dbs, name);
    if (rc) {
        rc = kite_err_set(err, rc, "out of memory");
        goto out;
    }
    rc = catalog_save_locked(db, err);
    if (rc)
        kite_free(db->dbs[--db->n_dbs]);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_database_drop(kite_db *db, const char *name, kite_err *err)
{
    int rc = KITE_OK;
    if (!name || !*name)
        return kite_err_set(err, KITE_EMISSING, "database name is required");
    if (strcmp(name, "default") == 0)
        return kite_err_set(err, KITE_EINVAL, "can not drop default database");
    pthread_mutex_lock(&db->mu);
    size_t i;
    for (i = 0; i < db->n_dbs; i++)
        if (strcmp(db->dbs[i], name) == 0)
            break;
    if (i == db->n_dbs)
        goto out; /* dropping a missing database succeeds, like Milvus */
    for (size_t k = 0; k < db->n_colls; k++)
        if (strcmp(db->colls[k]->db_name, name) == 0) {
            rc = kite_err_set(err, KITE_EINVAL,
                              "database:%s not empty, must drop all collections before drop "
                              "database",
                              name);
            goto out;
        }
    kite_free(db->dbs[i]);
    memmove(&db->dbs[i], &db->dbs[i + 1], (db->n_dbs - i - 1) * sizeof(char *));
    db->n_dbs--;
    rc = catalog_save_locked(db, err);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_database_list(kite_db *db, char ***names, size_t *n, kite_err *err)
{
    int rc = KITE_OK;
    *names = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    for (size_t i = 0; i < db->n_dbs && !rc; i++)
        rc = db_strings_add(names, n, db->dbs[i]);
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        kite_strings_free(*names, *n);
        *names = NULL;
        *n = 0;
        return kite_err_set(err, rc, "out of memory");
    }
    return KITE_OK;
}

/* ============================================================ collections */

static int props_copy(const kite_kv *in, size_t n, kite_kv **out, size_t *n_out)
{
    *out = kite_calloc(n + 1, sizeof(kite_kv));
    *n_out = 0;
    if (!*out)
        return KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        (*out)[i].key = kite_strdup(in[i].key ? in[i].key : "");
        (*out)[i].value = kite_strdup(in[i].value ? in[i].value : "");
        (*n_out)++;
        if (!(*out)[i].key || !(*out)[i].value)
            return KITE_ENOMEM;
    }
    return KITE_OK;
}

static int coll_new_from_params(kite_db *db, const char *dbname, const char *name,
                                const kite_create_params *p, kite_schema *schema,
                                struct dcoll **out, kite_err *err)
{
    struct dcoll *c = coll_alloc(db);
    if (!c)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    c->schema = *schema;
    memset(schema, 0, sizeof(*schema));
    c->db_name = kite_strdup(dbname);
    c->name = kite_strdup(name);
    c->consistency = p->consistency_level;
    c->shards = p->shards_num ? p->shards_num : 1;
    c->num_partitions = p->num_partitions;
    c->created_ms = db_now_ms();
    c->load_state = KITE_LOAD_NOT_LOAD;
    c->next_index_id = 1;
    c->parts = kite_calloc(1, sizeof(struct dpart));
    if (!c->db_name || !c->name || !c->parts ||
        props_copy(p->properties, p->n_properties, &c->props, &c->n_props)) {
        coll_free(c);
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    }
    c->parts[0].id = 1;
    c->parts[0].name = kite_strdup("_default");
    c->n_parts = 1;
    c->next_part_id = 2;
    coll_index_fields(c);
    *out = c;
    return KITE_OK;
}

static int create_checks(kite_db *db, const char *dbname, const char *name,
                         const kite_create_params *p, kite_err *err)
{
    if (!db_name_valid(name, "collection", err))
        return KITE_EINVAL;
    if (!p || !p->schema)
        return kite_err_set(err, KITE_EMISSING, "collection schema is required");
    if (p->shards_num < 0 || p->shards_num > DB_MAX_SHARDS)
        return kite_err_set(err, KITE_EINVAL,
                            "maximum shards's number should be limited to 16, got %d",
                            p->shards_num);
    if (p->consistency_level < 0 || p->consistency_level > KITE_CONSISTENCY_CUSTOMIZED)
        return kite_err_set(err, KITE_EINVAL, "invalid consistency level %d, expected 0..4",
                            p->consistency_level);
    if (!db_exists(db, dbname))
        return kite_err_set(err, KITE_ENODB, "database not found[database=%s]", dbname);
    if (find_alias(db, dbname, name))
        return kite_err_set(err, KITE_EALIASCONFLICT,
                            "collection name [%s] conflicts with an existing alias", name);
    return KITE_OK;
}

int kite_collection_create(kite_db *db, const char *dbname, const char *name,
                           const kite_create_params *p, kite_err *err)
{
    kite_schema schema = {0};
    struct dcoll *c = NULL;
    int rc;
    dbname = dbn(dbname);
    pthread_mutex_lock(&db->mu);
    rc = create_checks(db, dbname, name, p, err);
    if (rc)
        goto out;
    rc = schema_validate(p->schema, &schema, err);
    if (rc)
        goto out;
    struct dcoll *old = find_coll(db, dbname, name);
    if (old) {
        if (schema_equal(&old->schema, &schema))
            rc = KITE_OK;
        else
            rc = kite_err_set(err, KITE_EEXISTS,
                              "create duplicate collection with different parameters, "
                              "collection: %s",
                              name);
        goto out;
    }
    if (db->n_colls >= DB_MAX_COLLECTIONS) {
        rc = kite_err_set(err, KITE_ELIMIT, "exceeded the limit number of collections (65536)");
        goto out;
    }
    rc = coll_new_from_params(db, dbname, name, p, &schema, &c, err);
    if (rc)
        goto out;
    c->id = db->next_coll_id++;
    rc = coll_open_storage(c, err);
    if (rc)
        goto out;
    struct dcoll **nl = kite_realloc(db->colls, (db->n_colls + 1) * sizeof(*nl));
    if (!nl) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    db->colls = nl;
    db->colls[db->n_colls++] = c;
    rc = catalog_save_locked(db, err);
    if (rc) {
        db->n_colls--;
        goto out;
    }
    c = NULL;
out:
    pthread_mutex_unlock(&db->mu);
    if (c) {
        if (c->dir)
            (void)db->vfs->rmdir_r(db->vfs, c->dir);
        coll_free(c);
    }
    schema_free(&schema);
    return rc;
}

static void remove_aliases_of(kite_db *db, const char *dbname, const char *coll)
{
    for (size_t i = 0; i < db->n_aliases;) {
        struct dalias *a = &db->aliases[i];
        if (strcmp(a->db, dbname) == 0 && strcmp(a->coll, coll) == 0) {
            kite_free(a->db);
            kite_free(a->alias);
            kite_free(a->coll);
            memmove(a, a + 1, (db->n_aliases - i - 1) * sizeof(*a));
            db->n_aliases--;
        } else {
            i++;
        }
    }
}

int kite_collection_drop(kite_db *db, const char *dbname, const char *name, kite_err *err)
{
    int rc = KITE_OK;
    dbname = dbn(dbname);
    pthread_mutex_lock(&db->mu);
    if (!db_exists(db, dbname)) {
        pthread_mutex_unlock(&db->mu);
        return kite_err_set(err, KITE_ENODB, "database not found[database=%s]", dbname);
    }
    struct dcoll *c = name ? find_coll(db, dbname, name) : NULL;
    if (!c && name && find_alias(db, dbname, name)) {
        pthread_mutex_unlock(&db->mu);
        return kite_err_set(err, KITE_EINVAL,
                            "cannot drop the collection via alias = %s: drop the alias first or "
                            "use the collection name",
                            name);
    }
    if (!c) {
        pthread_mutex_unlock(&db->mu);
        return KITE_OK;
    }
    size_t i;
    for (i = 0; i < db->n_colls; i++)
        if (db->colls[i] == c)
            break;
    memmove(&db->colls[i], &db->colls[i + 1], (db->n_colls - i - 1) * sizeof(c));
    db->n_colls--;
    rc = catalog_save_locked(db, err);
    if (rc) {
        memmove(&db->colls[i + 1], &db->colls[i], (db->n_colls - i) * sizeof(c));
        db->colls[i] = c;
        db->n_colls++;
        pthread_mutex_unlock(&db->mu);
        return rc;
    }
    remove_aliases_of(db, dbname, c->name);
    (void)catalog_save_locked(db, NULL);
    pthread_mutex_unlock(&db->mu);
    /* Wait for in-flight operations, then remove the files. */
    pthread_rwlock_wrlock(&c->lock);
    c->dropped = true;
    coll_close_storage(c);
    if (c->dir)
        (void)db->vfs->rmdir_r(db->vfs, c->dir);
    pthread_rwlock_unlock(&c->lock);
    coll_unref(c);
    return KITE_OK;
}

int kite_collection_has(kite_db *db, const char *dbname, const char *name, bool *has,
                        kite_err *err)
{
    dbname = dbn(dbname);
    pthread_mutex_lock(&db->mu);
    bool ok = db_exists(db, dbname);
    *has = ok && name && resolve(db, dbname, name) != NULL;
    pthread_mutex_unlock(&db->mu);
    if (!ok)
        return kite_err_set(err, KITE_ENODB, "database not found[database=%s]", dbname);
    return KITE_OK;
}

int kite_collection_list(kite_db *db, const char *dbname, char ***names, size_t *n,
                         kite_err *err)
{
    int rc = KITE_OK;
    dbname = dbn(dbname);
    *names = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    if (!db_exists(db, dbname))
        rc = kite_err_set(err, KITE_ENODB, "database not found[database=%s]", dbname);
    for (size_t i = 0; i < db->n_colls && !rc; i++)
        if (strcmp(db->colls[i]->db_name, dbname) == 0)
            rc = db_strings_add(names, n, db->colls[i]->name);
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        kite_strings_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

void kite_collection_info_free(kite_collection_info *info)
{
    if (!info)
        return;
    kite_free(info->db_name);
    kite_free(info->name);
    schema_free(&info->schema);
    kite_strings_free(info->aliases, info->n_aliases);
    for (size_t i = 0; i < info->n_properties; i++) {
        kite_free(info->properties[i].key);
        kite_free(info->properties[i].value);
    }
    kite_free(info->properties);
    kite_free(info);
}

int kite_collection_describe(kite_db *db, const char *dbname, const char *name,
                             kite_collection_info **out, kite_err *err)
{
    struct dcoll *c = NULL;
    int rc;
    *out = NULL;
    pthread_mutex_lock(&db->mu);
    rc = resolve_locked(db, dbname, name, &c, err);
    if (rc)
        goto out;
    kite_collection_info *info = kite_calloc(1, sizeof(*info));
    if (!info) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    info->db_name = kite_strdup(c->db_name);
    info->name = kite_strdup(c->name);
    info->collection_id = c->id;
    info->created_utc_ms = c->created_ms;
    info->consistency_level = c->consistency;
    info->shards_num = c->shards;
    info->partitions_num = (int32_t)c->n_parts;
    info->load_state = c->load_state;
    rc = schema_copy(&c->schema, &info->schema, false);
    if (!rc)
        rc = props_copy(c->props, c->n_props, &info->properties, &info->n_properties);
    for (size_t i = 0; i < db->n_aliases && !rc; i++)
        if (strcmp(db->aliases[i].db, c->db_name) == 0 &&
            strcmp(db->aliases[i].coll, c->name) == 0)
            rc = db_strings_add(&info->aliases, &info->n_aliases, db->aliases[i].alias);
    if (rc || !info->db_name || !info->name) {
        kite_collection_info_free(info);
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    *out = info;
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_collection_rename(kite_db *db, const char *dbname, const char *name,
                           const char *new_dbname, const char *new_name, kite_err *err)
{
    struct dcoll *c = NULL;
    int rc;
    dbname = dbn(dbname);
    new_dbname = new_dbname && *new_dbname ? new_dbname : dbname;
    if (!db_name_valid(new_name, "collection", err))
        return KITE_EINVAL;
    pthread_mutex_lock(&db->mu);
    rc = resolve_locked(db, dbname, name, &c, err);
    if (rc)
        goto out;
    if (!db_exists(db, new_dbname)) {
        rc = kite_err_set(err, KITE_ENODB, "database not found[database=%s]", new_dbname);
        goto out;
    }
    if (find_coll(db, new_dbname, new_name)) {
        rc = kite_err_set(err, KITE_EEXISTS, "duplicated new collection name %s with other "
                                             "collection name or alias",
                          new_name);
        goto out;
    }
    if (find_alias(db, new_dbname, new_name)) {
        rc = kite_err_set(err, KITE_EALIASCONFLICT,
                          "new collection name %s conflicts with an existing alias", new_name);
        goto out;
    }
    char *nn = kite_strdup(new_name), *nd = kite_strdup(new_dbname);
    if (!nn || !nd) {
        kite_free(nn);
        kite_free(nd);
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    char *old_name = c->name, *old_db = c->db_name;
    /* Aliases follow within the database; moving databases drops them. */
    for (size_t i = 0; i < db->n_aliases; i++)
        if (strcmp(db->aliases[i].db, old_db) == 0 && strcmp(db->aliases[i].coll, old_name) == 0 &&
            strcmp(old_db, nd) == 0) {
            char *x = kite_strdup(nn);
            if (x) {
                kite_free(db->aliases[i].coll);
                db->aliases[i].coll = x;
            }
        }
    if (strcmp(old_db, nd) != 0)
        remove_aliases_of(db, old_db, old_name);
    c->name = nn;
    c->db_name = nd;
    rc = catalog_save_locked(db, err);
    kite_free(old_name);
    kite_free(old_db);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_collection_alter_properties(kite_db *db, const char *dbname, const char *name,
                                     const kite_kv *props, size_t n, kite_err *err)
{
    struct dcoll *c = NULL;
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = resolve_locked(db, dbname, name, &c, err);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!props[i].key || !props[i].value) {
            rc = kite_err_set(err, KITE_EINVAL, "property %zu has no key or value", i);
            break;
        }
        size_t k;
        for (k = 0; k < c->n_props; k++)
            if (strcmp(c->props[k].key, props[i].key) == 0)
                break;
        char *v = kite_strdup(props[i].value);
        if (!v) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            break;
        }
        if (k == c->n_props) {
            kite_kv *np = kite_realloc(c->props, (c->n_props + 1) * sizeof(kite_kv));
            char *key = kite_strdup(props[i].key);
            if (!np || !key) {
                if (np)
                    c->props = np;
                kite_free(v);
                kite_free(key);
                rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
                break;
            }
            c->props = np;
            c->props[k].key = key;
            c->props[k].value = NULL;
            c->n_props++;
        }
        kite_free(c->props[k].value);
        c->props[k].value = v;
    }
    if (!rc)
        rc = catalog_save_locked(db, err);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

static int set_load_state(kite_db *db, const char *dbname, const char *name, int state,
                          kite_err *err)
{
    struct dcoll *c = NULL;
    int rc;
    pthread_mutex_lock(&db->mu);
    rc = resolve_locked(db, dbname, name, &c, err);
    if (!rc && state == KITE_LOAD_LOADED && c->broken_rc)
        rc = kite_err_set(err, c->broken_rc, "collection %s cannot be loaded: %s", c->name,
                          c->broken_msg);
    if (!rc && c->load_state != state) {
        int old = c->load_state;
        c->load_state = state;
        rc = catalog_save_locked(db, err);
        if (rc)
            c->load_state = old;
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_collection_load(kite_db *db, const char *dbname, const char *name, kite_err *err)
{
    return set_load_state(db, dbname, name, KITE_LOAD_LOADED, err);
}

int kite_collection_release(kite_db *db, const char *dbname, const char *name, kite_err *err)
{
    return set_load_state(db, dbname, name, KITE_LOAD_NOT_LOAD, err);
}

int kite_collection_load_state(kite_db *db, const char *dbname, const char *name, int *state,
                               kite_err *err)
{
    struct dcoll *c = NULL;
    pthread_mutex_lock(&db->mu);
    int rc = resolve_locked(db, dbname, name, &c, err);
    if (!rc)
        *state = c->load_state;
    else if (rc == KITE_ENOCOLL) {
        *state = KITE_LOAD_NOT_EXIST;
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ============================================================ aliases */

int kite_alias_create(kite_db *db, const char *dbname, const char *coll, const char *alias,
                      kite_err *err)
{
    int rc;
    dbname = dbn(dbname);
    if (!db_name_valid(alias, "alias", err))
        return KITE_EINVAL;
    pthread_mutex_lock(&db->mu);
    struct dcoll *c = NULL;
    rc = resolve_locked(db, dbname, coll, &c, err);
    if (rc)
        goto out;
    if (find_coll(db, dbname, alias)) {
        rc = kite_err_set(err, KITE_EALIASCONFLICT,
                          "alias name %s conflicts with an existing collection name", alias);
        goto out;
    }
    struct dalias *a = find_alias(db, dbname, alias);
    if (a) {
        if (strcmp(a->coll, c->name) == 0)
            rc = KITE_OK;
        else
            rc = kite_err_set(err, KITE_EALIASEXISTS,
                              "alias %s already exists and points to collection %s", alias,
                              a->coll);
        goto out;
    }
    struct dalias *na = kite_realloc(db->aliases, (db->n_aliases + 1) * sizeof(*na));
    if (!na) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    db->aliases = na;
    a = &na[db->n_aliases];
    a->db = kite_strdup(dbname);
    a->alias = kite_strdup(alias);
    a->coll = kite_strdup(c->name);
    if (!a->db || !a->alias || !a->coll) {
        kite_free(a->db);
        kite_free(a->alias);
        kite_free(a->coll);
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    db->n_aliases++;
    rc = catalog_save_locked(db, err);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_alias_alter(kite_db *db, const char *dbname, const char *coll, const char *alias,
                     kite_err *err)
{
    int rc;
    dbname = dbn(dbname);
    pthread_mutex_lock(&db->mu);
    struct dcoll *c = NULL;
    rc = resolve_locked(db, dbname, coll, &c, err);
    if (rc)
        goto out;
    struct dalias *a = alias ? find_alias(db, dbname, alias) : NULL;
    if (!a) {
        rc = kite_err_set(err, KITE_ENOALIAS, "alias not found[database=%s][alias=%s]", dbname,
                          alias ? alias : "");
        goto out;
    }
    char *x = kite_strdup(c->name);
    if (!x) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    kite_free(a->coll);
    a->coll = x;
    rc = catalog_save_locked(db, err);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_alias_drop(kite_db *db, const char *dbname, const char *alias, kite_err *err)
{
    int rc = KITE_OK;
    dbname = dbn(dbname);
    pthread_mutex_lock(&db->mu);
    struct dalias *a = alias ? find_alias(db, dbname, alias) : NULL;
    if (a) {
        kite_free(a->db);
        kite_free(a->alias);
        kite_free(a->coll);
        size_t i = (size_t)(a - db->aliases);
        memmove(a, a + 1, (db->n_aliases - i - 1) * sizeof(*a));
        db->n_aliases--;
        rc = catalog_save_locked(db, err);
    }
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_alias_describe(kite_db *db, const char *dbname, const char *alias, char **coll,
                        kite_err *err)
{
    int rc = KITE_OK;
    dbname = dbn(dbname);
    *coll = NULL;
    pthread_mutex_lock(&db->mu);
    struct dalias *a = alias ? find_alias(db, dbname, alias) : NULL;
    if (!a)
        rc = kite_err_set(err, KITE_ENOALIAS, "alias not found[database=%s][alias=%s]", dbname,
                          alias ? alias : "");
    else if (!(*coll = kite_strdup(a->coll)))
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_alias_list(kite_db *db, const char *dbname, const char *coll, char ***names, size_t *n,
                    kite_err *err)
{
    int rc = KITE_OK;
    dbname = dbn(dbname);
    *names = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    struct dcoll *c = NULL;
    if (coll && *coll)
        rc = resolve_locked(db, dbname, coll, &c, err);
    for (size_t i = 0; i < db->n_aliases && !rc; i++)
        if (strcmp(db->aliases[i].db, dbname) == 0 &&
            (!c || strcmp(db->aliases[i].coll, c->name) == 0))
            rc = db_strings_add(names, n, db->aliases[i].alias);
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        kite_strings_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* ============================================================ partitions */

int kite_partition_create(kite_db *db, const char *dbname, const char *coll, const char *part,
                          kite_err *err)
{
    struct dcoll *c = NULL;
    int rc;
    if (!db_name_valid(part, "partition", err))
        return KITE_EINVAL;
    pthread_mutex_lock(&db->mu);
    rc = resolve_locked(db, dbname, coll, &c, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < c->schema.n_fields; i++)
        if (c->schema.fields[i].is_partition_key) {
            rc = kite_err_set(err, KITE_EINVAL,
                              "disable create partition if partition key mode is used");
            goto out;
        }
    if (coll_find_part(c, part))
        goto out; /* Milvus: creating an existing partition succeeds */
    if (c->n_parts >= DB_MAX_PARTITIONS) {
        rc = kite_err_set(err, KITE_ELIMIT,
                          "partition number (%zu) exceeds max configuration (1024)", c->n_parts);
        goto out;
    }
    char *name = kite_strdup(part);
    struct dpart *np = kite_realloc(c->parts, (c->n_parts + 1) * sizeof(*np));
    if (!name || !np) {
        if (np)
            c->parts = np;
        kite_free(name);
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    pthread_rwlock_wrlock(&c->lock);
    c->parts = np;
    c->parts[c->n_parts].id = c->next_part_id++;
    c->parts[c->n_parts].name = name;
    c->n_parts++;
    pthread_rwlock_unlock(&c->lock);
    rc = catalog_save_locked(db, err);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_partition_drop(kite_db *db, const char *dbname, const char *coll, const char *part,
                        kite_err *err)
{
    struct dcoll *c = NULL;
    int rc;
    if (part && strcmp(part, "_default") == 0)
        return kite_err_set(err, KITE_EINVAL, "default partition cannot be deleted");
    pthread_mutex_lock(&db->mu);
    rc = resolve_locked(db, dbname, coll, &c, err);
    if (rc)
        goto out;
    struct dpart *p = part ? coll_find_part(c, part) : NULL;
    if (!p)
        goto out; /* dropping a missing partition succeeds */
    pthread_rwlock_wrlock(&c->lock);
    int64_t pid = p->id;
    kite_free(p->name);
    size_t i = (size_t)(p - c->parts);
    memmove(p, p + 1, (c->n_parts - i - 1) * sizeof(*p));
    c->n_parts--;
    /* Remove the partition's segments: first from the manifest, then their
     * files (a crash in between leaves orphans, removed at open).  WAL
     * records of a missing partition are skipped on replay. */
    struct dseg **gone = kite_calloc(c->n_segs + 1, sizeof(*gone));
    size_t n_gone = 0;
    for (size_t k = 0; gone && k < c->n_segs;) {
        struct dseg *s = c->segs[k];
        if (s->part_id == pid) {
            gone[n_gone++] = s;
            memmove(&c->segs[k], &c->segs[k + 1], (c->n_segs - k - 1) * sizeof(s));
            c->n_segs--;
        } else {
            k++;
        }
    }
    if (!c->broken_rc && n_gone)
        (void)coll_write_manifest(c, c->checkpoint_lsn, NULL);
    for (size_t k = 0; k < n_gone; k++) {
        struct dseg *s = gone[k];
        if (s->sealed) {
            char *nm = seg_file_name(s->id), *path = nm ? db_path_join(c->dir, nm) : NULL;
            if (path)
                (void)db->vfs->unlink(db->vfs, path);
            kite_free(nm);
            kite_free(path);
        }
        seg_free(s);
    }
    kite_free(gone);
    pthread_rwlock_unlock(&c->lock);
    rc = catalog_save_locked(db, err);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_partition_has(kite_db *db, const char *dbname, const char *coll, const char *part,
                       bool *has, kite_err *err)
{
    struct dcoll *c = NULL;
    pthread_mutex_lock(&db->mu);
    int rc = resolve_locked(db, dbname, coll, &c, err);
    if (!rc)
        *has = part && coll_find_part(c, part) != NULL;
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int kite_partition_list(kite_db *db, const char *dbname, const char *coll, char ***names,
                        size_t *n, kite_err *err)
{
    struct dcoll *c = NULL;
    *names = NULL;
    *n = 0;
    pthread_mutex_lock(&db->mu);
    int rc = resolve_locked(db, dbname, coll, &c, err);
    for (size_t i = 0; !rc && i < c->n_parts; i++)
        rc = db_strings_add(names, n, c->parts[i].name);
    pthread_mutex_unlock(&db->mu);
    if (rc) {
        kite_strings_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

static int parts_exist(kite_db *db, const char *dbname, const char *coll,
                       const char *const *parts, size_t n, kite_err *err)
{
    struct dcoll *c = NULL;
    pthread_mutex_lock(&db->mu);
    int rc = resolve_locked(db, dbname, coll, &c, err);
    for (size_t i = 0; !rc && i < n; i++)
        if (!parts[i] || !coll_find_part(c, parts[i]))
            rc = kite_err_set(err, KITE_ENOPART, "partition not found[partition=%s]",
                              parts[i] ? parts[i] : "");
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* Partition-level load state is not tracked: loading partitions loads the
 * collection (all data is resident anyway); releasing partitions only checks
 * that they exist. */
int kite_partition_load(kite_db *db, const char *dbname, const char *coll,
                        const char *const *parts, size_t n, kite_err *err)
{
    int rc = parts_exist(db, dbname, coll, parts, n, err);
    return rc ? rc : kite_collection_load(db, dbname, coll, err);
}

int kite_partition_release(kite_db *db, const char *dbname, const char *coll,
                           const char *const *parts, size_t n, kite_err *err)
{
    return parts_exist(db, dbname, coll, parts, n, err);
}
