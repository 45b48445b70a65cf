/*
 * vfs.h — the one I/O seam (RELIABILITY.md §3, Anchor: sqlite3_vfs).
 *
 * All WAL, segment, manifest and index-file I/O goes through a struct kite_vfs.
 * kite_vfs_posix() is production; vfs_fault.c wraps another vfs and fails the
 * Nth call of a kind (once or persistently) with a chosen errno, for tests.
 * Methods return 0 or a negative errno (-EIO, -ENOSPC ...).
 */
#ifndef KITE_STORAGE_VFS_H
#define KITE_STORAGE_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kite_file;

enum kite_vfs_op {
    KITE_VFS_OPEN, KITE_VFS_PREAD, KITE_VFS_PWRITE, KITE_VFS_FSYNC, KITE_VFS_FDATASYNC,
    KITE_VFS_FTRUNCATE, KITE_VFS_RENAME, KITE_VFS_UNLINK, KITE_VFS_MKDIR, KITE_VFS_FSYNC_DIR,
    KITE_VFS_FALLOCATE, KITE_VFS_N_OPS
};

#define KITE_O_RDONLY 0
#define KITE_O_RDWR 1
#define KITE_O_CREATE 2
#define KITE_O_EXCL 4
#define KITE_O_TRUNC 8

struct kite_vfs {
    int version;
    void *udata;
    int (*open)(struct kite_vfs *vfs, const char *path, int flags, struct kite_file **out);
    int (*close)(struct kite_file *f);
    /* Full reads/writes: short transfers are retried inside; EOF on read gives
     * -ENODATA unless *got is non-NULL, in which case the count is returned. */
    int (*pread)(struct kite_file *f, void *buf, size_t len, uint64_t off, size_t *got);
    int (*pwrite)(struct kite_file *f, const void *buf, size_t len, uint64_t off);
    int (*fsync)(struct kite_file *f);
    int (*fdatasync)(struct kite_file *f);
    int (*ftruncate)(struct kite_file *f, uint64_t size);
    int (*fsize)(struct kite_file *f, uint64_t *size);
    int (*fallocate)(struct kite_file *f, uint64_t off, uint64_t len);
    /* Read-only mapping of the whole file; NULL *addr for an empty file. */
    int (*mmap)(struct kite_file *f, const void **addr, size_t *len);
    int (*munmap)(const void *addr, size_t len);
    /* Hint (may be NULL): [addr, addr+len) of a mapping from mmap will not be
     * read soon; its pages may leave this process (reads fault them back in
     * from the file or the page cache, unchanged). */
    void (*advise_cold)(const void *addr, size_t len);
    int (*rename)(struct kite_vfs *vfs, const char *from, const char *to);
    int (*unlink)(struct kite_vfs *vfs, const char *path);
    int (*mkdir)(struct kite_vfs *vfs, const char *path); /* 0 if it exists */
    int (*rmdir_r)(struct kite_vfs *vfs, const char *path); /* recursive remove */
    int (*fsync_dir)(struct kite_vfs *vfs, const char *path);
    int (*exists)(struct kite_vfs *vfs, const char *path, bool *is_dir);
    /* List a directory: names (owned, kite_free each and the array). */
    int (*list)(struct kite_vfs *vfs, const char *path, char ***names, size_t *n);
};

struct kite_vfs *kite_vfs_posix(void);

/* Fault VFS: wraps `base`; fail call number `nth` (1-based, counted per op kind
 * or over all kinds when op < 0) with -err; persistent = keep failing after.
 * Also counts calls (vfs_fault_count) so tests can loop over every N.
 * (storage) Counters restart at each vfs_fault_arm; arm(vfs, -1, 0, 0, false)
 * just resets them.  Only the ops of enum kite_vfs_op are counted/faultable;
 * close, fsize, mmap, munmap, exists, list and rmdir_r pass through.  The
 * wrapper is thread-safe; munmap is forwarded to the posix vfs. */
struct kite_vfs *vfs_fault_new(struct kite_vfs *base);
void vfs_fault_free(struct kite_vfs *vfs);
void vfs_fault_arm(struct kite_vfs *vfs, int op, uint64_t nth, int err, bool persistent);
void vfs_fault_disarm(struct kite_vfs *vfs);
uint64_t vfs_fault_count(struct kite_vfs *vfs, int op);
/* (storage addition) When torn is true, a failing pwrite first writes the
 * first half of its buffer, like a short write before ENOSPC/EIO. */
void vfs_fault_set_torn(struct kite_vfs *vfs, bool torn);
/* (storage addition) Number of injected failures so far. */
uint64_t vfs_fault_injected(struct kite_vfs *vfs);

/* (storage addition) Map a vfs result (0 or -errno) to KITE_OK / KITE_E*:
 * -ENOSPC/-EDQUOT -> KITE_ENOSPC, -ENOMEM -> KITE_ENOMEM, -ENOENT ->
 * KITE_ENOTFOUND, -EEXIST -> KITE_EEXISTS, -EROFS -> KITE_EREADONLY,
 * anything else -> KITE_EIO. */
int kite_vfs_err(int vfs_rc);

/* Helpers over a vfs.  Unlike the methods they return KITE_OK or a KITE_E*
 * code (mapped by kite_vfs_err); a missing file is KITE_ENOTFOUND. */
/* Write temp "<path>.tmp-<pid>-<n>", fsync, rename over path, fsync the dir. */
int vfs_write_file_atomic(struct kite_vfs *vfs, const char *path, const void *data, size_t len);
/* Whole file into *data (owned, kite_free); KITE_ELIMIT if longer than max_len. */
int vfs_read_file(struct kite_vfs *vfs, const char *path, uint8_t **data, size_t *len,
                  size_t max_len);
/* Make every missing directory of path (like mkdir -p), fsyncing parents. */
int vfs_mkdir_p(struct kite_vfs *vfs, const char *path);

/* (storage addition) Streaming atomic file write, for files built piece by
 * piece (segment files, manifests):
 *   vfs_atomic_begin(vfs, path, &a);   creates "<path>.tmp-<pid>-<n>"
 *   vfs_atomic_write(a, data, len);    appends (any number of times)
 *   vfs_atomic_commit(a);              fsync, close, rename, fsync dir; frees a
 *   vfs_atomic_abort(a);               close + unlink the temp file; frees a
 * After a failed write call only abort is allowed; commit frees `a` whether
 * it succeeds or not.  Not thread-safe per handle. */
struct vfs_atomic;
int vfs_atomic_begin(struct kite_vfs *vfs, const char *path, struct vfs_atomic **out);
int vfs_atomic_write(struct vfs_atomic *a, const void *data, size_t len);
uint64_t vfs_atomic_offset(const struct vfs_atomic *a); /* bytes written so far */
int vfs_atomic_commit(struct vfs_atomic *a);
void vfs_atomic_abort(struct vfs_atomic *a);
/* Name of a temp file made by the helpers above ("*.tmp-*"): callers that
 * list directories skip (and may remove) these leftovers. */
bool vfs_is_temp_name(const char *name);

/*
 * Take the data-directory lock: <dir>/LOCK held with flock(2) for as long as the
 * returned descriptor is open, so two processes never open one data directory
 * (exclusive; shared when read_only).  KITE_EBUSY if another process holds it.
 * Not routed through the vfs: it guards the process, not the bytes.
 */
int vfs_dir_lock(const char *dir, bool read_only, int *fd_out);
void vfs_dir_unlock(int fd);

#endif
