/*
 * segfile.c — immutable, checksummed, mmap-able container files (segfile.h).
 *
 * ON-DISK FORMAT (all integers little-endian; docs/FORMAT.md "Segment files")
 *
 *   Header, 64 bytes:
 *     0  u32  file_magic  chosen by the caller (segment vs index file ...)
 *     4  u32  version     SEGFILE_VERSION (1)
 *     8  u32  flags       0 (no flags are defined in version 1)
 *    12  48   reserved    zero
 *    60  u32  crc         CRC32C of bytes 0..59
 *   Blobs, in directory order: blob 0 at offset 64, blob i+1 at the first
 *   64-byte boundary at or after the end of blob i; the gaps are zero bytes.
 *   Footer (the blob directory) at the first 64-byte boundary at or after the
 *   end of the last blob (64 when there are no blobs):
 *     u32 n_blobs, then per blob:
 *       u16 name_len (1..255) | name bytes (no NUL) | u32 kind | u64 offset |
 *       u64 length | u32 crc (CRC32C of the blob bytes)
 *   Trailer, 24 bytes, ending the file:
 *     0  u64  footer_offset
 *     8  u64  footer_length
 *    16  u32  footer_crc  CRC32C of the footer bytes
 *    20  u32  end_magic   0x4745534B ("KSEG" on disk)
 *
 * INVARIANTS checked by segfile_open before it returns a handle:
 *   1. Every byte of the file is covered by a check: header CRC, blob CRCs,
 *      footer CRC, the trailer fields by their consistency with the file size
 *      and the footer CRC, and the padding by being required zero.  So any
 *      single-bit flip or truncation is KITE_ECORRUPT, never a crash.
 *   2. The layout is canonical (offsets are exactly what the writer
 *      produces), which also rules out overlapping or out-of-bounds blobs.
 *   3. Names are 1..255 bytes, NUL-free and unique.
 *   Writes go through vfs_atomic_* (temp file, fsync, rename, fsync dir), so
 *   a file at its final name is always complete.
 *
 * Threading model: a struct segfile is immutable after segfile_open; any
 * number of threads may read it concurrently.  Blob views point into the
 * read-only mapping and stay valid until segfile_close.
 */
#include "segfile.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "crc32c.h"
#include "endian.h"
#include "err.h"

#define SEGFILE_VERSION 1u
#define SEGFILE_HDR_BYTES 64u
#define SEGFILE_TRAILER_BYTES 24u
#define SEGFILE_END_MAGIC 0x4745534Bu /* "KSEG" */
#define SEGFILE_ALIGN 64u
#define SEGFILE_NAME_MAX 255u
#define SEGFILE_ENTRY_FIXED 26u /* u16 + u32 + u64 + u64 + u32 */

struct seg_entry {
    const char *name; /* NUL-terminated copy, in sf->names */
    uint32_t kind;
    uint64_t off;
    uint64_t len;
};

struct segfile {
    struct kite_vfs *vfs;
    const uint8_t *map;
    size_t map_len;
    size_t n;
    struct seg_entry *entries;
    size_t *by_name; /* indices sorted by name, for segfile_blob */
    char *names;
};

static uint64_t align_up(uint64_t v)
{
    return (v + (SEGFILE_ALIGN - 1)) & ~(uint64_t)(SEGFILE_ALIGN - 1);
}

/* ------------------------------------------------------------------------ */
/* Shared checks                                                             */
/* ------------------------------------------------------------------------ */

static bool name_ok(const char *name, size_t len)
{
    return len >= 1 && len <= SEGFILE_NAME_MAX && memchr(name, '\0', len) == NULL;
}

struct name_ref {
    const char *p;
    size_t len;
    size_t idx;
};

static int cmp_name_ref(const void *a, const void *b)
{
    const struct name_ref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Sort refs by name; KITE_EEXISTS with *dup set if two names are equal. */
static int sort_names(struct name_ref *refs, size_t n, size_t *dup)
{
    qsort(refs, n, sizeof(*refs), cmp_name_ref);
    for (size_t i = 1; i < n; i++) {
        if (cmp_name_ref(&refs[i - 1], &refs[i]) == 0) {
            *dup = refs[i].idx;
            return KITE_EEXISTS;
        }
    }
    return KITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

static int check_blobs(const struct seg_blob *blobs, size_t n, uint64_t *footer_len,
                       kite_err *err)
{
    int rc = KITE_OK;
    uint64_t flen = 4;
    struct name_ref *refs = kite_calloc(n ? n : 1, sizeof(*refs));
    if (!refs)
        return kite_err_set(err, KITE_ENOMEM, "segfile: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = blobs[i].name;
        size_t len = name ? strlen(name) : 0;
        if (!name_ok(name ? name : "", len)) {
            rc = kite_err_set(err, KITE_EINVAL,
                              "segfile: blob %zu has a name of %zu bytes; expected 1..%u bytes",
                              i, len, SEGFILE_NAME_MAX);
            goto out;
        }
        if (blobs[i].len > 0 && !blobs[i].data) {
            rc = kite_err_set(err, KITE_EINVAL, "segfile: blob '%s' has no data", name);
            goto out;
        }
        refs[i] = (struct name_ref){name, len, i};
        flen += SEGFILE_ENTRY_FIXED + len;
    }
    size_t dup = 0;
    if (sort_names(refs, n, &dup) != KITE_OK) {
        rc = kite_err_set(err, KITE_EINVAL, "segfile: blob name '%s' appears twice; names "
                          "must be unique", blobs[dup].name);
        goto out;
    }
    *footer_len = flen;
out:
    kite_free(refs);
    return rc;
}

static void encode_header(uint8_t *h, uint32_t file_magic)
{
    memset(h, 0, SEGFILE_HDR_BYTES);
    kite_put_u32(h, file_magic);
    kite_put_u32(h + 4, SEGFILE_VERSION);
    kite_put_u32(h + 8, 0);
    kite_put_u32(h + 60, kite_crc32c(0, h, 60));
}

/* Build footer + trailer in memory; blob offsets follow the canonical layout. */
static uint8_t *build_footer(const struct seg_blob *blobs, size_t n, uint64_t flen,
                             uint64_t *footer_off)
{
    uint8_t *buf = kite_malloc((size_t)flen + SEGFILE_TRAILER_BYTES);
    if (!buf)
        return NULL;
    uint8_t *p = buf;
    uint64_t off = SEGFILE_HDR_BYTES;
    kite_put_u32(p, (uint32_t)n);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(blobs[i].name);
        kite_put_u16(p, (uint16_t)nl);
        memcpy(p + 2, blobs[i].name, nl);
        p += 2 + nl;
        kite_put_u32(p, blobs[i].kind);
        kite_put_u64(p + 4, off);
        kite_put_u64(p + 12, blobs[i].len);
        kite_put_u32(p + 20, kite_crc32c(0, blobs[i].data, blobs[i].len));
        p += 24;
        off = align_up(off + blobs[i].len);
    }
    *footer_off = off;
    kite_put_u64(p, off);
    kite_put_u64(p + 8, flen);
    kite_put_u32(p + 16, kite_crc32c(0, buf, (size_t)flen));
    kite_put_u32(p + 20, SEGFILE_END_MAGIC);
    return buf;
}

int segfile_write(struct kite_vfs *vfs, const char *path, uint32_t file_magic,
                  const struct seg_blob *blobs, size_t n, kite_err *err)
{
    static const uint8_t zeros[SEGFILE_ALIGN];
    uint8_t hdr[SEGFILE_HDR_BYTES];
    uint64_t flen = 0, footer_off = 0;
    struct vfs_atomic *a = NULL;
    uint8_t *footer = NULL;
    if (!vfs || !path || (n > 0 && !blobs))
        return kite_err_set(err, KITE_EINVAL, "segfile: vfs, path and blobs are required");
    if (n > UINT32_MAX)
        return kite_err_set(err, KITE_ELIMIT, "segfile: %zu blobs; at most %u", n, UINT32_MAX);
    int rc = check_blobs(blobs, n, &flen, err);
    if (rc != KITE_OK)
        return rc;
    footer = build_footer(blobs, n, flen, &footer_off);
    if (!footer)
        return kite_err_set(err, KITE_ENOMEM, "segfile: out of memory");
    rc = vfs_atomic_begin(vfs, path, &a);
    if (rc != KITE_OK)
        goto out_err;
    encode_header(hdr, file_magic);
    rc = vfs_atomic_write(a, hdr, sizeof(hdr));
    for (size_t i = 0; i < n && rc == KITE_OK; i++) {
        rc = vfs_atomic_write(a, blobs[i].data, blobs[i].len);
        uint64_t pos = vfs_atomic_offset(a);
        if (rc == KITE_OK)
            rc = vfs_atomic_write(a, zeros, (size_t)(align_up(pos) - pos));
    }
    if (rc == KITE_OK && vfs_atomic_offset(a) != footer_off)
        rc = KITE_EINTERNAL;
    if (rc == KITE_OK)
        rc = vfs_atomic_write(a, footer, (size_t)flen + SEGFILE_TRAILER_BYTES);
    if (rc != KITE_OK) {
        vfs_atomic_abort(a);
        goto out_err;
    }
    rc = vfs_atomic_commit(a);
    if (rc != KITE_OK)
        goto out_err;
    kite_free(footer);
    return KITE_OK;

out_err:
    kite_free(footer);
    return kite_err_set(err, rc, "segfile: cannot write %s: %s", path, kite_strerror(rc));
}

/* ------------------------------------------------------------------------ */
/* Opening and validation                                                    */
/* ------------------------------------------------------------------------ */

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static int check_header(const uint8_t *m, size_t len, uint32_t file_magic, const char *path,
                        kite_err *err)
{
    if (len < SEGFILE_HDR_BYTES + 4 + SEGFILE_TRAILER_BYTES)
        return kite_err_set_at(err, KITE_ECORRUPT, 0,
                               "segfile %s: %zu bytes is too short; expected at least %u", path,
                               len, SEGFILE_HDR_BYTES + 4 + SEGFILE_TRAILER_BYTES);
    if (kite_get_u32(m + 60) != kite_crc32c(0, m, 60))
        return kite_err_set_at(err, KITE_ECORRUPT, 60, "segfile %s: header CRC mismatch", path);
    if (kite_get_u32(m) != file_magic)
        return kite_err_set_at(err, KITE_ECORRUPT, 0,
                               "segfile %s: magic 0x%08" PRIx32 ", expected 0x%08" PRIx32, path,
                               kite_get_u32(m), file_magic);
    if (kite_get_u32(m + 4) != SEGFILE_VERSION)
        return kite_err_set_at(err, KITE_ECORRUPT, 4,
                               "segfile %s: format version %" PRIu32 ", expected %u", path,
                               kite_get_u32(m + 4), SEGFILE_VERSION);
    if (kite_get_u32(m + 8) != 0 || !all_zero(m + 12, 48))
        return kite_err_set_at(err, KITE_ECORRUPT, 8,
                               "segfile %s: unknown flags or non-zero reserved header bytes",
                               path);
    return KITE_OK;
}

/* Trailer -> footer bounds; every field must agree with the file size. */
static int check_trailer(const uint8_t *m, size_t len, const char *path, uint64_t *foff,
                         uint64_t *flen, kite_err *err)
{
    const uint8_t *t = m + len - SEGFILE_TRAILER_BYTES;
    if (kite_get_u32(t + 20) != SEGFILE_END_MAGIC)
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)(len - 4),
                               "segfile %s: no end magic (file truncated or damaged)", path);
    uint64_t off = kite_get_u64(t), fl = kite_get_u64(t + 8);
    uint64_t body = (uint64_t)len - SEGFILE_TRAILER_BYTES;
    if (off < SEGFILE_HDR_BYTES || off % SEGFILE_ALIGN != 0 || off > body || fl < 4 ||
        fl != body - off)
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)(len - SEGFILE_TRAILER_BYTES),
                               "segfile %s: footer at %" PRIu64 " length %" PRIu64
                               " does not fit a file of %zu bytes",
                               path, off, fl, len);
    if (kite_crc32c(0, m + off, (size_t)fl) != kite_get_u32(t + 16))
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)off,
                               "segfile %s: footer CRC mismatch", path);
    *foff = off;
    *flen = fl;
    return KITE_OK;
}

/* Decode directory entry i at *pos; checks bounds, name and canonical offset. */
static int parse_entry(struct segfile *sf, const char *path, uint64_t foff, uint64_t flen,
                       uint64_t *pos, uint64_t *expect_off, char **name_out, size_t i,
                       kite_err *err)
{
    const uint8_t *f = sf->map + foff;
    if (flen - *pos < 2)
        goto out_short;
    size_t nl = kite_get_u16(f + *pos);
    if (flen - *pos - 2 < nl + 24)
        goto out_short;
    const char *name = (const char *)f + *pos + 2;
    if (!name_ok(name, nl))
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)(foff + *pos),
                               "segfile %s: blob %zu has a bad name (%zu bytes; expected 1..%u "
                               "bytes without NUL)", path, i, nl, SEGFILE_NAME_MAX);
    const uint8_t *e = f + *pos + 2 + nl;
    struct seg_entry *en = &sf->entries[i];
    en->kind = kite_get_u32(e);
    en->off = kite_get_u64(e + 4);
    en->len = kite_get_u64(e + 12);
    uint32_t crc = kite_get_u32(e + 20);
    if (en->off != *expect_off || en->len > foff - en->off)
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)(foff + *pos),
                               "segfile %s: blob %zu at %" PRIu64 " length %" PRIu64
                               " is out of place (expected offset %" PRIu64
                               ", end <= %" PRIu64 ")",
                               path, i, en->off, en->len, *expect_off, foff);
    uint64_t end = en->off + en->len;
    uint64_t next = align_up(end);
    if (next > foff || !all_zero(sf->map + end, next - end))
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)end,
                               "segfile %s: padding after blob %zu is damaged", path, i);
    if (kite_crc32c(0, sf->map + en->off, (size_t)en->len) != crc)
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)en->off,
                               "segfile %s: blob %zu ('%.*s') CRC mismatch", path, i, (int)nl,
                               name);
    memcpy(*name_out, name, nl);
    (*name_out)[nl] = '\0';
    en->name = *name_out;
    *name_out += nl + 1;
    *pos += 2 + nl + 24;
    *expect_off = next;
    return KITE_OK;

out_short:
    return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)(foff + *pos),
                           "segfile %s: directory entry %zu runs past the footer", path, i);
}

static int parse_directory(struct segfile *sf, const char *path, uint64_t foff, uint64_t flen,
                           kite_err *err)
{
    const uint8_t *f = sf->map + foff;
    uint64_t n = kite_get_u32(f);
    struct name_ref *refs = NULL;
    int rc = KITE_OK;
    if (n > (flen - 4) / (SEGFILE_ENTRY_FIXED + 1))
        return kite_err_set_at(err, KITE_ECORRUPT, (int64_t)foff,
                               "segfile %s: %" PRIu64 " blobs cannot fit a %" PRIu64
                               "-byte directory", path, n, flen);
    sf->n = (size_t)n;
    sf->entries = kite_calloc(n ? n : 1, sizeof(*sf->entries));
    sf->by_name = kite_calloc(n ? n : 1, sizeof(size_t));
    sf->names = kite_malloc((size_t)flen); /* names + NULs fit in the footer bytes */
    refs = kite_calloc(n ? n : 1, sizeof(*refs));
    if (!sf->entries || !sf->by_name || !sf->names || !refs) {
        rc = kite_err_set(err, KITE_ENOMEM, "segfile: out of memory");
        goto out;
    }
    uint64_t pos = 4, expect = SEGFILE_HDR_BYTES;
    char *np = sf->names;
    for (size_t i = 0; i < sf->n; i++) {
        rc = parse_entry(sf, path, foff, flen, &pos, &expect, &np, i, err);
        if (rc != KITE_OK)
            goto out;
        refs[i] = (struct name_ref){sf->entries[i].name, strlen(sf->entries[i].name), i};
    }
    if (pos != flen || expect != foff) {
        rc = kite_err_set_at(err, KITE_ECORRUPT, (int64_t)(foff + pos),
                             "segfile %s: directory has %" PRIu64 " stray bytes or the footer "
                             "is not right after the last blob", path, flen - pos);
        goto out;
    }
    size_t dup = 0;
    if (sort_names(refs, sf->n, &dup) != KITE_OK) {
        rc = kite_err_set(err, KITE_ECORRUPT, "segfile %s: blob name '%s' appears twice", path,
                          sf->entries[dup].name);
        goto out;
    }
    for (size_t i = 0; i < sf->n; i++)
        sf->by_name[i] = refs[i].idx;
out:
    kite_free(refs);
    return rc;
}

int segfile_open(struct kite_vfs *vfs, const char *path, uint32_t file_magic,
                 struct segfile **out, kite_err *err)
{
    struct kite_file *f = NULL;
    const void *addr = NULL;
    uint64_t foff = 0, flen = 0;
    int rc = KITE_OK;
    *out = NULL;
    if (!vfs || !path)
        return kite_err_set(err, KITE_EINVAL, "segfile: vfs and path are required");
    struct segfile *sf = kite_calloc(1, sizeof(*sf));
    if (!sf)
        return kite_err_set(err, KITE_ENOMEM, "segfile: out of memory");
    sf->vfs = vfs;
    rc = kite_vfs_err(vfs->open(vfs, path, KITE_O_RDONLY, &f));
    if (rc != KITE_OK) {
        kite_err_set(err, rc, "segfile: cannot open %s: %s", path, kite_strerror(rc));
        goto out_free;
    }
    rc = kite_vfs_err(vfs->mmap(f, &addr, &sf->map_len));
    (void)vfs->close(f); /* the mapping outlives the descriptor */
    if (rc != KITE_OK) {
        kite_err_set(err, rc, "segfile: cannot map %s: %s", path, kite_strerror(rc));
        goto out_free;
    }
    sf->map = addr;
    rc = check_header(sf->map, sf->map_len, file_magic, path, err);
    if (rc == KITE_OK)
        rc = check_trailer(sf->map, sf->map_len, path, &foff, &flen, err);
    if (rc == KITE_OK)
        rc = parse_directory(sf, path, foff, flen, err);
    if (rc != KITE_OK)
        goto out_free;
    *out = sf;
    return KITE_OK;

out_free:
    segfile_close(sf);
    return rc;
}

void segfile_close(struct segfile *sf)
{
    if (!sf)
        return;
    if (sf->map)
        (void)sf->vfs->munmap(sf->map, sf->map_len);
    kite_free(sf->entries);
    kite_free(sf->by_name);
    kite_free(sf->names);
    kite_free(sf);
}

size_t segfile_blob_count(const struct segfile *sf)
{
    return sf ? sf->n : 0;
}

static void view(const struct segfile *sf, size_t i, uint32_t *kind, const void **data,
                 size_t *len)
{
    const struct seg_entry *e = &sf->entries[i];
    if (kind)
        *kind = e->kind;
    if (data)
        *data = sf->map + e->off;
    if (len)
        *len = (size_t)e->len;
}

int segfile_blob(const struct segfile *sf, const char *name, uint32_t *kind, const void **data,
                 size_t *len)
{
    if (!sf || !name)
        return KITE_EINVAL;
    size_t lo = 0, hi = sf->n;
    struct name_ref key = {name, strlen(name), 0};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct seg_entry *e = &sf->entries[sf->by_name[mid]];
        struct name_ref cur = {e->name, strlen(e->name), 0};
        int c = cmp_name_ref(&key, &cur);
        if (c == 0) {
            view(sf, sf->by_name[mid], kind, data, len);
            return KITE_OK;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return KITE_ENOTFOUND;
}

int segfile_blob_at(const struct segfile *sf, size_t i, const char **name, uint32_t *kind,
                    const void **data, size_t *len)
{
    if (!sf || i >= sf->n)
        return KITE_EINVAL;
    if (name)
        *name = sf->entries[i].name;
    view(sf, i, kind, data, len);
    return KITE_OK;
}

void segfile_advise_cold(const struct segfile *sf, const void *p, size_t len)
{
    if (!sf || !sf->map || !sf->vfs->advise_cold || !p)
        return;
    uintptr_t a = (uintptr_t)p, m0 = (uintptr_t)sf->map, m1 = m0 + sf->map_len;
    if (a < m0 || a >= m1)
        return;
    if (len > m1 - a)
        len = m1 - a;
    sf->vfs->advise_cold(p, len);
}
