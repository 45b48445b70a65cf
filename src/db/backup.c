/*
 * backup.c — kite_backup (consistent online snapshot of an open database) and
 * kite_restore (verify a snapshot and copy it into an empty data directory).
 *
 * Snapshot protocol (docs/BACKUP.md):
 *   1. Under db->mu (so no DDL runs) the catalog file is hard-linked into a
 *      staging directory <data_dir>/.backup-<pid>-<n>/, and for every
 *      collection, under its exclusive lock, a checkpoint runs (seals growing
 *      data, writes the manifest, truncates the WAL) and the MANIFEST plus
 *      every file it names (seg-*, del-*, idx-*) are hard-linked into the
 *      staging directory.  A file a manifest names is immutable, and the hard
 *      link keeps its inode alive even if compaction or an index rebuild
 *      unlinks the original afterwards, so nothing needs a pin counter.
 *      Where the filesystem refuses hard links the file is copied instead
 *      (still under the lock; slower).
 *   2. The locks are dropped: writes continue while the staged files are
 *      copied to dest_dir, each fsynced, with CRC32C computed on the way; then
 *      every directory is fsynced.
 *   3. dest_dir/BACKUP (JSON: format, kite version, time, files with sizes and
 *      CRC32C) is written last, atomically (temp + fsync + rename + dir fsync):
 *      a directory without it is not a backup.
 *   4. The staging directory is removed (also on failure).
 * The WAL is not copied: after the checkpoint every acknowledged write up to
 * the snapshot point lives in the manifest's files.  The snapshot point is
 * the same for all collections (db->mu is held throughout step 1), and a
 * write batch is applied under the exclusive lock, so only whole batches are
 * in the snapshot.
 *
 * Restore verifies BACKUP (every file's size and CRC32C, no path escaping the
 * backup) before it writes anything, takes the data directory's flock (so a
 * running server makes it fail with KITE_EBUSY, and no server can start
 * during the copy), refuses a non-empty directory, copies with fsync.
 *
 * Threading model: kite_backup may run concurrently with any operation on db
 * (it uses the documented lock order db->mu -> dcoll->lock); two backups of
 * the same db use different staging directories.  kite_restore touches no
 * open database.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "db.h"

#define BACKUP_FILE "BACKUP"
#define BACKUP_FORMAT "kite-backup"
#define BACKUP_VERSION 1
#define CATALOG_FILE "catalog.kcat"
#define COPY_CHUNK (1u << 20)

/* One file of a backup: path relative to the backup root. */
struct bfile {
    char *rel;
    uint64_t size;
    uint32_t crc;
};

struct bjob {
    kite_progress_fn progress;
    void *udata;
    uint64_t done;
    uint64_t total;
    struct bfile *files;
    size_t n_files;
    size_t cap_files;
    uint8_t *buf;
};

static atomic_uint staging_seq;

/* ============================================================ helpers */

static int errno_code(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return KITE_ENOSPC;
    case ENOMEM:
        return KITE_ENOMEM;
    case EROFS:
        return KITE_EREADONLY;
    case EEXIST:
    case ENOTEMPTY:
        return KITE_EEXISTS;
    case ENOENT:
        return KITE_ENOTFOUND;
    default:
        return KITE_EIO;
    }
}

static int fsync_path(const char *path, kite_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kite_err_set(err, errno_code(errno), "cannot open %s to fsync it: %s", path,
                            strerror(errno));
    int rc = KITE_OK;
    if (fsync(fd) != 0)
        rc = kite_err_set(err, errno_code(errno), "fsync of %s failed: %s", path,
                          strerror(errno));
    close(fd);
    return rc;
}

/* mkdir -p; fsyncs the parent of every directory it creates. */
static int mkdirs(const char *path, kite_err *err)
{
    char *p = kite_strdup(path);
    if (!p)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    int rc = KITE_OK;
    size_t len = strlen(p);
    for (size_t i = 1; i <= len && !rc; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char save = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) == 0) {
            char *slash = strrchr(p, '/');
            if (slash && slash != p) {
                *slash = '\0';
                rc = fsync_path(p, err);
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            rc = kite_err_set(err, errno_code(errno), "cannot create directory %s: %s", p,
                              strerror(errno));
        }
        p[i] = save;
    }
    kite_free(p);
    return rc;
}

/* Is dir absent or empty (ignoring `ignore`, may be NULL)? */
static int dir_is_empty(const char *dir, const char *ignore, bool *empty, kite_err *err)
{
    DIR *d = opendir(dir);
    *empty = true;
    if (!d) {
        if (errno == ENOENT)
            return KITE_OK;
        return kite_err_set(err, errno == ENOTDIR ? KITE_EINVAL : errno_code(errno),
                            "cannot read directory %s: %s", dir, strerror(errno));
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (ignore && !strcmp(de->d_name, ignore))
            continue;
        *empty = false;
        break;
    }
    closedir(d);
    return KITE_OK;
}

static int job_add(struct bjob *j, const char *rel, uint64_t size, uint32_t crc)
{
    if (j->n_files == j->cap_files) {
        size_t cap = j->cap_files ? j->cap_files * 2 : 64;
        struct bfile *n = kite_realloc(j->files, cap * sizeof(*n));
        if (!n)
            return KITE_ENOMEM;
        j->files = n;
        j->cap_files = cap;
    }
    char *r = kite_strdup(rel);
    if (!r)
        return KITE_ENOMEM;
    j->files[j->n_files++] = (struct bfile){r, size, crc};
    return KITE_OK;
}

static void job_free(struct bjob *j)
{
    for (size_t i = 0; i < j->n_files; i++)
        kite_free(j->files[i].rel);
    kite_free(j->files);
    kite_free(j->buf);
}

static void report(struct bjob *j, const char *rel)
{
    if (j->progress)
        j->progress(j->done, j->total, rel, j->udata);
}

/*
 * Copy src to dst (created exclusively), fsync dst, return size and CRC32C.
 * When j is given, progress is reported per chunk under the name rel.
 */
static int copy_file(struct bjob *j, const char *src, const char *dst, const char *rel,
                     uint64_t *size, uint32_t *crc, kite_err *err)
{
    int in = -1, out = -1, rc = KITE_OK;
    uint64_t n = 0;
    uint32_t c = 0;
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rc = kite_err_set(err, errno_code(errno), "cannot open %s: %s", src, strerror(errno));
        goto out;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = kite_err_set(err, errno_code(errno), "cannot create %s: %s", dst, strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t got = read(in, j->buf, COPY_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = kite_err_set(err, errno_code(errno), "read of %s failed: %s", src,
                              strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        c = kite_crc32c(c, j->buf, (size_t)got);
        for (ssize_t off = 0; off < got;) {
            ssize_t w = write(out, j->buf + off, (size_t)(got - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = kite_err_set(err, errno_code(errno), "write of %s failed: %s", dst,
                                  strerror(errno));
                goto out;
            }
            off += w;
        }
        n += (uint64_t)got;
        if (rel) {
            j->done += (uint64_t)got;
            report(j, rel);
        }
    }
    if (fsync(out) != 0) {
        rc = kite_err_set(err, errno_code(errno), "fsync of %s failed: %s", dst, strerror(errno));
        goto out;
    }
    *size = n;
    *crc = c;
out:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && !rc)
        rc = kite_err_set(err, errno_code(errno), "close of %s failed: %s", dst, strerror(errno));
    return rc;
}

/* Size and CRC32C of a file, reporting progress when rel is given. */
static int file_crc(struct bjob *j, const char *path, const char *rel, uint64_t *size,
                    uint32_t *crc, kite_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = KITE_OK;
    uint64_t n = 0;
    uint32_t c = 0;
    if (fd < 0)
        return kite_err_set(err, errno == ENOENT ? KITE_ECORRUPT : errno_code(errno),
                            "backup file %s cannot be opened: %s", path, strerror(errno));
    for (;;) {
        ssize_t got = read(fd, j->buf, COPY_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = kite_err_set(err, errno_code(errno), "read of %s failed: %s", path,
                              strerror(errno));
            break;
        }
        if (got == 0)
            break;
        c = kite_crc32c(c, j->buf, (size_t)got);
        n += (uint64_t)got;
        if (rel) {
            j->done += (uint64_t)got;
            report(j, rel);
        }
    }
    close(fd);
    *size = n;
    *crc = c;
    return rc;
}

/* ============================================================ staging */

/* Hard-link (or, where links are refused, copy) data_dir/rel to stage/rel. */
static int stage_file(struct bjob *j, const char *data_dir, const char *stage, const char *rel,
                      kite_err *err)
{
    char *src = db_path_join(data_dir, rel), *dst = db_path_join(stage, rel);
    int rc = KITE_OK;
    if (!src || !dst) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    if (link(src, dst) != 0) {
        int e = errno;
        if (e == EXDEV || e == EPERM || e == ENOTSUP || e == EMLINK) {
            uint64_t sz;
            uint32_t crc;
            rc = copy_file(j, src, dst, NULL, &sz, &crc, err);
        } else {
            rc = kite_err_set(err, errno_code(e), "cannot link %s into the backup staging "
                              "directory %s: %s", src, stage, strerror(e));
        }
        if (rc)
            goto out;
    }
    rc = job_add(j, rel, 0, 0) ? kite_err_set(err, KITE_ENOMEM, "out of memory") : KITE_OK;
out:
    kite_free(src);
    kite_free(dst);
    return rc;
}

/* Checkpoint one collection and stage its manifest and files.  Caller holds
 * db->mu; this takes the collection's exclusive lock. */
static int stage_collection(struct bjob *j, struct dcoll *c, const char *stage, kite_err *err)
{
    int rc;
    char *sub = db_strfmt("collections/%" PRId64, c->id);
    char *sdir = sub ? db_path_join(stage, sub) : NULL;
    if (!sdir) {
        kite_free(sub);
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    }
    pthread_rwlock_wrlock(&c->lock);
    rc = coll_check_usable(c, true, err);
    if (!rc)
        rc = coll_checkpoint(c, err);
    if (rc) {
        kite_err_prefix(err, "backup: checkpoint of collection %s.%s failed", c->db_name,
                        c->name);
        goto out;
    }
    if ((rc = mkdirs(sdir, err)))
        goto out;
    char *rel = db_strfmt("%s/MANIFEST", sub);
    bool has_manifest = false;
    if (rel) {
        char *abs = db_path_join(c->db->dir, rel);
        struct stat st;
        has_manifest = abs && stat(abs, &st) == 0;
        kite_free(abs);
    }
    rc = !rel ? kite_err_set(err, KITE_ENOMEM, "out of memory")
              : has_manifest ? stage_file(j, c->db->dir, stage, rel, err) : KITE_OK;
    kite_free(rel);
    for (size_t i = 0; i < c->n_segs && !rc; i++) {
        struct dseg *s = c->segs[i];
        if (!s->sealed)
            continue;
        char *sn = seg_file_name(s->id);
        rel = sn ? db_strfmt("%s/%s", sub, sn) : NULL;
        rc = rel ? stage_file(j, c->db->dir, stage, rel, err)
                 : kite_err_set(err, KITE_ENOMEM, "out of memory");
        kite_free(rel);
        kite_free(sn);
        if (!rc && s->del_file) {
            rel = db_strfmt("%s/%s", sub, s->del_file);
            rc = rel ? stage_file(j, c->db->dir, stage, rel, err)
                     : kite_err_set(err, KITE_ENOMEM, "out of memory");
            kite_free(rel);
        }
        for (size_t f = 0; f < s->n_fields && !rc; f++) {
            if (!s->ix_file || !s->ix_file[f])
                continue;
            rel = db_strfmt("%s/%s", sub, s->ix_file[f]);
            rc = rel ? stage_file(j, c->db->dir, stage, rel, err)
                     : kite_err_set(err, KITE_ENOMEM, "out of memory");
            kite_free(rel);
        }
    }
out:
    pthread_rwlock_unlock(&c->lock);
    kite_free(sub);
    kite_free(sdir);
    return rc;
}

static int stage_all(kite_db *db, struct bjob *j, const char *stage, kite_err *err)
{
    int rc = KITE_OK;
    pthread_mutex_lock(&db->mu);
    if (db->closed) {
        rc = kite_err_set(err, KITE_ECLOSED, "backup: the database is closing");
        goto out;
    }
    if (db->opts.read_only) {
        rc = kite_err_set(err, KITE_EREADONLY,
                          "backup needs the database opened read-write (it checkpoints every "
                          "collection); %s is opened read-only",
                          db->dir);
        goto out;
    }
    if ((rc = mkdirs(stage, err)))
        goto out;
    char *cat = db_path_join(db->dir, CATALOG_FILE);
    struct stat st;
    bool has_cat = cat && stat(cat, &st) == 0;
    kite_free(cat);
    if (has_cat && (rc = stage_file(j, db->dir, stage, CATALOG_FILE, err)))
        goto out;
    for (size_t i = 0; i < db->n_colls && !rc; i++)
        if (!db->colls[i]->dropped)
            rc = stage_collection(j, db->colls[i], stage, err);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

/* ============================================================ manifest */

static int write_backup_manifest(struct bjob *j, const char *dest, kite_err *err)
{
    json_t *root = json_object(), *files = json_array();
    uint64_t now = db_now_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    char iso[32];
    gmtime_r(&secs, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(root, "format", json_string(BACKUP_FORMAT));
    json_object_set_new(root, "format_version", json_integer(BACKUP_VERSION));
    json_object_set_new(root, "kite_version", json_string(kite_version()));
    json_object_set_new(root, "created_ms", json_integer((json_int_t)now));
    json_object_set_new(root, "created", json_string(iso));
    for (size_t i = 0; i < j->n_files; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(j->files[i].rel));
        json_object_set_new(o, "size", json_integer((json_int_t)j->files[i].size));
        json_object_set_new(o, "crc32c", json_integer(j->files[i].crc));
        json_array_append_new(files, o);
    }
    json_object_set_new(root, "files", files);
    json_object_set_new(root, "total_bytes", json_integer((json_int_t)j->total));
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    char *path = db_path_join(dest, BACKUP_FILE);
    char *tmp = db_strfmt("%s/.%s.tmp", dest, BACKUP_FILE);
    int rc = KITE_OK, fd = -1;
    if (!text || !path || !tmp) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
        fsync(fd) != 0) {
        rc = kite_err_set(err, errno_code(errno), "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = kite_err_set(err, errno_code(errno), "cannot rename %s to %s: %s", tmp, path,
                          strerror(errno));
        goto out;
    }
    rc = fsync_path(dest, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc && tmp)
        unlink(tmp);
    free(text); /* jansson allocates with malloc */
    kite_free(path);
    kite_free(tmp);
    return rc;
}

/* fsync every directory of the relative paths (and the root). */
static int fsync_dirs(const char *root, const struct bfile *files, size_t n, kite_err *err)
{
    int rc = KITE_OK;
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *slash = strrchr(files[i].rel, '/');
        if (!slash)
            continue;
        size_t dl = (size_t)(slash - files[i].rel);
        if (last && dl == last_len && !memcmp(last, files[i].rel, dl))
            continue;
        last = files[i].rel;
        last_len = dl;
        char *d = db_strfmt("%s/%.*s", root, (int)dl, files[i].rel);
        rc = d ? fsync_path(d, err) : kite_err_set(err, KITE_ENOMEM, "out of memory");
        kite_free(d);
    }
    if (!rc) {
        char *c = db_path_join(root, "collections");
        struct stat st;
        if (c && stat(c, &st) == 0)
            rc = fsync_path(c, err);
        kite_free(c);
    }
    return rc ? rc : fsync_path(root, err);
}

/* Recursively remove a directory tree (staging, failed copies). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        (void)unlink(path);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *p = db_path_join(path, de->d_name);
        if (p) {
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(p);
            else
                (void)unlink(p);
        }
        kite_free(p);
    }
    closedir(d);
    (void)rmdir(path);
}

/*
 * Remove staging directories (.backup-*) a crash or kill during a backup left in the data
 * directory.  Called by kite_open with the directory's exclusive lock held, so no backup of
 * this or another process can be running.
 */
void backup_remove_stale_staging(const char *data_dir)
{
    DIR *d = opendir(data_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, ".backup-", 8) != 0)
            continue;
        char *p = db_path_join(data_dir, de->d_name);
        if (p) {
            KITE_INFO("removing %s, the staging directory of an interrupted backup", p);
            remove_tree(p);
        }
        kite_free(p);
    }
    closedir(d);
}

/* ============================================================ backup */

int kite_backup(kite_db *db, const char *dest_dir, kite_progress_fn progress, void *udata,
                kite_err *err)
{
    kite_err_clear(err);
    if (!db || !dest_dir || !*dest_dir)
        return kite_err_set(err, KITE_EINVAL, "kite_backup: db and dest_dir are required");
    struct bjob j = {.progress = progress, .udata = udata};
    char *stage = NULL;
    bool empty, created = false;
    struct stat st;
    int rc = dir_is_empty(dest_dir, NULL, &empty, err);
    if (rc)
        return rc;
    if (!empty)
        return kite_err_set(err, KITE_EEXISTS,
                            "backup destination %s is not empty: expected a new or empty "
                            "directory",
                            dest_dir);
    created = stat(dest_dir, &st) != 0;
    if ((rc = mkdirs(dest_dir, err)))
        return rc;
    j.buf = kite_malloc(COPY_CHUNK);
    stage = db_strfmt("%s/.backup-%ld-%u", db->dir, (long)getpid(),
                      atomic_fetch_add(&staging_seq, 1));
    if (!j.buf || !stage) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    remove_tree(stage); /* leftover of a crashed backup of this pid */
    if ((rc = stage_all(db, &j, stage, err)))
        goto out;

    /* Sizes for progress (the staged files are ours: they do not change). */
    for (size_t i = 0; i < j.n_files; i++) {
        char *p = db_path_join(stage, j.files[i].rel);
        if (!p || stat(p, &st) != 0) {
            rc = kite_err_set(err, p ? errno_code(errno) : KITE_ENOMEM,
                              "backup: staged file %s vanished", j.files[i].rel);
            kite_free(p);
            goto out;
        }
        j.total += (uint64_t)st.st_size;
        kite_free(p);
    }
    report(&j, "");
    for (size_t i = 0; i < j.n_files && !rc; i++) {
        struct bfile *f = &j.files[i];
        char *src = db_path_join(stage, f->rel), *dst = db_path_join(dest_dir, f->rel);
        char *slash = dst ? strrchr(dst, '/') : NULL;
        if (!src || !dst) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        } else {
            *slash = '\0';
            rc = mkdirs(dst, err);
            *slash = '/';
            if (!rc)
                rc = copy_file(&j, src, dst, f->rel, &f->size, &f->crc, err);
        }
        kite_free(src);
        kite_free(dst);
    }
    if (rc)
        goto out;
    if ((rc = fsync_dirs(dest_dir, j.files, j.n_files, err)))
        goto out;
    rc = write_backup_manifest(&j, dest_dir, err);
    if (!rc)
        report(&j, BACKUP_FILE);
out:
    if (stage)
        remove_tree(stage);
    if (rc) {
        kite_err_prefix(err, "backup to %s failed", dest_dir);
        if (created) {
            remove_tree(dest_dir);
        } else { /* it was empty: remove what we wrote, keep the directory */
            for (size_t i = 0; i < j.n_files; i++) {
                char *p = db_path_join(dest_dir, j.files[i].rel);
                if (p)
                    (void)unlink(p);
                kite_free(p);
            }
            char *p = db_path_join(dest_dir, "collections");
            if (p)
                remove_tree(p);
            kite_free(p);
        }
    }
    kite_free(stage);
    job_free(&j);
    return rc;
}

/* ============================================================ restore */

static bool rel_path_ok(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/' || strlen(rel) > 1024)
        return false;
    for (const char *p = rel; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += n + (e ? 1 : 0);
        if (e && !*p)
            return false;
    }
    return strcmp(rel, "LOCK") != 0;
}

static int load_backup_manifest(const char *backup_dir, struct bjob *j, kite_err *err)
{
    char *path = db_path_join(backup_dir, BACKUP_FILE);
    json_error_t je;
    json_t *root = path ? json_load_file(path, 0, &je) : NULL;
    int rc = KITE_OK;
    if (!path) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        goto out;
    }
    if (!root) {
        struct stat st;
        if (stat(path, &st) == 0)
            rc = kite_err_set(err, KITE_ECORRUPT,
                              "%s is not a valid backup manifest: %s (line %d)", path, je.text,
                              je.line);
        else
            rc = kite_err_set(err, KITE_ENOTFOUND,
                              "%s not found: %s is not a complete kite backup", path,
                              backup_dir);
        goto out;
    }
    const char *fmt = json_string_value(json_object_get(root, "format"));
    json_int_t ver = json_integer_value(json_object_get(root, "format_version"));
    if (!fmt || strcmp(fmt, BACKUP_FORMAT) != 0 || ver != BACKUP_VERSION) {
        rc = kite_err_set(err, KITE_ECORRUPT,
                          "%s: expected format \"%s\" version %d, found \"%s\" version %lld",
                          path, BACKUP_FORMAT, BACKUP_VERSION, fmt ? fmt : "(none)",
                          (long long)ver);
        goto out;
    }
    json_t *files = json_object_get(root, "files");
    if (!json_is_array(files)) {
        rc = kite_err_set(err, KITE_ECORRUPT, "%s: \"files\" must be an array", path);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(files) && !rc; i++) {
        json_t *o = json_array_get(files, i);
        const char *rel = json_string_value(json_object_get(o, "path"));
        json_t *js = json_object_get(o, "size"), *jc = json_object_get(o, "crc32c");
        if (!rel_path_ok(rel) || !json_is_integer(js) || json_integer_value(js) < 0 ||
            !json_is_integer(jc) || json_integer_value(jc) < 0 ||
            json_integer_value(jc) > (json_int_t)UINT32_MAX) {
            rc = kite_err_set(err, KITE_ECORRUPT,
                              "%s: file entry %zu is invalid (expected a relative path inside "
                              "the backup, a size and a crc32c)",
                              path, i);
            break;
        }
        if (job_add(j, rel, (uint64_t)json_integer_value(js), (uint32_t)json_integer_value(jc)))
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        else
            j->total += (uint64_t)json_integer_value(js);
    }
out:
    json_decref(root);
    kite_free(path);
    return rc;
}

int kite_restore(const char *backup_dir, const char *data_dir, kite_progress_fn progress,
                 void *udata, kite_err *err)
{
    kite_err_clear(err);
    if (!backup_dir || !*backup_dir || !data_dir || !*data_dir)
        return kite_err_set(err, KITE_EINVAL, "kite_restore: backup_dir and data_dir are required");
    struct bjob j = {.progress = progress, .udata = udata};
    int lock_fd = -1, rc;
    bool empty, locked_new = false, copying = false;
    struct stat st;
    j.buf = kite_malloc(COPY_CHUNK);
    if (!j.buf)
        return kite_err_set(err, KITE_ENOMEM, "out of memory");
    if ((rc = load_backup_manifest(backup_dir, &j, err)))
        goto out;
    uint64_t bytes = j.total;
    j.total = 2 * bytes; /* verify pass + copy pass */
    report(&j, "");
    for (size_t i = 0; i < j.n_files && !rc; i++) {
        struct bfile *f = &j.files[i];
        char *p = db_path_join(backup_dir, f->rel);
        uint64_t sz = 0;
        uint32_t crc = 0;
        if (!p) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
            break;
        }
        rc = file_crc(&j, p, f->rel, &sz, &crc, err);
        if (!rc && sz != f->size)
            rc = kite_err_set(err, KITE_ECORRUPT,
                              "backup file %s has %" PRIu64 " bytes, the BACKUP manifest says "
                              "%" PRIu64,
                              p, sz, f->size);
        else if (!rc && crc != f->crc)
            rc = kite_err_set(err, KITE_ECORRUPT,
                              "backup file %s is damaged: CRC32C %08" PRIx32
                              ", the BACKUP manifest says %08" PRIx32,
                              p, crc, f->crc);
        kite_free(p);
    }
    if (rc)
        goto out;

    locked_new = stat(data_dir, &st) != 0;
    if ((rc = mkdirs(data_dir, err)))
        goto out;
    rc = vfs_dir_lock(data_dir, false, &lock_fd);
    if (rc) {
        rc = kite_err_set(err, rc,
                          rc == KITE_EBUSY ? "data directory %s is locked by a running kite "
                                             "server or process: stop it before restoring"
                                           : "cannot lock data directory %s",
                          data_dir);
        goto out;
    }
    if ((rc = dir_is_empty(data_dir, "LOCK", &empty, err)))
        goto out;
    if (!empty) {
        rc = kite_err_set(err, KITE_EEXISTS,
                          "data directory %s is not empty: restore needs a new or empty "
                          "directory",
                          data_dir);
        goto out;
    }
    copying = true;
    for (size_t i = 0; i < j.n_files && !rc; i++) {
        struct bfile *f = &j.files[i];
        char *src = db_path_join(backup_dir, f->rel), *dst = db_path_join(data_dir, f->rel);
        uint64_t sz;
        uint32_t crc;
        if (!src || !dst) {
            rc = kite_err_set(err, KITE_ENOMEM, "out of memory");
        } else {
            char *slash = strrchr(dst, '/');
            *slash = '\0';
            rc = mkdirs(dst, err);
            *slash = '/';
            if (!rc)
                rc = copy_file(&j, src, dst, f->rel, &sz, &crc, err);
            if (!rc && (sz != f->size || crc != f->crc))
                rc = kite_err_set(err, KITE_ECORRUPT,
                                  "backup file %s changed while it was being restored", src);
        }
        kite_free(src);
        kite_free(dst);
    }
    if (!rc)
        rc = fsync_dirs(data_dir, j.files, j.n_files, err);
    if (rc && copying) {
        /* Leave the directory as empty as we found it. */
        for (size_t i = 0; i < j.n_files; i++) {
            char *p = db_path_join(data_dir, j.files[i].rel);
            if (p)
                (void)unlink(p);
            kite_free(p);
        }
        char *c = db_path_join(data_dir, "collections");
        if (c)
            remove_tree(c);
        kite_free(c);
    } else if (!rc) {
        report(&j, BACKUP_FILE);
    }
out:
    if (lock_fd >= 0)
        vfs_dir_unlock(lock_fd);
    if (rc && locked_new)
        remove_tree(data_dir);
    if (rc)
        kite_err_prefix(err, "restore of %s into %s failed", backup_dir, data_dir);
    job_free(&j);
    return rc;
}
