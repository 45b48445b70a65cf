/*
 * rest.h — the Milvus RESTful API v2 (POST /v2/vectordb/<category>/<action>),
 * independent of any socket: one call turns a request body into a reply body.
 *
 * The HTTP glue (server/http.c) and the fuzz target call rest_dispatch(); it
 * parses the JSON body, runs the handler against kite.h, and fills an owned reply.
 * Threading: rest_dispatch is reentrant; concurrent calls share only the kite_db,
 * which is thread-safe.
 */
#ifndef KITE_SERVER_REST_H
#define KITE_SERVER_REST_H

#include <stdbool.h>
#include <stddef.h>

#include "kite/kite.h"

struct auth;
struct auth_user;

struct rest_request {
    const char *path;       /* "/v2/vectordb/collections/create" (no query string) */
    const char *body;       /* request body bytes (need not be NUL-terminated) */
    size_t body_len;
    const char *db_header;  /* "DB-Name" header or NULL */
    int allow_int64;        /* Accept-Type-Allow-Int64: 1 true, 0 false, -1 absent/unparsable */
    struct auth *auth;      /* NULL: no privilege checks (auth off); else with user: */
    const struct auth_user *user; /* the authenticated caller (server/auth.h) */
};

struct rest_reply {
    int http_status;        /* 200 for every API reply (errors included), 404 unknown path */
    char *body;             /* owned (kite_free), NUL-terminated JSON or plain text */
    size_t body_len;
    const char *content_type; /* static string */
};

/* Largest JSON nesting depth accepted in a request body (deeper -> code 1801). */
#define REST_MAX_JSON_DEPTH 64

/* True if path names a REST endpoint we route (any known /v2/vectordb/ action). */
bool rest_path_known(const char *path);
/*
 * Serve one request.  Always fills *out (on KITE_ENOMEM with a static fallback)
 * and returns KITE_OK, or KITE_ENOMEM when even the reply could not be built.
 */
int rest_dispatch(kite_db *db, const struct rest_request *req, struct rest_reply *out);
void rest_reply_free(struct rest_reply *r);

#endif
