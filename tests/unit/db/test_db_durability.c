/* test_db_durability.c — persistence, WAL replay after a crash (fork + _exit), fault
 * injection through the fault VFS, corrupted files, concurrent writers. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db_test_util.h"
#include "vfs.h"

static int64_t count_ids(kite_db *db, const char *coll, const int64_t *ids, size_t n)
{
    kite_column c = {"id", KITE_DT_INT64, 0, 0, n, ids, NULL, NULL};
    kite_result *r;
    kite_err e;
    int rc = kite_get(db, NULL, coll, &c, NULL, 0, NULL, 0, &r, &e);
    if (rc)
        TEST_FAIL_("get: %d %s", rc, e.message);
    int64_t got = (int64_t)r->n_rows;
    kite_result_free(r);
    return got;
}

TEST_TIMEOUT(db_crash_replay_every_acked_row, 120)
{
    const char *dir = kite_test_tmpdir();
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 1;
    o.segment_max_rows = 300;
    kite_db *db = tu_open_opts(dir, &o);
    tu_create_basic(db, "c", 4, false, false);
    kite_close(db);
    int fds[2];
    ASSERT_OK(pipe(fds));
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        kite_db *cdb = NULL;
        kite_err e;
        if (kite_open(dir, &o, &cdb, &e))
            _exit(2);
        for (int64_t b = 0; b < 40; b++) {
            if (tu_insert_basic(cdb, "c", b * 25, 25, 4, NULL, &e))
                _exit(3);
            if (b == 10 && kite_collection_flush(cdb, NULL, "c", &e))
                _exit(4);
            if (b % 7 == 3) {
                char f[64];
                snprintf(f, sizeof(f), "id == %lld", (long long)(b * 25));
                kite_write_result wr;
                if (kite_delete(cdb, NULL, "c", NULL, f, NULL, &wr, &e))
                    _exit(5);
            }
            int64_t acked = b;
            if (write(fds[1], &acked, 8) != 8)
                _exit(6);
        }
        _exit(0); /* no kite_close: a crash as far as the files go */
    }
    close(fds[1]);
    int64_t last = -1, v;
    while (read(fds[0], &v, 8) == 8)
        last = v;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    ASSERT(WIFEXITED(st));
    ASSERT_EQ_INT(WEXITSTATUS(st), 0);
    ASSERT_EQ_INT(last, 39);
    db = tu_open_opts(dir, &o);
    int64_t ids[1000];
    size_t n = 0, deleted = 0;
    for (int64_t b = 0; b <= last; b++)
        for (int64_t i = 0; i < 25; i++) {
            if (b % 7 == 3 && i == 0) {
                deleted++;
                continue;
            }
            ids[n++] = b * 25 + i;
        }
    ASSERT_EQ_INT(count_ids(db, "c", ids, n), n);
    ASSERT_EQ_INT(tu_count(db, "c"), 1000 - deleted);
    /* Replay is idempotent: reopen again, same state. */
    kite_close(db);
    db = tu_open_opts(dir, &o);
    ASSERT_EQ_INT(tu_count(db, "c"), 1000 - deleted);
    kite_close(db);
}

TEST(db_fsync_failure_refuses_writes_keeps_reads)
{
    const char *dir = kite_test_tmpdir();
    struct kite_vfs *fv = vfs_fault_new(kite_vfs_posix());
    kite_options o;
    kite_options_init(&o);
    o.vfs = fv;
    kite_db *db = tu_open_opts(dir, &o);
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    tu_create_basic(db, "d", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 50, 4, NULL, &e));
    vfs_fault_arm(fv, KITE_VFS_FDATASYNC, 1, EIO, false);
    int rc = tu_insert_basic(db, "c", 50, 50, 4, NULL, &e);
    ASSERT_NE_INT(rc, KITE_OK);
    ASSERT_CONTAINS(e.message, "not durable");
    vfs_fault_disarm(fv);
    /* Sticky: later writes refused, reads work. */
    ASSERT_EQ_INT(tu_insert_basic(db, "c", 100, 5, 4, NULL, &e), KITE_EREADONLY);
    ASSERT_CONTAINS(e.message, "refuses writes");
    kite_write_result wr;
    ASSERT_EQ_INT(kite_delete(db, NULL, "c", NULL, "id < 3", NULL, &wr, &e), KITE_EREADONLY);
    ASSERT(tu_query_count(db, "c", "id < 50") == 50);
    /* Other collections have their own WAL. */
    ASSERT_OK(tu_insert_basic(db, "d", 0, 5, 4, NULL, &e));
    kite_close(db);
    vfs_fault_free(fv);
    db = tu_open(dir);
    int64_t ids[50];
    for (int i = 0; i < 50; i++)
        ids[i] = i;
    ASSERT_EQ_INT(count_ids(db, "c", ids, 50), 50);
    ASSERT_OK(tu_insert_basic(db, "c", 200, 5, 4, NULL, &e)); /* writable again */
    ASSERT_EQ_INT(tu_count(db, "d"), 5);
    kite_close(db);
}

TEST(db_enospc_is_a_clear_error)
{
    const char *dir = kite_test_tmpdir();
    struct kite_vfs *fv = vfs_fault_new(kite_vfs_posix());
    kite_options o;
    kite_options_init(&o);
    o.vfs = fv;
    kite_db *db = tu_open_opts(dir, &o);
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 10, 4, NULL, &e));
    vfs_fault_arm(fv, KITE_VFS_PWRITE, 1, ENOSPC, true);
    int rc = tu_insert_basic(db, "c", 10, 10, 4, NULL, &e);
    ASSERT(rc == KITE_ENOSPC || rc == KITE_EREADONLY);
    ASSERT_CONTAINS(e.message, "c");
    ASSERT_EQ_INT(tu_query_count(db, "c", "id >= 0"), 10);
    vfs_fault_disarm(fv);
    kite_close(db);
    vfs_fault_free(fv);
    db = tu_open(dir);
    ASSERT_EQ_INT(tu_count(db, "c"), 10);
    kite_close(db);
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    ASSERT(fd >= 0);
    unsigned char b;
    ASSERT_EQ_INT(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    ASSERT_EQ_INT(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

TEST(db_corrupt_segment_only_that_collection_fails)
{
    const char *dir = kite_test_tmpdir();
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "bad", 4, false, false);
    tu_create_basic(db, "good", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "bad", 0, 20, 4, NULL, &e));
    ASSERT_OK(tu_insert_basic(db, "good", 0, 20, 4, NULL, &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "bad", &e));
    ASSERT_OK(kite_collection_flush(db, NULL, "good", &e));
    kite_collection_info *info;
    ASSERT_OK(kite_collection_describe(db, NULL, "bad", &info, &e));
    char path[1024];
    snprintf(path, sizeof(path), "%s/collections/%lld/seg-%020d.kseg", dir,
             (long long)info->collection_id, 1);
    kite_collection_info_free(info);
    kite_close(db);
    flip_byte(path, 200);
    db = tu_open(dir);
    float q[4] = {0};
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    kite_result *r;
    ASSERT_EQ_INT(kite_search(db, NULL, "bad", &sp, &r, &e), KITE_ECORRUPT);
    ASSERT_CONTAINS(e.message, "bad");
    ASSERT_EQ_INT(tu_insert_basic(db, "bad", 100, 1, 4, NULL, &e), KITE_ECORRUPT);
    ASSERT_EQ_INT(kite_collection_load(db, NULL, "bad", &e), KITE_ECORRUPT);
    ASSERT_OK(kite_search(db, NULL, "good", &sp, &r, &e));
    kite_result_free(r);
    ASSERT_EQ_INT(tu_count(db, "good"), 20);
    kite_close(db);
    /* Nothing was deleted: the file is still there. */
    ASSERT_EQ_INT(access(path, F_OK), 0);
    /* A collection directory removed behind our back is damage, not an empty collection. */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/collections/2", dir);
    ASSERT_OK(system(cmd));
    db = tu_open(dir);
    ASSERT_EQ_INT(kite_search(db, NULL, "good", &sp, &r, &e), KITE_ECORRUPT);
    ASSERT_CONTAINS(e.message, "missing");
    kite_close(db);
}

struct wctx {
    kite_db *db;
    int64_t base;
    int rc;
};

static void *writer(void *arg)
{
    struct wctx *w = arg;
    kite_err e;
    for (int i = 0; i < 30 && !w->rc; i++)
        w->rc = tu_insert_basic(w->db, "c", w->base + i * 10, 10, 4, NULL, &e);
    return NULL;
}

static void *searcher(void *arg)
{
    struct wctx *w = arg;
    float q[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    kite_search_params sp;
    kite_search_params_init(&sp);
    sp.vectors = q;
    sp.nq = 1;
    sp.filter = "num >= 0";
    for (int i = 0; i < 50 && !w->rc; i++) {
        kite_result *r;
        kite_err e;
        w->rc = kite_search(w->db, NULL, "c", &sp, &r, &e);
        if (!w->rc)
            kite_result_free(r);
    }
    return NULL;
}

TEST(db_concurrent_writers_and_searchers)
{
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 2;
    o.segment_max_rows = 256;
    kite_db *db = tu_open_opts(kite_test_tmpdir(), &o);
    tu_create_basic(db, "c", 4, false, false);
    pthread_t t[5];
    struct wctx w[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct wctx){db, i * 1000, 0};
        pthread_create(&t[i], NULL, i < 4 ? writer : searcher, &w[i]);
    }
    for (int i = 0; i < 5; i++) {
        pthread_join(t[i], NULL);
        ASSERT_OK(w[i].rc);
    }
    ASSERT_EQ_INT(tu_count(db, "c"), 1200);
    kite_close(db);
    db = tu_open_opts(kite_test_tmpdir(), &o);
    ASSERT_EQ_INT(tu_count(db, "c"), 1200);
    ASSERT_EQ_INT(tu_query_count(db, "c", "num >= 1000 and num < 2000"), 300);
    kite_close(db);
}

TEST(db_drop_collection_removes_files)
{
    const char *dir = kite_test_tmpdir();
    kite_db *db = tu_open(dir);
    kite_err e;
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(tu_insert_basic(db, "c", 0, 10, 4, NULL, &e));
    char path[1024];
    snprintf(path, sizeof(path), "%s/collections/1", dir);
    ASSERT_EQ_INT(access(path, F_OK), 0);
    ASSERT_OK(kite_collection_drop(db, NULL, "c", &e));
    ASSERT_NE_INT(access(path, F_OK), 0);
    bool has;
    ASSERT_OK(kite_collection_has(db, NULL, "c", &has, &e));
    ASSERT(!has);
    kite_close(db);
    /* A crash between the catalog write of the drop and the directory removal. */
    ASSERT_OK(mkdir(path, 0755));
    db = tu_open(dir);
    ASSERT_NE_INT(access(path, F_OK), 0);
    ASSERT_OK(kite_collection_has(db, NULL, "c", &has, &e));
    ASSERT(!has);
    kite_kv kv = {"ttl", "10"};
    tu_create_basic(db, "c", 4, false, false);
    ASSERT_OK(kite_collection_alter_properties(db, NULL, "c", &kv, 1, &e));
    kite_close(db);
    db = tu_open(dir);
    kite_collection_info *info;
    ASSERT_OK(kite_collection_describe(db, NULL, "c", &info, &e));
    ASSERT_EQ_INT(info->n_properties, 1);
    ASSERT_STR_EQ(info->properties[0].value, "10");
    ASSERT_EQ_INT(info->load_state, KITE_LOAD_LOADED);
    kite_collection_info_free(info);
    kite_close(db);
}

/* I/O-error loop over a checkpoint: fail the Nth vfs call of flush (segment write,
 * delete file, manifest switch, WAL truncation); reopening must always give back every
 * acked row, and the files must open cleanly. */
TEST_TIMEOUT(db_ioerr_loop_during_flush, 300)
{
    for (uint64_t n = 1; n <= 60; n++) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/run%llu", kite_test_tmpdir(), (unsigned long long)n);
        struct kite_vfs *fv = vfs_fault_new(kite_vfs_posix());
        kite_options o;
        kite_options_init(&o);
        o.vfs = fv;
        o.n_threads = 1;
        kite_db *db = tu_open_opts(dir, &o);
        kite_err e;
        tu_create_basic(db, "c", 4, false, false);
        ASSERT_OK(tu_insert_basic(db, "c", 0, 50, 4, NULL, &e));
        ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
        kite_write_result wr;
        ASSERT_OK(kite_delete(db, NULL, "c", NULL, "id < 5", NULL, &wr, &e));
        ASSERT_OK(tu_insert_basic(db, "c", 50, 50, 4, NULL, &e));
        vfs_fault_arm(fv, -1, n, EIO, false);
        (void)kite_collection_flush(db, NULL, "c", &e);
        vfs_fault_disarm(fv);
        kite_close(db);
        vfs_fault_free(fv);
        db = tu_open(dir);
        ASSERT_EQ_INT(tu_count(db, "c"), 95);
        ASSERT_EQ_INT(tu_query_count(db, "c", "id < 5"), 0);
        ASSERT_OK(kite_collection_flush(db, NULL, "c", &e));
        kite_close(db);
        db = tu_open(dir);
        ASSERT_EQ_INT(tu_count(db, "c"), 95);
        kite_close(db);
    }
}
