/* Unit tests for wal_counters() (src/storage/wal.c): appends, bytes and
 * fdatasync counts, checked against the fault VFS's own count of the
 * fdatasync calls that really reached the file system. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "err.h"
#include "storage_test_util.h"
#include "test.h"
#include "vfs.h"
#include "wal.h"

#define OVH 29u

static const char *cdir(void)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s/walc", kite_test_tmpdir());
    return buf;
}

static void counters(struct wal *w, uint64_t *a, uint64_t *s, uint64_t *b)
{
    *a = *s = *b = 12345;
    wal_counters(w, a, s, b);
}

TEST(wal_counters_append_bytes_sync)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    struct wal *w = NULL;
    kite_err err;
    uint64_t a, s, b, expect_bytes = 0;
    ASSERT_OK(wal_open(vfs, cdir(), NULL, 1, NULL, NULL, &w, &err));
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(a, 0);
    ASSERT_EQ_INT(s, 0);
    ASSERT_EQ_INT(b, 0);
    vfs_fault_arm(vfs, -1, 0, 0, false); /* reset the call counts */
    for (uint64_t i = 1; i <= 40; i++) {
        uint64_t lsn = 0;
        ASSERT_OK(tappend(w, &lsn, i));
        expect_bytes += OVH + tpayload_len(i);
    }
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(a, 40);
    ASSERT_EQ_INT(s, 0); /* appends alone never sync */
    ASSERT_EQ_INT(b, expect_bytes);
    ASSERT_OK(wal_sync(w, 40));
    ASSERT_OK(wal_sync(w, 17)); /* already durable: no fdatasync */
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(s, 1);
    ASSERT_EQ_INT(s, vfs_fault_count(vfs, KITE_VFS_FDATASYNC));
    /* NULL outputs are allowed; a NULL log reads as zeros. */
    wal_counters(w, NULL, &s, NULL);
    ASSERT_EQ_INT(s, 1);
    wal_counters(NULL, &a, &s, &b);
    ASSERT_EQ_INT(a + s + b, 0);
    wal_close(w);

    /* Counters describe this open only: a reopen (which replays) starts at 0. */
    struct tcollect c;
    memset(&c, 0, sizeof(c));
    ASSERT_OK(wal_open(vfs, cdir(), NULL, 1, tcollect_fn, &c, &w, &err));
    ASSERT_EQ_INT(c.count, 40);
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(a + s + b, 0);
    wal_close(w);
    vfs_fault_free(vfs);
}

struct writer {
    struct wal *w;
    int n;
    int rc;
};

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    uint8_t p[16] = {0};
    for (int i = 0; i < wr->n && wr->rc == KITE_OK; i++) {
        uint64_t lsn = 0;
        wr->rc = wal_append(wr->w, 1, p, sizeof(p), &lsn);
        if (wr->rc == KITE_OK)
            wr->rc = wal_sync(wr->w, lsn);
    }
    return NULL;
}

TEST_TIMEOUT(wal_counters_concurrent_group_commit, 60)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    struct wal *w = NULL;
    kite_err err;
    ASSERT_OK(wal_open(vfs, cdir(), NULL, 1, NULL, NULL, &w, &err));
    vfs_fault_arm(vfs, -1, 0, 0, false);
    enum { NT = 4, PER = 50 };
    pthread_t th[NT];
    struct writer wr[NT];
    for (int t = 0; t < NT; t++) {
        wr[t] = (struct writer){w, PER, KITE_OK};
        ASSERT_EQ_INT(pthread_create(&th[t], NULL, writer_main, &wr[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        ASSERT_OK(wr[t].rc);
    }
    uint64_t a, s, b;
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(a, NT * PER);
    ASSERT_EQ_INT(b, (uint64_t)NT * PER * (OVH + 16));
    ASSERT_EQ_INT(s >= 1 && s <= a, 1);
    /* Every counted sync is a real fdatasync and every fdatasync is counted
     * (no rotation here, so the WAL made no other fdatasync calls). */
    ASSERT_EQ_INT(s, vfs_fault_count(vfs, KITE_VFS_FDATASYNC));
    wal_close(w);
    vfs_fault_free(vfs);
}

TEST(wal_counters_rotation_and_failure)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    struct wal *w = NULL;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 512, .max_record_bytes = 0};
    ASSERT_OK(wal_open(vfs, cdir(), &o, 1, NULL, NULL, &w, &err));
    vfs_fault_arm(vfs, -1, 0, 0, false);
    uint8_t p[100] = {0};
    for (int i = 0; i < 20; i++) /* 129 bytes each: 3 per 512-byte file */
        ASSERT_OK(wal_append(w, 2, p, sizeof(p), NULL));
    uint64_t a, s, b;
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(a, 20);
    ASSERT_EQ_INT(b, 20 * 129);
    /* Each rotation fdatasyncs the old file's records (counted) and the new
     * file's header (not a record flush, not counted). */
    uint64_t fds = vfs_fault_count(vfs, KITE_VFS_FDATASYNC);
    ASSERT_EQ_INT(s, 6); /* files 1..7 hold 3+3+3+3+3+3+2 records */
    ASSERT_EQ_INT(fds, 2 * s);

    /* A failing fdatasync is still a call made: counted; the log is then
     * sticky-failed and refused appends are not counted. */
    vfs_fault_arm(vfs, KITE_VFS_FDATASYNC, 1, EIO, true);
    ASSERT_EQ_INT(wal_sync(w, 20), KITE_EIO);
    ASSERT_EQ_INT(wal_append(w, 2, p, sizeof(p), NULL), KITE_EREADONLY);
    counters(w, &a, &s, &b);
    ASSERT_EQ_INT(a, 20);
    ASSERT_EQ_INT(s, 7);
    ASSERT_EQ_INT(b, 20 * 129);
    wal_close(w);
    vfs_fault_free(vfs);
}
