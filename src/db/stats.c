/*
 * stats.c — kite_db_stats_get: engine counters for monitoring (/metrics).
 *
 * What is counted (kite.h "statistics" documents each field):
 *  - segments by state, live rows as kite_collection_row_count counts them;
 *  - index progress with the same rule as kite_index_describe (index_mgr.c
 *    fill_info): per index, total = live rows of every segment, indexed = live
 *    rows of segments with a built index, FLAT/scalar indexes always indexed,
 *    so the gauges agree with DescribeIndex's indexed_rows/total_rows;
 *  - pending builds = the collections' n_building job counters;
 *  - WAL counters from wal_counters() (storage keeps them; no I/O here).
 *
 * Threading model: a snapshot, not an atomic one across collections.  Under
 * db->mu the live collections are listed and each gets a reference (so a
 * concurrent drop cannot free it); db->mu is then released and each
 * collection is read under its shared lock, one at a time, and unreferenced.
 * DDL changes indexes under both db->mu and the exclusive lock, so the shared
 * lock alone is enough to read them (db.h rule 2).  Never blocks on I/O.
 */
#include <string.h>

#include "db.h"

/* Add one collection's counters to *st (shared lock held). */
static void coll_stats_locked(const struct dcoll *c, bool read_only, kite_db_stats *st)
{
    for (size_t i = 0; i < c->n_segs; i++) {
        const struct dseg *s = c->segs[i];
        uint64_t live = (uint64_t)(s->n - s->n_deleted);
        st->rows += live;
        if (s->sealed)
            st->segments_sealed++;
        else
            st->segments_growing++;
        for (size_t k = 0; k < c->n_idx; k++) {
            const struct didx *x = &c->idx[k];
            bool built = x->is_flat || (s->ix && s->ix[x->field_index]);
            st->index_rows_total += live;
            if (built)
                st->index_rows_indexed += live;
            else if (s->sealed && s->n > 0 && !s->build_queued && !read_only)
                st->index_builds_failed++;
        }
    }
    int building = atomic_load(&((struct dcoll *)c)->n_building);
    st->index_builds_pending += building > 0 ? (uint64_t)building : 0;
    if (c->wal) {
        uint64_t a = 0, y = 0, b = 0;
        wal_counters(c->wal, &a, &y, &b);
        st->wal_appends += a;
        st->wal_syncs += y;
        st->wal_bytes += b;
    }
}

int kite_db_stats_get(kite_db *db, kite_db_stats *out, kite_err *err)
{
    struct dcoll **list = NULL;
    size_t n = 0;
    kite_err_clear(err);
    if (!db || !out)
        return kite_err_set(err, KITE_EINVAL,
                            "kite_db_stats_get: a database and an output struct are required");
    memset(out, 0, sizeof(*out));
    out->version = KITE_DB_STATS_VERSION;

    pthread_mutex_lock(&db->mu);
    if (db->closed) {
        pthread_mutex_unlock(&db->mu);
        return kite_err_set(err, KITE_ECLOSED, "database is closing");
    }
    if (db->n_colls > 0) {
        list = kite_calloc(db->n_colls, sizeof(*list));
        if (!list) {
            pthread_mutex_unlock(&db->mu);
            return kite_err_set(err, KITE_ENOMEM,
                                "out of memory listing %zu collections for statistics",
                                db->n_colls);
        }
    }
    for (size_t i = 0; i < db->n_colls; i++) {
        struct dcoll *c = db->colls[i];
        if (c->dropped)
            continue;
        c->refs++;
        list[n++] = c;
    }
    bool read_only = db->opts.read_only;
    pthread_mutex_unlock(&db->mu);

    out->collections = n;
    for (size_t i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&list[i]->lock);
        coll_stats_locked(list[i], read_only, out);
        pthread_rwlock_unlock(&list[i]->lock);
        coll_unref(list[i]);
    }
    kite_free(list);
    return KITE_OK;
}
