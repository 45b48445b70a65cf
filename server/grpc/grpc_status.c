/*
 * grpc_status.c — common.Status construction and small request-parsing helpers.
 *
 * Application errors travel inside Status with gRPC status OK (GRPC.md §1-2):
 * `code` is the Milvus merr code (server/errors_map.c) and `error_code` the legacy
 * ErrorCode Milvus derives from it, which pymilvus 2.1 and the Node SDK still read.
 * Both are always set together, and error_code is never 0 for a failure.
 *
 * Threading: stateless; the legacy table is read-only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors_map.h"
#include "grpc_internal.h"

struct legacy_row {
    int milvus_code;
    int error_code;
};

/* merr code -> common.ErrorCode, as Milvus' proxy derives it (GRPC.md §2). */
static const struct legacy_row g_legacy[] = {
    {100, 4},  /* CollectionNotExists */
    {1100, 5}, /* IllegalArgument */
    {700, 25}, /* IndexNotExist */
    {1, 56},   /* NotReadyServe */
    {8, 49},   /* RateLimit */
    {9, 48},   /* ForceDeny */
    {3, 52},   /* InsufficientMemoryToLoad */
    {7, 54},   /* DiskQuotaExhausted */
    {11, 55},  /* TimeTickLongDelay */
    {904, 50}, /* NodeIDNotMatch */
    {200, 15}, /* MetaFailed */
    {400, 15},
    {501, 15},
    {401, 46}, /* NoReplicaAvailable */
    {503, 46},
    {905, 46},
    {600, 47}, /* SegmentNotFound */
};

int grpc_legacy_error_code(int milvus_code)
{
    if (milvus_code == 0)
        return 0;
    for (size_t i = 0; i < sizeof(g_legacy) / sizeof(g_legacy[0]); i++)
        if (g_legacy[i].milvus_code == milvus_code)
            return g_legacy[i].error_code;
    return 1; /* UnexpectedError */
}

Milvus__Proto__Common__Status *grpc_status_new(struct grpc_call *c, int rc, const kite_err *err)
{
    Milvus__Proto__Common__Status *st = grpc_arena_alloc(&c->arena, sizeof(*st));
    if (!st)
        return NULL;
    milvus__proto__common__status__init(st);
    if (rc == KITE_OK)
        return st;
    int code = server_err_milvus_code(rc);
    st->code = code;
    st->error_code = (Milvus__Proto__Common__ErrorCode)grpc_legacy_error_code(code);
    const char *msg = (err && err->message[0]) ? err->message : kite_strerror(rc);
    st->reason = grpc_arena_strdup(&c->arena, msg);
    if (!st->reason)
        return NULL;
    st->retriable = (code == 1 || code == 2 || code == 8);
    return st;
}

const char *grpc_call_db(const struct grpc_call *c, const char *db_field)
{
    if (db_field && db_field[0])
        return db_field;
    return c->dbname_header;
}

const char *grpc_kv_get(Milvus__Proto__Common__KeyValuePair *const *kvs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (kvs[i] && kvs[i]->key && strcmp(kvs[i]->key, key) == 0)
            return kvs[i]->value ? kvs[i]->value : "";
    return NULL;
}

int grpc_parse_i64(const char *s, int64_t *out)
{
    if (!s)
        return KITE_EINVAL;
    while (*s == ' ' || *s == '"')
        s++;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return KITE_EINVAL;
    while (*end == ' ' || *end == '"')
        end++;
    if (*end)
        return KITE_EINVAL;
    *out = (int64_t)v;
    return KITE_OK;
}

bool grpc_parse_bool(const char *s, bool dflt)
{
    if (!s || !s[0])
        return dflt;
    if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
        return true;
    if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
        return false;
    return dflt;
}

int grpc_reply_status(struct grpc_call *c, int rc, const kite_err *err, ProtobufCMessage **resp)
{
    Milvus__Proto__Common__Status *st = grpc_status_new(c, rc, err);
    if (!st)
        return KITE_ENOMEM;
    *resp = &st->base;
    return KITE_OK;
}
