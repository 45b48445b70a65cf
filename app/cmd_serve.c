/*
 * cmd_serve.c — `kite serve`: open the data directory and serve REST v2 (and gRPC)
 * on one port until SIGTERM/SIGINT.
 *
 * Shutdown order (the promise: stop accepting, finish in-flight requests, close the
 * database, exit 0): the signal handler only calls listener_stop (a pipe write);
 * listener_run returns on the main thread, listener_free closes the port and drains
 * the HTTP server, then kite_close syncs and frees the engine.
 *
 * Threading: the main thread runs the accept loop; signals are handled
 * asynchronously and touch only g_listener (set before handlers are installed).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "kite/kite.h"
#include "listener.h"
#include "log.h"

/* Set before the handlers are installed; a lock-free atomic pointer, so signal-safe. */
static struct listener *_Atomic g_listener;

static void on_signal(int sig)
{
    (void)sig;
    struct listener *l = atomic_load(&g_listener);
    if (l)
        listener_stop(l);
}

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: kite serve [options]\n\n"
            "Serve the Milvus RESTful API v2 (and gRPC) on one port.\n\n"
            "options:\n"
            "  --data-dir DIR         data directory (default ./kite-data)\n"
            "  --host H               address to listen on (default 127.0.0.1)\n"
            "  --port P               port (default 19530; 0 = pick a free one)\n"
            "  --threads N            engine worker threads (default: number of CPUs)\n"
            "  --log-level L          debug, info, warn, error or off (default info)\n"
            "  --log-format F         text or json (default text)\n"
            "  --max-body-bytes N     largest request body (default 67108864; above: 413)\n"
            "  --max-connections N    simultaneous connections (default 1024)\n"
            "  --idle-timeout S       close idle or slow connections after S s (default 20)\n\n"
            "On start it prints 'kite: listening on http://HOST:PORT'.  SIGTERM or SIGINT\n"
            "stops accepting, finishes in-flight requests, closes the database and exits 0.\n");
}

static int parse_args(int argc, char **argv, struct server_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (app_is_help(a)) {
            serve_usage(stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "kite serve: unexpected argument '%s'\n", a);
            return -1;
        }
        char name[64];
        const char *val, *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof(name), "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", a + 2);
            if (i + 1 >= argc) {
                fprintf(stderr, "kite serve: --%s needs a value\n", name);
                return -1;
            }
            val = argv[++i];
        }
        kite_err err;
        kite_err_clear(&err);
        int rc = server_config_set(cfg, name, val, &err);
        if (rc == KITE_ENOTFOUND) {
            fprintf(stderr, "kite serve: unknown option --%s (see kite serve --help)\n", name);
            return -1;
        }
        if (rc != KITE_OK) {
            fprintf(stderr, "kite serve: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that goes away must not kill the server */
}

int cmd_serve(int argc, char **argv)
{
    struct server_config cfg;
    server_config_init(&cfg);
    int prc = parse_args(argc, argv, &cfg);
    if (prc != 0)
        return prc > 0 ? KITE_EXIT_OK : KITE_EXIT_USAGE;
    kite_log_set_level(cfg.log_level);
    kite_log_set_json(cfg.log_json);

    kite_err err;
    kite_err_clear(&err);
    kite_options opts;
    kite_options_init(&opts);
    opts.n_threads = cfg.threads;
    kite_db *db = NULL;
    int rc = kite_open(cfg.data_dir, &opts, &db, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: cannot open %s: %s\n", cfg.data_dir,
                err.message[0] ? err.message : kite_strerror(rc));
        return KITE_EXIT_FAILURE;
    }
    struct listener *l = NULL;
    rc = listener_new(&cfg, db, &l, &err);
    if (rc != KITE_OK) {
        fprintf(stderr, "kite serve: %s\n", err.message[0] ? err.message : kite_strerror(rc));
        kite_close(db);
        return KITE_EXIT_FAILURE;
    }
    atomic_store(&g_listener, l);
    install_signals();
    const char *host = cfg.host;
    bool v6 = strchr(host, ':') != NULL;
    printf("kite: listening on http://%s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "",
           (unsigned)listener_port(l));
    fflush(stdout);
    KITE_INFO("serving %s on %s:%u", cfg.data_dir, host, (unsigned)listener_port(l));
    rc = listener_run(l);
    KITE_INFO("shutting down: finishing in-flight requests");
    atomic_store(&g_listener, NULL);
    listener_free(l);
    kite_close(db);
    KITE_INFO("stopped");
    return rc == KITE_OK ? KITE_EXIT_OK : KITE_EXIT_FAILURE;
}
