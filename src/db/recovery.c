/*
 * recovery.c — a collection's storage: its directory, manifest, WAL, and the
 * checkpoint that seals growing data and lets the WAL be truncated.
 *
 * Directory <data_dir>/collections/<collection_id>/:
 *   MANIFEST                segfile "KMAN", blob "manifest" (JSON, FORMAT.md)
 *   seg-<id>.kseg           sealed segments (segment.c)
 *   del-<id>-<lsn>.kdel     deleted-row bitmaps of sealed segments
 *   idx-<id>-<index>.kidx   ANN index of a sealed segment (index_mgr.c)
 *   wal/                    the collection's WAL (storage/wal.c)
 *
 * Recovery rule (invariant): the state of a collection is
 *   manifest(checkpoint_lsn) + every WAL record with lsn > checkpoint_lsn,
 * applied in LSN order.  A checkpoint writes every file the new manifest
 * names first, then switches the manifest atomically, then truncates the WAL
 * before checkpoint_lsn + 1; a crash between any two steps leaves either the
 * old manifest (whose WAL records are all still present) or the new one.
 * Replay is idempotent because records <= checkpoint_lsn are never replayed
 * and a record's effect depends only on the state before it.
 * Files not named by the manifest (a crash before the switch, temp files) are
 * removed at open.  Damage to the manifest or any file it names makes the
 * collection refuse to work (KITE_ECORRUPT with the message) without deleting
 * anything.
 *
 * Threading model: open/close run under db->mu (kite_open, create, drop);
 * checkpoint and manifest writes run under the collection's exclusive lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "endian.h"

#define MANIFEST_FILE "MANIFEST"

/* ============================================================ manifest */

int coll_write_manifest(struct dcoll *c, uint64_t lsn, kite_err *err)
{
    json_t *j = json_object(), *segs = json_array();
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "collection_id", json_integer(c->id));
    json_object_set_new(j, "checkpoint_lsn", json_integer((json_int_t)lsn));
    json_object_set_new(j, "next_segment_id", json_integer((json_int_t)c->next_seg_id));
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (!s->sealed)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer((json_int_t)s->id));
        json_object_set_new(o, "partition_id", json_integer(s->part_id));
        json_object_set_new(o, "rows", json_integer((json_int_t)s->n));
        json_object_set_new(o, "delete_file", s->del_file ? json_string(s->del_file) : json_null());
        json_object_set_new(o, "indexes", index_files_json(c, s));
        json_array_append_new(segs, o);
    }
    json_object_set_new(j, "segments", segs);
    char *text = db_json_text(j, NULL);
    json_decref(j);
    char *path = db_path_join(c->dir, MANIFEST_FILE);
    int rc;
    if (!text || !path) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory writing the manifest");
    } else {
        struct seg_blob b = {"manifest", 1, text, strlen(text)};
        rc = segfile_write(c->db->vfs, path, DB_MAGIC_MANIFEST, &b, 1, err);
    }
    kite_free(text);
    kite_free(path);
    if (!rc)
        c->checkpoint_lsn = lsn;
    return rc;
}

static int add_seg(struct dcoll *c, struct dseg *s)
{
    struct dseg **n = kite_realloc(c->segs, (c->n_segs + 1) * sizeof(*n));
    if (!n)
        return KITE_ENOMEM;
    c->segs = n;
    c->segs[c->n_segs++] = s;
    return KITE_OK;
}

static int load_segment(struct dcoll *c, json_t *o, kite_err *err)
{
    json_t *jid = json_object_get(o, "id"), *jrows = json_object_get(o, "rows");
    if (!json_is_integer(jid) || !json_is_integer(jrows) || json_integer_value(jrows) < 0)
        return kite_err_set(err, KITE_ECORRUPT, "manifest of %s: a segment entry is invalid",
                            c->name);
    struct dseg *s;
    int rc = seg_open_sealed(c, (uint64_t)json_integer_value(jid),
                             json_integer_value(json_object_get(o, "partition_id")),
                             (size_t)json_integer_value(jrows), &s, err);
    if (rc)
        return rc;
    const char *del = json_string_value(json_object_get(o, "delete_file"));
    if (del && (rc = seg_load_deletes(c, s, del, err)))
        goto fail;
    rc = index_load_for_segment(c, s, json_object_get(o, "indexes"), err);
    if (rc)
        goto fail;
    if ((rc = add_seg(c, s))) {
        rc = kite_err_set(err, rc, "out of memory");
        goto fail;
    }
    return KITE_OK;
fail:
    seg_free(s);
    return rc;
}

static int manifest_load(struct dcoll *c, kite_err *err)
{
    char *path = db_path_join(c->dir, MANIFEST_FILE);
    struct segfile *sf = NULL;
    json_t *j = NULL;
    const void *data;
    size_t len;
    uint32_t kind;
    bool is_dir;
    int rc = KITE_OK;
    if (!path)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    if (c->db->vfs->exists(c->db->vfs, path, &is_dir) != 0)
        goto out; /* new collection: no checkpoint yet */
    rc = segfile_open(c->db->vfs, path, DB_MAGIC_MANIFEST, &sf, err);
    if (rc)
        goto out;
    json_error_t je;
    if (segfile_blob(sf, "manifest", &kind, &data, &len) != KITE_OK ||
        !(j = json_loadb(data, len, 0, &je))) {
        rc = kite_err_set(err, KITE_ECORRUPT, "manifest %s is unreadable", path);
        goto out;
    }
    c->checkpoint_lsn = (uint64_t)json_integer_value(json_object_get(j, "checkpoint_lsn"));
    c->next_seg_id = (uint64_t)json_integer_value(json_object_get(j, "next_segment_id"));
    json_t *segs = json_object_get(j, "segments");
    for (size_t i = 0; i < json_array_size(segs) && !rc; i++)
        rc = load_segment(c, json_array_get(segs, i), err);
out:
    json_decref(j);
    segfile_close(sf);
    kite_free(path);
    return rc;
}

/* Remove files in the collection directory that the manifest does not name. */
static void remove_orphans(struct dcoll *c)
{
    char **names = NULL;
    size_t n = 0;
    if (c->db->vfs->list(c->db->vfs, c->dir, &names, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        bool keep = true;
        if (vfs_is_temp_name(nm)) {
            keep = false;
        } else if (strncmp(nm, "seg-", 4) == 0 || strncmp(nm, "del-", 4) == 0 ||
                   strncmp(nm, "idx-", 4) == 0) {
            keep = false;
            for (size_t k = 0; k < c->n_segs && !keep; k++) {
                struct dseg *s = c->segs[k];
                char *sn = seg_file_name(s->id);
                keep = (sn && strcmp(sn, nm) == 0) || (s->del_file && strcmp(s->del_file, nm) == 0);
                for (size_t f = 0; f < s->n_fields && !keep; f++)
                    keep = s->ix_file[f] && strcmp(s->ix_file[f], nm) == 0;
                kite_free(sn);
            }
        }
        if (!keep) {
            char *p = db_path_join(c->dir, nm);
            if (p)
                (void)c->db->vfs->unlink(c->db->vfs, p);
            kite_free(p);
        }
    }
    kite_strings_free(names, n);
}

static int replay_cb(uint64_t lsn, uint8_t type, const uint8_t *payload, size_t len, void *udata)
{
    struct dcoll *c = udata;
    kite_err e;
    kite_err_clear(&e);
    if (lsn <= c->checkpoint_lsn)
        return KITE_OK;
    uint64_t nd;
    int rc = coll_apply_record(c, type, payload, len, &nd, &e);
    if (rc) {
        KITE_ERROR("collection %s: WAL record %" PRIu64 " cannot be applied: %s", c->name, lsn,
                   e.message);
        snprintf(c->broken_msg, sizeof(c->broken_msg), "WAL record %" PRIu64 ": %s", lsn,
                 e.message);
        return rc == KITE_ENOMEM ? rc : KITE_ECORRUPT;
    }
    c->applied_lsn = lsn;
    return KITE_OK;
}

static void bump_auto_ids(struct dcoll *c)
{
    const kite_field_schema *pk = &c->schema.fields[c->pk_index];
    if (!pk->auto_id || pk->dtype != KITE_DT_INT64)
        return;
    int64_t mx = 0;
    for (size_t i = 0; i < c->n_segs; i++) {
        const int64_t *v = c->segs[i]->cols[c->pk_index].data;
        for (size_t r = 0; r < c->segs[i]->n; r++)
            if (v[r] > mx)
                mx = v[r];
    }
    db_bump_auto_id(c->db, mx);
}

int coll_open_storage(struct dcoll *c, kite_err *err)
{
    int rc;
    char *sub = db_strfmt("collections/%" PRId64, c->id);
    char *wdir = NULL;
    if (!sub)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    kite_free(c->dir);
    c->dir = db_path_join(c->db->dir, sub);
    kite_free(sub);
    wdir = c->dir ? db_path_join(c->dir, "wal") : NULL;
    if (!wdir) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    bool is_dir = false;
    if (c->from_catalog &&
        (c->db->vfs->exists(c->db->vfs, c->dir, &is_dir) != 0 || !is_dir)) {
        rc = kite_err_set(err, KITE_ECORRUPT,
                          "collection directory %s is missing: the catalog names collection %s",
                          c->dir, c->name);
        goto out;
    }
    rc = vfs_mkdir_p(c->db->vfs, c->dir);
    if (rc) {
        rc = kite_err_set(err, rc, "cannot create collection directory %s", c->dir);
        goto out;
    }
    if (!c->next_seg_id)
        c->next_seg_id = 1;
    rc = manifest_load(c, err);
    if (rc)
        goto out;
    c->applied_lsn = c->checkpoint_lsn;
    remove_orphans(c);
    rc = wal_open(c->db->vfs, wdir, NULL, c->checkpoint_lsn + 1, replay_cb, c, &c->wal, err);
    if (rc) {
        if (c->broken_msg[0])
            kite_err_set(err, rc, "collection %s: %s", c->name, c->broken_msg);
        goto out;
    }
    bump_auto_ids(c);
    for (size_t i = 0; i < c->n_segs; i++)
        coll_schedule_builds(c, c->segs[i]); /* builds a crash interrupted */
out:
    kite_free(wdir);
    if (rc) {
        for (size_t i = 0; i < c->n_segs; i++)
            seg_free(c->segs[i]);
        c->n_segs = 0;
    }
    return rc;
}

void coll_close_storage(struct dcoll *c)
{
    if (c->wal) {
        wal_close(c->wal);
        c->wal = NULL;
    }
    for (size_t i = 0; i < c->n_segs; i++)
        seg_free(c->segs[i]);
    kite_free(c->segs);
    c->segs = NULL;
    c->n_segs = 0;
}

int coll_check_usable(struct dcoll *c, bool write, kite_err *err)
{
    if (c->dropped)
        return kite_err_set(err, KITE_ENOCOLL, "collection not found[collection=%s]", c->name);
    if (c->broken_rc)
        return kite_err_set(err, c->broken_rc, "collection %s cannot be used: %s", c->name,
                            c->broken_msg);
    if (!write)
        return KITE_OK;
    if (c->db->opts.read_only)
        return kite_err_set(err, KITE_EREADONLY, "database is opened read-only");
    int st = c->wal ? wal_status(c->wal) : KITE_EIO;
    if (st)
        return kite_err_set(err, st == KITE_ENOSPC ? KITE_ENOSPC : KITE_EREADONLY,
                            "collection %s refuses writes after a WAL failure (%s); reopen to "
                            "recover",
                            c->name, kite_strerror(st));
    return KITE_OK;
}

/* ============================================================ checkpoint */

/*
 * Seal every growing segment, persist changed delete bitmaps, switch the
 * manifest and truncate the WAL.  Caller holds the exclusive collection lock.
 */
int coll_checkpoint(struct dcoll *c, kite_err *err)
{
    int rc = KITE_OK;
    uint64_t lsn = c->applied_lsn;
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (s->sealed)
            continue;
        if (s->n == s->n_deleted) {
            seg_free(s);
            memmove(&c->segs[i], &c->segs[i + 1], (c->n_segs - i - 1) * sizeof(s));
            c->n_segs--;
            i--;
            continue;
        }
        struct dseg *sealed;
        rc = seg_seal(c, s, &sealed, err);
        if (rc)
            return rc;
        c->segs[i] = sealed;
        seg_free(s);
    }
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (s->sealed && s->del_dirty && (rc = seg_write_deletes(c, s, lsn, err)))
            return rc;
    }
    rc = coll_write_manifest(c, lsn, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->n_segs; i++)
        if (c->segs[i]->sealed)
            coll_schedule_builds(c, c->segs[i]);
    for (size_t i = 0; i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (!s->stale_del_file)
            continue;
        char *p = db_path_join(c->dir, s->stale_del_file);
        if (p)
            (void)c->db->vfs->unlink(c->db->vfs, p);
        kite_free(p);
        kite_free(s->stale_del_file);
        s->stale_del_file = NULL;
    }
    if (c->wal)
        (void)wal_truncate_before(c->wal, lsn + 1);
    return KITE_OK;
}

int kite_collection_flush(kite_db *db, const char *dbname, const char *name, kite_err *err)
{
    struct dcoll *c = NULL;
    int rc = coll_acquire(db, dbname, name, &c, err);
    if (rc)
        return rc;
    /* After the checkpoint every applied write lives in files the new manifest
     * names (fsynced by segfile_write), so no WAL sync is needed. */
    pthread_rwlock_wrlock(&c->lock);
    rc = coll_check_usable(c, true, err);
    if (!rc)
        rc = coll_checkpoint(c, err);
    pthread_rwlock_unlock(&c->lock);
    if (rc)
        kite_err_prefix(err, "flush of collection %s failed", c->name);
    coll_unref(c);
    return rc;
}
