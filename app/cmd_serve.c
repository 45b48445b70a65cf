/*
 * cmd_serve.c — `kite serve`: open the data directory and serve REST v2 and gRPC
 * on one port, /healthz and /metrics on a second one, until SIGTERM/SIGINT.
 *
 * Start order: configuration (defaults < file < KITE_* env < flags; a bad value
 * exits 2 before anything opens) -> metrics port (so /healthz answers 503 while
 * the database recovers) -> kite_open -> user store (<data_dir>/auth.json) -> web
 * app -> API listener -> /healthz turns 200.  Stdout gets "kite: listening on
 * http://H:P" first (scripts wait for it), then "kite: metrics on http://H:P".
 *
 * Shutdown order (the promise: stop accepting, finish in-flight requests, close the
 * database, exit 0): the signal handler only calls listener_stop (a pipe write);
 * listener_run returns on the main thread, /healthz turns 503, listener_free closes
 * the port and drains the servers, then kite_close syncs and frees the engine.
 *
 * SIGHUP re-reads the configuration (same flags, file and environment) and applies
 * what can change while serving: log level, log format and auth on/off.  Other
 * changes are reported in the log as needing a restart.  The handler only posts a
 * semaphore; a reload thread does the work.
 *
 * Threading: the main thread runs the accept loop; signal handlers touch only
 * g_listener (set before handlers are installed) and g_reload (a semaphore).
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "commands.h"
#include "config.h"
#include "err.h"
#include "kite/kite.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#ifdef KITE_HAVE_WEB
#include "web/web.h"
#endif

/* Set before the handlers are installed; a lock-free atomic pointer, so signal-safe. */
static struct listener *_Atomic g_listener;
static sem_t g_reload;
static atomic_bool g_stopping;

static void on_signal(int sig)
{
    (void)sig;
    struct listener *l = atomic_load(&g_listener);
    if (l)
        listener_stop(l);
}

static void on_hup(int sig)
{
    (void)sig;
    sem_post(&g_reload); /* async-signal-safe */
}

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: kite serve [options]\n\n"
                 "Serve the Milvus RESTful API v2 and gRPC on one port, /healthz and /metrics\n"
                 "on another.\n\noptions (precedence: flags > KITE_* environment > config file "
                 "> defaults):\n");
    server_config_usage(out);
    fprintf(out,
            "\nBooleans: --auth, --auth false, --no-auth.  On start it prints\n"
            "'kite: metrics on http://HOST:PORT' and 'kite: listening on http://HOST:PORT'.\n"
            "SIGTERM or SIGINT stops accepting, finishes in-flight requests, closes the\n"
            "database and exits 0.  SIGHUP reloads log level/format and auth on/off.\n");
}

/* The command line as given, for SIGHUP reloads. */
struct serve_args {
    int argc;
    char **argv;
    struct auth *auth;
    struct server_config cfg; /* what is in effect (reload thread only, after start) */
};

static void reload(struct serve_args *a)
{
    struct server_config next;
    kite_err err;
    kite_err_clear(&err);
    if (server_config_load(&next, a->argc, a->argv, 1, &err) != KITE_OK) {
        KITE_ERROR("SIGHUP: configuration not reloaded: %s", err.message);
        return;
    }
    kite_log_set_level(next.log_level);
    kite_log_set_json(next.log_json);
    if (a->auth && next.auth != a->cfg.auth)
        atomic_store(&a->auth->enabled, next.auth);
    const struct server_config *o = &a->cfg;
    if (strcmp(next.host, o->host) != 0 || next.port != o->port ||
        strcmp(next.data_dir, o->data_dir) != 0 || next.threads != o->threads ||
        next.metrics_port != o->metrics_port || next.max_body_bytes != o->max_body_bytes ||
        next.max_header_bytes != o->max_header_bytes ||
        next.max_connections != o->max_connections || next.idle_timeout_s != o->idle_timeout_s ||
        next.sniff_timeout_ms != o->sniff_timeout_ms || next.web != o->web)
        KITE_WARN("SIGHUP: address, data directory, threads, metrics port, limits and web "
                  "settings change only on restart; kept the running values");
    a->cfg.log_level = next.log_level;
    a->cfg.log_json = next.log_json;
    a->cfg.auth = next.auth;
    KITE_INFO("SIGHUP: configuration reloaded (log level %d, format %s, auth %s)",
              next.log_level, next.log_json ? "json" : "text", next.auth ? "on" : "off");
}

static void *reload_main(void *arg)
{
    struct serve_args *a = arg;
    for (;;) {
        while (sem_wait(&g_reload) != 0) {
        }
        if (atomic_load(&g_stopping))
            return NULL;
        reload(a);
    }
}

/* SIGHUP from the start (a reload during a long recovery must not kill the process). */
static void install_hup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_hup;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that goes away must not kill the server */
}

/* SIGTERM/SIGINT once there is a listener to stop (before that they end the process). */
static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void print_addr(const char *what, const char *host, unsigned port)
{
    bool v6 = strchr(host, ':') != NULL;
    printf("kite: %s http://%s%s%s:%u\n", what, v6 ? "[" : "", host, v6 ? "]" : "", port);
    fflush(stdout);
}

#ifdef KITE_HAVE_WEB
static int open_web(const struct server_config *cfg, kite_db *db, struct web_app **out,
                    kite_err *err)
{
    *out = NULL;
    if (!cfg->web)
        return KITE_OK;
    struct web_config wc;
    web_config_init(&wc);
    wc.collection = cfg->web_collection;
    if (cfg->web_model[0])
        wc.model_path = cfg->web_model;
    wc.max_upload_bytes = cfg->web_max_upload_bytes;
    int rc = web_app_new(db, &wc, out);
    if (rc != KITE_OK)
        return kite_err_set(err, rc, "cannot start the web page: %s", kite_strerror(rc));
    return KITE_OK;
}
#endif

int cmd_serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (app_is_help(argv[i])) {
            serve_usage(stdout);
            return KITE_EXIT_OK;
        }
    }
    struct serve_args args = {.argc = argc, .argv = argv};
    struct server_config *cfg = &args.cfg;
    kite_err err;
    kite_err_clear(&err);
    int rc = server_config_load(cfg, argc, argv, 1, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: %s%s\n", err.message,
                rc == KITE_ENOTFOUND ? " (see kite serve --help)" : "");
        return KITE_EXIT_USAGE;
    }
    kite_log_set_level(cfg->log_level);
    kite_log_set_json(cfg->log_json);

    int exit_code = KITE_EXIT_FAILURE;
    struct metrics_server *metrics = NULL;
    kite_db *db = NULL;
    struct auth *auth = NULL;
    struct web_app *web = NULL;
    struct listener *l = NULL;
    pthread_t reloader;
    bool reloader_started = false;
    sem_init(&g_reload, 0, 0);
    atomic_store(&g_stopping, false);
    install_hup();

    if (cfg->metrics_port >= 0) {
        rc = metrics_server_new(cfg->metrics_host, cfg->metrics_port, &metrics, &err);
        if (rc != KITE_OK && cfg->metrics_port_set) {
            fprintf(stderr, "kite serve: %s\n", err.message);
            goto out;
        }
        if (rc != KITE_OK)
            KITE_WARN("%s; serving without /metrics and /healthz", err.message);
    }
    kite_options opts;
    kite_options_init(&opts);
    opts.n_threads = cfg->threads;
    rc = kite_open(cfg->data_dir, &opts, &db, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: cannot open %s: %s\n", cfg->data_dir,
                err.message[0] ? err.message : kite_strerror(rc));
        goto out;
    }
    rc = auth_new(cfg->data_dir, cfg->auth, &auth, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: user store: %s\n", err.message);
        goto out;
    }
    args.auth = auth;
#ifdef KITE_HAVE_WEB
    rc = open_web(cfg, db, &web, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: %s\n", err.message);
        goto out;
    }
#endif
    struct listener_hooks hooks = {.auth = auth, .web = web};
    rc = listener_new(cfg, db, &hooks, &l, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: %s\n", err.message[0] ? err.message : kite_strerror(rc));
        goto out;
    }
    atomic_store(&g_listener, l);
    install_signals();
    if (pthread_create(&reloader, NULL, reload_main, &args) == 0)
        reloader_started = true;
    KITE_INFO("serving %s on %s:%u (auth %s)", cfg->data_dir, cfg->host,
              (unsigned)listener_port(l), cfg->auth ? "on" : "off");
    /* Ready before the address lines: a client that reads them may probe /healthz
     * at once (the listen socket is bound; connections wait in its backlog). */
    metrics_server_set_db(metrics, db);
    metrics_server_set_ready(metrics, true);
    print_addr("listening on", cfg->host, listener_port(l));
    if (metrics)
        print_addr("metrics on", cfg->metrics_host, metrics_server_port(metrics));
    rc = listener_run(l);
    metrics_server_set_ready(metrics, false);
    KITE_INFO("shutting down: finishing in-flight requests");
    exit_code = rc == KITE_OK ? KITE_EXIT_OK : KITE_EXIT_FAILURE;
out:
    if (reloader_started) {
        atomic_store(&g_stopping, true);
        sem_post(&g_reload);
        pthread_join(reloader, NULL);
    }
    atomic_store(&g_listener, NULL);
    listener_free(l);
    metrics_server_set_db(metrics, NULL);
#ifdef KITE_HAVE_WEB
    web_app_free(web);
#endif
    auth_free(auth);
    if (db)
        kite_close(db);
    metrics_server_free(metrics);
    signal(SIGHUP, SIG_IGN); /* the semaphore goes away */
    sem_destroy(&g_reload);
    if (exit_code == KITE_EXIT_OK)
        KITE_INFO("stopped");
    return exit_code;
}
