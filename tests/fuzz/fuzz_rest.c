/*
 * fuzz_rest.c — libFuzzer target for the REST v2 handlers (server/rest/rest.h).
 *
 * Input layout: byte 0 picks the endpoint (index into g_paths), byte 1 bit 0 the
 * Accept-Type-Allow-Int64 header, bit 1 a DB-Name header; the rest is the request
 * body.  One kite_db in a temporary directory lives for the whole run, with a small
 * collection "fz" so handlers get past "collection not found".
 * Must hold: no crash, no UB, no leak; every reply is a complete envelope.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kite/kite.h"
#include "rest/rest.h"

static const char *const g_paths[] = {
    "/v2/vectordb/collections/create",     "/v2/vectordb/collections/describe",
    "/v2/vectordb/collections/list",       "/v2/vectordb/collections/has",
    "/v2/vectordb/collections/rename",     "/v2/vectordb/collections/load",
    "/v2/vectordb/collections/release",    "/v2/vectordb/collections/get_load_state",
    "/v2/vectordb/collections/get_stats",  "/v2/vectordb/entities/insert",
    "/v2/vectordb/entities/upsert",        "/v2/vectordb/entities/delete",
    "/v2/vectordb/entities/query",         "/v2/vectordb/entities/get",
    "/v2/vectordb/entities/search",        "/v2/vectordb/entities/hybrid_search",
    "/v2/vectordb/indexes/create",         "/v2/vectordb/indexes/describe",
    "/v2/vectordb/indexes/list",           "/v2/vectordb/indexes/drop",
    "/v2/vectordb/partitions/list",        "/v2/vectordb/partitions/has",
    "/v2/vectordb/partitions/get_stats",   "/v2/vectordb/partitions/create",
    "/v2/vectordb/partitions/drop",        "/v2/vectordb/partitions/load",
    "/v2/vectordb/partitions/release",     "/v2/vectordb/aliases/create",
    "/v2/vectordb/aliases/alter",          "/v2/vectordb/aliases/drop",
    "/v2/vectordb/aliases/describe",       "/v2/vectordb/aliases/list",
    "/v2/vectordb/databases/create",       "/v2/vectordb/databases/drop",
    "/v2/vectordb/databases/list",         "/v2/vectordb/databases/describe",
    "/v2/vectordb/users/list",             "/v2/vectordb/no/such",
};
#define N_PATHS (sizeof(g_paths) / sizeof(g_paths[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kite_db *g_db;

static void serve(const char *path, const char *body, size_t len, int allow, const char *dbh)
{
    struct rest_request req = {.path = path, .body = body, .body_len = len,
                               .db_header = dbh, .allow_int64 = allow};
    struct rest_reply rep;
    if (rest_dispatch(g_db, &req, &rep) == KITE_OK && rep.body &&
        strlen(rep.body) != rep.body_len)
        abort(); /* the reply must be one NUL-free text of the stated length */
    rest_reply_free(&rep);
}

static void setup(void)
{
    char tmpl[] = "/tmp/fuzz_rest_XXXXXX";
    char *dir = mkdtemp(tmpl);
    kite_options o;
    kite_options_init(&o);
    o.n_threads = 1;
    if (!dir || kite_open(dir, &o, &g_db, NULL) != KITE_OK) {
        fprintf(stderr, "fuzz_rest: cannot open a database in %s\n", dir ? dir : "/tmp");
        abort();
    }
    static const char create[] =
        "{\"collectionName\":\"fz\",\"dimension\":4,\"metricType\":\"L2\"}";
    static const char insert[] =
        "{\"collectionName\":\"fz\",\"data\":[{\"id\":1,\"vector\":[1,2,3,4],\"k\":\"a\"},"
        "{\"id\":2,\"vector\":[0,1,0,1],\"k\":\"b\"}]}";
    serve("/v2/vectordb/collections/create", create, sizeof(create) - 1, 1, NULL);
    serve("/v2/vectordb/entities/insert", insert, sizeof(insert) - 1, 1, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_db)
        setup();
    if (size < 2)
        return 0;
    const char *path = g_paths[data[0] % N_PATHS];
    int allow = (data[1] & 1) ? 1 : -1;
    const char *dbh = (data[1] & 2) ? "default" : NULL;
    serve(path, (const char *)data + 2, size - 2, allow, dbh);
    return 0;
}
