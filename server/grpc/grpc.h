/*
 * grpc.h — the Milvus gRPC face (milvus.proto.milvus.MilvusService over h2c).
 *
 * The listener (server/listener.c) accepts every connection on the shared port,
 * peeks at the first bytes, and hands connections that begin with the HTTP/2
 * client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", not yet consumed) to
 * grpc_server_adopt(); everything else goes to the REST server.
 */
#ifndef KITE_SERVER_GRPC_H
#define KITE_SERVER_GRPC_H

#include <stdbool.h>
#include <stddef.h>

#include "kite/kite.h"

struct grpc_server;
struct auth;

struct grpc_config {
    size_t max_recv_bytes;      /* largest request message; default 64 MiB */
    size_t max_send_bytes;      /* largest response message; default 100 MiB */
    int idle_timeout_s;         /* close idle connections; default 600 */
    bool auth_enabled;          /* unused: see auth (kept for source compatibility) */
    struct auth *auth;          /* borrowed (server/auth.h); NULL or disabled: no checks */
    unsigned max_connections;   /* gRPC connections served at once; 0 = 1024 (added by grpc) */
};

int grpc_server_new(kite_db *db, const struct grpc_config *cfg, struct grpc_server **out);
/* Take ownership of fd and serve it (on a thread of the gRPC server) until closed. */
void grpc_server_adopt(struct grpc_server *s, int fd);
/* Stop reading new requests, finish in-flight ones, close connections, free. */
void grpc_server_free(struct grpc_server *s);

#endif
