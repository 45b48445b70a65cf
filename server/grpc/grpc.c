/*
 * grpc.c — lifecycle of the gRPC face: configuration, one thread per adopted
 * connection, orderly shutdown.
 *
 * State machine of the server:
 *
 *   grpc_server_new() --> RUNNING --grpc_server_free()--> STOPPING --(last thread
 *                           |  ^                                       exits)--> freed
 *                           adopt(): +1 thread
 *
 * Invariants:
 *  1. s->n_threads counts connection threads that may still touch s; free() waits
 *     (condition variable, no spinning) until it is 0 before releasing anything.
 *  2. Once stopping is set, adopt() closes new sockets instead of serving them; so
 *     does it while max_connections connections are being served.
 *  3. The wake pipe's read end becomes readable exactly when stopping is set, and
 *     stays readable (nobody drains it), so every connection's poll() sees it.
 *  4. Connection threads are joinable, never detached: a finishing thread puts its
 *     conn_arg on s->done; adopt() and free() join and release those.  So free()
 *     returns only after every connection thread has fully exited (thread-exit
 *     work included), and a process exit never races a half-gone thread.  (It
 *     did with detached threads: an ASan build's leak check at exit aborted once
 *     in CI, after SIGTERM.)
 *
 * Threading: s->lock guards n_threads and done; stopping is atomic; cfg, db and
 * the pipe are immutable after grpc_server_new().
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "grpc_internal.h"
#include "log.h"

#define DEFAULT_MAX_RECV_BYTES ((size_t)64 * 1024 * 1024)
#define DEFAULT_MAX_SEND_BYTES ((size_t)100 * 1024 * 1024)
#define DEFAULT_IDLE_TIMEOUT_S 600
#define DEFAULT_MAX_CONNECTIONS 1024

struct grpc_server {
    kite_db *db;
    struct grpc_config cfg;
    int wake[2];                 /* pipe: [0] polled by connections, [1] written on stop */
    _Atomic bool stopping;
    _Atomic int64_t next_conn_id;
    pthread_mutex_t lock;
    pthread_cond_t idle;         /* signalled when n_threads drops to 0 */
    unsigned n_threads;
    struct conn_arg *done;       /* finished threads, not yet joined */
};

struct conn_arg {
    struct grpc_server *s;
    int fd;
    int64_t id;
    pthread_t thread;            /* set by the thread itself (pthread_self) */
    struct conn_arg *next;       /* on s->done */
};

/* Joins the threads on @list (taken off s->done under the lock) and frees their
 * arguments.  Each has already left grpc_conn_serve, so a join waits only for its
 * exit. */
static void reap(struct conn_arg *list)
{
    while (list) {
        struct conn_arg *next = list->next;
        pthread_join(list->thread, NULL);
        kite_free(list);
        list = next;
    }
}

static struct conn_arg *take_done(struct grpc_server *s)
{
    pthread_mutex_lock(&s->lock);
    struct conn_arg *list = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->lock);
    return list;
}

int grpc_server_new(kite_db *db, const struct grpc_config *cfg, struct grpc_server **out)
{
    int rc = KITE_OK;
    struct grpc_server *s = kite_calloc(1, sizeof(*s));
    if (!s)
        return KITE_ENOMEM;
    s->db = db;
    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.max_recv_bytes)
        s->cfg.max_recv_bytes = DEFAULT_MAX_RECV_BYTES;
    if (!s->cfg.max_send_bytes)
        s->cfg.max_send_bytes = DEFAULT_MAX_SEND_BYTES;
    if (s->cfg.idle_timeout_s <= 0)
        s->cfg.idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
    if (!s->cfg.max_connections)
        s->cfg.max_connections = DEFAULT_MAX_CONNECTIONS;
    /* Connection identifiers: non-zero, and different across restarts. */
    atomic_init(&s->next_conn_id, ((int64_t)time(NULL) << 20) | 1);
    atomic_init(&s->stopping, false);
    if (pipe(s->wake) != 0) {
        rc = KITE_EIO;
        goto out_free;
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        rc = KITE_ENOMEM;
        goto out_pipe;
    }
    if (pthread_cond_init(&s->idle, NULL) != 0) {
        rc = KITE_ENOMEM;
        goto out_mutex;
    }
    *out = s;
    return KITE_OK;

out_mutex:
    pthread_mutex_destroy(&s->lock);
out_pipe:
    close(s->wake[0]);
    close(s->wake[1]);
out_free:
    kite_free(s);
    return rc;
}

static void *conn_main(void *p)
{
    struct conn_arg *a = p;
    struct grpc_server *s = a->s;
    struct grpc_conn_env env = {
        .db = s->db,
        .cfg = &s->cfg,
        .wake_fd = s->wake[0],
        .stopping = &s->stopping,
        .connection_id = a->id,
    };
    grpc_conn_serve(&env, a->fd);
    a->thread = pthread_self();
    pthread_mutex_lock(&s->lock);
    a->next = s->done;
    s->done = a;
    if (--s->n_threads == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

void grpc_server_adopt(struct grpc_server *s, int fd)
{
    reap(take_done(s)); /* threads of connections that have closed since */
    if (atomic_load(&s->stopping)) {
        close(fd);
        return;
    }
    struct conn_arg *a = kite_calloc(1, sizeof(*a));
    if (!a) {
        close(fd);
        return;
    }
    a->s = s;
    a->fd = fd;
    a->id = atomic_fetch_add(&s->next_conn_id, 1);

    pthread_mutex_lock(&s->lock);
    bool full = s->n_threads >= s->cfg.max_connections;
    if (!full)
        s->n_threads++;
    pthread_mutex_unlock(&s->lock);
    if (full) { /* one thread per connection: refuse rather than exhaust threads */
        KITE_WARN("grpc: %u connections already open (max_connections); closing a new one",
                  s->cfg.max_connections);
        kite_free(a);
        close(fd);
        return;
    }
    pthread_t t;
    int rv = pthread_create(&t, NULL, conn_main, a);
    if (rv != 0) {
        KITE_WARN("grpc: cannot start a connection thread (error %d); closing connection", rv);
        pthread_mutex_lock(&s->lock);
        if (--s->n_threads == 0)
            pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
        kite_free(a);
        close(fd);
    }
}

void grpc_server_free(struct grpc_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    ssize_t w;
    do {
        w = write(s->wake[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    pthread_mutex_lock(&s->lock);
    while (s->n_threads > 0)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
    reap(take_done(s));
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    close(s->wake[0]);
    close(s->wake[1]);
    kite_free(s);
}
