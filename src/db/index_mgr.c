/*
 * index_mgr.c — index lifecycle: create / describe / drop with Milvus
 * semantics, per-segment ANN builds, index files, loading them on open.
 *
 * Rules:
 *  1. One index per field.  Re-creating the same (type, metric, params) is a
 *     no-op; anything else is "at most one distinct index is allowed per
 *     field".  The index name defaults to the field name.
 *  2. Vector indexes are validated by vindex_validate_build (Milvus texts;
 *     AUTOINDEX resolved there; missing metric = COSINE float / HAMMING
 *     binary).  Scalar index types (STL_SORT, Trie, INVERTED, BITMAP,
 *     AUTOINDEX) are accepted as metadata: filters scan columns anyway.
 *  3. FLAT / BIN_FLAT need no build.  Other types are built for each sealed
 *     segment by a background job on the worker pool (queued when a segment is
 *     sealed or compacted, for existing segments when the index is created,
 *     and at open for segments a crash left unindexed), serialised (vindex_serialize) into
 *     idx-<segment>-<index_id>.kidx (segfile "KIDX", blobs "meta" JSON and
 *     "index" bytes) and named in the manifest.  Growing data, and segments
 *     whose build failed or whose type is not implemented yet
 *     (KITE_EINDEXTYPE), are searched exactly.
 *
 * Threading model: create/drop hold db->mu then the collection's exclusive
 * lock.  A build job holds a collection reference (kite_close waits for it),
 * builds over its own mapping of the immutable segment file and writes the
 * index file without any lock, then takes the exclusive lock only to install
 * the index (loaded from the bytes against the live segment) and switch the
 * manifest; if the segment was compacted away or the index dropped meanwhile,
 * the file is removed instead.  Describe holds db->mu and the shared lock.
 *
 * A build that fails (out of memory, a disk error writing the file, a
 * parameter the data cannot satisfy) is logged and recorded in the index
 * (didx.fail_reason / fail_seg): describe reports state Failed with
 * "segment <id>: <reason>" while that segment stays unindexed (it is
 * searched exactly meanwhile); a later successful build of that segment, a
 * compaction that removes it, or a reopen (which retries) clears it.
 *
 * Bad index files at open: a file that fails its segfile checksums / end magic,
 * fails vindex_deserialize validation (bit flips, truncation) or is missing is
 * logged at ERROR level with its path and the reason; the segment is searched
 * exactly and recovery queues a rebuild that rewrites the file and the
 * manifest.  Index files are derived data: they never make a collection
 * unusable.  Only out-of-memory fails the open.
 */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "db.h"

void didx_free(struct didx *x)
{
    kite_free(x->name);
    kite_free(x->field);
    kite_free(x->index_type);
    kite_free(x->resolved_type);
    kite_free(x->metric);
    kite_free(x->params_json);
    kite_free(x->fail_reason);
    memset(x, 0, sizeof(*x));
}

struct didx *coll_index_for_field(struct dcoll *c, int field_index)
{
    for (size_t i = 0; i < c->n_idx; i++)
        if (c->idx[i].field_index == field_index)
            return &c->idx[i];
    return NULL;
}

/* ============================================================ JSON */

json_t *indexes_to_json(const struct dcoll *c)
{
    json_t *a = json_array();
    for (size_t i = 0; i < c->n_idx; i++) {
        const struct didx *x = &c->idx[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(x->id));
        json_object_set_new(o, "name", json_string(x->name));
        json_object_set_new(o, "field", json_string(x->field));
        json_object_set_new(o, "index_type", json_string(x->index_type));
        json_object_set_new(o, "resolved_type", json_string(x->resolved_type));
        json_object_set_new(o, "metric", json_string(x->metric ? x->metric : ""));
        json_object_set_new(o, "params", json_string(x->params_json ? x->params_json : "{}"));
        json_array_append_new(a, o);
    }
    return a;
}

static char *jdup(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return kite_strdup(s ? s : "");
}

int indexes_from_json(struct dcoll *c, json_t *j, kite_err *err)
{
    size_t n = json_array_size(j);
    c->idx = kite_calloc(n + 1, sizeof(struct didx));
    if (!c->idx)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(j, i);
        struct didx *x = &c->idx[c->n_idx++];
        x->id = json_integer_value(json_object_get(o, "id"));
        x->name = jdup(o, "name");
        x->field = jdup(o, "field");
        x->index_type = jdup(o, "index_type");
        x->resolved_type = jdup(o, "resolved_type");
        x->metric = jdup(o, "metric");
        x->params_json = jdup(o, "params");
        x->field_index = x->field ? schema_field_index(&c->schema, x->field) : -1;
        if (!x->name || !x->field || !x->index_type || !x->resolved_type || !x->metric ||
            !x->params_json || x->field_index < 0)
            return kite_err_set(err, KITE_ECORRUPT, "catalog: index %zu of %s is invalid", i,
                                c->name);
        x->is_flat = !kite_dtype_is_vector(c->schema.fields[x->field_index].dtype) ||
                     vindex_is_flat(x->resolved_type);
    }
    return KITE_OK;
}

json_t *index_files_json(struct dcoll *c, struct dseg *s)
{
    json_t *a = json_array();
    for (size_t f = 0; f < s->n_fields; f++) {
        struct didx *x = coll_index_for_field(c, (int)f);
        if (!s->ix_file[f] || !x)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "index_id", json_integer(x->id));
        json_object_set_new(o, "field_index", json_integer((json_int_t)f));
        json_object_set_new(o, "file", json_string(s->ix_file[f]));
        json_array_append_new(a, o);
    }
    return a;
}

/* ============================================================ per segment */

static void seg_view(struct dcoll *c, struct dseg *s, int fi, struct vec_view *v)
{
    const kite_field_schema *f = &c->schema.fields[fi];
    v->dtype = f->dtype;
    v->dim = (uint32_t)f->dim;
    v->n = s->n;
    v->data = s->cols[fi].data;
    v->norms = NULL;
}

/*
 * An index that holds its own copy of the vectors (vindex_reads_rows false:
 * HNSW's default split walk, IVF_FLAT, IVF_SQ8, ...) has just been loaded
 * from the segment's mapped column: let those pages leave the resident set,
 * so the vectors are not counted twice.  Exact-scan fallbacks and output
 * fields still read them, from the page cache.
 */
static void seg_rows_cold(struct dcoll *c, struct dseg *s, int fi)
{
    if (!s->sf || !s->ix[fi] || vindex_reads_rows(s->ix[fi]))
        return;
    const kite_field_schema *f = &c->schema.fields[fi];
    segfile_advise_cold(s->sf, s->cols[fi].data,
                        s->n * kite_dtype_row_bytes(f->dtype, (uint32_t)f->dim));
}

static void drop_seg_index(struct dcoll *c, struct dseg *s, int fi)
{
    vindex_free(s->ix[fi]);
    s->ix[fi] = NULL;
    if (s->ix_file[fi]) {
        char *p = db_path_join(c->dir, s->ix_file[fi]);
        if (p)
            (void)c->db->vfs->unlink(c->db->vfs, p);
        kite_free(p);
        kite_free(s->ix_file[fi]);
        s->ix_file[fi] = NULL;
    }
}

/* What a build job needs of one index, copied so it runs without locks. */
struct build_spec {
    int64_t id;
    int field_index;
    char *type;
    char *metric;
    char *params;
};

struct build_job {
    struct dcoll *c;
    uint64_t seg_id;
    int64_t part_id;
    size_t rows;
    struct build_spec *specs;
    size_t n_specs;
};

static void job_free(struct build_job *j)
{
    for (size_t i = 0; i < j->n_specs; i++) {
        kite_free(j->specs[i].type);
        kite_free(j->specs[i].metric);
        kite_free(j->specs[i].params);
    }
    kite_free(j->specs);
    kite_free(j);
}

/* Build one index over a private mapping of the segment and write its file
 * (no lock held).  *name receives the file name, *bytes the serialised index. */
static int build_file(struct dcoll *c, struct dseg *s, const struct build_spec *x,
                      struct kite_buf *bytes, char **name, kite_err *err)
{
    struct vec_view v;
    struct vindex *ix = NULL;
    char *path = NULL, *meta = NULL;
    int rc;
    *name = NULL;
    seg_view(c, s, x->field_index, &v);
    if (db_test_build_fail_rc)
        return kite_err_set(err, db_test_build_fail_rc, "injected build failure (test)");
    struct vindex_build_params bp = {x->type, kite_metric_from_name(x->metric), x->params,
                                     s->id * 2654435761u + 17, c->db->pool};
    rc = vindex_build(&bp, &v, &ix, err);
    if (rc)
        return rc;
    rc = vindex_serialize(ix, bytes);
    *name = db_strfmt("idx-%020" PRIu64 "-%06" PRId64 ".kidx", s->id, x->id);
    path = *name ? db_path_join(c->dir, *name) : NULL;
    meta = db_strfmt("{\"segment\":%" PRIu64 ",\"index_id\":%" PRId64 ",\"type\":\"%s\","
                     "\"metric\":\"%s\"}",
                     s->id, x->id, x->type, x->metric);
    if (rc || !path || !meta) {
        rc = kite_err_set(err, rc ? rc : KITE_ENOMEM, "cannot serialise index %" PRId64, x->id);
        goto out;
    }
    struct seg_blob blobs[2] = {{"meta", 1, meta, strlen(meta)},
                                {"index", 2, bytes->data, bytes->len}};
    rc = segfile_write(c->db->vfs, path, DB_MAGIC_INDEX, blobs, 2, err);
out:
    vindex_free(ix);
    kite_free(path);
    kite_free(meta);
    if (rc) {
        kite_free(*name);
        *name = NULL;
    }
    return rc;
}

static struct dseg *find_seg(struct dcoll *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_segs; i++)
        if (c->segs[i]->id == id && c->segs[i]->sealed)
            return c->segs[i];
    return NULL;
}

static struct didx *index_by_id(struct dcoll *c, int64_t id)
{
    for (size_t i = 0; i < c->n_idx; i++)
        if (c->idx[i].id == id)
            return &c->idx[i];
    return NULL;
}

static bool index_alive(struct dcoll *c, int64_t id)
{
    return index_by_id(c, id) != NULL;
}

/* Test seam: when nonzero, every index build fails with this code (db.h). */
int db_test_build_fail_rc = 0;

/* Record a failed build of segment seg for index id (exclusive lock held). */
static void note_build_failure(struct dcoll *c, int64_t id, uint64_t seg, const char *why)
{
    struct didx *x = index_by_id(c, id);
    char *reason = db_strfmt("segment %" PRIu64 ": %s", seg, why && *why ? why : "build failed");
    if (!x || !reason) { /* out of memory: the log line still has it */
        kite_free(reason);
        return;
    }
    kite_free(x->fail_reason);
    x->fail_reason = reason;
    x->fail_seg = seg;
}

/* Install a built index into the live segment (exclusive lock held). */
static bool install(struct dcoll *c, const struct build_job *j, const struct build_spec *x,
                    const struct kite_buf *bytes, char *name)
{
    struct dseg *s = c->dropped || c->broken_rc ? NULL : find_seg(c, j->seg_id);
    if (!s || !index_alive(c, x->id) || s->ix[x->field_index])
        return false;
    struct vec_view v;
    kite_err e;
    seg_view(c, s, x->field_index, &v);
    if (vindex_deserialize(x->type, kite_metric_from_name(x->metric), &v, bytes->data,
                           bytes->len, &s->ix[x->field_index], &e) != KITE_OK) {
        KITE_WARN("collection %s: built index cannot be loaded: %s", c->name, e.message);
        return false;
    }
    kite_free(s->ix_file[x->field_index]); /* a bad file's name, same as name */
    s->ix_file[x->field_index] = name;
    seg_rows_cold(c, s, x->field_index);
    struct didx *dx = index_by_id(c, x->id);
    if (dx && dx->fail_reason && dx->fail_seg == s->id) {
        kite_free(dx->fail_reason);
        dx->fail_reason = NULL;
    }
    if (coll_write_manifest(c, c->checkpoint_lsn, &e) != KITE_OK)
        KITE_WARN("collection %s: manifest not updated after an index build (the index "
                  "is rebuilt after reopen): %s",
                  c->name, e.message);
    return true;
}

static void build_job_run(void *udata)
{
    struct build_job *j = udata;
    struct dcoll *c = j->c;
    struct dseg *s = NULL;
    kite_err e;
    kite_err_clear(&e);
    /* A private mapping of the immutable segment file: no lock while building. */
    if (seg_open_sealed(c, j->seg_id, j->part_id, j->rows, &s, &e) != KITE_OK)
        goto out;
    for (size_t i = 0; i < j->n_specs; i++) {
        const struct build_spec *x = &j->specs[i];
        struct kite_buf bytes;
        char *name = NULL;
        kite_buf_init(&bytes, 0);
        int rc = build_file(c, s, x, &bytes, &name, &e);
        if (rc) {
            KITE_WARN("collection %s: index %" PRId64 " (%s) not built for segment %" PRIu64
                      " (searched exactly): %s",
                      c->name, x->id, x->type, j->seg_id, e.message);
            pthread_rwlock_wrlock(&c->lock);
            note_build_failure(c, x->id, j->seg_id, e.message);
            pthread_rwlock_unlock(&c->lock);
        } else {
            pthread_rwlock_wrlock(&c->lock);
            bool ok = install(c, j, x, &bytes, name);
            if (!ok) {
                /* Never remove a file the live segment (and so the manifest) names. */
                struct dseg *live = c->dropped ? NULL : find_seg(c, j->seg_id);
                bool named = live && live->ix_file[x->field_index] &&
                             strcmp(live->ix_file[x->field_index], name) == 0;
                char *path = db_path_join(c->dir, name);
                if (path && !c->dropped && !named)
                    (void)c->db->vfs->unlink(c->db->vfs, path);
                kite_free(path);
                kite_free(name);
            }
            pthread_rwlock_unlock(&c->lock);
        }
        kite_buf_free(&bytes);
    }
out:
    pthread_rwlock_wrlock(&c->lock);
    struct dseg *live = c->dropped ? NULL : find_seg(c, j->seg_id);
    if (live) {
        live->build_queued = false;
        /* An index created while this job was queued is not in its specs. */
        bool missing = false;
        for (size_t i = 0; i < c->n_idx && !missing; i++) {
            bool in_job = false;
            for (size_t k = 0; k < j->n_specs; k++)
                in_job |= j->specs[k].id == c->idx[i].id;
            missing = !in_job && !c->idx[i].is_flat && !live->ix[c->idx[i].field_index];
        }
        if (missing)
            coll_schedule_builds(c, live);
    }
    pthread_rwlock_unlock(&c->lock);
    seg_free(s);
    job_free(j);
    c->n_building--;
    coll_unref(c);
}

void coll_schedule_builds(struct dcoll *c, struct dseg *s)
{
    /* Read-only databases write nothing: unindexed segments are searched exactly. */
    if (!s->sealed || s->n == 0 || c->dropped || s->build_queued || c->db->opts.read_only)
        return;
    struct build_job *j = kite_calloc(1, sizeof(*j));
    if (!j)
        goto oom;
    j->c = c;
    j->seg_id = s->id;
    j->part_id = s->part_id;
    j->rows = s->n;
    j->specs = kite_calloc(c->n_idx + 1, sizeof(struct build_spec));
    if (!j->specs)
        goto oom;
    for (size_t i = 0; i < c->n_idx; i++) {
        const struct didx *x = &c->idx[i];
        if (x->is_flat || s->ix[x->field_index])
            continue;
        struct build_spec *b = &j->specs[j->n_specs++];
        b->id = x->id;
        b->field_index = x->field_index;
        b->type = kite_strdup(x->resolved_type);
        b->metric = kite_strdup(x->metric);
        b->params = kite_strdup(x->params_json);
        if (!b->type || !b->metric || !b->params)
            goto oom;
    }
    if (j->n_specs == 0) {
        job_free(j);
        return;
    }
    c->refs++;
    c->n_building++;
    s->build_queued = true;
    if (kite_pool_submit(c->db->pool, build_job_run, j) != KITE_OK) {
        c->n_building--;
        c->refs--; /* the caller holds a reference too: never the last one here */
        s->build_queued = false;
        goto oom;
    }
    return;
oom:
    if (j)
        job_free(j);
    KITE_WARN("collection %s: out of memory scheduling an index build; segment %" PRIu64
              " is searched exactly",
              c->name, s->id);
}

int index_load_for_segment(struct dcoll *c, struct dseg *s, json_t *jidx, kite_err *err)
{
    for (size_t i = 0; i < json_array_size(jidx); i++) {
        json_t *o = json_array_get(jidx, i);
        int64_t id = json_integer_value(json_object_get(o, "index_id"));
        const char *file = json_string_value(json_object_get(o, "file"));
        struct didx *x = NULL;
        for (size_t k = 0; k < c->n_idx; k++)
            if (c->idx[k].id == id)
                x = &c->idx[k];
        if (!x || !file || x->is_flat)
            continue; /* dropped index: its file is removed as an orphan */
        char *path = db_path_join(c->dir, file);
        struct segfile *sf = NULL;
        const void *data;
        size_t len;
        uint32_t kind;
        struct vec_view v;
        int rc = path ? segfile_open(c->db->vfs, path, DB_MAGIC_INDEX, &sf, err) : KITE_ENOMEM;
        if (!rc && segfile_blob(sf, "index", &kind, &data, &len) != KITE_OK)
            rc = kite_err_set(err, KITE_ECORRUPT, "index file %s has no index blob", path);
        if (!rc) {
            seg_view(c, s, x->field_index, &v);
            rc = vindex_deserialize(x->resolved_type, kite_metric_from_name(x->metric), &v, data,
                                    len, &s->ix[x->field_index], err);
        }
        if (!rc) {
            s->ix_file[x->field_index] = kite_strdup(file);
            seg_rows_cold(c, s, x->field_index);
        }
        if (rc == KITE_ENOTFOUND)
            rc = kite_err_set(err, KITE_ECORRUPT, "index file %s is missing", path);
        if (rc && rc != KITE_ENOMEM) {
            /* A derived file: never make the collection unusable over it.  The
             * segment is searched exactly and recovery queues a rebuild, which
             * overwrites the bad file and renames it in the manifest. */
            KITE_ERROR("collection %s: index file %s of segment %" PRIu64
                       " cannot be loaded (%s); the segment is searched exactly%s",
                       c->name, path ? path : file, s->id, err ? err->message : "",
                       c->db->opts.read_only ? " (read-only: not rebuilt)"
                                             : " until a background rebuild replaces it");
            vindex_free(s->ix[x->field_index]);
            s->ix[x->field_index] = NULL;
            /* Still named (not an orphan to remove): the rebuild replaces it. */
            kite_free(s->ix_file[x->field_index]);
            s->ix_file[x->field_index] = kite_strdup(file);
            kite_err_clear(err);
            rc = s->ix_file[x->field_index] ? KITE_OK
                                            : kite_err_set(err, KITE_ENOMEM, "out of memory");
        }
        segfile_close(sf);
        kite_free(path);
        if (rc)
            return rc;
    }
    return KITE_OK;
}

/* ============================================================ API */

static bool is_scalar_index(const char *t)
{
    static const char *const names[] = {"STL_SORT", "Trie", "TRIE", "INVERTED", "BITMAP",
                                        "AUTOINDEX", "SORTED", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(t, names[i]) == 0)
            return true;
    return false;
}

static int make_index(struct dcoll *c, const kite_index_params *p, int fi, struct didx *x,
                      kite_err *err)
{
    const kite_field_schema *f = &c->schema.fields[fi];
    const char *type = p->index_type && *p->index_type ? p->index_type : "AUTOINDEX";
    const char *resolved = type;
    char *norm = NULL;
    int metric = KITE_METRIC_NONE;
    memset(x, 0, sizeof(*x));
    if (kite_dtype_is_vector(f->dtype)) {
        if (p->metric_type && *p->metric_type) {
            metric = kite_metric_from_name(p->metric_type);
            if (!metric)
                return kite_err_set(err, KITE_EINVAL,
                                    "metric type %s not found or not supported",
                                    p->metric_type);
        } else {
            metric = f->dtype == KITE_DT_BINARY_VECTOR ? KITE_METRIC_HAMMING
                                                       : KITE_METRIC_COSINE;
        }
        int rc = vindex_validate_build(type, metric, f->dtype, (uint32_t)f->dim, p->params_json,
                                       &resolved, &norm, err);
        if (rc)
            return rc;
    } else if (!is_scalar_index(type)) {
        return kite_err_set(err, KITE_EINVAL,
                            "invalid index type: %s for scalar field %s: expected STL_SORT, "
                            "Trie, INVERTED, BITMAP or AUTOINDEX",
                            type, f->name);
    }
    x->name = kite_strdup(p->index_name && *p->index_name ? p->index_name : f->name);
    x->field = kite_strdup(f->name);
    x->field_index = fi;
    x->index_type = kite_strdup(type);
    x->resolved_type = kite_strdup(resolved);
    x->metric = kite_strdup(metric ? kite_metric_name(metric) : "");
    x->params_json = norm ? norm : kite_strdup(p->params_json && *p->params_json ? p->params_json
                                                                                 : "{}");
    x->is_flat = !kite_dtype_is_vector(f->dtype) || vindex_is_flat(resolved);
    if (!x->name || !x->field || !x->index_type || !x->resolved_type || !x->metric ||
        !x->params_json) {
        didx_free(x);
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    }
    return KITE_OK;
}

static int add_index(struct dcoll *c, struct didx *x, kite_err *err)
{
    for (size_t i = 0; i < c->n_idx; i++)
        if (strcmp(c->idx[i].name, x->name) == 0)
            return kite_err_set(err, KITE_EINVAL,
                                "at most one distinct index is allowed per field: index name %s "
                                "is already used on field %s",
                                x->name, c->idx[i].field);
    struct didx *n = kite_realloc(c->idx, (c->n_idx + 1) * sizeof(*n));
    if (!n)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    c->idx = n;
    x->id = c->next_index_id++;
    c->idx[c->n_idx++] = *x;
    return KITE_OK;
}

int kite_index_create(kite_db *db, const char *dbname, const char *coll,
                      const kite_index_params *p, kite_err *err)
{
    struct dcoll *c = NULL;
    struct didx x = {0};
    kite_err_clear(err);
    if (!p || !p->field_name || !*p->field_name)
        return kite_err_set(err, KITE_EMISSING, "field name is required to create an index");
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    pthread_rwlock_wrlock(&c->lock);
    rc = coll_check_usable(c, false, err);
    int fi = rc ? -1 : schema_field_index(&c->schema, p->field_name);
    if (!rc && (fi < 0 || c->schema.fields[fi].is_dynamic))
        rc = kite_err_set(err, KITE_ENOFIELD, "cannot create index on non-exist field: %s",
                          p->field_name);
    if (!rc)
        rc = make_index(c, p, fi, &x, err);
    if (rc)
        goto out;
    struct didx *old = coll_index_for_field(c, fi);
    if (old) {
        bool same = strcmp(old->name, x.name) == 0 && strcmp(old->index_type, x.index_type) == 0 &&
                    strcmp(old->metric, x.metric) == 0 &&
                    strcmp(old->params_json, x.params_json) == 0;
        if (!same)
            rc = kite_err_set(err, KITE_EINVAL,
                              "CreateIndex failed: at most one distinct index is allowed per "
                              "field");
        didx_free(&x);
        goto out;
    }
    rc = add_index(c, &x, err);
    if (rc) {
        didx_free(&x);
        goto out;
    }
    rc = catalog_save_locked(db, err);
    if (rc) {
        didx_free(&c->idx[--c->n_idx]);
        goto out;
    }
    struct didx *nx = &c->idx[c->n_idx - 1];
    if (!nx->is_flat)
        for (size_t i = 0; i < c->n_segs; i++)
            coll_schedule_builds(c, c->segs[i]);
out:
    pthread_rwlock_unlock(&c->lock);
    pthread_mutex_unlock(&db->mu);
    coll_unref(c);
    return rc;
}

void kite_index_info_free(kite_index_info *infos, size_t n)
{
    if (!infos)
        return;
    for (size_t i = 0; i < n; i++) {
        kite_free(infos[i].index_name);
        kite_free(infos[i].field_name);
        kite_free(infos[i].index_type);
        kite_free(infos[i].metric_type);
        kite_free(infos[i].params_json);
        kite_free(infos[i].fail_reason);
    }
    kite_free(infos);
}

static int fill_info(struct dcoll *c, const struct didx *x, kite_index_info *o)
{
    uint64_t total = 0, indexed = 0;
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        uint64_t live = s->n - s->n_deleted;
        total += live;
        if (x->is_flat || s->ix[x->field_index])
            indexed += live;
    }
    o->index_name = kite_strdup(x->name);
    o->field_name = kite_strdup(x->field);
    o->index_type = kite_strdup(x->index_type);
    o->metric_type = kite_strdup(x->metric);
    o->params_json = kite_strdup(x->params_json);
    /* A recorded failure counts while its segment is still there and unindexed. */
    const char *why = "";
    if (x->fail_reason && !x->is_flat)
        for (size_t i = 0; i < c->n_segs; i++)
            if (c->segs[i]->id == x->fail_seg && c->segs[i]->sealed &&
                !c->segs[i]->ix[x->field_index])
                why = x->fail_reason;
    o->fail_reason = kite_strdup(why);
    o->index_id = x->id;
    o->total_rows = total;
    o->indexed_rows = indexed;
    o->pending_rows = total - indexed;
    /* InProgress while background builds run; then Failed if a recorded failure still
     * holds, else Finished (growing data and unindexed segments are searched exactly;
     * they count as pending). */
    o->state = c->n_building > 0 && !x->is_flat ? 2 : *why ? 4 : 3;
    if (!o->index_name || !o->field_name || !o->index_type || !o->metric_type ||
        !o->params_json || !o->fail_reason)
        return KITE_ENOMEM;
    return KITE_OK;
}

int kite_index_describe(kite_db *db, const char *dbname, const char *coll, const char *index_name,
                        kite_index_info **out, size_t *n, kite_err *err)
{
    struct dcoll *c = NULL;
    kite_err_clear(err);
    *out = NULL;
    *n = 0;
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    pthread_rwlock_rdlock(&c->lock);
    kite_index_info *infos = kite_calloc(c->n_idx + 1, sizeof(*infos));
    size_t k = 0;
    if (!infos) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->n_idx && !rc; i++) {
        const struct didx *x = &c->idx[i];
        if (index_name && *index_name && strcmp(x->name, index_name) != 0 &&
            strcmp(x->field, index_name) != 0)
            continue;
        if (fill_info(c, x, &infos[k++]))
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
    }
    if (!rc && k == 0)
        rc = kite_err_set(err, KITE_ENOINDEX, "index not found[indexName=%s]",
                          index_name && *index_name ? index_name : "");
    if (rc) {
        kite_index_info_free(infos, k);
        goto out;
    }
    *out = infos;
    *n = k;
out:
    pthread_rwlock_unlock(&c->lock);
    pthread_mutex_unlock(&db->mu);
    coll_unref(c);
    return rc;
}

int kite_index_drop(kite_db *db, const char *dbname, const char *coll, const char *index_name,
                    kite_err *err)
{
    struct dcoll *c = NULL;
    kite_err_clear(err);
    int rc = coll_acquire(db, dbname, coll, &c, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&db->mu);
    pthread_rwlock_wrlock(&c->lock);
    size_t i;
    for (i = 0; i < c->n_idx; i++)
        if (index_name && strcmp(c->idx[i].name, index_name) == 0)
            break;
    if (i == c->n_idx) {
        rc = kite_err_set(err, KITE_ENOINDEX, "index not found[indexName=%s]",
                          index_name ? index_name : "");
        goto out;
    }
    int fi = c->idx[i].field_index;
    struct didx gone = c->idx[i];
    memmove(&c->idx[i], &c->idx[i + 1], (c->n_idx - i - 1) * sizeof(struct didx));
    c->n_idx--;
    rc = catalog_save_locked(db, err);
    if (rc) {
        memmove(&c->idx[i + 1], &c->idx[i], (c->n_idx - i) * sizeof(struct didx));
        c->idx[i] = gone;
        c->n_idx++;
        goto out;
    }
    didx_free(&gone);
    bool had_files = false;
    for (size_t s = 0; s < c->n_segs; s++) {
        had_files |= c->segs[s]->ix_file[fi] != NULL;
        drop_seg_index(c, c->segs[s], fi);
    }
    if (had_files && !c->broken_rc)
        (void)coll_write_manifest(c, c->checkpoint_lsn, NULL);
out:
    pthread_rwlock_unlock(&c->lock);
    pthread_mutex_unlock(&db->mu);
    coll_unref(c);
    return rc;
}
