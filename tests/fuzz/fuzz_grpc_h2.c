/*
 * fuzz_grpc_h2.c — libFuzzer target for the HTTP/2 + gRPC framing of one connection:
 * the client preface followed by the fuzz input is written into a socketpair whose
 * client end is then closed, and grpc_conn_serve() serves the other end until EOF
 * (a real engine, opened in a temporary directory, answers the calls).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grpc_internal.h"

static kite_db *g_db;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/kite-fuzz-h2-XXXXXX";
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
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (size > 60000)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (write(sv[0], preface, 24) != 24 || (size && write(sv[0], data, size) != (ssize_t)size)) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    close(sv[0]); /* the server reads the bytes, then EOF; its writes fail with EPIPE */
    int wake[2];
    if (pipe(wake) != 0) {
        close(sv[1]);
        return 0;
    }
    _Atomic bool stopping = false;
    struct grpc_config cfg = {.max_recv_bytes = 1 << 16, .max_send_bytes = 1 << 20,
                              .idle_timeout_s = 1};
    struct grpc_conn_env env = {.db = g_db, .cfg = &cfg, .wake_fd = wake[0],
                                .stopping = &stopping, .connection_id = 1};
    grpc_conn_serve(&env, sv[1]); /* closes sv[1] */
    close(wake[0]);
    close(wake[1]);
    return 0;
}
