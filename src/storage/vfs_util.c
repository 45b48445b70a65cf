/*
 * vfs_util.c — helpers over any struct kite_vfs: atomic file replacement,
 * bounded whole-file reads, mkdir -p, and the errno -> KITE_E* mapping.
 *
 * Atomic replacement (ALICE persistence properties, RELIABILITY.md A9):
 *   1. create "<path>.tmp-<pid>-<n>" with O_EXCL,
 *   2. write the contents, fsync the temp file,
 *   3. rename it over <path>,
 *   4. fsync the parent directory.
 * A crash before 3 leaves only a temp file, which readers ignore
 * (vfs_is_temp_name); a crash after 3 leaves the complete new file, because
 * its data was durable before the rename.  A failure in any step unlinks the
 * temp file (best effort) and reports the first error.
 *
 * Threading model: stateless except for a process-wide atomic counter that
 * makes temp names unique; each vfs_atomic handle belongs to one thread.
 */
#include "vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "kite/errors.h"

static _Atomic uint64_t g_temp_seq;

int kite_vfs_err(int vfs_rc)
{
    switch (vfs_rc) {
    case 0:
        return KITE_OK;
    case -ENOSPC:
    case -EDQUOT:
        return KITE_ENOSPC;
    case -ENOMEM:
        return KITE_ENOMEM;
    case -ENOENT:
        return KITE_ENOTFOUND;
    case -EEXIST:
        return KITE_EEXISTS;
    case -EROFS:
        return KITE_EREADONLY;
    default:
        return KITE_EIO;
    }
}

bool vfs_is_temp_name(const char *name)
{
    return name && strstr(name, ".tmp-") != NULL;
}

/* Parent directory of path, owned ("." when path has no slash). */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return kite_strdup(".");
    if (slash == path)
        return kite_strdup("/");
    return kite_strndup(path, (size_t)(slash - path));
}

struct vfs_atomic {
    struct kite_vfs *vfs;
    struct kite_file *f;
    char *path;
    char *tmp;
    uint64_t off;
};

int vfs_atomic_begin(struct kite_vfs *vfs, const char *path, struct vfs_atomic **out)
{
    int rc = KITE_OK;
    *out = NULL;
    struct vfs_atomic *a = kite_calloc(1, sizeof(*a));
    if (!a)
        return KITE_ENOMEM;
    a->vfs = vfs;
    a->path = kite_strdup(path);
    size_t tlen = strlen(path) + 64;
    a->tmp = kite_malloc(tlen);
    if (!a->path || !a->tmp) {
        rc = KITE_ENOMEM;
        goto out_free;
    }
    snprintf(a->tmp, tlen, "%s.tmp-%ld-%llu", path, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&g_temp_seq, 1));
    rc = kite_vfs_err(vfs->open(vfs, a->tmp, KITE_O_RDWR | KITE_O_CREATE | KITE_O_EXCL, &a->f));
    if (rc != KITE_OK)
        goto out_free;
    *out = a;
    return KITE_OK;

out_free:
    kite_free(a->path);
    kite_free(a->tmp);
    kite_free(a);
    return rc;
}

int vfs_atomic_write(struct vfs_atomic *a, const void *data, size_t len)
{
    if (len == 0)
        return KITE_OK;
    int rc = kite_vfs_err(a->vfs->pwrite(a->f, data, len, a->off));
    if (rc == KITE_OK)
        a->off += len;
    return rc;
}

uint64_t vfs_atomic_offset(const struct vfs_atomic *a)
{
    return a->off;
}

static void atomic_free(struct vfs_atomic *a)
{
    kite_free(a->path);
    kite_free(a->tmp);
    kite_free(a);
}

void vfs_atomic_abort(struct vfs_atomic *a)
{
    if (!a)
        return;
    if (a->f)
        (void)a->vfs->close(a->f);
    (void)a->vfs->unlink(a->vfs, a->tmp);
    atomic_free(a);
}

int vfs_atomic_commit(struct vfs_atomic *a)
{
    struct kite_vfs *vfs = a->vfs;
    char *dir = NULL;
    int rc = kite_vfs_err(vfs->fsync(a->f));
    int crc = vfs->close(a->f);
    a->f = NULL;
    if (rc == KITE_OK)
        rc = kite_vfs_err(crc);
    if (rc != KITE_OK)
        goto out_abort;
    dir = parent_dir(a->path);
    if (!dir) {
        rc = KITE_ENOMEM;
        goto out_abort;
    }
    rc = kite_vfs_err(vfs->rename(vfs, a->tmp, a->path));
    if (rc != KITE_OK)
        goto out_abort;
    /* The rename happened; a failed directory fsync means its durability is
     * unknown, so report it (never retry) but there is no temp file left. */
    rc = kite_vfs_err(vfs->fsync_dir(vfs, dir));
    kite_free(dir);
    atomic_free(a);
    return rc;

out_abort:
    kite_free(dir);
    vfs_atomic_abort(a);
    return rc;
}

int vfs_write_file_atomic(struct kite_vfs *vfs, const char *path, const void *data, size_t len)
{
    struct vfs_atomic *a = NULL;
    int rc = vfs_atomic_begin(vfs, path, &a);
    if (rc != KITE_OK)
        return rc;
    rc = vfs_atomic_write(a, data, len);
    if (rc != KITE_OK) {
        vfs_atomic_abort(a);
        return rc;
    }
    return vfs_atomic_commit(a);
}

int vfs_read_file(struct kite_vfs *vfs, const char *path, uint8_t **data, size_t *len,
                  size_t max_len)
{
    struct kite_file *f = NULL;
    uint8_t *buf = NULL;
    uint64_t size = 0;
    size_t got = 0;
    *data = NULL;
    *len = 0;
    int rc = kite_vfs_err(vfs->open(vfs, path, KITE_O_RDONLY, &f));
    if (rc != KITE_OK)
        return rc;
    rc = kite_vfs_err(vfs->fsize(f, &size));
    if (rc != KITE_OK)
        goto out_close;
    if (size > (uint64_t)max_len) {
        rc = KITE_ELIMIT;
        goto out_close;
    }
    buf = kite_malloc((size_t)size + 1);
    if (!buf) {
        rc = KITE_ENOMEM;
        goto out_close;
    }
    rc = kite_vfs_err(vfs->pread(f, buf, (size_t)size, 0, &got));
    if (rc != KITE_OK)
        goto out_free;
    buf[got] = 0; /* convenience terminator for text files; not counted */
    *data = buf;
    *len = got;
    buf = NULL;
out_free:
    kite_free(buf);
out_close:
    (void)vfs->close(f);
    return rc;
}

int vfs_mkdir_p(struct kite_vfs *vfs, const char *path)
{
    int rc = KITE_OK;
    size_t n = strlen(path);
    char *p = kite_strdup(path);
    if (!p)
        return KITE_ENOMEM;
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        bool is_dir = false;
        int e = vfs->exists(vfs, p, &is_dir);
        if (e == 0 && !is_dir) {
            rc = KITE_EEXISTS;
            goto out;
        }
        if (e != 0) {
            rc = kite_vfs_err(vfs->mkdir(vfs, p));
            if (rc != KITE_OK)
                goto out;
            char *parent = parent_dir(p);
            if (!parent) {
                rc = KITE_ENOMEM;
                goto out;
            }
            rc = kite_vfs_err(vfs->fsync_dir(vfs, parent));
            kite_free(parent);
            if (rc != KITE_OK)
                goto out;
        }
        p[i] = saved;
    }
out:
    kite_free(p);
    return rc;
}

/* ------------------------------------------------------- data-dir lock */

int vfs_dir_lock(const char *dir, bool read_only, int *fd_out)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/LOCK", dir) >= (int)sizeof(path))
        return KITE_EINVAL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kite_vfs_err(-errno);
    if (flock(fd, (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? KITE_EBUSY : kite_vfs_err(-e);
    }
    *fd_out = fd;
    return KITE_OK;
}

void vfs_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the descriptor releases the flock */
}
