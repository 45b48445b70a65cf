/*
 * listener.h — the one TCP port of `kite serve`, shared by REST and gRPC.
 *
 * The listener accepts every connection, waits (without blocking other accepts)
 * for its first bytes, and hands it over: the HTTP/2 client preface goes to the
 * gRPC server (server/grpc/grpc.h), anything else to the HTTP server (http.h).
 */
#ifndef KITE_SERVER_LISTENER_H
#define KITE_SERVER_LISTENER_H

#include <stdint.h>

#include "config.h"
#include "kite/kite.h"

struct listener;
struct auth;
struct web_app;

/* What the servers share besides the database (all borrowed; may be NULL). */
struct listener_hooks {
    struct auth *auth;        /* users/roles store + on/off switch (server/auth.h) */
    struct web_app *web;      /* the search-by-image page (server/web/web.h) */
};

/* Bind and listen on cfg->host:cfg->port and start the HTTP (and gRPC) servers. */
int listener_new(const struct server_config *cfg, kite_db *db, const struct listener_hooks *hooks,
                 struct listener **out, kite_err *err) KITE_MUST_CHECK;
/* The bound port (the real one when cfg->port was 0). */
uint16_t listener_port(const struct listener *l);
/* Accept and dispatch connections until listener_stop(); returns KITE_OK or KITE_EIO. */
int listener_run(struct listener *l);
/* Ask listener_run to return.  Async-signal-safe (writes one byte to a pipe). */
void listener_stop(struct listener *l);
/* Close the port, finish in-flight requests, stop both servers, free.  Accepts NULL. */
void listener_free(struct listener *l);

#endif
