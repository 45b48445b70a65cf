/*
 * errors_map.c — KITE_E* / transport error -> Milvus code, HTTP status, gRPC status.
 *
 * Invariants:
 *  1. This is the only place in server/ that decides those numbers; handlers pass
 *     kite codes around and ask here at the edge.
 *  2. The Milvus code comes from include/kite/errors.h (kite_err_milvus_code) so the
 *     library and the server never disagree; this table adds only the HTTP and gRPC
 *     columns.
 *
 * Threading: read-only tables, safe from any thread.
 */
#include "errors_map.h"

#include <stddef.h>

struct err_row {
    int code;        /* KITE_E* or SERVER_E* */
    int http_status; /* REST reply status */
    int grpc_status; /* 0 OK, 3 INVALID_ARGUMENT, 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, ... */
};

static const struct err_row g_rows[] = {
    {KITE_OK, 200, 0},
    {KITE_EINVAL, 200, 3},
    {KITE_ENOMEM, 200, 8},
    {KITE_EIO, 200, 13},
    {KITE_ECORRUPT, 200, 13},
    {KITE_ENOSPC, 200, 8},
    {KITE_EREADONLY, 200, 14},
    {KITE_ENOCOLL, 200, 5},
    {KITE_ENOTLOADED, 200, 9},
    {KITE_ENOPART, 200, 5},
    {KITE_ENOINDEX, 200, 5},
    {KITE_EINDEXTYPE, 200, 3},
    {KITE_ENODB, 200, 5},
    {KITE_EMISSING, 200, 3},
    {KITE_ENOALIAS, 200, 5},
    {KITE_EALIASCONFLICT, 200, 6},
    {KITE_EALIASEXISTS, 200, 6},
    {KITE_ENOFIELD, 200, 3},
    {KITE_EEXPR, 200, 3},
    {KITE_EEXISTS, 200, 6},
    {KITE_ELIMIT, 200, 8},
    {KITE_EBUSY, 200, 14},
    {KITE_EUNSUPPORTED, 200, 12},
    {KITE_ECLOSED, 200, 14},
    {KITE_EAUTH, 401, 16},
    {KITE_EPERM, 403, 7},
    {KITE_EINTERNAL, 200, 13},
    {KITE_EDATA, 200, 3},
    {KITE_ENOTFOUND, 200, 5},
    {SERVER_EBODY_TOO_LARGE, 413, 8},
    {SERVER_ETIMEOUT, 408, 4},
    {SERVER_EDRAINING, 503, 14},
    {SERVER_ENOTFOUND, 404, 12},
};

static const struct err_row *find_row(int code)
{
    for (size_t i = 0; i < sizeof(g_rows) / sizeof(g_rows[0]); i++)
        if (g_rows[i].code == code)
            return &g_rows[i];
    return NULL;
}

int server_err_milvus_code(int code)
{
    if (code == KITE_OK)
        return 0;
    if (code <= -1000) /* transport errors have no Milvus code of their own */
        return code == SERVER_EDRAINING ? 1 : 65535;
    int m = kite_err_milvus_code(code);
    return m ? m : 65535;
}

int server_err_http_status(int code)
{
    const struct err_row *r = find_row(code);
    return r ? r->http_status : 200;
}

int server_err_grpc_status(int code)
{
    const struct err_row *r = find_row(code);
    return r ? r->grpc_status : 2; /* UNKNOWN */
}
