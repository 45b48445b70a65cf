/*
 * wal.h — write-ahead log with group commit.
 *
 * Records are opaque byte strings with a one-byte type chosen by the caller.
 * Each record carries length, LSN (monotonic sequence number), type and
 * CRC32C; the log is a series of files (wal-<first_lsn>.log) in one directory.
 *
 * Durability rule: wal_append() returns the record's LSN; the record is durable
 * once wal_sync(lsn) returns KITE_OK.  Concurrent writers share one fdatasync
 * (group commit): a syncer flushes everything appended so far and wakes every
 * waiter whose LSN it covered.  After any write or sync failure the WAL is
 * sticky-failed (KITE_EREADONLY for every later append/sync; never retry fsync).
 *
 * Recovery (wal_open): records are replayed in LSN order through the callback;
 * a torn or garbled record at the tail of the last file is cut off (the file is
 * truncated there); damage anywhere else is KITE_ECORRUPT and nothing is cut.
 */
#ifndef KITE_STORAGE_WAL_H
#define KITE_STORAGE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "kite/errors.h"
#include "vfs.h"

struct wal;

struct wal_options {
    uint64_t file_max_bytes;   /* rotate after this size; 0 = 64 MiB */
    uint64_t max_record_bytes; /* reject larger appends/records; 0 = 256 MiB */
};

/* (storage) payload is borrowed from a read-only mapping and valid only during
 * the call; a non-zero return aborts wal_open with that code. */
typedef int (*wal_replay_fn)(uint64_t lsn, uint8_t type, const uint8_t *payload, size_t len,
                             void *udata);

/* Open (creating the directory if needed) and replay records with lsn >= from_lsn.
 * (storage) Every file is verified before the first callback, so on
 * KITE_ECORRUPT nothing was replayed and nothing on disk was changed.  An empty
 * directory starts a log at LSN max(1, from_lsn); from_lsn beyond the end of a
 * non-empty log is KITE_ECORRUPT (files missing).  wal_close() does not sync. */
int wal_open(struct kite_vfs *vfs, const char *dir, const struct wal_options *opt,
             uint64_t from_lsn, wal_replay_fn replay, void *udata, struct wal **out,
             kite_err *err);
void wal_close(struct wal *w);

/* Append a record (buffered in the file, not yet synced); *lsn receives its LSN. */
int wal_append(struct wal *w, uint8_t type, const void *payload, size_t len, uint64_t *lsn);
/* Block until every record with LSN <= lsn is on disk. */
int wal_sync(struct wal *w, uint64_t lsn);
/* Records with LSN < lsn are no longer needed: delete whole files below it. */
int wal_truncate_before(struct wal *w, uint64_t lsn);
uint64_t wal_last_lsn(const struct wal *w);
/* KITE_OK, or the sticky error after a failed write/sync. */
int wal_status(const struct wal *w);
/* Statistics since wal_open (any pointer may be NULL; a NULL w gives zeros):
 * records appended, fdatasync calls that flushed appended records (wal_sync
 * and rotation; a group commit counts once), and record bytes written
 * including the 29-byte per-record overhead.  Lock-free; thread-safe. */
void wal_counters(const struct wal *w, uint64_t *appends, uint64_t *syncs, uint64_t *bytes);

#endif
