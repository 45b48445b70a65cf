/*
 * errors_map.h — the one table that turns KITE_E* codes into what a network
 * client sees (STYLE.md §3): the Milvus "merr" code (REST body "code", gRPC
 * Status.code), the HTTP status a REST reply carries, and the gRPC transport
 * status for failures that happen outside a Milvus reply (body too large...).
 *
 * Milvus answers almost every API error with HTTP 200 and the code in the body;
 * only authentication (401) and privilege (403) failures change the HTTP status.
 * Transport-level failures (413, 408, 503 while draining) are not KITE_E* codes
 * of an API call; they have their own rows below, keyed by SERVER_E* values.
 */
#ifndef KITE_SERVER_ERRORS_MAP_H
#define KITE_SERVER_ERRORS_MAP_H

#include "kite/errors.h"

/* Transport-level conditions, outside the KITE_E* range (all < -1000). */
enum server_transport_err {
    SERVER_EBODY_TOO_LARGE = -1001, /* request body over the cap: HTTP 413 */
    SERVER_ETIMEOUT = -1002,        /* request took longer than allowed: HTTP 408 */
    SERVER_EDRAINING = -1003,       /* server shutting down: HTTP 503 */
    SERVER_ENOTFOUND = -1004,       /* no such path: HTTP 404 */
};

/* Milvus merr code for a KITE_E* code (0 for KITE_OK, 65535 for unknown codes). */
int server_err_milvus_code(int code);
/* HTTP status of a REST reply carrying this error (200 for ordinary API errors). */
int server_err_http_status(int code);
/* gRPC status code (grpc/status.h numbers) for a transport-level failure. */
int server_err_grpc_status(int code);

#endif
