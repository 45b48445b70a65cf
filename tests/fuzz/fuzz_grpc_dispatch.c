/*
 * fuzz_grpc_dispatch.c — libFuzzer target for the gRPC face's message handling:
 * the first byte picks an RPC, the rest is its protobuf request, run through
 * grpc_dispatch() against a real engine opened in a temporary directory (so schema,
 * FieldData, placeholder and search-parameter decoding all see hostile bytes).
 *
 * Build (see tests/integration/grpc/fuzz/README): clang -fsanitize=fuzzer,address,undefined
 * with -I server -I server/grpc -I src/core -I <build>/generated/proto, linking
 * kite_server, kite_grpc_proto, kite_db and their dependencies.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_internal.h"

static kite_db *g_db;

static const char *const g_methods[] = {
    "Connect", "CreateCollection", "DescribeCollection", "ShowCollections", "Insert",
    "Upsert", "Delete", "Search", "HybridSearch", "Query", "CreateIndex", "DescribeIndex",
    "Flush", "AlterCollection", "LoadCollection", "LoadPartitions", "GetIndexState",
    "DropIndex", "ListAliases", "CreateAlias", "GetLoadingProgress", "CreatePartition",
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/kite-fuzz-grpc-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    kite_options o;
    kite_options_init(&o);
    if (kite_open(dir, &o, &g_db, NULL) != KITE_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1 << 16))
        return 0;
    const char *m = g_methods[data[0] % (sizeof(g_methods) / sizeof(g_methods[0]))];
    char path[128];
    snprintf(path, sizeof(path), "%s%s", GRPC_METHOD_PREFIX, m);
    size_t n = size - 1;
    uint8_t *body = malloc(n + 5);
    if (!body)
        return 0;
    body[0] = 0;
    body[1] = (uint8_t)(n >> 24);
    body[2] = (uint8_t)(n >> 16);
    body[3] = (uint8_t)(n >> 8);
    body[4] = (uint8_t)n;
    memcpy(body + 5, data + 1, n);
    struct grpc_config cfg = {.max_recv_bytes = 1 << 20, .max_send_bytes = 1 << 24};
    struct grpc_request req = {.path = path, .body = body, .body_len = n + 5, .connection_id = 1};
    struct grpc_reply out;
    grpc_dispatch(g_db, &cfg, &req, &out);
    grpc_reply_free(&out);
    free(body);
    return 0;
}
