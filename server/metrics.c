/*
 * metrics.c — request registry, Prometheus rendering and the health/metrics
 * daemon (metrics.h).
 *
 * Invariants:
 *  1. At most METRICS_MAX_SERIES (protocol, call) series; a new call name beyond
 *     that is counted under call="other" (bounded memory whatever clients send).
 *  2. Histogram buckets are cumulative only when rendered; stored per bucket.
 */
#include "metrics.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "err.h"
#include "log.h"

#define METRICS_MAX_SERIES 256
#define METRICS_NAME_MAX 96

static const double g_bounds_s[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,   1.0,  2.5,   5.0,  10.0};
#define N_BOUNDS (sizeof(g_bounds_s) / sizeof(g_bounds_s[0]))

struct series {
    char protocol[8];
    char call[METRICS_NAME_MAX];
    uint64_t total, errors;
    uint64_t buckets[N_BOUNDS + 1]; /* last: +Inf only */
    uint64_t sum_us;
};

static struct {
    pthread_mutex_t lock;
    struct series s[METRICS_MAX_SERIES];
    size_t n;
    struct timespec start_real, start_mono;
    bool started;
} g_reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void start_clock(void)
{
    if (!g_reg.started) {
        clock_gettime(CLOCK_REALTIME, &g_reg.start_real);
        clock_gettime(CLOCK_MONOTONIC, &g_reg.start_mono);
        g_reg.started = true;
    }
}

static struct series *find_series(const char *protocol, const char *call)
{
    for (size_t i = 0; i < g_reg.n; i++)
        if (strcmp(g_reg.s[i].call, call) == 0 && strcmp(g_reg.s[i].protocol, protocol) == 0)
            return &g_reg.s[i];
    if (g_reg.n == METRICS_MAX_SERIES || strlen(call) >= METRICS_NAME_MAX) {
        if (strcmp(call, "other") == 0)
            return &g_reg.s[METRICS_MAX_SERIES - 1]; /* full: fold into the last one */
        return find_series(protocol, "other");
    }
    struct series *s = &g_reg.s[g_reg.n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->protocol, sizeof(s->protocol), "%s", protocol);
    snprintf(s->call, sizeof(s->call), "%s", call);
    return s;
}

static void observe(const char *protocol, const char *call, bool error, uint64_t us)
{
    pthread_mutex_lock(&g_reg.lock);
    start_clock();
    struct series *s = find_series(protocol, call ? call : "other");
    s->total++;
    s->errors += error ? 1 : 0;
    s->sum_us += us;
    size_t b = 0;
    while (b < N_BOUNDS && (double)us / 1e6 > g_bounds_s[b])
        b++;
    s->buckets[b]++;
    pthread_mutex_unlock(&g_reg.lock);
}

void metrics_observe_http(const char *path, int http_status, uint64_t elapsed_us)
{
    observe("rest", path, http_status != 200, elapsed_us);
}

void metrics_observe_grpc(const char *method, int grpc_status, uint64_t elapsed_us)
{
    observe("grpc", method, grpc_status != 0, elapsed_us);
}

/* ============================================================ rendering */

__attribute__((format(printf, 2, 3))) static void out(struct kite_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        kite_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f)
        return -1;
    int got = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    return got == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

/* Segments, index build progress and WAL counters (kite_db_stats_get). */
static void render_stats(struct kite_buf *b, kite_db *db)
{
    kite_db_stats st;
    if (kite_db_stats_get(db, &st, NULL) != KITE_OK)
        return;
    out(b, "# HELP kite_segments Segments in all collections, by state (growing: in memory, "
           "appendable; sealed: immutable, on disk).\n# TYPE kite_segments gauge\n"
           "kite_segments{state=\"sealed\"} %llu\nkite_segments{state=\"growing\"} %llu\n",
        (unsigned long long)st.segments_sealed, (unsigned long long)st.segments_growing);
    out(b, "# HELP kite_index_rows Rows under an index, summed over indexes (total: all live "
           "rows; indexed: rows covered by a built index).\n# TYPE kite_index_rows gauge\n"
           "kite_index_rows{state=\"indexed\"} %llu\nkite_index_rows{state=\"total\"} %llu\n",
        (unsigned long long)st.index_rows_indexed, (unsigned long long)st.index_rows_total);
    out(b, "# HELP kite_index_builds_pending Background index build jobs queued or running.\n"
           "# TYPE kite_index_builds_pending gauge\nkite_index_builds_pending %llu\n",
        (unsigned long long)st.index_builds_pending);
    out(b, "# HELP kite_index_builds_failed Sealed segment indexes left unbuilt after a failed "
           "build (searched exactly).\n# TYPE kite_index_builds_failed gauge\n"
           "kite_index_builds_failed %llu\n",
        (unsigned long long)st.index_builds_failed);
    out(b, "# HELP kite_wal_appends_total WAL records appended since the database was opened.\n"
           "# TYPE kite_wal_appends_total counter\nkite_wal_appends_total %llu\n",
        (unsigned long long)st.wal_appends);
    out(b, "# HELP kite_wal_syncs_total WAL fdatasync calls (one per group commit).\n"
           "# TYPE kite_wal_syncs_total counter\nkite_wal_syncs_total %llu\n",
        (unsigned long long)st.wal_syncs);
    out(b, "# HELP kite_wal_bytes_total WAL bytes appended, record headers included.\n"
           "# TYPE kite_wal_bytes_total counter\nkite_wal_bytes_total %llu\n",
        (unsigned long long)st.wal_bytes);
}

static void render_engine(struct kite_buf *b, kite_db *db)
{
    char **dbs = NULL;
    size_t n_dbs = 0;
    if (kite_database_list(db, &dbs, &n_dbs, NULL) != KITE_OK)
        return;
    uint64_t n_coll = 0, n_rows = 0;
    for (size_t i = 0; i < n_dbs; i++) {
        char **colls = NULL;
        size_t nc = 0;
        if (kite_collection_list(db, dbs[i], &colls, &nc, NULL) != KITE_OK)
            continue;
        n_coll += nc;
        for (size_t j = 0; j < nc; j++) {
            uint64_t rows = 0;
            if (kite_collection_row_count(db, dbs[i], colls[j], &rows, NULL) == KITE_OK)
                n_rows += rows;
        }
        kite_strings_free(colls, nc);
    }
    kite_strings_free(dbs, n_dbs);
    out(b, "# HELP kite_databases Databases.\n# TYPE kite_databases gauge\nkite_databases %zu\n",
        n_dbs);
    out(b, "# HELP kite_collections Collections in all databases.\n"
           "# TYPE kite_collections gauge\nkite_collections %llu\n",
        (unsigned long long)n_coll);
    out(b, "# HELP kite_rows Rows (entities) in all collections.\n"
           "# TYPE kite_rows gauge\nkite_rows %llu\n",
        (unsigned long long)n_rows);
    render_stats(b, db);
}

char *metrics_render(kite_db *db, size_t *len)
{
    struct kite_buf b;
    kite_buf_init(&b, 0);
    out(&b, "# HELP kite_requests_total API requests served, per protocol and call.\n"
            "# TYPE kite_requests_total counter\n");
    pthread_mutex_lock(&g_reg.lock);
    start_clock();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double uptime = (double)(now.tv_sec - g_reg.start_mono.tv_sec) +
                    (double)(now.tv_nsec - g_reg.start_mono.tv_nsec) / 1e9;
    double start_s = (double)g_reg.start_real.tv_sec;
    for (size_t i = 0; i < g_reg.n; i++)
        out(&b, "kite_requests_total{protocol=\"%s\",call=\"%s\"} %llu\n", g_reg.s[i].protocol,
            g_reg.s[i].call, (unsigned long long)g_reg.s[i].total);
    out(&b, "# HELP kite_request_errors_total API requests that failed (HTTP status not 200, "
            "gRPC status not OK).\n# TYPE kite_request_errors_total counter\n");
    for (size_t i = 0; i < g_reg.n; i++)
        out(&b, "kite_request_errors_total{protocol=\"%s\",call=\"%s\"} %llu\n",
            g_reg.s[i].protocol, g_reg.s[i].call, (unsigned long long)g_reg.s[i].errors);
    out(&b, "# HELP kite_request_duration_seconds Time to serve an API request.\n"
            "# TYPE kite_request_duration_seconds histogram\n");
    for (size_t i = 0; i < g_reg.n; i++) {
        const struct series *s = &g_reg.s[i];
        uint64_t cum = 0;
        for (size_t k = 0; k < N_BOUNDS; k++) {
            cum += s->buckets[k];
            out(&b, "kite_request_duration_seconds_bucket{protocol=\"%s\",call=\"%s\",le=\"%g\"} "
                    "%llu\n",
                s->protocol, s->call, g_bounds_s[k], (unsigned long long)cum);
        }
        out(&b, "kite_request_duration_seconds_bucket{protocol=\"%s\",call=\"%s\",le=\"+Inf\"} "
                "%llu\n",
            s->protocol, s->call, (unsigned long long)s->total);
        out(&b, "kite_request_duration_seconds_sum{protocol=\"%s\",call=\"%s\"} %.6f\n",
            s->protocol, s->call, (double)s->sum_us / 1e6);
        out(&b, "kite_request_duration_seconds_count{protocol=\"%s\",call=\"%s\"} %llu\n",
            s->protocol, s->call, (unsigned long long)s->total);
    }
    pthread_mutex_unlock(&g_reg.lock);
    if (db)
        render_engine(&b, db);
    long rss = rss_bytes();
    if (rss >= 0)
        out(&b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes %ld\n",
            rss);
    out(&b, "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
            "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.0f\n",
        start_s);
    out(&b, "# HELP kite_uptime_seconds Seconds since the server started.\n"
            "# TYPE kite_uptime_seconds gauge\nkite_uptime_seconds %.3f\n",
        uptime);
    out(&b, "# HELP kite_build_info Kite version.\n# TYPE kite_build_info gauge\n"
            "kite_build_info{version=\"%s\"} 1\n",
        kite_version());
    if (kite_buf_append(&b, "", 1) != KITE_OK) { /* NUL terminator */
        kite_buf_free(&b);
        return NULL;
    }
    *len = b.len - 1;
    return (char *)b.data;
}

/* =============================================================== daemon */

struct metrics_server {
    struct MHD_Daemon *daemon;
    uint16_t port;
    atomic_bool ready;
    pthread_rwlock_t db_lock;
    kite_db *db; /* guarded by db_lock */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct metrics_server *m = cls;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* headers only: answer on the next call */
        *con_cls = m;
        return MHD_YES;
    }
    if (*upload_data_size) { /* we take no bodies: drop them */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, 405, "text/plain", (void *)"method not allowed\n", 19,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/health") == 0) {
        if (atomic_load(&m->ready))
            return reply(conn, 200, "text/plain", (void *)"OK", 2, MHD_RESPMEM_PERSISTENT);
        return reply(conn, 503, "text/plain", (void *)"not ready", 9, MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        pthread_rwlock_rdlock(&m->db_lock);
        char *text = metrics_render(m->db, &len);
        pthread_rwlock_unlock(&m->db_lock);
        if (!text)
            return reply(conn, 500, "text/plain", (void *)"out of memory\n", 14,
                         MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                                    len, MHD_RESPMEM_MUST_COPY);
        kite_free(text);
        return ret;
    }
    return reply(conn, 404, "text/plain", (void *)"404 page not found", 18,
                 MHD_RESPMEM_PERSISTENT);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    KITE_DEBUG("metrics: %s", msg);
}

int metrics_server_new(const char *host, int port, struct metrics_server **out, kite_err *err)
{
    int rc = KITE_OK;
    struct addrinfo hints, *res = NULL;
    char ports[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(ports, sizeof(ports), "%d", port);
    int gai = getaddrinfo(host, ports, &hints, &res);
    if (gai != 0)
        return kite_err_set(err, KITE_EINVAL, "cannot resolve metrics host %s: %s", host,
                            gai_strerror(gai));
    struct metrics_server *m = kite_calloc(1, sizeof(*m));
    if (!m) {
        freeaddrinfo(res);
        return kite_err_set(err, KITE_ENOMEM, "out of memory for the metrics server");
    }
    atomic_init(&m->ready, false);
    pthread_rwlock_init(&m->db_lock, NULL);
    pthread_mutex_lock(&g_reg.lock);
    start_clock();
    pthread_mutex_unlock(&g_reg.lock);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (res->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, m,
                                 MHD_OPTION_SOCK_ADDR, res->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    /* No SO_REUSEPORT (MHD_OPTION_LISTENING_ADDRESS_REUSE): with it the kernel may hand
     * the same ephemeral port to two servers and split their scrapes between them, and a
     * busy explicit port would be shared silently instead of refused. */
    freeaddrinfo(res);
    if (!m->daemon) {
        rc = kite_err_set(err, KITE_EIO,
                          "cannot listen on %s:%d for metrics (port in use? set --metrics-port "
                          "to another port, 0 for a free one, or off)",
                          host, port);
        goto out_free;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : (uint16_t)port;
    *out = m;
    return KITE_OK;
out_free:
    pthread_rwlock_destroy(&m->db_lock);
    kite_free(m);
    return rc;
}

uint16_t metrics_server_port(const struct metrics_server *m)
{
    return m->port;
}

void metrics_server_set_db(struct metrics_server *m, kite_db *db)
{
    if (!m)
        return;
    pthread_rwlock_wrlock(&m->db_lock);
    m->db = db;
    pthread_rwlock_unlock(&m->db_lock);
}

void metrics_server_set_ready(struct metrics_server *m, bool ready)
{
    if (m)
        atomic_store(&m->ready, ready);
}

void metrics_server_free(struct metrics_server *m)
{
    if (!m)
        return;
    MHD_stop_daemon(m->daemon);
    pthread_rwlock_destroy(&m->db_lock);
    kite_free(m);
}
