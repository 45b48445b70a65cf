/*
 * auth.h — the request side of authentication and RBAC (issue #5 §2), shared by
 * the REST (server/http.c, server/rest/rest.c) and gRPC (server/grpc/) faces.
 *
 * A server holds one `struct auth` (created by the listener when auth is
 * configured): the user store plus an `enabled` switch that SIGHUP may flip.
 * Per request:
 *   1. credentials: REST "Authorization: Bearer user:password" or "Basic <b64>";
 *      gRPC metadata "authorization: <base64(user:password)>" -> auth_authenticate
 *      (KITE_EAUTH -> HTTP 401 / code 1800, gRPC UNAUTHENTICATED);
 *   2. privilege: the route's (objectType, privilege) from the tables in auth.c
 *      checked against the user's roles -> KITE_EPERM (HTTP 403 / code 1401,
 *      gRPC PERMISSION_DENIED).
 * Threading: all functions are thread-safe; `enabled` is atomic.
 */
#ifndef KITE_SERVER_AUTH_H
#define KITE_SERVER_AUTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth_store.h"

struct auth {
    struct auth_store *store;
    atomic_bool enabled;
};

/* What a route needs: privilege on an object of object_type ("Global"/"Collection"). */
struct auth_need {
    const char *object_type;
    const char *privilege;
    bool self_ok;        /* allowed when the request names the caller's own user */
};

/* The caller of one request once authenticated. */
struct auth_user {
    char name[AUTH_MAX_NAME + 1];
};

/* Open the store in data_dir; enabled as given.  Free with auth_free (NULL ok). */
int auth_new(const char *data_dir, bool enabled, struct auth **out, kite_err *err) KITE_MUST_CHECK;
void auth_free(struct auth *a);
bool auth_enabled(const struct auth *a);

/*
 * Authenticate an HTTP Authorization header value (NULL: none given).
 * KITE_OK with *who filled, or KITE_EAUTH.
 */
int auth_check_http(struct auth *a, const char *header, struct auth_user *who);
/* Same for the gRPC "authorization" metadata value (base64 of user:password). */
int auth_check_grpc(struct auth *a, const char *value, struct auth_user *who);

/*
 * Decode standard base64 (padded) into out (NUL-terminated); returns the length, or
 * -1 if the input is not base64, decodes to a NUL byte, or does not fit in cap-1.
 */
int auth_b64_decode(const char *in, char *out, size_t cap);

/* The privilege a REST action ("collections/create", after /v2/vectordb/) needs; NULL if none. */
const struct auth_need *auth_rest_need(const char *action);
/* The privilege a gRPC method ("Insert") needs; NULL if none (Connect, GetVersion...). */
const struct auth_need *auth_grpc_need(const char *method);

/*
 * Check one request: need (may be NULL = always allowed), the effective database,
 * the object (collection name, or the user named by the request for self_ok).
 */
int auth_authorize(struct auth *a, const struct auth_user *who, const struct auth_need *need,
                   const char *db, const char *object, kite_err *err);

#endif
