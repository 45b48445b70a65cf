/*
 * wal.c — the write-ahead log of wal.h: append, group commit, rotation,
 * recovery.  (Anchor: SQLite src/wal.c header comment; PostgreSQL xlog.)
 *
 * ON-DISK FORMAT (all integers little-endian; docs/FORMAT.md "WAL")
 *
 *   A log is a directory of files named "wal-<first_lsn>.log", first_lsn in 20
 *   zero-padded decimal digits (so names sort in LSN order).  Other names,
 *   such as leftover "*.tmp-*" files, are ignored.
 *
 *   File header, 24 bytes:
 *     0  u32  magic       0x4C41574B ("KWAL" on disk)
 *     4  u32  version     1
 *     8  u64  first_lsn   LSN of the first record (equals the name)
 *    16  u32  reserved    0
 *    20  u32  crc         CRC32C of bytes 0..19
 *
 *   Records follow back to back, each 29 + len bytes:
 *     0  u32  magic       0x4345524B ("KREC" on disk)
 *     4  u32  len         payload length in bytes
 *     8  u64  lsn         previous record's lsn + 1
 *    16  u64  synced_lsn  highest LSN known durable when this record was written
 *    24  u8   type        chosen by the caller
 *    25  len  payload
 *  25+len u32 crc         CRC32C of the payload followed by bytes 0..24
 *
 *   The CRC covers the payload first so appenders compute the expensive part
 *   outside the log mutex and only extend it over the 25 header bytes inside.
 *
 * WHY synced_lsn (an addition to the classic magic/len/lsn/type/crc record):
 *   after a power cut the file system may keep any subset of the unsynced
 *   writes, so a hole followed by an intact record is a legal crash state and
 *   must be cut, while a hole in data that was already fdatasync'd is
 *   corruption and must stop recovery.  The two look identical on disk unless
 *   records say what was durable when they were written: if an intact record
 *   after a bad one carries synced_lsn >= the bad record's LSN, that LSN had
 *   been synced before, so its damage is corruption, not a torn write.
 *
 * RECOVERY RULE (invariant, checked by wal_open):
 *   R1. Files are read in LSN order; file k+1 starts at the LSN after file k's
 *       last record.  Any break of that chain is KITE_ECORRUPT.
 *   R2. Every record of every file but the last must be intact (magic, length
 *       in bounds, CRC, lsn = previous + 1, synced_lsn < lsn) and the file must
 *       end exactly after its last record, else KITE_ECORRUPT.
 *   R3. In the last file, the first bad record (or a bad file header) starts
 *       the torn tail: if any intact record after it has synced_lsn >= the
 *       first missing LSN, the damage hit synced data -> KITE_ECORRUPT.  Else
 *       the file is cut at that offset (a warning is logged) and the log goes
 *       on from there.  A bad header in the last file resets it to a header.
 *   R4. On KITE_ECORRUPT nothing is truncated, rewritten or deleted, and the
 *       replay callback has not been called: every file is verified, and the
 *       torn tail cut and fdatasync'd, before the first callback.  A replay
 *       that fails after that (callback error, ENOMEM) leaves only the cut.
 *   Hence: every record whose wal_sync() returned KITE_OK survives any crash
 *   that keeps synced data intact, and recovery yields a prefix of the
 *   appended records.
 *
 * STATE MACHINE
 *
 *   wal_open() --> OPEN --(pwrite error other than ENOSPC, any fdatasync or
 *                          rotation error)--> FAILED (sticky; wal_status() != 0)
 *   OPEN --(ENOSPC on append: partial record truncated back)--> OPEN
 *   FAILED: append/sync return KITE_EREADONLY until wal_close + wal_open.
 *   An fdatasync is never retried (RELIABILITY.md "fsyncgate").
 *
 * THREADING MODEL
 *   `mu` guards every mutable field below it in struct wal.  Appenders encode
 *   and pwrite at the file tail while holding mu (so records are written in
 *   LSN order with no holes).  One thread at a time is the syncer: it notes
 *   the last appended LSN, sets `syncing`, drops mu, fdatasyncs, retakes mu,
 *   publishes durable_lsn and broadcasts `cv`; other syncers wait on `cv` and
 *   re-check, so one fdatasync covers many appends (group commit).  Rotation
 *   runs inside an append with mu held, after waiting for `syncing` to clear,
 *   so the syncer's file handle stays valid.  `trunc_mu` serialises
 *   wal_truncate_before(), which unlinks files without holding mu.
 *   Lock order: trunc_mu, then mu.
 *   The statistics counters (wal_counters) are relaxed atomics bumped after a
 *   successful record pwrite (appends, bytes) and after every fdatasync that
 *   covers appended records, in wal_sync or rotation (syncs); readers take no
 *   lock and may see the three slightly out of step with each other.
 */
#include "wal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "crc32c.h"
#include "endian.h"
#include "err.h"
#include "log.h"

#define WAL_FILE_MAGIC 0x4C41574Bu /* "KWAL" */
#define WAL_REC_MAGIC 0x4345524Bu  /* "KREC" */
#define WAL_VERSION 1u
#define WAL_HDR_BYTES 24u
#define WAL_REC_HDR_BYTES 25u
#define WAL_REC_OVERHEAD 29u
#define WAL_NAME_LEN 28u /* "wal-" + 20 digits + ".log" */
#define WAL_DEFAULT_FILE_MAX (64u << 20)
#define WAL_DEFAULT_REC_MAX (256u << 20)
#define WAL_HARD_REC_MAX (UINT32_MAX - 4096u)

struct wal {
    struct kite_vfs *vfs;
    char *dir;
    uint64_t file_max_bytes;
    uint64_t max_record_bytes;
    pthread_mutex_t trunc_mu;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* --- guarded by mu --- */
    struct kite_file *cur; /* active file */
    uint64_t cur_first;    /* first LSN of the active file */
    uint64_t cur_off;      /* append offset in the active file */
    uint64_t next_lsn;
    uint64_t durable_lsn;
    bool syncing;
    int failed;     /* KITE_OK or the sticky error */
    uint64_t *sealed; /* first LSNs of older files, ascending */
    size_t n_sealed, cap_sealed;
    /* --- published copies for lock-free getters --- */
    _Atomic uint64_t last_lsn_pub;
    _Atomic int status_pub;
    /* --- statistics (wal_counters), relaxed atomics, since wal_open --- */
    _Atomic uint64_t n_appends; /* records written by wal_append */
    _Atomic uint64_t n_syncs;   /* fdatasync calls covering appended records */
    _Atomic uint64_t n_bytes;   /* record bytes written, headers and CRC included */
};

/* ------------------------------------------------------------------------ */
/* Encoding helpers                                                          */
/* ------------------------------------------------------------------------ */

static void encode_file_header(uint8_t *h, uint64_t first_lsn)
{
    kite_put_u32(h, WAL_FILE_MAGIC);
    kite_put_u32(h + 4, WAL_VERSION);
    kite_put_u64(h + 8, first_lsn);
    kite_put_u32(h + 16, 0);
    kite_put_u32(h + 20, kite_crc32c(0, h, 20));
}

static bool file_header_ok(const uint8_t *p, uint64_t size, uint64_t *first_lsn)
{
    if (size < WAL_HDR_BYTES)
        return false;
    if (kite_get_u32(p) != WAL_FILE_MAGIC || kite_get_u32(p + 4) != WAL_VERSION ||
        kite_get_u32(p + 16) != 0 || kite_get_u32(p + 20) != kite_crc32c(0, p, 20))
        return false;
    *first_lsn = kite_get_u64(p + 8);
    return true;
}

struct rec_view {
    uint64_t lsn;
    uint64_t synced_lsn;
    uint8_t type;
    const uint8_t *payload;
    uint32_t len;
    uint64_t total; /* bytes on disk */
};

/* Parse the record at off; true when magic, bounds and CRC are all right. */
static bool parse_record(const uint8_t *p, uint64_t size, uint64_t off, struct rec_view *r)
{
    if (off > size || size - off < WAL_REC_OVERHEAD)
        return false;
    const uint8_t *h = p + off;
    if (kite_get_u32(h) != WAL_REC_MAGIC)
        return false;
    uint32_t len = kite_get_u32(h + 4);
    if ((uint64_t)len > size - off - WAL_REC_OVERHEAD)
        return false;
    uint32_t crc = kite_crc32c(kite_crc32c(0, h + WAL_REC_HDR_BYTES, len), h, WAL_REC_HDR_BYTES);
    if (crc != kite_get_u32(h + WAL_REC_HDR_BYTES + len))
        return false;
    r->lsn = kite_get_u64(h + 8);
    r->synced_lsn = kite_get_u64(h + 16);
    r->type = h[24];
    r->payload = h + WAL_REC_HDR_BYTES;
    r->len = len;
    r->total = WAL_REC_OVERHEAD + (uint64_t)len;
    return true;
}

static char *file_path(const char *dir, uint64_t first_lsn)
{
    size_t n = strlen(dir) + WAL_NAME_LEN + 2;
    char *p = kite_malloc(n);
    if (p)
        snprintf(p, n, "%s/wal-%020" PRIu64 ".log", dir, first_lsn);
    return p;
}

/* "wal-<20 digits>.log" -> first_lsn; false for any other name. */
static bool parse_name(const char *name, uint64_t *lsn)
{
    if (strlen(name) != WAL_NAME_LEN || strncmp(name, "wal-", 4) != 0 ||
        strcmp(name + 24, ".log") != 0)
        return false;
    uint64_t v = 0;
    for (int i = 4; i < 24; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *lsn = v;
    return true;
}

static void set_failed_locked(struct wal *w, int code)
{
    if (w->failed == KITE_OK) {
        w->failed = code;
        atomic_store(&w->status_pub, code);
        KITE_ERROR("wal %s: entering failed state after %s; writes refused until reopen",
                   w->dir, kite_err_name(code));
    }
    pthread_cond_broadcast(&w->cv);
}

/* ------------------------------------------------------------------------ */
/* Creating files                                                            */
/* ------------------------------------------------------------------------ */

/* Create wal-<first>.log with its header, fdatasync it and the directory.
 * On failure the new file is removed (best effort) and *out is NULL. */
static int create_file(struct wal *w, uint64_t first, struct kite_file **out)
{
    struct kite_vfs *vfs = w->vfs;
    struct kite_file *f = NULL;
    uint8_t h[WAL_HDR_BYTES];
    int rc = KITE_OK;
    *out = NULL;
    char *path = file_path(w->dir, first);
    if (!path)
        return KITE_ENOMEM;
    rc = kite_vfs_err(vfs->open(vfs, path, KITE_O_RDWR | KITE_O_CREATE | KITE_O_EXCL, &f));
    if (rc != KITE_OK)
        goto out_free;
    encode_file_header(h, first);
    rc = kite_vfs_err(vfs->pwrite(f, h, sizeof(h), 0));
    if (rc == KITE_OK)
        rc = kite_vfs_err(vfs->fdatasync(f));
    if (rc == KITE_OK)
        rc = kite_vfs_err(vfs->fsync_dir(vfs, w->dir));
    if (rc != KITE_OK) {
        (void)vfs->close(f);
        (void)vfs->unlink(vfs, path);
        goto out_free;
    }
    *out = f;
out_free:
    kite_free(path);
    return rc;
}

/* Seal the active file and start a new one at next_lsn.  Called with mu held
 * from wal_append.  Errors other than ENOSPC before the new file exists
 * poison the log. */
static int rotate_locked(struct wal *w)
{
    while (w->syncing)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->failed != KITE_OK)
        return KITE_EREADONLY;
    if (w->n_sealed == w->cap_sealed) {
        size_t ncap = w->cap_sealed ? w->cap_sealed * 2 : 8, bytes;
        if (!kite_mul_size(ncap, sizeof(uint64_t), &bytes))
            return KITE_ENOMEM;
        uint64_t *ns = kite_realloc(w->sealed, bytes);
        if (!ns)
            return KITE_ENOMEM;
        w->sealed = ns;
        w->cap_sealed = ncap;
    }
    /* Everything in the old file must be durable before the new file gets a
     * record: recovery treats damage in a non-last file as corruption. */
    int rc = kite_vfs_err(w->vfs->fdatasync(w->cur));
    atomic_fetch_add_explicit(&w->n_syncs, 1, memory_order_relaxed);
    if (rc != KITE_OK) {
        set_failed_locked(w, rc);
        return rc;
    }
    w->durable_lsn = w->next_lsn - 1;
    pthread_cond_broadcast(&w->cv);
    struct kite_file *nf = NULL;
    rc = create_file(w, w->next_lsn, &nf);
    if (rc != KITE_OK) {
        if (rc != KITE_ENOSPC && rc != KITE_ENOMEM)
            set_failed_locked(w, rc);
        return rc;
    }
    (void)w->vfs->close(w->cur);
    w->sealed[w->n_sealed++] = w->cur_first;
    w->cur = nf;
    w->cur_first = w->next_lsn;
    w->cur_off = WAL_HDR_BYTES;
    return KITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Append and group commit                                                   */
/* ------------------------------------------------------------------------ */

int wal_append(struct wal *w, uint8_t type, const void *payload, size_t len, uint64_t *lsn)
{
    int rc = KITE_OK;
    if (!w || (len > 0 && !payload))
        return KITE_EINVAL;
    if ((uint64_t)len > w->max_record_bytes)
        return KITE_ELIMIT;
    size_t total = WAL_REC_OVERHEAD + len;
    uint8_t *buf = kite_malloc(total);
    if (!buf)
        return KITE_ENOMEM;
    if (len)
        memcpy(buf + WAL_REC_HDR_BYTES, payload, len);
    uint32_t pcrc = kite_crc32c(0, buf + WAL_REC_HDR_BYTES, len);

    pthread_mutex_lock(&w->mu);
    if (w->failed != KITE_OK) {
        rc = KITE_EREADONLY;
        goto out_unlock;
    }
    if (w->cur_off > WAL_HDR_BYTES && w->cur_off + total > w->file_max_bytes) {
        rc = rotate_locked(w);
        if (rc != KITE_OK)
            goto out_unlock;
    }
    kite_put_u32(buf, WAL_REC_MAGIC);
    kite_put_u32(buf + 4, (uint32_t)len);
    kite_put_u64(buf + 8, w->next_lsn);
    kite_put_u64(buf + 16, w->durable_lsn);
    buf[24] = type;
    kite_put_u32(buf + WAL_REC_HDR_BYTES + len, kite_crc32c(pcrc, buf, WAL_REC_HDR_BYTES));
    int vrc = w->vfs->pwrite(w->cur, buf, total, w->cur_off);
    if (vrc != 0) {
        rc = kite_vfs_err(vrc);
        if (rc == KITE_ENOSPC) {
            /* Nothing was acked; cut the partial record so the log stays
             * usable once space returns. */
            int trc = kite_vfs_err(w->vfs->ftruncate(w->cur, w->cur_off));
            if (trc != KITE_OK)
                set_failed_locked(w, trc);
        } else {
            set_failed_locked(w, rc);
        }
        goto out_unlock;
    }
    w->cur_off += total;
    atomic_fetch_add_explicit(&w->n_appends, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->n_bytes, (uint64_t)total, memory_order_relaxed);
    if (lsn)
        *lsn = w->next_lsn;
    w->next_lsn++;
    atomic_store(&w->last_lsn_pub, w->next_lsn - 1);
out_unlock:
    pthread_mutex_unlock(&w->mu);
    kite_free(buf);
    return rc;
}

int wal_sync(struct wal *w, uint64_t lsn)
{
    if (!w)
        return KITE_EINVAL;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (w->failed != KITE_OK) {
            pthread_mutex_unlock(&w->mu);
            return KITE_EREADONLY;
        }
        if (lsn <= w->durable_lsn) {
            pthread_mutex_unlock(&w->mu);
            return KITE_OK;
        }
        if (lsn >= w->next_lsn) {
            pthread_mutex_unlock(&w->mu);
            return KITE_EINVAL; /* never appended */
        }
        if (!w->syncing)
            break;
        pthread_cond_wait(&w->cv, &w->mu);
    }
    w->syncing = true;
    uint64_t target = w->next_lsn - 1;
    struct kite_file *f = w->cur;
    pthread_mutex_unlock(&w->mu);

    int rc = kite_vfs_err(w->vfs->fdatasync(f));
    atomic_fetch_add_explicit(&w->n_syncs, 1, memory_order_relaxed);

    pthread_mutex_lock(&w->mu);
    w->syncing = false;
    if (rc != KITE_OK)
        set_failed_locked(w, rc);
    else if (target > w->durable_lsn)
        w->durable_lsn = target;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t wal_last_lsn(const struct wal *w)
{
    return w ? atomic_load(&((struct wal *)w)->last_lsn_pub) : 0;
}

int wal_status(const struct wal *w)
{
    return w ? atomic_load(&((struct wal *)w)->status_pub) : KITE_EINVAL;
}

void wal_counters(const struct wal *w, uint64_t *appends, uint64_t *syncs, uint64_t *bytes)
{
    struct wal *m = (struct wal *)w; /* atomics are read-only here */
    if (appends)
        *appends = m ? atomic_load_explicit(&m->n_appends, memory_order_relaxed) : 0;
    if (syncs)
        *syncs = m ? atomic_load_explicit(&m->n_syncs, memory_order_relaxed) : 0;
    if (bytes)
        *bytes = m ? atomic_load_explicit(&m->n_bytes, memory_order_relaxed) : 0;
}

/* ------------------------------------------------------------------------ */
/* Truncation                                                                */
/* ------------------------------------------------------------------------ */

int wal_truncate_before(struct wal *w, uint64_t lsn)
{
    int rc = KITE_OK;
    if (!w)
        return KITE_EINVAL;
    pthread_mutex_lock(&w->trunc_mu);
    for (;;) {
        /* Oldest sealed file is deletable when its successor starts <= lsn. */
        pthread_mutex_lock(&w->mu);
        bool can = false;
        uint64_t first = 0;
        if (w->n_sealed > 0) {
            uint64_t succ = w->n_sealed > 1 ? w->sealed[1] : w->cur_first;
            can = succ <= lsn;
            first = w->sealed[0];
        }
        pthread_mutex_unlock(&w->mu);
        if (!can)
            break;
        char *path = file_path(w->dir, first);
        if (!path) {
            rc = KITE_ENOMEM;
            break;
        }
        int vrc = w->vfs->unlink(w->vfs, path);
        kite_free(path);
        if (vrc != 0 && vrc != -ENOENT) {
            rc = kite_vfs_err(vrc);
            break;
        }
        /* One directory fsync per unlink keeps the surviving files a
         * contiguous suffix even if the file system reorders unlinks. */
        rc = kite_vfs_err(w->vfs->fsync_dir(w->vfs, w->dir));
        pthread_mutex_lock(&w->mu);
        memmove(w->sealed, w->sealed + 1, (w->n_sealed - 1) * sizeof(uint64_t));
        w->n_sealed--;
        pthread_mutex_unlock(&w->mu);
        if (rc != KITE_OK)
            break;
    }
    pthread_mutex_unlock(&w->trunc_mu);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Recovery                                                                  */
/* ------------------------------------------------------------------------ */

struct scan_file {
    uint64_t first_lsn; /* from the name */
    uint64_t end_off;   /* verified end (records stop here) */
    uint64_t size;      /* size on disk */
    uint64_t n_records;
    bool header_bad;    /* last file only: reset to a fresh header */
};

struct mapped {
    struct kite_file *f;
    const uint8_t *p;
    size_t len;
};

static int map_file(struct kite_vfs *vfs, const char *path, struct mapped *m)
{
    memset(m, 0, sizeof(*m));
    int vrc = vfs->open(vfs, path, KITE_O_RDONLY, &m->f);
    if (vrc == 0) {
        const void *a = NULL;
        vrc = vfs->mmap(m->f, &a, &m->len);
        m->p = a;
        if (vrc != 0) {
            (void)vfs->close(m->f);
            m->f = NULL;
        }
    }
    return kite_vfs_err(vrc);
}

static void unmap_file(struct kite_vfs *vfs, struct mapped *m)
{
    if (m->p)
        (void)vfs->munmap(m->p, m->len);
    if (m->f)
        (void)vfs->close(m->f);
    memset(m, 0, sizeof(*m));
}

/* Look for an intact record after a bad one at `off` that proves LSN
 * `expected` had been synced (R3); with any_synced, any intact record with
 * lsn >= expected counts.  Returns its offset or UINT64_MAX. */
static uint64_t find_synced_after(const uint8_t *p, uint64_t size, uint64_t off,
                                  uint64_t expected, bool any_synced, uint64_t *found_lsn)
{
    const uint8_t m0 = (uint8_t)(WAL_REC_MAGIC & 0xff);
    for (uint64_t o = off + 1; o + WAL_REC_OVERHEAD <= size; o++) {
        const uint8_t *q = memchr(p + o, m0, (size_t)(size - o));
        if (!q)
            break;
        o = (uint64_t)(q - p);
        struct rec_view r;
        if (parse_record(p, size, o, &r) && r.lsn >= expected && r.synced_lsn < r.lsn &&
            (any_synced || r.synced_lsn >= expected)) {
            *found_lsn = r.lsn;
            return o;
        }
    }
    return UINT64_MAX;
}

/* R2/R3 for one file.  *expected is the next LSN (0 = take the file's). */
static int verify_file(struct wal *w, const char *path, struct scan_file *sf, bool is_last,
                       uint64_t *expected, kite_err *err)
{
    struct mapped m;
    int rc = map_file(w->vfs, path, &m);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "wal: cannot map %s: %s", path, kite_strerror(rc));
    sf->size = m.len;
    uint64_t hdr_lsn = 0;
    if (*expected != 0 && sf->first_lsn != *expected) {
        rc = kite_err_set(err, KITE_ECORRUPT,
                          "wal: LSN gap: %s starts at LSN %" PRIu64 " but the previous file "
                          "ends at LSN %" PRIu64 "; expected a file starting at %" PRIu64,
                          path, sf->first_lsn, *expected - 1, *expected);
        goto out;
    }
    uint64_t exp = sf->first_lsn;
    uint64_t off = WAL_HDR_BYTES;
    if (!file_header_ok(m.p, m.len, &hdr_lsn)) {
        /* The header is fdatasync'd before any record is written, so an
         * intact record behind a bad header means the header was damaged
         * after it was durable. */
        uint64_t found = 0;
        uint64_t at = m.len > WAL_HDR_BYTES ? find_synced_after(m.p, m.len, WAL_HDR_BYTES - 1,
                                                                exp, true, &found)
                                            : UINT64_MAX;
        if (!is_last || at != UINT64_MAX) {
            rc = kite_err_set_at(err, KITE_ECORRUPT, 0,
                                 "wal: %s: bad file header (expected magic KWAL, version %u and "
                                 "a matching CRC) %s; refusing to touch it",
                                 path, WAL_VERSION,
                                 is_last ? "followed by valid records" : "in a non-last file");
            goto out;
        }
        sf->header_bad = true;
        sf->end_off = 0;
        *expected = exp;
        goto out;
    }
    if (hdr_lsn != sf->first_lsn) {
        rc = kite_err_set_at(err, KITE_ECORRUPT, 8,
                             "wal: %s: header says first LSN %" PRIu64 ", name says %" PRIu64,
                             path, hdr_lsn, sf->first_lsn);
        goto out;
    }
    while (off < m.len) {
        struct rec_view r;
        if (parse_record(m.p, m.len, off, &r)) {
            if (r.lsn != exp || r.synced_lsn >= r.lsn) {
                rc = kite_err_set_at(err, KITE_ECORRUPT, (int64_t)off,
                                     "wal: %s offset %" PRIu64 ": record has LSN %" PRIu64
                                     " (synced %" PRIu64 "), expected LSN %" PRIu64,
                                     path, off, r.lsn, r.synced_lsn, exp);
                goto out;
            }
            if (r.len > w->max_record_bytes) {
                rc = kite_err_set_at(err, KITE_ELIMIT, (int64_t)off,
                                     "wal: %s offset %" PRIu64 ": record of %" PRIu32
                                     " bytes exceeds max_record_bytes %" PRIu64,
                                     path, off, r.len, w->max_record_bytes);
                goto out;
            }
            off += r.total;
            exp++;
            sf->n_records++;
            continue;
        }
        if (!is_last) {
            rc = kite_err_set_at(err, KITE_ECORRUPT, (int64_t)off,
                                 "wal: %s offset %" PRIu64 ": bad record (expected LSN %" PRIu64
                                 ") in a non-last file; refusing to truncate",
                                 path, off, exp);
            goto out;
        }
        uint64_t found = 0;
        uint64_t at = find_synced_after(m.p, m.len, off, exp, false, &found);
        if (at != UINT64_MAX) {
            rc = kite_err_set_at(err, KITE_ECORRUPT, (int64_t)off,
                                 "wal: %s offset %" PRIu64 ": bad record (expected LSN %" PRIu64
                                 ") followed by a valid record at offset %" PRIu64
                                 " (LSN %" PRIu64 ") written after LSN %" PRIu64
                                 " was synced; refusing to truncate",
                                 path, off, exp, at, found, exp);
            goto out;
        }
        break; /* torn tail: cut at off */
    }
    sf->end_off = off;
    *expected = exp;
out:
    unmap_file(w->vfs, &m);
    return rc;
}

static int replay_file(struct wal *w, const char *path, const struct scan_file *sf,
                       uint64_t from_lsn, wal_replay_fn replay, void *udata, kite_err *err)
{
    if (sf->n_records == 0 || sf->first_lsn + sf->n_records <= from_lsn || !replay)
        return KITE_OK;
    struct mapped m;
    int rc = map_file(w->vfs, path, &m);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "wal: cannot map %s: %s", path, kite_strerror(rc));
    uint64_t off = WAL_HDR_BYTES;
    for (uint64_t i = 0; i < sf->n_records; i++) {
        struct rec_view r;
        /* Verified by verify_file; the file is not written while we open. */
        if (!parse_record(m.p, m.len, off, &r)) {
            rc = kite_err_set_at(err, KITE_ECORRUPT, (int64_t)off,
                                 "wal: %s changed during recovery at offset %" PRIu64, path, off);
            break;
        }
        off += r.total;
        if (r.lsn < from_lsn)
            continue;
        rc = replay(r.lsn, r.type, r.payload, r.len, udata);
        if (rc != KITE_OK) {
            if (err && err->code == KITE_OK)
                kite_err_set(err, rc, "wal: replay callback failed at LSN %" PRIu64 ": %s",
                             r.lsn, kite_strerror(rc));
            break;
        }
    }
    unmap_file(w->vfs, &m);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted first LSNs of every "wal-*.log" in the directory (owned). */
static int list_files(struct wal *w, uint64_t **out, size_t *n_out, kite_err *err)
{
    char **names = NULL;
    size_t n = 0, k = 0;
    *out = NULL;
    *n_out = 0;
    int rc = kite_vfs_err(w->vfs->list(w->vfs, w->dir, &names, &n));
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "wal: cannot list %s: %s", w->dir, kite_strerror(rc));
    uint64_t *lsns = kite_calloc(n ? n : 1, sizeof(uint64_t));
    if (!lsns)
        rc = KITE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (lsns && parse_name(names[i], &v))
            lsns[k++] = v;
        kite_free(names[i]);
    }
    kite_free(names);
    if (rc != KITE_OK)
        return rc;
    qsort(lsns, k, sizeof(uint64_t), cmp_u64);
    *out = lsns;
    *n_out = k;
    return KITE_OK;
}

/* Open the last file for appending; cut a torn tail or reset a bad header,
 * then fdatasync so everything recovered counts as durable. */
static int open_active(struct wal *w, const struct scan_file *sf, kite_err *err)
{
    struct kite_vfs *vfs = w->vfs;
    char *path = file_path(w->dir, sf->first_lsn);
    if (!path)
        return KITE_ENOMEM;
    int rc = kite_vfs_err(vfs->open(vfs, path, KITE_O_RDWR, &w->cur));
    if (rc != KITE_OK)
        goto out;
    w->cur_first = sf->first_lsn;
    w->cur_off = sf->end_off;
    if (sf->header_bad) {
        uint8_t h[WAL_HDR_BYTES];
        KITE_WARN("wal %s: resetting torn header of the last file (%" PRIu64 " bytes)", path,
                  sf->size);
        encode_file_header(h, sf->first_lsn);
        rc = kite_vfs_err(vfs->ftruncate(w->cur, 0));
        if (rc == KITE_OK)
            rc = kite_vfs_err(vfs->pwrite(w->cur, h, sizeof(h), 0));
        w->cur_off = WAL_HDR_BYTES;
    } else if (sf->size > sf->end_off) {
        KITE_WARN("wal %s: cutting torn tail of %" PRIu64 " bytes at offset %" PRIu64
                  " (records after LSN %" PRIu64 " were never acknowledged)",
                  path, sf->size - sf->end_off, sf->end_off, sf->first_lsn + sf->n_records - 1);
        rc = kite_vfs_err(vfs->ftruncate(w->cur, sf->end_off));
    }
    if (rc == KITE_OK)
        rc = kite_vfs_err(vfs->fdatasync(w->cur));
    if (rc == KITE_OK)
        rc = kite_vfs_err(vfs->fsync_dir(vfs, w->dir));
    if (rc != KITE_OK) {
        kite_err_set(err, rc, "wal: cannot prepare %s for appending: %s", path,
                     kite_strerror(rc));
        (void)vfs->close(w->cur);
        w->cur = NULL;
    }
out:
    if (rc != KITE_OK && err && err->code == KITE_OK)
        kite_err_set(err, rc, "wal: cannot open %s: %s", path, kite_strerror(rc));
    kite_free(path);
    return rc;
}

static int recover(struct wal *w, uint64_t from_lsn, wal_replay_fn replay, void *udata,
                   kite_err *err)
{
    uint64_t *lsns = NULL;
    size_t n = 0;
    struct scan_file *sfs = NULL;
    char *path = NULL;
    int rc = list_files(w, &lsns, &n, err);
    if (rc != KITE_OK)
        return rc;
    if (n == 0) {
        uint64_t first = from_lsn > 0 ? from_lsn : 1;
        rc = create_file(w, first, &w->cur);
        if (rc != KITE_OK) {
            kite_err_set(err, rc, "wal: cannot create the first log file in %s: %s", w->dir,
                         kite_strerror(rc));
            goto out;
        }
        w->cur_first = first;
        w->cur_off = WAL_HDR_BYTES;
        w->next_lsn = first;
        goto out;
    }
    sfs = kite_calloc(n, sizeof(*sfs));
    if (!sfs) {
        rc = KITE_ENOMEM;
        goto out;
    }
    uint64_t expected = 0;
    for (size_t i = 0; i < n; i++) { /* pass 1: verify everything (R4) */
        sfs[i].first_lsn = lsns[i];
        path = file_path(w->dir, lsns[i]);
        if (!path) {
            rc = KITE_ENOMEM;
            goto out;
        }
        rc = verify_file(w, path, &sfs[i], i + 1 == n, &expected, err);
        kite_free(path);
        path = NULL;
        if (rc != KITE_OK)
            goto out;
    }
    if (from_lsn > expected) {
        rc = kite_err_set(err, KITE_ECORRUPT,
                          "wal: %s ends at LSN %" PRIu64 " but replay must start at LSN %" PRIu64
                          "; log files are missing",
                          w->dir, expected - 1, from_lsn);
        goto out;
    }
    /* Cut the torn tail and make the recovered records durable before the
     * first callback, so an I/O error here means nothing was replayed. */
    rc = open_active(w, &sfs[n - 1], err);
    if (rc != KITE_OK)
        goto out;
    for (size_t i = 0; i < n; i++) { /* pass 2: replay */
        path = file_path(w->dir, lsns[i]);
        if (!path) {
            rc = KITE_ENOMEM;
            goto out;
        }
        rc = replay_file(w, path, &sfs[i], from_lsn, replay, udata, err);
        kite_free(path);
        path = NULL;
        if (rc != KITE_OK)
            goto out;
    }
    w->next_lsn = expected;
    if (n > 1) {
        w->sealed = kite_malloc((n - 1) * sizeof(uint64_t));
        if (!w->sealed) {
            rc = KITE_ENOMEM;
            goto out;
        }
        memcpy(w->sealed, lsns, (n - 1) * sizeof(uint64_t));
        w->n_sealed = w->cap_sealed = n - 1;
    }
out:
    kite_free(path);
    kite_free(sfs);
    kite_free(lsns);
    return rc;
}

int wal_open(struct kite_vfs *vfs, const char *dir, const struct wal_options *opt,
             uint64_t from_lsn, wal_replay_fn replay, void *udata, struct wal **out,
             kite_err *err)
{
    int rc = KITE_OK;
    kite_err_clear(err);
    *out = NULL;
    if (!vfs || !dir || !*dir)
        return kite_err_set(err, KITE_EINVAL, "wal: a vfs and a directory are required");
    struct wal *w = kite_calloc(1, sizeof(*w));
    if (!w)
        return kite_err_set(err, KITE_ENOMEM, "wal: out of memory");
    w->vfs = vfs;
    w->file_max_bytes = opt && opt->file_max_bytes ? opt->file_max_bytes : WAL_DEFAULT_FILE_MAX;
    w->max_record_bytes =
        opt && opt->max_record_bytes ? opt->max_record_bytes : WAL_DEFAULT_REC_MAX;
    if (w->max_record_bytes > WAL_HARD_REC_MAX)
        w->max_record_bytes = WAL_HARD_REC_MAX;
    w->dir = kite_strdup(dir);
    if (!w->dir) {
        kite_free(w);
        return kite_err_set(err, KITE_ENOMEM, "wal: out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->trunc_mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    rc = vfs_mkdir_p(vfs, dir);
    if (rc != KITE_OK) {
        kite_err_set(err, rc, "wal: cannot create directory %s: %s", dir, kite_strerror(rc));
        goto out_free;
    }
    rc = recover(w, from_lsn, replay, udata, err);
    if (rc != KITE_OK) {
        if (err && err->code == KITE_OK)
            kite_err_set(err, rc, "wal: recovery of %s failed: %s", dir, kite_strerror(rc));
        goto out_free;
    }
    w->durable_lsn = w->next_lsn - 1;
    atomic_store(&w->last_lsn_pub, w->next_lsn - 1);
    atomic_store(&w->status_pub, KITE_OK);
    *out = w;
    return KITE_OK;

out_free:
    wal_close(w);
    return rc;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    if (w->cur)
        (void)w->vfs->close(w->cur);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->trunc_mu);
    kite_free(w->sealed);
    kite_free(w->dir);
    kite_free(w);
}
