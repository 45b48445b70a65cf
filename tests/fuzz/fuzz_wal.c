/*
 * fuzz_wal.c — libFuzzer target for WAL recovery (RELIABILITY.md §C).
 *
 * Input: byte 0 = number of log files (1..3, modulo); then each file but the
 * last as a u16 little-endian length and that many bytes (clamped to what is
 * left), and the last file takes the rest.  A file's name takes its
 * first LSN from bytes 8..15 of the part when it has a header, so mutated
 * headers and names disagree only when the fuzzer makes them.  Then wal_open
 * replays the directory.  Each input runs twice: as given, and with every
 * header and record CRC recomputed (so mutations reach the LSN-chain and
 * torn-tail logic behind the checksums).  Must hold: no crash or sanitizer report; replayed
 * LSNs are strictly consecutive; a second open replays exactly the same
 * records (recovery is idempotent); a successful open accepts an append.
 *
 * Build (by hand):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -std=c11 \
 *     -I include -I src/core -I src/storage tests/fuzz/fuzz_wal.c \
 *     src/storage/[a-z]*.c src/core/[a-z]*.c -lpthread -lm -o fuzz_wal
 *   ./fuzz_wal -max_total_time=30 tests/fuzz/corpus/wal
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "endian.h"
#include "log.h"
#include "vfs.h"
#include "wal.h"

struct seen {
    uint64_t first, last, count;
    uint64_t sum;
};

static int on_record(uint64_t lsn, uint8_t type, const uint8_t *p, size_t len, void *u)
{
    struct seen *s = u;
    if (s->count > 0 && lsn != s->last + 1)
        abort(); /* replay must be consecutive */
    if (s->count == 0)
        s->first = lsn;
    s->last = lsn;
    s->count++;
    for (size_t i = 0; i < len; i++) /* touch every payload byte */
        s->sum += p[i];
    s->sum += type;
    return 0;
}

static char g_dir[256];

static void clear_dir(void)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    (void)vfs->rmdir_r(vfs, g_dir);
}

/* Recompute the header CRC and every record CRC of one file image. */
static void fix_crcs(uint8_t *p, size_t len)
{
    if (len < 24)
        return;
    kite_put_u32(p + 20, kite_crc32c(0, p, 20));
    size_t off = 24;
    while (len - off >= 29) {
        size_t l = kite_get_u32(p + off + 4);
        if (l > len - off - 29)
            break;
        uint32_t c = kite_crc32c(kite_crc32c(0, p + off + 25, l), p + off, 25);
        kite_put_u32(p + off + 25 + l, c);
        off += 29 + l;
    }
}

static void run_one(const uint8_t *data, size_t size, bool fix);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_one(data, size, false);
    run_one(data, size, true);
    return 0;
}

static void run_one(const uint8_t *data, size_t size, bool fix)
{
    struct kite_vfs *vfs = kite_vfs_posix();
    if (!g_dir[0]) {
        kite_log_set_level(KITE_LOG_OFF);
        snprintf(g_dir, sizeof(g_dir), "/dev/shm/fuzz_wal.%ld", (long)getpid());
        atexit(clear_dir);
    }
    if (size < 1)
        return;
    clear_dir();
    if (vfs_mkdir_p(vfs, g_dir) != 0)
        abort();
    size_t n = (size_t)(data[0] % 3) + 1;
    size_t pos = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = size - pos;
        if (i + 1 < n) {
            if (size - pos < 2)
                break;
            size_t want = kite_get_u16(data + pos);
            pos += 2;
            len = want < size - pos ? want : size - pos;
        }
        const uint8_t *p = data + pos;
        pos += len;
        uint64_t first = len >= 16 ? kite_get_u64(p + 8) % 1000000 : i + 1;
        char path[512];
        snprintf(path, sizeof(path), "%s/wal-%020llu.log", g_dir, (unsigned long long)first);
        FILE *f = fopen(path, "wb");
        if (!f)
            abort();
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
            abort();
        memcpy(copy, p, len);
        if (fix)
            fix_crcs(copy, len);
        if (len && fwrite(copy, 1, len, f) != len)
            abort();
        free(copy);
        fclose(f);
    }
    struct wal_options o = {.file_max_bytes = 4096, .max_record_bytes = 1 << 20};
    struct seen a = {0}, b = {0};
    struct wal *w = NULL;
    int rc = wal_open(vfs, g_dir, &o, 1, on_record, &a, &w, NULL);
    if (rc != KITE_OK) {
        if (w)
            abort();
        return;
    }
    wal_close(w);
    rc = wal_open(vfs, g_dir, &o, 1, on_record, &b, &w, NULL);
    if (rc != KITE_OK || a.count != b.count || a.sum != b.sum ||
        (a.count && (a.first != b.first || a.last != b.last)))
        abort(); /* recovering a recovered log must change nothing */
    uint64_t lsn = 0;
    if (wal_append(w, 1, "fuzz", 4, &lsn) != KITE_OK || lsn != wal_last_lsn(w) ||
        wal_sync(w, lsn) != KITE_OK)
        abort();
    wal_close(w);
}
