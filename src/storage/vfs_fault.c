/*
 * vfs_fault.c — fault-injecting vfs wrapper for tests (RELIABILITY.md §3.1,
 * Anchor: SQLite's I/O-error loop and test6.c).
 *
 * The wrapper forwards every method to a base vfs and counts the calls of each
 * faultable kind (enum kite_vfs_op).  vfs_fault_arm(op, nth, err, persistent)
 * makes call number `nth` (1-based, counted from the arm) of kind `op` — or of
 * any faultable kind when op < 0 — fail with -err; persistent makes every later
 * call of that kind fail too.  With vfs_fault_set_torn(true) a failing pwrite
 * first writes the first half of its buffer, to model a short write followed
 * by an error.
 *
 * Not faultable (not in enum kite_vfs_op): close, fsize, mmap, munmap,
 * rmdir_r, exists, list — they still go through to the base vfs.
 *
 * Threading model: one mutex guards the counters and the armed fault, so the
 * wrapper can sit under the WAL's concurrent appenders and syncer.  The base
 * call itself runs without the mutex.
 */
#include "vfs.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "alloc.h"

struct fault_vfs {
    struct kite_vfs vfs; /* first member: (struct kite_vfs *) <-> (struct fault_vfs *) */
    struct kite_vfs *base;
    pthread_mutex_t mu;
    uint64_t count[KITE_VFS_N_OPS]; /* guarded by mu */
    uint64_t count_all;             /* guarded by mu */
    uint64_t injected;              /* guarded by mu */
    int armed_op;                   /* -1 = any; guarded by mu */
    uint64_t armed_nth;             /* 0 = disarmed */
    int armed_err;
    bool persistent;
    bool torn;
};

/* The wrapper's own file: each vfs defines what a struct kite_file is. */
struct fault_file {
    struct fault_vfs *fv;
    struct kite_file *base;
};

#define FV(v) ((struct fault_vfs *)(v))
#define FF(f) ((struct fault_file *)(void *)(f))

/* Count one call of kind op; return -err if it must fail, else 0. */
static int tick(struct fault_vfs *fv, int op)
{
    int rc = 0;
    pthread_mutex_lock(&fv->mu);
    uint64_t n_op = ++fv->count[op];
    uint64_t n_all = ++fv->count_all;
    if (fv->armed_nth != 0 && (fv->armed_op < 0 || fv->armed_op == op)) {
        uint64_t n = fv->armed_op < 0 ? n_all : n_op;
        if (n == fv->armed_nth || (fv->persistent && n > fv->armed_nth)) {
            rc = -fv->armed_err;
            fv->injected++;
        }
    }
    pthread_mutex_unlock(&fv->mu);
    return rc;
}

static int f_open(struct kite_vfs *vfs, const char *path, int flags, struct kite_file **out)
{
    struct fault_vfs *fv = FV(vfs);
    *out = NULL;
    int rc = tick(fv, KITE_VFS_OPEN);
    if (rc)
        return rc;
    struct fault_file *ff = kite_malloc(sizeof(*ff));
    if (!ff)
        return -ENOMEM;
    ff->fv = fv;
    rc = fv->base->open(fv->base, path, flags, &ff->base);
    if (rc) {
        kite_free(ff);
        return rc;
    }
    *out = (struct kite_file *)(void *)ff;
    return 0;
}

static int f_close(struct kite_file *f)
{
    if (!f)
        return 0;
    struct fault_file *ff = FF(f);
    int rc = ff->fv->base->close(ff->base);
    kite_free(ff);
    return rc;
}

static int f_pread(struct kite_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct fault_file *ff = FF(f);
    int rc = tick(ff->fv, KITE_VFS_PREAD);
    return rc ? rc : ff->fv->base->pread(ff->base, buf, len, off, got);
}

static int f_pwrite(struct kite_file *f, const void *buf, size_t len, uint64_t off)
{
    struct fault_file *ff = FF(f);
    int rc = tick(ff->fv, KITE_VFS_PWRITE);
    if (rc) {
        pthread_mutex_lock(&ff->fv->mu);
        bool torn = ff->fv->torn;
        pthread_mutex_unlock(&ff->fv->mu);
        if (torn && len / 2 > 0)
            (void)ff->fv->base->pwrite(ff->base, buf, len / 2, off);
        return rc;
    }
    return ff->fv->base->pwrite(ff->base, buf, len, off);
}

static int f_fsync(struct kite_file *f)
{
    struct fault_file *ff = FF(f);
    int rc = tick(ff->fv, KITE_VFS_FSYNC);
    return rc ? rc : ff->fv->base->fsync(ff->base);
}

static int f_fdatasync(struct kite_file *f)
{
    struct fault_file *ff = FF(f);
    int rc = tick(ff->fv, KITE_VFS_FDATASYNC);
    return rc ? rc : ff->fv->base->fdatasync(ff->base);
}

static int f_ftruncate(struct kite_file *f, uint64_t size)
{
    struct fault_file *ff = FF(f);
    int rc = tick(ff->fv, KITE_VFS_FTRUNCATE);
    return rc ? rc : ff->fv->base->ftruncate(ff->base, size);
}

static int f_fsize(struct kite_file *f, uint64_t *size)
{
    struct fault_file *ff = FF(f);
    return ff->fv->base->fsize(ff->base, size);
}

static int f_fallocate(struct kite_file *f, uint64_t off, uint64_t len)
{
    struct fault_file *ff = FF(f);
    int rc = tick(ff->fv, KITE_VFS_FALLOCATE);
    return rc ? rc : ff->fv->base->fallocate(ff->base, off, len);
}

static int f_mmap(struct kite_file *f, const void **addr, size_t *len)
{
    struct fault_file *ff = FF(f);
    return ff->fv->base->mmap(ff->base, addr, len);
}

/* munmap has no vfs argument; every vfs we wrap unmaps the same way, so the
 * posix method is used (a wrapped non-posix base would need its own). */
static int f_munmap(const void *addr, size_t len)
{
    return kite_vfs_posix()->munmap(addr, len);
}

static void f_advise_cold(const void *addr, size_t len)
{
    kite_vfs_posix()->advise_cold(addr, len);
}

static int f_rename(struct kite_vfs *vfs, const char *from, const char *to)
{
    int rc = tick(FV(vfs), KITE_VFS_RENAME);
    return rc ? rc : FV(vfs)->base->rename(FV(vfs)->base, from, to);
}

static int f_unlink(struct kite_vfs *vfs, const char *path)
{
    int rc = tick(FV(vfs), KITE_VFS_UNLINK);
    return rc ? rc : FV(vfs)->base->unlink(FV(vfs)->base, path);
}

static int f_mkdir(struct kite_vfs *vfs, const char *path)
{
    int rc = tick(FV(vfs), KITE_VFS_MKDIR);
    return rc ? rc : FV(vfs)->base->mkdir(FV(vfs)->base, path);
}

static int f_rmdir_r(struct kite_vfs *vfs, const char *path)
{
    return FV(vfs)->base->rmdir_r(FV(vfs)->base, path);
}

static int f_fsync_dir(struct kite_vfs *vfs, const char *path)
{
    int rc = tick(FV(vfs), KITE_VFS_FSYNC_DIR);
    return rc ? rc : FV(vfs)->base->fsync_dir(FV(vfs)->base, path);
}

static int f_exists(struct kite_vfs *vfs, const char *path, bool *is_dir)
{
    return FV(vfs)->base->exists(FV(vfs)->base, path, is_dir);
}

static int f_list(struct kite_vfs *vfs, const char *path, char ***names, size_t *n)
{
    return FV(vfs)->base->list(FV(vfs)->base, path, names, n);
}

struct kite_vfs *vfs_fault_new(struct kite_vfs *base)
{
    struct fault_vfs *fv = kite_calloc(1, sizeof(*fv));
    if (!fv)
        return NULL;
    if (pthread_mutex_init(&fv->mu, NULL) != 0) {
        kite_free(fv);
        return NULL;
    }
    fv->base = base;
    fv->armed_op = -1;
    fv->vfs = (struct kite_vfs){
        .version = 1,
        .udata = NULL,
        .open = f_open,
        .close = f_close,
        .pread = f_pread,
        .pwrite = f_pwrite,
        .fsync = f_fsync,
        .fdatasync = f_fdatasync,
        .ftruncate = f_ftruncate,
        .fsize = f_fsize,
        .fallocate = f_fallocate,
        .mmap = f_mmap,
        .munmap = f_munmap,
        .advise_cold = f_advise_cold,
        .rename = f_rename,
        .unlink = f_unlink,
        .mkdir = f_mkdir,
        .rmdir_r = f_rmdir_r,
        .fsync_dir = f_fsync_dir,
        .exists = f_exists,
        .list = f_list,
    };
    return &fv->vfs;
}

void vfs_fault_free(struct kite_vfs *vfs)
{
    if (!vfs)
        return;
    pthread_mutex_destroy(&FV(vfs)->mu);
    kite_free(FV(vfs));
}

void vfs_fault_arm(struct kite_vfs *vfs, int op, uint64_t nth, int err, bool persistent)
{
    struct fault_vfs *fv = FV(vfs);
    pthread_mutex_lock(&fv->mu);
    for (int i = 0; i < KITE_VFS_N_OPS; i++)
        fv->count[i] = 0;
    fv->count_all = 0;
    fv->armed_op = (op < 0 || op >= KITE_VFS_N_OPS) ? -1 : op;
    fv->armed_nth = nth;
    fv->armed_err = err > 0 ? err : (err < 0 ? -err : EIO);
    fv->persistent = persistent;
    pthread_mutex_unlock(&fv->mu);
}

void vfs_fault_disarm(struct kite_vfs *vfs)
{
    struct fault_vfs *fv = FV(vfs);
    pthread_mutex_lock(&fv->mu);
    fv->armed_nth = 0;
    pthread_mutex_unlock(&fv->mu);
}

uint64_t vfs_fault_count(struct kite_vfs *vfs, int op)
{
    struct fault_vfs *fv = FV(vfs);
    pthread_mutex_lock(&fv->mu);
    uint64_t n = (op < 0 || op >= KITE_VFS_N_OPS) ? fv->count_all : fv->count[op];
    pthread_mutex_unlock(&fv->mu);
    return n;
}

void vfs_fault_set_torn(struct kite_vfs *vfs, bool torn)
{
    struct fault_vfs *fv = FV(vfs);
    pthread_mutex_lock(&fv->mu);
    fv->torn = torn;
    pthread_mutex_unlock(&fv->mu);
}

uint64_t vfs_fault_injected(struct kite_vfs *vfs)
{
    struct fault_vfs *fv = FV(vfs);
    pthread_mutex_lock(&fv->mu);
    uint64_t n = fv->injected;
    pthread_mutex_unlock(&fv->mu);
    return n;
}
