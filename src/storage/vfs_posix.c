/*
 * vfs_posix.c — the production struct kite_vfs over POSIX system calls.
 *
 * Design notes:
 * 1. Every method returns 0 or a negative errno, never a KITE_E* code; the
 *    callers (wal.c, segfile.c, vfs_util.c) map errno to KITE_E* through
 *    kite_vfs_err().  This keeps the seam as thin as SQLite's xWrite/xSync.
 * 2. pread/pwrite loop over short transfers and EINTR, so a caller either
 *    gets the whole transfer or an error.  A pwrite that fails part-way has
 *    already written a prefix; the WAL truncates it back (wal.c).
 * 3. Files are opened O_CLOEXEC so a forked child (tests, the server's
 *    decoder workers) never inherits a WAL descriptor.
 * 4. fsync_dir opens the directory O_RDONLY|O_DIRECTORY and fsyncs it: the
 *    only portable way to make a create/rename/unlink durable on Linux.
 * 5. close() never fails the caller's durability: an error from close(2)
 *    after a successful fdatasync is only reported, never retried.
 *
 * Threading model: the vfs object is a stateless singleton; a kite_file is a
 * descriptor plus nothing mutable, so concurrent pread/pwrite/fdatasync on
 * one file from several threads is safe (the kernel orders them).
 *
 * Each vfs implementation defines its own struct behind the opaque
 * struct kite_file pointer (vfs_fault.c wraps this one); a file must only be
 * passed to the methods of the vfs that opened it.
 */
#include "vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

struct kite_file {
    int fd;
};

static int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

static int px_open(struct kite_vfs *vfs, const char *path, int flags, struct kite_file **out)
{
    int oflags = O_CLOEXEC;
    oflags |= (flags & KITE_O_RDWR) ? O_RDWR : O_RDONLY;
    if (flags & KITE_O_CREATE)
        oflags |= O_CREAT;
    if (flags & KITE_O_EXCL)
        oflags |= O_EXCL;
    if (flags & KITE_O_TRUNC)
        oflags |= O_TRUNC;
    *out = NULL;
    struct kite_file *f = kite_malloc(sizeof(*f));
    if (!f)
        return -ENOMEM;
    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int rc = neg_errno();
        kite_free(f);
        return rc;
    }
    f->fd = fd;
    *out = f;
    return 0;
}

static int px_close(struct kite_file *f)
{
    if (!f)
        return 0;
    int rc = close(f->fd) == 0 ? 0 : neg_errno();
    kite_free(f);
    /* EINTR from close(2) on Linux still released the descriptor. */
    return rc == -EINTR ? 0 : rc;
}

static int px_pread(struct kite_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    if (got) {
        *got = done;
        return 0;
    }
    return done == len ? 0 : -ENODATA;
}

static int px_pwrite(struct kite_file *f, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return neg_errno();
        }
        if (n == 0)
            return -EIO; /* no progress and no errno: treat as an I/O error */
        done += (size_t)n;
    }
    return 0;
}

static int px_fsync(struct kite_file *f)
{
    return fsync(f->fd) == 0 ? 0 : neg_errno();
}

static int px_fdatasync(struct kite_file *f)
{
    return fdatasync(f->fd) == 0 ? 0 : neg_errno();
}

static int px_ftruncate(struct kite_file *f, uint64_t size)
{
    int rc;
    do {
        rc = ftruncate(f->fd, (off_t)size);
    } while (rc < 0 && errno == EINTR);
    return rc == 0 ? 0 : neg_errno();
}

static int px_fsize(struct kite_file *f, uint64_t *size)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0)
        return neg_errno();
    *size = (uint64_t)st.st_size;
    return 0;
}

static int px_fallocate(struct kite_file *f, uint64_t off, uint64_t len)
{
    int rc = posix_fallocate(f->fd, (off_t)off, (off_t)len);
    return rc == 0 ? 0 : -rc; /* posix_fallocate returns the error, not -1 */
}

static int px_mmap(struct kite_file *f, const void **addr, size_t *len)
{
    uint64_t size = 0;
    int rc = px_fsize(f, &size);
    *addr = NULL;
    *len = 0;
    if (rc != 0)
        return rc;
    if (size == 0)
        return 0;
    if (size > (uint64_t)SIZE_MAX)
        return -EFBIG;
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        return neg_errno();
    *addr = p;
    *len = (size_t)size;
    return 0;
}

static int px_munmap(const void *addr, size_t len)
{
    if (!addr)
        return 0;
    return munmap((void *)addr, len) == 0 ? 0 : neg_errno();
}

/* Whole pages inside the range only: a page the range shares with
 * neighbouring data stays mapped. */
static void px_advise_cold(const void *addr, size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (!addr || pg <= 0)
        return;
    uintptr_t a = (uintptr_t)addr, e = a + len, mask = (uintptr_t)pg - 1;
    uintptr_t lo = (a + mask) & ~mask, hi = e & ~mask;
    /* A read-only shared file mapping: MADV_DONTNEED only unmaps the pages. */
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static int px_rename(struct kite_vfs *vfs, const char *from, const char *to)
{
    return rename(from, to) == 0 ? 0 : neg_errno();
}

static int px_unlink(struct kite_vfs *vfs, const char *path)
{
    return unlink(path) == 0 ? 0 : neg_errno();
}

static int px_mkdir(struct kite_vfs *vfs, const char *path)
{
    if (mkdir(path, 0755) == 0)
        return 0;
    if (errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return -ENOTDIR;
    }
    return neg_errno();
}

static int px_fsync_dir(struct kite_vfs *vfs, const char *path)
{
    int fd;
    do {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return neg_errno();
    int rc = fsync(fd) == 0 ? 0 : neg_errno();
    close(fd);
    return rc;
}

static int px_exists(struct kite_vfs *vfs, const char *path, bool *is_dir)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return neg_errno();
    if (is_dir)
        *is_dir = S_ISDIR(st.st_mode);
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kite_free(names[i]);
    kite_free(names);
}

static int px_list(struct kite_vfs *vfs, const char *path, char ***names_out, size_t *n_out)
{
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(path);
    if (!d)
        return neg_errno();
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            size_t bytes;
            if (!kite_mul_size(ncap, sizeof(char *), &bytes)) {
                rc = -ENOMEM;
                break;
            }
            char **nn = kite_realloc(names, bytes);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = kite_strdup(de->d_name);
        if (!names[n]) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != 0) {
        free_names(names, n);
        return rc;
    }
    *names_out = names;
    *n_out = n;
    return 0;
}

/* Remove path and everything below it; a missing path is not an error. */
static int px_rmdir_r(struct kite_vfs *vfs, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : neg_errno();
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : neg_errno();
    char **names = NULL;
    size_t n = 0;
    int rc = px_list(vfs, path, &names, &n);
    if (rc != 0)
        return rc;
    size_t plen = strlen(path);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t nlen = strlen(names[i]);
        char *child = kite_malloc(plen + nlen + 2);
        if (!child) {
            rc = -ENOMEM;
            break;
        }
        memcpy(child, path, plen);
        child[plen] = '/';
        memcpy(child + plen + 1, names[i], nlen + 1);
        rc = px_rmdir_r(vfs, child);
        kite_free(child);
    }
    free_names(names, n);
    if (rc == 0 && rmdir(path) != 0)
        rc = neg_errno();
    return rc;
}

static struct kite_vfs g_posix_vfs = {
    .version = 1,
    .udata = NULL,
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwrite = px_pwrite,
    .fsync = px_fsync,
    .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate,
    .fsize = px_fsize,
    .fallocate = px_fallocate,
    .mmap = px_mmap,
    .munmap = px_munmap,
    .advise_cold = px_advise_cold,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
    .rmdir_r = px_rmdir_r,
    .fsync_dir = px_fsync_dir,
    .exists = px_exists,
    .list = px_list,
};

struct kite_vfs *kite_vfs_posix(void)
{
    return &g_posix_vfs;
}
