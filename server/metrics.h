/*
 * metrics.h — the operations port of `kite serve` (default 9091, issue #5 §3):
 *   GET /healthz  -> 503 "not ready" until the server is serving, then 200 "OK"
 *                    (503 again while shutting down);
 *   GET /metrics  -> Prometheus text format 0.0.4: requests, errors and latency
 *                    histograms per API call (REST path / gRPC method), engine
 *                    gauges (databases, collections, rows), process memory (RSS)
 *                    and uptime.
 * It runs on a libmicrohttpd daemon of its own (own listen socket, one internal
 * polling thread), so a flood on the API port cannot starve health checks.
 *
 * The request registry is process-wide (like a Prometheus client's default
 * registry): metrics_observe_*() may be called from any thread at any time, with
 * or without a metrics server running.  Call names are bounded: REST records only
 * routed paths, gRPC only known methods (others are counted as "other").
 * Threading: registry guarded by one mutex (leaf lock); db pointer by an rwlock so
 * /metrics never reads a closed database.
 */
#ifndef KITE_SERVER_METRICS_H
#define KITE_SERVER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/kite.h"

/* One finished REST request (path "/v2/vectordb/..." or "web"/"other"), HTTP status. */
void metrics_observe_http(const char *path, int http_status, uint64_t elapsed_us);
/* One finished gRPC call (method name, "other" if unknown), gRPC status (0 = OK). */
void metrics_observe_grpc(const char *method, int grpc_status, uint64_t elapsed_us);
/* Render the registry and gauges as Prometheus text (owned, kite_free); NULL on ENOMEM. */
char *metrics_render(kite_db *db, size_t *len);

struct metrics_server;

/* Listen on host:port (port 0: a free one).  Not ready until metrics_server_set_ready. */
int metrics_server_new(const char *host, int port, struct metrics_server **out,
                       kite_err *err) KITE_MUST_CHECK;
uint16_t metrics_server_port(const struct metrics_server *m);
/* The database whose gauges /metrics shows (NULL: none); waits for running scrapes. */
void metrics_server_set_db(struct metrics_server *m, kite_db *db);
void metrics_server_set_ready(struct metrics_server *m, bool ready);
void metrics_server_free(struct metrics_server *m);

#endif
