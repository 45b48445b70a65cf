/*
 * fuzz_segfile.c — libFuzzer target for segment/index container files
 * (RELIABILITY.md §C, A8).
 *
 * Input: the whole file.  Each input runs twice: as given, and with the
 * header, footer and blob CRCs recomputed from whatever the bytes say, so
 * mutations reach the directory validation behind the checksums.  segfile_open must reject damage with an error or
 * return a handle whose every blob lies inside the file; we read every blob
 * byte and look each blob up by name.  Must hold: no crash, no sanitizer
 * report, lookups by name agree with lookups by index.
 *
 * Build (by hand):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -std=c11 \
 *     -I include -I src/core -I src/storage tests/fuzz/fuzz_segfile.c \
 *     src/storage/[a-z]*.c src/core/[a-z]*.c -lpthread -lm -o fuzz_segfile
 *   ./fuzz_segfile -max_total_time=30 tests/fuzz/corpus/segfile
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "endian.h"
#include "segfile.h"
#include "vfs.h"

#define FUZZ_MAGIC 0x5A5A4B53u /* seeds are written with this magic */

static char g_path[256];

static void remove_file(void)
{
    (void)unlink(g_path);
}

/* Recompute CRCs, trusting the (possibly mutated) layout fields. */
static void fix_crcs(uint8_t *m, size_t len)
{
    if (len < 92)
        return;
    kite_put_u32(m + 60, kite_crc32c(0, m, 60));
    uint8_t *t = m + len - 24;
    uint64_t foff = kite_get_u64(t), flen = kite_get_u64(t + 8);
    if (foff > len - 24 || flen > len - 24 - foff || flen < 4)
        return;
    uint8_t *f = m + foff;
    uint64_t n = kite_get_u32(f), pos = 4;
    for (uint64_t i = 0; i < n; i++) {
        if (flen - pos < 2)
            break;
        uint64_t nl = kite_get_u16(f + pos);
        if (flen - pos - 2 < nl + 24)
            break;
        uint8_t *e = f + pos + 2 + nl;
        uint64_t off = kite_get_u64(e + 4), bl = kite_get_u64(e + 12);
        if (off <= len && bl <= len - off)
            kite_put_u32(e + 20, kite_crc32c(0, m + off, (size_t)bl));
        pos += 2 + nl + 24;
    }
    kite_put_u32(t + 16, kite_crc32c(0, f, (size_t)flen));
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
    if (!g_path[0]) {
        snprintf(g_path, sizeof(g_path), "/dev/shm/fuzz_segfile.%ld", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(g_path, "wb");
    if (!f)
        abort();
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    if (fix)
        fix_crcs(copy, size);
    if (size && fwrite(copy, 1, size, f) != size)
        abort();
    free(copy);
    fclose(f);
    struct segfile *sf = NULL;
    kite_err err;
    int rc = segfile_open(vfs, g_path, FUZZ_MAGIC, &sf, &err);
    if (rc != KITE_OK) {
        if (sf || err.message[0] == '\0')
            abort(); /* every rejection says why */
        return;
    }
    volatile uint32_t sum = 0;
    for (size_t i = 0; i < segfile_blob_count(sf); i++) {
        const char *name = NULL;
        uint32_t kind = 0, kind2 = 0;
        const void *d = NULL, *d2 = NULL;
        size_t len = 0, len2 = 0;
        if (segfile_blob_at(sf, i, &name, &kind, &d, &len) != KITE_OK)
            abort();
        for (size_t j = 0; j < len; j++)
            sum += ((const uint8_t *)d)[j];
        if (segfile_blob(sf, name, &kind2, &d2, &len2) != KITE_OK || d2 != d || len2 != len ||
            kind2 != kind)
            abort();
    }
    (void)sum;
    segfile_close(sf);
}
