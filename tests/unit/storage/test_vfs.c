/* Unit tests for the vfs seam: vfs_posix.c, vfs_fault.c, vfs_util.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc.h"
#include "storage_test_util.h"
#include "test.h"
#include "vfs.h"

TEST(vfs_posix_file_basics)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    const char *p = tpath(kite_test_tmpdir(), "a.bin");
    struct kite_file *f = NULL;
    ASSERT_EQ_INT(vfs->open(vfs, p, KITE_O_RDONLY, &f), -ENOENT);
    ASSERT(f == NULL);
    ASSERT_OK(vfs->open(vfs, p, KITE_O_RDWR | KITE_O_CREATE | KITE_O_EXCL, &f));
    ASSERT_OK(vfs->pwrite(f, "hello world", 11, 0));
    ASSERT_OK(vfs->pwrite(f, "XY", 2, 100)); /* sparse hole */
    uint64_t size = 0;
    ASSERT_OK(vfs->fsize(f, &size));
    ASSERT_EQ_INT(size, 102);
    char buf[200];
    ASSERT_OK(vfs->pread(f, buf, 5, 6, NULL));
    ASSERT(memcmp(buf, "world", 5) == 0);
    ASSERT_EQ_INT(vfs->pread(f, buf, 10, 98, NULL), -ENODATA); /* past EOF */
    size_t got = 0;
    ASSERT_OK(vfs->pread(f, buf, 10, 98, &got));
    ASSERT_EQ_INT(got, 4);
    ASSERT_OK(vfs->fsync(f));
    ASSERT_OK(vfs->fdatasync(f));
    ASSERT_OK(vfs->ftruncate(f, 11));
    ASSERT_OK(vfs->fsize(f, &size));
    ASSERT_EQ_INT(size, 11);
    ASSERT_OK(vfs->fallocate(f, 0, 4096));
    ASSERT_OK(vfs->fsize(f, &size));
    ASSERT_EQ_INT(size, 4096);
    ASSERT_OK(vfs->ftruncate(f, 11));
    const void *addr = NULL;
    size_t len = 0;
    ASSERT_OK(vfs->mmap(f, &addr, &len));
    ASSERT_EQ_INT(len, 11);
    ASSERT(memcmp(addr, "hello world", 11) == 0);
    ASSERT_OK(vfs->munmap(addr, len));
    /* Descriptors are close-on-exec. */
    ASSERT_OK(vfs->close(f));
    ASSERT_EQ_INT(vfs->open(vfs, p, KITE_O_RDWR | KITE_O_CREATE | KITE_O_EXCL, &f), -EEXIST);
    ASSERT_OK(vfs->open(vfs, p, KITE_O_RDWR | KITE_O_TRUNC, &f));
    ASSERT_OK(vfs->fsize(f, &size));
    ASSERT_EQ_INT(size, 0);
    ASSERT_OK(vfs->mmap(f, &addr, &len)); /* empty file: NULL mapping */
    ASSERT(addr == NULL);
    ASSERT_EQ_INT(len, 0);
    ASSERT_OK(vfs->close(f));
    ASSERT_OK(vfs->close(NULL));
}

TEST(vfs_posix_cloexec)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct kite_file *f = NULL;
    char want[1024];
    ASSERT(realpath(kite_test_tmpdir(), want) != NULL);
    strcat(want, "/c");
    ASSERT_OK(vfs->open(vfs, want, KITE_O_RDWR | KITE_O_CREATE, &f));
    /* Find our descriptor through /proc and check FD_CLOEXEC on it. */
    int checked = 0;
    for (int fd = 3; fd < 1024; fd++) {
        char link[64], target[1024];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (strcmp(target, want) != 0)
            continue;
        ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        checked++;
    }
    ASSERT_EQ_INT(checked, 1);
    ASSERT_OK(vfs->close(f));
}

TEST(vfs_posix_dirs)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    const char *root = tpath(kite_test_tmpdir(), "d");
    char sub[1024];
    snprintf(sub, sizeof(sub), "%s/x/y/z", root);
    ASSERT_OK(vfs_mkdir_p(vfs, sub));
    ASSERT_OK(vfs_mkdir_p(vfs, sub)); /* idempotent */
    bool is_dir = false;
    ASSERT_OK(vfs->exists(vfs, sub, &is_dir));
    ASSERT(is_dir);
    ASSERT_OK(vfs->mkdir(vfs, sub)); /* exists: 0 */
    ASSERT_OK(vfs->fsync_dir(vfs, sub));
    char f1[1100], f2[1100];
    snprintf(f1, sizeof(f1), "%s/one", sub);
    snprintf(f2, sizeof(f2), "%s/two", sub);
    ASSERT_OK(vfs_write_file_atomic(vfs, f1, "abc", 3));
    ASSERT_OK(vfs->rename(vfs, f1, f2));
    ASSERT_EQ_INT(vfs->exists(vfs, f1, NULL), -ENOENT);
    ASSERT_OK(vfs->exists(vfs, f2, &is_dir));
    ASSERT(!is_dir);
    ASSERT_OK(vfs_write_file_atomic(vfs, f1, "q", 1));
    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(vfs->list(vfs, sub, &names, &n));
    ASSERT_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++) {
        ASSERT(strcmp(names[i], "one") == 0 || strcmp(names[i], "two") == 0);
        kite_free(names[i]);
    }
    kite_free(names);
    ASSERT_EQ_INT(vfs_mkdir_p(vfs, f2), KITE_EEXISTS); /* a file in the way */
    ASSERT_OK(vfs->unlink(vfs, f2));
    ASSERT_EQ_INT(vfs->unlink(vfs, f2), -ENOENT);
    ASSERT_OK(vfs->rmdir_r(vfs, root));
    ASSERT_EQ_INT(vfs->exists(vfs, root, NULL), -ENOENT);
    ASSERT_OK(vfs->rmdir_r(vfs, root)); /* missing: fine */
    ASSERT_EQ_INT(vfs->list(vfs, root, &names, &n), -ENOENT);
}

TEST(vfs_util_atomic_and_read)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    const char *p = tpath(kite_test_tmpdir(), "m.json");
    ASSERT_OK(vfs_write_file_atomic(vfs, p, "{\"v\":1}", 7));
    ASSERT_OK(vfs_write_file_atomic(vfs, p, "{\"v\":22}", 8)); /* replaces */
    uint8_t *d = NULL;
    size_t len = 0;
    ASSERT_OK(vfs_read_file(vfs, p, &d, &len, 100));
    ASSERT_EQ_INT(len, 8);
    ASSERT_STR_EQ((char *)d, "{\"v\":22}"); /* NUL-terminated for convenience */
    kite_free(d);
    ASSERT_EQ_INT(vfs_read_file(vfs, p, &d, &len, 7), KITE_ELIMIT);
    ASSERT(d == NULL);
    ASSERT_EQ_INT(vfs_read_file(vfs, tpath(kite_test_tmpdir(), "nope"), &d, &len, 7),
                  KITE_ENOTFOUND);
    /* Streaming writer: abort leaves nothing, commit publishes. */
    struct vfs_atomic *a = NULL;
    const char *q = tpath(kite_test_tmpdir(), "seg");
    ASSERT_OK(vfs_atomic_begin(vfs, q, &a));
    ASSERT_OK(vfs_atomic_write(a, "abc", 3));
    vfs_atomic_abort(a);
    ASSERT_EQ_INT(vfs->exists(vfs, q, NULL), -ENOENT);
    ASSERT_OK(vfs_atomic_begin(vfs, q, &a));
    ASSERT_OK(vfs_atomic_write(a, "abc", 3));
    ASSERT_OK(vfs_atomic_write(a, "de", 2));
    ASSERT_EQ_INT(vfs_atomic_offset(a), 5);
    ASSERT_OK(vfs_atomic_commit(a));
    ASSERT_OK(vfs_read_file(vfs, q, &d, &len, 100));
    ASSERT_EQ_INT(len, 5);
    ASSERT(memcmp(d, "abcde", 5) == 0);
    kite_free(d);
    /* No temp files are left behind. */
    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(vfs->list(vfs, kite_test_tmpdir(), &names, &n));
    for (size_t i = 0; i < n; i++) {
        ASSERT(!vfs_is_temp_name(names[i]));
        kite_free(names[i]);
    }
    kite_free(names);
    ASSERT(vfs_is_temp_name("x.json.tmp-12-3"));
    ASSERT_EQ_INT(kite_vfs_err(-ENOSPC), KITE_ENOSPC);
    ASSERT_EQ_INT(kite_vfs_err(-EDQUOT), KITE_ENOSPC);
    ASSERT_EQ_INT(kite_vfs_err(-EIO), KITE_EIO);
    ASSERT_EQ_INT(kite_vfs_err(0), KITE_OK);
}

TEST(vfs_fault_nth_once_and_persistent)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    ASSERT(vfs != NULL);
    const char *p = tpath(kite_test_tmpdir(), "f");
    struct kite_file *f = NULL;
    ASSERT_OK(vfs->open(vfs, p, KITE_O_RDWR | KITE_O_CREATE, &f));
    vfs_fault_arm(vfs, KITE_VFS_PWRITE, 2, ENOSPC, false);
    ASSERT_OK(vfs->pwrite(f, "a", 1, 0));
    ASSERT_EQ_INT(vfs->pwrite(f, "b", 1, 1), -ENOSPC);
    ASSERT_OK(vfs->pwrite(f, "c", 1, 1)); /* once */
    ASSERT_OK(vfs->fdatasync(f));         /* other kinds unaffected */
    ASSERT_EQ_INT(vfs_fault_count(vfs, KITE_VFS_PWRITE), 3);
    ASSERT_EQ_INT(vfs_fault_count(vfs, KITE_VFS_FDATASYNC), 1);
    ASSERT_EQ_INT(vfs_fault_count(vfs, -1), 4);
    ASSERT_EQ_INT(vfs_fault_injected(vfs), 1);

    vfs_fault_arm(vfs, KITE_VFS_FDATASYNC, 1, EIO, true);
    ASSERT_EQ_INT(vfs->fdatasync(f), -EIO);
    ASSERT_EQ_INT(vfs->fdatasync(f), -EIO); /* persistent */
    ASSERT_OK(vfs->fsync(f));
    vfs_fault_disarm(vfs);
    ASSERT_OK(vfs->fdatasync(f));

    /* Any kind: the 3rd call overall fails. */
    vfs_fault_arm(vfs, -1, 3, EIO, false);
    ASSERT_OK(vfs->fsync(f));
    ASSERT_OK(vfs->ftruncate(f, 0));
    ASSERT_EQ_INT(vfs->fsync_dir(vfs, kite_test_tmpdir()), -EIO);
    ASSERT_OK(vfs->fsync_dir(vfs, kite_test_tmpdir()));

    /* Torn: a failing pwrite leaves the first half of its buffer. */
    vfs_fault_set_torn(vfs, true);
    vfs_fault_arm(vfs, KITE_VFS_PWRITE, 1, EIO, false);
    ASSERT_EQ_INT(vfs->pwrite(f, "abcdefgh", 8, 0), -EIO);
    uint64_t size = 0;
    ASSERT_OK(vfs->fsize(f, &size));
    ASSERT_EQ_INT(size, 4);
    char buf[4];
    ASSERT_OK(vfs->pread(f, buf, 4, 0, NULL));
    ASSERT(memcmp(buf, "abcd", 4) == 0);
    ASSERT_OK(vfs->close(f));

    /* Open and directory operations are faultable too. */
    vfs_fault_arm(vfs, KITE_VFS_OPEN, 1, EMFILE, false);
    ASSERT_EQ_INT(vfs->open(vfs, p, KITE_O_RDONLY, &f), -EMFILE);
    ASSERT(f == NULL);
    vfs_fault_arm(vfs, KITE_VFS_RENAME, 1, EIO, false);
    ASSERT_EQ_INT(vfs_write_file_atomic(vfs, p, "x", 1), KITE_EIO);
    char **names = NULL;
    size_t n = 0;
    ASSERT_OK(vfs->list(vfs, kite_test_tmpdir(), &names, &n));
    for (size_t i = 0; i < n; i++) {
        ASSERT(!vfs_is_temp_name(names[i])); /* the temp file was removed */
        kite_free(names[i]);
    }
    kite_free(names);
    vfs_fault_free(vfs);
    vfs_fault_free(NULL);
}

/* vfs_write_file_atomic under an I/O-error loop: the target holds either the
 * old or the new contents, never a mix, and no temp file survives a failure
 * of any step except the final directory fsync (after the rename). */
TEST(vfs_atomic_write_io_error_loop)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    const char *p = tpath(kite_test_tmpdir(), "manifest");
    ASSERT_OK(vfs_write_file_atomic(vfs, p, "old-contents", 12));
    vfs_fault_arm(vfs, -1, 0, 0, false);
    ASSERT_OK(vfs_write_file_atomic(vfs, p, "new-contents!", 13));
    uint64_t total = vfs_fault_count(vfs, -1);
    ASSERT(total >= 5);
    for (uint64_t n = 1; n <= total; n++) {
        ASSERT_OK(vfs_write_file_atomic(kite_vfs_posix(), p, "old-contents", 12));
        vfs_fault_arm(vfs, -1, n, EIO, true);
        int rc = vfs_write_file_atomic(vfs, p, "new-contents!", 13);
        vfs_fault_disarm(vfs);
        uint8_t *d = NULL;
        size_t len = 0;
        ASSERT_OK(vfs_read_file(kite_vfs_posix(), p, &d, &len, 100));
        bool is_old = len == 12 && memcmp(d, "old-contents", 12) == 0;
        bool is_new = len == 13 && memcmp(d, "new-contents!", 13) == 0;
        ASSERT(is_old || is_new);
        ASSERT(rc != KITE_OK || is_new);
        kite_free(d);
    }
    vfs_fault_free(vfs);
}
