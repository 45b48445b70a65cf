/*
 * segfile.h — immutable, checksummed, mmap-able container files.
 *
 * A segment file (and an index file) is a header, a list of named blobs and a
 * footer: each blob has a name, a 32-bit kind tag chosen by the caller, its
 * length and its own CRC32C; the footer holds the blob directory and its CRC.
 * Blobs are 64-byte aligned in the file so vectors can be used in place from
 * the mapping.  Files are written to a temp name, fsynced, renamed and the
 * directory fsynced, so a file either exists whole or not at all.
 * The storage layer never interprets blob contents (STYLE.md §2).
 */
#ifndef KITE_STORAGE_SEGFILE_H
#define KITE_STORAGE_SEGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "kite/errors.h"
#include "vfs.h"

struct seg_blob {
    const char *name;
    uint32_t kind;
    const void *data;
    size_t len;
};

/* Write atomically (temp + fsync + rename + fsync_dir). */
int segfile_write(struct kite_vfs *vfs, const char *path, uint32_t file_magic,
                  const struct seg_blob *blobs, size_t n, kite_err *err);

struct segfile;

/* Open and verify (magic, version, directory CRC, and every blob's CRC). */
int segfile_open(struct kite_vfs *vfs, const char *path, uint32_t file_magic,
                 struct segfile **out, kite_err *err);
void segfile_close(struct segfile *sf);
size_t segfile_blob_count(const struct segfile *sf);
/* Borrowed view valid until segfile_close.  KITE_ENOTFOUND if absent. */
int segfile_blob(const struct segfile *sf, const char *name, uint32_t *kind, const void **data,
                 size_t *len);
/* i-th blob (0 <= i < count). */
int segfile_blob_at(const struct segfile *sf, size_t i, const char **name, uint32_t *kind,
                    const void **data, size_t *len);
/*
 * Hint that [p, p+len) of a blob will not be read soon (e.g. vectors an index
 * holds its own copy of): their whole pages leave this process's resident set
 * and come back from the page cache if read again.  Clipped to the mapping;
 * a no-op where the vfs has no such hint.
 */
void segfile_advise_cold(const struct segfile *sf, const void *p, size_t len);

#endif
