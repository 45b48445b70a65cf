/* test_db_oom.c — allocation-failure loops: the Nth kite_malloc fails during insert and
 * search; every call returns an error or succeeds, and a reopen recovers every acked row. */
#include "alloc.h"
#include "db_test_util.h"

TEST_TIMEOUT(db_oom_loop_insert_search, 300)
{
    const char *dir = kite_test_tmpdir();
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 20, 4, NULL, &e));
    int64_t acked = 20, next = 1000, failed = 0;
    for (uint64_t n = 1; n < 400; n++) {
        kite_alloc_fail_at(n, false);
        int rc = tu_insert_basic(db, "c", next, 5, 4, NULL, &e);
        kite_alloc_fail_at(0, false);
        if (rc == KITE_OK)
            acked += 5;
        else
            failed++;
        next += 5;
        /* A failed apply marks the collection unusable until reopen. */
        uint64_t rows_now;
        if (rc != KITE_OK && kite_collection_row_count(db, NULL, "c", &rows_now, &e) != KITE_OK) {
            kite_close(db);
            db = tu_open(dir);
        }
        float q[4] = {0.5f, 0.5f, 0.5f, 0.5f};
        kite_search_params sp;
        kite_search_params_init(&sp);
        sp.vectors = q;
        sp.nq = 1;
        sp.filter = "num >= 0";
        kite_result *r = NULL;
        kite_alloc_fail_at(n, false);
        rc = kite_search(db, NULL, "c", &sp, &r, &e);
        kite_alloc_fail_at(0, false);
        if (rc == KITE_OK)
            kite_result_free(r);
        else
            ASSERT(rc == KITE_ENOMEM || rc == KITE_ECORRUPT || rc == KITE_EEXPR ||
                   rc == KITE_EINVAL);
    }
    ASSERT(failed > 10);     /* the loop did hit allocations */
    ASSERT(acked > 20);      /* and later N let inserts through */
    kite_close(db);
    db = tu_open(dir);
    uint64_t rows = tu_count(db, "c");
    ASSERT(rows >= (uint64_t)acked);
    kite_close(db);
}
