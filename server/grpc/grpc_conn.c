/*
 * grpc_conn.c — one h2c connection: HTTP/2 via libnghttp2, gRPC framing on top.
 *
 * The listener peeked at the client preface and left it in the socket, so the
 * nghttp2 server session reads it like any h2c prior-knowledge connection.
 *
 * Life of a stream (each a unary gRPC call):
 *
 *   HEADERS ----------> on_begin_headers: struct stream allocated
 *   header fields ----> on_header: :path, dbname kept (others ignored)
 *   DATA -------------> on_data_chunk: appended to a capped buffer; once the message
 *                       is known to exceed max_recv_bytes the stream is answered
 *                       RESOURCE_EXHAUSTED at once and later DATA is dropped
 *   END_STREAM -------> on_frame_recv: stream id queued as ready
 *   (after mem_recv) -> answer(): grpc_dispatch() then
 *                         OK:    HEADERS(:status 200, content-type) + DATA + trailers
 *                         error: one HEADERS frame with grpc-status (Trailers-Only)
 *   closed -----------> on_stream_close: stream freed
 *
 * Design decisions:
 *  1. Calls are served on the connection's own thread, one at a time, between two
 *     reads.  Milvus clients pipeline few calls per channel and every call ends in
 *     one kite.h call that already uses the engine's worker threads, so a thread
 *     per connection keeps the code small.  Rejected for now: a worker pool with
 *     completion back to an event loop (STYLE.md §8) — the shape to move to when
 *     one connection must run several slow searches in parallel.
 *  2. Flow control, PING replies, SETTINGS and HPACK are left to nghttp2.  We open
 *     the connection window to 16 MiB so large inserts are not throttled by the
 *     64 KiB default.
 *  3. Shutdown and idle timeout: a graceful GOAWAY(NO_ERROR, last accepted stream)
 *     is sent; calls already accepted are answered, then the socket is closed once
 *     nothing is left to send and no stream is open (at most GOAWAY_GRACE_S later).
 *
 * Invariants:
 *  1. A stream is answered at most once (stream->answered).
 *  2. Request bytes never exceed max_recv_bytes + 5 in memory per stream.
 *  3. Nothing here interprets protobuf; that is grpc_dispatch's job.
 *
 * Threading: everything in this file runs on the connection's thread; the only
 * shared state read is env->stopping (atomic) and the kite_db (thread-safe).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "alloc.h"
#include "buf.h"
#include "grpc_internal.h"
#include "log.h"

#define CONN_WINDOW_BYTES (16 * 1024 * 1024)
#define STREAM_WINDOW_BYTES (4 * 1024 * 1024)
#define MAX_CONCURRENT_STREAMS 128
#define MAX_PATH_BYTES 256
#define MAX_DBNAME_BYTES 256
#define MAX_AUTH_BYTES 512
#define GOAWAY_GRACE_S 5 /* after GOAWAY, wait this long for open streams */

struct stream {
    int32_t id;
    char path[MAX_PATH_BYTES];
    char dbname[MAX_DBNAME_BYTES];
    char authorization[MAX_AUTH_BYTES]; /* base64(user:password), checked by dispatch */
    struct kite_buf body;       /* the request message, prefix included */
    bool too_large;
    bool queued;                /* id is in conn->ready */
    bool answered;
    struct grpc_reply reply;
    size_t sent;                /* bytes of reply.body handed to nghttp2 */
    struct stream *prev, *next; /* conn->streams: nghttp2_session_del frees its own
                                   stream records without calling us back */
};

struct conn {
    const struct grpc_conn_env *env;
    nghttp2_session *session;
    int fd;
    struct kite_buf ready;      /* int32 stream ids whose request is complete */
    struct stream *streams;     /* every live stream, for teardown */
    size_t max_body_bytes;      /* 0 = unlimited */
};

/* ------------------------------------------------------------ allocator */

static void *mem_malloc(size_t size, void *u)
{
    (void)u;
    return kite_malloc(size);
}

static void mem_free(void *p, void *u)
{
    (void)u;
    kite_free(p);
}

static void *mem_calloc(size_t n, size_t size, void *u)
{
    (void)u;
    return kite_calloc(n, size);
}

static void *mem_realloc(void *p, size_t size, void *u)
{
    (void)u;
    return kite_realloc(p, size);
}

static nghttp2_mem g_mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};

/* --------------------------------------------------------------- helpers */

static void stream_free(struct stream *st)
{
    if (!st)
        return;
    kite_buf_free(&st->body);
    grpc_reply_free(&st->reply);
    kite_free(st);
}

static void queue_ready(struct conn *c, struct stream *st)
{
    if (st->queued)
        return;
    uint32_t id = (uint32_t)st->id;
    if (kite_buf_append(&c->ready, &id, sizeof(id)) == KITE_OK)
        st->queued = true;
    else
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
}

/* Percent-encode a grpc-message value (gRPC spec: bytes outside 0x20..0x7E and '%'). */
static void percent_encode(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if (*p < 0x20 || *p > 0x7E || *p == '%') {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

#define NV(n, v)                                                                           \
    {                                                                                      \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
    }

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                         size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                         void *user_data)
{
    (void)user_data;
    struct stream *st = source->ptr;
    size_t left = st->reply.body_len - st->sent;
    size_t n = left < length ? left : length;
    if (n)
        memcpy(buf, st->reply.body + st->sent, n);
    st->sent += n;
    if (st->sent == st->reply.body_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailers[] = {NV("grpc-status", "0")};
        if (nghttp2_submit_trailer(session, stream_id, trailers, 1) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* Answer one stream: run the call (unless already known too large) and submit. */
static void answer(struct conn *c, struct stream *st)
{
    st->answered = true;
    if (st->too_large) {
        st->reply.grpc_status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(st->reply.message, sizeof(st->reply.message),
                 "request message larger than max_recv_bytes (%zu)", c->env->cfg->max_recv_bytes);
    } else {
        struct grpc_request req = {
            .path = st->path,
            .body = st->body.data,
            .body_len = st->body.len,
            .dbname_header = st->dbname,
            .connection_id = c->env->connection_id,
            .authorization = st->authorization[0] ? st->authorization : NULL,
        };
        grpc_dispatch(c->env->db, c->env->cfg, &req, &st->reply);
    }
    kite_buf_free(&st->body);
    int rv;
    if (st->reply.grpc_status == GRPC_STATUS_OK && st->reply.body) {
        nghttp2_nv hdrs[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
        nghttp2_data_provider prd = {.source.ptr = st, .read_callback = read_body};
        rv = nghttp2_submit_response(c->session, st->id, hdrs, 2, &prd);
    } else {
        char code[16], msg[3 * sizeof(st->reply.message) + 1];
        snprintf(code, sizeof(code), "%d", st->reply.grpc_status);
        percent_encode(st->reply.message, msg, sizeof(msg));
        nghttp2_nv hdrs[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                             NV("grpc-status", code), NV("grpc-message", msg)};
        rv = nghttp2_submit_response(c->session, st->id, hdrs, 4, NULL);
    }
    if (rv != 0)
        KITE_WARN("grpc: cannot submit response on stream %d: %s", st->id,
                  nghttp2_strerror(rv));
}

static void process_ready(struct conn *c)
{
    size_t n = c->ready.len / sizeof(uint32_t);
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        memcpy(&id, c->ready.data + i * sizeof(id), sizeof(id));
        struct stream *st = nghttp2_session_get_stream_user_data(c->session, (int32_t)id);
        if (st && !st->answered)
            answer(c, st);
    }
    kite_buf_reset(&c->ready);
}

/* ------------------------------------------------------ nghttp2 callbacks */

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
                       void *user_data)
{
    (void)session;
    (void)flags;
    struct conn *c = user_data;
    ssize_t n = send(c->fd, data, length, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return NGHTTP2_ERR_WOULDBLOCK;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return n;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data)
{
    struct conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream *st = kite_calloc(1, sizeof(*st));
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM for this stream */
    st->id = frame->hd.stream_id;
    kite_buf_init(&st->body, c->max_body_bytes);
    if (nghttp2_session_set_stream_user_data(session, st->id, st) != 0) {
        stream_free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    return 0;
}

static void copy_value(char *dst, size_t cap, const uint8_t *v, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!st)
        return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (valuelen >= sizeof(st->path))
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* no method is that long */
        copy_value(st->path, sizeof(st->path), value, valuelen);
    } else if (namelen == 6 && memcmp(name, "dbname", 6) == 0) {
        copy_value(st->dbname, sizeof(st->dbname), value, valuelen);
    } else if (namelen == 13 && memcmp(name, "authorization", 13) == 0) {
        if (valuelen < sizeof(st->authorization)) /* longer: no valid credentials */
            copy_value(st->authorization, sizeof(st->authorization), value, valuelen);
    }
    /* grpc-timeout, identifier, user-agent...: not used (docs/GRPC.md). */
    return 0;
}

/* Declared message length once the 5-byte prefix is in; SIZE_MAX before. */
static size_t declared_len(const struct stream *st)
{
    if (st->body.len < 5)
        return SIZE_MAX;
    const uint8_t *b = st->body.data;
    return ((size_t)b[1] << 24) | ((size_t)b[2] << 16) | ((size_t)b[3] << 8) | b[4];
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    struct conn *c = user_data;
    struct stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!st || st->too_large || st->answered)
        return 0;
    int rc = kite_buf_append(&st->body, data, len);
    size_t max = c->env->cfg->max_recv_bytes;
    size_t dl = declared_len(st);
    if (rc == KITE_ELIMIT || (max && dl != SIZE_MAX && dl > max)) {
        st->too_large = true;
        kite_buf_free(&st->body);
        queue_ready(c, st); /* answer now; the rest of the body is dropped */
    } else if (rc != KITE_OK) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct conn *c = user_data;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct stream *st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (st)
            queue_ready(c, st);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    (void)error_code;
    struct conn *c = user_data;
    struct stream *st = nghttp2_session_get_stream_user_data(session, stream_id);
    if (st) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        if (st->prev)
            st->prev->next = st->next;
        else
            c->streams = st->next;
        if (st->next)
            st->next->prev = st->prev;
        stream_free(st);
    }
    return 0;
}

/* ------------------------------------------------------------------ loop */

static int session_setup(struct conn *c)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return KITE_ENOMEM;
    nghttp2_session_callbacks_set_send_callback(cbs, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    /*
     * grpc-js ends every finished unary call with RST_STREAM(NO_ERROR).  nghttp2's
     * rapid-reset guard (CVE-2023-44487; default burst 1000, 33/s) counts those and
     * tore long-lived client connections down after ~1000 calls, which the client
     * saw as a hang.  Allow a steady rate far above any unary call rate; a flood is
     * still bounded (one thread per connection, MAX_CONCURRENT_STREAMS).
     */
    nghttp2_option *opt = NULL;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return KITE_ENOMEM;
    }
    nghttp2_option_set_stream_reset_rate_limit(opt, 100000, 20000);
    int rv = nghttp2_session_server_new3(&c->session, cbs, c, opt, &g_mem);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return KITE_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
    };
    if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
                                              CONN_WINDOW_BYTES) != 0)
        return KITE_ENOMEM;
    return KITE_OK;
}

/* Read what the socket has; KITE_OK to go on, KITE_ECLOSED when the peer is gone. */
static int read_some(struct conn *c)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0)
            return KITE_ECLOSED;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return KITE_OK;
            return KITE_ECLOSED;
        }
        ssize_t used = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
        if (used < 0) {
            KITE_DEBUG("grpc: closing connection: %s", nghttp2_strerror((int)used));
            return KITE_EINVAL; /* nghttp2 queued a GOAWAY where the protocol wants one */
        }
        process_ready(c);
        if ((size_t)n < sizeof(buf))
            return KITE_OK;
    }
}

/*
 * Graceful GOAWAY (NO_ERROR, last stream = the last one we accepted): nghttp2
 * refuses newer streams, the accepted ones are still answered.  Returns true.
 */
static bool start_goaway(struct conn *c, time_t *deadline)
{
    int32_t last = nghttp2_session_get_last_proc_stream_id(c->session);
    if (nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) !=
        0)
        nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
    *deadline = time(NULL) + GOAWAY_GRACE_S;
    return true;
}

void grpc_conn_serve(const struct grpc_conn_env *env, int fd)
{
    struct conn c = {.env = env, .fd = fd};
    kite_buf_init(&c.ready, 0);
    if (env->cfg->max_recv_bytes)
        c.max_body_bytes = env->cfg->max_recv_bytes + 5;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || session_setup(&c) != KITE_OK)
        goto out_close;

    const int idle_ms = env->cfg->idle_timeout_s > 0 ? env->cfg->idle_timeout_s * 1000 : -1;
    bool closing = false;       /* GOAWAY submitted: finish open streams, then close */
    time_t close_deadline = 0;
    for (;;) {
        if (!closing && atomic_load(env->stopping))
            closing = start_goaway(&c, &close_deadline);
        if (nghttp2_session_send(c.session) != 0)
            break;
        bool want_read = nghttp2_session_want_read(c.session);
        bool want_write = nghttp2_session_want_write(c.session);
        if (!want_read && !want_write)
            break;
        if (closing && !want_write && !c.streams)
            break; /* every answered stream is out; nothing more will be served */
        struct pollfd pfd[2] = {
            {.fd = fd, .events = (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0))},
            {.fd = closing ? -1 : env->wake_fd, .events = POLLIN},
        };
        int pr = poll(pfd, 2, closing ? 500 : idle_ms);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (closing && time(NULL) >= close_deadline)
            break; /* a peer that never finishes its request does not hold us up */
        if (pr == 0) {
            if (!closing) /* idle: say goodbye properly */
                closing = start_goaway(&c, &close_deadline);
            continue;
        }
        if (pfd[0].revents & (POLLERR | POLLNVAL))
            break;
        if (pfd[0].revents & (POLLIN | POLLHUP)) {
            int rc = read_some(&c);
            if (rc == KITE_ECLOSED)
                break;
            if (rc != KITE_OK) { /* protocol error: flush the GOAWAY, then close */
                nghttp2_session_send(c.session);
                break;
            }
        }
    }

out_close:
    if (c.session)
        nghttp2_session_del(c.session);
    while (c.streams) {
        struct stream *next = c.streams->next;
        stream_free(c.streams);
        c.streams = next;
    }
    kite_buf_free(&c.ready);
    close(fd);
}
