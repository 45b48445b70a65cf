/*
 * test_wal_crash.c — simulated power loss for the WAL (RELIABILITY.md §3.1
 * crash-image generator, §4 A2; Anchor: SQLite src/test6.c).
 *
 * A trace vfs passes every call through to POSIX and records the writes,
 * truncations, syncs, file creations, directory syncs and unlinks, plus an ACK
 * event each time wal_sync() returns KITE_OK.  For every cut point k in the
 * trace we rebuild disk images from the first k events: each file's contents
 * as of its last fsync/fdatasync, plus one of
 *   V0 none of the unsynced writes, no unsynced directory operation,
 *   V1 all of them,
 *   V2 a random subset of them (the file system may reorder),
 *   V3 a prefix of them with the next write torn at a random byte,
 *   V4 all of them with the last write's range garbled,
 * where a file whose creation (or unlink) was not followed by a directory
 * fsync may or may not exist.  Each image is recovered with wal_open and must
 * give a contiguous run of the records that were appended (payloads intact)
 * that contains every acknowledged record; recovering the recovered image
 * again must give the same run (recovery is idempotent, A10), and the log
 * must accept appends afterwards.
 *
 * wal_crash_during_recovery_is_idempotent runs the same generator over the
 * trace of a recovery (of a torn image): a crash at any point of recovery
 * must recover to exactly the same records (RELIABILITY.md A10).
 */
#include <errno.h>

#include "alloc.h"
#include "storage_test_util.h"
#include "test.h"
#include "vfs.h"
#include "wal.h"

enum tev_op { T_CREATE, T_WRITE, T_TRUNC, T_SYNC, T_SYNCDIR, T_UNLINK, T_ACK };

struct tev {
    enum tev_op op;
    int file;
    uint64_t off; /* write offset, truncate size, or acked LSN */
    uint8_t *data;
    size_t len;
};

#define MAX_EV 4096
#define MAX_FILES 64

static struct tev g_ev[MAX_EV];
static int g_n_ev;
static char *g_files[MAX_FILES]; /* base names */
static int g_n_files;

static void record(enum tev_op op, int file, uint64_t off, const void *data, size_t len)
{
    if (g_n_ev >= MAX_EV)
        TEST_FAIL_("trace too long");
    struct tev *e = &g_ev[g_n_ev++];
    e->op = op;
    e->file = file;
    e->off = off;
    e->len = len;
    e->data = NULL;
    if (len) {
        e->data = malloc(len);
        memcpy(e->data, data, len);
    }
}

static int file_id(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; i < g_n_files; i++)
        if (strcmp(g_files[i], base) == 0)
            return i;
    if (g_n_files >= MAX_FILES)
        TEST_FAIL_("too many files");
    g_files[g_n_files] = strdup(base);
    return g_n_files++;
}

/* ---- the trace vfs ----------------------------------------------------- */

struct trace_file {
    struct kite_file *base;
    int id;
};

#define TF(f) ((struct trace_file *)(void *)(f))
#define BASE kite_vfs_posix()

static int t_open(struct kite_vfs *vfs, const char *path, int flags, struct kite_file **out)
{
    bool existed = BASE->exists(BASE, path, NULL) == 0;
    struct trace_file *tf = malloc(sizeof(*tf));
    int rc = BASE->open(BASE, path, flags, &tf->base);
    if (rc) {
        free(tf);
        *out = NULL;
        return rc;
    }
    tf->id = file_id(path);
    if (!existed)
        record(T_CREATE, tf->id, 0, NULL, 0);
    *out = (struct kite_file *)(void *)tf;
    return 0;
}

static int t_close(struct kite_file *f)
{
    int rc = BASE->close(TF(f)->base);
    free(f);
    return rc;
}

static int t_pread(struct kite_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    return BASE->pread(TF(f)->base, buf, len, off, got);
}

static int t_pwrite(struct kite_file *f, const void *buf, size_t len, uint64_t off)
{
    record(T_WRITE, TF(f)->id, off, buf, len);
    return BASE->pwrite(TF(f)->base, buf, len, off);
}

static int t_fsync(struct kite_file *f)
{
    int rc = BASE->fsync(TF(f)->base);
    if (rc == 0)
        record(T_SYNC, TF(f)->id, 0, NULL, 0);
    return rc;
}

static int t_fdatasync(struct kite_file *f)
{
    int rc = BASE->fdatasync(TF(f)->base);
    if (rc == 0)
        record(T_SYNC, TF(f)->id, 0, NULL, 0);
    return rc;
}

static int t_ftruncate(struct kite_file *f, uint64_t size)
{
    record(T_TRUNC, TF(f)->id, size, NULL, 0);
    return BASE->ftruncate(TF(f)->base, size);
}

static int t_fsize(struct kite_file *f, uint64_t *size)
{
    return BASE->fsize(TF(f)->base, size);
}

static int t_fallocate(struct kite_file *f, uint64_t off, uint64_t len)
{
    return -EOPNOTSUPP; /* not used by the WAL; would need modelling */
}

static int t_mmap(struct kite_file *f, const void **addr, size_t *len)
{
    return BASE->mmap(TF(f)->base, addr, len);
}

static int t_rename(struct kite_vfs *vfs, const char *from, const char *to)
{
    return -EOPNOTSUPP; /* not used by the WAL */
}

static int t_unlink(struct kite_vfs *vfs, const char *path)
{
    int rc = BASE->unlink(BASE, path);
    if (rc == 0)
        record(T_UNLINK, file_id(path), 0, NULL, 0);
    return rc;
}

static int t_fsync_dir(struct kite_vfs *vfs, const char *path)
{
    int rc = BASE->fsync_dir(BASE, path);
    if (rc == 0)
        record(T_SYNCDIR, -1, 0, NULL, 0);
    return rc;
}

static struct kite_vfs *trace_vfs(void)
{
    static struct kite_vfs v;
    v = *BASE;
    v.open = t_open;
    v.close = t_close;
    v.pread = t_pread;
    v.pwrite = t_pwrite;
    v.fsync = t_fsync;
    v.fdatasync = t_fdatasync;
    v.ftruncate = t_ftruncate;
    v.fsize = t_fsize;
    v.fallocate = t_fallocate;
    v.mmap = t_mmap;
    v.rename = t_rename;
    v.unlink = t_unlink;
    v.fsync_dir = t_fsync_dir;
    return &v;
}

/* ---- image construction ------------------------------------------------ */

struct fbuf {
    uint8_t *p;
    size_t len, cap;
};

static void fb_write(struct fbuf *b, uint64_t off, const uint8_t *d, size_t len)
{
    size_t end = (size_t)off + len;
    if (len == 0)
        return;
    if (end > b->cap) {
        b->cap = end * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (off > b->len)
        memset(b->p + b->len, 0, (size_t)off - b->len);
    memcpy(b->p + off, d, len);
    if (end > b->len)
        b->len = end;
}

static void fb_trunc(struct fbuf *b, uint64_t size)
{
    if (size <= b->len) {
        b->len = (size_t)size;
        return;
    }
    uint8_t z = 0;
    for (uint64_t i = b->len; i < size; i++)
        fb_write(b, i, &z, 1);
}

struct fstate {
    struct fbuf durable; /* contents at the last sync */
    int pending[MAX_EV]; /* unsynced write/truncate events */
    int n_pending;
    bool entry_durable;  /* directory entry is durable (exists after crash) */
    bool exists;         /* exists in the page cache view */
    bool dir_pending;    /* created or unlinked since the last directory fsync */
};

static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void apply(struct fbuf *b, const struct tev *e)
{
    if (e->op == T_WRITE)
        fb_write(b, e->off, e->data, e->len);
    else
        fb_trunc(b, e->off);
}

/* Build the image of the first k events in variant v under dir. */
static void build_image(int k, int v, const char *dir, struct fstate *fs)
{
    for (int i = 0; i < g_n_files; i++) {
        free(fs[i].durable.p);
        memset(&fs[i], 0, sizeof(fs[i]));
    }
    for (int i = 0; i < k; i++) {
        const struct tev *e = &g_ev[i];
        struct fstate *f = e->file >= 0 ? &fs[e->file] : NULL;
        switch (e->op) {
        case T_CREATE:
            f->exists = true;
            f->dir_pending = true;
            f->durable.len = 0;
            f->n_pending = 0;
            break;
        case T_WRITE:
        case T_TRUNC:
            f->pending[f->n_pending++] = i;
            break;
        case T_SYNC:
            for (int j = 0; j < f->n_pending; j++)
                apply(&f->durable, &g_ev[f->pending[j]]);
            f->n_pending = 0;
            break;
        case T_SYNCDIR:
            for (int j = 0; j < g_n_files; j++) {
                if (fs[j].dir_pending)
                    fs[j].entry_durable = fs[j].exists;
                fs[j].dir_pending = false;
            }
            break;
        case T_UNLINK:
            f->exists = false;
            f->dir_pending = true;
            break;
        case T_ACK:
            break;
        }
    }
    for (int i = 0; i < g_n_files; i++) {
        struct fstate *f = &fs[i];
        bool present = f->entry_durable;
        if (f->dir_pending) {
            if (v == 1 || v == 4)
                present = f->exists;
            else if (v == 2 || v == 3)
                present = (rnd() & 1) ? f->exists : f->entry_durable;
        }
        if (!present)
            continue;
        struct fbuf img = {0};
        if (f->durable.len)
            fb_write(&img, 0, f->durable.p, f->durable.len);
        int np = f->n_pending;
        if (v == 1 || v == 4) {
            for (int j = 0; j < np; j++)
                apply(&img, &g_ev[f->pending[j]]);
            if (v == 4 && np > 0 && g_ev[f->pending[np - 1]].op == T_WRITE) {
                const struct tev *e = &g_ev[f->pending[np - 1]];
                for (size_t b = 0; b < e->len; b++)
                    img.p[e->off + b] = (uint8_t)rnd();
            }
        } else if (v == 2) {
            for (int j = 0; j < np; j++)
                if (rnd() & 1)
                    apply(&img, &g_ev[f->pending[j]]);
        } else if (v == 3 && np > 0) {
            int pre = (int)(rnd() % (uint64_t)np);
            for (int j = 0; j < pre; j++)
                apply(&img, &g_ev[f->pending[j]]);
            const struct tev *e = &g_ev[f->pending[pre]];
            if (e->op == T_WRITE && e->len > 1) {
                struct tev torn = *e;
                torn.len = 1 + (size_t)(rnd() % (e->len - 1));
                apply(&img, &torn);
            }
        }
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dir, g_files[i]);
        if (twrite_file(path, img.p, img.len) != 0)
            TEST_FAIL_("cannot write image file %s", path);
        free(img.p);
    }
}

/* ---- the workload -------------------------------------------------------- */

enum { N_REC = 36, TRUNC_AT = 24, TRUNC_LSN = 12 };

static void workload(const char *dir)
{
    struct wal *w = NULL;
    kite_err err;
    struct wal_options o = {.file_max_bytes = 400, .max_record_bytes = 0};
    ASSERT_OK(wal_open(trace_vfs(), dir, &o, 1, NULL, NULL, &w, &err));
    for (uint64_t l = 1; l <= N_REC; l++) {
        uint64_t lsn = 0;
        ASSERT_OK(tappend(w, &lsn, l));
        if (l % 3 == 0 || l == N_REC) {
            ASSERT_OK(wal_sync(w, lsn));
            record(T_ACK, -1, lsn, NULL, 0);
        }
        if (l == TRUNC_AT)
            ASSERT_OK(wal_truncate_before(w, TRUNC_LSN));
    }
    wal_close(w);
}

static void check_image(const char *dir, uint64_t acked, int k, int v)
{
    struct tcollect c = {.check = true};
    struct wal *w = NULL;
    kite_err err;
    int rc = wal_open(kite_vfs_posix(), dir, NULL, 1, tcollect_fn, &c, &w, &err);
    if (rc != KITE_OK)
        TEST_FAIL_("cut %d variant %d: recovery failed: %s", k, v, err.message);
    if (c.bad || c.last < acked || (c.count > 0 && c.first > TRUNC_LSN) ||
        (acked > 0 && c.count == 0))
        TEST_FAIL_("cut %d variant %d: recovered [%llu..%llu] (n=%llu bad=%d), acked %llu", k,
                   v, (unsigned long long)c.first, (unsigned long long)c.last,
                   (unsigned long long)c.count, c.bad, (unsigned long long)acked);
    wal_close(w);
    /* Idempotent: recovering again gives the same records. */
    struct tcollect c2 = {.check = true};
    ASSERT_OK(wal_open(kite_vfs_posix(), dir, NULL, 1, tcollect_fn, &c2, &w, &err));
    ASSERT_EQ_INT(c2.first, c.first);
    ASSERT_EQ_INT(c2.last, c.last);
    ASSERT_EQ_INT(c2.count, c.count);
    /* And the log goes on. */
    uint64_t lsn = 0;
    ASSERT_OK(tappend(w, &lsn, wal_last_lsn(w) + 1));
    ASSERT_OK(wal_sync(w, lsn));
    wal_close(w);
}

TEST_TIMEOUT(wal_crash_images_keep_every_acked_record, 300)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/live", kite_test_tmpdir());
    ASSERT_OK(vfs_mkdir_p(kite_vfs_posix(), dir));
    workload(dir);
    ASSERT(g_n_ev > 50);
    struct fstate *fs = calloc(MAX_FILES, sizeof(*fs));
    int images = 0;
    uint64_t acked = 0;
    for (int k = 0; k <= g_n_ev; k++) {
        if (k > 0 && g_ev[k - 1].op == T_ACK)
            acked = g_ev[k - 1].off;
        for (int v = 0; v < 5; v++) {
            g_rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)k << 8) ^ (uint64_t)v;
            char img[1024];
            snprintf(img, sizeof(img), "%s/img", kite_test_tmpdir());
            ASSERT_OK(kite_vfs_posix()->rmdir_r(kite_vfs_posix(), img));
            ASSERT_OK(vfs_mkdir_p(kite_vfs_posix(), img));
            build_image(k, v, img, fs);
            check_image(img, acked, k, v);
            images++;
        }
    }
    fprintf(stderr, "  crash images: %d events, %d images, 0 losing acked records\n", g_n_ev,
            images);
    for (int i = 0; i < MAX_FILES; i++)
        free(fs[i].durable.p);
    free(fs);
}

/* The generator must be able to fail: a WAL that acks without syncing the
 * rotated-away file would lose acked records in some image.  We emulate the
 * bug by dropping every T_SYNC from the trace and expect a loss. */
TEST_TIMEOUT(wal_crash_generator_catches_missing_sync, 300)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/live", kite_test_tmpdir());
    ASSERT_OK(vfs_mkdir_p(kite_vfs_posix(), dir));
    workload(dir);
    for (int i = 0; i < g_n_ev; i++)
        if (g_ev[i].op == T_SYNC)
            g_ev[i].op = T_ACK, g_ev[i].off = 0;
    struct fstate *fs = calloc(MAX_FILES, sizeof(*fs));
    int losses = 0;
    uint64_t acked = 0;
    for (int k = 0; k <= g_n_ev; k++) {
        if (k > 0 && g_ev[k - 1].op == T_ACK && g_ev[k - 1].off > acked)
            acked = g_ev[k - 1].off;
        g_rng = 12345u + (uint64_t)k;
        char img[1024];
        snprintf(img, sizeof(img), "%s/img", kite_test_tmpdir());
        ASSERT_OK(kite_vfs_posix()->rmdir_r(kite_vfs_posix(), img));
        ASSERT_OK(vfs_mkdir_p(kite_vfs_posix(), img));
        build_image(k, 0, img, fs);
        struct tcollect c = {.check = true};
        struct wal *w = NULL;
        kite_err err;
        int rc = wal_open(kite_vfs_posix(), img, NULL, 1, tcollect_fn, &c, &w, &err);
        if (rc != KITE_OK || c.last < acked)
            losses++;
        wal_close(w);
    }
    fprintf(stderr, "  without syncs: %d of %d images lose acked records\n", losses, g_n_ev + 1);
    ASSERT(losses > 0);
    for (int i = 0; i < MAX_FILES; i++)
        free(fs[i].durable.p);
    free(fs);
}

/* ---- a crash during recovery (RELIABILITY.md A10) ------------------------ */

/* Seed the trace with the files of dir as synced state. */
static void seed_trace_from(const char *dir)
{
    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(BASE->list(BASE, dir, &names, &n));
    for (size_t i = 0; i < n; i++) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        size_t len = 0;
        uint8_t *b = tread_file(path, &len);
        int id = file_id(names[i]);
        record(T_CREATE, id, 0, NULL, 0);
        record(T_WRITE, id, 0, b, len);
        record(T_SYNC, id, 0, NULL, 0);
        free(b);
        kite_free(names[i]);
    }
    kite_free(names);
    record(T_SYNCDIR, -1, 0, NULL, 0);
}

/* Images with a torn tail or a torn new file are recovered through the trace
 * vfs; a crash at any point of that recovery, in any variant, must recover to
 * exactly the same records: recover(recover_partial(img)) == recover(img). */
TEST_TIMEOUT(wal_crash_during_recovery_is_idempotent, 300)
{
    char dir[1024], img[1024], img2[1024];
    snprintf(dir, sizeof(dir), "%s/live", kite_test_tmpdir());
    snprintf(img, sizeof(img), "%s/img", kite_test_tmpdir());
    snprintf(img2, sizeof(img2), "%s/img2", kite_test_tmpdir());
    ASSERT_OK(vfs_mkdir_p(BASE, dir));
    workload(dir);
    int n_orig = g_n_ev;
    struct tev *orig = malloc(sizeof(struct tev) * (size_t)n_orig);
    memcpy(orig, g_ev, sizeof(struct tev) * (size_t)n_orig);
    int n_orig_files = g_n_files;
    char *orig_files[MAX_FILES];
    memcpy(orig_files, g_files, sizeof(char *) * (size_t)n_orig_files);
    g_n_files = 0;
    struct fstate *fs = calloc(MAX_FILES, sizeof(*fs));
    int checked = 0;
    for (int k = 5; k <= n_orig; k += 7) {
        /* A damaged starting image: V3 (torn) or V2 (subset) at cut k. */
        memcpy(g_ev, orig, sizeof(struct tev) * (size_t)n_orig);
        g_n_ev = n_orig;
        memcpy(g_files, orig_files, sizeof(char *) * (size_t)n_orig_files);
        g_n_files = n_orig_files;
        g_rng = 0xABCDEFull + (uint64_t)k;
        ASSERT_OK(BASE->rmdir_r(BASE, img));
        ASSERT_OK(vfs_mkdir_p(BASE, img));
        build_image(k, (k % 2) ? 3 : 2, img, fs);
        /* Recover it through the trace, from a trace seeded with the image.
         * orig and orig_files keep owning the workload trace's buffers. */
        g_n_ev = 0;
        g_n_files = 0;
        seed_trace_from(img);
        int seeded = g_n_ev;
        struct tcollect ref = {.check = true};
        struct wal *w = NULL;
        kite_err err;
        ASSERT_OK(wal_open(trace_vfs(), img, NULL, 1, tcollect_fn, &ref, &w, &err));
        wal_close(w);
        ASSERT(!ref.bad);
        for (int c = seeded; c <= g_n_ev; c++) {
            for (int v = 0; v < 5; v++) {
                g_rng = 0x5151ull + (uint64_t)c * 7u + (uint64_t)v;
                ASSERT_OK(BASE->rmdir_r(BASE, img2));
                ASSERT_OK(vfs_mkdir_p(BASE, img2));
                build_image(c, v, img2, fs);
                struct tcollect got = {.check = true};
                if (wal_open(BASE, img2, NULL, 1, tcollect_fn, &got, &w, &err) != KITE_OK)
                    TEST_FAIL_("image %d, recovery cut %d v %d: %s", k, c, v, err.message);
                wal_close(w);
                if (got.count != ref.count || got.first != ref.first || got.last != ref.last ||
                    got.bad)
                    TEST_FAIL_("image %d, recovery cut %d v %d: [%llu..%llu] != [%llu..%llu]", k,
                               c, v, (unsigned long long)got.first,
                               (unsigned long long)got.last, (unsigned long long)ref.first,
                               (unsigned long long)ref.last);
                checked++;
            }
        }
        for (int i = 0; i < g_n_ev; i++)
            free(g_ev[i].data);
        g_n_ev = 0;
        for (int i = 0; i < g_n_files; i++)
            free(g_files[i]);
        g_n_files = 0;
    }
    fprintf(stderr, "  crash during recovery: %d images, all idempotent\n", checked);
    ASSERT(checked > 50);
    for (int i = 0; i < n_orig; i++)
        free(orig[i].data);
    free(orig);
    for (int i = 0; i < n_orig_files; i++)
        free(orig_files[i]);
    for (int i = 0; i < MAX_FILES; i++)
        free(fs[i].durable.p);
    free(fs);
}
