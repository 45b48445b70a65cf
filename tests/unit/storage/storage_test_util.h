/*
 * storage_test_util.h — helpers shared by the storage unit tests:
 * deterministic payloads, a replay collector, and small file utilities.
 */
#ifndef KITE_TEST_STORAGE_UTIL_H
#define KITE_TEST_STORAGE_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "wal.h"

/* Recovery warnings are expected by many tests; KITE_TEST_LOG=1 shows them. */
__attribute__((constructor)) static void tstorage_quiet_logs(void)
{
    if (!getenv("KITE_TEST_LOG"))
        kite_log_set_level(KITE_LOG_OFF);
}

/* Payload of record `lsn` in the test workloads: length and bytes depend on it. */
static inline size_t tpayload_len(uint64_t lsn)
{
    return (size_t)((lsn * 37u) % 61u);
}

static inline void tpayload(uint64_t lsn, uint8_t *out)
{
    size_t n = tpayload_len(lsn);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(lsn * 131u + i * 7u);
}

static inline uint8_t ttype(uint64_t lsn)
{
    return (uint8_t)(lsn % 5u + 1u);
}

/* Replay collector: checks each record against tpayload and keeps the range. */
struct tcollect {
    uint64_t first, last, count;
    bool bad;      /* a payload/type/order mismatch was seen */
    bool check;    /* compare payloads with tpayload() */
    uint64_t *lsns; /* optional: every LSN seen (cap entries) */
    size_t cap;
};

static inline int tcollect_fn(uint64_t lsn, uint8_t type, const uint8_t *payload, size_t len,
                              void *udata)
{
    struct tcollect *c = udata;
    if (c->count == 0)
        c->first = lsn;
    else if (lsn != c->last + 1)
        c->bad = true;
    if (c->check) {
        uint8_t exp[64];
        tpayload(lsn, exp);
        if (type != ttype(lsn) || len != tpayload_len(lsn) || (len && memcmp(exp, payload, len)))
            c->bad = true;
    }
    if (c->lsns && c->count < c->cap)
        c->lsns[c->count] = lsn;
    c->last = lsn;
    c->count++;
    return 0;
}

static inline int tappend(struct wal *w, uint64_t *lsn_out, uint64_t expect_lsn)
{
    uint8_t p[64];
    tpayload(expect_lsn, p);
    return wal_append(w, ttype(expect_lsn), p, tpayload_len(expect_lsn), lsn_out);
}

static inline uint8_t *tread_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static inline int twrite_file(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = len ? fwrite(b, 1, len, f) : 0;
    fclose(f);
    return w == len ? 0 : -1;
}

static inline char *tpath(const char *dir, const char *name)
{
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 1024, "%s/%s", dir, name);
    return p;
}

static inline char *twal_file(const char *dir, uint64_t first)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf), "%s/wal-%020llu.log", dir, (unsigned long long)first);
    return buf;
}

static inline long tfile_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

#endif
