/*
 * http.h — the HTTP/1.1 face of Kite on libmicrohttpd (MHD).
 *
 * MHD does the protocol parsing (STYLE.md: "protocol parsing is done by well-kept
 * libraries"); this layer adds the limits of RELIABILITY.md §G, CORS, and routes
 * POST /v2/vectordb/... to rest_dispatch().  The daemon has no listen socket of its
 * own: server/listener.c accepts, sniffs the protocol and hands HTTP connections in.
 */
#ifndef KITE_SERVER_HTTP_H
#define KITE_SERVER_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "kite/kite.h"

struct auth;
struct web_app;
struct http_server;

struct http_config {
    size_t max_body_bytes;     /* above: 413, checked on Content-Length and while reading */
    size_t max_header_bytes;   /* MHD per-connection memory (headers + read buffer) */
    unsigned max_connections;  /* beyond: the connection is closed at once */
    unsigned idle_timeout_s;   /* idle or slow connections are closed after this */
    struct auth *auth;         /* borrowed; NULL or disabled: no authentication */
    struct web_app *web;       /* borrowed; NULL: only /v2/ is served */
};

/* Start the daemon (its threads serve connections handed in by http_server_adopt). */
int http_server_new(kite_db *db, const struct http_config *cfg, struct http_server **out,
                    kite_err *err) KITE_MUST_CHECK;
/*
 * Take ownership of an accepted socket and serve it on a thread of its own.
 * On failure (connection limit, out of memory) the socket is closed and a
 * negative code returned.
 */
int http_server_adopt(struct http_server *s, int fd, const struct sockaddr *addr,
                      socklen_t addr_len);
/* Requests currently being served (body being read or handler running). */
unsigned http_server_in_flight(struct http_server *s);
/*
 * Stop: new requests get 503, in-flight ones are finished (waiting at most
 * drain_s seconds), then every connection is closed and the daemon freed.
 * Accepts NULL.
 */
void http_server_free(struct http_server *s, unsigned drain_s);

#endif
