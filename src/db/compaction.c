/*
 * compaction.c — kite_collection_compact: rewrite sealed segments that hold
 * deleted rows into new segments without them.
 *
 * Steps (all under the collection's exclusive lock):
 *   1. checkpoint (seals growing data, persists delete bitmaps);
 *   2. for each sealed segment with deleted rows: copy its live rows into a
 *      new growing segment with a new id and seal it (segment file written
 *      and reopened); its indexes are built in the background afterwards;
 *   3. swap the new segments in and switch the manifest (one atomic rename);
 *   4. only then unlink the old segment, delete and index files.
 * A crash before step 3 leaves the old manifest (new files are orphans,
 * removed at open); after it, old files are orphans.  Nothing acknowledged
 * is lost at any point.
 *
 * Threading model: exclusive collection lock for the whole call.
 */
#include <string.h>

#include "db.h"

static int copy_live(struct dcoll *c, struct dseg *old, struct dseg **out, kite_err *err)
{
    struct dseg *g = seg_new_growing(c, c->next_seg_id++, old->part_id);
    int rc = KITE_OK;
    if (!g)
        return kite_err_set(err, KITE_ENOMEM, "out of memory compacting");
    for (size_t i = 0; i < c->schema.n_fields && !rc; i++)
        for (size_t r = 0; r < old->n && !rc; r++)
            if (!seg_is_deleted(old, r))
                rc = colbuf_append_row(&g->bufs[i], &old->cols[i], r);
    if (rc) {
        seg_free(g);
        return kite_err_set(err, rc, "out of memory compacting");
    }
    g->n = old->n - old->n_deleted;
    for (size_t i = 0; i < c->schema.n_fields; i++)
        colbuf_view(&g->bufs[i], c->schema.fields[i].name, &g->cols[i]);
    rc = seg_seal(c, g, out, err);
    seg_free(g);
    return rc;
}

static void unlink_seg_files(struct dcoll *c, struct dseg *s)
{
    char *names[2] = {seg_file_name(s->id), s->del_file ? kite_strdup(s->del_file) : NULL};
    for (int k = 0; k < 2; k++) {
        char *p = names[k] ? db_path_join(c->dir, names[k]) : NULL;
        if (p)
            (void)c->db->vfs->unlink(c->db->vfs, p);
        kite_free(p);
        kite_free(names[k]);
    }
    for (size_t f = 0; f < s->n_fields; f++) {
        char *p = s->ix_file[f] ? db_path_join(c->dir, s->ix_file[f]) : NULL;
        if (p)
            (void)c->db->vfs->unlink(c->db->vfs, p);
        kite_free(p);
    }
}

int kite_collection_compact(kite_db *db, const char *dbname, const char *name, kite_err *err)
{
    struct dcoll *c = NULL;
    kite_err_clear(err);
    int rc = coll_acquire(db, dbname, name, &c, err);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&c->lock);
    struct dseg **old = NULL;
    size_t n_old = 0;
    rc = coll_check_usable(c, true, err);
    if (!rc)
        rc = coll_checkpoint(c, err);
    if (!rc && !(old = kite_calloc(c->n_segs + 1, sizeof(*old))))
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < c->n_segs; i++) {
        struct dseg *s = c->segs[i];
        if (!s->sealed || s->n_deleted == 0)
            continue;
        struct dseg *fresh = NULL;
        if (s->n_deleted < s->n) {
            rc = copy_live(c, s, &fresh, err);
            if (rc)
                break;
        }
        old[n_old++] = s;
        if (fresh) {
            c->segs[i] = fresh;
        } else {
            memmove(&c->segs[i], &c->segs[i + 1], (c->n_segs - i - 1) * sizeof(s));
            c->n_segs--;
            i--;
        }
    }
    if (!rc && n_old)
        rc = coll_write_manifest(c, c->checkpoint_lsn, err);
    if (!rc) {
        for (size_t i = 0; i < c->n_segs; i++)
            coll_schedule_builds(c, c->segs[i]);
        for (size_t i = 0; i < n_old; i++) {
            unlink_seg_files(c, old[i]);
            seg_free(old[i]);
        }
    } else if (n_old) {
        /* The manifest did not switch: keep serving, but the in-memory segment
         * list no longer matches it; reopen restores the old state. */
        c->broken_rc = rc;
        snprintf(c->broken_msg, sizeof(c->broken_msg),
                 "compaction failed (%s); reopen to recover", kite_strerror(rc));
        for (size_t i = 0; i < n_old; i++)
            seg_free(old[i]);
    }
    kite_free(old);
    pthread_rwlock_unlock(&c->lock);
    coll_unref(c);
    return rc;
}
