/* Unit tests for kite_db_stats_get (src/db/stats.c): segment, row, index
 * progress and WAL counters move as inserts, deletes, flushes and index builds
 * happen, and agree with kite_index_describe. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "db_test_util.h"

#define DIM 8

static kite_db_stats stats(kite_db *db)
{
    kite_db_stats st;
    kite_err e;
    memset(&st, 0xab, sizeof(st));
    int rc = kite_db_stats_get(db, &st, &e);
    if (rc)
        TEST_FAIL_("kite_db_stats_get: %d %s", rc, e.message);
    ASSERT_EQ_INT(st.version, KITE_DB_STATS_VERSION);
    return st;
}

/* Sum of describe's total/indexed rows over every index of `coll`. */
static void describe_sums(kite_db *db, const char *coll, uint64_t *total, uint64_t *indexed)
{
    kite_index_info *ii = NULL;
    size_t n = 0;
    kite_err e;
    *total = *indexed = 0;
    if (kite_index_describe(db, NULL, coll, NULL, &ii, &n, &e) != KITE_OK)
        return; /* no index */
    for (size_t i = 0; i < n; i++) {
        *total += ii[i].total_rows;
        *indexed += ii[i].indexed_rows;
    }
    kite_index_info_free(ii, n);
}

static void create_hnsw(kite_db *db, const char *coll)
{
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = "{\"M\":8,\"efConstruction\":32}";
    kite_err e;
    int rc = kite_index_create(db, NULL, coll, &ip, &e);
    if (rc)
        TEST_FAIL_("index create: %d %s", rc, e.message);
}

static kite_db_stats wait_no_pending(kite_db *db)
{
    for (int i = 0; i < 3000; i++) {
        kite_db_stats st = stats(db);
        if (st.index_builds_pending == 0 && st.index_rows_indexed == st.index_rows_total)
            return st;
        usleep(10000);
    }
    TEST_FAIL_("index builds did not finish");
    return stats(db);
}

TEST(db_stats_counters_follow_writes_flush_and_index)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_err e;
    kite_db_stats st = stats(db);
    ASSERT_EQ_INT(st.collections, 0);
    ASSERT_EQ_INT(st.rows + st.segments_sealed + st.segments_growing, 0);
    ASSERT_EQ_INT(st.wal_appends + st.wal_syncs + st.wal_bytes, 0);
    ASSERT_EQ_INT(st.index_rows_total + st.index_builds_pending + st.index_builds_failed, 0);

    tu_create_basic(db, "c", DIM, false, false);
    kite_db_stats s0 = stats(db);
    ASSERT_EQ_INT(s0.collections, 1);
    ASSERT_EQ_INT(s0.rows, 0);

    for (int b = 0; b < 3; b++)
        ASSERT_OK(tu_insert_basic(db, "c", b * 100, 100, DIM, NULL, &e));
    st = stats(db);
    ASSERT_EQ_INT(st.rows, 300);
    ASSERT_EQ_INT(st.wal_appends - s0.wal_appends, 3); /* one record per write */
    ASSERT(st.wal_syncs - s0.wal_syncs >= 1);
    ASSERT(st.wal_syncs - s0.wal_syncs <= 3);
    ASSERT(st.wal_bytes - s0.wal_bytes > 300 * DIM * 4); /* the vectors alone */
    ASSERT(st.segments_growing >= 1);
    ASSERT_EQ_INT(st.segments_sealed, 0);
    uint64_t dt, di;
    describe_sums(db, "c", &dt, &di);
    ASSERT_EQ_INT(st.index_rows_total, dt);
    ASSERT_EQ_INT(st.index_rows_indexed, di);

    /* Flush seals the growing data. */
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    kite_db_stats s1 = stats(db);
    ASSERT_EQ_INT(s1.rows, 300);
    ASSERT(s1.segments_sealed >= 1);
    ASSERT_EQ_INT(s1.segments_growing, 0);
    ASSERT_EQ_INT(s1.wal_appends, st.wal_appends); /* flush appends no record */

    /* An HNSW index: its rows become indexed once the background builds end. */
    create_hnsw(db, "c");
    st = wait_no_pending(db);
    describe_sums(db, "c", &dt, &di);
    ASSERT(st.index_rows_total >= 300);
    ASSERT_EQ_INT(st.index_rows_total, dt);
    ASSERT_EQ_INT(st.index_rows_indexed, di);
    ASSERT_EQ_INT(st.index_rows_indexed, st.index_rows_total);
    ASSERT_EQ_INT(st.index_builds_failed, 0);
    uint64_t per_row_indexes = st.index_rows_total / 300;
    ASSERT_EQ_INT(st.index_rows_total, per_row_indexes * 300);

    /* New growing rows are counted in total but not indexed. */
    ASSERT_OK(tu_insert_basic(db, "c", 1000, 50, DIM, NULL, &e));
    st = stats(db);
    ASSERT_EQ_INT(st.rows, 350);
    ASSERT_EQ_INT(st.segments_growing, 1);
    describe_sums(db, "c", &dt, &di);
    ASSERT_EQ_INT(st.index_rows_total, dt);
    ASSERT_EQ_INT(st.index_rows_indexed, di);
    ASSERT_EQ_INT(st.index_rows_total, per_row_indexes * 350);
    ASSERT(st.index_rows_indexed < st.index_rows_total);

    /* A delete is one WAL record and lowers the live rows. */
    kite_write_result wr;
    ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id < 10", NULL, &wr, &e));
    kite_write_result_free(&wr);
    kite_db_stats s2 = stats(db);
    ASSERT_EQ_INT(s2.rows, 340);
    ASSERT_EQ_INT(s2.wal_appends, st.wal_appends + 1);

    /* Flush again: the new segment gets built too. */
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    st = wait_no_pending(db);
    ASSERT_EQ_INT(st.segments_growing, 0);
    ASSERT(st.segments_sealed >= 2);
    ASSERT_EQ_INT(st.index_rows_indexed, per_row_indexes * 340);

    /* A second collection is added to the totals; dropping it removes it. */
    tu_create_basic(db, "d", DIM, false, false);
    ASSERT_OK(tu_insert_basic(db, "d", 0, 20, DIM, NULL, &e));
    kite_db_stats s3 = stats(db);
    ASSERT_EQ_INT(s3.collections, 2);
    ASSERT_EQ_INT(s3.rows, 360);
    ASSERT_OK(kite_collection_drop(db, NULL, "d", &e));
    s3 = stats(db);
    ASSERT_EQ_INT(s3.collections, 1);
    ASSERT_EQ_INT(s3.rows, 340);
    kite_close(db);
}

struct writer {
    kite_db *db;
    int64_t base;
    int n;
    int rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    kite_err e;
    for (int i = 0; i < w->n && w->rc == KITE_OK; i++)
        w->rc = tu_insert_basic(w->db, "c", w->base + i * 10, 10, DIM, NULL, &e);
    return NULL;
}

TEST_TIMEOUT(db_stats_concurrent_writers_count_every_append, 60)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    tu_create_basic(db, "c", DIM, false, false);
    kite_db_stats s0 = stats(db);
    enum { NT = 4, PER = 25 };
    pthread_t th[NT];
    struct writer w[NT];
    for (int t = 0; t < NT; t++) {
        w[t] = (struct writer){db, (int64_t)t * 100000, PER, KITE_OK};
        ASSERT_EQ_INT(pthread_create(&th[t], NULL, writer_main, &w[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        ASSERT_OK(w[t].rc);
    }
    kite_db_stats st = stats(db);
    ASSERT_EQ_INT(st.wal_appends - s0.wal_appends, NT * PER);
    ASSERT(st.wal_syncs - s0.wal_syncs >= 1);
    ASSERT(st.wal_syncs - s0.wal_syncs <= NT * PER);
    ASSERT_EQ_INT(st.rows, NT * PER * 10);
    kite_close(db);
}

TEST(db_stats_bad_arguments)
{
    kite_db *db = tu_open(kite_test_tmpdir());
    kite_db_stats st;
    kite_err e;
    ASSERT_EQ_INT(kite_db_stats_get(db, NULL, &e), KITE_EINVAL);
    ASSERT_CONTAINS(e.message, "output");
    ASSERT_EQ_INT(kite_db_stats_get(NULL, &st, NULL), KITE_EINVAL);
    kite_close(db);
}
