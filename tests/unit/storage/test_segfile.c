/* Unit tests for src/storage/segfile.c: round trip, validation of every bit
 * flip and truncation, bad inputs, and I/O faults while writing. */
#include <errno.h>

#include "alloc.h"
#include "segfile.h"
#include "storage_test_util.h"
#include "test.h"
#include "vfs.h"

#define MAGIC 0x53474B31u

static const char *seg_path(void)
{
    return tpath(kite_test_tmpdir(), "s.seg");
}

/* A small file: 3 blobs of odd sizes (one empty). */
static int write_small(struct kite_vfs *vfs, const char *path, kite_err *err)
{
    static uint8_t vec[100];
    for (int i = 0; i < 100; i++)
        vec[i] = (uint8_t)(i * 3 + 1);
    struct seg_blob blobs[3] = {
        {"vectors", 1, vec, sizeof(vec)},
        {"empty", 2, NULL, 0},
        {"ids", 3, "0123456789", 10},
    };
    return segfile_write(vfs, path, MAGIC, blobs, 3, err);
}

static void check_small(const struct segfile *sf)
{
    ASSERT_EQ_INT(segfile_blob_count(sf), 3);
    uint32_t kind = 0;
    const void *data = NULL;
    size_t len = 0;
    ASSERT_OK(segfile_blob(sf, "vectors", &kind, &data, &len));
    ASSERT_EQ_INT(kind, 1);
    ASSERT_EQ_INT(len, 100);
    ASSERT_EQ_INT(((uintptr_t)data) % 64, 0); /* 64-byte aligned in the mapping */
    for (int i = 0; i < 100; i++)
        ASSERT_EQ_INT(((const uint8_t *)data)[i], (uint8_t)(i * 3 + 1));
    ASSERT_OK(segfile_blob(sf, "empty", &kind, &data, &len));
    ASSERT_EQ_INT(kind, 2);
    ASSERT_EQ_INT(len, 0);
    ASSERT_OK(segfile_blob(sf, "ids", &kind, &data, &len));
    ASSERT_EQ_INT(len, 10);
    ASSERT(memcmp(data, "0123456789", 10) == 0);
    ASSERT_EQ_INT(segfile_blob(sf, "nope", &kind, &data, &len), KITE_ENOTFOUND);
    const char *name = NULL;
    ASSERT_OK(segfile_blob_at(sf, 2, &name, &kind, &data, &len));
    ASSERT_STR_EQ(name, "ids");
    ASSERT_EQ_INT(kind, 3);
    ASSERT_EQ_INT(segfile_blob_at(sf, 3, &name, &kind, &data, &len), KITE_EINVAL);
}

TEST(segfile_round_trip)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    kite_err err;
    ASSERT_OK(write_small(vfs, seg_path(), &err));
    struct segfile *sf = NULL;
    ASSERT_OK(segfile_open(vfs, seg_path(), MAGIC, &sf, &err));
    check_small(sf);
    segfile_close(sf);
    segfile_close(NULL);
    /* Wrong caller magic. */
    ASSERT_EQ_INT(segfile_open(vfs, seg_path(), MAGIC + 1, &sf, &err), KITE_ECORRUPT);
    ASSERT_CONTAINS(err.message, "magic");
    ASSERT_EQ_INT(segfile_open(vfs, tpath(kite_test_tmpdir(), "missing"), MAGIC, &sf, &err),
                  KITE_ENOTFOUND);
    /* Zero blobs, and many blobs with a big one. */
    ASSERT_OK(segfile_write(vfs, seg_path(), MAGIC, NULL, 0, &err));
    ASSERT_OK(segfile_open(vfs, seg_path(), MAGIC, &sf, &err));
    ASSERT_EQ_INT(segfile_blob_count(sf), 0);
    segfile_close(sf);
    enum { N = 200 };
    struct seg_blob blobs[N];
    char names[N][16];
    size_t big = 1 << 20;
    uint8_t *bigbuf = malloc(big);
    for (size_t i = 0; i < big; i++)
        bigbuf[i] = (uint8_t)(i ^ (i >> 8));
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "b%03d", (N - 1 - i)); /* unsorted order */
        blobs[i] = (struct seg_blob){names[i], (uint32_t)i, bigbuf, (i == 7 ? big : (size_t)i)};
    }
    ASSERT_OK(segfile_write(vfs, seg_path(), MAGIC, blobs, N, &err));
    ASSERT_OK(segfile_open(vfs, seg_path(), MAGIC, &sf, &err));
    ASSERT_EQ_INT(segfile_blob_count(sf), N);
    for (int i = 0; i < N; i++) {
        uint32_t kind = 0;
        const void *data = NULL;
        size_t len = 0;
        ASSERT_OK(segfile_blob(sf, names[i], &kind, &data, &len));
        ASSERT_EQ_INT(kind, i);
        ASSERT_EQ_INT(len, blobs[i].len);
        ASSERT(len == 0 || memcmp(data, bigbuf, len) == 0);
    }
    segfile_close(sf);
    free(bigbuf);
}

TEST(segfile_write_rejects_bad_input)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    kite_err err;
    struct seg_blob dup[2] = {{"a", 1, "x", 1}, {"a", 2, "y", 1}};
    ASSERT_EQ_INT(segfile_write(vfs, seg_path(), MAGIC, dup, 2, &err), KITE_EINVAL);
    ASSERT_CONTAINS(err.message, "twice");
    struct seg_blob empty_name[1] = {{"", 1, "x", 1}};
    ASSERT_EQ_INT(segfile_write(vfs, seg_path(), MAGIC, empty_name, 1, &err), KITE_EINVAL);
    char longname[300];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[299] = 0;
    struct seg_blob long_name[1] = {{longname, 1, "x", 1}};
    ASSERT_EQ_INT(segfile_write(vfs, seg_path(), MAGIC, long_name, 1, &err), KITE_EINVAL);
    struct seg_blob no_data[1] = {{"a", 1, NULL, 5}};
    ASSERT_EQ_INT(segfile_write(vfs, seg_path(), MAGIC, no_data, 1, &err), KITE_EINVAL);
    ASSERT_EQ_INT(kite_vfs_posix()->exists(vfs, seg_path(), NULL), -ENOENT);
}

TEST_TIMEOUT(segfile_every_bit_flip_and_truncation_detected, 120)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    kite_err err;
    ASSERT_OK(write_small(vfs, seg_path(), &err));
    char path[1024];
    snprintf(path, sizeof(path), "%s", seg_path());
    size_t len = 0;
    uint8_t *orig = tread_file(path, &len);
    ASSERT(orig != NULL);
    ASSERT(len > 300);
    uint8_t *b = malloc(len);
    for (size_t byte = 0; byte < len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, orig, len);
            b[byte] ^= (uint8_t)(1u << bit);
            ASSERT_EQ_INT(twrite_file(path, b, len), 0);
            struct segfile *sf = NULL;
            int rc = segfile_open(vfs, path, MAGIC, &sf, &err);
            if (rc != KITE_ECORRUPT)
                TEST_FAIL_("flip of byte %zu bit %d not detected (rc %d)", byte, bit, rc);
            ASSERT(sf == NULL);
        }
    }
    for (size_t cut = 0; cut < len; cut++) {
        ASSERT_EQ_INT(twrite_file(path, orig, cut), 0);
        struct segfile *sf = NULL;
        int rc = segfile_open(vfs, path, MAGIC, &sf, &err);
        if (rc != KITE_ECORRUPT)
            TEST_FAIL_("truncation to %zu bytes not detected (rc %d)", cut, rc);
    }
    /* Zero-filled tail and appended garbage. */
    uint8_t *z = calloc(len + 64, 1);
    memcpy(z, orig, len);
    ASSERT_EQ_INT(twrite_file(path, z, len + 64), 0);
    struct segfile *sf = NULL;
    ASSERT_EQ_INT(segfile_open(vfs, path, MAGIC, &sf, &err), KITE_ECORRUPT);
    memset(z + len / 2, 0, len - len / 2);
    ASSERT_EQ_INT(twrite_file(path, z, len), 0);
    ASSERT_EQ_INT(segfile_open(vfs, path, MAGIC, &sf, &err), KITE_ECORRUPT);
    /* The original still opens. */
    ASSERT_EQ_INT(twrite_file(path, orig, len), 0);
    ASSERT_OK(segfile_open(vfs, path, MAGIC, &sf, &err));
    check_small(sf);
    segfile_close(sf);
    free(z);
    free(b);
    free(orig);
}

/* Writing under an I/O-error loop: the final path either holds the complete
 * previous file or the complete new one, never a partial file. */
TEST(segfile_write_io_error_loop)
{
    struct kite_vfs *vfs = vfs_fault_new(kite_vfs_posix());
    kite_err err;
    vfs_fault_arm(vfs, -1, 0, 0, false);
    ASSERT_OK(write_small(vfs, seg_path(), &err));
    uint64_t total = vfs_fault_count(vfs, -1);
    ASSERT(total >= 6);
    for (uint64_t n = 1; n <= total; n++) {
        for (int persistent = 0; persistent < 2; persistent++) {
            (void)kite_vfs_posix()->unlink(kite_vfs_posix(), seg_path());
            vfs_fault_arm(vfs, -1, n, persistent ? ENOSPC : EIO, persistent != 0);
            int rc = write_small(vfs, seg_path(), &err);
            vfs_fault_disarm(vfs);
            struct segfile *sf = NULL;
            int orc = segfile_open(kite_vfs_posix(), seg_path(), MAGIC, &sf, &err);
            if (rc == KITE_OK)
                ASSERT_OK(orc);
            ASSERT(orc == KITE_OK || orc == KITE_ENOTFOUND);
            if (orc == KITE_OK)
                check_small(sf);
            segfile_close(sf);
        }
    }
    vfs_fault_free(vfs);
}

/* The OOM loop (RELIABILITY.md A7) over open: every allocation failure gives a
 * clean error and no leak (checked under ASan/LSan). */
TEST(segfile_open_oom_loop)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    kite_err err;
    ASSERT_OK(write_small(vfs, seg_path(), &err));
    for (uint64_t n = 1; n < 50; n++) {
        struct segfile *sf = NULL;
        kite_alloc_fail_at(n, false);
        int rc = segfile_open(vfs, seg_path(), MAGIC, &sf, &err);
        kite_alloc_fail_at(0, false);
        ASSERT(rc == KITE_OK || rc == KITE_ENOMEM);
        if (rc == KITE_OK)
            check_small(sf);
        segfile_close(sf);
    }
}

/* ---- structure checks behind valid checksums ----------------------------- */

#include "crc32c.h"
#include "endian.h"

/* Recompute every CRC from whatever the (patched) layout fields say. */
static void fix_crcs(uint8_t *m, size_t len)
{
    kite_put_u32(m + 60, kite_crc32c(0, m, 60));
    uint8_t *t = m + len - 24;
    uint64_t foff = kite_get_u64(t), flen = kite_get_u64(t + 8);
    if (foff > len - 24 || flen > len - 24 - foff || flen < 4)
        return; /* the layout fields themselves are the damage under test */
    uint8_t *f = m + foff;
    uint64_t n = kite_get_u32(f), pos = 4;
    for (uint64_t i = 0; i < n && pos + 2 <= flen; i++) {
        uint64_t nl = kite_get_u16(f + pos);
        if (pos + 2 + nl + 24 > flen)
            break;
        uint8_t *e = f + pos + 2 + nl;
        uint64_t off = kite_get_u64(e + 4), bl = kite_get_u64(e + 12);
        if (off <= len && bl <= len - off)
            kite_put_u32(e + 20, kite_crc32c(0, m + off, (size_t)bl));
        pos += 2 + nl + 24;
    }
    kite_put_u32(t + 16, kite_crc32c(0, f, (size_t)flen));
}

/* Write two blobs "aa" and "bb", patch the copy with fn, fix CRCs, open. */
static int open_patched(void (*fn)(uint8_t *m, size_t len, uint8_t *footer), kite_err *err)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    struct seg_blob blobs[2] = {{"aa", 1, "hello", 5}, {"bb", 2, "world!", 6}};
    ASSERT_OK(segfile_write(vfs, seg_path(), MAGIC, blobs, 2, err));
    char path[1024];
    snprintf(path, sizeof(path), "%s", seg_path());
    size_t len = 0;
    uint8_t *m = tread_file(path, &len);
    fn(m, len, m + kite_get_u64(m + len - 24));
    fix_crcs(m, len);
    ASSERT_EQ_INT(twrite_file(path, m, len), 0);
    free(m);
    struct segfile *sf = NULL;
    int rc = segfile_open(vfs, path, MAGIC, &sf, err);
    segfile_close(sf);
    return rc;
}

/* Footer layout of the two-blob file: n(4) | 2 "aa" kind off len crc | 2 "bb" ... */
static void p_none(uint8_t *m, size_t len, uint8_t *f) {}
static void p_version(uint8_t *m, size_t len, uint8_t *f) { m[4] = 2; }
static void p_flags(uint8_t *m, size_t len, uint8_t *f) { m[8] = 1; }
static void p_reserved(uint8_t *m, size_t len, uint8_t *f) { m[30] = 1; }
static void p_dup(uint8_t *m, size_t len, uint8_t *f) { memcpy(f + 4 + 28 + 2, "aa", 2); }
static void p_nul(uint8_t *m, size_t len, uint8_t *f) { f[4 + 2 + 1] = 0; }
static void p_count_big(uint8_t *m, size_t len, uint8_t *f) { kite_put_u32(f, 1000); }
static void p_count_small(uint8_t *m, size_t len, uint8_t *f) { kite_put_u32(f, 1); }
static void p_offset(uint8_t *m, size_t len, uint8_t *f) { kite_put_u64(f + 4 + 2 + 2 + 4, 128); }
static void p_length(uint8_t *m, size_t len, uint8_t *f) { kite_put_u64(f + 4 + 2 + 2 + 12, 9999); }
static void p_name_len(uint8_t *m, size_t len, uint8_t *f) { kite_put_u16(f + 4 + 28, 300); }
static void p_name_zero(uint8_t *m, size_t len, uint8_t *f) { kite_put_u16(f + 4, 0); }
static void p_padding(uint8_t *m, size_t len, uint8_t *f) { m[64 + 5 + 3] = 7; }
static void p_footer_off(uint8_t *m, size_t len, uint8_t *f)
{
    kite_put_u64(m + len - 24, kite_get_u64(m + len - 24) + 64);
}

TEST(segfile_checks_behind_valid_checksums)
{
    kite_err err;
    ASSERT_OK(open_patched(p_none, &err));
    static const struct {
        void (*fn)(uint8_t *, size_t, uint8_t *);
        const char *msg;
    } cases[] = {
        {p_version, "format version"},  {p_flags, "flags"},
        {p_reserved, "reserved"},       {p_dup, "appears twice"},
        {p_nul, "bad name"},            {p_count_big, "cannot fit"},
        {p_count_small, "stray bytes"}, {p_offset, "out of place"},
        {p_length, "out of place"},     {p_name_len, "runs past"},
        {p_name_zero, "bad name"},      {p_padding, "padding"},
        {p_footer_off, "does not fit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kite_err_clear(&err);
        int rc = open_patched(cases[i].fn, &err);
        if (rc != KITE_ECORRUPT)
            TEST_FAIL_("case %zu (%s): rc %d", i, cases[i].msg, rc);
        ASSERT_CONTAINS(err.message, cases[i].msg);
    }
}

/*
 * segfile_advise_cold: the whole pages of a blob leave the resident set, the
 * bytes read back unchanged, and a pointer outside the mapping is ignored.
 */
TEST(segfile_advise_cold_drops_pages)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    const size_t len = 4u << 20;
    uint8_t *big = kite_malloc(len);
    ASSERT(big != NULL);
    for (size_t i = 0; i < len; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 12));
    struct seg_blob blobs[2] = {{"vectors", 1, big, len}, {"ids", 3, "0123456789", 10}};
    kite_err err;
    char path[4096];
    ASSERT(realpath(kite_test_tmpdir(), path) != NULL);
    strcat(path, "/cold.seg");
    ASSERT_OK(segfile_write(vfs, path, MAGIC, blobs, 2, &err));
    struct segfile *sf = NULL;
    ASSERT_OK(segfile_open(vfs, path, MAGIC, &sf, &err)); /* reads every byte (checksums) */
    const void *data;
    size_t got;
    uint32_t kind;
    ASSERT_OK(segfile_blob(sf, "vectors", &kind, &data, &got));
    ASSERT_EQ_INT(got, len);
    unsigned sum = 0;
    for (size_t i = 0; i < len; i += 4096)
        sum += ((const volatile uint8_t *)data)[i];
    ASSERT(sum > 0);
    long before = kite_test_mapped_rss(path);
    fprintf(stderr, "  mapping rss %ld bytes before\n", before);
    ASSERT(before >= (long)len);
    segfile_advise_cold(sf, big, len); /* not in the mapping: nothing happens */
    ASSERT(kite_test_mapped_rss(path) == before);
    segfile_advise_cold(sf, data, len);
    long after = kite_test_mapped_rss(path);
    fprintf(stderr, "  mapping rss %ld bytes after\n", after);
    ASSERT(after <= before - (long)len + 2 * 4096);
    ASSERT(memcmp(data, big, len) == 0); /* faulted back in, unchanged */
    ASSERT_OK(segfile_blob(sf, "ids", &kind, &data, &got));
    ASSERT(memcmp(data, "0123456789", 10) == 0);
    segfile_close(sf);
    kite_free(big);
}
