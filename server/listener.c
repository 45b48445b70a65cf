/*
 * listener.c — our own accept loop with protocol sniffing (port sharing).
 *
 * Milvus serves gRPC and REST on one port (19530) through a connection
 * multiplexer; we do the same by peeking (MSG_PEEK, nothing consumed) at the first
 * bytes of each connection:
 *   - the 24-byte HTTP/2 client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" -> gRPC
 *     (grpc_server_adopt; a build without the gRPC server closes such connections);
 *   - anything else is HTTP/1.1, handed to libmicrohttpd (http_server_adopt) once the
 *     first request's headers are complete ("\r\n\r\n" seen) or SNIFF_HTTP_BYTES
 *     have arrived;
 *   - a connection that does not get there within the header timeout
 *     (sniff_timeout_ms) is closed.  This is the slowloris defence for the first
 *     request: MHD's own timeout is an idle timeout, which one byte every few
 *     seconds keeps alive forever.
 *
 * Threading model: one thread (the caller of listener_run) owns the listen socket,
 * the pending list, the peek buffer and the wakeup pipe's read end.
 * listener_stop() only writes to the pipe, so it is safe from signal handlers and
 * other threads.
 *
 * Invariants:
 *  1. A connection being sniffed never blocks accept(): pending sockets sit in the
 *     same poll() set as the listen socket.
 *  2. Every accepted fd is owned by exactly one of: the pending list, the HTTP
 *     server, the gRPC server, or close().
 *  3. At most max_connections sockets wait in the pending list; beyond that a new
 *     connection is closed at once (RELIABILITY.md G7).
 *  4. No busy loop on partial input: after peeking n bytes the socket's SO_RCVLOWAT
 *     is raised to n + 1, so poll() wakes only when more bytes arrive; it is reset
 *     to 1 before the socket is handed over.
 *
 * Rejected alternative: a blocking peek with SO_RCVTIMEO per accepted socket is
 * simpler, but one silent client would stall every other accept for the timeout.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "err.h"
#include "http.h"
#include "log.h"
#ifdef KITE_HAVE_GRPC
#include "grpc/grpc.h"
#endif

static const char g_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24
/* Hand an HTTP connection over after this many bytes even without "\r\n\r\n" (MHD
 * then applies its header limits); kept well below a socket's receive buffer. */
#define SNIFF_HTTP_BYTES 16384

struct pending {
    int fd;
    int seen;              /* bytes peeked so far */
    uint64_t deadline_ms;
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

struct listener {
    struct server_config cfg;
    int listen_fd;
    int wake_rd, wake_wr;
    uint16_t port;
    struct http_server *http;
#ifdef KITE_HAVE_GRPC
    struct grpc_server *grpc;
#endif
    struct pending *pend;   /* max_connections slots */
    size_t n_pend;
    char peek[SNIFF_HTTP_BYTES];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ================================================================ setup */

static int bind_listen(struct listener *l, kite_err *err)
{
    char port[16];
    struct addrinfo hints, *res = NULL, *ai;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", l->cfg.port);
    int gai = getaddrinfo(l->cfg.host, port, &hints, &res);
    if (gai != 0)
        return kite_err_set(err, KITE_EINVAL, "cannot resolve --host %s: %s", l->cfg.host,
                            gai_strerror(gai));
    int last_errno = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0) {
            l->listen_fd = fd;
            break;
        }
        last_errno = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (l->listen_fd < 0)
        return kite_err_set(err, KITE_EIO, "cannot listen on %s:%d: %s", l->cfg.host,
                            l->cfg.port, strerror(last_errno));
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(l->listen_fd, (struct sockaddr *)&ss, &len) == 0)
        l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    fcntl(l->listen_fd, F_SETFL, fcntl(l->listen_fd, F_GETFL) | O_NONBLOCK);
    return KITE_OK;
}

int listener_new(const struct server_config *cfg, kite_db *db, const struct listener_hooks *hooks,
                 struct listener **out, kite_err *err)
{
    struct listener_hooks none = {0};
    if (!hooks)
        hooks = &none;
    int rc = KITE_OK, pipefd[2];
    struct listener *l = kite_calloc(1, sizeof(*l));
    if (!l)
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the listener");
    l->cfg = *cfg;
    l->listen_fd = l->wake_rd = l->wake_wr = -1;
    l->pend = kite_calloc(cfg->max_connections ? cfg->max_connections : 1, sizeof(*l->pend));
    if (!l->pend) {
        rc = kite_err_set(err, KITE_ENOMEM, "out of memory for the listener");
        goto out_free;
    }
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = kite_err_set(err, KITE_EIO, "pipe: %s", strerror(errno));
        goto out_free;
    }
    l->wake_rd = pipefd[0];
    l->wake_wr = pipefd[1];
    rc = bind_listen(l, err);
    if (rc != KITE_OK)
        goto out_free;
    struct http_config hc = {.max_body_bytes = cfg->max_body_bytes,
                             .max_header_bytes = cfg->max_header_bytes,
                             .max_connections = cfg->max_connections,
                             .idle_timeout_s = cfg->idle_timeout_s,
                             .auth = hooks->auth,
                             .web = hooks->web};
    rc = http_server_new(db, &hc, &l->http, err);
    if (rc != KITE_OK)
        goto out_free;
#ifdef KITE_HAVE_GRPC
    struct grpc_config gc = {.max_recv_bytes = cfg->max_body_bytes,
                             .max_send_bytes = (size_t)100 << 20,
                             .idle_timeout_s = 600,
                             .auth_enabled = false,
                             .auth = hooks->auth,
                             .max_connections = cfg->max_connections};
    if (grpc_server_new(db, &gc, &l->grpc) != 0) {
        rc = kite_err_set(err, KITE_EIO, "could not start the gRPC server");
        goto out_free;
    }
#endif
    *out = l;
    return KITE_OK;
out_free:
    listener_free(l);
    return rc;
}

uint16_t listener_port(const struct listener *l)
{
    return l->port;
}

void listener_stop(struct listener *l)
{
    char b = 1;
    ssize_t n = write(l->wake_wr, &b, 1);
    (void)n; /* a full pipe already means "stop" */
}

/* ============================================================= sniffing */

enum sniff { SNIFF_WAIT, SNIFF_HTTP, SNIFF_GRPC, SNIFF_CLOSED };

/* Look at the bytes that have arrived on p without consuming them. */
static enum sniff sniff(struct listener *l, struct pending *p)
{
    ssize_t n = recv(p->fd, l->peek, sizeof(l->peek), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return SNIFF_CLOSED;
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? SNIFF_WAIT
                                                                            : SNIFF_CLOSED;
    size_t m = (size_t)n < PREFACE_LEN ? (size_t)n : PREFACE_LEN;
    enum sniff kind = SNIFF_WAIT;
    if (memcmp(l->peek, g_preface, m) == 0)
        kind = m == PREFACE_LEN ? SNIFF_GRPC : SNIFF_WAIT;
    else if ((size_t)n >= sizeof(l->peek) || memmem(l->peek, (size_t)n, "\r\n\r\n", 4))
        kind = SNIFF_HTTP;
    if (kind == SNIFF_WAIT && n != p->seen) {
        int lowat = (int)n + 1; /* wake poll() only when more bytes arrive */
        setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
        p->seen = (int)n;
    }
    return kind;
}

static void hand_over(struct listener *l, struct pending *p, enum sniff kind)
{
    int fd = p->fd, one = 1;
    p->fd = -1;
    if (kind == SNIFF_CLOSED) {
        close(fd);
        return;
    }
    if (p->seen > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    if (kind == SNIFF_GRPC) {
#ifdef KITE_HAVE_GRPC
        grpc_server_adopt(l->grpc, fd);
#else
        KITE_DEBUG("listener: gRPC connection closed: this build has no gRPC server");
        close(fd);
#endif
        return;
    }
    /* MHD expects a blocking socket in thread-per-connection mode. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (http_server_adopt(l->http, fd, (struct sockaddr *)&p->addr, p->addr_len) != KITE_OK)
        KITE_WARN("listener: HTTP connection refused (limit of %u connections reached?)",
                  l->cfg.max_connections);
}

static void accept_all(struct listener *l)
{
    for (;;) {
        struct pending p;
        p.addr_len = sizeof(p.addr);
        p.fd = accept4(l->listen_fd, (struct sockaddr *)&p.addr, &p.addr_len,
                       SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (p.fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                KITE_WARN("listener: accept: %s", strerror(errno));
            return;
        }
        if (l->n_pend >= l->cfg.max_connections) {
            close(p.fd);
            continue;
        }
        int one = 1;
        setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        p.seen = 0;
        enum sniff s = sniff(l, &p);
        if (s != SNIFF_WAIT) {
            hand_over(l, &p, s);
            continue;
        }
        p.deadline_ms = now_ms() + l->cfg.sniff_timeout_ms;
        l->pend[l->n_pend++] = p;
    }
}

/* Re-check pending sockets that poll() reported (or whose time ran out). */
static void service_pending(struct listener *l, const struct pollfd *pfds)
{
    uint64_t now = now_ms();
    size_t kept = 0;
    for (size_t i = 0; i < l->n_pend; i++) {
        struct pending *p = &l->pend[i];
        enum sniff s = SNIFF_WAIT;
        if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
            s = sniff(l, p);
        if (s == SNIFF_WAIT && now >= p->deadline_ms) {
            KITE_DEBUG("listener: closing a connection that sent %d bytes and no complete "
                       "request headers in %u ms", p->seen, l->cfg.sniff_timeout_ms);
            s = SNIFF_CLOSED; /* silent or slow (slowloris) client */
        }
        if (s != SNIFF_WAIT)
            hand_over(l, p, s);
        else
            l->pend[kept++] = *p;
    }
    l->n_pend = kept;
}

int listener_run(struct listener *l)
{
    size_t cap = (size_t)l->cfg.max_connections + 2;
    struct pollfd *pfds = kite_calloc(cap, sizeof(*pfds));
    if (!pfds)
        return KITE_ENOMEM;
    for (;;) {
        uint64_t now = now_ms(), next = now + 1000;
        for (size_t i = 0; i < l->n_pend; i++) {
            pfds[i].fd = l->pend[i].fd;
            pfds[i].events = POLLIN;
            pfds[i].revents = 0;
            if (l->pend[i].deadline_ms < next)
                next = l->pend[i].deadline_ms;
        }
        size_t n = l->n_pend;
        pfds[n] = (struct pollfd){.fd = l->listen_fd, .events = POLLIN};
        pfds[n + 1] = (struct pollfd){.fd = l->wake_rd, .events = POLLIN};
        int timeout = next > now ? (int)(next - now) : 0;
        int ready = poll(pfds, n + 2, timeout);
        if (ready < 0 && errno != EINTR) {
            KITE_ERROR("listener: poll: %s", strerror(errno));
            kite_free(pfds);
            return KITE_EIO;
        }
        if (ready > 0 && (pfds[n + 1].revents & POLLIN))
            break;
        service_pending(l, pfds);
        if (ready > 0 && (pfds[n].revents & POLLIN))
            accept_all(l);
    }
    kite_free(pfds);
    return KITE_OK;
}

/* ============================================================= teardown */

void listener_free(struct listener *l)
{
    if (!l)
        return;
    if (l->listen_fd >= 0)
        close(l->listen_fd); /* stop accepting first */
    for (size_t i = 0; i < l->n_pend; i++)
        close(l->pend[i].fd);
    http_server_free(l->http, l->cfg.drain_timeout_s);
#ifdef KITE_HAVE_GRPC
    if (l->grpc)
        grpc_server_free(l->grpc);
#endif
    if (l->wake_rd >= 0)
        close(l->wake_rd);
    if (l->wake_wr >= 0)
        close(l->wake_wr);
    kite_free(l->pend);
    kite_free(l);
}
