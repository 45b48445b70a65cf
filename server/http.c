/*
 * http.c — libmicrohttpd glue: limits, CORS, and the REST route.
 *
 * Threading model: MHD runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION)
 * plus its internal polling thread; the request callback runs on the connection's
 * thread and calls the thread-safe engine directly.  Shared state of the server:
 *   - draining (atomic): set once by http_server_free; read by every request;
 *   - in_flight (guarded by lock, signalled on idle): requests between their
 *     first callback and MHD's completion notice.
 * Lock order: lock is a leaf (never held across MHD or engine calls).
 *
 * Rejected alternative: MHD's thread pool (MHD_OPTION_THREAD_POOL_SIZE) multiplexes
 * many connections per thread, so one slow search would stall its neighbours;
 * a thread per connection, capped by max_connections, keeps requests independent.
 *
 * Request flow (on_request):
 *   first call (headers only): OPTIONS -> 204; a web app path (web_app_owns: GET /,
 *     /static/..., /api/...) -> the web app, body cap web_app_max_body(); not POST
 *     or unknown path -> 404; draining -> 503; auth enabled and no valid
 *     credentials -> 401 {"code":1800} (web paths also get a Basic challenge);
 *     Content-Length > cap -> 413 (before any body is read);
 *     else allocate a body buffer capped at the route's cap.
 *   body calls: close the connection if the body trickles in (slow POST); append; past the cap (chunked bodies) -> drop the rest unbuffered,
 *     then 413.
 *   last call: rest_dispatch (privilege check inside, with the caller) or
 *     web_app_handle -> response; metrics_observe_http() records it.
 */
#include "http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "auth.h"
#include "buf.h"
#include "err.h"
#include "errors_map.h"
#include "log.h"
#include "metrics.h"
#include "rest/rest.h"
#ifdef KITE_HAVE_WEB
#include "web/web.h"
#endif

struct http_server {
    struct MHD_Daemon *daemon;
    kite_db *db;
    struct http_config cfg;
    atomic_bool draining;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned in_flight;  /* guarded by lock */
};

/* Per-request state, owned by MHD's con_cls slot until on_completed. */
struct req_state {
    struct kite_buf body;
    bool too_large;
    uint64_t start_ms;       /* first callback (headers complete) */
    uint64_t start_us;       /* the same, for the latency histogram */
    uint64_t received;       /* body bytes seen, buffered or not */
    bool web;                /* a web app path, not /v2/ */
    struct auth_user who;    /* the authenticated caller (auth enabled) */
    bool authed;
};

/* Slow-POST defence: after idle_timeout_s of grace, the body must keep arriving at
 * this average rate or the connection is closed (Apache mod_reqtimeout MinRate). */
#define HTTP_MIN_BODY_RATE_BPS 1024u

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
    return now_us() / 1000u;
}

static const char g_cors_headers[] =
    "Content-Type, Authorization, DB-Name, Accept-Type-Allow-Int64, Request-Timeout, "
    "ContentType";

/* ============================================================ responses */

static enum MHD_Result send_bytes(struct MHD_Connection *conn, unsigned status, const char *body,
                                  size_t len, const char *ctype, bool close)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", g_cors_headers);
    if (close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_unauthenticated(struct MHD_Connection *conn, bool web)
{
    static const char body[] = "{\"code\":1800,\"message\":\"user hasn't authenticated\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    if (web) /* lets a browser ask for a user name and password (HTTP Basic) */
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"kite\", charset=\"UTF-8\"");
    enum MHD_Result ret = MHD_queue_response(conn, 401, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int code, const char *msg,
                                  bool close)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}",
                     server_err_milvus_code(code), msg);
    return send_bytes(conn, (unsigned)server_err_http_status(code), body, (size_t)n,
                      "application/json", close);
}

static size_t body_cap(const struct http_server *s, bool web)
{
#ifdef KITE_HAVE_WEB
    if (web && s->cfg.web)
        return web_app_max_body(s->cfg.web);
#endif
    (void)web;
    return s->cfg.max_body_bytes;
}

static enum MHD_Result send_too_large(struct http_server *s, struct MHD_Connection *conn, bool web)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "request body larger than the %zu-byte limit", body_cap(s, web));
    return send_error(conn, SERVER_EBODY_TOO_LARGE, msg, true);
}

/* ============================================================= requests */

/* Go's strconv.ParseBool: 1 true, 0 false, -1 neither. */
static int parse_go_bool(const char *v)
{
    static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
    if (!v)
        return -1;
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static enum MHD_Result run_rest(struct http_server *s, struct MHD_Connection *conn,
                                const char *url, struct req_state *st, int *status)
{
    struct rest_request req = {
        .path = url,
        .body = (const char *)st->body.data,
        .body_len = st->body.len,
        .db_header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "DB-Name"),
        .allow_int64 = parse_go_bool(
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Type-Allow-Int64")),
        .auth = s->cfg.auth,
        .user = st->authed ? &st->who : NULL,
    };
    struct rest_reply rep;
    rest_dispatch(s->db, &req, &rep);
    kite_buf_free(&st->body); /* the request body is no longer needed */
    enum MHD_Result ret;
    *status = rep.body ? rep.http_status : 500;
    if (rep.body)
        ret = send_bytes(conn, (unsigned)rep.http_status, rep.body, rep.body_len,
                         rep.content_type, false);
    else
        ret = send_error(conn, KITE_ENOMEM, "out of memory", true);
    rest_reply_free(&rep);
    return ret;
}

static enum MHD_Result run_web(struct http_server *s, struct MHD_Connection *conn,
                               const char *url, const char *method, struct req_state *st,
                               int *status)
{
#ifdef KITE_HAVE_WEB
    struct web_request wreq = {
        .method = method,
        .url = url,
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .body = st->body.data,
        .body_len = st->body.len,
    };
    struct web_reply wrep;
    memset(&wrep, 0, sizeof(wrep));
    if (!web_app_handle(s->cfg.web, &wreq, &wrep)) {
        *status = 404;
        return send_bytes(conn, 404, "404 page not found", 18, "text/plain", false);
    }
    kite_buf_free(&st->body);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        wrep.body_len, wrep.body ? (void *)wrep.body : (void *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (r) {
        if (wrep.content_type)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, wrep.content_type);
        if (wrep.cache_control)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, wrep.cache_control);
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        ret = MHD_queue_response(conn, (unsigned)wrep.status, r);
        MHD_destroy_response(r);
    }
    *status = wrep.status;
    web_reply_free(&wrep);
    return ret;
#else
    (void)s;
    (void)url;
    (void)method;
    (void)st;
    *status = 404;
    return send_bytes(conn, 404, "404 page not found", 18, "text/plain", false);
#endif
}

/* True if url is served by the web app (GET and POST allowed). */
static bool is_web_path(const struct http_server *s, const char *url)
{
#ifdef KITE_HAVE_WEB
    return s->cfg.web && web_app_owns(url);
#else
    (void)s;
    (void)url;
    return false;
#endif
}

/* First callback of a request: headers are in, no body read yet. */
static enum MHD_Result on_headers(struct http_server *s, struct MHD_Connection *conn,
                                  const char *url, const char *method, void **con_cls)
{
    if (strcmp(method, "OPTIONS") == 0)
        return send_bytes(conn, 204, "", 0, NULL, false);
    bool web = is_web_path(s, url);
    if (!web && (strcmp(method, "POST") != 0 || !rest_path_known(url))) {
        metrics_observe_http("other", 404, 0);
        return send_bytes(conn, 404, "404 page not found", 18, "text/plain", false);
    }
    if (atomic_load(&s->draining))
        return send_error(conn, SERVER_EDRAINING, "service not ready: shutting down", true);
    struct auth_user who;
    bool authed = false;
    if (auth_enabled(s->cfg.auth)) {
        const char *hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
        if (auth_check_http(s->cfg.auth, hdr, &who) != KITE_OK) {
            metrics_observe_http(web ? "web" : url, 401, 0);
            return send_unauthenticated(conn, web);
        }
        authed = true;
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end != cl && n > body_cap(s, web))
            return send_too_large(s, conn, web);
    }
    struct req_state *st = kite_calloc(1, sizeof(*st));
    if (!st)
        return send_error(conn, KITE_ENOMEM, "out of memory", true);
    st->web = web;
    st->authed = authed;
    if (authed)
        st->who = who;
    kite_buf_init(&st->body, body_cap(s, web));
    st->start_us = now_us();
    st->start_ms = st->start_us / 1000u;
    pthread_mutex_lock(&s->lock);
    s->in_flight++;
    pthread_mutex_unlock(&s->lock);
    *con_cls = st;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    (void)version;
    if (!st)
        return on_headers(s, conn, url, method, con_cls);
    if (*upload_data_size > 0) {
        st->received += *upload_data_size;
        uint64_t elapsed_ms = now_ms() - st->start_ms, grace_ms = s->cfg.idle_timeout_s * 1000u;
        if (elapsed_ms > grace_ms &&
            st->received < (elapsed_ms - grace_ms) * HTTP_MIN_BODY_RATE_BPS / 1000u) {
            KITE_DEBUG("http: closing a request whose body arrives slower than %u B/s",
                       HTTP_MIN_BODY_RATE_BPS);
            return MHD_NO; /* closes the connection */
        }
        if (!st->too_large &&
            kite_buf_append(&st->body, upload_data, *upload_data_size) != KITE_OK) {
            st->too_large = true; /* chunked or lying Content-Length: stop buffering */
            kite_buf_free(&st->body);
        }
        /*
         * Past the cap the rest is read and dropped, not buffered: MHD 0.9.x refuses
         * to queue a response in the middle of an upload, and closing the socket
         * would leave the client without its 413.
         */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return send_too_large(s, conn, st->web);
    enum MHD_Result ret;
    int status = 0;
    if (st->web)
        ret = run_web(s, conn, url, method, st, &status);
    else
        ret = run_rest(s, conn, url, st, &status);
    metrics_observe_http(st->web ? "web" : url, status, now_us() - st->start_us);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    (void)conn;
    (void)toe;
    if (!st)
        return;
    kite_buf_free(&st->body);
    kite_free(st);
    *con_cls = NULL;
    pthread_mutex_lock(&s->lock);
    if (--s->in_flight == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

/* MHD's log callback; fmt comes from libmicrohttpd, not from a client. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    KITE_DEBUG("http: %s", msg);
}

/* ============================================================ lifecycle */

int http_server_new(kite_db *db, const struct http_config *cfg, struct http_server **out,
                    kite_err *err)
{
    int rc = KITE_OK;
    struct http_server *s = kite_calloc(1, sizeof(*s));
    if (!s)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the HTTP server");
    s->db = db;
    s->cfg = *cfg;
    atomic_init(&s->draining, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    unsigned flags = MHD_USE_NO_LISTEN_SOCKET | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->max_header_bytes, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        rc = kite_err_set(err, KITE_EIO, "could not start the HTTP daemon (libmicrohttpd)");
        goto out_free;
    }
    *out = s;
    return KITE_OK;
out_free:
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    kite_free(s);
    return rc;
}

int http_server_adopt(struct http_server *s, int fd, const struct sockaddr *addr,
                      socklen_t addr_len)
{
    if (atomic_load(&s->draining)) {
        close(fd);
        return KITE_ECLOSED;
    }
    /* On failure MHD closes the socket itself. */
    if (MHD_add_connection(s->daemon, fd, addr, addr_len) != MHD_YES)
        return KITE_ELIMIT;
    return KITE_OK;
}

unsigned http_server_in_flight(struct http_server *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned n = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void http_server_free(struct http_server *s, unsigned drain_s)
{
    if (!s)
        return;
    atomic_store(&s->draining, true);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += drain_s;
    pthread_mutex_lock(&s->lock);
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) != 0)
            break;
    unsigned left = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    if (left)
        KITE_WARN("http: %u requests still running after %u s; closing them", left, drain_s);
    MHD_stop_daemon(s->daemon);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    kite_free(s);
}
