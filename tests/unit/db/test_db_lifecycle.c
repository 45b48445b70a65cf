/* test_db_lifecycle.c — background index builds with compaction and reopen, orphan and
 * corrupt files, read-only mode. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "alloc.h"
#include "db_test_util.h"

/* The index manager's test seam (src/db/db.h). */
extern int db_test_build_fail_rc;

static int files_with(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

/* Indexed rows and state of the collection's only index; *reason (if asked) is owned. */
static uint64_t index_info(kite_db *db, const char *coll, int *state, char **reason)
{
    kite_index_info *ii;
    size_t n;
    kite_err e;
    ASSERT_OK(kite_index_describe(db, NULL, coll, NULL, &ii, &n, &e));
    ASSERT_EQ_INT(n, 1);
    uint64_t v = ii[0].indexed_rows;
    *state = ii[0].state;
    if (reason)
        *reason = kite_strdup(ii[0].fail_reason);
    kite_index_info_free(ii, n);
    return v;
}

static uint64_t indexed_rows(kite_db *db, const char *coll, int *state)
{
    return index_info(db, coll, state, NULL);
}

static void wait_rows(kite_db *db, const char *coll, uint64_t want)
{
    int st = 0;
    for (int i = 0; i < 6000; i++) { /* up to 60 s: sanitizer builds are slow */
        if (indexed_rows(db, coll, &st) == want && st == 3)
            return;
        usleep(10000);
    }
    TEST_FAIL_("indexed rows never reached %llu", (unsigned long long)want);
}

/* Collection "c" of n flushed rows of dim-d vectors with an HNSW index on them, built. */
static kite_db *open_indexed(const char *dir, int dim, size_t n, const char *params)
{
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", dim, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, n, dim, NULL, &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = params;
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    wait_rows(db, "c", n);
    return db;
}

/* Nearest row's id to row id's vector (dim-d vectors; params: search params JSON or NULL). */
static int64_t top1_of(kite_db *db, int64_t id, int dim, const char *params)
{
    float q[64];
    tu_vec(id, dim, q);
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.limit = 1;
    sp.params_json = params;
    kite_result *r;
    kite_err e;
    int rc = kite_search(db, NULL, "c", &sp, &r, &e);
    if (rc)
        TEST_FAIL_("search: %d %s", rc, e.message);
    int64_t v = r->n_rows ? ((const int64_t *)r->ids.data)[0] : -1;
    kite_result_free(r);
    return v;
}

static int64_t top1(kite_db *db, int64_t id)
{
    return top1_of(db, id, 8, NULL);
}

TEST(db_index_after_data_compaction_and_reopen)
{
    const char *dir = kite_test_tmpdir();
    char cdir[1024];
    snprintf(cdir, sizeof(cdir), "%s/collections/1", dir);
    kite_db *db = open_indexed(dir, 8, 600, "{\"M\":8,\"efConstruction\":40}");
    kite_err e;
    ASSERT_EQ_INT(files_with(cdir, "idx-"), 1);
    ASSERT_EQ_INT(top1(db, 123), 123);
    kite_write_result wr;
    ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id < 300", NULL, &wr, &e));
    ASSERT_OK(kite_collection_compact(db, NULL, "c", &e));
    wait_rows(db, "c", 300);
    ASSERT_EQ_INT(files_with(cdir, "idx-"), 1);
    ASSERT_EQ_INT(files_with(cdir, "seg-"), 1);
    ASSERT_EQ_INT(files_with(cdir, "del-"), 0);
    ASSERT_EQ_INT(top1(db, 456), 456);
    ASSERT_NE_INT(top1(db, 123), 123);
    kite_close(db);
    db = tu_open(dir);
    int st;
    ASSERT_EQ_INT(indexed_rows(db, "c", &st), 300); /* loaded from its file */
    ASSERT_EQ_INT(top1(db, 456), 456);
    ASSERT_EQ_INT(tu_count(db, "c"), 300);
    kite_close(db);
}

TEST(db_orphans_removed_and_corrupt_index_detected)
{
    const char *dir = kite_test_tmpdir();
    char cdir[1024], path[1200];
    snprintf(cdir, sizeof(cdir), "%s/collections/1", dir);
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    ASSERT_OK(tu_insert_basic(db, "c", 0, 100, 8, NULL, &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    wait_rows(db, "c", 100);
    kite_close(db);
    /* Leftovers of a crash: a temp file and an unreferenced segment. */
    snprintf(path, sizeof(path), "%s/seg-00000000000000000099.kseg", cdir);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    ASSERT(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/MANIFEST.tmp-1-1", cdir);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    db = tu_open(dir);
    ASSERT_EQ_INT(files_with(cdir, "seg-"), 1);
    ASSERT_EQ_INT(files_with(cdir, "MANIFEST.tmp"), 0);
    ASSERT_EQ_INT(tu_count(db, "c"), 100);
    kite_close(db);
    /* Corrupt the index file: a derived file, so the damage is detected and logged
     * at open, the segment is searched exactly meanwhile and the index rebuilt
     * (docs/INDEXES.md); queries keep returning every row. */
    DIR *d = opendir(cdir);
    struct dirent *de;
    path[0] = 0;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "idx-", 4) == 0)
            snprintf(path, sizeof(path), "%s/%s", cdir, de->d_name);
    closedir(d);
    ASSERT(path[0]);
    fd = open(path, O_RDWR);
    ASSERT(fd >= 0);
    ASSERT_EQ_INT(pwrite(fd, "XX", 2, 100), 2);
    close(fd);
    db = tu_open(dir);
    ASSERT_EQ_INT(tu_count(db, "c"), 100);
    wait_rows(db, "c", 100);
    kite_close(db);
    ASSERT(files_with(cdir, "idx-") >= 1);
}

TEST(db_read_only_refuses_writes)
{
    const char *dir = kite_test_tmpdir();
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 10, 4, NULL, &e));
    kite_close(db);
    kite_options o;
    kite_options_init(&o);
    o.read_only = true;
    db = tu_open_opts(dir, &o);
    ASSERT_EQ_INT(tu_insert_basic(db, "c", 10, 10, 4, NULL, &e), KITE_EREADONLY);
    ASSERT_EQ_INT(tu_query_count(db, "c", "id >= 0"), 10);
    kite_close(db);
}

TEST(db_describe_index_inprogress_then_finished)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 200;
    kite_db *db = tu_open_opts(kite_test_tmpdir(), &o);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    for (int b = 0; b < 4; b++)
        ASSERT_OK(tu_insert_basic(db, "c", b * 250, 250, 8, NULL, &e));
    /* Searches are exact or indexed, never wrong, while builds run. */
    for (int i = 0; i < 20; i++)
        ASSERT_EQ_INT(top1(db, i * 37), i * 37);
    wait_rows(db, "c", 1000);
    kite_close(db);
}

/* A failed build is reported: describe says Failed (4) with the segment and the reason,
 * searches still return every row (exact scan), and a retry after reopen clears it. */
static int wait_state_not_building(kite_db *db, const char *coll, char **reason)
{
    for (int i = 0; i < 1000; i++) {
        int st;
        index_info(db, coll, &st, reason);
        if (st != 2)
            return st;
        kite_free(*reason);
        usleep(10000);
    }
    TEST_FAIL_("index build never finished");
}

TEST(db_failed_build_reported_then_retried)
{
    const char *dir = kite_test_tmpdir();
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", 8, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 400, 8, NULL, &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
    db_test_build_fail_rc = KITE_ENOMEM;
    kite_index_params ip;
    kite_index_params_init(&ip);
    ip.field_name = "vec";
    ip.index_type = "HNSW";
    ip.metric_type = "L2";
    ip.params_json = "{\"M\":8,\"efConstruction\":40}";
    ASSERT_OK(kite_index_create(db, NULL, "c", &ip, &e));
    char *why = NULL;
    ASSERT_EQ_INT(wait_state_not_building(db, "c", &why), 4);
    ASSERT_CONTAINS(why, "segment ");
    ASSERT_CONTAINS(why, "injected build failure");
    kite_free(why);
    int st;
    ASSERT_EQ_INT(indexed_rows(db, "c", &st), 0);
    ASSERT_EQ_INT(top1(db, 123), 123); /* searched exactly meanwhile */
    kite_close(db);
    db_test_build_fail_rc = 0;
    db = tu_open(dir); /* recovery queues the missing build again */
    wait_rows(db, "c", 400);
    ASSERT_EQ_INT(wait_state_not_building(db, "c", &why), 3);
    ASSERT_STR_EQ(why, "");
    kite_free(why);
    ASSERT_EQ_INT(top1(db, 321), 321);
    kite_close(db);
}

/*
 * An index holding its own copy of the vectors (HNSW's default split walk)
 * lets the segment's mapped vector pages go once it is loaded, after a build
 * and after reopen, so the vectors are not resident twice; searches and
 * queries still read the segment.
 */
TEST(db_index_with_own_rows_releases_segment_pages)
{
    const char *dir = kite_test_tmpdir();
    char cdir[1024];
    snprintf(cdir, sizeof(cdir), "%s/collections/1", dir);
    const int dim = 64;
    const size_t n = 4000; /* 1 MiB of vectors */
    kite_db *db = open_indexed(dir, dim, n, "{\"M\":12,\"efConstruction\":60}");
    const long vec_bytes = (long)(n * (size_t)dim * 4);
    char segs[4096];
    ASSERT(realpath(cdir, segs) != NULL);
    strcat(segs, "/seg-");
    for (int round = 0; round < 2; round++) {
        long rss = kite_test_mapped_rss(segs);
        fprintf(stderr, "  round %d: segment mapping rss %ld bytes (vectors %ld)\n", round, rss,
                vec_bytes);
        ASSERT(rss > 0); /* the segment is mapped (its other columns were read) */
        ASSERT(rss < vec_bytes / 2);
        ASSERT_EQ_INT(top1_of(db, 1234, dim, "{\"ef\":200}"), 1234);
        kite_close(db);
        db = tu_open(dir);
        int st;
        ASSERT_EQ_INT(indexed_rows(db, "c", &st), n); /* loaded from its file */
    }
    kite_close(db);
}
