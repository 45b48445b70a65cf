/* Unit tests for src/storage/wal.c: append/sync/replay, group commit, rotation,
 * truncation, torn tails, corruption detection, and injected I/O faults. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "endian.h"
#include "err.h"
#include "storage_test_util.h"
#include "test.h"
#include "vfs.h"
#include "wal.h"

#define HDR 24u
#define OVH 29u

static const char *wal_dir(void)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s/wal", kite_test_tmpdir());
    return buf;
}

/* Open, replay everything into c (payload-checked), return rc. */
static int reopen(struct kite_vfs *vfs, const char *dir, const struct wal_options *o,
                  uint64_t from, struct tcollect *c, struct wal **w, kite_err *err)
{
    memset(c, 0, sizeof(*c));
    c->check = true;
    return wal_open(vfs, dir, o, from, tcollect_fn, c, w, err);
}

/* Append records expect..expect+n-1 (payload from tpayload), syncing each if asked. */
static void append_n(struct wal *w, uint64_t first, uint64_t n, bool sync_each)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t lsn = 0;
        ASSERT_OK(tappend(w, &lsn, first + i));
        ASSERT_EQ_INT(lsn, first + i);
        if (sync_each)
            ASSERT_OK(wal_sync(w, lsn));
    }
}

TEST(wal_append_sync_reopen_replay)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.count, 0);
    ASSERT_EQ_INT(wal_last_lsn(w), 0);
    ASSERT_OK(wal_sync(w, 0)); /* nothing to do */
    append_n(w, 1, 100, false);
    ASSERT_EQ_INT(wal_last_lsn(w), 100);
    ASSERT_EQ_INT(wal_sync(w, 101), KITE_EINVAL); /* never appended */
    ASSERT_OK(wal_sync(w, 100));
    ASSERT_OK(wal_status(w));
    wal_close(w);

    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.count, 100);
    ASSERT_EQ_INT(c.first, 1);
    ASSERT_EQ_INT(c.last, 100);
    ASSERT(!c.bad);
    ASSERT_EQ_INT(wal_last_lsn(w), 100);
    append_n(w, 101, 5, true);
    wal_close(w);

    /* Partial replay from an LSN; empty payloads and a large one round-trip. */
    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 50, &c, &w, &err));
    ASSERT_EQ_INT(c.first, 50);
    ASSERT_EQ_INT(c.last, 105);
    ASSERT(!c.bad);
    uint64_t lsn = 0;
    ASSERT_OK(wal_append(w, 9, NULL, 0, &lsn));
    ASSERT_EQ_INT(lsn, 106);
    size_t big_len = 300000;
    uint8_t *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 13);
    ASSERT_OK(wal_append(w, 7, big, big_len, &lsn));
    ASSERT_OK(wal_sync(w, lsn));
    wal_close(w);
    free(big);
    ASSERT_OK(wal_open(vfs, wal_dir(), NULL, 106, NULL, NULL, &w, &err));
    ASSERT_EQ_INT(wal_last_lsn(w), 107);
    wal_close(w);
}

static int count_fn(uint64_t lsn, uint8_t type, const uint8_t *p, size_t len, void *u)
{
    (*(uint64_t *)u)++;
    return 0;
}

static int fail_fn(uint64_t lsn, uint8_t type, const uint8_t *p, size_t len, void *u)
{
    return lsn == 3 ? KITE_EDATA : 0;
}

TEST(wal_replay_callback_error_and_limits)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 0, .max_record_bytes = 100};
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    uint8_t big[101] = {0};
    ASSERT_EQ_INT(wal_append(w, 1, big, sizeof(big), NULL), KITE_ELIMIT);
    ASSERT_OK(wal_status(w)); /* a rejected append does not poison */
    append_n(w, 1, 5, false);
    ASSERT_OK(wal_sync(w, 5));
    wal_close(w);
    ASSERT_EQ_INT(wal_open(vfs, wal_dir(), &o, 1, fail_fn, NULL, &w, &err), KITE_EDATA);
    ASSERT(w == NULL);
    ASSERT_CONTAINS(err.message, "LSN 3");
    uint64_t n = 0;
    ASSERT_OK(wal_open(vfs, wal_dir(), &o, 1, count_fn, &n, &w, &err));
    ASSERT_EQ_INT(n, 5);
    wal_close(w);
    /* A checkpoint beyond the end of the log means files are missing. */
    ASSERT_EQ_INT(wal_open(vfs, wal_dir(), &o, 10, NULL, NULL, &w, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "missing");
    /* A fresh log starts at from_lsn. */
    char dir2[1024];
    snprintf(dir2, sizeof(dir2), "%s/w2", kite_test_tmpdir());
    ASSERT_OK(wal_open(vfs, dir2, NULL, 1000, NULL, NULL, &w, &err));
    uint64_t lsn = 0;
    ASSERT_OK(wal_append(w, 1, "x", 1, &lsn));
    ASSERT_EQ_INT(lsn, 1000);
    wal_close(w);
}

/* ---- group commit ------------------------------------------------------- */

static int slow_fdatasync(struct kite_file *f)
{
    struct timespec ts = {0, 2000000}; /* 2 ms: like a real disk (RELIABILITY.md §2) */
    nanosleep(&ts, NULL);
    return kite_vfs_posix()->fdatasync(f);
}

struct gc_arg {
    struct wal *w;
    int tid;
    int n;
    uint64_t *acked; /* n entries */
    int rc;
};

static void *gc_thread(void *p)
{
    struct gc_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        uint8_t payload[8];
        kite_put_u32(payload, (uint32_t)a->tid);
        kite_put_u32(payload + 4, (uint32_t)i);
        uint64_t lsn = 0;
        int rc = wal_append(a->w, (uint8_t)a->tid, payload, sizeof(payload), &lsn);
        if (rc == KITE_OK)
            rc = wal_sync(a->w, lsn);
        if (rc != KITE_OK) {
            a->rc = rc;
            return NULL;
        }
        a->acked[i] = lsn;
    }
    return NULL;
}

struct gc_seen {
    uint8_t *by_lsn_tid;
    uint32_t *by_lsn_seq;
    uint64_t max;
};

static int gc_replay(uint64_t lsn, uint8_t type, const uint8_t *p, size_t len, void *u)
{
    struct gc_seen *s = u;
    if (len != 8 || lsn > s->max || kite_get_u32(p) != type)
        return KITE_EDATA;
    s->by_lsn_tid[lsn] = type;
    s->by_lsn_seq[lsn] = kite_get_u32(p + 4);
    return 0;
}

TEST_TIMEOUT(wal_group_commit_4_threads, 60)
{
    enum { THREADS = 4, PER = 150 };
    struct kite_vfs slow = *kite_vfs_posix();
    slow.fdatasync = slow_fdatasync;
    struct kite_vfs *vfs = vfs_fault_new(&slow); /* used only to count calls */
    ASSERT(vfs != NULL);
    struct wal *w = NULL;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 16384, .max_record_bytes = 0};
    ASSERT_OK(wal_open(vfs, wal_dir(), &o, 1, NULL, NULL, &w, &err));
    vfs_fault_arm(vfs, -1, 0, 0, false); /* reset counters, no fault */
    pthread_t th[THREADS];
    struct gc_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (struct gc_arg){w, t + 1, PER, calloc(PER, sizeof(uint64_t)), 0};
        pthread_create(&th[t], NULL, gc_thread, &args[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    uint64_t syncs = vfs_fault_count(vfs, KITE_VFS_FDATASYNC);
    uint64_t appends = THREADS * PER;
    fprintf(stderr, "  group commit: %llu appends, %llu fdatasyncs\n",
            (unsigned long long)appends, (unsigned long long)syncs);
    ASSERT(syncs < appends);
    wal_close(w);

    struct gc_seen s = {calloc(appends + 1, 1), calloc(appends + 1, 4), appends};
    ASSERT_OK(wal_open(kite_vfs_posix(), wal_dir(), &o, 1, gc_replay, &s, &w, &err));
    ASSERT_EQ_INT(wal_last_lsn(w), appends);
    wal_close(w);
    for (int t = 0; t < THREADS; t++) {
        ASSERT_OK(args[t].rc);
        for (int i = 0; i < PER; i++) {
            uint64_t lsn = args[t].acked[i];
            ASSERT_EQ_INT(s.by_lsn_tid[lsn], t + 1);
            ASSERT_EQ_INT(s.by_lsn_seq[lsn], i);
        }
        free(args[t].acked);
    }
    free(s.by_lsn_tid);
    free(s.by_lsn_seq);
    vfs_fault_free(vfs);
}

/* ---- rotation and truncation ------------------------------------------- */

static size_t count_wal_files(const char *dir)
{
    char **names = NULL;
    size_t n = 0, k = 0;
    if (kite_vfs_posix()->list(kite_vfs_posix(), dir, &names, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(names[i], "wal-", 4) == 0 && !strstr(names[i], ".tmp-"))
            k++;
        kite_free(names[i]);
    }
    kite_free(names);
    return k;
}

TEST(wal_rotation_and_truncate_before)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 1024, .max_record_bytes = 0};
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    append_n(w, 1, 300, false);
    ASSERT_OK(wal_sync(w, 300));
    size_t files = count_wal_files(wal_dir());
    ASSERT(files > 5);
    /* A leftover temp file and an unrelated file are ignored. */
    ASSERT_EQ_INT(twrite_file(tpath(wal_dir(), "wal-00000000000000000001.log.tmp-1-2"),
                              (const uint8_t *)"junk", 4), 0);
    ASSERT_EQ_INT(twrite_file(tpath(wal_dir(), "README"), (const uint8_t *)"x", 1), 0);
    wal_close(w);

    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.count, 300);
    ASSERT(!c.bad);
    ASSERT_OK(wal_truncate_before(w, 150));
    size_t after = count_wal_files(wal_dir());
    ASSERT(after < files);
    ASSERT(after > 1);
    append_n(w, 301, 20, true);
    wal_close(w);

    ASSERT_OK(reopen(vfs, wal_dir(), &o, 150, &c, &w, &err));
    ASSERT_EQ_INT(c.first, 150);
    ASSERT_EQ_INT(c.last, 320);
    ASSERT(!c.bad);
    /* Everything below the end: only the active file stays. */
    ASSERT_OK(wal_truncate_before(w, UINT64_MAX));
    ASSERT_EQ_INT(count_wal_files(wal_dir()), 1);
    append_n(w, 321, 3, true);
    wal_close(w);
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 323);
    ASSERT(c.first <= 321);
    ASSERT(!c.bad);
    wal_close(w);
}

/* ---- torn tails and corruption ------------------------------------------ */

/* Offset of record `lsn` in a single-file log written by append_n from 1. */
static uint64_t rec_off(uint64_t lsn)
{
    uint64_t off = HDR;
    for (uint64_t l = 1; l < lsn; l++)
        off += OVH + tpayload_len(l);
    return off;
}

TEST(wal_torn_tail_every_offset)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
    append_n(w, 1, 20, true);
    ASSERT_EQ_INT(wal_last_lsn(w), 20);
    wal_close(w);
    const char *path = twal_file(wal_dir(), 1);
    char saved_path[1024];
    snprintf(saved_path, sizeof(saved_path), "%s", path);
    size_t len = 0;
    uint8_t *orig = tread_file(saved_path, &len);
    ASSERT(orig != NULL);
    uint64_t last = rec_off(20);
    ASSERT_EQ_INT(len, last + OVH + tpayload_len(20));
    for (uint64_t cut = last; cut < len; cut++) {
        ASSERT_EQ_INT(twrite_file(saved_path, orig, (size_t)cut), 0);
        ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
        ASSERT_EQ_INT(c.count, 19);
        ASSERT_EQ_INT(c.last, 19);
        ASSERT(!c.bad);
        ASSERT_EQ_INT(tfile_size(saved_path), last);
        /* The log goes on from the cut. */
        uint64_t lsn = 0;
        ASSERT_OK(tappend(w, &lsn, 20));
        ASSERT_EQ_INT(lsn, 20);
        ASSERT_OK(wal_sync(w, 20));
        wal_close(w);
        ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
        ASSERT_EQ_INT(c.last, 20);
        ASSERT(!c.bad);
        wal_close(w);
    }
    /* A zero-filled tail (Qdrant #9857 pattern) is cut too. */
    uint8_t *z = calloc(len + 4096, 1);
    memcpy(z, orig, len);
    ASSERT_EQ_INT(twrite_file(saved_path, z, len + 4096), 0);
    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 20);
    ASSERT_EQ_INT(tfile_size(saved_path), len);
    wal_close(w);
    free(z);
    free(orig);
}

TEST(wal_bit_flip_middle_is_corrupt_and_untouched)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
    append_n(w, 1, 20, true); /* each synced: later records prove earlier ones durable */
    wal_close(w);
    char path[1024];
    snprintf(path, sizeof(path), "%s", twal_file(wal_dir(), 1));
    size_t len = 0;
    uint8_t *orig = tread_file(path, &len);
    /* Every bit of records 1..19 (record 20 is the tail: a flip there is cut). */
    uint64_t end = rec_off(20);
    int checked = 0;
    for (uint64_t byte = 0; byte < end; byte += 3) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t *b = malloc(len);
            memcpy(b, orig, len);
            b[byte] ^= (uint8_t)(1u << bit);
            ASSERT_EQ_INT(twrite_file(path, b, len), 0);
            int rc = reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err);
            if (rc != KITE_ECORRUPT)
                TEST_FAIL_("flip at byte %llu bit %d: rc %d", (unsigned long long)byte, bit, rc);
            ASSERT(w == NULL);
            ASSERT_EQ_INT(c.count, 0); /* nothing replayed before the verdict */
            ASSERT_CONTAINS(err.message, "wal-00000000000000000001.log");
            size_t l2 = 0;
            uint8_t *after = tread_file(path, &l2);
            ASSERT_EQ_INT(l2, len);
            ASSERT(memcmp(after, b, len) == 0); /* untouched */
            free(after);
            free(b);
            checked++;
        }
    }
    ASSERT(checked > 100);
    /* A flip in the last record is a torn tail: cut, earlier records kept. */
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    b[end + 10] ^= 0x10;
    ASSERT_EQ_INT(twrite_file(path, b, len), 0);
    ASSERT_OK(reopen(vfs, wal_dir(), NULL, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 19);
    wal_close(w);
    free(b);
    free(orig);
}

TEST(wal_damage_in_non_last_file_is_corrupt)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 512, .max_record_bytes = 0};
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    append_n(w, 1, 60, false);
    ASSERT_OK(wal_sync(w, 60));
    wal_close(w);
    char path[1024];
    snprintf(path, sizeof(path), "%s", twal_file(wal_dir(), 1));
    size_t len = 0;
    uint8_t *orig = tread_file(path, &len);
    ASSERT(orig != NULL);
    /* The last record of the first file, cut: not a tail, so corrupt. */
    ASSERT_EQ_INT(twrite_file(path, orig, len - 1), 0);
    ASSERT_EQ_INT(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "non-last");
    ASSERT_EQ_INT(tfile_size(path), (long)len - 1);
    /* Bad header of a non-last file. */
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    b[2] ^= 1;
    ASSERT_EQ_INT(twrite_file(path, b, len), 0);
    ASSERT_EQ_INT(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "header");
    /* A missing middle file is an LSN gap. */
    ASSERT_EQ_INT(twrite_file(path, orig, len), 0);
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 60);
    wal_close(w);
    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(vfs->list(vfs, wal_dir(), &names, &n));
    char *victim = NULL;
    char *sorted_second = NULL;
    for (size_t i = 0; i < n; i++) { /* pick the second-lowest name */
        if (strcmp(names[i], "wal-00000000000000000001.log") == 0)
            continue;
        if (!sorted_second || strcmp(names[i], sorted_second) < 0)
            sorted_second = names[i];
    }
    victim = sorted_second;
    ASSERT(victim != NULL);
    ASSERT_EQ_INT(unlink(tpath(wal_dir(), victim)), 0);
    for (size_t i = 0; i < n; i++)
        kite_free(names[i]);
    kite_free(names);
    ASSERT_EQ_INT(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "gap");
    free(b);
    free(orig);
}

TEST(wal_torn_header_of_last_file_is_reset)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    struct tcollect c;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 512, .max_record_bytes = 0};
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    append_n(w, 1, 10, true);
    wal_close(w);
    /* A crash right after creating the next file: empty, then half a header. */
    const char *next = twal_file(wal_dir(), 11);
    char np[1024];
    snprintf(np, sizeof(np), "%s", next);
    ASSERT_EQ_INT(twrite_file(np, (const uint8_t *)"", 0), 0);
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 10);
    append_n(w, 11, 2, true);
    wal_close(w);
    ASSERT_OK(reopen(vfs, wal_dir(), &o, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 12);
    ASSERT(!c.bad);
    wal_close(w);
}

/* ---- injected I/O faults ------------------------------------------------ */

TEST(wal_fdatasync_eio_is_sticky_and_acked_survive)
{
    for (uint64_t nth = 1; nth <= 6; nth++) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/w%llu", kite_test_tmpdir(), (unsigned long long)nth);
        struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
        struct wal *w = NULL;
        kite_err err;
        ASSERT_OK(wal_open(vfs, dir, NULL, 1, NULL, NULL, &w, &err));
        vfs_fault_arm(vfs, KITE_VFS_FDATASYNC, nth, EIO, false); /* once: no retry may mask it */
        uint64_t acked = 0;
        int failed_at = 0;
        for (uint64_t l = 1; l <= 10; l++) {
            uint64_t lsn = 0;
            int rc = tappend(w, &lsn, l);
            if (failed_at) {
                ASSERT_EQ_INT(rc, KITE_EREADONLY);
                ASSERT_EQ_INT(wal_sync(w, wal_last_lsn(w)), KITE_EREADONLY);
                continue;
            }
            ASSERT_OK(rc);
            rc = wal_sync(w, lsn);
            if (rc != KITE_OK) {
                ASSERT_EQ_INT(rc, KITE_EIO);
                failed_at = (int)l;
                ASSERT_EQ_INT(wal_status(w), KITE_EIO);
            } else {
                acked = lsn;
            }
        }
        ASSERT_EQ_INT(failed_at, (int)nth);
        ASSERT_EQ_INT(acked, nth - 1);
        ASSERT_EQ_INT(vfs_fault_injected(vfs), 1);
        wal_close(w);
        vfs_fault_free(vfs);
        struct tcollect c;
        ASSERT_OK(reopen(kite_vfs_posix(), dir, NULL, 1, &c, &w, &err));
        ASSERT(c.count == 0 || c.first == 1);
        ASSERT(c.last >= acked);
        ASSERT(!c.bad);
        wal_close(w);
    }
}

TEST(wal_enospc_on_append_is_not_sticky)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    struct wal *w = NULL;
    kite_err err;
    ASSERT_OK(wal_open(vfs, wal_dir(), NULL, 1, NULL, NULL, &w, &err));
    append_n(w, 1, 4, true);
    vfs_fault_set_torn(vfs, true); /* half the record lands before the error */
    vfs_fault_arm(vfs, KITE_VFS_PWRITE, 1, ENOSPC, false);
    uint64_t lsn = 0;
    ASSERT_EQ_INT(tappend(w, &lsn, 5), KITE_ENOSPC);
    ASSERT_OK(wal_status(w));
    ASSERT_EQ_INT(wal_last_lsn(w), 4); /* no LSN was consumed */
    /* Persistent ENOSPC: still refused, still usable. */
    vfs_fault_arm(vfs, KITE_VFS_PWRITE, 1, ENOSPC, true);
    ASSERT_EQ_INT(tappend(w, &lsn, 5), KITE_ENOSPC);
    ASSERT_EQ_INT(tappend(w, &lsn, 5), KITE_ENOSPC);
    vfs_fault_disarm(vfs); /* space is back */
    append_n(w, 5, 3, true);
    wal_close(w);
    vfs_fault_free(vfs);
    struct tcollect c;
    ASSERT_OK(reopen(kite_vfs_posix(), wal_dir(), NULL, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.count, 7);
    ASSERT(!c.bad);
    wal_close(w);
}

TEST(wal_eio_on_append_is_sticky)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    struct wal *w = NULL;
    kite_err err;
    ASSERT_OK(wal_open(vfs, wal_dir(), NULL, 1, NULL, NULL, &w, &err));
    append_n(w, 1, 3, true);
    vfs_fault_set_torn(vfs, true);
    vfs_fault_arm(vfs, KITE_VFS_PWRITE, 1, EIO, false);
    uint64_t lsn = 0;
    ASSERT_EQ_INT(tappend(w, &lsn, 4), KITE_EIO);
    ASSERT_EQ_INT(wal_status(w), KITE_EIO);
    ASSERT_EQ_INT(tappend(w, &lsn, 4), KITE_EREADONLY);
    wal_close(w);
    vfs_fault_free(vfs);
    struct tcollect c;
    ASSERT_OK(reopen(kite_vfs_posix(), wal_dir(), NULL, 1, &c, &w, &err));
    ASSERT_EQ_INT(c.last, 3); /* the torn half record was cut */
    wal_close(w);
}

/* The I/O-error loop (RELIABILITY.md A6): fail the Nth vfs call of any kind,
 * once and persistently, over a workload with rotation and truncation. */
static uint64_t ioerr_workload(struct kite_vfs *vfs, const char *dir, uint64_t *acked)
{
    struct wal *w = NULL;
    struct wal_options o = {.file_max_bytes = 300, .max_record_bytes = 0};
    *acked = 0;
    if (wal_open(vfs, dir, &o, 1, NULL, NULL, &w, NULL) != KITE_OK)
        return 0;
    uint64_t appended = 0;
    for (uint64_t l = 1; l <= 24; l++) {
        uint64_t lsn = 0;
        if (tappend(w, &lsn, appended + 1) != KITE_OK)
            continue; /* ENOSPC: retried with the same payload next round */
        appended = lsn;
        if (l % 3 == 0 && wal_sync(w, lsn) == KITE_OK)
            *acked = lsn;
        if (l == 15)
            (void)wal_truncate_before(w, 5);
    }
    wal_close(w);
    return appended;
}

TEST_TIMEOUT(wal_io_error_loop, 120)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/clean", kite_test_tmpdir());
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    uint64_t acked = 0;
    vfs_fault_arm(vfs, -1, 0, 0, false);
    ASSERT_EQ_INT(ioerr_workload(vfs, dir, &acked), 24);
    uint64_t total = vfs_fault_count(vfs, -1);
    ASSERT(total > 30);
    static const int errs[] = {EIO, ENOSPC};
    int runs = 0;
    for (int e = 0; e < 2; e++) {
        for (int persistent = 0; persistent < 2; persistent++) {
            for (uint64_t n = 1; n <= total; n++) {
                snprintf(dir, sizeof(dir), "%s/r%d-%d-%llu", kite_test_tmpdir(), e, persistent,
                         (unsigned long long)n);
                vfs_fault_arm(vfs, -1, n, errs[e], persistent != 0);
                (void)ioerr_workload(vfs, dir, &acked);
                vfs_fault_disarm(vfs);
                struct tcollect c;
                struct wal *w = NULL;
                kite_err err;
                int rc = reopen(kite_vfs_posix(), dir, NULL, 1, &c, &w, &err);
                if (rc != KITE_OK)
                    TEST_FAIL_("errno %d persistent %d n %llu: reopen rc %d: %s", errs[e],
                               persistent, (unsigned long long)n, rc, err.message);
                if (c.bad || c.last < acked || (c.count && c.first > 5))
                    TEST_FAIL_("errno %d persistent %d n %llu: replay [%llu..%llu] bad=%d "
                               "acked %llu", errs[e], persistent, (unsigned long long)n,
                               (unsigned long long)c.first, (unsigned long long)c.last, c.bad,
                               (unsigned long long)acked);
                wal_close(w);
                runs++;
            }
        }
    }
    fprintf(stderr, "  io-error loop: %d runs over %llu calls\n", runs,
            (unsigned long long)total);
    vfs_fault_free(vfs);
}

/* ---- OOM loop and concurrency stress ------------------------------------ */

/* The Nth allocation fails (once, then persistently) during open, append,
 * rotation and truncation: a clean KITE_ENOMEM or success, never a crash or a
 * leak (LSan in the sanitizer build), and the log still recovers. */
TEST_TIMEOUT(wal_oom_loop, 120)
{
    struct wal_options o = {.file_max_bytes = 300, .max_record_bytes = 0};
    for (int persistent = 0; persistent < 2; persistent++) {
        for (uint64_t n = 1; n <= 60; n++) {
            char dir[1024];
            snprintf(dir, sizeof(dir), "%s/o%d-%llu", kite_test_tmpdir(), persistent,
                     (unsigned long long)n);
            struct wal *w = NULL;
            struct tcollect c = {.check = true};
            /* Pre-populate so that open also replays and lists files. */
            ASSERT_OK(wal_open(kite_vfs_posix(), dir, &o, 1, NULL, NULL, &w, NULL));
            append_n(w, 1, 12, false);
            ASSERT_OK(wal_sync(w, 12));
            wal_close(w);
            w = NULL;
            uint64_t acked = 12;
            kite_alloc_fail_at(n, persistent != 0);
            int rc = wal_open(kite_vfs_posix(), dir, &o, 1, tcollect_fn, &c, &w, NULL);
            if (rc == KITE_OK) {
                uint64_t next = wal_last_lsn(w) + 1;
                for (int i = 0; i < 10; i++) {
                    uint64_t lsn = 0;
                    rc = tappend(w, &lsn, next);
                    if (rc == KITE_OK) {
                        next++;
                        if (wal_sync(w, lsn) == KITE_OK)
                            acked = lsn;
                    } else if (rc != KITE_ENOMEM) {
                        TEST_FAIL_("n %llu: append rc %d", (unsigned long long)n, rc);
                    }
                }
                (void)wal_truncate_before(w, 8);
            } else if (rc != KITE_ENOMEM) {
                TEST_FAIL_("n %llu: open rc %d", (unsigned long long)n, rc);
            }
            wal_close(w);
            kite_alloc_fail_at(0, false);
            struct tcollect c2;
            ASSERT_OK(reopen(kite_vfs_posix(), dir, &o, 1, &c2, &w, NULL));
            ASSERT(!c2.bad);
            ASSERT(c2.last >= acked);
            ASSERT(c2.first <= 8);
            wal_close(w);
        }
    }
}

struct stress_arg {
    struct wal *w;
    int tid;
    atomic_int *stop;
    uint64_t acked;
};

static void *stress_appender(void *p)
{
    struct stress_arg *a = p;
    for (int i = 0; i < 300; i++) {
        uint8_t buf[48];
        memset(buf, a->tid, sizeof(buf));
        uint64_t lsn = 0;
        if (wal_append(a->w, (uint8_t)a->tid, buf, (size_t)(i % 48), &lsn) != KITE_OK)
            break;
        if (i % 4 == 0 && wal_sync(a->w, lsn) == KITE_OK && lsn > a->acked)
            a->acked = lsn;
    }
    return NULL;
}

static void *stress_truncator(void *p)
{
    struct stress_arg *a = p;
    while (!atomic_load(a->stop)) {
        uint64_t last = wal_last_lsn(a->w);
        (void)wal_status(a->w);
        if (last > 50)
            (void)wal_truncate_before(a->w, last - 50);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Appenders, syncers and a truncator at once, over many rotations (run it
 * under TSan: build with -DKITE_SANITIZE=thread). */
TEST_TIMEOUT(wal_concurrent_rotation_truncation_stress, 60)
{
    struct wal_options o = {.file_max_bytes = 1024, .max_record_bytes = 0};
    struct wal *w = NULL;
    kite_err err;
    ASSERT_OK(wal_open(kite_vfs_posix(), wal_dir(), &o, 1, NULL, NULL, &w, &err));
    atomic_int stop = 0;
    pthread_t th[5];
    struct stress_arg args[5];
    for (int t = 0; t < 5; t++) {
        args[t] = (struct stress_arg){w, t + 1, &stop, 0};
        pthread_create(&th[t], NULL, t == 4 ? stress_truncator : stress_appender, &args[t]);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    atomic_store(&stop, 1);
    pthread_join(th[4], NULL);
    ASSERT_OK(wal_status(w));
    ASSERT_EQ_INT(wal_last_lsn(w), 4 * 300);
    ASSERT_OK(wal_sync(w, wal_last_lsn(w)));
    wal_close(w);
    uint64_t n = 0;
    ASSERT_OK(wal_open(kite_vfs_posix(), wal_dir(), &o, 4 * 300 - 50, count_fn, &n, &w, &err));
    ASSERT_EQ_INT(n, 51);
    wal_close(w);
}

/* ---- hand-built files: checks behind valid checksums -------------------- */

#include "crc32c.h"

static size_t put_header(uint8_t *p, uint64_t first)
{
    memset(p, 0, HDR);
    kite_put_u32(p, 0x4C41574Bu);
    kite_put_u32(p + 4, 1);
    kite_put_u64(p + 8, first);
    kite_put_u32(p + 20, kite_crc32c(0, p, 20));
    return HDR;
}

static size_t put_record(uint8_t *p, uint64_t lsn, uint64_t synced, const char *payload)
{
    uint32_t len = (uint32_t)strlen(payload);
    kite_put_u32(p, 0x4345524Bu);
    kite_put_u32(p + 4, len);
    kite_put_u64(p + 8, lsn);
    kite_put_u64(p + 16, synced);
    p[24] = 1;
    memcpy(p + 25, payload, len);
    kite_put_u32(p + 25 + len, kite_crc32c(kite_crc32c(0, p + 25, len), p, 25));
    return OVH + len;
}

static int open_raw(const uint8_t *b, size_t len, uint64_t name_lsn, kite_err *err)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    (void)vfs->rmdir_r(vfs, wal_dir());
    ASSERT_OK(vfs_mkdir_p(vfs, wal_dir()));
    ASSERT_EQ_INT(twrite_file(twal_file(wal_dir(), name_lsn), b, len), 0);
    struct wal *w = NULL;
    uint64_t n = 0;
    int rc = wal_open(vfs, wal_dir(), NULL, 1, count_fn, &n, &w, err);
    if (rc == KITE_OK)
        ASSERT_EQ_INT(wal_last_lsn(w), n);
    else
        ASSERT_EQ_INT(n, 0);
    wal_close(w);
    return rc;
}

TEST(wal_checks_behind_valid_checksums)
{
    uint8_t b[1024];
    kite_err err;
    size_t n = put_header(b, 1);
    n += put_record(b + n, 1, 0, "one");
    n += put_record(b + n, 2, 1, "two");
    ASSERT_OK(open_raw(b, n, 1, &err));
    /* The header disagrees with the name. */
    ASSERT_EQ_INT(open_raw(b, n, 7, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "name says 7");
    /* An LSN gap between two intact records. */
    n = put_header(b, 1);
    n += put_record(b + n, 1, 0, "one");
    n += put_record(b + n, 3, 1, "three");
    ASSERT_EQ_INT(open_raw(b, n, 1, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "expected LSN 2");
    /* synced_lsn must be below the record's own LSN. */
    n = put_header(b, 1);
    n += put_record(b + n, 1, 1, "one");
    ASSERT_EQ_INT(open_raw(b, n, 1, &err), KITE_ECORRUPT);
    /* Damage followed by a record that proves the damaged LSN was synced. */
    n = put_header(b, 1);
    n += put_record(b + n, 1, 0, "one");
    size_t hole = n;
    n += put_record(b + n, 2, 1, "two");
    n += put_record(b + n, 3, 2, "three");
    b[hole + 26] ^= 0x55;
    ASSERT_EQ_INT(open_raw(b, n, 1, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "was synced");
    /* The same damage when the later record was written before LSN 2 was
     * synced is a legal crash state (the file system kept a later write but
     * lost an earlier one): cut at the hole. */
    n = put_header(b, 1);
    n += put_record(b + n, 1, 0, "one");
    hole = n;
    n += put_record(b + n, 2, 1, "two");
    n += put_record(b + n, 3, 1, "three");
    b[hole + 26] ^= 0x55;
    ASSERT_OK(open_raw(b, n, 1, &err));
    ASSERT_EQ_INT(tfile_size(twal_file(wal_dir(), 1)), hole);
    /* A bad header with an intact record behind it is corruption (headers
     * are synced before any record is written). */
    n = put_header(b, 1);
    n += put_record(b + n, 1, 0, "one");
    b[5] ^= 1;
    ASSERT_EQ_INT(open_raw(b, n, 1, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "header");
    /* Garbage only: reset to an empty log at the name's LSN. */
    memset(b, 0xA5, 100);
    ASSERT_OK(open_raw(b, 100, 1, &err));
    ASSERT_EQ_INT(tfile_size(twal_file(wal_dir(), 1)), HDR);
}

TEST(wal_record_over_max_at_open_is_refused)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct wal *w = NULL;
    kite_err err;
    ASSERT_OK(wal_open(vfs, wal_dir(), NULL, 1, NULL, NULL, &w, &err));
    uint8_t big[500] = {0};
    ASSERT_OK(wal_append(w, 1, big, sizeof(big), NULL));
    ASSERT_OK(wal_sync(w, 1));
    wal_close(w);
    struct wal_options o = {.file_max_bytes = 0, .max_record_bytes = 100};
    ASSERT_EQ_INT(wal_open(vfs, wal_dir(), &o, 1, NULL, NULL, &w, &err), KITE_ELIMIT);
    ASSERT_CONTAINS(err.message, "max_record_bytes");
    ASSERT_EQ_INT(tfile_size(twal_file(wal_dir(), 1)), HDR + OVH + 500); /* untouched */
    ASSERT_EQ_INT(wal_open(vfs, "", NULL, 1, NULL, NULL, &w, &err), KITE_EINVAL);
}

/* I/O errors during recovery itself (RELIABILITY.md A10): a log with a torn
 * tail, opened through a vfs that fails its Nth call; whatever happens, a
 * later clean open recovers exactly the synced records. */
TEST_TIMEOUT(wal_io_error_during_recovery_loop, 120)
{
    struct wal_options o = {.file_max_bytes = 400, .max_record_bytes = 0};
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/base", kite_test_tmpdir());
    struct wal *w = NULL;
    kite_err err;
    ASSERT_OK(wal_open(kite_vfs_posix(), dir, &o, 1, NULL, NULL, &w, &err));
    append_n(w, 1, 30, true);
    wal_close(w);
    /* Torn tail: half a record appended by hand to the last file. */
    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(kite_vfs_posix()->list(kite_vfs_posix(), dir, &names, &n));
    char *last = NULL;
    for (size_t i = 0; i < n; i++)
        if (!last || strcmp(names[i], last) > 0)
            last = names[i];
    char lastpath[1200];
    snprintf(lastpath, sizeof(lastpath), "%s/%s", dir, last);
    for (size_t i = 0; i < n; i++)
        kite_free(names[i]);
    kite_free(names);
    size_t len = 0;
    uint8_t *orig = tread_file(lastpath, &len);
    uint8_t *torn = malloc(len + 20);
    memcpy(torn, orig, len);
    memset(torn + len, 0x4B, 20);
    struct kite_vfs *fv = vfs_fault_new(kite_vfs_posix());
    ASSERT_EQ_INT(twrite_file(lastpath, torn, len + 20), 0);
    vfs_fault_arm(fv, -1, 0, 0, false);
    ASSERT_OK(wal_open(fv, dir, &o, 1, NULL, NULL, &w, &err));
    wal_close(w);
    uint64_t total = vfs_fault_count(fv, -1);
    ASSERT(total >= 5);
    for (int persistent = 0; persistent < 2; persistent++) {
        for (uint64_t k = 1; k <= total; k++) {
            ASSERT_EQ_INT(twrite_file(lastpath, torn, len + 20), 0);
            struct tcollect c = {.check = true};
            vfs_fault_arm(fv, -1, k, EIO, persistent != 0);
            int rc = wal_open(fv, dir, &o, 1, tcollect_fn, &c, &w, &err);
            vfs_fault_disarm(fv);
            if (rc == KITE_OK) {
                ASSERT_EQ_INT(c.last, 30);
                wal_close(w);
            } else {
                ASSERT(w == NULL);
                ASSERT_EQ_INT(rc, KITE_EIO);
            }
            struct tcollect c2;
            ASSERT_OK(reopen(kite_vfs_posix(), dir, &o, 1, &c2, &w, &err));
            ASSERT_EQ_INT(c2.first, 1);
            ASSERT_EQ_INT(c2.last, 30);
            ASSERT(!c2.bad);
            wal_close(w);
        }
    }
    vfs_fault_free(fv);
    free(orig);
    free(torn);
}
